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

/// Ops per second of `ops` operations that took `d`.
pub fn rate(ops: usize, d: Duration) -> f64 {
    ops as f64 / d.as_secs_f64()
}

/// Per-op latencies (ns) of `op` over `items`, timed in batches of `BATCH`.
pub fn batched_latencies<T>(items: &[T], mut op: impl FnMut(&T)) -> Vec<f64> {
    let mut out = Vec::with_capacity(items.len() / BATCH + 1);
    for chunk in items.chunks(BATCH) {
        let t = Instant::now();
        for it in chunk {
            op(it);
        }
        out.push(t.elapsed().as_nanos() as f64 / chunk.len() as f64);
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
