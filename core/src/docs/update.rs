//! MongoDB's update language: update operator documents (`$set`, `$inc`, `$push`...), whole
//! document replacements, and update pipelines (an array of stages).
//!
//! Parsing builds a tree of the update's paths, as MongoDB does: object nodes (children by field
//! name, plus the positional `$` child), array nodes (children `$[]` and `$[<identifier>]`), and
//! leaves (one operator at one path). Two paths of one update that overlap (`a` and `a.b`, or
//! one path under two operators) are rejected at parse time (code 40).
//!
//! Semantics, checks, messages and codes follow mongod's update nodes (`src/mongo/db/update`):
//! errors found while parsing are mongod's parse-time errors; errors from `apply` are its
//! execution-time ones (which mongod reports under "Plan executor error during <command> ::
//! caused by :: ..."; adding that wrapper is the command layer's business).
//!
//! Invariants:
//! - `apply` is all-or-nothing: it first *plans* every change against the unmodified document
//!   (resolving `$`, `$[]` and array filters, checking path viability, types, `_id`
//!   immutability, `$`-prefixed top-level fields and the depth limit, computing each new value),
//!   and only then *executes* the planned changes, which cannot fail. On error the document is
//!   untouched; nothing big is cloned on success (operator updates).
//! - Children are applied in MongoDB's order (5.0+): field names lexicographically, numeric
//!   names numerically; a new field is appended, an existing one keeps its position; errors are
//!   reported in that order too. `_id` stays the first field.
//! - `apply` reports a change only when the document actually differs (a `$set` to the same
//!   value is not a modification, as `nModified` counts it); `$currentDate` always modifies.
//! - Recursion is bounded: paths have at most `MAX_PATH_COMPONENTS` components, values are
//!   measured only down to `MAX_DEPTH`, and arrays are padded by at most `MAX_ARRAY_PADDING`.

use std::cmp::Ordering;

use bson::{Bson, Document};

use super::aggregate::Pipeline;
use super::error::codes;
use super::expr::Variables;
use super::query::Filter;
use super::value::{as_f64, compare, equal, type_name};
use super::DocError;

/// Longest update path accepted (bounds the recursion of parsing and applying).
pub const MAX_PATH_COMPONENTS: usize = 200;

/// MongoDB pads an array with at most this many nulls when a path sets an index past its end.
pub const MAX_ARRAY_PADDING: usize = 1_500_000;

/// MongoDB's `CannotBackfillArray` code (not among the foundation's `codes`).
const CANNOT_BACKFILL_ARRAY: i32 = 34;

/// A parsed update: operators, a replacement document, or a pipeline.
#[derive(Clone, Debug)]
pub struct Update {
    kind: Kind,
    uses_positional: bool,
}

#[derive(Clone, Debug)]
enum Kind {
    Replacement(Document),
    Operators(OpTree),
    Pipeline(Pipeline),
}

#[derive(Clone, Debug)]
struct OpTree {
    root: ObjNode,
    array_filters: Vec<(String, Filter)>,
}

impl Update {
    /// Parse `spec`: a document of update operators, a replacement document (no `$` keys), or
    /// an array (an update pipeline). `array_filters` are the `arrayFilters` option.
    pub fn parse(spec: &Bson, array_filters: &[Document], vars: &Variables) -> Result<Update, DocError> {
        match spec {
            Bson::Array(stages) => {
                if !array_filters.is_empty() {
                    return Err(DocError::failed_to_parse("arrayFilters may not be specified for pipeline-style updates"));
                }
                let pipeline = super::aggregate::parse_update_pipeline(stages, vars)?;
                Ok(Update { kind: Kind::Pipeline(pipeline), uses_positional: false })
            }
            Bson::Document(d) => {
                let is_operators = d.keys().next().is_some_and(|k| k.starts_with('$'));
                if is_operators {
                    parse_operators(d, array_filters, vars)
                } else {
                    // MongoDB validates the array filters of a replacement and ignores them.
                    parse_array_filters(array_filters, vars)?;
                    if let Some(k) = d.keys().find(|k| k.starts_with('$')) {
                        return Err(DocError::new(
                            codes::DOLLAR_PREFIXED_FIELD_NAME,
                            "DollarPrefixedFieldName",
                            format!(
                                "The dollar ($) prefixed field '{k}' in '{k}' is not allowed in the context of an update's replacement \
                                 document. Consider using an aggregation pipeline with $replaceWith."
                            ),
                        ));
                    }
                    Ok(Update { kind: Kind::Replacement(d.clone()), uses_positional: false })
                }
            }
            other => Err(DocError::type_mismatch(format!(
                "Update argument must be either an object or an array, found type '{}'",
                type_name(other)
            ))),
        }
    }
    /// A replacement document (replace_one), not operators.
    pub fn is_replacement(&self) -> bool {
        matches!(self.kind, Kind::Replacement(_))
    }
    /// Whether the update uses the positional `$` (the caller then passes the match position).
    pub fn uses_positional(&self) -> bool {
        self.uses_positional
    }
    /// Whether this is an update pipeline (an array of stages).
    pub fn is_pipeline(&self) -> bool {
        matches!(self.kind, Kind::Pipeline(_))
    }
    /// Apply to `doc`. `position`: the query's matched array index for `$`; `inserting`: the
    /// document is being created by an upsert (`$setOnInsert` applies). Returns whether the
    /// document changed. Changing `_id` is error 66 (ImmutableField); nothing is changed on error.
    pub fn apply(&self, doc: &mut Document, position: Option<usize>, inserting: bool) -> Result<bool, DocError> {
        match &self.kind {
            Kind::Replacement(repl) => apply_replacement(doc, repl),
            Kind::Pipeline(pipeline) => apply_pipeline(doc, pipeline),
            Kind::Operators(tree) => {
                let ctx = Ctx { position, inserting, root: doc, array_filters: &tree.array_filters };
                let mut plan = Vec::new();
                let mut steps = Vec::new();
                ctx.plan_obj_in_doc(&tree.root, doc, &mut steps, &mut plan)?;
                let changed = !plan.is_empty();
                for m in plan {
                    exec_in_doc(doc, &m.steps, m.action);
                }
                move_id_first(doc);
                Ok(changed)
            }
        }
    }
}

// --- Replacement and pipeline ----------------------------------------------------------------

/// A replacement (or pipeline) that changes `_id`: MongoDB 4.2+'s message.
fn id_changed_error(new: &Bson) -> DocError {
    DocError::new(
        codes::IMMUTABLE_FIELD,
        "ImmutableField",
        format!("After applying the update, the (immutable) field '_id' was found to have been altered to {}", fmt_elem("_id", new)),
    )
}

/// The result document of a replacement-shaped update: `_id` kept (and first), unchanged.
fn with_original_id(original: &Document, new: Document) -> Result<Document, DocError> {
    // Storage checks on the new document: its depth, and (when it brings one) its `_id` type.
    for (k, v) in &new {
        if nests_deeper(v, super::MAX_DEPTH - 1) {
            return Err(too_deep());
        }
        if k == "_id" {
            check_id_type(v)?;
        }
    }
    let Some(old_id) = original.get("_id") else { return Ok(new) };
    let mut out = Document::new();
    match new.get("_id") {
        Some(new_id) if !equal(old_id, new_id) => return Err(id_changed_error(new_id)),
        Some(new_id) => {
            out.insert("_id", new_id.clone());
        }
        None => {
            out.insert("_id", old_id.clone());
        }
    }
    for (k, v) in new {
        if k != "_id" {
            out.insert(k, v);
        }
    }
    Ok(out)
}

fn apply_replacement(doc: &mut Document, repl: &Document) -> Result<bool, DocError> {
    let new = with_original_id(doc, repl.clone())?;
    if same_document(&new, doc) {
        return Ok(false);
    }
    *doc = new;
    Ok(true)
}

fn apply_pipeline(doc: &mut Document, pipeline: &Pipeline) -> Result<bool, DocError> {
    let mut out = pipeline.run(Box::new(std::iter::once(doc.clone())))?;
    if out.len() != 1 {
        return Err(DocError::new(
            codes::INTERNAL_ERROR,
            "InternalError",
            format!("An update pipeline must produce exactly one document, it produced {}", out.len()),
        ));
    }
    let new = with_original_id(doc, out.pop().unwrap_or_default())?;
    if same_document(&new, doc) {
        return Ok(false);
    }
    *doc = new;
    Ok(true)
}

// --- Parsed form -------------------------------------------------------------------------------

/// One component of an update path.
#[derive(Clone, Debug, PartialEq)]
enum Comp {
    Field(String),
    /// `$`
    Positional,
    /// `$[]`
    All,
    /// `$[identifier]`
    Ident(String),
}

impl Comp {
    fn text(&self) -> String {
        match self {
            Comp::Field(f) => f.clone(),
            Comp::Positional => "$".into(),
            Comp::All => "$[]".into(),
            Comp::Ident(i) => format!("$[{i}]"),
        }
    }
}

#[derive(Clone, Debug)]
enum Node {
    Leaf(Leaf),
    Object(ObjNode),
    Array(ArrNode),
}

/// The children of a document (or of an array addressed by numeric field names).
#[derive(Clone, Debug, Default)]
struct ObjNode {
    /// Sorted by `cmp_field_names`.
    children: Vec<(String, Node)>,
    positional: Option<Box<Node>>,
}

/// The children of an array addressed by `$[]` (key "") and `$[identifier]`.
#[derive(Clone, Debug, Default)]
struct ArrNode {
    children: Vec<(String, Node)>,
}

#[derive(Clone, Debug)]
struct Leaf {
    op: Op,
}

#[derive(Clone, Debug)]
enum Op {
    Set(Bson),
    SetOnInsert(Bson),
    Unset,
    Inc(Bson),
    Mul(Bson),
    Min(Bson),
    Max(Bson),
    CurrentDate(Bson),
    Push(PushSpec),
    AddToSet(Vec<Bson>),
    /// true: remove the first element (`-1`).
    Pop(bool),
    Pull(PullMatcher),
    PullAll(Vec<Bson>),
    Bit(Vec<(BitOp, Bson)>),
    /// At the destination of a `$rename`: the source path's components.
    Rename(Vec<String>),
    /// At the source of a `$rename` (conflict detection; the destination leaf does the work).
    RenameSource,
}

impl Op {
    /// Operators that do nothing on a missing or non-viable path.
    fn noop_when_missing(&self) -> bool {
        matches!(self, Op::Unset | Op::Pop(_) | Op::Pull(_) | Op::PullAll(_) | Op::RenameSource)
    }
}

#[derive(Clone, Copy, Debug)]
enum BitOp {
    And,
    Or,
    Xor,
}

#[derive(Clone, Debug)]
struct PushSpec {
    each: Vec<Bson>,
    position: Option<i64>,
    slice: Option<i64>,
    sort: Option<PushSort>,
}

#[derive(Clone, Debug)]
enum PushSort {
    /// Whole elements, ascending when true.
    Whole(bool),
    /// By fields of document elements: (dotted path, ascending).
    Fields(Vec<(String, bool)>),
}

#[derive(Clone, Debug)]
enum PullMatcher {
    Equal(Bson),
    /// A query on document elements.
    Object(Filter),
    /// A condition on the element itself, matched as `{__v: element}`.
    Wrapped(Filter),
}

/// Field names in MongoDB's application order: numeric names numerically, others by bytes.
fn cmp_field_names(a: &str, b: &str) -> Ordering {
    match (numeric_component(a), numeric_component(b)) {
        (Some(x), Some(y)) => x.cmp(&y).then_with(|| a.cmp(b)),
        _ => a.as_bytes().cmp(b.as_bytes()),
    }
}

/// A path component that can index an array (decimal digits only).
fn numeric_component(s: &str) -> Option<usize> {
    if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

// --- Parsing -------------------------------------------------------------------------------------

const OPERATORS: &[&str] = &[
    "$set",
    "$setOnInsert",
    "$unset",
    "$inc",
    "$mul",
    "$min",
    "$max",
    "$rename",
    "$currentDate",
    "$push",
    "$addToSet",
    "$pop",
    "$pull",
    "$pullAll",
    "$bit",
];

fn parse_operators(spec: &Document, array_filters: &[Document], vars: &Variables) -> Result<Update, DocError> {
    let filters = parse_array_filters(array_filters, vars)?;
    let mut builder = TreeBuilder { root: Node::Object(ObjNode::default()), filters: &filters, used: Vec::new(), uses_positional: false };
    for (op_name, arg) in spec {
        if !OPERATORS.contains(&op_name.as_str()) {
            return Err(DocError::failed_to_parse(format!(
                "Unknown modifier: {op_name}. Expected a valid update modifier or pipeline-style update specified as an array"
            )));
        }
        let Bson::Document(fields) = arg else {
            return Err(DocError::failed_to_parse(format!(
                "Modifiers operate on fields but we found type {} instead. For example: {{$mod: {{<field>: ...}}}} not {{{}}}",
                type_name(arg),
                fmt_elem(op_name, arg)
            )));
        };
        for (path, value) in fields {
            if op_name == "$rename" {
                parse_rename(&mut builder, path, value)?;
                continue;
            }
            let comps = parse_path(path, &filters)?;
            let op = parse_op(op_name, path, value, vars)?;
            builder.insert(&comps, path, Leaf { op })?;
        }
    }
    for (id, _) in &filters {
        if !builder.used.contains(id) {
            return Err(DocError::failed_to_parse(format!(
                "The array filter for identifier '{id}' was not used in the update {}",
                fmt_doc(spec)
            )));
        }
    }
    let uses_positional = builder.uses_positional;
    let Node::Object(root) = builder.root else { return Err(DocError::bad_value("invalid update")) };
    Ok(Update { kind: Kind::Operators(OpTree { root, array_filters: filters }), uses_positional })
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase()) && chars.all(|c| c.is_ascii_alphanumeric())
}

/// The identifiers a filter document's top-level fields name (through `$and`/`$or`/`$nor`).
/// The identifiers a filter document's top-level fields name (through `$and`/`$or`/`$nor`),
/// and MongoDB's error for the query features array filters ban (`$expr`, `$where`, `$text`).
fn collect_filter_roots(filter: &Document, out: &mut Vec<String>, depth: usize) -> Result<(), DocError> {
    if depth > MAX_PATH_COMPONENTS {
        return Err(DocError::bad_value("Error parsing array filter :: caused by :: the filter is nested too deeply"));
    }
    for (k, v) in filter {
        match k.as_str() {
            "$and" | "$or" | "$nor" => {
                if let Bson::Array(items) = v {
                    for item in items {
                        if let Bson::Document(d) = item {
                            collect_filter_roots(d, out, depth + 1)?;
                        }
                    }
                }
            }
            "$expr" | "$where" | "$text" => {
                return Err(DocError::new(
                    QUERY_FEATURE_NOT_ALLOWED,
                    "QueryFeatureNotAllowed",
                    format!("Error parsing array filter :: caused by :: {k} is not allowed in this context"),
                ))
            }
            _ if k.starts_with('$') => {}
            _ => out.push(k.split('.').next().unwrap_or("").to_string()),
        }
    }
    Ok(())
}

/// MongoDB's `QueryFeatureNotAllowed` code (not among the foundation's `codes`).
const QUERY_FEATURE_NOT_ALLOWED: i32 = 224;

/// The `arrayFilters` option, checked in MongoDB's order: the query itself, then the identifier
/// (one per filter, a lowercase-led alphanumeric name, not repeated).
fn parse_array_filters(array_filters: &[Document], vars: &Variables) -> Result<Vec<(String, Filter)>, DocError> {
    let mut out: Vec<(String, Filter)> = Vec::new();
    for filter in array_filters {
        let mut roots = Vec::new();
        collect_filter_roots(filter, &mut roots, 0)?;
        let parsed = Filter::parse(filter, vars).map_err(|mut e| {
            e.message = format!("Error parsing array filter :: caused by :: {}", e.message);
            e
        })?;
        let Some(id) = roots.first().cloned() else {
            return Err(DocError::failed_to_parse("Cannot use an expression without a top-level field name in arrayFilters"));
        };
        if let Some(other) = roots.iter().find(|r| **r != id) {
            return Err(DocError::failed_to_parse(format!(
                "Error parsing array filter :: caused by :: Expected a single top-level field name, found '{id}' and '{other}'"
            )));
        }
        if !is_identifier(&id) {
            return Err(DocError::bad_value(format!(
                "Error parsing array filter :: caused by :: The top-level field name must be an alphanumeric string beginning \
                 with a lowercase letter, found '{id}'"
            )));
        }
        if out.iter().any(|(existing, _)| *existing == id) {
            return Err(DocError::failed_to_parse(format!("Found multiple array filters with the same top-level field name {id}")));
        }
        out.push((id, parsed));
    }
    Ok(out)
}

fn parse_path(path: &str, filters: &[(String, Filter)]) -> Result<Vec<Comp>, DocError> {
    if path.is_empty() {
        return Err(DocError::new(codes::EMPTY_FIELD_NAME, "EmptyFieldName", "An empty update path is not valid."));
    }
    let mut comps = Vec::new();
    let mut positionals = 0;
    for part in path.split('.') {
        if part.is_empty() {
            return Err(DocError::new(
                codes::EMPTY_FIELD_NAME,
                "EmptyFieldName",
                format!("The update path '{path}' contains an empty field name, which is not allowed."),
            ));
        }
        if comps.len() >= MAX_PATH_COMPONENTS {
            return Err(DocError::bad_value(format!("The update path '{path}' has more than {MAX_PATH_COMPONENTS} components")));
        }
        let comp = if part == "$" {
            positionals += 1;
            Comp::Positional
        } else if part == "$[]" {
            Comp::All
        } else if let Some(id) = part.strip_prefix("$[").and_then(|r| r.strip_suffix(']')) {
            if !filters.iter().any(|(f, _)| f == id) {
                return Err(DocError::bad_value(format!("No array filter found for identifier '{id}' in path '{path}'")));
            }
            Comp::Ident(id.to_string())
        } else {
            Comp::Field(part.to_string())
        };
        comps.push(comp);
    }
    if positionals > 1 {
        return Err(DocError::bad_value(format!("Too many positional (i.e. '$') elements found in path '{path}'")));
    }
    match comps[0] {
        Comp::Positional => {
            return Err(DocError::bad_value(format!("Cannot have positional (i.e. '$') element in the first position in path '{path}'")))
        }
        Comp::All | Comp::Ident(_) => {
            return Err(DocError::bad_value(format!(
                "Cannot have array filter identifier (i.e. '$[<id>]') element in the first position in path '{path}'"
            )))
        }
        Comp::Field(_) => {}
    }
    Ok(comps)
}

struct TreeBuilder<'f> {
    /// Always `Node::Object`.
    root: Node,
    filters: &'f [(String, Filter)],
    used: Vec<String>,
    uses_positional: bool,
}

fn conflict(path: &str, at: &[Comp]) -> DocError {
    let at: Vec<String> = at.iter().map(Comp::text).collect();
    DocError::new(
        codes::CONFLICTING_UPDATE_OPERATORS,
        "ConflictingUpdateOperators",
        format!("Updating the path '{path}' would create a conflict at '{}'", at.join(".")),
    )
}

fn new_node_for(next: &Comp) -> Node {
    match next {
        Comp::All | Comp::Ident(_) => Node::Array(ArrNode::default()),
        _ => Node::Object(ObjNode::default()),
    }
}

/// The slot for `key` in a sorted child list, created empty (None) when absent.
fn slot<'n>(children: &'n mut Vec<(String, Node)>, key: &str, make: impl FnOnce() -> Option<Node>) -> Option<&'n mut Node> {
    let idx = match children.binary_search_by(|(k, _)| cmp_field_names(k, key)) {
        Ok(i) => i,
        Err(i) => {
            let node = make()?;
            children.insert(i, (key.to_string(), node));
            i
        }
    };
    Some(&mut children[idx].1)
}

impl TreeBuilder<'_> {
    fn insert(&mut self, comps: &[Comp], path: &str, leaf: Leaf) -> Result<(), DocError> {
        for c in comps {
            match c {
                Comp::Ident(id) if !self.used.contains(id) => self.used.push(id.clone()),
                Comp::Positional => self.uses_positional = true,
                _ => {}
            }
        }
        let mut leaf = Some(leaf);
        let mut node: &mut Node = &mut self.root;
        for i in 0..comps.len() {
            let last = i + 1 == comps.len();
            let make = |leaf: &mut Option<Leaf>| -> Option<Node> {
                if last {
                    Some(Node::Leaf(leaf.take()?))
                } else {
                    Some(new_node_for(&comps[i + 1]))
                }
            };
            let child: &mut Node = match (node, &comps[i]) {
                (Node::Leaf(_), _) => return Err(conflict(path, &comps[..i])),
                (Node::Object(obj), Comp::Field(name)) => {
                    if last && obj.children.iter().any(|(k, _)| k == name) {
                        return Err(conflict(path, &comps[..=i]));
                    }
                    match slot(&mut obj.children, name, || make(&mut leaf)) {
                        Some(c) => c,
                        None => return Err(conflict(path, &comps[..=i])),
                    }
                }
                (Node::Object(obj), Comp::Positional) => {
                    if obj.positional.is_some() {
                        if last {
                            return Err(conflict(path, &comps[..=i]));
                        }
                    } else {
                        match make(&mut leaf) {
                            Some(n) => obj.positional = Some(Box::new(n)),
                            None => return Err(conflict(path, &comps[..=i])),
                        }
                    }
                    match obj.positional.as_deref_mut() {
                        Some(c) => c,
                        None => return Err(conflict(path, &comps[..=i])),
                    }
                }
                (Node::Array(arr), Comp::All | Comp::Ident(_)) => {
                    let key = match &comps[i] {
                        Comp::Ident(id) => id.clone(),
                        _ => String::new(),
                    };
                    if last && arr.children.iter().any(|(k, _)| *k == key) {
                        return Err(conflict(path, &comps[..=i]));
                    }
                    match slot(&mut arr.children, &key, || make(&mut leaf)) {
                        Some(c) => c,
                        None => return Err(conflict(path, &comps[..=i])),
                    }
                }
                // An object node reached by `$[]`, or an array node reached by a field name.
                _ => return Err(conflict(path, &comps[..i])),
            };
            if last {
                return Ok(());
            }
            node = child;
        }
        Ok(())
    }
}

/// `$rename` places two leaves, as MongoDB does: a placeholder at the source (for conflict
/// detection) and the rename itself at the destination. Checks run in MongoDB's order.
fn parse_rename(builder: &mut TreeBuilder<'_>, from: &str, to: &Bson) -> Result<(), DocError> {
    let from_comps = parse_path(from, builder.filters)?;
    builder.insert(&from_comps, from, Leaf { op: Op::RenameSource })?;
    let Bson::String(to_path) = to else {
        return Err(DocError::bad_value(format!("The 'to' field for $rename must be a string: {}", fmt_elem(from, to))));
    };
    let to_comps = parse_path(to_path, builder.filters)?;
    if from_comps == to_comps {
        return Err(DocError::bad_value(format!("The source and target field for $rename must differ: {}", fmt_elem(from, to))));
    }
    let n = from_comps.len().min(to_comps.len());
    if from_comps[..n] == to_comps[..n] {
        return Err(DocError::bad_value(format!(
            "The source and target field for $rename must not be on the same path: {}",
            fmt_elem(from, to)
        )));
    }
    if from_comps.iter().any(|c| !matches!(c, Comp::Field(_))) {
        return Err(DocError::bad_value(format!("The source field for $rename may not be dynamic: {from}")));
    }
    if to_comps.iter().any(|c| !matches!(c, Comp::Field(_))) {
        return Err(DocError::bad_value(format!("The destination field for $rename may not be dynamic: {to_path}")));
    }
    let source: Vec<String> = from_comps.iter().map(Comp::text).collect();
    builder.insert(&to_comps, to_path, Leaf { op: Op::Rename(source) })
}

fn integral(v: &Bson) -> Option<i64> {
    match v {
        Bson::Int32(i) => Some(i64::from(*i)),
        Bson::Int64(i) => Some(*i),
        Bson::Double(d) if d.fract() == 0.0 && d.abs() < 9.2e18 => Some(*d as i64),
        Bson::Decimal128(_) => as_f64(v).filter(|d| d.fract() == 0.0 && d.abs() < 9.2e18).map(|d| d as i64),
        _ => None,
    }
}

fn parse_op(op_name: &str, path: &str, value: &Bson, vars: &Variables) -> Result<Op, DocError> {
    Ok(match op_name {
        "$set" => Op::Set(value.clone()),
        "$setOnInsert" => Op::SetOnInsert(value.clone()),
        "$unset" => Op::Unset,
        "$inc" | "$mul" => {
            if !super::value::is_number(value) {
                let verb = if op_name == "$inc" { "increment" } else { "multiply" };
                return Err(DocError::type_mismatch(format!("Cannot {verb} with non-numeric argument: {{{}}}", fmt_elem(path, value))));
            }
            if op_name == "$inc" {
                Op::Inc(value.clone())
            } else {
                Op::Mul(value.clone())
            }
        }
        "$min" => Op::Min(value.clone()),
        "$max" => Op::Max(value.clone()),
        "$currentDate" => Op::CurrentDate(parse_current_date(value, vars)?),
        "$push" => Op::Push(parse_push(value)?),
        "$addToSet" => Op::AddToSet(parse_add_to_set(value)?),
        "$pop" => match parse_integer(path, value)? {
            1 => Op::Pop(false),
            -1 => Op::Pop(true),
            n => return Err(DocError::failed_to_parse(format!("$pop expects 1 or -1, found: {n}"))),
        },
        "$pull" => Op::Pull(parse_pull(value, vars)?),
        "$pullAll" => {
            let Bson::Array(items) = value else {
                return Err(DocError::bad_value(format!("$pullAll requires an array argument but was given a {}", type_name(value))));
            };
            Op::PullAll(items.clone())
        }
        "$bit" => Op::Bit(parse_bit(value)?),
        _ => {
            return Err(DocError::failed_to_parse(format!(
                "Unknown modifier: {op_name}. Expected a valid update modifier or pipeline-style update specified as an array"
            )))
        }
    })
}

/// A number that is an integer (MongoDB's `parseIntegerElementToLong`, with its messages).
fn parse_integer(path: &str, value: &Bson) -> Result<i64, DocError> {
    let elem = || fmt_elem(path, value);
    match value {
        Bson::Int32(i) => Ok(i64::from(*i)),
        Bson::Int64(i) => Ok(*i),
        Bson::Double(_) | Bson::Decimal128(_) => {
            let d = as_f64(value).unwrap_or(f64::NAN);
            if d.is_nan() {
                Err(DocError::failed_to_parse(format!("Expected an integer, but found NaN in: {}", elem())))
            } else if !(-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&d) {
                Err(DocError::failed_to_parse(format!("Cannot represent as a 64-bit integer: {}", elem())))
            } else if d.fract() != 0.0 {
                Err(DocError::failed_to_parse(format!("Expected an integer: {}", elem())))
            } else {
                Ok(d as i64)
            }
        }
        _ => Err(DocError::failed_to_parse(format!("Expected a number in: {}", elem()))),
    }
}

fn parse_current_date(value: &Bson, vars: &Variables) -> Result<Bson, DocError> {
    let date = Bson::DateTime(vars.now);
    let timestamp = || {
        let millis = vars.now.timestamp_millis();
        Bson::Timestamp(bson::Timestamp { time: u32::try_from(millis.div_euclid(1000)).unwrap_or(0), increment: 1 })
    };
    match value {
        Bson::Boolean(_) => Ok(date),
        Bson::Document(d) => {
            let mut result = None;
            for (k, v) in d {
                if k != "$type" {
                    return Err(DocError::bad_value(format!("Unrecognized $currentDate option: {k}")));
                }
                result = match v {
                    Bson::String(s) if s == "date" => Some(date.clone()),
                    Bson::String(s) if s == "timestamp" => Some(timestamp()),
                    _ => None,
                };
            }
            result.ok_or_else(|| {
                DocError::bad_value(
                    "The '$type' string field is required to be 'date' or 'timestamp': {$currentDate: {field : {$type: 'date'}}}",
                )
            })
        }
        other => Err(DocError::bad_value(format!(
            "{} is not valid type for $currentDate. Please use a boolean ('true') or a $type expression ({{$type: \
             'timestamp/date'}}).",
            type_name(other)
        ))),
    }
}

fn parse_push(value: &Bson) -> Result<PushSpec, DocError> {
    let plain = || PushSpec { each: vec![value.clone()], position: None, slice: None, sort: None };
    let Bson::Document(d) = value else { return Ok(plain()) };
    if !d.contains_key("$each") {
        // Without $each the document is the value pushed, `$slice` and all (as mongod does).
        return Ok(plain());
    }
    let mut spec = PushSpec { each: Vec::new(), position: None, slice: None, sort: None };
    for (k, v) in d {
        match k.as_str() {
            "$each" => {
                let Bson::Array(items) = v else {
                    return Err(DocError::bad_value(format!(
                        "The argument to $each in $push must be an array but it was of type: {}",
                        type_name(v)
                    )));
                };
                spec.each = items.clone();
            }
            "$slice" => {
                let Some(n) = integral(v) else {
                    return Err(DocError::bad_value(format!(
                        "The value for $slice must be an integer value but was given type: {}",
                        type_name(v)
                    )));
                };
                spec.slice = Some(n);
            }
            "$position" => {
                let Some(n) = integral(v) else {
                    return Err(DocError::bad_value(format!(
                        "The value for $position must be an integer value, not of type: {}",
                        type_name(v)
                    )));
                };
                spec.position = Some(n);
            }
            "$sort" => spec.sort = Some(parse_push_sort(v)?),
            other => return Err(DocError::bad_value(format!("Unrecognized clause in $push: {other}"))),
        }
    }
    Ok(spec)
}

fn sort_direction(v: &Bson) -> Option<bool> {
    match as_f64(v) {
        Some(1.0) => Some(true),
        Some(-1.0) => Some(false),
        _ => None,
    }
}

fn parse_push_sort(v: &Bson) -> Result<PushSort, DocError> {
    match v {
        Bson::Document(d) => {
            if d.is_empty() {
                return Err(DocError::bad_value("The sort pattern is empty when it should be a set of fields."));
            }
            let mut fields = Vec::new();
            // MongoDB 5.2+ checks sort patterns with the messages shared with $sortArray.
            for (k, dir) in d {
                let Some(asc) = sort_direction(dir) else {
                    return Err(DocError::bad_value("The sort element value must be either 1 or -1"));
                };
                if k.is_empty() {
                    return Err(DocError::bad_value("The sort field cannot be empty"));
                }
                if k.split('.').any(|p| p.is_empty()) {
                    return Err(DocError::bad_value(format!("The sort field is a dotted field but has an empty part: {k}")));
                }
                fields.push((k.clone(), asc));
            }
            Ok(PushSort::Fields(fields))
        }
        _ if super::value::is_number(v) => match sort_direction(v) {
            Some(asc) => Ok(PushSort::Whole(asc)),
            None => Err(DocError::bad_value("The $sort element value must be either 1 or -1")),
        },
        _ => Err(DocError::bad_value("The $sort is invalid: use 1/-1 to sort the whole element, or {field:1/-1} to sort embedded fields")),
    }
}

fn parse_add_to_set(value: &Bson) -> Result<Vec<Bson>, DocError> {
    let each = match value {
        Bson::Document(d) if d.keys().next().map(String::as_str) == Some("$each") => {
            let items = match d.get("$each") {
                Some(Bson::Array(items)) => items,
                other => {
                    return Err(DocError::type_mismatch(format!(
                        "The argument to $each in $addToSet must be an array but it was of type {}",
                        type_name(other.unwrap_or(&Bson::Null))
                    )))
                }
            };
            if d.len() > 1 {
                return Err(DocError::bad_value(format!("Found unexpected fields after $each in $addToSet: {}", fmt_doc(d))));
            }
            items.clone()
        }
        other => vec![other.clone()],
    };
    // Duplicates within $each are added once.
    let mut unique: Vec<Bson> = Vec::with_capacity(each.len());
    for v in each {
        if !unique.iter().any(|u| equal(u, &v)) {
            unique.push(v);
        }
    }
    Ok(unique)
}

/// Query operators that apply to a value (so `{$gte: 6}` conditions the element itself).
const PATH_OPERATORS: &[&str] = &[
    "$eq",
    "$ne",
    "$gt",
    "$gte",
    "$lt",
    "$lte",
    "$in",
    "$nin",
    "$exists",
    "$type",
    "$size",
    "$all",
    "$elemMatch",
    "$regex",
    "$options",
    "$mod",
    "$not",
    "$bitsAllSet",
    "$bitsAllClear",
    "$bitsAnySet",
    "$bitsAnyClear",
    "$geoWithin",
    "$geoIntersects",
    "$near",
    "$nearSphere",
    "$within",
];

const WRAP_FIELD: &str = "__v";

fn parse_pull(value: &Bson, vars: &Variables) -> Result<PullMatcher, DocError> {
    match value {
        Bson::Document(d) => {
            let first = d.keys().next().map(String::as_str).unwrap_or("");
            if PATH_OPERATORS.contains(&first) {
                let mut wrapped = Document::new();
                wrapped.insert(WRAP_FIELD, value.clone());
                Ok(PullMatcher::Wrapped(Filter::parse(&wrapped, vars)?))
            } else {
                Ok(PullMatcher::Object(Filter::parse(d, vars)?))
            }
        }
        Bson::RegularExpression(_) => {
            let mut wrapped = Document::new();
            wrapped.insert(WRAP_FIELD, value.clone());
            Ok(PullMatcher::Wrapped(Filter::parse(&wrapped, vars)?))
        }
        other => Ok(PullMatcher::Equal(other.clone())),
    }
}

fn parse_bit(value: &Bson) -> Result<Vec<(BitOp, Bson)>, DocError> {
    let Bson::Document(d) = value else {
        return Err(DocError::bad_value(format!(
            "The $bit modifier is not compatible with a {}. You must pass in an embedded document: {{$bit: {{field: {{and/or/xor: #}}}}",
            type_name(value)
        )));
    };
    if d.is_empty() {
        return Err(DocError::bad_value("You must pass in at least one bitwise operation. The format is: {$bit: {field: {and/or/xor: #}}"));
    }
    let mut ops = Vec::new();
    for (k, v) in d {
        let op = match k.as_str() {
            "and" => BitOp::And,
            "or" => BitOp::Or,
            "xor" => BitOp::Xor,
            _ => {
                return Err(DocError::bad_value(format!(
                    "The $bit modifier only supports 'and', 'or', and 'xor', not '{k}' which is an unknown operator: {{{}}}",
                    fmt_elem(k, v)
                )))
            }
        };
        if !matches!(v, Bson::Int32(_) | Bson::Int64(_)) {
            return Err(DocError::bad_value(format!(
                "The $bit modifier field must be an Integer(32/64 bit); a '{}' is not supported here: {{{}}}",
                type_name(v),
                fmt_elem(k, v)
            )));
        }
        ops.push((op, v.clone()));
    }
    Ok(ops)
}

// --- Planning ------------------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq)]
enum Step {
    Field(String),
    Index(usize),
}

impl Step {
    fn text(&self) -> String {
        match self {
            Step::Field(f) => f.clone(),
            Step::Index(i) => i.to_string(),
        }
    }
}

#[derive(Debug)]
enum Action {
    Set(Bson),
    Unset,
}

/// One change to make, at a concrete path.
#[derive(Debug)]
struct Mutation {
    steps: Vec<Step>,
    action: Action,
}

/// What is at a path of the original document.
#[derive(Clone, Copy)]
enum Cur<'a> {
    Present(&'a Bson),
    Missing,
    /// Past the end of an array by more than MongoDB pads (creating there is error 34).
    Unpaddable,
    /// Cannot be created: `field` would have to go inside the element `name: value`.
    Blocked {
        name: &'a str,
        value: &'a Bson,
        field: &'a str,
    },
}

struct Ctx<'a> {
    position: Option<usize>,
    inserting: bool,
    root: &'a Document,
    array_filters: &'a [(String, Filter)],
}

fn dotted(steps: &[Step]) -> String {
    steps.iter().map(Step::text).collect::<Vec<_>>().join(".")
}

fn last_name(steps: &[Step]) -> String {
    steps.last().map(Step::text).unwrap_or_default()
}

fn id_text(root: &Document) -> String {
    match root.get("_id") {
        Some(id) => fmt_elem("_id", id),
        None => "no id".to_string(),
    }
}

/// Merge two nodes that apply to the same element (`$[]` and `$[x]` both matching it).
fn merge_nodes(a: &Node, b: &Node, at: &str) -> Result<Node, DocError> {
    let conflict_err =
        || DocError::new(codes::CONFLICTING_UPDATE_OPERATORS, "ConflictingUpdateOperators", format!("Update created a conflict at '{at}'"));
    match (a, b) {
        (Node::Object(x), Node::Object(y)) => {
            let mut out = x.clone();
            for (k, child) in &y.children {
                match out.children.binary_search_by(|(ok, _)| cmp_field_names(ok, k)) {
                    Ok(i) => {
                        let merged = merge_nodes(&out.children[i].1, child, &format!("{at}.{k}"))?;
                        out.children[i].1 = merged;
                    }
                    Err(i) => out.children.insert(i, (k.clone(), child.clone())),
                }
            }
            out.positional = match (&x.positional, &y.positional) {
                (Some(p), Some(q)) => Some(Box::new(merge_nodes(p, q, &format!("{at}.$"))?)),
                (p, q) => p.clone().or_else(|| q.clone()),
            };
            Ok(Node::Object(out))
        }
        (Node::Array(x), Node::Array(y)) => {
            let mut out = x.clone();
            for (k, child) in &y.children {
                match out.children.iter().position(|(ok, _)| ok == k) {
                    Some(i) => {
                        let merged = merge_nodes(&out.children[i].1, child, at)?;
                        out.children[i].1 = merged;
                    }
                    None => out.children.push((k.clone(), child.clone())),
                }
            }
            Ok(Node::Array(out))
        }
        _ => Err(conflict_err()),
    }
}

impl Ctx<'_> {
    fn plan_node(&self, node: &Node, cur: Cur<'_>, steps: &mut Vec<Step>, out: &mut Vec<Mutation>) -> Result<(), DocError> {
        match node {
            Node::Leaf(leaf) => {
                // Checked leaf by leaf, so the first error is the one MongoDB (applying in
                // order) reports.
                let before = out.len();
                self.plan_leaf(&leaf.op, cur, steps, out)?;
                validate_plan(self.root, &out[before..])
            }
            Node::Object(obj) => self.plan_obj(obj, cur, steps, out),
            Node::Array(arr) => self.plan_arr(arr, cur, steps, out),
        }
    }

    /// The object node's children with the positional child resolved (merged when it names
    /// the same field as another child).
    fn resolved_children<'n>(&self, obj: &'n ObjNode, steps: &[Step]) -> Result<std::borrow::Cow<'n, [(String, Node)]>, DocError> {
        let Some(pos_node) = &obj.positional else { return Ok(std::borrow::Cow::Borrowed(&obj.children)) };
        let Some(position) = self.position else {
            return Err(DocError::bad_value("The positional operator did not find the match needed from the query."));
        };
        let name = position.to_string();
        let mut children = obj.children.clone();
        match children.binary_search_by(|(k, _)| cmp_field_names(k, &name)) {
            Ok(i) => {
                let at = if steps.is_empty() { name.clone() } else { format!("{}.{name}", dotted(steps)) };
                children[i].1 = merge_nodes(&children[i].1, pos_node, &at)?;
            }
            Err(i) => children.insert(i, (name, (**pos_node).clone())),
        }
        Ok(std::borrow::Cow::Owned(children))
    }

    fn plan_obj_in_doc(&self, obj: &ObjNode, d: &Document, steps: &mut Vec<Step>, out: &mut Vec<Mutation>) -> Result<(), DocError> {
        let children = self.resolved_children(obj, steps)?;
        for (name, child) in children.iter() {
            let cur = d.get(name).map_or(Cur::Missing, Cur::Present);
            steps.push(Step::Field(name.clone()));
            let r = self.plan_node(child, cur, steps, out);
            steps.pop();
            r?;
        }
        Ok(())
    }

    fn plan_obj(&self, obj: &ObjNode, cur: Cur<'_>, steps: &mut Vec<Step>, out: &mut Vec<Mutation>) -> Result<(), DocError> {
        if let Cur::Present(Bson::Document(d)) = cur {
            return self.plan_obj_in_doc(obj, d, steps, out);
        }
        let children = self.resolved_children(obj, steps)?;
        let cur_name = last_name(steps);
        for (name, child) in children.iter() {
            let (step, child_cur) = match cur {
                Cur::Present(Bson::Array(a)) => match numeric_component(name) {
                    Some(i) if i > a.len() + MAX_ARRAY_PADDING => (Step::Index(i), Cur::Unpaddable),
                    Some(i) => (Step::Index(i), a.get(i).map_or(Cur::Missing, Cur::Present)),
                    None => (Step::Field(name.clone()), Cur::Blocked { name: &cur_name, value: cur_value(cur), field: name }),
                },
                Cur::Present(v) => (Step::Field(name.clone()), Cur::Blocked { name: &cur_name, value: v, field: name }),
                Cur::Missing => (Step::Field(name.clone()), Cur::Missing),
                Cur::Blocked { .. } | Cur::Unpaddable => (Step::Field(name.clone()), cur),
            };
            steps.push(step);
            let r = self.plan_node(child, child_cur, steps, out);
            steps.pop();
            r?;
        }
        Ok(())
    }

    fn plan_arr(&self, arr: &ArrNode, cur: Cur<'_>, steps: &mut Vec<Step>, out: &mut Vec<Mutation>) -> Result<(), DocError> {
        let items = match cur {
            Cur::Present(Bson::Array(items)) => items,
            Cur::Present(v) => {
                return Err(DocError::bad_value(format!(
                    "Cannot apply array updates to non-array element {}",
                    fmt_elem(&last_name(steps), v)
                )))
            }
            Cur::Missing | Cur::Blocked { .. } | Cur::Unpaddable => {
                return Err(DocError::bad_value(format!(
                    "The path '{}' must exist in the document in order to apply array updates.",
                    dotted(steps)
                )))
            }
        };
        for (i, item) in items.iter().enumerate() {
            let mut matching: Vec<&Node> = Vec::new();
            for (key, child) in &arr.children {
                if key.is_empty() || self.element_matches(key, item)? {
                    matching.push(child);
                }
            }
            steps.push(Step::Index(i));
            let r = match matching.len() {
                0 => Ok(()),
                1 => self.plan_node(matching[0], Cur::Present(item), steps, out),
                _ => {
                    let at = dotted(steps);
                    let mut merged = merge_nodes(matching[0], matching[1], &at);
                    for extra in &matching[2..] {
                        merged = merged.and_then(|m| merge_nodes(&m, extra, &at));
                    }
                    merged.and_then(|m| self.plan_node(&m, Cur::Present(item), steps, out))
                }
            };
            steps.pop();
            r?;
        }
        Ok(())
    }

    fn element_matches(&self, id: &str, item: &Bson) -> Result<bool, DocError> {
        let Some((_, filter)) = self.array_filters.iter().find(|(f, _)| f == id) else { return Ok(false) };
        let mut wrapped = Document::new();
        wrapped.insert(id, item.clone());
        filter.matches(&wrapped)
    }

    fn plan_leaf(&self, op: &Op, cur: Cur<'_>, steps: &[Step], out: &mut Vec<Mutation>) -> Result<(), DocError> {
        if let Op::SetOnInsert(_) = op {
            if !self.inserting {
                return Ok(());
            }
        }
        if let Op::Rename(source) = op {
            return self.plan_rename(source, cur, steps, out);
        }
        let existing = match cur {
            Cur::Blocked { name, value, field } => {
                return match op {
                    Op::Unset | Op::RenameSource => Ok(()),
                    Op::Pop(_) | Op::Pull(_) | Op::PullAll(_) => Err(cannot_traverse(name, value, field, &dotted(steps))),
                    _ => Err(not_viable(name, value, field)),
                };
            }
            Cur::Unpaddable if op.noop_when_missing() => return Ok(()),
            Cur::Unpaddable => return Err(cannot_backfill()),
            Cur::Missing => None,
            Cur::Present(v) => Some(v),
        };
        let set = |out: &mut Vec<Mutation>, steps: &[Step], new: Bson| {
            if existing.is_none_or(|old| !same_value(old, &new)) {
                out.push(Mutation { steps: steps.to_vec(), action: Action::Set(new) });
            }
        };
        match op {
            Op::Set(v) | Op::SetOnInsert(v) => set(out, steps, v.clone()),
            // MongoDB always counts $currentDate as a modification (the clock moves).
            Op::CurrentDate(v) => out.push(Mutation { steps: steps.to_vec(), action: Action::Set(v.clone()) }),
            Op::Unset => {
                if let Some(old) = existing {
                    let in_array = matches!(steps.last(), Some(Step::Index(_)));
                    if !(in_array && matches!(old, Bson::Null)) {
                        out.push(Mutation { steps: steps.to_vec(), action: Action::Unset });
                    }
                }
            }
            Op::Inc(by) | Op::Mul(by) => {
                let (is_inc, name) = if matches!(op, Op::Inc(_)) { (true, "$inc") } else { (false, "$mul") };
                let new = match existing {
                    None if is_inc => by.clone(),
                    // Zero of the multiplier's type (MongoDB multiplies it by int 0: -2.5 gives -0.0).
                    None => arith(Arith::Mul, by, &Bson::Int32(0)).unwrap_or(Bson::Int32(0)),
                    Some(old) => {
                        if !super::value::is_number(old) {
                            return Err(DocError::type_mismatch(format!(
                                "Cannot apply {name} to a value of non-numeric type. {{{}}} has the field '{}' of non-numeric type {}",
                                id_text(self.root),
                                last_name(steps),
                                type_name(old)
                            )));
                        }
                        let result = if is_inc { arith(Arith::Add, old, by) } else { arith(Arith::Mul, old, by) };
                        result.ok_or_else(|| {
                            DocError::bad_value(format!(
                                "Failed to apply {name} operations to current value ({}) for document {{{}}}",
                                debug_number(old),
                                id_text(self.root)
                            ))
                        })?
                    }
                };
                set(out, steps, new);
            }
            Op::Min(v) | Op::Max(v) => {
                let wanted = if matches!(op, Op::Min(_)) { Ordering::Less } else { Ordering::Greater };
                match existing {
                    Some(old) if compare(v, old) != wanted => {}
                    _ => set(out, steps, v.clone()),
                }
            }
            Op::Push(spec) => {
                let items = match existing {
                    None => Vec::new(),
                    Some(Bson::Array(a)) => a.clone(),
                    Some(other) => {
                        return Err(DocError::bad_value(format!(
                            "The field '{}' must be an array but is of type {} in document {{{}}}",
                            dotted(steps),
                            type_name(other),
                            id_text(self.root)
                        )))
                    }
                };
                set(out, steps, Bson::Array(push_result(items, spec)));
            }
            Op::AddToSet(values) => {
                let mut items = match existing {
                    None => Vec::new(),
                    Some(Bson::Array(a)) => a.clone(),
                    Some(other) => {
                        return Err(DocError::bad_value(format!(
                            "Cannot apply $addToSet to non-array field. Field named '{}' has non-array type {}",
                            last_name(steps),
                            type_name(other)
                        )))
                    }
                };
                for v in values {
                    if !items.iter().any(|x| equal(x, v)) {
                        items.push(v.clone());
                    }
                }
                set(out, steps, Bson::Array(items));
            }
            Op::Pop(first) => match existing {
                None => {}
                Some(Bson::Array(a)) if !a.is_empty() => {
                    let items = if *first { a[1..].to_vec() } else { a[..a.len() - 1].to_vec() };
                    set(out, steps, Bson::Array(items));
                }
                Some(Bson::Array(_)) => {}
                Some(other) => {
                    return Err(DocError::type_mismatch(format!(
                        "Path '{}' contains an element of non-array type '{}'",
                        dotted(steps),
                        type_name(other)
                    )))
                }
            },
            Op::Pull(_) | Op::PullAll(_) => match existing {
                None => {}
                Some(Bson::Array(a)) => {
                    let mut kept = Vec::with_capacity(a.len());
                    for item in a {
                        let remove = match op {
                            Op::Pull(m) => pull_matches(m, item)?,
                            Op::PullAll(values) => values.iter().any(|v| equal(v, item)),
                            _ => false,
                        };
                        if !remove {
                            kept.push(item.clone());
                        }
                    }
                    if kept.len() != a.len() {
                        set(out, steps, Bson::Array(kept));
                    }
                }
                Some(_) => return Err(DocError::bad_value("Cannot apply $pull to a non-array value")),
            },
            Op::Bit(ops) => {
                let start = match existing {
                    None => Bson::Int32(0),
                    Some(v @ (Bson::Int32(_) | Bson::Int64(_))) => v.clone(),
                    Some(other) => {
                        return Err(DocError::bad_value(format!(
                            "Cannot apply $bit to a value of non-integral type.{} has the field {} of non-integer type {}",
                            id_text(self.root),
                            last_name(steps),
                            type_name(other)
                        )))
                    }
                };
                let result = ops.iter().fold(start, |acc, (op, operand)| bit(*op, &acc, operand));
                set(out, steps, result);
            }
            Op::RenameSource | Op::Rename(_) => {}
        }
        Ok(())
    }

    fn plan_rename(&self, source: &[String], cur: Cur<'_>, steps: &[Step], out: &mut Vec<Mutation>) -> Result<(), DocError> {
        let from = source.join(".");
        // Find the source (through numeric indexes too, to reject array elements). Missing: no-op;
        // a path through a scalar (or a field name into an array): PathNotViable.
        let mut value: Option<&Bson> = None;
        let mut array_parent: Option<&str> = None;
        let mut container: (&str, Option<&Bson>) = ("", None);
        for comp in source {
            let next = match container.1 {
                None => self.root.get(comp),
                Some(Bson::Document(d)) => d.get(comp),
                Some(Bson::Array(a)) => match numeric_component(comp) {
                    Some(i) => {
                        array_parent = Some(container.0);
                        a.get(i)
                    }
                    None => return Err(rename_source_not_viable(container.0, container.1, &from)),
                },
                Some(_) => return Err(rename_source_not_viable(container.0, container.1, &from)),
            };
            let Some(next) = next else { return Ok(()) };
            container = (comp, Some(next));
            value = Some(next);
        }
        if let Some(name) = array_parent {
            return Err(DocError::bad_value(format!(
                "The source field cannot be an array element, '{from}' in doc with {} has an array field called '{name}'",
                id_text(self.root)
            )));
        }
        let Some(value) = value else { return Ok(()) };
        // The destination may not go through an array.
        let to = dotted(steps);
        let mut doc = self.root;
        for (i, step) in steps.iter().enumerate() {
            if i + 1 == steps.len() {
                break;
            }
            let key = step.text();
            let Some(v) = doc.get(&key) else { break };
            match v {
                Bson::Document(d) => doc = d,
                Bson::Array(_) => {
                    return Err(DocError::bad_value(format!(
                        "The destination field cannot be an array element, '{to}' in doc with {} has an array field called '{key}'",
                        id_text(self.root)
                    )))
                }
                _ => break,
            }
        }
        match cur {
            Cur::Blocked { name, value, field } => return Err(not_viable(name, value, field)),
            Cur::Unpaddable => return Err(cannot_backfill()),
            Cur::Present(_) | Cur::Missing => {}
        }
        out.push(Mutation { steps: steps.to_vec(), action: Action::Set(value.clone()) });
        out.push(Mutation { steps: source.iter().map(|s| Step::Field(s.clone())).collect(), action: Action::Unset });
        Ok(())
    }
}

fn cur_value<'a>(cur: Cur<'a>) -> &'a Bson {
    match cur {
        Cur::Present(v) => v,
        Cur::Blocked { value, .. } => value,
        Cur::Missing | Cur::Unpaddable => &Bson::Null,
    }
}

/// MongoDB's message when a `$rename` source path goes through a scalar (or names a field of an
/// array): the last element found, and the part of the path that named it.
fn rename_source_not_viable(name: &str, element: Option<&Bson>, from: &str) -> DocError {
    DocError::new(
        codes::PATH_NOT_VIABLE,
        "PathNotViable",
        format!("cannot use the part ({name} of {from}) to traverse the element ({{{}}})", fmt_elem(name, element.unwrap_or(&Bson::Null))),
    )
}

/// Setting an array index further than MongoDB pads (`a.2000000` on a short array).
fn cannot_backfill() -> DocError {
    DocError::new(CANNOT_BACKFILL_ARRAY, "CannotBackfillArray", format!("can't backfill more than {MAX_ARRAY_PADDING} elements"))
}

/// A path that a non-creating operator ($pop, $pull, $pullAll) cannot traverse.
fn cannot_traverse(name: &str, value: &Bson, field: &str, path: &str) -> DocError {
    DocError::new(
        codes::PATH_NOT_VIABLE,
        "PathNotViable",
        format!("Cannot use the part ({field}) of ({path}) to traverse the element ({{{}}})", fmt_elem(name, value)),
    )
}

fn not_viable(name: &str, value: &Bson, field: &str) -> DocError {
    DocError::new(
        codes::PATH_NOT_VIABLE,
        "PathNotViable",
        format!("Cannot create field '{field}' in element {{{}}}", fmt_elem(name, value)),
    )
}

/// Same type, bits and field order (a `$set` of `1.0` over `1` is a change, as in MongoDB,
/// which compares binary values).
fn same_value(a: &Bson, b: &Bson) -> bool {
    same_value_at(a, b, 0)
}

fn same_value_at(a: &Bson, b: &Bson, depth: usize) -> bool {
    if depth > MAX_PATH_COMPONENTS {
        return false;
    }
    match (a, b) {
        (Bson::Double(x), Bson::Double(y)) => x.to_bits() == y.to_bits(),
        (Bson::Document(x), Bson::Document(y)) => same_document_at(x, y, depth + 1),
        (Bson::Array(x), Bson::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same_value_at(p, q, depth + 1)),
        _ => a == b,
    }
}

/// Documents with the same fields, in the same order, with the same values.
fn same_document(a: &Document, b: &Document) -> bool {
    same_document_at(a, b, 0)
}

fn same_document_at(a: &Document, b: &Document, depth: usize) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|((ka, va), (kb, vb))| ka == kb && same_value_at(va, vb, depth))
}

/// What MongoDB checks about an update's changes, checked here before anything changes: `_id`
/// is immutable (any change under an existing `_id` is error 66), a new `_id` may not be an
/// array, regex or undefined (53), a top-level field may not start with `$` (52), and no value
/// may nest deeper than `MAX_DEPTH` levels (15).
fn validate_plan(doc: &Document, plan: &[Mutation]) -> Result<(), DocError> {
    let has_id = doc.contains_key("_id");
    for m in plan {
        let Some(Step::Field(first)) = m.steps.first() else { continue };
        if first == "_id" && has_id {
            return Err(DocError::new(
                codes::IMMUTABLE_FIELD,
                "ImmutableField",
                format!("Performing an update on the path '{}' would modify the immutable field '_id'", dotted(&m.steps)),
            ));
        }
        let Action::Set(value) = &m.action else { continue };
        if first == "_id" && m.steps.len() == 1 {
            check_id_type(value)?;
        }
        if first.starts_with('$') {
            return Err(DocError::new(
                codes::DOLLAR_PREFIXED_FIELD_NAME,
                "DollarPrefixedFieldName",
                format!(
                    "The dollar ($) prefixed field '{first}' in '{first}' is not allowed in the context of an update's replacement \
                     document. Consider using an aggregation pipeline with $replaceWith."
                ),
            ));
        }
        if m.steps.len() > super::MAX_DEPTH || nests_deeper(value, super::MAX_DEPTH - m.steps.len()) {
            return Err(too_deep());
        }
    }
    Ok(())
}

/// A stored document nests at most `MAX_DEPTH` levels (error 15, as mongod's storage check).
fn too_deep() -> DocError {
    DocError::new(codes::OVERFLOW, "Overflow", format!("Document exceeds maximum nesting depth of {}", super::MAX_DEPTH))
}

/// `_id` may not be an array, a regex or undefined (error 53).
fn check_id_type(value: &Bson) -> Result<(), DocError> {
    match value {
        Bson::Array(_) | Bson::RegularExpression(_) | Bson::Undefined => {
            Err(DocError::new(codes::INVALID_ID_FIELD, "InvalidIdField", format!("The '_id' value cannot be of type {}", type_name(value))))
        }
        _ => Ok(()),
    }
}

/// Whether `v` has more than `levels` levels of documents/arrays below it (recursion bounded
/// by `levels`).
fn nests_deeper(v: &Bson, levels: usize) -> bool {
    let children: Box<dyn Iterator<Item = &Bson>> = match v {
        Bson::Document(d) if !d.is_empty() => Box::new(d.values()),
        Bson::Array(a) if !a.is_empty() => Box::new(a.iter()),
        _ => return false,
    };
    if levels == 0 {
        return true;
    }
    children.into_iter().any(|c| nests_deeper(c, levels - 1))
}

/// MongoDB keeps `_id` the first field of a stored document.
fn move_id_first(doc: &mut Document) {
    if doc.keys().next().is_none_or(|k| k == "_id") {
        return;
    }
    let Some(id) = doc.remove("_id") else { return };
    let mut out = Document::new();
    out.insert("_id", id);
    out.extend(std::mem::take(doc));
    *doc = out;
}

fn pull_matches(m: &PullMatcher, item: &Bson) -> Result<bool, DocError> {
    match m {
        PullMatcher::Equal(v) => Ok(equal(v, item)),
        PullMatcher::Object(filter) => match item {
            Bson::Document(d) => filter.matches(d),
            _ => Ok(false),
        },
        PullMatcher::Wrapped(filter) => {
            let mut wrapped = Document::new();
            wrapped.insert(WRAP_FIELD, item.clone());
            filter.matches(&wrapped)
        }
    }
}

fn push_result(mut items: Vec<Bson>, spec: &PushSpec) -> Vec<Bson> {
    let len = items.len() as i64;
    let at = match spec.position {
        None => len,
        Some(p) if p >= 0 => p.min(len),
        Some(p) => (len + p).max(0),
    } as usize;
    items.splice(at..at, spec.each.iter().cloned());
    match &spec.sort {
        None => {}
        Some(PushSort::Whole(asc)) => items.sort_by(|a, b| directed(compare(a, b), *asc)),
        Some(PushSort::Fields(fields)) => items.sort_by(|a, b| {
            for (path, asc) in fields {
                let o = compare(sort_field(a, path), sort_field(b, path));
                if o != Ordering::Equal {
                    return directed(o, *asc);
                }
            }
            Ordering::Equal
        }),
    }
    if let Some(n) = spec.slice {
        let len = items.len();
        if n >= 0 {
            items.truncate((n as usize).min(len));
        } else {
            let keep = (n.unsigned_abs() as usize).min(len);
            items.drain(..len - keep);
        }
    }
    items
}

fn directed(o: Ordering, asc: bool) -> Ordering {
    if asc {
        o
    } else {
        o.reverse()
    }
}

fn sort_field<'a>(v: &'a Bson, path: &str) -> &'a Bson {
    match v {
        Bson::Document(d) => super::value::get_path(d, path).unwrap_or(&Bson::Null),
        _ => &Bson::Null,
    }
}

fn bit(op: BitOp, acc: &Bson, operand: &Bson) -> Bson {
    let f = |x: i64, y: i64| match op {
        BitOp::And => x & y,
        BitOp::Or => x | y,
        BitOp::Xor => x ^ y,
    };
    match (acc, operand) {
        (Bson::Int32(x), Bson::Int32(y)) => Bson::Int32(f(i64::from(*x), i64::from(*y)) as i32),
        _ => {
            let x = super::value::as_i64(acc).unwrap_or(0);
            let y = super::value::as_i64(operand).unwrap_or(0);
            Bson::Int64(f(x, y))
        }
    }
}

// --- Arithmetic ----------------------------------------------------------------------------------

#[derive(Clone, Copy)]
enum Arith {
    Add,
    Mul,
}

/// MongoDB's number arithmetic: int32 overflow widens to int64; int64 overflow fails (None);
/// a double makes a double, a decimal makes a decimal.
fn arith(op: Arith, a: &Bson, b: &Bson) -> Option<Bson> {
    match (a, b) {
        (Bson::Decimal128(_), _) | (_, Bson::Decimal128(_)) => Some(decimal_arith(op, a, b)),
        (Bson::Double(_), _) | (_, Bson::Double(_)) => {
            let (x, y) = (as_f64(a)?, as_f64(b)?);
            Some(Bson::Double(match op {
                Arith::Add => x + y,
                Arith::Mul => x * y,
            }))
        }
        (Bson::Int32(x), Bson::Int32(y)) => {
            let r = match op {
                Arith::Add => x.checked_add(*y),
                Arith::Mul => x.checked_mul(*y),
            };
            Some(match r {
                Some(r) => Bson::Int32(r),
                None => {
                    let (x, y) = (i64::from(*x), i64::from(*y));
                    Bson::Int64(match op {
                        Arith::Add => x + y,
                        Arith::Mul => x * y,
                    })
                }
            })
        }
        _ => {
            let (x, y) = (super::value::as_i64(a)?, super::value::as_i64(b)?);
            let r = match op {
                Arith::Add => x.checked_add(y),
                Arith::Mul => x.checked_mul(y),
            };
            r.map(Bson::Int64)
        }
    }
}

fn decimal_from_str(s: &str) -> Bson {
    match s.parse::<bson::Decimal128>() {
        Ok(d) => Bson::Decimal128(d),
        Err(_) => "NaN".parse::<bson::Decimal128>().map(Bson::Decimal128).unwrap_or(Bson::Null),
    }
}

/// A finite decimal as (negative, coefficient, exponent).
fn decimal_parts(v: &Bson) -> Option<(bool, u128, i32)> {
    let s = match v {
        Bson::Decimal128(d) => d.to_string(),
        Bson::Int32(i) => i.to_string(),
        Bson::Int64(i) => i.to_string(),
        // As mongod converts a double for decimal arithmetic: rounded to 15 significant digits.
        Bson::Double(d) if d.is_finite() => format!("{d:.14e}"),
        _ => return None,
    };
    let (neg, s) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(&s)),
    };
    let (mantissa, exp) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], s[i + 1..].parse::<i32>().ok()?),
        None => (s, 0),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = format!("{int_part}{frac_part}");
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let coef = digits.parse::<u128>().ok()?;
    Some((neg, coef, exp.checked_sub(i32::try_from(frac_part.len()).ok()?)?))
}

/// A coefficient cut to Decimal128's 34 digits, rounding half to even (IEEE 754's default).
fn round_to_34_digits(mut coef: u128, mut exp: i32) -> Option<(u128, i32)> {
    const LIMIT: u128 = 10u128.pow(34);
    let (mut last_dropped, mut sticky) = (0u128, false);
    while coef >= LIMIT {
        sticky |= last_dropped != 0;
        last_dropped = coef % 10;
        coef /= 10;
        exp = exp.checked_add(1)?;
    }
    if last_dropped > 5 || (last_dropped == 5 && (sticky || coef % 2 == 1)) {
        coef += 1;
        if coef == LIMIT {
            coef /= 10;
            exp = exp.checked_add(1)?;
        }
    }
    Some((coef, exp))
}

fn decimal_arith(op: Arith, a: &Bson, b: &Bson) -> Bson {
    let exact = || -> Option<String> {
        let (na, ca, ea) = decimal_parts(a)?;
        let (nb, cb, eb) = decimal_parts(b)?;
        let (neg, coef, exp) = match op {
            Arith::Mul => (na != nb, ca.checked_mul(cb)?, ea.checked_add(eb)?),
            Arith::Add => {
                let e = ea.min(eb);
                let sa = ca.checked_mul(10u128.checked_pow(u32::try_from(ea - e).ok()?)?)?;
                let sb = cb.checked_mul(10u128.checked_pow(u32::try_from(eb - e).ok()?)?)?;
                let (x, y) = (i128::try_from(sa).ok()?, i128::try_from(sb).ok()?);
                let sum = (if na { -x } else { x }).checked_add(if nb { -y } else { y })?;
                (sum < 0, sum.unsigned_abs(), e)
            }
        };
        let (coef, exp) = round_to_34_digits(coef, exp)?;
        let s = format!("{}{coef}E{exp}", if neg { "-" } else { "" });
        s.parse::<bson::Decimal128>().is_ok().then_some(s)
    };
    if let Some(s) = exact() {
        return decimal_from_str(&s);
    }
    let (x, y) = (as_f64(a).unwrap_or(f64::NAN), as_f64(b).unwrap_or(f64::NAN));
    let r = match op {
        Arith::Add => x + y,
        Arith::Mul => x * y,
    };
    let s = if r.is_nan() {
        "NaN".to_string()
    } else if r.is_infinite() {
        if r > 0.0 { "Infinity" } else { "-Infinity" }.to_string()
    } else {
        format!("{r:e}")
    };
    decimal_from_str(&s)
}

// --- Execution (cannot fail: everything was checked while planning) ----------------------------

fn exec_in_doc(d: &mut Document, steps: &[Step], action: Action) {
    let Some((first, rest)) = steps.split_first() else { return };
    let name = first.text();
    if rest.is_empty() {
        match action {
            Action::Set(v) => {
                d.insert(name, v);
            }
            Action::Unset => {
                d.remove(&name);
            }
        }
        return;
    }
    if d.get(&name).is_none() {
        if matches!(action, Action::Unset) {
            return;
        }
        d.insert(name.clone(), Document::new());
    }
    if let Some(child) = d.get_mut(&name) {
        exec_in_value(child, rest, action);
    }
}

fn exec_in_value(v: &mut Bson, steps: &[Step], action: Action) {
    match v {
        Bson::Document(d) => exec_in_doc(d, steps, action),
        Bson::Array(a) => {
            let Some((first, rest)) = steps.split_first() else { return };
            let Some(i) = (match first {
                Step::Index(i) => Some(*i),
                Step::Field(f) => numeric_component(f),
            }) else {
                return;
            };
            if rest.is_empty() {
                match action {
                    Action::Set(new) => {
                        if i >= a.len() {
                            a.resize(i, Bson::Null);
                            a.push(new);
                        } else {
                            a[i] = new;
                        }
                    }
                    Action::Unset => {
                        if let Some(slot) = a.get_mut(i) {
                            *slot = Bson::Null;
                        }
                    }
                }
                return;
            }
            if i >= a.len() {
                if matches!(action, Action::Unset) {
                    return;
                }
                a.resize(i, Bson::Null);
                a.push(Bson::Document(Document::new()));
            }
            exec_in_value(&mut a[i], rest, action);
        }
        _ => {}
    }
}

// --- Messages: values printed as MongoDB prints them ------------------------------------------

/// `v` as MongoDB's BSON `toString` prints it (`{ a: 1, b: "x" }`, `[ 1, 2 ]`).
pub fn fmt_bson(v: &Bson) -> String {
    let mut s = String::new();
    write_bson(v, &mut s, 0);
    s
}

/// `name: value`, as MongoDB prints an element.
pub fn fmt_elem(name: &str, v: &Bson) -> String {
    format!("{name}: {}", fmt_bson(v))
}

fn fmt_doc(d: &Document) -> String {
    let mut s = String::new();
    write_doc(d, &mut s, 0);
    s
}

const MAX_PRINT_DEPTH: usize = 150;

fn write_doc(d: &Document, s: &mut String, depth: usize) {
    if d.is_empty() {
        s.push_str("{}");
        return;
    }
    if depth > MAX_PRINT_DEPTH {
        s.push_str("{ ... }");
        return;
    }
    s.push_str("{ ");
    for (i, (k, v)) in d.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        s.push_str(k);
        s.push_str(": ");
        write_bson(v, s, depth + 1);
    }
    s.push_str(" }");
}

fn write_bson(v: &Bson, s: &mut String, depth: usize) {
    use std::fmt::Write;
    match v {
        Bson::Document(d) => write_doc(d, s, depth),
        Bson::Array(a) => {
            if a.is_empty() {
                s.push_str("[]");
                return;
            }
            if depth > MAX_PRINT_DEPTH {
                s.push_str("[ ... ]");
                return;
            }
            s.push_str("[ ");
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    s.push_str(", ");
                }
                write_bson(x, s, depth + 1);
            }
            s.push_str(" ]");
        }
        Bson::String(x) => {
            let _ = write!(s, "\"{x}\"");
        }
        Bson::Int32(i) => {
            let _ = write!(s, "{i}");
        }
        Bson::Int64(i) => {
            let _ = write!(s, "{i}");
        }
        Bson::Double(d) => {
            // mongod: printf("%.16g"), then ".0" unless the text has '.', 'E' or 'N' (so 1e20
            // prints as "1e+20.0", as it does in mongod's messages).
            let text = format_g16(*d);
            s.push_str(&text);
            if !text.contains(['.', 'E', 'N']) {
                s.push_str(".0");
            }
        }
        Bson::Decimal128(d) => {
            let _ = write!(s, "NumberDecimal(\"{d}\")");
        }
        Bson::Boolean(b) => {
            let _ = write!(s, "{b}");
        }
        Bson::Null => s.push_str("null"),
        Bson::Undefined => s.push_str("undefined"),
        Bson::ObjectId(o) => {
            let _ = write!(s, "ObjectId('{}')", o.to_hex());
        }
        Bson::DateTime(dt) => {
            let _ = write!(s, "new Date({})", dt.timestamp_millis());
        }
        Bson::Timestamp(t) => {
            let _ = write!(s, "Timestamp({}, {})", t.time, t.increment);
        }
        Bson::RegularExpression(r) => {
            let _ = write!(s, "/{}/{}", r.pattern, r.options);
        }
        Bson::MinKey => s.push_str("MinKey"),
        Bson::MaxKey => s.push_str("MaxKey"),
        other => {
            let _ = write!(s, "{other}");
        }
    }
}

/// C's `printf("%.16g", x)`: 16 significant digits, trailing zeros dropped, scientific notation
/// (`1e+20`) when the exponent is below -4 or at least 16.
fn format_g16(x: f64) -> String {
    crate::util::num::format_g(x, 16)
}

/// A number as MongoDB's SafeNum prints it in overflow errors (`(NumberLong)9223372036854775807`).
fn debug_number(v: &Bson) -> String {
    match v {
        Bson::Int32(i) => format!("(NumberInt){i}"),
        Bson::Int64(i) => format!("(NumberLong){i}"),
        Bson::Double(d) => format!("(NumberDouble){d}"),
        other => format!("(NumberDecimal){}", fmt_bson(other)),
    }
}

#[cfg(test)]
mod tests {
    use bson::{doc, Bson, Document};

    use super::*;

    fn vars() -> Variables {
        Variables::new(bson::DateTime::from_millis(1_700_000_000_123))
    }

    fn parse(spec: Document) -> Result<Update, DocError> {
        Update::parse(&Bson::Document(spec), &[], &vars())
    }

    /// Apply `spec` to `doc`; returns the result and whether it changed.
    fn run(doc: Document, spec: Document) -> (Document, bool) {
        let mut d = doc;
        let changed = parse(spec).expect("parse").apply(&mut d, None, false).expect("apply");
        (d, changed)
    }

    fn updated(doc: Document, spec: Document) -> Document {
        run(doc, spec).0
    }

    /// The error of applying `spec` to `doc`, checking the document was left unchanged.
    fn apply_err(doc: Document, spec: Document) -> DocError {
        let mut d = doc.clone();
        let e = parse(spec).expect("parse").apply(&mut d, None, false).expect_err("should fail");
        assert!(same_document(&d, &doc), "document changed on error: {d:?}");
        e
    }

    fn parse_err(spec: Document) -> DocError {
        parse(spec).expect_err("parse should fail")
    }

    /// Equal with the same field order (bson's `==` ignores order).
    fn assert_same(actual: &Document, expected: &Document) {
        assert!(same_document(actual, expected), "\n  actual: {actual:?}\nexpected: {expected:?}");
    }

    // --- $set / $unset ---------------------------------------------------------------------

    fn products() -> Document {
        doc! {
            "_id": 100, "quantity": 250, "instock": true, "reorder": false,
            "details": { "model": "14QQ", "make": "Clothes Corp" },
            "tags": ["apparel", "clothing"],
            "ratings": [{ "by": "Customer007", "rating": 4 }]
        }
    }

    #[test]
    fn set_top_level_fields() {
        let d = updated(
            products(),
            doc! { "$set": { "quantity": 500, "details": { "model": "2600", "make": "Fashionaires" }, "tags": ["coats", "outerwear", "clothing"] } },
        );
        assert_same(
            &d,
            &doc! {
                "_id": 100, "quantity": 500, "instock": true, "reorder": false,
                "details": { "model": "2600", "make": "Fashionaires" },
                "tags": ["coats", "outerwear", "clothing"],
                "ratings": [{ "by": "Customer007", "rating": 4 }]
            },
        );
    }

    #[test]
    fn set_embedded_and_array_elements() {
        let d = updated(products(), doc! { "$set": { "details.make": "Kustom Kidz" } });
        assert_eq!(d.get_document("details").unwrap(), &doc! { "model": "14QQ", "make": "Kustom Kidz" });
        let d = updated(products(), doc! { "$set": { "tags.1": "rain gear", "ratings.0.rating": 2 } });
        assert_eq!(d.get_array("tags").unwrap(), &vec![Bson::from("apparel"), Bson::from("rain gear")]);
        assert_eq!(d.get_array("ratings").unwrap(), &vec![Bson::from(doc! { "by": "Customer007", "rating": 2 })]);
    }

    #[test]
    fn set_new_fields_appended_in_lexicographic_order() {
        let d = updated(doc! { "_id": 1, "m": 1 }, doc! { "$set": { "z": 1, "b": 2, "m": 3 } });
        assert_same(&d, &doc! { "_id": 1, "m": 3, "b": 2, "z": 1 });
    }

    #[test]
    fn set_creates_intermediate_documents() {
        let d = updated(doc! { "_id": 1 }, doc! { "$set": { "a.b.c": 1, "a.b.d": 2, "a.0": 3 } });
        assert_same(&d, &doc! { "_id": 1, "a": { "0": 3, "b": { "c": 1, "d": 2 } } });
    }

    #[test]
    fn set_past_the_end_pads_with_nulls() {
        let d = updated(doc! { "_id": 1, "a": [1] }, doc! { "$set": { "a.3": 4 } });
        assert_eq!(d.get_array("a").unwrap(), &vec![Bson::Int32(1), Bson::Null, Bson::Null, Bson::Int32(4)]);
        let d = updated(doc! { "_id": 1, "a": [] }, doc! { "$set": { "a.2.x": 1 } });
        assert_eq!(d.get_array("a").unwrap(), &vec![Bson::Null, Bson::Null, Bson::from(doc! { "x": 1 })]);
    }

    #[test]
    fn numeric_field_names_apply_in_numeric_order() {
        // The manual: "a.2" is processed before "a.10".
        let d = updated(doc! { "_id": 1, "a": {} }, doc! { "$set": { "a.10": 1, "a.2": 2 } });
        assert_same(&d, &doc! { "_id": 1, "a": { "2": 2, "10": 1 } });
    }

    #[test]
    fn set_same_value_is_not_a_modification() {
        let (_, changed) = run(doc! { "_id": 1, "a": 1, "b": { "c": [1, 2] } }, doc! { "$set": { "a": 1, "b": { "c": [1, 2] } } });
        assert!(!changed);
        // A different type is a change (MongoDB compares binary values).
        let (d, changed) = run(doc! { "_id": 1, "a": 1 }, doc! { "$set": { "a": 1.0 } });
        assert!(changed);
        assert_eq!(d.get("a"), Some(&Bson::Double(1.0)));
        // Same fields in another order is a change too.
        let (_, changed) = run(doc! { "_id": 1, "a": { "x": 1, "y": 2 } }, doc! { "$set": { "a": { "y": 2, "x": 1 } } });
        assert!(changed);
    }

    #[test]
    fn empty_operator_is_a_noop() {
        let (d, changed) = run(doc! { "_id": 1, "a": 1 }, doc! { "$set": {} });
        assert!(!changed);
        assert_same(&d, &doc! { "_id": 1, "a": 1 });
    }

    #[test]
    fn unset_fields() {
        let (d, changed) = run(
            doc! { "_id": 1, "item": "chisel", "sku": "C001", "quantity": 4, "instock": true },
            doc! { "$unset": { "quantity": "", "instock": "" } },
        );
        assert!(changed);
        assert_same(&d, &doc! { "_id": 1, "item": "chisel", "sku": "C001" });
        // Missing fields and paths through scalars: nothing to do.
        let (_, changed) = run(doc! { "_id": 1, "a": 1 }, doc! { "$unset": { "b": 1, "a.c": 1, "x.y.z": 1 } });
        assert!(!changed);
    }

    #[test]
    fn unset_array_element_sets_null() {
        let d = updated(doc! { "_id": 1, "a": [1, 2, 3] }, doc! { "$unset": { "a.1": "" } });
        assert_eq!(d.get_array("a").unwrap(), &vec![Bson::Int32(1), Bson::Null, Bson::Int32(3)]);
    }

    // --- $setOnInsert ---------------------------------------------------------------------------

    #[test]
    fn set_on_insert_only_when_inserting() {
        let update = parse(doc! { "$set": { "item": "apple" }, "$setOnInsert": { "defaultQty": 100 } }).unwrap();
        let mut inserted = doc! { "_id": 1 };
        assert!(update.apply(&mut inserted, None, true).unwrap());
        // The manual shows { _id: 1, item: "apple", defaultQty: 100 }; MongoDB 5.0+ creates new
        // fields in lexicographic order, so defaultQty comes before item.
        assert_eq!(inserted, doc! { "_id": 1, "item": "apple", "defaultQty": 100 });
        let mut existing = doc! { "_id": 1 };
        update.apply(&mut existing, None, false).unwrap();
        assert_same(&existing, &doc! { "_id": 1, "item": "apple" });
    }

    // --- $inc / $mul ------------------------------------------------------------------------------

    #[test]
    fn inc_manual_example() {
        let d = updated(
            doc! { "_id": 1, "sku": "abc123", "quantity": 10, "metrics": { "orders": 2, "ratings": 3.5 } },
            doc! { "$inc": { "quantity": -2, "metrics.orders": 1 } },
        );
        assert_same(&d, &doc! { "_id": 1, "sku": "abc123", "quantity": 8, "metrics": { "orders": 3, "ratings": 3.5 } });
    }

    #[test]
    fn inc_numeric_types() {
        let d = updated(
            doc! { "_id": 1, "a": i32::MAX, "b": 1, "c": 1_i64, "d": 1 },
            doc! { "$inc": { "a": 1, "b": 1.5, "c": 1, "d": 2_i64, "e": 5_i64 } },
        );
        assert_eq!(d.get("a"), Some(&Bson::Int64(i64::from(i32::MAX) + 1)));
        assert_eq!(d.get("b"), Some(&Bson::Double(2.5)));
        assert_eq!(d.get("c"), Some(&Bson::Int64(2)));
        assert_eq!(d.get("d"), Some(&Bson::Int64(3)));
        assert_eq!(d.get("e"), Some(&Bson::Int64(5)));
        let (_, changed) = run(doc! { "_id": 1, "a": 5 }, doc! { "$inc": { "a": 0 } });
        assert!(!changed);
    }

    #[test]
    fn inc_int64_overflow_fails() {
        let e = apply_err(doc! { "_id": 1, "a": i64::MAX }, doc! { "$inc": { "a": 1 } });
        assert_eq!(e.code, codes::BAD_VALUE);
        assert_eq!(e.message, "Failed to apply $inc operations to current value ((NumberLong)9223372036854775807) for document {_id: 1}");
    }

    #[test]
    fn inc_non_numeric_errors() {
        let e = apply_err(doc! { "_id": 1, "a": "x" }, doc! { "$inc": { "a": 1 } });
        assert_eq!(e.code, codes::TYPE_MISMATCH);
        assert_eq!(e.message, "Cannot apply $inc to a value of non-numeric type. {_id: 1} has the field 'a' of non-numeric type string");
        // The manual: $inc on a null field is an error.
        assert_eq!(apply_err(doc! { "_id": 1, "a": null }, doc! { "$inc": { "a": 1 } }).code, codes::TYPE_MISMATCH);
        let e = parse_err(doc! { "$inc": { "a": "1" } });
        assert_eq!(e.code, codes::TYPE_MISMATCH);
        assert_eq!(e.message, "Cannot increment with non-numeric argument: {a: \"1\"}");
    }

    #[test]
    fn mul_manual_examples() {
        let d = updated(
            doc! { "_id": 1, "item": "Hats", "price": decimal("10.99"), "quantity": 25 },
            doc! { "$mul": { "price": decimal("1.25"), "quantity": 2 } },
        );
        assert_eq!(d.get("price"), Some(&decimal("13.7375")));
        assert_eq!(d.get("quantity"), Some(&Bson::Int32(50)));
        // A missing field is set to zero of the multiplier's type.
        let d = updated(doc! { "_id": 2, "item": "Unknown" }, doc! { "$mul": { "price": 100_i64 } });
        assert_same(&d, &doc! { "_id": 2, "item": "Unknown", "price": 0_i64 });
        let d = updated(doc! { "_id": 2 }, doc! { "$mul": { "price": -2.5, "d": decimal("1.5") } });
        assert_eq!(d.get("price").map(|v| as_f64(v).unwrap().to_bits()), Some((-0.0_f64).to_bits()));
        assert_eq!(d.get("d"), Some(&decimal("0.0")));
        // Mixed types: long * int is a long.
        let d = updated(doc! { "_id": 3, "item": "Scarf", "price": 10_i64 }, doc! { "$mul": { "price": 5 } });
        assert_eq!(d.get("price"), Some(&Bson::Int64(50)));
    }

    #[test]
    fn mul_overflow_and_errors() {
        let d = updated(doc! { "_id": 1, "a": 1 << 20 }, doc! { "$mul": { "a": 1 << 20 } });
        assert_eq!(d.get("a"), Some(&Bson::Int64(1 << 40)));
        assert_eq!(apply_err(doc! { "_id": 1, "a": i64::MAX }, doc! { "$mul": { "a": 2 } }).code, codes::BAD_VALUE);
        let e = apply_err(doc! { "_id": 1, "a": [1] }, doc! { "$mul": { "a": 2 } });
        assert_eq!(e.message, "Cannot apply $mul to a value of non-numeric type. {_id: 1} has the field 'a' of non-numeric type array");
        assert_eq!(parse_err(doc! { "$mul": { "a": true } }).message, "Cannot multiply with non-numeric argument: {a: true}");
    }

    fn decimal(s: &str) -> Bson {
        Bson::Decimal128(s.parse().unwrap())
    }

    #[test]
    fn decimal_arithmetic() {
        let d = updated(doc! { "_id": 1, "a": decimal("0.1"), "b": 1 }, doc! { "$inc": { "a": decimal("0.2"), "b": decimal("1.5") } });
        assert_eq!(d.get("a"), Some(&decimal("0.3")));
        assert_eq!(d.get("b"), Some(&decimal("2.5")));
        // A double joins decimal arithmetic with 15 significant digits, as in mongod.
        let d = updated(doc! { "_id": 1, "a": decimal("1") }, doc! { "$inc": { "a": 1.5 } });
        assert_eq!(d.get("a"), Some(&decimal("2.50000000000000")));
        // Results are rounded to 34 digits, half to even.
        let big = "9999999999999999999999999999999999";
        let d = updated(doc! { "_id": 1, "a": decimal(big) }, doc! { "$inc": { "a": decimal("1") } });
        assert_eq!(d.get("a"), Some(&decimal("1.000000000000000000000000000000000E+34")));
        let d = updated(doc! { "_id": 1, "a": decimal("1234567890123456789012345678901234") }, doc! { "$mul": { "a": 10 } });
        assert_eq!(d.get("a"), Some(&decimal("1.234567890123456789012345678901234E+34")));
    }

    // --- $min / $max ---------------------------------------------------------------------------

    #[test]
    fn min_and_max() {
        let scores = doc! { "_id": 1, "highScore": 800, "lowScore": 200 };
        assert_eq!(updated(scores.clone(), doc! { "$min": { "lowScore": 150 } }).get("lowScore"), Some(&Bson::Int32(150)));
        assert!(!run(scores.clone(), doc! { "$min": { "lowScore": 250 } }).1);
        let raised = updated(scores.clone(), doc! { "$max": { "highScore": 950 } });
        assert_eq!(raised.get("highScore"), Some(&Bson::Int32(950)));
        assert!(!run(raised, doc! { "$max": { "highScore": 870 } }).1);
        // Missing: set. Different types: MongoDB's comparison order (a string is above numbers).
        assert_eq!(updated(scores.clone(), doc! { "$min": { "x": 1 } }).get("x"), Some(&Bson::Int32(1)));
        assert_eq!(updated(scores, doc! { "$max": { "lowScore": "a" } }).get("lowScore"), Some(&Bson::from("a")));
        // Dates.
        let d1 = bson::DateTime::from_millis(1_380_603_600_000);
        let d0 = bson::DateTime::from_millis(1_380_067_200_000);
        let d = updated(doc! { "_id": 1, "dateEntered": d1 }, doc! { "$min": { "dateEntered": d0 } });
        assert_eq!(d.get("dateEntered"), Some(&Bson::DateTime(d0)));
    }

    // --- $currentDate ------------------------------------------------------------------------------

    #[test]
    fn current_date_manual_example() {
        let d = updated(
            doc! { "_id": 1, "status": "a", "lastModified": bson::DateTime::from_millis(0) },
            doc! {
                "$currentDate": { "lastModified": true, "cancellation.date": { "$type": "timestamp" } },
                "$set": { "cancellation.reason": "user request", "status": "D" }
            },
        );
        assert_same(
            &d,
            &doc! {
                "_id": 1, "status": "D", "lastModified": vars().now,
                "cancellation": { "date": bson::Timestamp { time: 1_700_000_000, increment: 1 }, "reason": "user request" }
            },
        );
        let (d, changed) = run(doc! { "_id": 1 }, doc! { "$currentDate": { "d": { "$type": "date" } } });
        assert!(changed);
        assert_eq!(d.get("d"), Some(&Bson::DateTime(vars().now)));
        // Always a modification, as in MongoDB (the clock has moved).
        assert!(run(d, doc! { "$currentDate": { "d": true } }).1);
    }

    #[test]
    fn current_date_errors() {
        assert_eq!(parse_err(doc! { "$currentDate": { "d": 1 } }).code, codes::BAD_VALUE);
        assert_eq!(parse_err(doc! { "$currentDate": { "d": { "$type": "string" } } }).code, codes::BAD_VALUE);
        assert_eq!(parse_err(doc! { "$currentDate": { "d": { "x": 1 } } }).message, "Unrecognized $currentDate option: x");
    }

    // --- $rename --------------------------------------------------------------------------------

    #[test]
    fn rename_moves_field_to_the_end() {
        let d = updated(
            doc! { "_id": 1, "alias": ["The American Cincinnatus", "The American Fabius"], "mobile": "555-555-5555", "nmae": { "first": "george", "last": "washington" } },
            doc! { "$rename": { "nmae": "name" } },
        );
        assert_same(
            &d,
            &doc! { "_id": 1, "alias": ["The American Cincinnatus", "The American Fabius"], "mobile": "555-555-5555", "name": { "first": "george", "last": "washington" } },
        );
    }

    #[test]
    fn rename_embedded_and_missing() {
        let d = updated(
            doc! { "_id": 1, "name": { "first": "george", "last": "washington" } },
            doc! { "$rename": { "name.first": "name.fname" } },
        );
        assert_same(&d, &doc! { "_id": 1, "name": { "last": "washington", "fname": "george" } });
        // Out of an embedded document.
        let d = updated(doc! { "_id": 1, "a": { "b": 1 } }, doc! { "$rename": { "a.b": "c" } });
        assert_same(&d, &doc! { "_id": 1, "a": {}, "c": 1 });
        // A missing source does nothing.
        assert!(!run(doc! { "_id": 1, "a": 1 }, doc! { "$rename": { "wife": "spouse" } }).1);
        // An existing destination is overwritten.
        let d = updated(doc! { "_id": 1, "a": 1, "b": 2 }, doc! { "$rename": { "a": "b" } });
        assert_eq!(d, doc! { "_id": 1, "b": 1 });
    }

    #[test]
    fn rename_errors() {
        let e = parse_err(doc! { "$rename": { "a": "a" } });
        assert_eq!(e.code, codes::BAD_VALUE);
        assert_eq!(parse_err(doc! { "$rename": { "a": "a.b" } }).code, codes::BAD_VALUE);
        assert_eq!(parse_err(doc! { "$rename": { "a.b": "a" } }).code, codes::BAD_VALUE);
        assert_eq!(parse_err(doc! { "$rename": { "a": 1 } }).code, codes::BAD_VALUE);
        assert_eq!(parse_err(doc! { "$rename": { "a.$": "b" } }).code, codes::BAD_VALUE);
        assert_eq!(parse_err(doc! { "$rename": { "a": "b" }, "$set": { "b": 1 } }).code, codes::CONFLICTING_UPDATE_OPERATORS);
        assert_eq!(parse_err(doc! { "$rename": { "a": "b" }, "$set": { "a": 1 } }).code, codes::CONFLICTING_UPDATE_OPERATORS);
        // Not through arrays.
        let e = apply_err(doc! { "_id": 1, "a": [{ "b": 1 }] }, doc! { "$rename": { "a.0.b": "c" } });
        assert_eq!(e.code, codes::BAD_VALUE);
        assert_eq!(e.message, "The source field cannot be an array element, 'a.0.b' in doc with _id: 1 has an array field called 'a'");
        let e = apply_err(doc! { "_id": 1, "x": 1, "a": [{ "b": 1 }] }, doc! { "$rename": { "x": "a.0" } });
        assert_eq!(e.message, "The destination field cannot be an array element, 'a.0' in doc with _id: 1 has an array field called 'a'");
        let e = apply_err(doc! { "_id": 1, "a": 1 }, doc! { "$rename": { "a.b": "c" } });
        assert_eq!(e.code, codes::PATH_NOT_VIABLE);
        assert_eq!(e.message, "cannot use the part (a of a.b) to traverse the element ({a: 1})");
        assert_eq!(parse_err(doc! { "$rename": { "a": "a" } }).message, "The source and target field for $rename must differ: a: \"a\"");
        assert_eq!(parse_err(doc! { "$rename": { "a.$": "b" } }).message, "The source field for $rename may not be dynamic: a.$");
        // Into a scalar.
        let e = apply_err(doc! { "_id": 1, "x": 1, "a": 5 }, doc! { "$rename": { "x": "a.b" } });
        assert_eq!(e.code, codes::PATH_NOT_VIABLE);
    }

    // --- $push and its modifiers -----------------------------------------------------------------

    #[test]
    fn push_value_and_each() {
        let d = updated(doc! { "_id": 1, "scores": [44, 78, 38, 80] }, doc! { "$push": { "scores": 89 } });
        assert_eq!(d.get_array("scores").unwrap().len(), 5);
        let d = updated(doc! { "_id": 1, "scores": [44] }, doc! { "$push": { "scores": { "$each": [90, 92, 85] } } });
        assert_eq!(d, doc! { "_id": 1, "scores": [44, 90, 92, 85] });
        // An array value is pushed as one element; a missing field becomes an array.
        let d = updated(doc! { "_id": 1 }, doc! { "$push": { "a": [1, 2] } });
        assert_eq!(d, doc! { "_id": 1, "a": [[1, 2]] });
    }

    #[test]
    fn push_with_multiple_modifiers() {
        let d = updated(
            doc! { "_id": 5, "quizzes": [{ "wk": 1, "score": 10 }, { "wk": 2, "score": 8 }, { "wk": 3, "score": 5 }, { "wk": 4, "score": 6 }] },
            doc! { "$push": { "quizzes": {
                "$each": [{ "wk": 5, "score": 8 }, { "wk": 6, "score": 7 }, { "wk": 7, "score": 6 }],
                "$sort": { "score": -1 },
                "$slice": 3
            } } },
        );
        assert_same(&d, &doc! { "_id": 5, "quizzes": [{ "wk": 1, "score": 10 }, { "wk": 2, "score": 8 }, { "wk": 5, "score": 8 }] });
    }

    #[test]
    fn push_sort_examples() {
        let d = updated(
            doc! { "_id": 1, "quizzes": [{ "id": 1, "score": 6 }, { "id": 2, "score": 9 }] },
            doc! { "$push": { "quizzes": { "$each": [{ "id": 3, "score": 8 }, { "id": 4, "score": 7 }, { "id": 5, "score": 6 }], "$sort": { "score": 1 } } } },
        );
        assert_same(
            &d,
            &doc! { "_id": 1, "quizzes": [
                { "id": 1, "score": 6 }, { "id": 5, "score": 6 }, { "id": 4, "score": 7 }, { "id": 3, "score": 8 }, { "id": 2, "score": 9 }
            ] },
        );
        let d = updated(doc! { "_id": 2, "tests": [89, 70, 89, 50] }, doc! { "$push": { "tests": { "$each": [40, 60], "$sort": 1 } } });
        assert_eq!(d, doc! { "_id": 2, "tests": [40, 50, 60, 70, 89, 89] });
        let d = updated(doc! { "_id": 3, "tests": [89, 70, 100, 20] }, doc! { "$push": { "tests": { "$each": [], "$sort": -1 } } });
        assert_eq!(d, doc! { "_id": 3, "tests": [100, 89, 70, 20] });
    }

    #[test]
    fn push_slice_examples() {
        let d = updated(doc! { "_id": 1, "scores": [40, 50, 60] }, doc! { "$push": { "scores": { "$each": [80, 78, 86], "$slice": -5 } } });
        assert_eq!(d, doc! { "_id": 1, "scores": [50, 60, 80, 78, 86] });
        let d = updated(doc! { "_id": 2, "scores": [89, 90] }, doc! { "$push": { "scores": { "$each": [100, 20], "$slice": 3 } } });
        assert_eq!(d, doc! { "_id": 2, "scores": [89, 90, 100] });
        let d = updated(doc! { "_id": 3, "scores": [89, 70, 100, 20] }, doc! { "$push": { "scores": { "$each": [], "$slice": -3 } } });
        assert_eq!(d, doc! { "_id": 3, "scores": [70, 100, 20] });
        let d = updated(doc! { "_id": 3, "scores": [1, 2] }, doc! { "$push": { "scores": { "$each": [3], "$slice": 0 } } });
        assert_eq!(d, doc! { "_id": 3, "scores": [] });
    }

    #[test]
    fn push_position_examples() {
        let d = updated(doc! { "_id": 1, "scores": [100] }, doc! { "$push": { "scores": { "$each": [50, 60, 70], "$position": 0 } } });
        assert_eq!(d, doc! { "_id": 1, "scores": [50, 60, 70, 100] });
        let d = updated(d, doc! { "$push": { "scores": { "$each": [20, 30], "$position": 2 } } });
        assert_eq!(d, doc! { "_id": 1, "scores": [50, 60, 20, 30, 70, 100] });
        let d = updated(d, doc! { "$push": { "scores": { "$each": [90, 80], "$position": -2 } } });
        assert_eq!(d, doc! { "_id": 1, "scores": [50, 60, 20, 30, 90, 80, 70, 100] });
    }

    #[test]
    fn push_errors() {
        let e = apply_err(doc! { "_id": 1, "a": 1 }, doc! { "$push": { "a": 2 } });
        assert_eq!(e.code, codes::BAD_VALUE);
        assert_eq!(e.message, "The field 'a' must be an array but is of type int in document {_id: 1}");
        assert_eq!(parse_err(doc! { "$push": { "a": { "$each": 1 } } }).code, codes::BAD_VALUE);
        assert_eq!(parse_err(doc! { "$push": { "a": { "$each": [1], "$foo": 1 } } }).message, "Unrecognized clause in $push: $foo");
        assert_eq!(parse_err(doc! { "$push": { "a": { "$each": [1], "$slice": "x" } } }).code, codes::BAD_VALUE);
        assert_eq!(parse_err(doc! { "$push": { "a": { "$each": [1], "$sort": 2 } } }).code, codes::BAD_VALUE);
        assert_eq!(parse_err(doc! { "$push": { "a": { "$each": [1], "$sort": {} } } }).code, codes::BAD_VALUE);
        assert_eq!(parse_err(doc! { "$push": { "a": { "$each": [1], "$position": 1.5 } } }).code, codes::BAD_VALUE);
        assert_eq!(
            parse_err(doc! { "$push": { "a": { "$each": [1], "$sort": 2 } } }).message,
            "The $sort element value must be either 1 or -1"
        );
        assert_eq!(
            parse_err(doc! { "$push": { "a": { "$each": [1], "$sort": "x" } } }).message,
            "The $sort is invalid: use 1/-1 to sort the whole element, or {field:1/-1} to sort embedded fields"
        );
        assert_eq!(
            parse_err(doc! { "$push": { "a": { "$each": [1], "$sort": { "a..b": 1 } } } }).message,
            "The sort field is a dotted field but has an empty part: a..b"
        );
        let e = apply_err(doc! { "_id": 1, "a": { "b": 1 } }, doc! { "$push": { "a.b": 2 } });
        assert_eq!(e.message, "The field 'a.b' must be an array but is of type int in document {_id: 1}");
    }

    // --- $addToSet --------------------------------------------------------------------------------

    #[test]
    fn add_to_set_examples() {
        let d = updated(doc! { "_id": 1, "letters": ["a", "b"] }, doc! { "$addToSet": { "letters": ["c", "d"] } });
        assert_eq!(d, doc! { "_id": 1, "letters": ["a", "b", ["c", "d"]] });
        let inventory = doc! { "_id": 1, "item": "polarizing_filter", "tags": ["electronics", "camera"] };
        let d = updated(inventory.clone(), doc! { "$addToSet": { "tags": "accessories" } });
        assert_eq!(d.get_array("tags").unwrap().len(), 3);
        let (_, changed) = run(inventory.clone(), doc! { "$addToSet": { "tags": "camera" } });
        assert!(!changed);
        let d = updated(
            doc! { "_id": 2, "item": "cable", "tags": ["electronics", "supplies"] },
            doc! { "$addToSet": { "tags": { "$each": ["camera", "electronics", "accessories"] } } },
        );
        assert_eq!(d, doc! { "_id": 2, "item": "cable", "tags": ["electronics", "supplies", "camera", "accessories"] });
        // Equality is MongoDB's: 1.0 is already present as 1.
        assert!(!run(doc! { "_id": 1, "a": [1] }, doc! { "$addToSet": { "a": 1.0 } }).1);
        assert_eq!(parse_err(doc! { "$addToSet": { "a": { "$each": 1 } } }).code, codes::TYPE_MISMATCH);
        assert_eq!(parse_err(doc! { "$addToSet": { "a": { "$each": [1], "b": 1 } } }).code, codes::BAD_VALUE);
        let e = apply_err(doc! { "_id": 1, "a": "x" }, doc! { "$addToSet": { "a": 1 } });
        assert_eq!(e.message, "Cannot apply $addToSet to non-array field. Field named 'a' has non-array type string");
    }

    // --- $pop / $pull / $pullAll --------------------------------------------------------------

    #[test]
    fn pop_first_and_last() {
        let d = updated(doc! { "_id": 1, "scores": [8, 9, 10] }, doc! { "$pop": { "scores": -1 } });
        assert_eq!(d, doc! { "_id": 1, "scores": [9, 10] });
        let d = updated(doc! { "_id": 10, "scores": [9, 10] }, doc! { "$pop": { "scores": 1 } });
        assert_eq!(d, doc! { "_id": 10, "scores": [9] });
        assert!(!run(doc! { "_id": 1, "a": [] }, doc! { "$pop": { "a": 1 } }).1);
        assert!(!run(doc! { "_id": 1 }, doc! { "$pop": { "a": 1 } }).1);
        let e = parse_err(doc! { "$pop": { "a": 2 } });
        assert_eq!(e.code, codes::FAILED_TO_PARSE);
        assert_eq!(e.message, "$pop expects 1 or -1, found: 2");
        assert_eq!(parse_err(doc! { "$pop": { "a": "x" } }).message, "Expected a number in: a: \"x\"");
        assert_eq!(parse_err(doc! { "$pop": { "a": 1.5 } }).message, "Expected an integer: a: 1.5");
        assert!(matches!(parse(doc! { "$pop": { "a": -1.0 } }).unwrap().kind, Kind::Operators(_)));
        let e = apply_err(doc! { "_id": 1, "a": 1 }, doc! { "$pop": { "a": 1 } });
        assert_eq!(e.code, codes::TYPE_MISMATCH);
        assert_eq!(e.message, "Path 'a' contains an element of non-array type 'int'");
    }

    #[test]
    fn pull_values_manual_example() {
        // The stores example with equality only (the $in condition is a cross-module test).
        let d = updated(
            doc! { "_id": 1, "fruits": ["apples", "pears", "oranges", "grapes", "bananas"], "vegetables": ["carrots", "celery", "squash", "carrots"] },
            doc! { "$pull": { "vegetables": "carrots" } },
        );
        assert_eq!(d.get_array("vegetables").unwrap(), &vec![Bson::from("celery"), Bson::from("squash")]);
        assert!(!run(doc! { "_id": 1, "a": [1, 2] }, doc! { "$pull": { "a": 3 } }).1);
        let e = apply_err(doc! { "_id": 1, "a": 1 }, doc! { "$pull": { "a": 1 } });
        assert_eq!(e.message, "Cannot apply $pull to a non-array value");
    }

    #[test]
    fn pull_all_manual_example() {
        let d = updated(doc! { "_id": 1, "scores": [0, 2, 5, 5, 1, 0] }, doc! { "$pullAll": { "scores": [0, 5] } });
        assert_eq!(d, doc! { "_id": 1, "scores": [2, 1] });
        assert_eq!(parse_err(doc! { "$pullAll": { "a": 1 } }).code, codes::BAD_VALUE);
    }

    // --- $bit -----------------------------------------------------------------------------------

    #[test]
    fn bit_manual_examples() {
        let d = updated(doc! { "_id": 1, "expdata": 13 }, doc! { "$bit": { "expdata": { "and": 10 } } });
        assert_eq!(d.get("expdata"), Some(&Bson::Int32(8)));
        let d = updated(doc! { "_id": 2, "expdata": 3_i64 }, doc! { "$bit": { "expdata": { "or": 5 } } });
        assert_eq!(d.get("expdata"), Some(&Bson::Int64(7)));
        let d = updated(doc! { "_id": 3, "expdata": 1_i64 }, doc! { "$bit": { "expdata": { "xor": 5 } } });
        assert_eq!(d.get("expdata"), Some(&Bson::Int64(4)));
        assert_eq!(parse_err(doc! { "$bit": { "a": { "and": 1.0 } } }).code, codes::BAD_VALUE);
        assert_eq!(parse_err(doc! { "$bit": { "a": { "not": 1 } } }).code, codes::BAD_VALUE);
        assert_eq!(parse_err(doc! { "$bit": { "a": 5 } }).code, codes::BAD_VALUE);
        let e = apply_err(doc! { "_id": 1, "a": 1.5 }, doc! { "$bit": { "a": { "and": 1 } } });
        assert_eq!(e.code, codes::BAD_VALUE);
        assert_eq!(e.message, "Cannot apply $bit to a value of non-integral type._id: 1 has the field a of non-integer type double");
        // A missing field starts from int 0.
        let d = updated(doc! { "_id": 1 }, doc! { "$bit": { "a": { "or": 5_i64 } } });
        assert_eq!(d.get("a"), Some(&Bson::Int64(5)));
    }

    // --- Positional paths --------------------------------------------------------------------

    #[test]
    fn positional_dollar_uses_the_match_position() {
        // { _id: 1, grades: [85, 80, 80] }, query {grades: 80}, $set {"grades.$": 82}.
        let update = parse(doc! { "$set": { "grades.$": 82 } }).unwrap();
        assert!(update.uses_positional());
        let mut d = doc! { "_id": 1, "grades": [85, 80, 80] };
        assert!(update.apply(&mut d, Some(1), false).unwrap());
        assert_eq!(d, doc! { "_id": 1, "grades": [85, 82, 80] });
        let update = parse(doc! { "$set": { "grades.$.std": 6 } }).unwrap();
        let mut d = doc! { "_id": 4, "grades": [{ "grade": 80, "mean": 75, "std": 8 }, { "grade": 85, "mean": 90, "std": 5 }] };
        update.apply(&mut d, Some(1), false).unwrap();
        assert_eq!(d.get_array("grades").unwrap()[1], Bson::from(doc! { "grade": 85, "mean": 90, "std": 6 }));
        let e = update.apply(&mut d, None, false).unwrap_err();
        assert_eq!(e.code, codes::BAD_VALUE);
        assert_eq!(e.message, "The positional operator did not find the match needed from the query.");
    }

    #[test]
    fn all_positional() {
        let d = updated(doc! { "_id": 1, "grades": [85, 82, 80] }, doc! { "$inc": { "grades.$[]": 10 } });
        assert_eq!(d, doc! { "_id": 1, "grades": [95, 92, 90] });
        let d = updated(
            doc! { "_id": 1, "grades": [{ "grade": 80, "mean": 75, "std": 8 }, { "grade": 85, "mean": 90, "std": 6 }] },
            doc! { "$inc": { "grades.$[].std": -2 } },
        );
        assert_eq!(d, doc! { "_id": 1, "grades": [{ "grade": 80, "mean": 75, "std": 6 }, { "grade": 85, "mean": 90, "std": 4 }] });
        // Nested $[].
        let d = updated(doc! { "_id": 1, "a": [[1, 2], [3]] }, doc! { "$inc": { "a.$[].$[]": 1 } });
        assert_eq!(d, doc! { "_id": 1, "a": [[2, 3], [4]] });
        // Errors: missing and non-array.
        let e = apply_err(doc! { "_id": 1 }, doc! { "$inc": { "a.$[]": 1 } });
        assert_eq!(e.message, "The path 'a' must exist in the document in order to apply array updates.");
        let e = apply_err(doc! { "_id": 1, "a": 5 }, doc! { "$inc": { "a.$[]": 1 } });
        assert_eq!(e.message, "Cannot apply array updates to non-array element a: 5");
    }

    // --- Errors ----------------------------------------------------------------------------------

    #[test]
    fn conflicting_paths() {
        let e = parse_err(doc! { "$set": { "a": 1 }, "$inc": { "a": 1 } });
        assert_eq!(e.code, codes::CONFLICTING_UPDATE_OPERATORS);
        assert_eq!(e.code_name, "ConflictingUpdateOperators");
        assert_eq!(e.message, "Updating the path 'a' would create a conflict at 'a'");
        assert_eq!(parse_err(doc! { "$set": { "a": 1, "a.b": 1 } }).message, "Updating the path 'a.b' would create a conflict at 'a'");
        assert_eq!(parse_err(doc! { "$set": { "a.b": 1, "a": 1 } }).message, "Updating the path 'a' would create a conflict at 'a'");
        assert_eq!(
            parse_err(doc! { "$set": { "a.b.c": 1 }, "$unset": { "a.b": 1 } }).message,
            "Updating the path 'a.b' would create a conflict at 'a.b'"
        );
        assert_eq!(parse_err(doc! { "$set": { "a.$[]": 1, "a.b": 1 } }).code, codes::CONFLICTING_UPDATE_OPERATORS);
        // Siblings and distinct prefixes are fine.
        assert!(parse(doc! { "$set": { "a.b": 1, "a.c": 1, "ab": 1 } }).is_ok());
    }

    #[test]
    fn path_not_viable() {
        let e = apply_err(doc! { "_id": 1, "a": 1 }, doc! { "$set": { "a.b": 1 } });
        assert_eq!(e.code, codes::PATH_NOT_VIABLE);
        assert_eq!(e.code_name, "PathNotViable");
        assert_eq!(e.message, "Cannot create field 'b' in element {a: 1}");
        let e = apply_err(doc! { "_id": 1, "a": [1, 2] }, doc! { "$set": { "a.b": 1 } });
        assert_eq!(e.message, "Cannot create field 'b' in element {a: [ 1, 2 ]}");
        let e = apply_err(doc! { "_id": 1, "a": { "b": null } }, doc! { "$inc": { "a.b.c.d": 1 } });
        assert_eq!(e.message, "Cannot create field 'c' in element {b: null}");
    }

    #[test]
    fn immutable_id() {
        let e = apply_err(doc! { "_id": 1, "a": 1 }, doc! { "$set": { "_id": 2 } });
        assert_eq!(e.code, codes::IMMUTABLE_FIELD);
        assert_eq!(e.code_name, "ImmutableField");
        assert_eq!(e.message, "Performing an update on the path '_id' would modify the immutable field '_id'");
        assert_eq!(apply_err(doc! { "_id": { "x": 1 } }, doc! { "$set": { "_id.x": 2 } }).code, codes::IMMUTABLE_FIELD);
        assert_eq!(apply_err(doc! { "_id": 1 }, doc! { "$unset": { "_id": 1 } }).code, codes::IMMUTABLE_FIELD);
        assert_eq!(apply_err(doc! { "_id": 1 }, doc! { "$inc": { "_id": 1 } }).code, codes::IMMUTABLE_FIELD);
        // Setting the same value is allowed (a no-op), another type of the same number is not.
        assert!(!run(doc! { "_id": 1, "a": 1 }, doc! { "$set": { "_id": 1 } }).1);
        assert_eq!(apply_err(doc! { "_id": 1 }, doc! { "$set": { "_id": 1.0 } }).code, codes::IMMUTABLE_FIELD);
        // An upsert's new document may get its _id.
        let mut d = doc! { "a": 1 };
        parse(doc! { "$setOnInsert": { "_id": 7 } }).unwrap().apply(&mut d, None, true).unwrap();
        assert_eq!(d.get("_id"), Some(&Bson::Int32(7)));
    }

    #[test]
    fn unknown_and_malformed_operators() {
        let e = parse_err(doc! { "$foo": { "a": 1 } });
        assert_eq!(e.code, codes::FAILED_TO_PARSE);
        assert_eq!(e.message, "Unknown modifier: $foo. Expected a valid update modifier or pipeline-style update specified as an array");
        let e = parse_err(doc! { "$set": { "a": 1 }, "b": 2 });
        assert_eq!(e.message, "Unknown modifier: b. Expected a valid update modifier or pipeline-style update specified as an array");
        let e = parse_err(doc! { "$set": 1 });
        assert_eq!(e.code, codes::FAILED_TO_PARSE);
        assert_eq!(
            e.message,
            "Modifiers operate on fields but we found type int instead. For example: {$mod: {<field>: ...}} not {$set: 1}"
        );
        assert_eq!(parse_err(doc! { "$set": { "": 1 } }).code, codes::EMPTY_FIELD_NAME);
        let e = parse_err(doc! { "$set": { "a..b": 1 } });
        assert_eq!(e.code, codes::EMPTY_FIELD_NAME);
        assert_eq!(e.message, "The update path 'a..b' contains an empty field name, which is not allowed.");
        assert_eq!(parse_err(doc! { "$set": { "a.$.b.$": 1 } }).code, codes::BAD_VALUE);
        assert_eq!(Update::parse(&Bson::Int32(1), &[], &vars()).unwrap_err().code, codes::TYPE_MISMATCH);
    }

    fn set_spec(path: &str, value: Bson) -> Document {
        let mut fields = Document::new();
        fields.insert(path, value);
        doc! { "$set": fields }
    }

    #[test]
    fn hostile_long_path_is_an_error_not_a_crash() {
        assert!(parse(set_spec(&vec!["a"; 5000].join("."), Bson::Int32(1))).is_err());
        // MongoDB's depth limit: a value at level 100 is fine, at 101 it is error 15.
        let d = updated(doc! { "_id": 1 }, set_spec(&vec!["a"; 100].join("."), Bson::Int32(1)));
        assert_eq!(super::super::value::depth(&d), 100);
        let e = apply_err(doc! { "_id": 1 }, set_spec(&vec!["a"; 101].join("."), Bson::Int32(1)));
        assert_eq!(e.code, codes::OVERFLOW);
        assert_eq!(e.message, "Document exceeds maximum nesting depth of 100");
        let e = apply_err(doc! { "_id": 1 }, set_spec(&vec!["a"; 100].join("."), Bson::from(doc! { "x": 1 })));
        assert_eq!(e.code, codes::OVERFLOW);
    }

    #[test]
    fn array_padding_is_limited() {
        let e = apply_err(doc! { "_id": 1, "a": [] }, set_spec("a.1500001", Bson::Int32(1)));
        assert_eq!(e.code, 34);
        assert_eq!(e.code_name, "CannotBackfillArray");
        assert_eq!(e.message, "can't backfill more than 1500000 elements");
        let e = apply_err(doc! { "_id": 1, "a": [] }, set_spec("a.99999999999.b", Bson::Int32(1)));
        assert_eq!(e.code, 34);
        // Non-creating operators on such a path do nothing.
        assert!(!run(doc! { "_id": 1, "a": [] }, doc! { "$unset": { "a.99999999": 1 }, "$pop": { "a.5000000": 1 } }).1);
    }

    #[test]
    fn dollar_prefixed_fields() {
        // A new top-level $-field is rejected when stored; nested ones are allowed (MongoDB 5.0+).
        let e = apply_err(doc! { "_id": 1 }, doc! { "$set": { "$x": 1 } });
        assert_eq!(e.code, codes::DOLLAR_PREFIXED_FIELD_NAME);
        assert!(e.message.starts_with("The dollar ($) prefixed field '$x' in '$x' is not allowed"), "{}", e.message);
        let d = updated(doc! { "_id": 1 }, doc! { "$set": { "a.$x": 1 } });
        assert_eq!(d, doc! { "_id": 1, "a": { "$x": 1 } });
        assert!(!run(doc! { "_id": 1 }, doc! { "$unset": { "$x": 1 } }).1);
        // $push without $each pushes the document as it is.
        let d = updated(doc! { "_id": 1 }, doc! { "$push": { "a": { "$slice": 2 } } });
        assert_eq!(d, doc! { "_id": 1, "a": [{ "$slice": 2 }] });
    }

    #[test]
    fn non_creating_operators_on_non_viable_paths() {
        let e = apply_err(doc! { "_id": 1, "a": 1 }, doc! { "$pop": { "a.b": 1 } });
        assert_eq!(e.code, codes::PATH_NOT_VIABLE);
        assert_eq!(e.message, "Cannot use the part (b) of (a.b) to traverse the element ({a: 1})");
        let e = apply_err(doc! { "_id": 1, "a": [1] }, doc! { "$pull": { "a.b.c": 1 } });
        assert_eq!(e.message, "Cannot use the part (b) of (a.b.c) to traverse the element ({a: [ 1 ]})");
        assert_eq!(apply_err(doc! { "_id": 1, "a": "s" }, doc! { "$pullAll": { "a.b": [1] } }).code, codes::PATH_NOT_VIABLE);
        // Missing but creatable paths: nothing to do; $unset never fails.
        assert!(!run(doc! { "_id": 1, "a": {} }, doc! { "$pop": { "a.b": 1 }, "$pull": { "x.y": 1 } }).1);
        assert!(!run(doc! { "_id": 1, "a": 1 }, doc! { "$unset": { "a.b": 1 } }).1);
    }

    #[test]
    fn upsert_document_gets_id_first_and_a_valid_id() {
        let update = parse(doc! { "$setOnInsert": { "_id": 5 } }).unwrap();
        let mut d = doc! { "a": 1 };
        update.apply(&mut d, None, true).unwrap();
        assert_same(&d, &doc! { "_id": 5, "a": 1 });
        let mut d = doc! { "a": 1 };
        let e = parse(doc! { "$set": { "_id": [1] } }).unwrap().apply(&mut d, None, true).unwrap_err();
        assert_eq!(e.code, codes::INVALID_ID_FIELD);
        assert_eq!(e.message, "The '_id' value cannot be of type array");
    }

    #[test]
    fn errors_come_in_application_order() {
        // "_id" is applied before "z": its error is the one reported.
        let e = apply_err(doc! { "_id": 1, "z": "x" }, doc! { "$inc": { "z": 1 }, "$set": { "_id": 2 } });
        assert_eq!(e.code, codes::IMMUTABLE_FIELD);
        let e = apply_err(doc! { "_id": 1, "a": "x" }, doc! { "$set": { "b.$y": 1 }, "$inc": { "a": 1 } });
        assert_eq!(e.code, codes::TYPE_MISMATCH);
    }

    #[test]
    fn all_or_nothing_on_a_late_error() {
        // "a" and "b" are applied before "z" fails: the document must be untouched.
        let e = apply_err(doc! { "_id": 1, "a": 1, "z": "x" }, doc! { "$set": { "a": 2, "b": 3 }, "$inc": { "z": 1 } });
        assert_eq!(e.code, codes::TYPE_MISMATCH);
        let e = apply_err(doc! { "_id": 1, "a": [1], "z": 1 }, doc! { "$push": { "a": 2 }, "$set": { "z.y": 1 } });
        assert_eq!(e.code, codes::PATH_NOT_VIABLE);
    }

    // --- Replacement -------------------------------------------------------------------------

    #[test]
    fn replacement_keeps_id_first() {
        let update = parse(doc! { "b": 2, "a": 1 }).unwrap();
        assert!(update.is_replacement());
        let mut d = doc! { "_id": 1, "x": 1 };
        assert!(update.apply(&mut d, None, false).unwrap());
        assert_same(&d, &doc! { "_id": 1, "b": 2, "a": 1 });
        let update = parse(doc! { "a": 1, "_id": 1 }).unwrap();
        let mut d = doc! { "_id": 1, "x": 1 };
        update.apply(&mut d, None, false).unwrap();
        assert_same(&d, &doc! { "_id": 1, "a": 1 });
        // The same document is not a modification; an empty replacement keeps only _id.
        assert!(!update.apply(&mut d, None, false).unwrap());
        let mut d = doc! { "_id": 1, "x": 1 };
        parse(doc! {}).unwrap().apply(&mut d, None, false).unwrap();
        assert_same(&d, &doc! { "_id": 1 });
    }

    #[test]
    fn replacement_errors() {
        let mut d = doc! { "_id": 1, "x": 1 };
        let e = parse(doc! { "_id": 2 }).unwrap().apply(&mut d, None, false).unwrap_err();
        assert_eq!(e.code, codes::IMMUTABLE_FIELD);
        // MongoDB 4.2+'s message (older servers said "The _id field cannot be changed from ...").
        assert_eq!(e.message, "After applying the update, the (immutable) field '_id' was found to have been altered to _id: 2");
        assert_same(&d, &doc! { "_id": 1, "x": 1 });
        let e = parse_err(doc! { "a": 1, "$set": { "b": 1 } });
        assert_eq!(e.code, codes::DOLLAR_PREFIXED_FIELD_NAME);
        assert!(e.message.starts_with("The dollar ($) prefixed field '$set' in '$set' is not allowed"), "{}", e.message);
    }

    #[test]
    fn positional_and_index_on_the_same_element_conflict() {
        let update = parse(doc! { "$set": { "a.$": 1, "a.0": 2 } }).unwrap();
        let mut d = doc! { "_id": 1, "a": [0, 0] };
        let e = update.apply(&mut d, Some(0), false).unwrap_err();
        assert_eq!(e.code, codes::CONFLICTING_UPDATE_OPERATORS);
        assert_eq!(e.message, "Update created a conflict at 'a.0'");
        assert!(update.apply(&mut d, Some(1), false).unwrap());
        assert_eq!(d, doc! { "_id": 1, "a": [2, 1] });
        // Different fields of the matched element merge.
        let update = parse(doc! { "$set": { "a.$.x": 1, "a.0.y": 2 } }).unwrap();
        let mut d = doc! { "_id": 1, "a": [{}] };
        update.apply(&mut d, Some(0), false).unwrap();
        assert_eq!(d, doc! { "_id": 1, "a": [{ "x": 1, "y": 2 }] });
    }

    #[test]
    fn set_on_insert_paths_still_conflict() {
        assert_eq!(parse_err(doc! { "$set": { "a": 1 }, "$setOnInsert": { "a.b": 1 } }).code, codes::CONFLICTING_UPDATE_OPERATORS);
    }

    #[test]
    fn array_update_failing_midway_changes_nothing() {
        let e = apply_err(doc! { "_id": 1, "a": [1, 2, "x", 4] }, doc! { "$inc": { "a.$[]": 1 } });
        assert_eq!(e.code, codes::TYPE_MISMATCH);
        assert_eq!(e.message, "Cannot apply $inc to a value of non-numeric type. {_id: 1} has the field '2' of non-numeric type string");
    }

    #[test]
    fn add_to_set_each_deduplicates_its_values() {
        let d = updated(doc! { "_id": 1 }, doc! { "$addToSet": { "a": { "$each": [1, 2, 1, 2.0, 3] } } });
        assert_eq!(d, doc! { "_id": 1, "a": [1, 2, 3] });
    }

    #[test]
    fn kinds() {
        let u = parse(doc! { "$set": { "a": 1 } }).unwrap();
        assert!(!u.is_replacement() && !u.uses_positional() && !u.is_pipeline());
        assert!(parse(doc! { "a": 1 }).unwrap().is_replacement());
    }

    #[test]
    fn replacement_storage_checks() {
        let mut deep = Bson::Int32(1);
        for _ in 0..100 {
            deep = Bson::from(doc! { "x": deep });
        }
        let mut d = doc! { "_id": 1 };
        let e = Update::parse(&Bson::from(doc! { "a": deep }), &[], &vars()).unwrap().apply(&mut d, None, false).unwrap_err();
        assert_eq!(e.code, codes::OVERFLOW);
        assert_eq!(d, doc! { "_id": 1 });
        let mut d = doc! {};
        let e = parse(doc! { "_id": [1], "a": 1 }).unwrap().apply(&mut d, None, true).unwrap_err();
        assert_eq!(e.code, codes::INVALID_ID_FIELD);
    }

    #[test]
    fn messages_print_values_as_mongodb() {
        assert_eq!(
            fmt_bson(&Bson::from(doc! { "a": 1, "b": "x", "c": [1.5, 2.0], "d": {} })),
            "{ a: 1, b: \"x\", c: [ 1.5, 2.0 ], d: {} }"
        );
        assert_eq!(fmt_elem("n", &Bson::Int64(3)), "n: 3");
        let doubles = [(5.0, "5.0"), (0.1 + 0.2, "0.3"), (1.0 / 3.0, "0.3333333333333333"), (1e20, "1e+20.0"), (-2.5e-7, "-2.5e-07")];
        for (d, text) in doubles {
            assert_eq!(fmt_bson(&Bson::Double(d)), text);
        }
        assert_eq!(fmt_bson(&Bson::Double(f64::NAN)), "nan.0");
        assert_eq!(fmt_bson(&Bson::Double(123456789012345680.0)), "1.234567890123457e+17");
    }
}

/// Tests that need the query language (`$pull` conditions, `arrayFilters`) or update pipelines
/// from the other helpers' modules.
#[cfg(test)]
mod cross_tests {
    use bson::{doc, Bson, Document};

    use super::*;

    fn vars() -> Variables {
        Variables::new(bson::DateTime::from_millis(1_700_000_000_000))
    }

    fn updated_with(doc: Document, spec: Bson, filters: &[Document]) -> Document {
        let mut d = doc;
        Update::parse(&spec, filters, &vars()).expect("parse").apply(&mut d, None, false).expect("apply");
        d
    }

    #[test]
    fn pull_stores_manual_example() {
        let spec = Bson::from(doc! { "$pull": { "fruits": { "$in": ["apples", "oranges"] }, "vegetables": "carrots" } });
        let d = updated_with(
            doc! { "_id": 1, "fruits": ["apples", "pears", "oranges", "grapes", "bananas"], "vegetables": ["carrots", "celery", "squash", "carrots"] },
            spec.clone(),
            &[],
        );
        assert_eq!(d, doc! { "_id": 1, "fruits": ["pears", "grapes", "bananas"], "vegetables": ["celery", "squash"] });
        let d = updated_with(
            doc! { "_id": 2, "fruits": ["plums", "kiwis", "oranges", "bananas", "apples"], "vegetables": ["broccoli", "zucchini", "carrots", "onions"] },
            spec,
            &[],
        );
        assert_eq!(d, doc! { "_id": 2, "fruits": ["plums", "kiwis", "bananas"], "vegetables": ["broccoli", "zucchini", "onions"] });
    }

    #[test]
    fn pull_conditions() {
        let d = updated_with(doc! { "_id": 1, "votes": [3, 5, 6, 7, 7, 8] }, Bson::from(doc! { "$pull": { "votes": { "$gte": 6 } } }), &[]);
        assert_eq!(d, doc! { "_id": 1, "votes": [3, 5] });
        let spec = Bson::from(doc! { "$pull": { "results": { "score": 8, "item": "B" } } });
        let d = updated_with(doc! { "_id": 1, "results": [{ "item": "A", "score": 5 }, { "item": "B", "score": 8 }] }, spec.clone(), &[]);
        assert_eq!(d, doc! { "_id": 1, "results": [{ "item": "A", "score": 5 }] });
        let d = updated_with(doc! { "_id": 2, "results": [{ "item": "C", "score": 8 }, { "item": "B", "score": 4 }] }, spec, &[]);
        assert_eq!(d, doc! { "_id": 2, "results": [{ "item": "C", "score": 8 }, { "item": "B", "score": 4 }] });
        let spec = Bson::from(doc! { "$pull": { "results": { "answers": { "$elemMatch": { "q": 2, "a": { "$gte": 8 } } } } } });
        let d = updated_with(
            doc! { "_id": 1, "results": [
                { "item": "A", "score": 5, "answers": [{ "q": 1, "a": 4 }, { "q": 2, "a": 6 }] },
                { "item": "B", "score": 8, "answers": [{ "q": 1, "a": 8 }, { "q": 2, "a": 9 }] }
            ] },
            spec,
            &[],
        );
        assert_eq!(d, doc! { "_id": 1, "results": [{ "item": "A", "score": 5, "answers": [{ "q": 1, "a": 4 }, { "q": 2, "a": 6 }] }] });
    }

    #[test]
    fn array_filters_students_examples() {
        let spec = Bson::from(doc! { "$set": { "grades.$[element]": 100 } });
        let filters = [doc! { "element": { "$gte": 100 } }];
        assert_eq!(
            updated_with(doc! { "_id": 1, "grades": [95, 92, 90] }, spec.clone(), &filters),
            doc! { "_id": 1, "grades": [95, 92, 90] }
        );
        assert_eq!(
            updated_with(doc! { "_id": 2, "grades": [98, 100, 102] }, spec.clone(), &filters),
            doc! { "_id": 2, "grades": [98, 100, 100] }
        );
        assert_eq!(updated_with(doc! { "_id": 3, "grades": [95, 110, 100] }, spec, &filters), doc! { "_id": 3, "grades": [95, 100, 100] });

        let d = updated_with(
            doc! { "_id": 1, "grades": [{ "grade": 80, "mean": 75, "std": 6 }, { "grade": 85, "mean": 90, "std": 4 }, { "grade": 85, "mean": 85, "std": 6 }] },
            Bson::from(doc! { "$set": { "grades.$[elem].mean": 100 } }),
            &[doc! { "elem.grade": { "$gte": 85 } }],
        );
        assert_eq!(
            d,
            doc! { "_id": 1, "grades": [{ "grade": 80, "mean": 75, "std": 6 }, { "grade": 85, "mean": 100, "std": 4 }, { "grade": 85, "mean": 100, "std": 6 }] }
        );
    }

    #[test]
    fn array_filters_with_several_conditions() {
        let d = updated_with(
            doc! { "_id": 1, "grades": [{ "grade": 80, "mean": 75, "std": 6 }, { "grade": 85, "mean": 90, "std": 4 }, { "grade": 85, "mean": 85, "std": 6 }] },
            Bson::from(doc! { "$inc": { "grades.$[elem].std": -1 } }),
            &[doc! { "elem.grade": { "$gte": 80 }, "elem.std": { "$gt": 5 } }],
        );
        assert_eq!(
            d,
            doc! { "_id": 1, "grades": [{ "grade": 80, "mean": 75, "std": 5 }, { "grade": 85, "mean": 90, "std": 4 }, { "grade": 85, "mean": 85, "std": 5 }] }
        );
        // $or across the identifier's fields; $ne on scalars.
        let d = updated_with(
            doc! { "_id": 1, "degrees": [{ "level": "Master" }, { "level": "Bachelor" }] },
            Bson::from(doc! { "$set": { "degrees.$[degree].gradcampaign": 1 } }),
            &[doc! { "degree.level": { "$ne": "Bachelor" } }],
        );
        assert_eq!(d, doc! { "_id": 1, "degrees": [{ "level": "Master", "gradcampaign": 1 }, { "level": "Bachelor" }] });
        let d = updated_with(
            doc! { "_id": 1, "a": [1, 5, 9] },
            Bson::from(doc! { "$set": { "a.$[x]": 0 } }),
            &[doc! { "$or": [{ "x": { "$lt": 2 } }, { "x": { "$gt": 8 } }] }],
        );
        assert_eq!(d, doc! { "_id": 1, "a": [0, 5, 0] });
    }

    #[test]
    fn pull_regex_and_in() {
        let d = updated_with(
            doc! { "_id": 1, "a": ["apple", "banana", "avocado", 1] },
            Bson::from(doc! { "$pull": { "a": bson::Regex { pattern: "^a".try_into().unwrap(), options: "".try_into().unwrap() } } }),
            &[],
        );
        assert_eq!(d, doc! { "_id": 1, "a": ["banana", 1] });
        // A document condition matches document elements only.
        let d = updated_with(doc! { "_id": 1, "a": [{ "x": 1 }, 1, { "x": 2 }] }, Bson::from(doc! { "$pull": { "a": { "x": 1 } } }), &[]);
        assert_eq!(d, doc! { "_id": 1, "a": [1, { "x": 2 }] });
    }

    #[test]
    fn array_filters_nested() {
        let students = doc! { "_id": 1, "grades": [
            { "type": "quiz", "questions": [10, 8, 5] },
            { "type": "quiz", "questions": [8, 9, 6] },
            { "type": "hw", "questions": [5, 4, 3] },
            { "type": "exam", "questions": [25, 10, 23, 0] }
        ] };
        let d = updated_with(
            students.clone(),
            Bson::from(doc! { "$inc": { "grades.$[t].questions.$[score]": 2 } }),
            &[doc! { "t.type": "quiz" }, doc! { "score": { "$gte": 8 } }],
        );
        assert_eq!(
            d,
            doc! { "_id": 1, "grades": [
                { "type": "quiz", "questions": [12, 10, 5] },
                { "type": "quiz", "questions": [10, 11, 6] },
                { "type": "hw", "questions": [5, 4, 3] },
                { "type": "exam", "questions": [25, 10, 23, 0] }
            ] }
        );
        let d =
            updated_with(students, Bson::from(doc! { "$inc": { "grades.$[].questions.$[score]": 2 } }), &[doc! { "score": { "$gte": 8 } }]);
        assert_eq!(
            d,
            doc! { "_id": 1, "grades": [
                { "type": "quiz", "questions": [12, 10, 5] },
                { "type": "quiz", "questions": [10, 11, 6] },
                { "type": "hw", "questions": [5, 4, 3] },
                { "type": "exam", "questions": [27, 12, 25, 0] }
            ] }
        );
    }

    #[test]
    fn update_pipeline_keeps_id() {
        let spec = Bson::Array(vec![Bson::from(doc! { "$set": { "total": { "$add": ["$a", "$b"] } } })]);
        let d = updated_with(doc! { "_id": 1, "a": 1, "b": 2 }, spec, &[]);
        assert_eq!(d, doc! { "_id": 1, "a": 1, "b": 2, "total": 3 });
        let spec = Bson::Array(vec![Bson::from(doc! { "$replaceWith": { "x": 1 } })]);
        let d = updated_with(doc! { "_id": 1, "a": 1 }, spec, &[]);
        assert_eq!(d, doc! { "_id": 1, "x": 1 });
        let spec = Bson::Array(vec![Bson::from(doc! { "$set": { "_id": 2 } })]);
        let mut d = doc! { "_id": 1 };
        let e = Update::parse(&spec, &[], &vars()).unwrap().apply(&mut d, None, false).unwrap_err();
        assert_eq!(e.code, codes::IMMUTABLE_FIELD);
    }
}

/// Array-filter parse errors that only need `Filter::parse` to succeed (the skeleton does).
#[cfg(test)]
mod array_filter_parse_tests {
    use bson::{doc, Bson};

    use super::*;

    fn parse_with(spec: bson::Document, filters: &[bson::Document]) -> Result<Update, DocError> {
        Update::parse(&Bson::from(spec), filters, &Variables::new(bson::DateTime::from_millis(0)))
    }

    #[test]
    fn identifier_errors() {
        let e = parse_with(doc! { "$set": { "grades.$[x]": 1 } }, &[]).unwrap_err();
        assert_eq!(e.code, codes::BAD_VALUE);
        assert_eq!(e.message, "No array filter found for identifier 'x' in path 'grades.$[x]'");
        let e = parse_with(doc! { "$set": { "grades.$[]": 1 } }, &[doc! { "x": 1 }]).unwrap_err();
        assert_eq!(e.code, codes::FAILED_TO_PARSE);
        assert!(e.message.starts_with("The array filter for identifier 'x' was not used in the update"), "{}", e.message);
        assert!(parse_with(doc! { "$set": { "a.$[x]": 1 } }, &[doc! { "x": 1 }, doc! { "x": 2 }]).is_err());
        assert!(parse_with(doc! { "$set": { "a.$[x]": 1 } }, &[doc! { "x": 1, "y": 2 }]).is_err());
        assert!(parse_with(doc! { "$set": { "a.$[X]": 1 } }, &[doc! { "X": 1 }]).is_err());
        assert!(parse_with(doc! { "$set": { "a.$[x]": 1 } }, &[doc! {}]).is_err());
        assert!(parse_with(doc! { "$set": { "a.$[x]": 1 } }, &[doc! { "x.a": 1, "x.b": 2 }]).is_ok());
        assert_eq!(
            Update::parse(&Bson::Array(vec![]), &[doc! { "x": 1 }], &Variables::new(bson::DateTime::from_millis(0))).unwrap_err().code,
            codes::FAILED_TO_PARSE
        );
    }

    #[test]
    fn banned_query_features() {
        let e = parse_with(doc! { "$set": { "a.$[x]": 1 } }, &[doc! { "$expr": { "$eq": ["$x", 1] } }]).unwrap_err();
        assert_eq!(e.code, 224);
        assert_eq!(e.message, "Error parsing array filter :: caused by :: $expr is not allowed in this context");
    }

    #[test]
    fn same_element_from_two_array_children_is_a_conflict() {
        // `$[]` and `$[x]` (a filter matching every element) both set element 0.
        let any = doc! { "x": { "$exists": true } };
        let update = parse_with(doc! { "$set": { "a.$[]": 1, "a.$[x]": 2 } }, std::slice::from_ref(&any)).unwrap();
        let mut d = doc! { "_id": 1, "a": [0] };
        let e = update.apply(&mut d, None, false).unwrap_err();
        assert_eq!(e.code, codes::CONFLICTING_UPDATE_OPERATORS);
        assert_eq!(e.message, "Update created a conflict at 'a.0'");
        // Different fields of the same element merge.
        let update = parse_with(doc! { "$set": { "a.$[].p": 1, "a.$[x].q": 2 } }, &[any]).unwrap();
        let mut d = doc! { "_id": 1, "a": [{}] };
        update.apply(&mut d, None, false).unwrap();
        assert_eq!(d, doc! { "_id": 1, "a": [{ "p": 1, "q": 2 }] });
    }
}
