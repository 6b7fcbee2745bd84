//! `StreamValue`: Redis's stream type. Entries ordered by ID, each a list of field-value pairs;
//! consumer groups with their pending-entries lists (PEL) and consumers.
//!
//! Redis keeps entries in a radix tree of listpack *nodes*, and some behaviour depends on where
//! those node boundaries fall: `XTRIM ... ~` removes whole nodes only, `LIMIT` counts their
//! entries, and XINFO reports the node count. So entries live in the same nodes here:
//! `nodes`, keyed by each node's master ID, closes a node when Redis's would
//! (`stream-node-max-bytes` / `stream-node-max-entries`, counted as `streamAppendItem` counts
//! them: valid plus deleted entries, and the node's size in Redis's listpack encoding), so
//! trimming removes exactly the entries Redis removes. A node's valid entries are packed in one
//! buffer (`pack_entry`: flags, ID deltas as varints, only the values when the fields are the
//! node's master fields), which keeps a stream about as small as Redis's listpacks.
//!
//! Invariants: every entry lies in the node with the greatest master ID <= its ID, packed in
//! ID order; a node's `valid` counts its packed entries and a node with none is removed; `len`
//! is the sum of `valid`; `last_id` >= every entry's ID; `max_deleted` is the greatest ID
//! deleted by XDEL (or set by XSETID); each PEL entry of a group is in exactly one of its
//! consumers' `pel` sets, the one it names; `mem` is the sum of the costs of everything above
//! (so `mem_usage` is O(1)).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use super::heap_cost;

/// A stream entry ID: milliseconds and sequence number, ordered as a pair.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
pub(crate) struct StreamId {
    pub(crate) ms: u64,
    pub(crate) seq: u64,
}

impl StreamId {
    pub(crate) const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    pub(crate) const MAX: StreamId = StreamId { ms: u64::MAX, seq: u64::MAX };

    pub(crate) const fn new(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    pub(crate) fn is_zero(self) -> bool {
        self == StreamId::MIN
    }

    /// The next ID (Redis's `streamIncrID`), None after the last one.
    pub(crate) fn next(self) -> Option<StreamId> {
        if self.seq < u64::MAX {
            Some(StreamId::new(self.ms, self.seq + 1))
        } else if self.ms < u64::MAX {
            Some(StreamId::new(self.ms + 1, 0))
        } else {
            None
        }
    }

    /// The previous ID (`streamDecrID`), None before 0-0.
    pub(crate) fn prev(self) -> Option<StreamId> {
        if self.seq > 0 {
            Some(StreamId::new(self.ms, self.seq - 1))
        } else if self.ms > 0 {
            Some(StreamId::new(self.ms - 1, u64::MAX))
        } else {
            None
        }
    }

    /// `<ms>-<seq>`, as replies and the log write it.
    pub(crate) fn to_bytes(self) -> Vec<u8> {
        let mut s = String::with_capacity(41);
        let _ = write!(s, "{}-{}", self.ms, self.seq);
        s.into_bytes()
    }
}

/// An entry's field-value pairs in one block: for each field then value, a `u32` LE length
/// and the bytes.
#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) struct Fields(Box<[u8]>);

impl Fields {
    /// Encode alternating fields and values (`items.len()` is even).
    pub(crate) fn encode<T: AsRef<[u8]>>(items: &[T]) -> Fields {
        let n = items.iter().map(|i| 4 + i.as_ref().len()).sum();
        let mut out = Vec::with_capacity(n);
        for i in items {
            let i = i.as_ref();
            out.extend_from_slice(&(i.len() as u32).to_le_bytes());
            out.extend_from_slice(i);
        }
        Fields(out.into_boxed_slice())
    }

    /// Fields and values, alternating.
    pub(crate) fn items(&self) -> FieldsIter<'_> {
        FieldsIter(&self.0)
    }

    /// The field names (every other item).
    fn names(&self) -> impl Iterator<Item = &[u8]> {
        self.items().step_by(2)
    }

    fn pair_count(&self) -> usize {
        self.items().count() / 2
    }

    pub(crate) fn byte_len(&self) -> usize {
        self.0.len()
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The inverse of `as_bytes`; None when `b` is not a well-formed encoding of pairs.
    pub(crate) fn from_bytes(b: &[u8]) -> Option<Fields> {
        let (mut off, mut n) = (0usize, 0usize);
        while off < b.len() {
            let len = u32::from_le_bytes(b.get(off..off + 4)?.try_into().ok()?) as usize;
            off = off.checked_add(4 + len)?;
            n += 1;
        }
        (off == b.len() && n % 2 == 0 && n > 0).then(|| Fields(b.into()))
    }
}

pub(crate) struct FieldsIter<'a>(&'a [u8]);

impl<'a> Iterator for FieldsIter<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        if self.0.len() < 4 {
            return None;
        }
        let len = u32::from_le_bytes(self.0[..4].try_into().expect("4 bytes")) as usize;
        let (item, rest) = self.0[4..].split_at(len);
        self.0 = rest;
        Some(item)
    }
}

/// One of Redis's listpack nodes: the entries from its master ID up to the next node's, packed
/// in `data`, and what Redis's behaviour depends on (see the module comment).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NodeInfo {
    /// The master entry's field names (those of the node's first entry).
    pub(crate) master_fields: Fields,
    pub(crate) valid: u64,
    pub(crate) deleted: u64,
    /// Listpack bytes of the entries (deleted ones included), master entry excluded.
    pub(crate) entries_bytes: u64,
    /// ID of the node's last entry, deleted or not.
    pub(crate) last_id: StreamId,
    /// The valid entries, in ID order, each `packed_entry`: deleted ones are cut out (unlike
    /// Redis, which flags them; the counts above keep what Redis's node would say).
    pub(crate) data: Vec<u8>,
}

// ---- packed entries ----
//
// entry := flags:u8  varint(ms - master.ms)  varint(seq)  body
// body  := (flags & SAME_FIELDS) ? (varint(len) value){master field count}
//                                : varint(pairs) (varint(len) field varint(len) value){pairs}

const SAME_FIELDS: u8 = 1;

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A varint at `*at` (the data was written by `put_varint`: no bounds to check but the slice's).
fn get_varint(b: &[u8], at: &mut usize) -> u64 {
    let (mut v, mut shift) = (0u64, 0);
    loop {
        let byte = b[*at];
        *at += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return v;
        }
        shift += 7;
    }
}

fn put_item(out: &mut Vec<u8>, item: &[u8]) {
    put_varint(out, item.len() as u64);
    out.extend_from_slice(item);
}

fn get_item<'a>(b: &'a [u8], at: &mut usize) -> &'a [u8] {
    let len = get_varint(b, at) as usize;
    let item = &b[*at..*at + len];
    *at += len;
    item
}

fn pack_entry<T: AsRef<[u8]>>(out: &mut Vec<u8>, id: StreamId, master: StreamId, items: &[T], same_fields: bool) {
    out.push(if same_fields { SAME_FIELDS } else { 0 });
    put_varint(out, id.ms - master.ms);
    put_varint(out, id.seq);
    if !same_fields {
        put_varint(out, items.len() as u64 / 2);
    }
    for (i, item) in items.iter().enumerate() {
        if !same_fields || i % 2 == 1 {
            put_item(out, item.as_ref());
        }
    }
}

/// The entry packed at `*at` in `node` (whose master ID is `master`); `*at` moves past it.
fn unpack_entry<'a>(node: &'a NodeInfo, master: StreamId, at: &mut usize) -> (StreamId, EntryRef<'a>) {
    let b = &node.data;
    let flags = b[*at];
    *at += 1;
    let ms = master.ms + get_varint(b, at);
    let seq = get_varint(b, at);
    let same = flags & SAME_FIELDS != 0;
    let pairs = if same { node.master_fields.pair_count() } else { get_varint(b, at) as usize };
    let body = *at;
    for _ in 0..if same { pairs } else { 2 * pairs } {
        get_item(b, at);
    }
    let entry = EntryRef { names: same.then_some(&node.master_fields), body: &b[body..*at], pairs };
    (StreamId::new(ms, seq), entry)
}

/// An entry's field-value pairs as stored (see `StreamValue::get`, `range`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct EntryRef<'a> {
    /// The node's master names, when the entry has the same fields (then `body` holds values).
    names: Option<&'a Fields>,
    body: &'a [u8],
    pairs: usize,
}

impl<'a> EntryRef<'a> {
    /// Fields and values, alternating.
    pub(crate) fn items(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let (names, body, pairs) = (self.names, self.body, self.pairs);
        let mut at = 0;
        let mut name_iter = names.map(|n| n.names());
        (0..2 * pairs).map(move |i| match &mut name_iter {
            Some(names) if i % 2 == 0 => names.next().expect("a name per value"),
            _ => get_item(body, &mut at),
        })
    }

    /// The pairs as a `Fields` block (snapshots).
    pub(crate) fn to_fields(self) -> Fields {
        Fields::encode(&self.items().collect::<Vec<_>>())
    }
}

/// Offsets of the valid entries packed in `node`, with their IDs.
fn entry_offsets(node: &NodeInfo, master: StreamId) -> Vec<(StreamId, usize)> {
    let mut out = Vec::with_capacity(node.valid as usize);
    let mut at = 0;
    while at < node.data.len() {
        let start = at;
        let (id, _) = unpack_entry(node, master, &mut at);
        out.push((id, start));
    }
    out
}

/// A pending (delivered, not acknowledged) entry of a group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Nack {
    pub(crate) consumer: Box<[u8]>,
    /// Unix ms of the last delivery.
    pub(crate) delivery_time: i64,
    pub(crate) delivery_count: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub(crate) struct Consumer {
    /// Unix ms of the consumer's last interaction.
    pub(crate) seen_time: i64,
    pub(crate) pel: BTreeSet<StreamId>,
}

/// Redis's `SCG_INVALID_ENTRIES_READ`.
pub(crate) const ENTRIES_READ_UNKNOWN: i64 = -1;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Group {
    pub(crate) last_id: StreamId,
    /// Entries the group has read (`ENTRIES_READ_UNKNOWN` when not known).
    pub(crate) entries_read: i64,
    pub(crate) pel: BTreeMap<StreamId, Nack>,
    pub(crate) consumers: BTreeMap<Box<[u8]>, Consumer>,
}

/// Node limits (`stream-node-max-bytes`, `stream-node-max-entries`; 0 = no limit).
#[derive(Clone, Copy, Debug)]
pub(crate) struct NodeLimits {
    pub(crate) max_bytes: u64,
    pub(crate) max_entries: u64,
}

impl Default for NodeLimits {
    fn default() -> Self {
        NodeLimits { max_bytes: 4096, max_entries: 100 }
    }
}

/// Redis's `STREAM_LISTPACK_MAX_SIZE`.
const LISTPACK_MAX_SIZE: u64 = 1 << 30;

/// How to trim (XTRIM and XADD's MAXLEN / MINID).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Trim {
    MaxLen(u64),
    MinId(StreamId),
}

// Memory costs (bytes) of the bookkeeping around payloads: a B-tree slot for a node, a PEL
// entry (group slot + consumer set slot), a consumer and a group.
const NODE_COST: usize = 96;
const NACK_COST: usize = 80;
const CONSUMER_COST: usize = 96;
const GROUP_COST: usize = 128;

#[derive(Clone, Debug, Default)]
pub(crate) struct StreamValue {
    nodes: BTreeMap<StreamId, NodeInfo>,
    /// Valid entries in all nodes.
    len: usize,
    pub(crate) last_id: StreamId,
    pub(crate) max_deleted: StreamId,
    pub(crate) entries_added: u64,
    groups: BTreeMap<Box<[u8]>, Group>,
    mem: usize,
}

/// Heap bytes of a node.
fn node_mem(n: &NodeInfo) -> usize {
    NODE_COST + heap_cost(n.master_fields.byte_len()) + heap_cost(n.data.capacity())
}

impl StreamValue {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// No entries (the stream itself stays: see `Container for StreamValue`).
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Heap bytes owned (O(1), kept up to date by every change).
    pub(crate) fn mem_usage(&self) -> usize {
        self.mem
    }

    /// The first entry's ID (0-0 when empty): XINFO's `recorded-first-entry-id`.
    pub(crate) fn first_id(&self) -> StreamId {
        self.range(StreamId::MIN, StreamId::MAX, false).next().map_or(StreamId::MIN, |(id, _)| id)
    }

    /// The last entry's ID (0-0 when empty): `streamLastValidID`.
    pub(crate) fn last_valid_id(&self) -> StreamId {
        self.range(StreamId::MIN, StreamId::MAX, true).next().map_or(StreamId::MIN, |(id, _)| id)
    }

    pub(crate) fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// The node that holds `id` if it is anywhere, with its master ID.
    fn node_of(&self, id: StreamId) -> Option<(StreamId, &NodeInfo)> {
        self.nodes.range(..=id).next_back().map(|(k, n)| (*k, n))
    }

    pub(crate) fn get(&self, id: StreamId) -> Option<EntryRef<'_>> {
        let (mid, node) = self.node_of(id)?;
        let mut at = 0;
        while at < node.data.len() {
            let (eid, e) = unpack_entry(node, mid, &mut at);
            if eid == id {
                return Some(e);
            }
            if eid > id {
                break;
            }
        }
        None
    }

    pub(crate) fn contains(&self, id: StreamId) -> bool {
        self.get(id).is_some()
    }

    /// Entries with `start <= id <= end`, in order or reversed.
    pub(crate) fn range(&self, start: StreamId, end: StreamId, rev: bool) -> Box<dyn Iterator<Item = (StreamId, EntryRef<'_>)> + '_> {
        if start > end {
            return Box::new(std::iter::empty());
        }
        // Nodes that may hold IDs in range: from the one holding `start` to the last one
        // starting at or before `end`.
        let first = self.node_of(start).map_or(start, |(k, _)| k);
        let nodes = self.nodes.range(first..=end);
        let in_range = move |(id, _): &(StreamId, EntryRef<'_>)| *id >= start && *id <= end;
        if rev {
            Box::new(nodes.rev().flat_map(move |(mid, node)| {
                let offsets = entry_offsets(node, *mid);
                offsets.into_iter().rev().map(move |(_, at)| unpack_entry(node, *mid, &mut { at })).filter(in_range)
            }))
        } else {
            Box::new(nodes.flat_map(move |(mid, node)| {
                let mut at = 0;
                std::iter::from_fn(move || (at < node.data.len()).then(|| unpack_entry(node, *mid, &mut at)))
                    .skip_while(move |(id, _)| *id < start)
                    .take_while(move |(id, _)| *id <= end)
            }))
        }
    }

    /// The ID XADD `*` gives at `now_ms` (`streamNextID`); None when the stream is exhausted.
    pub(crate) fn next_auto_id(&self, now_ms: u64) -> Option<StreamId> {
        if now_ms > self.last_id.ms {
            Some(StreamId::new(now_ms, 0))
        } else {
            self.last_id.next()
        }
    }

    /// Append an entry (`id` > `last_id`, checked by the caller) with `items` (fields and
    /// values alternating), opening a new node where Redis would.
    pub(crate) fn append<T: AsRef<[u8]>>(&mut self, id: StreamId, items: &[T], limits: NodeLimits) {
        debug_assert!(id > self.last_id || (self.last_id.is_zero() && self.entries_added == 0 && !id.is_zero()));
        let total_len: u64 = items.iter().map(|i| i.as_ref().len() as u64).sum();
        let max_bytes = if limits.max_bytes == 0 || limits.max_bytes > LISTPACK_MAX_SIZE { LISTPACK_MAX_SIZE } else { limits.max_bytes };
        let tail_open = self.nodes.last_key_value().is_some_and(|(_, n)| {
            let full_bytes = node_lp_bytes(n) + total_len >= max_bytes;
            let full_count = limits.max_entries != 0 && n.valid + n.deleted >= limits.max_entries;
            !full_bytes && !full_count
        });
        let names = || items.iter().step_by(2).map(|i| i.as_ref());
        let (master_id, same_fields) = if tail_open {
            let (mid, node) = self.nodes.last_key_value().expect("tail node");
            (*mid, node.master_fields.names().eq(names()))
        } else {
            // The closed tail gives back its spare capacity (Redis's lpShrinkToFit).
            if let Some((_, tail)) = self.nodes.iter_mut().next_back() {
                self.mem -= heap_cost(tail.data.capacity());
                tail.data.shrink_to_fit();
                self.mem += heap_cost(tail.data.capacity());
            }
            // The master entry keeps names only: stored as pairs (name, "").
            let master = Fields::encode(&names().flat_map(|n| [n, &b""[..]]).collect::<Vec<_>>());
            let node = NodeInfo { master_fields: master, valid: 0, deleted: 0, entries_bytes: 0, last_id: id, data: Vec::new() };
            self.mem += node_mem(&node);
            self.nodes.insert(id, node);
            (id, true)
        };
        let node = self.nodes.get_mut(&master_id).expect("node");
        self.mem -= heap_cost(node.data.capacity());
        pack_entry(&mut node.data, id, master_id, items, same_fields);
        self.mem += heap_cost(node.data.capacity());
        node.valid += 1;
        node.last_id = id;
        node.entries_bytes += entry_lp_bytes(id, master_id, items, same_fields);
        self.len += 1;
        self.entries_added += 1;
        self.last_id = id;
    }

    /// XDEL of one entry: true when it was there. Its node forgets it (and goes when it has no
    /// entry left); `max_deleted` follows.
    pub(crate) fn delete(&mut self, id: StreamId) -> bool {
        let Some((mid, node)) = self.node_of(id) else { return false };
        let Some((start, end)) = find_packed(node, mid, id) else { return false };
        if node.valid == 1 {
            self.remove_node(mid);
        } else {
            let node = self.nodes.get_mut(&mid).expect("node");
            node.data.drain(start..end);
            node.valid -= 1;
            node.deleted += 1;
        }
        self.len -= 1;
        if id > self.max_deleted {
            self.max_deleted = id;
        }
        true
    }

    fn remove_node(&mut self, master_id: StreamId) {
        if let Some(n) = self.nodes.remove(&master_id) {
            self.mem -= node_mem(&n);
        }
    }

    /// Trim as `streamTrim` does: whole nodes from the head while the rule allows, then (unless
    /// `approx`) entries of the first remaining node; `limit` (0 = none) caps the entries
    /// removed by whole nodes. Returns the number of entries removed.
    pub(crate) fn trim(&mut self, how: Trim, approx: bool, limit: u64) -> u64 {
        let mut removed = 0u64;
        while let Some((&mid, node)) = self.nodes.first_key_value() {
            if let Trim::MaxLen(max) = how {
                if self.len as u64 <= max {
                    break;
                }
            }
            let valid = node.valid;
            if limit != 0 && removed + valid > limit {
                break;
            }
            let whole = match how {
                Trim::MaxLen(max) => self.len as u64 - valid >= max,
                Trim::MinId(min) => node.last_id < min,
            };
            if whole {
                self.remove_node(mid);
                self.len -= valid as usize;
                removed += valid;
                continue;
            }
            if approx {
                break;
            }
            // Delete entries of this node, oldest first, until the rule holds.
            let mut cut = 0usize;
            let mut from_node = 0u64;
            let mut at = 0;
            while at < node.data.len() {
                let stop = match how {
                    Trim::MaxLen(max) => (self.len as u64 - from_node) <= max,
                    Trim::MinId(min) => unpack_entry(node, mid, &mut at.clone()).0 >= min,
                };
                if stop {
                    break;
                }
                unpack_entry(node, mid, &mut at);
                cut = at;
                from_node += 1;
            }
            let node = self.nodes.get_mut(&mid).expect("node");
            node.data.drain(..cut);
            node.valid -= from_node;
            node.deleted += from_node;
            self.len -= from_node as usize;
            removed += from_node;
            break;
        }
        removed
    }

    // ---- consumer groups ----

    pub(crate) fn groups(&self) -> &BTreeMap<Box<[u8]>, Group> {
        &self.groups
    }

    pub(crate) fn group(&self, name: &[u8]) -> Option<&Group> {
        self.groups.get(name)
    }

    pub(crate) fn group_mut(&mut self, name: &[u8]) -> Option<&mut Group> {
        self.groups.get_mut(name)
    }

    /// XGROUP CREATE: false when the name is taken.
    pub(crate) fn create_group(&mut self, name: &[u8], last_id: StreamId, entries_read: i64) -> bool {
        if self.groups.contains_key(name) {
            return false;
        }
        self.mem += GROUP_COST + heap_cost(name.len());
        self.groups.insert(name.into(), Group { last_id, entries_read, pel: BTreeMap::new(), consumers: BTreeMap::new() });
        true
    }

    pub(crate) fn destroy_group(&mut self, name: &[u8]) -> bool {
        let Some(g) = self.groups.remove(name) else { return false };
        self.mem -= GROUP_COST + heap_cost(name.len()) + group_mem(&g);
        true
    }

    /// Run `f` on group `name` and its consumers' bookkeeping, keeping `mem` right.
    pub(crate) fn with_group<R>(&mut self, name: &[u8], f: impl FnOnce(&mut GroupEdit<'_>) -> R) -> Option<R> {
        let g = self.groups.get_mut(name)?;
        let mut edit = GroupEdit { group: g, grown: 0, shrunk: 0 };
        let r = f(&mut edit);
        self.mem = self.mem + edit.grown - edit.shrunk;
        Some(r)
    }

    /// Whether XDEL left a tombstone in `[start, end]` (`streamRangeHasTombstones`).
    pub(crate) fn range_has_tombstones(&self, start: StreamId, end: StreamId) -> bool {
        if self.is_empty() || self.max_deleted.is_zero() {
            return false;
        }
        if self.first_id() > self.max_deleted {
            return false;
        }
        start <= self.max_deleted && self.max_deleted <= end
    }

    /// `streamEstimateDistanceFromFirstEverEntry`: the entries-read counter of `id`, or
    /// `ENTRIES_READ_UNKNOWN`.
    pub(crate) fn estimate_entries_read(&self, id: StreamId) -> i64 {
        if self.entries_added == 0 {
            return 0;
        }
        let added = self.entries_added as i64;
        if self.is_empty() && id <= self.last_id {
            return added;
        }
        match id.cmp(&self.last_id) {
            std::cmp::Ordering::Equal => return added,
            std::cmp::Ordering::Greater => return ENTRIES_READ_UNKNOWN,
            std::cmp::Ordering::Less => {}
        }
        let first = self.first_id();
        if self.max_deleted.is_zero() || self.max_deleted < first {
            match id.cmp(&first) {
                std::cmp::Ordering::Less => return added - self.len as i64,
                std::cmp::Ordering::Equal => return added - self.len as i64 + 1,
                std::cmp::Ordering::Greater => {}
            }
        }
        ENTRIES_READ_UNKNOWN
    }

    /// A group's lag (XINFO GROUPS), None when it cannot be known.
    pub(crate) fn lag(&self, g: &Group) -> Option<i64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if g.entries_read != ENTRIES_READ_UNKNOWN && !self.range_has_tombstones(g.last_id, StreamId::MAX) {
            return Some(self.entries_added as i64 - g.entries_read);
        }
        let read = self.estimate_entries_read(g.last_id);
        (read != ENTRIES_READ_UNKNOWN).then(|| self.entries_added as i64 - read)
    }

    /// The nodes (for snapshots).
    pub(crate) fn nodes(&self) -> &BTreeMap<StreamId, NodeInfo> {
        &self.nodes
    }

    /// Rebuild from a snapshot's parts (entries as `Fields` blocks, nodes without their
    /// data); None when they are inconsistent. The nodes' `valid` counts and packed entries
    /// are rebuilt from the entries (every node must hold at least one).
    pub(crate) fn from_parts(
        entries: BTreeMap<StreamId, Fields>,
        mut nodes: BTreeMap<StreamId, NodeInfo>,
        last_id: StreamId,
        max_deleted: StreamId,
        entries_added: u64,
        groups: BTreeMap<Box<[u8]>, Group>,
    ) -> Option<StreamValue> {
        for n in nodes.values_mut() {
            n.valid = 0;
            n.data.clear();
        }
        for (id, fields) in &entries {
            let (mid, node) = nodes.range_mut(..=*id).next_back()?;
            if *id > node.last_id {
                return None;
            }
            let items: Vec<&[u8]> = fields.items().collect();
            let same = node.master_fields.names().eq(items.iter().step_by(2).copied());
            pack_entry(&mut node.data, *id, *mid, &items, same);
            node.valid += 1;
        }
        if nodes.values().any(|n| n.valid == 0) || entries.keys().next_back().is_some_and(|l| *l > last_id) {
            return None;
        }
        for n in nodes.values_mut() {
            n.data.shrink_to_fit();
        }
        for g in groups.values() {
            let mut n = 0;
            for (name, c) in &g.consumers {
                for id in &c.pel {
                    if g.pel.get(id).map(|nack| &nack.consumer) != Some(name) {
                        return None;
                    }
                    n += 1;
                }
            }
            if n != g.pel.len() {
                return None;
            }
        }
        let mut s = StreamValue { nodes, len: entries.len(), last_id, max_deleted, entries_added, groups, mem: 0 };
        s.mem = s.recount_mem();
        Some(s)
    }

    fn recount_mem(&self) -> usize {
        let nodes: usize = self.nodes.values().map(node_mem).sum();
        let groups: usize = self.groups.iter().map(|(k, g)| GROUP_COST + heap_cost(k.len()) + group_mem(g)).sum();
        nodes + groups
    }
}

/// The byte range of entry `id` packed in `node` (master `master`), if it is there.
fn find_packed(node: &NodeInfo, master: StreamId, id: StreamId) -> Option<(usize, usize)> {
    let mut at = 0;
    while at < node.data.len() {
        let start = at;
        let (eid, _) = unpack_entry(node, master, &mut at);
        if eid == id {
            return Some((start, at));
        }
        if eid > id {
            return None;
        }
    }
    None
}

/// Mutable access to one group (see `StreamValue::with_group`). Consumers and pending
/// entries change only through its methods, which count the memory they add and free.
pub(crate) struct GroupEdit<'a> {
    pub(crate) group: &'a mut Group,
    grown: usize,
    shrunk: usize,
}

impl GroupEdit<'_> {
    /// The consumer `name`, created when absent (true in the second field when it was).
    pub(crate) fn consumer(&mut self, name: &[u8], now: i64) -> (&mut Consumer, bool) {
        let created = !self.group.consumers.contains_key(name);
        if created {
            self.grown += CONSUMER_COST + heap_cost(name.len());
        }
        let c = self.group.consumers.entry(name.into()).or_insert_with(|| Consumer { seen_time: now, pel: BTreeSet::new() });
        (c, created)
    }

    /// Give pending entry `id` to `consumer` (which exists), creating the NACK when absent
    /// (delivered once); returns it.
    pub(crate) fn assign(&mut self, id: StreamId, consumer: &[u8]) -> &mut Nack {
        let g = &mut *self.group;
        let prev = g.pel.get(&id).map(|n| n.consumer.clone());
        match prev {
            Some(p) if *p == *consumer => {}
            Some(p) => {
                if let Some(c) = g.consumers.get_mut(&p) {
                    c.pel.remove(&id);
                }
                self.shrunk += heap_cost(p.len());
                self.grown += heap_cost(consumer.len());
                g.consumers.get_mut(consumer).expect("consumer exists").pel.insert(id);
                g.pel.get_mut(&id).expect("nack").consumer = consumer.into();
            }
            None => {
                self.grown += NACK_COST + heap_cost(consumer.len());
                g.consumers.get_mut(consumer).expect("consumer exists").pel.insert(id);
                // As `streamCreateNACK`: one delivery (XCLAIM ... FORCE then counts one more).
                g.pel.insert(id, Nack { consumer: consumer.into(), delivery_time: 0, delivery_count: 1 });
            }
        }
        g.pel.get_mut(&id).expect("nack")
    }

    /// Remove pending entry `id` (XACK, or a claim of a deleted entry): true when it was there.
    pub(crate) fn ack(&mut self, id: StreamId) -> bool {
        let Some(n) = self.group.pel.remove(&id) else { return false };
        self.shrunk += NACK_COST + heap_cost(n.consumer.len());
        if let Some(c) = self.group.consumers.get_mut(&n.consumer) {
            c.pel.remove(&id);
        }
        true
    }

    /// XGROUP DELCONSUMER: the consumer's pending count, its entries leave the group's PEL.
    pub(crate) fn delete_consumer(&mut self, name: &[u8]) -> Option<usize> {
        let c = self.group.consumers.remove(name)?;
        self.shrunk += CONSUMER_COST + heap_cost(name.len());
        for id in &c.pel {
            self.group.pel.remove(id);
            self.shrunk += NACK_COST + heap_cost(name.len());
        }
        Some(c.pel.len())
    }
}

/// Heap bytes of a group's PEL and consumers.
fn group_mem(g: &Group) -> usize {
    let consumers: usize = g.consumers.keys().map(|k| CONSUMER_COST + heap_cost(k.len())).sum();
    let pel: usize = g.pel.values().map(|n| NACK_COST + heap_cost(n.consumer.len())).sum();
    consumers + pel
}

// ---- Redis listpack sizes ----

/// Bytes of a listpack element's back-length for an encoded size `l`.
fn lp_backlen(l: u64) -> u64 {
    match l {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2097150 => 3,
        2097151..=268435454 => 4,
        _ => 5,
    }
}

/// Listpack bytes of integer `v`, back-length included.
fn lp_int(v: i64) -> u64 {
    let enc = match v {
        0..=127 => 1,
        -4096..=4095 => 2,
        -32768..=32767 => 3,
        -8388608..=8388607 => 4,
        -2147483648..=2147483647 => 5,
        _ => 9,
    };
    enc + lp_backlen(enc)
}

/// Listpack bytes of string `s` (stored as an integer when it reads as one, as `lpAppend` does).
fn lp_str(s: &[u8]) -> u64 {
    if s.len() < 21 {
        if let Some(v) = crate::util::num::parse_i64_strict(s) {
            return lp_int(v);
        }
    }
    let n = s.len() as u64;
    let enc = if n < 64 {
        1 + n
    } else if n < 4096 {
        2 + n
    } else {
        5 + n
    };
    enc + lp_backlen(enc)
}

/// `lpBytes` of a node: header and terminator, master entry, entries.
fn node_lp_bytes(n: &NodeInfo) -> u64 {
    let names = n.master_fields.names();
    let mut master = lp_int(n.valid as i64) + lp_int(n.deleted as i64) + lp_int(n.master_fields.pair_count() as i64) + lp_int(0);
    for name in names {
        master += lp_str(name);
    }
    6 + 1 + master + n.entries_bytes
}

/// Listpack bytes of one entry appended to the node of master `master`.
fn entry_lp_bytes<T: AsRef<[u8]>>(id: StreamId, master: StreamId, items: &[T], same_fields: bool) -> u64 {
    let flags = if same_fields { 2 } else { 0 };
    let pairs = items.len() as i64 / 2;
    let mut n = lp_int(flags) + lp_int(id.ms.wrapping_sub(master.ms) as i64) + lp_int(id.seq.wrapping_sub(master.seq) as i64);
    if !same_fields {
        n += lp_int(pairs);
    }
    for (i, item) in items.iter().enumerate() {
        if same_fields && i % 2 == 0 {
            continue;
        }
        n += lp_str(item.as_ref());
    }
    let lp_count = if same_fields { pairs + 3 } else { 3 * pairs + 4 };
    n + lp_int(lp_count)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add(s: &mut StreamValue, ms: u64, items: &[&str]) {
        s.append(StreamId::new(ms, 0), items, NodeLimits::default());
    }

    #[test]
    fn ids_step_across_their_parts() {
        assert_eq!(StreamId::new(1, u64::MAX).next(), Some(StreamId::new(2, 0)));
        assert_eq!(StreamId::MAX.next(), None);
        assert_eq!(StreamId::new(2, 0).prev(), Some(StreamId::new(1, u64::MAX)));
        assert_eq!(StreamId::MIN.prev(), None);
        assert_eq!(StreamId::new(5, 7).to_bytes(), b"5-7");
    }

    #[test]
    fn fields_round_trip() {
        let f = Fields::encode(&["a", "1", "", "xyz"]);
        assert_eq!(f.items().collect::<Vec<_>>(), [&b"a"[..], b"1", b"", b"xyz"]);
        assert_eq!(Fields::from_bytes(f.as_bytes()), Some(f.clone()));
        assert_eq!(Fields::from_bytes(&f.as_bytes()[..5]), None);
        assert_eq!(Fields::from_bytes(b""), None);
    }

    #[test]
    fn nodes_close_at_the_entry_limit_counting_deleted_entries() {
        let mut s = StreamValue::default();
        for ms in 1..=100 {
            add(&mut s, ms, &["f", "v"]);
        }
        assert_eq!(s.node_count(), 1);
        add(&mut s, 101, &["f", "v"]);
        assert_eq!(s.node_count(), 2);
        let mut s = StreamValue::default();
        for ms in 1..=100 {
            add(&mut s, ms, &["f", "v"]);
        }
        assert!(s.delete(StreamId::new(1, 0)));
        add(&mut s, 200, &["f", "v"]);
        assert_eq!(s.node_count(), 2, "deleted entries still fill a node");
    }

    #[test]
    fn approximate_trim_removes_whole_nodes_only() {
        let mut s = StreamValue::default();
        for ms in 1..=250 {
            add(&mut s, ms, &["f", "v"]);
        }
        assert_eq!(s.node_count(), 3);
        assert_eq!(s.trim(Trim::MaxLen(120), true, 0), 100);
        assert_eq!(s.len(), 150);
        assert_eq!(s.trim(Trim::MaxLen(120), false, 0), 30);
        assert_eq!(s.len(), 120);
        assert_eq!(s.first_id(), StreamId::new(131, 0));
        assert_eq!(s.trim(Trim::MinId(StreamId::new(201, 0)), false, 0), 70);
        assert_eq!(s.first_id(), StreamId::new(201, 0));
        assert_eq!(s.node_count(), 1);
    }

    #[test]
    fn deleting_a_nodes_last_entry_removes_the_node() {
        let mut s = StreamValue::default();
        add(&mut s, 1, &["f", "v"]);
        add(&mut s, 2, &["f", "v"]);
        assert!(s.delete(StreamId::new(1, 0)));
        assert!(!s.delete(StreamId::new(1, 0)));
        assert!(s.delete(StreamId::new(2, 0)));
        assert_eq!((s.len(), s.node_count(), s.max_deleted), (0, 0, StreamId::new(2, 0)));
        assert_eq!(s.mem_usage(), 0);
    }

    #[test]
    fn memory_follows_changes() {
        let mut s = StreamValue::default();
        for ms in 1..=300 {
            add(&mut s, ms, &["field", "value value value"]);
        }
        s.create_group(b"g", StreamId::MIN, 0);
        s.with_group(b"g", |g| {
            g.consumer(b"c", 0);
            for ms in 1..=10 {
                g.assign(StreamId::new(ms, 0), b"c");
            }
        });
        assert_eq!(s.mem_usage(), s.recount_mem());
        s.trim(Trim::MaxLen(7), false, 0);
        s.delete(StreamId::new(299, 0));
        s.with_group(b"g", |g| g.ack(StreamId::new(3, 0)));
        assert_eq!(s.mem_usage(), s.recount_mem());
        s.destroy_group(b"g");
        assert_eq!(s.mem_usage(), s.recount_mem());
    }

    #[test]
    fn listpack_sizes_follow_redis_encodings() {
        assert_eq!(lp_int(0), 2);
        assert_eq!(lp_int(127), 2);
        assert_eq!(lp_int(128), 3);
        assert_eq!(lp_int(-1), 3);
        assert_eq!(lp_int(40000), 5);
        assert_eq!(lp_int(i64::MAX), 10);
        assert_eq!(lp_str(b"v"), 3);
        assert_eq!(lp_str(b"12"), 2);
        assert_eq!(lp_str(b"012"), 5);
        assert_eq!(lp_str(&[b'x'; 100]), 103);
    }
}
