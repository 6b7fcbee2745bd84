//! The binary encoding of one keyspace entry (key, value, TTL), as stored inside snapshot blocks.
//!
//! The snapshot writer concatenates encoded entries into blocks, compresses and checksums each
//! block; this module only knows entries. An entry is self-delimiting, so a block is just
//! entries back to back.
//!
//! # Byte layout
//!
//! ```text
//! entry  := type:u8  expire:varint  key:bytes  body
//! bytes  := len:varint  byte{len}
//! type   := 0 string | 1 list | 2 hash | 3 set | 4 zset | 5 packed string | 6 collection
//!           | 7 indexed collection | 8 stream | 9 function library  (stable: never renumber)
//! expire := zigzag(expire_at) where expire_at is the absolute expiry in Unix ms, 0 = no TTL
//!
//! body, by type:
//!   0 string  value:bytes
//!   1 list    count:varint  (element:bytes){count}                  head first
//!   2 hash    count:varint  (field:bytes value:bytes){count}
//!   3 set     count:varint  (member:bytes){count}
//!   4 zset    count:varint  (member:bytes score:f64){count}         score: 8 bytes, IEEE 754
//!                                                                   binary64, little-endian
//!   5 packed  blob:bytes      a compressed string value, kept as stored in memory so a
//!             string          restart need not recompress: blob = codec:u8 raw_len:u32le
//!                             data (`types/compress.rs`; codec 1 LZ4 block, 2 zlib)
//!   6 collection  count:varint  (document:bytes){count}     each document is its BSON
//!                             encoding, in natural (insertion) order; `_id` first and
//!                             unique; a collection may be empty (MongoDB keeps empty ones)
//!   7 indexed     as 6, then  count:varint  (index:bytes){count}   each secondary index's
//!     collection              definition as listIndexes shows it (BSON); entries are rebuilt
//!                             on load (a bulk build: sort, then build the B-tree)
//!   8 stream  last:id  max_deleted:id  entries_added:varint
//!             count:varint (node){count}  count:varint (id fields:bytes){count}
//!             count:varint (group){count}
//!     node  := master:id  deleted:varint  entries_bytes:varint  last:id  names:bytes
//!              (Redis's listpack node: see `types/stream.rs`; its valid count is recomputed)
//!     fields, names := the `Fields` block (u32le length + bytes per item; names are stored
//!              as pairs (name, ""))
//!     group := name:bytes  last:id  zigzag(entries_read)
//!              count:varint (name:bytes zigzag(seen_time)){count}                consumers
//!              count:varint (id consumer:bytes zigzag(delivery_time) count:varint){count}  PEL
//!     id    := ms:varint  seq:varint
//!   9 library code:bytes      not a key: a function library (FUNCTION LOAD), its name as the
//!                             key, expire 0, its whole code (shebang included) as the body;
//!                             loaded into the function registry, not the keyspace
//!
//! varint := unsigned LEB128 of a u64: 7 bits per byte, least significant group first, high bit
//!           set on every byte but the last; at most 10 bytes (the 10th byte is 0 or 1).
//! zigzag(v) := (v << 1) ^ (v >> 63)   (i64 -> u64; small magnitudes of either sign stay short)
//! ```
//!
//! Container element order is whatever the container iterates (zsets: ascending rank); the
//! decoder accepts any order.
//!
//! # Invariants checked on decode
//!
//! A decoded entry is one the keyspace could hold: known type, every length and count within
//! the input, containers non-empty (Redis never stores an empty container), no duplicate hash
//! field / set member / zset member, no NaN score (`-0.0` and infinities are valid scores; a
//! zset stores `-0.0` as `0.0`), a packed string that decompresses to exactly its stated raw
//! length of more than 38 bytes and is longer than its blob (`ValueBytes::from_packed`; this
//! costs one decompression per packed value at load). Anything else is a `CodecError`;
//! decoding never panics.
//! Lengths and counts are checked against the bytes left before anything is reserved, so a
//! corrupt count allocates at most a small multiple of the remaining input (an element takes
//! at least 1 byte, a hash pair 2, a zset element 9).
//!
//! # Complexity
//!
//! Encoding and decoding are O(bytes), plus the containers' own insert costs on decode (O(1)
//! expected for dicts and lists, which are pre-sized from the count; O(log n) per zset element).

use std::fmt;

use crate::keyspace::{EncodingLimits, Entry};
use crate::types::compress;
use crate::types::hash::{HashConfig, HashValue};
use crate::types::stream::{Consumer, Fields, Group, Nack, NodeInfo, StreamId};
use crate::types::{ListValue, SetValue, StreamValue, Value, ValueBytes, ZSetValue};
use std::collections::BTreeMap;

const TYPE_STRING: u8 = 0;
const TYPE_LIST: u8 = 1;
const TYPE_HASH: u8 = 2;
const TYPE_SET: u8 = 3;
const TYPE_ZSET: u8 = 4;
const TYPE_STRING_PACKED: u8 = 5;
const TYPE_COLLECTION: u8 = 6;
const TYPE_INDEXED_COLLECTION: u8 = 7;
const TYPE_STREAM: u8 = 8;
const TYPE_LIBRARY: u8 = 9;

/// A corrupt or truncated entry: `offset` is the absolute position in the decoded buffer of
/// the item that is wrong.
#[derive(Debug)]
pub(crate) struct CodecError {
    pub(crate) offset: usize,
    pub(crate) what: &'static str,
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "corrupt entry at byte {}: {}", self.offset, self.what)
    }
}

impl std::error::Error for CodecError {}

// ---------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(u: u64) -> i64 {
    ((u >> 1) as i64) ^ -((u & 1) as i64)
}

/// Append the encoding of (key, entry) to `out`.
///
/// `entry` must not be an empty container (the keyspace never holds one): it would encode as
/// count 0, which `decode_entry` rejects.
/// Encode a function library (type 9): its name and its code.
pub(crate) fn encode_library(out: &mut Vec<u8>, name: &[u8], code: &[u8]) {
    out.push(TYPE_LIBRARY);
    put_varint(out, 0);
    put_bytes(out, name);
    put_bytes(out, code);
}

/// Whether the item at `pos` is a function library (decode it with `decode_library`).
pub(crate) fn is_library(buf: &[u8], pos: usize) -> bool {
    buf.get(pos) == Some(&TYPE_LIBRARY)
}

/// Decode a function library at `*pos`: (name, code). Like `decode_entry`, `*pos` moves only
/// on success, and it never panics.
pub(crate) fn decode_library(buf: &[u8], pos: &mut usize) -> Result<(Vec<u8>, Vec<u8>), CodecError> {
    let mut r = Reader { buf, pos: *pos };
    let at = r.pos;
    if r.u8()? != TYPE_LIBRARY {
        return Err(corrupt(at, "not a function library"));
    }
    let at = r.pos;
    if r.varint()? != 0 {
        return Err(corrupt(at, "a function library with an expiry"));
    }
    let name = r.bytes()?.to_vec();
    let code = r.bytes()?.to_vec();
    *pos = r.pos;
    Ok((name, code))
}

pub(crate) fn encode_entry(out: &mut Vec<u8>, key: &[u8], entry: &Entry, expire_at: i64) {
    let ty = match &entry.value {
        Value::Str(s) if s.packed().is_some_and(compress::portable) => TYPE_STRING_PACKED,
        Value::Str(_) => TYPE_STRING,
        Value::List(_) => TYPE_LIST,
        Value::Hash(_) => TYPE_HASH,
        Value::Set(_) => TYPE_SET,
        Value::ZSet(_) => TYPE_ZSET,
        Value::Stream(_) => TYPE_STREAM,
        Value::Collection(c) if !c.indexes().is_empty() => TYPE_INDEXED_COLLECTION,
        Value::Collection(_) => TYPE_COLLECTION,
    };
    out.push(ty);
    put_varint(out, zigzag(expire_at));
    put_bytes(out, key);
    match &entry.value {
        // Type 5 for a packed value (its blob as stored), type 0 for a plain one (borrowed).
        // (A blob packed against this process's dictionary is written raw: see `compress`.)
        Value::Str(s) => match s.packed() {
            Some(blob) if compress::portable(blob) => put_bytes(out, blob),
            _ => put_bytes(out, &s.bytes()),
        },
        Value::List(l) => {
            debug_assert!(!l.is_empty(), "empty list in the keyspace");
            put_varint(out, l.len() as u64);
            for e in l.iter() {
                put_bytes(out, e);
            }
        }
        Value::Hash(h) => {
            debug_assert!(!h.is_empty(), "empty hash in the keyspace");
            put_varint(out, h.len() as u64);
            for (f, v) in h.iter() {
                put_bytes(out, f);
                put_bytes(out, &v);
            }
        }
        Value::Set(s) => {
            debug_assert!(!s.is_empty(), "empty set in the keyspace");
            put_varint(out, s.len() as u64);
            for m in s.members() {
                put_bytes(out, &m);
            }
        }
        Value::ZSet(z) => {
            debug_assert!(!z.is_empty(), "empty zset in the keyspace");
            put_varint(out, z.len() as u64);
            for (m, score) in z.iter() {
                put_bytes(out, m);
                out.extend_from_slice(&score.to_le_bytes());
            }
        }
        Value::Stream(s) => encode_stream(out, s),
        Value::Collection(c) => {
            put_varint(out, c.len() as u64);
            for d in c.iter() {
                put_bytes(out, d.as_bytes());
            }
            if !c.indexes().is_empty() {
                put_varint(out, c.indexes().len() as u64);
                for i in c.indexes().iter() {
                    put_bytes(out, &i.spec.to_stored().to_vec().unwrap_or_default());
                }
            }
        }
    }
}

fn put_id(out: &mut Vec<u8>, id: StreamId) {
    put_varint(out, id.ms);
    put_varint(out, id.seq);
}

fn encode_stream(out: &mut Vec<u8>, s: &StreamValue) {
    put_id(out, s.last_id);
    put_id(out, s.max_deleted);
    put_varint(out, s.entries_added);
    put_varint(out, s.nodes().len() as u64);
    for (mid, n) in s.nodes() {
        put_id(out, *mid);
        put_varint(out, n.deleted);
        put_varint(out, n.entries_bytes);
        put_id(out, n.last_id);
        put_bytes(out, n.master_fields.as_bytes());
    }
    put_varint(out, s.len() as u64);
    for (id, f) in s.range(StreamId::MIN, StreamId::MAX, false) {
        put_id(out, id);
        put_bytes(out, f.to_fields().as_bytes());
    }
    put_varint(out, s.groups().len() as u64);
    for (name, g) in s.groups() {
        put_bytes(out, name);
        put_id(out, g.last_id);
        put_varint(out, zigzag(g.entries_read));
        put_varint(out, g.consumers.len() as u64);
        for (cname, c) in &g.consumers {
            put_bytes(out, cname);
            put_varint(out, zigzag(c.seen_time));
        }
        put_varint(out, g.pel.len() as u64);
        for (id, n) in &g.pel {
            put_id(out, *id);
            put_bytes(out, &n.consumer);
            put_varint(out, zigzag(n.delivery_time));
            put_varint(out, n.delivery_count);
        }
    }
}

// ---------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------

/// A cursor over the input; every read checks bounds and reports the offset it failed at.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

fn corrupt(offset: usize, what: &'static str) -> CodecError {
    CodecError { offset, what }
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn u8(&mut self) -> Result<u8, CodecError> {
        let b = *self.buf.get(self.pos).ok_or(corrupt(self.pos, "truncated"))?;
        self.pos += 1;
        Ok(b)
    }

    fn varint(&mut self) -> Result<u64, CodecError> {
        let start = self.pos;
        let mut v = 0u64;
        let mut shift = 0u32;
        loop {
            let Some(&b) = self.buf.get(self.pos) else {
                return Err(corrupt(start, "truncated varint"));
            };
            self.pos += 1;
            // The 10th byte carries bit 63 only.
            if shift == 63 && b > 1 {
                return Err(corrupt(start, "varint overflows 64 bits"));
            }
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(v);
            }
            shift += 7;
        }
    }

    /// A length-prefixed byte string, borrowed from the input.
    fn bytes(&mut self) -> Result<&'a [u8], CodecError> {
        let start = self.pos;
        let len = self.varint()?;
        match usize::try_from(len) {
            Ok(len) if len <= self.remaining() => {
                let b = &self.buf[self.pos..self.pos + len];
                self.pos += len;
                Ok(b)
            }
            _ => Err(corrupt(start, "length exceeds the input")),
        }
    }

    /// A container's element count: non-zero, and small enough that `count` elements of at
    /// least `min_size` bytes each fit in the rest of the input (so it is safe to pre-size).
    fn count(&mut self, min_size: usize) -> Result<usize, CodecError> {
        let start = self.pos;
        let n = self.count_or_zero(min_size)?;
        if n == 0 {
            return Err(corrupt(start, "empty container"));
        }
        Ok(n)
    }

    /// Like `count`, zero allowed (collections may be empty).
    fn count_or_zero(&mut self, min_size: usize) -> Result<usize, CodecError> {
        let start = self.pos;
        let n = self.varint()?;
        match usize::try_from(n) {
            Ok(n) if n <= self.remaining() / min_size => Ok(n),
            _ => Err(corrupt(start, "count exceeds the input")),
        }
    }

    fn score(&mut self) -> Result<f64, CodecError> {
        let start = self.pos;
        let Some(raw) = self.buf.get(start..start + 8) else {
            return Err(corrupt(start, "truncated score"));
        };
        let mut le = [0u8; 8];
        le.copy_from_slice(raw);
        let s = f64::from_le_bytes(le);
        if s.is_nan() {
            return Err(corrupt(start, "NaN score"));
        }
        self.pos += 8;
        Ok(s)
    }
}

/// Decode one entry starting at `*pos`, advancing `*pos` past it. On error `*pos` is left
/// unchanged and the error's offset points at the offending item. Never panics on any input.
/// Returns the key, its entry (TTL flag clear) and its absolute expiry (0 = none).
pub(crate) fn decode_entry(buf: &[u8], pos: &mut usize) -> Result<(Vec<u8>, Entry, i64), CodecError> {
    if *pos > buf.len() {
        return Err(corrupt(*pos, "position past the end of the input"));
    }
    let mut r = Reader { buf, pos: *pos };
    let ty_at = r.pos;
    let ty = r.u8()?;
    if ty > TYPE_STREAM {
        return Err(corrupt(ty_at, "unknown value type"));
    }
    let expire_at = unzigzag(r.varint()?);
    let key = r.bytes()?.to_vec();
    let value = match ty {
        TYPE_STRING => Value::Str(ValueBytes::new(r.bytes()?)),
        TYPE_STRING_PACKED => {
            let at = r.pos;
            Value::Str(ValueBytes::from_packed(r.bytes()?).ok_or_else(|| corrupt(at, "corrupt compressed string"))?)
        }
        TYPE_LIST => {
            let n = r.count(1)?;
            let mut items = Vec::with_capacity(n);
            for _ in 0..n {
                items.push(r.bytes()?);
            }
            Value::List(ListValue::from_items(&items, EncodingLimits::default().list_max_listpack_size))
        }
        TYPE_HASH => {
            // Built with HashConfig::snapshot(): default listpack limits and compression.
            let n = r.count(2)?;
            let start = r.pos;
            let mut pairs = Vec::with_capacity(n);
            for _ in 0..n {
                pairs.push((r.bytes()?, r.bytes()?));
            }
            let hash = HashValue::from_pairs(&pairs, &HashConfig::snapshot()).map_err(|i| {
                // The offset of pair `i`: re-read the pairs before it (they decoded above).
                let mut again = Reader { buf, pos: start };
                for _ in 0..2 * i {
                    let _ = again.bytes();
                }
                corrupt(again.pos, "duplicate hash field")
            })?;
            Value::Hash(hash)
        }
        TYPE_SET => {
            // In the encoding the default limits give these members.
            let n = r.count(1)?;
            let mut members = Vec::with_capacity(n);
            let mut offsets = Vec::with_capacity(n);
            for _ in 0..n {
                offsets.push(r.pos);
                members.push(r.bytes()?);
            }
            match SetValue::build(&members, &EncodingLimits::default()) {
                Ok(set) => Value::Set(set),
                Err(i) => return Err(corrupt(offsets[i], "duplicate set member")),
            }
        }
        TYPE_STREAM => Value::Stream(Box::new(decode_stream(&mut r)?)),
        TYPE_COLLECTION | TYPE_INDEXED_COLLECTION => {
            let n = r.count_or_zero(5)?;
            let mut c = crate::docs::collection::Collection::new();
            for _ in 0..n {
                let at = r.pos;
                let bytes = r.bytes()?;
                let doc = bson::RawDocumentBuf::from_bytes(bytes.to_vec()).map_err(|_| corrupt(at, "corrupt BSON document"))?;
                // Every element must decode, at every depth (from_bytes checks only the framing);
                // `_id` first.
                if !valid_raw_document(&doc, 0) {
                    return Err(corrupt(at, "corrupt BSON document"));
                }
                if !matches!(doc.iter().next(), Some(Ok((k, _))) if k.as_str() == "_id") {
                    return Err(corrupt(at, "document without a leading _id"));
                }
                if c.insert(doc).is_err() {
                    return Err(corrupt(at, "duplicate _id in a collection"));
                }
            }
            if ty == TYPE_INDEXED_COLLECTION {
                let n = r.count(5)?;
                let start = r.pos;
                let mut specs = Vec::with_capacity(n);
                for _ in 0..n {
                    let at = r.pos;
                    let bytes = r.bytes()?;
                    let spec = bson::Document::from_reader(bytes)
                        .ok()
                        .and_then(|d| crate::docs::index::IndexSpec::parse(&d).ok())
                        .ok_or_else(|| corrupt(at, "corrupt index definition"))?;
                    specs.push(spec);
                }
                if c.create_indexes(specs).is_err() {
                    return Err(corrupt(start, "an index cannot be rebuilt over the collection's documents"));
                }
            }
            Value::Collection(Box::new(c))
        }
        _ => {
            // TYPE_ZSET, the only type left.
            // Built through `ZSetValue::insert` with the default limits, so a small set loads
            // listpack-encoded whatever encoding it had when saved (as Redis's RDB load does).
            let n = r.count(9)?;
            let limits = EncodingLimits::default();
            let mut zset = ZSetValue::new();
            for _ in 0..n {
                let at = r.pos;
                let member = r.bytes()?;
                let score = r.score()?;
                if zset.insert(member, score, &limits).is_some() {
                    return Err(corrupt(at, "duplicate zset member"));
                }
            }
            Value::ZSet(zset)
        }
    };
    *pos = r.pos;
    Ok((key, Entry::new(value), expire_at))
}

impl Reader<'_> {
    fn id(&mut self) -> Result<StreamId, CodecError> {
        Ok(StreamId::new(self.varint()?, self.varint()?))
    }

    fn fields(&mut self) -> Result<Fields, CodecError> {
        let at = self.pos;
        Fields::from_bytes(self.bytes()?).ok_or_else(|| corrupt(at, "corrupt stream entry"))
    }
}

fn decode_stream(r: &mut Reader<'_>) -> Result<StreamValue, CodecError> {
    let start = r.pos;
    let last_id = r.id()?;
    let max_deleted = r.id()?;
    let entries_added = r.varint()?;
    let mut nodes = BTreeMap::new();
    for _ in 0..r.count_or_zero(7)? {
        let at = r.pos;
        let mid = r.id()?;
        let deleted = r.varint()?;
        let entries_bytes = r.varint()?;
        let last = r.id()?;
        let names = r.fields()?;
        let node = NodeInfo { master_fields: names, valid: 0, deleted, entries_bytes, last_id: last, data: Vec::new() };
        if last < mid || nodes.insert(mid, node).is_some() {
            return Err(corrupt(at, "corrupt stream node"));
        }
    }
    let mut entries = BTreeMap::new();
    for _ in 0..r.count_or_zero(3)? {
        let at = r.pos;
        let id = r.id()?;
        if entries.insert(id, r.fields()?).is_some() {
            return Err(corrupt(at, "duplicate stream entry"));
        }
    }
    let mut groups = BTreeMap::new();
    for _ in 0..r.count_or_zero(6)? {
        let at = r.pos;
        let name: Box<[u8]> = r.bytes()?.into();
        let glast = r.id()?;
        let entries_read = unzigzag(r.varint()?);
        let mut consumers = BTreeMap::new();
        for _ in 0..r.count_or_zero(2)? {
            let cat = r.pos;
            let cname: Box<[u8]> = r.bytes()?.into();
            let seen_time = unzigzag(r.varint()?);
            if consumers.insert(cname, Consumer { seen_time, pel: Default::default() }).is_some() {
                return Err(corrupt(cat, "duplicate stream consumer"));
            }
        }
        let mut pel = BTreeMap::new();
        for _ in 0..r.count_or_zero(5)? {
            let pat = r.pos;
            let id = r.id()?;
            let consumer: Box<[u8]> = r.bytes()?.into();
            let delivery_time = unzigzag(r.varint()?);
            let delivery_count = r.varint()?;
            let Some(c) = consumers.get_mut(&consumer) else { return Err(corrupt(pat, "pending entry of an unknown consumer")) };
            c.pel.insert(id);
            if pel.insert(id, Nack { consumer, delivery_time, delivery_count }).is_some() {
                return Err(corrupt(pat, "duplicate pending entry"));
            }
        }
        if groups.insert(name, Group { last_id: glast, entries_read, pel, consumers }).is_some() {
            return Err(corrupt(at, "duplicate consumer group"));
        }
    }
    StreamValue::from_parts(entries, nodes, last_id, max_deleted, entries_added, groups)
        .ok_or_else(|| corrupt(start, "inconsistent stream"))
}

/// Whether every element of `doc` (recursively, at most 200 levels) decodes.
fn valid_raw_document(doc: &bson::RawDocument, depth: usize) -> bool {
    depth <= 200
        && doc.iter().all(|el| match el {
            Ok((_, v)) => valid_raw_value(v, depth),
            Err(_) => false,
        })
}

fn valid_raw_value(v: bson::RawBsonRef<'_>, depth: usize) -> bool {
    match v {
        bson::RawBsonRef::Document(d) => valid_raw_document(d, depth + 1),
        bson::RawBsonRef::Array(a) => depth < 200 && a.into_iter().all(|e| e.is_ok_and(|e| valid_raw_value(e, depth + 1))),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::{BTreeMap, BTreeSet};

    /// A comparable, order-independent picture of a value (scores as bits: bit-exact).
    #[derive(Debug, PartialEq)]
    enum Canon {
        Str(Vec<u8>),
        List(Vec<Vec<u8>>),
        Hash(BTreeMap<Vec<u8>, Vec<u8>>),
        Set(BTreeSet<Vec<u8>>),
        ZSet(BTreeMap<Vec<u8>, u64>),
        Stream(Vec<u8>),
        Collection(Vec<Vec<u8>>),
    }

    fn canon(v: &Value) -> Canon {
        match v {
            Value::Str(s) => Canon::Str(s.to_vec()),
            Value::List(l) => Canon::List(l.iter().map(|e| e.to_vec()).collect()),
            Value::Hash(h) => Canon::Hash(h.iter().map(|(f, v)| (f.to_vec(), v.into_owned())).collect()),
            Value::Set(s) => Canon::Set(s.members().map(|m| m.to_vec()).collect()),
            Value::ZSet(z) => Canon::ZSet(z.iter().map(|(m, s)| (m.to_vec(), s.to_bits())).collect()),
            Value::Stream(s) => {
                let mut out = Vec::new();
                super::encode_stream(&mut out, s);
                Canon::Stream(out)
            }
            Value::Collection(c) => Canon::Collection(c.iter().map(|d| d.as_bytes().to_vec()).collect()),
        }
    }

    fn string(b: &[u8]) -> Value {
        Value::Str(ValueBytes::new(b))
    }

    /// A string stored compressed (`b` must be compressible and longer than 38 bytes).
    fn packed(b: &[u8], codec: crate::config::Codec) -> Value {
        let v = ValueBytes::store(b, crate::types::compress::Compression { codec, min_size: 1, slot: 0 });
        assert!(v.packed().is_some(), "{} bytes did not compress", b.len());
        Value::Str(v)
    }

    fn text(n: usize) -> Vec<u8> {
        b"{\"session\":\"abc\",\"n\":1}".iter().copied().cycle().take(n).collect()
    }

    fn list<I: IntoIterator<Item = Vec<u8>>>(items: I) -> Value {
        let items: Vec<Vec<u8>> = items.into_iter().collect();
        Value::List(ListValue::from_items(&items.iter().map(Vec::as_slice).collect::<Vec<_>>(), -2))
    }

    fn hash<I: IntoIterator<Item = (Vec<u8>, Vec<u8>)>>(items: I) -> Value {
        let pairs: Vec<(Vec<u8>, Vec<u8>)> = items.into_iter().collect();
        let pairs: Vec<(&[u8], &[u8])> = pairs.iter().map(|(f, v)| (&f[..], &v[..])).collect();
        Value::Hash(HashValue::from_pairs(&pairs, &HashConfig::snapshot()).expect("distinct fields"))
    }

    fn set<I: IntoIterator<Item = Vec<u8>>>(items: I) -> Value {
        let mut s = SetValue::new();
        for m in items {
            s.insert(&m, &EncodingLimits::default());
        }
        Value::Set(s)
    }

    fn zset<I: IntoIterator<Item = (Vec<u8>, f64)>>(items: I) -> Value {
        let limits = EncodingLimits::default();
        let mut z = ZSetValue::new();
        for (m, s) in items {
            z.insert(&m, s, &limits);
        }
        Value::ZSet(z)
    }

    fn encode(key: &[u8], value: Value, expire_at: i64) -> (Vec<u8>, Entry) {
        let entry = Entry::new(value);
        let mut out = Vec::new();
        encode_entry(&mut out, key, &entry, expire_at);
        (out, entry)
    }

    /// Encode, decode, and check that the decoded entry equals the original and that the
    /// whole encoding (and nothing more) was consumed.
    fn round_trip(key: &[u8], value: Value, expire_at: i64) {
        let (buf, entry) = encode(key, value, expire_at);
        let mut pos = 0;
        let (k, e, at) = decode_entry(&buf, &mut pos).expect("valid encoding decodes");
        assert_eq!(pos, buf.len());
        assert_eq!(k, key);
        assert_eq!(at, expire_at);
        assert_eq!(canon(&e.value), canon(&entry.value));
    }

    fn decode_err(buf: &[u8]) -> CodecError {
        let mut pos = 0;
        match decode_entry(buf, &mut pos) {
            Ok(_) => panic!("{buf:?} decoded"),
            Err(e) => {
                assert_eq!(pos, 0, "position moved on error");
                e
            }
        }
    }

    fn bin(n: usize, seed: u8) -> Vec<u8> {
        (0..n).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
    }

    #[test]
    fn strings_round_trip() {
        round_trip(b"k", string(b"v"), 0);
        round_trip(b"", string(b""), 0);
        round_trip(b"empty", string(b""), 1_700_000_000_000);
        round_trip(&[0, 0xff, b'\r', b'\n'], string(&[0, 1, 2, 0xff, 0x80, 0x7f]), 1);
        round_trip(&bin(300, 7), string(&bin(38, 1)), 0); // inline value, long key
        round_trip(b"big", string(&bin(100_000, 3)), 0); // heap value, 3-byte length
    }

    #[test]
    fn packed_strings_round_trip_as_stored() {
        use crate::config::Codec;
        for codec in [Codec::Lz4, Codec::Zlib] {
            for n in [60, 100, 5000, 100_000] {
                let (buf, entry) = encode(b"p", packed(&text(n), codec), 7);
                assert_eq!(buf[0], TYPE_STRING_PACKED);
                let (_, e, _) = decode_entry(&buf, &mut 0).unwrap();
                let (Value::Str(a), Value::Str(b)) = (&e.value, &entry.value) else { panic!("not a string") };
                assert_eq!(a.packed(), b.packed(), "the blob is kept as stored, not recompressed");
                round_trip(b"p", packed(&text(n), codec), 0);
            }
        }
        // A plain string of the same bytes is type 0.
        assert_eq!(encode(b"p", string(&text(100)), 0).0[0], TYPE_STRING);
    }

    #[test]
    fn rejects_corrupt_packed_strings() {
        let (good, _) = encode(b"k", packed(&text(200), crate::config::Codec::Lz4), 0);
        let blob_at = 4 + 1; // type, expire, key (len + 1 byte), blob length (1 byte)
        let mut bad = good.clone();
        bad[blob_at + 1] ^= 0x40; // raw length in the blob header
        assert_eq!((decode_err(&bad).offset, decode_err(&bad).what), (4, "corrupt compressed string"));
        let mut bad = good.clone();
        bad[blob_at] = 9; // unknown codec
        assert_eq!(decode_err(&bad).what, "corrupt compressed string");
        // A type-0 string's bytes read as a blob.
        let mut bad = encode(b"k", string(&text(200)), 0).0;
        bad[0] = TYPE_STRING_PACKED;
        assert_eq!(decode_err(&bad).what, "corrupt compressed string");
    }

    #[test]
    fn ttls_round_trip() {
        for t in [0, 1, -1, 63, 64, -64, -65, 1_700_000_000_000, i64::MAX, i64::MIN, i64::MIN + 1] {
            round_trip(b"k", string(b"v"), t);
        }
        // No TTL costs one byte; a present-day TTL costs 6.
        assert_eq!(encode(b"k", string(b"v"), 0).0, [TYPE_STRING, 0, 1, b'k', 1, b'v']);
        assert_eq!(encode(b"k", string(b"v"), 1_700_000_000_000).0.len(), 6 + 5);
    }

    #[test]
    fn containers_round_trip() {
        round_trip(b"l", list([b"a".to_vec()]), 0);
        round_trip(b"l", list([vec![], b"x".to_vec(), vec![], vec![0, 0xff]]), 5);
        round_trip(b"l", list([b"dup".to_vec(), b"dup".to_vec()]), 0); // lists may repeat
        round_trip(b"h", hash([(b"f".to_vec(), vec![])]), 0);
        round_trip(b"h", hash([(vec![], b"v".to_vec()), (vec![0], vec![0xff; 70])]), 7);
        round_trip(b"s", set([vec![]]), 0);
        round_trip(b"s", set([vec![], vec![0], vec![0, 0], b"member".to_vec()]), -3);
        round_trip(b"z", zset([(b"m".to_vec(), 1.5)]), 0);
        round_trip(b"z", zset([(vec![], -2.0), (vec![0xff], 0.0)]), 9);
    }

    #[test]
    fn list_order_is_kept() {
        let (buf, _) = encode(b"l", list((0..100u32).map(|i| i.to_be_bytes().to_vec())), 0);
        let (_, e, _) = decode_entry(&buf, &mut 0).unwrap();
        let Value::List(l) = e.value else { panic!("not a list") };
        let got: Vec<u32> = l.iter().map(|e| u32::from_be_bytes(e[..].try_into().unwrap())).collect();
        assert_eq!(got, (0..100).collect::<Vec<_>>());
    }

    #[test]
    fn large_containers_round_trip() {
        let n = 20_000u32;
        round_trip(b"l", list((0..n).map(|i| i.to_le_bytes().to_vec())), 0);
        round_trip(b"h", hash((0..n).map(|i| (i.to_le_bytes().to_vec(), bin(i as usize % 50, i as u8)))), 0);
        round_trip(b"s", set((0..n).map(|i| format!("member:{i}").into_bytes())), 0);
        round_trip(b"z", zset((0..n).map(|i| (format!("m{i}").into_bytes(), f64::from(i % 97) - 40.5))), 0);
        // A member longer than one varint byte of length, in every container.
        let long = bin(5000, 9);
        round_trip(b"l", list([long.clone()]), 0);
        round_trip(b"h", hash([(long.clone(), long.clone())]), 0);
        round_trip(b"s", set([long.clone()]), 0);
        round_trip(b"z", zset([(long, 3.0)]), 0);
    }

    #[test]
    fn special_scores_are_bit_exact() {
        let scores = [f64::INFINITY, f64::NEG_INFINITY, 0.0, f64::MIN_POSITIVE, 5e-324, -5e-324, f64::MAX, f64::MIN, 0.1, -1e300];
        round_trip(b"z", zset(scores.iter().enumerate().map(|(i, s)| (vec![i as u8], *s))), 0);

        // -0.0 on the wire decodes (the zset keeps it as 0.0, the same score).
        let mut buf = vec![TYPE_ZSET, 0, 1, b'z', 1, 1, b'm'];
        buf.extend_from_slice(&(-0.0f64).to_le_bytes());
        let (_, e, _) = decode_entry(&buf, &mut 0).unwrap();
        let Value::ZSet(z) = e.value else { panic!("not a zset") };
        assert_eq!(z.score(b"m"), Some(0.0));
        // The score is 8 little-endian bytes at the end.
        let (enc, _) = encode(b"z", zset([(b"m".to_vec(), 1.0)]), 0);
        assert_eq!(enc[enc.len() - 8..], 1.0f64.to_le_bytes());
    }

    #[test]
    fn consecutive_entries_decode_in_order() {
        let mut buf = Vec::new();
        let values = [
            string(b"one"),
            list([b"a".to_vec(), b"b".to_vec()]),
            hash([(b"f".to_vec(), b"v".to_vec())]),
            set([b"m".to_vec()]),
            zset([(b"m".to_vec(), -1.0)]),
        ];
        let want: Vec<Canon> = values.iter().map(canon).collect();
        for (i, value) in values.into_iter().enumerate() {
            encode_entry(&mut buf, format!("key{i}").as_bytes(), &Entry::new(value), i as i64 * 1000);
        }
        let mut pos = 0;
        for (i, want) in want.iter().enumerate() {
            let (k, e, at) = decode_entry(&buf, &mut pos).unwrap();
            assert_eq!(k, format!("key{i}").as_bytes());
            assert_eq!(at, i as i64 * 1000);
            assert_eq!(&canon(&e.value), want);
        }
        assert_eq!(pos, buf.len());
        // At the end: a clean "truncated" error, position unchanged.
        let err = decode_entry(&buf, &mut pos).err().expect("nothing left to decode");
        assert_eq!((err.offset, err.what, pos), (buf.len(), "truncated", buf.len()));
        pos = buf.len() + 1;
        let err = decode_entry(&buf, &mut pos).err().expect("position past the end");
        assert_eq!((err.offset, err.what), (buf.len() + 1, "position past the end of the input"));
    }

    #[test]
    fn rejects_unknown_type() {
        for ty in [9u8, 10, 0x7f, 0xff] {
            let err = decode_err(&[ty, 0, 1, b'k', 1, b'v']);
            assert_eq!((err.offset, err.what), (0, "unknown value type"));
        }
    }

    #[test]
    fn rejects_empty_containers() {
        for ty in [TYPE_LIST, TYPE_HASH, TYPE_SET, TYPE_ZSET] {
            let err = decode_err(&[ty, 0, 1, b'k', 0, 0, 0, 0]);
            assert_eq!((err.offset, err.what), (4, "empty container"));
        }
    }

    #[test]
    fn rejects_duplicates() {
        let err = decode_err(&[TYPE_HASH, 0, 1, b'k', 2, 1, b'f', 1, b'a', 1, b'f', 1, b'b']);
        assert_eq!((err.offset, err.what), (9, "duplicate hash field"));
        let err = decode_err(&[TYPE_SET, 0, 1, b'k', 3, 1, b'a', 0, 1, b'a']);
        assert_eq!((err.offset, err.what), (8, "duplicate set member"));
        let mut z = vec![TYPE_ZSET, 0, 1, b'k', 2];
        for score in [1.0f64, 2.0] {
            z.extend_from_slice(&[1, b'm']);
            z.extend_from_slice(&score.to_le_bytes());
        }
        let err = decode_err(&z);
        assert_eq!((err.offset, err.what), (15, "duplicate zset member"));
    }

    #[test]
    fn rejects_nan_scores() {
        for nan in [f64::NAN.to_bits(), 0x7ff0_0000_0000_0001, 0xfff8_0000_0000_0000, u64::MAX] {
            let mut z = vec![TYPE_ZSET, 0, 1, b'k', 1, 1, b'm'];
            z.extend_from_slice(&nan.to_le_bytes());
            let err = decode_err(&z);
            assert_eq!((err.offset, err.what), (7, "NaN score"));
        }
    }

    #[test]
    fn libraries_round_trip_and_refuse_damage() {
        let mut buf = Vec::new();
        encode_library(&mut buf, b"lib", b"#!lua name=lib\nredis.register_function('f', function() return 1 end)");
        assert!(is_library(&buf, 0));
        let mut pos = 0;
        let (name, code) = decode_library(&buf, &mut pos).expect("decodes");
        assert_eq!((name.as_slice(), pos), (&b"lib"[..], buf.len()));
        assert!(code.starts_with(b"#!lua"));
        for cut in 0..buf.len() {
            let mut pos = 0;
            assert!(decode_library(&buf[..cut], &mut pos).is_err() && pos == 0, "cut at {cut}");
        }
        // decode_entry does not take a library for a key.
        assert!(decode_entry(&buf, &mut 0).is_err());
    }

    #[test]
    fn varints() {
        for v in [0u64, 1, 127, 128, 16383, 16384, u64::from(u32::MAX), u64::MAX - 1, u64::MAX] {
            let mut buf = Vec::new();
            put_varint(&mut buf, v);
            let mut r = Reader { buf: &buf, pos: 0 };
            assert_eq!(r.varint().unwrap(), v);
            assert_eq!(r.pos, buf.len());
        }
        let mut max = Vec::new();
        put_varint(&mut max, u64::MAX);
        assert_eq!(max.len(), 10);
        assert_eq!(max[9], 1);
        for v in [0i64, 1, -1, i64::MAX, i64::MIN] {
            assert_eq!(unzigzag(zigzag(v)), v);
        }
        assert_eq!([zigzag(0), zigzag(-1), zigzag(1), zigzag(-2)], [0, 1, 2, 3]);

        // Overflow: a 10th byte above 1, or an 11th byte.
        let mut over = vec![TYPE_STRING];
        over.extend_from_slice(&[0xff; 9]);
        over.push(0x02);
        over.extend_from_slice(&[1, b'k', 1, b'v']);
        assert_eq!(decode_err(&over).what, "varint overflows 64 bits");
        let mut eleven = vec![TYPE_STRING];
        eleven.extend_from_slice(&[0x80; 10]);
        eleven.extend_from_slice(&[0, 1, b'k', 1, b'v']);
        assert_eq!(decode_err(&eleven).what, "varint overflows 64 bits");
        // A non-minimal varint is accepted (it is still unambiguous).
        let (_, _, at) = decode_entry(&[TYPE_STRING, 0x80, 0x00, 1, b'k', 1, b'v'], &mut 0).unwrap();
        assert_eq!(at, 0);
    }

    #[test]
    fn huge_lengths_and_counts_are_rejected_before_allocating() {
        let mut buf = vec![TYPE_STRING, 0];
        put_varint(&mut buf, u64::MAX);
        buf.push(b'k');
        assert_eq!(decode_err(&buf).what, "length exceeds the input");

        for ty in [TYPE_LIST, TYPE_HASH, TYPE_SET, TYPE_ZSET] {
            let mut buf = vec![ty, 0, 1, b'k'];
            put_varint(&mut buf, u64::MAX);
            buf.extend_from_slice(&[1, b'x']);
            let err = decode_err(&buf);
            assert_eq!((err.offset, err.what), (4, "count exceeds the input"));
        }
        // The count bound is per type: 2 one-byte list elements need 2 bytes, a zset element 9.
        assert!(decode_entry(&[TYPE_LIST, 0, 1, b'k', 2, 0, 0], &mut 0).is_ok());
        assert_eq!(decode_err(&[TYPE_LIST, 0, 1, b'k', 3, 0, 0]).what, "count exceeds the input");
        assert_eq!(decode_err(&[TYPE_HASH, 0, 1, b'k', 2, 0, 0, 0]).what, "count exceeds the input");
        assert_eq!(decode_err(&[TYPE_ZSET, 0, 1, b'k', 1, 0, 0, 0, 0, 0, 0, 0, 0]).what, "count exceeds the input");
    }

    /// Valid encodings of every type, for the corruption tests.
    /// A stream with two nodes, a deleted entry, a group with two consumers and pending entries.
    fn stream() -> Value {
        use crate::types::stream::{NodeLimits, StreamId};
        let mut s = StreamValue::default();
        let limits = NodeLimits { max_bytes: 4096, max_entries: 2 };
        s.append(StreamId::new(1, 0), &["f", "1"], limits);
        s.append(StreamId::new(1, 5), &["f", "2", "g", ""], limits);
        s.append(StreamId::new(7, 0), &["name", "x"], limits);
        assert!(s.delete(StreamId::new(1, 5)));
        s.create_group(b"grp", StreamId::new(1, 5), 2);
        s.with_group(b"grp", |g| {
            g.consumer(b"alice", 1_000);
            g.consumer(b"bob", 2_000);
            g.assign(StreamId::new(1, 0), b"alice").delivery_time = 500;
            g.assign(StreamId::new(7, 0), b"bob").delivery_count = 3;
        });
        Value::Stream(Box::new(s))
    }

    #[test]
    fn streams_round_trip() {
        let v = stream();
        let (buf, _) = encode(b"s", v.clone(), 0);
        let (_, e, _) = decode_entry(&buf, &mut 0).unwrap();
        assert_eq!(canon(&e.value), canon(&v));
        let (Value::Stream(a), Value::Stream(b)) = (&e.value, &v) else { panic!() };
        assert_eq!((a.len(), a.node_count(), a.mem_usage()), (b.len(), b.node_count(), b.mem_usage()));
    }

    fn samples() -> Vec<Vec<u8>> {
        let values = [
            (string(b"hello world"), 0),
            (string(&bin(200, 5)), 1_700_000_000_123),
            (packed(&text(120), crate::config::Codec::Lz4), 3),
            (packed(&text(120), crate::config::Codec::Zlib), 0),
            (list([b"a".to_vec(), vec![], bin(130, 1)]), -7),
            (hash([(b"f1".to_vec(), b"v1".to_vec()), (b"f2".to_vec(), vec![]), (vec![], bin(3, 3))]), 42),
            (set([b"x".to_vec(), b"y".to_vec(), vec![], bin(140, 2)]), 0),
            (zset([(b"a".to_vec(), 1.0), (b"b".to_vec(), f64::NEG_INFINITY), (vec![], 2.5)]), 1 << 40),
            (stream(), 0),
        ];
        values.into_iter().map(|(v, t)| encode(b"some:key", v, t).0).collect()
    }

    /// Whatever a corrupt buffer decodes to must be a valid entry: it re-encodes and decodes
    /// to the same thing, and no container is empty.
    fn check_decoded(buf: &[u8]) {
        let mut pos = 0;
        match decode_entry(buf, &mut pos) {
            Ok((k, e, at)) => {
                assert!(pos > 0 && pos <= buf.len());
                let value_len = match &e.value {
                    Value::Str(_) => 1,
                    Value::List(l) => l.len(),
                    Value::Hash(h) => h.len(),
                    Value::Set(s) => s.len(),
                    Value::ZSet(z) => z.len(),
                    // Collections and streams may be empty.
                    Value::Stream(_) => 1,
                    Value::Collection(c) => c.len().max(1),
                };
                assert!(value_len > 0, "decoded an empty container");
                let mut again = Vec::new();
                encode_entry(&mut again, &k, &e, at);
                let (k2, e2, at2) = decode_entry(&again, &mut 0).expect("re-encoding decodes");
                assert_eq!(k2, k);
                assert_eq!(at2, at);
                assert_eq!(canon(&e2.value), canon(&e.value));
            }
            Err(err) => {
                assert_eq!(pos, 0);
                assert!(err.offset <= buf.len(), "{err}");
            }
        }
    }

    #[test]
    fn every_truncation_is_an_error() {
        for buf in samples() {
            for cut in 0..buf.len() {
                let mut pos = 0;
                assert!(decode_entry(&buf[..cut], &mut pos).is_err(), "prefix of {cut} bytes decoded");
                assert_eq!(pos, 0);
            }
        }
    }

    #[test]
    fn every_byte_change_decodes_or_errors() {
        for buf in samples() {
            for i in 0..buf.len() {
                for b in 0..=255u8 {
                    if b == buf[i] {
                        continue;
                    }
                    let mut bad = buf.clone();
                    bad[i] = b;
                    check_decoded(&bad);
                }
            }
        }
    }

    #[test]
    fn error_display() {
        let err = decode_err(&[9]);
        assert_eq!(err.to_string(), "corrupt entry at byte 0: unknown value type");
    }

    fn bytes_strategy(max: usize) -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(any::<u8>(), 0..max)
    }

    fn score_strategy() -> impl Strategy<Value = f64> {
        use prop::num::f64::{INFINITE, NEGATIVE, NORMAL, POSITIVE, SUBNORMAL, ZERO};
        POSITIVE | NEGATIVE | NORMAL | SUBNORMAL | ZERO | INFINITE
    }

    /// What a generated value is made of (`Value` itself is not `Debug`, which proptest needs).
    #[derive(Debug, Clone)]
    enum Raw {
        Str(Vec<u8>),
        Packed(usize, bool),
        List(Vec<Vec<u8>>),
        Hash(BTreeMap<Vec<u8>, Vec<u8>>),
        Set(BTreeSet<Vec<u8>>),
        ZSet(BTreeMap<Vec<u8>, f64>),
    }

    impl Raw {
        fn value(self) -> Value {
            match self {
                Raw::Str(b) => string(&b),
                Raw::Packed(n, zlib) => packed(&text(n), if zlib { crate::config::Codec::Zlib } else { crate::config::Codec::Lz4 }),
                Raw::List(l) => list(l),
                Raw::Hash(h) => hash(h),
                Raw::Set(s) => set(s),
                Raw::ZSet(z) => zset(z),
            }
        }
    }

    fn raw_strategy() -> impl Strategy<Value = Raw> {
        prop_oneof![
            bytes_strategy(120).prop_map(Raw::Str),
            (60..3000usize, any::<bool>()).prop_map(|(n, z)| Raw::Packed(n, z)),
            prop::collection::vec(bytes_strategy(30), 1..40).prop_map(Raw::List),
            prop::collection::btree_map(bytes_strategy(30), bytes_strategy(60), 1..40).prop_map(Raw::Hash),
            prop::collection::btree_set(bytes_strategy(30), 1..40).prop_map(Raw::Set),
            prop::collection::btree_map(bytes_strategy(30), score_strategy(), 1..40).prop_map(Raw::ZSet),
        ]
    }

    fn expire_strategy() -> impl Strategy<Value = i64> {
        prop_oneof![Just(0i64), 0i64..4_000_000_000_000, any::<i64>()]
    }

    proptest! {
        #[test]
        fn prop_round_trip(key in bytes_strategy(60), raw in raw_strategy(), expire_at in expire_strategy()) {
            round_trip(&key, raw.value(), expire_at);
        }

        #[test]
        fn prop_arbitrary_bytes_never_panic(buf in bytes_strategy(200)) {
            check_decoded(&buf);
        }

        #[test]
        fn prop_random_corruption_never_panics(idx in any::<prop::sample::Index>(), xor in 1..=255u8, cut in any::<prop::sample::Index>()) {
            for buf in samples() {
                let mut bad = buf.clone();
                bad[idx.index(buf.len())] ^= xor;
                bad.truncate(cut.index(buf.len() + 1));
                check_decoded(&bad);
            }
        }
    }
}
