//! Error replies -> Python exceptions, the way redis-py's parser maps them.
//!
//! The classes live in the pure-Python module `nestdb.exceptions` (so they can also subclass
//! redis-py's classes when redis-py is installed); they are looked up once and cached.
//! Mapping (redis-py `BaseParser.parse_error`): the first word of the error text selects the
//! class (`ERR` -> ResponseError, `EXECABORT` -> ExecAbortError, `OOM` -> OutOfMemoryError,
//! `NOSCRIPT`, `READONLY`, `LOADING`, `NOPERM`, `NOAUTH`/`WRONGPASS`); for those known prefixes
//! the prefix is stripped from the message and kept as `status_code`. Any other prefix
//! (`WRONGTYPE ...`) gives a ResponseError with the full text.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyType};

struct Classes {
    redis_error: Py<PyType>,
    connection_error: Py<PyType>,
    response_error: Py<PyType>,
    data_error: Py<PyType>,
    watch_error: Py<PyType>,
    exec_abort: Py<PyType>,
    oom: Py<PyType>,
    no_script: Py<PyType>,
    read_only: Py<PyType>,
    busy_loading: Py<PyType>,
    no_permission: Py<PyType>,
    authentication: Py<PyType>,
    fork: Py<PyType>,
    locked: Py<PyType>,
    corrupt: Py<PyType>,
}

static CLASSES: PyOnceLock<Classes> = PyOnceLock::new();

fn classes(py: Python<'_>) -> PyResult<&Classes> {
    CLASSES.get_or_try_init(py, || {
        let m = py.import("nestdb.exceptions")?;
        let get = |name: &str| -> PyResult<Py<PyType>> { Ok(m.getattr(name)?.cast_into::<PyType>()?.unbind()) };
        Ok(Classes {
            redis_error: get("RedisError")?,
            connection_error: get("ConnectionError")?,
            response_error: get("ResponseError")?,
            data_error: get("DataError")?,
            watch_error: get("WatchError")?,
            exec_abort: get("ExecAbortError")?,
            oom: get("OutOfMemoryError")?,
            no_script: get("NoScriptError")?,
            read_only: get("ReadOnlyError")?,
            busy_loading: get("BusyLoadingError")?,
            no_permission: get("NoPermissionError")?,
            authentication: get("AuthenticationError")?,
            fork: get("ForkError")?,
            locked: get("DatabaseLockedError")?,
            corrupt: get("DatabaseCorruptError")?,
        })
    })
}

fn make(py: Python<'_>, cls: &Py<PyType>, msg: &str, status: Option<&str>) -> PyErr {
    let cls = cls.bind(py);
    let made = match status {
        Some(code) => {
            let kw = PyDict::new(py);
            match kw.set_item("status_code", code) {
                Ok(()) => cls.call((msg,), Some(&kw)),
                Err(e) => Err(e),
            }
        }
        None => cls.call1((msg,)),
    };
    match made {
        Ok(obj) => PyErr::from_value(obj),
        Err(e) => e,
    }
}

/// The exception object redis-py's parser builds for an error reply `text`.
pub(crate) fn from_reply(py: Python<'_>, text: &str) -> PyErr {
    let c = match classes(py) {
        Ok(c) => c,
        Err(e) => return e,
    };
    let code = text.split(' ').next().unwrap_or("");
    let cls = match code {
        "ERR" => &c.response_error,
        "OOM" => &c.oom,
        "EXECABORT" => &c.exec_abort,
        "LOADING" => &c.busy_loading,
        "NOSCRIPT" => &c.no_script,
        "READONLY" => &c.read_only,
        "NOPERM" => &c.no_permission,
        "NOAUTH" | "WRONGPASS" => &c.authentication,
        _ => return make(py, &c.response_error, text, None),
    };
    let rest = text.get(code.len() + 1..).unwrap_or("");
    make(py, cls, rest, Some(code))
}

/// The exception as a value (for pipeline results, where errors are returned, not raised).
pub(crate) fn reply_error_value(py: Python<'_>, text: &str) -> Py<PyAny> {
    from_reply(py, text).into_value(py).into_any()
}

pub(crate) fn data_error(py: Python<'_>, msg: &str) -> PyErr {
    match classes(py) {
        Ok(c) => make(py, &c.data_error, msg, None),
        Err(e) => e,
    }
}

pub(crate) fn redis_error(py: Python<'_>, msg: &str) -> PyErr {
    match classes(py) {
        Ok(c) => make(py, &c.redis_error, msg, None),
        Err(e) => e,
    }
}

pub(crate) fn connection_error(py: Python<'_>, msg: &str) -> PyErr {
    match classes(py) {
        Ok(c) => make(py, &c.connection_error, msg, None),
        Err(e) => e,
    }
}

pub(crate) fn watch_error(py: Python<'_>, msg: &str) -> PyErr {
    match classes(py) {
        Ok(c) => make(py, &c.watch_error, msg, None),
        Err(e) => e,
    }
}

/// A database that could not be opened (or repaired): `DatabaseLockedError` (with `pid`) when
/// another process holds it, `DatabaseCorruptError` for damaged files (the message says when
/// `nestdb.repair` fixes them), `ConnectionError` otherwise (as redis-py raises for a server it
/// cannot reach).
pub(crate) fn open_error(py: Python<'_>, e: &nestdb::Error) -> PyErr {
    let c = match classes(py) {
        Ok(c) => c,
        Err(e) => return e,
    };
    let msg = e.to_string();
    match e {
        nestdb::Error::Locked { pid, .. } => {
            let kw = PyDict::new(py);
            match kw.set_item("pid", *pid).and_then(|()| c.locked.bind(py).call((msg,), Some(&kw))) {
                Ok(obj) => PyErr::from_value(obj),
                Err(e) => e,
            }
        }
        nestdb::Error::Corrupt(_) => make(py, &c.corrupt, &msg, None),
        _ => make(py, &c.connection_error, &msg, None),
    }
}

/// A handle used in a child process after fork().
pub(crate) fn fork_error(py: Python<'_>, msg: &str) -> PyErr {
    match classes(py) {
        Ok(c) => make(py, &c.fork, msg, None),
        Err(e) => e,
    }
}
