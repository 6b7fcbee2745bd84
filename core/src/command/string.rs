//! String commands: SET and friends, counters, ranges.
//!
//! Strings are binary-safe byte strings of at most 512 MiB (Redis's proto-max-bulk-len).
//! Counters parse the stored bytes with Redis's strict integer rules on every call; a TTL
//! survives in-place updates (INCR, APPEND, SETRANGE) and is cleared by SET/GETSET.
//!
//! Every command that stores a value stores it as `ValueBytes::store` decides from the live
//! `compression` setting (packed when that shrinks it). Readers go through `ValueBytes`: STRLEN
//! uses the raw length kept in the packed header, GET/GETRANGE/APPEND/SETRANGE/INCR* read the
//! raw bytes (decompressing a packed value whole; APPEND and SETRANGE then store the result,
//! recompressed). A plain value is read in place, as before compression existed.
//!
//! Log effects (`Ctx::log_as`), so that replaying the log rebuilds the same state whatever the
//! clock: a SET with options, SETEX and PSETEX are logged as `SET key value [PXAT abs-ms]`
//! (`KEEPTTL` kept; `DEL key` for an absolute time already past), GETEX as `PEXPIREAT`, `DEL`
//! or `PERSIST`, INCRBYFLOAT as `SET key result KEEPTTL`. Everything else (plain SET included)
//! is deterministic and logged verbatim by the dispatcher.

use smallvec::SmallVec;

use super::args::{self, is, syntax, NOT_FLOAT, NOT_INTEGER};
use super::{CmdResult, CommandSpec, DENYOOM, WRITE};
use crate::keyspace::dict::hash_bytes;
use crate::keyspace::{Ctx, Entry, WRONGTYPE};
use crate::reply::Reply;
use crate::types::{Value, ValueBytes};
use crate::util::ldouble::{self, LongDouble};
use crate::util::num;

pub(crate) const MAX_STRING: usize = 512 * 1024 * 1024;
const TOO_BIG: &str = "ERR string exceeds maximum allowed size (proto-max-bulk-len)";
const W: u32 = WRITE | DENYOOM;
const K1: (i32, i32, i32) = (1, 1, 1);

pub(crate) const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("get", 2, 0, K1, get),
    CommandSpec::new("set", -3, W, K1, set),
    CommandSpec::new("setnx", 3, W, K1, setnx),
    CommandSpec::new("setex", 4, W, K1, setex),
    CommandSpec::new("psetex", 4, W, K1, psetex),
    CommandSpec::new("getset", 3, W, K1, getset),
    CommandSpec::new("getdel", 2, WRITE, K1, getdel),
    CommandSpec::new("getex", -2, WRITE, K1, getex),
    CommandSpec::new("mget", -2, 0, (1, -1, 1), mget),
    CommandSpec::new("mset", -3, W, (1, -1, 2), mset),
    CommandSpec::new("msetnx", -3, W, (1, -1, 2), msetnx),
    CommandSpec::new("incr", 2, W, K1, incr),
    CommandSpec::new("decr", 2, W, K1, decr),
    CommandSpec::new("incrby", 3, W, K1, incrby),
    CommandSpec::new("decrby", 3, W, K1, decrby),
    CommandSpec::new("incrbyfloat", 3, W, K1, incrbyfloat),
    CommandSpec::new("append", 3, W, K1, append),
    CommandSpec::new("strlen", 2, 0, K1, strlen),
    CommandSpec::new("getrange", 4, 0, K1, getrange),
    CommandSpec::new("substr", 4, 0, K1, getrange),
    CommandSpec::new("setrange", 4, W, K1, setrange),
    CommandSpec::new("lcs", -3, 0, (1, 2, 1), lcs),
];

fn get(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    Ok(ctx.get_str(a[1])?.map_or(Reply::Nil, |s| Reply::Bulk(s.to_vec())))
}

/// `b` as a string value, compressed as the live `compression` setting says.
fn string(ctx: &Ctx<'_>, b: &[u8]) -> Value {
    Value::Str(ValueBytes::store(b, ctx.compression()))
}

/// Expiry options shared by SET and GETEX. The EX/PX/EXAT/PXAT value is kept raw while
/// parsing and validated afterwards, in the order Redis checks (syntax, then key, then value).
#[derive(Clone, Copy, PartialEq)]
enum Ttl<'a> {
    Unchanged,
    Raw { arg: &'a [u8], seconds: bool, relative: bool },
    Persist,
    Keep,
}

impl Ttl<'_> {
    /// The absolute expiry in ms for a Raw option (validated), None for the others.
    fn resolve(self, ctx: &Ctx<'_>, cmd: &str) -> Result<Option<i64>, Reply> {
        match self {
            Ttl::Raw { arg, seconds, relative } => absolute_expiry(ctx, arg, seconds, relative, cmd).map(Some),
            _ => Ok(None),
        }
    }
}

/// Which expiry keyword set the current `Ttl` (Redis lets a keyword repeat, last one wins,
/// but refuses two different ones).
#[derive(Clone, Copy, PartialEq)]
enum TtlWord {
    Ex,
    Px,
    ExAt,
    PxAt,
    KeepTtl,
    Persist,
}

fn expire_error(cmd: &str) -> Reply {
    Reply::err_owned(format!("ERR invalid expire time in '{cmd}' command"))
}

/// Turn an EX/PX/EXAT/PXAT argument into an absolute Unix-ms time, as Redis validates it.
pub(crate) fn absolute_expiry(ctx: &Ctx<'_>, arg: &[u8], seconds: bool, relative: bool, cmd: &str) -> Result<i64, Reply> {
    let v = args::int(arg)?;
    if v <= 0 || (seconds && v > i64::MAX / 1000) {
        return Err(expire_error(cmd));
    }
    let mut ms = if seconds { v * 1000 } else { v };
    if relative {
        ms = ms.checked_add(ctx.now()).ok_or_else(|| expire_error(cmd))?;
    }
    Ok(ms)
}

/// Parse the expiry keyword at `a[*i]` (advancing past its argument). Ok(false) if `a[*i]` is
/// not an expiry keyword allowed for this command.
fn parse_ttl_option<'a>(a: &[&'a [u8]], i: &mut usize, word: &mut Option<TtlWord>, ttl: &mut Ttl<'a>, cmd: &str) -> Result<bool, Reply> {
    let opt = a[*i];
    let getex = cmd == "getex";
    let this = if is(opt, "EX") {
        TtlWord::Ex
    } else if is(opt, "PX") {
        TtlWord::Px
    } else if is(opt, "EXAT") {
        TtlWord::ExAt
    } else if is(opt, "PXAT") {
        TtlWord::PxAt
    } else if is(opt, "KEEPTTL") && !getex {
        TtlWord::KeepTtl
    } else if is(opt, "PERSIST") && getex {
        TtlWord::Persist
    } else {
        return Ok(false);
    };
    if word.is_some_and(|w| w != this) {
        return Err(syntax());
    }
    *word = Some(this);
    let (seconds, relative) = match this {
        TtlWord::KeepTtl => {
            *ttl = Ttl::Keep;
            return Ok(true);
        }
        TtlWord::Persist => {
            *ttl = Ttl::Persist;
            return Ok(true);
        }
        TtlWord::Ex => (true, true),
        TtlWord::Px => (false, true),
        TtlWord::ExAt => (true, false),
        TtlWord::PxAt => (false, false),
    };
    if *i + 1 >= a.len() {
        return Err(syntax());
    }
    *ttl = Ttl::Raw { arg: a[*i + 1], seconds, relative };
    *i += 1;
    Ok(true)
}

fn set(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let (mut nx, mut xx, mut get) = (false, false, false);
    let mut ttl = Ttl::Unchanged;
    let mut word = None;
    let mut i = 3;
    while i < a.len() {
        let opt = a[i];
        if is(opt, "NX") && !xx {
            nx = true;
        } else if is(opt, "XX") && !nx {
            xx = true;
        } else if is(opt, "GET") {
            get = true;
        } else if !parse_ttl_option(a, &mut i, &mut word, &mut ttl, "set")? {
            return Err(syntax());
        }
        i += 1;
    }
    let at = ttl.resolve(ctx, "set")?;
    let (key, val) = (a[1], a[2]);
    let existing = ctx.lookup_with_ttl(key);
    let old = match existing.as_ref().map(|(e, _)| &**e) {
        Some(Entry { value: Value::Str(s), .. }) if get => Some(s.to_vec()),
        Some(_) if get => return Err(Reply::err(WRONGTYPE)),
        _ => None,
    };
    let exists = existing.is_some();
    let old_ttl = existing.map_or(0, |(_, at)| at);
    if (nx && exists) || (xx && !exists) {
        return Ok(if get { Reply::bulk_opt(old.as_deref()) } else { Reply::Nil });
    }
    let expire_at = match (at, ttl) {
        (Some(t), _) => t,
        (None, Ttl::Keep) => old_ttl,
        _ => 0,
    };
    ctx.insert(key, string(ctx, val), expire_at);
    // Plain `SET k v` is logged verbatim. With options, the NX/XX/GET condition is decided and
    // a relative TTL has been resolved: log what happened, deterministically.
    if a.len() > 3 {
        match ttl {
            Ttl::Keep => ctx.log_as(&[b"SET", key, val, b"KEEPTTL"]),
            _ => log_set_at(ctx, key, val, expire_at),
        }
    }
    Ok(if get { Reply::bulk_opt(old.as_deref()) } else { Reply::OK })
}

/// Log a SET of `key` to `val` with the absolute expiry `expire_at` (0 = none) as
/// `SET key val [PXAT ms]`, or as `DEL key` when that time has already passed (an absolute
/// EXAT/PXAT in the past): the key is gone for every later command, and a replay, whose clock
/// expires nothing, must not see it either.
fn log_set_at(ctx: &mut Ctx<'_>, key: &[u8], val: &[u8], expire_at: i64) {
    if expire_at == 0 {
        ctx.log_as(&[b"SET", key, val]);
    } else if expire_at <= ctx.now() {
        ctx.log_as(&[b"DEL", key]);
    } else {
        ctx.log_as(&[b"SET", key, val, b"PXAT", expire_at.to_string().as_bytes()]);
    }
}

fn setnx(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    if ctx.exists(a[1]) {
        return Ok(Reply::Int(0));
    }
    ctx.insert(a[1], string(ctx, a[2]), 0);
    Ok(Reply::Int(1))
}

fn setex_generic(ctx: &mut Ctx<'_>, a: &[&[u8]], seconds: bool, cmd: &str) -> CmdResult {
    let at = absolute_expiry(ctx, a[2], seconds, true, cmd)?;
    ctx.insert(a[1], string(ctx, a[3]), at);
    log_set_at(ctx, a[1], a[3], at);
    Ok(Reply::OK)
}

fn setex(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    setex_generic(ctx, a, true, "setex")
}

fn psetex(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    setex_generic(ctx, a, false, "psetex")
}

fn getset(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let old = ctx.get_str(a[1])?.map(ValueBytes::to_vec);
    ctx.insert(a[1], string(ctx, a[2]), 0);
    Ok(Reply::bulk_opt(old.as_deref()))
}

fn getdel(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let Some(old) = ctx.get_str(a[1])?.map(ValueBytes::to_vec) else { return Ok(Reply::Nil) };
    ctx.remove(a[1]);
    Ok(Reply::Bulk(old))
}

fn getex(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let mut ttl = Ttl::Unchanged;
    let mut word = None;
    let mut i = 2;
    while i < a.len() {
        if !parse_ttl_option(a, &mut i, &mut word, &mut ttl, "getex")? {
            return Err(syntax());
        }
        i += 1;
    }
    let key = a[1];
    let Some(val) = ctx.get_str(key)?.map(ValueBytes::to_vec) else { return Ok(Reply::Nil) };
    let at = ttl.resolve(ctx, "getex")?;
    // Logged as Redis propagates it: an absolute EXAT/PXAT already past deletes the key (DEL),
    // any other time becomes PEXPIREAT, PERSIST only when a TTL was removed.
    match (at, ttl) {
        (Some(t), _) if t <= ctx.now() => {
            ctx.remove(key);
            ctx.log_as(&[b"DEL", key]);
        }
        (Some(t), _) => {
            ctx.set_expire(key, t);
            ctx.log_as(&[b"PEXPIREAT", key, t.to_string().as_bytes()]);
        }
        (None, Ttl::Persist) if ctx.lookup(key).is_some_and(|e| e.has_ttl()) => {
            ctx.set_expire(key, 0);
            ctx.log_as(&[b"PERSIST", key]);
        }
        _ => {}
    }
    Ok(Reply::Bulk(val))
}

fn mget(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let keys = &a[1..];
    let hashes: SmallVec<[u64; 16]> = keys.iter().map(|k| hash_bytes(k)).collect();
    let mut out = Vec::with_capacity(keys.len());
    ctx.lookup_counted_batch(keys, &hashes, |_, e| {
        out.push(match e.as_deref() {
            Some(Entry { value: Value::Str(s), .. }) => Reply::Bulk(s.to_vec()),
            _ => Reply::Nil,
        })
    });
    Ok(Reply::Array(out))
}

fn mset(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    if a.len().is_multiple_of(2) {
        return Err(super::wrong_arity("mset"));
    }
    for pair in a[1..].chunks(2) {
        ctx.insert(pair[0], string(ctx, pair[1]), 0);
    }
    Ok(Reply::OK)
}

fn msetnx(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    if a.len().is_multiple_of(2) {
        return Err(super::wrong_arity("msetnx"));
    }
    if a[1..].chunks(2).any(|p| ctx.exists(p[0])) {
        return Ok(Reply::Int(0));
    }
    for pair in a[1..].chunks(2) {
        ctx.insert(pair[0], string(ctx, pair[1]), 0);
    }
    Ok(Reply::Int(1))
}

/// Replace the string at `key` keeping its TTL (or create it without one).
fn store_keep_ttl(ctx: &mut Ctx<'_>, key: &[u8], bytes: Vec<u8>) {
    let value = ValueBytes::store_vec(bytes, ctx.compression());
    store_value_keep_ttl(ctx, key, value);
}

/// Replace the string at `key` with `value`, keeping its TTL (or create it without one).
pub(super) fn store_value_keep_ttl(ctx: &mut Ctx<'_>, key: &[u8], value: ValueBytes) {
    let value = Value::Str(value);
    match ctx.lookup_mut(key) {
        Some(e) => {
            e.value = value;
            ctx.modified(key);
        }
        None => ctx.insert(key, value, 0),
    }
}

fn incr_by(ctx: &mut Ctx<'_>, key: &[u8], delta: i64) -> CmdResult {
    let cur = match ctx.get_str(key)? {
        None => 0,
        Some(s) => s.with_bytes(num::parse_i64_strict).ok_or_else(|| Reply::err(NOT_INTEGER))?,
    };
    let new = cur.checked_add(delta).ok_or_else(|| Reply::err("ERR increment or decrement would overflow"))?;
    store_keep_ttl(ctx, key, new.to_string().into_bytes());
    Ok(Reply::Int(new))
}

fn incr(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    incr_by(ctx, a[1], 1)
}

fn decr(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    incr_by(ctx, a[1], -1)
}

fn incrby(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let d = args::int(a[2])?;
    incr_by(ctx, a[1], d)
}

fn decrby(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let d = args::int(a[2])?;
    if d == i64::MIN {
        return Err(Reply::err("ERR decrement would overflow"));
    }
    incr_by(ctx, a[1], -d)
}

/// `current + incr` for INCRBYFLOAT, computed as Redis does: both parsed as C `long double`
/// (`string2ld`), added in 80-bit precision, printed with `%.17Lf` and trimmed.
pub(crate) fn add_float(current: Option<&[u8]>, incr: &[u8]) -> Result<String, Reply> {
    let cur = match current {
        Some(c) => ldouble::parse(c).ok_or_else(|| Reply::err(NOT_FLOAT))?,
        None => LongDouble::from_i64(0),
    };
    let inc = ldouble::parse(incr).ok_or_else(|| Reply::err(NOT_FLOAT))?;
    let sum = cur.add(inc);
    if !sum.is_finite() {
        return Err(Reply::err(FLOAT_OVERFLOW));
    }
    Ok(sum.to_human_string())
}

pub(crate) const FLOAT_OVERFLOW: &str = "ERR increment would produce NaN or Infinity";

fn incrbyfloat(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let cur = ctx.get_str(a[1])?.map(ValueBytes::bytes);
    let new = add_float(cur.as_deref(), a[2])?;
    store_keep_ttl(ctx, a[1], new.as_bytes().to_vec());
    // The sum's text is the effect (as Redis propagates it): replay must not redo the float
    // arithmetic and formatting.
    ctx.log_as(&[b"SET", a[1], new.as_bytes(), b"KEEPTTL"]);
    Ok(Reply::Bulk(new.into_bytes()))
}

fn append(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let cur = ctx.get_str(a[1])?;
    let len = cur.map_or(0, ValueBytes::len) + a[2].len();
    if len > MAX_STRING {
        return Err(Reply::err(TOO_BIG));
    }
    let mut v = Vec::with_capacity(len);
    if let Some(cur) = cur {
        v.extend_from_slice(&cur.bytes());
    }
    v.extend_from_slice(a[2]);
    // Redis appends in place to a raw copy of an existing value (OBJECT ENCODING: raw); a
    // new key is stored as SET stores it.
    let value = if cur.is_some() { ValueBytes::store_raw(v, ctx.compression()) } else { ValueBytes::store_vec(v, ctx.compression()) };
    store_value_keep_ttl(ctx, a[1], value);
    Ok(Reply::Int(len as i64))
}

/// LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN]: Redis 7.0's `lcsCommand`, its
/// dynamic-programming table, backtracking order and range bookkeeping step for step, so the
/// string, the matches and their order are redis-server's.
fn lcs(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    const NOT_STRINGS: &str = "ERR The specified keys must contain string values";
    let read = |ctx: &Ctx<'_>, key: &[u8]| match ctx.get_str(key) {
        Ok(v) => Ok(v.map(|v| v.bytes().into_owned()).unwrap_or_default()),
        Err(_) => Err(Reply::err(NOT_STRINGS)),
    };
    // Both keys are looked up before the options are parsed (a type error wins).
    let (x, y) = (read(ctx, a[1]), read(ctx, a[2]));
    let (x, y) = (x?, y?);
    let (mut get_len, mut get_idx, mut with_match_len, mut min_match_len) = (false, false, false, 0i64);
    let mut i = 3;
    while i < a.len() {
        let more = a.len() - 1 - i;
        if is(a[i], "IDX") {
            get_idx = true;
        } else if is(a[i], "LEN") {
            get_len = true;
        } else if is(a[i], "WITHMATCHLEN") {
            with_match_len = true;
        } else if is(a[i], "MINMATCHLEN") && more > 0 {
            min_match_len = args::int(a[i + 1])?.max(0);
            i += 1;
        } else {
            return Err(syntax());
        }
        i += 1;
    }
    if get_idx && get_len {
        return Err(Reply::err("ERR If you want both the length and indexes, please just use IDX."));
    }
    let (alen, blen) = (x.len(), y.len());
    let cells = (alen as u64 + 1) * (blen as u64 + 1);
    if cells.saturating_mul(4) > MAX_STRING as u64 {
        return Err(Reply::err("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len"));
    }
    // table[j + (blen + 1) * i]: the LCS length of x[..i] and y[..j].
    let w = blen + 1;
    let mut table = vec![0u32; cells as usize];
    for i in 1..=alen {
        for j in 1..=blen {
            table[j + w * i] =
                if x[i - 1] == y[j - 1] { table[(j - 1) + w * (i - 1)] + 1 } else { table[j + w * (i - 1)].max(table[(j - 1) + w * i]) };
        }
    }
    let total = table[blen + w * alen];
    let compute = get_idx || !get_len;
    let mut out = vec![0u8; if compute { total as usize } else { 0 }];
    let mut matches = Vec::new();
    // `alen` as a range start means "no range open" (Redis's sentinel).
    let (mut a_start, mut a_end, mut b_start, mut b_end) = (alen, 0usize, 0usize, 0usize);
    let (mut i, mut j, mut k) = (alen, blen, total as usize);
    while compute && i > 0 && j > 0 {
        let mut emit = false;
        if x[i - 1] == y[j - 1] {
            out[k - 1] = x[i - 1];
            if a_start == alen {
                (a_start, a_end, b_start, b_end) = (i - 1, i - 1, j - 1, j - 1);
            } else if a_start == i && b_start == j {
                a_start -= 1;
                b_start -= 1;
            } else {
                emit = true;
            }
            if a_start == 0 || b_start == 0 {
                emit = true;
            }
            k -= 1;
            i -= 1;
            j -= 1;
        } else {
            if table[j + w * (i - 1)] > table[(j - 1) + w * i] {
                i -= 1;
            } else {
                j -= 1;
            }
            if a_start != alen {
                emit = true;
            }
        }
        if emit {
            // A range is open here, so it holds at least one byte: a_start <= a_end.
            let match_len = a_end - a_start + 1;
            if get_idx && match_len as i64 >= min_match_len {
                let mut m = vec![
                    Reply::Array(vec![Reply::Int(a_start as i64), Reply::Int(a_end as i64)]),
                    Reply::Array(vec![Reply::Int(b_start as i64), Reply::Int(b_end as i64)]),
                ];
                if with_match_len {
                    m.push(Reply::Int(match_len as i64));
                }
                matches.push(Reply::Array(m));
            }
            a_start = alen;
        }
    }
    Ok(if get_idx {
        Reply::Map(vec![(Reply::bulk(b"matches"), Reply::Array(matches)), (Reply::bulk(b"len"), Reply::Int(i64::from(total)))])
    } else if get_len {
        Reply::Int(i64::from(total))
    } else {
        Reply::Bulk(out)
    })
}

fn strlen(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    Ok(Reply::Int(ctx.get_str(a[1])?.map_or(0, ValueBytes::len) as i64))
}

fn getrange(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let (mut start, mut end) = (args::int(a[2])?, args::int(a[3])?);
    let s = ctx.get_str(a[1])?.map(ValueBytes::bytes).unwrap_or_default();
    let len = s.len() as i64;
    if start < 0 && end < 0 && start > end {
        return Ok(Reply::Bulk(Vec::new()));
    }
    if start < 0 {
        start += len;
    }
    if end < 0 {
        end += len;
    }
    start = start.max(0);
    end = end.max(0);
    if end >= len {
        end = len - 1;
    }
    if start > end || len == 0 {
        return Ok(Reply::Bulk(Vec::new()));
    }
    Ok(Reply::bulk(&s[start as usize..=end as usize]))
}

fn setrange(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let offset = args::int(a[2])?;
    if offset < 0 {
        return Err(Reply::err("ERR offset is out of range"));
    }
    let cur = ctx.get_str(a[1])?;
    let val = a[3];
    if val.is_empty() {
        return Ok(Reply::Int(cur.map_or(0, ValueBytes::len) as i64));
    }
    let end = offset as usize + val.len();
    if offset as usize > MAX_STRING || end > MAX_STRING {
        return Err(Reply::err(TOO_BIG));
    }
    let mut v = cur.map(ValueBytes::to_vec).unwrap_or_default();
    if v.len() < end {
        v.resize(end, 0);
    }
    v[offset as usize..end].copy_from_slice(val);
    let len = v.len();
    // Redis writes into a raw copy (or a new raw string): OBJECT ENCODING says raw.
    let value = ValueBytes::store_raw(v, ctx.compression());
    store_value_keep_ttl(ctx, a[1], value);
    Ok(Reply::Int(len as i64))
}

#[cfg(test)]
pub(super) mod tests {
    //! Log-effect tests. `logged`, `replay`, `dump` and `check_replay` are shared with the other
    //! families' log-effect tests (keys, set, hash).

    use super::super::testutil::{bulk, run};
    use crate::keyspace::{now_ms, LockSet};
    use crate::types::Value;
    use crate::util::resp::decode_commands;
    use crate::{Db, Reply};

    /// What one command did, run by its handler alone (no dispatcher): the reply, the commands
    /// it logged with `log_as` (decoded), whether it called `log_as`, and the dirty count.
    pub(crate) struct Logged {
        pub(crate) reply: Reply,
        pub(crate) cmds: Vec<Vec<String>>,
        pub(crate) described: bool,
        pub(crate) dirty: u64,
    }

    impl Logged {
        /// The command changed nothing and logged nothing.
        pub(crate) fn assert_no_effect(&self) {
            assert_eq!((self.dirty, self.described, self.cmds.len()), (0, false, 0), "reply {:?}", self.reply);
        }
    }

    pub(crate) fn logged(db: &Db, args: &[&str]) -> Logged {
        let argv: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
        let spec = crate::command::resolve(&argv).unwrap_or_else(|e| panic!("{args:?}: {e:?}"));
        let mut ctx = db.keyspace().lock(&LockSet::All, true);
        ctx.logging = true;
        let reply = match (spec.handler)(&mut ctx, &argv) {
            Ok(r) | Err(r) => r,
        };
        let cmds = decode_commands(&ctx.effects)
            .expect("log_as writes well-formed RESP")
            .into_iter()
            .map(|c| c.into_iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect())
            .collect();
        Logged { reply, cmds, described: ctx.effect_described, dirty: ctx.dirty }
    }

    /// Run commands given as words (setup, or logged commands being replayed); each must succeed.
    pub(crate) fn replay<S: AsRef<str>>(db: &Db, cmds: &[Vec<S>]) {
        for c in cmds {
            let words: Vec<&str> = c.iter().map(AsRef::as_ref).collect();
            if let Reply::Error(e) = run(db, &words) {
                panic!("{words:?}: {e}");
            }
        }
    }

    /// A key's live state in comparable form: type and content (hashes, sets and sorted sets
    /// in sorted order), and its absolute expiry. None when absent or expired.
    pub(crate) fn dump(db: &Db, key: &str) -> Option<(String, i64)> {
        let ctx = db.keyspace().lock(&LockSet::All, false);
        let (e, expire_at) = ctx.lookup_with_ttl(key.as_bytes())?;
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let content = match &e.value {
            Value::Str(s) => format!("string {:?}", text(&s.bytes())),
            Value::List(l) => format!("list {:?}", l.iter().map(text).collect::<Vec<_>>()),
            Value::Hash(h) => {
                let mut v: Vec<(String, String)> = h.iter().map(|(f, x)| (text(f), text(&x))).collect();
                v.sort();
                format!("hash {v:?}")
            }
            Value::Set(s) => {
                let mut v: Vec<String> = s.members().map(|m| text(&m)).collect();
                v.sort();
                format!("set {v:?}")
            }
            Value::ZSet(z) => {
                let mut v: Vec<(String, u64)> = z.iter().map(|(m, s)| (text(m), s.to_bits())).collect();
                v.sort();
                format!("zset {v:?}")
            }
            Value::Stream(st) => {
                let v: Vec<(String, Vec<String>)> = st
                    .range(crate::types::stream::StreamId::MIN, crate::types::stream::StreamId::MAX, false)
                    .map(|(id, f)| (text(&id.to_bytes()), f.items().map(text).collect()))
                    .collect();
                format!("stream {v:?}")
            }
            Value::Collection(c) => format!("collection {:?}", c.iter().map(|d| format!("{d:?}")).collect::<Vec<_>>()),
        };
        Some((content, expire_at))
    }

    /// Replay equivalence: two databases get the same `setup`; `cmd` runs on the first, what it
    /// logged is replayed on the second, and every key in `keys` must end up the same in both
    /// (value and absolute expiry). Returns what `cmd` did.
    pub(crate) fn check_replay(setup: &[Vec<String>], cmd: &[&str], keys: &[&str]) -> Logged {
        let (a, b) = (Db::open_in_memory(), Db::open_in_memory());
        replay(&a, setup);
        replay(&b, setup);
        let done = logged(&a, cmd);
        replay(&b, &done.cmds);
        for k in keys {
            assert_eq!(dump(&a, k), dump(&b, k), "{cmd:?} logged {:?}: key {k} differs after replay", done.cmds);
        }
        done
    }

    /// Words of a command, owned (setups built with formatted arguments).
    pub(crate) fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    /// An absolute time well in the future, in Unix ms.
    pub(crate) fn future_ms() -> i64 {
        now_ms() + 1_000_000
    }

    fn expire_at(db: &Db, key: &str) -> i64 {
        dump(db, key).expect("key present").1
    }

    /// `SET key value PXAT <the expiry now stored under key>`.
    fn set_pxat(db: &Db, key: &str, value: &str) -> Vec<Vec<String>> {
        vec![words(&format!("SET {key} {value} PXAT {}", expire_at(db, key)))]
    }

    #[test]
    fn set_with_ttl_logs_absolute_pxat_without_conditions() {
        let fut = future_ms();
        let (fut_s, fut_ms) = ((fut / 1000).to_string(), fut.to_string());
        let cases: [&[&str]; 6] = [
            &["SET", "k", "v", "EX", "100"],
            &["SET", "k", "v", "PX", "100000"],
            &["SET", "k", "v", "EXAT", &fut_s],
            &["SET", "k", "v", "PXAT", &fut_ms],
            &["set", "k", "v", "nx", "get", "px", "5000"],
            &["SET", "k", "v", "EX", "1", "EX", "100"],
        ];
        for cmd in cases {
            let db = Db::open_in_memory();
            let before = now_ms();
            let done = logged(&db, cmd);
            assert!(matches!(done.reply, Reply::Status(_) | Reply::Nil), "{cmd:?}: {:?}", done.reply);
            let at = expire_at(&db, "k");
            assert!(at >= before + 5000, "{cmd:?}: expiry {at} is not absolute");
            assert_eq!(done.cmds, set_pxat(&db, "k", "v"), "{cmd:?}");
            assert!(done.described);
        }
        // XX GET on an existing key with a TTL: logged as the SET that happened.
        let setup = [words(&format!("SET k old PXAT {fut}"))];
        let done = check_replay(&setup, &["SET", "k", "new", "XX", "GET", "PX", "50000"], &["k"]);
        assert_eq!(done.reply, bulk("old"));
        assert_eq!(done.cmds.len(), 1);
        assert_eq!(done.cmds[0][..4], words("SET k new PXAT")[..]);
        // Replay equivalence for each relative form.
        for cmd in [&["SET", "k", "v", "EX", "100"][..], &["SET", "k", "v", "PX", "100000", "XX"]] {
            check_replay(&setup, cmd, &["k"]);
        }
    }

    #[test]
    fn refused_set_logs_nothing() {
        let db = Db::open_in_memory();
        run(&db, &["SET", "k", "old"]);
        for cmd in [&["SET", "k", "v", "NX", "EX", "100"][..], &["SET", "k", "v", "NX", "GET"], &["SET", "missing", "v", "XX", "PX", "100"]]
        {
            logged(&db, cmd).assert_no_effect();
        }
        run(&db, &["LPUSH", "l", "x"]);
        let done = logged(&db, &["SET", "l", "v", "GET", "EX", "100"]);
        assert!(matches!(done.reply, Reply::Error(_)));
        done.assert_no_effect();
    }

    #[test]
    fn set_without_ttl_options() {
        // Plain SET is deterministic: the dispatcher logs it verbatim, the handler adds nothing.
        let db = Db::open_in_memory();
        let done = logged(&db, &["SET", "k", "v"]);
        assert_eq!((done.reply, done.described, done.cmds.len(), done.dirty), (Reply::OK, false, 0, 1));
        // With NX/XX/GET the decided condition is dropped.
        let setup = [words(&format!("SET k old PXAT {}", future_ms()))];
        let done = check_replay(&setup, &["SET", "k", "v", "XX", "GET"], &["k"]);
        assert_eq!((done.reply, done.cmds), (bulk("old"), vec![words("SET k v")]));
        let done = check_replay(&setup, &["SET", "n", "v", "NX"], &["k", "n"]);
        assert_eq!(done.cmds, vec![words("SET n v")]);
    }

    #[test]
    fn set_keepttl_keeps_the_stored_expiry_on_replay() {
        let fut = future_ms();
        let setup = [words(&format!("SET k old PXAT {fut}"))];
        let done = check_replay(&setup, &["SET", "k", "v", "KEEPTTL", "GET"], &["k"]);
        assert_eq!((&done.reply, &done.cmds), (&bulk("old"), &vec![words("SET k v KEEPTTL")]));
        let db = Db::open_in_memory();
        replay(&db, &setup);
        replay(&db, &done.cmds);
        assert_eq!(dump(&db, "k"), Some(("string \"v\"".into(), fut)));
    }

    #[test]
    fn set_with_a_past_absolute_time_logs_del() {
        let setup = [words("SET k old"), words("SET other x")];
        for cmd in [&["SET", "k", "v", "EXAT", "1"][..], &["SET", "k", "v", "PXAT", "1000", "XX"], &["SET", "n", "v", "PXAT", "5"]] {
            let done = check_replay(&setup, cmd, &["k", "n", "other"]);
            assert_eq!(done.reply, Reply::OK);
            assert_eq!(done.cmds, vec![vec!["DEL".to_string(), cmd[1].to_string()]]);
        }
    }

    #[test]
    fn setex_and_psetex_log_set_pxat() {
        for cmd in [&["SETEX", "k", "100", "v"][..], &["PSETEX", "k", "100000", "v"]] {
            let before = now_ms();
            let done = check_replay(&[words("SET k old")], cmd, &["k"]);
            assert_eq!(done.cmds.len(), 1);
            assert_eq!(done.cmds[0][..4], words("SET k v PXAT")[..]);
            let at: i64 = done.cmds[0][4].parse().unwrap();
            assert!((before + 100_000..=now_ms() + 100_000).contains(&at), "{at}");
        }
        // An invalid time changes nothing.
        logged(&Db::open_in_memory(), &["SETEX", "k", "0", "v"]).assert_no_effect();
    }

    #[test]
    fn getex_logs_pexpireat_del_or_persist() {
        let fut = future_ms();
        let plain = [words("SET k v")];
        for cmd in [&["GETEX", "k", "EX", "100"][..], &["GETEX", "k", "PX", "100000"], &["GETEX", "k", "EXAT", &(fut / 1000).to_string()]] {
            let done = check_replay(&plain, cmd, &["k"]);
            assert_eq!(done.reply, bulk("v"));
            assert_eq!(done.cmds.len(), 1);
            assert_eq!(done.cmds[0][..2], words("PEXPIREAT k")[..]);
        }
        let done = check_replay(&plain, &["GETEX", "k", "PXAT", &fut.to_string()], &["k"]);
        assert_eq!(done.cmds, vec![words(&format!("PEXPIREAT k {fut}"))]);
        // An absolute time already past deletes the key.
        for cmd in [&["GETEX", "k", "EXAT", "1"][..], &["GETEX", "k", "PXAT", "1"]] {
            let done = check_replay(&plain, cmd, &["k"]);
            assert_eq!((done.reply, done.cmds, done.dirty), (bulk("v"), vec![words("DEL k")], 1));
        }
        // PERSIST is logged only when a TTL was removed.
        let with_ttl = [words(&format!("SET k v PXAT {fut}"))];
        let done = check_replay(&with_ttl, &["GETEX", "k", "PERSIST"], &["k"]);
        assert_eq!(done.cmds, vec![words("PERSIST k")]);
        let db = Db::open_in_memory();
        replay(&db, &plain);
        logged(&db, &["GETEX", "k", "PERSIST"]).assert_no_effect();
        // No option: a read.
        let done = logged(&db, &["GETEX", "k"]);
        assert_eq!(done.reply, bulk("v"));
        done.assert_no_effect();
        logged(&db, &["GETEX", "missing", "EX", "100"]).assert_no_effect();
    }

    #[test]
    fn incrbyfloat_logs_the_result_keeping_the_ttl() {
        let fut = future_ms();
        let setup = [words(&format!("SET k 10.5 PXAT {fut}"))];
        let done = check_replay(&setup, &["INCRBYFLOAT", "k", "0.1"], &["k"]);
        assert_eq!((done.reply, done.cmds), (bulk("10.6"), vec![words("SET k 10.6 KEEPTTL")]));
        let done = check_replay(&setup, &["INCRBYFLOAT", "n", "3.0e3"], &["k", "n"]);
        assert_eq!(done.cmds, vec![words("SET n 3000 KEEPTTL")]);
        let db = Db::open_in_memory();
        run(&db, &["SET", "s", "abc"]);
        logged(&db, &["INCRBYFLOAT", "s", "1"]).assert_no_effect();
    }

    /// How `key` is stored: Some(true) packed, Some(false) plain, None absent.
    fn packed(db: &Db, key: &str) -> Option<bool> {
        let ctx = db.keyspace().lock(&LockSet::All, false);
        let e = ctx.lookup(key.as_bytes())?;
        let packed = match &e.value {
            Value::Str(s) => s.packed().is_some(),
            _ => panic!("{key} is not a string"),
        };
        Some(packed)
    }

    #[test]
    fn every_storing_command_compresses_per_the_setting() {
        let json = "{\"user\":1,\"name\":\"someone\",\"tags\":[\"a\",\"b\"]}".repeat(4);
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let noise: String = (0..200)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                char::from(b'!' + (x % 90) as u8)
            })
            .collect();
        let db = Db::open_in_memory();
        run(&db, &["CONFIG", "SET", "compression", "lz4", "compression-min-size", "64"]);
        let writes: [&[&str]; 9] = [
            &["SET", "a", &json],
            &["SET", "b", &json, "EX", "100", "GET"],
            &["SETNX", "c", &json],
            &["SETEX", "d", "100", &json],
            &["PSETEX", "e", "100000", &json],
            &["GETSET", "f", &json],
            &["MSET", "g", &json, "h", &json],
            &["MSETNX", "i", &json, "j", &json],
            &["SET", "k", &json, "KEEPTTL"],
        ];
        for w in writes {
            run(&db, w);
        }
        for k in ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k"] {
            assert_eq!(packed(&db, k), Some(true), "{k}");
            assert_eq!(run(&db, &["GET", k]), bulk(&json), "{k}");
        }
        // Incompressible, under the threshold, or inline: plain.
        run(&db, &["SET", "noise", &noise]);
        run(&db, &["SET", "under", &json[..63]]);
        run(&db, &["SET", "short", "hello"]);
        assert_eq!([packed(&db, "noise"), packed(&db, "under"), packed(&db, "short")], [Some(false); 3]);
        // APPEND and SETRANGE store their result per the setting: crossing the threshold packs.
        run(&db, &["APPEND", "under", &json[63..]]);
        assert_eq!((packed(&db, "under"), run(&db, &["GET", "under"])), (Some(true), bulk(&json)));
        run(&db, &["SETRANGE", "short", "5", &json]);
        assert_eq!(packed(&db, "short"), Some(true));
        assert_eq!(run(&db, &["GET", "short"]), bulk(&format!("hello{json}")));
        assert_eq!(run(&db, &["STRLEN", "short"]), super::super::testutil::int(5 + json.len() as i64));
        // With compression off, a rewrite stores plain; untouched values stay packed and readable.
        run(&db, &["CONFIG", "SET", "compression", "none"]);
        run(&db, &["APPEND", "a", "!"]);
        assert_eq!((packed(&db, "a"), packed(&db, "c")), (Some(false), Some(true)));
        assert_eq!(run(&db, &["GET", "a"]), bulk(&format!("{json}!")));
        assert_eq!(run(&db, &["GETRANGE", "c", "-5", "-1"]), bulk(&json[json.len() - 5..]));
        // MEMORY accounting sees the packed size.
        let ctx = db.keyspace().lock(&LockSet::All, false);
        let (a, c) = (ctx.lookup(b"a").unwrap(), ctx.lookup(b"c").unwrap());
        assert!(c.value.mem_usage() < a.value.mem_usage() / 2, "{} vs {}", c.value.mem_usage(), a.value.mem_usage());
        assert_eq!((a.value.encoding(), c.value.encoding()), ("raw", "raw"));
    }

    #[test]
    fn append_and_setrange_leave_a_raw_string() {
        // Redis 7: APPEND to an existing key and SETRANGE unshare the value into a raw sds;
        // APPEND creating a key and every replacing write encode as SET does.
        let db = Db::open_in_memory();
        let enc = |k: &str| run(&db, &["OBJECT", "ENCODING", k]);
        run(&db, &["SET", "n", "123"]);
        assert_eq!(enc("n"), bulk("int"));
        run(&db, &["APPEND", "n", "4"]);
        assert_eq!((enc("n"), run(&db, &["GET", "n"])), (bulk("raw"), bulk("1234")));
        run(&db, &["APPEND", "n", ""]);
        assert_eq!(enc("n"), bulk("raw"));
        run(&db, &["INCR", "n"]);
        assert_eq!((enc("n"), run(&db, &["GET", "n"])), (bulk("int"), bulk("1235")));
        run(&db, &["APPEND", "t", "abc"]);
        assert_eq!(enc("t"), bulk("embstr"));
        run(&db, &["APPEND", "u", "12"]);
        assert_eq!(enc("u"), bulk("int"));
        run(&db, &["SETRANGE", "s", "0", "abc"]);
        assert_eq!(enc("s"), bulk("raw"));
        run(&db, &["SET", "s", "abc"]);
        assert_eq!(enc("s"), bulk("embstr"));
        run(&db, &["SETRANGE", "s", "0", ""]);
        assert_eq!(enc("s"), bulk("embstr"), "an empty SETRANGE changes nothing");
        run(&db, &["SETRANGE", "s", "1", "x"]);
        assert_eq!((enc("s"), run(&db, &["GET", "s"])), (bulk("raw"), bulk("axc")));
        // 39..=44 bytes: embstr by length unless marked; the mark survives COPY and RENAME.
        let v40 = "x".repeat(40);
        run(&db, &["SET", "m", &v40]);
        assert_eq!(enc("m"), bulk("embstr"));
        run(&db, &["APPEND", "m", "yz"]);
        assert_eq!((enc("m"), run(&db, &["STRLEN", "m"])), (bulk("raw"), Reply::Int(42)));
        run(&db, &["COPY", "m", "m2"]);
        run(&db, &["RENAME", "m", "m3"]);
        assert_eq!((enc("m2"), enc("m3"), run(&db, &["GET", "m3"])), (bulk("raw"), bulk("raw"), bulk(&format!("{v40}yz"))));
        run(&db, &["SET", "m3", &v40]);
        assert_eq!(enc("m3"), bulk("embstr"));
    }

    #[test]
    fn a_snapshot_keeps_values_packed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let json = "{\"session\":\"abcdef\",\"cart\":[1,2,3]}".repeat(30);
        {
            let db = Db::open(&path, crate::Options::default().compression(crate::Codec::Zlib, 16)).unwrap();
            run(&db, &["SET", "p", &json]);
            run(&db, &["CONFIG", "SET", "compression", "none"]);
            run(&db, &["SET", "q", &json]);
            assert_eq!(run(&db, &["SAVE"]), Reply::OK);
        }
        // A packed value loads as saved (no recompression); a plain one is compressed per the
        // live setting (it may have been saved raw from a dictionary blob, see `compress`).
        let db = Db::open(&path, crate::Options::default().compression(crate::Codec::Lz4, 16)).unwrap();
        assert_eq!((packed(&db, "p"), packed(&db, "q")), (Some(true), Some(true)));
        drop(db);
        let db = Db::open(&path, crate::Options::default().compression(crate::Codec::None, 16)).unwrap();
        assert_eq!((packed(&db, "p"), packed(&db, "q")), (Some(true), Some(false)), "compression none loads plain values plain");
        assert_eq!((run(&db, &["GET", "p"]), run(&db, &["GET", "q"])), (bulk(&json), bulk(&json)));
    }

    #[test]
    fn deterministic_string_writes_do_not_describe_their_effect() {
        let db = Db::open_in_memory();
        let cmds: [&[&str]; 12] = [
            &["SET", "k", "1"],
            &["SETNX", "n", "v"],
            &["GETSET", "k", "2"],
            &["MSET", "a", "1", "b", "2"],
            &["MSETNX", "c", "1", "d", "2"],
            &["INCR", "k"],
            &["DECR", "k"],
            &["INCRBY", "k", "5"],
            &["DECRBY", "k", "5"],
            &["APPEND", "k", "x"],
            &["SETRANGE", "k", "0", "y"],
            &["GETDEL", "k"],
        ];
        for cmd in cmds {
            let done = logged(&db, cmd);
            assert!(!matches!(done.reply, Reply::Error(_)), "{cmd:?}: {:?}", done.reply);
            assert!(done.dirty > 0, "{cmd:?} changed nothing");
            assert_eq!((done.described, done.cmds.len()), (false, 0), "{cmd:?}");
        }
    }
}
