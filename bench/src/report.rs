//! Collected results and the issue-2 targets they are judged against.
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

/// One target of issue 2: a ratio of two rows (or a row against a constant) and its bound.
enum Target {
    /// rows[a] / rows[b] >= bound
    RatioAtLeast { what: &'static str, a: &'static str, b: &'static str, bound: f64 },
    /// rows[a] (ns) < bound
    NanosBelow { what: &'static str, a: &'static str, bound: f64 },
    /// rows[a] (a ratio) >= bound
    AtLeast { what: &'static str, a: &'static str, bound: f64 },
}

const TARGETS: &[Target] = &[
    Target::RatioAtLeast { what: "SET typed vs redis-server -P 16", a: "nestdb.set.typed", b: "redis.set", bound: 10.0 },
    Target::RatioAtLeast { what: "GET typed vs redis-server -P 16", a: "nestdb.get.typed", b: "redis.get", bound: 10.0 },
    Target::RatioAtLeast { what: "GET get_with vs redis-server -P 16", a: "nestdb.get.with", b: "redis.get", bound: 10.0 },
    Target::RatioAtLeast { what: "SET execute vs redis-server -P 16", a: "nestdb.set.execute", b: "redis.set", bound: 10.0 },
    Target::RatioAtLeast { what: "GET execute vs redis-server -P 16", a: "nestdb.get.execute", b: "redis.get", bound: 10.0 },
    Target::RatioAtLeast { what: "SET typed vs kevy-embedded", a: "nestdb.set.typed", b: "kevy.set", bound: 3.0 },
    Target::RatioAtLeast { what: "GET typed vs kevy-embedded", a: "nestdb.get.typed", b: "kevy.get", bound: 3.0 },
    Target::RatioAtLeast { what: "GET get_with vs kevy-embedded", a: "nestdb.get.with", b: "kevy.get", bound: 3.0 },
    Target::RatioAtLeast { what: "SET execute vs kevy-embedded", a: "nestdb.set.execute", b: "kevy.set", bound: 3.0 },
    Target::RatioAtLeast { what: "GET execute vs kevy-embedded", a: "nestdb.get.execute", b: "kevy.get", bound: 3.0 },
    Target::NanosBelow { what: "median ZRANK", a: "nestdb.zrank", bound: 1000.0 },
    Target::NanosBelow { what: "median ZRANGE by rank, 10 items", a: "nestdb.zrange10", bound: 2000.0 },
    Target::AtLeast { what: "GET 2 threads / 1 thread", a: "threads.ratio", bound: 1.7 },
];

fn fmt_value(v: f64, unit: Unit) -> String {
    match unit {
        Unit::OpsPerSec if v >= 1e6 => format!("{:.2} M ops/s", v / 1e6),
        Unit::OpsPerSec => format!("{:.0} k ops/s", v / 1e3),
        Unit::Nanos => format!("{v:.0} ns"),
        Unit::Ratio => format!("{v:.2}x"),
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

    /// The measurements and the targets, as Markdown.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("| Measurement | Result | Detail |\n|---|---:|---|\n");
        for r in &self.rows {
            out.push_str(&format!("| {} | {} | {} |\n", r.label, fmt_value(r.value, r.unit), r.detail));
        }
        let mut targets = String::new();
        for t in TARGETS {
            let line = match *t {
                Target::RatioAtLeast { what, a, b, bound } => match (self.get(a), self.get(b)) {
                    (Some(x), Some(y)) => {
                        let ratio = x / y;
                        Some(format!("| {what} | ≥ {bound}x | {ratio:.2}x | {} |\n", verdict(ratio >= bound)))
                    }
                    _ => None,
                },
                Target::NanosBelow { what, a, bound } => {
                    self.get(a).map(|x| format!("| {what} | < {bound:.0} ns | {x:.0} ns | {} |\n", verdict(x < bound)))
                }
                Target::AtLeast { what, a, bound } => {
                    self.get(a).map(|x| format!("| {what} | ≥ {bound}x | {x:.2}x | {} |\n", verdict(x >= bound)))
                }
            };
            if let Some(l) = line {
                targets.push_str(&l);
            }
        }
        if !targets.is_empty() {
            out.push_str("\n| Target (issue 2) | Bound | Measured | Met? |\n|---|---:|---:|---|\n");
            out.push_str(&targets);
        }
        out
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
    }
}
