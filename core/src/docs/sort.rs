//! Sort specifications (`{a: 1, "b.c": -1, score: {$meta: "textScore"}}`): parsing, the
//! per-document sort key, key comparison, and sorting helpers (a full stable sort and a
//! bounded top-k for sort + limit).
//!
//! Semantics (MongoDB's "Sort" / "Comparison/Sort Order" pages):
//! - Values compare in MongoDB's cross-type order (`value::compare`); a missing field sorts
//!   as null.
//! - A path that resolves to an array, or goes through arrays (`"orders.amount"`), yields
//!   every value it reaches (arrays at the end of the path are expanded one level); the key is
//!   the smallest of them for an ascending field and the largest for a descending one. An
//!   array element that is not a document, or a document without the next field, yields null.
//!   Keys are generated as MongoDB's index keys are: fields through the same array take their
//!   values from the same element and the smallest key tuple (in this sort's order) wins;
//!   two fields through different arrays are "parallel arrays", error 2 (`try_key`).
//! - `{$natural: 1 | -1}` (alone) is the input order or its reverse.
//! - An empty array at the end of the path sorts as `undefined`: below null and missing, in
//!   both directions (so `{a: []}` is first ascending and last descending). Undefined values
//!   stored in documents sort there too (MongoDB's canonical type order puts undefined below
//!   null for sorting).
//! - `{$meta: "textScore"}` is a meta key: scores come with the text index; until then every
//!   document's score is null. Meta keys always sort descending.
//!
//! Invariants: a `Sort` has at least one key when parsed from a non-empty spec; `key` returns
//! exactly one value per sort field, and `compare_keys` allocates nothing.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use bson::{Bson, Document};

use super::value;
use super::DocError;

/// How one sort field orders documents.
#[derive(Clone, Debug, PartialEq)]
pub enum SortKind {
    /// A field path (split at its dots), ascending when `ascending` is true.
    Field { path: Vec<String>, ascending: bool },
    /// `{$natural: 1}` / `{$natural: -1}`: the collection's order (insertion order), or its
    /// reverse. Only alone in a specification; `sort_documents` and `top_k` honour it, and
    /// `natural` tells callers that order their own input.
    Natural { ascending: bool },
    /// `{$meta: "textScore"}` (descending; null until text scores exist).
    TextScore,
}

/// One field of a sort specification.
#[derive(Clone, Debug, PartialEq)]
pub struct SortField {
    /// The field name as written in the specification.
    pub name: String,
    pub kind: SortKind,
}

/// A parsed sort specification (`{a: 1, "b.c": -1}`).
#[derive(Clone, Debug)]
pub struct Sort {
    fields: Vec<SortField>,
}

static NULL: Bson = Bson::Null;
static UNDEFINED: Bson = Bson::Undefined;

impl Sort {
    /// Parse a sort specification. Directions are 1 or -1 (any numeric type holding exactly
    /// that value); `{$meta: "textScore"}` is a meta key. An empty spec sorts nothing (every
    /// key is empty, so the input order is kept).
    pub fn parse(spec: &Document) -> Result<Sort, DocError> {
        let mut fields = Vec::with_capacity(spec.len());
        for (name, direction) in spec {
            let kind = match direction {
                Bson::Document(meta) => parse_meta(meta)?,
                _ => {
                    let ascending = match direction {
                        Bson::Int32(_) | Bson::Int64(_) | Bson::Double(_) | Bson::Decimal128(_) => match value::as_f64(direction) {
                            Some(1.0) => true,
                            Some(-1.0) => false,
                            _ => {
                                return Err(DocError::location(
                                    15975,
                                    "$sort key ordering must be 1 (for ascending) or -1 (for descending)",
                                ));
                            }
                        },
                        _ => {
                            return Err(DocError::location(
                                15974,
                                format!("Illegal key in $sort specification: {name}: {}", printable(direction)),
                            ));
                        }
                    };
                    if name == "$natural" {
                        SortKind::Natural { ascending }
                    } else {
                        check_path(name)?;
                        SortKind::Field { path: name.split('.').map(str::to_string).collect(), ascending }
                    }
                }
            };
            fields.push(SortField { name: name.clone(), kind });
        }
        if fields.len() > 1 && fields.iter().any(|f| matches!(f.kind, SortKind::Natural { .. })) {
            return Err(DocError::bad_value("$natural sort cannot be set with other sort fields"));
        }
        Ok(Sort { fields })
    }

    /// `Some(ascending)` for a `{$natural: 1 | -1}` sort: the caller's input order, or its
    /// reverse (keys are all equal, so `compare_keys` alone keeps the input order).
    pub fn natural(&self) -> Option<bool> {
        match self.fields.first().map(|f| &f.kind) {
            Some(SortKind::Natural { ascending }) => Some(*ascending),
            _ => None,
        }
    }

    /// The parsed fields, in specification order.
    pub fn fields(&self) -> &[SortField] {
        &self.fields
    }

    /// Whether the specification was empty (sorting keeps the input order).
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Whether a sort field is `{$meta: "textScore"}`.
    pub fn needs_text_score(&self) -> bool {
        self.fields.iter().any(|f| f.kind == SortKind::TextScore)
    }

    /// The sort key of `doc` (one value per sort field; arrays give their min (ascending) or
    /// max (descending) element, missing is null, an empty array is undefined), computed once
    /// per document. Documents MongoDB refuses to sort (parallel arrays, see `try_key`) get
    /// each field's own min/max: for the sorts inside expressions and accumulators
    /// (`$sortArray`, `$top`/`$bottom`, window `sortBy`). Finds, aggregation `$sort`, and sorted
    /// updates and deletes use `try_key` and fail with error 2 there, as MongoDB does.
    pub fn key(&self, doc: &Document) -> Vec<Bson> {
        self.try_key(doc).unwrap_or_else(|_| self.independent_key(doc))
    }

    /// The sort key of `doc` as MongoDB computes it: the smallest (in this sort's order) of
    /// the key tuples the document yields, where fields through the same array take their
    /// values from the same element (`{"a.x": 1, "a.y": 1}` pairs each element's x and y).
    /// Error 2 when two sort fields go through different arrays ("parallel arrays").
    pub fn try_key(&self, doc: &Document) -> Result<Vec<Bson>, DocError> {
        let mut fixed: Vec<&Bson> = vec![&NULL; self.fields.len()];
        let pending: Vec<(usize, &[String])> = self
            .fields
            .iter()
            .enumerate()
            .filter_map(|(i, f)| match &f.kind {
                SortKind::Field { path, .. } => Some((i, path.as_slice())),
                _ => None,
            })
            .collect();
        let mut best: Option<Vec<&Bson>> = None;
        self.generate(Some(doc), &pending, &mut fixed, &mut best, 0)?;
        let mut key: Vec<Bson> = best.unwrap_or(fixed).into_iter().cloned().collect();
        // A text score travels in the document (aggregation) as hidden metadata.
        for (k, f) in key.iter_mut().zip(&self.fields) {
            if f.kind == SortKind::TextScore {
                if let Some(score) = doc.get(super::expr::TEXT_SCORE_FIELD) {
                    *k = score.clone();
                }
            }
        }
        Ok(key)
    }

    /// MongoDB's key generation (`BtreeKeyGenerator`): resolve every pending field in `obj`
    /// up to the first array on its path; fields that reach no array are fixed; the fields
    /// reaching the (single) array are expanded element by element, recursively.
    fn generate<'d>(
        &self,
        obj: Option<&'d Document>,
        pending: &[(usize, &[String])],
        fixed: &mut Vec<&'d Bson>,
        best: &mut Option<Vec<&'d Bson>>,
        depth: usize,
    ) -> Result<(), DocError> {
        if depth > MAX_KEY_DEPTH {
            return Err(DocError::bad_value("sort key path is nested too deeply"));
        }
        let mut array: Option<&'d Vec<Bson>> = None;
        let mut through_array: Vec<(usize, &[String])> = Vec::new();
        for &(i, parts) in pending {
            match obj.map_or(Walk::Missing, |o| walk(o, parts)) {
                Walk::Missing => fixed[i] = &NULL,
                Walk::Value(v) => fixed[i] = v,
                Walk::Array(items, rest) => {
                    if array.is_some_and(|a| !std::ptr::eq(a, items)) {
                        return Err(DocError::bad_value("cannot sort with keys that are parallel arrays"));
                    }
                    array = Some(items);
                    through_array.push((i, rest));
                }
            }
        }
        let Some(items) = array else {
            let better = match best {
                None => true,
                Some(b) => self.compare_key_refs(fixed, b) == Ordering::Less,
            };
            if better {
                *best = Some(fixed.clone());
            }
            return Ok(());
        };
        if items.is_empty() {
            // An empty array is undefined at the end of a path and a dead end (null) before it.
            for &(i, rest) in &through_array {
                fixed[i] = if rest.is_empty() { &UNDEFINED } else { &NULL };
            }
            return self.generate(obj, &[], fixed, best, depth + 1);
        }
        let mut next: Vec<(usize, &[String])> = Vec::with_capacity(through_array.len());
        for element in items {
            next.clear();
            for &(i, rest) in &through_array {
                if rest.is_empty() {
                    fixed[i] = element;
                } else {
                    next.push((i, rest));
                }
            }
            let element_doc = match element {
                Bson::Document(d) => Some(d),
                _ => None,
            };
            self.generate(element_doc, &next, fixed, best, depth + 1)?;
        }
        Ok(())
    }

    /// `compare_keys` over borrowed values.
    fn compare_key_refs(&self, a: &[&Bson], b: &[&Bson]) -> Ordering {
        for ((field, x), y) in self.fields.iter().zip(a).zip(b) {
            let o = compare_sort_values(x, y);
            let o = match field.kind {
                SortKind::Field { ascending: true, .. } | SortKind::Natural { .. } => o,
                SortKind::Field { ascending: false, .. } | SortKind::TextScore => o.reverse(),
            };
            if o != Ordering::Equal {
                return o;
            }
        }
        Ordering::Equal
    }

    /// Each field's own min (ascending) / max (descending) over every value its path reaches.
    fn independent_key(&self, doc: &Document) -> Vec<Bson> {
        self.fields
            .iter()
            .map(|f| match &f.kind {
                SortKind::TextScore => doc.get(super::expr::TEXT_SCORE_FIELD).cloned().unwrap_or(Bson::Null),
                SortKind::Natural { .. } => Bson::Null,
                SortKind::Field { path, ascending } => {
                    let mut best: Option<&Bson> = None;
                    visit_document(doc, path, &mut |v| {
                        let better = match best {
                            None => true,
                            Some(b) => {
                                let o = compare_sort_values(v, b);
                                if *ascending {
                                    o == Ordering::Less
                                } else {
                                    o == Ordering::Greater
                                }
                            }
                        };
                        if better {
                            best = Some(v);
                        }
                    });
                    best.unwrap_or(&NULL).clone()
                }
            })
            .collect()
    }

    /// Compare two keys made by `key` (allocation-free).
    pub fn compare_keys(&self, a: &[Bson], b: &[Bson]) -> Ordering {
        for ((field, x), y) in self.fields.iter().zip(a).zip(b) {
            let o = compare_sort_values(x, y);
            let o = match field.kind {
                SortKind::Field { ascending: true, .. } | SortKind::Natural { .. } => o,
                SortKind::Field { ascending: false, .. } | SortKind::TextScore => o.reverse(),
            };
            if o != Ordering::Equal {
                return o;
            }
        }
        Ordering::Equal
    }

    /// Compare two documents (computes both keys; prefer `key` + `compare_keys` for many).
    pub fn compare_documents(&self, a: &Document, b: &Document) -> Ordering {
        self.compare_keys(&self.key(a), &self.key(b))
    }

    /// Sort `docs` in place, stably (equal keys keep their input order); keys are computed
    /// once per document (`try_key`: parallel arrays are an error, as in MongoDB).
    pub fn sort_documents(&self, docs: &mut Vec<Document>) -> Result<(), DocError> {
        if self.natural() == Some(false) {
            docs.reverse();
        }
        if self.fields.is_empty() || self.natural().is_some() {
            return Ok(());
        }
        let keys = docs.iter().map(|d| self.try_key(d)).collect::<Result<Vec<_>, _>>()?;
        let mut keyed: Vec<(Vec<Bson>, Document)> = keys.into_iter().zip(docs.drain(..)).collect();
        keyed.sort_by(|a, b| self.compare_keys(&a.0, &b.0));
        docs.extend(keyed.into_iter().map(|(_, d)| d));
        Ok(())
    }

    /// The first `k` documents of `docs` in sort order (sort + limit), stable: among equal
    /// keys the earlier input document comes first. Memory is bounded by `k` (a binary heap
    /// of the best `k` seen so far).
    pub fn top_k(&self, docs: impl IntoIterator<Item = Document>, k: usize) -> Result<Vec<Document>, DocError> {
        if let Some(ascending) = self.natural() {
            let mut docs: Vec<Document> = docs.into_iter().collect();
            if !ascending {
                docs.reverse();
            }
            docs.truncate(k);
            return Ok(docs);
        }
        let mut heap: BinaryHeap<HeapEntry<'_>> = BinaryHeap::new();
        for (seq, doc) in docs.into_iter().enumerate() {
            // Every document's key is computed (a parallel-array error anywhere fails the sort).
            let entry = HeapEntry { sort: self, key: self.try_key(&doc)?, seq, doc };
            if k == 0 {
                continue;
            }
            if heap.len() < k {
                heap.push(entry);
            } else if let Some(mut worst) = heap.peek_mut() {
                if entry < *worst {
                    *worst = entry;
                }
            }
        }
        Ok(heap.into_sorted_vec().into_iter().map(|e| e.doc).collect())
    }
}

/// `{$meta: "textScore"}` is the meta sort a find knows; other objects are errors.
fn parse_meta(meta: &Document) -> Result<SortKind, DocError> {
    if meta.keys().next().map(String::as_str) != Some("$meta") {
        return Err(DocError::location(17312, "$meta is the only expression supported by $sort right now"));
    }
    if meta.len() != 1 {
        return Err(DocError::failed_to_parse("Cannot have additional keys in a $meta sort specification"));
    }
    match meta.get("$meta") {
        Some(Bson::String(s)) if s == "textScore" => Ok(SortKind::TextScore),
        Some(v) => Err(DocError::location(31138, format!("Illegal $meta sort: $meta: {}", printable(v)))),
        None => Err(DocError::location(31138, "Illegal $meta sort")),
    }
}

/// `v` as MongoDB prints it in messages, or its type name when it nests too deeply to print
/// safely (hostile input must not overflow the stack through `Display`).
fn printable(v: &Bson) -> String {
    fn shallow(v: &Bson, budget: usize) -> bool {
        match v {
            Bson::Document(d) => budget > 0 && d.values().all(|x| shallow(x, budget - 1)),
            Bson::Array(a) => budget > 0 && a.iter().all(|x| shallow(x, budget - 1)),
            _ => true,
        }
    }
    if shallow(v, 16) {
        v.to_string()
    } else {
        value::type_name(v).to_string()
    }
}

/// Field-path rules MongoDB applies to sort fields.
fn check_path(path: &str) -> Result<(), DocError> {
    if path.is_empty() {
        return Err(DocError::location(40352, "FieldPath cannot be constructed with empty string"));
    }
    for part in path.split('.') {
        if part.is_empty() {
            return Err(DocError::location(15998, "FieldPath field names may not be empty strings."));
        }
        if part.starts_with('$') {
            return Err(DocError::location(
                16410,
                format!("FieldPath field names may not start with '$'. Consider using $getField or $setField. (in \"{path}\")"),
            ));
        }
    }
    Ok(())
}

/// MongoDB's order for sort-key values: `value::compare`, except that undefined (an empty
/// array's key) sorts below null.
pub fn compare_sort_values(a: &Bson, b: &Bson) -> Ordering {
    match (a, b) {
        (Bson::Undefined, Bson::Undefined) => Ordering::Equal,
        (Bson::Undefined, Bson::MinKey) => Ordering::Greater,
        (Bson::Undefined, _) => Ordering::Less,
        (Bson::MinKey, Bson::Undefined) => Ordering::Less,
        (_, Bson::Undefined) => Ordering::Greater,
        _ => value::compare(a, b),
    }
}

/// The deepest recursion of key generation (nested arrays along a path).
const MAX_KEY_DEPTH: usize = 200;

/// Where a path leads in a document, up to the first array on it.
enum Walk<'d, 'p> {
    Missing,
    Value(&'d Bson),
    /// An array, and the rest of the path after it (empty: the path ends at the array).
    Array(&'d Vec<Bson>, &'p [String]),
}

/// Follow `parts` through embedded documents (and numeric indexes into arrays, `"a.0.b"`)
/// until the path ends or reaches an array to expand.
fn walk<'d, 'p>(doc: &'d Document, parts: &'p [String]) -> Walk<'d, 'p> {
    let Some(first) = parts.first() else {
        return Walk::Missing;
    };
    let Some(mut cur) = doc.get(first) else {
        return Walk::Missing;
    };
    let mut i = 1;
    loop {
        if let Bson::Array(items) = cur {
            match parts.get(i).and_then(|p| p.parse::<usize>().ok()).and_then(|n| items.get(n)) {
                Some(e) => {
                    cur = e;
                    i += 1;
                    continue;
                }
                None => return Walk::Array(items, &parts[i..]),
            }
        }
        let Some(part) = parts.get(i) else {
            return Walk::Value(cur);
        };
        match cur {
            Bson::Document(d) => match d.get(part) {
                Some(v) => {
                    cur = v;
                    i += 1;
                }
                None => return Walk::Missing,
            },
            _ => return Walk::Missing,
        }
    }
}

/// Call `f` with every value `parts` reaches from `doc` (null for a dead end).
fn visit_document<'a>(doc: &'a Document, parts: &[String], f: &mut impl FnMut(&'a Bson)) {
    let Some(first) = parts.first() else {
        return f(&NULL);
    };
    match doc.get(first) {
        Some(v) => visit_value(v, &parts[1..], f),
        None => f(&NULL),
    }
}

fn visit_value<'a>(v: &'a Bson, parts: &[String], f: &mut impl FnMut(&'a Bson)) {
    if parts.is_empty() {
        match v {
            Bson::Array(items) if items.is_empty() => f(&UNDEFINED),
            Bson::Array(items) => items.iter().for_each(&mut *f),
            _ => f(v),
        }
        return;
    }
    match v {
        Bson::Document(d) => visit_document(d, parts, f),
        Bson::Array(items) => {
            // A numeric component indexes the array ("a.0.b"); otherwise each element is
            // searched (documents continue the path, other elements are dead ends).
            if let Ok(i) = parts[0].parse::<usize>() {
                match items.get(i) {
                    Some(e) => visit_value(e, &parts[1..], f),
                    None => f(&NULL),
                }
            } else if items.is_empty() {
                f(&NULL);
            } else {
                for e in items {
                    match e {
                        Bson::Document(d) => visit_document(d, parts, f),
                        _ => f(&NULL),
                    }
                }
            }
        }
        _ => f(&NULL),
    }
}

/// A heap entry of `top_k`: ordered by key, then input position (so the heap's maximum is the
/// entry to evict, and ties keep input order).
struct HeapEntry<'s> {
    sort: &'s Sort,
    key: Vec<Bson>,
    seq: usize,
    doc: Document,
}

impl PartialEq for HeapEntry<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for HeapEntry<'_> {}

impl PartialOrd for HeapEntry<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for HeapEntry<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.sort.compare_keys(&self.key, &other.key).then(self.seq.cmp(&other.seq))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    fn sorted(spec: Document, docs: Vec<Document>) -> Vec<Bson> {
        let sort = Sort::parse(&spec).unwrap();
        let mut docs = docs;
        sort.sort_documents(&mut docs).unwrap();
        docs.iter().map(|d| d.get("_id").cloned().unwrap_or(Bson::Null)).collect()
    }

    fn ids(v: &[i32]) -> Vec<Bson> {
        v.iter().map(|i| Bson::Int32(*i)).collect()
    }

    /// The manual's restaurants example ("Sort Consistency"): sort on borough alone is not
    /// unique; adding _id makes it so.
    fn restaurants() -> Vec<Document> {
        vec![
            doc! {"_id": 1, "name": "Central Park Cafe", "borough": "Manhattan"},
            doc! {"_id": 2, "name": "Rock A Feller Bar and Grill", "borough": "Queens"},
            doc! {"_id": 3, "name": "Empire State Pub", "borough": "Brooklyn"},
            doc! {"_id": 4, "name": "Stan's Pizzaria", "borough": "Manhattan"},
            doc! {"_id": 5, "name": "Jane's Deli", "borough": "Brooklyn"},
        ]
    }

    #[test]
    fn compound_sort_with_unique_tiebreak() {
        assert_eq!(sorted(doc! {"borough": 1, "_id": 1}, restaurants()), ids(&[3, 5, 1, 4, 2]));
        assert_eq!(sorted(doc! {"borough": -1, "_id": 1}, restaurants()), ids(&[2, 1, 4, 3, 5]));
        assert_eq!(sorted(doc! {"borough": 1, "_id": -1}, restaurants()), ids(&[5, 3, 4, 1, 2]));
    }

    #[test]
    fn stable_for_equal_keys() {
        assert_eq!(sorted(doc! {"borough": 1}, restaurants()), ids(&[3, 5, 1, 4, 2]));
        assert_eq!(sorted(doc! {}, restaurants()), ids(&[1, 2, 3, 4, 5]));
    }

    #[test]
    fn mixed_types_follow_bson_order_and_missing_is_null() {
        let docs = vec![
            doc! {"_id": 1, "v": "a"},
            doc! {"_id": 2, "v": 5},
            doc! {"_id": 3},
            doc! {"_id": 4, "v": {"x": 1}},
            doc! {"_id": 5, "v": true},
            doc! {"_id": 6, "v": Bson::Null},
            doc! {"_id": 7, "v": 2.5},
            doc! {"_id": 8, "v": Bson::MinKey},
        ];
        assert_eq!(sorted(doc! {"v": 1}, docs.clone()), ids(&[8, 3, 6, 7, 2, 1, 4, 5]));
        assert_eq!(sorted(doc! {"v": -1}, docs), ids(&[5, 4, 1, 2, 7, 3, 6, 8]));
    }

    #[test]
    fn arrays_sort_by_min_ascending_and_max_descending() {
        // The documented example: {a: []} first ascending, last descending; [0, 1] before 1.
        let docs = vec![
            doc! {"_id": 1},
            doc! {"_id": 2, "a": 1},
            doc! {"_id": 3, "a": []},
            doc! {"_id": 4, "a": [1]},
            doc! {"_id": 5, "a": [0, 1]},
        ];
        assert_eq!(sorted(doc! {"a": 1}, docs.clone()), ids(&[3, 1, 5, 2, 4]));
        assert_eq!(sorted(doc! {"a": -1}, docs), ids(&[2, 4, 5, 1, 3]));
    }

    #[test]
    fn paths_through_arrays_of_documents() {
        let docs = vec![
            doc! {"_id": 1, "orders": [{"amount": 5}, {"amount": 40}]},
            doc! {"_id": 2, "orders": [{"amount": 10}, {"amount": 20}]},
            doc! {"_id": 3, "orders": {"amount": 7}},
            doc! {"_id": 4, "orders": [{"amount": [1, 100]}]},
        ];
        assert_eq!(sorted(doc! {"orders.amount": 1}, docs.clone()), ids(&[4, 1, 3, 2]));
        assert_eq!(sorted(doc! {"orders.amount": -1}, docs), ids(&[4, 1, 2, 3]));
        let s = Sort::parse(&doc! {"a.b": 1}).unwrap();
        assert_eq!(s.key(&doc! {"a": [{"b": 3}, {"c": 1}]}), vec![Bson::Null]);
        assert_eq!(s.key(&doc! {"a": [{"b": 3}, 7]}), vec![Bson::Null]);
        let s = Sort::parse(&doc! {"a.1.b": -1}).unwrap();
        assert_eq!(s.key(&doc! {"a": [{"b": 3}, {"b": 9}]}), vec![Bson::Int32(9)]);
    }

    #[test]
    fn fields_through_one_array_pair_up_by_element() {
        // Key tuples are (1, 5) and (2, 0): the smallest is (1, 5), not (1, 0).
        let s = Sort::parse(&doc! {"a.x": 1, "a.y": 1}).unwrap();
        let d = doc! {"a": [{"x": 1, "y": 5}, {"x": 2, "y": 0}]};
        assert_eq!(s.try_key(&d).unwrap(), vec![Bson::Int32(1), Bson::Int32(5)]);
        let s = Sort::parse(&doc! {"a.x": -1, "a.y": 1}).unwrap();
        assert_eq!(s.try_key(&d).unwrap(), vec![Bson::Int32(2), Bson::Int32(0)]);
        // An array field with scalar fields beside it.
        let s = Sort::parse(&doc! {"b": 1, "a.y": -1}).unwrap();
        assert_eq!(s.try_key(&doc! {"b": 3, "a": [{"y": 1}, {"y": 4}, {}]}).unwrap(), vec![Bson::Int32(3), Bson::Int32(4)]);
    }

    #[test]
    fn parallel_arrays_cannot_be_sorted() {
        let s = Sort::parse(&doc! {"a": 1, "b": 1}).unwrap();
        let d = doc! {"_id": 1, "a": [1, 2], "b": [3, 4]};
        let e = s.try_key(&d).unwrap_err();
        assert_eq!((e.code, e.message.as_str()), (2, "cannot sort with keys that are parallel arrays"));
        assert!(s.sort_documents(&mut vec![d.clone(), doc! {"_id": 2}]).is_err());
        assert!(s.top_k(vec![d.clone()], 1).is_err());
        // `key` falls back to each field's own minimum.
        assert_eq!(s.key(&d), vec![Bson::Int32(1), Bson::Int32(3)]);
        // One array and a scalar are fine.
        assert!(s.try_key(&doc! {"a": [1, 2], "b": 3}).is_ok());
    }

    #[test]
    fn nested_arrays_expand_one_level() {
        let s = Sort::parse(&doc! {"a": 1}).unwrap();
        // Elements are [1, 2] and 3; a number is below an array.
        assert_eq!(s.key(&doc! {"a": [[1, 2], 3]}), vec![Bson::Int32(3)]);
    }

    #[test]
    fn numeric_types_compare_by_value() {
        let docs = vec![doc! {"_id": 1, "n": 2.5}, doc! {"_id": 2, "n": 2_i64}, doc! {"_id": 3, "n": 3}, doc! {"_id": 4, "n": -1.0}];
        assert_eq!(sorted(doc! {"n": 1}, docs), ids(&[4, 2, 1, 3]));
    }

    #[test]
    fn directions_accept_numeric_one_and_minus_one() {
        assert!(Sort::parse(&doc! {"a": 1.0, "b": -1_i64}).is_ok());
        for bad in [doc! {"a": 2}, doc! {"a": 0}, doc! {"a": 0.5}, doc! {"a": f64::NAN}] {
            let e = Sort::parse(&bad).unwrap_err();
            assert_eq!(e.code, 15975, "{bad:?}");
            assert_eq!(e.message, "$sort key ordering must be 1 (for ascending) or -1 (for descending)");
        }
    }

    #[test]
    fn bad_paths_are_errors() {
        assert_eq!(Sort::parse(&doc! {"": 1}).unwrap_err().code, 40352);
        assert_eq!(Sort::parse(&doc! {"a..b": 1}).unwrap_err().code, 15998);
        assert_eq!(Sort::parse(&doc! {"a.": 1}).unwrap_err().code, 15998);
        assert_eq!(Sort::parse(&doc! {"$a": 1}).unwrap_err().code, 16410);
        assert_eq!(Sort::parse(&doc! {"a": "asc"}).unwrap_err().code, 15974);
        assert_eq!(Sort::parse(&doc! {"a": true}).unwrap_err().code, 15974);
        assert_eq!(Sort::parse(&doc! {"a": {"x": 1}}).unwrap_err().code, 17312);
        assert_eq!(Sort::parse(&doc! {"a": {"$meta": "nope"}}).unwrap_err().code, 31138);
        let mut deep = Bson::Int32(1);
        for _ in 0..500 {
            deep = Bson::Array(vec![deep]);
        }
        assert_eq!(Sort::parse(&doc! {"a": deep.clone()}).unwrap_err().message, "Illegal key in $sort specification: a: array");
        assert_eq!(Sort::parse(&doc! {"a": {"$meta": deep}}).unwrap_err().code, 31138);
        assert!(Sort::parse(&doc! {"$natural": 1, "a": 1}).is_err());
        assert_eq!(Sort::parse(&doc! {"a": {"$meta": "textScore", "x": 1}}).unwrap_err().code, 9);
        assert_eq!(Sort::parse(&doc! {"a": "asc"}).unwrap_err().message, "Illegal key in $sort specification: a: \"asc\"");
    }

    #[test]
    fn text_score_meta_is_valid_and_null_for_now() {
        let s = Sort::parse(&doc! {"score": {"$meta": "textScore"}, "_id": 1}).unwrap();
        assert!(s.needs_text_score());
        assert_eq!(s.key(&doc! {"_id": 3}), vec![Bson::Null, Bson::Int32(3)]);
    }

    #[test]
    fn natural_order_and_its_reverse() {
        assert_eq!(sorted(doc! {"$natural": 1}, restaurants()), ids(&[1, 2, 3, 4, 5]));
        assert_eq!(sorted(doc! {"$natural": -1}, restaurants()), ids(&[5, 4, 3, 2, 1]));
        let s = Sort::parse(&doc! {"$natural": -1}).unwrap();
        assert_eq!(s.natural(), Some(false));
        assert_eq!(s.top_k(restaurants(), 2).unwrap().iter().map(|d| d.get("_id").cloned().unwrap()).collect::<Vec<_>>(), ids(&[5, 4]));
    }

    #[test]
    fn top_k_is_stable_and_bounded() {
        let docs: Vec<Document> = (0..50).map(|i| doc! {"_id": i, "g": i % 5}).collect();
        let s = Sort::parse(&doc! {"g": -1}).unwrap();
        let top = s.top_k(docs.clone(), 4).unwrap();
        let got: Vec<Bson> = top.iter().map(|d| d.get("_id").cloned().unwrap()).collect();
        assert_eq!(got, ids(&[4, 9, 14, 19]));
        let mut all = docs.clone();
        s.sort_documents(&mut all).unwrap();
        assert_eq!(s.top_k(docs.clone(), 100).unwrap(), all);
        assert!(s.top_k(docs, 0).unwrap().is_empty());
    }
}
