//! `Listpack`: a sequence of byte strings packed into one exact-size allocation, the compact
//! encoding of small hashes, sets, sorted sets and list nodes (after Redis's listpack).
//!
//! Layout: `count:u32le entry*`, where `entry := len:varint data backlen`. `backlen` is the
//! byte length of `len:varint data` written so it can be read right to left (7 bits per byte,
//! least significant group rightmost, high bit set on every byte but the leftmost), which makes
//! the sequence walkable from both ends. A position is a byte offset of an entry's start.
//!
//! Cost model: lookups and edits are O(bytes) (a scan, a memmove, a reallocation to the exact
//! new size); callers keep listpacks small (the `*-max-listpack-*` limits) so that is cheap.
//! Memory: 16 bytes inline (a boxed slice) plus `heap_cost(4 + payload + 2-3 bytes per entry)`.

use super::heap_cost;

const HEADER: usize = 4;

/// A packed sequence of byte strings.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Listpack {
    buf: Box<[u8]>,
}

impl Default for Listpack {
    fn default() -> Self {
        Listpack::new()
    }
}

fn varint_len(mut v: usize) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

fn put_varint(out: &mut Vec<u8>, mut v: usize) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_varint(buf: &[u8], mut off: usize) -> (usize, usize) {
    let (mut v, mut shift) = (0usize, 0);
    loop {
        let b = buf[off];
        off += 1;
        v |= ((b & 0x7f) as usize) << shift;
        if b & 0x80 == 0 {
            return (v, off);
        }
        shift += 7;
    }
}

/// Append `v` as a right-to-left readable varint.
fn put_backlen(out: &mut Vec<u8>, v: usize) {
    let n = varint_len(v);
    for i in (0..n).rev() {
        let group = ((v >> (7 * i)) & 0x7f) as u8;
        out.push(if i == n - 1 { group } else { group | 0x80 });
    }
    // The leftmost byte has no continuation bit; every other byte has it set, read leftwards.
    if n > 1 {
        let start = out.len() - n;
        out[start] &= 0x7f;
        for b in &mut out[start + 1..] {
            *b |= 0x80;
        }
    }
}

/// Read the backlen ending just before `end`: (value, offset of its first byte).
fn get_backlen(buf: &[u8], end: usize) -> (usize, usize) {
    let (mut v, mut shift, mut off) = (0usize, 0, end);
    loop {
        off -= 1;
        let b = buf[off];
        v |= ((b & 0x7f) as usize) << shift;
        if b & 0x80 == 0 {
            return (v, off);
        }
        shift += 7;
    }
}

/// The encoded size of an entry holding `n` data bytes.
fn entry_size(n: usize) -> usize {
    let body = varint_len(n) + n;
    body + varint_len(body)
}

fn encode_entry(out: &mut Vec<u8>, data: &[u8]) {
    let start = out.len();
    put_varint(out, data.len());
    out.extend_from_slice(data);
    let body = out.len() - start;
    put_backlen(out, body);
}

impl Listpack {
    pub(crate) fn new() -> Self {
        Listpack { buf: vec![0u8; HEADER].into_boxed_slice() }
    }

    /// A listpack holding `items` in order.
    pub(crate) fn from_items<'a>(items: impl IntoIterator<Item = &'a [u8]>) -> Self {
        let mut out = vec![0u8; HEADER];
        let mut count = 0u32;
        for it in items {
            encode_entry(&mut out, it);
            count += 1;
        }
        out[..HEADER].copy_from_slice(&count.to_le_bytes());
        Listpack { buf: out.into_boxed_slice() }
    }

    /// Number of entries.
    pub(crate) fn len(&self) -> usize {
        u32::from_le_bytes(self.buf[..HEADER].try_into().expect("header")) as usize
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn set_len(&mut self, n: usize) {
        self.buf[..HEADER].copy_from_slice(&(n as u32).to_le_bytes());
    }

    /// Encoded size in bytes (header included).
    pub(crate) fn byte_len(&self) -> usize {
        self.buf.len()
    }

    /// Heap bytes owned (the allocation, as the allocator rounds it).
    pub(crate) fn mem_usage(&self) -> usize {
        heap_cost(self.buf.len())
    }

    /// Offset of the first entry, None when empty.
    pub(crate) fn first(&self) -> Option<usize> {
        (self.buf.len() > HEADER).then_some(HEADER)
    }

    /// Offset of the last entry, None when empty.
    pub(crate) fn last(&self) -> Option<usize> {
        self.prev(self.buf.len())
    }

    /// Offset of the entry after the one at `off`, None at the end.
    pub(crate) fn next(&self, off: usize) -> Option<usize> {
        let (n, data) = get_varint(&self.buf, off);
        let body_end = data + n;
        let next = body_end + varint_len(body_end - off);
        (next < self.buf.len()).then_some(next)
    }

    /// Offset of the entry before the one at `off` (or before the end, `off == byte_len()`).
    pub(crate) fn prev(&self, off: usize) -> Option<usize> {
        if off <= HEADER {
            return None;
        }
        let (body, back_start) = get_backlen(&self.buf, off);
        Some(back_start - body)
    }

    /// The data of the entry at `off`.
    pub(crate) fn get(&self, off: usize) -> &[u8] {
        let (n, data) = get_varint(&self.buf, off);
        &self.buf[data..data + n]
    }

    /// Offset of entry number `index` (0-based from the head), walking from the nearer end.
    pub(crate) fn offset_of(&self, index: usize) -> Option<usize> {
        let n = self.len();
        if index >= n {
            return None;
        }
        if index <= n / 2 {
            let mut off = self.first()?;
            for _ in 0..index {
                off = self.next(off)?;
            }
            Some(off)
        } else {
            let mut off = self.last()?;
            for _ in 0..(n - 1 - index) {
                off = self.prev(off)?;
            }
            Some(off)
        }
    }

    /// Entries from the head.
    pub(crate) fn iter(&self) -> Iter<'_> {
        Iter { lp: self, front: HEADER, back: self.buf.len() }
    }

    /// Rebuild with the bytes in `start..end` replaced by `insert` (already encoded entries),
    /// adjusting the count by `delta`.
    fn splice(&mut self, start: usize, end: usize, insert: &[u8], delta: isize) {
        let mut out = Vec::with_capacity(self.buf.len() - (end - start) + insert.len());
        out.extend_from_slice(&self.buf[..start]);
        out.extend_from_slice(insert);
        out.extend_from_slice(&self.buf[end..]);
        let n = (self.len() as isize + delta) as usize;
        self.buf = out.into_boxed_slice();
        self.set_len(n);
    }

    fn entry_end(&self, off: usize) -> usize {
        let (n, data) = get_varint(&self.buf, off);
        let body_end = data + n;
        body_end + varint_len(body_end - off)
    }

    /// Insert `items` before the entry at `off` (`off == byte_len()` appends).
    pub(crate) fn insert_at(&mut self, off: usize, items: &[&[u8]]) {
        let mut enc = Vec::with_capacity(items.iter().map(|i| entry_size(i.len())).sum());
        for it in items {
            encode_entry(&mut enc, it);
        }
        self.splice(off, off, &enc, items.len() as isize);
    }

    pub(crate) fn push_back(&mut self, item: &[u8]) {
        self.insert_at(self.buf.len(), &[item]);
    }

    /// Remove `count` entries starting at `off`.
    pub(crate) fn remove_at(&mut self, off: usize, count: usize) {
        let mut end = off;
        for _ in 0..count {
            end = self.entry_end(end);
        }
        self.splice(off, end, &[], -(count as isize));
    }

    /// Replace the data of the entry at `off`.
    pub(crate) fn replace_at(&mut self, off: usize, item: &[u8]) {
        let end = self.entry_end(off);
        let mut enc = Vec::with_capacity(entry_size(item.len()));
        encode_entry(&mut enc, item);
        self.splice(off, end, &enc, 0);
    }

    /// Offset of the first entry equal to `item` at an index that is a multiple of `step`
    /// (step 2 searches the fields of field/value pairs).
    pub(crate) fn find(&self, item: &[u8], step: usize) -> Option<usize> {
        let mut cur = self.first();
        let mut i = 0usize;
        while let Some(off) = cur {
            if i.is_multiple_of(step) && self.get(off) == item {
                return Some(off);
            }
            i += 1;
            cur = self.next(off);
        }
        None
    }
}

/// Double-ended iterator over a listpack's entries.
pub(crate) struct Iter<'a> {
    lp: &'a Listpack,
    /// Offset of the next entry from the front; `back` is the end of the next from the back.
    front: usize,
    back: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        if self.front >= self.back {
            return None;
        }
        let off = self.front;
        self.front = self.lp.entry_end(off);
        Some(self.lp.get(off))
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.front >= self.back {
            return None;
        }
        let off = self.lp.prev(self.back)?;
        self.back = off;
        Some(self.lp.get(off))
    }
}

impl std::fmt::Debug for Listpack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter().map(String::from_utf8_lossy)).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn layout_edits_and_both_directions() {
        assert_eq!(std::mem::size_of::<Listpack>(), 16);
        let big = vec![b'x'; 300];
        let mut lp = Listpack::from_items([b"a".as_slice(), b"", &big]);
        assert_eq!(lp.len(), 3);
        assert_eq!(lp.iter().collect::<Vec<_>>(), vec![b"a".as_slice(), b"", &big]);
        assert_eq!(lp.iter().rev().collect::<Vec<_>>(), vec![big.as_slice(), b"", b"a"]);
        lp.insert_at(lp.first().unwrap(), &[b"first"]);
        lp.push_back(b"last");
        let off = lp.find(b"", 1).unwrap();
        lp.replace_at(off, b"middle");
        assert_eq!(lp.iter().collect::<Vec<_>>(), vec![b"first".as_slice(), b"a", b"middle", &big, b"last"]);
        let off = lp.offset_of(1).unwrap();
        lp.remove_at(off, 2);
        assert_eq!(lp.iter().collect::<Vec<_>>(), vec![b"first".as_slice(), &big, b"last"]);
        assert_eq!(lp.find(b"last", 2), Some(lp.offset_of(2).unwrap()));
        assert_eq!(lp.find(&big, 2), None, "odd index is not searched with step 2");
        assert_eq!(lp.byte_len(), 4 + entry_size(5) + entry_size(300) + entry_size(4));
    }

    proptest! {
        #[test]
        fn matches_a_vec(ops in proptest::collection::vec((0u8..4, 0usize..40, proptest::collection::vec(any::<u8>(), 0..200)), 0..60)) {
            let mut model: Vec<Vec<u8>> = Vec::new();
            let mut lp = Listpack::new();
            for (op, at, data) in ops {
                match op {
                    0 => { let i = at.min(model.len()); let off = lp.offset_of(i).unwrap_or(lp.byte_len()); lp.insert_at(off, &[&data]); model.insert(i, data); }
                    1 if !model.is_empty() => { let i = at % model.len(); lp.remove_at(lp.offset_of(i).unwrap(), 1); model.remove(i); }
                    2 if !model.is_empty() => { let i = at % model.len(); lp.replace_at(lp.offset_of(i).unwrap(), &data); model[i] = data; }
                    _ => { lp.push_back(&data); model.push(data); }
                }
                prop_assert_eq!(lp.len(), model.len());
                prop_assert_eq!(lp.iter().map(<[u8]>::to_vec).collect::<Vec<_>>(), model.clone());
                let mut rev = model.clone();
                rev.reverse();
                prop_assert_eq!(lp.iter().rev().map(<[u8]>::to_vec).collect::<Vec<_>>(), rev);
            }
        }
    }
}
