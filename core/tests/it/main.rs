//! The integration tests of the `nestdb` crate, as one test binary: each file below was its own
//! binary, and every test binary is a separate thin-LTO link of the whole library, which made
//! up most of the suite's build time. Tests that must be alone in their process stay in their
//! own files next to this folder: `fork.rs` (fork() with other tests' threads running),
//! `crash.rs` and `faults.rs` (they re-execute their binary as child processes by test name).
//!
//! Run one group with a filter on its module name, e.g. `cargo test -p nestdb --test it kv_zset::`.

mod common;

mod compat_redis;
mod docs_engine;
mod durability_basics;
mod durability_model;
mod functions;
mod geo;
mod hll;
mod index_scan_equivalence;
mod indexes;
mod kv_basics;
mod kv_blocking;
mod kv_compression;
mod kv_hash;
mod kv_list;
mod kv_model;
mod kv_set;
mod kv_threads;
mod kv_zset;
mod lcs;
mod lua_libs;
mod memory;
mod sort;
mod stream;
