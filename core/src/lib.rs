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

mod command;
mod config;
mod db;
mod error;
mod keyspace;
mod reply;
mod types;
mod util;

pub use config::Options;
pub use db::{Commands, Db, Session, Tx};
pub use error::{Error, Result};
pub use reply::Reply;

/// The library version (`MAJOR.MINOR.PATCH`).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
