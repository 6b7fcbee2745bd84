//! Configuration: the options a database is opened with and that CONFIG GET/SET change.
//!
//! Names are Redis's (`hz`, `appendfsync`, `save`...). One table (`PARAMS`) lists
//! every parameter with its parser and printer, so `Options::set`, CONFIG SET, the C `config`
//! string and Python keyword arguments all accept exactly the same names and values. A
//! parameter is listed only once the engine honours it. Values are parsed, and refused with the
//! reasons, that Redis 7 gives (integers as `string2ll`, sizes as `memtoull`, ranges as Redis
//! declares them), so CONFIG SET errors read exactly as Redis's.
//!
//! A second table (`FIXED`) lists read-only parameters that clients commonly read on startup:
//! facts about an embedded database (no connections to time out or limit, one database, no
//! keyspace notifications). CONFIG GET answers them; CONFIG SET refuses them as Redis refuses
//! an immutable parameter.

use crate::error::{Error, Result};

/// Options for `Db::open`. Build with `Options::default()` and chain setters, or set by
/// Redis config name with `Options::set`.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Options {
    /// Background task frequency (active expiry cycles per second), 1..=500. Redis's `hz`
    /// (like Redis, setting it outside that range clamps it).
    pub hz: u32,
    /// `appendfsync`: when log records reach the disk (default `everysec`).
    pub appendfsync: FsyncPolicy,
    /// `auto-aof-rewrite-percentage`: rewrite (snapshot + fresh log) when the files grew by this
    /// percentage of the last snapshot's size; 0 disables automatic rewrites.
    pub auto_aof_rewrite_percentage: u32,
    /// `auto-aof-rewrite-min-size`: never rewrite automatically below this many bytes.
    pub auto_aof_rewrite_min_size: u64,
    /// `save`: snapshot after `seconds` if at least `changes` writes happened, per pair.
    pub save: Vec<(u64, u64)>,
    /// `maxmemory`: the memory cap in bytes for the keyspace (`used_memory`); 0 = no cap.
    pub maxmemory: u64,
    /// `maxmemory-policy`: what to do when a write finds `used_memory` over `maxmemory`.
    pub maxmemory_policy: EvictionPolicy,
    /// `maxmemory-samples`: keys sampled per eviction round (at least 1; Redis's default 5).
    pub maxmemory_samples: u32,
    /// `lfu-log-factor`: how slowly the logarithmic LFU counter grows (Redis's default 10).
    pub lfu_log_factor: u32,
    /// `lfu-decay-time`: minutes for the LFU counter to decay by one (0 = never decay).
    pub lfu_decay_time: u32,
    /// `compression`: codec for values of at least `compression_min_size` bytes.
    pub compression: Codec,
    /// `compression-min-size`: smallest value stored compressed (default 512 bytes).
    pub compression_min_size: u64,
    /// Compact-encoding thresholds (Redis's names and defaults): a container converts to its
    /// general encoding once it has more entries, or a longer element, than these.
    pub hash_max_listpack_entries: u32,
    pub hash_max_listpack_value: u32,
    pub set_max_intset_entries: u32,
    pub set_max_listpack_entries: u32,
    pub set_max_listpack_value: u32,
    pub zset_max_listpack_entries: u32,
    pub zset_max_listpack_value: u32,
    /// `list-max-listpack-size`: entries per list node if positive; -1..-5 = 4..64 KiB per node.
    pub list_max_listpack_size: i32,
    /// `stream-node-max-bytes` / `stream-node-max-entries`: when a stream's node is full (0 =
    /// no limit). They decide where `XTRIM ... ~` may cut, as in Redis.
    pub stream_node_max_bytes: u64,
    pub stream_node_max_entries: u64,
}

/// `maxmemory-policy` values (Redis's names).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EvictionPolicy {
    NoEviction,
    AllKeysLru,
    VolatileLru,
    AllKeysLfu,
    VolatileLfu,
    AllKeysRandom,
    VolatileRandom,
    VolatileTtl,
}

impl EvictionPolicy {
    const ALL: [(EvictionPolicy, &'static str); 8] = [
        (EvictionPolicy::NoEviction, "noeviction"),
        (EvictionPolicy::AllKeysLru, "allkeys-lru"),
        (EvictionPolicy::VolatileLru, "volatile-lru"),
        (EvictionPolicy::AllKeysLfu, "allkeys-lfu"),
        (EvictionPolicy::VolatileLfu, "volatile-lfu"),
        (EvictionPolicy::AllKeysRandom, "allkeys-random"),
        (EvictionPolicy::VolatileRandom, "volatile-random"),
        (EvictionPolicy::VolatileTtl, "volatile-ttl"),
    ];

    /// The Redis name (`allkeys-lru`...).
    pub fn name(self) -> &'static str {
        Self::ALL.iter().find(|(p, _)| *p == self).map_or("noeviction", |(_, n)| n)
    }

    /// Parse a Redis name, case-insensitively.
    pub fn parse(v: &str) -> Option<Self> {
        Self::ALL.iter().find(|(_, n)| n.eq_ignore_ascii_case(v)).map(|(p, _)| *p)
    }

    /// Only keys with a TTL may be evicted.
    pub fn volatile_only(self) -> bool {
        matches!(
            self,
            EvictionPolicy::VolatileLru | EvictionPolicy::VolatileLfu | EvictionPolicy::VolatileRandom | EvictionPolicy::VolatileTtl
        )
    }

    /// Access tracking uses the LFU counter instead of the LRU clock.
    pub fn is_lfu(self) -> bool {
        matches!(self, EvictionPolicy::AllKeysLfu | EvictionPolicy::VolatileLfu)
    }
}

/// `compression` values: how large values are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    None,
    Lz4,
    Zlib,
}

impl Codec {
    pub fn name(self) -> &'static str {
        match self {
            Codec::None => "none",
            Codec::Lz4 => "lz4",
            Codec::Zlib => "zlib",
        }
    }

    pub fn parse(v: &str) -> Option<Self> {
        [Codec::None, Codec::Lz4, Codec::Zlib].into_iter().find(|c| c.name().eq_ignore_ascii_case(v.trim()))
    }
}

pub use crate::storage::FsyncPolicy;

impl Default for Options {
    fn default() -> Self {
        Options {
            hz: 10,
            appendfsync: FsyncPolicy::EverySec,
            auto_aof_rewrite_percentage: 100,
            auto_aof_rewrite_min_size: 64 << 20,
            save: vec![(3600, 1), (300, 100), (60, 10000)],
            maxmemory: 0,
            maxmemory_policy: EvictionPolicy::NoEviction,
            maxmemory_samples: 5,
            lfu_log_factor: 10,
            lfu_decay_time: 1,
            compression: Codec::Lz4,
            compression_min_size: 512,
            hash_max_listpack_entries: 512,
            hash_max_listpack_value: 64,
            set_max_intset_entries: 512,
            set_max_listpack_entries: 128,
            set_max_listpack_value: 64,
            zset_max_listpack_entries: 128,
            zset_max_listpack_value: 64,
            list_max_listpack_size: -2,
            stream_node_max_bytes: 4096,
            stream_node_max_entries: 100,
        }
    }
}

/// Parse a memory size the way redis.conf does: `1024`, `100kb`/`100k` (1024/1000), `64mb`,
/// `1gb`...; case-insensitive.
pub(crate) fn parse_memory(v: &str) -> std::result::Result<u64, String> {
    let v = v.trim().to_ascii_lowercase();
    let units: [(&str, u64); 7] =
        [("kb", 1 << 10), ("mb", 1 << 20), ("gb", 1 << 30), ("k", 1000), ("m", 1_000_000), ("g", 1_000_000_000), ("b", 1)];
    let (digits, mul) = units.iter().find_map(|(u, m)| v.strip_suffix(u).map(|d| (d, *m))).unwrap_or((&v, 1));
    let n: u64 = digits.parse().map_err(|_| "argument must be a memory value".to_string())?;
    n.checked_mul(mul).ok_or_else(|| "argument must be a memory value".to_string())
}

fn parse_save(v: &str) -> std::result::Result<Vec<(u64, u64)>, String> {
    let words: Vec<&str> = v.split_whitespace().collect();
    if !words.len().is_multiple_of(2) {
        return Err("Invalid save parameters".into());
    }
    words
        .chunks(2)
        .map(|p| match (p[0].parse::<u64>(), p[1].parse::<u64>()) {
            (Ok(s), Ok(c)) => Ok((s, c)),
            _ => Err("Invalid save parameters".to_string()),
        })
        .collect()
}

struct Param {
    name: &'static str,
    get: fn(&Options) -> String,
    set: fn(&mut Options, &str) -> std::result::Result<(), String>,
}

/// An integer parameter: a canonical decimal (Redis's `string2ll`: no blanks, sign `-` only)
/// within the range Redis declares for it, with Redis's messages.
fn parse_int_in(v: &str, lo: i64, hi: i64) -> std::result::Result<i64, String> {
    let n = crate::util::num::parse_i64_strict(v.as_bytes()).ok_or("argument couldn't be parsed into an integer")?;
    if n < lo || n > hi {
        return Err(format!("argument must be between {lo} and {hi} inclusive"));
    }
    Ok(n)
}

const INT_MAX: i64 = i32::MAX as i64;

/// A compact-encoding threshold. Redis declares the `*-entries` ones integers and the
/// `*-value` ones memory sizes (`64`, `1kb`), both 0..LONG_MAX; nestdb keeps them as u32.
macro_rules! limit_param {
    ($name:literal, $field:ident, entries) => {
        Param {
            name: $name,
            get: |o| o.$field.to_string(),
            set: |o, v| {
                o.$field = parse_int_in(v, 0, i64::MAX)?.min(i64::from(u32::MAX)) as u32;
                Ok(())
            },
        }
    };
    ($name:literal, $field:ident, value) => {
        Param {
            name: $name,
            get: |o| o.$field.to_string(),
            set: |o, v| {
                o.$field = parse_memory(v)?.min(u64::from(u32::MAX)) as u32;
                Ok(())
            },
        }
    };
}

const PARAMS: &[Param] = &[
    Param {
        name: "hz",
        get: |o| o.hz.to_string(),
        set: |o, v| {
            // Redis accepts 0..INT_MAX and clamps to 1..=500.
            o.hz = parse_int_in(v, 0, INT_MAX)?.clamp(1, 500) as u32;
            Ok(())
        },
    },
    Param {
        name: "appendfsync",
        get: |o| o.appendfsync.name().to_string(),
        set: |o, v| {
            o.appendfsync = FsyncPolicy::parse(v.trim()).ok_or("argument(s) must be one of the following: everysec, always, no")?;
            Ok(())
        },
    },
    Param {
        name: "auto-aof-rewrite-percentage",
        get: |o| o.auto_aof_rewrite_percentage.to_string(),
        set: |o, v| {
            o.auto_aof_rewrite_percentage = parse_int_in(v, 0, INT_MAX)? as u32;
            Ok(())
        },
    },
    Param {
        name: "auto-aof-rewrite-min-size",
        get: |o| o.auto_aof_rewrite_min_size.to_string(),
        set: |o, v| {
            o.auto_aof_rewrite_min_size = parse_memory(v)?;
            Ok(())
        },
    },
    Param {
        name: "save",
        get: |o| o.save.iter().map(|(s, c)| format!("{s} {c}")).collect::<Vec<_>>().join(" "),
        set: |o, v| {
            o.save = parse_save(v)?;
            Ok(())
        },
    },
    Param {
        name: "maxmemory",
        get: |o| o.maxmemory.to_string(),
        set: |o, v| {
            o.maxmemory = parse_memory(v)?;
            Ok(())
        },
    },
    Param {
        name: "maxmemory-policy",
        get: |o| o.maxmemory_policy.name().to_string(),
        set: |o, v| {
            o.maxmemory_policy = EvictionPolicy::parse(v.trim()).ok_or(
                "argument(s) must be one of the following: volatile-lru, volatile-lfu, volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction",
            )?;
            Ok(())
        },
    },
    Param {
        name: "maxmemory-samples",
        get: |o| o.maxmemory_samples.to_string(),
        set: |o, v| {
            o.maxmemory_samples = parse_int_in(v, 1, INT_MAX)? as u32;
            Ok(())
        },
    },
    Param {
        name: "lfu-log-factor",
        get: |o| o.lfu_log_factor.to_string(),
        set: |o, v| {
            o.lfu_log_factor = parse_int_in(v, 0, INT_MAX)? as u32;
            Ok(())
        },
    },
    Param {
        name: "lfu-decay-time",
        get: |o| o.lfu_decay_time.to_string(),
        set: |o, v| {
            o.lfu_decay_time = parse_int_in(v, 0, INT_MAX)? as u32;
            Ok(())
        },
    },
    Param {
        name: "compression",
        get: |o| o.compression.name().to_string(),
        set: |o, v| {
            o.compression = Codec::parse(v).ok_or("argument(s) must be one of the following: lz4, zlib, none")?;
            Ok(())
        },
    },
    Param {
        name: "compression-min-size",
        get: |o| o.compression_min_size.to_string(),
        set: |o, v| {
            o.compression_min_size = parse_memory(v)?.max(1);
            Ok(())
        },
    },
    limit_param!("hash-max-listpack-entries", hash_max_listpack_entries, entries),
    limit_param!("hash-max-listpack-value", hash_max_listpack_value, value),
    limit_param!("set-max-intset-entries", set_max_intset_entries, entries),
    limit_param!("set-max-listpack-entries", set_max_listpack_entries, entries),
    limit_param!("set-max-listpack-value", set_max_listpack_value, value),
    limit_param!("zset-max-listpack-entries", zset_max_listpack_entries, entries),
    limit_param!("zset-max-listpack-value", zset_max_listpack_value, value),
    Param {
        name: "stream-node-max-bytes",
        get: |o| o.stream_node_max_bytes.to_string(),
        set: |o, v| {
            o.stream_node_max_bytes = parse_memory(v)?.min(i64::MAX as u64);
            Ok(())
        },
    },
    Param {
        name: "stream-node-max-entries",
        get: |o| o.stream_node_max_entries.to_string(),
        set: |o, v| {
            o.stream_node_max_entries = parse_int_in(v, 0, i64::MAX)? as u64;
            Ok(())
        },
    },
    Param {
        name: "list-max-listpack-size",
        get: |o| o.list_max_listpack_size.to_string(),
        set: |o, v| {
            o.list_max_listpack_size = parse_int_in(v, -5, INT_MAX)? as i32;
            if o.list_max_listpack_size == 0 {
                o.list_max_listpack_size = 1;
            }
            Ok(())
        },
    },
];

/// What a read-only parameter's value depends on.
pub(crate) struct Facts {
    /// The database has files (a snapshot and a log that every write goes to).
    pub(crate) persistent: bool,
}

struct Fixed {
    name: &'static str,
    value: fn(&Facts) -> &'static str,
}

/// Read-only parameters (see the module comment): values true of an embedded database.
const FIXED: &[Fixed] = &[
    // Every write of a file-backed database goes to its log (Redis's AOF); an in-memory one
    // has no files.
    Fixed { name: "appendonly", value: |f| if f.persistent { "yes" } else { "no" } },
    // One keyspace: SELECT takes only 0.
    Fixed { name: "databases", value: |_| "1" },
    // No connections: nothing idles out, nothing is counted against a client cap or a client
    // memory budget. `maxclients` reads as Redis's default, the figure connection pools size
    // themselves by; nestdb admits any number of handles.
    Fixed { name: "timeout", value: |_| "0" },
    Fixed { name: "maxclients", value: |_| "10000" },
    Fixed { name: "maxmemory-clients", value: |_| "0" },
    // Keyspace notifications are not implemented: none are sent.
    Fixed { name: "notify-keyspace-events", value: |_| "" },
    // Eviction frees what a write needs before the write runs, however long that takes
    // (Redis's 100 would mean "unbounded"; its default 10 bounds the work per command): the
    // value Redis reports by default.
    Fixed { name: "maxmemory-eviction-tenacity", value: |_| "10" },
];

fn normalize(name: &str) -> String {
    name.trim().to_ascii_lowercase().replace('_', "-")
}

impl Options {
    /// Set a parameter by its Redis name (`_` and `-` are interchangeable, case-insensitive).
    pub fn set(&mut self, name: &str, value: &str) -> Result<()> {
        let key = normalize(name);
        let p =
            PARAMS.iter().find(|p| p.name == key).ok_or_else(|| Error::InvalidArgument(format!("unknown config parameter '{name}'")))?;
        (p.set)(self, value).map_err(|e| Error::InvalidArgument(format!("invalid value for '{}': {e}", p.name)))
    }

    /// CONFIG SET of one parameter: Redis's refusal reason as is (the caller adds the
    /// "CONFIG SET failed" frame). `None` when the name is unknown.
    pub(crate) fn set_for_config(&mut self, name: &str, value: &str) -> Option<std::result::Result<(), String>> {
        let key = normalize(name);
        if let Some(p) = PARAMS.iter().find(|p| p.name == key) {
            return Some((p.set)(self, value));
        }
        FIXED.iter().any(|f| f.name == key).then(|| Err("can't set immutable config".to_string()))
    }

    /// The canonical name of a parameter (writable or read-only), if it exists.
    pub(crate) fn canonical_name(name: &str) -> Option<&'static str> {
        let key = normalize(name);
        PARAMS.iter().map(|p| p.name).chain(FIXED.iter().map(|f| f.name)).find(|n| *n == key)
    }

    /// Builder form of `set` for `hz`.
    pub fn hz(mut self, hz: u32) -> Self {
        self.hz = hz.clamp(1, 500);
        self
    }

    /// Builder form for `appendfsync`.
    pub fn appendfsync(mut self, policy: FsyncPolicy) -> Self {
        self.appendfsync = policy;
        self
    }

    /// Builder form for `auto-aof-rewrite-percentage` and `auto-aof-rewrite-min-size`.
    pub fn auto_rewrite(mut self, percentage: u32, min_size: u64) -> Self {
        self.auto_aof_rewrite_percentage = percentage;
        self.auto_aof_rewrite_min_size = min_size;
        self
    }

    /// Builder form for `save` points (`(seconds, changes)` pairs; empty disables them).
    pub fn save_points(mut self, points: Vec<(u64, u64)>) -> Self {
        self.save = points;
        self
    }

    /// Builder form for `maxmemory` (bytes, 0 = no cap) and `maxmemory-policy`.
    pub fn maxmemory(mut self, bytes: u64, policy: EvictionPolicy) -> Self {
        self.maxmemory = bytes;
        self.maxmemory_policy = policy;
        self
    }

    /// Builder form for `compression` and `compression-min-size`.
    pub fn compression(mut self, codec: Codec, min_size: u64) -> Self {
        self.compression = codec;
        self.compression_min_size = min_size.max(1);
        self
    }

    /// Parse redis.conf-style text: one `name value` per line, `#` comments, quotes allowed.
    pub fn from_config_text(text: &str) -> Result<Options> {
        let mut o = Options::default();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (name, value) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
            let value = value.trim().trim_matches('"');
            o.set(name, value).map_err(|e| match e {
                Error::InvalidArgument(m) => Error::InvalidArgument(format!("config line {}: {m}", n + 1)),
                e => e,
            })?;
        }
        Ok(o)
    }

    /// Current value of a parameter by name.
    pub fn get(&self, name: &str) -> Option<String> {
        let key = normalize(name);
        PARAMS.iter().find(|p| p.name == key).map(|p| (p.get)(self))
    }

    /// Current value of a writable or read-only parameter by name.
    pub(crate) fn get_with(&self, name: &str, facts: &Facts) -> Option<String> {
        let key = normalize(name);
        self.get(&key).or_else(|| FIXED.iter().find(|f| f.name == key).map(|f| (f.value)(facts).to_string()))
    }

    /// (name, value) of every parameter, writable or read-only, whose name matches the Redis
    /// glob `pattern` (lowercase).
    pub(crate) fn matching(&self, pattern: &[u8], facts: &Facts) -> Vec<(&'static str, String)> {
        let hit = |name: &str| crate::util::glob::glob_match(pattern, name.as_bytes());
        PARAMS
            .iter()
            .filter(|p| hit(p.name))
            .map(|p| (p.name, (p.get)(self)))
            .chain(FIXED.iter().filter(|f| hit(f.name)).map(|f| (f.name, (f.value)(facts).to_string())))
            .collect()
    }
}
