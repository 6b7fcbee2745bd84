//! INTERFACE SKELETON (replaced by the expr helper): aggregation expressions.
use bson::{Bson, Document};

use super::DocError;

/// Variables an expression sees: `$$NOW`, `$$ROOT`/`$$CURRENT` (the document), and user
/// variables from `let` (evaluated once per command).
#[derive(Clone, Debug)]
pub struct Variables {
    pub now: bson::DateTime,
    pub user: Vec<(String, Bson)>,
}

impl Variables {
    /// `$$NOW` = `now`, no user variables.
    pub fn new(now: bson::DateTime) -> Self {
        Variables { now, user: Vec::new() }
    }
    /// With the command's `let` document: each value is an expression evaluated once (against
    /// an empty document), and becomes `$$name`. Names must start with a lowercase letter.
    pub fn with_let(now: bson::DateTime, let_vars: &Document) -> Result<Self, DocError> {
        let _ = let_vars;
        Ok(Self::new(now))
    }
}

/// A parsed expression.
#[derive(Clone, Debug)]
pub struct Expr {}

impl Expr {
    /// Parse an expression: a literal, a `"$field.path"`, a `"$$var"`, an operator document
    /// (`{$add: [...]}`) or a document/array of expressions.
    pub fn parse(spec: &Bson) -> Result<Expr, DocError> {
        let _ = spec;
        Err(DocError::new(238, "NotImplemented", "expr skeleton"))
    }
    /// Evaluate against `root` (`$$ROOT`/`$$CURRENT`). None = the value is missing.
    pub fn eval(&self, root: &Document, vars: &Variables) -> Result<Option<Bson>, DocError> {
        let _ = (root, vars);
        Ok(None)
    }
}

/// Aggregation truthiness: false, null, undefined, 0 and missing are false.
pub fn truthy(v: Option<&Bson>) -> bool {
    !matches!(v, None | Some(Bson::Boolean(false) | Bson::Null | Bson::Undefined))
}
