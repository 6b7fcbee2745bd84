//! Lock helpers for the extension: std's locks, with poisoning ignored (a panic under a lock is
//! turned into a Python exception by pyo3; the data stays as the panicking call left it, which
//! every user here tolerates: caches, callback tables, pipeline state).
//!
//! std rather than parking_lot, as in the core (`nestdb`'s `sync` module says why): parking_lot
//! parks threads in a process-wide table whose bucket locks a `fork()` can leave held forever
//! in the child, hanging the child's own locks.

use std::sync::{Mutex, MutexGuard, PoisonError, TryLockError};

/// Lock `m`, waiting if needed.
pub(crate) fn lock<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Lock `m` if it is free right now.
pub(crate) fn try_lock<T: ?Sized>(m: &Mutex<T>) -> Option<MutexGuard<'_, T>> {
    match m.try_lock() {
        Ok(g) => Some(g),
        Err(TryLockError::Poisoned(e)) => Some(e.into_inner()),
        Err(TryLockError::WouldBlock) => None,
    }
}
