//! The value types a key can hold, one file per type where the type needs its own structure.
//!
//! `Value` is 40 bytes: a string is a `ValueBytes` (inline up to 38 bytes, so short values
//! need no allocation and no second cache miss). Containers are stored unboxed as two-encoding
//! enums (hash.rs, list.rs, set.rs, zset_value.rs): a small container is one compact
//! allocation (a listpack or intset), a large one a boxed general structure. A stream
//! (stream.rs) is boxed: it is rarely small and its header is large.

pub(crate) mod bytes;
pub(crate) mod compress;
pub(crate) mod hash;
pub(crate) mod list;
pub(crate) mod listpack;
pub(crate) mod set;
pub(crate) mod stream;
pub(crate) mod zset;
pub(crate) mod zset_value;

pub(crate) use bytes::{SmallBytes, ValueBytes};
pub(crate) use hash::HashValue;
pub(crate) use list::ListValue;
pub(crate) use set::SetValue;
pub(crate) use stream::StreamValue;
pub(crate) use zset_value::ZSetValue;

/// The value stored under a key.
pub(crate) enum Value {
    Str(ValueBytes),
    List(ListValue),
    Hash(HashValue),
    Set(SetValue),
    ZSet(ZSetValue),
    Stream(Box<StreamValue>),
    /// A MongoDB-style collection of documents (`docs::collection`); never evicted.
    Collection(Box<crate::docs::collection::Collection>),
}

impl Clone for Value {
    fn clone(&self) -> Self {
        match self {
            Value::Str(s) => Value::Str(s.clone()),
            Value::List(l) => Value::List(l.clone()),
            Value::Hash(h) => Value::Hash(h.clone()),
            Value::Set(s) => Value::Set(s.clone()),
            Value::ZSet(z) => Value::ZSet(z.clone()),
            Value::Stream(s) => Value::Stream(s.clone()),
            Value::Collection(c) => Value::Collection(c.clone()),
        }
    }
}

impl Value {
    /// A document collection (never evicted, no Redis command reads it as a value).
    pub(crate) fn is_collection(&self) -> bool {
        matches!(self, Value::Collection(_))
    }

    /// The name TYPE reports.
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::List(_) => "list",
            Value::Hash(_) => "hash",
            Value::Set(_) => "set",
            Value::ZSet(_) => "zset",
            Value::Stream(_) => "stream",
            Value::Collection(_) => "collection",
        }
    }

    /// The encoding OBJECT ENCODING reports, following Redis 7's size thresholds.
    pub(crate) fn encoding(&self) -> &'static str {
        match self {
            // By the raw value, as Redis would hold it; a packed value is never an integer
            // (it is longer than 38 bytes) and is "raw" beyond Redis's 44-byte embstr limit.
            // APPEND and SETRANGE leave it "raw" whatever it holds (see `types/bytes.rs`).
            Value::Str(s) if s.marked_raw() => "raw",
            Value::Str(s) => match s.plain() {
                Some(b) if b.len() <= 20 && crate::util::num::parse_i64_strict(b).is_some() => "int",
                _ if s.len() <= 44 => "embstr",
                _ => "raw",
            },
            Value::List(l) => l.encoding(),
            Value::Hash(h) => h.encoding(),
            Value::Set(s) => s.encoding(),
            Value::ZSet(z) => z.encoding(),
            Value::Stream(_) => "stream",
            Value::Collection(_) => "collection",
        }
    }
}

/// Memory the allocator spends on a heap block of `n` bytes (glibc malloc: 8-byte header,
/// 16-byte granularity, 32-byte minimum); 0 for no block. Used for every footprint, so
/// `used_memory` tracks what the process really spends, not just payload bytes.
pub(crate) const fn heap_cost(n: usize) -> usize {
    if n == 0 {
        0
    } else {
        let c = (n + 8 + 15) & !15;
        if c < 32 {
            32
        } else {
            c
        }
    }
}

/// Memory mimalloc spends on a block of `n` bytes (`node_alloc`; 0 for no block): its size
/// class, with no header. Classes are 8 bytes, then every 16 up to 64, then four per doubling
/// (80, 96, 112, 128, 160...: at most 12.5 % rounding) up to 64 KiB; a larger block gets a
/// page of its own, rounded to 4 KiB up to 512 KiB and to 64 KiB beyond (mimalloc 2's
/// layout). A unit test checks this against `mi_usable_size`.
pub(crate) const fn node_cost(n: usize) -> usize {
    const WORD: usize = size_of::<usize>();
    const LARGE_MAX: usize = 64 * 1024;
    let words = n.div_ceil(WORD);
    if n == 0 {
        0
    } else if words <= 1 {
        WORD
    } else if words <= 8 {
        words.next_multiple_of(2) * WORD
    } else if n <= LARGE_MAX {
        let w = words - 1;
        let step = 1 << (usize::BITS - 1 - w.leading_zeros() - 2);
        ((w / step) + 1) * step * WORD
    } else {
        let page = if n <= 512 * 1024 { 4096 } else { 64 * 1024 };
        n.div_ceil(page) * page
    }
}

/// A heap block of `n` (> 0) bytes from mimalloc for the keyspace's hash-table nodes, aligned
/// to 16 bytes; null when memory is exhausted. Why a second allocator: see `Cargo.toml`.
pub(crate) fn node_alloc(n: usize) -> *mut u8 {
    // SAFETY: any size may be asked for; a null result is the caller's to handle.
    unsafe { libmimalloc_sys::mi_malloc(n) }.cast()
}

/// Free a block from `node_alloc`.
///
/// # Safety
/// `p` came from `node_alloc` and is not used again.
pub(crate) unsafe fn node_free(p: *mut u8) {
    // SAFETY: mimalloc frees any of its blocks, from any thread (caller: `p` is one).
    unsafe { libmimalloc_sys::mi_free(p.cast()) }
}

impl Value {
    /// Heap bytes this value owns beyond its 40 inline bytes. O(1) for every type: containers
    /// keep their own running total.
    pub(crate) fn mem_usage(&self) -> usize {
        match self {
            // The heap block as stored: the packed size for a compressed value.
            Value::Str(s) => heap_cost(s.heap_size()),
            Value::List(l) => l.mem_usage(),
            Value::Hash(h) => h.mem_usage(),
            Value::Set(s) => s.mem_usage(),
            Value::ZSet(z) => z.mem_usage(),
            Value::Stream(s) => heap_cost(std::mem::size_of::<StreamValue>()) + s.mem_usage(),
            Value::Collection(c) => heap_cost(std::mem::size_of::<crate::docs::collection::Collection>()) + c.mem_usage(),
        }
    }
}

/// What a value holds compressed: (values stored packed, their raw bytes, their packed bytes).
/// O(1), like `mem_usage`; INFO memory reports the sums.
pub(crate) type PackedStats = [usize; 3];

impl Value {
    pub(crate) fn packed_stats(&self) -> PackedStats {
        match self {
            Value::Str(s) => s.packed().map_or([0; 3], |p| [1, s.len(), p.len()]),
            Value::Hash(h) => h.packed_stats(),
            _ => [0; 3],
        }
    }
}

/// Typed access to the container variants of `Value`.
pub(crate) trait Container: Sized + Default {
    fn of(v: &Value) -> Option<&Self>;
    fn of_mut(v: &mut Value) -> Option<&mut Self>;
    fn wrap(self) -> Value;
    fn is_empty_container(&self) -> bool;
    /// The keyspace may store this type packed in its node (`keyspace::PackedHashes`), so a
    /// reader may get a view instead of a reference into the node.
    const MAY_BE_PACKED: bool;
}

/// `Container` for a type stored unboxed in `Value::$variant` with an `is_empty` method.
macro_rules! container {
    ($ty:ty, $variant:ident, $packed:expr) => {
        impl Container for $ty {
            const MAY_BE_PACKED: bool = $packed;
            fn of(v: &Value) -> Option<&Self> {
                match v {
                    Value::$variant(x) => Some(x),
                    _ => None,
                }
            }
            fn of_mut(v: &mut Value) -> Option<&mut Self> {
                match v {
                    Value::$variant(x) => Some(x),
                    _ => None,
                }
            }
            fn wrap(self) -> Value {
                Value::$variant(self)
            }
            fn is_empty_container(&self) -> bool {
                self.is_empty()
            }
        }
    };
}

container!(ListValue, List, false);
container!(HashValue, Hash, true);
container!(SetValue, Set, false);
container!(ZSetValue, ZSet, false);

impl Container for StreamValue {
    const MAY_BE_PACKED: bool = false;
    fn of(v: &Value) -> Option<&Self> {
        match v {
            Value::Stream(x) => Some(x),
            _ => None,
        }
    }
    fn of_mut(v: &mut Value) -> Option<&mut Self> {
        match v {
            Value::Stream(x) => Some(x),
            _ => None,
        }
    }
    fn wrap(self) -> Value {
        Value::Stream(Box::new(self))
    }
    /// Never: Redis keeps a stream without entries (its last ID and groups) under its key.
    fn is_empty_container(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn value_is_40_bytes() {
        assert_eq!(std::mem::size_of::<super::Value>(), 40);
    }

    #[test]
    fn node_cost_is_mimallocs_block_size() {
        use super::{node_alloc, node_cost, node_free};
        let sizes = (1..=4096).chain((4097..=600_000).step_by(997)).chain([65_536, 65_537, 1 << 20, (1 << 20) + 1, 40 << 20]);
        for n in sizes {
            let p = node_alloc(n);
            assert!(!p.is_null() && p.cast::<u64>().is_aligned());
            // SAFETY: `p` is a live block from `node_alloc`, freed once.
            let usable = unsafe { libmimalloc_sys::mi_usable_size(p.cast()) };
            unsafe { node_free(p) };
            assert_eq!(node_cost(n), usable, "block of {n} bytes");
        }
        assert_eq!([0, 1, 8, 9, 17, 64, 65, 80, 81, 128, 129].map(node_cost), [0, 8, 8, 16, 32, 64, 80, 80, 96, 128, 160]);
    }
}
