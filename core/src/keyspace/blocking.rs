//! Blocked callers: where BLPOP, BLMOVE, BZPOPMIN and the other blocking commands wait for
//! data, and how a write that may have brought it wakes them.
//!
//! Redis parks a blocked client on its keys and serves it when a key becomes "ready". Here a
//! caller's own thread waits (`command::dispatch` runs the command again after each wake-up),
//! so the registry only has to tell writers whether anyone waits on a shard they changed, and
//! to wake the waiters when so:
//! - `shards` has bit i set while at least one caller waits on a key of shard i (counts per
//!   shard under `state`). A context that changed data checks it once, when it is dropped and
//!   still holds its shard locks (`Ctx::drop`): a write that finds no waiter costs one atomic
//!   load.
//! - `generation` counts wake-ups. A waiter notes it before its attempt and sleeps only while
//!   it is unchanged, so a wake-up between the attempt and the sleep is never missed.
//!
//! Why no wake-up is lost: a waiter notes `generation` and sets its bits (SeqCst) before it
//! locks its shards for an attempt; a writer reads the bits (SeqCst) while it still holds the
//! locks of its change. If the writer sees the bit, it bumps `generation` after the waiter
//! noted it, so the waiter's sleep returns at once. If not, the writer's read came before the
//! bit was set, hence before the waiter's attempt locked the shard: that attempt sees the change.
//!
//! Wake-ups are per shard, not per key: a write to another key of a waited shard wakes the
//! waiters for nothing, and they try again (one lock and lookup each). Waiters on one key are
//! served in whatever order they get the lock, not in Redis's first-come order.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::SHARDS;
use crate::sync::{Condvar, Mutex};

#[derive(Default)]
pub(crate) struct Blocking {
    /// Bit i: some caller waits on a key of shard i.
    shards: AtomicU64,
    /// Callers waiting (INFO's `blocked_clients`).
    callers: AtomicUsize,
    state: Mutex<State>,
    woken: Condvar,
}

struct State {
    generation: u64,
    waiters: [u32; SHARDS],
}

impl Default for State {
    fn default() -> Self {
        State { generation: 0, waiters: [0; SHARDS] }
    }
}

/// How a wait ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Woken {
    /// A write to a waited shard happened since the noted generation (the new one).
    Write(u64),
    /// `until` passed first.
    TimedOut,
}

impl Blocking {
    /// Start waiting on the shards in `mask`; returns the generation to wait from. Every
    /// `register` needs its `unregister` with the same mask.
    pub(crate) fn register(&self, mask: u64) -> u64 {
        let mut st = self.state.lock();
        for (i, n) in st.waiters.iter_mut().enumerate() {
            if mask & (1 << i) != 0 {
                *n += 1;
            }
        }
        self.shards.fetch_or(mask, Ordering::SeqCst);
        self.callers.fetch_add(1, Ordering::Relaxed);
        st.generation
    }

    pub(crate) fn unregister(&self, mask: u64) {
        let mut st = self.state.lock();
        let mut cleared = 0u64;
        for (i, n) in st.waiters.iter_mut().enumerate() {
            if mask & (1 << i) != 0 {
                *n -= 1;
                if *n == 0 {
                    cleared |= 1 << i;
                }
            }
        }
        self.shards.fetch_and(!cleared, Ordering::SeqCst);
        self.callers.fetch_sub(1, Ordering::Relaxed);
    }

    /// How many callers wait now.
    pub(crate) fn callers(&self) -> usize {
        self.callers.load(Ordering::Relaxed)
    }

    /// Sleep until a wake-up after `seen`, or until `until` passes.
    pub(crate) fn wait(&self, seen: u64, until: Instant) -> Woken {
        let mut st = self.state.lock();
        loop {
            if st.generation != seen {
                return Woken::Write(st.generation);
            }
            let now = Instant::now();
            if now >= until {
                return Woken::TimedOut;
            }
            self.woken.wait_for(&mut st, until - now);
        }
    }

    /// Called by a context that changed data on the shards in `written` while it still holds
    /// their locks: wakes every waiter if any waits on one of them.
    #[inline]
    pub(crate) fn written(&self, written: u64) {
        if self.shards.load(Ordering::SeqCst) & written != 0 {
            self.wake();
        }
    }

    #[cold]
    fn wake(&self) {
        let mut st = self.state.lock();
        st.generation += 1;
        self.woken.notify_all();
    }

    /// Whether anyone waits (tests).
    #[cfg(test)]
    pub(crate) fn any_waiting(&self) -> bool {
        self.shards.load(Ordering::SeqCst) != 0
    }
}

/// The longest a waiter sleeps before it asks its caller whether to give up (Python checks for
/// a pending signal such as Ctrl-C then).
pub(crate) const POLL: Duration = Duration::from_millis(100);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wake_after_the_noted_generation_is_seen_even_before_the_wait() {
        let b = Blocking::default();
        let seen = b.register(0b10);
        assert!(b.any_waiting());
        b.written(0b01); // another shard: nobody waits there
        assert_eq!(b.wait(seen, Instant::now() + Duration::from_millis(5)), Woken::TimedOut);
        b.written(0b10);
        assert_eq!(b.wait(seen, Instant::now() + Duration::from_secs(5)), Woken::Write(seen + 1));
        b.unregister(0b10);
        assert!(!b.any_waiting());
    }

    #[test]
    fn counts_per_shard_keep_the_bit_until_the_last_waiter_leaves() {
        let b = Blocking::default();
        b.register(0b11);
        b.register(0b10);
        b.unregister(0b11);
        assert!(b.any_waiting());
        b.written(0b01);
        let g = b.state.lock().generation;
        assert_eq!(g, 0, "shard 0 has no waiter left");
        b.unregister(0b10);
        assert!(!b.any_waiting());
    }

    #[test]
    fn a_waiter_on_another_thread_is_woken() {
        let b = std::sync::Arc::new(Blocking::default());
        let seen = b.register(1);
        let w = {
            let b = b.clone();
            std::thread::spawn(move || b.wait(seen, Instant::now() + Duration::from_secs(10)))
        };
        std::thread::sleep(Duration::from_millis(20));
        b.written(1);
        assert_eq!(w.join().unwrap(), Woken::Write(seen + 1));
        b.unregister(1);
    }
}
