//! Suite `kv`: nestdb GET and SET, one thread, through the typed API (`Commands::get/set`, which
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
        // The value is copied into one reused buffer: the bytes are read (as a caller would),
        // but nothing is allocated per call.
        let mut buf = Vec::with_capacity(64);
        let found = get_with.time(record, n, || {
            let mut found = 0usize;
            for k in &order {
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
            for k in &order {
                if let Reply::Bulk(v) = black_box(db.execute(&[b"GET", k])) {
                    found += v.len();
                }
            }
            found
        });
        assert_eq!(found, n * VALUE.len(), "execute GET missed keys");
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
}

/// "range a–b M/s" of a throughput sample.
pub fn spread(v: &[f64]) -> String {
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(0.0, f64::max);
    format!("range {:.2}–{:.2} M/s", lo / 1e6, hi / 1e6)
}
