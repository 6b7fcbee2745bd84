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

/// A `Name:   123 kB` field of a /proc file (`/proc/self/status`, `/proc/<pid>/smaps_rollup`),
/// in bytes. None if the file or field is missing (process gone, not Linux).
pub fn proc_kb(path: &str, field: &str) -> Option<u64> {
    let s = std::fs::read_to_string(path).ok()?;
    let line = s.lines().find(|l| l.starts_with(field) && l[field.len()..].starts_with(':'))?;
    let kb: u64 = line[field.len() + 1..].split_whitespace().next()?.parse().ok()?;
    Some(kb * 1024)
}

/// CPU time (user + system, all threads) a process has used so far: `None` = this process.
pub fn process_cpu(pid: Option<u32>) -> Option<Duration> {
    let path = pid.map_or_else(|| "/proc/self/stat".to_string(), |p| format!("/proc/{p}/stat"));
    let stat = std::fs::read_to_string(path).ok()?;
    // Fields after the parenthesised command name start at field 3 (state); utime, stime are 14, 15.
    let f: Vec<&str> = stat[stat.rfind(')')? + 2..].split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf has no memory-safety preconditions.
    let hz = u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) }).ok().filter(|&h| h > 0)?;
    Some(Duration::from_nanos(ticks * 1_000_000_000 / hz))
}

/// Give the C heap's free memory back to the OS (glibc `malloc_trim`), so RSS shows live data:
/// memory freed by an earlier database in this process is otherwise still counted, and reused
/// without any RSS growth.
pub fn trim_heap() {
    // SAFETY: malloc_trim only releases free heap pages; no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Resident set size of this process, bytes.
pub fn self_rss() -> Option<u64> {
    proc_kb("/proc/self/status", "VmRSS")
}

/// Bytes in a readable unit (MiB / GiB).
pub fn fmt_bytes(b: u64) -> String {
    if b >= 10 << 30 {
        format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64)
    } else {
        format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64)
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
    fn reads_own_rss() {
        let rss = self_rss().expect("VmRSS of this process");
        assert!(rss > 1 << 20, "{rss}");
        assert_eq!(proc_kb("/proc/self/status", "NoSuchField"), None);
        assert_eq!(fmt_bytes(3 << 20), "3.0 MiB");
        assert_eq!(fmt_bytes(12 << 30), "12.0 GiB");
    }

    #[test]
    fn cpu_time_advances() {
        let a = process_cpu(None).expect("own CPU time");
        let t = Instant::now();
        let mut x = 0u64;
        while t.elapsed() < Duration::from_millis(300) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        let b = process_cpu(None).expect("own CPU time");
        assert!(b > a, "{a:?} -> {b:?}");
        assert!(process_cpu(Some(std::process::id())).is_some());
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
