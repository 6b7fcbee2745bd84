//! String commands: SET and friends, counters, ranges.
//!
//! Strings are binary-safe byte strings of at most 512 MiB (Redis's proto-max-bulk-len).
//! Counters parse the stored bytes with Redis's strict integer rules on every call; a TTL
//! survives in-place updates (INCR, APPEND, SETRANGE) and is cleared by SET/GETSET.

use super::args::{self, is, syntax, NOT_FLOAT, NOT_INTEGER};
use super::{CmdResult, CommandSpec, DENYOOM, WRITE};
use crate::keyspace::{Ctx, Entry, WRONGTYPE};
use crate::reply::Reply;
use crate::types::Value;
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
];

fn get(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    Ok(Reply::bulk_opt(ctx.get_str(a[1])?))
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
    let existing = ctx.lookup(key);
    let old = match existing {
        Some(Entry { value: Value::Str(s), .. }) => Some(s.to_vec()),
        Some(_) if get => return Err(Reply::err(WRONGTYPE)),
        _ => None,
    };
    let exists = existing.is_some();
    let old_ttl = existing.map_or(0, |e| e.expire_at);
    if (nx && exists) || (xx && !exists) {
        return Ok(if get { Reply::bulk_opt(old.as_deref()) } else { Reply::Nil });
    }
    let expire_at = match (at, ttl) {
        (Some(t), _) => t,
        (None, Ttl::Keep) => old_ttl,
        _ => 0,
    };
    ctx.insert(key, Value::Str(val.into()), expire_at);
    Ok(if get { Reply::bulk_opt(old.as_deref()) } else { Reply::OK })
}

fn setnx(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    if ctx.exists(a[1]) {
        return Ok(Reply::Int(0));
    }
    ctx.insert(a[1], Value::Str(a[2].into()), 0);
    Ok(Reply::Int(1))
}

fn setex_generic(ctx: &mut Ctx<'_>, a: &[&[u8]], seconds: bool, cmd: &str) -> CmdResult {
    let at = absolute_expiry(ctx, a[2], seconds, true, cmd)?;
    ctx.insert(a[1], Value::Str(a[3].into()), at);
    Ok(Reply::OK)
}

fn setex(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    setex_generic(ctx, a, true, "setex")
}

fn psetex(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    setex_generic(ctx, a, false, "psetex")
}

fn getset(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let old = ctx.get_str(a[1])?.map(<[u8]>::to_vec);
    ctx.insert(a[1], Value::Str(a[2].into()), 0);
    Ok(Reply::bulk_opt(old.as_deref()))
}

fn getdel(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let Some(old) = ctx.get_str(a[1])?.map(<[u8]>::to_vec) else { return Ok(Reply::Nil) };
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
    let Some(val) = ctx.get_str(a[1])?.map(<[u8]>::to_vec) else { return Ok(Reply::Nil) };
    let at = ttl.resolve(ctx, "getex")?;
    match (at, ttl) {
        (Some(t), _) => {
            ctx.set_expire(a[1], t);
            if t <= ctx.now() {
                ctx.remove(a[1]);
            }
        }
        (None, Ttl::Persist) if ctx.lookup(a[1]).is_some_and(|e| e.expire_at != 0) => {
            ctx.set_expire(a[1], 0);
        }
        _ => {}
    }
    Ok(Reply::Bulk(val))
}

fn mget(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let out = a[1..]
        .iter()
        .map(|k| match ctx.lookup_counted(k) {
            Some(Entry { value: Value::Str(s), .. }) => Reply::bulk(s.as_slice()),
            _ => Reply::Nil,
        })
        .collect();
    Ok(Reply::Array(out))
}

fn mset(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    if a.len() % 2 == 0 {
        return Err(super::wrong_arity("mset"));
    }
    for pair in a[1..].chunks(2) {
        ctx.insert(pair[0], Value::Str(pair[1].into()), 0);
    }
    Ok(Reply::OK)
}

fn msetnx(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    if a.len() % 2 == 0 {
        return Err(super::wrong_arity("msetnx"));
    }
    if a[1..].chunks(2).any(|p| ctx.exists(p[0])) {
        return Ok(Reply::Int(0));
    }
    for pair in a[1..].chunks(2) {
        ctx.insert(pair[0], Value::Str(pair[1].into()), 0);
    }
    Ok(Reply::Int(1))
}

/// Replace the string at `key` keeping its TTL (or create it without one).
fn store_keep_ttl(ctx: &mut Ctx<'_>, key: &[u8], bytes: Box<[u8]>) {
    match ctx.lookup_mut(key) {
        Some(e) => {
            e.value = Value::Str(bytes.into());
            ctx.modified(key);
        }
        None => ctx.insert(key, Value::Str(bytes.into()), 0),
    }
}

fn incr_by(ctx: &mut Ctx<'_>, key: &[u8], delta: i64) -> CmdResult {
    let cur = match ctx.get_str(key)? {
        None => 0,
        Some(s) => num::parse_i64_strict(s).ok_or_else(|| Reply::err(NOT_INTEGER))?,
    };
    let new = cur.checked_add(delta).ok_or_else(|| Reply::err("ERR increment or decrement would overflow"))?;
    store_keep_ttl(ctx, key, new.to_string().into_bytes().into());
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
    let cur = ctx.get_str(a[1])?;
    let new = add_float(cur, a[2])?;
    store_keep_ttl(ctx, a[1], new.clone().into_bytes().into());
    Ok(Reply::Bulk(new.into_bytes()))
}

fn append(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let cur = ctx.get_str(a[1])?;
    let len = cur.map_or(0, <[u8]>::len) + a[2].len();
    if len > MAX_STRING {
        return Err(Reply::err(TOO_BIG));
    }
    let mut v = Vec::with_capacity(len);
    v.extend_from_slice(cur.unwrap_or_default());
    v.extend_from_slice(a[2]);
    store_keep_ttl(ctx, a[1], v.into_boxed_slice());
    Ok(Reply::Int(len as i64))
}

fn strlen(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    Ok(Reply::Int(ctx.get_str(a[1])?.map_or(0, <[u8]>::len) as i64))
}

fn getrange(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let (mut start, mut end) = (args::int(a[2])?, args::int(a[3])?);
    let s = ctx.get_str(a[1])?.unwrap_or_default();
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
        return Ok(Reply::Int(cur.map_or(0, <[u8]>::len) as i64));
    }
    let end = offset as usize + val.len();
    if offset as usize > MAX_STRING || end > MAX_STRING {
        return Err(Reply::err(TOO_BIG));
    }
    let mut v = cur.unwrap_or_default().to_vec();
    if v.len() < end {
        v.resize(end, 0);
    }
    v[offset as usize..end].copy_from_slice(val);
    let len = v.len();
    store_keep_ttl(ctx, a[1], v.into_boxed_slice());
    Ok(Reply::Int(len as i64))
}
