//! Set encodings through the public API: OBJECT ENCODING follows Redis 7.2's intset ->
//! listpack -> hashtable rules under the live CONFIG limits, and every command answers the
//! same whatever the encoding.

use std::collections::BTreeSet;

use nestdb::{Db, Options, Reply};

fn run(db: &Db, cmd: &str) -> Reply {
    let parts: Vec<&[u8]> = cmd.split(' ').map(str::as_bytes).collect();
    db.execute(&parts)
}

fn run_argv(db: &Db, argv: &[String]) -> Reply {
    let parts: Vec<&[u8]> = argv.iter().map(|s| s.as_bytes()).collect();
    db.execute(&parts)
}

fn encoding(db: &Db, key: &str) -> String {
    match run(db, &format!("OBJECT ENCODING {key}")) {
        Reply::Bulk(b) => String::from_utf8(b).unwrap(),
        other => panic!("OBJECT ENCODING {key}: {other:?}"),
    }
}

fn strings(r: &Reply) -> Vec<String> {
    match r {
        Reply::Array(items) => items
            .iter()
            .map(|i| match i {
                Reply::Bulk(b) => String::from_utf8(b.clone()).unwrap(),
                other => panic!("not a bulk: {other:?}"),
            })
            .collect(),
        other => panic!("not an array: {other:?}"),
    }
}

fn members(db: &Db, key: &str) -> BTreeSet<String> {
    strings(&run(db, &format!("SMEMBERS {key}"))).into_iter().collect()
}

fn sadd(db: &Db, key: &str, ms: impl IntoIterator<Item = String>) -> Reply {
    let mut argv = vec!["SADD".to_string(), key.to_string()];
    argv.extend(ms);
    run_argv(db, &argv)
}

fn limits(db: &Db, intset: usize, entries: usize, value: usize) {
    for (name, v) in [("set-max-intset-entries", intset), ("set-max-listpack-entries", entries), ("set-max-listpack-value", value)] {
        assert_eq!(run(db, &format!("CONFIG SET {name} {v}")), Reply::OK);
    }
}

#[test]
fn encoding_transitions_intset_listpack_hashtable() {
    let db = Db::open_in_memory();
    limits(&db, 4, 6, 8);
    assert_eq!(run(&db, "SADD s 3 1 2"), Reply::Int(3));
    assert_eq!(encoding(&db, "s"), "intset");
    // An intset replies in ascending order.
    assert_eq!(strings(&run(&db, "SMEMBERS s")), ["1", "2", "3"]);
    // A non-integer that fits the listpack limits: intset -> listpack.
    assert_eq!(run(&db, "SADD s abc"), Reply::Int(1));
    assert_eq!(encoding(&db, "s"), "listpack");
    // Removing it does not go back.
    assert_eq!(run(&db, "SREM s abc"), Reply::Int(1));
    assert_eq!(encoding(&db, "s"), "listpack");
    // Past set-max-listpack-entries: listpack -> hashtable.
    assert_eq!(run(&db, "SADD s a b c d"), Reply::Int(4));
    assert_eq!(encoding(&db, "s"), "hashtable");
    assert_eq!(members(&db, "s"), ["1", "2", "3", "a", "b", "c", "d"].map(String::from).into());

    // intset -> hashtable when it outgrows set-max-intset-entries.
    run(&db, "SADD i 1 2 3 4");
    assert_eq!(encoding(&db, "i"), "intset");
    run(&db, "SADD i 5");
    assert_eq!(encoding(&db, "i"), "hashtable");
    // intset -> hashtable when the new member is longer than set-max-listpack-value.
    run(&db, "SADD j 1");
    run(&db, "SADD j abcdefghi");
    assert_eq!(encoding(&db, "j"), "hashtable");
    // ... or when an integer already in it is (as Redis counts its extremes' digits).
    run(&db, "SADD k -10000000");
    run(&db, "SADD k x");
    assert_eq!(encoding(&db, "k"), "hashtable");
    // Non-canonical integers are strings.
    run(&db, "SADD n 007");
    assert_eq!(encoding(&db, "n"), "listpack");
    // SADD with more arguments than a compact encoding allows goes straight to a hashtable,
    // even when they are duplicates (Redis sizes by the argument count).
    run(&db, "SADD d5 1 1 1 1 1");
    assert_eq!(encoding(&db, "d5"), "listpack", "5 arguments: too many for the intset, not for a listpack");
    run(&db, "SADD d 1 1 1 1 1 1 1");
    assert_eq!((encoding(&db, "d"), run(&db, "SCARD d")), ("hashtable".to_string(), Reply::Int(1)));
    run(&db, "SADD e 1");
    run(&db, "SADD e 1 1 1 1 1 1 1");
    assert_eq!(encoding(&db, "e"), "hashtable");
    // A lower limit applies to later writes.
    run(&db, "SADD later 1 2 3");
    limits(&db, 2, 6, 8);
    assert_eq!(encoding(&db, "later"), "intset");
    run(&db, "SADD later 4");
    assert_eq!(encoding(&db, "later"), "hashtable");
    // The defaults: 512 integers, 128 members of at most 64 bytes.
    limits(&db, 512, 128, 64);
    sadd(&db, "big", (0..512).map(|i| i.to_string()));
    assert_eq!(encoding(&db, "big"), "intset");
    sadd(&db, "big", ["512".to_string()]);
    assert_eq!(encoding(&db, "big"), "hashtable");
    sadd(&db, "words", (0..128).map(|i| format!("w{i}")));
    assert_eq!(encoding(&db, "words"), "listpack");
    sadd(&db, "words", ["w128".to_string()]);
    assert_eq!(encoding(&db, "words"), "hashtable");
    sadd(&db, "long", ["x".repeat(64)]);
    assert_eq!(encoding(&db, "long"), "listpack");
    sadd(&db, "long", ["y".repeat(65)]);
    assert_eq!(encoding(&db, "long"), "hashtable");
}

#[test]
fn store_results_and_smove_take_redis_encodings() {
    let db = Db::open_in_memory();
    limits(&db, 8, 8, 16);
    run(&db, "SADD ints 1 2 3 4");
    run(&db, "SADD mixed 2 3 x y");
    sadd(&db, "table", (0..20).map(|i| i.to_string()));
    assert_eq!(encoding(&db, "table"), "hashtable");
    // SINTERSTORE: an all-integer result is an intset even from a hashtable input.
    assert_eq!(run(&db, "SINTERSTORE d table mixed"), Reply::Int(2));
    assert_eq!(encoding(&db, "d"), "intset");
    // SUNIONSTORE builds from an empty intset member by member.
    assert_eq!(run(&db, "SUNIONSTORE u ints mixed"), Reply::Int(6));
    assert_eq!(encoding(&db, "u"), "listpack");
    assert_eq!(run(&db, "SUNIONSTORE u ints ints"), Reply::Int(4));
    assert_eq!(encoding(&db, "u"), "intset");
    assert_eq!(strings(&run(&db, "SUNION ints ints")), ["1", "2", "3", "4"]);
    assert_eq!(run(&db, "SUNIONSTORE u table ints"), Reply::Int(20));
    assert_eq!(encoding(&db, "u"), "hashtable");
    assert_eq!(run(&db, "SDIFFSTORE u mixed ints"), Reply::Int(2));
    assert_eq!(encoding(&db, "u"), "listpack");
    assert_eq!(members(&db, "u"), ["x", "y"].map(String::from).into());
    assert_eq!(run(&db, "SDIFFSTORE u table mixed"), Reply::Int(18));
    assert_eq!(run(&db, "SCARD u"), Reply::Int(18));
    // SMOVE creates its destination as SADD of one member would.
    assert_eq!(run(&db, "SMOVE mixed m1 x"), Reply::Int(1));
    assert_eq!(encoding(&db, "m1"), "listpack");
    assert_eq!(run(&db, "SMOVE ints m2 1"), Reply::Int(1));
    assert_eq!(encoding(&db, "m2"), "intset");
    // COPY keeps the encoding.
    assert_eq!(run(&db, "COPY ints c"), Reply::Int(1));
    assert_eq!((encoding(&db, "c"), members(&db, "c")), ("intset".to_string(), members(&db, "ints")));
}

#[test]
fn spop_rebuilds_a_mostly_popped_hashtable() {
    let db = Db::open_in_memory();
    sadd(&db, "s", (0..200).map(|i| format!("m{i}")));
    assert_eq!(encoding(&db, "s"), "hashtable");
    let popped: BTreeSet<String> = strings(&run(&db, "SPOP s 190")).into_iter().collect();
    assert_eq!(popped.len(), 190);
    let left = members(&db, "s");
    assert_eq!(left.len(), 10);
    assert!(popped.is_disjoint(&left));
    assert_eq!(encoding(&db, "s"), "listpack");
    // A few pops from a big set stay in place.
    sadd(&db, "t", (0..200).map(|i| format!("m{i}")));
    assert_eq!(strings(&run(&db, "SPOP t 10")).len(), 10);
    assert_eq!((encoding(&db, "t"), run(&db, "SCARD t")), ("hashtable".to_string(), Reply::Int(190)));
}

/// Every read and write answers the same in each encoding (checked against a model).
#[test]
fn commands_agree_across_encodings() {
    for (name, items) in [
        ("intset", (0..20).map(|i| (i * 7 - 50).to_string()).collect::<Vec<_>>()),
        ("listpack", (0..20).map(|i| format!("m{i}")).collect()),
        ("hashtable", (0..300).map(|i| format!("member-{i}")).collect()),
    ] {
        let db = Db::open_in_memory();
        sadd(&db, "s", items.iter().cloned());
        assert_eq!(encoding(&db, "s"), name);
        let all: BTreeSet<String> = items.iter().cloned().collect();
        assert_eq!(members(&db, "s"), all);
        let first = &items[0];
        assert_eq!(run(&db, &format!("SISMEMBER s {first}")), Reply::Int(1));
        assert_eq!(run(&db, "SISMEMBER s nope"), Reply::Int(0));
        assert_eq!(run(&db, &format!("SMISMEMBER s nope {first}")), Reply::Array(vec![Reply::Int(0), Reply::Int(1)]));
        // SRANDMEMBER: distinct picks, repeated picks, the whole set.
        let picked: BTreeSet<String> = strings(&run(&db, "SRANDMEMBER s 5")).into_iter().collect();
        assert_eq!(picked.len(), 5);
        assert!(picked.is_subset(&all));
        let repeated = strings(&run(&db, "SRANDMEMBER s -40"));
        assert_eq!(repeated.len(), 40);
        assert!(repeated.iter().all(|m| all.contains(m)));
        assert_eq!(strings(&run(&db, "SRANDMEMBER s 1000")).into_iter().collect::<BTreeSet<_>>(), all);
        let Reply::Bulk(one) = run(&db, "SRANDMEMBER s") else { panic!() };
        assert!(all.contains(&String::from_utf8(one).unwrap()));
        // SSCAN: a compact set comes whole with cursor 0; a hashtable is walked with a cursor.
        let mut seen = BTreeSet::new();
        let mut cursor = "0".to_string();
        let mut calls = 0;
        loop {
            let Reply::Array(parts) = run(&db, &format!("SSCAN s {cursor} COUNT 5")) else { panic!() };
            let Reply::Bulk(next) = &parts[0] else { panic!() };
            seen.extend(strings(&parts[1]));
            cursor = String::from_utf8(next.clone()).unwrap();
            calls += 1;
            if cursor == "0" {
                break;
            }
        }
        assert_eq!(seen, all);
        assert_eq!(calls == 1, name != "hashtable", "{name}: {calls} SSCAN calls");
        // Algebra against a second set.
        let other: Vec<String> = items.iter().step_by(2).cloned().chain(["zz".to_string()]).collect();
        sadd(&db, "o", other.iter().cloned());
        let other: BTreeSet<String> = other.into_iter().collect();
        let set = |r: Reply| strings(&r).into_iter().collect::<BTreeSet<_>>();
        assert_eq!(set(run(&db, "SINTER s o")), all.intersection(&other).cloned().collect());
        assert_eq!(set(run(&db, "SUNION s o")), all.union(&other).cloned().collect());
        assert_eq!(set(run(&db, "SDIFF s o")), all.difference(&other).cloned().collect());
        assert_eq!(set(run(&db, "SDIFF o s")), other.difference(&all).cloned().collect());
        assert_eq!(run(&db, "SINTERCARD 2 s o"), Reply::Int(all.intersection(&other).count() as i64));
        assert_eq!(run(&db, "SINTERCARD 2 s o LIMIT 3"), Reply::Int(3));
        // Sorted-set algebra reads sets too (every member scored 1, so replies are in byte order).
        let sorted = |s: BTreeSet<String>| s.into_iter().collect::<Vec<_>>();
        assert_eq!(strings(&run(&db, "ZUNION 2 s o AGGREGATE MAX")), sorted(all.union(&other).cloned().collect()));
        assert_eq!(strings(&run(&db, "ZINTER 2 s o")), sorted(all.intersection(&other).cloned().collect()));
        assert_eq!(strings(&run(&db, "ZDIFF 2 s o")), sorted(all.difference(&other).cloned().collect()));
        // SPOP until empty returns every member once, then the key is gone.
        let mut popped: BTreeSet<String> = strings(&run(&db, "SPOP s 3")).into_iter().collect();
        while let Reply::Bulk(m) = run(&db, "SPOP s") {
            assert!(popped.insert(String::from_utf8(m).unwrap()));
        }
        assert_eq!(popped, all);
        assert_eq!(run(&db, "EXISTS s"), Reply::Int(0));
    }
}

#[test]
fn encodings_survive_a_snapshot_with_default_limits() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    {
        let db = Db::open(&path, Options::default()).unwrap();
        run(&db, "SADD ints 5 -3 70000");
        run(&db, "SADD words a b c");
        sadd(&db, "table", (0..200).map(|i| format!("m{i}")));
        assert_eq!(run(&db, "SAVE"), Reply::OK);
    }
    let db = Db::open(&path, Options::default()).unwrap();
    assert_eq!(encoding(&db, "ints"), "intset");
    assert_eq!(strings(&run(&db, "SMEMBERS ints")), ["-3", "5", "70000"]);
    assert_eq!(encoding(&db, "words"), "listpack");
    assert_eq!(members(&db, "words"), ["a", "b", "c"].map(String::from).into());
    assert_eq!(encoding(&db, "table"), "hashtable");
    assert_eq!(run(&db, "SCARD table"), Reply::Int(200));
}
