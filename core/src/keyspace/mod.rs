//! The keyspace: every key, its typed value and its TTL, split into shards.
//!
//! Ownership and invariants:
//! - A key lives in shard `shard_of(hash(key))`; each shard is one `RwLock`, so commands on
//!   different shards run in parallel and readers of one shard share it.
//! - A command locks the shards of its keys in ascending index order (never out of order, so
//!   there is no deadlock); whole-keyspace commands and transactions lock all of them.
//! - `Entry::expire_at` is the absolute expiry in Unix milliseconds (0 = persistent). A key whose
//!   time has come is invisible to every command from that instant (checked on access) even
//!   before it is deleted; deletion happens on write access or by the sampling expirer
//!   (`expire.rs`).
//! - `Shard::volatile` holds exactly the keys with a TTL, so the expirer samples only those.
//! - `Shard::watched` holds a version per key that some session WATCHes; every modification of
//!   such a key bumps it (`Ctx::modified`), which is how EXEC detects conflicts.

pub(crate) mod codec;
pub(crate) mod dict;
pub(crate) mod expire;
pub(crate) mod snapshot;

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use smallvec::SmallVec;

use crate::config::Options;
use crate::reply::Reply;
use crate::storage::log::KIND_KV;
use crate::storage::Log;
use crate::types::compress::Compression;
use crate::types::{Container, Value};
use dict::{hash_bytes, Dict};
use snapshot::ShardSnap;

pub(crate) const SHARD_BITS: u32 = 6;
pub(crate) const SHARDS: usize = 1 << SHARD_BITS;

pub(crate) const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

/// The shard a key hash belongs to (high bits; the low bits pick buckets inside the shard).
pub(crate) fn shard_of(hash: u64) -> usize {
    (hash >> (64 - SHARD_BITS)) as usize
}

/// Current Unix time in milliseconds.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// A key's value and TTL.
pub(crate) struct Entry {
    pub(crate) value: Value,
    /// Absolute expiry in Unix ms; 0 = no TTL.
    pub(crate) expire_at: i64,
}

impl Entry {
    pub(crate) fn is_expired(&self, now: i64) -> bool {
        self.expire_at != 0 && self.expire_at <= now
    }
}

#[derive(Default)]
pub(crate) struct WatchSlot {
    pub(crate) version: u64,
    refs: u32,
}

/// Counters kept per shard (no shared cache line between threads).
#[derive(Default)]
pub(crate) struct ShardStats {
    pub(crate) hits: AtomicU64,
    pub(crate) misses: AtomicU64,
    pub(crate) expired: AtomicU64,
}

#[derive(Default)]
pub(crate) struct Shard {
    pub(crate) dict: Dict<Entry>,
    pub(crate) volatile: Dict<()>,
    pub(crate) watched: Dict<WatchSlot>,
    pub(crate) stats: ShardStats,
    /// Progress of a snapshot in progress over this shard (None when none is running).
    pub(crate) snap: Option<Box<ShardSnap>>,
}

impl Shard {
    /// Call before changing anything in the bucket of `hash`: a running snapshot first saves
    /// that bucket's entries as they were at its cut.
    #[inline]
    pub(crate) fn before_write(&mut self, hash: u64) {
        if let Some(snap) = &mut self.snap {
            snap.save_bucket(&self.dict, self.dict.bucket_of(hash));
        }
    }

    /// Before inserting a new key while a snapshot runs: the table is frozen for automatic
    /// resizing, so grow it here when full, keeping the snapshot's per-bucket state right.
    #[inline]
    fn before_insert(&mut self) {
        if let Some(snap) = &mut self.snap {
            let n = self.dict.bucket_count();
            if n > 0 && self.dict.len() >= n {
                self.dict.grow_double();
                snap.table_doubled(n);
            }
        }
    }

    /// Delete `key` because it expired (no WATCH bump: an expired key was already gone).
    pub(crate) fn delete_expired(&mut self, hash: u64, key: &[u8]) {
        self.before_write(hash);
        if self.dict.remove_entry_hashed(hash, key).is_some() {
            self.volatile.remove(key);
            self.stats.expired.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn bump_watch(&mut self, key: &[u8]) {
        if !self.watched.is_empty() {
            if let Some(slot) = self.watched.get_mut(key) {
                slot.version += 1;
            }
        }
    }
}

#[repr(align(128))]
struct Padded<T>(T);

/// Compact-encoding thresholds in effect (Redis's `*-max-listpack-*` / `*-max-intset-*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct EncodingLimits {
    pub(crate) hash_max_listpack_entries: usize,
    pub(crate) hash_max_listpack_value: usize,
    pub(crate) set_max_intset_entries: usize,
    pub(crate) set_max_listpack_entries: usize,
    pub(crate) set_max_listpack_value: usize,
    pub(crate) zset_max_listpack_entries: usize,
    pub(crate) zset_max_listpack_value: usize,
    /// Redis's `list-max-listpack-size`: entries per node if positive, else -1..-5 = 4..64 KiB.
    pub(crate) list_max_listpack_size: i64,
}

impl EncodingLimits {
    pub(crate) fn from_options(o: &Options) -> Self {
        EncodingLimits {
            hash_max_listpack_entries: o.hash_max_listpack_entries as usize,
            hash_max_listpack_value: o.hash_max_listpack_value as usize,
            set_max_intset_entries: o.set_max_intset_entries as usize,
            set_max_listpack_entries: o.set_max_listpack_entries as usize,
            set_max_listpack_value: o.set_max_listpack_value as usize,
            zset_max_listpack_entries: o.zset_max_listpack_entries as usize,
            zset_max_listpack_value: o.zset_max_listpack_value as usize,
            list_max_listpack_size: i64::from(o.list_max_listpack_size),
        }
    }
}

impl Default for EncodingLimits {
    fn default() -> Self {
        EncodingLimits::from_options(&Options::default())
    }
}

/// The settings commands read on hot paths, copied out of `Keyspace::config` into atomics when
/// the database opens and on every CONFIG SET, so reading them takes no lock. Fields are loaded
/// one by one: a command racing a CONFIG SET may see some old and some new values, each valid.
#[derive(Default)]
struct Tuning {
    codec: std::sync::atomic::AtomicU8,
    compression_min_size: AtomicU64,
    /// `EncodingLimits` fields in declaration order.
    limits: [std::sync::atomic::AtomicI64; 8],
}

impl Tuning {
    fn store(&self, o: &Options) {
        use crate::config::Codec;
        let codec = match o.compression {
            Codec::None => 0,
            Codec::Lz4 => 1,
            Codec::Zlib => 2,
        };
        self.codec.store(codec, Ordering::Relaxed);
        self.compression_min_size.store(o.compression_min_size, Ordering::Relaxed);
        let l = EncodingLimits::from_options(o);
        let values = [
            l.hash_max_listpack_entries as i64,
            l.hash_max_listpack_value as i64,
            l.set_max_intset_entries as i64,
            l.set_max_listpack_entries as i64,
            l.set_max_listpack_value as i64,
            l.zset_max_listpack_entries as i64,
            l.zset_max_listpack_value as i64,
            l.list_max_listpack_size,
        ];
        for (slot, v) in self.limits.iter().zip(values) {
            slot.store(v, Ordering::Relaxed);
        }
    }

    fn compression(&self) -> Compression {
        use crate::config::Codec;
        let codec = match self.codec.load(Ordering::Relaxed) {
            1 => Codec::Lz4,
            2 => Codec::Zlib,
            _ => return Compression::OFF,
        };
        Compression { codec, min_size: self.compression_min_size.load(Ordering::Relaxed).min(usize::MAX as u64) as usize }
    }

    fn limits(&self) -> EncodingLimits {
        let v = |i: usize| self.limits[i].load(Ordering::Relaxed);
        EncodingLimits {
            hash_max_listpack_entries: v(0) as usize,
            hash_max_listpack_value: v(1) as usize,
            set_max_intset_entries: v(2) as usize,
            set_max_listpack_entries: v(3) as usize,
            set_max_listpack_value: v(4) as usize,
            zset_max_listpack_entries: v(5) as usize,
            zset_max_listpack_value: v(6) as usize,
            list_max_listpack_size: v(7),
        }
    }
}

/// All shards.
pub(crate) struct Keyspace {
    shards: Box<[Padded<RwLock<Shard>>]>,
    /// Live configuration (CONFIG GET/SET).
    pub(crate) config: RwLock<Options>,
    /// The append-only log, for a file-backed database once recovery is done.
    log: OnceLock<Arc<Log>>,
    /// The persistence state (snapshots, INFO persistence), for a file-backed database.
    pub(crate) persistence: OnceLock<Arc<crate::persist::Persistence>>,
    /// Hot-path copy of parts of `config` (see `Tuning`), kept in step by `apply_config`.
    tuning: Tuning,
}

impl Keyspace {
    pub(crate) fn new(options: Options) -> Self {
        let tuning = Tuning::default();
        tuning.store(&options);
        Keyspace {
            shards: (0..SHARDS).map(|_| Padded(RwLock::new(Shard::default()))).collect(),
            tuning,
            config: RwLock::new(options),
            log: OnceLock::new(),
            persistence: OnceLock::new(),
        }
    }

    /// Publish a new configuration (CONFIG SET): the hot-path copy follows it.
    pub(crate) fn apply_config(&self, options: Options) {
        self.tuning.store(&options);
        *self.config.write() = options;
    }

    /// Start logging every mutation to `log` (after recovery has replayed the old one).
    pub(crate) fn attach_log(&self, log: Arc<Log>) {
        let _ = self.log.set(log);
    }

    pub(crate) fn log(&self) -> Option<&Arc<Log>> {
        self.log.get()
    }

    /// Err(MISCONF reply) while the log cannot take writes: checked before a write runs, so a
    /// refused write changes nothing.
    pub(crate) fn check_writable(&self) -> Result<(), Reply> {
        match self.log.get() {
            Some(_) if self.persistence.get().is_some_and(|p| p.forked()) => Err(Reply::err(
                "ERR this process is a fork of the one that opened the database: it may read but not write; open the database again after fork",
            )),
            Some(log) => log.check_writable().map_err(|e| Reply::err_owned(format!("MISCONF Errors writing to the AOF file: {e}"))),
            None => Ok(()),
        }
    }

    /// Wait until record `seq` is durable when the policy is `always`; the error reply otherwise.
    pub(crate) fn wait_durable(&self, seq: Option<u64>) -> Result<(), Reply> {
        let (Some(seq), Some(log)) = (seq, self.log.get()) else { return Ok(()) };
        if log.policy() != crate::storage::FsyncPolicy::Always {
            return Ok(());
        }
        log.wait_durable(seq).map_err(|e| Reply::err_owned(format!("MISCONF Errors writing to the AOF file: {e}")))
    }
}

/// Which shards a command needs.
pub(crate) enum LockSet {
    None,
    One(usize),
    Some(SmallVec<[usize; 4]>),
    All,
}

impl LockSet {
    pub(crate) fn for_keys<'k>(keys: impl Iterator<Item = &'k [u8]>) -> LockSet {
        let mut ids: SmallVec<[usize; 4]> = keys.map(|k| shard_of(hash_bytes(k))).collect();
        match ids.len() {
            0 => LockSet::None,
            1 => LockSet::One(ids[0]),
            _ => {
                ids.sort_unstable();
                ids.dedup();
                if ids.len() == 1 {
                    LockSet::One(ids[0])
                } else {
                    LockSet::Some(ids)
                }
            }
        }
    }
}

impl Keyspace {
    pub(crate) fn shard(&self, idx: usize) -> &RwLock<Shard> {
        &self.shards[idx].0
    }

    /// Lock the shards in `set` (ascending order) and build a command context.
    pub(crate) fn lock(&self, set: &LockSet, write: bool) -> Ctx<'_> {
        let mut guards: SmallVec<[(usize, ShardGuard<'_>); 4]> = SmallVec::new();
        let mut take = |i: usize| {
            let g = if write { ShardGuard::Write(self.shards[i].0.write()) } else { ShardGuard::Read(self.shards[i].0.read()) };
            guards.push((i, g));
        };
        let all = matches!(set, LockSet::All);
        match set {
            LockSet::None => {}
            LockSet::One(i) => take(*i),
            LockSet::Some(ids) => ids.iter().for_each(|&i| take(i)),
            LockSet::All => (0..SHARDS).for_each(take),
        }
        let logging = self.log.get().is_some();
        let effects = if logging { EFFECTS_BUF.with(|b| b.take()) } else { Vec::new() };
        Ctx { ks: self, guards, all, now: Cell::new(0), dirty: 0, effects, effect_described: false, logging, replaying: false }
    }

    /// A context over every shard for replaying the log: its clock is frozen at 1 ms, so no
    /// key counts as expired (expirations are in the log as DELs), and nothing is logged.
    pub(crate) fn replay_ctx(&self) -> Ctx<'_> {
        let mut ctx = self.lock(&LockSet::All, true);
        ctx.logging = false;
        ctx.replaying = true;
        ctx.now.set(1);
        ctx
    }
}

pub(crate) enum ShardGuard<'a> {
    Read(RwLockReadGuard<'a, Shard>),
    Write(RwLockWriteGuard<'a, Shard>),
}

/// What a running command sees: its locked shards, the command's clock, and its effects.
pub(crate) struct Ctx<'a> {
    ks: &'a Keyspace,
    guards: SmallVec<[(usize, ShardGuard<'a>); 4]>,
    all: bool,
    /// The time every TTL check in this command uses (Redis caches it per command too); read
    /// lazily, so commands that meet no TTL never ask the clock.
    now: Cell<i64>,
    /// Number of modifications made (Redis's `server.dirty`).
    pub(crate) dirty: u64,
    /// The log records this context has produced so far: RESP-encoded commands, appended to
    /// the log as one atomic unit when the context finishes (see `storage::log`).
    pub(crate) effects: Vec<u8>,
    /// The running command has described its own effect with `log_as`.
    pub(crate) effect_described: bool,
    /// Mutations are being logged (file-backed database, not replaying).
    pub(crate) logging: bool,
    replaying: bool,
}

impl Drop for Ctx<'_> {
    /// Effects not handed to the log by `finish` (a panic, an early return) are appended here,
    /// while the locks are still held: memory never holds a change the log does not.
    fn drop(&mut self) {
        if !self.effects.is_empty() {
            self.finish();
        }
        if self.effects.capacity() != 0 && self.effects.capacity() <= 64 << 10 {
            let buf = std::mem::take(&mut self.effects);
            EFFECTS_BUF.with(|b| b.set(buf));
        }
    }
}

thread_local! {
    /// The effects buffer of this thread's last logging context, reused by the next one so a
    /// logged write does not allocate.
    static EFFECTS_BUF: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

impl<'a> Ctx<'a> {
    /// The command's clock (Unix ms), read once per command.
    pub(crate) fn now(&self) -> i64 {
        match self.now.get() {
            0 => {
                let t = now_ms();
                self.now.set(t);
                t
            }
            t => t,
        }
    }

    /// Start a new command in the same context (pipelines): the clock is read again.
    pub(crate) fn next_command(&mut self) {
        if !self.replaying {
            self.now.set(0);
        }
    }

    /// Hand this context's effects to the log as one atomic record; returns its sequence
    /// number (to wait on under `appendfsync always`), or None if nothing was logged.
    pub(crate) fn finish(&mut self) -> Option<u64> {
        if self.effects.is_empty() {
            return None;
        }
        let log = self.ks.log.get()?;
        let seq = log.append(KIND_KV, &self.effects);
        self.effects.clear();
        Some(seq)
    }

    /// Before a logged write command runs: delete (and log as DEL) the keys it names that have
    /// expired, so its effect on replay (where nothing expires) is the same as now.
    pub(crate) fn purge_expired(&mut self, keys: impl Iterator<Item = usize>, argv: &[&[u8]]) {
        for i in keys {
            let key = argv[i];
            let h = hash_bytes(key);
            let shard = self.shard(h);
            if shard.volatile.is_empty() {
                continue;
            }
            if matches!(shard.dict.get_hashed(h, key), Some(e) if !self.live(e)) {
                self.shard_mut(h).delete_expired(h, key);
                crate::util::resp::encode_command(&mut self.effects, &[b"DEL".as_slice(), key]);
            }
        }
    }

    fn live(&self, e: &Entry) -> bool {
        e.expire_at == 0 || e.expire_at > self.now()
    }

    /// Log `argv` as (part of) this command's effect instead of the command's own argv.
    ///
    /// For commands whose argv does not determine their effect: relative TTLs (logged as
    /// PXAT/PEXPIREAT), SPOP (SREM of the chosen members), INCRBYFLOAT (SET of the result).
    /// Call it once per command to log, only when something changed; calling it means the
    /// command's own argv is not logged.
    pub(crate) fn log_as(&mut self, argv: &[&[u8]]) {
        self.effect_described = true;
        if !self.logging {
            return;
        }
        crate::util::resp::encode_command(&mut self.effects, argv);
    }

    /// The compression setting for values this command stores.
    pub(crate) fn compression(&self) -> Compression {
        self.ks.tuning.compression()
    }

    /// The compact-encoding thresholds for containers this command builds or grows.
    pub(crate) fn limits(&self) -> EncodingLimits {
        self.ks.tuning.limits()
    }

    /// Whether this context holds any shard lock.
    pub(crate) fn holds_locks(&self) -> bool {
        !self.guards.is_empty()
    }

    /// The keyspace this context belongs to (for server-wide state such as config).
    pub(crate) fn keyspace(&self) -> &'a Keyspace {
        self.ks
    }

    fn guard_pos(&self, idx: usize) -> usize {
        if self.all {
            return idx;
        }
        self.guards
            .iter()
            .position(|(i, _)| *i == idx)
            .expect("command touched a key whose shard it did not lock (command table key spec is wrong)")
    }

    pub(crate) fn shard(&self, hash: u64) -> &Shard {
        match &self.guards[self.guard_pos(shard_of(hash))].1 {
            ShardGuard::Read(g) => g,
            ShardGuard::Write(g) => g,
        }
    }

    pub(crate) fn shard_mut(&mut self, hash: u64) -> &mut Shard {
        let pos = self.guard_pos(shard_of(hash));
        match &mut self.guards[pos].1 {
            ShardGuard::Write(g) => g,
            ShardGuard::Read(_) => panic!("write access under a read lock (command flagged read-only)"),
        }
    }

    pub(crate) fn shards(&self) -> impl Iterator<Item = &Shard> + '_ {
        self.guards.iter().map(|(_, g)| match g {
            ShardGuard::Read(g) => &**g,
            ShardGuard::Write(g) => &**g,
        })
    }

    pub(crate) fn shard_by_index(&self, idx: usize) -> &Shard {
        match &self.guards[self.guard_pos(idx)].1 {
            ShardGuard::Read(g) => g,
            ShardGuard::Write(g) => g,
        }
    }

    pub(crate) fn shard_by_index_mut(&mut self, idx: usize) -> &mut Shard {
        let pos = self.guard_pos(idx);
        match &mut self.guards[pos].1 {
            ShardGuard::Write(g) => g,
            ShardGuard::Read(_) => panic!("write access under a read lock"),
        }
    }

    /// The live entry for `key` (None if absent or expired).
    pub(crate) fn lookup(&self, key: &[u8]) -> Option<&Entry> {
        let h = hash_bytes(key);
        self.shard(h).dict.get_hashed(h, key).filter(|e| self.live(e))
    }

    /// Like `lookup`, counting a keyspace hit or miss (reads that Redis counts).
    pub(crate) fn lookup_counted(&self, key: &[u8]) -> Option<&Entry> {
        let h = hash_bytes(key);
        let shard = self.shard(h);
        let found = shard.dict.get_hashed(h, key).filter(|e| self.live(e));
        let counter = if found.is_some() { &shard.stats.hits } else { &shard.stats.misses };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// The live entry for `key`, mutable; an expired entry is deleted first.
    pub(crate) fn lookup_mut(&mut self, key: &[u8]) -> Option<&mut Entry> {
        let h = hash_bytes(key);
        let expired = matches!(self.shard(h).dict.get_hashed(h, key), Some(e) if !self.live(e));
        let logging = self.logging;
        let shard = self.shard_mut(h);
        if expired {
            shard.delete_expired(h, key);
            if logging {
                crate::util::resp::encode_command(&mut self.effects, &[b"DEL".as_slice(), key]);
            }
            return None;
        }
        shard.before_write(h);
        self.shard_mut(h).dict.get_mut_hashed(h, key)
    }

    pub(crate) fn exists(&self, key: &[u8]) -> bool {
        self.lookup(key).is_some()
    }

    /// Record that `key` changed: bumps WATCH versions and the dirty counter.
    pub(crate) fn modified(&mut self, key: &[u8]) {
        self.modified_hashed(hash_bytes(key), key);
    }

    fn modified_hashed(&mut self, h: u64, key: &[u8]) {
        self.shard_mut(h).bump_watch(key);
        self.dirty += 1;
    }

    /// Store `value` under `key` with the given absolute expiry (0 = none), replacing any value.
    pub(crate) fn insert(&mut self, key: &[u8], value: Value, expire_at: i64) {
        let h = hash_bytes(key);
        let shard = self.shard_mut(h);
        shard.before_write(h);
        let entry = Entry { value, expire_at };
        match shard.dict.get_mut_hashed(h, key) {
            Some(old) => {
                let had_ttl = old.expire_at != 0;
                *old = entry;
                if had_ttl && expire_at == 0 {
                    shard.volatile.remove(key);
                } else if !had_ttl && expire_at != 0 {
                    shard.volatile.insert(key, ());
                }
            }
            None => {
                shard.before_insert();
                shard.dict.insert_new_hashed(h, key, entry);
                if expire_at != 0 {
                    shard.volatile.insert(key, ());
                }
            }
        }
        self.modified_hashed(h, key);
    }

    /// Delete `key`; returns the live entry that was removed (None if absent or expired).
    pub(crate) fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        let h = hash_bytes(key);
        let shard = self.shard_mut(h);
        shard.before_write(h);
        let (_, entry) = shard.dict.remove_entry_hashed(h, key)?;
        if entry.expire_at != 0 {
            shard.volatile.remove(key);
            if !self.live(&entry) {
                self.shard_mut(h).stats.expired.fetch_add(1, Ordering::Relaxed);
                return None;
            }
        }
        self.modified_hashed(h, key);
        Some(entry)
    }

    /// Set or clear (`at == 0`) the TTL of a live key. Returns false if the key is absent.
    pub(crate) fn set_expire(&mut self, key: &[u8], at: i64) -> bool {
        let Some(entry) = self.lookup_mut(key) else { return false };
        let had = entry.expire_at != 0;
        entry.expire_at = at;
        let h = hash_bytes(key);
        let shard = self.shard_mut(h);
        if had && at == 0 {
            shard.volatile.remove(key);
        } else if !had && at != 0 {
            shard.volatile.insert(key, ());
        }
        self.modified(key);
        true
    }

    /// The string at `key`: Ok(None) if absent, Err(WRONGTYPE) for another type.
    pub(crate) fn get_str(&self, key: &[u8]) -> Result<Option<&[u8]>, Reply> {
        match self.lookup_counted(key) {
            None => Ok(None),
            Some(Entry { value: Value::Str(s), .. }) => Ok(Some(s.as_slice())),
            Some(_) => Err(Reply::err(WRONGTYPE)),
        }
    }

    /// The container of type `T` at `key` (read-only).
    pub(crate) fn read<T: Container>(&self, key: &[u8]) -> Result<Option<&T>, Reply> {
        match self.lookup_counted(key) {
            None => Ok(None),
            Some(e) => T::of(&e.value).map(Some).ok_or_else(|| Reply::err(WRONGTYPE)),
        }
    }

    /// Check the type of `key` without touching it: Err(WRONGTYPE) if it holds something else.
    pub(crate) fn check_type<T: Container>(&self, key: &[u8]) -> Result<(), Reply> {
        match self.lookup(key) {
            Some(e) if T::of(&e.value).is_none() => Err(Reply::err(WRONGTYPE)),
            _ => Ok(()),
        }
    }

    /// Run `f` on the container of type `T` at `key`, creating an empty one first when `create`
    /// is set. Returns Ok(None) when absent and not created. A container left empty is deleted
    /// (Redis never stores empty aggregates). `f` does not signal modification by itself.
    pub(crate) fn modify<T: Container, R>(&mut self, key: &[u8], create: bool, f: impl FnOnce(&mut T) -> R) -> Result<Option<R>, Reply> {
        let h = hash_bytes(key);
        match self.lookup_mut(key) {
            Some(e) => {
                let Some(c) = T::of_mut(&mut e.value) else { return Err(Reply::err(WRONGTYPE)) };
                let r = f(c);
                if c.is_empty_container() {
                    let shard = self.shard_mut(h);
                    if let Some((_, old)) = shard.dict.remove_entry_hashed(h, key) {
                        if old.expire_at != 0 {
                            shard.volatile.remove(key);
                        }
                    }
                }
                Ok(Some(r))
            }
            None if create => {
                let mut c = T::default();
                let r = f(&mut c);
                if !c.is_empty_container() {
                    let shard = self.shard_mut(h);
                    shard.before_write(h);
                    shard.before_insert();
                    shard.dict.insert_new_hashed(h, key, Entry { value: c.wrap(), expire_at: 0 });
                }
                Ok(Some(r))
            }
            None => Ok(None),
        }
    }

    /// Watch bookkeeping: register interest in `key` and return its current version.
    pub(crate) fn watch(&mut self, key: &[u8]) -> u64 {
        let h = hash_bytes(key);
        let slot = self.shard_mut(h).watched.get_or_insert_with(key, WatchSlot::default);
        slot.refs += 1;
        slot.version
    }

    pub(crate) fn watch_version(&self, key: &[u8]) -> u64 {
        let h = hash_bytes(key);
        self.shard(h).watched.get(key).map_or(0, |s| s.version)
    }

    pub(crate) fn unwatch(&mut self, key: &[u8]) {
        let h = hash_bytes(key);
        let shard = self.shard_mut(h);
        if let Some(slot) = shard.watched.get_mut(key) {
            slot.refs -= 1;
            if slot.refs == 0 {
                shard.watched.remove(key);
            }
        }
    }

    /// Delete every key in the locked shards (FLUSHDB), bumping versions of watched keys that existed.
    pub(crate) fn flush_all_locked(&mut self) {
        let now = self.now();
        for i in 0..self.guards.len() {
            let idx = self.guards[i].0;
            let shard = self.shard_by_index_mut(idx);
            let live: Vec<Box<[u8]>> = if shard.watched.is_empty() {
                Vec::new()
            } else {
                shard.watched.keys().filter(|k| shard.dict.get(k).is_some_and(|e| !e.is_expired(now))).map(Box::from).collect()
            };
            for k in &live {
                shard.bump_watch(k);
            }
            if let Some(snap) = &mut shard.snap {
                snap.save_all(&shard.dict);
            }
            shard.dict.clear();
            shard.volatile.clear();
        }
        self.dirty += 1;
    }
}
