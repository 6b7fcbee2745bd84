//! HyperLogLog against a real redis-server: the same PFADD/PFCOUNT/PFMERGE stream must give the
//! same replies (PFCOUNT's estimate is a function of the registers, so equal counts over many
//! sets mean the hash, the register layout and the estimator all agree), and values written by
//! Redis (sparse and dense) must read back in nestdb with Redis's counts.

use crate::common::Pair;
use nestdb::Reply;

#[test]
fn hyperloglog_counts_match_redis() {
    let Some(mut p) = Pair::start("hyperloglog_counts_match_redis") else { return };

    // Sets of many sizes, through PFADD in batches; PFCOUNT after each batch.
    let sizes = [0usize, 1, 2, 3, 10, 100, 500, 1000, 3000, 10_000, 50_000];
    for (s, &n) in sizes.iter().enumerate() {
        let key = format!("hll:{s}");
        p.run_argv(&[b"PFADD", key.as_bytes()]);
        let elements: Vec<String> = (0..n).map(|i| format!("user:{s}:{i}")).collect();
        for chunk in elements.chunks(97) {
            let mut argv: Vec<&[u8]> = vec![b"PFADD", key.as_bytes()];
            argv.extend(chunk.iter().map(|e| e.as_bytes()));
            p.run_argv(&argv);
            p.run_argv(&[b"PFCOUNT", key.as_bytes()]);
        }
        // Adding what is there already changes nothing.
        if let Some(first) = elements.first() {
            assert_eq!(p.run_argv(&[b"PFADD", key.as_bytes(), first.as_bytes()]), Reply::Int(0));
        }
    }
    // Binary and empty elements, long ones (every MurmurHash tail length).
    for len in 0..40usize {
        let e: Vec<u8> = (0..len).map(|i| (i * 37 + len) as u8).collect();
        p.run_argv(&[b"PFADD", b"bin", &e]);
    }
    p.run_argv(&[b"PFCOUNT", b"bin"]);

    // Union counts and merges, including a missing key and the destination as a source.
    p.run_argv(&[b"PFCOUNT", b"hll:5", b"hll:6", b"missing", b"hll:9"]);
    p.run_argv(&[b"PFMERGE", b"merged", b"hll:4", b"hll:7", b"missing"]);
    p.run_argv(&[b"PFCOUNT", b"merged"]);
    p.run_argv(&[b"PFMERGE", b"merged", b"hll:10"]);
    p.run_argv(&[b"PFCOUNT", b"merged"]);
    p.run_argv(&[b"PFMERGE", b"empty"]);
    p.run_argv(&[b"PFCOUNT", b"empty"]);
    p.run_argv(&[b"EXISTS", b"empty"]);
    p.run_argv(&[b"TYPE", b"merged"]);

    // Values written by Redis, sparse and dense, read back with Redis's counts; then both
    // sides keep adding to them.
    for s in 0..sizes.len() {
        let key = format!("hll:{s}");
        let Reply::Bulk(bytes) = p.redis.cmd(&[b"GET", key.as_bytes()]) else { panic!("GET {key}") };
        let copy = format!("copy:{s}");
        assert_eq!(p.db.execute(&[b"SET", copy.as_bytes(), &bytes]), Reply::Status("OK".into()));
        p.redis.cmd(&[b"SET", copy.as_bytes(), &bytes]);
        p.run_argv(&[b"PFCOUNT", copy.as_bytes()]);
        p.run_argv(&[b"PFADD", copy.as_bytes(), b"one-more", b"and-another"]);
        p.run_argv(&[b"PFCOUNT", copy.as_bytes()]);
    }

    // Errors: another type, a plain string, a corrupt HyperLogLog; nothing is changed.
    p.run_argv(&[b"RPUSH", b"list", b"a"]);
    p.run_argv(&[b"PFADD", b"list", b"x"]);
    p.run_argv(&[b"PFCOUNT", b"list"]);
    p.run_argv(&[b"PFMERGE", b"dest", b"list"]);
    p.run_argv(&[b"EXISTS", b"dest"]);
    p.run_argv(&[b"SET", b"plain", b"hello world, not a HyperLogLog"]);
    p.run_argv(&[b"PFADD", b"plain", b"x"]);
    p.run_argv(&[b"PFCOUNT", b"hll:3", b"plain"]);
    p.run_argv(&[b"GET", b"plain"]);
    p.run_argv(&[b"PFADD"]);
    p.run_argv(&[b"PFCOUNT"]);
    p.run_argv(&[b"PFMERGE"]);
    // A sparse value whose runs cover too many registers.
    let mut bad = b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\x80".to_vec();
    bad.extend_from_slice(&[0x7f, 0xff, 0x00]);
    p.run_argv(&[b"SET", b"bad", &bad]);
    p.run_argv(&[b"PFCOUNT", b"bad"]);

    // PFCOUNT and PFMERGE count keyspace hits and misses as reads (Redis's lookupKeyRead);
    // PFADD does not.
    p.same_hits_and_misses("PFCOUNT, PFMERGE, PFADD", |p| {
        for argv in [
            &[&b"PFCOUNT"[..], b"hll:4", b"missing"][..],
            &[b"PFCOUNT", b"hll:4"],
            &[b"PFMERGE", b"hll:8", b"hll:9", b"missing"],
            &[b"PFADD", b"hll:8", b"x"],
            &[b"PFADD", b"new-hll", b"x"],
        ] {
            p.run_argv(argv);
        }
    });

    // TTLs survive PFADD and PFMERGE.
    p.db.execute(&[b"EXPIRE", b"hll:6", b"1000"]);
    p.db.execute(&[b"PFADD", b"hll:6", b"new-element-for-ttl"]);
    p.db.execute(&[b"PFMERGE", b"hll:6", b"hll:7"]);
    let Reply::Int(ttl) = p.db.execute(&[b"TTL", b"hll:6"]) else { panic!("TTL") };
    assert!(ttl > 990, "TTL after PFADD/PFMERGE: {ttl}");
}
