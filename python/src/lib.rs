//! `nestdb._nestdb`: the native half of the `nestdb` Python package.
//!
//! The pure-Python package (`python/nestdb/`) defines the public classes: `nestdb.Redis`
//! subclasses `Client` from here plus the redis-py command methods (`nestdb/_commands.py`),
//! `nestdb.Pipeline` subclasses `Redis`, `nestdb.Database` subclasses `Database`. This crate
//! owns everything on the hot path: argument encoding (`encode`), running commands and
//! pipelines in the engine (`client`), reply shaping with redis-py's callbacks (`reply`),
//! engine handles, sharing, closing and the fork guard (`engine`), and the mapping of error
//! replies to exception classes (`errors`).

/// The extension's Rust allocations go to mimalloc (see Cargo.toml).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod client;
mod docs;
mod encode;
mod engine;
mod errors;
mod fastpy;
mod locks;
mod pubsub;
mod reply;

use pyo3::exceptions::{PyFileNotFoundError, PyNotADirectoryError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

/// Registered with `os.register_at_fork(after_in_child=...)` by the package: handles opened
/// before the fork refuse to work in the child.
#[pyfunction]
fn _after_fork_in_child() {
    engine::after_fork_in_child();
}

/// Install the Python response callbacks (`nestdb._callbacks.CALLBACKS`).
#[pyfunction]
fn _install_callbacks(py: Python<'_>, callbacks: &Bound<'_, PyDict>) {
    reply::install_callbacks(py, callbacks);
}

/// The names of the config parameters the engine accepts (with `_` for `-`).
#[pyfunction]
fn config_parameters() -> Vec<String> {
    engine::known_parameters()
}

/// Repair a damaged database directory so that it opens again, like `redis-check-aof --fix`:
/// rebuild a missing or damaged MANIFEST, truncate the log at its first bad record. The
/// database must not be open (in any process, this one included). Runs without the GIL.
/// Returns the report: `{"truncated_file": str | None, "truncated_at": int, "bytes_dropped":
/// int, "segments_removed": int, "manifest_rebuilt": bool}`.
#[pyfunction]
fn repair<'py>(py: Python<'py>, path: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyDict>> {
    let Some(dir) = engine::file_path(path)? else {
        return Err(PyValueError::new_err("an in-memory database has no files to repair"));
    };
    // Repair never creates a database: a mistyped path is an error, not a new directory.
    match std::fs::metadata(&dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(PyNotADirectoryError::new_err((20, "not a database directory", dir.clone()))),
        Err(e) => return Err(PyFileNotFoundError::new_err((e.raw_os_error().unwrap_or(2), "no database directory", dir.clone()))),
    }
    let report = py.detach(|| nestdb::repair(&dir)).map_err(|e| errors::open_error(py, &e))?;
    let out = PyDict::new(py);
    out.set_item("truncated_file", report.truncated_file.as_deref().map(std::path::Path::as_os_str))?;
    out.set_item("truncated_at", report.truncated_at)?;
    out.set_item("bytes_dropped", report.bytes_dropped)?;
    out.set_item("segments_removed", report.segments_removed)?;
    out.set_item("manifest_rebuilt", report.manifest_rebuilt)?;
    Ok(out)
}

/// `nestdb._bson.encode`: a mapping as BSON bytes, with pymongo's default codec options (the
/// encoder of inserts).
#[pyfunction]
fn _bson_encode<'py>(py: Python<'py>, document: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    let mut buf = Vec::with_capacity(256);
    docs::write_document(&mut buf, document, 1, None)?;
    Ok(PyBytes::new(py, &buf))
}

/// `nestdb._bson.decode`: BSON bytes as a dict (the decoder of query results); malformed bytes
/// raise ValueError (UnicodeDecodeError for bad UTF-8).
#[pyfunction]
fn _bson_decode<'py>(py: Python<'py>, data: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    let doc = nestdb::bson::RawDocument::from_bytes(data).map_err(|e| PyValueError::new_err(format!("invalid BSON: {e}")))?;
    docs::raw_document_to_py(py, doc)
}

#[pymodule]
fn _nestdb(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<client::Client>()?;
    m.add_class::<client::Database>()?;
    m.add_class::<client::Spec>()?;
    m.add_class::<pubsub::Subscriber>()?;
    m.add_function(wrap_pyfunction!(_after_fork_in_child, m)?)?;
    m.add_function(wrap_pyfunction!(_install_callbacks, m)?)?;
    m.add_function(wrap_pyfunction!(config_parameters, m)?)?;
    m.add_function(wrap_pyfunction!(repair, m)?)?;
    m.add_function(wrap_pyfunction!(_bson_encode, m)?)?;
    m.add_function(wrap_pyfunction!(_bson_decode, m)?)?;
    m.add("__version__", nestdb::VERSION)?;
    Ok(())
}
