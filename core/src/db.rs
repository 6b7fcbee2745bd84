//! `Db`: the front door. Opening, running commands, sessions (MULTI/EXEC/WATCH), pipelines,
//! closure transactions, and the typed methods of `Commands`.
//!
//! Threading model: a `Db` is a cheap `Arc` clone, `Send + Sync`. Every command is atomic
//! (it holds the locks of its keys' shards for its whole run); commands on different shards, and
//! reads of the same shard, run in parallel. EXEC, `Session::pipeline` with several keys and
//! `Db::transaction` hold the locks of every shard for their whole run, so they are atomic
//! across keys.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use smallvec::SmallVec;

use crate::command::{self, CommandSpec, TXN, WRITE};
use crate::config::Options;
use crate::error::{Error, Result};
use crate::keyspace::dict::hash_bytes;
use crate::keyspace::{expire, shard_of, Ctx, Entry, Keyspace, LockSet, Prefetcher, WRONGTYPE};
use crate::persist::{Persistence, RecoveryReport};
use crate::reply::Reply;
use crate::types::{Value, ValueBytes};

pub(crate) struct Inner {
    pub(crate) ks: Keyspace,
    last_expire: Mutex<Instant>,
    /// When the TTL indexes were last swept.
    last_ttl: Mutex<Instant>,
}

impl Inner {
    fn persistence(&self) -> Option<&Arc<Persistence>> {
        self.ks.persistence.get()
    }
}

impl Inner {
    fn close(&self) {
        if let Some(p) = self.ks.persistence.get() {
            // A forked child must not touch its parent's files.
            if !p.forked() {
                let _ = p.close();
            }
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.close();
    }
}

/// File-backed databases open in this process, by canonical path: opening a path that is
/// already open shares its engine (the directory lock admits one opener per process).
///
/// A forked child starts with an empty table: its parent's engines are not its own to write.
fn open_paths() -> std::sync::MutexGuard<'static, OpenPaths> {
    static OPEN: std::sync::OnceLock<Mutex<OpenPaths>> = std::sync::OnceLock::new();
    let mut g = OPEN.get_or_init(|| Mutex::new(OpenPaths { pid: 0, map: HashMap::new() })).lock().unwrap_or_else(|e| e.into_inner());
    let pid = std::process::id();
    if g.pid != pid {
        g.pid = pid;
        g.map.clear();
    }
    g
}

struct OpenPaths {
    pid: u32,
    map: HashMap<PathBuf, Weak<Handle>>,
}

/// An open database. Clones share the same engine.
///
/// Each `Db` value (a clone, a `Session`'s own) is what INFO calls a client: the keyspace
/// counts them as they are made and dropped (`connected_clients`,
/// `total_connections_received`).
pub struct Db {
    inner: Arc<Handle>,
}

impl Db {
    fn from_handle(inner: Arc<Handle>) -> Db {
        let ks = &inner.ks;
        ks.clients.fetch_add(1, Ordering::Relaxed);
        ks.connections.fetch_add(1, Ordering::Relaxed);
        Db { inner }
    }
}

impl Clone for Db {
    fn clone(&self) -> Db {
        Db::from_handle(self.inner.clone())
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        self.inner.ks.clients.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What users' `Db` clones share. Background threads hold `Inner` directly, so the database
/// closes exactly when the last user handle goes, not when a background thread lets go.
struct Handle(Arc<Inner>);

impl std::ops::Deref for Handle {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl Drop for Handle {
    /// Closing: everything logged is written and fsynced (whatever the policy), the log thread
    /// stops and the directory lock is released, before `drop` returns.
    fn drop(&mut self) {
        self.0.close();
    }
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").finish_non_exhaustive()
    }
}

/// The databases whose background work (active expiry) this process's background thread runs.
///
/// One registry per process: after `fork()` the child must not touch the parent's registry (its
/// mutex may have been held by the parent's background thread at the instant of the fork, and
/// that thread does not exist in the child), so a child gets a fresh registry and its own
/// thread on first use; the parent's copy is leaked.
struct Registry {
    pid: u32,
    dbs: Mutex<Vec<Weak<Inner>>>,
}

static REGISTRY: AtomicPtr<Registry> = AtomicPtr::new(std::ptr::null_mut());

fn background_registry() -> &'static Registry {
    let pid = std::process::id();
    loop {
        let cur = REGISTRY.load(Ordering::Acquire);
        // SAFETY: non-null pointers in REGISTRY come from Box::into_raw below and are never freed.
        if let Some(reg) = unsafe { cur.as_ref() } {
            if reg.pid == pid {
                return reg;
            }
        }
        let new = Box::into_raw(Box::new(Registry { pid, dbs: Mutex::new(Vec::new()) }));
        match REGISTRY.compare_exchange(cur, new, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => {
                // SAFETY: just published; lives for the rest of the process.
                let reg: &'static Registry = unsafe { &*new };
                std::thread::Builder::new()
                    .name("nestdb-background".into())
                    .spawn(move || background_loop(reg))
                    .expect("spawn nestdb background thread");
                return reg;
            }
            // SAFETY: `new` was never shared.
            Err(_) => drop(unsafe { Box::from_raw(new) }),
        }
    }
}

/// How often TTL indexes are swept (MongoDB's TTL monitor runs every 60 s; an embedded
/// database can afford to be prompter).
const TTL_SWEEP_PERIOD: Duration = Duration::from_secs(1);

fn background_loop(registry: &'static Registry) {
    loop {
        std::thread::sleep(Duration::from_millis(10));
        crate::keyspace::evict::tick_lru_clock();
        let live: Vec<Arc<Inner>> = {
            let mut reg = registry.dbs.lock().unwrap_or_else(|e| e.into_inner());
            reg.retain(|w| w.strong_count() > 0);
            reg.iter().filter_map(Weak::upgrade).collect()
        };
        for inner in live {
            if let Some(p) = inner.persistence() {
                if p.due(&inner.ks) {
                    let job = inner.clone();
                    let spawned = std::thread::Builder::new().name("nestdb-snapshot".into()).spawn(move || {
                        if let Some(p) = job.persistence() {
                            let _ = p.snapshot(&job.ks);
                        }
                    });
                    if spawned.is_err() {
                        // No thread to spare: take it here (it clears the running claim).
                        let _ = p.snapshot(&inner.ks);
                    }
                }
            }
            {
                let mut last = inner.last_ttl.lock().unwrap_or_else(|e| e.into_inner());
                if last.elapsed() >= TTL_SWEEP_PERIOD {
                    *last = Instant::now();
                    drop(last);
                    crate::docs::index::ddl::ttl_sweep(&inner.ks);
                }
            }
            let hz = inner.ks.config.read().hz.max(1);
            let period = Duration::from_millis(1000 / u64::from(hz));
            let mut last = inner.last_expire.lock().unwrap_or_else(|e| e.into_inner());
            if last.elapsed() >= period {
                *last = Instant::now();
                drop(last);
                // Redis gives the slow cycle 25% of each period.
                expire::active_expire_cycle(&inner.ks, period / 4);
            }
        }
    }
}

impl Db {
    /// Open a database. `":memory:"` (or an empty path) is an in-memory database with no files;
    /// any other path is a database directory (created if missing): its snapshot is loaded and
    /// its log replayed (see `recovery_report`), and every write from now on is logged.
    ///
    /// Only one process may have a directory open (the error names the holder's pid); opening
    /// it again in the same process returns the same engine (its options stay those of the
    /// first open).
    pub fn open(path: impl AsRef<Path>, options: Options) -> Result<Db> {
        let path = path.as_ref();
        if path.as_os_str().is_empty() || path == Path::new(":memory:") {
            return Ok(Db::memory(options));
        }
        let key = std::path::absolute(path).map_err(|e| Error::Open(format!("{}: {e}", path.display())))?;
        let key = key.canonicalize().unwrap_or(key);
        let mut open = open_paths();
        if let Some(inner) = open.map.get(&key).and_then(Weak::upgrade) {
            return Ok(Db::from_handle(inner));
        }
        let ks = Keyspace::new(options);
        // A handle of this process that is closing may still hold the lock for a moment.
        let mut tries = 0;
        let persistence = loop {
            match Persistence::open(path, &ks) {
                Ok(p) => break p,
                Err(e) if tries < 200 && e.contains(&format!("locked by process {} ", std::process::id())) => {
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => return Err(Error::from_open_failure(e)),
            }
        };
        let canonical = persistence.dir().to_path_buf();
        let _ = ks.persistence.set(persistence);
        let inner = Arc::new(Inner { ks, last_expire: Mutex::new(Instant::now()), last_ttl: Mutex::new(Instant::now()) });
        background_registry().dbs.lock().unwrap_or_else(|e| e.into_inner()).push(Arc::downgrade(&inner));
        let handle = Arc::new(Handle(inner));
        open.map.retain(|_, w| w.strong_count() > 0);
        open.map.insert(key, Arc::downgrade(&handle));
        open.map.insert(canonical, Arc::downgrade(&handle));
        Ok(Db::from_handle(handle))
    }

    /// An in-memory database.
    pub fn memory(options: Options) -> Db {
        let inner =
            Arc::new(Inner { ks: Keyspace::new(options), last_expire: Mutex::new(Instant::now()), last_ttl: Mutex::new(Instant::now()) });
        background_registry().dbs.lock().unwrap_or_else(|e| e.into_inner()).push(Arc::downgrade(&inner));
        Db::from_handle(Arc::new(Handle(inner)))
    }

    /// What opening found: keys loaded, log records replayed, bytes of a torn last record cut
    /// off. None for an in-memory database.
    pub fn recovery_report(&self) -> Option<RecoveryReport> {
        self.inner.persistence().map(|p| p.report.clone())
    }

    /// Take a snapshot now and make it the base of the database (the log restarts after it).
    /// Writers keep running meanwhile. Errors for an in-memory database.
    pub fn snapshot(&self) -> Result<()> {
        let p = self.inner.persistence().ok_or_else(|| Error::InvalidArgument("snapshot needs a file-backed database".into()))?;
        p.snapshot(&self.inner.ks).map_err(|e| Error::Io(std::io::Error::other(e)))
    }

    /// The options in force now (CONFIG SET changes them).
    pub fn options(&self) -> Options {
        self.inner.ks.config.read().clone()
    }

    /// Write and fsync every logged record now, whatever the fsync policy.
    pub fn sync(&self) -> Result<()> {
        match self.inner.persistence() {
            Some(p) => p.log.sync_all().map_err(|e| Error::Io(std::io::Error::other(e))),
            None => Ok(()),
        }
    }

    /// An in-memory database with default options.
    pub fn open_in_memory() -> Db {
        Db::memory(Options::default())
    }

    #[cfg(test)]
    pub(crate) fn keyspace(&self) -> &Keyspace {
        &self.inner.ks
    }

    pub(crate) fn ks(&self) -> &Keyspace {
        &self.inner.ks
    }

    /// Run any command (binary-safe argv, argv[0] the command name). Transaction state
    /// (MULTI, WATCH) needs a `Session`: here MULTI and WATCH return an error reply, and EXEC,
    /// DISCARD and UNWATCH answer as Redis does on a connection with no transaction open.
    pub fn execute(&self, argv: &[&[u8]]) -> Reply {
        match command::resolve(argv) {
            Ok(spec) => command::dispatch(&self.inner.ks, spec, argv),
            Err(e) => e,
        }
    }

    /// `execute` for callers that must stay responsive while a blocking command (BLPOP,
    /// BLMOVE, BZPOPMIN...) waits for data: about every 100 ms of waiting, `interrupted` is
    /// asked whether to give up. If it says so the result is None and the command took
    /// nothing. Other commands run as with `execute`.
    pub fn execute_interruptible(&self, argv: &[&[u8]], interrupted: &mut dyn FnMut() -> bool) -> Option<Reply> {
        match command::resolve(argv) {
            Ok(spec) if spec.flags & command::BLOCKING != 0 => command::dispatch_blocking(&self.inner.ks, spec, argv, interrupted),
            Ok(spec) => Some(command::dispatch(&self.inner.ks, spec, argv)),
            Err(e) => Some(e),
        }
    }

    /// A subscriber for publish/subscribe within this process (SUBSCRIBE/PSUBSCRIBE and the
    /// messages PUBLISH sends to them, in order; see `Subscriber`).
    pub fn subscriber(&self) -> crate::Subscriber {
        crate::pubsub::Subscriber::new(self.inner.ks.pubsub.clone())
    }

    /// A session: a caller's own MULTI/EXEC/WATCH state over this database.
    pub fn session(&self) -> Session {
        Session { db: self.clone(), multi: None, multi_failed: false, watched: Vec::new() }
    }

    /// Run many commands, taking the locks they need once. Replies come back in order.
    pub fn pipeline<C: AsRef<[A]>, A: AsRef<[u8]>>(&self, commands: &[C]) -> Vec<Reply> {
        self.session().pipeline(commands)
    }

    /// Run `f` atomically: every shard is locked for its whole run, so no other command
    /// interleaves. Commands take effect immediately (later reads in `f` see them); like
    /// Redis's MULTI there is no rollback, and the clock is frozen for the whole run (TTLs are
    /// judged at one instant, as Redis 7 does inside EXEC). Its writes are logged as one
    /// atomic record.
    ///
    /// Errors (before `f` runs) while the log cannot take writes, and (after it ran) when the
    /// record could not be made durable under `appendfsync always`.
    pub fn transaction<R>(&self, f: impl FnOnce(&Tx<'_>) -> R) -> Result<R> {
        let ks = &self.inner.ks;
        ks.check_writable().map_err(reply_error)?;
        let ctx = ks.lock(&LockSet::All, true);
        let tx = Tx { ctx: RefCell::new(ctx) };
        let r = f(&tx);
        let mut ctx = tx.ctx.into_inner();
        let seq = ctx.finish();
        ctx.release();
        crate::keyspace::evict::make_room(ks);
        ks.wait_durable(seq).map_err(reply_error)?;
        Ok(r)
    }

    /// GET that lends the value to `f` instead of copying it out (no allocation). `f` runs
    /// under the key's shard read lock: keep it short and do not call back into the database.
    pub fn get_with<R>(&self, key: &[u8], f: impl FnOnce(&[u8]) -> R) -> Result<Option<R>> {
        let h = hash_bytes(key);
        let shard = self.inner.ks.shard(shard_of(h)).read();
        // The expiry comes from the node's tail (keys with a TTL only): no second table probed.
        let mut found = shard.dict.get_ref_with_tail_hashed(h, key);
        let expired = found.as_ref().is_some_and(|(_, tail)| tail.is_some_and(|at| at <= crate::keyspace::now_ms()));
        if expired {
            found = None;
        }
        let found = found.map(|(e, _)| e);
        // One add counts the command and the hit or miss (see `Counters::fast_hits`).
        let counters = self.inner.ks.counters();
        let counter = if found.is_some() { &counters.fast_hits } else { &counters.fast_misses };
        counter.fetch_add(1, Ordering::Relaxed);
        if let Some(e) = &found {
            crate::keyspace::evict::touch(&self.inner.ks.tuning, e);
        }
        let r = match found.as_deref().map(|e| &e.value) {
            None => Ok(None),
            Some(Value::Str(s)) => Ok(Some(s.with_bytes(f))),
            Some(_) => Err(Error::Command(WRONGTYPE.into())),
        };
        drop(found);
        drop(shard);
        if expired {
            // Lazy expiry, as GET through the command table (`expire::reclaim`).
            expire::reclaim(&self.inner.ks, &[key.into()]);
        }
        r
    }

    /// MGET that lends each value to `f` instead of copying it out: `f(i, Some(bytes))` for
    /// `keys[i]` holding a string, `f(i, None)` when it is absent, expired or of another type
    /// (MGET's nil), in order. One command (as MGET): the keys' shards are read-locked once for
    /// the whole batch, so the values are one point in time, and the keys' memory is requested
    /// ahead of their lookups (`Ctx::lookup_counted_batch`). `f` runs under those locks: keep
    /// it short and do not call back into the database.
    pub fn mget_with<K: AsRef<[u8]>>(&self, keys: &[K], mut f: impl FnMut(usize, Option<&[u8]>)) {
        let hashes: SmallVec<[u64; 16]> = keys.iter().map(|k| hash_bytes(k.as_ref())).collect();
        let ctx = self.inner.ks.lock(&LockSet::for_hashes(hashes.iter().copied()), false);
        ctx.count_command();
        ctx.lookup_counted_batch(keys, &hashes, |i, e| match e.as_deref() {
            Some(Entry { value: Value::Str(s), .. }) => s.with_bytes(|b| f(i, Some(b))),
            _ => f(i, None),
        });
        ctx.release();
    }

    /// Run one expiry cycle now (tests and tools; the background thread does this on its own).
    pub fn expire_cycle(&self) -> usize {
        expire::active_expire_cycle(&self.inner.ks, Duration::from_millis(25))
    }
}

/// A handle inside `Db::transaction`: runs commands under the transaction's locks.
pub struct Tx<'a> {
    ctx: RefCell<Ctx<'a>>,
}

impl Tx<'_> {
    /// Run any (non-transaction) command inside the transaction.
    pub fn execute(&self, argv: &[&[u8]]) -> Reply {
        match command::resolve(argv) {
            Ok(spec) if spec.flags & TXN != 0 => Reply::err("ERR transaction commands cannot be nested in Db::transaction"),
            Ok(spec) => command::run_locked(&mut self.ctx.borrow_mut(), spec, argv),
            Err(e) => e,
        }
    }

    /// Run a MongoDB database command inside the transaction (see `Db::run_command`): its
    /// document changes and this transaction's key commands are one atomic log record.
    pub fn run_command(&self, db: &str, command: &bson::Document) -> bson::Document {
        crate::docs::command::run_in(&mut self.ctx.borrow_mut(), db, command)
    }
}

struct Watched {
    key: Vec<u8>,
    version: u64,
    alive: bool,
}

/// One caller's transaction state: MULTI queue and WATCHed keys. Not shared between threads
/// (`Send`, not `Sync`): like a Redis connection, give each thread its own.
pub struct Session {
    db: Db,
    multi: Option<Vec<Vec<Vec<u8>>>>,
    multi_failed: bool,
    watched: Vec<Watched>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("in_multi", &self.multi.is_some()).field("watched", &self.watched.len()).finish()
    }
}

impl Session {
    /// True between MULTI and EXEC/DISCARD.
    pub fn in_multi(&self) -> bool {
        self.multi.is_some()
    }

    /// Run one command with this session's transaction state.
    pub fn execute(&mut self, argv: &[&[u8]]) -> Reply {
        let spec = match command::resolve(argv) {
            Ok(s) => s,
            Err(e) => {
                // Redis: a rejected EXEC discards the transaction ("EXECABORT ... because of: ...").
                if argv.first().is_some_and(|n| n.eq_ignore_ascii_case(b"exec")) {
                    self.multi = None;
                    self.multi_failed = false;
                    self.unwatch_all();
                    let text = e.error_text().unwrap_or_default();
                    return Reply::err_owned(format!(
                        "EXECABORT Transaction discarded because of: {}",
                        text.strip_prefix("ERR ").unwrap_or(text)
                    ));
                }
                if self.multi.is_some() {
                    self.multi_failed = true;
                }
                return e;
            }
        };
        if spec.flags & TXN != 0 {
            return self.transaction_command(spec, argv);
        }
        if let Some(queue) = &mut self.multi {
            // Redis refuses a command that may grow memory while over maxmemory at queue time,
            // which dooms the transaction (EXECABORT).
            if spec.flags & command::DENYOOM != 0 && !crate::keyspace::evict::make_room(&self.db.inner.ks) {
                self.multi_failed = true;
                return Reply::err(crate::keyspace::evict::OOM);
            }
            queue.push(argv.iter().map(|a| a.to_vec()).collect());
            return Reply::status("QUEUED");
        }
        command::dispatch(&self.db.inner.ks, spec, argv)
    }

    fn transaction_command(&mut self, spec: &'static CommandSpec, argv: &[&[u8]]) -> Reply {
        self.db.inner.ks.counters().commands.fetch_add(1, Ordering::Relaxed);
        match spec.name {
            "multi" => {
                if self.multi.is_some() {
                    return Reply::err("ERR MULTI calls can not be nested");
                }
                self.multi = Some(Vec::new());
                self.multi_failed = false;
                Reply::OK
            }
            "discard" => {
                if self.multi.take().is_none() {
                    return Reply::err("ERR DISCARD without MULTI");
                }
                self.unwatch_all();
                Reply::OK
            }
            "exec" => self.exec(),
            "watch" => {
                if self.multi.is_some() {
                    return Reply::err("ERR WATCH inside MULTI is not allowed");
                }
                let keys = &argv[1..];
                let mut ctx = self.db.inner.ks.lock(&LockSet::for_keys(keys.iter().copied()), true);
                for key in keys {
                    if self.watched.iter().any(|w| w.key == *key) {
                        continue;
                    }
                    let version = ctx.watch(key);
                    let alive = ctx.exists(key);
                    self.watched.push(Watched { key: key.to_vec(), version, alive });
                }
                Reply::OK
            }
            "unwatch" => {
                if let Some(queue) = &mut self.multi {
                    queue.push(argv.iter().map(|a| a.to_vec()).collect());
                    return Reply::status("QUEUED");
                }
                self.unwatch_all();
                Reply::OK
            }
            _ => unreachable!("TXN flag on {}", spec.name),
        }
    }

    fn exec(&mut self) -> Reply {
        let Some(queue) = self.multi.take() else { return Reply::err("ERR EXEC without MULTI") };
        if std::mem::take(&mut self.multi_failed) {
            self.unwatch_all();
            return Reply::err("EXECABORT Transaction discarded because of previous errors.");
        }
        let denyoom = queue.iter().any(|c| command::find(&c[0]).is_some_and(|s| s.flags & command::DENYOOM != 0));
        if denyoom && !crate::keyspace::evict::make_room(&self.db.inner.ks) {
            self.unwatch_all();
            return Reply::err_owned(format!("EXECABORT Transaction discarded because of: {}", crate::keyspace::evict::OOM));
        }
        let mut ctx = self.db.inner.ks.lock(&LockSet::All, true);
        let conflict = self.watched.iter().any(|w| ctx.watch_version(&w.key) != w.version || (w.alive && !ctx.exists(&w.key)));
        if let Err(e) = self.db.inner.ks.check_writable() {
            if queue.iter().any(|c| command::find(&c[0]).is_some_and(|s| s.is_write())) {
                drop(ctx);
                self.unwatch_all();
                return Reply::err_owned(format!("EXECABORT Transaction discarded because of: {}", e.error_text().unwrap_or_default()));
            }
        }
        let reply = if conflict {
            Reply::Nil
        } else {
            let mut replies = Vec::with_capacity(queue.len());
            for cmd in &queue {
                let argv: Vec<&[u8]> = cmd.iter().map(Vec::as_slice).collect();
                let spec = command::find(argv[0]).expect("validated when queued");
                if spec.name == "unwatch" {
                    replies.push(Reply::OK);
                    continue;
                }
                replies.push(command::run_locked(&mut ctx, spec, &argv));
            }
            Reply::Array(replies)
        };
        for w in self.watched.drain(..) {
            ctx.unwatch(&w.key);
        }
        let seq = ctx.finish();
        ctx.release();
        crate::keyspace::evict::make_room(&self.db.inner.ks);
        match self.db.inner.ks.wait_durable(seq) {
            Ok(()) => reply,
            Err(e) => e,
        }
    }

    fn unwatch_all(&mut self) {
        if self.watched.is_empty() {
            return;
        }
        let keys: Vec<Vec<u8>> = self.watched.drain(..).map(|w| w.key).collect();
        let mut ctx = self.db.inner.ks.lock(&LockSet::for_keys(keys.iter().map(Vec::as_slice)), true);
        for k in &keys {
            ctx.unwatch(k);
        }
    }

    /// Run many commands in order. Outside MULTI and without transaction commands, they run
    /// under one acquisition of the locks they need; otherwise one by one with this session's
    /// MULTI/EXEC semantics.
    pub fn pipeline<C: AsRef<[A]>, A: AsRef<[u8]>>(&mut self, commands: &[C]) -> Vec<Reply> {
        let argvs: Vec<Vec<&[u8]>> = commands.iter().map(|c| c.as_ref().iter().map(AsRef::as_ref).collect()).collect();
        let mut specs = Vec::with_capacity(argvs.len());
        let mut simple = self.multi.is_none();
        for argv in &argvs {
            match command::resolve(argv) {
                // A blocking command waits, holding up the commands after it, as on a Redis
                // connection: so each runs on its own.
                Ok(spec) if spec.flags & (TXN | command::BLOCKING) == 0 => specs.push(Ok(spec)),
                Ok(_) => simple = false,
                Err(e) => specs.push(Err(e)),
            }
        }
        if !simple {
            return argvs.iter().map(|a| self.execute(a)).collect();
        }
        let write = specs.iter().any(|s| matches!(s, Ok(spec) if spec.flags & WRITE != 0));
        let mut all = false;
        let mut ids: Vec<usize> = Vec::new();
        for (argv, spec) in argvs.iter().zip(&specs) {
            if let Ok(spec) = spec {
                match spec.lock_set(argv) {
                    LockSet::All => all = true,
                    LockSet::None => {}
                    LockSet::One(i) => ids.push(i),
                    LockSet::Some(v) => ids.extend(v),
                }
            }
        }
        ids.sort_unstable();
        ids.dedup();
        // Up to 16 shards are locked one by one (a 16-command pipeline of random keys touches
        // about 14 of the 64): cheaper than locking all of them (measured: GET +15 %).
        let set = if all || ids.len() > 16 { LockSet::All } else { LockSet::Some(ids.into_iter().collect()) };
        let ks = &self.db.inner.ks;
        let refused = if write { ks.check_writable().err() } else { None };
        let mut ctx = ks.lock(&set, write);
        // Each command's (first) key is loaded a few commands ahead (see `Prefetcher`).
        let keys = argvs.iter().zip(&specs).map(|(argv, spec)| match spec {
            Ok(spec) if spec.keys_fn.is_none() && spec.first_key > 0 => argv.get(spec.first_key as usize).copied(),
            _ => None,
        });
        let prefetcher = Prefetcher::new(&ctx, keys);
        let mut replies: Vec<Reply> = argvs
            .iter()
            .zip(&specs)
            .enumerate()
            .map(|(i, (argv, spec))| {
                prefetcher.advance(&ctx, i);
                match spec {
                    Ok(spec) if spec.is_write() && refused.is_some() => refused.clone().expect("checked"),
                    Ok(spec) => {
                        ctx.next_command();
                        command::run_locked(&mut ctx, spec, argv)
                    }
                    Err(e) => e.clone(),
                }
            })
            .collect();
        let seq = ctx.finish();
        ctx.release();
        if write {
            crate::keyspace::evict::make_room(ks);
        }
        if let Err(e) = ks.wait_durable(seq) {
            for (r, spec) in replies.iter_mut().zip(&specs) {
                if matches!(spec, Ok(s) if s.is_write()) {
                    *r = e.clone();
                }
            }
        }
        replies
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.unwatch_all();
    }
}

fn reply_error(r: Reply) -> Error {
    Error::Command(r.error_text().unwrap_or("ERR").to_string())
}

/// Turn an error reply into `Error::Command`.
fn check(r: Reply) -> Result<Reply> {
    match r {
        Reply::Error(e) => Err(Error::Command(e.into_owned())),
        r => Ok(r),
    }
}

fn unexpected(r: &Reply) -> Error {
    Error::Command(format!("ERR unexpected reply {r:?}"))
}

fn to_int(r: Reply) -> Result<i64> {
    match check(r)? {
        Reply::Int(i) => Ok(i),
        r => Err(unexpected(&r)),
    }
}

fn to_opt_bytes(r: Reply) -> Result<Option<Vec<u8>>> {
    match check(r)? {
        Reply::Bulk(b) => Ok(Some(b)),
        Reply::Nil => Ok(None),
        r => Err(unexpected(&r)),
    }
}

fn to_opt_f64(r: Reply) -> Result<Option<f64>> {
    match check(r)? {
        Reply::Double(d) => Ok(Some(d)),
        Reply::Nil => Ok(None),
        r => Err(unexpected(&r)),
    }
}

fn to_opt_int(r: Reply) -> Result<Option<i64>> {
    match check(r)? {
        Reply::Int(i) => Ok(Some(i)),
        Reply::Nil => Ok(None),
        r => Err(unexpected(&r)),
    }
}

fn to_bytes_vec(r: Reply) -> Result<Vec<Vec<u8>>> {
    match check(r)? {
        Reply::Array(a) => a.into_iter().map(|x| x.into_bytes().ok_or_else(|| Error::Command("ERR unexpected nil".into()))).collect(),
        r => Err(unexpected(&r)),
    }
}

fn to_pairs(r: Reply) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
    match check(r)? {
        Reply::Map(m) => m
            .into_iter()
            .map(|(k, v)| match (k, v) {
                (Reply::Bulk(k), Reply::Bulk(v)) => Ok((k, v)),
                (k, _) => Err(unexpected(&k)),
            })
            .collect(),
        r => Err(unexpected(&r)),
    }
}

fn to_scored(r: Reply) -> Result<Vec<(Vec<u8>, f64)>> {
    match check(r)? {
        Reply::Array(a) => a
            .into_iter()
            .map(|p| match p {
                Reply::Array(mut pair) if pair.len() == 2 => {
                    let score = pair.pop();
                    let member = pair.pop();
                    match (member, score) {
                        (Some(Reply::Bulk(m)), Some(Reply::Double(s))) => Ok((m, s)),
                        _ => Err(Error::Command("ERR unexpected reply shape".into())),
                    }
                }
                other => Err(unexpected(&other)),
            })
            .collect(),
        r => Err(unexpected(&r)),
    }
}

/// Typed methods for the common commands, shared by `Db` and `Tx`. Anything else goes through
/// `execute`. Errors are `Error::Command` with Redis's text.
pub trait Commands {
    /// Run any command.
    fn execute(&self, argv: &[&[u8]]) -> Reply;

    /// GET.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        to_opt_bytes(self.execute(&[b"GET", key]))
    }
    /// SET without options.
    fn set(&self, key: &[u8], value: &[u8]) -> Result<()> {
        check(self.execute(&[b"SET", key, value])).map(drop)
    }
    /// SET with a TTL in milliseconds (SET key value PX ms).
    fn set_px(&self, key: &[u8], value: &[u8], ttl_ms: u64) -> Result<()> {
        check(self.execute(&[b"SET", key, value, b"PX", ttl_ms.to_string().as_bytes()])).map(drop)
    }
    /// DEL; returns how many keys were removed.
    fn del(&self, keys: &[&[u8]]) -> Result<i64> {
        let mut argv: Vec<&[u8]> = vec![b"DEL"];
        argv.extend_from_slice(keys);
        to_int(self.execute(&argv))
    }
    /// EXISTS for one key.
    fn exists(&self, key: &[u8]) -> Result<bool> {
        to_int(self.execute(&[b"EXISTS", key])).map(|n| n > 0)
    }
    /// INCRBY.
    fn incr_by(&self, key: &[u8], delta: i64) -> Result<i64> {
        to_int(self.execute(&[b"INCRBY", key, delta.to_string().as_bytes()]))
    }
    /// PEXPIRE; true if the TTL was set.
    fn pexpire(&self, key: &[u8], ms: i64) -> Result<bool> {
        to_int(self.execute(&[b"PEXPIRE", key, ms.to_string().as_bytes()])).map(|n| n == 1)
    }
    /// PTTL: -2 absent, -1 no TTL.
    fn pttl(&self, key: &[u8]) -> Result<i64> {
        to_int(self.execute(&[b"PTTL", key]))
    }
    /// HSET of one field; true if the field is new.
    fn hset(&self, key: &[u8], field: &[u8], value: &[u8]) -> Result<bool> {
        to_int(self.execute(&[b"HSET", key, field, value])).map(|n| n == 1)
    }
    /// HGET.
    fn hget(&self, key: &[u8], field: &[u8]) -> Result<Option<Vec<u8>>> {
        to_opt_bytes(self.execute(&[b"HGET", key, field]))
    }
    /// HGETALL as (field, value) pairs.
    fn hgetall(&self, key: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        to_pairs(self.execute(&[b"HGETALL", key]))
    }
    /// RPUSH; returns the new length.
    fn rpush(&self, key: &[u8], values: &[&[u8]]) -> Result<i64> {
        let mut argv: Vec<&[u8]> = vec![b"RPUSH", key];
        argv.extend_from_slice(values);
        to_int(self.execute(&argv))
    }
    /// LPUSH; returns the new length.
    fn lpush(&self, key: &[u8], values: &[&[u8]]) -> Result<i64> {
        let mut argv: Vec<&[u8]> = vec![b"LPUSH", key];
        argv.extend_from_slice(values);
        to_int(self.execute(&argv))
    }
    /// LRANGE.
    fn lrange(&self, key: &[u8], start: i64, stop: i64) -> Result<Vec<Vec<u8>>> {
        to_bytes_vec(self.execute(&[b"LRANGE", key, start.to_string().as_bytes(), stop.to_string().as_bytes()]))
    }
    /// SADD; returns how many members were new.
    fn sadd(&self, key: &[u8], members: &[&[u8]]) -> Result<i64> {
        let mut argv: Vec<&[u8]> = vec![b"SADD", key];
        argv.extend_from_slice(members);
        to_int(self.execute(&argv))
    }
    /// SMEMBERS (unordered).
    fn smembers(&self, key: &[u8]) -> Result<Vec<Vec<u8>>> {
        to_bytes_vec(self.execute(&[b"SMEMBERS", key]))
    }
    /// ZADD of one member; true if it is new.
    fn zadd(&self, key: &[u8], score: f64, member: &[u8]) -> Result<bool> {
        let s = crate::util::num::format_score(score);
        to_int(self.execute(&[b"ZADD", key, s.as_bytes(), member])).map(|n| n == 1)
    }
    /// ZSCORE.
    fn zscore(&self, key: &[u8], member: &[u8]) -> Result<Option<f64>> {
        to_opt_f64(self.execute(&[b"ZSCORE", key, member]))
    }
    /// ZRANK (ascending, 0-based).
    fn zrank(&self, key: &[u8], member: &[u8]) -> Result<Option<i64>> {
        to_opt_int(self.execute(&[b"ZRANK", key, member]))
    }
    /// ZRANGE by rank WITHSCORES.
    fn zrange_withscores(&self, key: &[u8], start: i64, stop: i64) -> Result<Vec<(Vec<u8>, f64)>> {
        to_scored(self.execute(&[b"ZRANGE", key, start.to_string().as_bytes(), stop.to_string().as_bytes(), b"WITHSCORES"]))
    }
}

impl Commands for Db {
    fn execute(&self, argv: &[&[u8]]) -> Reply {
        Db::execute(self, argv)
    }

    /// GET without going through the command table (one shard read lock, one lookup).
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.get_with(key, <[u8]>::to_vec)
    }

    /// ZRANK without going through the command table (one shard read lock, one member lookup).
    fn zrank(&self, key: &[u8], member: &[u8]) -> Result<Option<i64>> {
        let h = hash_bytes(key);
        let ctx = self.inner.ks.lock(&LockSet::One(shard_of(h)), false);
        ctx.count_command();
        let r = match ctx.read_plain::<crate::types::ZSetValue>(key) {
            Err(e) => check(e).map(|_| None),
            Ok(z) => Ok(z.and_then(|z| z.rank(member)).map(|r| r as i64)),
        };
        ctx.release();
        r
    }

    /// SET without going through the command table.
    fn set(&self, key: &[u8], value: &[u8]) -> Result<()> {
        let ks = &self.inner.ks;
        ks.check_writable().map_err(reply_error)?;
        let h = hash_bytes(key);
        let mut ctx = ks.lock(&LockSet::One(shard_of(h)), true);
        ctx.count_command();
        if ctx.out_of_memory() {
            return Err(Error::Command(crate::keyspace::evict::OOM.into()));
        }
        ctx.insert(key, Value::Str(ValueBytes::store(value, ctx.compression())), 0);
        if ctx.logging {
            crate::util::resp::encode_command(&mut ctx.effects, &[b"SET".as_slice(), key, value]);
        }
        let seq = ctx.finish();
        drop(ctx);
        crate::keyspace::evict::make_room(ks);
        ks.wait_durable(seq).map_err(reply_error)
    }
}

impl Commands for Tx<'_> {
    fn execute(&self, argv: &[&[u8]]) -> Reply {
        Tx::execute(self, argv)
    }
}
