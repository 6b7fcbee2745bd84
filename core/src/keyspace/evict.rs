//! maxmemory: access tracking (LRU clock, LFU counter) and eviction.
//!
//! Redis's design, adapted to a sharded keyspace:
//! - Every entry carries a 64-bit access record (`Entry::access`, in what was padding): under
//!   LRU policies a stamp of its last access, coarse milliseconds refined by a per-thread
//!   sequence (`lru_stamp`; Redis keeps seconds, and at a million operations a second a whole
//!   cache turns over within one of those, so sampled LRU degrades to random), under LFU
//!   policies `minutes | counter:8`, the logarithmic counter with decay of Redis's
//!   `LFULogIncr`/`LFUDecrAndReturn` (`lfu-log-factor`, `lfu-decay-time`).
//! - Eviction samples `maxmemory-samples` keys from each of a few random shards into a pool
//!   of the best 16 candidates kept across rounds (Redis's eviction pool), then deletes the
//!   best candidate that still exists. Random policies pick a random key; volatile-* policies
//!   sample only keys with a TTL (`Shard::volatile`) and never touch the others.
//! - `make_room` runs before a write context locks anything and after it released its locks:
//!   it locks one shard at a time, so it never holds a lock a command is waiting for in the
//!   wrong order. An eviction is a DEL: logged, counted in `evicted_keys`, WATCH-visible.
//! - It returns false when it cannot get under the limit (noeviction, or nothing evictable);
//!   the caller then refuses DENYOOM commands with Redis's OOM error before they change
//!   anything.

use std::sync::atomic::{AtomicU64, Ordering};

use rand::{Rng, SeedableRng};

use super::dict::hash_bytes;
use super::{Entry, Keyspace, LockSet, Tuning, SHARDS};
use crate::config::EvictionPolicy;

/// `maxmemory-policy` values by index (the order `Tuning` stores them in).
pub(crate) const POLICIES: [EvictionPolicy; 8] = [
    EvictionPolicy::NoEviction,
    EvictionPolicy::AllKeysLru,
    EvictionPolicy::VolatileLru,
    EvictionPolicy::AllKeysLfu,
    EvictionPolicy::VolatileLfu,
    EvictionPolicy::AllKeysRandom,
    EvictionPolicy::VolatileRandom,
    EvictionPolicy::VolatileTtl,
];

/// Redis's `LFU_INIT_VAL`: a new key's counter, so it is not the first to go.
const LFU_INIT: u32 = 5;
/// Candidates kept between rounds (Redis's `EVPOOL_SIZE`).
const POOL_SIZE: usize = 16;
/// Shards sampled per round.
const SHARDS_PER_ROUND: usize = 4;
/// Rounds without evicting anything after which `make_room` gives up (each round samples
/// non-empty shards only, so this is only reached when keys vanish under it or nothing is
/// evictable).
const MAX_IDLE_ROUNDS: usize = 2 * SHARDS;

pub(crate) const OOM: &str = "OOM command not allowed when used memory > 'maxmemory'.";

/// Low bits of an LRU stamp that order accesses within one coarse clock tick (2^19 per tick
/// of 10 ms is more than a thread can make). With 19, stamps stay below 2^62 (the flag bits
/// of `Entry::access` are above) until the year 2248.
const SEQ_BITS: u32 = 19;

/// Unix milliseconds, refreshed every 10 ms by the background thread (`tick_lru_clock`), as
/// Redis's `server.lruclock` is by its cron: reading a clock on every access (even the
/// kernel's coarse one, through the vDSO) stops a GET's cache misses from overlapping with the
/// next GET's and costs a third of random-read throughput.
static LRU_CLOCK_MS: AtomicU64 = AtomicU64::new(0);

/// Advance the cached LRU clock (the background thread calls this every 10 ms).
pub(crate) fn tick_lru_clock() {
    LRU_CLOCK_MS.store(coarse_ms(), Ordering::Relaxed);
}

/// The LRU clock: `ms << SEQ_BITS | seq`, `ms` from the cached clock above; `seq` numbers
/// this thread's accesses within one tick, so one thread's accesses stay exactly ordered.
/// (Accesses by different threads in the same tick are ordered arbitrarily, which sampled
/// eviction barely notices.)
pub(crate) fn lru_stamp() -> u64 {
    thread_local! {
        static LAST: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    }
    let mut ms = LRU_CLOCK_MS.load(Ordering::Relaxed);
    if ms == 0 {
        tick_lru_clock();
        ms = LRU_CLOCK_MS.load(Ordering::Relaxed);
    }
    let ms = ms << SEQ_BITS;
    LAST.with(|last| {
        let prev = last.get();
        let next = if prev >= ms { prev + 1 } else { ms };
        last.set(next);
        next
    })
}

/// Unix milliseconds from the coarse real-time clock (the tick is 1-4 ms).
fn coarse_ms() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid timespec for the call to fill.
    if unsafe { libc::clock_gettime(libc::CLOCK_REALTIME_COARSE, &mut ts) } != 0 {
        return super::now_ms() as u64;
    }
    ts.tv_sec as u64 * 1000 + ts.tv_nsec as u64 / 1_000_000
}

/// Milliseconds between two LRU stamps.
fn stamp_ms(delta: u64) -> u64 {
    delta >> SEQ_BITS
}

fn lfu_minutes(now_stamp: u64) -> u64 {
    stamp_ms(now_stamp) / 60_000
}

/// The LFU counter of `access` after decay (Redis's `LFUDecrAndReturn`).
pub(crate) fn lfu_counter(access: u64, decay_minutes: u32, lru_stamp: u64) -> u32 {
    let (ldt, counter) = (access >> 8, (access & 0xff) as u32);
    let elapsed = lfu_minutes(lru_stamp).saturating_sub(ldt);
    let periods = elapsed.checked_div(u64::from(decay_minutes)).unwrap_or(0);
    counter.saturating_sub(periods.min(255) as u32)
}

/// Redis's `LFULogIncr`: increment with probability 1 / ((counter - 5) * factor + 1).
fn lfu_log_incr(counter: u32, factor: u32, rng: &mut impl Rng) -> u32 {
    if counter >= 255 {
        return 255;
    }
    let base = counter.saturating_sub(LFU_INIT) as f64;
    let p = 1.0 / (base * f64::from(factor) + 1.0);
    if rng.random::<f64>() < p {
        counter + 1
    } else {
        counter
    }
}

thread_local! {
    static RNG: std::cell::RefCell<rand::rngs::SmallRng> = std::cell::RefCell::new(rand::rngs::SmallRng::from_os_rng());
}

/// A just-stored entry's access record: now (LRU) or the initial counter (LFU).
pub(crate) fn init_access(t: &Tuning, e: &Entry) {
    let now = lru_stamp();
    let v = if t.policy().is_lfu() { (lfu_minutes(now) << 8) | u64::from(LFU_INIT) } else { now };
    e.store_access_record(v);
}

/// Record an access to `e` (Redis's `updateLFU` / LRU clock update).
pub(crate) fn touch(t: &Tuning, e: &Entry) {
    let cur = e.access_record();
    let now = lru_stamp();
    let next = if t.policy().is_lfu() {
        let counter = lfu_counter(cur, t.lfu_decay_time.load(Ordering::Relaxed), now);
        let counter = RNG.with(|r| lfu_log_incr(counter, t.lfu_log_factor.load(Ordering::Relaxed), &mut *r.borrow_mut()));
        (lfu_minutes(now) << 8) | u64::from(counter)
    } else {
        now
    };
    // Every access is recorded: within one clock tick only the per-thread sequence orders
    // accesses, so skipping stores (once per tick) would make a key read a moment ago look as
    // old as its first read in the tick. (Cost: a hot key read by many threads bounces between
    // their caches; LFU stores only when the counter or the minute changes.)
    if next != cur {
        e.store_access_record(next);
    }
}

/// OBJECT IDLETIME: seconds since the last access under an LRU record.
pub(crate) fn idle_seconds(e: &Entry) -> u64 {
    stamp_ms(lru_stamp().saturating_sub(e.access_record())) / 1000
}

/// Eviction score: higher = evict sooner. `expire_at` is the key's expiry (read only by
/// volatile-ttl, whose candidates all have one).
fn score(policy: EvictionPolicy, t: &Tuning, e: &Entry, expire_at: i64, lru_stamp: u64) -> u64 {
    match policy {
        EvictionPolicy::VolatileTtl => u64::MAX - expire_at as u64,
        p if p.is_lfu() => 255 - u64::from(lfu_counter(e.access_record(), t.lfu_decay_time.load(Ordering::Relaxed), lru_stamp)),
        _ => lru_stamp.saturating_sub(e.access_record()),
    }
}

/// The eviction pool: best candidates, ascending by score (the best is last).
#[derive(Default)]
pub(crate) struct Pool {
    candidates: Vec<(u64, Box<[u8]>)>,
}

impl Pool {
    fn offer(&mut self, score: u64, key: &[u8]) {
        if let Some(pos) = self.candidates.iter().position(|(_, k)| **k == *key) {
            self.candidates.remove(pos);
        }
        if self.candidates.len() == POOL_SIZE {
            if score <= self.candidates[0].0 {
                return;
            }
            self.candidates.remove(0);
        }
        let at = self.candidates.partition_point(|(s, _)| *s < score);
        self.candidates.insert(at, (score, key.into()));
    }
}

/// Whether `used_memory` is over a set `maxmemory`.
pub(crate) fn over_limit(ks: &Keyspace) -> bool {
    let max = ks.tuning.maxmemory.load(Ordering::Relaxed);
    max != 0 && ks.used_memory() as u64 > max
}

/// Evict until `used_memory <= maxmemory`. Returns false if that cannot be reached.
pub(crate) fn make_room(ks: &Keyspace) -> bool {
    if !over_limit(ks) {
        return true;
    }
    let policy = ks.tuning.policy();
    if policy == EvictionPolicy::NoEviction {
        return false;
    }
    let mut rng = rand::rngs::SmallRng::from_rng(&mut rand::rng());
    let mut idle_rounds = 0;
    while over_limit(ks) {
        let evicted = match policy {
            EvictionPolicy::AllKeysRandom | EvictionPolicy::VolatileRandom => evict_random(ks, policy, &mut rng),
            _ => evict_from_pool(ks, policy, &mut rng),
        };
        if evicted {
            idle_rounds = 0;
        } else {
            idle_rounds += 1;
            if idle_rounds > MAX_IDLE_ROUNDS {
                return false;
            }
        }
    }
    true
}

/// Up to `n` shards, from a random one on, whose eviction source (all keys, or keys with a
/// TTL) is not empty: sampling never wastes rounds on empty shards, so a last evictable key
/// is found however few there are.
fn pick_shards(ks: &Keyspace, policy: EvictionPolicy, rng: &mut impl Rng, n: usize) -> Vec<usize> {
    let start = rng.random_range(0..SHARDS);
    let mut out = Vec::with_capacity(n);
    for i in 0..SHARDS {
        let idx = (start + i) % SHARDS;
        let shard = ks.shard(idx).read();
        let empty = if policy.volatile_only() { shard.volatile.is_empty() } else { shard.dict.is_empty() };
        if !empty {
            out.push(idx);
            if out.len() == n {
                break;
            }
        }
    }
    out
}

fn evict_random(ks: &Keyspace, policy: EvictionPolicy, rng: &mut impl Rng) -> bool {
    let Some(&idx) = pick_shards(ks, policy, rng, 1).first() else { return false };
    let key: Option<Box<[u8]>> = {
        let shard = ks.shard(idx).read();
        let source = if policy.volatile_only() {
            shard.volatile.random_entry(rng).map(|(k, _)| k)
        } else {
            shard.dict.random_ref(rng).map(|(k, _)| k)
        };
        source.map(Box::from)
    };
    match key {
        Some(k) => delete(ks, idx, &k, policy, None),
        None => false,
    }
}

fn evict_from_pool(ks: &Keyspace, policy: EvictionPolicy, rng: &mut impl Rng) -> bool {
    let t = &ks.tuning;
    let samples = t.samples.load(Ordering::Relaxed).max(1) as usize;
    let now = lru_stamp();
    let shards = pick_shards(ks, policy, rng, SHARDS_PER_ROUND);
    if shards.is_empty() {
        return false;
    }
    let mut pool = ks.evict_pool.lock();
    for idx in shards {
        let shard = ks.shard(idx).read();
        // Collections are never evicted (documents are data, not cache).
        let mut offer = |k: &[u8], e: &Entry, expire_at: i64| {
            if !e.value.is_collection() {
                pool.offer(score(policy, t, e, expire_at, now), k)
            }
        };
        if policy.volatile_only() {
            shard.volatile.sample(rng, samples, |k, ()| {
                if let Some((e, at)) = shard.dict.get_ref_with_tail_hashed(hash_bytes(k), k) {
                    offer(k, &e, at.unwrap_or(0));
                }
            });
        } else {
            shard.dict.sample_refs(rng, samples, |k, e| offer(k, &e, 0));
        }
    }
    // Best first. A candidate deleted meanwhile, no longer eligible, or accessed since it was
    // scored (its score dropped: it is not the candidate it was) is skipped.
    while let Some((score, key)) = pool.candidates.pop() {
        let idx = super::shard_of(hash_bytes(&key));
        if delete(ks, idx, &key, policy, Some(score)) {
            return true;
        }
    }
    false
}

/// Delete `key` from shard `idx` as an eviction (logged as DEL, counted). False if it is gone,
/// (volatile policies) no longer has a TTL, or its score is now below `min_score`.
fn delete(ks: &Keyspace, idx: usize, key: &[u8], policy: EvictionPolicy, min_score: Option<u64>) -> bool {
    let mut ctx = ks.lock_only(&LockSet::One(idx), true);
    let now = lru_stamp();
    // The raw entry, expired or not: an expired key not yet reclaimed holds memory too.
    let h = hash_bytes(key);
    let shard = ctx.shard(h);
    let eligible = shard.dict.get_ref_hashed(h, key).is_some_and(|e| {
        !e.value.is_collection()
            && (!policy.volatile_only() || e.has_ttl())
            && min_score.is_none_or(|min| score(policy, &ks.tuning, &e, shard.expire_at_hashed(h, key, &e), now) >= min)
    });
    if !eligible {
        return false;
    }
    // An expired entry is reclaimed as expired (`remove` counts it); a live one is evicted.
    if ctx.remove(key).is_some() {
        ctx.shard_by_index(idx).stats.evicted.fetch_add(1, Ordering::Relaxed);
    }
    if ctx.logging {
        crate::util::resp::encode_command(&mut ctx.effects, &[b"DEL".as_slice(), key]);
    }
    ctx.finish();
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lfu_counter_grows_logarithmically_and_decays() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
        let mut c = LFU_INIT;
        for _ in 0..1000 {
            c = lfu_log_incr(c, 10, &mut rng);
        }
        // Redis's table for factor 10: ~1K hits -> counter around 18.
        assert!((10..=30).contains(&c), "{c}");
        let mut fast = LFU_INIT;
        for _ in 0..1000 {
            fast = lfu_log_incr(fast, 0, &mut rng);
        }
        assert_eq!(fast, 255);
        let minute = 60_000u64 << SEQ_BITS;
        let t0 = 1_000 * minute;
        let access = (lfu_minutes(t0) << 8) | 20;
        assert_eq!(lfu_counter(access, 1, t0), 20);
        assert_eq!(lfu_counter(access, 1, t0 + 5 * minute), 15);
        assert_eq!(lfu_counter(access, 2, t0 + 5 * minute), 18);
        assert_eq!(lfu_counter(access, 0, t0 + 500 * minute), 20, "decay time 0 never decays");
        assert_eq!(lfu_counter(access, 1, t0 + 500 * minute), 0);
    }

    #[test]
    fn pool_keeps_the_best_candidates() {
        let mut pool = Pool::default();
        for i in 0..100u64 {
            pool.offer(i * 7 % 101, format!("k{i}").as_bytes());
        }
        assert_eq!(pool.candidates.len(), POOL_SIZE);
        assert!(pool.candidates.windows(2).all(|w| w[0].0 <= w[1].0));
        let best = pool.candidates.last().unwrap().0;
        assert_eq!(best, (0..100u64).map(|i| i * 7 % 101).max().unwrap());
        pool.offer(best, b"k_same");
        pool.offer(best + 1, b"k_same");
        assert_eq!(pool.candidates.iter().filter(|(_, k)| &**k == b"k_same").count(), 1);
    }
}
