//! Suite `indexes` (issue 8): secondary indexes on the issue-7 dataset (`docs::user`, `cfg.docs`
//! user profiles), through `Db::run_command`.
//!
//! Timed, one thread:
//! - index builds over the full collection (`createIndexes`): `email` (unique), the compound
//!   `{profile.city: 1, created_at: -1}`, and the multikey `profile.skills`, in documents per
//!   second (median of `cfg.reps` drop + create rounds);
//! - indexed equality lookups `find({email: e}, limit 1)` for `cfg.samples` random existing
//!   emails, and the compound query `find({profile.city: X, created_at: {$gte: T}})
//!   .sort({created_at: -1}).limit(20)` for random cities and dates; for one sample of each,
//!   `explain("executionStats")`'s keys examined against documents returned (target: within 2x);
//! - `insert_many` in batches of 1,000 into an empty collection with no secondary index, and
//!   with three (`email` unique, the compound one, `logins`): the ratio (target: at least 50 %);
//! - reopening a database from its snapshot with and without those three indexes (snapshots
//!   hold index definitions; the entries are rebuilt on load, in bulk). Directories on tmpfs
//!   (`/dev/shm`) when there is one.
//!
//! `NESTDB_IDX_PARTS=insert,restart,build,find` (comma-separated) runs only those parts (for
//! profiling one of them); unset, all run.
//!
//! The compound example names `profile.location` and `createdAt`; this dataset's fields
//! with that role are `profile.city` and `created_at`.

use std::hint::black_box;
use std::time::Instant;

use nestdb::bson::{doc, DateTime, Document};
use nestdb::Db;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::docs::{user, BATCH};
use crate::measure::{median, rate, Samples};
use crate::report::{Report, Unit};
use crate::Config;

const DB: &str = "bench";
const COLL: &str = "users";

fn ok(reply: &Document, what: &str) -> Result<(), String> {
    if reply.get_f64("ok").ok() == Some(1.0) {
        Ok(())
    } else {
        Err(format!("{what}: {reply}"))
    }
}

/// `insert_many` in batches through the typed API (as the `docs` suite inserts).
fn insert_all(db: &Db, docs: &[Document]) -> Result<(), String> {
    let users = db.database(DB).collection::<Document>(COLL);
    for chunk in docs.chunks(BATCH) {
        users.insert_many(chunk).map_err(|e| format!("insert_many: {e}"))?;
    }
    Ok(())
}

fn create(db: &Db, key: Document, name: &str, unique: bool) -> Result<(), String> {
    let r = db.run_command(DB, &doc! {"createIndexes": COLL, "indexes": [{"key": key, "name": name, "unique": unique}]});
    ok(&r, "createIndexes")
}

/// A fresh directory for the restart measurement (beside the other suites' files).
fn tempfile_dir() -> Result<std::path::PathBuf, String> {
    let base = if std::path::Path::new("/dev/shm").is_dir() { std::path::PathBuf::from("/dev/shm") } else { std::env::temp_dir() };
    let dir = base.join(format!("nestdb-bench-indexes-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    Ok(dir)
}

fn first_batch(reply: &Document) -> Result<usize, String> {
    reply.get_document("cursor").and_then(|c| c.get_array("firstBatch")).map(Vec::len).map_err(|_| format!("not a cursor reply: {reply}"))
}

/// (keys examined, documents returned) of `find` under explain("executionStats").
fn explain_counts(db: &Db, find: Document) -> Result<(i64, i64, String), String> {
    let r = db.run_command(DB, &doc! {"explain": find, "verbosity": "executionStats"});
    ok(&r, "explain")?;
    let es = r.get_document("executionStats").map_err(|_| format!("no executionStats: {r}"))?;
    let plan = r.get_document("queryPlanner").and_then(|q| q.get_document("winningPlan")).map(ToString::to_string).unwrap_or_default();
    Ok((es.get_i64("totalKeysExamined").unwrap_or(-1), es.get_i64("nReturned").unwrap_or(-1), plan))
}

pub fn run(cfg: &Config, report: &mut Report) -> Result<(), String> {
    let n = cfg.docs;
    let reps = cfg.reps.max(1);
    let docs: Vec<Document> = (0..n as u64).map(user).collect();
    let mut rng = SmallRng::seed_from_u64(8);
    let parts = std::env::var("NESTDB_IDX_PARTS").ok();
    let part = |p: &str| parts.as_deref().is_none_or(|l| l.split(',').any(|x| x.trim() == p));

    // Insert throughput with no secondary index and with three.
    // Wall clock is the reported figure; on-CPU time (this thread's) is shown beside it, as the
    // machine is often shared.
    let mut plain = Samples::default();
    let mut indexed = Samples::default();
    for _ in 0..if part("insert") { reps } else { 0 } {
        let db = Db::open_in_memory();
        plain.time(true, n, || insert_all(&db, &docs))?;
        drop(db);
        let db = Db::open_in_memory();
        create(&db, doc! {"email": 1}, "email_1", true)?;
        create(&db, doc! {"profile.city": 1, "created_at": -1}, "city_created", false)?;
        create(&db, doc! {"logins": 1}, "logins_1", false)?;
        indexed.time(true, n, || insert_all(&db, &docs))?;
    }
    if part("insert") {
        let cpu = |s: &Samples| if s.cpu.is_empty() { String::new() } else { format!(", on-CPU {:.0} k/s", median(&s.cpu) / 1e3) };
        let cpu_ratio = if plain.cpu.is_empty() || indexed.cpu.is_empty() {
            String::new()
        } else {
            format!("; by on-CPU time {:.2}x", median(&indexed.cpu) / median(&plain.cpu))
        };
        let (p, i) = (plain.median(), indexed.median());
        report.add("idx.insert.none", "insert_many, no secondary index", p, Unit::OpsPerSec, format!("{n} docs{}", cpu(&plain)));
        report.add(
            "idx.insert.three",
            "insert_many, 3 secondary indexes",
            i,
            Unit::OpsPerSec,
            format!("email (unique), city+created_at, logins{}", cpu(&indexed)),
        );
        report.add("idx.insert.ratio", "insert with 3 indexes / without", i / p, Unit::Ratio, format!("target at least 0.5{cpu_ratio}"));
    }

    // Restart: a snapshot holds index definitions, not entries; entries are rebuilt on load.
    // Time reopening the same documents with and without the three indexes.
    let dir = tempfile_dir()?;
    let restarts: &[(&str, bool)] = if part("restart") { &[("idx.restart.none", false), ("idx.restart.three", true)] } else { &[] };
    for &(label, with_indexes) in restarts {
        let path = dir.join(if with_indexes { "three" } else { "none" });
        {
            let db = Db::open(&path, nestdb::Options::default()).map_err(|e| e.to_string())?;
            if with_indexes {
                create(&db, doc! {"email": 1}, "email_1", true)?;
                create(&db, doc! {"profile.city": 1, "created_at": -1}, "city_created", false)?;
                create(&db, doc! {"logins": 1}, "logins_1", false)?;
            }
            insert_all(&db, &docs)?;
            db.snapshot().map_err(|e| e.to_string())?;
        }
        let mut times = Vec::new();
        for _ in 0..reps {
            let t = Instant::now();
            let db = Db::open(&path, nestdb::Options::default()).map_err(|e| e.to_string())?;
            times.push(t.elapsed().as_secs_f64());
            drop(db);
        }
        let what = if with_indexes { "reopen from snapshot, 3 indexes rebuilt" } else { "reopen from snapshot, no secondary index" };
        report.add(label, what, median(&times), Unit::Secs, format!("{n} docs, median of {reps}"));
    }
    let _ = std::fs::remove_dir_all(&dir);

    // Index builds over the full collection.
    let db = Db::open_in_memory();
    insert_all(&db, &docs)?;
    let builds: [(&str, Document, &str, bool); 3] = [
        ("idx.build.email", doc! {"email": 1}, "email_1", true),
        ("idx.build.compound", doc! {"profile.city": 1, "created_at": -1}, "city_created", false),
        ("idx.build.multikey", doc! {"profile.skills": 1}, "skills_1", false),
    ];
    for (id, key, name, unique) in builds {
        if !part("build") {
            break;
        }
        let mut rates = Vec::new();
        for rep in 0..reps {
            let r = db.run_command(DB, &doc! {"dropIndexes": COLL, "index": name});
            if rep > 0 {
                ok(&r, "dropIndexes")?;
            }
            let t = Instant::now();
            create(&db, key.clone(), name, unique)?;
            rates.push(rate(n, t.elapsed()));
        }
        let label = format!("build index {key} (docs/s)");
        report.add(id, label, median(&rates), Unit::OpsPerSec, format!("{n} docs, median of {reps}"));
    }
    if !part("find") {
        return Ok(());
    }
    if part("build") {
        ok(&db.run_command(DB, &doc! {"dropIndexes": COLL, "index": "skills_1"}), "dropIndexes")?;
    } else {
        create(&db, doc! {"email": 1}, "email_1", true)?;
        create(&db, doc! {"profile.city": 1, "created_at": -1}, "city_created", false)?;
    }

    // Indexed equality lookups.
    let emails: Vec<String> =
        (0..cfg.samples).map(|_| docs[rng.random_range(0..n)].get_str("email").map(str::to_string).unwrap_or_default()).collect();
    let mut lookups = Vec::new();
    for _ in 0..reps {
        let t = Instant::now();
        let mut found = 0;
        for e in &emails {
            let r = db.run_command(DB, &doc! {"find": COLL, "filter": {"email": e}, "limit": 1, "singleBatch": true});
            found += first_batch(black_box(&r))?;
        }
        if found != emails.len() {
            return Err(format!("email lookups found {found} of {}", emails.len()));
        }
        lookups.push(rate(emails.len(), t.elapsed()));
    }
    report.add("idx.find.email", "find({email}) via index", median(&lookups), Unit::OpsPerSec, format!("{} random emails", emails.len()));
    let (keys, returned, plan) = explain_counts(&db, doc! {"find": COLL, "filter": {"email": &emails[0]}})?;
    if !plan.contains("IXSCAN") {
        return Err(format!("the email lookup did not use the index: {plan}"));
    }
    report.add(
        "idx.find.email.keys",
        "email lookup: keys examined / returned",
        keys as f64 / returned.max(1) as f64,
        Unit::Ratio,
        format!("{keys} keys, {returned} returned"),
    );

    // Compound equality + range + sort + limit.
    const CITIES: [&str; 8] = ["Berlin", "Milan", "Lagos", "Prague", "Lyon", "Aarhus", "Osaka", "Porto"];
    let epoch_2020 = 1_577_836_800_000_i64;
    let day = 86_400_000_i64;
    let queries: Vec<Document> = (0..cfg.samples.min(20_000))
        .map(|_| {
            let city = CITIES[rng.random_range(0..CITIES.len())];
            let since = DateTime::from_millis(epoch_2020 + rng.random_range(0..6 * 365) * day);
            doc! {"find": COLL, "filter": {"profile.city": city, "created_at": {"$gte": since}}, "sort": {"created_at": -1}, "limit": 20, "singleBatch": true}
        })
        .collect();
    let mut compound = Vec::new();
    let mut total = 0;
    for _ in 0..reps {
        let t = Instant::now();
        total = 0;
        for q in &queries {
            total += first_batch(black_box(&db.run_command(DB, q)))?;
        }
        compound.push(rate(queries.len(), t.elapsed()));
    }
    report.add(
        "idx.find.compound",
        "city = X, created_at >= T, sort created_at desc, limit 20",
        median(&compound),
        Unit::OpsPerSec,
        format!("{} queries, {:.1} docs each", queries.len(), total as f64 / queries.len() as f64),
    );
    let mut sample = queries[0].clone();
    sample.remove("singleBatch");
    let (keys, returned, plan) = explain_counts(&db, sample)?;
    if !plan.contains("city_created") || plan.contains("\"SORT\"") {
        return Err(format!("the compound query did not run as an ordered index scan: {plan}"));
    }
    report.add(
        "idx.find.compound.keys",
        "compound query: keys examined / returned",
        keys as f64 / returned.max(1) as f64,
        Unit::Ratio,
        format!("{keys} keys, {returned} returned"),
    );
    Ok(())
}
