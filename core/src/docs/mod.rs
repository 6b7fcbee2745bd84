//! The document layer: MongoDB-style collections of BSON documents stored in the keyspace.
//!
//! A collection is a keyspace value (`Value::Collection`) under its namespace key
//! (`"<database>.<collection>"`), so snapshots, the log, transactions, DEL/RENAME and INFO
//! cover it, and it is never evicted. Parts:
//! - `value`: MongoDB's comparison order, equality, `$type` names, order-preserving keys.
//! - `query`: the query language (`Filter`), `expr`: aggregation expressions (`$expr`,
//!   update pipelines, projections), `update`: update operators, `projection`, `sort`.
//! - `aggregate`: pipeline stages (the find-shaped ones for now).
//! - `collection`: the stored form (`_id` index, insertion order, memory accounting).
//! - `engine`: find/insert/update/delete/findAndModify on a locked keyspace context, with
//!   oplog-shaped log records; `command`: `run_command` (MongoDB database commands).
//! - `api`: the public Rust API (`Db::collection`).

pub mod error;
pub mod value;

pub mod aggregate;
mod api;
pub mod collection;
pub(crate) mod command;
pub(crate) mod engine;
pub mod expr;
pub mod index;
pub mod inplace;
pub mod projection;
pub mod query;
mod records;
pub mod sort;
pub mod text;
pub mod update;

pub use api::{Collection, Cursor, Database, Find, InsertManyOutcome, UpdateOptions, UpdateResult, CURSOR_BATCH, DEFAULT_DATABASE};
pub use bson::{doc, Bson, Document};
pub use error::DocError;

/// MongoDB's limits: a stored document is at most 16 MiB of BSON...
pub const MAX_DOCUMENT_BYTES: usize = 16 * 1024 * 1024;
/// ...and nests at most 100 levels of documents and arrays.
pub const MAX_DEPTH: usize = 100;
