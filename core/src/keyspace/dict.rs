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
//! Packed nodes (`Packing`, the keyspace's `Dict<Entry, PackedHashes>` only; `Plain` tables
//! never have one): a value that asks to be (`Packing::payload`: a small hash's listpack) is
//! stored as bytes instead of a `V`: a `PackedHead { next, word, key_len, payload_len }`
//! (24 bytes), the key, the payload, then the tail. `word` is at byte 8 as the `V`'s own
//! first field is in a plain node (`Entry::access`), so the bit `PACKED` of the word at byte 8
//! tells the layouts apart, and the word (access record, TTL flag) is read and written in
//! place in either. Why: a 5-field hash under a 10-byte key is one 112-byte block instead of
//! an 80-byte node plus an 80-byte listpack (docs/ARCHITECTURE.md, "Known cost"). A packed
//! value is read through a view (`ValRef::View`, rebuilt by `Packing::view` over the
//! payload, never dropped; a change to its word is stored back into the node when the view
//! goes); `get_mut_hashed` unpacks the node into a plain one, `repack_hashed` packs it again.
//! Methods that hand out `&V` refuse packing tables at compile time (`const` assertions);
//! their `_ref` counterparts hand out `ValRef`s.
//!
//! Nodes are only handled as `NonNull<Node<V, P>>` (from `Node::alloc`). Their fields are
//! reached with place expressions on that pointer (`next` and the word by casts: a packed
//! block may be smaller than a `Node`), never through a `&Node` (one would span key bytes in
//! the tail padding), and the header is written field by field (writing a whole `Node` would
//! clobber those bytes with padding).
//!
//! Invariants: `buckets.len()` is a power of two (or 0 when empty); every node lives in bucket
//! `hash_bytes(key) & mask` and is linked from exactly one place (a bucket or another node's
//! `next`); `len` is the number of nodes; `nodes_heap` is the sum of `node_cost` of the nodes'
//! blocks, packed ones whole (so `heap_bytes` is O(1)); a node's `PACKED` bit never changes
//! (packing and unpacking make a new node). Nodes do not store the hash (8 bytes per entry saved); a
//! resize hashes the keys again. The table grows at load factor 1 and shrinks when it falls
//! under 1/8, rehashing in one step (tables are per shard or per value, so a step is small).
//! Lookup is O(1) expected; `scan` visits each bucket once per full cycle.

use std::alloc::{self, Layout};
use std::hash::BuildHasher;
use std::marker::PhantomData;
use std::mem::{align_of, offset_of, size_of, ManuallyDrop};
use std::ops::Deref;
use std::ptr::{self, NonNull};
use std::slice;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use crate::types::{heap_cost, node_alloc, node_cost, node_free};

/// The process-wide hash function (random seed chosen once per process).
pub(crate) fn hash_bytes(key: &[u8]) -> u64 {
    static STATE: OnceLock<foldhash::fast::FixedState> = OnceLock::new();
    STATE.get_or_init(|| foldhash::fast::FixedState::with_seed(rand::random())).hash_one(key)
}

/// How a table may keep a value *packed*: instead of a `V`, its node holds the value's word
/// and a byte payload from which the value can be rebuilt (see the module comment).
///
/// # Safety
/// When `ON`, `V` is `#[repr(C)]` with an `AtomicU64` (its *word*) as first field, so a plain
/// node's word is at byte 8 of its block as a packed node's is, and a `V`'s word never has
/// bit `PACKED` set (that bit tells the two layouts apart).
pub(crate) unsafe trait Packing<V> {
    const ON: bool;
    /// The bytes `v` is stored as when packed, or None to keep it as a `V`.
    fn payload(v: &V) -> Option<&[u8]>;
    /// `v`'s word.
    fn word(v: &V) -> u64;
    /// The value a packed node holds: `word` (without `PACKED`) and its payload, copied.
    fn unpack(word: u64, payload: &[u8]) -> V;
    /// A read-only view of a packed value that borrows `payload`.
    ///
    /// # Safety
    /// The view is never dropped, never mutated, and not used after `payload` goes away.
    unsafe fn view(word: u64, payload: &[u8]) -> ManuallyDrop<V>;
}

/// The packing of every table but the keyspace's: values are always stored as `V`.
pub(crate) struct Plain;

// SAFETY: `ON` is false, so nothing is ever packed.
unsafe impl<V> Packing<V> for Plain {
    const ON: bool = false;
    fn payload(_: &V) -> Option<&[u8]> {
        None
    }
    fn word(_: &V) -> u64 {
        unreachable!("plain values have no word")
    }
    fn unpack(_: u64, _: &[u8]) -> V {
        unreachable!("plain tables hold no packed node")
    }
    unsafe fn view(_: u64, _: &[u8]) -> ManuallyDrop<V> {
        unreachable!("plain tables hold no packed node")
    }
}

/// Bit of a node's word: the node is packed.
pub(crate) const PACKED: u64 = 1 << 62;

type Link<V, P> = Option<NonNull<Node<V, P>>>;

/// A node's header; its key's `key_len & LEN` bytes follow at `KEY_OFFSET` in the same block
/// (see the module comment), then the tail when `key_len & TAIL` is set. A packed node shares
/// only `next` and the word at byte 8 with it; the rest is `PackedHead`'s.
#[repr(C)]
struct Node<V, P> {
    next: Link<V, P>,
    val: V,
    key_len: u32,
    packing: PhantomData<fn() -> P>,
}

/// The header of a packed node: the key follows at `PACKED_KEY_OFFSET`, then `payload_len`
/// payload bytes, then the tail if any.
#[repr(C)]
struct PackedHead {
    next: *mut u8,
    word: AtomicU64,
    key_len: u32,
    payload_len: u32,
}

const PACKED_KEY_OFFSET: usize = size_of::<PackedHead>();

/// Bit of `Node::key_len`: the node has an 8-byte tail after its key.
const TAIL: u32 = 1 << 31;
/// The key-length bits of `Node::key_len`.
const LEN: u32 = TAIL - 1;

// The accessors below take a node that is live (allocated by `alloc` or `alloc_packed`, not
// yet freed). The references they return are unbounded: callers tie them to a borrow of the
// `Dict` owning the node (shared for `key`/`val`, exclusive for `val_mut`/`next_mut`).
impl<V, P: Packing<V>> Node<V, P> {
    /// Where the key's bytes start.
    const KEY_OFFSET: usize = offset_of!(Node<V, P>, key_len) + size_of::<u32>();

    /// Checked at compile time for packing tables: a value's word is where a packed node's is.
    const WORD_AT_8: () = assert!(!P::ON || (offset_of!(Node<V, P>, val) == 8 && size_of::<V>() >= 8));

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

    /// Size of the block of a packed node.
    #[inline]
    const fn packed_size(key_len: usize, payload_len: usize, tail: bool) -> usize {
        PACKED_KEY_OFFSET + key_len + payload_len + if tail { size_of::<i64>() } else { 0 }
    }

    /// Allocator cost of such a block.
    #[inline]
    const fn cost(key_len: usize, tail: bool) -> usize {
        node_cost(Self::alloc_size(key_len, tail))
    }

    #[inline]
    fn layout(size: usize) -> Layout {
        Layout::from_size_align(size, align_of::<Self>().max(align_of::<PackedHead>())).expect("dict node layout")
    }

    fn checked_len(n: usize, what: &str) -> u32 {
        u32::try_from(n).ok().filter(|&n| n <= LEN).unwrap_or_else(|| panic!("dict {what} of 2 GiB or more"))
    }

    /// A new block of `size` bytes.
    fn block(size: usize) -> NonNull<Self> {
        let block = node_alloc(size).cast::<Self>();
        let Some(node) = NonNull::new(block) else { alloc::handle_alloc_error(Self::layout(size)) };
        debug_assert!(block.is_aligned());
        node
    }

    /// A new node holding `key`, `val` and the `tail` if any, linked to `next`.
    fn alloc(key: &[u8], val: V, next: Link<V, P>, tail: Option<i64>) -> NonNull<Self> {
        let key_len = Self::checked_len(key.len(), "key");
        let node = Self::block(Self::alloc_size(key.len(), tail.is_some()));
        // SAFETY: the block is `alloc_size`'s size, aligned for `Node<V>` and at least as
        // large, so each field can be written in place, and the key (then the tail) fits from
        // `KEY_OFFSET`. Fields are written one by one, after which the key: nothing writes
        // padding over it.
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

    /// A new node holding `val`: packed if `Packing::payload` asks for it (then `val` is
    /// dropped once its payload is copied), plain otherwise.
    fn alloc_value(key: &[u8], val: V, next: Link<V, P>, tail: Option<i64>) -> NonNull<Self> {
        match P::payload(&val).map(|payload| Self::alloc_packed(key, P::word(&val), payload, next, tail)) {
            Some(node) => {
                drop(val);
                node
            }
            None => Self::alloc(key, val, next, tail),
        }
    }

    /// A new packed node of `key`, `word` (`PACKED` is added), `payload` and `tail`.
    fn alloc_packed(key: &[u8], word: u64, payload: &[u8], next: Link<V, P>, tail: Option<i64>) -> NonNull<Self> {
        debug_assert!(P::ON);
        let key_len = Self::checked_len(key.len(), "key");
        let payload_len = Self::checked_len(payload.len(), "payload");
        let node = Self::block(Self::packed_size(key.len(), payload.len(), tail.is_some()));
        // SAFETY: the block is `packed_size`'s size, aligned for `PackedHead`: the header, key,
        // payload and tail fit one after the other.
        unsafe {
            let h = node.as_ptr().cast::<PackedHead>();
            (&raw mut (*h).next).write(next.map_or(ptr::null_mut(), |n| n.as_ptr().cast()));
            (&raw mut (*h).word).write(AtomicU64::new(word | PACKED));
            (&raw mut (*h).key_len).write(key_len | if tail.is_some() { TAIL } else { 0 });
            (&raw mut (*h).payload_len).write(payload_len);
            let at = h.cast::<u8>().add(PACKED_KEY_OFFSET);
            ptr::copy_nonoverlapping(key.as_ptr(), at, key.len());
            ptr::copy_nonoverlapping(payload.as_ptr(), at.add(key.len()), payload.len());
            if let Some(t) = tail {
                at.add(key.len() + payload.len()).cast::<i64>().write_unaligned(t);
            }
        }
        node
    }

    /// # Safety
    /// `node` is live.
    #[inline]
    unsafe fn word<'a>(node: NonNull<Self>) -> &'a AtomicU64 {
        // SAFETY: in a packing table the word at byte 8 is an `AtomicU64` in both layouts
        // (`Packing`'s contract, `WORD_AT_8`); only called when `P::ON`.
        unsafe { &*node.as_ptr().cast::<u8>().add(8).cast::<AtomicU64>() }
    }

    /// Whether the live `node` is packed (always false in a plain table).
    ///
    /// # Safety
    /// `node` is live.
    #[inline]
    unsafe fn is_packed(node: NonNull<Self>) -> bool {
        let () = Self::WORD_AT_8;
        // SAFETY: the node is live (caller). The bit never changes in a live node (packing
        // and unpacking make a new node), so a relaxed load sees it.
        P::ON && unsafe { Self::word(node) }.load(Ordering::Relaxed) & PACKED != 0
    }

    /// # Safety
    /// `node` is live and packed.
    #[inline]
    unsafe fn head(node: NonNull<Self>) -> *mut PackedHead {
        node.as_ptr().cast()
    }

    /// The `key_len` field, with its TAIL bit.
    ///
    /// # Safety
    /// `node` is live.
    #[inline]
    unsafe fn len_field(node: NonNull<Self>) -> u32 {
        // SAFETY: the node is live (caller); the field is read in the layout it has.
        unsafe {
            if Self::is_packed(node) {
                (*Self::head(node)).key_len
            } else {
                (*node.as_ptr()).key_len
            }
        }
    }

    /// # Safety
    /// `node` is live.
    #[inline]
    unsafe fn key_offset(node: NonNull<Self>) -> usize {
        // SAFETY: the node is live (caller).
        if unsafe { Self::is_packed(node) } {
            PACKED_KEY_OFFSET
        } else {
            Self::KEY_OFFSET
        }
    }

    /// # Safety
    /// `node` is live.
    #[inline]
    unsafe fn payload_len(node: NonNull<Self>) -> usize {
        // SAFETY: the node is live (caller).
        unsafe {
            if Self::is_packed(node) {
                (*Self::head(node)).payload_len as usize
            } else {
                0
            }
        }
    }

    /// A packed node's payload.
    ///
    /// # Safety
    /// `node` is live and packed.
    #[inline]
    unsafe fn payload<'a>(node: NonNull<Self>) -> &'a [u8] {
        // SAFETY: a packed node holds `payload_len` initialized bytes right after its key, and
        // nothing writes them while it lives.
        unsafe {
            let at = node.as_ptr().cast::<u8>().add(PACKED_KEY_OFFSET + Self::key_len(node));
            slice::from_raw_parts(at, Self::payload_len(node))
        }
    }

    /// Free a live node that nothing links to any more; returns its value (rebuilt from the
    /// payload if the node was packed).
    ///
    /// # Safety
    /// `node` is live and is never used again.
    unsafe fn free(node: NonNull<Self>) -> V {
        let p = node.as_ptr();
        // SAFETY: the node is live, so its value (or payload) is initialized, and its block
        // came from `node_alloc`; the value is moved out before the block goes, and never read
        // again.
        unsafe {
            let val = if Self::is_packed(node) {
                P::unpack(Self::word(node).load(Ordering::Relaxed) & !PACKED, Self::payload(node))
            } else {
                (&raw const (*p).val).read()
            };
            node_free(p.cast());
            val
        }
    }

    /// Drop a live node's value (if it has one) and free its block.
    ///
    /// # Safety
    /// As for `free`.
    unsafe fn dispose(node: NonNull<Self>) {
        // SAFETY: as for `free`; a packed node owns nothing but its block.
        unsafe {
            if Self::is_packed(node) {
                node_free(node.as_ptr().cast());
            } else {
                drop(Self::free(node));
            }
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
            let (key, next) = (Self::key(node), Self::next(node));
            let new = if Self::is_packed(node) {
                let word = Self::word(node).load(Ordering::Relaxed);
                Self::alloc_packed(key, word, Self::payload(node), next, tail)
            } else {
                let key_len = key.len();
                let new = Self::block(Self::alloc_size(key_len, tail.is_some()));
                let (old, p) = (node.as_ptr(), new.as_ptr());
                (&raw mut (*p).next).write(next);
                (&raw mut (*p).val).write((&raw const (*old).val).read());
                (&raw mut (*p).key_len).write(key_len as u32 | if tail.is_some() { TAIL } else { 0 });
                ptr::copy_nonoverlapping(key.as_ptr(), p.cast::<u8>().add(Self::KEY_OFFSET), key_len);
                if let Some(t) = tail {
                    p.cast::<u8>().add(Self::KEY_OFFSET + key_len).cast::<i64>().write_unaligned(t);
                }
                new
            };
            node_free(node.as_ptr().cast());
            new
        }
    }

    /// # Safety
    /// `node` is live.
    #[inline]
    unsafe fn key_len(node: NonNull<Self>) -> usize {
        // SAFETY: the node is live (caller).
        unsafe { (Self::len_field(node) & LEN) as usize }
    }

    /// # Safety
    /// `node` is live.
    #[inline]
    unsafe fn has_tail(node: NonNull<Self>) -> bool {
        // SAFETY: the node is live (caller).
        unsafe { Self::len_field(node) & TAIL != 0 }
    }

    /// Where the tail is (meaningful when the node has one).
    ///
    /// # Safety
    /// `node` is live.
    #[inline]
    unsafe fn tail_ptr(node: NonNull<Self>) -> *mut i64 {
        // SAFETY: the node is live (caller); the tail follows the key and payload.
        unsafe { node.as_ptr().cast::<u8>().add(Self::key_offset(node) + Self::key_len(node) + Self::payload_len(node)).cast() }
    }

    /// # Safety
    /// `node` is live.
    #[inline]
    unsafe fn tail(node: NonNull<Self>) -> Option<i64> {
        // SAFETY: the node is live (caller); a node with the TAIL bit was allocated with 8
        // bytes after its key (and payload), written at allocation or by `set_tail`.
        unsafe {
            if !Self::has_tail(node) {
                return None;
            }
            Some(Self::tail_ptr(node).read_unaligned())
        }
    }

    /// # Safety
    /// `node` is live, has a tail, and the caller holds the `Dict` exclusively.
    #[inline]
    unsafe fn set_tail(node: NonNull<Self>, tail: i64) {
        // SAFETY: as for `tail`; the tail bytes are not borrowed by anyone (caller).
        unsafe { Self::tail_ptr(node).write_unaligned(tail) }
    }

    /// Allocator cost of the live `node`'s block.
    ///
    /// # Safety
    /// `node` is live.
    #[inline]
    unsafe fn block_cost(node: NonNull<Self>) -> usize {
        // SAFETY: the node is live (caller).
        unsafe {
            if Self::is_packed(node) {
                node_cost(Self::packed_size(Self::key_len(node), Self::payload_len(node), Self::has_tail(node)))
            } else {
                Self::cost(Self::key_len(node), Self::has_tail(node))
            }
        }
    }

    /// # Safety
    /// `node` is live (see the note above the `impl`).
    #[inline]
    unsafe fn key<'a>(node: NonNull<Self>) -> &'a [u8] {
        let p = node.as_ptr();
        // SAFETY: a live node's block holds `key_len` initialized bytes from its key offset,
        // and no field write ever touches them.
        unsafe { slice::from_raw_parts(p.cast::<u8>().add(Self::key_offset(node)), Self::key_len(node)) }
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
    unsafe fn next(node: NonNull<Self>) -> Link<V, P> {
        // SAFETY: the node is live (caller); `next` is the first field in both layouts (read
        // through a cast: a packed block may be smaller than a `Node`).
        unsafe { node.as_ptr().cast::<Link<V, P>>().read() }
    }

    /// # Safety
    /// `node` is live and the caller holds the `Dict` exclusively.
    #[inline]
    unsafe fn next_mut<'a>(node: NonNull<Self>) -> &'a mut Link<V, P> {
        // SAFETY: the node is live and not otherwise borrowed (caller); the reference covers
        // `next` only, the first field in both layouts.
        unsafe { &mut *node.as_ptr().cast::<Link<V, P>>() }
    }

    /// # Safety
    /// `node` is live and not packed.
    #[inline]
    unsafe fn val<'a>(node: NonNull<Self>) -> &'a V {
        // SAFETY: the node is live and plain (caller); the reference covers `val` only.
        unsafe {
            debug_assert!(!Self::is_packed(node));
            &(*node.as_ptr()).val
        }
    }

    /// The node's value, as a view if it is packed.
    ///
    /// # Safety
    /// `node` is live.
    #[inline]
    unsafe fn val_ref<'a>(node: NonNull<Self>) -> ValRef<'a, V> {
        // SAFETY: the node is live (caller); a packed node's payload outlives the view, which
        // `ValRef` never drops or hands out mutably.
        unsafe {
            if Self::is_packed(node) {
                let word = Self::word(node);
                let initial = word.load(Ordering::Relaxed) & !PACKED;
                ValRef::View { view: P::view(initial, Self::payload(node)), word, initial }
            } else {
                ValRef::Node(Self::val(node))
            }
        }
    }

    /// # Safety
    /// `node` is live and not packed, and the caller holds the `Dict` exclusively.
    #[inline]
    unsafe fn val_mut<'a>(node: NonNull<Self>) -> &'a mut V {
        // SAFETY: the node is live, plain, and its value not otherwise borrowed (caller); the
        // reference covers `val` only, not the key.
        unsafe {
            debug_assert!(!Self::is_packed(node));
            &mut (*node.as_ptr()).val
        }
    }
}

/// A value in a table: a reference into its node, or a view of a packed node's value. A view
/// carries the node's word: when dropped, a change made to the view's word (an access record
/// updated by a read) is stored into the node's, keeping the `PACKED` bit.
pub(crate) enum ValRef<'a, V> {
    Node(&'a V),
    View { view: ManuallyDrop<V>, word: &'a AtomicU64, initial: u64 },
}

impl<'a, V> ValRef<'a, V> {
    /// Whether this is a view of a packed node.
    #[inline]
    pub(crate) fn is_packed(&self) -> bool {
        matches!(self, ValRef::View { .. })
    }

    /// The value in its node, for the full borrow (None for a view).
    #[inline]
    pub(crate) fn as_node(&self) -> Option<&'a V> {
        match self {
            ValRef::Node(v) => Some(v),
            ValRef::View { .. } => None,
        }
    }
}

impl<V> Deref for ValRef<'_, V> {
    type Target = V;
    #[inline]
    fn deref(&self) -> &V {
        match self {
            ValRef::Node(v) => v,
            ValRef::View { view, .. } => view,
        }
    }
}

impl<V> Drop for ValRef<'_, V> {
    #[inline]
    fn drop(&mut self) {
        if let ValRef::View { view, word, initial } = self {
            // SAFETY: a view is made only in packing tables, whose `V` starts with its word
            // (`Packing`'s contract).
            let now = unsafe { &*(&raw const **view).cast::<AtomicU64>() }.load(Ordering::Relaxed);
            if now != *initial {
                word.store(now | PACKED, Ordering::Relaxed);
            }
        }
    }
}

/// A chained hash table from byte-string keys to `V`.
pub(crate) struct Dict<V, P: Packing<V> = Plain> {
    buckets: Vec<Link<V, P>>,
    len: usize,
    /// Sum of `node_cost` of every node's block.
    nodes_heap: usize,
    /// While set the table never resizes, so bucket indexes stay valid (a snapshot in
    /// progress tracks which buckets it has saved; see `keyspace::snapshot`).
    frozen: bool,
}

// SAFETY: a `Dict` owns its nodes as a `Box` per entry would (nothing else points at them):
// sending it moves the `V`s to the other thread, sharing it hands out only `&V` and `&[u8]`.
unsafe impl<V: Send, P: Packing<V>> Send for Dict<V, P> {}
// SAFETY: as above.
unsafe impl<V: Sync, P: Packing<V>> Sync for Dict<V, P> {}

impl<V, P: Packing<V>> Default for Dict<V, P> {
    fn default() -> Self {
        Dict { buckets: Vec::new(), len: 0, nodes_heap: 0, frozen: false }
    }
}

impl<V: Clone, P: Packing<V>> Clone for Dict<V, P> {
    fn clone(&self) -> Self {
        // Same bucket count, so every node goes to the bucket it is in here: no rehashing. The
        // copy is consistent after each node, so if `V::clone` panics dropping it frees it all.
        let mut d = Dict::with_buckets(self.buckets.len());
        for (i, &head) in self.buckets.iter().enumerate() {
            let mut cur = head;
            while let Some(node) = cur {
                // SAFETY: nodes linked from `self` are live and unchanged while `&self` lasts.
                let (key, tail, next) = unsafe { (Node::key(node), Node::tail(node), Node::next(node)) };
                // SAFETY: as above.
                let copy = unsafe {
                    if Node::is_packed(node) {
                        Node::alloc_packed(key, Node::word(node).load(Ordering::Relaxed), Node::payload(node), d.buckets[i], tail)
                    } else {
                        Node::alloc(key, Node::val(node).clone(), d.buckets[i], tail)
                    }
                };
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

impl<V, P: Packing<V>> Drop for Dict<V, P> {
    fn drop(&mut self) {
        // Free chains iteratively so a long chain cannot overflow the stack.
        for slot in &mut self.buckets {
            let mut cur = slot.take();
            while let Some(node) = cur {
                // SAFETY: `node` is live and unlinked from the table (its bucket was taken); its
                // successor is read before it is freed.
                cur = unsafe { Node::next(node) };
                // SAFETY: as above; nothing reaches `node` again.
                unsafe { Node::dispose(node) };
            }
        }
    }
}

impl<V, P: Packing<V>> Dict<V, P> {
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
    pub(crate) fn for_each_in_bucket(&self, idx: usize, mut f: impl FnMut(&[u8], ValRef<'_, V>, Option<i64>)) {
        let mut cur = self.buckets.get(idx).copied().flatten();
        while let Some(node) = cur {
            // SAFETY: nodes linked from `self` are live and unchanged while `&self` lasts.
            unsafe {
                f(Node::key(node), Node::val_ref(node), Node::tail(node));
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
    fn chain(&self, head: Link<V, P>) -> impl Iterator<Item = (&[u8], ValRef<'_, V>)> + '_ {
        // SAFETY: nodes linked from `self` are live, and `&self` keeps them unchanged for the
        // lifetime of the returned references.
        self.nodes(head).map(|node| unsafe { (Node::key(node), Node::val_ref(node)) })
    }

    /// `chain` of a plain table, by reference.
    #[inline]
    fn plain_chain(&self, head: Link<V, P>) -> impl Iterator<Item = (&[u8], &V)> + '_ {
        const { assert!(!P::ON, "a packing table hands out values as `ValRef`s") };
        // SAFETY: as in `chain`; a plain table's nodes are never packed.
        self.nodes(head).map(|node| unsafe { (Node::key(node), Node::val(node)) })
    }

    /// The nodes of the chain starting at `head` (a bucket of `self`).
    #[inline]
    fn nodes(&self, head: Link<V, P>) -> impl Iterator<Item = NonNull<Node<V, P>>> + '_ {
        let mut cur = head;
        std::iter::from_fn(move || {
            let node = cur?;
            // SAFETY: nodes linked from `self` are live while `&self` lasts.
            cur = unsafe { Node::next(node) };
            Some(node)
        })
    }

    /// The node holding `key`, if any.
    #[inline]
    fn find(&self, hash: u64, key: &[u8]) -> Link<V, P> {
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
        self.prefetch_bucket_chain(hash as usize & self.mask());
    }

    /// Start loading the first node of bucket `idx` (its first two lines, for the reason
    /// `prefetch_chain` gives): also for walks over the buckets in index order, which the
    /// hardware prefetches for the slots but not for the nodes they point to.
    #[inline]
    pub(crate) fn prefetch_bucket_chain(&self, idx: usize) {
        if let Some(Some(node)) = self.buckets.get(idx) {
            let p = node.as_ptr().cast::<u8>();
            crate::util::prefetch(p);
            crate::util::prefetch(p.wrapping_add(64));
        }
    }

    /// Hand the value of every plain node in bucket `idx` to `f` (which starts loading what the
    /// value points to); packed nodes hold their value in the node and are skipped. Best once
    /// the bucket's nodes have arrived (`prefetch_bucket_chain` a little earlier).
    #[inline]
    pub(crate) fn prefetch_bucket_values(&self, idx: usize, f: impl Fn(&V)) {
        let mut cur = self.buckets.get(idx).copied().flatten();
        while let Some(node) = cur {
            // SAFETY: nodes linked from `self` are live and unchanged while `&self` lasts.
            unsafe {
                if !Node::is_packed(node) {
                    f(Node::val(node));
                }
                cur = Node::next(node);
            }
        }
    }

    #[inline]
    pub(crate) fn get(&self, key: &[u8]) -> Option<&V> {
        self.get_hashed(hash_bytes(key), key)
    }

    #[inline]
    pub(crate) fn get_hashed(&self, hash: u64, key: &[u8]) -> Option<&V> {
        const { assert!(!P::ON, "a packing table hands out values as `ValRef`s") };
        // SAFETY: the node is live while `self` is borrowed, and `&self` allows no writes; a
        // plain table's nodes are never packed.
        self.find(hash, key).map(|node| unsafe { Node::val(node) })
    }

    /// The value of `key`, a view if its node is packed.
    #[inline]
    pub(crate) fn get_ref_hashed(&self, hash: u64, key: &[u8]) -> Option<ValRef<'_, V>> {
        // SAFETY: the node is live while `self` is borrowed, and `&self` allows no writes.
        self.find(hash, key).map(|node| unsafe { Node::val_ref(node) })
    }

    #[inline]
    pub(crate) fn get_mut(&mut self, key: &[u8]) -> Option<&mut V> {
        self.get_mut_hashed(hash_bytes(key), key)
    }

    /// The value of `key`, mutable; a packed node is unpacked first (`repack_hashed` packs
    /// it again).
    #[inline]
    pub(crate) fn get_mut_hashed(&mut self, hash: u64, key: &[u8]) -> Option<&mut V> {
        let mut node = self.find(hash, key)?;
        // SAFETY: the node is live and owned by `self`.
        if unsafe { Node::is_packed(node) } {
            node = self.unpack_node(hash, node);
        }
        // SAFETY: the node is live, plain, and owned by `self`, which is borrowed exclusively
        // for as long as the result lives.
        Some(unsafe { Node::val_mut(node) })
    }

    /// The link that points at the live `node` (in the bucket of `hash`).
    fn link_to(&mut self, hash: u64, node: NonNull<Node<V, P>>) -> &mut Link<V, P> {
        let idx = hash as usize & self.mask();
        let mut link = &mut self.buckets[idx];
        while *link != Some(node) {
            let cur = link.expect("node linked from its bucket");
            // SAFETY: nodes linked from `self` are live, and `&mut self` means nothing else
            // borrows them.
            link = unsafe { Node::next_mut(cur) };
        }
        link
    }

    /// Put the new node `new` in the live `old`'s place in the chain (and in `nodes_heap`);
    /// the caller frees `old`, which nothing links to any more.
    fn swap_node(&mut self, hash: u64, old: NonNull<Node<V, P>>, new: NonNull<Node<V, P>>) {
        // SAFETY: both nodes are live (caller).
        let (old_cost, new_cost) = unsafe { (Node::block_cost(old), Node::block_cost(new)) };
        *self.link_to(hash, old) = Some(new);
        self.nodes_heap = self.nodes_heap - old_cost + new_cost;
    }

    /// Replace the packed `node` by a plain one holding its value; returns the new node.
    #[cold]
    fn unpack_node(&mut self, hash: u64, node: NonNull<Node<V, P>>) -> NonNull<Node<V, P>> {
        // SAFETY: `node` is live, packed and ours; the plain copy takes its place in the chain
        // before the old block is freed.
        let new = unsafe {
            let word = Node::word(node).load(Ordering::Relaxed) & !PACKED;
            let val = P::unpack(word, Node::payload(node));
            Node::alloc(Node::key(node), val, Node::next(node), Node::tail(node))
        };
        self.swap_node(hash, node, new);
        // SAFETY: `node` is unlinked and never used again; a packed node owns nothing else.
        unsafe { node_free(node.as_ptr().cast()) };
        new
    }

    /// The word of `key`'s node (packing tables only; see `Packing`), plain or packed.
    #[inline]
    pub(crate) fn word_hashed(&self, hash: u64, key: &[u8]) -> Option<&AtomicU64> {
        const { assert!(P::ON, "only a packing table's values have a word") };
        // SAFETY: the node is live while `self` is borrowed; its word is an `AtomicU64` in
        // both layouts.
        self.find(hash, key).map(|node| unsafe { Node::word(node) })
    }

    /// Replace `key`'s value by `val`, packed or not as `Packing::payload` says, keeping the
    /// node's tail; returns the old value and whether its node was packed, or `val` back when
    /// the key is absent.
    pub(crate) fn replace_hashed(&mut self, hash: u64, key: &[u8], val: V) -> Result<(V, bool), V> {
        let Some(node) = self.find(hash, key) else { return Err(val) };
        // SAFETY: the node is live and ours (`&mut self`). A new node takes its place in the
        // chain before the old one is freed; its key is read before that.
        unsafe {
            let was_packed = Node::is_packed(node);
            if !was_packed && P::payload(&val).is_none() {
                return Ok((std::mem::replace(Node::val_mut(node), val), false));
            }
            let new = Node::alloc_value(key, val, Node::next(node), Node::tail(node));
            self.swap_node(hash, node, new);
            Ok((Node::free(node), was_packed))
        }
    }

    /// Pack `key`'s node if it is plain and its value asks to be (`Packing::payload`).
    /// Returns true when it did.
    pub(crate) fn repack_hashed(&mut self, hash: u64, key: &[u8]) -> bool {
        if !P::ON {
            return false;
        }
        let Some(node) = self.find(hash, key) else { return false };
        // SAFETY: the node is live and ours; the packed copy takes its place in the chain
        // before the old node is freed (dropping its value).
        unsafe {
            if Node::is_packed(node) {
                return false;
            }
            let val = Node::val(node);
            let Some(payload) = P::payload(val) else { return false };
            let new = Node::alloc_packed(key, P::word(val), payload, Node::next(node), Node::tail(node));
            self.swap_node(hash, node, new);
            drop(Node::free(node));
        }
        true
    }

    pub(crate) fn contains_key(&self, key: &[u8]) -> bool {
        self.contains_key_hashed(hash_bytes(key), key)
    }

    #[inline]
    pub(crate) fn contains_key_hashed(&self, hash: u64, key: &[u8]) -> bool {
        self.find(hash, key).is_some()
    }

    /// Insert or replace; returns the previous value.
    pub(crate) fn insert(&mut self, key: &[u8], val: V) -> Option<V> {
        self.insert_hashed(hash_bytes(key), key, val)
    }

    pub(crate) fn insert_hashed(&mut self, hash: u64, key: &[u8], val: V) -> Option<V> {
        const { assert!(!P::ON, "a packing table replaces values with `replace_hashed`") };
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
    fn link_new(&mut self, hash: u64, key: &[u8], val: V, tail: Option<i64>) -> NonNull<Node<V, P>> {
        if (self.buckets.is_empty() || !self.frozen) && self.len >= self.buckets.len() {
            self.resize((self.len + 1).next_power_of_two().max(4));
        }
        let idx = hash as usize & self.mask();
        let node = Node::alloc_value(key, val, self.buckets[idx], tail);
        self.buckets[idx] = Some(node);
        self.len += 1;
        // SAFETY: the node was just allocated.
        self.nodes_heap += unsafe { Node::block_cost(node) };
        node
    }

    /// Returns the value for `key`, inserting `make()` first if absent.
    pub(crate) fn get_or_insert_with(&mut self, key: &[u8], make: impl FnOnce() -> V) -> &mut V {
        const { assert!(!P::ON, "a new node of a packing table may be packed") };
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
        self.take_hashed(hash, key).map(|(v, tail, _)| (v, tail))
    }

    /// Remove `key`; returns its value (rebuilt if it was packed), its tail, and whether its
    /// node was packed.
    pub(crate) fn take_hashed(&mut self, hash: u64, key: &[u8]) -> Option<(V, Option<i64>, bool)> {
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
            let (tail, packed, val) = unsafe { (Node::tail(node), Node::is_packed(node), Node::free(node)) };
            self.len -= 1;
            self.maybe_shrink();
            return Some((val, tail, packed));
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
        self.buckets.iter().flat_map(move |&head| self.plain_chain(head))
    }

    /// `iter` of any table, values as `ValRef`s.
    pub(crate) fn iter_refs(&self) -> impl Iterator<Item = (&[u8], ValRef<'_, V>)> + '_ {
        self.buckets.iter().flat_map(move |&head| self.chain(head))
    }

    pub(crate) fn keys(&self) -> impl Iterator<Item = &[u8]> + '_ {
        // SAFETY: the nodes are live while `&self` lasts; keys are read without their values.
        self.buckets.iter().flat_map(move |&head| self.nodes(head)).map(|node| unsafe { Node::key(node) })
    }

    /// Remove every entry for which `keep` returns false. If `keep` or a value's `drop`
    /// panics, the table stays consistent (every node is either linked and counted, or freed).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&[u8], &mut V) -> bool) {
        const { assert!(!P::ON, "retain hands out plain values") };
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
        self.plain_chain(self.buckets[(cursor & mask) as usize]).for_each(|(k, v)| f(k, v));
        Self::next_cursor(cursor, mask)
    }

    /// `scan` of any table, values as `ValRef`s.
    pub(crate) fn scan_refs(&self, cursor: u64, mut f: impl FnMut(&[u8], ValRef<'_, V>)) -> u64 {
        if self.buckets.is_empty() {
            return 0;
        }
        let mask = self.mask() as u64;
        self.chain(self.buckets[(cursor & mask) as usize]).for_each(|(k, v)| f(k, v));
        Self::next_cursor(cursor, mask)
    }

    /// The cursor after `cursor` in a table of `mask + 1` buckets.
    fn next_cursor(cursor: u64, mask: u64) -> u64 {
        // Increment the reversed cursor over the unmasked bits.
        let mut v = cursor | !mask;
        v = v.reverse_bits();
        v = v.wrapping_add(1);
        v.reverse_bits()
    }

    /// Heap bytes one entry with a `key_len`-byte key costs the allocator: its node's block
    /// (header, value and key). O(1), for containers that keep a running total.
    pub(crate) const fn entry_cost(key_len: usize) -> usize {
        Node::<V, P>::cost(key_len, false)
    }

    /// `entry_cost` of a packed entry (`Packing`) with a `payload_len`-byte payload.
    pub(crate) const fn packed_entry_cost(key_len: usize, payload_len: usize, tail: bool) -> usize {
        node_cost(Node::<V, P>::packed_size(key_len, payload_len, tail))
    }

    /// `entry_cost` of an entry with a tail.
    pub(crate) const fn entry_cost_with_tail(key_len: usize) -> usize {
        Node::<V, P>::cost(key_len, true)
    }

    /// The tail of `key`'s node: None when the key is absent or has none.
    #[inline]
    pub(crate) fn tail_hashed(&self, hash: u64, key: &[u8]) -> Option<i64> {
        // SAFETY: nodes linked from `self` are live.
        self.find(hash, key).and_then(|node| unsafe { Node::tail(node) })
    }

    /// The value of `key`'s node (a view if it is packed) and its tail.
    #[inline]
    pub(crate) fn get_ref_with_tail_hashed(&self, hash: u64, key: &[u8]) -> Option<(ValRef<'_, V>, Option<i64>)> {
        // SAFETY: the node is live while `self` is borrowed, and `&self` allows no writes.
        self.find(hash, key).map(|node| unsafe { (Node::val_ref(node), Node::tail(node)) })
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
        heap_cost(self.buckets.capacity() * size_of::<Link<V, P>>())
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
        const { assert!(!P::ON, "a packing table hands out values as `ValRef`s") };
        // SAFETY: the nodes are live while `&self` lasts; a plain table's are never packed.
        self.sample_nodes(rng, n, |node| unsafe { f(Node::key(node), Node::val(node)) });
    }

    /// `sample` of any table, values as `ValRef`s.
    pub(crate) fn sample_refs(&self, rng: &mut impl rand::Rng, n: usize, mut f: impl FnMut(&[u8], ValRef<'_, V>)) {
        // SAFETY: the nodes are live while `&self` lasts.
        self.sample_nodes(rng, n, |node| unsafe { f(Node::key(node), Node::val_ref(node)) });
    }

    fn sample_nodes(&self, rng: &mut impl rand::Rng, n: usize, mut f: impl FnMut(NonNull<Node<V, P>>)) {
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
            for node in self.nodes(head) {
                f(node);
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
        const { assert!(!P::ON, "a packing table hands out values as `ValRef`s") };
        // SAFETY: the node is live while `&self` lasts; a plain table's are never packed.
        self.random_node(rng).map(|node| unsafe { (Node::key(node), Node::val(node)) })
    }

    /// `random_entry` of any table, the value as a `ValRef`.
    pub(crate) fn random_ref(&self, rng: &mut impl rand::Rng) -> Option<(&[u8], ValRef<'_, V>)> {
        // SAFETY: the node is live while `&self` lasts.
        self.random_node(rng).map(|node| unsafe { (Node::key(node), Node::val_ref(node)) })
    }

    fn random_node(&self, rng: &mut impl rand::Rng) -> Link<V, P> {
        if self.len == 0 {
            return None;
        }
        loop {
            let head = self.buckets[rng.random_range(0..self.buckets.len())];
            if head.is_some() {
                let n = self.nodes(head).count();
                return self.nodes(head).nth(rng.random_range(0..n));
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
                    let got = d.get_ref_with_tail_hashed(h, &key).map(|(v, t)| (v.to_string(), t));
                    assert_eq!(got, model.get(&key).map(|(v, t)| (v.to_string(), *t)));
                }
            }
            if step % 1000 == 0 {
                assert_eq!(d.heap_bytes(), recount(&d), "step {step}");
                let c = d.clone();
                assert_eq!(c.heap_bytes(), d.heap_bytes());
                for (k, (v, t)) in &model {
                    assert_eq!(c.get_ref_with_tail_hashed(hash_bytes(k), k).map(|(v, t)| (v.to_string(), t)), Some((v.to_string(), *t)));
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
        assert_eq!((size_of::<Node<[u64; 7], Plain>>(), Node::<[u64; 7], Plain>::KEY_OFFSET), (72, 68));
        assert_eq!(Dict::<[u64; 7]>::entry_cost(10), 80);
        // A 48-byte value: 8 + 48 + 4 + 10 = 70 bytes, also the 80-byte class; a 20-byte key
        // (80 bytes) still fits, a 21-byte one takes the 96-byte class.
        assert_eq!([10, 20, 21].map(Dict::<[u64; 6]>::entry_cost), [80, 80, 96]);
        // Set members: 12 + len, in mimalloc's 16-byte steps up to 64 bytes (no header, no
        // minimum beyond the 16-byte node).
        assert_eq!((size_of::<Node<(), Plain>>(), Node::<(), Plain>::KEY_OFFSET), (16, 12));
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
        let mut d: Dict<_> = Dict::new();
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
        let mut d: Dict<_> = Dict::new();
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
        let mut d: Dict<_> = Dict::new();
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
        let mut d: Dict<_> = Dict::new();
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
        let mut d: Dict<_> = Dict::new();
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

    /// The keyspace's packing table (`Dict<Entry, PackedHashes>`) against a model: values that
    /// pack (small hash listpacks) and values that do not (strings, big listpacks), with and
    /// without tails, through inserts, replacements, unpacking writes and repacks, word
    /// updates made through views, tail changes, removals and growth. After every
    /// step each key's value, tail, word and packing are as the model says, and `heap_bytes`
    /// equals a recount of the blocks.
    mod packing {
        use super::super::*;
        use crate::keyspace::{Entry, Keys, PackedHashes};
        use crate::types::listpack::ForwardListpack;
        use crate::types::{HashValue, Value};
        use proptest::prelude::*;
        use std::collections::HashMap;

        #[derive(Clone, Debug, PartialEq)]
        enum Val {
            Str(Vec<u8>),
            /// The items of a hash listpack (field, value, ...).
            Lp(Vec<Vec<u8>>),
        }

        fn entry(v: &Val) -> Entry {
            Entry::new(match v {
                Val::Str(b) => Value::Str(crate::types::ValueBytes::new(b)),
                Val::Lp(items) => Value::Hash(HashValue::Listpack(ForwardListpack::from_items(items.iter().map(Vec::as_slice)))),
            })
        }

        fn read(e: &Entry) -> Val {
            match &e.value {
                Value::Str(b) => Val::Str(b.to_vec()),
                Value::Hash(HashValue::Listpack(lp)) => Val::Lp(lp.iter().map(<[u8]>::to_vec).collect()),
                _ => unreachable!("the test stores strings and listpacks"),
            }
        }

        fn packs(v: &Val) -> bool {
            PackedHashes::payload(&entry(v)).is_some()
        }

        #[derive(Debug, Clone)]
        enum Op {
            Insert(Vec<u8>, Val, Option<i64>),
            Replace(Vec<u8>, Val),
            /// Unpack by `get_mut_hashed`, push an item, repack (or not).
            Write(Vec<u8>, Vec<u8>, bool),
            /// Store an access record through the value as a lookup sees it.
            Touch(Vec<u8>, u64),
            SetTail(Vec<u8>, Option<i64>),
            Remove(Vec<u8>),
            GrowDouble,
        }

        fn key() -> impl Strategy<Value = Vec<u8>> {
            prop_oneof![10 => prop::collection::vec(0u8..3, 0..=12), 1 => (0u8..3).prop_map(|b| vec![b; 300])]
        }

        fn val() -> impl Strategy<Value = Val> {
            prop_oneof![
                2 => prop::collection::vec(any::<u8>(), 0..60).prop_map(Val::Str),
                // Mostly small listpacks (packed); some beyond `PACKED_HASH_MAX` (plain).
                5 => prop::collection::vec(prop::collection::vec(any::<u8>(), 0..20), 1..12).prop_map(Val::Lp),
                1 => prop::collection::vec(prop::collection::vec(any::<u8>(), 100..200), 6..12).prop_map(Val::Lp),
            ]
        }

        fn tail() -> impl Strategy<Value = Option<i64>> {
            prop_oneof![Just(None), any::<i64>().prop_map(Some)]
        }

        fn op() -> impl Strategy<Value = Op> {
            prop_oneof![
                8 => (key(), val(), tail()).prop_map(|(k, v, t)| Op::Insert(k, v, t)),
                3 => (key(), val()).prop_map(|(k, v)| Op::Replace(k, v)),
                4 => (key(), prop::collection::vec(any::<u8>(), 0..30), any::<bool>()).prop_map(|(k, i, r)| Op::Write(k, i, r)),
                3 => (key(), 0u64..1 << 40).prop_map(|(k, a)| Op::Touch(k, a)),
                2 => (key(), tail()).prop_map(|(k, t)| Op::SetTail(k, t)),
                3 => key().prop_map(Op::Remove),
                1 => Just(Op::GrowDouble),
            ]
        }

        /// Model entry: value, tail, access record, and whether the node should be packed now.
        type Model = HashMap<Vec<u8>, (Val, Option<i64>, u64, bool)>;

        fn check(d: &Keys, model: &Model) -> Result<(), TestCaseError> {
            prop_assert_eq!(d.len(), model.len());
            let mut blocks = 0;
            for (k, (v, t, access, packed)) in model {
                let h = hash_bytes(k);
                let (e, tail) = d.get_ref_with_tail_hashed(h, k).expect("modelled key present");
                prop_assert_eq!(&read(&e), v);
                prop_assert_eq!(tail, *t);
                prop_assert_eq!(e.access_record(), *access);
                prop_assert_eq!(e.is_packed(), *packed);
                prop_assert_eq!(d.word_hashed(h, k).map(|w| w.load(Ordering::Relaxed) & PACKED != 0), Some(*packed));
                blocks += match PackedHashes::payload(&e) {
                    Some(p) if *packed => Keys::packed_entry_cost(k.len(), p.len(), t.is_some()),
                    _ if t.is_some() => Keys::entry_cost_with_tail(k.len()),
                    _ => Keys::entry_cost(k.len()),
                };
            }
            prop_assert_eq!(d.heap_bytes(), d.table_cost() + blocks);
            let mut seen = 0;
            let mut cursor = 0;
            loop {
                cursor = d.scan_refs(cursor, |k, e| {
                    assert_eq!(Some(&read(&e)), model.get(k).map(|m| &m.0));
                    seen += 1;
                });
                if cursor == 0 {
                    break;
                }
            }
            prop_assert_eq!(seen, model.len());
            Ok(())
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(64))]
            #[test]
            fn packed_nodes_follow_a_model(ops in prop::collection::vec(op(), 1..300)) {
                let mut d: Keys = Dict::new();
                let mut model: Model = HashMap::new();
                for op in ops {
                    match op {
                        Op::Insert(k, v, t) => {
                            if model.contains_key(&k) {
                                continue;
                            }
                            let e = entry(&v);
                            e.store_access_record(7);
                            d.insert_new_with_tail_hashed(hash_bytes(&k), &k, e, t);
                            let p = packs(&v);
                            model.insert(k, (v, t, 7, p));
                        }
                        Op::Replace(k, v) => {
                            let e = entry(&v);
                            e.store_access_record(9);
                            let old = d.replace_hashed(hash_bytes(&k), &k, e).ok();
                            prop_assert_eq!(old.map(|(o, packed)| (read(&o), packed)), model.get(&k).map(|m| (m.0.clone(), m.3)));
                            if let Some(m) = model.get_mut(&k) {
                                let p = packs(&v);
                                *m = (v, m.1, 9, p);
                            }
                        }
                        Op::Write(k, item, repack) => {
                            let h = hash_bytes(&k);
                            let Some(e) = d.get_mut_hashed(h, &k) else {
                                prop_assert!(!model.contains_key(&k));
                                continue;
                            };
                            let m = model.get_mut(&k).expect("present");
                            if let (Value::Hash(HashValue::Listpack(lp)), Val::Lp(items)) = (&mut e.value, &mut m.0) {
                                lp.push_back(&item);
                                items.push(item);
                            }
                            m.3 = false;
                            if repack {
                                m.3 = d.repack_hashed(h, &k);
                                prop_assert_eq!(m.3, packs(&m.0));
                            }
                        }
                        Op::Touch(k, a) => {
                            if let Some(e) = d.get_ref_hashed(hash_bytes(&k), &k) {
                                e.store_access_record(a);
                                model.get_mut(&k).expect("present").2 = a;
                            }
                        }
                        Op::SetTail(k, t) => {
                            prop_assert_eq!(d.set_tail_hashed(hash_bytes(&k), &k, t), model.contains_key(&k));
                            if let Some(m) = model.get_mut(&k) {
                                m.1 = t;
                            }
                        }
                        Op::Remove(k) => {
                            let got = d.take_hashed(hash_bytes(&k), &k);
                            prop_assert_eq!(got.map(|(v, t, p)| (read(&v), t, v.access_record(), p)), model.remove(&k).map(|m| (m.0, m.1, m.2, m.3)));
                        }
                        Op::GrowDouble => d.grow_double(),
                    }
                    check(&d, &model)?;
                }
            }
        }
    }
}
