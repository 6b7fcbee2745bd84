//! nestdb: an embedded database with Redis's typed structures (strings, hashes, lists, sets,
//! sorted sets, TTLs, transactions) — and, as the project grows, MongoDB-style documents — in
//! one library, with no server.
//!
//! ```
//! use nestdb::{Commands, Db, Reply};
//!
//! let db = Db::open_in_memory();
//! db.set(b"greeting", b"hello").unwrap();
//! assert_eq!(db.get(b"greeting").unwrap().as_deref(), Some(&b"hello"[..]));
//!
//! // Any command, with Redis's replies and error texts:
//! assert_eq!(db.execute(&[b"INCR", b"visits"]), Reply::Int(1));
//! assert!(db.execute(&[b"LPUSH", b"greeting", b"x"]).is_error()); // WRONGTYPE
//!
//! // MULTI/EXEC with WATCH through a session:
//! let mut s = db.session();
//! s.execute(&[b"MULTI"]);
//! s.execute(&[b"INCR", b"visits"]);
//! assert_eq!(s.execute(&[b"EXEC"]), Reply::Array(vec![Reply::Int(2)]));
//! ```
//!
//! A path instead of `open_in_memory` gives a durable database: a directory with an
//! append-only log and snapshots (`Db::open("app.nest", Options::default())`).

mod command;
mod config;
mod db;
pub mod docs;
mod error;
mod keyspace;
mod persist;
mod pubsub;
mod reply;
mod storage;
mod sync;
mod types;
mod util;

/// The BSON crate nestdb's documents are made of (re-exported so callers use the same version).
pub use bson;
pub use bson::doc;
pub use config::{Codec, EvictionPolicy, FsyncPolicy, Options};
pub use db::{Commands, Db, Session, Tx};
pub use docs::{Collection, Cursor, Database, DocError, Find, UpdateOptions, UpdateResult, CURSOR_BATCH};
pub use error::{Error, Result};
pub use persist::RecoveryReport;
pub use pubsub::{Message, Subscriber};
pub use reply::Reply;
pub use storage::RepairReport;

/// Make a damaged database directory openable again, like `redis-check-aof --fix`: rebuild a
/// missing or damaged MANIFEST from the newest valid snapshot, and truncate the log at its
/// first bad record (dropping the segments after it). Reports what was dropped. The
/// database must not be open.
pub fn repair(path: impl AsRef<std::path::Path>) -> Result<RepairReport> {
    storage::repair(path.as_ref()).map_err(Error::from_open_failure)
}

/// Whether `name` (any case) is a blocking command (BLPOP, BLMOVE, BZPOPMIN...): one that may
/// wait for another thread's write, so a caller holding a global lock (Python's GIL) must
/// release it first, or use `Db::execute_interruptible`.
pub fn is_blocking_command(name: &[u8]) -> bool {
    command::find(name).is_some_and(|spec| spec.flags & command::BLOCKING != 0)
}

/// Fault injection for testing how a database handles disk errors (ENOSPC, EIO). Not for
/// production use.
#[doc(hidden)]
pub mod testing {
    pub use crate::storage::fault::{clear, inject, FaultKind, Op};
}

/// The library version (`MAJOR.MINOR.PATCH`).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
