//! Secondary indexes never change a query's answer: property test of the query planner and the
//! index scans against a collection scan of the same collection.
//!
//! Each case builds a small collection (`_id` 0..n; fields `a`, `b`, `c` each missing, null, a
//! small int or long, a double, a short string, a bool, an array of up to 3 such values or
//! `{x: int}` documents, or a `{x: int}` document), creates 1-3 random secondary indexes (a
//! random subset and order of `a`, `b`, `c`, `"c.x"`, directions ±1, some `sparse: true`, some
//! `unique: true`) —
//! half the documents inserted before the indexes exist and half after — applies random
//! updates (`$set` / `$unset`, single and multi) and deletes, then runs random queries (a
//! filter from a small grammar: equality, null, ranges, `$in`, `$nin`, `$ne`, `$exists`, whole
//! arrays and embedded documents, `$and` / `$or`, the nested path `c.x`; an optional sort that
//! always ends with `_id: 1` so the expected order is fully determined; optional skip and
//! limit) as `find`:
//!
//! - (a) without a hint (the planner's choice),
//! - (b) hinted with each index that was created, by name,
//! - (c) hinted `{$natural: 1}` (a collection scan): the expected answer.
//!
//! Sorted answers must be equal element by element; unsorted ones equal as multisets (by
//! `_id`); unsorted with skip/limit, of the right size and drawn from the unlimited answer
//! without repeats. `find_one_raw` of an unsorted query (the Python client's `find_one`: point
//! lookups in an index, by hash in a unique one) must return one of the scan's documents, or none when the
//! scan finds none. A hinted *sparse* index legitimately omits the documents it does not index
//! (MongoDB documents this), so there only "a subset, in the same order" is checked. `count`
//! (unhinted and hinted with each non-sparse index) must agree with (c) as well.
//!
//! Creating a compound index may legitimately fail with 171 (CannotIndexParallelArrays) when a
//! document holds arrays in two of its fields, and a unique one with 11000 when two documents
//! share a key: that index is then skipped (later writes a unique index refuses are refused). Writes may fail for
//! the same reason (or, for `$set` of `c.x` under a scalar `c`, with a path error): every answer
//! is compared with the collection as it is, so a refused write needs no model.
//!
//! Environment: `NESTDB_PROPTEST_CASES=<n>` (default 256); proptest's `PROPTEST_*` variables
//! apply as usual.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use nestdb::bson::{Bson, Document};
use nestdb::{doc, Db};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

const DB: &str = "test";
const COLL: &str = "c";
const MAX_DOCS: usize = 60;
const FIELDS: [&str; 3] = ["a", "b", "c"];
const PATHS: [&str; 4] = ["a", "b", "c", "c.x"];

fn cases() -> u32 {
    std::env::var("NESTDB_PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256)
}

// --- the generated case ----------------------------------------------------------------------

#[derive(Clone, Debug)]
struct IndexSpec {
    keys: Vec<(&'static str, i32)>,
    sparse: bool,
    unique: bool,
}

impl IndexSpec {
    /// MongoDB's (and the drivers') default name: `a_1_c.x_-1`.
    fn name(&self) -> String {
        self.keys.iter().map(|(k, d)| format!("{k}_{d}")).collect::<Vec<_>>().join("_")
    }

    fn spec(&self) -> Document {
        let mut key = Document::new();
        for (k, d) in &self.keys {
            key.insert(*k, *d);
        }
        let mut spec = doc! {"key": key, "name": self.name()};
        if self.sparse {
            spec.insert("sparse", true);
        }
        if self.unique {
            spec.insert("unique", true);
        }
        spec
    }
}

#[derive(Clone, Debug)]
enum Op {
    Set { id: i32, path: &'static str, value: Bson },
    Unset { id: i32, field: &'static str },
    SetMany { filter: Document, field: &'static str, value: Bson },
    Delete { id: i32 },
    DeleteMany { filter: Document },
}

impl Op {
    fn command(&self) -> Document {
        match self {
            Op::Set { id, path, value } => {
                let mut set = Document::new();
                set.insert(*path, value.clone());
                doc! {"update": COLL, "updates": [{"q": {"_id": id}, "u": {"$set": set}}]}
            }
            Op::Unset { id, field } => {
                let mut unset = Document::new();
                unset.insert(*field, "");
                doc! {"update": COLL, "updates": [{"q": {"_id": id}, "u": {"$unset": unset}}]}
            }
            Op::SetMany { filter, field, value } => {
                let mut set = Document::new();
                set.insert(*field, value.clone());
                doc! {"update": COLL, "updates": [{"q": filter.clone(), "u": {"$set": set}, "multi": true}]}
            }
            Op::Delete { id } => doc! {"delete": COLL, "deletes": [{"q": {"_id": id}, "limit": 1}]},
            Op::DeleteMany { filter } => doc! {"delete": COLL, "deletes": [{"q": filter.clone(), "limit": 0}]},
        }
    }
}

#[derive(Clone, Debug)]
struct Query {
    filter: Document,
    sort: Option<Document>,
    skip: i64,
    limit: i64,
}

#[derive(Clone, Debug)]
struct Case {
    docs: Vec<Document>,
    inserted_first: usize,
    indexes: Vec<IndexSpec>,
    ops: Vec<Op>,
    queries: Vec<Query>,
}

// --- strategies ------------------------------------------------------------------------------

fn scalar() -> BoxedStrategy<Bson> {
    prop_oneof![
        2 => Just(Bson::Null),
        4 => (-3i32..=3).prop_map(Bson::Int32),
        1 => (-3i64..=3).prop_map(Bson::Int64),
        2 => prop::sample::select(vec![1.5f64, 2.0, -0.5, 0.0, -3.0]).prop_map(Bson::Double),
        // Numbers that differ only beyond a double's precision (Decimal128 and int64 against
        // the nearest double) or are equal across types.
        2 => prop::sample::select(vec![
            Bson::Double(9.99),
            Bson::Decimal128("9.99".parse().unwrap()),
            Bson::Decimal128("2.0".parse().unwrap()),
            Bson::Decimal128("-0.50".parse().unwrap()),
            Bson::Double(9007199254740992.0),
            Bson::Int64(9007199254740993),
            Bson::Decimal128("9007199254740993".parse().unwrap()),
            Bson::Decimal128("1E+400".parse().unwrap()),
            Bson::Decimal128("-1E-400".parse().unwrap()),
        ]),
        3 => prop::sample::select(vec!["", "a", "b", "ab"]).prop_map(|s| Bson::String(s.to_string())),
        1 => any::<bool>().prop_map(Bson::Boolean),
    ]
    .boxed()
}

fn sub_doc() -> BoxedStrategy<Bson> {
    (-3i32..=3).prop_map(|x| Bson::Document(doc! {"x": x})).boxed()
}

/// A present field value.
fn value() -> BoxedStrategy<Bson> {
    prop_oneof![
        6 => scalar(),
        2 => prop::collection::vec(prop_oneof![4 => scalar(), 1 => sub_doc()], 0..=3).prop_map(Bson::Array),
        2 => sub_doc(),
    ]
    .boxed()
}

/// A field: missing (`None`) or a value.
fn field() -> BoxedStrategy<Option<Bson>> {
    prop_oneof![1 => Just(None), 4 => value().prop_map(Some)].boxed()
}

/// Values no two of which are equal as index keys (MongoDB equality): in a third of the cases
/// every document's `a` is a different one of them (then `{a: 1}` can be unique).
fn distinct_values() -> Vec<Bson> {
    let mut v: Vec<Bson> = (-3..=3).map(Bson::Int32).collect();
    v.extend([1.5, -0.5].map(Bson::Double));
    v.extend(["", "a", "b", "ab"].map(|s| Bson::String(s.into())));
    v.extend([Bson::Boolean(true), Bson::Boolean(false), Bson::Int64(9007199254740993), Bson::Double(9.99)]);
    v.extend(["9.99", "1E+400", "-1E-400"].map(|d| Bson::Decimal128(d.parse().unwrap())));
    v.extend((-3..=3).map(|x| Bson::Document(doc! {"x": x})));
    // Arrays of values no other document has (a multikey unique index).
    v.extend((0..4).map(|k| Bson::Array(vec![Bson::Int32(10 + 2 * k), Bson::String(format!("s{k}"))])));
    v
}

fn documents() -> impl Strategy<Value = Vec<Document>> {
    let distinct = prop::bool::weighted(0.35).prop_flat_map(|distinct| {
        let n = distinct_values().len();
        (Just(distinct), Just((0..n).collect::<Vec<usize>>()).prop_shuffle())
    });
    (prop::collection::vec((field(), field(), field()), 0..MAX_DOCS), distinct).prop_map(|(rows, (distinct, order))| {
        let values = distinct_values();
        rows.into_iter()
            .enumerate()
            .map(|(i, (a, b, c))| {
                let mut d = doc! {"_id": i as i32};
                let a = match distinct {
                    // Past the distinct values, numbers no query asks for.
                    true => Some(order.get(i).map_or(Bson::Int32(100 + i as i32), |&k| values[k].clone())),
                    false => a,
                };
                for (name, v) in FIELDS.iter().zip([a, b, c]) {
                    if let Some(v) = v {
                        d.insert(*name, v);
                    }
                }
                d
            })
            .collect()
    })
}

fn direction() -> impl Strategy<Value = i32> {
    prop_oneof![Just(1), Just(-1)]
}

fn index_spec() -> impl Strategy<Value = IndexSpec> {
    let any_index = (
        prop::sample::subsequence(PATHS.to_vec(), 1..=3).prop_shuffle(),
        prop::collection::vec(direction(), 3),
        prop::bool::weighted(0.25),
        prop::bool::weighted(0.1),
    )
        .prop_map(|(paths, dirs, sparse, unique)| IndexSpec { keys: paths.into_iter().zip(dirs).collect(), sparse, unique });
    // Unique on `a` alone: point lookups by hash when `a` holds distinct values.
    let unique_a =
        (direction(), prop::bool::weighted(0.25)).prop_map(|(d, sparse)| IndexSpec { keys: vec![("a", d)], sparse, unique: true });
    prop_oneof![4 => any_index, 1 => unique_a]
}

fn one_key(key: &str, value: Bson) -> Document {
    let mut d = Document::new();
    d.insert(key, value);
    d
}

/// The right-hand side of `{path: <condition>}`.
fn condition() -> BoxedStrategy<Bson> {
    let cmp = || prop::sample::select(vec!["$gt", "$gte", "$lt", "$lte"]);
    prop_oneof![
        4 => scalar(),
        1 => sub_doc(),
        1 => prop::collection::vec(scalar(), 0..=2).prop_map(Bson::Array),
        1 => scalar().prop_map(|v| Bson::Document(one_key("$eq", v))),
        4 => (cmp(), scalar()).prop_map(|(op, v)| Bson::Document(one_key(op, v))),
        2 => (prop::sample::select(vec!["$gt", "$gte"]), scalar(), prop::sample::select(vec!["$lt", "$lte"]), scalar()).prop_map(
            |(lo, lv, hi, hv)| {
                let mut d = one_key(lo, lv);
                d.insert(hi, hv);
                Bson::Document(d)
            }
        ),
        2 => prop::collection::vec(scalar(), 0..=3).prop_map(|v| Bson::Document(doc! {"$in": v})),
        1 => prop::collection::vec(scalar(), 0..=3).prop_map(|v| Bson::Document(doc! {"$nin": v})),
        1 => scalar().prop_map(|v| Bson::Document(doc! {"$ne": v})),
        1 => any::<bool>().prop_map(|b| Bson::Document(doc! {"$exists": b})),
    ]
    .boxed()
}

fn leaf() -> BoxedStrategy<Document> {
    (prop::sample::select(PATHS.to_vec()), condition()).prop_map(|(p, c)| one_key(p, c)).boxed()
}

fn filter() -> BoxedStrategy<Document> {
    let tree = leaf().prop_recursive(2, 10, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 1..=3).prop_map(|v| doc! {"$and": v.into_iter().map(Bson::Document).collect::<Vec<_>>()}),
            prop::collection::vec(inner.clone(), 1..=3).prop_map(|v| doc! {"$or": v.into_iter().map(Bson::Document).collect::<Vec<_>>()}),
            // Two conditions side by side in one document (an implicit $and) when their keys differ.
            (inner.clone(), inner).prop_map(|(x, y)| {
                if x.keys().any(|k| y.contains_key(k)) {
                    doc! {"$and": [x, y]}
                } else {
                    let mut d = x;
                    d.extend(y);
                    d
                }
            }),
        ]
    });
    prop_oneof![1 => Just(Document::new()), 9 => tree].boxed()
}

fn sort() -> impl Strategy<Value = Option<Document>> {
    prop_oneof![
        1 => Just(None),
        // With or without a trailing `_id`: nestdb orders ties in record (insertion) order
        // whichever plan runs, so even a sort with ties has one right answer.
        2 => (prop::sample::subsequence(FIELDS.to_vec(), 1..=2).prop_shuffle(), prop::collection::vec(direction(), 2), any::<bool>())
            .prop_map(|(fields, dirs, by_id)| {
                let mut d = Document::new();
                for (f, dir) in fields.into_iter().zip(dirs) {
                    d.insert(f, dir);
                }
                if by_id {
                    d.insert("_id", 1);
                }
                Some(d)
            }),
    ]
}

fn query() -> impl Strategy<Value = Query> {
    (filter(), sort(), prop_oneof![2 => Just(0i64), 1 => 0i64..=5], prop_oneof![2 => Just(0i64), 1 => 0i64..=10])
        .prop_map(|(filter, sort, skip, limit)| Query { filter, sort, skip, limit })
}

fn op() -> impl Strategy<Value = Op> {
    let id = 0i32..MAX_DOCS as i32;
    prop_oneof![
        4 => (id.clone(), prop::sample::select(PATHS.to_vec()), value()).prop_map(|(id, path, value)| Op::Set { id, path, value }),
        2 => (id.clone(), prop::sample::select(FIELDS.to_vec())).prop_map(|(id, field)| Op::Unset { id, field }),
        1 => (leaf(), prop::sample::select(FIELDS.to_vec()), value()).prop_map(|(filter, field, value)| Op::SetMany { filter, field, value }),
        2 => id.prop_map(|id| Op::Delete { id }),
        1 => leaf().prop_map(|filter| Op::DeleteMany { filter }),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    (
        documents(),
        0usize..=MAX_DOCS,
        prop::collection::vec(index_spec(), 1..=3),
        prop::collection::vec(op(), 0..10),
        prop::collection::vec(query(), 1..=3),
    )
        .prop_map(|(docs, split, indexes, ops, queries)| Case { inserted_first: split.min(docs.len()), docs, indexes, ops, queries })
}

// --- running ---------------------------------------------------------------------------------

fn number(v: Option<&Bson>) -> Option<i64> {
    match v? {
        Bson::Int32(n) => Some(i64::from(*n)),
        Bson::Int64(n) => Some(*n),
        Bson::Double(f) if f.fract() == 0.0 => Some(*f as i64),
        _ => None,
    }
}

fn is_ok(reply: &Document) -> bool {
    matches!(reply.get("ok"), Some(Bson::Double(x)) if *x == 1.0) || number(reply.get("ok")) == Some(1)
}

fn id_of(d: &Document) -> i64 {
    number(d.get("_id")).expect("every generated document has an integer _id")
}

fn describe(case: &Case, created: &[IndexSpec]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "documents ({} inserted before the indexes):", case.inserted_first);
    for d in &case.docs {
        let _ = writeln!(s, "  {d}");
    }
    let _ = writeln!(s, "indexes requested:");
    for ix in &case.indexes {
        let _ = writeln!(s, "  {}", ix.spec());
    }
    let _ = writeln!(s, "indexes created: {:?}", created.iter().map(IndexSpec::name).collect::<Vec<_>>());
    let _ = writeln!(s, "writes after the inserts:");
    for op in &case.ops {
        let _ = writeln!(s, "  {}", op.command());
    }
    s
}

fn describe_query(q: &Query) -> String {
    format!(
        "filter {}  sort {}  skip {}  limit {}",
        q.filter,
        q.sort.as_ref().map_or_else(|| "-".to_string(), Document::to_string),
        q.skip,
        q.limit
    )
}

fn show(docs: &[Document]) -> String {
    let mut s = String::new();
    for d in docs {
        let _ = writeln!(s, "    {d}");
    }
    if docs.is_empty() {
        s.push_str("    (none)\n");
    }
    s
}

/// `find` with everything returned in the first batch; `Err(reply)` for an error reply.
fn find(db: &Db, q: &Query, hint: Option<Bson>, windowed: bool) -> Result<Vec<Document>, Document> {
    let mut cmd = doc! {"find": COLL, "filter": q.filter.clone(), "batchSize": 1_000_000};
    if let Some(sort) = &q.sort {
        cmd.insert("sort", sort.clone());
    }
    if windowed && q.skip > 0 {
        cmd.insert("skip", q.skip);
    }
    if windowed && q.limit > 0 {
        cmd.insert("limit", q.limit);
    }
    if let Some(h) = hint {
        cmd.insert("hint", h);
    }
    let reply = db.run_command(DB, &cmd);
    if !is_ok(&reply) {
        return Err(reply);
    }
    let Ok(cursor) = reply.get_document("cursor") else { return Err(reply) };
    if number(cursor.get("id")) != Some(0) {
        return Err(reply);
    }
    let Ok(batch) = cursor.get_array("firstBatch") else { return Err(reply) };
    batch.iter().map(|d| d.as_document().cloned().ok_or_else(|| reply.clone())).collect()
}

fn count(db: &Db, filter: &Document, hint: Option<&str>) -> Result<i64, Document> {
    let mut cmd = doc! {"count": COLL, "query": filter.clone()};
    if let Some(h) = hint {
        cmd.insert("hint", h);
    }
    let reply = db.run_command(DB, &cmd);
    if !is_ok(&reply) {
        return Err(reply);
    }
    number(reply.get("n")).ok_or(reply)
}

fn sorted_by_id(docs: &[Document]) -> Vec<Document> {
    let mut v = docs.to_vec();
    v.sort_by_key(id_of);
    v
}

/// `got` holds no `_id` twice and every document of it is in `full` (the unlimited answer), as is.
fn check_drawn_from(got: &[Document], full: &BTreeMap<i64, Document>) -> Result<(), String> {
    let mut seen = BTreeSet::new();
    for d in got {
        let id = id_of(d);
        if !seen.insert(id) {
            return Err(format!("_id {id} returned twice"));
        }
        match full.get(&id) {
            Some(e) if e == d => {}
            Some(e) => return Err(format!("_id {id} returned as {d}, stored as {e}")),
            None => return Err(format!("_id {id} does not match the filter (a collection scan does not return it)")),
        }
    }
    Ok(())
}

/// Compare one answer with the collection scan's. `full` is the unlimited scan (sorted when the
/// query is), `expected` the scan with the query's skip and limit.
fn compare(q: &Query, got: &[Document], expected: &[Document], full: &[Document], sparse: bool) -> Result<(), String> {
    let full_map: BTreeMap<i64, Document> = full.iter().map(|d| (id_of(d), d.clone())).collect();
    check_drawn_from(got, &full_map)?;
    if sparse {
        // A hinted sparse index returns the indexed documents only: a subset, in sort order.
        if q.limit > 0 && got.len() as i64 > q.limit {
            return Err(format!("{} documents for limit {}", got.len(), q.limit));
        }
        if q.sort.is_some() {
            let order: BTreeMap<i64, usize> = full.iter().enumerate().map(|(i, d)| (id_of(d), i)).collect();
            let positions: Vec<usize> = got.iter().map(|d| order[&id_of(d)]).collect();
            if positions.windows(2).any(|w| w[0] >= w[1]) {
                return Err("documents out of sort order".into());
            }
        }
        return Ok(());
    }
    let windowed = q.skip > 0 || q.limit > 0;
    match (q.sort.is_some(), windowed) {
        (true, _) => {
            if got != expected {
                return Err("differs from the collection scan (sorted: must be equal element by element)".into());
            }
        }
        (false, false) => {
            if sorted_by_id(got) != sorted_by_id(expected) {
                return Err("differs from the collection scan (as a set of documents)".into());
            }
        }
        (false, true) => {
            let total = full.len() as i64;
            let mut want = (total - q.skip).max(0);
            if q.limit > 0 {
                want = want.min(q.limit);
            }
            if got.len() as i64 != want {
                return Err(format!("{} documents, expected {want} ({total} match, skip {}, limit {})", got.len(), q.skip, q.limit));
            }
        }
    }
    Ok(())
}

/// `find_one_raw` of `q`'s filter returns one of the documents of `full` (the collection scan's
/// answer), or none when it is empty.
fn check_find_one(db: &Db, q: &Query, full: &[Document], context: &dyn Fn() -> String) -> Result<(), TestCaseError> {
    let one = db.database(DB).collection::<Document>(COLL).find_one_raw(&q.filter, None);
    match one.map(|d| d.map(|d| Document::try_from(d.as_ref()))) {
        Ok(Some(Ok(d))) => prop_assert!(full.contains(&d), "find_one gave {d}, which the collection scan does not find\n{}", context()),
        Ok(None) => prop_assert!(full.is_empty(), "find_one found nothing; the collection scan finds {}\n{}", full.len(), context()),
        Ok(Some(Err(e))) => return Err(TestCaseError::fail(format!("find_one gave undecodable bytes: {e}\n{}", context()))),
        Err(e) => return Err(TestCaseError::fail(format!("find_one failed: {e}\n{}", context()))),
    }
    Ok(())
}

fn run_case(case: &Case) -> Result<(), TestCaseError> {
    let db = Db::open_in_memory();
    let insert = |docs: &[Document]| -> Result<(), TestCaseError> {
        if docs.is_empty() {
            return Ok(());
        }
        let reply = db.run_command(DB, &doc! {"insert": COLL, "documents": docs.to_vec(), "ordered": false});
        prop_assert!(is_ok(&reply), "insert failed: {reply}");
        Ok(())
    };
    insert(&case.docs[..case.inserted_first])?;

    let mut created: Vec<IndexSpec> = Vec::new();
    let mut names = BTreeSet::new();
    for ix in &case.indexes {
        if !names.insert(ix.name()) {
            continue; // same key pattern twice (maybe with another sparse flag): one is enough
        }
        let reply = db.run_command(DB, &doc! {"createIndexes": COLL, "indexes": [ix.spec()]});
        if is_ok(&reply) {
            created.push(ix.clone());
        } else {
            let code = number(reply.get("code"));
            prop_assert!(
                code == Some(171) || (ix.unique && code == Some(11000)),
                "createIndexes {} failed with something other than CannotIndexParallelArrays or a duplicate key: {reply}\n{}",
                ix.spec(),
                describe(case, &created)
            );
        }
    }

    insert(&case.docs[case.inserted_first..])?;
    for op in &case.ops {
        let reply = db.run_command(DB, &op.command());
        prop_assert!(is_ok(&reply), "write {} failed as a command: {reply}\n{}", op.command(), describe(case, &created));
    }

    // Point lookups: `{a: v}` for each value `a` may hold (and one it never holds), when `a`
    // has an index of its own (by hash when it is unique).
    if created.iter().any(|ix| ix.keys.len() == 1 && ix.keys[0].0 == "a" && !ix.sparse) {
        for v in distinct_values().into_iter().chain([Bson::Int32(100), Bson::String("none".into())]) {
            let values = match v {
                Bson::Array(a) => a,
                v => vec![v],
            };
            for v in values {
                let q = Query { filter: one_key("a", v), sort: None, skip: 0, limit: 0 };
                let full = find(&db, &q, Some(Bson::Document(doc! {"$natural": 1})), false)
                    .map_err(|reply| TestCaseError::fail(format!("collection scan failed: {reply}")))?;
                check_find_one(&db, &q, &full, &|| format!("{}point lookup: {}", describe(case, &created), describe_query(&q)))?;
            }
        }
    }

    for q in &case.queries {
        let context = || format!("{}query: {}", describe(case, &created), describe_query(q));
        let natural = Some(Bson::Document(doc! {"$natural": 1}));
        let mut runs: Vec<(String, Option<Bson>, bool)> = vec![("no hint (the planner's choice)".into(), None, false)];
        for ix in &created {
            runs.push((
                format!("hint {:?}{}", ix.name(), if ix.sparse { " (sparse)" } else { "" }),
                Some(Bson::String(ix.name())),
                ix.sparse,
            ));
        }
        let full = match find(&db, q, natural.clone(), false) {
            Ok(v) => v,
            Err(reply) if number(reply.get("code")) == Some(2) => {
                // A matching document's sort fields are parallel arrays: MongoDB's sort refuses
                // it (error 2), so must every plan that sorts the same documents. (No index can
                // hand out that order, since none can index parallel arrays; a sparse index may
                // leave the document out and then sorts the rest.)
                for (label, hint, sparse) in &runs {
                    match find(&db, q, hint.clone(), true) {
                        Err(r) if number(r.get("code")) == Some(2) => {}
                        Ok(_) if *sparse => {}
                        other => {
                            return Err(TestCaseError::fail(format!(
                                "{label}: the collection scan refuses this sort (parallel arrays), this run gave {other:?}\n{}",
                                context()
                            )))
                        }
                    }
                }
                continue;
            }
            Err(reply) => return Err(TestCaseError::fail(format!("collection scan failed: {reply}\n{}", context()))),
        };
        let expected = match find(&db, q, natural, true) {
            Ok(v) => v,
            Err(reply) => return Err(TestCaseError::fail(format!("collection scan failed: {reply}\n{}", context()))),
        };

        for (label, hint, sparse) in runs {
            let got = match find(&db, q, hint, true) {
                Ok(v) => v,
                Err(reply) => return Err(TestCaseError::fail(format!("{label}: find failed: {reply}\n{}", context()))),
            };
            if let Err(why) = compare(q, &got, &expected, &full, sparse) {
                return Err(TestCaseError::fail(format!(
                    "{label}: {why}\n{}\nanswer ({}):\n{}collection scan ({}):\n{}",
                    context(),
                    got.len(),
                    show(&got),
                    expected.len(),
                    show(&expected)
                )));
            }
        }

        if q.sort.is_none() {
            check_find_one(&db, q, &full, &context)?;
        }

        let want = full.len() as i64;
        let mut count_hints: Vec<Option<String>> = vec![None];
        count_hints.extend(created.iter().filter(|ix| !ix.sparse).map(|ix| Some(ix.name())));
        for hint in count_hints {
            match count(&db, &q.filter, hint.as_deref()) {
                Ok(n) => prop_assert!(n == want, "count (hint {hint:?}) = {n}, the collection scan finds {want}\n{}", context()),
                Err(reply) => return Err(TestCaseError::fail(format!("count (hint {hint:?}) failed: {reply}\n{}", context()))),
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn index_scans_agree_with_collection_scans(case in case()) {
        run_case(&case)?;
    }
}

/// A fixed case that needs every piece at once (so a failure is readable without shrinking):
/// multikey arrays, nulls and missing fields, a compound index, a sparse index, a sort.
#[test]
fn a_fixed_mixed_case() {
    let docs = vec![
        doc! {"_id": 0, "a": 1, "b": "a"},
        doc! {"_id": 1, "a": [1, 2], "b": Bson::Null},
        doc! {"_id": 2, "a": Bson::Null, "c": {"x": 1}},
        doc! {"_id": 3, "b": 2.0, "c": [{"x": 2}, 3]},
        doc! {"_id": 4, "a": [], "b": "ab"},
        doc! {"_id": 5, "a": 2_i64, "b": true, "c": {"x": -1}},
        doc! {"_id": 6, "a": "ab", "c": Bson::Null},
    ];
    let case = Case {
        inserted_first: 3,
        docs,
        indexes: vec![
            IndexSpec { keys: vec![("a", 1), ("b", -1)], sparse: false, unique: false },
            IndexSpec { keys: vec![("c.x", 1)], sparse: true, unique: false },
            IndexSpec { keys: vec![("b", 1)], sparse: false, unique: false },
        ],
        ops: vec![Op::Set { id: 0, path: "a", value: Bson::Int32(3) }, Op::Unset { id: 5, field: "b" }, Op::Delete { id: 6 }],
        queries: vec![
            Query { filter: doc! {"a": {"$gte": 1}}, sort: Some(doc! {"a": -1, "_id": 1}), skip: 0, limit: 0 },
            Query { filter: doc! {"a": Bson::Null}, sort: None, skip: 0, limit: 0 },
            Query {
                filter: doc! {"$or": [{"c.x": {"$lt": 2}}, {"b": {"$exists": false}}]},
                sort: Some(doc! {"b": 1, "_id": 1}),
                skip: 1,
                limit: 3,
            },
            Query { filter: doc! {"b": {"$in": [1, Bson::Null]}}, sort: None, skip: 1, limit: 2 },
        ],
    };
    if let Err(e) = run_case(&case) {
        panic!("{e}");
    }
}
