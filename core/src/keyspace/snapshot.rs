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

use super::codec::{decode_entry, decode_library, encode_entry, encode_library, is_library};
use super::dict::{hash_bytes, Dict};
use super::{now_ms, Entry, Keyspace, Shard, SHARDS};
use crate::storage::snapshot::{SnapshotFile, SnapshotWriter};
use crate::storage::{snapshot_name, Log};
use crate::types::{Value, ValueBytes};

/// Buckets the walker saves per lock acquisition.
const STEP: usize = 512;
/// How many buckets ahead of its encoding the walker prefetches (nodes at twice this).
const AHEAD: usize = 8;

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
    pub(crate) fn save_bucket(&mut self, dict: &crate::keyspace::Keys, b: usize) {
        if b >= self.buckets || self.saved[b / 64] & (1 << (b % 64)) != 0 {
            return;
        }
        self.saved[b / 64] |= 1 << (b % 64);
        let (pending, n) = (&mut self.pending, &mut self.pending_entries);
        dict.for_each_in_bucket(b, |k, e, expiry| {
            encode_entry(pending, k, &e, expiry.unwrap_or(0));
            *n += 1;
        });
    }

    /// The table doubled from `old` buckets: bucket `b` split into `b` and `b + old`, which
    /// inherit its saved bit (their entries are exactly the old bucket's).
    pub(crate) fn table_doubled(&mut self, old: usize) {
        if old != self.buckets || old == 0 {
            return;
        }
        self.saved.resize((2 * old).div_ceil(64), 0);
        for b in old..2 * old {
            let src = b - old;
            if self.saved[src / 64] & (1 << (src % 64)) != 0 {
                self.saved[b / 64] |= 1 << (b % 64);
            }
        }
        self.buckets = 2 * old;
    }

    /// Save every bucket not yet saved (before the table is cleared).
    pub(crate) fn save_all(&mut self, dict: &crate::keyspace::Keys) {
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
    // Each shard's snapshot state is allocated before the cut: the cut holds every shard's
    // lock, so it must not wait for the allocator (with a fragmented glibc heap, allocating
    // these under the locks stalled every writer for 15-250 ms).
    let libraries;
    let mut prepared: Vec<Box<ShardSnap>> = (0..SHARDS).map(|i| Box::new(ShardSnap::new(ks.shard(i).read().dict.bucket_count()))).collect();
    let seq = {
        let mut guards: Vec<_> = (0..SHARDS).map(|i| ks.shard(i).write()).collect();
        // Records are appended under shard locks, so with all of them held the log's last
        // record is exactly the state the shards hold.
        let seq = log.last_seq();
        log.rotate();
        // The function libraries as of the cut (they change only under every shard lock).
        libraries = crate::command::function_library_codes(ks);
        for (g, mut snap) in guards.iter_mut().zip(prepared.drain(..)) {
            let n = g.dict.bucket_count();
            if snap.buckets != n {
                // The table resized since: rare, and then allocating here is unavoidable.
                *snap = ShardSnap::new(n);
            }
            g.dict.set_frozen(true);
            g.snap = Some(snap);
        }
        seq
    };
    let cleanup = Cleanup(ks);
    let mut w = SnapshotWriter::create(dir, &snapshot_name(seq), seq, now_ms())?;
    let res = (|| {
        if !libraries.is_empty() {
            let mut encoded = Vec::new();
            for (name, code) in &libraries {
                encode_library(&mut encoded, name, code);
            }
            w.add(&encoded, libraries.len() as u32)?;
        }
        for i in 0..SHARDS {
            loop {
                let (pending, n, finished, done_state) = {
                    let mut g = ks.shard(i).write();
                    let Shard { dict, snap, .. } = &mut *g;
                    let s = snap.as_mut().expect("snapshot state present until the walker finishes the shard");
                    let end = (s.cursor + STEP).min(s.buckets);
                    for b in s.cursor..(s.cursor + 2 * AHEAD).min(end) {
                        dict.prefetch_bucket_chain(b);
                    }
                    for b in s.cursor..end {
                        // Two stages ahead of the encoding: the nodes of bucket b + 2 * AHEAD,
                        // then (arrived by now) the string values of bucket b + AHEAD. Without
                        // them the walk waits on two dependent misses per entry.
                        dict.prefetch_bucket_chain(b + 2 * AHEAD);
                        if b + AHEAD < end {
                            dict.prefetch_bucket_values(b + AHEAD, |e: &Entry| {
                                if let Value::Str(v) = &e.value {
                                    v.prefetch();
                                }
                            });
                        }
                        s.save_bucket(dict, b);
                    }
                    s.cursor = end;
                    let finished = end == s.buckets;
                    let (pending, n) = (std::mem::take(&mut s.pending), std::mem::take(&mut s.pending_entries));
                    let mut done_state = None;
                    if finished {
                        done_state = g.snap.take();
                        g.dict.set_frozen(false);
                    }
                    (pending, n, finished, done_state)
                };
                // Freed after the shard lock is released, as `pending` is.
                drop(done_state);
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

/// Decoded entries (hash, key, entry, expiry), one list per shard.
type Decoded = Vec<Vec<(u64, Vec<u8>, Entry, i64)>>;

/// Load a snapshot into an empty keyspace: blocks are decoded in parallel, then each shard's
/// table is built in one pass at its final size. Entries whose TTL has passed are loaded too:
/// log records after the cut were made while they were alive (replay does not expire keys);
/// they expire as usual once the database is open.
/// Returns the number of entries loaded.
pub(crate) fn load(ks: &Keyspace, file: &SnapshotFile) -> Result<u64, String> {
    let blocks = file.blocks()?;
    // Function libraries (entry type 9) found by the decoders, loaded after the keys.
    let libraries: std::sync::Mutex<Vec<(Vec<u8>, Vec<u8>)>> = std::sync::Mutex::new(Vec::new());
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(1, 8);

    let parts: Vec<Result<Decoded, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (blocks, libraries) = (&blocks, &libraries);
                scope.spawn(move || -> Result<Decoded, String> {
                    let mut per_shard: Decoded = (0..SHARDS).map(|_| Vec::new()).collect();
                    let mut buf = Vec::new();
                    for b in blocks.iter().skip(t).step_by(threads) {
                        file.read_block(b, &mut buf)?;
                        let mut pos = 0;
                        let mut n = 0u32;
                        while pos < buf.len() {
                            if is_library(&buf, pos) {
                                let lib = decode_library(&buf, &mut pos).map_err(|e| {
                                    format!("{}: block at offset {}: {e}", file.path().display(), SnapshotFile::block_offset(b))
                                })?;
                                libraries.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(lib);
                                n += 1;
                                continue;
                            }
                            let (key, entry, expire_at) = decode_entry(&buf, &mut pos).map_err(|e| {
                                format!("{}: block at offset {}: {e}", file.path().display(), SnapshotFile::block_offset(b))
                            })?;
                            n += 1;
                            let h = hash_bytes(&key);
                            per_shard[super::shard_of(h)].push((h, key, entry, expire_at));
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
    let compression = ks.tuning.compression();
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
                        for (h, key, mut entry, expire_at) in lists.into_iter().flatten() {
                            // Values saved raw (plain, or packed against the old process's
                            // dictionary) are compressed again as the live settings say.
                            if let Value::Str(v) = &entry.value {
                                if v.plain().is_some_and(|b| b.len() >= compression.min_size) {
                                    entry.value = Value::Str(ValueBytes::store(&v.bytes(), compression));
                                }
                            }
                            if shard.dict.contains_key_hashed(h, &key) {
                                return Err(format!("snapshot holds key {:?} twice", String::from_utf8_lossy(&key)));
                            }
                            if let Value::Collection(c) = &entry.value {
                                if c.indexes().iter().any(|i| i.spec.expire_after_seconds.is_some()) {
                                    // The TTL sweep's list (replay and createIndexes keep it
                                    // from here on).
                                    ks.ttl_namespaces.lock().insert(String::from_utf8_lossy(&key).into_owned());
                                }
                            }
                            shard.insert_new_entry(h, &key, entry, expire_at);
                            loaded += 1;
                        }
                    }
                    Ok(loaded)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err("snapshot loader panicked".into()))).collect()
    });
    let loaded = results.into_iter().sum::<Result<u64, String>>()?;
    ks.recount_all();
    let mut libraries = libraries.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
    // Blocks decode in parallel: put the libraries back in the order they were written.
    libraries.sort();
    crate::command::function_restore_libraries(ks, libraries).map_err(|e| format!("{}: {e}", file.path().display()))?;
    Ok(loaded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Options;
    use crate::reply::Reply;
    use crate::types::Value;
    use std::sync::atomic::{AtomicBool, Ordering};

    fn str_at(ks: &Keyspace, key: &[u8]) -> Option<Vec<u8>> {
        let h = hash_bytes(key);
        let shard = ks.shard(super::super::shard_of(h)).read();
        let e = shard.dict.get_ref_hashed(h, key);
        match e.as_deref().map(|e| &e.value) {
            Some(Value::Str(s)) => Some(s.to_vec()),
            _ => None,
        }
    }

    /// A writer runs op i = 0, 1, 2...: SET a:i i; SET b:(i % 1000) i; DEL a:(i - 500). The
    /// snapshot taken meanwhile must be exactly the state after some op m: a:(m-499..=m) present,
    /// no other a:*, and every b:j equal to the last i <= m with i % 1000 == j.
    #[test]
    fn snapshot_under_concurrent_writes_is_the_state_at_its_cut() {
        for round in 0..3 {
            let dir = tempfile::tempdir().unwrap();
            let db = crate::Db::open(dir.path().join("db"), Options::default()).unwrap();
            // Start with some data so the walk takes a while; ~250 keys per shard, so the
            // writer's inserts make many shards' tables double during the snapshot.
            for i in 0..16_000 {
                db.execute(&[b"SET", format!("pre:{i}").as_bytes(), b"x"]);
            }
            let stop = std::sync::Arc::new(AtomicBool::new(false));
            let writer = {
                let (db, stop) = (db.clone(), stop.clone());
                std::thread::spawn(move || {
                    let mut i: u64 = 0;
                    while !stop.load(Ordering::Relaxed) || i < 2_000 {
                        let n = i.to_string();
                        assert_eq!(db.execute(&[b"SET", format!("a:{i}").as_bytes(), n.as_bytes()]), Reply::OK);
                        db.execute(&[b"SET", format!("b:{}", i % 1000).as_bytes(), n.as_bytes()]);
                        if i >= 500 {
                            db.execute(&[b"DEL", format!("a:{}", i - 500).as_bytes()]);
                        }
                        i += 1;
                    }
                    i
                })
            };
            std::thread::sleep(std::time::Duration::from_millis(5 * round));
            db.snapshot().unwrap();
            stop.store(true, Ordering::Relaxed);
            let ops = writer.join().unwrap();
            let snap = std::fs::read_dir(dir.path().join("db"))
                .unwrap()
                .map(|e| e.unwrap().path())
                .find(|p| p.extension().is_some_and(|x| x == "snap"))
                .unwrap();
            let ks = Keyspace::new(Options::default());
            load(&ks, &SnapshotFile::open(&snap).unwrap()).unwrap();
            let Some(m) = (0..ops).rev().find(|i| str_at(&ks, format!("a:{i}").as_bytes()).is_some()) else {
                // Cut before the first op: no a:* and no b:* at all.
                assert!(str_at(&ks, b"b:0").is_none());
                continue;
            };
            // The cut falls after one of op m's three commands: after `SET a:m` (b:(m%1000) not
            // yet m, a:(m-500) not yet deleted), after `SET b` (a:(m-500) not yet deleted), or
            // after the DEL.
            let b_now = |j: u64| str_at(&ks, format!("b:{j}").as_bytes()).map(|v| String::from_utf8(v).unwrap());
            let b_done = b_now(m % 1000) == Some(m.to_string());
            // Ops before 500 have no DEL: for them "DEL done" never holds.
            let del_done = m >= 500 && str_at(&ks, format!("a:{}", m - 500).as_bytes()).is_none();
            assert!(b_done || !del_done, "op {m}: DEL visible without the SET b before it");
            for i in 0..ops {
                let want = i <= m && (i + 500 > m || (i + 500 == m && !del_done));
                assert_eq!(str_at(&ks, format!("a:{i}").as_bytes()).is_some(), want, "a:{i} with cut in op {m}");
            }
            for j in 0..1000u64 {
                let last = if j == m % 1000 && !b_done { m.checked_sub(1000) } else { (0..=m).rev().find(|i| i % 1000 == j) };
                assert_eq!(b_now(j), last.map(|i| i.to_string()), "b:{j} with cut in op {m}");
            }
            assert_eq!(str_at(&ks, b"pre:15999").as_deref(), Some(&b"x"[..]));
        }
    }
}
