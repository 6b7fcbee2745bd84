//! Keyspace commands: DEL, EXISTS, TYPE, RENAME, COPY, KEYS, SCAN, RANDOMKEY, OBJECT and the
//! TTL family (EXPIRE..., TTL, PERSIST).
//!
//! SCAN's cursor is `bucket_cursor * SHARDS + shard`: each shard is walked with its dict's
//! reverse-binary cursor, shard after shard, so Redis's guarantee holds (a key present for the
//! whole scan is returned at least once; duplicates are possible).
//!
//! Log effects: the EXPIRE family is logged as `PEXPIREAT key abs-ms` (or `DEL key` when the
//! time is already past and the key was deleted), so replay does not depend on the clock; the
//! other writes are deterministic and logged verbatim.

use super::args::{self, is, syntax};
use super::{CmdResult, CommandSpec, ALL_SHARDS, WRITE};
use crate::keyspace::{evict, Ctx, SHARDS};
use crate::reply::Reply;
use crate::util::glob::glob_match;

const K1: (i32, i32, i32) = (1, 1, 1);
const ALL: (i32, i32, i32) = (1, -1, 1);
const NONE: (i32, i32, i32) = (0, 0, 0);

pub(crate) const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("del", -2, WRITE, ALL, del),
    CommandSpec::new("unlink", -2, WRITE, ALL, del),
    CommandSpec::new("exists", -2, 0, ALL, exists),
    CommandSpec::new("touch", -2, 0, ALL, touch),
    CommandSpec::new("type", 2, 0, K1, type_cmd),
    CommandSpec::new("rename", 3, WRITE, (1, 2, 1), rename),
    CommandSpec::new("renamenx", 3, WRITE, (1, 2, 1), renamenx),
    CommandSpec::new("copy", -3, WRITE, (1, 2, 1), copy),
    CommandSpec::new("keys", 2, ALL_SHARDS, NONE, keys),
    CommandSpec::new("scan", -2, ALL_SHARDS, NONE, scan),
    CommandSpec::new("randomkey", 1, ALL_SHARDS, NONE, randomkey),
    CommandSpec::new("object", -2, 0, NONE, object).with_keys_fn(|a| if a.len() > 2 { vec![2] } else { vec![] }),
    CommandSpec::new("expire", -3, WRITE, K1, expire),
    CommandSpec::new("pexpire", -3, WRITE, K1, pexpire),
    CommandSpec::new("expireat", -3, WRITE, K1, expireat),
    CommandSpec::new("pexpireat", -3, WRITE, K1, pexpireat),
    CommandSpec::new("ttl", 2, 0, K1, ttl),
    CommandSpec::new("pttl", 2, 0, K1, pttl),
    CommandSpec::new("expiretime", 2, 0, K1, expiretime),
    CommandSpec::new("pexpiretime", 2, 0, K1, pexpiretime),
    CommandSpec::new("persist", 2, WRITE, K1, persist),
];

fn del(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    Ok(Reply::Int(a[1..].iter().filter(|k| ctx.remove(k).is_some()).count() as i64))
}

fn exists(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    Ok(Reply::Int(a[1..].iter().filter(|k| ctx.exists(k)).count() as i64))
}

/// TOUCH: like EXISTS, but each found key counts as accessed (LRU clock / LFU counter).
fn touch(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    Ok(Reply::Int(a[1..].iter().filter(|k| ctx.lookup_counted(k).is_some()).count() as i64))
}

fn type_cmd(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    Ok(Reply::status(ctx.lookup(a[1]).map_or("none", |e| e.value.type_name())))
}

fn rename_generic(ctx: &mut Ctx<'_>, a: &[&[u8]], nx: bool) -> CmdResult {
    let (src, dst) = (a[1], a[2]);
    if !ctx.exists(src) {
        return Err(Reply::err("ERR no such key"));
    }
    if src == dst {
        return Ok(if nx { Reply::Int(0) } else { Reply::OK });
    }
    if nx && ctx.exists(dst) {
        return Ok(Reply::Int(0));
    }
    let (entry, expire_at) = ctx.remove(src).expect("checked above");
    ctx.remove(dst);
    ctx.insert(dst, entry.value, expire_at);
    Ok(if nx { Reply::Int(1) } else { Reply::OK })
}

fn rename(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    rename_generic(ctx, a, false)
}

fn renamenx(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    rename_generic(ctx, a, true)
}

fn copy(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let mut replace = false;
    let mut i = 3;
    while i < a.len() {
        if is(a[i], "REPLACE") {
            replace = true;
        } else if is(a[i], "DB") && i + 1 < a.len() {
            let db = args::int(a[i + 1])?;
            if i32::try_from(db).is_err() {
                return Err(Reply::err("ERR value is out of range, value must between -2147483648 and 2147483647"));
            }
            if db != 0 {
                return Err(Reply::err("ERR DB index is out of range"));
            }
            i += 1;
        } else {
            return Err(syntax());
        }
        i += 1;
    }
    let (src, dst) = (a[1], a[2]);
    if src == dst {
        return Err(Reply::err("ERR source and destination objects are the same"));
    }
    let Some((e, expire_at)) = ctx.lookup_with_ttl(src) else { return Ok(Reply::Int(0)) };
    let value = e.value.clone();
    drop(e);
    if ctx.exists(dst) {
        if !replace {
            return Ok(Reply::Int(0));
        }
        ctx.remove(dst);
    }
    ctx.insert(dst, value, expire_at);
    Ok(Reply::Int(1))
}

fn keys(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let pat = a[1];
    let all = pat == b"*";
    let now = ctx.now();
    let mut out = Vec::new();
    for shard in ctx.shards() {
        for (k, e) in shard.dict.iter_refs() {
            if !shard.is_expired(k, &e, now) && (all || glob_match(pat, k)) {
                out.push(Reply::bulk(k));
            }
        }
    }
    Ok(Reply::Array(out))
}

/// Options shared by SCAN, HSCAN, SSCAN and ZSCAN.
pub(crate) struct ScanOpts<'a> {
    pub(crate) cursor: u64,
    pub(crate) pattern: Option<&'a [u8]>,
    pub(crate) count: usize,
    pub(crate) type_name: Option<&'a [u8]>,
    pub(crate) novalues: bool,
}

/// Parse `cursor [MATCH p] [COUNT n] [TYPE t]` starting at `a[cursor_at]`.
/// A cursor as Redis 7.0 reads it (`strtoul`, base 10): an optional sign and decimal digits,
/// where the empty string is 0 and `-n` wraps to `2^64 - n`; None (ERR invalid cursor) for
/// anything else: a space, trailing bytes, no digits after a sign, or more than 64 bits.
fn parse_cursor(arg: &[u8]) -> Option<u64> {
    if arg.is_empty() {
        return Some(0);
    }
    let (negative, digits) = match arg[0] {
        b'-' => (true, &arg[1..]),
        b'+' => (false, &arg[1..]),
        _ => (false, arg),
    };
    if digits.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    Some(if negative { n.wrapping_neg() } else { n })
}

pub(crate) fn parse_scan<'a>(a: &[&'a [u8]], cursor_at: usize, allow_type: bool) -> Result<ScanOpts<'a>, Reply> {
    let cursor = parse_cursor(a[cursor_at]).ok_or_else(|| Reply::err("ERR invalid cursor"))?;
    let mut o = ScanOpts { cursor, pattern: None, count: 10, type_name: None, novalues: false };
    let mut i = cursor_at + 1;
    while i < a.len() {
        let has_arg = i + 1 < a.len();
        if is(a[i], "MATCH") && has_arg {
            o.pattern = if a[i + 1] == b"*" { None } else { Some(a[i + 1]) };
            i += 2;
        } else if is(a[i], "COUNT") && has_arg {
            let n = args::int(a[i + 1])?;
            if n < 1 {
                return Err(syntax());
            }
            o.count = n as usize;
            i += 2;
        } else if allow_type && is(a[i], "TYPE") && has_arg {
            o.type_name = Some(a[i + 1]);
            i += 2;
        } else {
            return Err(syntax());
        }
    }
    Ok(o)
}

/// The SCAN reply: `[cursor, [elements...]]`.
pub(crate) fn scan_reply(cursor: u64, items: Vec<Reply>) -> Reply {
    Reply::Array(vec![Reply::Bulk(cursor.to_string().into_bytes()), Reply::Array(items)])
}

fn scan(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let o = parse_scan(a, 1, true)?;
    let now = ctx.now();
    let mut shard_idx = (o.cursor % SHARDS as u64) as usize;
    let mut bucket = o.cursor / SHARDS as u64;
    let mut found: Vec<Reply> = Vec::new();
    let mut budget = o.count.saturating_mul(10);
    loop {
        let shard = ctx.shard_by_index(shard_idx);
        bucket = shard.dict.scan_refs(bucket, |k, e| {
            let type_ok = o.type_name.is_none_or(|t| t.eq_ignore_ascii_case(e.value.type_name().as_bytes()));
            if !shard.is_expired(k, &e, now) && type_ok && o.pattern.is_none_or(|p| glob_match(p, k)) {
                found.push(Reply::bulk(k));
            }
        });
        if bucket == 0 {
            shard_idx += 1;
            if shard_idx == SHARDS {
                return Ok(scan_reply(0, found));
            }
        }
        budget = budget.saturating_sub(1);
        if found.len() >= o.count || budget == 0 {
            return Ok(scan_reply(bucket * SHARDS as u64 + shard_idx as u64, found));
        }
    }
}

fn randomkey(ctx: &mut Ctx<'_>, _a: &[&[u8]]) -> CmdResult {
    let mut rng = rand::rng();
    let total: usize = ctx.shards().map(|s| s.dict.len()).sum();
    if total == 0 {
        return Ok(Reply::Nil);
    }
    let now = ctx.now();
    // Pick a shard weighted by size, then a random key in it; retry past expired keys.
    for _ in 0..100 {
        let mut n = rand::Rng::random_range(&mut rng, 0..total);
        let shard = ctx
            .shards()
            .find(|s| {
                if n < s.dict.len() {
                    true
                } else {
                    n -= s.dict.len();
                    false
                }
            })
            .expect("n < total");
        if let Some((k, e)) = shard.dict.random_ref(&mut rng) {
            if !shard.is_expired(k, &e, now) {
                return Ok(Reply::bulk(k));
            }
        }
    }
    // Mostly expired keyspace: fall back to a full pass.
    for shard in ctx.shards() {
        if let Some((k, _)) = shard.dict.iter_refs().find(|(k, e)| !shard.is_expired(k, e, now)) {
            return Ok(Reply::bulk(k));
        }
    }
    Ok(Reply::Nil)
}

fn object(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let sub = a[1];
    if is(sub, "HELP") && a.len() == 2 {
        let lines = [
            "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "ENCODING <key>",
            "    Return the kind of internal representation used in order to store the value",
            "    associated with a <key>.",
            "FREQ <key>",
            "    Return the access frequency index of the <key>. The returned integer is",
            "    proportional to the logarithm of the recent access frequency of the key.",
            "IDLETIME <key>",
            "    Return the idle time of the <key>, that is the approximated number of",
            "    seconds elapsed since the last access to the key.",
            "REFCOUNT <key>",
            "    Return the number of references of the value associated with the specified",
            "    <key>.",
            "HELP",
            "    Prints this help.",
        ];
        return Ok(super::help_reply(&lines));
    }
    let known = ["ENCODING", "REFCOUNT", "IDLETIME", "FREQ"].iter().any(|n| is(sub, n));
    if !known && !is(sub, "HELP") {
        return Err(super::unknown_subcommand(sub, "OBJECT"));
    }
    if a.len() != 3 || !known {
        return Err(super::subcommand_arity("object", sub));
    }
    // OBJECT does not count as an access (Redis looks the key up with LOOKUP_NOTOUCH).
    let Some(e) = ctx.lookup(a[2]) else { return Ok(Reply::Nil) };
    let lfu = ctx.keyspace().tuning.policy().is_lfu();
    if is(sub, "ENCODING") {
        Ok(Reply::bulk(e.value.encoding().as_bytes()))
    } else if is(sub, "IDLETIME") {
        if lfu {
            return Err(Reply::err(
                "ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.",
            ));
        }
        Ok(Reply::Int(evict::idle_seconds(&e) as i64))
    } else if is(sub, "FREQ") {
        if !lfu {
            return Err(Reply::err(
                "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.",
            ));
        }
        let decay = ctx.keyspace().tuning.lfu_decay_time.load(std::sync::atomic::Ordering::Relaxed);
        Ok(Reply::Int(i64::from(evict::lfu_counter(e.access_record(), decay, evict::lru_stamp()))))
    } else {
        Ok(Reply::Int(1))
    }
}

/// EXPIRE/PEXPIRE/EXPIREAT/PEXPIREAT with NX/XX/GT/LT, as Redis 7 validates them.
fn expire_generic(ctx: &mut Ctx<'_>, a: &[&[u8]], seconds: bool, relative: bool, cmd: &str) -> CmdResult {
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for opt in &a[3..] {
        if is(opt, "NX") {
            nx = true;
        } else if is(opt, "XX") {
            xx = true;
        } else if is(opt, "GT") {
            gt = true;
        } else if is(opt, "LT") {
            lt = true;
        } else {
            return Err(Reply::err_owned(format!("ERR Unsupported option {}", String::from_utf8_lossy(opt))));
        }
    }
    if nx && (xx || gt || lt) {
        return Err(Reply::err("ERR NX and XX, GT or LT options at the same time are not compatible"));
    }
    if gt && lt {
        return Err(Reply::err("ERR GT and LT options at the same time are not compatible"));
    }
    let bad_time = || Reply::err_owned(format!("ERR invalid expire time in '{cmd}' command"));
    let v = args::int(a[2])?;
    let mut when = if seconds {
        if !(i64::MIN / 1000..=i64::MAX / 1000).contains(&v) {
            return Err(bad_time());
        }
        v * 1000
    } else {
        v
    };
    if relative {
        when = when.checked_add(ctx.now()).ok_or_else(bad_time)?;
    }
    let key = a[1];
    let Some((_, cur)) = ctx.lookup_with_ttl(key) else { return Ok(Reply::Int(0)) };
    let has_ttl = cur != 0;
    let refused = (nx && has_ttl) || (xx && !has_ttl) || (gt && (!has_ttl || when <= cur)) || (lt && has_ttl && when >= cur);
    if refused {
        return Ok(Reply::Int(0));
    }
    // Logged as Redis propagates it, with the condition already decided and the time made
    // absolute: `DEL key` for a time already past, `PEXPIREAT key abs-ms` otherwise.
    if when <= ctx.now() {
        ctx.remove(key);
        ctx.log_as(&[b"DEL", key]);
    } else {
        // A stored TTL of 0 means "none", so a legal past/zero time was handled above.
        ctx.set_expire(key, when);
        ctx.log_as(&[b"PEXPIREAT", key, when.to_string().as_bytes()]);
    }
    Ok(Reply::Int(1))
}

fn expire(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    expire_generic(ctx, a, true, true, "expire")
}

fn pexpire(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    expire_generic(ctx, a, false, true, "pexpire")
}

fn expireat(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    expire_generic(ctx, a, true, false, "expireat")
}

fn pexpireat(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    expire_generic(ctx, a, false, false, "pexpireat")
}

fn ttl_generic(ctx: &mut Ctx<'_>, key: &[u8], ms: bool, absolute: bool) -> CmdResult {
    let Some((_, expire_at)) = ctx.lookup_with_ttl(key) else { return Ok(Reply::Int(-2)) };
    if expire_at == 0 {
        return Ok(Reply::Int(-1));
    }
    let t = if absolute { expire_at } else { (expire_at - ctx.now()).max(0) };
    // i128: a stored expiry near i64::MAX must round, not overflow (Redis prints 9223372036854776).
    Ok(Reply::Int(if ms { t } else { ((i128::from(t) + 500) / 1000) as i64 }))
}

fn ttl(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    ttl_generic(ctx, a[1], false, false)
}

fn pttl(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    ttl_generic(ctx, a[1], true, false)
}

fn expiretime(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    ttl_generic(ctx, a[1], false, true)
}

fn pexpiretime(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    ttl_generic(ctx, a[1], true, true)
}

fn persist(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let has_ttl = ctx.lookup(a[1]).is_some_and(|e| e.has_ttl());
    if has_ttl {
        ctx.set_expire(a[1], 0);
    }
    Ok(Reply::Int(i64::from(has_ttl)))
}

#[cfg(test)]
mod tests {
    use super::super::string::tests::{check_replay, future_ms, logged, words};
    use super::super::testutil::run;
    use crate::keyspace::now_ms;
    use crate::{Db, Reply};

    #[test]
    fn cursors_parse_as_strtoul_does() {
        use super::parse_cursor;
        for (arg, want) in [
            (&b""[..], Some(0)),
            (b"0", Some(0)),
            (b"-0", Some(0)),
            (b"+7", Some(7)),
            (b"-1", Some(u64::MAX)),
            (b"18446744073709551615", Some(u64::MAX)),
            (b"-18446744073709551615", Some(1)),
            (b"007", Some(7)),
            (b"18446744073709551616", None),
            (b"-", None),
            (b"+", None),
            (b" 1", None),
            (b"1 ", None),
            (b"0x10", None),
            (b"1.0", None),
        ] {
            assert_eq!(parse_cursor(arg), want, "{:?}", String::from_utf8_lossy(arg));
        }
        // A cursor far beyond the table still answers (a page, then 0 eventually), never panics.
        let db = Db::open_in_memory();
        run(&db, &["MSET", "a", "1", "b", "2", "c", "3"]);
        assert!(matches!(run(&db, &["SCAN", "-1", "COUNT", "100"]), Reply::Array(_)));
    }

    fn dbsize(db: &Db) -> Reply {
        run(db, &["DBSIZE"])
    }

    #[test]
    fn reads_delete_the_expired_keys_they_meet() {
        // hz 1: the active expirer's first cycle comes a second after opening, so what
        // deletes the keys here is the reads that meet them.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        {
            let db = Db::open(&path, crate::Options::default().hz(1)).unwrap();
            for k in ["a", "b", "c", "d", "e", "f"] {
                run(&db, &["SET", k, "v", "PX", "1"]);
            }
            run(&db, &["SET", "live", "v"]);
            std::thread::sleep(std::time::Duration::from_millis(5));
            assert_eq!(dbsize(&db), Reply::Int(7), "expired keys are still held");
            assert_eq!(run(&db, &["GET", "a"]), Reply::Nil);
            assert_eq!(run(&db, &["EXISTS", "b"]), Reply::Int(0));
            assert_eq!(run(&db, &["TTL", "c"]), Reply::Int(-2));
            assert_eq!(run(&db, &["TYPE", "d"]), Reply::status("none"));
            assert_eq!(dbsize(&db), Reply::Int(3));
            // The typed fast path and a pipeline do the same.
            assert_eq!(crate::Commands::get(&db, b"e").unwrap(), None);
            assert_eq!(db.pipeline(&[vec!["GET", "f"]]), vec![Reply::Nil]);
            assert_eq!(dbsize(&db), Reply::Int(1));
            let info = super::super::testutil::text(&run(&db, &["INFO", "keyspace"]));
            assert!(info.contains("db0:keys=1,expires=0,"), "{info}");
            let stats = super::super::testutil::text(&run(&db, &["INFO", "stats"]));
            assert!(stats.contains("expired_keys:6\r\n"), "{stats}");
        }
        // The deletions were logged: replay (where nothing expires) does not bring them back.
        let db = Db::open(&path, crate::Options::default().hz(1)).unwrap();
        let ctx = db.keyspace().lock(&crate::keyspace::LockSet::All, false);
        assert_eq!(ctx.shards().map(|s| s.dict.len()).sum::<usize>(), 1);
    }

    #[test]
    fn expire_family_logs_absolute_pexpireat() {
        let fut = future_ms();
        let (fut_s, fut_ms) = ((fut / 1000).to_string(), fut.to_string());
        let plain = [words("SET k v")];
        let with_ttl = [words(&format!("SET k v PXAT {fut}"))];
        // (setup, command, relative ms it adds to the clock or 0 for an absolute time)
        type Case<'a> = (&'a [Vec<String>], &'a [&'a str], i64);
        let cases: [Case<'_>; 8] = [
            (&plain, &["EXPIRE", "k", "100"], 100_000),
            (&plain, &["PEXPIRE", "k", "100000", "NX"], 100_000),
            (&plain, &["expireat", "k", &fut_s], 0),
            (&plain, &["PEXPIREAT", "k", &fut_ms], 0),
            (&with_ttl, &["EXPIRE", "k", "100", "XX"], 100_000),
            (&with_ttl, &["PEXPIRE", "k", "100000", "LT"], 100_000),
            (&with_ttl, &["EXPIREAT", "k", &(fut / 1000 + 10).to_string(), "GT"], 0),
            (&with_ttl, &["PEXPIREAT", "k", &(fut - 1).to_string(), "XX", "LT"], 0),
        ];
        for (setup, cmd, relative) in cases {
            let before = now_ms();
            let done = check_replay(setup, cmd, &["k"]);
            assert_eq!(done.reply, Reply::Int(1), "{cmd:?}");
            assert_eq!(done.cmds.len(), 1, "{cmd:?}");
            assert_eq!(done.cmds[0][..2], words("PEXPIREAT k")[..], "{cmd:?}");
            let at: i64 = done.cmds[0][2].parse().unwrap();
            if relative > 0 {
                assert!((before + relative..=now_ms() + relative).contains(&at), "{cmd:?}: {at}");
            } else {
                let given: i64 = cmd[2].parse().unwrap();
                assert_eq!(at, if cmd[0].eq_ignore_ascii_case("expireat") { given * 1000 } else { given }, "{cmd:?}");
            }
        }
    }

    #[test]
    fn expire_in_the_past_logs_del() {
        let setup = [words("SET k v"), words("SET other x")];
        for cmd in [&["EXPIRE", "k", "-1"][..], &["PEXPIRE", "k", "0"], &["EXPIREAT", "k", "1"], &["PEXPIREAT", "k", "1", "NX"]] {
            let done = check_replay(&setup, cmd, &["k", "other"]);
            assert_eq!((done.reply, done.cmds), (Reply::Int(1), vec![words("DEL k")]), "{cmd:?}");
        }
    }

    #[test]
    fn refused_or_missing_expire_logs_nothing() {
        let db = Db::open_in_memory();
        run(&db, &["SET", "plain", "v"]);
        run(&db, &["SET", "ttl", "v", "PX", "100000"]);
        let cmds: [&[&str]; 6] = [
            &["EXPIRE", "missing", "100"],
            &["EXPIRE", "plain", "100", "XX"],
            &["EXPIRE", "plain", "100", "GT"],
            &["EXPIRE", "ttl", "100", "NX"],
            &["PEXPIRE", "ttl", "200000", "LT"],
            &["EXPIRE", "missing", "-1"],
        ];
        for cmd in cmds {
            let done = logged(&db, cmd);
            assert_eq!(done.reply, Reply::Int(0), "{cmd:?}");
            done.assert_no_effect();
        }
    }

    #[test]
    fn deterministic_key_writes_do_not_describe_their_effect() {
        let db = Db::open_in_memory();
        run(&db, &["MSET", "a", "1", "b", "2", "c", "3"]);
        run(&db, &["EXPIRE", "a", "100"]);
        let cmds: [&[&str]; 6] = [
            &["PERSIST", "a"],
            &["COPY", "a", "a2"],
            &["RENAME", "a2", "a3"],
            &["RENAMENX", "a3", "a4"],
            &["DEL", "a4", "b"],
            &["UNLINK", "c"],
        ];
        for cmd in cmds {
            let done = logged(&db, cmd);
            assert!(!matches!(done.reply, Reply::Error(_)), "{cmd:?}: {:?}", done.reply);
            assert!(done.dirty > 0, "{cmd:?} changed nothing");
            assert_eq!((done.described, done.cmds.len()), (false, 0), "{cmd:?}");
        }
    }
}
