//! Index entries: which keys a document has under an index, and their byte form.
//!
//! An entry is `component* record-id type-tag*`:
//! - one component per indexed field: the value's order-preserving encoding
//!   (`value::encode_key`), every byte inverted for a descending field. The encoding is
//!   prefix-free (fixed widths, terminated strings and containers), so concatenated components
//!   compare field by field, and an inverted component sorts in reverse;
//! - the record id, 8 bytes big-endian: equal keys of different documents are distinct entries,
//!   in record-id order;
//! - one tag per component: the BSON type byte when the component decodes back to exactly the
//!   stored value (covered queries read values from the entry), else 0.
//!
//! The values of a field are those the query matcher compares predicates with
//! (`query::for_each_path_value`): array elements one level down, and null where the path is
//! missing. Whole arrays are not keys (the planner never builds bounds from array operands), so
//! a document whose field is only arrays (`[]`, `[[1]]`) gets the empty-array key, and one
//! where the path reaches nothing gets null: every document (of a non-sparse index) has at
//! least one entry, which scans without bounds rely on.

use bson::{Bson, RawBsonRef, RawDocument};

use super::super::error::codes;
use super::super::query::{for_each_path_value, Path, PathValue};
use super::super::value::{self, encode_key};
use super::super::DocError;

/// Entries one document may have under one index (a multikey cross product beyond this is an
/// error, not an allocation storm).
pub const MAX_KEYS_PER_DOCUMENT: usize = 100_000;

/// One index entry's bytes. Entries up to `INLINE_ENTRY` bytes (most keys: numbers, dates,
/// short strings, with the record id and tags) live inside the B-tree node itself, so a search
/// compares keys without chasing a pointer per key (a boxed key costs a cache miss per
/// comparison once the index outgrows the cache). 48 bytes in all (a `SmallVec` with 48
/// inline bytes takes 56): denser nodes, fewer cache lines per B-tree level.
#[derive(Clone)]
pub enum Entry {
    /// Length and bytes (bytes past the length are zero).
    Inline(u8, [u8; INLINE_ENTRY]),
    Heap(Box<[u8]>),
}

/// Bytes of an entry stored inline.
pub const INLINE_ENTRY: usize = 46;

impl Entry {
    pub fn from_slice(b: &[u8]) -> Entry {
        if b.len() <= INLINE_ENTRY {
            let mut bytes = [0; INLINE_ENTRY];
            bytes[..b.len()].copy_from_slice(b);
            Entry::Inline(b.len() as u8, bytes)
        } else {
            Entry::Heap(b.into())
        }
    }

    #[inline(always)]
    pub fn as_slice(&self) -> &[u8] {
        match self {
            Entry::Inline(len, bytes) => &bytes[..*len as usize],
            Entry::Heap(b) => b,
        }
    }
}

impl std::ops::Deref for Entry {
    type Target = [u8];
    #[inline(always)]
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl std::borrow::Borrow<[u8]> for Entry {
    #[inline(always)]
    fn borrow(&self) -> &[u8] {
        self.as_slice()
    }
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.as_slice())
    }
}

impl PartialEq for Entry {
    #[inline]
    fn eq(&self, other: &Entry) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for Entry {}

impl PartialOrd for Entry {
    #[inline]
    fn partial_cmp(&self, other: &Entry) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Entry {
    /// Byte order (as `[u8]` compares, which B-tree lookups by slice rely on), eight bytes at a
    /// time as big-endian words: entries are short, and a B-tree descent compares many of them
    /// (no `memcmp` call per comparison).
    #[inline]
    fn cmp(&self, other: &Entry) -> std::cmp::Ordering {
        let (mut a, mut b) = (self.as_slice(), other.as_slice());
        while let (Some((x, ra)), Some((y, rb))) = (a.split_first_chunk::<8>(), b.split_first_chunk::<8>()) {
            let (x, y) = (u64::from_be_bytes(*x), u64::from_be_bytes(*y));
            if x != y {
                return x.cmp(&y);
            }
            (a, b) = (ra, rb);
        }
        a.cmp(b)
    }
}

/// The rank byte of an empty-array key (`value::type_rank` of an array).
const ARRAY_RANK: u8 = 6;

/// One indexed field: its path and direction.
#[derive(Clone, Debug)]
pub struct KeyField {
    pub path: Path,
    pub descending: bool,
}

/// The keys of one document under one index.
pub struct DocumentKeys {
    /// Complete entries (components, record id, tags), deduplicated.
    pub entries: Vec<Entry>,
    /// Whether a field had several values or an array (the index becomes multikey).
    pub multikey: bool,
}

/// One component: a byte range of `KeyScratch::bytes` (encoded, not yet inverted) and its
/// exactness tag.
#[derive(Clone, Copy, Debug)]
struct Component {
    start: u32,
    end: u32,
    tag: u8,
}

/// Reusable buffers for key generation: every component of a document is encoded into one
/// byte buffer, so computing a document's keys allocates nothing once the buffers have grown
/// (index builds and every indexed write call this per document and index).
#[derive(Default, Debug)]
pub struct KeyScratch {
    bytes: Vec<u8>,
    comps: Vec<Component>,
    /// Where each field's components end in `comps`.
    ends: Vec<usize>,
    choice: Vec<usize>,
    /// The entry being assembled.
    entry: Vec<u8>,
}

impl Clone for KeyScratch {
    /// Scratch space holds nothing between calls: a clone starts empty.
    fn clone(&self) -> Self {
        KeyScratch::default()
    }
}

/// The type tag recorded for a value: its BSON element type when `decode_component` gives the
/// value back exactly (-0.0 and NaN do not survive the number encoding).
fn exact_tag(v: RawBsonRef<'_>) -> u8 {
    match v {
        RawBsonRef::Double(d) if d.is_nan() || (d == 0.0 && d.is_sign_negative()) => 0,
        RawBsonRef::Double(_) => 0x01,
        RawBsonRef::String(_) => 0x02,
        RawBsonRef::ObjectId(_) => 0x07,
        RawBsonRef::Boolean(_) => 0x08,
        RawBsonRef::DateTime(_) => 0x09,
        RawBsonRef::Null => 0x0A,
        RawBsonRef::Int32(_) => 0x10,
        RawBsonRef::Timestamp(_) => 0x11,
        RawBsonRef::Int64(_) => 0x12,
        _ => 0,
    }
}

/// Append the order-preserving encoding of a raw value (strings without decoding to `Bson`).
pub fn encode_raw(v: RawBsonRef<'_>, out: &mut Vec<u8>) -> Result<(), DocError> {
    match v {
        RawBsonRef::String(s) => {
            out.push(4);
            value::encode_str(s.as_bytes(), out);
        }
        other => match value::raw_scalar(other) {
            Some(b) => encode_key(&b, out),
            None => encode_key(&value::raw_to_bson(other)?, out),
        },
    }
    Ok(())
}

impl KeyScratch {
    /// Drop buffers that grew for an unusual document (huge keys or arrays).
    pub fn trim(&mut self) {
        if self.bytes.capacity() > 64 * 1024 || self.comps.capacity() > 4096 {
            *self = KeyScratch::default();
        }
    }

    fn clear(&mut self) {
        self.bytes.clear();
        self.comps.clear();
        self.ends.clear();
    }

    fn push(&mut self, bytes: &[u8], tag: u8) {
        let start = self.bytes.len() as u32;
        self.bytes.extend_from_slice(bytes);
        self.comps.push(Component { start, end: self.bytes.len() as u32, tag });
    }

    /// Encode the distinct components of one field of `doc` (sorted, as `comps[from..]`);
    /// whether the field is multikey. `present` reports whether the path reached anything at
    /// all (sparse indexes skip documents where no field is present).
    fn field_components(&mut self, doc: &RawDocument, field: &KeyField, present: &mut bool) -> Result<bool, DocError> {
        let from = self.comps.len();
        let mut missing = false;
        let mut arrays = false;
        let mut offers = 0usize;
        let mut failed = None;
        let (bytes, comps) = (&mut self.bytes, &mut self.comps);
        for_each_path_value(doc, &field.path, &mut |v| {
            offers += 1;
            match v {
                PathValue::Missing => missing = true,
                PathValue::Array => arrays = true,
                PathValue::Value(x) => {
                    // Undefined encodes as null but sorts below it: such a document keeps the
                    // index from providing sort order (as an array does).
                    if matches!(x, RawBsonRef::Undefined) {
                        arrays = true;
                    }
                    let start = bytes.len() as u32;
                    if let Err(e) = encode_raw(x, bytes) {
                        failed = Some(e);
                    }
                    comps.push(Component { start, end: bytes.len() as u32, tag: exact_tag(x) });
                }
            }
        })?;
        if let Some(e) = failed {
            return Err(e);
        }
        if u32::try_from(self.bytes.len()).is_err() {
            return Err(DocError::new(codes::CANNOT_CREATE_INDEX, "CannotCreateIndex", "a document's index keys exceed 4 GiB"));
        }
        let values = self.comps.len() - from;
        if arrays || values > 0 {
            *present = true;
        }
        if missing || (values == 0 && !arrays) {
            self.push(&[2], 0x0A);
        }
        if self.comps.len() == from {
            self.push(&[ARRAY_RANK, 0], 0);
        }
        if self.comps.len() - from > 1 {
            // Sorted by (bytes, tag), one component per distinct encoding (the smallest tag).
            let (bytes, comps) = (&self.bytes, &mut self.comps[from..]);
            let at = |c: &Component| &bytes[c.start as usize..c.end as usize];
            comps.sort_unstable_by(|a, b| at(a).cmp(at(b)).then(a.tag.cmp(&b.tag)));
            let mut kept = 1;
            for i in 1..comps.len() {
                if at(&comps[i]) != at(&comps[kept - 1]) {
                    comps[kept] = comps[i];
                    kept += 1;
                }
            }
            self.comps.truncate(from + kept);
        }
        Ok(arrays || offers > 1)
    }
}

/// The entries of `doc` (at `record`) under an index on `fields`. `sparse` drops a document
/// none of whose fields is present. Two multikey fields under different top-level fields are
/// MongoDB's "cannot index parallel arrays" (code 171).
pub fn document_keys(doc: &RawDocument, record: u64, fields: &[KeyField], sparse: bool) -> Result<DocumentKeys, DocError> {
    let mut entries = Vec::new();
    let multikey = document_keys_into(doc, record, fields, sparse, &mut KeyScratch::default(), &mut entries)?;
    Ok(DocumentKeys { entries, multikey })
}

/// `document_keys` appending the entries to `out` (nothing appended on error) and reusing
/// `scratch`'s buffers; whether the document makes the index multikey.
pub fn document_keys_into(
    doc: &RawDocument,
    record: u64,
    fields: &[KeyField],
    sparse: bool,
    scratch: &mut KeyScratch,
    out: &mut Vec<Entry>,
) -> Result<bool, DocError> {
    scratch.clear();
    let mut present = false;
    let mut multikey_field: Option<&str> = None;
    for f in fields {
        let multi = scratch.field_components(doc, f, &mut present)?;
        if multi {
            let top = f.path.parts.first().map_or("", |p| p.name.as_str());
            match multikey_field {
                // Every earlier multikey field shares one top-level field (else this error was
                // returned for it), so comparing with the first is enough.
                Some(other) if other.split('.').next() != Some(top) => {
                    return Err(DocError::new(
                        codes::CANNOT_INDEX_PARALLEL_ARRAYS,
                        "CannotIndexParallelArrays",
                        format!("cannot index parallel arrays [{}] [{}]", f.path.dotted, other),
                    ));
                }
                Some(_) => {}
                None => multikey_field = Some(&f.path.dotted),
            }
        }
        scratch.ends.push(scratch.comps.len());
    }
    let multikey = multikey_field.is_some();
    if sparse && !present {
        return Ok(multikey);
    }
    let KeyScratch { bytes, comps, ends, choice, entry } = scratch;
    let group = |i: usize| &comps[if i == 0 { 0 } else { ends[i - 1] }..ends[i]];
    let total = (0..fields.len()).try_fold(1usize, |n, i| n.checked_mul(group(i).len())).unwrap_or(usize::MAX);
    if total > MAX_KEYS_PER_DOCUMENT {
        return Err(DocError::new(
            codes::CANNOT_CREATE_INDEX,
            "CannotCreateIndex",
            format!("a document would have {total} keys in this index (at most {MAX_KEYS_PER_DOCUMENT})"),
        ));
    }
    let slice = |c: &Component| &bytes[c.start as usize..c.end as usize];
    out.reserve(total);
    choice.clear();
    choice.resize(fields.len(), 0);
    loop {
        let len: usize = (0..fields.len()).map(|i| slice(&group(i)[choice[i]]).len()).sum::<usize>() + 8 + fields.len();
        let e = &mut *entry;
        e.clear();
        e.reserve(len);
        for (i, f) in fields.iter().enumerate() {
            let c = slice(&group(i)[choice[i]]);
            if f.descending {
                e.extend(c.iter().map(|b| !b));
            } else {
                e.extend_from_slice(c);
            }
        }
        e.extend_from_slice(&record.to_be_bytes());
        for (i, &chosen) in choice.iter().enumerate().take(fields.len()) {
            e.push(group(i)[chosen].tag);
        }
        out.push(Entry::from_slice(e));
        // Next combination (odometer).
        let mut i = fields.len();
        loop {
            if i == 0 {
                return Ok(multikey);
            }
            i -= 1;
            choice[i] += 1;
            if choice[i] < group(i).len() {
                break;
            }
            choice[i] = 0;
        }
    }
}

/// The length of the encoded value at the start of `b` (read through `inv` when the component
/// is inverted); None if `b` is not a well-formed encoding.
pub fn component_len(b: &[u8], inverted: bool) -> Option<usize> {
    let at = |i: usize| b.get(i).map(|x| if inverted { !x } else { *x });
    fn string_end(at: &dyn Fn(usize) -> Option<u8>, mut i: usize) -> Option<usize> {
        loop {
            if at(i)? == 0 {
                match at(i + 1)? {
                    0 => return Some(i + 2),
                    0xFF => i += 2,
                    _ => return None,
                }
            } else {
                i += 1;
            }
        }
    }
    fn value_end(at: &dyn Fn(usize) -> Option<u8>, i: usize, depth: usize) -> Option<usize> {
        if depth > 200 {
            return None;
        }
        let rank = at(i)?;
        let i = i + 1;
        Some(match rank {
            1 | 2 | 16 => i,
            3 => match at(i + 8)? {
                value::NUMBER_EXACT => i + 9,
                // Not its double: a magnitude after the exponent, ending at a 0 byte (0xFF
                // when inverted for a negative value).
                t @ 0x7E..=0x82 => {
                    let end = if t == 0x7E || t == 0x81 { 0xFF } else { 0 };
                    let mut j = i + 11;
                    while at(j)? != end {
                        j += 1;
                    }
                    j + 1
                }
                _ => return None,
            },
            4 | 13 | 14 => string_end(at, i)?,
            5 => {
                let mut j = i;
                loop {
                    if at(j)? == 0 {
                        break j + 1;
                    }
                    j = string_end(at, j + 1)?;
                    j = value_end(at, j, depth + 1)?;
                }
            }
            6 => {
                let mut j = i;
                loop {
                    if at(j)? == 0 {
                        break j + 1;
                    }
                    j = value_end(at, j, depth + 1)?;
                }
            }
            7 => {
                let len = u32::from_be_bytes([at(i)?, at(i + 1)?, at(i + 2)?, at(i + 3)?]) as usize;
                i + 5 + len
            }
            8 => i + 12,
            9 => i + 1,
            10 | 11 => i + 8,
            12 => string_end(at, string_end(at, i)?)?,
            15 => value_end(at, string_end(at, i)?, depth + 1)?,
            _ => return None,
        })
    }
    let end = value_end(&at, 0, 0)?;
    (end <= b.len()).then_some(end)
}

/// An entry taken apart: component byte ranges, record id, type tags.
pub type SplitEntry<'e> = (Vec<std::ops::Range<usize>>, u64, &'e [u8]);

/// Split an entry into its `n` components (byte ranges), record id and tags.
pub fn split_entry<'e>(entry: &'e [u8], fields: &[KeyField]) -> Option<SplitEntry<'e>> {
    let mut ranges = Vec::with_capacity(fields.len());
    let mut at = 0;
    for f in fields {
        let len = component_len(&entry[at..], f.descending)?;
        ranges.push(at..at + len);
        at += len;
    }
    let rid = u64::from_be_bytes(entry.get(at..at + 8)?.try_into().ok()?);
    Some((ranges, rid, entry.get(at + 8..)?))
}

/// The record id of an entry whose components end at `comps_len`.
pub fn record_of(entry: &[u8], comps_len: usize) -> Option<u64> {
    Some(u64::from_be_bytes(entry.get(comps_len..comps_len + 8)?.try_into().ok()?))
}

/// The value of a component tagged exact (`tag` nonzero); None when it cannot be given back.
pub fn decode_component(bytes: &[u8], inverted: bool, tag: u8) -> Option<Bson> {
    let b: Vec<u8> = if inverted { bytes.iter().map(|x| !x).collect() } else { bytes.to_vec() };
    let body = b.get(1..)?;
    let u64_at = |s: &[u8]| -> Option<u64> { Some(u64::from_be_bytes(s.get(..8)?.try_into().ok()?)) };
    let double = || -> Option<f64> {
        let bits = u64_at(body)?;
        let bits = if bits >> 63 == 1 { bits & !(1 << 63) } else { !bits };
        Some(f64::from_bits(bits))
    };
    Some(match tag {
        0x01 => Bson::Double(double()?),
        0x10 => Bson::Int32(double()? as i32),
        0x12 => Bson::Int64(value::decode_int_key(body)?),
        0x02 => {
            let mut s = Vec::with_capacity(body.len());
            let mut i = 0;
            while i < body.len() {
                if body[i] == 0 {
                    if body.get(i + 1) == Some(&0xFF) {
                        s.push(0);
                        i += 2;
                        continue;
                    }
                    break;
                }
                s.push(body[i]);
                i += 1;
            }
            Bson::String(String::from_utf8(s).ok()?)
        }
        0x07 => Bson::ObjectId(bson::oid::ObjectId::from_bytes(body.get(..12)?.try_into().ok()?)),
        0x08 => Bson::Boolean(*body.first()? == 1),
        0x09 => Bson::DateTime(bson::DateTime::from_millis((u64_at(body)? ^ (1 << 63)) as i64)),
        0x0A => Bson::Null,
        0x11 => Bson::Timestamp(bson::Timestamp {
            time: u32::from_be_bytes(body.get(..4)?.try_into().ok()?),
            increment: u32::from_be_bytes(body.get(4..8)?.try_into().ok()?),
        }),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::{doc, Document, RawDocumentBuf};

    fn raw(d: Document) -> RawDocumentBuf {
        RawDocumentBuf::try_from(&d).unwrap()
    }

    fn fields(spec: &[(&str, bool)]) -> Vec<KeyField> {
        spec.iter().map(|(p, d)| KeyField { path: Path::new(p), descending: *d }).collect()
    }

    #[test]
    fn components_split_and_decode_back() {
        let values = [
            Bson::Int32(-7),
            Bson::Int64(i64::MAX - 3),
            Bson::Int64(i64::MAX),
            Bson::Int64(i64::MIN),
            Bson::Int64(9007199254740993),
            Bson::Int64(-9007199254740995),
            Bson::Double(2.5),
            Bson::String("a\0b".into()),
            Bson::ObjectId(bson::oid::ObjectId::new()),
            Bson::Boolean(true),
            Bson::DateTime(bson::DateTime::from_millis(-5)),
            Bson::Timestamp(bson::Timestamp { time: 3, increment: 4 }),
            Bson::Null,
        ];
        for v in &values {
            for desc in [false, true] {
                let d = raw(doc! {"a": v.clone(), "b": {"c": [1, {"x": "y"}]}});
                let f = fields(&[("a", desc), ("b", false)]);
                let keys = document_keys(&d, 42, &f, false).unwrap();
                assert_eq!(keys.entries.len(), 1);
                let (ranges, rid, tags) = split_entry(&keys.entries[0], &f).unwrap();
                assert_eq!(rid, 42);
                assert_eq!(decode_component(&keys.entries[0][ranges[0].clone()], desc, tags[0]).as_ref(), Some(v), "{v:?} desc={desc}");
                assert_eq!(tags[1], 0, "a document component is not decoded");
            }
        }
    }

    #[test]
    fn multikey_missing_and_parallel_arrays() {
        let f = fields(&[("a", false)]);
        let k = document_keys(&raw(doc! {"a": [1, 1, 2]}), 1, &f, false).unwrap();
        assert_eq!((k.entries.len(), k.multikey), (2, true));
        let k = document_keys(&raw(doc! {"b": 1}), 1, &f, false).unwrap();
        assert_eq!(k.entries.len(), 1, "a missing field is indexed as null");
        assert!(document_keys(&raw(doc! {"b": 1}), 1, &f, true).unwrap().entries.is_empty(), "sparse skips it");
        let k = document_keys(&raw(doc! {"a": []}), 1, &f, true).unwrap();
        assert_eq!(k.entries.len(), 1, "an empty array is present");
        let f2 = fields(&[("a", false), ("b", false)]);
        let e = document_keys(&raw(doc! {"a": [1, 2], "b": [3]}), 1, &f2, false).err().unwrap();
        assert_eq!(e.code, codes::CANNOT_INDEX_PARALLEL_ARRAYS);
        let f3 = fields(&[("a.x", false), ("a.y", true)]);
        let k = document_keys(&raw(doc! {"a": [{"x": 1, "y": 2}, {"x": 3, "y": 4}]}), 1, &f3, false).unwrap();
        assert_eq!(k.entries.len(), 4, "one array under both fields: the cross product");
    }

    #[test]
    fn entries_are_48_bytes_and_order_as_their_bytes() {
        assert_eq!(std::mem::size_of::<Entry>(), 48);
        let samples: Vec<Vec<u8>> = vec![
            vec![],
            vec![1],
            vec![1, 2, 3, 4, 5, 6, 7],
            vec![1, 2, 3, 4, 5, 6, 7, 8],
            vec![1, 2, 3, 4, 5, 6, 7, 8, 0],
            vec![1, 2, 3, 4, 5, 6, 7, 9],
            vec![255; 8],
            vec![7; 46],
            vec![7; 47],
            [vec![7; 46], vec![6]].concat(),
            vec![0; 100],
        ];
        for a in &samples {
            let ea = Entry::from_slice(a);
            assert_eq!(&ea[..], &a[..]);
            assert_eq!(matches!(ea, Entry::Inline(..)), a.len() <= INLINE_ENTRY);
            for b in &samples {
                let eb = Entry::from_slice(b);
                assert_eq!(ea.cmp(&eb), a.cmp(b), "{a:?} {b:?}");
                assert_eq!(ea == eb, a == b);
            }
        }
    }

    #[test]
    fn descending_components_sort_in_reverse() {
        let f = fields(&[("a", true), ("b", false)]);
        let mut entries: Vec<(Entry, i32, i32)> = Vec::new();
        for a in [-2, 0, 3] {
            for b in [1, 5] {
                let k = document_keys(&raw(doc! {"a": a, "b": b}), 0, &f, false).unwrap();
                entries.push((k.entries[0].clone(), a, b));
            }
        }
        entries.sort();
        let order: Vec<(i32, i32)> = entries.iter().map(|e| (e.1, e.2)).collect();
        assert_eq!(order, vec![(3, 1), (3, 5), (0, 1), (0, 5), (-2, 1), (-2, 5)]);
    }
}
