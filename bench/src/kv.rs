//! Suite `kv`: nestdb GET and SET, one thread, through the typed API (`Commands::get/set`, which
//! bypass the command table) and through `Db::execute` (the path every other surface takes).
//!
//! Per repetition: a fresh database, SET of every key in insertion order, then GET of every key
//! in a random order. SET through `execute` gets its own fresh database per repetition, so both
//! SET figures measure inserts into an empty keyspace (as redis-benchmark's SET mostly does).

use std::hint::black_box;
use std::time::Instant;

use nestdb::{Commands, Db, Reply};

use crate::measure::{median, rate};
use crate::report::{Report, Unit};
use crate::workload::{self, VALUE};
use crate::Config;

pub fn run(cfg: &Config, report: &mut Report) {
    let keys = workload::keys(cfg.keys);
    let order = workload::shuffled(&keys, 1);
    let n = keys.len();
    let (mut set_typed, mut get_typed, mut set_exec, mut get_exec) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for rep in 0..cfg.warmup + cfg.reps {
        let db = Db::open_in_memory();
        let t = Instant::now();
        for k in &keys {
            db.set(k, VALUE).expect("SET");
        }
        let d_set = t.elapsed();

        let t = Instant::now();
        let mut found = 0usize;
        for k in &order {
            if let Some(v) = black_box(db.get(k).expect("GET")) {
                found += v.len();
            }
        }
        let d_get = t.elapsed();
        assert_eq!(found, n * VALUE.len(), "typed GET missed keys");

        let t = Instant::now();
        let mut found = 0usize;
        for k in &order {
            if let Reply::Bulk(v) = black_box(db.execute(&[b"GET", k])) {
                found += v.len();
            }
        }
        let d_get_exec = t.elapsed();
        assert_eq!(found, n * VALUE.len(), "execute GET missed keys");
        drop(db);

        let db = Db::open_in_memory();
        let t = Instant::now();
        for k in &keys {
            let r = db.execute(&[b"SET", k, VALUE]);
            debug_assert_eq!(r, Reply::OK);
            black_box(r);
        }
        let d_set_exec = t.elapsed();
        assert_eq!(db.execute(&[b"DBSIZE"]), Reply::Int(n as i64));
        drop(db);

        if rep >= cfg.warmup {
            set_typed.push(rate(n, d_set));
            get_typed.push(rate(n, d_get));
            set_exec.push(rate(n, d_set_exec));
            get_exec.push(rate(n, d_get_exec));
        }
    }
    let detail = |v: &[f64]| format!("{n} keys, median of {} reps ({})", v.len(), spread(v));
    report.add("nestdb.set.typed", "nestdb SET (typed `Commands::set`)", median(&set_typed), Unit::OpsPerSec, detail(&set_typed));
    report.add("nestdb.get.typed", "nestdb GET (typed `Commands::get`)", median(&get_typed), Unit::OpsPerSec, detail(&get_typed));
    report.add("nestdb.set.execute", "nestdb SET (`db.execute`)", median(&set_exec), Unit::OpsPerSec, detail(&set_exec));
    report.add("nestdb.get.execute", "nestdb GET (`db.execute`)", median(&get_exec), Unit::OpsPerSec, detail(&get_exec));
}

/// "min–max M/s" of a throughput sample.
pub fn spread(v: &[f64]) -> String {
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(0.0, f64::max);
    format!("range {:.2}–{:.2} M/s", lo / 1e6, hi / 1e6)
}
