//! Persistence of one file-backed database: opening and recovering its directory, the log
//! and fsync threads, snapshots (SAVE/BGSAVE/BGREWRITEAOF/`save` points/automatic rewrite),
//! and the INFO `persistence` section. The glue between `keyspace` (values, commands) and
//! `storage` (files).
//!
//! A snapshot is always also a log rewrite: the cut starts a new log segment, so once the
//! snapshot is durable and named by MANIFEST, the older snapshot and segments are deleted.
//! Rewrite trigger (Redis's AOF policy with the snapshot as the AOF's base): rewrite when
//! `snapshot + log > max(auto-aof-rewrite-min-size, snapshot × (1 + percentage/100))`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::sync::Mutex;

use crate::keyspace::{now_ms, snapshot, Keyspace};
use crate::storage::{self, DirLock, Log};

/// What opening a file-backed database found and did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecoveryReport {
    /// Keys loaded from the snapshot.
    pub snapshot_keys: u64,
    /// Log records replayed after it.
    pub records_replayed: u64,
    /// Bytes of a torn last record cut off the log (a write interrupted by a crash).
    pub bytes_dropped: u64,
    /// The log file and offset where the torn record began.
    pub torn_at: Option<(PathBuf, u64)>,
    /// Time from open to ready.
    pub load_millis: u64,
}

#[derive(Default)]
struct Stats {
    last_save_ms: i64,
    last_ok: bool,
    last_error: Option<String>,
    last_duration_secs: i64,
    snapshots: u64,
    snapshot_seq: u64,
    snapshot_bytes: u64,
    started: Option<Instant>,
    last_attempt_ms: i64,
}

/// The persistence state of an open file-backed database.
pub(crate) struct Persistence {
    dir: PathBuf,
    /// Held until `close` (released there, not when the last internal reference goes).
    lock: Mutex<Option<DirLock>>,
    closed: AtomicBool,
    pub(crate) log: Arc<Log>,
    /// One snapshot at a time.
    snapshot_lock: Mutex<()>,
    stats: Mutex<Stats>,
    /// BGSAVE/BGREWRITEAOF asked for a snapshot; the background thread starts it.
    requested: AtomicBool,
    running: AtomicBool,
    stop: Arc<AtomicBool>,
    /// The log thread and the fsync thread.
    threads: Mutex<Vec<JoinHandle<()>>>,
    pub(crate) report: RecoveryReport,
    fork_generation: u64,
}

impl Persistence {
    /// Open (or create) the database directory `dir` and recover it into `ks`, which must be
    /// empty and not yet shared. On success the log is attached to `ks`.
    pub(crate) fn open(dir: &Path, ks: &Keyspace) -> Result<Arc<Persistence>, String> {
        let start = Instant::now();
        let lock = storage::lock_dir(dir)?;
        let dir = dir.canonicalize().map_err(|e| format!("{}: {e}", dir.display()))?;
        let plan = storage::plan(&dir)?;
        let mut report = RecoveryReport::default();
        let mut snapshot_bytes = 0;
        if let Some(file) = &plan.snapshot {
            report.snapshot_keys = snapshot::load(ks, file)?;
            snapshot_bytes = std::fs::metadata(file.path()).map(|m| m.len()).unwrap_or(0);
        }
        let replayed = {
            let mut ctx = ks.replay_ctx();
            storage::replay(&dir, &plan, |rec| {
                if rec.kind != storage::log::KIND_KV {
                    return Err(format!("unknown record kind {}", rec.kind));
                }
                let cmds = crate::util::resp::decode_commands(rec.payload)?;
                for argv in cmds {
                    if argv.len() == 2 && argv[0] == crate::docs::engine::OPLOG_COMMAND {
                        crate::docs::engine::replay(&mut ctx, argv[1])?;
                        continue;
                    }
                    let spec = crate::command::resolve(&argv).map_err(|e| e.error_text().unwrap_or("bad command").to_string())?;
                    crate::command::run_locked(&mut ctx, spec, &argv);
                }
                Ok(())
            })?
        };
        report.records_replayed = replayed.records;
        report.bytes_dropped = replayed.bytes_dropped;
        report.torn_at = replayed.torn_at.clone();
        let policy = ks.config.read().appendfsync;
        let log = Log::open(&dir, replayed.tail_segment, replayed.tail_len, replayed.next_seq, policy)
            .map_err(|e| format!("{}: cannot open the log for appending: {e}", dir.display()))?;
        storage::remove_obsolete(&plan);
        ks.attach_log(log.clone());
        report.load_millis = start.elapsed().as_millis() as u64;
        let stop = Arc::new(AtomicBool::new(false));
        let flusher = {
            let (log, stop) = (log.clone(), stop.clone());
            std::thread::Builder::new()
                .name("nestdb-log".into())
                .spawn(move || {
                    while !stop.load(Ordering::Acquire) {
                        log.wait_for_work(Duration::from_millis(1));
                        log.background_flush();
                    }
                })
                .map_err(|e| format!("cannot start the log thread: {e}"))?
        };
        // `everysec` fsyncs run here, so a slow disk never holds up the log thread's writes.
        let fsyncer = {
            let (log, stop) = (log.clone(), stop.clone());
            std::thread::Builder::new()
                .name("nestdb-fsync".into())
                .spawn(move || log.fsync_loop(&stop))
                .map_err(|e| format!("cannot start the fsync thread: {e}"))?
        };
        let stats = Stats {
            // As Redis at startup: the save points count from the open.
            last_save_ms: now_ms(),
            last_ok: true,
            snapshot_seq: plan.base_seq,
            snapshot_bytes,
            last_duration_secs: -1,
            ..Default::default()
        };
        Ok(Arc::new(Persistence {
            dir,
            lock: Mutex::new(Some(lock)),
            closed: AtomicBool::new(false),
            log,
            snapshot_lock: Mutex::new(()),
            stats: Mutex::new(stats),
            requested: AtomicBool::new(false),
            running: AtomicBool::new(false),
            stop,
            threads: Mutex::new(vec![flusher, fsyncer]),
            report,
            fork_generation: storage::fork_generation(),
        }))
    }

    /// True in a child process forked after this database was opened: the parent owns the
    /// files (and the log thread did not survive the fork), so the child may read its copy of
    /// the data but must not write or close the files.
    pub(crate) fn forked(&self) -> bool {
        storage::fork_generation() != self.fork_generation
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Take a snapshot now (writers keep running); on success it becomes the database's base.
    pub(crate) fn snapshot(&self, ks: &Keyspace) -> Result<(), String> {
        let _one = self.snapshot_lock.lock();
        if self.closed.load(Ordering::Acquire) {
            self.running.store(false, Ordering::Release);
            return Err("database closed".into());
        }
        self.running.store(true, Ordering::Release);
        {
            let mut st = self.stats.lock();
            st.started = Some(Instant::now());
            st.last_attempt_ms = now_ms();
        }
        let start = Instant::now();
        let res = snapshot::take(ks, &self.log, &self.dir).map_err(|e| format!("snapshot failed: {e}")).and_then(|taken| {
            storage::write_manifest(&self.dir, &storage::Manifest { snapshot: Some(taken.seq) })
                .map_err(|e| format!("snapshot written but MANIFEST update failed: {e}"))?;
            Ok(taken)
        });
        let mut st = self.stats.lock();
        st.started = None;
        st.last_duration_secs = start.elapsed().as_secs() as i64;
        self.running.store(false, Ordering::Release);
        match res {
            Ok(taken) => {
                self.log.covered_by_snapshot(taken.seq);
                storage::remove_covered(&self.dir, taken.seq);
                st.last_ok = true;
                st.last_error = None;
                st.last_save_ms = now_ms();
                st.snapshots += 1;
                st.snapshot_seq = taken.seq;
                st.snapshot_bytes = taken.bytes;
                Ok(())
            }
            Err(e) => {
                st.last_ok = false;
                st.last_error = Some(e.clone());
                Err(e)
            }
        }
    }

    /// Ask the background thread for a snapshot. False if one is already running (then a new
    /// one follows it only when `schedule` is set).
    pub(crate) fn request_snapshot(&self, schedule: bool) -> bool {
        let running = self.running.load(Ordering::Acquire);
        if !running || schedule {
            self.requested.store(true, Ordering::Release);
        }
        !running
    }

    /// Unix seconds of the last successful snapshot (LASTSAVE).
    pub(crate) fn last_save_secs(&self) -> i64 {
        self.stats.lock().last_save_ms / 1000
    }

    /// Called by the background thread every few milliseconds: should a snapshot start now?
    /// (requested, a `save` point reached, the log past its rewrite size, or a failed fsync to
    /// heal.) When it says yes, the snapshot counts as running from this moment, so the next
    /// tick does not start another.
    pub(crate) fn due(&self, ks: &Keyspace) -> bool {
        if self.running.load(Ordering::Acquire) || self.closed.load(Ordering::Acquire) {
            return false;
        }
        let due = self.due_now(ks);
        due && self.running.compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire).is_ok()
    }

    fn due_now(&self, ks: &Keyspace) -> bool {
        if self.requested.swap(false, Ordering::AcqRel) {
            return true;
        }
        let (save, pct, min_size) = {
            let c = ks.config.read();
            (c.save.clone(), c.auto_aof_rewrite_percentage, c.auto_aof_rewrite_min_size)
        };
        let st = self.stats.lock();
        if self.log.needs_snapshot() {
            // A failed fsync is healed by rewriting everything from memory; retry once a second.
            return now_ms() - st.last_attempt_ms >= 1000;
        }
        let changes = self.log.last_seq().saturating_sub(st.snapshot_seq);
        let since_secs = ((now_ms() - st.last_save_ms) / 1000).max(0) as u64;
        if changes > 0 && save.iter().any(|&(secs, n)| since_secs >= secs && changes >= n) {
            // After a failure Redis waits 5 s before trying a save point again.
            if st.last_ok || since_secs >= 5 {
                return true;
            }
        }
        if pct > 0 {
            let log = self.log.segment_size();
            let base = st.snapshot_bytes;
            let threshold = min_size.max(base.saturating_add(base.saturating_mul(u64::from(pct)) / 100));
            if base + log > threshold && log > 0 {
                return true;
            }
        }
        false
    }

    /// INFO `persistence` section.
    pub(crate) fn info(&self, out: &mut String) {
        let st = self.stats.lock();
        let running = st.started.map_or(-1, |s| s.elapsed().as_secs() as i64);
        let changes = self.log.last_seq().saturating_sub(st.snapshot_seq);
        let write_ok = if self.log.last_error().is_none() { "ok" } else { "err" };
        let status = if st.last_ok { "ok" } else { "err" };
        let in_progress = i32::from(st.started.is_some());
        let log_size = self.log.segment_size();
        out.push_str(&format!(
            "# Persistence\r\nloading:0\r\nasync_loading:0\r\nrdb_changes_since_last_save:{changes}\r\n\
             rdb_bgsave_in_progress:{in_progress}\r\nrdb_last_save_time:{}\r\nrdb_last_bgsave_status:{status}\r\n\
             rdb_last_bgsave_time_sec:{}\r\nrdb_current_bgsave_time_sec:{running}\r\nrdb_saves:{}\r\n\
             rdb_last_load_keys_loaded:{}\r\naof_enabled:1\r\naof_rewrite_in_progress:{in_progress}\r\n\
             aof_rewrite_scheduled:{}\r\naof_last_rewrite_time_sec:{}\r\naof_current_rewrite_time_sec:{running}\r\n\
             aof_last_bgrewrite_status:{status}\r\naof_rewrites:{}\r\naof_last_write_status:{write_ok}\r\n\
             aof_current_size:{}\r\naof_base_size:{}\r\nnestdb_appendfsync:{}\r\nnestdb_log_seq:{}\r\n\
             nestdb_recovery_records_replayed:{}\r\nnestdb_recovery_bytes_dropped:{}\r\n\r\n",
            st.last_save_ms / 1000,
            st.last_duration_secs,
            st.snapshots,
            self.report.snapshot_keys,
            i32::from(self.requested.load(Ordering::Relaxed)),
            st.last_duration_secs,
            st.snapshots,
            st.snapshot_bytes + log_size,
            st.snapshot_bytes,
            self.log.policy().name(),
            self.log.last_seq(),
            self.report.records_replayed,
            self.report.bytes_dropped,
        ));
    }

    /// Close: let a running snapshot finish, flush and fsync the log, stop the flusher and
    /// release LOCK. Idempotent.
    pub(crate) fn close(&self) -> Result<(), String> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let one = self.snapshot_lock.lock();
        let r = self.log.shutdown();
        self.stop.store(true, Ordering::Release);
        for h in std::mem::take(&mut *self.threads.lock()) {
            let _ = h.join();
        }
        drop(one);
        self.lock.lock().take();
        r
    }
}

/// INFO `persistence` for an in-memory database.
pub(crate) fn info_in_memory(out: &mut String) {
    out.push_str(
        "# Persistence\r\nloading:0\r\nasync_loading:0\r\nrdb_changes_since_last_save:0\r\nrdb_bgsave_in_progress:0\r\n\
         rdb_last_save_time:0\r\nrdb_last_bgsave_status:ok\r\nrdb_saves:0\r\naof_enabled:0\r\naof_rewrite_in_progress:0\r\n\
         aof_rewrites:0\r\naof_last_write_status:ok\r\n\r\n",
    );
}
