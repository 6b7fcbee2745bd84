//! List commands: pushes and pops at both ends, ranges, positional access, LREM/LTRIM/LINSERT,
//! LPOS, LMOVE/RPOPLPUSH and LMPOP, with Redis 7's replies and error texts.
//!
//! Representation: `ListValue` (types/list.rs), a listpack or a quicklist of listpack nodes,
//! head at index 0. Every edit passes the live `list-max-listpack-size` (the fill), which
//! drives the node size and Redis's encoding conversions.
//!
//! Invariants:
//! - A stored list is never empty: every mutation goes through `Ctx::modify`, which deletes a
//!   container left empty (so a list emptied by a pop, LREM or LTRIM makes its key vanish).
//! - `Ctx::modified` is called when the list changed, mirroring where Redis calls
//!   `signalModifiedKey` (WATCH and the dirty counter depend on it). LTRIM signals whenever the
//!   key exists, even when nothing was trimmed, as Redis does.
//! - Arguments are validated in Redis's order (option parsing before the key lookup, or after
//!   it where Redis looks the key up first: LINDEX, LSET), so the same command fails
//!   with the same error in both.
//!
//! Complexity (nodes hold up to 8 KiB by default): pushes and pops O(1) per element plus one
//! node rewrite; LLEN O(1); LINDEX and LSET O(nodes + node size); LRANGE O(nodes + node size +
//! N); LREM, LINSERT, LPOS O(N) (LPOS bounded by MAXLEN); LTRIM O(nodes + node size).

use super::args::{self, is, syntax};
use super::{wrong_arity, CmdResult, CommandSpec, BLOCKING, DENYOOM, WRITE};
use crate::keyspace::Ctx;
use crate::reply::Reply;
use crate::types::list::End;
use crate::types::ListValue;
use crate::util::num;

const W: u32 = WRITE | DENYOOM;
const K1: (i32, i32, i32) = (1, 1, 1);
/// Source and destination (LMOVE, RPOPLPUSH).
const K12: (i32, i32, i32) = (1, 2, 1);

const NO_SUCH_KEY: &str = "ERR no such key";
const OUT_OF_RANGE: &str = "ERR index out of range";
const MUST_BE_POSITIVE: &str = "ERR value is out of range, must be positive";
const RANK_ZERO: &str =
    "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list";
/// RANK = LONG_MIN (whose negation overflows) gets current Redis's generic range error; 7.0
/// accepted it and answered through the overflow.
const RANK_RANGE: &str = "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807";
const COUNT_NEGATIVE: &str = "ERR COUNT can't be negative";
const MAXLEN_NEGATIVE: &str = "ERR MAXLEN can't be negative";
const NUMKEYS: &str = "ERR numkeys should be greater than 0";
const COUNT_POSITIVE: &str = "ERR count should be greater than 0";
const TOO_LARGE: &str = "ERR Element too large";
/// Redis's `LIST_MAX_ITEM_SIZE`: the largest element a push, LINSERT or LSET accepts.
const MAX_ITEM: u64 = (1 << 32) - 1024;

pub(crate) const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("lpush", -3, W, K1, lpush),
    CommandSpec::new("rpush", -3, W, K1, rpush),
    CommandSpec::new("lpushx", -3, W, K1, lpushx),
    CommandSpec::new("rpushx", -3, W, K1, rpushx),
    CommandSpec::new("lpop", -2, WRITE, K1, lpop),
    CommandSpec::new("rpop", -2, WRITE, K1, rpop),
    CommandSpec::new("lmpop", -4, WRITE, (0, 0, 0), lmpop).with_keys_fn(lmpop_keys),
    CommandSpec::new("llen", 2, 0, K1, llen),
    CommandSpec::new("lrange", 4, 0, K1, lrange),
    CommandSpec::new("lindex", 3, 0, K1, lindex),
    CommandSpec::new("lset", 4, W, K1, lset),
    CommandSpec::new("lrem", 4, WRITE, K1, lrem),
    CommandSpec::new("ltrim", 4, WRITE, K1, ltrim),
    CommandSpec::new("linsert", 5, W, K1, linsert),
    CommandSpec::new("lpos", -3, 0, K1, lpos),
    CommandSpec::new("lmove", 5, W, K12, lmove),
    CommandSpec::new("rpoplpush", 3, W, K12, rpoplpush),
    CommandSpec::new("blpop", -3, WRITE | BLOCKING, (1, -2, 1), blpop),
    CommandSpec::new("brpop", -3, WRITE | BLOCKING, (1, -2, 1), brpop),
    CommandSpec::new("blmpop", -5, WRITE | BLOCKING, (0, 0, 0), blmpop).with_keys_fn(blmpop_keys),
    CommandSpec::new("blmove", 6, W | BLOCKING, K12, blmove),
    CommandSpec::new("brpoplpush", 4, W | BLOCKING, K12, brpoplpush),
];

// ---------------------------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------------------------

/// Parse LEFT|RIGHT (case-insensitive); anything else is a syntax error.
fn parse_end(arg: &[u8]) -> Result<End, Reply> {
    if is(arg, "LEFT") {
        Ok(End::Left)
    } else if is(arg, "RIGHT") {
        Ok(End::Right)
    } else {
        Err(syntax())
    }
}

/// Redis's `getRangeLongFromObjectOrReply(min, LONG_MAX, msg)`: a non-integer and a value
/// below `min` both fail with `msg`.
fn at_least(arg: &[u8], min: i64, msg: &'static str) -> Result<i64, Reply> {
    match num::parse_i64_strict(arg) {
        Some(v) if v >= min => Ok(v),
        _ => Err(Reply::err(msg)),
    }
}

/// Redis refuses to store an element above `MAX_ITEM` bytes.
fn check_size(elem: &[u8]) -> Result<(), Reply> {
    if too_large(elem.len() as u64) {
        return Err(Reply::err(TOO_LARGE));
    }
    Ok(())
}

fn too_large(len: u64) -> bool {
    len > MAX_ITEM
}

/// Resolve a possibly negative element index against `len`.
fn index(i: i64, len: usize) -> Option<usize> {
    let i = if i < 0 { i.checked_add(len as i64)? } else { i };
    (0..len as i64).contains(&i).then_some(i as usize)
}

/// The live `list-max-listpack-size`.
fn fill(ctx: &Ctx<'_>) -> i64 {
    ctx.limits().list_max_listpack_size
}

/// Pop one element from `end`.
fn pop(l: &mut ListValue, end: End, fill: i64) -> Option<Vec<u8>> {
    l.pop(end, 1, fill).pop()
}

/// Pop up to `n` elements from `end`, as bulk replies in the order they were popped.
fn pop_n(l: &mut ListValue, end: End, n: usize, fill: i64) -> Vec<Reply> {
    l.pop(end, n, fill).into_iter().map(Reply::Bulk).collect()
}

// ---------------------------------------------------------------------------------------------
// Push and pop
// ---------------------------------------------------------------------------------------------

/// LPUSH/RPUSH (create) and LPUSHX/RPUSHX (only onto an existing list): the new length.
fn push_generic(ctx: &mut Ctx<'_>, a: &[&[u8]], end: End, create: bool) -> CmdResult {
    let elems = &a[2..];
    for e in elems {
        check_size(e)?;
    }
    let fill = fill(ctx);
    let len = ctx.modify::<ListValue, _>(a[1], create, |l| {
        l.push(end, elems, fill);
        l.len()
    })?;
    match len {
        Some(len) => {
            ctx.modified(a[1]);
            Ok(Reply::Int(len as i64))
        }
        None => Ok(Reply::Int(0)),
    }
}

fn lpush(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    push_generic(ctx, a, End::Left, true)
}

fn rpush(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    push_generic(ctx, a, End::Right, true)
}

fn lpushx(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    push_generic(ctx, a, End::Left, false)
}

fn rpushx(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    push_generic(ctx, a, End::Right, false)
}

/// LPOP/RPOP key [count]: a bulk (nil if missing) without count; with count an array (empty for
/// count 0 on an existing list, nil if the key is missing).
fn pop_generic(ctx: &mut Ctx<'_>, a: &[&[u8]], end: End, name: &str) -> CmdResult {
    if a.len() > 3 {
        return Err(wrong_arity(name));
    }
    let count = match a.get(2) {
        Some(arg) => Some(at_least(arg, 0, MUST_BE_POSITIVE)?),
        None => None,
    };
    let fill = fill(ctx);
    // (reply, number of elements popped); None when the key is missing.
    let popped = ctx.modify::<ListValue, _>(a[1], false, |l| match count {
        None => pop(l, end, fill).map_or((Reply::Nil, 0), |e| (Reply::Bulk(e), 1)),
        Some(n) => {
            let items = pop_n(l, end, usize::try_from(n).unwrap_or(usize::MAX), fill);
            let n = items.len();
            (Reply::Array(items), n)
        }
    })?;
    let Some((reply, n)) = popped else { return Ok(Reply::Nil) };
    if n > 0 {
        ctx.modified(a[1]);
    }
    Ok(reply)
}

fn lpop(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    pop_generic(ctx, a, End::Left, "lpop")
}

fn rpop(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    pop_generic(ctx, a, End::Right, "rpop")
}

/// Key positions of `LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT n]`. A bad numkeys gives no
/// keys (the handler then fails before touching any); a too large one is clamped by argc.
fn lmpop_keys(a: &[&[u8]]) -> Vec<usize> {
    keys_after(a, 1)
}

/// Key positions of `BLMPOP timeout numkeys key [key ...] ...`.
fn blmpop_keys(a: &[&[u8]]) -> Vec<usize> {
    keys_after(a, 2)
}

/// The keys that follow the numkeys at `a[numkeys_idx]`.
fn keys_after(a: &[&[u8]], numkeys_idx: usize) -> Vec<usize> {
    match a.get(numkeys_idx).and_then(|n| num::parse_i64_strict(n)) {
        Some(n) if n > 0 => {
            let n = usize::try_from(n).unwrap_or(usize::MAX).min(a.len());
            (numkeys_idx + 1..numkeys_idx + 1 + n).collect()
        }
        _ => Vec::new(),
    }
}

/// LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count]: pops from the first non-empty list,
/// replying [key, [elements]]; nil when every list is missing.
fn lmpop(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    lmpop_generic(ctx, a, 1, None)
}

/// BLMPOP timeout numkeys key [key ...] LEFT|RIGHT [COUNT count]: LMPOP, or wait (the timeout
/// is read after the other arguments, as Redis does).
fn blmpop(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    lmpop_generic(ctx, a, 2, Some(a[1]))
}

/// LMPOP and BLMPOP, whose numkeys is `a[numkeys_idx]`; `timeout` is BLMPOP's.
fn lmpop_generic(ctx: &mut Ctx<'_>, a: &[&[u8]], numkeys_idx: usize, timeout: Option<&[u8]>) -> CmdResult {
    let numkeys = at_least(a[numkeys_idx], 1, NUMKEYS)?;
    // The side argument follows the keys; it must exist.
    let where_idx = match usize::try_from(numkeys).ok().and_then(|n| n.checked_add(numkeys_idx + 1)) {
        Some(i) if i < a.len() => i,
        _ => return Err(syntax()),
    };
    let end = parse_end(a[where_idx])?;
    let mut count = None;
    let mut i = where_idx + 1;
    while i < a.len() {
        if count.is_none() && is(a[i], "COUNT") && i + 1 < a.len() {
            count = Some(at_least(a[i + 1], 1, COUNT_POSITIVE)?);
            i += 2;
        } else {
            return Err(syntax());
        }
    }
    let timeout = timeout.map(args::timeout_ms).transpose()?;
    let count = usize::try_from(count.unwrap_or(1)).unwrap_or(usize::MAX);
    let fill = fill(ctx);
    for &key in &a[numkeys_idx + 1..where_idx] {
        // Missing keys are skipped; the first key of another type is an error (passed over
        // by a blocked BLMPOP, see `Ctx::serving_blocked`).
        if ctx.serving_blocked && ctx.check_type::<ListValue>(key).is_err() {
            continue;
        }
        if let Some(items) = ctx.modify::<ListValue, _>(key, false, |l| pop_n(l, end, count, fill))? {
            if !items.is_empty() {
                ctx.modified(key);
                return Ok(Reply::Array(vec![Reply::bulk(key), Reply::Array(items)]));
            }
        }
    }
    if let Some(t) = timeout {
        ctx.block_for(t);
    }
    Ok(Reply::Nil)
}

/// BLPOP/BRPOP key [key ...] timeout: [key, element] from the first non-empty list, or wait
/// for one. The timeout is checked first, then the keys in order (WRONGTYPE for the first
/// existing non-list before a list is found).
fn bpop_generic(ctx: &mut Ctx<'_>, a: &[&[u8]], end: End) -> CmdResult {
    let timeout = args::timeout_ms(a[a.len() - 1])?;
    let fill = fill(ctx);
    for &key in &a[1..a.len() - 1] {
        if ctx.serving_blocked && ctx.check_type::<ListValue>(key).is_err() {
            continue;
        }
        if let Some(Some(e)) = ctx.modify::<ListValue, _>(key, false, |l| pop(l, end, fill))? {
            ctx.modified(key);
            return Ok(Reply::Array(vec![Reply::bulk(key), Reply::Bulk(e)]));
        }
    }
    ctx.block_for(timeout);
    Ok(Reply::Nil)
}

fn blpop(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    bpop_generic(ctx, a, End::Left)
}

fn brpop(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    bpop_generic(ctx, a, End::Right)
}

// ---------------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------------

fn llen(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    Ok(Reply::Int(ctx.read_plain::<ListValue>(a[1])?.map_or(0, |l| l.len()) as i64))
}

fn lrange(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let (start, stop) = (args::int(a[2])?, args::int(a[3])?);
    let Some(l) = ctx.read_plain::<ListValue>(a[1])? else { return Ok(Reply::Array(Vec::new())) };
    let items = match args::range(start, stop, l.len()) {
        Some((s, e)) => l.iter_from(s).take(e + 1 - s).map(Reply::bulk).collect(),
        None => Vec::new(),
    };
    Ok(Reply::Array(items))
}

/// LINDEX key index: the key is looked up before the index is parsed (as in Redis), so a
/// missing key answers nil even for a malformed index.
fn lindex(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let Some(l) = ctx.read_plain::<ListValue>(a[1])? else { return Ok(Reply::Nil) };
    let i = args::int(a[2])?;
    Ok(Reply::bulk_opt(index(i, l.len()).and_then(|i| l.get(i))))
}

/// LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len].
fn lpos(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let elem = a[2];
    let (mut rank, mut count, mut maxlen) = (1i64, None::<i64>, 0i64);
    let mut i = 3;
    while i < a.len() {
        let more = i + 1 < a.len();
        if is(a[i], "RANK") && more {
            rank = args::int(a[i + 1])?;
            if rank == i64::MIN {
                return Err(Reply::err(RANK_RANGE));
            }
            if rank == 0 {
                return Err(Reply::err(RANK_ZERO));
            }
        } else if is(a[i], "COUNT") && more {
            count = Some(at_least(a[i + 1], 0, COUNT_NEGATIVE)?);
        } else if is(a[i], "MAXLEN") && more {
            maxlen = at_least(a[i + 1], 0, MAXLEN_NEGATIVE)?;
        } else {
            return Err(syntax());
        }
        i += 2;
    }
    let Some(l) = ctx.read_plain::<ListValue>(a[1])? else {
        return Ok(if count.is_some() { Reply::Array(Vec::new()) } else { Reply::Nil });
    };
    let len = l.len();
    let from_tail = rank < 0;
    let skip = rank.unsigned_abs() - 1; // matches to pass over before the first reported one
    let scan = if maxlen == 0 { len } else { usize::try_from(maxlen).unwrap_or(usize::MAX).min(len) };
    // COUNT 0 means every match; no COUNT means the first one only.
    let limit = match count {
        None => 1,
        Some(0) => u64::MAX,
        Some(n) => n as u64,
    };
    let mut found = Vec::new();
    let mut matches = 0u64;
    let elems: &mut dyn Iterator<Item = &[u8]> = if from_tail { &mut l.iter().rev() } else { &mut l.iter() };
    for (k, e) in elems.take(scan).enumerate() {
        let pos = if from_tail { len - 1 - k } else { k };
        if e != elem {
            continue;
        }
        matches += 1;
        if matches > skip {
            found.push(Reply::Int(pos as i64));
            if found.len() as u64 >= limit {
                break;
            }
        }
    }
    Ok(match count {
        Some(_) => Reply::Array(found),
        None => found.pop().unwrap_or(Reply::Nil),
    })
}

// ---------------------------------------------------------------------------------------------
// In-place updates
// ---------------------------------------------------------------------------------------------

/// LSET key index element: "no such key" and WRONGTYPE come before the index is parsed.
fn lset(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let parsed = args::int(a[2]);
    let value = a[3];
    let fill = fill(ctx);
    let r = ctx.modify::<ListValue, _>(a[1], false, |l| -> Result<(), Reply> {
        let i = parsed?;
        check_size(value)?;
        // An out-of-range index gives usize::MAX, which `set` refuses after Redis's conversion.
        let pos = index(i, l.len()).unwrap_or(usize::MAX);
        if l.set(pos, value, fill) {
            Ok(())
        } else {
            Err(Reply::err(OUT_OF_RANGE))
        }
    })?;
    match r {
        None => Err(Reply::err(NO_SUCH_KEY)),
        Some(Err(e)) => Err(e),
        Some(Ok(())) => {
            ctx.modified(a[1]);
            Ok(Reply::OK)
        }
    }
}

/// LINSERT key BEFORE|AFTER pivot element: the new length, -1 without the pivot, 0 without the key.
fn linsert(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let after = if is(a[2], "AFTER") {
        true
    } else if is(a[2], "BEFORE") {
        false
    } else {
        return Err(syntax());
    };
    let (pivot, value) = (a[3], a[4]);
    check_size(value)?;
    let fill = fill(ctx);
    let r = ctx.modify::<ListValue, _>(a[1], false, |l| l.insert_at_pivot(pivot, value, after, fill).then(|| l.len()))?;
    match r {
        None => Ok(Reply::Int(0)),
        Some(None) => Ok(Reply::Int(-1)),
        Some(Some(len)) => {
            ctx.modified(a[1]);
            Ok(Reply::Int(len as i64))
        }
    }
}

/// LREM key count element: removes the first `count` occurrences from the head (count > 0),
/// the last `-count` from the tail (count < 0), or all of them (count = 0).
fn lrem(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let count = args::int(a[2])?;
    let elem = a[3];
    let fill = fill(ctx);
    let removed = ctx.modify::<ListValue, _>(a[1], false, |l| l.remove(elem, count, fill))?;
    let removed = removed.unwrap_or(0);
    if removed > 0 {
        ctx.modified(a[1]);
    }
    Ok(Reply::Int(removed as i64))
}

/// LTRIM key start stop: keep only the inclusive range; an empty range deletes the key.
fn ltrim(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let (start, stop) = (args::int(a[2])?, args::int(a[3])?);
    let fill = fill(ctx);
    let existed = ctx.modify::<ListValue, _>(a[1], false, |l| match args::range(start, stop, l.len()) {
        Some((s, e)) => l.keep(s, e, fill),
        None => l.clear(),
    })?;
    if existed.is_some() {
        // Redis signals the key whenever it exists, even if nothing was trimmed.
        ctx.modified(a[1]);
    }
    Ok(Reply::OK)
}

// ---------------------------------------------------------------------------------------------
// Moving between lists
// ---------------------------------------------------------------------------------------------

/// Pop from `src` at `from`, push onto `dst` at `to`, reply with the element (nil if `src` is
/// missing). The destination's type is checked before anything is popped; `src == dst`
/// rotates the list in place.
fn move_generic(ctx: &mut Ctx<'_>, src: &[u8], dst: &[u8], from: End, to: End) -> CmdResult {
    let fill = fill(ctx);
    if src == dst {
        let moved = ctx.modify::<ListValue, _>(src, false, |l| {
            let e = pop(l, from, fill)?;
            l.push(to, &[&e], fill);
            Some(e)
        })?;
        return Ok(match moved.flatten() {
            Some(e) => {
                ctx.modified(src);
                Reply::Bulk(e)
            }
            None => Reply::Nil,
        });
    }
    ctx.check_type::<ListValue>(src)?;
    if !ctx.exists(src) {
        return Ok(Reply::Nil);
    }
    ctx.check_type::<ListValue>(dst)?;
    let Some(e) = ctx.modify::<ListValue, _>(src, false, |l| pop(l, from, fill))?.flatten() else { return Ok(Reply::Nil) };
    ctx.modify::<ListValue, _>(dst, true, |l| l.push(to, &[&e], fill))?;
    ctx.modified(src);
    ctx.modified(dst);
    Ok(Reply::Bulk(e))
}

fn lmove(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let (from, to) = (parse_end(a[3])?, parse_end(a[4])?);
    move_generic(ctx, a[1], a[2], from, to)
}

fn rpoplpush(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    move_generic(ctx, a[1], a[2], End::Right, End::Left)
}

/// BLMOVE/BRPOPLPUSH: LMOVE when the source exists (checking its type first), else wait. The
/// destination's type is only checked once there is something to move, as in Redis.
fn bmove_generic(ctx: &mut Ctx<'_>, a: &[&[u8]], from: End, to: End, timeout_ms: u64) -> CmdResult {
    let has_list = match ctx.check_type::<ListValue>(a[1]) {
        Ok(()) => ctx.exists(a[1]),
        Err(_) if ctx.serving_blocked => false,
        Err(e) => return Err(e),
    };
    if !has_list {
        ctx.block_for(timeout_ms);
        return Ok(Reply::Nil);
    }
    move_generic(ctx, a[1], a[2], from, to)
}

fn blmove(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let (from, to) = (parse_end(a[3])?, parse_end(a[4])?);
    let timeout = args::timeout_ms(a[5])?;
    bmove_generic(ctx, a, from, to, timeout)
}

fn brpoplpush(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let timeout = args::timeout_ms(a[3])?;
    bmove_generic(ctx, a, End::Right, End::Left, timeout)
}

#[cfg(test)]
mod tests {
    use crate::reply::Reply;
    use crate::Db;

    const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

    fn run(db: &Db, args: &[&str]) -> Reply {
        let argv: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
        db.execute(&argv)
    }

    fn bulk(s: &str) -> Reply {
        Reply::Bulk(s.as_bytes().to_vec())
    }

    fn bulks(items: &[&str]) -> Reply {
        Reply::Array(items.iter().map(|s| bulk(s)).collect())
    }

    fn ints(items: &[i64]) -> Reply {
        Reply::Array(items.iter().map(|&i| Reply::Int(i)).collect())
    }

    fn err(msg: &str) -> Reply {
        Reply::Error(msg.to_string().into())
    }

    fn list(db: &Db, key: &str) -> Reply {
        run(db, &["LRANGE", key, "0", "-1"])
    }

    fn exists(db: &Db, key: &str) -> i64 {
        run(db, &["EXISTS", key]).as_int().expect("EXISTS answers an integer")
    }

    /// A db holding list `l` = [a b c d e] and string `s`.
    fn sample() -> Db {
        let db = Db::open_in_memory();
        assert_eq!(run(&db, &["RPUSH", "l", "a", "b", "c", "d", "e"]), Reply::Int(5));
        assert_eq!(run(&db, &["SET", "s", "x"]), Reply::OK);
        db
    }

    #[test]
    fn push_orders_and_lengths() {
        let db = Db::open_in_memory();
        assert_eq!(run(&db, &["LPUSH", "l", "a", "b", "c"]), Reply::Int(3));
        assert_eq!(list(&db, "l"), bulks(&["c", "b", "a"]));
        assert_eq!(run(&db, &["RPUSH", "l", "x", "y"]), Reply::Int(5));
        assert_eq!(list(&db, "l"), bulks(&["c", "b", "a", "x", "y"]));
        assert_eq!(run(&db, &["TYPE", "l"]), Reply::status("list"));
        assert_eq!(run(&db, &["LPUSH", "l"]), err("ERR wrong number of arguments for 'lpush' command"));
    }

    #[test]
    fn pushx_only_existing() {
        let db = Db::open_in_memory();
        assert_eq!(run(&db, &["LPUSHX", "l", "a"]), Reply::Int(0));
        assert_eq!(run(&db, &["RPUSHX", "l", "a"]), Reply::Int(0));
        assert_eq!(exists(&db, "l"), 0);
        run(&db, &["RPUSH", "l", "m"]);
        assert_eq!(run(&db, &["LPUSHX", "l", "a", "b"]), Reply::Int(3));
        assert_eq!(run(&db, &["RPUSHX", "l", "y", "z"]), Reply::Int(5));
        assert_eq!(list(&db, "l"), bulks(&["b", "a", "m", "y", "z"]));
    }

    #[test]
    fn pop_single_and_count() {
        let db = sample();
        assert_eq!(run(&db, &["LPOP", "l"]), bulk("a"));
        assert_eq!(run(&db, &["RPOP", "l"]), bulk("e"));
        assert_eq!(run(&db, &["LPOP", "l", "0"]), Reply::Array(vec![]));
        assert_eq!(run(&db, &["RPOP", "l", "2"]), bulks(&["d", "c"]));
        assert_eq!(list(&db, "l"), bulks(&["b"]));
        assert_eq!(run(&db, &["LPOP", "l", "10"]), bulks(&["b"]));
        assert_eq!(exists(&db, "l"), 0);
        assert_eq!(run(&db, &["LPOP", "l"]), Reply::Nil);
        assert_eq!(run(&db, &["RPOP", "l", "0"]), Reply::Nil);
        assert_eq!(run(&db, &["RPOP", "l", "3"]), Reply::Nil);
        run(&db, &["RPUSH", "m", "1", "2", "3"]);
        assert_eq!(run(&db, &["LPOP", "m", "2"]), bulks(&["1", "2"]));
        assert_eq!(run(&db, &["RPOP", "m"]), bulk("3"));
        assert_eq!(exists(&db, "m"), 0);
    }

    #[test]
    fn pop_errors() {
        let db = sample();
        let positive = err("ERR value is out of range, must be positive");
        assert_eq!(run(&db, &["LPOP", "l", "-1"]), positive);
        assert_eq!(run(&db, &["LPOP", "l", "abc"]), positive);
        assert_eq!(run(&db, &["RPOP", "missing", "-1"]), positive);
        // The count is validated before the key's type.
        assert_eq!(run(&db, &["LPOP", "s", "-1"]), positive);
        assert_eq!(run(&db, &["LPOP", "s", "0"]), err(WRONGTYPE));
        assert_eq!(run(&db, &["LPOP", "s"]), err(WRONGTYPE));
        assert_eq!(run(&db, &["RPOP", "s", "1"]), err(WRONGTYPE));
        assert_eq!(run(&db, &["LPOP", "l", "1", "2"]), err("ERR wrong number of arguments for 'lpop' command"));
        assert_eq!(run(&db, &["RPOP", "l", "1", "2"]), err("ERR wrong number of arguments for 'rpop' command"));
        assert_eq!(run(&db, &["LLEN", "l"]), Reply::Int(5));
    }

    #[test]
    fn llen_and_wrongtype_for_push() {
        let db = sample();
        assert_eq!(run(&db, &["LLEN", "l"]), Reply::Int(5));
        assert_eq!(run(&db, &["LLEN", "missing"]), Reply::Int(0));
        assert_eq!(run(&db, &["LLEN", "s"]), err(WRONGTYPE));
        for cmd in ["LPUSH", "RPUSH", "LPUSHX", "RPUSHX"] {
            assert_eq!(run(&db, &[cmd, "s", "v"]), err(WRONGTYPE), "{cmd}");
        }
        assert_eq!(run(&db, &["GET", "s"]), bulk("x"));
    }

    #[test]
    fn lrange_indexes() {
        let db = sample();
        assert_eq!(run(&db, &["LRANGE", "l", "0", "-1"]), bulks(&["a", "b", "c", "d", "e"]));
        assert_eq!(run(&db, &["LRANGE", "l", "1", "2"]), bulks(&["b", "c"]));
        assert_eq!(run(&db, &["LRANGE", "l", "-3", "-2"]), bulks(&["c", "d"]));
        assert_eq!(run(&db, &["LRANGE", "l", "-100", "1"]), bulks(&["a", "b"]));
        assert_eq!(run(&db, &["LRANGE", "l", "3", "100"]), bulks(&["d", "e"]));
        assert_eq!(run(&db, &["LRANGE", "l", "5", "10"]), bulks(&[]));
        assert_eq!(run(&db, &["LRANGE", "l", "3", "1"]), bulks(&[]));
        assert_eq!(run(&db, &["LRANGE", "l", "-1", "-2"]), bulks(&[]));
        assert_eq!(run(&db, &["LRANGE", "l", "-9223372036854775808", "9223372036854775807"]), bulks(&["a", "b", "c", "d", "e"]));
        assert_eq!(run(&db, &["LRANGE", "missing", "0", "-1"]), bulks(&[]));
        assert_eq!(run(&db, &["LRANGE", "missing", "x", "1"]), err("ERR value is not an integer or out of range"));
        assert_eq!(run(&db, &["LRANGE", "l", "0", "1.5"]), err("ERR value is not an integer or out of range"));
        assert_eq!(run(&db, &["LRANGE", "s", "0", "-1"]), err(WRONGTYPE));
    }

    #[test]
    fn lindex_indexes() {
        let db = sample();
        assert_eq!(run(&db, &["LINDEX", "l", "0"]), bulk("a"));
        assert_eq!(run(&db, &["LINDEX", "l", "4"]), bulk("e"));
        assert_eq!(run(&db, &["LINDEX", "l", "-1"]), bulk("e"));
        assert_eq!(run(&db, &["LINDEX", "l", "-5"]), bulk("a"));
        assert_eq!(run(&db, &["LINDEX", "l", "5"]), Reply::Nil);
        assert_eq!(run(&db, &["LINDEX", "l", "-6"]), Reply::Nil);
        assert_eq!(run(&db, &["LINDEX", "l", "-9223372036854775808"]), Reply::Nil);
        assert_eq!(run(&db, &["LINDEX", "missing", "0"]), Reply::Nil);
        // The key is looked up before the index is parsed.
        assert_eq!(run(&db, &["LINDEX", "missing", "x"]), Reply::Nil);
        assert_eq!(run(&db, &["LINDEX", "s", "x"]), err(WRONGTYPE));
        assert_eq!(run(&db, &["LINDEX", "l", "x"]), err("ERR value is not an integer or out of range"));
    }

    #[test]
    fn lset_cases() {
        let db = sample();
        assert_eq!(run(&db, &["LSET", "l", "0", "A"]), Reply::OK);
        assert_eq!(run(&db, &["LSET", "l", "-1", "E"]), Reply::OK);
        assert_eq!(run(&db, &["LSET", "l", "-3", "C"]), Reply::OK);
        assert_eq!(list(&db, "l"), bulks(&["A", "b", "C", "d", "E"]));
        assert_eq!(run(&db, &["LSET", "l", "5", "z"]), err("ERR index out of range"));
        assert_eq!(run(&db, &["LSET", "l", "-6", "z"]), err("ERR index out of range"));
        assert_eq!(run(&db, &["LSET", "l", "x", "z"]), err("ERR value is not an integer or out of range"));
        assert_eq!(run(&db, &["LSET", "missing", "0", "z"]), err("ERR no such key"));
        assert_eq!(run(&db, &["LSET", "missing", "x", "z"]), err("ERR no such key"));
        assert_eq!(run(&db, &["LSET", "s", "x", "z"]), err(WRONGTYPE));
        assert_eq!(exists(&db, "missing"), 0);
        assert_eq!(list(&db, "l"), bulks(&["A", "b", "C", "d", "E"]));
    }

    #[test]
    fn lrem_directions() {
        let db = Db::open_in_memory();
        let fill = |db: &Db| {
            run(db, &["DEL", "l"]);
            run(db, &["RPUSH", "l", "x", "a", "x", "b", "x", "c", "x"]);
        };
        fill(&db);
        assert_eq!(run(&db, &["LREM", "l", "2", "x"]), Reply::Int(2));
        assert_eq!(list(&db, "l"), bulks(&["a", "b", "x", "c", "x"]));
        fill(&db);
        assert_eq!(run(&db, &["LREM", "l", "-2", "x"]), Reply::Int(2));
        assert_eq!(list(&db, "l"), bulks(&["x", "a", "x", "b", "c"]));
        fill(&db);
        assert_eq!(run(&db, &["LREM", "l", "0", "x"]), Reply::Int(4));
        assert_eq!(list(&db, "l"), bulks(&["a", "b", "c"]));
        fill(&db);
        assert_eq!(run(&db, &["LREM", "l", "10", "x"]), Reply::Int(4));
        fill(&db);
        assert_eq!(run(&db, &["LREM", "l", "-10", "x"]), Reply::Int(4));
        assert_eq!(run(&db, &["LREM", "l", "-9223372036854775808", "a"]), Reply::Int(1));
        assert_eq!(run(&db, &["LREM", "l", "0", "zz"]), Reply::Int(0));
        assert_eq!(list(&db, "l"), bulks(&["b", "c"]));
        // Removing everything deletes the key.
        assert_eq!(run(&db, &["LREM", "l", "1", "b"]), Reply::Int(1));
        assert_eq!(run(&db, &["LREM", "l", "-1", "c"]), Reply::Int(1));
        assert_eq!(exists(&db, "l"), 0);
        assert_eq!(run(&db, &["LREM", "l", "0", "c"]), Reply::Int(0));
        assert_eq!(run(&db, &["LREM", "l", "x", "c"]), err("ERR value is not an integer or out of range"));
        run(&db, &["SET", "s", "v"]);
        assert_eq!(run(&db, &["LREM", "s", "0", "v"]), err(WRONGTYPE));
    }

    #[test]
    fn ltrim_cases() {
        let db = sample();
        assert_eq!(run(&db, &["LTRIM", "l", "1", "-2"]), Reply::OK);
        assert_eq!(list(&db, "l"), bulks(&["b", "c", "d"]));
        assert_eq!(run(&db, &["LTRIM", "l", "-100", "100"]), Reply::OK);
        assert_eq!(list(&db, "l"), bulks(&["b", "c", "d"]));
        assert_eq!(run(&db, &["LTRIM", "l", "1", "1"]), Reply::OK);
        assert_eq!(list(&db, "l"), bulks(&["c"]));
        // An empty range deletes the key.
        assert_eq!(run(&db, &["LTRIM", "l", "1", "0"]), Reply::OK);
        assert_eq!(exists(&db, "l"), 0);
        run(&db, &["RPUSH", "l", "a", "b"]);
        assert_eq!(run(&db, &["LTRIM", "l", "5", "10"]), Reply::OK);
        assert_eq!(exists(&db, "l"), 0);
        run(&db, &["RPUSH", "l", "a", "b"]);
        assert_eq!(run(&db, &["LTRIM", "l", "0", "-3"]), Reply::OK);
        assert_eq!(exists(&db, "l"), 0);
        assert_eq!(run(&db, &["LTRIM", "missing", "0", "1"]), Reply::OK);
        assert_eq!(exists(&db, "missing"), 0);
        assert_eq!(run(&db, &["LTRIM", "missing", "x", "1"]), err("ERR value is not an integer or out of range"));
        assert_eq!(run(&db, &["LTRIM", "s", "0", "1"]), err(WRONGTYPE));
    }

    #[test]
    fn linsert_cases() {
        let db = sample();
        assert_eq!(run(&db, &["LINSERT", "l", "BEFORE", "c", "X"]), Reply::Int(6));
        assert_eq!(run(&db, &["LINSERT", "l", "after", "e", "Y"]), Reply::Int(7));
        assert_eq!(run(&db, &["LINSERT", "l", "before", "a", "Z"]), Reply::Int(8));
        assert_eq!(list(&db, "l"), bulks(&["Z", "a", "b", "X", "c", "d", "e", "Y"]));
        // First occurrence of the pivot from the head.
        run(&db, &["RPUSH", "d", "p", "q", "p"]);
        assert_eq!(run(&db, &["LINSERT", "d", "AFTER", "p", "N"]), Reply::Int(4));
        assert_eq!(list(&db, "d"), bulks(&["p", "N", "q", "p"]));
        assert_eq!(run(&db, &["LINSERT", "l", "BEFORE", "nope", "X"]), Reply::Int(-1));
        assert_eq!(run(&db, &["LINSERT", "missing", "BEFORE", "a", "X"]), Reply::Int(0));
        assert_eq!(exists(&db, "missing"), 0);
        assert_eq!(run(&db, &["LINSERT", "l", "MIDDLE", "a", "X"]), err("ERR syntax error"));
        assert_eq!(run(&db, &["LINSERT", "s", "MIDDLE", "a", "X"]), err("ERR syntax error"));
        assert_eq!(run(&db, &["LINSERT", "s", "BEFORE", "a", "X"]), err(WRONGTYPE));
    }

    #[test]
    fn lpos_redis_io_examples() {
        let db = Db::open_in_memory();
        // From the redis.io LPOS page.
        assert_eq!(run(&db, &["RPUSH", "mylist", "a", "b", "c", "d", "1", "2", "3", "4", "3", "3", "3"]), Reply::Int(11));
        assert_eq!(run(&db, &["LPOS", "mylist", "3"]), Reply::Int(6));
        assert_eq!(run(&db, &["LPOS", "mylist", "3", "COUNT", "0", "RANK", "2"]), ints(&[8, 9, 10]));
        let db = Db::open_in_memory();
        run(&db, &["RPUSH", "mylist", "a", "b", "c", "1", "2", "3", "c", "c"]);
        assert_eq!(run(&db, &["LPOS", "mylist", "c"]), Reply::Int(2));
        assert_eq!(run(&db, &["LPOS", "mylist", "c", "RANK", "2"]), Reply::Int(6));
        assert_eq!(run(&db, &["LPOS", "mylist", "c", "RANK", "-1"]), Reply::Int(7));
        assert_eq!(run(&db, &["LPOS", "mylist", "c", "COUNT", "2"]), ints(&[2, 6]));
        assert_eq!(run(&db, &["LPOS", "mylist", "c", "RANK", "-1", "COUNT", "2"]), ints(&[7, 6]));
        assert_eq!(run(&db, &["LPOS", "mylist", "c", "COUNT", "0"]), ints(&[2, 6, 7]));
        assert_eq!(run(&db, &["LPOS", "mylist", "c", "RANK", "-1", "MAXLEN", "1"]), Reply::Int(7));
        assert_eq!(run(&db, &["LPOS", "mylist", "c", "RANK", "-1", "MAXLEN", "2"]), Reply::Int(7));
        assert_eq!(run(&db, &["LPOS", "mylist", "c", "COUNT", "0", "MAXLEN", "3"]), ints(&[2]));
        assert_eq!(run(&db, &["LPOS", "mylist", "c", "MAXLEN", "2"]), Reply::Nil);
        assert_eq!(run(&db, &["LPOS", "mylist", "c", "COUNT", "0", "MAXLEN", "2"]), ints(&[]));
        assert_eq!(run(&db, &["LPOS", "mylist", "c", "RANK", "-2", "MAXLEN", "1"]), Reply::Nil);
        assert_eq!(run(&db, &["LPOS", "mylist", "c", "RANK", "3"]), Reply::Int(7));
        assert_eq!(run(&db, &["LPOS", "mylist", "c", "RANK", "4"]), Reply::Nil);
        assert_eq!(run(&db, &["LPOS", "mylist", "c", "RANK", "4", "COUNT", "5"]), ints(&[]));
        assert_eq!(run(&db, &["LPOS", "mylist", "c", "rank", "2", "count", "1", "maxlen", "100"]), ints(&[6]));
        // Later options override earlier ones.
        assert_eq!(run(&db, &["LPOS", "mylist", "c", "RANK", "5", "RANK", "1"]), Reply::Int(2));
        assert_eq!(run(&db, &["LPOS", "mylist", "zz"]), Reply::Nil);
        assert_eq!(run(&db, &["LPOS", "mylist", "zz", "COUNT", "0"]), ints(&[]));
        assert_eq!(run(&db, &["LPOS", "missing", "c"]), Reply::Nil);
        assert_eq!(run(&db, &["LPOS", "missing", "c", "COUNT", "1"]), ints(&[]));
    }

    #[test]
    fn lpos_errors() {
        let db = sample();
        let rank0 = "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list";
        assert_eq!(run(&db, &["LPOS", "l", "a", "RANK", "0"]), err(rank0));
        // Options are validated before the key is looked up.
        assert_eq!(run(&db, &["LPOS", "s", "a", "RANK", "0"]), err(rank0));
        assert_eq!(run(&db, &["LPOS", "l", "a", "COUNT", "-1"]), err("ERR COUNT can't be negative"));
        assert_eq!(run(&db, &["LPOS", "l", "a", "COUNT", "abc"]), err("ERR COUNT can't be negative"));
        assert_eq!(run(&db, &["LPOS", "l", "a", "MAXLEN", "-1"]), err("ERR MAXLEN can't be negative"));
        assert_eq!(run(&db, &["LPOS", "l", "a", "MAXLEN", "x"]), err("ERR MAXLEN can't be negative"));
        assert_eq!(run(&db, &["LPOS", "l", "a", "RANK", "x"]), err("ERR value is not an integer or out of range"));
        assert_eq!(
            run(&db, &["LPOS", "l", "a", "RANK", "-9223372036854775808"]),
            err("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807")
        );
        assert_eq!(run(&db, &["LPOS", "l", "a", "RANK", "-9223372036854775807"]), Reply::Nil);
        assert_eq!(run(&db, &["LPOS", "l", "a", "RANK"]), err("ERR syntax error"));
        assert_eq!(run(&db, &["LPOS", "l", "a", "FOO", "1"]), err("ERR syntax error"));
        assert_eq!(run(&db, &["LPOS", "s", "a"]), err(WRONGTYPE));
        assert_eq!(run(&db, &["LPOS", "s", "a", "COUNT", "0"]), err(WRONGTYPE));
    }

    #[test]
    fn lmove_between_lists() {
        let db = Db::open_in_memory();
        run(&db, &["RPUSH", "src", "1", "2", "3"]);
        assert_eq!(run(&db, &["LMOVE", "src", "dst", "LEFT", "RIGHT"]), bulk("1"));
        assert_eq!(run(&db, &["LMOVE", "src", "dst", "right", "left"]), bulk("3"));
        assert_eq!(list(&db, "dst"), bulks(&["3", "1"]));
        assert_eq!(run(&db, &["LMOVE", "src", "dst", "RIGHT", "RIGHT"]), bulk("2"));
        assert_eq!(exists(&db, "src"), 0);
        assert_eq!(list(&db, "dst"), bulks(&["3", "1", "2"]));
        assert_eq!(run(&db, &["LMOVE", "src", "dst", "LEFT", "LEFT"]), Reply::Nil);
        assert_eq!(exists(&db, "src"), 0);
        assert_eq!(run(&db, &["LMOVE", "dst", "src", "LEFT", "LEFT"]), bulk("3"));
        assert_eq!(list(&db, "src"), bulks(&["3"]));
        assert_eq!(run(&db, &["LMOVE", "src", "dst", "UP", "LEFT"]), err("ERR syntax error"));
        assert_eq!(run(&db, &["LMOVE", "missing", "dst", "LEFT", "DOWN"]), err("ERR syntax error"));
    }

    #[test]
    fn lmove_same_key_rotates() {
        let db = Db::open_in_memory();
        run(&db, &["RPUSH", "l", "a", "b", "c"]);
        assert_eq!(run(&db, &["LMOVE", "l", "l", "LEFT", "RIGHT"]), bulk("a"));
        assert_eq!(list(&db, "l"), bulks(&["b", "c", "a"]));
        assert_eq!(run(&db, &["LMOVE", "l", "l", "RIGHT", "LEFT"]), bulk("a"));
        assert_eq!(list(&db, "l"), bulks(&["a", "b", "c"]));
        assert_eq!(run(&db, &["LMOVE", "l", "l", "LEFT", "LEFT"]), bulk("a"));
        assert_eq!(list(&db, "l"), bulks(&["a", "b", "c"]));
        assert_eq!(run(&db, &["RPOPLPUSH", "l", "l"]), bulk("c"));
        assert_eq!(list(&db, "l"), bulks(&["c", "a", "b"]));
        // A one-element list survives rotation.
        run(&db, &["RPUSH", "one", "x"]);
        assert_eq!(run(&db, &["LMOVE", "one", "one", "LEFT", "RIGHT"]), bulk("x"));
        assert_eq!(list(&db, "one"), bulks(&["x"]));
        assert_eq!(run(&db, &["LMOVE", "none", "none", "LEFT", "RIGHT"]), Reply::Nil);
        assert_eq!(exists(&db, "none"), 0);
        run(&db, &["SET", "s", "v"]);
        assert_eq!(run(&db, &["LMOVE", "s", "s", "LEFT", "RIGHT"]), err(WRONGTYPE));
    }

    #[test]
    fn lmove_wrongtype() {
        let db = sample();
        // The destination is checked before popping: nothing is lost.
        assert_eq!(run(&db, &["LMOVE", "l", "s", "LEFT", "LEFT"]), err(WRONGTYPE));
        assert_eq!(run(&db, &["RPOPLPUSH", "l", "s"]), err(WRONGTYPE));
        assert_eq!(run(&db, &["LLEN", "l"]), Reply::Int(5));
        assert_eq!(run(&db, &["LMOVE", "s", "l", "LEFT", "LEFT"]), err(WRONGTYPE));
        assert_eq!(run(&db, &["RPOPLPUSH", "s", "l"]), err(WRONGTYPE));
        // A missing source answers nil without looking at the destination.
        assert_eq!(run(&db, &["LMOVE", "missing", "s", "LEFT", "LEFT"]), Reply::Nil);
        assert_eq!(run(&db, &["RPOPLPUSH", "missing", "s"]), Reply::Nil);
        assert_eq!(run(&db, &["GET", "s"]), bulk("x"));
    }

    #[test]
    fn rpoplpush_moves_tail_to_head() {
        let db = Db::open_in_memory();
        run(&db, &["RPUSH", "mylist", "one", "two", "three"]);
        assert_eq!(run(&db, &["RPOPLPUSH", "mylist", "myotherlist"]), bulk("three"));
        assert_eq!(list(&db, "mylist"), bulks(&["one", "two"]));
        assert_eq!(list(&db, "myotherlist"), bulks(&["three"]));
        assert_eq!(run(&db, &["RPOPLPUSH", "mylist", "myotherlist"]), bulk("two"));
        assert_eq!(run(&db, &["RPOPLPUSH", "mylist", "myotherlist"]), bulk("one"));
        assert_eq!(exists(&db, "mylist"), 0);
        assert_eq!(list(&db, "myotherlist"), bulks(&["one", "two", "three"]));
        assert_eq!(run(&db, &["RPOPLPUSH", "mylist", "myotherlist"]), Reply::Nil);
    }

    #[test]
    fn lmpop_cases() {
        let db = sample();
        run(&db, &["RPUSH", "m", "1", "2", "3"]);
        assert_eq!(run(&db, &["LMPOP", "2", "missing", "m", "LEFT"]), Reply::Array(vec![bulk("m"), bulks(&["1"])]));
        assert_eq!(run(&db, &["LMPOP", "2", "m", "l", "RIGHT", "COUNT", "10"]), Reply::Array(vec![bulk("m"), bulks(&["3", "2"])]));
        assert_eq!(exists(&db, "m"), 0);
        assert_eq!(run(&db, &["LMPOP", "2", "m", "l", "right", "count", "2"]), Reply::Array(vec![bulk("l"), bulks(&["e", "d"])]));
        assert_eq!(run(&db, &["LMPOP", "1", "missing", "LEFT"]), Reply::Nil);
        assert_eq!(run(&db, &["LMPOP", "2", "missing", "m", "LEFT", "COUNT", "3"]), Reply::Nil);
        // The first key of another type fails, even after a missing key.
        assert_eq!(run(&db, &["LMPOP", "3", "missing", "s", "l", "LEFT"]), err(WRONGTYPE));
        assert_eq!(run(&db, &["LMPOP", "2", "l", "s", "LEFT"]), Reply::Array(vec![bulk("l"), bulks(&["a"])]));
        assert_eq!(list(&db, "l"), bulks(&["b", "c"]));
    }

    #[test]
    fn lmpop_errors() {
        let db = sample();
        let numkeys = err("ERR numkeys should be greater than 0");
        assert_eq!(run(&db, &["LMPOP", "0", "l", "LEFT"]), numkeys);
        assert_eq!(run(&db, &["LMPOP", "-1", "l", "LEFT"]), numkeys);
        assert_eq!(run(&db, &["LMPOP", "x", "l", "LEFT"]), numkeys);
        assert_eq!(run(&db, &["LMPOP", "2", "l", "LEFT"]), err("ERR syntax error"));
        assert_eq!(run(&db, &["LMPOP", "9223372036854775807", "l", "LEFT"]), err("ERR syntax error"));
        assert_eq!(run(&db, &["LMPOP", "1", "l", "MIDDLE"]), err("ERR syntax error"));
        assert_eq!(run(&db, &["LMPOP", "1", "l", "LEFT", "FOO"]), err("ERR syntax error"));
        assert_eq!(run(&db, &["LMPOP", "1", "l", "LEFT", "COUNT"]), err("ERR syntax error"));
        assert_eq!(run(&db, &["LMPOP", "1", "l", "LEFT", "COUNT", "1", "COUNT", "1"]), err("ERR syntax error"));
        let count = err("ERR count should be greater than 0");
        assert_eq!(run(&db, &["LMPOP", "1", "l", "LEFT", "COUNT", "0"]), count);
        assert_eq!(run(&db, &["LMPOP", "1", "l", "LEFT", "COUNT", "x"]), count);
        assert_eq!(run(&db, &["LMPOP", "2", "missing", "s", "LEFT", "COUNT", "-1"]), count);
        assert_eq!(run(&db, &["LMPOP", "1", "l"]), err("ERR wrong number of arguments for 'lmpop' command"));
        assert_eq!(run(&db, &["LLEN", "l"]), Reply::Int(5));
    }

    #[test]
    fn element_size_limit() {
        assert!(!super::too_large((1 << 32) - 1024));
        assert!(super::too_large((1 << 32) - 1023));
        assert_eq!(super::check_size(b"small"), Ok(()));
    }

    #[test]
    fn binary_safe_elements() {
        let db = Db::open_in_memory();
        let argv: [&[u8]; 4] = [b"RPUSH", b"b", b"\x00\xff", b""];
        assert_eq!(db.execute(&argv), Reply::Int(2));
        assert_eq!(db.execute(&[b"LPOS", b"b", b""]), Reply::Int(1));
        assert_eq!(db.execute(&[b"LINDEX", b"b", b"0"]), Reply::Bulk(vec![0, 255]));
        assert_eq!(db.execute(&[b"LREM", b"b", b"0", b"\x00\xff"]), Reply::Int(1));
        assert_eq!(db.execute(&[b"LPOP", b"b"]), Reply::Bulk(vec![]));
        assert_eq!(db.execute(&[b"EXISTS", b"b"]), Reply::Int(0));
    }

    #[test]
    fn ttl_survives_updates_and_goes_with_key() {
        let db = Db::open_in_memory();
        run(&db, &["RPUSH", "l", "a", "b"]);
        assert_eq!(run(&db, &["EXPIRE", "l", "100"]), Reply::Int(1));
        run(&db, &["RPUSH", "l", "c"]);
        run(&db, &["LPOP", "l"]);
        assert!(matches!(run(&db, &["TTL", "l"]), Reply::Int(t) if t > 0));
        run(&db, &["LPOP", "l", "5"]);
        assert_eq!(exists(&db, "l"), 0);
        run(&db, &["RPUSH", "l", "z"]);
        assert_eq!(run(&db, &["TTL", "l"]), Reply::Int(-1));
    }

    /// Runs `change` on a WATCHed key and tells whether the transaction was aborted.
    fn aborts(setup: &[&str], change: &[&str]) -> bool {
        let db = Db::open_in_memory();
        run(&db, &["SET", "s", "v"]);
        if !setup.is_empty() {
            run(&db, setup);
        }
        let mut sess = db.session();
        assert_eq!(sess.execute(&[b"WATCH", b"l"]), Reply::OK);
        let r = run(&db, change);
        assert!(!r.is_error() || change[0] == "LSET" || change[0] == "LMOVE", "{change:?} -> {r:?}");
        sess.execute(&[b"MULTI"]);
        sess.execute(&[b"PING"]);
        sess.execute(&[b"EXEC"]) == Reply::Nil
    }

    #[test]
    fn watch_signalled_only_on_change() {
        let seed = ["RPUSH", "l", "a", "b", "c"];
        // Changes abort.
        assert!(aborts(&[], &["LPUSH", "l", "x"]));
        assert!(aborts(&seed, &["RPUSHX", "l", "x"]));
        assert!(aborts(&seed, &["LPOP", "l"]));
        assert!(aborts(&seed, &["RPOP", "l", "2"]));
        assert!(aborts(&seed, &["LSET", "l", "0", "z"]));
        assert!(aborts(&seed, &["LREM", "l", "0", "a"]));
        assert!(aborts(&seed, &["LINSERT", "l", "AFTER", "a", "z"]));
        assert!(aborts(&seed, &["LTRIM", "l", "0", "0"]));
        assert!(aborts(&seed, &["LMOVE", "l", "l", "LEFT", "RIGHT"]));
        assert!(aborts(&seed, &["LMOVE", "l", "other", "LEFT", "RIGHT"]));
        assert!(aborts(&seed, &["LMPOP", "1", "l", "LEFT"]));
        // Redis signals LTRIM whenever the key exists.
        assert!(aborts(&seed, &["LTRIM", "l", "0", "-1"]));
        // No-ops do not.
        assert!(!aborts(&[], &["LPUSHX", "l", "x"]));
        assert!(!aborts(&seed, &["LPOP", "l", "0"]));
        assert!(!aborts(&seed, &["LREM", "l", "0", "zz"]));
        assert!(!aborts(&seed, &["LINSERT", "l", "AFTER", "zz", "z"]));
        assert!(!aborts(&seed, &["LSET", "l", "10", "z"]));
        assert!(!aborts(&seed, &["LMOVE", "l", "s", "LEFT", "RIGHT"]));
        assert!(!aborts(&[], &["LTRIM", "l", "0", "1"]));
        assert!(!aborts(&[], &["RPOPLPUSH", "m", "l"]));
    }

    #[test]
    fn watch_on_move_destination() {
        let db = Db::open_in_memory();
        run(&db, &["RPUSH", "src", "a"]);
        let mut sess = db.session();
        sess.execute(&[b"WATCH", b"dst"]);
        assert_eq!(run(&db, &["RPOPLPUSH", "src", "dst"]), bulk("a"));
        sess.execute(&[b"MULTI"]);
        sess.execute(&[b"PING"]);
        assert_eq!(sess.execute(&[b"EXEC"]), Reply::Nil);
    }

    #[test]
    fn key_specs_cover_touched_keys() {
        // Keys on different shards: a missing key spec would panic on the unlocked shard.
        let db = Db::open_in_memory();
        for i in 0..40 {
            let (src, dst) = (format!("src{i}"), format!("dst{i}"));
            run(&db, &["RPUSH", &src, "a", "b"]);
            assert_eq!(run(&db, &["LMOVE", &src, &dst, "LEFT", "LEFT"]), bulk("a"));
            assert_eq!(run(&db, &["RPOPLPUSH", &src, &dst]), bulk("b"));
            assert_eq!(
                run(&db, &["LMPOP", "3", "nope", &src, &dst, "LEFT", "COUNT", "5"]),
                Reply::Array(vec![bulk(&dst), bulks(&["b", "a"])])
            );
        }
    }
}
