//! Per-operation latencies without storing them: a log-linear histogram (64 sub-buckets per
//! power of two, so any reported quantile is within 1.6 % above the true value), plus the exact
//! maximum. Fixed size (30 KiB), so recording millions of operations during a memory
//! measurement does not itself grow the process. Record: O(1); quantile: O(buckets).

use std::time::Duration;

const SUB_BITS: u32 = 6;
const SUB: u64 = 1 << SUB_BITS;
/// Bucket count covering every u64 nanosecond value.
const BUCKETS: usize = ((64 - SUB_BITS as usize) + 1) * SUB as usize;

pub struct Hist {
    counts: Vec<u64>,
    n: u64,
    max: u64,
    sum: u128,
}

impl Default for Hist {
    fn default() -> Self {
        Hist { counts: vec![0; BUCKETS], n: 0, max: 0, sum: 0 }
    }
}

fn bucket(v: u64) -> usize {
    if v < SUB {
        return v as usize;
    }
    let e = 63 - v.leading_zeros(); // >= SUB_BITS
    let m = v >> (e - SUB_BITS); // in [SUB, 2 SUB)
    ((e - SUB_BITS + 1) as u64 * SUB + (m - SUB)) as usize
}

/// Largest value that falls in bucket `i`.
fn upper(i: usize) -> u64 {
    let i = i as u64;
    if i < SUB {
        return i;
    }
    let e = i / SUB - 1 + u64::from(SUB_BITS);
    let m = i % SUB + SUB;
    // The top bucket ends at u64::MAX: its shifted bound wraps to 0.
    ((m + 1) << (e - u64::from(SUB_BITS))).wrapping_sub(1)
}

impl Hist {
    pub fn record(&mut self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.counts[bucket(ns)] += 1;
        self.n += 1;
        self.max = self.max.max(ns);
        self.sum += u128::from(ns);
    }

    pub fn count(&self) -> u64 {
        self.n
    }

    /// The `q`-quantile (0..=1) in ns: the upper bound of the bucket holding the rank-`ceil(q n)`
    /// value (never more than the exact maximum). 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.n == 0 {
            return 0;
        }
        let rank = ((q * self.n as f64).ceil() as u64).clamp(1, self.n);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return upper(i).min(self.max);
            }
        }
        self.max
    }

    pub fn max(&self) -> u64 {
        self.max
    }

    pub fn mean(&self) -> f64 {
        if self.n == 0 {
            0.0
        } else {
            self.sum as f64 / self.n as f64
        }
    }

    /// "p50 a µs, p99 b µs, p99.9 c µs, max d ms" for a detail column.
    pub fn summary(&self) -> String {
        format!(
            "{} ops: p50 {}, p99 {}, p99.9 {}, max {}",
            self.n,
            fmt_ns(self.quantile(0.5)),
            fmt_ns(self.quantile(0.99)),
            fmt_ns(self.quantile(0.999)),
            fmt_ns(self.max)
        )
    }
}

/// A latency in the most readable unit.
pub fn fmt_ns(ns: u64) -> String {
    if ns < 10_000 {
        format!("{ns} ns")
    } else if ns < 10_000_000 {
        format!("{:.1} µs", ns as f64 / 1e3)
    } else {
        format!("{:.1} ms", ns as f64 / 1e6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotone_and_tight() {
        let mut last = 0;
        for v in (0..5000u64).chain([1 << 20, (1 << 20) + 12345, 7_654_321_000, u64::MAX]) {
            let b = bucket(v);
            assert!(b >= last || v > 5000, "bucket order at {v}");
            last = b;
            assert!(upper(b) >= v, "upper bound below value {v}");
            assert!(b < BUCKETS);
            // Relative error of the upper bound stays under 1/64.
            assert!((upper(b) - v) as f64 <= v as f64 / 64.0 + 1.0, "{v} -> {}", upper(b));
        }
    }

    #[test]
    fn quantiles_and_max() {
        let mut h = Hist::default();
        assert_eq!(h.quantile(0.5), 0);
        for ns in 1..=1000u64 {
            h.record(Duration::from_nanos(ns * 1000));
        }
        assert_eq!(h.count(), 1000);
        let p50 = h.quantile(0.5);
        assert!((500_000..=508_000).contains(&p50), "{p50}");
        let p99 = h.quantile(0.99);
        assert!((990_000..=1_006_000).contains(&p99), "{p99}");
        assert_eq!(h.max(), 1_000_000);
        assert_eq!(h.quantile(1.0), 1_000_000);
        assert!((h.mean() - 500_500.0).abs() < 1.0);
    }
}
