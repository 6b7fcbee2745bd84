//! INTERFACE SKELETON (replaced by the query helper): the query language.
use bson::{Bson, Document};

use super::expr::Variables;
use super::DocError;

/// A parsed query filter.
#[derive(Clone, Debug)]
pub struct Filter {}

impl Filter {
    /// Parse `filter` (errors: unknown operator, bad `$regex` / `$type` / `$size` argument...).
    /// `vars` are the command's variables, for `$expr`.
    pub fn parse(filter: &Document, vars: &Variables) -> Result<Filter, DocError> {
        let _ = (filter, vars);
        Ok(Filter {})
    }
    /// Whether `doc` matches (Err only from `$expr` evaluation errors).
    pub fn matches(&self, doc: &Document) -> Result<bool, DocError> {
        let _ = doc;
        Ok(true)
    }
    /// For positional `$` (update and projection): the index, in the array the query
    /// traversed, of the element that made `doc` match. None when no array was traversed.
    pub fn match_position(&self, doc: &Document) -> Result<Option<usize>, DocError> {
        let _ = doc;
        Ok(None)
    }
    /// The value when the filter is exactly one `_id` equality on a scalar (`{_id: v}` or
    /// `{_id: {$eq: v}}`, v not a document, array, regex or null): the `_id` index fast path.
    pub fn id_equality(&self) -> Option<&Bson> {
        None
    }
    /// The document an upsert starts from: the filter's equality fields (implicit `$eq`,
    /// `$eq`, inside top-level `$and`), dotted paths made nested (`{"a.b": 1}` -> `{a: {b: 1}}`).
    pub fn equality_seed(&self) -> Result<Document, DocError> {
        Ok(Document::new())
    }
    /// Whether the filter matches every document (`{}`).
    pub fn is_empty(&self) -> bool {
        true
    }
}
