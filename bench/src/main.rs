//! nestdb-bench: the issue-2 benchmark (in-process GET/SET against kevy-embedded and a
//! pipelined redis-server, sorted-set rank latencies, GET scaling over two threads) and the
//! issue-5 durability benchmark against redis-server (restart times, fsync policies, snapshots
//! under write load, file sizes), and the issue-6 memory benchmark (memory per key against
//! redis-server's used_memory, compression, eviction hit ratios), and the issue-7 document
//! benchmark (insert, `_id` lookups, updates and unindexed scans of 1M user profiles, against
//! polodb_core when built with `--features polodb`), and the issue-8 index benchmark (index builds,
//! indexed lookups and compound queries with their keys-examined ratios, insert cost of indexes).
//!
//! Usage: `cargo run -p nestdb-bench --release -- [--quick] [--redis-output FILE | --redis-port P]
//! [--no-kevy-zset] [--dur-keys N] [--dir PATH] [kv] [kevy] [redis] [zset] [threads] [restart]
//! [always] [everysec] [memory] [hitratio] [docs] [indexes] [streams] [sort] [scripts]` (`fsync` = always + everysec, `durability` = restart +
//! always + everysec, `mem` = memory + hitratio; `all` or no suite = all of them).
//! `--quick` scales the issue-2 and issue-6 workloads down 10x and the durability ones to 20k keys (CI smoke
//! runs) and the document dataset from 1M to 20k documents (`--docs N` sets it); the full durability dataset is 5M keys. Progress goes to stderr; the results (Markdown
//! tables for docs/BENCHMARKS.md) go to stdout. `bench/run.sh` starts redis-server, runs
//! redis-benchmark and this binary in one go.

/// `--features mimalloc`: every allocation of the process (nestdb and its peers) through
/// mimalloc instead of the system allocator.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod docs;
mod files;
mod floor;
mod fsync;
mod indexes;
mod kevy;
mod kv;
mod latency;
mod measure;
mod memory;
mod redis;
mod report;
mod resp;
mod restart;
mod scripts;
mod sort;
mod streams;
mod threads;
mod workload;
mod zset;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use report::Report;

/// Workload sizes and options.
pub struct Config {
    /// Keys in the GET/SET workloads (and redis-benchmark -n/-r).
    pub keys: usize,
    /// Members of the sorted set.
    pub zset_members: usize,
    /// ZRANK / ZRANGE calls timed.
    pub samples: usize,
    /// Timed repetitions of throughput runs (median reported).
    pub reps: usize,
    /// Untimed repetitions first.
    pub warmup: usize,
    pub redis_output: Option<PathBuf>,
    pub redis_port: Option<u16>,
    /// Also time kevy-embedded's sorted set in the `zset` suite.
    pub kevy_zset: bool,
    /// Keys of the durability dataset (`restart` suite).
    pub dur_keys: u64,
    /// Restarts of each kind (cold and warm each) in the `restart` suite.
    pub dur_reps: usize,
    /// Writer time before a snapshot starts (its baseline latency).
    pub baseline: Duration,
    /// SETs per run in the everysec-vs-in-memory comparison.
    pub fsync_keys: u64,
    /// Seconds per `appendfsync always` run.
    pub fsync_secs: f64,
    /// Repetitions of the `fsync` suite's runs.
    pub reps_fsync: usize,
    /// Where the durability suites put their database directories (a real disk: fsync is timed).
    pub scratch: PathBuf,
    /// Documents of the issue-7 dataset (`docs` suite).
    pub docs: usize,
}

impl Config {
    fn full() -> Config {
        Config {
            keys: 1_000_000,
            zset_members: 1_000_000,
            samples: 100_000,
            reps: 5,
            warmup: 1,
            redis_output: None,
            redis_port: None,
            kevy_zset: true,
            dur_keys: 5_000_000,
            dur_reps: 3,
            baseline: Duration::from_secs(1),
            fsync_keys: 1_000_000,
            fsync_secs: 3.0,
            reps_fsync: 3,
            scratch: std::env::temp_dir(),
            docs: 1_000_000,
        }
    }

    fn quick(self) -> Config {
        Config {
            keys: self.keys / 10,
            zset_members: self.zset_members / 10,
            samples: self.samples / 10,
            reps: 3,
            dur_keys: 20_000,
            dur_reps: 1,
            baseline: Duration::from_millis(200),
            fsync_keys: 20_000,
            fsync_secs: 0.25,
            reps_fsync: 1,
            docs: 20_000,
            ..self
        }
    }
}

const SUITES: [&str; 17] = [
    "floor", "kv", "kvttl", "kevy", "redis", "zset", "threads", "restart", "always", "everysec", "memory", "hitratio", "docs", "indexes",
    "streams", "sort", "scripts",
];

fn usage() -> String {
    format!(
        "usage: nestdb-bench [--quick] [--redis-output FILE | --redis-port PORT] [--no-kevy-zset] [--dur-keys N] [--docs N] [--dir PATH] [{}|durability|fsync|mem|all]...",
        SUITES.join("|")
    )
}

fn parse_args() -> Result<(Config, Vec<String>), String> {
    let mut cfg = Config::full();
    let (mut quick, mut suites) = (false, Vec::new());
    let (mut dur_keys, mut docs) = (None, None);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--quick" => quick = true,
            "--no-kevy-zset" => cfg.kevy_zset = false,
            "--redis-output" => cfg.redis_output = Some(args.next().ok_or_else(usage)?.into()),
            "--redis-port" => cfg.redis_port = Some(args.next().ok_or_else(usage)?.parse().map_err(|_| usage())?),
            "--dur-keys" => dur_keys = Some(args.next().ok_or_else(usage)?.parse().map_err(|_| usage())?),
            "--docs" => docs = Some(args.next().ok_or_else(usage)?.parse().map_err(|_| usage())?),
            "--dir" => cfg.scratch = args.next().ok_or_else(usage)?.into(),
            "-h" | "--help" => return Err(usage()),
            "all" => suites.extend(SUITES.map(String::from)),
            "durability" => suites.extend(["restart", "always", "everysec"].map(String::from)),
            "fsync" => suites.extend(["always", "everysec"].map(String::from)),
            "mem" => suites.extend(["memory", "hitratio"].map(String::from)),
            s if SUITES.contains(&s) => suites.push(s.to_owned()),
            other => return Err(format!("unknown argument {other:?}\n{}", usage())),
        }
    }
    if suites.is_empty() {
        suites = SUITES.map(String::from).to_vec();
    }
    let mut cfg = if quick { cfg.quick() } else { cfg };
    if let Some(n) = dur_keys {
        cfg.dur_keys = n;
    }
    if let Some(n) = docs {
        cfg.docs = n;
    }
    if cfg.docs < 1 {
        return Err(format!("--docs must be at least 1\n{}", usage()));
    }
    if cfg.dur_keys < 2 {
        return Err(format!("--dur-keys must be at least 2\n{}", usage()));
    }
    Ok((cfg, suites))
}

fn main() -> ExitCode {
    if let Some(code) = memory::child_main() {
        return code;
    }
    let (cfg, suites) = match parse_args() {
        Ok(x) => x,
        Err(msg) => {
            eprintln!("{msg}");
            return ExitCode::from(2);
        }
    };
    if cfg!(debug_assertions) {
        eprintln!("warning: debug build; run with --release for meaningful numbers");
    }
    let mut report = Report::default();
    let mut failed = false;
    for s in &suites {
        eprintln!("== {s}");
        match s.as_str() {
            "floor" => floor::run(&cfg, &mut report),
            "kv" => kv::run(&cfg, &mut report),
            "kvttl" => kv::run_ttl(&cfg, &mut report),
            "kevy" => kevy::run(&cfg, &mut report),
            "redis" => {
                if let Err(e) = redis::run(&cfg, &mut report) {
                    eprintln!("redis suite failed: {e}");
                    failed = true;
                }
            }
            "zset" => zset::run(&cfg, &mut report),
            "threads" => threads::run(&cfg, &mut report),
            "restart" | "always" | "everysec" | "memory" | "hitratio" | "docs" | "indexes" | "streams" | "sort" | "scripts" => {
                let res = match s.as_str() {
                    "streams" => streams::run(&cfg, &mut report),
                    "sort" => sort::run(&cfg, &mut report),
                    "scripts" => scripts::run(&cfg, &mut report),
                    "restart" => restart::run(&cfg, &mut report),
                    "always" => fsync::run_always(&cfg, &mut report),
                    "memory" => memory::run_memory(&cfg, &mut report),
                    "hitratio" => memory::run_hitratio(&cfg, &mut report),
                    "docs" => docs::run(&cfg, &mut report),
                    "indexes" => indexes::run(&cfg, &mut report),
                    _ => fsync::run_everysec(&cfg, &mut report),
                };
                if let Err(e) = res {
                    eprintln!("{s} suite failed: {e}");
                    failed = true;
                }
            }
            _ => unreachable!("suite names are validated"),
        }
    }
    print!("{}", report.render());
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
