//! Memory accounting, maxmemory and eviction through the public API (INFO, MEMORY, OBJECT,
//! CONFIG SET), for every policy.

use nestdb::{Db, EvictionPolicy, Options, Reply};

fn cmd(db: &Db, line: &str) -> Reply {
    let argv: Vec<&[u8]> = line.split_whitespace().map(str::as_bytes).collect();
    db.execute(&argv)
}

fn info_field(db: &Db, section: &str, field: &str) -> u64 {
    let Reply::Bulk(text) = cmd(db, &format!("INFO {section}")) else { panic!("INFO") };
    let text = String::from_utf8(text).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in {text}"))
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn used_memory_grows_and_shrinks_with_data() {
    let db = Db::open_in_memory();
    let base = info_field(&db, "memory", "used_memory");
    for i in 0..1000 {
        cmd(&db, &format!("SET key:{i} {}", "v".repeat(100)));
    }
    let full = info_field(&db, "memory", "used_memory");
    assert!(full > base + 1000 * 100, "{base} -> {full}");
    let Reply::Int(one) = cmd(&db, "MEMORY USAGE key:1") else { panic!() };
    assert!((100..400).contains(&one), "{one}");
    assert_eq!(cmd(&db, "MEMORY USAGE nosuchkey"), Reply::Nil);
    cmd(&db, "FLUSHALL");
    let after = info_field(&db, "memory", "used_memory");
    assert!(after <= base + 4096, "{base} -> {after}");
    assert!(info_field(&db, "memory", "used_memory_peak") >= full);
}

#[test]
fn noeviction_refuses_writes_and_changes_nothing() {
    let db = Db::memory(Options::default().maxmemory(200_000, EvictionPolicy::NoEviction));
    let mut refused = 0;
    for i in 0..5000 {
        match cmd(&db, &format!("SET key:{i} {}", "v".repeat(100))) {
            Reply::Error(e) => {
                assert_eq!(e, "OOM command not allowed when used memory > 'maxmemory'.");
                assert_eq!(cmd(&db, &format!("EXISTS key:{i}")), Reply::Int(0));
                refused += 1;
            }
            r => assert_eq!(r, Reply::Status("OK".into())),
        }
    }
    assert!(refused > 0);
    // Reads and deletes still work; a delete makes room again.
    assert!(matches!(cmd(&db, "GET key:0"), Reply::Bulk(_)));
    for i in 0..100 {
        cmd(&db, &format!("DEL key:{i}"));
    }
    assert_eq!(cmd(&db, "SET again 1"), Reply::Status("OK".into()));
    assert_eq!(info_field(&db, "stats", "evicted_keys"), 0);
}

#[test]
fn every_policy_keeps_used_memory_under_the_cap() {
    for policy in ["allkeys-lru", "allkeys-lfu", "allkeys-random", "volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl"] {
        let db = Db::open_in_memory();
        cmd(&db, &format!("CONFIG SET maxmemory 300000 maxmemory-policy {policy}"));
        let volatile = policy.starts_with("volatile");
        // One key in 20 has no TTL: under volatile-* policies those must all survive.
        for i in 0..20_000 {
            let ttl = if i % 20 != 0 { " EX 1000" } else { "" };
            let r = cmd(&db, &format!("SET key:{i} {}{ttl}", "v".repeat(60)));
            assert!(matches!(r, Reply::Status(_)), "{policy}: {r:?}");
            let used = info_field(&db, "memory", "used_memory");
            assert!(used <= 300_000, "{policy}: used {used} after write {i}");
        }
        assert!(info_field(&db, "stats", "evicted_keys") > 0, "{policy}");
        if volatile {
            for i in (0..20_000).step_by(20) {
                assert_eq!(cmd(&db, &format!("EXISTS key:{i}")), Reply::Int(1), "{policy} evicted key:{i}, which has no TTL");
            }
        }
    }
}

#[test]
fn volatile_policy_without_volatile_keys_refuses_writes() {
    let db = Db::memory(Options::default().maxmemory(100_000, EvictionPolicy::VolatileLru));
    let mut refused = false;
    for i in 0..5000 {
        if let Reply::Error(e) = cmd(&db, &format!("SET key:{i} {}", "v".repeat(60))) {
            assert!(e.starts_with("OOM "), "{e}");
            refused = true;
            break;
        }
    }
    assert!(refused);
    assert_eq!(info_field(&db, "stats", "evicted_keys"), 0);
}

#[test]
fn object_idletime_and_freq() {
    let db = Db::open_in_memory();
    cmd(&db, "SET k v");
    assert_eq!(cmd(&db, "OBJECT IDLETIME k"), Reply::Int(0));
    assert!(matches!(cmd(&db, "OBJECT FREQ k"), Reply::Error(e) if e.contains("LFU maxmemory policy is not selected")));
    cmd(&db, "CONFIG SET maxmemory-policy allkeys-lfu");
    cmd(&db, "SET f v");
    let Reply::Int(f0) = cmd(&db, "OBJECT FREQ f") else { panic!() };
    assert_eq!(f0, 5, "new keys start at LFU_INIT_VAL");
    for _ in 0..2000 {
        cmd(&db, "GET f");
    }
    let Reply::Int(f1) = cmd(&db, "OBJECT FREQ f") else { panic!() };
    assert!(f1 > f0 + 5, "{f0} -> {f1}");
    assert!(matches!(cmd(&db, "OBJECT IDLETIME f"), Reply::Error(e) if e.contains("LFU maxmemory policy is selected")));
}

/// Evictions are logged as deletes: after a reopen (even without a memory cap) exactly the
/// keys that survived eviction are there, and replay itself never evicts.
#[test]
fn evictions_are_durable_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let (survivors, evicted) = {
        let db = Db::open(&path, Options::default().maxmemory(400_000, EvictionPolicy::AllKeysLru)).unwrap();
        for i in 0..20_000 {
            assert_eq!(cmd(&db, &format!("SET key:{i} {}", "v".repeat(50))), Reply::Status("OK".into()));
        }
        let evicted = info_field(&db, "stats", "evicted_keys");
        let survivors: Vec<String> =
            (0..20_000).map(|i| format!("key:{i}")).filter(|k| cmd(&db, &format!("EXISTS {k}")) == Reply::Int(1)).collect();
        (survivors, evicted)
    };
    assert!(evicted > 10_000, "{evicted}");
    assert_eq!(survivors.len() as u64, 20_000 - evicted);
    let db = Db::open(&path, Options::default()).unwrap();
    assert_eq!(cmd(&db, "DBSIZE"), Reply::Int(survivors.len() as i64));
    for k in survivors.iter().step_by(97) {
        assert!(matches!(cmd(&db, &format!("GET {k}")), Reply::Bulk(_)), "{k} lost");
    }
    drop(db);
    // Reopening under a tighter cap loads everything (no eviction during recovery); the first
    // write then evicts down to the cap.
    let db = Db::open(&path, Options::default().maxmemory(100_000, EvictionPolicy::AllKeysLru)).unwrap();
    assert_eq!(cmd(&db, "DBSIZE"), Reply::Int(survivors.len() as i64));
    cmd(&db, "SET one more");
    assert!(info_field(&db, "memory", "used_memory") <= 100_000);
}

/// As Redis: over maxmemory (noeviction), a DENYOOM command queued in MULTI is refused and
/// EXEC aborts; reads still queue.
#[test]
fn oom_inside_multi_aborts_the_transaction() {
    let db = Db::memory(Options::default().maxmemory(50_000, EvictionPolicy::NoEviction));
    let mut i = 0;
    while cmd(&db, &format!("SET fill:{i} {}", "v".repeat(100))) == Reply::Status("OK".into()) {
        i += 1;
    }
    let mut s = db.session();
    let run = |s: &mut nestdb::Session, line: &str| {
        let argv: Vec<&[u8]> = line.split_whitespace().map(str::as_bytes).collect();
        s.execute(&argv)
    };
    assert_eq!(run(&mut s, "MULTI"), Reply::Status("OK".into()));
    assert_eq!(run(&mut s, "GET fill:0"), Reply::Status("QUEUED".into()));
    assert!(matches!(run(&mut s, "SET x 1"), Reply::Error(e) if e.starts_with("OOM ")));
    assert!(matches!(run(&mut s, "EXEC"), Reply::Error(e) if e.starts_with("EXECABORT")));
    assert_eq!(cmd(&db, "EXISTS x"), Reply::Int(0));
}

/// Lowering maxmemory at run time evicts at once (as Redis's CONFIG SET maxmemory does).
#[test]
fn lowering_maxmemory_evicts_immediately() {
    let db = Db::open_in_memory();
    for i in 0..5000 {
        cmd(&db, &format!("SET key:{i} {}", "v".repeat(60)));
    }
    assert!(info_field(&db, "memory", "used_memory") > 200_000);
    assert_eq!(cmd(&db, "CONFIG SET maxmemory-policy allkeys-random maxmemory 200000"), Reply::Status("OK".into()));
    assert!(info_field(&db, "memory", "used_memory") <= 200_000);
    assert!(info_field(&db, "stats", "evicted_keys") > 0);
}

fn hset5(db: &Db, key: &str) {
    cmd(db, &format!("HSET {key} field0 value0 field1 value1 field2 value2 field3 value3 field4 value4"));
}

fn usage(db: &Db, key: &str) -> i64 {
    let Reply::Int(n) = cmd(db, &format!("MEMORY USAGE {key}")) else { panic!("MEMORY USAGE {key}") };
    n
}

/// A small hash is one block: its key and listpack in the keyspace node (24-byte header + the
/// key + a 74-byte listpack for 5 short fields: 103 bytes, mimalloc's 112 class). Every
/// command sees it as before, through writes that unpack and repack it, a TTL (the node's
/// tail), conversion, and reads that record accesses in the node.
#[test]
fn small_hashes_live_in_one_block() {
    let db = Db::open_in_memory();
    let base = info_field(&db, "memory", "used_memory");
    hset5(&db, "key:1");
    assert_eq!(usage(&db, "key:1"), 112);
    assert_eq!(cmd(&db, "OBJECT ENCODING key:1"), Reply::Bulk(b"listpack".to_vec()));
    assert_eq!(cmd(&db, "HGET key:1 field3"), Reply::Bulk(b"value3".to_vec()));
    cmd(&db, "HSET key:1 field5 value5");
    assert_eq!(usage(&db, "key:1"), 128, "117 bytes");
    assert_eq!(cmd(&db, "HLEN key:1"), Reply::Int(6));
    // A TTL goes in the node's tail (125 bytes), plus the key's node in the TTL index (12 +
    // 5 bytes: 32).
    assert_eq!(cmd(&db, "EXPIRE key:1 100"), Reply::Int(1));
    assert_eq!(usage(&db, "key:1"), 128 + 32);
    assert_eq!(cmd(&db, "TTL key:1"), Reply::Int(100));
    assert_eq!(cmd(&db, "HDEL key:1 field5"), Reply::Int(1));
    assert_eq!(cmd(&db, "TTL key:1"), Reply::Int(100), "a write keeps the TTL");
    assert_eq!(usage(&db, "key:1"), 112 + 32);
    assert_eq!(cmd(&db, "PERSIST key:1"), Reply::Int(1));
    assert_eq!(usage(&db, "key:1"), 112);
    let Reply::Map(all) = cmd(&db, "HGETALL key:1") else { panic!() };
    let fields: Vec<Reply> = all.into_iter().map(|(f, _)| f).collect();
    assert_eq!(fields, (0..5).map(|i| Reply::Bulk(format!("field{i}").into_bytes())).collect::<Vec<_>>());
    // A long value converts the hash to a table: no longer packed, counted as before.
    cmd(&db, &format!("HSET key:1 big {}", "x".repeat(100)));
    assert_eq!(cmd(&db, "OBJECT ENCODING key:1"), Reply::Bulk(b"hashtable".to_vec()));
    assert!(usage(&db, "key:1") > 300);
    // Copies, renames and deletes of packed hashes; the accounting returns to where it was.
    hset5(&db, "key:2");
    assert_eq!(cmd(&db, "COPY key:2 key:3"), Reply::Int(1));
    assert_eq!(cmd(&db, "RENAME key:3 key:4"), Reply::OK);
    assert_eq!(usage(&db, "key:4"), 112);
    assert_eq!(cmd(&db, "HGET key:4 field4"), Reply::Bulk(b"value4".to_vec()));
    assert_eq!(cmd(&db, "DEL key:1 key:2 key:4"), Reply::Int(3));
    // What stays is the shards' bucket arrays (4 slots each), not the hashes.
    let after = info_field(&db, "memory", "used_memory");
    assert!(after <= base + 64 * 48, "{base} -> {after}");
    // Reads of a packed hash are recorded in its node (the LFU counter climbs).
    cmd(&db, "CONFIG SET maxmemory-policy allkeys-lfu");
    hset5(&db, "hot");
    let Reply::Int(f0) = cmd(&db, "OBJECT FREQ hot") else { panic!() };
    for _ in 0..2000 {
        cmd(&db, "HGET hot field0");
    }
    let Reply::Int(f1) = cmd(&db, "OBJECT FREQ hot") else { panic!() };
    assert!(f1 > f0 + 5, "{f0} -> {f1}");
}

/// Under allkeys-lru, small hashes that are read survive while cold ones are evicted: the
/// reads' access records reach the packed nodes.
#[test]
fn lru_sees_reads_of_packed_hashes() {
    let db = Db::open_in_memory();
    for i in 0..2000 {
        hset5(&db, &format!("h:{i}"));
    }
    let used = info_field(&db, "memory", "used_memory");
    cmd(&db, "CONFIG SET maxmemory-policy allkeys-lru");
    std::thread::sleep(std::time::Duration::from_millis(30));
    for i in 0..200 {
        cmd(&db, &format!("HGET h:{i} field0"));
    }
    // Room for about half the hashes: the 200 just read must all stay.
    cmd(&db, &format!("CONFIG SET maxmemory {}", used - 1000 * 112));
    assert!(info_field(&db, "stats", "evicted_keys") >= 900);
    for i in 0..200 {
        assert_eq!(cmd(&db, &format!("EXISTS h:{i}")), Reply::Int(1), "h:{i} was read last and evicted");
    }
}

/// Packed hashes go through a snapshot and the log and come back packed and equal.
#[test]
fn packed_hashes_survive_snapshots_and_replay() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    {
        let db = Db::open(&path, Options::default()).unwrap();
        for i in 0..100 {
            hset5(&db, &format!("s:{i}"));
        }
        cmd(&db, "EXPIRE s:7 1000");
        assert_eq!(db.execute(&[b"SAVE"]), Reply::OK);
        for i in 0..100 {
            hset5(&db, &format!("l:{i}"));
            cmd(&db, &format!("HSET l:{i} extra {i}"));
        }
    }
    let db = Db::open(&path, Options::default()).unwrap();
    assert_eq!(usage(&db, "s:3"), 112);
    assert_eq!(usage(&db, "l:3"), 112, "24 + 3 + 82 bytes");
    assert_eq!(cmd(&db, "HGET l:42 extra"), Reply::Bulk(b"42".to_vec()));
    assert_eq!(cmd(&db, "HGET s:99 field2"), Reply::Bulk(b"value2".to_vec()));
    let Reply::Int(ttl) = cmd(&db, "TTL s:7") else { panic!() };
    assert!((990..=1000).contains(&ttl), "{ttl}");
}
