//! MEMORY (USAGE, STATS, DOCTOR, MALLOC-STATS, PURGE, HELP) and INFO's `memory` section.
//!
//! Every number comes from the incremental accounting (`Keyspace::used_memory`,
//! `Value::mem_usage`), never from a scan of the data; the process RSS is read from
//! `/proc/self/statm` where there is one.

use std::sync::atomic::Ordering;

use super::args::{self, is};
use super::{CmdResult, CommandSpec};
use crate::keyspace::dict::{Dict, Packing};
use crate::keyspace::{Ctx, EntryRef, Keys, PackedHashes};
use crate::reply::Reply;

pub(crate) const COMMANDS: &[CommandSpec] = &[CommandSpec::new("memory", -2, 0, (0, 0, 0), memory).with_keys_fn(|a| {
    if a.len() > 2 && a[1].eq_ignore_ascii_case(b"USAGE") {
        vec![2]
    } else {
        vec![]
    }
})];

/// Bytes of `key`'s entry: its node (which holds the key), its value, and its TTL index node
/// if it has one.
pub(crate) fn entry_usage(key: &[u8], e: &EntryRef<'_>) -> usize {
    // A key with a TTL has a larger node (its expiry in the tail) and an entry in `volatile`.
    let (ttl, volatile) = if e.has_ttl() { (true, Dict::<()>::entry_cost(key.len())) } else { (false, 0) };
    if e.is_packed() {
        // A packed node holds the value: nothing outside it.
        let payload = PackedHashes::payload(e).expect("a packed node's value packs");
        return Keys::packed_entry_cost(key.len(), payload.len(), ttl) + volatile;
    }
    let node = if ttl { Keys::entry_cost_with_tail(key.len()) } else { Keys::entry_cost(key.len()) };
    node + e.value.mem_usage() + volatile
}

/// The process's resident set size in bytes (0 where unknown).
pub(crate) fn rss_bytes() -> usize {
    let Ok(statm) = std::fs::read_to_string("/proc/self/statm") else { return 0 };
    let pages: usize = statm.split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages * usize::try_from(page).unwrap_or(4096)
}

/// Redis's `bytesToHuman`.
pub(crate) fn human(n: u64) -> String {
    let n = n as f64;
    let units = [(1u64 << 50, "P"), (1 << 40, "T"), (1 << 30, "G"), (1 << 20, "M"), (1 << 10, "K")];
    for (size, unit) in units {
        if n >= size as f64 {
            return format!("{:.2}{unit}", n / size as f64);
        }
    }
    format!("{}B", n as u64)
}

/// INFO `# Memory`.
pub(crate) fn info_section(ctx: &Ctx<'_>, out: &mut String) {
    let ks = ctx.keyspace();
    // Exact: INFO holds every shard, so sum their footprints (the published total may lag).
    let used = ctx.shards().map(|s| s.footprint() as u64).sum::<u64>();
    ks.note_peak(used as usize);
    let peak = ks.peak_memory() as u64;
    let rss = rss_bytes() as u64;
    let cfg = ks.config.read();
    let (keys, dataset) = dataset(ctx);
    let frag = if used == 0 { 1.0 } else { rss as f64 / used as f64 };
    let peak_perc = if peak == 0 { 100.0 } else { used as f64 * 100.0 / peak as f64 };
    let (packed, raw, stored) = ctx.shards().fold((0u64, 0u64, 0u64), |acc, s| {
        let c = s.compression_totals();
        (acc.0 + c.0, acc.1 + c.1, acc.2 + c.2)
    });
    out.push_str(&format!(
        "# Memory\r\nused_memory:{used}\r\nused_memory_human:{}\r\nused_memory_rss:{rss}\r\nused_memory_rss_human:{}\r\n\
         used_memory_peak:{peak}\r\nused_memory_peak_human:{}\r\nused_memory_peak_perc:{peak_perc:.2}%\r\n\
         used_memory_dataset:{dataset}\r\nused_memory_overhead:{}\r\nkeys_count:{keys}\r\n\
         maxmemory:{}\r\nmaxmemory_human:{}\r\nmaxmemory_policy:{}\r\nmaxmemory_samples:{}\r\n\
         mem_fragmentation_ratio:{frag:.2}\r\nmem_allocator:libc\r\n\
         compression:{}\r\ncompression_min_size:{}\r\ncompressed_values:{packed}\r\ncompressed_raw_bytes:{raw}\r\n\
         compressed_stored_bytes:{stored}\r\ncompression_ratio:{:.2}\r\ncompression_dictionary_bytes:{}\r\n\r\n",
        human(used),
        human(rss),
        human(peak),
        used.saturating_sub(dataset),
        cfg.maxmemory,
        human(cfg.maxmemory),
        cfg.maxmemory_policy.name(),
        cfg.maxmemory_samples,
        cfg.compression.name(),
        cfg.compression_min_size,
        if stored == 0 { 1.0 } else { raw as f64 / stored as f64 },
        crate::types::compress::dictionary_size(ks.tuning.dictionary_slot),
    ));
}

/// (keys, bytes of keys and values) over the locked shards.
fn dataset(ctx: &Ctx<'_>) -> (u64, u64) {
    ctx.shards().fold((0, 0), |(k, b), s| (k + s.dict.len() as u64, b + (s.values_mem + s.dict.heap_bytes()) as u64))
}

fn memory(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let sub = a[1];
    if is(sub, "USAGE") {
        if a.len() < 3 {
            return Err(super::subcommand_arity("memory", sub));
        }
        if a.len() != 3 && a.len() != 5 {
            return Err(args::syntax());
        }
        if a.len() == 5 {
            // SAMPLES is accepted for compatibility; sizes here are exact, never sampled.
            if !is(a[3], "SAMPLES") {
                return Err(args::syntax());
            }
            args::int(a[4])?;
        }
        return Ok(ctx.lookup(a[2]).map_or(Reply::Nil, |e| Reply::Int(entry_usage(a[2], &e) as i64)));
    }
    if a.len() != 2 {
        return Err(if ["STATS", "DOCTOR", "MALLOC-STATS", "PURGE", "HELP"].iter().any(|n| is(sub, n)) {
            super::subcommand_arity("memory", sub)
        } else {
            super::unknown_subcommand(sub, "MEMORY")
        });
    }
    if is(sub, "STATS") {
        // MEMORY STATS needs every shard; take them one at a time (read locks, no command lock).
        let ks = ctx.keyspace();
        let (mut keys, mut dataset, mut expires, mut used) = (0i64, 0i64, 0i64, 0i64);
        for i in 0..crate::keyspace::SHARDS {
            let s = ks.shard(i).read();
            used += s.footprint() as i64;
            keys += s.dict.len() as i64;
            expires += s.volatile.len() as i64;
            dataset += (s.values_mem + s.dict.heap_bytes()) as i64;
        }
        ks.note_peak(used as usize);
        let peak = ks.peak_memory() as i64;
        let overhead = used - dataset;
        let rss = rss_bytes() as i64;
        let pairs: Vec<(&str, Reply)> = vec![
            ("peak.allocated", Reply::Int(peak)),
            ("total.allocated", Reply::Int(used)),
            ("startup.allocated", Reply::Int(0)),
            ("replication.backlog", Reply::Int(0)),
            ("clients.slaves", Reply::Int(0)),
            ("clients.normal", Reply::Int(0)),
            ("aof.buffer", Reply::Int(0)),
            ("overhead.total", Reply::Int(overhead)),
            ("keys.count", Reply::Int(keys)),
            ("keys.expires", Reply::Int(expires)),
            ("keys.bytes-per-key", Reply::Int(if keys == 0 { 0 } else { used / keys })),
            ("dataset.bytes", Reply::Int(dataset)),
            ("dataset.percentage", Reply::Double(if used == 0 { 0.0 } else { dataset as f64 * 100.0 / used as f64 })),
            ("peak.percentage", Reply::Double(if peak == 0 { 100.0 } else { used as f64 * 100.0 / peak as f64 })),
            ("fragmentation", Reply::Double(if used == 0 { 1.0 } else { rss as f64 / used as f64 })),
            ("fragmentation.bytes", Reply::Int(rss - used)),
        ];
        return Ok(Reply::Map(pairs.into_iter().map(|(k, v)| (Reply::bulk(k.as_bytes()), v)).collect()));
    }
    if is(sub, "DOCTOR") {
        let ks = ctx.keyspace();
        let max = ks.tuning.maxmemory.load(Ordering::Relaxed);
        let text = if max != 0 && ks.used_memory() as u64 > max {
            "Sam, I detected an issue: used_memory is above maxmemory and eviction cannot keep up (or the policy is noeviction)."
        } else {
            "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base."
        };
        return Ok(Reply::bulk(text.as_bytes()));
    }
    if is(sub, "MALLOC-STATS") {
        return Ok(Reply::bulk(b"Stats not supported for the current allocator"));
    }
    if is(sub, "PURGE") {
        return Ok(Reply::OK);
    }
    if is(sub, "HELP") {
        let lines = [
            "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "DOCTOR",
            "    Return memory problems reports.",
            "MALLOC-STATS",
            "    Return internal statistics report from the memory allocator.",
            "PURGE",
            "    Attempt to purge dirty pages for reclamation by the allocator.",
            "STATS",
            "    Return information about the memory usage of the server.",
            "USAGE <key> [SAMPLES <count>]",
            "    Return memory in bytes used by <key> and its value. Nested values are",
            "    sampled up to <count> times (default: 5, 0 means sample all).",
            "HELP",
            "    Prints this help.",
        ];
        return Ok(super::help_reply(&lines));
    }
    Err(super::unknown_subcommand(sub, "MEMORY"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn human_matches_redis() {
        assert_eq!(super::human(100), "100B");
        assert_eq!(super::human(1024), "1.00K");
        assert_eq!(super::human(1536 * 1024), "1.50M");
        assert_eq!(super::human(3 << 30), "3.00G");
    }
}
