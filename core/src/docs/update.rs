//! INTERFACE SKELETON (replaced by the update helper): update operators and pipelines.
use bson::{Bson, Document};

use super::expr::Variables;
use super::DocError;

/// A parsed update: operators, a replacement document, or a pipeline.
#[derive(Clone, Debug)]
pub struct Update {}

impl Update {
    /// Parse `spec`: a document of update operators, a replacement document (no `$` keys), or
    /// an array (an update pipeline). `array_filters` are the `arrayFilters` option.
    pub fn parse(spec: &Bson, array_filters: &[Document], vars: &Variables) -> Result<Update, DocError> {
        let _ = (spec, array_filters, vars);
        Err(DocError::new(238, "NotImplemented", "update skeleton"))
    }
    /// A replacement document (replace_one), not operators.
    pub fn is_replacement(&self) -> bool {
        false
    }
    /// Whether the update uses the positional `$` (the caller then passes the match position).
    pub fn uses_positional(&self) -> bool {
        false
    }
    /// Apply to `doc`. `position`: the query's matched array index for `$`; `inserting`: the
    /// document is being created by an upsert (`$setOnInsert` applies). Returns whether the
    /// document changed. Changing `_id` is error 66 (ImmutableField); nothing is changed on error.
    pub fn apply(&self, doc: &mut Document, position: Option<usize>, inserting: bool) -> Result<bool, DocError> {
        let _ = (doc, position, inserting);
        Ok(false)
    }
}
