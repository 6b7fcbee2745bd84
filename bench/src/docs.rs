//! Suite `docs` (issue 7): the document layer through its Rust API (`Db::database("bench")
//! .collection::<Document>("users")`), and polodb_core (an embedded MongoDB-like Rust database)
//! on the same documents when nestdb-bench is built with `--features polodb`.
//!
//! Dataset: `cfg.docs` user profiles (`user(i)`, a function of `i` only): integer `_id` `i`,
//! name, email, `active` (85 % true), signup / last-login dates, a login counter, a nested
//! `profile` (age 18..=79, city, country, an array of 2-6 skills, a score) and an array of 1-5
//! embedded orders (id, date, total, item count, status); about 450 bytes of BSON each. They are
//! generated once, outside every timed region; polodb_core (bson 2, a different crate version
//! from nestdb's bson 3) gets the same documents decoded from their BSON bytes, also untimed.
//!
//! Timed, one thread:
//! - insert: `insert_many` in batches of 1,000 into an empty collection of a fresh database
//!   (median of `cfg.reps` databases; the last one is kept for the rest);
//! - `_id` lookups: `find_one({_id: id})` for `cfg.samples` random ids (the filter document is
//!   built per call, as a caller would), median of `cfg.reps`;
//! - updates: `update_one({_id: id}, {$inc: {logins: 1}})` for `cfg.samples` random ids;
//! - unindexed scans: `find(FILTER).run()` (into `Document`s, into `RawDocumentBuf`s and into a
//!   serde struct, `User`), `find(FILTER).cursor()` iterated one `Document` at a time (each
//!   dropped before the next, as a `for doc in cursor` loop does) and `count_documents(FILTER)`
//!   with a two-field filter
//!   on a nested and a top-level field that selects about 2.4 % of the documents (so building
//!   the result does not dominate), reported as documents scanned per second (collection size /
//!   time), median of `cfg.reps` after a warmup. The same count of a broad filter (the
//!   issue's example, about 65 % of the documents) is shown for reference.
//!
//! polodb_core 5 has no in-memory mode (it stores into RocksDB): it runs in a directory on
//! tmpfs (`/dev/shm` when present, else the system temp dir), so its per-write fsync costs no
//! disk time. Same batches, same lookup ids; its scan is timed once (reference only).

use std::hint::black_box;
use std::time::{Duration, Instant};

use nestdb::bson::{doc, Bson, DateTime, Document};
use nestdb::Db;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::measure::{median, rate, thread_cpu};
use crate::report::{Report, Unit};
use crate::Config;

/// Documents per `insert_many` call.
pub const BATCH: usize = 1000;

const FIRST: [&str; 16] = [
    "Alice", "Bruno", "Chiara", "Dmitri", "Emma", "Farid", "Grace", "Hiroshi", "Ines", "Jonas", "Kemal", "Lena", "Mateo", "Nora", "Omar",
    "Priya",
];
const LAST: [&str; 16] = [
    "Schmidt", "Rossi", "Okafor", "Novak", "Martin", "Larsen", "Kowalski", "Jensen", "Ivanova", "Haddad", "Garcia", "Fischer", "Eriksen",
    "Dubois", "Costa", "Becker",
];
const CITIES: [(&str, &str); 8] = [
    ("Berlin", "DE"),
    ("Milan", "IT"),
    ("Lagos", "NG"),
    ("Prague", "CZ"),
    ("Lyon", "FR"),
    ("Aarhus", "DK"),
    ("Osaka", "JP"),
    ("Porto", "PT"),
];
const SKILLS: [&str; 12] = ["rust", "python", "sql", "go", "kubernetes", "react", "design", "writing", "sales", "ml", "c++", "excel"];
const STATUS: [&str; 4] = ["pending", "paid", "shipped", "delivered"];

/// The selective two-field filter of the scans (about 16 % of ages × 15 % inactive ≈ 2.4 %).
pub fn selective_filter() -> Document {
    doc! {"profile.age": {"$gte": 70}, "active": false}
}

/// The example filter (about 65 % of the documents), counted for reference.
pub fn broad_filter() -> Document {
    doc! {"profile.age": {"$gte": 30}, "active": true}
}

/// Milliseconds since the epoch of 2020-01-01T00:00:00Z.
const EPOCH_2020: i64 = 1_577_836_800_000;
const DAY_MS: i64 = 86_400_000;

/// User profile number `i` (a function of `i` only).
pub fn user(i: u64) -> Document {
    let mut rng = SmallRng::seed_from_u64(i ^ 0xD0C5_0007);
    let (first, last) = (FIRST[rng.random_range(0..16)], LAST[rng.random_range(0..16)]);
    let (city, country) = CITIES[rng.random_range(0..CITIES.len())];
    let created = EPOCH_2020 + rng.random_range(0..6 * 365) * DAY_MS + rng.random_range(0..DAY_MS);
    let n_skills = rng.random_range(2..=6);
    let skills: Vec<Bson> = (0..n_skills).map(|_| Bson::String(SKILLS[rng.random_range(0..SKILLS.len())].to_string())).collect();
    let n_orders = rng.random_range(1..=5);
    let orders: Vec<Bson> = (0..n_orders)
        .map(|k| {
            Bson::Document(doc! {
                "order_id": (i * 8 + k) as i64,
                "date": DateTime::from_millis(created + rng.random_range(0..365) * DAY_MS),
                "total": f64::from(rng.random_range(500..50_000)) / 100.0,
                "items": rng.random_range(1..=10),
                "status": STATUS[rng.random_range(0..STATUS.len())],
            })
        })
        .collect();
    doc! {
        "_id": i as i64,
        "name": format!("{first} {last}"),
        "email": format!("{}.{}{}@example.com", first.to_ascii_lowercase(), last.to_ascii_lowercase(), i),
        "active": rng.random_bool(0.85),
        "created_at": DateTime::from_millis(created),
        "last_login": DateTime::from_millis(created + rng.random_range(0..300) * DAY_MS),
        "logins": rng.random_range(0..500),
        "profile": {
            "age": rng.random_range(18..=79),
            "city": city,
            "country": country,
            "skills": skills,
            "score": f64::from(rng.random_range(0..10_000)) / 100.0,
        },
        "orders": orders,
    }
}

/// The profile of `user` as a Rust type (what most Rust callers read documents into).
#[derive(serde::Serialize, serde::Deserialize)]
#[allow(dead_code)] // read by serde; the benchmark only counts them
pub struct User {
    #[serde(rename = "_id")]
    id: i64,
    name: String,
    email: String,
    active: bool,
    created_at: DateTime,
    last_login: DateTime,
    logins: i32,
    profile: UserProfile,
    orders: Vec<UserOrder>,
}

#[derive(serde::Serialize, serde::Deserialize)]
#[allow(dead_code)]
pub struct UserProfile {
    age: i32,
    city: String,
    country: String,
    skills: Vec<String>,
    score: f64,
}

#[derive(serde::Serialize, serde::Deserialize)]
#[allow(dead_code)]
pub struct UserOrder {
    order_id: i64,
    date: DateTime,
    total: f64,
    items: i32,
    status: String,
}

/// `n` random ids in `0..docs` (seeded).
fn random_ids(n: usize, docs: usize, seed: u64) -> Vec<i64> {
    let mut rng = SmallRng::seed_from_u64(seed);
    (0..n).map(|_| rng.random_range(0..docs as i64)).collect()
}

/// Rates of repeated timed runs, by wall clock (the reported figure) and by this thread's
/// on-CPU time (what is left when other load on the machine took the CPU away).
#[derive(Default)]
struct Rates {
    wall: Vec<f64>,
    cpu: Vec<f64>,
}

impl Rates {
    fn time<R>(&mut self, ops: usize, f: impl FnOnce() -> R) -> R {
        let c0 = thread_cpu();
        let t = Instant::now();
        let r = f();
        let wall = t.elapsed();
        self.wall.push(rate(ops, wall));
        // schedstat advances in scheduler ticks: short phases get no on-CPU figure.
        if let Some(c) = thread_cpu().zip(c0).map(|(b, a)| b.saturating_sub(a)).filter(|c| *c >= Duration::from_millis(100)) {
            self.cpu.push(rate(ops, c));
        }
        r
    }

    fn median(&self) -> f64 {
        median(&self.wall)
    }

    fn detail(&self, what: &str) -> String {
        let lo = self.wall.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = self.wall.iter().copied().fold(0.0, f64::max);
        let k = |v: f64| if v >= 1e6 { format!("{:.2} M/s", v / 1e6) } else { format!("{:.0} k/s", v / 1e3) };
        let mut s = if self.wall.len() == 1 {
            format!("{what}, 1 run")
        } else {
            format!("{what}, median of {} reps (range {}–{})", self.wall.len(), k(lo), k(hi))
        };
        if !self.cpu.is_empty() {
            s.push_str(&format!("; on-CPU {}", k(median(&self.cpu))));
        }
        s
    }
}

pub fn run(cfg: &Config, report: &mut Report) -> Result<(), String> {
    let n = cfg.docs;
    let t = Instant::now();
    let docs: Vec<Document> = (0..n as u64).map(user).collect();
    let bytes: usize = docs.iter().map(|d| d.to_vec().map(|v| v.len()).unwrap_or(0)).sum();
    eprintln!("  dataset: {n} documents, {:.0} bytes of BSON on average (generated in {:.1?})", bytes as f64 / n as f64, t.elapsed());
    let ids = random_ids(cfg.samples, n, 7);
    let selective = selective_filter();
    let broad = broad_filter();
    let reps = cfg.reps.max(1);

    // Insert: a fresh database per repetition; the last one stays for the other phases.
    let mut ins = Rates::default();
    let mut kept = None;
    for _ in 0..reps {
        drop(kept.take()); // free the previous database before the next is filled
        let db = Db::open_in_memory();
        let users = db.database("bench").collection::<Document>("users");
        ins.time(n, || {
            for chunk in docs.chunks(BATCH) {
                users.insert_many(chunk).map_err(|e| format!("nestdb insert_many: {e}"))?;
            }
            Ok::<_, String>(())
        })?;
        kept = Some((db, users));
    }
    let (_db, users) = kept.expect("at least one repetition");
    let count = users.count_documents(doc! {}).map_err(|e| e.to_string())?;
    if count != n as u64 {
        return Err(format!("nestdb holds {count} documents, expected {n}"));
    }
    report.add(
        "docs.nestdb.insert",
        "nestdb insert_many (batches of 1,000)",
        ins.median(),
        Unit::OpsPerSec,
        ins.detail(&format!("{n} docs")),
    );

    let mut find = Rates::default();
    let mut upd = Rates::default();
    for _ in 0..reps {
        let found = find.time(ids.len(), || {
            let mut found = 0usize;
            for &id in &ids {
                if black_box(users.find_one(doc! {"_id": id}).expect("find_one")).is_some() {
                    found += 1;
                }
            }
            found
        });
        if found != ids.len() {
            return Err(format!("nestdb find_one found {found} of {} ids", ids.len()));
        }
        let matched = upd.time(ids.len(), || {
            let mut matched = 0u64;
            for &id in &ids {
                matched += users.update_one(doc! {"_id": id}, doc! {"$inc": {"logins": 1}}).expect("update_one").matched_count;
            }
            matched
        });
        if matched != ids.len() as u64 {
            return Err(format!("nestdb update_one matched {matched} of {}", ids.len()));
        }
    }
    report.add(
        "docs.nestdb.find_id",
        "nestdb find_one({_id})",
        find.median(),
        Unit::OpsPerSec,
        find.detail(&format!("{} random ids of {n}", ids.len())),
    );
    report.add(
        "docs.nestdb.update_id",
        "nestdb update_one({_id}, {$inc})",
        upd.median(),
        Unit::OpsPerSec,
        upd.detail(&format!("{} random ids of {n}", ids.len())),
    );

    // Unindexed scans: one warmup, then `reps` timed runs.
    let mut scan = Rates::default();
    let mut cnt = Rates::default();
    let mut cnt_broad = Rates::default();
    let (mut scan_raw, mut scan_typed, mut scan_cursor) = (Rates::default(), Rates::default(), Rates::default());
    let raw_users = _db.database("bench").collection::<nestdb::bson::RawDocumentBuf>("users");
    let typed_users = _db.database("bench").collection::<User>("users");
    let (mut hits, mut counted, mut counted_broad) = (0, 0, 0);
    for rep in 0..=reps {
        let mut tmp = Rates::default();
        let target = if rep == 0 { &mut tmp } else { &mut scan };
        hits = target.time(n, || users.find(selective.clone()).run().map(|v| black_box(v).len())).map_err(|e| e.to_string())?;
        let target = if rep == 0 { &mut tmp } else { &mut scan_raw };
        let raw_hits = target.time(n, || raw_users.find(selective.clone()).run().map(|v| black_box(v).len())).map_err(|e| e.to_string())?;
        let target = if rep == 0 { &mut tmp } else { &mut scan_typed };
        let typed_hits =
            target.time(n, || typed_users.find(selective.clone()).run().map(|v| black_box(v).len())).map_err(|e| e.to_string())?;
        let target = if rep == 0 { &mut tmp } else { &mut scan_cursor };
        // Handled one at a time, as a driver user's `for doc in cursor` loop does.
        let streamed = target
            .time(n, || users.find(selective.clone()).cursor().and_then(|c| c.map(|d| d.map(black_box)).try_fold(0, |k, _| Ok(k + 1))))
            .map_err(|e| e.to_string())?;
        if (raw_hits, typed_hits, streamed) != (hits, hits, hits) {
            return Err(format!(
                "find returned {hits} Documents, {raw_hits} raw documents, {typed_hits} typed ones, {streamed} through the cursor"
            ));
        }
        let target = if rep == 0 { &mut tmp } else { &mut cnt };
        counted = target.time(n, || users.count_documents(selective.clone())).map_err(|e| e.to_string())?;
        let target = if rep == 0 { &mut tmp } else { &mut cnt_broad };
        counted_broad = target.time(n, || users.count_documents(broad.clone())).map_err(|e| e.to_string())?;
    }
    if hits as u64 != counted {
        return Err(format!("find returned {hits} documents, count_documents says {counted}"));
    }
    let pct = |k: u64| 100.0 * k as f64 / n as f64;
    report.add(
        "docs.nestdb.scan_find",
        "nestdb unindexed find, 2-field filter (docs scanned/s)",
        scan.median(),
        Unit::OpsPerSec,
        scan.detail(&format!("{n} docs, {hits} matches ({:.1} %)", pct(hits as u64))),
    );
    report.add(
        "docs.nestdb.scan_cursor",
        "nestdb unindexed find, cursor of Documents (docs scanned/s)",
        scan_cursor.median(),
        Unit::OpsPerSec,
        scan_cursor.detail(&format!("{n} docs, {hits} matches, each decoded and dropped in turn")),
    );
    report.add(
        "docs.nestdb.scan_find_raw",
        "nestdb unindexed find into RawDocumentBuf (docs scanned/s)",
        scan_raw.median(),
        Unit::OpsPerSec,
        scan_raw.detail(&format!("{n} docs, {hits} matches, the stored bytes copied")),
    );
    report.add(
        "docs.nestdb.scan_find_typed",
        "nestdb unindexed find into a serde struct (docs scanned/s)",
        scan_typed.median(),
        Unit::OpsPerSec,
        scan_typed.detail(&format!("{n} docs, {hits} matches, deserialized from the stored bytes")),
    );
    report.add(
        "docs.nestdb.scan_count",
        "nestdb count_documents, same filter (docs scanned/s)",
        cnt.median(),
        Unit::OpsPerSec,
        cnt.detail(&format!("{n} docs, {counted} matches")),
    );
    report.add(
        "docs.nestdb.scan_count_broad",
        "nestdb count_documents, broad filter (docs scanned/s)",
        cnt_broad.median(),
        Unit::OpsPerSec,
        cnt_broad.detail(&format!("{n} docs, {counted_broad} matches ({:.1} %); reference, no target", pct(counted_broad))),
    );
    drop((users, raw_users, typed_users));
    drop(_db);

    #[cfg(feature = "polodb")]
    polodb::run(cfg, report, &docs, &ids, hits)?;
    #[cfg(not(feature = "polodb"))]
    eprintln!("  polodb_core: not built in (cargo build -p nestdb-bench --release --features polodb)");
    Ok(())
}

#[cfg(feature = "polodb")]
mod polodb {
    use std::hint::black_box;

    use polodb_core::bson::{doc, Document};
    use polodb_core::{CollectionT, Database};

    use super::{Rates, BATCH};
    use crate::files::Scratch;
    use crate::report::{Report, Unit};
    use crate::Config;

    pub fn run(cfg: &Config, report: &mut Report, docs: &[nestdb::bson::Document], ids: &[i64], hits: usize) -> Result<(), String> {
        let n = docs.len();
        // Same documents, as polodb's bson 2 type: through their BSON bytes, untimed.
        let docs: Vec<Document> = docs
            .iter()
            .map(|d| {
                let bytes = d.to_vec().map_err(|e| e.to_string())?;
                Document::from_reader(&bytes[..]).map_err(|e| e.to_string())
            })
            .collect::<Result<_, String>>()?;
        let shm = std::path::Path::new("/dev/shm");
        let parent = if shm.is_dir() { shm.to_path_buf() } else { std::env::temp_dir() };
        let scratch = Scratch::new(&parent, "polodb")?;
        let where_ = format!("RocksDB dir on {}", parent.display());
        let reps = cfg.reps.max(1);

        let mut ins = Rates::default();
        let mut kept = None;
        for r in 0..reps {
            drop(kept.take());
            let dir = scratch.sub(&format!("db{r}"))?;
            let db = Database::open_path(&dir).map_err(|e| format!("polodb open {}: {e}", dir.display()))?;
            let users = db.collection::<Document>("users");
            ins.time(n, || {
                for chunk in docs.chunks(BATCH) {
                    users.insert_many(chunk).map_err(|e| format!("polodb insert_many: {e}"))?;
                }
                Ok::<_, String>(())
            })?;
            kept = Some((db, users));
        }
        let (db, users) = kept.expect("at least one repetition");
        let count = users.count_documents().map_err(|e| e.to_string())?;
        if count != n as u64 {
            return Err(format!("polodb holds {count} documents, expected {n}"));
        }
        report.add(
            "docs.polodb.insert",
            "polodb_core insert_many (batches of 1,000)",
            ins.median(),
            Unit::OpsPerSec,
            ins.detail(&format!("{n} docs, {where_}")),
        );

        let mut find = Rates::default();
        let mut upd = Rates::default();
        for _ in 0..reps {
            let found = find.time(ids.len(), || {
                let mut found = 0usize;
                for &id in ids {
                    if black_box(users.find_one(doc! {"_id": id}).expect("polodb find_one")).is_some() {
                        found += 1;
                    }
                }
                found
            });
            if found != ids.len() {
                return Err(format!("polodb find_one found {found} of {} ids", ids.len()));
            }
            let matched = upd.time(ids.len(), || {
                let mut matched = 0u64;
                for &id in ids {
                    matched += users.update_one(doc! {"_id": id}, doc! {"$inc": {"logins": 1}}).expect("polodb update_one").matched_count;
                }
                matched
            });
            if matched != ids.len() as u64 {
                return Err(format!("polodb update_one matched {matched} of {}", ids.len()));
            }
        }
        report.add(
            "docs.polodb.find_id",
            "polodb_core find_one({_id})",
            find.median(),
            Unit::OpsPerSec,
            find.detail(&format!("{} random ids of {n}", ids.len())),
        );
        report.add(
            "docs.polodb.update_id",
            "polodb_core update_one({_id}, {$inc})",
            upd.median(),
            Unit::OpsPerSec,
            upd.detail(&format!("{} random ids of {n}", ids.len())),
        );

        let mut scan = Rates::default();
        let got = scan
            .time(n, || {
                users
                    .find(doc! {"profile.age": {"$gte": 70}, "active": false})
                    .run()
                    .and_then(|cur| cur.collect::<Result<Vec<Document>, _>>())
                    .map(|v| black_box(v).len())
            })
            .map_err(|e| format!("polodb find: {e}"))?;
        if got != hits {
            return Err(format!("polodb find returned {got} documents, nestdb {hits}"));
        }
        report.add(
            "docs.polodb.scan_find",
            "polodb_core unindexed find, same filter (docs scanned/s)",
            scan.median(),
            Unit::OpsPerSec,
            scan.detail(&format!("{n} docs, {got} matches; reference, no target")),
        );
        drop(users);
        drop(db);
        Ok(())
    }
}
