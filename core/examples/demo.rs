//! nestdb demo: the jobs people run Redis for, in-process, with no server.
//!
//! Run with `make demo` (or `cargo run --release -p nestdb --example demo`).

use std::time::Instant;

use nestdb::{Codec, Commands, Db, EvictionPolicy, FsyncPolicy, Options, Reply};

fn show(label: &str, r: &Reply) {
    println!("  {label:<44} -> {r:?}");
}

fn main() -> nestdb::Result<()> {
    let db = Db::open_in_memory();

    println!("== cache-aside with a TTL");
    db.execute(&[b"SETEX", b"cache:user:42", b"300", b"{\"name\":\"Ada\"}"]);
    show("GET cache:user:42", &db.execute(&[b"GET", b"cache:user:42"]));
    show("TTL cache:user:42", &db.execute(&[b"TTL", b"cache:user:42"]));

    println!("== distributed-style lock (SET NX PX)");
    show("SET lock:job owner-1 NX PX 30000", &db.execute(&[b"SET", b"lock:job", b"owner-1", b"NX", b"PX", b"30000"]));
    show("SET lock:job owner-2 NX PX 30000", &db.execute(&[b"SET", b"lock:job", b"owner-2", b"NX", b"PX", b"30000"]));

    println!("== leaderboard (sorted set)");
    for (name, score) in [("ada", 3200.0), ("grace", 4100.0), ("linus", 2900.0), ("ken", 4100.0)] {
        db.zadd(b"board", score, name.as_bytes())?;
    }
    show("ZREVRANGE board 0 2 WITHSCORES", &db.execute(&[b"ZREVRANGE", b"board", b"0", b"2", b"WITHSCORES"]));
    show("ZREVRANK board ada", &db.execute(&[b"ZREVRANK", b"board", b"ada"]));

    println!("== session in a hash, with expiry");
    db.execute(&[b"HSET", b"session:abc", b"user", b"42", b"cart", b"3"]);
    db.execute(&[b"EXPIRE", b"session:abc", b"1800"]);
    show("HGETALL session:abc", &db.execute(&[b"HGETALL", b"session:abc"]));

    println!("== sliding-window rate limiter (pipeline)");
    let now = 1_700_000_000_000u64;
    let replies = db.pipeline(&[
        vec![b"ZREMRANGEBYSCORE".to_vec(), b"rl:42".to_vec(), b"0".to_vec(), (now - 60_000).to_string().into_bytes()],
        vec![b"ZADD".to_vec(), b"rl:42".to_vec(), now.to_string().into_bytes(), now.to_string().into_bytes()],
        vec![b"ZCARD".to_vec(), b"rl:42".to_vec()],
        vec![b"EXPIRE".to_vec(), b"rl:42".to_vec(), b"60".to_vec()],
    ]);
    show("requests in window", &replies[2]);

    println!("== optimistic transaction (WATCH/MULTI/EXEC)");
    db.set(b"stock", b"10")?;
    let mut s = db.session();
    s.execute(&[b"WATCH", b"stock"]);
    s.execute(&[b"MULTI"]);
    s.execute(&[b"DECRBY", b"stock", b"3"]);
    show("EXEC", &s.execute(&[b"EXEC"]));

    println!("== errors are Redis's");
    show("LPUSH stock x", &db.execute(&[b"LPUSH", b"stock", b"x"]));
    show("INCR cache:user:42", &db.execute(&[b"INCR", b"cache:user:42"]));

    println!("== speed (1M SET + 1M GET, one thread, in-process)");
    let keys: Vec<Vec<u8>> = (0..1_000_000u32).map(|i| format!("key:{i:012}").into_bytes()).collect();
    let value = [b'v'; 32];
    let t = Instant::now();
    for k in &keys {
        db.set(k, &value)?;
    }
    let set_rate = keys.len() as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    for k in &keys {
        std::hint::black_box(db.get(k)?);
    }
    let get_rate = keys.len() as f64 / t.elapsed().as_secs_f64();
    println!("  SET {:.2} M ops/s, GET {:.2} M ops/s", set_rate / 1e6, get_rate / 1e6);

    durability()?;
    memory()?;
    documents()
}

/// MongoDB-style documents in the same database: a user profile with embedded orders, queries,
/// updates, an aggregation, and one transaction over a document and a cache key.
fn documents() -> nestdb::Result<()> {
    use nestdb::doc;
    println!("== documents (MongoDB's query and update languages)");
    let db = Db::open_in_memory();
    let users = db.database("shop").collection::<nestdb::bson::Document>("users");
    users.insert_many(&[
        doc! {"_id": 1, "name": "Ada", "profile": {"age": 36, "skills": ["math", "poetry"]}, "orders": [{"sku": "A1", "amount": 30}, {"sku": "B2", "amount": 12}]},
        doc! {"_id": 2, "name": "Bob", "profile": {"age": 25, "skills": ["rust"]}, "orders": [{"sku": "A1", "amount": 99}]},
        doc! {"_id": 3, "name": "Cy", "profile": {"age": 41, "skills": []}, "orders": []},
    ])?;
    let big = users.find(doc! {"orders.amount": {"$gt": 50}}).projection(doc! {"name": 1, "_id": 0}).run()?;
    println!("  find orders.amount > 50: {}", big.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "));
    let r = users.update_one(doc! {"_id": 3}, doc! {"$push": {"profile.skills": "chess"}, "$inc": {"profile.age": 1}})?;
    println!("  update_one $push/$inc: matched {} modified {}", r.matched_count, r.modified_count);
    let totals = users.aggregate([
        doc! {"$match": {"profile.age": {"$gte": 30}}},
        doc! {"$project": {"name": 1, "spent": {"$sum": "$orders.amount"}}},
        doc! {"$sort": {"spent": -1}},
    ])?;
    println!("  aggregate spent by age >= 30: {}", totals.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "));
    let dup = users.insert_one(&doc! {"_id": 1});
    println!("  duplicate _id: {}", dup.err().map(|e| e.to_string()).unwrap_or_default());
    db.set(b"cache:user:2", b"{\"name\":\"Bob\"}")?;
    db.transaction(|tx| {
        tx.run_command("shop", &doc! {"update": "users", "updates": [{"q": {"_id": 2}, "u": {"$set": {"name": "Robert"}}}]});
        tx.execute(&[b"DEL", b"cache:user:2"]);
    })?;
    println!(
        "  one transaction: name now {:?}, cache key gone: {}",
        users.find_one(doc! {"_id": 2})?.and_then(|d| d.get_str("name").ok().map(String::from)),
        db.get(b"cache:user:2")?.is_none()
    );
    let reply = db.run_command("shop", &doc! {"count": "users", "query": {"profile.skills": "chess"}});
    println!("  run_command {{count: users, query: {{profile.skills: chess}}}} -> {reply}");

    println!("== secondary indexes and the planner");
    let events = db.database("shop").collection::<nestdb::bson::Document>("events");
    let batch: Vec<nestdb::bson::Document> = (0..50_000)
        .map(|i: i64| {
            let kind = ["view", "click", "buy"][(i % 3) as usize];
            doc! {"_id": i, "user": format!("u{}", i % 500), "kind": kind, "at": i}
        })
        .collect();
    events.insert_many(&batch)?;
    let t = std::time::Instant::now();
    let name = events.create_index(doc! {"user": 1, "at": -1}, doc! {})?;
    println!("  create_index {name} over 50k documents in {:.1} ms", t.elapsed().as_secs_f64() * 1e3);
    let latest = events.find(doc! {"user": "u42", "at": {"$gte": 10_000}}).sort(doc! {"at": -1}).limit(3).run()?;
    println!("  latest 3 of u42: {}", latest.iter().map(|d| d.get_i64("at").unwrap_or(0).to_string()).collect::<Vec<_>>().join(", "));
    let plan = events.find(doc! {"user": "u42", "at": {"$gte": 10_000}}).sort(doc! {"at": -1}).limit(3).explain()?;
    let stats = plan.get_document("executionStats").map_err(|e| nestdb::Error::Command(e.to_string()))?;
    println!(
        "  explain: {} keys and {} documents examined for {} results (no in-memory sort: {})",
        stats.get_i64("totalKeysExamined").unwrap_or(-1),
        stats.get_i64("totalDocsExamined").unwrap_or(-1),
        stats.get_i64("nReturned").unwrap_or(-1),
        !plan.to_string().contains("\"SORT\"")
    );
    let carts = db.database("shop").collection::<nestdb::bson::Document>("carts");
    carts.create_index(doc! {"user": 1}, doc! {"unique": true, "partialFilterExpression": {"open": true}})?;
    carts.insert_many(&[doc! {"user": "u1", "open": false}, doc! {"user": "u1", "open": false}, doc! {"user": "u1", "open": true}])?;
    let dup = carts.insert_one(&doc! {"user": "u1", "open": true});
    println!("  unique partial index (one open cart per user): {}", dup.err().map(|e| e.to_string()).unwrap_or_default());
    Ok(())
}

fn info_line(db: &Db, section: &str, field: &str) -> String {
    let Reply::Bulk(text) = db.execute(&[b"INFO", section.as_bytes()]) else { return String::new() };
    let text = String::from_utf8_lossy(&text).into_owned();
    text.lines().find_map(|l| l.strip_prefix(&format!("{field}:")).map(str::to_owned)).unwrap_or_default()
}

/// A capped cache (maxmemory + allkeys-lru), compact encodings and transparent compression.
fn memory() -> nestdb::Result<()> {
    println!("== a 2 MB cache: maxmemory with allkeys-lru");
    let db = Db::memory(Options::default().maxmemory(2 << 20, EvictionPolicy::AllKeysLru));
    let (mut hits, mut gets) = (0u32, 0u32);
    for i in 0..200_000u32 {
        // Cache-aside over 100k keys, most traffic on a hot 5 %.
        let k = format!("page:{}", if i % 4 == 0 { i % 100_000 } else { i % 5_000 });
        gets += 1;
        if db.get(k.as_bytes())?.is_some() {
            hits += 1;
        } else {
            db.set(k.as_bytes(), &[b'x'; 100])?;
        }
    }
    println!(
        "  {} keys held, used_memory {} (cap 2.00M), evicted_keys {}, hit ratio {:.1} %",
        db.execute(&[b"DBSIZE"]).as_int().unwrap_or(0),
        info_line(&db, "memory", "used_memory_human"),
        info_line(&db, "stats", "evicted_keys"),
        f64::from(hits) * 100.0 / f64::from(gets)
    );

    println!("== compact encodings and compression");
    let db = Db::memory(Options::default().compression(Codec::Lz4, 128));
    db.execute(&[b"HSET", b"user:1", b"name", b"Ada", b"plan", b"pro"]);
    show("OBJECT ENCODING user:1 (small hash)", &db.execute(&[b"OBJECT", b"ENCODING", b"user:1"]));
    db.execute(&[b"SADD", b"ids", b"1", b"2", b"3"]);
    show("OBJECT ENCODING ids (small integer set)", &db.execute(&[b"OBJECT", b"ENCODING", b"ids"]));
    for i in 0..2000u32 {
        let session = format!(
            "{{\"user\":{i},\"name\":\"user {i}\",\"roles\":[\"customer\"],\"cart\":[{{\"sku\":\"SKU-{}\",\"qty\":{}}}],\
             \"theme\":\"dark\",\"locale\":\"en-GB\",\"last_seen\":{},\"csrf\":\"{:032x}\"}}",
            i * 7 % 997,
            i % 3 + 1,
            1_700_000_000 + i,
            u128::from(i).wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835)
        );
        db.set(format!("session:{i}").as_bytes(), session.as_bytes())?;
    }
    println!(
        "  2000 JSON sessions: {} bytes raw stored in {} bytes (LZ4 with a dictionary sampled from the first values)",
        info_line(&db, "memory", "compressed_raw_bytes"),
        info_line(&db, "memory", "compressed_stored_bytes")
    );
    show("STRLEN session:7 (no decompression)", &db.execute(&[b"STRLEN", b"session:7"]));
    Ok(())
}

/// A database directory: every write logged, a snapshot taken while writing, reopened.
fn durability() -> nestdb::Result<()> {
    println!("== durability (a directory with an append-only log and snapshots)");
    let dir = std::env::temp_dir().join(format!("nestdb-demo-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    {
        let db = Db::open(&dir, Options::default().appendfsync(FsyncPolicy::EverySec))?;
        let t = Instant::now();
        for i in 0..200_000u32 {
            db.set(format!("user:{i}").as_bytes(), b"{\"plan\":\"pro\",\"seats\":3}")?;
        }
        println!("  200k logged SETs in {:.0} ms", t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        db.snapshot()?;
        println!("  snapshot (log restarts after it) in {:.0} ms", t.elapsed().as_secs_f64() * 1e3);
        db.execute(&[b"INCR", b"visits"]);
        db.execute(&[b"SET", b"cache:home", b"<html>", b"EX", b"600"]);
    } // dropped: the log is flushed and fsynced, the directory unlocked
    let db = Db::open(&dir, Options::default())?;
    let r = db.recovery_report().expect("file-backed");
    println!("  reopened in {} ms: {} keys from the snapshot, {} log records replayed", r.load_millis, r.snapshot_keys, r.records_replayed);
    show("GET visits", &db.execute(&[b"GET", b"visits"]));
    show("TTL cache:home", &db.execute(&[b"TTL", b"cache:home"]));
    drop(db);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
