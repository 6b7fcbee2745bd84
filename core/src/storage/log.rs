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
//! Who writes: a command appends its record to the in-memory tail (`LogState::chunks`) while it
//! still holds its shard locks, so the log order of records touching the same key is the order
//! they were applied. The bytes reach the file through `flush`, run by whoever holds the
//! `flushing` token: the background flusher (every millisecond for `everysec`/`no`, fsync once a
//! second for `everysec`) or, under `always`, a writer waiting for its own record (group commit:
//! one leader writes and fsyncs everything queued, the others wait and share that fsync).
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
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, MutexGuard};

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

/// Encode one record frame onto `out` (tests).
#[cfg(test)]
pub(crate) fn encode_frame(out: &mut Vec<u8>, seq: u64, kind: u8, payload: &[u8]) {
    encode_frame_with(out, seq, kind, payload, &tail_crc(kind, payload));
}

/// CRC state of the part of a frame that does not depend on its seq (kind and payload):
/// computed before the log's lock is taken, combined with the header's inside it.
fn tail_crc(kind: u8, payload: &[u8]) -> crc32fast::Hasher {
    let mut h = crc32fast::Hasher::new();
    h.update(&[kind]);
    h.update(payload);
    h
}

/// Encode one record frame onto `out`, given the CRC state of its kind and payload.
fn encode_frame_with(out: &mut Vec<u8>, seq: u64, kind: u8, payload: &[u8], tail: &crc32fast::Hasher) {
    let len = (payload.len() + 9) as u32;
    let mut h = crc32fast::Hasher::new();
    h.update(&len.to_le_bytes());
    h.update(&seq.to_le_bytes());
    h.combine(tail);
    out.reserve(HEADER + payload.len());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&h.finalize().to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    out.push(kind);
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

/// Queued bytes for one segment.
struct Chunk {
    /// First sequence number of the segment these bytes belong to.
    segment: u64,
    bytes: Vec<u8>,
    /// Sequence number of the last record in `bytes`.
    last_seq: u64,
}

struct LogState {
    chunks: VecDeque<Chunk>,
    /// The segment new records go to.
    segment: u64,
    /// Sequence number of the next record.
    next_seq: u64,
    /// Every record up to this one is written to its file.
    written_seq: u64,
    /// Every record up to this one is fsynced.
    synced_seq: u64,
    queued_bytes: usize,
    /// Someone is writing queued chunks (they are out of `chunks`).
    flushing: bool,
    /// The last I/O error, while the log is failed.
    error: Option<String>,
    /// The error came from an fsync: retry by snapshot, not by rewriting the tail.
    error_on_sync: bool,
    shutdown: bool,
    /// Threads inside `wait_durable` now, and the most seen since the last synced flush.
    waiters: u64,
    peak_waiters: u64,
    flushes: u64,
    /// Duration of the last fsync (the gather waits at most this long).
    last_sync: Duration,
    /// A writer is gathering records before its flush (appends signal `gather`).
    gathering: bool,
}

/// The file currently appended to.
struct SegmentFile {
    file: File,
    segment: u64,
    /// Bytes known to be written (the file is truncated back to this after a failed write).
    len: u64,
    /// Bytes written since the last fsync.
    unsynced: bool,
}

/// The append-only log of one database.
pub(crate) struct Log {
    dir: PathBuf,
    policy: AtomicU8,
    state: Mutex<LogState>,
    /// Signalled when a flush finishes (waiters) or work arrives (flusher).
    cond: Condvar,
    /// Signalled by `append` while a writer gathers a group commit.
    gather: Condvar,
    io: Mutex<SegmentFile>,
    failed: AtomicBool,
    /// Size of the current segment file, for the rewrite trigger and INFO.
    segment_size: AtomicU64,
    last_fsync: Mutex<Instant>,
    last_retry: Mutex<Instant>,
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
            state: Mutex::new(LogState {
                chunks: VecDeque::new(),
                segment,
                next_seq,
                written_seq: last,
                synced_seq: last,
                queued_bytes: 0,
                flushing: false,
                error: None,
                error_on_sync: false,
                shutdown: false,
                waiters: 0,
                peak_waiters: 0,
                flushes: 0,
                last_sync: Duration::from_micros(100),
                gathering: false,
            }),
            gather: Condvar::new(),
            cond: Condvar::new(),
            io: Mutex::new(SegmentFile { file, segment, len: valid_len, unsynced: false }),
            failed: AtomicBool::new(false),
            segment_size: AtomicU64::new(valid_len),
            last_fsync: Mutex::new(Instant::now()),
            last_retry: Mutex::new(Instant::now()),
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
    /// more than `MAX_QUEUED` bytes are queued). Call while holding the shard locks of the
    /// keys the record touches.
    pub(crate) fn append(&self, kind: u8, payload: &[u8]) -> u64 {
        let tail = tail_crc(kind, payload);
        let mut st = self.state.lock();
        while st.queued_bytes > MAX_QUEUED && !st.shutdown && st.error.is_none() {
            self.cond.notify_all();
            self.cond.wait_for(&mut st, Duration::from_millis(10));
        }
        let seq = st.next_seq;
        st.next_seq += 1;
        let segment = st.segment;
        if st.chunks.back().is_none_or(|c| c.segment != segment) {
            st.chunks.push_back(Chunk { segment, bytes: Vec::with_capacity(64 << 10), last_seq: 0 });
        }
        let chunk = st.chunks.back_mut().expect("just ensured");
        encode_frame_with(&mut chunk.bytes, seq, kind, payload, &tail);
        chunk.last_seq = seq;
        st.queued_bytes += HEADER + payload.len();
        if st.gathering {
            self.gather.notify_one();
        }
        seq
    }

    /// Sequence number of the last appended record.
    pub(crate) fn last_seq(&self) -> u64 {
        self.state.lock().next_seq - 1
    }

    /// Start a new segment for the records after the current last one (called at a snapshot's
    /// cut, under every shard lock). Returns the new segment's first sequence number.
    pub(crate) fn rotate(&self) -> u64 {
        let mut st = self.state.lock();
        st.segment = st.next_seq;
        self.segment_size.store(0, Ordering::Relaxed);
        st.segment
    }

    /// Block until record `seq` is durable (`always`): become the flush leader or wait for one.
    pub(crate) fn wait_durable(&self, seq: u64) -> Result<(), String> {
        let mut st = self.state.lock();
        st.waiters += 1;
        st.peak_waiters = st.peak_waiters.max(st.waiters);
        let r = loop {
            if st.synced_seq >= seq {
                break Ok(());
            }
            if let Some(e) = &st.error {
                break Err(e.clone());
            }
            if st.shutdown {
                break Err("database closed".into());
            }
            if st.flushing {
                self.cond.wait(&mut st);
                continue;
            }
            // Group commit: before the fsync, give the other writers that were waiting with
            // us last time the chance to queue their next records (at most one fsync long).
            let want = st.peak_waiters;
            let start = Instant::now();
            let limit = st.last_sync.min(Duration::from_millis(1));
            st.gathering = true;
            while st.next_seq - 1 - st.written_seq < want && !st.flushing && start.elapsed() < limit {
                let left = limit.saturating_sub(start.elapsed());
                self.gather.wait_for(&mut st, left);
            }
            st.gathering = false;
            if st.flushing || st.synced_seq >= seq {
                continue;
            }
            st.flushes += 1;
            if st.flushes.is_multiple_of(256) {
                st.peak_waiters = st.waiters;
            }
            let t = Instant::now();
            st = self.flush(st, true);
            st.last_sync = t.elapsed();
        };
        st.waiters -= 1;
        r
    }

    /// Write every queued chunk (and fsync when `sync`), holding the `flushing` token; the state
    /// lock is released during I/O. Returns the re-acquired state lock.
    fn flush<'a>(&'a self, mut st: MutexGuard<'a, LogState>, sync: bool) -> MutexGuard<'a, LogState> {
        st.flushing = true;
        let chunks: Vec<Chunk> = st.chunks.drain(..).collect();
        let taken_bytes = st.queued_bytes;
        st.queued_bytes = 0;
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
        if result.is_ok() && sync && io.unsynced {
            match fault::check(&self.dir, Op::Fsync).and_then(|()| io.file.sync_data()) {
                Ok(()) => {
                    io.unsynced = false;
                    synced = true;
                    *self.last_fsync.lock() = Instant::now();
                }
                Err(e) => result = Err((e, true)),
            }
        } else if result.is_ok() && !io.unsynced {
            synced = true;
        }
        let (io_segment, io_len) = (io.segment, io.len);
        drop(io);

        let mut st = self.state.lock();
        // A rotation while this flush wrote the old segment already reset the size.
        if io_segment >= st.segment {
            self.segment_size.store(io_len, Ordering::Relaxed);
        }
        st.flushing = false;
        if let Some(upto) = written_upto {
            st.written_seq = upto;
            if synced {
                st.synced_seq = upto;
            }
        } else if synced && st.chunks.is_empty() {
            st.synced_seq = st.written_seq;
        }
        match result {
            Ok(()) => {
                if st.error.is_some() && !st.error_on_sync {
                    st.error = None;
                    self.failed.store(false, Ordering::Relaxed);
                }
            }
            Err((e, on_sync)) => {
                // Put the unwritten chunks back in front of anything queued meanwhile.
                let rest: Vec<Chunk> = chunks.into_iter().skip(done).collect();
                let rest_bytes: usize = rest.iter().map(|c| c.bytes.len()).sum();
                for c in rest.into_iter().rev() {
                    st.chunks.push_front(c);
                }
                st.queued_bytes += rest_bytes.min(taken_bytes);
                st.error = Some(format!("{e}"));
                st.error_on_sync |= on_sync;
                self.failed.store(true, Ordering::Relaxed);
            }
        }
        self.cond.notify_all();
        st
    }

    /// Write one chunk to its segment, opening the segment first if it is a new one.
    fn write_chunk(&self, io: &mut SegmentFile, chunk: &Chunk, sync_policy: bool) -> io::Result<()> {
        if chunk.segment != io.segment {
            // The old segment must be durable before records of the new one can be: otherwise a
            // crash could keep later records and lose earlier ones (a hole).
            if io.unsynced && self.policy() != FsyncPolicy::No || sync_policy {
                fault::check(&self.dir, Op::Fsync)?;
                io.file.sync_data()?;
                io.unsynced = false;
            }
            let path = self.dir.join(segment_name(chunk.segment));
            fault::check(&self.dir, Op::Create)?;
            let file = super::owner_only(OpenOptions::new().create(true).append(true)).open(&path)?;
            file.set_len(0)?;
            fsync_dir(&self.dir)?;
            *io = SegmentFile { file, segment: chunk.segment, len: 0, unsynced: false };
        }
        let before = io.len;
        let res = fault::check(&self.dir, Op::Write).and_then(|()| io.file.write_all(&chunk.bytes));
        match res {
            Ok(()) => {
                io.len += chunk.bytes.len() as u64;
                io.unsynced = true;
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

    /// One round of the background flusher: write what is queued (fsync per policy), or retry
    /// after a failure. Returns true if the log is failed on an fsync (the caller should take
    /// a snapshot to recover).
    pub(crate) fn background_flush(&self) -> bool {
        let policy = self.policy();
        let mut st = self.state.lock();
        // Under `always` the waiting writers flush (and gather) themselves.
        if st.flushing || (policy == FsyncPolicy::Always && st.waiters > 0) {
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
        }
        let due_sync = policy == FsyncPolicy::EverySec && self.last_fsync.lock().elapsed() >= Duration::from_secs(1);
        let has_work = !st.chunks.is_empty() || (policy != FsyncPolicy::No && st.synced_seq < st.written_seq && due_sync);
        if has_work {
            let sync = policy == FsyncPolicy::Always || due_sync;
            st = self.flush(st, sync);
        }
        st.error_on_sync
    }

    /// Wait up to `timeout` for queued work (the flusher's sleep).
    pub(crate) fn wait_for_work(&self, timeout: Duration) {
        let mut st = self.state.lock();
        // While failed, queued chunks are retried on the timer, not on every wake-up.
        if (st.chunks.is_empty() || st.error.is_some()) && !st.shutdown {
            self.cond.wait_for(&mut st, timeout);
        }
    }

    /// Write and fsync everything queued (close, SAVE, tests). Errors if the log is failed.
    pub(crate) fn sync_all(&self) -> Result<(), String> {
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
            if st.chunks.is_empty() {
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
        let before: usize = st.chunks.iter().map(|c| c.bytes.len()).sum();
        st.chunks.retain(|c| c.segment > seq);
        let after: usize = st.chunks.iter().map(|c| c.bytes.len()).sum();
        st.queued_bytes = st.queued_bytes.saturating_sub(before - after);
        if st.written_seq < seq {
            st.written_seq = seq;
        }
        if st.synced_seq < seq {
            st.synced_seq = seq;
        }
        if st.error.is_some() && (st.error_on_sync || st.chunks.is_empty()) {
            st.error = None;
            st.error_on_sync = false;
            self.failed.store(false, Ordering::Relaxed);
        }
        self.cond.notify_all();
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
        self.cond.notify_all();
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
