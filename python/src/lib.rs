//! `nestdb._nestdb`: the native half of the `nestdb` Python package.
//!
//! The pure-Python package (`python/nestdb/`) defines the public classes: `nestdb.Redis`
//! subclasses `Client` from here plus the redis-py command methods (`nestdb/_commands.py`),
//! `nestdb.Pipeline` subclasses `Redis`, `nestdb.Database` subclasses `Database`. This crate
//! owns everything on the hot path: argument encoding (`encode`), running commands and
//! pipelines in the engine (`client`), reply shaping with redis-py's callbacks (`reply`),
//! engine handles, sharing, closing and the fork guard (`engine`), and the mapping of error
//! replies to exception classes (`errors`).

mod client;
mod encode;
mod engine;
mod errors;
mod reply;

use pyo3::prelude::*;
use pyo3::types::PyDict;

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

#[pymodule]
fn _nestdb(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<client::Client>()?;
    m.add_class::<client::Database>()?;
    m.add_class::<client::Spec>()?;
    m.add_function(wrap_pyfunction!(_after_fork_in_child, m)?)?;
    m.add_function(wrap_pyfunction!(_install_callbacks, m)?)?;
    m.add_function(wrap_pyfunction!(config_parameters, m)?)?;
    m.add("__version__", nestdb::VERSION)?;
    Ok(())
}
