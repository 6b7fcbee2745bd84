//! `SmallBytes`: a byte string stored inline when short (hash table values, keys a command
//! tracks) and boxed otherwise; `ValueBytes`: a string value, inline when short, boxed, or
//! compressed. (Dict keys are not `SmallBytes`: a dict node stores its key's bytes in its own
//! block, see `keyspace/dict.rs`.)
//!
//! Why: most such strings are short. Storing them inline (inside the dict node that holds the
//! value) instead of behind a pointer saves one allocation each and one cache miss per read.
//! `SmallBytes` is 24 bytes: up to 22 bytes inline plus a length byte, or a `Box<[u8]>`.
//!
//! String values are a `ValueBytes` (40 bytes, so `Value` stays 40): values up to 38 bytes —
//! counters, ids, short JSON — live inside the keyspace node, so a GET touches one node
//! instead of a node and a value block, and the value costs no allocation. A longer value is
//! one exact-size heap block: plain, or a packed blob (`types/compress.rs`) when the live
//! `Compression` setting made its heap block smaller.
//!
//! OBJECT ENCODING is derived from the bytes (int, embstr up to 44 bytes, raw beyond), except
//! after APPEND or SETRANGE: Redis unshares the string into a raw sds then, so it reports `raw`
//! even for a short or integer-looking value, until the value is replaced. That marker costs
//! no space: an inline value keeps it in the top bit of its length byte (`RAW_MARK`; lengths
//! stop at 38), a 39..=44-byte value (the only heap lengths that are not raw anyway) is a
//! `HeapRaw` block instead of `Heap`. Snapshots do not keep it (Redis's own reload re-encodes
//! strings too).
//!
//! Invariants of `ValueBytes`: `Inline` holds at most `VALUE_INLINE` bytes and `Heap` more
//! (so equal unmarked bytes always have the same plain form); `HeapRaw` holds
//! `VALUE_INLINE + 1..=EMBSTR_MAX` bytes; a `Packed` blob was made by
//! `Compression::pack` (or checked by `try_unpack` when loaded), holds more than
//! `VALUE_INLINE` raw bytes and is strictly shorter than them. The raw length of every form
//! is O(1) (a packed blob's header carries it); reading a packed value decompresses it whole
//! (O(n), one allocation), reading a plain one borrows it.

use std::borrow::Cow;
use std::fmt;
use std::ops::Deref;

use super::compress::{self, Compression};
use super::heap_cost;

/// Inline capacity of the default (key-sized) `SmallBytes`.
const INLINE: usize = 22;

/// A short-string-optimised, immutable byte string, inline up to `N` bytes.
#[derive(Clone)]
pub(crate) enum SmallBytes<const N: usize = INLINE> {
    Inline(u8, [u8; N]),
    Heap(Box<[u8]>),
}

impl<const N: usize> SmallBytes<N> {
    pub(crate) fn new(b: &[u8]) -> Self {
        if b.len() <= N {
            let mut data = [0u8; N];
            data[..b.len()].copy_from_slice(b);
            SmallBytes::Inline(b.len() as u8, data)
        } else {
            SmallBytes::Heap(b.into())
        }
    }

    pub(crate) fn as_slice(&self) -> &[u8] {
        match self {
            SmallBytes::Inline(len, data) => &data[..*len as usize],
            SmallBytes::Heap(b) => b,
        }
    }

    /// Heap bytes owned besides the struct itself (0 when inline).
    pub(crate) fn heap_size(&self) -> usize {
        match self {
            SmallBytes::Inline(..) => 0,
            SmallBytes::Heap(b) => b.len(),
        }
    }
}

impl<const N: usize> Deref for SmallBytes<N> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl<const N: usize> From<&[u8]> for SmallBytes<N> {
    fn from(b: &[u8]) -> Self {
        SmallBytes::new(b)
    }
}

impl<const N: usize> From<Vec<u8>> for SmallBytes<N> {
    fn from(v: Vec<u8>) -> Self {
        if v.len() <= N {
            SmallBytes::new(&v)
        } else {
            SmallBytes::Heap(v.into_boxed_slice())
        }
    }
}

impl<const N: usize> From<Box<[u8]>> for SmallBytes<N> {
    fn from(b: Box<[u8]>) -> Self {
        if b.len() <= N {
            SmallBytes::new(&b)
        } else {
            SmallBytes::Heap(b)
        }
    }
}

impl<const N: usize> PartialEq for SmallBytes<N> {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl<const N: usize> Eq for SmallBytes<N> {}

impl<const N: usize> fmt::Debug for SmallBytes<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self))
    }
}

// ---------------------------------------------------------------------------
// ValueBytes: string values
// ---------------------------------------------------------------------------

/// Inline capacity of a string value (40 bytes with the length and the variant tag).
pub(crate) const VALUE_INLINE: usize = 38;

/// Redis's longest `embstr` (OBJ_ENCODING_EMBSTR_SIZE_LIMIT).
pub(crate) const EMBSTR_MAX: usize = 44;

/// The "raw" marker in an `Inline` length byte (see the module comment).
const RAW_MARK: u8 = 0x80;

/// A string value: inline, one plain heap block, or one compressed heap block. Readers see
/// the raw bytes through `bytes`/`with_bytes`/`to_vec`; `len` is the raw length.
#[derive(Clone)]
pub(crate) enum ValueBytes {
    /// Length (with `RAW_MARK` when marked raw) and bytes.
    Inline(u8, [u8; VALUE_INLINE]),
    Heap(Box<[u8]>),
    /// A plain 39..=44-byte value marked raw.
    HeapRaw(Box<[u8]>),
    Packed(Box<[u8]>),
}

impl ValueBytes {
    /// `b` stored plain (never compressed).
    pub(crate) fn new(b: &[u8]) -> Self {
        if b.len() <= VALUE_INLINE {
            Self::inline(b)
        } else {
            ValueBytes::Heap(b.into())
        }
    }

    /// `b` stored as the compression setting `c` says: packed when it is at least
    /// `c.min_size` bytes, too long to be inline, and packing makes its heap block smaller.
    pub(crate) fn store(b: &[u8], c: Compression) -> Self {
        if b.len() <= VALUE_INLINE {
            return Self::inline(b);
        }
        Self::try_pack(b, c).unwrap_or_else(|| ValueBytes::Heap(b.into()))
    }

    /// `store` for an owned value (no copy when it stays plain).
    pub(crate) fn store_vec(v: Vec<u8>, c: Compression) -> Self {
        if v.len() <= VALUE_INLINE {
            return Self::inline(&v);
        }
        Self::try_pack(&v, c).unwrap_or_else(|| ValueBytes::Heap(v.into_boxed_slice()))
    }

    /// A packed blob read from a snapshot: None unless it is well-formed, decodes to exactly
    /// the raw length its header states, and keeps the invariants above (so a corrupt blob is
    /// refused at load time, never met by a reader). Costs one decompression, not a
    /// recompression.
    pub(crate) fn from_packed(blob: &[u8]) -> Option<Self> {
        /// No codec expands more than this (deflate's maximum ratio is 1032:1, LZ4's 255:1):
        /// a header claiming more is corrupt and is refused before anything is allocated.
        const MAX_RATIO: usize = 1032;
        if blob.len() < 5 {
            return None;
        }
        let n = compress::raw_len(blob);
        if n <= VALUE_INLINE || n <= blob.len() || n / MAX_RATIO > blob.len() {
            return None;
        }
        compress::try_unpack(blob)?;
        Some(ValueBytes::Packed(blob.into()))
    }

    fn inline(b: &[u8]) -> Self {
        let mut data = [0u8; VALUE_INLINE];
        data[..b.len()].copy_from_slice(b);
        ValueBytes::Inline(b.len() as u8, data)
    }

    /// `v` as APPEND and SETRANGE leave a value: marked raw (OBJECT ENCODING says `raw`
    /// whatever its bytes). Longer than `EMBSTR_MAX` it is raw anyway and stored as `store_vec`
    /// would; up to that it stays plain.
    pub(crate) fn store_raw(v: Vec<u8>, c: Compression) -> Self {
        match v.len() {
            n if n <= VALUE_INLINE => {
                let ValueBytes::Inline(len, data) = Self::inline(&v) else { unreachable!() };
                ValueBytes::Inline(len | RAW_MARK, data)
            }
            n if n <= EMBSTR_MAX => ValueBytes::HeapRaw(v.into_boxed_slice()),
            _ => Self::store_vec(v, c),
        }
    }

    /// Whether OBJECT ENCODING must say `raw` whatever the bytes (see `store_raw`).
    pub(crate) fn marked_raw(&self) -> bool {
        match self {
            ValueBytes::Inline(len, _) => len & RAW_MARK != 0,
            ValueBytes::HeapRaw(_) => true,
            ValueBytes::Heap(_) | ValueBytes::Packed(_) => false,
        }
    }

    fn try_pack(b: &[u8], c: Compression) -> Option<Self> {
        let packed = c.pack(b)?;
        (heap_cost(packed.len()) < heap_cost(b.len())).then_some(ValueBytes::Packed(packed))
    }

    /// Raw length in bytes (STRLEN): O(1) for every form.
    pub(crate) fn len(&self) -> usize {
        match self {
            ValueBytes::Inline(len, _) => (len & !RAW_MARK) as usize,
            ValueBytes::Heap(b) | ValueBytes::HeapRaw(b) => b.len(),
            ValueBytes::Packed(p) => compress::raw_len(p),
        }
    }

    /// The bytes when stored plain (inline or heap), None when packed.
    #[inline]
    pub(crate) fn plain(&self) -> Option<&[u8]> {
        match self {
            ValueBytes::Inline(len, data) => Some(&data[..(len & !RAW_MARK) as usize]),
            ValueBytes::Heap(b) | ValueBytes::HeapRaw(b) => Some(b),
            ValueBytes::Packed(_) => None,
        }
    }

    /// Start loading the heap block of a value stored out of line (a hint; inline values have
    /// none). Its first line only: a walk over many values issues this well ahead.
    #[inline]
    pub(crate) fn prefetch(&self) {
        match self {
            ValueBytes::Inline(..) => {}
            ValueBytes::Heap(b) | ValueBytes::HeapRaw(b) | ValueBytes::Packed(b) => crate::util::prefetch(b.as_ptr()),
        }
    }

    /// The packed blob (`compress` layout) when stored compressed.
    pub(crate) fn packed(&self) -> Option<&[u8]> {
        match self {
            ValueBytes::Packed(p) => Some(p),
            _ => None,
        }
    }

    /// The raw bytes: borrowed when plain, decompressed when packed.
    #[inline]
    pub(crate) fn bytes(&self) -> Cow<'_, [u8]> {
        match self {
            ValueBytes::Inline(len, data) => Cow::Borrowed(&data[..(len & !RAW_MARK) as usize]),
            ValueBytes::Heap(b) | ValueBytes::HeapRaw(b) => Cow::Borrowed(b),
            ValueBytes::Packed(p) => Cow::Owned(compress::unpack(p)),
        }
    }

    /// Run `f` on the raw bytes (borrowed when plain, a temporary when packed).
    #[inline]
    pub(crate) fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        f(&self.bytes())
    }

    /// The raw bytes, owned (one copy when plain, one decompression when packed).
    #[inline]
    pub(crate) fn to_vec(&self) -> Vec<u8> {
        self.bytes().into_owned()
    }

    /// Length of the heap block owned (0 when inline): the packed size when compressed.
    pub(crate) fn heap_size(&self) -> usize {
        match self {
            ValueBytes::Inline(..) => 0,
            ValueBytes::Heap(b) | ValueBytes::HeapRaw(b) | ValueBytes::Packed(b) => b.len(),
        }
    }
}

impl PartialEq for ValueBytes {
    /// Equal raw bytes (whatever the forms).
    fn eq(&self, other: &Self) -> bool {
        match (self.plain(), other.plain()) {
            (Some(a), Some(b)) => a == b,
            _ => self.len() == other.len() && self.bytes() == other.bytes(),
        }
    }
}

impl Eq for ValueBytes {}

impl fmt::Debug for ValueBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tag = if self.packed().is_some() { "packed " } else { "" };
        write!(f, "{tag}{:?}", String::from_utf8_lossy(&self.bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_and_round_trip() {
        assert_eq!(std::mem::size_of::<SmallBytes>(), 24);
        assert_eq!(std::mem::size_of::<ValueBytes>(), 40);
        for n in [0usize, 1, 21, 22, 23, 100] {
            let v: Vec<u8> = (0..n as u8).collect();
            let s: SmallBytes = SmallBytes::new(&v);
            assert_eq!(&*s, &v[..]);
            assert_eq!(matches!(s, SmallBytes::Inline(..)), n <= INLINE);
            assert_eq!(SmallBytes::from(v.clone()), s);
            assert_eq!(SmallBytes::from(v.clone().into_boxed_slice()), s);
        }
    }

    fn json(n: usize) -> Vec<u8> {
        let mut v: Vec<u8> = (0..).flat_map(|i| format!("{{\"id\":{i},\"name\":\"user\",\"ok\":true}}").into_bytes()).take(n).collect();
        v.truncate(n);
        v
    }

    fn noise(n: usize) -> Vec<u8> {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    const LZ4: Compression = Compression { codec: crate::config::Codec::Lz4, min_size: 16, slot: 0 };
    const ZLIB: Compression = Compression { codec: crate::config::Codec::Zlib, min_size: 16, slot: 0 };

    #[test]
    fn value_forms() {
        for c in [LZ4, ZLIB, Compression::OFF] {
            for n in [0usize, 1, 16, 37, 38, 39, 40, 44, 45, 100, 1024, 5000, 70_000] {
                for raw in [json(n), noise(n)] {
                    for v in [ValueBytes::store(&raw, c), ValueBytes::store_vec(raw.clone(), c)] {
                        assert_eq!(v.len(), n);
                        assert_eq!(v.to_vec(), raw);
                        assert_eq!(&*v.bytes(), &raw[..]);
                        assert_eq!(v.with_bytes(<[u8]>::to_vec), raw);
                        assert_eq!(v, ValueBytes::new(&raw), "equality is by raw bytes");
                        // Inline up to 38 bytes whatever the setting; packed only when the
                        // setting allows and the heap block really shrinks.
                        match &v {
                            ValueBytes::Inline(..) => assert!(n <= VALUE_INLINE),
                            ValueBytes::HeapRaw(_) => unreachable!("only store_raw marks"),
                            ValueBytes::Heap(b) => {
                                assert!(n > VALUE_INLINE);
                                assert!(c.pack(&raw).is_none_or(|p| heap_cost(p.len()) >= heap_cost(n)));
                                assert_eq!(v.heap_size(), b.len());
                            }
                            ValueBytes::Packed(p) => {
                                assert!(c != Compression::OFF && n > VALUE_INLINE && p.len() < n);
                                assert!(heap_cost(v.heap_size()) < heap_cost(n));
                                assert_eq!(v.plain(), None);
                                assert_eq!(ValueBytes::from_packed(p).as_ref(), Some(&v));
                            }
                        }
                        assert_eq!(v.plain().is_some(), v.packed().is_none());
                    }
                }
            }
        }
        // JSON-like 1 KiB compresses well with either codec; noise stays plain.
        for c in [LZ4, ZLIB] {
            let v = ValueBytes::store(&json(1024), c);
            assert!(v.packed().is_some() && v.heap_size() < 1024 / 2, "{c:?}: {}", v.heap_size());
            assert!(matches!(ValueBytes::store(&noise(1024), c), ValueBytes::Heap(_)));
        }
        // Below the threshold: plain.
        let big = Compression { min_size: 2000, ..LZ4 };
        assert!(matches!(ValueBytes::store(&json(1999), big), ValueBytes::Heap(_)));
        assert!(matches!(ValueBytes::store(&json(2000), big), ValueBytes::Packed(_)));
    }

    #[test]
    fn raw_mark() {
        assert_eq!(std::mem::size_of::<crate::types::Value>(), 40);
        for n in [0usize, 1, 3, 20, 37, 38, 39, 44, 45, 100, 5000] {
            let raw = json(n);
            let marked = ValueBytes::store_raw(raw.clone(), LZ4);
            assert_eq!(marked.len(), n);
            assert_eq!(marked.to_vec(), raw);
            if n <= EMBSTR_MAX {
                assert_eq!(marked.plain(), Some(&raw[..]), "a marked value stays plain");
            }
            assert_eq!(marked, ValueBytes::store(&raw, LZ4), "equality is by raw bytes");
            // Marked while Redis would still call the bytes int/embstr; past 44 bytes it is
            // raw by length and stored as any value is.
            assert_eq!(marked.marked_raw(), n <= EMBSTR_MAX, "{n}");
            assert!(!ValueBytes::store(&raw, LZ4).marked_raw());
            assert!(!ValueBytes::store_vec(raw.clone(), LZ4).marked_raw());
            assert_eq!(marked.clone().marked_raw(), marked.marked_raw());
            if n <= EMBSTR_MAX {
                assert_eq!(marked.heap_size(), if n <= VALUE_INLINE { 0 } else { n });
            }
        }
    }

    #[test]
    fn from_packed_refuses_what_store_would_not_make() {
        let packed = LZ4.pack(&json(1000)).unwrap();
        assert!(ValueBytes::from_packed(&packed).is_some());
        // Truncated, corrupt header or data, unknown codec.
        assert!(ValueBytes::from_packed(&packed[..4]).is_none());
        assert!(ValueBytes::from_packed(&packed[..packed.len() - 1]).is_none());
        let mut bad = packed.to_vec();
        bad[1] ^= 1;
        assert!(ValueBytes::from_packed(&bad).is_none());
        bad = packed.to_vec();
        bad[0] = 7;
        assert!(ValueBytes::from_packed(&bad).is_none());
        // A claimed raw length beyond any codec's ratio is refused before decompressing.
        bad = packed.to_vec();
        bad[1..5].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(ValueBytes::from_packed(&bad).is_none());
        // Short raw values (they would be inline) and blobs not smaller than their value.
        let short = Compression { min_size: 1, ..LZ4 }.pack(&[b'a'; 30]).unwrap();
        assert!(ValueBytes::from_packed(&short).is_none());
        let mut stored = vec![1u8];
        stored.extend_from_slice(&40u32.to_le_bytes());
        stored.extend_from_slice(&[0x0f; 40]); // claims 40 raw bytes in 45
        assert!(ValueBytes::from_packed(&stored).is_none());
    }
}
