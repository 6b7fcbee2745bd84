//! Collected results and the targets of issues 2 (KV speed), 5 (durability), 6 (memory) and 7
//! (documents) they are judged against.
//!
//! Every suite adds rows under a stable id (`nestdb.get.typed`, `redis.set`...); `print` renders
//! the measurements and then every target whose inputs were measured in this run, as Markdown
//! tables ready for docs/BENCHMARKS.md.

/// What a row's value is.
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Unit {
    OpsPerSec,
    Nanos,
    Ratio,
    /// A duration in seconds.
    Secs,
    Bytes,
    Percent,
}

pub struct Row {
    pub id: &'static str,
    pub label: String,
    pub value: f64,
    pub unit: Unit,
    pub detail: String,
}

#[derive(Default)]
pub struct Report {
    rows: Vec<Row>,
}

/// How a target judges its row(s).
enum Check {
    /// rows[a] / rows[b] >= bound
    RatioAtLeast { b: &'static str },
    /// rows[a] / rows[b] <= bound
    RatioAtMost { b: &'static str },
    /// rows[a] >= bound
    AtLeast,
    /// rows[a] < bound
    Below,
    /// rows[a] <= bound
    AtMost,
    /// rows[a] > bound
    Above,
}

/// One target of an issue: a ratio of two rows (or a row against a constant) and its bound.
struct Target {
    issue: u8,
    what: &'static str,
    a: &'static str,
    check: Check,
    bound: f64,
}

const fn t(issue: u8, what: &'static str, a: &'static str, check: Check, bound: f64) -> Target {
    Target { issue, what, a, check, bound }
}

use Check::{Above, AtLeast, AtMost, Below, RatioAtLeast, RatioAtMost};

const TARGETS: &[Target] = &[
    t(2, "SET typed vs redis-server -P 16", "nestdb.set.typed", RatioAtLeast { b: "redis.set" }, 10.0),
    t(2, "GET typed vs redis-server -P 16", "nestdb.get.typed", RatioAtLeast { b: "redis.get" }, 10.0),
    t(2, "GET get_with vs redis-server -P 16", "nestdb.get.with", RatioAtLeast { b: "redis.get" }, 10.0),
    t(2, "SET execute vs redis-server -P 16", "nestdb.set.execute", RatioAtLeast { b: "redis.set" }, 10.0),
    t(2, "GET execute vs redis-server -P 16", "nestdb.get.execute", RatioAtLeast { b: "redis.get" }, 10.0),
    t(2, "SET pipelines of 16 vs redis-server -P 16", "nestdb.set.pipeline", RatioAtLeast { b: "redis.set" }, 10.0),
    t(2, "GET pipelines of 16 vs redis-server -P 16", "nestdb.get.pipeline", RatioAtLeast { b: "redis.get" }, 10.0),
    t(2, "GET batches of 16 (`mget_with`) vs redis-server -P 16", "nestdb.get.batch", RatioAtLeast { b: "redis.get" }, 10.0),
    t(2, "SET typed vs kevy-embedded", "nestdb.set.typed", RatioAtLeast { b: "kevy.set" }, 3.0),
    t(2, "GET typed vs kevy-embedded", "nestdb.get.typed", RatioAtLeast { b: "kevy.get" }, 3.0),
    t(2, "GET get_with vs kevy-embedded", "nestdb.get.with", RatioAtLeast { b: "kevy.get" }, 3.0),
    t(2, "SET execute vs kevy-embedded", "nestdb.set.execute", RatioAtLeast { b: "kevy.set" }, 3.0),
    t(2, "GET execute vs kevy-embedded", "nestdb.get.execute", RatioAtLeast { b: "kevy.get" }, 3.0),
    t(2, "median ZRANK", "nestdb.zrank", Below, 1000.0),
    t(2, "median ZRANGE by rank, 10 items", "nestdb.zrange10", Below, 2000.0),
    t(2, "GET 2 threads / 1 thread", "threads.ratio", AtLeast, 1.7),
    t(5, "restart from snapshot vs redis-server RDB load", "restart.nestdb.snap", RatioAtMost { b: "restart.redis.rdb" }, 0.5),
    t(5, "restart from snapshot vs redis-server AOF load", "restart.nestdb.snap", RatioAtMost { b: "restart.redis.aof" }, 0.5),
    t(5, "same, cold page cache, vs RDB", "restart.nestdb.snap.cold", RatioAtMost { b: "restart.redis.rdb.cold" }, 0.5),
    t(5, "same, cold page cache, vs AOF", "restart.nestdb.snap.cold", RatioAtMost { b: "restart.redis.aof.cold" }, 0.5),
    t(5, "appendfsync always: SET 8 threads / 1 thread", "always.nestdb.8", RatioAtLeast { b: "always.nestdb.1" }, 5.0),
    t(5, "everysec SET vs in-memory, 1 thread", "everysec.nestdb.1", RatioAtLeast { b: "mem.nestdb.1" }, 0.7),
    t(5, "everysec SET vs in-memory, 2 threads", "everysec.nestdb.2", RatioAtLeast { b: "mem.nestdb.2" }, 0.7),
    t(5, "same by writer CPU per SET, 1 thread", "everysec.cpu.1", AtLeast, 0.7),
    t(5, "same by writer CPU per SET, 2 threads", "everysec.cpu.2", AtLeast, 0.7),
    t(5, "SET p99 during a snapshot", "snapwin.nestdb.p99", Below, 2e6),
    t(5, "SET max during a snapshot", "snapwin.nestdb.max", Below, 20e6),
    t(5, "RSS growth during a snapshot", "snapwin.nestdb.rss", AtMost, 20.0),
    t(5, "snapshot file vs redis-server RDB", "size.nestdb.snap", RatioAtMost { b: "size.redis.rdb" }, 1.0),
    t(6, "strings: nestdb RSS growth vs redis-server used_memory", "mem.strings.nestdb", RatioAtMost { b: "mem.strings.redis" }, 0.8),
    t(6, "hashes of 5 fields: same", "mem.hashes.nestdb", RatioAtMost { b: "mem.hashes.redis" }, 0.8),
    t(6, "1 KiB sessions: memory lz4 vs none", "mem.sessions.lz4", RatioAtMost { b: "mem.sessions.none" }, 0.4),
    t(6, "1 KiB sessions: GET lz4 vs none", "get.sessions.lz4", RatioAtLeast { b: "get.sessions.none" }, 0.5),
    t(6, "Zipf: allkeys-lru vs exact LRU, points apart", "hit.zipf.gap", AtMost, 2.0),
    t(6, "Zipf + scans: allkeys-lfu minus allkeys-lru, points", "hit.scan.lfu_gain", Above, 0.0),
    t(7, "insert_many (batches of 1,000) vs polodb_core", "docs.nestdb.insert", RatioAtLeast { b: "docs.polodb.insert" }, 5.0),
    t(7, "find_one by _id vs polodb_core", "docs.nestdb.find_id", RatioAtLeast { b: "docs.polodb.find_id" }, 5.0),
    t(7, "unindexed find, 2-field filter: docs scanned/s", "docs.nestdb.scan_find", AtLeast, 5e6),
    t(7, "same, streamed through a cursor of Documents", "docs.nestdb.scan_cursor", AtLeast, 5e6),
    t(7, "same, into RawDocumentBuf", "docs.nestdb.scan_find_raw", AtLeast, 5e6),
    t(7, "same, into a serde struct", "docs.nestdb.scan_find_typed", AtLeast, 5e6),
    t(7, "count_documents, same filter: docs scanned/s", "docs.nestdb.scan_count", AtLeast, 5e6),
    t(8, "index build over the collection: docs/s (email)", "idx.build.email", AtLeast, 1e6),
    t(8, "index build: docs/s (compound city + created_at)", "idx.build.compound", AtLeast, 1e6),
    t(8, "index build: docs/s (multikey profile.skills)", "idx.build.multikey", AtLeast, 1e6),
    t(8, "insert with 3 secondary indexes / without", "idx.insert.ratio", AtLeast, 0.5),
    t(8, "email lookup: keys examined / returned", "idx.find.email.keys", AtMost, 2.0),
    t(8, "compound query: keys examined / returned", "idx.find.compound.keys", AtMost, 2.0),
];

pub fn fmt_value(v: f64, unit: Unit) -> String {
    match unit {
        Unit::OpsPerSec if v >= 1e6 => format!("{:.2} M ops/s", v / 1e6),
        Unit::OpsPerSec if v >= 1e4 => format!("{:.0} k ops/s", v / 1e3),
        Unit::OpsPerSec => format!("{v:.0} ops/s"),
        Unit::Nanos if v < 1e4 => format!("{v:.0} ns"),
        Unit::Nanos if v < 1e6 => format!("{:.1} µs", v / 1e3),
        Unit::Nanos => format!("{:.2} ms", v / 1e6),
        Unit::Ratio => format!("{v:.2}x"),
        Unit::Secs if v < 1.0 => format!("{:.0} ms", v * 1e3),
        Unit::Secs => format!("{v:.2} s"),
        Unit::Bytes => crate::measure::fmt_bytes(v as u64),
        Unit::Percent => format!("{v:.1} %"),
    }
}

impl Report {
    pub fn add(&mut self, id: &'static str, label: impl Into<String>, value: f64, unit: Unit, detail: impl Into<String>) {
        let row = Row { id, label: label.into(), value, unit, detail: detail.into() };
        eprintln!("  {:<44} {:>16}   {}", row.label, fmt_value(row.value, row.unit), row.detail);
        self.rows.push(row);
    }

    pub fn get(&self, id: &str) -> Option<f64> {
        self.rows.iter().find(|r| r.id == id).map(|r| r.value)
    }

    fn row(&self, id: &str) -> Option<&Row> {
        self.rows.iter().find(|r| r.id == id)
    }

    /// One target's table line, if its rows were measured in this run.
    fn judge(&self, t: &Target) -> Option<String> {
        let a = self.row(t.a)?;
        let (bound, measured, ok) = match t.check {
            RatioAtLeast { b } | RatioAtMost { b } => {
                let ratio = a.value / self.get(b)?;
                let at_least = matches!(t.check, RatioAtLeast { .. });
                let sign = if at_least { "≥" } else { "≤" };
                (format!("{sign} {}x", t.bound), format!("{ratio:.2}x"), if at_least { ratio >= t.bound } else { ratio <= t.bound })
            }
            AtLeast => (format!("≥ {}", fmt_bound(t.bound, a.unit)), fmt_value(a.value, a.unit), a.value >= t.bound),
            Below => (format!("< {}", fmt_bound(t.bound, a.unit)), fmt_value(a.value, a.unit), a.value < t.bound),
            AtMost => (format!("≤ {}", fmt_bound(t.bound, a.unit)), fmt_value(a.value, a.unit), a.value <= t.bound),
            Above => (format!("> {}", fmt_bound(t.bound, a.unit)), fmt_value(a.value, a.unit), a.value > t.bound),
        };
        Some(format!("| {} | {bound} | {measured} | {} |\n", t.what, verdict(ok)))
    }

    /// The measurements and the targets, as Markdown.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("| Measurement | Result | Detail |\n|---|---:|---|\n");
        for r in &self.rows {
            out.push_str(&format!("| {} | {} | {} |\n", r.label, fmt_value(r.value, r.unit), r.detail));
        }
        for issue in [2u8, 5, 6, 7, 8] {
            let mut targets = String::new();
            for t in TARGETS.iter().filter(|t| t.issue == issue) {
                if let Some(line) = self.judge(t) {
                    targets.push_str(&line);
                }
            }
            if !targets.is_empty() {
                out.push_str(&format!("\n| Target (issue {issue}) | Bound | Measured | Met? |\n|---|---:|---:|---|\n"));
                out.push_str(&targets);
            }
        }
        out
    }
}

/// A bound in its row's unit (ratios as "1.7x", latencies "2.00 ms").
fn fmt_bound(b: f64, unit: Unit) -> String {
    match unit {
        Unit::Ratio => format!("{b}x"),
        Unit::Percent => format!("{b} %"),
        _ => fmt_value(b, unit),
    }
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "yes"
    } else {
        "**NO**"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_use_measured_rows_only() {
        let mut r = Report::default();
        r.add("nestdb.get.typed", "GET", 20e6, Unit::OpsPerSec, "");
        r.add("redis.get", "redis GET", 1e6, Unit::OpsPerSec, "");
        r.add("nestdb.zrank", "ZRANK", 1500.0, Unit::Nanos, "");
        let s = r.render();
        assert!(s.contains("| GET typed vs redis-server -P 16 | ≥ 10x | 20.00x | yes |"), "{s}");
        assert!(s.contains("| median ZRANK | < 1000 ns | 1500 ns | **NO** |"), "{s}");
        assert!(!s.contains("kevy"), "{s}");
        assert!(!s.contains("issue 5"), "{s}");
    }

    #[test]
    fn durability_targets() {
        let mut r = Report::default();
        r.add("restart.nestdb.snap", "snap", 1.0, Unit::Secs, "");
        r.add("restart.redis.rdb", "rdb", 4.0, Unit::Secs, "");
        r.add("restart.redis.aof", "aof", 1.5, Unit::Secs, "");
        r.add("snapwin.nestdb.p99", "p99", 2.5e6, Unit::Nanos, "");
        r.add("snapwin.nestdb.rss", "rss", 12.5, Unit::Percent, "");
        let s = r.render();
        assert!(s.contains("| Target (issue 5) | Bound | Measured | Met? |"), "{s}");
        assert!(s.contains("| restart from snapshot vs redis-server RDB load | ≤ 0.5x | 0.25x | yes |"), "{s}");
        assert!(s.contains("| restart from snapshot vs redis-server AOF load | ≤ 0.5x | 0.67x | **NO** |"), "{s}");
        assert!(s.contains("| SET p99 during a snapshot | < 2.00 ms | 2.50 ms | **NO** |"), "{s}");
        assert!(s.contains("| RSS growth during a snapshot | ≤ 20 % | 12.5 % | yes |"), "{s}");
        assert!(!s.contains("cold"), "{s}");
    }

    #[test]
    fn memory_targets() {
        let mut r = Report::default();
        r.add("mem.strings.nestdb", "rss", 60e6, Unit::Bytes, "");
        r.add("mem.strings.redis", "used", 100e6, Unit::Bytes, "");
        r.add("hit.scan.lfu_gain", "gain", 0.0, Unit::Percent, "");
        let s = r.render();
        assert!(s.contains("| Target (issue 6) | Bound | Measured | Met? |"), "{s}");
        assert!(s.contains("| strings: nestdb RSS growth vs redis-server used_memory | ≤ 0.8x | 0.60x | yes |"), "{s}");
        assert!(s.contains("| Zipf + scans: allkeys-lfu minus allkeys-lru, points | > 0 % | 0.0 % | **NO** |"), "{s}");
        assert!(!s.contains("hashes"), "{s}");
    }
}
