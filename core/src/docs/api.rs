//! The public Rust API of the document layer: `Db::database` / `Db::collection`, typed
//! collections over any `serde` type (or `bson::Document`), and `Db::run_command`.
//!
//! Each call locks only the collection's shard, for as long as the call runs; results are
//! owned copies. Semantics are `engine`'s, so they match `run_command`, C and Python.

use std::marker::PhantomData;

use bson::{Bson, Document};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::collection::to_document as to_stored_document;
use super::engine::{self, FindSpec, Namespace, UpdateSpec};
use super::expr::Variables;
use super::query::Filter;
use super::sort::Sort;
use super::update::Update;
use super::DocError;
use crate::error::{Error, Result};
use crate::keyspace::dict::hash_bytes;
use crate::keyspace::{shard_of, Ctx, LockSet};
use crate::Db;

/// The database a bare `Db::collection(name)` lives in (the mongo shell's default).
pub const DEFAULT_DATABASE: &str = "test";

impl Db {
    /// Run a MongoDB database command (`{find: "users", filter: {...}}`, `{insert: ...}`...)
    /// against database `db`, answering with MongoDB's reply document (`ok: 1.0`, or `ok: 0.0`
    /// with `errmsg`, `code` and `codeName`).
    pub fn run_command(&self, db: &str, command: &Document) -> Document {
        super::command::run(self.ks(), db, command)
    }

    /// A database (a namespace prefix for collections; nothing is created until a write).
    pub fn database(&self, name: &str) -> Database {
        Database { db: self.clone(), name: name.to_string() }
    }

    /// Collection `name` of the default database `"test"`, holding `T`s (`bson::Document` by default).
    pub fn collection<T>(&self, name: &str) -> Collection<T> {
        self.database(DEFAULT_DATABASE).collection(name)
    }

    /// Lock what `key` needs, run `f`, log its effects as one record and wait for durability.
    fn with_collection_ctx<R>(
        &self,
        key: &str,
        write: bool,
        f: impl FnOnce(&mut Ctx<'_>) -> std::result::Result<R, DocError>,
    ) -> Result<R> {
        let ks = self.ks();
        if write {
            ks.check_writable().map_err(|r| Error::Command(r.error_text().unwrap_or("not writable").to_string()))?;
        }
        let mut ctx = ks.lock(&LockSet::One(shard_of(hash_bytes(key.as_bytes()))), write);
        if write && ctx.out_of_memory() {
            return Err(Error::Command(crate::keyspace::evict::OOM.to_string()));
        }
        let r = f(&mut ctx);
        let seq = ctx.finish();
        drop(ctx);
        if write {
            crate::keyspace::evict::make_room(ks);
        }
        ks.wait_durable(seq).map_err(|r| Error::Command(r.error_text().unwrap_or("not durable").to_string()))?;
        r.map_err(|e| Error::Document(Box::new(e)))
    }
}

/// A database: a named group of collections.
#[derive(Clone)]
pub struct Database {
    db: Db,
    name: String,
}

impl Database {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Collection `name` of this database, holding `T`s.
    pub fn collection<T>(&self, name: &str) -> Collection<T> {
        Collection { db: self.db.clone(), ns: Namespace::new(&self.name, name), _type: PhantomData }
    }

    /// A `find` command whose answer fits one batch (`limit` set, no more than the batch
    /// size), answered as the documents' BSON bytes without building `Document`s; None when
    /// the command is not such a find (run it with `run_command` then).
    pub fn find_first_batch_raw(&self, command: &Document) -> Result<Option<Vec<bson::RawDocumentBuf>>> {
        let Some(Bson::String(coll)) = command.get("find") else { return Ok(None) };
        let ns = Namespace::new(&self.name, coll).map_err(|e| Error::Document(Box::new(e)))?;
        self.db.with_collection_ctx(ns.key(), false, |ctx| super::command::find_first_batch_raw(ctx, &self.name, command))
    }

    /// Run a database command against this database (see `Db::run_command`).
    pub fn run_command(&self, command: &Document) -> Document {
        self.db.run_command(&self.name, command)
    }

    /// The names of this database's collections, sorted.
    pub fn list_collection_names(&self) -> Result<Vec<String>> {
        let reply = self.run_command(&bson::doc! {"listCollections": 1, "nameOnly": true});
        let reply = check(reply)?;
        let batch = reply.get_document("cursor").and_then(|c| c.get_array("firstBatch")).map_err(|e| Error::Command(e.to_string()))?;
        Ok(batch.iter().filter_map(|d| d.as_document().and_then(|d| d.get_str("name").ok()).map(str::to_string)).collect())
    }

    /// Drop every collection of this database.
    pub fn drop(&self) -> Result<()> {
        check(self.run_command(&bson::doc! {"dropDatabase": 1})).map(|_| ())
    }
}

/// Turn an `ok: 0` reply into `Error::Document`.
fn check(reply: Document) -> Result<Document> {
    if reply.get("ok").and_then(super::value::as_f64) == Some(1.0) {
        return Ok(reply);
    }
    let code = reply.get_i32("code").unwrap_or(8);
    let msg = reply.get_str("errmsg").unwrap_or("command failed").to_string();
    Err(Error::Document(Box::new(DocError::new(code, "CommandFailed", msg))))
}

/// What an update did.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct UpdateResult {
    pub matched_count: u64,
    pub modified_count: u64,
    /// The `_id` of the document an upsert inserted.
    pub upserted_id: Option<Bson>,
}

/// Options of `update_with` / `find_one_and_update`.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct UpdateOptions {
    /// Insert a document when nothing matches (seeded from the filter's equalities).
    pub upsert: bool,
    /// Filters for `$[<identifier>]` paths.
    pub array_filters: Vec<Document>,
    /// Update every matching document (`update_many`) instead of the first.
    pub multi: bool,
    /// Which document is "first" (find_one_and_*).
    pub sort: Option<Document>,
    /// find_one_and_*: return the document after the change instead of before.
    pub return_after: bool,
}

impl UpdateOptions {
    pub fn upsert(mut self, yes: bool) -> Self {
        self.upsert = yes;
        self
    }
    pub fn array_filters(mut self, filters: Vec<Document>) -> Self {
        self.array_filters = filters;
        self
    }
    pub fn sort(mut self, sort: Document) -> Self {
        self.sort = Some(sort);
        self
    }
    pub fn return_after(mut self, yes: bool) -> Self {
        self.return_after = yes;
        self
    }
}

/// A collection of `T`s (`bson::Document` unless a serde type is named).
pub struct Collection<T = Document> {
    db: Db,
    ns: std::result::Result<Namespace, DocError>,
    _type: PhantomData<fn() -> T>,
}

impl<T> Clone for Collection<T> {
    fn clone(&self) -> Self {
        Collection { db: self.db.clone(), ns: self.ns.clone(), _type: PhantomData }
    }
}

/// `v` as a document: a `bson::Document` is copied as is, anything else goes through serde.
fn to_document<T: Serialize + 'static>(v: &T) -> Result<Document> {
    if let Some(d) = (v as &dyn std::any::Any).downcast_ref::<Document>() {
        return Ok(d.clone());
    }
    bson::serialize_to_document(v).map_err(|e| Error::InvalidArgument(format!("cannot store this value as a document: {e}")))
}

/// `v` prepared for insertion: a `bson::Document` is encoded where it is (no copy), anything
/// else goes through serde first. The inner result is the document's own write error.
fn prepare_value<T: Serialize + 'static>(v: &T) -> Result<std::result::Result<engine::Prepared, DocError>> {
    if let Some(d) = (v as &dyn std::any::Any).downcast_ref::<Document>() {
        return Ok(engine::prepare_ref(d));
    }
    Ok(engine::prepare(to_document(v)?))
}

/// A document as `T`: a `bson::Document` as it is, anything else from its BSON bytes (as
/// `from_raw`), so every method hands a serde type the same shapes.
fn from_document<T: DeserializeOwned + 'static>(d: Document) -> Result<T> {
    let any: Box<dyn std::any::Any> = Box::new(d);
    match any.downcast::<T>() {
        Ok(t) => Ok(*t),
        Err(any) => {
            let d = any.downcast::<Document>().expect("boxed a Document above");
            from_raw(super::collection::to_raw(&d).map_err(|e| Error::Document(Box::new(e)))?)
        }
    }
}

/// `from_raw` for borrowed bytes (a cursor's batch): only a `RawDocumentBuf` is copied.
fn from_raw_ref<T: DeserializeOwned + 'static>(raw: &bson::RawDocument) -> Result<T> {
    use std::any::TypeId;
    if TypeId::of::<T>() == TypeId::of::<Document>() {
        let d: Box<dyn std::any::Any> = Box::new(to_stored_document(raw).map_err(|e| Error::Document(Box::new(e)))?);
        return Ok(*d.downcast::<T>().expect("T is Document"));
    }
    if TypeId::of::<T>() == TypeId::of::<bson::RawDocumentBuf>() {
        return from_raw(raw.to_owned());
    }
    bson::deserialize_from_slice(raw.as_bytes())
        .map_err(|e| Error::InvalidArgument(format!("stored document does not fit the requested type: {e}")))
}

/// A stored document's bytes as `T`: a `RawDocumentBuf` as it is, a `bson::Document`
/// decoded, anything else through serde straight from the bytes, as the MongoDB Rust
/// driver's cursors do (so a `serde_json::Value` sees canonical extended JSON forms).
fn from_raw<T: DeserializeOwned + 'static>(raw: bson::RawDocumentBuf) -> Result<T> {
    let any: Box<dyn std::any::Any> = Box::new(raw);
    match any.downcast::<T>() {
        Ok(t) => Ok(*t),
        Err(any) => from_raw_ref(&any.downcast::<bson::RawDocumentBuf>().expect("boxed a RawDocumentBuf above")),
    }
}

/// What a find hands back: decoded documents, or stored bytes for the caller's type.
enum Found {
    Documents(Vec<Document>),
    Raw(Vec<bson::RawDocumentBuf>),
}

fn vars(ctx: &Ctx<'_>) -> Variables {
    Variables::new(bson::DateTime::from_millis(ctx.now()))
}

impl<T: Serialize + DeserializeOwned + 'static> Collection<T> {
    fn ns(&self) -> Result<&Namespace> {
        self.ns.as_ref().map_err(|e| Error::Document(Box::new(e.clone())))
    }

    /// The namespace, `"<database>.<collection>"`.
    pub fn namespace(&self) -> String {
        self.ns.as_ref().map(|n| n.key().to_string()).unwrap_or_default()
    }

    /// Insert one document; returns its `_id` (an ObjectId is generated when it has none).
    pub fn insert_one(&self, doc: &T) -> Result<Bson> {
        Ok(self.insert_prepared(vec![prepare_value(doc)?], true)?.into_iter().next().unwrap_or(Bson::Null))
    }

    /// Insert documents in order, stopping at the first failure (whose error is returned;
    /// the documents before it stay inserted, as MongoDB's ordered insert does).
    pub fn insert_many<'a>(&self, docs: impl IntoIterator<Item = &'a T>) -> Result<Vec<Bson>>
    where
        T: 'a,
    {
        let items: Vec<&T> = docs.into_iter().collect();
        // `bson::Document`s are encoded where they are, by several threads for big batches.
        let plain: Vec<&Document> = items.iter().filter_map(|v| (*v as &dyn std::any::Any).downcast_ref::<Document>()).collect();
        let prepared = if plain.len() == items.len() {
            engine::prepare_all(&plain)
        } else {
            items.into_iter().map(prepare_value).collect::<Result<Vec<_>>>()?
        };
        self.insert_prepared(prepared, true)
    }

    fn insert_prepared(&self, docs: Vec<std::result::Result<engine::Prepared, DocError>>, ordered: bool) -> Result<Vec<Bson>> {
        let ns = self.ns()?.clone();
        self.db.with_collection_ctx(ns.key(), true, |ctx| {
            let out = engine::insert_prepared(ctx, &ns, docs, ordered)?;
            match out.errors.into_iter().next() {
                Some((_, e)) => Err(e),
                None => Ok(out.inserted.into_iter().map(|(_, id)| id).collect()),
            }
        })
    }

    /// A find: add `sort`, `projection`, `skip`, `limit`, then `run`.
    pub fn find(&self, filter: Document) -> Find<'_, T> {
        Find { coll: self, filter, sort: None, projection: None, skip: 0, limit: 0, hint: None }
    }

    /// The first document matching `filter` (natural order).
    pub fn find_one(&self, filter: Document) -> Result<Option<T>> {
        if let (1, Some(id)) = (filter.len(), filter.get("_id")) {
            if super::value::is_id_lookup_value(id) {
                let raw = self.find_by_id_raw_typed(id)?;
                return raw.map(from_raw).transpose();
            }
        }
        Ok(self.find(filter).limit(1).run()?.into_iter().next())
    }

    fn find_by_id_raw_typed(&self, id: &Bson) -> Result<Option<bson::RawDocumentBuf>> {
        let ns = self.ns()?.clone();
        self.db.with_collection_ctx(ns.key(), false, |ctx| {
            Ok(engine::collection(ctx, &ns)?.and_then(|c| c.get_by_id(id)).map(|(_, d)| d.to_owned()))
        })
    }

    /// Documents matching `filter`.
    pub fn count_documents(&self, filter: Document) -> Result<u64> {
        let ns = self.ns()?.clone();
        self.db.with_collection_ctx(ns.key(), false, |ctx| {
            let f = Filter::parse(&filter, &vars(ctx))?;
            engine::collection(ctx, &ns)?.map_or(Ok(0), |c| engine::count_in(c, &f, 0, 0))
        })
    }

    /// All documents (O(1)).
    pub fn estimated_document_count(&self) -> Result<u64> {
        let ns = self.ns()?.clone();
        self.db.with_collection_ctx(ns.key(), false, |ctx| Ok(engine::collection(ctx, &ns)?.map_or(0, |c| c.len() as u64)))
    }

    /// Distinct values of `key` among documents matching `filter`.
    pub fn distinct(&self, key: &str, filter: Document) -> Result<Vec<Bson>> {
        let ns = self.ns()?.clone();
        self.db.with_collection_ctx(ns.key(), false, |ctx| {
            let f = Filter::parse(&filter, &vars(ctx))?;
            engine::collection(ctx, &ns)?.map_or(Ok(Vec::new()), |c| engine::distinct_in(c, key, &f))
        })
    }

    /// Apply update operators (a document) or an update pipeline (an array) to the first match.
    pub fn update_one(&self, filter: Document, update: impl Into<Bson>) -> Result<UpdateResult> {
        self.update_with(filter, update, UpdateOptions::default())
    }

    /// Apply update operators or a pipeline to every match.
    pub fn update_many(&self, filter: Document, update: impl Into<Bson>) -> Result<UpdateResult> {
        self.update_with(filter, update, UpdateOptions { multi: true, ..Default::default() })
    }

    /// Replace the first match with `replacement` (its `_id` is kept).
    pub fn replace_one(&self, filter: Document, replacement: &T, upsert: bool) -> Result<UpdateResult> {
        let d = to_document(replacement)?;
        if d.keys().any(|k| k.starts_with('$')) {
            return Err(Error::InvalidArgument("replacement can not include $ operators".into()));
        }
        self.update_with(filter, Bson::Document(d), UpdateOptions { upsert, ..Default::default() })
    }

    /// The general update: `opts` chooses upsert, multi, arrayFilters and sort.
    pub fn update_with(&self, filter: Document, update: impl Into<Bson>, opts: UpdateOptions) -> Result<UpdateResult> {
        let ns = self.ns()?.clone();
        let update = update.into();
        self.db.with_collection_ctx(ns.key(), true, |ctx| {
            let v = vars(ctx);
            let filter = Filter::parse(&filter, &v)?;
            let in_place = if opts.array_filters.is_empty() { super::inplace::InPlace::from_spec(&update) } else { None };
            // With an in-place form, the general parse waits until a document needs it.
            let (parsed, deferred) = match in_place {
                Some(_) => (std::cell::OnceCell::new(), Some((update, v))),
                None => (Update::parse(&update, &opts.array_filters, &v)?.into(), None),
            };
            let spec = UpdateSpec {
                filter,
                update: parsed,
                deferred,
                upsert: opts.upsert,
                multi: opts.multi,
                sort: opts.sort.as_ref().map(Sort::parse).transpose()?,
                return_docs: false,
                in_place,
            };
            let o = engine::update(ctx, &ns, &spec)?;
            Ok(UpdateResult { matched_count: o.matched, modified_count: o.modified, upserted_id: o.upserted_id })
        })
    }

    /// Update the first match (by `opts.sort`) and return it as it was before (or after, with
    /// `opts.return_after`).
    pub fn find_one_and_update(&self, filter: Document, update: impl Into<Bson>, opts: UpdateOptions) -> Result<Option<T>> {
        let ns = self.ns()?.clone();
        let update = update.into();
        let doc = self.db.with_collection_ctx(ns.key(), true, |ctx| {
            let v = vars(ctx);
            let spec = UpdateSpec {
                filter: Filter::parse(&filter, &v)?,
                update: Update::parse(&update, &opts.array_filters, &v)?.into(),
                deferred: None,
                upsert: opts.upsert,
                multi: false,
                sort: opts.sort.as_ref().map(Sort::parse).transpose()?,
                return_docs: true,
                in_place: None,
            };
            let o = engine::update(ctx, &ns, &spec)?;
            Ok(if opts.return_after {
                o.last_after
            } else if o.upserted_id.is_some() {
                None
            } else {
                o.last_before
            })
        })?;
        doc.map(from_document).transpose()
    }

    /// Delete the first match and return it.
    pub fn find_one_and_delete(&self, filter: Document, sort: Option<Document>) -> Result<Option<T>> {
        let ns = self.ns()?.clone();
        let doc = self.db.with_collection_ctx(ns.key(), true, |ctx| {
            let f = Filter::parse(&filter, &vars(ctx))?;
            let s = sort.as_ref().map(Sort::parse).transpose()?;
            Ok(engine::delete(ctx, &ns, &f, false, s.as_ref())?.into_iter().next())
        })?;
        doc.map(from_raw).transpose()
    }

    /// Delete the first match; returns how many were deleted (0 or 1).
    pub fn delete_one(&self, filter: Document) -> Result<u64> {
        self.delete(filter, false)
    }

    /// Delete every match; returns how many were deleted.
    pub fn delete_many(&self, filter: Document) -> Result<u64> {
        self.delete(filter, true)
    }

    fn delete(&self, filter: Document, multi: bool) -> Result<u64> {
        let ns = self.ns()?.clone();
        self.db.with_collection_ctx(ns.key(), true, |ctx| {
            let f = Filter::parse(&filter, &vars(ctx))?;
            Ok(engine::delete(ctx, &ns, &f, multi, None)?.len() as u64)
        })
    }

    /// Run an aggregation pipeline over the collection (every stage `run_command`'s
    /// `aggregate` supports, `$lookup` and `$out`/`$merge` included); all results at once.
    pub fn aggregate(&self, pipeline: impl IntoIterator<Item = Document>) -> Result<Vec<Document>> {
        let ns = self.ns()?.clone();
        let stages: Vec<Bson> = pipeline.into_iter().map(Bson::Document).collect();
        let mut reply = check(self.db.run_command(&ns.db, &bson::doc! {"aggregate": &ns.coll, "pipeline": stages, "cursor": {}}))?;
        let mut out = Vec::new();
        let mut field = "firstBatch";
        loop {
            let cursor = reply.get_document("cursor").map_err(|e| Error::Command(e.to_string()))?;
            for d in cursor.get_array(field).map_err(|e| Error::Command(e.to_string()))? {
                if let Bson::Document(d) = d {
                    out.push(d.clone());
                }
            }
            let id = cursor.get_i64("id").unwrap_or(0);
            if id == 0 {
                return Ok(out);
            }
            reply = check(self.db.run_command(&ns.db, &bson::doc! {"getMore": id, "collection": &ns.coll}))?;
            field = "nextBatch";
        }
    }

    /// Create an index on `keys` (`doc! {"email": 1}`, `doc! {"a": 1, "b": -1}`,
    /// `doc! {"body": "text"}`) with MongoDB's index options (`doc! {"unique": true}`,
    /// `name`, `sparse`, `partialFilterExpression`, `expireAfterSeconds`, `hidden`, `weights`,
    /// `default_language`...); its name. Creating an identical index again is a no-op.
    pub fn create_index(&self, keys: Document, options: Document) -> Result<String> {
        let mut spec = bson::doc! {"key": keys.clone()};
        spec.extend(options);
        let name = match spec.get_str("name") {
            Ok(n) => n.to_string(),
            Err(_) => super::index::default_name(&keys),
        };
        spec.insert("name", name.clone());
        let ns = self.ns()?.clone();
        check(self.db.run_command(&ns.db, &bson::doc! {"createIndexes": &ns.coll, "indexes": [spec]}))?;
        Ok(name)
    }

    /// The index definitions (`_id_` first), as listIndexes gives them; empty for a collection
    /// that does not exist.
    pub fn list_indexes(&self) -> Result<Vec<Document>> {
        let ns = self.ns()?.clone();
        let reply = self.db.run_command(&ns.db, &bson::doc! {"listIndexes": &ns.coll, "cursor": {}});
        if reply.get_i32("code").ok() == Some(super::error::codes::NAMESPACE_NOT_FOUND) {
            return Ok(Vec::new());
        }
        let reply = check(reply)?;
        let batch = reply.get_document("cursor").and_then(|c| c.get_array("firstBatch")).map_err(|e| Error::Command(e.to_string()))?;
        Ok(batch.iter().filter_map(|d| d.as_document().cloned()).collect())
    }

    /// Drop the index named `name` (`"*"`: every index but `_id_`).
    pub fn drop_index(&self, name: &str) -> Result<()> {
        let ns = self.ns()?.clone();
        check(self.db.run_command(&ns.db, &bson::doc! {"dropIndexes": &ns.coll, "index": name})).map(|_| ())
    }

    /// Drop the collection; false if it did not exist.
    pub fn drop(&self) -> Result<bool> {
        let ns = self.ns()?.clone();
        self.db.with_collection_ctx(ns.key(), true, |ctx| engine::drop(ctx, &ns))
    }
}

/// What `Collection::insert_raw` did: the input indexes inserted, and each failed document's
/// index and error (a duplicate `_id`, a document too large or too deep...).
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct InsertManyOutcome {
    pub inserted: Vec<usize>,
    pub errors: Vec<(usize, DocError)>,
}

impl Collection<Document> {
    /// Insert documents already encoded as BSON, in order (`ordered`: stop at the first
    /// failure). Each should start with its `_id` (one that does not is decoded and prepared
    /// like `insert_one` would). Per-document failures are in the outcome, not the `Err`.
    pub fn insert_raw(&self, docs: Vec<bson::RawDocumentBuf>, ordered: bool) -> Result<InsertManyOutcome> {
        let ns = self.ns()?.clone();
        let prepared: Vec<_> = docs.into_iter().map(engine::prepare_raw).collect();
        self.db.with_collection_ctx(ns.key(), true, |ctx| {
            let out = engine::insert_prepared(ctx, &ns, prepared, ordered)?;
            Ok(InsertManyOutcome { inserted: out.inserted.into_iter().map(|(i, _)| i).collect(), errors: out.errors })
        })
    }

    /// The document whose `_id` equals `id` (MongoDB equality: `1` finds `1.0`), as stored.
    pub fn find_by_id_raw(&self, id: &Bson) -> Result<Option<bson::RawDocumentBuf>> {
        self.find_by_id_raw_typed(id)
    }

    /// `update_one({_id: id}, update)` for an update with an in-place form (see
    /// `inplace::InPlace::from_ops`): the document found by `_id` is patched where it is
    /// stored, with no filter or update document built. `Some((matched, modified))`, or None
    /// when the general path must run instead (no such document and `upsert` set, or a target
    /// that cannot be patched in place); nothing has changed then.
    pub fn update_by_id_in_place(&self, id: &Bson, patch: &super::inplace::InPlace, upsert: bool) -> Result<Option<UpdateResult>> {
        let ns = self.ns()?.clone();
        let counts = self.db.with_collection_ctx(ns.key(), true, |ctx| {
            let rid = match engine::collection(ctx, &ns)?.and_then(|c| c.get_by_id(id)) {
                Some((rid, _)) => rid,
                None if upsert => return Ok(None),
                None => return Ok(Some((0, 0))),
            };
            engine::update_in_place(ctx, &ns, rid, patch)
        })?;
        Ok(counts.map(|(matched, modified)| UpdateResult { matched_count: matched, modified_count: modified, upserted_id: None }))
    }

    /// `find_one_raw` for a filter an index answers with one point lookup (one equality to a
    /// scalar on an index's leading field, see `plan::first_by_point`): `Some(found)`, or None
    /// when the filter or the indexes have another shape (nothing was read). Cheap enough to
    /// run where a caller could not afford a scan (the Python client holds the GIL for it).
    pub fn find_one_point_raw(&self, filter: &Document) -> Result<Option<Option<bson::RawDocumentBuf>>> {
        let ns = self.ns()?.clone();
        self.db.with_collection_ctx(ns.key(), false, |ctx| {
            let f = Filter::parse(filter, &vars(ctx))?;
            let Some(c) = engine::collection(ctx, &ns)? else { return Ok(Some(None)) };
            match super::index::plan::first_by_point(c, &f) {
                Some(found) => Ok(Some(found?.and_then(|rid| c.get(rid)).map(ToOwned::to_owned))),
                None => Ok(None),
            }
        })
    }

    /// The first document matching `filter` (natural order), as stored (raw BSON), projected
    /// when `projection` is given.
    pub fn find_one_raw(&self, filter: &Document, projection: Option<&Document>) -> Result<Option<bson::RawDocumentBuf>> {
        let ns = self.ns()?.clone();
        self.db.with_collection_ctx(ns.key(), false, |ctx| {
            let spec = FindSpec::parse(filter, None, projection, 0, 1, &vars(ctx))?;
            let Some(c) = engine::collection(ctx, &ns)? else { return Ok(None) };
            match &spec.projection {
                None => engine::find_first_raw(c, &spec.filter),
                Some(_) => engine::find_in(c, &spec, None, 1)?.0.into_iter().next().map(|d| super::collection::to_raw(&d)).transpose(),
            }
        })
    }
}

/// A find being built: `coll.find(filter).sort(doc! {"age": -1}).limit(10).run()`.
pub struct Find<'c, T> {
    coll: &'c Collection<T>,
    filter: Document,
    sort: Option<Document>,
    projection: Option<Document>,
    skip: u64,
    limit: u64,
    hint: Option<Bson>,
}

impl<T: Serialize + DeserializeOwned + 'static> Find<'_, T> {
    pub fn sort(mut self, sort: Document) -> Self {
        self.sort = Some(sort);
        self
    }
    /// A projection (the results must still deserialize into `T`; use `Document` for partial shapes).
    pub fn projection(mut self, projection: Document) -> Self {
        self.projection = Some(projection);
        self
    }
    pub fn skip(mut self, n: u64) -> Self {
        self.skip = n;
        self
    }
    /// At most `n` results (0 = no limit).
    pub fn limit(mut self, n: u64) -> Self {
        self.limit = n;
        self
    }

    /// Use this index (its name as a string, or its key pattern as a document), or
    /// `doc! {"$natural": 1}` for a collection scan.
    pub fn hint(mut self, index: impl Into<Bson>) -> Self {
        self.hint = Some(index.into());
        self
    }

    /// How the find runs: MongoDB's explain output (`queryPlanner` with the winning and rejected
    /// plans, `executionStats` with documents and keys examined).
    pub fn explain(self) -> Result<Document> {
        let ns = self.coll.ns()?.clone();
        let mut find = bson::doc! {"find": &ns.coll, "filter": self.filter};
        if let Some(s) = self.sort {
            find.insert("sort", s);
        }
        if let Some(p) = self.projection {
            find.insert("projection", p);
        }
        if self.skip > 0 {
            find.insert("skip", self.skip as i64);
        }
        if self.limit > 0 {
            find.insert("limit", self.limit as i64);
        }
        if let Some(h) = self.hint {
            find.insert("hint", h);
        }
        check(self.coll.db.run_command(&ns.db, &bson::doc! {"explain": find, "verbosity": "executionStats"}))
    }

    /// Run the find; every result at once. A `Collection<Document>` gets `Document`s decoded
    /// in parallel for large answers; any other `T` (a serde type, `RawDocumentBuf`) is made
    /// from the stored bytes themselves, with no `Document` in between.
    pub fn run(self) -> Result<Vec<T>> {
        let ns = self.coll.ns()?.clone();
        let as_documents = std::any::TypeId::of::<T>() == std::any::TypeId::of::<Document>();
        let found = self.coll.db.with_collection_ctx(ns.key(), false, |ctx| {
            let mut spec = FindSpec::parse(&self.filter, self.sort.as_ref(), self.projection.as_ref(), self.skip, self.limit, &vars(ctx))?;
            spec.hint = super::index::plan::Hint::parse(self.hint.as_ref())?;
            let Some(c) = engine::collection(ctx, &ns)? else { return Ok(Found::Raw(Vec::new())) };
            Ok(if as_documents {
                Found::Documents(engine::find_in(c, &spec, None, usize::MAX)?.0)
            } else {
                Found::Raw(engine::find_all_raw(c, &spec)?)
            })
        })?;
        match found {
            Found::Documents(docs) => docs.into_iter().map(from_document).collect(),
            Found::Raw(raws) => raws.into_iter().map(from_raw).collect(),
        }
    }

    /// Run the find and stream the results, as the MongoDB Rust driver's `Cursor<T>` does:
    /// each `next()` makes one `T` from a document's bytes, so a caller that handles one
    /// result at a time holds one decoded `T`, not all of them.
    ///
    /// A forward collection scan (no sort, projection, skip, limit or index) matches the
    /// whole collection when the cursor opens, then reads the matching documents in batches
    /// of [`CURSOR_BATCH`], each under the collection's lock for that batch only. As with a
    /// MongoDB cursor between batches, a document changed after the cursor opened is
    /// returned as it is when its batch is read, and only if it still matches; a deleted one
    /// is skipped; one inserted later is not returned. If the collection is dropped or
    /// replaced, the next batch is an error (`QueryPlanKilled`) and the cursor ends. Any
    /// other find runs whole when the cursor opens (its answer copied as BSON bytes).
    pub fn cursor(self) -> Result<Cursor<T>> {
        let ns = self.coll.ns()?.clone();
        let source = self.coll.db.with_collection_ctx(ns.key(), false, |ctx| {
            let mut spec = FindSpec::parse(&self.filter, self.sort.as_ref(), self.projection.as_ref(), self.skip, self.limit, &vars(ctx))?;
            spec.hint = super::index::plan::Hint::parse(self.hint.as_ref())?;
            let Some(c) = engine::collection(ctx, &ns)? else { return Ok(Source::Whole(Vec::new().into_iter())) };
            Ok(match engine::lazy_scan(c, &spec)? {
                Some(rids) => Source::Batches(Box::new(Batches {
                    db: self.coll.db.clone(),
                    ns: ns.clone(),
                    epoch: c.epoch(),
                    filter: spec.filter,
                    rids: rids.into_iter(),
                    buf: Vec::new(),
                    ends: Vec::new(),
                    next: 0,
                    failed: false,
                })),
                None => Source::Whole(engine::find_all_raw(c, &spec)?.into_iter()),
            })
        })?;
        Ok(Cursor { source, _type: PhantomData })
    }
}

/// How many documents a [`Cursor`] over a collection scan reads per batch (per lock).
pub const CURSOR_BATCH: usize = 256;

/// The results of [`Find::cursor`], in order: an iterator of `Result<T>`. An item is an error
/// when a stored document does not deserialize into `T` (the cursor goes on), or when the
/// collection went away while the cursor was open (the cursor ends).
pub struct Cursor<T> {
    source: Source,
    _type: PhantomData<fn() -> T>,
}

enum Source {
    /// The whole answer, fetched when the cursor opened.
    Whole(std::vec::IntoIter<bson::RawDocumentBuf>),
    Batches(Box<Batches>),
}

/// A collection scan's results, read a batch at a time.
struct Batches {
    db: Db,
    ns: Namespace,
    epoch: super::collection::Epoch,
    filter: Filter,
    /// The record ids matched when the cursor opened and not yet read.
    rids: std::vec::IntoIter<u64>,
    /// The current batch: documents back to back, `ends[i]` the end of the i-th.
    buf: Vec<u8>,
    ends: Vec<usize>,
    /// The index in `ends` of the next document to hand out.
    next: usize,
    failed: bool,
}

impl Batches {
    /// The next document's bytes, reading a batch when the current one is used up.
    fn next_bytes(&mut self) -> Option<Result<&bson::RawDocument>> {
        while self.next == self.ends.len() {
            if self.failed || self.rids.len() == 0 {
                return None;
            }
            if let Err(e) = self.read_batch() {
                self.failed = true;
                return Some(Err(e));
            }
        }
        let start = if self.next == 0 { 0 } else { self.ends[self.next - 1] };
        let end = self.ends[self.next];
        self.next += 1;
        Some(bson::RawDocument::from_bytes(&self.buf[start..end]).map_err(|e| Error::Document(Box::new(super::collection::corrupt(e)))))
    }

    fn read_batch(&mut self) -> Result<()> {
        self.buf.clear();
        self.ends.clear();
        self.next = 0;
        let take = self.rids.len().min(CURSOR_BATCH);
        let rids = &self.rids.as_slice()[..take];
        let (buf, ends, filter, epoch, ns) = (&mut self.buf, &mut self.ends, &self.filter, self.epoch, &self.ns);
        self.db.with_collection_ctx(ns.key(), false, |ctx| match engine::collection(ctx, ns)? {
            Some(c) if c.epoch() == epoch => Ok(engine::fetch_matching(c, filter, rids, buf, ends)?),
            _ => Err(DocError::new(
                super::error::codes::QUERY_PLAN_KILLED,
                "QueryPlanKilled",
                format!("collection {}.{} was dropped while the cursor was open", ns.db, ns.coll),
            )),
        })?;
        self.rids.nth(take - 1);
        Ok(())
    }
}

impl<T: DeserializeOwned + 'static> Iterator for Cursor<T> {
    type Item = Result<T>;

    fn next(&mut self) -> Option<Result<T>> {
        match &mut self.source {
            Source::Whole(docs) => docs.next().map(from_raw),
            Source::Batches(b) => b.next_bytes().map(|r| r.and_then(from_raw_ref)),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.source {
            Source::Whole(docs) => docs.size_hint(),
            Source::Batches(b) => (0, Some(b.ends.len() - b.next + b.rids.len())),
        }
    }
}
