//! INTERFACE SKELETON (replaced by the expr helper): aggregation pipeline stages.
use bson::{Bson, Document};

use super::expr::Variables;
use super::DocError;

/// A parsed pipeline.
#[derive(Clone, Debug)]
pub struct Pipeline {}

impl Pipeline {
    /// Parse a pipeline (an array of one-key stage documents).
    pub fn parse(stages: &[Bson], vars: &Variables) -> Result<Pipeline, DocError> {
        let _ = (stages, vars);
        Err(DocError::new(238, "NotImplemented", "aggregate skeleton"))
    }
    /// Run over `input` documents.
    pub fn run(&self, input: Box<dyn Iterator<Item = Document> + '_>) -> Result<Vec<Document>, DocError> {
        let _ = input;
        Ok(Vec::new())
    }
}
