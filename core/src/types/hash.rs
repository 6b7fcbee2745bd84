//! `HashValue`: a hash's field -> value map, in one of Redis's two encodings.
//!
//! - **listpack**: one `ForwardListpack` (no back-lengths: a hash is never walked from its
//!   tail) of `field, value, field, value, ...` in insertion order. One
//!   allocation for the whole hash (in the keyspace, its bytes are kept in the key's own dict
//!   node while they are at most 1 KiB: `keyspace::PackedHashes`; readers then get a
//!   `HashValue` viewing them); lookups are a linear scan, which is cheap because the form
//!   is only kept while the hash has at most `hash-max-listpack-entries` fields and every field
//!   and value is at most `hash-max-listpack-value` bytes.
//! - **hashtable**: a boxed `Table` = `Dict<Stored>` plus the running memory total. A value of
//!   at least `compression-min-size` bytes is stored packed (`compress.rs`) when that makes it
//!   smaller; a value of up to 22 bytes lives inside the dict node (no allocation of its own).
//!
//! Invariants: a hash converts from listpack to hashtable as soon as an insert breaks either
//! limit and never converts back (as Redis); listpack values are never compressed (they are
//! short by construction). Every reader sees raw bytes: `get`/`iter` unpack on access (a
//! `Cow`, borrowed unless the value was packed), `str_len` reads the packed header only.
//!
//! Memory: `mem_usage` is O(1). The listpack's is its allocation; the table keeps
//! `entries_mem` (per entry: the dict node, which holds the field, and the value's block)
//! up to date on every insert and remove, and adds the box and the bucket array, whose size
//! it reads from the dict. Every block is counted as `heap_cost` of its size. Byte budget of a
//! table entry: one dict node of 8 (link) + 24 (`Stored`) + 4 (field length) + the field's
//! bytes (a 10-byte field: 46 bytes, a 64-byte malloc chunk) holding a value of up to 22
//! bytes, plus a block for a longer value.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::LazyLock;

use super::compress::{self, Compression};
use super::listpack::{self, ForwardListpack};
use super::{heap_cost, PackedStats, SmallBytes};
use crate::config::{Codec, Options};
use crate::keyspace::dict::{hash_bytes, Dict};
use crate::keyspace::EncodingLimits;

/// The settings a hash write obeys: conversion limits and compression of table values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct HashConfig {
    max_entries: usize,
    max_value: usize,
    compression: Compression,
}

impl HashConfig {
    pub(crate) fn new(limits: &EncodingLimits, compression: Compression) -> Self {
        HashConfig { max_entries: limits.hash_max_listpack_entries, max_value: limits.hash_max_listpack_value, compression }
    }

    /// What snapshot loading builds with (the live settings are not known there): the default
    /// limits and the default compression (LZ4 from 512 bytes), so a restart keeps big values
    /// packed. Any encoding is correct for any setting; later writes follow the live ones.
    pub(crate) fn snapshot() -> Self {
        static DEFAULTS: LazyLock<HashConfig> = LazyLock::new(|| {
            let o = Options::default();
            let min_size = usize::try_from(o.compression_min_size).unwrap_or(usize::MAX);
            let compression =
                if o.compression == Codec::None { Compression::OFF } else { Compression { codec: o.compression, min_size, slot: 0 } };
            HashConfig::new(&EncodingLimits::from_options(&o), compression)
        });
        *DEFAULTS
    }

    fn fits_listpack(&self, item: &[u8]) -> bool {
        item.len() <= self.max_value
    }
}

/// A value in the table encoding: plain (inline up to 22 bytes) or packed by `Compression`.
#[derive(Clone)]
pub(crate) enum Stored {
    Plain(SmallBytes),
    Packed(Box<[u8]>),
}

impl Stored {
    fn new(raw: &[u8], compression: &Compression) -> Self {
        match compression.pack(raw) {
            Some(packed) => Stored::Packed(packed),
            None => Stored::Plain(SmallBytes::new(raw)),
        }
    }

    /// The raw bytes (unpacked if needed).
    pub(crate) fn bytes(&self) -> Cow<'_, [u8]> {
        match self {
            Stored::Plain(b) => Cow::Borrowed(b),
            Stored::Packed(p) => Cow::Owned(compress::unpack(p)),
        }
    }

    /// Length of the raw bytes, without unpacking.
    pub(crate) fn raw_len(&self) -> usize {
        match self {
            Stored::Plain(b) => b.len(),
            Stored::Packed(p) => compress::raw_len(p),
        }
    }

    /// Add (or take away) this value's share of the packed totals.
    fn count_packed(&self, totals: &mut PackedStats, add: bool) {
        if let Stored::Packed(p) = self {
            let share = [1, compress::raw_len(p), p.len()];
            for (t, v) in totals.iter_mut().zip(share) {
                *t = if add { *t + v } else { *t - v };
            }
        }
    }

    /// Heap bytes of the value's own block (0 when inline).
    fn heap(&self) -> usize {
        match self {
            Stored::Plain(b) => heap_cost(b.heap_size()),
            Stored::Packed(p) => heap_cost(p.len()),
        }
    }
}

/// The table encoding.
#[derive(Clone, Default)]
pub(crate) struct Table {
    dict: Dict<Stored>,
    /// Sum over entries of node, key and value heap costs.
    entries_mem: usize,
    /// Running `PackedStats` of the packed values (count, raw bytes, packed bytes).
    packed: PackedStats,
}

impl Table {
    fn with_capacity(n: usize) -> Self {
        Table { dict: Dict::with_capacity(n), entries_mem: 0, packed: [0; 3] }
    }

    /// Insert or replace; true if the field is new.
    fn insert(&mut self, field: &[u8], value: &[u8], compression: &Compression) -> bool {
        let stored = Stored::new(value, compression);
        let h = hash_bytes(field);
        stored.count_packed(&mut self.packed, true);
        if let Some(slot) = self.dict.get_mut_hashed(h, field) {
            self.entries_mem = self.entries_mem + stored.heap() - slot.heap();
            slot.count_packed(&mut self.packed, false);
            *slot = stored;
            return false;
        }
        self.entries_mem += Dict::<Stored>::entry_cost(field.len()) + stored.heap();
        self.dict.insert_new_hashed(h, field, stored);
        true
    }

    fn remove(&mut self, field: &[u8]) -> bool {
        match self.dict.remove_hashed(hash_bytes(field), field) {
            Some(v) => {
                self.entries_mem -= Dict::<Stored>::entry_cost(field.len()) + v.heap();
                v.count_packed(&mut self.packed, false);
                true
            }
            None => false,
        }
    }

    fn mem_usage(&self) -> usize {
        heap_cost(std::mem::size_of::<Table>()) + self.dict.table_cost() + self.entries_mem
    }
}

/// A hash value: field -> value, listpack- or table-encoded.
#[derive(Clone)]
pub(crate) enum HashValue {
    Listpack(ForwardListpack),
    Table(Box<Table>),
}

impl Default for HashValue {
    fn default() -> Self {
        HashValue::Listpack(ForwardListpack::new())
    }
}

impl HashValue {
    /// Build from distinct pairs, choosing the encoding `cfg` allows. Err(i) if the field of
    /// `pairs[i]` repeats an earlier one.
    pub(crate) fn from_pairs(pairs: &[(&[u8], &[u8])], cfg: &HashConfig) -> Result<Self, usize> {
        let compact = pairs.len() <= cfg.max_entries && pairs.iter().all(|(f, v)| cfg.fits_listpack(f) && cfg.fits_listpack(v));
        if !compact {
            let mut t = Table::with_capacity(pairs.len());
            for (i, (f, v)) in pairs.iter().enumerate() {
                if !t.insert(f, v, &cfg.compression) {
                    return Err(i);
                }
            }
            return Ok(HashValue::Table(Box::new(t)));
        }
        let dup = if pairs.len() <= 16 {
            (1..pairs.len()).find(|&i| pairs[..i].iter().any(|(f, _)| *f == pairs[i].0))
        } else {
            let mut seen = HashSet::with_capacity(pairs.len());
            pairs.iter().position(|(f, _)| !seen.insert(*f))
        };
        if let Some(i) = dup {
            return Err(i);
        }
        Ok(HashValue::Listpack(ForwardListpack::from_items(pairs.iter().flat_map(|(f, v)| [*f, *v]))))
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            HashValue::Listpack(lp) => lp.len() / 2,
            HashValue::Table(t) => t.dict.len(),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The encoding name OBJECT ENCODING reports.
    pub(crate) fn encoding(&self) -> &'static str {
        match self {
            HashValue::Listpack(_) => "listpack",
            HashValue::Table(_) => "hashtable",
        }
    }

    /// Heap bytes owned (O(1)).
    pub(crate) fn mem_usage(&self) -> usize {
        match self {
            HashValue::Listpack(lp) => lp.mem_usage(),
            HashValue::Table(t) => t.mem_usage(),
        }
    }

    /// Values stored compressed: (count, raw bytes, packed bytes), O(1).
    pub(crate) fn packed_stats(&self) -> PackedStats {
        match self {
            HashValue::Listpack(_) => [0; 3],
            HashValue::Table(t) => t.packed,
        }
    }

    /// The table form's dict (None while listpack-encoded), for bucket-cursor scans and
    /// random sampling.
    pub(crate) fn table(&self) -> Option<&Dict<Stored>> {
        match self {
            HashValue::Listpack(_) => None,
            HashValue::Table(t) => Some(&t.dict),
        }
    }

    /// Offset of `field`'s value in a listpack.
    fn lp_value(lp: &ForwardListpack, field: &[u8]) -> Option<usize> {
        lp.find(field, 2).and_then(|off| lp.next(off))
    }

    pub(crate) fn get(&self, field: &[u8]) -> Option<Cow<'_, [u8]>> {
        match self {
            HashValue::Listpack(lp) => Self::lp_value(lp, field).map(|off| Cow::Borrowed(lp.get(off))),
            HashValue::Table(t) => t.dict.get(field).map(Stored::bytes),
        }
    }

    /// Length of `field`'s value, without unpacking it.
    pub(crate) fn str_len(&self, field: &[u8]) -> Option<usize> {
        match self {
            HashValue::Listpack(lp) => Self::lp_value(lp, field).map(|off| lp.get(off).len()),
            HashValue::Table(t) => t.dict.get(field).map(Stored::raw_len),
        }
    }

    pub(crate) fn contains_key(&self, field: &[u8]) -> bool {
        match self {
            HashValue::Listpack(lp) => lp.find(field, 2).is_some(),
            HashValue::Table(t) => t.dict.contains_key(field),
        }
    }

    /// Set `field` to `value`; true if the field is new. Converts to the table encoding when
    /// `cfg`'s listpack limits would be exceeded.
    pub(crate) fn insert(&mut self, field: &[u8], value: &[u8], cfg: &HashConfig) -> bool {
        if let HashValue::Listpack(lp) = self {
            if cfg.fits_listpack(field) && cfg.fits_listpack(value) {
                if let Some(off) = Self::lp_value(lp, field) {
                    lp.replace_at(off, value);
                    return false;
                }
                if lp.len() / 2 < cfg.max_entries {
                    lp.insert_at(lp.byte_len(), &[field, value]);
                    return true;
                }
            }
            self.convert(cfg);
        }
        let HashValue::Table(t) = self else { unreachable!("converted above") };
        t.insert(field, value, &cfg.compression)
    }

    /// Remove `field`; true if it was there. The encoding never changes.
    pub(crate) fn remove(&mut self, field: &[u8]) -> bool {
        match self {
            HashValue::Listpack(lp) => match lp.find(field, 2) {
                Some(off) => {
                    lp.remove_at(off, 2);
                    true
                }
                None => false,
            },
            HashValue::Table(t) => t.remove(field),
        }
    }

    /// Listpack -> table (values packed per `cfg`).
    fn convert(&mut self, cfg: &HashConfig) {
        let HashValue::Listpack(lp) = self else { return };
        let mut t = Table::with_capacity(lp.len() / 2 + 1);
        for (f, v) in Pairs(lp.iter()) {
            t.insert(f, v, &cfg.compression);
        }
        *self = HashValue::Table(Box::new(t));
    }

    /// Every (field, value), values unpacked: listpack in insertion order, table in bucket
    /// order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&[u8], Cow<'_, [u8]>)> + '_ {
        match self {
            HashValue::Listpack(lp) => Either::A(Pairs(lp.iter()).map(|(f, v)| (f, Cow::Borrowed(v)))),
            HashValue::Table(t) => Either::B(t.dict.iter().map(|(f, v)| (f, v.bytes()))),
        }
    }

    /// Every field (nothing unpacked).
    pub(crate) fn keys(&self) -> impl Iterator<Item = &[u8]> + '_ {
        match self {
            HashValue::Listpack(lp) => Either::A(Pairs(lp.iter()).map(|(f, _)| f)),
            HashValue::Table(t) => Either::B(t.dict.keys()),
        }
    }

    /// One random field, uniformly for a listpack, Redis's fair-bucket approximation for a
    /// table.
    pub(crate) fn random_field(&self, rng: &mut impl rand::Rng) -> Option<&[u8]> {
        match self {
            HashValue::Listpack(lp) if !lp.is_empty() => lp.offset_of(rng.random_range(0..lp.len() / 2) * 2).map(|off| lp.get(off)),
            HashValue::Listpack(_) => None,
            HashValue::Table(t) => t.dict.random_entry(rng).map(|(f, _)| f),
        }
    }
}

/// Adjacent listpack entries as (field, value).
struct Pairs<'a>(listpack::Iter<'a, false>);

impl<'a> Iterator for Pairs<'a> {
    type Item = (&'a [u8], &'a [u8]);
    fn next(&mut self) -> Option<Self::Item> {
        Some((self.0.next()?, self.0.next()?))
    }
}

/// One of two iterators with the same item.
enum Either<A, B> {
    A(A),
    B(B),
}

impl<T, A: Iterator<Item = T>, B: Iterator<Item = T>> Iterator for Either<A, B> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        match self {
            Either::A(a) => a.next(),
            Either::B(b) => b.next(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::node_cost;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn cfg(max_entries: usize, max_value: usize, min_size: usize) -> HashConfig {
        HashConfig { max_entries, max_value, compression: Compression { codec: Codec::Lz4, min_size, slot: 0 } }
    }

    /// `mem_usage` recomputed from scratch, independently of the running total.
    fn recount(h: &HashValue) -> usize {
        match h {
            HashValue::Listpack(lp) => node_cost(lp.byte_len()),
            HashValue::Table(t) => {
                let entries: usize = t
                    .dict
                    .iter()
                    .map(|(k, v)| {
                        let value = match v {
                            Stored::Plain(b) => heap_cost(b.heap_size()),
                            Stored::Packed(p) => heap_cost(p.len()),
                        };
                        Dict::<Stored>::entry_cost(k.len()) + value
                    })
                    .sum();
                heap_cost(std::mem::size_of::<Table>()) + heap_cost(t.dict.bucket_count() * 8) + entries
            }
        }
    }

    fn contents(h: &HashValue) -> BTreeMap<Vec<u8>, Vec<u8>> {
        h.iter().map(|(f, v)| (f.to_vec(), v.into_owned())).collect()
    }

    #[test]
    fn layout() {
        assert_eq!(std::mem::size_of::<Stored>(), 24);
        assert!(std::mem::size_of::<HashValue>() <= 24);
        // A node: link 8 + value 24 + field length 4 + the field (the header alone is 40 bytes
        // with padding), one block whatever the field's length, in mimalloc's size classes.
        for (n, cost) in [(0usize, 48), (4, 48), (12, 48), (13, 64), (28, 64), (29, 80), (100, 160)] {
            assert_eq!(Dict::<Stored>::entry_cost(n), cost, "field of {n} bytes");
        }
        let s = HashConfig::snapshot();
        let o = Options::default();
        assert_eq!((s.max_entries, s.max_value), (o.hash_max_listpack_entries as usize, o.hash_max_listpack_value as usize));
        assert_eq!((s.compression.codec, s.compression.min_size as u64), (o.compression, o.compression_min_size));
    }

    #[test]
    fn converts_on_either_limit_and_never_back() {
        let c = cfg(3, 8, usize::MAX);
        let mut h = HashValue::default();
        for f in [b"a", b"b", b"c"] {
            assert!(h.insert(f, b"v", &c));
        }
        assert!(!h.insert(b"a", b"12345678", &c), "replace, 8 bytes fits");
        assert_eq!(h.encoding(), "listpack");
        assert!(h.insert(b"d", b"v", &c));
        assert_eq!((h.encoding(), h.len()), ("hashtable", 4));
        for f in [b"a", b"b", b"c"] {
            assert!(h.remove(f));
        }
        assert_eq!((h.encoding(), h.len()), ("hashtable", 1));
        // A long value, then a long field, each convert on their own.
        for (f, v) in [(&b"f"[..], &b"123456789"[..]), (b"123456789", b"v")] {
            let mut h = HashValue::default();
            h.insert(b"x", b"y", &c);
            h.insert(f, v, &c);
            assert_eq!(h.encoding(), "hashtable");
            assert_eq!(contents(&h), BTreeMap::from([(b"x".to_vec(), b"y".to_vec()), (f.to_vec(), v.to_vec())]));
        }
        // Limit 0: the first field already converts.
        let mut h = HashValue::default();
        h.insert(b"f", b"v", &cfg(0, 64, usize::MAX));
        assert_eq!(h.encoding(), "hashtable");
    }

    #[test]
    fn big_values_are_packed_and_read_back_raw() {
        let c = cfg(0, 64, 16);
        let raw: Vec<u8> = b"abcdefgh".iter().cycle().take(100).copied().collect();
        let mut h = HashValue::default();
        h.insert(b"big", &raw, &c);
        h.insert(b"small", b"tiny", &c);
        let HashValue::Table(t) = &h else { panic!("table expected") };
        assert!(matches!(t.dict.get(b"big"), Some(Stored::Packed(p)) if p.len() < raw.len()));
        assert!(matches!(t.dict.get(b"small"), Some(Stored::Plain(_))));
        assert_eq!(h.get(b"big").as_deref(), Some(&raw[..]));
        assert_eq!(h.str_len(b"big"), Some(100));
        assert_eq!(contents(&h)[&b"big".to_vec()], raw);
        assert_eq!(h.mem_usage(), recount(&h));
        // Conversion packs the listpack's values too.
        let mut h = HashValue::default();
        let c = cfg(1, 200, 16);
        h.insert(b"a", &raw, &c);
        h.insert(b"b", &raw, &c);
        let HashValue::Table(t) = &h else { panic!("table expected") };
        assert!(t.dict.iter().all(|(_, v)| matches!(v, Stored::Packed(_))));
    }

    #[test]
    fn from_pairs_picks_encoding_and_rejects_duplicates() {
        let c = cfg(2, 4, usize::MAX);
        let h = HashValue::from_pairs(&[(b"a", b"1"), (b"b", b"2")], &c).unwrap();
        assert_eq!((h.encoding(), h.len()), ("listpack", 2));
        let h = HashValue::from_pairs(&[(b"a", b"1"), (b"b", b"2"), (b"c", b"3")], &c).unwrap();
        assert_eq!((h.encoding(), h.len()), ("hashtable", 3));
        assert_eq!(h.mem_usage(), recount(&h));
        assert!(matches!(HashValue::from_pairs(&[(b"a", b"1"), (b"a", b"2")], &c), Err(1)));
        assert!(matches!(HashValue::from_pairs(&[(b"a", b"1"), (b"b", b"2"), (b"a", b"3")], &c), Err(2)));
        // Past 16 pairs duplicates are found through a set.
        let names: Vec<String> = (0..30).map(|i| format!("f{}", i.min(25))).collect();
        let pairs: Vec<(&[u8], &[u8])> = names.iter().map(|f| (f.as_bytes(), &b"v"[..])).collect();
        assert!(matches!(HashValue::from_pairs(&pairs, &cfg(64, 64, usize::MAX)), Err(26)));
        assert!(matches!(HashValue::from_pairs(&pairs[..26], &cfg(64, 64, usize::MAX)), Ok(HashValue::Listpack(_))));
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u8, usize, bool),
        Remove(u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (0u8..24, 0usize..80, any::<bool>()).prop_map(|(f, n, rep)| Op::Insert(f, n, rep)),
            1 => (0u8..24).prop_map(Op::Remove),
        ]
    }

    /// Field names are short or long (past the 22-byte inline limit).
    fn field(f: u8) -> Vec<u8> {
        if f.is_multiple_of(5) {
            format!("a-rather-long-field-name-number-{f}").into_bytes()
        } else {
            format!("f{f}").into_bytes()
        }
    }

    /// Values: `n` bytes, repetitive (compressible) or not.
    fn value(n: usize, repetitive: bool) -> Vec<u8> {
        (0..n).map(|i| if repetitive { b'a' + (i % 3) as u8 } else { (i as u32).wrapping_mul(2654435761).to_le_bytes()[2] }).collect()
    }

    proptest! {
        /// Random inserts and removes against a BTreeMap: same contents, lengths, running
        /// memory total equal to a recount, and the encoding Redis's rules give.
        #[test]
        fn matches_a_model(ops in proptest::collection::vec(op(), 0..120), max_entries in 0usize..10, max_value in 0usize..40) {
            let c = cfg(max_entries, max_value, 24);
            let mut h = HashValue::default();
            let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
            let mut converted = false;
            for op in ops {
                match op {
                    Op::Insert(f, n, rep) => {
                        let (f, v) = (field(f), value(n, rep));
                        let too_big = f.len() > max_value || v.len() > max_value;
                        let new = model.insert(f.clone(), v.clone()).is_none();
                        converted |= too_big || model.len() > max_entries;
                        prop_assert_eq!(h.insert(&f, &v, &c), new);
                    }
                    Op::Remove(f) => {
                        let f = field(f);
                        prop_assert_eq!(h.remove(&f), model.remove(&f).is_some());
                    }
                }
                prop_assert_eq!(h.len(), model.len());
                prop_assert_eq!(h.encoding(), if converted { "hashtable" } else { "listpack" });
                prop_assert_eq!(h.mem_usage(), recount(&h));
            }
            prop_assert_eq!(contents(&h), model.clone());
            for (f, v) in &model {
                prop_assert_eq!(h.get(f).map(Cow::into_owned), Some(v.clone()));
                prop_assert_eq!(h.str_len(f), Some(v.len()));
                prop_assert!(h.contains_key(f));
            }
            prop_assert_eq!(h.keys().map(<[u8]>::to_vec).collect::<Vec<_>>(), h.iter().map(|(f, _)| f.to_vec()).collect::<Vec<_>>());
            let copy = h.clone();
            prop_assert_eq!(copy.mem_usage(), h.mem_usage());
            prop_assert_eq!(contents(&copy), model.clone());
            if !model.is_empty() {
                let mut rng = rand::rng();
                let f = h.random_field(&mut rng).unwrap().to_vec();
                prop_assert!(model.contains_key(&f));
            }
        }
    }
}
