//! `SmallBytes`: a byte string stored inline when short (keys, counters, short values) and
//! boxed otherwise.
//!
//! Why: most keys are short. Storing them inside the dict node instead of behind a pointer
//! saves one allocation per key and one cache miss per lookup (the key compare reads the node's
//! own cache line). `SmallBytes` (keys, hash fields, set members) is 24 bytes: up to 22 bytes
//! inline plus a length byte, or a `Box<[u8]>`. String values use `SmallBytes<38>` (40 bytes):
//! values up to 38 bytes — counters, ids, short JSON — live inside the keyspace node, so a GET
//! touches one node instead of a node and a value block, and the value costs no allocation.

use std::fmt;
use std::ops::Deref;

/// Inline capacity of the default (key-sized) `SmallBytes`.
const INLINE: usize = 22;

/// A string value: inline up to 38 bytes.
pub(crate) type ValueBytes = SmallBytes<38>;

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
}
