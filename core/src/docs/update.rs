//! MongoDB's update language: update operator documents (`$set`, `$inc`, `$push`...), whole
//! document replacements, and update pipelines (an array of stages).
//!
//! Parsing builds a tree of the update's paths, as MongoDB does: object nodes (children by field
//! name, plus the positional `$` child), array nodes (children `$[]` and `$[<identifier>]`), and
//! leaves (one operator at one path). Two paths of one update that overlap (`a` and `a.b`, or
//! one path under two operators) are rejected at parse time (code 40).
//!
//! Invariants:
//! - `apply` is all-or-nothing: it first *plans* every change against the unmodified document
//!   (resolving `$`, `$[]` and array filters, checking path viability and types, computing each
//!   new value), then checks `_id` immutability, and only then *executes* the planned changes,
//!   which cannot fail. On error the document is untouched; nothing big is cloned on success.
//! - Children are applied in MongoDB's order (5.0+): field names lexicographically, numeric
//!   names numerically; a new field is appended, an existing one keeps its position.
//! - `apply` reports a change only when the document actually differs (a `$set` to the same
//!   value is not a modification, as `nModified` counts it).
//! - Recursion is bounded: paths have at most `MAX_PATH_COMPONENTS` components.

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
                // LEAD: switch to parse_update_pipeline
                let pipeline = Pipeline::parse(stages, vars)?;
                Ok(Update { kind: Kind::Pipeline(pipeline), uses_positional: false })
            }
            Bson::Document(d) => {
                let is_operators = d.keys().next().is_some_and(|k| k.starts_with('$'));
                if is_operators {
                    parse_operators(d, array_filters, vars)
                } else {
                    if !array_filters.is_empty() {
                        return Err(DocError::failed_to_parse("arrayFilters may not be specified for replacement-style updates"));
                    }
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
                check_id_unchanged(doc, &plan)?;
                let changed = !plan.is_empty();
                for m in plan {
                    exec_in_doc(doc, &m.steps, m.action);
                }
                Ok(changed)
            }
        }
    }
}

// --- Replacement and pipeline ----------------------------------------------------------------

fn id_changed_error(old: &Bson, new: &Bson) -> DocError {
    DocError::new(
        codes::IMMUTABLE_FIELD,
        "ImmutableField",
        format!("The _id field cannot be changed from {{{}}} to {{{}}}.", fmt_elem("_id", old), fmt_elem("_id", new)),
    )
}

/// The result document of a replacement-shaped update: `_id` kept (and first), unchanged.
fn with_original_id(original: &Document, new: Document) -> Result<Document, DocError> {
    let Some(old_id) = original.get("_id") else { return Ok(new) };
    let mut out = Document::new();
    match new.get("_id") {
        Some(new_id) if !equal(old_id, new_id) => return Err(id_changed_error(old_id, new_id)),
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
    if new == *doc {
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
    if new == *doc {
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
            let op = parse_op(op_name, path, value, vars)?;
            let comps = parse_path(path, &filters)?;
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
fn collect_filter_roots(filter: &Document, out: &mut Vec<String>, depth: usize) -> Result<(), DocError> {
    if depth > MAX_PATH_COMPONENTS {
        return Err(DocError::bad_value("Error parsing array filter :: caused by :: the filter is nested too deeply"));
    }
    for (k, v) in filter {
        if matches!(k.as_str(), "$and" | "$or" | "$nor") {
            if let Bson::Array(items) = v {
                for item in items {
                    if let Bson::Document(d) = item {
                        collect_filter_roots(d, out, depth + 1)?;
                    }
                }
            }
        } else if k.starts_with('$') {
            continue;
        } else {
            out.push(k.split('.').next().unwrap_or("").to_string());
        }
    }
    Ok(())
}

fn parse_array_filters(array_filters: &[Document], vars: &Variables) -> Result<Vec<(String, Filter)>, DocError> {
    let mut out: Vec<(String, Filter)> = Vec::new();
    for filter in array_filters {
        let mut roots = Vec::new();
        collect_filter_roots(filter, &mut roots, 0)?;
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
        out.push((id, Filter::parse(filter, vars)?));
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
        } else if part.starts_with('$') {
            return Err(DocError::new(
                codes::DOLLAR_PREFIXED_FIELD_NAME,
                "DollarPrefixedFieldName",
                format!("The dollar ($) prefixed field '{part}' in '{path}' is not valid for storage."),
            ));
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
            return Err(DocError::bad_value(format!(
                "Cannot have positional (i.e. '$') element in the first component in path '{path}'"
            )))
        }
        Comp::All | Comp::Ident(_) => {
            return Err(DocError::bad_value(format!(
                "Cannot have array filter identifier (i.e. '$[<id>]') element in the first component in path '{path}'"
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

fn parse_rename(builder: &mut TreeBuilder<'_>, from: &str, to: &Bson) -> Result<(), DocError> {
    let Bson::String(to_path) = to else {
        return Err(DocError::bad_value(format!("The 'to' field for $rename must be a string: {}", fmt_elem(from, to))));
    };
    if from == to_path {
        return Err(DocError::bad_value(format!("The source and target field for $rename must differ: {}", fmt_elem(from, to))));
    }
    let from_comps = parse_path(from, builder.filters)?;
    let to_comps = parse_path(to_path, builder.filters)?;
    if from_comps.iter().any(|c| !matches!(c, Comp::Field(_))) {
        return Err(DocError::bad_value(format!("The source field for $rename may not be dynamic: {}", fmt_elem(from, to))));
    }
    if to_comps.iter().any(|c| !matches!(c, Comp::Field(_))) {
        return Err(DocError::bad_value(format!("The destination field for $rename may not be dynamic: {}", fmt_elem(from, to))));
    }
    let n = from_comps.len().min(to_comps.len());
    if from_comps[..n] == to_comps[..n] {
        return Err(DocError::bad_value(format!(
            "The source and target field for $rename must not be on the same path: {}",
            fmt_elem(from, to)
        )));
    }
    let source: Vec<String> = from_comps.iter().map(Comp::text).collect();
    builder.insert(&from_comps, from, Leaf { op: Op::RenameSource })?;
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
                return Err(DocError::type_mismatch(format!(
                    "Cannot {verb} with non-numeric argument: {{{}}}",
                    fmt_elem(path, value)
                )));
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
        "$pop" => {
            let Some(n) = as_f64(value) else {
                return Err(DocError::bad_value(format!("Expected a number in: {}", fmt_elem(path, value))));
            };
            if n == 1.0 {
                Op::Pop(false)
            } else if n == -1.0 {
                Op::Pop(true)
            } else {
                return Err(DocError::bad_value(format!("$pop expects 1 or -1, found: {}", fmt_bson(value))));
            }
        }
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
        Some(n) if n == 1.0 => Some(true),
        Some(n) if n == -1.0 => Some(false),
        _ => None,
    }
}

fn parse_push_sort(v: &Bson) -> Result<PushSort, DocError> {
    match v {
        Bson::Document(d) => {
            if d.is_empty() {
                return Err(DocError::bad_value("The $sort pattern is empty when it should be a set of fields."));
            }
            let mut fields = Vec::new();
            for (k, dir) in d {
                if k.is_empty() || k.split('.').any(|p| p.is_empty()) || k.starts_with('$') {
                    return Err(DocError::bad_value(format!("The $sort field is a special element and must be 1 or -1: {k}")));
                }
                let Some(asc) = sort_direction(dir) else {
                    return Err(DocError::bad_value("The $sort element value must be either 1 or -1"));
                };
                fields.push((k.clone(), asc));
            }
            Ok(PushSort::Fields(fields))
        }
        _ => match sort_direction(v) {
            Some(asc) => Ok(PushSort::Whole(asc)),
            None => Err(DocError::bad_value(
                "The $sort is invalid: use 1/-1 to sort the whole element, or {field:1/-1} to sort embedded fields",
            )),
        },
    }
}

fn parse_add_to_set(value: &Bson) -> Result<Vec<Bson>, DocError> {
    let each = match value {
        Bson::Document(d) if d.keys().next().map(String::as_str) == Some("$each") => {
            if d.len() > 1 {
                return Err(DocError::bad_value(format!("Found unexpected fields after $each in $addToSet: {}", fmt_doc(d))));
            }
            match d.get("$each") {
                Some(Bson::Array(items)) => items.clone(),
                Some(other) => {
                    return Err(DocError::bad_value(format!(
                        "The argument to $each in $addToSet must be an array but it was of type {}",
                        type_name(other)
                    )))
                }
                None => Vec::new(),
            }
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
        return Err(DocError::bad_value(
            "You must pass in at least one bitwise operation. The format is: {$bit: {field: {and/or/xor: #}}",
        ));
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
    /// Cannot be created: `field` would have to go inside the element `name: value`.
    Blocked { name: &'a str, value: &'a Bson, field: &'a str },
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
            Node::Leaf(leaf) => self.plan_leaf(&leaf.op, cur, steps, out),
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
                    Some(i) => (Step::Index(i), a.get(i).map_or(Cur::Missing, Cur::Present)),
                    None => (Step::Field(name.clone()), Cur::Blocked { name: &cur_name, value: cur_value(cur), field: name }),
                },
                Cur::Present(v) => (Step::Field(name.clone()), Cur::Blocked { name: &cur_name, value: v, field: name }),
                Cur::Missing => (Step::Field(name.clone()), Cur::Missing),
                Cur::Blocked { .. } => (Step::Field(name.clone()), cur),
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
            Cur::Missing | Cur::Blocked { .. } => {
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

    fn plan_leaf(&self, op: &Op, cur: Cur<'_>, steps: &mut Vec<Step>, out: &mut Vec<Mutation>) -> Result<(), DocError> {
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
                if op.noop_when_missing() {
                    return Ok(());
                }
                return Err(not_viable(name, value, field));
            }
            Cur::Missing => None,
            Cur::Present(v) => Some(v),
        };
        let set = |out: &mut Vec<Mutation>, steps: &[Step], new: Bson| {
            if existing.is_none_or(|old| !same_value(old, &new)) {
                out.push(Mutation { steps: steps.to_vec(), action: Action::Set(new) });
            }
        };
        match op {
            Op::Set(v) | Op::SetOnInsert(v) | Op::CurrentDate(v) => set(out, steps, v.clone()),
            Op::Unset => {
                if let Some(old) = existing {
                    let in_array = matches!(steps.last(), Some(Step::Index(_)));
                    if !(in_array && matches!(old, Bson::Null)) {
                        out.push(Mutation { steps: steps.clone(), action: Action::Unset });
                    }
                }
            }
            Op::Inc(by) | Op::Mul(by) => {
                let (is_inc, name) = if matches!(op, Op::Inc(_)) { (true, "$inc") } else { (false, "$mul") };
                let new = match existing {
                    None if is_inc => by.clone(),
                    None => zero_like(by),
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
                            last_name(steps),
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
                Some(Bson::Array(a)) => {
                    if !a.is_empty() {
                        let items = if *first { a[1..].to_vec() } else { a[..a.len() - 1].to_vec() };
                        set(out, steps, Bson::Array(items));
                    }
                }
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
                            "Cannot apply $bit to a value of non-integral type.{{{}}} has the field {} of non-integer type {}",
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

    fn plan_rename(&self, source: &[String], cur: Cur<'_>, steps: &mut Vec<Step>, out: &mut Vec<Mutation>) -> Result<(), DocError> {
        let from = source.join(".");
        // The source: missing means no-op; it may not be inside an array.
        let mut value: Option<&Bson> = None;
        let mut container: Option<(&str, &Bson)> = None;
        let mut doc = self.root;
        for (i, comp) in source.iter().enumerate() {
            let Some(v) = doc.get(comp) else { return Ok(()) };
            let key = comp.as_str();
            if i + 1 == source.len() {
                value = Some(v);
                break;
            }
            match v {
                Bson::Document(d) => doc = d,
                Bson::Array(a) => {
                    let exists = numeric_component(&source[i + 1]).is_some_and(|idx| idx < a.len());
                    if !exists {
                        return Ok(());
                    }
                    container = Some((key, v));
                    break;
                }
                _ => return Ok(()),
            }
        }
        if let Some((name, array)) = container {
            return Err(DocError::bad_value(format!(
                "The source field cannot be an array element, '{from}' in doc with {} has an array field called '{name}'",
                fmt_elem(name, array)
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
                        fmt_elem(&key, v)
                    )))
                }
                _ => break,
            }
        }
        if let Cur::Blocked { name, value, field } = cur {
            return Err(not_viable(name, value, field));
        }
        out.push(Mutation { steps: steps.clone(), action: Action::Set(value.clone()) });
        out.push(Mutation { steps: source.iter().map(|s| Step::Field(s.clone())).collect(), action: Action::Unset });
        Ok(())
    }
}

fn cur_value<'a>(cur: Cur<'a>) -> &'a Bson {
    match cur {
        Cur::Present(v) => v,
        Cur::Blocked { value, .. } => value,
        Cur::Missing => &Bson::Null,
    }
}

fn not_viable(name: &str, value: &Bson, field: &str) -> DocError {
    DocError::new(
        codes::PATH_NOT_VIABLE,
        "PathNotViable",
        format!("Cannot create field '{field}' in element {{{}}}", fmt_elem(name, value)),
    )
}

/// Same type and bits (a `$set` of `1.0` over `1` is a change, as in MongoDB).
fn same_value(a: &Bson, b: &Bson) -> bool {
    match (a, b) {
        (Bson::Double(x), Bson::Double(y)) => x.to_bits() == y.to_bits(),
        _ => a == b,
    }
}

fn check_id_unchanged(doc: &Document, plan: &[Mutation]) -> Result<(), DocError> {
    let Some(old_id) = doc.get("_id") else { return Ok(()) };
    for m in plan {
        if m.steps.first() != Some(&Step::Field("_id".to_string())) {
            continue;
        }
        let harmless = m.steps.len() == 1 && matches!(&m.action, Action::Set(v) if equal(v, old_id));
        if !harmless {
            return Err(DocError::new(
                codes::IMMUTABLE_FIELD,
                "ImmutableField",
                format!("Performing an update on the path '{}' would modify the immutable field '_id'", dotted(&m.steps)),
            ));
        }
    }
    Ok(())
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

/// `$mul` of a missing field: zero of the multiplier's type.
fn zero_like(v: &Bson) -> Bson {
    match v {
        Bson::Int64(_) => Bson::Int64(0),
        Bson::Double(_) => Bson::Double(0.0),
        Bson::Decimal128(_) => decimal_from_str("0"),
        _ => Bson::Int32(0),
    }
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
        Bson::Double(d) if d.is_finite() => format!("{d:e}"),
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
            if d.is_finite() && d.fract() == 0.0 && d.abs() < 1e15 {
                let _ = write!(s, "{d:.1}");
            } else if d.is_nan() {
                s.push_str("nan.0");
            } else if d.is_infinite() {
                s.push_str(if *d > 0.0 { "inf.0" } else { "-inf.0" });
            } else {
                let _ = write!(s, "{d}");
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

/// A number as MongoDB's SafeNum prints it in overflow errors (`(NumberLong)9223372036854775807`).
fn debug_number(v: &Bson) -> String {
    match v {
        Bson::Int32(i) => format!("(NumberInt){i}"),
        Bson::Int64(i) => format!("(NumberLong){i}"),
        Bson::Double(d) => format!("(NumberDouble){d}"),
        other => format!("(NumberDecimal){}", fmt_bson(other)),
    }
}
