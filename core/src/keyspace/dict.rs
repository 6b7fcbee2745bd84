//! `Dict<V>`: a chained hash table keyed by byte strings, in the style of Redis's `dict.c`.
//!
//! Why not `std::collections::HashMap`: Redis's SCAN family promises that an element present
//! for the whole iteration is returned, even while the table grows or shrinks between calls.
//! That needs a cursor over *home buckets* of a power-of-two table, advanced in reverse-binary
//! order (Pieter Noordhuis's algorithm, see `scan`). Open addressing displaces elements from
//! their home bucket, so it cannot keep that promise; chaining can.
//!
//! Invariants: `buckets.len()` is a power of two (or 0 when empty); every node lives in bucket
//! `hash_bytes(key) & mask`; `len` is the number of nodes; `key_heap` is the allocator cost of
//! the keys too long to be inline (so `heap_bytes` is O(1)). Nodes do not store the hash (8
//! bytes per entry saved); a resize hashes the keys again. The table grows at load factor 1 and shrinks when
//! it falls under 1/8, rehashing in one step (tables are per shard or per value, so a step is
//! small). Lookup is O(1) expected; `scan` visits each bucket once per full cycle.

use std::hash::BuildHasher;
use std::sync::OnceLock;

use crate::types::{heap_cost, SmallBytes};

/// Longest key a node stores inline (`SmallBytes`: a tag byte, a length byte, the bytes).
const INLINE_KEY: usize = std::mem::size_of::<SmallBytes>() - 2;

/// The process-wide hash function (random seed chosen once per process).
pub(crate) fn hash_bytes(key: &[u8]) -> u64 {
    static STATE: OnceLock<foldhash::fast::FixedState> = OnceLock::new();
    STATE.get_or_init(|| foldhash::fast::FixedState::with_seed(rand::random())).hash_one(key)
}

struct Node<V> {
    next: Option<Box<Node<V>>>,
    key: SmallBytes,
    val: V,
}

/// A chained hash table from byte-string keys to `V`.
pub(crate) struct Dict<V> {
    buckets: Vec<Option<Box<Node<V>>>>,
    len: usize,
    /// Sum of `heap_cost` of every out-of-line key.
    key_heap: usize,
    /// While set the table never resizes, so bucket indexes stay valid (a snapshot in
    /// progress tracks which buckets it has saved; see `keyspace::snapshot`).
    frozen: bool,
}

impl<V> Default for Dict<V> {
    fn default() -> Self {
        Dict { buckets: Vec::new(), len: 0, key_heap: 0, frozen: false }
    }
}

impl<V: Clone> Clone for Dict<V> {
    fn clone(&self) -> Self {
        let mut d = Dict::with_buckets(self.buckets.len());
        for (k, v) in self.iter() {
            d.insert_new_hashed(hash_bytes(k), k, v.clone());
        }
        d
    }
}

impl<V> Drop for Dict<V> {
    fn drop(&mut self) {
        // Unlink chains iteratively so a long chain cannot overflow the stack.
        for slot in &mut self.buckets {
            let mut cur = slot.take();
            while let Some(mut node) = cur {
                cur = node.next.take();
            }
        }
    }
}

impl<V> Dict<V> {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    fn with_buckets(n: usize) -> Self {
        let mut buckets = Vec::with_capacity(n);
        buckets.resize_with(n, || None);
        Dict { buckets, len: 0, key_heap: 0, frozen: false }
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
    pub(crate) fn bucket_count(&self) -> usize {
        self.buckets.len()
    }

    /// The bucket a key hash lives in (meaningless when `bucket_count() == 0`).
    pub(crate) fn bucket_of(&self, hash: u64) -> usize {
        hash as usize & self.mask()
    }

    /// Visit the entries of bucket `idx`.
    pub(crate) fn for_each_in_bucket(&self, idx: usize, mut f: impl FnMut(&[u8], &V)) {
        let mut cur = self.buckets.get(idx).and_then(|b| b.as_deref());
        while let Some(node) = cur {
            f(&node.key, &node.val);
            cur = node.next.as_deref();
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn mask(&self) -> usize {
        self.buckets.len().wrapping_sub(1)
    }

    pub(crate) fn get(&self, key: &[u8]) -> Option<&V> {
        self.get_hashed(hash_bytes(key), key)
    }

    pub(crate) fn get_hashed(&self, hash: u64, key: &[u8]) -> Option<&V> {
        if self.len == 0 {
            return None;
        }
        let mut cur = self.buckets[hash as usize & self.mask()].as_deref();
        while let Some(node) = cur {
            if *node.key == *key {
                return Some(&node.val);
            }
            cur = node.next.as_deref();
        }
        None
    }

    pub(crate) fn get_mut(&mut self, key: &[u8]) -> Option<&mut V> {
        self.get_mut_hashed(hash_bytes(key), key)
    }

    pub(crate) fn get_mut_hashed(&mut self, hash: u64, key: &[u8]) -> Option<&mut V> {
        if self.len == 0 {
            return None;
        }
        let mask = self.mask();
        let mut cur = self.buckets[hash as usize & mask].as_deref_mut();
        while let Some(node) = cur {
            if *node.key == *key {
                return Some(&mut node.val);
            }
            cur = node.next.as_deref_mut();
        }
        None
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
        let key = SmallBytes::new(key);
        self.key_heap += crate::types::heap_cost(key.heap_size());
        if (self.buckets.is_empty() || !self.frozen) && self.len >= self.buckets.len() {
            self.resize((self.len + 1).next_power_of_two().max(4));
        }
        let idx = hash as usize & self.mask();
        let next = self.buckets[idx].take();
        self.buckets[idx] = Some(Box::new(Node { next, key, val }));
        self.len += 1;
    }

    /// Returns the value for `key`, inserting `make()` first if absent.
    pub(crate) fn get_or_insert_with(&mut self, key: &[u8], make: impl FnOnce() -> V) -> &mut V {
        let hash = hash_bytes(key);
        if self.get_hashed(hash, key).is_none() {
            self.insert_new_hashed(hash, key, make());
        }
        self.get_mut_hashed(hash, key).expect("just inserted")
    }

    pub(crate) fn remove(&mut self, key: &[u8]) -> Option<V> {
        self.remove_entry_hashed(hash_bytes(key), key).map(|(_, v)| v)
    }

    pub(crate) fn remove_entry_hashed(&mut self, hash: u64, key: &[u8]) -> Option<(SmallBytes, V)> {
        if self.len == 0 {
            return None;
        }
        let idx = hash as usize & self.mask();
        let mut link = &mut self.buckets[idx];
        loop {
            match link {
                None => return None,
                Some(node) if *node.key == *key => {
                    let mut node = link.take().expect("matched Some");
                    *link = node.next.take();
                    self.len -= 1;
                    self.key_heap -= crate::types::heap_cost(node.key.heap_size());
                    self.maybe_shrink();
                    return Some((node.key, node.val));
                }
                Some(node) => link = &mut node.next,
            }
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
        let old = std::mem::take(&mut self.buckets);
        self.buckets.resize_with(new_len, || None);
        let mask = new_len - 1;
        for mut slot in old {
            while let Some(mut node) = slot {
                slot = node.next.take();
                let idx = hash_bytes(&node.key) as usize & mask;
                node.next = self.buckets[idx].take();
                self.buckets[idx] = Some(node);
            }
        }
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&[u8], &V)> + '_ {
        self.iter_nodes().map(|n| (&*n.key, &n.val))
    }

    pub(crate) fn keys(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.iter().map(|(k, _)| k)
    }

    /// Remove every entry for which `keep` returns false.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&[u8], &mut V) -> bool) {
        for i in 0..self.buckets.len() {
            let mut chain = self.buckets[i].take();
            let mut kept: Option<Box<Node<V>>> = None;
            while let Some(mut node) = chain {
                chain = node.next.take();
                if keep(&node.key, &mut node.val) {
                    node.next = kept;
                    kept = Some(node);
                } else {
                    self.len -= 1;
                    self.key_heap -= crate::types::heap_cost(node.key.heap_size());
                }
            }
            self.buckets[i] = kept;
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
        let mut cur = self.buckets[(cursor & mask) as usize].as_deref();
        while let Some(node) = cur {
            f(&node.key, &node.val);
            cur = node.next.as_deref();
        }
        // Increment the reversed cursor over the unmasked bits.
        let mut v = cursor | !mask;
        v = v.reverse_bits();
        v = v.wrapping_add(1);
        v.reverse_bits()
    }

    /// Heap bytes one entry costs the allocator: its node, plus the key's own block when the key
    /// is too long to be stored inline. O(1), for containers that keep a running total.
    pub(crate) fn entry_cost(key_len: usize) -> usize {
        let key = if key_len <= INLINE_KEY { 0 } else { heap_cost(key_len) };
        heap_cost(std::mem::size_of::<Node<V>>()) + key
    }

    /// Heap bytes of the bucket array (the allocator's cost of it). O(1).
    pub(crate) fn table_cost(&self) -> usize {
        heap_cost(self.buckets.capacity() * std::mem::size_of::<usize>())
    }

    /// Heap bytes of the table, O(1): bucket array, nodes and keys too long to be inline, as
    /// the allocator rounds them. What `V` owns beyond its own size is not counted.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.table_cost() + self.len * Self::NODE_COST + self.key_heap
    }

    /// Allocator cost of one node (key inline part and value included).
    pub(crate) const NODE_COST: usize = heap_cost(std::mem::size_of::<Node<V>>());

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
            let mut cur = self.buckets[idx].as_deref();
            if cur.is_none() {
                empty_run += 1;
                // Long empty stretch: jump elsewhere, as Redis does, to stay O(n).
                if empty_run >= 5 && empty_run > n {
                    idx = rng.random_range(0..self.buckets.len());
                    empty_run = 0;
                    continue;
                }
            }
            while let Some(node) = cur {
                f(&node.key, &node.val);
                found += 1;
                if found >= n {
                    return;
                }
                cur = node.next.as_deref();
            }
            idx = (idx + 1) & mask;
        }
    }

    fn iter_nodes(&self) -> impl Iterator<Item = &Node<V>> + '_ {
        self.buckets.iter().flat_map(|slot| {
            let mut cur = slot.as_deref();
            std::iter::from_fn(move || {
                let node = cur?;
                cur = node.next.as_deref();
                Some(node)
            })
        })
    }

    /// A uniformly chosen bucket's random entry (Redis's `dictGetFairRandomKey` approximation).
    pub(crate) fn random_entry(&self, rng: &mut impl rand::Rng) -> Option<(&[u8], &V)> {
        if self.len == 0 {
            return None;
        }
        loop {
            let slot = &self.buckets[rng.random_range(0..self.buckets.len())];
            if let Some(head) = slot.as_deref() {
                let mut n = 0;
                let mut cur = Some(head);
                while let Some(node) = cur {
                    n += 1;
                    cur = node.next.as_deref();
                }
                let pick = rng.random_range(0..n);
                let mut node = head;
                for _ in 0..pick {
                    node = node.next.as_deref().expect("counted");
                }
                return Some((&node.key, &node.val));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{HashMap, HashSet};

    #[test]
    fn entry_cost_knows_the_inline_key_limit() {
        assert_eq!(<SmallBytes>::new(&[7u8; INLINE_KEY]).heap_size(), 0);
        assert_eq!(<SmallBytes>::new(&[7u8; INLINE_KEY + 1]).heap_size(), INLINE_KEY + 1);
        assert_eq!(Dict::<f64>::entry_cost(INLINE_KEY), heap_cost(std::mem::size_of::<Node<f64>>()));
        assert_eq!(Dict::<f64>::entry_cost(100), Dict::<f64>::entry_cost(0) + heap_cost(100));
        let mut d = Dict::new();
        assert_eq!(d.table_cost(), 0);
        d.insert(b"k", 1.0);
        assert_eq!(d.table_cost(), heap_cost(d.bucket_count() * 8));
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
    }
}
