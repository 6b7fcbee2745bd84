//! `Listpack`: a sequence of byte strings packed into one exact-size allocation, the compact
//! encoding of small hashes, sets, sorted sets and list nodes (after Redis's listpack).
//!
//! Layout: `count:u32le entry*`, where `entry := len:varint data backlen`. `backlen` is the
//! byte length of `len:varint data` written so it can be read right to left (7 bits per byte,
//! least significant group rightmost, high bit set on every byte but the leftmost), which makes
//! the sequence walkable from both ends. A position is a byte offset of an entry's start.
//!
//! `Listpack<false>` (`ForwardListpack`) leaves `backlen` out: one byte less per short entry,
//! for the users that never walk backwards (hashes: a 5-field hash of short strings takes 74
//! bytes instead of 84, an 80-byte block instead of a 96-byte one). It has no `last`/`prev`
//! and its iterator goes forward only; `offset_of` walks from the head.
//!
//! Storage: one block from the node allocator (`types::node_alloc`, mimalloc), exactly the
//! encoded length, so its cost is `node_cost(byte_len)` (mimalloc's size classes, no header).
//!
//! Cost model: lookups and edits are O(bytes) (a scan, a copy into a block of the new size);
//! callers keep listpacks small (the `*-max-listpack-*` limits) so that is cheap.
//! Memory: 16 bytes inline plus `node_cost(4 + payload + overhead)`, the overhead per entry
//! being its length varint (1 byte up to 127 data bytes) and, with back-lengths, 1-3 more.

use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;

use super::{node_alloc, node_cost, node_free};

const HEADER: usize = 4;

/// An exact-size byte block from the node allocator (a `Box<[u8]>` from mimalloc).
struct Block {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: a `Block` owns its bytes exclusively, as a `Box<[u8]>` would.
unsafe impl Send for Block {}
// SAFETY: as above; shared access hands out `&[u8]` only.
unsafe impl Sync for Block {}

impl Block {
    /// A block holding the concatenation of `parts`.
    fn concat(parts: &[&[u8]]) -> Block {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        let ptr = NonNull::new(node_alloc(len.max(1))).unwrap_or_else(|| std::alloc::handle_alloc_error(block_layout(len)));
        let mut at = 0;
        for p in parts {
            // SAFETY: the block has room for `len` bytes; the parts fill it in order, and a
            // fresh block overlaps none of them.
            unsafe { std::ptr::copy_nonoverlapping(p.as_ptr(), ptr.as_ptr().add(at), p.len()) };
            at += p.len();
        }
        Block { ptr, len }
    }
}

fn block_layout(len: usize) -> std::alloc::Layout {
    std::alloc::Layout::from_size_align(len.max(1), 8).expect("listpack block layout")
}

impl Drop for Block {
    fn drop(&mut self) {
        // SAFETY: the block came from `node_alloc` and is freed once, here.
        unsafe { node_free(self.ptr.as_ptr()) }
    }
}

impl Deref for Block {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: the block holds `len` initialized bytes (written by `concat`).
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl DerefMut for Block {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as for `deref`; `&mut self` makes the access exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl Clone for Block {
    fn clone(&self) -> Self {
        Block::concat(&[self])
    }
}

/// A packed sequence of byte strings; `BACK`: entries carry their back-length (walkable from
/// the tail).
#[derive(Clone)]
pub(crate) struct Listpack<const BACK: bool = true> {
    buf: Block,
}

/// A listpack walked from the head only (no back-lengths): the hash encoding.
pub(crate) type ForwardListpack = Listpack<false>;

impl<const BACK: bool> PartialEq for Listpack<BACK> {
    fn eq(&self, other: &Self) -> bool {
        *self.buf == *other.buf
    }
}

impl<const BACK: bool> Eq for Listpack<BACK> {}

impl<const BACK: bool> Default for Listpack<BACK> {
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

/// The encoded size of an entry holding `n` data bytes (with its back-length if `back`).
fn entry_size(n: usize, back: bool) -> usize {
    let body = varint_len(n) + n;
    body + if back { varint_len(body) } else { 0 }
}

fn encode_entry(out: &mut Vec<u8>, data: &[u8], back: bool) {
    let start = out.len();
    put_varint(out, data.len());
    out.extend_from_slice(data);
    if back {
        let body = out.len() - start;
        put_backlen(out, body);
    }
}

impl<const BACK: bool> Listpack<BACK> {
    pub(crate) fn new() -> Self {
        Listpack { buf: Block::concat(&[&[0u8; HEADER]]) }
    }

    /// A listpack holding `items` in order.
    pub(crate) fn from_items<'a>(items: impl IntoIterator<Item = &'a [u8]>) -> Self {
        let mut out = vec![0u8; HEADER];
        let mut count = 0u32;
        for it in items {
            encode_entry(&mut out, it, BACK);
            count += 1;
        }
        out[..HEADER].copy_from_slice(&count.to_le_bytes());
        Listpack { buf: Block::concat(&[&out]) }
    }

    /// The encoded bytes (what `from_bytes` and `borrow_bytes` take).
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// A listpack holding a copy of `bytes`, the `as_bytes` of one.
    pub(crate) fn from_bytes(bytes: &[u8]) -> Self {
        debug_assert!(bytes.len() >= HEADER);
        Listpack { buf: Block::concat(&[bytes]) }
    }

    /// A listpack over `bytes` (the `as_bytes` of one) that does not own them: a read-only
    /// view of a listpack stored elsewhere (a packed keyspace node, `keyspace::PackedHashes`).
    ///
    /// # Safety
    /// The result is never dropped, never mutated, and not used after `bytes` goes away.
    pub(crate) unsafe fn borrow_bytes(bytes: &[u8]) -> std::mem::ManuallyDrop<Self> {
        debug_assert!(bytes.len() >= HEADER);
        std::mem::ManuallyDrop::new(Listpack { buf: Block { ptr: NonNull::from(bytes).cast(), len: bytes.len() } })
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

    /// Heap bytes owned (the block, as the allocator rounds it).
    pub(crate) fn mem_usage(&self) -> usize {
        node_cost(self.buf.len())
    }

    /// Offset of the first entry, None when empty.
    pub(crate) fn first(&self) -> Option<usize> {
        (self.buf.len() > HEADER).then_some(HEADER)
    }

    /// Offset of the entry after the one at `off`, None at the end.
    pub(crate) fn next(&self, off: usize) -> Option<usize> {
        let next = self.entry_end(off);
        (next < self.buf.len()).then_some(next)
    }

    /// The data of the entry at `off`.
    pub(crate) fn get(&self, off: usize) -> &[u8] {
        let (n, data) = get_varint(&self.buf, off);
        &self.buf[data..data + n]
    }

    /// Offset of entry number `index` (0-based from the head), walking from the nearer end
    /// (from the head when entries have no back-length).
    pub(crate) fn offset_of(&self, index: usize) -> Option<usize> {
        let n = self.len();
        if index >= n {
            return None;
        }
        if !BACK || index <= n / 2 {
            let mut off = self.first()?;
            for _ in 0..index {
                off = self.next(off)?;
            }
            Some(off)
        } else {
            let mut off = self.prev_entry(self.buf.len())?;
            for _ in 0..(n - 1 - index) {
                off = self.prev_entry(off)?;
            }
            Some(off)
        }
    }

    /// Offset of the entry before the one at `off` (or before the end, `off == byte_len()`);
    /// only with back-lengths.
    fn prev_entry(&self, off: usize) -> Option<usize> {
        debug_assert!(BACK, "walking back needs back-lengths");
        if off <= HEADER {
            return None;
        }
        let (body, back_start) = get_backlen(&self.buf, off);
        Some(back_start - body)
    }

    /// Entries from the head.
    pub(crate) fn iter(&self) -> Iter<'_, BACK> {
        Iter { lp: self, front: HEADER, back: self.buf.len() }
    }

    /// Rebuild with the bytes in `start..end` replaced by `insert` (already encoded entries),
    /// adjusting the count by `delta`.
    fn splice(&mut self, start: usize, end: usize, insert: &[u8], delta: isize) {
        let n = (self.len() as isize + delta) as usize;
        self.buf = Block::concat(&[&self.buf[..start], insert, &self.buf[end..]]);
        self.set_len(n);
    }

    fn entry_end(&self, off: usize) -> usize {
        let (n, data) = get_varint(&self.buf, off);
        let body_end = data + n;
        body_end + if BACK { varint_len(body_end - off) } else { 0 }
    }

    /// Insert `items` before the entry at `off` (`off == byte_len()` appends).
    pub(crate) fn insert_at(&mut self, off: usize, items: &[&[u8]]) {
        let mut enc = Vec::with_capacity(items.iter().map(|i| entry_size(i.len(), BACK)).sum());
        for it in items {
            encode_entry(&mut enc, it, BACK);
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
        let mut enc = Vec::with_capacity(entry_size(item.len(), BACK));
        encode_entry(&mut enc, item, BACK);
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

impl Listpack<true> {
    /// Offset of the last entry, None when empty.
    pub(crate) fn last(&self) -> Option<usize> {
        self.prev(self.buf.len())
    }

    /// Offset of the entry before the one at `off` (or before the end, `off == byte_len()`).
    pub(crate) fn prev(&self, off: usize) -> Option<usize> {
        self.prev_entry(off)
    }
}

/// Iterator over a listpack's entries (double-ended when entries have back-lengths).
pub(crate) struct Iter<'a, const BACK: bool = true> {
    lp: &'a Listpack<BACK>,
    /// Offset of the next entry from the front; `back` is the end of the next from the back.
    front: usize,
    back: usize,
}

impl<'a, const BACK: bool> Iterator for Iter<'a, BACK> {
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

impl DoubleEndedIterator for Iter<'_, true> {
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.front >= self.back {
            return None;
        }
        let off = self.lp.prev(self.back)?;
        self.back = off;
        Some(self.lp.get(off))
    }
}

impl<const BACK: bool> std::fmt::Debug for Listpack<BACK> {
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
        let mut lp = Listpack::<true>::from_items([b"a".as_slice(), b"", &big]);
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
        assert_eq!(lp.byte_len(), 4 + entry_size(5, true) + entry_size(300, true) + entry_size(4, true));
        assert_eq!(lp.mem_usage(), node_cost(lp.byte_len()));
    }

    #[test]
    fn forward_listpack_has_no_back_lengths() {
        let items =
            [b"field0".as_slice(), b"value0", b"field1", b"value1", b"field2", b"value2", b"field3", b"value3", b"field4", b"value4"];
        let fwd = ForwardListpack::from_items(items);
        let both = Listpack::<true>::from_items(items);
        // The benchmark's 5-field hash: 4 + 10 * (1 + 6), an 80-byte block (84 and 96 with them).
        assert_eq!((fwd.byte_len(), fwd.mem_usage()), (74, 80));
        assert_eq!((both.byte_len(), both.mem_usage()), (84, 96));
        assert_eq!(fwd.iter().collect::<Vec<_>>(), items);
        assert_eq!(fwd.offset_of(9).map(|o| fwd.get(o)), Some(b"value4".as_slice()));
        let long = vec![b'y'; 200];
        let mut fwd = fwd;
        fwd.replace_at(fwd.offset_of(1).unwrap(), &long);
        assert_eq!(fwd.byte_len(), 74 - 7 + entry_size(200, false));
        assert_eq!(fwd.find(b"field1", 2).and_then(|o| fwd.next(o)).map(|o| fwd.get(o)), Some(b"value1".as_slice()));
        assert_eq!(fwd.find(&long, 2), None);
        assert_eq!(fwd.clone(), fwd);
    }

    /// Apply `ops` to a listpack and to a `Vec` model, checking they agree after each (and
    /// running `also` on both then).
    fn check_against_model<const BACK: bool>(
        ops: Vec<(u8, usize, Vec<u8>)>,
        also: impl Fn(&Listpack<BACK>, &[Vec<u8>]) -> Result<(), TestCaseError>,
    ) -> Result<(), TestCaseError> {
        let mut model: Vec<Vec<u8>> = Vec::new();
        let mut lp = Listpack::<BACK>::new();
        for (op, at, data) in ops {
            match op {
                0 => {
                    let i = at.min(model.len());
                    let off = lp.offset_of(i).unwrap_or(lp.byte_len());
                    lp.insert_at(off, &[&data]);
                    model.insert(i, data);
                }
                1 if !model.is_empty() => {
                    let i = at % model.len();
                    lp.remove_at(lp.offset_of(i).unwrap(), 1);
                    model.remove(i);
                }
                2 if !model.is_empty() => {
                    let i = at % model.len();
                    lp.replace_at(lp.offset_of(i).unwrap(), &data);
                    model[i] = data;
                }
                _ => {
                    lp.push_back(&data);
                    model.push(data);
                }
            }
            prop_assert_eq!(lp.len(), model.len());
            prop_assert_eq!(lp.iter().map(<[u8]>::to_vec).collect::<Vec<_>>(), model.clone());
            prop_assert_eq!(lp.byte_len(), HEADER + model.iter().map(|m| entry_size(m.len(), BACK)).sum::<usize>());
            for (i, m) in model.iter().enumerate() {
                prop_assert_eq!(lp.offset_of(i).map(|o| lp.get(o)), Some(m.as_slice()));
            }
            also(&lp, &model)?;
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn forward_listpack_matches_a_vec(ops in proptest::collection::vec((0u8..4, 0usize..40, proptest::collection::vec(any::<u8>(), 0..200)), 0..60)) {
            check_against_model::<false>(ops, |_, _| Ok(()))?;
        }

        #[test]
        fn matches_a_vec(ops in proptest::collection::vec((0u8..4, 0usize..40, proptest::collection::vec(any::<u8>(), 0..200)), 0..60)) {
            check_against_model::<true>(ops, |lp, model| {
                let mut rev = model.to_vec();
                rev.reverse();
                prop_assert_eq!(lp.iter().rev().map(<[u8]>::to_vec).collect::<Vec<_>>(), rev);
                Ok(())
            })?;
        }
    }
}
