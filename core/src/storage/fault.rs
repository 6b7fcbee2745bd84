//! Fault injection for the storage layer's file operations (tests of ENOSPC/EIO handling).
//!
//! A fault is armed for one database directory and one kind of operation: the next `skip`
//! operations succeed, then the following `count` fail with the given error (or, for
//! `FaultKind::Slow`, succeed only after a delay: a slow disk). With nothing armed the check
//! is one relaxed atomic load.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// A storage operation that can be made to fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Appending bytes to a log segment.
    Write,
    /// fsync of a log segment.
    Fsync,
    /// Creating a new log segment.
    Create,
    /// Writing a snapshot file.
    SnapshotWrite,
}

/// The error an armed fault returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// ENOSPC: no space left on device.
    NoSpace,
    /// EIO: input/output error.
    Io,
    /// No error, but the operation takes this many milliseconds longer (a slow or busy disk).
    Slow(u64),
}

struct Armed {
    dir: PathBuf,
    op: Op,
    skip: u64,
    count: u64,
    kind: FaultKind,
}

static ANY: AtomicBool = AtomicBool::new(false);
static ARMED: Mutex<Vec<Armed>> = Mutex::new(Vec::new());

/// Make operations `op` on the database at `dir` fail: after `skip` successes, `count` failures.
pub fn inject(dir: &Path, op: Op, skip: u64, count: u64, kind: FaultKind) {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let mut armed = ARMED.lock().unwrap_or_else(|e| e.into_inner());
    armed.retain(|a| !(a.dir == dir && a.op == op));
    armed.push(Armed { dir, op, skip, count, kind });
    ANY.store(true, Ordering::Release);
}

/// Disarm every fault for `dir`.
pub fn clear(dir: &Path) {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let mut armed = ARMED.lock().unwrap_or_else(|e| e.into_inner());
    armed.retain(|a| a.dir != dir);
    ANY.store(!armed.is_empty(), Ordering::Release);
}

/// Called before each real operation: Err if a fault is due.
pub(crate) fn check(dir: &Path, op: Op) -> io::Result<()> {
    if !ANY.load(Ordering::Relaxed) {
        return Ok(());
    }
    let mut armed = ARMED.lock().unwrap_or_else(|e| e.into_inner());
    let Some(a) = armed.iter_mut().find(|a| a.op == op && a.dir == dir) else { return Ok(()) };
    if a.skip > 0 {
        a.skip -= 1;
        return Ok(());
    }
    if a.count == 0 {
        return Ok(());
    }
    a.count -= 1;
    Err(match a.kind {
        FaultKind::NoSpace => io::Error::from_raw_os_error(28),
        FaultKind::Io => io::Error::from_raw_os_error(5),
        FaultKind::Slow(ms) => {
            drop(armed);
            std::thread::sleep(std::time::Duration::from_millis(ms));
            return Ok(());
        }
    })
}
