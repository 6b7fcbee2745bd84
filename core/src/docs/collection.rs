//! The stored form of one collection: its documents in insertion order, as raw BSON, and the
//! `_id` index.
//!
//! Why raw BSON (`RawDocumentBuf`) and not `bson::Document`: a `Document` is an IndexMap whose
//! every key and string is its own heap block, so a scan chases a pointer per field and every
//! copy or drop costs dozens of allocations. A raw document is one contiguous block: scans
//! read it front to back (the matcher works on it directly, `Filter::matches_raw`), a copy is
//! one memcpy, the snapshot and log write its bytes as they are, and its memory is its length.
//! Documents are decoded (`to_document`) only where a whole document is transformed: updates,
//! projections, sorts, aggregation.
//!
//! Invariants:
//! - `records` (a page table, `records.rs`) maps a record id (assigned in insertion order, never reused within the
//!   collection's life once a write has returned) to a valid BSON document whose first field is `_id`.
//! - `by_id` holds (hash of the `_id` key, record id) for every document: point lookups probe
//!   it once (and check the document's `_id`) instead of descending `ids`, which serves
//!   ranges and order.
//! - `ids` maps the order-preserving key of every document's `_id` (`value::key_of`, held
//!   inline when short) to its record id: exactly one entry per document, so `_id`s are unique
//!   under MongoDB equality (`1`, `1.0` and `NumberLong(1)` are one `_id`).
//! - `mem` is the running footprint of the documents and both maps, and `data_bytes` the sum of
//!   the documents' BSON sizes; both are kept by every insert/replace/remove (O(1) reads).
//! - `epoch` names this collection within the process: a new (created, loaded) collection
//!   gets a number no other had; a clone (copy-on-write under a snapshot) keeps it. With the
//!   record ids it lets a cursor fetch later batches only from the collection it opened on.
//!
//! A natural-order scan (no sort) returns documents in insertion order, as MongoDB's storage
//! engine does for a collection that has not been compacted; an updated document keeps its place.

use std::collections::BTreeMap;
use std::hash::BuildHasher;
use std::ops::Bound;
use std::sync::atomic::{AtomicUsize, Ordering};

use bson::{Bson, Document, RawDocument, RawDocumentBuf};

use super::index::{IndexSpec, Indexes, Refusal};
use super::records::Records;
use super::value::key_of;
use crate::types::heap_cost;

/// What one B-tree entry costs beyond its key and value (node space amortised: B-tree nodes
/// hold up to 11 entries and are about 2/3 full).
const BTREE_ENTRY_OVERHEAD: usize = 16;

/// One collection's documents.
#[derive(Clone, Default)]
pub struct Collection {
    records: Records,
    ids: BTreeMap<IdKey, u64>,
    /// (hash of the `_id` key, record id) of every document.
    by_id: hashbrown::HashTable<(u64, u64)>,
    id_hasher: foldhash::fast::RandomState,
    next_record: u64,
    mem: usize,
    data_bytes: usize,
    /// Secondary indexes, kept in step by insert/replace/remove.
    indexes: Indexes,
    epoch: Epoch,
}

/// Which collection a `Collection` value is (see the module's invariants).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Epoch(u64);

impl Default for Epoch {
    fn default() -> Self {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        Epoch(NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
    }
}

/// An `_id` index key: inline up to 24 bytes (numbers, ObjectIds, short strings), so a lookup
/// compares keys inside the B-tree nodes instead of chasing a pointer per key.
type IdKey = smallvec::SmallVec<[u8; 24]>;

/// Why a write was refused (nothing changed).
#[derive(Debug)]
pub enum Rejected {
    /// Another document has this `_id`.
    DuplicateId,
    /// A secondary index refused the document (unique violation, or it cannot be indexed).
    Index(Refusal),
}

/// The `_id` of a stored document (Null if absent, which validation prevents).
pub fn raw_id(doc: &RawDocument) -> Bson {
    match doc.get("_id") {
        Ok(Some(v)) => Bson::try_from(v).unwrap_or(Bson::Null),
        _ => Bson::Null,
    }
}

/// Decode a stored document (stored documents are valid BSON, so this cannot fail in practice;
/// a failure is reported rather than panicking).
pub fn to_document(doc: &RawDocument) -> Result<Document, super::DocError> {
    decode_document(doc).map_err(corrupt)
}

/// The error for stored bytes that do not read back as a document.
pub fn corrupt(e: impl std::fmt::Display) -> super::DocError {
    super::DocError::new(super::error::codes::INTERNAL_ERROR, "InternalError", format!("corrupt stored document: {e}"))
}

/// `Document::try_from(raw)` without its copies: bson 3.1 turns every nested document and
/// array into an owned `RawBson` (a copy of its bytes) before decoding it, so a value at depth
/// d is copied d times. This walks the raw bytes once. Same result, same errors (scalars go
/// through bson's own conversion).
fn decode_document(raw: &RawDocument) -> bson::error::Result<Document> {
    let mut out = Document::new();
    for element in raw {
        let (key, value) = element?;
        out.insert(key.as_str(), decode_value(value)?);
    }
    Ok(out)
}

fn decode_value(value: bson::RawBsonRef<'_>) -> bson::error::Result<Bson> {
    use bson::RawBsonRef as R;
    Ok(match value {
        R::Document(d) => Bson::Document(decode_document(d)?),
        R::Array(a) => {
            let mut items = Vec::new();
            for item in a {
                items.push(decode_value(item?)?);
            }
            Bson::Array(items)
        }
        R::String(s) => Bson::String(s.to_owned()),
        R::Int32(i) => Bson::Int32(i),
        R::Int64(i) => Bson::Int64(i),
        R::Double(f) => Bson::Double(f),
        R::Boolean(b) => Bson::Boolean(b),
        R::DateTime(t) => Bson::DateTime(t),
        R::Null => Bson::Null,
        R::ObjectId(o) => Bson::ObjectId(o),
        other => Bson::try_from(other)?,
    })
}

/// Encode a document for storage: the bytes bson's `RawDocumentBuf::try_from(doc)` gives, in
/// one allocation of the exact size (bson grows its buffer by doubling and formats every array
/// index into a new `String`). Types other than the common ones below are left to bson.
pub fn to_raw(doc: &Document) -> Result<RawDocumentBuf, super::DocError> {
    to_raw_sized(doc, bson_size(doc))
}

/// `to_raw` for a document whose encoded size (`bson_size`) the caller already has.
pub fn to_raw_sized(doc: &Document, size: usize) -> Result<RawDocumentBuf, super::DocError> {
    let bson_encode =
        || RawDocumentBuf::try_from(doc).map_err(|e| super::DocError::bad_value(format!("cannot encode the document as BSON: {e}")));
    let mut buf = Vec::with_capacity(size);
    if encode_document(doc, &mut buf, 1, None).is_none() {
        return bson_encode();
    }
    RawDocumentBuf::from_bytes(buf).or_else(|_| bson_encode())
}

/// The stored form of a document about to be inserted, in one pass, if it passes the checks
/// of `engine::validate_document` on the way (nesting depth, no NUL in field names, size);
/// `id` is written first as `_id` when given. None: the caller takes the slow path
/// (`validate_document` for the precise error, then `to_raw`), so this never accepts a
/// document the validator would refuse.
pub fn encode_valid(doc: &Document, id: Option<&bson::oid::ObjectId>) -> Option<RawDocumentBuf> {
    thread_local! {
        /// Reused encoding space: the stored copy is then allocated at its exact size.
        static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    SCRATCH.with_borrow_mut(|buf| {
        buf.clear();
        let encoded = encode_document(doc, buf, 1, id).filter(|()| buf.len() <= super::MAX_DOCUMENT_BYTES);
        let out = encoded.and_then(|()| RawDocumentBuf::from_bytes(buf.as_slice().to_vec()).ok());
        if buf.capacity() > 1 << 20 {
            *buf = Vec::new();
        }
        out
    })
}

/// `encode_valid` appending to `buf` (a batch's shared buffer) instead of allocating: true if
/// the document was appended; false (and `buf` as it was) where `encode_valid` gives None.
pub fn encode_valid_into(doc: &Document, buf: &mut Vec<u8>) -> bool {
    let start = buf.len();
    let ok = encode_document(doc, buf, 1, None).is_some() && buf.len() - start <= super::MAX_DOCUMENT_BYTES;
    if !ok {
        buf.truncate(start);
    }
    ok
}

/// Append `doc` (at nesting level `depth`, 1 for a top-level document) to `buf`, with `id`
/// first as `_id` if given; None (buf partly written) for a value this encoder leaves to bson,
/// a key bson refuses (one holding a NUL byte) or nesting deeper than `MAX_DEPTH`.
fn encode_document(doc: &Document, buf: &mut Vec<u8>, depth: usize, id: Option<&bson::oid::ObjectId>) -> Option<()> {
    if depth > super::MAX_DEPTH {
        return None;
    }
    let start = buf.len();
    buf.extend_from_slice(&[0; 4]);
    if let Some(id) = id {
        buf.extend_from_slice(b"\x07_id\0");
        buf.extend_from_slice(&id.bytes());
    }
    for (key, value) in doc {
        if key.as_bytes().contains(&0) {
            return None;
        }
        encode_element(key.as_bytes(), value, buf, depth)?;
    }
    buf.push(0);
    let len = i32::try_from(buf.len() - start).ok()?;
    buf[start..start + 4].copy_from_slice(&len.to_le_bytes());
    Some(())
}

fn encode_element(key: &[u8], value: &Bson, buf: &mut Vec<u8>, depth: usize) -> Option<()> {
    let string = |s: &str, buf: &mut Vec<u8>| {
        buf.extend_from_slice(&(i32::try_from(s.len() + 1).unwrap_or(i32::MAX)).to_le_bytes());
        buf.extend_from_slice(s.as_bytes());
        buf.push(0);
    };
    let tag = |t: u8, buf: &mut Vec<u8>| {
        buf.push(t);
        buf.extend_from_slice(key);
        buf.push(0);
    };
    match value {
        Bson::Double(f) => {
            tag(0x01, buf);
            buf.extend_from_slice(&f.to_le_bytes());
        }
        Bson::String(s) => {
            tag(0x02, buf);
            string(s, buf);
        }
        Bson::Document(d) => {
            tag(0x03, buf);
            encode_document(d, buf, depth + 1, None)?;
        }
        Bson::Array(items) => {
            if depth + 1 > super::MAX_DEPTH {
                return None;
            }
            tag(0x04, buf);
            let start = buf.len();
            buf.extend_from_slice(&[0; 4]);
            let mut index = [0u8; 20];
            for (i, item) in items.iter().enumerate() {
                encode_element(crate::util::num::fmt_u64(&mut index, i as u64), item, buf, depth + 1)?;
            }
            buf.push(0);
            let len = i32::try_from(buf.len() - start).ok()?;
            buf[start..start + 4].copy_from_slice(&len.to_le_bytes());
        }
        Bson::Binary(b) if u8::from(b.subtype) != 2 => {
            tag(0x05, buf);
            buf.extend_from_slice(&i32::try_from(b.bytes.len()).ok()?.to_le_bytes());
            buf.push(u8::from(b.subtype));
            buf.extend_from_slice(&b.bytes);
        }
        Bson::ObjectId(o) => {
            tag(0x07, buf);
            buf.extend_from_slice(&o.bytes());
        }
        Bson::Boolean(b) => {
            tag(0x08, buf);
            buf.push(u8::from(*b));
        }
        Bson::DateTime(t) => {
            tag(0x09, buf);
            buf.extend_from_slice(&t.timestamp_millis().to_le_bytes());
        }
        Bson::Null => tag(0x0A, buf),
        Bson::Int32(i) => {
            tag(0x10, buf);
            buf.extend_from_slice(&i.to_le_bytes());
        }
        Bson::Timestamp(t) => {
            tag(0x11, buf);
            buf.extend_from_slice(&t.increment.to_le_bytes());
            buf.extend_from_slice(&t.time.to_le_bytes());
        }
        Bson::Int64(i) => {
            tag(0x12, buf);
            buf.extend_from_slice(&i.to_le_bytes());
        }
        Bson::Decimal128(d) => {
            tag(0x13, buf);
            buf.extend_from_slice(&d.bytes());
        }
        _ => return None,
    }
    Some(())
}

impl Collection {
    pub fn new() -> Self {
        Collection::default()
    }

    /// Which collection this is: equal epochs mean the same collection, whose record ids
    /// still name the same documents.
    pub fn epoch(&self) -> Epoch {
        self.epoch
    }

    /// Number of documents.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Bytes this collection holds (documents, maps, keys, index entries), maintained
    /// incrementally.
    pub fn mem_usage(&self) -> usize {
        self.mem + self.records.overhead() + self.indexes.mem_usage()
    }

    /// The secondary indexes.
    pub fn indexes(&self) -> &Indexes {
        &self.indexes
    }

    /// Build and add a secondary index over the stored documents (nothing changes on error).
    pub fn create_index(&mut self, spec: IndexSpec) -> Result<(), Refusal> {
        let docs: Vec<(u64, &RawDocument)> = self.records.iter().collect();
        self.indexes.build(spec, &docs)
    }

    /// Build and add several secondary indexes (in parallel; all or nothing): snapshot loads.
    pub fn create_indexes(&mut self, specs: Vec<IndexSpec>) -> Result<(), Refusal> {
        let docs: Vec<(u64, &RawDocument)> = self.records.iter().collect();
        self.indexes.build_all(specs, &docs)
    }

    /// Remove a secondary index; its definition.
    pub fn drop_index(&mut self, name: &str) -> Option<IndexSpec> {
        self.indexes.drop(name)
    }

    /// `_id` index entries (order-preserving `_id` key, record id) in a byte range.
    pub fn id_range<'a>(&'a self, lo: Bound<&'a [u8]>, hi: Bound<&'a [u8]>) -> impl DoubleEndedIterator<Item = (&'a [u8], u64)> + 'a {
        self.ids.range::<[u8], _>((lo, hi)).map(|(k, r)| (k.as_slice(), *r))
    }

    /// The documents' record ids and bytes, in natural order.
    pub fn records(&self) -> impl DoubleEndedIterator<Item = (u64, &RawDocument)> + '_ {
        self.records.iter()
    }

    /// Total BSON bytes of the documents (collStats `size`).
    pub fn data_size(&self) -> usize {
        self.data_bytes
    }

    /// The document whose `_id` equals `id`, with its record id.
    pub fn get_by_id(&self, id: &Bson) -> Option<(u64, &RawDocument)> {
        self.find_id(&key_of(id))
    }

    /// The record whose `_id` has the order-preserving key `key`: one probe of `by_id`, the
    /// candidate's own `_id` compared (a hash match alone is not trusted).
    fn find_id(&self, key: &[u8]) -> Option<(u64, &RawDocument)> {
        find_id_in(&self.by_id, &self.records, self.id_hasher.hash_one(key), key)
    }

    pub fn get(&self, record: u64) -> Option<&RawDocument> {
        self.records.get(record)
    }

    /// Documents in natural (insertion) order from record id `from` on.
    pub fn scan_from(&self, from: u64) -> impl Iterator<Item = (u64, &RawDocument)> + '_ {
        self.records.iter_from(from)
    }

    /// Documents with record ids in `from..to`, in natural order.
    pub fn scan_range(&self, from: u64, to: u64) -> impl Iterator<Item = (u64, &RawDocument)> + '_ {
        self.records.iter_from(from).take_while(move |(r, _)| *r < to)
    }

    /// The bytes of the documents with record ids in `from..to`, in natural order, not yet
    /// read (for scans that prefetch; `RawDocument::from_bytes` makes each a document).
    pub fn scan_bytes(&self, from: u64, to: u64) -> impl Iterator<Item = (u64, &[u8])> + '_ {
        self.records.spans_from(from).take_while(move |(r, _)| *r < to)
    }

    /// The record ids of the first and last documents (None when empty).
    pub fn record_bounds(&self) -> Option<(u64, u64)> {
        self.records.bounds()
    }

    /// Every document in natural order.
    pub fn iter(&self) -> impl Iterator<Item = &RawDocument> + '_ {
        self.records.iter().map(|(_, d)| d)
    }

    /// Whether a document with this `_id` exists.
    pub fn contains_id(&self, id: &Bson) -> bool {
        self.find_id(&key_of(id)).is_some()
    }

    /// Insert `doc` (its first field must be a valid `_id`). Nothing changes, and the document
    /// comes back, if its `_id` exists or an index refuses it.
    pub fn insert(&mut self, doc: RawDocumentBuf) -> Result<u64, (RawDocumentBuf, Rejected)> {
        let rid = self.next_record;
        let (mut side, indexes) = self.split();
        let Some((key, hash)) = side.new_id(&doc) else {
            return Err((doc, Rejected::DuplicateId));
        };
        if let Err(r) = indexes.insert(&doc, rid) {
            return Err((doc, Rejected::Index(r)));
        }
        side.store(key, hash, rid, &doc);
        self.next_record += 1;
        Ok(rid)
    }

    /// The record side and the indexes, borrowed apart (a batch insert fills both at once).
    fn split(&mut self) -> (RecordSide<'_>, &mut Indexes) {
        let Collection { records, by_id, ids, id_hasher, mem, data_bytes, indexes, .. } = self;
        (RecordSide { records, by_id, ids, id_hasher, mem, data_bytes }, indexes)
    }

    /// Whether `insert_run` may use several threads for `n` documents: there are secondary
    /// indexes to fill beside the records, and enough documents to pay for the threads.
    pub fn parallel_insert(&self, n: usize) -> bool {
        n >= PARALLEL_INSERT_MIN && !self.indexes.is_empty()
    }

    /// Insert the longest prefix of `docs` that `insert` would accept one after another, and
    /// return its length: the records and each secondary index are filled by their own tasks
    /// on parallel threads (`Indexes::insert_run`), and what the tasks added past the first
    /// document one of them refused is taken back. Nothing after that document changes; the
    /// caller goes on from it with `insert`, which reports why it is refused.
    pub fn insert_run(&mut self, docs: &[&RawDocument]) -> usize {
        self.insert_run_tasks(docs, false)
    }

    /// `insert_run`; `eager` (tests): each task goes on past other tasks' refusals.
    fn insert_run_tasks(&mut self, docs: &[&RawDocument], eager: bool) -> usize {
        let first = self.next_record;
        let stop = AtomicUsize::new(docs.len());
        let mut inserted = 0;
        let (mut side, indexes) = self.split();
        let progress = {
            let (stop, inserted) = (&stop, &mut inserted);
            indexes.insert_run(docs, first, stop, eager, move || {
                for (j, doc) in docs.iter().enumerate() {
                    *inserted = j;
                    if !eager && j >= stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let Some((key, hash)) = side.new_id(doc) else {
                        stop.fetch_min(j, Ordering::Relaxed);
                        return;
                    };
                    side.store(key, hash, first + j as u64, doc);
                }
                *inserted = docs.len();
            })
        };
        let accepted = stop.into_inner();
        if accepted < docs.len() {
            indexes.undo_run(docs, first, accepted, &progress);
            for rid in first + accepted as u64..first + inserted as u64 {
                self.remove_record(rid);
            }
        }
        self.next_record = first + accepted as u64;
        accepted
    }

    /// Remove the record `record` and its `_id` (not its index entries); its document.
    fn remove_record(&mut self, record: u64) -> Option<RawDocumentBuf> {
        let doc = self.records.remove(record)?;
        let key = key_of(&raw_id(&doc));
        self.ids.remove(key.as_slice());
        let hash = self.id_hasher.hash_one(key.as_slice());
        if let Ok(e) = self.by_id.find_entry(hash, |e| e.1 == record) {
            e.remove();
        }
        self.mem -= id_entry_cost(&key) + record_cost(&doc);
        self.data_bytes -= doc.as_bytes().len();
        Some(doc)
    }

    /// Replace the document at `record` (same `_id`: the caller keeps `_id` immutable);
    /// returns the document it replaced (None if there is no such record). Nothing changes if
    /// an index refuses the new document.
    pub fn replace(&mut self, record: u64, doc: RawDocumentBuf) -> Result<Option<RawDocumentBuf>, Rejected> {
        let Some(old) = self.records.get(record) else { return Ok(None) };
        self.indexes.replace(old, &doc, record).map_err(Rejected::Index)?;
        self.mem = self.mem - record_cost(old) + record_cost(&doc);
        self.data_bytes = self.data_bytes - old.as_bytes().len() + doc.as_bytes().len();
        Ok(self.records.replace(record, &doc))
    }

    /// Apply the in-place update `patch` to the stored bytes of the document at `record`
    /// themselves (no copy). Some(changed), or None when it does not apply in place (nothing
    /// changed). The caller has checked that no index reads the paths it writes.
    pub fn patch(&mut self, record: u64, patch: &super::inplace::InPlace) -> Option<bool> {
        // A patch rewrites values in place at their own size: the document keeps its length,
        // framing and validity.
        self.records.update_in_place(record, |bytes| patch.apply(bytes)).flatten()
    }

    /// Remove the document at `record`, returning it.
    pub fn remove(&mut self, record: u64) -> Option<RawDocumentBuf> {
        let doc = self.remove_record(record)?;
        self.indexes.remove(&doc, record);
        Some(doc)
    }

    /// Remove every document (the collection stays).
    pub fn clear(&mut self) {
        self.records.clear();
        self.ids.clear();
        self.by_id.clear();
        self.indexes.clear_entries();
        self.mem = 0;
        self.data_bytes = 0;
    }
}

/// Documents from which `insert_run` is worth its threads (a few microseconds per document
/// and index against tens of microseconds to start a thread).
pub(crate) const PARALLEL_INSERT_MIN: usize = 64;

/// The parts of a collection that hold its documents and `_id`s (`Collection::split`).
struct RecordSide<'c> {
    records: &'c mut Records,
    by_id: &'c mut hashbrown::HashTable<(u64, u64)>,
    ids: &'c mut BTreeMap<IdKey, u64>,
    id_hasher: &'c foldhash::fast::RandomState,
    mem: &'c mut usize,
    data_bytes: &'c mut usize,
}

impl RecordSide<'_> {
    /// The `_id` key of `doc` and its hash, or None when another document has that `_id`.
    fn new_id(&self, doc: &RawDocument) -> Option<(IdKey, u64)> {
        let key = IdKey::from_slice(&key_of(&raw_id(doc)));
        let hash = self.id_hasher.hash_one(key.as_slice());
        find_id_in(self.by_id, self.records, hash, &key).is_none().then_some((key, hash))
    }

    /// Store `doc` at `rid` under its `_id` key (`new_id`'s answer).
    fn store(&mut self, key: IdKey, hash: u64, rid: u64, doc: &RawDocument) {
        *self.mem += id_entry_cost(&key) + record_cost(doc);
        *self.data_bytes += doc.as_bytes().len();
        self.by_id.insert_unique(hash, (hash, rid), |e| e.0);
        self.ids.insert(key, rid);
        self.records.insert(rid, doc);
    }
}

/// `Collection::find_id` on the parts it reads (`hash` is the hash of `key`).
fn find_id_in<'r>(by_id: &hashbrown::HashTable<(u64, u64)>, records: &'r Records, hash: u64, key: &[u8]) -> Option<(u64, &'r RawDocument)> {
    let mut found = None;
    by_id.find(hash, |&(h, rid)| {
        if h != hash {
            return false;
        }
        match records.get(rid) {
            Some(d) if key_of(&raw_id(d)) == key => {
                found = Some((rid, d));
                true
            }
            _ => false,
        }
    })?;
    found
}

/// What a document's `_id` costs in `ids` and `by_id` (16 bytes and a control byte, at the
/// table's 7/8 load at most and half that at least: ~24 bytes).
fn id_entry_cost(key: &[u8]) -> usize {
    let spilled = if key.len() > 24 { heap_cost(key.len()) } else { 0 };
    BTREE_ENTRY_OVERHEAD + std::mem::size_of::<(IdKey, u64)>() + spilled + 24
}

/// A document's own bytes, stored back to back in its record page (the page's slack and
/// slots are `Records::overhead`).
fn record_cost(doc: &RawDocument) -> usize {
    doc.as_bytes().len()
}

/// The size of `doc` encoded as BSON, computed without encoding it (the 16 MiB limit check).
pub fn bson_size(doc: &Document) -> usize {
    5 + doc.iter().map(|(k, v)| 2 + k.len() + value_size(v)).sum::<usize>()
}

fn value_size(v: &Bson) -> usize {
    match v {
        Bson::Double(_) | Bson::DateTime(_) | Bson::Timestamp(_) | Bson::Int64(_) => 8,
        Bson::String(s) | Bson::Symbol(s) | Bson::JavaScriptCode(s) => 5 + s.len(),
        Bson::Document(d) => bson_size(d),
        Bson::Array(a) => 5 + a.iter().enumerate().map(|(i, e)| 2 + decimal_digits(i) + value_size(e)).sum::<usize>(),
        Bson::Binary(b) => 5 + b.bytes.len() + if u8::from(b.subtype) == 2 { 4 } else { 0 },
        Bson::ObjectId(_) => 12,
        Bson::Boolean(_) => 1,
        Bson::RegularExpression(r) => 2 + r.pattern.as_str().len() + r.options.as_str().len(),
        Bson::JavaScriptCodeWithScope(c) => 4 + 5 + c.code.len() + bson_size(&c.scope),
        Bson::Int32(_) => 4,
        Bson::Decimal128(_) => 16,
        Bson::DbPointer(_) => 5 + 12 + 16,
        Bson::Null | Bson::Undefined | Bson::MinKey | Bson::MaxKey => 0,
    }
}

fn decimal_digits(mut i: usize) -> usize {
    let mut d = 1;
    while i >= 10 {
        i /= 10;
        d += 1;
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    #[test]
    fn bson_size_matches_the_encoding() {
        let docs = [
            doc! {},
            doc! {"_id": 1, "a": "xyz", "b": [1, 2.5, {"c": null}], "d": {"e": true}, "f": bson::DateTime::from_millis(5)},
            doc! {"arr": (0..25).map(Bson::Int64).collect::<Vec<_>>(), "oid": bson::oid::ObjectId::new()},
        ];
        for d in docs {
            assert_eq!(bson_size(&d), d.to_vec().unwrap().len(), "{d}");
        }
    }

    fn raw(d: Document) -> RawDocumentBuf {
        to_raw(&d).unwrap()
    }

    /// The direct encoder gives exactly bson's bytes, for every BSON type (the rare ones through
    /// bson itself), long arrays (multi-digit indexes) and nesting; keys with a NUL byte fail as
    /// they do in bson.
    #[test]
    fn encoding_agrees_with_bson() {
        use bson::spec::BinarySubtype;
        use bson::{Binary, Decimal128, Regex, Timestamp};
        let docs = [
            doc! {},
            doc! {"_id": 1, "a": "xyz\u{0}nul inside", "b": [1, 2.5, {"c": null}], "d": {"e": true}, "f": bson::DateTime::from_millis(-5)},
            doc! {"arr": (0..1025).map(Bson::Int64).collect::<Vec<_>>(), "oid": bson::oid::ObjectId::new(), "s": "é日本"},
            doc! {"ts": Timestamp { time: 3, increment: 4 }, "bin": Binary { subtype: BinarySubtype::Uuid, bytes: vec![9; 16] },
            "old": Binary { subtype: BinarySubtype::BinaryOld, bytes: vec![1, 2] }, "dec": Decimal128::from_bytes([7; 16]),
            "i": i32::MIN, "l": i64::MAX, "d": f64::NAN, "m": [Bson::MinKey, Bson::MaxKey, Bson::Undefined]},
            doc! {"re": Bson::RegularExpression(Regex { pattern: "a.*b".try_into().unwrap(), options: "im".try_into().unwrap() }), "x": [[[]]]},
        ];
        for d in docs {
            assert_eq!(to_raw(&d).unwrap().as_bytes(), RawDocumentBuf::try_from(&d).unwrap().as_bytes(), "{d}");
        }
        let bad = doc! {"a": {"b\u{0}c": 1}};
        assert!(RawDocumentBuf::try_from(&bad).is_err());
        assert!(to_raw(&bad).is_err());
    }

    /// `encode_valid` accepts exactly what `validate_document` accepts (depth through documents
    /// and arrays, NUL in keys, size), with `to_raw`'s bytes, `_id` first when it adds one.
    #[test]
    fn one_pass_encoding_agrees_with_validation() {
        use crate::docs::engine::validate_document;
        let nest = |levels: usize, array: bool| {
            (1..levels).fold(Bson::Int32(1), |acc, _| if array { Bson::Array(vec![acc]) } else { Bson::Document(doc! {"k": acc}) })
        };
        let mut cases =
            vec![doc! {"_id": 1, "a": [1, {"b": "c"}], "s": "x"}, doc! {"a\u{0}b": 1}, doc! {"big": "x".repeat(16 * 1024 * 1024)}];
        for levels in [98, 99, 100, 101, 102] {
            cases.push(doc! {"v": nest(levels, false)});
            cases.push(doc! {"v": nest(levels, true)});
            cases.push(doc! {"v": [nest(levels, false)]});
        }
        for d in &cases {
            let valid = validate_document(d).is_ok();
            let fast = encode_valid(d, None);
            assert_eq!(fast.is_some(), valid, "{:.80}", d.to_string());
            if let Some(raw) = fast {
                assert_eq!(raw.as_bytes(), to_raw(d).unwrap().as_bytes());
            }
        }
        let oid = bson::oid::ObjectId::new();
        let body = doc! {"a": 1, "b": {"c": [true]}};
        let mut with_id = doc! {"_id": oid};
        with_id.extend(body.clone());
        assert_eq!(encode_valid(&body, Some(&oid)).unwrap().as_bytes(), to_raw(&with_id).unwrap().as_bytes());
    }

    /// The direct decoder gives exactly bson's `Document::try_from`, for every BSON type,
    /// nesting, duplicate keys (last value wins, first position kept) and regex options (bson
    /// sorts them), and fails where it fails.
    #[test]
    fn decoding_agrees_with_bson() {
        use bson::spec::BinarySubtype;
        use bson::{Binary, Decimal128, JavaScriptCodeWithScope, Regex, Timestamp};
        let mut every = doc! {
            "_id": bson::oid::ObjectId::new(), "d": 1.5, "s": "text", "i": 7, "l": 8i64, "b": true, "n": null,
            "t": bson::DateTime::from_millis(-5),
            "re": Bson::RegularExpression(Regex { pattern: "a.*b".try_into().unwrap(), options: "xmi".try_into().unwrap() }),
            "js": Bson::JavaScriptCode("f()".into()),
            "jsw": Bson::JavaScriptCodeWithScope(JavaScriptCodeWithScope { code: "g()".into(), scope: doc! {"x": [1, {"y": 2}]} }),
            "ts": Timestamp { time: 3, increment: 4 }, "bin": Binary { subtype: BinarySubtype::Generic, bytes: vec![0, 1, 2] },
            "dec": Decimal128::from_bytes([7; 16]), "sym": Bson::Symbol("sym".into()), "u": Bson::Undefined,
            "min": Bson::MinKey, "max": Bson::MaxKey,
            "nested": {"a": [[1, 2], [], [{"b": {"c": [null, "x"]}}]], "e": {}},
        };
        every.insert(
            "deep",
            (0..30).fold(Bson::Int32(0), |acc, i| if i % 2 == 0 { Bson::Array(vec![acc]) } else { Bson::Document(doc! {"k": acc}) }),
        );
        let mut dup = RawDocumentBuf::new();
        dup.append(bson::raw::cstr!("a"), 1);
        dup.append(bson::raw::cstr!("b"), "x");
        dup.append(bson::raw::cstr!("a"), 2);
        for r in [raw(every), raw(doc! {}), dup] {
            assert_eq!(to_document(&r).unwrap(), Document::try_from(r.as_ref()).unwrap());
        }
        // Corruptions: a truncated string length, a bad element type, invalid UTF-8 in a string.
        let good = raw(doc! {"a": "hello", "b": {"c": 1}});
        let mut bytes = good.as_bytes().to_vec();
        let at = bytes.windows(5).position(|w| w == b"hello").unwrap();
        bytes[at] = 0xff;
        let corrupt = [
            {
                let mut b = good.as_bytes().to_vec();
                b[7] = 0x7f; // the string's length, far past the end
                b
            },
            {
                let mut b = good.as_bytes().to_vec();
                b[4] = 0x55; // the first element's type byte
                b
            },
            bytes,
        ];
        for b in corrupt {
            let r = RawDocument::from_bytes(&b).unwrap();
            assert!(Document::try_from(r).is_err());
            assert!(to_document(r).is_err(), "{b:?}");
        }
    }

    /// `get_by_id` (the hash probe) agrees with the ordered `_id` index under inserts and
    /// removals of `_id`s of several types, numerically equal ones included.
    #[test]
    fn id_lookups_agree_with_the_ordered_index() {
        use std::collections::BTreeMap as Model;
        let domain: Vec<Bson> = (0..40)
            .flat_map(|i| [Bson::Int32(i), Bson::Double(f64::from(i)), Bson::Int64(i64::from(i) + 1000), Bson::String(format!("k{i}"))])
            .collect();
        let mut c = Collection::new();
        let mut model: Model<Vec<u8>, u64> = Model::new();
        let mut rng = 0x9E37_79B9_u64;
        for step in 0..4_000 {
            rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let v = &domain[(rng >> 33) as usize % domain.len()];
            let key = key_of(v);
            if rng & 1 == 0 {
                match c.insert(raw(doc! {"_id": v.clone(), "step": step as i64})) {
                    Ok(rid) => assert!(model.insert(key, rid).is_none(), "{v} inserted twice"),
                    Err((_, Rejected::DuplicateId)) => assert!(model.contains_key(&key), "{v} refused but absent"),
                    Err(_) => panic!("unexpected refusal"),
                }
            } else if let Some(rid) = model.remove(&key) {
                assert!(c.remove(rid).is_some());
            }
            for probe in [v, &domain[step % domain.len()]] {
                let want = model.get(&key_of(probe)).copied();
                assert_eq!(c.get_by_id(probe).map(|(r, _)| r), want, "{probe}");
                assert_eq!(c.contains_id(probe), want.is_some());
            }
        }
        assert_eq!(c.len(), model.len());
    }

    fn with_indexes(specs: &[Document]) -> Collection {
        let mut c = Collection::new();
        for s in specs {
            c.create_index(IndexSpec::parse(s).unwrap()).unwrap();
        }
        c
    }

    /// Everything observable about a collection: documents by record id, each index's
    /// entries, multikey flag and footprint, and the footprint of its documents and `_id`s.
    fn state(c: &Collection) -> String {
        let docs: Vec<(u64, Document)> = c.records.iter().map(|(r, d)| (r, to_document(d).unwrap())).collect();
        let indexes: Vec<_> = c.indexes.iter().map(|i| (i.spec.name.clone(), i.dump(), i.multikey, i.mem_usage())).collect();
        // (Not `mem_usage`: what a record page reserved for more documents is not part of it.)
        format!("{docs:?} {indexes:?} ids={:?} mem={} data={} next={}", c.ids, c.mem, c.data_size(), c.next_record)
    }

    /// A document for the insert-run test: `_id`s and unique keys from domains `spread` times
    /// wider than a batch is long (1: duplicates, in the batch and against stored documents,
    /// come early; 100: many batches have none), `a` and `b` sometimes both arrays (a compound
    /// index refuses parallel arrays), text, a partial unique key and a sparse one.
    fn run_doc(spread: i64) -> impl proptest::strategy::Strategy<Value = Document> {
        use proptest::prelude::*;
        let value = prop_oneof![(0..6i64).prop_map(Bson::Int64), Just(Bson::Null), "[a-c]{1,2}".prop_map(Bson::String)];
        let field = prop_oneof![
            12 => value.clone(),
            1 => proptest::collection::vec(value, 0..3).prop_map(Bson::Array),
        ];
        let domain = 200 * spread;
        let unique = prop_oneof![40 => (0..domain).prop_map(Some), 1 => Just(None)];
        (0..domain, unique, field.clone(), field, "(x|y|z| ){0,6}", 0..domain, proptest::option::of(0..4i64)).prop_map(
            move |(id, u, a, b, t, p, s)| {
                let mut d = doc! {"_id": id};
                if let Some(u) = u {
                    d.insert("u", u);
                }
                d.insert("a", a);
                d.insert("b", b);
                d.insert("t", t);
                d.insert("p", p);
                if let Some(s) = s {
                    d.insert("s", s);
                }
                d
            },
        )
    }

    /// Documents stored first, then a batch (the same spread for both).
    fn stored_and_batch() -> impl proptest::strategy::Strategy<Value = (Vec<Document>, Vec<Document>)> {
        use proptest::prelude::*;
        prop_oneof![Just(1i64), Just(100)]
            .prop_flat_map(|spread| (proptest::collection::vec(run_doc(spread), 0..20), proptest::collection::vec(run_doc(spread), 1..160)))
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(96))]

        /// `insert_run` (the records and each index filled by parallel tasks, what they did
        /// past the first refused document taken back) accepts the same documents as
        /// inserting one by one up to the first refusal, and leaves the same collection: the
        /// same records and record ids, index entries, multikey flags and footprints. The
        /// refused document is then refused for the same reason.
        #[test]
        fn insert_run_equals_one_by_one((stored, batch) in stored_and_batch()) {
            let specs = [
                doc! {"key": {"u": 1}, "name": "u", "unique": true},
                doc! {"key": {"a": 1, "b": -1}, "name": "ab"},
                doc! {"key": {"t": "text"}, "name": "t"},
                doc! {"key": {"p": 1}, "name": "p", "unique": true, "partialFilterExpression": {"p": {"$gt": 100}}},
                doc! {"key": {"s": 1}, "name": "s", "sparse": true},
            ];
            let (mut one, mut run, mut eager) = (with_indexes(&specs), with_indexes(&specs), with_indexes(&specs));
            for d in &stored {
                let x = one.insert(raw(d.clone())).is_ok();
                proptest::prop_assert_eq!(x, run.insert(raw(d.clone())).is_ok());
                proptest::prop_assert_eq!(x, eager.insert(raw(d.clone())).is_ok());
            }
            let raws: Vec<RawDocumentBuf> = batch.iter().map(|d| raw(d.clone())).collect();
            let mut expected = raws.len();
            for (j, r) in raws.iter().enumerate() {
                if one.insert(r.clone()).is_err() {
                    expected = j;
                    break;
                }
            }
            let refs: Vec<&RawDocument> = raws.iter().map(|r| &**r).collect();
            proptest::prop_assert_eq!(run.insert_run(&refs), expected);
            proptest::prop_assert_eq!(eager.insert_run_tasks(&refs, true), expected);
            if let Some(refused) = raws.get(expected) {
                // `one` already refused it: refuse it again there, for the same reason.
                let why = |c: &mut Collection| format!("{:?}", c.insert(refused.clone()).err().map(|e| e.1));
                let why_one = why(&mut one);
                proptest::prop_assert_eq!(&why_one, &why(&mut run));
                proptest::prop_assert_eq!(&why_one, &why(&mut eager));
            }
            proptest::prop_assert_eq!(state(&one), state(&run));
            proptest::prop_assert_eq!(state(&one), state(&eager));
            // The next record id is the same too.
            let next = doc! {"_id": "next", "u": -1, "p": -1};
            let rid = one.insert(raw(next.clone())).ok();
            proptest::prop_assert_eq!(rid, run.insert(raw(next.clone())).ok());
            proptest::prop_assert_eq!(rid, eager.insert(raw(next)).ok());
        }
    }

    /// A point lookup on a unique single-field index (by hash, `Index::holders`) finds
    /// the one document a scan finds, under inserts, replacements (arrays too: one document,
    /// several keys) and removals, ascending and descending; the unit tests' hashes take 64
    /// values, so most lookups meet colliding pairs.
    #[test]
    fn point_lookups_on_unique_indexes_agree_with_a_scan() {
        let vars = super::super::expr::Variables::new(bson::DateTime::from_millis(0));
        for direction in [1, -1] {
            let mut c = with_indexes(&[doc! {"key": {"u": direction}, "name": "u", "unique": true}, doc! {"key": {"v": 1}, "name": "v"}]);
            let mut live: Vec<u64> = Vec::new();
            let mut rng = 0x2545_F491_4F6C_DD1D_u64;
            let mut next = || {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                rng
            };
            let value = |r: u64| -> Bson {
                match r % 4 {
                    0 => Bson::Int32((r >> 8) as i32 % 300),
                    1 => Bson::Double(f64::from((r >> 8) as u32 % 300)),
                    2 => Bson::String(format!("s{}", (r >> 8) % 300)),
                    _ => Bson::Array(vec![Bson::Int64((r >> 8) as i64 % 300), Bson::String(format!("s{}", (r >> 20) % 300))]),
                }
            };
            for step in 0..3_000_i64 {
                let r = next();
                let d = doc! {"_id": step, "u": value(r >> 2), "v": (r % 7) as i64};
                match r % 5 {
                    0..=2 => {
                        if let Ok(rid) = c.insert(raw(d)) {
                            live.push(rid);
                        }
                    }
                    3 if !live.is_empty() => {
                        let rid = live[(r >> 40) as usize % live.len()];
                        let id = to_document(c.get(rid).unwrap()).unwrap().get("_id").cloned().unwrap();
                        let mut d = d;
                        d.insert("_id", id);
                        let _ = c.replace(rid, raw(d));
                    }
                    _ if !live.is_empty() => {
                        let rid = live.swap_remove((r >> 40) as usize % live.len());
                        c.remove(rid).unwrap();
                    }
                    _ => {}
                }
                if step % 50 == 0 {
                    c.indexes.iter().for_each(|i| drop(i.dump()));
                }
                let probe = value(next() >> 2);
                let probe = match probe {
                    Bson::Array(a) => a[0].clone(),
                    p => p,
                };
                let filter = super::super::query::Filter::parse(&doc! {"u": probe.clone()}, &vars).unwrap();
                let scan: Vec<u64> = c.records.iter().filter(|(_, d)| filter.matches_raw(d).unwrap()).map(|(r, _)| r).collect();
                assert!(scan.len() <= 1, "unique index, {probe}: {scan:?}");
                let found = super::super::index::plan::first_by_point(&c, &filter).expect("a point lookup").unwrap();
                assert_eq!(found, scan.first().copied(), "{probe} at step {step}, direction {direction}");
            }
            assert!(live.len() > 100, "{}", live.len());
        }
    }

    #[test]
    fn ids_are_unique_under_mongodb_equality_and_mem_returns_to_zero() {
        let mut c = Collection::new();
        let r1 = c.insert(raw(doc! {"_id": 1, "x": "a"})).unwrap();
        assert!(c.insert(raw(doc! {"_id": 1.0, "x": "b"})).is_err());
        assert!(c.insert(raw(doc! {"_id": 1_i64})).is_err());
        let r2 = c.insert(raw(doc! {"_id": "1"})).unwrap();
        assert!(r2 > r1);
        assert_eq!(c.get_by_id(&Bson::Double(1.0)).unwrap().0, r1);
        let old = c.replace(r1, raw(doc! {"_id": 1, "x": "a much longer string than before"})).unwrap().unwrap();
        assert_eq!(to_document(&old).unwrap(), doc! {"_id": 1, "x": "a"});
        assert!(c.mem_usage() > 0);
        assert_eq!(c.data_size(), bson_size(&doc! {"_id": 1, "x": "a much longer string than before"}) + bson_size(&doc! {"_id": "1"}));
        c.remove(r1).unwrap();
        c.remove(r2).unwrap();
        assert_eq!((c.mem_usage(), c.data_size()), (0, 0));
        assert!(c.is_empty());
    }
}
