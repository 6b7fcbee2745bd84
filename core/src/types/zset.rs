//! Sorted set (Redis ZSET) value.
//!
//! # Design
//!
//! A sorted set needs two access paths: member -> score (ZSCORE, ZADD's
//! "does it exist") and an order on `(score, member)` that supports *rank*
//! queries (ZRANK, ZRANGE by index, ZCOUNT) in O(log n). Redis pairs a dict
//! with a skiplist whose forward links carry spans. We pair the keyspace's chained
//! `Dict` (whose reverse-binary cursor gives ZSCAN Redis's guarantee) with a
//! **counted B+tree**: leaves hold up to 64 `(score, member)` entries in two
//! parallel sorted arrays; internal nodes hold up to 64 children, the
//! separator key of each child boundary, and the element count of every
//! child subtree. Compared with a skiplist this is pointer-light (one node per
//! ~45 elements instead of one per element), cache friendly (each node is
//! searched by a branchless count over a contiguous `f64` array; member bytes
//! are only read to break score ties), has no randomness, and is entirely
//! safe Rust.
//!
//! Order is ascending by score, then by member bytes (memcmp order, a proper
//! prefix sorts first). Scores are never NaN; `-0.0` and `0.0` are the same
//! score (stored as `0.0`), so they tie and are ordered by member.
//!
//! Separator `i` of an internal node is always a copy (an `Arc` clone, not a
//! byte copy) of the smallest live key of child `i + 1`: removals that delete
//! such a key refresh the separator, so separators never pin the bytes of a
//! deleted member.
//!
//! The tree holds each member as an `Arc<[u8]>` (shared with at most one
//! separator); the map holds its own copy of the key (in its dict node, see
//! `keyspace/dict.rs`), the price of a SCAN cursor that survives rehashing. Iterators walk the tree with a
//! fixed-size stack of (node, child index) pairs, so no parent or sibling
//! pointers are needed.
//!
//! ## Bytes per element (64-bit)
//!
//! * leaf slot: 8 (score) + 16 (`Arc<[u8]>` fat pointer) = 24 B; leaves are
//!   50-100% full (~70% under random inserts) -> ~34 B;
//! * internal nodes: ~1/45 of that, ~1-2 B;
//! * map: a chained node of 8 (link) + 8 (score) + 4 (length) + the member's
//!   bytes (13 bytes: 33 B, a 48 B malloc chunk) and an 8 B bucket;
//! * member allocation: 16 B `Arc` header + the bytes + malloc's 8 B header,
//!   rounded up to 16 B (a 13-byte member costs a 48 B chunk).
//!
//! About 110-140 B per element including short members: 1M members of 13
//! bytes grew RSS by 132 MiB. `mem_usage` counts the same blocks with `heap_cost`
//! in O(1): a running total for members and map entries, node counts times the
//! fixed node sizes (every non-root leaf is allocated with exactly `leaf_cap`
//! slots, clones included) and the root leaf's own capacity.
//!
//! Small sorted sets live in a listpack instead (`ZSetValue`), which converts to
//! a `ZSet` once a limit is exceeded.
//!
//! ## Complexity (B = node fanout = 64)
//!
//! | op | cost |
//! | --- | --- |
//! | `score` | O(1) expected |
//! | `insert` (new) / `remove` | O(log n) descents + O(B) shifting in one node |
//! | `insert` (update) | O(log n); done in place if the element keeps its rank |
//! | `rank` | O(1) lookup + O(log n) descent (an O(B) scan per node) |
//! | `get_by_rank`, start of `iter_from` / `iter_rev_from` | O(log n) |
//! | iterator step | O(1) amortized |
//! | `count_below_score` / `count_below_member` | O(log n) |
//! | `remove_range_by_rank` | O(k log n) for k removed elements |

use std::cmp::Ordering;
use std::fmt;
use std::iter::FusedIterator;
use std::mem;
use std::sync::Arc;

use super::heap_cost;
use crate::keyspace::dict::Dict;

/// A member's bytes, shared by the map and the tree.
type Member = Arc<[u8]>;

/// Heap bytes one member costs besides its tree slot: the `Arc<[u8]>` block (two counts and
/// the bytes) and its map entry (one node, which holds a copy of the bytes).
fn member_cost(len: usize) -> usize {
    heap_cost(2 * mem::size_of::<usize>() + len) + Dict::<f64>::entry_cost(len)
}

/// Heap bytes of a leaf whose arrays have capacity `cap`.
fn leaf_cost(cap: usize) -> usize {
    heap_cost(cap * mem::size_of::<f64>()) + heap_cost(cap * mem::size_of::<Member>())
}

/// Heap bytes of an internal node (its box and its four arrays, sized by `Inner::with_capacity`).
fn inner_cost(cap: usize) -> usize {
    heap_cost(mem::size_of::<Inner>())
        + heap_cost(cap * mem::size_of::<f64>())
        + heap_cost(cap * mem::size_of::<Member>())
        + heap_cost((cap + 1) * mem::size_of::<usize>())
        + heap_cost((cap + 1) * mem::size_of::<Node>())
}

/// Maximum entries per leaf (production).
const LEAF_CAP: usize = 64;
/// Maximum children per internal node (production).
const INNER_CAP: usize = 64;
/// Iterator stack depth. With a minimum fanout of 32 (production) a tree of
/// height 14 would already need more than 2^64 elements; the small fanouts
/// used by tests (min 2-3) stay far below this for the sizes they build.
const MAX_DEPTH: usize = 32;

/// Total order on `(score, member)`: scores by value (`-0.0 == 0.0`), then
/// member bytes lexicographically (memcmp, shorter prefix first).
#[inline]
pub(crate) fn cmp_key(s1: f64, m1: &[u8], s2: f64, m2: &[u8]) -> Ordering {
    match s1.partial_cmp(&s2) {
        Some(Ordering::Less) => Ordering::Less,
        Some(Ordering::Greater) => Ordering::Greater,
        // `None` only for NaN, which callers never pass.
        Some(Ordering::Equal) | None => m1.cmp(m2),
    }
}

/// Number of leading indices in `0..len` for which `pred` holds, given that
/// `pred` is true on a prefix and false afterwards.
#[inline]
fn partition(len: usize, mut pred: impl FnMut(usize) -> bool) -> usize {
    let (mut lo, mut hi) = (0, len);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if pred(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// A prefix of the `(score, member)` order: the elements "below" a bound.
#[derive(Clone, Copy)]
enum Bound<'k> {
    /// Scores `< s` (or `<= s` if inclusive), whatever the member.
    Score { s: f64, inclusive: bool },
    /// Keys `< (s, m)` (or `<= (s, m)` if inclusive).
    Key { s: f64, m: &'k [u8], inclusive: bool },
}

/// Number of scores `< s` in a node's sorted score array. A branchless linear
/// count rather than a binary search: the loads are independent, so a cold
/// node's cache lines are fetched in parallel instead of one probe at a time,
/// and the loop vectorizes.
#[inline]
fn count_lt(scores: &[f64], s: f64) -> usize {
    scores.iter().map(|&x| usize::from(x < s)).sum()
}

/// Number of scores `<= s` (see [`count_lt`]).
#[inline]
fn count_le(scores: &[f64], s: f64) -> usize {
    scores.iter().map(|&x| usize::from(x <= s)).sum()
}

/// Number of entries of a node's sorted `(scores, members)` arrays that lie
/// below `bound`. Members are only dereferenced within the run of entries
/// whose score ties the bound's (binary search, so all-equal-score sets as
/// used by BYLEX stay O(log B) derefs per node).
#[inline]
fn count_in(scores: &[f64], members: &[Member], bound: Bound<'_>) -> usize {
    match bound {
        Bound::Score { s, inclusive: false } => count_lt(scores, s),
        Bound::Score { s, inclusive: true } => count_le(scores, s),
        Bound::Key { s, m, inclusive } => {
            let lo = count_lt(scores, s);
            if lo == scores.len() || scores[lo] != s {
                return lo;
            }
            let hi = lo + count_le(&scores[lo..], s);
            lo + partition(hi - lo, |k| {
                let o = (*members[lo + k]).cmp(m);
                o == Ordering::Less || (inclusive && o == Ordering::Equal)
            })
        }
    }
}

// ---------------------------------------------------------------------------
// Counted B+tree
// ---------------------------------------------------------------------------

struct Leaf {
    scores: Vec<f64>,
    members: Vec<Member>,
}

/// A copy of `v` with the same capacity (`Vec::clone` trims it; `mem_usage` relies on it).
fn clone_with_capacity<T: Clone>(v: &[T], cap: usize) -> Vec<T> {
    let mut out = Vec::with_capacity(cap);
    out.extend_from_slice(v);
    out
}

impl Clone for Leaf {
    fn clone(&self) -> Self {
        Leaf {
            scores: clone_with_capacity(&self.scores, self.scores.capacity()),
            members: clone_with_capacity(&self.members, self.members.capacity()),
        }
    }
}

impl Leaf {
    fn with_capacity(cap: usize) -> Self {
        Leaf { scores: Vec::with_capacity(cap), members: Vec::with_capacity(cap) }
    }

    #[inline]
    fn len(&self) -> usize {
        self.scores.len()
    }

    /// Reallocate both arrays to exactly `cap` slots (`cap >= len`).
    fn set_capacity(&mut self, cap: usize) {
        if self.scores.capacity() != cap {
            self.scores.shrink_to(cap);
            self.scores.reserve_exact(cap - self.scores.len());
        }
        if self.members.capacity() != cap {
            self.members.shrink_to(cap);
            self.members.reserve_exact(cap - self.members.len());
        }
    }

    /// Number of entries strictly below `(s, m)`.
    #[inline]
    fn lower_bound(&self, s: f64, m: &[u8]) -> usize {
        count_in(&self.scores, &self.members, Bound::Key { s, m, inclusive: false })
    }

    /// Index of exactly `(s, m)`, if present.
    #[inline]
    fn find(&self, s: f64, m: &[u8]) -> Option<usize> {
        let pos = self.lower_bound(s, m);
        (pos < self.len() && cmp_key(self.scores[pos], &self.members[pos], s, m) == Ordering::Equal).then_some(pos)
    }

    #[inline]
    fn insert_at(&mut self, pos: usize, s: f64, m: Member) {
        self.scores.insert(pos, s);
        self.members.insert(pos, m);
    }
}

struct Inner {
    /// `sep_*[i]` is the smallest key of `children[i + 1]`'s subtree.
    sep_scores: Vec<f64>,
    sep_members: Vec<Member>,
    /// `counts[i]` is the number of elements under `children[i]`.
    counts: Vec<usize>,
    children: Vec<Node>,
}

impl Clone for Inner {
    fn clone(&self) -> Self {
        Inner {
            sep_scores: clone_with_capacity(&self.sep_scores, self.sep_scores.capacity()),
            sep_members: clone_with_capacity(&self.sep_members, self.sep_members.capacity()),
            counts: clone_with_capacity(&self.counts, self.counts.capacity()),
            children: clone_with_capacity(&self.children, self.children.capacity()),
        }
    }
}

impl Inner {
    fn with_capacity(cap: usize) -> Self {
        // One spare slot: a child split is absorbed before this node splits.
        Inner {
            sep_scores: Vec::with_capacity(cap),
            sep_members: Vec::with_capacity(cap),
            counts: Vec::with_capacity(cap + 1),
            children: Vec::with_capacity(cap + 1),
        }
    }

    /// Number of separators `<= (s, m)`, i.e. the child whose range holds `(s, m)`.
    #[inline]
    fn child_for(&self, s: f64, m: &[u8]) -> usize {
        count_in(&self.sep_scores, &self.sep_members, Bound::Key { s, m, inclusive: true })
    }

    /// Restore the minimum fill of `children[j]` by borrowing one entry or
    /// child from a sibling, or by merging with it.
    fn rebalance(&mut self, j: usize, shape: &mut Shape) {
        let l = j.saturating_sub(1);
        let r = l + 1;
        let Inner { sep_scores, sep_members, counts, children } = self;
        let (lo, hi) = children.split_at_mut(r);
        match (&mut lo[l], &mut hi[0]) {
            (Node::Leaf(a), Node::Leaf(b)) => {
                if a.len() + b.len() <= shape.leaf_cap {
                    a.scores.append(&mut b.scores);
                    a.members.append(&mut b.members);
                    sep_scores.remove(l);
                    sep_members.remove(l);
                    shape.leaves -= 1;
                } else {
                    if a.len() < b.len() {
                        a.scores.push(b.scores.remove(0));
                        a.members.push(b.members.remove(0));
                        counts[l] += 1;
                        counts[r] -= 1;
                    } else {
                        let s = a.scores.pop().expect("non-empty leaf");
                        let m = a.members.pop().expect("non-empty leaf");
                        b.insert_at(0, s, m);
                        counts[l] -= 1;
                        counts[r] += 1;
                    }
                    sep_scores[l] = b.scores[0];
                    sep_members[l] = b.members[0].clone();
                    return;
                }
            }
            (Node::Inner(a), Node::Inner(b)) => {
                if a.children.len() + b.children.len() <= shape.inner_cap {
                    a.sep_scores.push(sep_scores.remove(l));
                    a.sep_members.push(sep_members.remove(l));
                    a.sep_scores.append(&mut b.sep_scores);
                    a.sep_members.append(&mut b.sep_members);
                    a.counts.append(&mut b.counts);
                    a.children.append(&mut b.children);
                    shape.inners -= 1;
                } else {
                    if a.children.len() < b.children.len() {
                        // Rotate b's first child through the parent into a.
                        let c = b.counts.remove(0);
                        let s = mem::replace(&mut sep_scores[l], b.sep_scores.remove(0));
                        let m = mem::replace(&mut sep_members[l], b.sep_members.remove(0));
                        a.sep_scores.push(s);
                        a.sep_members.push(m);
                        a.children.push(b.children.remove(0));
                        a.counts.push(c);
                        counts[l] += c;
                        counts[r] -= c;
                    } else {
                        // Rotate a's last child through the parent into b.
                        let c = a.counts.pop().expect("non-empty inner");
                        let s = a.sep_scores.pop().expect("non-empty inner");
                        let m = a.sep_members.pop().expect("non-empty inner");
                        b.sep_scores.insert(0, mem::replace(&mut sep_scores[l], s));
                        b.sep_members.insert(0, mem::replace(&mut sep_members[l], m));
                        b.children.insert(0, a.children.pop().expect("non-empty inner"));
                        b.counts.insert(0, c);
                        counts[l] -= c;
                        counts[r] += c;
                    }
                    return;
                }
            }
            _ => unreachable!("siblings at different depths"),
        }
        // Merged `r` into `l`.
        children.remove(r);
        let moved = counts.remove(r);
        counts[l] += moved;
    }
}

#[derive(Clone)]
enum Node {
    Leaf(Leaf),
    Inner(Box<Inner>),
}

impl Node {
    /// Elements under this node (O(B) for an internal node).
    fn count(&self) -> usize {
        match self {
            Node::Leaf(leaf) => leaf.len(),
            Node::Inner(inner) => inner.counts.iter().sum(),
        }
    }

    /// Smallest key under this (non-empty) node.
    fn first_key(&self) -> (f64, &Member) {
        let mut node = self;
        loop {
            match node {
                Node::Leaf(leaf) => return (leaf.scores[0], &leaf.members[0]),
                Node::Inner(inner) => node = &inner.children[0],
            }
        }
    }

    fn is_underfull(&self, shape: &Shape) -> bool {
        match self {
            Node::Leaf(leaf) => leaf.len() < shape.leaf_cap / 2,
            Node::Inner(inner) => inner.children.len() < shape.inner_cap / 2,
        }
    }
}

/// Node capacities and node counts (kept apart from the root so both can be
/// borrowed mutably during recursion).
#[derive(Clone)]
struct Shape {
    leaf_cap: usize,
    inner_cap: usize,
    leaves: usize,
    inners: usize,
}

/// A node split off during insertion, to be linked into the parent.
struct Split {
    sep_score: f64,
    sep_member: Member,
    right: Node,
    right_count: usize,
}

fn insert_rec(node: &mut Node, shape: &mut Shape, s: f64, m: Member) -> Option<Split> {
    match node {
        Node::Leaf(leaf) => {
            let pos = leaf.lower_bound(s, &m);
            if leaf.len() < shape.leaf_cap {
                leaf.insert_at(pos, s, m);
                return None;
            }
            // Full: split first, then insert into the proper half, so leaves
            // never grow past their capacity.
            let mid = leaf.len() / 2;
            let mut right = Leaf::with_capacity(shape.leaf_cap);
            right.scores.extend(leaf.scores.drain(mid..));
            right.members.extend(leaf.members.drain(mid..));
            if pos <= mid {
                leaf.insert_at(pos, s, m);
            } else {
                right.insert_at(pos - mid, s, m);
            }
            shape.leaves += 1;
            Some(Split {
                sep_score: right.scores[0],
                sep_member: right.members[0].clone(),
                right_count: right.len(),
                right: Node::Leaf(right),
            })
        }
        Node::Inner(inner) => {
            let j = inner.child_for(s, &m);
            inner.counts[j] += 1;
            let split = insert_rec(&mut inner.children[j], shape, s, m)?;
            inner.counts[j] -= split.right_count;
            inner.sep_scores.insert(j, split.sep_score);
            inner.sep_members.insert(j, split.sep_member);
            inner.counts.insert(j + 1, split.right_count);
            inner.children.insert(j + 1, split.right);
            if inner.children.len() <= shape.inner_cap {
                return None;
            }
            let mid = inner.children.len() / 2;
            let mut right = Inner::with_capacity(shape.inner_cap);
            right.children.extend(inner.children.drain(mid..));
            right.counts.extend(inner.counts.drain(mid..));
            right.sep_scores.extend(inner.sep_scores.drain(mid..));
            right.sep_members.extend(inner.sep_members.drain(mid..));
            let sep_score = inner.sep_scores.pop().expect("separator");
            let sep_member = inner.sep_members.pop().expect("separator");
            shape.inners += 1;
            Some(Split { sep_score, sep_member, right_count: right.counts.iter().sum(), right: Node::Inner(Box::new(right)) })
        }
    }
}

/// Removes `(s, m)`; returns the stored member handle if it was present.
fn remove_rec(node: &mut Node, shape: &mut Shape, s: f64, m: &[u8]) -> Option<Member> {
    match node {
        Node::Leaf(leaf) => {
            let pos = leaf.find(s, m)?;
            leaf.scores.remove(pos);
            Some(leaf.members.remove(pos))
        }
        Node::Inner(inner) => {
            let j = inner.child_for(s, m);
            let removed = remove_rec(&mut inner.children[j], shape, s, m)?;
            inner.counts[j] -= 1;
            // The removed key was the minimum of child j: refresh its separator
            // so no separator references a dead member.
            if j > 0 && cmp_key(inner.sep_scores[j - 1], &inner.sep_members[j - 1], s, m) == Ordering::Equal {
                let (fs, fm) = inner.children[j].first_key();
                let fm = fm.clone();
                inner.sep_scores[j - 1] = fs;
                inner.sep_members[j - 1] = fm;
            }
            if inner.children[j].is_underfull(shape) {
                inner.rebalance(j, shape);
            }
            Some(removed)
        }
    }
}

#[derive(Clone)]
struct Tree {
    root: Node,
    shape: Shape,
}

impl Tree {
    fn new(leaf_cap: usize, inner_cap: usize) -> Self {
        assert!(leaf_cap >= 4 && inner_cap >= 4, "node capacity too small");
        Tree {
            // No allocation until the first insert; the root leaf grows
            // gradually so tiny sets stay tiny.
            root: Node::Leaf(Leaf { scores: Vec::new(), members: Vec::new() }),
            shape: Shape { leaf_cap, inner_cap, leaves: 1, inners: 0 },
        }
    }

    fn insert(&mut self, s: f64, m: Member) {
        if let Some(split) = insert_rec(&mut self.root, &mut self.shape, s, m) {
            let left_count = self.root.count();
            let mut old_root = mem::replace(&mut self.root, Node::Leaf(Leaf { scores: Vec::new(), members: Vec::new() }));
            if let Node::Leaf(leaf) = &mut old_root {
                // The root leaf grew by doubling; a non-root leaf has exactly `leaf_cap` slots
                // (what `mem_usage` counts). A no-op when `leaf_cap` is a power of two >= 4.
                leaf.set_capacity(self.shape.leaf_cap);
            }
            let mut root = Inner::with_capacity(self.shape.inner_cap);
            root.sep_scores.push(split.sep_score);
            root.sep_members.push(split.sep_member);
            root.counts.push(left_count);
            root.counts.push(split.right_count);
            root.children.push(old_root);
            root.children.push(split.right);
            self.root = Node::Inner(Box::new(root));
            self.shape.inners += 1;
        }
    }

    fn remove(&mut self, s: f64, m: &[u8]) -> Option<Member> {
        let removed = remove_rec(&mut self.root, &mut self.shape, s, m)?;
        if let Node::Inner(inner) = &mut self.root {
            if inner.children.len() == 1 {
                let child = inner.children.pop().expect("one child");
                self.root = child;
                self.shape.inners -= 1;
            }
        }
        Some(removed)
    }

    /// Changes the score of `(old, m)` to `new` without restructuring, if the
    /// element keeps its position. Only done for entries that are not first in
    /// their leaf (so never a separator). Returns whether it was done.
    fn update_in_place(&mut self, old: f64, m: &[u8], new: f64) -> bool {
        let mut node = &mut self.root;
        // Whether `(new, m)` is below the smallest key after this leaf.
        let mut below_upper = true;
        loop {
            match node {
                Node::Inner(inner) => {
                    let j = inner.child_for(old, m);
                    if j < inner.sep_scores.len() {
                        below_upper = cmp_key(new, m, inner.sep_scores[j], &inner.sep_members[j]) == Ordering::Less;
                    }
                    node = &mut inner.children[j];
                }
                Node::Leaf(leaf) => {
                    let Some(pos) = leaf.find(old, m) else {
                        debug_assert!(false, "member missing from tree");
                        return false;
                    };
                    if pos == 0 || cmp_key(leaf.scores[pos - 1], &leaf.members[pos - 1], new, m) != Ordering::Less {
                        return false;
                    }
                    let fits = if pos + 1 < leaf.len() {
                        cmp_key(new, m, leaf.scores[pos + 1], &leaf.members[pos + 1]) == Ordering::Less
                    } else {
                        below_upper
                    };
                    if fits {
                        leaf.scores[pos] = new;
                    }
                    return fits;
                }
            }
        }
    }

    /// Number of elements below `bound`.
    ///
    /// At an internal node, if separator `i` (the minimum of child `i + 1`)
    /// is below the bound then so is all of children `0..=i`; if it is not,
    /// none of children `i + 1..` is. So with `j` separators below, the answer
    /// is the counts of children `0..j` plus the answer within child `j`.
    #[inline]
    fn count_below(&self, bound: Bound<'_>) -> usize {
        let (acc, leaf) = self.descend(bound);
        acc + count_in(&leaf.scores, &leaf.members, bound)
    }

    /// The leaf that `bound` leads to, following separators below it, and the number of
    /// elements in the children passed over on the way (see `count_below`).
    #[inline]
    fn descend(&self, bound: Bound<'_>) -> (usize, &Leaf) {
        let mut node = &self.root;
        let mut acc = 0;
        loop {
            match node {
                Node::Inner(inner) => {
                    let j = count_in(&inner.sep_scores, &inner.sep_members, bound);
                    acc += inner.counts[..j].iter().sum::<usize>();
                    node = &inner.children[j];
                }
                Node::Leaf(leaf) => return (acc, leaf),
            }
        }
    }

    /// The rank of `(s, m)`, which the caller knows is in the tree. As `count_below` of that
    /// key, except that the descent goes to the leaf holding `(s, m)`, so when a single
    /// entry of that leaf has score `s` it is `(s, m)`, and its member (a pointer chase, a cache
    /// miss) need not be read.
    fn rank_of_present(&self, s: f64, m: &[u8]) -> usize {
        // Separators `<=` the key: a separator equal to it starts the child that holds it.
        let (acc, leaf) = self.descend(Bound::Key { s, m, inclusive: true });
        let lo = count_lt(&leaf.scores, s);
        let ties = count_le(&leaf.scores[lo..], s);
        acc + if ties == 1 { lo } else { count_in(&leaf.scores, &leaf.members, Bound::Key { s, m, inclusive: false }) }
    }

    /// Element at `rank`; caller guarantees `rank < len`.
    fn get(&self, mut rank: usize) -> (&Member, f64) {
        let mut node = &self.root;
        loop {
            match node {
                Node::Inner(inner) => {
                    let mut j = 0;
                    while rank >= inner.counts[j] {
                        rank -= inner.counts[j];
                        j += 1;
                    }
                    node = &inner.children[j];
                }
                Node::Leaf(leaf) => return (&leaf.members[rank], leaf.scores[rank]),
            }
        }
    }

    /// Iterator positioned at `rank`; `len` is the tree's element count.
    fn iter_at<const FWD: bool>(&self, rank: usize, len: usize) -> RankIter<'_, FWD> {
        let mut it = RankIter { stack: [None; MAX_DEPTH], depth: 0, scores: &[], members: &[], pos: 0, remaining: 0 };
        if rank >= len {
            return it;
        }
        it.remaining = if FWD { len - rank } else { rank + 1 };
        let mut node = &self.root;
        let mut r = rank;
        loop {
            match node {
                Node::Inner(inner) => {
                    let mut j = 0;
                    while r >= inner.counts[j] {
                        r -= inner.counts[j];
                        j += 1;
                    }
                    it.push(inner, j);
                    node = &inner.children[j];
                }
                Node::Leaf(leaf) => {
                    it.scores = &leaf.scores;
                    it.members = &leaf.members;
                    it.pos = if FWD { r } else { r + 1 };
                    return it;
                }
            }
        }
    }
}

/// Rank-ordered iterator: ascending if `FWD`, descending otherwise.
pub(crate) struct RankIter<'a, const FWD: bool> {
    /// Path from the root: each internal node and the child index taken.
    stack: [Option<(&'a Inner, usize)>; MAX_DEPTH],
    depth: usize,
    scores: &'a [f64],
    members: &'a [Member],
    /// Ascending: next index to yield. Descending: one past it.
    pos: usize,
    remaining: usize,
}

impl<'a, const FWD: bool> RankIter<'a, FWD> {
    #[inline]
    fn push(&mut self, inner: &'a Inner, j: usize) {
        assert!(self.depth < MAX_DEPTH, "tree deeper than MAX_DEPTH");
        self.stack[self.depth] = Some((inner, j));
        self.depth += 1;
    }

    /// Move to the next leaf in iteration order (one must exist).
    fn step_leaf(&mut self) {
        loop {
            let (inner, idx) = self.stack[self.depth - 1].expect("stack entry");
            let next = if FWD { (idx + 1 < inner.children.len()).then_some(idx + 1) } else { idx.checked_sub(1) };
            let Some(next) = next else {
                self.depth -= 1;
                continue;
            };
            self.stack[self.depth - 1] = Some((inner, next));
            let mut node = &inner.children[next];
            loop {
                match node {
                    Node::Inner(inner) => {
                        let k = if FWD { 0 } else { inner.children.len() - 1 };
                        self.push(inner, k);
                        node = &inner.children[k];
                    }
                    Node::Leaf(leaf) => {
                        self.scores = &leaf.scores;
                        self.members = &leaf.members;
                        self.pos = if FWD { 0 } else { leaf.len() };
                        return;
                    }
                }
            }
        }
    }

    #[inline]
    fn next_entry(&mut self) -> Option<(&'a Member, f64)> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let i = if FWD {
            if self.pos == self.scores.len() {
                self.step_leaf();
            }
            self.pos += 1;
            self.pos - 1
        } else {
            if self.pos == 0 {
                self.step_leaf();
            }
            self.pos -= 1;
            self.pos
        };
        let members = self.members;
        Some((&members[i], self.scores[i]))
    }
}

impl<'a, const FWD: bool> Iterator for RankIter<'a, FWD> {
    type Item = (&'a [u8], f64);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        self.next_entry().map(|(m, s)| (&**m, s))
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl<const FWD: bool> ExactSizeIterator for RankIter<'_, FWD> {}
impl<const FWD: bool> FusedIterator for RankIter<'_, FWD> {}

// ---------------------------------------------------------------------------
// ZSet
// ---------------------------------------------------------------------------

/// A Redis sorted set: member -> score map plus a rank-indexed order on
/// `(score, member)`. See the module docs for the design.
#[derive(Clone)]
pub struct ZSet {
    dict: Dict<f64>,
    tree: Tree,
    /// Heap bytes of the member allocations and map entries (`member_cost` summed), kept on
    /// every insert and removal so `mem_usage` is O(1).
    member_bytes: usize,
}

impl Default for ZSet {
    fn default() -> Self {
        Self::new()
    }
}

impl ZSet {
    pub fn new() -> Self {
        Self::with_node_caps(LEAF_CAP, INNER_CAP)
    }

    fn with_node_caps(leaf_cap: usize, inner_cap: usize) -> Self {
        ZSet { dict: Dict::new(), tree: Tree::new(leaf_cap, inner_cap), member_bytes: 0 }
    }

    pub fn len(&self) -> usize {
        self.dict.len()
    }

    pub fn is_empty(&self) -> bool {
        self.dict.is_empty()
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        self.dict.get(member).copied()
    }

    /// Insert or update. Returns the previous score if the member existed.
    ///
    /// `-0.0` is stored as `0.0` (the two are equal scores; one canonical
    /// value means `score` never reports a negative zero). Re-inserting an
    /// equal score changes nothing.
    pub fn insert(&mut self, member: &[u8], score: f64) -> Option<f64> {
        debug_assert!(!score.is_nan(), "NaN score");
        // `-0.0 == 0.0`, so this maps -0.0 (and 0.0) to +0.0.
        let score = if score == 0.0 { 0.0 } else { score };
        if let Some(slot) = self.dict.get_mut(member) {
            let old = *slot;
            if old == score {
                return Some(old);
            }
            *slot = score;
            if !self.tree.update_in_place(old, member, score) {
                let m = self.tree.remove(old, member).expect("zset map and tree out of sync");
                self.tree.insert(score, m);
            }
            return Some(old);
        }
        let m: Member = Arc::from(member);
        self.dict.insert(member, score);
        self.tree.insert(score, m);
        self.member_bytes += member_cost(member.len());
        None
    }

    /// Remove; returns the removed score.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let score = self.dict.remove(member)?;
        let removed = self.tree.remove(score, member);
        debug_assert!(removed.is_some(), "zset map and tree out of sync");
        self.member_bytes -= member_cost(member.len());
        Some(score)
    }

    /// 0-based rank in ascending (score, member) order.
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        let s = *self.dict.get(member)?;
        Some(self.tree.rank_of_present(s, member))
    }

    /// Element at 0-based ascending rank.
    pub fn get_by_rank(&self, rank: usize) -> Option<(&[u8], f64)> {
        if rank >= self.len() {
            return None;
        }
        let (m, s) = self.tree.get(rank);
        Some((m, s))
    }

    /// Ascending iterator starting at `rank` (empty if `rank >= len`).
    /// O(log n) to start, O(1) amortized per step.
    pub(crate) fn iter_from(&self, rank: usize) -> RankIter<'_, true> {
        self.tree.iter_at::<true>(rank, self.len())
    }

    /// Descending iterator starting at ascending rank `rank` and going towards
    /// rank 0 (yields the element at `rank` first; empty if `rank >= len`).
    pub(crate) fn iter_rev_from(&self, rank: usize) -> RankIter<'_, false> {
        self.tree.iter_at::<false>(rank, self.len())
    }

    /// Number of elements whose score is `< s` (or `<= s` if `inclusive`).
    pub fn count_below_score(&self, s: f64, inclusive: bool) -> usize {
        self.tree.count_below(Bound::Score { s, inclusive })
    }

    /// Number of elements `e` with `(e.score, e.member) < (S, m)` (or `<=` if
    /// `inclusive`), where `S` is the score of the first element. When all
    /// scores are equal (the only case Redis defines BYLEX commands for) this
    /// is the number of members bytewise below `m`.
    pub fn count_below_member(&self, m: &[u8], inclusive: bool) -> usize {
        let Some((_, first)) = self.get_by_rank(0) else {
            return 0;
        };
        self.tree.count_below(Bound::Key { s: first, m, inclusive })
    }

    /// Iteration over every `(member, score)`. The order is unspecified
    /// (currently ascending rank order, which is the cheapest walk).
    #[cfg(test)]
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], f64)> + '_ {
        self.tree.iter_at::<true>(0, self.len())
    }

    /// Removes the elements with ascending ranks in `[start, end_inclusive]`
    /// (clamped to the set); returns how many were removed. O(k log n).
    pub fn remove_range_by_rank(&mut self, start: usize, end_inclusive: usize) -> usize {
        let len = self.len();
        if start >= len || start > end_inclusive {
            return 0;
        }
        let end = end_inclusive.min(len - 1);
        let mut it = self.tree.iter_at::<true>(start, len);
        let victims: Vec<(Member, f64)> = (start..=end)
            .map(|_| {
                let (m, s) = it.next_entry().expect("rank in range");
                (m.clone(), s)
            })
            .collect();
        for (m, s) in &victims {
            self.dict.remove(m);
            let removed = self.tree.remove(*s, m);
            debug_assert!(removed.is_some(), "zset map and tree out of sync");
            self.member_bytes -= member_cost(m.len());
        }
        victims.len()
    }

    /// The member -> score map, for ZSCAN: its cursor visits every member present for the
    /// whole scan, whatever else is added, removed or re-scored meanwhile.
    pub(crate) fn members(&self) -> &Dict<f64> {
        &self.dict
    }

    /// Heap bytes owned beyond the struct itself, as the allocator counts them (`heap_cost` of
    /// every block): member allocations and map entries (a running total), the map's bucket
    /// array, and the tree nodes (from the node counts: every non-root leaf and every internal
    /// node has fixed capacities; only a root leaf grows, and its capacity is read). O(1).
    pub(crate) fn mem_usage(&self) -> usize {
        let shape = &self.tree.shape;
        let tree = match &self.tree.root {
            Node::Leaf(leaf) => {
                heap_cost(leaf.scores.capacity() * mem::size_of::<f64>()) + heap_cost(leaf.members.capacity() * mem::size_of::<Member>())
            }
            Node::Inner(_) => shape.leaves * leaf_cost(shape.leaf_cap) + shape.inners * inner_cost(shape.inner_cap),
        };
        self.member_bytes + self.dict.table_cost() + tree
    }
}

impl fmt::Debug for ZSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 8;
        struct Head<'a>(&'a ZSet);
        impl fmt::Debug for Head<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let mut list = f.debug_list();
                for (m, s) in self.0.iter_from(0).take(SHOWN) {
                    list.entry(&(String::from_utf8_lossy(m), s));
                }
                if self.0.len() > SHOWN {
                    list.entry(&format_args!(".."));
                }
                list.finish()
            }
        }
        f.debug_struct("ZSet").field("len", &self.len()).field("head", &Head(self)).finish()
    }
}

#[cfg(test)]
impl ZSet {
    /// Panics unless every structural invariant holds.
    pub(super) fn check_invariants(&self) {
        struct Walk<'a> {
            shape: &'a Shape,
            leaf_depth: Option<usize>,
            leaves: usize,
            inners: usize,
            prev: Option<(f64, &'a Member)>,
            count: usize,
            /// Heap bytes of the nodes, from their actual capacities.
            heap: usize,
        }
        fn walk<'a>(node: &'a Node, w: &mut Walk<'a>, depth: usize, is_root: bool) -> usize {
            match node {
                Node::Leaf(leaf) => {
                    w.leaves += 1;
                    w.heap += heap_cost(leaf.scores.capacity() * 8) + heap_cost(leaf.members.capacity() * 16);
                    assert_eq!(leaf.scores.len(), leaf.members.len());
                    assert!(leaf.len() <= w.shape.leaf_cap);
                    if !is_root {
                        assert!(leaf.len() >= w.shape.leaf_cap / 2, "underfull leaf");
                    }
                    match w.leaf_depth {
                        None => w.leaf_depth = Some(depth),
                        Some(d) => assert_eq!(d, depth, "leaves at different depths"),
                    }
                    for (s, m) in leaf.scores.iter().zip(&leaf.members) {
                        assert!(!s.is_nan());
                        if let Some((ps, pm)) = w.prev {
                            assert_eq!(cmp_key(ps, pm, *s, m), Ordering::Less, "unordered");
                        }
                        w.prev = Some((*s, m));
                        w.count += 1;
                    }
                    leaf.len()
                }
                Node::Inner(inner) => {
                    w.inners += 1;
                    w.heap += heap_cost(mem::size_of::<Inner>())
                        + heap_cost(inner.sep_scores.capacity() * 8)
                        + heap_cost(inner.sep_members.capacity() * 16)
                        + heap_cost(inner.counts.capacity() * 8)
                        + heap_cost(inner.children.capacity() * mem::size_of::<Node>());
                    let n = inner.children.len();
                    assert!(n <= w.shape.inner_cap);
                    assert!(n >= if is_root { 2 } else { w.shape.inner_cap / 2 });
                    assert_eq!(inner.counts.len(), n);
                    assert_eq!(inner.sep_scores.len(), n - 1);
                    assert_eq!(inner.sep_members.len(), n - 1);
                    let mut total = 0;
                    for (i, child) in inner.children.iter().enumerate() {
                        if i > 0 {
                            // Separator is exactly the first key of its child.
                            let (fs, fm) = child.first_key();
                            assert_eq!(inner.sep_scores[i - 1].to_bits(), fs.to_bits());
                            assert!(Arc::ptr_eq(&inner.sep_members[i - 1], fm));
                        }
                        let c = walk(child, w, depth + 1, false);
                        assert_eq!(inner.counts[i], c, "stale count");
                        total += c;
                    }
                    total
                }
            }
        }
        let mut w = Walk { shape: &self.tree.shape, leaf_depth: None, leaves: 0, inners: 0, prev: None, count: 0, heap: 0 };
        let total = walk(&self.tree.root, &mut w, 0, true);
        assert_eq!(total, self.dict.len());
        assert_eq!(w.count, self.dict.len());
        assert_eq!(w.leaves, self.tree.shape.leaves);
        assert_eq!(w.inners, self.tree.shape.inners);
        let mut bytes = 0;
        for (m, s) in self.tree.iter_at::<true>(0, self.len()) {
            let ds = self.dict.get(m).expect("tree member missing from map");
            assert_eq!(ds.to_bits(), s.to_bits(), "map and tree scores differ");
            bytes += heap_cost(16 + m.len()) + Dict::<f64>::entry_cost(m.len());
        }
        assert_eq!(bytes, self.member_bytes);
        // The O(1) total equals a recount from every block's real size.
        let table = heap_cost(self.dict.bucket_count() * 8);
        assert_eq!(self.mem_usage(), bytes + table + w.heap, "mem_usage drifted from a recount");
        // Every map key is in the tree.
        for (k, &ds) in self.dict.iter().take(64) {
            let r = self.rank(k).expect("map member missing from tree");
            assert_eq!(self.get_by_rank(r).map(|(_, s)| s.to_bits()), Some(ds.to_bits()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    const INF: f64 = f64::INFINITY;

    fn contents(z: &ZSet) -> Vec<(Vec<u8>, f64)> {
        z.iter_from(0).map(|(m, s)| (m.to_vec(), s)).collect()
    }

    fn members(z: &ZSet) -> Vec<Vec<u8>> {
        z.iter_from(0).map(|(m, _)| m.to_vec()).collect()
    }

    #[test]
    fn send_sync_default_clone() {
        fn assert_send_sync<T: Send + Sync + Clone + Default + fmt::Debug>() {}
        assert_send_sync::<ZSet>();
    }

    #[test]
    fn empty() {
        let z = ZSet::new();
        assert!(z.is_empty());
        assert_eq!(z.len(), 0);
        assert_eq!(z.score(b"a"), None);
        assert_eq!(z.rank(b"a"), None);
        assert_eq!(z.get_by_rank(0), None);
        assert_eq!(z.iter_from(0).count(), 0);
        assert_eq!(z.iter_rev_from(0).count(), 0);
        assert_eq!(z.iter().count(), 0);
        assert_eq!(z.count_below_score(INF, true), 0);
        assert_eq!(z.count_below_member(b"z", true), 0);
        assert_eq!(z.mem_usage(), 0, "an empty set owns no heap");
        z.check_invariants();
    }

    #[test]
    fn insert_score_update_remove() {
        let mut z = ZSet::new();
        assert_eq!(z.insert(b"a", 1.0), None);
        assert_eq!(z.insert(b"b", 2.0), None);
        assert_eq!(z.len(), 2);
        assert_eq!(z.score(b"a"), Some(1.0));
        assert_eq!(z.insert(b"a", 3.0), Some(1.0));
        assert_eq!(z.score(b"a"), Some(3.0));
        assert_eq!(members(&z), vec![b"b".to_vec(), b"a".to_vec()]);
        assert_eq!(z.len(), 2);
        assert_eq!(z.remove(b"a"), Some(3.0));
        assert_eq!(z.remove(b"a"), None);
        assert_eq!(z.remove(b"zz"), None);
        assert_eq!(z.len(), 1);
        assert_eq!(z.remove(b"b"), Some(2.0));
        assert!(z.is_empty());
        assert_eq!(z.get_by_rank(0), None);
        z.check_invariants();
        // Reusable after becoming empty.
        z.insert(b"c", 5.0);
        assert_eq!(contents(&z), vec![(b"c".to_vec(), 5.0)]);
        z.check_invariants();
    }

    #[test]
    fn ties_order_by_member_bytes() {
        let mut z = ZSet::new();
        for m in [&b"b"[..], b"ab", b"a", b"", b"\xff", b"\x00", b"abc", b"B"] {
            z.insert(m, 1.0);
        }
        z.insert(b"zzz", 0.5);
        let got = members(&z);
        let want: Vec<Vec<u8>> = [&b"zzz"[..], b"", b"\x00", b"B", b"a", b"ab", b"abc", b"b", b"\xff"].iter().map(|m| m.to_vec()).collect();
        assert_eq!(got, want);
        for (i, m) in want.iter().enumerate() {
            assert_eq!(z.rank(m), Some(i));
            assert_eq!(z.get_by_rank(i).unwrap().0, &m[..]);
        }
        z.check_invariants();
    }

    #[test]
    fn negative_zero_equals_zero() {
        let mut z = ZSet::new();
        z.insert(b"b", -0.0);
        z.insert(b"a", 0.0);
        z.insert(b"c", -0.0);
        // All three tie, so member order decides.
        assert_eq!(members(&z), vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
        assert_eq!(z.count_below_score(0.0, false), 0);
        assert_eq!(z.count_below_score(-0.0, false), 0);
        assert_eq!(z.count_below_score(0.0, true), 3);
        assert_eq!(z.count_below_score(-0.0, true), 3);
        // -0.0 is stored as +0.0, so no negative zero is ever reported.
        for m in [&b"a"[..], b"b", b"c"] {
            assert_eq!(z.score(m).map(f64::to_bits), Some(0.0f64.to_bits()));
        }
        assert_eq!(z.get_by_rank(1).map(|(_, s)| s.to_bits()), Some(0.0f64.to_bits()));
        assert_eq!(z.insert(b"a", -0.0).map(f64::to_bits), Some(0.0f64.to_bits()));
        assert_eq!(z.insert(b"a", 1.0).map(f64::to_bits), Some(0.0f64.to_bits()));
        assert_eq!(z.insert(b"a", -0.0), Some(1.0));
        assert_eq!(z.score(b"a").map(f64::to_bits), Some(0.0f64.to_bits()));
        assert_eq!(z.rank(b"b"), Some(1));
        z.check_invariants();
    }

    #[test]
    fn infinities() {
        let mut z = ZSet::new();
        z.insert(b"pinf", INF);
        z.insert(b"ninf", -INF);
        z.insert(b"zero", 0.0);
        z.insert(b"max", f64::MAX);
        z.insert(b"min", f64::MIN);
        assert_eq!(members(&z), ["ninf", "min", "zero", "max", "pinf"].iter().map(|m| m.as_bytes().to_vec()).collect::<Vec<_>>());
        assert_eq!(z.count_below_score(-INF, false), 0);
        assert_eq!(z.count_below_score(-INF, true), 1);
        assert_eq!(z.count_below_score(INF, false), 4);
        assert_eq!(z.count_below_score(INF, true), 5);
        assert_eq!(z.rank(b"pinf"), Some(4));
        assert_eq!(z.insert(b"pinf", -INF), Some(INF));
        assert_eq!(z.rank(b"pinf"), Some(1)); // "ninf" < "pinf" at -inf
        z.check_invariants();
    }

    #[test]
    fn update_moves_member() {
        let mut z = ZSet::new();
        for i in 0..1000u32 {
            z.insert(format!("m{i:04}").as_bytes(), f64::from(i));
        }
        assert_eq!(z.rank(b"m0500"), Some(500));
        z.insert(b"m0500", -1.0);
        assert_eq!(z.rank(b"m0500"), Some(0));
        assert_eq!(z.rank(b"m0000"), Some(1));
        z.insert(b"m0500", 5000.0);
        assert_eq!(z.rank(b"m0500"), Some(999));
        assert_eq!(z.rank(b"m0999"), Some(998));
        // Small moves that keep the rank take the in-place path.
        z.insert(b"m0100", 100.5);
        assert_eq!(z.rank(b"m0100"), Some(100));
        assert_eq!(z.get_by_rank(100), Some((&b"m0100"[..], 100.5)));
        z.check_invariants();
    }

    #[test]
    fn rank_get_iter_many() {
        let mut z = ZSet::new();
        let n = 5000u32;
        // Insert in a scrambled order; score = i / 3 so there are ties.
        for k in 0..n {
            let i = (k * 7919) % n;
            z.insert(format!("{i:05}").as_bytes(), f64::from(i / 3));
        }
        z.check_invariants();
        assert_eq!(z.len(), n as usize);
        for i in 0..n as usize {
            let m = format!("{i:05}");
            assert_eq!(z.rank(m.as_bytes()), Some(i));
            assert_eq!(z.get_by_rank(i), Some((m.as_bytes(), (i / 3) as f64)));
        }
        assert_eq!(z.get_by_rank(n as usize), None);
        let fwd: Vec<_> = z.iter_from(4990).map(|(m, _)| m.to_vec()).collect();
        assert_eq!(fwd.len(), 10);
        assert_eq!(fwd[0], b"04990");
        let rev: Vec<_> = z.iter_rev_from(10).map(|(m, _)| m.to_vec()).collect();
        assert_eq!(rev.len(), 11);
        assert_eq!(rev[0], b"00010");
        assert_eq!(rev[10], b"00000");
        assert_eq!(z.iter_from(n as usize).count(), 0);
        assert_eq!(z.iter_rev_from(n as usize).count(), 0);
        assert_eq!(z.iter_rev_from(n as usize - 1).count(), n as usize);
        let it = z.iter_from(100);
        assert_eq!(it.size_hint(), (4900, Some(4900)));
        assert_eq!(z.iter().count(), n as usize);
        // Scores are i/3: score < 10 covers i in 0..30.
        assert_eq!(z.count_below_score(10.0, false), 30);
        assert_eq!(z.count_below_score(10.0, true), 33);
        assert_eq!(z.count_below_score(9.5, true), 30);
    }

    #[test]
    fn count_below_member_lex() {
        let mut z = ZSet::new();
        for m in ["a", "b", "c", "d", "e", "f", "g"] {
            z.insert(m.as_bytes(), 0.0);
        }
        assert_eq!(z.count_below_member(b"", false), 0);
        assert_eq!(z.count_below_member(b"", true), 0);
        assert_eq!(z.count_below_member(b"a", false), 0);
        assert_eq!(z.count_below_member(b"a", true), 1);
        assert_eq!(z.count_below_member(b"c", false), 2);
        assert_eq!(z.count_below_member(b"c", true), 3);
        assert_eq!(z.count_below_member(b"cc", true), 3);
        assert_eq!(z.count_below_member(b"\xff", true), 7);
        // With unequal scores it compares (score, member) against (first score, m).
        z.insert(b"a", -1.0);
        assert_eq!(z.count_below_member(b"\xff", true), 1);
        assert_eq!(z.count_below_member(b"a", false), 0);
        assert_eq!(z.count_below_member(b"a", true), 1);
    }

    #[test]
    fn remove_range_by_rank_works() {
        let mut z = ZSet::new();
        for i in 0..300u32 {
            z.insert(format!("{i:03}").as_bytes(), f64::from(i));
        }
        assert_eq!(z.remove_range_by_rank(10, 5), 0);
        assert_eq!(z.remove_range_by_rank(300, 400), 0);
        assert_eq!(z.remove_range_by_rank(10, 19), 10);
        assert_eq!(z.len(), 290);
        assert_eq!(z.get_by_rank(10).unwrap().0, b"020");
        assert_eq!(z.score(b"015"), None);
        assert_eq!(z.remove_range_by_rank(280, usize::MAX), 10);
        assert_eq!(z.len(), 280);
        z.check_invariants();
        assert_eq!(z.remove_range_by_rank(0, usize::MAX), 280);
        assert!(z.is_empty());
        z.check_invariants();
    }

    #[test]
    fn grow_and_shrink_through_levels() {
        let mut z = ZSet::with_node_caps(4, 4);
        for i in 0..2000u32 {
            z.insert(&i.to_be_bytes(), f64::from(i % 17));
            if i % 97 == 0 {
                z.check_invariants();
            }
        }
        z.check_invariants();
        let mut i = 0u32;
        while !z.is_empty() {
            let k = (i * 7919) % 2000;
            z.remove(&k.to_be_bytes());
            i += 1;
            if i.is_multiple_of(89) {
                z.check_invariants();
            }
        }
        z.check_invariants();
        assert_eq!(z.tree.shape.leaves, 1);
        assert_eq!(z.tree.shape.inners, 0);
    }

    /// Production node sizes up to four levels (root, two internal levels,
    /// leaves) and back down to a single leaf.
    #[test]
    fn four_levels_production_caps() {
        // > 64 * 64 full leaves' worth, so at least three internal levels.
        let n = 300_000u32;
        // A bijection on 0..n (the multiplier is coprime with n).
        let key = |i: u32| ((u64::from(i) * 2_654_435_761 % u64::from(n)) as u32).to_be_bytes();
        let mut z = ZSet::new();
        for i in 0..n {
            z.insert(&key(i), f64::from(i % 1000));
        }
        z.check_invariants();
        let mut depth = 0;
        let mut node = &z.tree.root;
        while let Node::Inner(inner) = node {
            depth += 1;
            node = &inner.children[0];
        }
        assert_eq!(z.len(), n as usize);
        assert_eq!(depth, 3, "expected three internal levels");
        for i in (0..n).step_by(17) {
            let m = key(i);
            let r = z.rank(&m).unwrap();
            assert_eq!(z.get_by_rank(r).unwrap().0, &m[..]);
        }
        // Move a band of members across the whole range, then drain.
        for i in 0..20_000u32 {
            z.insert(&key(i), -f64::from(i));
        }
        z.check_invariants();
        assert_eq!(z.get_by_rank(0).unwrap().0, &key(19_999)[..]);
        for i in 0..n {
            assert!(z.remove(&key(i)).is_some());
            if i % 30_000 == 0 {
                z.check_invariants();
            }
        }
        assert!(z.is_empty());
        z.check_invariants();
    }

    #[test]
    fn clone_is_independent_and_debug_is_brief() {
        let mut a = ZSet::new();
        for i in 0..100u32 {
            a.insert(format!("k{i}").as_bytes(), f64::from(i));
        }
        let mut b = a.clone();
        assert_eq!(b.mem_usage(), a.mem_usage(), "a clone keeps the node capacities");
        b.check_invariants();
        b.remove(b"k5");
        b.insert(b"k6", -1.0);
        assert_eq!(a.len(), 100);
        assert_eq!(a.score(b"k5"), Some(5.0));
        assert_eq!(a.rank(b"k6"), Some(6));
        assert_eq!(b.rank(b"k6"), Some(0));
        a.check_invariants();
        b.check_invariants();
        let dbg = format!("{a:?}");
        assert!(dbg.starts_with("ZSet { len: 100"), "{dbg}");
        assert!(dbg.len() < 300, "{dbg}");
    }

    #[test]
    fn mem_usage_tracks_size() {
        let mut z = ZSet::new();
        let empty = z.mem_usage();
        for i in 0..10_000u32 {
            z.insert(format!("member:{i}").as_bytes(), f64::from(i));
        }
        let full = z.mem_usage();
        assert!(full > empty + 10_000 * 40, "{full}");
        assert!(full < 10_000 * 400, "{full}");
        for i in 0..10_000u32 {
            z.remove(format!("member:{i}").as_bytes());
        }
        assert!(z.mem_usage() < full);
    }

    // ---- property tests against a simple model ----

    #[derive(Clone, Copy, Debug)]
    struct OrdScore(f64);
    impl PartialEq for OrdScore {
        fn eq(&self, o: &Self) -> bool {
            self.cmp(o) == Ordering::Equal
        }
    }
    impl Eq for OrdScore {}
    impl PartialOrd for OrdScore {
        fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
            Some(self.cmp(o))
        }
    }
    impl Ord for OrdScore {
        fn cmp(&self, o: &Self) -> Ordering {
            self.0.partial_cmp(&o.0).expect("no NaN")
        }
    }

    #[derive(Default)]
    struct Model {
        order: BTreeMap<(OrdScore, Vec<u8>), ()>,
        scores: std::collections::HashMap<Vec<u8>, f64>,
    }

    impl Model {
        fn insert(&mut self, m: &[u8], s: f64) -> Option<f64> {
            let s = if s == 0.0 { 0.0 } else { s };
            match self.scores.get(m).copied() {
                Some(old) if old == s => Some(old),
                Some(old) => {
                    self.order.remove(&(OrdScore(old), m.to_vec()));
                    self.order.insert((OrdScore(s), m.to_vec()), ());
                    self.scores.insert(m.to_vec(), s);
                    Some(old)
                }
                None => {
                    self.order.insert((OrdScore(s), m.to_vec()), ());
                    self.scores.insert(m.to_vec(), s);
                    None
                }
            }
        }
        fn remove(&mut self, m: &[u8]) -> Option<f64> {
            let s = self.scores.remove(m)?;
            self.order.remove(&(OrdScore(s), m.to_vec()));
            Some(s)
        }
        fn rank(&self, m: &[u8]) -> Option<usize> {
            let s = *self.scores.get(m)?;
            Some(self.order.range(..(OrdScore(s), m.to_vec())).count())
        }
        fn items(&self) -> impl DoubleEndedIterator<Item = (&[u8], f64)> + '_ {
            self.order.keys().map(|(s, m)| (&m[..], s.0))
        }
    }

    #[derive(Clone, Debug)]
    enum Op {
        Insert(Vec<u8>, f64),
        Remove(Vec<u8>),
        Rank(Vec<u8>),
        GetByRank(usize),
        IterFrom(usize, usize),
        IterRevFrom(usize, usize),
        CountScore(f64, bool),
        CountMember(Vec<u8>, bool),
        RemoveRange(usize, usize),
        /// Insert `n` members derived from `seed` (grows the set fast).
        Fill(u16, u64),
        /// Remove `n` members at ranks picked by `seed`.
        Drain(u16, u64),
    }

    fn member_strategy() -> impl Strategy<Value = Vec<u8>> {
        // Small alphabet, lengths 0..=5: ~1.4k distinct members, so updates and
        // removals of present members are frequent.
        prop::collection::vec(prop::sample::select(vec![0u8, b'a', b'b', 0xff]), 0..=5)
    }

    fn score_strategy() -> impl Strategy<Value = f64> {
        prop_oneof![
            3 => (-4i32..4).prop_map(f64::from),
            1 => Just(0.0),
            1 => Just(-0.0),
            1 => Just(f64::INFINITY),
            1 => Just(f64::NEG_INFINITY),
            1 => (-4i32..4).prop_map(|x| f64::from(x) + 0.5),
            1 => any::<f64>().prop_filter("no NaN", |x| !x.is_nan()),
        ]
    }

    fn op_strategy() -> impl Strategy<Value = Op> {
        prop_oneof![
            20 => (member_strategy(), score_strategy()).prop_map(|(m, s)| Op::Insert(m, s)),
            8 => member_strategy().prop_map(Op::Remove),
            4 => member_strategy().prop_map(Op::Rank),
            3 => any::<usize>().prop_map(Op::GetByRank),
            3 => (any::<usize>(), 0usize..80).prop_map(|(r, n)| Op::IterFrom(r, n)),
            3 => (any::<usize>(), 0usize..80).prop_map(|(r, n)| Op::IterRevFrom(r, n)),
            3 => (score_strategy(), any::<bool>()).prop_map(|(s, i)| Op::CountScore(s, i)),
            3 => (member_strategy(), any::<bool>()).prop_map(|(m, i)| Op::CountMember(m, i)),
            1 => (any::<usize>(), 0usize..40).prop_map(|(a, n)| Op::RemoveRange(a, n)),
            2 => (0u16..8000, any::<u64>()).prop_map(|(n, s)| Op::Fill(n, s)),
            1 => (0u16..5000, any::<u64>()).prop_map(|(n, s)| Op::Drain(n, s)),
        ]
    }

    /// Deterministic member/score for bulk ops (~111k members, 9 scores).
    fn bulk_hash(seed: u64, i: u64) -> u64 {
        let mut x = seed ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        x ^= x >> 31;
        x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x ^ (x >> 29)
    }

    fn bulk_item(seed: u64, i: u64) -> (Vec<u8>, f64) {
        let x = bulk_hash(seed, i);
        let len = (x % 5) as usize + 1;
        let m: Vec<u8> = (0..len).map(|k| b"abcdefghij"[((x >> (8 + 4 * k)) % 10) as usize]).collect();
        let s = f64::from(((x >> 40) % 9) as u32) - 4.0;
        (m, s)
    }

    /// Rank arguments are mapped into `0..len+2` so boundaries are hit often.
    fn pick_rank(r: usize, len: usize) -> usize {
        r % (len + 2)
    }

    fn run_ops(mut z: ZSet, ops: &[Op]) {
        let mut model = Model::default();
        for op in ops {
            let len = model.scores.len();
            match op {
                Op::Insert(m, s) => {
                    let got = z.insert(m, *s).map(f64::to_bits);
                    assert_eq!(got, model.insert(m, *s).map(f64::to_bits), "{op:?}");
                }
                Op::Remove(m) => {
                    assert_eq!(z.remove(m).map(f64::to_bits), model.remove(m).map(f64::to_bits));
                }
                Op::Rank(m) => {
                    assert_eq!(z.rank(m), model.rank(m));
                    assert_eq!(z.score(m).map(f64::to_bits), model.scores.get(m).map(|s| s.to_bits()));
                }
                Op::GetByRank(r) => {
                    let r = pick_rank(*r, len);
                    assert_eq!(z.get_by_rank(r), model.items().nth(r));
                }
                Op::IterFrom(r, n) => {
                    let r = pick_rank(*r, len);
                    let got: Vec<_> = z.iter_from(r).take(*n).collect();
                    let want: Vec<_> = model.items().skip(r).take(*n).collect();
                    assert_eq!(got, want);
                }
                Op::IterRevFrom(r, n) => {
                    let r = pick_rank(*r, len);
                    let got: Vec<_> = z.iter_rev_from(r).take(*n).collect();
                    let want: Vec<_> = if r < len { model.items().rev().skip(len - 1 - r).take(*n).collect() } else { Vec::new() };
                    assert_eq!(got, want);
                }
                Op::CountScore(s, inclusive) => {
                    let want = model.items().filter(|(_, es)| if *inclusive { es <= s } else { es < s }).count();
                    assert_eq!(z.count_below_score(*s, *inclusive), want, "{op:?}");
                }
                Op::CountMember(m, inclusive) => {
                    let want = match model.items().next() {
                        None => 0,
                        Some((_, first)) => model
                            .items()
                            .filter(|(em, es)| {
                                let o = cmp_key(*es, em, first, m);
                                o == Ordering::Less || (*inclusive && o == Ordering::Equal)
                            })
                            .count(),
                    };
                    assert_eq!(z.count_below_member(m, *inclusive), want, "{op:?}");
                }
                Op::RemoveRange(a, n) => {
                    let start = pick_rank(*a, len);
                    let end = start + n;
                    let victims: Vec<Vec<u8>> = model.items().skip(start).take(n + 1).map(|(m, _)| m.to_vec()).collect();
                    assert_eq!(z.remove_range_by_rank(start, end), victims.len());
                    for m in victims {
                        model.remove(&m);
                    }
                }
                Op::Fill(n, seed) => {
                    for i in 0..u64::from(*n) {
                        let (m, s) = bulk_item(*seed, i);
                        assert_eq!(z.insert(&m, s).map(f64::to_bits), model.insert(&m, s).map(f64::to_bits));
                    }
                }
                Op::Drain(n, seed) => {
                    for i in 0..u64::from(*n) {
                        if z.is_empty() {
                            break;
                        }
                        let r = (bulk_hash(*seed, i) % z.len() as u64) as usize;
                        let m = z.get_by_rank(r).expect("rank < len").0.to_vec();
                        assert_eq!(z.remove(&m).map(f64::to_bits), model.remove(&m).map(f64::to_bits));
                    }
                }
            }
            // Full comparison after every op.
            assert_eq!(z.len(), model.scores.len());
            let got: Vec<_> = z.iter_from(0).collect();
            let want: Vec<_> = model.items().collect();
            assert_eq!(got, want, "after {op:?}");
            if matches!(op, Op::Fill(..) | Op::Drain(..) | Op::RemoveRange(..)) || len < 200 {
                z.check_invariants();
            }
        }
        z.check_invariants();
        // Ranks and reverse order agree with the model at the end.
        for (i, (m, s)) in model.items().enumerate() {
            assert_eq!(z.rank(m), Some(i));
            assert_eq!(z.score(m).map(f64::to_bits), Some(s.to_bits()));
        }
        let rev: Vec<_> = z.iter_rev_from(z.len().wrapping_sub(1)).collect();
        let want: Vec<_> = model.items().rev().collect();
        assert_eq!(rev, want);
    }

    /// Cases per property: `PROPTEST_CASES` if set, else 64 in optimized
    /// builds and 12 in debug builds (each case runs up to ~400 ops on sets of
    /// up to ~20k elements with a full model comparison after every op).
    fn prop_cases() -> u32 {
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(if cfg!(debug_assertions) { 12 } else { 64 })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(prop_cases()))]

        /// Production node sizes; Fill/Drain push the set to thousands of
        /// elements (three tree levels) and back.
        #[test]
        fn prop_matches_model(ops in prop::collection::vec(op_strategy(), 1..400)) {
            run_ops(ZSet::new(), &ops);
        }

        /// Tiny nodes: deep trees, every split/borrow/merge path exercised often.
        #[test]
        fn prop_matches_model_small_nodes(
            ops in prop::collection::vec(op_strategy(), 1..400),
            leaf_cap in 4usize..7,
            inner_cap in 4usize..7,
        ) {
            run_ops(ZSet::with_node_caps(leaf_cap, inner_cap), &ops);
        }
    }

    /// Manual perf sanity check:
    /// `cargo test --release -- --ignored --nocapture perf_sanity`
    #[test]
    #[ignore]
    fn perf_sanity() {
        use rand::seq::SliceRandom;
        use rand::{Rng, SeedableRng};
        use std::time::Instant;

        const N: usize = 1_000_000;
        let mut rng = rand::rngs::StdRng::seed_from_u64(42);
        let names: Vec<Vec<u8>> = (0..N).map(|i| format!("member:{i}").into_bytes()).collect();
        let rss = || {
            let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
            let pages: usize = statm.split(' ').nth(1).and_then(|x| x.parse().ok()).unwrap_or(0);
            pages * 4096
        };
        let rss_before = rss();
        let mut z = ZSet::new();
        let t = Instant::now();
        // ZSET_PERF_SCORES=distinct: random f64 scores (no ties); default:
        // integer scores in 0..1e6 (about half the members tie a neighbour).
        let distinct = std::env::var("ZSET_PERF_SCORES").as_deref() == Ok("distinct");
        println!("scores: {}", if distinct { "distinct random f64" } else { "floor(random 0..1e6)" });
        for m in &names {
            let s = rng.random_range(0.0..1e6f64);
            z.insert(m, if distinct { s } else { s.floor() });
        }
        let build = t.elapsed();
        println!(
            "insert 1M random: {:?} ({:.0} ns/op), mem_usage {} MiB (RSS grew {} MiB), leaves {}, inners {}",
            build,
            build.as_nanos() as f64 / N as f64,
            z.mem_usage() >> 20,
            rss().saturating_sub(rss_before) >> 20,
            z.tree.shape.leaves,
            z.tree.shape.inners
        );

        let batch = 1000;
        let median = |mut v: Vec<f64>| {
            v.sort_by(|a, b| a.partial_cmp(b).unwrap());
            v[v.len() / 2]
        };
        let mut order: Vec<usize> = (0..N).collect();
        order.shuffle(&mut rng);

        // Query keys laid out contiguously in query order, as they would sit in
        // a request buffer: the timing then covers only the set's own memory.
        let mut sink = 0usize;
        let queries: Vec<&[u8]> = order.iter().take(500 * batch).map(|&i| &names[i][..]).collect();
        let mut buf = Vec::new();
        let mut spans = Vec::new();
        for q in &queries {
            spans.push((buf.len(), q.len()));
            buf.extend_from_slice(q);
        }
        let key = |k: usize| &buf[spans[k].0..spans[k].0 + spans[k].1];
        let mut time = |f: &mut dyn FnMut(&[u8]) -> usize| {
            let mut per_op = Vec::new();
            for c in 0..500 {
                let t = Instant::now();
                for k in c * batch..(c + 1) * batch {
                    sink = sink.wrapping_add(f(key(k)));
                }
                per_op.push(t.elapsed().as_nanos() as f64 / batch as f64);
            }
            median(per_op)
        };
        let t_score = time(&mut |m| z.score(m).unwrap() as usize);
        let t_rank = time(&mut |m| z.rank(m).unwrap());
        let t_score_count = time(&mut |m| {
            let s = z.score(m).unwrap();
            z.count_below_score(s, false)
        });
        println!("score(): median of batch means {t_score:.0} ns");
        println!("score() + count_below_score(): median of batch means {t_score_count:.0} ns");
        println!("rank(): median of batch means {t_rank:.0} ns");

        // Per-call latency (no overlap between calls), timer cost subtracted.
        let mut single = |f: &mut dyn FnMut(usize) -> usize| {
            let mut v = Vec::with_capacity(100_000);
            for k in 0..100_000 {
                let t = Instant::now();
                sink = sink.wrapping_add(f(k));
                v.push(t.elapsed().as_nanos() as f64);
            }
            median(v)
        };
        let timer = single(&mut |k| k);
        // Calibration: a bare map with the same keys, no sorted set involved.
        let bare: std::collections::HashMap<Box<[u8]>, f64, foldhash::fast::RandomState> =
            names.iter().map(|m| (m.clone().into_boxed_slice(), 1.0)).collect();
        let s_bare = single(&mut |k| bare[key(k)] as usize) - timer;
        drop(bare);
        let probes: Vec<f64> = (0..100_000).map(|_| rng.random_range(0.0..1e6)).collect();
        let s_score = single(&mut |k| z.score(key(k)).unwrap() as usize) - timer;
        let s_desc = single(&mut |k| z.count_below_score(probes[k], false)) - timer;
        let s_rank = single(&mut |k| z.rank(key(k)).unwrap()) - timer;
        let s_iter = single(&mut |k| z.iter_from(order[k]).take(10).map(|(m, _)| m.len()).sum()) - timer;
        println!("single-call medians (timer {timer:.0} ns subtracted): bare HashMap lookup {s_bare:.0} ns, score {s_score:.0} ns, count_below_score {s_desc:.0} ns, rank {s_rank:.0} ns, iter_from(r).take(10) {s_iter:.0} ns");

        // Same operations on a small, cache-resident set.
        let mut small = ZSet::new();
        for m in names.iter().take(10_000) {
            small.insert(m, rng.random_range(0.0..1e4f64).floor());
        }
        let small_keys: Vec<&[u8]> = order.iter().filter(|&&i| i < 10_000).take(10_000).map(|&i| &names[i][..]).collect();
        let w_rank = single(&mut |k| small.rank(small_keys[k % small_keys.len()]).unwrap()) - timer;
        let w_iter = single(&mut |k| small.iter_from(k % 10_000).take(10).map(|(m, _)| m.len()).sum()) - timer;
        println!("10k-member set (warm), single-call medians: rank {w_rank:.0} ns, iter_from(r).take(10) {w_iter:.0} ns");

        let mut per_op = Vec::new();
        for chunk in order.chunks(batch).take(500) {
            let t = Instant::now();
            for &r in chunk {
                for (m, s) in z.iter_from(r).take(10) {
                    sink = sink.wrapping_add(m.len() + s as usize);
                }
            }
            per_op.push(t.elapsed().as_nanos() as f64 / batch as f64);
        }
        println!("iter_from(rank).take(10): median of batch means {:.0} ns", median(per_op));

        let mut per_op = Vec::new();
        for chunk in order.chunks(batch).take(500) {
            let t = Instant::now();
            for &r in chunk {
                for (m, s) in z.iter_rev_from(r).take(10) {
                    sink = sink.wrapping_add(m.len() + s as usize);
                }
            }
            per_op.push(t.elapsed().as_nanos() as f64 / batch as f64);
        }
        println!("iter_rev_from(rank).take(10): median of batch means {:.0} ns", median(per_op));

        let mut per_op = Vec::new();
        for _ in 0..500 {
            let t = Instant::now();
            for _ in 0..batch {
                sink = sink.wrapping_add(z.count_below_score(rng.random_range(0.0..1e6), false));
            }
            per_op.push(t.elapsed().as_nanos() as f64 / batch as f64);
        }
        println!("count_below_score: median of batch means {:.0} ns", median(per_op));

        let new_scores: Vec<f64> = (0..200_000).map(|_| rng.random_range(0.0..1e6f64).floor()).collect();
        let t = Instant::now();
        for (k, &s) in new_scores.iter().enumerate() {
            z.insert(key(k), s);
        }
        println!("update score (200k): {:.0} ns/op", t.elapsed().as_nanos() as f64 / 200_000.0);
        let t = Instant::now();
        for k in 0..500_000 {
            z.remove(key(k));
        }
        println!("remove (500k): {:.0} ns/op", t.elapsed().as_nanos() as f64 / 500_000.0);
        z.check_invariants();
        println!("(sink {sink})");
    }
}
