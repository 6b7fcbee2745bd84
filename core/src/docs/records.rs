//! A collection's documents by record id: a page table whose pages hold their documents'
//! bytes back to back.
//!
//! Record ids are assigned in increasing order and never reused (a batch insert may take back
//! the ids it just gave before anyone saw them: `Collection::insert_run`), so an id maps straight to a
//! page of `PAGE` slots and a slot in it: a lookup is two array reads, where a B-tree keyed by
//! id descends five or six levels at a million documents. Order is id order, so
//! natural-order scans and cursors that resume from an id work as with an ordered map.
//!
//! Why the bytes live in the page and not in a heap block per document: a scan then reads
//! memory in order (runs of ~35 KiB instead of 64 blocks wherever the allocator put them; the
//! same 1M-document scan ran 1.5x faster or slower with the heap's history alone), and a
//! document costs its length, with no block header or size-class rounding. Scans take the
//! documents as byte slices (`spans_from`): making a `&RawDocument` reads its length header,
//! which must wait until the scan's prefetch of it (`engine::scan_matching`).
//!
//! Invariants:
//! - `pages[i]` covers ids `base + i * PAGE ..  base + (i + 1) * PAGE`; `base` is a multiple of
//!   `PAGE`;
//! - a page with no document is freed (`None`), and neither end of `pages` is a freed page;
//! - a slot's `Span` (length 0: empty) is a whole valid BSON document inside its page's
//!   `bytes`; spans do not overlap; the page's `dead` bytes are those no span covers, and a
//!   page compacts when they pass half of it;
//! - `len` counts documents, each page's `live` its own; `slack` is the sum over pages of
//!   `bytes.capacity()` minus the live documents' bytes (what `overhead` adds to them).

use std::collections::VecDeque;

use bson::{RawDocument, RawDocumentBuf};

/// Slots per page.
const PAGE: usize = 64;

/// The most a new page reserves up front (its documents can be larger: it then grows).
const PAGE_RESERVE_MAX: usize = 256 * 1024;

/// Where a slot's document is in its page's bytes (`len` 0: no document).
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
struct Span {
    start: u32,
    len: u32,
}

#[derive(Clone)]
struct Page {
    live: usize,
    /// Bytes no live document covers (removed or replaced documents' old bytes).
    dead: usize,
    bytes: Vec<u8>,
    spans: [Span; PAGE],
}

impl Page {
    fn new() -> Box<Page> {
        Box::new(Page { live: 0, dead: 0, bytes: Vec::new(), spans: [Span::default(); PAGE] })
    }

    /// The bytes of the document in `slot`, if any.
    fn span(&self, slot: usize) -> Option<&[u8]> {
        let Span { start, len } = self.spans[slot];
        (len > 0).then(|| &self.bytes[start as usize..(start + len) as usize])
    }

    fn doc(&self, slot: usize) -> Option<&RawDocument> {
        self.span(slot).map(as_document)
    }

    /// Append `doc`'s bytes, returning their span; `filling` when it is a new slot's (an
    /// insert in id order), not a replacement's.
    fn push(&mut self, doc: &[u8], filling: bool) -> Span {
        let start = self.bytes.len();
        if self.bytes.capacity() - start < doc.len() {
            // A page's first document gets an exact fit (a collection of one document costs
            // its size); the second reserves room for a page of documents like it (one more
            // allocation per page when sizes are alike; the last slot's insert gives back what
            // is left); after that a full page grows by half, not double.
            let want = match (filling, self.live) {
                (true, 0) => doc.len(),
                (true, 1) => doc.len().saturating_mul(PAGE - 1).min(PAGE_RESERVE_MAX),
                _ => self.bytes.capacity() / 2,
            };
            self.bytes.reserve_exact(want.max(doc.len()));
        }
        self.bytes.extend_from_slice(doc);
        Span { start: u32::try_from(start).expect("a page holds under 4 GiB"), len: doc.len() as u32 }
    }

    /// Rewrite `bytes` with only the live documents, in slot order, at their exact size.
    fn compact(&mut self) {
        let live_bytes = self.bytes.len() - self.dead;
        let mut bytes = Vec::with_capacity(live_bytes);
        for span in self.spans.iter_mut().filter(|s| s.len > 0) {
            let start = bytes.len() as u32;
            bytes.extend_from_slice(&self.bytes[span.start as usize..(span.start + span.len) as usize]);
            span.start = start;
        }
        self.bytes = bytes;
        self.dead = 0;
    }
}

/// A stored span as a document (spans hold whole documents: see the invariants).
fn as_document(bytes: &[u8]) -> &RawDocument {
    RawDocument::from_bytes(bytes).expect("a page's spans hold whole documents")
}

/// Documents by record id (see the module comment).
#[derive(Clone, Default)]
pub struct Records {
    base: u64,
    pages: VecDeque<Option<Box<Page>>>,
    len: usize,
    /// Pages allocated (the `Some`s of `pages`).
    allocated: usize,
    /// Page bytes allocated and not holding a live document (see the invariants).
    slack: usize,
}

impl Records {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes the pages take beyond the live documents' own bytes.
    pub fn overhead(&self) -> usize {
        self.allocated * std::mem::size_of::<Page>() + self.pages.len() * std::mem::size_of::<Option<Box<Page>>>() + self.slack
    }

    fn locate(&self, rid: u64) -> Option<(usize, usize)> {
        let offset = usize::try_from(rid.checked_sub(self.base)?).ok()?;
        Some((offset / PAGE, offset % PAGE))
    }

    pub fn get(&self, rid: u64) -> Option<&RawDocument> {
        let (page, slot) = self.locate(rid)?;
        self.pages.get(page)?.as_ref()?.doc(slot)
    }

    /// Run `f` on the bytes of the document at `rid` (it may change them in place, keeping the
    /// document's length and validity); None if there is no such document.
    pub fn update_in_place<R>(&mut self, rid: u64, f: impl FnOnce(&mut [u8]) -> R) -> Option<R> {
        let (page, slot) = self.locate(rid)?;
        let p = self.pages.get_mut(page)?.as_mut()?;
        let Span { start, len } = p.spans[slot];
        if len == 0 {
            return None;
        }
        Some(f(&mut p.bytes[start as usize..(start + len) as usize]))
    }

    /// Replace the document at `rid`, returning the one it replaced (None, and nothing
    /// stored, if there is none).
    pub fn replace(&mut self, rid: u64, doc: &RawDocument) -> Option<RawDocumentBuf> {
        let (page, slot) = self.locate(rid)?;
        let p = self.pages.get_mut(page)?.as_mut()?;
        let old = p.doc(slot)?.to_owned();
        let span = p.spans[slot];
        let new = doc.as_bytes();
        if new.len() == span.len as usize {
            p.bytes[span.start as usize..(span.start + span.len) as usize].copy_from_slice(new);
            return Some(old);
        }
        let before = p.bytes.capacity();
        p.spans[slot] = p.push(new, false);
        p.dead += span.len as usize;
        if p.dead > p.bytes.len() / 2 {
            p.compact();
        }
        self.slack = self.slack + p.bytes.capacity() + span.len as usize - before - new.len();
        Some(old)
    }

    /// Store `doc` at `rid`, which must be above every id stored so far; returns the document
    /// it replaced (None in that case).
    pub fn insert(&mut self, rid: u64, doc: &RawDocument) -> Option<RawDocumentBuf> {
        if self.get(rid).is_some() {
            return self.replace(rid, doc);
        }
        if self.pages.is_empty() {
            self.base = rid - rid % PAGE as u64;
        }
        if rid < self.base {
            // Below every page (only if ids were not increasing): make room at the front.
            let start = rid - rid % PAGE as u64;
            for _ in 0..(self.base - start) / PAGE as u64 {
                self.pages.push_front(None);
            }
            self.base = start;
        }
        let (page, slot) = self.locate(rid).expect("rid is at or above base");
        if page >= self.pages.len() {
            self.pages.resize_with(page + 1, || None);
        }
        let p = self.pages[page].get_or_insert_with(|| {
            self.allocated += 1;
            Page::new()
        });
        let before = p.bytes.capacity();
        p.spans[slot] = p.push(doc.as_bytes(), true);
        p.live += 1;
        if slot == PAGE - 1 && p.bytes.capacity() > p.bytes.len() {
            p.bytes.shrink_to_fit();
        }
        self.slack = self.slack + p.bytes.capacity() - before - doc.as_bytes().len();
        self.len += 1;
        None
    }

    pub fn remove(&mut self, rid: u64) -> Option<RawDocumentBuf> {
        let (page, slot) = self.locate(rid)?;
        let p = self.pages.get_mut(page)?.as_mut()?;
        let doc = p.doc(slot)?.to_owned();
        let span = std::mem::take(&mut p.spans[slot]);
        p.live -= 1;
        if (span.start + span.len) as usize == p.bytes.len() {
            // The page's newest bytes (an insert taken back): no dead bytes left behind.
            p.bytes.truncate(span.start as usize);
        } else {
            p.dead += span.len as usize;
        }
        self.len -= 1;
        if p.live == 0 {
            self.slack -= p.bytes.capacity() - span.len as usize;
            self.pages[page] = None;
            self.allocated -= 1;
            while matches!(self.pages.front(), Some(None)) {
                self.pages.pop_front();
                self.base += PAGE as u64;
            }
            while matches!(self.pages.back(), Some(None)) {
                self.pages.pop_back();
            }
        } else {
            let before = p.bytes.capacity();
            if p.dead > p.bytes.len() / 2 {
                p.compact();
            }
            self.slack = self.slack + span.len as usize + p.bytes.capacity() - before;
        }
        Some(doc)
    }

    pub fn clear(&mut self) {
        self.pages.clear();
        self.len = 0;
        self.allocated = 0;
        self.slack = 0;
    }

    /// Every document with its id, in id order (reversible).
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (u64, &RawDocument)> + '_ {
        self.spans_of_pages(0).map(|(rid, bytes)| (rid, as_document(bytes)))
    }

    /// Documents with ids at or above `from`, in id order.
    pub fn iter_from(&self, from: u64) -> impl Iterator<Item = (u64, &RawDocument)> + '_ {
        self.spans_from(from).map(|(rid, bytes)| (rid, as_document(bytes)))
    }

    /// The bytes of the documents with ids at or above `from`, in id order, not yet read (a
    /// scan prefetches them before it makes `&RawDocument`s of them).
    pub fn spans_from(&self, from: u64) -> impl Iterator<Item = (u64, &[u8])> + '_ {
        let first_page = from.saturating_sub(self.base) / PAGE as u64;
        let first_page = usize::try_from(first_page).unwrap_or(usize::MAX).min(self.pages.len());
        self.spans_of_pages(first_page).filter(move |(rid, _)| *rid >= from)
    }

    /// The documents' ids and bytes from page `first_page` on, in id order.
    fn spans_of_pages(&self, first_page: usize) -> impl DoubleEndedIterator<Item = (u64, &[u8])> + '_ {
        let base = self.base;
        self.pages.range(first_page..).enumerate().flat_map(move |(i, page)| {
            let page_base = base + ((first_page + i) * PAGE) as u64;
            page.iter().flat_map(move |p| (0..PAGE).filter_map(move |s| Some((page_base + s as u64, p.span(s)?))))
        })
    }

    /// The lowest and highest ids stored.
    pub fn bounds(&self) -> Option<(u64, u64)> {
        let mut it = self.iter();
        let first = it.next()?.0;
        Some((first, it.next_back().map_or(first, |(r, _)| r)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn doc(n: u64) -> RawDocumentBuf {
        RawDocumentBuf::try_from(&bson::doc! {"_id": n as i64, "pad": "x".repeat((n % 7) as usize * 9)}).unwrap()
    }

    #[derive(Clone, Debug)]
    enum Op {
        Insert,
        Remove(u64),
        Replace(u64),
        Clear,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => Just(Op::Insert),
            4 => (0u64..400).prop_map(Op::Remove),
            1 => (0u64..400).prop_map(Op::Replace),
            1 => Just(Op::Clear),
        ]
    }

    proptest! {
        /// The page table behaves as an ordered map from id to document under increasing
        /// inserts, removals anywhere, replacements and clears, and gives freed pages back.
        #[test]
        fn behaves_as_an_ordered_map(start in 0u64..200, ops in prop::collection::vec(op(), 1..600)) {
            let mut model: BTreeMap<u64, RawDocumentBuf> = BTreeMap::new();
            let mut r = Records::default();
            let mut next = start;
            for op in ops {
                match op {
                    Op::Insert => {
                        prop_assert!(r.insert(next, &doc(next)).is_none());
                        model.insert(next, doc(next));
                        next += 1 + next % 3;
                    }
                    Op::Remove(k) => prop_assert_eq!(r.remove(start + k), model.remove(&(start + k))),
                    Op::Replace(k) => {
                        let new = doc(start + k + 1000 + next % 5);
                        let old = r.replace(start + k, &new);
                        prop_assert_eq!(&old, &model.get(&(start + k)).cloned());
                        if old.is_some() {
                            model.insert(start + k, new);
                        }
                    }
                    Op::Clear => {
                        r.clear();
                        model.clear();
                    }
                }
                prop_assert_eq!(r.len(), model.len());
                let got: Vec<(u64, &RawDocument)> = r.iter().collect();
                let want: Vec<(u64, &RawDocument)> = model.iter().map(|(k, v)| (*k, v.as_ref())).collect();
                prop_assert_eq!(&got, &want);
                let rev: Vec<u64> = r.iter().rev().map(|(k, _)| k).collect();
                prop_assert_eq!(rev, model.keys().rev().copied().collect::<Vec<_>>());
                prop_assert_eq!(r.bounds(), model.keys().next().map(|f| (*f, *model.keys().next_back().unwrap())));
                let pages = r.pages.iter().flatten().count();
                prop_assert_eq!(pages, r.allocated);
                prop_assert!(pages <= model.len(), "{} pages for {} documents", pages, model.len());
                prop_assert!(!matches!(r.pages.front(), Some(None)) && !matches!(r.pages.back(), Some(None)));
                let capacity: usize = r.pages.iter().flatten().map(|p| p.bytes.capacity()).sum();
                let live: usize = model.values().map(|d| d.as_bytes().len()).sum();
                prop_assert_eq!(r.slack, capacity - live);
            }
            for from in [0, start, start + 7, start + 64, start + 130, next, next + 100] {
                let got: Vec<u64> = r.iter_from(from).map(|(k, _)| k).collect();
                prop_assert_eq!(got, model.range(from..).map(|(k, _)| *k).collect::<Vec<_>>());
                let spans: Vec<(u64, &[u8])> = r.spans_from(from).collect();
                prop_assert_eq!(spans, model.range(from..).map(|(k, d)| (*k, d.as_bytes())).collect::<Vec<_>>());
            }
            for k in 0..next + 3 {
                prop_assert_eq!(r.get(k), model.get(&k).map(|d| d.as_ref()));
            }
        }
    }

    #[test]
    fn a_lone_document_costs_its_size_as_it_grows() {
        let mut r = Records::default();
        let sized = |n: usize| RawDocumentBuf::try_from(&bson::doc! {"_id": 1, "log": "x".repeat(n)}).unwrap();
        r.insert(0, &sized(1_000));
        assert_eq!(r.slack, 0, "the first document fits exactly");
        for n in (1_100..20_000).step_by(700) {
            r.replace(0, &sized(n));
            let live = sized(n).as_bytes().len();
            assert!(r.slack <= 2 * live, "{} slack for {live} bytes", r.slack);
        }
    }

    #[test]
    fn deleting_old_documents_frees_their_pages() {
        let mut r = Records::default();
        for i in 0..10_000 {
            r.insert(i, &doc(i));
        }
        let full = r.overhead();
        for i in 0..9_900 {
            r.remove(i);
        }
        assert!(r.overhead() * 10 < full, "{} of {full}", r.overhead());
        for i in 9_900..10_000 {
            r.remove(i);
        }
        assert_eq!((r.len(), r.overhead()), (0, 0));
        r.insert(5_000_000, &doc(1));
        assert_eq!(r.iter().map(|(k, _)| k).collect::<Vec<_>>(), vec![5_000_000]);
    }
}
