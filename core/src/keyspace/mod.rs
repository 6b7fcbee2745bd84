//! The keyspace: every key, its typed value and its TTL, split into shards.
//!
//! Ownership and invariants:
//! - A key lives in shard `shard_of(hash(key))`; each shard is one `RwLock`, so commands on
//!   different shards run in parallel and readers of one shard share it.
//! - A command locks the shards of its keys in ascending index order (never out of order, so
//!   there is no deadlock); whole-keyspace commands and transactions lock all of them.
//! - A key with a TTL has its absolute expiry (Unix ms) in the tail of its dict node (see
//!   `dict.rs`), its entry carries `Entry::has_ttl`, and `Shard::volatile` holds its name; a
//!   key without one has none of the three (all change together, in `Shard::set_ttl_hashed`,
//!   `Shard::insert_new_entry` and `Shard::take_entry`). A lookup reads the expiry from the
//!   node it has just loaded; `volatile` is the set the expirer and the `volatile-*` eviction
//!   policies sample, as Redis's `expires` dict (a key without a TTL pays nothing for it, and
//!   only keys that can expire are sampled). A key whose time has come is invisible to every
//!   command from that instant (checked on access) even before it is deleted; deletion happens on write
//!   access, right after a read that met it (`Ctx::expired_seen`, `expire::reclaim`: a read
//!   holds only a read lock, so the key is deleted once the command's locks are released, as
//!   Redis deletes an expired key on access), or by the sampling expirer (`expire.rs`).
//! - `Shard::watched` holds a version per key that some session WATCHes; every modification of
//!   such a key bumps it (`Ctx::modified`), which is how EXEC detects conflicts.
//! - Memory: `Shard::values_mem` is the sum of `Value::mem_usage()` over the shard's entries.
//!   A context records a key's usage before its first change in a command (`Ctx::track`) and
//!   settles the difference afterwards (`Ctx::settle`), so the total is kept incrementally and
//!   never by scanning; `Keyspace::used` is the published sum of every shard's footprint
//!   (`Shard::footprint`: tables, nodes, keys, values). `Entry::access` is the LRU clock or
//!   LFU counter eviction reads (`evict.rs`).

pub(crate) mod blocking;
pub(crate) mod codec;
pub(crate) mod dict;
pub(crate) mod evict;
pub(crate) mod expire;
pub(crate) mod snapshot;

use std::cell::Cell;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use crate::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use smallvec::SmallVec;

use crate::config::Options;
use crate::reply::Reply;
use crate::storage::log::KIND_KV;
use crate::storage::Log;
use crate::types::compress::Compression;
use crate::types::{Container, Value, ValueBytes};
use dict::{hash_bytes, Dict, Packing, ValRef, PACKED};
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

/// A key's value and access record. Its TTL, when it has one, lives in the tail of its dict
/// node (and its name in `Shard::volatile`); the entry only carries a flag saying so (the top
/// bit of `access`). That keeps the entry at 48 bytes: a keyspace node for a short key without
/// a TTL fits an 80-byte malloc chunk (see `dict.rs`). `access` comes first: it is the word
/// of `dict::Packing` (a small hash's node holds the word and its listpack, no `Entry`; see
/// `PackedHashes`).
#[repr(C)]
pub(crate) struct Entry {
    /// Bit 63: the key has a TTL (changed only under the shard's write lock). Bit 62: never
    /// set in an entry (in its node's word: the node is packed). Bits 0-61: under an LFU
    /// policy `minutes:54 | counter:8` (Redis's layout with a wider clock), otherwise the LRU
    /// clock (`evict::lru_stamp`, which stays below 2^62 until the 23rd century). Atomic
    /// because reads update it under a shared shard lock.
    access: AtomicU64,
    pub(crate) value: Value,
}

const TTL_FLAG: u64 = 1 << 63;
/// The bits of `Entry::access` that are not the access record.
const FLAGS: u64 = TTL_FLAG | PACKED;

/// The keyspace's packing (`dict::Packing`): a hash in the listpack encoding of at most
/// `PACKED_HASH_MAX` bytes is stored in its dict node, key and listpack in one block, instead
/// of a node holding an `Entry` plus the listpack's own block. For the common small hash (5
/// short fields, a 10-byte key) that is one 112-byte block instead of two of 80. Readers get
/// a view (`ValRef`); a write unpacks the node (`Dict::get_mut_hashed`) and `Ctx::settle`
/// packs it again.
pub(crate) struct PackedHashes;

/// The largest listpack kept in a node: beyond it the copies a write makes (unpack, repack)
/// would cost more than the block saves.
const PACKED_HASH_MAX: usize = 1024;

// SAFETY: `Entry` is `#[repr(C)]` with its `AtomicU64` word first, and `FLAGS` keeps `PACKED`
// out of every entry's word (`store_access_record`, `init_access`, `set_ttl_flag`).
unsafe impl Packing<Entry> for PackedHashes {
    const ON: bool = true;

    #[inline]
    fn payload(e: &Entry) -> Option<&[u8]> {
        match &e.value {
            Value::Hash(crate::types::HashValue::Listpack(lp)) if lp.byte_len() <= PACKED_HASH_MAX => Some(lp.as_bytes()),
            _ => None,
        }
    }

    fn word(e: &Entry) -> u64 {
        e.access.load(Ordering::Relaxed)
    }

    fn unpack(word: u64, payload: &[u8]) -> Entry {
        let lp = crate::types::listpack::ForwardListpack::from_bytes(payload);
        Entry { access: AtomicU64::new(word), value: Value::Hash(crate::types::HashValue::Listpack(lp)) }
    }

    unsafe fn view(word: u64, payload: &[u8]) -> std::mem::ManuallyDrop<Entry> {
        // SAFETY: the caller never drops, mutates or outlives the view, which is what
        // `borrow_bytes` asks of the listpack inside it.
        let lp = std::mem::ManuallyDrop::into_inner(unsafe { crate::types::listpack::ForwardListpack::borrow_bytes(payload) });
        std::mem::ManuallyDrop::new(Entry { access: AtomicU64::new(word), value: Value::Hash(crate::types::HashValue::Listpack(lp)) })
    }
}

/// The keyspace table.
pub(crate) type Keys = Dict<Entry, PackedHashes>;

/// A container of type `T` found by `Ctx::read`: in its node, or in a view of a packed node.
pub(crate) struct Read<'a, T> {
    entry: EntryRef<'a>,
    of: std::marker::PhantomData<fn() -> T>,
}

impl<T: Container> std::ops::Deref for Read<'_, T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        T::of(&self.entry.value).expect("`Ctx::read` checked the type")
    }
}

/// An entry as a lookup finds it: in its node, or a view of a packed node.
pub(crate) type EntryRef<'a> = ValRef<'a, Entry>;

impl Entry {
    /// A new entry without a TTL; its access record is set when it is stored (`Ctx::insert`)
    /// or loaded.
    pub(crate) fn new(value: Value) -> Self {
        Entry { value, access: AtomicU64::new(0) }
    }

    /// Whether the key has a TTL (its expiry is in `Shard::volatile`).
    #[inline]
    pub(crate) fn has_ttl(&self) -> bool {
        self.access.load(Ordering::Relaxed) & TTL_FLAG != 0
    }

    fn set_ttl_flag(&mut self, on: bool) {
        let a = self.access.get_mut();
        *a = if on { *a | TTL_FLAG } else { *a & !TTL_FLAG };
    }

    /// The LRU stamp or LFU record (without the flags).
    #[inline]
    pub(crate) fn access_record(&self) -> u64 {
        self.access.load(Ordering::Relaxed) & !FLAGS
    }

    /// Replace the access record, keeping the TTL flag. Safe under a read lock: the flag only
    /// changes under the write lock, so no reader can race a change of it.
    #[inline]
    pub(crate) fn store_access_record(&self, record: u64) {
        let flag = self.access.load(Ordering::Relaxed) & TTL_FLAG;
        self.access.store(record & !FLAGS | flag, Ordering::Relaxed);
    }
}

#[derive(Default)]
pub(crate) struct WatchSlot {
    pub(crate) version: u64,
    refs: u32,
}

/// What one value adds to a shard's running totals.
#[derive(Clone, Copy, Default)]
pub(crate) struct Usage {
    mem: usize,
    packed: crate::types::PackedStats,
}

impl Usage {
    pub(crate) fn of(v: &Value) -> Self {
        Usage { mem: v.mem_usage(), packed: v.packed_stats() }
    }

    /// What an entry adds to `values_mem` as stored: nothing for a packed node (its listpack
    /// is in the node, which the table counts).
    pub(crate) fn stored(e: &EntryRef<'_>) -> Self {
        Usage::stored_as(e, e.is_packed())
    }

    /// `stored` of an entry taken out of its node, which was `packed` or not.
    fn stored_as(e: &Entry, packed: bool) -> Self {
        if packed {
            Usage::default()
        } else {
            Usage::of(&e.value)
        }
    }

    /// What `e` will add to `values_mem` once inserted (packed or not, as the table decides).
    fn inserted(e: &Entry) -> Self {
        if PackedHashes::payload(e).is_some() {
            Usage::default()
        } else {
            Usage::of(&e.value)
        }
    }
}

/// Counters of rare events, kept per shard and changed under its write lock.
#[derive(Default)]
pub(crate) struct ShardStats {
    pub(crate) expired: AtomicU64,
    pub(crate) evicted: AtomicU64,
}

/// Stripes of `Counters`: threads are dealt stripes in turn, so up to this many threads add to
/// counters no other thread writes.
const COUNTER_STRIPES: usize = 16;

/// The counters every command adds to (INFO's `total_commands_processed`, `keyspace_hits`,
/// `keyspace_misses`), one stripe per thread (`Keyspace::counters`) on its own cache lines.
/// Why not per shard, next to the lock: two threads reading the same shards would then pass
/// the counters' cache line back and forth on every command, one coherence miss each on top of
/// the lock's; a thread's stripe stays in its own core's cache. INFO sums the stripes.
#[derive(Default)]
#[repr(align(128))]
pub(crate) struct Counters {
    pub(crate) hits: AtomicU64,
    pub(crate) misses: AtomicU64,
    /// Commands run (`count_command`).
    pub(crate) commands: AtomicU64,
    /// GETs of the `Db::get_with` fast path that hit / missed: each is a command and a
    /// keyspace hit or miss, so that path counts both with one add.
    pub(crate) fast_hits: AtomicU64,
    pub(crate) fast_misses: AtomicU64,
}

/// This thread's stripe of `Counters` (dealt on its first use).
#[inline]
fn counter_stripe() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static STRIPE: std::cell::Cell<usize> = const { std::cell::Cell::new(usize::MAX) };
    }
    STRIPE.with(|s| match s.get() {
        usize::MAX => {
            let stripe = NEXT.fetch_add(1, Ordering::Relaxed) % COUNTER_STRIPES;
            s.set(stripe);
            stripe
        }
        stripe => stripe,
    })
}

#[derive(Default)]
pub(crate) struct Shard {
    pub(crate) dict: Keys,
    /// The keys with a TTL (their expiry is in their node's tail; their entries carry
    /// `has_ttl`): what the expirer samples.
    pub(crate) volatile: Dict<()>,
    pub(crate) watched: Dict<WatchSlot>,
    pub(crate) stats: ShardStats,
    /// Progress of a snapshot in progress over this shard (None when none is running).
    pub(crate) snap: Option<Box<ShardSnap>>,
    /// Sum of `Value::mem_usage()` of the entries (see the module comment).
    pub(crate) values_mem: usize,
    /// Sum of `Value::packed_stats()` of the entries.
    packed: crate::types::PackedStats,
    /// The footprint last added to `Keyspace::used` (atomic: CONFIG SET publishes under read
    /// locks).
    published: AtomicUsize,
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
        if let Some((_, _, usage)) = self.take_entry(hash, key) {
            self.account(usage, false);
            self.stats.expired.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Remove `key`'s entry and its TTL together (the counterpart of `set_ttl_hashed`); returns
    /// the entry, TTL flag cleared, its absolute expiry (0 = none) and the usage it had as
    /// stored. No accounting: callers settle memory and counters (and call `before_write` first).
    pub(crate) fn take_entry(&mut self, hash: u64, key: &[u8]) -> Option<(Entry, i64, Usage)> {
        let (mut e, tail, packed) = self.dict.take_hashed(hash, key)?;
        if e.has_ttl() {
            e.set_ttl_flag(false);
            self.volatile.remove_hashed(hash, key);
        }
        let usage = Usage::stored_as(&e, packed);
        Some((e, tail.unwrap_or(0), usage))
    }

    /// The absolute expiry of `key`, whose entry is `e` (0 = no TTL): read from the tail of
    /// the key's node, which the lookup that found `e` has just brought into the cache.
    #[inline]
    pub(crate) fn expire_at_hashed(&self, hash: u64, key: &[u8], e: &Entry) -> i64 {
        if !e.has_ttl() {
            return 0;
        }
        self.dict.tail_hashed(hash, key).unwrap_or(0)
    }

    /// Like `expire_at_hashed`, hashing the key itself (for walks over the table).
    pub(crate) fn expire_at(&self, key: &[u8], e: &Entry) -> i64 {
        if !e.has_ttl() {
            return 0;
        }
        self.expire_at_hashed(hash_bytes(key), key, e)
    }

    /// Whether `key` (entry `e`) has a TTL that has passed at `now`.
    pub(crate) fn is_expired(&self, key: &[u8], e: &Entry, now: i64) -> bool {
        let at = self.expire_at(key, e);
        at != 0 && at <= now
    }

    /// Set (`at != 0`) or clear the TTL of the stored key `key`: the tail of the key's node,
    /// the entry's flag and the `volatile` set together. No effect on an absent key.
    pub(crate) fn set_ttl_hashed(&mut self, hash: u64, key: &[u8], at: i64) {
        // Through the node's word, which a packed node has too: no unpacking.
        let Some(word) = self.dict.word_hashed(hash, key) else { return };
        let had = word.load(Ordering::Relaxed) & TTL_FLAG != 0;
        if at != 0 {
            word.fetch_or(TTL_FLAG, Ordering::Relaxed);
        } else {
            word.fetch_and(!TTL_FLAG, Ordering::Relaxed);
        }
        if at != 0 && !had {
            self.volatile.insert_new_hashed(hash, key, ());
        } else if at == 0 && had {
            self.volatile.remove_hashed(hash, key);
        }
        self.dict.set_tail_hashed(hash, key, (at != 0).then_some(at));
    }

    /// Store a new key (absent from the table) with its expiry (0 = none): node tail, flag and
    /// `volatile` set as `set_ttl_hashed` leaves them, the node sized for the tail from the start.
    pub(crate) fn insert_new_entry(&mut self, hash: u64, key: &[u8], mut e: Entry, at: i64) {
        e.set_ttl_flag(at != 0);
        if at != 0 {
            self.volatile.insert_new_hashed(hash, key, ());
        }
        self.dict.insert_new_with_tail_hashed(hash, key, e, (at != 0).then_some(at));
    }

    /// Whether `key` is present with a TTL that has passed (`now()`, asked only then). One walk
    /// of the chain: the expiry is read from the node that holds the key.
    #[inline]
    pub(crate) fn has_expired(&self, hash: u64, key: &[u8], now: impl FnOnce() -> i64) -> bool {
        matches!(self.dict.tail_hashed(hash, key), Some(at) if at <= now())
    }

    /// Add (or take away) one value's usage.
    fn account(&mut self, u: Usage, add: bool) {
        if add {
            self.values_mem += u.mem;
        } else {
            self.values_mem -= u.mem;
        }
        for (t, v) in self.packed.iter_mut().zip(u.packed) {
            *t = if add { *t + v } else { *t - v };
        }
    }

    /// Bytes this shard holds: its tables (buckets and nodes, which hold the keys) and its values.
    pub(crate) fn footprint(&self) -> usize {
        self.dict.heap_bytes() + self.values_mem + self.volatile.heap_bytes() + self.watched.heap_bytes()
    }

    /// (values stored compressed, their raw bytes, their stored bytes) in this shard.
    pub(crate) fn compression_totals(&self) -> (u64, u64, u64) {
        (self.packed[0] as u64, self.packed[1] as u64, self.packed[2] as u64)
    }

    /// Recompute `values_mem` and the packed totals by scanning (after a bulk load that
    /// bypassed `Ctx`; tests compare it with the running totals).
    pub(crate) fn recount_values(&self) -> (usize, crate::types::PackedStats) {
        let mut packed = [0; 3];
        let mut mem = 0;
        for (_, e) in self.dict.iter_refs() {
            let u = Usage::stored(&e);
            mem += u.mem;
            for (t, v) in packed.iter_mut().zip(u.packed) {
                *t += v;
            }
        }
        (mem, packed)
    }

    /// The running totals (`values_mem`, packed totals), for tests against `recount_values`.
    #[cfg(test)]
    pub(crate) fn running_totals(&self) -> (usize, crate::types::PackedStats) {
        (self.values_mem, self.packed)
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
    /// Redis's `stream-node-max-bytes` / `stream-node-max-entries` (0 = no limit).
    pub(crate) stream_node_max_bytes: i64,
    pub(crate) stream_node_max_entries: i64,
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
            stream_node_max_bytes: o.stream_node_max_bytes as i64,
            stream_node_max_entries: o.stream_node_max_entries as i64,
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
pub(crate) struct Tuning {
    codec: std::sync::atomic::AtomicU8,
    compression_min_size: AtomicU64,
    /// `EncodingLimits` fields in declaration order.
    limits: [std::sync::atomic::AtomicI64; 10],
    /// `maxmemory` in bytes, 0 = none.
    pub(crate) maxmemory: AtomicU64,
    /// `maxmemory-policy` as its index in `evict::POLICIES`.
    policy: std::sync::atomic::AtomicU8,
    pub(crate) samples: AtomicU32,
    pub(crate) lfu_log_factor: AtomicU32,
    pub(crate) lfu_decay_time: AtomicU32,
    /// This keyspace's compression dictionary slot (`compress::new_slot`; 0 = none).
    pub(crate) dictionary_slot: u32,
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
            l.stream_node_max_bytes,
            l.stream_node_max_entries,
        ];
        for (slot, v) in self.limits.iter().zip(values) {
            slot.store(v, Ordering::Relaxed);
        }
        self.maxmemory.store(o.maxmemory, Ordering::Relaxed);
        let policy = evict::POLICIES.iter().position(|p| *p == o.maxmemory_policy).unwrap_or(0);
        self.policy.store(policy as u8, Ordering::Relaxed);
        self.samples.store(o.maxmemory_samples, Ordering::Relaxed);
        self.lfu_log_factor.store(o.lfu_log_factor, Ordering::Relaxed);
        self.lfu_decay_time.store(o.lfu_decay_time, Ordering::Relaxed);
    }

    pub(crate) fn policy(&self) -> crate::config::EvictionPolicy {
        evict::POLICIES[self.policy.load(Ordering::Relaxed) as usize % evict::POLICIES.len()]
    }

    /// `maxmemory` is set and the policy is noeviction.
    fn noeviction_capped(&self) -> bool {
        self.maxmemory.load(Ordering::Relaxed) != 0 && self.policy() == crate::config::EvictionPolicy::NoEviction
    }

    pub(crate) fn compression(&self) -> Compression {
        use crate::config::Codec;
        let codec = match self.codec.load(Ordering::Relaxed) {
            1 => Codec::Lz4,
            2 => Codec::Zlib,
            _ => return Compression::OFF,
        };
        Compression {
            codec,
            min_size: self.compression_min_size.load(Ordering::Relaxed).min(usize::MAX as u64) as usize,
            slot: self.dictionary_slot,
        }
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
            stream_node_max_bytes: v(8),
            stream_node_max_entries: v(9),
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
    pub(crate) tuning: Tuning,
    /// `used_memory`: the sum of the shards' published footprints.
    used: AtomicUsize,
    /// `used_memory_peak`.
    peak: AtomicUsize,
    /// Eviction's pool of best candidates (Redis's EvictionPoolLRU).
    pub(crate) evict_pool: crate::sync::Mutex<evict::Pool>,
    /// Open document cursors (`find`/`aggregate` batches continued by `getMore`).
    pub(crate) doc_cursors: crate::sync::Mutex<crate::docs::command::Cursors>,
    /// Collections with a TTL index (namespace keys), swept by the background thread. Kept by
    /// the snapshot load, replay and createIndexes.
    pub(crate) ttl_namespaces: crate::sync::Mutex<std::collections::BTreeSet<String>>,
    /// Lua scripts: the SCRIPT LOAD/EVAL cache and the interpreter (`command/script.rs`).
    pub(crate) scripts: crate::command::script::Scripts,
    /// Publish/subscribe registry (`crate::pubsub`), shared with the `Subscriber`s.
    pub(crate) pubsub: Arc<crate::pubsub::Hub>,
    /// Callers blocked in BLPOP and the like, woken by writes to their shards.
    pub(crate) blocking: blocking::Blocking,
    /// When the database was opened (INFO's `uptime_in_seconds`).
    pub(crate) started: std::time::Instant,
    /// Open `Db` handles (clones and sessions included): INFO's `connected_clients`.
    pub(crate) clients: AtomicUsize,
    /// `Db` handles ever opened: INFO's `total_connections_received`.
    pub(crate) connections: AtomicU64,
    /// Per-thread stripes of the command and hit/miss counters (see `Counters`).
    counters: Box<[Counters]>,
}

impl Keyspace {
    pub(crate) fn new(options: Options) -> Self {
        let tuning = Tuning { dictionary_slot: crate::types::compress::new_slot(), ..Tuning::default() };
        tuning.store(&options);
        Keyspace {
            shards: (0..SHARDS).map(|_| Padded(RwLock::new(Shard::default()))).collect(),
            tuning,
            config: RwLock::new(options),
            log: OnceLock::new(),
            persistence: OnceLock::new(),
            used: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            evict_pool: crate::sync::Mutex::new(evict::Pool::default()),
            doc_cursors: crate::sync::Mutex::default(),
            ttl_namespaces: crate::sync::Mutex::default(),
            scripts: crate::command::script::Scripts::default(),
            pubsub: Arc::default(),
            blocking: blocking::Blocking::default(),
            started: std::time::Instant::now(),
            clients: AtomicUsize::new(0),
            connections: AtomicU64::new(0),
            counters: (0..COUNTER_STRIPES).map(|_| Counters::default()).collect(),
        }
    }

    /// The calling thread's stripe of the command and hit/miss counters.
    #[inline]
    pub(crate) fn counters(&self) -> &Counters {
        &self.counters[counter_stripe()]
    }

    /// Every stripe of the counters (INFO sums them; CONFIG RESETSTAT zeroes them).
    pub(crate) fn all_counters(&self) -> &[Counters] {
        &self.counters
    }

    /// `used_memory`: bytes the keyspace holds (published footprints of every shard).
    pub(crate) fn used_memory(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// `used_memory_peak`.
    pub(crate) fn peak_memory(&self) -> usize {
        self.peak.load(Ordering::Relaxed).max(self.used_memory())
    }

    /// Record an exactly computed `used_memory` in the peak (INFO and MEMORY STATS sum the
    /// shards; what they report must never exceed the peak they report).
    pub(crate) fn note_peak(&self, used: usize) {
        self.peak.fetch_max(used, Ordering::Relaxed);
    }

    pub(crate) fn reset_peak(&self) {
        self.peak.store(self.used_memory(), Ordering::Relaxed);
    }

    /// Add `shard`'s footprint change since its last publication to `used`. Without a memory
    /// cap, small changes wait (`used` and its peak are then within `LAZY_PUBLISH` per shard of
    /// the truth, and no write touches the shared counter's cache line); with one, or when
    /// `force`, every change is published at once. INFO and MEMORY sum the shards themselves
    /// (exact) and record that sum in the peak.
    pub(crate) fn publish(&self, shard: &Shard, force: bool) {
        const LAZY_PUBLISH: usize = 64 << 10;
        let now = shard.footprint();
        let prev = shard.published.load(Ordering::Relaxed);
        if now == prev || (!force && now.abs_diff(prev) < LAZY_PUBLISH && self.tuning.maxmemory.load(Ordering::Relaxed) == 0) {
            return;
        }
        let prev = shard.published.swap(now, Ordering::Relaxed);
        let used = if now >= prev {
            self.used.fetch_add(now - prev, Ordering::Relaxed) + (now - prev)
        } else {
            self.used.fetch_sub(prev - now, Ordering::Relaxed) - (prev - now)
        };
        self.peak.fetch_max(used, Ordering::Relaxed);
    }

    /// After a bulk load into the shards (snapshot load): give every entry a fresh access
    /// record, recount every shard and publish.
    pub(crate) fn recount_all(&self) {
        for idx in 0..SHARDS {
            let mut shard = self.shards[idx].0.write();
            // A packed node's view stores its new record into the node when dropped.
            for (_, e) in shard.dict.iter_refs() {
                evict::init_access(&self.tuning, &e);
            }
            (shard.values_mem, shard.packed) = shard.recount_values();
            self.publish(&shard, true);
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

impl Drop for Keyspace {
    /// The compression dictionary slot goes back to the process-wide pool (every blob made
    /// with it is dropped with this keyspace).
    fn drop(&mut self) {
        crate::types::compress::release_slot(self.tuning.dictionary_slot);
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
        Self::for_hashes(keys.map(hash_bytes))
    }

    /// `for_keys` of keys already hashed (`hash_bytes`).
    pub(crate) fn for_hashes(hashes: impl Iterator<Item = u64>) -> LockSet {
        let mut ids: SmallVec<[usize; 4]> = hashes.map(shard_of).collect();
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

    /// Lock the shards in `set` (ascending order) and build a command context. A write context
    /// first makes room under `maxmemory` (evicting, outside any lock); if that fails, commands
    /// that may grow memory (DENYOOM) get the OOM error in it.
    pub(crate) fn lock(&self, set: &LockSet, write: bool) -> Ctx<'_> {
        let oom = write && !evict::make_room(self);
        let mut ctx = self.lock_only(set, write);
        ctx.oom = oom;
        ctx
    }

    pub(crate) fn lock_only(&self, set: &LockSet, write: bool) -> Ctx<'_> {
        let mut guards: SmallVec<[(usize, ShardGuard<'_>); 4]> = SmallVec::new();
        let mut take = |i: usize| {
            let g = if write { ShardGuard::Write(self.shards[i].0.write()) } else { ShardGuard::Read(self.shards[i].0.read()) };
            guards.push((i, g));
        };
        match set {
            LockSet::None => {}
            LockSet::One(i) => take(*i),
            LockSet::Some(ids) => ids.iter().for_each(|&i| take(i)),
            LockSet::All => (0..SHARDS).for_each(take),
        }
        let mut slot_of = [NOT_LOCKED; SHARDS];
        for (pos, (i, _)) in guards.iter().enumerate() {
            slot_of[*i] = pos as u8;
        }
        let logging = self.log.get().is_some();
        let effects = if logging { EFFECTS_BUF.with(|b| b.take()) } else { Vec::new() };
        Ctx {
            ks: self,
            guards,
            slot_of,
            now: Cell::new(0),
            dirty: 0,
            effects,
            effect_described: false,
            logging,
            replaying: false,
            tracked: SmallVec::new(),
            written: 0,
            oom: false,
            expired_seen: std::cell::RefCell::new(Vec::new()),
            block: None,
            retry_argv: None,
            in_script: false,
            allow_oom: false,
            serving_blocked: false,
        }
    }

    /// A context over every shard for replaying the log: its clock is frozen at 1 ms, so no
    /// key counts as expired (expirations are in the log as DELs), and nothing is logged.
    pub(crate) fn replay_ctx(&self) -> Ctx<'_> {
        let mut ctx = self.lock_only(&LockSet::All, true);
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

impl ShardGuard<'_> {
    /// The locked shard, read-only whichever the lock.
    fn shard(&self) -> &Shard {
        match self {
            ShardGuard::Read(g) => g,
            ShardGuard::Write(g) => g,
        }
    }
}

/// What a running command sees: its locked shards, the command's clock, and its effects.
pub(crate) struct Ctx<'a> {
    ks: &'a Keyspace,
    guards: SmallVec<[(usize, ShardGuard<'a>); 4]>,
    /// `slot_of[i]`: where shard i's guard is in `guards`, `NOT_LOCKED` if not there (one load
    /// per lookup, no search: a pipeline or MGET asks it three times per key).
    slot_of: [u8; SHARDS],
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
    /// Keys changed by the running command with their `mem_usage` before the change.
    tracked: SmallVec<[(u64, crate::types::SmallBytes, usize, crate::types::PackedStats); 2]>,
    /// Bit i set: shard i was locked for writing and possibly changed.
    written: u64,
    /// `maxmemory` could not be honoured when this context was created: DENYOOM commands fail.
    pub(crate) oom: bool,
    /// Expired keys a lookup met and could not delete (read lock), at most
    /// `EXPIRED_SEEN_MAX`: whoever drops the context hands them to `expire::reclaim`
    /// (`take_expired_seen`). Stays empty, and costs nothing, while no lookup meets one.
    expired_seen: std::cell::RefCell<Vec<Box<[u8]>>>,
    /// Set by a blocking command (BLPOP...) that found nothing to pop: how long it may wait,
    /// in ms (0: forever). Only `command::dispatch` acts on it; inside MULTI, scripts and
    /// pipelines the command has already replied nil, as Redis does there.
    pub(crate) block: Option<u64>,
    /// The blocking command runs again after a wait: keys of another type than the one it
    /// waits for are passed over instead of failing with WRONGTYPE (Redis serves a blocked
    /// client only from a key of its type, and a key changed to another type leaves it blocked).
    pub(crate) serving_blocked: bool,
    /// A blocking command that found nothing may set the argv its next attempts run with
    /// (XREAD resolves `$` once: later attempts must look past the ID it had then).
    pub(crate) retry_argv: Option<Vec<Vec<u8>>>,
    /// A Lua script is running the command (`redis.call`): SORT then sorts a set it would
    /// return unsorted, so the script's result does not depend on the set's layout.
    pub(crate) in_script: bool,
    /// A function flagged `allow-oom` is running: DENYOOM commands run over maxmemory too.
    pub(crate) allow_oom: bool,
}

/// Keys whose memory `Ctx::lookup_counted_batch` requests together (about what a core keeps in
/// flight: more would wait for a free line-fill buffer anyway).
const BATCH_WINDOW: usize = 16;

/// `Ctx::slot_of` of a shard the context did not lock.
const NOT_LOCKED: u8 = u8::MAX;
const _: () = assert!(SHARDS < NOT_LOCKED as usize, "guard positions fit a u8");

/// The most expired keys one context remembers for `expire::reclaim` (a read that meets more
/// leaves the rest to the active expirer).
const EXPIRED_SEEN_MAX: usize = 64;

impl Drop for Ctx<'_> {
    /// Effects not handed to the log by `finish` (a panic, an early return) are appended here,
    /// while the locks are still held: memory never holds a change the log does not.
    fn drop(&mut self) {
        if !self.effects.is_empty() {
            self.finish();
        }
        if self.dirty != 0 {
            // Still holding the locks (see `blocking`).
            self.ks.blocking.written(self.write_mask());
        }
        self.settle();
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

/// Loads the first keys of a pipeline's commands ahead of their lookups (each command looks its
/// keys up itself, so the loading is interleaved with them; MGET, whose lookups are all in one
/// place, uses `Ctx::lookup_counted_batch` instead): while key i is looked up, the bucket slot of key i + 2 * `AHEAD` and the first chain node of
/// key i + `AHEAD` are being fetched, so the lookups' cache misses overlap instead of coming
/// one after another (Redis 8 prefetches a pipeline's keys the same way). At 1M keys this
/// doubles the GET rate of pipelines of 16. Only hints: keys in shards the context has not
/// locked, and keys that are absent, are skipped; nothing is read that is not locked.
pub(crate) struct Prefetcher {
    hashes: Vec<Option<u64>>,
}

impl Prefetcher {
    const AHEAD: usize = 8;

    /// A prefetcher over `keys` (None: no key at that position), with the first ones started.
    pub(crate) fn new<'k>(ctx: &Ctx<'_>, keys: impl Iterator<Item = Option<&'k [u8]>>) -> Prefetcher {
        let p = Prefetcher { hashes: keys.map(|k| k.map(hash_bytes)).collect() };
        (0..2 * Self::AHEAD).for_each(|i| p.start(ctx, i, false));
        (0..Self::AHEAD).for_each(|i| p.start(ctx, i, true));
        p
    }

    /// Key `i` is about to be looked up: start the ones further ahead.
    #[inline]
    pub(crate) fn advance(&self, ctx: &Ctx<'_>, i: usize) {
        self.start(ctx, i + 2 * Self::AHEAD, false);
        self.start(ctx, i + Self::AHEAD, true);
    }

    #[inline]
    fn start(&self, ctx: &Ctx<'_>, i: usize, chain: bool) {
        if let Some(&Some(h)) = self.hashes.get(i) {
            ctx.prefetch_key(h, chain);
        }
    }
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

    /// Account the memory changes of the commands run so far: settle every tracked key's
    /// usage and publish the footprint of every shard written.
    pub(crate) fn settle(&mut self) {
        let mut tracked = std::mem::take(&mut self.tracked);
        if tracked.len() > 1 {
            // A key tracked twice: its first record holds the usage before the command.
            tracked.sort_by(|a, b| (a.0, &*a.1).cmp(&(b.0, &*b.1)));
            tracked.dedup_by(|later, first| later.0 == first.0 && later.1 == first.1);
        }
        for (h, key, old, old_packed) in tracked {
            // A small hash the command unpacked goes back into its node.
            self.shard_mut(h).dict.repack_hashed(h, &key);
            let Usage { mem: new, packed: new_packed } =
                self.shard(h).dict.get_ref_hashed(h, &key).map_or_else(Usage::default, |e| Usage::stored(&e));
            let shard = self.shard_mut(h);
            shard.values_mem = shard.values_mem + new - old;
            for ((t, new), old) in shard.packed.iter_mut().zip(new_packed).zip(old_packed) {
                *t = *t + new - old;
            }
        }
        let mut written = std::mem::take(&mut self.written);
        while written != 0 {
            let idx = written.trailing_zeros() as usize;
            written &= written - 1;
            let ks = self.ks;
            ks.publish(self.shard_by_index(idx), false);
        }
    }

    fn is_tracked(&self, h: u64, key: &[u8]) -> bool {
        !self.tracked.is_empty() && self.tracked.iter().any(|(th, k, ..)| *th == h && **k == *key)
    }

    /// Record `key`'s current value usage before the running command changes it. A key may be
    /// recorded more than once; `settle` keeps the first record (sorting is stable).
    fn track(&mut self, h: u64, key: &[u8]) {
        if matches!(self.tracked.last(), Some((th, k, ..)) if *th == h && **k == *key) {
            return;
        }
        let Usage { mem: old, packed } = self.shard(h).dict.get_ref_hashed(h, key).map_or_else(Usage::default, |e| Usage::stored(&e));
        self.tracked.push((h, crate::types::SmallBytes::new(key), old, packed));
    }

    /// The running DENYOOM command must fail with OOM: `maxmemory` could not be honoured when
    /// the context began, or (noeviction) the commands before it in this context crossed it.
    pub(crate) fn out_of_memory(&mut self) -> bool {
        if self.oom {
            return true;
        }
        if !self.ks.tuning.noeviction_capped() {
            return false;
        }
        self.settle();
        evict::over_limit(self.ks)
    }

    /// Update `e`'s access record (a read or write of it by a command).
    fn touch_entry(&self, e: &EntryRef<'_>) {
        evict::touch(&self.ks.tuning, e);
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
            if shard.has_expired(h, key, || self.now()) {
                self.shard_mut(h).delete_expired(h, key);
                crate::util::resp::encode_command(&mut self.effects, &[b"DEL".as_slice(), key]);
            }
        }
    }

    /// `key`'s entry in `shard` if it is live (no TTL, or one not yet reached), with its
    /// expiry (0 = none), read from the node's tail in the same pass. A lookup that meets an
    /// expired entry remembers the key (`expired_seen`) for deletion once the locks are released.
    #[inline]
    fn find_live<'s>(&self, shard: &'s Shard, h: u64, key: &[u8]) -> Option<(EntryRef<'s>, i64)> {
        let (e, tail) = shard.dict.get_ref_with_tail_hashed(h, key)?;
        let at = tail.unwrap_or(0);
        if at != 0 && at <= self.now() {
            self.saw_expired(key);
            return None;
        }
        Some((e, at))
    }

    #[cold]
    #[inline(never)]
    fn saw_expired(&self, key: &[u8]) {
        // Nothing expires during replay (its clock is frozen), and a write context deletes
        // what it meets itself (`purge_expired`, `lookup_mut`); duplicates are harmless
        // (`reclaim` re-checks each key).
        let mut seen = self.expired_seen.borrow_mut();
        if seen.len() < EXPIRED_SEEN_MAX {
            seen.push(key.into());
        }
    }

    /// Release the locks, then delete the expired keys this context's lookups met
    /// (`expire::reclaim`). Use it instead of `drop` where the caller holds no other context.
    #[inline]
    pub(crate) fn release(mut self) {
        let seen = std::mem::take(self.expired_seen.get_mut());
        let ks = self.ks;
        drop(self);
        if !seen.is_empty() {
            expire::reclaim(ks, &seen);
        }
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

    /// The shards this context holds for writing, as a bit set.
    fn write_mask(&self) -> u64 {
        self.guards.iter().filter(|(_, g)| matches!(g, ShardGuard::Write(_))).fold(0, |m, (i, _)| m | 1 << i)
    }

    /// A blocking command found nothing: the caller may wait `timeout_ms` (0: forever) for
    /// data and run it again (see `block`).
    pub(crate) fn block_for(&mut self, timeout_ms: u64) {
        self.block = Some(timeout_ms);
    }

    /// Whether this context replays the log (its clock is frozen; see `replay_ctx`).
    pub(crate) fn is_replaying(&self) -> bool {
        self.replaying
    }

    /// Whether this context holds any shard lock.
    pub(crate) fn holds_locks(&self) -> bool {
        !self.guards.is_empty()
    }

    /// Count one command (INFO's `total_commands_processed`) in this thread's counters.
    #[inline]
    pub(crate) fn count_command(&self) {
        self.ks.counters().commands.fetch_add(1, Ordering::Relaxed);
    }

    /// The keyspace this context belongs to (for server-wide state such as config).
    pub(crate) fn keyspace(&self) -> &'a Keyspace {
        self.ks
    }

    /// Where shard `idx`'s guard is in `guards`, if this context locked it.
    #[inline]
    fn guard_index(&self, idx: usize) -> Option<usize> {
        match self.slot_of.get(idx) {
            Some(&pos) if pos != NOT_LOCKED => Some(pos as usize),
            _ => None,
        }
    }

    fn guard_pos(&self, idx: usize) -> usize {
        self.guard_index(idx).expect("command touched a key whose shard it did not lock (command table key spec is wrong)")
    }

    /// Start loading the bucket slot (`chain` false) or the first chain node (`chain` true) of
    /// `hash` in the keyspace, if this context holds its shard's lock (a hint; see `Prefetcher`).
    #[inline]
    fn prefetch_key(&self, hash: u64, chain: bool) {
        if let Some(shard) = self.locked_shard(hash) {
            if chain {
                shard.dict.prefetch_chain(hash);
            } else {
                shard.dict.prefetch_bucket(hash);
            }
        }
    }

    /// The shard of `hash` if this context holds its lock (None otherwise: never panics).
    fn locked_shard(&self, hash: u64) -> Option<&Shard> {
        let pos = self.guard_index(shard_of(hash))?;
        self.guards.get(pos).map(|(_, g)| g.shard())
    }

    pub(crate) fn shard(&self, hash: u64) -> &Shard {
        self.guards[self.guard_pos(shard_of(hash))].1.shard()
    }

    pub(crate) fn shard_mut(&mut self, hash: u64) -> &mut Shard {
        self.written |= 1 << shard_of(hash);
        let pos = self.guard_pos(shard_of(hash));
        match &mut self.guards[pos].1 {
            ShardGuard::Write(g) => g,
            ShardGuard::Read(_) => panic!("write access under a read lock (command flagged read-only)"),
        }
    }

    pub(crate) fn shards(&self) -> impl Iterator<Item = &Shard> + '_ {
        self.guards.iter().map(|(_, g)| g.shard())
    }

    pub(crate) fn shard_by_index(&self, idx: usize) -> &Shard {
        self.guards[self.guard_pos(idx)].1.shard()
    }

    pub(crate) fn shard_by_index_mut(&mut self, idx: usize) -> &mut Shard {
        self.written |= 1 << idx;
        let pos = self.guard_pos(idx);
        match &mut self.guards[pos].1 {
            ShardGuard::Write(g) => g,
            ShardGuard::Read(_) => panic!("write access under a read lock"),
        }
    }

    /// The live entry for `key` (None if absent or expired).
    pub(crate) fn lookup(&self, key: &[u8]) -> Option<EntryRef<'_>> {
        let h = hash_bytes(key);
        self.find_live(self.shard(h), h, key).map(|(e, _)| e)
    }

    /// The live entry for `key` and its absolute expiry in Unix ms (0 = no TTL).
    pub(crate) fn lookup_with_ttl(&self, key: &[u8]) -> Option<(EntryRef<'_>, i64)> {
        let h = hash_bytes(key);
        self.find_live(self.shard(h), h, key)
    }

    /// Like `lookup`, counting a keyspace hit or miss (reads that Redis counts).
    pub(crate) fn lookup_counted(&self, key: &[u8]) -> Option<EntryRef<'_>> {
        self.lookup_counted_hashed(hash_bytes(key), key)
    }

    /// `lookup_counted` of many keys whose hashes are `hashes` (`hash_bytes` of each; their
    /// shards locked by this context): `f(i, entry)` for each in order. The keys' memory is
    /// requested ahead in windows of `BATCH_WINDOW` keys: a window's first chain nodes (its
    /// bucket slots were requested one window earlier), then the next window's bucket slots,
    /// then the window's lookups. A window costs about one memory latency, not two per key.
    pub(crate) fn lookup_counted_batch<K: AsRef<[u8]>>(&self, keys: &[K], hashes: &[u64], mut f: impl FnMut(usize, Option<EntryRef<'_>>)) {
        debug_assert_eq!(keys.len(), hashes.len());
        let window = |from: usize| from..(from + BATCH_WINDOW).min(hashes.len());
        window(0).for_each(|j| self.prefetch_key(hashes[j], false));
        for w in (0..hashes.len()).step_by(BATCH_WINDOW) {
            window(w).for_each(|j| self.prefetch_key(hashes[j], true));
            window(w + BATCH_WINDOW).for_each(|j| self.prefetch_key(hashes[j], false));
            for j in window(w) {
                f(j, self.lookup_counted_hashed(hashes[j], keys[j].as_ref()));
            }
        }
    }

    #[inline]
    fn lookup_counted_hashed(&self, h: u64, key: &[u8]) -> Option<EntryRef<'_>> {
        let shard = self.shard(h);
        let found = self.find_live(shard, h, key).map(|(e, _)| e);
        let counters = self.ks.counters();
        let counter = if found.is_some() { &counters.hits } else { &counters.misses };
        counter.fetch_add(1, Ordering::Relaxed);
        if let Some(e) = &found {
            self.touch_entry(e);
        }
        found
    }

    /// The live entry for `key`, mutable; an expired entry is deleted first.
    pub(crate) fn lookup_mut(&mut self, key: &[u8]) -> Option<&mut Entry> {
        let h = hash_bytes(key);
        let shard = self.shard(h);
        let expired = shard.has_expired(h, key, || self.now());
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
        if !shard.dict.contains_key_hashed(h, key) {
            return None;
        }
        self.track(h, key);
        let tuning = &self.ks.tuning;
        let e = self.shard_mut(h).dict.get_mut_hashed(h, key)?;
        evict::touch(tuning, e);
        Some(e)
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
        // Accounted here, from the entries themselves (no extra lookup), unless the running
        // command already tracks the key (then `settle` accounts its final state).
        let tracked = self.is_tracked(h, key);
        let entry = Entry::new(value);
        let new_usage = if tracked { Usage::default() } else { Usage::inserted(&entry) };
        evict::init_access(&self.ks.tuning, &entry);
        let shard = self.shard_mut(h);
        shard.before_write(h);
        let old_usage = match shard.dict.replace_hashed(h, key, entry) {
            Ok((old, packed)) => {
                // The old TTL flag stays until `set_ttl_hashed` settles all three sides.
                if old.has_ttl() {
                    shard.dict.word_hashed(h, key).expect("just stored").fetch_or(TTL_FLAG, Ordering::Relaxed);
                }
                shard.set_ttl_hashed(h, key, expire_at);
                Some(Usage::stored_as(&old, packed))
            }
            Err(entry) => {
                shard.before_insert();
                shard.insert_new_entry(h, key, entry, expire_at);
                None
            }
        };
        if !tracked {
            shard.account(new_usage, true);
            if let Some(u) = old_usage {
                shard.account(u, false);
            }
        }
        self.modified_hashed(h, key);
    }

    /// Delete `key`; returns the live entry that was removed and its absolute expiry (0 = no
    /// TTL), or None if absent or expired.
    pub(crate) fn remove(&mut self, key: &[u8]) -> Option<(Entry, i64)> {
        let h = hash_bytes(key);
        let tracked = self.is_tracked(h, key);
        let shard = self.shard_mut(h);
        shard.before_write(h);
        let (entry, expire_at, usage) = shard.take_entry(h, key)?;
        if !tracked {
            shard.account(usage, false);
        }
        if expire_at != 0 && expire_at <= self.now() {
            self.shard_mut(h).stats.expired.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        self.modified_hashed(h, key);
        Some((entry, expire_at))
    }

    /// Set or clear (`at == 0`) the TTL of a live key. Returns false if the key is absent.
    pub(crate) fn set_expire(&mut self, key: &[u8], at: i64) -> bool {
        if self.lookup_mut(key).is_none() {
            return false;
        }
        let h = hash_bytes(key);
        self.shard_mut(h).set_ttl_hashed(h, key, at);
        self.modified(key);
        true
    }

    /// The string at `key`: Ok(None) if absent, Err(WRONGTYPE) for another type.
    pub(crate) fn get_str(&self, key: &[u8]) -> Result<Option<&ValueBytes>, Reply> {
        match self.lookup_counted(key) {
            None => Ok(None),
            // A string is never packed, so it is in its node.
            Some(e) => match e.as_node() {
                Some(Entry { value: Value::Str(s), .. }) => Ok(Some(s)),
                _ => Err(Reply::err(WRONGTYPE)),
            },
        }
    }

    /// The container of type `T` at `key` (read-only).
    pub(crate) fn read<T: Container>(&self, key: &[u8]) -> Result<Option<Read<'_, T>>, Reply> {
        match self.lookup_counted(key) {
            None => Ok(None),
            Some(e) if T::of(&e.value).is_some() => Ok(Some(Read { entry: e, of: std::marker::PhantomData })),
            Some(_) => Err(Reply::err(WRONGTYPE)),
        }
    }

    /// `read` of a type that is never packed, by reference into its node.
    pub(crate) fn read_plain<T: Container>(&self, key: &[u8]) -> Result<Option<&T>, Reply> {
        const { assert!(!T::MAY_BE_PACKED, "a packed value has no node to refer to") };
        match self.lookup_counted(key) {
            None => Ok(None),
            Some(e) => e.as_node().and_then(|e| T::of(&e.value)).map(Some).ok_or_else(|| Reply::err(WRONGTYPE)),
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
                    self.shard_mut(h).take_entry(h, key);
                }
                Ok(Some(r))
            }
            None if create => {
                let mut c = T::default();
                let r = f(&mut c);
                if !c.is_empty_container() {
                    let tracked = self.is_tracked(h, key);
                    let shard = self.shard_mut(h);
                    shard.before_write(h);
                    shard.before_insert();
                    let entry = Entry::new(c.wrap());
                    if !tracked {
                        shard.account(Usage::inserted(&entry), true);
                    }
                    evict::init_access(&self.ks.tuning, &entry);
                    let shard = self.shard_mut(h);
                    shard.dict.insert_new_hashed(h, key, entry);
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
        self.settle();
        // The state before the flush counts for `used_memory_peak`.
        for (_, g) in &self.guards {
            if let ShardGuard::Write(shard) = g {
                self.ks.publish(shard, true);
            }
        }
        let now = self.now();
        for i in 0..self.guards.len() {
            let idx = self.guards[i].0;
            let shard = self.shard_by_index_mut(idx);
            let live: Vec<Box<[u8]>> = if shard.watched.is_empty() {
                Vec::new()
            } else {
                shard
                    .watched
                    .keys()
                    .filter(|k| shard.dict.get_ref_hashed(hash_bytes(k), k).is_some_and(|e| !shard.is_expired(k, &e, now)))
                    .map(Box::from)
                    .collect()
            };
            for k in &live {
                shard.bump_watch(k);
            }
            if let Some(snap) = &mut shard.snap {
                snap.save_all(&shard.dict);
            }
            shard.dict.clear();
            shard.volatile.clear();
            shard.values_mem = 0;
            shard.packed = [0; 3];
        }
        self.dirty += 1;
    }
}

#[cfg(test)]
mod memory_tests;
