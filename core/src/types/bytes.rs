//! `SmallBytes`: a byte string stored inline when short (keys, counters, short values) and
//! boxed otherwise.
//!
//! Why: most keys are short. Storing them inside the dict node instead of behind a pointer
//! saves one allocation per key and one cache miss per lookup (the key compare reads the node's
//! own cache line). 24 bytes: up to `INLINE` (22) bytes inline plus a length byte, or a
//! `Box<[u8]>`; the enum's tag leaves niche values that `Value` reuses, so `Value` stays 24 bytes.

use std::fmt;
use std::ops::Deref;

const INLINE: usize = 22;

/// A short-string-optimised, immutable byte string.
#[derive(Clone)]
pub(crate) enum SmallBytes {
    Inline(u8, [u8; INLINE]),
    Heap(Box<[u8]>),
}

impl SmallBytes {
    pub(crate) fn new(b: &[u8]) -> Self {
        if b.len() <= INLINE {
            let mut data = [0u8; INLINE];
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
    #[allow(dead_code)]
    pub(crate) fn heap_size(&self) -> usize {
        match self {
            SmallBytes::Inline(..) => 0,
            SmallBytes::Heap(b) => b.len(),
        }
    }
}

impl Deref for SmallBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl From<&[u8]> for SmallBytes {
    fn from(b: &[u8]) -> Self {
        SmallBytes::new(b)
    }
}

impl From<Vec<u8>> for SmallBytes {
    fn from(v: Vec<u8>) -> Self {
        if v.len() <= INLINE {
            SmallBytes::new(&v)
        } else {
            SmallBytes::Heap(v.into_boxed_slice())
        }
    }
}

impl From<Box<[u8]>> for SmallBytes {
    fn from(b: Box<[u8]>) -> Self {
        if b.len() <= INLINE {
            SmallBytes::new(&b)
        } else {
            SmallBytes::Heap(b)
        }
    }
}

impl PartialEq for SmallBytes {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for SmallBytes {}

impl fmt::Debug for SmallBytes {
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
        for n in [0usize, 1, 21, 22, 23, 100] {
            let v: Vec<u8> = (0..n as u8).collect();
            let s = SmallBytes::new(&v);
            assert_eq!(&*s, &v[..]);
            assert_eq!(matches!(s, SmallBytes::Inline(..)), n <= INLINE);
            assert_eq!(SmallBytes::from(v.clone()), s);
            assert_eq!(SmallBytes::from(v.clone().into_boxed_slice()), s);
        }
    }
}
