//! The append-only log: segments of CRC-framed records, the fsync policy and group commit.
//!
//! Record frame (all integers little-endian):
//! ```text
//! +---------+---------+---------+--------+-------------------+
//! | len u32 | crc u32 | seq u64 | kind u8| payload (len - 9) |
//! +---------+---------+---------+--------+-------------------+
//! len = 9 + payload length; crc = CRC-32 (IEEE, crc32fast) of len, seq, kind and payload.
//! ```
//! A segment `log-<first seq, 20 digits>.log` holds records with consecutive sequence numbers
//! starting at its name. A record is one atomic unit: a command, or a whole MULTI/EXEC batch,
//! pipeline or closure transaction.
//!
//! Who writes: a command frames its record into its thread's lane (`Log::lanes`; the sequence
//! number is taken there, while the command still holds its shard locks, so the log order of
//! records touching the same key is the order they were applied). The bytes reach the file
//! through `flush`, run by whoever holds the `flushing` token: it merges the lanes by sequence
//! number (`collect`) and writes the gap-free prefix. The background thread flushes once a
//! millisecond for `everysec`/`no`; under `everysec` it asks the fsync thread (`fsync_loop`)
//! for an fsync once a second, so a slow disk delays only durability, never the writes (the
//! one fsync it still runs itself is the old segment's at a rotation). Under `always`, a
//! writer waiting alone flushes itself; otherwise the writers sleep and the background thread
//! is the sync thread (group commit: it gathers, writes, fsyncs once per batch and wakes the
//! waiting writers with one broadcast; those whose records are not durable yet sleep again).
//!
//! Failure: a write or fsync error puts the log in the failed state. New write commands are
//! refused (`MISCONF`) before they change anything; reads keep working; the unwritten bytes
//! stay queued and the flusher retries (a failed fsync is retried by taking a snapshot, which
//! rewrites everything from memory, because after a failed fsync the kernel may have dropped
//! the dirty pages). When a retry succeeds, writes are accepted again.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::sync::{Beacon, Condvar, Mutex, MutexGuard};

use super::fault::{self, Op};
use super::{fsync_dir, segment_name};

/// Bytes before the payload: len, crc, seq, kind.
pub(crate) const HEADER: usize = 17;
/// A KV record: the payload is RESP-encoded commands.
pub(crate) const KIND_KV: u8 = 1;
/// Reserved for document records (oplog-like BSON entries).
#[allow(dead_code)]
pub(crate) const KIND_DOC: u8 = 2;

/// Writers wait (backpressure) when this many bytes are queued and not yet written.
const MAX_QUEUED: usize = 256 << 20;

/// `appendfsync`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// A write returns after its record is on disk (group commit).
    Always,
    /// Records are written within a millisecond and fsynced once a second.
    EverySec,
    /// Records are written within a millisecond; the OS decides when they reach the disk.
    No,
}

impl FsyncPolicy {
    pub(crate) fn name(self) -> &'static str {
        match self {
            FsyncPolicy::Always => "always",
            FsyncPolicy::EverySec => "everysec",
            FsyncPolicy::No => "no",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<FsyncPolicy> {
        match s.to_ascii_lowercase().as_str() {
            "always" => Some(FsyncPolicy::Always),
            "everysec" => Some(FsyncPolicy::EverySec),
            "no" => Some(FsyncPolicy::No),
            _ => None,
        }
    }

    fn from_u8(v: u8) -> FsyncPolicy {
        match v {
            0 => FsyncPolicy::Always,
            1 => FsyncPolicy::EverySec,
            _ => FsyncPolicy::No,
        }
    }

    fn to_u8(self) -> u8 {
        match self {
            FsyncPolicy::Always => 0,
            FsyncPolicy::EverySec => 1,
            FsyncPolicy::No => 2,
        }
    }
}

/// Encode one record frame onto `out`: header, CRC of len, seq, kind and payload (computed
/// in one pass: inside a lane's lock, which no other writer normally takes).
pub(crate) fn encode_frame(out: &mut Vec<u8>, seq: u64, kind: u8, payload: &[u8]) {
    let len = (payload.len() + 9) as u32;
    let mut h = crc32fast::Hasher::new();
    let mut head = [0u8; HEADER];
    head[0..4].copy_from_slice(&len.to_le_bytes());
    head[8..16].copy_from_slice(&seq.to_le_bytes());
    head[16] = kind;
    h.update(&head[0..4]);
    h.update(&head[8..HEADER]);
    h.update(payload);
    head[4..8].copy_from_slice(&h.finalize().to_le_bytes());
    out.reserve(HEADER + payload.len());
    out.extend_from_slice(&head);
    out.extend_from_slice(payload);
}

/// One record read back from a segment.
pub(crate) struct Record<'a> {
    pub(crate) seq: u64,
    pub(crate) kind: u8,
    pub(crate) payload: &'a [u8],
}

/// Why reading a segment stopped before its end.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Damage {
    /// The bytes from `offset` to the end do not hold a complete record: a write torn by a crash.
    Torn { offset: u64 },
    /// The record at `offset` fails its CRC (or is malformed) and complete data follows it.
    Corrupt { offset: u64, seq: Option<u64> },
}

/// Whether a valid frame with a sequence number above `after` starts anywhere past `from`: if
/// so, the damage before it cannot be a torn tail (a crash only ever tears the end). Candidate
/// offsets are filtered by a plausible seq before any CRC is computed.
fn valid_frame_follows(data: &[u8], from: usize, after: u64) -> bool {
    let mut pos = from;
    while pos + HEADER <= data.len() {
        let seq = u64::from_le_bytes(data[pos + 8..pos + 16].try_into().expect("8 bytes"));
        if seq > after && seq - after < (1 << 32) {
            let len = u32::from_le_bytes(data[pos..pos + 4].try_into().expect("4 bytes")) as usize;
            let end = pos + 8 + len;
            if len >= 9 && end <= data.len() {
                let crc = u32::from_le_bytes(data[pos + 4..pos + 8].try_into().expect("4 bytes"));
                let mut h = crc32fast::Hasher::new();
                h.update(&data[pos..pos + 4]);
                h.update(&data[pos + 8..end]);
                if h.finalize() == crc {
                    return true;
                }
            }
        }
        pos += 1;
    }
    false
}

/// Parse the records of a segment image. Returns the records up to the first damage, and the
/// damage if any. The end of the file not holding a complete valid frame (a frame running past
/// the end, a zeroed tail, a bad CRC on the very last frame) is `Torn` — unless a valid later
/// frame follows the bad one, which makes it `Corrupt` (a flipped length byte must not pass for
/// a torn tail and silently drop the records after it).
pub(crate) fn parse_segment(data: &[u8]) -> (Vec<Record<'_>>, Option<Damage>) {
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos < data.len() {
        let offset = pos as u64;
        let last_seq = out.last().map_or(0, |r: &Record<'_>| r.seq);
        let torn_or_corrupt = |seq: Option<u64>| {
            if valid_frame_follows(data, pos + 1, last_seq) {
                Damage::Corrupt { offset, seq }
            } else {
                Damage::Torn { offset }
            }
        };
        if data.len() - pos < HEADER {
            return (out, Some(Damage::Torn { offset }));
        }
        let len = u32::from_le_bytes(data[pos..pos + 4].try_into().expect("4 bytes")) as usize;
        let crc = u32::from_le_bytes(data[pos + 4..pos + 8].try_into().expect("4 bytes"));
        if len < 9 {
            // A zeroed tail (preallocated or torn) or a corrupt length.
            let rest_zero = data[pos..].iter().all(|&b| b == 0);
            return (out, Some(if rest_zero { Damage::Torn { offset } } else { Damage::Corrupt { offset, seq: None } }));
        }
        let end = pos + 8 + len;
        if end > data.len() {
            return (out, Some(torn_or_corrupt(None)));
        }
        let seq = u64::from_le_bytes(data[pos + 8..pos + 16].try_into().expect("8 bytes"));
        let kind = data[pos + 16];
        let mut h = crc32fast::Hasher::new();
        h.update(&data[pos..pos + 4]);
        h.update(&data[pos + 8..end]);
        if h.finalize() != crc {
            let damage = if end == data.len() { torn_or_corrupt(Some(seq)) } else { Damage::Corrupt { offset, seq: Some(seq) } };
            return (out, Some(damage));
        }
        out.push(Record { seq, kind, payload: &data[pos + HEADER..end] });
        pos = end;
    }
    (out, None)
}

/// Queued bytes for one segment (merged, in sequence order, ready to be written).
struct Chunk {
    /// First sequence number of the segment these bytes belong to.
    segment: u64,
    bytes: Vec<u8>,
    /// Sequence number of the last record in `bytes`.
    last_seq: u64,
}

/// Lanes records are framed into (a thread always uses the same one).
const LANES: usize = 16;
/// Writers wait (backpressure) when one lane holds this many bytes.
const LANE_MAX: usize = MAX_QUEUED / LANES;
/// Spare buffers kept for reuse, and the largest capacity kept.
const SPARES: usize = 2 * LANES;
const SPARE_MAX_CAPACITY: usize = 8 << 20;

/// A value alone on its cache line (and the adjacent one, which the prefetcher pairs).
#[repr(align(128))]
struct Padded<T>(T);

impl<T> std::ops::Deref for Padded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// One lane: frames of increasing sequence numbers, appended by the writers that use it.
#[repr(align(128))]
struct Lane(Mutex<Vec<u8>>);

thread_local! {
    /// The lane this thread appends to (threads are spread round-robin over the lanes).
    static LANE: usize = {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        NEXT.fetch_add(1, Ordering::Relaxed) % LANES
    };
}

/// Sequence number of the frame at the start of `frame`.
fn frame_seq(frame: &[u8]) -> u64 {
    u64::from_le_bytes(frame[8..16].try_into().expect("8 bytes"))
}

/// Length in bytes of the whole frame at the start of `frame`.
fn frame_len(frame: &[u8]) -> usize {
    8 + u32::from_le_bytes(frame[0..4].try_into().expect("4 bytes")) as usize
}

struct LogState {
    /// Merged records waiting to be written (or put back after a failed write).
    chunks: VecDeque<Chunk>,
    /// Frames taken from the lanes that cannot be written yet: a record with a lower sequence
    /// number was still being appended when the lanes were collected.
    carry: Vec<u8>,
    /// First sequence numbers of the segment of record `taken_seq + 1` and of the segments
    /// rotated to after it (`rotate`).
    seg_starts: VecDeque<u64>,
    /// Every record up to this one is in `chunks` (or written).
    taken_seq: u64,
    /// Every record up to this one is written to its file.
    written_seq: u64,
    /// Every record up to this one is fsynced.
    synced_seq: u64,
    /// Buffers to reuse (lanes, chunks).
    spare: Vec<Vec<u8>>,
    /// Someone is writing queued chunks (they are out of `chunks`).
    flushing: bool,
    /// The last I/O error, while the log is failed.
    error: Option<String>,
    /// The error came from an fsync: retry by snapshot, not by rewriting the tail.
    error_on_sync: bool,
    shutdown: bool,
    /// The sync thread (the log thread) sleeps in `wait_for_work`.
    syncer_idle: bool,
    flushes: u64,
    /// Duration of the last fsync (the gather waits at most this long).
    last_sync: Duration,
}

/// The file currently appended to.
struct SegmentFile {
    file: File,
    segment: u64,
    /// Bytes known to be written (the file is truncated back to this after a failed write).
    len: u64,
    /// Bytes known to be on disk (fsynced).
    synced_len: u64,
    /// Sequence number of the last record written to this file.
    written_seq: u64,
}

impl SegmentFile {
    /// Bytes written since the last fsync.
    fn unsynced(&self) -> bool {
        self.len > self.synced_len
    }
}

/// An `everysec` fsync handed to the fsync thread: a second handle on the segment, and how far
/// the segment was written when it was asked for.
struct SyncJob {
    file: File,
    segment: u64,
    len: u64,
    upto_seq: u64,
}

/// The append-only log of one database.
pub(crate) struct Log {
    dir: PathBuf,
    policy: AtomicU8,
    /// Sequence number of the next record (taken under a lane's lock). Every logged write
    /// modifies it: on a cache line of its own, away from the flags every write reads.
    next_seq: Padded<AtomicU64>,
    lanes: Box<[Lane]>,
    state: Mutex<LogState>,
    /// Signalled when a flush finishes, on failure and on shutdown.
    cond: Condvar,
    /// Signalled when work arrives for the log thread while it sleeps.
    work: Condvar,
    /// Raised after every flush while writers wait in `wait_durable` (and on failure and
    /// shutdown): one broadcast wakes the whole batch.
    durable: Beacon,
    /// The sync thread is inside `sync_round`: it keeps flushing until no record is left
    /// unsynced, so a waiting writer just sleeps on `durable` (no state lock).
    syncer_busy: AtomicBool,
    /// Mirror of `LogState::synced_seq` (waiters check it without the lock).
    synced: AtomicU64,
    /// Threads inside `wait_durable` now, and the most seen recently.
    waiters: AtomicU64,
    peak_waiters: AtomicU64,
    /// The log thread runs (`always`: it writes and fsyncs for the waiting writers).
    has_syncer: AtomicBool,
    closed: AtomicBool,
    io: Mutex<SegmentFile>,
    failed: AtomicBool,
    /// Size of the current segment file, for the rewrite trigger and INFO.
    segment_size: AtomicU64,
    last_fsync: Mutex<Instant>,
    last_retry: Mutex<Instant>,
    /// `everysec`: the fsync the fsync thread is asked to run (`fsync_loop`).
    sync_job: Mutex<Option<SyncJob>>,
    sync_job_posted: Condvar,
    /// An `everysec` fsync is posted or running.
    sync_in_flight: AtomicBool,
    /// The fsync thread runs (without it the log thread fsyncs `everysec` itself).
    has_fsyncer: AtomicBool,
}

impl Log {
    /// Open the log for appending at segment `segment` (created if absent, truncated to
    /// `valid_len` when it had a torn tail), with `next_seq` the next record's number.
    pub(crate) fn open(dir: &Path, segment: u64, valid_len: u64, next_seq: u64, policy: FsyncPolicy) -> io::Result<Arc<Log>> {
        let path = dir.join(segment_name(segment));
        let existed = path.exists();
        let file = super::owner_only(OpenOptions::new().create(true).read(true).write(true).truncate(false)).open(&path)?;
        if file.metadata()?.len() != valid_len {
            file.set_len(valid_len)?;
            file.sync_all()?;
        }
        if !existed {
            fsync_dir(dir)?;
        }
        let mut file = file;
        io::Seek::seek(&mut file, io::SeekFrom::Start(valid_len))?;
        let last = next_seq - 1;
        Ok(Arc::new(Log {
            dir: dir.to_path_buf(),
            policy: AtomicU8::new(policy.to_u8()),
            next_seq: Padded(AtomicU64::new(next_seq)),
            lanes: (0..LANES).map(|_| Lane(Mutex::new(Vec::new()))).collect(),
            state: Mutex::new(LogState {
                chunks: VecDeque::new(),
                carry: Vec::new(),
                seg_starts: VecDeque::from([segment]),
                taken_seq: last,
                written_seq: last,
                synced_seq: last,
                spare: Vec::new(),
                flushing: false,
                error: None,
                error_on_sync: false,
                shutdown: false,
                syncer_idle: false,
                flushes: 0,
                last_sync: Duration::from_micros(100),
            }),
            cond: Condvar::new(),
            work: Condvar::new(),
            durable: Beacon::default(),
            syncer_busy: AtomicBool::new(false),
            synced: AtomicU64::new(last),
            waiters: AtomicU64::new(0),
            peak_waiters: AtomicU64::new(0),
            has_syncer: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            io: Mutex::new(SegmentFile { file, segment, len: valid_len, synced_len: valid_len, written_seq: last }),
            failed: AtomicBool::new(false),
            segment_size: AtomicU64::new(valid_len),
            last_fsync: Mutex::new(Instant::now()),
            last_retry: Mutex::new(Instant::now()),
            sync_job: Mutex::new(None),
            sync_job_posted: Condvar::new(),
            sync_in_flight: AtomicBool::new(false),
            has_fsyncer: AtomicBool::new(false),
        }))
    }

    pub(crate) fn policy(&self) -> FsyncPolicy {
        FsyncPolicy::from_u8(self.policy.load(Ordering::Relaxed))
    }

    pub(crate) fn set_policy(&self, p: FsyncPolicy) {
        self.policy.store(p.to_u8(), Ordering::Relaxed);
    }

    /// Err(reason) while the log is failed: write commands must be refused before they run.
    pub(crate) fn check_writable(&self) -> Result<(), String> {
        if !self.failed.load(Ordering::Relaxed) {
            return Ok(());
        }
        Err(self.state.lock().error.clone().unwrap_or_else(|| "log write failed".into()))
    }

    pub(crate) fn last_error(&self) -> Option<String> {
        self.state.lock().error.clone()
    }

    /// The log failed on an fsync: only a snapshot (rewriting everything) can heal it.
    pub(crate) fn needs_snapshot(&self) -> bool {
        let st = self.state.lock();
        st.error.is_some() && st.error_on_sync
    }

    /// Append one record; returns its sequence number. Never does I/O (except waiting when
    /// more than `LANE_MAX` bytes are queued in this thread's lane). Call while holding the
    /// shard locks of the keys the record touches: the sequence number is taken under them,
    /// so records touching the same key are numbered in the order they were applied.
    ///
    /// The record is framed (header, CRC) into this thread's lane: two writers on different
    /// lanes never wait for each other. The flush merges the lanes by sequence number.
    pub(crate) fn append(&self, kind: u8, payload: &[u8]) -> u64 {
        let lane = &self.lanes[LANE.with(|l| *l)].0;
        let mut buf = lane.lock();
        while buf.len() > LANE_MAX && !self.closed.load(Ordering::Relaxed) && !self.failed.load(Ordering::Relaxed) {
            drop(buf);
            let mut st = self.state.lock();
            self.work.notify_one();
            self.cond.wait_for(&mut st, Duration::from_millis(10));
            drop(st);
            buf = lane.lock();
        }
        let seq = self.next_seq.fetch_add(1, Ordering::SeqCst);
        encode_frame(&mut buf, seq, kind, payload);
        drop(buf);
        seq
    }

    /// Sequence number of the last appended record.
    pub(crate) fn last_seq(&self) -> u64 {
        self.next_seq.load(Ordering::SeqCst) - 1
    }

    /// Start a new segment for the records after the current last one (called at a snapshot's
    /// cut, under every shard lock: no append is in progress). Returns the new segment's first
    /// sequence number.
    pub(crate) fn rotate(&self) -> u64 {
        let mut st = self.state.lock();
        let start = self.next_seq.load(Ordering::SeqCst);
        if st.seg_starts.back() != Some(&start) {
            st.seg_starts.push_back(start);
        }
        self.segment_size.store(0, Ordering::Relaxed);
        start
    }

    /// Move the lanes' frames into `st.chunks`, merged by sequence number, as far as the
    /// sequence numbers are contiguous (frames after a gap wait in `st.carry`: the record
    /// filling the gap was being appended to another lane). Call with the flushing token held
    /// or no flush running.
    fn collect(&self, st: &mut LogState) {
        let mut srcs: Vec<Vec<u8>> = Vec::new();
        for lane in self.lanes.iter() {
            let mut buf = lane.0.lock();
            if !buf.is_empty() {
                let spare = st.spare.pop().unwrap_or_default();
                srcs.push(std::mem::replace(&mut *buf, spare));
            }
        }
        if !st.carry.is_empty() {
            let spare = st.spare.pop().unwrap_or_default();
            srcs.push(std::mem::replace(&mut st.carry, spare));
        }
        if srcs.is_empty() {
            return;
        }
        // (seq, source, offset, length) of every frame.
        let mut frames: Vec<(u64, u32, u32, u32)> = Vec::new();
        for (i, src) in srcs.iter().enumerate() {
            let mut pos = 0;
            while pos < src.len() {
                let len = frame_len(&src[pos..]);
                frames.push((frame_seq(&src[pos..]), i as u32, pos as u32, len as u32));
                pos += len;
            }
        }
        if srcs.len() > 1 {
            frames.sort_unstable_by_key(|f| f.0);
        }
        let mut expect = st.taken_seq + 1;
        let mut used = 0;
        // One lane, every frame next in sequence and in one segment: its buffer is the chunk.
        if srcs.len() == 1 && frames.iter().all(|f| f.0 >= expect) {
            let (first, last) = (frames[0].0, frames[frames.len() - 1].0);
            let contiguous = first == expect && last - first + 1 == frames.len() as u64;
            // The segment of `first`, and whether `last` is in it too.
            let at = st.seg_starts.iter().rposition(|&s| s <= first).unwrap_or(0);
            let segment = st.seg_starts[at];
            let one_segment = st.seg_starts.get(at + 1).is_none_or(|&next| last < next);
            if contiguous && one_segment && st.chunks.back().is_none_or(|c| c.segment != segment) {
                st.seg_starts.drain(..at);
                let bytes = srcs.pop().expect("one source");
                st.chunks.push_back(Chunk { segment, bytes, last_seq: last });
                st.taken_seq = last;
                return;
            }
        }
        for &(seq, src, off, len) in &frames {
            if seq < expect {
                // Covered by a snapshot (`covered_by_snapshot` while the log was failed).
                used += 1;
                continue;
            }
            if seq != expect {
                break;
            }
            while st.seg_starts.len() > 1 && seq >= st.seg_starts[1] {
                st.seg_starts.pop_front();
            }
            let segment = st.seg_starts[0];
            if st.chunks.back().is_none_or(|c| c.segment != segment) {
                let bytes = st.spare.pop().unwrap_or_default();
                st.chunks.push_back(Chunk { segment, bytes, last_seq: 0 });
            }
            let chunk = st.chunks.back_mut().expect("just ensured");
            chunk.bytes.extend_from_slice(&srcs[src as usize][off as usize..(off + len) as usize]);
            chunk.last_seq = seq;
            expect += 1;
            used += 1;
        }
        st.taken_seq = expect - 1;
        for &(_, src, off, len) in &frames[used..] {
            st.carry.extend_from_slice(&srcs[src as usize][off as usize..(off + len) as usize]);
        }
        for mut b in srcs {
            b.clear();
            Self::give_back(st, b);
        }
    }

    fn give_back(st: &mut LogState, b: Vec<u8>) {
        if st.spare.len() < SPARES && b.capacity() <= SPARE_MAX_CAPACITY {
            st.spare.push(b);
        }
    }

    /// Every record written is fsynced too.
    fn all_written_synced(st: &LogState) -> bool {
        st.synced_seq >= st.written_seq
    }

    /// Records appended and not yet written.
    fn unwritten(&self, st: &LogState) -> u64 {
        (self.next_seq.load(Ordering::SeqCst) - 1).saturating_sub(st.written_seq)
    }

    /// Block until record `seq` is durable (`always`). With the log thread running, a writer
    /// that waits alone while the log thread sleeps writes and fsyncs itself (no hand-off
    /// between threads for a single writer); otherwise it sleeps (counted in `waiters`) until
    /// the log thread, which writes and fsyncs whatever is queued, says its record is durable.
    pub(crate) fn wait_durable(&self, seq: u64) -> Result<(), String> {
        if self.synced.load(Ordering::SeqCst) >= seq {
            return Ok(());
        }
        let w = self.waiters.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak_waiters.fetch_max(w, Ordering::Relaxed);
        let r = self.wait_durable_inner(seq);
        self.waiters.fetch_sub(1, Ordering::SeqCst);
        r
    }

    fn wait_durable_inner(&self, seq: u64) -> Result<(), String> {
        // The common case under load: the sync thread is in a round, which does not end while
        // a record is unsynced (`sync_round`), so sleep until it says this one is durable.
        if self.syncer_busy.load(Ordering::SeqCst) && self.sleep_until_durable(seq) {
            return Ok(());
        }
        let mut st = self.state.lock();
        loop {
            if st.synced_seq >= seq {
                return Ok(());
            }
            if let Some(e) = &st.error {
                return Err(e.clone());
            }
            if st.shutdown {
                return Err("database closed".into());
            }
            let alone = st.syncer_idle && !st.flushing && self.waiters.load(Ordering::SeqCst) == 1;
            if self.has_syncer.load(Ordering::Relaxed) && !alone {
                // The sync thread will flush: it is idle (wake it) or between rounds (it does
                // not sleep while a writer waits, see `wait_for_work`).
                if st.syncer_idle {
                    self.work.notify_one();
                }
                drop(st);
                if self.sleep_until_durable(seq) {
                    return Ok(());
                }
                st = self.state.lock();
                continue;
            }
            if st.flushing {
                self.cond.wait(&mut st);
                continue;
            }
            let t = Instant::now();
            st = self.flush(st, true);
            st.last_sync = t.elapsed();
        }
    }

    /// Sleep on `durable` until record `seq` is durable (true) or the log fails or closes
    /// (false: the caller reads the reason under the state lock).
    fn sleep_until_durable(&self, seq: u64) -> bool {
        loop {
            let epoch = self.durable.epoch();
            if self.synced.load(Ordering::SeqCst) >= seq {
                return true;
            }
            if self.failed.load(Ordering::SeqCst) || self.closed.load(Ordering::SeqCst) {
                return false;
            }
            self.durable.wait(epoch);
        }
    }

    /// Write every queued chunk (and fsync when `sync`), holding the `flushing` token; the state
    /// lock is released during I/O. Wakes the writers waiting for durability
    /// (all of them on failure). Returns the re-acquired state lock.
    fn flush<'a>(&'a self, mut st: MutexGuard<'a, LogState>, sync: bool) -> MutexGuard<'a, LogState> {
        st.flushing = true;
        self.collect(&mut st);
        let chunks: Vec<Chunk> = st.chunks.drain(..).collect();
        drop(st);

        let mut io = self.io.lock();
        let mut written_upto = None;
        let mut result = Ok(());
        let mut done = 0;
        for chunk in &chunks {
            match self.write_chunk(&mut io, chunk, sync) {
                Ok(()) => {
                    written_upto = Some(chunk.last_seq);
                    done += 1;
                }
                Err(e) => {
                    result = Err((e, false));
                    break;
                }
            }
        }
        let mut synced = false;
        if result.is_ok() && sync && io.unsynced() {
            match fault::check(&self.dir, Op::Fsync).and_then(|()| io.file.sync_data()) {
                Ok(()) => {
                    io.synced_len = io.len;
                    synced = true;
                    *self.last_fsync.lock() = Instant::now();
                }
                Err(e) => result = Err((e, true)),
            }
        } else if result.is_ok() && !io.unsynced() {
            synced = true;
        }
        let (io_segment, io_len) = (io.segment, io.len);
        drop(io);

        let mut st = self.state.lock();
        // A rotation while this flush wrote the old segment already reset the size.
        if st.seg_starts.back().is_none_or(|&s| io_segment >= s) {
            self.segment_size.store(io_len, Ordering::Relaxed);
        }
        st.flushing = false;
        if let Some(upto) = written_upto {
            st.written_seq = upto;
            if synced {
                // (The fsync thread may have moved it already.)
                st.synced_seq = st.synced_seq.max(upto);
            }
        } else if synced && st.chunks.is_empty() {
            st.synced_seq = st.synced_seq.max(st.written_seq);
        }
        self.synced.store(st.synced_seq, Ordering::SeqCst);
        let mut chunks = chunks.into_iter();
        for c in chunks.by_ref().take(done) {
            let mut b = c.bytes;
            b.clear();
            Self::give_back(&mut st, b);
        }
        match result {
            Ok(()) => {
                if st.error.is_some() && !st.error_on_sync {
                    st.error = None;
                    self.failed.store(false, Ordering::SeqCst);
                }
            }
            Err((e, on_sync)) => {
                // Put the unwritten chunks back in front of anything queued meanwhile.
                let rest: Vec<Chunk> = chunks.collect();
                for c in rest.into_iter().rev() {
                    st.chunks.push_front(c);
                }
                st.error = Some(format!("{e}"));
                st.error_on_sync |= on_sync;
                self.failed.store(true, Ordering::SeqCst);
            }
        }
        self.cond.notify_all();
        if self.waiters.load(Ordering::SeqCst) == 0 {
            return st;
        }
        drop(st);
        self.wake_waiters();
        self.state.lock()
    }

    /// Wake the writers waiting in `wait_durable` with one broadcast (call without the state
    /// lock): the ones whose records are durable return, on failure or shutdown all of them
    /// return an error, and the rest sleep again.
    fn wake_waiters(&self) {
        if self.waiters.load(Ordering::SeqCst) > 0 {
            self.durable.raise();
        }
    }

    /// Write one chunk to its segment, opening the segment first if it is a new one.
    fn write_chunk(&self, io: &mut SegmentFile, chunk: &Chunk, sync_policy: bool) -> io::Result<()> {
        if chunk.segment != io.segment {
            // The old segment must be durable before records of the new one can be: otherwise a
            // crash could keep later records and lose earlier ones (a hole).
            if io.unsynced() && self.policy() != FsyncPolicy::No || sync_policy {
                fault::check(&self.dir, Op::Fsync)?;
                io.file.sync_data()?;
                io.synced_len = io.len;
            }
            let path = self.dir.join(segment_name(chunk.segment));
            fault::check(&self.dir, Op::Create)?;
            let file = super::owner_only(OpenOptions::new().create(true).append(true)).open(&path)?;
            file.set_len(0)?;
            fsync_dir(&self.dir)?;
            *io = SegmentFile { file, segment: chunk.segment, len: 0, synced_len: 0, written_seq: io.written_seq };
        }
        let before = io.len;
        let res = fault::check(&self.dir, Op::Write).and_then(|()| io.file.write_all(&chunk.bytes));
        match res {
            Ok(()) => {
                io.len += chunk.bytes.len() as u64;
                io.written_seq = chunk.last_seq;
                Ok(())
            }
            Err(e) => {
                // Cut a partial write back so the segment ends on a record boundary.
                let _ = io.file.set_len(before);
                let _ = io::Seek::seek(&mut io.file, io::SeekFrom::Start(before));
                Err(e)
            }
        }
    }

    /// One round of the log thread: write what is queued (fsync per policy), or retry after a
    /// failure. Returns true if the log is failed on an fsync (the caller should take a
    /// snapshot to recover). Under `always`, this thread is the sync thread: it writes and
    /// fsyncs for the waiting writers, and after a batch that released several of them it
    /// gathers their next records (`sync_round`).
    pub(crate) fn background_flush(&self) -> bool {
        let policy = self.policy();
        self.has_syncer.store(true, Ordering::Relaxed);
        let mut st = self.state.lock();
        if st.flushing {
            return false;
        }
        if st.error_on_sync {
            return true;
        }
        if st.error.is_some() {
            // Retry a failed write ten times a second, not on every wake-up.
            let mut last = self.last_retry.lock();
            if last.elapsed() < Duration::from_millis(100) {
                return false;
            }
            *last = Instant::now();
        } else if policy == FsyncPolicy::Always {
            return self.sync_round(st);
        }
        let due_sync =
            policy != FsyncPolicy::No && (policy == FsyncPolicy::Always || self.last_fsync.lock().elapsed() >= Duration::from_secs(1));
        // `everysec` with the fsync thread running: this thread only writes, the fsync runs
        // there, so a slow disk never holds up the writes (nor, through full lanes, the writers).
        let sync_elsewhere = due_sync && policy == FsyncPolicy::EverySec && self.has_fsyncer.load(Ordering::SeqCst);
        let has_work = self.unwritten(&st) > 0 || !st.chunks.is_empty() || (due_sync && st.synced_seq < st.written_seq);
        if has_work {
            st = self.flush(st, due_sync && !sync_elsewhere);
        }
        if sync_elsewhere && st.error.is_none() {
            drop(st);
            self.post_sync();
            return false;
        }
        st.error_on_sync
    }

    /// `everysec`: ask the fsync thread to fsync the current segment as far as it is written
    /// now, unless an fsync is still running (the next one is asked for once it ends).
    fn post_sync(&self) {
        if self.sync_in_flight.swap(true, Ordering::SeqCst) {
            return;
        }
        let io = self.io.lock();
        let job = if io.unsynced() {
            io.file.try_clone().ok().map(|file| SyncJob { file, segment: io.segment, len: io.len, upto_seq: io.written_seq })
        } else {
            None
        };
        drop(io);
        match job {
            Some(job) => {
                *self.last_fsync.lock() = Instant::now();
                *self.sync_job.lock() = Some(job);
                self.sync_job_posted.notify_one();
            }
            // Nothing to sync (a `dup` failure is retried on the next round).
            None => self.sync_in_flight.store(false, Ordering::SeqCst),
        }
    }

    /// The fsync thread (`everysec`): run the fsyncs `post_sync` asks for until `stop` or the
    /// log closes. An fsync error fails the log as one in `flush` does (healed by a snapshot).
    pub(crate) fn fsync_loop(&self, stop: &AtomicBool) {
        self.has_fsyncer.store(true, Ordering::SeqCst);
        loop {
            let job = {
                let mut slot = self.sync_job.lock();
                loop {
                    if let Some(job) = slot.take() {
                        break Some(job);
                    }
                    if stop.load(Ordering::Acquire) || self.closed.load(Ordering::SeqCst) {
                        break None;
                    }
                    self.sync_job_posted.wait_for(&mut slot, Duration::from_millis(100));
                }
            };
            let Some(job) = job else { break };
            let result = fault::check(&self.dir, Op::Fsync).and_then(|()| job.file.sync_data());
            self.sync_done(&job, result);
            self.sync_in_flight.store(false, Ordering::SeqCst);
        }
        self.has_fsyncer.store(false, Ordering::SeqCst);
    }

    /// Record the outcome of an fsync the fsync thread ran.
    fn sync_done(&self, job: &SyncJob, result: io::Result<()>) {
        if result.is_ok() {
            let mut io = self.io.lock();
            if io.segment == job.segment && io.synced_len < job.len {
                io.synced_len = job.len;
            }
        }
        let mut st = self.state.lock();
        match result {
            // After a failed fsync the kernel may have dropped dirty pages: a later success
            // proves nothing about them (only the healing snapshot does).
            Ok(()) if !st.error_on_sync => {
                if st.synced_seq < job.upto_seq {
                    st.synced_seq = job.upto_seq;
                    self.synced.store(job.upto_seq, Ordering::SeqCst);
                }
            }
            Ok(()) => {}
            Err(e) => {
                st.error = Some(format!("{e}"));
                st.error_on_sync = true;
                self.failed.store(true, Ordering::SeqCst);
            }
        }
        self.cond.notify_all();
        drop(st);
        self.wake_waiters();
    }

    /// `always`: write and fsync for the waiting writers until no record is left unsynced.
    /// Before each batch, wait (at most one fsync's duration) until as many records are queued
    /// as writers waited recently: the writers the previous batch released are queuing their
    /// next records meanwhile. That wait yields the CPU instead of sleeping: the released
    /// writers run on this core too, and a core that goes idle in a VM halts and takes tens of
    /// microseconds to wake (sleeping here made the gather ~85 µs per batch of 8, yielding
    /// ~50). While the round runs (`syncer_busy`), writers sleep on `durable` without taking
    /// the state lock.
    fn sync_round<'a>(&'a self, mut st: MutexGuard<'a, LogState>) -> bool {
        self.syncer_busy.store(true, Ordering::SeqCst);
        let mut released_several = false;
        loop {
            if st.error.is_some() || st.shutdown {
                break;
            }
            if st.flushing {
                // A writer flushing alone, or `sync_all`: wait for it, then go on.
                self.cond.wait_for(&mut st, Duration::from_millis(1));
                continue;
            }
            let want = self.peak_waiters.load(Ordering::Relaxed).max(1);
            let queued = self.unwritten(&st);
            if queued == 0 && Self::all_written_synced(&st) && !released_several {
                // Leave the round, then look again: a writer that saw the round running sleeps
                // until its record is durable. Its append comes before its look at
                // `syncer_busy`, this store before this look at `next_seq` (all SeqCst), so
                // either it takes the locked path or its record is seen here.
                self.syncer_busy.store(false, Ordering::SeqCst);
                if self.unwritten(&st) == 0 {
                    break;
                }
                self.syncer_busy.store(true, Ordering::SeqCst);
                continue;
            }
            if want > 1 && queued < want {
                let target = st.written_seq + want;
                let limit = st.last_sync.min(Duration::from_millis(1));
                drop(st);
                let start = Instant::now();
                while self.next_seq.load(Ordering::SeqCst) <= target && !self.closed.load(Ordering::Relaxed) {
                    let left = limit.saturating_sub(start.elapsed());
                    if left.is_zero() {
                        break;
                    }
                    std::thread::yield_now();
                }
                st = self.state.lock();
                if st.flushing {
                    continue;
                }
            }
            let batch_from = st.written_seq;
            st.flushes += 1;
            if st.flushes.is_multiple_of(256) {
                self.peak_waiters.store(self.waiters.load(Ordering::Relaxed), Ordering::Relaxed);
            }
            let t = Instant::now();
            st = self.flush(st, true);
            st.last_sync = t.elapsed();
            released_several = st.written_seq.saturating_sub(batch_from) >= 2;
        }
        self.syncer_busy.store(false, Ordering::SeqCst);
        st.error_on_sync
    }

    /// Wait up to `timeout` for work (the log thread's sleep). Under `everysec` and `no` the
    /// log thread sleeps the whole period (one write per period, not one per wake-up), unless
    /// a lane is full. Under `always` it sleeps until a writer waits for an unsynced record (or
    /// a flush by a writer ends).
    pub(crate) fn wait_for_work(&self, timeout: Duration) {
        let mut st = self.state.lock();
        if st.shutdown {
            return;
        }
        if self.policy() == FsyncPolicy::Always && st.error.is_none() {
            if st.flushing {
                self.cond.wait_for(&mut st, timeout);
            } else if self.waiters.load(Ordering::SeqCst) == 0 || (self.unwritten(&st) == 0 && Self::all_written_synced(&st)) {
                st.syncer_idle = true;
                self.work.wait_for(&mut st, timeout);
                st.syncer_idle = false;
            }
            return;
        }
        self.work.wait_for(&mut st, timeout);
    }

    /// Write and fsync everything appended so far (close, SAVE, tests). Errors if the log is
    /// failed.
    pub(crate) fn sync_all(&self) -> Result<(), String> {
        let target = self.last_seq();
        let mut st = self.state.lock();
        loop {
            if st.flushing {
                self.cond.wait(&mut st);
                continue;
            }
            if let Some(e) = &st.error {
                if st.chunks.is_empty() && st.error_on_sync {
                    return Err(e.clone());
                }
            }
            st = self.flush(st, true);
            if let Some(e) = &st.error {
                return Err(e.clone());
            }
            if st.chunks.is_empty() && st.synced_seq >= target {
                return Ok(());
            }
        }
    }

    /// A snapshot covering every record up to `seq` is durable: records up to it that are still
    /// queued (a failed log) are no longer needed, and an fsync failure is healed.
    pub(crate) fn covered_by_snapshot(&self, seq: u64) {
        let mut st = self.state.lock();
        while st.flushing {
            self.cond.wait(&mut st);
        }
        self.collect(&mut st);
        st.chunks.retain(|c| c.segment > seq);
        if st.taken_seq < seq {
            st.taken_seq = seq;
        }
        if st.written_seq < seq {
            st.written_seq = seq;
        }
        if st.synced_seq < seq {
            st.synced_seq = seq;
            self.synced.store(seq, Ordering::SeqCst);
        }
        if st.error.is_some() && (st.error_on_sync || st.chunks.is_empty()) {
            st.error = None;
            st.error_on_sync = false;
            self.failed.store(false, Ordering::SeqCst);
        }
        self.cond.notify_all();
        drop(st);
        self.wake_waiters();
    }

    /// Bytes in the current segment file.
    pub(crate) fn segment_size(&self) -> u64 {
        self.segment_size.load(Ordering::Relaxed)
    }

    /// Stop accepting work (waiters get an error) after a final flush.
    pub(crate) fn shutdown(&self) -> Result<(), String> {
        let r = if self.policy() == FsyncPolicy::No { self.flush_no_sync() } else { self.sync_all() };
        let mut st = self.state.lock();
        st.shutdown = true;
        self.closed.store(true, Ordering::SeqCst);
        self.cond.notify_all();
        self.work.notify_all();
        self.sync_job_posted.notify_all();
        drop(st);
        self.wake_waiters();
        r
    }

    fn flush_no_sync(&self) -> Result<(), String> {
        let mut st = self.state.lock();
        while st.flushing {
            self.cond.wait(&mut st);
        }
        let st = self.flush(st, false);
        st.error.clone().map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(n: u64) -> Vec<u8> {
        let mut out = Vec::new();
        for seq in 1..=n {
            encode_frame(&mut out, seq, KIND_KV, format!("payload-{seq}").as_bytes());
        }
        out
    }

    #[test]
    fn parse_round_trip() {
        let data = frames(5);
        let (recs, damage) = parse_segment(&data);
        assert!(damage.is_none());
        assert_eq!(recs.len(), 5);
        assert_eq!(recs[2].seq, 3);
        assert_eq!(recs[2].payload, b"payload-3");
    }

    #[test]
    fn every_truncation_of_the_last_record_is_torn_at_its_start() {
        let data = frames(3);
        let last_start = {
            let mut two = Vec::new();
            two.extend_from_slice(&frames(2));
            two.len()
        };
        for cut in last_start + 1..data.len() {
            let (recs, damage) = parse_segment(&data[..cut]);
            assert_eq!(recs.len(), 2, "cut {cut}");
            assert_eq!(damage, Some(Damage::Torn { offset: last_start as u64 }), "cut {cut}");
        }
    }

    #[test]
    fn flipped_byte_in_the_middle_is_corruption() {
        let mut data = frames(4);
        let first_len = frames(1).len();
        data[first_len + HEADER + 2] ^= 0x40;
        let (recs, damage) = parse_segment(&data);
        assert_eq!(recs.len(), 1);
        assert_eq!(damage, Some(Damage::Corrupt { offset: first_len as u64, seq: Some(2) }));
    }

    #[test]
    fn a_flipped_length_byte_is_corruption_not_a_torn_tail() {
        let first_len = frames(1).len();
        for bit in 0..32 {
            let mut data = frames(4);
            data[first_len + bit / 8] ^= 1 << (bit % 8);
            let (recs, damage) = parse_segment(&data);
            assert_eq!(recs.len(), 1, "bit {bit}");
            assert!(matches!(damage, Some(Damage::Corrupt { offset, .. }) if offset == first_len as u64), "bit {bit}: {damage:?}");
        }
    }

    #[test]
    fn zero_tail_is_torn() {
        let mut data = frames(2);
        let n = data.len();
        data.extend_from_slice(&[0u8; 100]);
        let (recs, damage) = parse_segment(&data);
        assert_eq!(recs.len(), 2);
        assert_eq!(damage, Some(Damage::Torn { offset: n as u64 }));
    }
}

#[cfg(test)]
mod lane_tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    fn tmpdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("nestdb-log-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// Every record of every segment file of `dir`, in file order: (segment, seq, payload).
    fn read_all(dir: &Path) -> Vec<(u64, u64, Vec<u8>)> {
        let mut segs: Vec<u64> = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().to_str()?.strip_prefix("log-")?.strip_suffix(".log")?.parse().ok())
            .collect();
        segs.sort_unstable();
        let mut out = Vec::new();
        for s in segs {
            let data = std::fs::read(dir.join(segment_name(s))).unwrap();
            let (recs, damage) = parse_segment(&data);
            assert!(damage.is_none(), "segment {s}: {damage:?}");
            out.extend(recs.iter().map(|r| (s, r.seq, r.payload.to_vec())));
        }
        out
    }

    /// An `always` log in `dir` with its log thread running and registered as the sync
    /// thread; set the flag and join the handle to stop it.
    fn always_log_with_sync_thread(dir: &Path) -> (Arc<Log>, Arc<AtomicBool>, std::thread::JoinHandle<()>) {
        let log = Log::open(dir, 1, 0, 1, FsyncPolicy::Always).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flusher = log_thread(log.clone(), stop.clone());
        while !log.has_syncer.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(1));
        }
        (log, stop, flusher)
    }

    /// The log thread of `persist.rs`, until `stop`.
    fn log_thread(log: Arc<Log>, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
        std::thread::spawn(move || {
            while !stop.load(Ordering::Acquire) {
                log.wait_for_work(Duration::from_millis(1));
                log.background_flush();
            }
        })
    }

    fn check_consecutive(recs: &[(u64, u64, Vec<u8>)], first: u64) {
        for (i, r) in recs.iter().enumerate() {
            assert_eq!(r.1, first + i as u64, "record {i} out of sequence");
        }
    }

    /// Frames put into the lanes out of order, with a gap, are written in sequence order and
    /// only up to the gap; the rest waits until the gap is filled.
    #[test]
    fn lanes_merge_in_sequence_order_and_wait_for_gaps() {
        let dir = tmpdir("merge");
        let log = Log::open(&dir, 1, 0, 1, FsyncPolicy::EverySec).unwrap();
        let put = |lane: usize, seq: u64| encode_frame(&mut log.lanes[lane].0.lock(), seq, KIND_KV, format!("r{seq}").as_bytes());
        put(3, 1);
        put(0, 2);
        put(3, 4);
        put(0, 5);
        put(7, 6);
        log.next_seq.store(7, Ordering::SeqCst);
        {
            let mut st = log.state.lock();
            log.collect(&mut st);
            assert_eq!(st.taken_seq, 2, "seq 3 is missing: only 1 and 2 can be written");
            assert_eq!(st.chunks.len(), 1);
            assert!(!st.carry.is_empty());
        }
        put(5, 3);
        log.sync_all().unwrap();
        let recs = read_all(&dir);
        check_consecutive(&recs, 1);
        assert_eq!(recs.len(), 6);
        assert_eq!(recs[2].2, b"r3");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Many writers append concurrently (one lane each, and several sharing a lane), with a
    /// rotation in the middle: the files hold every record once, in sequence order, each
    /// writer's records in its order, each in the right segment.
    #[test]
    fn concurrent_appends_are_written_in_sequence_order() {
        let dir = tmpdir("concurrent");
        let log = Log::open(&dir, 1, 0, 1, FsyncPolicy::EverySec).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flusher = log_thread(log.clone(), stop.clone());
        let threads = LANES + 4;
        let per = 3000;
        let rotated = std::thread::scope(|s| {
            for t in 0..threads {
                let log = &log;
                s.spawn(move || {
                    for i in 0..per {
                        log.append(KIND_KV, format!("{t}:{i}").as_bytes());
                    }
                });
            }
            std::thread::sleep(Duration::from_millis(2));
            // As a snapshot does (there, under every shard lock).
            log.rotate()
        });
        log.sync_all().unwrap();
        stop.store(true, Ordering::Release);
        flusher.join().unwrap();
        let recs = read_all(&dir);
        assert_eq!(recs.len(), threads * per);
        check_consecutive(&recs, 1);
        let mut next = vec![0usize; threads];
        for (seg, seq, payload) in &recs {
            assert_eq!(*seg, if *seq < rotated { 1 } else { rotated }, "seq {seq} in the wrong segment");
            let text = String::from_utf8(payload.clone()).unwrap();
            let (t, i) = text.split_once(':').unwrap();
            let (t, i): (usize, usize) = (t.parse().unwrap(), i.parse().unwrap());
            assert_eq!(i, next[t], "writer {t}'s records out of order");
            next[t] += 1;
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// `always` with the log thread running: concurrent writers each get an acknowledgement
    /// only once their record is fsynced (the synced mark covers it, and the file holds it),
    /// and they share fsyncs.
    #[test]
    fn concurrent_always_writers_get_durable_acknowledgements() {
        let dir = tmpdir("always");
        let (log, stop, flusher) = always_log_with_sync_thread(&dir);
        let threads = 8;
        let per = 150;
        std::thread::scope(|s| {
            for t in 0..threads {
                let log = &log;
                s.spawn(move || {
                    for i in 0..per {
                        // Appended under a "shard lock": here a writer appends alone.
                        let seq = log.append(KIND_KV, format!("{t}:{i}").as_bytes());
                        log.wait_durable(seq).unwrap();
                        assert!(log.state.lock().synced_seq >= seq);
                        assert!(log.io.lock().len >= seq * (HEADER as u64 + 3), "acknowledged record not in the file");
                    }
                });
            }
        });
        let flushes = log.state.lock().flushes;
        stop.store(true, Ordering::Release);
        flusher.join().unwrap();
        let recs = read_all(&dir);
        assert_eq!(recs.len(), threads * per);
        check_consecutive(&recs, 1);
        assert!(flushes < (threads * per) as u64, "no group commit: {flushes} flushes");
        // Idle: no writer waits and the sync thread has left its round.
        assert_eq!(log.waiters.load(Ordering::SeqCst), 0);
        assert!(!log.syncer_busy.load(Ordering::SeqCst));
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A write failure under `always` wakes every waiting writer with the error.
    #[test]
    fn waiting_writers_get_the_error_of_a_failed_write() {
        let dir = tmpdir("always-fail");
        let (log, stop, flusher) = always_log_with_sync_thread(&dir);
        fault::inject(&dir, Op::Write, 0, u64::MAX, fault::FaultKind::Io);
        let errors = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|t| {
                    let log = &log;
                    s.spawn(move || log.wait_durable(log.append(KIND_KV, format!("w{t}").as_bytes())).is_err())
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).filter(|&e| e).count()
        });
        fault::clear(&dir);
        assert_eq!(errors, 4, "every writer must see the failure, none an acknowledgement");
        stop.store(true, Ordering::Release);
        flusher.join().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
