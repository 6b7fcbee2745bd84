//! The engine's locks: std's futex-based `Mutex`, `RwLock` and `Condvar` with parking_lot's
//! ergonomics (no poisoning: a panic while a lock is held leaves the data as it was, and the
//! next locker gets it; guards come straight from `lock()` / `read()` / `write()`;
//! `Condvar::wait` takes the guard by `&mut`).
//!
//! Why not parking_lot: its slow path parks threads in one process-wide hash table whose
//! buckets have locks of their own. A `fork()` while another thread holds a bucket lock leaves
//! that bucket locked forever in the child, so the child's brand-new locks hang the first time
//! they contend on it (seen in CI: a forked child's log thread stuck in `lock_bucket` while
//! closing its own database). std's locks keep all their state in the lock word, so a lock
//! created in the child depends on nothing the parent's threads were doing.
//!
//! Invariant: a `MutexGuard` always holds its std guard, except inside `Condvar::wait*`, which
//! takes it out and puts the re-acquired one back before returning (if the wait itself
//! panicked the guard is empty and dropping it releases nothing twice).

use std::ops::{Deref, DerefMut};
use std::sync::PoisonError;
use std::time::Duration;

pub(crate) use std::sync::{RwLockReadGuard, RwLockWriteGuard};

/// A mutual-exclusion lock that ignores poisoning.
#[derive(Default, Debug)]
pub(crate) struct Mutex<T: ?Sized>(std::sync::Mutex<T>);

/// The guard of a locked `Mutex`.
pub(crate) struct MutexGuard<'a, T: ?Sized>(Option<std::sync::MutexGuard<'a, T>>);

impl<T> Mutex<T> {
    pub(crate) const fn new(value: T) -> Mutex<T> {
        Mutex(std::sync::Mutex::new(value))
    }
}

impl<T: ?Sized> Mutex<T> {
    #[inline]
    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        MutexGuard(Some(self.0.lock().unwrap_or_else(PoisonError::into_inner)))
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        self.0.as_deref().expect("mutex guard taken by a condvar wait")
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        self.0.as_deref_mut().expect("mutex guard taken by a condvar wait")
    }
}

/// A reader-writer lock that ignores poisoning. Like parking_lot's (and unlike a recursive
/// lock), a new reader waits while a writer is queued, so a thread must not read-lock twice.
#[derive(Default, Debug)]
pub(crate) struct RwLock<T: ?Sized>(std::sync::RwLock<T>);

impl<T> RwLock<T> {
    pub(crate) const fn new(value: T) -> RwLock<T> {
        RwLock(std::sync::RwLock::new(value))
    }
}

impl<T: ?Sized> RwLock<T> {
    #[inline]
    pub(crate) fn read(&self) -> RwLockReadGuard<'_, T> {
        self.0.read().unwrap_or_else(PoisonError::into_inner)
    }

    #[inline]
    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, T> {
        self.0.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// The write lock if it is free right now.
    #[inline]
    pub(crate) fn try_write(&self) -> Option<RwLockWriteGuard<'_, T>> {
        match self.0.try_write() {
            Ok(g) => Some(g),
            Err(std::sync::TryLockError::Poisoned(e)) => Some(e.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }
}

/// A condition variable for `Mutex`.
#[derive(Default, Debug)]
pub(crate) struct Condvar(std::sync::Condvar);

impl Condvar {
    pub(crate) const fn new() -> Condvar {
        Condvar(std::sync::Condvar::new())
    }

    /// Release the guard's lock, sleep until notified (or spuriously), and lock it again.
    pub(crate) fn wait<T>(&self, guard: &mut MutexGuard<'_, T>) {
        let g = guard.0.take().expect("mutex guard taken by a condvar wait");
        guard.0 = Some(self.0.wait(g).unwrap_or_else(PoisonError::into_inner));
    }

    /// `wait`, for at most `timeout`. True if it timed out.
    pub(crate) fn wait_for<T>(&self, guard: &mut MutexGuard<'_, T>, timeout: Duration) -> bool {
        let g = guard.0.take().expect("mutex guard taken by a condvar wait");
        let (g, result) = self.0.wait_timeout(g, timeout).unwrap_or_else(PoisonError::into_inner);
        guard.0 = Some(g);
        result.timed_out()
    }

    pub(crate) fn notify_one(&self) {
        self.0.notify_one();
    }

    pub(crate) fn notify_all(&self) {
        self.0.notify_all();
    }
}

/// A broadcast wake-up: threads sleep until the beacon is raised, and one `raise` wakes all of
/// them with a single system call (on Linux a futex on the epoch word: no mutex to re-take on
/// waking, so the woken threads do not queue behind each other; elsewhere a mutex and
/// condvar). Waiters must re-check their condition: a raise wakes every sleeper.
///
/// Use: read `epoch()`, check the condition, `wait(epoch)`; the raiser makes the condition true
/// and then calls `raise()`. A raise between the check and the wait changes the epoch, so the
/// wait returns at once (no lost wake-up).
#[derive(Default, Debug)]
pub(crate) struct Beacon {
    epoch: std::sync::atomic::AtomicU32,
    #[cfg(not(target_os = "linux"))]
    fallback: (std::sync::Mutex<()>, std::sync::Condvar),
}

impl Beacon {
    /// The current epoch, to pass to `wait` after checking the condition.
    #[inline]
    pub(crate) fn epoch(&self) -> u32 {
        self.epoch.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Sleep until the epoch differs from `epoch` (returns at once if it already does; may
    /// also return spuriously).
    pub(crate) fn wait(&self, epoch: u32) {
        #[cfg(target_os = "linux")]
        // SAFETY: FUTEX_WAIT reads the aligned u32 behind `self.epoch`, which outlives the call;
        // a null timeout waits without limit. Errors (EAGAIN when the word changed, EINTR) just
        // return: the caller re-checks.
        unsafe {
            libc::syscall(
                libc::SYS_futex,
                self.epoch.as_ptr(),
                libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
                epoch,
                std::ptr::null::<libc::timespec>(),
            );
        }
        #[cfg(not(target_os = "linux"))]
        {
            let (m, c) = &self.fallback;
            let mut g = m.lock().unwrap_or_else(PoisonError::into_inner);
            while self.epoch() == epoch {
                g = c.wait(g).unwrap_or_else(PoisonError::into_inner);
            }
        }
    }

    /// Advance the epoch and wake every thread sleeping in `wait`.
    pub(crate) fn raise(&self) {
        #[cfg(target_os = "linux")]
        {
            self.epoch.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            // SAFETY: FUTEX_WAKE only uses the address as a key; `self.epoch` is alive.
            unsafe {
                libc::syscall(libc::SYS_futex, self.epoch.as_ptr(), libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG, i32::MAX);
            }
        }
        #[cfg(not(target_os = "linux"))]
        {
            let (m, c) = &self.fallback;
            let _g = m.lock().unwrap_or_else(PoisonError::into_inner);
            self.epoch.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            c.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_panic_under_the_lock_does_not_poison_it() {
        let m = Arc::new(Mutex::new(1));
        let m2 = m.clone();
        let r = std::thread::spawn(move || {
            let mut g = m2.lock();
            *g = 2;
            panic!("boom");
        })
        .join();
        assert!(r.is_err());
        assert_eq!(*m.lock(), 2);
        let rw = Arc::new(RwLock::new(1));
        let rw2 = rw.clone();
        let r = std::thread::spawn(move || {
            let mut g = rw2.write();
            *g = 3;
            panic!("boom");
        })
        .join();
        assert!(r.is_err());
        assert_eq!(*rw.read(), 3);
    }

    #[test]
    fn condvar_wait_hands_the_lock_back() {
        let pair = Arc::new((Mutex::new(false), Condvar::new()));
        let p2 = pair.clone();
        let t = std::thread::spawn(move || {
            *p2.0.lock() = true;
            p2.1.notify_all();
        });
        let mut g = pair.0.lock();
        while !*g {
            pair.1.wait(&mut g);
        }
        assert!(*g);
        drop(g);
        t.join().unwrap();
        let mut g = pair.0.lock();
        assert!(pair.1.wait_for(&mut g, Duration::from_millis(5)));
    }

    /// Every raise reaches every waiter: 4 threads each wait for 2,000 successive values of a
    /// counter that is bumped (then the beacon raised) by the main thread; a lost wake-up
    /// would hang the test.
    #[test]
    fn a_beacon_raise_wakes_every_waiter_without_losing_one() {
        use std::sync::atomic::{AtomicU64, Ordering};
        let shared = Arc::new((Beacon::default(), AtomicU64::new(0)));
        let rounds = 2_000;
        let waiters: Vec<_> = (0..4)
            .map(|_| {
                let shared = shared.clone();
                std::thread::spawn(move || {
                    let (beacon, counter) = &*shared;
                    for want in 1..=rounds {
                        loop {
                            let epoch = beacon.epoch();
                            if counter.load(Ordering::SeqCst) >= want {
                                break;
                            }
                            beacon.wait(epoch);
                        }
                    }
                })
            })
            .collect();
        let (beacon, counter) = &*shared;
        for _ in 0..rounds {
            counter.fetch_add(1, Ordering::SeqCst);
            beacon.raise();
            std::thread::yield_now();
        }
        for w in waiters {
            w.join().unwrap();
        }
        // A wait on a stale epoch returns at once.
        let stale = beacon.epoch();
        beacon.raise();
        beacon.wait(stale);
    }
}
