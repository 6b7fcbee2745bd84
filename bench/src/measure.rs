//! Timing helpers: repetitions with a warmup, medians, batched per-op latencies.
//!
//! Throughput figures (computed by the suites) are the median over timed repetitions after an
//! untimed warmup repetition; latency figures are the median (and p99) of per-op times measured over batches
//! of `BATCH` operations, so the cost of reading the clock (tens of ns in a VM) is amortised.

use std::time::{Duration, Instant};

/// Operations per timed batch in latency measurements.
pub const BATCH: usize = 100;

/// Median of a non-empty sample (mean of the two middle values for an even count).
pub fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// The `q`-quantile (0..=1) of a non-empty sample, nearest rank.
pub fn quantile(xs: &[f64], q: f64) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    let idx = ((v.len() as f64 - 1.0) * q).round() as usize;
    v[idx.min(v.len() - 1)]
}

/// CPU time this thread has run (Linux `/proc/thread-self/schedstat`), None elsewhere.
pub fn thread_cpu() -> Option<Duration> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    Some(Duration::from_nanos(s.split_whitespace().next()?.parse().ok()?))
}

/// Throughput samples of one timed phase, by wall clock and by on-CPU time of the running
/// thread. Wall is the reported figure; on-CPU shows how much of it other load on the machine
/// took away (time spent runnable but descheduled counts in wall, not in on-CPU).
#[derive(Default)]
pub struct Samples {
    pub wall: Vec<f64>,
    pub cpu: Vec<f64>,
}

impl Samples {
    /// Run `f` (doing `ops` operations on this thread), recording its rates if `record`.
    pub fn time<R>(&mut self, record: bool, ops: usize, f: impl FnOnce() -> R) -> R {
        let c0 = thread_cpu();
        let t = Instant::now();
        let r = f();
        let wall = t.elapsed();
        let cpu = thread_cpu().zip(c0).map(|(b, a)| b.saturating_sub(a));
        if record {
            self.wall.push(rate(ops, wall));
            // schedstat may advance in scheduler ticks (4 ms here): short phases get no on-CPU figure.
            if let Some(c) = cpu.filter(|c| *c >= Duration::from_millis(250)) {
                self.cpu.push(rate(ops, c));
            }
        }
        r
    }

    /// Median wall-clock rate.
    pub fn median(&self) -> f64 {
        median(&self.wall)
    }

    /// "N keys, median of R reps (range a–b M/s), on-CPU c M/s".
    pub fn detail(&self, n: usize) -> String {
        let lo = self.wall.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = self.wall.iter().copied().fold(0.0, f64::max);
        let mut s = format!("{n} keys, median of {} reps (range {:.2}–{:.2} M/s)", self.wall.len(), lo / 1e6, hi / 1e6);
        if !self.cpu.is_empty() {
            s.push_str(&format!("; on-CPU {:.2} M/s", median(&self.cpu) / 1e6));
        }
        s
    }
}

/// Ops per second of `ops` operations that took `d`.
pub fn rate(ops: usize, d: Duration) -> f64 {
    ops as f64 / d.as_secs_f64()
}

/// Longest a latency measurement runs: an O(n) implementation on a 1M-member set would
/// otherwise take many minutes; it stops early (reported sample counts show it) instead.
pub const LATENCY_BUDGET: Duration = Duration::from_secs(10);

/// Per-op latencies (ns) of `op` over `items`, timed in batches of `BATCH`, stopping after
/// `LATENCY_BUDGET` (at least one batch).
pub fn batched_latencies<T>(items: &[T], mut op: impl FnMut(&T)) -> Vec<f64> {
    let start = Instant::now();
    let mut out = Vec::with_capacity(items.len() / BATCH + 1);
    for chunk in items.chunks(BATCH) {
        let t = Instant::now();
        for it in chunk {
            op(it);
        }
        out.push(t.elapsed().as_nanos() as f64 / chunk.len() as f64);
        if start.elapsed() > LATENCY_BUDGET {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_quantiles() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
        assert_eq!(quantile(&[5.0, 1.0, 3.0, 2.0, 4.0], 0.0), 1.0);
        assert_eq!(quantile(&[5.0, 1.0, 3.0, 2.0, 4.0], 1.0), 5.0);
        assert_eq!(quantile(&[5.0, 1.0, 3.0, 2.0, 4.0], 0.5), 3.0);
    }

    #[test]
    fn batches_cover_every_item() {
        let items: Vec<u32> = (0..250).collect();
        let mut seen = 0;
        let lat = batched_latencies(&items, |_| seen += 1);
        assert_eq!(seen, 250);
        assert_eq!(lat.len(), 3);
    }
}
