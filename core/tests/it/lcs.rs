//! LCS against a real redis-server: random strings over small alphabets (so there are many
//! equal-length common subsequences and the backtracking order decides which one is answered),
//! every option combination, and the errors. (The test connection speaks RESP3, so IDX's
//! answer is a map on both sides.)

use crate::common::RedisServer;
use nestdb::Db;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

#[test]
fn lcs_matches_redis() {
    let Some(server) = RedisServer::start_or_skip("lcs_matches_redis") else { return };
    let mut redis = server.connect();
    let db = Db::open_in_memory();
    let mut rng = SmallRng::seed_from_u64(0x1c5);
    let options: [&[&[u8]]; 9] = [
        &[],
        &[b"LEN"],
        &[b"IDX"],
        &[b"IDX", b"WITHMATCHLEN"],
        &[b"IDX", b"MINMATCHLEN", b"2"],
        &[b"IDX", b"MINMATCHLEN", b"3", b"WITHMATCHLEN"],
        &[b"MINMATCHLEN", b"-5", b"IDX"],
        &[b"LEN", b"IDX"],
        &[b"IDX", b"BOGUS"],
    ];
    for round in 0..300 {
        let alphabet = [2u8, 3, 4, 26][round % 4];
        let mut word = |max: usize| -> Vec<u8> { (0..rng.random_range(0..=max)).map(|_| b'a' + rng.random_range(0..alphabet)).collect() };
        let (x, y) = (word(40), word(40));
        for (key, v) in [(&b"x"[..], &x), (&b"y"[..], &y)] {
            db.execute(&[b"SET", key, v]);
            redis.cmd(&[b"SET", key, v]);
        }
        for opt in options {
            let mut argv: Vec<&[u8]> = vec![b"LCS", b"x", b"y"];
            argv.extend_from_slice(opt);
            let (ours, theirs) = (db.execute(&argv), redis.cmd(&argv));
            assert_eq!(ours, theirs, "LCS of {:?} and {:?} with {:?}", String::from_utf8_lossy(&x), String::from_utf8_lossy(&y), opt);
        }
    }
    // Missing keys read as empty strings; other types and bad arguments are errors.
    for argv in [
        &[&b"LCS"[..], b"x", b"missing"][..],
        &[b"LCS", b"missing", b"missing2", b"IDX"],
        &[b"LCS", b"x"],
        &[b"LCS", b"x", b"y", b"MINMATCHLEN"],
        &[b"LCS", b"x", b"y", b"MINMATCHLEN", b"abc"],
    ] {
        assert_eq!(db.execute(argv), redis.cmd(argv), "{argv:?}");
    }
    let push: [&[u8]; 3] = [b"RPUSH", b"list", b"a"];
    db.execute(&push);
    redis.cmd(&push);
    for argv in [&[&b"LCS"[..], b"x", b"list"][..], &[b"LCS", b"list", b"x", b"BOGUS"]] {
        assert_eq!(db.execute(argv), redis.cmd(argv), "{argv:?}");
    }
}
