//! Suite `kevy`: the `kv` workload on kevy-embedded 3.17.3 (the closest Rust peer: an
//! in-process Redis-compatible store), with its default in-memory configuration
//! (`Config::default()`: no data dir, so no AOF; one shard).

use std::hint::black_box;

use kevy_embedded::{Config as KevyConfig, Store};

use crate::measure::Samples;
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
    let (mut sets, mut gets) = (Samples::default(), Samples::default());
    for rep in 0..cfg.warmup + cfg.reps {
        let record = rep >= cfg.warmup;
        let store = open();
        sets.time(record, n, || {
            for k in &keys {
                black_box(store.set(k, VALUE).expect("kevy SET"));
            }
        });
        let found = gets.time(record, n, || {
            let mut found = 0usize;
            for k in &order {
                if let Some(v) = black_box(store.get(k).expect("kevy GET")) {
                    found += v.len();
                }
            }
            found
        });
        assert_eq!(found, n * VALUE.len(), "kevy GET missed keys");
        drop(store);
    }
    report.add("kevy.set", "kevy-embedded 3.17.3 SET", sets.median(), Unit::OpsPerSec, sets.detail(n));
    report.add("kevy.get", "kevy-embedded 3.17.3 GET", gets.median(), Unit::OpsPerSec, gets.detail(n));
}
