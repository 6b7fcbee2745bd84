//! The stored form of one collection: its documents in insertion order and the `_id` index.
//!
//! Invariants:
//! - `records` maps a record id (assigned in insertion order, never reused within the
//!   collection's life) to a document whose first field is `_id`.
//! - `ids` maps the order-preserving key of every document's `_id` (`value::key_of`) to its
//!   record id: exactly one entry per document, so `_id`s are unique under MongoDB equality
//!   (`1`, `1.0` and `NumberLong(1)` are one `_id`).
//! - `mem` is the running footprint of the documents and both maps (`doc_mem` per document
//!   plus per-entry map costs), kept by every insert/replace/remove, so `mem_usage` is O(1).
//!
//! A natural-order scan (no sort) returns documents in insertion order, as MongoDB's storage
//! engine does for a collection that has not been compacted; an updated document keeps its place.

use std::collections::BTreeMap;
use std::ops::Bound;

use bson::{Bson, Document};

use super::value::key_of;
use crate::types::heap_cost;

/// What one B-tree entry costs beyond its key and value (node space amortised: B-tree nodes
/// hold up to 11 entries and are about 2/3 full).
const BTREE_ENTRY_OVERHEAD: usize = 16;

/// One collection's documents.
#[derive(Clone, Default)]
pub struct Collection {
    records: BTreeMap<u64, Document>,
    ids: BTreeMap<Vec<u8>, u64>,
    next_record: u64,
    mem: usize,
}

impl Collection {
    pub fn new() -> Self {
        Collection::default()
    }

    /// Number of documents.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Bytes this collection holds (documents, maps, keys), maintained incrementally.
    pub fn mem_usage(&self) -> usize {
        self.mem
    }

    /// The document whose `_id` equals `id`, with its record id.
    pub fn get_by_id(&self, id: &Bson) -> Option<(u64, &Document)> {
        let rid = *self.ids.get(&key_of(id))?;
        self.records.get(&rid).map(|d| (rid, d))
    }

    pub fn get(&self, record: u64) -> Option<&Document> {
        self.records.get(&record)
    }

    /// Documents in natural (insertion) order from record id `from` on.
    pub fn scan_from(&self, from: u64) -> impl Iterator<Item = (u64, &Document)> + '_ {
        self.records.range((Bound::Included(from), Bound::Unbounded)).map(|(r, d)| (*r, d))
    }

    /// Every document in natural order.
    pub fn iter(&self) -> impl Iterator<Item = &Document> + '_ {
        self.records.values()
    }

    /// Whether a document with this `_id` exists.
    pub fn contains_id(&self, id: &Bson) -> bool {
        self.ids.contains_key(&key_of(id))
    }

    /// Insert `doc` (its first field must be a valid `_id`). Err(()) if the `_id` exists.
    pub fn insert(&mut self, doc: Document) -> Result<u64, Document> {
        let id = doc.get("_id").cloned().unwrap_or(Bson::Null);
        let key = key_of(&id);
        if self.ids.contains_key(&key) {
            return Err(doc);
        }
        let rid = self.next_record;
        self.next_record += 1;
        self.mem += id_entry_cost(&key) + record_cost(&doc);
        self.ids.insert(key, rid);
        self.records.insert(rid, doc);
        Ok(rid)
    }

    /// Replace the document at `record` (same `_id`: the caller keeps `_id` immutable);
    /// returns the document it replaced.
    pub fn replace(&mut self, record: u64, doc: Document) -> Option<Document> {
        let slot = self.records.get_mut(&record)?;
        self.mem = self.mem - record_cost(slot) + record_cost(&doc);
        Some(std::mem::replace(slot, doc))
    }

    /// Remove the document at `record`, returning it.
    pub fn remove(&mut self, record: u64) -> Option<Document> {
        let doc = self.records.remove(&record)?;
        let key = key_of(doc.get("_id").unwrap_or(&Bson::Null));
        self.ids.remove(&key);
        self.mem -= id_entry_cost(&key) + record_cost(&doc);
        Some(doc)
    }

    /// Remove every document (the collection stays).
    pub fn clear(&mut self) {
        self.records.clear();
        self.ids.clear();
        self.mem = 0;
    }

    /// Total BSON bytes of the documents (collStats `size`), computed by a scan.
    pub fn data_size(&self) -> usize {
        self.records.values().map(bson_size).sum()
    }
}

fn id_entry_cost(key: &[u8]) -> usize {
    BTREE_ENTRY_OVERHEAD + std::mem::size_of::<(Vec<u8>, u64)>() + heap_cost(key.len())
}

fn record_cost(doc: &Document) -> usize {
    BTREE_ENTRY_OVERHEAD + std::mem::size_of::<(u64, Document)>() + doc_mem(doc)
}

/// Heap bytes a `Document` owns: its index table and entries, keys, and nested values.
pub fn doc_mem(doc: &Document) -> usize {
    // IndexMap: a hashbrown table of u64 indices (about 1.15 slots per entry + control bytes)
    // plus a Vec of (hash, key, value) buckets.
    let n = doc.len();
    if n == 0 {
        return 0;
    }
    let entry = std::mem::size_of::<(u64, String, Bson)>();
    let mut total = heap_cost(n * entry) + heap_cost(n * 8 + n * 9 / 8 + 16);
    for (k, v) in doc {
        total += heap_cost(k.len()) + value_mem(v);
    }
    total
}

fn value_mem(v: &Bson) -> usize {
    match v {
        Bson::String(s) | Bson::Symbol(s) | Bson::JavaScriptCode(s) => heap_cost(s.len()),
        Bson::Document(d) => doc_mem(d),
        Bson::Array(a) => heap_cost(a.len() * std::mem::size_of::<Bson>()) + a.iter().map(value_mem).sum::<usize>(),
        Bson::Binary(b) => heap_cost(b.bytes.len()),
        Bson::RegularExpression(r) => heap_cost(r.pattern.as_str().len()) + heap_cost(r.options.as_str().len()),
        Bson::JavaScriptCodeWithScope(c) => heap_cost(c.code.len()) + doc_mem(&c.scope),
        _ => 0,
    }
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

    #[test]
    fn ids_are_unique_under_mongodb_equality_and_mem_returns_to_zero() {
        let mut c = Collection::new();
        let r1 = c.insert(doc! {"_id": 1, "x": "a"}).unwrap();
        assert!(c.insert(doc! {"_id": 1.0, "x": "b"}).is_err());
        assert!(c.insert(doc! {"_id": 1_i64}).is_err());
        let r2 = c.insert(doc! {"_id": "1"}).unwrap();
        assert!(r2 > r1);
        assert_eq!(c.get_by_id(&Bson::Double(1.0)).unwrap().0, r1);
        c.replace(r1, doc! {"_id": 1, "x": "a much longer string than before"});
        assert!(c.mem_usage() > 0);
        c.remove(r1).unwrap();
        c.remove(r2).unwrap();
        assert_eq!(c.mem_usage(), 0);
        assert!(c.is_empty());
    }
}
