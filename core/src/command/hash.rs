//! Hash commands: HSET, HMSET, HSETNX, HGET, HMGET, HGETALL, HDEL, HEXISTS, HLEN, HKEYS, HVALS,
//! HINCRBY, HINCRBYFLOAT, HSTRLEN, HRANDFIELD, HSCAN.
//!
//! A hash is a `HashValue` (types/hash.rs: listpack or table, big table values packed) written
//! with the live `hash-max-listpack-*` and compression settings (`cfg`); readers see raw bytes.
//! `Ctx::modify` guarantees one is never stored empty, so deleting the last field deletes the
//! key. Semantics follow Redis 7.0's `t_hash.c`: arguments are validated before the key is
//! looked up (so a bad increment or count is reported even for a missing or wrong-type key),
//! HSET signals the key even when every value was already in place, counters keep Redis's
//! integer/float texts. Encodings convert as Redis's do (listpack -> hashtable, never back).
//! HGETALL answers a RESP3 map; HRANDFIELD WITHVALUES answers [field, value] pairs.
//! HINCRBYFLOAT is logged as `HSET key field result`; the other writes are logged verbatim.
//!
//! Complexity: single-field commands O(1) on a table, O(listpack bytes) on a listpack (small by
//! construction); HGETALL/HKEYS/HVALS O(size); HRANDFIELD O(count), or O(size) when the count
//! is close to the size or the hash is a listpack; HSCAN O(COUNT) buckets per call on a table,
//! the whole listpack at once.

use std::borrow::Cow;

use rand::Rng;

use super::args::{self, is, syntax};
use super::keys::scan_reply;
use super::set::{check_cursor, check_repeat_cap, parse_scan_novalues, rand_count, sample_distinct, scan_dict};
use super::string::FLOAT_OVERFLOW;
use super::{wrong_arity, CmdResult, CommandSpec, DENYOOM, WRITE};
use crate::keyspace::Ctx;
use crate::reply::Reply;
use crate::types::hash::{HashConfig, HashValue};
use crate::util::glob::glob_match;
use crate::util::ldouble::{self, LongDouble};
use crate::util::num;

const W: u32 = WRITE | DENYOOM;
const K1: (i32, i32, i32) = (1, 1, 1);

const NOT_INT: &str = "ERR hash value is not an integer";
const NOT_FLOAT: &str = "ERR hash value is not a float";

pub(crate) const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("hset", -4, W, K1, hset),
    CommandSpec::new("hmset", -4, W, K1, hmset),
    CommandSpec::new("hsetnx", 4, W, K1, hsetnx),
    CommandSpec::new("hget", 3, 0, K1, hget),
    CommandSpec::new("hmget", -3, 0, K1, hmget),
    CommandSpec::new("hgetall", 2, 0, K1, hgetall),
    CommandSpec::new("hdel", -3, WRITE, K1, hdel),
    CommandSpec::new("hexists", 3, 0, K1, hexists),
    CommandSpec::new("hlen", 2, 0, K1, hlen),
    CommandSpec::new("hkeys", 2, 0, K1, hkeys),
    CommandSpec::new("hvals", 2, 0, K1, hvals),
    CommandSpec::new("hincrby", 4, W, K1, hincrby),
    CommandSpec::new("hincrbyfloat", 4, W, K1, hincrbyfloat),
    CommandSpec::new("hstrlen", 3, 0, K1, hstrlen),
    CommandSpec::new("hrandfield", -2, 0, K1, hrandfield),
    CommandSpec::new("hscan", -3, 0, K1, hscan),
];

/// The settings hash writes follow (read before the key is borrowed).
fn cfg(ctx: &Ctx<'_>) -> HashConfig {
    HashConfig::new(&ctx.limits(), ctx.compression())
}

/// The reply for a value read from a hash (moved when it was unpacked, copied otherwise).
fn bulk_cow(v: Cow<'_, [u8]>) -> Reply {
    Reply::Bulk(v.into_owned())
}

/// HSET/HMSET: set every pair; returns how many fields are new. Signals the key always, as
/// Redis does (an overwrite with the same value still counts as a write).
fn set_pairs(ctx: &mut Ctx<'_>, a: &[&[u8]], name: &str) -> Result<i64, Reply> {
    if !a.len().is_multiple_of(2) {
        return Err(wrong_arity(name));
    }
    let cfg = cfg(ctx);
    let created = ctx
        .modify::<HashValue, _>(a[1], true, |h| a[2..].chunks_exact(2).filter(|p| h.insert(p[0], p[1], &cfg)).count())?
        .unwrap_or_default();
    ctx.modified(a[1]);
    Ok(created as i64)
}

fn hset(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    set_pairs(ctx, a, "hset").map(Reply::Int)
}

fn hmset(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    set_pairs(ctx, a, "hmset").map(|_| Reply::OK)
}

fn hsetnx(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let (key, field, value) = (a[1], a[2], a[3]);
    let cfg = cfg(ctx);
    let set = ctx.modify::<HashValue, _>(key, true, |h| !h.contains_key(field) && h.insert(field, value, &cfg))?.unwrap_or_default();
    if set {
        ctx.modified(key);
    }
    Ok(Reply::Int(i64::from(set)))
}

fn hget(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    Ok(ctx.read::<HashValue>(a[1])?.as_deref().and_then(|h| h.get(a[2])).map_or(Reply::Nil, bulk_cow))
}

fn hmget(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let h = ctx.read::<HashValue>(a[1])?;
    let h = h.as_deref();
    Ok(Reply::Array(a[2..].iter().map(|f| h.and_then(|h| h.get(f)).map_or(Reply::Nil, bulk_cow)).collect()))
}

fn hgetall(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let h = ctx.read::<HashValue>(a[1])?;
    Ok(Reply::Map(h.map_or_else(Vec::new, |h| h.iter().map(|(f, v)| (Reply::bulk(f), bulk_cow(v))).collect())))
}

fn hdel(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let removed = ctx.modify::<HashValue, _>(a[1], false, |h| a[2..].iter().filter(|f| h.remove(f)).count())?.unwrap_or_default();
    if removed > 0 {
        ctx.modified(a[1]);
    }
    Ok(Reply::Int(removed as i64))
}

fn hexists(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    Ok(Reply::Int(i64::from(ctx.read::<HashValue>(a[1])?.is_some_and(|h| h.contains_key(a[2])))))
}

fn hlen(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    Ok(Reply::Int(ctx.read::<HashValue>(a[1])?.map_or(0, |h| h.len()) as i64))
}

fn hkeys(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let h = ctx.read::<HashValue>(a[1])?;
    Ok(Reply::Array(h.map_or_else(Vec::new, |h| h.keys().map(Reply::bulk).collect())))
}

fn hvals(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let h = ctx.read::<HashValue>(a[1])?;
    Ok(Reply::Array(h.map_or_else(Vec::new, |h| h.iter().map(|(_, v)| bulk_cow(v)).collect())))
}

fn hstrlen(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    Ok(Reply::Int(ctx.read::<HashValue>(a[1])?.and_then(|h| h.str_len(a[2])).unwrap_or(0) as i64))
}

fn hincrby(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let (key, field) = (a[1], a[2]);
    let incr = args::int(a[3])?;
    let cfg = cfg(ctx);
    let new = ctx
        .modify::<HashValue, _>(key, true, |h| {
            let cur = match h.get(field) {
                Some(v) => num::parse_i64_strict(&v).ok_or_else(|| Reply::err(NOT_INT))?,
                None => 0,
            };
            let new = cur.checked_add(incr).ok_or_else(|| Reply::err("ERR increment or decrement would overflow"))?;
            h.insert(field, new.to_string().as_bytes(), &cfg);
            Ok(new)
        })?
        .transpose()?
        .unwrap_or_default();
    ctx.modified(key);
    Ok(Reply::Int(new))
}

fn hincrbyfloat(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    // Redis's order: the increment, then the key's type, then the stored value, then the sum.
    let (key, field) = (a[1], a[2]);
    let incr = ldouble::parse(a[3]).ok_or_else(|| Reply::err(args::NOT_FLOAT))?;
    if !incr.is_finite() {
        return Err(Reply::err("ERR value is NaN or Infinity"));
    }
    let cfg = cfg(ctx);
    let new = ctx
        .modify::<HashValue, _>(key, true, |h| {
            let cur = match h.get(field) {
                Some(v) => ldouble::parse(&v).ok_or_else(|| Reply::err(NOT_FLOAT))?,
                None => LongDouble::from_i64(0),
            };
            let sum = cur.add(incr);
            if !sum.is_finite() {
                return Err(Reply::err(FLOAT_OVERFLOW));
            }
            let new = sum.to_human_string();
            h.insert(field, new.as_bytes(), &cfg);
            Ok(new)
        })?
        .transpose()?
        .unwrap_or_default();
    ctx.modified(key);
    // The sum's text is the effect (as Redis propagates it): replay must not redo the float
    // arithmetic and formatting.
    ctx.log_as(&[b"HSET", key, field, new.as_bytes()]);
    Ok(Reply::Bulk(new.into_bytes()))
}

fn hrandfield(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let mut rng = rand::rng();
    if a.len() == 2 {
        let h = ctx.read::<HashValue>(a[1])?;
        return Ok(Reply::bulk_opt(h.as_deref().and_then(|h| h.random_field(&mut rng))));
    }
    let n = rand_count(a[2])?;
    let withvalues = match a.len() {
        3 => false,
        4 if is(a[3], "WITHVALUES") => true,
        _ => return Err(syntax()),
    };
    // Redis refuses counts whose doubled reply length would overflow.
    if withvalues && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&n) {
        return Err(Reply::err("ERR value is out of range"));
    }
    check_repeat_cap(n)?;
    let Some(h) = ctx.read::<HashValue>(a[1])? else { return Ok(Reply::Array(Vec::new())) };
    let item = |f: &[u8], v: &[u8]| if withvalues { Reply::Array(vec![Reply::bulk(f), Reply::bulk(v)]) } else { Reply::bulk(f) };
    let count = n.unsigned_abs();
    let Some(table) = h.table().filter(|_| count < h.len() as u64 || n < 0) else {
        // A listpack (small) or the whole hash: pick from all pairs.
        let mut all: Vec<(&[u8], Cow<'_, [u8]>)> = h.iter().collect();
        if n < 0 {
            // Repeats allowed: `count` independent picks; the reply grows as it is built.
            let mut out = Vec::with_capacity(count.min(1024) as usize);
            for _ in 0..count {
                let (f, v) = &all[rng.random_range(0..all.len())];
                out.push(item(f, v));
            }
            return Ok(Reply::Array(out));
        }
        let take = all.len().min(count as usize);
        for i in 0..take {
            let j = rng.random_range(i..all.len());
            all.swap(i, j);
        }
        return Ok(Reply::Array(all[..take].iter().map(|(f, v)| item(f, v)).collect()));
    };
    if n < 0 {
        let mut out = Vec::with_capacity(count.min(1024) as usize);
        for _ in 0..count {
            let Some((f, v)) = table.random_entry(&mut rng) else { break };
            out.push(item(f, &v.bytes()));
        }
        return Ok(Reply::Array(out));
    }
    Ok(Reply::Array(sample_distinct(table, count as usize, &mut rng).into_iter().map(|(f, v)| item(f, &v.bytes())).collect()))
}

fn hscan(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    check_cursor(a)?;
    let Some(h) = ctx.read::<HashValue>(a[1])? else { return Ok(scan_reply(0, Vec::new())) };
    let (o, novalues) = parse_scan_novalues(a, true)?;
    // A value is unpacked only when it is replied.
    let emit = |out: &mut Vec<Reply>, f: &[u8], v: &dyn Fn() -> Reply| {
        out.push(Reply::bulk(f));
        if !novalues {
            out.push(v());
        }
    };
    let Some(table) = h.table() else {
        // A listpack comes back whole, in order, with cursor 0 (as in Redis).
        let mut out = Vec::new();
        for (f, v) in h.iter() {
            if o.pattern.is_none_or(|p| glob_match(p, f)) {
                emit(&mut out, f, &|| Reply::bulk(&v));
            }
        }
        return Ok(scan_reply(0, out));
    };
    let weight = if novalues { 1 } else { 2 };
    Ok(scan_dict(table, &o, false, weight, |out, f, v| emit(out, f, &|| bulk_cow(v.bytes()))))
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::super::testutil::{bulk, err, int, list, run, text};
    use crate::{Db, Reply};

    fn map(r: &Reply) -> BTreeMap<String, String> {
        let Reply::Map(pairs) = r else { panic!("not a map: {r:?}") };
        pairs.iter().map(|(k, v)| (text(k), text(v))).collect()
    }

    fn pairs(items: &[(&str, &str)]) -> BTreeMap<String, String> {
        items.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

    fn db_with_string() -> Db {
        let db = Db::open_in_memory();
        assert_eq!(run(&db, &["SET", "str", "v"]), Reply::OK);
        db
    }

    #[test]
    fn set_get_and_friends() {
        let db = Db::open_in_memory();
        assert_eq!(run(&db, &["HSET", "h", "a", "1", "b", "2"]), int(2));
        assert_eq!(run(&db, &["HSET", "h", "a", "10", "c", "3"]), int(1));
        assert_eq!(run(&db, &["HMSET", "h", "d", "4"]), Reply::OK);
        assert_eq!(run(&db, &["HSETNX", "h", "a", "x"]), int(0));
        assert_eq!(run(&db, &["HSETNX", "h", "e", "5"]), int(1));
        assert_eq!(run(&db, &["HSETNX", "new", "f", "v"]), int(1));
        assert_eq!(run(&db, &["HGET", "h", "a"]), bulk("10"));
        assert_eq!(run(&db, &["HGET", "h", "zz"]), Reply::Nil);
        assert_eq!(run(&db, &["HGET", "nokey", "a"]), Reply::Nil);
        assert_eq!(run(&db, &["HMGET", "h", "a", "zz", "b"]), Reply::Array(vec![bulk("10"), Reply::Nil, bulk("2")]));
        assert_eq!(run(&db, &["HMGET", "nokey", "a", "b"]), Reply::Array(vec![Reply::Nil, Reply::Nil]));
        assert_eq!(map(&run(&db, &["HGETALL", "h"])), pairs(&[("a", "10"), ("b", "2"), ("c", "3"), ("d", "4"), ("e", "5")]));
        assert_eq!(run(&db, &["HGETALL", "nokey"]), Reply::Map(vec![]));
        assert_eq!(run(&db, &["HLEN", "h"]), int(5));
        assert_eq!(run(&db, &["HLEN", "nokey"]), int(0));
        assert_eq!(run(&db, &["HEXISTS", "h", "a"]), int(1));
        assert_eq!(run(&db, &["HEXISTS", "h", "zz"]), int(0));
        assert_eq!(run(&db, &["HEXISTS", "nokey", "a"]), int(0));
        let keys: BTreeSet<String> = list(&run(&db, &["HKEYS", "h"])).into_iter().collect();
        assert_eq!(keys, ["a", "b", "c", "d", "e"].iter().map(|s| s.to_string()).collect());
        let mut vals = list(&run(&db, &["HVALS", "h"]));
        vals.sort();
        assert_eq!(vals, ["10", "2", "3", "4", "5"]);
        assert_eq!(run(&db, &["HKEYS", "nokey"]), Reply::Array(vec![]));
        assert_eq!(run(&db, &["HVALS", "nokey"]), Reply::Array(vec![]));
        assert_eq!(run(&db, &["HSTRLEN", "h", "a"]), int(2));
        assert_eq!(run(&db, &["HSTRLEN", "h", "zz"]), int(0));
        assert_eq!(run(&db, &["HSTRLEN", "nokey", "a"]), int(0));
        // Binary-safe fields and values.
        assert_eq!(db.execute(&[b"HSET", b"bin", b"\x00f", b"\xff\x00"]), int(1));
        assert_eq!(db.execute(&[b"HGET", b"bin", b"\x00f"]), Reply::Bulk(vec![0xff, 0]));
        // HGETALL keeps field and value paired in the map.
        let Reply::Map(m) = run(&db, &["HGETALL", "h"]) else { panic!() };
        assert_eq!(m.len(), 5);
    }

    #[test]
    fn hdel_deletes_empty_hash() {
        let db = Db::open_in_memory();
        run(&db, &["HSET", "h", "a", "1", "b", "2", "c", "3"]);
        assert_eq!(run(&db, &["HDEL", "h", "a", "zz", "a"]), int(1));
        assert_eq!(run(&db, &["HDEL", "nokey", "a"]), int(0));
        assert_eq!(run(&db, &["HDEL", "h", "b", "c"]), int(2));
        assert_eq!(run(&db, &["EXISTS", "h"]), int(0));
        assert_eq!(run(&db, &["HLEN", "h"]), int(0));
    }

    #[test]
    fn wrongtype_on_every_command() {
        let db = db_with_string();
        let cases: &[&[&str]] = &[
            &["HSET", "str", "a", "1"],
            &["HMSET", "str", "a", "1"],
            &["HSETNX", "str", "a", "1"],
            &["HGET", "str", "a"],
            &["HMGET", "str", "a"],
            &["HGETALL", "str"],
            &["HDEL", "str", "a"],
            &["HEXISTS", "str", "a"],
            &["HLEN", "str"],
            &["HKEYS", "str"],
            &["HVALS", "str"],
            &["HINCRBY", "str", "a", "1"],
            &["HINCRBYFLOAT", "str", "a", "1"],
            &["HSTRLEN", "str", "a"],
            &["HRANDFIELD", "str"],
            &["HRANDFIELD", "str", "0"],
            &["HRANDFIELD", "str", "-3", "WITHVALUES"],
            &["HSCAN", "str", "0"],
            &["HSCAN", "str", "0", "COUNT", "0"],
        ];
        for c in cases {
            assert_eq!(err(&db, c), WRONGTYPE, "{c:?}");
        }
        assert_eq!(run(&db, &["GET", "str"]), bulk("v"));
        // Argument errors are reported before the type.
        assert_eq!(err(&db, &["HINCRBY", "str", "a", "x"]), "ERR value is not an integer or out of range");
        assert_eq!(err(&db, &["HINCRBYFLOAT", "str", "a", "x"]), "ERR value is not a valid float");
        assert_eq!(err(&db, &["HRANDFIELD", "str", "x"]), "ERR value is not an integer or out of range");
        assert_eq!(err(&db, &["HSCAN", "str", "x"]), "ERR invalid cursor");
    }

    #[test]
    fn arity_errors_through_dispatcher() {
        let db = Db::open_in_memory();
        let cases: &[(&[&str], &str)] = &[
            (&["HSET", "h", "f"], "hset"),
            (&["HSET", "h", "f", "v", "g"], "hset"),
            (&["HMSET", "h", "f"], "hmset"),
            (&["HMSET", "h", "f", "v", "g"], "hmset"),
            (&["HSETNX", "h", "f"], "hsetnx"),
            (&["HGET", "h"], "hget"),
            (&["HMGET", "h"], "hmget"),
            (&["HGETALL"], "hgetall"),
            (&["HDEL", "h"], "hdel"),
            (&["HEXISTS", "h"], "hexists"),
            (&["HLEN"], "hlen"),
            (&["HKEYS"], "hkeys"),
            (&["HVALS", "h", "x"], "hvals"),
            (&["HINCRBY", "h", "f"], "hincrby"),
            (&["HINCRBYFLOAT", "h", "f"], "hincrbyfloat"),
            (&["HSTRLEN", "h"], "hstrlen"),
            (&["HRANDFIELD"], "hrandfield"),
            (&["HSCAN", "h"], "hscan"),
        ];
        for (c, name) in cases {
            assert_eq!(err(&db, c), format!("ERR wrong number of arguments for '{name}' command"), "{c:?}");
        }
        // The odd-pair HSET did not create anything.
        assert_eq!(run(&db, &["EXISTS", "h"]), int(0));
    }

    #[test]
    fn hincrby_cases() {
        let db = Db::open_in_memory();
        assert_eq!(run(&db, &["HINCRBY", "h", "n", "5"]), int(5));
        assert_eq!(run(&db, &["HINCRBY", "h", "n", "-7"]), int(-2));
        assert_eq!(run(&db, &["HGET", "h", "n"]), bulk("-2"));
        assert_eq!(run(&db, &["HINCRBY", "nokey2", "f", "9223372036854775807"]), int(i64::MAX));
        run(
            &db,
            &["HSET", "h", "s", "abc", "fl", "1.5", "sp", " 1", "z", "007", "big", "9223372036854775806", "neg", "-9223372036854775807"],
        );
        let e = |args: &[&str]| err(&db, args);
        assert_eq!(e(&["HINCRBY", "h", "s", "1"]), "ERR hash value is not an integer");
        assert_eq!(e(&["HINCRBY", "h", "fl", "1"]), "ERR hash value is not an integer");
        assert_eq!(e(&["HINCRBY", "h", "sp", "1"]), "ERR hash value is not an integer");
        assert_eq!(e(&["HINCRBY", "h", "z", "1"]), "ERR hash value is not an integer");
        assert_eq!(e(&["HINCRBY", "h", "n", "abc"]), "ERR value is not an integer or out of range");
        assert_eq!(e(&["HINCRBY", "h", "n", "1.0"]), "ERR value is not an integer or out of range");
        assert_eq!(e(&["HINCRBY", "h", "neg", "-2"]), "ERR increment or decrement would overflow");
        assert_eq!(run(&db, &["HINCRBY", "h", "neg", "-1"]), int(i64::MIN));
        assert_eq!(run(&db, &["HINCRBY", "h", "big", "1"]), int(i64::MAX));
        assert_eq!(e(&["HINCRBY", "h", "big", "1"]), "ERR increment or decrement would overflow");
        assert_eq!(run(&db, &["HGET", "h", "big"]), bulk("9223372036854775807"));
        // A failed increment on a new key creates nothing.
        assert_eq!(e(&["HINCRBY", "fresh", "f", "x"]), "ERR value is not an integer or out of range");
        assert_eq!(run(&db, &["EXISTS", "fresh"]), int(0));
    }

    #[test]
    fn hincrbyfloat_cases() {
        let db = Db::open_in_memory();
        assert_eq!(run(&db, &["HINCRBYFLOAT", "h", "f", "1.5"]), bulk("1.5"));
        assert_eq!(run(&db, &["HINCRBYFLOAT", "h", "f", "0.1"]), bulk("1.6"));
        assert_eq!(run(&db, &["HGET", "h", "f"]), bulk("1.6"));
        run(&db, &["HSET", "h", "i", "1", "s", "abc", "z", "007", "e", "1e3", "sp", " 1"]);
        assert_eq!(run(&db, &["HINCRBYFLOAT", "h", "i", "1.5"]), bulk("2.5"));
        assert_eq!(run(&db, &["HINCRBYFLOAT", "h", "z", "1"]), bulk("8"));
        assert_eq!(run(&db, &["HINCRBYFLOAT", "h", "e", "1"]), bulk("1001"));
        assert_eq!(run(&db, &["HINCRBYFLOAT", "h", "e", "1e1"]), bulk("1011"));
        let e = |args: &[&str]| err(&db, args);
        assert_eq!(e(&["HINCRBYFLOAT", "h", "s", "1"]), "ERR hash value is not a float");
        assert_eq!(e(&["HINCRBYFLOAT", "h", "sp", "1"]), "ERR hash value is not a float");
        assert_eq!(e(&["HINCRBYFLOAT", "h", "f", "abc"]), "ERR value is not a valid float");
        assert_eq!(e(&["HINCRBYFLOAT", "h", "f", "nan"]), "ERR value is not a valid float");
        assert_eq!(e(&["HINCRBYFLOAT", "h", "f", " 1"]), "ERR value is not a valid float");
        assert_eq!(e(&["HINCRBYFLOAT", "h", "f", "inf"]), "ERR value is NaN or Infinity");
        assert_eq!(e(&["HINCRBYFLOAT", "h", "f", "-inf"]), "ERR value is NaN or Infinity");
        // A failed increment leaves the field as it was.
        assert_eq!(e(&["HINCRBYFLOAT", "h", "s", "2"]), "ERR hash value is not a float");
        assert_eq!(run(&db, &["HGET", "h", "s"]), bulk("abc"));
        assert_eq!(e(&["HINCRBYFLOAT", "fresh", "f", "inf"]), "ERR value is NaN or Infinity");
        assert_eq!(run(&db, &["EXISTS", "fresh"]), int(0));
    }

    #[test]
    fn hrandfield_cases() {
        let db = Db::open_in_memory();
        assert_eq!(run(&db, &["HRANDFIELD", "nokey"]), Reply::Nil);
        assert_eq!(run(&db, &["HRANDFIELD", "nokey", "5"]), Reply::Array(vec![]));
        assert_eq!(run(&db, &["HRANDFIELD", "nokey", "-5", "WITHVALUES"]), Reply::Array(vec![]));
        let mut argv = vec!["HSET".to_string(), "h".to_string()];
        for i in 0..40 {
            argv.push(format!("f{i}"));
            argv.push(format!("v{i}"));
        }
        run(&db, &argv.iter().map(String::as_str).collect::<Vec<_>>());
        let fields: BTreeSet<String> = (0..40).map(|i| format!("f{i}")).collect();
        let one = text(&run(&db, &["HRANDFIELD", "h"]));
        assert!(fields.contains(&one));
        assert_eq!(run(&db, &["HRANDFIELD", "h", "0"]), Reply::Array(vec![]));
        assert_eq!(run(&db, &["HRANDFIELD", "h", "0", "WITHVALUES"]), Reply::Array(vec![]));
        for count in [1usize, 5, 20, 39] {
            let got = list(&run(&db, &["HRANDFIELD", "h", &count.to_string()]));
            let distinct: BTreeSet<String> = got.iter().cloned().collect();
            assert_eq!((got.len(), distinct.len()), (count, count));
            assert!(distinct.is_subset(&fields));
        }
        let all: BTreeSet<String> = list(&run(&db, &["HRANDFIELD", "h", "100"])).into_iter().collect();
        assert_eq!(all, fields);
        assert_eq!(list(&run(&db, &["HRANDFIELD", "h", "-100"])).len(), 100);
        // WITHVALUES: [field, value] pairs that belong together.
        for count in ["7", "-90", "40", "1000"] {
            let Reply::Array(items) = run(&db, &["HRANDFIELD", "h", count, "withvalues"]) else { panic!() };
            let expected = count.parse::<i64>().unwrap().unsigned_abs().min(if count.starts_with('-') { u64::MAX } else { 40 });
            assert_eq!(items.len() as u64, expected);
            for item in &items {
                let Reply::Array(pair) = item else { panic!("not a pair: {item:?}") };
                let (f, v) = (text(&pair[0]), text(&pair[1]));
                assert_eq!(f.replacen('f', "v", 1), v);
            }
        }
        let e = |args: &[&str]| err(&db, args);
        assert_eq!(e(&["HRANDFIELD", "h", "1", "foo"]), "ERR syntax error");
        assert_eq!(e(&["HRANDFIELD", "h", "1", "WITHVALUES", "x"]), "ERR syntax error");
        assert_eq!(e(&["HRANDFIELD", "h", "abc", "foo"]), "ERR value is not an integer or out of range");
        assert_eq!(e(&["HRANDFIELD", "nokey", "abc"]), "ERR value is not an integer or out of range");
        assert_eq!(
            e(&["HRANDFIELD", "h", "-9223372036854775808"]),
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"
        );
        assert_eq!(e(&["HRANDFIELD", "h", "-4611686018427387904", "WITHVALUES"]), "ERR value is out of range");
        assert_eq!(e(&["HRANDFIELD", "h", "4611686018427387904", "WITHVALUES"]), "ERR value is out of range");
        assert_eq!(e(&["HRANDFIELD", "nokey", "4611686018427387904", "WITHVALUES"]), "ERR value is out of range");
        // The largest accepted count on a small hash is just the whole hash.
        assert_eq!(list(&run(&db, &["HRANDFIELD", "h", "9223372036854775807"])).len(), 40);
    }

    #[test]
    fn modifications_signal_watchers() {
        let db = Db::open_in_memory();
        run(&db, &["HSET", "h", "a", "1"]);
        let exec_survives = |change: &[&str]| {
            let mut s = db.session();
            s.execute(&[b"WATCH", b"h"]);
            run(&db, change);
            s.execute(&[b"MULTI"]);
            s.execute(&[b"PING"]);
            s.execute(&[b"EXEC"]) != Reply::Nil
        };
        // HSET signals even when nothing changes (Redis 7.0 does).
        assert!(!exec_survives(&["HSET", "h", "a", "1"]));
        assert!(exec_survives(&["HSETNX", "h", "a", "2"]));
        assert!(!exec_survives(&["HSETNX", "h", "b", "2"]));
        assert!(exec_survives(&["HDEL", "h", "zz"]));
        assert!(!exec_survives(&["HDEL", "h", "b"]));
        assert!(exec_survives(&["HINCRBY", "h", "a", "x"]));
        assert!(!exec_survives(&["HINCRBY", "h", "a", "1"]));
        assert!(!exec_survives(&["HINCRBYFLOAT", "h", "a", "1"]));
        assert!(exec_survives(&["HGETALL", "h"]));
        assert!(exec_survives(&["HRANDFIELD", "h", "-3"]));
    }

    #[test]
    fn hscan_small_and_options() {
        let db = db_with_string();
        let empty = Reply::Array(vec![bulk("0"), Reply::Array(vec![])]);
        assert_eq!(run(&db, &["HSCAN", "nokey", "0"]), empty);
        assert_eq!(run(&db, &["HSCAN", "nokey", "0", "COUNT", "0"]), empty);
        assert_eq!(err(&db, &["HSCAN", "nokey", "abc"]), "ERR invalid cursor");
        run(&db, &["HSET", "h", "a", "1", "b", "2", "c", "3"]);
        // A small hash comes back whole, in one call, whatever COUNT says.
        let Reply::Array(parts) = run(&db, &["HSCAN", "h", "0", "COUNT", "1"]) else { panic!() };
        assert_eq!(parts[0], bulk("0"));
        let flat = list(&parts[1]);
        let got: BTreeMap<String, String> = flat.chunks(2).map(|p| (p[0].clone(), p[1].clone())).collect();
        assert_eq!(got, pairs(&[("a", "1"), ("b", "2"), ("c", "3")]));
        let Reply::Array(parts) = run(&db, &["HSCAN", "h", "0", "MATCH", "b"]) else { panic!() };
        assert_eq!(parts[1], Reply::Array(vec![bulk("b"), bulk("2")]));
        let Reply::Array(parts) = run(&db, &["HSCAN", "h", "0", "NOVALUES", "MATCH", "[ab]"]) else { panic!() };
        let fields: BTreeSet<String> = list(&parts[1]).into_iter().collect();
        assert_eq!(fields, ["a", "b"].iter().map(|s| s.to_string()).collect());
        let Reply::Array(parts) = run(&db, &["HSCAN", "h", "0", "novalues"]) else { panic!() };
        assert_eq!(list(&parts[1]).len(), 3);
        let e = |args: &[&str]| err(&db, args);
        assert_eq!(e(&["HSCAN", "h", "0", "COUNT", "0"]), "ERR syntax error");
        assert_eq!(e(&["HSCAN", "h", "0", "COUNT", "abc"]), "ERR value is not an integer or out of range");
        assert_eq!(e(&["HSCAN", "h", "0", "MATCH"]), "ERR syntax error");
        assert_eq!(e(&["HSCAN", "h", "0", "TYPE", "hash"]), "ERR syntax error");
        assert_eq!(e(&["HSCAN", "h", "0", "NOVALUES", "FOO"]), "ERR syntax error");
        assert_eq!(e(&["HSCAN", "h", "18446744073709551616"]), "ERR invalid cursor");
        // MATCH's argument may be the word NOVALUES: it is a pattern, not the option.
        let Reply::Array(parts) = run(&db, &["HSCAN", "h", "0", "MATCH", "NOVALUES"]) else { panic!() };
        assert_eq!(parts[1], Reply::Array(vec![]));
    }

    /// Full HSCAN iterations over a big hash, with and without MATCH/COUNT/NOVALUES, while
    /// fields are added between calls: every field present throughout is returned.
    #[test]
    fn hscan_big_hash_is_complete() {
        let db = Db::open_in_memory();
        let n = 2500;
        for chunk in (0..n).collect::<Vec<_>>().chunks(500) {
            let mut argv = vec!["HSET".to_string(), "big".to_string()];
            for i in chunk {
                argv.push(format!("field:{i}"));
                argv.push(format!("value:{i}"));
            }
            run(&db, &argv.iter().map(String::as_str).collect::<Vec<_>>());
        }
        let stable: BTreeMap<String, String> = (0..n).map(|i| (format!("field:{i}"), format!("value:{i}"))).collect();
        for (pattern, count, novalues) in [(None, 10usize, false), (Some("field:2*"), 33, false), (Some("*7"), 5, true)] {
            let mut seen: BTreeMap<String, String> = BTreeMap::new();
            let mut cursor = "0".to_string();
            let mut calls = 0;
            loop {
                let c = count.to_string();
                let mut argv = vec!["HSCAN", "big", cursor.as_str(), "COUNT", c.as_str()];
                if let Some(p) = pattern {
                    argv.extend(["MATCH", p]);
                }
                if novalues {
                    argv.push("NOVALUES");
                }
                let Reply::Array(parts) = run(&db, &argv) else { panic!() };
                let flat = list(&parts[1]);
                if pattern.is_none() {
                    // COUNT bounds the reply items (field and value count separately).
                    assert!(flat.len() <= count * 3, "a call returns about COUNT items");
                }
                if novalues {
                    seen.extend(flat.into_iter().map(|f| (f, String::new())));
                } else {
                    assert_eq!(flat.len() % 2, 0);
                    seen.extend(flat.chunks(2).map(|p| (p[0].clone(), p[1].clone())));
                }
                cursor = text(&parts[0]);
                calls += 1;
                // Churn: grow the hash mid-scan (new fields may or may not be returned).
                if calls % 5 == 0 {
                    run(&db, &["HSET", "big", &format!("extra:{calls}:{pattern:?}"), "x"]);
                }
                if cursor == "0" {
                    break;
                }
            }
            assert!(calls > 1);
            for (f, v) in &stable {
                if pattern.is_none_or(|p| crate::util::glob::glob_match(p.as_bytes(), f.as_bytes())) {
                    let got = seen.get(f).unwrap_or_else(|| panic!("{f} missed with {pattern:?}"));
                    assert_eq!(got, if novalues { "" } else { v.as_str() });
                } else {
                    assert!(!seen.contains_key(f), "{f} does not match {pattern:?}");
                }
            }
        }
    }

    /// Values at or over compression-min-size are stored packed when that shrinks them, the
    /// reported memory shrinks with them, and readers still see the raw bytes.
    #[test]
    fn big_table_values_are_stored_packed() {
        use crate::keyspace::LockSet;
        use crate::types::hash::Stored;
        use crate::types::Value;
        let db = Db::open_in_memory();
        let big: String = "abcdefgh".repeat(40);
        let stored = |key: &str| {
            let ctx = db.keyspace().lock(&LockSet::All, false);
            let e = ctx.lookup(key.as_bytes());
            let Some(Value::Hash(h)) = e.as_deref().map(|e| &e.value) else { panic!("{key} is not a hash") };
            let packed = h.table().is_some_and(|t| matches!(t.get(b"f"), Some(Stored::Packed(_))));
            (packed, h.mem_usage())
        };
        run(&db, &["HSET", "plain", "f", &big]);
        assert_eq!(run(&db, &["CONFIG", "SET", "compression-min-size", "16"]), Reply::OK);
        run(&db, &["HSET", "packed", "f", &big]);
        let ((plain, plain_mem), (packed, packed_mem)) = (stored("plain"), stored("packed"));
        assert!(!plain && packed, "320 bytes: plain under the default 512-byte threshold, packed at 16");
        assert!(packed_mem + 200 < plain_mem, "{packed_mem} vs {plain_mem}");
        assert_eq!(run(&db, &["HGET", "packed", "f"]), bulk(&big));
        assert_eq!(run(&db, &["HSTRLEN", "packed", "f"]), int(320));
    }

    mod log_effects {
        use super::super::super::string::tests::{check_replay, future_ms, logged, words};
        use super::super::super::testutil::{bulk, run};
        use crate::{Db, Reply};

        #[test]
        fn hincrbyfloat_logs_hset_of_the_result() {
            let setup = [words("HSET h f 10.5 g x"), words(&format!("PEXPIREAT h {}", future_ms()))];
            let done = check_replay(&setup, &["HINCRBYFLOAT", "h", "f", "0.1"], &["h"]);
            assert_eq!((done.reply, done.cmds), (bulk("10.6"), vec![words("HSET h f 10.6")]));
            let done = check_replay(&setup, &["HINCRBYFLOAT", "h", "new", "5.0e3"], &["h"]);
            assert_eq!((done.reply, done.cmds), (bulk("5000"), vec![words("HSET h new 5000")]));
            let done = check_replay(&setup, &["HINCRBYFLOAT", "n", "f", "-1.5"], &["h", "n"]);
            assert_eq!(done.cmds, vec![words("HSET n f -1.5")]);
            // Errors change nothing and log nothing.
            let db = Db::open_in_memory();
            run(&db, &["HSET", "h", "s", "abc"]);
            for cmd in [&["HINCRBYFLOAT", "h", "s", "1"][..], &["HINCRBYFLOAT", "h", "f", "x"], &["HINCRBYFLOAT", "h", "f", "inf"]] {
                let done = logged(&db, cmd);
                assert!(matches!(done.reply, Reply::Error(_)), "{cmd:?}");
                done.assert_no_effect();
            }
        }

        #[test]
        fn deterministic_hash_writes_do_not_describe_their_effect() {
            let db = Db::open_in_memory();
            let cmds: [&[&str]; 5] = [
                &["HSET", "h", "a", "1"],
                &["HMSET", "h", "b", "2"],
                &["HSETNX", "h", "c", "3"],
                &["HINCRBY", "h", "a", "5"],
                &["HDEL", "h", "b"],
            ];
            for cmd in cmds {
                let done = logged(&db, cmd);
                assert!(!matches!(done.reply, Reply::Error(_)), "{cmd:?}: {:?}", done.reply);
                assert!(done.dirty > 0, "{cmd:?} changed nothing");
                assert_eq!((done.described, done.cmds.len()), (false, 0), "{cmd:?}");
            }
        }
    }
}
