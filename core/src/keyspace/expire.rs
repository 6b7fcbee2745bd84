//! Active expiry: reclaim keys whose TTL has passed without waiting for someone to touch them.
//!
//! Redis's algorithm: sample keys that have a TTL, delete the expired ones, and keep sampling
//! the same shard while more than a quarter of a sample was expired, within a time budget.
//! Each shard is locked on its own, for one short batch at a time, and a busy shard is skipped
//! (`try_write`), so writers never wait behind a full scan. Deletions are logged as DELs.
//!
//! Lazy expiry (`reclaim`): Redis deletes an expired key when a command touches it. A write
//! command here does so itself (`Ctx::purge_expired`, `Ctx::lookup_mut`); a read holds only a
//! read lock, so its lookups remember the expired keys they met (`Ctx::expired_seen`) and the
//! caller that drops the context deletes them right after, before returning: DBSIZE and INFO
//! keyspace stop counting them at once, as in Redis. A read that meets no expired key pays
//! nothing for this (one empty-vector check).

use std::time::{Duration, Instant};

use super::dict::hash_bytes;
use super::{now_ms, shard_of, Keyspace, SHARDS};

/// Delete the keys a read found expired (`Ctx::take_expired_seen`), each under its shard's
/// write lock once more and only if it is still there and still expired (a writer may have
/// replaced it in between); logged as DELs while the shard is locked, like the active cycle.
/// Call it holding no shard lock.
pub(crate) fn reclaim(ks: &Keyspace, keys: &[Box<[u8]>]) {
    let now = now_ms();
    for key in keys {
        let h = hash_bytes(key);
        let mut shard = ks.shard(shard_of(h)).write();
        let expired = shard.has_expired(h, key, || now);
        if !expired {
            continue;
        }
        shard.delete_expired(h, key);
        if let Some(log) = ks.log() {
            let mut payload = Vec::new();
            crate::util::resp::encode_command(&mut payload, &[b"DEL".as_slice(), key]);
            log.append(crate::storage::log::KIND_KV, &payload);
        }
        ks.publish(&shard, false);
    }
}

const SAMPLE: usize = 20;

/// One expiry cycle over every shard; stops early when `budget` is used up.
/// Returns the number of keys deleted.
pub(crate) fn active_expire_cycle(ks: &Keyspace, budget: Duration) -> usize {
    let start = Instant::now();
    let mut rng = rand::rng();
    let mut deleted = 0;
    for idx in 0..SHARDS {
        loop {
            let Some(mut shard) = ks.shard(idx).try_write() else { break };
            if shard.volatile.is_empty() {
                break;
            }
            let now = now_ms();
            let mut expired: Vec<Box<[u8]>> = Vec::new();
            let samples = SAMPLE.min(shard.volatile.len());
            for _ in 0..samples {
                if let Some((k, ())) = shard.volatile.random_entry(&mut rng) {
                    let at = shard.dict.tail_hashed(hash_bytes(k), k).unwrap_or(i64::MAX);
                    if at <= now && !expired.iter().any(|e| **e == *k) {
                        expired.push(k.into());
                    }
                }
            }
            for k in &expired {
                shard.delete_expired(hash_bytes(k), k);
            }
            // Logged as DELs while the shard is still locked (ordered before any later write).
            if let (Some(log), false) = (ks.log(), expired.is_empty()) {
                let mut payload = Vec::new();
                for k in &expired {
                    crate::util::resp::encode_command(&mut payload, &[b"DEL".as_slice(), k]);
                }
                log.append(crate::storage::log::KIND_KV, &payload);
            }
            deleted += expired.len();
            if !expired.is_empty() {
                ks.publish(&shard, false);
            }
            drop(shard);
            if expired.len() * 4 <= samples || start.elapsed() > budget {
                break;
            }
        }
        if start.elapsed() > budget {
            break;
        }
    }
    deleted
}
