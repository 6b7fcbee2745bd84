//! Suite `sort`: SORT in process (`Db::execute`) against redis-server over loopback, one
//! client, the same data and commands. Not an issue target (SORT is in no issue): a reference
//! for what the sort code costs. Each command returns 10 elements (LIMIT 0 10), so the time is
//! the server's sort, not the reply's transfer.
//!
//! Data: a list of `n` random integers below 10^9 (numeric sort), a list of `n` random
//! 12-character words (ALPHA), and for `n / 10` of those integers a weight string key
//! `w_<elem>` and a hash `h_<elem>` with a field `f` (BY patterns; lookups dominate).

use std::time::Instant;

use nestdb::{Db, Reply};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::measure::median;
use crate::redis::start_server;
use crate::report::{Report, Unit};
use crate::Config;

/// The commands, as (report ids: nestdb, redis-server, ratio; whether it sorts `ids`; argv):
/// each is timed on both sides.
type Case = ([&'static str; 3], bool, &'static [&'static str]);
const CASES: [Case; 4] = [
    (["nestdb.sort.numbers", "redis.sort.numbers", "ratio.sort.numbers"], false, &["SORT", "nums", "LIMIT", "0", "10"]),
    (["nestdb.sort.alpha", "redis.sort.alpha", "ratio.sort.alpha"], false, &["SORT", "words", "ALPHA", "LIMIT", "0", "10"]),
    (["nestdb.sort.by", "redis.sort.by", "ratio.sort.by"], true, &["SORT", "ids", "BY", "w_*", "LIMIT", "0", "10"]),
    (
        ["nestdb.sort.by_hash_get", "redis.sort.by_hash_get", "ratio.sort.by_hash_get"],
        true,
        &["SORT", "ids", "BY", "h_*->f", "GET", "#", "GET", "w_*", "LIMIT", "0", "10"],
    ),
];

pub fn run(cfg: &Config, report: &mut Report) -> Result<(), String> {
    let n = cfg.keys / 10;
    let ids = n / 10;
    let mut rng = SmallRng::seed_from_u64(7);
    let nums: Vec<String> = (0..n).map(|_| rng.random_range(0..1_000_000_000u64).to_string()).collect();
    let words: Vec<String> = (0..n).map(|_| (0..12).map(|_| char::from(b'a' + rng.random_range(0..26u8))).collect()).collect();
    let weights: Vec<String> = (0..ids).map(|_| rng.random_range(0..1_000_000u64).to_string()).collect();
    // Every data-loading command, run on both sides.
    let mut load: Vec<Vec<String>> = Vec::new();
    for chunk in nums.chunks(1000) {
        load.push([&["RPUSH".to_string(), "nums".into()][..], chunk].concat());
    }
    for chunk in words.chunks(1000) {
        load.push([&["RPUSH".to_string(), "words".into()][..], chunk].concat());
    }
    for (i, w) in weights.iter().enumerate() {
        load.push(vec!["RPUSH".into(), "ids".into(), nums[i].clone()]);
        load.push(vec!["SET".into(), format!("w_{}", nums[i]), w.clone()]);
        load.push(vec!["HSET".into(), format!("h_{}", nums[i]), "f".into(), w.clone()]);
    }
    let reps = cfg.reps.max(3);

    let db = Db::open_in_memory();
    for argv in &load {
        let argv: Vec<&[u8]> = argv.iter().map(|s| s.as_bytes()).collect();
        db.execute(&argv);
    }
    let server = start_server()?;
    let mut conn = crate::resp::Conn::connect(server.port).map_err(|e| e.to_string())?;
    for argv in &load {
        let argv: Vec<&[u8]> = argv.iter().map(|s| s.as_bytes()).collect();
        conn.send(&argv).map_err(|e| e.to_string())?;
    }
    conn.flush().map_err(|e| e.to_string())?;
    for _ in &load {
        conn.read().map_err(|e| e.to_string())?;
    }

    for ([our_id, their_id, ratio_id], by_ids, cmd) in CASES {
        let argv: Vec<&[u8]> = cmd.iter().map(|s| s.as_bytes()).collect();
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for _ in 0..reps {
            let t = Instant::now();
            let r = db.execute(&argv);
            ours.push(t.elapsed().as_secs_f64());
            assert!(matches!(&r, Reply::Array(a) if !a.is_empty()), "{cmd:?}: {r:?}");
            let t = Instant::now();
            conn.call(&argv).map_err(|e| e.to_string())?;
            theirs.push(t.elapsed().as_secs_f64());
        }
        let size = if by_ids { ids } else { n };
        let (o, t) = (median(&ours), median(&theirs));
        let line = cmd.join(" ");
        report.add(our_id, format!("nestdb {line}"), o, Unit::Secs, format!("{size} elements, median of {reps}"));
        report.add(their_id, format!("redis-server {line}"), t, Unit::Secs, format!("{size} elements, one client, loopback"));
        report.add(ratio_id, format!("redis-server time / nestdb time ({line})"), t / o, Unit::Ratio, String::new());
    }
    Ok(())
}
