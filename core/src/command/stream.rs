//! Stream commands: XADD, XLEN, XRANGE, XREVRANGE, XDEL, XTRIM, XREAD, XREADGROUP, XGROUP
//! (CREATE, SETID, DESTROY, CREATECONSUMER, DELCONSUMER, HELP), XACK, XPENDING, XCLAIM,
//! XAUTOCLAIM, XINFO (STREAM [FULL], GROUPS, CONSUMERS, HELP) and XSETID, as Redis 7.0's
//! `t_stream.c` behaves: the same argument parsing order, error texts and reply shapes (RESP3:
//! XREAD answers a map of stream name to entries, XINFO maps).
//!
//! Log effects (the log must replay to the same state without a clock): XADD `*` is logged
//! with the ID it got, and any trimming as `XTRIM key MAXLEN = <length left>` (exact and
//! equivalent, whatever `~` or LIMIT chose). Deliveries and claims are logged the way Redis
//! propagates them, one `XCLAIM key group consumer 0 id TIME t RETRYCOUNT n FORCE JUSTID
//! LASTID last` per pending entry that changed (a history read's new delivery count too), a
//! created consumer as XGROUP CREATECONSUMER, a moved group cursor as XGROUP SETID with
//! ENTRIESREAD. `$` IDs are logged resolved.
//!
//! Blocking: XREAD / XREADGROUP with BLOCK and nothing to serve ask `dispatch` to run them
//! again after a write (`Ctx::block_for`); XREAD's `$` IDs are resolved on the first attempt
//! and the later attempts run with them (`Ctx::retry_argv`), so entries added meanwhile are
//! served.
//!
//! Complexity: XADD O(log n); XRANGE O(log n + returned); XDEL O(log n) per ID; trimming
//! O(removed · log n); group operations O(log n) per pending entry touched.

use crate::command::args::{self, is, syntax};
use crate::command::{CmdResult, CommandSpec, BLOCKING, DENYOOM, WRITE};
use crate::keyspace::Ctx;
use crate::reply::Reply;
use crate::types::stream::{EntryRef, NodeLimits, StreamId, Trim, ENTRIES_READ_UNKNOWN};
use crate::types::{Container, StreamValue};
use crate::util::num;

const K1: (i32, i32, i32) = (1, 1, 1);
const K2: (i32, i32, i32) = (2, 2, 1);

pub(crate) static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("xadd", -5, WRITE | DENYOOM, K1, xadd),
    CommandSpec::new("xlen", 2, 0, K1, xlen),
    CommandSpec::new("xrange", -4, 0, K1, xrange),
    CommandSpec::new("xrevrange", -4, 0, K1, xrevrange),
    CommandSpec::new("xdel", -3, WRITE, K1, xdel),
    CommandSpec::new("xtrim", -4, WRITE, K1, xtrim),
    CommandSpec::new("xread", -4, BLOCKING, (0, 0, 0), xread).with_keys_fn(xread_keys),
    CommandSpec::new("xreadgroup", -7, WRITE | BLOCKING, (0, 0, 0), xreadgroup).with_keys_fn(xreadgroup_keys),
    CommandSpec::new("xgroup", -2, WRITE | DENYOOM, K2, xgroup),
    CommandSpec::new("xack", -4, WRITE, K1, xack),
    CommandSpec::new("xpending", -3, 0, K1, xpending),
    CommandSpec::new("xclaim", -6, WRITE, K1, xclaim),
    CommandSpec::new("xautoclaim", -6, WRITE, K1, xautoclaim),
    CommandSpec::new("xinfo", -2, 0, K2, xinfo),
    CommandSpec::new("xsetid", -3, WRITE | DENYOOM, K1, xsetid),
];

const INVALID_ID: &str = "ERR Invalid stream ID specified as stream command argument";
const XADD_TOO_SMALL: &str = "ERR The ID specified in XADD is equal or smaller than the target stream top item";
const TOO_LARGE: &str = "ERR Elements are too large to be stored";
const EXHAUSTED: &str = "ERR The stream has exhausted the last possible ID, unable to add more items";
const KEY_REQUIRED: &str = "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.";

// ---- IDs ----

/// `string2ull`: a strict decimal first (negative refused), then `strtoull`'s looser form
/// (leading blanks, a sign, leading zeros; a '-' negates, wrapping).
fn parse_u64(s: &[u8]) -> Option<u64> {
    if let Some(v) = num::parse_i64_strict(s) {
        return u64::try_from(v).ok();
    }
    let (i, neg) = num::c_space_and_sign(s);
    let digits = &s[i..];
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut v: u64 = 0;
    for d in digits {
        v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    Some(if neg { v.wrapping_neg() } else { v })
}

/// `streamGenericParseIDOrReply`: `<ms>[-<seq>]` (a missing sequence is `missing_seq`); `-` and
/// `+` unless `strict`; `<ms>-*` when `star_seq` (then the bool is false: no sequence given).
fn parse_id_full(arg: &[u8], missing_seq: u64, strict: bool, star_seq: bool) -> Result<(StreamId, bool), Reply> {
    let invalid = || Reply::err(INVALID_ID);
    if arg.len() > 127 {
        return Err(invalid());
    }
    if !strict && arg == b"-" {
        return Ok((StreamId::MIN, true));
    }
    if !strict && arg == b"+" {
        return Ok((StreamId::MAX, true));
    }
    // The C code works on a NUL-terminated copy: bytes after a NUL are not seen.
    let arg = &arg[..arg.iter().position(|&b| b == 0).unwrap_or(arg.len())];
    match arg.iter().position(|&b| b == b'-') {
        None => Ok((StreamId::new(parse_u64(arg).ok_or_else(invalid)?, missing_seq), true)),
        Some(dash) => {
            let ms = parse_u64(&arg[..dash]).ok_or_else(invalid)?;
            let seq = &arg[dash + 1..];
            if star_seq && seq == b"*" {
                return Ok((StreamId::new(ms, 0), false));
            }
            Ok((StreamId::new(ms, parse_u64(seq).ok_or_else(invalid)?), true))
        }
    }
}

fn parse_id(arg: &[u8], missing_seq: u64) -> Result<StreamId, Reply> {
    parse_id_full(arg, missing_seq, false, false).map(|(id, _)| id)
}

fn parse_strict_id(arg: &[u8]) -> Result<StreamId, Reply> {
    parse_id_full(arg, 0, true, false).map(|(id, _)| id)
}

/// An interval bound: `(`-prefixed for exclusive (then strict), else `parse_id`.
fn parse_interval_id(arg: &[u8], missing_seq: u64) -> Result<(StreamId, bool), Reply> {
    if arg.len() > 1 && arg[0] == b'(' {
        return Ok((parse_id_full(&arg[1..], missing_seq, true, false)?.0, true));
    }
    Ok((parse_id(arg, missing_seq)?, false))
}

/// A range's start: the next ID when exclusive.
fn range_start(arg: &[u8]) -> Result<StreamId, Reply> {
    let (id, ex) = parse_interval_id(arg, 0)?;
    if ex {
        return id.next().ok_or_else(|| Reply::err("ERR invalid start ID for the interval"));
    }
    Ok(id)
}

fn range_end(arg: &[u8]) -> Result<StreamId, Reply> {
    let (id, ex) = parse_interval_id(arg, u64::MAX)?;
    if ex {
        return id.prev().ok_or_else(|| Reply::err("ERR invalid end ID for the interval"));
    }
    Ok(id)
}

fn id_reply(id: StreamId) -> Reply {
    Reply::Bulk(id.to_bytes())
}

fn fields_reply(f: EntryRef<'_>) -> Reply {
    Reply::Array(f.items().map(Reply::bulk).collect())
}

fn entry_reply(id: StreamId, f: EntryRef<'_>) -> Reply {
    Reply::Array(vec![id_reply(id), fields_reply(f)])
}

/// The stream at `key` (None when absent or of another type), without counting a keyspace hit
/// or miss: Redis's `lookupKeyWrite`.
fn peek<'c>(ctx: &'c Ctx<'_>, key: &[u8]) -> Option<&'c StreamValue> {
    ctx.lookup(key).and_then(|e| e.as_node()).and_then(|e| StreamValue::of(&e.value))
}

fn node_limits(ctx: &Ctx<'_>) -> NodeLimits {
    let l = ctx.limits();
    NodeLimits { max_bytes: l.stream_node_max_bytes.max(0) as u64, max_entries: l.stream_node_max_entries.max(0) as u64 }
}

/// The command's clock for times a replay must not take from its frozen clock (a consumer's
/// seen time): the wall clock while replaying.
fn wall_now(ctx: &Ctx<'_>) -> i64 {
    if ctx.is_replaying() {
        crate::keyspace::now_ms()
    } else {
        ctx.now()
    }
}

// ---- XADD / XTRIM ----

/// XADD's ID argument.
#[derive(Clone, Copy)]
enum NewId {
    Auto,
    Given { id: StreamId, seq_given: bool },
}

struct AddTrimArgs {
    trim: Option<Trim>,
    approx: bool,
    limit: u64,
    nomkstream: bool,
    id: NewId,
    /// Index of the ID argument (XADD) or one past the last option (XTRIM).
    end: usize,
}

/// `streamParseAddOrTrimArgsOrReply`.
fn parse_add_trim(ctx: &Ctx<'_>, a: &[&[u8]], xadd: bool) -> Result<AddTrimArgs, Reply> {
    let mut p = AddTrimArgs { trim: None, approx: false, limit: 0, nomkstream: false, id: NewId::Auto, end: a.len() };
    let mut limit_given = false;
    let mut i = 2;
    while i < a.len() {
        let more = a.len() - 1 - i;
        let opt = a[i];
        if xadd && opt == b"*" {
            p.end = i;
            break;
        } else if (is(opt, "MAXLEN") || is(opt, "MINID")) && more > 0 {
            if p.trim.is_some() {
                return Err(Reply::err("ERR syntax error, MAXLEN and MINID options at the same time are not compatible"));
            }
            p.approx = false;
            let next = a[i + 1];
            if more >= 2 && (next == b"~" || next == b"=") {
                p.approx = next == b"~";
                i += 1;
            }
            let v = a[i + 1];
            if is(opt, "MAXLEN") {
                let n = args::int(v)?;
                if n < 0 {
                    return Err(Reply::err("ERR The MAXLEN argument must be >= 0."));
                }
                p.trim = Some(Trim::MaxLen(n as u64));
            } else {
                p.trim = Some(Trim::MinId(parse_strict_id(v)?));
            }
            i += 2;
        } else if is(opt, "LIMIT") && more > 0 {
            let n = args::int(a[i + 1])?;
            if n < 0 {
                return Err(Reply::err("ERR The LIMIT argument must be >= 0."));
            }
            p.limit = n as u64;
            limit_given = true;
            i += 2;
        } else if xadd && is(opt, "NOMKSTREAM") {
            p.nomkstream = true;
            i += 1;
        } else if xadd {
            let (id, seq_given) = parse_id_full(opt, 0, true, true)?;
            p.id = NewId::Given { id, seq_given };
            p.end = i;
            break;
        } else {
            return Err(syntax());
        }
    }
    if xadd && i >= a.len() {
        p.end = a.len();
    }
    if p.limit != 0 && p.trim.is_none() {
        return Err(Reply::err("ERR syntax error, LIMIT cannot be used without specifying a trimming strategy"));
    }
    if !xadd && p.trim.is_none() {
        return Err(Reply::err("ERR syntax error, XTRIM must be called with a trimming strategy"));
    }
    if ctx.is_replaying() {
        p.limit = 0;
    } else if limit_given {
        if !p.approx {
            return Err(Reply::err("ERR syntax error, LIMIT cannot be used without the special ~ option"));
        }
    } else if p.approx {
        let per_node = node_limits(ctx).max_entries as i128;
        p.limit = (100 * per_node).clamp(1, 1_000_000) as u64;
        if per_node <= 0 {
            p.limit = 10_000;
        }
    } else {
        p.limit = 0;
    }
    Ok(p)
}

fn log_trim(ctx: &mut Ctx<'_>, key: &[u8], len: usize) {
    let n = len.to_string();
    ctx.log_as(&[b"XTRIM", key, b"MAXLEN", b"=", n.as_bytes()]);
}

fn xadd(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let key = a[1];
    let p = parse_add_trim(ctx, a, true)?;
    let field_pos = p.end + 1;
    let nfields = a.len().saturating_sub(field_pos);
    if field_pos > a.len() || nfields < 2 || nfields % 2 == 1 {
        return Err(super::wrong_arity("xadd"));
    }
    if let NewId::Given { id, seq_given: true } = p.id {
        if id.is_zero() {
            return Err(Reply::err("ERR The ID specified in XADD must be greater than 0-0"));
        }
    }
    ctx.check_type::<StreamValue>(key)?;
    let exists = ctx.lookup(key).is_some();
    if p.nomkstream && !exists {
        return Ok(Reply::Nil);
    }
    let items = &a[field_pos..];
    // A listpack holds at most 1 GiB. Checked before a new stream is made: Redis would leave
    // an empty stream behind, which nothing would log.
    let too_large = items.iter().map(|i| i.len() as u64).sum::<u64>() > 1 << 30;
    if too_large && !exists {
        return Err(Reply::err(TOO_LARGE));
    }
    let limits = node_limits(ctx);
    let now = ctx.now().max(0) as u64;
    let added = ctx
        .modify::<StreamValue, _>(key, true, |s| -> Result<(StreamId, u64, usize), Reply> {
            if s.last_id == StreamId::MAX {
                return Err(Reply::err(EXHAUSTED));
            }
            let id = match p.id {
                NewId::Auto => s.next_auto_id(now).ok_or_else(|| Reply::err(EXHAUSTED))?,
                NewId::Given { id, seq_given: true } => id,
                NewId::Given { id, seq_given: false } if s.last_id.ms == id.ms => {
                    s.last_id.next().filter(|n| n.ms == id.ms).ok_or_else(|| Reply::err(XADD_TOO_SMALL))?
                }
                NewId::Given { id, .. } => id,
            };
            if id <= s.last_id {
                return Err(Reply::err(XADD_TOO_SMALL));
            }
            // After the ID check, as Redis orders them.
            if too_large {
                return Err(Reply::err(TOO_LARGE));
            }
            s.append(id, items, limits);
            let trimmed = p.trim.map_or(0, |t| s.trim(t, p.approx, p.limit));
            Ok((id, trimmed, s.len()))
        })?
        .expect("created")?;
    let (id, trimmed, len) = added;
    ctx.modified(key);
    let id_bytes = id.to_bytes();
    let mut argv: Vec<&[u8]> = Vec::with_capacity(3 + items.len());
    argv.extend_from_slice(&[b"XADD", key, &id_bytes]);
    argv.extend_from_slice(items);
    ctx.log_as(&argv);
    if trimmed > 0 {
        log_trim(ctx, key, len);
    }
    Ok(Reply::Bulk(id_bytes))
}

fn xtrim(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let key = a[1];
    let p = parse_add_trim(ctx, a, false)?;
    let trim = p.trim.expect("checked");
    ctx.check_type::<StreamValue>(key)?;
    let Some((removed, len)) = ctx.modify::<StreamValue, _>(key, false, |s| (s.trim(trim, p.approx, p.limit), s.len()))? else {
        return Ok(Reply::Int(0));
    };
    if removed > 0 {
        ctx.modified(key);
        log_trim(ctx, key, len);
    }
    Ok(Reply::Int(removed as i64))
}

fn xlen(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    Ok(Reply::Int(ctx.read_plain::<StreamValue>(a[1])?.map_or(0, |s| s.len() as i64)))
}

fn xdel(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let key = a[1];
    ctx.check_type::<StreamValue>(key)?;
    if ctx.lookup(key).is_none() {
        return Ok(Reply::Int(0));
    }
    let ids = a[2..].iter().map(|x| parse_strict_id(x)).collect::<Result<Vec<_>, _>>()?;
    let deleted = ctx.modify::<StreamValue, _>(key, false, |s| ids.iter().filter(|id| s.delete(**id)).count())?.unwrap_or(0);
    if deleted > 0 {
        ctx.modified(key);
    }
    Ok(Reply::Int(deleted as i64))
}

fn range_generic(ctx: &mut Ctx<'_>, a: &[&[u8]], rev: bool) -> CmdResult {
    let (start_arg, end_arg) = if rev { (a[3], a[2]) } else { (a[2], a[3]) };
    let start = range_start(start_arg)?;
    let end = range_end(end_arg)?;
    let mut count: i64 = -1;
    let mut j = 4;
    while j < a.len() {
        if is(a[j], "COUNT") && j + 1 < a.len() {
            count = args::int(a[j + 1])?.max(0);
            j += 2;
        } else {
            return Err(syntax());
        }
    }
    let Some(s) = ctx.read_plain::<StreamValue>(a[1])? else { return Ok(Reply::Array(Vec::new())) };
    if count == 0 {
        return Ok(Reply::Nil);
    }
    let take = if count < 0 { usize::MAX } else { count as usize };
    Ok(Reply::Array(s.range(start, end, rev).take(take).map(|(id, f)| entry_reply(id, f)).collect()))
}

fn xrange(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    range_generic(ctx, a, false)
}

fn xrevrange(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    range_generic(ctx, a, true)
}

// ---- XREAD / XREADGROUP ----

struct ReadArgs<'a> {
    block_ms: Option<u64>,
    count: usize,
    group: Option<(&'a [u8], &'a [u8])>,
    noack: bool,
    /// Index of the first key; the keys and then as many IDs follow.
    streams_at: usize,
    streams: usize,
}

/// XREAD / XREADGROUP's options, in `xreadCommand`'s order of checks.
fn parse_read<'a>(a: &[&'a [u8]], group_cmd: bool) -> Result<ReadArgs<'a>, Reply> {
    let mut r = ReadArgs { block_ms: None, count: 0, group: None, noack: false, streams_at: 0, streams: 0 };
    let mut i = 1;
    while i < a.len() {
        let more = a.len() - 1 - i;
        let o = a[i];
        if is(o, "BLOCK") && more > 0 {
            let ms = num::parse_i64_strict(a[i + 1]).ok_or_else(|| Reply::err("ERR timeout is not an integer or out of range"))?;
            if ms < 0 {
                return Err(Reply::err("ERR timeout is negative"));
            }
            r.block_ms = Some(ms as u64);
            i += 2;
        } else if is(o, "COUNT") && more > 0 {
            r.count = args::int(a[i + 1])?.max(0) as usize;
            i += 2;
        } else if is(o, "STREAMS") && more > 0 {
            r.streams_at = i + 1;
            let n = a.len() - r.streams_at;
            if !n.is_multiple_of(2) {
                let (name, sym) = if group_cmd { ("XREADGROUP", '>') } else { ("XREAD", '$') };
                return Err(Reply::err_owned(format!(
                    "ERR Unbalanced {name} list of streams: for each stream key an ID or '{sym}' must be specified."
                )));
            }
            r.streams = n / 2;
            break;
        } else if is(o, "GROUP") && more >= 2 {
            if !group_cmd {
                return Err(Reply::err("ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead."));
            }
            r.group = Some((a[i + 1], a[i + 2]));
            i += 3;
        } else if is(o, "NOACK") {
            if !group_cmd {
                return Err(Reply::err("ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead."));
            }
            r.noack = true;
            i += 1;
        } else {
            return Err(syntax());
        }
    }
    if r.streams_at == 0 {
        return Err(syntax());
    }
    if group_cmd && r.group.is_none() {
        return Err(Reply::err("ERR Missing GROUP option for XREADGROUP"));
    }
    Ok(r)
}

fn read_keys(a: &[&[u8]], group_cmd: bool) -> Vec<usize> {
    match parse_read(a, group_cmd) {
        Ok(r) => (r.streams_at..r.streams_at + r.streams).collect(),
        Err(_) => Vec::new(),
    }
}

fn xread_keys(a: &[&[u8]]) -> Vec<usize> {
    read_keys(a, false)
}

fn xreadgroup_keys(a: &[&[u8]]) -> Vec<usize> {
    read_keys(a, true)
}

fn xread(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let r = parse_read(a, false)?;
    let keys = &a[r.streams_at..r.streams_at + r.streams];
    let id_args = &a[r.streams_at + r.streams..];
    // Resolve every ID first (errors before anything is served).
    let mut after = Vec::with_capacity(keys.len());
    let mut resolved_dollar = false;
    for (key, arg) in keys.iter().zip(id_args) {
        let s = ctx.read_plain::<StreamValue>(key)?;
        if *arg == b"$" {
            after.push(s.map_or(StreamId::MIN, |s| s.last_id));
            resolved_dollar = true;
        } else if *arg == b">" {
            return Err(Reply::err(
                "ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.",
            ));
        } else {
            after.push(parse_strict_id(arg)?);
        }
    }
    let mut out = Vec::new();
    for (key, gt) in keys.iter().zip(&after) {
        let Some(s) = ctx.read_plain::<StreamValue>(key)? else { continue };
        if s.is_empty() || s.last_valid_id() <= *gt {
            continue;
        }
        let Some(start) = gt.next() else { continue };
        let take = if r.count == 0 { usize::MAX } else { r.count };
        let entries = s.range(start, StreamId::MAX, false).take(take).map(|(id, f)| entry_reply(id, f)).collect();
        out.push((Reply::bulk(key), Reply::Array(entries)));
    }
    if !out.is_empty() {
        return Ok(Reply::Map(out));
    }
    if let Some(ms) = r.block_ms {
        ctx.block_for(ms);
        if resolved_dollar {
            let mut argv: Vec<Vec<u8>> = a.iter().map(|x| x.to_vec()).collect();
            for (i, gt) in after.iter().enumerate() {
                argv[r.streams_at + r.streams + i] = gt.to_bytes();
            }
            ctx.retry_argv = Some(argv);
        }
    }
    Ok(Reply::Nil)
}

/// Log a pending entry's state as Redis propagates it (`streamPropagateXCLAIM`).
#[allow(clippy::too_many_arguments)]
fn log_claim(ctx: &mut Ctx<'_>, key: &[u8], group: &[u8], consumer: &[u8], id: StreamId, time: i64, count: u64, last: StreamId) {
    let (id, time, count, last) = (id.to_bytes(), time.to_string(), count.to_string(), last.to_bytes());
    ctx.log_as(&[
        b"XCLAIM",
        key,
        group,
        consumer,
        b"0",
        &id,
        b"TIME",
        time.as_bytes(),
        b"RETRYCOUNT",
        count.as_bytes(),
        b"FORCE",
        b"JUSTID",
        b"LASTID",
        &last,
    ]);
}

fn log_setid(ctx: &mut Ctx<'_>, key: &[u8], group: &[u8], last: StreamId, entries_read: i64) {
    let (last, read) = (last.to_bytes(), entries_read.to_string());
    ctx.log_as(&[b"XGROUP", b"SETID", key, group, &last, b"ENTRIESREAD", read.as_bytes()]);
}

/// What serving one stream of an XREADGROUP changed, for the log.
#[derive(Default)]
struct Served {
    reply: Vec<Reply>,
    consumer_created: bool,
    /// (id, delivery time, delivery count) of pending entries that changed.
    claims: Vec<(StreamId, i64, u64)>,
    /// The group's cursor, when it moved: (last id, entries read).
    cursor: Option<(StreamId, i64)>,
}

fn xreadgroup(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let r = parse_read(a, true)?;
    let (group, consumer) = r.group.expect("checked");
    let keys = &a[r.streams_at..r.streams_at + r.streams];
    let id_args = &a[r.streams_at + r.streams..];
    // None = ">" (new entries); Some(id) = this consumer's history after `id`.
    let mut wanted: Vec<Option<StreamId>> = Vec::with_capacity(keys.len());
    for (key, arg) in keys.iter().zip(id_args) {
        let s = ctx.read_plain::<StreamValue>(key)?;
        if s.and_then(|s| s.group(group)).is_none() {
            return Err(Reply::err_owned(format!(
                "NOGROUP No such key '{}' or consumer group '{}' in XREADGROUP with GROUP option",
                String::from_utf8_lossy(key),
                String::from_utf8_lossy(group)
            )));
        }
        if *arg == b"$" {
            return Err(Reply::err("ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set."));
        }
        wanted.push(if *arg == b">" { None } else { Some(parse_strict_id(arg)?) });
    }
    let now = ctx.now();
    let seen = wall_now(ctx);
    let take = if r.count == 0 { usize::MAX } else { r.count };
    let mut out = Vec::new();
    for (key, want) in keys.iter().zip(&wanted) {
        let served = ctx.modify::<StreamValue, _>(key, false, |s| -> Option<Served> {
            let glast = s.group(group).expect("checked").last_id;
            match want {
                None if s.is_empty() || s.last_valid_id() <= glast => None,
                None => Some(deliver_new(s, group, consumer, glast, take, r.noack, now, seen)),
                Some(after) => Some(deliver_history(s, group, consumer, *after, take, now, seen)),
            }
        })?;
        let Some(Some(served)) = served else { continue };
        ctx.modified(key);
        if served.consumer_created {
            ctx.log_as(&[b"XGROUP", b"CREATECONSUMER", key, group, consumer]);
        }
        let last = served.cursor.map(|c| c.0).or_else(|| peek(ctx, key).and_then(|s| s.group(group)).map(|g| g.last_id));
        for (id, time, count) in &served.claims {
            log_claim(ctx, key, group, consumer, *id, *time, *count, last.unwrap_or_default());
        }
        if let Some((last, read)) = served.cursor {
            log_setid(ctx, key, group, last, read);
        }
        out.push((Reply::bulk(key), Reply::Array(served.reply)));
    }
    if !out.is_empty() {
        return Ok(Reply::Map(out));
    }
    if let Some(ms) = r.block_ms {
        ctx.block_for(ms);
    }
    Ok(Reply::Nil)
}

/// XREADGROUP `>`: entries after the group's cursor, moved into the consumer's PEL.
#[allow(clippy::too_many_arguments)]
fn deliver_new(
    s: &mut StreamValue,
    group: &[u8],
    consumer: &[u8],
    glast: StreamId,
    take: usize,
    noack: bool,
    now: i64,
    seen: i64,
) -> Served {
    let mut served = Served::default();
    let Some(start) = glast.next() else { return served };
    let picked: Vec<(StreamId, Reply)> = s.range(start, StreamId::MAX, false).take(take).map(|(id, f)| (id, entry_reply(id, f))).collect();
    // The group's entries-read counter, entry by entry (`streamReplyWithRange`).
    let (mut last, mut read) = {
        let g = s.group(group).expect("checked");
        (g.last_id, g.entries_read)
    };
    for (id, _) in &picked {
        if *id > last {
            if read != ENTRIES_READ_UNKNOWN && !s.range_has_tombstones(*id, StreamId::MAX) {
                read += 1;
            } else if s.entries_added > 0 {
                read = s.estimate_entries_read(*id);
            }
            last = *id;
        }
    }
    s.with_group(group, |g| {
        let (c, created) = g.consumer(consumer, seen);
        c.seen_time = seen;
        served.consumer_created = created;
        g.group.last_id = last;
        g.group.entries_read = read;
        if !noack {
            for (id, _) in &picked {
                let nack = g.assign(*id, consumer);
                nack.delivery_time = now;
                nack.delivery_count = 1;
                served.claims.push((*id, now, 1));
            }
        }
    });
    if !picked.is_empty() {
        served.cursor = Some((last, read));
    }
    served.reply = picked.into_iter().map(|(_, r)| r).collect();
    served
}

/// XREADGROUP with an ID: the consumer's own pending entries after it, delivered again.
fn deliver_history(s: &mut StreamValue, group: &[u8], consumer: &[u8], after: StreamId, take: usize, now: i64, seen: i64) -> Served {
    let mut served = Served::default();
    let ids: Vec<StreamId> = match (after.next(), s.group(group).and_then(|g| g.consumers.get(consumer))) {
        (Some(start), Some(c)) => c.pel.range(start..).take(take).copied().collect(),
        _ => Vec::new(),
    };
    let replies: Vec<Reply> =
        ids.iter().map(|id| s.get(*id).map_or_else(|| Reply::Array(vec![id_reply(*id), Reply::Nil]), |f| entry_reply(*id, f))).collect();
    let exists: Vec<bool> = ids.iter().map(|id| s.contains(*id)).collect();
    s.with_group(group, |g| {
        let (c, created) = g.consumer(consumer, seen);
        c.seen_time = seen;
        served.consumer_created = created;
        for (id, there) in ids.iter().zip(exists) {
            if there {
                let nack = g.group.pel.get_mut(id).expect("in the consumer's PEL");
                nack.delivery_time = now;
                nack.delivery_count += 1;
                served.claims.push((*id, now, nack.delivery_count));
            }
        }
    });
    served.reply = replies;
    served
}

// ---- XGROUP ----

fn xgroup(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let sub = a[1];
    let arity_ok = match () {
        _ if is(sub, "HELP") => a.len() == 2,
        _ if is(sub, "CREATE") || is(sub, "SETID") => a.len() >= 5,
        _ if is(sub, "DESTROY") => a.len() == 4,
        _ if is(sub, "CREATECONSUMER") || is(sub, "DELCONSUMER") => a.len() == 5,
        _ => return Err(super::unknown_subcommand(sub, "XGROUP")),
    };
    if !arity_ok {
        return Err(super::subcommand_arity("xgroup", sub));
    }
    if is(sub, "HELP") {
        return Ok(super::help_reply(&[
            "XGROUP <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "CREATE <key> <groupname> <id|$> [option]",
            "    Create a new consumer group. Options are:",
            "    * MKSTREAM",
            "      Create the empty stream if it does not exist.",
            "    * ENTRIESREAD entries_read",
            "      Set the group's entries_read counter (internal use).",
            "CREATECONSUMER <key> <groupname> <consumer>",
            "    Create a new consumer in the specified group.",
            "DELCONSUMER <key> <groupname> <consumer>",
            "    Remove the specified consumer.",
            "DESTROY <key> <groupname>",
            "    Remove the specified group.",
            "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
            "    Set the current group ID and entries_read counter.",
            "HELP",
            "    Prints this help.",
        ]));
    }
    let subsyntax = || {
        Reply::err_owned(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try XGROUP HELP.",
            String::from_utf8_lossy(sub)
        ))
    };
    let (key, group) = (a[2], a[3]);
    let create = is(sub, "CREATE");
    let mut mkstream = false;
    let mut entries_read = ENTRIES_READ_UNKNOWN;
    if create || is(sub, "SETID") {
        let mut i = 5;
        while i < a.len() {
            if create && is(a[i], "MKSTREAM") {
                mkstream = true;
                i += 1;
            } else if is(a[i], "ENTRIESREAD") && i + 1 < a.len() {
                entries_read = args::int(a[i + 1])?;
                if entries_read < 0 && entries_read != ENTRIES_READ_UNKNOWN {
                    return Err(Reply::err("ERR value for ENTRIESREAD must be positive or -1"));
                }
                i += 2;
            } else {
                return Err(subsyntax());
            }
        }
    }
    ctx.check_type::<StreamValue>(key)?;
    let exists = ctx.lookup(key).is_some();
    let has_group = peek(ctx, key).is_some_and(|s| s.group(group).is_some());
    if !mkstream {
        if !exists {
            return Err(Reply::err(KEY_REQUIRED));
        }
        if !has_group && (is(sub, "SETID") || is(sub, "CREATECONSUMER") || is(sub, "DELCONSUMER")) {
            return Err(Reply::err_owned(format!(
                "NOGROUP No such consumer group '{}' for key name '{}'",
                String::from_utf8_lossy(group),
                String::from_utf8_lossy(key)
            )));
        }
    }
    if create {
        if a.len() > 8 {
            return Err(subsyntax());
        }
        let id = if a[4] == b"$" { peek(ctx, key).map_or(StreamId::MIN, |s| s.last_id) } else { parse_strict_id(a[4])? };
        let created = ctx.modify::<StreamValue, _>(key, true, |s| s.create_group(group, id, entries_read))?.expect("created");
        if !exists {
            ctx.modified(key);
        }
        if !created {
            return Err(Reply::err("BUSYGROUP Consumer Group name already exists"));
        }
        ctx.modified(key);
        let (id_b, read_b) = (id.to_bytes(), entries_read.to_string());
        let mut argv: Vec<&[u8]> = vec![b"XGROUP", b"CREATE", key, group, &id_b, b"ENTRIESREAD", read_b.as_bytes()];
        if !exists {
            argv.push(b"MKSTREAM");
        }
        ctx.log_as(&argv);
        return Ok(Reply::OK);
    }
    if is(sub, "SETID") {
        if a.len() != 5 && a.len() != 7 {
            return Err(subsyntax());
        }
        let id = if a[4] == b"$" { peek(ctx, key).map_or(StreamId::MIN, |s| s.last_id) } else { parse_id(a[4], 0)? };
        ctx.modify::<StreamValue, _>(key, false, |s| {
            let g = s.group_mut(group).expect("checked");
            g.last_id = id;
            g.entries_read = entries_read;
        })?;
        ctx.modified(key);
        log_setid(ctx, key, group, id, entries_read);
        return Ok(Reply::OK);
    }
    if is(sub, "DESTROY") {
        let destroyed = ctx.modify::<StreamValue, _>(key, false, |s| s.destroy_group(group))?.unwrap_or(false);
        if destroyed {
            ctx.modified(key);
        }
        return Ok(Reply::Int(i64::from(destroyed)));
    }
    let consumer = a[4];
    if is(sub, "CREATECONSUMER") {
        let seen = wall_now(ctx);
        let created =
            ctx.modify::<StreamValue, _>(key, false, |s| s.with_group(group, |g| g.consumer(consumer, seen).1))?.flatten().unwrap_or(false);
        if created {
            ctx.modified(key);
        }
        return Ok(Reply::Int(i64::from(created)));
    }
    // DELCONSUMER
    let pending = ctx.modify::<StreamValue, _>(key, false, |s| s.with_group(group, |g| g.delete_consumer(consumer)))?.flatten().flatten();
    if pending.is_some() {
        ctx.modified(key);
    }
    Ok(Reply::Int(pending.unwrap_or(0) as i64))
}

// ---- XACK / XPENDING ----

fn nogroup(key: &[u8], group: &[u8]) -> Reply {
    Reply::err_owned(format!(
        "NOGROUP No such key '{}' or consumer group '{}'",
        String::from_utf8_lossy(key),
        String::from_utf8_lossy(group)
    ))
}

fn xack(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let (key, group) = (a[1], a[2]);
    ctx.check_type::<StreamValue>(key)?;
    let has_group = ctx.read_plain::<StreamValue>(key).ok().flatten().is_some_and(|s| s.group(group).is_some());
    if !has_group {
        return Ok(Reply::Int(0));
    }
    let ids = a[3..].iter().map(|x| parse_strict_id(x)).collect::<Result<Vec<_>, _>>()?;
    let acked = ctx
        .modify::<StreamValue, _>(key, false, |s| s.with_group(group, |g| ids.iter().filter(|id| g.ack(**id)).count()))?
        .flatten()
        .unwrap_or(0);
    if acked > 0 {
        ctx.modified(key);
    }
    Ok(Reply::Int(acked as i64))
}

fn xpending(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let (key, group) = (a[1], a[2]);
    let summary = a.len() == 3;
    if a.len() != 3 && !(6..=9).contains(&a.len()) {
        return Err(syntax());
    }
    let (mut min_idle, mut start, mut end, mut count, mut consumer) = (0i64, StreamId::MIN, StreamId::MAX, 0i64, None);
    if a.len() >= 6 {
        let mut at = 3;
        if is(a[3], "IDLE") {
            min_idle = args::int(a[4])?;
            if a.len() < 8 {
                return Err(syntax());
            }
            at += 2;
        }
        count = args::int(a[at + 2])?.max(0);
        start = range_start(a[at])?;
        end = range_end(a[at + 1])?;
        consumer = a.get(at + 3).copied();
    }
    let now = ctx.now();
    let Some(s) = ctx.read_plain::<StreamValue>(key)? else { return Err(nogroup(key, group)) };
    let Some(g) = s.group(group) else { return Err(nogroup(key, group)) };
    if summary {
        if g.pel.is_empty() {
            return Ok(Reply::Array(vec![Reply::Int(0), Reply::Nil, Reply::Nil, Reply::Nil]));
        }
        let first = *g.pel.keys().next().expect("non-empty");
        let last = *g.pel.keys().next_back().expect("non-empty");
        let per_consumer = g
            .consumers
            .iter()
            .filter(|(_, c)| !c.pel.is_empty())
            .map(|(name, c)| Reply::Array(vec![Reply::bulk(name), Reply::Bulk(c.pel.len().to_string().into_bytes())]))
            .collect();
        return Ok(Reply::Array(vec![Reply::Int(g.pel.len() as i64), id_reply(first), id_reply(last), Reply::Array(per_consumer)]));
    }
    let mut out = Vec::new();
    if start > end || count == 0 {
        return Ok(Reply::Array(out));
    }
    let ids: Box<dyn Iterator<Item = &StreamId>> = match consumer {
        Some(name) => match g.consumers.get(name) {
            Some(c) => Box::new(c.pel.range(start..=end)),
            None => return Ok(Reply::Array(out)),
        },
        None => Box::new(g.pel.range(start..=end).map(|(id, _)| id)),
    };
    for id in ids {
        let nack = &g.pel[id];
        let idle = now - nack.delivery_time;
        if min_idle != 0 && idle < min_idle {
            continue;
        }
        out.push(Reply::Array(vec![
            id_reply(*id),
            Reply::bulk(&nack.consumer),
            Reply::Int(idle.max(0)),
            Reply::Int(nack.delivery_count as i64),
        ]));
        if out.len() as i64 == count {
            break;
        }
    }
    Ok(Reply::Array(out))
}

// ---- XCLAIM / XAUTOCLAIM ----

fn xclaim(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let (key, group, consumer) = (a[1], a[2], a[3]);
    ctx.check_type::<StreamValue>(key)?;
    let has_group = ctx.read_plain::<StreamValue>(key).ok().flatten().is_some_and(|s| s.group(group).is_some());
    if !has_group {
        return Err(nogroup(key, group));
    }
    let min_idle = num::parse_i64_strict(a[4]).ok_or_else(|| Reply::err("ERR Invalid min-idle-time argument for XCLAIM"))?.max(0);
    let mut ids = Vec::new();
    let mut j = 5;
    while j < a.len() {
        match parse_strict_id(a[j]) {
            Ok(id) => ids.push(id),
            Err(_) => break,
        }
        j += 1;
    }
    let now = ctx.now();
    let (mut force, mut justid, mut retry, mut time, mut last_id) = (false, false, None::<i64>, None::<i64>, StreamId::MIN);
    while j < a.len() {
        let more = a.len() - 1 - j;
        let opt = a[j];
        let int_opt = |arg: &[u8], what: &str| {
            num::parse_i64_strict(arg).ok_or_else(|| Reply::err_owned(format!("ERR Invalid {what} option argument for XCLAIM")))
        };
        if is(opt, "FORCE") {
            force = true;
        } else if is(opt, "JUSTID") {
            justid = true;
        } else if is(opt, "IDLE") && more > 0 {
            j += 1;
            time = Some(now.wrapping_sub(int_opt(a[j], "IDLE")?));
        } else if is(opt, "TIME") && more > 0 {
            j += 1;
            time = Some(int_opt(a[j], "TIME")?);
        } else if is(opt, "RETRYCOUNT") && more > 0 {
            j += 1;
            retry = Some(int_opt(a[j], "RETRYCOUNT")?);
        } else if is(opt, "LASTID") && more > 0 {
            j += 1;
            last_id = parse_strict_id(a[j])?;
        } else {
            return Err(Reply::err_owned(format!("ERR Unrecognized XCLAIM option '{}'", String::from_utf8_lossy(opt))));
        }
        j += 1;
    }
    // A bogus delivery time becomes now (a replay keeps the logged time: its clock is frozen).
    let delivery = match time {
        Some(t) if ctx.is_replaying() => t,
        Some(t) if t < 0 || t > now => now,
        Some(t) => t,
        None => now,
    };
    let seen = wall_now(ctx);
    let mut reply = Vec::new();
    let mut changes: Vec<(StreamId, Option<(i64, u64)>)> = Vec::new();
    let mut created = false;
    let mut cursor_moved = None;
    ctx.modify::<StreamValue, _>(key, false, |s| {
        if last_id > s.group(group).expect("checked").last_id {
            let g = s.group_mut(group).expect("checked");
            g.last_id = last_id;
            cursor_moved = Some((g.last_id, g.entries_read));
        }
        for id in &ids {
            let exists = s.contains(*id);
            let entry = exists.then(|| s.get(*id).map(|f| entry_reply(*id, f))).flatten();
            s.with_group(group, |g| {
                let pending = g.group.pel.contains_key(id);
                if !exists {
                    if pending {
                        g.ack(*id);
                        changes.push((*id, None));
                    }
                    return;
                }
                if !pending && !force {
                    return;
                }
                if let Some(n) = g.group.pel.get(id) {
                    if min_idle != 0 && now - n.delivery_time < min_idle {
                        return;
                    }
                }
                let (c, new) = g.consumer(consumer, seen);
                c.seen_time = seen;
                created |= new;
                let nack = g.assign(*id, consumer);
                nack.delivery_time = delivery;
                match retry {
                    Some(r) if r >= 0 => nack.delivery_count = r as u64,
                    _ if !justid => nack.delivery_count += 1,
                    _ => {}
                }
                changes.push((*id, Some((nack.delivery_time, nack.delivery_count))));
                reply.push(if justid { id_reply(*id) } else { entry.clone().expect("exists") });
            });
        }
    })?;
    log_group_changes(ctx, key, group, consumer, created, &changes, cursor_moved);
    Ok(Reply::Array(reply))
}

/// Log what XCLAIM / XAUTOCLAIM changed: a created consumer, each claimed entry (or dropped
/// one: a claim of an entry the stream no longer has removes it), a moved cursor.
fn log_group_changes(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    group: &[u8],
    consumer: &[u8],
    created: bool,
    changes: &[(StreamId, Option<(i64, u64)>)],
    cursor: Option<(StreamId, i64)>,
) {
    if !created && changes.is_empty() && cursor.is_none() {
        return;
    }
    ctx.modified(key);
    if created {
        ctx.log_as(&[b"XGROUP", b"CREATECONSUMER", key, group, consumer]);
    }
    let last = peek(ctx, key).and_then(|s| s.group(group)).map_or(StreamId::MIN, |g| g.last_id);
    for (id, state) in changes {
        let (time, count) = state.unwrap_or((0, 0));
        log_claim(ctx, key, group, consumer, *id, time, count, last);
    }
    if let Some((last, read)) = cursor {
        log_setid(ctx, key, group, last, read);
    }
}

fn xautoclaim(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let (key, group, consumer) = (a[1], a[2], a[3]);
    let min_idle = num::parse_i64_strict(a[4]).ok_or_else(|| Reply::err("ERR Invalid min-idle-time argument for XAUTOCLAIM"))?.max(0);
    let start = range_start(a[5])?;
    let (mut count, mut justid) = (100i64, false);
    let mut j = 6;
    while j < a.len() {
        if is(a[j], "COUNT") && j + 1 < a.len() {
            let max = i64::MAX / 16;
            count = num::parse_i64_strict(a[j + 1]).filter(|c| (1..=max).contains(c)).ok_or_else(|| Reply::err("ERR COUNT must be > 0"))?;
            j += 2;
        } else if is(a[j], "JUSTID") {
            justid = true;
            j += 1;
        } else {
            return Err(syntax());
        }
    }
    let s = ctx.read_plain::<StreamValue>(key)?;
    if s.and_then(|s| s.group(group)).is_none() {
        return Err(nogroup(key, group));
    }
    let now = ctx.now();
    let seen = wall_now(ctx);
    let mut attempts = count.saturating_mul(10);
    let mut claimed = Vec::new();
    let mut deleted = Vec::new();
    let mut changes: Vec<(StreamId, Option<(i64, u64)>)> = Vec::new();
    let mut created = false;
    let mut next = StreamId::MIN;
    ctx.modify::<StreamValue, _>(key, false, |s| {
        let candidates: Vec<StreamId> = s.group(group).expect("checked").pel.range(start..).map(|(id, _)| *id).collect();
        let mut it = candidates.into_iter().peekable();
        while attempts > 0 && count > 0 {
            let Some(id) = it.next() else { break };
            attempts -= 1;
            let entry = s.get(id).map(|f| entry_reply(id, f));
            s.with_group(group, |g| {
                let Some(entry) = entry else {
                    g.ack(id);
                    changes.push((id, None));
                    deleted.push(id_reply(id));
                    count -= 1;
                    return;
                };
                if min_idle != 0 && now - g.group.pel[&id].delivery_time < min_idle {
                    return;
                }
                let (c, new) = g.consumer(consumer, seen);
                c.seen_time = seen;
                created |= new;
                let nack = g.assign(id, consumer);
                nack.delivery_time = now;
                if !justid {
                    nack.delivery_count += 1;
                }
                changes.push((id, Some((now, nack.delivery_count))));
                claimed.push(if justid { id_reply(id) } else { entry });
                count -= 1;
            });
        }
        next = it.next().unwrap_or(StreamId::MIN);
    })?;
    log_group_changes(ctx, key, group, consumer, created, &changes, None);
    Ok(Reply::Array(vec![id_reply(next), Reply::Array(claimed), Reply::Array(deleted)]))
}

// ---- XINFO / XSETID ----

fn bulk(s: &str) -> Reply {
    Reply::bulk(s.as_bytes())
}

fn xinfo(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let sub = a[1];
    let arity_ok = match () {
        _ if is(sub, "HELP") => a.len() == 2,
        _ if is(sub, "STREAM") => a.len() >= 3,
        _ if is(sub, "GROUPS") => a.len() == 3,
        _ if is(sub, "CONSUMERS") => a.len() == 4,
        _ => return Err(super::unknown_subcommand(sub, "XINFO")),
    };
    if !arity_ok {
        return Err(super::subcommand_arity("xinfo", sub));
    }
    if is(sub, "HELP") {
        return Ok(super::help_reply(&[
            "XINFO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "CONSUMERS <key> <groupname>",
            "    Show consumers of <groupname>.",
            "GROUPS <key>",
            "    Show the stream consumer groups.",
            "STREAM <key> [FULL [COUNT <count>]",
            "    Show information about the stream.",
            "HELP",
            "    Prints this help.",
        ]));
    }
    let key = a[2];
    let now = ctx.now();
    let Some(s) = ctx.read_plain::<StreamValue>(key)? else { return Err(Reply::err("ERR no such key")) };
    if is(sub, "CONSUMERS") {
        let Some(g) = s.group(a[3]) else {
            return Err(Reply::err_owned(format!(
                "NOGROUP No such consumer group '{}' for key name '{}'",
                String::from_utf8_lossy(a[3]),
                String::from_utf8_lossy(key)
            )));
        };
        return Ok(Reply::Array(
            g.consumers
                .iter()
                .map(|(name, c)| {
                    Reply::Map(vec![
                        (bulk("name"), Reply::bulk(name)),
                        (bulk("pending"), Reply::Int(c.pel.len() as i64)),
                        (bulk("idle"), Reply::Int((now - c.seen_time).max(0))),
                    ])
                })
                .collect(),
        ));
    }
    if is(sub, "GROUPS") {
        return Ok(Reply::Array(
            s.groups()
                .iter()
                .map(|(name, g)| {
                    Reply::Map(vec![
                        (bulk("name"), Reply::bulk(name)),
                        (bulk("consumers"), Reply::Int(g.consumers.len() as i64)),
                        (bulk("pending"), Reply::Int(g.pel.len() as i64)),
                        (bulk("last-delivered-id"), id_reply(g.last_id)),
                        (bulk("entries-read"), entries_read_reply(g.entries_read)),
                        (bulk("lag"), s.lag(g).map_or(Reply::Nil, Reply::Int)),
                    ])
                })
                .collect(),
        ));
    }
    // STREAM [FULL [COUNT n]]
    let subsyntax = || {
        Reply::err_owned(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try XINFO HELP.",
            String::from_utf8_lossy(sub)
        ))
    };
    let rest = &a[3..];
    let mut full = false;
    let mut count = 10i64;
    if !rest.is_empty() {
        if !is(rest[0], "FULL") {
            return Err(subsyntax());
        }
        full = true;
        if rest.len() > 1 {
            if rest.len() != 3 || !is(rest[1], "COUNT") {
                return Err(subsyntax());
            }
            count = args::int(rest[2])?;
            if count < 0 {
                count = 10;
            }
        }
    }
    let mut m = vec![
        (bulk("length"), Reply::Int(s.len() as i64)),
        (bulk("radix-tree-keys"), Reply::Int(s.node_count() as i64)),
        // Redis's radix tree has inner nodes besides its keys; the tree here is not a radix
        // tree, so this counts a root plus one per key (what a small stream shows).
        (bulk("radix-tree-nodes"), Reply::Int(s.node_count() as i64 + 1)),
        (bulk("last-generated-id"), id_reply(s.last_id)),
        (bulk("max-deleted-entry-id"), id_reply(s.max_deleted)),
        (bulk("entries-added"), Reply::Int(s.entries_added as i64)),
        (bulk("recorded-first-entry-id"), id_reply(s.first_id())),
    ];
    let take = if count == 0 { usize::MAX } else { count as usize };
    if !full {
        m.push((bulk("groups"), Reply::Int(s.groups().len() as i64)));
        let first = s.range(StreamId::MIN, StreamId::MAX, false).next().map_or(Reply::Nil, |(id, f)| entry_reply(id, f));
        let last = s.range(StreamId::MIN, StreamId::MAX, true).next().map_or(Reply::Nil, |(id, f)| entry_reply(id, f));
        m.push((bulk("first-entry"), first));
        m.push((bulk("last-entry"), last));
        return Ok(Reply::Map(m));
    }
    m.push((
        bulk("entries"),
        Reply::Array(s.range(StreamId::MIN, StreamId::MAX, false).take(take).map(|(id, f)| entry_reply(id, f)).collect()),
    ));
    let groups = s
        .groups()
        .iter()
        .map(|(name, g)| {
            let pending = g
                .pel
                .iter()
                .take(take)
                .map(|(id, n)| {
                    Reply::Array(vec![
                        id_reply(*id),
                        Reply::bulk(&n.consumer),
                        Reply::Int(n.delivery_time),
                        Reply::Int(n.delivery_count as i64),
                    ])
                })
                .collect();
            let consumers = g
                .consumers
                .iter()
                .map(|(cname, c)| {
                    let pel = c
                        .pel
                        .iter()
                        .take(take)
                        .map(|id| {
                            let n = &g.pel[id];
                            Reply::Array(vec![id_reply(*id), Reply::Int(n.delivery_time), Reply::Int(n.delivery_count as i64)])
                        })
                        .collect();
                    Reply::Map(vec![
                        (bulk("name"), Reply::bulk(cname)),
                        (bulk("seen-time"), Reply::Int(c.seen_time)),
                        (bulk("pel-count"), Reply::Int(c.pel.len() as i64)),
                        (bulk("pending"), Reply::Array(pel)),
                    ])
                })
                .collect();
            Reply::Map(vec![
                (bulk("name"), Reply::bulk(name)),
                (bulk("last-delivered-id"), id_reply(g.last_id)),
                (bulk("entries-read"), entries_read_reply(g.entries_read)),
                (bulk("lag"), s.lag(g).map_or(Reply::Nil, Reply::Int)),
                (bulk("pel-count"), Reply::Int(g.pel.len() as i64)),
                (bulk("pending"), Reply::Array(pending)),
                (bulk("consumers"), Reply::Array(consumers)),
            ])
        })
        .collect();
    m.push((bulk("groups"), Reply::Array(groups)));
    Ok(Reply::Map(m))
}

fn entries_read_reply(n: i64) -> Reply {
    if n == ENTRIES_READ_UNKNOWN {
        Reply::Nil
    } else {
        Reply::Int(n)
    }
}

fn xsetid(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let key = a[1];
    let id = parse_strict_id(a[2])?;
    let (mut entries_added, mut max_deleted) = (-1i64, StreamId::MIN);
    let mut i = 3;
    while i < a.len() {
        if is(a[i], "ENTRIESADDED") && i + 1 < a.len() {
            entries_added = args::int(a[i + 1])?;
            if entries_added < 0 {
                return Err(Reply::err("ERR entries_added must be positive"));
            }
            i += 2;
        } else if is(a[i], "MAXDELETEDID") && i + 1 < a.len() {
            max_deleted = parse_strict_id(a[i + 1])?;
            if id < max_deleted {
                return Err(Reply::err("ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id"));
            }
            i += 2;
        } else {
            return Err(syntax());
        }
    }
    ctx.check_type::<StreamValue>(key)?;
    let r = ctx.modify::<StreamValue, _>(key, false, |s| -> Result<(), Reply> {
        if !s.is_empty() {
            if id < s.last_valid_id() {
                return Err(Reply::err("ERR The ID specified in XSETID is smaller than the target stream top item"));
            }
            if entries_added != -1 && s.len() as i64 > entries_added {
                return Err(Reply::err("ERR The entries_added specified in XSETID is smaller than the target stream length"));
            }
        }
        // (Redis 7.2 also refuses an ID below the current max_deleted_entry_id; 7.0 does not.)
        s.last_id = id;
        if entries_added != -1 {
            s.entries_added = entries_added as u64;
        }
        if !max_deleted.is_zero() {
            s.max_deleted = max_deleted;
        }
        Ok(())
    })?;
    match r {
        None => Err(Reply::err("ERR no such key")),
        Some(Err(e)) => Err(e),
        Some(Ok(())) => {
            ctx.modified(key);
            Ok(Reply::OK)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_as_redis_reads_them() {
        assert_eq!(parse_id(b"5", 0).unwrap(), StreamId::new(5, 0));
        assert_eq!(parse_id(b"5", u64::MAX).unwrap(), StreamId::new(5, u64::MAX));
        assert_eq!(parse_id(b"5-3", 0).unwrap(), StreamId::new(5, 3));
        assert_eq!(parse_id(b"-", 0).unwrap(), StreamId::MIN);
        assert_eq!(parse_id(b"+", 0).unwrap(), StreamId::MAX);
        assert!(parse_strict_id(b"-").is_err());
        assert!(parse_strict_id(b"+").is_err());
        assert_eq!(parse_id(b"007-01", 0).unwrap(), StreamId::new(7, 1));
        assert!(parse_id(b"-5", 0).is_err());
        assert!(parse_id(b"5-x", 0).is_err());
        assert!(parse_id(b"", 0).is_err());
        assert!(parse_id(b"18446744073709551616", 0).is_err());
        assert_eq!(parse_id(b"18446744073709551615-18446744073709551615", 0).unwrap(), StreamId::MAX);
        assert_eq!(parse_id_full(b"5-*", 0, true, true).unwrap(), (StreamId::new(5, 0), false));
        assert!(parse_id_full(b"5-*", 0, true, false).is_err());
        assert_eq!(parse_interval_id(b"(5-1", 0).unwrap(), (StreamId::new(5, 1), true));
        assert!(parse_interval_id(b"(-", 0).is_err());
        assert!(range_start(b"(18446744073709551615-18446744073709551615").is_err());
        assert!(range_end(b"(0-0").is_err());
    }
}
