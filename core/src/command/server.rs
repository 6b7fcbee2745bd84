//! Server-level commands: PING, ECHO, DBSIZE, FLUSHDB/FLUSHALL, CONFIG, INFO, TIME, SELECT,
//! COMMAND, SAVE/BGSAVE/BGREWRITEAOF/LASTSAVE, and the table entries of the transaction
//! commands (run by `Session`).

use super::args::{self, is};
use super::{CmdResult, CommandSpec, ALL_SHARDS, TXN, WRITE};
use crate::config::{Facts, Options};
use crate::keyspace::Ctx;
use crate::reply::Reply;
use std::sync::atomic::Ordering;

const NONE: (i32, i32, i32) = (0, 0, 0);

pub(crate) const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("ping", -1, 0, NONE, ping),
    CommandSpec::new("echo", 2, 0, NONE, echo),
    CommandSpec::new("dbsize", 1, ALL_SHARDS, NONE, dbsize),
    CommandSpec::new("flushdb", -1, WRITE | ALL_SHARDS, NONE, flushdb),
    CommandSpec::new("flushall", -1, WRITE | ALL_SHARDS, NONE, flushdb),
    CommandSpec::new("config", -2, ALL_SHARDS, NONE, config),
    CommandSpec::new("info", -1, ALL_SHARDS, NONE, info),
    CommandSpec::new("time", 1, 0, NONE, time),
    CommandSpec::new("select", 2, 0, NONE, select),
    CommandSpec::new("command", -1, 0, NONE, command),
    CommandSpec::new("save", 1, 0, NONE, save),
    CommandSpec::new("bgsave", -1, 0, NONE, bgsave),
    CommandSpec::new("bgrewriteaof", 1, 0, NONE, bgrewriteaof),
    CommandSpec::new("lastsave", 1, 0, NONE, lastsave),
];

fn persistence<'a>(ctx: &Ctx<'a>) -> Result<&'a std::sync::Arc<crate::persist::Persistence>, Reply> {
    ctx.keyspace()
        .persistence
        .get()
        .ok_or_else(|| Reply::err("ERR this database is in memory (no files): open it with a path to persist it"))
}

fn save(ctx: &mut Ctx<'_>, _: &[&[u8]]) -> CmdResult {
    let p = persistence(ctx)?;
    if ctx.holds_locks() {
        // Inside EXEC, a pipeline or Db::transaction: the snapshot's cut would wait for locks
        // this very command holds.
        return Err(Reply::err("ERR Command not allowed inside a transaction"));
    }
    p.snapshot(ctx.keyspace()).map_err(|e| Reply::err_owned(format!("ERR {e}")))?;
    Ok(Reply::OK)
}

fn bgsave(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let schedule = match a.len() {
        1 => false,
        2 if is(a[1], "SCHEDULE") => true,
        _ => return Err(args::syntax()),
    };
    let p = persistence(ctx)?;
    if p.request_snapshot(schedule) {
        Ok(Reply::status("Background saving started"))
    } else if schedule {
        Ok(Reply::status("Background saving scheduled"))
    } else {
        Err(Reply::err("ERR Background save already in progress"))
    }
}

fn bgrewriteaof(ctx: &mut Ctx<'_>, _: &[&[u8]]) -> CmdResult {
    let p = persistence(ctx)?;
    if p.request_snapshot(true) {
        Ok(Reply::status("Background append only file rewriting started"))
    } else {
        Ok(Reply::status("Background append only file rewriting scheduled"))
    }
}

fn lastsave(ctx: &mut Ctx<'_>, _: &[&[u8]]) -> CmdResult {
    Ok(Reply::Int(ctx.keyspace().persistence.get().map_or(0, |p| p.last_save_secs())))
}

/// Transaction control lives in `Session`; these entries give arity and flags. Run without a
/// session (`Db::execute`, one command at a time), there is no transaction state: EXEC and
/// DISCARD answer as Redis does on a connection that never sent MULTI, UNWATCH has nothing to
/// forget, and MULTI/WATCH are refused (their state would be lost with the call).
pub(crate) const TXN_COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("multi", 1, TXN, NONE, without_session),
    CommandSpec::new("exec", 1, TXN, NONE, without_session),
    CommandSpec::new("discard", 1, TXN, NONE, without_session),
    CommandSpec::new("watch", -2, TXN, (1, -1, 1), without_session),
    CommandSpec::new("unwatch", 1, TXN, NONE, without_session),
];

fn without_session(_: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let name = String::from_utf8_lossy(a[0]).to_ascii_uppercase();
    match name.as_str() {
        "EXEC" | "DISCARD" => Err(Reply::err_owned(format!("ERR {name} without MULTI"))),
        "UNWATCH" => Ok(Reply::OK),
        _ => Err(Reply::err_owned(format!(
            "ERR {name} is not available on a handle that runs each command on its own: \
             transaction state needs a connection (a pipeline, or a session)"
        ))),
    }
}

fn ping(_: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    match a.len() {
        1 => Ok(Reply::status("PONG")),
        2 => Ok(Reply::bulk(a[1])),
        _ => Err(super::wrong_arity("ping")),
    }
}

fn echo(_: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    Ok(Reply::bulk(a[1]))
}

fn dbsize(ctx: &mut Ctx<'_>, _: &[&[u8]]) -> CmdResult {
    Ok(Reply::Int(ctx.shards().map(|s| s.dict.len()).sum::<usize>() as i64))
}

fn flushdb(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    match a.len() {
        1 => {}
        2 if is(a[1], "ASYNC") || is(a[1], "SYNC") => {}
        _ => return Err(args::syntax()),
    }
    ctx.flush_all_locked();
    Ok(Reply::OK)
}

fn config(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let sub = a[1];
    let ks = ctx.keyspace();
    if is(sub, "GET") && a.len() >= 3 {
        let cfg = ks.config.read();
        let facts = Facts { persistent: ks.persistence.get().is_some() };
        let mut out: Vec<(Reply, Reply)> = Vec::new();
        let mut push = |name: &[u8], value: String| {
            if !out.iter().any(|(k, _)| k.as_bytes().is_some_and(|k| k.eq_ignore_ascii_case(name))) {
                out.push((Reply::bulk(name), Reply::Bulk(value.into_bytes())));
            }
        };
        for pat in &a[2..] {
            // Like Redis 7: a name without glob characters is looked up (case-insensitively)
            // and answered under the caller's spelling; a pattern answers canonical names.
            if !pat.iter().any(|c| matches!(c, b'*' | b'?' | b'[')) {
                if let Some(value) = std::str::from_utf8(pat).ok().and_then(|n| cfg.get_with(n, &facts)) {
                    push(pat, value);
                }
                continue;
            }
            for (name, value) in cfg.matching(&pat.to_ascii_lowercase(), &facts) {
                push(name.as_bytes(), value);
            }
        }
        return Ok(Reply::Map(out));
    }
    if is(sub, "SET") && a.len() >= 4 && a.len().is_multiple_of(2) {
        // All-or-nothing like Redis 7: names first (unknown, read-only, given twice: named as
        // the caller spelled them), then every value on a copy (a bad one named under the
        // parameter's own name), then publish.
        let failed =
            |arg: &str, why: &str| Reply::err_owned(format!("ERR CONFIG SET failed (possibly related to argument '{arg}') - {why}"));
        let mut seen: Vec<&'static str> = Vec::new();
        for pair in a[2..].chunks(2) {
            let name = String::from_utf8_lossy(pair[0]);
            let Some(canonical) = Options::canonical_name(&name) else {
                return Err(Reply::err_owned(format!("ERR Unknown option or number of arguments for CONFIG SET - '{name}'")));
            };
            if Options::default().get(canonical).is_none() {
                return Err(failed(&name, "can't set immutable config"));
            }
            if seen.contains(&canonical) {
                return Err(failed(&name, "duplicate parameter"));
            }
            seen.push(canonical);
        }
        let mut next: Options = ks.config.read().clone();
        for pair in a[2..].chunks(2) {
            let name = String::from_utf8_lossy(pair[0]);
            let value = String::from_utf8_lossy(pair[1]);
            if let Some(Err(e)) = next.set_for_config(&name, &value) {
                return Err(failed(Options::canonical_name(&name).unwrap_or_default(), &e));
            }
        }
        if let Some(log) = ks.log() {
            log.set_policy(next.appendfsync);
        }
        ks.apply_config(next);
        // A cap may have just been set: `used_memory` must be exact for eviction from now on.
        for shard in ctx.shards() {
            ks.publish(shard, true);
        }
        return Ok(Reply::OK);
    }
    if is(sub, "RESETSTAT") && a.len() == 2 {
        for s in ctx.shards() {
            s.stats.expired.store(0, Ordering::Relaxed);
            s.stats.evicted.store(0, Ordering::Relaxed);
        }
        for c in ks.all_counters() {
            for n in [&c.hits, &c.misses, &c.commands, &c.fast_hits, &c.fast_misses] {
                n.store(0, Ordering::Relaxed);
            }
        }
        ks.connections.store(0, Ordering::Relaxed);
        ks.reset_peak();
        return Ok(Reply::OK);
    }
    if is(sub, "SET") && a.len() >= 4 {
        // Arity (-4) passes; a name without its value does not.
        return Err(super::args::syntax());
    }
    if is(sub, "HELP") && a.len() == 2 {
        let lines = [
            "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>",
            "    Set the configuration <directive> to <value>.",
            "RESETSTAT",
            "    Reset statistics reported by the INFO command.",
            "HELP",
            "    Prints this help.",
        ];
        return Ok(super::help_reply(&lines));
    }
    if is(sub, "GET") || is(sub, "SET") || is(sub, "RESETSTAT") || is(sub, "HELP") {
        return Err(super::subcommand_arity("config", sub));
    }
    Err(super::unknown_subcommand(sub, "CONFIG"))
}

fn info(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let wants = |name: &str| {
        a.len() == 1
            || a[1..].iter().any(|s| is(s, "ALL") || is(s, "EVERYTHING") || is(s, "DEFAULT") || s.eq_ignore_ascii_case(name.as_bytes()))
    };
    let ks = ctx.keyspace();
    let mut out = String::new();
    if wants("server") {
        let uptime = ks.started.elapsed().as_secs();
        out.push_str(&format!(
            "# Server\r\nnestdb_version:{}\r\nredis_version:7.0.0\r\nredis_mode:standalone\r\nos:{}\r\narch_bits:{}\r\n\
             process_id:{}\r\nuptime_in_seconds:{uptime}\r\nuptime_in_days:{}\r\nhz:{}\r\n\r\n",
            crate::VERSION,
            os_name(),
            usize::BITS,
            std::process::id(),
            uptime / 86400,
            ks.config.read().hz
        ));
    }
    if wants("clients") {
        // An embedded database has no connections: its clients are the open `Db` handles
        // (clones and sessions; a Python client is one); blocked clients are the calls waiting
        // in BLPOP and the like.
        out.push_str(&format!(
            "# Clients\r\nconnected_clients:{}\r\nblocked_clients:{}\r\n\r\n",
            ks.clients.load(Ordering::Relaxed),
            ks.blocking.callers()
        ));
    }
    if wants("memory") {
        super::memory::info_section(ctx, &mut out);
    }
    if wants("persistence") {
        match ctx.keyspace().persistence.get() {
            Some(p) => p.info(&mut out),
            None => crate::persist::info_in_memory(&mut out),
        }
    }
    if wants("stats") {
        let (mut hits, mut misses, mut expired, mut evicted) = (0, 0, 0, 0);
        let mut commands = 0;
        for c in ks.all_counters() {
            let (fast_hits, fast_misses) = (c.fast_hits.load(Ordering::Relaxed), c.fast_misses.load(Ordering::Relaxed));
            hits += c.hits.load(Ordering::Relaxed) + fast_hits;
            misses += c.misses.load(Ordering::Relaxed) + fast_misses;
            commands += c.commands.load(Ordering::Relaxed) + fast_hits + fast_misses;
        }
        for s in ctx.shards() {
            expired += s.stats.expired.load(Ordering::Relaxed);
            evicted += s.stats.evicted.load(Ordering::Relaxed);
        }
        out.push_str(&format!(
            "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{commands}\r\n\
             expired_keys:{expired}\r\nevicted_keys:{evicted}\r\nkeyspace_hits:{hits}\r\nkeyspace_misses:{misses}\r\n\r\n",
            ks.connections.load(Ordering::Relaxed)
        ));
    }
    if wants("replication") {
        // No replicas: an embedded database is its own master.
        out.push_str("# Replication\r\nrole:master\r\nconnected_slaves:0\r\n\r\n");
    }
    if wants("keyspace") {
        let keys: usize = ctx.shards().map(|s| s.dict.len()).sum();
        let expires: usize = ctx.shards().map(|s| s.volatile.len()).sum();
        out.push_str("# Keyspace\r\n");
        if keys > 0 {
            out.push_str(&format!("db0:keys={keys},expires={expires},avg_ttl=0\r\n"));
        }
    }
    Ok(Reply::Bulk(out.into_bytes()))
}

/// The OS as Redis reports it: `uname -s -r -m` ("Linux 6.1.0 x86_64").
fn os_name() -> String {
    // SAFETY: uname fills a zeroed utsname; its fields are NUL-terminated C strings.
    unsafe {
        let mut u: libc::utsname = std::mem::zeroed();
        if libc::uname(&mut u) == 0 {
            let field = |f: &[libc::c_char]| std::ffi::CStr::from_ptr(f.as_ptr()).to_string_lossy().into_owned();
            return format!("{} {} {}", field(&u.sysname), field(&u.release), field(&u.machine));
        }
    }
    format!("{} {}", std::env::consts::OS, std::env::consts::ARCH)
}

fn time(ctx: &mut Ctx<'_>, _: &[&[u8]]) -> CmdResult {
    let us = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(ctx.now() * 1000, |d| d.as_micros() as i64);
    Ok(Reply::Array(vec![Reply::Bulk((us / 1_000_000).to_string().into_bytes()), Reply::Bulk((us % 1_000_000).to_string().into_bytes())]))
}

fn select(_: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let db = args::int(a[1]).map_err(|_| Reply::err("ERR value is not an integer or out of range"))?;
    if db == 0 {
        Ok(Reply::OK)
    } else {
        Err(Reply::err("ERR DB index is out of range"))
    }
}

/// COMMAND [COUNT | LIST | INFO [name ...] | GETKEYS argv... | HELP]: Redis 7.0's replies and
/// errors (a subcommand's arity as Redis's table gives it: COUNT 2, LIST -2, INFO -2,
/// GETKEYS -4, HELP 2). Plain COMMAND and INFO without names describe every command.
fn command(_: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let info = |c: &CommandSpec| {
        Reply::Array(vec![
            Reply::bulk(c.name.as_bytes()),
            Reply::Int(i64::from(c.arity)),
            Reply::Array(
                std::iter::once(if c.is_write() { "write" } else { "readonly" })
                    .chain((c.flags & super::BLOCKING != 0).then_some("blocking"))
                    .map(Reply::status)
                    .collect(),
            ),
            Reply::Int(i64::from(c.first_key)),
            Reply::Int(i64::from(c.last_key)),
            Reply::Int(i64::from(c.step)),
        ])
    };
    if a.len() == 1 {
        return Ok(Reply::Array(super::all_commands().map(info).collect()));
    }
    let sub = a[1];
    if is(sub, "COUNT") && a.len() == 2 {
        return Ok(Reply::Int(super::all_commands().count() as i64));
    }
    if is(sub, "LIST") {
        let mut names: Vec<&str> = super::all_commands().map(|c| c.name).collect();
        names.sort_unstable();
        return Ok(Reply::Array(names.into_iter().map(|n| Reply::bulk(n.as_bytes())).collect()));
    }
    if is(sub, "INFO") {
        if a.len() == 2 {
            return Ok(Reply::Array(super::all_commands().map(info).collect()));
        }
        return Ok(Reply::Array(a[2..].iter().map(|n| super::find(n).map_or(Reply::Nil, info)).collect()));
    }
    if is(sub, "GETKEYS") && a.len() >= 4 {
        let argv = &a[2..];
        let Some(spec) = super::find(argv[0]) else { return Err(Reply::err("ERR Invalid command specified")) };
        if !spec.arity_ok(argv.len()) {
            return Err(Reply::err("ERR Invalid number of arguments specified for command"));
        }
        let keys = spec.key_positions(argv);
        if keys.is_empty() {
            return Err(Reply::err("ERR The command has no key arguments"));
        }
        return Ok(Reply::Array(keys.into_iter().map(|i| Reply::bulk(argv[i])).collect()));
    }
    if is(sub, "HELP") && a.len() == 2 {
        let lines = [
            "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "(no subcommand)",
            "    Return details about all Redis commands.",
            "COUNT",
            "    Return the total number of commands in this Redis server.",
            "LIST",
            "    Return a list of all commands in this Redis server.",
            "INFO [<command-name> ...]",
            "    Return details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "GETKEYS <full-command>",
            "    Return the keys from a full Redis command.",
            "HELP",
            "    Prints this help.",
        ];
        return Ok(super::help_reply(&lines));
    }
    if is(sub, "COUNT") || is(sub, "GETKEYS") || is(sub, "HELP") {
        return Err(super::subcommand_arity("command", sub));
    }
    Err(super::unknown_subcommand(sub, "COMMAND"))
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{bulk, err, run, text};
    use crate::{Db, Reply};

    #[test]
    fn transaction_commands_without_a_session() {
        let db = Db::open_in_memory();
        assert_eq!(err(&db, &["EXEC"]), "ERR EXEC without MULTI");
        assert_eq!(err(&db, &["discard"]), "ERR DISCARD without MULTI");
        assert_eq!(run(&db, &["UNWATCH"]), Reply::OK);
        for argv in [&["MULTI"][..], &["WATCH", "k"]] {
            let e = err(&db, argv);
            assert!(e.starts_with(&format!("ERR {} is not available", argv[0])) && !e.contains("::"), "{e}");
        }
        // A session keeps its transaction state.
        let mut s = db.session();
        assert_eq!(s.execute(&[b"EXEC"]).error_text(), Some("ERR EXEC without MULTI"));
        assert_eq!(s.execute(&[b"MULTI"]), Reply::OK);
        assert_eq!(s.execute(&[b"EXEC"]), Reply::Array(vec![]));
    }

    fn config_get(db: &Db, args: &[&str]) -> Vec<(String, String)> {
        let mut argv = vec!["CONFIG", "GET"];
        argv.extend_from_slice(args);
        match run(db, &argv) {
            Reply::Map(pairs) => pairs.iter().map(|(k, v)| (text(k), text(v))).collect(),
            r => panic!("{r:?}"),
        }
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn config_set_errors_read_as_redis_7() {
        let db = Db::open_in_memory();
        let failed = |arg: &str, why: &str| format!("ERR CONFIG SET failed (possibly related to argument '{arg}') - {why}");
        let cases: &[(&[&str], String)] = &[
            (
                &["maxmemory-policy", "bogus"],
                failed(
                    "maxmemory-policy",
                    "argument(s) must be one of the following: volatile-lru, volatile-lfu, volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction",
                ),
            ),
            (&["appendfsync", "x"], failed("appendfsync", "argument(s) must be one of the following: everysec, always, no")),
            (&["maxmemory", "abc"], failed("maxmemory", "argument must be a memory value")),
            (&["MAXMEMORY", "1.5"], failed("maxmemory", "argument must be a memory value")),
            (&["maxmemory-samples", "0"], failed("maxmemory-samples", "argument must be between 1 and 2147483647 inclusive")),
            (&["maxmemory-samples", " 5"], failed("maxmemory-samples", "argument couldn't be parsed into an integer")),
            (&["maxmemory-samples", "+5"], failed("maxmemory-samples", "argument couldn't be parsed into an integer")),
            (&["hz", "x"], failed("hz", "argument couldn't be parsed into an integer")),
            (&["hz", "-1"], failed("hz", "argument must be between 0 and 2147483647 inclusive")),
            (&["lfu-log-factor", "-1"], failed("lfu-log-factor", "argument must be between 0 and 2147483647 inclusive")),
            (&["hash-max-listpack-entries", "1k"], failed("hash-max-listpack-entries", "argument couldn't be parsed into an integer")),
            (&["hash-max-listpack-value", "abc"], failed("hash-max-listpack-value", "argument must be a memory value")),
            (&["save", "1 2 3"], failed("save", "Invalid save parameters")),
            (&["DATABASES", "4"], failed("DATABASES", "can't set immutable config")),
            (&["maxmemory", "abc", "databases", "4"], failed("databases", "can't set immutable config")),
            (&["maxmemory", "1", "MAXMEMORY", "2"], failed("MAXMEMORY", "duplicate parameter")),
            (&["maxmemory", "abc", "bogus", "1"], "ERR Unknown option or number of arguments for CONFIG SET - 'bogus'".into()),
        ];
        for (args, want) in cases {
            let mut argv = vec!["CONFIG", "SET"];
            argv.extend_from_slice(args);
            assert_eq!(&err(&db, &argv), want, "{args:?}");
        }
        // All or nothing: nothing above changed anything.
        assert_eq!(config_get(&db, &["maxmemory", "maxmemory-samples"]), pairs(&[("maxmemory", "0"), ("maxmemory-samples", "5")]));
        // Redis clamps hz into 1..=500.
        assert_eq!(run(&db, &["CONFIG", "SET", "hz", "1000"]), Reply::OK);
        assert_eq!(config_get(&db, &["hz"]), pairs(&[("hz", "500")]));
        assert_eq!(run(&db, &["CONFIG", "SET", "hz", "0", "maxmemory-samples", "100"]), Reply::OK);
        assert_eq!(config_get(&db, &["hz", "maxmemory-samples"]), pairs(&[("hz", "1"), ("maxmemory-samples", "100")]));
    }

    #[test]
    fn config_get_names_and_read_only_parameters() {
        let db = Db::open_in_memory();
        // An exact name answers under the caller's spelling; a pattern under canonical names.
        assert_eq!(config_get(&db, &["MAXMEMORY", "maxmemory"]), pairs(&[("MAXMEMORY", "0")]));
        assert_eq!(config_get(&db, &["Maxmemory-Policy"]), pairs(&[("Maxmemory-Policy", "noeviction")]));
        assert_eq!(config_get(&db, &["MAXMEMORY-P*"]), pairs(&[("maxmemory-policy", "noeviction")]));
        assert_eq!(
            config_get(&db, &["appendonly", "databases", "timeout", "maxclients", "notify-keyspace-events", "maxmemory-clients"]),
            pairs(&[
                ("appendonly", "no"),
                ("databases", "1"),
                ("timeout", "0"),
                ("maxclients", "10000"),
                ("notify-keyspace-events", ""),
                ("maxmemory-clients", "0")
            ])
        );
        assert_eq!(config_get(&db, &["maxmemory-e*"]), pairs(&[("maxmemory-eviction-tenacity", "10")]));
        let dir = tempfile::tempdir().unwrap();
        let file = Db::open(dir.path().join("db"), Default::default()).unwrap();
        assert_eq!(config_get(&file, &["appendonly"]), pairs(&[("appendonly", "yes")]));
        assert_eq!(run(&db, &["SELECT", "1"]), Reply::Error("ERR DB index is out of range".into()));
    }

    fn info(db: &Db, section: &str) -> std::collections::HashMap<String, String> {
        text(&run(db, &["INFO", section])).lines().filter_map(|l| l.split_once(':')).map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn info_sections() {
        let db = Db::open_in_memory();
        let server = info(&db, "server");
        assert_eq!(server["redis_mode"], "standalone");
        assert_eq!(server["process_id"], std::process::id().to_string());
        assert_eq!(server["arch_bits"], usize::BITS.to_string());
        assert!(server["os"].contains(' ') && server["uptime_in_seconds"] == "0" && server["uptime_in_days"] == "0", "{server:?}");
        let clients = info(&db, "clients");
        assert_eq!((clients["connected_clients"].as_str(), clients["blocked_clients"].as_str()), ("1", "0"));
        let other = db.clone();
        let session = db.session();
        assert_eq!(info(&db, "clients")["connected_clients"], "3");
        drop((other, session));
        assert_eq!(info(&db, "clients")["connected_clients"], "1");
        assert_eq!(info(&db, "stats")["total_connections_received"], "3");
        let replication = info(&db, "replication");
        assert_eq!((replication["role"].as_str(), replication["connected_slaves"].as_str()), ("master", "0"));
    }

    #[test]
    fn total_commands_processed_counts_every_path() {
        let db = Db::open_in_memory();
        let count = |db: &Db| info(db, "stats")["total_commands_processed"].parse::<u64>().unwrap();
        let before = count(&db); // counts this INFO
        run(&db, &["SET", "k", "v"]);
        run(&db, &["GET", "k"]);
        run(&db, &["PING"]);
        run(&db, &["MSET", "a", "1", "b", "2"]);
        assert_eq!(run(&db, &["GET", "nope"]), Reply::Nil);
        use crate::Commands;
        db.set(b"x", b"1").unwrap();
        assert_eq!(db.get(b"x").unwrap(), Some(b"1".to_vec()));
        let mut s = db.session();
        s.execute(&[b"MULTI"]);
        s.execute(&[b"INCR", b"x"]);
        s.execute(&[b"EXEC"]);
        // 5 commands, 2 typed calls, MULTI + INCR + EXEC, then this INFO.
        assert_eq!(count(&db) - before, 5 + 2 + 3 + 1);
        assert_eq!(run(&db, &["GET", "x"]), bulk("2"));
        // The typed GET's hit and miss count as keyspace hits and misses too.
        let hits_misses = |db: &Db| {
            let stats = info(db, "stats");
            (stats["keyspace_hits"].parse::<u64>().unwrap(), stats["keyspace_misses"].parse::<u64>().unwrap())
        };
        let (hits, misses) = hits_misses(&db);
        assert_eq!(db.get(b"nope").unwrap(), None);
        assert_eq!(db.get(b"x").unwrap(), Some(b"2".to_vec()));
        assert_eq!(hits_misses(&db), (hits + 1, misses + 1));
        // CONFIG RESETSTAT zeroes the counters, as in Redis.
        run(&db, &["CONFIG", "RESETSTAT"]);
        let stats = info(&db, "stats");
        assert_eq!((stats["total_commands_processed"].as_str(), stats["keyspace_misses"].as_str()), ("1", "0"));
    }
}
