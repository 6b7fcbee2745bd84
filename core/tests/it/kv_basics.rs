//! Strings, keys, TTLs and transactions through the public API, checked against Redis 7's
//! documented replies and error texts.

use nestdb::{Commands, Db, Reply};

fn db() -> Db {
    Db::open_in_memory()
}

fn run(db: &Db, cmd: &str) -> Reply {
    let parts: Vec<&[u8]> = cmd.split(' ').map(str::as_bytes).collect();
    db.execute(&parts)
}

fn bulk(s: &str) -> Reply {
    Reply::Bulk(s.as_bytes().to_vec())
}

fn err(s: &str) -> Reply {
    Reply::Error(s.to_string().into())
}

fn status(s: &'static str) -> Reply {
    Reply::Status(s.into())
}

#[test]
fn set_options() {
    let d = db();
    assert_eq!(run(&d, "SET k v"), Reply::OK);
    assert_eq!(run(&d, "SET k v2 NX"), Reply::Nil);
    assert_eq!(run(&d, "SET k v2 XX GET"), bulk("v"));
    assert_eq!(run(&d, "SET missing v XX"), Reply::Nil);
    assert_eq!(run(&d, "SET k v NX XX"), err("ERR syntax error"));
    assert_eq!(run(&d, "SET k v EX 10 PX 10"), err("ERR syntax error"));
    assert_eq!(run(&d, "SET k v EX 10 KEEPTTL"), err("ERR syntax error"));
    assert_eq!(run(&d, "SET k v EX 0"), err("ERR invalid expire time in 'set' command"));
    assert_eq!(run(&d, "SET k v EX -5"), err("ERR invalid expire time in 'set' command"));
    assert_eq!(run(&d, "SET k v EX abc"), err("ERR value is not an integer or out of range"));
    assert_eq!(run(&d, "SET k v EX"), err("ERR syntax error"));
    // Repeating the same expiry keyword is allowed; the last one wins.
    assert_eq!(run(&d, "SET k v EX 10 EX 20"), Reply::OK);
    assert_eq!(run(&d, "TTL k"), Reply::Int(20));
    assert_eq!(run(&d, "SET k v2 KEEPTTL"), Reply::OK);
    assert_eq!(run(&d, "TTL k"), Reply::Int(20));
    assert_eq!(run(&d, "SET k v3"), Reply::OK);
    assert_eq!(run(&d, "TTL k"), Reply::Int(-1));
    assert_eq!(run(&d, "SET k v PXAT 1"), Reply::OK);
    assert_eq!(run(&d, "EXISTS k"), Reply::Int(0));
    run(&d, "RPUSH l a");
    assert_eq!(run(&d, "SET l v GET").error_text(), Some("WRONGTYPE Operation against a key holding the wrong kind of value"));
    assert_eq!(run(&d, "TYPE l"), status("list"));
    assert_eq!(run(&d, "SET l v"), Reply::OK);
    assert_eq!(run(&d, "TYPE l"), status("string"));
}

#[test]
fn string_commands() {
    let d = db();
    assert_eq!(run(&d, "GETSET k a"), Reply::Nil);
    assert_eq!(run(&d, "GETSET k b"), bulk("a"));
    assert_eq!(run(&d, "SETNX k c"), Reply::Int(0));
    assert_eq!(run(&d, "SETNX n c"), Reply::Int(1));
    assert_eq!(run(&d, "GETDEL n"), bulk("c"));
    assert_eq!(run(&d, "GETDEL n"), Reply::Nil);
    assert_eq!(run(&d, "MSET a 1 b 2"), Reply::OK);
    assert_eq!(run(&d, "MSET a 1 b"), err("ERR wrong number of arguments for 'mset' command"));
    assert_eq!(run(&d, "MGET a b zz"), Reply::Array(vec![bulk("1"), bulk("2"), Reply::Nil]));
    assert_eq!(run(&d, "MSETNX a 1 c 3"), Reply::Int(0));
    assert_eq!(run(&d, "EXISTS c"), Reply::Int(0));
    assert_eq!(run(&d, "MSETNX c 3 e 4"), Reply::Int(1));
    assert_eq!(run(&d, "APPEND s Hello"), Reply::Int(5));
    assert_eq!(run(&d, "APPEND s _World"), Reply::Int(11));
    assert_eq!(run(&d, "STRLEN s"), Reply::Int(11));
    assert_eq!(run(&d, "STRLEN nope"), Reply::Int(0));
    assert_eq!(run(&d, "GETRANGE s 0 4"), bulk("Hello"));
    assert_eq!(run(&d, "GETRANGE s -5 -1"), bulk("World"));
    assert_eq!(run(&d, "GETRANGE s 0 -100"), bulk("H"));
    assert_eq!(run(&d, "GETRANGE s -1 -5"), bulk(""));
    assert_eq!(run(&d, "GETRANGE s 100 200"), bulk(""));
    assert_eq!(run(&d, "GETRANGE nope 0 -1"), bulk(""));
    assert_eq!(run(&d, "SETRANGE s 6 Redis"), Reply::Int(11));
    assert_eq!(run(&d, "GET s"), bulk("Hello_Redis"));
    assert_eq!(run(&d, "SETRANGE pad 3 x"), Reply::Int(4));
    assert_eq!(d.get(b"pad").unwrap().unwrap(), b"\0\0\0x");
    assert_eq!(run(&d, "SETRANGE empty 5 "), Reply::Int(0));
    assert_eq!(run(&d, "EXISTS empty"), Reply::Int(0));
    assert_eq!(run(&d, "SETRANGE s -1 x"), err("ERR offset is out of range"));
    assert_eq!(run(&d, "SETRANGE s 536870912 x"), err("ERR string exceeds maximum allowed size (proto-max-bulk-len)"));
}

#[test]
fn counters() {
    let d = db();
    assert_eq!(run(&d, "INCR c"), Reply::Int(1));
    assert_eq!(run(&d, "INCRBY c 10"), Reply::Int(11));
    assert_eq!(run(&d, "DECR c"), Reply::Int(10));
    assert_eq!(run(&d, "DECRBY c 20"), Reply::Int(-10));
    assert_eq!(run(&d, "SET c 9223372036854775807"), Reply::OK);
    assert_eq!(run(&d, "INCR c"), err("ERR increment or decrement would overflow"));
    assert_eq!(run(&d, "DECRBY c -9223372036854775808"), err("ERR decrement would overflow"));
    assert_eq!(run(&d, "SET c 01"), Reply::OK);
    assert_eq!(run(&d, "INCR c"), err("ERR value is not an integer or out of range"));
    assert_eq!(d.execute(&[b"SET", b"c", b" 1"]), Reply::OK);
    assert_eq!(run(&d, "INCR c"), err("ERR value is not an integer or out of range"));
    assert_eq!(run(&d, "INCRBY c x"), err("ERR value is not an integer or out of range"));
    assert_eq!(run(&d, "SET f 10.50"), Reply::OK);
    assert_eq!(run(&d, "INCRBYFLOAT f 0.1"), bulk("10.6"));
    assert_eq!(run(&d, "INCRBYFLOAT f -5"), bulk("5.6"));
    assert_eq!(run(&d, "SET f 5.0e3"), Reply::OK);
    assert_eq!(run(&d, "INCRBYFLOAT f 2.0e2"), bulk("5200"));
    assert_eq!(run(&d, "INCRBYFLOAT g 0.1"), bulk("0.1"));
    assert_eq!(run(&d, "INCRBYFLOAT g 0.2"), bulk("0.3"));
    assert_eq!(run(&d, "INCRBYFLOAT g abc"), err("ERR value is not a valid float"));
    assert_eq!(run(&d, "INCRBYFLOAT g inf"), err("ERR increment would produce NaN or Infinity"));
    assert_eq!(run(&d, "GET g"), bulk("0.3"));
    // Counters keep the TTL.
    assert_eq!(run(&d, "SET t 1 EX 100"), Reply::OK);
    assert_eq!(run(&d, "INCR t"), Reply::Int(2));
    assert_eq!(run(&d, "TTL t"), Reply::Int(100));
    run(&d, "LPUSH l x");
    assert_eq!(run(&d, "INCR l").error_text(), Some("WRONGTYPE Operation against a key holding the wrong kind of value"));
}

#[test]
fn ttl_family() {
    let d = db();
    assert_eq!(run(&d, "TTL nope"), Reply::Int(-2));
    assert_eq!(run(&d, "EXPIRE nope 10"), Reply::Int(0));
    run(&d, "SET k v");
    assert_eq!(run(&d, "TTL k"), Reply::Int(-1));
    assert_eq!(run(&d, "EXPIRE k 100 XX"), Reply::Int(0));
    assert_eq!(run(&d, "EXPIRE k 100 GT"), Reply::Int(0));
    assert_eq!(run(&d, "EXPIRE k 100 LT"), Reply::Int(1));
    assert_eq!(run(&d, "EXPIRE k 50 NX"), Reply::Int(0));
    assert_eq!(run(&d, "EXPIRE k 200 GT"), Reply::Int(1));
    assert_eq!(run(&d, "EXPIRE k 100 GT"), Reply::Int(0));
    assert_eq!(run(&d, "TTL k"), Reply::Int(200));
    assert!(matches!(run(&d, "PTTL k"), Reply::Int(ms) if ms > 199_000 && ms <= 200_000));
    assert_eq!(run(&d, "EXPIRE k 10 NX XX"), err("ERR NX and XX, GT or LT options at the same time are not compatible"));
    assert_eq!(run(&d, "EXPIRE k 10 GT LT"), err("ERR GT and LT options at the same time are not compatible"));
    assert_eq!(run(&d, "EXPIRE k 10 FOO"), err("ERR Unsupported option FOO"));
    assert_eq!(run(&d, "EXPIRE k 99999999999999999"), err("ERR invalid expire time in 'expire' command"));
    assert_eq!(run(&d, "EXPIREAT k 4102444800"), Reply::Int(1));
    assert_eq!(run(&d, "EXPIRETIME k"), Reply::Int(4102444800));
    assert_eq!(run(&d, "PEXPIRETIME k"), Reply::Int(4102444800000));
    assert_eq!(run(&d, "PERSIST k"), Reply::Int(1));
    assert_eq!(run(&d, "PERSIST k"), Reply::Int(0));
    assert_eq!(run(&d, "EXPIRETIME k"), Reply::Int(-1));
    // A time in the past deletes the key.
    assert_eq!(run(&d, "PEXPIREAT k 1"), Reply::Int(1));
    assert_eq!(run(&d, "EXISTS k"), Reply::Int(0));
    run(&d, "SET k v");
    assert_eq!(run(&d, "EXPIRE k -1"), Reply::Int(1));
    assert_eq!(run(&d, "GET k"), Reply::Nil);
    // GETEX
    run(&d, "SET g v");
    assert_eq!(run(&d, "GETEX g EX 100"), bulk("v"));
    assert_eq!(run(&d, "TTL g"), Reply::Int(100));
    assert_eq!(run(&d, "GETEX g PERSIST"), bulk("v"));
    assert_eq!(run(&d, "TTL g"), Reply::Int(-1));
    assert_eq!(run(&d, "GETEX g PERSIST EX 10"), err("ERR syntax error"));
    assert_eq!(run(&d, "GETEX g KEEPTTL"), err("ERR syntax error"));
    assert_eq!(run(&d, "GETEX nope EX 10"), Reply::Nil);
    // Redis checks syntax, then the key, then the expiry value.
    assert_eq!(run(&d, "GETEX nope EX 0"), Reply::Nil);
    assert_eq!(run(&d, "GETEX g EX 0"), err("ERR invalid expire time in 'getex' command"));
    assert_eq!(run(&d, "SET k v EX abc PX 100"), err("ERR syntax error"));
    assert_eq!(run(&d, "SET k v PX 0 PX 100"), Reply::OK);
    assert_eq!(run(&d, "SET k v EX 0 KEEPTTL"), err("ERR syntax error"));
    // A stored expiry near i64::MAX rounds instead of overflowing.
    assert_eq!(run(&d, "PEXPIREAT k 9223372036854775807"), Reply::Int(1));
    assert_eq!(run(&d, "EXPIRETIME k"), Reply::Int(9223372036854776));
}

#[test]
fn keys_expire_on_access_and_in_background() {
    let d = db();
    run(&d, "SET a 1 PX 30");
    run(&d, "SET b 1 PX 30");
    run(&d, "SET c 1");
    assert_eq!(run(&d, "DBSIZE"), Reply::Int(3));
    std::thread::sleep(std::time::Duration::from_millis(60));
    // Invisible to every command as soon as the time has come...
    assert_eq!(run(&d, "GET a"), Reply::Nil);
    assert_eq!(run(&d, "EXISTS a b"), Reply::Int(0));
    assert_eq!(run(&d, "KEYS *"), Reply::Array(vec![bulk("c")]));
    // ...and reclaimed without being touched (sampling expirer).
    d.expire_cycle();
    assert_eq!(run(&d, "DBSIZE"), Reply::Int(1));
    let info = run(&d, "INFO stats");
    let text = String::from_utf8(info.into_bytes().unwrap()).unwrap();
    assert!(text.contains("expired_keys:2"), "{text}");
}

#[test]
fn key_commands() {
    let d = db();
    run(&d, "MSET a 1 b 2 c 3");
    assert_eq!(run(&d, "EXISTS a a zz"), Reply::Int(2));
    assert_eq!(run(&d, "DEL a zz"), Reply::Int(1));
    assert_eq!(run(&d, "UNLINK b"), Reply::Int(1));
    assert_eq!(run(&d, "TYPE b"), status("none"));
    assert_eq!(run(&d, "RENAME zz x"), err("ERR no such key"));
    run(&d, "EXPIRE c 100");
    assert_eq!(run(&d, "RENAME c d"), Reply::OK);
    assert_eq!(run(&d, "TTL d"), Reply::Int(100));
    assert_eq!(run(&d, "RENAME d d"), Reply::OK);
    run(&d, "SET e 5");
    assert_eq!(run(&d, "RENAMENX d e"), Reply::Int(0));
    assert_eq!(run(&d, "RENAMENX d f"), Reply::Int(1));
    assert_eq!(run(&d, "COPY f g"), Reply::Int(1));
    assert_eq!(run(&d, "TTL g"), Reply::Int(100));
    assert_eq!(run(&d, "COPY f e"), Reply::Int(0));
    assert_eq!(run(&d, "COPY f e REPLACE"), Reply::Int(1));
    assert_eq!(run(&d, "GET e"), bulk("3"));
    assert_eq!(run(&d, "COPY f f"), err("ERR source and destination objects are the same"));
    assert_eq!(run(&d, "COPY f h DB 1"), err("ERR DB index is out of range"));
    assert_eq!(run(&d, "TOUCH e f nope"), Reply::Int(2));
    assert_eq!(run(&d, "OBJECT ENCODING e"), bulk("int"));
    assert_eq!(run(&d, "OBJECT ENCODING nope"), Reply::Nil);
    assert_eq!(run(&d, "OBJECT FOO e"), err("ERR unknown subcommand 'FOO'. Try OBJECT HELP."));
    assert_eq!(run(&d, "OBJECT ENCODING"), err("ERR wrong number of arguments for 'object|encoding' command"));
    assert_eq!(run(&d, "FLUSHDB"), Reply::OK);
    assert_eq!(run(&d, "DBSIZE"), Reply::Int(0));
    assert_eq!(run(&d, "RANDOMKEY"), Reply::Nil);
    run(&d, "SET only 1");
    assert_eq!(run(&d, "RANDOMKEY"), bulk("only"));
    assert_eq!(run(&d, "NOPE a b"), err("ERR unknown command 'NOPE', with args beginning with: 'a' 'b' "));
    assert_eq!(run(&d, "GET"), err("ERR wrong number of arguments for 'get' command"));
    assert_eq!(run(&d, "get a b"), err("ERR wrong number of arguments for 'get' command"));
}

#[test]
fn keys_and_scan_with_patterns() {
    let d = db();
    for i in 0..2000 {
        run(&d, &format!("SET user:{i} x"));
        if i % 2 == 0 {
            run(&d, &format!("RPUSH list:{i} x"));
        }
    }
    let Reply::Array(keys) = run(&d, "KEYS user:1?") else { panic!() };
    assert_eq!(keys.len(), 10);
    let mut seen = std::collections::HashSet::new();
    let mut cursor = "0".to_string();
    loop {
        let Reply::Array(parts) = run(&d, &format!("SCAN {cursor} MATCH user:* COUNT 50")) else { panic!() };
        let Reply::Bulk(c) = &parts[0] else { panic!() };
        let Reply::Array(items) = &parts[1] else { panic!() };
        for it in items {
            seen.insert(it.as_bytes().unwrap().to_vec());
        }
        cursor = String::from_utf8(c.clone()).unwrap();
        if cursor == "0" {
            break;
        }
    }
    assert_eq!(seen.len(), 2000);
    let mut lists = 0;
    let mut cursor = "0".to_string();
    loop {
        let Reply::Array(parts) = run(&d, &format!("SCAN {cursor} TYPE list COUNT 1000")) else { panic!() };
        lists += parts[1].as_array().unwrap().len();
        cursor = String::from_utf8(parts[0].as_bytes().unwrap().to_vec()).unwrap();
        if cursor == "0" {
            break;
        }
    }
    assert_eq!(lists, 1000);
    assert_eq!(run(&d, "SCAN x"), err("ERR invalid cursor"));
    assert_eq!(run(&d, "SCAN 0 COUNT 0"), err("ERR syntax error"));
}

#[test]
fn multi_exec_watch() {
    let d = db();
    let mut s = d.session();
    assert_eq!(s.execute(&[b"EXEC"]), err("ERR EXEC without MULTI"));
    assert_eq!(s.execute(&[b"DISCARD"]), err("ERR DISCARD without MULTI"));
    assert_eq!(s.execute(&[b"MULTI"]), Reply::OK);
    assert_eq!(s.execute(&[b"MULTI"]), err("ERR MULTI calls can not be nested"));
    assert_eq!(s.execute(&[b"SET", b"a", b"1"]), status("QUEUED"));
    assert_eq!(s.execute(&[b"LPUSH", b"a", b"x"]), status("QUEUED"));
    assert_eq!(s.execute(&[b"INCR", b"n"]), status("QUEUED"));
    let Reply::Array(r) = s.execute(&[b"EXEC"]) else { panic!() };
    assert_eq!(r[0], Reply::OK);
    assert!(r[1].is_error());
    assert_eq!(r[2], Reply::Int(1));

    // A queue-time error aborts the whole transaction.
    s.execute(&[b"MULTI"]);
    s.execute(&[b"SET", b"b", b"1"]);
    assert!(s.execute(&[b"GET"]).is_error());
    assert_eq!(s.execute(&[b"EXEC"]), err("EXECABORT Transaction discarded because of previous errors."));
    assert_eq!(d.execute(&[b"EXISTS", b"b"]), Reply::Int(0));

    // WATCH: another writer makes EXEC return nil.
    s.execute(&[b"WATCH", b"n"]);
    d.execute(&[b"INCR", b"n"]);
    s.execute(&[b"MULTI"]);
    s.execute(&[b"INCR", b"n"]);
    assert_eq!(s.execute(&[b"EXEC"]), Reply::Nil);
    assert_eq!(d.execute(&[b"GET", b"n"]), bulk("2"));
    // Without a conflict it goes through, and watches are cleared after EXEC.
    s.execute(&[b"WATCH", b"n"]);
    s.execute(&[b"MULTI"]);
    // WATCH inside MULTI is refused but does not abort the transaction.
    assert_eq!(s.execute(&[b"WATCH", b"x"]), err("ERR WATCH inside MULTI is not allowed"));
    s.execute(&[b"DISCARD"]);
    s.execute(&[b"WATCH", b"n"]);
    s.execute(&[b"MULTI"]);
    s.execute(&[b"INCR", b"n"]);
    assert_eq!(s.execute(&[b"EXEC"]), Reply::Array(vec![Reply::Int(3)]));
    // A write that changes nothing (SET of a missing key with XX) does not break the watch,
    // but a watched key expiring does.
    s.execute(&[b"SET", b"t", b"v", b"PX", b"20"]);
    s.execute(&[b"WATCH", b"t"]);
    std::thread::sleep(std::time::Duration::from_millis(40));
    s.execute(&[b"MULTI"]);
    s.execute(&[b"SET", b"t", b"w"]);
    assert_eq!(s.execute(&[b"EXEC"]), Reply::Nil);
    // UNWATCH clears, DISCARD clears.
    s.execute(&[b"WATCH", b"n"]);
    s.execute(&[b"UNWATCH"]);
    d.execute(&[b"INCR", b"n"]);
    s.execute(&[b"MULTI"]);
    s.execute(&[b"GET", b"n"]);
    assert_eq!(s.execute(&[b"EXEC"]), Reply::Array(vec![bulk("4")]));
    // EXEC with the wrong arity discards the transaction.
    s.execute(&[b"MULTI"]);
    s.execute(&[b"SET", b"q", b"1"]);
    assert_eq!(
        s.execute(&[b"EXEC", b"x"]),
        err("EXECABORT Transaction discarded because of: wrong number of arguments for 'exec' command")
    );
    assert_eq!(s.execute(&[b"SET", b"q", b"2"]), Reply::OK);
    assert_eq!(s.execute(&[b"EXEC"]), err("ERR EXEC without MULTI"));
    // Db::execute has no transaction state.
    assert!(d.execute(&[b"MULTI"]).is_error());
}

/// A pipeline runs its commands in one lock acquisition and loads their keys ahead of time;
/// whatever the batch size, the replies and the resulting data are those of running the same
/// commands one by one. The mix covers keys in every shard, key specs of every shape (one key,
/// MSET's key/value pairs, EVAL's `numkeys`, no key), arity errors where the key is missing,
/// unknown commands and WRONGTYPE.
#[test]
fn pipelines_answer_as_commands_one_by_one() {
    let mut commands: Vec<Vec<String>> = Vec::new();
    let mut x = 0x2545_f491_u64;
    let mut next = |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    for i in 0..600 {
        let k = format!("key:{}", next(150));
        let k2 = format!("key:{}", next(150));
        let c: Vec<String> = match next(14) {
            0 => vec!["SET".into(), k, i.to_string()],
            1 => vec!["GET".into(), k],
            2 => vec!["INCR".into(), k],
            3 => vec!["HSET".into(), k, "f".into(), i.to_string()],
            4 => vec!["LPUSH".into(), k, i.to_string()],
            5 => vec!["MSET".into(), k, "a".into(), k2, "b".into()],
            6 => vec!["MGET".into(), k, k2, "key:none".into()],
            7 => vec!["DEL".into(), k, k2],
            8 => vec!["EVAL".into(), "return redis.call('GET', KEYS[1])".into(), "1".into(), k],
            9 => vec!["GET".into()],
            10 => vec!["HSET".into(), k],
            11 => vec!["NOSUCHCOMMAND".into(), k],
            12 => vec!["TYPE".into(), k],
            _ => vec!["DBSIZE".into()],
        };
        commands.push(c);
    }
    let one_by_one = db();
    let expected: Vec<Reply> = commands
        .iter()
        .map(|c| {
            let argv: Vec<&[u8]> = c.iter().map(String::as_bytes).collect();
            one_by_one.execute(&argv)
        })
        .collect();
    for batch in [1, 3, 16, 17, 64, 600] {
        let d = db();
        let replies: Vec<Reply> = commands.chunks(batch).flat_map(|chunk| d.pipeline(chunk)).collect();
        for (i, (got, want)) in replies.iter().zip(&expected).enumerate() {
            assert_eq!(got, want, "batches of {batch}, command {i}: {:?}", commands[i]);
        }
        assert_eq!(replies.len(), expected.len());
        for k in 0..150 {
            let key = format!("key:{k}");
            for probe in [["TYPE", &key], ["GET", &key]] {
                assert_eq!(run(&d, &probe.join(" ")), run(&one_by_one, &probe.join(" ")), "batches of {batch}: {probe:?}");
            }
        }
    }
}

/// MGET loads its keys ahead of their lookups; over many keys in every shard, present,
/// missing, expired and of another type, it answers as GET does key by key (Nil for a non-string).
#[test]
fn long_mget_answers_as_get_key_by_key() {
    let d = db();
    let mut keys: Vec<String> = Vec::new();
    for i in 0..300 {
        let k = format!("k{i}");
        match i % 5 {
            0 => assert_eq!(run(&d, &format!("SET {k} v{i}")), Reply::OK),
            1 => assert_eq!(run(&d, &format!("LPUSH {k} x")), Reply::Int(1)),
            2 => assert_eq!(run(&d, &format!("SET {k} gone PX 1")), Reply::OK),
            3 => assert_eq!(run(&d, &format!("SET {k} {}", "long".repeat(i))), Reply::OK),
            _ => {}
        }
        keys.push(k);
    }
    std::thread::sleep(std::time::Duration::from_millis(5));
    let mut argv: Vec<&[u8]> = vec![b"MGET"];
    argv.extend(keys.iter().map(String::as_bytes));
    argv.push(b"k0");
    let Reply::Array(got) = d.execute(&argv) else { panic!("MGET") };
    assert_eq!(got.len(), 301);
    for (k, r) in keys.iter().chain(["k0".to_string()].iter()).zip(&got) {
        let want = match run(&d, &format!("GET {k}")) {
            Reply::Error(_) => Reply::Nil,
            other => other,
        };
        assert_eq!(r, &want, "{k}");
    }
}

#[test]
fn mget_with_lends_what_mget_returns() {
    let d = db();
    let mut keys: Vec<Vec<u8>> = Vec::new();
    for i in 0..200 {
        let k = format!("m{i}");
        match i % 5 {
            0 => assert_eq!(run(&d, &format!("SET {k} v{i}")), Reply::OK),
            1 => assert_eq!(run(&d, &format!("SADD {k} x")), Reply::Int(1)),
            2 => assert_eq!(run(&d, &format!("SET {k} gone PX 1")), Reply::OK),
            // Long enough to be stored compressed: lent decompressed.
            3 => assert_eq!(run(&d, &format!("SET {k} {}", "long".repeat(i))), Reply::OK),
            _ => {}
        }
        keys.push(k.into_bytes());
    }
    std::thread::sleep(std::time::Duration::from_millis(5));
    let mut argv: Vec<&[u8]> = vec![b"MGET"];
    argv.extend(keys.iter().map(Vec::as_slice));
    let Reply::Array(want) = d.execute(&argv) else { panic!("MGET") };
    let before = info_fields(&d, ["total_commands_processed", "keyspace_hits", "keyspace_misses"]);
    for batch in [1, 7, 16, 200] {
        let mut got = Vec::new();
        for (c, chunk) in keys.chunks(batch).enumerate() {
            d.mget_with(chunk, |i, v| got.push((c * batch + i, v.map(<[u8]>::to_vec))));
        }
        let want: Vec<(usize, Option<Vec<u8>>)> = want
            .iter()
            .enumerate()
            .map(|(i, r)| match r {
                Reply::Bulk(b) => (i, Some(b.clone())),
                Reply::Nil => (i, None),
                other => panic!("MGET item {other:?}"),
            })
            .collect();
        assert_eq!(got, want, "batches of {batch}");
    }
    // One command per call (and one INFO), a hit or a miss per key, as MGET counts them.
    let after = info_fields(&d, ["total_commands_processed", "keyspace_hits", "keyspace_misses"]);
    let calls: u64 = [1, 7, 16, 200].iter().map(|&b| keys.len().div_ceil(b) as u64).sum();
    assert_eq!(after[0] - before[0], calls + 1);
    let strings = want.iter().filter(|r| matches!(r, Reply::Bulk(_))).count() as u64;
    assert_eq!(strings, 80);
    assert_eq!(after[1] - before[1], 4 * (strings + 40), "strings and sets are hits");
    assert_eq!(after[2] - before[2], 4 * 80, "expired and absent keys are misses");
    // The expired keys it met were deleted afterwards.
    assert_eq!(run(&d, "DBSIZE"), Reply::Int(120));
    d.mget_with(&[] as &[&[u8]], |_, _| panic!("no keys, no calls"));
}

/// Numeric fields of one INFO reply.
fn info_fields<const N: usize>(d: &Db, names: [&str; N]) -> [u64; N] {
    let Reply::Bulk(b) = d.execute(&[b"INFO"]) else { panic!("INFO") };
    let text = String::from_utf8(b).unwrap();
    names.map(|name| {
        let line = text.lines().find_map(|l| l.strip_prefix(&format!("{name}:"))).unwrap_or_else(|| panic!("no {name}"));
        line.trim().parse().unwrap()
    })
}

#[test]
fn pipeline_and_closure_transaction() {
    let d = db();
    let replies = d.pipeline(&[vec!["SET", "a", "1"], vec!["INCR", "a"], vec!["GET", "a"], vec!["BOGUS"]]);
    assert_eq!(replies[0], Reply::OK);
    assert_eq!(replies[1], Reply::Int(2));
    assert_eq!(replies[2], bulk("2"));
    assert!(replies[3].is_error());
    let total = d
        .transaction(|tx| {
            tx.set(b"x", b"10").unwrap();
            tx.incr_by(b"x", 5).unwrap()
        })
        .unwrap();
    assert_eq!(total, 15);
    assert_eq!(d.get(b"x").unwrap().unwrap(), b"15");
}

#[test]
fn config_get_set() {
    let d = db();
    assert_eq!(run(&d, "CONFIG GET hz"), Reply::Map(vec![(bulk("hz"), bulk("10"))]));
    assert_eq!(run(&d, "CONFIG SET hz 50"), Reply::OK);
    assert_eq!(run(&d, "CONFIG GET hz*"), Reply::Map(vec![(bulk("hz"), bulk("50"))]));
    let Reply::Map(h) = run(&d, "CONFIG GET h*") else { panic!("CONFIG GET is a map") };
    let names: Vec<_> = h.iter().map(|(k, _)| k.as_bytes().unwrap().to_vec()).collect();
    assert!(names.contains(&b"hz".to_vec()) && names.contains(&b"hash-max-listpack-entries".to_vec()), "{names:?}");
    assert_eq!(run(&d, "CONFIG SET nope 1"), err("ERR Unknown option or number of arguments for CONFIG SET - 'nope'"));
    assert!(run(&d, "CONFIG SET hz -1").is_error());
    assert_eq!(run(&d, "CONFIG GET hz"), Reply::Map(vec![(bulk("hz"), bulk("50"))]));
    // Like Redis, 0 and values past 500 are accepted and clamped into 1..=500.
    assert_eq!(run(&d, "CONFIG SET hz 0"), Reply::OK);
    assert_eq!(run(&d, "CONFIG GET hz"), Reply::Map(vec![(bulk("hz"), bulk("1"))]));
    assert_eq!(run(&d, "CONFIG SET hz 50"), Reply::OK);
    assert_eq!(run(&d, "CONFIG GET"), err("ERR wrong number of arguments for 'config|get' command"));
    assert_eq!(run(&d, "CONFIG FOO"), err("ERR unknown subcommand 'FOO'. Try CONFIG HELP."));
    let mut o = nestdb::Options::default();
    assert!(o.set("maxmemory_nope", "1").is_err());
    assert!(o.set("HZ", "20").is_ok());
    assert_eq!(o.hz, 20);
    assert!(nestdb::Options::from_config_text("# comment\nhz 30\n").is_ok());
    assert!(nestdb::Options::from_config_text("bogus 1").is_err());
}

#[test]
fn random_replies_with_repetitions_are_capped() {
    let d = db();
    run(&d, "SADD s a b c");
    run(&d, "HSET h f v");
    run(&d, "ZADD z 1 a");
    let too_many = "ERR count is too large: at most 16777216 elements with repetitions";
    assert_eq!(run(&d, "SRANDMEMBER s -100000000"), err(too_many));
    assert_eq!(run(&d, "HRANDFIELD h -100000000"), err(too_many));
    assert_eq!(run(&d, "ZRANDMEMBER z -100000000"), err(too_many));
    let Reply::Array(v) = run(&d, "SRANDMEMBER s -1000") else { panic!() };
    assert_eq!(v.len(), 1000);
}
