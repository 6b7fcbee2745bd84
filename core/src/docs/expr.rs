//! Aggregation expressions (MongoDB's expression language): `$expr` in queries, update
//! pipelines, computed fields of `$project`/`$addFields`, and the command's `let` variables.
//!
//! An expression is parsed once (`Expr::parse`) into a tree of `Node`s and evaluated many
//! times (`Expr::eval`). Operators live in one table, `OPERATORS`: each entry is either an
//! argument operator (its arguments are evaluated first and handed to a plain function, with
//! the arity checked at parse time) or a special form with its own argument syntax (`$cond`,
//! `$let`, `$map`...). Adding an operator means adding one row there.
//!
//! Invariants and semantics:
//! - A value is `Option<Bson>`: `None` is *missing* (a field that is not there, `$$REMOVE`),
//!   distinct from `null`. Arithmetic on missing or null gives null; a document expression
//!   omits fields whose value is missing; an array expression turns missing into null.
//! - Comparisons (`$eq`, `$lt`, `$cmp`...) compare across types by BSON order
//!   (`value::compare`), with missing (and undefined) below null, as MongoDB's `Value` does.
//! - `"$a.b"` walks nested documents; crossing an array maps the rest of the path over the
//!   array's document elements (`"$orders.amount"` gives the array of amounts). Walking
//!   borrows from the document and clones only the final value (or the mapped array).
//! - Numbers: int32 results that overflow become int64, int64 overflow becomes double, any
//!   double makes a double, any decimal makes a decimal. Decimal128 arithmetic goes through
//!   doubles (the bson crate has none): operands are converted with `value::decimal_to_f64`
//!   and results back through a 15-significant-digit string, so decimal results carry at most
//!   double precision (MongoDB would keep 34 digits).
//! - Parsing is recursive and capped at `MAX_EXPR_DEPTH` levels (error, not stack overflow);
//!   evaluation depth follows the parsed tree, so it is bounded too.
//! - User variables (`let`) are evaluated once and shared behind an `Arc`, so `Variables` is
//!   cheap to clone into every compiled filter.
//! - As MongoDB's optimizer does, an argument operator whose arguments are all constants is
//!   evaluated at parse time (so `{$divide: [1, 0]}` fails before any document is read), and a
//!   `$switch` that can never match is refused at parse time (40069).
//! - Error codes and wordings follow mongod (several measured against 8.2, where they differ
//!   from the manual: `$getField`'s object form requires `input`, `$round` accepts precision in
//!   [-20, 100]). Doubles print as mongod's `%g`; values in messages as `Value::toString`.
//! - Dates are UTC; `timezone` accepts UTC aliases, fixed offsets (`+05:30`) and Olson names
//!   (`America/New_York`, through `jiff`: the system's tz database, or its bundled copy; an
//!   unknown name is 40485). Calendar operators (`$dateFromParts`, `$dateToParts`,
//!   `$dateTrunc`, `$dateAdd`/`$dateSubtract`, `$dateDiff`) work on the local time (the instant
//!   plus the zone's offset at that instant) and convert results back with the offset in
//!   force at the local time (`Tz::to_utc`).
//!   `$dateTrunc` bins count from 2000-01-01T00:00 local (weeks: the first `startOfWeek` on or
//!   after it), `$dateDiff` counts unit boundaries crossed, month arithmetic clamps the day.
//!   `$dateFromString` without `format` takes ISO-8601 forms only (not MongoDB's free-form
//!   "May 7 2017"); with `format`: `%Y %m %d %H %M %S %L %j %z %Z %%`.
//! - `$regexMatch`/`$regexFind`/`$regexFindAll` compile with the `regex` crate (linear time;
//!   PCRE-only syntax such as lookaround or backreferences is an invalid regex, 51111), cached
//!   per thread; `idx` counts code points as MongoDB does.
//! - `$rand` is never constant-folded.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::sync::Arc;

use bson::{Bson, Document};

use super::error::codes;
use super::value::{as_f64, as_i64, compare, decimal_to_f64, is_number, type_name};
use super::DocError;

/// How deeply expression specifications may nest before parsing fails.
pub const MAX_EXPR_DEPTH: usize = 200;

/// Variables an expression sees: `$$NOW`, `$$ROOT`/`$$CURRENT` (the document), and user
/// variables from `let` (evaluated once per command).
#[derive(Clone, Debug)]
pub struct Variables {
    /// The value of `$$NOW` (one instant for the whole command).
    pub now: bson::DateTime,
    /// `let` variables in definition order; None = bound to a missing value (`$$REMOVE`).
    user: Arc<Vec<(String, Option<Bson>)>>,
}

impl Variables {
    /// `$$NOW` = `now`, no user variables.
    pub fn new(now: bson::DateTime) -> Self {
        Variables { now, user: Arc::new(Vec::new()) }
    }

    /// With the command's `let` document: each value is an expression evaluated once (against
    /// an empty document), and becomes `$$name`. Names must start with a lowercase letter.
    pub fn with_let(now: bson::DateTime, let_vars: &Document) -> Result<Self, DocError> {
        let empty = Document::new();
        let mut vars = Self::new(now);
        for (name, spec) in let_vars {
            validate_variable_name(name)?;
            // Each value sees the variables defined before it.
            let value = Expr::parse(spec)?.eval(&empty, &vars)?;
            let user = Arc::make_mut(&mut vars.user);
            user.retain(|(n, _)| n != name);
            user.push((name.clone(), value));
        }
        Ok(vars)
    }

    /// These variables plus `bindings` (already evaluated; a later binding of a name shadows
    /// an earlier one). `$lookup`'s `let` binds the local document's values this way for its
    /// sub-pipeline.
    pub fn with_bindings(&self, bindings: impl IntoIterator<Item = (String, Option<Bson>)>) -> Self {
        let mut vars = self.clone();
        let user = Arc::make_mut(&mut vars.user);
        for (name, value) in bindings {
            user.retain(|(n, _)| *n != name);
            user.push((name, value));
        }
        vars
    }

    /// `$$NOW`.
    pub fn now(&self) -> bson::DateTime {
        self.now
    }

    /// The value of user variable `name` (from `let`), if defined.
    pub fn get(&self, name: &str) -> Option<&Bson> {
        self.lookup(name).flatten()
    }

    /// Some(value) when `name` is defined (the value may be missing), None when undefined.
    fn lookup(&self, name: &str) -> Option<Option<&Bson>> {
        self.user.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_ref())
    }
}

/// MongoDB's rule for user variable names: a lowercase ASCII letter or a non-ASCII character
/// first, then letters, digits, `_` or non-ASCII characters.
pub fn validate_variable_name(name: &str) -> Result<(), DocError> {
    let mut chars = name.chars();
    let Some(first) = chars.next() else {
        return Err(DocError::location(16866, "empty variable names are not allowed"));
    };
    if !first.is_ascii_lowercase() && first.is_ascii() {
        return Err(DocError::location(16867, format!("'{name}' starts with an invalid character for a user variable name")));
    }
    for c in chars {
        if !(c.is_ascii_alphanumeric() || c == '_' || !c.is_ascii()) {
            return Err(DocError::location(16868, format!("'{name}' contains an invalid character for a variable name: '{c}'")));
        }
    }
    Ok(())
}

/// A parsed expression.
#[derive(Clone, Debug)]
pub struct Expr {
    node: Node,
}

impl Expr {
    /// Parse an expression: a literal, a `"$field.path"`, a `"$$var"`, an operator document
    /// (`{$add: [...]}`) or a document/array of expressions.
    pub fn parse(spec: &Bson) -> Result<Expr, DocError> {
        Ok(Expr { node: parse_node(spec, 0)? })
    }

    /// Parse at nesting `depth` (for callers that themselves recurse, like `$project`).
    pub fn parse_at_depth(spec: &Bson, depth: usize) -> Result<Expr, DocError> {
        Ok(Expr { node: parse_node(spec, depth)? })
    }

    /// Evaluate against `root` (`$$ROOT`/`$$CURRENT`). None = the value is missing.
    pub fn eval(&self, root: &Document, vars: &Variables) -> Result<Option<Bson>, DocError> {
        let mut cx = Cx { root, current: root, vars, locals: Vec::new() };
        Ok(self.node.eval(&mut cx)?.map(Cow::into_owned))
    }

    /// Evaluate with `$$CURRENT` (and field paths) on `current`, a sub-document of `root`
    /// (`$$ROOT`), as `$redact` does while descending.
    pub fn eval_with_current(&self, root: &Document, current: &Document, vars: &Variables) -> Result<Option<Bson>, DocError> {
        let mut cx = Cx { root, current, vars, locals: Vec::new() };
        Ok(self.node.eval(&mut cx)?.map(Cow::into_owned))
    }

    /// The constant this expression always evaluates to, when it is a literal.
    pub fn as_constant(&self) -> Option<&Bson> {
        match &self.node {
            Node::Literal(v) => Some(v),
            _ => None,
        }
    }
}

/// Aggregation truthiness: false, null, undefined, 0 and missing are false.
pub fn truthy(v: Option<&Bson>) -> bool {
    match v {
        None | Some(Bson::Boolean(false) | Bson::Null | Bson::Undefined) => false,
        Some(Bson::Int32(i)) => *i != 0,
        Some(Bson::Int64(i)) => *i != 0,
        Some(Bson::Double(d)) => *d != 0.0,
        Some(Bson::Decimal128(d)) => decimal_to_f64(d) != 0.0,
        Some(_) => true,
    }
}

// --- The parsed tree ------------------------------------------------------------------------

/// A value during evaluation: borrowed from the document/expression when possible.
type Val<'a> = Option<Cow<'a, Bson>>;

#[derive(Clone, Debug)]
enum Node {
    Literal(Bson),
    /// `"$a.b"`: a path from `$$CURRENT`.
    Field(Vec<String>),
    /// `"$$name.a.b"` (ROOT, CURRENT, NOW, REMOVE or a user/local variable).
    Var(String, Vec<String>),
    Document(Vec<(String, Node)>),
    Array(Vec<Node>),
    /// An argument operator: the arguments are evaluated, then `eval` runs.
    Call(&'static str, EvalFn, Vec<Node>),
    And(Vec<Node>),
    Or(Vec<Node>),
    Cond(Box<[Node; 3]>),
    IfNull(Vec<Node>),
    Switch(Vec<(Node, Node)>, Option<Box<Node>>),
    Let(Vec<(String, Node)>, Box<Node>),
    Map {
        input: Box<Node>,
        name: String,
        body: Box<Node>,
    },
    Filter {
        input: Box<Node>,
        name: String,
        cond: Box<Node>,
        limit: Option<Box<Node>>,
    },
    Reduce {
        input: Box<Node>,
        initial: Box<Node>,
        body: Box<Node>,
    },
    GetField {
        field: Box<Node>,
        input: Option<Box<Node>>,
    },
    SetField {
        field: String,
        input: Box<Node>,
        value: Option<Box<Node>>,
    },
    Convert {
        input: Box<Node>,
        to: Box<Node>,
        on_error: Option<Box<Node>>,
        on_null: Option<Box<Node>>,
    },
    Trim {
        op: &'static str,
        input: Box<Node>,
        chars: Option<Box<Node>>,
    },
}

type EvalFn = fn(&'static str, &[Val<'_>]) -> Result<Option<Bson>, DocError>;
type ParseFn = fn(&'static str, &Bson, usize) -> Result<Node, DocError>;

#[derive(Clone, Copy)]
enum Arity {
    Exactly(usize),
    Range(usize, usize),
    Any,
}

#[derive(Clone, Copy)]
enum OpKind {
    /// Arguments are expressions evaluated before `EvalFn` runs.
    Args(Arity, EvalFn),
    /// The operator parses its own argument syntax.
    Special(ParseFn),
}

/// The operator registry: one row per operator.
const OPERATORS: &[(&str, OpKind)] = &[
    // Literals and variables.
    ("$literal", OpKind::Special(parse_literal)),
    ("$const", OpKind::Special(parse_literal)),
    ("$let", OpKind::Special(parse_let)),
    // Arithmetic.
    ("$add", OpKind::Args(Arity::Any, op_add)),
    ("$subtract", OpKind::Args(Arity::Exactly(2), op_subtract)),
    ("$multiply", OpKind::Args(Arity::Any, op_multiply)),
    ("$divide", OpKind::Args(Arity::Exactly(2), op_divide)),
    ("$mod", OpKind::Args(Arity::Exactly(2), op_mod)),
    ("$abs", OpKind::Args(Arity::Exactly(1), op_abs)),
    ("$ceil", OpKind::Args(Arity::Exactly(1), op_ceil_floor)),
    ("$floor", OpKind::Args(Arity::Exactly(1), op_ceil_floor)),
    ("$round", OpKind::Args(Arity::Range(1, 2), op_round_trunc)),
    ("$trunc", OpKind::Args(Arity::Range(1, 2), op_round_trunc)),
    ("$sqrt", OpKind::Args(Arity::Exactly(1), op_sqrt)),
    ("$pow", OpKind::Args(Arity::Exactly(2), op_pow)),
    ("$exp", OpKind::Args(Arity::Exactly(1), op_exp)),
    ("$ln", OpKind::Args(Arity::Exactly(1), op_ln_log10)),
    ("$log10", OpKind::Args(Arity::Exactly(1), op_ln_log10)),
    ("$log", OpKind::Args(Arity::Exactly(2), op_log)),
    // Bitwise (MongoDB 6.3).
    ("$bitAnd", OpKind::Args(Arity::Any, op_bitwise)),
    ("$bitOr", OpKind::Args(Arity::Any, op_bitwise)),
    ("$bitXor", OpKind::Args(Arity::Any, op_bitwise)),
    ("$bitNot", OpKind::Args(Arity::Exactly(1), op_bitwise)),
    // Comparison.
    ("$eq", OpKind::Args(Arity::Exactly(2), op_compare)),
    ("$ne", OpKind::Args(Arity::Exactly(2), op_compare)),
    ("$gt", OpKind::Args(Arity::Exactly(2), op_compare)),
    ("$gte", OpKind::Args(Arity::Exactly(2), op_compare)),
    ("$lt", OpKind::Args(Arity::Exactly(2), op_compare)),
    ("$lte", OpKind::Args(Arity::Exactly(2), op_compare)),
    ("$cmp", OpKind::Args(Arity::Exactly(2), op_compare)),
    // Boolean.
    ("$and", OpKind::Special(parse_and_or)),
    ("$or", OpKind::Special(parse_and_or)),
    ("$not", OpKind::Args(Arity::Exactly(1), op_not)),
    // Conditional.
    ("$cond", OpKind::Special(parse_cond)),
    ("$ifNull", OpKind::Special(parse_if_null)),
    ("$switch", OpKind::Special(parse_switch)),
    // Fields.
    ("$getField", OpKind::Special(parse_get_field)),
    ("$meta", OpKind::Special(parse_meta)),
    ("$setField", OpKind::Special(parse_set_field)),
    ("$unsetField", OpKind::Special(parse_set_field)),
    // Types and conversion.
    ("$type", OpKind::Args(Arity::Exactly(1), op_type)),
    ("$isNumber", OpKind::Args(Arity::Exactly(1), op_is_number)),
    ("$convert", OpKind::Special(parse_convert)),
    ("$toString", OpKind::Args(Arity::Exactly(1), op_to)),
    ("$toInt", OpKind::Args(Arity::Exactly(1), op_to)),
    ("$toLong", OpKind::Args(Arity::Exactly(1), op_to)),
    ("$toDouble", OpKind::Args(Arity::Exactly(1), op_to)),
    ("$toDecimal", OpKind::Args(Arity::Exactly(1), op_to)),
    ("$toBool", OpKind::Args(Arity::Exactly(1), op_to)),
    ("$toDate", OpKind::Args(Arity::Exactly(1), op_to)),
    ("$toObjectId", OpKind::Args(Arity::Exactly(1), op_to)),
    // Strings.
    ("$concat", OpKind::Args(Arity::Any, op_concat)),
    ("$toLower", OpKind::Args(Arity::Exactly(1), op_case)),
    ("$toUpper", OpKind::Args(Arity::Exactly(1), op_case)),
    ("$strLenCP", OpKind::Args(Arity::Exactly(1), op_str_len_cp)),
    ("$strLenBytes", OpKind::Args(Arity::Exactly(1), op_str_len_bytes)),
    ("$substrCP", OpKind::Args(Arity::Exactly(3), op_substr_cp)),
    ("$split", OpKind::Args(Arity::Exactly(2), op_split)),
    ("$trim", OpKind::Special(parse_trim)),
    ("$ltrim", OpKind::Special(parse_trim)),
    ("$rtrim", OpKind::Special(parse_trim)),
    // Arrays.
    ("$size", OpKind::Args(Arity::Exactly(1), op_size)),
    ("$arrayElemAt", OpKind::Args(Arity::Exactly(2), op_array_elem_at)),
    ("$in", OpKind::Args(Arity::Exactly(2), op_in)),
    ("$concatArrays", OpKind::Args(Arity::Any, op_concat_arrays)),
    ("$isArray", OpKind::Args(Arity::Exactly(1), op_is_array)),
    ("$first", OpKind::Args(Arity::Exactly(1), op_first_last)),
    ("$last", OpKind::Args(Arity::Exactly(1), op_first_last)),
    ("$map", OpKind::Special(parse_map)),
    ("$filter", OpKind::Special(parse_filter)),
    ("$reduce", OpKind::Special(parse_reduce)),
    // Accumulator-shaped expressions.
    ("$max", OpKind::Args(Arity::Any, op_max_min)),
    ("$min", OpKind::Args(Arity::Any, op_max_min)),
    ("$sum", OpKind::Args(Arity::Any, op_sum)),
    ("$avg", OpKind::Args(Arity::Any, op_avg)),
    ("$stdDevPop", OpKind::Args(Arity::Any, op_std_dev)),
    ("$stdDevSamp", OpKind::Args(Arity::Any, op_std_dev)),
    ("$percentile", OpKind::Special(parse_percentile)),
    ("$median", OpKind::Special(parse_percentile)),
    ("$firstN", OpKind::Special(parse_n_array)),
    ("$lastN", OpKind::Special(parse_n_array)),
    ("$maxN", OpKind::Special(parse_n_array)),
    ("$minN", OpKind::Special(parse_n_array)),
    // Objects.
    ("$mergeObjects", OpKind::Args(Arity::Any, op_merge_objects)),
    ("$objectToArray", OpKind::Args(Arity::Exactly(1), op_object_to_array)),
    ("$arrayToObject", OpKind::Args(Arity::Exactly(1), op_array_to_object)),
    // More arrays and sets.
    ("$slice", OpKind::Args(Arity::Range(2, 3), op_slice)),
    ("$reverseArray", OpKind::Args(Arity::Exactly(1), op_reverse_array)),
    ("$range", OpKind::Args(Arity::Range(2, 3), op_range)),
    ("$indexOfArray", OpKind::Args(Arity::Range(2, 4), op_index_of_array)),
    ("$setUnion", OpKind::Args(Arity::Any, op_set)),
    ("$setIntersection", OpKind::Args(Arity::Any, op_set)),
    ("$setDifference", OpKind::Args(Arity::Exactly(2), op_set)),
    ("$setEquals", OpKind::Args(Arity::Any, op_set)),
    ("$setIsSubset", OpKind::Args(Arity::Exactly(2), op_set)),
    ("$allElementsTrue", OpKind::Args(Arity::Exactly(1), op_all_any)),
    ("$anyElementTrue", OpKind::Args(Arity::Exactly(1), op_all_any)),
    // More strings.
    ("$strcasecmp", OpKind::Args(Arity::Exactly(2), op_strcasecmp)),
    ("$substrBytes", OpKind::Args(Arity::Exactly(3), op_substr_bytes)),
    ("$substr", OpKind::Args(Arity::Exactly(3), op_substr_bytes)),
    ("$indexOfCP", OpKind::Args(Arity::Range(2, 4), op_index_of_str)),
    ("$indexOfBytes", OpKind::Args(Arity::Range(2, 4), op_index_of_str)),
    ("$replaceOne", OpKind::Special(parse_replace)),
    ("$replaceAll", OpKind::Special(parse_replace)),
    // Dates (UTC and fixed-offset time zones).
    ("$year", OpKind::Special(parse_date_part)),
    ("$month", OpKind::Special(parse_date_part)),
    ("$dayOfMonth", OpKind::Special(parse_date_part)),
    ("$hour", OpKind::Special(parse_date_part)),
    ("$minute", OpKind::Special(parse_date_part)),
    ("$second", OpKind::Special(parse_date_part)),
    ("$millisecond", OpKind::Special(parse_date_part)),
    ("$dayOfWeek", OpKind::Special(parse_date_part)),
    ("$dayOfYear", OpKind::Special(parse_date_part)),
    ("$week", OpKind::Special(parse_date_part)),
    ("$isoWeek", OpKind::Special(parse_date_part)),
    ("$isoWeekYear", OpKind::Special(parse_date_part)),
    ("$isoDayOfWeek", OpKind::Special(parse_date_part)),
    ("$dateToString", OpKind::Special(parse_date_to_string)),
    ("$dateFromParts", OpKind::Special(parse_date_from_parts)),
    ("$dateToParts", OpKind::Special(parse_date_to_parts)),
    ("$dateTrunc", OpKind::Special(parse_date_trunc)),
    ("$dateAdd", OpKind::Special(parse_date_add)),
    ("$dateSubtract", OpKind::Special(parse_date_add)),
    ("$dateDiff", OpKind::Special(parse_date_diff)),
    ("$dateFromString", OpKind::Special(parse_date_from_string)),
    // Regular expressions.
    ("$regexMatch", OpKind::Special(parse_regex_op)),
    ("$regexFind", OpKind::Special(parse_regex_op)),
    ("$regexFindAll", OpKind::Special(parse_regex_op)),
    // More arrays.
    ("$zip", OpKind::Special(parse_zip)),
    ("$sortArray", OpKind::Special(parse_sort_array)),
    // Trigonometry.
    ("$sin", OpKind::Args(Arity::Exactly(1), op_trig)),
    ("$cos", OpKind::Args(Arity::Exactly(1), op_trig)),
    ("$tan", OpKind::Args(Arity::Exactly(1), op_trig)),
    ("$asin", OpKind::Args(Arity::Exactly(1), op_trig)),
    ("$acos", OpKind::Args(Arity::Exactly(1), op_trig)),
    ("$atan", OpKind::Args(Arity::Exactly(1), op_trig)),
    ("$atan2", OpKind::Args(Arity::Exactly(2), op_trig)),
    ("$sinh", OpKind::Args(Arity::Exactly(1), op_trig)),
    ("$cosh", OpKind::Args(Arity::Exactly(1), op_trig)),
    ("$tanh", OpKind::Args(Arity::Exactly(1), op_trig)),
    ("$asinh", OpKind::Args(Arity::Exactly(1), op_trig)),
    ("$acosh", OpKind::Args(Arity::Exactly(1), op_trig)),
    ("$atanh", OpKind::Args(Arity::Exactly(1), op_trig)),
    ("$degreesToRadians", OpKind::Args(Arity::Exactly(1), op_trig)),
    ("$radiansToDegrees", OpKind::Args(Arity::Exactly(1), op_trig)),
    // Sizes and randomness.
    ("$bsonSize", OpKind::Args(Arity::Exactly(1), op_bson_size)),
    ("$binarySize", OpKind::Args(Arity::Exactly(1), op_binary_size)),
    ("$rand", OpKind::Special(parse_rand)),
];

fn lookup_operator(name: &str) -> Option<(&'static str, OpKind)> {
    OPERATORS.iter().find(|(n, _)| *n == name).map(|(n, k)| (*n, *k))
}

// --- Parsing --------------------------------------------------------------------------------

fn too_deep() -> DocError {
    DocError::new(codes::OVERFLOW, "Overflow", format!("expression nesting exceeds the maximum depth of {MAX_EXPR_DEPTH}"))
}

fn parse_node(spec: &Bson, depth: usize) -> Result<Node, DocError> {
    if depth > MAX_EXPR_DEPTH {
        return Err(too_deep());
    }
    match spec {
        Bson::String(s) if s.starts_with("$$") => parse_variable(&s[2..]),
        Bson::String(s) if s.starts_with('$') => Ok(Node::Field(parse_field_path(&s[1..])?)),
        Bson::Array(items) => {
            let nodes = items.iter().map(|e| parse_node(e, depth + 1)).collect::<Result<Vec<_>, _>>()?;
            Ok(fold_constant(Node::Array(nodes)))
        }
        Bson::Document(d) => parse_document(d, depth),
        other => Ok(Node::Literal(other.clone())),
    }
}

/// An array or document expression whose parts are all literals is itself a literal.
fn fold_constant(node: Node) -> Node {
    match node {
        Node::Array(items) if items.iter().all(|n| matches!(n, Node::Literal(_))) => Node::Literal(Bson::Array(
            items
                .into_iter()
                .map(|n| match n {
                    Node::Literal(v) => v,
                    _ => Bson::Null,
                })
                .collect(),
        )),
        other => other,
    }
}

/// MongoDB constant-folds an operator whose arguments are all constants while optimizing the
/// pipeline, so its errors surface before any document is read (`{$divide: [1, 0]}` fails even
/// on an empty collection, also inside an untaken `$cond` branch). Argument operators are pure,
/// so evaluating them here is safe.
fn fold_call(name: &'static str, eval: EvalFn, args: Vec<Node>) -> Result<Node, DocError> {
    if !args.iter().all(|a| matches!(a, Node::Literal(_))) {
        return Ok(Node::Call(name, eval, args));
    }
    let vals: Vec<Val<'_>> = args
        .iter()
        .map(|a| match a {
            Node::Literal(v) => Some(Cow::Borrowed(v)),
            _ => None,
        })
        .collect();
    match eval(name, &vals)? {
        Some(v) => Ok(Node::Literal(v)),
        // A missing result has no literal form: keep the call.
        None => Ok(Node::Call(name, eval, args)),
    }
}

fn parse_field_path(path: &str) -> Result<Vec<String>, DocError> {
    if path.is_empty() {
        return Err(DocError::location(16872, "'$' by itself is not a valid FieldPath"));
    }
    path.split('.').map(|p| validate_path_component(p).map(|()| p.to_string())).collect()
}

fn validate_path_component(p: &str) -> Result<(), DocError> {
    if p.is_empty() {
        return Err(DocError::location(15998, "FieldPath field names may not be empty strings."));
    }
    if p.starts_with('$') {
        return Err(DocError::location(16410, "FieldPath field names may not start with '$'. Consider using $getField or $setField."));
    }
    if p.contains('\0') {
        return Err(DocError::location(16411, "FieldPath field names may not contain '\0'."));
    }
    Ok(())
}

fn parse_variable(s: &str) -> Result<Node, DocError> {
    let (name, rest) = match s.split_once('.') {
        Some((n, r)) => (n, Some(r)),
        None => (s, None),
    };
    if name.is_empty() {
        return Err(DocError::location(16869, "empty variable names are not allowed"));
    }
    let path = match rest {
        Some(r) => r.split('.').map(|p| validate_path_component(p).map(|()| p.to_string())).collect::<Result<Vec<_>, _>>()?,
        None => Vec::new(),
    };
    match name {
        "ROOT" | "CURRENT" | "NOW" | "REMOVE" | "KEEP" | "PRUNE" | "DESCEND" => {}
        _ if name.starts_with(|c: char| c.is_ascii_uppercase()) => {
            return Err(DocError::location(17276, format!("Use of undefined variable: {name}")));
        }
        _ => validate_variable_name(name)?,
    }
    Ok(Node::Var(name.to_string(), path))
}

fn parse_document(d: &Document, depth: usize) -> Result<Node, DocError> {
    let Some((first, _)) = d.iter().next() else {
        return Ok(Node::Literal(Bson::Document(Document::new())));
    };
    if first.starts_with('$') {
        if d.len() != 1 {
            return Err(DocError::location(
                15983,
                format!(
                    "an expression specification must contain exactly one field, the name of the expression. Found {} fields in {}, while parsing object {}",
                    d.len(),
                    d,
                    d
                ),
            ));
        }
        let (name, arg) = d.iter().next().expect("one field");
        let Some((name, kind)) = lookup_operator(name) else {
            return Err(DocError::new(
                codes::INVALID_PIPELINE_OPERATOR,
                "InvalidPipelineOperator",
                format!("Unrecognized expression '{name}'"),
            ));
        };
        return match kind {
            OpKind::Special(parse) => parse(name, arg, depth + 1),
            OpKind::Args(arity, eval) => {
                let args = parse_args(name, arg, arity, depth + 1)?;
                fold_call(name, eval, args)
            }
        };
    }
    let mut fields = Vec::with_capacity(d.len());
    for (k, v) in d {
        validate_object_field_name(k)?;
        fields.push((k.clone(), parse_node(v, depth + 1)?));
    }
    if fields.iter().all(|(_, n)| matches!(n, Node::Literal(_))) {
        let mut out = Document::new();
        for (k, n) in fields {
            if let Node::Literal(v) = n {
                out.insert(k, v);
            }
        }
        return Ok(Node::Literal(Bson::Document(out)));
    }
    Ok(Node::Document(fields))
}

/// Field names of a document expression: not `$`-prefixed, no `.`.
pub(crate) fn validate_object_field_name(k: &str) -> Result<(), DocError> {
    if k.is_empty() {
        return Err(DocError::location(16412, "FieldPath field names may not be empty strings."));
    }
    if k.starts_with('$') {
        return Err(DocError::location(16410, "FieldPath field names may not start with '$'. Consider using $getField or $setField."));
    }
    if k.contains('.') {
        return Err(DocError::location(16412, "FieldPath field names may not contain '.'. Consider using $getField or $setField."));
    }
    Ok(())
}

fn parse_args(name: &str, arg: &Bson, arity: Arity, depth: usize) -> Result<Vec<Node>, DocError> {
    let args: Vec<Node> = match arg {
        Bson::Array(items) => items.iter().map(|e| parse_node(e, depth + 1)).collect::<Result<_, _>>()?,
        other => vec![parse_node(other, depth + 1)?],
    };
    check_arity(name, args.len(), arity)?;
    Ok(args)
}

fn check_arity(name: &str, n: usize, arity: Arity) -> Result<(), DocError> {
    const CONVERSIONS: &[&str] = &["$toBool", "$toDate", "$toDecimal", "$toDouble", "$toInt", "$toLong", "$toObjectId", "$toString"];
    if n != 1 && CONVERSIONS.contains(&name) {
        return Err(DocError::location(50723, format!("{name} requires a single argument, got {n}")));
    }
    match arity {
        Arity::Exactly(k) if n != k => {
            Err(DocError::location(16020, format!("Expression {name} takes exactly {k} arguments. {n} were passed in.")))
        }
        Arity::Range(lo, hi) if n < lo || n > hi => Err(DocError::location(
            28667,
            format!("Expression {name} takes at least {lo} arguments, and at most {hi}, but {n} were passed in."),
        )),
        _ => Ok(()),
    }
}

fn object_arg<'b>(name: &str, arg: &'b Bson, code: i32) -> Result<&'b Document, DocError> {
    match arg {
        Bson::Document(d) => Ok(d),
        other => Err(DocError::location(code, format!("{name} only supports an object as its argument, found: {}", type_name(other)))),
    }
}

fn boxed(spec: &Bson, depth: usize) -> Result<Box<Node>, DocError> {
    Ok(Box::new(parse_node(spec, depth + 1)?))
}

fn parse_literal(_: &'static str, arg: &Bson, _: usize) -> Result<Node, DocError> {
    Ok(Node::Literal(arg.clone()))
}

fn parse_and_or(name: &'static str, arg: &Bson, depth: usize) -> Result<Node, DocError> {
    let args = parse_args(name, arg, Arity::Any, depth)?;
    Ok(if name == "$and" { Node::And(args) } else { Node::Or(args) })
}

fn parse_cond(name: &'static str, arg: &Bson, depth: usize) -> Result<Node, DocError> {
    if let Bson::Document(d) = arg {
        let (mut i, mut t, mut e) = (None, None, None);
        for (k, v) in d {
            let slot = match k.as_str() {
                "if" => &mut i,
                "then" => &mut t,
                "else" => &mut e,
                other => return Err(DocError::location(17083, format!("Unrecognized parameter to $cond: {other}"))),
            };
            *slot = Some(parse_node(v, depth + 1)?);
        }
        let i = i.ok_or_else(|| DocError::location(17080, "Missing 'if' parameter to $cond"))?;
        let t = t.ok_or_else(|| DocError::location(17081, "Missing 'then' parameter to $cond"))?;
        let e = e.ok_or_else(|| DocError::location(17082, "Missing 'else' parameter to $cond"))?;
        return Ok(Node::Cond(Box::new([i, t, e])));
    }
    let args = parse_args(name, arg, Arity::Exactly(3), depth)?;
    let [i, t, e]: [Node; 3] = args.try_into().map_err(|_| DocError::location(16020, "Expression $cond takes exactly 3 arguments."))?;
    Ok(Node::Cond(Box::new([i, t, e])))
}

fn parse_if_null(name: &'static str, arg: &Bson, depth: usize) -> Result<Node, DocError> {
    let args = parse_args(name, arg, Arity::Any, depth)?;
    if args.len() < 2 {
        return Err(DocError::location(1257300, format!("$ifNull needs at least two arguments, had: {}", args.len())));
    }
    Ok(Node::IfNull(args))
}

fn parse_switch(_: &'static str, arg: &Bson, depth: usize) -> Result<Node, DocError> {
    let Bson::Document(d) = arg else {
        return Err(DocError::location(40060, format!("$switch requires an object as an argument, found: {}", type_name(arg))));
    };
    let mut branches = Vec::new();
    let mut default = None;
    for (k, v) in d {
        match k.as_str() {
            "branches" => {
                let Bson::Array(items) = v else {
                    return Err(DocError::location(40061, format!("$switch expected an array for 'branches', found: {}", type_name(v))));
                };
                for b in items {
                    let Bson::Document(bd) = b else {
                        return Err(DocError::location(
                            40062,
                            format!("$switch expected each branch to be an object, found: {}", type_name(b)),
                        ));
                    };
                    let (mut case, mut then) = (None, None);
                    for (bk, bv) in bd {
                        match bk.as_str() {
                            "case" => case = Some(parse_node(bv, depth + 1)?),
                            "then" => then = Some(parse_node(bv, depth + 1)?),
                            other => {
                                return Err(DocError::location(40063, format!("$switch found an unknown argument to a branch: {other}")))
                            }
                        }
                    }
                    let case = case.ok_or_else(|| DocError::location(40064, "$switch requires each branch have a 'case' expression"))?;
                    let then = then.ok_or_else(|| DocError::location(40065, "$switch requires each branch have a 'then' expression."))?;
                    branches.push((case, then));
                }
            }
            "default" => default = Some(boxed(v, depth)?),
            other => return Err(DocError::location(40067, format!("$switch found an unknown argument: {other}"))),
        }
    }
    if branches.is_empty() {
        return Err(DocError::location(40068, "$switch requires at least one branch."));
    }
    // MongoDB folds constant cases while optimizing: with no default and every case a false
    // constant, the expression can never succeed and is refused before any document is read.
    let never_matches = branches.iter().all(|(case, _)| matches!(case, Node::Literal(v) if !truthy(Some(v))));
    if default.is_none() && never_matches {
        return Err(DocError::location(40069, "$switch could not find a matching branch for an input, and no default was specified."));
    }
    Ok(Node::Switch(branches, default))
}

fn parse_let(_: &'static str, arg: &Bson, depth: usize) -> Result<Node, DocError> {
    let Bson::Document(d) = arg else {
        return Err(DocError::location(16874, "$let only supports an object as its argument"));
    };
    let (mut vars, mut body) = (None, None);
    for (k, v) in d {
        match k.as_str() {
            "vars" => {
                let Bson::Document(vd) = v else {
                    return Err(DocError::location(
                        10065,
                        format!("invalid parameter: expected an object (vars), found: {}", type_name(v)),
                    ));
                };
                let mut list = Vec::with_capacity(vd.len());
                for (name, spec) in vd {
                    validate_variable_name(name)?;
                    list.push((name.clone(), parse_node(spec, depth + 1)?));
                }
                vars = Some(list);
            }
            "in" => body = Some(boxed(v, depth)?),
            other => return Err(DocError::location(16875, format!("Unrecognized parameter to $let: {other}"))),
        }
    }
    let vars = vars.ok_or_else(|| DocError::location(16876, "Missing 'vars' parameter to $let"))?;
    let body = body.ok_or_else(|| DocError::location(16877, "Missing 'in' parameter to $let"))?;
    Ok(Node::Let(vars, body))
}

fn parse_as(v: &Bson, op: &str) -> Result<String, DocError> {
    match v {
        Bson::String(s) => {
            validate_variable_name(s)?;
            Ok(s.clone())
        }
        other => Err(DocError::failed_to_parse(format!("{op} 'as' must be a string, found: {}", type_name(other)))),
    }
}

fn parse_map(name: &'static str, arg: &Bson, depth: usize) -> Result<Node, DocError> {
    let d = object_arg(name, arg, 16878)?;
    let (mut input, mut as_name, mut body) = (None, None, None);
    for (k, v) in d {
        match k.as_str() {
            "input" => input = Some(boxed(v, depth)?),
            "as" => as_name = Some(parse_as(v, name)?),
            "in" => body = Some(boxed(v, depth)?),
            other => return Err(DocError::location(16879, format!("Unrecognized parameter to $map: {other}"))),
        }
    }
    let input = input.ok_or_else(|| DocError::location(16880, "Missing 'input' parameter to $map"))?;
    let body = body.ok_or_else(|| DocError::location(16882, "Missing 'in' parameter to $map"))?;
    Ok(Node::Map { input, name: as_name.unwrap_or_else(|| "this".into()), body })
}

fn parse_filter(name: &'static str, arg: &Bson, depth: usize) -> Result<Node, DocError> {
    let d = object_arg(name, arg, 28646)?;
    let (mut input, mut as_name, mut cond, mut limit) = (None, None, None, None);
    for (k, v) in d {
        match k.as_str() {
            "input" => input = Some(boxed(v, depth)?),
            "as" => as_name = Some(parse_as(v, name)?),
            "cond" => cond = Some(boxed(v, depth)?),
            "limit" => limit = Some(boxed(v, depth)?),
            other => return Err(DocError::location(28647, format!("Unrecognized parameter to $filter: {other}"))),
        }
    }
    let input = input.ok_or_else(|| DocError::location(28648, "Missing 'input' parameter to $filter"))?;
    let cond = cond.ok_or_else(|| DocError::location(28650, "Missing 'cond' parameter to $filter"))?;
    Ok(Node::Filter { input, name: as_name.unwrap_or_else(|| "this".into()), cond, limit })
}

fn parse_reduce(name: &'static str, arg: &Bson, depth: usize) -> Result<Node, DocError> {
    let Bson::Document(d) = arg else {
        return Err(DocError::location(40075, format!("{name} requires an object as an argument, found: {}", type_name(arg))));
    };
    let (mut input, mut initial, mut body) = (None, None, None);
    for (k, v) in d {
        match k.as_str() {
            "input" => input = Some(boxed(v, depth)?),
            "initialValue" => initial = Some(boxed(v, depth)?),
            "in" => body = Some(boxed(v, depth)?),
            other => return Err(DocError::location(40076, format!("$reduce found an unknown argument: {other}"))),
        }
    }
    let input = input.ok_or_else(|| DocError::location(40077, "$reduce requires 'input' to be specified"))?;
    let initial = initial.ok_or_else(|| DocError::location(40078, "$reduce requires 'initialValue' to be specified"))?;
    let body = body.ok_or_else(|| DocError::location(40079, "$reduce requires 'in' to be specified"))?;
    Ok(Node::Reduce { input, initial, body })
}

/// The field a `$text` query's score travels in through an aggregation (set on the documents
/// its leading `$match` produces, carried by `$project`/`$addFields`, removed from the output).
/// Its first character cannot be typed in a field path, so no user field collides with it.
pub const TEXT_SCORE_FIELD: &str = "\u{1}textScore";

/// `{$meta: "textScore"}`: the document's text score (`$$ROOT`'s hidden score field).
fn parse_meta(_: &'static str, arg: &Bson, _depth: usize) -> Result<Node, DocError> {
    match arg {
        Bson::String(s) if s == "textScore" => Ok(Node::Var("ROOT".into(), vec![TEXT_SCORE_FIELD.to_string()])),
        Bson::String(s) => Err(DocError::location(17308, format!("Unsupported argument to $meta: {s}"))),
        _ => Err(DocError::location(17307, "$meta only supports string arguments")),
    }
}

fn parse_get_field(_: &'static str, arg: &Bson, depth: usize) -> Result<Node, DocError> {
    let Bson::Document(d) = arg else {
        // Shorthand: {$getField: "name"} (or an expression giving the name) on $$CURRENT.
        return Ok(Node::GetField { field: boxed(arg, depth)?, input: None });
    };
    if d.keys().next().is_some_and(|k| k.starts_with('$')) {
        return Ok(Node::GetField { field: boxed(arg, depth)?, input: None });
    }
    let (mut field, mut input) = (None, None);
    for (k, v) in d {
        match k.as_str() {
            "field" => field = Some(boxed(v, depth)?),
            "input" => input = Some(boxed(v, depth)?),
            other => return Err(DocError::location(3041701, format!("$getField found an unknown argument: {other}"))),
        }
    }
    let field = field.ok_or_else(|| DocError::location(3041702, "$getField requires 'field' to be specified"))?;
    // The object form has no default input (measured: mongod 8.2 refuses it).
    let input = input.ok_or_else(|| DocError::location(3041703, "$getField requires 'input' to be specified"))?;
    Ok(Node::GetField { field, input: Some(input) })
}

fn parse_set_field(name: &'static str, arg: &Bson, depth: usize) -> Result<Node, DocError> {
    let Bson::Document(d) = arg else {
        return Err(DocError::location(4161100, format!("{name} only supports an object as its argument")));
    };
    let (mut field, mut input, mut value) = (None, None, None);
    for (k, v) in d {
        match k.as_str() {
            "field" => field = Some(v),
            "input" => input = Some(boxed(v, depth)?),
            "value" if name == "$setField" => value = Some(boxed(v, depth)?),
            other => return Err(DocError::location(4161101, format!("{name} found an unknown argument: {other}"))),
        }
    }
    let field = field.ok_or_else(|| DocError::location(4161102, format!("{name} requires 'field' to be specified")))?;
    let field = match parse_node(field, depth + 1)? {
        Node::Literal(Bson::String(s)) => s,
        Node::Literal(other) => {
            return Err(DocError::location(
                4161107,
                format!("{name} requires 'field' to evaluate to type String, but got {}", type_name(&other)),
            ))
        }
        _ => {
            return Err(DocError::location(
                4161106,
                format!("{name} requires 'field' to evaluate to a constant, but got a non-constant argument"),
            ))
        }
    };
    let input = input.ok_or_else(|| DocError::location(4161103, format!("{name} requires 'input' to be specified")))?;
    if name == "$setField" && value.is_none() {
        return Err(DocError::location(4161104, "$setField requires 'value' to be specified"));
    }
    Ok(Node::SetField { field, input, value })
}

fn parse_convert(_: &'static str, arg: &Bson, depth: usize) -> Result<Node, DocError> {
    let Bson::Document(d) = arg else {
        return Err(DocError::failed_to_parse(format!("$convert expects an object of named arguments but found: {}", type_name(arg))));
    };
    let (mut input, mut to, mut on_error, mut on_null) = (None, None, None, None);
    for (k, v) in d {
        match k.as_str() {
            "input" => input = Some(boxed(v, depth)?),
            "to" => to = Some(boxed(v, depth)?),
            "onError" => on_error = Some(boxed(v, depth)?),
            "onNull" => on_null = Some(boxed(v, depth)?),
            other => return Err(DocError::failed_to_parse(format!("$convert found an unknown argument: {other}"))),
        }
    }
    let input = input.ok_or_else(|| DocError::failed_to_parse("Missing 'input' parameter to $convert"))?;
    let to = to.ok_or_else(|| DocError::failed_to_parse("Missing 'to' parameter to $convert"))?;
    Ok(Node::Convert { input, to, on_error, on_null })
}

fn parse_trim(name: &'static str, arg: &Bson, depth: usize) -> Result<Node, DocError> {
    let Bson::Document(d) = arg else {
        return Err(DocError::location(50696, format!("{name} only supports an object as an argument, found: {}", type_name(arg))));
    };
    let (mut input, mut chars) = (None, None);
    for (k, v) in d {
        match k.as_str() {
            "input" => input = Some(boxed(v, depth)?),
            "chars" => chars = Some(boxed(v, depth)?),
            other => return Err(DocError::location(50694, format!("{name} found an unknown argument: {other}"))),
        }
    }
    let input = input.ok_or_else(|| DocError::location(50695, format!("{name} requires an 'input' field")))?;
    Ok(Node::Trim { op: name, input, chars })
}

// --- Evaluation -----------------------------------------------------------------------------

struct Cx<'a> {
    root: &'a Document,
    /// `$$CURRENT`: the root, except while `$redact` descends.
    current: &'a Document,
    vars: &'a Variables,
    /// Variables bound by `$let`, `$map`, `$filter`, `$reduce` (innermost last).
    locals: Vec<(&'a str, Val<'a>)>,
}

fn walk_doc<'a>(doc: &'a Document, path: &[String]) -> Val<'a> {
    let (first, rest) = path.split_first()?;
    walk_value(doc.get(first)?, rest)
}

fn walk_value<'a>(v: &'a Bson, rest: &[String]) -> Val<'a> {
    if rest.is_empty() {
        return Some(Cow::Borrowed(v));
    }
    match v {
        Bson::Document(d) => walk_doc(d, rest),
        Bson::Array(items) => Some(Cow::Owned(Bson::Array(
            items
                .iter()
                .filter_map(|e| match e {
                    Bson::Document(d) => walk_doc(d, rest).map(Cow::into_owned),
                    _ => None,
                })
                .collect(),
        ))),
        _ => None,
    }
}

fn walk_cow<'a>(v: Cow<'a, Bson>, rest: &[String]) -> Val<'a> {
    match v {
        Cow::Borrowed(b) => walk_value(b, rest),
        Cow::Owned(o) => walk_value(&o, rest).map(|c| Cow::Owned(c.into_owned())),
    }
}

fn share<'a>(v: &Val<'a>) -> Val<'a> {
    match v {
        None => None,
        Some(Cow::Borrowed(b)) => Some(Cow::Borrowed(*b)),
        Some(Cow::Owned(o)) => Some(Cow::Owned(o.clone())),
    }
}

fn nullish(v: &Val<'_>) -> bool {
    matches!(v.as_deref(), None | Some(Bson::Null | Bson::Undefined))
}

fn tname(v: &Val<'_>) -> &'static str {
    v.as_deref().map_or("missing", type_name)
}

impl Node {
    fn eval<'a>(&'a self, cx: &mut Cx<'a>) -> Result<Val<'a>, DocError> {
        match self {
            Node::Literal(v) => Ok(Some(Cow::Borrowed(v))),
            Node::Field(path) => Ok(walk_doc(cx.current, path)),
            Node::Var(..) => self.eval_var(cx),
            Node::Document(..) => self.eval_document(cx),
            Node::Array(..) => self.eval_array(cx),
            Node::Call(..) => self.eval_call(cx),
            Node::And(..) => self.eval_and(cx),
            Node::Or(..) => self.eval_or(cx),
            Node::Cond(..) => self.eval_cond(cx),
            Node::IfNull(..) => self.eval_if_null(cx),
            Node::Switch(..) => self.eval_switch(cx),
            Node::Let(..) => self.eval_let(cx),
            Node::Map { .. } => self.eval_map(cx),
            Node::Filter { .. } => self.eval_filter(cx),
            Node::Reduce { .. } => self.eval_reduce(cx),
            Node::GetField { .. } => self.eval_get_field(cx),
            Node::SetField { .. } => self.eval_set_field(cx),
            Node::Convert { .. } => self.eval_convert(cx),
            Node::Trim { .. } => self.eval_trim(cx),
        }
    }

    #[inline(never)]
    fn eval_var<'a>(&'a self, cx: &mut Cx<'a>) -> Result<Val<'a>, DocError> {
        let Node::Var(name, path) = self else {
            return Ok(None);
        };
        let base: Val<'a> = match name.as_str() {
            "ROOT" | "CURRENT" => {
                let doc = if name == "ROOT" { cx.root } else { cx.current };
                if path.is_empty() {
                    Some(Cow::Owned(Bson::Document(doc.clone())))
                } else {
                    return Ok(walk_doc(doc, path));
                }
            }
            // `$redact`'s verdicts.
            "KEEP" => Some(Cow::Owned(Bson::String("keep".into()))),
            "PRUNE" => Some(Cow::Owned(Bson::String("prune".into()))),
            "DESCEND" => Some(Cow::Owned(Bson::String("descend".into()))),
            "NOW" => Some(Cow::Owned(Bson::DateTime(cx.vars.now))),
            "REMOVE" => None,
            n => {
                if let Some((_, v)) = cx.locals.iter().rev().find(|(l, _)| *l == n) {
                    share(v)
                } else if let Some(v) = cx.vars.lookup(n) {
                    v.map(Cow::Borrowed)
                } else {
                    return Err(DocError::location(17276, format!("Use of undefined variable: {n}")));
                }
            }
        };
        Ok(match base {
            Some(b) if !path.is_empty() => walk_cow(b, path),
            other => other,
        })
    }

    #[inline(never)]
    fn eval_document<'a>(&'a self, cx: &mut Cx<'a>) -> Result<Val<'a>, DocError> {
        let Node::Document(fields) = self else {
            return Ok(None);
        };
        let mut out = Document::new();
        for (k, n) in fields {
            if let Some(v) = n.eval(cx)? {
                out.insert(k.clone(), v.into_owned());
            }
        }
        Ok(Some(Cow::Owned(Bson::Document(out))))
    }

    #[inline(never)]
    fn eval_array<'a>(&'a self, cx: &mut Cx<'a>) -> Result<Val<'a>, DocError> {
        let Node::Array(items) = self else {
            return Ok(None);
        };
        let mut out = Vec::with_capacity(items.len());
        for n in items {
            out.push(n.eval(cx)?.map_or(Bson::Null, Cow::into_owned));
        }
        Ok(Some(Cow::Owned(Bson::Array(out))))
    }

    #[inline(never)]
    fn eval_call<'a>(&'a self, cx: &mut Cx<'a>) -> Result<Val<'a>, DocError> {
        let Node::Call(name, f, args) = self else {
            return Ok(None);
        };
        let mut vals = Vec::with_capacity(args.len());
        for a in args {
            vals.push(a.eval(cx)?);
        }
        Ok(f(name, &vals)?.map(Cow::Owned))
    }

    #[inline(never)]
    fn eval_and<'a>(&'a self, cx: &mut Cx<'a>) -> Result<Val<'a>, DocError> {
        let Node::And(args) = self else {
            return Ok(None);
        };
        for a in args {
            if !truthy(a.eval(cx)?.as_deref()) {
                return Ok(Some(Cow::Owned(Bson::Boolean(false))));
            }
        }
        Ok(Some(Cow::Owned(Bson::Boolean(true))))
    }

    #[inline(never)]
    fn eval_or<'a>(&'a self, cx: &mut Cx<'a>) -> Result<Val<'a>, DocError> {
        let Node::Or(args) = self else {
            return Ok(None);
        };
        for a in args {
            if truthy(a.eval(cx)?.as_deref()) {
                return Ok(Some(Cow::Owned(Bson::Boolean(true))));
            }
        }
        Ok(Some(Cow::Owned(Bson::Boolean(false))))
    }

    #[inline(never)]
    fn eval_cond<'a>(&'a self, cx: &mut Cx<'a>) -> Result<Val<'a>, DocError> {
        let Node::Cond(parts) = self else {
            return Ok(None);
        };
        let [i, t, e] = &**parts;
        if truthy(i.eval(cx)?.as_deref()) {
            t.eval(cx)
        } else {
            e.eval(cx)
        }
    }

    #[inline(never)]
    fn eval_if_null<'a>(&'a self, cx: &mut Cx<'a>) -> Result<Val<'a>, DocError> {
        let Node::IfNull(args) = self else {
            return Ok(None);
        };
        let (last, init) = args.split_last().expect("at least two arguments");
        for a in init {
            let v = a.eval(cx)?;
            if !nullish(&v) {
                return Ok(v);
            }
        }
        last.eval(cx)
    }

    #[inline(never)]
    fn eval_switch<'a>(&'a self, cx: &mut Cx<'a>) -> Result<Val<'a>, DocError> {
        let Node::Switch(branches, default) = self else {
            return Ok(None);
        };
        for (case, then) in branches {
            if truthy(case.eval(cx)?.as_deref()) {
                return then.eval(cx);
            }
        }
        match default {
            Some(d) => d.eval(cx),
            None => Err(DocError::location(40066, "$switch could not find a matching branch for an input, and no default was specified.")),
        }
    }

    #[inline(never)]
    fn eval_let<'a>(&'a self, cx: &mut Cx<'a>) -> Result<Val<'a>, DocError> {
        let Node::Let(vars, body) = self else {
            return Ok(None);
        };
        let mut bound = Vec::with_capacity(vars.len());
        for (name, n) in vars {
            bound.push((name.as_str(), n.eval(cx)?));
        }
        let mark = cx.locals.len();
        cx.locals.extend(bound);
        let out = body.eval(cx);
        cx.locals.truncate(mark);
        out
    }

    #[inline(never)]
    fn eval_map<'a>(&'a self, cx: &mut Cx<'a>) -> Result<Val<'a>, DocError> {
        let Node::Map { input, name, body } = self else {
            return Ok(None);
        };
        let input = input.eval(cx)?;
        let items = match input.as_deref() {
            None | Some(Bson::Null | Bson::Undefined) => return Ok(Some(Cow::Owned(Bson::Null))),
            Some(Bson::Array(_)) => array_elements(input),
            Some(other) => return Err(DocError::location(16883, format!("input to $map must be an array not {}", type_name(other)))),
        };
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            cx.locals.push((name.as_str(), Some(item)));
            let v = body.eval(cx);
            cx.locals.pop();
            out.push(v?.map_or(Bson::Null, Cow::into_owned));
        }
        Ok(Some(Cow::Owned(Bson::Array(out))))
    }

    #[inline(never)]
    fn eval_filter<'a>(&'a self, cx: &mut Cx<'a>) -> Result<Val<'a>, DocError> {
        let Node::Filter { input, name, cond, limit } = self else {
            return Ok(None);
        };
        let input = input.eval(cx)?;
        let items = match input.as_deref() {
            None | Some(Bson::Null | Bson::Undefined) => return Ok(Some(Cow::Owned(Bson::Null))),
            Some(Bson::Array(_)) => array_elements(input),
            Some(other) => return Err(DocError::location(28651, format!("input to $filter must be an array not {}", type_name(other)))),
        };
        if items.is_empty() {
            return Ok(Some(Cow::Owned(Bson::Array(Vec::new()))));
        }
        let limit = match limit {
            None => None,
            Some(l) => {
                let v = l.eval(cx)?;
                if nullish(&v) {
                    None
                } else {
                    let n = v.as_deref().and_then(exact_i32).ok_or_else(|| {
                        DocError::location(327391, format!("$filter: limit must be represented as a 32-bit integral value: {}", show(&v)))
                    })?;
                    if n < 1 {
                        return Err(DocError::location(327392, format!("$filter: limit must be greater than 0: {n}")));
                    }
                    Some(n as usize)
                }
            }
        };
        let mut out = Vec::new();
        for item in items {
            if limit.is_some_and(|l| out.len() >= l) {
                break;
            }
            cx.locals.push((name.as_str(), Some(item)));
            let keep = cond.eval(cx);
            let (_, item) = cx.locals.pop().expect("pushed above");
            if truthy(keep?.as_deref()) {
                out.push(item.map_or(Bson::Null, Cow::into_owned));
            }
        }
        Ok(Some(Cow::Owned(Bson::Array(out))))
    }

    #[inline(never)]
    fn eval_reduce<'a>(&'a self, cx: &mut Cx<'a>) -> Result<Val<'a>, DocError> {
        let Node::Reduce { input, initial, body } = self else {
            return Ok(None);
        };
        let input = input.eval(cx)?;
        let items = match input.as_deref() {
            None | Some(Bson::Null | Bson::Undefined) => return Ok(Some(Cow::Owned(Bson::Null))),
            Some(Bson::Array(_)) => array_elements(input),
            Some(other) => {
                return Err(DocError::location(40080, format!("$reduce requires that 'input' be an array, found: {}", type_name(other))))
            }
        };
        let mut acc = initial.eval(cx)?;
        for item in items {
            cx.locals.push(("value", acc));
            cx.locals.push(("this", Some(item)));
            let v = body.eval(cx);
            cx.locals.truncate(cx.locals.len() - 2);
            acc = v?;
        }
        Ok(acc)
    }

    #[inline(never)]
    fn eval_get_field<'a>(&'a self, cx: &mut Cx<'a>) -> Result<Val<'a>, DocError> {
        let Node::GetField { field, input } = self else {
            return Ok(None);
        };
        let f = field.eval(cx)?;
        let Some(Bson::String(f)) = f.as_deref() else {
            return Err(DocError::location(
                3041704,
                format!("$getField requires 'field' to evaluate to type String, but got {}", tname(&f)),
            ));
        };
        let input = match input {
            Some(i) => i.eval(cx)?,
            None => return Ok(cx.current.get(f).map(Cow::Borrowed)),
        };
        match input {
            None | Some(Cow::Borrowed(Bson::Null | Bson::Undefined)) => Ok(Some(Cow::Owned(Bson::Null))),
            Some(Cow::Owned(Bson::Null | Bson::Undefined)) => Ok(Some(Cow::Owned(Bson::Null))),
            Some(Cow::Borrowed(Bson::Document(d))) => Ok(d.get(f).map(Cow::Borrowed)),
            Some(Cow::Owned(Bson::Document(mut d))) => Ok(d.remove(f).map(Cow::Owned)),
            Some(other) => Err(DocError::location(
                3041705,
                format!("$getField requires 'input' to evaluate to type Object, but got {}", type_name(&other)),
            )),
        }
    }

    #[inline(never)]
    fn eval_set_field<'a>(&'a self, cx: &mut Cx<'a>) -> Result<Val<'a>, DocError> {
        let Node::SetField { field, input, value } = self else {
            return Ok(None);
        };
        let input = input.eval(cx)?;
        let mut doc = match input {
            None => return Ok(Some(Cow::Owned(Bson::Null))),
            Some(v) => match v.into_owned() {
                Bson::Null | Bson::Undefined => return Ok(Some(Cow::Owned(Bson::Null))),
                Bson::Document(d) => d,
                other => {
                    return Err(DocError::location(
                        4161105,
                        format!("$setField requires 'input' to evaluate to type Object, but got {}", type_name(&other)),
                    ))
                }
            },
        };
        let value = match value {
            Some(v) => v.eval(cx)?,
            None => None,
        };
        match value {
            Some(v) => {
                doc.insert(field.clone(), v.into_owned());
            }
            None => {
                doc.remove(field);
            }
        }
        Ok(Some(Cow::Owned(Bson::Document(doc))))
    }

    #[inline(never)]
    fn eval_convert<'a>(&'a self, cx: &mut Cx<'a>) -> Result<Val<'a>, DocError> {
        let Node::Convert { input, to, on_error, on_null } = self else {
            return Ok(None);
        };
        let v = input.eval(cx)?;
        let target = to.eval(cx)?;
        let target = convert_target(&target)?;
        if nullish(&v) {
            return match on_null {
                Some(n) => n.eval(cx),
                None => Ok(Some(Cow::Owned(Bson::Null))),
            };
        }
        let Some(target) = target else {
            return Ok(Some(Cow::Owned(Bson::Null)));
        };
        match convert(v.as_deref().expect("not nullish"), target) {
            Ok(out) => Ok(Some(Cow::Owned(out))),
            Err(e) => match on_error {
                Some(n) => n.eval(cx),
                None => Err(e),
            },
        }
    }

    #[inline(never)]
    fn eval_trim<'a>(&'a self, cx: &mut Cx<'a>) -> Result<Val<'a>, DocError> {
        let Node::Trim { op, input, chars } = self else {
            return Ok(None);
        };
        let v = input.eval(cx)?;
        let s = match v.as_deref() {
            None | Some(Bson::Null | Bson::Undefined) => return Ok(Some(Cow::Owned(Bson::Null))),
            Some(Bson::String(s)) => s,
            Some(other) => {
                return Err(DocError::location(
                    50699,
                    format!("{op} requires its input to be a string, got {} (of type {}) instead.", other, type_name(other)),
                ))
            }
        };
        let chars_val = match chars {
            Some(c) => Some(c.eval(cx)?),
            None => None,
        };
        let set: Vec<char> = match &chars_val {
            None => Vec::new(),
            Some(c) => match c.as_deref() {
                None | Some(Bson::Null | Bson::Undefined) => return Ok(Some(Cow::Owned(Bson::Null))),
                Some(Bson::String(cs)) => cs.chars().collect(),
                Some(other) => {
                    return Err(DocError::location(
                        50700,
                        format!("{op} requires 'chars' to be a string, got {} (of type {}) instead.", other, type_name(other)),
                    ))
                }
            },
        };
        let is_trim = |c: char| if chars_val.is_some() { set.contains(&c) } else { is_default_trim_char(c) };
        let out = match *op {
            "$ltrim" => s.trim_start_matches(is_trim),
            "$rtrim" => s.trim_end_matches(is_trim),
            _ => s.trim_matches(is_trim),
        };
        Ok(Some(Cow::Owned(Bson::String(out.to_string()))))
    }
}

/// The elements of an array value, borrowed when the array is.
fn array_elements(v: Val<'_>) -> Vec<Cow<'_, Bson>> {
    match v {
        Some(Cow::Borrowed(Bson::Array(a))) => a.iter().map(Cow::Borrowed).collect(),
        Some(Cow::Owned(Bson::Array(a))) => a.into_iter().map(Cow::Owned).collect(),
        _ => Vec::new(),
    }
}

fn is_default_trim_char(c: char) -> bool {
    matches!(c, '\0' | ' ' | '\t' | '\n' | '\u{0B}' | '\u{0C}' | '\r' | '\u{A0}' | '\u{1680}' | '\u{2000}'..='\u{200A}')
}

fn show(v: &Val<'_>) -> String {
    v.as_deref().map_or_else(|| "missing".to_string(), |b| b.to_string())
}

fn exact_i32(v: &Bson) -> Option<i32> {
    let i = as_i64(v)?;
    i32::try_from(i).ok()
}

// --- Numbers --------------------------------------------------------------------------------

/// A number in one of MongoDB's four numeric types (decimals carried as doubles, see above).
#[derive(Clone, Copy, Debug)]
enum Num {
    Int(i32),
    Long(i64),
    Double(f64),
    Decimal(f64),
}

impl Num {
    fn of(v: &Bson) -> Option<Num> {
        Some(match v {
            Bson::Int32(i) => Num::Int(*i),
            Bson::Int64(i) => Num::Long(*i),
            Bson::Double(d) => Num::Double(*d),
            Bson::Decimal128(d) => Num::Decimal(decimal_to_f64(d)),
            _ => return None,
        })
    }
    fn f(self) -> f64 {
        match self {
            Num::Int(i) => f64::from(i),
            Num::Long(i) => i as f64,
            Num::Double(d) | Num::Decimal(d) => d,
        }
    }
    fn int(self) -> Option<i64> {
        match self {
            Num::Int(i) => Some(i64::from(i)),
            Num::Long(i) => Some(i),
            _ => None,
        }
    }
    fn rank(self) -> u8 {
        match self {
            Num::Int(_) => 0,
            Num::Long(_) => 1,
            Num::Double(_) => 2,
            Num::Decimal(_) => 3,
        }
    }
    fn to_bson(self) -> Bson {
        match self {
            Num::Int(i) => Bson::Int32(i),
            Num::Long(i) => Bson::Int64(i),
            Num::Double(d) => Bson::Double(d),
            Num::Decimal(d) => Bson::Decimal128(f64_to_decimal(d)),
        }
    }
}

/// A double as Decimal128, through 15 significant digits (MongoDB's default conversion).
pub fn f64_to_decimal(d: f64) -> bson::Decimal128 {
    let s = if d.is_nan() {
        "NaN".to_string()
    } else if d.is_infinite() {
        if d > 0.0 { "Infinity" } else { "-Infinity" }.to_string()
    } else {
        let e = format!("{d:.14e}");
        match e.split_once('e') {
            Some((mantissa, exp)) => {
                let mantissa = if mantissa.contains('.') { mantissa.trim_end_matches('0').trim_end_matches('.') } else { mantissa };
                format!("{mantissa}e{exp}")
            }
            None => e,
        }
    };
    s.parse().unwrap_or_else(|_| "NaN".parse().expect("NaN parses"))
}

/// Integer results: int when both were int and it fits, else long; None on int64 overflow.
fn int_result(r: Option<i64>, long: bool) -> Option<Num> {
    let r = r?;
    Some(match i32::try_from(r) {
        Ok(i) if !long => Num::Int(i),
        _ => Num::Long(r),
    })
}

#[derive(Clone, Copy)]
enum BinOp {
    Add,
    Sub,
    Mul,
}

fn arith(op: BinOp, a: Num, b: Num) -> Num {
    let fop = |x: f64, y: f64| match op {
        BinOp::Add => x + y,
        BinOp::Sub => x - y,
        BinOp::Mul => x * y,
    };
    if a.rank().max(b.rank()) == 3 {
        return Num::Decimal(fop(a.f(), b.f()));
    }
    if a.rank().max(b.rank()) == 2 {
        return Num::Double(fop(a.f(), b.f()));
    }
    let (x, y) = (a.int().unwrap_or(0), b.int().unwrap_or(0));
    let r = match op {
        BinOp::Add => x.checked_add(y),
        BinOp::Sub => x.checked_sub(y),
        BinOp::Mul => x.checked_mul(y),
    };
    int_result(r, a.rank() == 1 || b.rank() == 1).unwrap_or(Num::Double(fop(a.f(), b.f())))
}

/// `a + b` with MongoDB's numeric promotion (int overflow to long, long overflow to double,
/// double, decimal); None unless both are numbers. Used by the `$sum`/`$avg` accumulators.
pub fn add_numbers(a: &Bson, b: &Bson) -> Option<Bson> {
    Some(arith(BinOp::Add, Num::of(a)?, Num::of(b)?).to_bson())
}

fn null() -> Result<Option<Bson>, DocError> {
    Ok(Some(Bson::Null))
}

fn op_add(_: &'static str, args: &[Val<'_>]) -> Result<Option<Bson>, DocError> {
    let mut total = Num::Int(0);
    let mut date: Option<i64> = None;
    for a in args {
        match a.as_deref() {
            None | Some(Bson::Null | Bson::Undefined) => return null(),
            Some(Bson::DateTime(d)) => {
                if date.is_some() {
                    return Err(DocError::location(16612, "only one date allowed in an $add expression"));
                }
                date = Some(d.timestamp_millis());
            }
            Some(v) => match Num::of(v) {
                Some(n) => total = arith(BinOp::Add, total, n),
                None => {
                    return Err(DocError::type_mismatch(format!("$add only supports numeric or date types, not {}", type_name(v))));
                }
            },
        }
    }
    match date {
        Some(ms) => {
            let add = match total {
                Num::Int(i) => i64::from(i),
                Num::Long(i) => i,
                Num::Double(d) | Num::Decimal(d) => d.round() as i64,
            };
            Ok(Some(Bson::DateTime(bson::DateTime::from_millis(ms.wrapping_add(add)))))
        }
        None => Ok(Some(total.to_bson())),
    }
}

fn op_subtract(_: &'static str, args: &[Val<'_>]) -> Result<Option<Bson>, DocError> {
    let (a, b) = (args[0].as_deref(), args[1].as_deref());
    if nullish(&args[0]) || nullish(&args[1]) {
        return null();
    }
    let (a, b) = (a.expect("not nullish"), b.expect("not nullish"));
    match (a, b) {
        (Bson::DateTime(x), Bson::DateTime(y)) => Ok(Some(Bson::Int64(x.timestamp_millis().wrapping_sub(y.timestamp_millis())))),
        (Bson::DateTime(x), n) if is_number(n) => {
            let ms = match Num::of(n).expect("number") {
                Num::Int(i) => i64::from(i),
                Num::Long(i) => i,
                Num::Double(d) | Num::Decimal(d) => d.round() as i64,
            };
            Ok(Some(Bson::DateTime(bson::DateTime::from_millis(x.timestamp_millis().wrapping_sub(ms)))))
        }
        _ => match (Num::of(a), Num::of(b)) {
            (Some(x), Some(y)) => Ok(Some(arith(BinOp::Sub, x, y).to_bson())),
            _ => Err(DocError::location(16556, format!("can't $subtract {} from {}", type_name(b), type_name(a)))),
        },
    }
}

fn op_multiply(_: &'static str, args: &[Val<'_>]) -> Result<Option<Bson>, DocError> {
    let mut total = Num::Int(1);
    for a in args {
        match a.as_deref() {
            None | Some(Bson::Null | Bson::Undefined) => return null(),
            Some(v) => match Num::of(v) {
                Some(n) => total = arith(BinOp::Mul, total, n),
                None => return Err(DocError::location(16555, format!("$multiply only supports numeric types, not {}", type_name(v)))),
            },
        }
    }
    Ok(Some(total.to_bson()))
}

/// Both arguments as numbers for a binary numeric operator (None: a null/missing argument).
fn two_numbers(name: &str, args: &[Val<'_>], code: i32) -> Result<Option<(Num, Num)>, DocError> {
    if nullish(&args[0]) || nullish(&args[1]) {
        return Ok(None);
    }
    match (args[0].as_deref().and_then(Num::of), args[1].as_deref().and_then(Num::of)) {
        (Some(a), Some(b)) => Ok(Some((a, b))),
        _ => Err(DocError::location(code, format!("{name} only supports numeric types, not {} and {}", tname(&args[0]), tname(&args[1])))),
    }
}

fn op_divide(name: &'static str, args: &[Val<'_>]) -> Result<Option<Bson>, DocError> {
    let Some((a, b)) = two_numbers(name, args, 16609)? else { return null() };
    if b.f() == 0.0 {
        return Err(DocError::bad_value("can't $divide by zero"));
    }
    let r = a.f() / b.f();
    Ok(Some(if a.rank().max(b.rank()) == 3 { Num::Decimal(r) } else { Num::Double(r) }.to_bson()))
}

fn op_mod(name: &'static str, args: &[Val<'_>]) -> Result<Option<Bson>, DocError> {
    let Some((a, b)) = two_numbers(name, args, 16611)? else { return null() };
    if b.f() == 0.0 && b.rank() < 2 {
        return Err(DocError::location(16610, "can't $mod by zero"));
    }
    let out = match a.rank().max(b.rank()) {
        3 => Num::Decimal(a.f() % b.f()),
        2 => Num::Double(a.f() % b.f()),
        _ => {
            let (x, y) = (a.int().unwrap_or(0), b.int().unwrap_or(1));
            int_result(Some(x.checked_rem(y).unwrap_or(0)), a.rank() == 1 || b.rank() == 1).unwrap_or(Num::Long(0))
        }
    };
    Ok(Some(out.to_bson()))
}

/// The single argument of a unary numeric operator (None: null/missing).
fn one_number(name: &str, v: &Val<'_>) -> Result<Option<Num>, DocError> {
    if nullish(v) {
        return Ok(None);
    }
    match v.as_deref().and_then(Num::of) {
        Some(n) => Ok(Some(n)),
        None => Err(DocError::location(28765, format!("{name} only supports numeric types, not {}", tname(v)))),
    }
}

/// `$bitAnd`/`$bitOr`/`$bitXor` (any number of operands; none gives the identity: -1, 0, 0)
/// and `$bitNot`: int and long operands only, an int result unless some operand is a long;
/// null or missing gives null.
fn op_bitwise(name: &'static str, args: &[Val<'_>]) -> Result<Option<Bson>, DocError> {
    let mut acc: i64 = if name == "$bitAnd" { -1 } else { 0 };
    let mut long = false;
    for a in args {
        let v = match a.as_deref() {
            None | Some(Bson::Null | Bson::Undefined) => return null(),
            Some(Bson::Int32(i)) => i64::from(*i),
            Some(Bson::Int64(i)) => {
                long = true;
                *i
            }
            Some(other) => {
                return Err(DocError::type_mismatch(format!("{name} only supports int and long operands, not {}", type_name(other))))
            }
        };
        acc = match name {
            "$bitAnd" => acc & v,
            "$bitOr" => acc | v,
            "$bitXor" => acc ^ v,
            _ => !v,
        };
    }
    // Int operands keep every result within 32 bits (sign-extended), so the cast is exact.
    Ok(Some(if long { Bson::Int64(acc) } else { Bson::Int32(acc as i32) }))
}

fn op_abs(name: &'static str, args: &[Val<'_>]) -> Result<Option<Bson>, DocError> {
    let Some(n) = one_number(name, &args[0])? else { return null() };
    let out = match n {
        Num::Int(i) => i.checked_abs().map_or(Num::Long(-i64::from(i)), Num::Int),
        Num::Long(i) => Num::Long(i.checked_abs().ok_or_else(|| DocError::location(28680, "can't take $abs of long long min"))?),
        Num::Double(d) => Num::Double(d.abs()),
        Num::Decimal(d) => Num::Decimal(d.abs()),
    };
    Ok(Some(out.to_bson()))
}

fn op_ceil_floor(name: &'static str, args: &[Val<'_>]) -> Result<Option<Bson>, DocError> {
    let Some(n) = one_number(name, &args[0])? else { return null() };
    let f = |d: f64| if name == "$ceil" { d.ceil() } else { d.floor() };
    let out = match n {
        Num::Double(d) => Num::Double(f(d)),
        Num::Decimal(d) => Num::Decimal(f(d)),
        int => int,
    };
    Ok(Some(out.to_bson()))
}

fn round_half_even(x: f64) -> f64 {
    let r = x.round();
    if (x - x.trunc()).abs() == 0.5 {
        2.0 * (x / 2.0).round()
    } else {
        r
    }
}

fn op_round_trunc(name: &'static str, args: &[Val<'_>]) -> Result<Option<Bson>, DocError> {
    let place = match args.get(1) {
        None => 0,
        Some(p) if nullish(p) => return null(),
        Some(p) => {
            // MongoDB: coerce to long (16004 / 31109), then integral int32 (51082), then range.
            let v = p.as_deref().expect("not nullish");
            if !is_number(v) {
                return Err(DocError::location(16004, format!("can't convert from BSON type {} to long", type_name(v))));
            }
            let f = as_f64(v).unwrap_or(f64::NAN);
            if !f.is_finite() {
                return Err(DocError::location(
                    31109,
                    format!("Can't coerce out of range value {} to long", format_double(f).to_lowercase()),
                ));
            }
            let i =
                exact_i32(v).ok_or_else(|| DocError::location(51082, format!("precision argument to  {name} must be a integral value")))?;
            if !(-20..=100).contains(&i) {
                return Err(DocError::location(51083, format!("cannot apply {name} with precision value {i} value must be in [-20, 100]")));
            }
            i
        }
    };
    let Some(n) = one_number(name, &args[0])? else { return null() };
    let rounding = |x: f64| if name == "$round" { round_half_even(x) } else { x.trunc() };
    let apply = |x: f64| -> f64 {
        if !x.is_finite() {
            return x;
        }
        if place >= 0 {
            let scale = 10f64.powi(place);
            let y = x * scale;
            if !y.is_finite() || y.abs() >= 1e17 {
                return x;
            }
            // Round the scaled value through 15 significant digits first (as MongoDB's
            // decimal conversion does), so 28.73 * 10 = 287.29999... still rounds to 287.3.
            let y: f64 = format!("{y:.14e}").parse().unwrap_or(y);
            rounding(y) / scale
        } else {
            let scale = 10f64.powi(-place);
            rounding(x / scale) * scale
        }
    };
    let out = match n {
        Num::Double(d) => Num::Double(apply(d)),
        Num::Decimal(d) => Num::Decimal(apply(d)),
        Num::Int(_) | Num::Long(_) if place >= 0 => n,
        Num::Int(i) => {
            let r = apply(f64::from(i));
            i32::try_from(r as i64).map_or(Num::Long(r as i64), Num::Int)
        }
        Num::Long(i) => {
            let scale = 10i64.checked_pow((-place) as u32);
            match scale {
                Some(s) => {
                    let q = i / s;
                    let rem = i % s;
                    let q = if name == "$round" {
                        let twice = rem.unsigned_abs().saturating_mul(2);
                        let s = s.unsigned_abs();
                        if twice > s || (twice == s && q % 2 != 0) {
                            q + i.signum()
                        } else {
                            q
                        }
                    } else {
                        q
                    };
                    q.checked_mul(s).map_or(Num::Double(q as f64 * s as f64), Num::Long)
                }
                None => Num::Long(0),
            }
        }
    };
    Ok(Some(out.to_bson()))
}

fn float_result(n: Num, r: f64) -> Bson {
    if n.rank() == 3 {
        Num::Decimal(r).to_bson()
    } else {
        Bson::Double(r)
    }
}

fn op_sqrt(name: &'static str, args: &[Val<'_>]) -> Result<Option<Bson>, DocError> {
    let Some(n) = one_number(name, &args[0])? else { return null() };
    if n.f() < 0.0 {
        return Err(DocError::location(28714, "$sqrt's argument must be greater than or equal to 0"));
    }
    Ok(Some(float_result(n, n.f().sqrt())))
}

fn op_exp(name: &'static str, args: &[Val<'_>]) -> Result<Option<Bson>, DocError> {
    let Some(n) = one_number(name, &args[0])? else { return null() };
    Ok(Some(float_result(n, n.f().exp())))
}

fn op_ln_log10(name: &'static str, args: &[Val<'_>]) -> Result<Option<Bson>, DocError> {
    let Some(n) = one_number(name, &args[0])? else { return null() };
    if n.f() <= 0.0 {
        let code = if name == "$ln" { 28766 } else { 28761 };
        return Err(DocError::location(code, format!("{name}'s argument must be a positive number, but is {}", n.to_bson())));
    }
    Ok(Some(float_result(n, if name == "$ln" { n.f().ln() } else { n.f().log10() })))
}

fn op_log(_: &'static str, args: &[Val<'_>]) -> Result<Option<Bson>, DocError> {
    if nullish(&args[0]) || nullish(&args[1]) {
        return null();
    }
    let x = args[0]
        .as_deref()
        .and_then(Num::of)
        .ok_or_else(|| DocError::location(28756, format!("$log's argument must be numeric, not {}", tname(&args[0]))))?;
    let b = args[1]
        .as_deref()
        .and_then(Num::of)
        .ok_or_else(|| DocError::location(28757, format!("$log's base must be numeric, not {}", tname(&args[1]))))?;
    if x.f() <= 0.0 {
        return Err(DocError::location(28758, format!("$log's argument must be a positive number, but is {}", x.to_bson())));
    }
    if b.f() <= 0.0 || b.f() == 1.0 {
        return Err(DocError::location(28759, format!("$log's base must be a positive number not equal to 1, but is {}", b.to_bson())));
    }
    let r = x.f().ln() / b.f().ln();
    Ok(Some(if x.rank().max(b.rank()) == 3 { Num::Decimal(r).to_bson() } else { Bson::Double(r) }))
}

fn op_pow(_: &'static str, args: &[Val<'_>]) -> Result<Option<Bson>, DocError> {
    if nullish(&args[0]) || nullish(&args[1]) {
        return null();
    }
    let base = args[0]
        .as_deref()
        .and_then(Num::of)
        .ok_or_else(|| DocError::location(28762, format!("$pow's base must be numeric, not {}", tname(&args[0]))))?;
    let exp = args[1]
        .as_deref()
        .and_then(Num::of)
        .ok_or_else(|| DocError::location(28763, format!("$pow's exponent must be numeric, not {}", tname(&args[1]))))?;
    if base.f() == 0.0 && exp.f() < 0.0 {
        return Err(DocError::location(28764, "$pow cannot take a base of 0 and a negative exponent"));
    }
    let r = base.f().powf(exp.f());
    let out = match (base.int(), exp.int()) {
        _ if base.rank().max(exp.rank()) == 3 => Num::Decimal(r),
        (Some(b), Some(e)) if e >= 0 => {
            let exact = u32::try_from(e).ok().and_then(|e| b.checked_pow(e));
            int_result(exact, base.rank() == 1 || exp.rank() == 1).unwrap_or(Num::Double(r))
        }
        (Some(b), Some(_)) if b == 1 || b == -1 => {
            // 1^-n and (-1)^-n stay integers, as MongoDB computes them.
            int_result(Some(r as i64), base.rank() == 1 || exp.rank() == 1).unwrap_or(Num::Double(r))
        }
        _ => Num::Double(r),
    };
    Ok(Some(out.to_bson()))
}

// --- Comparison, boolean, types -------------------------------------------------------------

/// Compare two values as aggregation does: missing and undefined sort just above MinKey,
/// below null; otherwise BSON order.
pub fn compare_values(a: Option<&Bson>, b: Option<&Bson>) -> Ordering {
    fn is_missing(v: Option<&Bson>) -> bool {
        matches!(v, None | Some(Bson::Undefined))
    }
    match (is_missing(a), is_missing(b)) {
        (true, true) => Ordering::Equal,
        (true, false) => {
            if matches!(b, Some(Bson::MinKey)) {
                Ordering::Greater
            } else {
                Ordering::Less
            }
        }
        (false, true) => compare_values(b, a).reverse(),
        (false, false) => compare(a.expect("present"), b.expect("present")),
    }
}

fn op_compare(name: &'static str, args: &[Val<'_>]) -> Result<Option<Bson>, DocError> {
    let o = compare_values(args[0].as_deref(), args[1].as_deref());
    Ok(Some(match name {
        "$eq" => Bson::Boolean(o == Ordering::Equal),
        "$ne" => Bson::Boolean(o != Ordering::Equal),
        "$gt" => Bson::Boolean(o == Ordering::Greater),
        "$gte" => Bson::Boolean(o != Ordering::Less),
        "$lt" => Bson::Boolean(o == Ordering::Less),
        "$lte" => Bson::Boolean(o != Ordering::Greater),
        _ => Bson::Int32(match o {
            Ordering::Less => -1,
            Ordering::Equal => 0,
            Ordering::Greater => 1,
        }),
    }))
}

fn op_not(_: &'static str, args: &[Val<'_>]) -> Result<Option<Bson>, DocError> {
    Ok(Some(Bson::Boolean(!truthy(args[0].as_deref()))))
}

fn op_type(_: &'static str, args: &[Val<'_>]) -> Result<Option<Bson>, DocError> {
    Ok(Some(Bson::String(tname(&args[0]).to_string())))
}

fn op_is_number(_: &'static str, args: &[Val<'_>]) -> Result<Option<Bson>, DocError> {
    Ok(Some(Bson::Boolean(args[0].as_deref().is_some_and(is_number))))
}

// --- Conversion -----------------------------------------------------------------------------

/// Target types of `$convert` (BSON type numbers).
fn convert_target(to: &Val<'_>) -> Result<Option<i32>, DocError> {
    match to.as_deref() {
        None | Some(Bson::Null | Bson::Undefined) => Ok(None),
        Some(Bson::String(s)) => match s.as_str() {
            "double" => Ok(Some(1)),
            "string" => Ok(Some(2)),
            "objectId" => Ok(Some(7)),
            "bool" => Ok(Some(8)),
            "date" => Ok(Some(9)),
            "int" => Ok(Some(16)),
            "long" => Ok(Some(18)),
            "decimal" => Ok(Some(19)),
            other => Err(DocError::bad_value(format!("Unknown type name: {other}"))),
        },
        Some(v) if is_number(v) => match as_i64(v) {
            Some(n @ (1 | 2 | 7 | 8 | 9 | 16 | 18 | 19)) => Ok(Some(n as i32)),
            Some(n) => {
                Err(DocError::failed_to_parse(format!("In $convert, numeric value for 'to' does not correspond to a BSON type: {n}")))
            }
            None => Err(DocError::failed_to_parse(format!("In $convert, numeric 'to' argument is not an integer: {v}"))),
        },
        Some(v) => Err(DocError::failed_to_parse(format!("$convert's 'to' argument must be a string or number, but is {}", type_name(v)))),
    }
}

fn target_name(t: i32) -> &'static str {
    match t {
        1 => "double",
        2 => "string",
        7 => "objectId",
        8 => "bool",
        9 => "date",
        16 => "int",
        18 => "long",
        _ => "decimal",
    }
}

fn conversion_failure(message: String) -> DocError {
    DocError::new(241, "ConversionFailure", message)
}

fn unsupported(v: &Bson, t: i32) -> DocError {
    conversion_failure(format!("Unsupported conversion from {} to {} in $convert with no onError value", type_name(v), target_name(t)))
}

fn failed_number(s: &str, why: &str) -> DocError {
    conversion_failure(format!("Failed to parse number '{s}' in $convert with no onError value: {why}"))
}

/// A string as a base-10 integer for `$toInt`/`$toLong` (MongoDB's reasons on failure).
fn parse_int_string(s: &str, t: i32) -> Result<i64, DocError> {
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    if digits.is_empty() {
        return Err(failed_number(s, "No digits"));
    }
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(failed_number(s, "Did not consume whole string."));
    }
    let v = s.parse::<i64>().map_err(|_| failed_number(s, "Overflow"))?;
    if t == 16 && i32::try_from(v).is_err() {
        return Err(failed_number(s, "Overflow"));
    }
    Ok(v)
}

/// A string as a double the way MongoDB's `$convert` reads it: C's `strtod` over the whole
/// string (decimal or `0X`/signed hexadecimal, `inf`, `nan`), with MongoDB's gates and reasons.
fn parse_double_string(s: &str) -> Result<f64, DocError> {
    if s.is_empty() {
        return Err(failed_number(s, "Empty string"));
    }
    if s.starts_with(|c: char| c.is_ascii_whitespace()) {
        return Err(failed_number(s, "Leading whitespace"));
    }
    if s.starts_with("0x") {
        return Err(failed_number(s, "Illegal hexadecimal input"));
    }
    let (negative, body) = match s.as_bytes()[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let sign = if negative { -1.0 } else { 1.0 };
    let lower = body.to_ascii_lowercase();
    for (word, value) in [("infinity", f64::INFINITY), ("inf", f64::INFINITY), ("nan", f64::NAN)] {
        if lower.starts_with(word) {
            return if lower.len() == word.len() { Ok(sign * value) } else { Err(failed_number(s, "Did not consume whole string.")) };
        }
    }
    let bytes = body.as_bytes();
    let digits_from = |mut i: usize, hex: bool| {
        let start = i;
        while i < bytes.len() && (if hex { bytes[i].is_ascii_hexdigit() } else { bytes[i].is_ascii_digit() }) {
            i += 1;
        }
        (i, i - start)
    };
    let hex = lower.starts_with("0x") && bytes.get(2).is_some_and(|b| b.is_ascii_hexdigit() || *b == b'.');
    let start = if hex { 2 } else { 0 };
    let (mut i, int_digits) = digits_from(start, hex);
    let mut frac_digits = 0;
    if bytes.get(i) == Some(&b'.') {
        let (j, n) = digits_from(i + 1, hex);
        if int_digits + n > 0 {
            i = j;
            frac_digits = n;
        }
    }
    if int_digits + frac_digits == 0 {
        return Err(failed_number(s, "Did not consume any digits"));
    }
    let mantissa_end = i;
    let exp_char = if hex { b'p' } else { b'e' };
    if bytes.get(i).is_some_and(|b| b.to_ascii_lowercase() == exp_char) {
        let mut j = i + 1;
        if matches!(bytes.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        let (k, n) = digits_from(j, false);
        if n > 0 {
            i = k;
        }
    }
    if i != bytes.len() {
        return Err(failed_number(s, "Did not consume whole string."));
    }
    let value = if hex {
        let mut m = 0.0f64;
        let mut scale = 0i32;
        for &b in &bytes[2..mantissa_end] {
            if b == b'.' {
                continue;
            }
            m = m * 16.0 + f64::from((b as char).to_digit(16).unwrap_or(0));
        }
        scale -= 4 * frac_digits as i32;
        let exp: i32 = if mantissa_end < i { body[mantissa_end + 1..i].parse().unwrap_or(i32::MAX) } else { 0 };
        m * 2f64.powi(exp.saturating_add(scale))
    } else {
        body.parse::<f64>().map_err(|_| failed_number(s, "Did not consume whole string."))?
    };
    let nonzero_digits = body.as_bytes()[start..mantissa_end].iter().any(|b| b.is_ascii_alphanumeric() && *b != b'0');
    if value.is_infinite() || (value != 0.0 && value.abs() < f64::MIN_POSITIVE) || (value == 0.0 && nonzero_digits) {
        return Err(failed_number(s, "Out of range"));
    }
    Ok(sign * value)
}

fn double_to_integer(d: f64, t: i32, v: &Bson) -> Result<i64, DocError> {
    if d.is_nan() {
        return Err(conversion_failure("Attempt to convert NaN value to integer type in $convert with no onError value".to_string()));
    }
    if d.is_infinite() {
        return Err(conversion_failure("Attempt to convert infinity value to integer type in $convert with no onError value".to_string()));
    }
    let r = d.trunc();
    let (lo, hi) = if t == 16 { (f64::from(i32::MIN), f64::from(i32::MAX)) } else { (-9.223_372_036_854_776e18, 9.223_372_036_854_775e18) };
    if d.is_infinite() || r < lo || r > hi {
        let shown = match v {
            Bson::Double(_) => format_double(d),
            Bson::Decimal128(x) => x.to_string(),
            _ => String::new(),
        };
        return Err(conversion_failure(format!("Conversion would overflow target type in $convert with no onError value: {shown}")));
    }
    Ok(r as i64)
}

/// Convert `v` (not null) to BSON type number `t`, as `$convert` with no onError value.
fn convert(v: &Bson, t: i32) -> Result<Bson, DocError> {
    Ok(match t {
        1 => Bson::Double(match v {
            Bson::Boolean(b) => f64::from(u8::from(*b)),
            Bson::String(s) => parse_double_string(s)?,
            Bson::DateTime(d) => d.timestamp_millis() as f64,
            n if is_number(n) => as_f64(n).unwrap_or(f64::NAN),
            _ => return Err(unsupported(v, t)),
        }),
        2 => Bson::String(match v {
            Bson::Boolean(b) => b.to_string(),
            Bson::String(s) => s.clone(),
            Bson::Int32(i) => i.to_string(),
            Bson::Int64(i) => i.to_string(),
            Bson::Double(d) => format_double(*d),
            Bson::Decimal128(d) => d.to_string(),
            Bson::ObjectId(o) => o.to_hex(),
            Bson::DateTime(d) => format_date(d.timestamp_millis()),
            _ => return Err(unsupported(v, t)),
        }),
        7 => match v {
            Bson::ObjectId(o) => Bson::ObjectId(*o),
            Bson::String(s) => {
                let fail =
                    |why: String| conversion_failure(format!("Failed to parse objectId '{s}' in $convert with no onError value: {why}"));
                if s.len() != 24 {
                    return Err(fail(format!("Invalid string length for parsing to OID, expected 24 but found {}", s.len())));
                }
                if let Some(bad) = s.chars().find(|c| !c.is_ascii_hexdigit()) {
                    return Err(fail(format!("Invalid character found in hex string: {bad}")));
                }
                Bson::ObjectId(bson::oid::ObjectId::parse_str(s).map_err(|e| fail(e.to_string()))?)
            }
            _ => return Err(unsupported(v, t)),
        },
        8 => Bson::Boolean(match v {
            Bson::Boolean(b) => *b,
            n if is_number(n) => truthy(Some(n)),
            Bson::MinKey | Bson::MaxKey | Bson::Undefined | Bson::Null => return Err(unsupported(v, t)),
            _ => true,
        }),
        9 => Bson::DateTime(match v {
            Bson::DateTime(d) => *d,
            Bson::Int64(i) => bson::DateTime::from_millis(*i),
            Bson::Double(_) | Bson::Decimal128(_) => {
                let d = as_f64(v).unwrap_or(f64::NAN);
                bson::DateTime::from_millis(double_to_integer(d, 18, v)?)
            }
            Bson::String(s) => bson::DateTime::from_millis(
                parse_date(s)
                    .ok_or_else(|| conversion_failure(format!("Error parsing date string '{s}'; in $convert with no onError value")))?,
            ),
            Bson::ObjectId(o) => bson::DateTime::from_millis(o.timestamp().timestamp_millis() / 1000 * 1000),
            Bson::Timestamp(ts) => bson::DateTime::from_millis(i64::from(ts.time) * 1000),
            _ => return Err(unsupported(v, t)),
        }),
        16 | 18 => {
            let i = match v {
                Bson::Boolean(b) => i64::from(*b),
                Bson::Int32(i) => i64::from(*i),
                Bson::Int64(i) => *i,
                Bson::Double(_) | Bson::Decimal128(_) => double_to_integer(as_f64(v).unwrap_or(f64::NAN), t, v)?,
                Bson::String(s) => parse_int_string(s, t)?,
                Bson::DateTime(d) if t == 18 => d.timestamp_millis(),
                _ => return Err(unsupported(v, t)),
            };
            if t == 16 {
                Bson::Int32(i32::try_from(i).map_err(|_| {
                    conversion_failure("Conversion would overflow target type in $convert with no onError value: ".to_string())
                })?)
            } else {
                Bson::Int64(i)
            }
        }
        _ => match v {
            Bson::Decimal128(d) => Bson::Decimal128(*d),
            Bson::Boolean(b) => Num::Decimal(f64::from(u8::from(*b))).to_bson(),
            Bson::Int32(i) => Bson::Decimal128(i.to_string().parse().map_err(|_| unsupported(v, t))?),
            Bson::Int64(i) => Bson::Decimal128(i.to_string().parse().map_err(|_| unsupported(v, t))?),
            Bson::Double(d) => Num::Decimal(*d).to_bson(),
            Bson::String(s) => {
                parse_double_string(s)?;
                Bson::Decimal128(s.parse().map_err(|_| failed_number(s, "Did not consume whole string."))?)
            }
            Bson::DateTime(d) => Bson::Decimal128(d.timestamp_millis().to_string().parse().map_err(|_| unsupported(v, t))?),
            _ => return Err(unsupported(v, t)),
        },
    })
}

fn op_to(name: &'static str, args: &[Val<'_>]) -> Result<Option<Bson>, DocError> {
    if nullish(&args[0]) {
        return null();
    }
    let t = match name {
        "$toString" => 2,
        "$toInt" => 16,
        "$toLong" => 18,
        "$toDouble" => 1,
        "$toDecimal" => 19,
        "$toBool" => 8,
        "$toDate" => 9,
        _ => 7,
    };
    convert(args[0].as_deref().expect("not nullish"), t).map(Some)
}

/// A double as MongoDB's `$toString` prints it: C's `%g` (6 significant digits, exponent
/// form below 1e-4 and from 1e6), "NaN", "Infinity", "-Infinity", "-0".
pub fn format_double(d: f64) -> String {
    if d.is_nan() {
        return "NaN".into();
    }
    if d.is_infinite() {
        return if d > 0.0 { "Infinity".into() } else { "-Infinity".into() };
    }
    crate::util::num::format_g(d, 6)
}

/// A value as MongoDB's `Value::toString` shows it in messages: `{a: "x", b: [1, 2.5]}`.
pub fn mongo_display(v: &Bson) -> String {
    let mut out = String::new();
    write_mongo_display(v, &mut out, 0);
    out
}

fn write_mongo_display(v: &Bson, out: &mut String, depth: usize) {
    if depth > crate::docs::MAX_DEPTH {
        out.push_str("...");
        return;
    }
    match v {
        Bson::Document(d) => {
            if d.is_empty() {
                out.push_str("{}");
                return;
            }
            out.push('{');
            for (i, (k, x)) in d.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(k);
                out.push_str(": ");
                write_mongo_display(x, out, depth + 1);
            }
            out.push('}');
        }
        Bson::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_mongo_display(x, out, depth + 1);
            }
            out.push(']');
        }
        Bson::String(s) => {
            out.push('"');
            out.push_str(s);
            out.push('"');
        }
        Bson::Int32(i) => out.push_str(&i.to_string()),
        Bson::Int64(i) => out.push_str(&i.to_string()),
        Bson::Double(d) => out.push_str(&format_double(*d)),
        Bson::Decimal128(d) => out.push_str(&d.to_string()),
        Bson::Boolean(b) => out.push_str(if *b { "true" } else { "false" }),
        Bson::Null => out.push_str("null"),
        Bson::Undefined => out.push_str("undefined"),
        Bson::ObjectId(o) => out.push_str(&format!("ObjectId('{}')", o.to_hex())),
        Bson::DateTime(d) => out.push_str(&format!("new Date({})", d.timestamp_millis())),
        other => out.push_str(&other.to_string()),
    }
}

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian calendar.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A date as MongoDB's `$toString` prints it: `2018-03-03T12:00:00.000Z`.
pub fn format_date(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    let (h, mi, s, milli) = (rem / 3_600_000, rem / 60_000 % 60, rem / 1000 % 60, rem % 1000);
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{milli:03}Z")
}

/// Parse an ISO-8601 date string (`2018-03-03`, `2018-03-03T12:00:00.5Z`, `...+01:00`, the
/// offset optionally after a space) to milliseconds since the epoch.
pub fn parse_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let part = s.get(from..from + len)?;
        part.bytes().all(|c| c.is_ascii_digit()).then(|| part.parse().ok())?
    };
    let y = num(0, 4)?;
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    let (mo, d) = (num(5, 2)?, num(8, 2)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    let mut ms = days_from_civil(y, mo as u32, d as u32) * 86_400_000;
    let mut i = 10;
    if i < b.len() && (b[i] == b'T' || (b[i] == b' ' && b.get(i + 1).is_some_and(u8::is_ascii_digit))) {
        let (h, mi) = (num(i + 1, 2)?, num(i + 4, 2)?);
        if b.get(i + 3) != Some(&b':') || h > 23 || mi > 59 {
            return None;
        }
        ms += h * 3_600_000 + mi * 60_000;
        i += 6;
        if b.get(i) == Some(&b':') {
            let sec = num(i + 1, 2)?;
            if sec > 59 {
                return None;
            }
            ms += sec * 1000;
            i += 3;
            if b.get(i) == Some(&b'.') {
                let start = i + 1;
                let mut end = start;
                while end < b.len() && b[end].is_ascii_digit() {
                    end += 1;
                }
                if end == start {
                    return None;
                }
                let frac = &s[start..end.min(start + 3)];
                let mut f: i64 = frac.parse().ok()?;
                for _ in frac.len()..3 {
                    f *= 10;
                }
                ms += f;
                i = end;
            }
        }
    }
    // The offset may follow after one space ("2018-03-20 11:00:06 +0500", "2018-03-15 +10:00",
    // as on the $toDate page).
    if b.get(i) == Some(&b' ') && matches!(b.get(i + 1), Some(b'+' | b'-')) {
        i += 1;
    }
    match b.get(i) {
        None => Some(ms),
        Some(b'Z') if i + 1 == b.len() => Some(ms),
        Some(&sign @ (b'+' | b'-')) => {
            let h = num(i + 1, 2)?;
            let rest = &s[i + 3..];
            let m = match rest.len() {
                0 => 0,
                2 => num(i + 3, 2)?,
                3 if rest.starts_with(':') => num(i + 4, 2)?,
                _ => return None,
            };
            let off = (h * 60 + m) * 60_000;
            Some(if sign == b'+' { ms - off } else { ms + off })
        }
        _ => None,
    }
}

// --- Strings --------------------------------------------------------------------------------

fn op_concat(_: &'static str, args: &[Val<'_>]) -> Result<Option<Bson>, DocError> {
    let mut out = String::new();
    for a in args {
        match a.as_deref() {
            None | Some(Bson::Null | Bson::Undefined) => return null(),
            Some(Bson::String(s)) => out.push_str(s),
            Some(other) => return Err(DocError::location(16702, format!("$concat only supports strings, not {}", type_name(other)))),
        }
    }
    Ok(Some(Bson::String(out)))
}

/// MongoDB's string coercion for string operators: null/missing is "", numbers and dates print.
fn coerce_to_string(v: &Val<'_>) -> Result<String, DocError> {
    Ok(match v.as_deref() {
        None | Some(Bson::Null | Bson::Undefined) => String::new(),
        Some(Bson::String(s) | Bson::Symbol(s)) => s.clone(),
        Some(Bson::Int32(i)) => i.to_string(),
        Some(Bson::Int64(i)) => i.to_string(),
        Some(Bson::Double(d)) => format_double(*d),
        Some(Bson::Decimal128(d)) => d.to_string(),
        Some(Bson::DateTime(d)) => format_date(d.timestamp_millis()),
        Some(Bson::Timestamp(t)) => format!("Timestamp({}, {})", t.time, t.increment),
        Some(other) => return Err(DocError::location(16007, format!("can't convert from BSON type {} to String", type_name(other)))),
    })
}

fn op_case(name: &'static str, args: &[Val<'_>]) -> Result<Option<Bson>, DocError> {
    let s = coerce_to_string(&args[0])?;
    Ok(Some(Bson::String(if name == "$toLower" { s.to_ascii_lowercase() } else { s.to_ascii_uppercase() })))
}

fn op_str_len_cp(_: &'static str, args: &[Val<'_>]) -> Result<Option<Bson>, DocError> {
    match args[0].as_deref() {
        Some(Bson::String(s)) => Ok(Some(Bson::Int32(s.chars().count() as i32))),
        _ => Err(DocError::location(34471, format!("$strLenCP requires a string argument, found: {}", tname(&args[0])))),
    }
}

fn op_str_len_bytes(_: &'static str, args: &[Val<'_>]) -> Result<Option<Bson>, DocError> {
    match args[0].as_deref() {
        Some(Bson::String(s)) => Ok(Some(Bson::Int32(s.len() as i32))),
        _ => Err(DocError::location(34473, format!("$strLenBytes requires a string argument, found: {}", tname(&args[0])))),
    }
}

fn op_substr_cp(_: &'static str, args: &[Val<'_>]) -> Result<Option<Bson>, DocError> {
    let s = coerce_to_string(&args[0])?;
    let int_arg = |v: &Val<'_>, what: &str, type_code: i32, range_code: i32| -> Result<i64, DocError> {
        let b = v.as_deref().filter(|b| is_number(b)).ok_or_else(|| {
            DocError::location(type_code, format!("$substrCP: {what} must be a numeric type (is BSON type {})", tname(v)))
        })?;
        let i = as_i64(b)
            .filter(|i| i32::try_from(*i).is_ok())
            .ok_or_else(|| DocError::location(range_code, format!("$substrCP: {what} cannot be represented as a 32-bit integral value")))?;
        Ok(i)
    };
    let start = int_arg(&args[1], "starting index", 34450, 34451)?;
    let len = int_arg(&args[2], "length", 34452, 34453)?;
    if start < 0 {
        return Err(DocError::location(34454, "$substrCP: the starting index must be nonnegative integer."));
    }
    if len < 0 {
        return Err(DocError::location(34455, "$substrCP: length must be a nonnegative integer."));
    }
    Ok(Some(Bson::String(s.chars().skip(start as usize).take(len as usize).collect())))
}

fn op_split(_: &'static str, args: &[Val<'_>]) -> Result<Option<Bson>, DocError> {
    if nullish(&args[0]) {
        return null();
    }
    let Some(Bson::String(s)) = args[0].as_deref() else {
        return Err(DocError::location(
            40085,
            format!("$split requires an expression that evaluates to a string as a first argument, found: {}", tname(&args[0])),
        ));
    };
    if nullish(&args[1]) {
        return null();
    }
    let Some(Bson::String(sep)) = args[1].as_deref() else {
        return Err(DocError::location(
            40086,
            format!("$split requires an expression that evaluates to a string as a second argument, found: {}", tname(&args[1])),
        ));
    };
    if sep.is_empty() {
        return Err(DocError::location(40087, "$split requires a non-empty separator"));
    }
    Ok(Some(Bson::Array(s.split(sep.as_str()).map(|p| Bson::String(p.to_string())).collect())))
}

// --- Arrays ---------------------------------------------------------------------------------

fn op_size(_: &'static str, args: &[Val<'_>]) -> Result<Option<Bson>, DocError> {
    match args[0].as_deref() {
        Some(Bson::Array(a)) => Ok(Some(Bson::Int32(a.len() as i32))),
        _ => Err(DocError::location(17124, format!("The argument to $size must be an array, but was of type: {}", tname(&args[0])))),
    }
}

fn op_array_elem_at(_: &'static str, args: &[Val<'_>]) -> Result<Option<Bson>, DocError> {
    if nullish(&args[0]) || nullish(&args[1]) {
        return null();
    }
    let Some(Bson::Array(a)) = args[0].as_deref() else {
        return Err(DocError::location(28689, format!("$arrayElemAt's first argument must be an array, but is {}", tname(&args[0]))));
    };
    let idx = args[1].as_deref().expect("not nullish");
    if !is_number(idx) {
        return Err(DocError::location(
            28690,
            format!("$arrayElemAt's second argument must be a numeric value, but is {}", type_name(idx)),
        ));
    }
    let i = exact_i32(idx).ok_or_else(|| {
        DocError::location(28691, format!("$arrayElemAt's second argument must be representable as a 32-bit integer: {idx}"))
    })?;
    let i = i64::from(i);
    let pos = if i < 0 { a.len() as i64 + i } else { i };
    Ok(usize::try_from(pos).ok().and_then(|p| a.get(p)).cloned())
}

fn op_in(_: &'static str, args: &[Val<'_>]) -> Result<Option<Bson>, DocError> {
    let Some(Bson::Array(a)) = args[1].as_deref() else {
        return Err(DocError::location(40081, format!("$in requires an array as a second argument, found: {}", tname(&args[1]))));
    };
    let x = args[0].as_deref();
    Ok(Some(Bson::Boolean(a.iter().any(|e| compare_values(x, Some(e)) == Ordering::Equal))))
}

fn op_concat_arrays(_: &'static str, args: &[Val<'_>]) -> Result<Option<Bson>, DocError> {
    let mut out = Vec::new();
    for a in args {
        match a.as_deref() {
            None | Some(Bson::Null | Bson::Undefined) => return null(),
            Some(Bson::Array(items)) => out.extend(items.iter().cloned()),
            Some(other) => return Err(DocError::location(28664, format!("$concatArrays only supports arrays, not {}", type_name(other)))),
        }
    }
    Ok(Some(Bson::Array(out)))
}

fn op_is_array(_: &'static str, args: &[Val<'_>]) -> Result<Option<Bson>, DocError> {
    Ok(Some(Bson::Boolean(matches!(args[0].as_deref(), Some(Bson::Array(_))))))
}

fn op_first_last(name: &'static str, args: &[Val<'_>]) -> Result<Option<Bson>, DocError> {
    match args[0].as_deref() {
        None | Some(Bson::Null | Bson::Undefined) => null(),
        Some(Bson::Array(a)) => Ok(if name == "$first" { a.first() } else { a.last() }.cloned()),
        Some(other) => Err(DocError::location(28689, format!("{name}'s argument must be an array, but is {}", type_name(other)))),
    }
}

/// Operands of `$max $min $sum $avg`: one array argument means its elements.
fn accumulator_operands<'v>(args: &'v [Val<'_>]) -> Vec<&'v Bson> {
    match args {
        [one] => match one.as_deref() {
            Some(Bson::Array(a)) => a.iter().collect(),
            Some(v) => vec![v],
            None => Vec::new(),
        },
        many => many.iter().filter_map(|v| v.as_deref()).collect(),
    }
}

fn op_max_min(name: &'static str, args: &[Val<'_>]) -> Result<Option<Bson>, DocError> {
    let want = if name == "$max" { Ordering::Greater } else { Ordering::Less };
    let mut best: Option<&Bson> = None;
    for v in accumulator_operands(args) {
        if matches!(v, Bson::Null | Bson::Undefined) {
            continue;
        }
        if best.is_none_or(|b| compare(v, b) == want) {
            best = Some(v);
        }
    }
    Ok(Some(best.cloned().unwrap_or(Bson::Null)))
}

fn op_sum(_: &'static str, args: &[Val<'_>]) -> Result<Option<Bson>, DocError> {
    let mut total = Num::Int(0);
    for v in accumulator_operands(args) {
        if let Some(n) = Num::of(v) {
            total = arith(BinOp::Add, total, n);
        }
    }
    Ok(Some(total.to_bson()))
}

fn op_avg(_: &'static str, args: &[Val<'_>]) -> Result<Option<Bson>, DocError> {
    let mut total = Num::Int(0);
    let mut count = 0u64;
    for v in accumulator_operands(args) {
        if let Some(n) = Num::of(v) {
            total = arith(BinOp::Add, total, n);
            count += 1;
        }
    }
    if count == 0 {
        return null();
    }
    let avg = total.f() / count as f64;
    Ok(Some(if total.rank() == 3 { Num::Decimal(avg).to_bson() } else { Bson::Double(avg) }))
}

/// `$stdDevPop`/`$stdDevSamp` over numbers (others ignored); null without enough of them.
fn op_std_dev(name: &'static str, args: &[Val<'_>]) -> Result<Option<Bson>, DocError> {
    let xs: Vec<f64> = accumulator_operands(args).into_iter().filter_map(|v| Num::of(v).map(Num::f)).collect();
    let pop = name == "$stdDevPop";
    if xs.is_empty() || (!pop && xs.len() < 2) {
        return null();
    }
    let mean = xs.iter().sum::<f64>() / xs.len() as f64;
    let ss: f64 = xs.iter().map(|x| (x - mean) * (x - mean)).sum();
    let denom = if pop { xs.len() } else { xs.len() - 1 } as f64;
    Ok(Some(Bson::Double((ss / denom).sqrt())))
}

/// The `p` and `method` of `$percentile`/`$median` (shared with the accumulators): `p` a
/// non-empty array of constant numbers in [0, 1] (`$median`: 0.5), `method` one of
/// `approximate`, `discrete` (both computed exactly here: the smallest value with at least
/// p of the values at or below it) or `continuous` (linear interpolation).
pub fn percentile_spec(name: &str, arg: &Bson) -> Result<(Bson, Vec<f64>, bool), DocError> {
    let Bson::Document(d) = arg else {
        return Err(DocError::location(7436200, format!("specification must be an object; found {}", type_name(arg))));
    };
    let median = name == "$median";
    let (mut input, mut p, mut method) = (None, None, None);
    for (k, v) in d {
        match k.as_str() {
            "input" => input = Some(v.clone()),
            "p" if !median => p = Some(v),
            "method" => method = Some(v),
            other => return Err(DocError::location(40415, format!("BSON field '{name}.{other}' is an unknown field."))),
        }
    }
    let input = input.ok_or_else(|| DocError::location(40414, format!("BSON field '{name}.input' is missing but a required field")))?;
    let continuous = match method {
        Some(Bson::String(m)) if m == "approximate" || m == "discrete" => false,
        Some(Bson::String(m)) if m == "continuous" => true,
        Some(other) => {
            return Err(DocError::bad_value(format!("Currently only 'approximate' can be used as percentile 'method', found {other}")));
        }
        None => return Err(DocError::location(40414, format!("BSON field '{name}.method' is missing but a required field"))),
    };
    let ps = if median {
        vec![0.5]
    } else {
        let bad = || DocError::location(7750301, format!("The 'p' field for {name} must be an array of numbers from [0.0, 1.0]"));
        let Some(Bson::Array(items)) = p else { return Err(bad()) };
        if items.is_empty() {
            return Err(bad());
        }
        let mut ps = Vec::with_capacity(items.len());
        for i in items {
            let v = if is_number(i) { as_f64(i) } else { Expr::parse(i)?.as_constant().filter(|c| is_number(c)).and_then(as_f64) };
            match v {
                Some(x) if (0.0..=1.0).contains(&x) => ps.push(x),
                _ => return Err(bad()),
            }
        }
        ps
    };
    Ok((input, ps, continuous))
}

/// The percentiles of `values` (sorted ascending, non-empty) as doubles.
pub fn percentiles_of(values: &[f64], ps: &[f64], continuous: bool) -> Vec<f64> {
    let n = values.len();
    ps.iter()
        .map(|&p| {
            if continuous {
                let rank = p * (n - 1) as f64;
                let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
                values[lo] + (values[hi.min(n - 1)] - values[lo]) * (rank - lo as f64)
            } else {
                let idx = ((p * n as f64).ceil() as usize).max(1) - 1;
                values[idx.min(n - 1)]
            }
        })
        .collect()
}

fn parse_percentile(name: &'static str, arg: &Bson, depth: usize) -> Result<Node, DocError> {
    let (input, ps, continuous) = percentile_spec(name, arg)?;
    Ok(Node::Call(
        name,
        op_percentile,
        vec![
            parse_node(&input, depth + 1)?,
            Node::Literal(Bson::Array(ps.into_iter().map(Bson::Double).collect())),
            Node::Literal(Bson::Boolean(continuous)),
        ],
    ))
}

/// `$percentile`/`$median` on an array (or one value): numbers only; null when there are none.
fn op_percentile(name: &'static str, args: &[Val<'_>]) -> Result<Option<Bson>, DocError> {
    let mut xs: Vec<f64> = match args[0].as_deref() {
        Some(Bson::Array(a)) => a.iter().filter_map(|v| Num::of(v).map(Num::f)).collect(),
        Some(v) => Num::of(v).map(Num::f).into_iter().collect(),
        None => Vec::new(),
    };
    xs.retain(|x| !x.is_nan());
    let ps: Vec<f64> = match args[1].as_deref() {
        Some(Bson::Array(a)) => a.iter().filter_map(as_f64).collect(),
        _ => vec![0.5],
    };
    let continuous = matches!(args[2].as_deref(), Some(Bson::Boolean(true)));
    if xs.is_empty() {
        return Ok(Some(if name == "$median" { Bson::Null } else { Bson::Array(vec![Bson::Null; ps.len()]) }));
    }
    xs.sort_by(f64::total_cmp);
    let r = percentiles_of(&xs, &ps, continuous);
    Ok(Some(if name == "$median" { Bson::Double(r[0]) } else { Bson::Array(r.into_iter().map(Bson::Double).collect()) }))
}

fn parse_n_array(name: &'static str, arg: &Bson, depth: usize) -> Result<Node, DocError> {
    parse_named(name, arg, depth, &["n", "input"], 2, op_n_array)
}

/// `$firstN`/`$lastN`/`$maxN`/`$minN` on an array: arguments `[n, input]`. `$maxN`/`$minN`
/// skip null and missing elements and return them largest/smallest first.
fn op_n_array(name: &'static str, args: &[Val<'_>]) -> Result<Option<Bson>, DocError> {
    let n = match args[0].as_deref() {
        Some(v) if is_number(v) => match as_i64(v) {
            Some(n) if n > 0 => usize::try_from(n).unwrap_or(usize::MAX),
            Some(n) => return Err(DocError::location(5787908, format!("'n' must be greater than 0, found {n}"))),
            None => {
                return Err(DocError::location(5787903, format!("Value for 'n' must be of integral type, but found {}", show(&args[0]))))
            }
        },
        _ => return Err(DocError::location(5787902, format!("Value for 'n' must be of integral type, but found {}", show(&args[0])))),
    };
    let items = match args[1].as_deref() {
        Some(Bson::Array(a)) => a,
        _ => return Err(DocError::location(5788200, format!("Input to {name} must be an array, but found {}", show(&args[1])))),
    };
    let out: Vec<Bson> = match name {
        "$firstN" => items.iter().take(n).cloned().collect(),
        "$lastN" => items[items.len().saturating_sub(n)..].to_vec(),
        _ => {
            let mut v: Vec<&Bson> = items.iter().filter(|x| !matches!(x, Bson::Null | Bson::Undefined)).collect();
            if name == "$maxN" {
                v.sort_by(|a, b| compare(b, a));
            } else {
                v.sort_by(|a, b| compare(a, b));
            }
            v.into_iter().take(n).cloned().collect()
        }
    };
    Ok(Some(Bson::Array(out)))
}

// --- Objects --------------------------------------------------------------------------------

fn op_merge_objects(_: &'static str, args: &[Val<'_>]) -> Result<Option<Bson>, DocError> {
    let mut out = Document::new();
    for a in args {
        match a.as_deref() {
            None | Some(Bson::Null | Bson::Undefined) => {}
            Some(Bson::Document(d)) => {
                for (k, v) in d {
                    out.insert(k.clone(), v.clone());
                }
            }
            Some(other) => {
                return Err(DocError::location(
                    40400,
                    format!("$mergeObjects requires object inputs, but input {} is of type {}", mongo_display(other), type_name(other)),
                ))
            }
        }
    }
    Ok(Some(Bson::Document(out)))
}

fn op_object_to_array(_: &'static str, args: &[Val<'_>]) -> Result<Option<Bson>, DocError> {
    match args[0].as_deref() {
        None | Some(Bson::Null | Bson::Undefined) => null(),
        Some(Bson::Document(d)) => {
            Ok(Some(Bson::Array(d.iter().map(|(k, v)| Bson::Document(bson::doc! {"k": k.clone(), "v": v.clone()})).collect())))
        }
        Some(other) => Err(DocError::location(40390, format!("$objectToArray requires a document input, found: {}", type_name(other)))),
    }
}

fn op_array_to_object(_: &'static str, args: &[Val<'_>]) -> Result<Option<Bson>, DocError> {
    let items = match args[0].as_deref() {
        None | Some(Bson::Null | Bson::Undefined) => return null(),
        Some(Bson::Array(a)) => a,
        Some(other) => {
            return Err(DocError::location(40386, format!("$arrayToObject requires an array input, found: {}", type_name(other))))
        }
    };
    let mut out = Document::new();
    // The first element decides the format: [k, v] pairs or {k, v} documents.
    let pairs = match items.first() {
        None => return Ok(Some(Bson::Document(out))),
        Some(Bson::Array(_)) => true,
        Some(Bson::Document(_)) => false,
        Some(other) => {
            return Err(DocError::location(40398, format!("Unrecognised input type format for $arrayToObject: {}", type_name(other))))
        }
    };
    for item in items {
        let (k, v) = if pairs {
            let Bson::Array(pair) = item else {
                return Err(DocError::location(
                    40396,
                    format!(
                        "$arrayToObject requires a consistent input format. Elements mustall be arrays or all be objects. Array was detected, now found: {}",
                        type_name(item)
                    ),
                ));
            };
            if pair.len() != 2 {
                return Err(DocError::location(
                    40397,
                    format!("$arrayToObject requires an array of size 2 arrays,found array of size: {}", pair.len()),
                ));
            }
            let Bson::String(k) = &pair[0] else {
                return Err(DocError::location(
                    40395,
                    format!(
                        "$arrayToObject requires an array of key-value pairs, where the key must be of type string. Found key type: {}",
                        type_name(&pair[0])
                    ),
                ));
            };
            if k.contains('\0') {
                return Err(DocError::location(4940400, "Key field cannot contain an embedded null byte"));
            }
            (k, &pair[1])
        } else {
            let Bson::Document(d) = item else {
                return Err(DocError::location(
                    40391,
                    format!(
                        "$arrayToObject requires a consistent input format. Elements mustall be arrays or all be objects. Object was detected, now found: {}",
                        type_name(item)
                    ),
                ));
            };
            if d.len() != 2 {
                return Err(DocError::location(
                    40392,
                    format!("$arrayToObject requires an object keys of 'k' and 'v'. Found incorrect number of keys:{}", d.len()),
                ));
            }
            let (Some(k), Some(v)) = (d.get("k"), d.get("v")) else {
                return Err(DocError::location(
                    40393,
                    format!("$arrayToObject requires an object with keys 'k' and 'v'. Missing either or both keys from: {d}"),
                ));
            };
            let Bson::String(k) = k else {
                return Err(DocError::location(
                    40394,
                    format!(
                        "$arrayToObject requires an object with keys 'k' and 'v', where the value of 'k' must be of type string. Found type: {}",
                        type_name(k)
                    ),
                ));
            };
            if k.contains('\0') {
                return Err(DocError::location(4940401, "Key field cannot contain an embedded null byte"));
            }
            (k, v)
        };
        out.insert(k.clone(), v.clone());
    }
    Ok(Some(Bson::Document(out)))
}

// --- More array, set and string operators ---------------------------------------------------

fn int_arg(v: &Bson) -> Option<i64> {
    if is_number(v) {
        as_i64(v)
    } else {
        None
    }
}

fn op_slice(_: &'static str, args: &[Val<'_>]) -> Result<Option<Bson>, DocError> {
    if args.iter().any(nullish) {
        return null();
    }
    let Some(Bson::Array(a)) = args[0].as_deref() else {
        return Err(DocError::location(28724, format!("First argument to $slice must be an array, but is of type: {}", tname(&args[0]))));
    };
    let second = args[1].as_deref().expect("not nullish");
    if !is_number(second) {
        return Err(DocError::location(
            28725,
            format!("Second argument to $slice must be a numeric value, but was of type: {}", type_name(second)),
        ));
    }
    let second = int_arg(second).filter(|i| i32::try_from(*i).is_ok()).ok_or_else(|| {
        DocError::location(28726, format!("Second argument to $slice can't be represented as a 32-bit integer: {second}"))
    })?;
    let len = a.len() as i64;
    let (start, count) = match args.get(2) {
        None if second >= 0 => (0, second),
        None => ((len + second).max(0), -second),
        Some(third) => {
            let third = third.as_deref().expect("not nullish");
            if !is_number(third) {
                return Err(DocError::location(
                    28727,
                    format!("Third argument to $slice must be numeric, but was of type: {}", type_name(third)),
                ));
            }
            let n = int_arg(third).filter(|i| i32::try_from(*i).is_ok()).ok_or_else(|| {
                DocError::location(28728, format!("Third argument to $slice can't be represented as a 32-bit integer: {third}"))
            })?;
            if n <= 0 {
                return Err(DocError::location(28729, format!("Third argument to $slice must be positive: {third}")));
            }
            let start = if second < 0 { (len + second).max(0) } else { second.min(len) };
            (start, n)
        }
    };
    let start = start.min(len) as usize;
    let end = (start as i64 + count).min(len) as usize;
    Ok(Some(Bson::Array(a[start..end].to_vec())))
}

fn op_reverse_array(_: &'static str, args: &[Val<'_>]) -> Result<Option<Bson>, DocError> {
    match args[0].as_deref() {
        None | Some(Bson::Null | Bson::Undefined) => null(),
        Some(Bson::Array(a)) => Ok(Some(Bson::Array(a.iter().rev().cloned().collect()))),
        Some(other) => {
            Err(DocError::location(34435, format!("The argument to $reverseArray must be an array, but was of type: {}", type_name(other))))
        }
    }
}

fn op_range(_: &'static str, args: &[Val<'_>]) -> Result<Option<Bson>, DocError> {
    let get = |i: usize, what: &str, type_code: i32| -> Result<i64, DocError> {
        let v = &args[i];
        let b = v
            .as_deref()
            .filter(|b| is_number(b))
            .ok_or_else(|| DocError::location(type_code, format!("$range requires a numeric {what}, found value of type: {}", tname(v))))?;
        int_arg(b).filter(|x| i32::try_from(*x).is_ok()).ok_or_else(|| {
            DocError::location(
                type_code + 1,
                format!("$range requires a {what} that can be represented as a 32-bit integer, found value: {b}"),
            )
        })
    };
    let start = get(0, "starting value", 34443)?;
    let end = get(1, "ending value", 34445)?;
    let step = if args.len() == 3 { get(2, "step value", 34447)? } else { 1 };
    if step == 0 {
        return Err(DocError::location(34449, "$range requires a non-zero step value"));
    }
    let mut out = Vec::new();
    let mut i = start;
    while (step > 0 && i < end) || (step < 0 && i > end) {
        out.push(Bson::Int32(i as i32));
        i += step;
    }
    Ok(Some(Bson::Array(out)))
}

/// Optional start/end index arguments of `$indexOf*` (non-negative integers).
/// (`$indexOfArray` has its own codes, 9711600/9711601; the string forms keep 40096/40097.)
fn index_bounds(name: &str, args: &[Val<'_>], from: usize, len: usize) -> Result<(usize, usize), DocError> {
    let (type_code, sign_code) = if name == "$indexOfArray" { (9711600, 9711601) } else { (40096, 40097) };
    let mut bounds = [0usize, len];
    for (slot, i) in [from, from + 1].into_iter().enumerate() {
        let Some(v) = args.get(i) else { continue };
        let what = if slot == 0 { "starting" } else { "ending" };
        let n = v.as_deref().and_then(int_arg).ok_or_else(|| {
            DocError::location(
                type_code,
                format!("{name} requires an integral {what} index, found a value of type: {}, with value: {}", tname(v), show(v)),
            )
        })?;
        if n < 0 {
            return Err(DocError::location(sign_code, format!("{name} requires a nonnegative {what} index, found: {n}")));
        }
        bounds[slot] = usize::try_from(n).unwrap_or(usize::MAX).min(len);
    }
    Ok((bounds[0], bounds[1]))
}

fn op_index_of_array(name: &'static str, args: &[Val<'_>]) -> Result<Option<Bson>, DocError> {
    let a = match args[0].as_deref() {
        None | Some(Bson::Null | Bson::Undefined) => return null(),
        Some(Bson::Array(a)) => a,
        Some(other) => {
            return Err(DocError::location(
                40090,
                format!("$indexOfArray requires an array as a first argument, found: {}", type_name(other)),
            ))
        }
    };
    let (start, end) = index_bounds(name, args, 2, a.len())?;
    let x = args[1].as_deref();
    let found = (start..end).find(|&i| compare_values(x, Some(&a[i])) == Ordering::Equal);
    Ok(Some(Bson::Int32(found.map_or(-1, |i| i as i32))))
}

fn op_index_of_str(name: &'static str, args: &[Val<'_>]) -> Result<Option<Bson>, DocError> {
    let s = match args[0].as_deref() {
        None | Some(Bson::Null | Bson::Undefined) => return null(),
        Some(Bson::String(s)) => s,
        Some(other) => {
            let code = if name == "$indexOfBytes" { 40091 } else { 40093 };
            return Err(DocError::location(code, format!("{name} requires a string as the first argument, found: {}", type_name(other))));
        }
    };
    let Some(Bson::String(needle)) = args[1].as_deref() else {
        let code = if name == "$indexOfBytes" { 40092 } else { 40094 };
        return Err(DocError::location(code, format!("{name} requires a string as the second argument, found: {}", tname(&args[1]))));
    };
    if name == "$indexOfBytes" {
        let (start, end) = index_bounds(name, args, 2, s.len())?;
        let found = (start..=end).find(|&i| i + needle.len() <= end && s.as_bytes()[i..].starts_with(needle.as_bytes()));
        return Ok(Some(Bson::Int32(found.map_or(-1, |i| i as i32))));
    }
    let chars: Vec<char> = s.chars().collect();
    let needle: Vec<char> = needle.chars().collect();
    let (start, end) = index_bounds(name, args, 2, chars.len())?;
    let found = (start..=end).find(|&i| i + needle.len() <= end && chars[i..i + needle.len()] == needle[..]);
    Ok(Some(Bson::Int32(found.map_or(-1, |i| i as i32))))
}

/// The distinct elements of `a` (first occurrence order), by aggregation equality.
fn distinct<'v>(items: impl Iterator<Item = &'v Bson>) -> Vec<&'v Bson> {
    let mut out: Vec<&Bson> = Vec::new();
    for e in items {
        if !out.iter().any(|o| compare(o, e) == Ordering::Equal) {
            out.push(e);
        }
    }
    out
}

fn contains(set: &[&Bson], e: &Bson) -> bool {
    set.iter().any(|o| compare(o, e) == Ordering::Equal)
}

fn op_set(name: &'static str, args: &[Val<'_>]) -> Result<Option<Bson>, DocError> {
    let nullable = matches!(name, "$setUnion" | "$setIntersection" | "$setDifference");
    let mut arrays: Vec<&Vec<Bson>> = Vec::with_capacity(args.len());
    for (i, a) in args.iter().enumerate() {
        match a.as_deref() {
            Some(Bson::Array(items)) => arrays.push(items),
            None | Some(Bson::Null | Bson::Undefined) if nullable => return null(),
            _ => {
                let (code, msg) = match name {
                    "$setUnion" => (17043, format!("All operands of $setUnion must be arrays. One argument is of type: {}", tname(a))),
                    "$setIntersection" => {
                        (17047, format!("All operands of $setIntersection must be arrays. One argument is of type: {}", tname(a)))
                    }
                    "$setEquals" => {
                        (5887502, format!("All operands of $setEquals must be arrays. {}-th argument is of type: {}", i + 1, tname(a)))
                    }
                    _ => {
                        let which = if i == 0 { "First" } else { "Second" };
                        let code = match (name, i) {
                            ("$setDifference", 0) => 17048,
                            ("$setDifference", _) => 17049,
                            (_, 0) => 17046,
                            _ => 17042,
                        };
                        (code, format!("both operands of {name} must be arrays. {which} argument is of type: {}", tname(a)))
                    }
                };
                return Err(DocError::location(code, msg));
            }
        }
    }
    let to_bson = |v: Vec<&Bson>| Bson::Array(v.into_iter().cloned().collect());
    Ok(Some(match name {
        "$setUnion" => to_bson(distinct(arrays.iter().flat_map(|a| a.iter()))),
        "$setIntersection" => {
            let Some((first, rest)) = arrays.split_first() else { return Ok(Some(Bson::Array(Vec::new()))) };
            let others: Vec<Vec<&Bson>> = rest.iter().map(|a| distinct(a.iter())).collect();
            to_bson(distinct(first.iter()).into_iter().filter(|e| others.iter().all(|o| contains(o, e))).collect())
        }
        "$setDifference" => {
            let b = distinct(arrays[1].iter());
            to_bson(distinct(arrays[0].iter()).into_iter().filter(|e| !contains(&b, e)).collect())
        }
        "$setEquals" => {
            if arrays.len() < 2 {
                return Err(DocError::location(17045, format!("$setEquals needs at least two arguments had: {}", arrays.len())));
            }
            let first = distinct(arrays[0].iter());
            Bson::Boolean(arrays[1..].iter().all(|a| {
                let other = distinct(a.iter());
                other.len() == first.len() && other.iter().all(|e| contains(&first, e))
            }))
        }
        _ => {
            let b = distinct(arrays[1].iter());
            Bson::Boolean(arrays[0].iter().all(|e| contains(&b, e)))
        }
    }))
}

fn op_all_any(name: &'static str, args: &[Val<'_>]) -> Result<Option<Bson>, DocError> {
    let Some(Bson::Array(a)) = args[0].as_deref() else {
        let code = if name == "$allElementsTrue" { 17040 } else { 17041 };
        return Err(DocError::location(code, format!("{name}'s argument must be an array, but is {}", tname(&args[0]))));
    };
    let all = name == "$allElementsTrue";
    Ok(Some(Bson::Boolean(if all { a.iter().all(|e| truthy(Some(e))) } else { a.iter().any(|e| truthy(Some(e))) })))
}

fn op_strcasecmp(_: &'static str, args: &[Val<'_>]) -> Result<Option<Bson>, DocError> {
    let a = coerce_to_string(&args[0])?.to_ascii_lowercase();
    let b = coerce_to_string(&args[1])?.to_ascii_lowercase();
    Ok(Some(Bson::Int32(match a.cmp(&b) {
        Ordering::Less => -1,
        Ordering::Equal => 0,
        Ordering::Greater => 1,
    })))
}

fn op_substr_bytes(name: &'static str, args: &[Val<'_>]) -> Result<Option<Bson>, DocError> {
    let s = coerce_to_string(&args[0])?;
    let num = |v: &Val<'_>, what: &str, code: i32| -> Result<i64, DocError> {
        v.as_deref()
            .filter(|b| is_number(b))
            .and_then(as_f64)
            .map(|f| f.trunc() as i64)
            .ok_or_else(|| DocError::location(code, format!("{name}: {what} must be a numeric type (is BSON type {})", tname(v))))
    };
    let start = num(&args[1], "starting index", 16034)?;
    let count = num(&args[2], "length", 16035)?;
    if start < 0 {
        return Ok(Some(Bson::String(String::new())));
    }
    let start = (start as usize).min(s.len());
    let end = if count < 0 { s.len() } else { start.saturating_add(count as usize).min(s.len()) };
    if !s.is_char_boundary(start) {
        return Err(DocError::location(28656, format!("{name}:  Invalid range, starting index is a UTF-8 continuation byte.")));
    }
    if !s.is_char_boundary(end) {
        return Err(DocError::location(28657, format!("{name}:  Invalid range, ending index is in the middle of a UTF-8 character.")));
    }
    Ok(Some(Bson::String(s[start..end].to_string())))
}

/// `$replaceOne` / `$replaceAll`: arguments are `[input, find, replacement]` (named in the spec).
fn op_replace(name: &'static str, args: &[Val<'_>]) -> Result<Option<Bson>, DocError> {
    let mut strs = Vec::with_capacity(3);
    for (v, what) in args.iter().zip(["input", "find", "replacement"]) {
        match v.as_deref() {
            None | Some(Bson::Null | Bson::Undefined) => strs.push(None),
            Some(Bson::String(s)) => strs.push(Some(s.as_str())),
            Some(other) => {
                return Err(DocError::location(51746, format!("{name} requires that '{what}' be a string, found: {other}")));
            }
        }
    }
    let (Some(input), Some(find), Some(rep)) = (strs[0], strs[1], strs[2]) else { return null() };
    Ok(Some(Bson::String(if name == "$replaceOne" { input.replacen(find, rep, 1) } else { input.replace(find, rep) })))
}

/// Parse an operator whose arguments are named (`{input, find, replacement}`) into a call with
/// positional arguments; absent optional ones evaluate to missing.
fn parse_named(name: &'static str, arg: &Bson, depth: usize, names: &[&str], required: usize, eval: EvalFn) -> Result<Node, DocError> {
    let Bson::Document(d) = arg else {
        return Err(DocError::location(51751, format!("{name} requires an object as an argument, found: {}", type_name(arg))));
    };
    let mut args: Vec<Option<Node>> = vec![None; names.len()];
    for (k, v) in d {
        let Some(i) = names.iter().position(|n| n == k) else {
            return Err(DocError::location(51750, format!("{name} found an unknown argument: {k}")));
        };
        args[i] = Some(parse_node(v, depth + 1)?);
    }
    let mut out = Vec::with_capacity(names.len());
    for (i, a) in args.into_iter().enumerate() {
        match a {
            Some(n) => out.push(n),
            None if i < required => return Err(DocError::location(51749, format!("{name} requires '{}' to be specified", names[i]))),
            None => out.push(Node::Var("REMOVE".into(), Vec::new())),
        }
    }
    Ok(Node::Call(name, eval, out))
}

fn parse_replace(name: &'static str, arg: &Bson, depth: usize) -> Result<Node, DocError> {
    parse_named(name, arg, depth, &["input", "find", "replacement"], 3, op_replace)
}

// --- Dates ----------------------------------------------------------------------------------

/// A `timezone` argument: a fixed offset in milliseconds, or an Olson zone (its offset
/// depends on the instant: daylight saving time, historical changes).
#[derive(Clone, Debug)]
enum Tz {
    Fixed(i64),
    Zone(jiff::tz::TimeZone),
}

impl Tz {
    /// The zone's offset from UTC, in milliseconds, at the UTC instant `utc`.
    fn offset_at(&self, utc: i64) -> i64 {
        match self {
            Tz::Fixed(o) => *o,
            Tz::Zone(z) => {
                // jiff covers years -9999..=9999: beyond, the offset at the nearest end.
                let t = jiff::Timestamp::from_millisecond(utc).unwrap_or(if utc < 0 { jiff::Timestamp::MIN } else { jiff::Timestamp::MAX });
                i64::from(z.to_offset(t).seconds()) * 1000
            }
        }
    }

    /// The local wall-clock time (as milliseconds, "UTC" fields) at the UTC instant `utc`.
    fn to_local(&self, utc: i64) -> i64 {
        utc.saturating_add(self.offset_at(utc))
    }

    /// The UTC instant whose local time is `local`. A local time skipped by a forward
    /// transition resolves with the offset before it, a repeated one to its first occurrence.
    fn to_utc(&self, local: i64) -> i64 {
        match self {
            Tz::Fixed(o) => local.saturating_sub(*o),
            Tz::Zone(_) => {
                // The offsets just before and after any transition near `local`: try the
                // earlier one first (first occurrence), then the later one.
                let before = self.offset_at(local.saturating_sub(MS_PER_DAY));
                let after = self.offset_at(local.saturating_add(MS_PER_DAY));
                let (first, second) = if before >= after { (before, after) } else { (after, before) };
                for o in [first, second] {
                    let utc = local.saturating_sub(o);
                    if self.offset_at(utc) == o {
                        return utc;
                    }
                }
                local.saturating_sub(before)
            }
        }
    }

    /// The offset in milliseconds when it does not depend on the instant (fixed offsets).
    fn fixed(&self) -> Option<i64> {
        match self {
            Tz::Fixed(o) => Some(*o),
            Tz::Zone(_) => None,
        }
    }
}

/// A `timezone` argument: "UTC"/"GMT"/"Z", "+hh:mm", "+hhmm", "+hh", or an Olson identifier
/// ("America/New_York") looked up in the system's time zone database (/usr/share/zoneinfo),
/// or the copy bundled by `jiff` where the system has none. Missing is UTC; null is None.
fn parse_timezone(v: &Val<'_>) -> Result<Option<Tz>, DocError> {
    let s = match v.as_deref() {
        None => return Ok(Some(Tz::Fixed(0))),
        Some(Bson::Null | Bson::Undefined) => return Ok(None),
        Some(Bson::String(s)) => s.as_str(),
        Some(other) => return Err(DocError::location(40517, format!("timezone must evaluate to a string, found {}", type_name(other)))),
    };
    if matches!(s, "UTC" | "GMT" | "Z" | "Etc/UTC" | "Etc/GMT" | "Etc/Universal" | "Universal" | "Zulu") {
        return Ok(Some(Tz::Fixed(0)));
    }
    let bad = || DocError::location(40485, format!("unrecognized time zone identifier: \"{s}\""));
    let (sign, rest) = match s.as_bytes().first() {
        Some(b'+') => (1, &s[1..]),
        Some(b'-') => (-1, &s[1..]),
        // Olson names: letters, digits, '/', '_', '-', '+' (as in "Etc/GMT+5"); never a path
        // that leaves the database directory.
        Some(c) if c.is_ascii_alphabetic() && !s.contains("..") => {
            return jiff::tz::TimeZone::get(s).map(|z| Some(Tz::Zone(z))).map_err(|_| bad());
        }
        _ => return Err(bad()),
    };
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    if !digits.bytes().all(|b| b.is_ascii_digit()) || !matches!(digits.len(), 2 | 4) || (rest.contains(':') && rest.len() != 5) {
        return Err(bad());
    }
    let h: i64 = digits[..2].parse().map_err(|_| bad())?;
    let m: i64 = if digits.len() == 4 { digits[2..].parse().map_err(|_| bad())? } else { 0 };
    Ok(Some(Tz::Fixed(sign * (h * 60 + m) * 60_000)))
}

/// A date-like value as milliseconds (dates, timestamps, ObjectIds).
fn date_millis(v: &Bson) -> Result<i64, DocError> {
    match v {
        Bson::DateTime(d) => Ok(d.timestamp_millis()),
        Bson::Timestamp(t) => Ok(i64::from(t.time) * 1000),
        Bson::ObjectId(o) => Ok(o.timestamp().timestamp_millis()),
        other => Err(DocError::location(16006, format!("can't convert from BSON type {} to Date", type_name(other)))),
    }
}

/// Calendar parts of a (zone-adjusted) instant.
struct DateParts {
    year: i64,
    month: u32,
    day: u32,
    hour: i64,
    minute: i64,
    second: i64,
    millis: i64,
    /// 1 = Sunday ... 7 = Saturday.
    day_of_week: i64,
    day_of_year: i64,
}

fn date_parts(ms: i64) -> DateParts {
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    let (year, month, day) = civil_from_days(days);
    DateParts {
        year,
        month,
        day,
        hour: rem / 3_600_000,
        minute: rem / 60_000 % 60,
        second: rem / 1000 % 60,
        millis: rem % 1000,
        // 1970-01-01 was a Thursday (5).
        day_of_week: (days + 4).rem_euclid(7) + 1,
        day_of_year: days - days_from_civil(year, 1, 1) + 1,
    }
}

/// ISO 8601 week-numbering year and week of a day.
fn iso_week(year: i64, day_of_year: i64, day_of_week: i64) -> (i64, i64) {
    let iso_dow = (day_of_week + 5) % 7 + 1; // Monday = 1 ... Sunday = 7
    let week = (day_of_year - iso_dow + 10) / 7;
    let weeks_in = |y: i64| {
        let jan1 = (days_from_civil(y, 1, 1) + 4).rem_euclid(7); // 0 = Sunday
        let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        if jan1 == 4 || (leap && jan1 == 3) {
            53
        } else {
            52
        }
    };
    if week < 1 {
        (year - 1, weeks_in(year - 1))
    } else if week > weeks_in(year) {
        (year + 1, 1)
    } else {
        (year, week)
    }
}

fn op_date_part(name: &'static str, args: &[Val<'_>]) -> Result<Option<Bson>, DocError> {
    if nullish(&args[0]) {
        return null();
    }
    let Some(tz) = parse_timezone(&args[1])? else { return null() };
    let ms = date_millis(args[0].as_deref().expect("not nullish"))?;
    let p = date_parts(tz.to_local(ms));
    let v = match name {
        "$year" => p.year,
        "$month" => i64::from(p.month),
        "$dayOfMonth" => i64::from(p.day),
        "$hour" => p.hour,
        "$minute" => p.minute,
        "$second" => p.second,
        "$millisecond" => p.millis,
        "$dayOfWeek" => p.day_of_week,
        "$dayOfYear" => p.day_of_year,
        // Weeks start on Sunday; days before the year's first Sunday are week 0.
        "$week" => (p.day_of_year + 6 - (p.day_of_week - 1)) / 7,
        "$isoWeek" => iso_week(p.year, p.day_of_year, p.day_of_week).1,
        "$isoWeekYear" => iso_week(p.year, p.day_of_year, p.day_of_week).0,
        _ => (p.day_of_week + 5) % 7 + 1, // $isoDayOfWeek
    };
    Ok(Some(Bson::Int32(v as i32)))
}

fn parse_date_part(name: &'static str, arg: &Bson, depth: usize) -> Result<Node, DocError> {
    match arg {
        Bson::Document(d) if d.keys().next().is_none_or(|k| !k.starts_with('$')) => {
            // The options form {date, timezone}: an unknown key outranks a missing date.
            let (mut date, mut tz) = (None, None);
            for (k, v) in d {
                match k.as_str() {
                    "date" => date = Some(parse_node(v, depth + 1)?),
                    "timezone" => tz = Some(parse_node(v, depth + 1)?),
                    other => return Err(DocError::location(40535, format!("unrecognized option to {name}: \"{other}\""))),
                }
            }
            let date =
                date.ok_or_else(|| DocError::location(40539, format!("missing 'date' argument to {name}, provided: {name}: {d}")))?;
            Ok(Node::Call(name, op_date_part, vec![date, tz.unwrap_or_else(|| Node::Var("REMOVE".into(), Vec::new()))]))
        }
        _ => {
            let mut args = parse_args(name, arg, Arity::Exactly(1), depth)?;
            args.push(Node::Var("REMOVE".into(), Vec::new()));
            Ok(Node::Call(name, op_date_part, args))
        }
    }
}

const MONTH_NAMES: [&str; 12] =
    ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];

/// `$dateToString`: arguments `[date, format, timezone, onNull]`.
fn op_date_to_string(_: &'static str, args: &[Val<'_>]) -> Result<Option<Bson>, DocError> {
    if nullish(&args[0]) {
        return Ok(Some(args[3].as_deref().cloned().unwrap_or(Bson::Null)));
    }
    let Some(tz) = parse_timezone(&args[2])? else { return null() };
    let format = match args[1].as_deref() {
        None => "%Y-%m-%dT%H:%M:%S.%LZ",
        Some(Bson::Null | Bson::Undefined) => return null(),
        Some(Bson::String(f)) => f.as_str(),
        Some(other) => {
            return Err(DocError::location(
                18533,
                format!("$dateToString requires that 'format' be a string, found: {} with value {other}", type_name(other)),
            ))
        }
    };
    let ms = date_millis(args[0].as_deref().expect("not nullish"))?;
    let offset = tz.offset_at(ms);
    let p = date_parts(ms.saturating_add(offset));
    let mut out = String::new();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let Some(spec) = chars.next() else {
            return Err(DocError::location(18535, "Unmatched '%' at end of format string"));
        };
        let (iso_year, iso_week_no) = iso_week(p.year, p.day_of_year, p.day_of_week);
        match spec {
            'd' => out.push_str(&format!("{:02}", p.day)),
            'G' => out.push_str(&format!("{iso_year:04}")),
            'H' => out.push_str(&format!("{:02}", p.hour)),
            'j' => out.push_str(&format!("{:03}", p.day_of_year)),
            'L' => out.push_str(&format!("{:03}", p.millis)),
            'm' => out.push_str(&format!("{:02}", p.month)),
            'M' => out.push_str(&format!("{:02}", p.minute)),
            'S' => out.push_str(&format!("{:02}", p.second)),
            'w' => out.push_str(&p.day_of_week.to_string()),
            'u' => out.push_str(&((p.day_of_week + 5) % 7 + 1).to_string()),
            'U' => out.push_str(&format!("{:02}", (p.day_of_year + 6 - (p.day_of_week - 1)) / 7)),
            'V' => out.push_str(&format!("{iso_week_no:02}")),
            'Y' => out.push_str(&format!("{:04}", p.year)),
            'z' => {
                let m = offset / 60_000;
                out.push_str(&format!("{}{:02}{:02}", if m < 0 { '-' } else { '+' }, m.abs() / 60, m.abs() % 60));
            }
            'Z' => out.push_str(&(offset / 60_000).to_string()),
            'b' => out.push_str(&MONTH_NAMES[p.month as usize - 1][..3]),
            'B' => out.push_str(MONTH_NAMES[p.month as usize - 1]),
            '%' => out.push('%'),
            other => return Err(DocError::location(18536, format!("Invalid format character '%{other}' in format string"))),
        }
    }
    Ok(Some(Bson::String(out)))
}

fn parse_date_to_string(name: &'static str, arg: &Bson, depth: usize) -> Result<Node, DocError> {
    parse_named(name, arg, depth, &["date", "format", "timezone", "onNull"], 1, op_date_to_string)
}

// --- Date construction and arithmetic -------------------------------------------------------
//
// `$dateFromParts`, `$dateToParts`, `$dateTrunc`, `$dateAdd`, `$dateSubtract`, `$dateDiff`.
// Time zones are fixed offsets or Olson zones (see `Tz`); calendar arithmetic happens on the
// local time (`Tz::to_local`), and local results go back through `Tz::to_utc`.

const MS_PER_DAY: i64 = 86_400_000;

/// An integral argument (`2.0` is fine); None when null/missing.
fn integral_arg(field: &str, v: &Val<'_>) -> Result<Option<i64>, DocError> {
    if nullish(v) {
        return Ok(None);
    }
    let b = v.as_deref().expect("not nullish");
    match if is_number(b) { as_i64(b) } else { None } {
        Some(i) => Ok(Some(i)),
        None => {
            Err(DocError::location(40515, format!("'{field}' must evaluate to an integer, found {} with value {}", type_name(b), show(v))))
        }
    }
}

/// Days since the epoch of the ISO week-numbering year's week 1 Monday.
fn iso_year_start(year: i64) -> i64 {
    let jan4 = days_from_civil(year, 1, 4);
    let iso_dow = (jan4 + 3).rem_euclid(7); // 0 = Monday
    jan4 - iso_dow
}

/// Days since the epoch of `year`-`month`-1, months overflowing into years.
fn month_start_days(year: i64, month0: i64) -> i64 {
    let total = year * 12 + month0;
    days_from_civil(total.div_euclid(12), (total.rem_euclid(12) + 1) as u32, 1)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    (month_start_days(year, i64::from(month)) - days_from_civil(year, month, 1)) as u32
}

const DATE_FROM_PARTS_FIELDS: &[&str] =
    &["year", "month", "day", "hour", "minute", "second", "millisecond", "isoWeekYear", "isoWeek", "isoDayOfWeek", "timezone"];

fn parse_date_from_parts(name: &'static str, arg: &Bson, depth: usize) -> Result<Node, DocError> {
    let Bson::Document(d) = arg else {
        return Err(DocError::location(40519, "$dateFromParts only supports an object as its argument"));
    };
    let mut args: Vec<Option<Node>> = vec![None; DATE_FROM_PARTS_FIELDS.len()];
    for (k, v) in d {
        let Some(i) = DATE_FROM_PARTS_FIELDS.iter().position(|f| f == k) else {
            return Err(DocError::location(40518, format!("Unrecognized argument to $dateFromParts: {k}")));
        };
        args[i] = Some(parse_node(v, depth + 1)?);
    }
    let natural = args[..3].iter().any(Option::is_some);
    let iso = args[7..10].iter().any(Option::is_some);
    if natural && iso {
        return Err(DocError::location(40489, "$dateFromParts does not allow mixing natural dates with ISO dates"));
    }
    if args[0].is_none() && args[7].is_none() {
        return Err(DocError::location(40516, "$dateFromParts requires either 'year' or 'isoWeekYear' to be present"));
    }
    // Unspecified parts take their defaults (a specified part that evaluates to null or
    // missing makes the result null).
    let defaults = [0, 1, 1, 0, 0, 0, 0, 0, 1, 1];
    let mut out: Vec<Node> = args
        .into_iter()
        .enumerate()
        .map(|(i, a)| match a {
            Some(n) => n,
            None if i < defaults.len() => Node::Literal(Bson::Int64(defaults[i])),
            None => Node::Var("REMOVE".into(), Vec::new()),
        })
        .collect();
    out.push(Node::Literal(Bson::Boolean(iso)));
    Ok(Node::Call(name, op_date_from_parts, out))
}

fn op_date_from_parts(_: &'static str, args: &[Val<'_>]) -> Result<Option<Bson>, DocError> {
    let iso = matches!(args[11].as_deref(), Some(Bson::Boolean(true)));
    let Some(tz) = parse_timezone(&args[10])? else { return null() };
    let mut parts = [0i64; 10];
    for (i, p) in parts.iter_mut().enumerate() {
        if (iso && i < 3) || (!iso && i >= 7) {
            continue;
        }
        let field = DATE_FROM_PARTS_FIELDS[i];
        let Some(v) = integral_arg(field, &args[i])? else { return null() };
        let year_like = i == 0 || i == 7;
        if year_like && !(1..=9999).contains(&v) {
            return Err(DocError::location(40523, format!("'{field}' must evaluate to an integer in the range 1 to 9999, found {v}")));
        }
        if !year_like && !(-32768..=32767).contains(&v) {
            return Err(DocError::location(
                31034,
                format!("'{field}' must evaluate to a value in the range [-32768, 32767]; value {v} is not in range"),
            ));
        }
        *p = v;
    }
    let days = if iso {
        iso_year_start(parts[7]) + (parts[8] - 1) * 7 + (parts[9] - 1)
    } else {
        month_start_days(parts[0], parts[1] - 1) + parts[2] - 1
    };
    let ms = tz.to_utc(days * MS_PER_DAY + parts[3] * 3_600_000 + parts[4] * 60_000 + parts[5] * 1000 + parts[6]);
    Ok(Some(Bson::DateTime(bson::DateTime::from_millis(ms))))
}

fn op_date_to_parts(_: &'static str, args: &[Val<'_>]) -> Result<Option<Bson>, DocError> {
    if nullish(&args[0]) {
        return null();
    }
    let Some(tz) = parse_timezone(&args[1])? else { return null() };
    let iso = match args[2].as_deref() {
        None => false,
        Some(Bson::Boolean(b)) => *b,
        Some(Bson::Null | Bson::Undefined) => return null(),
        Some(other) => {
            return Err(DocError::location(40521, format!("iso8601 must evaluate to a bool, found {}", type_name(other))));
        }
    };
    let ms = date_millis(args[0].as_deref().expect("not nullish"))?;
    let p = date_parts(tz.to_local(ms));
    let i = |v: i64| Bson::Int32(v as i32);
    let mut d = Document::new();
    if iso {
        let (y, w) = iso_week(p.year, p.day_of_year, p.day_of_week);
        d.insert("isoWeekYear", i(y));
        d.insert("isoWeek", i(w));
        d.insert("isoDayOfWeek", i((p.day_of_week + 5) % 7 + 1));
    } else {
        d.insert("year", i(p.year));
        d.insert("month", i(i64::from(p.month)));
        d.insert("day", i(i64::from(p.day)));
    }
    d.insert("hour", i(p.hour));
    d.insert("minute", i(p.minute));
    d.insert("second", i(p.second));
    d.insert("millisecond", i(p.millis));
    Ok(Some(Bson::Document(d)))
}

fn parse_date_to_parts(name: &'static str, arg: &Bson, depth: usize) -> Result<Node, DocError> {
    parse_named(name, arg, depth, &["date", "timezone", "iso8601"], 1, op_date_to_parts)
}

/// A time unit of `$dateTrunc`/`$dateAdd`/`$dateDiff`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Unit {
    Millisecond,
    Second,
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Quarter,
    Year,
}

impl Unit {
    fn fixed_ms(self) -> Option<i64> {
        Some(match self {
            Unit::Millisecond => 1,
            Unit::Second => 1000,
            Unit::Minute => 60_000,
            Unit::Hour => 3_600_000,
            Unit::Day => MS_PER_DAY,
            Unit::Week => 7 * MS_PER_DAY,
            _ => return None,
        })
    }
    fn months(self) -> i64 {
        match self {
            Unit::Quarter => 3,
            Unit::Year => 12,
            _ => 1,
        }
    }
}

/// The `unit` argument; None when null/missing.
fn unit_arg(op: &str, v: &Val<'_>) -> Result<Option<Unit>, DocError> {
    if nullish(v) {
        return Ok(None);
    }
    let bad = || DocError::location(5439014, format!("{op} parameter 'unit' value cannot be recognized as a time unit: {}", show(v)));
    let Some(Bson::String(s)) = v.as_deref() else {
        return Err(DocError::location(5439013, format!("{op} requires 'unit' to be a string, but got {}", tname(v))));
    };
    Ok(Some(match s.as_str() {
        "millisecond" => Unit::Millisecond,
        "second" => Unit::Second,
        "minute" => Unit::Minute,
        "hour" => Unit::Hour,
        "day" => Unit::Day,
        "week" => Unit::Week,
        "month" => Unit::Month,
        "quarter" => Unit::Quarter,
        "year" => Unit::Year,
        _ => return Err(bad()),
    }))
}

/// `startOfWeek` as days after Sunday (0 = Sunday ... 6 = Saturday); None when null.
fn start_of_week_arg(op: &str, v: &Val<'_>) -> Result<Option<i64>, DocError> {
    match v.as_deref() {
        None => Ok(Some(0)),
        Some(Bson::Null | Bson::Undefined) => Ok(None),
        Some(Bson::String(s)) => {
            let days = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"];
            let short = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
            let l = s.to_ascii_lowercase();
            days.iter().position(|d| *d == l).or_else(|| short.iter().position(|d| *d == l)).map(|i| Some(i as i64)).ok_or_else(|| {
                DocError::location(5439016, format!("{op} parameter 'startOfWeek' value cannot be recognized as a day of a week: {s}"))
            })
        }
        Some(other) => {
            Err(DocError::location(5439015, format!("{op} requires 'startOfWeek' to be a string, but got {}", type_name(other))))
        }
    }
}

/// Days since the epoch of the week start (`sow`, 0 = Sunday) on or before `days`.
fn week_start(days: i64, sow: i64) -> i64 {
    // 1970-01-01 was a Thursday (4 days after Sunday).
    let dow = (days + 4).rem_euclid(7);
    days - (dow - sow).rem_euclid(7)
}

/// Calendar months since year 0 of a local instant.
fn month_index(local_ms: i64) -> i64 {
    let (y, m, _) = civil_from_days(local_ms.div_euclid(MS_PER_DAY));
    y * 12 + i64::from(m) - 1
}

/// `$dateTrunc`: arguments `[date, unit, binSize, timezone, startOfWeek]`. Bins count from
/// 2000-01-01T00:00 local time (for weeks, the first `startOfWeek` day on or after it).
fn op_date_trunc(name: &'static str, args: &[Val<'_>]) -> Result<Option<Bson>, DocError> {
    if args[..2].iter().any(nullish) || args[2..4].iter().any(|a| matches!(a.as_deref(), Some(Bson::Null | Bson::Undefined))) {
        return null();
    }
    let Some(unit) = unit_arg(name, &args[1])? else { return null() };
    let Some(tz) = parse_timezone(&args[3])? else { return null() };
    let bin = match args[2].as_deref() {
        None => 1,
        Some(v) => match if is_number(v) { as_i64(v) } else { None } {
            Some(b) if b > 0 => b,
            _ => {
                return Err(DocError::location(
                    5439017,
                    format!(
                        "{name} requires 'binSize' to be a positive 64-bit integer, but got value '{}' of type {}",
                        show(&args[2]),
                        type_name(v)
                    ),
                ))
            }
        },
    };
    let sow = if unit == Unit::Week {
        let Some(s) = start_of_week_arg(name, &args[4])? else { return null() };
        s
    } else {
        0
    };
    let ms = match args[0].as_deref().expect("present") {
        Bson::DateTime(d) => d.timestamp_millis(),
        Bson::Timestamp(_) | Bson::ObjectId(_) => date_millis(args[0].as_deref().expect("present"))?,
        other => return Err(DocError::location(5439012, format!("{name} requires 'date' to be a date, but got {}", type_name(other)))),
    };
    let local = tz.to_local(ms);
    const Y2K: i64 = 946_684_800_000;
    let truncated = match unit.fixed_ms() {
        Some(unit_ms) => {
            let reference = if unit == Unit::Week {
                let d = Y2K / MS_PER_DAY;
                (week_start(d, sow) + if week_start(d, sow) < d { 7 } else { 0 }) * MS_PER_DAY
            } else {
                Y2K
            };
            let width = unit_ms.saturating_mul(bin);
            let bins = local.saturating_sub(reference).div_euclid(width);
            bins.checked_mul(width).and_then(|x| x.checked_add(reference)).ok_or_else(|| trunc_overflow(name))?
        }
        None => {
            let width = unit.months().saturating_mul(bin);
            let reference = 2000 * 12;
            let bins = (month_index(local) - reference).div_euclid(width);
            let m = bins.checked_mul(width).and_then(|x| x.checked_add(reference)).ok_or_else(|| trunc_overflow(name))?;
            if m.div_euclid(12).abs() > 300_000 {
                return Err(trunc_overflow(name));
            }
            month_start_days(0, m) * MS_PER_DAY
        }
    };
    Ok(Some(Bson::DateTime(bson::DateTime::from_millis(tz.to_utc(truncated)))))
}

fn trunc_overflow(name: &str) -> DocError {
    DocError::location(5439018, format!("{name}: the truncated date is out of range"))
}

fn parse_date_trunc(name: &'static str, arg: &Bson, depth: usize) -> Result<Node, DocError> {
    parse_named(name, arg, depth, &["date", "unit", "binSize", "timezone", "startOfWeek"], 2, op_date_trunc)
}

/// Add `amount` units to a local instant (month arithmetic clamps the day to the month's end).
fn add_units(local: i64, unit: Unit, amount: i64) -> Option<i64> {
    match unit.fixed_ms() {
        Some(u) => local.checked_add(u.checked_mul(amount)?),
        None => {
            let days = local.div_euclid(MS_PER_DAY);
            let time = local.rem_euclid(MS_PER_DAY);
            let (y, m, d) = civil_from_days(days);
            let total = (y * 12 + i64::from(m) - 1).checked_add(unit.months().checked_mul(amount)?)?;
            let (ny, nm) = (total.div_euclid(12), (total.rem_euclid(12) + 1) as u32);
            if !(-300_000..=300_000).contains(&ny) {
                return None;
            }
            let nd = d.min(days_in_month(ny, nm));
            Some(days_from_civil(ny, nm, nd) * MS_PER_DAY + time)
        }
    }
}

/// `ms + amount units` in UTC as `$dateAdd` computes it (month units clamp the day); None for
/// an unknown unit or on overflow. Used by `$setWindowFields` time ranges.
pub fn date_add_millis(ms: i64, unit: &str, amount: i64) -> Option<i64> {
    let unit = unit_arg("$dateAdd", &Some(Cow::Owned(Bson::String(unit.to_string())))).ok()??;
    add_units(ms, unit, amount)
}

/// `$dateAdd`/`$dateSubtract`: arguments `[startDate, unit, amount, timezone]`.
fn op_date_add(name: &'static str, args: &[Val<'_>]) -> Result<Option<Bson>, DocError> {
    if args[..3].iter().any(nullish) || matches!(args[3].as_deref(), Some(Bson::Null | Bson::Undefined)) {
        return null();
    }
    let Some(unit) = unit_arg(name, &args[1])? else { return null() };
    let Some(tz) = parse_timezone(&args[3])? else { return null() };
    let start = match args[0].as_deref().expect("present") {
        v @ (Bson::DateTime(_) | Bson::Timestamp(_) | Bson::ObjectId(_)) => date_millis(v)?,
        other => {
            return Err(DocError::location(
                5166403,
                format!("{name} requires startDate to be convertible to a date, but got {}", type_name(other)),
            ))
        }
    };
    let amount_v = args[2].as_deref().expect("present");
    let Some(mut amount) = (if is_number(amount_v) { as_i64(amount_v) } else { None }) else {
        return Err(DocError::location(5166405, format!("{name} expects integer amount of time units, but got {}", show(&args[2]))));
    };
    if name == "$dateSubtract" {
        amount = amount
            .checked_neg()
            .ok_or_else(|| DocError::location(5166406, format!("invalid {name} 'amount' parameter value: {amount}")))?;
    }
    // Fixed-length units add to the instant; calendar units (day and longer, in a zone) to
    // the local time, which keeps the wall-clock time across daylight saving changes.
    let result = match tz.fixed() {
        Some(offset) => start.checked_add(offset).and_then(|local| add_units(local, unit, amount)).and_then(|l| l.checked_sub(offset)),
        None if unit.fixed_ms().is_some_and(|u| u < MS_PER_DAY) => add_units(start, unit, amount),
        None => add_units(tz.to_local(start), unit, amount).map(|l| tz.to_utc(l)),
    }
    .ok_or_else(|| DocError::location(5166406, format!("{name} overflowed")))?;
    Ok(Some(Bson::DateTime(bson::DateTime::from_millis(result))))
}

fn parse_date_add(name: &'static str, arg: &Bson, depth: usize) -> Result<Node, DocError> {
    parse_named(name, arg, depth, &["startDate", "unit", "amount", "timezone"], 3, op_date_add)
}

/// `$dateDiff`: arguments `[startDate, endDate, unit, timezone, startOfWeek]`; the number of
/// unit boundaries crossed (as MongoDB counts: 23:59 to 00:01 the next day is one day).
fn op_date_diff(name: &'static str, args: &[Val<'_>]) -> Result<Option<Bson>, DocError> {
    if args[..3].iter().any(nullish) || matches!(args[3].as_deref(), Some(Bson::Null | Bson::Undefined)) {
        return null();
    }
    let Some(unit) = unit_arg(name, &args[2])? else { return null() };
    let Some(tz) = parse_timezone(&args[3])? else { return null() };
    let date = |i: usize, what: &str| match args[i].as_deref().expect("present") {
        v @ (Bson::DateTime(_) | Bson::Timestamp(_) | Bson::ObjectId(_)) => date_millis(v),
        other => Err(DocError::location(5166307, format!("{name} requires '{what}' to be a date, but got {}", type_name(other)))),
    };
    let (a, b) = (tz.to_local(date(0, "startDate")?), tz.to_local(date(1, "endDate")?));
    let diff = match unit {
        Unit::Millisecond => b.saturating_sub(a),
        Unit::Week => {
            let Some(sow) = start_of_week_arg(name, &args[4])? else { return null() };
            (week_start(b.div_euclid(MS_PER_DAY), sow) - week_start(a.div_euclid(MS_PER_DAY), sow)) / 7
        }
        Unit::Second | Unit::Minute | Unit::Hour | Unit::Day => {
            let u = unit.fixed_ms().expect("fixed");
            b.div_euclid(u) - a.div_euclid(u)
        }
        Unit::Month | Unit::Quarter | Unit::Year => {
            let w = unit.months();
            month_index(b).div_euclid(w) - month_index(a).div_euclid(w)
        }
    };
    Ok(Some(Bson::Int64(diff)))
}

fn parse_date_diff(name: &'static str, arg: &Bson, depth: usize) -> Result<Node, DocError> {
    parse_named(name, arg, depth, &["startDate", "endDate", "unit", "timezone", "startOfWeek"], 3, op_date_diff)
}

// --- Regular expressions, more arrays, trigonometry, sizes, $rand, $dateFromString ----------

thread_local! {
    /// Compiled `$regex*` patterns by (pattern, options); bounded.
    static REGEX_CACHE: std::cell::RefCell<Vec<(String, String, Arc<regex::Regex>)>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Compile a MongoDB regex (options `i m s x`, `u` accepted) for the `$regex*` operators.
fn compile_regex(op: &str, pattern: &str, options: &str) -> Result<Arc<regex::Regex>, DocError> {
    if let Some(re) = REGEX_CACHE.with(|c| c.borrow().iter().find(|(p, o, _)| p == pattern && o == options).map(|(_, _, r)| r.clone())) {
        return Ok(re);
    }
    let mut b = regex::RegexBuilder::new(pattern);
    for c in options.chars() {
        match c {
            'i' => b.case_insensitive(true),
            'm' => b.multi_line(true),
            's' => b.dot_matches_new_line(true),
            'x' => b.ignore_whitespace(true),
            'u' => &mut b,
            other => return Err(DocError::location(51108, format!("{op} invalid flag in regex options: {other}"))),
        };
    }
    if pattern.contains('\0') {
        return Err(DocError::location(51109, format!("{op}: regular expression cannot contain an embedded null byte")));
    }
    let re =
        Arc::new(b.size_limit(1 << 22).dfa_size_limit(1 << 22).build().map_err(|e| {
            DocError::location(51111, format!("Invalid Regex in {op}: {}", e.to_string().lines().last().unwrap_or_default()))
        })?);
    REGEX_CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= 64 {
            c.remove(0);
        }
        c.push((pattern.to_string(), options.to_string(), re.clone()));
    });
    Ok(re)
}

/// `$regexMatch`/`$regexFind`/`$regexFindAll`: arguments `[input, regex, options]`.
fn op_regex(name: &'static str, args: &[Val<'_>]) -> Result<Option<Bson>, DocError> {
    let none = || match name {
        "$regexMatch" => Bson::Boolean(false),
        "$regexFind" => Bson::Null,
        _ => Bson::Array(Vec::new()),
    };
    let (pattern, mut options) = match args[1].as_deref() {
        None | Some(Bson::Null | Bson::Undefined) => return Ok(Some(none())),
        Some(Bson::String(s)) => (s.clone(), String::new()),
        Some(Bson::RegularExpression(r)) => (r.pattern.to_string(), r.options.to_string()),
        Some(other) => {
            return Err(DocError::location(
                51105,
                format!("{name} needs 'regex' to be of type string or regex, found {}", type_name(other)),
            ))
        }
    };
    match args[2].as_deref() {
        None | Some(Bson::Null | Bson::Undefined) => {}
        Some(Bson::String(o)) => {
            if !options.is_empty() {
                return Err(DocError::location(
                    51107,
                    format!("{name} found regex option(s) specified in both 'regex' and 'option' fields"),
                ));
            }
            options = o.clone();
        }
        Some(other) => {
            return Err(DocError::location(51106, format!("{name} needs 'options' to be of type string, found {}", type_name(other))))
        }
    }
    let input = match args[0].as_deref() {
        None | Some(Bson::Null | Bson::Undefined) => return Ok(Some(none())),
        Some(Bson::String(s)) => s.as_str(),
        Some(other) => {
            return Err(DocError::location(51104, format!("{name} needs 'input' to be of type string, found {}", type_name(other))))
        }
    };
    let re = compile_regex(name, &pattern, &options)?;
    let found = |c: regex::Captures<'_>| -> Bson {
        let m = c.get(0).expect("group 0");
        let captures: Vec<Bson> = c.iter().skip(1).map(|g| g.map_or(Bson::Null, |g| Bson::String(g.as_str().to_string()))).collect();
        Bson::Document(bson::doc! {
            "match": m.as_str(),
            "idx": input[..m.start()].chars().count() as i32,
            "captures": captures,
        })
    };
    Ok(Some(match name {
        "$regexMatch" => Bson::Boolean(re.is_match(input)),
        "$regexFind" => re.captures(input).map_or(Bson::Null, found),
        _ => Bson::Array(re.captures_iter(input).map(found).collect()),
    }))
}

fn parse_regex_op(name: &'static str, arg: &Bson, depth: usize) -> Result<Node, DocError> {
    let Bson::Document(_) = arg else {
        return Err(DocError::location(51103, format!("{name} expects an object of named arguments but found: {}", type_name(arg))));
    };
    parse_named(name, arg, depth, &["input", "regex", "options"], 2, op_regex)
}

/// `$zip`: arguments `[inputs, useLongestLength, defaults]`.
fn op_zip(_: &'static str, args: &[Val<'_>]) -> Result<Option<Bson>, DocError> {
    let inputs = match args[0].as_deref() {
        Some(Bson::Array(a)) => a,
        None | Some(Bson::Null | Bson::Undefined) => return null(),
        Some(other) => {
            return Err(DocError::location(34461, format!("inputs must be an array of expressions, found {}", type_name(other))))
        }
    };
    let mut arrays = Vec::with_capacity(inputs.len());
    for i in inputs {
        match i {
            Bson::Array(a) => arrays.push(a),
            Bson::Null | Bson::Undefined => return null(),
            other => {
                return Err(DocError::location(34468, format!("$zip found a non-array expression in input: {}", mongo_display(other))))
            }
        }
    }
    let longest = match args[1].as_deref() {
        None => false,
        Some(Bson::Boolean(b)) => *b,
        Some(other) => return Err(DocError::location(34463, format!("useLongestLength must be a bool, found {}", type_name(other)))),
    };
    let defaults: Vec<Bson> = match args[2].as_deref() {
        None => Vec::new(),
        Some(Bson::Array(d)) => {
            if !longest {
                return Err(DocError::location(34466, "cannot specify defaults unless useLongestLength is true"));
            }
            if d.len() != arrays.len() {
                return Err(DocError::location(34467, "defaults and inputs must have the same length"));
            }
            d.clone()
        }
        Some(other) => {
            return Err(DocError::location(34462, format!("defaults must be an array of expressions, found {}", type_name(other))))
        }
    };
    let len = if longest { arrays.iter().map(|a| a.len()).max() } else { arrays.iter().map(|a| a.len()).min() }.unwrap_or(0);
    let out = (0..len)
        .map(|i| {
            Bson::Array(
                arrays
                    .iter()
                    .enumerate()
                    .map(|(j, a)| a.get(i).cloned().unwrap_or_else(|| defaults.get(j).cloned().unwrap_or(Bson::Null)))
                    .collect(),
            )
        })
        .collect();
    Ok(Some(Bson::Array(out)))
}

fn parse_zip(name: &'static str, arg: &Bson, depth: usize) -> Result<Node, DocError> {
    let Bson::Document(_) = arg else {
        return Err(DocError::location(34460, format!("{name} only supports an object as an argument, found {}", type_name(arg))));
    };
    parse_named(name, arg, depth, &["inputs", "useLongestLength", "defaults"], 1, op_zip)
}

/// `$sortArray`: arguments `[input, sortBy]`; `sortBy` is 1/-1 (whole values) or a sort
/// document (fields of document elements).
fn op_sort_array(_: &'static str, args: &[Val<'_>]) -> Result<Option<Bson>, DocError> {
    let items = match args[0].as_deref() {
        None | Some(Bson::Null | Bson::Undefined) => return null(),
        Some(Bson::Array(a)) => a.clone(),
        Some(other) => {
            return Err(DocError::location(
                2942504,
                format!("The input argument to $sortArray must be an array, but was of type: {}", type_name(other)),
            ))
        }
    };
    let bad = || DocError::location(2942505, "$sortArray requires sortBy to be either 1, -1, or a non-empty document");
    let mut items = items;
    match args[1].as_deref() {
        Some(v) if is_number(v) => match as_i64(v) {
            Some(1) => items.sort_by(compare),
            Some(-1) => items.sort_by(|a, b| compare(b, a)),
            _ => return Err(bad()),
        },
        Some(Bson::Document(d)) if !d.is_empty() => {
            let sort = super::sort::Sort::parse(d)?;
            let empty = Document::new();
            let mut keyed: Vec<(Vec<Bson>, Bson)> = items
                .into_iter()
                .map(|v| {
                    let k = match &v {
                        Bson::Document(doc) => sort.key(doc),
                        _ => sort.key(&empty),
                    };
                    (k, v)
                })
                .collect();
            keyed.sort_by(|a, b| sort.compare_keys(&a.0, &b.0));
            items = keyed.into_iter().map(|(_, v)| v).collect();
        }
        _ => return Err(bad()),
    }
    Ok(Some(Bson::Array(items)))
}

fn parse_sort_array(name: &'static str, arg: &Bson, depth: usize) -> Result<Node, DocError> {
    let Bson::Document(d) = arg else {
        return Err(DocError::location(2942500, format!("{name} requires an object as an argument, found: {}", type_name(arg))));
    };
    let (mut input, mut sort_by) = (None, None);
    for (k, v) in d {
        match k.as_str() {
            "input" => input = Some(parse_node(v, depth + 1)?),
            // sortBy is a literal specification, not an expression.
            "sortBy" => {
                let ok = match v {
                    Bson::Document(s) => !s.is_empty() && super::sort::Sort::parse(s).is_ok(),
                    n if is_number(n) => matches!(as_i64(n), Some(1 | -1)),
                    _ => false,
                };
                if !ok {
                    return Err(DocError::location(2942505, "$sortArray requires sortBy to be either 1, -1, or a non-empty document"));
                }
                sort_by = Some(Node::Literal(v.clone()));
            }
            other => return Err(DocError::location(2942501, format!("{name} found an unknown argument: {other}"))),
        }
    }
    let input = input.ok_or_else(|| DocError::location(2942502, format!("{name} requires 'input' to be specified")))?;
    let sort_by = sort_by.ok_or_else(|| DocError::location(2942503, format!("{name} requires 'sortBy' to be specified")))?;
    Ok(Node::Call(name, op_sort_array, vec![input, sort_by]))
}

/// Trigonometry: doubles in, doubles out (decimals computed as doubles, returned as decimals).
fn op_trig(name: &'static str, args: &[Val<'_>]) -> Result<Option<Bson>, DocError> {
    let mut xs = Vec::with_capacity(2);
    let mut decimal = false;
    for a in args {
        if nullish(a) {
            return null();
        }
        match a.as_deref().and_then(Num::of) {
            Some(n) => {
                decimal |= n.rank() == 3;
                xs.push(n.f());
            }
            None => return Err(DocError::location(28765, format!("{name} only supports numeric types, not {}", tname(a)))),
        }
    }
    let x = xs[0];
    let bounded = |lo: f64, hi: f64| -> Result<(), DocError> {
        if x.is_nan() || (lo..=hi).contains(&x) {
            Ok(())
        } else {
            let (l, h) = (format_double(lo), format_double(hi));
            Err(DocError::location(50989, format!("cannot apply {name} to {}, value must be in [{l},{h}]", format_double(x))))
        }
    };
    let r = match name {
        "$sin" => x.sin(),
        "$cos" => x.cos(),
        "$tan" => x.tan(),
        "$asin" => {
            bounded(-1.0, 1.0)?;
            x.asin()
        }
        "$acos" => {
            bounded(-1.0, 1.0)?;
            x.acos()
        }
        "$atan" => x.atan(),
        "$atan2" => x.atan2(xs[1]),
        "$sinh" => x.sinh(),
        "$cosh" => x.cosh(),
        "$tanh" => x.tanh(),
        "$asinh" => x.asinh(),
        "$acosh" => {
            bounded(1.0, f64::INFINITY)?;
            x.acosh()
        }
        "$atanh" => {
            bounded(-1.0, 1.0)?;
            x.atanh()
        }
        "$degreesToRadians" => x.to_radians(),
        _ => x.to_degrees(), // $radiansToDegrees
    };
    Ok(Some(if decimal { Num::Decimal(r).to_bson() } else { Bson::Double(r) }))
}

fn op_bson_size(_: &'static str, args: &[Val<'_>]) -> Result<Option<Bson>, DocError> {
    match args[0].as_deref() {
        None | Some(Bson::Null | Bson::Undefined) => null(),
        Some(Bson::Document(d)) => {
            let mut buf = Vec::new();
            d.to_writer(&mut buf).map_err(|e| DocError::bad_value(format!("$bsonSize: {e}")))?;
            Ok(Some(Bson::Int32(buf.len() as i32)))
        }
        Some(other) => Err(DocError::location(31393, format!("$bsonSize requires a document input, found: {}", type_name(other)))),
    }
}

fn op_binary_size(_: &'static str, args: &[Val<'_>]) -> Result<Option<Bson>, DocError> {
    match args[0].as_deref() {
        None | Some(Bson::Null | Bson::Undefined) => null(),
        Some(Bson::String(s)) => Ok(Some(Bson::Int32(s.len() as i32))),
        Some(Bson::Binary(b)) => Ok(Some(Bson::Int32(b.bytes.len() as i32))),
        Some(other) => {
            Err(DocError::location(51276, format!("$binarySize requires a string or BinData argument, found: {}", type_name(other))))
        }
    }
}

fn op_rand(_: &'static str, _: &[Val<'_>]) -> Result<Option<Bson>, DocError> {
    Ok(Some(Bson::Double(rand::random::<f64>())))
}

/// `$rand: {}`: never constant-folded.
fn parse_rand(name: &'static str, arg: &Bson, _: usize) -> Result<Node, DocError> {
    match arg {
        Bson::Document(d) if d.is_empty() => Ok(Node::Call(name, op_rand, Vec::new())),
        Bson::Array(a) if a.is_empty() => Ok(Node::Call(name, op_rand, Vec::new())),
        _ => Err(DocError::location(3040501, "$rand not supported with args")),
    }
}

/// Parse `s` with a `$dateToString`-style `format` (`%Y %m %d %H %M %S %L %j %z %Z %%`); the
/// result is local milliseconds and whether the string carried its own offset.
fn parse_formatted_date(s: &str, format: &str) -> Option<(i64, bool)> {
    let (mut y, mut mo, mut d, mut h, mut mi, mut sec, mut ms) = (1970i64, 1i64, 1i64, 0i64, 0i64, 0i64, 0i64);
    let mut doy: Option<i64> = None;
    let mut offset: Option<i64> = None;
    let b = s.as_bytes();
    let mut i = 0;
    let mut f = format.chars();
    let digits = |i: &mut usize, max: usize| -> Option<i64> {
        let start = *i;
        while *i < b.len() && *i - start < max && b[*i].is_ascii_digit() {
            *i += 1;
        }
        (*i > start).then(|| s[start..*i].parse().ok())?
    };
    while let Some(c) = f.next() {
        if c != '%' {
            if s[i..].starts_with(c) {
                i += c.len_utf8();
                continue;
            }
            return None;
        }
        match f.next()? {
            'Y' => y = digits(&mut i, 4)?,
            'm' => mo = digits(&mut i, 2)?,
            'd' => d = digits(&mut i, 2)?,
            'H' => h = digits(&mut i, 2)?,
            'M' => mi = digits(&mut i, 2)?,
            'S' => sec = digits(&mut i, 2)?,
            'L' => {
                let start = i;
                let v = digits(&mut i, 3)?;
                ms = v * 10i64.pow(3 - (i - start) as u32);
            }
            'j' => doy = Some(digits(&mut i, 3)?),
            'z' | 'Z' => {
                let sign = match b.get(i)? {
                    b'+' => 1,
                    b'-' => -1,
                    b'Z' => {
                        i += 1;
                        offset = Some(0);
                        continue;
                    }
                    _ => return None,
                };
                i += 1;
                let hh = digits(&mut i, 2)?;
                if b.get(i) == Some(&b':') {
                    i += 1;
                }
                let mm = digits(&mut i, 2).unwrap_or(0);
                offset = Some(sign * (hh * 60 + mm) * 60_000);
            }
            '%' => {
                if b.get(i) != Some(&b'%') {
                    return None;
                }
                i += 1;
            }
            _ => return None,
        }
    }
    if i != b.len() || !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 59 {
        return None;
    }
    let days = match doy {
        Some(j) => days_from_civil(y, 1, 1) + j - 1,
        None => {
            if d > i64::from(days_in_month(y, mo as u32)) {
                return None;
            }
            days_from_civil(y, mo as u32, d as u32)
        }
    };
    let local = days * MS_PER_DAY + h * 3_600_000 + mi * 60_000 + sec * 1000 + ms;
    Some(match offset {
        Some(o) => (local - o, true),
        None => (local, false),
    })
}

/// `$dateFromString`: arguments `[dateString, format, timezone, onError, onNull]`.
fn op_date_from_string(name: &'static str, args: &[Val<'_>]) -> Result<Option<Bson>, DocError> {
    let s = match args[0].as_deref() {
        None | Some(Bson::Null | Bson::Undefined) => return Ok(Some(args[4].as_deref().cloned().unwrap_or(Bson::Null))),
        Some(Bson::String(s)) => s.as_str(),
        Some(other) => {
            if let Some(v) = args[3].as_deref() {
                return Ok(Some(v.clone()));
            }
            return Err(conversion_failure(format!(
                "{name} requires that 'dateString' be a string, found: {} with value {other}",
                type_name(other)
            )));
        }
    };
    let Some(tz) = parse_timezone(&args[2])? else { return null() };
    let parsed = match args[1].as_deref() {
        None => parse_date(s.trim()).map(|ms| {
            let t = s.trim();
            let has_offset = t.ends_with('Z') || t.get(10..).is_some_and(|rest| rest.contains('+') || rest.rfind('-').is_some());
            (ms, has_offset)
        }),
        Some(Bson::Null | Bson::Undefined) => return null(),
        Some(Bson::String(f)) => parse_formatted_date(s, f),
        Some(other) => {
            return Err(DocError::location(
                40684,
                format!("{name} requires that 'format' be a string, found: {} with value {other}", type_name(other)),
            ))
        }
    };
    match parsed {
        Some((ms, true)) => Ok(Some(Bson::DateTime(bson::DateTime::from_millis(ms)))),
        Some((ms, false)) => Ok(Some(Bson::DateTime(bson::DateTime::from_millis(tz.to_utc(ms))))),
        None => match args[3].as_deref() {
            Some(v) => Ok(Some(v.clone())),
            None => Err(conversion_failure(format!("Error parsing date string '{s}'"))),
        },
    }
}

fn parse_date_from_string(name: &'static str, arg: &Bson, depth: usize) -> Result<Node, DocError> {
    let Bson::Document(_) = arg else {
        return Err(DocError::location(40540, format!("{name} only supports an object as an argument, found: {}", type_name(arg))));
    };
    parse_named(name, arg, depth, &["dateString", "format", "timezone", "onError", "onNull"], 1, op_date_from_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    fn vars() -> Variables {
        Variables::new(bson::DateTime::from_millis(1_700_000_000_000))
    }

    fn ev(spec: Bson, root: &Document) -> Result<Option<Bson>, DocError> {
        Expr::parse(&spec)?.eval(root, &vars())
    }

    fn ev1(spec: Bson) -> Bson {
        ev(spec, &doc! {}).unwrap().unwrap()
    }

    fn err(spec: Bson, root: &Document) -> DocError {
        ev(spec, root).unwrap_err()
    }

    fn dec(s: &str) -> Bson {
        Bson::Decimal128(s.parse().unwrap())
    }

    #[test]
    fn bitwise_operators() {
        // $bitAnd / $bitOr / $bitXor / $bitNot pages
        let d = doc! {"a": 0b1100, "b": 0b1010, "l": 3_i64};
        let f = |spec: Bson| ev(spec, &d).unwrap();
        assert_eq!(f(bson::bson!({"$bitAnd": ["$a", "$b"]})), Some(Bson::Int32(0b1000)));
        assert_eq!(f(bson::bson!({"$bitOr": ["$a", "$b"]})), Some(Bson::Int32(0b1110)));
        assert_eq!(f(bson::bson!({"$bitXor": ["$a", "$b"]})), Some(Bson::Int32(0b0110)));
        assert_eq!(f(bson::bson!({"$bitNot": "$a"})), Some(Bson::Int32(-13)));
        assert_eq!(f(bson::bson!({"$bitOr": ["$a", "$l"]})), Some(Bson::Int64(15)));
        assert_eq!(f(bson::bson!({"$bitNot": "$l"})), Some(Bson::Int64(-4)));
        assert_eq!(f(bson::bson!({"$bitAnd": ["$a", "$nope"]})), Some(Bson::Null));
        assert_eq!(err(bson::bson!({"$bitAnd": ["$a", 1.5]}), &d).code, codes::TYPE_MISMATCH);
    }

    #[test]
    fn field_paths_walk_documents_and_map_arrays() {
        let d = doc! {"a": {"b": {"c": 5}}, "orders": [{"amount": 1}, {"x": 1}, 7, {"amount": [2, 3]}]};
        assert_eq!(ev(Bson::String("$a.b.c".into()), &d).unwrap(), Some(Bson::Int32(5)));
        assert_eq!(ev(Bson::String("$a.x".into()), &d).unwrap(), None);
        assert_eq!(ev(Bson::String("$orders.amount".into()), &d).unwrap(), Some(bson::bson!([1, [2, 3]])));
        assert_eq!(ev(Bson::String("$$ROOT.a.b".into()), &d).unwrap(), Some(bson::bson!({"c": 5})));
        assert_eq!(ev(Bson::String("$$CURRENT".into()), &d).unwrap(), Some(Bson::Document(d.clone())));
        assert_eq!(ev(Bson::String("$$REMOVE".into()), &d).unwrap(), None);
        assert_eq!(ev(Bson::String("$$NOW".into()), &d).unwrap(), Some(Bson::DateTime(bson::DateTime::from_millis(1_700_000_000_000))));
        // Numeric components are field names in aggregation, not indexes.
        assert_eq!(ev(Bson::String("$orders.0".into()), &d).unwrap(), Some(bson::bson!([])));
        assert_eq!(err(Bson::String("$".into()), &d).code, 16872);
        assert_eq!(err(Bson::String("$a..b".into()), &d).code, 15998);
        assert_eq!(err(Bson::String("$$undefinedVar".into()), &d).code, 17276);
        assert_eq!(err(Bson::String("$$Foo".into()), &d).code, 17276);
    }

    #[test]
    fn document_and_array_expressions() {
        let d = doc! {"x": 1};
        let r = ev(bson::bson!({"a": "$x", "b": {"$add": [1, 2]}, "c": "$missing"}), &d).unwrap().unwrap();
        assert_eq!(r, bson::bson!({"a": 1, "b": 3}));
        assert_eq!(ev(bson::bson!(["$x", "$missing"]), &d).unwrap().unwrap(), bson::bson!([1, null]));
        assert_eq!(ev1(bson::bson!({"$literal": "$x"})), Bson::String("$x".into()));
        assert_eq!(ev1(bson::bson!({"$literal": {"$add": 1}})), bson::bson!({"$add": 1}));
        let e = err(bson::bson!({"$foo": 1}), &d);
        assert_eq!((e.code, e.message.as_str()), (168, "Unrecognized expression '$foo'"));
        assert_eq!(err(bson::bson!({"$add": [1], "b": 1}), &d).code, 15983);
        assert_eq!(err(bson::bson!({"a": 1, "$b": 1}), &d).code, 16410);
        assert_eq!(err(bson::bson!({"a.b": "$x"}), &d).code, 16412);
    }

    #[test]
    fn arithmetic_types_and_promotion() {
        assert_eq!(ev1(bson::bson!({"$add": [1, 2]})), Bson::Int32(3));
        assert_eq!(ev1(bson::bson!({"$add": [i32::MAX, 1]})), Bson::Int64(i64::from(i32::MAX) + 1));
        assert_eq!(ev1(bson::bson!({"$add": [i64::MAX, 1]})), Bson::Double(i64::MAX as f64 + 1.0));
        assert_eq!(ev1(bson::bson!({"$add": [1, 2_i64]})), Bson::Int64(3));
        assert_eq!(ev1(bson::bson!({"$add": [1, 2.5]})), Bson::Double(3.5));
        assert_eq!(ev1(bson::bson!({"$add": [dec("1.1"), dec("2.2")]})), dec("3.3"));
        assert_eq!(ev1(bson::bson!({"$add": [1, null]})), Bson::Null);
        assert_eq!(ev(bson::bson!({"$add": [1, "$nope"]}), &doc! {}).unwrap(), Some(Bson::Null));
        let e = err(bson::bson!({"$add": [1, "a"]}), &doc! {});
        assert_eq!((e.code, e.message.as_str()), (14, "$add only supports numeric or date types, not string"));
        // Dates: the manual's "$add: ['$date', 3*24*60*60000]".
        let d = doc! {"date": bson::DateTime::from_millis(1_000)};
        assert_eq!(
            ev(bson::bson!({"$add": ["$date", 3 * 24 * 60 * 60000]}), &d).unwrap(),
            Some(Bson::DateTime(bson::DateTime::from_millis(1_000 + 259_200_000)))
        );
        assert_eq!(err(bson::bson!({"$add": ["$date", "$date"]}), &d).code, 16612);
        assert_eq!(ev(bson::bson!({"$subtract": ["$date", "$date"]}), &d).unwrap(), Some(Bson::Int64(0)));
        assert_eq!(ev(bson::bson!({"$subtract": ["$date", 500]}), &d).unwrap(), Some(Bson::DateTime(bson::DateTime::from_millis(500))));
        assert_eq!(err(bson::bson!({"$subtract": [5, "$date"]}), &d).code, 16556);
        assert_eq!(ev1(bson::bson!({"$subtract": [5, 7]})), Bson::Int32(-2));
        assert_eq!(ev1(bson::bson!({"$multiply": [2, 3, 4]})), Bson::Int32(24));
        assert_eq!(ev1(bson::bson!({"$multiply": [i32::MAX, 2]})), Bson::Int64(i64::from(i32::MAX) * 2));
        assert_eq!(ev1(bson::bson!({"$divide": [9, 2]})), Bson::Double(4.5));
        assert_eq!(ev1(bson::bson!({"$divide": [8, 2]})), Bson::Double(4.0));
        let e = err(bson::bson!({"$divide": [1, 0]}), &doc! {});
        assert_eq!((e.code, e.message.as_str()), (2, "can't $divide by zero"));
        // Constant arguments fold at parse time, so the error needs no document (as mongod).
        assert_eq!(Expr::parse(&bson::bson!({"$divide": [1, 0]})).unwrap_err().code, 2);
        assert_eq!(Expr::parse(&bson::bson!({"$cond": [true, 1, {"$divide": [1, 0]}]})).unwrap_err().code, 2);
        assert_eq!(Expr::parse(&bson::bson!({"$add": [1, 2]})).unwrap().as_constant(), Some(&Bson::Int32(3)));
        assert!(Expr::parse(&bson::bson!({"$divide": ["$a", 0]})).is_ok());
        assert_eq!(ev1(bson::bson!({"$mod": [10, 3]})), Bson::Int32(1));
        assert_eq!(ev1(bson::bson!({"$mod": [-10, 3]})), Bson::Int32(-1));
        assert_eq!(ev1(bson::bson!({"$mod": [10.5, 3]})), Bson::Double(1.5));
        assert_eq!(err(bson::bson!({"$mod": [1, 0]}), &doc! {}).code, 16610);
        let e = err(bson::bson!({"$subtract": [1]}), &doc! {});
        assert_eq!((e.code, e.message.as_str()), (16020, "Expression $subtract takes exactly 2 arguments. 1 were passed in."));
    }

    #[test]
    fn unary_math_from_the_manual() {
        assert_eq!(ev1(bson::bson!({"$abs": -1})), Bson::Int32(1));
        assert_eq!(ev1(bson::bson!({"$abs": i32::MIN})), Bson::Int64(2_147_483_648));
        assert_eq!(ev1(bson::bson!({"$abs": null})), Bson::Null);
        assert_eq!(err(bson::bson!({"$abs": i64::MIN}), &doc! {}).code, 28680);
        assert_eq!(ev1(bson::bson!({"$ceil": 7.80})), Bson::Double(8.0));
        assert_eq!(ev1(bson::bson!({"$ceil": -2.8})), Bson::Double(-2.0));
        assert_eq!(ev1(bson::bson!({"$floor": -2.8})), Bson::Double(-3.0));
        assert_eq!(ev1(bson::bson!({"$floor": 5})), Bson::Int32(5));
        // $round's manual example (half to even) and $trunc's.
        for (v, p, want) in [(19.25, 1, 19.2), (28.73, 1, 28.7), (34.32, 1, 34.3), (-45.39, 1, -45.4)] {
            assert_eq!(ev1(bson::bson!({"$round": [v, p]})), Bson::Double(want), "{v}");
        }
        for (v, want) in [(19.25, 20.0), (28.73, 30.0), (34.32, 30.0), (-45.39, -50.0)] {
            assert_eq!(ev1(bson::bson!({"$round": [v, -1]})), Bson::Double(want), "{v}");
        }
        assert_eq!(ev1(bson::bson!({"$round": [1234.5678, 2]})), Bson::Double(1234.57));
        assert_eq!(ev1(bson::bson!({"$round": [1234.5678, -2]})), Bson::Double(1200.0));
        assert_eq!(ev1(bson::bson!({"$round": [1234.5678, -4]})), Bson::Double(0.0));
        assert_eq!(ev1(bson::bson!({"$round": [1234.5678, 0]})), Bson::Double(1235.0));
        assert_eq!(ev1(bson::bson!({"$round": [1234.5678]})), Bson::Double(1235.0));
        assert_eq!(err(bson::bson!({"$round": [1.5, 101]}), &doc! {}).code, 51083);
        assert_eq!(err(bson::bson!({"$round": [1.5, -25]}), &doc! {}).code, 51083);
        assert_eq!(err(bson::bson!({"$round": [7.5, 1.5]}), &doc! {}).code, 51082);
        assert_eq!(err(bson::bson!({"$round": [7.5, "x"]}), &doc! {}).code, 16004);
        assert_eq!(ev1(bson::bson!({"$round": [7.5, null]})), Bson::Null);
        assert_eq!(ev1(bson::bson!({"$round": [7.25, 100]})), Bson::Double(7.25));
        assert_eq!(err(bson::bson!({"$round": [1.5, 1, 2]}), &doc! {}).code, 28667);
        assert_eq!(ev1(bson::bson!({"$round": [10.5, 0]})), Bson::Double(10.0));
        assert_eq!(ev1(bson::bson!({"$round": [11.5, 0]})), Bson::Double(12.0));
        assert_eq!(ev1(bson::bson!({"$round": [1250, -2]})), Bson::Int32(1200));
        assert_eq!(ev1(bson::bson!({"$round": [1350_i64, -2]})), Bson::Int64(1400));
        assert_eq!(ev1(bson::bson!({"$trunc": [19.25, 1]})), Bson::Double(19.2));
        assert_eq!(ev1(bson::bson!({"$trunc": [-45.39, 1]})), Bson::Double(-45.3));
        assert_eq!(ev1(bson::bson!({"$trunc": [34.32, -1]})), Bson::Double(30.0));
        assert_eq!(ev1(bson::bson!({"$sqrt": 25})), Bson::Double(5.0));
        assert_eq!(err(bson::bson!({"$sqrt": -1}), &doc! {}).code, 28714);
        assert_eq!(ev1(bson::bson!({"$pow": [5, 0]})), Bson::Int32(1));
        assert_eq!(ev1(bson::bson!({"$pow": [5, 2]})), Bson::Int32(25));
        assert_eq!(ev1(bson::bson!({"$pow": [5, -2]})), Bson::Double(0.04));
        assert!(ev1(bson::bson!({"$pow": [-5, 0.5]})).as_f64().unwrap().is_nan());
        assert_eq!(err(bson::bson!({"$pow": [0, -1]}), &doc! {}).code, 28764);
        assert_eq!(ev1(bson::bson!({"$exp": 0})), Bson::Double(1.0));
        assert_eq!(ev1(bson::bson!({"$ln": 1})), Bson::Double(0.0));
        assert_eq!(ev1(bson::bson!({"$log10": 100})), Bson::Double(2.0));
        assert_eq!(ev1(bson::bson!({"$log": [100, 10]})), Bson::Double(2.0));
        assert_eq!(err(bson::bson!({"$ln": 0}), &doc! {}).code, 28766);
        assert_eq!(err(bson::bson!({"$log": [8, 1]}), &doc! {}).code, 28759);
        assert_eq!(err(bson::bson!({"$abs": "x"}), &doc! {}).code, 28765);
    }

    #[test]
    fn comparison_across_types_and_missing() {
        assert_eq!(ev1(bson::bson!({"$eq": [1, 1.0]})), Bson::Boolean(true));
        assert_eq!(ev1(bson::bson!({"$gt": ["a", 5]})), Bson::Boolean(true));
        assert_eq!(ev1(bson::bson!({"$cmp": [1, 2]})), Bson::Int32(-1));
        assert_eq!(ev1(bson::bson!({"$cmp": [{"a": 1}, "z"]})), Bson::Int32(1));
        assert_eq!(ev1(bson::bson!({"$eq": ["$missing", null]})), Bson::Boolean(false));
        assert_eq!(ev1(bson::bson!({"$lt": ["$missing", null]})), Bson::Boolean(true));
        assert_eq!(ev1(bson::bson!({"$eq": ["$missing", "$alsoMissing"]})), Bson::Boolean(true));
        assert_eq!(ev1(bson::bson!({"$lte": [2, 2_i64]})), Bson::Boolean(true));
        assert_eq!(ev1(bson::bson!({"$ne": [2, 3]})), Bson::Boolean(true));
    }

    #[test]
    fn boolean_and_conditionals() {
        assert_eq!(ev1(bson::bson!({"$and": [1, "green"]})), Bson::Boolean(true));
        assert_eq!(ev1(bson::bson!({"$and": []})), Bson::Boolean(true));
        assert_eq!(ev1(bson::bson!({"$and": [[null], [false], [0]]})), Bson::Boolean(true));
        assert_eq!(ev1(bson::bson!({"$and": [null, true]})), Bson::Boolean(false));
        assert_eq!(ev1(bson::bson!({"$and": [0, true]})), Bson::Boolean(false));
        assert_eq!(ev1(bson::bson!({"$or": [0, "$missing", false]})), Bson::Boolean(false));
        assert_eq!(ev1(bson::bson!({"$or": []})), Bson::Boolean(false));
        assert_eq!(ev1(bson::bson!({"$not": [[false]]})), Bson::Boolean(false));
        assert_eq!(ev1(bson::bson!({"$not": [null]})), Bson::Boolean(true));
        let d = doc! {"qty": 300};
        let c = bson::bson!({"$cond": {"if": {"$gte": ["$qty", 250]}, "then": 30, "else": 20}});
        assert_eq!(ev(c, &d).unwrap(), Some(Bson::Int32(30)));
        let c = bson::bson!({"$cond": [{"$gte": ["$qty", 500]}, 30, 20]});
        assert_eq!(ev(c, &d).unwrap(), Some(Bson::Int32(20)));
        assert_eq!(err(bson::bson!({"$cond": {"if": 1, "then": 2}}), &d).code, 17082);
        assert_eq!(err(bson::bson!({"$cond": [1, 2]}), &d).code, 16020);
        let d = doc! {"a": null, "b": 5};
        assert_eq!(ev(bson::bson!({"$ifNull": ["$a", "$missing", "$b", 9]}), &d).unwrap(), Some(Bson::Int32(5)));
        assert_eq!(ev(bson::bson!({"$ifNull": ["$a", "Unspecified"]}), &d).unwrap(), Some(Bson::String("Unspecified".into())));
        assert_eq!(err(bson::bson!({"$ifNull": ["$a"]}), &d).code, 1257300);
        let s = bson::bson!({"$switch": {"branches": [
            {"case": {"$gte": ["$b", 90]}, "then": "A"},
            {"case": {"$gte": ["$b", 5]}, "then": "B"}
        ], "default": "F"}});
        assert_eq!(ev(s, &d).unwrap(), Some(Bson::String("B".into())));
        let s = bson::bson!({"$switch": {"branches": [{"case": false, "then": 1}]}});
        assert_eq!(Expr::parse(&s).unwrap_err().code, 40069);
        let s = bson::bson!({"$switch": {"branches": [{"case": "$nope", "then": 1}]}});
        let e = err(s, &d);
        assert_eq!(e.code, 40066);
        assert_eq!(e.message, "$switch could not find a matching branch for an input, and no default was specified.");
        assert_eq!(err(bson::bson!({"$switch": {"branches": []}}), &d).code, 40068);
    }

    #[test]
    fn variables_let_map_filter_reduce() {
        let v = Variables::with_let(bson::DateTime::from_millis(0), &doc! {"target": {"$add": [1, 2]}, "name": "x"}).unwrap();
        let e = Expr::parse(&bson::bson!({"$multiply": ["$$target", 2]})).unwrap();
        assert_eq!(e.eval(&doc! {}, &v).unwrap(), Some(Bson::Int32(6)));
        let v2 = v.clone();
        assert_eq!(v2.get("name"), Some(&Bson::String("x".into())));
        assert_eq!(Variables::with_let(bson::DateTime::from_millis(0), &doc! {"Bad": 1}).unwrap_err().code, 16867);
        let v3 = Variables::with_let(bson::DateTime::from_millis(9), &doc! {"gone": "$$REMOVE", "t": "$$NOW", "u": {"$add": ["$$t", 1]}})
            .unwrap();
        let e = Expr::parse(&bson::bson!({"a": "$$gone", "b": "$$u", "c": {"$type": "$$gone"}})).unwrap();
        assert_eq!(e.eval(&doc! {}, &v3).unwrap(), Some(bson::bson!({"b": bson::DateTime::from_millis(10), "c": "missing"})));
        assert_eq!(Variables::with_let(bson::DateTime::from_millis(0), &doc! {"a-b": 1}).unwrap_err().code, 16868);

        let d = doc! {"price": 10, "tax": 2, "applyDiscount": true, "items": [{"q": 1}, {"q": 5}], "nums": [1, 2, 3]};
        let l = bson::bson!({"$let": {"vars": {"total": {"$add": ["$price", "$tax"]}, "discounted": {"$cond": {"if": "$applyDiscount", "then": 0.9, "else": 1}}}, "in": {"$multiply": ["$$total", "$$discounted"]}}});
        assert_eq!(ev(l, &d).unwrap(), Some(Bson::Double(10.8)));
        let m = bson::bson!({"$map": {"input": "$nums", "as": "n", "in": {"$add": ["$$n", 2]}}});
        assert_eq!(ev(m, &d).unwrap(), Some(bson::bson!([3, 4, 5])));
        let m = bson::bson!({"$map": {"input": "$items", "in": "$$this.q"}});
        assert_eq!(ev(m, &d).unwrap(), Some(bson::bson!([1, 5])));
        assert_eq!(ev(bson::bson!({"$map": {"input": "$nope", "in": 1}}), &d).unwrap(), Some(Bson::Null));
        assert_eq!(err(bson::bson!({"$map": {"input": "$price", "in": 1}}), &d).code, 16883);
        let f = bson::bson!({"$filter": {"input": "$items", "as": "item", "cond": {"$gte": ["$$item.q", 2]}}});
        assert_eq!(ev(f, &d).unwrap(), Some(bson::bson!([{"q": 5}])));
        let f = bson::bson!({"$filter": {"input": [1, "a", 2, null, 3.1, 5_i64, "5"], "as": "num", "cond": {"$isNumber": "$$num"}, "limit": 2}});
        assert_eq!(ev(f, &d).unwrap(), Some(bson::bson!([1, 2])));
        let f = bson::bson!({"$filter": {"input": [1], "cond": true, "limit": 0}});
        assert_eq!(err(f, &d).code, 327392);
        let r = bson::bson!({"$reduce": {"input": ["a", "b", "c"], "initialValue": "", "in": {"$concat": ["$$value", "$$this"]}}});
        assert_eq!(ev(r, &d).unwrap(), Some(Bson::String("abc".into())));
        let r = bson::bson!({"$reduce": {"input": [1, 2, 3, 4], "initialValue": {"sum": 5, "product": 2}, "in": {
            "sum": {"$add": ["$$value.sum", "$$this"]}, "product": {"$multiply": ["$$value.product", "$$this"]}}}});
        assert_eq!(ev(r, &d).unwrap(), Some(bson::bson!({"sum": 15, "product": 48})));
        let r =
            bson::bson!({"$reduce": {"input": [[3, 4], [5, 6]], "initialValue": [1, 2], "in": {"$concatArrays": ["$$value", "$$this"]}}});
        assert_eq!(ev(r, &d).unwrap(), Some(bson::bson!([1, 2, 3, 4, 5, 6])));
        // Inner variables shadow, and go out of scope after.
        let nested = bson::bson!({"$let": {"vars": {"x": 1}, "in": {"$add": [{"$let": {"vars": {"x": 10}, "in": "$$x"}}, "$$x"]}}});
        assert_eq!(ev(nested, &d).unwrap(), Some(Bson::Int32(11)));
    }

    #[test]
    fn fields_get_set_unset() {
        let d = doc! {"price.usd": 45, "$price": 3, "obj": {"a": 1, "b": 2}};
        assert_eq!(ev(bson::bson!({"$getField": "price.usd"}), &d).unwrap(), Some(Bson::Int32(45)));
        assert_eq!(ev(bson::bson!({"$getField": {"$literal": "$price"}}), &d).unwrap(), Some(Bson::Int32(3)));
        assert_eq!(ev(bson::bson!({"$getField": {"field": "a", "input": "$obj"}}), &d).unwrap(), Some(Bson::Int32(1)));
        assert_eq!(err(bson::bson!({"$getField": {"field": "a"}}), &d).code, 3041703);
        assert_eq!(err(bson::bson!({"$getField": {"k": 1}}), &d).code, 3041701);
        assert_eq!(err(bson::bson!({"$getField": "$nope"}), &d).code, 3041704);
        assert_eq!(err(bson::bson!({"$getField": {"field": 5, "input": {}}}), &d).code, 3041704);
        assert_eq!(ev(bson::bson!({"$getField": {"field": "a", "input": "$nope"}}), &d).unwrap(), Some(Bson::Null));
        assert_eq!(ev(bson::bson!({"$getField": {"field": "zz", "input": "$obj"}}), &d).unwrap(), None);
        let s = bson::bson!({"$setField": {"field": "c", "input": "$obj", "value": 3}});
        assert_eq!(ev(s, &d).unwrap(), Some(bson::bson!({"a": 1, "b": 2, "c": 3})));
        let s = bson::bson!({"$setField": {"field": "a", "input": "$obj", "value": "$$REMOVE"}});
        assert_eq!(ev(s, &d).unwrap(), Some(bson::bson!({"b": 2})));
        let s = bson::bson!({"$unsetField": {"field": "price.usd", "input": "$$ROOT"}});
        assert_eq!(ev(s, &d).unwrap(), Some(bson::bson!({"$price": 3, "obj": {"a": 1, "b": 2}})));
        assert_eq!(err(bson::bson!({"$setField": {"field": "$x", "input": "$obj", "value": 1}}), &d).code, 4161106);
    }

    #[test]
    fn types_and_conversions() {
        assert_eq!(ev1(bson::bson!({"$type": "a"})), Bson::String("string".into()));
        assert_eq!(ev1(bson::bson!({"$type": "$nope"})), Bson::String("missing".into()));
        assert_eq!(ev1(bson::bson!({"$type": [[1]]})), Bson::String("array".into()));
        assert_eq!(ev1(bson::bson!({"$toInt": "123"})), Bson::Int32(123));
        assert_eq!(ev1(bson::bson!({"$toInt": 5.7})), Bson::Int32(5));
        assert_eq!(ev1(bson::bson!({"$toInt": true})), Bson::Int32(1));
        assert_eq!(ev1(bson::bson!({"$toInt": null})), Bson::Null);
        let e = err(bson::bson!({"$toInt": "1.5"}), &doc! {});
        assert_eq!(e.code, 241);
        assert_eq!(ev1(bson::bson!({"$toLong": "99"})), Bson::Int64(99));
        assert_eq!(ev1(bson::bson!({"$toLong": bson::DateTime::from_millis(5)})), Bson::Int64(5));
        assert_eq!(ev1(bson::bson!({"$toDouble": "5.5"})), Bson::Double(5.5));
        assert_eq!(ev1(bson::bson!({"$toDouble": false})), Bson::Double(0.0));
        assert_eq!(ev1(bson::bson!({"$toDecimal": 2.5})), dec("2.5"));
        assert_eq!(ev1(bson::bson!({"$toDecimal": true})), dec("1"));
        assert_eq!(ev1(bson::bson!({"$toBool": 0})), Bson::Boolean(false));
        assert_eq!(ev1(bson::bson!({"$toBool": "false"})), Bson::Boolean(true));
        assert_eq!(ev1(bson::bson!({"$toString": 2.5})), Bson::String("2.5".into()));
        for (d, want) in
            [(1234567.0, "1.23457e+06"), (123456.0, "123456"), (0.0001, "0.0001"), (0.00001234, "1.234e-05"), (-0.0, "-0"), (1.0, "1")]
        {
            assert_eq!(format_double(d), want);
        }
        assert_eq!(ev1(bson::bson!({"$toString": 1})), Bson::String("1".into()));
        assert_eq!(ev1(bson::bson!({"$toString": true})), Bson::String("true".into()));
        assert_eq!(
            ev1(bson::bson!({"$toString": bson::DateTime::from_millis(1_520_078_400_000)})),
            Bson::String("2018-03-03T12:00:00.000Z".into())
        );
        assert_eq!(ev1(bson::bson!({"$toDate": "2018-03-03T12:00:00Z"})), Bson::DateTime(bson::DateTime::from_millis(1_520_078_400_000)));
        assert_eq!(ev1(bson::bson!({"$toDate": "2018-03-03"})), Bson::DateTime(bson::DateTime::from_millis(1_520_035_200_000)));
        assert_eq!(
            ev1(bson::bson!({"$toDate": "2018-03-03T13:00:00.000+01:00"})),
            Bson::DateTime(bson::DateTime::from_millis(1_520_078_400_000))
        );
        assert_eq!(ev1(bson::bson!({"$toDate": 120000000000.5_f64})), Bson::DateTime(bson::DateTime::from_millis(120_000_000_000)));
        assert_eq!(err(bson::bson!({"$toDate": 5}), &doc! {}).code, 241);
        // $toDate page: space-separated offsets
        assert_eq!(parse_date("2018-03-20 11:00:06 +0500"), parse_date("2018-03-20T06:00:06Z"));
        assert_eq!(parse_date("2018-03-15 +10:00"), parse_date("2018-03-14T14:00:00Z"));
        let e = err(bson::bson!({"$toInt": [1, 2]}), &doc! {});
        assert_eq!((e.code, e.message.as_str()), (50723, "$toInt requires a single argument, got 2"));
        assert_eq!(ev1(bson::bson!({"$toInt": [1]})), Bson::Int32(1));
        let e = err(bson::bson!({"$toInt": f64::INFINITY}), &doc! {});
        assert_eq!(e.message, "Attempt to convert infinity value to integer type in $convert with no onError value");
        let e = err(bson::bson!({"$toObjectId": 1}), &doc! {});
        assert_eq!(e.message, "Unsupported conversion from int to objectId in $convert with no onError value");
        let c = bson::bson!({"$convert": {"input": bson::oid::ObjectId::new(), "to": "int", "onError": "E"}});
        assert_eq!(ev1(c), Bson::String("E".into()));
        let c = bson::bson!({"$convert": {"input": "abc", "to": "int", "onError": "bad", "onNull": "none"}});
        assert_eq!(ev1(c), Bson::String("bad".into()));
        let c = bson::bson!({"$convert": {"input": "$nope", "to": "int", "onError": "bad", "onNull": "none"}});
        assert_eq!(ev1(c), Bson::String("none".into()));
        assert_eq!(ev1(bson::bson!({"$convert": {"input": "7", "to": 18}})), Bson::Int64(7));
        let e = err(bson::bson!({"$convert": {"input": {"a": 1}, "to": "int"}}), &doc! {});
        assert_eq!(e.message, "Unsupported conversion from object to int in $convert with no onError value");
        assert_eq!(err(bson::bson!({"$toInt": 1e20}), &doc! {}).code, 241);
    }

    #[test]
    fn strings() {
        assert_eq!(ev1(bson::bson!({"$concat": ["a", "-", "b"]})), Bson::String("a-b".into()));
        assert_eq!(ev1(bson::bson!({"$concat": ["a", null]})), Bson::Null);
        assert_eq!(err(bson::bson!({"$concat": ["a", 1]}), &doc! {}).code, 16702);
        assert_eq!(ev1(bson::bson!({"$toLower": "ABC1"})), Bson::String("abc1".into()));
        assert_eq!(ev1(bson::bson!({"$toUpper": "$nope"})), Bson::String("".into()));
        assert_eq!(ev1(bson::bson!({"$toUpper": 1.5})), Bson::String("1.5".into()));
        assert_eq!(ev1(bson::bson!({"$strLenCP": "cafétéria"})), Bson::Int32(9));
        assert_eq!(ev1(bson::bson!({"$strLenBytes": "cafétéria"})), Bson::Int32(11));
        assert_eq!(err(bson::bson!({"$strLenCP": null}), &doc! {}).code, 34471);
        assert_eq!(ev1(bson::bson!({"$substrCP": ["Hello World!", 6, 5]})), Bson::String("World".into()));
        assert_eq!(ev1(bson::bson!({"$substrCP": ["cafétéria", 0, 5]})), Bson::String("cafét".into()));
        assert_eq!(err(bson::bson!({"$substrCP": ["abc", -1, 1]}), &doc! {}).code, 34454);
        assert_eq!(ev1(bson::bson!({"$split": ["June-15-2013", "-"]})), bson::bson!(["June", "15", "2013"]));
        assert_eq!(err(bson::bson!({"$split": ["headphone jack", 7]}), &doc! {}).code, 40086);
        assert_eq!(err(bson::bson!({"$split": ["a", ""]}), &doc! {}).code, 40087);
        assert_eq!(ev1(bson::bson!({"$split": [null, "-"]})), Bson::Null);
        assert_eq!(ev1(bson::bson!({"$trim": {"input": "  \n good  bye \t  "}})), Bson::String("good  bye".into()));
        assert_eq!(ev1(bson::bson!({"$ltrim": {"input": "  x  "}})), Bson::String("x  ".into()));
        assert_eq!(ev1(bson::bson!({"$rtrim": {"input": "xxaxx", "chars": "x"}})), Bson::String("xxa".into()));
        assert_eq!(ev1(bson::bson!({"$trim": {"input": null}})), Bson::Null);
    }

    #[test]
    fn arrays_and_accumulators() {
        let d = doc! {"a": [1, 2, 3], "e": []};
        assert_eq!(ev(bson::bson!({"$size": "$a"}), &d).unwrap(), Some(Bson::Int32(3)));
        let e = err(bson::bson!({"$size": "$nope"}), &d);
        assert_eq!((e.code, e.message.as_str()), (17124, "The argument to $size must be an array, but was of type: missing"));
        assert_eq!(ev(bson::bson!({"$arrayElemAt": ["$a", 0]}), &d).unwrap(), Some(Bson::Int32(1)));
        assert_eq!(ev(bson::bson!({"$arrayElemAt": ["$a", -1]}), &d).unwrap(), Some(Bson::Int32(3)));
        assert_eq!(ev(bson::bson!({"$arrayElemAt": ["$a", 15]}), &d).unwrap(), None);
        assert_eq!(ev(bson::bson!({"$in": [2, "$a"]}), &d).unwrap(), Some(Bson::Boolean(true)));
        assert_eq!(ev(bson::bson!({"$in": ["abc", ["xyz", "abc"]]}), &d).unwrap(), Some(Bson::Boolean(true)));
        assert_eq!(err(bson::bson!({"$in": [1, "$nope"]}), &d).code, 40081);
        assert_eq!(ev(bson::bson!({"$concatArrays": ["$a", [4]]}), &d).unwrap(), Some(bson::bson!([1, 2, 3, 4])));
        assert_eq!(ev(bson::bson!({"$concatArrays": ["$a", "$nope"]}), &d).unwrap(), Some(Bson::Null));
        assert_eq!(ev(bson::bson!({"$isArray": ["$a"]}), &d).unwrap(), Some(Bson::Boolean(true)));
        assert_eq!(ev(bson::bson!({"$first": "$a"}), &d).unwrap(), Some(Bson::Int32(1)));
        assert_eq!(ev(bson::bson!({"$last": "$a"}), &d).unwrap(), Some(Bson::Int32(3)));
        assert_eq!(ev(bson::bson!({"$first": "$e"}), &d).unwrap(), None);
        assert_eq!(ev(bson::bson!({"$sum": "$a"}), &d).unwrap(), Some(Bson::Int32(6)));
        assert_eq!(ev(bson::bson!({"$sum": [1, "x", 2.5]}), &d).unwrap(), Some(Bson::Double(3.5)));
        assert_eq!(ev(bson::bson!({"$sum": "$nope"}), &d).unwrap(), Some(Bson::Int32(0)));
        assert_eq!(ev(bson::bson!({"$avg": "$a"}), &d).unwrap(), Some(Bson::Double(2.0)));
        assert_eq!(ev(bson::bson!({"$avg": "$e"}), &d).unwrap(), Some(Bson::Null));
        assert_eq!(ev(bson::bson!({"$max": "$a"}), &d).unwrap(), Some(Bson::Int32(3)));
        assert_eq!(ev(bson::bson!({"$min": [5, null, "$a", 2]}), &d).unwrap(), Some(Bson::Int32(2)));
        assert_eq!(ev(bson::bson!({"$max": [5, "a"]}), &d).unwrap(), Some(Bson::String("a".into())));
    }

    #[test]
    fn objects() {
        assert_eq!(ev1(bson::bson!({"$mergeObjects": [{"a": 1, "b": 1}, null, {"b": 2, "c": 3}]})), bson::bson!({"a": 1, "b": 2, "c": 3}));
        assert_eq!(err(bson::bson!({"$mergeObjects": [{"a": 1}, 5]}), &doc! {}).code, 40400);
        assert_eq!(
            ev1(bson::bson!({"$objectToArray": {"item": "foo", "qty": 25}})),
            bson::bson!([{"k": "item", "v": "foo"}, {"k": "qty", "v": 25}])
        );
        assert_eq!(ev1(bson::bson!({"$arrayToObject": [[["item", "abc123"], ["qty", 25]]]})), bson::bson!({"item": "abc123", "qty": 25}));
        assert_eq!(
            ev1(bson::bson!({"$arrayToObject": {"$literal": [{"k": "item", "v": "abc123"}, {"k": "qty", "v": 25}]}})),
            bson::bson!({"item": "abc123", "qty": 25})
        );
        assert_eq!(ev1(bson::bson!({"$arrayToObject": {"$literal": [["a", 1], ["a", 2]]}})), bson::bson!({"a": 2}));
        assert_eq!(err(bson::bson!({"$arrayToObject": {"$literal": [["a", 1], {"k": "b", "v": 2}]}}), &doc! {}).code, 40396);
        assert_eq!(err(bson::bson!({"$arrayToObject": {"$literal": [{"k": "b", "v": 2}, ["a", 1]]}}), &doc! {}).code, 40391);
        assert_eq!(err(bson::bson!({"$arrayToObject": {"$literal": [1]}}), &doc! {}).code, 40398);
        assert_eq!(err(bson::bson!({"$arrayToObject": {"$literal": [["a", 1, 2]]}}), &doc! {}).code, 40397);
        assert_eq!(ev1(bson::bson!({"$arrayToObject": {"$literal": []}})), bson::bson!({}));
    }

    #[test]
    fn deep_specs_fail_cleanly() {
        let mut spec = Bson::Int32(1);
        for _ in 0..1_000 {
            spec = Bson::Document(doc! {"$abs": spec});
        }
        assert_eq!(Expr::parse(&spec).unwrap_err().code, codes::OVERFLOW);
        // The deepest specs that parse also evaluate within a test thread's (2 MiB) stack.
        type Wrap = fn(Bson) -> Bson;
        let wraps: [Wrap; 6] = [
            |s| Bson::Document(doc! {"$abs": s}),
            |s| Bson::Document(doc! {"$add": [s, 1]}),
            |s| Bson::Document(doc! {"$cond": {"if": true, "then": s, "else": 0}}),
            |s| Bson::Document(doc! {"$let": {"vars": {"v": s}, "in": "$$v"}}),
            |s| Bson::Document(doc! {"$map": {"input": [1], "in": s}}),
            |s| Bson::Document(doc! {"x": s, "y": "$a"}),
        ];
        for wrap in wraps {
            let mut spec = Bson::Int32(1);
            let mut deepest = None;
            for _ in 0..MAX_EXPR_DEPTH {
                let next = wrap(spec.clone());
                if Expr::parse(&next).is_err() {
                    break;
                }
                deepest = Some(next.clone());
                spec = next;
            }
            let e = Expr::parse(&deepest.unwrap()).unwrap();
            assert!(e.eval(&doc! {"a": 1}, &vars()).is_ok());
        }
    }

    #[test]
    fn more_arrays_and_sets() {
        assert_eq!(ev1(bson::bson!({"$slice": [[1, 2, 3], 1, 1]})), bson::bson!([2]));
        assert_eq!(ev1(bson::bson!({"$slice": [[1, 2, 3], -2]})), bson::bson!([2, 3]));
        assert_eq!(ev1(bson::bson!({"$slice": [[1, 2, 3], 15, 2]})), bson::bson!([]));
        assert_eq!(ev1(bson::bson!({"$slice": [[1, 2, 3], -15, 2]})), bson::bson!([1, 2]));
        assert_eq!(ev1(bson::bson!({"$slice": [[1, 2, 3], 2]})), bson::bson!([1, 2]));
        assert_eq!(ev1(bson::bson!({"$slice": ["$nope", 2]})), Bson::Null);
        assert_eq!(err(bson::bson!({"$slice": [[1], 0, 0]}), &doc! {}).code, 28729);
        assert_eq!(ev1(bson::bson!({"$reverseArray": [[1, 2, 3]]})), bson::bson!([3, 2, 1]));
        assert_eq!(ev1(bson::bson!({"$reverseArray": null})), Bson::Null);
        assert_eq!(ev1(bson::bson!({"$range": [0, 10, 2]})), bson::bson!([0, 2, 4, 6, 8]));
        assert_eq!(ev1(bson::bson!({"$range": [10, 0, -2]})), bson::bson!([10, 8, 6, 4, 2]));
        assert_eq!(ev1(bson::bson!({"$range": [0, 10, -2]})), bson::bson!([]));
        assert_eq!(ev1(bson::bson!({"$range": [0, 3]})), bson::bson!([0, 1, 2]));
        assert_eq!(err(bson::bson!({"$range": [0, 3, 0]}), &doc! {}).code, 34449);
        assert_eq!(ev1(bson::bson!({"$indexOfArray": [["a", "abc"], "a"]})), Bson::Int32(0));
        assert_eq!(ev1(bson::bson!({"$indexOfArray": [["a", "abc", "de", ["de"]], ["de"]]})), Bson::Int32(3));
        assert_eq!(ev1(bson::bson!({"$indexOfArray": [[1, 2], 5]})), Bson::Int32(-1));
        assert_eq!(ev1(bson::bson!({"$indexOfArray": [[10, 9, 9], 9, 2]})), Bson::Int32(2));
        assert_eq!(ev1(bson::bson!({"$indexOfArray": [null, "foo"]})), Bson::Null);
        let d = doc! {"A": ["red", "blue"], "B": ["red", "blue", "green"]};
        assert_eq!(ev(bson::bson!({"$setIsSubset": ["$A", "$B"]}), &d).unwrap(), Some(Bson::Boolean(true)));
        assert_eq!(ev(bson::bson!({"$setEquals": ["$A", "$B"]}), &d).unwrap(), Some(Bson::Boolean(false)));
        assert_eq!(ev(bson::bson!({"$setEquals": ["$A", ["blue", "red", "red"]]}), &d).unwrap(), Some(Bson::Boolean(true)));
        assert_eq!(ev(bson::bson!({"$setIntersection": ["$A", "$B"]}), &d).unwrap(), Some(bson::bson!(["red", "blue"])));
        assert_eq!(ev(bson::bson!({"$setDifference": ["$B", "$A"]}), &d).unwrap(), Some(bson::bson!(["green"])));
        assert_eq!(ev(bson::bson!({"$setUnion": ["$A", "$B", [1, 1.0]]}), &d).unwrap(), Some(bson::bson!(["red", "blue", "green", 1])));
        assert_eq!(ev(bson::bson!({"$setUnion": ["$A", "$nope"]}), &d).unwrap(), Some(Bson::Null));
        let e = err(bson::bson!({"$setEquals": ["$A", "$nope"]}), &d);
        assert_eq!((e.code, e.message.as_str()), (5887502, "All operands of $setEquals must be arrays. 2-th argument is of type: missing"));
        let e = err(bson::bson!({"$setIsSubset": [null, [1]]}), &d);
        assert_eq!((e.code, e.message.as_str()), (17046, "both operands of $setIsSubset must be arrays. First argument is of type: null"));
        assert_eq!(err(bson::bson!({"$setIsSubset": [[1], 2]}), &d).code, 17042);
        assert_eq!(err(bson::bson!({"$setDifference": [1, [2]]}), &d).code, 17048);
        assert_eq!(err(bson::bson!({"$setDifference": [[1], 2]}), &d).code, 17049);
        assert_eq!(ev(bson::bson!({"$setUnion": [null, 1]}), &d).unwrap(), Some(Bson::Null));
        assert_eq!(err(bson::bson!({"$setUnion": [1, null]}), &d).code, 17043);
        let e = err(bson::bson!({"$setEquals": [[1]]}), &d);
        assert_eq!((e.code, e.message.as_str()), (17045, "$setEquals needs at least two arguments had: 1"));
        assert_eq!(ev1(bson::bson!({"$allElementsTrue": [[true, 1, "someString"]]})), Bson::Boolean(true));
        assert_eq!(ev1(bson::bson!({"$allElementsTrue": [[[false]]]})), Bson::Boolean(true));
        assert_eq!(ev1(bson::bson!({"$allElementsTrue": [[]]})), Bson::Boolean(true));
        assert_eq!(ev1(bson::bson!({"$allElementsTrue": [[null, false, 0]]})), Bson::Boolean(false));
        assert_eq!(ev1(bson::bson!({"$anyElementTrue": [[]]})), Bson::Boolean(false));
        assert_eq!(ev1(bson::bson!({"$anyElementTrue": [[null, false, 0, 1]]})), Bson::Boolean(true));
    }

    #[test]
    fn more_strings() {
        assert_eq!(ev1(bson::bson!({"$strcasecmp": ["ABC", "abc"]})), Bson::Int32(0));
        assert_eq!(ev1(bson::bson!({"$strcasecmp": ["abc", "abd"]})), Bson::Int32(-1));
        assert_eq!(ev1(bson::bson!({"$substrBytes": ["abcde", 1, 2]})), Bson::String("bc".into()));
        assert_eq!(ev1(bson::bson!({"$substr": ["abcde", 1, -1]})), Bson::String("bcde".into()));
        assert_eq!(err(bson::bson!({"$substrBytes": ["é", 1, 1]}), &doc! {}).code, 28656);
        assert_eq!(ev1(bson::bson!({"$indexOfCP": ["cafeteria", "e"]})), Bson::Int32(3));
        assert_eq!(ev1(bson::bson!({"$indexOfCP": ["cafétéria", "é"]})), Bson::Int32(3));
        assert_eq!(ev1(bson::bson!({"$indexOfCP": ["cafétéria", "t"]})), Bson::Int32(4));
        assert_eq!(ev1(bson::bson!({"$indexOfBytes": ["cafétéria", "t"]})), Bson::Int32(5));
        assert_eq!(ev1(bson::bson!({"$indexOfCP": ["foo.bar.fi", ".", 5]})), Bson::Int32(7));
        assert_eq!(ev1(bson::bson!({"$indexOfCP": ["vanilla", "ll", 0, 2]})), Bson::Int32(-1));
        assert_eq!(ev1(bson::bson!({"$indexOfCP": ["vanilla", "nilla", 3]})), Bson::Int32(-1));
        assert_eq!(ev1(bson::bson!({"$indexOfCP": [null, "foo"]})), Bson::Null);
        let r =
            bson::bson!({"$replaceAll": {"input": "blue paint with blue paintbrush", "find": "blue paint", "replacement": "red paint"}});
        assert_eq!(ev1(r), Bson::String("red paint with red paintbrush".into()));
        let r =
            bson::bson!({"$replaceOne": {"input": "blue paint with blue paintbrush", "find": "blue paint", "replacement": "red paint"}});
        assert_eq!(ev1(r), Bson::String("red paint with blue paintbrush".into()));
        assert_eq!(ev1(bson::bson!({"$replaceOne": {"input": null, "find": "a", "replacement": "b"}})), Bson::Null);
        assert_eq!(err(bson::bson!({"$replaceOne": {"input": "a", "find": "a"}}), &doc! {}).code, 51749);
    }

    #[test]
    fn dates_from_the_manual() {
        let d = doc! {"date": bson::DateTime::from_millis(1_388_564_139_736)}; // 2014-01-01T08:15:39.736Z
        let part = |op: &str| ev(Bson::Document(doc! {op: "$date"}), &d).unwrap().unwrap();
        assert_eq!(part("$year"), Bson::Int32(2014));
        assert_eq!(part("$month"), Bson::Int32(1));
        assert_eq!(part("$dayOfMonth"), Bson::Int32(1));
        assert_eq!(part("$hour"), Bson::Int32(8));
        assert_eq!(part("$minute"), Bson::Int32(15));
        assert_eq!(part("$second"), Bson::Int32(39));
        assert_eq!(part("$millisecond"), Bson::Int32(736));
        assert_eq!(part("$dayOfYear"), Bson::Int32(1));
        assert_eq!(part("$dayOfWeek"), Bson::Int32(4));
        assert_eq!(part("$week"), Bson::Int32(0));
        assert_eq!(part("$isoWeek"), Bson::Int32(1));
        assert_eq!(part("$isoWeekYear"), Bson::Int32(2014));
        assert_eq!(part("$isoDayOfWeek"), Bson::Int32(3));
        assert_eq!(ev(bson::bson!({"$hour": {"date": "$date", "timezone": "+04:30"}}), &d).unwrap(), Some(Bson::Int32(12)));
        assert_eq!(ev(bson::bson!({"$year": "$nope"}), &d).unwrap(), Some(Bson::Null));
        assert_eq!(err(bson::bson!({"$year": "x"}), &d).code, 16006);
        assert_eq!(err(bson::bson!({"$hour": {"date": "$date", "timezone": "Mars/Olympus"}}), &d).code, 40485);
        let e = err(bson::bson!({"$year": {"date": "$date", "k": 1}}), &d);
        assert_eq!((e.code, e.message.as_str()), (40535, "unrecognized option to $year: \"k\""));
        assert_eq!(err(bson::bson!({"$year": {}}), &d).code, 40539);
        assert_eq!(err(bson::bson!({"$year": {"$add": [1, 2]}}), &d).code, 16006);
        assert_eq!(ev(bson::bson!({"$year": bson::Timestamp { time: 1_700_000_000, increment: 1 }}), &d).unwrap(), Some(Bson::Int32(2023)));
        let f = |spec: Bson| ev(spec, &d).unwrap().unwrap();
        assert_eq!(f(bson::bson!({"$dateToString": {"format": "%Y-%m-%d", "date": "$date"}})), Bson::String("2014-01-01".into()));
        assert_eq!(
            f(bson::bson!({"$dateToString": {"format": "%H:%M:%S:%L%z", "date": "$date", "timezone": "+04:30"}})),
            Bson::String("12:45:39:736+0430".into())
        );
        assert_eq!(f(bson::bson!({"$dateToString": {"format": "%Z", "date": "$date", "timezone": "+04:30"}})), Bson::String("270".into()));
        assert_eq!(f(bson::bson!({"$dateToString": {"date": "$date"}})), Bson::String("2014-01-01T08:15:39.736Z".into()));
        assert_eq!(f(bson::bson!({"$dateToString": {"date": "$nope", "onNull": "none"}})), Bson::String("none".into()));
        assert_eq!(
            f(bson::bson!({"$dateToString": {"date": "$date", "format": "%B %b %j %w %u %U %V %G %%"}})),
            Bson::String("January Jan 001 4 3 00 01 2014 %".into())
        );
    }

    #[test]
    fn conversions_measured_against_mongod() {
        for (text, want) in
            [("0X1f", 31.0), ("-0x10", -16.0), ("+0x10", 16.0), ("1e3", 1000.0), ("inf", f64::INFINITY), ("-5.5", -5.5), (".5", 0.5)]
        {
            assert_eq!(ev1(bson::bson!({"$toDouble": text})), Bson::Double(want), "{text}");
        }
        for (text, why) in [
            ("0x10", "Illegal hexadecimal input"),
            (" 5 ", "Leading whitespace"),
            ("1_000", "Did not consume whole string."),
            ("abc", "Did not consume any digits"),
            ("1e400", "Out of range"),
            ("7.08263e-317", "Out of range"),
            ("", "Empty string"),
        ] {
            let e = err(bson::bson!({"$toDouble": text}), &doc! {});
            assert_eq!(e.code, 241);
            assert!(e.message.ends_with(why), "{text}: {}", e.message);
        }
        for (text, why) in [
            ("0X1f", "Did not consume whole string."),
            ("", "No digits"),
            ("2147483648", "Overflow"),
            (" 5 ", "Did not consume whole string."),
        ] {
            let e = err(bson::bson!({"$toInt": text}), &doc! {});
            assert_eq!(e.code, 241);
            assert!(e.message.ends_with(why), "{text}: {}", e.message);
        }
        assert!(err(bson::bson!({"$toInt": 1e10}), &doc! {}).message.ends_with("1e+10"));
        assert!(err(bson::bson!({"$toInt": 2_147_483_648_i64}), &doc! {}).message.ends_with("no onError value: "));
        assert!(err(bson::bson!({"$toObjectId": "zzzzzzzzzzzzzzzzzzzzzzzz"}), &doc! {})
            .message
            .ends_with("Invalid character found in hex string: z"));
        assert!(err(bson::bson!({"$toObjectId": "507f1f77bcf86cd7994390"}), &doc! {}).message.ends_with("expected 24 but found 22"));
        assert_eq!(
            ev1(bson::bson!({"$toObjectId": "507f1f77bcf86cd799439011"})),
            Bson::ObjectId(bson::oid::ObjectId::parse_str("507f1f77bcf86cd799439011").unwrap())
        );
        let e = err(bson::bson!({"$indexOfArray": [[1, 2, 3], 3, -1]}), &doc! {});
        assert_eq!((e.code, e.message.as_str()), (9711601, "$indexOfArray requires a nonnegative starting index, found: -1"));
        let e = err(bson::bson!({"$indexOfArray": [[1, 2, 3], 3, "x"]}), &doc! {});
        assert_eq!(e.code, 9711600);
        assert!(e.message.contains("with value: \"x\""), "{}", e.message);
        assert_eq!(err(bson::bson!({"$indexOfCP": ["abc", "c", -1]}), &doc! {}).code, 40097);
        assert_eq!(err(bson::bson!({"$indexOfBytes": ["abc", "c", 1.5]}), &doc! {}).code, 40096);
        // $dateToString directives (2021-01-03 is a Sunday; 2012-12-31 a Monday in week 53).
        let day = |y, m, d| Bson::DateTime(bson::DateTime::from_millis(days_from_civil(y, m, d) * 86_400_000));
        let fmt = |date: Bson, f: &str, tz: Option<&str>| {
            let mut spec = doc! {"date": {"$literal": date}, "format": f};
            if let Some(tz) = tz {
                spec.insert("timezone", tz);
            }
            ev1(Bson::Document(doc! {"$dateToString": spec}))
        };
        assert_eq!(fmt(day(2021, 1, 3), "%G-W%V-%u", None), Bson::String("2020-W53-7".into()));
        assert_eq!(fmt(day(2021, 1, 3), "%U", None), Bson::String("01".into()));
        assert_eq!(fmt(day(2021, 1, 3), "%z|%Z", None), Bson::String("+0000|0".into()));
        assert_eq!(fmt(day(2012, 12, 31), "%U", None), Bson::String("53".into()));
        let two_pm = Bson::DateTime(bson::DateTime::from_millis(days_from_civil(2021, 1, 3) * 86_400_000 + 14 * 3_600_000));
        assert_eq!(fmt(two_pm, "%z|%Z|%H", Some("+05:30")), Bson::String("+0530|330|19".into()));
        // ASCII-only case mapping and the fixed trim set.
        assert_eq!(ev1(bson::bson!({"$toUpper": "straße"})), Bson::String("STRAßE".into()));
        assert_eq!(ev1(bson::bson!({"$strcasecmp": ["ß", "SS"]})), Bson::Int32(1));
        assert_eq!(ev1(bson::bson!({"$trim": {"input": "\u{3000}pad\u{3000}"}})), Bson::String("\u{3000}pad\u{3000}".into()));
    }

    #[test]
    fn truthiness() {
        assert!(!truthy(Some(&Bson::Int32(0))));
        assert!(!truthy(Some(&Bson::Double(0.0))));
        assert!(!truthy(None));
        assert!(truthy(Some(&Bson::Array(vec![]))));
        assert!(truthy(Some(&Bson::String(String::new()))));
    }
    fn dt(s: &str) -> Bson {
        Bson::DateTime(bson::DateTime::parse_rfc3339_str(s).unwrap())
    }

    #[test]
    fn date_from_parts_from_the_manual() {
        let r = ev1(bson::bson!({"$dateFromParts": {"year": 2017, "month": 2, "day": 8, "hour": 12}}));
        assert_eq!(r, dt("2017-02-08T12:00:00Z"));
        let r = ev1(bson::bson!({"$dateFromParts": {"isoWeekYear": 2017, "isoWeek": 6, "isoDayOfWeek": 3, "hour": 12}}));
        assert_eq!(r, dt("2017-02-08T12:00:00Z"));
        // The manual's New York example with the fixed offset in force that night.
        let r = ev1(
            bson::bson!({"$dateFromParts": {"year": 2016, "month": 12, "day": 31, "hour": 23, "minute": 46, "second": 12, "timezone": "-05:00"}}),
        );
        assert_eq!(r, dt("2017-01-01T04:46:12Z"));
        // Values outside their range carry over (the manual's examples).
        assert_eq!(ev1(bson::bson!({"$dateFromParts": {"year": 2017, "month": 14, "day": 1}})), dt("2018-02-01T00:00:00Z"));
        assert_eq!(ev1(bson::bson!({"$dateFromParts": {"year": 2017, "month": 0, "day": 1}})), dt("2016-12-01T00:00:00Z"));
        assert_eq!(ev1(bson::bson!({"$dateFromParts": {"year": 2017, "month": 3, "day": 0}})), dt("2017-02-28T00:00:00Z"));
        assert_eq!(ev1(bson::bson!({"$dateFromParts": {"year": 2017, "hour": -1}})), dt("2016-12-31T23:00:00Z"));
        assert_eq!(ev1(bson::bson!({"$dateFromParts": {"year": 2017, "millisecond": 1500}})), dt("2017-01-01T00:00:01.500Z"));
        // Only year: January 1st. A part that is null or missing makes the result null.
        assert_eq!(ev1(bson::bson!({"$dateFromParts": {"year": 2020.0}})), dt("2020-01-01T00:00:00Z"));
        assert_eq!(ev(bson::bson!({"$dateFromParts": {"year": 2020, "month": "$nope"}}), &doc! {}).unwrap(), Some(Bson::Null));
        assert_eq!(ev1(bson::bson!({"$dateFromParts": {"year": null}})), Bson::Null);
        assert_eq!(err(bson::bson!({"$dateFromParts": {"month": 1}}), &doc! {}).code, 40516);
        assert_eq!(err(bson::bson!({"$dateFromParts": {"year": 2017, "isoWeek": 1}}), &doc! {}).code, 40489);
        assert_eq!(err(bson::bson!({"$dateFromParts": {"year": 2017, "x": 1}}), &doc! {}).code, 40518);
        assert_eq!(err(bson::bson!({"$dateFromParts": 1}), &doc! {}).code, 40519);
        assert_eq!(err(bson::bson!({"$dateFromParts": {"year": 2017.5}}), &doc! {}).code, 40515);
        assert_eq!(err(bson::bson!({"$dateFromParts": {"year": 0}}), &doc! {}).code, 40523);
        assert_eq!(err(bson::bson!({"$dateFromParts": {"year": 2017, "month": 40000}}), &doc! {}).code, 31034);
        assert_eq!(err(bson::bson!({"$dateFromParts": {"year": 2017, "timezone": "Mars/Base"}}), &doc! {}).code, 40485);
    }

    #[test]
    fn date_to_parts_from_the_manual() {
        let d = doc! {"date": dt("2017-01-01T01:29:09.123Z")};
        assert_eq!(
            ev(bson::bson!({"$dateToParts": {"date": "$date"}}), &d).unwrap().unwrap(),
            bson::bson!({"year": 2017, "month": 1, "day": 1, "hour": 1, "minute": 29, "second": 9, "millisecond": 123})
        );
        assert_eq!(
            ev(bson::bson!({"$dateToParts": {"date": "$date", "iso8601": true}}), &d).unwrap().unwrap(),
            bson::bson!({"isoWeekYear": 2016, "isoWeek": 52, "isoDayOfWeek": 7, "hour": 1, "minute": 29, "second": 9, "millisecond": 123})
        );
        assert_eq!(
            ev(bson::bson!({"$dateToParts": {"date": "$date", "timezone": "-05:00"}}), &d).unwrap().unwrap(),
            bson::bson!({"year": 2016, "month": 12, "day": 31, "hour": 20, "minute": 29, "second": 9, "millisecond": 123})
        );
        assert_eq!(ev(bson::bson!({"$dateToParts": {"date": "$nope"}}), &d).unwrap(), Some(Bson::Null));
        assert_eq!(err(bson::bson!({"$dateToParts": {"date": 1}}), &d).code, 16006);
        assert_eq!(err(bson::bson!({"$dateToParts": {}}), &d).code, 51749);
    }

    #[test]
    fn date_trunc_from_the_manual() {
        let d = doc! {"d": dt("2021-03-20T11:30:05Z")};
        let t = |unit: &str, extra: Document| {
            let mut spec = doc! {"date": "$d", "unit": unit};
            spec.extend(extra);
            ev(bson::bson!({"$dateTrunc": spec}), &d).unwrap().unwrap()
        };
        assert_eq!(t("year", doc! {}), dt("2021-01-01T00:00:00Z"));
        assert_eq!(t("quarter", doc! {}), dt("2021-01-01T00:00:00Z"));
        assert_eq!(t("month", doc! {}), dt("2021-03-01T00:00:00Z"));
        assert_eq!(t("week", doc! {}), dt("2021-03-14T00:00:00Z"));
        assert_eq!(t("week", doc! {"startOfWeek": "monday"}), dt("2021-03-15T00:00:00Z"));
        assert_eq!(t("day", doc! {}), dt("2021-03-20T00:00:00Z"));
        assert_eq!(t("hour", doc! {}), dt("2021-03-20T11:00:00Z"));
        assert_eq!(t("hour", doc! {"binSize": 2}), dt("2021-03-20T10:00:00Z"));
        assert_eq!(t("minute", doc! {"binSize": 15}), dt("2021-03-20T11:30:00Z"));
        assert_eq!(t("second", doc! {}), dt("2021-03-20T11:30:05Z"));
        assert_eq!(t("month", doc! {"binSize": 6}), dt("2021-01-01T00:00:00Z"));
        assert_eq!(t("day", doc! {"timezone": "+05:00"}), dt("2021-03-19T19:00:00Z"));
        // The manual's two-week bins starting Monday (Los Angeles, -07:00 on those dates).
        let la = doc! {"binSize": 2, "timezone": "-07:00", "startOfWeek": "Monday"};
        assert_eq!(t("week", la.clone()), dt("2021-03-15T07:00:00Z"));
        let d2 = doc! {"d": dt("2020-05-18T14:10:30Z")};
        let mut spec = doc! {"date": "$d", "unit": "week"};
        spec.extend(la);
        assert_eq!(ev(bson::bson!({"$dateTrunc": spec}), &d2).unwrap().unwrap(), dt("2020-05-11T07:00:00Z"));
        assert_eq!(ev(bson::bson!({"$dateTrunc": {"date": "$nope", "unit": "day"}}), &d).unwrap(), Some(Bson::Null));
        assert_eq!(err(bson::bson!({"$dateTrunc": {"date": "$d", "unit": "fortnight"}}), &d).code, 5439014);
        assert_eq!(err(bson::bson!({"$dateTrunc": {"date": "$d", "unit": "day", "binSize": 0}}), &d).code, 5439017);
        assert_eq!(err(bson::bson!({"$dateTrunc": {"date": 1, "unit": "day"}}), &d).code, 5439012);
        assert_eq!(err(bson::bson!({"$dateTrunc": {"date": "$d"}}), &d).code, 51749);
    }

    #[test]
    fn date_add_subtract_diff_from_the_manual() {
        let d = doc! {"p": dt("2020-09-15T12:02:00Z"), "e": dt("2021-01-31T12:10:05Z")};
        assert_eq!(
            ev(bson::bson!({"$dateAdd": {"startDate": "$p", "unit": "day", "amount": 3}}), &d).unwrap().unwrap(),
            dt("2020-09-18T12:02:00Z")
        );
        // Month arithmetic clamps to the end of the month.
        assert_eq!(
            ev(bson::bson!({"$dateAdd": {"startDate": "$e", "unit": "month", "amount": 1}}), &d).unwrap().unwrap(),
            dt("2021-02-28T12:10:05Z")
        );
        assert_eq!(
            ev(bson::bson!({"$dateAdd": {"startDate": "$e", "unit": "year", "amount": -1}}), &d).unwrap().unwrap(),
            dt("2020-01-31T12:10:05Z")
        );
        assert_eq!(
            ev(bson::bson!({"$dateAdd": {"startDate": "$e", "unit": "quarter", "amount": 1}}), &d).unwrap().unwrap(),
            dt("2021-04-30T12:10:05Z")
        );
        assert_eq!(
            ev(bson::bson!({"$dateAdd": {"startDate": "$e", "unit": "hour", "amount": 2.0}}), &d).unwrap().unwrap(),
            dt("2021-01-31T14:10:05Z")
        );
        assert_eq!(
            ev(bson::bson!({"$dateSubtract": {"startDate": dt("2021-03-31T12:10:05Z"), "unit": "month", "amount": 1}}), &d)
                .unwrap()
                .unwrap(),
            dt("2021-02-28T12:10:05Z")
        );
        assert_eq!(
            ev(bson::bson!({"$dateSubtract": {"startDate": "$p", "unit": "week", "amount": 1}}), &d).unwrap().unwrap(),
            dt("2020-09-08T12:02:00Z")
        );
        assert_eq!(ev(bson::bson!({"$dateAdd": {"startDate": "$nope", "unit": "day", "amount": 1}}), &d).unwrap(), Some(Bson::Null));
        assert_eq!(err(bson::bson!({"$dateAdd": {"startDate": "$p", "unit": "day", "amount": 1.5}}), &d).code, 5166405);
        assert_eq!(err(bson::bson!({"$dateAdd": {"startDate": 1, "unit": "day", "amount": 1}}), &d).code, 5166403);
        assert_eq!(err(bson::bson!({"$dateAdd": {"startDate": "$p", "unit": "day"}}), &d).code, 51749);

        let diff = |a: &str, b: &str, unit: &str, extra: Document| {
            let mut spec = doc! {"startDate": dt(a), "endDate": dt(b), "unit": unit};
            spec.extend(extra);
            ev1(bson::bson!({"$dateDiff": spec}))
        };
        assert_eq!(diff("2021-01-01T00:00:00Z", "2021-01-31T00:00:00Z", "day", doc! {}), Bson::Int64(30));
        // Boundaries crossed, not elapsed whole units.
        assert_eq!(diff("2020-12-31T23:59:00Z", "2021-01-01T00:01:00Z", "year", doc! {}), Bson::Int64(1));
        assert_eq!(diff("2021-01-31T00:00:00Z", "2021-02-01T00:00:00Z", "month", doc! {}), Bson::Int64(1));
        assert_eq!(diff("2021-01-31T00:00:00Z", "2021-04-01T00:00:00Z", "quarter", doc! {}), Bson::Int64(1));
        assert_eq!(diff("2021-01-01T10:59:59Z", "2021-01-01T11:00:00Z", "hour", doc! {}), Bson::Int64(1));
        assert_eq!(diff("2021-01-01T00:00:01Z", "2021-01-01T00:00:00Z", "millisecond", doc! {}), Bson::Int64(-1000));
        // 2021-02-28 is a Sunday: Sunday weeks cross one boundary, so do Monday weeks.
        assert_eq!(diff("2021-02-27T12:00:00Z", "2021-02-28T12:00:00Z", "week", doc! {}), Bson::Int64(1));
        assert_eq!(diff("2021-02-27T12:00:00Z", "2021-02-28T12:00:00Z", "week", doc! {"startOfWeek": "mon"}), Bson::Int64(0));
        assert_eq!(diff("2021-01-01T23:00:00Z", "2021-01-02T01:00:00Z", "day", doc! {"timezone": "+02:00"}), Bson::Int64(0));
        assert_eq!(ev(bson::bson!({"$dateDiff": {"startDate": "$nope", "endDate": "$p", "unit": "day"}}), &d).unwrap(), Some(Bson::Null));
    }
    #[test]
    fn n_array_and_std_dev_expressions_from_the_manual() {
        let d = doc! {"score": [1, 2, 3, null, 5], "s": [85, 90, 71]};
        assert_eq!(ev(bson::bson!({"$firstN": {"n": 3, "input": "$score"}}), &d).unwrap().unwrap(), bson::bson!([1, 2, 3]));
        assert_eq!(ev(bson::bson!({"$lastN": {"n": 3, "input": "$score"}}), &d).unwrap().unwrap(), bson::bson!([3, null, 5]));
        assert_eq!(ev(bson::bson!({"$maxN": {"n": 2, "input": "$score"}}), &d).unwrap().unwrap(), bson::bson!([5, 3]));
        assert_eq!(ev(bson::bson!({"$minN": {"n": 9, "input": "$score"}}), &d).unwrap().unwrap(), bson::bson!([1, 2, 3, 5]));
        assert_eq!(err(bson::bson!({"$firstN": {"n": 0, "input": "$score"}}), &d).code, 5787908);
        assert_eq!(err(bson::bson!({"$firstN": {"n": 1, "input": 3}}), &d).code, 5788200);
        let sd = ev(bson::bson!({"$stdDevSamp": "$s"}), &d).unwrap().unwrap();
        assert!((as_f64(&sd).unwrap() - 97f64.sqrt()).abs() < 1e-12);
        assert_eq!(ev1(bson::bson!({"$stdDevPop": [1, 3]})), Bson::Double(1.0));
        assert_eq!(ev1(bson::bson!({"$stdDevSamp": [1]})), Bson::Null);
        assert_eq!(ev1(bson::bson!({"$stdDevPop": ["a"]})), Bson::Null);
    }
    #[test]
    fn regex_operators_from_the_manual() {
        let d = doc! {"a": "Single LINE description.", "b": "First lines\nsecond line", "c": "café line"};
        let find = |input: &str, extra: Document| {
            let mut spec = doc! {"input": input, "regex": "line"};
            spec.extend(extra);
            ev(bson::bson!({"$regexFind": spec}), &d).unwrap().unwrap()
        };
        assert_eq!(find("$a", doc! {}), Bson::Null);
        assert_eq!(find("$a", doc! {"options": "i"}), bson::bson!({"match": "LINE", "idx": 7, "captures": []}));
        assert_eq!(find("$b", doc! {}), bson::bson!({"match": "line", "idx": 6, "captures": []}));
        // idx counts code points.
        assert_eq!(find("$c", doc! {}), bson::bson!({"match": "line", "idx": 5, "captures": []}));
        let all = ev(bson::bson!({"$regexFindAll": {"input": "$b", "regex": "line"}}), &d).unwrap().unwrap();
        assert_eq!(all, bson::bson!([{"match": "line", "idx": 6, "captures": []}, {"match": "line", "idx": 19, "captures": []}]));
        let re = Bson::RegularExpression(bson::Regex {
            pattern: "^s".to_string().try_into().unwrap(),
            options: "im".to_string().try_into().unwrap(),
        });
        assert_eq!(ev(bson::bson!({"$regexMatch": {"input": "$b", "regex": re.clone()}}), &d).unwrap(), Some(Bson::Boolean(true)));
        assert_eq!(ev(bson::bson!({"$regexMatch": {"input": "$a", "regex": "^s"}}), &d).unwrap(), Some(Bson::Boolean(false)));
        assert_eq!(ev(bson::bson!({"$regexMatch": {"input": "$nope", "regex": "x"}}), &d).unwrap(), Some(Bson::Boolean(false)));
        // Captures: a group that did not take part is null.
        assert_eq!(
            ev1(bson::bson!({"$regexFind": {"input": "abc123", "regex": "([a-z]+)(\\d+)?(x)?"}})),
            bson::bson!({"match": "abc123", "idx": 0, "captures": ["abc", "123", null]})
        );
        assert_eq!(err(bson::bson!({"$regexMatch": {"input": 1, "regex": "x"}}), &d).code, 51104);
        assert_eq!(err(bson::bson!({"$regexMatch": {"input": "$a", "regex": re, "options": "i"}}), &d).code, 51107);
        assert_eq!(err(bson::bson!({"$regexMatch": {"input": "$a", "regex": "("}}), &d).code, 51111);
        assert_eq!(err(bson::bson!({"$regexMatch": {"input": "$a"}}), &d).code, 51749);
    }

    #[test]
    fn zip_sort_array_and_misc_from_the_manual() {
        let d = doc! {"matrix": [[1, 2], [2, 3], [3, 4]]};
        let r = ev(
            bson::bson!({"$zip": {"inputs": [{"$arrayElemAt": ["$matrix", 0]}, {"$arrayElemAt": ["$matrix", 1]}, {"$arrayElemAt": ["$matrix", 2]}]}}),
            &d,
        )
        .unwrap()
        .unwrap();
        assert_eq!(r, bson::bson!([[1, 2, 3], [2, 3, 4]]));
        assert_eq!(
            ev1(bson::bson!({"$zip": {"inputs": [[1], [2, 3]], "useLongestLength": true, "defaults": ["a", "b"]}})),
            bson::bson!([[1, 2], ["a", 3]])
        );
        assert_eq!(ev1(bson::bson!({"$zip": {"inputs": [[1], [2, 3]], "useLongestLength": true}})), bson::bson!([[1, 2], [null, 3]]));
        assert_eq!(err(bson::bson!({"$zip": {"inputs": [[1], 2]}}), &d).code, 34468);
        assert_eq!(err(bson::bson!({"$zip": {"inputs": [[1]], "defaults": [1]}}), &d).code, 34466);

        let team = doc! {"team": [
        {"name": "pat", "age": 30, "address": {"street": "12 Baker St", "city": "London"}},
        {"name": "dallas", "age": 36, "address": {"street": "12 Cowper St", "city": "Palo Alto"}},
        {"name": "charlie", "age": 42, "address": {"street": "12 French St", "city": "New Brunswick"}}]};
        let names = |sort_by: Bson| -> Vec<Bson> {
            let r = ev(bson::bson!({"$sortArray": {"input": "$team", "sortBy": sort_by}}), &team).unwrap().unwrap();
            r.as_array().unwrap().iter().map(|m| m.as_document().unwrap().get("name").unwrap().clone()).collect()
        };
        assert_eq!(names(bson::bson!({"name": 1})), vec![Bson::from("charlie"), "dallas".into(), "pat".into()]);
        assert_eq!(names(bson::bson!({"age": -1})), vec![Bson::from("charlie"), "dallas".into(), "pat".into()]);
        assert_eq!(names(bson::bson!({"address.city": 1})), vec![Bson::from("pat"), "charlie".into(), "dallas".into()]);
        assert_eq!(ev1(bson::bson!({"$sortArray": {"input": [1, 4, 1, 6, 12, 5], "sortBy": 1}})), bson::bson!([1, 1, 4, 5, 6, 12]));
        let mixed = bson::bson!([20, 4, {"a": "Free"}, 6, 21, 5, "Gratis", {"a": null}, {"a": {"sale": true, "price": 19}}, dec("10.23"), {"a": "On sale"}]);
        assert_eq!(
            ev1(bson::bson!({"$sortArray": {"input": mixed, "sortBy": 1}})),
            bson::bson!([4, 5, 6, dec("10.23"), 20, 21, "Gratis", {"a": null}, {"a": "Free"}, {"a": "On sale"}, {"a": {"sale": true, "price": 19}}])
        );
        assert_eq!(err(bson::bson!({"$sortArray": {"input": [1], "sortBy": 2}}), &team).code, 2942505);
        assert_eq!(err(bson::bson!({"$sortArray": {"input": [1]}}), &team).code, 2942503);
        assert_eq!(err(bson::bson!({"$sortArray": {"input": 1, "sortBy": 1}}), &team).code, 2942504);

        assert_eq!(ev1(bson::bson!({"$sin": 0})), Bson::Double(0.0));
        assert_eq!(ev1(bson::bson!({"$degreesToRadians": 180})), Bson::Double(std::f64::consts::PI));
        assert_eq!(ev1(bson::bson!({"$atan2": [1, 1]})), Bson::Double(std::f64::consts::FRAC_PI_4));
        assert_eq!(ev1(bson::bson!({"$cos": null})), Bson::Null);
        assert_eq!(err(bson::bson!({"$asin": 2}), &doc! {}).code, 50989);
        assert_eq!(err(bson::bson!({"$sin": "a"}), &doc! {}).code, 28765);
        assert_eq!(ev1(bson::bson!({"$bsonSize": {"$literal": {}}})), Bson::Int32(5));
        assert_eq!(ev1(bson::bson!({"$bsonSize": {"$literal": {"a": 1}}})), Bson::Int32(12));
        assert_eq!(ev1(bson::bson!({"$binarySize": "é"})), Bson::Int32(2));
        assert_eq!(err(bson::bson!({"$binarySize": 1}), &doc! {}).code, 51276);
        let r = Expr::parse(&bson::bson!({"$rand": {}})).unwrap();
        let draws: Vec<f64> = (0..8).map(|_| as_f64(&r.eval(&doc! {}, &vars()).unwrap().unwrap()).unwrap()).collect();
        assert!(draws.iter().all(|x| (0.0..1.0).contains(x)));
        assert!(draws.windows(2).any(|w| w[0] != w[1]));
        assert_eq!(Expr::parse(&bson::bson!({"$rand": 1})).unwrap_err().code, 3040501);
    }

    #[test]
    fn date_from_string_from_the_manual() {
        assert_eq!(ev1(bson::bson!({"$dateFromString": {"dateString": "2017-02-08T12:10:40.787"}})), dt("2017-02-08T12:10:40.787Z"));
        assert_eq!(
            ev1(bson::bson!({"$dateFromString": {"dateString": "2017-02-08T12:10:40.787", "timezone": "-05:00"}})),
            dt("2017-02-08T17:10:40.787Z")
        );
        // An offset in the string wins over timezone.
        assert_eq!(
            ev1(bson::bson!({"$dateFromString": {"dateString": "2017-02-08T12:10:40Z", "timezone": "-05:00"}})),
            dt("2017-02-08T12:10:40Z")
        );
        assert_eq!(ev1(bson::bson!({"$dateFromString": {"dateString": "15-06-2018", "format": "%d-%m-%Y"}})), dt("2018-06-15T00:00:00Z"));
        assert_eq!(
            ev1(bson::bson!({"$dateFromString": {"dateString": "2018/06/15 10:05:07.5 +0230", "format": "%Y/%m/%d %H:%M:%S.%L %z"}})),
            dt("2018-06-15T07:35:07.500Z")
        );
        assert_eq!(ev1(bson::bson!({"$dateFromString": {"dateString": "junk", "onError": "bad"}})), Bson::from("bad"));
        assert_eq!(ev1(bson::bson!({"$dateFromString": {"dateString": null, "onNull": 0}})), Bson::Int32(0));
        assert_eq!(ev(bson::bson!({"$dateFromString": {"dateString": "$nope"}}), &doc! {}).unwrap(), Some(Bson::Null));
        assert_eq!(err(bson::bson!({"$dateFromString": {"dateString": "junk"}}), &doc! {}).code, 241);
        assert_eq!(err(bson::bson!({"$dateFromString": {"dateString": "31-02-2018", "format": "%d-%m-%Y"}}), &doc! {}).code, 241);
        assert_eq!(err(bson::bson!({"$dateFromString": {"format": "%Y"}}), &doc! {}).code, 51749);
    }
    #[test]
    fn date_operators_do_not_overflow_on_extreme_dates() {
        for ms in [i64::MAX, i64::MIN, i64::MAX - 1, i64::MIN + 1] {
            let d = doc! {"d": Bson::DateTime(bson::DateTime::from_millis(ms))};
            for spec in [
                bson::bson!({"$dateToParts": {"date": "$d", "timezone": "+05:00"}}),
                bson::bson!({"$dateToParts": {"date": "$d", "timezone": "-05:00", "iso8601": true}}),
                bson::bson!({"$year": {"date": "$d", "timezone": "+05:00"}}),
                bson::bson!({"$dateToString": {"date": "$d", "timezone": "-05:00"}}),
                bson::bson!({"$dateTrunc": {"date": "$d", "unit": "week", "binSize": i64::MAX, "timezone": "+05:00"}}),
                bson::bson!({"$dateTrunc": {"date": "$d", "unit": "year", "binSize": i64::MAX}}),
                bson::bson!({"$dateTrunc": {"date": "$d", "unit": "millisecond", "binSize": 7}}),
                bson::bson!({"$dateAdd": {"startDate": "$d", "unit": "year", "amount": i64::MAX}}),
                bson::bson!({"$dateAdd": {"startDate": "$d", "unit": "millisecond", "amount": i64::MIN, "timezone": "+01:00"}}),
                bson::bson!({"$dateSubtract": {"startDate": "$d", "unit": "day", "amount": i64::MIN}}),
                bson::bson!({"$dateDiff": {"startDate": "$d", "endDate": Bson::DateTime(bson::DateTime::from_millis(i64::MIN)), "unit": "millisecond", "timezone": "+05:00"}}),
                bson::bson!({"$dateDiff": {"startDate": "$d", "endDate": Bson::DateTime(bson::DateTime::from_millis(0)), "unit": "quarter"}}),
            ] {
                // Errors are fine; panics are not.
                let _ = ev(spec, &d);
            }
        }
    }
    #[test]
    fn percentile_and_median_expressions_from_the_manual() {
        let d = doc! {"scores": [62, 81, 80, 75, 68]};
        assert_eq!(
            ev(bson::bson!({"$percentile": {"input": "$scores", "p": [0.25, 0.5, 0.75], "method": "approximate"}}), &d).unwrap().unwrap(),
            bson::bson!([68.0, 75.0, 80.0])
        );
        assert_eq!(ev(bson::bson!({"$median": {"input": "$scores", "method": "approximate"}}), &d).unwrap().unwrap(), Bson::Double(75.0));
        assert_eq!(ev1(bson::bson!({"$median": {"input": [1, 2, 3, 4], "method": "continuous"}})), Bson::Double(2.5));
        assert_eq!(ev1(bson::bson!({"$percentile": {"input": [], "p": [0.1, 0.9], "method": "approximate"}})), bson::bson!([null, null]));
        assert_eq!(ev1(bson::bson!({"$median": {"input": ["a", null], "method": "approximate"}})), Bson::Null);
        assert_eq!(ev1(bson::bson!({"$percentile": {"input": [5, 1], "p": [0.0, 1.0], "method": "approximate"}})), bson::bson!([1.0, 5.0]));
        assert_eq!(err(bson::bson!({"$percentile": {"input": "$scores", "p": [1.5], "method": "approximate"}}), &d).code, 7750301);
        assert_eq!(err(bson::bson!({"$percentile": {"input": "$scores", "p": [0.5], "method": "exact"}}), &d).code, 2);
        assert_eq!(err(bson::bson!({"$median": {"input": "$scores"}}), &d).code, 40414);
    }

    #[test]
    fn olson_time_zones() {
        // $dateToString / $dateFromString pages: America/New_York is -05:00 in winter, -04:00
        // in summer; Europe/London is +00:00 in January
        let d = doc! {"date": bson::DateTime::from_millis(1_388_564_139_736)}; // 2014-01-01T08:15:39.736Z
        let f = |spec: Bson| ev(spec, &d).unwrap().unwrap();
        let ny = "America/New_York";
        assert_eq!(
            f(bson::bson!({"$dateToString": {"format": "%H:%M:%S:%L%z", "date": "$date", "timezone": ny}})),
            Bson::String("03:15:39:736-0500".into())
        );
        assert_eq!(f(bson::bson!({"$dateToString": {"format": "%Z", "date": "$date", "timezone": ny}})), Bson::String("-300".into()));
        assert_eq!(f(bson::bson!({"$hour": {"date": "$date", "timezone": "Europe/London"}})), Bson::Int32(8));
        let summer = doc! {"date": bson::DateTime::from_millis(1_404_202_539_736)}; // 2014-07-01T08:15:39.736Z
        assert_eq!(ev(bson::bson!({"$hour": {"date": "$date", "timezone": ny}}), &summer).unwrap(), Some(Bson::Int32(4)));
        assert_eq!(
            f(bson::bson!({"$dateFromString": {"dateString": "2017-02-08T12:10:40.787", "timezone": ny}})),
            Bson::DateTime(bson::DateTime::from_millis(1_486_573_840_787)) // 2017-02-08T17:10:40.787Z
        );
        assert_eq!(
            f(bson::bson!({"$dateFromParts": {"year": 2017, "month": 7, "day": 1, "timezone": ny}})),
            Bson::DateTime(bson::DateTime::from_millis(1_498_881_600_000)) // 2017-07-01T04:00:00Z
        );
        // a day added across the March transition keeps the wall-clock time (23 hours later)
        let before = doc! {"date": bson::DateTime::from_millis(1_489_154_400_000)}; // 2017-03-10T14:00:00Z, 09:00 EST
        assert_eq!(
            ev(bson::bson!({"$dateAdd": {"startDate": "$date", "unit": "day", "amount": 2, "timezone": ny}}), &before).unwrap(),
            Some(Bson::DateTime(bson::DateTime::from_millis(1_489_154_400_000 + 2 * 86_400_000 - 3_600_000)))
        );
        assert_eq!(err(bson::bson!({"$hour": {"date": "$date", "timezone": "Mars/Olympus"}}), &d).code, 40485);
        assert_eq!(err(bson::bson!({"$hour": {"date": "$date", "timezone": "America/../../etc/passwd"}}), &d).code, 40485);
    }
}
