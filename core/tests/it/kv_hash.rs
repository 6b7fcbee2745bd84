//! Hash encodings and compression through the public API: OBJECT ENCODING follows Redis 7's
//! listpack -> hashtable conversion rules (checked against redis-server 7.0 by hand), and
//! compressed values are invisible to every hash command, in memory and after a reopen.

use std::collections::BTreeMap;

use nestdb::{Db, Options, Reply};

fn run<A: AsRef<[u8]>>(db: &Db, argv: &[A]) -> Reply {
    let parts: Vec<&[u8]> = argv.iter().map(AsRef::as_ref).collect();
    db.execute(&parts)
}

fn words(db: &Db, cmd: &str) -> Reply {
    run(db, &cmd.split(' ').collect::<Vec<_>>())
}

fn bulk(s: impl AsRef<[u8]>) -> Reply {
    Reply::Bulk(s.as_ref().to_vec())
}

fn encoding(db: &Db, key: &str) -> Reply {
    words(db, &format!("OBJECT ENCODING {key}"))
}

fn all(db: &Db, key: &str) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let Reply::Map(pairs) = words(db, &format!("HGETALL {key}")) else { panic!("HGETALL is a map") };
    pairs
        .into_iter()
        .map(|(f, v)| match (f, v) {
            (Reply::Bulk(f), Reply::Bulk(v)) => (f, v),
            other => panic!("not bulk strings: {other:?}"),
        })
        .collect()
}

#[test]
fn entries_limit_converts_and_never_converts_back() {
    let db = Db::open_in_memory();
    // redis-server's built-in default (redis.conf lowers it to 128).
    assert_eq!(words(&db, "CONFIG GET hash-max-listpack-entries"), Reply::Map(vec![(bulk("hash-max-listpack-entries"), bulk("512"))]));
    assert_eq!(words(&db, "CONFIG SET hash-max-listpack-entries 128"), Reply::OK);
    let mut argv = vec!["HSET".to_string(), "h".to_string()];
    for i in 0..128 {
        argv.extend([format!("f{i}"), format!("v{i}")]);
    }
    assert_eq!(run(&db, &argv), Reply::Int(128));
    assert_eq!(encoding(&db, "h"), bulk("listpack"));
    assert_eq!(words(&db, "HSET h f0 again"), Reply::Int(0), "an overwrite does not grow it");
    assert_eq!(encoding(&db, "h"), bulk("listpack"));
    assert_eq!(words(&db, "HSET h f128 v128"), Reply::Int(1));
    assert_eq!(encoding(&db, "h"), bulk("hashtable"));
    let fields: Vec<String> = (0..120).map(|i| format!("f{i}")).collect();
    let mut hdel = vec!["HDEL", "h"];
    hdel.extend(fields.iter().map(String::as_str));
    assert_eq!(run(&db, &hdel), Reply::Int(120));
    assert_eq!(words(&db, "HLEN h"), Reply::Int(9));
    assert_eq!(encoding(&db, "h"), bulk("hashtable"), "Redis never converts back");
    assert_eq!(words(&db, "HGET h f128"), bulk("v128"));
    // HSCAN of a hashtable walks buckets; of a listpack it returns everything at once.
    words(&db, "HSET small a 1 b 2 c 3");
    let Reply::Array(parts) = words(&db, "HSCAN small 0 COUNT 1") else { panic!() };
    assert_eq!(parts[0], bulk("0"));
    assert_eq!(parts[1], Reply::Array(["a", "1", "b", "2", "c", "3"].into_iter().map(bulk).collect()), "insertion order");
}

#[test]
fn value_and_field_length_limit() {
    let db = Db::open_in_memory();
    let at_limit = "v".repeat(64);
    let over = "v".repeat(65);
    run(&db, &["HSET", "a", "f", &at_limit]);
    assert_eq!(encoding(&db, "a"), bulk("listpack"));
    run(&db, &["HSET", "a", "g", &over]);
    assert_eq!(encoding(&db, "a"), bulk("hashtable"));
    run(&db, &["HSET", "b", &over, "1"]);
    assert_eq!(encoding(&db, "b"), bulk("hashtable"), "a long field converts too");
    run(&db, &["HSET", "c", "x", "1"]);
    run(&db, &["HSETNX", "c", "y", &over]);
    assert_eq!(encoding(&db, "c"), bulk("hashtable"));
    // The value an increment writes counts too (1e70 prints as 71 digits).
    run(&db, &["HSET", "d", "x", "1"]);
    run(&db, &["HINCRBYFLOAT", "d", "x", "1e60"]);
    assert_eq!(encoding(&db, "d"), bulk("listpack"));
    run(&db, &["HINCRBYFLOAT", "d", "x", "1e70"]);
    assert_eq!(encoding(&db, "d"), bulk("hashtable"));
    assert_eq!(words(&db, "CONFIG SET hash-max-listpack-value 3"), Reply::OK);
    words(&db, "HSET e a 123");
    assert_eq!(encoding(&db, "e"), bulk("listpack"));
    assert_eq!(words(&db, "HINCRBY e a 1000"), Reply::Int(1123));
    assert_eq!(encoding(&db, "e"), bulk("hashtable"));
    assert_eq!(all(&db, "a").len(), 2);
}

#[test]
fn config_set_entries_zero_makes_every_hash_a_table() {
    let db = Db::open_in_memory();
    words(&db, "HSET before a 1");
    assert_eq!(words(&db, "CONFIG SET hash-max-listpack-entries 0"), Reply::OK);
    words(&db, "HSET after a 1");
    assert_eq!(encoding(&db, "after"), bulk("hashtable"));
    assert_eq!(encoding(&db, "before"), bulk("listpack"), "existing hashes keep their encoding until written");
    words(&db, "HSET before a 2");
    assert_eq!(encoding(&db, "before"), bulk("listpack"), "an overwrite adds no entry");
    words(&db, "HSET before b 2");
    assert_eq!(encoding(&db, "before"), bulk("hashtable"));
    assert_eq!(words(&db, "CONFIG SET hash-max-listpack-entries 128"), Reply::OK);
    words(&db, "HSET again a 1");
    assert_eq!(encoding(&db, "again"), bulk("listpack"));
}

fn compressible(n: usize) -> Vec<u8> {
    b"{\"user\":42,\"cart\":[1,2,3]}".iter().cycle().take(n).copied().collect()
}

fn check_big_values(db: &Db, big: &[u8]) {
    assert_eq!(run(db, &[&b"HGET"[..], b"h", b"big"]), bulk(big));
    assert_eq!(words(db, "HSTRLEN h big"), Reply::Int(big.len() as i64));
    assert_eq!(run(db, &[&b"HMGET"[..], b"h", b"big", b"small", b"nope"]), Reply::Array(vec![bulk(big), bulk("s"), Reply::Nil]));
    let expect: BTreeMap<Vec<u8>, Vec<u8>> = [(b"big".to_vec(), big.to_vec()), (b"small".to_vec(), b"s".to_vec())].into();
    assert_eq!(all(db, "h"), expect);
    let Reply::Array(vals) = words(db, "HVALS h") else { panic!("HVALS is an array") };
    assert!(vals.len() == 2 && vals.contains(&bulk(big)) && vals.contains(&bulk("s")), "{vals:?}");
    let Reply::Array(pair) = words(db, "HRANDFIELD h -20 WITHVALUES") else { panic!() };
    for p in pair {
        let Reply::Array(fv) = p else { panic!() };
        assert_eq!(fv[1], if fv[0] == bulk("big") { bulk(big) } else { bulk("s") });
    }
    let Reply::Array(parts) = words(db, "HSCAN h 0 COUNT 100") else { panic!() };
    assert!(matches!(&parts[1], Reply::Array(items) if items.contains(&bulk(big))));
}

#[test]
fn compressed_values_are_transparent() {
    let db = Db::open_in_memory();
    assert_eq!(words(&db, "CONFIG SET compression-min-size 16"), Reply::OK);
    let big = compressible(100);
    assert_eq!(run(&db, &[&b"HSET"[..], b"h", b"big", &big, b"small", b"s"]), Reply::Int(2));
    assert_eq!(encoding(&db, "h"), bulk("hashtable"), "100 bytes is over hash-max-listpack-value");
    check_big_values(&db, &big);
    // Increments read and write through compression.
    let digits = "1".repeat(18);
    run(&db, &["HSET", "h", "n", &digits]);
    assert_eq!(run(&db, &["HINCRBY", "h", "n", "1"]), Reply::Int(111_111_111_111_111_112));
    run(&db, &["HSET", "h", "x", "000000000000000000000000001.5"]);
    assert_eq!(words(&db, "HSTRLEN h x"), Reply::Int(29));
    assert_eq!(words(&db, "HINCRBYFLOAT h x 1"), bulk("2.5"));
    assert_eq!(words(&db, "HDEL h n x"), Reply::Int(2));
    // Every codec, and off.
    for codec in ["zlib", "none", "lz4"] {
        assert_eq!(words(&db, &format!("CONFIG SET compression {codec}")), Reply::OK);
        let other = compressible(300);
        run(&db, &[&b"HSET"[..], b"h", b"big", &other]);
        check_big_values(&db, &other);
    }
}

#[test]
fn compressed_values_survive_a_snapshot_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let big = compressible(2000);
    let mut argv: Vec<Vec<u8>> = vec![b"HSET".to_vec(), b"h".to_vec(), b"big".to_vec(), big.clone(), b"small".to_vec(), b"s".to_vec()];
    {
        let db = Db::open(&path, Options::default()).unwrap();
        assert_eq!(words(&db, "CONFIG SET compression-min-size 16"), Reply::OK);
        assert_eq!(run(&db, &argv), Reply::Int(2));
        words(&db, "HSET lp a 1 b 2");
        db.snapshot().unwrap();
        argv.truncate(2);
        argv.extend([b"after".to_vec(), big.clone()]);
        assert_eq!(run(&db, &argv), Reply::Int(1), "logged after the snapshot");
    }
    let db = Db::open(&path, Options::default()).unwrap();
    assert_eq!(run(&db, &[&b"HGET"[..], b"h", b"after"]), bulk(&big));
    assert_eq!(words(&db, "HDEL h after"), Reply::Int(1));
    check_big_values(&db, &big);
    assert_eq!(encoding(&db, "h"), bulk("hashtable"));
    assert_eq!(encoding(&db, "lp"), bulk("listpack"));
    assert_eq!(all(&db, "lp"), [(b"a".to_vec(), b"1".to_vec()), (b"b".to_vec(), b"2".to_vec())].into());
}
