//! Suite `floor`: what the machine allows a per-call GET on the `kv` workload, measured beside
//! the engines so issue 2's targets can be read against it.
//!
//! - `floor.chase`: nanoseconds per dependent random load (a pointer chase through one random
//!   cycle over 256 MiB of 64-byte slots: every load misses every cache and waits for the one
//!   before). A per-call GET of a random key pays at least one such load: nothing tells the
//!   caller's CPU which key comes next, so the miss cannot be started early.
//! - `floor.map.inline`: GET rate of `std::collections::HashMap<[u8; 16], [u8; 32]>` (SwissTable,
//!   key and value inline in the slot: the fewest cache lines a hash table can touch per
//!   lookup), the same 1M keys in the same random order, the value copied into a reused
//!   buffer as `Db::get_with` does. No lock, no expiry, no LRU, no type check.
//! - `floor.map.boxed`: the same with `HashMap<Box<[u8]>, Box<[u8]>>` (keys and values of any
//!   length, as a store must take them: the key is compared and the value read through their
//!   blocks).
//! - `floor.map.locked`, `floor.map.counted`: `floor.map.inline` behind an uncontended
//!   `std::sync::RwLock` read-locked per GET, and with one relaxed atomic add per GET besides (a
//!   hit counter): what the least synchronisation a thread-safe store needs costs by itself.
//!   On x86 each is a locked read-modify-write, which also keeps the next GET's loads from
//!   starting before it completes, so consecutive GETs' cache misses stop overlapping.
//! - `floor.line`: a linear-probing table of 64-byte slots, key and value in the slot, half
//!   full: one cache line per lookup, the least a hash table can read.
//! - `floor.line.batch16`: the same, 16 keys at a time, every key's line requested before any
//!   is read: what batching (a pipeline, MGET) can add on top, with no store around it.
//!
//! - `floor.threads.*`: how GET scales from one thread to two here, with no store around it:
//!   the inline map read by both threads (nothing written), and the same keys in 64
//!   `RwLock`-guarded shards with a per-shard hit counter (nestdb's shape before session 19:
//!   both threads' GETs write the shards' lock and counter lines). Each repetition takes the
//!   better of two 1-thread runs against one 2-thread run, as the `threads` suite does.
//!
//! Same hasher as nestdb (foldhash), so the figures differ from nestdb's by the store's work
//! only. Code that runs nowhere else, kept small on purpose.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::measure::{median, Samples};
use crate::report::{Report, Unit};
use crate::workload::{self, Key, VALUE};
use crate::Config;

type Hasher = foldhash::fast::FixedState;

pub fn run(cfg: &Config, report: &mut Report) {
    let chase: Vec<f64> = (0..cfg.reps.max(3)).map(|r| chase_ns(if cfg.keys >= 1_000_000 { 1 << 22 } else { 1 << 18 }, r as u64)).collect();
    report.add(
        "floor.chase",
        "dependent random load, 256 MiB (ns per load)",
        median(&chase),
        Unit::Nanos,
        format!("median of {}", chase.len()),
    );

    let keys = workload::keys(cfg.keys);
    let order = workload::shuffled(&keys, 1);
    let n = keys.len();
    let hasher = Hasher::with_seed(7);

    let mut inline: HashMap<[u8; 16], [u8; 32], Hasher> = HashMap::with_capacity_and_hasher(n, hasher.clone());
    for k in &keys {
        inline.insert(*k, *VALUE);
    }
    let mut boxed: HashMap<Box<[u8]>, Box<[u8]>, Hasher> = HashMap::with_capacity_and_hasher(n, hasher.clone());
    for k in &keys {
        boxed.insert(Box::from(&k[..]), Box::from(&VALUE[..]));
    }

    let mut lines = LineTable::new(n, hasher.clone());
    for k in &keys {
        lines.insert(*k, *VALUE);
    }

    let locked = std::sync::RwLock::new(inline.clone());
    let counter = AtomicU64::new(0);

    let (mut s_inline, mut s_boxed) = (Samples::default(), Samples::default());
    let (mut s_locked, mut s_counted) = (Samples::default(), Samples::default());
    let (mut s_line, mut s_batch) = (Samples::default(), Samples::default());
    let mut buf = Vec::with_capacity(64);
    for rep in 0..cfg.warmup + cfg.reps {
        let record = rep >= cfg.warmup;
        pass(&mut s_inline, record, &order, &mut buf, |k, buf| copy(buf, inline.get(k)));
        pass(&mut s_boxed, record, &order, &mut buf, |k, buf| copy(buf, boxed.get(&k[..])));
        pass(&mut s_locked, record, &order, &mut buf, |k, buf| copy(buf, locked.read().expect("lock").get(k)));
        pass(&mut s_counted, record, &order, &mut buf, |k, buf| {
            let map = locked.read().expect("lock");
            counter.fetch_add(1, Ordering::Relaxed);
            copy(buf, map.get(k))
        });
        pass(&mut s_line, record, &order, &mut buf, |k, buf| copy(buf, lines.get_from(lines.home(k), k)));
        let found = s_batch.time(record, n, || {
            let mut found = 0;
            let mut homes = [0usize; 16];
            for batch in order.chunks(16) {
                // Every key's home line is requested before any is read.
                for (k, h) in batch.iter().zip(&mut homes) {
                    *h = lines.home(k);
                    lines.prefetch(*h);
                }
                for (k, &h) in batch.iter().zip(&homes) {
                    if copy(&mut buf, lines.get_from(h, k)) {
                        found += black_box(&buf).len();
                    }
                }
            }
            found
        });
        assert_eq!(found, n * VALUE.len());
    }
    scaling(cfg, report, &keys, &inline, &hasher);
    report.add("floor.map.inline", "bare HashMap<[u8; 16], [u8; 32]> GET", s_inline.median(), Unit::OpsPerSec, s_inline.detail(n));
    report.add("floor.map.boxed", "bare HashMap<Box<[u8]>, Box<[u8]>> GET", s_boxed.median(), Unit::OpsPerSec, s_boxed.detail(n));
    report.add(
        "floor.map.locked",
        "same map behind an uncontended std RwLock, read-locked per GET",
        s_locked.median(),
        Unit::OpsPerSec,
        s_locked.detail(n),
    );
    report.add(
        "floor.map.counted",
        "same, plus one relaxed atomic add per GET (a hit counter)",
        s_counted.median(),
        Unit::OpsPerSec,
        s_counted.detail(n),
    );
    report.add("floor.line", "one-cache-line table GET", s_line.median(), Unit::OpsPerSec, s_line.detail(n));
    report.add(
        "floor.line.batch16",
        "one-cache-line table GET, 16 prefetched at a time",
        s_batch.median(),
        Unit::OpsPerSec,
        s_batch.detail(n),
    );
}

/// `floor.threads.*` (see the module comment).
fn scaling(cfg: &Config, report: &mut Report, keys: &[Key], inline: &HashMap<[u8; 16], [u8; 32], Hasher>, hasher: &Hasher) {
    #[repr(align(128))]
    struct Shard {
        map: std::sync::RwLock<HashMap<[u8; 16], [u8; 32], Hasher>>,
        hits: AtomicU64,
    }
    let shards: Vec<Shard> =
        (0..64).map(|_| Shard { map: std::sync::RwLock::new(HashMap::with_hasher(hasher.clone())), hits: AtomicU64::new(0) }).collect();
    for k in keys {
        let h = hasher.hash_one(k);
        shards[(h >> 58) as usize].map.write().expect("lock").insert(*k, *VALUE);
    }
    let orders = [workload::shuffled(keys, 11), workload::shuffled(keys, 12)];
    let bare = |k: &Key, buf: &mut Vec<u8>| copy(buf, inline.get(k));
    let sharded = |k: &Key, buf: &mut Vec<u8>| {
        let shard = &shards[(hasher.hash_one(k) >> 58) as usize];
        let map = shard.map.read().expect("lock");
        shard.hits.fetch_add(1, Ordering::Relaxed);
        copy(buf, map.get(k))
    };
    let (mut bare_r, mut sharded_r) = (Vec::new(), Vec::new());
    for rep in 0..cfg.warmup + cfg.reps {
        let b = ratio(&orders, &bare);
        let s = ratio(&orders, &sharded);
        if rep >= cfg.warmup {
            bare_r.push(b);
            sharded_r.push(s);
        }
    }
    let reps = |v: &[f64]| format!("per repetition: {}", v.iter().map(|r| format!("{r:.2}")).collect::<Vec<_>>().join(", "));
    report.add("floor.threads.bare", "bare inline map GET, 2 threads / 1 thread", median(&bare_r), Unit::Ratio, reps(&bare_r));
    report.add(
        "floor.threads.sharded",
        "64 RwLock shards + per-shard hit counter, 2 threads / 1 thread",
        median(&sharded_r),
        Unit::Ratio,
        reps(&sharded_r),
    );
}

/// Aggregate GET rate of two threads (each over its own order, from a common start) over the
/// better of two 1-thread runs.
fn ratio(orders: &[Vec<Key>; 2], get: &(impl Fn(&Key, &mut Vec<u8>) -> bool + Sync)) -> f64 {
    let run = |orders: &[Vec<Key>]| {
        let barrier = std::sync::Barrier::new(orders.len() + 1);
        std::thread::scope(|s| {
            let handles: Vec<_> = orders
                .iter()
                .map(|order| {
                    let barrier = &barrier;
                    s.spawn(move || {
                        let mut buf = Vec::with_capacity(64);
                        barrier.wait();
                        order.iter().filter(|k| get(k, &mut buf)).count()
                    })
                })
                .collect();
            barrier.wait();
            let t = Instant::now();
            for (h, order) in handles.into_iter().zip(orders) {
                assert_eq!(h.join().expect("GET thread"), order.len());
            }
            t.elapsed()
        })
    };
    let one = run(&orders[..1]).min(run(&orders[1..]));
    let two = run(&orders[..]);
    2.0 * one.as_secs_f64() / two.as_secs_f64()
}

/// Copy a found value into `buf` (as `Db::get_with` into a reused buffer); whether it was found.
fn copy<V: AsRef<[u8]>>(buf: &mut Vec<u8>, found: Option<V>) -> bool {
    let Some(v) = found else { return false };
    buf.clear();
    buf.extend_from_slice(v.as_ref());
    true
}

/// Time one pass of per-call GETs over `order` into `s`: `get(key, buf)` copies the key's value
/// into `buf` and says whether it was there. Every key must be.
fn pass(s: &mut Samples, record: bool, order: &[Key], buf: &mut Vec<u8>, mut get: impl FnMut(&Key, &mut Vec<u8>) -> bool) {
    let found = s.time(record, order.len(), || {
        let mut found = 0;
        for k in order {
            if get(k, buf) {
                found += black_box(&*buf).len();
            }
        }
        found
    });
    assert_eq!(found, order.len() * VALUE.len());
}

/// A linear-probing table of 64-byte slots, each holding one key and its value: a lookup
/// reads one cache line when the key is in its home slot (load factor 1/2), the least any
/// hash table can read.
struct LineTable {
    slots: Vec<Line>,
    mask: usize,
    hasher: Hasher,
}

#[repr(C, align(64))]
#[derive(Clone, Copy)]
struct Line {
    used: bool,
    key: [u8; 16],
    val: [u8; 32],
}

impl LineTable {
    fn new(n: usize, hasher: Hasher) -> Self {
        let cap = (n * 2).next_power_of_two().max(2);
        LineTable { slots: vec![Line { used: false, key: [0; 16], val: [0; 32] }; cap], mask: cap - 1, hasher }
    }

    fn insert(&mut self, key: [u8; 16], val: [u8; 32]) {
        let mut i = self.hasher.hash_one(key) as usize & self.mask;
        while self.slots[i].used && self.slots[i].key != key {
            i = (i + 1) & self.mask;
        }
        self.slots[i] = Line { used: true, key, val };
    }

    #[inline]
    fn home(&self, key: &[u8; 16]) -> usize {
        self.hasher.hash_one(key) as usize & self.mask
    }

    #[inline]
    fn get_from(&self, mut i: usize, key: &[u8; 16]) -> Option<&[u8; 32]> {
        loop {
            let s = &self.slots[i];
            if !s.used {
                return None;
            }
            if s.key == *key {
                return Some(&s.val);
            }
            i = (i + 1) & self.mask;
        }
    }

    #[inline]
    fn prefetch(&self, i: usize) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `i` is masked into the slot array; a prefetch reads nothing architecturally.
        unsafe {
            std::arch::x86_64::_mm_prefetch(self.slots.as_ptr().add(i).cast::<i8>(), std::arch::x86_64::_MM_HINT_T0);
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = i;
    }
}

/// ns per dependent load over `slots` 64-byte slots arranged in one random cycle (Sattolo).
fn chase_ns(slots: usize, seed: u64) -> f64 {
    #[repr(align(64))]
    #[derive(Clone, Copy)]
    struct Slot {
        next: usize,
        _pad: [u8; 56],
    }
    let mut v = vec![Slot { next: 0, _pad: [0; 56] }; slots];
    let mut perm: Vec<usize> = (0..slots).collect();
    let mut rng = SmallRng::seed_from_u64(seed);
    for i in (1..slots).rev() {
        let j = rng.random_range(0..i);
        perm.swap(i, j);
    }
    for i in 0..slots {
        v[perm[i]].next = perm[(i + 1) % slots];
    }
    let steps = slots.min(4 << 20);
    let mut at = 0;
    for _ in 0..steps / 4 {
        at = v[at].next;
    }
    let t = Instant::now();
    for _ in 0..steps {
        at = v[at].next;
    }
    let ns = t.elapsed().as_nanos() as f64 / steps as f64;
    black_box(at);
    ns
}
