//! Secondary indexes of a collection: their definitions (`IndexSpec`, parsed from
//! `createIndexes` and shown by `listIndexes`) and their entries, kept in step with the
//! documents by `Collection` (every insert, replace and remove goes through `Indexes`).
//!
//! Invariants:
//! - an ordered index holds exactly `keys::document_keys` of every document it covers (all of
//!   them, minus those a `partialFilterExpression` rejects or a sparse index skips), each entry
//!   once; a text index holds one entry per (term, document) with the document's term score;
//! - a unique index never holds two entries with equal components and different record ids:
//!   `check` runs before any index or document changes, so a rejected write changes nothing
//!   (a batch insert, `insert_run`, checks and adds each document in turn on its own thread per
//!   index, and takes back what it added past the first refused document before it returns);
//! - `multikey` is set once any document gave a field several values or an array (it stays set,
//!   as in MongoDB): the planner then neither intersects range bounds nor sorts from the index;
//! - a unique ordered index's `points` table holds one (hash of the components, record id) pair
//!   per entry, no more and no less: a probe that finds no pair proves the key is absent;
//! - `mem` is the running footprint of the entries (and of their `points` pairs).
//!
//! The `_id` index is the collection's own `ids` map; it is listed as `_id_` but not stored here.

pub(crate) mod ddl;
pub mod keys;
pub mod plan;

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
use std::sync::atomic::{AtomicUsize, Ordering};

use bson::{Bson, Document, RawDocument};

use smallvec::SmallVec;

use self::keys::{document_keys_into, Entry, KeyField, KeyScratch, INLINE_ENTRY};
use super::error::codes;
use super::expr::Variables;
use super::query::{Filter, Path};
use super::text::{TextQuery, TextSpec};
use super::DocError;
use crate::types::heap_cost;

/// What one B-tree entry costs beyond its key (node space amortised).
const ENTRY_OVERHEAD: usize = 16;

/// An index definition.
#[derive(Clone, Debug)]
pub struct IndexSpec {
    pub name: String,
    /// The key pattern as the user gave it (shown by listIndexes, matched by hint).
    pub key: Document,
    /// The ordered fields (empty for a text index).
    pub fields: Vec<KeyField>,
    pub unique: bool,
    pub sparse: bool,
    pub hidden: bool,
    pub partial: Option<(Document, Filter)>,
    pub expire_after_seconds: Option<i64>,
    pub text: Option<TextSpec>,
}

fn cannot_create(message: impl Into<String>) -> DocError {
    DocError::new(codes::CANNOT_CREATE_INDEX, "CannotCreateIndex", message)
}

/// The name MongoDB generates for a key pattern: `a_1_b_-1`.
pub fn default_name(key: &Document) -> String {
    key.iter()
        .map(|(k, v)| {
            let v = match v {
                Bson::Int32(i) => i.to_string(),
                Bson::Int64(i) => i.to_string(),
                Bson::Double(d) if d.fract() == 0.0 => format!("{}", *d as i64),
                Bson::String(s) => s.clone(),
                other => other.to_string(),
            };
            format!("{k}_{v}")
        })
        .collect::<Vec<_>>()
        .join("_")
}

impl IndexSpec {
    /// Parse one element of `createIndexes.indexes`.
    pub fn parse(spec: &Document) -> Result<IndexSpec, DocError> {
        let key = match spec.get("key") {
            Some(Bson::Document(k)) if !k.is_empty() => k.clone(),
            Some(Bson::Document(_)) => return Err(cannot_create("Index keys cannot be empty.")),
            Some(_) => return Err(DocError::type_mismatch("The field 'key' must be an object")),
            None => return Err(DocError::failed_to_parse("The 'key' field is a required property of an index specification")),
        };
        let name = match spec.get("name") {
            Some(Bson::String(s)) if !s.is_empty() => s.clone(),
            Some(Bson::String(_)) => return Err(cannot_create("index name cannot be empty")),
            Some(_) => return Err(DocError::type_mismatch("The field 'name' must be a string")),
            None => default_name(&key),
        };
        let flag = |field: &str| -> Result<bool, DocError> {
            match spec.get(field) {
                None | Some(Bson::Null) => Ok(false),
                Some(Bson::Boolean(b)) => Ok(*b),
                Some(v) if super::value::is_number(v) => Ok(super::value::as_f64(v) != Some(0.0)),
                Some(_) => Err(DocError::type_mismatch(format!("The field '{field}' must be a boolean"))),
            }
        };
        let (unique, sparse, hidden) = (flag("unique")?, flag("sparse")?, flag("hidden")?);
        for (k, _) in spec {
            match k.as_str() {
                "key"
                | "name"
                | "unique"
                | "sparse"
                | "hidden"
                | "partialFilterExpression"
                | "expireAfterSeconds"
                | "v"
                | "background"
                | "weights"
                | "default_language"
                | "language_override"
                | "textIndexVersion"
                | "ns" => {}
                "collation" => {
                    return Err(DocError::new(codes::NOT_IMPLEMENTED, "NotImplemented", "collation is not supported by nestdb"));
                }
                other => {
                    return Err(DocError::new(
                        codes::INVALID_INDEX_SPECIFICATION_OPTION,
                        "InvalidIndexSpecificationOption",
                        format!("The field '{other}' is not valid for an index specification. Specification: {spec}"),
                    ))
                }
            }
        }
        let mut fields = Vec::new();
        let mut text_fields = false;
        for (path, dir) in &key {
            if path.is_empty() || path.split('.').any(str::is_empty) {
                return Err(cannot_create(format!("Index keys cannot contain an empty field name: {key}")));
            }
            if path.starts_with('$') && path != "$**" {
                return Err(cannot_create(format!("Index key contains an illegal field name: field name starts with '$'. {key}")));
            }
            match dir {
                Bson::String(s) if s == "text" => text_fields = true,
                Bson::String(s) if matches!(s.as_str(), "2d" | "2dsphere" | "hashed" | "geoHaystack" | "columnstore") => {
                    return Err(cannot_create(format!("nestdb does not support '{s}' indexes (key {key})")));
                }
                Bson::String(s) => return Err(cannot_create(format!("Unknown index plugin '{s}'"))),
                v if super::value::is_number(v) => {
                    let d = super::value::as_f64(v).unwrap_or(0.0);
                    if d == 0.0 || d.is_nan() {
                        return Err(cannot_create(format!(
                            "Values in the index key pattern can't be 0 (or NaN): {key}; use 1 for ascending, -1 for descending"
                        )));
                    }
                    fields.push(KeyField { path: Path::new(path), descending: d < 0.0 });
                }
                _ => {
                    return Err(cannot_create(format!(
                        "Values in v:2 index key pattern cannot be of type {}. Only numbers > 0, numbers < 0, and strings are allowed.",
                        super::value::type_name(dir)
                    )))
                }
            }
        }
        let text = if text_fields {
            if !fields.is_empty() {
                return Err(cannot_create("nestdb text indexes hold text fields only (no compound prefix or suffix fields)"));
            }
            Some(TextSpec::parse(&key, spec)?)
        } else {
            for f in ["weights", "default_language", "language_override", "textIndexVersion"] {
                if spec.contains_key(f) {
                    return Err(cannot_create(format!("'{f}' applies only to text indexes")));
                }
            }
            None
        };
        let partial = match spec.get("partialFilterExpression") {
            None => None,
            Some(Bson::Document(d)) => {
                if sparse {
                    return Err(cannot_create("cannot mix \"partialFilterExpression\" and \"sparse\" options"));
                }
                Some((d.clone(), Filter::parse(d, &Variables::new(bson::DateTime::from_millis(0)))?))
            }
            Some(_) => return Err(DocError::type_mismatch("The field 'partialFilterExpression' must be an object")),
        };
        let expire_after_seconds = match spec.get("expireAfterSeconds") {
            None => None,
            Some(v) if super::value::is_number(v) => {
                let secs = super::value::as_f64(v).unwrap_or(-1.0);
                if !(0.0..=2_147_483_647.0).contains(&secs) || secs.is_nan() {
                    return Err(cannot_create(format!("TTL index 'expireAfterSeconds' option must be within 0 and 2147483647, got {v}")));
                }
                if key.len() != 1 || text.is_some() {
                    return Err(cannot_create("TTL indexes are single-field indexes, compound indexes do not support TTL"));
                }
                if key.contains_key("_id") {
                    return Err(cannot_create("The field 'expireAfterSeconds' is not valid for an _id index specification"));
                }
                Some(secs as i64)
            }
            Some(_) => return Err(cannot_create("TTL index 'expireAfterSeconds' option must be numeric")),
        };
        if key.len() == 1 && key.contains_key("_id") {
            if name != "_id_" || unique || sparse || partial.is_some() || hidden {
                return Err(cannot_create("The _id index is created with the collection; it cannot be redefined"));
            }
        } else if name == "_id_" {
            return Err(cannot_create("The index name '_id_' is reserved for the _id index, which must have key pattern {_id: 1}"));
        }
        Ok(IndexSpec { name, key, fields, unique, sparse, hidden, partial, expire_after_seconds, text })
    }

    /// The index as listIndexes shows it.
    pub fn to_document(&self) -> Document {
        let mut d = doc_v2();
        match &self.text {
            Some(t) => {
                d.insert("key", bson::doc! {"_fts": "text", "_ftsx": 1});
                d.insert("name", self.name.clone());
                self.push_options(&mut d);
                d.extend(t.to_options());
            }
            None => {
                d.insert("key", self.key.clone());
                d.insert("name", self.name.clone());
                self.push_options(&mut d);
            }
        }
        d
    }

    /// The definition as it is saved (snapshots, the log): `parse` gives this index back. (A
    /// text index's key is stored as written, not as listIndexes shows it.)
    pub fn to_stored(&self) -> Document {
        let mut d = doc_v2();
        d.insert("key", self.key.clone());
        d.insert("name", self.name.clone());
        self.push_options(&mut d);
        if let Some(t) = &self.text {
            for (k, v) in t.to_options() {
                if k != "textIndexVersion" || matches!(v, Bson::Int32(3) | Bson::Int64(3)) {
                    d.insert(k, v);
                }
            }
        }
        d
    }

    fn push_options(&self, d: &mut Document) {
        if self.unique {
            d.insert("unique", true);
        }
        if self.sparse {
            d.insert("sparse", true);
        }
        if self.hidden {
            d.insert("hidden", true);
        }
        if let Some((p, _)) = &self.partial {
            d.insert("partialFilterExpression", p.clone());
        }
        if let Some(s) = self.expire_after_seconds {
            d.insert("expireAfterSeconds", s as i32);
        }
    }

    /// Whether two specs define the same index (key and the options that change behaviour).
    fn same_definition(&self, other: &IndexSpec) -> bool {
        self.has_key(&other.key)
            && self.unique == other.unique
            && self.sparse == other.sparse
            && self.partial.as_ref().map(|p| &p.0) == other.partial.as_ref().map(|p| &p.0)
            && self.expire_after_seconds == other.expire_after_seconds
            && self.hidden == other.hidden
            && self.text == other.text
    }

    /// Whether this index's key pattern equals `key` (for hints and dropIndex by key).
    pub fn has_key(&self, key: &Document) -> bool {
        // Field order matters (a Document's `==` ignores it); numerically equal directions
        // (1 vs 1.0) name the same index.
        self.key.len() == key.len()
            && self.key.iter().zip(key.iter()).all(|((a, x), (b, y))| a == b && super::value::compare(x, y) == std::cmp::Ordering::Equal)
    }

    pub fn is_text(&self) -> bool {
        self.text.is_some()
    }
}

fn doc_v2() -> Document {
    bson::doc! {"v": 2}
}

/// The entries of one index.
#[derive(Clone, Debug)]
enum Store {
    /// Ordered entries (`keys` module layout).
    Keys(BTreeSet<Entry>),
    /// Text entries: escaped term, 0 0, record id -> the document's score for the term.
    Text(BTreeMap<Entry, f64>),
}

/// One index: definition and entries.
#[derive(Clone, Debug)]
pub struct Index {
    pub spec: IndexSpec,
    store: Store,
    /// Unique ordered indexes only: the entries' components hashed (`Points`).
    points: Option<Points>,
    pub multikey: bool,
    mem: usize,
}

/// A unique ordered index's hash side-table: one (hash of the entry's components, record id)
/// pair per B-tree entry, kept in step with the B-tree (a pair is added or removed exactly when
/// its entry is). A point lookup (`holders`) or a unique probe (`holder`) is then one
/// hash probe, where a B-tree descent of a million entries costs several cache misses per
/// level; no pair under a hash proves no entry holds those components, and a pair is a
/// candidate the caller confirms (entries whose components hash alike share a hash).
#[derive(Clone, Debug)]
struct Points {
    table: hashbrown::HashTable<(u64, u64)>,
    hasher: foldhash::fast::RandomState,
}

/// What one `Points` pair costs: 16 bytes and a control byte, at the table's 7/8 load at most
/// and half that at least (as the collection's `by_id`).
const POINT_COST: usize = 24;

impl Points {
    fn new() -> Points {
        Points { table: hashbrown::HashTable::new(), hasher: foldhash::fast::RandomState::default() }
    }

    fn hash(&self, components: &[u8]) -> u64 {
        use std::hash::BuildHasher;
        let h = self.hasher.hash_one(components);
        // Unit tests squeeze the hashes into 64 values, so that collisions are common there.
        if cfg!(test) {
            (h & 0x3F).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        } else {
            h
        }
    }

    fn insert(&mut self, hash: u64, record: u64) {
        self.table.insert_unique(hash, (hash, record), |p| p.0);
    }

    fn remove(&mut self, hash: u64, record: u64) {
        if let Ok(pair) = self.table.find_entry(hash, |&p| p == (hash, record)) {
            pair.remove();
        }
    }

    /// The record ids of the pairs under the hash of `components`: every record holding them,
    /// and any whose components merely hash alike.
    fn records(&self, components: &[u8]) -> impl Iterator<Item = u64> + '_ {
        let hash = self.hash(components);
        self.table.iter_hash(hash).filter(move |p| p.0 == hash).map(|p| p.1)
    }
}

/// A unique index's duplicate: which index, its key pattern and the duplicated key.
#[derive(Debug)]
pub struct DuplicateKey {
    pub index: String,
    pub key_pattern: Document,
    pub key_value: Document,
}

/// A write an index refused.
#[derive(Debug)]
pub enum Refusal {
    /// A unique index already holds this key for another document.
    Duplicate(Box<DuplicateKey>),
    /// The document cannot be indexed (parallel arrays, too many keys, bad text...).
    Invalid(DocError),
}

fn entry_cost(len: usize) -> usize {
    // Inline entries live in the node; longer ones add their heap block.
    ENTRY_OVERHEAD + std::mem::size_of::<Entry>() + if len > INLINE_ENTRY { heap_cost(len) } else { 0 }
}

fn text_entry(term: &str, record: u64) -> Entry {
    let mut e = Vec::with_capacity(term.len() + 10);
    super::value::encode_str(term.as_bytes(), &mut e);
    e.extend_from_slice(&record.to_be_bytes());
    Entry::from_slice(&e)
}

/// What one document contributes to an index: ordered entries are appended to a buffer
/// shared by all the indexes of a write (`Keys` names its range there), text entries are
/// owned.
enum Contribution {
    Keys { start: usize, end: usize, multikey: bool },
    Text(Vec<(Entry, f64)>),
}

/// The contributions of one document to each index of a list.
type Contributions = SmallVec<[Contribution; 4]>;

impl Contribution {
    /// Whether two contributions (entries in `mine` and `theirs`) hold the same entries.
    fn same_as(&self, other: &Contribution, mine: &[Entry], theirs: &[Entry]) -> bool {
        match (self, other) {
            (Contribution::Keys { start, end, multikey }, Contribution::Keys { start: s2, end: e2, multikey: m2 }) => {
                multikey == m2 && mine[*start..*end] == theirs[*s2..*e2]
            }
            (Contribution::Text(a), Contribution::Text(b)) => a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.0 == y.0 && x.1 == y.1),
            _ => false,
        }
    }
}

impl Index {
    /// What `doc` contributes to this index; ordered entries are appended to `out` (nothing is
    /// appended on error).
    fn contribution(
        &self,
        doc: &RawDocument,
        record: u64,
        scratch: &mut KeyScratch,
        out: &mut Vec<Entry>,
    ) -> Result<Contribution, DocError> {
        let start = out.len();
        if let Some((_, f)) = &self.spec.partial {
            if !f.matches_raw(doc)? {
                return Ok(match self.spec.text {
                    Some(_) => Contribution::Text(Vec::new()),
                    None => Contribution::Keys { start, end: start, multikey: false },
                });
            }
        }
        Ok(match &self.spec.text {
            Some(t) => Contribution::Text(t.terms(doc)?.into_iter().map(|(term, score)| (text_entry(&term, record), score)).collect()),
            None => {
                let multikey = document_keys_into(doc, record, &self.spec.fields, self.spec.sparse, scratch, out)?;
                Contribution::Keys { start, end: out.len(), multikey }
            }
        })
    }

    /// The components part of an ordered entry (everything before the record id).
    fn components<'e>(&self, entry: &'e [u8]) -> &'e [u8] {
        &entry[..entry.len() - 8 - self.spec.fields.len()]
    }

    /// The record id of another document holding `components`, if any (unique check).
    fn holder(&self, components: &[u8], except: u64) -> Option<u64> {
        let Store::Keys(set) = &self.store else { return None };
        if let Some(points) = &self.points {
            if points.records(components).all(|record| record == except) {
                return None;
            }
        }
        // Every entry holding `components` sorts below `components` followed by more 0xFF
        // bytes than a record id and tags take (tags are BSON type bytes, never 0xFF): both
        // bounds descend one path.
        let mut hi: SmallVec<[u8; 96]> = SmallVec::from_slice(components);
        hi.extend(std::iter::repeat_n(0xFF, 9 + self.spec.fields.len()));
        for e in set.range::<[u8], _>((Bound::Included(components), Bound::Included(&hi[..]))) {
            if !e.starts_with(components) {
                break;
            }
            let rid = keys::record_of(e, components.len())?;
            if rid != except {
                return Some(rid);
            }
        }
        None
    }

    /// The first of `entries` (this index's entries for `record`) that another document
    /// holds, when the index is unique (the unique check).
    fn taken<'e>(&self, entries: &'e [Entry], record: u64) -> Option<&'e Entry> {
        if !self.spec.unique {
            return None;
        }
        entries.iter().find(|e| self.holder(self.components(e), record).is_some())
    }

    fn duplicate(&self, doc: &RawDocument, entry: &[u8]) -> Refusal {
        let mut key_value = Document::new();
        let split = keys::split_entry(entry, &self.spec.fields);
        let decoded = super::collection::to_document(doc).ok();
        for (i, f) in self.spec.fields.iter().enumerate() {
            let v = split
                .as_ref()
                .and_then(|(ranges, _, tags)| keys::decode_component(&entry[ranges[i].clone()], f.descending, tags[i]))
                .or_else(|| decoded.as_ref().and_then(|d| super::value::get_path(d, &f.path.dotted).cloned()))
                .unwrap_or(Bson::Null);
            key_value.insert(f.path.dotted.clone(), v);
        }
        Refusal::Duplicate(Box::new(DuplicateKey { index: self.spec.name.clone(), key_pattern: self.spec.key.clone(), key_value }))
    }

    /// The hash of an ordered entry's components in `points` and its record id.
    fn point_of(points: &Points, fields: usize, entry: &[u8]) -> (u64, u64) {
        let comps = entry.len() - 8 - fields;
        (points.hash(&entry[..comps]), keys::record_of(entry, comps).unwrap_or(0))
    }

    /// Add a contribution (its ordered entries are `entries`).
    fn add(&mut self, c: Contribution, entries: impl Iterator<Item = Entry>) {
        let Index { spec, store, points, multikey, mem } = self;
        match (store, c) {
            (Store::Keys(set), Contribution::Keys { multikey: m, .. }) => {
                *multikey |= m;
                for e in entries {
                    let cost = entry_cost(e.len()) + if points.is_some() { POINT_COST } else { 0 };
                    let point = points.as_ref().map(|p| Self::point_of(p, spec.fields.len(), &e));
                    if set.insert(e) {
                        *mem += cost;
                        if let (Some(p), Some((hash, record))) = (points.as_mut(), point) {
                            p.insert(hash, record);
                        }
                    }
                }
            }
            (Store::Text(map), Contribution::Text(entries)) => {
                for (e, score) in entries {
                    let cost = entry_cost(e.len()) + 8;
                    if map.insert(e, score).is_none() {
                        *mem += cost;
                    }
                }
            }
            _ => {}
        }
    }

    /// Remove a contribution (its ordered entries are `entries`).
    fn take(&mut self, c: Contribution, entries: &[Entry]) {
        let Index { spec, store, points, mem, .. } = self;
        match (store, c) {
            (Store::Keys(set), Contribution::Keys { .. }) => {
                for e in entries {
                    if set.remove(e) {
                        *mem -= entry_cost(e.len());
                        if let Some(p) = points.as_mut() {
                            *mem -= POINT_COST;
                            let (hash, record) = Self::point_of(p, spec.fields.len(), e);
                            p.remove(hash, record);
                        }
                    }
                }
            }
            (Store::Text(map), Contribution::Text(entries)) => {
                for (e, _) in entries {
                    if map.remove(&e).is_some() {
                        *mem -= entry_cost(e.len()) + 8;
                    }
                }
            }
            _ => {}
        }
    }

    /// For a unique single-field index: candidates for the record holding the key
    /// `components`, found by hash (the holder if there is one, and records whose keys merely
    /// hash alike: the caller confirms each); None when the index is not such an index (scan
    /// `range` then). A unique index holds a key for one document at most, so the confirmed
    /// candidate is the record an ordered scan would meet first.
    pub fn holders(&self, components: &[u8]) -> Option<impl Iterator<Item = u64> + '_> {
        let points = self.points.as_ref().filter(|_| self.spec.fields.len() == 1)?;
        Some(points.records(components))
    }

    /// Bytes the entries take.
    pub fn mem_usage(&self) -> usize {
        self.mem
    }

    /// Every entry's bytes in order (text entries with their score after them): tests
    /// compare indexes built different ways. Checks that `points` holds exactly one pair per
    /// entry.
    #[cfg(test)]
    pub(crate) fn dump(&self) -> Vec<Vec<u8>> {
        if let (Store::Keys(set), Some(points)) = (&self.store, &self.points) {
            let mut want: Vec<(u64, u64)> = set.iter().map(|e| Self::point_of(points, self.spec.fields.len(), e)).collect();
            let mut have: Vec<(u64, u64)> = points.table.iter().copied().collect();
            want.sort_unstable();
            have.sort_unstable();
            assert_eq!(have, want, "the point table of {} is out of step with its entries", self.spec.name);
        }
        match &self.store {
            Store::Keys(s) => s.iter().map(|e| e.to_vec()).collect(),
            Store::Text(m) => m.iter().map(|(e, s)| [e.to_vec(), s.to_be_bytes().to_vec()].concat()).collect(),
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        match &self.store {
            Store::Keys(s) => s.len(),
            Store::Text(m) => m.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Ordered entries in a byte range (`plan` scans).
    pub fn range<'a>(&'a self, lo: Bound<&'a [u8]>, hi: Bound<&'a [u8]>) -> impl DoubleEndedIterator<Item = &'a [u8]> + 'a {
        let set = match &self.store {
            Store::Keys(s) => Some(s),
            Store::Text(_) => None,
        };
        set.into_iter().flat_map(move |s| s.range::<[u8], _>((lo, hi))).map(|e| &e[..])
    }

    /// Record ids and scores of the documents holding `term` (text indexes).
    pub fn text_postings(&self, term: &str) -> Vec<(u64, f64)> {
        let Store::Text(map) = &self.store else { return Vec::new() };
        let prefix = text_entry(term, 0);
        let prefix = &prefix[..prefix.len() - 8];
        map.range::<[u8], _>((Bound::Included(prefix), Bound::Unbounded))
            .take_while(|(e, _)| e.starts_with(prefix) && e.len() == prefix.len() + 8)
            .filter_map(|(e, s)| keys::record_of(e, prefix.len()).map(|r| (r, *s)))
            .collect()
    }

    /// Parse a `$text` operand against this (text) index.
    pub fn text_query(&self, operand: &Document) -> Result<TextQuery, DocError> {
        match &self.spec.text {
            Some(t) => TextQuery::parse(operand, t),
            None => Err(DocError::new(codes::INDEX_NOT_FOUND, "IndexNotFound", "text index required for $text query")),
        }
    }
}

/// The secondary indexes of a collection.
#[derive(Clone, Debug, Default)]
pub struct Indexes {
    list: Vec<Index>,
    /// Key generation buffers, reused by every write (empty between calls).
    scratch: KeyScratch,
    /// The ordered entries a write stages before applying them (empty between calls).
    staged: Vec<Entry>,
    /// The entries a replaced document had (empty between calls).
    unstaged: Vec<Entry>,
}

/// Documents below which an index build stays on one thread.
const PARALLEL_BUILD_MIN: usize = 16_384;

/// The number of threads an index build may use (1 when the machine has a single core).
/// (Asked once: `available_parallelism` reads cgroup files, and indexed batch inserts ask per
/// batch.)
fn build_threads() -> usize {
    static THREADS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *THREADS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()).min(8))
}

fn panicked() -> Refusal {
    Refusal::Invalid(DocError::new(codes::INTERNAL_ERROR, "InternalError", "an index build thread panicked"))
}

impl Indexes {
    /// Whether some index may read a field at one of `paths` (dotted parts): its keys, or
    /// (conservatively) any field when it is a text or partial index. A change confined to
    /// paths no index reads leaves every index as it is.
    pub fn read_any<'p>(&self, paths: impl Iterator<Item = &'p [String]> + Clone) -> bool {
        self.list.iter().any(|i| {
            i.spec.text.is_some()
                || i.spec.partial.is_some()
                || i.spec.fields.iter().any(|f| paths.clone().any(|p| overlaps(&f.path.dotted, p)))
        })
    }

    pub fn iter(&self) -> impl Iterator<Item = &Index> + '_ {
        self.list.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn get(&self, name: &str) -> Option<&Index> {
        self.list.iter().find(|i| i.spec.name == name)
    }

    /// The collection's text index.
    pub fn text(&self) -> Option<&Index> {
        self.list.iter().find(|i| i.spec.is_text())
    }

    /// Bytes the entries take.
    pub fn mem_usage(&self) -> usize {
        self.list.iter().map(|i| i.mem).sum()
    }

    /// How a new spec relates to the existing ones: Ok(true) if an identical index exists
    /// (nothing to do), Ok(false) if it can be created, or MongoDB's conflict error.
    pub fn admits(&self, spec: &IndexSpec) -> Result<bool, DocError> {
        for i in &self.list {
            let same_key = i.spec.has_key(&spec.key) || (i.spec.is_text() && spec.is_text());
            if i.spec.name == spec.name {
                if i.spec.same_definition(spec) {
                    return Ok(true);
                }
                if !i.spec.has_key(&spec.key) {
                    return Err(DocError::new(
                        codes::INDEX_KEY_SPECS_CONFLICT,
                        "IndexKeySpecsConflict",
                        format!(
                            "An existing index has the same name as the requested index. When index names are not specified, they are auto generated and can cause conflicts. Please refer to our documentation. Requested index: {}, existing index: {}",
                            spec.to_document(),
                            i.spec.to_document()
                        ),
                    ));
                }
                return Err(DocError::new(
                    codes::INDEX_OPTIONS_CONFLICT,
                    "IndexOptionsConflict",
                    format!(
                        "An equivalent index already exists with the same name but different options. Requested index: {}, existing index: {}",
                        spec.to_document(),
                        i.spec.to_document()
                    ),
                ));
            }
            if same_key && (i.spec.is_text() || i.spec.same_definition(spec)) {
                return Err(DocError::new(
                    codes::INDEX_OPTIONS_CONFLICT,
                    "IndexOptionsConflict",
                    format!("Index already exists with a different name: {}", i.spec.name),
                ));
            }
        }
        Ok(false)
    }

    /// Build an index over `docs` (ascending record ids) and add it, on several threads when
    /// the machine has cores to spare; nothing changes on error (a unique violation is E11000
    /// on the first duplicate in index order, as a one-thread build finds it).
    pub fn build(&mut self, spec: IndexSpec, docs: &[(u64, &RawDocument)]) -> Result<(), Refusal> {
        self.list.push(Index::build(spec, docs, build_threads())?);
        Ok(())
    }

    /// Build several indexes over the same documents (snapshot loads rebuild every index of a
    /// collection): one thread per index when the machine has cores to spare, the cores left
    /// shared among them; nothing is added unless all succeed.
    pub fn build_all(&mut self, specs: Vec<IndexSpec>, docs: &[(u64, &RawDocument)]) -> Result<(), Refusal> {
        let threads = build_threads();
        let built: Vec<Result<Index, Refusal>> = if threads < 2 || specs.len() < 2 {
            specs.into_iter().map(|s| Index::build(s, docs, threads)).collect()
        } else {
            let each = (threads / specs.len()).max(1);
            std::thread::scope(|scope| {
                let handles: Vec<_> = specs.into_iter().map(|s| scope.spawn(move || Index::build(s, docs, each))).collect();
                handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err(panicked()))).collect()
            })
        };
        let built = built.into_iter().collect::<Result<Vec<_>, _>>()?;
        self.list.extend(built);
        Ok(())
    }
}

/// The entries one thread of an index build computed, for a contiguous run of documents:
/// ordered entries sorted, text entries as they came.
#[derive(Default)]
struct Part {
    keys: Vec<Entry>,
    text: Vec<(Entry, f64)>,
    multikey: bool,
}

/// Run `f` on each item, on one scoped thread per item (the first on this thread).
fn parallel<T: Send, R: Send>(items: Vec<T>, f: impl Fn(T) -> R + Sync) -> Result<Vec<R>, Refusal> {
    if items.len() < 2 {
        return Ok(items.into_iter().map(f).collect());
    }
    let f = &f;
    std::thread::scope(|scope| {
        let mut items = items.into_iter();
        let first = items.next();
        let handles: Vec<_> = items.map(|t| scope.spawn(move || f(t))).collect();
        let mut out = Vec::with_capacity(handles.len() + 1);
        out.extend(first.map(f));
        for h in handles {
            out.push(h.join().map_err(|_| panicked())?);
        }
        Ok(out)
    })
}

/// Build one ordered set out of sets whose entries are all distinct (pairwise appends, the
/// pairs on parallel threads).
fn union_all<K: Ord + Send>(mut sets: Vec<BTreeSet<K>>) -> Result<BTreeSet<K>, Refusal> {
    while sets.len() > 1 {
        let mut pairs = Vec::with_capacity(sets.len().div_ceil(2));
        let mut it = sets.into_iter();
        while let Some(a) = it.next() {
            pairs.push((a, it.next()));
        }
        sets = parallel(pairs, |(mut a, b)| {
            if let Some(mut b) = b {
                a.append(&mut b);
            }
            a
        })?;
    }
    Ok(sets.pop().unwrap_or_default())
}

impl Index {
    /// Build an index over `docs` (bulk): split the documents into up to `threads` runs, and on
    /// one thread per run compute the entries and sort them; then check uniqueness between
    /// neighbours of the merged order (exactly the pairs a one-thread sort would compare, so
    /// the same duplicate is reported), and build the B-tree from sorted input, one per run in
    /// parallel, joined by pairwise appends.
    fn build(spec: IndexSpec, docs: &[(u64, &RawDocument)], threads: usize) -> Result<Index, Refusal> {
        let mut index = Index {
            store: if spec.is_text() { Store::Text(BTreeMap::new()) } else { Store::Keys(BTreeSet::new()) },
            points: (spec.unique && !spec.is_text()).then(Points::new),
            spec,
            multikey: false,
            mem: 0,
        };
        let runs = if threads > 1 && docs.len() >= PARALLEL_BUILD_MIN { threads.min(docs.len() / (PARALLEL_BUILD_MIN / 2)) } else { 1 };
        let chunks: Vec<&[(u64, &RawDocument)]> = docs.chunks(docs.len().div_ceil(runs.max(1)).max(1)).collect();
        let this = &index;
        let parts = parallel(chunks, |chunk| -> Result<Part, DocError> {
            let mut part = Part { keys: Vec::with_capacity(chunk.len()), ..Part::default() };
            let mut scratch = KeyScratch::default();
            for &(rid, doc) in chunk {
                match this.contribution(doc, rid, &mut scratch, &mut part.keys)? {
                    Contribution::Keys { multikey, .. } => part.multikey |= multikey,
                    Contribution::Text(entries) => part.text.extend(entries),
                }
            }
            part.keys.sort_unstable();
            Ok(part)
        })?;
        // The first error in document order, as a one-thread build stops at.
        let parts = parts.into_iter().collect::<Result<Vec<Part>, DocError>>().map_err(Refusal::Invalid)?;
        if index.spec.unique {
            index.check_sorted_unique(&parts, docs)?;
        }
        index.multikey = parts.iter().any(|p| p.multikey);
        let (sets, maps) = parallel(parts, |mut p| {
            p.keys.dedup();
            let mem = p.keys.iter().map(|e| entry_cost(e.len())).sum::<usize>()
                + p.text.iter().map(|(e, _)| entry_cost(e.len()) + 8).sum::<usize>();
            let set: BTreeSet<Entry> = p.keys.into_iter().collect();
            let map: BTreeMap<Entry, f64> = p.text.into_iter().collect();
            (mem, set, map)
        })?
        .into_iter()
        .fold((Vec::new(), Vec::new()), |(mut sets, mut maps), (mem, set, map)| {
            index.mem += mem;
            sets.push(set);
            maps.push(map);
            (sets, maps)
        });
        match &mut index.store {
            Store::Keys(set) => {
                *set = union_all(sets)?;
                if let Some(points) = &mut index.points {
                    points.table.reserve(set.len(), |p| p.0);
                    for e in set.iter() {
                        let (hash, record) = Self::point_of(points, index.spec.fields.len(), e);
                        points.insert(hash, record);
                    }
                    index.mem += POINT_COST * set.len();
                }
            }
            Store::Text(map) => {
                for mut m in maps {
                    map.append(&mut m);
                }
            }
        }
        Ok(index)
    }

    /// E11000 for the first two neighbours, in the merged order of the runs' sorted entries,
    /// with equal components and different record ids.
    fn check_sorted_unique(&self, parts: &[Part], docs: &[(u64, &RawDocument)]) -> Result<(), Refusal> {
        let n = self.spec.fields.len();
        let comps = |e: &'_ Entry| -> usize { e.len() - 8 - n };
        let mut at = vec![0usize; parts.len()];
        let mut prev: Option<&Entry> = None;
        loop {
            // The smallest head among the runs (a stable merge: equal entries cannot come from
            // two runs, as entries carry their document's record id).
            let mut best: Option<(usize, &Entry)> = None;
            for (p, part) in parts.iter().enumerate() {
                if let Some(e) = part.keys.get(at[p]) {
                    if best.is_none_or(|(_, b)| e < b) {
                        best = Some((p, e));
                    }
                }
            }
            let Some((p, e)) = best else { return Ok(()) };
            at[p] += 1;
            if let Some(a) = prev {
                let (ca, cb) = (comps(a), comps(e));
                if a[..ca] == e[..cb] {
                    let (ra, rb) = (keys::record_of(a, ca), keys::record_of(e, cb));
                    if ra != rb {
                        let owner = rb.and_then(|r| match docs.binary_search_by_key(&r, |d| d.0) {
                            Ok(i) => Some(docs[i].1),
                            Err(_) => docs.iter().find(|d| d.0 == r).map(|d| d.1),
                        });
                        return Err(match owner {
                            Some(d) => self.duplicate(d, e),
                            None => Refusal::Invalid(DocError::new(codes::DUPLICATE_KEY, "DuplicateKey", "E11000 duplicate key error")),
                        });
                    }
                }
            }
            prev = Some(e);
        }
    }
}

impl Indexes {
    /// Remove the index named `name`; its spec.
    pub fn drop(&mut self, name: &str) -> Option<IndexSpec> {
        let at = self.list.iter().position(|i| i.spec.name == name)?;
        Some(self.list.remove(at).spec)
    }

    pub fn clear_entries(&mut self) {
        for i in &mut self.list {
            i.store = if i.spec.is_text() { Store::Text(BTreeMap::new()) } else { Store::Keys(BTreeSet::new()) };
            if let Some(p) = &mut i.points {
                p.table = hashbrown::HashTable::new();
            }
            i.mem = 0;
        }
    }

    /// Buffers that grew for an unusual document (thousands of keys) are not kept.
    fn trim(&mut self) {
        for v in [&mut self.staged, &mut self.unstaged] {
            if v.capacity() > 4096 {
                *v = Vec::new();
            } else {
                v.clear();
            }
        }
        self.scratch.trim();
    }

    /// Add `doc` at `record` to every index, or change nothing and say why not.
    pub fn insert(&mut self, doc: &RawDocument, record: u64) -> Result<(), Refusal> {
        if self.list.is_empty() {
            return Ok(());
        }
        let result = self.insert_staged(doc, record);
        self.trim();
        result
    }

    fn insert_staged(&mut self, doc: &RawDocument, record: u64) -> Result<(), Refusal> {
        let Indexes { list, scratch, staged, .. } = self;
        staged.clear();
        let contributions = contributions(list, doc, record, scratch, staged)?;
        check_unique(list, doc, record, &contributions, staged, &[])?;
        let mut entries = staged.drain(..);
        for (i, c) in list.iter_mut().zip(contributions) {
            let n = match c {
                Contribution::Keys { start, end, .. } => end - start,
                Contribution::Text(_) => 0,
            };
            i.add(c, entries.by_ref().take(n));
        }
        Ok(())
    }

    /// Move `record` from `old` to `new` in every index, or change nothing and say why not.
    pub fn replace(&mut self, old: &RawDocument, new: &RawDocument, record: u64) -> Result<(), Refusal> {
        if self.list.is_empty() {
            return Ok(());
        }
        let result = self.replace_staged(old, new, record);
        self.trim();
        result
    }

    fn replace_staged(&mut self, old: &RawDocument, new: &RawDocument, record: u64) -> Result<(), Refusal> {
        let Indexes { list, scratch, staged, unstaged } = self;
        staged.clear();
        unstaged.clear();
        let added = contributions(list, new, record, scratch, staged)?;
        let removed = contributions(list, old, record, scratch, unstaged)?;
        // An index whose entries the change leaves as they were (an update of fields it does
        // not read) is neither checked nor touched.
        let same: SmallVec<[bool; 4]> = added.iter().zip(&removed).map(|(a, r)| a.same_as(r, staged, unstaged)).collect();
        check_unique(list, new, record, &added, staged, &same)?;
        let mut entries = staged.drain(..);
        for (((i, r), a), same) in list.iter_mut().zip(removed).zip(added).zip(same) {
            let n = match a {
                Contribution::Keys { start, end, .. } => end - start,
                Contribution::Text(_) => 0,
            };
            if same {
                entries.by_ref().take(n).for_each(drop);
                continue;
            }
            if let Contribution::Keys { start, end, .. } = r {
                i.take(r, &unstaged[start..end]);
            } else {
                i.take(r, &[]);
            }
            i.add(a, entries.by_ref().take(n));
        }
        Ok(())
    }

    /// Add a run of new documents (`docs[j]` at record `first + j`), each index on its own
    /// task, the tasks and `records` (the caller's own work on the same run) spread over up to
    /// `build_threads()` threads. Each index adds the documents in order and stops at the first
    /// it refuses, lowering `stop` to that position, or once it reaches `stop` (another task's
    /// refusal); `records` follows the same protocol. On return, every index holds the
    /// documents before `stop` and possibly some after it: `undo_run` takes those back.
    ///
    /// `eager` (tests): a task stops only at its own refusal, so undoing has more to do.
    pub fn insert_run<'a>(
        &'a mut self,
        docs: &'a [&'a RawDocument],
        first: u64,
        stop: &'a AtomicUsize,
        eager: bool,
        records: impl FnOnce() + Send + 'a,
    ) -> Vec<RunProgress> {
        let mut progress = vec![RunProgress::default(); self.list.len()];
        {
            // Unique indexes (a probe and an insert per key) are the longest tasks: first.
            let mut tasks: Vec<Task<'_>> = Vec::with_capacity(self.list.len() + 1);
            let mut rest: Vec<Task<'_>> = Vec::new();
            for (index, p) in self.list.iter_mut().zip(progress.iter_mut()) {
                let unique = index.spec.unique;
                let task: Task<'_> = Box::new(move || *p = index.add_run(docs, first, stop, eager));
                if unique {
                    tasks.push(task);
                } else {
                    rest.push(task);
                }
            }
            tasks.push(Box::new(records));
            tasks.extend(rest);
            run_tasks(tasks);
        }
        progress
    }

    /// Take back what `insert_run` added for the documents from position `from` on.
    pub fn undo_run(&mut self, docs: &[&RawDocument], first: u64, from: usize, progress: &[RunProgress]) {
        for (index, p) in self.list.iter_mut().zip(progress) {
            index.undo_run(docs, first, from, p);
        }
        self.trim();
    }

    /// Remove `doc` at `record` from every index.
    pub fn remove(&mut self, doc: &RawDocument, record: u64) {
        let Indexes { list, scratch, staged, .. } = self;
        for i in list.iter_mut() {
            i.remove_document(doc, record, scratch, staged);
        }
        self.trim();
    }
}

/// How far one index got in `Indexes::insert_run`.
#[derive(Clone, Copy, Debug, Default)]
pub struct RunProgress {
    /// Documents of the run added (a prefix).
    added: usize,
    /// The first of them that made the index multikey, when it was not before the run.
    made_multikey: Option<usize>,
}

/// One task of `run_tasks`.
type Task<'a> = Box<dyn FnOnce() + Send + 'a>;

/// Run `tasks` on up to `build_threads()` threads (this one included), each task once, taken
/// in order by whichever thread is free.
fn run_tasks(tasks: Vec<Task<'_>>) {
    let threads = build_threads().min(tasks.len());
    if threads <= 1 {
        tasks.into_iter().for_each(|t| t());
        return;
    }
    let queue: Vec<std::sync::Mutex<Option<Task<'_>>>> = tasks.into_iter().map(|t| std::sync::Mutex::new(Some(t))).collect();
    let next = AtomicUsize::new(0);
    let work = || {
        while let Some(slot) = queue.get(next.fetch_add(1, Ordering::Relaxed)) {
            let task = slot.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
            if let Some(task) = task {
                task();
            }
        }
    };
    std::thread::scope(|scope| {
        for _ in 1..threads {
            scope.spawn(work);
        }
        work();
    });
}

impl Index {
    /// `insert_run`'s task for this index: add `docs` in order (see there).
    fn add_run(&mut self, docs: &[&RawDocument], first: u64, stop: &AtomicUsize, eager: bool) -> RunProgress {
        let mut scratch = KeyScratch::default();
        let mut staged = Vec::new();
        let mut progress = RunProgress::default();
        let was_multikey = self.multikey;
        for (j, doc) in docs.iter().enumerate() {
            progress.added = j;
            if !eager && j >= stop.load(Ordering::Relaxed) {
                return progress;
            }
            let record = first + j as u64;
            staged.clear();
            let Ok(c) = self.contribution(doc, record, &mut scratch, &mut staged) else {
                stop.fetch_min(j, Ordering::Relaxed);
                return progress;
            };
            if self.taken(&staged, record).is_some() {
                stop.fetch_min(j, Ordering::Relaxed);
                return progress;
            }
            self.add(c, staged.drain(..));
            if !was_multikey && self.multikey && progress.made_multikey.is_none() {
                progress.made_multikey = Some(j);
            }
        }
        progress.added = docs.len();
        progress
    }

    /// Remove the entries of `doc` at `record` (`scratch` and `staged`: work buffers).
    fn remove_document(&mut self, doc: &RawDocument, record: u64, scratch: &mut KeyScratch, staged: &mut Vec<Entry>) {
        staged.clear();
        if let Ok(c) = self.contribution(doc, record, scratch, staged) {
            self.take(c, staged);
        }
    }

    /// Take back the documents from position `from` on that `add_run` added.
    fn undo_run(&mut self, docs: &[&RawDocument], first: u64, from: usize, progress: &RunProgress) {
        let mut scratch = KeyScratch::default();
        let mut staged = Vec::new();
        for (j, doc) in docs.iter().enumerate().take(progress.added).skip(from) {
            self.remove_document(doc, first + j as u64, &mut scratch, &mut staged);
        }
        if progress.made_multikey.is_some_and(|j| j >= from) {
            self.multikey = false;
        }
    }
}

/// Whether the dotted `field` and the path `parts` name the same field or one holds the other.
fn overlaps(field: &str, parts: &[String]) -> bool {
    let mut rest = field;
    for (n, part) in parts.iter().enumerate() {
        if n > 0 {
            match rest.strip_prefix('.') {
                Some(r) => rest = r,
                // The field ended before the path: it holds what the path changes.
                None => return rest.is_empty(),
            }
        }
        match rest.strip_prefix(part.as_str()) {
            Some(r) if r.is_empty() || r.starts_with('.') => rest = r,
            _ => return false,
        }
    }
    // The path ended: it is the field, or holds it.
    true
}

/// What `doc` contributes to each index of `list` (ordered entries appended to `out`).
fn contributions(
    list: &[Index],
    doc: &RawDocument,
    record: u64,
    scratch: &mut KeyScratch,
    out: &mut Vec<Entry>,
) -> Result<Contributions, Refusal> {
    list.iter().map(|i| i.contribution(doc, record, scratch, out).map_err(Refusal::Invalid)).collect()
}

/// E11000 if a unique index of `list` holds one of `doc`'s keys for another document
/// (indexes marked in `skip` are not checked: their entries are already in place).
fn check_unique(
    list: &[Index],
    doc: &RawDocument,
    record: u64,
    contributions: &[Contribution],
    entries: &[Entry],
    skip: &[bool],
) -> Result<(), Refusal> {
    for (k, (i, c)) in list.iter().zip(contributions).enumerate() {
        if skip.get(k).copied().unwrap_or(false) {
            continue;
        }
        if let Contribution::Keys { start, end, .. } = c {
            if let Some(e) = i.taken(&entries[*start..*end], record) {
                return Err(i.duplicate(doc, e));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::{doc, RawDocumentBuf};

    fn spec(d: Document) -> IndexSpec {
        IndexSpec::parse(&d).unwrap()
    }

    fn raw_docs(n: u64, f: impl Fn(u64) -> Document) -> Vec<(u64, RawDocumentBuf)> {
        (0..n).map(|i| (i * 3 + 1, RawDocumentBuf::try_from(&f(i)).unwrap())).collect()
    }

    fn refs(docs: &[(u64, RawDocumentBuf)]) -> Vec<(u64, &RawDocument)> {
        docs.iter().map(|(r, d)| (*r, d.as_ref())).collect()
    }

    fn refusal(r: Refusal) -> String {
        match r {
            Refusal::Duplicate(d) => format!("dup {} {} {}", d.index, d.key_pattern, d.key_value),
            Refusal::Invalid(e) => format!("invalid {} {}", e.code, e.message),
        }
    }

    fn user(i: u64) -> Document {
        let skills: Vec<Bson> = (0..(i % 5) + 1).map(|k| Bson::String(format!("s{}", (i * 7 + k * 3) % 23))).collect();
        let mut d = doc! {
            "_id": i as i64,
            "email": format!("user{}@x.org", (i * 7919) % 100_003),
            "city": (["a", "b", "c"][(i % 3) as usize]),
            "at": bson::DateTime::from_millis((i as i64 * 7_777) % 1_000_000),
            "skills": skills,
            "bio": format!("likes {} and {}", ["rust", "tea", "maps"][(i % 3) as usize], ["cats", "go"][(i % 2) as usize]),
        };
        if i.is_multiple_of(11) {
            d.remove("city");
        }
        if i.is_multiple_of(13) {
            d.insert("skills", Bson::Array(vec![]));
        }
        d
    }

    /// A parallel build gives exactly the entries, multikey flag and footprint of the
    /// one-thread build, and of inserting the documents one by one.
    #[test]
    fn parallel_build_equals_sequential_and_incremental() {
        let docs = raw_docs(50_000, user);
        let docs = refs(&docs);
        let specs = [
            doc! {"key": {"email": 1}, "name": "e", "unique": true},
            doc! {"key": {"city": 1, "at": -1}, "name": "c"},
            doc! {"key": {"skills": 1}, "name": "s"},
            doc! {"key": {"city": -1, "skills": 1}, "name": "cs", "sparse": true},
            doc! {"key": {"at": 1}, "name": "p", "partialFilterExpression": {"city": "b"}},
            doc! {"key": {"bio": "text"}, "name": "t"},
        ];
        for s in specs {
            let one = Index::build(spec(s.clone()), &docs, 1).unwrap();
            let mut incremental = Indexes::default();
            incremental.list.push(Index::build(spec(s.clone()), &[], 1).unwrap());
            for (r, d) in &docs {
                incremental.insert(d, *r).unwrap();
            }
            let inc = &incremental.list[0];
            for threads in [2, 3, 4, 8] {
                let par = Index::build(spec(s.clone()), &docs, threads).unwrap();
                assert_eq!(par.dump(), one.dump(), "{s} threads={threads}");
                assert_eq!((par.multikey, par.mem, par.len()), (one.multikey, one.mem, one.len()), "{s}");
            }
            assert_eq!(inc.dump(), one.dump(), "{s} incremental");
            assert_eq!((inc.multikey, inc.mem), (one.multikey, one.mem), "{s} incremental");
            if s.get_str("name").ok() == Some("s") {
                assert!(one.multikey && one.len() > docs.len() * 2, "multikey index on 1-5 skills");
            }
        }
    }

    /// Unique violations: the duplicate reported by a parallel build is the one the one-thread
    /// build reports (the smallest duplicated key, its second record), whether both documents
    /// are in one run or in different runs.
    #[test]
    fn parallel_build_reports_the_same_duplicate() {
        let n = 40_000;
        type MakeDoc<'a> = Box<dyn Fn(u64) -> Document + 'a>;
        let cases: Vec<(&str, MakeDoc<'_>)> = vec![
            // One duplicate between the first and the last document (different runs).
            ("across", Box::new(|i| doc! {"_id": i as i64, "k": if i == n - 1 { 0 } else { i as i64 }})),
            // A larger duplicated key inside the last run, a smaller one across runs.
            (
                "both",
                Box::new(|i| {
                    let k = match i {
                        30_001 => 30_000,
                        39_999 => 7,
                        _ => i as i64,
                    };
                    doc! {"_id": i as i64, "k": k}
                }),
            ),
            // Only inside one run.
            ("inside", Box::new(|i| doc! {"_id": i as i64, "k": if i == 20_001 { 20_000 } else { i as i64 }})),
            // Multikey: arrays sharing one element across runs.
            ("multikey", Box::new(|i| doc! {"_id": i as i64, "k": [i as i64 * 2, if i == 35_000 { 6 } else { i as i64 * 2 + 1 }]})),
        ];
        for (name, f) in cases {
            let docs = raw_docs(n, f);
            let docs = refs(&docs);
            let s = doc! {"key": {"k": 1}, "name": "k_1", "unique": true};
            let one = refusal(Index::build(spec(s.clone()), &docs, 1).err().unwrap());
            assert!(one.starts_with("dup k_1"), "{name}: {one}");
            for threads in [2, 4, 7] {
                let par = refusal(Index::build(spec(s.clone()), &docs, threads).err().unwrap());
                assert_eq!(par, one, "{name} threads={threads}");
            }
            // Through Indexes::build: nothing is added.
            let mut list = Indexes::default();
            assert!(list.build(spec(s), &docs).is_err());
            assert!(list.is_empty(), "{name}");
        }
        let docs = raw_docs(n, |i| doc! {"_id": i as i64, "k": i as i64});
        let one = Index::build(spec(doc! {"key": {"k": 1}, "name": "k_1", "unique": true}), &refs(&docs), 4).unwrap();
        assert_eq!(one.len(), n as usize);
    }

    /// A document that cannot be indexed fails the build with the first such document in
    /// natural order, on any number of threads.
    #[test]
    fn parallel_build_reports_the_first_invalid_document() {
        let docs = raw_docs(40_000, |i| {
            if i == 39_000 || i == 25_000 {
                doc! {"_id": i as i64, "a": [1, 2], "b": [i as i64, 4]}
            } else {
                doc! {"_id": i as i64, "a": 1, "b": i as i64}
            }
        });
        let docs = refs(&docs);
        let s = doc! {"key": {"a": 1, "b": 1}, "name": "ab"};
        let one = refusal(Index::build(spec(s.clone()), &docs, 1).err().unwrap());
        assert!(one.contains("parallel arrays"), "{one}");
        for threads in [2, 4] {
            assert_eq!(refusal(Index::build(spec(s.clone()), &docs, threads).err().unwrap()), one);
        }
    }

    #[test]
    fn overlapping_paths() {
        let p = |s: &str| s.split('.').map(str::to_string).collect::<Vec<_>>();
        for (field, path, want) in [
            ("a", "a", true),
            ("a", "a.b", true),
            ("a.b", "a", true),
            ("a.b", "a.b", true),
            ("a.b", "a.c", false),
            ("ab", "a", false),
            ("a", "ab", false),
            ("a.bc", "a.b", false),
            ("a.b", "a.bc", false),
            ("a.b.c", "a.b", true),
            ("x", "a.b", false),
        ] {
            assert_eq!(overlaps(field, &p(path)), want, "{field} vs {path}");
        }
    }

    /// Writes reuse the staging buffers: a refused write leaves them usable, and inserts,
    /// replacements and removals keep every index equal to a fresh build.
    #[test]
    fn staged_writes_match_a_fresh_build() {
        let mut list = Indexes::default();
        for s in [
            doc! {"key": {"email": 1}, "name": "e", "unique": true},
            doc! {"key": {"skills": 1, "city": -1}, "name": "sc"},
            doc! {"key": {"bio": "text"}, "name": "t"},
        ] {
            list.build(spec(s), &[]).unwrap();
        }
        let mut stored: BTreeMap<u64, RawDocumentBuf> = BTreeMap::new();
        for i in 0..2_000u64 {
            let d = RawDocumentBuf::try_from(&user(i)).unwrap();
            match list.insert(&d, i) {
                Ok(()) => {
                    stored.insert(i, d);
                }
                Err(Refusal::Duplicate(_)) => {}
                Err(e) => panic!("{}", refusal(e)),
            }
        }
        // A duplicate email is refused and changes nothing.
        let first_email = user(0).get_str("email").unwrap().to_string();
        let dup = RawDocumentBuf::try_from(&doc! {"_id": -1, "email": first_email, "skills": ["zz"]}).unwrap();
        assert!(matches!(list.insert(&dup, 9_999), Err(Refusal::Duplicate(_))));
        for r in (0..2_000u64).step_by(3) {
            if let Some(old) = stored.get(&r).cloned() {
                let new = RawDocumentBuf::try_from(&user(r + 5_000)).unwrap();
                if list.replace(&old, &new, r).is_ok() {
                    stored.insert(r, new);
                }
            }
        }
        // Changes to fields no index reads leave every index as it was (and are never refused);
        // a change of only the unique field is still checked against the other documents.
        for r in (1..2_000u64).step_by(5) {
            let Some(old) = stored.get(&r).cloned() else { continue };
            let mut d = super::super::collection::to_document(&old).unwrap();
            d.insert("logins", r as i64);
            let new = RawDocumentBuf::try_from(&d).unwrap();
            assert!(list.replace(&old, &new, r).is_ok(), "unindexed change of {r}");
            stored.insert(r, new.clone());
            let other = stored.range(..r).next_back().map(|(_, o)| o.get_str("email").unwrap().to_string());
            if let Some(taken) = other {
                d.insert("email", taken);
                let dup = RawDocumentBuf::try_from(&d).unwrap();
                assert!(matches!(list.replace(&new, &dup, r), Err(Refusal::Duplicate(_))), "duplicate email for {r}");
            }
        }
        for r in (0..2_000u64).step_by(7) {
            if let Some(old) = stored.remove(&r) {
                list.remove(&old, r);
            }
        }
        let docs: Vec<(u64, &RawDocument)> = stored.iter().map(|(r, d)| (*r, d.as_ref())).collect();
        for i in &list.list {
            let fresh = Index::build(i.spec.clone(), &docs, 2).unwrap();
            assert_eq!(i.dump(), fresh.dump(), "{}", i.spec.name);
            assert_eq!(i.mem, fresh.mem, "{}", i.spec.name);
        }
        assert!(list.staged.is_empty() && list.unstaged.is_empty());
    }
}
