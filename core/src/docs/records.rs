//! A collection's documents by record id: a page table.
//!
//! Record ids are assigned in increasing order and never reused, so an id maps straight to a
//! page of `PAGE` slots and a slot in it: a lookup is two array reads, where a B-tree keyed by
//! id descends five or six levels at a million documents (a cache miss on most of them; an
//! index lookup then fetch paid that twice). Order is id order, so natural-order scans and
//! cursors that resume from an id work as with an ordered map.
//!
//! Invariants:
//! - `pages[i]` covers ids `base + i * PAGE ..  base + (i + 1) * PAGE`; `base` is a multiple of
//!   `PAGE`;
//! - a page with no document is freed (`None`), and neither end of `pages` is a freed page, so
//!   deleting old documents (sessions, queues) gives their pages back: the empty space left is
//!   at most the holes inside pages that still hold a document;
//! - `len` counts documents, and each page's `live` its own.

use std::collections::VecDeque;

use bson::RawDocumentBuf;

/// Slots per page.
const PAGE: usize = 64;

#[derive(Clone)]
struct Page {
    live: usize,
    slots: [Option<RawDocumentBuf>; PAGE],
}

impl Page {
    fn new() -> Box<Page> {
        Box::new(Page { live: 0, slots: std::array::from_fn(|_| None) })
    }
}

/// Documents by record id (see the module comment).
#[derive(Clone, Default)]
pub struct Records {
    base: u64,
    pages: VecDeque<Option<Box<Page>>>,
    len: usize,
    /// Pages allocated (the `Some`s of `pages`).
    allocated: usize,
}

impl Records {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes the pages take (not the documents' own bytes).
    pub fn overhead(&self) -> usize {
        self.allocated * std::mem::size_of::<Page>() + self.pages.len() * std::mem::size_of::<Option<Box<Page>>>()
    }

    fn locate(&self, rid: u64) -> Option<(usize, usize)> {
        let offset = usize::try_from(rid.checked_sub(self.base)?).ok()?;
        Some((offset / PAGE, offset % PAGE))
    }

    pub fn get(&self, rid: u64) -> Option<&RawDocumentBuf> {
        let (page, slot) = self.locate(rid)?;
        self.pages.get(page)?.as_ref()?.slots[slot].as_ref()
    }

    pub fn get_mut(&mut self, rid: u64) -> Option<&mut RawDocumentBuf> {
        let (page, slot) = self.locate(rid)?;
        self.pages.get_mut(page)?.as_mut()?.slots[slot].as_mut()
    }

    /// Store `doc` at `rid`, which must be above every id stored so far; returns the document
    /// it replaced (None in that case).
    pub fn insert(&mut self, rid: u64, doc: RawDocumentBuf) -> Option<RawDocumentBuf> {
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
        let old = p.slots[slot].replace(doc);
        if old.is_none() {
            p.live += 1;
            self.len += 1;
        }
        old
    }

    pub fn remove(&mut self, rid: u64) -> Option<RawDocumentBuf> {
        let (page, slot) = self.locate(rid)?;
        let p = self.pages.get_mut(page)?.as_mut()?;
        let doc = p.slots[slot].take()?;
        p.live -= 1;
        self.len -= 1;
        if p.live == 0 {
            self.pages[page] = None;
            self.allocated -= 1;
            while matches!(self.pages.front(), Some(None)) {
                self.pages.pop_front();
                self.base += PAGE as u64;
            }
            while matches!(self.pages.back(), Some(None)) {
                self.pages.pop_back();
            }
        }
        Some(doc)
    }

    pub fn clear(&mut self) {
        self.pages.clear();
        self.len = 0;
        self.allocated = 0;
    }

    /// Every document with its id, in id order (reversible).
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (u64, &RawDocumentBuf)> + '_ {
        self.pages_from(0)
    }

    /// Documents with ids at or above `from`, in id order.
    pub fn iter_from(&self, from: u64) -> impl Iterator<Item = (u64, &RawDocumentBuf)> + '_ {
        let first_page = from.saturating_sub(self.base) / PAGE as u64;
        let first_page = usize::try_from(first_page).unwrap_or(usize::MAX).min(self.pages.len());
        self.pages_from(first_page).filter(move |(rid, _)| *rid >= from)
    }

    fn pages_from(&self, first_page: usize) -> impl DoubleEndedIterator<Item = (u64, &RawDocumentBuf)> + '_ {
        let base = self.base;
        self.pages.range(first_page..).enumerate().flat_map(move |(i, page)| {
            let page_base = base + ((first_page + i) * PAGE) as u64;
            page.iter().flat_map(move |p| p.slots.iter().enumerate().filter_map(move |(s, d)| Some((page_base + s as u64, d.as_ref()?))))
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
        RawDocumentBuf::try_from(&bson::doc! {"_id": n as i64}).unwrap()
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
                        prop_assert!(r.insert(next, doc(next)).is_none());
                        model.insert(next, doc(next));
                        next += 1 + next % 3;
                    }
                    Op::Remove(k) => prop_assert_eq!(r.remove(start + k), model.remove(&(start + k))),
                    Op::Replace(k) => {
                        if let Some(slot) = r.get_mut(start + k) {
                            *slot = doc(start + k + 1000);
                            model.insert(start + k, doc(start + k + 1000));
                        }
                    }
                    Op::Clear => {
                        r.clear();
                        model.clear();
                    }
                }
                prop_assert_eq!(r.len(), model.len());
                let got: Vec<(u64, &RawDocumentBuf)> = r.iter().collect();
                let want: Vec<(u64, &RawDocumentBuf)> = model.iter().map(|(k, v)| (*k, v)).collect();
                prop_assert_eq!(&got, &want);
                let rev: Vec<u64> = r.iter().rev().map(|(k, _)| k).collect();
                prop_assert_eq!(rev, model.keys().rev().copied().collect::<Vec<_>>());
                prop_assert_eq!(r.bounds(), model.keys().next().map(|f| (*f, *model.keys().next_back().unwrap())));
                let pages = r.pages.iter().flatten().count();
                prop_assert_eq!(pages, r.allocated);
                prop_assert!(pages <= model.len(), "{} pages for {} documents", pages, model.len());
                prop_assert!(!matches!(r.pages.front(), Some(None)) && !matches!(r.pages.back(), Some(None)));
            }
            for from in [0, start, start + 7, start + 64, start + 130, next, next + 100] {
                let got: Vec<u64> = r.iter_from(from).map(|(k, _)| k).collect();
                prop_assert_eq!(got, model.range(from..).map(|(k, _)| *k).collect::<Vec<_>>());
            }
            for k in 0..next + 3 {
                prop_assert_eq!(r.get(k), model.get(&k));
            }
        }
    }

    #[test]
    fn deleting_old_documents_frees_their_pages() {
        let mut r = Records::default();
        for i in 0..10_000 {
            r.insert(i, doc(i));
        }
        let full = r.overhead();
        for i in 0..9_900 {
            r.remove(i);
        }
        assert!(r.overhead() * 50 < full, "{} of {full}", r.overhead());
        for i in 9_900..10_000 {
            r.remove(i);
        }
        assert_eq!((r.len(), r.overhead()), (0, 0));
        r.insert(5_000_000, doc(1));
        assert_eq!(r.iter().map(|(k, _)| k).collect::<Vec<_>>(), vec![5_000_000]);
    }
}
