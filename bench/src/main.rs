//! nestdb-bench: the issue-2 benchmark. In-process GET/SET against kevy-embedded and a
//! pipelined redis-server, sorted-set rank latencies, and GET scaling over two threads.
//!
//! Usage: `cargo run -p nestdb-bench --release -- [--quick] [--redis-output FILE | --redis-port P]
//! [--no-kevy-zset] [kv] [kevy] [redis] [zset] [threads]` (no suite = all of them).
//! `--quick` scales every workload down 10x (CI smoke runs). Progress goes to stderr; the
//! results (Markdown tables for docs/BENCHMARKS.md) go to stdout. `bench/run.sh` starts
//! redis-server, runs redis-benchmark and this binary in one go.

mod kevy;
mod kv;
mod measure;
mod redis;
mod report;
mod threads;
mod workload;
mod zset;

use std::path::PathBuf;
use std::process::ExitCode;

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
        }
    }

    fn quick(self) -> Config {
        Config { keys: self.keys / 10, zset_members: self.zset_members / 10, samples: self.samples / 10, reps: 3, ..self }
    }
}

const SUITES: [&str; 5] = ["kv", "kevy", "redis", "zset", "threads"];

fn usage() -> String {
    format!("usage: nestdb-bench [--quick] [--redis-output FILE | --redis-port PORT] [--no-kevy-zset] [{}]...", SUITES.join("|"))
}

fn parse_args() -> Result<(Config, Vec<String>), String> {
    let mut cfg = Config::full();
    let (mut quick, mut suites) = (false, Vec::new());
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--quick" => quick = true,
            "--no-kevy-zset" => cfg.kevy_zset = false,
            "--redis-output" => cfg.redis_output = Some(args.next().ok_or_else(usage)?.into()),
            "--redis-port" => cfg.redis_port = Some(args.next().ok_or_else(usage)?.parse().map_err(|_| usage())?),
            "-h" | "--help" => return Err(usage()),
            "all" => suites.extend(SUITES.map(String::from)),
            s if SUITES.contains(&s) => suites.push(s.to_owned()),
            other => return Err(format!("unknown argument {other:?}\n{}", usage())),
        }
    }
    if suites.is_empty() {
        suites = SUITES.map(String::from).to_vec();
    }
    Ok((if quick { cfg.quick() } else { cfg }, suites))
}

fn main() -> ExitCode {
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
            "kv" => kv::run(&cfg, &mut report),
            "kevy" => kevy::run(&cfg, &mut report),
            "redis" => {
                if let Err(e) = redis::run(&cfg, &mut report) {
                    eprintln!("redis suite failed: {e}");
                    failed = true;
                }
            }
            "zset" => zset::run(&cfg, &mut report),
            "threads" => threads::run(&cfg, &mut report),
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
