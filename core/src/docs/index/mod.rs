//! Secondary indexes of a collection: their definitions (`IndexSpec`, parsed from
//! `createIndexes` and shown by `listIndexes`) and their entries, kept in step with the
//! documents by `Collection` (every insert, replace and remove goes through `Indexes`).
//!
//! Invariants:
//! - an ordered index holds exactly `keys::document_keys` of every document it covers (all of
//!   them, minus those a `partialFilterExpression` rejects or a sparse index skips), each entry
//!   once; a text index holds one entry per (term, document) with the document's term score;
//! - a unique index never holds two entries with equal components and different record ids:
//!   `check` runs before any index or document changes, so a rejected write changes nothing;
//! - `multikey` is set once any document gave a field several values or an array (it stays set,
//!   as in MongoDB): the planner then neither intersects range bounds nor sorts from the index;
//! - `mem` is the running footprint of the entries.
//!
//! The `_id` index is the collection's own `ids` map; it is listed as `_id_` but not stored here.

pub(crate) mod ddl;
pub mod keys;
pub mod plan;

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

use bson::{Bson, Document, RawDocument};

use self::keys::{document_keys, Entry, KeyField, INLINE_ENTRY};
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
    pub multikey: bool,
    mem: usize,
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
    let mut e = Entry::with_capacity(term.len() + 10);
    super::value::encode_str(term.as_bytes(), &mut e);
    e.extend_from_slice(&record.to_be_bytes());
    e
}

/// What one document contributes to an index.
enum Contribution {
    Keys(Vec<Entry>, bool),
    Text(Vec<(Entry, f64)>),
}

impl Index {
    fn contribution(&self, doc: &RawDocument, record: u64) -> Result<Contribution, DocError> {
        if let Some((_, f)) = &self.spec.partial {
            if !f.matches_raw(doc)? {
                return Ok(match self.spec.text {
                    Some(_) => Contribution::Text(Vec::new()),
                    None => Contribution::Keys(Vec::new(), false),
                });
            }
        }
        Ok(match &self.spec.text {
            Some(t) => Contribution::Text(t.terms(doc)?.into_iter().map(|(term, score)| (text_entry(&term, record), score)).collect()),
            None => {
                let k = document_keys(doc, record, &self.spec.fields, self.spec.sparse)?;
                Contribution::Keys(k.entries, k.multikey)
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
        for e in set.range::<[u8], _>((Bound::Included(components), Bound::Unbounded)) {
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

    fn add(&mut self, c: Contribution) {
        match (&mut self.store, c) {
            (Store::Keys(set), Contribution::Keys(entries, multikey)) => {
                self.multikey |= multikey;
                for e in entries {
                    let cost = entry_cost(e.len());
                    if set.insert(e) {
                        self.mem += cost;
                    }
                }
            }
            (Store::Text(map), Contribution::Text(entries)) => {
                for (e, score) in entries {
                    let cost = entry_cost(e.len()) + 8;
                    if map.insert(e, score).is_none() {
                        self.mem += cost;
                    }
                }
            }
            _ => {}
        }
    }

    fn take(&mut self, c: Contribution) {
        match (&mut self.store, c) {
            (Store::Keys(set), Contribution::Keys(entries, _)) => {
                for e in entries {
                    if set.remove(&e) {
                        self.mem -= entry_cost(e.len());
                    }
                }
            }
            (Store::Text(map), Contribution::Text(entries)) => {
                for (e, _) in entries {
                    if map.remove(&e).is_some() {
                        self.mem -= entry_cost(e.len()) + 8;
                    }
                }
            }
            _ => {}
        }
    }

    /// Bytes the entries take.
    pub fn mem_usage(&self) -> usize {
        self.mem
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
}

impl Indexes {
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

    /// Build an index over `docs` and add it; nothing changes on error (a unique violation is
    /// E11000 on the first duplicate found).
    pub fn build<'d>(&mut self, spec: IndexSpec, docs: impl Iterator<Item = (u64, &'d RawDocument)>) -> Result<(), Refusal> {
        self.list.push(Index::build(spec, docs)?);
        Ok(())
    }

    /// Build several indexes over the same documents, one thread each when the machine has
    /// cores to spare (snapshot loads rebuild every index of a collection); nothing is added
    /// unless all succeed.
    pub fn build_all<'d, I>(&mut self, specs: Vec<IndexSpec>, docs: impl Fn() -> I + Sync) -> Result<(), Refusal>
    where
        I: Iterator<Item = (u64, &'d RawDocument)>,
    {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let built: Vec<Result<Index, Refusal>> = if threads < 2 || specs.len() < 2 {
            specs.into_iter().map(|s| Index::build(s, docs())).collect()
        } else {
            let docs = &docs;
            std::thread::scope(|scope| {
                let handles: Vec<_> = specs.into_iter().map(|s| scope.spawn(move || Index::build(s, docs()))).collect();
                handles
                    .into_iter()
                    .map(|h| {
                        h.join().unwrap_or_else(|_| {
                            Err(Refusal::Invalid(DocError::new(codes::INTERNAL_ERROR, "InternalError", "an index build thread panicked")))
                        })
                    })
                    .collect()
            })
        };
        let built = built.into_iter().collect::<Result<Vec<_>, _>>()?;
        self.list.extend(built);
        Ok(())
    }
}

impl Index {
    /// Build an index over `docs` (bulk: collect every entry, sort, check uniqueness between
    /// neighbours, build the B-tree from sorted input).
    fn build<'d>(spec: IndexSpec, docs: impl Iterator<Item = (u64, &'d RawDocument)>) -> Result<Index, Refusal> {
        let mut index = Index {
            store: if spec.is_text() { Store::Text(BTreeMap::new()) } else { Store::Keys(BTreeSet::new()) },
            spec,
            multikey: false,
            mem: 0,
        };
        let mut all: Vec<Entry> = Vec::new();
        let mut text: Vec<(Entry, f64)> = Vec::new();
        let mut owners: Vec<(u64, &RawDocument)> = Vec::new();
        for (rid, doc) in docs {
            match index.contribution(doc, rid).map_err(Refusal::Invalid)? {
                Contribution::Keys(entries, multikey) => {
                    index.multikey |= multikey;
                    if index.spec.unique {
                        owners.push((rid, doc));
                    }
                    all.extend(entries);
                }
                Contribution::Text(entries) => text.extend(entries),
            }
        }
        all.sort_unstable();
        if index.spec.unique {
            let n = index.spec.fields.len();
            for w in all.windows(2) {
                let (a, b) = (&w[0][..w[0].len() - 8 - n], &w[1][..w[1].len() - 8 - n]);
                if a != b {
                    continue;
                }
                let (ra, rb) = (keys::record_of(&w[0], a.len()), keys::record_of(&w[1], b.len()));
                if ra == rb {
                    continue;
                }
                let owner = rb.and_then(|r| owners.binary_search_by_key(&r, |o| o.0).ok()).map(|at| owners[at].1);
                return Err(match owner {
                    Some(d) => index.duplicate(d, &w[1]),
                    None => Refusal::Invalid(DocError::new(codes::DUPLICATE_KEY, "DuplicateKey", "E11000 duplicate key error")),
                });
            }
        }
        all.dedup();
        index.mem =
            all.iter().map(|e| entry_cost(e.len())).sum::<usize>() + text.iter().map(|(e, _)| entry_cost(e.len()) + 8).sum::<usize>();
        match &mut index.store {
            Store::Keys(set) => *set = all.into_iter().collect(),
            Store::Text(map) => *map = text.into_iter().collect(),
        }
        Ok(index)
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
            i.mem = 0;
        }
    }

    fn contributions(&self, doc: &RawDocument, record: u64) -> Result<Vec<Contribution>, Refusal> {
        self.list.iter().map(|i| i.contribution(doc, record).map_err(Refusal::Invalid)).collect()
    }

    /// Add `doc` at `record` to every index, or change nothing and say why not.
    pub fn insert(&mut self, doc: &RawDocument, record: u64) -> Result<(), Refusal> {
        if self.list.is_empty() {
            return Ok(());
        }
        let contributions = self.contributions(doc, record)?;
        self.check_unique(doc, record, &contributions)?;
        for (i, c) in self.list.iter_mut().zip(contributions) {
            i.add(c);
        }
        Ok(())
    }

    fn check_unique(&self, doc: &RawDocument, record: u64, contributions: &[Contribution]) -> Result<(), Refusal> {
        for (i, c) in self.list.iter().zip(contributions) {
            if !i.spec.unique {
                continue;
            }
            if let Contribution::Keys(entries, _) = c {
                for e in entries {
                    if i.holder(i.components(e), record).is_some() {
                        return Err(i.duplicate(doc, e));
                    }
                }
            }
        }
        Ok(())
    }

    /// Move `record` from `old` to `new` in every index, or change nothing and say why not.
    pub fn replace(&mut self, old: &RawDocument, new: &RawDocument, record: u64) -> Result<(), Refusal> {
        if self.list.is_empty() {
            return Ok(());
        }
        let added = self.contributions(new, record)?;
        self.check_unique(new, record, &added)?;
        let removed = self.contributions(old, record)?;
        for ((i, r), a) in self.list.iter_mut().zip(removed).zip(added) {
            i.take(r);
            i.add(a);
        }
        Ok(())
    }

    /// Remove `doc` at `record` from every index.
    pub fn remove(&mut self, doc: &RawDocument, record: u64) {
        for i in &mut self.list {
            if let Ok(c) = i.contribution(doc, record) {
                i.take(c);
            }
        }
    }
}
