//! Secondary indexes (issue 8) through `run_command`: definitions (createIndexes,
//! listIndexes, dropIndexes), maintenance and unique enforcement, the planner's choices and
//! explain, TTL, text search, and durability of index definitions.

use nestdb::bson::{Bson, Document};
use nestdb::{doc, Db};

fn ok(reply: &Document) {
    assert_eq!(reply.get_f64("ok").ok(), Some(1.0), "{reply}");
}

fn code(reply: &Document) -> i32 {
    assert_eq!(reply.get_f64("ok").ok(), Some(0.0), "expected an error: {reply}");
    reply.get_i32("code").unwrap()
}

fn batch(reply: &Document) -> Vec<Document> {
    ok(reply);
    reply.get_document("cursor").unwrap().get_array("firstBatch").unwrap().iter().map(|d| d.as_document().unwrap().clone()).collect()
}

fn find(db: &Db, cmd: Document) -> Vec<Document> {
    let mut c = doc! {"find": "c", "batchSize": 1_000_000};
    c.extend(cmd);
    batch(&db.run_command("t", &c))
}

fn ids(docs: &[Document]) -> Vec<Bson> {
    docs.iter().map(|d| d.get("_id").cloned().unwrap()).collect()
}

fn create(db: &Db, indexes: Vec<Document>) -> Document {
    db.run_command("t", &doc! {"createIndexes": "c", "indexes": indexes})
}

/// Every stage named `stage` in an explain tree.
fn stages<'a>(d: &'a Document, stage: &str, out: &mut Vec<&'a Document>) {
    if d.get_str("stage").ok() == Some(stage) {
        out.push(d);
    }
    for (_, v) in d {
        match v {
            Bson::Document(sub) => stages(sub, stage, out),
            Bson::Array(a) => a.iter().filter_map(Bson::as_document).for_each(|s| stages(s, stage, out)),
            _ => {}
        }
    }
}

fn explain(db: &Db, find: Document) -> Document {
    let mut f = doc! {"find": "c"};
    f.extend(find);
    let r = db.run_command("t", &doc! {"explain": f, "verbosity": "executionStats"});
    ok(&r);
    r
}

fn seed(db: &Db, n: i32) {
    let docs: Vec<Document> = (0..n).map(|i| doc! {"_id": i, "a": i % 10, "b": format!("s{}", i % 7), "k": i}).collect();
    ok(&db.run_command("t", &doc! {"insert": "c", "documents": docs}));
}

#[test]
fn create_list_and_drop_indexes() {
    let db = Db::open_in_memory();
    seed(&db, 20);
    let r = create(&db, vec![doc! {"key": {"a": 1}, "name": "a_1"}, doc! {"key": {"b": -1, "a": 1}, "name": "b_-1_a_1", "unique": false}]);
    ok(&r);
    assert_eq!((r.get_i32("numIndexesBefore").unwrap(), r.get_i32("numIndexesAfter").unwrap()), (1, 3));
    // Same again: nothing to do.
    let r = create(&db, vec![doc! {"key": {"a": 1}, "name": "a_1"}]);
    assert_eq!(r.get_str("note").unwrap(), "all indexes already exist");
    // Same key, other name; same name, other key: conflicts.
    assert_eq!(code(&create(&db, vec![doc! {"key": {"a": 1}, "name": "other"}])), 85);
    assert_eq!(code(&create(&db, vec![doc! {"key": {"k": 1}, "name": "a_1"}])), 86);
    assert_eq!(code(&create(&db, vec![doc! {"key": {"a": 1}, "name": "a_1", "unique": true}])), 85);
    let list = batch(&db.run_command("t", &doc! {"listIndexes": "c", "cursor": {}}));
    let names: Vec<&str> = list.iter().map(|d| d.get_str("name").unwrap()).collect();
    assert_eq!(names, vec!["_id_", "a_1", "b_-1_a_1"]);
    assert_eq!(list[0], doc! {"v": 2, "key": {"_id": 1}, "name": "_id_"});
    assert_eq!(code(&db.run_command("t", &doc! {"dropIndexes": "c", "index": "_id_"})), 72);
    assert_eq!(code(&db.run_command("t", &doc! {"dropIndexes": "c", "index": "nope"})), 27);
    let r = db.run_command("t", &doc! {"dropIndexes": "c", "index": {"a": 1}});
    assert_eq!(r.get_i32("nIndexesWas").unwrap(), 3);
    ok(&db.run_command("t", &doc! {"dropIndexes": "c", "index": "*"}));
    assert_eq!(batch(&db.run_command("t", &doc! {"listIndexes": "c", "cursor": {}})).len(), 1);
    assert_eq!(code(&db.run_command("t", &doc! {"listIndexes": "missing", "cursor": {}})), 26);
    // Bad specifications.
    assert_eq!(code(&create(&db, vec![doc! {"key": {}, "name": "x"}])), 67);
    assert_eq!(code(&create(&db, vec![doc! {"key": {"a": 0}, "name": "x"}])), 67);
    assert_eq!(code(&create(&db, vec![doc! {"key": {"a": "2dsphere"}, "name": "x"}])), 67);
    assert_eq!(code(&create(&db, vec![doc! {"key": {"a": 1}, "name": "x", "bogus": 1}])), 197);
    assert_eq!(code(&create(&db, vec![doc! {"key": {"a": 1, "b": 1}, "name": "x", "expireAfterSeconds": 5}])), 67);
}

#[test]
fn unique_indexes_refuse_duplicates_and_change_nothing() {
    let db = Db::open_in_memory();
    ok(&create(&db, vec![doc! {"key": {"email": 1}, "name": "email_1", "unique": true}]));
    ok(&db.run_command("t", &doc! {"insert": "c", "documents": [{"_id": 1, "email": "a@x"}, {"_id": 2, "email": "b@x"}]}));
    let r = db.run_command(
        "t",
        &doc! {"insert": "c", "documents": [{"_id": 3, "email": "c@x"}, {"_id": 4, "email": "a@x"}, {"_id": 5, "email": "d@x"}]},
    );
    assert_eq!(r.get_i32("n").unwrap(), 1, "ordered: stops at the duplicate");
    let we = r.get_array("writeErrors").unwrap()[0].as_document().unwrap().clone();
    assert_eq!(we.get_i32("code").unwrap(), 11000);
    assert_eq!(we.get_str("errmsg").unwrap(), "E11000 duplicate key error collection: t.c index: email_1 dup key: { email: \"a@x\" }");
    assert_eq!(we.get_document("keyPattern").unwrap(), &doc! {"email": 1});
    assert_eq!(we.get_document("keyValue").unwrap(), &doc! {"email": "a@x"});
    // An update to a taken value fails and leaves the document as it was.
    let r = db.run_command("t", &doc! {"update": "c", "updates": [{"q": {"_id": 2}, "u": {"$set": {"email": "a@x", "x": 1}}}]});
    assert_eq!(r.get_array("writeErrors").unwrap()[0].as_document().unwrap().get_i32("code").unwrap(), 11000);
    assert_eq!(find(&db, doc! {"filter": {"_id": 2}}), vec![doc! {"_id": 2, "email": "b@x"}]);
    // The index still finds everything by its old keys.
    assert_eq!(ids(&find(&db, doc! {"filter": {"email": "b@x"}})), vec![Bson::Int32(2)]);
    // Two documents missing the field collide (both are null)...
    ok(&db.run_command("t", &doc! {"insert": "c", "documents": [{"_id": 10}]}));
    let r = db.run_command("t", &doc! {"insert": "c", "documents": [{"_id": 11}]});
    assert!(r.get_array("writeErrors").is_ok(), "{r}");
    // ...and a unique index cannot be built over duplicates (no index is left behind).
    ok(&db.run_command("t", &doc! {"insert": "d", "documents": [{"v": 1}, {"v": 1}]}));
    let r = db.run_command("t", &doc! {"createIndexes": "d", "indexes": [{"key": {"v": 1}, "name": "v_1", "unique": true}]});
    assert_eq!(code(&r), 11000);
    assert_eq!(batch(&db.run_command("t", &doc! {"listIndexes": "d", "cursor": {}})).len(), 1);
    // Sparse unique: missing fields do not collide.
    ok(&db.run_command("t", &doc! {"createIndexes": "e", "indexes": [{"key": {"v": 1}, "name": "v_1", "unique": true, "sparse": true}]}));
    let r = db.run_command("t", &doc! {"insert": "e", "documents": [{"x": 1}, {"x": 2}, {"v": 1}]});
    assert_eq!(r.get_i32("n").unwrap(), 3, "{r}");
}

#[test]
fn planner_uses_indexes_and_explain_reports_what_ran() {
    let db = Db::open_in_memory();
    seed(&db, 1000);
    ok(&create(&db, vec![doc! {"key": {"k": 1}, "name": "k_1"}, doc! {"key": {"a": 1, "k": -1}, "name": "a_1_k_-1"}]));
    let r = explain(&db, doc! {"filter": {"k": 500}});
    let es = r.get_document("executionStats").unwrap();
    assert_eq!(
        (es.get_i64("nReturned").unwrap(), es.get_i64("totalKeysExamined").unwrap(), es.get_i64("totalDocsExamined").unwrap()),
        (1, 1, 1)
    );
    let plan = r.get_document("queryPlanner").unwrap().get_document("winningPlan").unwrap();
    let mut ix = Vec::new();
    stages(plan, "IXSCAN", &mut ix);
    assert_eq!(ix[0].get_str("indexName").unwrap(), "k_1");
    // Equality + range + sort + limit on the compound index: no SORT, keys examined = returned.
    let f = doc! {"filter": {"a": 3, "k": {"$gte": 100}}, "sort": {"k": -1}, "limit": 20};
    let r = explain(&db, f.clone());
    let plan = r.get_document("queryPlanner").unwrap().get_document("winningPlan").unwrap();
    let mut sorts = Vec::new();
    stages(plan, "SORT", &mut sorts);
    assert!(sorts.is_empty(), "{plan}");
    let es = r.get_document("executionStats").unwrap();
    assert_eq!(es.get_i64("nReturned").unwrap(), 20);
    assert!(es.get_i64("totalKeysExamined").unwrap() <= 21, "{es}");
    let got = find(&db, f.clone());
    let mut natural = f.clone();
    natural.insert("hint", doc! {"$natural": 1});
    assert_eq!(got, find(&db, natural));
    assert_eq!(ids(&got)[0], Bson::Int32(993));
    // No usable index: a collection scan over every document.
    let r = explain(&db, doc! {"filter": {"b": "s1"}});
    let es = r.get_document("executionStats").unwrap();
    assert_eq!(es.get_i64("totalDocsExamined").unwrap(), 1000);
    let mut cs = Vec::new();
    stages(r.get_document("queryPlanner").unwrap(), "COLLSCAN", &mut cs);
    assert_eq!(cs.len(), 1);
    // $in and $or.
    let r = explain(&db, doc! {"filter": {"k": {"$in": [3, 7, 900]}}});
    assert_eq!(r.get_document("executionStats").unwrap().get_i64("totalKeysExamined").unwrap(), 3);
    let r = explain(&db, doc! {"filter": {"$or": [{"k": 5}, {"a": 2, "k": {"$lt": 30}}]}});
    let mut or = Vec::new();
    stages(r.get_document("queryPlanner").unwrap(), "OR", &mut or);
    assert_eq!(or.len(), 1, "{r}");
    assert_eq!(r.get_document("executionStats").unwrap().get_i64("nReturned").unwrap(), 4);
    // A covered query reads no documents.
    let r = explain(&db, doc! {"filter": {"k": {"$lt": 5}}, "projection": {"k": 1, "_id": 0}});
    let es = r.get_document("executionStats").unwrap();
    assert_eq!((es.get_i64("nReturned").unwrap(), es.get_i64("totalDocsExamined").unwrap()), (5, 0));
    let mut cov = Vec::new();
    stages(r.get_document("queryPlanner").unwrap(), "PROJECTION_COVERED", &mut cov);
    assert_eq!(cov.len(), 1);
    assert_eq!(find(&db, doc! {"filter": {"k": {"$lt": 2}}, "projection": {"k": 1, "_id": 0}}), vec![doc! {"k": 0}, doc! {"k": 1}]);
    // Hints.
    assert_eq!(code(&db.run_command("t", &doc! {"find": "c", "hint": "nope"})), 2);
    let r = explain(&db, doc! {"filter": {"k": 5}, "hint": {"a": 1, "k": -1}});
    let mut ix = Vec::new();
    stages(r.get_document("queryPlanner").unwrap(), "IXSCAN", &mut ix);
    assert_eq!(ix[0].get_str("indexName").unwrap(), "a_1_k_-1");
    assert_eq!(find(&db, doc! {"filter": {"k": 5}, "hint": "a_1_k_-1"}).len(), 1);
    // Sort alone from an index, both directions, ties in record order.
    let asc = find(&db, doc! {"sort": {"k": 1}, "limit": 3});
    assert_eq!(ids(&asc), vec![Bson::Int32(0), Bson::Int32(1), Bson::Int32(2)]);
    let desc = find(&db, doc! {"filter": {"a": 4}, "sort": {"k": 1}});
    assert_eq!(desc.len(), 100);
    assert_eq!(ids(&desc)[..2], [Bson::Int32(4), Bson::Int32(14)]);
}

#[test]
fn indexes_follow_updates_deletes_and_rename() {
    let db = Db::open_in_memory();
    seed(&db, 50);
    ok(&create(&db, vec![doc! {"key": {"a": 1}, "name": "a_1"}]));
    ok(&db.run_command("t", &doc! {"update": "c", "updates": [{"q": {"a": 3}, "u": {"$set": {"a": 33}}, "multi": true}]}));
    assert!(find(&db, doc! {"filter": {"a": 3}}).is_empty());
    assert_eq!(find(&db, doc! {"filter": {"a": 33}}).len(), 5);
    ok(&db.run_command("t", &doc! {"update": "c", "updates": [{"q": {"a": 33}, "u": {"$inc": {"a": 1}}, "multi": true}]}));
    assert_eq!(find(&db, doc! {"filter": {"a": 34}}).len(), 5);
    ok(&db.run_command("t", &doc! {"delete": "c", "deletes": [{"q": {"a": 34}, "limit": 0}]}));
    assert!(find(&db, doc! {"filter": {"a": 34}}).is_empty());
    assert_eq!(find(&db, doc! {"filter": {"a": {"$gte": 0}}}).len(), 45);
    let c = db.run_command("t", &doc! {"count": "c", "query": {"a": {"$in": [1, 2]}}});
    assert_eq!(c.get_i32("n").unwrap(), 10);
    ok(&db.run_command("admin", &doc! {"renameCollection": "t.c", "to": "t.c2"}));
    let l = batch(&db.run_command("t", &doc! {"listIndexes": "c2", "cursor": {}}));
    assert_eq!(l.len(), 2);
}

/// In-place updates (`$inc`, `$set` of a number) skip index maintenance only when no index
/// reads what they change: a counter beside the indexed fields, not a field inside an indexed
/// sub-document, a partial index's filter field or an indexed field itself.
#[test]
fn in_place_updates_keep_every_index_right() {
    let db = Db::open_in_memory();
    let docs: Vec<Document> = (0..20).map(|i| doc! {"_id": i, "a": i, "s": {"n": i, "m": 0}, "p": i, "q": i % 2, "hits": 0}).collect();
    ok(&db.run_command("t", &doc! {"insert": "c", "documents": docs}));
    ok(&create(
        &db,
        vec![
            doc! {"key": {"a": 1}, "name": "a", "unique": true},
            doc! {"key": {"s": 1}, "name": "s"},
            doc! {"key": {"p": 1}, "name": "p", "partialFilterExpression": {"q": {"$gte": 1}}},
        ],
    ));
    let update = |q: Document, u: Document| ok(&db.run_command("t", &doc! {"update": "c", "updates": [{"q": q, "u": u}]}));
    update(doc! {"_id": 3}, doc! {"$inc": {"hits": 5}});
    update(doc! {"_id": 4}, doc! {"$inc": {"a": 100}});
    update(doc! {"_id": 5}, doc! {"$inc": {"s.n": 1}});
    update(doc! {"_id": 6}, doc! {"$set": {"q": 1}});
    let hint = |filter: Document, index: &str| ids(&find(&db, doc! {"filter": filter, "hint": index}));
    assert_eq!(hint(doc! {"a": 104}, "a"), vec![Bson::Int32(4)]);
    assert!(hint(doc! {"a": 4}, "a").is_empty());
    assert_eq!(hint(doc! {"s": {"n": 6, "m": 0}}, "s"), vec![Bson::Int32(5), Bson::Int32(6)]);
    assert_eq!(hint(doc! {"p": 6, "q": {"$gte": 1}}, "p"), vec![Bson::Int32(6)]);
    assert_eq!(find(&db, doc! {"filter": {"_id": 3}})[0].get_i32("hits").unwrap(), 5);
    // The unique index still refuses a duplicate made in place.
    let r = db.run_command("t", &doc! {"update": "c", "updates": [{"q": {"_id": 7}, "u": {"$inc": {"a": 1}}}]});
    assert_eq!(r.get_array("writeErrors").unwrap()[0].as_document().unwrap().get_i32("code").unwrap(), 11000, "{r}");
    assert_eq!(find(&db, doc! {"filter": {"_id": 7}})[0].get_i32("a").unwrap(), 7);
}

/// `find_one` and `update_one` by one equality read the index directly (no planning): they
/// must find a match exactly when a collection scan does, through every index shape
/// (descending, compound, multikey, unique, sparse, partial or hidden ones are skipped or
/// used as their definitions allow) and across numeric types.
#[test]
fn point_lookups_agree_with_collection_scans() {
    let db = Db::open_in_memory();
    let coll = db.database("t").collection::<Document>("c");
    let docs: Vec<Document> = (0..300)
        .map(|i| {
            let mut d = doc! {"_id": i, "u": i, "d": (i % 17) as f64, "tags": [format!("t{}", i % 5), format!("t{}", i % 7)], "s": format!("s{}", i % 11)};
            if i % 3 == 0 {
                d.insert("sp", i % 4);
            }
            d.insert("p", i % 6);
            d
        })
        .collect();
    ok(&db.run_command("t", &doc! {"insert": "c", "documents": docs}));
    ok(&create(
        &db,
        vec![
            doc! {"key": {"u": -1}, "name": "u", "unique": true},
            doc! {"key": {"d": 1, "s": -1}, "name": "ds"},
            doc! {"key": {"tags": 1}, "name": "tags"},
            doc! {"key": {"sp": 1}, "name": "sp", "sparse": true},
            doc! {"key": {"p": 1}, "name": "p", "partialFilterExpression": {"u": {"$gte": 150}}},
            doc! {"key": {"s": 1}, "name": "s", "hidden": true},
        ],
    ));
    let values = [Bson::Int32(3), Bson::Int64(3), Bson::Double(3.0), Bson::Double(3.5), Bson::Int32(299), Bson::Int32(1000)];
    let strings = ["t0", "t4", "t6", "t9", "s3", "s10", "zz"].map(|s| Bson::String(s.into()));
    for field in ["u", "d", "tags", "sp", "p", "s"] {
        for v in values.iter().chain(&strings) {
            let filter = doc! {field: v.clone()};
            let scan = find(&db, doc! {"filter": filter.clone(), "hint": {"$natural": 1}});
            let got = coll.find_one_raw(&filter, None).unwrap();
            match &got {
                None => assert!(scan.is_empty(), "{filter}: find_one found nothing, the scan found {}", scan.len()),
                Some(raw) => {
                    let d = Document::try_from(raw.as_ref()).unwrap();
                    assert!(scan.contains(&d), "{filter}: find_one gave {d}, not a scan match");
                }
            }
            let r = coll.update_one(filter.clone(), doc! {"$inc": {"hits": 1}}).unwrap();
            assert_eq!(r.matched_count, u64::from(!scan.is_empty()), "{filter}");
        }
    }
    // Every update landed on a matching document: the hit counts add up.
    let total: i32 = find(&db, doc! {"filter": {}}).iter().map(|d| d.get_i32("hits").unwrap_or(0)).sum();
    let expected = ["u", "d", "tags", "sp", "p", "s"]
        .iter()
        .flat_map(|f| values.iter().chain(&strings).map(move |v| doc! {*f: v.clone()}))
        .filter(|f| !find(&db, doc! {"filter": f.clone(), "hint": {"$natural": 1}}).is_empty())
        .count();
    assert_eq!(total as usize, expected);
}

#[test]
fn multikey_partial_and_sparse() {
    let db = Db::open_in_memory();
    ok(&create(&db, vec![doc! {"key": {"tags": 1}, "name": "tags_1"}]));
    ok(&db.run_command(
        "t",
        &doc! {"insert": "c", "documents": [{"_id": 1, "tags": ["a", "b"]}, {"_id": 2, "tags": ["b", "c"]}, {"_id": 3, "tags": "a"}]},
    ));
    assert_eq!(ids(&find(&db, doc! {"filter": {"tags": "b"}})), vec![Bson::Int32(1), Bson::Int32(2)]);
    assert_eq!(ids(&find(&db, doc! {"filter": {"tags": {"$gte": "a", "$lte": "a"}}})), vec![Bson::Int32(1), Bson::Int32(3)]);
    let l = batch(&db.run_command("t", &doc! {"listIndexes": "c", "cursor": {}}));
    assert_eq!(l.len(), 2);
    // Parallel arrays.
    ok(&create(&db, vec![doc! {"key": {"tags": 1, "x": 1}, "name": "tx"}]));
    let r = db.run_command("t", &doc! {"insert": "c", "documents": [{"_id": 4, "tags": ["q"], "x": [1, 2]}]});
    assert_eq!(r.get_array("writeErrors").unwrap()[0].as_document().unwrap().get_i32("code").unwrap(), 171);
    assert!(find(&db, doc! {"filter": {"_id": 4}}).is_empty());
    // Partial: used only when the query implies the filter.
    ok(&db.run_command("t", &doc! {"insert": "p", "documents": [{"_id": 1, "name": "x", "age": 30}, {"_id": 2, "name": "x", "age": 10}]}));
    ok(&db.run_command(
        "t",
        &doc! {"createIndexes": "p", "indexes": [{"key": {"name": 1}, "name": "name_1", "partialFilterExpression": {"age": {"$gte": 21}}}]},
    ));
    let plan_of = |filter: Document| {
        let r = db.run_command("t", &doc! {"explain": {"find": "p", "filter": filter}});
        let mut ix = Vec::new();
        stages(r.get_document("queryPlanner").unwrap(), "IXSCAN", &mut ix);
        ix.len()
    };
    assert_eq!(plan_of(doc! {"name": "x", "age": {"$gte": 25}}), 1);
    assert_eq!(plan_of(doc! {"name": "x"}), 0);
    assert_eq!(batch(&db.run_command("t", &doc! {"find": "p", "filter": {"name": "x"}})).len(), 2);
    // Sparse: not used for a sort that must return every document.
    ok(&db.run_command("t", &doc! {"insert": "s", "documents": [{"_id": 1, "v": 2}, {"_id": 2}, {"_id": 3, "v": 1}]}));
    ok(&db.run_command("t", &doc! {"createIndexes": "s", "indexes": [{"key": {"v": 1}, "name": "v_1", "sparse": true}]}));
    let all = batch(&db.run_command("t", &doc! {"find": "s", "sort": {"v": 1}}));
    assert_eq!(ids(&all), vec![Bson::Int32(2), Bson::Int32(3), Bson::Int32(1)]);
    let hinted = batch(&db.run_command("t", &doc! {"find": "s", "sort": {"v": 1}, "hint": "v_1"}));
    assert_eq!(ids(&hinted), vec![Bson::Int32(3), Bson::Int32(1)], "a hinted sparse index omits documents, as MongoDB documents");
}

#[test]
fn ttl_index_deletes_expired_documents() {
    let db = Db::open_in_memory();
    let now = nestdb::bson::DateTime::now().timestamp_millis();
    ok(&db.run_command(
        "t",
        &doc! {"insert": "s", "documents": [
            {"_id": 1, "at": nestdb::bson::DateTime::from_millis(now - 3_600_000)},
            {"_id": 2, "at": nestdb::bson::DateTime::from_millis(now + 3_600_000)},
            {"_id": 3, "at": "not a date"},
        ]},
    ));
    ok(&db.run_command("t", &doc! {"createIndexes": "s", "indexes": [{"key": {"at": 1}, "name": "at_1", "expireAfterSeconds": 60}]}));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let left = batch(&db.run_command("t", &doc! {"find": "s"}));
        if left.len() == 2 {
            assert_eq!(ids(&left), vec![Bson::Int32(2), Bson::Int32(3)]);
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the TTL monitor did not delete the expired document");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// The TTL sweep finds a TTL index after a restart, whether the collection comes back from the
/// log alone or from a snapshot: a document that expired while the database was closed is
/// deleted soon after the open, and one that has not expired stays.
#[test]
fn ttl_index_works_after_a_restart_from_the_log_and_from_a_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Db::open(dir.path(), nestdb::Options::default()).unwrap();
        ok(&db.run_command("t", &doc! {"createIndexes": "s", "indexes": [{"key": {"at": 1}, "name": "at_1", "expireAfterSeconds": 3600}]}));
    }
    let wait_for = |db: &Db, want: Vec<Bson>, what: &str| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let left = ids(&batch(&db.run_command("t", &doc! {"find": "s", "sort": {"_id": 1}})));
            if left == want {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{what}: the TTL sweep left {left:?}");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    };
    for (round, from_snapshot) in [(1, false), (2, true)] {
        {
            let db = Db::open(dir.path(), nestdb::Options::default()).unwrap();
            let now = nestdb::bson::DateTime::now().timestamp_millis();
            // Inserted unexpired (else the sweep might delete it before the close): the first
            // expires half a second from now, after the close; the second in a day.
            ok(&db.run_command(
                "t",
                &doc! {"insert": "s", "documents": [
                    {"_id": round * 10, "at": nestdb::bson::DateTime::from_millis(now - 3_600_000 + 500)},
                    {"_id": round * 10 + 1, "at": nestdb::bson::DateTime::from_millis(now + 86_400_000)},
                ]},
            ));
            if from_snapshot {
                db.snapshot().unwrap();
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(600));
        let db = Db::open(dir.path(), nestdb::Options::default()).unwrap();
        let what = if from_snapshot { "from a snapshot" } else { "from the log" };
        let mut want = vec![Bson::Int32(11)];
        if round == 2 {
            want.push(Bson::Int32(21));
        }
        wait_for(&db, want, what);
    }
}

/// Batches long enough for the parallel insert (records and each index filled on their own
/// threads): an ordered batch stops at its first duplicate (of a stored document, or of an
/// earlier document of the batch, in the `_id` or a unique index), an unordered one skips each
/// and goes on; the write errors, the documents, every index and the log's replay are what
/// inserting one document at a time gives.
#[test]
fn large_batches_with_duplicates_match_one_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let specs = vec![
        doc! {"key": {"email": 1}, "name": "email_1", "unique": true},
        doc! {"key": {"city": 1, "n": -1}, "name": "city_n"},
        doc! {"key": {"tags": 1}, "name": "tags_1"},
    ];
    let user =
        |i: i32, email: i32| doc! {"_id": i, "email": format!("u{email}@x"), "city": format!("c{}", i % 5), "n": i, "tags": [i % 3, i % 4]};
    // (batch, ordered): duplicates of a stored email at 150, of the batch's own email at 400,
    // of an `_id` at 700 and 701, an invalid `_id` at 300 (refused before any index sees it).
    let batches: Vec<(Vec<Document>, bool)> = [true, false]
        .into_iter()
        .enumerate()
        .map(|(b, ordered)| {
            let base = 10_000 * (b as i32 + 1);
            let docs = (0..1_000)
                .map(|k| match k {
                    150 => user(base + k, 3),
                    300 => doc! {"_id": [1, 2]},
                    400 => user(base + k, base + 10),
                    700 | 701 => user(base + 5, base + k),
                    _ => user(base + k, base + k),
                })
                .collect();
            (docs, ordered)
        })
        .collect();
    let expect = |db: &Db, docs: &[Document], ordered: bool| -> (i32, Vec<(i32, i32)>) {
        // One document per insert command: the reference outcome.
        let (mut n, mut errors) = (0, Vec::new());
        for (k, d) in docs.iter().enumerate() {
            let r = db.run_command("t", &doc! {"insert": "one", "documents": [d.clone()]});
            match r.get_array("writeErrors") {
                Ok(e) => {
                    errors.push((k as i32, e[0].as_document().unwrap().get_i32("code").unwrap()));
                    if ordered {
                        break;
                    }
                }
                Err(_) => n += 1,
            }
        }
        (n, errors)
    };
    let contents = |db: &Db, coll: &str| -> Vec<Vec<Document>> {
        let q = |filter: Document, hint: &str| {
            let mut c = doc! {"find": coll, "filter": filter, "batchSize": 1_000_000, "projection": {"_id": 1}};
            if !hint.is_empty() {
                c.insert("hint", hint);
            }
            batch(&db.run_command("t", &c))
        };
        vec![
            q(doc! {}, ""),
            q(doc! {"email": {"$gte": ""}}, "email_1"),
            q(doc! {"city": {"$gte": ""}}, "city_n"),
            q(doc! {"tags": {"$gte": 0}}, "tags_1"),
            q(doc! {"tags": 2}, "tags_1"),
        ]
    };
    {
        let db = Db::open(dir.path(), nestdb::Options::default()).unwrap();
        for coll in ["one", "many"] {
            ok(&db.run_command("t", &doc! {"createIndexes": coll, "indexes": specs.clone()}));
            ok(&db.run_command("t", &doc! {"insert": coll, "documents": (0..10).map(|i| user(i, i)).collect::<Vec<_>>()}));
        }
        for (docs, ordered) in &batches {
            let (n, errors) = expect(&db, docs, *ordered);
            let r = db.run_command("t", &doc! {"insert": "many", "documents": docs.clone(), "ordered": *ordered});
            assert_eq!(r.get_i32("n").unwrap(), n, "ordered {ordered}");
            let got: Vec<(i32, i32)> = r
                .get_array("writeErrors")
                .map(|e| {
                    e.iter().map(|e| e.as_document().unwrap()).map(|e| (e.get_i32("index").unwrap(), e.get_i32("code").unwrap())).collect()
                })
                .unwrap_or_default();
            assert_eq!(got, errors, "ordered {ordered}");
        }
        assert_eq!(contents(&db, "many")[0].len(), 10 + 150 + 995);
        assert_eq!(contents(&db, "many"), contents(&db, "one"));
    }
    // The log replays to the same collection.
    let db = Db::open(dir.path(), nestdb::Options::default()).unwrap();
    assert_eq!(contents(&db, "many"), contents(&db, "one"));
    assert_eq!(contents(&db, "many")[0].len(), 10 + 150 + 995);
}

#[test]
fn index_definitions_survive_restart_and_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Db::open(dir.path(), nestdb::Options::default()).unwrap();
        seed(&db, 30);
        ok(&create(&db, vec![doc! {"key": {"k": 1}, "name": "k_1", "unique": true}, doc! {"key": {"a": 1}, "name": "a_1"}]));
        ok(&db.run_command("t", &doc! {"dropIndexes": "c", "index": "a_1"}));
        ok(&create(&db, vec![doc! {"key": {"b": 1}, "name": "b_1", "expireAfterSeconds": 100}]));
    }
    for round in 0..2 {
        let db = Db::open(dir.path(), nestdb::Options::default()).unwrap();
        let l = batch(&db.run_command("t", &doc! {"listIndexes": "c", "cursor": {}}));
        let names: Vec<&str> = l.iter().map(|d| d.get_str("name").unwrap()).collect();
        assert_eq!(names, vec!["_id_", "k_1", "b_1"], "round {round}");
        assert_eq!(l[2].get_i32("expireAfterSeconds").unwrap(), 100);
        let r = db.run_command("t", &doc! {"insert": "c", "documents": [{"_id": 100, "k": 5}]});
        assert_eq!(r.get_array("writeErrors").unwrap()[0].as_document().unwrap().get_i32("code").unwrap(), 11000);
        let r = explain(&db, doc! {"filter": {"k": 7}});
        assert_eq!(r.get_document("executionStats").unwrap().get_i64("totalDocsExamined").unwrap(), 1);
        if round == 0 {
            db.snapshot().unwrap();
        }
    }
}

#[test]
fn typed_rust_api_creates_lists_hints_explains_and_drops() {
    let db = Db::open_in_memory();
    let users = db.collection::<Document>("users");
    users.insert_many(&[doc! {"_id": 1, "email": "a@x", "age": 30}, doc! {"_id": 2, "email": "b@x", "age": 40}]).unwrap();
    assert_eq!(users.create_index(doc! {"email": 1}, doc! {"unique": true}).unwrap(), "email_1");
    assert_eq!(users.create_index(doc! {"age": -1}, doc! {"name": "by_age"}).unwrap(), "by_age");
    let names: Vec<String> = users.list_indexes().unwrap().iter().map(|d| d.get_str("name").unwrap().to_string()).collect();
    assert_eq!(names, vec!["_id_", "email_1", "by_age"]);
    // A duplicate is a typed error carrying MongoDB's code.
    let e = users.insert_one(&doc! {"email": "a@x"}).unwrap_err();
    assert!(e.to_string().contains("E11000"), "{e}");
    let found = users.find(doc! {"age": {"$gt": 35}}).hint("by_age").run().unwrap();
    assert_eq!(found, vec![doc! {"_id": 2, "email": "b@x", "age": 40}]);
    let plan = users.find(doc! {"email": "b@x"}).explain().unwrap();
    assert_eq!(plan.get_document("executionStats").unwrap().get_i64("totalDocsExamined").unwrap(), 1);
    assert!(plan.get_document("queryPlanner").unwrap().to_string().contains("email_1"));
    users.drop_index("by_age").unwrap();
    assert_eq!(users.list_indexes().unwrap().len(), 2);
    assert!(users.find(doc! {}).hint("by_age").run().is_err(), "hinting a dropped index is an error");
    assert!(db.collection::<Document>("missing").list_indexes().unwrap().is_empty());
}

#[test]
fn text_search_ranks_by_score() {
    let db = Db::open_in_memory();
    ok(&db.run_command(
        "t",
        &doc! {"insert": "a", "documents": [
            {"_id": 1, "title": "Coffee shop", "body": "The best coffee in town, coffee all day"},
            {"_id": 2, "title": "Tea house", "body": "We also serve coffee"},
            {"_id": 3, "title": "Bakery", "body": "Fresh bread"},
        ]},
    ));
    ok(&db.run_command(
        "t",
        &doc! {"createIndexes": "a", "indexes": [{"key": {"title": "text", "body": "text"}, "name": "text", "weights": {"title": 10}}]},
    ));
    let r = batch(&db.run_command(
        "t",
        &doc! {"find": "a", "filter": {"$text": {"$search": "coffee"}}, "projection": {"score": {"$meta": "textScore"}, "title": 1}, "sort": {"score": {"$meta": "textScore"}}},
    ));
    assert_eq!(ids(&r), vec![Bson::Int32(1), Bson::Int32(2)]);
    let (s1, s2) = (r[0].get_f64("score").unwrap(), r[1].get_f64("score").unwrap());
    assert!(s1 > s2 && s2 > 0.0, "{r:?}");
    // Negation and phrases.
    assert_eq!(ids(&find_in(&db, "a", doc! {"$text": {"$search": "coffee -town"}})), vec![Bson::Int32(2)]);
    assert_eq!(ids(&find_in(&db, "a", doc! {"$text": {"$search": "\"coffee shop\""}})), vec![Bson::Int32(1)]);
    // The same through aggregate, with the score as metadata.
    let r = batch(&db.run_command(
        "t",
        &doc! {"aggregate": "a", "pipeline": [{"$match": {"$text": {"$search": "bread"}}}, {"$project": {"s": {"$meta": "textScore"}}}], "cursor": {}},
    ));
    assert_eq!(r.len(), 1);
    assert!(r[0].get_f64("s").unwrap() > 0.0 && r[0].keys().count() == 2, "{r:?}");
    // Without a text index: IndexNotFound.
    ok(&db.run_command("t", &doc! {"insert": "b", "documents": [{"x": 1}]}));
    assert_eq!(code(&db.run_command("t", &doc! {"find": "b", "filter": {"$text": {"$search": "x"}}})), 27);
}

fn find_in(db: &Db, coll: &str, filter: Document) -> Vec<Document> {
    batch(&db.run_command("t", &doc! {"find": coll, "filter": filter}))
}

#[test]
fn the_planner_picks_the_selective_or_sort_providing_index_by_trial() {
    let db = Db::open_in_memory();
    let docs: Vec<Document> = (0..5000).map(|i| doc! {"_id": i, "flag": i % 2, "code": i, "k": 5000 - i}).collect();
    ok(&db.run_command("t", &doc! {"insert": "c", "documents": docs}));
    ok(&create(
        &db,
        vec![
            doc! {"key": {"flag": 1}, "name": "flag_1"},
            doc! {"key": {"code": 1}, "name": "code_1"},
            doc! {"key": {"k": 1}, "name": "k_1"},
        ],
    ));
    let winner = |r: &Document| {
        let mut ix = Vec::new();
        stages(r.get_document("queryPlanner").unwrap().get_document("winningPlan").unwrap(), "IXSCAN", &mut ix);
        ix.iter().map(|s| s.get_str("indexName").unwrap().to_string()).collect::<Vec<_>>()
    };
    // Selectivity: `code` pins one document, `flag` half of them.
    let r = explain(&db, doc! {"filter": {"flag": 1, "code": 77}});
    assert_eq!(winner(&r), vec!["code_1"]);
    let rejected = r.get_document("queryPlanner").unwrap().get_array("rejectedPlans").unwrap();
    assert_eq!(rejected.len(), 1, "{r}");
    assert_eq!(r.get_document("executionStats").unwrap().get_i64("totalDocsExamined").unwrap(), 1);
    // Sort coverage: half the documents match `flag`; reading `k` in order and stopping after 5
    // beats fetching 2,500 documents and sorting them.
    let r = explain(&db, doc! {"filter": {"flag": 0}, "sort": {"k": 1}, "limit": 5});
    assert_eq!(winner(&r), vec!["k_1"]);
    let es = r.get_document("executionStats").unwrap();
    // 10 keys for 5 matches, plus one read past the last group of equal sort values.
    assert!(es.get_i64("totalKeysExamined").unwrap() <= 11, "{es}");
    assert_eq!(ids(&find(&db, doc! {"filter": {"flag": 0}, "sort": {"k": 1}, "limit": 2})), vec![Bson::Int32(4998), Bson::Int32(4996)]);
}
