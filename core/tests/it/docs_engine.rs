//! Documents in the engine (issue 7): collections as keyspace values, durability of document
//! changes (log replay and snapshots), transactions spanning keys and documents, memory and
//! eviction, limits, `run_command` reply shapes and cursors, and the typed Rust API.

use nestdb::bson::{Bson, Document};
use nestdb::{doc, Commands, Db, Options, Reply};
use serde::{Deserialize, Serialize};

fn ok(reply: &Document) {
    assert_eq!(reply.get_f64("ok").ok(), Some(1.0), "{reply}");
}

fn first_batch(reply: &Document) -> Vec<Document> {
    ok(reply);
    reply.get_document("cursor").unwrap().get_array("firstBatch").unwrap().iter().map(|d| d.as_document().unwrap().clone()).collect()
}

fn find_all(db: &Db, dbname: &str, coll: &str, filter: Document) -> Vec<Document> {
    first_batch(&db.run_command(dbname, &doc! {"find": coll, "filter": filter, "batchSize": 1_000_000}))
}

#[test]
fn insert_generates_object_ids_and_rejects_duplicate_ids() {
    let db = Db::open_in_memory();
    let r = db.run_command(
        "shop",
        &doc! {"insert": "users", "documents": [{"name": "ada"}, {"_id": 7, "name": "bob"}, {"name": "cy", "_id": 8}]},
    );
    ok(&r);
    assert_eq!(r.get_i32("n").unwrap(), 3);
    let docs = find_all(&db, "shop", "users", doc! {});
    assert_eq!(docs.len(), 3);
    assert!(matches!(docs[0].get("_id"), Some(Bson::ObjectId(_))));
    // `_id` is always the first field, as MongoDB stores it.
    assert_eq!(docs[2].keys().next().map(String::as_str), Some("_id"));
    assert_eq!(docs[2], doc! {"_id": 8, "name": "cy"});

    // 7.0 is the same `_id` as 7: E11000 with MongoDB's message and details, nothing stored.
    let r = db.run_command("shop", &doc! {"insert": "users", "documents": [{"_id": 7.0}]});
    ok(&r);
    assert_eq!(r.get_i32("n").unwrap(), 0);
    let e = r.get_array("writeErrors").unwrap()[0].as_document().unwrap();
    assert_eq!(e.get_i32("code").unwrap(), 11000);
    assert_eq!(e.get_i32("index").unwrap(), 0);
    assert!(
        e.get_str("errmsg").unwrap().starts_with("E11000 duplicate key error collection: shop.users index: _id_ dup key: { _id: "),
        "{e}"
    );
    assert_eq!(e.get_document("keyPattern").unwrap(), &doc! {"_id": 1});

    // Ordered stops at the first error; unordered goes on.
    let r = db.run_command("shop", &doc! {"insert": "users", "documents": [{"_id": 1}, {"_id": 7}, {"_id": 2}]});
    assert_eq!(r.get_i32("n").unwrap(), 1);
    let r = db.run_command("shop", &doc! {"insert": "users", "documents": [{"_id": 3}, {"_id": 7}, {"_id": 4}], "ordered": false});
    assert_eq!(r.get_i32("n").unwrap(), 2);
    assert_eq!(r.get_array("writeErrors").unwrap()[0].as_document().unwrap().get_i32("index").unwrap(), 1);
    assert_eq!(db.run_command("shop", &doc! {"count": "users"}).get_i32("n").unwrap(), 6);
}

#[test]
fn invalid_ids_too_large_and_too_deep_documents_are_refused_and_change_nothing() {
    let db = Db::open_in_memory();
    for (d, code) in [
        (doc! {"_id": [1, 2]}, 53),
        (
            doc! {"_id": Bson::RegularExpression(nestdb::bson::Regex { pattern: "a".try_into().unwrap(), options: "".try_into().unwrap() })},
            53,
        ),
    ] {
        let r = db.run_command("t", &doc! {"insert": "c", "documents": [d]});
        assert_eq!(r.get_array("writeErrors").unwrap()[0].as_document().unwrap().get_i32("code").unwrap(), code, "{r}");
    }
    let big = "x".repeat(16 * 1024 * 1024);
    let r = db.run_command("t", &doc! {"insert": "c", "documents": [{"big": big}]});
    assert_eq!(r.get_array("writeErrors").unwrap()[0].as_document().unwrap().get_i32("code").unwrap(), 10334, "{r}");
    let mut deep = doc! {"leaf": 1};
    for _ in 0..100 {
        deep = doc! {"d": deep};
    }
    let r = db.run_command("t", &doc! {"insert": "c", "documents": [deep.clone()]});
    assert!(r.contains_key("writeErrors"), "101 levels must be refused: {r}");
    // 100 levels are fine.
    let mut ok100 = doc! {"leaf": 1};
    for _ in 0..99 {
        ok100 = doc! {"d": ok100};
    }
    assert_eq!(db.run_command("t", &doc! {"insert": "c", "documents": [ok100]}).get_i32("n").unwrap(), 1);
    assert_eq!(db.run_command("t", &doc! {"count": "c"}).get_i32("n").unwrap(), 1);
}

#[test]
fn collections_are_keys_type_del_rename_and_wrongtype() {
    let db = Db::open_in_memory();
    ok(&db.run_command("shop", &doc! {"insert": "users", "documents": [{"_id": 1}]}));
    assert_eq!(db.execute(&[b"TYPE", b"shop.users"]), Reply::Status("collection".into()));
    assert!(db.execute(&[b"GET", b"shop.users"]).is_error());
    assert_eq!(db.execute(&[b"RENAME", b"shop.users", b"shop.people"]), Reply::OK);
    assert_eq!(find_all(&db, "shop", "people", doc! {}).len(), 1);
    assert_eq!(db.execute(&[b"DEL", b"shop.people"]), Reply::Int(1));
    assert!(find_all(&db, "shop", "people", doc! {}).is_empty());
    // A Redis key under a collection's name: document commands fail, the key is untouched.
    db.set(b"shop.cache", b"v").unwrap();
    let r = db.run_command("shop", &doc! {"insert": "cache", "documents": [{"a": 1}]});
    assert_eq!(r.get_f64("ok").unwrap(), 0.0, "{r}");
    assert!(r.get_str("errmsg").unwrap().contains("WRONGTYPE"), "{r}");
    assert_eq!(db.get(b"shop.cache").unwrap().as_deref(), Some(&b"v"[..]));
}

#[test]
fn collection_commands_create_drop_list_rename_stats() {
    let db = Db::open_in_memory();
    ok(&db.run_command("shop", &doc! {"create": "orders"}));
    assert_eq!(db.run_command("shop", &doc! {"create": "orders"}).get_i32("code").unwrap(), 48);
    ok(&db.run_command("shop", &doc! {"insert": "users", "documents": [{"a": 1}, {"a": 2}]}));
    ok(&db.run_command("other", &doc! {"insert": "x", "documents": [{"a": 1}]}));
    let names: Vec<String> = first_batch(&db.run_command("shop", &doc! {"listCollections": 1, "nameOnly": true}))
        .iter()
        .map(|d| d.get_str("name").unwrap().to_string())
        .collect();
    assert_eq!(names, ["orders", "users"]);
    let filtered = first_batch(&db.run_command("shop", &doc! {"listCollections": 1, "filter": {"name": "users"}}));
    assert_eq!(filtered.len(), 1);
    let stats = db.run_command("shop", &doc! {"dbStats": 1});
    assert_eq!(stats.get_i64("collections").unwrap(), 2);
    assert_eq!(stats.get_i64("objects").unwrap(), 2);
    let cs = db.run_command("shop", &doc! {"collStats": "users"});
    assert_eq!(cs.get_i64("count").unwrap(), 2);
    assert!(cs.get_i64("size").unwrap() > 0);
    ok(&db.run_command("admin", &doc! {"renameCollection": "shop.users", "to": "shop.people"}));
    assert_eq!(db.run_command("admin", &doc! {"renameCollection": "shop.nothing", "to": "shop.x"}).get_i32("code").unwrap(), 26);
    assert_eq!(db.run_command("admin", &doc! {"renameCollection": "shop.people", "to": "shop.orders"}).get_i32("code").unwrap(), 48);
    ok(&db.run_command("admin", &doc! {"renameCollection": "shop.people", "to": "shop.orders", "dropTarget": true}));
    let dbs = db.run_command("admin", &doc! {"listDatabases": 1, "nameOnly": true});
    let names: Vec<&str> = dbs.get_array("databases").unwrap().iter().map(|d| d.as_document().unwrap().get_str("name").unwrap()).collect();
    assert_eq!(names, ["other", "shop"]);
    let r = db.run_command("shop", &doc! {"drop": "orders"});
    ok(&r);
    assert_eq!(db.run_command("shop", &doc! {"drop": "orders"}).get_i32("code").unwrap(), 26);
    ok(&db.run_command("other", &doc! {"dropDatabase": 1}));
    assert_eq!(db.execute(&[b"DBSIZE"]), Reply::Int(0));
    assert_eq!(db.run_command("shop", &doc! {"nope": 1}).get_i32("code").unwrap(), 59);
    assert_eq!(db.run_command("bad.name", &doc! {"ping": 1}).get_i32("code").unwrap(), 73);
    assert_eq!(db.run_command("shop", &doc! {"find": "a$b"}).get_i32("code").unwrap(), 73);
}

#[test]
fn cursors_stream_in_batches_and_can_be_killed() {
    let db = Db::open_in_memory();
    let docs: Vec<Document> = (0..250).map(|i| doc! {"_id": i, "v": i % 7}).collect();
    ok(&db.run_command("t", &doc! {"insert": "c", "documents": docs}));
    let r = db.run_command("t", &doc! {"find": "c", "filter": {}});
    let cursor = r.get_document("cursor").unwrap();
    assert_eq!(cursor.get_array("firstBatch").unwrap().len(), 101);
    assert_eq!(cursor.get_str("ns").unwrap(), "t.c");
    let id = cursor.get_i64("id").unwrap();
    assert_ne!(id, 0);
    let more = db.run_command("t", &doc! {"getMore": id, "collection": "c", "batchSize": 100});
    ok(&more);
    let c = more.get_document("cursor").unwrap();
    assert_eq!(c.get_array("nextBatch").unwrap().len(), 100);
    assert_eq!(c.get_array("nextBatch").unwrap()[0].as_document().unwrap().get_i32("_id").unwrap(), 101);
    let last = db.run_command("t", &doc! {"getMore": id, "collection": "c"});
    let c = last.get_document("cursor").unwrap();
    assert_eq!(c.get_array("nextBatch").unwrap().len(), 49);
    assert_eq!(c.get_i64("id").unwrap(), 0);
    assert_eq!(db.run_command("t", &doc! {"getMore": id, "collection": "c"}).get_i32("code").unwrap(), 43);

    // Sorted finds buffer; killCursors ends them.
    let r = db.run_command("t", &doc! {"find": "c", "sort": {"_id": -1}, "batchSize": 10});
    let cursor = r.get_document("cursor").unwrap();
    assert_eq!(cursor.get_array("firstBatch").unwrap()[0].as_document().unwrap().get_i32("_id").unwrap(), 249);
    let id = cursor.get_i64("id").unwrap();
    let k = db.run_command("t", &doc! {"killCursors": "c", "cursors": [id, 12345_i64]});
    assert_eq!(k.get_array("cursorsKilled").unwrap(), &vec![Bson::Int64(id)]);
    assert_eq!(k.get_array("cursorsNotFound").unwrap(), &vec![Bson::Int64(12345)]);
    // limit and skip; singleBatch closes the cursor.
    let r = db.run_command("t", &doc! {"find": "c", "filter": {"v": 3}, "skip": 2, "limit": 5});
    let ids: Vec<i32> = first_batch(&r).iter().map(|d| d.get_i32("_id").unwrap()).collect();
    assert_eq!(ids, [17, 24, 31, 38, 45]);
    let r = db.run_command("t", &doc! {"find": "c", "batchSize": 3, "singleBatch": true});
    assert_eq!(r.get_document("cursor").unwrap().get_i64("id").unwrap(), 0);
}

#[test]
fn document_changes_survive_reopen_through_the_log_and_through_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    {
        let db = Db::open(&path, Options::default()).unwrap();
        ok(&db.run_command("shop", &doc! {"insert": "users", "documents": [{"_id": 1, "n": 1}, {"_id": 2, "n": 2}, {"_id": 3}]}));
        ok(&db.run_command(
            "shop",
            &doc! {"update": "users", "updates": [{"q": {"_id": 1}, "u": {"$inc": {"n": 10}, "$currentDate": {"at": true}}}]},
        ));
        ok(&db.run_command("shop", &doc! {"delete": "users", "deletes": [{"q": {"_id": 2}, "limit": 1}]}));
        // In place (patched in the stored bytes): the log must still carry the post-image.
        ok(&db.run_command("shop", &doc! {"update": "users", "updates": [{"q": {"_id": 1}, "u": {"$inc": {"n": 100}}}]}));
        ok(&db.run_command("shop", &doc! {"create": "empty"}));
        ok(&db.run_command("shop", &doc! {"insert": "gone", "documents": [{"x": 1}]}));
        ok(&db.run_command("shop", &doc! {"drop": "gone"}));
        db.set(b"k", b"v").unwrap();
    }
    let before;
    {
        let db = Db::open(&path, Options::default()).unwrap();
        let users = find_all(&db, "shop", "users", doc! {});
        assert_eq!(users.len(), 2);
        assert_eq!(users[0].get_i32("n").unwrap(), 111);
        // The logged effect carries the resolved time: replay does not re-read the clock.
        assert!(matches!(users[0].get("at"), Some(Bson::DateTime(_))));
        let names: Vec<String> = first_batch(&db.run_command("shop", &doc! {"listCollections": 1}))
            .iter()
            .map(|d| d.get_str("name").unwrap().to_string())
            .collect();
        assert_eq!(names, ["empty", "users"]);
        before = users;
        db.snapshot().unwrap();
        ok(&db.run_command("shop", &doc! {"insert": "users", "documents": [{"_id": 4}]}));
    }
    let db = Db::open(&path, Options::default()).unwrap();
    let users = find_all(&db, "shop", "users", doc! {});
    assert_eq!(&users[..2], &before[..]);
    assert_eq!(users[2], doc! {"_id": 4});
    assert_eq!(db.get(b"k").unwrap().as_deref(), Some(&b"v"[..]));
}

#[test]
fn a_transaction_updates_a_document_and_deletes_its_cache_key_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    {
        let db = Db::open(&path, Options::default()).unwrap();
        ok(&db.run_command("app", &doc! {"insert": "users", "documents": [{"_id": "u1", "name": "Ada"}]}));
        db.set(b"cache:user:u1", b"{\"name\":\"Ada\"}").unwrap();
        let (del, upd) = db
            .transaction(|tx| {
                let upd =
                    tx.run_command("app", &doc! {"update": "users", "updates": [{"q": {"_id": "u1"}, "u": {"$set": {"name": "Ada L."}}}]});
                let del = tx.execute(&[b"DEL", b"cache:user:u1"]);
                (del, upd)
            })
            .unwrap();
        assert_eq!(del, Reply::Int(1));
        assert_eq!(upd.get_i32("nModified").unwrap(), 1, "{upd}");
    }
    let db = Db::open(&path, Options::default()).unwrap();
    assert_eq!(db.get(b"cache:user:u1").unwrap(), None);
    assert_eq!(find_all(&db, "app", "users", doc! {})[0].get_str("name").unwrap(), "Ada L.");
}

#[test]
fn collections_are_never_evicted_and_their_memory_is_counted() {
    let db = Db::memory(Options::default().maxmemory(4 << 20, nestdb::EvictionPolicy::AllKeysLru));
    let used = |db: &Db| -> u64 {
        let Reply::Bulk(info) = db.execute(&[b"INFO", b"memory"]) else { panic!() };
        let info = String::from_utf8(info).unwrap();
        info.lines().find_map(|l| l.strip_prefix("used_memory:")).unwrap().trim().parse().unwrap()
    };
    let before = used(&db);
    let docs: Vec<Document> = (0..2000).map(|i| doc! {"_id": i, "text": "y".repeat(200)}).collect();
    ok(&db.run_command("t", &doc! {"insert": "c", "documents": docs}));
    assert!(used(&db) >= before + 2000 * 200, "used_memory must count the documents");
    // Fill the cap with keys: keys are evicted, the collection stays whole.
    for i in 0..20_000 {
        db.set(format!("key:{i}").as_bytes(), &[b'v'; 200]).unwrap();
    }
    assert!(db.execute(&[b"DBSIZE"]) != Reply::Int(20_001), "some keys must have been evicted");
    assert_eq!(db.run_command("t", &doc! {"count": "c"}).get_i32("n").unwrap(), 2000);
    let after_drop = {
        ok(&db.run_command("t", &doc! {"drop": "c"}));
        used(&db)
    };
    assert!(after_drop < 4 << 20);
}

#[test]
fn find_and_modify_reply_shapes() {
    let db = Db::open_in_memory();
    ok(&db.run_command("t", &doc! {"insert": "c", "documents": [{"_id": 1, "n": 1}, {"_id": 2, "n": 5}]}));
    let r = db.run_command("t", &doc! {"findAndModify": "c", "query": {"n": {"$gt": 0}}, "sort": {"n": -1}, "update": {"$inc": {"n": 1}}});
    ok(&r);
    assert_eq!(r.get_document("value").unwrap(), &doc! {"_id": 2, "n": 5});
    assert_eq!(r.get_document("lastErrorObject").unwrap(), &doc! {"n": 1, "updatedExisting": true});
    let r = db.run_command(
        "t",
        &doc! {"findAndModify": "c", "query": {"_id": 2}, "update": {"$inc": {"n": 1}}, "new": true, "fields": {"_id": 0}},
    );
    assert_eq!(r.get_document("value").unwrap(), &doc! {"n": 7});
    let r =
        db.run_command("t", &doc! {"findAndModify": "c", "query": {"_id": 9}, "update": {"$set": {"n": 0}}, "upsert": true, "new": true});
    assert_eq!(r.get_document("value").unwrap(), &doc! {"_id": 9, "n": 0});
    assert_eq!(r.get_document("lastErrorObject").unwrap(), &doc! {"n": 1, "updatedExisting": false, "upserted": 9});
    let r = db.run_command("t", &doc! {"findAndModify": "c", "query": {"_id": 1}, "remove": true});
    assert_eq!(r.get_document("value").unwrap(), &doc! {"_id": 1, "n": 1});
    let r = db.run_command("t", &doc! {"findAndModify": "c", "query": {"_id": 1}, "remove": true});
    assert_eq!(r.get("value"), Some(&Bson::Null));
    assert_eq!(r.get_document("lastErrorObject").unwrap(), &doc! {"n": 0});
}

#[test]
fn update_and_delete_reply_shapes_and_upserts() {
    let db = Db::open_in_memory();
    ok(&db.run_command("t", &doc! {"insert": "c", "documents": [{"_id": 1, "tags": ["a"]}, {"_id": 2, "tags": ["b"]}]}));
    let r = db.run_command(
        "t",
        &doc! {"update": "c", "updates": [
            {"q": {}, "u": {"$set": {"x": 1}}, "multi": true},
            {"q": {"_id": 1}, "u": {"$set": {"x": 1}}},
            {"q": {"name": "new", "_id": 5}, "u": {"$setOnInsert": {"created": true}, "$set": {"y": 2}}, "upsert": true},
        ]},
    );
    ok(&r);
    assert_eq!(r.get_i32("n").unwrap(), 4, "{r}");
    assert_eq!(r.get_i32("nModified").unwrap(), 2, "{r}");
    assert_eq!(r.get_array("upserted").unwrap(), &vec![Bson::Document(doc! {"index": 2, "_id": 5})]);
    assert_eq!(find_all(&db, "t", "c", doc! {"_id": 5})[0], doc! {"_id": 5, "name": "new", "created": true, "y": 2});
    // A statement error becomes a writeError; ordered stops there.
    let r = db.run_command(
        "t",
        &doc! {"update": "c", "updates": [{"q": {"_id": 1}, "u": {"$set": {"_id": 9}}}, {"q": {}, "u": {"$set": {"z": 1}}}]},
    );
    let e = r.get_array("writeErrors").unwrap()[0].as_document().unwrap();
    assert_eq!(e.get_i32("code").unwrap(), 66);
    assert_eq!(r.get_i32("n").unwrap(), 0);
    let r = db.run_command("t", &doc! {"delete": "c", "deletes": [{"q": {"tags": "a"}, "limit": 0}, {"q": {}, "limit": 1}]});
    assert_eq!(r.get_i32("n").unwrap(), 2);
    assert_eq!(db.run_command("t", &doc! {"count": "c"}).get_i32("n").unwrap(), 1);
    let r = db.run_command("t", &doc! {"delete": "c", "deletes": [{"q": {}, "limit": 5}]});
    assert_eq!(r.get_array("writeErrors").unwrap()[0].as_document().unwrap().get_i32("code").unwrap(), 9);
    let r = db.run_command("t", &doc! {"find": "c", "collation": {"locale": "fr"}});
    assert_eq!(r.get_f64("ok").unwrap(), 0.0);
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct User {
    #[serde(rename = "_id")]
    id: i64,
    name: String,
    age: i32,
    skills: Vec<String>,
}

#[test]
fn typed_rust_api_with_serde() {
    let db = Db::open_in_memory();
    let users = db.database("app").collection::<User>("users");
    let ada = User { id: 1, name: "Ada".into(), age: 36, skills: vec!["math".into()] };
    let bob = User { id: 2, name: "Bob".into(), age: 25, skills: vec!["rust".into(), "go".into()] };
    assert_eq!(users.insert_one(&ada).unwrap(), Bson::Int64(1));
    users.insert_many([&bob]).unwrap();
    assert!(matches!(users.insert_one(&ada), Err(nestdb::Error::Document(e)) if e.code == 11000));
    assert_eq!(users.find_one(doc! {"name": "Bob"}).unwrap(), Some(bob.clone()));
    let by_age = users.find(doc! {}).sort(doc! {"age": 1}).run().unwrap();
    assert_eq!(by_age, [bob.clone(), ada.clone()]);
    assert_eq!(users.count_documents(doc! {"skills": "rust"}).unwrap(), 1);
    let r = users.update_one(doc! {"_id": 1}, doc! {"$inc": {"age": 1}, "$push": {"skills": "poetry"}}).unwrap();
    assert_eq!((r.matched_count, r.modified_count), (1, 1));
    assert_eq!(users.find_one(doc! {"_id": 1}).unwrap().unwrap().skills, ["math", "poetry"]);
    let r = users
        .update_with(doc! {"_id": 3}, doc! {"$set": {"name": "Cy", "age": 1, "skills": []}}, nestdb::UpdateOptions::default().upsert(true))
        .unwrap();
    assert_eq!(r.upserted_id, Some(Bson::Int32(3)));
    assert_eq!(users.estimated_document_count().unwrap(), 3);
    assert_eq!(users.distinct("skills", doc! {}).unwrap().len(), 4);
    let raw = db.collection::<Document>("other");
    raw.insert_one(&doc! {"x": 1}).unwrap();
    assert_eq!(raw.namespace(), "test.other");
    assert_eq!(users.delete_many(doc! {"age": {"$lt": 30}}).unwrap(), 2);
    assert!(users.drop().unwrap());
    assert_eq!(db.database("app").list_collection_names().unwrap(), Vec::<String>::new());
}

/// A big batch is encoded by several threads: the outcome is the sequential one (the same
/// documents stored, the same first error, nothing after it for an ordered insert), and
/// generated ObjectIds still increase with position in the batch.
#[test]
fn large_insert_batches_keep_order_ids_and_errors() {
    let db = Db::open_in_memory();
    let c = db.collection::<Document>("batch");
    let batch: Vec<Document> = (0..1000)
        .map(|i| {
            if i % 3 == 0 {
                doc! {"n": i}
            } else {
                doc! {"_id": i, "n": i, "s": "x".repeat(i as usize % 50)}
            }
        })
        .collect();
    let ids = c.insert_many(&batch).unwrap();
    assert_eq!(ids.len(), 1000);
    let generated: Vec<nestdb::bson::oid::ObjectId> = ids.iter().filter_map(|b| b.as_object_id()).collect();
    assert_eq!(generated.len(), 334);
    assert!(generated.windows(2).all(|w| w[0] < w[1]), "ObjectIds out of batch order");
    let stored: Vec<Document> = c.find(doc! {}).run().unwrap();
    let ns: Vec<i32> = stored.iter().map(|d| d.get_i32("n").unwrap()).collect();
    assert_eq!(ns, (0..1000).collect::<Vec<_>>());
    for (d, id) in stored.iter().zip(&ids) {
        assert_eq!(d.get("_id").unwrap(), id);
    }
    // An ordered batch stops at its first bad document: an array `_id` at 600, a duplicate at 700.
    let mut bad: Vec<Document> = (2000..3000).map(|i| doc! {"_id": i}).collect();
    bad[600] = doc! {"_id": [1, 2]};
    bad[700] = doc! {"_id": 2001};
    let err = c.insert_many(&bad).unwrap_err();
    assert!(err.to_string().contains("_id"), "{err}");
    assert_eq!(c.count_documents(doc! {"_id": {"$gte": 2000}}).unwrap(), 600);
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Profile {
    #[serde(rename = "_id")]
    id: i64,
    oid: nestdb::bson::oid::ObjectId,
    seen: nestdb::bson::DateTime,
    score: f64,
    nick: Option<String>,
    tags: Vec<String>,
    home: Home,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Home {
    city: String,
    zip: i32,
}

/// `c.find(filter)` with the given sort, projection, skip and limit.
fn shaped<'c, T>(
    c: &'c nestdb::Collection<T>,
    filter: &Document,
    sort: &Option<Document>,
    projection: &Option<Document>,
    skip: u64,
    limit: u64,
) -> nestdb::Find<'c, T>
where
    T: Serialize + serde::de::DeserializeOwned + 'static,
{
    let mut f = c.find(filter.clone()).skip(skip).limit(limit);
    if let Some(s) = sort {
        f = f.sort(s.clone());
    }
    if let Some(p) = projection {
        f = f.projection(p.clone());
    }
    f
}

/// Typed (serde) and raw finds are made from the stored bytes, `Document` finds decode them:
/// every find path (parallel scan, skip and limit, sort, projection, index, `_id` lookup,
/// text search) gives the same answers all three ways. A serde type that is not a struct
/// (`serde_json::Value`) sees BSON's special types as the MongoDB Rust driver's cursors show
/// them (serde from the bytes: canonical extended forms).
#[test]
fn typed_and_raw_finds_agree_with_document_finds() {
    let db = Db::open_in_memory();
    let docs = db.collection::<Document>("p");
    let n = 70_000i64; // above the parallel scan threshold
    let all: Vec<Document> = (0..n)
        .map(|i| {
            let mut d = doc! {
                "_id": i,
                "oid": nestdb::bson::oid::ObjectId::from_bytes([(i % 251) as u8; 12]),
                "seen": nestdb::bson::DateTime::from_millis(1_700_000_000_000 + i),
                "score": i as f64 / 7.0,
                "tags": if i % 3 == 0 { vec!["red fox"] } else { vec!["blue", "whale"] },
                "home": {"city": format!("c{}", i % 10), "zip": (i % 1000) as i32},
            };
            if i % 2 == 0 {
                d.insert("nick", format!("n{i}"));
            }
            d
        })
        .collect();
    for chunk in all.chunks(5_000) {
        docs.insert_many(chunk).unwrap();
    }
    db.run_command(
        "test",
        &doc! {"createIndexes": "p", "indexes": [{"key": {"home.zip": 1}, "name": "zip"}, {"key": {"tags": "text"}, "name": "t"}]},
    );
    let typed = db.collection::<Profile>("p");
    let raw = db.collection::<nestdb::bson::RawDocumentBuf>("p");
    let json = db.collection::<serde_json::Value>("p");
    type Shape = (Document, Option<Document>, Option<Document>, u64, u64);
    let shapes: Vec<Shape> = vec![
        (doc! {"score": {"$gte": 9000.0}, "home.city": "c3"}, None, None, 0, 0),
        (doc! {"score": {"$gte": 9000.0}, "home.city": "c3"}, None, None, 17, 40),
        (doc! {"home.city": "c5"}, Some(doc! {"score": -1}), None, 0, 25),
        (doc! {"home.zip": {"$in": [7, 8]}}, None, None, 0, 0),
        (doc! {"_id": 12_345}, None, None, 0, 0),
        (doc! {"$text": {"$search": "fox"}, "_id": {"$lt": 40}}, None, None, 0, 0),
        (doc! {"home.city": "c1", "_id": {"$lt": 100}}, Some(doc! {"_id": -1}), Some(doc! {"home": 0}), 1, 0),
    ];
    for (filter, sort, projection, skip, limit) in shapes {
        let want: Vec<Document> = shaped(&docs, &filter, &sort, &projection, skip, limit).run().unwrap();
        assert!(!want.is_empty(), "{filter}");
        let raws: Vec<Document> = shaped(&raw, &filter, &sort, &projection, skip, limit)
            .run()
            .unwrap()
            .iter()
            .map(|r| Document::try_from(r.as_ref()).unwrap())
            .collect();
        assert!(raws == want, "{filter}");
        // The streaming cursor: the same answer, one result per `next()`.
        let streamed: Vec<Document> =
            shaped(&docs, &filter, &sort, &projection, skip, limit).cursor().unwrap().map(|d| d.unwrap()).collect();
        assert!(streamed == want, "{filter}");
        let streamed_raw: Vec<Document> = shaped(&raw, &filter, &sort, &projection, skip, limit)
            .cursor()
            .unwrap()
            .map(|r| Document::try_from(r.unwrap().as_ref()).unwrap())
            .collect();
        assert!(streamed_raw == want, "{filter}");
        let jsons = shaped(&json, &filter, &sort, &projection, skip, limit).run().unwrap();
        // What the MongoDB Rust driver's cursor gives: serde from the document's bytes.
        let as_driver: Vec<serde_json::Value> =
            want.iter().map(|d| nestdb::bson::deserialize_from_slice(&nestdb::bson::serialize_to_vec(d).unwrap()).unwrap()).collect();
        assert!(jsons == as_driver, "{filter}");
        if projection.is_none() {
            let got = shaped(&typed, &filter, &sort, &None, skip, limit).run().unwrap();
            let via_documents: Vec<Profile> = want.iter().map(|d| nestdb::bson::deserialize_from_document(d.clone()).unwrap()).collect();
            assert!(got == via_documents, "{filter}");
            let streamed: Vec<Profile> = shaped(&typed, &filter, &sort, &None, skip, limit).cursor().unwrap().map(|p| p.unwrap()).collect();
            assert!(streamed == via_documents, "{filter}");
        } else {
            // A projection that drops a required field: the same refusal from the bytes.
            let err = typed.find(filter.clone()).projection(projection.clone().unwrap()).run().unwrap_err();
            assert!(err.to_string().contains("does not fit the requested type"), "{err}");
            // A cursor opens, and each item that does not fit is an error of its own.
            let items: Vec<_> = typed.find(filter.clone()).projection(projection.clone().unwrap()).cursor().unwrap().collect();
            assert!(!items.is_empty() && items.iter().all(|r| r.as_ref().is_err_and(|e| e.to_string().contains("does not fit"))));
        }
    }
    let one = typed.find_one(doc! {"_id": 4}).unwrap().unwrap();
    assert_eq!((one.nick.as_deref(), one.home.zip, one.tags.len()), (Some("n4"), 4, 2));
    assert_eq!(typed.find_one(doc! {"_id": n}).unwrap(), None);
    let j = json.find_one(doc! {"_id": 5}).unwrap().unwrap();
    assert_eq!(j["seen"], serde_json::json!({"$date": {"$numberLong": "1700000000005"}}));
    assert_eq!(j["oid"], serde_json::json!({"$oid": "050505050505050505050505"}));
    let deleted = json.find_one_and_delete(doc! {"_id": 6}, None).unwrap().unwrap();
    assert_eq!(deleted["seen"], serde_json::json!({"$date": {"$numberLong": "1700000000006"}}));
    assert_eq!(Document::try_from(raw.find_one(doc! {"_id": 3}).unwrap().unwrap().as_ref()).unwrap(), all[3]);

    // A scan cursor reads its matches in batches: between batches a document is read as it is
    // now, and only while it still matches (as a MongoDB cursor between getMores).
    let city = |c: &str| doc! {"home.city": c};
    let mut open = docs.find(city("c7")).cursor().unwrap();
    assert_eq!(open.next().unwrap().unwrap().get_i64("_id").unwrap(), 7);
    docs.delete_one(doc! {"_id": 7_007}).unwrap(); // the 701st match: a later batch
    docs.update_one(doc! {"_id": 7_017}, doc! {"$set": {"home.city": "c8"}}).unwrap();
    docs.update_one(doc! {"_id": 7_027}, doc! {"$set": {"x": 1}}).unwrap();
    docs.update_one(doc! {"_id": 17}, doc! {"$set": {"home.city": "c8"}}).unwrap(); // already read (first batch)
    docs.insert_one(&doc! {"_id": -7, "home": {"city": "c7"}}).unwrap(); // inserted after: not returned
    let rest: Vec<Document> = open.map(|d| d.unwrap()).collect();
    let ids: Vec<i64> = rest.iter().map(|d| d.get_i64("_id").unwrap()).collect();
    assert_eq!(ids.len(), 7_000 - 1 - 2);
    assert_eq!((ids[0], ids[1], *ids.last().unwrap()), (17, 27, 69_997));
    assert!(!ids.contains(&7_007) && !ids.contains(&7_017) && !ids.contains(&-7));
    assert_eq!(rest.iter().find(|d| d.get_i64("_id").ok() == Some(7_027)).unwrap().get_i32("x").ok(), Some(1));
    assert_eq!(rest[0].get_document("home").unwrap().get_str("city").ok(), Some("c7"), "a batch holds the documents as they were read");

    // Dropping the collection (or replacing it under the same name) ends an open scan cursor
    // with QueryPlanKilled once its current batch is used up.
    for recreate in [false, true] {
        docs.drop().unwrap();
        docs.insert_many(&all).unwrap();
        let mut open = docs.find(city("c3")).cursor().unwrap();
        assert!(open.next().unwrap().is_ok());
        db.database("test").collection::<Document>("p").drop().unwrap();
        if recreate {
            docs.insert_many(&all).unwrap();
        }
        let rest: Vec<_> = open.collect();
        assert_eq!(rest.len(), nestdb::CURSOR_BATCH); // 255 buffered, then the error
        assert!(rest[..255].iter().all(|r| r.is_ok()));
        let err = rest[255].as_ref().unwrap_err().to_string();
        assert!(err.contains("QueryPlanKilled") && err.contains("dropped"), "{err}");
    }
    // A cursor can move to another thread (it owns its `Db` handle, filter and batch).
    fn send<X: Send + 'static>(_: &X) {}
    let moved = docs.find(city("c3")).cursor().unwrap();
    send(&moved);
    assert_eq!(std::thread::spawn(move || moved.count()).join().unwrap(), 7_000);
    // A cursor over a collection that does not exist is empty; one of a limited find is whole.
    assert_eq!(db.collection::<Document>("nope").find(doc! {}).cursor().unwrap().count(), 0);
    let limited: Vec<_> = docs.find(city("c3")).limit(300).cursor().unwrap().collect();
    assert_eq!(limited.len(), 300);
}

#[test]
fn aggregation_reads_other_collections_and_writes_with_out_and_merge() {
    let db = Db::open_in_memory();
    ok(&db.run_command(
        "shop",
        &doc! {"insert": "orders", "documents": [
            {"_id": 1, "item": "almonds", "price": 12, "quantity": 2},
            {"_id": 2, "item": "pecans", "price": 20, "quantity": 1},
            {"_id": 3},
        ]},
    ));
    ok(&db.run_command(
        "shop",
        &doc! {"insert": "inventory", "documents": [
            {"_id": 1, "sku": "almonds", "instock": 120},
            {"_id": 2, "sku": "bread", "instock": 80},
            {"_id": 5, "sku": null},
            {"_id": 6},
        ]},
    ));
    // The manual's $lookup example: missing `item` matches null/missing `sku`.
    let r = first_batch(&db.run_command(
        "shop",
        &doc! {"aggregate": "orders", "pipeline": [
            {"$lookup": {"from": "inventory", "localField": "item", "foreignField": "sku", "as": "inventory_docs"}},
            {"$project": {"n": {"$size": "$inventory_docs"}}},
        ], "cursor": {}},
    ));
    assert_eq!(r, [doc! {"_id": 1, "n": 1}, doc! {"_id": 2, "n": 0}, doc! {"_id": 3, "n": 2}]);
    // $out replaces the target as a whole and answers with an empty cursor.
    ok(&db.run_command("shop", &doc! {"insert": "totals", "documents": [{"_id": "stale"}]}));
    let r = db.run_command(
        "shop",
        &doc! {"aggregate": "orders", "pipeline": [
            {"$match": {"price": {"$exists": true}}},
            {"$group": {"_id": "$item", "revenue": {"$sum": {"$multiply": ["$price", "$quantity"]}}}},
            {"$out": "totals"},
        ], "cursor": {}},
    );
    assert!(first_batch(&r).is_empty());
    let mut totals = find_all(&db, "shop", "totals", doc! {});
    totals.sort_by_key(|d| d.get_str("_id").unwrap().to_string());
    assert_eq!(totals, [doc! {"_id": "almonds", "revenue": 24}, doc! {"_id": "pecans", "revenue": 20}]);
    // A duplicate _id makes $out fail and leaves the target as it was.
    let r = db
        .run_command("shop", &doc! {"aggregate": "orders", "pipeline": [{"$project": {"_id": "same"}}, {"$out": "totals"}], "cursor": {}});
    assert_eq!(r.get_f64("ok").unwrap(), 0.0, "{r}");
    assert_eq!(find_all(&db, "shop", "totals", doc! {}).len(), 2);
    // $merge: matched documents merged, the others inserted.
    let r = db.run_command(
        "shop",
        &doc! {"aggregate": "orders", "pipeline": [
            {"$match": {"_id": {"$in": [1, 3]}}},
            {"$project": {"_id": {"$ifNull": ["$item", "none"]}, "orders": {"$literal": 1}}},
            {"$merge": {"into": "totals", "whenMatched": "merge", "whenNotMatched": "insert"}},
        ], "cursor": {}},
    );
    ok(&r);
    let mut totals = find_all(&db, "shop", "totals", doc! {});
    totals.sort_by_key(|d| d.get_str("_id").unwrap().to_string());
    assert_eq!(
        totals,
        [doc! {"_id": "almonds", "revenue": 24, "orders": 1}, doc! {"_id": "none", "orders": 1}, doc! {"_id": "pecans", "revenue": 20}]
    );
    // The typed API runs the same pipelines (locking the collections it reads).
    let joined = db
        .database("shop")
        .collection::<Document>("orders")
        .aggregate([
            doc! {"$lookup": {"from": "inventory", "localField": "item", "foreignField": "sku", "as": "inv"}},
            doc! {"$match": {"inv": {"$ne": []}}},
            doc! {"$count": "n"},
        ])
        .unwrap();
    assert_eq!(joined, [doc! {"n": 2}]);
}

#[test]
fn dotted_and_dollar_field_names_are_stored_and_reached_with_get_field() {
    let db = Db::open_in_memory();
    // MongoDB 5.0+: such names may be inserted; queries cannot name them, $getField can.
    ok(&db.run_command("t", &doc! {"insert": "c", "documents": [{"_id": 1, "price.usd": 5, "$qty": 2}]}));
    let r = first_batch(&db.run_command(
        "t",
        &doc! {"aggregate": "c", "pipeline": [
            {"$project": {"_id": 0, "usd": {"$getField": "price.usd"}, "qty": {"$getField": {"$literal": "$qty"}}}},
        ], "cursor": {}},
    ));
    assert_eq!(r, [doc! {"usd": 5, "qty": 2}]);
    let r = first_batch(&db.run_command("t", &doc! {"find": "c", "filter": {"$expr": {"$gt": [{"$getField": "price.usd"}, 4]}}}));
    assert_eq!(r.len(), 1);
    // A dotted query path means nesting, so it does not reach the literal name.
    assert!(first_batch(&db.run_command("t", &doc! {"find": "c", "filter": {"price.usd": 5}})).is_empty());
    let r = first_batch(&db.run_command(
        "t",
        &doc! {"aggregate": "c", "pipeline": [
            {"$replaceWith": {"$setField": {"field": "price.usd", "input": "$$ROOT", "value": 6}}},
        ], "cursor": {}},
    ));
    assert_eq!(r[0].get_i32("price.usd").unwrap(), 6);
}

#[test]
fn large_scans_split_across_threads_keep_natural_order_skip_and_limit() {
    // Above the parallel-scan threshold (64k documents): the result must be exactly the
    // sequential one, in natural order, with skip/limit applied after matching.
    let db = Db::open_in_memory();
    let coll = db.collection::<Document>("big");
    let docs: Vec<Document> = (0..100_000i64).map(|i| doc! {"_id": i, "m": i % 7, "s": format!("v{}", i % 3)}).collect();
    for chunk in docs.chunks(10_000) {
        coll.insert_many(chunk.iter()).unwrap();
    }
    coll.delete_many(doc! {"m": 5}).unwrap();
    let want: Vec<i64> = (0..100_000i64).filter(|i| i % 7 == 3 && i % 3 == 1).collect();
    let got: Vec<i64> = coll.find(doc! {"m": 3, "s": "v1"}).run().unwrap().iter().map(|d| d.get_i64("_id").unwrap()).collect();
    assert_eq!(got, want);
    let got: Vec<i64> =
        coll.find(doc! {"m": 3, "s": "v1"}).skip(10).limit(5).run().unwrap().iter().map(|d| d.get_i64("_id").unwrap()).collect();
    assert_eq!(got, want[10..15]);
    assert_eq!(coll.count_documents(doc! {"m": 3, "s": "v1"}).unwrap(), want.len() as u64);
    // A broad find is projected by several threads: same documents, same order, projected.
    let broad = coll.find(doc! {"m": {"$lt": 5}}).projection(doc! {"m": 1}).run().unwrap();
    let want_ids: Vec<i64> = (0..100_000i64).filter(|i| i % 7 < 5).collect();
    assert_eq!(broad.len(), want_ids.len());
    for (d, id) in broad.iter().zip(&want_ids) {
        assert_eq!((d.len(), d.get_i64("_id").unwrap(), d.get_i64("m").unwrap()), (2, *id, id % 7));
    }
    let sorted: Vec<i64> = coll
        .find(doc! {"m": 3, "s": "v1"})
        .sort(doc! {"_id": -1})
        .limit(3)
        .run()
        .unwrap()
        .iter()
        .map(|d| d.get_i64("_id").unwrap())
        .collect();
    assert_eq!(sorted, want.iter().rev().take(3).copied().collect::<Vec<_>>());
    // An evaluation error in any part of the scan is reported.
    let r = db.run_command("test", &doc! {"count": "big", "query": {"$expr": {"$divide": [1, "$m"]}}});
    assert_eq!(r.get_f64("ok").unwrap(), 0.0, "{r}");
}

#[test]
fn a_multi_update_failing_part_way_keeps_its_changes_and_is_seen_by_watch() {
    let db = Db::open_in_memory();
    ok(&db.run_command("t", &doc! {"insert": "c", "documents": [{"_id": 1, "n": 1}, {"_id": 2, "n": "text"}, {"_id": 3, "n": 3}]}));
    let mut s = db.session();
    assert_eq!(s.execute(&[b"WATCH", b"t.c"]), Reply::OK);
    let r = db.run_command("t", &doc! {"update": "c", "updates": [{"q": {}, "u": {"$inc": {"n": 1}}, "multi": true}]});
    assert_eq!(r.get_array("writeErrors").unwrap()[0].as_document().unwrap().get_i32("code").unwrap(), 14, "{r}");
    // The first document was changed before the error (MongoDB does not roll back)...
    assert_eq!(find_all(&db, "t", "c", doc! {"_id": 1})[0].get_i32("n").unwrap(), 2);
    assert_eq!(find_all(&db, "t", "c", doc! {"_id": 3})[0].get_i32("n").unwrap(), 3);
    // ...so a transaction watching the collection must abort.
    s.execute(&[b"MULTI"]);
    s.execute(&[b"SET", b"k", b"v"]);
    assert_eq!(s.execute(&[b"EXEC"]), Reply::Nil);
}

#[test]
fn find_min_max_bound_the_hinted_index_and_show_record_id() {
    let db = Db::open_in_memory();
    let docs: Vec<Document> = (0..10).map(|n| doc! {"_id": n, "n": 9 - n, "m": n % 3}).collect();
    ok(&db.run_command("t", &doc! {"insert": "c", "documents": docs}));
    ok(&db.run_command(
        "t",
        &doc! {"createIndexes": "c", "indexes": [{"key": {"n": 1}, "name": "n_1"}, {"key": {"m": 1, "n": -1}, "name": "m_n"}]},
    ));
    let ns = |reply: &Document| first_batch(reply).iter().map(|d| d.get_i32("n").unwrap()).collect::<Vec<_>>();
    let find = |extra: Document| {
        let mut cmd = doc! {"find": "c", "filter": {}};
        cmd.extend(extra);
        db.run_command("t", &cmd)
    };
    // min inclusive, max exclusive, in the hinted index's order.
    assert_eq!(ns(&find(doc! {"min": {"n": 3}, "max": {"n": 6}, "hint": {"n": 1}})), vec![3, 4, 5]);
    assert_eq!(ns(&find(doc! {"min": {"n": 7}, "hint": "n_1"})), vec![7, 8, 9]);
    assert_eq!(ns(&find(doc! {"max": {"n": 2}, "hint": {"n": 1}, "filter": {"n": {"$ne": 0}}})), vec![1]);
    // Compound, with a descending field: (m, n desc) from (1, 7) inclusive to (2, 3) exclusive.
    let got: Vec<(i32, i32)> = first_batch(&find(doc! {"min": {"m": 1, "n": 7}, "max": {"m": 2, "n": 3}, "hint": "m_n"}))
        .iter()
        .map(|d| (d.get_i32("m").unwrap(), d.get_i32("n").unwrap()))
        .collect();
    assert_eq!(got, vec![(1, 5), (1, 2), (2, 7), (2, 4)]);
    // A hint is required; the bounds must be the index's key pattern.
    assert_eq!(find(doc! {"min": {"n": 3}}).get_i32("code").unwrap(), 51173);
    assert_eq!(find(doc! {"min": {"n": 3}, "hint": {"$natural": 1}}).get_i32("code").unwrap(), 2);
    assert_eq!(find(doc! {"min": {"x": 3}, "hint": {"n": 1}}).get_i32("code").unwrap(), 51174);
    assert_eq!(find(doc! {"min": {"m": 1}, "max": {"n": 3}, "hint": "m_n"}).get_i32("code").unwrap(), 51176);
    // The _id index, and an _id equality needs no hint.
    assert_eq!(ns(&find(doc! {"min": {"_id": 8}, "hint": {"_id": 1}})), vec![1, 0]);
    assert_eq!(ns(&find(doc! {"filter": {"_id": 2}, "min": {"n": 0}})), vec![7]);
    // showRecordId: an int64 $recordId on each document, even under a covering projection.
    let shown = first_batch(&find(doc! {"filter": {"n": {"$lt": 2}}, "projection": {"_id": 0, "n": 1}, "showRecordId": true}));
    assert_eq!(shown.len(), 2);
    assert!(shown.iter().all(|d| matches!(d.get("$recordId"), Some(Bson::Int64(_)))));
    let ids: Vec<i64> = shown.iter().map(|d| d.get_i64("$recordId").unwrap()).collect();
    assert_ne!(ids[0], ids[1]);
    // returnKey: the index key read (compound, multikey, _id), {} without an index.
    let keys = |extra: Document| first_batch(&find(extra));
    assert_eq!(keys(doc! {"filter": {"n": 2}, "returnKey": true, "hint": {"n": 1}}), vec![doc! {"n": 2}]);
    assert_eq!(
        keys(doc! {"filter": {"m": 2, "n": {"$gt": 3}}, "returnKey": true, "hint": "m_n"}),
        vec![doc! {"m": 2, "n": 7}, doc! {"m": 2, "n": 4}]
    );
    assert_eq!(keys(doc! {"filter": {"_id": 3}, "returnKey": true}), vec![doc! {"_id": 3}]);
    assert_eq!(keys(doc! {"filter": {"n": 3}, "returnKey": true, "hint": {"$natural": 1}}), vec![doc! {}]);
    ok(&db.run_command("t", &doc! {"insert": "arr", "documents": [{"_id": 1, "t": [5, 1, Bson::Decimal128("2.5".parse().unwrap())]}]}));
    ok(&db.run_command("t", &doc! {"createIndexes": "arr", "indexes": [{"key": {"t": 1}, "name": "t_1"}]}));
    let got = first_batch(&db.run_command("t", &doc! {"find": "arr", "filter": {"t": {"$gt": 2}}, "returnKey": true, "hint": "t_1"}));
    assert_eq!(got, vec![doc! {"t": Bson::Decimal128("2.5".parse().unwrap())}]);
    let got = first_batch(
        &db.run_command("t", &doc! {"find": "arr", "filter": {"t": {"$gt": 3}}, "returnKey": true, "showRecordId": true, "hint": "t_1"}),
    );
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].get_i32("t").unwrap(), 5);
    assert!(got[0].contains_key("$recordId"));
}

/// A sort on two fields that are arrays in one document ("parallel arrays") is refused with
/// error 2 on every path that sorts in memory, as MongoDB's blocking sort refuses it: a find
/// (collection scan, with and without a limit, and with an index on one of the fields), an
/// aggregation `$sort` (with and without a following `$limit`), and a sorted findAndModify.
/// Two fields through the same array are not parallel and sort.
#[test]
fn sorting_on_parallel_arrays_is_error_2_on_every_path() {
    let db = Db::open_in_memory();
    ok(&db.run_command("t", &doc! {"insert": "c", "documents": [{"_id": 1, "a": [1, 2], "b": [3, 4]}, {"_id": 2, "a": 0, "b": 9}]}));
    let code = |r: &Document| (r.get_f64("ok").ok(), r.get_i32("code").ok());
    let refused = (Some(0.0), Some(2));
    let sort = doc! {"a": 1, "b": 1};
    for limit in [0, 1] {
        let r = db.run_command("t", &doc! {"find": "c", "sort": sort.clone(), "limit": limit});
        assert_eq!(code(&r), refused, "find limit {limit}: {r}");
    }
    for tail in [vec![], vec![doc! {"$limit": 1}]] {
        let mut pipeline = vec![doc! {"$sort": sort.clone()}];
        pipeline.extend(tail);
        let r = db.run_command("t", &doc! {"aggregate": "c", "pipeline": pipeline, "cursor": {}});
        assert_eq!(code(&r), refused, "aggregate: {r}");
    }
    let r = db.run_command("t", &doc! {"findAndModify": "c", "query": {}, "sort": sort.clone(), "update": {"$set": {"x": 1}}});
    assert_eq!(code(&r), refused, "findAndModify: {r}");
    assert_eq!(find_all(&db, "t", "c", doc! {"x": 1}), Vec::<Document>::new(), "nothing was updated");
    ok(&db.run_command("t", &doc! {"createIndexes": "c", "indexes": [{"key": {"a": 1}, "name": "a_1"}]}));
    let r = db.run_command("t", &doc! {"find": "c", "filter": {"a": {"$gte": 0}}, "sort": sort, "hint": "a_1"});
    assert_eq!(code(&r), refused, "find on an index of a: {r}");
    // One array, two paths through it: sorts (by each element's pair).
    ok(&db.run_command(
        "t",
        &doc! {"insert": "d", "documents": [{"_id": 1, "x": [{"a": 5, "b": 1}, {"a": 2, "b": 9}]}, {"_id": 2, "x": {"a": 3, "b": 0}}]},
    ));
    let r = db.run_command("t", &doc! {"find": "d", "sort": {"x.a": 1, "x.b": 1}});
    let ids: Vec<Bson> = first_batch(&r).iter().map(|d| d.get("_id").unwrap().clone()).collect();
    assert_eq!(ids, vec![Bson::Int32(1), Bson::Int32(2)]);
}
