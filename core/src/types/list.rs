//! `ListValue`: the list type, in Redis 7's two encodings.
//!
//! - `listpack`: the whole list in one `Listpack` (one exact-size allocation) while it fits one
//!   node. A small list costs one heap block and is stored unboxed in `Value::List`.
//! - `quicklist`: a `VecDeque` of `Listpack` nodes, each within the node limit (boxed, so
//!   `ListValue` stays 16 bytes). Pushes and pops touch only an end node; positional access
//!   walks node counts (O(nodes)) and then one node (O(node size)).
//!
//! The node limit is Redis's `list-max-listpack-size` ("fill"), passed to every mutation (it can
//! change at run time; CONFIG SET affects later edits only, as in Redis): a positive fill caps
//! the entries per node (with Redis's 8 KiB safety cap on bytes), -1..-5 cap a node at
//! 4/8/16/32/64 KiB. Conversions follow Redis 7's `listTypeTryConversion`:
//! - growing: before elements are added (push, LINSERT, LSET, even when LINSERT finds no pivot or
//!   LSET's index is out of range, as in Redis), a listpack that would exceed the node limit
//!   becomes a quicklist whose first node is the old listpack;
//! - shrinking: after elements are removed or replaced (pops, LREM, LTRIM, LSET), a quicklist
//!   whose content fits half the limit becomes one listpack again (the hysteresis avoids
//!   converting back and forth). Redis only converts a quicklist that has a single node; this
//!   merges several small nodes too (same answer for every list Redis would convert).
//!
//! Sizes are exact: an element adds `entry_size(len)` bytes to a listpack (Redis estimates).
//! A node holding more than one element is within the limit; one larger element gets a node of
//! its own (Redis's "plain" node). Edits in the middle of a quicklist split an oversized node
//! greedily and merge a node with a neighbour when both fit one node, so nodes do not decay
//! into many small ones (Redis merges only on insertion).
//!
//! Memory: `mem_usage()` is O(1). A listpack reports its block; a quicklist keeps running totals
//! of its elements, node bytes and node blocks, updated by the only three functions that change
//! a node (`edit`, `add_node`, `remove_node`), plus its own box and its deque buffer.

use std::collections::VecDeque;

use super::heap_cost;
use super::listpack::{self, Listpack};

/// Redis's `SIZE_SAFETY_LIMIT`: the byte cap of a node under a count-based fill.
const SIZE_SAFETY_LIMIT: usize = 8192;
/// Node byte limits for fill -1..-5 (Redis's `optimization_level`).
const SIZE_LEVELS: [usize; 5] = [4096, 8192, 16384, 32768, 65536];
/// Bytes of an empty listpack (its count header).
const LP_HEADER: usize = 4;

fn varint_len(mut v: usize) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

/// Bytes one element of `n` bytes adds to a listpack (the layout of listpack.rs; tested).
fn entry_size(n: usize) -> usize {
    let body = varint_len(n) + n;
    body + varint_len(body)
}

/// The node limit a fill value stands for (Redis's `quicklistNodeLimit`).
#[derive(Clone, Copy, Debug)]
struct Limit {
    /// Bytes per node, `usize::MAX` under a count-based fill.
    size: usize,
    /// Entries per node, `usize::MAX` under a size-based fill.
    count: usize,
}

impl Limit {
    fn new(fill: i64) -> Limit {
        if fill >= 0 {
            Limit { size: usize::MAX, count: usize::try_from(fill).unwrap_or(usize::MAX).max(1) }
        } else {
            let level = usize::try_from(fill.unsigned_abs() - 1).unwrap_or(usize::MAX).min(SIZE_LEVELS.len() - 1);
            Limit { size: SIZE_LEVELS[level], count: usize::MAX }
        }
    }

    /// Whether a node of `bytes` bytes and `count` entries is over the limit
    /// (Redis's `quicklistNodeExceedsLimit`).
    fn exceeded(self, bytes: usize, count: usize) -> bool {
        if self.size != usize::MAX {
            bytes > self.size
        } else {
            bytes > SIZE_SAFETY_LIMIT || count > self.count
        }
    }

    /// Whether a quicklist this large goes back to one listpack: within half the limit (and,
    /// holding more than one element, within the whole limit: Redis's nodes always are).
    fn shrunk(self, bytes: usize, count: usize) -> bool {
        bytes <= self.size / 2 && count <= self.count / 2 && (count <= 1 || !self.exceeded(bytes, count))
    }
}

/// Accumulates elements into one node while they fit (a node always takes its first element).
struct Filler {
    limit: Limit,
    bytes: usize,
    count: usize,
}

impl Filler {
    fn empty(limit: Limit) -> Filler {
        Filler { limit, bytes: LP_HEADER, count: 0 }
    }

    fn after(limit: Limit, node: &Listpack) -> Filler {
        Filler { limit, bytes: node.byte_len(), count: node.len() }
    }

    /// Take an element of `len` bytes if it fits.
    fn take(&mut self, len: usize) -> bool {
        let bytes = self.bytes + entry_size(len);
        if self.count > 0 && self.limit.exceeded(bytes, self.count + 1) {
            return false;
        }
        self.bytes = bytes;
        self.count += 1;
        true
    }

    /// How many of `items`, from the first, fit.
    fn fit(&mut self, items: &[&[u8]]) -> usize {
        items.iter().take_while(|it| self.take(it.len())).count()
    }
}

/// An end of a list: Left is the head (index 0), Right the tail.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum End {
    Left,
    Right,
}

// ---------------------------------------------------------------------------------------------
// Edits of one listpack (the whole list, or one quicklist node)
// ---------------------------------------------------------------------------------------------

/// Push `items` in order at `end` (at the head the last pushed ends up first).
fn lp_push(lp: &mut Listpack, end: End, items: &[&[u8]]) {
    match end {
        End::Right => lp.insert_at(lp.byte_len(), items),
        End::Left => {
            let rev: Vec<&[u8]> = items.iter().rev().copied().collect();
            lp.insert_at(lp.first().unwrap_or(lp.byte_len()), &rev);
        }
    }
}

/// Pop up to `n` entries from `end`, appending them to `out` in pop order.
fn lp_pop(lp: &mut Listpack, end: End, n: usize, out: &mut Vec<Vec<u8>>) {
    let k = n.min(lp.len());
    if k == 0 {
        return;
    }
    let off = match end {
        End::Left => {
            out.extend(lp.iter().take(k).map(<[u8]>::to_vec));
            lp.first()
        }
        End::Right => {
            out.extend(lp.iter().rev().take(k).map(<[u8]>::to_vec));
            lp.offset_of(lp.len() - k)
        }
    };
    lp.remove_at(off.expect("entry within the count"), k);
}

/// `lp` without its first `*want` entries equal to `item` (counted from the tail if
/// `from_tail`); None when nothing matched. Decrements `*want` per removal.
fn lp_without(lp: &Listpack, item: &[u8], want: &mut u64, from_tail: bool) -> Option<Listpack> {
    let n = lp.len();
    let mut hits = Vec::new();
    let mut note = |j: usize, e: &[u8]| {
        if *want > 0 && e == item {
            hits.push(j);
            *want -= 1;
        }
        *want > 0
    };
    if from_tail {
        for (j, e) in lp.iter().rev().enumerate() {
            if !note(n - 1 - j, e) {
                break;
            }
        }
        hits.reverse();
    } else {
        for (j, e) in lp.iter().enumerate() {
            if !note(j, e) {
                break;
            }
        }
    }
    if hits.is_empty() {
        return None;
    }
    let mut next = hits.iter().copied().peekable();
    Some(Listpack::from_items(lp.iter().enumerate().filter_map(|(j, e)| {
        if next.peek() == Some(&j) {
            next.next();
            None
        } else {
            Some(e)
        }
    })))
}

/// Split an oversized node greedily into nodes within `limit`.
fn split(lp: &Listpack, limit: Limit) -> Vec<Listpack> {
    let items: Vec<&[u8]> = lp.iter().collect();
    let mut rest = &items[..];
    let mut out = Vec::new();
    while !rest.is_empty() {
        let k = Filler::empty(limit).fit(rest);
        out.push(Listpack::from_items(rest[..k].iter().copied()));
        rest = &rest[k..];
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Quicklist
// ---------------------------------------------------------------------------------------------

/// The nodes of a big list with running totals. Invariants: no node is empty; `len`, `bytes`
/// and `mem` are the sums of the nodes' `len()`, `byte_len()` and `mem_usage()`.
#[derive(Clone, Default)]
pub(crate) struct QuickList {
    nodes: VecDeque<Listpack>,
    len: usize,
    bytes: usize,
    mem: usize,
}

impl QuickList {
    fn stats(lp: &Listpack) -> (usize, usize, usize) {
        (lp.len(), lp.byte_len(), lp.mem_usage())
    }

    /// Run `f` on node `ni`, keeping the totals right. The node may be left empty or oversized;
    /// the caller settles it.
    fn edit<R>(&mut self, ni: usize, f: impl FnOnce(&mut Listpack) -> R) -> R {
        let (l0, b0, m0) = Self::stats(&self.nodes[ni]);
        let r = f(&mut self.nodes[ni]);
        let (l1, b1, m1) = Self::stats(&self.nodes[ni]);
        self.len = self.len - l0 + l1;
        self.bytes = self.bytes - b0 + b1;
        self.mem = self.mem - m0 + m1;
        r
    }

    fn add_node(&mut self, ni: usize, lp: Listpack) {
        let (l, b, m) = Self::stats(&lp);
        self.len += l;
        self.bytes += b;
        self.mem += m;
        self.nodes.insert(ni, lp);
    }

    fn remove_node(&mut self, ni: usize) -> Listpack {
        let lp = self.nodes.remove(ni).expect("node index in range");
        let (l, b, m) = Self::stats(&lp);
        self.len -= l;
        self.bytes -= b;
        self.mem -= m;
        lp
    }

    /// Byte size of the one listpack holding every element.
    fn merged_bytes(&self) -> usize {
        self.bytes - LP_HEADER * self.nodes.len().saturating_sub(1)
    }

    fn push(&mut self, end: End, items: &[&[u8]], limit: Limit) {
        let mut rest = items;
        if !self.nodes.is_empty() {
            let ni = if end == End::Left { 0 } else { self.nodes.len() - 1 };
            let k = Filler::after(limit, &self.nodes[ni]).fit(rest);
            if k > 0 {
                self.edit(ni, |n| lp_push(n, end, &rest[..k]));
                rest = &rest[k..];
            }
        }
        while !rest.is_empty() {
            let k = Filler::empty(limit).fit(rest);
            let mut lp = Listpack::new();
            lp_push(&mut lp, end, &rest[..k]);
            let ni = if end == End::Left { 0 } else { self.nodes.len() };
            self.add_node(ni, lp);
            rest = &rest[k..];
        }
    }

    fn pop(&mut self, end: End, n: usize, out: &mut Vec<Vec<u8>>) {
        let mut left = n;
        while left > 0 && !self.nodes.is_empty() {
            let ni = if end == End::Left { 0 } else { self.nodes.len() - 1 };
            let before = out.len();
            self.edit(ni, |node| lp_pop(node, end, left, out));
            left -= out.len() - before;
            if self.nodes[ni].is_empty() {
                self.remove_node(ni);
            }
        }
    }

    /// (node, index within the node) of element `i`, walking from the nearer end.
    fn locate(&self, i: usize) -> Option<(usize, usize)> {
        if i >= self.len {
            return None;
        }
        if i < self.len / 2 {
            let mut i = i;
            for (ni, n) in self.nodes.iter().enumerate() {
                if i < n.len() {
                    return Some((ni, i));
                }
                i -= n.len();
            }
        } else {
            let mut back = self.len - 1 - i;
            for (ni, n) in self.nodes.iter().enumerate().rev() {
                if back < n.len() {
                    return Some((ni, n.len() - 1 - back));
                }
                back -= n.len();
            }
        }
        None
    }

    /// Insert `item` before element `i` (`i == len` appends).
    fn insert(&mut self, i: usize, item: &[u8], limit: Limit) {
        if i == 0 {
            return self.push(End::Left, &[item], limit);
        }
        let Some((ni, k)) = self.locate(i) else { return self.push(End::Right, &[item], limit) };
        // At a node boundary the previous node's tail is as good a place as this node's head.
        if k == 0 && Filler::after(limit, &self.nodes[ni - 1]).take(item.len()) {
            self.edit(ni - 1, |n| n.push_back(item));
            return;
        }
        self.edit(ni, |n| {
            let off = n.offset_of(k).expect("index within the node");
            n.insert_at(off, &[item]);
        });
        self.settle(ni, limit);
    }

    fn replace(&mut self, i: usize, item: &[u8], limit: Limit) {
        let (ni, k) = self.locate(i).expect("index in range");
        self.edit(ni, |n| {
            let off = n.offset_of(k).expect("index within the node");
            n.replace_at(off, item);
        });
        self.settle(ni, limit);
    }

    /// After node `ni` was edited in place: drop it if empty, split it if oversized, else join
    /// a neighbour if both fit one node.
    fn settle(&mut self, ni: usize, limit: Limit) {
        let node = &self.nodes[ni];
        if node.is_empty() {
            self.remove_node(ni);
            if ni > 0 {
                self.merge(ni - 1, limit);
            }
            return;
        }
        let mut last = ni;
        if node.len() > 1 && limit.exceeded(node.byte_len(), node.len()) {
            let mut parts = split(node, limit).into_iter();
            let first = parts.next().expect("a split makes nodes");
            self.edit(ni, |n| *n = first);
            for p in parts {
                last += 1;
                self.add_node(last, p);
            }
        }
        self.merge(last, limit);
        if ni > 0 {
            self.merge(ni - 1, limit);
        }
    }

    /// Merge nodes `a` and `a + 1` if together they fit one node.
    fn merge(&mut self, a: usize, limit: Limit) {
        let (Some(x), Some(y)) = (self.nodes.get(a), self.nodes.get(a + 1)) else { return };
        if limit.exceeded(x.byte_len() + y.byte_len() - LP_HEADER, x.len() + y.len()) {
            return;
        }
        let merged = Listpack::from_items(x.iter().chain(y.iter()));
        self.remove_node(a + 1);
        self.edit(a, |n| *n = merged);
    }

    /// Drop empty nodes and merge each run of neighbours that fits one node (after LREM).
    fn compact(&mut self, limit: Limit) {
        let old = std::mem::take(&mut self.nodes);
        (self.len, self.bytes, self.mem) = (0, 0, 0);
        let mut run: Vec<Listpack> = Vec::new();
        let (mut bytes, mut count) = (LP_HEADER, 0);
        for node in old.into_iter().filter(|n| !n.is_empty()) {
            if !run.is_empty() && limit.exceeded(bytes + node.byte_len() - LP_HEADER, count + node.len()) {
                self.flush_run(&mut run);
                (bytes, count) = (LP_HEADER, 0);
            }
            bytes += node.byte_len() - LP_HEADER;
            count += node.len();
            run.push(node);
        }
        self.flush_run(&mut run);
    }

    fn flush_run(&mut self, run: &mut Vec<Listpack>) {
        let lp = match run.len() {
            0 => return,
            1 => run.pop().expect("one node"),
            _ => {
                let lp = Listpack::from_items(run.iter().flat_map(Listpack::iter));
                run.clear();
                lp
            }
        };
        self.add_node(self.nodes.len(), lp);
    }

    fn remove(&mut self, item: &[u8], want: &mut u64, from_tail: bool, limit: Limit) {
        let n = self.nodes.len();
        let mut touched = false;
        for step in 0..n {
            if *want == 0 {
                break;
            }
            let ni = if from_tail { n - 1 - step } else { step };
            if let Some(lp) = lp_without(&self.nodes[ni], item, want, from_tail) {
                self.edit(ni, |node| *node = lp);
                touched = true;
            }
        }
        if touched {
            self.compact(limit);
        }
    }

    /// Drop `front` elements from the head and `back` from the tail.
    fn drop_ends(&mut self, mut front: usize, mut back: usize) {
        while front > 0 {
            let n = self.nodes[0].len();
            if n <= front {
                self.remove_node(0);
                front -= n;
            } else {
                self.edit(0, |lp| lp.remove_at(lp.first().expect("non-empty node"), front));
                front = 0;
            }
        }
        while back > 0 {
            let last = self.nodes.len() - 1;
            let n = self.nodes[last].len();
            if n <= back {
                self.remove_node(last);
                back -= n;
            } else {
                self.edit(last, |lp| lp.remove_at(lp.offset_of(n - back).expect("entry within the count"), back));
                back = 0;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// ListValue
// ---------------------------------------------------------------------------------------------

/// A list, head at index 0. Never stored empty in the keyspace (`Ctx::modify` deletes it).
#[derive(Clone)]
pub(crate) enum ListValue {
    Packed(Listpack),
    Quick(Box<QuickList>),
}

impl Default for ListValue {
    fn default() -> Self {
        ListValue::Packed(Listpack::new())
    }
}

impl ListValue {
    /// A list of `items` (head first), encoded as RPUSH of them all would leave it.
    pub(crate) fn from_items(items: &[&[u8]], fill: i64) -> Self {
        let mut l = ListValue::default();
        l.push(End::Right, items, fill);
        l
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            ListValue::Packed(lp) => lp.len(),
            ListValue::Quick(q) => q.len,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The name OBJECT ENCODING reports.
    pub(crate) fn encoding(&self) -> &'static str {
        match self {
            ListValue::Packed(_) => "listpack",
            ListValue::Quick(_) => "quicklist",
        }
    }

    /// Heap bytes owned, O(1).
    pub(crate) fn mem_usage(&self) -> usize {
        match self {
            ListValue::Packed(lp) => lp.mem_usage(),
            ListValue::Quick(q) => {
                heap_cost(std::mem::size_of::<QuickList>()) + heap_cost(q.nodes.capacity() * std::mem::size_of::<Listpack>()) + q.mem
            }
        }
    }

    /// Elements from the head (double-ended).
    pub(crate) fn iter(&self) -> Iter<'_> {
        match self {
            ListValue::Packed(lp) => Iter::new(Nodes::One(Some(lp).into_iter())),
            ListValue::Quick(q) => Iter::new(Nodes::Many(q.nodes.iter())),
        }
    }

    /// Elements from index `start` on: O(nodes + node size) to get there.
    pub(crate) fn iter_from(&self, start: usize) -> std::iter::Skip<Iter<'_>> {
        match self {
            ListValue::Packed(lp) => Iter::new(Nodes::One(Some(lp).into_iter())).skip(start),
            ListValue::Quick(q) => {
                let (ni, k) = q.locate(start).unwrap_or((q.nodes.len(), 0));
                Iter::new(Nodes::Many(q.nodes.range(ni..))).skip(k)
            }
        }
    }

    /// Element `i`: O(nodes + node size).
    pub(crate) fn get(&self, i: usize) -> Option<&[u8]> {
        let (lp, k) = match self {
            ListValue::Packed(lp) => (lp, i),
            ListValue::Quick(q) => {
                let (ni, k) = q.locate(i)?;
                (&q.nodes[ni], k)
            }
        };
        lp.offset_of(k).map(|off| lp.get(off))
    }

    /// Redis's growing conversion, before `add_count` elements of `add_bytes` encoded bytes
    /// are added.
    fn grow(&mut self, add_bytes: usize, add_count: usize, limit: Limit) {
        let ListValue::Packed(lp) = self else { return };
        if !limit.exceeded(lp.byte_len() + add_bytes, lp.len() + add_count) {
            return;
        }
        let lp = std::mem::take(lp);
        let mut q = QuickList::default();
        if !lp.is_empty() {
            q.add_node(0, lp);
        }
        *self = ListValue::Quick(Box::new(q));
    }

    /// Redis's shrinking conversion, after elements were removed or replaced.
    fn shrink(&mut self, limit: Limit) {
        let ListValue::Quick(q) = self else { return };
        if !limit.shrunk(q.merged_bytes(), q.len) {
            return;
        }
        let lp = match q.nodes.len() {
            0 => Listpack::new(),
            1 => q.nodes.pop_front().expect("one node"),
            _ => Listpack::from_items(q.nodes.iter().flat_map(Listpack::iter)),
        };
        *self = ListValue::Packed(lp);
    }

    /// Push `items` one after another at `end` (LPUSH a b c leaves c first).
    pub(crate) fn push(&mut self, end: End, items: &[&[u8]], fill: i64) {
        let limit = Limit::new(fill);
        self.grow(items.iter().map(|i| entry_size(i.len())).sum(), items.len(), limit);
        match self {
            ListValue::Packed(lp) => lp_push(lp, end, items),
            ListValue::Quick(q) => q.push(end, items, limit),
        }
    }

    /// Pop up to `n` elements from `end`, in pop order.
    pub(crate) fn pop(&mut self, end: End, n: usize, fill: i64) -> Vec<Vec<u8>> {
        let mut out = Vec::with_capacity(n.min(self.len()));
        match self {
            ListValue::Packed(lp) => lp_pop(lp, end, n, &mut out),
            ListValue::Quick(q) => q.pop(end, n, &mut out),
        }
        self.shrink(Limit::new(fill));
        out
    }

    /// LSET: replace element `i`; false (after Redis's growing conversion) when out of range.
    pub(crate) fn set(&mut self, i: usize, item: &[u8], fill: i64) -> bool {
        let limit = Limit::new(fill);
        self.grow(entry_size(item.len()), 1, limit);
        if i >= self.len() {
            return false;
        }
        match self {
            ListValue::Packed(lp) => {
                let off = lp.offset_of(i).expect("index in range");
                lp.replace_at(off, item);
            }
            ListValue::Quick(q) => q.replace(i, item, limit),
        }
        self.shrink(limit);
        true
    }

    /// LINSERT: insert `item` before (or `after`) the first element equal to `pivot`; false
    /// without one (the growing conversion happens first either way, as in Redis).
    pub(crate) fn insert_at_pivot(&mut self, pivot: &[u8], item: &[u8], after: bool, fill: i64) -> bool {
        let limit = Limit::new(fill);
        self.grow(entry_size(item.len()), 1, limit);
        let Some(pos) = self.iter().position(|e| e == pivot) else { return false };
        let at = if after { pos + 1 } else { pos };
        match self {
            ListValue::Packed(lp) => {
                let off = lp.offset_of(at).unwrap_or(lp.byte_len());
                lp.insert_at(off, &[item]);
            }
            ListValue::Quick(q) => q.insert(at, item, limit),
        }
        true
    }

    /// LREM: remove the first `count` elements equal to `item` from the head (count > 0), the
    /// last `-count` from the tail (count < 0) or all of them (0). Returns how many went.
    pub(crate) fn remove(&mut self, item: &[u8], count: i64, fill: i64) -> usize {
        let limit = Limit::new(fill);
        let mut want = if count == 0 { u64::MAX } else { count.unsigned_abs() };
        let before = self.len();
        match self {
            ListValue::Packed(lp) => {
                if let Some(kept) = lp_without(lp, item, &mut want, count < 0) {
                    *lp = kept;
                }
            }
            ListValue::Quick(q) => q.remove(item, &mut want, count < 0, limit),
        }
        self.shrink(limit);
        before - self.len()
    }

    /// LTRIM: keep elements `start..=end` (`start <= end < len`).
    pub(crate) fn keep(&mut self, start: usize, end: usize, fill: i64) {
        let len = self.len();
        debug_assert!(start <= end && end < len, "keep({start}, {end}) of {len}");
        match self {
            ListValue::Packed(lp) => {
                if start > 0 || end + 1 < len {
                    *lp = Listpack::from_items(lp.iter().skip(start).take(end + 1 - start));
                }
            }
            ListValue::Quick(q) => q.drop_ends(start, len - 1 - end),
        }
        self.shrink(Limit::new(fill));
    }

    /// Remove every element.
    pub(crate) fn clear(&mut self) {
        *self = ListValue::default();
    }
}

// ---------------------------------------------------------------------------------------------
// Iteration
// ---------------------------------------------------------------------------------------------

/// The nodes of either encoding.
enum Nodes<'a> {
    One(std::option::IntoIter<&'a Listpack>),
    Many(std::collections::vec_deque::Iter<'a, Listpack>),
}

impl<'a> Iterator for Nodes<'a> {
    type Item = &'a Listpack;
    fn next(&mut self) -> Option<&'a Listpack> {
        match self {
            Nodes::One(it) => it.next(),
            Nodes::Many(it) => it.next(),
        }
    }
}

impl DoubleEndedIterator for Nodes<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        match self {
            Nodes::One(it) => it.next_back(),
            Nodes::Many(it) => it.next_back(),
        }
    }
}

type NodeIter<'a> = fn(&'a Listpack) -> listpack::Iter<'a>;

/// Double-ended iterator over a list's elements.
pub(crate) struct Iter<'a>(std::iter::FlatMap<Nodes<'a>, listpack::Iter<'a>, NodeIter<'a>>);

impl<'a> Iter<'a> {
    fn new(nodes: Nodes<'a>) -> Self {
        Iter(nodes.flat_map(Listpack::iter as NodeIter<'a>))
    }
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        self.0.next()
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.0.next_back()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::node_cost;
    use proptest::prelude::*;

    /// Heap bytes recounted from scratch, checking the quicklist's invariants on the way.
    fn recount(l: &ListValue, limit: Option<Limit>) -> usize {
        match l {
            ListValue::Packed(lp) => {
                if let Some(limit) = limit {
                    assert!(lp.len() <= 1 || !limit.exceeded(lp.byte_len(), lp.len()), "listpack over the limit");
                }
                node_cost(lp.byte_len())
            }
            ListValue::Quick(q) => {
                assert!(q.nodes.iter().all(|n| !n.is_empty()), "empty node");
                assert_eq!(q.len, q.nodes.iter().map(Listpack::len).sum::<usize>());
                assert_eq!(q.bytes, q.nodes.iter().map(Listpack::byte_len).sum::<usize>());
                if let Some(limit) = limit {
                    for n in &q.nodes {
                        assert!(
                            n.len() <= 1 || !limit.exceeded(n.byte_len(), n.len()),
                            "node over the limit: {} entries, {} bytes",
                            n.len(),
                            n.byte_len()
                        );
                    }
                }
                heap_cost(std::mem::size_of::<QuickList>())
                    + heap_cost(q.nodes.capacity() * std::mem::size_of::<Listpack>())
                    + q.nodes.iter().map(|n| node_cost(n.byte_len())).sum::<usize>()
            }
        }
    }

    fn contents(l: &ListValue) -> Vec<Vec<u8>> {
        l.iter().map(<[u8]>::to_vec).collect()
    }

    fn items(v: &[Vec<u8>]) -> Vec<&[u8]> {
        v.iter().map(Vec::as_slice).collect()
    }

    #[test]
    fn sizes_and_entry_size() {
        assert_eq!(std::mem::size_of::<ListValue>(), 16);
        assert_eq!(Listpack::<true>::new().byte_len(), LP_HEADER);
        for n in [0, 1, 100, 125, 126, 127, 128, 200, 16_000, 16_383, 16_384, 70_000] {
            let lp = Listpack::<true>::from_items([vec![7u8; n].as_slice()]);
            assert_eq!(lp.byte_len() - LP_HEADER, entry_size(n), "element of {n} bytes");
        }
    }

    #[test]
    fn limits_follow_redis() {
        let l = Limit::new(-2);
        assert!(!l.exceeded(8192, 1_000_000) && l.exceeded(8193, 1));
        assert!(Limit::new(-1).exceeded(4097, 1) && !Limit::new(-5).exceeded(65536, 1));
        assert!(!Limit::new(-9).exceeded(65536, 1), "beyond -5 is -5");
        let c = Limit::new(4);
        assert!(!c.exceeded(100, 4) && c.exceeded(100, 5) && c.exceeded(8193, 2));
        assert!(Limit::new(0).exceeded(10, 2), "fill 0 is one entry per node");
        assert!(c.shrunk(100, 2) && !c.shrunk(100, 3) && !Limit::new(1).shrunk(10, 1));
        assert!(l.shrunk(4096, 10) && !l.shrunk(4097, 10));
    }

    #[test]
    fn conversions_by_count_and_size() {
        let mut l = ListValue::default();
        l.push(End::Right, &[b"a", b"b", b"c", b"d"], 4);
        assert_eq!(l.encoding(), "listpack");
        l.push(End::Right, &[b"e"], 4);
        assert_eq!(l.encoding(), "quicklist");
        assert_eq!(l.pop(End::Left, 2, 4), vec![b"a".to_vec(), b"b".to_vec()]);
        assert_eq!(l.encoding(), "quicklist", "3 > 4/2");
        l.pop(End::Right, 1, 4);
        assert_eq!(l.encoding(), "listpack");
        assert_eq!(contents(&l), vec![b"c".to_vec(), b"d".to_vec()]);
        // By size: one element over 8 KiB.
        let big = vec![b'x'; 9000];
        let mut l = ListValue::from_items(&[b"a"], -2);
        assert_eq!(l.encoding(), "listpack");
        l.push(End::Left, &[&big], -2);
        assert_eq!(l.encoding(), "quicklist");
        assert_eq!(l.get(0), Some(&big[..]));
        l.pop(End::Left, 1, -2);
        assert_eq!(l.encoding(), "listpack");
        // LSET and LINSERT convert before looking (Redis's order).
        let mut l = ListValue::from_items(&[b"a", b"b", b"c", b"d"], 4);
        assert!(!l.set(9, b"z", 4));
        assert_eq!(l.encoding(), "quicklist");
        let mut l = ListValue::from_items(&[b"a", b"b"], 4);
        assert!(!l.insert_at_pivot(b"zz", &big, true, 4));
        assert_eq!(l.encoding(), "quicklist");
        assert_eq!(l.remove(b"a", 0, 4), 1);
        assert_eq!(l.encoding(), "listpack");
    }

    #[test]
    fn big_list_uses_full_nodes() {
        let elems: Vec<Vec<u8>> = (0..10_000u32).map(|i| format!("element:{i:06}").into_bytes()).collect();
        let l = ListValue::from_items(&items(&elems), -2);
        let ListValue::Quick(q) = &l else { panic!("10k elements make a quicklist") };
        assert!(q.nodes.len() < 25, "{} nodes", q.nodes.len());
        assert!(q.nodes.iter().all(|n| n.byte_len() <= 8192));
        assert_eq!(l.get(5_000), Some(&b"element:005000"[..]));
        assert_eq!(l.iter_from(9_998).map(<[u8]>::to_vec).collect::<Vec<_>>(), elems[9_998..].to_vec());
        assert_eq!(l.iter().rev().nth(1), Some(&b"element:009998"[..]));
        assert_eq!(recount(&l, Some(Limit::new(-2))), l.mem_usage());
        // Far below Box<[u8]> per element: 16 bytes of pointer + a 32-byte block each.
        assert!(l.mem_usage() < 10_000 * 20, "{}", l.mem_usage());
    }

    #[derive(Debug, Clone)]
    enum Op {
        Push(bool, Vec<Vec<u8>>),
        Pop(bool, usize),
        Set(usize, Vec<u8>),
        Insert(usize, bool, Vec<u8>),
        Remove(usize, i64),
        Keep(usize, usize),
    }

    fn elem() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            8 => (0u8..6).prop_map(|b| vec![b'a' + b]),
            4 => (0usize..300, any::<u8>()).prop_map(|(n, b)| vec![b; n]),
            1 => (3000usize..9000, any::<u8>()).prop_map(|(n, b)| vec![b; n]),
        ]
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (any::<bool>(), proptest::collection::vec(elem(), 1..40)).prop_map(|(l, v)| Op::Push(l, v)),
            2 => (any::<bool>(), 0usize..30).prop_map(|(l, n)| Op::Pop(l, n)),
            2 => (any::<usize>(), elem()).prop_map(|(i, e)| Op::Set(i, e)),
            2 => (any::<usize>(), any::<bool>(), elem()).prop_map(|(i, a, e)| Op::Insert(i, a, e)),
            1 => (any::<usize>(), -3i64..4).prop_map(|(i, c)| Op::Remove(i, c)),
            1 => (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Op::Keep(a, b)),
        ]
    }

    fn end(left: bool) -> End {
        if left {
            End::Left
        } else {
            End::Right
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        #[test]
        fn matches_a_vecdeque(fill in prop_oneof![Just(-2i64), Just(-1), Just(1), Just(2), Just(3), Just(5), Just(16)],
                              ops in proptest::collection::vec(op(), 1..60)) {
            let limit = Limit::new(fill);
            let mut l = ListValue::default();
            let mut m: VecDeque<Vec<u8>> = VecDeque::new();
            // A failed LSET or LINSERT may leave a small quicklist (Redis converts before it
            // looks); the next shrinking edit fixes that.
            let mut lax = false;
            for op in ops {
                match op {
                    Op::Push(left, v) => {
                        let was_quick = matches!(l, ListValue::Quick(_));
                        l.push(end(left), &items(&v), fill);
                        // A push that makes the list a quicklist (one element over a node's
                        // byte cap) can leave one small enough to go back: Redis converts back
                        // only on a shrinking edit, as this does.
                        lax |= !was_quick && matches!(l, ListValue::Quick(_));
                        for e in v {
                            if left { m.push_front(e) } else { m.push_back(e) }
                        }
                    }
                    Op::Pop(left, n) => {
                        lax = false;
                        let got = l.pop(end(left), n, fill);
                        let want: Vec<Vec<u8>> = (0..n).map_while(|_| if left { m.pop_front() } else { m.pop_back() }).collect();
                        prop_assert_eq!(got, want);
                    }
                    Op::Set(i, e) => {
                        let i = if m.is_empty() { i % 3 } else { i % (m.len() + 1) };
                        prop_assert_eq!(l.set(i, &e, fill), i < m.len());
                        lax = i >= m.len();
                        if i < m.len() { m[i] = e; }
                    }
                    Op::Insert(i, after, e) => {
                        let pivot = if m.is_empty() { b"none".to_vec() } else { m[i % m.len()].clone() };
                        let done = l.insert_at_pivot(&pivot, &e, after, fill);
                        match m.iter().position(|x| *x == pivot) {
                            Some(p) => { prop_assert!(done); m.insert(if after { p + 1 } else { p }, e); }
                            None => { prop_assert!(!done); lax = true; }
                        }
                    }
                    Op::Remove(i, count) => {
                        let Some(item) = (!m.is_empty()).then(|| m[i % m.len()].clone()) else { continue };
                        let mut want = if count == 0 { usize::MAX } else { count.unsigned_abs() as usize };
                        let before = m.len();
                        let mut keep: Vec<bool> = vec![true; before];
                        let order: Vec<usize> = if count < 0 { (0..before).rev().collect() } else { (0..before).collect() };
                        for j in order {
                            if want > 0 && m[j] == item { keep[j] = false; want -= 1; }
                        }
                        let mut j = 0;
                        m.retain(|_| { j += 1; keep[j - 1] });
                        prop_assert_eq!(l.remove(&item, count, fill), before - m.len());
                        lax = false;
                    }
                    Op::Keep(a, b) => {
                        if m.is_empty() { continue; }
                        let (s, e) = (a % m.len(), b % m.len());
                        let (s, e) = (s.min(e), s.max(e));
                        l.keep(s, e, fill);
                        lax = false;
                        m.truncate(e + 1);
                        m.drain(..s);
                    }
                }
                let want: Vec<Vec<u8>> = m.iter().cloned().collect();
                prop_assert_eq!(l.len(), m.len());
                prop_assert_eq!(contents(&l), want.clone());
                let mut rev = want.clone();
                rev.reverse();
                prop_assert_eq!(l.iter().rev().map(<[u8]>::to_vec).collect::<Vec<_>>(), rev);
                for i in [0, m.len() / 3, m.len() / 2, m.len().saturating_sub(1), m.len()] {
                    prop_assert_eq!(l.get(i), m.get(i).map(Vec::as_slice));
                    prop_assert_eq!(l.iter_from(i).map(<[u8]>::to_vec).collect::<Vec<_>>(), want[i.min(want.len())..].to_vec());
                }
                prop_assert_eq!(recount(&l, Some(limit)), l.mem_usage());
                // The encoding is as small as the rules allow: a listpack fits one node, a
                // quicklist does not fit half of one.
                if let (ListValue::Quick(q), false) = (&l, lax) {
                    prop_assert!(!limit.shrunk(q.merged_bytes(), q.len));
                }
            }
        }

        #[test]
        fn fill_changes_keep_contents(ops in proptest::collection::vec((prop_oneof![Just(-2i64), Just(-1), Just(2), Just(7)], op()), 1..40)) {
            let mut l = ListValue::default();
            let mut m: Vec<Vec<u8>> = Vec::new();
            for (fill, op) in ops {
                match op {
                    Op::Push(_, v) => { l.push(End::Right, &items(&v), fill); m.extend(v); }
                    Op::Pop(_, n) => { let got = l.pop(End::Left, n, fill); let k = n.min(m.len()); prop_assert_eq!(got, m.drain(..k).collect::<Vec<_>>()); }
                    Op::Set(i, e) if !m.is_empty() => { let i = i % m.len(); l.set(i, &e, fill); m[i] = e; }
                    Op::Insert(i, _, e) if !m.is_empty() => { let p = m[i % m.len()].clone(); l.insert_at_pivot(&p, &e, false, fill); let at = m.iter().position(|x| *x == p).unwrap(); m.insert(at, e); }
                    _ => {}
                }
                prop_assert_eq!(contents(&l), m.clone());
                prop_assert_eq!(recount(&l, None), l.mem_usage());
            }
        }
    }
}
