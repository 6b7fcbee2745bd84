//! Suites `always` and `everysec` (issue 5, targets 2 and 3): SET throughput under the fsync
//! policies.
//!
//! - `appendfsync always`: 1 writer thread vs 8 writer threads on one `Db`, each SETting its own
//!   fresh keys (16-byte keys, 100-byte values) for `fsync_secs`; 8 threads should share fsyncs
//!   (group commit). The same on redis-server 7 (`appendonly yes`, `appendfsync always`): 1 and 8
//!   client connections, one SET at a time each (no pipelining).
//! - `appendfsync everysec` vs an in-memory database: `fsync_keys` SETs of fresh keys through the
//!   typed `Commands::set`, by 1 thread and by 2 threads (disjoint halves), keys and values
//!   generated before the clock starts. The time is until the last SET returned (what the
//!   writers see); the background log thread's catching up afterwards is shown in the detail.
//!
//! Each repetition uses a fresh database (a fresh directory for file-backed ones); automatic
//! snapshots and rewrites are off. Median over repetitions.

use std::sync::Barrier;
use std::time::{Duration, Instant};

use nestdb::{Commands, Db, FsyncPolicy};

use crate::files::{self, Scratch};
use crate::measure::{median, process_cpu, thread_cpu};
use crate::report::{Report, Unit};
use crate::resp::{Conn, RedisProc, Resp};
use crate::restart::options;
use crate::workload::{key, value100, Key, VALUE100_LEN};
use crate::Config;

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Key number of writer `t`'s `i`-th key (writers never share keys).
fn writer_key(t: usize, i: u64) -> Key {
    key(t * 1_000_000_000 + i as usize)
}

/// `threads` threads each running `op(thread, i)` for i = 0, 1, ... until `secs` have passed,
/// from a common start. Returns (total ops, wall time).
fn for_duration(threads: usize, secs: f64, op: impl Fn(usize, u64) -> Result<(), String> + Sync) -> Result<(u64, Duration), String> {
    let barrier = Barrier::new(threads + 1);
    let d = Duration::from_secs_f64(secs);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (barrier, op) = (&barrier, &op);
                s.spawn(move || -> Result<u64, String> {
                    barrier.wait();
                    let start = Instant::now();
                    let mut i = 0;
                    while start.elapsed() < d {
                        op(t, i)?;
                        i += 1;
                    }
                    Ok(i)
                })
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        let mut total = 0;
        for h in handles {
            total += h.join().map_err(|_| "writer thread panicked".to_string())??;
        }
        Ok((total, start.elapsed()))
    })
}

/// write(2) calls this process has made (`syscw` of /proc/self/io).
fn write_syscalls() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/io").ok()?;
    s.lines().find_map(|l| l.strip_prefix("syscw:")).and_then(|v| v.trim().parse().ok())
}

fn spread(v: &[f64]) -> String {
    v.iter().map(|x| if *x >= 1e4 { format!("{:.0}k", x / 1e3) } else { format!("{x:.0}") }).collect::<Vec<_>>().join(", ")
}

/// Median time of one 165-byte append + `fdatasync` on a scratch file in `dir` (100 of them):
/// what one fsync costs on this disk right now, to read the `always` rates against (other
/// processes writing to the same disk make it several times slower).
fn probe_fsync(dir: &std::path::Path) -> Result<Duration, String> {
    use std::io::Write;
    let path = dir.join("fsync-probe");
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&path).map_err(err)?;
    let mut times = Vec::new();
    for _ in 0..100 {
        let t = Instant::now();
        f.write_all(&[b'x'; 165]).map_err(err)?;
        f.sync_data().map_err(err)?;
        times.push(t.elapsed().as_secs_f64());
    }
    drop(f);
    let _ = std::fs::remove_file(&path);
    Ok(Duration::from_secs_f64(median(&times)))
}

/// Suite `always`.
pub fn run_always(cfg: &Config, report: &mut Report) -> Result<(), String> {
    always(cfg, report, &Scratch::new(&cfg.scratch, "always")?)
}

/// Suite `everysec`.
pub fn run_everysec(cfg: &Config, report: &mut Report) -> Result<(), String> {
    everysec(cfg, report, &Scratch::new(&cfg.scratch, "everysec")?)
}

fn always(cfg: &Config, report: &mut Report, scratch: &Scratch) -> Result<(), String> {
    eprintln!("  appendfsync always: {:.1} s per run", cfg.fsync_secs);
    let (mut one, mut eight) = (Vec::new(), Vec::new());
    let (mut r1, mut r8) = (Vec::new(), Vec::new());
    let (mut batch1, mut batch8) = (Vec::new(), Vec::new());
    let mut probes = Vec::new();
    let pdir = scratch.sub("fsync-probe")?;
    let rdir = scratch.sub("redis")?;
    let mut server =
        RedisProc::start(&rdir, &[("save", ""), ("appendonly", "yes"), ("appendfsync", "always"), ("auto-aof-rewrite-percentage", "0")])?;
    server.wait_ready(Duration::from_secs(30))?;
    for rep in 0..cfg.reps_fsync {
        let probe = probe_fsync(&pdir)?;
        eprintln!("    fsync probe (165-byte append + fdatasync): {:.0} µs", probe.as_secs_f64() * 1e6);
        probes.push(probe.as_secs_f64() * 1e6);
        for threads in [1, 8] {
            let dir = scratch.sub(&format!("always-{rep}-{threads}"))?;
            let db = Db::open(&dir, options(FsyncPolicy::Always)).map_err(err)?;
            let w0 = write_syscalls();
            let (ops, d) = for_duration(threads, cfg.fsync_secs, |t, i| db.set(&writer_key(t, i), &value100(i, 0)).map_err(err))?;
            let writes = write_syscalls().zip(w0).map_or(0, |(b, a)| b.saturating_sub(a));
            drop(db);
            files::wait_closed(&dir, Duration::from_secs(60))?;
            let r = ops as f64 / d.as_secs_f64();
            // Under `always` every log flush is one write(2) of the queued records and one fsync:
            // records per write is the group-commit batch size.
            let batch = ops as f64 / writes.max(1) as f64;
            eprintln!("    nestdb always, {threads} thread(s): {r:.0} SET/s, {batch:.2} records per log write");
            if threads == 1 { &mut one } else { &mut eight }.push(r);
            if threads == 1 { &mut batch1 } else { &mut batch8 }.push(batch);

            let conns: Vec<std::sync::Mutex<Conn>> =
                (0..threads).map(|_| server.connect().map(std::sync::Mutex::new)).collect::<Result<_, _>>()?;
            let (ops, d) = for_duration(threads, cfg.fsync_secs, |t, i| {
                let mut c = conns[t].lock().unwrap_or_else(|e| e.into_inner());
                match c.call(&[b"SET", &writer_key(t, i), &value100(i, 0)]).map_err(err)? {
                    Resp::Simple(_) => Ok(()),
                    other => Err(format!("SET: {other:?}")),
                }
            })?;
            let r = ops as f64 / d.as_secs_f64();
            eprintln!("    redis-server always, {threads} client(s): {r:.0} SET/s");
            if threads == 1 { &mut r1 } else { &mut r8 }.push(r);
        }
    }
    server.shutdown()?;
    let how = |v: &[f64]| format!("{:.1} s per run, median of {} (SET/s: {})", cfg.fsync_secs, v.len(), spread(v));
    let batches =
        |v: &[f64]| format!("; records per log write (fsync): {}", v.iter().map(|b| format!("{b:.2}")).collect::<Vec<_>>().join(", "));
    report.add("always.nestdb.1", "nestdb SET, appendfsync always, 1 thread", median(&one), Unit::OpsPerSec, how(&one) + &batches(&batch1));
    report.add(
        "always.nestdb.8",
        "nestdb SET, appendfsync always, 8 threads",
        median(&eight),
        Unit::OpsPerSec,
        how(&eight) + &batches(&batch8),
    );
    report.add(
        "always.nestdb.ratio",
        "nestdb always: 8 threads / 1 thread",
        median(&eight) / median(&one),
        Unit::Ratio,
        format!(
            "fsync probe before each repetition (165-byte append + fdatasync, median of 100): {} µs",
            probes.iter().map(|p| format!("{p:.0}")).collect::<Vec<_>>().join(", ")
        ),
    );
    report.add("always.redis.1", "redis-server SET, appendfsync always, 1 client", median(&r1), Unit::OpsPerSec, how(&r1));
    report.add("always.redis.8", "redis-server SET, appendfsync always, 8 clients", median(&r8), Unit::OpsPerSec, how(&r8));
    report.add("always.redis.ratio", "redis-server always: 8 clients / 1 client", median(&r8) / median(&r1), Unit::Ratio, "");
    Ok(())
}

/// SET every (key, value) of `work` split into `threads` contiguous parts, one per thread.
/// Returns the time until the last SET returned and the writers' CPU time (sum).
fn set_all(db: &Db, work: &[(Key, [u8; VALUE100_LEN])], threads: usize) -> Result<(Duration, Duration), String> {
    let barrier = Barrier::new(threads + 1);
    let part = work.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = work
            .chunks(part.max(1))
            .map(|chunk| {
                let (barrier, db) = (&barrier, db.clone());
                s.spawn(move || -> Result<Duration, String> {
                    barrier.wait();
                    let c = thread_cpu();
                    for (k, v) in chunk {
                        db.set(k, v).map_err(err)?;
                    }
                    Ok(thread_cpu().zip(c).map_or(Duration::ZERO, |(b, a)| b.saturating_sub(a)))
                })
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        let mut cpu = Duration::ZERO;
        for h in handles {
            cpu += h.join().map_err(|_| "writer thread panicked".to_string())??;
        }
        Ok((start.elapsed(), cpu))
    })
}

fn everysec(cfg: &Config, report: &mut Report, scratch: &Scratch) -> Result<(), String> {
    let n = cfg.fsync_keys;
    eprintln!("  appendfsync everysec vs in-memory: {n} SETs of fresh keys");
    let work: Vec<(Key, [u8; VALUE100_LEN])> = (0..n).map(|i| (key(i as usize), value100(i, 0))).collect();
    let mut rates: [[Vec<f64>; 2]; 2] = Default::default(); // [file?][threads-1]
    let mut catch_up = [Vec::new(), Vec::new()];
    // CPU ns per SET: [file?][threads-1], of the writer threads and of the whole process (the
    // log thread's writes included), up to the end of `db.sync()`.
    let mut writer_ns: [[Vec<f64>; 2]; 2] = Default::default();
    let mut process_ns: [[Vec<f64>; 2]; 2] = Default::default();
    for rep in 0..cfg.warmup + cfg.reps_fsync {
        for threads in [1usize, 2] {
            for file in [false, true] {
                let dir = scratch.sub(&format!("everysec-{rep}-{threads}"))?;
                let db = if file { Db::open(&dir, options(FsyncPolicy::EverySec)).map_err(err)? } else { Db::open_in_memory() };
                let c = process_cpu(None);
                let (d, wcpu) = set_all(&db, &work, threads)?;
                let t = Instant::now();
                db.sync().map_err(err)?;
                let total = d + t.elapsed();
                let pcpu = process_cpu(None).zip(c).map_or(f64::NAN, |(b, a)| (b - a).as_secs_f64());
                drop(db);
                if file {
                    files::wait_closed(&dir, Duration::from_secs(60))?;
                    std::fs::remove_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
                } else {
                    // The core's background thread may briefly hold the last reference and free
                    // the keys itself: let that happen before the next timed run.
                    std::thread::sleep(Duration::from_millis(50));
                }
                let r = n as f64 / d.as_secs_f64();
                eprintln!("    {} {threads} thread(s): {r:.0} SET/s", if file { "everysec " } else { "in-memory" });
                if rep >= cfg.warmup {
                    rates[usize::from(file)][threads - 1].push(r);
                    writer_ns[usize::from(file)][threads - 1].push(wcpu.as_secs_f64() * 1e9 / n as f64);
                    process_ns[usize::from(file)][threads - 1].push(pcpu * 1e9 / n as f64);
                    if file {
                        catch_up[threads - 1].push(n as f64 / total.as_secs_f64());
                    }
                }
            }
        }
    }
    let how = |v: &[f64]| format!("{n} keys, median of {} (SET/s: {})", v.len(), spread(v));
    let ids = [["mem.nestdb.1", "mem.nestdb.2"], ["everysec.nestdb.1", "everysec.nestdb.2"]];
    for (file, names) in ids.iter().enumerate() {
        for (ti, id) in names.iter().enumerate() {
            let v = &rates[file][ti];
            let label = format!(
                "nestdb SET, {}, {} thread{}",
                if file == 1 { "appendfsync everysec" } else { "in-memory" },
                ti + 1,
                if ti == 0 { "" } else { "s" }
            );
            let mut detail = how(v);
            detail.push_str(&format!(
                "; CPU per SET: writer threads {:.0} ns, whole process {:.0} ns",
                median(&writer_ns[file][ti]),
                median(&process_ns[file][ti])
            ));
            if file == 1 {
                detail.push_str(&format!(
                    "; counting until the log is written and fsynced (`db.sync()`): {:.0} SET/s",
                    median(&catch_up[ti])
                ));
            }
            report.add(id, label, median(v), Unit::OpsPerSec, detail);
        }
    }
    // The same comparison by CPU time: the writers' on-CPU cost per SET does not depend on what
    // else the machine runs (wall-clock rates on a shared 2-vCPU machine swing by 30 % or more).
    for (ti, id) in ["everysec.cpu.1", "everysec.cpu.2"].into_iter().enumerate() {
        let (mem, file) = (median(&writer_ns[0][ti]), median(&writer_ns[1][ti]));
        report.add(
            id,
            format!("in-memory / everysec writer CPU per SET, {} thread{}", ti + 1, if ti == 0 { "" } else { "s" }),
            mem / file,
            Unit::Ratio,
            format!("{mem:.0} ns / {file:.0} ns (everysec throughput as a share of in-memory, by CPU cost)"),
        );
    }
    Ok(())
}
