//! The value types a key can hold, one file per type where the type needs its own structure.
//!
//! `Value` is 40 bytes: a string is a `ValueBytes` (inline up to 38 bytes, so short values
//! need no allocation and no second cache miss). Containers are stored unboxed as two-encoding
//! enums (hash.rs, list.rs, set.rs, zset_value.rs): a small container is one compact
//! allocation (a listpack or intset), a large one a boxed general structure.

pub(crate) mod bytes;
pub(crate) mod compress;
pub(crate) mod hash;
pub(crate) mod list;
pub(crate) mod listpack;
pub(crate) mod set;
pub(crate) mod zset;
pub(crate) mod zset_value;

pub(crate) use bytes::{SmallBytes, ValueBytes};
pub(crate) use hash::HashValue;
pub(crate) use list::ListValue;
pub(crate) use set::SetValue;
pub(crate) use zset_value::ZSetValue;

/// The value stored under a key.
pub(crate) enum Value {
    Str(ValueBytes),
    List(ListValue),
    Hash(HashValue),
    Set(SetValue),
    ZSet(ZSetValue),
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
}

/// `Container` for a type stored unboxed in `Value::$variant` with an `is_empty` method.
macro_rules! container {
    ($ty:ty, $variant:ident) => {
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
                Value::$variant(self)
            }
            fn is_empty_container(&self) -> bool {
                self.is_empty()
            }
        }
    };
}

container!(ListValue, List);
container!(HashValue, Hash);
container!(SetValue, Set);
container!(ZSetValue, ZSet);

#[cfg(test)]
mod tests {
    #[test]
    fn value_is_40_bytes() {
        assert_eq!(std::mem::size_of::<super::Value>(), 40);
    }
}
