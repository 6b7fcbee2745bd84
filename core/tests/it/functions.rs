//! Redis functions against a real redis-server 7.0: FUNCTION LOAD (every metadata, naming and
//! registration error), FCALL / FCALL_RO (keys, arguments, flags, errors raised at run time and
//! by `redis.call`, read-only globals), FUNCTION LIST / DELETE / FLUSH / STATS / KILL, and DUMP
//! / RESTORE payloads moved both ways between nestdb and redis-server. Then durability: libraries
//! survive a reopen through the log, through a snapshot, and a snapshot followed by more changes.

use crate::common::{map_as_pairs, Pair};
use nestdb::{Db, Options, Reply};

const LIB: &str = "#!lua name=mylib
local function hello(keys, args) return 'hi ' .. (args[1] or '') end
redis.register_function('hello', hello)
redis.register_function{function_name='ro', callback=function(k, a) return redis.call('GET', k[1]) end, flags={'no-writes'}, description='read it'}
redis.register_function('setit', function(k, a) return redis.call('SET', k[1], a[1]) end)
redis.register_function('glob', function(k, a) x = 1 return 1 end)
redis.register_function('strs', function(k, a) return string.format('%d-%s', #k, table.concat(a, ',')) end)
redis.register_function('err', function(k, a) return redis.call('INCR', k[1]) end)
redis.register_function('rt', function(k, a) return nil + 1 end)
redis.register_function('missing', function(k, a) return undefined_thing end)
redis.register_function{function_name='rowrite', callback=function(k, a) return redis.call('SET', k[1], 'x') end, flags={'no-writes'}}
redis.register_function('pc', function(k, a) local r = redis.pcall('INCR', k[1]) return r['err'] end)
redis.register_function('tbl', function(k, a) return {1, 'two', {3}} end)
redis.register_function('st', function(k, a) return redis.status_reply('FINE') end)
redis.register_function('er', function(k, a) return redis.error_reply('MY own') end)
";

/// Library codes FUNCTION LOAD refuses, in Redis's order of checks: metadata, names, engines,
/// compile and run errors, and every `redis.register_function` argument error.
const LOAD_ERRORS: &[&str] = &[
    "#!lua name=x\nx = 5",
    "#!lua name=x\nstring.format('a')",
    "#!lua name=x\nredis.call('ping')",
    "#!lua name=x\nlocal t = nil; t.x = 1",
    "#!lua name=x\nreturn 1",
    "#!lua name=x\n",
    "#!lua name=x",
    "#!lua\nx",
    "#!lua name=a-b\nx",
    "#!lua name=ok foo=bar\nx",
    "#!js name=ok\nx",
    "#! lua name=x\n",
    "#!lua name=x name=y\n",
    "#!lua name=\"a b\"\n",
    "#!lua name=\"unterminated\n",
    "no shebang",
    "#!lua name=x\nsyntax error here",
    "#!lua name=y\nredis.register_function('f', 5)",
    "#!lua name=y\nredis.register_function()",
    "#!lua name=y\nredis.register_function('a b', function() end)",
    "#!lua name=y\nredis.register_function('f', function() end) redis.register_function('f', function() end)",
    "#!lua name=y\nredis.register_function{function_name='f', callback=function() end, flags={'bogus'}}",
    "#!lua name=y\nredis.register_function{function_name='f', callback=function() end, flags='no-writes'}",
    "#!lua name=y\nredis.register_function{function_name='f', callback=function() end, extra=1}",
    "#!lua name=y\nredis.register_function{callback=function() end}",
    "#!lua name=y\nredis.register_function{function_name='f'}",
    "#!lua name=y\nredis.register_function({function_name='f', callback=function() end}, 1, 2)",
    "#!lua name=y\nredis.register_function(5)",
    "#!lua name=y\nredis.register_function{function_name='f', callback=5}",
    "#!lua name=y\nredis.register_function{function_name={}, callback=function() end}",
    "#!lua name=y\nredis.register_function{function_name='f', callback=function() end, description={}}",
    "#!lua name=y\nredis.register_function{function_name='f', callback=function() end, flags={'no-writes', 5}}",
];

/// FUNCTION LIST of one library, with its functions in name order (Redis lists them in its
/// hash table's order, which is not nestdb's).
fn list_sorted(r: Reply) -> Reply {
    let Reply::Array(libs) = r else { return r };
    Reply::Array(
        libs.into_iter()
            .map(|lib| {
                let Reply::Array(fields) = map_as_pairs(lib) else { panic!("a library is a map") };
                Reply::Array(
                    fields
                        .into_iter()
                        .map(|kv| match kv {
                            Reply::Array(mut kv) if kv[0] == Reply::Bulk(b"functions".to_vec()) => {
                                if let Reply::Array(fs) = &mut kv[1] {
                                    let mut v: Vec<Reply> = fs.drain(..).map(map_as_pairs).collect();
                                    v.sort_by_key(|f| format!("{f:?}"));
                                    *fs = v;
                                }
                                Reply::Array(kv)
                            }
                            other => other,
                        })
                        .collect(),
                )
            })
            .collect(),
    )
}

#[test]
fn functions_match_redis() {
    let Some(mut p) = Pair::start("functions_match_redis") else { return };
    let cases: Vec<Vec<&[u8]>> = vec![
        vec![b"FUNCTION", b"FLUSH"],
        vec![b"FUNCTION", b"LOAD", LIB.as_bytes()],
        vec![b"FCALL", b"hello", b"0", b"bob"],
        vec![b"FCALL", b"HELLO", b"0"],
        vec![b"FCALL", b"setit", b"1", b"k", b"v"],
        vec![b"FCALL", b"ro", b"1", b"k"],
        vec![b"FCALL_RO", b"ro", b"1", b"k"],
        vec![b"FCALL_RO", b"setit", b"1", b"k", b"v"],
        vec![b"FCALL", b"rowrite", b"1", b"k"],
        vec![b"FCALL", b"glob", b"0"],
        vec![b"FCALL", b"strs", b"2", b"a", b"b", b"c", b"d"],
        vec![b"SET", b"nonnum", b"abc"],
        vec![b"FCALL", b"err", b"1", b"nonnum"],
        vec![b"FCALL", b"pc", b"1", b"nonnum"],
        vec![b"FCALL", b"rt", b"0"],
        vec![b"FCALL", b"missing", b"0"],
        vec![b"FCALL", b"tbl", b"0"],
        vec![b"FCALL", b"st", b"0"],
        vec![b"FCALL", b"er", b"0"],
        vec![b"FCALL", b"nope", b"0"],
        vec![b"FCALL", b"hello", b"x"],
        vec![b"FCALL", b"hello", b"2", b"a"],
        vec![b"FCALL", b"hello", b"-1"],
        vec![b"FCALL", b"hello"],
        vec![b"FCALL_RO", b"nope", b"0"],
        vec![b"FUNCTION", b"STATS"],
        vec![b"FUNCTION", b"KILL"],
        vec![b"FUNCTION", b"KILL", b"x"],
        vec![b"SCRIPT", b"KILL"],
        // Loads that collide, and argument errors (the refused codes: LOAD_ERRORS).
        vec![b"FUNCTION", b"LOAD", b"#!lua name=mylib\nredis.register_function('other', function() return 1 end)"],
        vec![b"FUNCTION", b"LOAD", b"#!lua name=other\nredis.register_function('HELLO', function() return 1 end)"],
        vec![b"FUNCTION", b"LOAD", b"BOGUS", b"#!lua name=x\n"],
        vec![b"FUNCTION", b"LOAD"],
        vec![b"FUNCTION", b"LOAD", b"REPLACE"],
        vec![b"FUNCTION", b"LIST", b"LIBRARYNAME", b"y"],
        // Replacing keeps or restores the library whole.
        vec![b"FUNCTION", b"LOAD", b"REPLACE", b"#!lua name=mylib\nsyntax error"],
        vec![b"FCALL", b"hello", b"0", b"still"],
        vec![b"FUNCTION", b"LOAD", b"replace", b"#!LUA name=mylib\nredis.register_function{function_name='hello', callback=function(k, a) return 'v2' end, flags={'NO-WRITES', 'allow-oom', 'allow-stale', 'no-cluster', 'allow-cross-slot-keys'}, description='second'}"],
        vec![b"FCALL", b"hello", b"0"],
        vec![b"FCALL_RO", b"hello", b"0"],
        vec![b"FCALL", b"setit", b"1", b"k", b"v"],
        vec![b"FUNCTION", b"LIST"],
        vec![b"FUNCTION", b"LIST", b"WITHCODE"],
        vec![b"FUNCTION", b"LIST", b"LIBRARYNAME", b"my*", b"WITHCODE"],
        vec![b"FUNCTION", b"LIST", b"libraryname", b"MY*"],
        vec![b"FUNCTION", b"LIST", b"LIBRARYNAME", b"zz*"],
        vec![b"FUNCTION", b"LIST", b"LIBRARYNAME"],
        vec![b"FUNCTION", b"LIST", b"WITHCODE", b"WITHCODE"],
        vec![b"FUNCTION", b"LIST", b"BOGUS"],
        vec![b"FUNCTION", b"STATS"],
        vec![b"FUNCTION", b"STATS", b"x"],
        vec![b"FUNCTION", b"DELETE", b"nope"],
        vec![b"FUNCTION", b"DELETE"],
        vec![b"FUNCTION", b"DELETE", b"mylib"],
        vec![b"FCALL", b"hello", b"0"],
        vec![b"FUNCTION", b"LIST"],
        vec![b"FUNCTION", b"LOAD", b"#!lua name=a\nredis.register_function('fa', function() return 'a' end)"],
        vec![b"FUNCTION", b"FLUSH", b"BOGUS"],
        vec![b"FUNCTION", b"FLUSH", b"SYNC", b"x"],
        vec![b"FUNCTION", b"FLUSH", b"async"],
        vec![b"FCALL", b"fa", b"0"],
        vec![b"FUNCTION", b"FLUSH"],
        vec![b"FUNCTION", b"RESTORE", b"garbage"],
        vec![b"FUNCTION", b"RESTORE", b"x", b"BADPOLICY"],
        vec![b"FUNCTION", b"RESTORE", b"x", b"FLUSH", b"extra"],
        vec![b"FUNCTION", b"BOGUS"],
        vec![b"FUNCTION", b"HELP", b"x"],
        vec![b"EVAL", b"return redis.call('FUNCTION', 'LIST')", b"0"],
        vec![b"EVAL", b"return redis.call('FCALL', 'x', 0)", b"0"],
        // Numbers out of the integer range, and double replies.
        vec![b"EVAL", b"return {0/0, 1/0, -1/0, 1e30, -1e30, 9.2e18, -9.3e18, 3.99, -3.99}", b"0"],
        vec![b"EVAL", b"return {double=3.5}", b"0"],
        vec![b"EVAL", b"return {double='x', 1}", b"0"],
        vec![b"EVAL", b"return {ok='fine', double=2}", b"0"],
        // What scripts may not call: blocking commands (XREAD only with BLOCK), CONFIG,
        // subscriptions.
        vec![b"EVAL", b"return redis.call('BLPOP', 'l', 0)", b"0"],
        vec![b"EVAL", b"return redis.pcall('BZPOPMIN', 'z', 0)", b"0"],
        vec![b"EVAL", b"return redis.call('xread', 'BLOCK', '0', 'STREAMS', 's', '$')", b"0"],
        vec![b"EVAL", b"return redis.call('XREADGROUP', 'GROUP', 'g', 'c', 'BLOCK', '0', 'STREAMS', 's', '>')", b"0"],
        vec![b"EVAL", b"return redis.call('XREAD', 'COUNT', '1', 'STREAMS', 's', '0')", b"0"],
        vec![b"EVAL", b"return redis.call('XREAD', 'STREAMS', 'BLOCK', '0')", b"0"],
        vec![b"EVAL", b"return redis.pcall('CONFIG', 'GET', 'maxmemory')", b"0"],
        vec![b"EVAL", b"return redis.pcall('SUBSCRIBE', 'x')", b"0"],
    ];
    // The refused loads change nothing, so where they run among the cases does not matter.
    let load_errors = LOAD_ERRORS.iter().map(|code| vec![&b"FUNCTION"[..], b"LOAD", code.as_bytes()]);
    for argv in &cases.into_iter().chain(load_errors).collect::<Vec<_>>() {
        let (ours, theirs) = p.both(argv);
        let (ours, theirs) =
            if argv.len() > 1 && argv[1].eq_ignore_ascii_case(b"LIST") { (list_sorted(ours), list_sorted(theirs)) } else { (ours, theirs) };
        assert_eq!(ours, theirs, "{}", crate::common::show_argv(argv));
    }
}

/// DUMP payloads move between nestdb and redis-server both ways (redis-server compresses the
/// code with LZF; nestdb writes it plain), with every restore policy.
#[test]
fn function_payloads_cross_between_nestdb_and_redis() {
    let Some(mut p) = Pair::start("function_payloads_cross_between_nestdb_and_redis") else { return };
    let long =
        format!("#!lua name=big\n{}redis.register_function('big', function() return 'big' end)", "-- padding comment line\n".repeat(40));
    let small = "#!lua name=small\nredis.register_function('small', function() return 'small' end)";
    p.run_argv(&[b"FUNCTION", b"FLUSH"]);
    p.run_argv(&[b"FUNCTION", b"LOAD", long.as_bytes()]);
    // redis-server's payload into nestdb, and nestdb's into redis-server.
    let Reply::Bulk(theirs) = p.redis.cmd(&[&b"FUNCTION"[..], b"DUMP"]) else { panic!("DUMP") };
    let Reply::Bulk(ours) = p.db.execute(&[b"FUNCTION", b"DUMP"]) else { panic!("DUMP") };
    assert!(theirs.len() < ours.len(), "redis-server compresses the code: {} vs {} bytes", theirs.len(), ours.len());
    for (payload, name) in [(&theirs, "redis-server's"), (&ours, "nestdb's")] {
        for policy in [&b"FLUSH"[..], b"REPLACE"] {
            let argv: Vec<&[u8]> = vec![b"FUNCTION", b"RESTORE", payload, policy];
            assert_eq!(p.run_argv(&argv), Reply::OK, "{name} payload, {}", String::from_utf8_lossy(policy));
        }
        let argv: Vec<&[u8]> = vec![b"FUNCTION", b"RESTORE", payload];
        let r = p.run_argv(&argv);
        assert_eq!(r, Reply::Error("ERR Library big already exists".into()), "{name}");
        p.run_argv(&[b"FCALL", b"big", b"0"]);
        p.run_argv(&[b"FUNCTION", b"LIST", b"WITHCODE"]);
    }
    // APPEND next to another library; a function collision; a damaged payload.
    p.run_argv(&[b"FUNCTION", b"LOAD", small.as_bytes()]);
    let Reply::Bulk(both) = p.db.execute(&[b"FUNCTION", b"DUMP"]) else { panic!("DUMP") };
    p.run_argv(&[b"FUNCTION", b"DELETE", b"small"]);
    let clash = "#!lua name=clash\nredis.register_function('small', function() return 'clash' end)";
    p.run_argv(&[b"FUNCTION", b"LOAD", clash.as_bytes()]);
    let argv: Vec<&[u8]> = vec![b"FUNCTION", b"RESTORE", &both, b"REPLACE"];
    p.run_argv(&argv);
    p.run_argv(&[b"FCALL", b"small", b"0"]);
    p.run_argv(&[b"FUNCTION", b"DELETE", b"clash"]);
    p.run_argv(&argv);
    p.run_argv(&[b"FCALL", b"small", b"0"]);
    let mut damaged = both.clone();
    damaged[5] ^= 0x20;
    p.run_argv(&[b"FUNCTION", b"RESTORE", &damaged]);
    let mut wrong_type = both.clone();
    wrong_type[0] = 0;
    p.run_argv(&[b"FUNCTION", b"RESTORE", &wrong_type]);
    // An empty registry dumps to just the footer.
    p.run_argv(&[b"FUNCTION", b"FLUSH"]);
    p.run_argv(&[b"FUNCTION", b"DUMP"]);
}

fn fcall(db: &Db, name: &str, keys: &[&str], args: &[&str]) -> Reply {
    let n = keys.len().to_string();
    let mut argv: Vec<&[u8]> = vec![b"FCALL", name.as_bytes(), n.as_bytes()];
    argv.extend(keys.iter().map(|k| k.as_bytes()));
    argv.extend(args.iter().map(|a| a.as_bytes()));
    db.execute(&argv)
}

/// Libraries are part of the database: they come back after a reopen from the log alone, from
/// a snapshot, and from a snapshot plus later log records (a deletion and a replacement).
#[test]
fn functions_survive_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let counter =
        "#!lua name=counter\nredis.register_function('bump', function(keys, args) return redis.call('INCRBY', keys[1], args[1]) end)";
    let other = "#!lua name=other\nredis.register_function{function_name='peek', callback=function(keys) return redis.call('GET', keys[1]) end, flags={'no-writes'}}";
    {
        let db = Db::open(dir.path(), Options::default()).expect("open");
        assert_eq!(db.execute(&[b"FUNCTION", b"LOAD", counter.as_bytes()]), Reply::Bulk(b"counter".to_vec()));
        assert_eq!(fcall(&db, "bump", &["n"], &["5"]), Reply::Int(5));
    }
    {
        let db = Db::open(dir.path(), Options::default()).expect("reopen from the log");
        assert_eq!(fcall(&db, "bump", &["n"], &["2"]), Reply::Int(7));
        assert_eq!(db.execute(&[b"FUNCTION", b"LOAD", other.as_bytes()]), Reply::Bulk(b"other".to_vec()));
        assert_eq!(db.execute(&[b"SAVE"]), Reply::OK);
        // After the snapshot: one library goes, the other is replaced.
        assert_eq!(db.execute(&[b"FUNCTION", b"DELETE", b"other"]), Reply::OK);
        let v2 = counter.replace("INCRBY', keys[1], args[1]", "INCRBY', keys[1], args[1] * 10");
        assert_eq!(db.execute(&[b"FUNCTION", b"LOAD", b"REPLACE", v2.as_bytes()]), Reply::Bulk(b"counter".to_vec()));
        assert_eq!(fcall(&db, "bump", &["n"], &["1"]), Reply::Int(17));
    }
    {
        let db = Db::open(dir.path(), Options::default()).expect("reopen from snapshot + log");
        assert_eq!(fcall(&db, "peek", &["n"], &[]), Reply::Error("ERR Function not found".into()));
        assert_eq!(fcall(&db, "bump", &["n"], &["1"]), Reply::Int(27));
        assert_eq!(db.execute(&[b"FUNCTION", b"LOAD", other.as_bytes()]), Reply::Bulk(b"other".to_vec()));
        assert_eq!(db.execute(&[b"SAVE"]), Reply::OK);
    }
    let db = Db::open(dir.path(), Options::default()).expect("reopen from the snapshot alone");
    assert_eq!(db.execute(&[b"FCALL_RO", b"peek", b"1", b"n"]), Reply::Bulk(b"27".to_vec()));
    let Reply::Map(stats) = db.execute(&[b"FUNCTION", b"STATS"]) else { panic!("stats") };
    assert_eq!(
        format!("{:?}", stats[1].1),
        format!(
            "{:?}",
            Reply::Map(vec![(
                Reply::Bulk(b"LUA".to_vec()),
                Reply::Map(vec![
                    (Reply::Bulk(b"libraries_count".to_vec()), Reply::Int(2)),
                    (Reply::Bulk(b"functions_count".to_vec()), Reply::Int(2))
                ])
            )])
        )
    );
}

/// FUNCTION KILL stops a read-only function; SCRIPT KILL refuses to (and the other way round).
#[test]
fn function_kill_stops_a_running_function() {
    let db = Db::open_in_memory();
    let lib =
        "#!lua name=spin\nredis.register_function{function_name='spin', callback=function() while true do end end, flags={'no-writes'}}";
    assert_eq!(db.execute(&[b"FUNCTION", b"LOAD", lib.as_bytes()]), Reply::Bulk(b"spin".to_vec()));
    let other = db.clone();
    let killer = std::thread::spawn(move || {
        let mut seen_stats = false;
        loop {
            std::thread::sleep(std::time::Duration::from_millis(20));
            if let Reply::Map(m) = other.execute(&[b"FUNCTION", b"STATS"]) {
                if let Reply::Map(running) = &m[0].1 {
                    assert_eq!(running[0].1, Reply::Bulk(b"spin".to_vec()));
                    seen_stats = true;
                }
            }
            if seen_stats {
                assert_eq!(
                    other.execute(&[b"SCRIPT", b"KILL"]),
                    Reply::Error("BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.".into())
                );
                if other.execute(&[b"FUNCTION", b"KILL"]) == Reply::OK {
                    return;
                }
            }
        }
    });
    let reply = db.execute(&[b"FCALL", b"spin", b"0"]);
    killer.join().unwrap();
    assert!(matches!(&reply, Reply::Error(e) if e.starts_with("ERR Script killed by user")), "{reply:?}");
    assert_eq!(db.execute(&[b"FUNCTION", b"KILL"]), Reply::Error("NOTBUSY No scripts in execution right now.".into()));
}
