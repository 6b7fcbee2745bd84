//! Suites `kv` and `kvttl`. `kv`: nestdb GET and SET, one thread, through the typed API (`Commands::get/set`, which
//! bypass the command table), through `Db::get_with` (GET that lends the value to a closure;
//! here it copies it into one reused buffer, so no allocation per call) and through `Db::execute` (the path every other surface takes).
//!
//! Per repetition: a fresh database, SET of every key in insertion order, then GET of every key
//! in a random order (typed, `get_with`, then `execute`). SET through `execute` gets its own fresh database
//! per repetition, so both SET figures measure inserts into an empty keyspace (as
//! redis-benchmark's SET mostly does).

use std::hint::black_box;

use nestdb::{Commands, Db, Reply};

use crate::measure::Samples;
use crate::report::{Report, Unit};
use crate::workload::{self, VALUE};
use crate::Config;

pub fn run(cfg: &Config, report: &mut Report) {
    let keys = workload::keys(cfg.keys);
    let order = workload::shuffled(&keys, 1);
    let n = keys.len();
    let (mut set_typed, mut get_typed, mut get_with, mut set_exec, mut get_exec) =
        (Samples::default(), Samples::default(), Samples::default(), Samples::default(), Samples::default());
    let (mut set_pipe, mut get_pipe, mut get_batch) = (Samples::default(), Samples::default(), Samples::default());
    for rep in 0..cfg.warmup + cfg.reps {
        let record = rep >= cfg.warmup;
        let db = Db::open_in_memory();
        set_typed.time(record, n, || {
            for k in &keys {
                db.set(k, VALUE).expect("SET");
            }
        });
        let found = get_typed.time(record, n, || {
            let mut found = 0usize;
            for k in &order {
                if let Some(v) = black_box(db.get(k).expect("GET")) {
                    found += v.len();
                }
            }
            found
        });
        assert_eq!(found, n * VALUE.len(), "typed GET missed keys");
        time_gets(&db, &order, record, &mut get_with, &mut get_exec);
        drop(db);

        let db = Db::open_in_memory();
        set_exec.time(record, n, || {
            for k in &keys {
                let r = db.execute(&[b"SET", k, VALUE]);
                debug_assert_eq!(r, Reply::OK);
                black_box(r);
            }
        });
        assert_eq!(db.execute(&[b"DBSIZE"]), Reply::Int(n as i64));
        drop(db);

        // Pipelines of 16 (`Db::pipeline`), as redis-benchmark -P 16 sends them.
        let db = Db::open_in_memory();
        set_pipe.time(record, n, || {
            for batch in keys.chunks(PIPELINE) {
                let cmds: Vec<[&[u8]; 3]> = batch.iter().map(|k| [&b"SET"[..], &k[..], VALUE]).collect();
                for r in black_box(db.pipeline(&cmds)) {
                    debug_assert_eq!(r, Reply::OK);
                }
            }
        });
        let found = get_pipe.time(record, n, || {
            let mut found = 0usize;
            for batch in order.chunks(PIPELINE) {
                let cmds: Vec<[&[u8]; 2]> = batch.iter().map(|k| [&b"GET"[..], &k[..]]).collect();
                for r in black_box(db.pipeline(&cmds)) {
                    if let Reply::Bulk(v) = r {
                        found += v.len();
                    }
                }
            }
            found
        });
        assert_eq!(found, n * VALUE.len(), "pipelined GET missed keys");
        // The typed batch GET (`Db::mget_with`), 16 keys per call, values copied into one buffer.
        let mut buf = Vec::with_capacity(64);
        let found = get_batch.time(record, n, || {
            let mut found = 0usize;
            for batch in order.chunks(PIPELINE) {
                db.mget_with(batch, |_, v| {
                    if let Some(v) = v {
                        buf.clear();
                        buf.extend_from_slice(v);
                        found += black_box(&buf).len();
                    }
                });
            }
            found
        });
        assert_eq!(found, n * VALUE.len(), "mget_with missed keys");
        drop(db);
    }
    report.add("nestdb.set.typed", "nestdb SET (typed `Commands::set`)", set_typed.median(), Unit::OpsPerSec, set_typed.detail(n));
    report.add("nestdb.get.typed", "nestdb GET (typed `Commands::get`)", get_typed.median(), Unit::OpsPerSec, get_typed.detail(n));
    report.add(
        "nestdb.get.with",
        "nestdb GET (`Db::get_with` into a reused buffer)",
        get_with.median(),
        Unit::OpsPerSec,
        get_with.detail(n),
    );
    report.add("nestdb.set.execute", "nestdb SET (`db.execute`)", set_exec.median(), Unit::OpsPerSec, set_exec.detail(n));
    report.add("nestdb.get.execute", "nestdb GET (`db.execute`)", get_exec.median(), Unit::OpsPerSec, get_exec.detail(n));
    report.add(
        "nestdb.set.pipeline",
        "nestdb SET, pipelines of 16 (`db.pipeline`)",
        set_pipe.median(),
        Unit::OpsPerSec,
        set_pipe.detail(n),
    );
    report.add(
        "nestdb.get.pipeline",
        "nestdb GET, pipelines of 16 (`db.pipeline`)",
        get_pipe.median(),
        Unit::OpsPerSec,
        get_pipe.detail(n),
    );
    report.add(
        "nestdb.get.batch",
        "nestdb GET, batches of 16 (`Db::mget_with` into a reused buffer)",
        get_batch.median(),
        Unit::OpsPerSec,
        get_batch.detail(n),
    );
}

/// Commands per `Db::pipeline` call in the pipelined figures (redis-benchmark's `-P 16`).
const PIPELINE: usize = 16;

/// Suite `kvttl`: GET of keys that have a TTL (an hour ahead: none expires), one thread, 1M
/// keys in random order: every key with a TTL, and half of them (chosen at random, so the
/// has-TTL branch is unpredictable), through `get_with` and `execute`; and SET ... EX of new keys.
pub fn run_ttl(cfg: &Config, report: &mut Report) {
    let keys = workload::keys(cfg.keys);
    let order = workload::shuffled(&keys, 1);
    let n = keys.len();
    let ids = [
        ("nestdb.ttl.all.set", "nestdb.ttl.all.get.with", "nestdb.ttl.all.get.execute"),
        ("nestdb.ttl.half.set", "nestdb.ttl.half.get.with", "nestdb.ttl.half.get.execute"),
    ];
    for (every, id) in [1usize, 2].into_iter().zip(ids) {
        let (mut set_ex, mut get_with, mut get_exec) = (Samples::default(), Samples::default(), Samples::default());
        for rep in 0..cfg.warmup + cfg.reps {
            let record = rep >= cfg.warmup;
            let db = Db::open_in_memory();
            // Which keys get a TTL: a hash of the key, so "half" is random with respect to
            // both the insertion and the lookup order.
            let with_ttl = |k: &[u8]| every == 1 || k.iter().fold(0u32, |h, &b| h.wrapping_mul(31).wrapping_add(u32::from(b))) % 2 == 0;
            set_ex.time(record, n, || {
                for k in &keys {
                    let r = if with_ttl(k) { db.execute(&[b"SET", k, VALUE, b"EX", b"3600"]) } else { db.execute(&[b"SET", k, VALUE]) };
                    black_box(r);
                }
            });
            time_gets(&db, &order, record, &mut get_with, &mut get_exec);
        }
        let what = if every == 1 { "every key" } else { "half the keys" };
        report.add(id.0, format!("nestdb SET, EX on {what} (`db.execute`)"), set_ex.median(), Unit::OpsPerSec, set_ex.detail(n));
        report.add(id.1, format!("nestdb GET, TTL on {what} (`Db::get_with`)"), get_with.median(), Unit::OpsPerSec, get_with.detail(n));
        report.add(id.2, format!("nestdb GET, TTL on {what} (`db.execute`)"), get_exec.median(), Unit::OpsPerSec, get_exec.detail(n));
    }
}

/// GET every key of `order` through `get_with` (the value copied into one reused buffer: the
/// bytes are read, as a caller would, but nothing is allocated per call), then through
/// `execute`, timing each pass.
fn time_gets(db: &Db, order: &[workload::Key], record: bool, get_with: &mut Samples, get_exec: &mut Samples) {
    let n = order.len();
    let mut buf = Vec::with_capacity(64);
    let found = get_with.time(record, n, || {
        let mut found = 0usize;
        for k in order {
            let hit = db.get_with(k, |v| {
                buf.clear();
                buf.extend_from_slice(v);
            });
            if black_box(hit.expect("GET")).is_some() {
                found += black_box(&buf).len();
            }
        }
        found
    });
    assert_eq!(found, n * VALUE.len(), "get_with missed keys");
    let found = get_exec.time(record, n, || {
        let mut found = 0usize;
        for k in order {
            if let Reply::Bulk(v) = black_box(db.execute(&[b"GET", k])) {
                found += v.len();
            }
        }
        found
    });
    assert_eq!(found, n * VALUE.len(), "execute GET missed keys");
}

/// "range a–b M/s" of a throughput sample.
pub fn spread(v: &[f64]) -> String {
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(0.0, f64::max);
    format!("range {:.2}–{:.2} M/s", lo / 1e6, hi / 1e6)
}
