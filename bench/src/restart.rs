//! Suite `restart` (issue 5, targets 1, 4 and 5): one dataset of `dur_keys` keys (16-byte keys,
//! 100-byte values, `workload::value100`) written once into nestdb and once into redis-server,
//! then:
//!
//! - restart (open-to-ready) from nestdb's snapshot and from its log alone, against
//!   redis-server loading an RDB and a plain AOF (`aof-use-rdb-preamble no`) of the same writes;
//!   each "warm" (files in the page cache, as right after a clean shutdown) and "cold" (the
//!   directory's files dropped from the page cache first, as after a reboot);
//! - a snapshot while one thread overwrites random keys without pause: the latency of each SET
//!   during the snapshot and the process's RSS growth; the same for redis-server's BGSAVE (fork),
//!   with its copy-on-write figure;
//! - the snapshot file's size against the RDB's.
//!
//! nestdb: `Db::open(dir, appendfsync everysec, automatic snapshots and rewrites off)`, filled
//! through the typed `Commands::set`, closed (drop), reopened. Open-to-ready is the wall time of
//! `Db::open`. redis-server 7: `appendonly yes`, `appendfsync everysec`,
//! `auto-aof-rewrite-percentage 0`, `save ""`, filled by pipelined SETs (batches of 1000), then
//! `SAVE`; the RDB is loaded with `appendonly no`, the AOF with `appendonly yes`. Its load time
//! is the figure its log prints ("DB loaded from ...: X seconds"); spawn-to-PONG is shown too.

use std::sync::atomic::{AtomicU32, AtomicU8, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nestdb::{Commands, Db, FsyncPolicy, Options, Reply};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::files::{self, Scratch};
use crate::latency::Hist;
use crate::measure::{fmt_bytes, median, proc_kb, process_cpu, rate, self_rss, trim_heap};
use crate::report::{Report, Unit};
use crate::resp::{children_of, Conn, RedisProc, Resp};
use crate::workload::{key, value100};
use crate::Config;

/// Options of every nestdb open in this suite: the default fsync policy, and no automatic
/// snapshot or rewrite, so each phase writes exactly what it says.
pub fn options(policy: FsyncPolicy) -> Options {
    Options::default().appendfsync(policy).auto_rewrite(0, 0).save_points(Vec::new())
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

pub fn run(cfg: &Config, report: &mut Report) -> Result<(), String> {
    let scratch = Scratch::new(&cfg.scratch, "restart")?;
    eprintln!("  dataset: {} keys, 16-byte keys, 100-byte values; files under {}", cfg.dur_keys, cfg.scratch.display());
    nestdb_side(cfg, report, &scratch)?;
    redis_side(cfg, report, &scratch)?;
    if let (Some(s), Some(r)) = (report.get("size.nestdb.snap"), report.get("size.redis.rdb")) {
        report.add("size.ratio", "snapshot size / RDB size", s / r, Unit::Ratio, "");
    }
    Ok(())
}

/// Open-to-ready times: (warm, cold) lists.
#[derive(Default)]
struct Opens {
    warm: Vec<f64>,
    cold: Vec<f64>,
    /// CPU seconds of each open (all threads), warm then cold.
    cpu_warm: Vec<f64>,
    cpu_cold: Vec<f64>,
}

impl Opens {
    fn push(&mut self, cold: bool, secs: f64, cpu: f64) {
        if cold {
            self.cold.push(secs);
            self.cpu_cold.push(cpu);
        } else {
            self.warm.push(secs);
            self.cpu_warm.push(cpu);
        }
    }

    fn detail(&self, warm: bool, what: &str) -> String {
        let (v, c) = if warm { (&self.warm, &self.cpu_warm) } else { (&self.cold, &self.cpu_cold) };
        format!("median of {} {what} (s: {}); CPU time median {:.2} s", v.len(), list(v), median(c))
    }
}

/// Close a database and wait until it is closed (its directory lock released).
fn close(db: Db, dir: &std::path::Path) -> Result<Duration, String> {
    let t = Instant::now();
    drop(db);
    files::wait_closed(dir, Duration::from_secs(600))?;
    Ok(t.elapsed())
}

/// Open the database in `dir`, checking it holds `n` keys. Returns it, the open time and the
/// process CPU time the open took.
fn open_timed(dir: &std::path::Path, n: u64) -> Result<(Db, Duration, f64), String> {
    files::wait_closed(dir, Duration::from_secs(600))?;
    let c = process_cpu(None);
    let t = Instant::now();
    let db = Db::open(dir, options(FsyncPolicy::EverySec)).map_err(err)?;
    let d = t.elapsed();
    let cpu = process_cpu(None).zip(c).map_or(f64::NAN, |(b, a)| (b - a).as_secs_f64());
    match db.execute(&[b"DBSIZE"]) {
        Reply::Int(k) if k as u64 == n => Ok((db, d, cpu)),
        other => Err(format!("reopened database holds {other:?} keys, expected {n}")),
    }
}

/// `reps` x (cold open, warm open); the database of the last warm open is returned open.
fn reopen(cfg: &Config, dir: &std::path::Path, n: u64, what: &str) -> Result<(Opens, Db, nestdb::RecoveryReport), String> {
    let mut opens = Opens::default();
    let mut last = None;
    for rep in 0..cfg.dur_reps {
        let (bytes, left) = files::evict(dir)?;
        let (db, d, cpu) = open_timed(dir, n)?;
        eprintln!(
            "    {what} open, cold: {:.3} s, CPU {cpu:.2} s ({} evicted, at most {:.0} % of a file left cached)",
            d.as_secs_f64(),
            fmt_bytes(bytes),
            left * 100.0
        );
        opens.push(true, d.as_secs_f64(), cpu);
        close(db, dir)?;
        let (db, d, cpu) = open_timed(dir, n)?;
        eprintln!("    {what} open, warm: {:.3} s, CPU {cpu:.2} s", d.as_secs_f64());
        opens.push(false, d.as_secs_f64(), cpu);
        if rep + 1 == cfg.dur_reps {
            last = Some(db);
        }
    }
    let db = last.ok_or("dur_reps must be at least 1")?;
    let rr = db.recovery_report().ok_or("file-backed database without a recovery report")?;
    Ok((opens, db, rr))
}

fn list(v: &[f64]) -> String {
    v.iter().map(|x| format!("{x:.3}")).collect::<Vec<_>>().join(", ")
}

fn nestdb_side(cfg: &Config, report: &mut Report, scratch: &Scratch) -> Result<(), String> {
    let n = cfg.dur_keys;
    let dir = scratch.sub("nestdb")?;

    eprintln!("  nestdb: fill");
    let db = Db::open(&dir, options(FsyncPolicy::EverySec)).map_err(err)?;
    let t = Instant::now();
    for i in 0..n {
        db.set(&key(i as usize), &value100(i, 0)).map_err(err)?;
    }
    let fill = t.elapsed();
    let closing = close(db, &dir)?;
    let log_bytes = files::size_where(&dir, |f| f.ends_with(".log"));
    report.add(
        "fill.nestdb",
        "nestdb: write the dataset (typed `set`, everysec)",
        rate(n as usize, fill),
        Unit::OpsPerSec,
        format!(
            "{n} keys in {:.2} s; close (write + fsync the rest) {:.2} s; log {}",
            fill.as_secs_f64(),
            closing.as_secs_f64(),
            fmt_bytes(log_bytes)
        ),
    );

    // Restart from the log alone.
    let (opens, db, rr) = reopen(cfg, &dir, n, "log-only")?;
    if rr.records_replayed != n || rr.snapshot_keys != 0 {
        return Err(format!("log-only open: expected {n} records replayed and no snapshot, got {rr:?}"));
    }
    let detail = |o: &Opens, warm: bool| o.detail(warm, "opens");
    report.add("restart.nestdb.log", "nestdb restart from the log only (warm)", median(&opens.warm), Unit::Secs, {
        format!("{n} records replayed, log {}; {}", fmt_bytes(log_bytes), detail(&opens, true))
    });
    report.add(
        "restart.nestdb.log.cold",
        "nestdb restart from the log only (cold)",
        median(&opens.cold),
        Unit::Secs,
        detail(&opens, false),
    );
    let sample = (n / 2) as usize;
    if db.get(&key(sample)).map_err(err)?.as_deref() != Some(&value100(sample as u64, 0)[..]) {
        return Err("log-only open: wrong value read back".into());
    }

    // Snapshots under a concurrent writer (the snapshot also becomes the new base).
    let w = snapshot_under_writes(&db, n, cfg.baseline)?;
    record_window(report, "nestdb", &w, "`db.snapshot()`");

    // A quiet snapshot: the base of the snapshot restarts, with an empty log after it.
    let t = Instant::now();
    db.snapshot().map_err(err)?;
    let quiet = t.elapsed();
    close(db, &dir)?;
    let snap_bytes = files::size_where(&dir, |f| f.ends_with(".snap"));
    report.add(
        "size.nestdb.snap",
        "nestdb snapshot file",
        snap_bytes as f64,
        Unit::Bytes,
        format!(
            "{} bytes, {:.1} bytes/key; written in {:.2} s (no writer); files: {}",
            snap_bytes,
            snap_bytes as f64 / n as f64,
            quiet.as_secs_f64(),
            files::listing(&dir)
        ),
    );
    report.add(
        "size.nestdb.log",
        "nestdb log of the same writes (no snapshot)",
        log_bytes as f64,
        Unit::Bytes,
        format!("{log_bytes} bytes"),
    );

    let (opens, db, rr) = reopen(cfg, &dir, n, "snapshot")?;
    if rr.snapshot_keys != n || rr.records_replayed != 0 {
        return Err(format!("snapshot open: expected {n} keys from the snapshot and nothing replayed, got {rr:?}"));
    }
    close(db, &dir)?;
    report.add("restart.nestdb.snap", "nestdb restart from the snapshot (warm)", median(&opens.warm), Unit::Secs, {
        format!("{n} keys loaded; {}; RecoveryReport.load_millis of the last: {}", detail(&opens, true), rr.load_millis)
    });
    report.add(
        "restart.nestdb.snap.cold",
        "nestdb restart from the snapshot (cold)",
        median(&opens.cold),
        Unit::Secs,
        detail(&opens, false),
    );
    Ok(())
}

/// What a snapshot (or BGSAVE) under a concurrent writer looked like.
struct Window {
    /// SET latencies before the snapshot started, and while it ran.
    before: Hist,
    during: Hist,
    before_secs: f64,
    during_secs: f64,
    /// Memory before the snapshot and the peak while it ran (bytes).
    mem_before: u64,
    mem_peak: u64,
    notes: String,
}

/// Phases of a writer: 0 = baseline, 1 = snapshot running, 2 = stop; and the writer's thread id.
#[derive(Default)]
struct Phase {
    phase: AtomicU8,
    tid: AtomicU32,
}

impl Phase {
    fn get(&self) -> u8 {
        self.phase.load(Ordering::Acquire)
    }
    fn set(&self, p: u8) {
        self.phase.store(p, Ordering::Release);
    }

    /// Time the writer thread has spent runnable but waiting for a CPU (its schedstat run delay):
    /// on a 2-vCPU machine the other threads (the snapshot's, the log's, other processes') take
    /// turns with it, and that wait shows up in its SET latencies.
    fn writer_run_delay(&self) -> Option<Duration> {
        let tid = self.tid.load(Ordering::Acquire);
        let s = std::fs::read_to_string(format!("/proc/self/task/{tid}/schedstat")).ok()?;
        Some(Duration::from_nanos(s.split_whitespace().nth(1)?.parse().ok()?))
    }
}

/// Overwrite random keys of 0..n with new 100-byte values until told to stop, timing each SET
/// with `set`; latencies go to the histogram of the phase the SET started in.
fn writer(phase: &Phase, n: u64, mut set: impl FnMut(&[u8], &[u8]) -> Result<(), String>) -> Result<(Hist, Hist), String> {
    let (mut before, mut during) = (Hist::default(), Hist::default());
    // SAFETY: gettid has no preconditions.
    phase.tid.store(u32::try_from(unsafe { libc::gettid() }).unwrap_or(0), Ordering::Release);
    let mut rng = SmallRng::seed_from_u64(99);
    let mut round = 1;
    loop {
        let p = phase.get();
        if p == 2 {
            return Ok((before, during));
        }
        let j = rng.random_range(0..n);
        round += 1;
        let (k, v) = (key(j as usize), value100(j, round));
        let t = Instant::now();
        set(&k, &v)?;
        let d = t.elapsed();
        if p == 0 {
            before.record(d);
        } else {
            during.record(d);
        }
    }
}

fn snapshot_under_writes(db: &Db, n: u64, baseline: Duration) -> Result<Window, String> {
    eprintln!("  nestdb: snapshot with a concurrent writer");
    let phase = Phase::default();
    let peak = Mutex::new(0u64);
    std::thread::scope(|s| {
        let w = s.spawn(|| {
            let db = db.clone();
            writer(&phase, n, |k, v| db.set(k, v).map_err(err))
        });
        let sampler = s.spawn(|| {
            while phase.get() != 2 {
                if phase.get() == 1 {
                    let rss = self_rss().unwrap_or(0);
                    let mut p = peak.lock().unwrap_or_else(|e| e.into_inner());
                    *p = (*p).max(rss);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        trim_heap();
        let (base0, t0) = wait_for_writer(&phase);
        std::thread::sleep(baseline);
        let mem_before = self_rss().unwrap_or(0);
        let delay0 = phase.writer_run_delay();
        let base_note = run_delay_note(delay0.zip(base0).map(|(b, a)| b.saturating_sub(a)), t0.elapsed());
        phase.set(1);
        let t = Instant::now();
        let res = db.snapshot();
        let during = t.elapsed();
        let mem_after = self_rss().unwrap_or(0);
        let delay = phase.writer_run_delay().zip(delay0).map(|(b, a)| b.saturating_sub(a));
        phase.set(2);
        let _ = sampler.join();
        let (before, during_h) = w.join().map_err(|_| "writer thread panicked".to_string())??;
        res.map_err(err)?;
        let mem_peak = peak.lock().unwrap_or_else(|e| e.into_inner()).max(mem_after);
        Ok(Window {
            before_secs: baseline.as_secs_f64(),
            during_secs: during.as_secs_f64(),
            before,
            during: during_h,
            mem_before,
            mem_peak,
            notes: format!(
                "RSS after the snapshot {}; during the snapshot {}; before it {}",
                fmt_bytes(mem_after),
                run_delay_note(delay, during),
                base_note
            ),
        })
    })
}

/// Wait until the writer thread has published its id; returns its run delay then, and when.
fn wait_for_writer(phase: &Phase) -> (Option<Duration>, Instant) {
    let t = Instant::now();
    while phase.tid.load(Ordering::Acquire) == 0 && t.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(1));
    }
    (phase.writer_run_delay(), Instant::now())
}

fn run_delay_note(delay: Option<Duration>, window: Duration) -> String {
    delay.map_or_else(String::new, |d| {
        format!(
            "the writer thread waited {:.0} ms for a CPU ({:.1} % of the time)",
            d.as_secs_f64() * 1e3,
            d.as_secs_f64() / window.as_secs_f64() * 100.0
        )
    })
}

fn record_window(report: &mut Report, who: &'static str, w: &Window, how: &str) {
    let nest = who == "nestdb";
    let (p50, p99, p999, max, rss, base) = if nest {
        (
            "snapwin.nestdb.p50",
            "snapwin.nestdb.p99",
            "snapwin.nestdb.p999",
            "snapwin.nestdb.max",
            "snapwin.nestdb.rss",
            "snapwin.nestdb.before.p99",
        )
    } else {
        (
            "snapwin.redis.p50",
            "snapwin.redis.p99",
            "snapwin.redis.p999",
            "snapwin.redis.max",
            "snapwin.redis.rss",
            "snapwin.redis.before.p99",
        )
    };
    let d = &w.during;
    let rate_during = d.count() as f64 / w.during_secs;
    report.add(
        p50,
        format!("{who}: SET p50 during {how}"),
        d.quantile(0.5) as f64,
        Unit::Nanos,
        format!("{} SETs in {:.2} s ({:.0} SET/s), mean {:.1} µs", d.count(), w.during_secs, rate_during, d.mean() / 1e3),
    );
    report.add(p99, format!("{who}: SET p99 during {how}"), d.quantile(0.99) as f64, Unit::Nanos, "");
    report.add(p999, format!("{who}: SET p99.9 during {how}"), d.quantile(0.999) as f64, Unit::Nanos, "");
    report.add(max, format!("{who}: SET max during {how}"), d.max() as f64, Unit::Nanos, "");
    report.add(
        base,
        format!("{who}: SET p99 before it (same writer)"),
        w.before.quantile(0.99) as f64,
        Unit::Nanos,
        format!("{:.1} s before: {}; {:.0} SET/s", w.before_secs, w.before.summary(), w.before.count() as f64 / w.before_secs),
    );
    let growth = (w.mem_peak as f64 - w.mem_before as f64) / w.mem_before as f64 * 100.0;
    report.add(
        rss,
        format!("{who}: memory growth during {how}"),
        growth,
        Unit::Percent,
        format!(
            "{} before, peak {} ({:.0} bytes per SET made during it); {}",
            fmt_bytes(w.mem_before),
            fmt_bytes(w.mem_peak),
            w.mem_peak.saturating_sub(w.mem_before) as f64 / d.count().max(1) as f64,
            w.notes
        ),
    );
}

// ---------------------------------------------------------------------------------------------
// redis-server

/// Options of every redis-server start; `appendonly` is added per start.
const REDIS_OPTIONS: [(&str, &str); 6] = [
    ("save", ""),
    ("appendfsync", "everysec"),
    ("aof-use-rdb-preamble", "no"),
    ("auto-aof-rewrite-percentage", "0"),
    ("dbfilename", "dump.rdb"),
    ("appenddirname", "appendonlydir"),
];

fn start_redis(dir: &std::path::Path, aof: bool) -> Result<RedisProc, String> {
    let mut opts = REDIS_OPTIONS.to_vec();
    opts.push(("appendonly", if aof { "yes" } else { "no" }));
    RedisProc::start(dir, &opts)
}

const READY_TIMEOUT: Duration = Duration::from_secs(600);

fn dbsize(c: &mut Conn) -> Result<u64, String> {
    match c.call(&[b"DBSIZE"]).map_err(err)? {
        Resp::Int(k) => Ok(k as u64),
        other => Err(format!("DBSIZE: {other:?}")),
    }
}

/// Pipelined SETs of keys 0..n with `value100(i, 0)`, batches of 1000.
fn redis_fill(c: &mut Conn, n: u64) -> Result<(), String> {
    const BATCH: u64 = 1000;
    let mut i = 0;
    while i < n {
        let end = (i + BATCH).min(n);
        for j in i..end {
            c.send(&[b"SET", &key(j as usize), &value100(j, 0)]).map_err(err)?;
        }
        c.flush().map_err(err)?;
        for _ in i..end {
            match c.read().map_err(err)? {
                Resp::Simple(s) if s == "OK" => {}
                other => return Err(format!("SET: {other:?}")),
            }
        }
        i = end;
    }
    Ok(())
}

/// Restart redis-server `reps` x (cold, warm); load times (logged, spawn-to-PONG). The server of
/// the last warm start is returned running.
fn redis_restarts(cfg: &Config, dir: &std::path::Path, aof: bool, n: u64) -> Result<(Opens, Opens, RedisProc), String> {
    let (mut logged, mut ready) = (Opens::default(), Opens::default());
    let what = if aof { "AOF" } else { "RDB" };
    let mut last = None;
    for rep in 0..cfg.dur_reps {
        for cold in [true, false] {
            if cold {
                let (bytes, left) = files::evict(dir)?;
                eprintln!("    ({} evicted, at most {:.0} % of a file left cached)", fmt_bytes(bytes), left * 100.0);
            }
            let mut r = start_redis(dir, aof)?;
            let up = r.wait_ready(READY_TIMEOUT)?.as_secs_f64();
            let cpu = process_cpu(Some(r.pid())).map_or(f64::NAN, |c| c.as_secs_f64());
            let loaded = r.logged_load_secs().ok_or_else(|| format!("redis-server logged no load time after loading its {what}"))?;
            let keys = dbsize(&mut r.connect()?)?;
            if keys != n {
                return Err(format!("redis-server loaded {keys} keys from its {what}, expected {n}"));
            }
            eprintln!(
                "    redis {what} load, {}: logged {loaded:.3} s, spawn-to-PONG {up:.3} s, CPU {cpu:.2} s",
                if cold { "cold" } else { "warm" }
            );
            logged.push(cold, loaded, cpu);
            ready.push(cold, up, cpu);
            if rep + 1 == cfg.dur_reps && !cold {
                last = Some(r);
            } else {
                r.shutdown()?;
            }
        }
    }
    Ok((logged, ready, last.ok_or("dur_reps must be at least 1")?))
}

fn redis_side(cfg: &Config, report: &mut Report, scratch: &Scratch) -> Result<(), String> {
    let n = cfg.dur_keys;
    let dir = scratch.sub("redis")?;

    eprintln!("  redis-server: fill (appendonly yes, everysec), SAVE");
    let mut r = start_redis(&dir, true)?;
    r.wait_ready(READY_TIMEOUT)?;
    let mut c = r.connect()?;
    let t = Instant::now();
    redis_fill(&mut c, n)?;
    let fill = t.elapsed();
    let t = Instant::now();
    c.status(&[b"SAVE"])?;
    let save = t.elapsed();
    if dbsize(&mut c)? != n {
        return Err("redis-server lost keys during the fill".into());
    }
    drop(c);
    r.shutdown()?;
    let rdb = files::size_where(&dir, |f| f == "dump.rdb");
    let aof = files::size_where(&dir.join("appendonlydir"), |f| f.contains(".aof"));
    report.add(
        "fill.redis",
        "redis-server: write the dataset (pipelined SETs, AOF everysec)",
        rate(n as usize, fill),
        Unit::OpsPerSec,
        format!("{n} keys in {:.2} s, batches of 1000 over one connection; SAVE {:.2} s", fill.as_secs_f64(), save.as_secs_f64()),
    );
    report.add("size.redis.rdb", "redis-server RDB (`SAVE`)", rdb as f64, Unit::Bytes, {
        format!("{rdb} bytes, {:.1} bytes/key (rdbcompression yes: LZF)", rdb as f64 / n as f64)
    });
    report.add(
        "size.redis.aof",
        "redis-server AOF of the same writes",
        aof as f64,
        Unit::Bytes,
        format!("{aof} bytes: {}", files::listing(&dir.join("appendonlydir"))),
    );

    let detail = |logged: &Opens, ready: &Opens, warm: bool| {
        let p = if warm { &ready.warm } else { &ready.cold };
        format!("{}; spawn-to-PONG median {:.3} s", logged.detail(warm, "loads, as logged"), median(p))
    };
    let (logged, ready, r) = redis_restarts(cfg, &dir, false, n)?;
    r.shutdown()?;
    report.add("restart.redis.rdb", "redis-server load of its RDB (warm)", median(&logged.warm), Unit::Secs, detail(&logged, &ready, true));
    report.add(
        "restart.redis.rdb.cold",
        "redis-server load of its RDB (cold)",
        median(&logged.cold),
        Unit::Secs,
        detail(&logged, &ready, false),
    );
    let (logged, ready, r) = redis_restarts(cfg, &dir, true, n)?;
    report.add("restart.redis.aof", "redis-server load of its AOF (warm)", median(&logged.warm), Unit::Secs, detail(&logged, &ready, true));
    report.add(
        "restart.redis.aof.cold",
        "redis-server load of its AOF (cold)",
        median(&logged.cold),
        Unit::Secs,
        detail(&logged, &ready, false),
    );

    // BGSAVE under a concurrent writer, on the server that loaded the AOF (AOF on, everysec:
    // the writer's SETs are logged, as nestdb's are).
    let w = bgsave_under_writes(&r, n, cfg.baseline)?;
    record_window(report, "redis-server", &w, "BGSAVE");
    r.shutdown()?;
    Ok(())
}

/// Proportional set size of a process (shared copy-on-write pages split between parent and
/// child), bytes.
fn pss(pid: u32) -> u64 {
    proc_kb(&format!("/proc/{pid}/smaps_rollup"), "Pss").unwrap_or(0)
}

fn bgsave_under_writes(r: &RedisProc, n: u64, baseline: Duration) -> Result<Window, String> {
    eprintln!("  redis-server: BGSAVE with a concurrent writer");
    let phase = Phase::default();
    let mut ctl = r.connect()?;
    let mut wconn = r.connect()?;
    let pid = r.pid();
    std::thread::scope(|s| {
        let w = s.spawn(|| {
            writer(&phase, n, |k, v| match wconn.call(&[b"SET", k, v]).map_err(err)? {
                Resp::Simple(_) => Ok(()),
                other => Err(format!("SET: {other:?}")),
            })
        });
        let result = (|| -> Result<Window, String> {
            let (base0, t0) = wait_for_writer(&phase);
            std::thread::sleep(baseline);
            let mem_before = pss(pid);
            let rss_before = proc_kb(&format!("/proc/{pid}/status"), "VmRSS").unwrap_or(0);
            let delay0 = phase.writer_run_delay();
            let base_note = run_delay_note(delay0.zip(base0).map(|(b, a)| b.saturating_sub(a)), t0.elapsed());
            phase.set(1);
            let t = Instant::now();
            ctl.status(&[b"BGSAVE"])?;
            let (mut peak_pss, mut peak_rss_sum, mut cur_cow) = (mem_before, rss_before, 0i64);
            loop {
                let kids = children_of(pid);
                let total: u64 = pss(pid) + kids.iter().map(|&k| pss(k)).sum::<u64>();
                let rss_sum: u64 = [pid].iter().chain(&kids).filter_map(|p| proc_kb(&format!("/proc/{p}/status"), "VmRSS")).sum();
                peak_pss = peak_pss.max(total);
                peak_rss_sum = peak_rss_sum.max(rss_sum);
                let info = ctl.info("persistence")?;
                let field = |f: &str| info.iter().find(|(k, _)| k == f).map(|(_, v)| v.clone()).unwrap_or_default();
                cur_cow = cur_cow.max(field("current_cow_size").parse().unwrap_or(0));
                if field("rdb_bgsave_in_progress") == "0" {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let during = t.elapsed();
            let delay = phase.writer_run_delay().zip(delay0).map(|(b, a)| b.saturating_sub(a));
            phase.set(2);
            let info = ctl.info("persistence")?;
            let field = |f: &str| info.iter().find(|(k, _)| k == f).map(|(_, v)| v.clone()).unwrap_or_default();
            let fork_usec = ctl.info_field("stats", "latest_fork_usec").unwrap_or(-1);
            let status = field("rdb_last_bgsave_status");
            if status != "ok" {
                return Err(format!("BGSAVE failed: rdb_last_bgsave_status:{status}"));
            }
            let cow: u64 = field("rdb_last_cow_size").parse().unwrap_or(0);
            Ok(Window {
                before: Hist::default(),
                during: Hist::default(),
                before_secs: baseline.as_secs_f64(),
                during_secs: during.as_secs_f64(),
                mem_before,
                mem_peak: peak_pss,
                notes: format!(
                    "memory = PSS of redis-server + its BGSAVE child (sampled every 20 ms); rdb_last_cow_size {} ({:.1} % of the parent), \
                     peak current_cow_size {}; peak RSS parent + child {} (shared pages counted twice); fork {:.1} ms; \
                     during BGSAVE {}; before it {}",
                    fmt_bytes(cow),
                    cow as f64 / mem_before as f64 * 100.0,
                    fmt_bytes(cur_cow.max(0) as u64),
                    fmt_bytes(peak_rss_sum),
                    fork_usec as f64 / 1e3,
                    run_delay_note(delay, during),
                    base_note
                ),
            })
        })();
        phase.set(2);
        let hists = w.join().map_err(|_| "writer thread panicked".to_string())?;
        let mut window = result?;
        let (before, during) = hists?;
        window.before = before;
        window.during = during;
        Ok(window)
    })
}
