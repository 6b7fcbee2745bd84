//! Suite `threads`: GET throughput of one thread vs two threads sharing one `Db`.
//!
//! The database holds every key; each thread GETs every key once in its own random order. One
//! thread and two threads both run on spawned threads (same conditions); the two-thread figure is
//! the aggregate rate (2n operations over the wall time from a common start barrier to the last
//! thread's end); the one-thread figure is the better of two single-thread runs. On a 2-core machine any other load shows up directly in the ratio, so each
//! repetition first measures the machine's own ceiling: the same 1-vs-2-thread ratio for a pure
//! register-only compute loop (no shared memory). The suite reports it with the load average
//! seen at the start; GET scaling is only meaningful when that ceiling is near 2.

use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use nestdb::{Commands, Db};

use crate::kv::spread;
use crate::measure::{median, rate};
use crate::report::{Report, Unit};
use crate::workload::{self, Key, VALUE};
use crate::Config;

fn get_all(db: &Db, order: &[Key]) -> usize {
    let mut found = 0;
    for k in order {
        if let Some(v) = black_box(db.get(k).expect("GET")) {
            found += v.len();
        }
    }
    found
}

/// Wall time of `threads` threads each running `get_all` over its own order, from a shared start.
fn run_threads(db: &Db, orders: &[Vec<Key>]) -> std::time::Duration {
    let barrier = Barrier::new(orders.len() + 1);
    std::thread::scope(|s| {
        let handles: Vec<_> = orders
            .iter()
            .map(|order| {
                let (db, barrier) = (db.clone(), &barrier);
                s.spawn(move || {
                    barrier.wait();
                    get_all(&db, order)
                })
            })
            .collect();
        barrier.wait();
        let t = Instant::now();
        for (h, order) in handles.into_iter().zip(orders) {
            let found = h.join().expect("GET thread panicked");
            assert_eq!(found, order.len() * VALUE.len(), "GET missed keys");
        }
        t.elapsed()
    })
}

/// Iterations of a register-only loop done in `d` (no memory traffic, nothing shared).
fn spin(d: Duration) -> u64 {
    let t = Instant::now();
    let (mut n, mut x) = (0u64, 1u64);
    while t.elapsed() < d {
        for _ in 0..1000 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        }
        n += 1;
    }
    black_box(x);
    n
}

/// Compute throughput of two threads over one thread, right now.
fn ceiling() -> f64 {
    let d = Duration::from_millis(300);
    let one = spin(d);
    let two: u64 = std::thread::scope(|s| {
        let hs: Vec<_> = (0..2).map(|_| s.spawn(move || spin(d))).collect();
        hs.into_iter().map(|h| h.join().expect("spin thread")).sum()
    });
    two as f64 / one as f64
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg").ok().and_then(|s| s.split_whitespace().next().map(str::to_owned)).unwrap_or_else(|| "?".into())
}

pub fn run(cfg: &Config, report: &mut Report) {
    let load = load_average();
    let keys = workload::keys(cfg.keys);
    let n = keys.len();
    let db = Db::open_in_memory();
    for k in &keys {
        db.set(k, VALUE).expect("SET");
    }
    let orders = [workload::shuffled(&keys, 11), workload::shuffled(&keys, 12)];
    drop(keys);
    let (mut one, mut two, mut ceil) = (Vec::new(), Vec::new(), Vec::new());
    for rep in 0..cfg.warmup + cfg.reps {
        let c = ceiling();
        // The better of two single-thread runs (each on a fresh thread, so on either vCPU):
        // the two vCPUs of a VM are not always equally fast, and the ratio must not flatter.
        let d1 = run_threads(&db, &orders[..1]).min(run_threads(&db, &orders[1..]));
        let d2 = run_threads(&db, &orders[..]);
        if rep >= cfg.warmup {
            ceil.push(c);
            one.push(rate(n, d1));
            two.push(rate(2 * n, d2));
        }
    }
    let (m1, m2) = (median(&one), median(&two));
    report.add("threads.one", "nestdb GET, 1 thread (typed)", m1, Unit::OpsPerSec, format!("{n} keys, {}", spread(&one)));
    report.add(
        "threads.two",
        "nestdb GET, 2 threads, one shared Db (aggregate)",
        m2,
        Unit::OpsPerSec,
        format!("{n} keys/thread, {}", spread(&two)),
    );
    let per_rep: Vec<String> = one.iter().zip(&two).map(|(a, b)| format!("{:.2}", b / a)).collect();
    report.add("threads.ratio", "GET 2 threads / 1 thread", m2 / m1, Unit::Ratio, format!("per repetition: {}", per_rep.join(", ")));
    let ceil_reps: Vec<String> = ceil.iter().map(|c| format!("{c:.2}")).collect();
    report.add(
        "threads.ceiling",
        "machine ceiling: compute loop 2 threads / 1 thread",
        median(&ceil),
        Unit::Ratio,
        format!("per repetition: {}; load average at start: {load}", ceil_reps.join(", ")),
    );
}
