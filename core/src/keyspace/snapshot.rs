//! Snapshots without fork: a consistent image of every shard at one log sequence number, taken
//! while writers keep writing, and loading it back.
//!
//! How (the scheme Dragonfly uses, per bucket): the cut takes every shard's write lock for an
//! instant, notes the log's last sequence number, starts a new log segment, freezes each
//! shard's table (no resize, so bucket indexes stay valid) and gives each shard a `ShardSnap`
//! with one "saved" bit per bucket. Then the snapshot thread walks every shard's buckets a few
//! hundred at a time, saving (encoding) the ones not yet saved. A writer about to change an
//! entry whose bucket is not yet saved saves that bucket first (`Shard::before_write`), so the
//! snapshot always records the pre-cut state: a bucket is saved exactly once, either by the
//! walker or by the first writer touching it. An entry inserted after the cut is never saved:
//! inserting into an unsaved bucket saves that bucket (without the new entry) first.
//!
//! Cost: writers pay at most one bucket encoding per bucket during a snapshot; no stall longer
//! than the cut (which holds the locks for microseconds) plus one walker step. Extra memory is
//! the encoded pre-images writers queue (`pending`) until the walker drains them, bounded by what
//! is written during the snapshot, plus one block buffer.
//!
//! Why not alternatives (measured reasoning in docs/ARCHITECTURE.md): fork() copies page tables
//! and then pages on write (Redis: up to 2x memory under write load), and is unsafe in a
//! multithreaded library; a full copy under the locks stalls writers for the copy's duration;
//! persistent maps would cost every read an extra indirection.

use std::path::Path;

use super::codec::{decode_entry, encode_entry};
use super::dict::{hash_bytes, Dict};
use super::{now_ms, Entry, Keyspace, Shard, SHARDS};
use crate::storage::snapshot::{SnapshotFile, SnapshotWriter};
use crate::storage::{snapshot_name, Log};

/// Buckets the walker saves per lock acquisition.
const STEP: usize = 512;

/// A snapshot's progress over one shard.
pub(crate) struct ShardSnap {
    saved: Vec<u64>,
    buckets: usize,
    cursor: usize,
    /// Encoded entries not yet handed to the writer.
    pending: Vec<u8>,
    pending_entries: u32,
}

impl ShardSnap {
    fn new(buckets: usize) -> ShardSnap {
        ShardSnap { saved: vec![0; buckets.div_ceil(64)], buckets, cursor: 0, pending: Vec::new(), pending_entries: 0 }
    }

    /// Encode bucket `b`'s entries into `pending` unless it was saved already.
    #[inline]
    pub(crate) fn save_bucket(&mut self, dict: &Dict<Entry>, b: usize) {
        if b >= self.buckets || self.saved[b / 64] & (1 << (b % 64)) != 0 {
            return;
        }
        self.saved[b / 64] |= 1 << (b % 64);
        let (pending, n) = (&mut self.pending, &mut self.pending_entries);
        dict.for_each_in_bucket(b, |k, e| {
            encode_entry(pending, k, e);
            *n += 1;
        });
    }

    /// Save every bucket not yet saved (before the table is cleared).
    pub(crate) fn save_all(&mut self, dict: &Dict<Entry>) {
        for b in 0..self.buckets {
            self.save_bucket(dict, b);
        }
    }
}

/// Outcome of a snapshot.
pub(crate) struct Taken {
    pub(crate) seq: u64,
    pub(crate) bytes: u64,
}

/// Clears every shard's snapshot state when the snapshot ends, however it ends.
struct Cleanup<'a>(&'a Keyspace);

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        for i in 0..SHARDS {
            let mut shard = self.0.shard(i).write();
            if shard.snap.take().is_some() {
                shard.dict.set_frozen(false);
            }
        }
    }
}

/// Take a snapshot of `ks` into `dir`. The log gets a new segment at the cut, so the snapshot
/// plus the segments after it are the database.
pub(crate) fn take(ks: &Keyspace, log: &Log, dir: &Path) -> std::io::Result<Taken> {
    let seq = {
        let mut guards: Vec<_> = (0..SHARDS).map(|i| ks.shard(i).write()).collect();
        // Records are appended under shard locks, so with all of them held the log's last
        // record is exactly the state the shards hold.
        let seq = log.last_seq();
        log.rotate();
        for g in &mut guards {
            let n = g.dict.bucket_count();
            g.dict.set_frozen(true);
            g.snap = Some(Box::new(ShardSnap::new(n)));
        }
        seq
    };
    let cleanup = Cleanup(ks);
    let mut w = SnapshotWriter::create(dir, &snapshot_name(seq), seq, now_ms())?;
    let res = (|| {
        for i in 0..SHARDS {
            loop {
                let (pending, n, finished) = {
                    let mut g = ks.shard(i).write();
                    let Shard { dict, snap, .. } = &mut *g;
                    let s = snap.as_mut().expect("snapshot state present until the walker finishes the shard");
                    let end = (s.cursor + STEP).min(s.buckets);
                    for b in s.cursor..end {
                        s.save_bucket(dict, b);
                    }
                    s.cursor = end;
                    let finished = end == s.buckets;
                    let out = (std::mem::take(&mut s.pending), std::mem::take(&mut s.pending_entries), finished);
                    if finished {
                        g.snap = None;
                        g.dict.set_frozen(false);
                    }
                    out
                };
                w.add(&pending, n)?;
                if finished {
                    break;
                }
            }
        }
        Ok(())
    })();
    drop(cleanup);
    match res {
        Ok(()) => {
            let (bytes, _entries) = w.finish()?;
            Ok(Taken { seq, bytes })
        }
        Err(e) => {
            w.abort();
            Err(e)
        }
    }
}

/// Decoded entries (hash, key, entry), one list per shard.
type Decoded = Vec<Vec<(u64, Vec<u8>, Entry)>>;

/// Load a snapshot into an empty keyspace: blocks are decoded in parallel, then each shard's
/// table is built in one pass at its final size. Entries already expired are skipped.
/// Returns the number of entries loaded.
pub(crate) fn load(ks: &Keyspace, file: &SnapshotFile) -> Result<u64, String> {
    let blocks = file.blocks()?;
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(1, 8);
    let now = now_ms();

    let parts: Vec<Result<Decoded, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let blocks = &blocks;
                scope.spawn(move || -> Result<Decoded, String> {
                    let mut per_shard: Decoded = (0..SHARDS).map(|_| Vec::new()).collect();
                    let mut buf = Vec::new();
                    for b in blocks.iter().skip(t).step_by(threads) {
                        file.read_block(b, &mut buf)?;
                        let mut pos = 0;
                        let mut n = 0u32;
                        while pos < buf.len() {
                            let (key, entry) = decode_entry(&buf, &mut pos).map_err(|e| {
                                format!("{}: block at offset {}: {e}", file.path().display(), SnapshotFile::block_offset(b))
                            })?;
                            n += 1;
                            if entry.expire_at != 0 && entry.expire_at <= now {
                                continue;
                            }
                            let h = hash_bytes(&key);
                            per_shard[super::shard_of(h)].push((h, key, entry));
                        }
                        if n != b.entries {
                            return Err(format!(
                                "{}: block at offset {} holds {n} entries, header says {}",
                                file.path().display(),
                                SnapshotFile::block_offset(b),
                                b.entries
                            ));
                        }
                    }
                    Ok(per_shard)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err("snapshot decoder panicked".into()))).collect()
    });
    let mut parts: Vec<Decoded> = parts.into_iter().collect::<Result<_, _>>()?;
    // Regroup by shard, then build shards in parallel.
    let mut by_shard: Vec<Decoded> = (0..SHARDS).map(|_| Vec::new()).collect();
    for part in &mut parts {
        for (i, v) in part.drain(..).enumerate() {
            by_shard[i].push(v);
        }
    }
    let results: Vec<Result<u64, String>> = std::thread::scope(|scope| {
        let mut groups: Vec<Vec<(usize, Decoded)>> = (0..threads).map(|_| Vec::new()).collect();
        for (i, v) in by_shard.into_iter().enumerate() {
            groups[i % threads].push((i, v));
        }
        let handles: Vec<_> = groups
            .into_iter()
            .map(|group| {
                scope.spawn(move || -> Result<u64, String> {
                    let mut loaded = 0u64;
                    for (idx, lists) in group {
                        let total: usize = lists.iter().map(Vec::len).sum();
                        let mut shard = ks.shard(idx).write();
                        if shard.dict.is_empty() {
                            shard.dict = Dict::with_capacity(total);
                        }
                        for (h, key, entry) in lists.into_iter().flatten() {
                            if shard.dict.get_hashed(h, &key).is_some() {
                                return Err(format!("snapshot holds key {:?} twice", String::from_utf8_lossy(&key)));
                            }
                            if entry.expire_at != 0 {
                                shard.volatile.insert(&key, ());
                            }
                            shard.dict.insert_new_hashed(h, &key, entry);
                            loaded += 1;
                        }
                    }
                    Ok(loaded)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err("snapshot loader panicked".into()))).collect()
    });
    results.into_iter().sum()
}
