//! Fault injection through the files and the storage layer: torn and corrupted logs, damaged
//! snapshots and MANIFESTs, a crash between a snapshot's rename and its MANIFEST update, disk
//! errors (ENOSPC, EIO) on append, fsync, segment creation and snapshot writes, and the
//! directory lock across processes.
//!
//! Every scenario damages a copy of a database built through the public API, then checks
//! what opening (and `nestdb::repair`) does with it: the database either opens with exactly
//! the records before the damage, or refuses with an error naming the file, never panics.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;
use std::thread::sleep;
use std::time::{Duration, Instant};

use nestdb::testing::{self, FaultKind, Op};
use nestdb::{Commands, Db, Error, FsyncPolicy, Options, Reply};

/// Log record header: len u32, crc u32, seq u64, kind u8.
const RECORD_HEADER: usize = 17;
const SNAP_HEADER: usize = 36;
const SNAP_BLOCK_HEADER: usize = 16;
const SNAP_FOOTER: usize = 28;

/// Options with no automatic snapshot (no save points, no size-triggered rewrite), so that only
/// the test decides when the files change.
fn opts(policy: FsyncPolicy) -> Options {
    Options::default().appendfsync(policy).save_points(vec![]).auto_rewrite(0, 0)
}

fn segment_name(first_seq: u64) -> String {
    format!("log-{first_seq:020}.log")
}

fn files_of(dir: &Path, prefix: &str, suffix: &str) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with(prefix) && n.ends_with(suffix))
        .collect();
    names.sort();
    names
}

/// Copy every file of a database directory (it has no subdirectories).
fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for ent in fs::read_dir(from).unwrap() {
        let ent = ent.unwrap();
        if ent.file_type().unwrap().is_file() {
            fs::copy(ent.path(), to.join(ent.file_name())).unwrap();
        }
    }
}

fn truncate(path: &Path, len: usize) {
    fs::OpenOptions::new().write(true).open(path).unwrap().set_len(len as u64).unwrap();
}

fn flip(path: &Path, at: usize, mask: u8) {
    let mut data = fs::read(path).unwrap();
    data[at] ^= mask;
    fs::write(path, data).unwrap();
}

/// (offset, frame length, seq) of each record of a log segment.
type Frames = Vec<(usize, usize, u64)>;

/// The records of a log segment image, which must end on a record boundary.
fn frames(data: &[u8]) -> Frames {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos + RECORD_HEADER <= data.len() {
        let len = u32::from_le_bytes(data[pos..pos + 4].try_into().unwrap()) as usize;
        let total = 8 + len;
        if pos + total > data.len() {
            break;
        }
        out.push((pos, total, u64::from_le_bytes(data[pos + 8..pos + 16].try_into().unwrap())));
        pos += total;
    }
    assert_eq!(pos, data.len(), "segment image ends inside a record");
    out
}

/// `Db::open`, retried while this very process holds the LOCK: a child process spawned by
/// another test at the moment this process had a LOCK open holds a copy of the descriptor,
/// and so the flock, until it execs. (`Db::open` itself retries for 2 s on its own pid.)
fn open(path: impl AsRef<Path>, options: Options) -> nestdb::Result<Db> {
    let path = path.as_ref();
    let mine = format!("locked by process {} ", std::process::id());
    let start = Instant::now();
    loop {
        match Db::open(path, options.clone()) {
            Err(Error::Locked { message: m, .. }) if m.contains(&mine) && start.elapsed() < Duration::from_secs(5) => {
                sleep(Duration::from_millis(5))
            }
            r => return r,
        }
    }
}

/// The message of the error that opening `path` must give: `Error::Corrupt` for damaged
/// files, `Error::Locked` for a held lock.
fn open_err(path: &Path) -> String {
    match open(path, opts(FsyncPolicy::EverySec)) {
        Err(Error::Corrupt(m)) => m,
        Err(Error::Locked { message, pid }) => {
            assert!(pid.is_some_and(|p| message.contains(&format!("process {p} "))), "{message} / {pid:?}");
            message
        }
        Err(e) => panic!("expected Error::Corrupt or Error::Locked, got {e:?}"),
        Ok(_) => panic!("{} opened but must not", path.display()),
    }
}

/// `nestdb::repair`, retried while this very process holds the LOCK (see `open`).
fn repair(path: &Path) -> nestdb::Result<nestdb::RepairReport> {
    let mine = format!("locked by process {} ", std::process::id());
    let start = Instant::now();
    loop {
        match nestdb::repair(path) {
            Err(Error::Locked { message: m, .. }) if m.contains(&mine) && start.elapsed() < Duration::from_secs(5) => {
                sleep(Duration::from_millis(5))
            }
            r => return r,
        }
    }
}

/// Every sequence number an error message names ("seq 12", "seq 12 expected").
fn seqs_named(msg: &str) -> Vec<u64> {
    msg.match_indices("seq ")
        .filter_map(|(i, _)| {
            let digits: String = msg[i + 4..].chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
        .collect()
}

/// A field of INFO persistence.
fn info(db: &Db, field: &str) -> String {
    let text = String::from_utf8(db.execute(&[b"INFO", b"persistence"]).into_bytes().expect("INFO answers a bulk string")).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(field).and_then(|rest| rest.strip_prefix(':')))
        .unwrap_or_else(|| panic!("no {field} in INFO persistence: {text}"))
        .to_string()
}

/// Every key and value of a database holding only strings.
fn dump(db: &Db) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let keys = db.execute(&[b"KEYS", b"*"]);
    keys.as_array()
        .expect("KEYS answers an array")
        .iter()
        .map(|k| {
            let k = k.as_bytes().expect("key").to_vec();
            let v = db.get(&k).unwrap().expect("listed key has a value");
            (k, v)
        })
        .collect()
}

/// Drop the last handle of a database and check it is closed (its LOCK released). Dropping
/// closes synchronously (`dropping_the_last_handle_closes_before_drop_returns`); the wait only
/// covers children of other tests that hold a copy of the LOCK descriptor until they exec.
fn close(db: Db, path: &Path) {
    drop(db);
    assert!(
        wait_until(Duration::from_secs(5), || !is_locked(path)),
        "{} still locked 5 s after its last handle was dropped",
        path.display()
    );
}

/// Whether some open file description holds the database's LOCK (this process's included).
fn is_locked(path: &Path) -> bool {
    let f = fs::File::open(path.join("LOCK")).unwrap();
    match f.try_lock() {
        Ok(()) => false,
        Err(fs::TryLockError::WouldBlock) => true,
        Err(fs::TryLockError::Error(e)) => panic!("{}: {e}", path.display()),
    }
}

fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if f() {
            return true;
        }
        if start.elapsed() > timeout {
            return false;
        }
        sleep(Duration::from_millis(2));
    }
}

/// Panics anywhere in this process (threads included) outside this file since the hook was
/// installed.
static PANICS: AtomicUsize = AtomicUsize::new(0);

fn count_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            // Assertions of this file's tests do not count; panics in nestdb (its threads
            // included) do.
            if info.location().is_none_or(|l| !l.file().ends_with("faults.rs")) {
                PANICS.fetch_add(1, Ordering::SeqCst);
            }
            default(info);
        }));
    });
}

// ---------------------------------------------------------------------------------------------
// 1. Torn last record

#[test]
fn torn_last_record_is_cut_off_at_every_byte_offset() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("base");
    {
        let db = open(&base, opts(FsyncPolicy::Always)).unwrap();
        db.set(b"a", b"1").unwrap();
        assert_eq!(db.execute(&[b"RPUSH", b"l", b"x", b"y"]), Reply::Int(2));
        assert_eq!(db.execute(&[b"INCR", b"n"]), Reply::Int(1));
        db.set(b"last", b"this record gets torn").unwrap();
        close(db, &base);
    }
    let seg = segment_name(1);
    let data = fs::read(base.join(&seg)).unwrap();
    let fr = frames(&data);
    assert_eq!(fr.iter().map(|f| f.2).collect::<Vec<_>>(), [1, 2, 3, 4]);
    let (last_start, last_len, _) = fr[3];
    assert_eq!(last_start + last_len, data.len());

    // cut == last_start is a clean cut between records (nothing torn); every later cut leaves
    // 1..last_len-1 bytes of the last record.
    for cut in last_start..data.len() {
        let dir = tmp.path().join(format!("cut-{cut}"));
        copy_dir(&base, &dir);
        truncate(&dir.join(&seg), cut);
        {
            let db = open(&dir, opts(FsyncPolicy::EverySec)).unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
            let r = db.recovery_report().unwrap();
            assert_eq!(r.records_replayed, 3, "cut at {cut}");
            assert_eq!(r.bytes_dropped, (cut - last_start) as u64, "cut at {cut}");
            let expected_torn = (cut > last_start).then(|| (dir.canonicalize().unwrap().join(&seg), last_start as u64));
            assert_eq!(r.torn_at, expected_torn, "cut at {cut}");
            assert_eq!(db.get(b"a").unwrap().as_deref(), Some(&b"1"[..]), "cut at {cut}");
            assert_eq!(db.lrange(b"l", 0, -1).unwrap(), [b"x".to_vec(), b"y".to_vec()], "cut at {cut}");
            assert_eq!(db.get(b"n").unwrap().as_deref(), Some(&b"1"[..]), "cut at {cut}");
            assert_eq!(db.execute(&[b"EXISTS", b"last"]), Reply::Int(0), "cut at {cut}");
            // The torn bytes are gone from the file before anything new is appended.
            assert_eq!(fs::metadata(dir.join(&seg)).unwrap().len(), last_start as u64, "cut at {cut}");
            db.set(b"after", cut.to_string().as_bytes()).unwrap();
            assert_eq!(db.execute(&[b"INCR", b"n"]), Reply::Int(2));
            close(db, &dir);
        }
        {
            let db = open(&dir, opts(FsyncPolicy::EverySec)).unwrap_or_else(|e| panic!("reopen after cut at {cut}: {e}"));
            let r = db.recovery_report().unwrap();
            assert_eq!((r.records_replayed, r.bytes_dropped, r.torn_at), (5, 0, None), "cut at {cut}");
            assert_eq!(db.get(b"after").unwrap(), Some(cut.to_string().into_bytes()), "cut at {cut}");
            assert_eq!(db.get(b"n").unwrap().as_deref(), Some(&b"2"[..]), "cut at {cut}");
            assert_eq!(db.execute(&[b"EXISTS", b"last"]), Reply::Int(0), "cut at {cut}");
            close(db, &dir);
        }
        // The new records follow the kept ones with consecutive sequence numbers, no gap.
        let fr = frames(&fs::read(dir.join(&seg)).unwrap());
        assert_eq!(fr.iter().map(|f| f.2).collect::<Vec<_>>(), [1, 2, 3, 4, 5], "cut at {cut}");
        fs::remove_dir_all(&dir).unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// 2. Corruption inside the log

/// A database of 12 records `SET k<i> v<i>`, split into two segments: records 1..=6 in
/// log-1, 7..=12 in log-7 (the layout a snapshot that failed after rotating the log leaves).
/// Returns (segment file name, its records as (offset, length, seq)) for both.
fn two_segment_db(dir: &Path) -> Vec<(String, Frames)> {
    {
        let db = open(dir, opts(FsyncPolicy::EverySec)).unwrap();
        for i in 1..=12 {
            db.set(format!("k{i}").as_bytes(), format!("v{i}").as_bytes()).unwrap();
        }
        close(db, dir);
    }
    let data = fs::read(dir.join(segment_name(1))).unwrap();
    let fr = frames(&data);
    assert_eq!(fr.len(), 12);
    let split = fr[6].0;
    fs::write(dir.join(segment_name(1)), &data[..split]).unwrap();
    fs::write(dir.join(segment_name(7)), &data[split..]).unwrap();
    [1, 7].iter().map(|&s| (segment_name(s), frames(&fs::read(dir.join(segment_name(s))).unwrap()))).collect()
}

fn assert_exactly_records_before(db: &Db, seq: u64, what: &str) {
    assert_eq!(db.recovery_report().unwrap().records_replayed, seq - 1, "{what}");
    assert_eq!(db.execute(&[b"DBSIZE"]), Reply::Int(seq as i64 - 1), "{what}");
    for i in 1..=12 {
        let v = db.get(format!("k{i}").as_bytes()).unwrap();
        assert_eq!(v, (i < seq).then(|| format!("v{i}").into_bytes()), "{what}: k{i}");
    }
}

type Layout = [(String, Frames)];

/// Flip one bit of a record that is not the last one; the database must refuse to open,
/// naming the file, the record's offset and (with `check_seq`) its seq; repair truncates there.
fn corrupt_record_and_repair(tmp: &Path, base: &Path, layout: &Layout, (seg, rec): (usize, usize), at: usize, mask: u8, check_seq: bool) {
    let (name, fr) = &layout[seg];
    let (offset, _, seq) = fr[rec];
    let what = format!("{name} record seq {seq} byte {at} ^ {mask:#04x}");
    let dir = tmp.join(format!("flip-{seq}-{at}-{mask}"));
    copy_dir(base, &dir);
    let file = dir.join(name);
    let file_len = fs::metadata(&file).unwrap().len();
    flip(&file, offset + at, mask);

    let msg = open_err(&dir);
    assert!(msg.contains(name.as_str()), "{what}: {msg}");
    assert!(msg.contains(&format!("offset {offset}")), "{what}: {msg}");
    if check_seq {
        assert!(seqs_named(&msg).contains(&seq), "{what}: the error does not name seq {seq}: {msg}");
    }

    let report = repair(&dir).unwrap_or_else(|e| panic!("{what}: repair: {e}"));
    let later: Vec<&String> = layout[seg + 1..].iter().map(|(n, _)| n).collect();
    let later_bytes: u64 = later.iter().map(|n| fs::metadata(base.join(n)).unwrap().len()).sum();
    assert_eq!(report.truncated_file.as_deref().and_then(Path::file_name), Some(name.as_ref()), "{what}");
    assert_eq!(report.truncated_at, offset as u64, "{what}");
    assert_eq!(report.bytes_dropped, file_len - offset as u64 + later_bytes, "{what}");
    assert_eq!(report.segments_removed, later.len(), "{what}");
    assert!(!report.manifest_rebuilt, "{what}");
    assert_eq!(fs::metadata(&file).unwrap().len(), offset as u64, "{what}");
    for n in later {
        assert!(!dir.join(n).exists(), "{what}: {n} should be removed");
    }

    {
        let db = open(&dir, opts(FsyncPolicy::EverySec)).unwrap_or_else(|e| panic!("{what}: open after repair: {e}"));
        assert_exactly_records_before(&db, seq, &what);
        // The repaired log takes new records.
        db.set(b"k1", b"new").unwrap();
        close(db, &dir);
    }
    let db = open(&dir, opts(FsyncPolicy::EverySec)).unwrap();
    assert_eq!(db.get(b"k1").unwrap().as_deref(), Some(&b"new"[..]), "{what}");
    close(db, &dir);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn flipped_byte_inside_the_log_refuses_to_open_and_repair_truncates_there() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("base");
    let layout = two_segment_db(&base);
    {
        let db = open(&base, opts(FsyncPolicy::EverySec)).unwrap();
        assert_exactly_records_before(&db, 13, "undamaged two-segment layout");
        close(db, &base);
    }
    // Record seq 3 (middle of the first segment: repair also drops the second one) and record
    // seq 9 (middle of the last segment): every byte but the length field, two bits each.
    // (A flipped seq field makes the error name the garbage seq: see
    // `corrupted_seq_field_error_names_the_expected_seq`.)
    for rec in [(0, 2), (1, 2)] {
        let len = layout[rec.0].1[rec.1].1;
        for at in 4..len {
            for mask in [0x01, 0x80] {
                corrupt_record_and_repair(tmp.path(), &base, &layout, rec, at, mask, !(8..16).contains(&at));
            }
        }
    }
    // The length field of a record of the first segment: a frame running past the end of a
    // segment that is not the last is no torn write either.
    for at in 0..4 {
        for mask in [0x01, 0x80] {
            corrupt_record_and_repair(tmp.path(), &base, &layout, (0, 2), at, mask, true);
        }
    }
}

#[test]
fn flipped_length_field_in_the_last_segment_refuses_to_open() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("base");
    let layout = two_segment_db(&base);
    for at in 0..4 {
        for mask in [0x01, 0x80] {
            corrupt_record_and_repair(tmp.path(), &base, &layout, (1, 2), at, mask, true);
        }
    }
}

#[test]
fn corrupted_seq_field_error_names_the_expected_seq() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("base");
    let layout = two_segment_db(&base);
    for at in 8..16 {
        corrupt_record_and_repair(tmp.path(), &base, &layout, (0, 2), at, 0x01, true);
    }
}

// ---------------------------------------------------------------------------------------------
// 3. Damaged snapshot

#[test]
fn flipped_byte_in_a_snapshot_refuses_to_open_naming_it() {
    count_panics();
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("base");
    let keys = 3000;
    {
        let db = open(&base, opts(FsyncPolicy::EverySec)).unwrap();
        for i in 0..keys {
            db.set(format!("key:{i:05}").as_bytes(), format!("value-{i}-{}", "x".repeat(40)).as_bytes()).unwrap();
        }
        db.snapshot().unwrap();
        db.set(b"after", b"snapshot").unwrap();
        close(db, &base);
    }
    let snaps = files_of(&base, "snap-", ".snap");
    assert_eq!(snaps.len(), 1, "{snaps:?}");
    let snap = &snaps[0];
    let data = fs::read(base.join(snap)).unwrap();

    // Walk the blocks: [raw_len][comp_len][entries][crc] + comp_len bytes.
    let mut blocks = Vec::new();
    let mut pos = SNAP_HEADER;
    while pos < data.len() - SNAP_FOOTER {
        let comp_len = u32::from_le_bytes(data[pos + 4..pos + 8].try_into().unwrap()) as usize;
        blocks.push((pos, comp_len));
        pos += SNAP_BLOCK_HEADER + comp_len;
    }
    assert_eq!(pos, data.len() - SNAP_FOOTER);
    assert!(blocks.len() >= 2, "want several blocks, got {}", blocks.len());

    let mut positions: Vec<(usize, &str)> = (0..SNAP_HEADER).map(|p| (p, "header")).collect();
    for &(start, comp_len) in &blocks {
        positions.extend((start..start + SNAP_BLOCK_HEADER).map(|p| (p, "block header")));
        let body = start + SNAP_BLOCK_HEADER;
        positions.extend((0..8).map(|k| (body + k * comp_len / 8, "block data")));
        positions.push((body + comp_len - 1, "block data"));
    }
    positions.extend((data.len() - SNAP_FOOTER..data.len()).map(|p| (p, "footer")));

    let panics = PANICS.load(Ordering::SeqCst);
    let dir = tmp.path().join("damaged");
    copy_dir(&base, &dir);
    let path = dir.join(snap);
    for (at, part) in positions {
        let mask = if at % 2 == 0 { 0x01 } else { 0x40 };
        flip(&path, at, mask);
        let msg = open_err(&dir);
        assert!(msg.contains(snap.as_str()), "flip in the {part} at {at}: error does not name the snapshot: {msg}");
        flip(&path, at, mask);
    }
    assert_eq!(PANICS.load(Ordering::SeqCst), panics, "something panicked while loading a damaged snapshot");
    // The failed opens destroyed nothing: with the byte restored everything is there.
    let db = open(&dir, opts(FsyncPolicy::EverySec)).unwrap();
    let r = db.recovery_report().unwrap();
    assert_eq!((r.snapshot_keys, r.records_replayed), (keys, 1));
    assert_eq!(db.execute(&[b"DBSIZE"]), Reply::Int(keys as i64 + 1));
    assert_eq!(db.get(b"key:01234").unwrap(), Some(format!("value-1234-{}", "x".repeat(40)).into_bytes()));
}

// ---------------------------------------------------------------------------------------------
// 4. Missing or damaged MANIFEST

#[test]
fn missing_or_damaged_manifest_refuses_to_open_and_repair_rebuilds_it() {
    let tmp = tempfile::tempdir().unwrap();
    // One database with a snapshot and records after it, one with only a log.
    let with_snapshot = tmp.path().join("with-snapshot");
    let log_only = tmp.path().join("log-only");
    let mut expected = BTreeMap::new();
    for (path, snapshot) in [(&with_snapshot, true), (&log_only, false)] {
        let db = open(path, opts(FsyncPolicy::EverySec)).unwrap();
        for i in 0..50 {
            db.set(format!("k{i}").as_bytes(), b"before").unwrap();
        }
        if snapshot {
            db.snapshot().unwrap();
        }
        for i in 40..60 {
            db.set(format!("k{i}").as_bytes(), b"after").unwrap();
        }
        assert_eq!(db.execute(&[b"DEL", b"k0"]), Reply::Int(1));
        expected = dump(&db);
        close(db, path);
    }
    assert_eq!(files_of(&with_snapshot, "snap-", ".snap").len(), 1);
    assert_eq!(files_of(&log_only, "snap-", ".snap").len(), 0);

    type Damage = fn(&Path);
    let damages: [(&str, Damage); 5] = [
        ("missing", |m| fs::remove_file(m).unwrap()),
        ("torn", |m| {
            let len = fs::metadata(m).unwrap().len() as usize;
            truncate(m, len / 2);
        }),
        ("empty", |m| truncate(m, 0)),
        ("garbage bytes", |m| fs::write(m, [0xff, 0xfe, 0x00, 0x17, 0x80, 0x81]).unwrap()),
        ("garbage text", |m| fs::write(m, "nestdb-manifest 1\nsnapshot snap-00000000000000000007.snap\ncrc32 00000000\n").unwrap()),
    ];
    for (base, snapshot) in [(&with_snapshot, true), (&log_only, false)] {
        for (name, damage) in damages {
            let what = format!("{name} MANIFEST, snapshot: {snapshot}");
            let dir = tmp.path().join(format!("{name}-{snapshot}"));
            copy_dir(base, &dir);
            damage(&dir.join("MANIFEST"));
            let files = files_of(&dir, "", "");
            let msg = open_err(&dir);
            assert!(msg.contains("MANIFEST") && (msg.contains("missing") || msg.contains("damaged")), "{what}: {msg}");
            // Nothing was touched by the failed open.
            assert_eq!(files_of(&dir, "", ""), files, "{what}");

            let report = repair(&dir).unwrap_or_else(|e| panic!("{what}: repair: {e}"));
            assert!(report.manifest_rebuilt, "{what}: {report:?}");
            assert_eq!((report.truncated_file.as_ref(), report.bytes_dropped, report.segments_removed), (None, 0, 0), "{what}");
            let db = open(&dir, opts(FsyncPolicy::EverySec)).unwrap_or_else(|e| panic!("{what}: open after repair: {e}"));
            let r = db.recovery_report().unwrap();
            if snapshot {
                assert_eq!((r.snapshot_keys, r.records_replayed), (50, 21), "{what}");
            } else {
                assert_eq!((r.snapshot_keys, r.records_replayed), (0, 71), "{what}");
            }
            assert_eq!(dump(&db), expected, "{what}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 5. Crash between a snapshot's rename and the MANIFEST update

#[test]
fn crash_between_snapshot_rename_and_manifest_update_loses_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    let crashed = tmp.path().join("crashed");
    let db = open(&a, opts(FsyncPolicy::Always)).unwrap();
    for i in 0..200 {
        db.set(format!("k{i}").as_bytes(), b"first").unwrap();
    }
    db.snapshot().unwrap();
    let first_snapshot = files_of(&a, "snap-", ".snap");
    for i in 150..300 {
        db.set(format!("k{i}").as_bytes(), b"second").unwrap();
    }
    assert_eq!(db.execute(&[b"DEL", b"k1"]), Reply::Int(1));
    assert_eq!(db.execute(&[b"INCRBY", b"counter", b"7"]), Reply::Int(7));
    let expected = dump(&db);
    // Every record is on disk (appendfsync always): this copy is the directory just before
    // the snapshot starts.
    db.sync().unwrap();
    copy_dir(&a, &crashed);
    let manifest_before = fs::read_to_string(crashed.join("MANIFEST")).unwrap();
    db.snapshot().unwrap();
    close(db, &a);
    // The crash: the new snapshot was renamed into place, MANIFEST still names the old one
    // and nothing was deleted yet.
    let new_snapshot: Vec<String> = files_of(&a, "snap-", ".snap").into_iter().filter(|s| !first_snapshot.contains(s)).collect();
    assert_eq!(new_snapshot.len(), 1, "{new_snapshot:?}");
    fs::copy(a.join(&new_snapshot[0]), crashed.join(&new_snapshot[0])).unwrap();
    assert!(manifest_before.contains(&first_snapshot[0]), "{manifest_before}");
    assert_eq!(files_of(&crashed, "snap-", ".snap").len(), 2);

    // Variant: the crash came before the rename (only the .tmp exists, maybe incomplete).
    let before_rename = tmp.path().join("before-rename");
    copy_dir(&crashed, &before_rename);
    let tmp_name = format!("{}.tmp", new_snapshot[0]);
    fs::rename(before_rename.join(&new_snapshot[0]), before_rename.join(&tmp_name)).unwrap();
    let len = fs::metadata(before_rename.join(&tmp_name)).unwrap().len() as usize;
    truncate(&before_rename.join(&tmp_name), len / 2);

    for dir in [&crashed, &before_rename] {
        {
            let db = open(dir, opts(FsyncPolicy::Always)).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
            let r = db.recovery_report().unwrap();
            assert_eq!((r.snapshot_keys, r.records_replayed, r.bytes_dropped), (200, 152, 0), "{}", dir.display());
            assert_eq!(dump(&db), expected, "{}", dir.display());
            assert!(files_of(dir, "", ".tmp").is_empty(), "a leftover .tmp survived the open");
            // The database carries on: more writes, a snapshot, a reopen.
            db.set(b"later", b"1").unwrap();
            assert_eq!(db.execute(&[b"SAVE"]), Reply::OK);
            db.set(b"latest", b"2").unwrap();
            close(db, dir);
        }
        let db = open(dir, opts(FsyncPolicy::Always)).unwrap();
        let mut want = expected.clone();
        want.insert(b"later".to_vec(), b"1".to_vec());
        want.insert(b"latest".to_vec(), b"2".to_vec());
        assert_eq!(dump(&db), want, "{}", dir.display());
        assert_eq!(files_of(dir, "snap-", ".snap").len(), 1, "older snapshots are deleted once a newer one is current");
    }
}

// ---------------------------------------------------------------------------------------------
// 6. Disk errors (ENOSPC, EIO)

fn os_error(kind: FaultKind) -> &'static str {
    match kind {
        FaultKind::NoSpace => "(os error 28)",
        FaultKind::Io => "(os error 5)",
        FaultKind::Slow(_) => unreachable!("a slow operation does not fail"),
    }
}

/// What happened to each write of a fault scenario.
#[derive(Default)]
struct Model {
    /// Answered OK: must survive close + reopen.
    acked: BTreeMap<Vec<u8>, Vec<u8>>,
    /// Answered MISCONF and not applied: must never appear.
    refused: Vec<Vec<u8>>,
    /// Answered MISCONF but applied in memory (`appendfsync always`: the write that hit the
    /// fault); on disk after recovery iff in memory at close.
    in_doubt: Vec<Vec<u8>>,
}

impl Model {
    /// SET a new key and classify the outcome.
    fn set(&mut self, db: &Db, key: &str, value: &[u8], kind: FaultKind) -> Reply {
        let r = db.execute(&[b"SET", key.as_bytes(), value]);
        if r == Reply::OK {
            self.acked.insert(key.as_bytes().to_vec(), value.to_vec());
            return r;
        }
        let e = r.error_text().unwrap_or_else(|| panic!("SET {key}: {r:?}"));
        assert!(e.starts_with("MISCONF Errors writing to the AOF file: "), "SET {key}: {e}");
        assert!(e.contains(os_error(kind)), "SET {key}: {e}");
        match db.get(key.as_bytes()).unwrap() {
            None => self.refused.push(key.as_bytes().to_vec()),
            Some(v) if v == value => self.in_doubt.push(key.as_bytes().to_vec()),
            Some(v) => panic!("SET {key}: unexpected value {v:?}"),
        }
        r
    }
}

/// A disk error on the log (append, fsync or segment creation) under `policy`: while it lasts
/// writes are refused with MISCONF and change nothing, reads work, INFO says so; once the fault
/// is cleared writes work again, and after close + reopen the disk holds exactly what memory
/// held at close: every acknowledged write, no refused one.
fn log_fault(policy: FsyncPolicy, op: Op, kind: FaultKind) {
    let what = format!("{policy:?} {op:?} {kind:?}");
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("db");
    let db = open(&path, opts(policy)).unwrap();
    let mut m = Model::default();
    assert_eq!(m.set(&db, "base", b"1", kind), Reply::OK);
    assert_eq!(db.execute(&[b"SET", b"counter", b"10"]), Reply::OK);
    db.sync().unwrap();
    testing::inject(&path, op, 0, u64::MAX, kind);
    if op == Op::Create {
        // A rewrite: the snapshot itself creates no segment, the first record after it does.
        db.snapshot().unwrap();
    }

    // Write until the failure surfaces. Under `always` the very first write meets it; under
    // `everysec` writes are acknowledged until the flusher (or the once-a-second fsync) fails.
    let start = Instant::now();
    let mut i = 0;
    while info(&db, "aof_last_write_status") != "err" {
        assert!(start.elapsed() < Duration::from_secs(5), "{what}: the fault never surfaced");
        i += 1;
        m.set(&db, &format!("before:{i}"), b"v", kind);
        if policy != FsyncPolicy::Always {
            sleep(Duration::from_millis(5));
        }
    }
    if policy == FsyncPolicy::Always {
        // Observed: the write that meets the fault under `always` was applied in memory before
        // its record failed to reach the disk; it answers MISCONF and its record stays queued
        // (retried, written once the disk works again).
        assert_eq!(m.in_doubt.first(), Some(&b"before:1".to_vec()), "{what}");
        assert_eq!(m.acked.len(), 1, "{what}: under always no write is acknowledged while the disk fails");
    } else {
        assert!(m.in_doubt.is_empty(), "{what}: under everysec a refused write must not be applied");
    }

    // The failed state: every write is refused before it runs. (A failed fsync is healed by a
    // snapshot, which succeeds on its own while fsync keeps failing, and the next write fails
    // again: only checks during which no snapshot completed and the status stayed `err` count.)
    let mut strict = 0;
    let start = Instant::now();
    while strict < 3 {
        assert!(start.elapsed() < Duration::from_secs(5), "{what}: never saw a stable failed state");
        i += 1;
        let saves = info(&db, "rdb_saves");
        if info(&db, "aof_last_write_status") != "err" {
            m.set(&db, &format!("poke:{i}"), b"v", kind);
            sleep(Duration::from_millis(5));
            continue;
        }
        let key = format!("refused:{i}");
        let before = dump(&db);
        let set = m.set(&db, &key, b"v", kind);
        let incr = db.execute(&[b"INCR", b"counter"]);
        let ran = Cell::new(false);
        let tx = db.transaction(|tx| {
            ran.set(true);
            tx.execute(&[b"SET", b"tx", b"1"])
        });
        let mut session = db.session();
        session.execute(&[b"MULTI"]);
        session.execute(&[b"SET", b"multi", b"1"]);
        let exec = session.execute(&[b"EXEC"]);
        if info(&db, "rdb_saves") != saves || info(&db, "aof_last_write_status") != "err" {
            // A healing snapshot ran meanwhile: these outcomes are in the model / the dump.
            continue;
        }
        assert!(set.error_text().is_some_and(|e| e.starts_with("MISCONF")), "{what}: {set:?}");
        assert_eq!(m.refused.last(), Some(&key.as_bytes().to_vec()), "{what}: a refused SET changed the key");
        assert!(incr.error_text().is_some_and(|e| e.starts_with("MISCONF")), "{what}: {incr:?}");
        match tx {
            Err(Error::Command(e)) => assert!(e.starts_with("MISCONF"), "{what}: {e}"),
            other => panic!("{what}: transaction while failed: {other:?}"),
        }
        assert!(!ran.get(), "{what}: a refused transaction ran");
        assert!(exec.is_error(), "{what}: EXEC while failed: {exec:?}");
        assert_eq!(dump(&db), before, "{what}: refused writes changed the database");
        // Reads keep working.
        assert_eq!(db.get(b"base").unwrap().as_deref(), Some(&b"1"[..]), "{what}");
        assert!(db.execute(&[b"DBSIZE"]).as_int().is_some(), "{what}");
        assert!(info(&db, "aof_last_write_status") == "err", "{what}");
        strict += 1;
    }

    testing::clear(&path);
    let cleared = Instant::now();
    assert!(
        wait_until(Duration::from_secs(3), || info(&db, "aof_last_write_status") == "ok"),
        "{what}: still failing 3 s after the fault was cleared"
    );
    let recovered = cleared.elapsed();
    assert!(recovered < Duration::from_millis(2500), "{what}: recovery took {recovered:?}");
    for j in 0..3 {
        assert_eq!(m.set(&db, &format!("after:{j}"), b"v", kind), Reply::OK, "{what}");
    }
    let counter = db.get(b"counter").unwrap().expect("counter");
    let counter: i64 = std::str::from_utf8(&counter).unwrap().parse().unwrap();
    assert_eq!(db.execute(&[b"INCR", b"counter"]), Reply::Int(counter + 1), "{what}");
    let at_close = dump(&db);
    close(db, &path);

    let db = open(&path, opts(policy)).unwrap_or_else(|e| panic!("{what}: reopen: {e}"));
    assert_eq!(dump(&db), at_close, "{what}: disk state differs from memory at close");
    for (k, v) in &m.acked {
        assert_eq!(db.get(k).unwrap().as_ref(), Some(v), "{what}: acknowledged {k:?} lost");
    }
    for k in &m.refused {
        assert_eq!(db.get(k).unwrap(), None, "{what}: refused {k:?} is there");
    }
    for k in &m.in_doubt {
        assert!(at_close.contains_key(k), "{what}: {k:?} was applied in memory");
    }
}

#[test]
fn enospc_and_eio_on_append_always() {
    log_fault(FsyncPolicy::Always, Op::Write, FaultKind::NoSpace);
    log_fault(FsyncPolicy::Always, Op::Write, FaultKind::Io);
}

#[test]
fn enospc_and_eio_on_append_everysec() {
    log_fault(FsyncPolicy::EverySec, Op::Write, FaultKind::NoSpace);
    log_fault(FsyncPolicy::EverySec, Op::Write, FaultKind::Io);
}

#[test]
fn enospc_and_eio_on_fsync_always() {
    log_fault(FsyncPolicy::Always, Op::Fsync, FaultKind::NoSpace);
    log_fault(FsyncPolicy::Always, Op::Fsync, FaultKind::Io);
}

#[test]
fn enospc_and_eio_on_fsync_everysec() {
    // The two kinds in parallel: each waits for the once-a-second fsync.
    std::thread::scope(|s| {
        s.spawn(|| log_fault(FsyncPolicy::EverySec, Op::Fsync, FaultKind::NoSpace));
        s.spawn(|| log_fault(FsyncPolicy::EverySec, Op::Fsync, FaultKind::Io));
    });
}

#[test]
fn enospc_and_eio_creating_a_segment_at_rewrite() {
    for policy in [FsyncPolicy::Always, FsyncPolicy::EverySec] {
        log_fault(policy, Op::Create, FaultKind::NoSpace);
        log_fault(policy, Op::Create, FaultKind::Io);
    }
}

#[test]
fn closing_while_the_log_fails_keeps_every_acknowledged_write() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("db");
    let kind = FaultKind::NoSpace;
    let mut m = Model::default();
    {
        let db = open(&path, opts(FsyncPolicy::Always)).unwrap();
        for i in 0..10 {
            assert_eq!(m.set(&db, &format!("k{i}"), b"v", kind), Reply::OK);
        }
        testing::inject(&path, Op::Write, 0, u64::MAX, kind);
        for i in 10..20 {
            m.set(&db, &format!("k{i}"), b"v", kind);
        }
        assert_eq!((m.acked.len(), m.in_doubt.len(), m.refused.len()), (10, 1, 9));
        // Closed with the disk still failing: the queued record of the in-doubt write is lost.
        close(db, &path);
    }
    testing::clear(&path);
    let db = open(&path, opts(FsyncPolicy::Always)).unwrap();
    // Under `always` an acknowledged write is on disk; the in-doubt one never reached it.
    assert_eq!(dump(&db), m.acked);
}

fn snapshot_fault(kind: FaultKind) {
    let what = format!("{kind:?}");
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("db");
    let mut m = Model::default();
    let db = open(&path, opts(FsyncPolicy::EverySec)).unwrap();
    for i in 0..200 {
        m.set(&db, &format!("k{i}"), b"v", kind);
    }

    // Failing on the first block.
    testing::inject(&path, Op::SnapshotWrite, 0, u64::MAX, kind);
    let r = db.execute(&[b"SAVE"]);
    let e = r.error_text().unwrap_or_else(|| panic!("{what}: SAVE with a failing disk: {r:?}"));
    assert!(e.starts_with("ERR ") && e.contains(os_error(kind)), "{what}: {e}");
    assert!(db.snapshot().is_err(), "{what}");
    assert_eq!(info(&db, "rdb_last_bgsave_status"), "err", "{what}");
    assert_eq!(info(&db, "rdb_saves"), "0", "{what}");
    assert_eq!(info(&db, "aof_last_write_status"), "ok", "{what}: the log is not affected");
    // The database keeps working (its log is fine); the failed snapshots rotated the log, so
    // these records go to a new segment after a MANIFEST that still names no snapshot.
    for i in 200..220 {
        assert_eq!(m.set(&db, &format!("k{i}"), b"v", kind), Reply::OK, "{what}");
    }
    assert_eq!(db.get(b"k5").unwrap().as_deref(), Some(&b"v"[..]));
    close(db, &path);
    // Closed after failed snapshots only: every record is replayed from the segments.
    let db = open(&path, opts(FsyncPolicy::EverySec)).unwrap();
    assert_eq!(dump(&db), m.acked, "{what}");
    assert_eq!(db.recovery_report().unwrap().records_replayed, 220, "{what}");

    testing::clear(&path);
    assert_eq!(db.execute(&[b"SAVE"]), Reply::OK, "{what}");
    assert_eq!(info(&db, "rdb_last_bgsave_status"), "ok", "{what}");
    assert_eq!(info(&db, "rdb_saves"), "1", "{what}");
    m.set(&db, "after-save", b"v", kind);

    // Failing on the footer (one block here: the block passes, the footer write fails).
    testing::inject(&path, Op::SnapshotWrite, 1, 1, kind);
    assert!(db.execute(&[b"SAVE"]).is_error(), "{what}");
    assert_eq!(info(&db, "rdb_last_bgsave_status"), "err", "{what}");
    m.set(&db, "after-failed-save", b"v", kind);
    // The fault is spent: BGSAVE succeeds.
    assert_eq!(db.execute(&[b"BGSAVE"]), Reply::Status("Background saving started".into()));
    assert!(wait_until(Duration::from_secs(3), || info(&db, "rdb_saves") == "2"), "{what}: BGSAVE did not complete");
    assert_eq!(info(&db, "rdb_last_bgsave_status"), "ok", "{what}");
    m.set(&db, "last", b"v", kind);
    close(db, &path);

    let db = open(&path, opts(FsyncPolicy::EverySec)).unwrap();
    assert_eq!(dump(&db), m.acked, "{what}");
    let r = db.recovery_report().unwrap();
    assert_eq!((r.snapshot_keys, r.records_replayed), (222, 1), "{what}");
    assert!(files_of(&path, "", ".tmp").is_empty(), "{what}: a .tmp survived the reopen");
    assert_eq!(files_of(&path, "snap-", ".snap").len(), 1, "{what}");
}

#[test]
fn enospc_and_eio_writing_a_snapshot() {
    snapshot_fault(FaultKind::NoSpace);
    snapshot_fault(FaultKind::Io);
}

#[test]
fn failed_snapshot_leaves_no_tmp_file() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("db");
    let db = open(&path, opts(FsyncPolicy::EverySec)).unwrap();
    db.set(b"k", b"v").unwrap();
    // A small database is one block, written by `finish`: fail it, then (skip 1) the footer.
    for skip in [0, 1] {
        testing::inject(&path, Op::SnapshotWrite, skip, 1, FaultKind::NoSpace);
        assert!(db.execute(&[b"SAVE"]).is_error());
        assert_eq!(files_of(&path, "", ".tmp"), Vec::<String>::new(), "failure after {skip} snapshot writes");
    }
}

#[test]
fn dropping_the_last_handle_closes_before_drop_returns() {
    // The background thread holds a reference to every open database during each round. A
    // round is slow while a failed log's thread spins on the state lock (see
    // `a_failed_log_does_not_spin`), which makes the race frequent; it exists without that too
    // (1 late close in 50 here with the spin fixed).
    let mut late = 0;
    for i in 0..50 {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("db");
        let db = open(&path, opts(FsyncPolicy::Always)).unwrap();
        db.set(b"k", b"v").unwrap();
        testing::inject(&path, Op::Write, 0, u64::MAX, FaultKind::NoSpace);
        assert!(db.set(b"k", i.to_string().as_bytes()).is_err());
        drop(db);
        if is_locked(&path) {
            late += 1;
            assert!(wait_until(Duration::from_secs(5), || !is_locked(&path)));
        }
        testing::clear(&path);
    }
    assert_eq!(late, 0, "of 50 drops, {late} returned before the database was closed");
}

// ---------------------------------------------------------------------------------------------
// 7. The directory lock across processes

const CHILD_ENV: &str = "NESTDB_FAULTS_CHILD";

/// Child-process entry point of `lock_is_per_process_and_a_dead_holder_is_taken_over`: opens
/// the database named by the environment, writes `child:<pid>`, says so on stdout and holds
/// the database open until its stdin closes.
#[test]
#[ignore = "child process entry point of lock_is_per_process_and_a_dead_holder_is_taken_over"]
fn lock_holder_child() {
    let Some(path) = std::env::var_os(CHILD_ENV) else { return };
    let db = Db::open(&path, opts(FsyncPolicy::Always)).expect("child: open");
    let pid = std::process::id();
    db.set(format!("child:{pid}").as_bytes(), b"was here").expect("child: write");
    let mut out = std::io::stdout();
    writeln!(out, "\nchild-ready {pid}").unwrap();
    out.flush().unwrap();
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    drop(db);
}

/// Run this test binary's (ignored) test `entry` in a child process with `CHILD_ENV=value`.
fn spawn_child(entry: &str, value: &Path) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([entry, "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, value)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

/// Start a child process holding `path` open; returns once it holds the lock.
fn spawn_holder(path: &Path) -> (Child, BufReader<ChildStdout>) {
    let mut child = spawn_child("lock_holder_child", path);
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let ready = format!("child-ready {}", child.id());
    let mut line = String::new();
    while !line.contains(&ready) {
        line.clear();
        if out.read_line(&mut line).unwrap() == 0 {
            break;
        }
    }
    assert!(line.contains(&ready), "the child exited before holding the database");
    (child, out)
}

fn lock_holder(path: &Path) -> String {
    fs::read_to_string(path.join("LOCK")).unwrap().trim().to_string()
}

#[test]
fn lock_is_per_process_and_a_dead_holder_is_taken_over() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("db");
    let me = std::process::id().to_string();
    let db = open(&path, opts(FsyncPolicy::Always)).unwrap();
    db.set(b"parent", b"1").unwrap();
    close(db, &path);

    // A live holder in another process: refused, naming its pid.
    let (mut child, _out) = spawn_holder(&path);
    let pid = child.id();
    let msg = open_err(&path);
    assert!(msg.contains(&format!("locked by process {pid}")), "{msg}");
    assert_eq!(lock_holder(&path), pid.to_string());
    let err = nestdb::repair(&path).expect_err("repair of a database open in another process");
    assert!(err.to_string().contains(&format!("process {pid}")), "{err}");
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());
    {
        let db = open(&path, opts(FsyncPolicy::Always)).unwrap();
        assert_eq!(lock_holder(&path), me);
        assert_eq!(db.get(format!("child:{pid}").as_bytes()).unwrap().as_deref(), Some(&b"was here"[..]));
        assert_eq!(db.get(b"parent").unwrap().as_deref(), Some(&b"1"[..]));
        close(db, &path);
    }

    // The holder crashes (SIGKILL): its LOCK still names it, but the lock died with it.
    let (mut child, _out) = spawn_holder(&path);
    let pid = child.id();
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(lock_holder(&path), pid.to_string(), "the stale LOCK names the dead process");
    {
        let db = open(&path, opts(FsyncPolicy::Always)).unwrap_or_else(|e| panic!("stale LOCK of dead pid {pid}: {e}"));
        assert_eq!(lock_holder(&path), me, "the LOCK is taken over");
        // Its acknowledged write (appendfsync always) survived the crash.
        assert_eq!(db.get(format!("child:{pid}").as_bytes()).unwrap().as_deref(), Some(&b"was here"[..]));
        close(db, &path);
    }

    // A LOCK file written by hand with a pid that no longer exists.
    fs::write(path.join("LOCK"), format!("{pid}\n")).unwrap();
    let db = open(&path, opts(FsyncPolicy::Always)).unwrap();
    assert_eq!(lock_holder(&path), me);
    assert_eq!(db.get(b"parent").unwrap().as_deref(), Some(&b"1"[..]));
}

#[test]
fn open_retries_while_this_process_holds_the_lock() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("db");
    let db = open(&path, opts(FsyncPolicy::EverySec)).unwrap();
    db.set(b"k", b"v").unwrap();
    close(db, &path);
    // This process holds the LOCK (named with its pid) for 100 ms, as a closing handle does.
    let lock = fs::File::open(path.join("LOCK")).unwrap();
    lock.lock().unwrap();
    let release = std::thread::spawn(move || {
        sleep(Duration::from_millis(100));
        drop(lock);
    });
    let db = Db::open(&path, opts(FsyncPolicy::EverySec));
    release.join().unwrap();
    assert_eq!(db.expect("Db::open waits for a lock held by its own process").get(b"k").unwrap().as_deref(), Some(&b"v"[..]));
}

// ---------------------------------------------------------------------------------------------
// CPU use while the log is failed

/// User + system CPU time of this process so far (Linux: /proc/self/stat, in 1/100 s).
#[cfg(target_os = "linux")]
fn process_cpu() -> Duration {
    let stat = fs::read_to_string("/proc/self/stat").unwrap();
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    // After "pid (comm) ": state is field 0, utime field 11, stime field 12.
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10)
}

/// Child-process entry point of `a_failed_log_does_not_spin`: prints the CPU time the process
/// uses during half a second idle with a database (in the directory named by the environment)
/// whose log is healthy, then during half a second with its log failed.
#[cfg(target_os = "linux")]
#[test]
#[ignore = "child process entry point of a_failed_log_does_not_spin"]
fn failed_log_cpu_child() {
    let Some(dir) = std::env::var_os(CHILD_ENV) else { return };
    let path = Path::new(&dir).join("db");
    let db = open(&path, opts(FsyncPolicy::Always)).unwrap();
    db.set(b"k", b"v").unwrap();
    let before = process_cpu();
    sleep(Duration::from_millis(500));
    let healthy = process_cpu() - before;
    testing::inject(&path, Op::Write, 0, u64::MAX, FaultKind::NoSpace);
    assert!(db.set(b"k", b"w").is_err());
    assert_eq!(info(&db, "aof_last_write_status"), "err");
    let before = process_cpu();
    sleep(Duration::from_millis(500));
    let failed = process_cpu() - before;
    println!("\ncpu-ms {} {}", healthy.as_millis(), failed.as_millis());
    testing::clear(&path);
}

#[cfg(target_os = "linux")]
#[test]
fn a_failed_log_does_not_spin() {
    let tmp = tempfile::tempdir().unwrap();
    let child = spawn_child("failed_log_cpu_child", tmp.path());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "child failed: {:?}", out.status);
    let text = String::from_utf8_lossy(&out.stdout);
    let ms: Vec<u64> = text
        .lines()
        .find_map(|l| l.strip_prefix("cpu-ms "))
        .unwrap_or_else(|| panic!("no measurement from the child: {text}"))
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect();
    let (healthy, failed) = (ms[0], ms[1]);
    // An idle database with a failed log retries ten times a second: about what an idle
    // healthy one costs (the log thread wakes every millisecond), not a core.
    assert!(failed <= 50 + 5 * healthy, "CPU in 0.5 s idle: {healthy} ms with a healthy log, {failed} ms with a failed one");
}

/// `everysec` on a slow disk: while fsyncs take 1.5 s each, writers keep going at memory speed
/// (the fsync runs off the thread that writes the log, and a writer waits for nothing but its
/// own append), and what they wrote is all there after a reopen.
#[test]
fn a_slow_fsync_does_not_block_everysec_writers() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("db");
    let db = open(&path, opts(FsyncPolicy::EverySec)).unwrap();
    testing::inject(&path, Op::Fsync, 0, u64::MAX, FaultKind::Slow(1500));
    let value = [b'v'; 100];
    let start = Instant::now();
    let (mut n, mut worst) = (0u64, Duration::ZERO);
    // 3.5 s: at least two slow fsyncs start and the log keeps being written meanwhile (at
    // ~1 M SET/s a thread's 16 MiB lane fills in well under a second).
    while start.elapsed() < Duration::from_millis(3500) {
        let t = Instant::now();
        db.set(format!("k:{n}").as_bytes(), &value).unwrap();
        worst = worst.max(t.elapsed());
        n += 1;
    }
    assert!(
        worst < Duration::from_millis(400),
        "a writer waited {worst:?} for the slow disk ({n} SETs); everysec must only cost it its own append"
    );
    testing::clear(&path);
    close(db, &path);
    let db = open(&path, opts(FsyncPolicy::EverySec)).unwrap();
    assert_eq!(db.execute(&[b"DBSIZE"]).as_int(), Some(n as i64));
    close(db, &path);
}
