//! The query planner and executor: chooses how a find (count, distinct, update, delete,
//! aggregate's leading `$match`/`$sort`) reads a collection, runs it, and explains it.
//!
//! Plans, in MongoDB's stage names:
//! - `COLLSCAN`: every document in natural order (or reverse), filtered;
//! - `IXSCAN` + `FETCH`: ranges of one index (the `_id` index included), built from the
//!   filter's top-level equality, `$in`, range, `$regex` and null predicates on the index's
//!   fields (equality-prefix fields become one range per point combination; fields after the
//!   first non-point field are checked on each key); each record fetched once and filtered
//!   with the whole query;
//! - `OR`: a top-level `$or` whose every branch has an index, the union of their records;
//! - `TEXT_MATCH`: `$text` through the text index;
//! - then `SORT` (unless the index scan already yields the sort order), `SKIP`, `LIMIT` and
//!   `PROJECTION_*` (`PROJECTION_COVERED` when the index holds every value needed).
//!
//! Find's `min`/`max` (`KeyRange`, hinted index only) narrow the chosen scan's byte ranges to
//! `[min, max)` of the whole key; `returnKey` reads back the key a record was found under
//! (`Planned::index_key`); `showRecordId` asks for records (no covered plan).
//!
//! Soundness rests on two rules: bounds are a superset of what the predicates match (the key
//! module indexes every value the matcher compares with), and every fetched document is
//! re-checked against the whole filter. So an indexed answer is the collection-scan answer.
//! Order is made identical too: when the index gives the sort, records with equal sort values
//! come out in record-id order, which is the order a stable in-memory sort of a natural-order
//! scan gives.
//!
//! Choosing: with several candidate plans, each runs a trial (as MongoDB's multi-planner
//! does) until it produces a batch, reaches the end, or spends its work budget; the most
//! productive plan (results per unit of work, a bonus for finishing and for not needing an
//! in-memory sort) wins and runs to completion. The losers are the explain's `rejectedPlans`.

use std::cmp::Ordering;
use std::collections::HashSet;
use std::ops::Bound;
use std::time::Instant;

use bson::{doc, Bson, Document, RawDocument};

use super::super::collection::{to_document, Collection};
use super::super::error::codes;
use super::super::projection::Projection;
use super::super::query::{for_each_path_value, CmpOp, Filter, Node, PathValue, Pred};
use super::super::sort::{Sort, SortKind};
use super::super::text::TextQuery;
use super::super::value::{self, encode_key, type_rank};
use super::super::DocError;
use super::keys::{self, component_len, decode_component, KeyField};
use super::Index;

// --- Point lookups ---------------------------------------------------------------------------

/// The first record (in index order) matching a filter that is one equality to a scalar on the
/// leading field of a usable index, read straight from that index without planning: the plan
/// the planner would build scans the same single range (`[key, successor(key))`) and re-checks
/// each fetched document, as this does. None when the filter or the indexes have another shape
/// (the caller plans as usual).
pub fn first_by_point(coll: &Collection, filter: &Filter) -> Option<Result<Option<u64>, DocError>> {
    let (path, v) = filter.scalar_equality()?;
    if path == "_id" {
        return None;
    }
    // A unique index first (one entry per value), then the shortest key.
    let index = coll
        .indexes()
        .iter()
        .filter(|i| {
            !i.spec.is_text() && !i.spec.hidden && i.spec.partial.is_none() && i.spec.fields.first().is_some_and(|f| f.path.dotted == path)
        })
        .min_by_key(|i| (!i.spec.unique, i.spec.fields.len()))?;
    let mut key = Vec::with_capacity(32);
    encode_key(v, &mut key);
    if index.spec.fields[0].descending {
        key.iter_mut().for_each(|b| *b = !*b);
    }
    // A unique single-field index answers by hash.
    if let Some(candidates) = index.holders(&key) {
        return Some(first_matching(coll, filter, candidates));
    }
    Some(first_with_prefix(coll, filter, index, &key))
}

/// The first record whose entry in `index` starts with the complete leading component `key`
/// and whose document matches `filter`.
fn first_with_prefix(coll: &Collection, filter: &Filter, index: &Index, key: &[u8]) -> Result<Option<u64>, DocError> {
    let fields = index.spec.fields.len();
    let records = index
        .range(Bound::Included(key), Bound::Unbounded)
        .take_while(|entry| entry.starts_with(key))
        .filter_map(|entry| keys::record_of(entry, entry.len() - 8 - fields));
    first_matching(coll, filter, records)
}

/// The first of `records` whose document matches `filter` (each fetched document re-checked).
fn first_matching(coll: &Collection, filter: &Filter, records: impl Iterator<Item = u64>) -> Result<Option<u64>, DocError> {
    for rid in records {
        if let Some(doc) = coll.get(rid) {
            if super::super::engine::matches(filter, doc)? {
                return Ok(Some(rid));
            }
        }
    }
    Ok(None)
}

// --- Bounds ----------------------------------------------------------------------------------

/// A cut between encoded values: everything before it, and everything from it on.
#[derive(Clone, Debug, PartialEq)]
enum Cut {
    /// Before every value.
    Start,
    /// After every value.
    End,
    /// Just before the first value at or above these bytes (a full encoding, or a prefix such
    /// as a type's rank byte).
    Before(Vec<u8>),
    /// Just after every value that starts with these bytes.
    After(Vec<u8>),
}

/// The smallest byte string above every string starting with `b` (None: no such string).
fn successor(b: &[u8]) -> Option<Vec<u8>> {
    let mut v = b.to_vec();
    while let Some(last) = v.last_mut() {
        if *last == 0xFF {
            v.pop();
        } else {
            *last += 1;
            return Some(v);
        }
    }
    None
}

impl Cut {
    /// Position in the byte order of plain encodings (None = after everything).
    fn plain(&self) -> Option<Vec<u8>> {
        match self {
            Cut::Start => Some(Vec::new()),
            Cut::End => None,
            Cut::Before(b) => Some(b.clone()),
            Cut::After(b) => successor(b),
        }
    }

    /// Position in the byte order of inverted (descending) encodings, where `Before` and
    /// `After` trade places.
    fn inverted(&self) -> Option<Vec<u8>> {
        match self {
            Cut::Start => None,
            Cut::End => Some(Vec::new()),
            Cut::Before(b) => successor(&b.iter().map(|x| !x).collect::<Vec<u8>>()),
            Cut::After(b) => Some(b.iter().map(|x| !x).collect()),
        }
    }

    fn cmp_plain(&self, other: &Cut) -> Ordering {
        match (self.plain(), other.plain()) {
            (None, None) => Ordering::Equal,
            (None, _) => Ordering::Greater,
            (_, None) => Ordering::Less,
            (Some(a), Some(b)) => a.cmp(&b),
        }
    }
}

/// One interval of values `[lo, hi)` between cuts, with MongoDB's display of its ends.
#[derive(Clone, Debug)]
struct Interval {
    lo: Cut,
    hi: Cut,
    /// The encoding of the single value this interval holds, if it is a point.
    point: Option<Vec<u8>>,
    /// The interval's ends as explain shows them (`[5` / `(5` and `inf.0]` / `9)`), kept
    /// unformatted: only explain reads them, and a point lookup should not pay for text.
    shown: (End, End),
}

/// One end of an interval as `indexBounds` shows it: its value and whether it is included.
#[derive(Clone, Debug)]
struct End {
    inclusive: bool,
    text: EndText,
}

/// The value at an interval's end, formatted only when explain asks.
#[derive(Clone, Debug)]
enum EndText {
    /// A query value, shown as the shell shows it.
    Value(Bson),
    /// A type bracket's first or last value, or `MinKey`/`MaxKey`.
    Fixed(&'static str),
    /// A regex, `/pattern/options`.
    Regex(String, String),
}

impl End {
    fn closed(text: EndText) -> End {
        End { inclusive: true, text }
    }

    fn open(text: EndText) -> End {
        End { inclusive: false, text }
    }

    fn text(&self) -> String {
        match &self.text {
            EndText::Value(v) => show_value(v),
            EndText::Fixed(s) => (*s).to_string(),
            EndText::Regex(pattern, options) => format!("/{pattern}/{options}"),
        }
    }
}

/// How an end of an interval is shown in `indexBounds`.
fn show_value(v: &Bson) -> String {
    match v {
        Bson::Double(d) if d.is_infinite() => (if *d > 0.0 { "inf.0" } else { "-inf.0" }).to_string(),
        Bson::Double(d) if d.fract() == 0.0 => format!("{d:.1}"),
        Bson::String(s) => format!("{s:?}"),
        Bson::MinKey => "MinKey".into(),
        Bson::MaxKey => "MaxKey".into(),
        Bson::Null => "null".into(),
        Bson::DateTime(d) => format!("new Date({})", d.timestamp_millis()),
        other => super::super::engine::shell_repr(other),
    }
}

/// The first and last value MongoDB shows for a type's bracket.
fn bracket_ends(rank: u8) -> (EndText, EndText) {
    let (first, last) = match rank {
        3 => ("-inf.0", "inf.0"),
        4 => ("\"\"", "{}"),
        5 => ("{}", "[]"),
        7 => ("BinData(0, )", "ObjectId('000000000000000000000000')"),
        8 => ("ObjectId('000000000000000000000000')", "ObjectId('ffffffffffffffffffffffff')"),
        9 => ("false", "true"),
        10 => ("new Date(-9223372036854775808)", "new Date(9223372036854775807)"),
        11 => ("Timestamp(0, 0)", "Timestamp(4294967295, 4294967295)"),
        12 => ("/(?:)/", "/(?:)/"),
        _ => ("MinKey", "MaxKey"),
    };
    (EndText::Fixed(first), EndText::Fixed(last))
}

impl Interval {
    fn full() -> Interval {
        let shown = (End::closed(EndText::Fixed("MinKey")), End::closed(EndText::Fixed("MaxKey")));
        Interval { lo: Cut::Start, hi: Cut::End, point: None, shown }
    }

    fn point(v: &Bson) -> Interval {
        let k = key(v);
        let shown = (End::closed(EndText::Value(v.clone())), End::closed(EndText::Value(v.clone())));
        Interval { lo: Cut::Before(k.clone()), hi: Cut::After(k.clone()), point: Some(k), shown }
    }

    fn is_full(&self) -> bool {
        self.lo == Cut::Start && self.hi == Cut::End
    }

    fn is_empty(&self) -> bool {
        self.lo.cmp_plain(&self.hi) != Ordering::Less
    }

    /// Values `op v` within `v`'s type bracket.
    fn compare(op: CmpOp, v: &Bson) -> Interval {
        let k = key(v);
        let rank = vec![type_rank(v)];
        let (first, last) = bracket_ends(type_rank(v));
        let value = EndText::Value(v.clone());
        let (lo, hi, shown) = match op {
            CmpOp::Gt => (Cut::After(k), Cut::After(rank), (End::open(value), End::closed(last))),
            CmpOp::Gte => (Cut::Before(k), Cut::After(rank), (End::closed(value), End::closed(last))),
            CmpOp::Lt => (Cut::Before(rank), Cut::Before(k), (End::closed(first), End::open(value))),
            CmpOp::Lte => (Cut::Before(rank), Cut::After(k), (End::closed(first), End::closed(value))),
        };
        Interval { lo, hi, point: None, shown }
    }

    /// Every value of one type (rank).
    fn bracket(rank: u8) -> Interval {
        let (first, last) = bracket_ends(rank);
        Interval { lo: Cut::Before(vec![rank]), hi: Cut::After(vec![rank]), point: None, shown: (End::closed(first), End::closed(last)) }
    }

    fn intersect(&self, other: &Interval) -> Interval {
        let lo_from = if self.lo.cmp_plain(&other.lo) == Ordering::Less { other } else { self };
        let hi_from = if self.hi.cmp_plain(&other.hi) == Ordering::Greater { other } else { self };
        // A point survives when both ends come from it.
        let point = if lo_from.point.is_some() && lo_from.point == hi_from.point { lo_from.point.clone() } else { None };
        let shown = (lo_from.shown.0.clone(), hi_from.shown.1.clone());
        Interval { lo: lo_from.lo.clone(), hi: hi_from.hi.clone(), point, shown }
    }

    /// Whether a plain (not inverted) complete encoding lies in the interval.
    fn contains(&self, enc: &[u8]) -> bool {
        let above_lo = match self.lo.plain() {
            Some(lo) => enc >= lo.as_slice(),
            None => false,
        };
        let below_hi = match self.hi.plain() {
            Some(hi) => enc < hi.as_slice(),
            None => true,
        };
        above_lo && below_hi
    }
}

fn key(v: &Bson) -> Vec<u8> {
    let mut out = Vec::with_capacity(16);
    encode_key(v, &mut out);
    out
}

/// A union of disjoint intervals, ascending.
#[derive(Clone, Debug)]
struct FieldBounds {
    intervals: Vec<Interval>,
}

impl FieldBounds {
    fn full() -> FieldBounds {
        FieldBounds { intervals: vec![Interval::full()] }
    }

    fn is_full(&self) -> bool {
        self.intervals.len() == 1 && self.intervals[0].is_full()
    }

    fn points(&self) -> Option<Vec<&[u8]>> {
        self.intervals.iter().map(|i| i.point.as_deref()).collect()
    }

    fn union(mut intervals: Vec<Interval>) -> FieldBounds {
        intervals.retain(|i| !i.is_empty());
        intervals.sort_by(|a, b| a.lo.cmp_plain(&b.lo));
        let mut out: Vec<Interval> = Vec::with_capacity(intervals.len());
        for i in intervals {
            if let Some(last) = out.last_mut() {
                if i.lo.cmp_plain(&last.hi) != Ordering::Greater {
                    // Overlapping or touching: merge.
                    if i.hi.cmp_plain(&last.hi) == Ordering::Greater {
                        last.hi = i.hi;
                        last.shown.1 = i.shown.1;
                        last.point = None;
                    }
                    continue;
                }
            }
            out.push(i);
        }
        FieldBounds { intervals: out }
    }

    fn intersect(&self, other: &FieldBounds) -> FieldBounds {
        let mut out = Vec::new();
        for a in &self.intervals {
            for b in &other.intervals {
                let i = a.intersect(b);
                if !i.is_empty() {
                    out.push(i);
                }
            }
        }
        FieldBounds::union(out)
    }

    fn contains(&self, enc: &[u8]) -> bool {
        self.intervals.iter().any(|i| i.contains(enc))
    }

    fn shown(&self, descending: bool) -> Bson {
        let mut v: Vec<Bson> = self
            .intervals
            .iter()
            .map(|i| {
                let (lo, hi) = (&i.shown.0, &i.shown.1);
                let (lo_text, hi_text) = (lo.text(), hi.text());
                if !descending {
                    let open = if lo.inclusive { '[' } else { '(' };
                    let close = if hi.inclusive { ']' } else { ')' };
                    return Bson::String(format!("{open}{lo_text}, {hi_text}{close}"));
                }
                // Descending: MongoDB shows each interval reversed, in scan order.
                let open = if hi.inclusive { '[' } else { '(' };
                let close = if lo.inclusive { ']' } else { ')' };
                Bson::String(format!("{open}{hi_text}, {lo_text}{close}"))
            })
            .collect();
        if descending {
            v.reverse();
        }
        Bson::Array(v)
    }
}

/// A literal prefix of an anchored regex (`^abc...` without options that change `^`).
fn regex_prefix(pattern: &str, options: &str) -> Option<String> {
    if options.contains('i') || options.contains('m') || options.contains('x') {
        return None;
    }
    // An alternation anywhere may escape the anchor (`^ab.*|x`): no prefix then.
    if pattern.contains('|') {
        return None;
    }
    let rest = pattern.strip_prefix('^').or_else(|| pattern.strip_prefix("\\A"))?;
    let mut out = String::new();
    let chars = rest.chars();
    for c in chars {
        if "\\.^$|?*+()[]{}".contains(c) {
            // A quantifier makes the previous character optional: drop it.
            if "?*{".contains(c) {
                out.pop();
            }
            break;
        }
        out.push(c);
    }
    (!out.is_empty()).then_some(out)
}

/// Bounds a predicate gives its path (None: it does not narrow the index).
fn pred_bounds(pred: &Pred) -> Option<FieldBounds> {
    let boundable = |v: &Bson| !matches!(v, Bson::Array(_) | Bson::MinKey | Bson::MaxKey | Bson::Undefined);
    match pred {
        Pred::Eq(v) if boundable(v) => Some(FieldBounds { intervals: vec![Interval::point(v)] }),
        Pred::Cmp(CmpOp::Gte | CmpOp::Lte, Bson::Null) => Some(FieldBounds { intervals: vec![Interval::point(&Bson::Null)] }),
        Pred::Cmp(_, Bson::Null) => None,
        Pred::Cmp(op, v) if matches!(type_rank(v), 3 | 4 | 5 | 7 | 8 | 9 | 10 | 11) => {
            Some(FieldBounds { intervals: vec![Interval::compare(*op, v)] })
        }
        Pred::In(set) if set.regexes.is_empty() && set.values.iter().all(boundable) => {
            let mut intervals: Vec<Interval> = set.values.iter().map(Interval::point).collect();
            if set.has_null {
                intervals.push(Interval::point(&Bson::Null));
            }
            Some(FieldBounds::union(intervals))
        }
        Pred::Regex(re) => {
            let strings = match regex_prefix(&re.pattern, &re.options) {
                Some(prefix) => {
                    // The prefix's key bytes without the string's terminator: every string
                    // starting with the prefix starts with them.
                    let mut k = vec![4u8];
                    super::super::value::encode_str(prefix.as_bytes(), &mut k);
                    k.truncate(k.len() - 2);
                    let mut end = prefix.clone();
                    if let Some(c) = end.pop() {
                        end.push(char::from_u32(c as u32 + 1).unwrap_or(c));
                    }
                    Interval {
                        lo: Cut::Before(k.clone()),
                        hi: Cut::After(k),
                        point: None,
                        shown: (End::closed(EndText::Value(Bson::String(prefix))), End::open(EndText::Value(Bson::String(end)))),
                    }
                }
                None => Interval::bracket(4),
            };
            let regexes = Interval {
                lo: Cut::Before(vec![12]),
                hi: Cut::After(vec![12]),
                point: None,
                shown: (
                    End::closed(EndText::Regex(re.pattern.clone(), re.options.clone())),
                    End::closed(EndText::Regex(re.pattern.clone(), re.options.clone())),
                ),
            };
            Some(FieldBounds::union(vec![strings, regexes]))
        }
        _ => None,
    }
}

/// Whether a predicate fails on a missing field (so a sparse index holds every match).
fn excludes_missing(pred: &Pred) -> bool {
    match pred {
        Pred::Eq(v) => !matches!(v, Bson::Null),
        Pred::Cmp(_, v) => !matches!(v, Bson::Null | Bson::MinKey | Bson::MaxKey),
        Pred::In(set) => !set.has_null,
        Pred::Exists
        | Pred::Regex(_)
        | Pred::Size(_)
        | Pred::Mod { .. }
        | Pred::Bits(..)
        | Pred::ElemMatchDoc(_)
        | Pred::ElemMatchValue(_) => true,
        Pred::Type(bits) => bits & (1 << 10) == 0,
    }
}

/// The conjuncts of a node (nested `$and`s flattened).
fn conjuncts<'n>(node: &'n Node, out: &mut Vec<&'n Node>) {
    match node {
        Node::And(children) => children.iter().for_each(|c| conjuncts(c, out)),
        other => out.push(other),
    }
}

// --- Index sources -----------------------------------------------------------------------------

/// An index a plan scans: a secondary index, or the collection's `_id` index.
#[derive(Clone, Copy)]
enum Source<'c> {
    Id(&'c Collection),
    Secondary(&'c Index),
}

thread_local! {
    static ID_FIELD: Vec<KeyField> = vec![KeyField { path: super::super::query::Path::new("_id"), descending: false }];
}

impl<'c> Source<'c> {
    fn name(&self) -> String {
        match self {
            Source::Id(_) => "_id_".into(),
            Source::Secondary(i) => i.spec.name.clone(),
        }
    }

    fn fields(&self) -> Vec<KeyField> {
        match self {
            Source::Id(_) => ID_FIELD.with(Clone::clone),
            Source::Secondary(i) => i.spec.fields.clone(),
        }
    }

    fn multikey(&self) -> bool {
        matches!(self, Source::Secondary(i) if i.multikey)
    }

    fn key_pattern(&self) -> Document {
        match self {
            Source::Id(_) => doc! {"_id": 1},
            Source::Secondary(i) => i.spec.key.clone(),
        }
    }
}

// --- Plans -------------------------------------------------------------------------------------

/// An index scan: byte ranges of one index, in order, with per-key checks of later fields.
#[derive(Clone)]
struct IxScan<'c> {
    source: Source<'c>,
    fields: Vec<KeyField>,
    bounds: Vec<FieldBounds>,
    /// Byte ranges to scan, ascending.
    ranges: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    /// Fields checked on each key (index into `fields`), after the ranged ones.
    residual: Vec<usize>,
    reverse: bool,
    /// Some(n): the scan yields the query's sort order; records with equal values in the first
    /// n components are reordered by record id.
    sort_group: Option<usize>,
}

/// How the records are read.
#[derive(Clone)]
enum Access<'c> {
    CollScan { reverse: bool },
    IdHack(Bson),
    Index(IxScan<'c>),
    Or(Vec<IxScan<'c>>),
    Text { index: &'c Index, query: Box<TextQuery> },
}

/// A query to plan: what find-shaped commands share.
pub struct Query<'q> {
    pub filter: &'q Filter,
    pub sort: Option<&'q Sort>,
    pub projection: Option<&'q Projection>,
    pub skip: u64,
    /// 0 = no limit.
    pub limit: u64,
    pub hint: &'q Hint,
    /// Only the number of matches is wanted (a count): documents need not be produced.
    pub count_only: bool,
    /// `min`/`max` (find): bounds on the hinted index's whole key.
    pub key_range: Option<&'q KeyRange>,
    /// Every result must be a stored record (`showRecordId`): no covered plan.
    pub records: bool,
}

impl<'q> Query<'q> {
    /// Every match of `filter` under `hint`: no sort, projection, skip or limit; the other
    /// fields are set with struct update syntax (`Query { limit: 1, ..Query::new(f, &h) }`).
    pub fn new(filter: &'q Filter, hint: &'q Hint) -> Self {
        Query { filter, sort: None, projection: None, skip: 0, limit: 0, hint, count_only: false, key_range: None, records: false }
    }
}

/// A key range's lower and upper bounds as entry bytes (None: unbounded).
type KeyBounds = (Option<Vec<u8>>, Option<Vec<u8>>);

/// The `min` and `max` find options: an inclusive lower and an exclusive upper bound on the
/// key of the hinted index (documents with the key pattern's fields, in order), in index
/// order (a descending field's `min` is its largest value).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KeyRange {
    pub min: Option<Document>,
    pub max: Option<Document>,
}

impl KeyRange {
    /// The bounds as entry bytes for an index with `fields` (a descending component
    /// inverted); error when a bound's fields are not the key pattern's.
    fn bytes(&self, fields: &[keys::KeyField]) -> Result<KeyBounds, DocError> {
        if let (Some(lo), Some(hi)) = (&self.min, &self.max) {
            if !lo.keys().eq(hi.keys()) {
                return Err(DocError::location(51176, "min() and max() must have the same field names"));
            }
        }
        let encode = |bound: &Document| -> Result<Vec<u8>, DocError> {
            if bound.len() != fields.len() || !bound.keys().zip(fields).all(|(k, f)| *k == f.path.dotted) {
                return Err(DocError::location(51174, "The index chosen is not consistent with min/max"));
            }
            let mut out = Vec::new();
            for (v, f) in bound.values().zip(fields) {
                let start = out.len();
                encode_key(v, &mut out);
                if f.descending {
                    out[start..].iter_mut().for_each(|b| *b = !*b);
                }
            }
            Ok(out)
        };
        Ok((self.min.as_ref().map(encode).transpose()?, self.max.as_ref().map(encode).transpose()?))
    }
}

/// Narrow a scan's byte ranges to `[lo, hi)`: entries are a key's components then the record
/// id, so an entry whose key equals `lo` is above it (kept) and one whose key equals `hi` is
/// above that too (dropped).
fn clamp_ranges(scan: &mut IxScan<'_>, lo: Option<Vec<u8>>, hi: Option<Vec<u8>>) {
    scan.ranges = std::mem::take(&mut scan.ranges)
        .into_iter()
        .filter_map(|(l, h)| {
            let l = match &lo {
                Some(m) if *m > l => m.clone(),
                _ => l,
            };
            let h = match (&hi, h) {
                (Some(m), Some(h)) => Some(if *m < h { m.clone() } else { h }),
                (Some(m), None) => Some(m.clone()),
                (None, h) => h,
            };
            h.as_ref().is_none_or(|h| l < *h).then_some((l, h))
        })
        .collect();
}

/// The `hint` option, resolved.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Hint {
    #[default]
    None,
    /// `{$natural: 1 | -1}`: a collection scan (true = reverse).
    Natural(bool),
    Name(String),
    Key(Document),
}

impl Hint {
    /// Parse a `hint` option value.
    pub fn parse(v: Option<&Bson>) -> Result<Hint, DocError> {
        Ok(match v {
            None | Some(Bson::Null) => Hint::None,
            Some(Bson::String(s)) => Hint::Name(s.clone()),
            Some(Bson::Document(d)) if d.is_empty() => Hint::None,
            Some(Bson::Document(d)) => match d.iter().next() {
                Some((k, v)) if k == "$natural" && d.len() == 1 => match value::as_f64(v) {
                    Some(1.0) => Hint::Natural(false),
                    Some(-1.0) => Hint::Natural(true),
                    _ => return Err(DocError::bad_value("$natural hint must be 1 or -1")),
                },
                _ => Hint::Key(d.clone()),
            },
            Some(other) => {
                return Err(DocError::type_mismatch(format!(
                    "BSON field 'hint' is the wrong type '{}', expected types '[string, object]'",
                    value::type_name(other)
                )))
            }
        })
    }
}

/// What a query produced: documents (decoded, before projection, unless covered) and stats.
pub struct Outcome {
    pub docs: Vec<Produced>,
    /// Matches counted (count_only).
    pub count: u64,
    pub stats: Stats,
}

/// One result.
pub enum Produced {
    /// A stored document (record id) and its text score when the query was a `$text` one.
    Record(u64, Option<f64>),
    /// A document rebuilt from index keys (covered), already projected.
    Covered(Document),
}

/// Execution statistics (explain's executionStats).
#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub keys_examined: u64,
    pub docs_examined: u64,
    pub returned: u64,
    pub millis: u64,
}

/// A chosen plan with its alternatives.
pub struct Planned<'c> {
    winner: Plan<'c>,
    rejected: Vec<Plan<'c>>,
}

#[derive(Clone)]
struct Plan<'c> {
    access: Access<'c>,
    /// The index yields the sort order (no in-memory sort).
    sorted_by_index: bool,
    covered: Option<Vec<String>>,
}

fn bad_hint() -> DocError {
    DocError::bad_value("hint provided does not correspond to an existing index")
}

/// Whether `partial` (an index's partialFilterExpression) holds for every document matching
/// the conjuncts: each of its predicates is implied by a query predicate on the same path.
fn implies(conj: &[&Node], partial: &Filter) -> bool {
    let mut need = Vec::new();
    conjuncts(partial.root(), &mut need);
    need.iter().all(|n| match n {
        Node::Leaf { path, pred } => conj.iter().any(|q| match q {
            Node::Leaf { path: qp, pred: qpred } if qp.dotted == path.dotted => pred_implies(qpred, pred),
            _ => false,
        }),
        Node::Const(true) => true,
        _ => false,
    })
}

fn satisfies(v: &Bson, op: CmpOp, bound: &Bson) -> bool {
    if type_rank(v) != type_rank(bound) {
        return false;
    }
    let o = value::compare(v, bound);
    match op {
        CmpOp::Gt => o == Ordering::Greater,
        CmpOp::Gte => o != Ordering::Less,
        CmpOp::Lt => o == Ordering::Less,
        CmpOp::Lte => o != Ordering::Greater,
    }
}

fn pred_implies(q: &Pred, p: &Pred) -> bool {
    match (q, p) {
        (Pred::Eq(a), Pred::Eq(b)) => value::equal(a, b) && type_rank(a) == type_rank(b),
        (q, Pred::Exists) => excludes_missing(q),
        (Pred::Eq(a), Pred::Cmp(op, b)) => satisfies(a, *op, b),
        (Pred::In(set), Pred::Cmp(op, b)) => !set.has_null && set.regexes.is_empty() && set.values.iter().all(|v| satisfies(v, *op, b)),
        (Pred::In(set), Pred::Eq(b)) => set.regexes.is_empty() && !set.has_null && set.values.len() == 1 && value::equal(&set.values[0], b),
        (Pred::Cmp(qop, a), Pred::Cmp(op, b)) => {
            let up = |o: CmpOp| matches!(o, CmpOp::Gt | CmpOp::Gte);
            if up(*qop) != up(*op) || type_rank(a) != type_rank(b) {
                return false;
            }
            match value::compare(a, b) {
                Ordering::Equal => *qop == *op || matches!((qop, op), (CmpOp::Gt, CmpOp::Gte) | (CmpOp::Lt, CmpOp::Lte)),
                Ordering::Greater => up(*op),
                Ordering::Less => !up(*op),
            }
        }
        (Pred::Type(a), Pred::Type(b)) => a & !b == 0,
        (Pred::Eq(v), Pred::Type(bits)) => {
            let t = value::type_number(v);
            (0..32).contains(&t) && bits & (1 << t) != 0
        }
        _ => false,
    }
}

/// The largest number of point combinations expanded into separate ranges.
const MAX_RANGES: usize = 4096;

/// Build an index scan for `conj` over `source`; None when the index cannot answer the query
/// (sparse without a field that excludes missing, partial not implied), unless `forced`.
/// False when `source` can neither narrow the scan (no predicate on its first field) nor give
/// the sort order (the sort's first field is none of its fields): `build_scan` would decline
/// it, and this answers without building anything (the common case: every query considers
/// the `_id` index and every secondary index).
fn could_serve(source: &Source<'_>, conj: &[&Node], sort: Option<&Sort>) -> bool {
    let (first, all): (&str, Vec<&str>) = match source {
        Source::Id(_) => ("_id", vec!["_id"]),
        Source::Secondary(i) => match i.spec.fields.first() {
            Some(f) => (f.path.dotted.as_str(), i.spec.fields.iter().map(|f| f.path.dotted.as_str()).collect()),
            None => return true,
        },
    };
    if conj.iter().any(|n| matches!(n, Node::Leaf { path, .. } if path.dotted == first)) {
        return true;
    }
    let Some(sort) = sort.filter(|s| !s.is_empty() && s.natural().is_none()) else { return false };
    match sort.fields().first().map(|sf| &sf.kind) {
        Some(SortKind::Field { path, .. }) => {
            let joined = path.join(".");
            all.contains(&joined.as_str())
        }
        _ => false,
    }
}

fn build_scan<'c>(
    source: Source<'c>,
    conj: &[&Node],
    sort: Option<&Sort>,
    forced: bool,
) -> Result<Option<(IxScan<'c>, bool, bool)>, DocError> {
    if !forced && !could_serve(&source, conj, sort) {
        return Ok(None);
    }
    let fields = source.fields();
    let multikey = source.multikey();
    let mut bounds = Vec::with_capacity(fields.len());
    let mut any_excludes_missing = false;
    for f in &fields {
        let mut fb: Option<FieldBounds> = None;
        for n in conj {
            let Node::Leaf { path, pred } = n else { continue };
            if path.dotted != f.path.dotted {
                continue;
            }
            any_excludes_missing |= excludes_missing(pred);
            let Some(b) = pred_bounds(pred) else { continue };
            fb = Some(match fb {
                None => b,
                // A multikey field's predicates may be met by different elements: only one
                // of them bounds the scan.
                Some(prev) if multikey => {
                    if prev.points().is_some() {
                        prev
                    } else {
                        b
                    }
                }
                Some(prev) => prev.intersect(&b),
            });
        }
        bounds.push(fb.unwrap_or_else(FieldBounds::full));
    }
    if let Source::Secondary(index) = source {
        if index.spec.hidden {
            return Ok(None);
        }
        if let Some((_, partial)) = &index.spec.partial {
            if !implies(conj, partial) {
                return if forced { Err(bad_hint()) } else { Ok(None) };
            }
        }
        if index.spec.sparse && !any_excludes_missing && !forced {
            return Ok(None);
        }
    }
    // Sort from the index: the sort's fields are index fields from some position k on, in
    // order, all in the index's direction or all reversed, with one point on every field
    // before k, and no multikey field.
    let mut sorted = false;
    let mut reverse = false;
    let mut sort_group = None;
    if let Some(sort) = sort.filter(|s| !s.is_empty() && s.natural().is_none()) {
        let sfields = sort.fields();
        let first = sfields.first().and_then(|sf| match &sf.kind {
            SortKind::Field { path, .. } => fields.iter().position(|f| f.path.dotted == path.join(".")),
            _ => None,
        });
        if let Some(k) = first {
            let prefix_single = bounds[..k].iter().all(|b| b.points().is_some_and(|p| p.len() == 1));
            let mut dir = None;
            let mut ok = !multikey && prefix_single && k + sfields.len() <= fields.len();
            if ok {
                for (j, sf) in sfields.iter().enumerate() {
                    let f = &fields[k + j];
                    match &sf.kind {
                        SortKind::Field { path, ascending } if path.join(".") == f.path.dotted => {
                            let same = *ascending != f.descending;
                            if *dir.get_or_insert(same) != same {
                                ok = false;
                            }
                        }
                        _ => ok = false,
                    }
                }
            }
            if ok {
                sorted = true;
                reverse = dir == Some(false);
                sort_group = Some(k + sfields.len());
            }
        }
    }
    let narrows = !bounds[0].is_full();
    if !narrows && !sorted && !forced {
        return Ok(None);
    }
    // Ranges: point prefixes, then the first non-point field's intervals.
    let mut prefixes: Vec<Vec<u8>> = vec![Vec::new()];
    let mut residual = Vec::new();
    let mut ranges: Vec<(Vec<u8>, Option<Vec<u8>>)> = Vec::new();
    let mut done = false;
    for (i, f) in fields.iter().enumerate() {
        if done {
            if !bounds[i].is_full() {
                residual.push(i);
            }
            continue;
        }
        let last = i + 1 == fields.len();
        match bounds[i].points() {
            Some(points) if !last && prefixes.len() * points.len() <= MAX_RANGES => {
                let mut next = Vec::with_capacity(prefixes.len() * points.len());
                for p in &prefixes {
                    for pt in &points {
                        let mut k = p.clone();
                        if f.descending {
                            k.extend(pt.iter().map(|b| !b));
                        } else {
                            k.extend_from_slice(pt);
                        }
                        next.push(k);
                    }
                }
                prefixes = next;
            }
            _ => {
                for p in &prefixes {
                    for iv in &bounds[i].intervals {
                        let (lo, hi) = if f.descending { (iv.hi.inverted(), iv.lo.inverted()) } else { (iv.lo.plain(), iv.hi.plain()) };
                        let lo_bytes = match lo {
                            Some(l) => [p.as_slice(), &l].concat(),
                            None => continue, // starts after everything: empty
                        };
                        let hi_bytes = match hi {
                            Some(h) if !h.is_empty() || p.is_empty() => {
                                if h.is_empty() {
                                    continue; // ends before everything
                                }
                                Some([p.as_slice(), &h].concat())
                            }
                            Some(_) => continue,
                            None => successor(p),
                        };
                        ranges.push((lo_bytes, hi_bytes));
                    }
                }
                done = true;
            }
        }
    }
    ranges.sort();
    Ok(Some((IxScan { source, fields, bounds, ranges, residual, reverse, sort_group }, sorted, narrows)))
}

/// Whether every path the filter reads is one of `paths` (covered queries), with no `$expr`.
fn filter_paths_within(node: &Node, paths: &[String]) -> bool {
    match node {
        Node::And(c) | Node::Or(c) | Node::Nor(c) => c.iter().all(|n| filter_paths_within(n, paths)),
        Node::Not(c) => filter_paths_within(c, paths),
        Node::Leaf { path, pred } => {
            paths.contains(&path.dotted) && !matches!(pred, Pred::ElemMatchDoc(_) | Pred::ElemMatchValue(_) | Pred::Size(_))
        }
        Node::Const(_) => true,
        Node::Expr(_) | Node::Text(_) => false,
    }
}

/// The covered-projection paths when `scan` can answer `q` from its keys alone.
fn covered_paths(scan: &IxScan<'_>, q: &Query<'_>) -> Option<Vec<String>> {
    let Source::Secondary(index) = scan.source else { return None };
    if index.multikey {
        return None;
    }
    let fields: Vec<String> = scan.fields.iter().map(|f| f.path.dotted.clone()).collect();
    // A field that is a prefix of another would be rebuilt incompletely.
    if fields.iter().any(|a| fields.iter().any(|b| a != b && b.starts_with(&format!("{a}.")))) {
        return None;
    }
    if !filter_paths_within(q.filter.root(), &fields) {
        return None;
    }
    if let Some(sort) = q.sort {
        let ok = sort.fields().iter().all(|f| match &f.kind {
            SortKind::Field { path, .. } => fields.contains(&path.join(".")),
            _ => false,
        });
        if !ok {
            return None;
        }
    }
    if q.count_only {
        return Some(Vec::new());
    }
    let included = q.projection?.included_paths()?;
    included.iter().all(|p| fields.contains(p)).then_some(included)
}

impl<'c> Planned<'c> {
    /// Plan `q` over `coll`.
    pub fn new(coll: &'c Collection, q: &Query<'_>) -> Result<Planned<'c>, DocError> {
        let mut conj = Vec::new();
        conjuncts(q.filter.root(), &mut conj);
        // $text: only through the text index.
        if let Some(operand) = conj.iter().find_map(|n| match n {
            Node::Text(d) => Some(d.as_ref()),
            _ => None,
        }) {
            let index = coll
                .indexes()
                .text()
                .ok_or_else(|| DocError::new(codes::INDEX_NOT_FOUND, "IndexNotFound", "text index required for $text query"))?;
            if !matches!(q.hint, Hint::None) {
                return Err(DocError::bad_value("error processing query: planner returned error :: caused by :: hint provided does not correspond to an existing index (a $text query always uses the text index)"));
            }
            let query = Box::new(index.text_query(operand)?);
            return Ok(Planned {
                winner: Plan { access: Access::Text { index, query }, sorted_by_index: false, covered: None },
                rejected: Vec::new(),
            });
        }
        if contains_text(q.filter.root()) {
            return Err(DocError::bad_value("$text must be a top-level predicate of the query (not inside $or, $nor or $not)"));
        }
        let natural = q.sort.and_then(Sort::natural);
        let single = |access: Access<'c>, sorted: bool| Planned {
            winner: Plan { access, sorted_by_index: sorted, covered: None },
            rejected: Vec::new(),
        };
        let key_range = q.key_range.filter(|r| r.min.is_some() || r.max.is_some());
        if key_range.is_some() {
            // The manual: min/max need a hint, except for an equality on _id.
            match q.hint {
                Hint::None if q.filter.id_equality().is_some() => {}
                Hint::None => {
                    return Err(DocError::location(51173, "When using min()/max() a hint of which index to use must be provided"));
                }
                Hint::Natural(_) => return Err(DocError::bad_value("min and max are not allowed with a $natural hint")),
                _ => {}
            }
        }
        match q.hint {
            Hint::Natural(reverse) => return Ok(single(Access::CollScan { reverse: *reverse }, false)),
            Hint::Name(_) | Hint::Key(_) => {
                let source = resolve_hint(coll, q.hint)?;
                let (mut scan, sorted, _) = build_scan(source, &conj, q.sort, true)?.ok_or_else(bad_hint)?;
                if let Some(range) = key_range {
                    let (lo, hi) = range.bytes(&scan.fields)?;
                    clamp_ranges(&mut scan, lo, hi);
                }
                let covered = if q.records { None } else { covered_paths(&scan, q) };
                return Ok(Planned {
                    winner: Plan { access: Access::Index(scan), sorted_by_index: sorted, covered },
                    rejected: Vec::new(),
                });
            }
            Hint::None => {}
        }
        if let Some(reverse) = natural {
            return Ok(single(Access::CollScan { reverse: !reverse }, false));
        }
        if let Some(id) = q.filter.id_equality() {
            return Ok(single(Access::IdHack(id.clone()), false));
        }
        let mut candidates: Vec<Plan<'c>> = Vec::new();
        let sources = std::iter::once(Source::Id(coll)).chain(coll.indexes().iter().filter(|i| !i.spec.is_text()).map(Source::Secondary));
        for source in sources {
            if let Some((scan, sorted, _)) = build_scan(source, &conj, q.sort, false)? {
                let covered = if q.records { None } else { covered_paths(&scan, q) };
                candidates.push(Plan { access: Access::Index(scan), sorted_by_index: sorted, covered });
            }
        }
        // $or: one index per branch.
        let ors: Vec<&Node> = conj.iter().copied().filter(|n| matches!(n, Node::Or(_))).collect();
        if ors.len() == 1 {
            if let Node::Or(branches) = ors[0] {
                if let Some(scans) = or_scans(coll, branches)? {
                    candidates.push(Plan { access: Access::Or(scans), sorted_by_index: false, covered: None });
                }
            }
        }
        if candidates.is_empty() {
            return Ok(single(Access::CollScan { reverse: false }, false));
        }
        if candidates.len() == 1 {
            return Ok(Planned { winner: candidates.pop().expect("one"), rejected: Vec::new() });
        }
        // Trial runs.
        let budget = TRIAL_WORKS.max(coll.len() as u64 / 100).min(TRIAL_WORKS * 10);
        let want = if q.limit > 0 { (q.limit + q.skip).min(TRIAL_RESULTS) } else { TRIAL_RESULTS };
        let mut best: Option<(f64, usize)> = None;
        for (i, c) in candidates.iter().enumerate() {
            let trial = Query { skip: 0, limit: want, count_only: false, ..*q };
            let mut t = Trial { budget, works: 0, exhausted: false };
            let run = execute(coll, &trial, c, Some(&mut t))?;
            let produced = if q.sort.is_some() && !c.sorted_by_index && !t.exhausted { 0 } else { run.docs.len() as u64 };
            let mut score = 1.0 + produced as f64 / t.works.max(1) as f64;
            if t.exhausted || produced >= want {
                score += 1.0;
            }
            if q.sort.is_none() || c.sorted_by_index {
                score += 1e-4;
            }
            if c.covered.is_some() {
                score += 1e-4;
            }
            if best.is_none_or(|(s, _)| score > s) {
                best = Some((score, i));
            }
        }
        let at = best.map_or(0, |b| b.1);
        let winner = candidates.remove(at);
        Ok(Planned { winner, rejected: candidates })
    }

    /// Run the chosen plan.
    pub fn run(&self, coll: &Collection, q: &Query<'_>) -> Result<Outcome, DocError> {
        let start = Instant::now();
        let mut out = execute(coll, q, &self.winner, None)?;
        out.stats.millis = start.elapsed().as_millis() as u64;
        Ok(out)
    }

    /// `returnKey`: the key the chosen plan read record `rid` under, as a document of the key
    /// pattern's fields (the record's first entry, in index order, within the scanned ranges);
    /// empty when the plan reads no single index (a collection scan, `$or`, text).
    pub fn index_key(&self, coll: &Collection, rid: u64) -> Result<Document, DocError> {
        let Some(doc) = coll.get(rid) else { return Ok(Document::new()) };
        let scan = match &self.winner.access {
            Access::Index(scan) => scan,
            Access::IdHack(_) => {
                let id = doc.get("_id").ok().flatten().map(value::raw_to_bson).transpose()?.unwrap_or(Bson::Null);
                return Ok(doc! {"_id": id});
            }
            _ => return Ok(Document::new()),
        };
        let in_ranges =
            |entry: &[u8]| scan.ranges.iter().any(|(lo, hi)| entry >= lo.as_slice() && hi.as_ref().is_none_or(|h| entry < h.as_slice()));
        let entries = keys::document_keys(doc, rid, &scan.fields, false)?.entries;
        let Some(entry) = entries.iter().map(|e| e.as_slice()).filter(|e| in_ranges(e)).min() else {
            return Ok(Document::new());
        };
        let Some((ranges, _, tags)) = keys::split_entry(entry, &scan.fields) else {
            return Ok(Document::new());
        };
        let mut out = Document::new();
        for (i, field) in scan.fields.iter().enumerate() {
            let comp = &entry[ranges[i].clone()];
            let value = match decode_component(comp, field.descending, tags.get(i).copied().unwrap_or(0)) {
                Some(v) => v,
                None => {
                    // A value the key does not give back: the document's value with that key
                    // (an array element, or null for a missing field, [] for only arrays).
                    let plain: Vec<u8> = if field.descending { comp.iter().map(|b| !b).collect() } else { comp.to_vec() };
                    let mut candidates = vec![Bson::Null, Bson::Array(Vec::new())];
                    for_each_path_value(doc, &field.path, &mut |v| {
                        if let PathValue::Value(x) = v {
                            if let Ok(b) = value::raw_to_bson(x) {
                                candidates.push(b);
                            }
                        }
                    })?;
                    candidates.into_iter().find(|c| key(c) == plain).unwrap_or(Bson::Null)
                }
            };
            out.insert(field.path.dotted.clone(), value);
        }
        Ok(out)
    }

    /// Whether the chosen plan reads an index (not a collection scan).
    pub fn uses_index(&self) -> bool {
        !matches!(self.winner.access, Access::CollScan { .. })
    }

    /// explain's queryPlanner section.
    pub fn explain(&self, q: &Query<'_>, ns: &str, filter_doc: &Document) -> Document {
        doc! {
            "namespace": ns,
            "indexFilterSet": false,
            "parsedQuery": filter_doc.clone(),
            "maxIndexedOrSolutionsReached": false,
            "maxIndexedAndSolutionsReached": false,
            "maxScansToExplodeReached": false,
            "winningPlan": plan_doc(&self.winner, q, filter_doc, None),
            "rejectedPlans": self.rejected.iter().map(|p| Bson::Document(plan_doc(p, q, filter_doc, None))).collect::<Vec<_>>(),
        }
    }

    /// explain's executionStats section for a finished run.
    pub fn execution_stats(&self, q: &Query<'_>, filter_doc: &Document, stats: &Stats) -> Document {
        doc! {
            "executionSuccess": true,
            "nReturned": stats.returned as i64,
            "executionTimeMillis": stats.millis as i64,
            "totalKeysExamined": stats.keys_examined as i64,
            "totalDocsExamined": stats.docs_examined as i64,
            "executionStages": plan_doc(&self.winner, q, filter_doc, Some(stats)),
        }
    }
}

fn contains_text(node: &Node) -> bool {
    match node {
        Node::Text(_) => true,
        Node::And(c) | Node::Or(c) | Node::Nor(c) => c.iter().any(contains_text),
        Node::Not(c) => contains_text(c),
        _ => false,
    }
}

const TRIAL_WORKS: u64 = 10_000;
const TRIAL_RESULTS: u64 = 101;

fn resolve_hint<'c>(coll: &'c Collection, hint: &Hint) -> Result<Source<'c>, DocError> {
    let found = match hint {
        Hint::Name(n) if n == "_id_" => return Ok(Source::Id(coll)),
        Hint::Key(k) if k.len() == 1 && k.get("_id").and_then(value::as_f64) == Some(1.0) => return Ok(Source::Id(coll)),
        Hint::Name(n) => coll.indexes().get(n),
        Hint::Key(k) => coll.indexes().iter().find(|i| i.spec.has_key(k)),
        _ => None,
    };
    match found {
        Some(i) if !i.spec.hidden && !i.spec.is_text() => Ok(Source::Secondary(i)),
        _ => Err(bad_hint()),
    }
}

/// Error unless `hint` names an index of `coll` (or is `$natural` / absent).
pub fn check_hint(coll: &Collection, hint: &Hint) -> Result<(), DocError> {
    match hint {
        Hint::Name(_) | Hint::Key(_) => resolve_hint(coll, hint).map(|_| ()),
        _ => Ok(()),
    }
}

/// One index scan per `$or` branch (the branch's own predicates), or None if a branch has no
/// usable index.
fn or_scans<'c>(coll: &'c Collection, branches: &[Node]) -> Result<Option<Vec<IxScan<'c>>>, DocError> {
    let mut scans = Vec::with_capacity(branches.len());
    for b in branches {
        let mut conj = Vec::new();
        conjuncts(b, &mut conj);
        let mut best: Option<(usize, IxScan<'c>)> = None;
        let sources = std::iter::once(Source::Id(coll)).chain(coll.indexes().iter().filter(|i| !i.spec.is_text()).map(Source::Secondary));
        for source in sources {
            if let Some((scan, _, true)) = build_scan(source, &conj, None, false)? {
                // Prefer the index with the fewest keys in range (counted up to the best so far).
                let cap = best.as_ref().map_or(usize::MAX, |b| b.0);
                let n = count_keys(&scan, cap);
                if best.as_ref().is_none_or(|b| n < b.0) {
                    best = Some((n, scan));
                }
            }
        }
        match best {
            Some((_, s)) => scans.push(s),
            None => return Ok(None),
        }
    }
    Ok(Some(scans))
}

fn count_keys(scan: &IxScan<'_>, cap: usize) -> usize {
    let mut n = 0;
    let _ = scan_entries(scan, &mut |_, _| {
        n += 1;
        Ok(n < cap)
    });
    n
}

/// A trial's work budget.
struct Trial {
    budget: u64,
    works: u64,
    exhausted: bool,
}

impl Trial {
    fn spend(&mut self) -> bool {
        self.works += 1;
        self.works < self.budget
    }
}

/// Iterate the entries of `scan` in order (reverse when asked), calling `f(record, entry)`
/// for each entry within bounds; `f` returns false to stop. Returns the keys examined.
/// What a scan calls per entry in bounds: (record id, entry) -> keep going?
type EntryVisitor<'v> = dyn FnMut(u64, &[u8]) -> Result<bool, DocError> + 'v;

fn scan_entries(scan: &IxScan<'_>, f: &mut EntryVisitor<'_>) -> Result<u64, DocError> {
    let mut examined = 0u64;
    let n = scan.fields.len();
    let mut visit = |entry: &[u8], rid: u64| -> Result<bool, DocError> {
        examined += 1;
        if !scan.residual.is_empty() {
            let Some((ranges, _, _)) = keys::split_entry(entry, &scan.fields) else { return Ok(true) };
            let ok = scan.residual.iter().all(|&i| {
                let comp = &entry[ranges[i].clone()];
                if scan.fields[i].descending {
                    let plain: Vec<u8> = comp.iter().map(|b| !b).collect();
                    scan.bounds[i].contains(&plain)
                } else {
                    scan.bounds[i].contains(comp)
                }
            });
            if !ok {
                return Ok(true);
            }
        }
        f(rid, entry)
    };
    for k in 0..scan.ranges.len() {
        let (lo, hi) = &scan.ranges[if scan.reverse { scan.ranges.len() - 1 - k } else { k }];
        let hi_bound = match hi {
            Some(h) => Bound::Excluded(h.as_slice()),
            None => Bound::Unbounded,
        };
        let lo_bound = Bound::Included(lo.as_slice());
        let it: Box<dyn DoubleEndedIterator<Item = (&[u8], u64)>> = match scan.source {
            Source::Id(coll) => Box::new(coll.id_range(lo_bound, hi_bound)),
            Source::Secondary(index) => {
                Box::new(index.range(lo_bound, hi_bound).map(move |e| (e, keys::record_of(e, e.len() - 8 - n).unwrap_or(u64::MAX))))
            }
        };
        if scan.reverse {
            for (e, rid) in it.rev() {
                if !visit(e, rid)? {
                    return Ok(examined);
                }
            }
        } else {
            for (e, rid) in it {
                if !visit(e, rid)? {
                    return Ok(examined);
                }
            }
        }
    }
    Ok(examined)
}

/// Where matching records go: streamed through skip and limit, or gathered for a sort.
struct Sink<'q> {
    q: &'q Query<'q>,
    blocking: bool,
    skip_left: u64,
    limit_left: u64,
    out: Vec<Produced>,
    count: u64,
    /// (sort key, record id, result): ties sort by record id, as a natural-order scan's stable
    /// sort leaves them.
    keyed: Vec<(Vec<Bson>, u64, Produced)>,
}

impl<'q> Sink<'q> {
    fn new(q: &'q Query<'q>, sorted_by_index: bool) -> Sink<'q> {
        let blocking = q.sort.is_some_and(|s| !s.is_empty() && s.natural().is_none()) && !sorted_by_index;
        Sink {
            q,
            blocking,
            skip_left: if blocking { 0 } else { q.skip },
            limit_left: if blocking || q.limit == 0 { u64::MAX } else { q.limit },
            out: Vec::new(),
            count: 0,
            keyed: Vec::new(),
        }
    }

    /// Take one match (`doc` decoded when the sort needs it); false when no more are wanted.
    fn push(&mut self, rid: u64, item: Produced, doc: Option<&Document>) -> Result<bool, DocError> {
        if self.blocking {
            let sort = self.q.sort.expect("blocking implies a sort");
            let mut key = match doc {
                Some(d) => sort.try_key(d)?,
                None => Vec::new(),
            };
            if let Produced::Record(_, Some(score)) = &item {
                for (k, f) in key.iter_mut().zip(sort.fields()) {
                    if f.kind == SortKind::TextScore {
                        *k = Bson::Double(*score);
                    }
                }
            }
            self.keyed.push((key, rid, item));
            return Ok(true);
        }
        if self.skip_left > 0 {
            self.skip_left -= 1;
            return Ok(true);
        }
        self.count += 1;
        if !self.q.count_only {
            self.out.push(item);
        }
        self.limit_left -= 1;
        Ok(self.limit_left > 0)
    }

    fn finish(mut self) -> (Vec<Produced>, u64) {
        if self.blocking {
            let sort = self.q.sort.expect("blocking implies a sort");
            self.keyed.sort_by(|a, b| sort.compare_keys(&a.0, &b.0).then(a.1.cmp(&b.1)));
            let take = if self.q.limit == 0 { usize::MAX } else { self.q.limit as usize };
            let items: Vec<Produced> = self.keyed.into_iter().skip(self.q.skip as usize).take(take).map(|(_, _, p)| p).collect();
            let n = items.len() as u64;
            return (if self.q.count_only { Vec::new() } else { items }, n);
        }
        (self.out, self.count)
    }
}

/// Rebuild the indexed fields of a document from an entry; None when a value is not exactly
/// recoverable (or is null, which could also mean missing).
fn rebuild(scan: &IxScan<'_>, entry: &[u8]) -> Option<Document> {
    let (ranges, _, tags) = keys::split_entry(entry, &scan.fields)?;
    let mut d = Document::new();
    for (i, f) in scan.fields.iter().enumerate() {
        let v = decode_component(&entry[ranges[i].clone()], f.descending, *tags.get(i)?)?;
        if matches!(v, Bson::Null) {
            return None;
        }
        let parts: Vec<&str> = f.path.dotted.split('.').collect();
        let mut cur = &mut d;
        for p in &parts[..parts.len() - 1] {
            if !matches!(cur.get(*p), Some(Bson::Document(_))) {
                cur.insert(p.to_string(), Document::new());
            }
            cur = match cur.get_mut(*p) {
                Some(Bson::Document(sub)) => sub,
                _ => return None,
            };
        }
        cur.insert(parts[parts.len() - 1].to_string(), v);
    }
    Some(d)
}

/// Run `plan`; with a trial, stop when its budget is spent.
fn execute(coll: &Collection, q: &Query<'_>, plan: &Plan<'_>, mut trial: Option<&mut Trial>) -> Result<Outcome, DocError> {
    let mut stats = Stats::default();
    let mut sink = Sink::new(q, plan.sorted_by_index);
    let needs_doc = sink.blocking;
    let filter = q.filter;
    // Fetch one record, filter it, hand it on. Ok(false) = stop.
    let fetch = |rid: u64, score: Option<f64>, stats: &mut Stats, sink: &mut Sink<'_>| -> Result<bool, DocError> {
        let Some(raw) = coll.get(rid) else { return Ok(true) };
        stats.docs_examined += 1;
        if !filter.matches_raw(raw)? {
            return Ok(true);
        }
        let decoded = if needs_doc { Some(to_document(raw)?) } else { None };
        sink.push(rid, Produced::Record(rid, score), decoded.as_ref())
    };
    let spend = |t: &mut Option<&mut Trial>| -> bool { t.as_mut().is_none_or(|t| t.spend()) };
    match &plan.access {
        Access::CollScan { reverse } => {
            let it: Box<dyn Iterator<Item = (u64, &RawDocument)>> =
                if *reverse { Box::new(coll.records().rev()) } else { Box::new(coll.records()) };
            let mut finished = true;
            for (rid, raw) in it {
                if !spend(&mut trial) {
                    finished = false;
                    break;
                }
                stats.docs_examined += 1;
                if !filter.matches_raw(raw)? {
                    continue;
                }
                let decoded = if needs_doc { Some(to_document(raw)?) } else { None };
                if !sink.push(rid, Produced::Record(rid, None), decoded.as_ref())? {
                    break;
                }
            }
            if let Some(t) = trial.as_mut() {
                t.exhausted = finished;
            }
        }
        Access::IdHack(id) => {
            if let Some((rid, _)) = coll.get_by_id(id) {
                stats.keys_examined += 1;
                fetch(rid, None, &mut stats, &mut sink)?;
            }
            if let Some(t) = trial.as_mut() {
                t.exhausted = true;
            }
        }
        Access::Index(scan) => {
            let multikey = scan.source.multikey();
            let mut seen: HashSet<u64> = HashSet::new();
            let mut stopped = false;
            // Records with equal sort values, gathered to come out in record-id order.
            let mut group: Vec<(u64, Vec<u8>)> = Vec::new();
            let mut group_key: Vec<u8> = Vec::new();
            let covered = plan.covered.is_some();
            let group_len = |entry: &[u8], n: usize| -> usize {
                let mut at = 0;
                for f in &scan.fields[..n.min(scan.fields.len())] {
                    match component_len(&entry[at..], f.descending) {
                        Some(l) => at += l,
                        None => return at,
                    }
                }
                at
            };
            let emit = |rid: u64, entry: &[u8], stats: &mut Stats, sink: &mut Sink<'_>| -> Result<bool, DocError> {
                if covered {
                    // Values from the key; a value the key cannot give back exactly (or a null,
                    // which may be a missing field) falls back to fetching the document.
                    if let Some(rebuilt) = rebuild(scan, entry) {
                        if !filter.matches(&rebuilt)? {
                            return Ok(true);
                        }
                        if q.count_only {
                            return sink.push(rid, Produced::Covered(Document::new()), Some(&rebuilt));
                        }
                        let projected = match q.projection {
                            Some(p) => p.apply(&rebuilt, Some(filter))?,
                            None => rebuilt.clone(),
                        };
                        return sink.push(rid, Produced::Covered(projected), Some(&rebuilt));
                    }
                }
                fetch(rid, None, stats, sink)
            };
            let keys = {
                let stats_ref = &mut stats;
                let sink_ref = &mut sink;
                let trial_ref = &mut trial;
                scan_entries(scan, &mut |rid, entry| {
                    if !spend(trial_ref) {
                        stopped = true;
                        return Ok(false);
                    }
                    if multikey && !seen.insert(rid) {
                        return Ok(true);
                    }
                    if let Some(n) = scan.sort_group.filter(|_| !matches!(scan.source, Source::Id(_))) {
                        let len = group_len(entry, n);
                        if entry[..len] != group_key[..] {
                            group.sort_by_key(|g| g.0);
                            for (r, e) in group.drain(..) {
                                if !emit(r, &e, stats_ref, sink_ref)? {
                                    stopped = true;
                                    return Ok(false);
                                }
                            }
                            group_key = entry[..len].to_vec();
                        }
                        group.push((rid, entry.to_vec()));
                        return Ok(true);
                    }
                    if !emit(rid, entry, stats_ref, sink_ref)? {
                        stopped = true;
                        return Ok(false);
                    }
                    Ok(true)
                })?
            };
            if !stopped {
                group.sort_by_key(|g| g.0);
                for (r, e) in group.drain(..) {
                    if !emit(r, &e, &mut stats, &mut sink)? {
                        break;
                    }
                }
            }
            stats.keys_examined += keys;
            if let Some(t) = trial.as_mut() {
                t.exhausted = !stopped;
            }
        }
        Access::Or(scans) => {
            let mut rids: Vec<u64> = Vec::new();
            let mut stopped = false;
            for scan in scans {
                let keys = scan_entries(scan, &mut |rid, _| {
                    if !spend(&mut trial) {
                        stopped = true;
                        return Ok(false);
                    }
                    rids.push(rid);
                    Ok(true)
                })?;
                stats.keys_examined += keys;
                if stopped {
                    break;
                }
            }
            rids.sort_unstable();
            rids.dedup();
            for rid in rids {
                if !fetch(rid, None, &mut stats, &mut sink)? {
                    break;
                }
            }
            if let Some(t) = trial.as_mut() {
                t.exhausted = !stopped;
            }
        }
        Access::Text { index, query } => {
            let mut scores: std::collections::BTreeMap<u64, f64> = std::collections::BTreeMap::new();
            for term in query.positive_terms() {
                let postings = index.text_postings(term);
                stats.keys_examined += postings.len() as u64;
                for (rid, s) in postings {
                    *scores.entry(rid).or_insert(0.0) += s;
                }
            }
            let spec = index.spec.text.as_ref().expect("a text index has a text spec");
            let rest = filter.without_text();
            for (rid, score) in scores {
                let Some(raw) = coll.get(rid) else { continue };
                stats.docs_examined += 1;
                if !query.accepts(spec, raw)? || !rest.matches_raw(raw)? {
                    continue;
                }
                let decoded = if needs_doc { Some(to_document(raw)?) } else { None };
                if !sink.push(rid, Produced::Record(rid, Some(score)), decoded.as_ref())? {
                    break;
                }
            }
            if let Some(t) = trial.as_mut() {
                t.exhausted = true;
            }
        }
    }
    let (docs, count) = sink.finish();
    stats.returned = count;
    Ok(Outcome { docs, count, stats })
}

// --- Explain -----------------------------------------------------------------------------------

fn ixscan_doc(scan: &IxScan<'_>, stats: Option<&Stats>) -> Document {
    let mut bounds = Document::new();
    for (f, b) in scan.fields.iter().zip(&scan.bounds) {
        bounds.insert(f.path.dotted.clone(), b.shown(f.descending != scan.reverse));
    }
    let (unique, sparse, partial) = match scan.source {
        Source::Id(_) => (true, false, false),
        Source::Secondary(i) => (i.spec.unique, i.spec.sparse, i.spec.partial.is_some()),
    };
    let mut multikey_paths = Document::new();
    for f in &scan.fields {
        multikey_paths
            .insert(f.path.dotted.clone(), if scan.source.multikey() { vec![Bson::String(f.path.dotted.clone())] } else { Vec::new() });
    }
    let mut d = doc! {
        "stage": "IXSCAN",
        "keyPattern": scan.source.key_pattern(),
        "indexName": scan.source.name(),
        "isMultiKey": scan.source.multikey(),
        "multiKeyPaths": multikey_paths,
        "isUnique": unique,
        "isSparse": sparse,
        "isPartial": partial,
        "indexVersion": 2,
        "direction": if scan.reverse { "backward" } else { "forward" },
        "indexBounds": bounds,
    };
    if let Some(s) = stats {
        d.insert("keysExamined", s.keys_examined as i64);
    }
    d
}

fn wrap(stage: &str, input: Document, extra: Document, stats: Option<&Stats>) -> Document {
    let mut d = doc! {"stage": stage};
    d.extend(extra);
    if let Some(s) = stats {
        d.insert("nReturned", s.returned as i64);
    }
    d.insert("inputStage", input);
    d
}

/// The plan tree in MongoDB's explain shape (with per-stage counters when `stats` is given).
fn plan_doc(plan: &Plan<'_>, q: &Query<'_>, filter_shown: &Document, stats: Option<&Stats>) -> Document {
    let filter_doc = |d: &mut Document| {
        if !q.filter.is_empty() {
            d.insert("filter", filter_shown.clone());
        }
        if let Some(s) = stats {
            d.insert("docsExamined", s.docs_examined as i64);
        }
    };
    let mut tree = match &plan.access {
        Access::CollScan { reverse } => {
            let mut d = doc! {"stage": "COLLSCAN", "direction": if *reverse { "backward" } else { "forward" }};
            filter_doc(&mut d);
            d
        }
        Access::IdHack(_) => {
            let mut d = doc! {"stage": "IDHACK"};
            if let Some(s) = stats {
                d.insert("keysExamined", s.keys_examined as i64);
                d.insert("docsExamined", s.docs_examined as i64);
            }
            d
        }
        Access::Index(scan) if plan.covered.is_some() => ixscan_doc(scan, stats),
        Access::Index(scan) => {
            let mut extra = Document::new();
            filter_doc(&mut extra);
            wrap("FETCH", ixscan_doc(scan, stats), extra, stats)
        }
        Access::Or(scans) => {
            let inputs: Vec<Bson> = scans.iter().map(|s| Bson::Document(ixscan_doc(s, None))).collect();
            let mut extra = Document::new();
            filter_doc(&mut extra);
            wrap("FETCH", doc! {"stage": "OR", "inputStages": inputs}, extra, stats)
        }
        Access::Text { index, query } => {
            let scan = doc! {"stage": "IXSCAN", "keyPattern": {"_fts": "text", "_ftsx": 1}, "indexName": index.spec.name.clone(), "isMultiKey": true, "direction": "backward"};
            let fetch = wrap("FETCH", doc! {"stage": "TEXT_OR", "inputStages": [scan]}, Document::new(), stats);
            let mut d = doc! {"stage": "TEXT_MATCH", "indexPrefix": {}, "indexName": index.spec.name.clone(), "parsedTextQuery": parsed_text_query(query), "textIndexVersion": 3};
            d.insert("inputStage", fetch);
            d
        }
    };
    let sorting = q.sort.is_some_and(|s| !s.is_empty() && s.natural().is_none()) && !plan.sorted_by_index;
    if sorting {
        let mut extra = doc! {"sortPattern": sort_pattern(q.sort), "memLimit": 104_857_600_i64, "type": "simple"};
        if q.limit > 0 {
            extra.insert("limitAmount", (q.limit + q.skip) as i64);
        }
        tree = wrap("SORT", tree, extra, stats);
    }
    // SKIP runs before LIMIT, so LIMIT is the outer stage.
    if q.skip > 0 {
        tree = wrap("SKIP", tree, doc! {"skipAmount": q.skip as i64}, stats);
    }
    if q.limit > 0 && !sorting {
        tree = wrap("LIMIT", tree, doc! {"limitAmount": q.limit as i64}, stats);
    }
    if q.count_only {
        // A count of a covered index scan reads only keys: MongoDB's COUNT_SCAN.
        if plan.covered.is_some() && tree.get_str("stage").ok() == Some("IXSCAN") && q.skip == 0 && q.limit == 0 {
            tree.insert("stage", "COUNT_SCAN");
        }
        tree = wrap("COUNT", tree, Document::new(), stats);
    } else if let Some(p) = q.projection {
        let stage = if plan.covered.is_some() {
            "PROJECTION_COVERED"
        } else if p.included_paths().is_some() {
            "PROJECTION_SIMPLE"
        } else {
            "PROJECTION_DEFAULT"
        };
        tree = wrap(stage, tree, doc! {"transformBy": {}}, stats);
    }
    if let Some(s) = stats {
        tree.insert("nReturned", s.returned as i64);
        tree.insert("executionTimeMillisEstimate", s.millis as i64);
    }
    tree
}

fn parsed_text_query(q: &TextQuery) -> Document {
    doc! {
        "terms": q.positive_terms().to_vec(),
        "negatedTerms": q.negated_terms().map(str::to_string).collect::<Vec<_>>(),
        "phrases": q.phrases().to_vec(),
        "negatedPhrases": q.negated_phrases().to_vec(),
    }
}

fn sort_pattern(sort: Option<&Sort>) -> Document {
    let mut d = Document::new();
    for f in sort.map(Sort::fields).unwrap_or(&[]) {
        match &f.kind {
            SortKind::Field { ascending, .. } => {
                d.insert(f.name.clone(), if *ascending { 1 } else { -1 });
            }
            SortKind::TextScore => {
                d.insert(f.name.clone(), doc! {"$meta": "textScore"});
            }
            SortKind::Natural { ascending } => {
                d.insert("$natural", if *ascending { 1 } else { -1 });
            }
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bounds(pred: Pred) -> FieldBounds {
        pred_bounds(&pred).expect("bounded")
    }

    #[test]
    fn successor_and_cuts() {
        assert_eq!(successor(&[1, 2]), Some(vec![1, 3]));
        assert_eq!(successor(&[1, 0xFF]), Some(vec![2]));
        assert_eq!(successor(&[0xFF, 0xFF]), None);
        // Inverting swaps Before and After: everything starting with the bytes is inside.
        let k = key(&Bson::Int32(5));
        let inv: Vec<u8> = k.iter().map(|b| !b).collect();
        assert_eq!(Cut::After(k.clone()).inverted(), Some(inv.clone()));
        assert_eq!(Cut::Before(k).inverted(), successor(&inv));
    }

    #[test]
    fn ranges_intersect_within_their_type_and_show_as_mongodb_does() {
        let gte = bounds(Pred::Cmp(CmpOp::Gte, Bson::Int32(3)));
        let lt = bounds(Pred::Cmp(CmpOp::Lt, Bson::Double(5.5)));
        let both = gte.intersect(&lt);
        assert_eq!(both.shown(false), Bson::Array(vec![Bson::String("[3, 5.5)".into())]));
        assert_eq!(both.shown(true), Bson::Array(vec![Bson::String("(5.5, 3]".into())]));
        assert!(both.contains(&key(&Bson::Int64(4))) && both.contains(&key(&Bson::Double(3.0))));
        assert!(!both.contains(&key(&Bson::Double(5.5))) && !both.contains(&key(&Bson::String("4".into()))));
        let gt = bounds(Pred::Cmp(CmpOp::Gt, Bson::Int32(1)));
        assert_eq!(gt.shown(false), Bson::Array(vec![Bson::String("(1, inf.0]".into())]));
        // Disjoint: empty.
        assert!(bounds(Pred::Cmp(CmpOp::Gt, Bson::Int32(9))).intersect(&lt).intervals.is_empty());
        // A point inside a range stays a point.
        let p = bounds(Pred::Eq(Bson::Int32(4))).intersect(&both);
        assert!(p.points().is_some_and(|p| p.len() == 1));
    }

    #[test]
    fn in_sets_are_sorted_points_with_null() {
        let set = Filter::parse(
            &doc! {"a": {"$in": [3, "x", 1, null]}},
            &super::super::super::expr::Variables::new(bson::DateTime::from_millis(0)),
        )
        .unwrap();
        let mut conj = Vec::new();
        conjuncts(set.root(), &mut conj);
        let Node::Leaf { pred, .. } = conj[0] else { panic!("a leaf") };
        let b = bounds(pred.clone());
        assert_eq!(b.points().map(|p| p.len()), Some(4));
        assert_eq!(
            b.shown(false),
            Bson::Array(["[null, null]", "[1, 1]", "[3, 3]", "[\"x\", \"x\"]"].map(|s| Bson::String(s.into())).to_vec())
        );
    }

    #[test]
    fn anchored_regexes_give_prefix_ranges() {
        assert_eq!(regex_prefix("^abc", ""), Some("abc".into()));
        assert_eq!(regex_prefix("^ab.d", ""), Some("ab".into()));
        assert_eq!(regex_prefix("^abc?", ""), Some("ab".into()));
        assert_eq!(regex_prefix("^a|b", ""), None);
        assert_eq!(regex_prefix("^ab.*|x", ""), None);
        assert_eq!(regex_prefix("abc", ""), None);
        assert_eq!(regex_prefix("^abc", "i"), None);
        assert_eq!(regex_prefix("^abc", "m"), None);
    }
}
