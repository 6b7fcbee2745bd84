//! Handles on engines: opening (with config), sharing one engine per path, closing, and the
//! fork guard.
//!
//! - A `Handle` is what one `nestdb.Redis` (or `Database`) holds: an optional `Db` (None once
//!   closed) behind a `RwLock`. Calls take the read side (`read_recursive`, so a waiting
//!   `close()` never blocks new readers into a deadlock with the GIL); `close()` takes the
//!   write side with the GIL released, so it waits for calls in flight and then drops the `Db`.
//!   Rule: no thread waits for the GIL while holding a handle's read guard (calls that release
//!   the GIL take the guard inside the released section).
//! - Opening the same file path twice in one process shares one engine: `REGISTRY` maps the
//!   absolute path to the open `Db` and the number of handles on it.
//! - Fork: `FORK_GEN` is bumped in the child after `os.fork()` (registered by the Python
//!   package). A handle remembers the generation it was opened in and refuses to work in
//!   another one; in the child its `Db` is leaked rather than dropped (another thread of the
//!   parent may have been mid-update when the process was copied).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyString};

use nestdb::{Db, Options, Reply, Session};

use crate::errors;

/// Process generation: incremented in the child after each `os.fork()`.
pub(crate) static FORK_GEN: AtomicU64 = AtomicU64::new(0);

struct Shared {
    db: Db,
    handles: usize,
    gen: u64,
}

static REGISTRY: Mutex<Option<HashMap<PathBuf, Shared>>> = Mutex::new(None);

/// Where a database lives.
#[derive(Clone, Debug)]
pub(crate) enum Location {
    Memory,
    File(PathBuf),
}

impl Location {
    /// `None`, `":memory:"` and `""` are in-memory; anything else (str, bytes, os.PathLike) a path.
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
        let text: String = if fs.is_instance_of::<PyBytes>() { os.call_method1("fsdecode", (fs,))?.extract()? } else { fs.extract()? };
        if text.is_empty() || text == ":memory:" {
            return Ok(Location::Memory);
        }
        let abs = std::path::absolute(&text).map_err(|e| PyValueError::new_err(format!("invalid path {text:?}: {e}")))?;
        Ok(Location::File(abs))
    }
}

/// Build `Options` from Python keyword arguments with Redis's names (`_` for `-`).
/// Unknown names raise TypeError, bad values ValueError. Returns the options and the
/// (name, value) pairs given, so a second open of a shared engine can apply them.
pub(crate) fn options_from_kwargs(config: Option<&Bound<'_, PyDict>>) -> PyResult<(Options, Vec<(String, String)>)> {
    let mut opts = Options::default();
    let mut given = Vec::new();
    let Some(config) = config else { return Ok((opts, given)) };
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
        given.push((name, value));
    }
    Ok((opts, given))
}

/// The config parameter names the engine accepts.
pub(crate) fn known_parameters() -> Vec<String> {
    let probe = Db::open_in_memory();
    let mut names: Vec<String> = match probe.execute(&[b"CONFIG", b"GET", b"*"]) {
        Reply::Map(pairs) => {
            pairs.into_iter().filter_map(|(k, _)| k.as_bytes().map(|b| String::from_utf8_lossy(b).replace('-', "_"))).collect()
        }
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

fn open_error(py: Python<'_>, e: nestdb::Error) -> PyErr {
    errors::connection_error(py, &e.to_string())
}

/// One handle on an engine.
pub(crate) struct Handle {
    db: RwLock<Option<Db>>,
    location: Location,
    gen: u64,
}

impl Handle {
    /// Open (or join, for a path already open in this process) an engine.
    pub(crate) fn open(py: Python<'_>, location: Location, options: Options, given: &[(String, String)]) -> PyResult<Arc<Handle>> {
        let gen = FORK_GEN.load(Ordering::Acquire);
        let db = match &location {
            Location::Memory => Db::open(":memory:", options).map_err(|e| open_error(py, e))?,
            Location::File(path) => {
                let mut reg = REGISTRY.lock();
                let map = reg.get_or_insert_with(HashMap::new);
                if map.get(path).is_some_and(|s| s.gen != gen) {
                    // Opened by the parent process before a fork: not ours to use or drop.
                    if let Some(stale) = map.remove(path) {
                        std::mem::forget(stale);
                    }
                }
                match map.get_mut(path) {
                    Some(shared) => {
                        shared.handles += 1;
                        let db = shared.db.clone();
                        drop(reg);
                        for (name, value) in given {
                            let r = db.execute(&[b"CONFIG", b"SET", name.as_bytes(), value.as_bytes()]);
                            if let Some(e) = r.error_text() {
                                return Err(PyValueError::new_err(e.to_string()));
                            }
                        }
                        db
                    }
                    None => {
                        let db = Db::open(path, options).map_err(|e| open_error(py, e))?;
                        map.insert(path.clone(), Shared { db: db.clone(), handles: 1, gen });
                        db
                    }
                }
            }
        };
        Ok(Arc::new(Handle { db: RwLock::new(Some(db)), location, gen }))
    }

    /// Another handle on the same engine (`Database.redis()`).
    pub(crate) fn share(&self, py: Python<'_>) -> PyResult<Arc<Handle>> {
        let db = self.db_clone(py)?;
        if let Location::File(path) = &self.location {
            let mut reg = REGISTRY.lock();
            if let Some(s) = reg.get_or_insert_with(HashMap::new).get_mut(path) {
                s.handles += 1;
            }
        }
        Ok(Arc::new(Handle { db: RwLock::new(Some(db)), location: self.location.clone(), gen: self.gen }))
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

    /// Run `f` on the engine with the GIL held (short operations).
    #[inline]
    pub(crate) fn run<R>(&self, py: Python<'_>, f: impl FnOnce(&Db) -> R) -> PyResult<R> {
        self.check_fork(py)?;
        let guard = self.db.read_recursive();
        match guard.as_ref() {
            Some(db) => Ok(f(db)),
            None => Err(Self::closed(py)),
        }
    }

    /// Run `f` on the engine with the GIL released (anything that can take a while).
    pub(crate) fn run_detached<R: Send>(&self, py: Python<'_>, f: impl FnOnce(&Db) -> R + Send) -> PyResult<R> {
        self.check_fork(py)?;
        let out = py.detach(|| {
            let guard = self.db.read_recursive();
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

    pub(crate) fn is_closed(&self) -> bool {
        self.db.read_recursive().is_none()
    }

    /// Close this handle: wait for its calls in flight, then let go of the engine (the engine
    /// itself closes when its last handle does). Idempotent.
    pub(crate) fn close(&self, py: Python<'_>) {
        if FORK_GEN.load(Ordering::Relaxed) != self.gen {
            if let Some(db) = self.db.write().take() {
                std::mem::forget(db);
            }
            return;
        }
        let db = py.detach(|| self.db.write().take());
        if db.is_some() {
            self.release();
        }
        // Dropping the engine can free a lot of memory: do it without the GIL.
        py.detach(move || drop(db));
    }

    fn release(&self) {
        if let Location::File(path) = &self.location {
            let mut reg = REGISTRY.lock();
            if let Some(map) = reg.as_mut() {
                let last = map.get_mut(path).map(|s| {
                    s.handles = s.handles.saturating_sub(1);
                    s.handles == 0
                });
                if last == Some(true) {
                    map.remove(path);
                }
            }
        }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        let db = self.db.get_mut().take();
        if FORK_GEN.load(Ordering::Relaxed) != self.gen {
            std::mem::forget(db);
            return;
        }
        if db.is_some() {
            self.release();
        }
    }
}

/// Called in the child after `os.fork()`.
pub(crate) fn after_fork_in_child() {
    FORK_GEN.fetch_add(1, Ordering::AcqRel);
}
