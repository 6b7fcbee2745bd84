//! Storage: the files of a database directory. Knows bytes and sequence numbers, never value
//! types (the keyspace encodes entries and commands; this layer frames, checksums, compresses,
//! orders and recovers them).
//!
//! ```text
//! app.nest/               (created 0700)
//!   LOCK                  flock held by the one process that has the database open; holds its pid
//!   MANIFEST              which snapshot is current (text, CRC-checked, replaced by rename)
//!   snap-<seq>.snap       image of the keyspace after record <seq> (see snapshot.rs)
//!   log-<first>.log       records <first>, <first>+1, ... (see log.rs)
//! ```
//! Invariants: the current snapshot plus every record in the segments named after its seq,
//! in order, with no gap in sequence numbers, is the database. A new segment starts exactly
//! at a snapshot's cut (`Log::rotate`), so segments named at or below the current snapshot's
//! seq are obsolete and are deleted only after the MANIFEST naming that snapshot is durable.

pub(crate) mod fault;
pub mod log;
pub(crate) mod snapshot;

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::mem::ManuallyDrop;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};

pub use log::FsyncPolicy;
pub(crate) use log::Log;
use log::{parse_segment, Damage, Record};
use snapshot::SnapshotFile;

pub(crate) fn segment_name(first_seq: u64) -> String {
    format!("log-{first_seq:020}.log")
}

pub(crate) fn snapshot_name(seq: u64) -> String {
    format!("snap-{seq:020}.snap")
}

fn parse_name(name: &str, prefix: &str, suffix: &str) -> Option<u64> {
    let digits = name.strip_prefix(prefix)?.strip_suffix(suffix)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Files the database creates are readable by their owner only (like the directory).
pub(crate) fn owner_only(opts: &mut OpenOptions) -> &mut OpenOptions {
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(opts, 0o600);
    opts
}

/// fsync a directory so that renames and new files in it are durable.
pub(crate) fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Incremented in the child after every fork().
static FORK_GENERATION: AtomicU64 = AtomicU64::new(0);
/// The file descriptors of the LOCK files this process holds (-1 = free slot).
static LOCK_FDS: [AtomicI32; 64] = [const { AtomicI32::new(-1) }; 64];

/// In a forked child: note the fork, and close the child's copies of the LOCK descriptors. A
/// flock belongs to the open file description shared by parent and child, so a child that
/// kept its copy would keep the parent's lock held after the parent closed the database.
/// (Only async-signal-safe operations: atomics and close.)
extern "C" fn after_fork_in_child() {
    FORK_GENERATION.fetch_add(1, Ordering::Relaxed);
    for slot in &LOCK_FDS {
        let fd = slot.swap(-1, Ordering::Relaxed);
        if fd >= 0 {
            // SAFETY: `fd` is this process's copy of a LOCK descriptor; its `File` is never
            // closed again here (DirLock::drop sees the new fork generation and forgets it).
            unsafe { libc::close(fd) };
        }
    }
}

/// How many forks this process is removed from the process that started it (0 = none).
pub(crate) fn fork_generation() -> u64 {
    FORK_GENERATION.load(Ordering::Relaxed)
}

fn install_fork_handler() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: registers a child handler that only touches atomics and closes descriptors.
        unsafe {
            libc::pthread_atfork(None, None, Some(after_fork_in_child));
        }
    });
}

/// The exclusive lock on a database directory, released when dropped (or when the process dies).
pub(crate) struct DirLock {
    file: ManuallyDrop<File>,
    slot: Option<usize>,
    generation: u64,
}

impl Drop for DirLock {
    fn drop(&mut self) {
        if fork_generation() != self.generation {
            // A forked child: its descriptor copy was closed at fork time.
            return;
        }
        if let Some(slot) = self.slot {
            LOCK_FDS[slot].store(-1, Ordering::Relaxed);
        }
        // SAFETY: dropped exactly once, here.
        unsafe { ManuallyDrop::drop(&mut self.file) };
    }
}

/// Create the directory (owner-only) if needed and take its LOCK.
pub(crate) fn lock_dir(dir: &Path) -> Result<DirLock, String> {
    install_fork_handler();
    if !dir.exists() {
        let mut b = fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
        b.create(dir).map_err(|e| format!("{}: cannot create database directory: {e}", dir.display()))?;
    } else if !dir.is_dir() {
        return Err(format!("{}: exists and is not a database directory", dir.display()));
    }
    let path = dir.join("LOCK");
    let mut file = owner_only(OpenOptions::new().read(true).write(true).create(true).truncate(false))
        .open(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            let who = if holder.is_empty() { "another process".to_string() } else { format!("process {holder}") };
            return Err(format!("{}: database is locked by {who} (one writer process at a time)", dir.display()));
        }
        Err(fs::TryLockError::Error(e)) => return Err(format!("{}: cannot lock: {e}", path.display())),
    }
    // The lock is ours: whatever pid the file held was a dead process (flock dies with it).
    file.set_len(0)
        .and_then(|()| file.write_all(std::process::id().to_string().as_bytes()))
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let fd = file.as_raw_fd();
    let slot = LOCK_FDS.iter().position(|s| s.compare_exchange(-1, fd, Ordering::AcqRel, Ordering::Relaxed).is_ok());
    Ok(DirLock { file: ManuallyDrop::new(file), slot, generation: fork_generation() })
}

/// MANIFEST contents: the current snapshot (`None` before the first one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Manifest {
    pub(crate) snapshot: Option<u64>,
}

impl Manifest {
    fn encode(&self) -> String {
        let body = match self.snapshot {
            Some(seq) => format!("nestdb-manifest 1\nsnapshot {}\n", snapshot_name(seq)),
            None => "nestdb-manifest 1\nsnapshot none\n".to_string(),
        };
        format!("{body}crc32 {:08x}\n", crc32fast::hash(body.as_bytes()))
    }

    fn decode(text: &str) -> Option<Manifest> {
        let (body, crc_line) = text.rsplit_once("crc32 ")?;
        let crc = u32::from_str_radix(crc_line.trim_end_matches('\n'), 16).ok()?;
        if crc32fast::hash(body.as_bytes()) != crc {
            return None;
        }
        let mut lines = body.lines();
        if lines.next()? != "nestdb-manifest 1" {
            return None;
        }
        let snap = lines.next()?.strip_prefix("snapshot ")?;
        let snapshot = if snap == "none" { None } else { Some(parse_name(snap, "snap-", ".snap")?) };
        Some(Manifest { snapshot })
    }
}

/// Read MANIFEST: Ok(None) if it does not exist.
pub(crate) fn read_manifest(dir: &Path) -> Result<Option<Manifest>, String> {
    let path = dir.join("MANIFEST");
    match fs::read(&path) {
        Ok(bytes) => {
            let text = String::from_utf8(bytes).map_err(|_| format!("{}: damaged (not text); run repair", path.display()))?;
            Manifest::decode(&text).map(Some).ok_or_else(|| format!("{}: damaged (bad format or CRC); run repair", path.display()))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// Replace MANIFEST atomically and durably.
pub(crate) fn write_manifest(dir: &Path, m: &Manifest) -> io::Result<()> {
    let tmp = dir.join("MANIFEST.tmp");
    {
        let mut f = owner_only(OpenOptions::new().create(true).write(true).truncate(true)).open(&tmp)?;
        f.write_all(m.encode().as_bytes())?;
        f.sync_all()?;
    }
    fs::rename(&tmp, dir.join("MANIFEST"))?;
    fsync_dir(dir)
}

/// Files of the directory, by kind.
#[derive(Default)]
struct Listing {
    segments: Vec<u64>,
    snapshots: Vec<u64>,
    temps: Vec<PathBuf>,
}

fn list(dir: &Path) -> Result<Listing, String> {
    let mut l = Listing::default();
    for ent in fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let ent = ent.map_err(|e| format!("{}: {e}", dir.display()))?;
        let name = ent.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(n) = parse_name(name, "log-", ".log") {
            l.segments.push(n);
        } else if let Some(n) = parse_name(name, "snap-", ".snap") {
            l.snapshots.push(n);
        } else if name.ends_with(".tmp") {
            l.temps.push(ent.path());
        }
    }
    l.segments.sort_unstable();
    l.snapshots.sort_unstable();
    Ok(l)
}

/// Sequence number of the last valid record of a segment (None if it holds none or cannot be
/// read).
fn last_seq_in(dir: &Path, segment: u64) -> Option<u64> {
    let data = fs::read(dir.join(segment_name(segment))).ok()?;
    parse_segment(&data).0.last().map(|r| r.seq)
}

/// What `open` found: the snapshot to load and the segments to replay after it.
pub(crate) struct Plan {
    pub(crate) snapshot: Option<SnapshotFile>,
    pub(crate) base_seq: u64,
    segments: Vec<u64>,
    obsolete: Vec<PathBuf>,
}

/// Read MANIFEST and decide what to load. A missing MANIFEST is a new database only when the
/// directory holds no data files.
pub(crate) fn plan(dir: &Path) -> Result<Plan, String> {
    let listing = list(dir)?;
    for t in &listing.temps {
        let _ = fs::remove_file(t);
    }
    let manifest = match read_manifest(dir)? {
        Some(m) => m,
        None if listing.segments.is_empty() && listing.snapshots.is_empty() => {
            let m = Manifest { snapshot: None };
            write_manifest(dir, &m).map_err(|e| format!("{}: cannot write MANIFEST: {e}", dir.display()))?;
            m
        }
        None => return Err(format!("{}: MANIFEST is missing but data files exist; run repair", dir.display())),
    };
    let base_seq = manifest.snapshot.unwrap_or(0);
    let snapshot = match manifest.snapshot {
        Some(seq) => {
            let f = SnapshotFile::open(&dir.join(snapshot_name(seq)))?;
            if f.seq != seq {
                return Err(format!("{}: holds seq {} but MANIFEST expects {seq}", f.path().display(), f.seq));
            }
            Some(f)
        }
        None => None,
    };
    // Segments named at or below the base hold only records the snapshot covers (a new segment
    // starts at every cut); check the newest of them rather than trust it blindly.
    if let Some(&older) = listing.segments.iter().rev().find(|&&s| s <= base_seq) {
        if last_seq_in(dir, older).is_some_and(|last| last > base_seq) {
            return Err(format!(
                "{}: holds records after seq {base_seq}, which MANIFEST says its snapshot covers; run repair",
                dir.join(segment_name(older)).display()
            ));
        }
    }
    let mut obsolete: Vec<PathBuf> = listing.segments.iter().filter(|&&s| s <= base_seq).map(|&s| dir.join(segment_name(s))).collect();
    // MANIFEST is the commit point: a snapshot it does not name (renamed into place by a
    // snapshot that crashed before the MANIFEST update) is not part of the database.
    obsolete.extend(listing.snapshots.iter().filter(|&&s| Some(s) != manifest.snapshot).map(|&s| dir.join(snapshot_name(s))));
    let segments = listing.segments.into_iter().filter(|&s| s > base_seq).collect();
    Ok(Plan { snapshot, base_seq, segments, obsolete })
}

/// What replaying the log found.
#[derive(Debug, Default)]
pub(crate) struct Replayed {
    pub(crate) records: u64,
    /// Bytes cut off a torn last record (0 if none).
    pub(crate) bytes_dropped: u64,
    /// Where the torn tail started (file, offset).
    pub(crate) torn_at: Option<(PathBuf, u64)>,
    /// The segment to keep appending to and its valid length.
    pub(crate) tail_segment: u64,
    pub(crate) tail_len: u64,
    pub(crate) next_seq: u64,
}

/// Replay every record after the plan's snapshot through `apply`, in order. A torn tail of
/// the last segment is reported (and will be cut off when the log reopens it); any other
/// damage or a gap in sequence numbers is an error naming the file, offset and sequence.
pub(crate) fn replay(dir: &Path, plan: &Plan, mut apply: impl FnMut(&Record<'_>) -> Result<(), String>) -> Result<Replayed, String> {
    let mut expected = plan.base_seq + 1;
    let mut out = Replayed { tail_segment: expected, tail_len: 0, ..Default::default() };
    for (i, &seg) in plan.segments.iter().enumerate() {
        let path = dir.join(segment_name(seg));
        let last = i + 1 == plan.segments.len();
        if seg != expected {
            return Err(format!(
                "{}: log segment starts at seq {seg} but seq {expected} is missing (a hole in the log); run repair",
                path.display()
            ));
        }
        let data = fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let (records, damage) = parse_segment(&data);
        let mut valid_len = 0u64;
        for r in &records {
            if r.seq != expected {
                return Err(format!(
                    "{}: record at offset {valid_len} has seq {} where {expected} was expected; run repair",
                    path.display(),
                    r.seq
                ));
            }
            apply(r).map_err(|e| format!("{}: record seq {} at offset {valid_len}: {e}", path.display(), r.seq))?;
            valid_len += (log::HEADER + r.payload.len()) as u64;
            expected += 1;
            out.records += 1;
        }
        match damage {
            None => {}
            Some(Damage::Torn { offset }) if last => {
                out.bytes_dropped = data.len() as u64 - offset;
                out.torn_at = Some((path.clone(), offset));
            }
            Some(Damage::Torn { offset }) => {
                return Err(format!(
                    "{}: incomplete record at offset {offset} (seq {expected}) before the last segment; run repair",
                    path.display()
                ))
            }
            Some(Damage::Corrupt { offset, seq }) => {
                // Name the seq the record must have: the frame's own seq field may be the damage.
                let read = seq.filter(|&s| s != expected).map_or(String::new(), |s| format!(", its seq field reads {s}"));
                return Err(format!(
                    "{}: CRC mismatch in record at offset {offset} (seq {expected}{read}); run repair to truncate the log there",
                    path.display()
                ));
            }
        }
        out.tail_segment = seg;
        out.tail_len = valid_len;
    }
    out.next_seq = expected;
    Ok(out)
}

/// Delete the files the plan found obsolete (after the database opened successfully).
pub(crate) fn remove_obsolete(plan: &Plan) {
    for p in &plan.obsolete {
        let _ = fs::remove_file(p);
    }
}

/// After a snapshot at `seq` is durable and named by MANIFEST: delete older snapshots and the
/// segments it covers.
pub(crate) fn remove_covered(dir: &Path, seq: u64) {
    let Ok(l) = list(dir) else { return };
    for s in l.segments.into_iter().filter(|&s| s <= seq) {
        let _ = fs::remove_file(dir.join(segment_name(s)));
    }
    for s in l.snapshots.into_iter().filter(|&s| s < seq) {
        let _ = fs::remove_file(dir.join(snapshot_name(s)));
    }
}

/// What `repair` did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RepairReport {
    /// The log file that was truncated, if any.
    pub truncated_file: Option<PathBuf>,
    /// Offset it was truncated at.
    pub truncated_at: u64,
    /// Bytes removed from the log (the truncated tail plus any later segments).
    pub bytes_dropped: u64,
    /// Later segments deleted because they followed the damage.
    pub segments_removed: usize,
    /// MANIFEST was missing or damaged and was rebuilt from the newest valid snapshot.
    pub manifest_rebuilt: bool,
}

/// Make a damaged database openable: rebuild a missing/damaged MANIFEST from the newest valid
/// snapshot, truncate the log at the first bad record (and drop the segments after it), as
/// `redis-check-aof --fix` does. Everything before the damage is kept.
pub(crate) fn repair(dir: &Path) -> Result<RepairReport, String> {
    if !dir.is_dir() {
        return Err(format!("{}: no database directory there", dir.display()));
    }
    let _lock = lock_dir(dir)?;
    let mut report = RepairReport::default();
    let listing = list(dir)?;
    let manifest_ok =
        matches!(read_manifest(dir), Ok(Some(m)) if m.snapshot.is_none_or(|s| SnapshotFile::open(&dir.join(snapshot_name(s))).is_ok()));
    if !manifest_ok {
        // The newest valid snapshot that no log segment named at or below it goes beyond (a
        // snapshot whose MANIFEST update never happened, after which the log went on in an
        // older segment, is not a base).
        let newest = listing.snapshots.iter().rev().copied().find(|&s| {
            SnapshotFile::open(&dir.join(snapshot_name(s))).is_ok_and(|f| f.blocks().is_ok())
                && listing.segments.iter().filter(|&&g| g <= s).all(|&g| last_seq_in(dir, g).is_none_or(|last| last <= s))
        });
        write_manifest(dir, &Manifest { snapshot: newest }).map_err(|e| format!("{}: cannot write MANIFEST: {e}", dir.display()))?;
        report.manifest_rebuilt = true;
    }
    let plan = plan(dir)?;
    let mut expected = plan.base_seq + 1;
    let mut cut: Option<(usize, u64)> = None;
    'segments: for (i, &seg) in plan.segments.iter().enumerate() {
        if seg != expected {
            cut = Some((i, 0));
            break;
        }
        let path = dir.join(segment_name(seg));
        let data = fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let (records, damage) = parse_segment(&data);
        let mut valid = 0u64;
        for r in &records {
            if r.seq != expected {
                cut = Some((i, valid));
                break 'segments;
            }
            valid += (log::HEADER + r.payload.len()) as u64;
            expected += 1;
        }
        if damage.is_some() {
            cut = Some((i, valid));
            break;
        }
    }
    if let Some((i, at)) = cut {
        let seg = plan.segments[i];
        let path = dir.join(segment_name(seg));
        let len = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let f = OpenOptions::new().write(true).open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        f.set_len(at).and_then(|()| f.sync_all()).map_err(|e| format!("{}: {e}", path.display()))?;
        report.bytes_dropped += len - at;
        report.truncated_at = at;
        report.truncated_file = Some(path);
        for &later in &plan.segments[i + 1..] {
            let p = dir.join(segment_name(later));
            report.bytes_dropped += fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
            fs::remove_file(&p).map_err(|e| format!("{}: {e}", p.display()))?;
            report.segments_removed += 1;
        }
        fsync_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_round_trip_and_damage() {
        for m in [Manifest { snapshot: None }, Manifest { snapshot: Some(42) }] {
            assert_eq!(Manifest::decode(&m.encode()), Some(m));
        }
        let text = Manifest { snapshot: Some(42) }.encode();
        for i in 0..text.len() {
            let mut b = text.clone().into_bytes();
            b[i] ^= 0x01;
            if let Ok(t) = String::from_utf8(b) {
                assert_ne!(Manifest::decode(&t), Some(Manifest { snapshot: Some(42) }), "flip at {i}");
            }
        }
        assert_eq!(Manifest::decode(&text[..text.len() - 3]), None);
    }

    #[test]
    fn second_lock_names_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let _held = lock_dir(dir.path()).unwrap();
        let err = lock_dir(dir.path()).err().expect("second lock must fail");
        assert!(err.contains(&format!("process {}", std::process::id())), "{err}");
    }

    #[test]
    fn names_parse() {
        assert_eq!(parse_name(&segment_name(17), "log-", ".log"), Some(17));
        assert_eq!(parse_name(&snapshot_name(u64::MAX), "snap-", ".snap"), Some(u64::MAX));
        assert_eq!(parse_name("log-1.log", "log-", ".log"), None);
    }
}
