//! INTERFACE SKELETON (replaced by the projection helper): find projections.
use bson::Document;

use super::expr::Variables;
use super::query::Filter;
use super::DocError;

/// A parsed projection.
#[derive(Clone, Debug)]
pub struct Projection {}

impl Projection {
    pub fn parse(spec: &Document, vars: &Variables) -> Result<Projection, DocError> {
        let _ = (spec, vars);
        Ok(Projection {})
    }
    /// Project `doc`; `filter` is the query (for the positional `$` projection).
    pub fn apply(&self, doc: &Document, filter: Option<&Filter>) -> Result<Document, DocError> {
        let _ = filter;
        Ok(doc.clone())
    }
}
