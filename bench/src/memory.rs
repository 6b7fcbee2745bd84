//! Suites `memory` and `hitratio` (issue 6), side by side with redis-server on the same data.
//!
//! `memory`: the same keys loaded into nestdb and into redis-server:
//! - `cfg.keys` strings (`key:<n>`, 32-byte values) and `cfg.keys` hashes of 5 fields
//!   (`field0..4 -> value0..4`, one `HSET` each): nestdb's process RSS growth against
//!   redis-server's `INFO used_memory` growth (its RSS growth is shown too);
//! - `cfg.keys / 5` JSON session values of about 1 KiB (`session`), loaded once per
//!   `compression` codec (none, lz4, zlib): RSS growth, and GET throughput (typed `get` of every
//!   key in a random order, median of `cfg.reps` after a warmup).
//!
//! Each nestdb figure comes from a fresh child process (this binary re-executed with the hidden
//! argument `CHILD_ARG`): it opens an empty in-memory database, trims the C heap and reads
//! VmRSS, loads the keys (generated on the fly, so nothing but the database grows), trims and
//! reads VmRSS again. Earlier measurements therefore cannot pollute (or pre-warm) the heap. The
//! child also prints nestdb's own `INFO memory` `used_memory` ("n/a" when the field is missing).
//! redis-server gets a fresh server (no persistence) per measurement, loaded by pipelined RESP
//! (batches of 1000 commands).
//!
//! `hitratio`: cache-aside on a Zipf(0.99) trace: `10 * cfg.keys` GETs over `cfg.keys` keys;
//! a miss SETs the key (32-byte value). The cap is "room for 10 % of the keys": the
//! `used_memory` of a database holding exactly `cfg.keys / 10` keys (measured on the engine
//! under test; RSS growth for nestdb if its INFO has no `used_memory`). Hits are counted by the
//! bench. The reference is an exact LRU cache (`lru_hits`) whose capacity is the number of keys
//! the engine held on average (DBSIZE sampled over the trace's second half). A second trace mixes
//! the same Zipf reads with one-off scans (after every `cfg.keys / 10` reads, `cfg.keys / 20`
//! keys never seen before or again): allkeys-lfu should hold the hot keys through the scans.
//! redis-server runs the same traces with pipelined GET batches (see `redis_trace`).

use std::collections::HashSet;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use nestdb::{Codec, Commands, Db, EvictionPolicy, Options, Reply};
use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use crate::files::Scratch;
use crate::measure::{fmt_bytes, proc_kb, rate, self_rss, trim_heap, Samples};
use crate::report::{Report, Unit};
use crate::resp::{Conn, RedisProc, Resp};
use crate::workload::VALUE;

/// The key format, `key:<n>` (no zero padding: padding would inflate redis-server's
/// key strings past a jemalloc size class and flatter nestdb).
fn key(i: usize) -> Vec<u8> {
    format!("key:{i}").into_bytes()
}
use crate::Config;

/// First argument of a measurement child process.
pub const CHILD_ARG: &str = "__memory-child";

/// The data sets of the `memory` suite.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Shape {
    /// `key:<n>` -> 32-byte value.
    Strings,
    /// `key:<n>` -> hash of 5 small fields.
    Hashes,
    /// `key:<n>` -> a JSON session of about 1 KiB (`session(n)`).
    Sessions,
}

impl Shape {
    fn name(self) -> &'static str {
        match self {
            Shape::Strings => "strings",
            Shape::Hashes => "hashes",
            Shape::Sessions => "sessions",
        }
    }

    fn parse(s: &str) -> Option<Shape> {
        [Shape::Strings, Shape::Hashes, Shape::Sessions].into_iter().find(|x| x.name() == s)
    }
}

const FIELDS: [&[u8]; 5] = [b"field0", b"field1", b"field2", b"field3", b"field4"];
const FIELD_VALUES: [&[u8]; 5] = [b"value0", b"value1", b"value2", b"value3", b"value4"];

/// The HSET argv of hash number `k`.
fn hset_argv(k: &[u8]) -> [&[u8]; 12] {
    let mut argv: [&[u8]; 12] = [b"HSET", k, b"", b"", b"", b"", b"", b"", b"", b"", b"", b""];
    for i in 0..5 {
        argv[2 + 2 * i] = FIELDS[i];
        argv[3 + 2 * i] = FIELD_VALUES[i];
    }
    argv
}

// ---------------------------------------------------------------------------------------------
// Session values

const FIRST: [&str; 16] = [
    "Alice", "Bruno", "Chiara", "Dmitri", "Emma", "Farid", "Grace", "Hiroshi", "Ines", "Jonas", "Kemal", "Lena", "Mateo", "Nora", "Omar",
    "Priya",
];
const LAST: [&str; 16] = [
    "Schmidt", "Rossi", "Okafor", "Novak", "Martin", "Larsen", "Kowalski", "Jensen", "Ivanova", "Haddad", "Garcia", "Fischer", "Eriksen",
    "Dubois", "Costa", "Becker",
];
const LOCALES: [&str; 6] = ["en-US", "en-GB", "de-DE", "fr-FR", "it-IT", "pt-BR"];
const ROLES: [&str; 6] = ["admin", "support", "beta-tester", "wholesale", "editor", "newsletter"];
const AGENTS: [&str; 4] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
];
const PRODUCTS: [(&str, &str, u32); 16] = [
    ("Wireless Mouse", "electronics/accessories", 2499),
    ("Mechanical Keyboard, brown switches", "electronics/accessories", 8999),
    ("USB-C Hub 7-in-1", "electronics/accessories", 3950),
    ("27\\\" 4K Monitor", "electronics/displays", 32900),
    ("Noise Cancelling Headphones", "electronics/audio", 19900),
    ("Laptop Stand, aluminium", "office/furniture", 4490),
    ("HDMI Cable 2m", "electronics/accessories", 899),
    ("Webcam 1080p", "electronics/accessories", 5999),
    ("Desk Lamp LED", "office/furniture", 2790),
    ("Ergonomic Chair", "office/furniture", 24900),
    ("Portable SSD 1TB", "electronics/storage", 10990),
    ("Phone Case, clear", "electronics/accessories", 1299),
    ("Bluetooth Speaker", "electronics/audio", 6490),
    ("Notebook A5, dotted", "office/supplies", 650),
    ("Coffee Beans 1kg", "home/kitchen", 1890),
    ("Water Bottle 750ml", "home/kitchen", 1990),
];

fn hex(rng: &mut SmallRng, n: usize) -> String {
    (0..n).map(|_| char::from(b"0123456789abcdef"[rng.random_range(0..16)])).collect()
}

fn ts(rng: &mut SmallRng) -> String {
    let (d, h, m, s) = (rng.random_range(1..=28), rng.random_range(0..24), rng.random_range(0..60), rng.random_range(0..60));
    format!("2026-11-{d:02}T{h:02}:{m:02}:{s:02}Z")
}

/// The session value of key number `n`: a JSON object like a web shop's server-side session
/// (session and CSRF tokens, user id/name/email/locale/roles, timestamps, client IP and
/// user agent, a cart of items with SKU, name, category, price and image URL, preferences), about 1 KiB (cart items are added until a
/// per-key length between 900 and 1100 bytes is reached). A function of `n` only.
pub fn session(n: u64) -> Vec<u8> {
    let mut rng = SmallRng::seed_from_u64(n ^ 0x5E55_1011);
    let (first, last) = (FIRST[rng.random_range(0..16)], LAST[rng.random_range(0..16)]);
    let mut roles = vec!["\"customer\"".to_string()];
    for r in ROLES {
        if rng.random_range(0..4) == 0 {
            roles.push(format!("\"{r}\""));
        }
    }
    let mut s = format!(
        concat!(
            "{{\"sid\":\"{}\",\"user\":{{\"id\":{},\"name\":\"{} {}\",\"email\":\"{}.{}{}@example.com\",",
            "\"locale\":\"{}\",\"roles\":[{}],\"verified\":{}}},",
            "\"created_at\":\"{}\",\"last_seen_at\":\"{}\",\"expires_at\":\"{}\",",
            "\"ip\":\"203.0.{}.{}\",\"user_agent\":\"{}\",",
            "\"cart\":{{\"currency\":\"EUR\",\"coupon\":{},\"items\":["
        ),
        hex(&mut rng, 32),
        100_000 + n,
        first,
        last,
        first.to_ascii_lowercase(),
        last.to_ascii_lowercase(),
        n % 1000,
        LOCALES[rng.random_range(0..LOCALES.len())],
        roles.join(","),
        rng.random_bool(0.8),
        ts(&mut rng),
        ts(&mut rng),
        ts(&mut rng),
        rng.random_range(0..256),
        rng.random_range(1..255),
        AGENTS[rng.random_range(0..AGENTS.len())],
        if rng.random_range(0..5) == 0 { format!("\"WINTER{}\"", rng.random_range(10..40)) } else { "null".into() },
    );
    let tail = format!(
        "]}},\"csrf\":\"{}\",\"prefs\":{{\"theme\":\"{}\",\"newsletter\":{},\"page_size\":{}}}}}",
        hex(&mut rng, 32),
        if rng.random_bool(0.5) { "dark" } else { "light" },
        rng.random_bool(0.3),
        [10, 25, 50][rng.random_range(0..3)]
    );
    let target = rng.random_range(900..1100);
    let mut first_item = true;
    while s.len() + tail.len() < target {
        let (name, category, cents) = PRODUCTS[rng.random_range(0..PRODUCTS.len())];
        let sku = rng.random_range(0..1_000_000);
        if !first_item {
            s.push(',');
        }
        first_item = false;
        s.push_str(&format!(
            concat!(
                "{{\"sku\":\"SKU-{sku:06}\",\"name\":\"{}\",\"category\":\"{}\",\"qty\":{},\"unit_price\":{}.{:02},",
                "\"image\":\"https://cdn.example-shop.com/img/products/SKU-{sku:06}/main-400x400.webp\",\"added_at\":\"{}\"}}"
            ),
            name,
            category,
            rng.random_range(1..4),
            cents / 100,
            cents % 100,
            ts(&mut rng),
            sku = sku,
        ));
    }
    s.push_str(&tail);
    s.into_bytes()
}

// ---------------------------------------------------------------------------------------------
// nestdb side: measurement children

/// nestdb's `INFO section` field, if present and numeric.
fn nestdb_info(db: &Db, section: &str, field: &str) -> Option<u64> {
    match db.execute(&[b"INFO", section.as_bytes()]) {
        Reply::Bulk(b) => String::from_utf8_lossy(&b).lines().find_map(|l| l.strip_prefix(field)?.strip_prefix(':')?.trim().parse().ok()),
        _ => None,
    }
}

fn opt_bytes(v: Option<u64>) -> String {
    v.map_or_else(|| "n/a".into(), fmt_bytes)
}

fn dbsize(db: &Db) -> Result<u64, String> {
    match db.execute(&[b"DBSIZE"]) {
        Reply::Int(k) => Ok(k as u64),
        other => Err(format!("DBSIZE: {other:?}")),
    }
}

/// Load keys 0..n of `shape`; returns the total value bytes (sessions) or 0.
fn nestdb_load(db: &Db, shape: Shape, n: u64) -> Result<u64, String> {
    let mut bytes = 0;
    for i in 0..n {
        let k = key(i as usize);
        match shape {
            Shape::Strings => db.set(&k, VALUE).map_err(|e| e.to_string())?,
            Shape::Hashes => match db.execute(&hset_argv(&k)) {
                Reply::Int(5) => {}
                other => return Err(format!("HSET: {other:?}")),
            },
            Shape::Sessions => {
                let v = session(i);
                bytes += v.len() as u64;
                db.set(&k, &v).map_err(|e| e.to_string())?;
            }
        }
    }
    Ok(bytes)
}

/// What a child measured.
#[derive(Debug, PartialEq)]
struct ChildResult {
    rss_growth: u64,
    /// nestdb's INFO `used_memory` growth; None if INFO has no such field.
    used_memory: Option<u64>,
    /// Total bytes of the values loaded (sessions only, else 0).
    value_bytes: u64,
    /// Median GET rate (sessions only, else 0).
    get_rate: f64,
    get_detail: String,
}

impl ChildResult {
    fn line(&self) -> String {
        let used = self.used_memory.map_or_else(|| "n/a".into(), |u| u.to_string());
        format!(
            "rss_growth={} used_memory={used} value_bytes={} get_rate={} get_detail={}",
            self.rss_growth, self.value_bytes, self.get_rate, self.get_detail
        )
    }

    fn parse(line: &str) -> Option<ChildResult> {
        let (head, detail) = line.trim().split_once(" get_detail=")?;
        let field = |name: &str| head.split_whitespace().find_map(|f| f.strip_prefix(name)?.strip_prefix('='));
        Some(ChildResult {
            rss_growth: field("rss_growth")?.parse().ok()?,
            used_memory: field("used_memory")?.parse().ok(),
            value_bytes: field("value_bytes")?.parse().ok()?,
            get_rate: field("get_rate")?.parse().ok()?,
            get_detail: detail.to_owned(),
        })
    }
}

/// If this process was started as a measurement child (`CHILD_ARG shape n codec reps`), run it
/// and return its exit code; None for a normal run.
pub fn child_main() -> Option<ExitCode> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) != Some(CHILD_ARG) {
        return None;
    }
    Some(match child(&args[1..]) {
        Ok(r) => {
            println!("{}", r.line());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{CHILD_ARG}: {e}");
            ExitCode::FAILURE
        }
    })
}

fn child(args: &[String]) -> Result<ChildResult, String> {
    let [shape, n, codec, reps] = args else { return Err(format!("expected: shape n codec reps, got {args:?}")) };
    let shape = Shape::parse(shape).ok_or("bad shape")?;
    let n: u64 = n.parse().map_err(|_| "bad n")?;
    let codec = Codec::parse(codec).ok_or("bad codec")?;
    let reps: usize = reps.parse().map_err(|_| "bad reps")?;
    let defaults = Options::default();
    let min = defaults.compression_min_size;
    let db = Db::memory(defaults.compression(codec, min));
    trim_heap();
    let rss0 = self_rss().ok_or("no VmRSS")?;
    let used0 = nestdb_info(&db, "memory", "used_memory");
    let value_bytes = nestdb_load(&db, shape, n)?;
    trim_heap();
    let rss1 = self_rss().ok_or("no VmRSS")?;
    let used1 = nestdb_info(&db, "memory", "used_memory");
    if dbsize(&db)? != n {
        return Err(format!("database holds {} keys, expected {n}", dbsize(&db)?));
    }
    let mut r = ChildResult {
        rss_growth: rss1.saturating_sub(rss0),
        used_memory: used1.zip(used0).map(|(b, a)| b.saturating_sub(a)),
        value_bytes,
        get_rate: 0.0,
        get_detail: String::new(),
    };
    if shape == Shape::Sessions && reps > 0 {
        for i in (0..n).step_by((n as usize / 100).max(1)) {
            if db.get(&key(i as usize)).map_err(|e| e.to_string())?.as_deref() != Some(&session(i)[..]) {
                return Err(format!("{}: wrong value read back for key {i}", codec.name()));
            }
        }
        let mut order: Vec<usize> = (0..n as usize).collect();
        order.shuffle(&mut SmallRng::seed_from_u64(3));
        let mut samples = Samples::default();
        for rep in 0..=reps {
            let got = samples.time(rep > 0, order.len(), || {
                let mut got = 0u64;
                for &i in &order {
                    if let Some(v) = std::hint::black_box(db.get(&key(i)).expect("GET")) {
                        got += v.len() as u64;
                    }
                }
                got
            });
            if got != value_bytes {
                return Err(format!("GET read {got} bytes, expected {value_bytes}"));
            }
        }
        r.get_rate = samples.median();
        r.get_detail = samples.detail(order.len());
    }
    Ok(r)
}

/// Run one measurement in a fresh child process.
fn measure_child(shape: Shape, n: u64, codec: Codec, reps: usize) -> Result<ChildResult, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let out = Command::new(exe)
        .args([CHILD_ARG, shape.name(), &n.to_string(), codec.name(), &reps.to_string()])
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run the measurement child: {e}"))?;
    if !out.status.success() {
        return Err(format!("measurement child ({} {n} {}) failed: {}", shape.name(), codec.name(), out.status));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    ChildResult::parse(&text).ok_or_else(|| format!("measurement child printed {text:?}"))
}

// ---------------------------------------------------------------------------------------------
// redis-server side

const REDIS_OPTIONS: [(&str, &str); 2] = [("save", ""), ("appendonly", "no")];
const PIPELINE: usize = 1000;

fn start_redis(scratch: &Scratch, name: &str) -> Result<(RedisProc, Conn), String> {
    let dir = scratch.sub(name)?;
    let mut r = RedisProc::start(&dir, &REDIS_OPTIONS)?;
    r.wait_ready(Duration::from_secs(30))?;
    let c = r.connect()?;
    Ok((r, c))
}

fn redis_dbsize(c: &mut Conn) -> Result<u64, String> {
    match c.call(&[b"DBSIZE"]).map_err(|e| e.to_string())? {
        Resp::Int(k) => Ok(k as u64),
        other => Err(format!("DBSIZE: {other:?}")),
    }
}

fn redis_used(c: &mut Conn) -> Result<u64, String> {
    c.info_field("memory", "used_memory").map(|u| u as u64)
}

/// Pipelined load of keys `ids` of `shape`.
fn redis_load(c: &mut Conn, shape: Shape, ids: std::ops::Range<u64>) -> Result<(), String> {
    let ids: Vec<u64> = ids.collect();
    for chunk in ids.chunks(PIPELINE) {
        for &i in chunk {
            let k = key(i as usize);
            let sent = match shape {
                Shape::Strings => c.send(&[b"SET", &k, VALUE]),
                Shape::Hashes => c.send(&hset_argv(&k)),
                Shape::Sessions => c.send(&[b"SET", &k, &session(i)]),
            };
            sent.map_err(|e| e.to_string())?;
        }
        c.flush().map_err(|e| e.to_string())?;
        for _ in chunk {
            match (shape, c.read().map_err(|e| e.to_string())?) {
                (Shape::Hashes, Resp::Int(5)) => {}
                (Shape::Strings | Shape::Sessions, Resp::Simple(s)) if s == "OK" => {}
                (_, other) => return Err(format!("redis-server load: {other:?}")),
            }
        }
    }
    Ok(())
}

/// redis-server's `used_memory` growth and RSS growth for keys 0..n of `shape`.
fn redis_memory(scratch: &Scratch, shape: Shape, n: u64) -> Result<(u64, u64), String> {
    let (r, mut c) = start_redis(scratch, shape.name())?;
    let rss = || proc_kb(&format!("/proc/{}/status", r.pid()), "VmRSS").ok_or("no VmRSS of redis-server");
    let (u0, r0) = (redis_used(&mut c)?, rss()?);
    redis_load(&mut c, shape, 0..n)?;
    let (u1, r1) = (redis_used(&mut c)?, rss()?);
    let keys = redis_dbsize(&mut c)?;
    if keys != n {
        return Err(format!("redis-server holds {keys} keys, expected {n}"));
    }
    drop(c);
    r.shutdown()?;
    Ok((u1.saturating_sub(u0), r1.saturating_sub(r0)))
}

// ---------------------------------------------------------------------------------------------
// Suite `memory`

fn per_key(bytes: u64, n: u64) -> f64 {
    bytes as f64 / n.max(1) as f64
}

fn count(n: u64) -> String {
    if n >= 1_000_000 && n.is_multiple_of(1_000_000) {
        format!("{}M", n / 1_000_000)
    } else if n >= 1000 && n.is_multiple_of(1000) {
        format!("{}k", n / 1000)
    } else {
        n.to_string()
    }
}

pub fn run_memory(cfg: &Config, report: &mut Report) -> Result<(), String> {
    let scratch = Scratch::new(&cfg.scratch, "memory")?;
    let n = cfg.keys as u64;
    let ids = [
        (Shape::Strings, "mem.strings.nestdb", "mem.strings.redis", "mem.strings.ratio", "strings (32-byte values)"),
        (Shape::Hashes, "mem.hashes.nestdb", "mem.hashes.redis", "mem.hashes.ratio", "hashes of 5 fields"),
    ];
    for (shape, nest_id, redis_id, ratio_id, what) in ids {
        eprintln!("  {}: {} keys", shape.name(), n);
        let nest = measure_child(shape, n, Options::default().compression, 0)?;
        let (used, rss) = redis_memory(&scratch, shape, n)?;
        report.add(
            nest_id,
            format!("nestdb: {} {what}, RSS growth", count(n)),
            nest.rss_growth as f64,
            Unit::Bytes,
            format!("{:.1} bytes/key; nestdb INFO used_memory growth {}", per_key(nest.rss_growth, n), opt_bytes(nest.used_memory)),
        );
        report.add(
            redis_id,
            "redis-server: same keys, used_memory growth",
            used as f64,
            Unit::Bytes,
            format!("{:.1} bytes/key; its RSS growth {} ({:.1} bytes/key)", per_key(used, n), fmt_bytes(rss), per_key(rss, n)),
        );
        report.add(
            ratio_id,
            format!("{what}: nestdb RSS growth / redis used_memory"),
            nest.rss_growth as f64 / used as f64,
            Unit::Ratio,
            format!("RSS vs RSS: {:.2}x", nest.rss_growth as f64 / rss as f64),
        );
    }

    let s = (n / 5).max(1);
    eprintln!("  sessions: {s} keys");
    let mut by_codec = Vec::new();
    for (codec, mem_id, get_id) in [
        (Codec::None, "mem.sessions.none", "get.sessions.none"),
        (Codec::Lz4, "mem.sessions.lz4", "get.sessions.lz4"),
        (Codec::Zlib, "mem.sessions.zlib", "get.sessions.zlib"),
    ] {
        let r = measure_child(Shape::Sessions, s, codec, cfg.reps)?;
        report.add(
            mem_id,
            format!("nestdb: {} ~1 KiB JSON sessions, compression {}, RSS growth", count(s), codec.name()),
            r.rss_growth as f64,
            Unit::Bytes,
            format!(
                "{:.0} bytes/key (values average {:.0} bytes); nestdb INFO used_memory growth {}",
                per_key(r.rss_growth, s),
                per_key(r.value_bytes, s),
                opt_bytes(r.used_memory)
            ),
        );
        report.add(get_id, format!("nestdb: GET of those sessions, compression {}", codec.name()), r.get_rate, Unit::OpsPerSec, {
            format!("typed `get`, random order; {}", r.get_detail)
        });
        by_codec.push(r);
    }
    let (used, rss) = redis_memory(&scratch, Shape::Sessions, s)?;
    report.add(
        "mem.sessions.redis",
        "redis-server: same sessions, used_memory growth",
        used as f64,
        Unit::Bytes,
        format!("{:.0} bytes/key (redis-server does not compress); its RSS growth {}", per_key(used, s), fmt_bytes(rss)),
    );
    let none = &by_codec[0];
    for (r, codec, mem_id, get_id) in [
        (&by_codec[1], "lz4", "mem.sessions.lz4.ratio", "get.sessions.lz4.ratio"),
        (&by_codec[2], "zlib", "mem.sessions.zlib.ratio", "get.sessions.zlib.ratio"),
    ] {
        report.add(mem_id, format!("sessions: RSS growth {codec} / none"), r.rss_growth as f64 / none.rss_growth as f64, Unit::Ratio, "");
        report.add(get_id, format!("sessions: GET rate {codec} / none"), r.get_rate / none.get_rate, Unit::Ratio, "");
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Traces and the exact LRU reference

/// Zipf(s) over ranks 0..n (rank 0 the most frequent): P(rank k) is proportional to
/// 1/(k+1)^s. Sampled by inverting the precomputed CDF with a binary search.
pub struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    pub fn new(n: usize, s: f64) -> Zipf {
        let mut cdf = Vec::with_capacity(n);
        let mut sum = 0.0;
        for k in 1..=n {
            sum += 1.0 / (k as f64).powf(s);
            cdf.push(sum);
        }
        for c in &mut cdf {
            *c /= sum;
        }
        Zipf { cdf }
    }

    pub fn sample(&self, rng: &mut SmallRng) -> usize {
        let u: f64 = rng.random();
        self.cdf.partition_point(|&c| c <= u).min(self.cdf.len() - 1)
    }
}

/// `ops` Zipf-distributed key ids over 0..n. Rank r maps to a fixed random id (a seeded
/// permutation), so popular keys are not neighbours in the key space.
pub fn zipf_trace(n: usize, ops: usize, seed: u64) -> Vec<u32> {
    zipf_scan_trace(n, ops, 0, 0, seed)
}

/// The Zipf trace with a scan inserted after every `every` Zipf reads: `scan_len` ids from
/// n upwards, each used exactly once in the whole trace. `every == 0`: no scans.
pub fn zipf_scan_trace(n: usize, ops: usize, every: usize, scan_len: usize, seed: u64) -> Vec<u32> {
    let zipf = Zipf::new(n, 0.99);
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut perm: Vec<u32> = (0..n as u32).collect();
    perm.shuffle(&mut rng);
    let scans = ops.checked_div(every).unwrap_or(0);
    let mut out = Vec::with_capacity(ops + scans * scan_len);
    let mut next_once = n as u32;
    for i in 0..ops {
        out.push(perm[zipf.sample(&mut rng)]);
        if every > 0 && (i + 1) % every == 0 {
            out.extend(next_once..next_once + scan_len as u32);
            next_once += scan_len as u32;
        }
    }
    out
}

/// Hits of an exact LRU cache of `capacity` keys serving `trace` cache-aside: a hit makes the
/// key the most recent, a miss inserts it (evicting the least recent key when full).
pub fn lru_hits(trace: &[u32], capacity: usize) -> u64 {
    const NIL: u32 = u32::MAX;
    if capacity == 0 {
        return 0;
    }
    let size = trace.iter().max().map_or(0, |&m| m as usize + 1);
    // A doubly linked recency list threaded through arrays indexed by key id.
    let (mut prev, mut next, mut cached) = (vec![NIL; size], vec![NIL; size], vec![false; size]);
    let (mut head, mut tail, mut len, mut hits) = (NIL, NIL, 0usize, 0u64);
    for &id in trace {
        let i = id as usize;
        if cached[i] {
            hits += 1;
            if head == id {
                continue;
            }
            let (p, nx) = (prev[i], next[i]);
            next[p as usize] = nx;
            if nx == NIL {
                tail = p;
            } else {
                prev[nx as usize] = p;
            }
        } else {
            if len == capacity {
                let t = tail as usize;
                cached[t] = false;
                tail = prev[t];
                if tail == NIL {
                    head = NIL;
                } else {
                    next[tail as usize] = NIL;
                }
                len -= 1;
            }
            cached[i] = true;
            len += 1;
        }
        prev[i] = NIL;
        next[i] = head;
        if head == NIL {
            tail = id;
        } else {
            prev[head as usize] = id;
        }
        head = id;
    }
    hits
}

// ---------------------------------------------------------------------------------------------
// Suite `hitratio`

/// One cache-aside run of a trace.
struct CacheRun {
    gets: u64,
    hits: u64,
    /// Keys held on average over the trace's second half (DBSIZE samples).
    held: f64,
    secs: f64,
    /// Engine-specific notes (evictions, peak used_memory).
    note: String,
}

impl CacheRun {
    fn percent(&self) -> f64 {
        self.hits as f64 * 100.0 / self.gets as f64
    }

    fn detail(&self, n: usize) -> String {
        format!(
            "{} GETs, {} hits; held {:.0} keys on average ({:.1} % of {n}); {:.1} s ({:.0} k GET/s); {}",
            self.gets,
            self.hits,
            self.held,
            self.held * 100.0 / n as f64,
            self.secs,
            rate(self.gets as usize, Duration::from_secs_f64(self.secs)) / 1e3,
            self.note
        )
    }
}

/// DBSIZE samples: 100 over the second half of a trace.
struct Held {
    every: usize,
    from: usize,
    sum: f64,
    count: u64,
}

impl Held {
    fn new(len: usize) -> Held {
        Held { every: (len / 200).max(1), from: len / 2, sum: 0.0, count: 0 }
    }

    /// Whether position `pos` (ops done) is a sampling point.
    fn due(&self, pos: usize) -> bool {
        pos >= self.from && pos.is_multiple_of(self.every)
    }

    fn add(&mut self, keys: u64) {
        self.sum += keys as f64;
        self.count += 1;
    }

    fn mean(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum / self.count as f64
        }
    }
}

/// nestdb's memory for `room` keys (32-byte values): INFO `used_memory` of a database holding
/// exactly them, or its RSS growth if INFO has no such field. Returns (bytes, how).
fn nestdb_room(room: u64) -> Result<(u64, String), String> {
    trim_heap();
    let rss0 = self_rss().unwrap_or(0);
    let db = Db::memory(Options::default());
    nestdb_load(&db, Shape::Strings, room)?;
    let used = nestdb_info(&db, "memory", "used_memory");
    trim_heap();
    let rss = self_rss().unwrap_or(0).saturating_sub(rss0);
    Ok(match used {
        Some(u) => (u, format!("INFO used_memory with {room} keys loaded")),
        None => (rss, format!("no used_memory in INFO: RSS growth of {room} keys")),
    })
}

fn nestdb_trace(trace: &[u32], maxmemory: u64, policy: EvictionPolicy) -> Result<CacheRun, String> {
    let db = Db::memory(Options::default().maxmemory(maxmemory, policy));
    let mut held = Held::new(trace.len());
    let (mut hits, mut peak) = (0u64, None::<u64>);
    let t = Instant::now();
    for (pos, &id) in trace.iter().enumerate() {
        if held.due(pos) {
            held.add(dbsize(&db)?);
            peak = peak.max(nestdb_info(&db, "memory", "used_memory"));
        }
        let k = key(id as usize);
        if db.get(&k).map_err(|e| e.to_string())?.is_some() {
            hits += 1;
        } else {
            db.set(&k, VALUE).map_err(|e| format!("SET under maxmemory: {e}"))?;
        }
    }
    let secs = t.elapsed().as_secs_f64();
    let evicted = nestdb_info(&db, "stats", "evicted_keys").map_or_else(|| "n/a".into(), |e| e.to_string());
    let note = format!("evicted_keys {evicted}; peak sampled used_memory {} (maxmemory {})", opt_bytes(peak), fmt_bytes(maxmemory));
    Ok(CacheRun { gets: trace.len() as u64, hits, held: held.mean(), secs, note })
}

/// The trace against a fresh redis-server capped at the `used_memory` it reports with `room`
/// keys loaded (then flushed). GETs go in pipelined batches of `PIPELINE`; the misses of a
/// batch are then SET in one pipeline. A key that misses twice in one batch counts as a hit the
/// second time (a one-at-a-time client would have SET it in between), so the hit count is what
/// a sequential cache-aside client sees, up to evictions inside one batch.
fn redis_trace(scratch: &Scratch, name: &str, trace: &[u32], room: u64, policy: &str) -> Result<CacheRun, String> {
    let (r, mut c) = start_redis(scratch, name)?;
    redis_load(&mut c, Shape::Strings, 0..room)?;
    let maxmemory = redis_used(&mut c)?;
    c.status(&[b"FLUSHALL"])?;
    c.status(&[b"CONFIG", b"SET", b"maxmemory", maxmemory.to_string().as_bytes()])?;
    c.status(&[b"CONFIG", b"SET", b"maxmemory-policy", policy.as_bytes()])?;
    let mut held = Held::new(trace.len());
    let (mut hits, mut pos) = (0u64, 0usize);
    let mut missed = HashSet::new();
    let t = Instant::now();
    for chunk in trace.chunks(PIPELINE) {
        if (pos..pos + chunk.len()).any(|p| held.due(p)) {
            held.add(redis_dbsize(&mut c)?);
        }
        pos += chunk.len();
        for &id in chunk {
            c.send(&[b"GET", &key(id as usize)]).map_err(|e| e.to_string())?;
        }
        c.flush().map_err(|e| e.to_string())?;
        missed.clear();
        for &id in chunk {
            match c.read().map_err(|e| e.to_string())? {
                Resp::Bulk(Some(_)) => hits += 1,
                Resp::Bulk(None) if !missed.insert(id) => hits += 1,
                Resp::Bulk(None) => {}
                other => return Err(format!("redis-server GET: {other:?}")),
            }
        }
        for &id in &missed {
            c.send(&[b"SET", &key(id as usize), VALUE]).map_err(|e| e.to_string())?;
        }
        c.flush().map_err(|e| e.to_string())?;
        for _ in 0..missed.len() {
            match c.read().map_err(|e| e.to_string())? {
                Resp::Simple(s) if s == "OK" => {}
                other => return Err(format!("redis-server SET under maxmemory: {other:?}")),
            }
        }
    }
    let secs = t.elapsed().as_secs_f64();
    let evicted = c.info_field("stats", "evicted_keys")?;
    let note = format!("evicted_keys {evicted}; maxmemory {} ({policy}, used_memory with {room} keys)", fmt_bytes(maxmemory));
    drop(c);
    r.shutdown()?;
    Ok(CacheRun { gets: trace.len() as u64, hits, held: held.mean(), secs, note })
}

pub fn run_hitratio(cfg: &Config, report: &mut Report) -> Result<(), String> {
    let scratch = Scratch::new(&cfg.scratch, "hitratio")?;
    let n = cfg.keys;
    let (ops, room) = (10 * n, (n / 10) as u64);
    let (maxmemory, how) = nestdb_room(room)?;
    eprintln!("  nestdb maxmemory {} ({how})", fmt_bytes(maxmemory));

    eprintln!("  Zipf(0.99): {ops} GETs over {n} keys");
    let trace = zipf_trace(n, ops, 6);
    let lru = nestdb_trace(&trace, maxmemory, EvictionPolicy::AllKeysLru)?;
    let cap = lru.held.round() as usize;
    let sim = lru_hits(&trace, cap) as f64 * 100.0 / trace.len() as f64;
    let redis = redis_trace(&scratch, "zipf-lru", &trace, room, "allkeys-lru")?;
    let what = format!("Zipf(0.99), {} GETs over {} keys, room for 10 %", count(ops as u64), count(n as u64));
    report.add("hit.zipf.nestdb.lru", format!("nestdb allkeys-lru hit ratio: {what}"), lru.percent(), Unit::Percent, {
        format!("maxmemory from {how}; {}", lru.detail(n))
    });
    report.add("hit.zipf.sim.lru", "exact LRU, capacity = keys nestdb held", sim, Unit::Percent, format!("capacity {cap} keys"));
    report.add("hit.zipf.redis.lru", "redis-server allkeys-lru, same trace", redis.percent(), Unit::Percent, redis.detail(n));
    let redis_cap = redis.held.round() as usize;
    let redis_sim = lru_hits(&trace, redis_cap) as f64 * 100.0 / trace.len() as f64;
    report.add("hit.zipf.sim.redis", "exact LRU, capacity = keys redis-server held", redis_sim, Unit::Percent, {
        format!("capacity {redis_cap} keys; redis-server minus exact LRU: {:+.2} points", redis.percent() - redis_sim)
    });
    drop(trace);
    // Without eviction the comparison is void (any cache that keeps everything matches an exact
    // LRU of the same size): the gap row then says so instead of passing.
    let evicting = lru.held <= 2.0 * room as f64;
    report.add(
        "hit.zipf.gap",
        "nestdb allkeys-lru vs exact LRU (points apart)",
        if evicting { (sim - lru.percent()).abs() } else { f64::NAN },
        Unit::Percent,
        if evicting {
            format!("exact LRU minus nestdb: {:+.2} points", sim - lru.percent())
        } else {
            format!("not comparable: nestdb held {:.0} keys on average, more than twice the room ({room}); it did not evict", lru.held)
        },
    );

    let (every, scan_len) = ((n / 10).max(1), (n / 20).max(1));
    eprintln!("  Zipf + scans: {ops} Zipf GETs, a scan of {scan_len} one-off keys after every {every}");
    let trace = zipf_scan_trace(n, ops, every, scan_len, 7);
    let lru = nestdb_trace(&trace, maxmemory, EvictionPolicy::AllKeysLru)?;
    let lfu = nestdb_trace(&trace, maxmemory, EvictionPolicy::AllKeysLfu)?;
    let cap = lru.held.round() as usize;
    let sim = lru_hits(&trace, cap) as f64 * 100.0 / trace.len() as f64;
    let redis_lru = redis_trace(&scratch, "scan-lru", &trace, room, "allkeys-lru")?;
    let redis_lfu = redis_trace(&scratch, "scan-lfu", &trace, room, "allkeys-lfu")?;
    let what = format!("Zipf + one-off scans ({} GETs, {} of them scans)", count(trace.len() as u64), count((trace.len() - ops) as u64));
    report.add("hit.scan.nestdb.lru", format!("nestdb allkeys-lru hit ratio: {what}"), lru.percent(), Unit::Percent, lru.detail(n));
    report.add("hit.scan.nestdb.lfu", "nestdb allkeys-lfu hit ratio, same trace", lfu.percent(), Unit::Percent, lfu.detail(n));
    report.add("hit.scan.sim.lru", "exact LRU, capacity = keys nestdb (lru) held", sim, Unit::Percent, format!("capacity {cap} keys"));
    report.add("hit.scan.redis.lru", "redis-server allkeys-lru, same trace", redis_lru.percent(), Unit::Percent, redis_lru.detail(n));
    report.add("hit.scan.redis.lfu", "redis-server allkeys-lfu, same trace", redis_lfu.percent(), Unit::Percent, redis_lfu.detail(n));
    report.add(
        "hit.scan.lfu_gain",
        "nestdb allkeys-lfu minus allkeys-lru (points)",
        lfu.percent() - lru.percent(),
        Unit::Percent,
        format!("redis-server: {:+.2} points", redis_lfu.percent() - redis_lru.percent()),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The obvious O(n * capacity) LRU: a recency vector, most recent last.
    fn naive_lru(trace: &[u32], capacity: usize) -> u64 {
        let mut v: Vec<u32> = Vec::new();
        let mut hits = 0;
        for &id in trace {
            if let Some(p) = v.iter().position(|&x| x == id) {
                hits += 1;
                v.remove(p);
            } else if v.len() == capacity {
                v.remove(0);
            }
            v.push(id);
        }
        hits
    }

    #[test]
    fn lru_matches_a_naive_simulation() {
        assert_eq!(lru_hits(&[1, 2, 1, 3, 2, 1], 2), 1);
        assert_eq!(lru_hits(&[5, 5, 5], 1), 2);
        assert_eq!(lru_hits(&[1, 2, 1, 2], 0), 0);
        let mut rng = SmallRng::seed_from_u64(1);
        for cap in [1, 2, 3, 10, 50] {
            let trace: Vec<u32> = (0..5000).map(|_| rng.random_range(0..60)).collect();
            assert_eq!(lru_hits(&trace, cap), naive_lru(&trace, cap), "capacity {cap}");
        }
        let trace = zipf_scan_trace(200, 3000, 100, 30, 9);
        assert_eq!(lru_hits(&trace, 20), naive_lru(&trace, 20));
    }

    #[test]
    fn zipf_frequencies_follow_the_law() {
        let (n, s) = (1000, 0.99);
        let z = Zipf::new(n, s);
        let mut rng = SmallRng::seed_from_u64(2);
        let mut counts = vec![0u32; n];
        let draws = 400_000;
        for _ in 0..draws {
            counts[z.sample(&mut rng)] += 1;
        }
        let h: f64 = (1..=n).map(|k| 1.0 / (k as f64).powf(s)).sum();
        for k in [0usize, 1, 9, 99] {
            let expect = draws as f64 / ((k + 1) as f64).powf(s) / h;
            let got = counts[k] as f64;
            assert!((got - expect).abs() < expect * 0.1 + 30.0, "rank {k}: {got} vs {expect}");
        }
    }

    #[test]
    fn scan_trace_has_one_off_keys() {
        let t = zipf_scan_trace(100, 1000, 250, 40, 3);
        assert_eq!(t.len(), 1000 + 4 * 40);
        let once: Vec<u32> = t.iter().copied().filter(|&id| id >= 100).collect();
        assert_eq!(once, (100..260).collect::<Vec<u32>>());
        assert_eq!(&t[250..290], &(100..140).collect::<Vec<u32>>()[..]);
        assert_eq!(zipf_trace(100, 1000, 3), zipf_trace(100, 1000, 3));
    }

    #[test]
    fn sessions_are_about_a_kib_and_differ() {
        let vs: Vec<Vec<u8>> = (0..200).map(session).collect();
        assert_eq!(vs[7], session(7));
        for v in &vs {
            assert!((900..1300).contains(&v.len()), "{}", v.len());
            let s = std::str::from_utf8(v).expect("UTF-8");
            assert!(s.starts_with("{\"sid\":\"") && s.ends_with("}}"), "{s}");
            let depth = s.chars().try_fold(0i32, |d, c| {
                let d = d + match c {
                    '{' | '[' => 1,
                    '}' | ']' => -1,
                    _ => 0,
                };
                (d >= 0).then_some(d)
            });
            assert_eq!(depth, Some(0), "{s}");
            assert!(s.contains("\"items\":[{\"sku\":\"SKU-"), "{s}");
        }
        let distinct: HashSet<&Vec<u8>> = vs.iter().collect();
        assert_eq!(distinct.len(), vs.len());
    }

    #[test]
    fn child_result_round_trips() {
        let r = ChildResult {
            rss_growth: 123,
            used_memory: None,
            value_bytes: 9,
            get_rate: 1.5e6,
            get_detail: "200 keys, median of 3 reps (range 1.00–2.00 M/s)".into(),
        };
        assert_eq!(ChildResult::parse(&r.line()), Some(r));
        let r = ChildResult { rss_growth: 1, used_memory: Some(77), value_bytes: 0, get_rate: 0.0, get_detail: String::new() };
        assert_eq!(ChildResult::parse(&r.line()), Some(r));
        assert_eq!(ChildResult::parse("rss_growth=1 used_memory=n/a"), None);
    }
}
