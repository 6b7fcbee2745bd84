//! HyperLogLog against a real redis-server: the same PFADD/PFCOUNT/PFMERGE stream must give the
//! same replies (PFCOUNT's estimate is a function of the registers, so equal counts over many
//! sets mean the hash, the register layout and the estimator all agree), and values written by
//! Redis (sparse and dense) must read back in nestdb with Redis's counts.

use crate::common::{keyspace_hits_misses, RedisServer, RespConn};
use nestdb::{Db, Reply};

fn both(db: &Db, redis: &mut RespConn, argv: &[&[u8]]) -> (Reply, Reply) {
    (db.execute(argv), redis.cmd(argv))
}

fn same(db: &Db, redis: &mut RespConn, argv: &[&[u8]]) -> Reply {
    let (ours, theirs) = both(db, redis, argv);
    let show: Vec<String> = argv.iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect();
    assert_eq!(ours, theirs, "{show:?}");
    ours
}

#[test]
fn hyperloglog_counts_match_redis() {
    let Some(server) = RedisServer::start_or_skip("hyperloglog_counts_match_redis") else { return };
    let mut redis = server.connect();
    let db = Db::open_in_memory();

    // Sets of many sizes, through PFADD in batches; PFCOUNT after each batch.
    let sizes = [0usize, 1, 2, 3, 10, 100, 500, 1000, 3000, 10_000, 50_000];
    for (s, &n) in sizes.iter().enumerate() {
        let key = format!("hll:{s}");
        same(&db, &mut redis, &[b"PFADD", key.as_bytes()]);
        let elements: Vec<String> = (0..n).map(|i| format!("user:{s}:{i}")).collect();
        for chunk in elements.chunks(97) {
            let mut argv: Vec<&[u8]> = vec![b"PFADD", key.as_bytes()];
            argv.extend(chunk.iter().map(|e| e.as_bytes()));
            same(&db, &mut redis, &argv);
            same(&db, &mut redis, &[b"PFCOUNT", key.as_bytes()]);
        }
        // Adding what is there already changes nothing.
        if let Some(first) = elements.first() {
            assert_eq!(same(&db, &mut redis, &[b"PFADD", key.as_bytes(), first.as_bytes()]), Reply::Int(0));
        }
    }
    // Binary and empty elements, long ones (every MurmurHash tail length).
    for len in 0..40usize {
        let e: Vec<u8> = (0..len).map(|i| (i * 37 + len) as u8).collect();
        same(&db, &mut redis, &[b"PFADD", b"bin", &e]);
    }
    same(&db, &mut redis, &[b"PFCOUNT", b"bin"]);

    // Union counts and merges, including a missing key and the destination as a source.
    same(&db, &mut redis, &[b"PFCOUNT", b"hll:5", b"hll:6", b"missing", b"hll:9"]);
    same(&db, &mut redis, &[b"PFMERGE", b"merged", b"hll:4", b"hll:7", b"missing"]);
    same(&db, &mut redis, &[b"PFCOUNT", b"merged"]);
    same(&db, &mut redis, &[b"PFMERGE", b"merged", b"hll:10"]);
    same(&db, &mut redis, &[b"PFCOUNT", b"merged"]);
    same(&db, &mut redis, &[b"PFMERGE", b"empty"]);
    same(&db, &mut redis, &[b"PFCOUNT", b"empty"]);
    same(&db, &mut redis, &[b"EXISTS", b"empty"]);
    same(&db, &mut redis, &[b"TYPE", b"merged"]);

    // Values written by Redis, sparse and dense, read back with Redis's counts; then both
    // sides keep adding to them.
    for s in 0..sizes.len() {
        let key = format!("hll:{s}");
        let Reply::Bulk(bytes) = redis.cmd(&[b"GET", key.as_bytes()]) else { panic!("GET {key}") };
        let copy = format!("copy:{s}");
        assert_eq!(db.execute(&[b"SET", copy.as_bytes(), &bytes]), Reply::Status("OK".into()));
        redis.cmd(&[b"SET", copy.as_bytes(), &bytes]);
        same(&db, &mut redis, &[b"PFCOUNT", copy.as_bytes()]);
        same(&db, &mut redis, &[b"PFADD", copy.as_bytes(), b"one-more", b"and-another"]);
        same(&db, &mut redis, &[b"PFCOUNT", copy.as_bytes()]);
    }

    // Errors: another type, a plain string, a corrupt HyperLogLog; nothing is changed.
    same(&db, &mut redis, &[b"RPUSH", b"list", b"a"]);
    same(&db, &mut redis, &[b"PFADD", b"list", b"x"]);
    same(&db, &mut redis, &[b"PFCOUNT", b"list"]);
    same(&db, &mut redis, &[b"PFMERGE", b"dest", b"list"]);
    same(&db, &mut redis, &[b"EXISTS", b"dest"]);
    same(&db, &mut redis, &[b"SET", b"plain", b"hello world, not a HyperLogLog"]);
    same(&db, &mut redis, &[b"PFADD", b"plain", b"x"]);
    same(&db, &mut redis, &[b"PFCOUNT", b"hll:3", b"plain"]);
    same(&db, &mut redis, &[b"GET", b"plain"]);
    same(&db, &mut redis, &[b"PFADD"]);
    same(&db, &mut redis, &[b"PFCOUNT"]);
    same(&db, &mut redis, &[b"PFMERGE"]);
    // A sparse value whose runs cover too many registers.
    let mut bad = b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\x80".to_vec();
    bad.extend_from_slice(&[0x7f, 0xff, 0x00]);
    same(&db, &mut redis, &[b"SET", b"bad", &bad]);
    same(&db, &mut redis, &[b"PFCOUNT", b"bad"]);

    // PFCOUNT and PFMERGE count keyspace hits and misses as reads (Redis's lookupKeyRead);
    // PFADD does not.
    let info: [&[u8]; 2] = [b"INFO", b"stats"];
    let (ours0, theirs0) = (keyspace_hits_misses(db.execute(&info)), keyspace_hits_misses(redis.cmd(&info)));
    for argv in [
        &[&b"PFCOUNT"[..], b"hll:4", b"missing"][..],
        &[b"PFCOUNT", b"hll:4"],
        &[b"PFMERGE", b"hll:8", b"hll:9", b"missing"],
        &[b"PFADD", b"hll:8", b"x"],
        &[b"PFADD", b"new-hll", b"x"],
    ] {
        same(&db, &mut redis, argv);
    }
    let (ours1, theirs1) = (keyspace_hits_misses(db.execute(&info)), keyspace_hits_misses(redis.cmd(&info)));
    assert_eq!((ours1.0 - ours0.0, ours1.1 - ours0.1), (theirs1.0 - theirs0.0, theirs1.1 - theirs0.1), "keyspace hits and misses");

    // TTLs survive PFADD and PFMERGE.
    db.execute(&[b"EXPIRE", b"hll:6", b"1000"]);
    db.execute(&[b"PFADD", b"hll:6", b"new-element-for-ttl"]);
    db.execute(&[b"PFMERGE", b"hll:6", b"hll:7"]);
    let Reply::Int(ttl) = db.execute(&[b"TTL", b"hll:6"]) else { panic!("TTL") };
    assert!(ttl > 990, "TTL after PFADD/PFMERGE: {ttl}");
}
