//! `SetValue`: a set of byte strings in one of three encodings, chosen and converted the way
//! Redis 7.2 does (`t_set.c`), so that a small set costs one small allocation.
//!
//! | encoding    | when                                                   | layout                      |
//! |-------------|--------------------------------------------------------|-----------------------------|
//! | `intset`    | every member is a canonical i64 (`parse_i64_strict`), | `IntSet`: sorted, packed    |
//! |             | at most `set-max-intset-entries` members              |                             |
//! | `listpack`  | at most `set-max-listpack-entries` members, each at   | `Listpack`, insertion order |
//! |             | most `set-max-listpack-value` bytes                   |                             |
//! | `hashtable` | otherwise                                              | `Dict<()>`                  |
//!
//! Listpack sets are Redis 7.2's; the redis-server 7.0 used for differential tests goes from
//! intset straight to hashtable. We follow 7.2 (it saves memory for small string sets), so
//! `OBJECT ENCODING` answers like 7.2, not 7.0. The rules (`setTypeCreate`, `setTypeAddAux`,
//! `setTypeMaybeConvert`, `maybeConvertToIntset`):
//! - a new set is an intset if its first member is an integer and the expected size fits an
//!   intset, else a listpack if the expected size fits one, else a hashtable sized for it;
//! - an intset that outgrows `set-max-intset-entries` becomes a hashtable; a non-integer added
//!   to an intset makes it a listpack if the listpack limits still hold (counting the decimal
//!   width of the intset's extremes), a hashtable otherwise;
//! - a listpack that would break a listpack limit becomes a hashtable;
//! - an encoding never goes back on its own (removals keep it). Only a rebuild picks a smaller
//!   one: SINTERSTORE's all-integer result becomes an intset (`intset_if_all_integers`), SPOP
//!   rebuilds a mostly popped hashtable as a listpack (the command layer decides).
//!
//! `IntSet` (after Redis's `intset.c`): distinct integers sorted ascending, packed at the
//! narrowest width (2, 4 or 8 bytes) that holds them all, in one exact-size allocation:
//! `width:u8` then `len` little-endian values. A value that needs a wider width re-packs the
//! set (it is then the new minimum or maximum, so it goes first or last). The width never
//! narrows on removal, as in Redis (no repacking ping-pong). Why not a sorted `Box<[i64]>`:
//! integer sets are mostly ids and small counters; 100 members below 32768 take
//! `heap_cost(201)` = 208 bytes packed against `heap_cost(800)` = 816 as `i64`s, and
//! decoding a 2- or 4-byte value is as cheap as loading an `i64`.
//!
//! Memory (`mem_usage`, O(1)): intset `heap_cost(1 + len × width)`; listpack its allocation;
//! hashtable the boxed `Dict` and its `heap_bytes` (bucket array, one node per member holding
//! the member's bytes: `heap_cost(12 + len)`, at least 32), which the dict keeps up to date.
//!
//! Complexity: intset lookups O(log n), edits O(n) (a re-allocation); listpack lookups and
//! edits O(bytes); hashtable O(1) expected. Compact encodings are bounded by the limits.

use std::fmt;
use std::hash::{Hash, Hasher};

use rand::Rng;

use super::heap_cost;
use super::listpack::Listpack;
use crate::keyspace::dict::{hash_bytes, Dict};
use crate::keyspace::EncodingLimits;
use crate::util::num::{fmt_u64, parse_i64_strict};

// ---------------------------------------------------------------------------------------------
// Members as read from a set
// ---------------------------------------------------------------------------------------------

/// A member read from a set: borrowed bytes, or an intset integer printed into an inline
/// buffer (so iterating an intset allocates nothing). Derefs to the member's bytes.
#[derive(Clone, Copy)]
pub(crate) enum Member<'a> {
    Bytes(&'a [u8]),
    /// The decimal text is `buf[start..]`.
    Int {
        start: u8,
        buf: [u8; 20],
    },
}

impl Member<'_> {
    fn int(v: i64) -> Self {
        // |i64::MIN| has 19 digits, so the sign always fits in front.
        let mut buf = [0u8; 20];
        let mut i = buf.len() - fmt_u64(&mut buf, v.unsigned_abs()).len();
        if v < 0 {
            i -= 1;
            buf[i] = b'-';
        }
        Member::Int { start: i as u8, buf }
    }
}

impl std::ops::Deref for Member<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Member::Bytes(b) => b,
            Member::Int { start, buf } => &buf[*start as usize..],
        }
    }
}

impl PartialEq for Member<'_> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl Eq for Member<'_> {}

impl Hash for Member<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (**self).hash(state);
    }
}

impl fmt::Debug for Member<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self))
    }
}

// ---------------------------------------------------------------------------------------------
// IntSet
// ---------------------------------------------------------------------------------------------

/// Sorted distinct integers packed at one width; see the module comment. Empty = no allocation.
#[derive(Clone, Default, PartialEq, Eq)]
struct IntSet {
    buf: Box<[u8]>,
}

/// Bytes needed to store `v`.
fn width_for(v: i64) -> usize {
    if i16::try_from(v).is_ok() {
        2
    } else if i32::try_from(v).is_ok() {
        4
    } else {
        8
    }
}

fn put_int(out: &mut Vec<u8>, v: i64, width: usize) {
    out.extend_from_slice(&v.to_le_bytes()[..width]);
}

/// Length of `v` in decimal (Redis's `sdigits10`).
fn digits(v: i64) -> usize {
    Member::int(v).len()
}

impl IntSet {
    fn width(&self) -> usize {
        self.buf.first().map_or(2, |&w| usize::from(w))
    }

    fn len(&self) -> usize {
        self.buf.len().saturating_sub(1) / self.width()
    }

    fn get(&self, i: usize) -> i64 {
        let w = self.width();
        let b = &self.buf[1 + i * w..1 + (i + 1) * w];
        match w {
            2 => i64::from(i16::from_le_bytes([b[0], b[1]])),
            4 => i64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            _ => i64::from_le_bytes(b.try_into().expect("8-byte slot")),
        }
    }

    /// `Ok(index)` of `v`, or `Err(index)` where it would be inserted.
    fn search(&self, v: i64) -> Result<usize, usize> {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.get(mid).cmp(&v) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Ok(mid),
            }
        }
        Err(lo)
    }

    fn contains(&self, v: i64) -> bool {
        self.search(v).is_ok()
    }

    fn iter(&self) -> impl DoubleEndedIterator<Item = i64> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }

    /// Add `v`; false if present. Re-allocates to the exact new size.
    fn insert(&mut self, v: i64) -> bool {
        let (n, w) = (self.len(), self.width());
        let need = width_for(v);
        if n == 0 || need > w {
            // First value, or an upgrade: `v` is outside the current range (it needs more
            // bytes than every member), so it is the new minimum or maximum.
            let nw = if n == 0 { need } else { need.max(w) };
            let mut out = Vec::with_capacity(1 + (n + 1) * nw);
            out.push(nw as u8);
            if v < 0 {
                put_int(&mut out, v, nw);
            }
            for x in self.iter() {
                put_int(&mut out, x, nw);
            }
            if v >= 0 {
                put_int(&mut out, v, nw);
            }
            self.buf = out.into_boxed_slice();
            return true;
        }
        let Err(pos) = self.search(v) else { return false };
        let at = 1 + pos * w;
        let mut out = Vec::with_capacity(self.buf.len() + w);
        out.extend_from_slice(&self.buf[..at]);
        put_int(&mut out, v, w);
        out.extend_from_slice(&self.buf[at..]);
        self.buf = out.into_boxed_slice();
        true
    }

    /// Remove the value at index `i` (the width stays).
    fn remove_index(&mut self, i: usize) {
        if self.len() == 1 {
            self.buf = Box::default();
            return;
        }
        let w = self.width();
        let at = 1 + i * w;
        let mut out = Vec::with_capacity(self.buf.len() - w);
        out.extend_from_slice(&self.buf[..at]);
        out.extend_from_slice(&self.buf[at + w..]);
        self.buf = out.into_boxed_slice();
    }

    fn remove(&mut self, v: i64) -> bool {
        match self.search(v) {
            Ok(i) => {
                self.remove_index(i);
                true
            }
            Err(_) => false,
        }
    }

    /// Keep the values for which `keep` is true, in one re-allocation (the width stays).
    fn retain(&mut self, mut keep: impl FnMut(i64) -> bool) {
        let w = self.width();
        let kept: Vec<i64> = self.iter().filter(|&v| keep(v)).collect();
        if kept.is_empty() {
            self.buf = Box::default();
            return;
        }
        let mut out = Vec::with_capacity(1 + kept.len() * w);
        out.push(w as u8);
        for v in kept {
            put_int(&mut out, v, w);
        }
        self.buf = out.into_boxed_slice();
    }

    fn mem_usage(&self) -> usize {
        heap_cost(self.buf.len())
    }
}

// ---------------------------------------------------------------------------------------------
// SetValue
// ---------------------------------------------------------------------------------------------

/// A set's members in one of three encodings (see the module comment). 24 bytes, stored
/// unboxed in `Value::Set`.
#[derive(Clone)]
pub(crate) struct SetValue(Repr);

#[derive(Clone)]
enum Repr {
    Intset(IntSet),
    Listpack(Listpack),
    Hashtable { dict: Box<Dict<()>> },
}

/// Redis's listpack safety limit (`LISTPACK_MAX_SAFETY_SIZE`): never grow one past 1 GiB.
const LISTPACK_MAX_BYTES: usize = 1 << 30;

/// The largest intset Redis allows, whatever the configuration (`intsetMaxEntries`).
fn intset_max(limits: &EncodingLimits) -> usize {
    limits.set_max_intset_entries.min(1 << 30)
}

impl Default for SetValue {
    fn default() -> Self {
        SetValue::new()
    }
}

impl SetValue {
    /// An empty set (an intset, no allocation). Members added with `insert` take the
    /// encoding Redis would give them one by one.
    pub(crate) fn new() -> Self {
        SetValue(Repr::Intset(IntSet::default()))
    }

    /// An empty listpack-encoded set.
    pub(crate) fn new_listpack() -> Self {
        SetValue(Repr::Listpack(Listpack::new()))
    }

    /// An empty set ready for about `size_hint` members, the first of which is `first`
    /// (Redis's `setTypeCreate`): intset, listpack or a pre-sized hashtable.
    pub(crate) fn create(first: &[u8], size_hint: usize, limits: &EncodingLimits) -> Self {
        if size_hint <= limits.set_max_intset_entries && parse_i64_strict(first).is_some() {
            SetValue::new()
        } else if size_hint <= limits.set_max_listpack_entries {
            SetValue::new_listpack()
        } else {
            SetValue(Repr::Hashtable { dict: Box::new(Dict::with_capacity(size_hint)) })
        }
    }

    /// A set of `members` built in one pass, for loading: an intset when they are all integers
    /// and fit one, else a listpack when they fit one, else a hashtable. With limits where an
    /// intset holds at least as many members as a listpack, and a listpack value at least 20
    /// bytes (every default does), this is the encoding `create` plus `insert` of each member
    /// would reach, without the quadratic cost of growing a compact encoding one member at a
    /// time. `Err(i)` when `members[i]` repeats an earlier member.
    pub(crate) fn build(members: &[&[u8]], limits: &EncodingLimits) -> Result<SetValue, usize> {
        let n = members.len();
        if n <= intset_max(limits) {
            let ints: Option<Vec<(i64, usize)>> = members.iter().enumerate().map(|(i, m)| parse_i64_strict(m).map(|v| (v, i))).collect();
            if let Some(mut ints) = ints {
                ints.sort_unstable();
                if let Some(w) = ints.windows(2).find(|w| w[0].0 == w[1].0) {
                    return Err(w[0].1.max(w[1].1));
                }
                let width = ints.iter().map(|&(v, _)| width_for(v)).max().unwrap_or(2);
                let mut buf = Vec::with_capacity(if n == 0 { 0 } else { 1 + n * width });
                if n > 0 {
                    buf.push(width as u8);
                }
                for (v, _) in ints {
                    put_int(&mut buf, v, width);
                }
                return Ok(SetValue(Repr::Intset(IntSet { buf: buf.into_boxed_slice() })));
            }
        }
        let bytes: usize = members.iter().map(|m| m.len() + 20).sum();
        if n <= limits.set_max_listpack_entries
            && members.iter().all(|m| m.len() <= limits.set_max_listpack_value)
            && bytes <= LISTPACK_MAX_BYTES
        {
            let mut seen = std::collections::HashSet::with_capacity(n);
            if let Some(i) = members.iter().position(|m| !seen.insert(*m)) {
                return Err(i);
            }
            return Ok(SetValue(Repr::Listpack(Listpack::from_items(members.iter().copied()))));
        }
        let mut dict = Dict::with_capacity(n);
        for (i, m) in members.iter().enumerate() {
            let h = hash_bytes(m);
            if dict.get_hashed(h, m).is_some() {
                return Err(i);
            }
            dict.insert_new_hashed(h, m, ());
        }
        Ok(SetValue(Repr::Hashtable { dict: Box::new(dict) }))
    }

    /// About `size_hint` members are going to be added: convert a compact set that many would
    /// overflow straight to a hashtable (Redis's `setTypeMaybeConvert`).
    pub(crate) fn reserve(&mut self, size_hint: usize, limits: &EncodingLimits) {
        let overflow = match &self.0 {
            Repr::Intset(_) => size_hint > limits.set_max_intset_entries,
            Repr::Listpack(_) => size_hint > limits.set_max_listpack_entries,
            Repr::Hashtable { .. } => false,
        };
        if overflow {
            self.convert_to_hashtable(size_hint);
        }
    }

    pub(crate) fn len(&self) -> usize {
        match &self.0 {
            Repr::Intset(is) => is.len(),
            Repr::Listpack(lp) => lp.len(),
            Repr::Hashtable { dict, .. } => dict.len(),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The name OBJECT ENCODING reports.
    pub(crate) fn encoding(&self) -> &'static str {
        match &self.0 {
            Repr::Intset(_) => "intset",
            Repr::Listpack(_) => "listpack",
            Repr::Hashtable { .. } => "hashtable",
        }
    }

    /// Heap bytes owned, O(1).
    pub(crate) fn mem_usage(&self) -> usize {
        match &self.0 {
            Repr::Intset(is) => is.mem_usage(),
            Repr::Listpack(lp) => lp.mem_usage(),
            Repr::Hashtable { dict } => heap_cost(std::mem::size_of::<Dict<()>>()) + dict.heap_bytes(),
        }
    }

    pub(crate) fn contains(&self, m: &[u8]) -> bool {
        match &self.0 {
            Repr::Intset(is) => parse_i64_strict(m).is_some_and(|v| is.contains(v)),
            Repr::Listpack(lp) => lp.find(m, 1).is_some(),
            Repr::Hashtable { dict, .. } => dict.contains_key(m),
        }
    }

    /// Add `m`; false if it was already a member. Converts the encoding as Redis's
    /// `setTypeAddAux` does (see the module comment).
    pub(crate) fn insert(&mut self, m: &[u8], limits: &EncodingLimits) -> bool {
        match &mut self.0 {
            Repr::Hashtable { dict } => {
                let h = hash_bytes(m);
                if dict.get_hashed(h, m).is_some() {
                    return false;
                }
                dict.insert_new_hashed(h, m, ());
                true
            }
            Repr::Listpack(lp) => {
                if lp.find(m, 1).is_some() {
                    return false;
                }
                if lp.len() < limits.set_max_listpack_entries
                    && m.len() <= limits.set_max_listpack_value
                    && lp.byte_len() + m.len() + 20 <= LISTPACK_MAX_BYTES
                {
                    lp.push_back(m);
                } else {
                    let n = lp.len();
                    self.convert_to_hashtable(n + 1);
                    self.insert_new_into_table(m);
                }
                true
            }
            Repr::Intset(is) => {
                if let Some(v) = parse_i64_strict(m) {
                    if !is.insert(v) {
                        return false;
                    }
                    if is.len() > intset_max(limits) {
                        let n = is.len();
                        self.convert_to_hashtable(n);
                    }
                    return true;
                }
                // A non-integer: a listpack if every member (at most as wide as the extremes)
                // and the newcomer fit the listpack limits, else a hashtable.
                let n = is.len();
                let widest = if n == 0 { 0 } else { digits(is.get(0)).max(digits(is.get(n - 1))) };
                if n < limits.set_max_listpack_entries
                    && m.len() <= limits.set_max_listpack_value
                    && widest <= limits.set_max_listpack_value
                    && (n + 1) * (widest + 3) + m.len() <= LISTPACK_MAX_BYTES
                {
                    let ints: Vec<Member<'_>> = is.iter().map(Member::int).collect();
                    let lp = Listpack::from_items(ints.iter().map(|x| &**x).chain(std::iter::once(m)));
                    self.0 = Repr::Listpack(lp);
                } else {
                    self.convert_to_hashtable(n + 1);
                    self.insert_new_into_table(m);
                }
                true
            }
        }
    }

    /// Add a member known to be absent to a hashtable-encoded set.
    fn insert_new_into_table(&mut self, m: &[u8]) {
        let Repr::Hashtable { dict } = &mut self.0 else { unreachable!("not a hashtable") };
        dict.insert_new_hashed(hash_bytes(m), m, ());
    }

    fn convert_to_hashtable(&mut self, capacity: usize) {
        let mut dict = Dict::with_capacity(capacity.max(self.len()));
        for m in self.members() {
            dict.insert_new_hashed(hash_bytes(&m), &m, ());
        }
        self.0 = Repr::Hashtable { dict: Box::new(dict) };
    }

    /// Remove `m`; false if it was not a member. The encoding stays.
    pub(crate) fn remove(&mut self, m: &[u8]) -> bool {
        match &mut self.0 {
            Repr::Intset(is) => parse_i64_strict(m).is_some_and(|v| is.remove(v)),
            Repr::Listpack(lp) => match lp.find(m, 1) {
                Some(off) => {
                    lp.remove_at(off, 1);
                    true
                }
                None => false,
            },
            Repr::Hashtable { dict } => dict.remove(m).is_some(),
        }
    }

    /// Remove every member of `ms` (each at most once in `ms`), compact encodings in one
    /// re-allocation. Returns how many were members.
    pub(crate) fn remove_all<M: AsRef<[u8]>>(&mut self, ms: &[M]) -> usize {
        match &mut self.0 {
            Repr::Hashtable { .. } => ms.iter().filter(|m| self.remove(m.as_ref())).count(),
            Repr::Intset(is) => {
                let gone: std::collections::HashSet<i64> = ms.iter().filter_map(|m| parse_i64_strict(m.as_ref())).collect();
                let before = is.len();
                is.retain(|v| !gone.contains(&v));
                before - is.len()
            }
            Repr::Listpack(lp) => {
                let gone: std::collections::HashSet<&[u8]> = ms.iter().map(AsRef::as_ref).collect();
                let before = lp.len();
                let kept = Listpack::from_items(lp.iter().filter(|m| !gone.contains(m)));
                *lp = kept;
                before - lp.len()
            }
        }
    }

    /// Members in encoding order: ascending for an intset, insertion order for a listpack,
    /// bucket order for a hashtable.
    pub(crate) fn members(&self) -> impl Iterator<Item = Member<'_>> + '_ {
        let (ints, packed, table) = match &self.0 {
            Repr::Intset(is) => (Some(is.iter()), None, None),
            Repr::Listpack(lp) => (None, Some(lp.iter()), None),
            Repr::Hashtable { dict, .. } => (None, None, Some(dict.keys())),
        };
        let ints = ints.into_iter().flatten().map(Member::int);
        let packed = packed.into_iter().flatten().map(Member::Bytes);
        let table = table.into_iter().flatten().map(Member::Bytes);
        ints.chain(packed).chain(table)
    }

    /// The hash table of a hashtable-encoded set (for bucket-cursor scans and sampling).
    pub(crate) fn as_dict(&self) -> Option<&Dict<()>> {
        match &self.0 {
            Repr::Hashtable { dict, .. } => Some(dict),
            _ => None,
        }
    }

    /// A uniformly random member of a compact set, or a fair-bucket one of a hashtable
    /// (as Redis picks); None when empty.
    pub(crate) fn random_member(&self, rng: &mut impl Rng) -> Option<Member<'_>> {
        let n = self.len();
        if n == 0 {
            return None;
        }
        match &self.0 {
            Repr::Intset(is) => Some(Member::int(is.get(rng.random_range(0..n)))),
            Repr::Listpack(lp) => lp.offset_of(rng.random_range(0..n)).map(|off| Member::Bytes(lp.get(off))),
            Repr::Hashtable { dict, .. } => dict.random_entry(rng).map(|(m, _)| Member::Bytes(m)),
        }
    }

    /// Call `f` with `count` independent random members (repetitions allowed); not at all when
    /// the set is empty.
    pub(crate) fn random_members(&self, count: usize, rng: &mut impl Rng, mut f: impl FnMut(&[u8])) {
        if let Repr::Listpack(lp) = &self.0 {
            // Walk the listpack once rather than once per pick.
            let all: Vec<&[u8]> = lp.iter().collect();
            if !all.is_empty() {
                (0..count).for_each(|_| f(all[rng.random_range(0..all.len())]));
            }
            return;
        }
        for _ in 0..count {
            let Some(m) = self.random_member(rng) else { break };
            f(&m);
        }
    }

    /// `count` distinct random members of a compact set, in encoding order (`0 < count <
    /// len`). None for a hashtable (sample its `as_dict()` instead).
    pub(crate) fn sample_compact(&self, count: usize, rng: &mut impl Rng) -> Option<Vec<Member<'_>>> {
        if matches!(self.0, Repr::Hashtable { .. }) {
            return None;
        }
        let n = self.len();
        let mut picked = rand::seq::index::sample(rng, n, count.min(n)).into_vec();
        picked.sort_unstable();
        let mut next = picked.into_iter().peekable();
        let mut out = Vec::with_capacity(count.min(n));
        for (i, m) in self.members().enumerate() {
            if next.peek() == Some(&i) {
                next.next();
                out.push(m);
            }
        }
        Some(out)
    }

    /// Remove and return a random member; None when empty.
    pub(crate) fn pop_random(&mut self, rng: &mut impl Rng) -> Option<Box<[u8]>> {
        let n = self.len();
        if n == 0 {
            return None;
        }
        match &mut self.0 {
            Repr::Intset(is) => {
                let i = rng.random_range(0..n);
                let m: Box<[u8]> = (*Member::int(is.get(i))).into();
                is.remove_index(i);
                Some(m)
            }
            Repr::Listpack(lp) => {
                let off = lp.offset_of(rng.random_range(0..n))?;
                let m: Box<[u8]> = lp.get(off).into();
                lp.remove_at(off, 1);
                Some(m)
            }
            Repr::Hashtable { dict, .. } => {
                let m: Box<[u8]> = dict.random_entry(rng)?.0.into();
                self.remove(&m);
                Some(m)
            }
        }
    }

    /// Make a set whose members are all integers an intset, if it fits one (Redis's
    /// `maybeConvertToIntset`, which SINTERSTORE applies to its result).
    pub(crate) fn intset_if_all_integers(&mut self, limits: &EncodingLimits) {
        if matches!(self.0, Repr::Intset(_)) || self.len() > intset_max(limits) {
            return;
        }
        let mut is = IntSet::default();
        for m in self.members() {
            let Some(v) = parse_i64_strict(&m) else { return };
            is.insert(v);
        }
        self.0 = Repr::Intset(is);
    }
}

impl fmt::Debug for SetValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ", self.encoding())?;
        f.debug_set().entries(self.members()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::node_cost;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn limits(intset: usize, entries: usize, value: usize) -> EncodingLimits {
        EncodingLimits {
            set_max_intset_entries: intset,
            set_max_listpack_entries: entries,
            set_max_listpack_value: value,
            ..EncodingLimits::default()
        }
    }

    fn contents(s: &SetValue) -> BTreeSet<Vec<u8>> {
        s.members().map(|m| m.to_vec()).collect()
    }

    /// Heap bytes recomputed from the members alone (what `mem_usage` keeps incrementally).
    fn recount(s: &SetValue) -> usize {
        match &s.0 {
            Repr::Intset(is) => {
                let n = is.len();
                let w = is.width();
                assert!(is.iter().all(|v| width_for(v) <= w), "a value wider than the intset");
                assert!(is.iter().zip(is.iter().skip(1)).all(|(a, b)| a < b), "intset not strictly ascending");
                if n == 0 {
                    0
                } else {
                    heap_cost(1 + n * w)
                }
            }
            Repr::Listpack(lp) => Listpack::<true>::from_items(lp.iter()).mem_usage(),
            Repr::Hashtable { dict, .. } => {
                heap_cost(std::mem::size_of::<Dict<()>>())
                    + heap_cost(dict.bucket_count() * 8)
                    + dict.keys().map(|k| node_cost((12 + k.len()).max(16))).sum::<usize>()
            }
        }
    }

    #[test]
    fn layout_and_node_model() {
        assert_eq!(std::mem::size_of::<SetValue>(), 24);
        assert_eq!(std::mem::size_of::<Member<'_>>(), 24);
        // A member's node is link 8 + length 4 + its bytes (16 at least, the header with
        // padding), in mimalloc's classes: up to 4 bytes 16, up to 20 bytes 32, up to 36 48.
        for (n, cost) in [(0usize, 16), (4, 16), (5, 32), (20, 32), (21, 48), (36, 48), (37, 64), (100, 112)] {
            assert_eq!(Dict::<()>::entry_cost(n), cost, "member of {n} bytes");
        }
        let mut d: Dict<()> = Dict::new();
        for i in 0..100u32 {
            d.insert(format!("member-{i:0>30}").as_bytes(), ());
            d.insert(&i.to_le_bytes(), ());
        }
        assert_eq!(d.heap_bytes(), d.table_cost() + 100 * 64 + 100 * 16, "37-byte and 4-byte members");
    }

    #[test]
    fn members_print_like_redis() {
        for v in [0i64, 7, -7, 10, -10, 32767, -32768, 1 << 40, i64::MAX, i64::MIN] {
            assert_eq!(&*Member::int(v), v.to_string().as_bytes());
            assert_eq!(digits(v), v.to_string().len());
        }
    }

    #[test]
    fn intset_widths_upgrade_and_stay() {
        let mut is = IntSet::default();
        assert_eq!(is.mem_usage(), 0);
        for v in [5i64, -3, 100] {
            assert!(is.insert(v));
        }
        assert!(!is.insert(5));
        assert_eq!((is.width(), is.buf.len()), (2, 7));
        assert!(is.insert(70_000));
        assert_eq!((is.width(), is.iter().collect::<Vec<_>>()), (4, vec![-3, 5, 100, 70_000]));
        assert!(is.insert(i64::MIN));
        assert_eq!((is.width(), is.iter().collect::<Vec<_>>()), (8, vec![i64::MIN, -3, 5, 100, 70_000]));
        assert!(is.remove(i64::MIN) && is.remove(70_000) && !is.remove(70_000));
        assert_eq!((is.width(), is.len()), (8, 3), "the width never narrows");
        assert!(is.contains(-3) && !is.contains(4));
        for v in [-3, 5, 100] {
            assert!(is.remove(v));
        }
        assert!(is.buf.is_empty(), "an empty intset owns nothing");
    }

    #[test]
    fn conversions_follow_redis_7_2() {
        let l = limits(4, 3, 5);
        // intset -> hashtable when it outgrows set-max-intset-entries.
        let mut s = SetValue::create(b"1", 1, &l);
        for m in ["1", "2", "3", "4"] {
            s.insert(m.as_bytes(), &l);
        }
        assert_eq!(s.encoding(), "intset");
        s.insert(b"5", &l);
        assert_eq!(s.encoding(), "hashtable");
        // intset -> listpack on a short non-integer when the listpack limits hold.
        let mut s = SetValue::create(b"1", 1, &l);
        s.insert(b"1", &l);
        s.insert(b"-1000", &l);
        s.insert(b"x", &l);
        assert_eq!(
            (s.encoding(), s.members().map(|m| m.to_vec()).collect::<Vec<_>>()),
            ("listpack", vec![b"-1000".to_vec(), b"1".to_vec(), b"x".to_vec()])
        );
        s.remove(b"x");
        assert_eq!(s.encoding(), "listpack", "never back to intset by itself");
        s.insert(b"y", &l);
        s.insert(b"z", &l);
        assert_eq!(s.encoding(), "hashtable", "listpack -> hashtable past set-max-listpack-entries");
        // intset -> hashtable when an extreme is wider than set-max-listpack-value.
        let mut s = SetValue::new();
        s.insert(b"-10000", &l);
        s.insert(b"x", &l);
        assert_eq!(s.encoding(), "hashtable");
        // Non-integers: a long member, a non-canonical integer.
        let mut s = SetValue::create(b"a", 1, &l);
        assert_eq!(s.encoding(), "listpack");
        s.insert(b"abcdef", &l);
        assert_eq!(s.encoding(), "hashtable");
        let s = SetValue::create(b"01", 1, &l);
        assert_eq!(s.encoding(), "listpack");
        // Size hints: SADD with many arguments skips the compact encodings.
        assert_eq!(SetValue::create(b"1", 5, &l).encoding(), "hashtable");
        assert_eq!(SetValue::create(b"1", 4, &l).encoding(), "intset");
        let mut s = SetValue::create(b"1", 1, &l);
        s.insert(b"1", &l);
        s.reserve(5, &l);
        assert_eq!((s.encoding(), contents(&s)), ("hashtable", BTreeSet::from([b"1".to_vec()])));
        // SINTERSTORE's rebuild.
        let mut s = SetValue::new_listpack();
        s.insert(b"3", &l);
        s.insert(b"-2", &l);
        s.intset_if_all_integers(&l);
        assert_eq!((s.encoding(), s.members().map(|m| m.to_vec()).collect::<Vec<_>>()), ("intset", vec![b"-2".to_vec(), b"3".to_vec()]));
    }

    #[test]
    fn random_picks_and_pops_cover_every_encoding() {
        let l = limits(8, 8, 10);
        let mut rng = rand::rng();
        for items in [&["1", "2", "3", "4", "5"][..], &["a", "1", "b", "c", "d"], &["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"]] {
            let mut s = SetValue::new();
            for m in items {
                s.insert(m.as_bytes(), &l);
            }
            let all = contents(&s);
            assert!(all.contains(&*s.random_member(&mut rng).unwrap()));
            let mut many = 0;
            s.random_members(50, &mut rng, |m| {
                assert!(all.contains(m));
                many += 1;
            });
            assert_eq!(many, 50);
            if let Some(picked) = s.sample_compact(3, &mut rng) {
                let distinct: BTreeSet<Vec<u8>> = picked.iter().map(|m| m.to_vec()).collect();
                assert_eq!(distinct.len(), 3);
                assert!(distinct.is_subset(&all));
            } else {
                assert_eq!(s.encoding(), "hashtable");
            }
            let mut popped = BTreeSet::new();
            while let Some(m) = s.pop_random(&mut rng) {
                assert_eq!(s.mem_usage(), recount(&s));
                assert!(popped.insert(m.to_vec()));
            }
            assert_eq!(popped, all);
        }
    }

    /// An independent statement of Redis 7.2's encoding rules for one added member.
    fn expected_after_insert(enc: &str, len: usize, ints: &BTreeSet<i64>, m: &[u8], l: &EncodingLimits) -> &'static str {
        let int = parse_i64_strict(m);
        match enc {
            "intset" if int.is_some() => {
                if len + 1 > l.set_max_intset_entries {
                    "hashtable"
                } else {
                    "intset"
                }
            }
            "intset" => {
                let widest = ints.iter().map(|v| v.to_string().len()).max().unwrap_or(0);
                if len < l.set_max_listpack_entries && m.len() <= l.set_max_listpack_value && widest <= l.set_max_listpack_value {
                    "listpack"
                } else {
                    "hashtable"
                }
            }
            "listpack" if len < l.set_max_listpack_entries && m.len() <= l.set_max_listpack_value => "listpack",
            _ => "hashtable",
        }
    }

    fn member_strategy() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            (-40i64..40).prop_map(|v| v.to_string().into_bytes()),
            any::<i64>().prop_map(|v| v.to_string().into_bytes()),
            prop_oneof![Just(b"-0".to_vec()), Just(b"007".to_vec()), Just(b"+1".to_vec()), Just(b"".to_vec())],
            "[a-e]{1,3}".prop_map(String::into_bytes),
            prop::collection::vec(any::<u8>(), 20..70),
        ]
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(Vec<u8>),
        Remove(Vec<u8>),
        RemoveAll(Vec<Vec<u8>>),
        Pop,
        Reserve(usize),
        ToIntset,
        Clone,
    }

    fn op_strategy() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => member_strategy().prop_map(Op::Insert),
            2 => member_strategy().prop_map(Op::Remove),
            1 => prop::collection::vec(member_strategy(), 0..4).prop_map(Op::RemoveAll),
            1 => Just(Op::Pop),
            1 => (0usize..30).prop_map(Op::Reserve),
            1 => Just(Op::ToIntset),
            1 => Just(Op::Clone),
        ]
    }

    proptest! {
        /// `build` reaches the encoding `create` + `insert` reaches (under limits shaped like the
        /// defaults), with the same members, a correct memory count, and finds duplicates.
        #[test]
        fn build_matches_member_by_member(
            entries in 0usize..10, extra in 0usize..6, value in 20usize..40,
            members in prop::collection::vec(member_strategy(), 0..16),
        ) {
            let l = limits(entries + extra, entries, value);
            let refs: Vec<&[u8]> = members.iter().map(Vec::as_slice).collect();
            let first_dup = (0..refs.len()).find(|&i| refs[..i].contains(&refs[i]));
            match SetValue::build(&refs, &l) {
                Err(i) => {
                    prop_assert!(first_dup.is_some());
                    prop_assert!(refs[..i].contains(&refs[i]));
                }
                Ok(built) => {
                    prop_assert_eq!(first_dup, None);
                    let mut one_by_one = refs.first().map_or_else(SetValue::new, |f| SetValue::create(f, refs.len(), &l));
                    for m in &refs {
                        one_by_one.insert(m, &l);
                    }
                    prop_assert_eq!(contents(&built), contents(&one_by_one));
                    if !refs.is_empty() {
                        prop_assert_eq!(built.encoding(), one_by_one.encoding());
                    }
                    prop_assert_eq!(built.mem_usage(), recount(&built));
                }
            }
        }
    }

    proptest! {
        /// Random operations against a `BTreeSet` model: same members, the encoding Redis 7.2
        /// would have, the compact invariants, and `mem_usage` equal to a recount.
        #[test]
        fn matches_a_model(
            intset in 0usize..12, entries in 0usize..12, value in 0usize..30,
            first in member_strategy(), hint in 1usize..14,
            ops in prop::collection::vec(op_strategy(), 0..80),
        ) {
            let l = limits(intset, entries, value);
            let mut rng = rand::rng();
            let mut s = SetValue::create(&first, hint, &l);
            let mut model: BTreeSet<Vec<u8>> = BTreeSet::new();
            let mut enc = s.encoding();
            for op in ops {
                match op {
                    Op::Insert(m) => {
                        let ints: BTreeSet<i64> = model.iter().filter_map(|x| parse_i64_strict(x)).collect();
                        let fresh = !model.contains(&m);
                        if fresh {
                            enc = expected_after_insert(enc, model.len(), &ints, &m, &l);
                        }
                        prop_assert_eq!(s.insert(&m, &l), fresh);
                        model.insert(m);
                    }
                    Op::Remove(m) => prop_assert_eq!(s.remove(&m), model.remove(&m)),
                    Op::RemoveAll(ms) => {
                        let ms: Vec<Vec<u8>> = ms.into_iter().collect::<BTreeSet<_>>().into_iter().collect();
                        let n = ms.iter().filter(|m| model.remove(*m)).count();
                        prop_assert_eq!(s.remove_all(&ms), n);
                    }
                    Op::Pop => {
                        let m = s.pop_random(&mut rng);
                        prop_assert_eq!(m.is_some(), !model.is_empty());
                        if let Some(m) = m {
                            prop_assert!(model.remove(&*m));
                        }
                    }
                    Op::Reserve(h) => {
                        s.reserve(h, &l);
                        if (enc == "intset" && h > intset) || (enc == "listpack" && h > entries) {
                            enc = "hashtable";
                        }
                    }
                    Op::ToIntset => {
                        s.intset_if_all_integers(&l);
                        if model.len() <= intset && model.iter().all(|m| parse_i64_strict(m).is_some()) {
                            enc = "intset";
                        }
                    }
                    Op::Clone => s = s.clone(),
                }
                prop_assert_eq!(s.encoding(), enc);
                prop_assert_eq!(s.len(), model.len());
                prop_assert_eq!(contents(&s), model.clone());
                prop_assert_eq!(s.mem_usage(), recount(&s));
                for m in model.iter().take(3) {
                    prop_assert!(s.contains(m));
                }
                match enc {
                    "intset" => prop_assert!(model.iter().all(|m| parse_i64_strict(m).is_some())),
                    "listpack" => prop_assert!(model.len() <= entries && model.iter().all(|m| m.len() <= value)),
                    _ => {}
                }
            }
        }
    }
}
