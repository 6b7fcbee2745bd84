//! `run_command`: MongoDB database commands in, MongoDB reply documents out — the shape a
//! driver speaks to a server, so the C ABI, the Python client and a future wire-protocol server
//! share one dispatch table.
//!
//! Each command names what it touches, and only that is locked: a collection's shard (read
//! for queries, write for changes), two shards for a rename, every shard for whole-database
//! commands. Inside a transaction (`run_in`) the caller already holds every lock.
//!
//! Cursors: `find` and `aggregate` return a first batch (101 documents by default, at most
//! 16 MiB) and a cursor id; `getMore` continues. An unsorted `find` resumes its scan from the
//! next record id (nothing is materialised ahead); sorted finds and pipelines keep their
//! remaining results in the cursor. Cursors live until exhausted, killed, or idle for 10 minutes
//! (MongoDB's default `cursorTimeoutMillis`).

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use bson::{doc, Bson, Document};

use super::aggregate::{Merge, Pipeline, Stage, WhenMatched, WhenNotMatched};
use super::collection::{bson_size, to_document};
use super::engine::{self, FindSpec, Namespace, ScanResume, UpdateSpec};
use super::error::codes;
use super::expr::Variables;
use super::index::plan::{check_hint, Hint, KeyRange, Planned, Query};
use super::query::Filter;
use super::sort::Sort;
use super::update::Update;
use super::{DocError, MAX_DOCUMENT_BYTES};
use crate::keyspace::dict::hash_bytes;
use crate::keyspace::{shard_of, Ctx, Keyspace, LockSet};

const DEFAULT_FIRST_BATCH: usize = 101;
const CURSOR_TIMEOUT: Duration = Duration::from_secs(600);

/// A cursor's remaining work.
enum CursorState {
    /// An unsorted find: resume the scan.
    Scan { spec: Box<FindSpec>, resume: ScanResume },
    /// Results computed up front (sorted finds, pipelines).
    Buffered(VecDeque<Document>),
}

struct Cursor {
    ns: Namespace,
    state: CursorState,
    batch_size: usize,
    last_used: Instant,
}

/// Open cursors of one database engine.
#[derive(Default)]
pub(crate) struct Cursors {
    open: HashMap<i64, Cursor>,
}

impl Cursors {
    fn add(&mut self, c: Cursor) -> i64 {
        let now = Instant::now();
        self.open.retain(|_, c| now.duration_since(c.last_used) < CURSOR_TIMEOUT);
        loop {
            let id = (rand::random::<u64>() >> 2) as i64;
            if id != 0 && !self.open.contains_key(&id) {
                self.open.insert(id, c);
                return id;
            }
        }
    }
}

/// The reply for an error.
pub fn error_reply(e: &DocError) -> Document {
    let mut d = doc! {"ok": 0.0, "errmsg": &e.message, "code": e.code, "codeName": e.code_name()};
    if let Some(extra) = e.details.as_deref() {
        for (k, v) in extra {
            d.insert(k.clone(), v.clone());
        }
    }
    d
}

fn write_error(index: usize, e: &DocError) -> Document {
    let mut d = doc! {"index": index as i32, "code": e.code, "errmsg": &e.message};
    if let Some(extra) = e.details.as_deref() {
        for (k, v) in extra {
            d.insert(k.clone(), v.clone());
        }
    }
    d
}

// --- Argument parsing ----------------------------------------------------------------------------

struct Args<'a> {
    name: &'a str,
    cmd: &'a Document,
}

impl<'a> Args<'a> {
    fn wrong(&self, field: &str, v: &Bson, expected: &str) -> DocError {
        DocError::type_mismatch(format!(
            "BSON field '{}.{field}' is the wrong type '{}', expected type{} '{expected}'",
            self.name,
            super::value::type_name(v),
            if expected.contains(',') { "s" } else { "" }
        ))
    }

    fn doc(&self, field: &str) -> Result<Option<&'a Document>, DocError> {
        match self.cmd.get(field) {
            None | Some(Bson::Null) => Ok(None),
            Some(Bson::Document(d)) => Ok(Some(d)),
            Some(v) => Err(self.wrong(field, v, "object")),
        }
    }

    fn array(&self, field: &str) -> Result<Option<&'a Vec<Bson>>, DocError> {
        match self.cmd.get(field) {
            None | Some(Bson::Null) => Ok(None),
            Some(Bson::Array(a)) => Ok(Some(a)),
            Some(v) => Err(self.wrong(field, v, "array")),
        }
    }

    fn bool(&self, field: &str, default: bool) -> Result<bool, DocError> {
        match self.cmd.get(field) {
            None | Some(Bson::Null) => Ok(default),
            Some(Bson::Boolean(b)) => Ok(*b),
            Some(v) if super::value::is_number(v) => Ok(super::value::as_f64(v) != Some(0.0)),
            Some(v) => Err(self.wrong(field, v, "bool")),
        }
    }

    fn int(&self, field: &str) -> Result<Option<i64>, DocError> {
        match self.cmd.get(field) {
            None | Some(Bson::Null) => Ok(None),
            Some(v) => match super::value::as_i64(v) {
                Some(i) => Ok(Some(i)),
                None if super::value::is_number(v) => Err(DocError::bad_value(format!("{field} must be a whole number"))),
                None => Err(self.wrong(field, v, "long, int, decimal, double")),
            },
        }
    }

    fn non_negative(&self, field: &str) -> Result<u64, DocError> {
        match self.int(field)? {
            None => Ok(0),
            Some(n) if n < 0 => Err(DocError::bad_value(format!("{field} value must be non-negative, but received: {n}"))),
            Some(n) => Ok(n as u64),
        }
    }

    fn str(&self, field: &str) -> Result<Option<&'a str>, DocError> {
        match self.cmd.get(field) {
            None | Some(Bson::Null) => Ok(None),
            Some(Bson::String(s)) => Ok(Some(s)),
            Some(v) => Err(self.wrong(field, v, "string")),
        }
    }

    /// The collection named by the command's first field.
    fn collection(&self) -> Result<&'a str, DocError> {
        match self.cmd.get(self.name) {
            Some(Bson::String(s)) => Ok(s),
            Some(v) => Err(DocError::new(
                codes::INVALID_NAMESPACE,
                "InvalidNamespace",
                format!("collection name has invalid type {}", super::value::type_name(v)),
            )),
            None => Err(DocError::bad_value("missing collection name")),
        }
    }

    /// The collection an `aggregate` command reads, or None for the database-level form
    /// (`{aggregate: 1}`, whose pipeline starts with a stage that makes its own documents).
    fn aggregate_collection(&self) -> Result<Option<&'a str>, DocError> {
        match self.cmd.get(self.name) {
            Some(v @ (Bson::Int32(_) | Bson::Int64(_) | Bson::Double(_))) if super::value::as_f64(v) == Some(1.0) => Ok(None),
            _ => self.collection().map(Some),
        }
    }

    fn vars(&self, now: i64) -> Result<Variables, DocError> {
        let now = bson::DateTime::from_millis(now);
        match self.doc("let")? {
            Some(l) => Variables::with_let(now, l),
            None => Ok(Variables::new(now)),
        }
    }

    /// Options every query-shaped command shares: `collation` (refused: nestdb compares
    /// strings by their bytes only) and `hint` (a string or an object; whether it names an
    /// index is checked against the collection by the planner, `check_hint`).
    fn reject_collation(&self) -> Result<(), DocError> {
        if self.cmd.contains_key("collation") {
            return Err(DocError::new(codes::NOT_IMPLEMENTED, "NotImplemented", "collation is not supported by nestdb"));
        }
        Hint::parse(self.cmd.get("hint"))?;
        Ok(())
    }
}

// --- Dispatch ----------------------------------------------------------------------------------

/// What a command needs locked.
enum Needs {
    Nothing,
    Read(String),
    Write(String),
    WriteTwo(String, String),
    /// Several collections (an aggregation reading others, or writing with `$out`/`$merge`).
    Keys(Vec<String>, bool),
    AllRead,
    AllWrite,
}

fn command_name(cmd: &Document) -> Result<&str, DocError> {
    cmd.keys().next().map(String::as_str).ok_or_else(|| DocError::failed_to_parse("no command name: the command document is empty"))
}

/// Canonical spelling of a command name (MongoDB accepts some lowercase aliases).
fn canonical(name: &str) -> &str {
    match name {
        "findandmodify" => "findAndModify",
        "getmore" => "getMore",
        "dbstats" => "dbStats",
        "collstats" => "collStats",
        "listcollections" => "listCollections",
        "listdatabases" => "listDatabases",
        "renamecollection" => "renameCollection",
        "dropdatabase" => "dropDatabase",
        "ismaster" | "isMaster" => "hello",
        "buildinfo" => "buildInfo",
        "createindexes" => "createIndexes",
        "listindexes" => "listIndexes",
        "dropindexes" | "deleteIndexes" | "deleteindexes" => "dropIndexes",
        n => n,
    }
}

fn needs(db: &str, name: &str, cmd: &Document) -> Result<Needs, DocError> {
    let args = Args { name, cmd };
    let ns_key = |coll: &str| Namespace::new(db, coll).map(|n| n.key().to_string());
    Ok(match name {
        "aggregate" => {
            let main = args.aggregate_collection()?.map(ns_key).transpose()?;
            // The collections the pipeline reads and writes: parsed once here for the locks
            // (a pipeline that does not parse locks only its own collection and fails later).
            let stages = args.array("pipeline")?.map(Vec::as_slice).unwrap_or(&[]);
            match Pipeline::parse(stages, &Variables::new(bson::DateTime::from_millis(0))) {
                Ok(p) => {
                    let mut keys: Vec<String> = main.into_iter().collect();
                    for f in p.foreign_collections() {
                        keys.push(ns_key(&f)?);
                    }
                    let out =
                        p.output_collection().map(|(d, c)| Namespace::new(d.unwrap_or(db), c).map(|n| n.key().to_string())).transpose()?;
                    let write = out.is_some();
                    keys.extend(out);
                    if keys.is_empty() {
                        Needs::Nothing
                    } else if keys.len() == 1 && !write {
                        Needs::Read(keys.pop().expect("one key"))
                    } else {
                        Needs::Keys(keys, write)
                    }
                }
                Err(_) => main.map_or(Needs::Nothing, Needs::Read),
            }
        }
        "find" | "count" | "distinct" | "collStats" | "listIndexes" => Needs::Read(ns_key(args.collection()?)?),
        "insert" | "update" | "delete" | "findAndModify" | "create" | "drop" | "createIndexes" | "dropIndexes" => {
            Needs::Write(ns_key(args.collection()?)?)
        }
        "getMore" => {
            let coll = args.str("collection")?.ok_or_else(|| DocError::bad_value("getMore requires 'collection'"))?;
            Needs::Read(Namespace::of_cursor(db, coll)?.key().to_string())
        }
        "explain" => match cmd.get("explain") {
            Some(Bson::Document(inner)) => {
                let inner_name = canonical(command_name(inner)?);
                match needs(db, inner_name, inner)? {
                    Needs::Write(k) => Needs::Read(k),
                    Needs::Keys(k, _) => Needs::Keys(k, false),
                    n => n,
                }
            }
            _ => return Err(DocError::failed_to_parse("explain requires a command document")),
        },
        "renameCollection" => {
            let from = args.str("renameCollection")?.ok_or_else(|| DocError::bad_value("renameCollection requires a namespace"))?;
            let to = args.str("to")?.ok_or_else(|| DocError::bad_value("renameCollection requires 'to'"))?;
            Needs::WriteTwo(Namespace::parse(from)?.key().to_string(), Namespace::parse(to)?.key().to_string())
        }
        "listCollections" | "dbStats" | "listDatabases" => Needs::AllRead,
        "dropDatabase" => Needs::AllWrite,
        "killCursors" | "ping" | "hello" | "buildInfo" | "serverStatus" | "connectionStatus" | "getLastError" => Needs::Nothing,
        other => {
            return Err(DocError::new(codes::COMMAND_NOT_FOUND, "CommandNotFound", format!("no such command: '{other}'")));
        }
    })
}

/// Run one database command against the keyspace, taking the locks it needs.
pub(crate) fn run(ks: &Keyspace, db: &str, cmd: &Document) -> Document {
    match run_locking(ks, db, cmd) {
        Ok(reply) => reply,
        Err(e) => error_reply(&e),
    }
}

/// Fields every command may carry that nestdb has no use for (sessions, read/write concerns,
/// cluster time: one embedded process has one consistent view), dropped before dispatch.
fn strip_generic(cmd: &Document) -> std::borrow::Cow<'_, Document> {
    const GENERIC: [&str; 9] =
        ["lsid", "txnNumber", "autocommit", "startTransaction", "writeConcern", "readConcern", "apiVersion", "apiStrict", "maxTimeMS"];
    let generic = |k: &str| (k.starts_with('$') && k != "$db") || GENERIC.contains(&k);
    if !cmd.keys().skip(1).any(|k| generic(k)) {
        return std::borrow::Cow::Borrowed(cmd);
    }
    let mut out = Document::new();
    for (i, (k, v)) in cmd.iter().enumerate() {
        if i == 0 || !generic(k) {
            out.insert(k.clone(), v.clone());
        }
    }
    std::borrow::Cow::Owned(out)
}

fn run_locking(ks: &Keyspace, db: &str, cmd: &Document) -> Result<Document, DocError> {
    engine::check_db_name(db)?;
    let cmd = &*strip_generic(cmd);
    let name = canonical(command_name(cmd)?);
    let need = needs(db, name, cmd)?;
    let (set, write) = match &need {
        Needs::Nothing => (LockSet::None, false),
        Needs::Read(k) => (LockSet::One(shard_of(hash_bytes(k.as_bytes()))), false),
        Needs::Write(k) => (LockSet::One(shard_of(hash_bytes(k.as_bytes()))), true),
        Needs::WriteTwo(a, b) => (LockSet::for_keys([a.as_bytes(), b.as_bytes()].into_iter()), true),
        Needs::Keys(keys, write) => (LockSet::for_keys(keys.iter().map(String::as_bytes)), *write),
        Needs::AllRead => (LockSet::All, false),
        Needs::AllWrite => (LockSet::All, true),
    };
    if write {
        ks.check_writable()
            .map_err(|r| DocError::new(codes::COMMAND_FAILED, "CommandFailed", r.error_text().unwrap_or("not writable").to_string()))?;
    }
    let mut ctx = ks.lock(&set, write);
    if write && ctx.out_of_memory() && matches!(name, "insert" | "update" | "findAndModify" | "create") {
        return Err(DocError::new(146, "ExceededMemoryLimit", crate::keyspace::evict::OOM));
    }
    let reply = execute(&mut ctx, db, name, cmd);
    let seq = ctx.finish();
    drop(ctx);
    if write {
        crate::keyspace::evict::make_room(ks);
    }
    ks.wait_durable(seq)
        .map_err(|r| DocError::new(codes::COMMAND_FAILED, "CommandFailed", r.error_text().unwrap_or("not durable").to_string()))?;
    reply
}

/// Run one command inside a context that already holds every shard for writing (transactions).
pub(crate) fn run_in(ctx: &mut Ctx<'_>, db: &str, cmd: &Document) -> Document {
    let cmd = &*strip_generic(cmd);
    let r = engine::check_db_name(db).and_then(|_| command_name(cmd)).and_then(|n| {
        let name = canonical(n);
        needs(db, name, cmd)?;
        execute(ctx, db, name, cmd)
    });
    r.unwrap_or_else(|e| error_reply(&e))
}

fn execute(ctx: &mut Ctx<'_>, db: &str, name: &str, cmd: &Document) -> Result<Document, DocError> {
    let args = Args { name, cmd };
    match name {
        "ping" => Ok(doc! {"ok": 1.0}),
        "hello" => Ok(doc! {
            "isWritablePrimary": true, "ismaster": true, "maxBsonObjectSize": MAX_DOCUMENT_BYTES as i32,
            "maxMessageSizeBytes": 48_000_000, "maxWriteBatchSize": 100_000, "localTime": bson::DateTime::now(),
            "minWireVersion": 0, "maxWireVersion": 21, "readOnly": false, "ok": 1.0,
        }),
        "buildInfo" => Ok(
            doc! {"version": "7.0.0", "gitVersion": "nestdb", "nestdbVersion": crate::VERSION, "versionArray": [7, 0, 0, 0], "bits": 64, "maxBsonObjectSize": MAX_DOCUMENT_BYTES as i32, "ok": 1.0},
        ),
        "serverStatus" | "connectionStatus" | "getLastError" => Ok(doc! {"ok": 1.0}),
        "insert" => cmd_insert(ctx, db, &args),
        "find" => cmd_find(ctx, db, &args),
        "getMore" => cmd_get_more(ctx, db, &args),
        "killCursors" => cmd_kill_cursors(ctx, &args),
        "update" => cmd_update(ctx, db, &args),
        "delete" => cmd_delete(ctx, db, &args),
        "findAndModify" => cmd_find_and_modify(ctx, db, &args),
        "count" => cmd_count(ctx, db, &args),
        "distinct" => cmd_distinct(ctx, db, &args),
        "aggregate" => cmd_aggregate(ctx, db, &args),
        "create" => {
            let ns = Namespace::new(db, args.collection()?)?;
            // Options that would change the collection's behaviour are refused, never ignored.
            if let Some(opt) = cmd.keys().skip(1).find(|k| {
                !matches!(k.as_str(), "comment" | "writeConcern" | "capped")
                    || (k.as_str() == "capped" && args.bool("capped", false).unwrap_or(true))
            }) {
                return Err(DocError::new(
                    codes::NOT_IMPLEMENTED,
                    "NotImplemented",
                    format!("create option '{opt}' is not supported by nestdb"),
                ));
            }
            engine::create(ctx, &ns)?;
            Ok(doc! {"ok": 1.0})
        }
        "drop" => {
            let ns = Namespace::new(db, args.collection()?)?;
            let n = engine::collection(ctx, &ns)?.map(|c| c.len());
            if !engine::drop(ctx, &ns)? {
                return Err(DocError::new(codes::NAMESPACE_NOT_FOUND, "NamespaceNotFound", "ns not found"));
            }
            Ok(doc! {"nIndexesWas": 1, "ns": ns.key(), "n": n.unwrap_or(0) as i32, "ok": 1.0})
        }
        "dropDatabase" => {
            let prefix = format!("{db}.");
            for (key, ..) in engine::list_all(ctx) {
                if let Some(coll) = key.strip_prefix(&prefix) {
                    engine::drop(ctx, &Namespace::new(db, coll)?)?;
                }
            }
            Ok(doc! {"dropped": db, "ok": 1.0})
        }
        "renameCollection" => {
            let from = Namespace::parse(args.str("renameCollection")?.unwrap_or_default())?;
            let to = Namespace::parse(args.str("to")?.unwrap_or_default())?;
            engine::rename(ctx, &from, &to, args.bool("dropTarget", false)?)?;
            Ok(doc! {"ok": 1.0})
        }
        "listCollections" => cmd_list_collections(ctx, db, &args),
        "listDatabases" => {
            let mut dbs: std::collections::BTreeMap<String, (i64, bool)> = std::collections::BTreeMap::new();
            for (key, n, size, _) in engine::list_all(ctx) {
                if let Some((d, _)) = key.split_once('.') {
                    let e = dbs.entry(d.to_string()).or_insert((0, true));
                    e.0 += size as i64;
                    e.1 &= n == 0;
                }
            }
            let name_only = args.bool("nameOnly", false)?;
            let total: i64 = dbs.values().map(|v| v.0).sum();
            let list: Vec<Bson> = dbs
                .into_iter()
                .map(|(name, (size, empty))| {
                    if name_only {
                        Bson::Document(doc! {"name": name})
                    } else {
                        Bson::Document(doc! {"name": name, "sizeOnDisk": size, "empty": empty})
                    }
                })
                .collect();
            Ok(doc! {"databases": list, "totalSize": total, "ok": 1.0})
        }
        "dbStats" => {
            let prefix = format!("{db}.");
            let (mut colls, mut objects, mut data, mut mem) = (0i64, 0i64, 0i64, 0i64);
            for (key, n, size, m) in engine::list_all(ctx) {
                if key.starts_with(&prefix) {
                    colls += 1;
                    objects += n as i64;
                    data += size as i64;
                    mem += m as i64;
                }
            }
            let avg = if objects > 0 { data as f64 / objects as f64 } else { 0.0 };
            Ok(doc! {
                "db": db, "collections": colls, "views": 0, "objects": objects, "avgObjSize": avg,
                "dataSize": data as f64, "storageSize": mem as f64, "indexes": colls, "indexSize": 0.0,
                "totalSize": mem as f64, "scaleFactor": 1, "ok": 1.0,
            })
        }
        "collStats" => {
            let ns = Namespace::new(db, args.collection()?)?;
            let Some(c) = engine::collection(ctx, &ns)? else {
                return Err(DocError::new(
                    codes::NAMESPACE_NOT_FOUND,
                    "NamespaceNotFound",
                    format!("Collection [{}] not found.", ns.key()),
                ));
            };
            let size = c.data_size() as i64;
            let count = c.len() as i64;
            // The `_id` index's size is counted with the documents (it is part of the stored
            // collection); secondary indexes report their entries' footprint.
            let mut sizes = doc! {"_id_": 0_i64};
            for i in c.indexes().iter() {
                sizes.insert(i.spec.name.clone(), i.mem_usage() as i64);
            }
            let total = c.indexes().mem_usage() as i64;
            Ok(doc! {
                "ns": ns.key(), "size": size, "count": count,
                "avgObjSize": if count > 0 { size / count } else { 0 },
                "storageSize": (c.mem_usage() as i64 - total), "nindexes": (c.indexes().len() + 1) as i32, "totalIndexSize": total,
                "indexSizes": sizes, "capped": false, "ok": 1.0,
            })
        }
        "explain" => cmd_explain(ctx, db, &args),
        "createIndexes" => {
            let ns = Namespace::new(db, args.collection()?)?;
            let specs = args
                .array("indexes")?
                .ok_or_else(|| DocError::bad_value("BSON field 'createIndexes.indexes' is missing but a required field"))?;
            let specs = documents_of(specs, "createIndexes.indexes")?;
            let c = super::index::ddl::create_indexes(ctx, &ns, &specs)?;
            let mut reply = doc! {
                "numIndexesBefore": c.before as i32, "numIndexesAfter": c.after as i32,
                "createdCollectionAutomatically": c.created_collection,
            };
            if c.before == c.after {
                reply.insert("note", "all indexes already exist");
            }
            reply.insert("ok", 1.0);
            Ok(reply)
        }
        "listIndexes" => {
            let ns = Namespace::new(db, args.collection()?)?;
            let list = super::index::ddl::list_indexes(ctx, &ns)?;
            Ok(
                doc! {"cursor": {"id": 0_i64, "ns": ns.key(), "firstBatch": list.into_iter().map(Bson::Document).collect::<Vec<_>>()}, "ok": 1.0},
            )
        }
        "dropIndexes" => {
            let ns = Namespace::new(db, args.collection()?)?;
            let which = super::index::ddl::Which::parse(args.cmd.get("index"))?;
            let was = super::index::ddl::drop_indexes(ctx, &ns, &which)?;
            Ok(doc! {"nIndexesWas": was as i32, "ok": 1.0})
        }
        other => Err(DocError::new(codes::COMMAND_NOT_FOUND, "CommandNotFound", format!("no such command: '{other}'"))),
    }
}

// --- Writes ----------------------------------------------------------------------------------------

fn documents_of(v: &[Bson], field: &str) -> Result<Vec<Document>, DocError> {
    v.iter()
        .map(|d| match d {
            Bson::Document(d) => Ok(d.clone()),
            other => Err(DocError::type_mismatch(format!(
                "BSON field '{field}' entries must be objects, found {}",
                super::value::type_name(other)
            ))),
        })
        .collect()
}

fn cmd_insert(ctx: &mut Ctx<'_>, db: &str, args: &Args<'_>) -> Result<Document, DocError> {
    let ns = Namespace::new(db, args.collection()?)?;
    let docs = documents_of(
        args.array("documents")?.ok_or_else(|| DocError::bad_value("BSON field 'insert.documents' is missing but a required field"))?,
        "insert.documents",
    )?;
    let ordered = args.bool("ordered", true)?;
    let out = engine::insert(ctx, &ns, docs, ordered)?;
    let mut reply = doc! {"n": out.inserted.len() as i32};
    if !out.errors.is_empty() {
        reply.insert("writeErrors", out.errors.iter().map(|(i, e)| Bson::Document(write_error(*i, e))).collect::<Vec<_>>());
    }
    reply.insert("ok", 1.0);
    Ok(reply)
}

fn cmd_update(ctx: &mut Ctx<'_>, db: &str, args: &Args<'_>) -> Result<Document, DocError> {
    args.reject_collation()?;
    let ns = Namespace::new(db, args.collection()?)?;
    let updates =
        args.array("updates")?.ok_or_else(|| DocError::bad_value("BSON field 'update.updates' is missing but a required field"))?;
    let ordered = args.bool("ordered", true)?;
    let vars = args.vars(ctx.now())?;
    let (mut n, mut modified) = (0i64, 0i64);
    let mut upserted = Vec::new();
    let mut errors = Vec::new();
    for (i, u) in updates.iter().enumerate() {
        let r = (|| {
            let Bson::Document(stmt) = u else {
                return Err(DocError::type_mismatch("BSON field 'update.updates' entries must be objects"));
            };
            let sa = Args { name: "update.updates", cmd: stmt };
            sa.reject_collation()?;
            if let Some(c) = engine::collection(ctx, &ns)? {
                check_hint(c, &Hint::parse(stmt.get("hint"))?)?;
            }
            let q = sa.doc("q")?.cloned().unwrap_or_default();
            let spec_u =
                stmt.get("u").ok_or_else(|| DocError::bad_value("BSON field 'update.updates.u' is missing but a required field"))?;
            let filters = documents_of(sa.array("arrayFilters")?.map(Vec::as_slice).unwrap_or(&[]), "arrayFilters")?;
            let spec = UpdateSpec {
                filter: Filter::parse(&q, &vars)?,
                update: Update::parse(spec_u, &filters, &vars)?.into(),
                deferred: None,
                upsert: sa.bool("upsert", false)?,
                multi: sa.bool("multi", false)?,
                sort: sa.doc("sort")?.filter(|s| !s.is_empty()).map(Sort::parse).transpose()?,
                return_docs: false,
                in_place: if filters.is_empty() { super::inplace::InPlace::from_spec(spec_u) } else { None },
            };
            engine::update(ctx, &ns, &spec)
        })();
        match r {
            Ok(o) => {
                if let Some(id) = o.upserted_id {
                    n += 1;
                    upserted.push(Bson::Document(doc! {"index": i as i32, "_id": id}));
                } else {
                    n += o.matched as i64;
                    modified += o.modified as i64;
                }
            }
            Err(e) => {
                errors.push(Bson::Document(write_error(i, &e)));
                if ordered {
                    break;
                }
            }
        }
    }
    let mut reply = doc! {"n": n as i32, "nModified": modified as i32};
    if !upserted.is_empty() {
        reply.insert("upserted", upserted);
    }
    if !errors.is_empty() {
        reply.insert("writeErrors", errors);
    }
    reply.insert("ok", 1.0);
    Ok(reply)
}

fn cmd_delete(ctx: &mut Ctx<'_>, db: &str, args: &Args<'_>) -> Result<Document, DocError> {
    args.reject_collation()?;
    let ns = Namespace::new(db, args.collection()?)?;
    let deletes =
        args.array("deletes")?.ok_or_else(|| DocError::bad_value("BSON field 'delete.deletes' is missing but a required field"))?;
    let ordered = args.bool("ordered", true)?;
    let vars = args.vars(ctx.now())?;
    let mut n = 0i64;
    let mut errors = Vec::new();
    for (i, d) in deletes.iter().enumerate() {
        let r = (|| {
            let Bson::Document(stmt) = d else {
                return Err(DocError::type_mismatch("BSON field 'delete.deletes' entries must be objects"));
            };
            let sa = Args { name: "delete.deletes", cmd: stmt };
            sa.reject_collation()?;
            if let Some(c) = engine::collection(ctx, &ns)? {
                check_hint(c, &Hint::parse(stmt.get("hint"))?)?;
            }
            let q = sa.doc("q")?.ok_or_else(|| DocError::bad_value("BSON field 'delete.deletes.q' is missing but a required field"))?;
            let limit =
                sa.int("limit")?.ok_or_else(|| DocError::bad_value("BSON field 'delete.deletes.limit' is missing but a required field"))?;
            if limit != 0 && limit != 1 {
                return Err(DocError::failed_to_parse(format!("The limit field in delete objects must be 0 or 1. Got {limit}")));
            }
            let filter = Filter::parse(q, &vars)?;
            engine::delete(ctx, &ns, &filter, limit == 0, None)
        })();
        match r {
            Ok(deleted) => n += deleted.len() as i64,
            Err(e) => {
                errors.push(Bson::Document(write_error(i, &e)));
                if ordered {
                    break;
                }
            }
        }
    }
    let mut reply = doc! {"n": n as i32};
    if !errors.is_empty() {
        reply.insert("writeErrors", errors);
    }
    reply.insert("ok", 1.0);
    Ok(reply)
}

fn cmd_find_and_modify(ctx: &mut Ctx<'_>, db: &str, args: &Args<'_>) -> Result<Document, DocError> {
    args.reject_collation()?;
    let ns = Namespace::new(db, args.collection()?)?;
    let vars = args.vars(ctx.now())?;
    let query = args.doc("query")?.cloned().unwrap_or_default();
    let filter = Filter::parse(&query, &vars)?;
    let sort = args.doc("sort")?.filter(|s| !s.is_empty()).map(Sort::parse).transpose()?;
    let projection = args.doc("fields")?.filter(|p| !p.is_empty()).map(|p| super::projection::Projection::parse(p, &vars)).transpose()?;
    let remove = args.bool("remove", false)?;
    let new = args.bool("new", false)?;
    let upsert = args.bool("upsert", false)?;
    let update = args.cmd.get("update");
    let project = |d: Option<Document>| -> Result<Bson, DocError> {
        Ok(match (d, &projection) {
            (None, _) => Bson::Null,
            (Some(d), Some(p)) => Bson::Document(p.apply(&d, Some(&filter))?),
            (Some(d), None) => Bson::Document(d),
        })
    };
    if remove {
        if update.is_some() {
            return Err(DocError::failed_to_parse("Cannot specify both an update and remove=true"));
        }
        if upsert || new {
            return Err(DocError::failed_to_parse("Cannot specify both upsert=true and remove=true"));
        }
        let deleted = engine::delete(ctx, &ns, &filter, false, sort.as_ref())?.into_iter().next().map(|d| to_document(&d)).transpose()?;
        let n = i32::from(deleted.is_some());
        return Ok(doc! {"lastErrorObject": {"n": n}, "value": project(deleted)?, "ok": 1.0});
    }
    let Some(update) = update else {
        return Err(DocError::failed_to_parse("Either an update or remove=true must be specified"));
    };
    let filters = documents_of(args.array("arrayFilters")?.map(Vec::as_slice).unwrap_or(&[]), "arrayFilters")?;
    let spec = UpdateSpec {
        filter: filter.clone(),
        update: Update::parse(update, &filters, &vars)?.into(),
        deferred: None,
        upsert,
        multi: false,
        sort,
        return_docs: true,
        in_place: None,
    };
    let out = engine::update(ctx, &ns, &spec)?;
    let value = if out.upserted_id.is_some() {
        if new {
            out.last_after.clone()
        } else {
            None
        }
    } else if new {
        out.last_after.clone()
    } else {
        out.last_before.clone()
    };
    let mut leo = doc! {"n": i32::from(out.matched > 0 || out.upserted_id.is_some()), "updatedExisting": out.matched > 0};
    if let Some(id) = out.upserted_id {
        leo.insert("upserted", id);
    }
    Ok(doc! {"lastErrorObject": leo, "value": project(value)?, "ok": 1.0})
}

// --- Reads -----------------------------------------------------------------------------------------

fn batch_reply(ns: &Namespace, id: i64, first: bool, docs: Vec<Document>) -> Document {
    let field = if first { "firstBatch" } else { "nextBatch" };
    let mut cursor = doc! {};
    cursor.insert(field, docs.into_iter().map(Bson::Document).collect::<Vec<_>>());
    cursor.insert("id", id);
    cursor.insert("ns", ns.key());
    doc! {"cursor": cursor, "ok": 1.0}
}

/// Take up to `n` documents (and at most 16 MiB) from a buffer.
fn take_batch(buf: &mut VecDeque<Document>, n: usize) -> Vec<Document> {
    let mut out = Vec::new();
    let mut bytes = 0;
    while out.len() < n {
        let Some(d) = buf.front() else { break };
        let size = bson_size(d);
        if !out.is_empty() && bytes + size > MAX_DOCUMENT_BYTES {
            break;
        }
        bytes += size;
        out.push(buf.pop_front().expect("front exists"));
    }
    out
}

fn batch_size_of(args: &Args<'_>, field: &str, default: usize) -> Result<usize, DocError> {
    match args.int(field)? {
        None => Ok(default),
        Some(n) if n < 0 => Err(DocError::bad_value(format!("BSON field 'batchSize' value must be >= 0, actual value '{n}'"))),
        Some(0) if field == "batchSize" && default != usize::MAX => Ok(0),
        Some(n) => Ok(n as usize),
    }
}

fn cmd_find(ctx: &mut Ctx<'_>, db: &str, args: &Args<'_>) -> Result<Document, DocError> {
    args.reject_collation()?;
    let ns = Namespace::new(db, args.collection()?)?;
    let vars = args.vars(ctx.now())?;
    let filter = args.doc("filter")?.cloned().unwrap_or_default();
    let skip = args.non_negative("skip")?;
    let mut single = args.bool("singleBatch", false)?;
    let limit = match args.int("limit")? {
        None => 0,
        Some(n) if n < 0 => {
            single = true;
            n.unsigned_abs()
        }
        Some(n) => n as u64,
    };
    let mut spec = FindSpec::parse(&filter, args.doc("sort")?, args.doc("projection")?, skip, limit, &vars)?;
    spec.hint = Hint::parse(args.cmd.get("hint"))?;
    spec.key_range = KeyRange { min: args.doc("min")?.cloned(), max: args.doc("max")?.cloned() };
    spec.show_record_id = args.bool("showRecordId", false)?;
    spec.return_key = args.bool("returnKey", false)?;
    let batch = batch_size_of(args, "batchSize", DEFAULT_FIRST_BATCH)?;
    let Some(coll) = engine::collection(ctx, &ns)? else {
        return Ok(batch_reply(&ns, 0, true, Vec::new()));
    };
    let first_batch = if single { usize::MAX } else { batch };
    let (docs, resume) = engine::find_in(coll, &spec, None, first_batch)?;
    let (first, state) = match resume {
        Some(resume) => (docs, Some(CursorState::Scan { spec: Box::new(spec), resume })),
        // Everything was computed at once (sorted, or planned through an index): batches
        // come from the buffer.
        None => {
            let mut buf: VecDeque<Document> = docs.into();
            let first = take_batch(&mut buf, first_batch);
            (first, (!buf.is_empty()).then_some(CursorState::Buffered(buf)))
        }
    };
    let id = match state {
        Some(state) if !single => {
            ctx.keyspace().doc_cursors.lock().add(Cursor { ns: ns.clone(), state, batch_size: 0, last_used: Instant::now() })
        }
        _ => 0,
    };
    Ok(batch_reply(&ns, id, true, first))
}

/// A `find` whose whole answer fits one batch, answered with the stored bytes of its documents
/// (no decoding into `Document`s and back: the Python client's fast path for `find(...)
/// .limit(n)`). Ok(None) when the command is not such a find; the caller then runs it as a
/// command.
pub(crate) fn find_first_batch_raw(ctx: &Ctx<'_>, db: &str, cmd: &Document) -> Result<Option<Vec<bson::RawDocumentBuf>>, DocError> {
    const FIELDS: [&str; 10] = ["find", "filter", "sort", "projection", "skip", "limit", "singleBatch", "batchSize", "hint", "let"];
    if command_name(cmd)? != "find" || cmd.keys().any(|k| !FIELDS.contains(&k.as_str())) {
        return Ok(None);
    }
    let args = Args { name: "find", cmd };
    let limit = args.int("limit")?.unwrap_or(0).unsigned_abs();
    let batch = args.int("batchSize")?.map_or(DEFAULT_FIRST_BATCH as u64, |b| b.max(0) as u64);
    let single = args.bool("singleBatch", false)? || args.int("limit")?.is_some_and(|l| l < 0);
    if limit == 0 || (!single && limit > batch) {
        return Ok(None);
    }
    args.reject_collation()?;
    let ns = Namespace::new(db, args.collection()?)?;
    let vars = args.vars(ctx.now())?;
    let filter = args.doc("filter")?.cloned().unwrap_or_default();
    let mut spec = FindSpec::parse(&filter, args.doc("sort")?, args.doc("projection")?, args.non_negative("skip")?, limit, &vars)?;
    spec.hint = Hint::parse(args.cmd.get("hint"))?;
    match engine::collection(ctx, &ns)? {
        Some(coll) => engine::find_raw_in(coll, &spec).map(Some),
        None => Ok(Some(Vec::new())),
    }
}

fn cmd_get_more(ctx: &mut Ctx<'_>, db: &str, args: &Args<'_>) -> Result<Document, DocError> {
    let id = match args.cmd.get("getMore") {
        Some(Bson::Int64(i)) => *i,
        Some(Bson::Int32(i)) => i64::from(*i),
        Some(v) => return Err(args.wrong("getMore", v, "long")),
        None => 0,
    };
    let coll_name = args.str("collection")?.unwrap_or_default();
    let ns = Namespace::of_cursor(db, coll_name)?;
    let batch = batch_size_of(args, "batchSize", usize::MAX)?;
    let batch = if batch == 0 { usize::MAX } else { batch };
    let ks = ctx.keyspace();
    let mut cursor = ks
        .doc_cursors
        .lock()
        .open
        .remove(&id)
        .ok_or_else(|| DocError::new(codes::CURSOR_NOT_FOUND, "CursorNotFound", format!("cursor id {id} not found")))?;
    if cursor.ns != ns {
        let msg = format!("Requested getMore on namespace '{}', but cursor belongs to a different namespace {}", ns.key(), cursor.ns.key());
        ks.doc_cursors.lock().open.insert(id, cursor);
        return Err(DocError::new(13, "Unauthorized", msg));
    }
    let batch = if cursor.batch_size > 0 && batch == usize::MAX { cursor.batch_size } else { batch };
    let (docs, done) = match &mut cursor.state {
        CursorState::Buffered(buf) => {
            let docs = take_batch(buf, batch);
            let done = buf.is_empty();
            (docs, done)
        }
        CursorState::Scan { spec, resume } => {
            let Some(coll) = engine::collection(ctx, &ns)? else {
                return Err(DocError::new(175, "QueryPlanKilled", "collection dropped during the query"));
            };
            // Unbounded getMore batches stop at 16 MiB worth of documents.
            let (docs, next) = engine::find_in(coll, spec, Some(resume.clone()), batch.min(1 << 20))?;
            match next {
                Some(n) => {
                    *resume = n;
                    (docs, false)
                }
                None => (docs, true),
            }
        }
    };
    let id = if done {
        0
    } else {
        cursor.last_used = Instant::now();
        ks.doc_cursors.lock().open.insert(id, cursor);
        id
    };
    Ok(batch_reply(&ns, id, false, docs))
}

fn cmd_kill_cursors(ctx: &mut Ctx<'_>, args: &Args<'_>) -> Result<Document, DocError> {
    let ids =
        args.array("cursors")?.ok_or_else(|| DocError::bad_value("BSON field 'killCursors.cursors' is missing but a required field"))?;
    let mut killed = Vec::new();
    let mut not_found = Vec::new();
    let mut cursors = ctx.keyspace().doc_cursors.lock();
    for v in ids {
        let id = super::value::as_i64(v).unwrap_or(0);
        if cursors.open.remove(&id).is_some() {
            killed.push(Bson::Int64(id));
        } else {
            not_found.push(Bson::Int64(id));
        }
    }
    Ok(doc! {"cursorsKilled": killed, "cursorsNotFound": not_found, "cursorsAlive": [], "cursorsUnknown": [], "ok": 1.0})
}

fn cmd_count(ctx: &mut Ctx<'_>, db: &str, args: &Args<'_>) -> Result<Document, DocError> {
    args.reject_collation()?;
    let ns = Namespace::new(db, args.collection()?)?;
    let vars = args.vars(ctx.now())?;
    let filter = Filter::parse(&args.doc("query")?.cloned().unwrap_or_default(), &vars)?;
    let skip = args.non_negative("skip")?;
    let limit = args.int("limit")?.unwrap_or(0).unsigned_abs();
    let hint = Hint::parse(args.cmd.get("hint"))?;
    let n = match engine::collection(ctx, &ns)? {
        Some(c) if hint != Hint::None => {
            let q = Query { skip, limit, count_only: true, ..Query::new(&filter, &hint) };
            Planned::new(c, &q)?.run(c, &q)?.count
        }
        Some(c) => engine::count_in(c, &filter, skip, limit)?,
        None => 0,
    };
    Ok(doc! {"n": append_number(n), "ok": 1.0})
}

/// A count as MongoDB's `BSONObjBuilder::appendNumber(long long)` writes it (the `count`
/// command's `n`): an int32 below 2^30, a double below 2^40, else an int64.
fn append_number(n: u64) -> Bson {
    if n < 1 << 30 {
        Bson::Int32(n as i32)
    } else if n < 1 << 40 {
        Bson::Double(n as f64)
    } else {
        Bson::Int64(i64::try_from(n).unwrap_or(i64::MAX))
    }
}

fn cmd_distinct(ctx: &mut Ctx<'_>, db: &str, args: &Args<'_>) -> Result<Document, DocError> {
    args.reject_collation()?;
    let ns = Namespace::new(db, args.collection()?)?;
    let vars = args.vars(ctx.now())?;
    let key = args.str("key")?.ok_or_else(|| DocError::bad_value("BSON field 'distinct.key' is missing but a required field"))?;
    let filter = Filter::parse(&args.doc("query")?.cloned().unwrap_or_default(), &vars)?;
    let values = match engine::collection(ctx, &ns)? {
        Some(c) => engine::distinct_in(c, key, &filter)?,
        None => Vec::new(),
    };
    Ok(doc! {"values": values, "ok": 1.0})
}

fn cmd_aggregate(ctx: &mut Ctx<'_>, db: &str, args: &Args<'_>) -> Result<Document, DocError> {
    args.reject_collation()?;
    let collection = args.aggregate_collection()?;
    let ns = match collection {
        Some(c) => Namespace::new(db, c)?,
        None => Namespace::db_aggregate(db)?,
    };
    let vars = args.vars(ctx.now())?;
    let stages =
        args.array("pipeline")?.ok_or_else(|| DocError::bad_value("BSON field 'aggregate.pipeline' is missing but a required field"))?;
    let cursor_opts = match args.cmd.get("cursor") {
        Some(Bson::Document(d)) => d.clone(),
        None if args.bool("explain", false)? => Document::new(),
        None => return Err(DocError::failed_to_parse("The 'cursor' option is required, except for aggregate with the explain argument")),
        Some(v) => return Err(args.wrong("cursor", v, "object")),
    };
    let batch = batch_size_of(&Args { name: "aggregate.cursor", cmd: &cursor_opts }, "batchSize", DEFAULT_FIRST_BATCH)?;
    let pipeline = Pipeline::parse(stages, &vars)?;
    if collection.is_none() && !matches!(pipeline.stages().first(), Some(Stage::Documents(_))) {
        let first = stages.first().and_then(|s| s.as_document()).and_then(|d| d.keys().next().cloned()).unwrap_or_default();
        return Err(DocError::new(
            codes::INVALID_NAMESPACE,
            "InvalidNamespace",
            format!("{{aggregate: 1}} is not valid for '{first}'; a collection is required."),
        ));
    }
    if args.bool("explain", false)? {
        return explain_aggregate(ctx, &ns, &pipeline, stages, "queryPlanner");
    }
    // A leading $match / $sort runs through the planner (indexes, text search).
    let (lead_filter, lead_sort, consumed) = pipeline.leading();
    let source = match collection {
        Some(_) => engine::collection(ctx, &ns)?,
        None => None,
    };
    let stats = match pipeline.stats_source() {
        Some(stage) => Some(stats_documents(source, &ns, stage)?),
        None => None,
    };
    let (input, pipeline) = match source {
        _ if stats.is_some() => (stats.unwrap_or_default(), pipeline.tail(1)),
        Some(c) if consumed > 0 && (!c.indexes().is_empty() || lead_filter.is_some_and(Filter::has_text)) => {
            let everything = Filter::parse(&Document::new(), &vars)?;
            let hint = Hint::parse(args.cmd.get("hint"))?;
            let q = Query { sort: lead_sort, ..Query::new(lead_filter.unwrap_or(&everything), &hint) };
            let outcome = Planned::new(c, &q)?.run(c, &q)?;
            let mut docs = Vec::with_capacity(outcome.docs.len());
            for p in outcome.docs {
                if let super::index::plan::Produced::Record(rid, score) = p {
                    if let Some(d) = c.get(rid) {
                        let mut d = to_document(d)?;
                        if let Some(s) = score {
                            d.insert(super::expr::TEXT_SCORE_FIELD, s);
                        }
                        docs.push(d);
                    }
                }
            }
            (docs, pipeline.tail(consumed))
        }
        Some(c) => (c.iter().map(to_document).collect::<Result<Vec<_>, _>>()?, pipeline),
        None => (Vec::new(), pipeline),
    };
    let results = if pipeline.foreign_collections().is_empty() {
        pipeline.run(Box::new(input.into_iter()))?
    } else {
        let reader = &*ctx;
        let foreign = |coll: &str| -> Result<Vec<Document>, DocError> {
            match engine::collection(reader, &Namespace::new(db, coll)?)? {
                Some(c) => c.iter().map(to_document).collect(),
                None => Ok(Vec::new()),
            }
        };
        pipeline.run_with(Box::new(input.into_iter()), &foreign)?
    };
    // Text scores are metadata, never output.
    let mut results = results;
    for d in &mut results {
        d.remove(super::expr::TEXT_SCORE_FIELD);
    }
    if let Some(out) = pipeline.stages().last() {
        match out {
            Stage::Out { db: out_db, coll } => {
                write_out(ctx, &Namespace::new(out_db.as_deref().unwrap_or(db), coll)?, results)?;
                return Ok(batch_reply(&ns, 0, true, Vec::new()));
            }
            Stage::Merge(m) => {
                write_merge(ctx, db, m, results, &vars)?;
                return Ok(batch_reply(&ns, 0, true, Vec::new()));
            }
            _ => {}
        }
    }
    let mut buf: VecDeque<Document> = results.into();
    let first = take_batch(&mut buf, batch);
    let id = if buf.is_empty() {
        0
    } else {
        ctx.keyspace().doc_cursors.lock().add(Cursor {
            ns: ns.clone(),
            state: CursorState::Buffered(buf),
            batch_size: 0,
            last_used: Instant::now(),
        })
    };
    Ok(batch_reply(&ns, id, true, first))
}

fn cmd_list_collections(ctx: &mut Ctx<'_>, db: &str, args: &Args<'_>) -> Result<Document, DocError> {
    let vars = args.vars(ctx.now())?;
    let filter = Filter::parse(&args.doc("filter")?.cloned().unwrap_or_default(), &vars)?;
    let name_only = args.bool("nameOnly", false)?;
    let prefix = format!("{db}.");
    let mut out = Vec::new();
    for (key, ..) in engine::list_all(ctx) {
        let Some(name) = key.strip_prefix(&prefix) else { continue };
        let full = doc! {
            "name": name, "type": "collection", "options": {},
            "info": {"readOnly": false}, "idIndex": {"v": 2, "key": {"_id": 1}, "name": "_id_"},
        };
        if !filter.matches(&full)? {
            continue;
        }
        out.push(Bson::Document(if name_only {
            doc! {"name": name, "type": "collection"}
        } else {
            full
        }));
    }
    Ok(doc! {"cursor": {"id": 0_i64, "ns": format!("{db}.$cmd.listCollections"), "firstBatch": out}, "ok": 1.0})
}

fn cmd_explain(ctx: &mut Ctx<'_>, db: &str, args: &Args<'_>) -> Result<Document, DocError> {
    let Some(Bson::Document(inner)) = args.cmd.get("explain") else {
        return Err(DocError::failed_to_parse("explain requires a command document"));
    };
    let verbosity = args.str("verbosity")?.unwrap_or("allPlansExecution");
    if !matches!(verbosity, "queryPlanner" | "executionStats" | "allPlansExecution") {
        return Err(DocError::bad_value(format!(
            "verbosity string must be one of {{'queryPlanner', 'executionStats', 'allPlansExecution'}}, got {verbosity}"
        )));
    }
    let name = canonical(command_name(inner)?);
    let ia = Args { name, cmd: inner };
    ia.reject_collation()?;
    let ns = Namespace::new(db, ia.collection()?)?;
    let vars = ia.vars(ctx.now())?;
    let first_statement = |field: &str| -> Result<Document, DocError> {
        Ok(match ia.array(field)?.and_then(|a| a.first()) {
            Some(Bson::Document(d)) => d.clone(),
            _ => Document::new(),
        })
    };
    // The query each explainable command runs: filter, sort, projection, skip, limit.
    let (filter_doc, sort_doc, projection_doc, skip, limit, count_only) = match name {
        "find" => {
            let limit = ia.int("limit")?.unwrap_or(0).unsigned_abs();
            (
                ia.doc("filter")?.cloned().unwrap_or_default(),
                ia.doc("sort")?.cloned(),
                ia.doc("projection")?.cloned(),
                ia.non_negative("skip")?,
                limit,
                false,
            )
        }
        "count" => (
            ia.doc("query")?.cloned().unwrap_or_default(),
            None,
            None,
            ia.non_negative("skip")?,
            ia.int("limit")?.unwrap_or(0).unsigned_abs(),
            true,
        ),
        "distinct" => (ia.doc("query")?.cloned().unwrap_or_default(), None, None, 0, 0, false),
        "findAndModify" => (ia.doc("query")?.cloned().unwrap_or_default(), ia.doc("sort")?.cloned(), None, 0, 1, false),
        "update" => {
            let st = first_statement("updates")?;
            let multi = matches!(st.get("multi"), Some(Bson::Boolean(true)));
            (st.get_document("q").cloned().unwrap_or_default(), None, None, 0, u64::from(!multi), false)
        }
        "delete" => {
            let st = first_statement("deletes")?;
            let one = st.get("limit").and_then(super::value::as_i64) == Some(1);
            (st.get_document("q").cloned().unwrap_or_default(), None, None, 0, u64::from(one), false)
        }
        "aggregate" => {
            let stages = ia.array("pipeline")?.map(Vec::as_slice).unwrap_or(&[]);
            let pipeline = Pipeline::parse(stages, &vars)?;
            let reply = explain_aggregate(ctx, &ns, &pipeline, stages, verbosity)?;
            return Ok(reply);
        }
        _ => return Err(DocError::bad_value(format!("Explain failed due to unknown command: {name}"))),
    };
    let filter = Filter::parse(&filter_doc, &vars)?;
    let sort = sort_doc.as_ref().filter(|s| !s.is_empty()).map(Sort::parse).transpose()?;
    let projection =
        projection_doc.as_ref().filter(|p| !p.is_empty()).map(|p| super::projection::Projection::parse(p, &vars)).transpose()?;
    let hint = Hint::parse(ia.cmd.get("hint"))?;
    let q = Query { sort: sort.as_ref(), projection: projection.as_ref(), skip, limit, count_only, ..Query::new(&filter, &hint) };
    let mut reply = explain_query(ctx, &ns, &q, &filter_doc, verbosity)?;
    reply.insert("command", inner.clone());
    reply.insert("ok", 1.0);
    Ok(reply)
}

/// queryPlanner (and executionStats) of one planned query, as explain shows them.
fn explain_query(ctx: &Ctx<'_>, ns: &Namespace, q: &Query<'_>, filter_doc: &Document, verbosity: &str) -> Result<Document, DocError> {
    let empty = super::collection::Collection::new();
    let coll = engine::collection(ctx, ns)?.unwrap_or(&empty);
    let planned = Planned::new(coll, q)?;
    let mut reply = doc! {"explainVersion": "1", "queryPlanner": planned.explain(q, ns.key(), filter_doc)};
    if verbosity != "queryPlanner" {
        let outcome = planned.run(coll, q)?;
        let mut stats = planned.execution_stats(q, filter_doc, &outcome.stats);
        if verbosity == "allPlansExecution" {
            stats.insert("allPlansExecution", Vec::<Bson>::new());
        }
        reply.insert("executionStats", stats);
    }
    Ok(reply)
}

/// explain for an aggregation: the leading `$match`/`$sort` as a planned query (`$cursor`),
/// then the remaining stages as written.
fn explain_aggregate(ctx: &Ctx<'_>, ns: &Namespace, pipeline: &Pipeline, stages: &[Bson], verbosity: &str) -> Result<Document, DocError> {
    let (filter, sort, consumed) = pipeline.leading();
    let everything = Filter::parse(&Document::new(), &Variables::new(bson::DateTime::from_millis(0)))?;
    let filter_doc = match stages.first() {
        Some(Bson::Document(d)) if consumed > 0 && filter.is_some() => d.get_document("$match").cloned().unwrap_or_default(),
        _ => Document::new(),
    };
    let hint = Hint::None;
    let q = Query { sort, ..Query::new(filter.unwrap_or(&everything), &hint) };
    let cursor = explain_query(ctx, ns, &q, &filter_doc, verbosity)?;
    let mut out = vec![Bson::Document(doc! {"$cursor": cursor})];
    out.extend(stages.iter().skip(consumed).cloned());
    Ok(doc! {"explainVersion": "1", "stages": out, "serverInfo": {"host": "nestdb", "version": "7.0.0"}, "ok": 1.0})
}

// --- $collStats and $indexStats -------------------------------------------------------------------

/// The documents a leading `$collStats` (one, with `count` and/or `storageStats` as asked,
/// the numbers `collStats` reports) or `$indexStats` (one per index: `name`, `key`, `spec`;
/// nestdb counts no index accesses, so there is no `accesses`) makes for `ns`. A missing
/// collection has no indexes and a count of 0 (`storageStats` on it is NamespaceNotFound).
fn stats_documents(coll: Option<&super::collection::Collection>, ns: &Namespace, stage: &Stage) -> Result<Vec<Document>, DocError> {
    let host = "nestdb";
    match stage {
        Stage::CollStats(want) => {
            let mut d = doc! {"ns": ns.key(), "host": host, "localTime": bson::DateTime::now()};
            if let Some(scale) = want.storage_scale {
                let Some(c) = coll else {
                    return Err(DocError::new(
                        codes::NAMESPACE_NOT_FOUND,
                        "NamespaceNotFound",
                        format!("Unable to retrieve storageStats in $collStats stage :: caused by :: Collection [{}] not found.", ns.key()),
                    ));
                };
                let (size, count) = (c.data_size() as i64, c.len() as i64);
                let total = c.indexes().mem_usage() as i64;
                let mut sizes = doc! {"_id_": 0_i64};
                for i in c.indexes().iter() {
                    sizes.insert(i.spec.name.clone(), i.mem_usage() as i64 / scale);
                }
                d.insert(
                    "storageStats",
                    doc! {
                        "size": size / scale, "count": count, "avgObjSize": if count > 0 { size / count } else { 0 },
                        "storageSize": (c.mem_usage() as i64 - total) / scale, "nindexes": (c.indexes().len() + 1) as i32,
                        "totalIndexSize": total / scale, "indexSizes": sizes, "capped": false, "scaleFactor": scale as i32,
                    },
                );
            }
            if want.count {
                d.insert("count", coll.map_or(0, |c| c.len() as i64));
            }
            Ok(vec![d])
        }
        Stage::IndexStats => {
            let Some(c) = coll else { return Ok(Vec::new()) };
            let mut out = vec![doc! {"name": "_id_", "key": {"_id": 1}, "host": host, "spec": {"v": 2, "key": {"_id": 1}, "name": "_id_"}}];
            for i in c.indexes().iter() {
                let spec = i.spec.to_document();
                out.push(
                    doc! {"name": i.spec.name.clone(), "key": spec.get("key").cloned().unwrap_or(Bson::Null), "host": host, "spec": spec},
                );
            }
            Ok(out)
        }
        _ => Ok(Vec::new()),
    }
}

// --- $out and $merge ---------------------------------------------------------------------------------

/// `$out`: replace the target collection with `docs`, keeping the target's indexes, all or
/// nothing (a duplicate `_id`, an invalid document or a document an existing index refuses,
/// e.g. a unique-index violation, leaves the target as it was). The documents are first
/// inserted into a scratch collection with the target's indexes, as MongoDB writes to a
/// temporary collection before renaming it over the target.
fn write_out(ctx: &mut Ctx<'_>, target: &Namespace, docs: Vec<Document>) -> Result<(), DocError> {
    let mut seen = std::collections::HashSet::new();
    let mut prepared = Vec::with_capacity(docs.len());
    for d in docs {
        let p = engine::prepare(d)?;
        if !seen.insert(super::value::key_of(&p.id)) {
            return Err(engine::duplicate_id(target, &p.id));
        }
        prepared.push(p);
    }
    // A key of another type under that name is refused first.
    let indexes: Vec<super::index::IndexSpec> =
        engine::collection(ctx, target)?.map(|c| c.indexes().iter().map(|i| i.spec.clone()).collect()).unwrap_or_default();
    if !indexes.is_empty() {
        let mut scratch = super::collection::Collection::new();
        scratch
            .create_indexes(indexes.clone())
            .map_err(|r| engine::rejected(target, &Bson::Null, super::collection::Rejected::Index(r)))?;
        for p in &prepared {
            scratch.insert((*p.raw).to_owned()).map_err(|(_, why)| engine::rejected(target, &p.id, why))?;
        }
    }
    engine::drop(ctx, target)?;
    engine::collection_mut(ctx, target, true)?;
    if !indexes.is_empty() {
        let specs: Vec<Document> = indexes.iter().map(super::index::IndexSpec::to_stored).collect();
        super::index::ddl::create_indexes(ctx, target, &specs)?;
    }
    let out = engine::insert_prepared(ctx, target, prepared.into_iter().map(Ok).collect(), true)?;
    match out.errors.into_iter().next() {
        Some((_, e)) => Err(e),
        None => Ok(()),
    }
}

/// `$merge`: each document is matched in the target on `on` (default `_id`) and replaced,
/// kept, merged, updated by a pipeline or refused (`whenMatched`), or inserted, discarded or
/// refused when nothing matches (`whenNotMatched`). Stops at the first error, as MongoDB does.
fn write_merge(ctx: &mut Ctx<'_>, db: &str, m: &Merge, docs: Vec<Document>, vars: &Variables) -> Result<(), DocError> {
    let target = Namespace::new(m.db.as_deref().unwrap_or(db), &m.coll)?;
    // "$merge requires a unique index with keys that correspond to the on identifier fields"
    // (the _id index for the default `on`); an output collection that does not exist yet
    // only has that one.
    if m.on.iter().any(|f| f != "_id") {
        let unique_on = |c: &super::collection::Collection| {
            c.indexes().iter().any(|ix| {
                let s = &ix.spec;
                s.unique
                    && s.partial.is_none()
                    && s.text.is_none()
                    && s.key.len() == m.on.len()
                    && s.key.keys().all(|k| m.on.iter().any(|f| f == k))
            })
        };
        if !engine::collection(ctx, &target)?.is_some_and(unique_on) {
            return Err(DocError::location(51183, "Cannot find index to verify that $merge fields will be unique"));
        }
    }
    engine::collection_mut(ctx, &target, true)?;
    for mut doc in docs {
        let mut key = Document::new();
        for field in &m.on {
            let v = super::value::get_path(&doc, field).cloned();
            match v {
                Some(v) if !matches!(v, Bson::Array(_) | Bson::Null | Bson::Undefined) => {
                    key.insert(field.clone(), v);
                }
                _ => {
                    return Err(DocError::location(
                        51132,
                        format!("$merge write error: 'on' field '{field}' cannot be missing, null, undefined or an array"),
                    ))
                }
            }
        }
        let filter = Filter::parse(&key, vars)?;
        let existing = engine::collection(ctx, &target)?.and_then(|c| engine::find_first_raw(c, &filter).ok().flatten());
        match existing {
            Some(old) => {
                let old = to_document(&old)?;
                let id = old.get("_id").cloned().unwrap_or(Bson::Null);
                // "the replacement document cannot result in a modification of the _id value"
                // (nor can a merge): an incoming `_id` must be the matched document's.
                if matches!(m.when_matched, WhenMatched::Replace | WhenMatched::Merge)
                    && doc.get("_id").is_some_and(|new_id| super::value::compare(new_id, &id) != std::cmp::Ordering::Equal)
                {
                    return Err(DocError::new(
                        66,
                        "ImmutableField",
                        "$merge failed to update the matching document, did you attempt to modify the _id or the shard key? :: caused by :: Performing an update on the path '_id' would modify the immutable field '_id'",
                    ));
                }
                let new_doc = match &m.when_matched {
                    WhenMatched::KeepExisting => continue,
                    WhenMatched::Fail => return Err(engine::duplicate_id(&target, &id)),
                    WhenMatched::Replace => {
                        doc.insert("_id", id.clone());
                        doc
                    }
                    WhenMatched::Merge => {
                        let mut merged = old.clone();
                        for (k, v) in doc {
                            merged.insert(k, v);
                        }
                        merged.insert("_id", id.clone());
                        merged
                    }
                    WhenMatched::Pipeline(stages) => {
                        let mut let_doc = m.let_vars.clone().unwrap_or_else(|| doc! {"new": "$$ROOT"});
                        // `$$new` (and the other `let` variables) are evaluated against the
                        // incoming document.
                        for (_, v) in let_doc.iter_mut() {
                            let expr = super::expr::Expr::parse(v)?;
                            *v = expr.eval(&doc, vars)?.unwrap_or(Bson::Null);
                        }
                        let literal: Document = let_doc.into_iter().map(|(k, v)| (k, Bson::Document(doc! {"$literal": v}))).collect();
                        let pvars = Variables::with_let(vars.now, &literal)?;
                        let update = Update::parse(&Bson::Array(stages.clone()), &[], &pvars)?;
                        let mut updated = old.clone();
                        update.apply(&mut updated, None, false)?;
                        updated
                    }
                };
                let spec = engine::UpdateSpec {
                    filter: Filter::parse(&doc! {"_id": id}, vars)?,
                    update: Update::parse(&Bson::Document(new_doc), &[], vars)?.into(),
                    deferred: None,
                    upsert: false,
                    multi: false,
                    sort: None,
                    return_docs: false,
                    in_place: None,
                };
                engine::update(ctx, &target, &spec)?;
            }
            None => match m.when_not_matched {
                WhenNotMatched::Discard => {}
                WhenNotMatched::Fail => return Err(DocError::location(
                    13113,
                    "$merge could not find a matching document in the target collection for at least one document in the source collection",
                )),
                WhenNotMatched::Insert => {
                    let out = engine::insert(ctx, &target, vec![doc], true)?;
                    if let Some((_, e)) = out.errors.into_iter().next() {
                        return Err(e);
                    }
                }
            },
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `count`'s `n` has the type MongoDB's `appendNumber` gives it.
    #[test]
    fn counts_are_appended_as_mongodb_appends_numbers() {
        assert_eq!(append_number(0), Bson::Int32(0));
        assert_eq!(append_number((1 << 30) - 1), Bson::Int32((1 << 30) - 1));
        assert_eq!(append_number(1 << 30), Bson::Double(1_073_741_824.0));
        assert_eq!(append_number((1 << 40) - 1), Bson::Double(1_099_511_627_775.0));
        assert_eq!(append_number(1 << 40), Bson::Int64(1 << 40));
        assert_eq!(append_number(u64::MAX), Bson::Int64(i64::MAX));
    }
}
