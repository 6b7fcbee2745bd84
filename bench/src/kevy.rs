//! Suite `kevy`: the `kv` workload on kevy-embedded 3.17.3 (the closest Rust peer: an
//! in-process Redis-compatible store), with its default in-memory configuration
//! (`Config::default()`: no data dir, so no AOF; one shard).

use std::hint::black_box;
use std::time::Instant;

use kevy_embedded::{Config as KevyConfig, Store};

use crate::kv::spread;
use crate::measure::{median, rate};
use crate::report::{Report, Unit};
use crate::workload::{self, VALUE};
use crate::Config;

pub fn open() -> Store {
    Store::open(KevyConfig::default()).expect("open kevy-embedded store")
}

pub fn run(cfg: &Config, report: &mut Report) {
    let keys = workload::keys(cfg.keys);
    let order = workload::shuffled(&keys, 1);
    let n = keys.len();
    let (mut sets, mut gets) = (Vec::new(), Vec::new());
    for rep in 0..cfg.warmup + cfg.reps {
        let store = open();
        let t = Instant::now();
        for k in &keys {
            black_box(store.set(k, VALUE).expect("kevy SET"));
        }
        let d_set = t.elapsed();
        let t = Instant::now();
        let mut found = 0usize;
        for k in &order {
            if let Some(v) = black_box(store.get(k).expect("kevy GET")) {
                found += v.len();
            }
        }
        let d_get = t.elapsed();
        assert_eq!(found, n * VALUE.len(), "kevy GET missed keys");
        drop(store);
        if rep >= cfg.warmup {
            sets.push(rate(n, d_set));
            gets.push(rate(n, d_get));
        }
    }
    let detail = |v: &[f64]| format!("{n} keys, median of {} reps ({})", v.len(), spread(v));
    report.add("kevy.set", "kevy-embedded 3.17.3 SET", median(&sets), Unit::OpsPerSec, detail(&sets));
    report.add("kevy.get", "kevy-embedded 3.17.3 GET", median(&gets), Unit::OpsPerSec, detail(&gets));
}
