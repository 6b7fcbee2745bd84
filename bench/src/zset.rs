//! Suite `zset`: one sorted set of `zset_members` members (16-byte members, random integer
//! scores), built with ZADD one member per call through the typed API; then per-op latencies of
//! ZRANK (random members) and ZRANGE by rank of 10 items (random start), each the median over
//! batches of `measure::BATCH` calls. The same operations on kevy-embedded are shown for
//! reference (no target is set against them).

use std::hint::black_box;
use std::time::Instant;

use nestdb::{Commands, Db, Reply};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::measure::{batched_latencies, median, quantile, rate};
use crate::report::{Report, Unit};
use crate::workload::{self, Key};
use crate::Config;

const ZKEY: &[u8] = b"bench:zset";

struct Plan {
    /// (member, score) in insertion order.
    adds: Vec<(Key, f64)>,
    /// Members to ZRANK.
    rank_members: Vec<Key>,
    /// ZRANGE starts (inclusive) of 10-item windows.
    range_starts: Vec<usize>,
}

fn plan(cfg: &Config) -> Plan {
    let n = cfg.zset_members;
    let mut rng = SmallRng::seed_from_u64(42);
    let members = workload::shuffled(&workload::keys(n), 3);
    let adds: Vec<(Key, f64)> = members.iter().map(|m| (*m, f64::from(rng.random::<u32>()))).collect();
    let rank_members = (0..cfg.samples).map(|_| members[rng.random_range(0..n)]).collect();
    let range_starts = (0..cfg.samples).map(|_| rng.random_range(0..n - 10)).collect();
    Plan { adds, rank_members, range_starts }
}

fn latency_detail(lat: &[f64], what: &str) -> String {
    format!(
        "{} {what}, batches of {}: p99 of batches {:.0} ns",
        lat.len() * crate::measure::BATCH,
        crate::measure::BATCH,
        quantile(lat, 0.99)
    )
}

pub fn run(cfg: &Config, report: &mut Report) {
    let p = plan(cfg);
    let n = p.adds.len();

    // ZADD: a fresh set per repetition; the last one stays for the reads.
    let mut zadd_rates = Vec::new();
    let mut db = Db::open_in_memory();
    let reps = cfg.reps.min(3);
    for _ in 0..reps {
        db = Db::open_in_memory();
        let t = Instant::now();
        for (m, s) in &p.adds {
            black_box(db.zadd(ZKEY, *s, m).expect("ZADD"));
        }
        zadd_rates.push(rate(n, t.elapsed()));
    }
    assert_eq!(db.execute(&[b"ZCARD", ZKEY]), Reply::Int(n as i64));
    report.add(
        "nestdb.zadd",
        format!("nestdb ZADD into one set, to {n} members (typed `zadd`)"),
        median(&zadd_rates),
        Unit::OpsPerSec,
        format!("median of {reps} builds"),
    );

    // Warm up the read paths on a slice of the samples (bounded, in case rank is O(n)), then time.
    let warm = (p.rank_members.len() / 10).clamp(1, 1000);
    for m in &p.rank_members[..warm] {
        black_box(db.zrank(ZKEY, m).expect("ZRANK"));
    }
    let zrank = batched_latencies(&p.rank_members, |m| {
        let r = db.zrank(ZKEY, m).expect("ZRANK");
        assert!(r.is_some(), "ZRANK of a member returned nil");
        black_box(r);
    });
    report.add(
        "nestdb.zrank",
        format!("nestdb ZRANK, median (set of {n}, typed `zrank`)"),
        median(&zrank),
        Unit::Nanos,
        latency_detail(&zrank, "random members"),
    );

    let args: Vec<(Vec<u8>, Vec<u8>)> =
        p.range_starts.iter().map(|&s| (s.to_string().into_bytes(), (s + 9).to_string().into_bytes())).collect();
    for (a, b) in &args[..warm] {
        black_box(db.execute(&[b"ZRANGE", ZKEY, a, b]));
    }
    let zrange = batched_latencies(&args, |(a, b)| {
        let r = db.execute(&[b"ZRANGE", ZKEY, a, b]);
        assert!(matches!(&r, Reply::Array(v) if v.len() == 10), "ZRANGE returned {r:?}");
        black_box(r);
    });
    report.add(
        "nestdb.zrange10",
        format!("nestdb ZRANGE start start+9, median (set of {n}, `execute`)"),
        median(&zrange),
        Unit::Nanos,
        latency_detail(&zrange, "random starts"),
    );

    let zrange_ws = batched_latencies(&p.range_starts, |&s| {
        let r = db.zrange_withscores(ZKEY, s as i64, s as i64 + 9).expect("ZRANGE");
        assert_eq!(r.len(), 10);
        black_box(r);
    });
    report.add(
        "nestdb.zrange10.ws",
        "nestdb ZRANGE 10 WITHSCORES, median (typed `zrange_withscores`)",
        median(&zrange_ws),
        Unit::Nanos,
        latency_detail(&zrange_ws, "random starts"),
    );
    drop(db);

    if cfg.kevy_zset {
        kevy(&p, report);
    }
}

fn kevy(p: &Plan, report: &mut Report) {
    let n = p.adds.len();
    let store = crate::kevy::open();
    let t = Instant::now();
    for (m, s) in &p.adds {
        black_box(store.zadd(ZKEY, &[(*s, &m[..])]).expect("kevy ZADD"));
    }
    report.add("kevy.zadd", format!("kevy-embedded ZADD, to {n} members"), rate(n, t.elapsed()), Unit::OpsPerSec, "one build");
    let zrank = batched_latencies(&p.rank_members, |m| {
        let r = store.zrank(ZKEY, m).expect("kevy ZRANK");
        assert!(r.is_some());
        black_box(r);
    });
    report.add("kevy.zrank", "kevy-embedded ZRANK, median", median(&zrank), Unit::Nanos, latency_detail(&zrank, "random members"));
    let zrange = batched_latencies(&p.range_starts, |&s| {
        let r = store.zrange(ZKEY, s as i64, s as i64 + 9).expect("kevy ZRANGE");
        assert_eq!(r.len(), 10);
        black_box(r);
    });
    report.add(
        "kevy.zrange10",
        "kevy-embedded ZRANGE 10 (returns scores), median",
        median(&zrange),
        Unit::Nanos,
        latency_detail(&zrange, "random starts"),
    );
}
