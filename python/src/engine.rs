//! Handles on engines: opening (with config), closing, the fsync hint, and the fork guard.
//!
//! - A `Handle` is what one `nestdb.Redis` (or `Database`) holds: an optional `Db` (None once
//!   closed) behind a std `RwLock` (not parking_lot's: see `locks`). Calls take the read side;
//!   `close()` takes the write side with the GIL released, so it waits for calls in flight and
//!   then drops the `Db`. Rules: no thread waits for the GIL while holding a handle's read
//!   guard (calls that release the GIL take the guard inside the released section), and no
//!   thread blocks on the lock while holding the GIL: a call made with the GIL held that finds
//!   the lock busy (a `close()` queued: std's lock then turns new readers away) waits for it
//!   with the GIL released, then tries again.
//! - Opening a file path that is already open in this process joins its engine: the core does
//!   that (one engine per directory and process; the engine closes with its last `Db`). The
//!   engine keeps the config of its first open, as in C and Rust (CONFIG SET changes it).
//! - `sync_writes` caches whether the engine's `appendfsync` is `always`, where every write
//!   command waits for an fsync: write commands then run with the GIL released. It is read at
//!   open and after every CONFIG SET through a handle that shares it (`Database.redis()`
//!   handles share their database's); a change made through another handle is seen by this
//!   one at its next CONFIG SET, and only decides where the GIL is released.
//! - Fork: `FORK_GEN` is bumped in the child after `os.fork()` (registered by the Python
//!   package). A handle remembers the generation it was opened in and refuses to work in
//!   another one; in the child its `Db` is leaked rather than dropped (another thread of the
//!   parent may have been mid-update when the process was copied). A child opening a path
//!   that is locked (by its parent) gets DatabaseLockedError (the core's table of open paths
//!   starts empty in a forked child).

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, TryLockError};

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyString};

use nestdb::{Db, Options, Reply, Session};

use crate::errors;

/// Process generation: incremented in the child after each `os.fork()`.
pub(crate) static FORK_GEN: AtomicU64 = AtomicU64::new(0);

/// Where a database lives.
#[derive(Clone, Debug)]
pub(crate) enum Location {
    Memory,
    /// An absolute path (not canonicalized: the core does that when it opens).
    File(PathBuf),
}

impl Location {
    /// `None`, `":memory:"` and `""` are in-memory; anything else (str, bytes, os.PathLike) a
    /// path. Paths go through `os.fsencode`, so any file name Python can spell (undecodable
    /// bytes included) names exactly that file.
    pub(crate) fn from_py(path: Option<&Bound<'_, PyAny>>) -> PyResult<Location> {
        let Some(p) = path else { return Ok(Location::Memory) };
        if p.is_none() {
            return Ok(Location::Memory);
        }
        let os = p.py().import("os")?;
        let fs = os.call_method1("fspath", (p,)).map_err(|_| {
            PyTypeError::new_err(format!(
                "path must be None, ':memory:', a str, bytes or os.PathLike, not {}",
                p.get_type().name().map(|n| n.to_string()).unwrap_or_default()
            ))
        })?;
        let encoded = os.call_method1("fsencode", (fs,))?;
        let bytes: &[u8] = encoded.cast::<PyBytes>()?.as_bytes();
        if bytes.is_empty() || bytes == b":memory:" {
            return Ok(Location::Memory);
        }
        if bytes.contains(&0) {
            return Err(PyValueError::new_err("embedded null byte in path"));
        }
        let raw = os_string(bytes)?;
        let abs = std::path::absolute(&raw).map_err(|e| PyValueError::new_err(format!("invalid path {raw:?}: {e}")))?;
        Ok(Location::File(abs))
    }
}

impl Location {
    /// The path as Python shows it (`os.fsdecode` of its bytes), None in memory.
    pub(crate) fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyString>>> {
        match self {
            Location::Memory => Ok(None),
            Location::File(p) => Ok(Some(p.as_os_str().into_pyobject(py)?)),
        }
    }
}

/// File-name bytes (from `os.fsencode`) as an `OsString`.
fn os_string(bytes: &[u8]) -> PyResult<OsString> {
    #[cfg(unix)]
    {
        Ok(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(bytes).to_os_string())
    }
    #[cfg(not(unix))]
    {
        std::str::from_utf8(bytes).map(OsString::from).map_err(|e| PyValueError::new_err(format!("path is not valid UTF-8: {e}")))
    }
}

/// The Python path argument of `repair` as a path (None for in-memory spellings).
pub(crate) fn file_path(path: &Bound<'_, PyAny>) -> PyResult<Option<PathBuf>> {
    Ok(match Location::from_py(Some(path))? {
        Location::Memory => None,
        Location::File(p) => Some(p),
    })
}

/// Build `Options` from Python keyword arguments with Redis's names (`_` for `-`).
/// Unknown names raise TypeError, bad values ValueError.
pub(crate) fn options_from_kwargs(config: Option<&Bound<'_, PyDict>>) -> PyResult<Options> {
    let mut opts = Options::default();
    let Some(config) = config else { return Ok(opts) };
    for (k, v) in config.iter() {
        let name: String = k.extract()?;
        if Options::default().get(&name).is_none() {
            return Err(PyTypeError::new_err(format!(
                "unknown nestdb config parameter '{name}' (known: {})",
                known_parameters().join(", ")
            )));
        }
        let value = config_value(&v)?;
        opts.set(&name, &value).map_err(|e| PyValueError::new_err(e.to_string()))?;
    }
    Ok(opts)
}

/// The config parameter names the engine accepts (CONFIG GET also lists read-only facts such
/// as `databases`, which are not options).
pub(crate) fn known_parameters() -> Vec<String> {
    let probe = Db::open_in_memory();
    let defaults = Options::default();
    let mut names: Vec<String> = match probe.execute(&[b"CONFIG", b"GET", b"*"]) {
        Reply::Map(pairs) => pairs
            .into_iter()
            .filter_map(|(k, _)| k.as_bytes().map(|b| String::from_utf8_lossy(b).into_owned()))
            .filter(|n| defaults.get(n).is_some())
            .map(|n| n.replace('-', "_"))
            .collect(),
        _ => Vec::new(),
    };
    names.sort();
    names
}

/// A Python config value as Redis config text: bools as yes/no, numbers as text.
fn config_value(v: &Bound<'_, PyAny>) -> PyResult<String> {
    if let Ok(b) = v.cast::<PyBool>() {
        return Ok(if b.is_true() { "yes" } else { "no" }.to_string());
    }
    if v.is_instance_of::<PyInt>() || v.is_instance_of::<PyFloat>() {
        return Ok(v.str()?.to_cow()?.into_owned());
    }
    if let Ok(s) = v.cast::<PyString>() {
        return Ok(s.to_cow()?.into_owned());
    }
    if let Ok(b) = v.cast::<PyBytes>() {
        return Ok(String::from_utf8_lossy(b.as_bytes()).into_owned());
    }
    Err(PyTypeError::new_err(format!(
        "config values must be str, bytes, int, float or bool, not {}",
        v.get_type().name().map(|n| n.to_string()).unwrap_or_default()
    )))
}

/// Whether the engine fsyncs after every write (`appendfsync always`).
fn fsyncs_every_write(db: &Db) -> bool {
    db.options().appendfsync == nestdb::FsyncPolicy::Always
}

/// One handle on an engine.
pub(crate) struct Handle {
    db: RwLock<Option<Db>>,
    location: Location,
    gen: u64,
    /// `appendfsync always` (see the module comment); shared with `share()`d handles.
    sync_writes: Arc<AtomicBool>,
}

impl Handle {
    /// Open (or join, for a path already open in this process) an engine. Opening runs with the
    /// GIL released: recovery reads the whole database.
    pub(crate) fn open(py: Python<'_>, location: Location, options: Options) -> PyResult<Arc<Handle>> {
        let gen = FORK_GEN.load(Ordering::Acquire);
        let db = match &location {
            Location::Memory => Db::memory(options),
            Location::File(path) => {
                let opened = py.detach(|| Db::open(path, options));
                opened.map_err(|e| errors::open_error(py, &e))?
            }
        };
        let sync_writes = Arc::new(AtomicBool::new(fsyncs_every_write(&db)));
        Ok(Arc::new(Handle { db: RwLock::new(Some(db)), location, gen, sync_writes }))
    }

    /// Another handle on the same engine (`Database.redis()`).
    pub(crate) fn share(&self, py: Python<'_>) -> PyResult<Arc<Handle>> {
        let db = self.db_clone(py)?;
        Ok(Arc::new(Handle {
            db: RwLock::new(Some(db)),
            location: self.location.clone(),
            gen: self.gen,
            sync_writes: self.sync_writes.clone(),
        }))
    }

    /// Whether write commands wait for an fsync (so should run with the GIL released).
    #[inline]
    pub(crate) fn sync_writes(&self) -> bool {
        self.sync_writes.load(Ordering::Relaxed)
    }

    /// Re-read the fsync policy (after a CONFIG SET).
    pub(crate) fn refresh_sync_writes(&self, db: &Db) {
        self.sync_writes.store(fsyncs_every_write(db), Ordering::Relaxed);
    }

    pub(crate) fn location(&self) -> &Location {
        &self.location
    }

    fn check_fork(&self, py: Python<'_>) -> PyResult<()> {
        if FORK_GEN.load(Ordering::Relaxed) != self.gen {
            return Err(errors::fork_error(
                py,
                "this nestdb handle was opened before os.fork() and cannot be used in the child process; open a new one in the child",
            ));
        }
        Ok(())
    }

    fn closed(py: Python<'_>) -> PyErr {
        errors::connection_error(py, "this nestdb handle is closed")
    }

    /// The read side of the handle's lock, taken with the GIL held: if a `close()` holds or
    /// waits for the write side, wait for it with the GIL released (see the module comment).
    #[inline]
    fn read_holding_gil(&self, py: Python<'_>) -> RwLockReadGuard<'_, Option<Db>> {
        loop {
            match self.db.try_read() {
                Ok(g) => return g,
                Err(TryLockError::Poisoned(e)) => return e.into_inner(),
                Err(TryLockError::WouldBlock) => py.detach(|| drop(self.db.read())),
            }
        }
    }

    /// Run `f` on the engine with the GIL held (short operations).
    #[inline]
    pub(crate) fn run<R>(&self, py: Python<'_>, f: impl FnOnce(&Db) -> R) -> PyResult<R> {
        self.check_fork(py)?;
        let guard = self.read_holding_gil(py);
        match guard.as_ref() {
            Some(db) => Ok(f(db)),
            None => Err(Self::closed(py)),
        }
    }

    /// Run `f` on the engine with the GIL released (anything that can take a while).
    pub(crate) fn run_detached<R: Send>(&self, py: Python<'_>, f: impl FnOnce(&Db) -> R + Send) -> PyResult<R> {
        self.check_fork(py)?;
        let out = py.detach(|| {
            let guard = self.db.read().unwrap_or_else(PoisonError::into_inner);
            guard.as_ref().map(f)
        });
        out.ok_or_else(|| Self::closed(py))
    }

    /// A clone of the engine (for sessions, which outlive one call).
    pub(crate) fn db_clone(&self, py: Python<'_>) -> PyResult<Db> {
        self.run(py, Db::clone)
    }

    /// A new MULTI/EXEC session on the engine.
    pub(crate) fn session(&self, py: Python<'_>) -> PyResult<Session> {
        self.run(py, Db::session)
    }

    /// Closed, or being closed (only `close()` takes the write side).
    pub(crate) fn is_closed(&self) -> bool {
        match self.db.try_read() {
            Ok(g) => g.is_none(),
            Err(TryLockError::Poisoned(e)) => e.into_inner().is_none(),
            Err(TryLockError::WouldBlock) => true,
        }
    }

    /// Close this handle: wait for its calls in flight, then let go of the engine (the engine
    /// itself closes -- log written and fsynced, directory unlocked -- when its last handle
    /// does). Idempotent.
    pub(crate) fn close(&self, py: Python<'_>) {
        if FORK_GEN.load(Ordering::Relaxed) != self.gen {
            // A forked child: the lock may have been held by a thread of the parent that does
            // not exist here, so never wait for it.
            if let Ok(mut g) = self.db.try_write() {
                std::mem::forget(g.take());
            }
            return;
        }
        // Dropping the engine can free a lot of memory and fsync: do it without the GIL.
        py.detach(|| drop(self.db.write().unwrap_or_else(PoisonError::into_inner).take()));
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        if FORK_GEN.load(Ordering::Relaxed) != self.gen {
            std::mem::forget(self.db.get_mut().unwrap_or_else(PoisonError::into_inner).take());
        }
    }
}

/// Called in the child after `os.fork()`.
pub(crate) fn after_fork_in_child() {
    FORK_GEN.fetch_add(1, Ordering::AcqRel);
}
