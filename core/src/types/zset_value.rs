//! `ZSetValue`: the value of a sorted-set key, in one of Redis's two encodings.
//!
//! - `Listpack`: members and scores interleaved (`member score member score ...`) in one
//!   `Listpack`, strictly ascending by (score, member). Used while the set has at most
//!   `zset-max-listpack-entries` members, none longer than `zset-max-listpack-value` bytes: the
//!   whole set is one exact-size allocation, and every operation is a scan of it (O(n), n <= 128
//!   by default, a few KiB at most).
//! - `Skiplist` (the name OBJECT ENCODING reports, as Redis does; the structure is the
//!   order-statistic `ZSet`: member map + counted B+tree), boxed. O(log n) ranks and ranges.
//!
//! Conversion is one way, as in Redis: an insert that would exceed a limit converts the set to
//! the skiplist encoding first, and it never converts back, however small the set gets. A value
//! built whole (`from_entries`: STORE destinations, snapshot load) picks its encoding from its
//! final size, like Redis's `zsetTypeCreate` / `zsetConvertToListpackIfNeeded`.
//!
//! Score bytes in the listpack: an integral score with |s| < 2^55 is stored as its shortest
//! two's-complement little-endian integer (0-7 bytes; 0 is the empty string), any other score as
//! the 8 little-endian bytes of its IEEE-754 bits (the length tells which). Why not Redis's text
//! (`d2string`)? Reading a score back is then a load, never a `strtod`, and range scans compare
//! scores on every entry; the round trip is bit-exact by construction; and the size is as
//! compact or better: counters and second/millisecond timestamps take 1-6 bytes (Redis's
//! listpack integers take the same), a fractional score 8 where its `%.17g` text takes up to 24.
//! `-0.0` is stored as `0.0` (the same score; the `ZSet` keeps that rule too) and NaN never.
//!
//! Memory: `mem_usage` is O(1): the listpack's block, or the `ZSet`'s box plus the `ZSet`'s own
//! running total.

use std::cmp::Ordering;
use std::mem;

use super::heap_cost;
use super::listpack::Listpack;
use super::zset::{cmp_key, RankIter, ZSet};
use crate::keyspace::dict::Dict;
use crate::keyspace::EncodingLimits;

/// A sorted set value: compact while small, the order-statistic tree beyond the limits.
#[derive(Clone, Debug)]
pub(crate) enum ZSetValue {
    /// `member score` pairs ascending by (score, member); scores as `encode_score` writes them.
    Listpack(Listpack),
    /// Redis's "skiplist" encoding; here the counted B+tree with its member map.
    Skiplist(Box<ZSet>),
}

impl Default for ZSetValue {
    fn default() -> Self {
        ZSetValue::Listpack(Listpack::new())
    }
}

/// The listpack bytes of `score` (see the module docs), written into `buf`.
fn encode_score(score: f64, buf: &mut [u8; 8]) -> &[u8] {
    const LIMIT: i64 = 1 << 55;
    let i = score as i64;
    if i as f64 == score && (-LIMIT..LIMIT).contains(&i) {
        *buf = i.to_le_bytes();
        // The fewest low bytes that sign-extend back to `i`.
        let n = (0..8).find(|&n| if n == 0 { i == 0 } else { (i << (64 - 8 * n)) >> (64 - 8 * n) == i }).unwrap_or(8);
        debug_assert!(n < 8);
        &buf[..n]
    } else {
        *buf = score.to_le_bytes();
        &buf[..]
    }
}

fn decode_score(b: &[u8]) -> f64 {
    if b.len() == 8 {
        return f64::from_le_bytes(b.try_into().expect("8 bytes"));
    }
    if b.is_empty() {
        return 0.0;
    }
    let mut raw = [0u8; 8];
    raw[..b.len()].copy_from_slice(b);
    let shift = 64 - 8 * b.len();
    ((i64::from_le_bytes(raw) << shift) >> shift) as f64
}

/// The pair at member offset `off`: (member, score, offset of the next pair's member).
fn pair_at(lp: &Listpack, off: usize) -> (&[u8], f64, Option<usize>) {
    let score_off = lp.next(off).expect("a member is followed by its score");
    (lp.get(off), decode_score(lp.get(score_off)), lp.next(score_off))
}

/// Pairs from the head: (member offset, member, score).
fn pairs(lp: &Listpack) -> impl Iterator<Item = (usize, &[u8], f64)> + '_ {
    let mut cur = lp.first();
    std::iter::from_fn(move || {
        let off = cur?;
        let (m, s, next) = pair_at(lp, off);
        cur = next;
        Some((off, m, s))
    })
}

/// Insert a pair known to be absent at its ordered position.
fn lp_insert(lp: &mut Listpack, member: &[u8], score: f64) {
    let mut buf = [0u8; 8];
    let enc = encode_score(score, &mut buf);
    // Appending is the common case (rising timestamps, snapshot load): check the tail first.
    let after_last = match lp.last().and_then(|s| lp.prev(s)) {
        None => true,
        Some(last) => {
            let (m, s, _) = pair_at(lp, last);
            cmp_key(s, m, score, member) == Ordering::Less
        }
    };
    let at = if after_last {
        lp.byte_len()
    } else {
        pairs(lp).find(|&(_, m, s)| cmp_key(s, m, score, member) == Ordering::Greater).map_or(lp.byte_len(), |(off, ..)| off)
    };
    lp.insert_at(at, &[member, enc]);
}

impl ZSetValue {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// A set holding `items` (distinct members, no NaN score), in the encoding Redis would pick
    /// for its final size.
    pub(crate) fn from_entries<M: AsRef<[u8]>>(mut items: Vec<(M, f64)>, limits: &EncodingLimits) -> Self {
        let compact = items.len() <= limits.zset_max_listpack_entries
            && items.iter().all(|(m, _)| m.as_ref().len() <= limits.zset_max_listpack_value);
        if !compact {
            let mut z = ZSet::new();
            for (m, s) in &items {
                let dup = z.insert(m.as_ref(), *s);
                debug_assert!(dup.is_none(), "duplicate member");
            }
            return ZSetValue::Skiplist(Box::new(z));
        }
        let norm = |s: f64| if s == 0.0 { 0.0 } else { s };
        items.sort_by(|(m1, s1), (m2, s2)| cmp_key(norm(*s1), m1.as_ref(), norm(*s2), m2.as_ref()));
        debug_assert!(items.windows(2).all(|w| w[0].0.as_ref() != w[1].0.as_ref()), "duplicate member");
        let mut bufs = vec![[0u8; 8]; items.len()];
        let mut flat: Vec<&[u8]> = Vec::with_capacity(2 * items.len());
        for ((m, s), buf) in items.iter().zip(bufs.iter_mut()) {
            flat.push(m.as_ref());
            flat.push(encode_score(norm(*s), buf));
        }
        ZSetValue::Listpack(Listpack::from_items(flat))
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            ZSetValue::Listpack(lp) => lp.len() / 2,
            ZSetValue::Skiplist(z) => z.len(),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        match self {
            ZSetValue::Listpack(lp) => lp.is_empty(),
            ZSetValue::Skiplist(z) => z.is_empty(),
        }
    }

    /// The encoding OBJECT ENCODING reports.
    pub(crate) fn encoding(&self) -> &'static str {
        match self {
            ZSetValue::Listpack(_) => "listpack",
            ZSetValue::Skiplist(_) => "skiplist",
        }
    }

    pub(crate) fn is_listpack(&self) -> bool {
        matches!(self, ZSetValue::Listpack(_))
    }

    /// Heap bytes owned beyond the value's inline bytes. O(1).
    pub(crate) fn mem_usage(&self) -> usize {
        match self {
            ZSetValue::Listpack(lp) => lp.mem_usage(),
            ZSetValue::Skiplist(z) => heap_cost(mem::size_of::<ZSet>()) + z.mem_usage(),
        }
    }

    pub(crate) fn score(&self, member: &[u8]) -> Option<f64> {
        match self {
            ZSetValue::Listpack(lp) => lp.find(member, 2).map(|off| pair_at(lp, off).1),
            ZSetValue::Skiplist(z) => z.score(member),
        }
    }

    /// Insert or update; returns the previous score if the member existed. `-0.0` is stored as
    /// `0.0`. A new member that would break `limits` converts a listpack to the skiplist first.
    pub(crate) fn insert(&mut self, member: &[u8], score: f64, limits: &EncodingLimits) -> Option<f64> {
        debug_assert!(!score.is_nan(), "NaN score");
        let score = if score == 0.0 { 0.0 } else { score };
        let lp = match self {
            ZSetValue::Skiplist(z) => return z.insert(member, score),
            ZSetValue::Listpack(lp) => lp,
        };
        if let Some(off) = lp.find(member, 2) {
            let old = pair_at(lp, off).1;
            if old != score {
                lp.remove_at(off, 2);
                lp_insert(lp, member, score);
            }
            return Some(old);
        }
        if lp.len() / 2 >= limits.zset_max_listpack_entries || member.len() > limits.zset_max_listpack_value {
            let mut z = ZSet::new();
            for (_, m, s) in pairs(lp) {
                z.insert(m, s);
            }
            z.insert(member, score);
            *self = ZSetValue::Skiplist(Box::new(z));
            return None;
        }
        lp_insert(lp, member, score);
        None
    }

    /// Remove; returns the removed score.
    pub(crate) fn remove(&mut self, member: &[u8]) -> Option<f64> {
        match self {
            ZSetValue::Listpack(lp) => {
                let off = lp.find(member, 2)?;
                let score = pair_at(lp, off).1;
                lp.remove_at(off, 2);
                Some(score)
            }
            ZSetValue::Skiplist(z) => z.remove(member),
        }
    }

    /// 0-based rank in ascending (score, member) order.
    pub(crate) fn rank(&self, member: &[u8]) -> Option<usize> {
        match self {
            ZSetValue::Listpack(lp) => pairs(lp).position(|(_, m, _)| m == member),
            ZSetValue::Skiplist(z) => z.rank(member),
        }
    }

    /// Element at 0-based ascending rank.
    pub(crate) fn get_by_rank(&self, rank: usize) -> Option<(&[u8], f64)> {
        match self {
            ZSetValue::Listpack(lp) => {
                let off = lp.offset_of(rank.checked_mul(2)?)?;
                let (m, s, _) = pair_at(lp, off);
                Some((m, s))
            }
            ZSetValue::Skiplist(z) => z.get_by_rank(rank),
        }
    }

    /// Ascending iterator starting at `rank` (empty if `rank >= len`).
    pub(crate) fn iter_from(&self, rank: usize) -> Iter<'_, true> {
        match self {
            ZSetValue::Listpack(lp) => Iter::listpack(lp, rank, self.len().saturating_sub(rank)),
            ZSetValue::Skiplist(z) => Iter::Skiplist(z.iter_from(rank)),
        }
    }

    /// Descending iterator from ascending rank `rank` down to rank 0 (empty if `rank >= len`).
    pub(crate) fn iter_rev_from(&self, rank: usize) -> Iter<'_, false> {
        match self {
            ZSetValue::Listpack(lp) => Iter::listpack(lp, rank, if rank < self.len() { rank + 1 } else { 0 }),
            ZSetValue::Skiplist(z) => Iter::Skiplist(z.iter_rev_from(rank)),
        }
    }

    /// Every `(member, score)`, ascending.
    pub(crate) fn iter(&self) -> Iter<'_, true> {
        self.iter_from(0)
    }

    /// Number of elements whose score is `< s` (or `<= s` if `inclusive`).
    pub(crate) fn count_below_score(&self, s: f64, inclusive: bool) -> usize {
        match self {
            ZSetValue::Listpack(lp) => pairs(lp).take_while(|&(_, _, x)| x < s || (inclusive && x == s)).count(),
            ZSetValue::Skiplist(z) => z.count_below_score(s, inclusive),
        }
    }

    /// Number of elements below `(S, m)` (or up to it if `inclusive`), `S` the lowest score:
    /// with one shared score, the members bytewise below `m` (see `ZSet::count_below_member`).
    pub(crate) fn count_below_member(&self, m: &[u8], inclusive: bool) -> usize {
        match self {
            ZSetValue::Listpack(lp) => {
                let Some((_, _, first)) = pairs(lp).next() else { return 0 };
                pairs(lp)
                    .take_while(|&(_, x, s)| match cmp_key(s, x, first, m) {
                        Ordering::Less => true,
                        Ordering::Equal => inclusive,
                        Ordering::Greater => false,
                    })
                    .count()
            }
            ZSetValue::Skiplist(z) => z.count_below_member(m, inclusive),
        }
    }

    /// Removes the elements with ascending ranks in `[start, end_inclusive]` (clamped to the
    /// set); returns how many were removed.
    pub(crate) fn remove_range_by_rank(&mut self, start: usize, end_inclusive: usize) -> usize {
        match self {
            ZSetValue::Listpack(lp) => {
                let len = lp.len() / 2;
                if start >= len || start > end_inclusive {
                    return 0;
                }
                let n = end_inclusive.min(len - 1) - start + 1;
                let off = lp.offset_of(2 * start).expect("rank in range");
                lp.remove_at(off, 2 * n);
                n
            }
            ZSetValue::Skiplist(z) => z.remove_range_by_rank(start, end_inclusive),
        }
    }

    /// The skiplist encoding's member -> score map (ZSCAN walks its bucket cursor); None for a
    /// listpack, which ZSCAN returns whole.
    pub(crate) fn members_map(&self) -> Option<&Dict<f64>> {
        match self {
            ZSetValue::Listpack(_) => None,
            ZSetValue::Skiplist(z) => Some(z.members()),
        }
    }
}

/// Rank-ordered iterator over either encoding: ascending if `FWD`, descending otherwise.
// The tree iterator carries its root-to-leaf path inline (~0.5 KiB); an iterator lives on the
// stack for one command, and boxing it would cost an allocation per range read.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Iter<'a, const FWD: bool> {
    Listpack {
        lp: &'a Listpack,
        /// Offset of the next pair's member (meaningless once `remaining` is 0).
        off: usize,
        remaining: usize,
    },
    Skiplist(RankIter<'a, FWD>),
}

impl<'a, const FWD: bool> Iter<'a, FWD> {
    fn listpack(lp: &'a Listpack, rank: usize, remaining: usize) -> Self {
        let off = if remaining == 0 { None } else { lp.offset_of(2 * rank) };
        match off {
            Some(off) => Iter::Listpack { lp, off, remaining },
            None => Iter::Listpack { lp, off: 0, remaining: 0 },
        }
    }
}

impl<'a, const FWD: bool> Iterator for Iter<'a, FWD> {
    type Item = (&'a [u8], f64);

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Iter::Skiplist(it) => it.next(),
            Iter::Listpack { lp, off, remaining } => {
                if *remaining == 0 {
                    return None;
                }
                *remaining -= 1;
                let (m, s, next) = pair_at(lp, *off);
                if *remaining > 0 {
                    *off = if FWD { next } else { lp.prev(*off).and_then(|o| lp.prev(o)) }.expect("counted pair");
                }
                Some((m, s))
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match self {
            Iter::Skiplist(it) => it.size_hint(),
            Iter::Listpack { remaining, .. } => (*remaining, Some(*remaining)),
        }
    }
}

impl<const FWD: bool> ExactSizeIterator for Iter<'_, FWD> {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::node_cost;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn limits(entries: usize, value: usize) -> EncodingLimits {
        EncodingLimits { zset_max_listpack_entries: entries, zset_max_listpack_value: value, ..EncodingLimits::default() }
    }

    fn contents(z: &ZSetValue) -> Vec<(Vec<u8>, f64)> {
        z.iter().map(|(m, s)| (m.to_vec(), s)).collect()
    }

    /// Panics unless the value is consistent and its O(1) `mem_usage` equals a recount.
    fn check(z: &ZSetValue) {
        match z {
            ZSetValue::Listpack(lp) => {
                assert_eq!(lp.len() % 2, 0);
                let items: Vec<(&[u8], f64)> = pairs(lp).map(|(_, m, s)| (m, s)).collect();
                for w in items.windows(2) {
                    assert_eq!(cmp_key(w[0].1, w[0].0, w[1].1, w[1].0), Ordering::Less, "listpack out of order");
                }
                // A recount: the same pairs packed from scratch take the same bytes.
                let fresh = ZSetValue::from_entries(items.clone(), &EncodingLimits::default());
                assert!(fresh.is_listpack());
                assert_eq!(z.mem_usage(), fresh.mem_usage());
                assert_eq!(z.mem_usage(), node_cost(lp.byte_len()));
            }
            // `check_invariants` recounts the tree's and map's blocks from their real sizes.
            ZSetValue::Skiplist(t) => t.check_invariants(),
        }
    }

    #[test]
    fn value_layout() {
        assert_eq!(mem::size_of::<ZSetValue>(), 16, "a niche in the listpack's pointer holds the tag");
        assert_eq!(ZSetValue::new().mem_usage(), node_cost(4));
        assert!(ZSetValue::new().is_empty());
    }

    #[test]
    fn score_bytes_are_compact_and_exact() {
        let mut buf = [0u8; 8];
        for (s, n) in [(0.0, 0), (-0.0, 0), (1.0, 1), (-1.0, 1), (127.0, 1), (128.0, 2), (-128.0, 1), (300.0, 2), (1.7e9, 4), (1.7e12, 6)] {
            assert_eq!(encode_score(s, &mut buf).len(), n, "{s}");
        }
        let edge = (1i64 << 55) as f64;
        // Doubles just below 2^55 are 8 apart.
        let below = ((1i64 << 55) - 8) as f64;
        let specials = [
            below,
            -below,
            -edge,
            edge,
            -edge - 16.0,
            0.5,
            -0.1,
            f64::MAX,
            f64::MIN,
            f64::MIN_POSITIVE,
            5e-324,
            f64::INFINITY,
            f64::NEG_INFINITY,
            i64::MAX as f64,
            i64::MIN as f64,
            1e300,
        ];
        for s in specials {
            let enc = encode_score(s, &mut buf).to_vec();
            assert_eq!(decode_score(&enc).to_bits(), s.to_bits(), "{s}");
        }
        assert_eq!(encode_score(below, &mut buf).len(), 7);
        assert_eq!(encode_score(-edge, &mut buf).len(), 7);
        assert_eq!(encode_score(edge, &mut buf).len(), 8, "2^55 is past the integer forms");
        assert_eq!(decode_score(encode_score(-0.0, &mut buf)).to_bits(), 0.0f64.to_bits());
    }

    #[test]
    fn converts_on_count_and_member_length_never_back() {
        let l = limits(3, 5);
        let mut z = ZSetValue::new();
        for (m, s) in [("c", 3.0), ("a", 1.0), ("b", 2.0)] {
            assert_eq!(z.insert(m.as_bytes(), s, &l), None);
        }
        assert_eq!(z.encoding(), "listpack");
        assert_eq!(z.insert(b"a", 9.0, &l), Some(1.0), "an update is not a new member");
        assert_eq!(z.encoding(), "listpack");
        assert_eq!(contents(&z), vec![(b"b".to_vec(), 2.0), (b"c".to_vec(), 3.0), (b"a".to_vec(), 9.0)]);
        check(&z);
        z.insert(b"d", 0.0, &l);
        assert_eq!(z.encoding(), "skiplist");
        assert_eq!(contents(&z).len(), 4);
        check(&z);
        z.remove_range_by_rank(0, 2);
        assert_eq!(z.len(), 1);
        assert_eq!(z.encoding(), "skiplist", "never converts back");

        let mut z = ZSetValue::new();
        z.insert(b"12345", 1.0, &l);
        assert_eq!(z.encoding(), "listpack");
        z.insert(b"123456", 1.0, &l);
        assert_eq!(z.encoding(), "skiplist");
        assert_eq!(z.rank(b"123456"), Some(1));

        let mut z = ZSetValue::new();
        z.insert(b"a", 1.0, &limits(0, 64));
        assert_eq!(z.encoding(), "skiplist", "max entries 0: skiplist from the first member");
    }

    #[test]
    fn a_listpack_is_much_smaller() {
        let items: Vec<(Vec<u8>, f64)> = (0..128).map(|i| (format!("user:{i}").into_bytes(), f64::from(i * 1000))).collect();
        let lp = ZSetValue::from_entries(items.clone(), &EncodingLimits::default());
        let tree = ZSetValue::from_entries(items, &limits(0, 64));
        assert_eq!((lp.encoding(), tree.encoding()), ("listpack", "skiplist"));
        // About 14 bytes a member (7-8 of member, 2 of score, 4 of entry framing) against ~130.
        assert!(lp.mem_usage() * 6 < tree.mem_usage(), "{} vs {}", lp.mem_usage(), tree.mem_usage());
        check(&lp);
        check(&tree);
    }

    #[test]
    fn from_entries_picks_the_final_encoding() {
        let l = limits(2, 3);
        let z = ZSetValue::from_entries(vec![(b"b".as_slice(), 1.0), (b"a", 1.0)], &l);
        assert_eq!((z.encoding(), contents(&z)), ("listpack", vec![(b"a".to_vec(), 1.0), (b"b".to_vec(), 1.0)]));
        let z = ZSetValue::from_entries(vec![(b"b".as_slice(), 1.0), (b"a", 1.0), (b"c", -0.0)], &l);
        assert_eq!(z.encoding(), "skiplist");
        assert_eq!(z.get_by_rank(0).map(|(m, s)| (m.to_vec(), s.to_bits())), Some((b"c".to_vec(), 0.0f64.to_bits())));
        let z = ZSetValue::from_entries(vec![(b"long".as_slice(), 1.0)], &l);
        assert_eq!(z.encoding(), "skiplist");
        let z = ZSetValue::from_entries(Vec::<(&[u8], f64)>::new(), &l);
        assert!(z.is_empty() && z.is_listpack());
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(Vec<u8>, f64),
        Remove(Vec<u8>),
        RemoveRange(usize, usize),
        Clone,
    }

    fn member() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            4 => proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'b'), Just(b'c'), Just(0xff)], 0..3),
            1 => proptest::collection::vec(any::<u8>(), 0..40),
        ]
    }

    fn score() -> impl Strategy<Value = f64> {
        prop_oneof![
            (-3i32..4).prop_map(f64::from),
            Just(-0.0),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            Just(0.5),
            Just(1e300),
            Just((1i64 << 55) as f64),
            (-1i64 << 50..1i64 << 50).prop_map(|i| i as f64),
        ]
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (member(), score()).prop_map(|(m, s)| Op::Insert(m, s)),
            2 => member().prop_map(Op::Remove),
            1 => (0usize..12, 0usize..12).prop_map(|(a, b)| Op::RemoveRange(a, b)),
            1 => Just(Op::Clone),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// Every operation agrees with a `BTreeMap` model across conversions; the encoding is
        /// listpack until a new member breaks a limit, then skiplist for good; `mem_usage`
        /// equals a recount after every step.
        #[test]
        fn matches_a_model(max_entries in 0usize..10, max_value in 0usize..4, ops in proptest::collection::vec(op(), 1..80)) {
            let l = limits(max_entries, max_value);
            let mut z = ZSetValue::new();
            let mut model: BTreeMap<Vec<u8>, f64> = BTreeMap::new();
            let mut converted = false;
            for op in ops {
                match op {
                    Op::Insert(m, s) => {
                        let s0 = if s == 0.0 { 0.0 } else { s };
                        if !model.contains_key(&m) && (model.len() >= max_entries || m.len() > max_value) {
                            converted = true;
                        }
                        prop_assert_eq!(z.insert(&m, s, &l), model.insert(m, s0));
                    }
                    Op::Remove(m) => prop_assert_eq!(z.remove(&m), model.remove(&m)),
                    Op::RemoveRange(a, b) => {
                        let sorted = sorted(&model);
                        let n = z.remove_range_by_rank(a, b);
                        let gone: Vec<_> = sorted.iter().enumerate().filter(|(i, _)| *i >= a && *i <= b).map(|(_, e)| e.0.clone()).collect();
                        prop_assert_eq!(n, gone.len());
                        for m in gone {
                            model.remove(&m);
                        }
                    }
                    Op::Clone => {
                        let c = z.clone();
                        prop_assert_eq!(c.mem_usage(), z.mem_usage());
                        z = c;
                    }
                }
                prop_assert_eq!(z.encoding(), if converted { "skiplist" } else { "listpack" });
                check(&z);
                let sorted = sorted(&model);
                prop_assert_eq!(z.len(), sorted.len());
                prop_assert_eq!(contents(&z), sorted.clone());
                let rev: Vec<_> = z.iter_rev_from(sorted.len().wrapping_sub(1)).map(|(m, s)| (m.to_vec(), s)).collect();
                prop_assert_eq!(rev, sorted.iter().rev().cloned().collect::<Vec<_>>());
                for (r, (m, s)) in sorted.iter().enumerate() {
                    prop_assert_eq!(z.rank(m), Some(r));
                    prop_assert_eq!(z.score(m), Some(*s));
                    prop_assert_eq!(z.get_by_rank(r).map(|(m, s)| (m.to_vec(), s)), Some((m.clone(), *s)));
                    prop_assert_eq!(z.iter_from(r).count(), sorted.len() - r);
                    prop_assert_eq!(z.iter_rev_from(r).next().map(|(m, _)| m.to_vec()), Some(m.clone()));
                }
                prop_assert_eq!(z.get_by_rank(sorted.len()), None);
                prop_assert_eq!(z.iter_from(sorted.len()).count(), 0);
                for probe in [-1.0, 0.0, 0.5, 1.0, f64::INFINITY, f64::NEG_INFINITY] {
                    for inclusive in [false, true] {
                        let want = sorted.iter().filter(|(_, s)| *s < probe || (inclusive && *s == probe)).count();
                        prop_assert_eq!(z.count_below_score(probe, inclusive), want);
                    }
                }
                if let Some((_, first)) = sorted.first() {
                    for probe in [b"".as_slice(), b"a", b"b", b"c\xff"] {
                        for inclusive in [false, true] {
                            let want = sorted.iter().filter(|(m, s)| match cmp_key(*s, m, *first, probe) {
                                Ordering::Less => true,
                                Ordering::Equal => inclusive,
                                Ordering::Greater => false,
                            }).count();
                            prop_assert_eq!(z.count_below_member(probe, inclusive), want);
                        }
                    }
                }
            }
        }
    }

    fn sorted(model: &BTreeMap<Vec<u8>, f64>) -> Vec<(Vec<u8>, f64)> {
        let mut v: Vec<_> = model.iter().map(|(m, s)| (m.clone(), *s)).collect();
        v.sort_by(|a, b| cmp_key(a.1, &a.0, b.1, &b.0));
        v
    }
}
