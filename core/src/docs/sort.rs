//! INTERFACE SKELETON (replaced by the projection/sort helper): sort specifications.
use std::cmp::Ordering;

use bson::{Bson, Document};

use super::DocError;

/// A parsed sort specification (`{a: 1, "b.c": -1}`).
#[derive(Clone, Debug)]
pub struct Sort {}

impl Sort {
    pub fn parse(spec: &Document) -> Result<Sort, DocError> {
        let _ = spec;
        Ok(Sort {})
    }
    /// The sort key of `doc` (one value per sort field; arrays give their min (ascending) or
    /// max (descending) element, missing is null), computed once per document.
    pub fn key(&self, doc: &Document) -> Vec<Bson> {
        let _ = doc;
        Vec::new()
    }
    /// Compare two keys made by `key`.
    pub fn compare_keys(&self, a: &[Bson], b: &[Bson]) -> Ordering {
        let _ = (a, b);
        Ordering::Equal
    }
}
