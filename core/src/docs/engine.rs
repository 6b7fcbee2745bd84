//! Document operations on a locked keyspace context: the one place where collections are read
//! and changed, so every surface (Rust API, `run_command`, C, Python) has the same semantics.
//!
//! Invariants:
//! - A collection lives under the key `"<db>.<collection>"` as `Value::Collection`. A key of
//!   another type under that name makes document commands fail (TypeMismatch), never clobbers it.
//! - Every change is logged, in the same context (so in the same atomic log record as any
//!   key commands of a transaction), as an oplog entry `{op, ns, o, o2}` wrapped in the internal
//!   log command `OPLOG_COMMAND` (never reachable through the command table):
//!   `i` insert (`o` = the stored document, with its `_id`), `u` update (`o` = the post-image,
//!   `o2` = `{_id}`), `d` delete (`o` = `{_id}`), `c` command (`ns` = `"<db>.$cmd"`,
//!   `o` = `{create: name}` / `{drop: name}` / `{renameCollection, to, dropTarget}`).
//!   Replay applies effects, never re-evaluates queries, so it is exact.
//! - A write either applies completely to one document or not at all (update operators work
//!   on a copy and replace it), and a refused document (duplicate `_id`, too large or too deep)
//!   changes nothing.

use bson::{doc, Bson, Document, RawDocument, RawDocumentBuf};

use super::collection::{bson_size, raw_id, to_document, to_raw, to_raw_sized, Collection, Rejected, PARALLEL_INSERT_MIN};
use super::error::codes;
use super::expr::Variables;
use super::index::plan::{Hint, KeyRange, Planned, Produced, Query};
use super::index::Refusal;
use super::projection::Projection;
use super::query::Filter;
use super::sort::Sort;
use super::update::Update;
use super::{value, DocError, MAX_DEPTH, MAX_DOCUMENT_BYTES};
use crate::keyspace::Ctx;
use crate::types::Value;

/// The internal log command carrying one oplog entry (BSON). Not a command name a client can
/// send: the command table does not know it; recovery dispatches it here.
pub(crate) const OPLOG_COMMAND: &[u8] = b"nestdb.oplog";

/// The collection part of a database-level aggregation's cursor namespace.
pub(crate) const DB_AGGREGATE: &str = "$cmd.aggregate";

/// A namespace: database and collection names, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Namespace {
    pub db: String,
    pub coll: String,
    /// `db.coll`, the keyspace key: formatted once, since every document operation looks the
    /// collection up by it (the names are never changed after `new`).
    full: String,
}

impl Namespace {
    /// Validate names as MongoDB does (code 73 InvalidNamespace).
    pub fn new(db: &str, coll: &str) -> Result<Namespace, DocError> {
        check_db_name(db)?;
        if coll.is_empty() || coll.contains('\0') || coll.starts_with('.') || coll.contains('$') {
            return Err(DocError::new(codes::INVALID_NAMESPACE, "InvalidNamespace", format!("Invalid collection name: {coll}")));
        }
        if db.len() + 1 + coll.len() > 255 {
            return Err(DocError::new(
                codes::INVALID_NAMESPACE,
                "InvalidNamespace",
                format!("Fully qualified namespace is too long: {db}.{coll}"),
            ));
        }
        Ok(Namespace { db: db.to_string(), coll: coll.to_string(), full: format!("{db}.{coll}") })
    }

    /// The namespace of a database-level aggregation's cursor (`{aggregate: 1}`):
    /// `db.$cmd.aggregate`, as MongoDB names it; never a collection.
    pub fn db_aggregate(db: &str) -> Result<Namespace, DocError> {
        check_db_name(db)?;
        Ok(Namespace { db: db.to_string(), coll: DB_AGGREGATE.to_string(), full: format!("{db}.{DB_AGGREGATE}") })
    }

    /// A cursor's namespace as `getMore` names it: a collection, or `$cmd.aggregate`.
    pub fn of_cursor(db: &str, coll: &str) -> Result<Namespace, DocError> {
        if coll == DB_AGGREGATE {
            Namespace::db_aggregate(db)
        } else {
            Namespace::new(db, coll)
        }
    }

    /// Parse `"db.coll"` (the collection part may contain dots).
    pub fn parse(full: &str) -> Result<Namespace, DocError> {
        match full.split_once('.') {
            Some((db, coll)) => Namespace::new(db, coll),
            None => Err(DocError::new(codes::INVALID_NAMESPACE, "InvalidNamespace", format!("Invalid namespace specified '{full}'"))),
        }
    }

    /// The keyspace key holding this collection.
    pub fn key(&self) -> &str {
        &self.full
    }
}

pub(crate) fn check_db_name(db: &str) -> Result<(), DocError> {
    if db.is_empty() || db.len() > 63 || db.chars().any(|c| matches!(c, '/' | '\\' | '.' | ' ' | '"' | '$' | '\0')) {
        return Err(DocError::new(codes::INVALID_NAMESPACE, "InvalidNamespace", format!("Invalid database name: '{db}'")));
    }
    Ok(())
}

fn wrong_type(ns: &Namespace, v: &Value) -> DocError {
    DocError::type_mismatch(format!("WRONGTYPE the key '{}' holds a Redis {} value, not a collection", ns.key(), v.type_name()))
}

/// The collection at `ns`, read-only (None if it does not exist).
pub(crate) fn collection<'c>(ctx: &'c Ctx<'_>, ns: &Namespace) -> Result<Option<&'c Collection>, DocError> {
    match ctx.lookup(ns.key().as_bytes()) {
        None => Ok(None),
        // A collection is never packed: it is in its node.
        Some(e) => match e.as_node() {
            Some(crate::keyspace::Entry { value: Value::Collection(c), .. }) => Ok(Some(c)),
            _ => Err(wrong_type(ns, &e.value)),
        },
    }
}

/// The collection at `ns` for writing; created (and the creation logged) when `create`.
pub(crate) fn collection_mut<'c>(ctx: &'c mut Ctx<'_>, ns: &Namespace, create: bool) -> Result<Option<&'c mut Collection>, DocError> {
    let key = ns.key();
    let exists = match ctx.lookup(key.as_bytes()) {
        None => false,
        Some(e) if e.value.is_collection() => true,
        Some(e) => return Err(wrong_type(ns, &e.value)),
    };
    if !exists {
        if !create {
            return Ok(None);
        }
        ctx.insert(key.as_bytes(), Value::Collection(Box::default()), 0);
        log(ctx, &doc! {"op": "c", "ns": format!("{}.$cmd", ns.db), "o": {"create": &ns.coll}});
    }
    match ctx.lookup_mut(key.as_bytes()).map(|e| &mut e.value) {
        Some(Value::Collection(c)) => Ok(Some(c)),
        _ => Ok(None),
    }
}

/// Append an oplog entry to the context's log record and count the change.
pub(crate) fn log(ctx: &mut Ctx<'_>, entry: &Document) {
    if !ctx.logging {
        ctx.dirty += 1;
        return;
    }
    let mut buf = Vec::with_capacity(128);
    if entry.to_writer(&mut buf).is_ok() {
        log_raw(ctx, &buf);
    }
}

/// Append an encoded oplog entry (see `oplog_entry`) and count the change.
pub(crate) fn log_raw(ctx: &mut Ctx<'_>, entry: &[u8]) {
    ctx.dirty += 1;
    if ctx.logging {
        crate::util::resp::encode_command(&mut ctx.effects, &[OPLOG_COMMAND, entry]);
    }
}

/// The BSON of `{op, ns, o, o2?}` with `o` (and `o2`) given as encoded documents: written
/// directly, so logging a stored document costs one copy of its bytes.
pub(crate) fn oplog_entry(op: &str, ns: &str, o: &[u8], o2: Option<&[u8]>) -> Vec<u8> {
    let mut b = Vec::with_capacity(32 + ns.len() + o.len() + o2.map_or(0, <[u8]>::len));
    b.extend_from_slice(&[0; 4]);
    for (key, value) in [("op", op), ("ns", ns)] {
        b.push(0x02);
        b.extend_from_slice(key.as_bytes());
        b.push(0);
        b.extend_from_slice(&((value.len() + 1) as i32).to_le_bytes());
        b.extend_from_slice(value.as_bytes());
        b.push(0);
    }
    for (key, doc) in [("o", Some(o)), ("o2", o2)] {
        if let Some(doc) = doc {
            b.push(0x03);
            b.extend_from_slice(key.as_bytes());
            b.push(0);
            b.extend_from_slice(doc);
        }
    }
    b.push(0);
    let len = b.len() as i32;
    b[..4].copy_from_slice(&len.to_le_bytes());
    b
}

/// Mark the collection key modified (WATCH, dirty) after a document change.
pub(crate) fn touched_pub(ctx: &mut Ctx<'_>, ns: &Namespace) {
    touched(ctx, ns)
}

fn touched(ctx: &mut Ctx<'_>, ns: &Namespace) {
    ctx.modified(ns.key().as_bytes());
}

// --- Validation ------------------------------------------------------------------------------

/// Check a document about to be stored: size, nesting depth, field names. Returns its size.
pub fn validate_document(doc: &Document) -> Result<usize, DocError> {
    fn walk(d: &Document, depth: usize) -> Result<(), DocError> {
        if depth > MAX_DEPTH {
            return Err(DocError::new(codes::OVERFLOW, "Overflow", format!("document exceeds the maximum nesting depth of {MAX_DEPTH}")));
        }
        for (k, v) in d {
            if k.contains('\0') {
                return Err(DocError::bad_value("field names cannot contain a NUL byte"));
            }
            walk_value(v, depth)?;
        }
        Ok(())
    }
    fn walk_value(v: &Bson, depth: usize) -> Result<(), DocError> {
        match v {
            Bson::Document(d) => walk(d, depth + 1),
            Bson::Array(a) => {
                if depth + 1 > MAX_DEPTH {
                    return Err(DocError::new(
                        codes::OVERFLOW,
                        "Overflow",
                        format!("document exceeds the maximum nesting depth of {MAX_DEPTH}"),
                    ));
                }
                a.iter().try_for_each(|e| walk_value(e, depth + 1))
            }
            Bson::String(s) if s.contains('\0') => Ok(()),
            _ => Ok(()),
        }
    }
    walk(doc, 1)?;
    let size = bson_size(doc);
    if size > MAX_DOCUMENT_BYTES {
        return Err(DocError::new(
            codes::BSON_OBJECT_TOO_LARGE,
            "BSONObjectTooLarge",
            format!("object to insert too large. size in bytes: {size}, max size: {MAX_DOCUMENT_BYTES}"),
        ));
    }
    Ok(size)
}

fn check_id(id: &Bson) -> Result<(), DocError> {
    let bad = match id {
        Bson::Array(_) => "array",
        Bson::RegularExpression(_) => "regex",
        Bson::Undefined => "undefined",
        _ => return Ok(()),
    };
    Err(DocError::new(codes::INVALID_ID_FIELD, "InvalidIdField", format!("The '_id' value cannot be of type {bad}")))
}

/// The document as stored: `_id` first (generated as an ObjectId when absent), validated.
pub fn prepare_insert(mut doc: Document) -> Result<Document, DocError> {
    let first_is_id = doc.keys().next().map(String::as_str) == Some("_id");
    if !first_is_id {
        let id = doc.remove("_id").unwrap_or_else(|| Bson::ObjectId(bson::oid::ObjectId::new()));
        let mut with_id = Document::new();
        with_id.insert("_id", id);
        with_id.extend(doc);
        doc = with_id;
    }
    if let Some(id) = doc.get("_id") {
        check_id(id)?;
    }
    validate_document(&doc)?;
    Ok(doc)
}

/// The E11000 error for a duplicate `_id`.
pub fn duplicate_id(ns: &Namespace, id: &Bson) -> DocError {
    let mut e = DocError::new(
        codes::DUPLICATE_KEY,
        "DuplicateKey",
        format!("E11000 duplicate key error collection: {}.{} index: _id_ dup key: {{ _id: {} }}", ns.db, ns.coll, shell_repr(id)),
    );
    e.details = Some(Box::new(doc! {"keyPattern": {"_id": 1}, "keyValue": {"_id": id.clone()}}));
    e
}

/// The error for a write the collection refused.
pub fn rejected(ns: &Namespace, id: &Bson, why: Rejected) -> DocError {
    match why {
        Rejected::DuplicateId => duplicate_id(ns, id),
        Rejected::Index(Refusal::Invalid(e)) => e,
        Rejected::Index(Refusal::Duplicate(dup)) => {
            let super::index::DuplicateKey { index, key_pattern, key_value } = *dup;
            let shown: Vec<String> = key_value.iter().map(|(k, v)| format!("{k}: {}", shell_repr(v))).collect();
            let mut e = DocError::new(
                codes::DUPLICATE_KEY,
                "DuplicateKey",
                format!("E11000 duplicate key error collection: {}.{} index: {index} dup key: {{ {} }}", ns.db, ns.coll, shown.join(", ")),
            );
            e.details = Some(Box::new(doc! {"keyPattern": key_pattern, "keyValue": key_value}));
            e
        }
    }
}

/// A value as the mongo shell prints it in error messages (`ObjectId('...')`, `"text"`, `1`).
pub fn shell_repr(v: &Bson) -> String {
    match v {
        Bson::ObjectId(o) => format!("ObjectId('{o}')"),
        Bson::String(s) => format!("\"{s}\""),
        Bson::Document(d) => {
            let inner: Vec<String> = d.iter().map(|(k, v)| format!("{k}: {}", shell_repr(v))).collect();
            if inner.is_empty() {
                "{}".into()
            } else {
                format!("{{ {} }}", inner.join(", "))
            }
        }
        Bson::Array(a) => format!("[ {} ]", a.iter().map(shell_repr).collect::<Vec<_>>().join(", ")),
        Bson::Int64(i) => i.to_string(),
        Bson::Double(d) if d.fract() == 0.0 && d.is_finite() => format!("{d:.1}"),
        other => other.to_string(),
    }
}

// --- Inserts ---------------------------------------------------------------------------------

/// What an insert batch did: documents inserted, their `_id`s by input index, and the errors.
#[derive(Debug, Default)]
pub struct InsertOutcome {
    pub inserted: Vec<(usize, Bson)>,
    pub errors: Vec<(usize, DocError)>,
}

/// A document ready to store: validated BSON with `_id` first, and that `_id`.
pub struct Prepared {
    pub raw: PreparedBytes,
    pub id: Bson,
}

/// A prepared document's bytes: a buffer of its own, or its span of a buffer shared by part of
/// a batch (`prepare_all` encodes each part of a big batch into one buffer, so a document
/// costs no allocation of its own, and no free once it is copied into its record page).
#[derive(Clone)]
pub enum PreparedBytes {
    Own(RawDocumentBuf),
    Shared(std::sync::Arc<Vec<u8>>, std::ops::Range<usize>),
}

impl PreparedBytes {
    /// The document as a buffer of its own (a copy for a shared span).
    pub fn into_owned(self) -> RawDocumentBuf {
        match self {
            PreparedBytes::Own(raw) => raw,
            shared => (*shared).to_owned(),
        }
    }
}

impl std::ops::Deref for PreparedBytes {
    type Target = RawDocument;

    fn deref(&self) -> &RawDocument {
        match self {
            PreparedBytes::Own(raw) => raw,
            // The span holds one whole document the encoder wrote and checked.
            PreparedBytes::Shared(buf, span) => RawDocument::from_bytes(&buf[span.clone()]).expect("a prepared span is a whole document"),
        }
    }
}

/// Validate and encode a borrowed document for insertion without copying it first: encoded
/// as it is when `_id` leads, or with a generated ObjectId spliced in front when it has none.
pub fn prepare_ref(doc: &Document) -> Result<Prepared, DocError> {
    match doc.keys().position(|k| k == "_id") {
        Some(0) => {
            let id = doc.get("_id").cloned().unwrap_or(Bson::Null);
            check_id(&id)?;
            if let Some(raw) = super::collection::encode_valid(doc, None) {
                return Ok(Prepared { raw: PreparedBytes::Own(raw), id });
            }
            let size = validate_document(doc)?;
            Ok(Prepared { raw: PreparedBytes::Own(to_raw_sized(doc, size)?), id })
        }
        Some(_) => prepare(doc.clone()),
        None => {
            let oid = bson::oid::ObjectId::new();
            if let Some(raw) = super::collection::encode_valid(doc, Some(&oid)) {
                return Ok(Prepared { raw: PreparedBytes::Own(raw), id: Bson::ObjectId(oid) });
            }
            let size = validate_document(doc)?;
            let body = to_raw_sized(doc, size)?.into_bytes();
            let mut bytes = Vec::with_capacity(body.len() + 17);
            bytes.extend_from_slice(&((body.len() + 17) as i32).to_le_bytes());
            bytes.push(0x07);
            bytes.extend_from_slice(b"_id\0");
            bytes.extend_from_slice(&oid.bytes());
            bytes.extend_from_slice(&body[4..]);
            if bytes.len() > MAX_DOCUMENT_BYTES {
                return Err(DocError::new(
                    codes::BSON_OBJECT_TOO_LARGE,
                    "BSONObjectTooLarge",
                    format!("object to insert too large. size in bytes: {}, max size: {MAX_DOCUMENT_BYTES}", bytes.len()),
                ));
            }
            let raw = RawDocumentBuf::from_bytes(bytes).map_err(|e| DocError::bad_value(format!("invalid BSON: {e}")))?;
            Ok(Prepared { raw: PreparedBytes::Own(raw), id: Bson::ObjectId(oid) })
        }
    }
}

/// Batches at least this large are encoded by several threads (`prepare_all`).
const PARALLEL_PREPARE_MIN: usize = 256;

/// Bytes `prepare_all` reserves per document of a part: the last part's average, so a part's
/// shared buffer is seldom grown while it fills.
static PREPARED_BYTES_HINT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(512);

/// `prepare_ref` for each of `docs`, in order. A large batch is encoded by up to
/// `available_parallelism` threads (at most 8) over contiguous parts: encoding and checking a
/// document reads nothing shared, and reading the caller's documents (a tree of heap blocks
/// each, often long out of cache) is most of an insert's time. Documents without an `_id` are
/// left to the calling thread, in order, so generated ObjectIds still increase with position
/// in the batch as a driver's do.
pub fn prepare_all(docs: &[&Document]) -> Vec<Result<Prepared, DocError>> {
    let threads = worker_threads();
    if threads < 2 || docs.len() < PARALLEL_PREPARE_MIN {
        return docs.iter().map(|d| prepare_ref(d)).collect();
    }
    let with_id = |part: &[&Document]| -> Vec<Option<Result<Prepared, DocError>>> {
        // Documents whose `_id` leads go into one buffer for the part; the rest (and any the
        // one-pass encoder leaves to the slow path) through `prepare_ref`.
        enum Slot {
            Span(std::ops::Range<usize>, Bson),
            Done(Option<Result<Prepared, DocError>>),
        }
        let hint = PREPARED_BYTES_HINT.load(std::sync::atomic::Ordering::Relaxed);
        let mut buf = Vec::with_capacity(part.len() * hint + hint);
        let slots: Vec<Slot> = part
            .iter()
            .map(|d| {
                let Some((first, id)) = d.iter().next() else { return Slot::Done(None) };
                if first != "_id" {
                    return Slot::Done(d.contains_key("_id").then(|| prepare_ref(d)));
                }
                if let Err(e) = check_id(id) {
                    return Slot::Done(Some(Err(e)));
                }
                let start = buf.len();
                if super::collection::encode_valid_into(d, &mut buf) {
                    Slot::Span(start..buf.len(), id.clone())
                } else {
                    Slot::Done(Some(prepare_ref(d)))
                }
            })
            .collect();
        if !part.is_empty() {
            // The next parts reserve for documents the size of this part's (plus 1/8).
            let average = buf.len() / part.len();
            PREPARED_BYTES_HINT.store((average + average / 8).clamp(64, 1 << 16), std::sync::atomic::Ordering::Relaxed);
        }
        let buf = std::sync::Arc::new(buf);
        slots
            .into_iter()
            .map(|s| match s {
                Slot::Span(span, id) => Some(Ok(Prepared { raw: PreparedBytes::Shared(buf.clone(), span), id })),
                Slot::Done(p) => p,
            })
            .collect()
    };
    // A panic in a worker goes on on the caller's thread, as if it had happened there.
    let parts = on_threads(docs.chunks(docs.len().div_ceil(threads)).collect(), with_id);
    let parts = parts.into_iter().map(|p| p.unwrap_or_else(|e| std::panic::resume_unwind(e)));
    parts.flatten().zip(docs).map(|(p, d)| p.unwrap_or_else(|| prepare_ref(d))).collect()
}

/// Threads a parallel pass (a scan, a batch encode, a projection) may use; below 2 it runs on
/// the calling thread.
fn worker_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()).min(8)
}

/// `work` on each of `parts`, one scoped thread per part, the results in the parts' order. A
/// part whose thread cannot be started runs on the calling thread instead; a worker's panic
/// comes back as that part's `Err`.
fn on_threads<P, R>(parts: Vec<P>, work: impl Fn(P) -> R + Sync) -> Vec<std::thread::Result<R>>
where
    P: Copy + Send,
    R: Send,
{
    let work = &work;
    std::thread::scope(|scope| {
        let handles: Vec<_> =
            parts.into_iter().map(|part| (part, std::thread::Builder::new().spawn_scoped(scope, move || work(part)).ok())).collect();
        handles
            .into_iter()
            .map(|(part, h)| match h {
                Some(h) => h.join(),
                None => Ok(work(part)),
            })
            .collect()
    })
}

/// Validate and encode a document for insertion (see `prepare_insert`).
pub fn prepare(doc: Document) -> Result<Prepared, DocError> {
    let doc = prepare_insert(doc)?;
    Ok(Prepared { id: doc.get("_id").cloned().unwrap_or(Bson::Null), raw: PreparedBytes::Own(to_raw(&doc)?) })
}

/// Validate a document already encoded as BSON for insertion: `_id` first (a document
/// without one, or with it elsewhere, is decoded and prepared as a `Document`), `_id` type,
/// size and nesting.
pub fn prepare_raw(raw: RawDocumentBuf) -> Result<Prepared, DocError> {
    let first_is_id = matches!(raw.iter().next(), Some(Ok((k, _))) if k.as_str() == "_id");
    if !first_is_id {
        return prepare(to_document(&raw)?);
    }
    let id = raw_id(&raw);
    check_id(&id)?;
    let size = raw.as_bytes().len();
    if size > MAX_DOCUMENT_BYTES {
        return Err(DocError::new(
            codes::BSON_OBJECT_TOO_LARGE,
            "BSONObjectTooLarge",
            format!("object to insert too large. size in bytes: {size}, max size: {MAX_DOCUMENT_BYTES}"),
        ));
    }
    fn depth_ok(d: &RawDocument, depth: usize) -> Result<bool, DocError> {
        if depth > MAX_DEPTH {
            return Ok(false);
        }
        for el in d {
            let (_, v) = el.map_err(|e| DocError::bad_value(format!("invalid BSON: {e}")))?;
            let ok = match v {
                bson::RawBsonRef::Document(sub) => depth_ok(sub, depth + 1)?,
                bson::RawBsonRef::Array(a) => depth_ok_array(a, depth + 1)?,
                _ => true,
            };
            if !ok {
                return Ok(false);
            }
        }
        Ok(true)
    }
    fn depth_ok_array(a: &bson::RawArray, depth: usize) -> Result<bool, DocError> {
        if depth > MAX_DEPTH {
            return Ok(false);
        }
        for v in a {
            let v = v.map_err(|e| DocError::bad_value(format!("invalid BSON: {e}")))?;
            let ok = match v {
                bson::RawBsonRef::Document(sub) => depth_ok(sub, depth + 1)?,
                bson::RawBsonRef::Array(inner) => depth_ok_array(inner, depth + 1)?,
                _ => true,
            };
            if !ok {
                return Ok(false);
            }
        }
        Ok(true)
    }
    // The fast walk accepts a well-formed document; anything else goes through the bson
    // crate's iterator, which names the problem.
    let ok = match raw_shape_ok(raw.as_bytes(), 1) {
        Some(ok) => ok,
        None => depth_ok(&raw, 1)?,
    };
    if !ok {
        return Err(DocError::new(codes::OVERFLOW, "Overflow", format!("document exceeds the maximum nesting depth of {MAX_DEPTH}")));
    }
    Ok(Prepared { raw: PreparedBytes::Own(raw), id })
}

/// One pass over a BSON document's bytes: every length in bounds, every string and key valid
/// UTF-8 and terminated, every element type known, booleans 0 or 1. `Some(false)`: well formed
/// but nested deeper than `MAX_DEPTH`; `None`: malformed (the caller asks the bson crate why).
/// Several times cheaper than the bson crate's iterator, which builds a value per element.
fn raw_shape_ok(b: &[u8], depth: usize) -> Option<bool> {
    fn len_at(b: &[u8], at: usize) -> Option<usize> {
        usize::try_from(i32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?)).ok()
    }
    fn cstring(b: &[u8], at: usize) -> Option<usize> {
        let n = b.get(at..)?.iter().position(|&c| c == 0)?;
        std::str::from_utf8(&b[at..at + n]).ok()?;
        Some(at + n + 1)
    }
    /// A length-prefixed, NUL-terminated UTF-8 string at `at`; the offset after it.
    fn string(b: &[u8], at: usize) -> Option<usize> {
        let n = len_at(b, at)?;
        let end = (at + 4).checked_add(n)?;
        if n == 0 || end > b.len() || b[end - 1] != 0 {
            return None;
        }
        std::str::from_utf8(&b[at + 4..end - 1]).ok()?;
        Some(end)
    }
    if b.len() < 5 || len_at(b, 0)? != b.len() || b[b.len() - 1] != 0 {
        return None;
    }
    if depth > MAX_DEPTH {
        return Some(false);
    }
    let body_end = b.len() - 1;
    let mut at = 4;
    let mut deep_ok = true;
    while at < body_end {
        let kind = b[at];
        at = cstring(b, at + 1)?;
        at = match kind {
            0x01 | 0x09 | 0x11 | 0x12 => at + 8,
            0x10 => at + 4,
            0x13 => at + 16,
            0x07 => at + 12,
            0x06 | 0x0A | 0x7F | 0xFF => at,
            0x08 => match b.get(at)? {
                0 | 1 => at + 1,
                _ => return None,
            },
            0x02 | 0x0D | 0x0E => string(b, at)?,
            0x03 | 0x04 => {
                let n = len_at(b, at)?;
                let end = at.checked_add(n)?;
                deep_ok &= raw_shape_ok(b.get(at..end)?, depth + 1)?;
                end
            }
            0x05 => {
                let n = len_at(b, at)?;
                // The old binary subtype (2) repeats the length inside: it must agree.
                if *b.get(at + 4)? == 2 && (n < 4 || len_at(b, at + 5)? != n - 4) {
                    return None;
                }
                (at + 5).checked_add(n)?
            }
            0x0B => cstring(b, cstring(b, at)?)?,
            0x0C => string(b, at)? + 12,
            0x0F => {
                let n = len_at(b, at)?;
                let end = at.checked_add(n)?;
                let code_end = string(b, at + 4)?;
                let scope_len = len_at(b, code_end)?;
                if code_end.checked_add(scope_len)? != end {
                    return None;
                }
                raw_shape_ok(b.get(code_end..end)?, depth + 1)?;
                end
            }
            _ => return None,
        };
        if at > body_end {
            return None;
        }
    }
    Some(deep_ok)
}

/// Insert `docs` in order; `ordered` stops at the first error (the rest are not attempted).
pub(crate) fn insert(ctx: &mut Ctx<'_>, ns: &Namespace, docs: Vec<Document>, ordered: bool) -> Result<InsertOutcome, DocError> {
    insert_prepared(ctx, ns, docs.into_iter().map(prepare).collect(), ordered)
}

/// Insert documents prepared (and validated) by the caller; an `Err` entry is that document's
/// write error. `ordered` stops at the first error.
pub(crate) fn insert_prepared(
    ctx: &mut Ctx<'_>,
    ns: &Namespace,
    docs: Vec<Result<Prepared, DocError>>,
    ordered: bool,
) -> Result<InsertOutcome, DocError> {
    let mut out = InsertOutcome::default();
    if docs.is_empty() {
        return Ok(out);
    }
    collection_mut(ctx, ns, true)?;
    let logging = ctx.logging;
    let ns_full = ns.key();
    let mut entries: Vec<Vec<u8>> = Vec::new();
    {
        let coll = collection_mut(ctx, ns, false)?.expect("created above");
        // Runs of valid documents go in on parallel threads (records and each index on its own)
        // up to the first one `insert` would refuse; that one, invalid documents and runs too
        // short for threads go in one at a time, and so do the next `PARALLEL_INSERT_MIN`
        // documents after a refusal (a batch of mostly duplicates, an unordered retry, does
        // not start threads per document).
        let mut docs: Vec<Option<Result<Prepared, DocError>>> = docs.into_iter().map(Some).collect();
        let (mut at, mut run_end, mut serial_until) = (0, 0, 0);
        while at < docs.len() {
            if run_end <= at {
                run_end = at + docs[at..].iter().take_while(|d| matches!(d, Some(Ok(_)))).count();
            }
            if at >= serial_until && coll.parallel_insert(run_end - at) {
                let raws: Vec<&RawDocument> = docs[at..run_end].iter().filter_map(|d| d.as_ref()?.as_ref().ok()).map(|p| &*p.raw).collect();
                let accepted = coll.insert_run(&raws);
                for (i, d) in docs.iter_mut().enumerate().skip(at).take(accepted) {
                    if let Some(Ok(p)) = d.take() {
                        entries.extend(logging.then(|| oplog_entry("i", ns_full, p.raw.as_bytes(), None)));
                        out.inserted.push((i, p.id));
                    }
                }
                at += accepted;
                if at == docs.len() {
                    break;
                }
                serial_until = at + 1 + PARALLEL_INSERT_MIN;
            }
            let i = at;
            at += 1;
            let Prepared { raw, id } = match docs[i].take() {
                Some(Ok(p)) => p,
                Some(Err(e)) => {
                    out.errors.push((i, e));
                    if ordered {
                        break;
                    }
                    continue;
                }
                None => continue,
            };
            let entry = logging.then(|| oplog_entry("i", ns_full, raw.as_bytes(), None));
            match coll.insert(raw.into_owned()) {
                Ok(_) => {
                    entries.extend(entry);
                    out.inserted.push((i, id));
                }
                Err((_, why)) => {
                    out.errors.push((i, rejected(ns, &id, why)));
                    if ordered {
                        break;
                    }
                }
            }
        }
    }
    for e in entries {
        log_raw(ctx, &e);
    }
    ctx.dirty += out.inserted.len() as u64;
    if !out.inserted.is_empty() {
        touched(ctx, ns);
    }
    Ok(out)
}

// --- Reads -----------------------------------------------------------------------------------

/// Whether a stored document matches `filter` (on its bytes: `Filter::matches_raw`).
#[inline]
pub(crate) fn matches(filter: &Filter, doc: &RawDocument) -> Result<bool, DocError> {
    filter.matches_raw(doc)
}

/// A parsed find: filter, sort, projection, skip and limit (0 = none).
pub struct FindSpec {
    pub filter: Filter,
    pub sort: Option<Sort>,
    pub projection: Option<Projection>,
    pub skip: u64,
    pub limit: u64,
    pub hint: Hint,
    /// `min`/`max`: bounds on the hinted index's key.
    pub key_range: KeyRange,
    /// `showRecordId`: each result gets a `$recordId` field (its record id, an int64).
    pub show_record_id: bool,
    /// `returnKey`: each result is the index key it was read under (`{}` without an index).
    pub return_key: bool,
}

impl FindSpec {
    pub fn parse(
        filter: &Document,
        sort: Option<&Document>,
        projection: Option<&Document>,
        skip: u64,
        limit: u64,
        vars: &Variables,
    ) -> Result<FindSpec, DocError> {
        Ok(FindSpec {
            filter: Filter::parse(filter, vars)?,
            sort: sort.filter(|s| !s.is_empty()).map(Sort::parse).transpose()?,
            projection: projection.filter(|p| !p.is_empty()).map(|p| Projection::parse(p, vars)).transpose()?,
            skip,
            limit,
            hint: Hint::None,
            key_range: KeyRange::default(),
            show_record_id: false,
            return_key: false,
        })
    }

    fn project(&self, doc: &RawDocument) -> Result<Document, DocError> {
        self.project_scored(doc, None)
    }

    fn project_scored(&self, doc: &RawDocument, score: Option<f64>) -> Result<Document, DocError> {
        let doc = to_document(doc)?;
        match &self.projection {
            Some(p) => p.apply_scored(&doc, Some(&self.filter), score),
            None => Ok(doc),
        }
    }

    /// The planner's view of this find.
    pub(crate) fn query(&self) -> Query<'_> {
        Query {
            sort: self.sort.as_ref(),
            projection: self.projection.as_ref(),
            skip: self.skip,
            limit: self.limit,
            key_range: Some(&self.key_range),
            records: self.show_record_id || self.return_key,
            ..Query::new(&self.filter, &self.hint)
        }
    }
}

/// Turn planner results into projected documents.
fn materialize(coll: &Collection, spec: &FindSpec, planned: &Planned<'_>, produced: Vec<Produced>) -> Result<Vec<Document>, DocError> {
    let mut out = Vec::with_capacity(produced.len());
    for p in produced {
        match p {
            Produced::Record(rid, score) => {
                if let Some(d) = coll.get(rid) {
                    let mut doc = if spec.return_key { planned.index_key(coll, rid)? } else { spec.project_scored(d, score)? };
                    if spec.show_record_id {
                        doc.insert("$recordId", Bson::Int64(rid as i64));
                    }
                    out.push(doc);
                }
            }
            Produced::Covered(d) => out.push(d),
        }
    }
    Ok(out)
}

/// Where a find stopped: the next record id to look at (unsorted scans) and what is left of
/// skip and limit.
#[derive(Clone, Debug)]
pub struct ScanResume {
    pub next_record: u64,
    pub skip_left: u64,
    /// Documents still to return (None = no limit).
    pub limit_left: Option<u64>,
}

/// Run a find over `coll`, returning up to `batch` documents (projected) and, when the scan can
/// continue (unsorted, more documents may match), where to resume. Sorted finds return every
/// result (the caller batches them).
pub fn find_in(
    coll: &Collection,
    spec: &FindSpec,
    resume: Option<ScanResume>,
    batch: usize,
) -> Result<(Vec<Document>, Option<ScanResume>), DocError> {
    let mut out = Vec::new();
    if resume.is_none() {
        // Index scans, `_id` lookups, text search, reverse scans: the planner runs them. A
        // forward collection scan stays on the paths below (parallel, or resumable).
        let q = spec.query();
        let planned = Planned::new(coll, &q)?;
        // `showRecordId` and `min`/`max` too: results carry their record ids there.
        let planner_only = spec.show_record_id || spec.return_key || spec.key_range != KeyRange::default();
        if planned.uses_index() || planner_only || spec.hint != Hint::None || spec.sort.as_ref().is_some_and(|s| s.natural().is_some()) {
            let outcome = planned.run(coll, &q)?;
            return Ok((materialize(coll, spec, &planned, outcome.docs)?, None));
        }
    }
    if let Some(sort) = &spec.sort {
        let mut keyed: Vec<(Vec<Bson>, &RawDocument)> = Vec::new();
        for rid in parallel_matches(coll, &spec.filter)? {
            if let Some(d) = coll.get(rid) {
                keyed.push((sort.try_key(&to_document(d)?)?, d));
            }
        }
        keyed.sort_by(|a, b| sort.compare_keys(&a.0, &b.0));
        let take = if spec.limit == 0 { usize::MAX } else { spec.limit as usize };
        for (_, d) in keyed.into_iter().skip(spec.skip as usize).take(take) {
            out.push(spec.project(d)?);
        }
        return Ok((out, None));
    }
    let mut state =
        resume.unwrap_or(ScanResume { next_record: 0, skip_left: spec.skip, limit_left: (spec.limit != 0).then_some(spec.limit) });
    if state.limit_left == Some(0) {
        return Ok((out, None));
    }
    if let Some(id) = spec.filter.id_equality() {
        if let Some((rid, d)) = coll.get_by_id(id) {
            if rid >= state.next_record && state.skip_left == 0 {
                out.push(spec.project(d)?);
            }
        }
        return Ok((out, None));
    }
    if batch == usize::MAX && state.next_record == 0 && state.limit_left.is_none() {
        // Everything at once (the Rust API): match in parallel, then skip, project. (With a
        // limit, the scan below stops as soon as it has enough.)
        let rids: Vec<u64> = parallel_matches(coll, &spec.filter)?
            .into_iter()
            .skip(state.skip_left as usize)
            .take(state.limit_left.map_or(usize::MAX, |l| l as usize))
            .collect();
        return Ok((project_all(coll, spec, &rids)?, None));
    }
    for (rid, d) in coll.scan_from(state.next_record) {
        if out.len() >= batch {
            state.next_record = rid;
            return Ok((out, Some(state)));
        }
        if !matches(&spec.filter, d)? {
            continue;
        }
        if state.skip_left > 0 {
            state.skip_left -= 1;
            continue;
        }
        out.push(spec.project(d)?);
        if let Some(l) = &mut state.limit_left {
            *l -= 1;
            if *l == 0 {
                return Ok((out, None));
            }
        }
    }
    Ok((out, None))
}

/// Every result of `spec` as BSON bytes: stored documents copied as they are when nothing
/// reshapes them, projected ones encoded. For answers that fit one batch (`limit` set).
pub fn find_raw_in(coll: &Collection, spec: &FindSpec) -> Result<Vec<RawDocumentBuf>, DocError> {
    let q = spec.query();
    let planned = Planned::new(coll, &q)?;
    run_raw(coll, spec, &q, planned)
}

/// Every result of `spec` at once as BSON bytes, for callers that decode them their own way
/// (the Rust API's raw and serde-typed collections). A forward collection scan that nothing
/// reshapes matches in parallel (as `find_in` does) and copies the matches' bytes; anything
/// else runs through the planner as `find_raw_in`.
pub fn find_all_raw(coll: &Collection, spec: &FindSpec) -> Result<Vec<RawDocumentBuf>, DocError> {
    let q = spec.query();
    let planned = Planned::new(coll, &q)?;
    if !is_plain_scan(spec, &planned) {
        return run_raw(coll, spec, &q, planned);
    }
    if spec.limit != 0 {
        // A limited scan stops as soon as it has enough (`find_one` is `limit(1)`).
        let (mut skip, mut out) = (spec.skip, Vec::new());
        for (_, d) in coll.scan_from(0) {
            if !matches(&spec.filter, d)? {
                continue;
            }
            if skip > 0 {
                skip -= 1;
                continue;
            }
            out.push(d.to_owned());
            if out.len() as u64 == spec.limit {
                break;
            }
        }
        return Ok(out);
    }
    Ok(parallel_matches(coll, &spec.filter)?
        .into_iter()
        .skip(spec.skip as usize)
        .filter_map(|rid| coll.get(rid).map(ToOwned::to_owned))
        .collect())
}

/// A forward collection scan whose matches are the answer as stored: no index, hint, sort,
/// projection, text search or `_id` point lookup.
fn is_plain_scan(spec: &FindSpec, planned: &Planned<'_>) -> bool {
    !planned.uses_index()
        && spec.hint == Hint::None
        && spec.sort.is_none()
        && spec.projection.is_none()
        && !spec.filter.has_text()
        && spec.filter.id_equality().is_none()
}

/// For a cursor that fetches its results in batches: when `spec` is a plain forward scan
/// with no skip or limit, the record ids of the documents matching now, in natural order
/// (matched in parallel as `find_all_raw` does); `None` when the find must run as a whole.
pub fn lazy_scan(coll: &Collection, spec: &FindSpec) -> Result<Option<Vec<u64>>, DocError> {
    let q = spec.query();
    let planned = Planned::new(coll, &q)?;
    if !is_plain_scan(spec, &planned) || spec.skip != 0 || spec.limit != 0 {
        return Ok(None);
    }
    parallel_matches(coll, &spec.filter).map(Some)
}

/// A cursor's next batch: appends to `buf` the documents at `rids` that still exist and
/// still match `filter` (one changed or deleted since the cursor opened is read as it is now,
/// or skipped, as a MongoDB cursor does between batches), and the end offset of each in
/// `buf` to `ends`.
pub fn fetch_matching(coll: &Collection, filter: &Filter, rids: &[u64], buf: &mut Vec<u8>, ends: &mut Vec<usize>) -> Result<(), DocError> {
    for &rid in rids {
        if let Some(d) = coll.get(rid) {
            if matches(filter, d)? {
                buf.extend_from_slice(d.as_bytes());
                ends.push(buf.len());
            }
        }
    }
    Ok(())
}

fn run_raw(coll: &Collection, spec: &FindSpec, q: &Query<'_>, planned: Planned<'_>) -> Result<Vec<RawDocumentBuf>, DocError> {
    let outcome = planned.run(coll, q)?;
    let mut out = Vec::with_capacity(outcome.docs.len());
    for p in outcome.docs {
        match p {
            Produced::Record(rid, score) => {
                let Some(d) = coll.get(rid) else { continue };
                if spec.projection.is_none() {
                    out.push(d.to_owned());
                } else {
                    out.push(to_raw(&spec.project_scored(d, score)?)?);
                }
            }
            Produced::Covered(d) => out.push(to_raw(&d)?),
        }
    }
    Ok(out)
}

/// The first document matching `filter` in natural order, copied as stored.
pub fn find_first_raw(coll: &Collection, filter: &Filter) -> Result<Option<RawDocumentBuf>, DocError> {
    if let Some(id) = filter.id_equality() {
        // The filter is exactly that `_id` equality: the index lookup is the whole match.
        return Ok(coll.get_by_id(id).map(|(_, d)| d.to_owned()));
    }
    if let Some(found) = super::index::plan::first_by_point(coll, filter) {
        return Ok(found?.and_then(|rid| coll.get(rid)).map(ToOwned::to_owned));
    }
    if !coll.indexes().is_empty() || filter.has_text() {
        let hint = Hint::None;
        let q = Query { limit: 1, ..Query::new(filter, &hint) };
        let planned = Planned::new(coll, &q)?;
        if planned.uses_index() {
            return Ok(planned.run(coll, &q)?.docs.into_iter().find_map(|p| match p {
                Produced::Record(rid, _) => coll.get(rid).map(ToOwned::to_owned),
                Produced::Covered(_) => None,
            }));
        }
    }
    for d in coll.iter() {
        if matches(filter, d)? {
            return Ok(Some(d.to_owned()));
        }
    }
    Ok(None)
}

/// Record ids of the documents matching `filter` (at most one when `!multi`), in natural
/// order, or in `sort` order when given.
fn matching_records(coll: &Collection, filter: &Filter, multi: bool, sort: Option<&Sort>) -> Result<Vec<u64>, DocError> {
    if let Some(id) = filter.id_equality() {
        return Ok(match coll.get_by_id(id) {
            Some((rid, _)) => vec![rid],
            _ => Vec::new(),
        });
    }
    if !multi && sort.is_none() {
        if let Some(found) = super::index::plan::first_by_point(coll, filter) {
            return Ok(found?.into_iter().collect());
        }
    }
    if !coll.indexes().is_empty() || filter.has_text() || sort.is_some_and(|s| s.natural().is_some()) {
        let hint = Hint::None;
        let q = Query { sort, limit: u64::from(!multi), ..Query::new(filter, &hint) };
        let planned = Planned::new(coll, &q)?;
        if planned.uses_index() || sort.is_some_and(|s| s.natural().is_some()) || filter.has_text() {
            return Ok(planned
                .run(coll, &q)?
                .docs
                .into_iter()
                .filter_map(|p| match p {
                    Produced::Record(rid, _) => Some(rid),
                    Produced::Covered(_) => None,
                })
                .collect());
        }
    }
    if let Some(sort) = sort {
        let mut keyed = Vec::new();
        for (rid, d) in coll.scan_from(0) {
            if matches(filter, d)? {
                keyed.push((sort.try_key(&to_document(d)?)?, rid));
            }
        }
        keyed.sort_by(|a, b| sort.compare_keys(&a.0, &b.0));
        let n = if multi { keyed.len() } else { keyed.len().min(1) };
        return Ok(keyed.into_iter().take(n).map(|(_, r)| r).collect());
    }
    let mut out = Vec::new();
    for (rid, d) in coll.scan_from(0) {
        if matches(filter, d)? {
            out.push(rid);
            if !multi {
                break;
            }
        }
    }
    Ok(out)
}

/// Hint the CPU to fetch a stored document's first bytes (a scan touches one heap block per
/// document; fetching a few documents ahead hides most of that latency).
#[inline(always)]
fn prefetch(bytes: &[u8]) {
    crate::util::prefetch(bytes.as_ptr());
}

/// Record ids of the documents of `docs` (stored bytes, not yet read) matching `filter`,
/// fetching `AHEAD` documents ahead: each is read only after its prefetch.
fn scan_matching<'c>(docs: impl Iterator<Item = (u64, &'c [u8])>, filter: &Filter, out: &mut Vec<u64>) -> Result<(), DocError> {
    const AHEAD: usize = 6;
    let check = |rid: u64, bytes: &[u8], out: &mut Vec<u64>| -> Result<(), DocError> {
        let d = RawDocument::from_bytes(bytes).map_err(super::collection::corrupt)?;
        if matches(filter, d)? {
            out.push(rid);
        }
        Ok(())
    };
    let mut window: std::collections::VecDeque<(u64, &[u8])> = std::collections::VecDeque::with_capacity(AHEAD + 1);
    for item in docs {
        prefetch(item.1);
        window.push_back(item);
        if window.len() > AHEAD {
            let (rid, d) = window.pop_front().expect("non-empty");
            check(rid, d, out)?;
        }
    }
    for (rid, d) in window {
        check(rid, d, out)?;
    }
    Ok(())
}

/// Collections at least this large are scanned by several threads (`parallel_matches`).
const PARALLEL_SCAN_MIN: usize = 64 * 1024;

/// The record ids of every document matching `filter`, in natural order, scanned by up to
/// `available_parallelism` threads over disjoint record-id ranges (a scan holds only the
/// shard's read lock and touches nothing shared, so the ranges are independent). Small
/// collections, and machines with one core, scan on the calling thread.
fn parallel_matches(coll: &Collection, filter: &Filter) -> Result<Vec<u64>, DocError> {
    let threads = worker_threads();
    let Some((first, last)) = coll.record_bounds() else { return Ok(Vec::new()) };
    if threads < 2 || coll.len() < PARALLEL_SCAN_MIN {
        let mut out = Vec::new();
        scan_matching(coll.scan_bytes(0, u64::MAX), filter, &mut out)?;
        return Ok(out);
    }
    let span = (last - first) / threads as u64 + 1;
    let ranges = (0..threads as u64).map(|i| (first + i * span, (first + (i + 1) * span).min(last + 1))).collect();
    let parts = on_threads(ranges, |(from, to)| -> Result<Vec<u64>, DocError> {
        let mut out = Vec::new();
        scan_matching(coll.scan_bytes(from, to), filter, &mut out)?;
        Ok(out)
    });
    let mut out = Vec::new();
    for p in parts {
        out.extend(p.unwrap_or_else(|_| Err(DocError::new(codes::INTERNAL_ERROR, "InternalError", "a scan thread panicked")))?);
    }
    Ok(out)
}

/// Results from this many documents on are projected (decoded into `Document`s) by several
/// threads: decoding, not matching, is then the cost of a find.
const PARALLEL_PROJECT_MIN: usize = 4096;

/// The documents at `rids`, projected, in order; the first error in that order is reported.
fn project_all(coll: &Collection, spec: &FindSpec, rids: &[u64]) -> Result<Vec<Document>, DocError> {
    let project = |part: &[u64]| -> Result<Vec<Document>, DocError> {
        let mut out = Vec::with_capacity(part.len());
        for &rid in part {
            if let Some(d) = coll.get(rid) {
                out.push(spec.project(d)?);
            }
        }
        Ok(out)
    };
    let threads = worker_threads();
    if threads < 2 || rids.len() < PARALLEL_PROJECT_MIN {
        return project(rids);
    }
    let parts = on_threads(rids.chunks(rids.len().div_ceil(threads)).collect(), project);
    let mut out = Vec::with_capacity(rids.len());
    for p in parts {
        out.extend(p.unwrap_or_else(|_| Err(DocError::new(codes::INTERNAL_ERROR, "InternalError", "a projection thread panicked")))?);
    }
    Ok(out)
}

/// Count matching documents after `skip`, up to `limit` (0 = no limit).
pub fn count_in(coll: &Collection, filter: &Filter, skip: u64, limit: u64) -> Result<u64, DocError> {
    let n = if filter.is_empty() {
        coll.len() as u64
    } else if let Some(id) = filter.id_equality() {
        u64::from(coll.get_by_id(id).is_some())
    } else {
        let hint = Hint::None;
        // Skip and limit go into the plan: an index scan stops as soon as it has counted enough.
        let q = Query { skip, limit, count_only: true, ..Query::new(filter, &hint) };
        let planned = Planned::new(coll, &q)?;
        if planned.uses_index() {
            return Ok(planned.run(coll, &q)?.count);
        }
        parallel_matches(coll, filter)?.len() as u64
    };
    let n = n.saturating_sub(skip);
    Ok(if limit == 0 { n } else { n.min(limit) })
}

/// The distinct values of `key` among matching documents (array values contribute their
/// elements), in first-seen order.
pub fn distinct_in(coll: &Collection, key: &str, filter: &Filter) -> Result<Vec<Bson>, DocError> {
    let mut seen: std::collections::HashSet<Vec<u8>> = std::collections::HashSet::new();
    let mut out = Vec::new();
    let mut add = |v: &Bson, out: &mut Vec<Bson>| {
        if seen.insert(value::key_of(v)) {
            out.push(v.clone());
        }
    };
    for rid in matching_records(coll, filter, true, None)? {
        let Some(d) = coll.get(rid) else { continue };
        let mut vals = Vec::new();
        collect_path(&Bson::Document(to_document(d)?), &key.split('.').collect::<Vec<_>>(), &mut vals);
        for v in vals {
            match v {
                Bson::Array(a) => a.iter().for_each(|e| add(e, &mut out)),
                v => add(&v, &mut out),
            }
        }
    }
    Ok(out)
}

/// Values at `path` with arrays of documents traversed (as distinct and queries see them).
fn collect_path(v: &Bson, path: &[&str], out: &mut Vec<Bson>) {
    let Some((first, rest)) = path.split_first() else {
        out.push(v.clone());
        return;
    };
    match v {
        Bson::Document(d) => {
            if let Some(x) = d.get(*first) {
                collect_path(x, rest, out);
            }
        }
        Bson::Array(a) => {
            if let Ok(i) = first.parse::<usize>() {
                if let Some(x) = a.get(i) {
                    collect_path(x, rest, out);
                }
            } else {
                for e in a {
                    if matches!(e, Bson::Document(_)) {
                        collect_path(e, path, out);
                    }
                }
            }
        }
        _ => {}
    }
}

// --- Updates and deletes -----------------------------------------------------------------------

/// One update statement, parsed.
pub struct UpdateSpec {
    pub filter: Filter,
    /// The parsed update (see `UpdateSpec::update`).
    pub update: std::cell::OnceCell<Update>,
    /// The update as given, when its parsing waits for a need: set only with an `in_place`
    /// form (which then usually does all the work, and whose specs always parse).
    pub deferred: Option<(Bson, Variables)>,
    pub upsert: bool,
    pub multi: bool,
    pub sort: Option<Sort>,
    /// Keep the last matched document before and after the change (findAndModify).
    pub return_docs: bool,
    /// The update's in-place form, when it has one (`inplace.rs`): tried before the general path.
    pub in_place: Option<super::inplace::InPlace>,
}

impl UpdateSpec {
    /// The parsed update, parsed now if it was deferred.
    fn update(&self) -> Result<&Update, DocError> {
        if let Some(u) = self.update.get() {
            return Ok(u);
        }
        let Some((source, vars)) = &self.deferred else {
            return Err(DocError::new(codes::INTERNAL_ERROR, "InternalError", "an update statement without its update"));
        };
        let parsed = Update::parse(source, &[], vars)?;
        Ok(self.update.get_or_init(|| parsed))
    }
}

/// What an update statement did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct UpdateOutcome {
    pub matched: u64,
    pub modified: u64,
    pub upserted_id: Option<Bson>,
    /// The last document written (post-image), for findAndModify.
    pub(crate) last_after: Option<Document>,
    pub(crate) last_before: Option<Document>,
}

/// Replace a stored document and log the post-image; returns the document it replaced.
fn replace_logged(ctx: &mut Ctx<'_>, ns: &Namespace, rid: u64, doc: &Document) -> Result<Option<RawDocumentBuf>, DocError> {
    let raw = to_raw(doc)?;
    let entry = if ctx.logging {
        let id = to_raw(&doc! {"_id": doc.get("_id").cloned().unwrap_or(Bson::Null)})?;
        Some(oplog_entry("u", ns.key(), raw.as_bytes(), Some(id.as_bytes())))
    } else {
        None
    };
    let id = doc.get("_id").cloned().unwrap_or(Bson::Null);
    let old = collection_mut(ctx, ns, false)?.expect("exists").replace(rid, raw).map_err(|why| rejected(ns, &id, why))?;
    match entry {
        Some(e) => log_raw(ctx, &e),
        None => ctx.dirty += 1,
    }
    Ok(old)
}

/// Apply the in-place update `patch` to the document at `rid` and log its post-image. None
/// when it does not apply in place (the caller takes the general path). When no index reads
/// the paths it writes, the stored bytes are patched where they are; otherwise a patched copy
/// replaces the document (index upkeep needs the old one and the new one).
fn patch_logged(ctx: &mut Ctx<'_>, ns: &Namespace, rid: u64, patch: &super::inplace::InPlace) -> Result<Option<bool>, DocError> {
    let Some(coll) = collection_mut(ctx, ns, false)? else { return Ok(None) };
    let changed = if coll.indexes().read_any(patch.paths()) {
        let Some(stored) = coll.get(rid) else { return Ok(None) };
        let mut bytes = stored.as_bytes().to_vec();
        let Some(changed) = patch.apply(&mut bytes) else { return Ok(None) };
        if changed {
            let raw = RawDocumentBuf::from_bytes(bytes).map_err(|e| DocError::bad_value(format!("invalid BSON: {e}")))?;
            let id = raw_id(&raw);
            coll.replace(rid, raw).map_err(|why| rejected(ns, &id, why))?;
        }
        changed
    } else {
        match coll.patch(rid, patch) {
            Some(changed) => changed,
            None => return Ok(None),
        }
    };
    if changed {
        if ctx.logging {
            // The entry is built from the stored bytes in place (no copy of the document).
            let entry = match collection(ctx, ns)?.and_then(|c| c.get(rid)) {
                Some(raw) => Some(oplog_entry("u", ns.key(), raw.as_bytes(), Some(to_raw(&doc! {"_id": raw_id(raw)})?.as_bytes()))),
                None => None,
            };
            if let Some(e) = entry {
                log_raw(ctx, &e);
            }
        } else {
            ctx.dirty += 1;
        }
    }
    Ok(Some(changed))
}

/// Apply the in-place update `patch` to the document at `rid` (one matched document): `Some((1,
/// modified))`, or None when it does not apply in place (nothing changed).
pub(crate) fn update_in_place(
    ctx: &mut Ctx<'_>,
    ns: &Namespace,
    rid: u64,
    patch: &super::inplace::InPlace,
) -> Result<Option<(u64, u64)>, DocError> {
    let Some(changed) = patch_logged(ctx, ns, rid, patch)? else { return Ok(None) };
    if changed {
        touched(ctx, ns);
    }
    Ok(Some((1, u64::from(changed))))
}

/// Run one update statement.
pub(crate) fn update(ctx: &mut Ctx<'_>, ns: &Namespace, spec: &UpdateSpec) -> Result<UpdateOutcome, DocError> {
    if spec.multi && spec.in_place.is_none() && spec.update()?.is_replacement() {
        return Err(DocError::failed_to_parse("multi update is not supported for replacement-style update"));
    }
    let mut out = UpdateOutcome::default();
    let records = match collection(ctx, ns)? {
        Some(coll) => matching_records(coll, &spec.filter, spec.multi, spec.sort.as_ref())?,
        None => Vec::new(),
    };
    // A multi-update that fails part way keeps what it changed (as MongoDB does); WATCH must
    // still see the change.
    if let Err(e) = update_matched(ctx, ns, spec, records, &mut out) {
        if out.modified > 0 {
            touched(ctx, ns);
        }
        return Err(e);
    }
    if out.matched > 0 {
        if out.modified > 0 {
            touched(ctx, ns);
        }
        return Ok(out);
    }
    if !spec.upsert {
        return Ok(out);
    }
    upsert(ctx, ns, spec, out)
}

/// Apply `spec` to the documents at `records`, counting into `out`.
fn update_matched(
    ctx: &mut Ctx<'_>,
    ns: &Namespace,
    spec: &UpdateSpec,
    records: Vec<u64>,
    out: &mut UpdateOutcome,
) -> Result<(), DocError> {
    for rid in records {
        // One copy per matched document: the update applies to it (all or nothing), and it
        // replaces the stored one only when something changed.
        if let Some(ip) = spec.in_place.as_ref().filter(|_| !spec.return_docs) {
            if let Some(changed) = patch_logged(ctx, ns, rid, ip)? {
                out.matched += 1;
                out.modified += u64::from(changed);
                continue;
            }
        }
        let Some(stored) = collection(ctx, ns)?.and_then(|c| c.get(rid)) else { continue };
        let mut doc = to_document(stored)?;
        out.matched += 1;
        let update = spec.update()?;
        let position = if update.uses_positional() { spec.filter.match_position(&doc)? } else { None };
        let changed = update.apply(&mut doc, position, false)?;
        if changed {
            validate_document(&doc)?;
            out.modified += 1;
            let before = replace_logged(ctx, ns, rid, &doc)?;
            if spec.return_docs {
                out.last_before = before.map(|b| to_document(&b)).transpose()?;
                out.last_after = Some(doc);
            }
        } else if spec.return_docs {
            out.last_before = Some(doc.clone());
            out.last_after = Some(doc);
        }
    }
    Ok(())
}

/// Nothing matched and `upsert` is set: insert the document the filter and update describe.
fn upsert(ctx: &mut Ctx<'_>, ns: &Namespace, spec: &UpdateSpec, mut out: UpdateOutcome) -> Result<UpdateOutcome, DocError> {
    // Seed from the filter's equalities (a replacement from its whole `_id` only).
    let update = spec.update()?;
    let mut doc = if update.is_replacement() { spec.filter.replacement_seed()? } else { spec.filter.equality_seed()? };
    update.apply(&mut doc, None, true)?;
    let doc = prepare_insert(doc)?;
    let id = doc.get("_id").cloned().unwrap_or(Bson::Null);
    let keep = spec.return_docs.then(|| doc.clone());
    let r = insert(ctx, ns, vec![doc], true)?;
    if let Some((_, e)) = r.errors.into_iter().next() {
        return Err(e);
    }
    out.upserted_id = Some(id);
    out.last_after = keep;
    Ok(out)
}

/// Delete matching documents (all, or the first one when `!multi`); returns the deleted ones.
pub(crate) fn delete(
    ctx: &mut Ctx<'_>,
    ns: &Namespace,
    filter: &Filter,
    multi: bool,
    sort: Option<&Sort>,
) -> Result<Vec<bson::RawDocumentBuf>, DocError> {
    let records = match collection(ctx, ns)? {
        Some(coll) => matching_records(coll, filter, multi, sort)?,
        None => return Ok(Vec::new()),
    };
    let mut deleted = Vec::with_capacity(records.len());
    for rid in records {
        let Some(doc) = collection_mut(ctx, ns, false)?.and_then(|c| c.remove(rid)) else { continue };
        let id = raw_id(&doc);
        log(ctx, &doc! {"op": "d", "ns": ns.key(), "o": {"_id": id}});
        deleted.push(doc);
    }
    if !deleted.is_empty() {
        touched(ctx, ns);
    }
    Ok(deleted)
}

// --- Collections -------------------------------------------------------------------------------

/// Create an empty collection; error 48 if it exists.
pub(crate) fn create(ctx: &mut Ctx<'_>, ns: &Namespace) -> Result<(), DocError> {
    if collection(ctx, ns)?.is_some() {
        return Err(DocError::new(codes::NAMESPACE_EXISTS, "NamespaceExists", format!("Collection {}.{} already exists.", ns.db, ns.coll)));
    }
    collection_mut(ctx, ns, true)?;
    touched(ctx, ns);
    Ok(())
}

/// Drop a collection; false if it did not exist.
pub(crate) fn drop(ctx: &mut Ctx<'_>, ns: &Namespace) -> Result<bool, DocError> {
    if collection(ctx, ns)?.is_none() {
        return Ok(false);
    }
    ctx.remove(ns.key().as_bytes());
    log(ctx, &doc! {"op": "c", "ns": format!("{}.$cmd", ns.db), "o": {"drop": &ns.coll}});
    Ok(true)
}

/// Rename a collection (within or across databases).
pub(crate) fn rename(ctx: &mut Ctx<'_>, from: &Namespace, to: &Namespace, drop_target: bool) -> Result<(), DocError> {
    if collection(ctx, from)?.is_none() {
        return Err(DocError::new(codes::NAMESPACE_NOT_FOUND, "NamespaceNotFound", "source namespace does not exist"));
    }
    if from == to {
        return Err(DocError::new(codes::ILLEGAL_OPERATION, "IllegalOperation", "Can't rename a collection to itself"));
    }
    match ctx.lookup(to.key().as_bytes()) {
        Some(e) if !e.value.is_collection() => return Err(wrong_type(to, &e.value)),
        Some(_) if !drop_target => return Err(DocError::new(codes::NAMESPACE_EXISTS, "NamespaceExists", "target namespace exists")),
        _ => {}
    }
    let (entry, _) = ctx.remove(from.key().as_bytes()).expect("checked above");
    ctx.insert(to.key().as_bytes(), entry.value, 0);
    log(
        ctx,
        &doc! {"op": "c", "ns": format!("{}.$cmd", from.db), "o": {"renameCollection": from.key(), "to": to.key(), "dropTarget": drop_target}},
    );
    Ok(())
}

/// Every collection: (namespace key, document count), over the context's locked shards.
pub(crate) fn list_all(ctx: &Ctx<'_>) -> Vec<(String, usize, usize, usize)> {
    let mut out = Vec::new();
    let now = ctx.now();
    for shard in ctx.shards() {
        for (k, e) in shard.dict.iter_refs() {
            if shard.is_expired(k, &e, now) {
                continue;
            }
            if let Value::Collection(c) = &e.value {
                if let Ok(name) = std::str::from_utf8(k) {
                    out.push((name.to_string(), c.len(), c.data_size(), c.mem_usage()));
                }
            }
        }
    }
    out.sort();
    out
}

// --- Replay ------------------------------------------------------------------------------------

/// Apply one logged oplog entry during recovery (effects only: nothing is re-evaluated).
pub(crate) fn replay(ctx: &mut Ctx<'_>, bytes: &[u8]) -> Result<(), String> {
    let entry = Document::from_reader(bytes).map_err(|e| format!("corrupt oplog entry: {e}"))?;
    let op = entry.get_str("op").map_err(|_| "oplog entry without op".to_string())?;
    let ns_text = entry.get_str("ns").map_err(|_| "oplog entry without ns".to_string())?;
    let o = entry.get_document("o").map_err(|_| "oplog entry without o".to_string())?;
    let err = |e: DocError| format!("replaying {op} on {ns_text}: {e}");
    match op {
        "i" => {
            let ns = Namespace::parse(ns_text).map_err(err)?;
            let coll = collection_mut(ctx, &ns, true).map_err(err)?.ok_or("collection missing")?;
            coll.insert(to_raw(o).map_err(err)?).map_err(|(_, why)| format!("replaying insert on {ns_text}: {why:?}"))?;
            ctx.modified(ns.key().as_bytes());
        }
        "u" => {
            let ns = Namespace::parse(ns_text).map_err(err)?;
            let id = o.get("_id").cloned().unwrap_or(Bson::Null);
            let coll = collection_mut(ctx, &ns, false).map_err(err)?.ok_or("update of a missing collection")?;
            let rid = coll.get_by_id(&id).map(|(r, _)| r).ok_or("update of a missing document")?;
            coll.replace(rid, to_raw(o).map_err(err)?).map_err(|why| format!("replaying update on {ns_text}: {why:?}"))?;
        }
        "d" => {
            let ns = Namespace::parse(ns_text).map_err(err)?;
            let id = o.get("_id").cloned().unwrap_or(Bson::Null);
            let coll = collection_mut(ctx, &ns, false).map_err(err)?.ok_or("delete from a missing collection")?;
            if let Some(rid) = coll.get_by_id(&id).map(|(r, _)| r) {
                coll.remove(rid);
            }
        }
        "c" => {
            let db = ns_text.strip_suffix(".$cmd").ok_or("command entry without $cmd namespace")?;
            if let Ok(name) = o.get_str("create") {
                let ns = Namespace::new(db, name).map_err(err)?;
                collection_mut(ctx, &ns, true).map_err(err)?;
            } else if let Ok(name) = o.get_str("drop") {
                let ns = Namespace::new(db, name).map_err(err)?;
                ctx.remove(ns.key().as_bytes());
            } else if super::index::ddl::replay(ctx, db, o)? {
                // createIndexes / dropIndexes
            } else if let (Ok(from), Ok(to)) = (o.get_str("renameCollection"), o.get_str("to")) {
                let from = Namespace::parse(from).map_err(err)?;
                let to = Namespace::parse(to).map_err(err)?;
                rename(ctx, &from, &to, true).map_err(err)?;
            } else {
                return Err(format!("unknown oplog command {o}"));
            }
        }
        other => return Err(format!("unknown oplog op {other:?}")),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::raw_shape_ok;
    use bson::{doc, spec::BinarySubtype, Binary, Bson, RawDocument};
    use proptest::prelude::*;

    /// `prepare_all` (parts encoded into shared buffers on several threads) gives what
    /// `prepare_ref` gives for each document, in order: the same bytes, `_id`s and errors.
    #[test]
    fn prepare_all_equals_prepare_ref() {
        let mut deep = doc! {"x": 1};
        for _ in 0..super::MAX_DEPTH + 1 {
            deep = doc! {"d": deep};
        }
        let shapes = [
            doc! {"_id": 1, "a": "x", "n": {"b": [1, 2, {"c": 3.5}]}},
            doc! {"a": 1, "_id": "late"},
            doc! {"a": 1},
            doc! {},
            doc! {"_id": [1, 2]},
            doc! {"_id": 2, "deep": deep.clone()},
            doc! {"_id": 3, "bad\0key": 1},
            doc! {"_id": bson::oid::ObjectId::from_bytes([9; 12]), "r": bson::Regex { pattern: "^a".to_string().try_into().unwrap(), options: "".to_string().try_into().unwrap() }},
            doc! {"_id": {"k": 1}, "big": "y".repeat(1000)},
        ];
        let docs: Vec<bson::Document> = (0..3000).map(|i| shapes[i % shapes.len()].clone()).collect();
        let refs: Vec<&bson::Document> = docs.iter().collect();
        let all = super::prepare_all(&refs);
        assert_eq!(all.len(), docs.len());
        let mut shared = 0;
        for (d, got) in docs.iter().zip(&all) {
            let want = super::prepare_ref(d);
            match (got, &want) {
                (Ok(g), Ok(w)) => {
                    shared += usize::from(matches!(g.raw, super::PreparedBytes::Shared(..)));
                    if d.contains_key("_id") {
                        assert_eq!(g.raw.as_bytes(), w.raw.as_bytes(), "{d:?}");
                        assert_eq!(g.id, w.id);
                    } else {
                        // A generated ObjectId: the rest of the document is the same.
                        let (mut g, mut w) = (bson::Document::try_from(&*g.raw).unwrap(), bson::Document::try_from(&*w.raw).unwrap());
                        assert!(matches!(g.remove("_id"), Some(Bson::ObjectId(_))));
                        assert!(matches!(w.remove("_id"), Some(Bson::ObjectId(_))));
                        assert_eq!(g, w);
                    }
                    assert_eq!(g.raw.clone().into_owned().as_bytes(), g.raw.as_bytes());
                }
                (Err(g), Err(w)) => assert_eq!((g.code, &g.message), (w.code, &w.message), "{d:?}"),
                _ => panic!("prepare_all and prepare_ref disagree on {d:?}"),
            }
        }
        if std::thread::available_parallelism().map_or(1, |n| n.get()) > 1 {
            assert!(shared > 600, "the parallel path shares buffers ({shared})");
        }
    }

    /// Every element read by the bson crate's iterator, nested documents and arrays included.
    fn bson_walk(d: &RawDocument) -> bool {
        fn value(v: bson::RawBsonRef<'_>) -> bool {
            match v {
                bson::RawBsonRef::Document(sub) => bson_walk(sub),
                bson::RawBsonRef::Array(a) => a.into_iter().all(|e| e.is_ok_and(value)),
                bson::RawBsonRef::JavaScriptCodeWithScope(c) => bson_walk(c.scope),
                _ => true,
            }
        }
        d.into_iter().all(|e| e.is_ok_and(|(_, v)| value(v)))
    }

    fn sample() -> Vec<u8> {
        let d = doc! {
            "_id": 7, "s": "héllo", "f": 1.5, "i": 1i64 << 40, "t": true, "n": Bson::Null,
            "d": bson::DateTime::from_millis(1_700_000_000_000), "o": bson::oid::ObjectId::from_bytes([1; 12]),
            "b": Binary { subtype: BinarySubtype::Generic, bytes: vec![0, 1, 2] },
            "r": bson::Regex { pattern: "^a".to_string().try_into().unwrap(), options: "i".to_string().try_into().unwrap() },
            "c": Bson::JavaScriptCode("x".into()),
            "cs": Bson::JavaScriptCodeWithScope(bson::JavaScriptCodeWithScope { code: "y".into(), scope: doc! {"a": 1} }),
            "ts": Bson::Timestamp(bson::Timestamp { time: 1, increment: 2 }),
            "dec": Bson::Decimal128(bson::Decimal128::from_bytes([3; 16])),
            "min": Bson::MinKey, "max": Bson::MaxKey,
            "nest": {"a": [1, "two", {"three": [3.0]}]},
        };
        encode(&d)
    }

    fn encode(d: &bson::Document) -> Vec<u8> {
        let mut v = Vec::new();
        d.to_writer(&mut v).unwrap();
        v
    }

    #[test]
    fn accepts_well_formed_documents_and_measures_depth() {
        let bytes = sample();
        assert_eq!(raw_shape_ok(&bytes, 1), Some(true));
        let mut deep = doc! {"x": 1};
        for _ in 0..super::MAX_DEPTH + 2 {
            deep = doc! {"d": deep};
        }
        assert_eq!(raw_shape_ok(&encode(&deep), 1), Some(false));
        assert_eq!(raw_shape_ok(b"\x05\x00\x00\x00\x00", 1), Some(true));
        assert_eq!(raw_shape_ok(b"\x05\x00\x00\x00\x01", 1), None);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(6000))]
        /// Whatever the fast walk accepts, the bson crate reads without an error.
        #[test]
        fn the_fast_walk_never_accepts_what_bson_rejects(edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..5)) {
            let mut bytes = sample();
            for (at, byte, how) in edits {
                let i = at.index(bytes.len());
                match how {
                    0 => bytes[i] = byte,
                    1 => bytes[i] ^= 1 << (byte % 8),
                    _ => bytes[i] = if byte % 2 == 0 { 0 } else { 0xff },
                }
            }
            if let (Some(_), Ok(doc)) = (raw_shape_ok(&bytes, 1), RawDocument::from_bytes(&bytes)) {
                prop_assert!(bson_walk(doc), "fast walk accepted what bson rejects: {bytes:?}");
            }
        }
    }
}
