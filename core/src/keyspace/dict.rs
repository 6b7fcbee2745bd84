//! `Dict<V>`: a chained hash table keyed by byte strings, in the style of Redis's `dict.c`.
//!
//! Why not `std::collections::HashMap`: Redis's SCAN family promises that an element present
//! for the whole iteration is returned, even while the table grows or shrinks between calls.
//! That needs a cursor over *home buckets* of a power-of-two table, advanced in reverse-binary
//! order (Pieter Noordhuis's algorithm, see `scan`). Open addressing displaces elements from
//! their home bucket, so it cannot keep that promise; chaining can.
//!
//! Nodes: each entry is ONE heap block sized to its key, from mimalloc (`types::node_alloc`:
//! its size-class pages keep nodes dense; see `Cargo.toml`), a `#[repr(C)]` header
//! `{ next, val: V, key_len: u32 }` followed by the key's bytes at `Node::KEY_OFFSET` (right
//! after `key_len`, so they start in the header's tail padding when it has some). The block is
//! `max(size_of::<Node<V>>(), KEY_OFFSET + key_len)` bytes, aligned for `Node<V>`. Why: a key
//! costs no second allocation whatever its length, and no fixed inline slot sized for the
//! longest "short" key: a keyspace node is `8 + size_of::<Entry>() + 4 + key_len` bytes, a set
//! member's (`Dict<()>`) `12 + len`. A lookup loads the bucket, then per node compares
//! `key_len` and the bytes, all in the node's own block.
//!
//! Tail: a node may carry 8 more bytes after its key, an `i64` (the keyspace keeps a key's
//! expiry there, so a lookup finds it in the block it already loaded). The top bit of
//! `key_len` says so (keys are shorter than 2 GiB); `set_tail_hashed` adds, changes or drops it,
//! moving the node to a block of the new size when it gains or loses the tail.
//!
//! Nodes are only handled as `NonNull<Node<V>>` (from `Node::alloc`). Their fields are reached
//! with place expressions on that pointer, never through a `&Node<V>` (one would span key
//! bytes in the tail padding), and the header is written field by field (writing a whole
//! `Node` would clobber those bytes with padding).
//!
//! Invariants: `buckets.len()` is a power of two (or 0 when empty); every node lives in bucket
//! `hash_bytes(key) & mask` and is linked from exactly one place (a bucket or another node's
//! `next`); `len` is the number of nodes; `nodes_heap` is the sum of `node_cost` of the nodes'
//! blocks (so `heap_bytes` is O(1)). Nodes do not store the hash (8 bytes per entry saved); a
//! resize hashes the keys again. The table grows at load factor 1 and shrinks when it falls
//! under 1/8, rehashing in one step (tables are per shard or per value, so a step is small).
//! Lookup is O(1) expected; `scan` visits each bucket once per full cycle.

use std::alloc::{self, Layout};
use std::hash::BuildHasher;
use std::mem::{align_of, offset_of, size_of};
use std::ptr::{self, NonNull};
use std::slice;
use std::sync::OnceLock;

use crate::types::{heap_cost, node_alloc, node_cost, node_free};

/// The process-wide hash function (random seed chosen once per process).
pub(crate) fn hash_bytes(key: &[u8]) -> u64 {
    static STATE: OnceLock<foldhash::fast::FixedState> = OnceLock::new();
    STATE.get_or_init(|| foldhash::fast::FixedState::with_seed(rand::random())).hash_one(key)
}

type Link<V> = Option<NonNull<Node<V>>>;

/// A node's header; its key's `key_len & LEN` bytes follow at `KEY_OFFSET` in the same block
/// (see the module comment), then the tail when `key_len & TAIL` is set.
#[repr(C)]
struct Node<V> {
    next: Link<V>,
    val: V,
    key_len: u32,
}

/// Bit of `Node::key_len`: the node has an 8-byte tail after its key.
const TAIL: u32 = 1 << 31;
/// The key-length bits of `Node::key_len`.
const LEN: u32 = TAIL - 1;

// The accessors below take a node that is live (allocated by `alloc`, not yet freed). The
// references they return are unbounded: callers tie them to a borrow of the `Dict` owning the
// node (shared for `key`/`val`, exclusive for `val_mut`/`next_mut`).
impl<V> Node<V> {
    /// Where the key's bytes start.
    const KEY_OFFSET: usize = offset_of!(Node<V>, key_len) + size_of::<u32>();

    /// Size of the block of a node with a `key_len`-byte key (and a tail): at least the
    /// header, so the pointer is valid for a whole `Node<V>`.
    #[inline]
    const fn alloc_size(key_len: usize, tail: bool) -> usize {
        let n = Self::KEY_OFFSET + key_len + if tail { size_of::<i64>() } else { 0 };
        if n < size_of::<Self>() {
            size_of::<Self>()
        } else {
            n
        }
    }

    /// Allocator cost of such a block.
    #[inline]
    const fn cost(key_len: usize, tail: bool) -> usize {
        node_cost(Self::alloc_size(key_len, tail))
    }

    #[inline]
    fn layout(key_len: usize, tail: bool) -> Layout {
        Layout::from_size_align(Self::alloc_size(key_len, tail), align_of::<Self>()).expect("dict node layout")
    }

    /// A new node holding `key`, `val` and the `tail` if any, linked to `next`.
    fn alloc(key: &[u8], val: V, next: Link<V>, tail: Option<i64>) -> NonNull<Self> {
        let key_len = u32::try_from(key.len()).ok().filter(|&n| n <= LEN).expect("dict key of 2 GiB or more");
        let layout = Self::layout(key.len(), tail.is_some());
        let block = node_alloc(layout.size()).cast::<Self>();
        let Some(node) = NonNull::new(block) else { alloc::handle_alloc_error(layout) };
        debug_assert!(block.is_aligned());
        // SAFETY: the block is `layout`'s size, aligned for `Node<V>` and at least as large, so
        // each field can be written in place, and the key (then the tail) fits from
        // `KEY_OFFSET` (`alloc_size`). Fields are written one by one, after which the key:
        // nothing writes padding over it.
        unsafe {
            let p = node.as_ptr();
            (&raw mut (*p).next).write(next);
            (&raw mut (*p).val).write(val);
            (&raw mut (*p).key_len).write(key_len | if tail.is_some() { TAIL } else { 0 });
            ptr::copy_nonoverlapping(key.as_ptr(), p.cast::<u8>().add(Self::KEY_OFFSET), key.len());
            if let Some(t) = tail {
                p.cast::<u8>().add(Self::KEY_OFFSET + key.len()).cast::<i64>().write_unaligned(t);
            }
        }
        node
    }

    /// Free a live node that nothing links to any more; returns its value.
    ///
    /// # Safety
    /// `node` is live and is never used again.
    unsafe fn free(node: NonNull<Self>) -> V {
        let p = node.as_ptr();
        // SAFETY: the node is live, so `val` is initialized, and its block came from
        // `node_alloc`; the value is moved out before the block goes, and never read again.
        unsafe {
            let val = (&raw const (*p).val).read();
            node_free(p.cast());
            val
        }
    }

    /// A copy of the live `node` in a new block with `tail` (the value moved, not cloned),
    /// linked to the same successor; the old block is freed.
    ///
    /// # Safety
    /// `node` is live and is never used again (the caller relinks the copy in its place).
    unsafe fn reshape(node: NonNull<Self>, tail: Option<i64>) -> NonNull<Self> {
        // SAFETY: the node is live (caller): its header and key are initialized. The value is
        // moved bitwise into the new block and the old block is freed without dropping it.
        unsafe {
            let key_len = Self::key_len(node);
            let layout = Self::layout(key_len, tail.is_some());
            let block = node_alloc(layout.size()).cast::<Self>();
            let Some(new) = NonNull::new(block) else { alloc::handle_alloc_error(layout) };
            debug_assert!(block.is_aligned());
            let (old, p) = (node.as_ptr(), new.as_ptr());
            (&raw mut (*p).next).write((*old).next);
            (&raw mut (*p).val).write((&raw const (*old).val).read());
            (&raw mut (*p).key_len).write(key_len as u32 | if tail.is_some() { TAIL } else { 0 });
            ptr::copy_nonoverlapping(old.cast::<u8>().add(Self::KEY_OFFSET), p.cast::<u8>().add(Self::KEY_OFFSET), key_len);
            if let Some(t) = tail {
                p.cast::<u8>().add(Self::KEY_OFFSET + key_len).cast::<i64>().write_unaligned(t);
            }
            node_free(old.cast());
            new
        }
    }

    /// # Safety
    /// `node` is live.
    #[inline]
    unsafe fn key_len(node: NonNull<Self>) -> usize {
        // SAFETY: the node is live (caller).
        unsafe { ((*node.as_ptr()).key_len & LEN) as usize }
    }

    /// # Safety
    /// `node` is live.
    #[inline]
    unsafe fn has_tail(node: NonNull<Self>) -> bool {
        // SAFETY: the node is live (caller).
        unsafe { (*node.as_ptr()).key_len & TAIL != 0 }
    }

    /// # Safety
    /// `node` is live.
    #[inline]
    unsafe fn tail(node: NonNull<Self>) -> Option<i64> {
        // SAFETY: the node is live (caller); a node with the TAIL bit was allocated with 8
        // bytes after its key, written at allocation or by `set_tail`.
        unsafe {
            if !Self::has_tail(node) {
                return None;
            }
            Some(node.as_ptr().cast::<u8>().add(Self::KEY_OFFSET + Self::key_len(node)).cast::<i64>().read_unaligned())
        }
    }

    /// # Safety
    /// `node` is live, has a tail, and the caller holds the `Dict` exclusively.
    #[inline]
    unsafe fn set_tail(node: NonNull<Self>, tail: i64) {
        // SAFETY: as for `tail`; the tail bytes are not borrowed by anyone (caller).
        unsafe { node.as_ptr().cast::<u8>().add(Self::KEY_OFFSET + Self::key_len(node)).cast::<i64>().write_unaligned(tail) }
    }

    /// Allocator cost of the live `node`'s block.
    ///
    /// # Safety
    /// `node` is live.
    #[inline]
    unsafe fn block_cost(node: NonNull<Self>) -> usize {
        // SAFETY: the node is live (caller).
        unsafe { Self::cost(Self::key_len(node), Self::has_tail(node)) }
    }

    /// # Safety
    /// `node` is live (see the note above the `impl`).
    #[inline]
    unsafe fn key<'a>(node: NonNull<Self>) -> &'a [u8] {
        let p = node.as_ptr();
        // SAFETY: a live node's block holds `key_len` initialized bytes from `KEY_OFFSET`, and
        // no field write ever touches them.
        unsafe { slice::from_raw_parts(p.cast::<u8>().add(Self::KEY_OFFSET), Self::key_len(node)) }
    }

    /// # Safety
    /// `node` is live.
    #[inline]
    unsafe fn key_eq(node: NonNull<Self>, key: &[u8]) -> bool {
        // SAFETY: the node is live (caller); the length is compared before the bytes are read.
        unsafe { Self::key_len(node) == key.len() && Self::key(node) == key }
    }

    /// # Safety
    /// `node` is live.
    #[inline]
    unsafe fn next(node: NonNull<Self>) -> Link<V> {
        // SAFETY: the node is live (caller).
        unsafe { (*node.as_ptr()).next }
    }

    /// # Safety
    /// `node` is live and the caller holds the `Dict` exclusively.
    #[inline]
    unsafe fn next_mut<'a>(node: NonNull<Self>) -> &'a mut Link<V> {
        // SAFETY: the node is live and not otherwise borrowed (caller); the reference covers
        // `next` only.
        unsafe { &mut (*node.as_ptr()).next }
    }

    /// # Safety
    /// `node` is live.
    #[inline]
    unsafe fn val<'a>(node: NonNull<Self>) -> &'a V {
        // SAFETY: the node is live (caller); the reference covers `val` only.
        unsafe { &(*node.as_ptr()).val }
    }

    /// # Safety
    /// `node` is live and the caller holds the `Dict` exclusively.
    #[inline]
    unsafe fn val_mut<'a>(node: NonNull<Self>) -> &'a mut V {
        // SAFETY: the node is live and its value not otherwise borrowed (caller); the reference
        // covers `val` only, not the key.
        unsafe { &mut (*node.as_ptr()).val }
    }
}

/// A chained hash table from byte-string keys to `V`.
pub(crate) struct Dict<V> {
    buckets: Vec<Link<V>>,
    len: usize,
    /// Sum of `node_cost` of every node's block.
    nodes_heap: usize,
    /// While set the table never resizes, so bucket indexes stay valid (a snapshot in
    /// progress tracks which buckets it has saved; see `keyspace::snapshot`).
    frozen: bool,
}

// SAFETY: a `Dict` owns its nodes as a `Box` per entry would (nothing else points at them):
// sending it moves the `V`s to the other thread, sharing it hands out only `&V` and `&[u8]`.
unsafe impl<V: Send> Send for Dict<V> {}
// SAFETY: as above.
unsafe impl<V: Sync> Sync for Dict<V> {}

impl<V> Default for Dict<V> {
    fn default() -> Self {
        Dict { buckets: Vec::new(), len: 0, nodes_heap: 0, frozen: false }
    }
}

impl<V: Clone> Clone for Dict<V> {
    fn clone(&self) -> Self {
        // Same bucket count, so every node goes to the bucket it is in here: no rehashing. The
        // copy is consistent after each node, so if `V::clone` panics dropping it frees it all.
        let mut d = Dict::with_buckets(self.buckets.len());
        for (i, &head) in self.buckets.iter().enumerate() {
            let mut cur = head;
            while let Some(node) = cur {
                // SAFETY: nodes linked from `self` are live and unchanged while `&self` lasts.
                let (key, val, tail, next) = unsafe { (Node::key(node), Node::val(node), Node::tail(node), Node::next(node)) };
                let copy = Node::alloc(key, val.clone(), d.buckets[i], tail);
                d.buckets[i] = Some(copy);
                d.len += 1;
                // SAFETY: `copy` was just allocated.
                d.nodes_heap += unsafe { Node::block_cost(copy) };
                cur = next;
            }
        }
        d
    }
}

impl<V> Drop for Dict<V> {
    fn drop(&mut self) {
        // Free chains iteratively so a long chain cannot overflow the stack.
        for slot in &mut self.buckets {
            let mut cur = slot.take();
            while let Some(node) = cur {
                // SAFETY: `node` is live and unlinked from the table (its bucket was taken); its
                // successor is read before it is freed.
                cur = unsafe { Node::next(node) };
                // SAFETY: as above; nothing reaches `node` again.
                drop(unsafe { Node::free(node) });
            }
        }
    }
}

impl<V> Dict<V> {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    fn with_buckets(n: usize) -> Self {
        Dict { buckets: vec![None; n], len: 0, nodes_heap: 0, frozen: false }
    }

    /// An empty table sized for `n` entries without resizing.
    pub(crate) fn with_capacity(n: usize) -> Self {
        if n == 0 {
            return Dict::new();
        }
        Dict::with_buckets(n.next_power_of_two().max(4))
    }

    /// Stop (or resume) resizing. Growth deferred while frozen happens on the next insert.
    pub(crate) fn set_frozen(&mut self, frozen: bool) {
        self.frozen = frozen;
    }

    /// Double the table now, frozen or not (a snapshot remaps its per-bucket state alongside).
    pub(crate) fn grow_double(&mut self) {
        let n = (self.buckets.len() * 2).max(4);
        self.resize(n);
    }

    /// Number of buckets (a power of two, or 0).
    #[inline]
    pub(crate) fn bucket_count(&self) -> usize {
        self.buckets.len()
    }

    /// The bucket a key hash lives in (meaningless when `bucket_count() == 0`).
    #[inline]
    pub(crate) fn bucket_of(&self, hash: u64) -> usize {
        hash as usize & self.mask()
    }

    /// Visit the entries of bucket `idx` with their tails.
    pub(crate) fn for_each_in_bucket(&self, idx: usize, mut f: impl FnMut(&[u8], &V, Option<i64>)) {
        let mut cur = self.buckets.get(idx).copied().flatten();
        while let Some(node) = cur {
            // SAFETY: nodes linked from `self` are live and unchanged while `&self` lasts.
            unsafe {
                f(Node::key(node), Node::val(node), Node::tail(node));
                cur = Node::next(node);
            }
        }
    }

    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline]
    fn mask(&self) -> usize {
        self.buckets.len().wrapping_sub(1)
    }

    /// The entries of the chain starting at `head` (a bucket of `self`).
    #[inline]
    fn chain(&self, head: Link<V>) -> impl Iterator<Item = (&[u8], &V)> + '_ {
        let mut cur = head;
        std::iter::from_fn(move || {
            let node = cur?;
            // SAFETY: nodes linked from `self` are live, and `&self` keeps them unchanged for
            // the lifetime of the returned references.
            unsafe {
                cur = Node::next(node);
                Some((Node::key(node), Node::val(node)))
            }
        })
    }

    /// The node holding `key`, if any.
    #[inline]
    fn find(&self, hash: u64, key: &[u8]) -> Link<V> {
        if self.len == 0 {
            return None;
        }
        let mut cur = self.buckets[hash as usize & self.mask()];
        while let Some(node) = cur {
            // SAFETY: nodes linked from `self` are live.
            unsafe {
                if Node::key_eq(node, key) {
                    return Some(node);
                }
                cur = Node::next(node);
            }
        }
        None
    }

    /// Start loading the bucket slot of `hash` (a hint for a lookup coming soon).
    #[inline]
    pub(crate) fn prefetch_bucket(&self, hash: u64) {
        if !self.buckets.is_empty() {
            crate::util::prefetch(&raw const self.buckets[hash as usize & self.mask()]);
        }
    }

    /// Start loading the first node in the bucket of `hash` (best after `prefetch_bucket`,
    /// once the slot has arrived): its first two cache lines. A node's block sits at any
    /// 16-byte offset in its line, so even a keyspace node of 80 bytes spans two lines, and a
    /// lookup reads both (the length in the first, the key's bytes and a short value mostly in
    /// the second).
    #[inline]
    pub(crate) fn prefetch_chain(&self, hash: u64) {
        if let Some(Some(node)) = self.buckets.get(hash as usize & self.mask()) {
            let p = node.as_ptr().cast::<u8>();
            crate::util::prefetch(p);
            crate::util::prefetch(p.wrapping_add(64));
        }
    }

    #[inline]
    pub(crate) fn get(&self, key: &[u8]) -> Option<&V> {
        self.get_hashed(hash_bytes(key), key)
    }

    #[inline]
    pub(crate) fn get_hashed(&self, hash: u64, key: &[u8]) -> Option<&V> {
        // SAFETY: the node is live while `self` is borrowed, and `&self` allows no writes.
        self.find(hash, key).map(|node| unsafe { Node::val(node) })
    }

    #[inline]
    pub(crate) fn get_mut(&mut self, key: &[u8]) -> Option<&mut V> {
        self.get_mut_hashed(hash_bytes(key), key)
    }

    #[inline]
    pub(crate) fn get_mut_hashed(&mut self, hash: u64, key: &[u8]) -> Option<&mut V> {
        // SAFETY: the node is live and owned by `self`, which is borrowed exclusively for as
        // long as the result lives.
        self.find(hash, key).map(|node| unsafe { Node::val_mut(node) })
    }

    pub(crate) fn contains_key(&self, key: &[u8]) -> bool {
        self.get(key).is_some()
    }

    /// Insert or replace; returns the previous value.
    pub(crate) fn insert(&mut self, key: &[u8], val: V) -> Option<V> {
        self.insert_hashed(hash_bytes(key), key, val)
    }

    pub(crate) fn insert_hashed(&mut self, hash: u64, key: &[u8], val: V) -> Option<V> {
        if let Some(slot) = self.get_mut_hashed(hash, key) {
            return Some(std::mem::replace(slot, val));
        }
        self.insert_new_hashed(hash, key, val);
        None
    }

    /// Insert a key known to be absent.
    pub(crate) fn insert_new_hashed(&mut self, hash: u64, key: &[u8], val: V) {
        self.link_new(hash, key, val, None);
    }

    /// Insert a key known to be absent, with a tail (see the module comment).
    pub(crate) fn insert_new_with_tail_hashed(&mut self, hash: u64, key: &[u8], val: V, tail: Option<i64>) {
        self.link_new(hash, key, val, tail);
    }

    /// Insert a key known to be absent; returns its node.
    fn link_new(&mut self, hash: u64, key: &[u8], val: V, tail: Option<i64>) -> NonNull<Node<V>> {
        if (self.buckets.is_empty() || !self.frozen) && self.len >= self.buckets.len() {
            self.resize((self.len + 1).next_power_of_two().max(4));
        }
        let idx = hash as usize & self.mask();
        let node = Node::alloc(key, val, self.buckets[idx], tail);
        self.buckets[idx] = Some(node);
        self.len += 1;
        self.nodes_heap += Node::<V>::cost(key.len(), tail.is_some());
        node
    }

    /// Returns the value for `key`, inserting `make()` first if absent.
    pub(crate) fn get_or_insert_with(&mut self, key: &[u8], make: impl FnOnce() -> V) -> &mut V {
        let hash = hash_bytes(key);
        let node = match self.find(hash, key) {
            Some(node) => node,
            None => self.link_new(hash, key, make(), None),
        };
        // SAFETY: the node is live and owned by `self`, borrowed exclusively for the result.
        unsafe { Node::val_mut(node) }
    }

    pub(crate) fn remove(&mut self, key: &[u8]) -> Option<V> {
        self.remove_hashed(hash_bytes(key), key)
    }

    pub(crate) fn remove_hashed(&mut self, hash: u64, key: &[u8]) -> Option<V> {
        self.remove_with_tail_hashed(hash, key).map(|(v, _)| v)
    }

    /// Remove `key`; returns its value and tail.
    pub(crate) fn remove_with_tail_hashed(&mut self, hash: u64, key: &[u8]) -> Option<(V, Option<i64>)> {
        if self.len == 0 {
            return None;
        }
        let idx = hash as usize & self.mask();
        let mut link = &mut self.buckets[idx];
        loop {
            let node = (*link)?;
            // SAFETY: nodes linked from `self` are live, and `&mut self` means nothing else
            // borrows them.
            unsafe {
                if !Node::key_eq(node, key) {
                    link = Node::next_mut(node);
                    continue;
                }
                *link = Node::next(node);
                self.nodes_heap -= Node::block_cost(node);
            }
            // SAFETY: `node` is live and now unlinked: nothing reaches it again.
            let (tail, val) = unsafe { (Node::tail(node), Node::free(node)) };
            self.len -= 1;
            self.maybe_shrink();
            return Some((val, tail));
        }
    }

    fn maybe_shrink(&mut self) {
        let n = self.buckets.len();
        if n > 4 && self.len * 8 < n && !self.frozen {
            self.resize((self.len.next_power_of_two()).max(4));
        }
    }

    pub(crate) fn clear(&mut self) {
        *self = Dict::new();
    }

    fn resize(&mut self, new_len: usize) {
        let old = std::mem::replace(&mut self.buckets, vec![None; new_len]);
        let mask = new_len - 1;
        for mut cur in old {
            while let Some(node) = cur {
                // SAFETY: nodes linked from `self` are live and exclusively ours; each is moved
                // to its new bucket after its successor is read.
                let idx = unsafe {
                    cur = Node::next(node);
                    let idx = hash_bytes(Node::key(node)) as usize & mask;
                    *Node::next_mut(node) = self.buckets[idx];
                    idx
                };
                self.buckets[idx] = Some(node);
            }
        }
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&[u8], &V)> + '_ {
        self.buckets.iter().flat_map(move |&head| self.chain(head))
    }

    pub(crate) fn keys(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.iter().map(|(k, _)| k)
    }

    /// Remove every entry for which `keep` returns false. If `keep` or a value's `drop`
    /// panics, the table stays consistent (every node is either linked and counted, or freed).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&[u8], &mut V) -> bool) {
        for i in 0..self.buckets.len() {
            let mut link = &mut self.buckets[i];
            while let Some(node) = *link {
                // SAFETY: nodes linked from `self` are live, and `&mut self` means nothing else
                // borrows them; key and value are disjoint parts of the node's block.
                if unsafe { keep(Node::key(node), Node::val_mut(node)) } {
                    // SAFETY: as above.
                    link = unsafe { Node::next_mut(node) };
                    continue;
                }
                // SAFETY: as above; the node is unlinked before it is freed, and not used after.
                let val = unsafe {
                    *link = Node::next(node);
                    self.nodes_heap -= Node::block_cost(node);
                    Node::free(node)
                };
                self.len -= 1;
                drop(val);
            }
        }
        self.maybe_shrink();
    }

    /// Visit the entries of the bucket(s) at `cursor` and return the next cursor (0 when the
    /// cycle is complete). Calls `f` for each entry found; callers loop until they have
    /// enough elements. Entries present for a whole cycle are visited at least once, even if the
    /// table is resized between calls (the cursor walks home buckets in reverse-bit order, so a
    /// resize only ever maps visited buckets onto visited buckets).
    pub(crate) fn scan(&self, cursor: u64, mut f: impl FnMut(&[u8], &V)) -> u64 {
        if self.buckets.is_empty() {
            return 0;
        }
        let mask = self.mask() as u64;
        self.chain(self.buckets[(cursor & mask) as usize]).for_each(|(k, v)| f(k, v));
        // Increment the reversed cursor over the unmasked bits.
        let mut v = cursor | !mask;
        v = v.reverse_bits();
        v = v.wrapping_add(1);
        v.reverse_bits()
    }

    /// Heap bytes one entry with a `key_len`-byte key costs the allocator: its node's block
    /// (header, value and key). O(1), for containers that keep a running total.
    pub(crate) const fn entry_cost(key_len: usize) -> usize {
        Node::<V>::cost(key_len, false)
    }

    /// `entry_cost` of an entry with a tail.
    pub(crate) const fn entry_cost_with_tail(key_len: usize) -> usize {
        Node::<V>::cost(key_len, true)
    }

    /// The tail of `key`'s node: None when the key is absent or has none.
    #[inline]
    pub(crate) fn tail_hashed(&self, hash: u64, key: &[u8]) -> Option<i64> {
        // SAFETY: nodes linked from `self` are live.
        self.find(hash, key).and_then(|node| unsafe { Node::tail(node) })
    }

    /// The value and tail of `key`'s node.
    #[inline]
    pub(crate) fn get_with_tail_hashed(&self, hash: u64, key: &[u8]) -> Option<(&V, Option<i64>)> {
        // SAFETY: the node is live while `self` is borrowed, and `&self` allows no writes.
        self.find(hash, key).map(|node| unsafe { (Node::val(node), Node::tail(node)) })
    }

    /// Give `key`'s node the tail `tail` (None: no tail). Changing a tail's value writes it in
    /// place; gaining or losing one moves the node to a block of the new size, in the same
    /// bucket and chain position. Returns false when the key is absent.
    pub(crate) fn set_tail_hashed(&mut self, hash: u64, key: &[u8], tail: Option<i64>) -> bool {
        if self.len == 0 {
            return false;
        }
        let idx = hash as usize & self.mask();
        let mut link = &mut self.buckets[idx];
        loop {
            let Some(node) = *link else { return false };
            // SAFETY: nodes linked from `self` are live, and `&mut self` means nothing else
            // borrows them; a reshaped node replaces the old one in its link at once.
            unsafe {
                if !Node::key_eq(node, key) {
                    link = Node::next_mut(node);
                    continue;
                }
                match (Node::has_tail(node), tail) {
                    (true, Some(t)) => Node::set_tail(node, t),
                    (false, None) => {}
                    _ => {
                        self.nodes_heap -= Node::block_cost(node);
                        let new = Node::reshape(node, tail);
                        self.nodes_heap += Node::block_cost(new);
                        *link = Some(new);
                    }
                }
            }
            return true;
        }
    }

    /// Heap bytes of the bucket array (the allocator's cost of it). O(1).
    pub(crate) fn table_cost(&self) -> usize {
        heap_cost(self.buckets.capacity() * size_of::<Link<V>>())
    }

    /// Heap bytes of all the nodes (the sum of `entry_cost` over the keys). O(1).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn nodes_cost(&self) -> usize {
        self.nodes_heap
    }

    /// Heap bytes of the table, O(1): bucket array and nodes, as the allocator rounds them.
    /// What `V` owns beyond its own size is not counted.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.table_cost() + self.nodes_heap
    }

    /// Up to `n` entries from a random position on (consecutive buckets, wrapping), the
    /// eviction sampler's source (Redis's `dictGetSomeKeys`). Cheap: touches at most `n`
    /// entries and a bounded number of empty buckets.
    pub(crate) fn sample(&self, rng: &mut impl rand::Rng, n: usize, mut f: impl FnMut(&[u8], &V)) {
        if self.len == 0 || n == 0 {
            return;
        }
        let mask = self.mask();
        let mut idx = rng.random_range(0..self.buckets.len());
        let (mut found, mut empty_run) = (0, 0);
        for _ in 0..self.buckets.len() {
            let head = self.buckets[idx];
            if head.is_none() {
                empty_run += 1;
                // Long empty stretch: jump elsewhere, as Redis does, to stay O(n).
                if empty_run >= 5 && empty_run > n {
                    idx = rng.random_range(0..self.buckets.len());
                    empty_run = 0;
                    continue;
                }
            }
            for (k, v) in self.chain(head) {
                f(k, v);
                found += 1;
                if found >= n {
                    return;
                }
            }
            idx = (idx + 1) & mask;
        }
    }

    /// A uniformly chosen bucket's random entry (Redis's `dictGetFairRandomKey` approximation).
    pub(crate) fn random_entry(&self, rng: &mut impl rand::Rng) -> Option<(&[u8], &V)> {
        if self.len == 0 {
            return None;
        }
        loop {
            let head = self.buckets[rng.random_range(0..self.buckets.len())];
            if head.is_some() {
                let n = self.chain(head).count();
                return self.chain(head).nth(rng.random_range(0..n));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::cell::Cell;
    use std::collections::{HashMap, HashSet};
    use std::panic::{catch_unwind, AssertUnwindSafe};
    use std::rc::Rc;

    /// `heap_bytes` recounted from the entries.
    fn recount<V>(d: &Dict<V>) -> usize {
        let cost = |k: &[u8]| match d.tail_hashed(hash_bytes(k), k) {
            Some(_) => Dict::<V>::entry_cost_with_tail(k.len()),
            None => Dict::<V>::entry_cost(k.len()),
        };
        d.table_cost() + d.keys().map(cost).sum::<usize>()
    }

    #[test]
    fn tails_follow_a_model_through_inserts_reshapes_removes_and_clones() {
        // Values own heap memory (a moved value must not be dropped twice or leaked), keys of
        // many lengths (the tail sits right after them, unaligned).
        let mut d: Dict<Rc<String>> = Dict::new();
        let mut model: HashMap<Vec<u8>, (Rc<String>, Option<i64>)> = HashMap::new();
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = |n: u64| {
            rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (rng >> 33) % n
        };
        for step in 0..20_000 {
            let key = vec![b'k'; next(40) as usize];
            let mut key = key;
            key.push(next(50) as u8);
            let h = hash_bytes(&key);
            match next(6) {
                0 => {
                    let v = Rc::new(format!("v{step}"));
                    let tail = (next(2) == 0).then(|| next(1 << 40) as i64 - (1 << 39));
                    if let std::collections::hash_map::Entry::Vacant(slot) = model.entry(key.clone()) {
                        d.insert_new_with_tail_hashed(h, &key, v.clone(), tail);
                        slot.insert((v, tail));
                    }
                }
                1 | 2 => {
                    let tail = (next(3) != 0).then(|| next(1 << 40) as i64);
                    let present = d.set_tail_hashed(h, &key, tail);
                    assert_eq!(present, model.contains_key(&key));
                    if let Some(m) = model.get_mut(&key) {
                        m.1 = tail;
                    }
                }
                3 => assert_eq!(d.remove_hashed(h, &key).map(|v| v.to_string()), model.remove(&key).map(|m| m.0.to_string())),
                4 => {
                    let v = Rc::new(format!("r{step}"));
                    if let Some(m) = model.get_mut(&key) {
                        m.0 = v.clone();
                    }
                    if d.get(&key).is_some() {
                        d.insert_hashed(h, &key, v);
                    }
                }
                _ => {
                    let got = d.get_with_tail_hashed(h, &key).map(|(v, t)| (v.to_string(), t));
                    assert_eq!(got, model.get(&key).map(|(v, t)| (v.to_string(), *t)));
                }
            }
            if step % 1000 == 0 {
                assert_eq!(d.heap_bytes(), recount(&d), "step {step}");
                let c = d.clone();
                assert_eq!(c.heap_bytes(), d.heap_bytes());
                for (k, (v, t)) in &model {
                    assert_eq!(c.get_with_tail_hashed(hash_bytes(k), k).map(|(v, t)| (v.to_string(), t)), Some((v.to_string(), *t)));
                }
            }
        }
        assert_eq!(d.len(), model.len());
        // Every value is owned exactly once by the table and once by the model.
        for (k, (v, _)) in &model {
            assert_eq!(Rc::strong_count(v), 2, "{k:?}");
        }
        drop(d);
        for (v, _) in model.values() {
            assert_eq!(Rc::strong_count(v), 1);
        }
    }

    #[test]
    fn a_tail_costs_eight_bytes_of_block() {
        // A 48-byte value and a 10-byte key: 70 bytes, 78 with a tail, both in mimalloc's
        // 80-byte class; with a 13-byte key the tail makes 81 bytes, the 96-byte class.
        assert_eq!((Dict::<[u64; 6]>::entry_cost(10), Dict::<[u64; 6]>::entry_cost_with_tail(10)), (80, 80));
        assert_eq!((Dict::<[u64; 6]>::entry_cost(13), Dict::<[u64; 6]>::entry_cost_with_tail(13)), (80, 96));
        let mut d: Dict<u64> = Dict::new();
        d.insert(b"key", 1);
        let h = hash_bytes(b"key");
        let plain = d.nodes_cost();
        assert!(d.set_tail_hashed(h, b"key", Some(-5)));
        assert_eq!(d.nodes_cost(), Dict::<u64>::entry_cost_with_tail(3));
        assert_eq!(d.tail_hashed(h, b"key"), Some(-5));
        assert!(d.set_tail_hashed(h, b"key", None));
        assert_eq!((d.nodes_cost(), d.tail_hashed(h, b"key"), d.get(b"key")), (plain, None, Some(&1)));
        assert!(!d.set_tail_hashed(hash_bytes(b"nope"), b"nope", Some(1)));
    }

    #[test]
    fn entry_cost_is_the_node_block() {
        // A 56-byte `Entry`: header 8 + 56 + 4 = 68 (72 with padding), the key from byte 68;
        // with a 10-byte key 78 bytes, mimalloc's 80-byte class.
        assert_eq!((size_of::<Node<[u64; 7]>>(), Node::<[u64; 7]>::KEY_OFFSET), (72, 68));
        assert_eq!(Dict::<[u64; 7]>::entry_cost(10), 80);
        // A 48-byte value: 8 + 48 + 4 + 10 = 70 bytes, also the 80-byte class; a 20-byte key
        // (80 bytes) still fits, a 21-byte one takes the 96-byte class.
        assert_eq!([10, 20, 21].map(Dict::<[u64; 6]>::entry_cost), [80, 80, 96]);
        // Set members: 12 + len, in mimalloc's 16-byte steps up to 64 bytes (no header, no
        // minimum beyond the 16-byte node).
        assert_eq!((size_of::<Node<()>>(), Node::<()>::KEY_OFFSET), (16, 12));
        let set: Vec<usize> = [0, 4, 5, 12, 13, 28, 29, 52, 53, 100].iter().map(|&n| Dict::<()>::entry_cost(n)).collect();
        assert_eq!(set, [16, 16, 32, 32, 32, 48, 48, 64, 80, 112]);
        // Scores: 8 + 8 + 4 + len.
        assert_eq!((Dict::<f64>::entry_cost(0), Dict::<f64>::entry_cost(13), Dict::<f64>::entry_cost(100)), (32, 48, 128));
        // The cost grows with the key by whole size classes, never by a second block.
        for n in 0..2000 {
            let (a, b) = (Dict::<f64>::entry_cost(n), Dict::<f64>::entry_cost(n + 1));
            assert!(b == a || b > a && b - a <= a.max(64) / 4, "key of {n} bytes");
            assert_eq!(Dict::<f64>::entry_cost(n), node_cost(24usize.max(20 + n)));
        }
        let mut d = Dict::new();
        assert_eq!(d.table_cost(), 0);
        d.insert(b"k", 1.0);
        assert_eq!(d.table_cost(), heap_cost(d.bucket_count() * 8));
        assert_eq!(d.nodes_cost(), 32);
        assert_eq!(d.heap_bytes(), d.table_cost() + 32);
    }

    #[test]
    fn is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Dict<Vec<u8>>>();
    }

    #[test]
    fn insert_get_remove() {
        let mut d = Dict::new();
        for i in 0..1000u32 {
            assert!(d.insert(&i.to_be_bytes(), i).is_none());
        }
        assert_eq!(d.len(), 1000);
        for i in 0..1000u32 {
            assert_eq!(d.get(&i.to_be_bytes()), Some(&i));
        }
        assert_eq!(d.insert(&5u32.to_be_bytes(), 55), Some(5));
        for i in 0..1000u32 {
            assert!(d.remove(&i.to_be_bytes()).is_some());
        }
        assert!(d.is_empty());
        assert!(d.buckets.len() <= 4);
        assert_eq!(d.nodes_cost(), 0);
    }

    #[test]
    fn keys_of_any_length() {
        let keys: Vec<Vec<u8>> = [0usize, 1, 3, 4, 5, 12, 13, 22, 23, 100, 300, 70_000].iter().map(|&n| vec![b'x'; n]).collect();
        let mut d = Dict::new();
        for (i, k) in keys.iter().enumerate() {
            d.insert(k, Box::new(i));
        }
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(d.get(k).map(|b| **b), Some(i));
            **d.get_mut(k).unwrap() += 1000;
        }
        assert_eq!(d.get(b"xx"), None);
        assert_eq!(d.get(&[b'x'; 301]), None);
        assert_eq!(d.heap_bytes(), recount(&d));
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(d.remove(k).map(|b| *b), Some(i + 1000));
        }
        assert_eq!(d.nodes_cost(), 0);
    }

    #[test]
    fn clone_copies_long_keys() {
        let mut d = Dict::new();
        for i in 0..200u32 {
            let key = format!("{i:0>width$}", width = (i as usize * 7) % 400);
            d.insert(key.as_bytes(), vec![i; (i % 5) as usize]);
        }
        d.insert(b"", vec![]);
        let mut c = d.clone();
        assert_eq!((c.len(), c.bucket_count(), c.heap_bytes()), (d.len(), d.bucket_count(), d.heap_bytes()));
        let items = |d: &Dict<Vec<u32>>| -> HashMap<Vec<u8>, Vec<u32>> { d.iter().map(|(k, v)| (k.to_vec(), v.clone())).collect() };
        assert_eq!(items(&c), items(&d));
        let long = format!("{:0>392}", 56);
        assert!(c.get(long.as_bytes()).is_some());
        c.get_mut(long.as_bytes()).unwrap().push(7);
        c.remove(b"");
        assert_eq!(d.get(long.as_bytes()).unwrap().len(), 1);
        assert!(d.get(b"").is_some());
        assert_eq!(c.heap_bytes(), recount(&c));
        drop(d);
        assert_eq!(c.get(long.as_bytes()), Some(&vec![56, 7]));
    }

    /// A value that counts live copies; cloning one marked `bomb` panics.
    struct Counted {
        live: Rc<Cell<i64>>,
        bomb: bool,
    }

    impl Counted {
        fn new(live: &Rc<Cell<i64>>, bomb: bool) -> Self {
            live.set(live.get() + 1);
            Counted { live: Rc::clone(live), bomb }
        }
    }

    impl Clone for Counted {
        fn clone(&self) -> Self {
            assert!(!self.bomb, "clone bomb");
            Counted::new(&self.live, false)
        }
    }

    impl Drop for Counted {
        fn drop(&mut self) {
            self.live.set(self.live.get() - 1);
        }
    }

    #[test]
    fn values_are_dropped_exactly_once() {
        let live = Rc::new(Cell::new(0));
        let key = |i: u32| format!("{i}-{}", "k".repeat(i as usize % 40)).into_bytes();
        let mut d = Dict::new();
        for i in 0..500 {
            assert!(d.insert(&key(i), Counted::new(&live, false)).is_none());
        }
        assert_eq!(live.get(), 500);
        for i in 0..100 {
            assert!(d.insert(&key(i), Counted::new(&live, false)).is_some(), "replace");
        }
        assert_eq!(live.get(), 500);
        d.get_or_insert_with(&key(3), || Counted::new(&live, false));
        d.get_or_insert_with(b"new", || Counted::new(&live, false));
        assert_eq!(live.get(), 501);
        for i in 0..50 {
            assert!(d.remove(&key(i)).is_some());
        }
        assert_eq!(live.get(), 451);
        d.retain(|k, _| k.len() % 2 == 0);
        assert_eq!(live.get(), d.len() as i64);
        let c = d.clone();
        assert_eq!(live.get(), 2 * d.len() as i64);
        drop(c);
        d.clear();
        assert_eq!((live.get(), d.heap_bytes()), (0, 0));
        for i in 0..300 {
            d.insert(&key(i), Counted::new(&live, false));
        }
        drop(d);
        assert_eq!(live.get(), 0);
    }

    #[test]
    fn panics_in_clone_or_retain_leave_no_dangling_node() {
        let live = Rc::new(Cell::new(0));
        let mut d = Dict::new();
        for i in 0..300u32 {
            let key = vec![i as u8; i as usize % 50];
            d.insert(&[&key[..], &i.to_le_bytes()].concat(), Counted::new(&live, i == 150));
        }
        assert!(catch_unwind(AssertUnwindSafe(|| d.clone())).is_err());
        assert_eq!(live.get(), 300, "the partial copy was freed, the original untouched");
        let mut seen = 0;
        let r = catch_unwind(AssertUnwindSafe(|| {
            d.retain(|_, v| {
                seen += 1;
                assert!(seen < 200, "keep panics");
                !v.bomb && seen % 2 == 0
            })
        }));
        assert!(r.is_err());
        assert_eq!(live.get(), d.len() as i64);
        assert_eq!(d.iter().count(), d.len());
        assert_eq!(d.heap_bytes(), recount(&d));
        drop(d);
        assert_eq!(live.get(), 0);
    }

    #[derive(Clone, Debug)]
    enum Op {
        Insert(Vec<u8>, u32),
        Remove(Vec<u8>),
        Get(Vec<u8>),
        GetMut(Vec<u8>, u32),
        GetOrInsert(Vec<u8>, u32),
        Retain(u32),
        Freeze(bool),
        GrowDouble,
        Clear,
    }

    fn key() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            // A small alphabet, so keys repeat and chains collide.
            10 => prop::collection::vec(0u8..3, 0..=40),
            1 => (0u8..3).prop_map(|b| vec![b; 300]),
        ]
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            12 => (key(), any::<u32>()).prop_map(|(k, v)| Op::Insert(k, v)),
            6 => key().prop_map(Op::Remove),
            3 => key().prop_map(Op::Get),
            3 => (key(), any::<u32>()).prop_map(|(k, v)| Op::GetMut(k, v)),
            3 => (key(), any::<u32>()).prop_map(|(k, v)| Op::GetOrInsert(k, v)),
            1 => (1u32..5).prop_map(Op::Retain),
            1 => any::<bool>().prop_map(Op::Freeze),
            1 => Just(Op::GrowDouble),
            1 => Just(Op::Clear),
        ]
    }

    proptest! {
        #[test]
        fn behaves_like_a_hashmap(ops in prop::collection::vec(op(), 1..400)) {
            // Boxed values: every node owns a heap block, and the value sits next to the key.
            let mut d: Dict<Box<u32>> = Dict::new();
            let mut model: HashMap<Vec<u8>, u32> = HashMap::new();
            for op in ops {
                match op {
                    Op::Insert(k, v) => prop_assert_eq!(d.insert(&k, Box::new(v)).map(|b| *b), model.insert(k, v)),
                    Op::Remove(k) => prop_assert_eq!(d.remove(&k).map(|b| *b), model.remove(&k)),
                    Op::Get(k) => prop_assert_eq!(d.get(&k).map(|b| **b), model.get(&k).copied()),
                    Op::GetMut(k, v) => {
                        if let Some(b) = d.get_mut(&k) {
                            **b = v;
                        }
                        if let Some(m) = model.get_mut(&k) {
                            *m = v;
                        }
                        prop_assert_eq!(d.contains_key(&k), model.contains_key(&k));
                    }
                    Op::GetOrInsert(k, v) => {
                        let got = **d.get_or_insert_with(&k, || Box::new(v));
                        prop_assert_eq!(got, *model.entry(k).or_insert(v));
                    }
                    Op::Retain(m) => {
                        d.retain(|k, v| (k.len() as u32).wrapping_add(**v) % m != 0);
                        model.retain(|k, v| (k.len() as u32).wrapping_add(*v) % m != 0);
                    }
                    Op::Freeze(f) => d.set_frozen(f),
                    Op::GrowDouble => d.grow_double(),
                    Op::Clear => {
                        d.clear();
                        model.clear();
                    }
                }
                prop_assert_eq!(d.len(), model.len());
                prop_assert_eq!(d.heap_bytes(), recount(&d));
                let items: HashMap<Vec<u8>, u32> = d.iter().map(|(k, v)| (k.to_vec(), **v)).collect();
                prop_assert_eq!(items.len(), d.len(), "a key iterated twice");
                prop_assert_eq!(&items, &model);
                if d.bucket_count() > 0 {
                    for (k, _) in d.iter() {
                        let b = d.bucket_of(hash_bytes(k));
                        let mut found = false;
                        d.for_each_in_bucket(b, |k2, _, _| found |= k2 == k);
                        prop_assert!(found, "a key outside its home bucket");
                    }
                }
            }
        }
    }

    #[test]
    fn scan_survives_growth_and_shrink() {
        let mut d = Dict::new();
        for i in 0..500u32 {
            d.insert(&i.to_be_bytes(), ());
        }
        let stable: HashSet<Vec<u8>> = (0..250u32).map(|i| i.to_be_bytes().to_vec()).collect();
        let mut seen = HashSet::new();
        let mut cursor = 0;
        let mut step = 0u32;
        loop {
            cursor = d.scan(cursor, |k, _| {
                seen.insert(k.to_vec());
            });
            step += 1;
            // Churn: grow a lot, then shrink, keeping 0..250 throughout.
            if step.is_multiple_of(7) {
                for i in 0..3000u32 {
                    d.insert(&(100_000 + step * 10_000 + i).to_be_bytes(), ());
                }
            } else if step % 7 == 3 {
                d.retain(|k, _| stable.contains(k));
            }
            if cursor == 0 {
                break;
            }
        }
        for k in &stable {
            assert!(seen.contains(k), "scan missed a stable key");
        }
    }

    #[test]
    fn retain_and_random() {
        let mut d = Dict::new();
        let mut model = HashMap::new();
        for i in 0..2000u32 {
            d.insert(&i.to_le_bytes(), i);
            model.insert(i.to_le_bytes().to_vec(), i);
        }
        d.retain(|_, v| *v % 3 == 0);
        model.retain(|_, v| *v % 3 == 0);
        assert_eq!(d.len(), model.len());
        let mut rng = rand::rng();
        for _ in 0..100 {
            let (k, v) = d.random_entry(&mut rng).unwrap();
            assert_eq!(model.get(k), Some(v));
        }
        let mut sampled = 0;
        d.sample(&mut rng, 20, |k, v| {
            assert_eq!(model.get(k), Some(v));
            sampled += 1;
        });
        assert_eq!(sampled, 20);
    }
}
