//! The incremental memory accounting against a full recount, under random commands of every
//! type (compact and general encodings, compressed values, TTLs, renames, flushes, expiry).

use super::dict::{hash_bytes, Packing};
use super::{Keyspace, PackedHashes, SHARDS};
use crate::{Db, Options, Reply};

/// Every shard's running totals equal a recount, and `used_memory` is their footprints' sum.
fn check(ks: &Keyspace, step: usize) {
    let mut sum = 0;
    for i in 0..SHARDS {
        let shard = ks.shard(i).read();
        ks.publish(&shard, true);
        assert_eq!(shard.running_totals(), shard.recount_values(), "shard {i} after step {step}");
        // The TTL table holds exactly the keys whose entries carry the TTL flag.
        let flagged = shard.dict.iter_refs().filter(|(_, e)| e.has_ttl()).count();
        assert_eq!(flagged, shard.volatile.len(), "shard {i} after step {step}: TTL flags vs volatile");
        for (k, ()) in shard.volatile.iter() {
            assert!(shard.dict.get_ref_hashed(hash_bytes(k), k).is_some_and(|e| e.has_ttl()), "shard {i} after step {step}");
        }
        // Exactly the values that ask to be packed are (no command leaves one unpacked).
        for (k, e) in shard.dict.iter_refs() {
            assert_eq!(e.is_packed(), PackedHashes::payload(&e).is_some(), "shard {i} after step {step}: packing of {k:?}");
        }
        // Exactly the keys with a TTL have a tail, which holds a real expiry.
        for (k, e) in shard.dict.iter_refs() {
            let tail = shard.dict.tail_hashed(crate::keyspace::dict::hash_bytes(k), k);
            assert_eq!(tail.is_some(), e.has_ttl(), "shard {i} after step {step}: tail of {k:?}");
            assert_ne!(tail, Some(0), "shard {i} after step {step}: tail of {k:?}");
        }
        sum += shard.footprint();
    }
    assert_eq!(ks.used_memory(), sum, "used_memory after step {step}");
}

fn random_command(rng: &mut u64) -> Vec<Vec<u8>> {
    let mut next = |n: u64| {
        *rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (*rng >> 33) % n
    };
    let key = format!("k{}", next(40));
    let other = format!("k{}", next(40));
    let field = format!("f{}", next(12));
    // Values from tiny to large and compressible (crossing inline, listpack and compression
    // thresholds).
    let len = [1, 5, 30, 70, 300, 2000][next(6) as usize];
    let val: String = (0..len).map(|i| if next(4) == 0 { char::from(b'a' + (i % 26) as u8) } else { 'x' }).collect();
    let n = next(200).to_string();
    let words: Vec<String> = match next(30) {
        0 => vec!["SET".into(), key, val],
        1 => vec!["APPEND".into(), key, val],
        2 => vec!["SETRANGE".into(), key, next(50).to_string(), val],
        3 => vec!["INCRBY".into(), key, n],
        4 => vec!["DEL".into(), key],
        5 => vec!["PEXPIRE".into(), key, [0, 1, 2, 100_000][next(4) as usize].to_string()],
        6 => vec!["HSET".into(), key, field, val],
        7 => vec!["HDEL".into(), key, field],
        8 => vec!["HINCRBY".into(), key, field, n],
        9 => vec!["LPUSH".into(), key, val, n],
        10 => vec!["RPOP".into(), key],
        11 => vec!["LSET".into(), key, "0".into(), val],
        12 => vec!["LTRIM".into(), key, "0".into(), next(5).to_string()],
        13 => vec!["SADD".into(), key, n, val],
        14 => vec!["SREM".into(), key, n],
        15 => vec!["SPOP".into(), key],
        16 => vec!["ZADD".into(), key, n.clone(), format!("m{n}")],
        17 => vec!["ZADD".into(), key, n, val],
        18 => vec!["ZREM".into(), key, format!("m{}", next(200))],
        19 => vec!["ZINCRBY".into(), key, "1.5".into(), format!("m{}", next(200))],
        20 => vec!["RENAME".into(), key, other],
        21 => vec!["COPY".into(), key, other],
        22 => vec!["SINTERSTORE".into(), key, other.clone(), other],
        23 => vec!["ZUNIONSTORE".into(), key.clone(), "2".into(), key, other],
        24 => vec!["GETDEL".into(), key],
        25 => vec!["SET".into(), key, n, "PX".into(), [1, 2, 3, 100_000][next(4) as usize].to_string()],
        29 => vec!["SET".into(), key, val, "KEEPTTL".into()],
        26 => vec!["PERSIST".into(), key],
        27 if next(20) == 0 => vec!["FLUSHDB".into()],
        28 => vec!["CONFIG".into(), "SET".into(), "compression".into(), ["lz4", "zlib", "none"][next(3) as usize].into()],
        _ => vec!["GET".into(), key],
    };
    words.into_iter().map(String::into_bytes).collect()
}

#[test]
fn running_totals_match_a_recount_under_random_commands() {
    for seed in 0..4u64 {
        let mut options = Options::default();
        for (k, v) in [("compression-min-size", "64"), ("hash-max-listpack-entries", "8"), ("set-max-intset-entries", "8")] {
            options.set(k, v).unwrap();
        }
        options.set("zset-max-listpack-entries", "8").unwrap();
        options.set("list-max-listpack-size", "4").unwrap();
        let db = Db::memory(options);
        let mut rng = seed;
        let mut session = db.session();
        for step in 0..3000 {
            let cmd = random_command(&mut rng);
            if step % 97 == 0 {
                // A pipeline and a transaction settle like single commands.
                let batch: Vec<Vec<Vec<u8>>> = (0..5).map(|_| random_command(&mut rng)).collect();
                db.pipeline(&batch);
                session.execute(&[b"MULTI"]);
                session.execute(&cmd.iter().map(Vec::as_slice).collect::<Vec<_>>());
                session.execute(&[b"EXEC"]);
            } else {
                let r = db.execute(&cmd.iter().map(Vec::as_slice).collect::<Vec<_>>());
                assert!(!matches!(&r, Reply::Error(e) if e.starts_with("ERR") && e.contains("panicked")), "{r:?}");
            }
            if step % 50 == 0 {
                std::thread::sleep(std::time::Duration::from_millis(1));
                db.expire_cycle();
            }
            check(db.keyspace(), step);
        }
    }
}

#[test]
fn used_memory_returns_to_baseline_after_deleting_everything() {
    let db = Db::open_in_memory();
    let exact = |db: &Db| -> usize { (0..SHARDS).map(|i| db.keyspace().shard(i).read().footprint()).sum() };
    let empty = exact(&db);
    let mut rng = 7u64;
    for _ in 0..5000 {
        let cmd = random_command(&mut rng);
        if cmd[0] != b"FLUSHDB" {
            db.execute(&cmd.iter().map(Vec::as_slice).collect::<Vec<_>>());
        }
    }
    assert!(exact(&db) > empty);
    for i in 0..40 {
        db.execute(&[b"DEL", format!("k{i}").as_bytes()]);
    }
    check(db.keyspace(), 0);
    let after = exact(&db);
    // Only empty bucket arrays of tables that shrank lazily may remain.
    assert!(after <= empty + SHARDS * 64, "{empty} -> {after}");
}

#[test]
fn entry_keeps_its_size() {
    // Value 40 + access record 8 (its top bit is the TTL flag; the expiry is in `volatile`).
    assert_eq!(std::mem::size_of::<super::Entry>(), 48);
}

/// Under random commands of every type, each policy keeps `used_memory <= maxmemory` after
/// every write (volatile-* policies: unless no key with a TTL is left to evict), never evicts
/// a key without a TTL under volatile-*, and the running totals stay exact.
#[test]
fn every_policy_holds_the_cap_under_random_commands() {
    use crate::config::EvictionPolicy::*;
    for policy in [AllKeysLru, AllKeysLfu, AllKeysRandom, VolatileLru, VolatileLfu, VolatileRandom, VolatileTtl] {
        let cap = 25_000u64;
        let mut options = Options::default().maxmemory(cap, policy);
        options.set("compression-min-size", "64").unwrap();
        let db = Db::memory(options);
        // Keys without a TTL that the random stream never touches: volatile-* must keep them.
        for i in 0..50 {
            db.execute(&[b"SET", format!("pin:{i}").as_bytes(), b"pinned"]);
        }
        let mut rng = 99u64;
        for step in 0..4000 {
            let mut cmd = random_command(&mut rng);
            if cmd[0] == b"FLUSHDB" || cmd[0] == b"CONFIG" {
                continue;
            }
            if policy.volatile_only() && cmd[0] == b"SET" && cmd.len() == 3 {
                // Give most plain SETs a TTL so there is something to evict.
                cmd.extend([b"EX".to_vec(), b"1000".to_vec()]);
            }
            let r = db.execute(&cmd.iter().map(Vec::as_slice).collect::<Vec<_>>());
            let ks = db.keyspace();
            let used = ks.used_memory() as u64;
            let volatile_left: usize = (0..SHARDS).map(|i| ks.shard(i).read().volatile.len()).sum();
            if policy.volatile_only() {
                assert!(used <= cap || volatile_left == 0, "{policy:?} step {step}: used {used} with {volatile_left} volatile keys");
                if let Reply::Error(e) = &r {
                    assert!(!e.starts_with("OOM") || volatile_left == 0 || used <= cap, "{policy:?}: {e}");
                }
            } else {
                assert!(used <= cap, "{policy:?} step {step}: used {used} > {cap} after {:?}", String::from_utf8_lossy(&cmd.concat()));
                assert!(!matches!(&r, Reply::Error(e) if e.starts_with("OOM")), "{policy:?}: {r:?}");
            }
            if step % 500 == 0 {
                check(ks, step);
            }
        }
        if policy.volatile_only() {
            for i in 0..50 {
                assert_eq!(db.execute(&[b"EXISTS", format!("pin:{i}").as_bytes()]), Reply::Int(1), "{policy:?} evicted pin:{i}");
            }
        }
        let Reply::Bulk(info) = db.execute(&[b"INFO", b"stats"]) else { panic!() };
        assert!(!String::from_utf8_lossy(&info).contains("evicted_keys:0\r"), "{policy:?} never evicted");
    }
}
