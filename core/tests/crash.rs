//! Crash tests (issue 5): a child process writes multi-command transactions under
//! `appendfsync always`, with rewrite thresholds small enough that snapshots and log rewrites
//! happen during the run, and reports every acknowledged step on stdout. The parent SIGKILLs it
//! at random moments, reopens the directory and checks that what is there is exactly steps
//! `1..=n` for some `n` with `last acked <= n <= last acked + 1` (no lost acknowledged step, no
//! hole, no half transaction), that the recovery report agrees, and that the directory does not
//! accumulate files. Each cycle continues on the directory the previous one left (recovery after
//! recovery); every 20 cycles start from a fresh directory.
//!
//! A step sequence is a *lane*: lane 0 uses the plain key names (`counter`, `steps`, `h`, `z`,
//! `s0..s6`, `step:<n>`, `fsum`, `blob`), lane 1 the same names prefixed with `t1:`. Half the
//! children write both lanes from two threads at once, so records of concurrent writers share
//! group commits; each lane is checked on its own (`acked <= n <= acked + 1` per lane). Every
//! fourth step writes a 1 MiB value, so some kills land inside a log write and leave a torn tail.
//! Steps that go through `Db::transaction` (which path a step takes is a fixed hash of its
//! number, `path_of`) also change documents in the same transaction: insert `{_id: n}` into the
//! lane's collection `crash.events[_t1]`, upsert `{_id: "total"}` with `$inc`/`$max`, and delete
//! the document of step `n - KEEP`; the check replays that history and compares.
//!
//! A second test kills the process while a snapshot of 200k keys is being written and checks
//! that nothing is lost and that the partial `.snap.tmp` is neither used nor left behind.
//!
//! The child is this test binary re-executed (`current_exe()`) running the same test with
//! `NESTDB_CRASH_CHILD` set, so no extra Cargo target is needed. Protocol: the lines that matter
//! start with `@` (`@open ...`, `@start <lane> <n>`, `@ack <lane> <n>`, `@rewrites <k>`,
//! `@saved`, `@snapshotting`); anything before the `@` (libtest's own output) is ignored.
//!
//! Environment: `NESTDB_CRASH_CYCLES` (default 100) sets the number of kill cycles,
//! `NESTDB_CRASH_SEED` replays a run's choices (the seed is printed in every failure and in the
//! one-line summary; where SIGKILL lands still varies).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nestdb::{Commands, Db, FsyncPolicy, Options, Reply};

const CHILD_ENV: &str = "NESTDB_CRASH_CHILD";
const DIR_ENV: &str = "NESTDB_CRASH_DIR";
const CHILD_SEED_ENV: &str = "NESTDB_CRASH_CHILD_SEED";
const CHILD_ARG_ENV: &str = "NESTDB_CRASH_CHILD_ARG";

/// Step sequences (writer threads at most).
const LANES: usize = 2;
/// `step:<k>` string keys are deleted again `KEEP` steps later (so deletions are replayed too).
const KEEP: u64 = 10;
/// Step `n` adds `n` to set `s<n % SETS>`.
const SETS: u64 = 7;
/// Every `BLOB_EVERY`th step writes a `BLOB_LEN`-byte value.
const BLOB_EVERY: u64 = 4;
const BLOB_LEN: usize = 1 << 20;
/// Each writer has one transaction in flight, so a torn tail is shorter than this.
const MAX_TORN: u64 = LANES as u64 * (BLOB_LEN as u64 + 4096);

// ---------------------------------------------------------------------------------------------
// Small deterministic RNG (splitmix64).

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }
}

fn seed_from_env() -> u64 {
    match std::env::var("NESTDB_CRASH_SEED") {
        Ok(s) => s.trim().parse().expect("NESTDB_CRASH_SEED must be an unsigned integer"),
        Err(_) => {
            let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
            Rng(t ^ u64::from(std::process::id())).next()
        }
    }
}

fn status(s: &'static str) -> Reply {
    Reply::Status(s.into())
}

fn err_reply(s: &'static str) -> Reply {
    Reply::Error(s.into())
}

fn argv(parts: &[&str]) -> Vec<Vec<u8>> {
    parts.iter().map(|p| p.as_bytes().to_vec()).collect()
}

// ---------------------------------------------------------------------------------------------
// The steps: step n of a lane is one atomic unit touching strings, a list, a hash, a sorted set,
// one of several sets and a float, on keys spread over many shards.

fn prefix(lane: usize) -> String {
    if lane == 0 {
        String::new()
    } else {
        format!("t{lane}:")
    }
}

/// The value step `n` gives `blob`: every `BLOB_EVERY`th one is large, so its log record spans
/// many pages and a SIGKILL can land in the middle of its write (a torn tail to cut at reopen).
fn blob_value(n: u64) -> Vec<u8> {
    if n.is_multiple_of(BLOB_EVERY) {
        let mut v = format!("{n}:").into_bytes();
        v.resize(BLOB_LEN, b'a' + (n % 26) as u8);
        v
    } else {
        n.to_string().into_bytes()
    }
}

fn step_commands(lane: usize, n: u64) -> Vec<Vec<Vec<u8>>> {
    let p = prefix(lane);
    let ns = n.to_string();
    let mut cmds = vec![
        argv(&["SET", &format!("{p}step:{n}"), &ns]),
        argv(&["INCR", &format!("{p}counter")]),
        argv(&["RPUSH", &format!("{p}steps"), &ns]),
        argv(&["HSET", &format!("{p}h"), &format!("f{n}"), &ns]),
        argv(&["ZADD", &format!("{p}z"), &ns, &format!("m{n}")]),
        argv(&["SADD", &format!("{p}s{}", n % SETS), &ns]),
        // Logged through `log_as` (its effect, not its argv).
        argv(&["INCRBYFLOAT", &format!("{p}fsum"), "0.5"]),
        vec![b"SET".to_vec(), format!("{p}blob").into_bytes(), blob_value(n)],
    ];
    if n > KEEP {
        cmds.push(argv(&["DEL", &format!("{p}step:{}", n - KEEP)]));
    }
    cmds
}

/// The replies step `n` must get when exactly steps `1..n` of its lane were applied before it.
fn check_step_replies(n: u64, replies: &[Reply]) -> Result<(), String> {
    let n_i = n as i64;
    let mut want = vec![Reply::OK, Reply::Int(n_i), Reply::Int(n_i), Reply::Int(1), Reply::Int(1), Reply::Int(1)];
    let float_at = want.len();
    want.push(Reply::Nil); // INCRBYFLOAT, compared by value below
    want.push(Reply::OK);
    if n > KEEP {
        want.push(Reply::Int(1));
    }
    let float_ok = matches!(replies.get(float_at), Some(Reply::Bulk(b))
        if std::str::from_utf8(b).ok().and_then(|s| s.parse::<f64>().ok()) == Some(n as f64 * 0.5));
    let same = replies.len() == want.len() && replies.iter().zip(&want).enumerate().all(|(i, (r, w))| i == float_at || r == w);
    if !(float_ok && same) {
        return Err(format!("replies {replies:?}, expected {want:?} with {} in place of the Nil", n as f64 * 0.5));
    }
    Ok(())
}

/// Which atomic path step `n` takes (a fixed hash, so the checker knows which steps wrote
/// documents: path 1).
fn path_of(n: u64) -> u64 {
    (n.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 60) % 4
}

/// The lane's document collection (in database "crash").
fn events(lane: usize) -> String {
    if lane == 0 {
        "events".into()
    } else {
        format!("events_t{lane}")
    }
}

/// The document commands of step `n` (path 1 only), checked.
fn doc_step(tx: &nestdb::Tx<'_>, lane: usize, n: u64) -> Result<(), String> {
    use nestdb::doc;
    let coll = events(lane);
    let ok = |r: nestdb::bson::Document, what: &str| -> Result<nestdb::bson::Document, String> {
        if r.get_f64("ok").ok() != Some(1.0) || r.contains_key("writeErrors") {
            return Err(format!("{what} replied {r}"));
        }
        Ok(r)
    };
    // A multikey secondary index (idempotent after the first step): replay must rebuild and
    // maintain it exactly (checked in `verify_lane` against a collection scan).
    ok(tx.run_command("crash", &doc! {"createIndexes": &coll, "indexes": [{"key": {"tags": 1}, "name": "tags_1"}]}), "createIndexes")?;
    let r = ok(
        tx.run_command(
            "crash",
            &doc! {"insert": &coll, "documents": [{"_id": n as i64, "lane": lane as i32, "tags": ["a", (n % 3) as i32]}]},
        ),
        "insert",
    )?;
    if r.get_i32("n").ok() != Some(1) {
        return Err(format!("insert replied {r}"));
    }
    ok(
        tx.run_command("crash", &doc! {"update": &coll, "updates": [{"q": {"_id": "total"}, "u": {"$inc": {"count": 1}, "$max": {"last": n as i64}}, "upsert": true}]}),
        "update",
    )?;
    if n > KEEP {
        ok(tx.run_command("crash", &doc! {"delete": &coll, "deletes": [{"q": {"_id": (n - KEEP) as i64}, "limit": 1}]}), "delete")?;
    }
    Ok(())
}

/// What a lane's collection must hold after steps `1..=n`: the numeric `_id`s, and the
/// total document's (count, last) — None when no step wrote documents.
fn expected_docs(n: u64) -> (BTreeSet<i64>, Option<(i32, i64)>) {
    let mut ids = BTreeSet::new();
    let (mut count, mut last) = (0, 0);
    for k in (1..=n).filter(|&k| path_of(k) == 1) {
        ids.insert(k as i64);
        if k > KEEP {
            ids.remove(&((k - KEEP) as i64));
        }
        count += 1;
        last = k as i64;
    }
    (ids, (count > 0).then_some((count, last)))
}

/// Run step `n` of `lane` through one of four atomic paths: Session MULTI/EXEC,
/// `Db::transaction` (with document commands), a pipeline, a pipelined MULTI..EXEC.
fn run_step(db: &Db, lane: usize, n: u64, how: u64) -> Result<Vec<Reply>, String> {
    let cmds = step_commands(lane, n);
    let argvs: Vec<Vec<&[u8]>> = cmds.iter().map(|c| c.iter().map(Vec::as_slice).collect()).collect();
    match how % 4 {
        0 => {
            let mut s = db.session();
            let r = s.execute(&[b"MULTI"]);
            if r != Reply::OK {
                return Err(format!("MULTI replied {r:?}"));
            }
            for a in &argvs {
                let r = s.execute(a);
                if r != status("QUEUED") {
                    return Err(format!("queueing {a:?} replied {r:?}"));
                }
            }
            match s.execute(&[b"EXEC"]) {
                Reply::Array(r) => Ok(r),
                other => Err(format!("EXEC replied {other:?}")),
            }
        }
        1 => db
            .transaction(|tx| {
                let replies = argvs.iter().map(|a| tx.execute(a)).collect::<Vec<_>>();
                doc_step(tx, lane, n).map(|()| replies)
            })
            .map_err(|e| format!("transaction: {e}"))?,
        2 => Ok(db.pipeline(&cmds)),
        _ => {
            let mut all = vec![argv(&["MULTI"])];
            all.extend(cmds.iter().cloned());
            all.push(argv(&["EXEC"]));
            let mut r = db.pipeline(&all);
            if r.len() != all.len() || r[0] != Reply::OK || r[1..r.len() - 1].iter().any(|q| *q != status("QUEUED")) {
                return Err(format!("pipelined MULTI/EXEC replied {r:?}"));
            }
            match r.pop() {
                Some(Reply::Array(r)) => Ok(r),
                other => Err(format!("pipelined EXEC replied {other:?}")),
            }
        }
    }
}

/// Keys of one lane after its steps `1..=n`.
fn expected_keys(n: u64) -> u64 {
    if n == 0 {
        0
    } else {
        // counter, steps, h, z, fsum, blob + the sets + the step:<k> keys not yet deleted
        // + the lane's collection once a step wrote documents
        6 + n.min(SETS) + n.min(KEEP) + u64::from((1..=n).any(|k| path_of(k) == 1))
    }
}

fn to_u64(b: &[u8]) -> Option<u64> {
    std::str::from_utf8(b).ok()?.parse().ok()
}

fn info_field(db: &Db, section: &str, field: &str) -> Option<String> {
    let Reply::Bulk(text) = db.execute(&[b"INFO", section.as_bytes()]) else { return None };
    let text = String::from_utf8(text).ok()?;
    let prefix = format!("{field}:");
    text.lines().find_map(|l| l.strip_prefix(&prefix)).map(|v| v.trim().to_string())
}

/// A one-line picture of a lane's structures, for failure messages.
fn describe(db: &Db, lane: usize) -> String {
    let p = prefix(lane);
    let int = |cmd: &str, key: String| match db.execute(&[cmd.as_bytes(), key.as_bytes()]) {
        Reply::Int(i) => i.to_string(),
        other => format!("{other:?}"),
    };
    let text = |key: String| db.get(key.as_bytes()).ok().flatten().map(|v| String::from_utf8_lossy(&v).into_owned());
    let sets: Vec<String> = (0..SETS).map(|r| int("SCARD", format!("{p}s{r}"))).collect();
    let last = match db.execute(&[b"LRANGE", format!("{p}steps").as_bytes(), b"-1", b"-1"]) {
        Reply::Array(a) => format!("{a:?}"),
        other => format!("{other:?}"),
    };
    format!(
        "lane {lane}: counter={:?} llen={} last={last} hlen={} zcard={} scards=[{}] fsum={:?}; dbsize={}",
        text(format!("{p}counter")),
        int("LLEN", format!("{p}steps")),
        int("HLEN", format!("{p}h")),
        int("ZCARD", format!("{p}z")),
        sets.join(","),
        text(format!("{p}fsum")),
        match db.execute(&[b"DBSIZE"]) {
            Reply::Int(i) => i,
            _ => -1,
        }
    )
}

/// Check that `lane` holds exactly its steps `1..=n` (n read from its counter) with
/// `acked <= n <= acked + in_flight`. Returns n.
fn verify_lane(db: &Db, lane: usize, acked: u64, in_flight: u64) -> Result<u64, String> {
    let p = prefix(lane);
    let fail = |what: String| Err(format!("lane {lane}: {what}\n  state: {}", describe(db, lane)));
    let n = match db.get(format!("{p}counter").as_bytes()) {
        Ok(None) => 0,
        Ok(Some(v)) => match to_u64(&v) {
            Some(n) => n,
            None => return fail(format!("counter holds {:?}", String::from_utf8_lossy(&v))),
        },
        Err(e) => return fail(format!("GET counter: {e}")),
    };
    if n < acked {
        return fail(format!("LOST ACKNOWLEDGED STEPS: the database holds steps 1..={n} but step {acked} was acknowledged"));
    }
    if n > acked + in_flight {
        return fail(format!("the database holds steps 1..={n} but only {acked} were acknowledged ({in_flight} may be in flight)"));
    }
    let list = db.lrange(format!("{p}steps").as_bytes(), 0, -1).map_err(|e| e.to_string())?;
    let want: Vec<Vec<u8>> = (1..=n).map(|k| k.to_string().into_bytes()).collect();
    if list != want {
        let at = list.iter().zip(&want).position(|(a, b)| a != b).unwrap_or(list.len().min(want.len()));
        return fail(format!("list `{p}steps` has {} entries, expected {n}; first difference at index {at}", list.len()));
    }
    let mut hash = db.hgetall(format!("{p}h").as_bytes()).map_err(|e| e.to_string())?;
    hash.sort_by_key(|(f, _)| to_u64(&f[1..]));
    let want: Vec<(Vec<u8>, Vec<u8>)> = (1..=n).map(|k| (format!("f{k}").into_bytes(), k.to_string().into_bytes())).collect();
    if hash != want {
        return fail(format!("hash `{p}h` has {} fields, expected exactly f1..=f{n} with their values", hash.len()));
    }
    let z = db.zrange_withscores(format!("{p}z").as_bytes(), 0, -1).map_err(|e| e.to_string())?;
    let want: Vec<(Vec<u8>, f64)> = (1..=n).map(|k| (format!("m{k}").into_bytes(), k as f64)).collect();
    if z != want {
        return fail(format!("sorted set `{p}z` has {} members, expected exactly m1..=m{n} scored 1..={n}", z.len()));
    }
    for r in 0..SETS {
        let key = format!("{p}s{r}");
        let mut members: Vec<u64> = db.smembers(key.as_bytes()).map_err(|e| e.to_string())?.iter().filter_map(|m| to_u64(m)).collect();
        members.sort_unstable();
        let want: Vec<u64> = (1..=n).filter(|k| k % SETS == r).collect();
        if members != want {
            return fail(format!("set `{key}` is {members:?}, expected {want:?}"));
        }
    }
    for k in 1..=n + 2 {
        let v = db.get(format!("{p}step:{k}").as_bytes()).map_err(|e| e.to_string())?;
        let present = k <= n && k + KEEP > n;
        match (&v, present) {
            (None, false) => {}
            (Some(v), true) if to_u64(v) == Some(k) => {}
            _ => return fail(format!("key {p}step:{k} is {v:?}, expected {}", if present { "present" } else { "absent" })),
        }
    }
    let fsum = db.get(format!("{p}fsum").as_bytes()).map_err(|e| e.to_string())?;
    let fsum_ok = match &fsum {
        None => n == 0,
        Some(v) => std::str::from_utf8(v).ok().and_then(|s| s.parse::<f64>().ok()) == Some(n as f64 * 0.5),
    };
    if !fsum_ok {
        return fail(format!("fsum is {fsum:?}, expected {}", n as f64 * 0.5));
    }
    let (want_ids, want_total) = expected_docs(n);
    let reply = db.run_command("crash", &nestdb::doc! {"find": events(lane), "filter": {}, "batchSize": 1_000_000});
    let batch = reply.get_document("cursor").and_then(|c| c.get_array("firstBatch")).map_err(|_| format!("find replied {reply}"))?;
    let mut ids = BTreeSet::new();
    let mut total = None;
    for d in batch.iter().filter_map(|d| d.as_document()) {
        match d.get("_id") {
            Some(nestdb::bson::Bson::Int64(i)) => {
                ids.insert(*i);
            }
            Some(nestdb::bson::Bson::String(s)) if s == "total" => {
                total = Some((d.get_i32("count").unwrap_or(-1), d.get_i64("last").unwrap_or(-1)))
            }
            other => return fail(format!("unexpected document _id {other:?} in {}", events(lane))),
        }
    }
    if ids != want_ids || total != want_total {
        return fail(format!(
            "collection {} holds ids {ids:?} and total {total:?}, expected {want_ids:?} and {want_total:?}",
            events(lane)
        ));
    }
    if !ids.is_empty() {
        // The recovered index answers exactly what the scan found.
        let reply = db
            .run_command("crash", &nestdb::doc! {"find": events(lane), "filter": {"tags": "a"}, "hint": "tags_1", "batchSize": 1_000_000});
        let batch =
            reply.get_document("cursor").and_then(|c| c.get_array("firstBatch")).map_err(|_| format!("indexed find replied {reply}"))?;
        let indexed: BTreeSet<i64> = batch.iter().filter_map(|d| d.as_document()?.get_i64("_id").ok()).collect();
        if indexed != ids {
            return fail(format!("index tags_1 of {} finds {indexed:?}, the collection holds {ids:?}", events(lane)));
        }
    }
    let blob = db.get(format!("{p}blob").as_bytes()).map_err(|e| e.to_string())?;
    if blob != (n > 0).then(|| blob_value(n)) {
        let len = blob.as_ref().map(Vec::len);
        let head = blob.as_ref().map(|b| String::from_utf8_lossy(&b[..b.len().min(12)]).into_owned());
        return fail(format!("blob is {head:?}... ({len:?} bytes), expected step {n}'s"));
    }
    Ok(n)
}

/// Verify every lane (`in_flight[l]` = steps of lane l that may be durable but unacknowledged)
/// and that nothing else is in the keyspace besides `extra_keys` keys.
fn verify_all(db: &Db, acked: [u64; LANES], in_flight: [u64; LANES], extra_keys: u64) -> Result<[u64; LANES], String> {
    let mut n = [0; LANES];
    for lane in 0..LANES {
        n[lane] = verify_lane(db, lane, acked[lane], in_flight[lane])?;
    }
    let want = n.iter().map(|&k| expected_keys(k)).sum::<u64>() + extra_keys;
    let got = db.execute(&[b"DBSIZE"]);
    if got != Reply::Int(want as i64) {
        return Err(format!("DBSIZE is {got:?}, expected {want} (lanes at {n:?})"));
    }
    Ok(n)
}

// ---------------------------------------------------------------------------------------------
// The database directory.

/// The seq of the snapshot MANIFEST names (0: none).
fn manifest_snapshot(dir: &Path) -> Result<u64, String> {
    let text = match std::fs::read_to_string(dir.join("MANIFEST")) {
        Ok(t) => t,
        // Killed before the first open wrote it (opening must then find no data files).
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(format!("MANIFEST: {e}")),
    };
    let line =
        text.lines().find_map(|l| l.strip_prefix("snapshot ")).ok_or_else(|| format!("MANIFEST without a snapshot line: {text:?}"))?;
    if line == "none" {
        return Ok(0);
    }
    snap_seq(line).ok_or_else(|| format!("MANIFEST names {line:?}"))
}

fn snap_seq(name: &str) -> Option<u64> {
    name.strip_prefix("snap-")?.strip_suffix(".snap")?.parse().ok()
}

fn log_seq(name: &str) -> Option<u64> {
    name.strip_prefix("log-")?.strip_suffix(".log")?.parse().ok()
}

#[derive(Default, Debug)]
struct Listing {
    snapshots: Vec<u64>,
    segments: Vec<u64>,
    temps: Vec<(String, u64)>,
    others: Vec<String>,
    bytes: u64,
}

fn list_dir(dir: &Path) -> Listing {
    let mut l = Listing::default();
    let Ok(rd) = std::fs::read_dir(dir) else { return l };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let len = e.metadata().map_or(0, |m| m.len());
        l.bytes += len;
        if let Some(s) = snap_seq(&name) {
            l.snapshots.push(s);
        } else if let Some(s) = log_seq(&name) {
            l.segments.push(s);
        } else if name.ends_with(".tmp") {
            l.temps.push((name, len));
        } else if name != "LOCK" && name != "MANIFEST" {
            l.others.push(name);
        }
    }
    l.snapshots.sort_unstable();
    l.segments.sort_unstable();
    l
}

/// After a successful open: no temporary or unknown file, the MANIFEST's snapshot present and
/// no other, nothing the snapshot covers left, and no pile-up of log segments.
fn check_dir_after_open(dir: &Path, base: u64) -> Result<Listing, String> {
    let l = list_dir(dir);
    if !l.temps.is_empty() || !l.others.is_empty() {
        return Err(format!("unexpected files after reopen: {l:?}"));
    }
    if base > 0 && !l.snapshots.contains(&base) {
        return Err(format!("MANIFEST names snapshot {base} which is missing: {l:?}"));
    }
    if l.segments.iter().any(|&s| s <= base) || l.snapshots.iter().any(|&s| s < base) {
        return Err(format!("obsolete files (covered by snapshot {base}) survived the reopen: {l:?}"));
    }
    if l.snapshots.iter().any(|&s| s != base) {
        return Err(format!(
            "a snapshot file newer than MANIFEST's (written, but the process died before MANIFEST named it) survived \
             the reopen; such files accumulate, one per crash in that window: MANIFEST names {base}, {l:?}"
        ));
    }
    // The segments since the snapshot: one more per snapshot interrupted since the last one
    // that completed (each starts a new segment at its cut).
    if l.segments.len() > 8 {
        return Err(format!("log segments accumulate in the database directory: {l:?}"));
    }
    Ok(l)
}

fn child_options() -> Options {
    Options::default().appendfsync(FsyncPolicy::Always).auto_rewrite(10, 64 * 1024).save_points(vec![(1, 50)])
}

/// The parent only reads: it must not snapshot or rewrite (that would hide what the child left).
fn parent_options() -> Options {
    Options::default().appendfsync(FsyncPolicy::Always).auto_rewrite(0, 0).save_points(vec![])
}

// ---------------------------------------------------------------------------------------------
// Child side.

/// `Some((dir, seed, arg))` when this process is a child started for `mode`.
fn child_role(mode: &str) -> Option<(PathBuf, u64, u64)> {
    if std::env::var(CHILD_ENV).ok()? != mode {
        return None;
    }
    // A failed check on any thread must end the child (the parent reports its stderr).
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default_hook(info);
        std::process::abort();
    }));
    let dir = PathBuf::from(std::env::var_os(DIR_ENV).expect("child without a directory"));
    let seed = std::env::var(CHILD_SEED_ENV).ok().and_then(|s| s.parse().ok()).expect("child without a seed");
    let arg = std::env::var(CHILD_ARG_ENV).ok().and_then(|s| s.parse().ok()).unwrap_or(0);
    Some((dir, seed, arg))
}

fn emit(msg: &str) {
    let mut out = std::io::stdout().lock();
    if writeln!(out, "@{msg}").and_then(|()| out.flush()).is_err() {
        // The parent is gone.
        std::process::exit(3);
    }
}

/// Open, retrying while the parent's handle (just dropped) still holds the LOCK.
fn child_open(dir: &Path, options: Options) -> Db {
    let start = Instant::now();
    loop {
        match Db::open(dir, options.clone()) {
            Ok(db) => return db,
            Err(nestdb::Error::Locked { .. }) if start.elapsed() < Duration::from_secs(5) => std::thread::sleep(Duration::from_millis(2)),
            Err(e) => panic!("child: open {}: {e}", dir.display()),
        }
    }
}

/// Report what opening found and where each lane starts.
fn child_open_report(db: &Db) -> [u64; LANES] {
    let r = db.recovery_report().expect("file-backed");
    emit(&format!("open replayed={} dropped={} snapkeys={} ms={}", r.records_replayed, r.bytes_dropped, r.snapshot_keys, r.load_millis));
    let mut n = [0; LANES];
    for (lane, n) in n.iter_mut().enumerate() {
        *n = db.get(format!("{}counter", prefix(lane)).as_bytes()).expect("GET counter").map_or(0, |v| to_u64(&v).expect("a number"));
        emit(&format!("start {lane} {n}"));
    }
    n
}

fn child_step(db: &Db, lane: usize, n: u64, rng: &mut Rng) {
    let _ = rng.below(4);
    let replies = run_step(db, lane, n, path_of(n)).unwrap_or_else(|e| panic!("child: lane {lane} step {n}: {e}"));
    if let Err(e) = check_step_replies(n, &replies) {
        panic!("child: lane {lane} step {n}: {e}");
    }
    emit(&format!("ack {lane} {n}"));
}

fn emit_rewrites(db: &Db) {
    if let Some(k) = info_field(db, "persistence", "aof_rewrites") {
        emit(&format!("rewrites {k}"));
    }
}

/// Write steps until killed, on `threads` lanes at once, lane 0 with the occasional SAVE or
/// BGSAVE.
fn child_steps(dir: &Path, seed: u64, threads: u64) -> ! {
    let mut rng = Rng(seed);
    let db = child_open(dir, child_options());
    let start = child_open_report(&db);
    let deadline = Instant::now() + Duration::from_secs(60);
    for (lane, &first) in start.iter().enumerate().take(threads as usize).skip(1) {
        let (db, mut n, mut rng) = (db.clone(), first, Rng(rng.next()));
        std::thread::spawn(move || {
            while Instant::now() < deadline {
                n += 1;
                child_step(&db, lane, n, &mut rng);
            }
        });
    }
    let mut n = start[0];
    while Instant::now() < deadline {
        n += 1;
        child_step(&db, 0, n, &mut rng);
        let snap = match rng.below(100) {
            0 | 1 => {
                let r = db.execute(&[b"BGSAVE"]);
                assert!(
                    r == status("Background saving started") || r == err_reply("ERR Background save already in progress"),
                    "child: BGSAVE replied {r:?}"
                );
                true
            }
            2 => {
                assert_eq!(db.execute(&[b"SAVE"]), Reply::OK, "child: SAVE");
                true
            }
            _ => false,
        };
        if snap || n.is_multiple_of(25) {
            emit_rewrites(&db);
        }
    }
    std::process::exit(0)
}

// ---------------------------------------------------------------------------------------------
// Parent side.

struct Running {
    child: Child,
    lines: Receiver<String>,
    out: JoinHandle<()>,
    err: JoinHandle<String>,
}

fn spawn_child(test: &str, mode: &str, dir: &Path, seed: u64, arg: u64) -> Running {
    let exe = std::env::current_exe().expect("current_exe");
    let mut child = Command::new(exe)
        .args([test, "--exact", "--nocapture", "-q", "--test-threads=1"])
        .env(CHILD_ENV, mode)
        .env(DIR_ENV, dir)
        .env(CHILD_SEED_ENV, seed.to_string())
        .env(CHILD_ARG_ENV, arg.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn child");
    let stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let (tx, lines) = mpsc::channel();
    let out = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(i) = line.find('@') {
                if tx.send(line[i + 1..].to_string()).is_err() {
                    break;
                }
            }
        }
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    Running { child, lines, out, err }
}

/// What a killed child said.
#[derive(Default, Debug)]
struct ChildLog {
    open: Option<BTreeMap<String, u64>>,
    start: [Option<u64>; LANES],
    last_ack: [Option<u64>; LANES],
    rewrites: u64,
    snapshotting: bool,
}

impl ChildLog {
    fn take(&mut self, line: &str) -> Result<(), String> {
        let mut words = line.split_whitespace();
        let word = words.next().unwrap_or("");
        let mut num = || words.next().and_then(|w| w.parse::<u64>().ok()).ok_or_else(|| format!("bad child line {line:?}"));
        match word {
            "open" => {
                let fields = line.split_whitespace().skip(1).filter_map(|kv| kv.split_once('='));
                self.open = Some(fields.map(|(k, v)| (k.to_string(), v.parse().unwrap_or(u64::MAX))).collect());
            }
            "start" => {
                let lane = num()? as usize;
                let n = num()?;
                *self.start.get_mut(lane).ok_or("bad lane")? = Some(n);
            }
            "ack" => {
                let lane = num()? as usize;
                let k = num()?;
                let last = self.last_ack.get_mut(lane).ok_or("bad lane")?;
                let want = last.or(self.start[lane]).map_or(0, |s| s + 1);
                if k != want {
                    return Err(format!("the child acknowledged step {k} of lane {lane} where {want} was next"));
                }
                *last = Some(k);
            }
            "rewrites" => self.rewrites = self.rewrites.max(num()?),
            "snapshotting" => self.snapshotting = true,
            "saved" => {}
            _ => return Err(format!("unknown child line {line:?}")),
        }
        Ok(())
    }
}

/// SIGKILL the child (it must still be running), reap it and collect what it printed.
fn kill_and_collect(mut run: Running, log: &mut ChildLog) -> Result<(), String> {
    let early = run.child.try_wait().map_err(|e| e.to_string())?;
    if early.is_none() {
        // `Child::kill` is SIGKILL on unix.
        run.child.kill().map_err(|e| format!("kill: {e}"))?;
    }
    let status = run.child.wait().map_err(|e| e.to_string())?;
    let _ = run.out.join();
    let stderr = run.err.join().unwrap_or_default();
    for line in run.lines.try_iter() {
        log.take(&line)?;
    }
    if let Some(status) = early {
        return Err(format!("the child exited on its own ({status}) before it was killed; its stderr:\n{stderr}"));
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if status.signal() != Some(9) {
            return Err(format!("the child ended with {status}, not SIGKILL; its stderr:\n{stderr}"));
        }
    }
    let _ = status;
    Ok(())
}

/// Check the recovery report against what the directory held: every record is one step (after
/// `base_records` records written before any step), so the replay count follows from the lanes'
/// step counts and the MANIFEST's snapshot, and the snapshot's key count from how many steps of
/// each lane it can hold.
fn check_report(db: &Db, n: [u64; LANES], base: u64, base_records: u64, base_keys: u64) -> Result<nestdb::RecoveryReport, String> {
    let r = db.recovery_report().ok_or("no recovery report")?;
    let last_seq = base_records + n.iter().sum::<u64>();
    if base > last_seq || (base > 0 && base < base_records) {
        return Err(format!("MANIFEST names snapshot seq {base} but records {base_records}..={last_seq} exist: {r:?}"));
    }
    if r.records_replayed != last_seq - base {
        return Err(format!("replayed {} records; snapshot seq {base} + replayed should be {last_seq}: {r:?}", r.records_replayed));
    }
    let possible: BTreeSet<u64> = if base == 0 {
        [0].into()
    } else {
        // The snapshot holds a steps of lane 0 and `in_snap - a` of lane 1.
        let in_snap = base - base_records;
        (in_snap.saturating_sub(n[1])..=in_snap.min(n[0])).map(|a| base_keys + expected_keys(a) + expected_keys(in_snap - a)).collect()
    };
    if !possible.contains(&r.snapshot_keys) {
        return Err(format!("the snapshot at seq {base} loaded {} keys, expected one of {possible:?}: {r:?}", r.snapshot_keys));
    }
    if (r.bytes_dropped > 0) != r.torn_at.is_some() || r.bytes_dropped >= MAX_TORN {
        return Err(format!("implausible torn tail: {r:?}"));
    }
    let seq = info_field(db, "persistence", "nestdb_log_seq").and_then(|s| s.parse::<u64>().ok());
    if seq != Some(last_seq) {
        return Err(format!("INFO nestdb_log_seq is {seq:?}, expected {last_seq}"));
    }
    Ok(r)
}

fn summary(line: &str) {
    // Straight to the process's stderr: libtest's capture only sees the print macros.
    let _ = writeln!(std::io::stderr(), "{line}");
}

#[derive(Default)]
struct Stats {
    acked: u64,
    durable_unacked: u64,
    no_ack_cycles: u64,
    two_writer_cycles: u64,
    rewrites: u64,
    snapshots_seen: BTreeSet<(usize, u64)>,
    torn: u64,
    max_open_ms: u128,
    max_load_ms: u64,
    max_child_load_ms: u64,
    max_files: usize,
    max_bytes: u64,
    max_segments: usize,
}

#[test]
fn sigkill_keeps_a_prefix_of_acknowledged_transactions() {
    const NAME: &str = "sigkill_keeps_a_prefix_of_acknowledged_transactions";
    if let Some((dir, seed, threads)) = child_role("steps") {
        child_steps(&dir, seed, threads);
    }
    let seed = seed_from_env();
    let cycles: u64 = std::env::var("NESTDB_CRASH_CYCLES").ok().and_then(|s| s.parse().ok()).unwrap_or(100);
    let mut rng = Rng(seed);
    let started = Instant::now();
    let mut st = Stats::default();
    let mut tmp: Option<tempfile::TempDir> = None;
    let mut generation = 0usize;
    let mut n = [0u64; LANES];
    for cycle in 0..cycles {
        if cycle % 20 == 0 {
            tmp = Some(tempfile::tempdir().expect("tempdir"));
            generation += 1;
            n = [0; LANES];
        }
        let path = tmp.as_ref().expect("set above").path().join("db");
        let child_seed = rng.next();
        let threads = 1 + rng.below(LANES as u64);
        let delay = Duration::from_millis(rng.range(5, 150));
        let res = (|| -> Result<(), String> {
            let run = spawn_child(NAME, "steps", &path, child_seed, threads);
            std::thread::sleep(delay);
            let mut log = ChildLog::default();
            kill_and_collect(run, &mut log)?;
            for (lane, (start, verified)) in log.start.iter().zip(n).enumerate() {
                if start.is_some_and(|s| s != verified) {
                    return Err(format!("the child started lane {lane} at step {start:?}, the parent had verified {verified}"));
                }
            }
            if let Some(open) = &log.open {
                st.max_child_load_ms = st.max_child_load_ms.max(open.get("ms").copied().unwrap_or(0));
                if open.get("dropped") != Some(&0) {
                    return Err(format!("the child's open found a torn tail after the parent's clean close: {open:?}"));
                }
            }
            let acked: [u64; LANES] = std::array::from_fn(|l| log.last_ack[l].unwrap_or(n[l]));
            let in_flight: [u64; LANES] = std::array::from_fn(|l| u64::from((l as u64) < threads));
            let before = list_dir(&path);
            st.max_files = st.max_files.max(before.snapshots.len() + before.segments.len() + before.temps.len());
            st.max_bytes = st.max_bytes.max(before.bytes);
            let base = manifest_snapshot(&path)?;
            let t = Instant::now();
            let db = Db::open(&path, parent_options()).map_err(|e| format!("reopen failed: {e}"))?;
            st.max_open_ms = st.max_open_ms.max(t.elapsed().as_millis());
            let present = verify_all(&db, acked, in_flight, 0)?;
            let report = check_report(&db, present, base, 0, 0)?;
            let after = check_dir_after_open(&path, base)?;
            drop(db);
            st.torn += u64::from(report.bytes_dropped > 0);
            st.max_load_ms = st.max_load_ms.max(report.load_millis);
            st.snapshots_seen.extend(after.snapshots.iter().map(|&s| (generation, s)));
            st.max_segments = st.max_segments.max(after.segments.len());
            st.rewrites += log.rewrites;
            st.no_ack_cycles += u64::from(log.last_ack.iter().all(Option::is_none));
            st.two_writer_cycles += u64::from(threads > 1);
            for l in 0..LANES {
                st.acked += acked[l] - n[l];
                st.durable_unacked += present[l] - acked[l];
            }
            n = present;
            Ok(())
        })();
        if let Err(e) = res {
            let kept = tmp.take().map(tempfile::TempDir::keep);
            panic!(
                "crash test failed: seed {seed} (NESTDB_CRASH_SEED={seed}), cycle {cycle}, {threads} writer(s), kill after \
                 {delay:?}, child seed {child_seed}; directory kept at {kept:?}\n{e}"
            );
        }
    }
    summary(&format!(
        "crash: seed={seed} cycles={cycles} (two writers: {}) steps_acked={} durable_unacked={} cycles_without_ack={} \
         rewrites={} snapshots_seen={} torn_tails={} max_segments_after_reopen={} max_files={} max_dir_bytes={} \
         max_reopen_ms={} (recovery report: {}) max_child_load_ms={} total={:.1}s",
        st.two_writer_cycles,
        st.acked,
        st.durable_unacked,
        st.no_ack_cycles,
        st.rewrites,
        st.snapshots_seen.len(),
        st.torn,
        st.max_segments,
        st.max_files,
        st.max_bytes,
        st.max_open_ms,
        st.max_load_ms,
        st.max_child_load_ms,
        started.elapsed().as_secs_f64()
    ));
    assert!(st.acked > 0, "no step was ever acknowledged (seed {seed})");
    if cycles >= 50 {
        assert!(st.rewrites > 0 && st.snapshots_seen.len() > 1, "no rewrite happened during the run (seed {seed})");
    }
}

// ---------------------------------------------------------------------------------------------
// Killing the process while a large snapshot is being written.

const BIG_KEYS: u64 = 200_000;
const BIG_HASHES: u64 = 100;
const BIG_HASH_FIELDS: u64 = 50;

fn big_value(i: u64) -> String {
    let mut r = Rng(i);
    format!("{i}:{:016x}{:016x}", r.next(), r.next())
}

/// Write the large data set (log only, no snapshot); returns how many records it took.
fn load_big(path: &Path) -> u64 {
    let db = Db::open(path, Options::default().appendfsync(FsyncPolicy::EverySec).auto_rewrite(0, 0).save_points(vec![])).expect("open");
    for chunk in 0..BIG_KEYS / 1000 {
        let cmds: Vec<Vec<Vec<u8>>> =
            (chunk * 1000..(chunk + 1) * 1000).map(|i| argv(&["SET", &format!("big:{i}"), &big_value(i)])).collect();
        assert!(db.pipeline(&cmds).iter().all(|r| *r == Reply::OK));
    }
    for h in 0..BIG_HASHES {
        let mut cmd = argv(&["HSET", &format!("bighash:{h}")]);
        for f in 0..BIG_HASH_FIELDS {
            cmd.push(format!("f{f}").into_bytes());
            cmd.push(big_value(h * 1000 + f).into_bytes());
        }
        assert_eq!(db.pipeline(&[cmd]), vec![Reply::Int(BIG_HASH_FIELDS as i64)]);
    }
    db.sync().expect("sync");
    info_field(&db, "persistence", "nestdb_log_seq").and_then(|s| s.parse().ok()).expect("nestdb_log_seq")
}

fn verify_big(db: &Db) -> Result<(), String> {
    for i in 0..BIG_KEYS {
        let key = format!("big:{i}");
        let ok = db.get_with(key.as_bytes(), |v| v == big_value(i).as_bytes()).map_err(|e| e.to_string())?;
        if ok != Some(true) {
            return Err(format!("{key} lost or changed"));
        }
    }
    for h in 0..BIG_HASHES {
        let mut got = db.hgetall(format!("bighash:{h}").as_bytes()).map_err(|e| e.to_string())?;
        got.sort();
        let mut want: Vec<(Vec<u8>, Vec<u8>)> =
            (0..BIG_HASH_FIELDS).map(|f| (format!("f{f}").into_bytes(), big_value(h * 1000 + f).into_bytes())).collect();
        want.sort();
        if got != want {
            return Err(format!("bighash:{h} has {} fields, not the {BIG_HASH_FIELDS} written", got.len()));
        }
    }
    Ok(())
}

fn big_options() -> Options {
    Options::default().appendfsync(FsyncPolicy::Always).auto_rewrite(0, 0).save_points(vec![])
}

/// Odd `arg`: first a complete SAVE and a few steps (so the snapshot being killed replaces an
/// existing one). Then start a snapshot (BGSAVE, or SAVE on another thread) and write steps of
/// lane 0 until killed.
fn child_big(dir: &Path, seed: u64, arg: u64) -> ! {
    let mut rng = Rng(seed);
    let db = child_open(dir, big_options());
    let mut n = child_open_report(&db)[0];
    if arg % 2 == 1 {
        assert_eq!(db.execute(&[b"SAVE"]), Reply::OK, "child: SAVE");
        emit("saved");
        for _ in 0..5 {
            n += 1;
            child_step(&db, 0, n, &mut rng);
        }
    }
    if rng.below(2) == 0 {
        assert_eq!(db.execute(&[b"BGSAVE"]), status("Background saving started"), "child: BGSAVE");
    } else {
        let db2 = db.clone();
        std::thread::spawn(move || {
            assert_eq!(db2.execute(&[b"SAVE"]), Reply::OK, "child: SAVE");
            emit("saved");
        });
    }
    emit("snapshotting");
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        n += 1;
        child_step(&db, 0, n, &mut rng);
    }
    std::process::exit(0)
}

#[test]
fn sigkill_during_a_large_snapshot_loses_nothing() {
    const NAME: &str = "sigkill_during_a_large_snapshot_loses_nothing";
    if let Some((dir, seed, arg)) = child_role("big") {
        child_big(&dir, seed, arg);
    }
    let seed = seed_from_env();
    let mut rng = Rng(seed ^ 0x5eed);
    let started = Instant::now();
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join("db");
    let load_records = load_big(&path);
    let base_keys = BIG_KEYS + BIG_HASHES;
    let mut n = 0u64;
    let (mut mid_kills, mut mid_kills_replacing, mut partial_nonempty, mut max_partial) = (0u32, 0u32, 0u32, 0u64);
    let (mut acked_total, mut max_open_ms) = (0u64, 0u128);
    // Rounds until enough kills landed mid-snapshot (usually 6; a snapshot may finish first).
    let mut rounds = 0u64;
    while rounds < 6 || (rounds < 16 && (mid_kills < 4 || mid_kills_replacing < 1 || partial_nonempty < 1)) {
        let round = rounds;
        rounds += 1;
        let child_seed = rng.next();
        // Half the kills within a few milliseconds of the temporary file's creation (little or
        // nothing written yet), half anywhere in the first 100 ms (the snapshot takes about that
        // in a release build; an unoptimized one is ~10x slower, so its windows are 10x longer).
        let scale = if cfg!(debug_assertions) { 10 } else { 1 };
        let kill_after = Duration::from_micros(scale * if rng.below(2) == 0 { rng.range(0, 4_000) } else { rng.range(4_000, 100_000) });
        let res = (|| -> Result<(), String> {
            let base_before = manifest_snapshot(&path)?;
            let run = spawn_child(NAME, "big", &path, child_seed, round);
            let mut log = ChildLog::default();
            let deadline = Instant::now() + Duration::from_secs(30);
            while !log.snapshotting {
                match run.lines.recv_timeout(Duration::from_millis(50)) {
                    Ok(line) => log.take(&line)?,
                    Err(_) if Instant::now() > deadline => return Err("the child never started its snapshot".into()),
                    Err(_) => {}
                }
            }
            let deadline = Instant::now() + Duration::from_secs(10);
            while list_dir(&path).temps.iter().all(|(name, _)| !name.ends_with(".snap.tmp")) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_micros(100));
            }
            std::thread::sleep(kill_after);
            kill_and_collect(run, &mut log)?;
            let killed = list_dir(&path);
            let partial = killed.temps.iter().find(|(name, _)| name.ends_with(".snap.tmp")).cloned();
            if let Some((_, len)) = &partial {
                mid_kills += 1;
                mid_kills_replacing += u32::from(base_before > 0);
                partial_nonempty += u32::from(*len > 0);
                max_partial = max_partial.max(*len);
            }
            let acked = log.last_ack[0].unwrap_or(n);
            let base = manifest_snapshot(&path)?;
            let t = Instant::now();
            let db = Db::open(&path, big_options()).map_err(|e| format!("reopen failed: {e}"))?;
            max_open_ms = max_open_ms.max(t.elapsed().as_millis());
            let present = verify_all(&db, [acked, 0], [1, 0], base_keys)?;
            verify_big(&db)?;
            check_report(&db, present, base, load_records, base_keys)?;
            check_dir_after_open(&path, base)?;
            if let Some((name, _)) = &partial {
                if path.join(name).exists() {
                    return Err(format!("{name} survived the reopen"));
                }
            }
            acked_total += acked - n;
            n = present[0];
            Ok(())
        })();
        if let Err(e) = res {
            let kept = tmp.keep();
            panic!(
                "large-snapshot crash test failed: seed {seed} (NESTDB_CRASH_SEED={seed}), round {round}, child seed {child_seed}, \
                 kill {kill_after:?} after the temporary file appeared; directory kept at {kept:?}\n{e}"
            );
        }
    }
    summary(&format!(
        "crash/large snapshot: seed={seed} rounds={rounds} killed_mid_snapshot={mid_kills} (replacing an older snapshot: \
         {mid_kills_replacing}, after data was written: {partial_nonempty}) largest_partial_snapshot={max_partial}B \
         steps_acked={acked_total} max_reopen_ms={max_open_ms} total={:.1}s",
        started.elapsed().as_secs_f64()
    ));
    assert!(
        mid_kills >= 4 && mid_kills_replacing >= 1 && partial_nonempty >= 1,
        "too few kills landed while a snapshot was being written ({mid_kills}, {mid_kills_replacing} replacing one, \
         {partial_nonempty} with data written); seed {seed}"
    );
}
