//! The query language: MongoDB's `find` filter (`Filter`), parsed once into a compact tree
//! (`Node`) and matched against documents without allocating in the common cases.
//!
//! Owns: parsing (operators `$eq $ne $gt $gte $lt $lte $in $nin $and $or $nor $not $exists $type
//! $regex/$options $elemMatch $size $all $mod $expr $comment`, plus `$alwaysTrue/$alwaysFalse`
//! and the bitwise `$bitsAllSet $bitsAnySet $bitsAllClear $bitsAnyClear`), matching, the
//! positional `$` match position, the `_id` equality fast path and the upsert equality seed.
//!
//! Invariants and semantics (MongoDB manual, and MongoDB's path iterator where the manual is
//! silent):
//! - Paths are split into components at parse time. Walking a path follows document fields
//!   until an array is met; a missing field, or a scalar before the end of the path, yields
//!   "missing". At an array with path left, each document element is walked with the rest of
//!   the path (one level of implicit traversal: arrays inside arrays are not entered), and the
//!   element whose index equals a numeric next component (`"items.0.sku"`) is also followed
//!   through the index; other elements are skipped. An array at the end of the path is
//!   offered element by element, then as a whole (`$size` and `$elemMatch` see only the whole
//!   array); a value reached through an index is not expanded. A leaf matches when any
//!   offered value matches.
//! - `$ne`, `$nin`, `$not` and `$exists: false` are negations of the positive form over the
//!   whole path (`{tags: {$ne: "a"}}` excludes documents whose array contains "a").
//! - Comparisons only match within a type bracket (`value::type_rank`); missing compares like
//!   null for `$eq/$gte/$lte null`; NaN equals only NaN; MinKey/MaxKey bound everything.
//!   `{a: null}` matches null and missing, not undefined (MongoDB 8.0).
//! - Positional `$` (`match_position`): the element index of the outermost array traversed
//!   implicitly by the leaf that matched (for `$elemMatch`, the matching element's index);
//!   with several conditions, the last one that recorded a position; `$or` takes its matching
//!   branch's; negations record nothing.
//! - `$regex` uses the `regex` crate: matching is linear time in the subject (no catastrophic
//!   backtracking on hostile patterns or documents). PCRE syntax is translated
//!   (`translate_pcre`: ASCII `\d \w \s \b` as in MongoDB's non-UCP PCRE, `$` without `m` also
//!   matching before a final newline, `\Q..\E`, comments, POSIX classes, literal braces,
//!   `\p{..}`/`\P{..}`/`\x{..}`); the translation follows the options in effect at each point,
//!   `$options` then inline settings (`(?m)`, `(?x-i:..)`, `(?^)`) scoped like PCRE's (to the
//!   end of the enclosing group), which the regex crate is handed too and scopes the same way;
//!   constructs that need backtracking (lookaround, backreferences, atomic groups, recursion,
//!   conditionals, possessive quantifiers) are refused with 51091 "Regular expression is
//!   invalid: ...".
//! - Parsing recursion is capped at `MAX_QUERY_DEPTH` (error 2); matching recursion is bounded
//!   by the parsed tree and the document depth (at most 100).
//! - `$expr` is only valid at the top level (not inside `$elemMatch`); its evaluation errors are
//!   the only matching errors.
//! - Raw BSON (`matches_raw`, `match_position_raw`): the same walk over `RawDocument` bytes,
//!   with exactly `matches(&Document::try_from(doc)?)`'s results for well-formed documents
//!   with unique field names (stored documents; with duplicate names the raw walk sees the
//!   first, decoding keeps the last value). Fields are found by a byte scan (`RawScan`: key
//!   bytes compared in place, values skipped by size, only the matched value decoded); arrays
//!   are walked as their document bytes (`Offer::Array`). Heap-free scalars (numbers, bool,
//!   null, dates, ObjectIds...) become a stack `Bson` for the shared predicate code; strings,
//!   documents, arrays, binaries, regexes and code are compared raw (`value::compare_raw`),
//!   nothing allocated. Fallbacks: `$expr` decodes the whole document (`needs_full_document`);
//!   an array element under an `$elemMatch` on documents is decoded (seen as the document of
//!   its indexes); DBPointer comparisons decode that value; regex values whose options are not
//!   sorted ASCII sort a copy (as decoding does); a leaf value of a rare type (binary, regex,
//!   code, symbol, DBPointer) is read by bson's element iterator (a second, slower scan of
//!   its document). Malformed bytes are an InternalError, never a panic; the scan stops at
//!   the fields it needs, so bytes it never reaches are not validated (stored documents are).
//! - Out of scope: `$where` and `$jsonSchema`/`$sampleRate` ("unknown top level operator"),
//!   geo operators ("unknown operator"), `$text` (27 IndexNotFound).

use std::cmp::Ordering;

use bson::{Bson, Document, RawArray, RawBsonRef, RawDocument};

use super::expr::{truthy, Expr, Variables};
use super::value::{self, compare, equal, type_number, type_number_of_alias, type_rank};
use super::DocError;

/// How deeply query operators may nest (`$and` in `$or` in `$elemMatch`...).
pub const MAX_QUERY_DEPTH: usize = 200;

/// A parsed query filter.
#[derive(Clone, Debug)]
pub struct Filter {
    root: Node,
    vars: Variables,
    is_empty: bool,
}

/// One component of a dotted path; `index` is set when the component is a canonical array
/// index ("0", "12", not "01").
#[derive(Clone, Debug)]
pub(crate) struct PathPart {
    pub(crate) name: String,
    pub(crate) index: Option<usize>,
}

/// A dotted path, pre-split. Empty `parts` means "the value itself" (inside `$elemMatch` on
/// values, e.g. `{$elemMatch: {$gte: 80}}`).
#[derive(Clone, Debug)]
pub struct Path {
    pub(crate) dotted: String,
    pub(crate) parts: Box<[PathPart]>,
}

/// The parsed filter tree. The index planner inspects it: equality and range predicates on a
/// path are `Leaf { path, pred: Pred::Eq | Pred::Cmp | Pred::In }` among the root `And`'s
/// children (the root is always an `And`). They match array elements too (multikey), and
/// `Eq(Null)` / an `In` with null also match missing fields.
#[derive(Clone, Debug)]
pub(crate) enum Node {
    /// All children match (`{}` is an empty `And`).
    And(Vec<Node>),
    /// Some child matches.
    Or(Vec<Node>),
    /// No child matches.
    Nor(Vec<Node>),
    /// The child does not match (`$not`, `$ne`, `$nin`, `$exists: false`).
    Not(Box<Node>),
    /// A predicate on the values a path reaches.
    Leaf { path: Path, pred: Pred },
    /// `$expr` (top level only).
    Expr(Box<Expr>),
    /// `$alwaysTrue` / `$alwaysFalse` / `$all: []`.
    Const(bool),
    /// `$text` (top level only): answered by the planner through the text index; evaluating
    /// it anywhere else is an error.
    Text(Box<Document>),
}

/// Comparison operators of range predicates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Lt,
    Lte,
    Gt,
    Gte,
}

/// Which bitwise test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BitsOp {
    AllSet,
    AnySet,
    AllClear,
    AnyClear,
}

/// A predicate on one value (`None` = missing).
#[derive(Clone, Debug)]
pub(crate) enum Pred {
    /// Equality (`{a: v}`, `$eq`); `Null` also matches missing.
    Eq(Bson),
    Cmp(CmpOp, Bson),
    In(Box<InSet>),
    /// `$exists: true` (false is `Not` of it).
    Exists,
    /// `$type`: a bit per type code (see `type_bit`).
    Type(u32),
    Regex(Box<QueryRegex>),
    Size(usize),
    Mod {
        divisor: i64,
        remainder: i64,
    },
    /// Bitwise tests at the listed bit positions.
    Bits(BitsOp, Box<[u32]>),
    /// `$elemMatch` on documents: some element document (or array element, seen as the
    /// document of its indexes) matches the sub-filter.
    ElemMatchDoc(Box<Node>),
    /// `$elemMatch` on values: some element satisfies the tree (whose leaves have empty paths).
    ElemMatchValue(Box<Node>),
}

/// The operand of `$in`: values sorted by `compare` (binary search), regexes, and whether null
/// (which also matches missing) is present.
#[derive(Clone, Debug)]
pub(crate) struct InSet {
    pub(crate) values: Vec<Bson>,
    pub(crate) regexes: Vec<QueryRegex>,
    pub(crate) has_null: bool,
}

/// A compiled `$regex`, with the pattern and options as written (regex values equal to it also
/// match).
#[derive(Clone, Debug)]
pub(crate) struct QueryRegex {
    pub(crate) pattern: String,
    pub(crate) options: String,
    re: regex::Regex,
}

/// What a node is matched against: a document, or one array element (`$elemMatch` values).
#[derive(Clone, Copy)]
enum Root<'a> {
    Doc(&'a Document),
    Value(&'a Bson),
}

impl Filter {
    /// Parse `filter` (errors: unknown operator, bad `$regex` / `$type` / `$size` argument...).
    /// `vars` are the command's variables, for `$expr`.
    pub fn parse(filter: &Document, vars: &Variables) -> Result<Filter, DocError> {
        let ctx = Ctx { whole_document: true };
        let root = parse_document(filter, ctx, 0)?;
        let is_empty = matches!(&root, Node::And(c) if c.is_empty());
        Ok(Filter { root, vars: vars.clone(), is_empty })
    }

    /// Whether `doc` matches (Err only from `$expr` evaluation errors).
    pub fn matches(&self, doc: &Document) -> Result<bool, DocError> {
        let mut pos = None;
        eval(&self.root, Root::Doc(doc), &self.vars, &mut pos)
    }

    /// For positional `$` (update and projection): the index, in the array the query
    /// traversed, of the element that made `doc` match. None when no array was traversed.
    pub fn match_position(&self, doc: &Document) -> Result<Option<usize>, DocError> {
        let mut pos = None;
        if eval(&self.root, Root::Doc(doc), &self.vars, &mut pos)? {
            Ok(pos)
        } else {
            Ok(None)
        }
    }

    /// `matches(&Document::try_from(doc)?)` over raw BSON, without decoding the document
    /// (except for `$expr`: see `needs_full_document`). Err from `$expr` evaluation, or for
    /// malformed bytes.
    pub fn matches_raw(&self, doc: &RawDocument) -> Result<bool, DocError> {
        let mut pos = None;
        eval_raw(&self.root, RawRoot::Doc(doc), &self.vars, &mut pos)
    }

    /// `match_position` over raw BSON.
    pub fn match_position_raw(&self, doc: &RawDocument) -> Result<Option<usize>, DocError> {
        let mut pos = None;
        if eval_raw(&self.root, RawRoot::Doc(doc), &self.vars, &mut pos)? {
            Ok(pos)
        } else {
            Ok(None)
        }
    }

    /// Whether `matches_raw` decodes the whole document anyway (the filter has `$expr`): a
    /// caller holding a decoded `Document` should then use `matches`.
    pub fn needs_full_document(&self) -> bool {
        self.root.has_expr()
    }

    /// The value when the filter is exactly one `_id` equality on a scalar (`{_id: v}` or
    /// `{_id: {$eq: v}}`, v not a document, array, regex or null): the `_id` index fast path.
    pub fn id_equality(&self) -> Option<&Bson> {
        let Node::And(children) = &self.root else { return None };
        let [Node::Leaf { path, pred: Pred::Eq(v) }] = children.as_slice() else { return None };
        (path.dotted == "_id" && super::value::is_id_lookup_value(v)).then_some(v)
    }

    /// The path and value of a filter that is exactly one equality to a scalar
    /// (`{"email": "a@b"}`), the shape a point lookup in an index answers.
    pub fn scalar_equality(&self) -> Option<(&str, &Bson)> {
        let Node::And(children) = &self.root else { return None };
        let [Node::Leaf { path, pred: Pred::Eq(v) }] = children.as_slice() else { return None };
        (super::value::is_id_lookup_value(v) && !matches!(v, Bson::MinKey | Bson::MaxKey)).then_some((path.dotted.as_str(), v))
    }

    /// The document an upsert starts from: the filter's equality fields (implicit `$eq`,
    /// `$eq`, inside top-level `$and`), dotted paths made nested (`{"a.b": 1}` -> `{a: {b: 1}}`).
    pub fn equality_seed(&self) -> Result<Document, DocError> {
        self.seed(false)
    }

    /// The document a replacement-style upsert starts from: only the `_id` equality (the rest of
    /// the document is the replacement's). An equality on a path inside `_id` (`{"_id.name":
    /// ..}`) is error 111 NotExactValueField: `_id` must be given whole, so that the order of
    /// its fields is not the query's (SERVER-17399; update-operator upserts build `_id` from
    /// such paths).
    pub fn replacement_seed(&self) -> Result<Document, DocError> {
        self.seed(true)
    }

    fn seed(&self, id_only: bool) -> Result<Document, DocError> {
        let mut found: Vec<(&Path, &Bson)> = Vec::new();
        collect_equalities(&self.root, &mut found);
        if id_only {
            found.retain(|(p, _)| p.parts[0].name == "_id");
            if let Some((inside, _)) = found.iter().find(|(p, _)| p.parts.len() > 1) {
                return Err(DocError::new(
                    super::error::codes::NOT_EXACT_VALUE_FIELD,
                    "NotExactValueField",
                    format!("field at '_id' must be exactly specified, field at sub-path '{}'found", inside.dotted),
                ));
            }
        }
        if let Some((deep, _)) = found.iter().find(|(p, _)| p.parts.len() > super::MAX_DEPTH) {
            return Err(DocError::new(
                super::error::codes::OVERFLOW,
                "Overflow",
                format!("cannot set '{}': the document would nest more than {} levels", deep.dotted, super::MAX_DEPTH),
            ));
        }
        for (i, (a, _)) in found.iter().enumerate() {
            for (b, _) in &found[..i] {
                if a.dotted == b.dotted {
                    return Err(not_single(format!("cannot infer query fields to set, path '{}' is matched twice", a.dotted)));
                }
                let (short, long) = if a.parts.len() < b.parts.len() { (a, b) } else { (b, a) };
                if short.parts.iter().zip(long.parts.iter()).all(|(x, y)| x.name == y.name) {
                    return Err(not_single(format!(
                        "cannot infer query fields to set, both paths '{}' and '{}' are matched",
                        short.dotted, long.dotted
                    )));
                }
            }
        }
        let mut out = Document::new();
        for (path, v) in found {
            insert_path(&mut out, &path.parts, v.clone());
        }
        Ok(out)
    }

    /// Whether the filter matches every document (`{}`).
    pub fn is_empty(&self) -> bool {
        self.is_empty
    }

    /// Whether the filter has a `$text` predicate.
    pub fn has_text(&self) -> bool {
        self.root.has_text()
    }

    /// The filter with `$text` taken as matching (the planner answers it from the index).
    pub fn without_text(&self) -> Filter {
        Filter { root: self.root.without_text(), vars: self.vars.clone(), is_empty: self.is_empty }
    }

    /// The parsed tree (for the index planner).
    pub(crate) fn root(&self) -> &Node {
        &self.root
    }
}

fn not_single(message: String) -> DocError {
    DocError::new(super::error::codes::NOT_SINGLE_VALUE_FIELD, "NotSingleValueField", message)
}

fn collect_equalities<'a>(node: &'a Node, out: &mut Vec<(&'a Path, &'a Bson)>) {
    match node {
        Node::And(children) => children.iter().for_each(|c| collect_equalities(c, out)),
        Node::Leaf { path, pred: Pred::Eq(v) } if !path.parts.is_empty() => out.push((path, v)),
        Node::Leaf { path, pred: Pred::In(set) } if set.regexes.is_empty() && set.values.len() == 1 && !path.parts.is_empty() => {
            out.push((path, &set.values[0]))
        }
        _ => {}
    }
}

/// Set `parts` in `doc` to `v`, creating documents along the way (iterative: paths may be long).
fn insert_path(doc: &mut Document, parts: &[PathPart], v: Bson) {
    let Some((last, init)) = parts.split_last() else { return };
    let mut current = doc;
    for part in init {
        if !matches!(current.get(&part.name), Some(Bson::Document(_))) {
            current.insert(part.name.clone(), Document::new());
        }
        current = match current.get_mut(&part.name) {
            Some(Bson::Document(sub)) => sub,
            _ => return,
        };
    }
    current.insert(last.name.clone(), v);
}

// --- Parsing ----------------------------------------------------------------------------------

#[derive(Clone, Copy)]
struct Ctx {
    /// The filter applies to the whole document (false inside `$elemMatch`, where `$expr`,
    /// `$where` and `$text` are refused).
    whole_document: bool,
}

fn check_depth(depth: usize) -> Result<(), DocError> {
    if depth > MAX_QUERY_DEPTH {
        Err(DocError::bad_value(format!("exceeded maximum query nesting depth of {MAX_QUERY_DEPTH}")))
    } else {
        Ok(())
    }
}

/// Top-level operators (those that take a whole filter, not a field's value).
fn is_top_level_operator(name: &str) -> bool {
    matches!(
        name,
        "$and"
            | "$or"
            | "$nor"
            | "$expr"
            | "$comment"
            | "$where"
            | "$text"
            | "$alwaysTrue"
            | "$alwaysFalse"
            | "$jsonSchema"
            | "$sampleRate"
    )
}

/// A filter document: an `And` of its entries.
fn parse_document(doc: &Document, ctx: Ctx, depth: usize) -> Result<Node, DocError> {
    check_depth(depth)?;
    let mut children = Vec::with_capacity(doc.len());
    for (key, value) in doc {
        // `$ref`/`$id`/`$db` at this level are DBRef fields (inside `$elemMatch`), not operators.
        let dbref_field = matches!(key.as_str(), "$ref" | "$id" | "$db");
        if let Some(op) = key.strip_prefix('$').filter(|_| !dbref_field) {
            match op {
                "and" | "or" | "nor" => {
                    let Bson::Array(items) = value else {
                        return Err(DocError::bad_value(format!("{key} must be an array")));
                    };
                    if items.is_empty() {
                        return Err(DocError::bad_value("$and/$or/$nor must be a nonempty array"));
                    }
                    let mut subs = Vec::with_capacity(items.len());
                    for item in items {
                        let Bson::Document(d) = item else {
                            return Err(DocError::bad_value("$or/$and/$nor entries need to be full objects"));
                        };
                        subs.push(parse_document(d, ctx, depth + 1)?);
                    }
                    children.push(match op {
                        "and" => Node::And(subs),
                        "or" if subs.len() == 1 => subs.pop().unwrap_or(Node::Const(false)),
                        "or" => Node::Or(subs),
                        _ => Node::Nor(subs),
                    });
                }
                "expr" => {
                    if !ctx.whole_document {
                        return Err(DocError::bad_value("$expr can only be applied to the top-level document"));
                    }
                    children.push(Node::Expr(Box::new(Expr::parse(value)?)));
                }
                "comment" => {}
                "alwaysTrue" | "alwaysFalse" => {
                    if !matches!(value, Bson::Int32(1) | Bson::Int64(1)) && value::as_f64(value) != Some(1.0) {
                        return Err(DocError::failed_to_parse(format!("{key} must be an integer value of 1")));
                    }
                    children.push(Node::Const(op == "alwaysTrue"));
                }
                "where" | "text" if !ctx.whole_document => {
                    return Err(DocError::bad_value(format!("{key} can only be applied to the top-level document")))
                }
                "text" => match value {
                    Bson::Document(d) => children.push(Node::Text(Box::new(d.clone()))),
                    other => {
                        return Err(DocError::bad_value(format!("$text expects an object, got {}", value::type_name(other))));
                    }
                },
                _ => return Err(DocError::bad_value(format!("unknown top level operator: {key}. If you have a field name that starts with a '$' symbol, consider using $getField or $setField."))),
            }
        } else {
            let path = Path::new(key);
            children.push(parse_field(path, value, depth + 1)?);
        }
    }
    Ok(Node::And(children))
}

impl Path {
    pub(crate) fn new(dotted: &str) -> Path {
        let parts =
            dotted.split('.').map(|p| PathPart { name: p.to_string(), index: array_index(p) }).collect::<Vec<_>>().into_boxed_slice();
        Path { dotted: dotted.to_string(), parts }
    }
    fn itself() -> Path {
        Path { dotted: String::new(), parts: Box::new([]) }
    }
}

/// A canonical array index: digits, no leading zero (except "0").
fn array_index(p: &str) -> Option<usize> {
    if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) || (p.len() > 1 && p.starts_with('0')) {
        return None;
    }
    p.parse().ok()
}

/// Whether a field's value is an operator document (`{$gt: 1}`) rather than a literal; DBRefs
/// (`{$ref, $id}`) are literals.
fn is_operator_document(d: &Document) -> bool {
    d.keys().next().is_some_and(|k| k.starts_with('$')) && !(d.contains_key("$ref") && d.contains_key("$id"))
}

fn leaf(path: &Path, pred: Pred) -> Node {
    Node::Leaf { path: path.clone(), pred }
}

fn single_or_and(mut nodes: Vec<Node>) -> Node {
    if nodes.len() == 1 {
        nodes.pop().unwrap_or(Node::And(Vec::new()))
    } else {
        Node::And(nodes)
    }
}

/// `{path: value}`: an operator document, a regex, or an equality.
fn parse_field(path: Path, value: &Bson, depth: usize) -> Result<Node, DocError> {
    check_depth(depth)?;
    match value {
        Bson::Document(d) if is_operator_document(d) => Ok(single_or_and(parse_operators(&path, d, depth)?)),
        Bson::RegularExpression(r) => Ok(leaf(&path, Pred::Regex(Box::new(QueryRegex::new(r.pattern.as_str(), r.options.as_str())?)))),
        Bson::Undefined => Err(DocError::bad_value("cannot compare to undefined")),
        _ => Ok(Node::Leaf { path, pred: Pred::Eq(value.clone()) }),
    }
}

/// The operators of one field's operator document, each a node on `path`. Kept small: it is
/// the recursive step of `$not`/`$elemMatch`/`$all` (the leaf operators are parsed in
/// `parse_leaf_operator`, outside the recursion's stack frames).
fn parse_operators(path: &Path, ops: &Document, depth: usize) -> Result<Vec<Node>, DocError> {
    check_depth(depth)?;
    let mut nodes = Vec::with_capacity(ops.len());
    let mut regex_done = false;
    for (key, arg) in ops {
        let node = match key.as_str() {
            "$all" => parse_all(path, arg, depth)?,
            "$elemMatch" => leaf(path, parse_elem_match(arg, depth)?),
            "$not" => Node::Not(Box::new(parse_not(path, arg, depth)?)),
            "$regex" | "$options" if regex_done => continue,
            "$regex" | "$options" => {
                regex_done = true;
                parse_leaf_operator(path, key, arg, ops)?
            }
            _ => parse_leaf_operator(path, key, arg, ops)?,
        };
        nodes.push(node);
    }
    Ok(nodes)
}

fn parse_not(path: &Path, arg: &Bson, depth: usize) -> Result<Node, DocError> {
    match arg {
        Bson::RegularExpression(r) => Ok(leaf(path, Pred::Regex(Box::new(QueryRegex::new(r.pattern.as_str(), r.options.as_str())?)))),
        Bson::Document(d) if d.is_empty() => Err(DocError::bad_value("$not cannot be empty")),
        Bson::Document(d) => {
            if let Some(k) = d.keys().find(|k| !k.starts_with('$')) {
                return Err(DocError::bad_value(format!("unknown operator: {k}")));
            }
            Ok(single_or_and(parse_operators(path, d, depth + 1)?))
        }
        _ => Err(DocError::bad_value("$not needs a regex or a document")),
    }
}

/// One operator that does not nest filters (`$gt`, `$in`, `$regex`...).
#[inline(never)]
fn parse_leaf_operator(path: &Path, key: &str, arg: &Bson, ops: &Document) -> Result<Node, DocError> {
    if matches!(arg, Bson::Undefined) && matches!(key, "$eq" | "$ne" | "$gt" | "$gte" | "$lt" | "$lte") {
        return Err(DocError::bad_value("cannot compare to undefined"));
    }
    Ok(match key {
        "$eq" => leaf(path, Pred::Eq(arg.clone())),
        "$ne" => {
            if matches!(arg, Bson::RegularExpression(_)) {
                return Err(DocError::bad_value("Can't have regex as arg to $ne."));
            }
            Node::Not(Box::new(leaf(path, Pred::Eq(arg.clone()))))
        }
        "$gt" | "$gte" | "$lt" | "$lte" => {
            if matches!(arg, Bson::RegularExpression(_)) {
                return Err(DocError::bad_value(format!("Can't have RegEx as arg to predicate over field '{}'.", path.dotted)));
            }
            let op = match key {
                "$gt" => CmpOp::Gt,
                "$gte" => CmpOp::Gte,
                "$lt" => CmpOp::Lt,
                _ => CmpOp::Lte,
            };
            leaf(path, Pred::Cmp(op, arg.clone()))
        }
        "$in" => leaf(path, Pred::In(Box::new(parse_in(arg, "$in")?))),
        "$nin" => Node::Not(Box::new(leaf(path, Pred::In(Box::new(parse_in(arg, "$nin")?))))),
        "$exists" => {
            if truth_value(arg) {
                leaf(path, Pred::Exists)
            } else {
                Node::Not(Box::new(leaf(path, Pred::Exists)))
            }
        }
        "$type" => leaf(path, Pred::Type(parse_type(&path.dotted, arg)?)),
        "$regex" | "$options" => leaf(path, Pred::Regex(Box::new(parse_regex_operator(ops)?))),
        "$size" => leaf(path, Pred::Size(parse_size(arg)?)),
        "$mod" => {
            let (divisor, remainder) = parse_mod(arg)?;
            leaf(path, Pred::Mod { divisor, remainder })
        }
        "$bitsAllSet" | "$bitsAnySet" | "$bitsAllClear" | "$bitsAnyClear" => {
            let op = match key {
                "$bitsAllSet" => BitsOp::AllSet,
                "$bitsAnySet" => BitsOp::AnySet,
                "$bitsAllClear" => BitsOp::AllClear,
                _ => BitsOp::AnyClear,
            };
            leaf(path, Pred::Bits(op, parse_bitmask(key, arg)?))
        }
        "$where" => return Err(DocError::bad_value("$where cannot be applied to a field")),
        _ => return Err(DocError::bad_value(format!("unknown operator: {key}"))),
    })
}

/// `$exists` and friends take any value by its truth (false, 0, null are false).
fn truth_value(v: &Bson) -> bool {
    match v {
        Bson::Boolean(b) => *b,
        Bson::Null | Bson::Undefined => false,
        v if value::is_number(v) => value::as_f64(v).map(|d| d != 0.0).unwrap_or(true),
        _ => true,
    }
}

fn parse_in(arg: &Bson, op: &str) -> Result<InSet, DocError> {
    let Bson::Array(items) = arg else {
        return Err(DocError::bad_value(format!("{op} needs an array")));
    };
    let mut set = InSet { values: Vec::with_capacity(items.len()), regexes: Vec::new(), has_null: false };
    for item in items {
        match item {
            Bson::RegularExpression(r) => set.regexes.push(QueryRegex::new(r.pattern.as_str(), r.options.as_str())?),
            Bson::Document(d) if is_operator_document(d) => return Err(DocError::bad_value("cannot nest $ under $in")),
            Bson::Undefined => return Err(DocError::bad_value("InMatchExpression equality cannot be undefined")),
            v => {
                if matches!(v, Bson::Null) {
                    set.has_null = true;
                }
                set.values.push(v.clone());
            }
        }
    }
    set.values.sort_by(compare);
    set.values.dedup_by(|a, b| equal(a, b));
    Ok(set)
}

/// The bit of a type code in a `$type` set.
fn type_bit(code: i32) -> u32 {
    match code {
        -1 => 1,
        127 => 1 << 20,
        c @ 1..=19 => 1 << c,
        _ => 0,
    }
}

const NUMBER_BITS: u32 = (1 << 1) | (1 << 16) | (1 << 18) | (1 << 19);

fn parse_type(path: &str, arg: &Bson) -> Result<u32, DocError> {
    fn one(v: &Bson) -> Result<u32, DocError> {
        match v {
            Bson::String(s) if s == "number" => Ok(NUMBER_BITS),
            Bson::String(s) if s == "missing" => {
                Err(DocError::bad_value("'missing' is not a legal type name. To query for non-existence of a field, use {$exists:false}."))
            }
            Bson::String(s) => match type_number_of_alias(s) {
                Some(code) => Ok(type_bit(code)),
                None => Err(DocError::bad_value(format!("Unknown type name alias: {s}"))),
            },
            v if value::is_number(v) => {
                let code = value::as_f64(v).unwrap_or(f64::NAN);
                let valid = code.fract() == 0.0 && (code == -1.0 || code == 127.0 || (1.0..=19.0).contains(&code));
                if code == 0.0 {
                    return Err(DocError::bad_value("Invalid numerical type code: 0. Instead use {$exists:false}."));
                }
                if !valid {
                    let shown = match v {
                        Bson::Double(d) => format!("{d}"),
                        other => value::as_i64(other).map(|i| i.to_string()).unwrap_or_else(|| format!("{other}")),
                    };
                    return Err(DocError::bad_value(format!("Invalid numerical type code: {shown}")));
                }
                Ok(type_bit(code as i32))
            }
            _ => Err(DocError::type_mismatch("type must be represented as a number or a string")),
        }
    }
    match arg {
        Bson::Array(items) => {
            if items.is_empty() {
                return Err(DocError::failed_to_parse(format!("{path} must match at least one type")));
            }
            items.iter().try_fold(0u32, |acc, v| Ok(acc | one(v)?))
        }
        v => one(v),
    }
}

fn parse_regex_operator(ops: &Document) -> Result<QueryRegex, DocError> {
    // As MongoDB: `$regex` and `$options` in either order; flags may come from a regex value or
    // from `$options`, not both (51074 when `$options` came first, 51075 otherwise).
    let mut pattern: Option<&str> = None;
    let mut options: &str = "";
    for (key, v) in ops {
        match (key.as_str(), v) {
            ("$regex", Bson::String(p)) => pattern = Some(p),
            ("$regex", Bson::RegularExpression(r)) => {
                pattern = Some(r.pattern.as_str());
                if !r.options.as_str().is_empty() {
                    if !options.is_empty() {
                        return Err(DocError::location(51074, "options set in both $regex and $options"));
                    }
                    options = r.options.as_str();
                }
            }
            ("$regex", _) => return Err(DocError::bad_value("$regex has to be a string")),
            ("$options", Bson::String(o)) => {
                if !options.is_empty() {
                    return Err(DocError::location(51075, "options set in both $regex and $options"));
                }
                options = o;
            }
            ("$options", _) => return Err(DocError::bad_value("$options has to be a string")),
            _ => {}
        }
    }
    match pattern {
        Some(p) => QueryRegex::new(p, options),
        None => Err(DocError::bad_value("$options needs a $regex")),
    }
}

fn parse_size(arg: &Bson) -> Result<usize, DocError> {
    let size: i64 = match arg {
        Bson::Int32(i) => i64::from(*i),
        Bson::Int64(i) if i32::try_from(*i).is_ok() => *i,
        Bson::Int64(_) => return Err(DocError::bad_value("$size must be representable as a 32-bit integer")),
        Bson::Double(d) if d.fract() == 0.0 && (f64::from(i32::MIN)..=f64::from(i32::MAX)).contains(d) => *d as i64,
        Bson::Double(_) => return Err(DocError::bad_value("$size must be a whole number")),
        _ => return Err(DocError::bad_value("$size needs a number")),
    };
    usize::try_from(size).map_err(|_| DocError::bad_value("$size may not be negative"))
}

/// A `$mod` number truncated to an integer (MongoDB truncates doubles and decimals).
fn mod_integer(v: &Bson, what: &str) -> Result<i64, DocError> {
    match v {
        Bson::Int32(i) => Ok(i64::from(*i)),
        Bson::Int64(i) => Ok(*i),
        v if value::is_number(v) => {
            let d = value::as_f64(v).unwrap_or(f64::NAN);
            if !d.is_finite() {
                return Err(DocError::bad_value(format!(
                    "malformed mod, {what} value is invalid :: caused by :: Unable to coerce NaN/Inf to integral type"
                )));
            }
            if d.trunc() >= 9.223_372_036_854_776e18 || d.trunc() < -9.223_372_036_854_776e18 {
                return Err(DocError::bad_value(format!(
                    "malformed mod, {what} value is invalid :: caused by :: Out of bounds coercing to integral value"
                )));
            }
            Ok(d.trunc() as i64)
        }
        _ => Err(DocError::bad_value(format!("malformed mod, {what} not a number"))),
    }
}

fn parse_mod(arg: &Bson) -> Result<(i64, i64), DocError> {
    let Bson::Array(items) = arg else {
        return Err(DocError::bad_value("malformed mod, needs to be an array"));
    };
    // MongoDB's order of checks: each element's presence, then its type, then the count.
    let Some(divisor) = items.first() else {
        return Err(DocError::bad_value("malformed mod, not enough elements"));
    };
    if !value::is_number(divisor) {
        return Err(DocError::bad_value("malformed mod, divisor not a number"));
    }
    let Some(remainder) = items.get(1) else {
        return Err(DocError::bad_value("malformed mod, not enough elements"));
    };
    if !value::is_number(remainder) {
        return Err(DocError::bad_value("malformed mod, remainder not a number"));
    }
    if items.len() > 2 {
        return Err(DocError::bad_value("malformed mod, too many elements"));
    }
    let divisor = mod_integer(divisor, "divisor")?;
    let remainder = mod_integer(remainder, "remainder")?;
    if divisor == 0 {
        return Err(DocError::bad_value("divisor cannot be 0"));
    }
    Ok((divisor, remainder))
}

/// The bit positions of a bitwise operator's argument: an array of positions, a non-negative
/// integer bitmask, or a BinData bitmask (bit 0 is the low bit of the first byte).
fn parse_bitmask(op: &str, arg: &Bson) -> Result<Box<[u32]>, DocError> {
    let mut positions = Vec::new();
    match arg {
        Bson::Array(items) => {
            for p in items {
                if !value::is_number(p) {
                    return Err(DocError::bad_value(format!("bit positions must be an integer but got: {p}")));
                }
                let d = value::as_f64(p).unwrap_or(f64::NAN);
                if d.is_nan() {
                    return Err(DocError::bad_value(format!("bit positions cannot take a NaN: {p}")));
                }
                if d > f64::from(i32::MAX) || d < f64::from(i32::MIN) {
                    return Err(DocError::bad_value(format!("bit positions cannot be represented as a 32-bit signed integer: {p}")));
                }
                if d.fract() != 0.0 {
                    return Err(DocError::bad_value(format!("bit positions must be an integer but got: {p}")));
                }
                if d < 0.0 {
                    return Err(DocError::bad_value(format!("bit positions must be >= 0 but got: {p}")));
                }
                positions.push(d as u32);
            }
        }
        Bson::Binary(b) => {
            for (i, byte) in b.bytes.iter().enumerate() {
                for bit in 0..8 {
                    if byte & (1 << bit) != 0 {
                        positions.push((i * 8 + bit) as u32);
                    }
                }
            }
        }
        v if value::is_number(v) => match value::as_i64(v) {
            Some(n) if n >= 0 => positions.extend((0..63).filter(|bit| n & (1 << bit) != 0)),
            Some(_) => return Err(DocError::bad_value(format!("Expected a positive number in: {op}: {v}"))),
            None => return Err(DocError::bad_value(format!("Expected an integer: {op}: {v}"))),
        },
        v => return Err(DocError::bad_value(format!("{op} takes an Array, a number, or a BinData but received: {v}"))),
    }
    Ok(positions.into_boxed_slice())
}

fn parse_all(path: &Path, arg: &Bson, depth: usize) -> Result<Node, DocError> {
    let Bson::Array(items) = arg else {
        return Err(DocError::bad_value("$all needs an array"));
    };
    let first_key = |v: &Bson| match v {
        Bson::Document(d) => d.keys().next().cloned(),
        _ => None,
    };
    let mut nodes = Vec::with_capacity(items.len());
    if items.first().and_then(first_key).as_deref() == Some("$elemMatch") {
        // `$all: [{$elemMatch: ...}, ...]`: every element must be an `$elemMatch`.
        for item in items {
            match (item, first_key(item).as_deref()) {
                (Bson::Document(d), Some("$elemMatch")) => {
                    nodes.push(leaf(path, parse_elem_match(d.get("$elemMatch").unwrap_or(&Bson::Null), depth)?))
                }
                _ => return Err(DocError::bad_value("$all/$elemMatch has to be consistent")),
            }
        }
    } else {
        for item in items {
            nodes.push(match item {
                Bson::RegularExpression(r) => leaf(path, Pred::Regex(Box::new(QueryRegex::new(r.pattern.as_str(), r.options.as_str())?))),
                Bson::Document(d) if d.keys().next().is_some_and(|k| is_field_operator(k)) => {
                    return Err(DocError::bad_value("no $ expressions in $all"))
                }
                v => leaf(path, Pred::Eq(v.clone())),
            });
        }
    }
    if nodes.is_empty() {
        return Ok(Node::Const(false));
    }
    Ok(single_or_and(nodes))
}

/// The operators that apply to a field (MongoDB's path-accepting keywords).
fn is_field_operator(name: &str) -> bool {
    matches!(
        name,
        "$eq"
            | "$ne"
            | "$gt"
            | "$gte"
            | "$lt"
            | "$lte"
            | "$in"
            | "$nin"
            | "$exists"
            | "$type"
            | "$regex"
            | "$options"
            | "$size"
            | "$all"
            | "$elemMatch"
            | "$mod"
            | "$bitsAllSet"
            | "$bitsAnySet"
            | "$bitsAllClear"
            | "$bitsAnyClear"
            | "$near"
            | "$nearSphere"
            | "$geoWithin"
            | "$within"
            | "$geoIntersects"
    )
}

fn parse_elem_match(arg: &Bson, depth: usize) -> Result<Pred, DocError> {
    check_depth(depth + 1)?;
    let Bson::Document(d) = arg else {
        return Err(DocError::bad_value("$elemMatch needs an Object"));
    };
    let inner = Ctx { whole_document: false };
    // The value form: operators on the element itself (`{$gte: 80}`); the first key decides, and
    // a DBRef-looking document (any of `$ref`, `$id`, `$db`) is the object form.
    let dbref_like = ["$ref", "$id", "$db"].iter().any(|k| d.contains_key(*k));
    let value_form = !dbref_like && d.keys().next().is_some_and(|k| k.starts_with('$') && !is_top_level_operator(k));
    if value_form {
        Ok(Pred::ElemMatchValue(Box::new(single_or_and(parse_operators(&Path::itself(), d, depth + 1)?))))
    } else {
        Ok(Pred::ElemMatchDoc(Box::new(parse_document(d, inner, depth + 1)?)))
    }
}

// --- Regular expressions ----------------------------------------------------------------------

fn invalid_regex(reason: impl std::fmt::Display) -> DocError {
    DocError::location(51091, format!("Regular expression is invalid: {reason}"))
}

impl QueryRegex {
    /// Compile a MongoDB (PCRE) regex with its option letters.
    pub(crate) fn new(pattern: &str, options: &str) -> Result<QueryRegex, DocError> {
        let mut builder_flags = (false, false, false, false); // i m s x
        for c in options.chars() {
            match c {
                'i' => builder_flags.0 = true,
                'm' => builder_flags.1 = true,
                's' => builder_flags.2 = true,
                'x' => builder_flags.3 = true,
                'u' => {}
                // MongoDB's message starts with a space.
                other => return Err(DocError::location(51108, format!(" invalid flag in regex options: {other}"))),
            }
        }
        if pattern.contains('\0') {
            return Err(DocError::bad_value("Regular expression cannot contain an embedded null byte"));
        }
        let translated = translate_pcre(pattern, builder_flags.1, builder_flags.3)?;
        let re = regex::RegexBuilder::new(&translated)
            .case_insensitive(builder_flags.0)
            .multi_line(builder_flags.1)
            .dot_matches_new_line(builder_flags.2)
            .ignore_whitespace(builder_flags.3)
            .size_limit(1 << 22)
            .dfa_size_limit(1 << 22)
            .build()
            .map_err(|e| invalid_regex(first_line(&e.to_string())))?;
        // Regex values match when pattern and flags are the same strings (MongoDB compares them
        // as written).
        Ok(QueryRegex { pattern: pattern.to_string(), options: options.to_string(), re })
    }

    fn matches_value(&self, v: &Bson) -> bool {
        match v {
            Bson::String(s) | Bson::Symbol(s) => self.re.is_match(s),
            Bson::RegularExpression(r) => r.pattern.as_str() == self.pattern && r.options.as_str() == self.options,
            _ => false,
        }
    }
}

fn first_line(s: &str) -> String {
    s.lines().rev().find(|l| l.starts_with("error:")).unwrap_or_else(|| s.lines().next().unwrap_or("")).trim().to_string()
}

/// Translate PCRE syntax to the `regex` crate's: ASCII `\d \w \s \b` (MongoDB's PCRE is not in
/// UCP mode), PCRE's `$` (end or before a final newline), `\Q..\E`, `(?#..)`, `\Z`, `\h`, `\N`,
/// `\e`, octal escapes, `\x`/`\o` code points, `\p` properties, literal `{`/`}` that are not
/// quantifiers, `[` `&` `~` `-` as class literals, and extended mode's literal whitespace inside
/// classes; reject constructs that need backtracking. `multi_line` and `extended` are the
/// `$options`; inline option settings change them for the rest of their group (a flag stack
/// pushed at each `(` and popped at its `)`).
fn translate_pcre(pattern: &str, multi_line: bool, extended: bool) -> Result<String, DocError> {
    const UNSUPPORTED: &str = "is not supported (the regex engine is linear-time, without backtracking)";
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len() + 8);
    // The options in effect at `i`, and those of each enclosing group (restored at its `)`).
    let mut flags = PcreFlags { multi_line, extended, extended_more: false };
    let mut enclosing: Vec<PcreFlags> = Vec::new();
    let mut i = 0;
    let mut in_class = false;
    let mut class_start = false;
    let mut last_was_quantifier = false;
    while i < chars.len() {
        let c = chars[i];
        let was_class_start = class_start;
        class_start = false;
        let mut quantifier = false;
        match c {
            '\\' => {
                let Some(&n) = chars.get(i + 1) else {
                    return Err(invalid_regex("\\ at end of pattern"));
                };
                i += 1;
                match n {
                    'd' => out.push_str(if in_class { "0-9" } else { "[0-9]" }),
                    'D' => out.push_str("[^0-9]"),
                    'w' => out.push_str(if in_class { "0-9A-Za-z_" } else { "[0-9A-Za-z_]" }),
                    'W' => out.push_str("[^0-9A-Za-z_]"),
                    's' => out.push_str(if in_class { "\\t\\n\\x0B\\x0C\\r\\x20" } else { "[\\t\\n\\x0B\\x0C\\r\\x20]" }),
                    'S' => out.push_str("[^\\t\\n\\x0B\\x0C\\r\\x20]"),
                    'h' => out.push_str(if in_class { "\\t\\x20\\xA0" } else { "[\\t\\x20\\xA0]" }),
                    'H' => out.push_str("[^\\t\\x20\\xA0]"),
                    'v' => out.push_str(if in_class {
                        "\\n\\x0B\\x0C\\r\\x85\\x{2028}\\x{2029}"
                    } else {
                        "[\\n\\x0B\\x0C\\r\\x85\\x{2028}\\x{2029}]"
                    }),
                    'V' => out.push_str("[^\\n\\x0B\\x0C\\r\\x85\\x{2028}\\x{2029}]"),
                    'N' if !in_class => out.push_str("[^\\n]"),
                    'e' => out.push_str("\\x1B"),
                    'a' => out.push_str("\\x07"),
                    'b' if in_class => out.push_str("\\x08"),
                    'b' => out.push_str("(?-u:\\b)"),
                    'B' => out.push_str("(?-u:\\B)"),
                    'Z' if !in_class => out.push_str("(?:\\n?\\z)"),
                    'A' | 'z' if !in_class => {
                        out.push('\\');
                        out.push(n);
                    }
                    'n' | 'r' | 't' | 'f' => {
                        out.push('\\');
                        out.push(n);
                    }
                    'x' | 'o' => i = translate_code_point(&chars, i, &mut out)?,
                    'p' | 'P' => i = translate_property(&chars, i, &mut out)?,
                    '0'..='7' if n == '0' || in_class => {
                        // Octal: up to three digits (`\0`, `\012`).
                        let mut code = n.to_digit(8).unwrap_or(0);
                        let mut taken = 1;
                        while taken < 3 {
                            match chars.get(i + 1).and_then(|d| d.to_digit(8)) {
                                Some(d) => {
                                    code = code * 8 + d;
                                    i += 1;
                                    taken += 1;
                                }
                                None => break,
                            }
                        }
                        out.push_str(&format!("\\x{{{code:X}}}"));
                    }
                    '1'..='9' | 'k' | 'g' => return Err(invalid_regex(format!("backreferences {UNSUPPORTED}"))),
                    'c' => {
                        let Some(&ctl) = chars.get(i + 1) else {
                            return Err(invalid_regex("\\c at end of pattern"));
                        };
                        i += 1;
                        let code = (ctl.to_ascii_uppercase() as u32) ^ 0x40;
                        out.push_str(&format!("\\x{{{code:X}}}"));
                    }
                    'Q' => {
                        let mut j = i + 1;
                        while j < chars.len() && !(chars[j] == '\\' && chars.get(j + 1) == Some(&'E')) {
                            push_literal(&mut out, chars[j]);
                            j += 1;
                        }
                        // Skip the `\E` (the loop's `i += 1` passes its `E`).
                        i = if j < chars.len() { j + 1 } else { j };
                    }
                    'E' => {}
                    n if n.is_ascii_alphanumeric() => return Err(invalid_regex(format!("\\{n} {UNSUPPORTED}"))),
                    n => push_literal(&mut out, n),
                }
            }
            '[' if in_class && chars.get(i + 1) == Some(&':') => {
                // A POSIX class (`[:alpha:]`), copied through to its `:]`.
                let rest: String = chars[i..].iter().collect();
                match rest.find(":]") {
                    Some(end) => {
                        out.push_str(&rest[..end + 2]);
                        i += rest[..end + 2].chars().count() - 1;
                    }
                    None => out.push_str("\\["),
                }
            }
            '[' if in_class => out.push_str("\\["),
            '[' => {
                in_class = true;
                class_start = true;
                out.push('[');
                if chars.get(i + 1) == Some(&'^') {
                    out.push('^');
                    i += 1;
                }
                // A leading ']' is a literal in PCRE.
                if chars.get(i + 1) == Some(&']') {
                    out.push_str("\\]");
                    i += 1;
                }
            }
            ']' if in_class => {
                in_class = false;
                out.push(']');
            }
            '&' | '~' | '-' if in_class => {
                // Rust treats `&&`, `~~` and `--` as set operations; PCRE has them as literals.
                if c == '-' && chars.get(i + 1) != Some(&'-') && !was_class_start {
                    out.push('-');
                } else {
                    push_literal(&mut out, c);
                }
            }
            ' ' | '\t' if in_class && flags.extended_more => {
                // `xx`: unescaped spaces and tabs inside classes are ignored.
            }
            c if in_class && flags.extended && (c.is_whitespace() || c == '#') => {
                // PCRE's extended mode keeps whitespace and `#` inside classes; Rust's does not.
                out.push_str(&format!("\\x{{{:X}}}", c as u32));
            }
            '#' if flags.extended => {
                // A comment, to the end of the line: dropped.
                while i + 1 < chars.len() && chars[i + 1] != '\n' {
                    i += 1;
                }
            }
            '$' if !in_class && !flags.multi_line => out.push_str("(?:\\n?\\z)"),
            '(' if !in_class && chars.get(i + 1) == Some(&'?') => {
                let rest: String = chars[i + 2..].iter().take(3).collect();
                if let Some((end, scoped, settings)) = inline_options(&chars, i + 2) {
                    // `(?m)` sets options to the end of the enclosing group, `(?m:...)` inside
                    // its own group: the regex crate scopes the flags it is given the same way.
                    if scoped {
                        enclosing.push(flags);
                    }
                    let letters = settings.apply(&mut flags);
                    out.push_str(match (letters.is_empty(), scoped) {
                        // PCRE's `(?)` (and a `(?^:` with nothing left to set): empty settings.
                        (true, false) => "(?:)",
                        (true, true) => "(?:",
                        (false, _) => "(?",
                    });
                    if !letters.is_empty() {
                        out.push_str(&letters);
                        out.push(if scoped { ':' } else { ')' });
                    }
                    i = end;
                } else if rest.starts_with('#') {
                    // A comment group: dropped.
                    while i < chars.len() && chars[i] != ')' {
                        i += 1;
                    }
                } else if rest.starts_with('=') || rest.starts_with('!') || rest.starts_with("<=") || rest.starts_with("<!") {
                    return Err(invalid_regex(format!("lookahead and lookbehind assertions {UNSUPPORTED}")));
                } else if rest.starts_with('>') {
                    return Err(invalid_regex(format!("atomic groups {UNSUPPORTED}")));
                } else if rest.starts_with('|') {
                    return Err(invalid_regex(format!("branch reset groups {UNSUPPORTED}")));
                } else if rest.starts_with("P=") || rest.starts_with("P>") || rest.starts_with('R') || rest.starts_with('&') {
                    return Err(invalid_regex(format!("backreferences and recursion {UNSUPPORTED}")));
                } else if rest.starts_with(|ch: char| ch.is_ascii_digit() || ch == '+')
                    || (rest.starts_with('-') && rest[1..].starts_with(|d: char| d.is_ascii_digit()))
                {
                    return Err(invalid_regex(format!("recursion {UNSUPPORTED}")));
                } else if rest.starts_with('(') {
                    return Err(invalid_regex(format!("conditional groups {UNSUPPORTED}")));
                } else if rest.starts_with('\'') {
                    // `(?'name'...)`: the `(?<name>...)` form.
                    let name_end = chars[i + 3..].iter().position(|&ch| ch == '\'').map(|p| i + 3 + p);
                    let Some(end) = name_end else {
                        return Err(invalid_regex("unterminated group name"));
                    };
                    out.push_str("(?<");
                    out.extend(&chars[i + 3..end]);
                    out.push('>');
                    enclosing.push(flags);
                    i = end;
                } else {
                    out.push('(');
                    enclosing.push(flags);
                }
            }
            '(' if !in_class => {
                out.push('(');
                enclosing.push(flags);
            }
            ')' if !in_class => {
                out.push(')');
                // An unbalanced `)` is the regex crate's error to report.
                if let Some(outer) = enclosing.pop() {
                    flags = outer;
                }
            }
            '{' if !in_class => match repetition_end(&chars, i) {
                Some(end) => {
                    if last_was_quantifier && chars.get(end + 1) == Some(&'+') {
                        return Err(invalid_regex(format!("possessive quantifiers {UNSUPPORTED}")));
                    }
                    out.extend(&chars[i..=end]);
                    i = end;
                    quantifier = true;
                }
                None => out.push_str("\\{"),
            },
            '}' if !in_class => out.push_str("\\}"),
            '*' | '+' | '?' if !in_class => {
                if c == '+' && last_was_quantifier {
                    return Err(invalid_regex(format!("possessive quantifiers {UNSUPPORTED}")));
                }
                out.push(c);
                // `x??`/`x*?` (lazy) are fine; `x?+` is possessive.
                quantifier = c != '?' || !last_was_quantifier;
            }
            c => out.push(c),
        }
        last_was_quantifier = quantifier;
        i += 1;
    }
    Ok(out)
}

/// The PCRE options that change how `translate_pcre` rewrites a pattern: `m` (what `$`
/// becomes), `x` (comments, whitespace inside classes) and `xx` (spaces and tabs inside classes
/// ignored).
#[derive(Clone, Copy, Debug)]
struct PcreFlags {
    multi_line: bool,
    extended: bool,
    extended_more: bool,
}

/// An inline option setting (`(?i)`, `(?m-s:`, `(?^x)`): the final state of each option it
/// names (`Some(true)` set, `Some(false)` unset).
#[derive(Default)]
struct InlineOptions {
    i: Option<bool>,
    m: Option<bool>,
    s: Option<bool>,
    x: Option<bool>,
    xx: Option<bool>,
    ungreedy: Option<bool>,
}

impl InlineOptions {
    /// Apply to the translator's flags; returns the regex crate's letters for the setting
    /// (`i-m`), empty when it names none of the crate's options.
    fn apply(&self, flags: &mut PcreFlags) -> String {
        if let Some(m) = self.m {
            flags.multi_line = m;
        }
        if let Some(x) = self.x {
            flags.extended = x;
            if !x {
                flags.extended_more = false;
            }
        }
        if let Some(xx) = self.xx {
            flags.extended_more = xx;
        }
        let (mut on, mut off) = (String::new(), String::new());
        for (letter, state) in [('i', self.i), ('m', self.m), ('s', self.s), ('x', self.x), ('U', self.ungreedy)] {
            match state {
                Some(true) => on.push(letter),
                Some(false) => off.push(letter),
                None => {}
            }
        }
        if off.is_empty() {
            on
        } else {
            format!("{on}-{off}")
        }
    }
}

/// An inline option setting starting after the `(?` at `start`: PCRE2's letters `i m n s x xx U
/// J`, a leading `^` (unset `imnsx`) and one `-` (unset the letters after it). Returns the index
/// of its `)` or `:`, whether it is a scoped group (`:`) and the settings; `None` when the group
/// is not an option setting. `n` (no automatic captures) and `J` (duplicate names) do not
/// change what matches and are dropped.
fn inline_options(chars: &[char], start: usize) -> Option<(usize, bool, InlineOptions)> {
    let mut opts = InlineOptions::default();
    let mut j = start;
    let mut value = true;
    if chars.get(j) == Some(&'^') {
        opts = InlineOptions { i: Some(false), m: Some(false), s: Some(false), x: Some(false), xx: Some(false), ungreedy: None };
        j += 1;
    }
    loop {
        match *chars.get(j)? {
            ')' => return Some((j, false, opts)),
            ':' if j > start => return Some((j, true, opts)),
            '-' if value && chars.get(start) != Some(&'^') => value = false,
            'i' => opts.i = Some(value),
            'm' => opts.m = Some(value),
            's' => opts.s = Some(value),
            'x' if chars.get(j + 1) == Some(&'x') => {
                opts.x = Some(value);
                opts.xx = Some(value);
                j += 1;
            }
            'x' => {
                opts.x = Some(value);
                if !value {
                    opts.xx = Some(false);
                }
            }
            'U' => opts.ungreedy = Some(value),
            'n' | 'J' => {}
            _ => return None,
        }
        j += 1;
    }
}

/// `\x` or `\o` at `chars[i]`: PCRE's `\xhh` (up to two hex digits), `\x{h..}` and `\o{o..}`
/// as the regex crate's `\x{h..}`. Returns the index of the escape's last character.
fn translate_code_point(chars: &[char], i: usize, out: &mut String) -> Result<usize, DocError> {
    let radix = if chars[i] == 'x' { 16 } else { 8 };
    let (digits, last) = if chars.get(i + 1) == Some(&'{') {
        let Some(close) = chars[i + 2..].iter().position(|&c| c == '}').map(|p| i + 2 + p) else {
            return Err(invalid_regex(format!("missing }} after \\{}{{", chars[i])));
        };
        (&chars[i + 2..close], close)
    } else if radix == 16 {
        let n = chars[i + 1..].iter().take(2).take_while(|c| c.is_ascii_hexdigit()).count();
        (&chars[i + 1..i + 1 + n], i + n)
    } else {
        return Err(invalid_regex("missing { after \\o"));
    };
    let mut code: u32 = 0;
    for d in digits {
        let Some(v) = d.to_digit(radix) else {
            return Err(invalid_regex(format!("non-{} character in \\{}{{}}", if radix == 16 { "hex" } else { "octal" }, chars[i])));
        };
        code = code
            .checked_mul(radix)
            .map(|c| c + v)
            .filter(|&c| c <= 0x10FFFF)
            .ok_or_else(|| invalid_regex("character code point value in \\x{} or \\o{} is too large"))?;
    }
    if digits.is_empty() && last != i {
        return Err(invalid_regex(format!("missing digits in \\{}{{}}", chars[i])));
    }
    if (0xD800..=0xDFFF).contains(&code) {
        return Err(invalid_regex("disallowed Unicode code point (>= 0xd800 && <= 0xdfff)"));
    }
    out.push_str(&format!("\\x{{{code:X}}}"));
    Ok(last)
}

/// `\p` or `\P` at `chars[i]`: PCRE's `\pL`, `\p{Lu}`, `\p{^Lu}` (negated), `\p{L&}` (cased
/// letter) and the special properties `Xan Xwd Xsp Xps` in the regex crate's syntax (which has
/// the same general categories and scripts; an unknown name is its error). Returns the index of
/// the escape's last character.
fn translate_property(chars: &[char], i: usize, out: &mut String) -> Result<usize, DocError> {
    let mut negated = chars[i] == 'P';
    let (mut name, last): (String, usize) = match chars.get(i + 1) {
        Some('{') => {
            let Some(close) = chars[i + 2..].iter().position(|&c| c == '}').map(|p| i + 2 + p) else {
                return Err(invalid_regex("malformed \\P or \\p sequence"));
            };
            (chars[i + 2..close].iter().collect(), close)
        }
        Some(&c) if c.is_ascii_alphabetic() => (c.to_string(), i + 1),
        _ => return Err(invalid_regex("malformed \\P or \\p sequence")),
    };
    if let Some(rest) = name.strip_prefix('^') {
        negated = !negated;
        name = rest.to_string();
    }
    // PCRE's special properties, as (nestable) classes.
    let special = match name.as_str() {
        "Xan" => Some("\\p{L}\\p{N}"),
        "Xwd" => Some("\\p{L}\\p{N}_"),
        "Xsp" | "Xps" => Some("\\p{Z}\\t\\n\\x0B\\x0C\\r"),
        _ => None,
    };
    if let Some(members) = special {
        out.push_str(if negated { "[^" } else { "[" });
        out.push_str(members);
        out.push(']');
        return Ok(last);
    }
    if name == "L&" {
        name = "LC".to_string();
    }
    if name.is_empty() || name.contains(['{', '}', '\\']) {
        return Err(invalid_regex("malformed \\P or \\p sequence"));
    }
    out.push_str(if negated { "\\P{" } else { "\\p{" });
    out.push_str(&name);
    out.push('}');
    Ok(last)
}

/// Where a `{n}`, `{n,}` or `{n,m}` quantifier starting at `start` ends (PCRE reads any other
/// `{` as a literal).
fn repetition_end(chars: &[char], start: usize) -> Option<usize> {
    let mut j = start + 1;
    let digits_from = j;
    while chars.get(j).is_some_and(char::is_ascii_digit) {
        j += 1;
    }
    if j == digits_from {
        return None;
    }
    if chars.get(j) == Some(&',') {
        j += 1;
        while chars.get(j).is_some_and(char::is_ascii_digit) {
            j += 1;
        }
    }
    (chars.get(j) == Some(&'}')).then_some(j)
}

fn push_literal(out: &mut String, c: char) {
    if c.is_ascii_punctuation() {
        out.push('\\');
        out.push(c);
    } else if c.is_whitespace() {
        out.push_str(&format!("\\x{{{:X}}}", c as u32));
    } else {
        out.push(c);
    }
}

// --- Matching ---------------------------------------------------------------------------------

fn eval(node: &Node, root: Root<'_>, vars: &Variables, pos: &mut Option<usize>) -> Result<bool, DocError> {
    match node {
        Node::And(children) => {
            for c in children {
                if !eval(c, root, vars, pos)? {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        Node::Or(children) => {
            let saved = *pos;
            for c in children {
                if eval(c, root, vars, pos)? {
                    return Ok(true);
                }
                *pos = saved;
            }
            Ok(false)
        }
        Node::Nor(children) => {
            for c in children {
                if eval(c, root, vars, &mut None)? {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        Node::Not(c) => Ok(!eval(c, root, vars, &mut None)?),
        Node::Const(b) => Ok(*b),
        Node::Text(_) => Err(text_outside_planner()),
        Node::Expr(e) => match root {
            Root::Doc(doc) => Ok(truthy(e.eval(doc, vars)?.as_ref())),
            Root::Value(_) => Ok(false),
        },
        Node::Leaf { path, pred } => Ok(match root {
            Root::Doc(doc) if !path.parts.is_empty() => {
                let mut hit = None;
                let is_elem_match = matches!(pred, Pred::ElemMatchDoc(_) | Pred::ElemMatchValue(_));
                let found = walk_doc(doc, &path.parts, pred.expands_leaf_arrays(), None, &mut |v, p| {
                    if is_elem_match {
                        // The matching element's index is the position, unless the array was
                        // itself reached through an array (the outer offset wins).
                        let at = v.and_then(|x| elem_match_index(pred, x, vars));
                        hit = p.or(at);
                        at.is_some()
                    } else if pred.matches(v, vars) {
                        hit = p;
                        true
                    } else {
                        false
                    }
                });
                if found && hit.is_some() {
                    *pos = hit;
                }
                found
            }
            Root::Value(v) if path.parts.is_empty() => pred.matches(Some(v), vars),
            // Not produced by the parser: empty paths only occur under `$elemMatch` on values,
            // whose nodes are matched against elements.
            Root::Doc(_) | Root::Value(_) => false,
        }),
    }
}

/// Offer `f` every value `parts` reaches in `doc`, with the array offset MongoDB records for
/// positional `$` (the outermost implicitly traversed array's element index); stop when `f`
/// returns true. Returns whether `f` did. `parts` is not empty.
///
/// Mirrors MongoDB's path iteration: documents are followed field by field until an array is
/// met (a scalar before the end of the path, or a missing field, yields "missing"); the array
/// is then iterated (`walk_array`).
fn walk_doc<'a, F>(doc: &'a Document, parts: &[PathPart], expand: bool, pos: Option<usize>, f: &mut F) -> bool
where
    F: FnMut(Option<&'a Bson>, Option<usize>) -> bool,
{
    let mut current = doc;
    let mut i = 0;
    loop {
        let Some(part) = parts.get(i) else { return false };
        let last = i + 1 == parts.len();
        match field(current, &part.name) {
            None => return f(None, pos),
            Some(Bson::Document(d)) if !last => {
                current = d;
                i += 1;
            }
            Some(array @ Bson::Array(_)) => return walk_array(array, &parts[i + 1..], expand, pos, f),
            Some(v) if last => return f(Some(v), pos),
            Some(_) => return f(None, pos),
        }
    }
}

/// `doc[name]`: a linear scan for small documents (cheaper than hashing the name), the map's
/// index otherwise.
#[inline]
fn field<'a>(doc: &'a Document, name: &str) -> Option<&'a Bson> {
    if doc.len() <= 8 {
        doc.iter().find(|(k, _)| k.as_str() == name).map(|(_, v)| v)
    } else {
        doc.get(name)
    }
}

/// Iterate `array` (a `Bson::Array`) with the path `rest` that follows it:
/// - `rest` empty (a leaf array): each element (when `expand`), then the array itself;
/// - otherwise, for each element: a document element is walked with `rest` (its results carry
///   the element's index); an element whose index equals a numeric `rest[0]` is also followed
///   through the index (yielded as is when the path ends there, walked with `rest[1..]` when
///   it is a document or an array). Other elements are skipped.
fn walk_array<'a, F>(array: &'a Bson, rest: &[PathPart], expand: bool, pos: Option<usize>, f: &mut F) -> bool
where
    F: FnMut(Option<&'a Bson>, Option<usize>) -> bool,
{
    let Bson::Array(items) = array else { return f(Some(array), pos) };
    let Some(first) = rest.first() else {
        if expand {
            for (j, e) in items.iter().enumerate() {
                if f(Some(e), pos.or(Some(j))) {
                    return true;
                }
            }
        }
        return f(Some(array), pos);
    };
    for (j, e) in items.iter().enumerate() {
        let offset_match = first.index == Some(j);
        if let Bson::Document(d) = e {
            if walk_doc(d, rest, expand, pos.or(Some(j)), f) {
                return true;
            }
        }
        if offset_match {
            let found = match (e, rest.len()) {
                (_, 1) => f(Some(e), pos),
                (Bson::Document(d), _) => walk_doc(d, &rest[1..], expand, pos, f),
                (Bson::Array(_), _) => walk_array(e, &rest[1..], expand, pos, f),
                _ => false,
            };
            if found {
                return true;
            }
        }
    }
    false
}

impl Pred {
    /// Whether the values inside an array at the end of the path are offered one by one.
    fn expands_leaf_arrays(&self) -> bool {
        !matches!(self, Pred::Size(_) | Pred::ElemMatchDoc(_) | Pred::ElemMatchValue(_) | Pred::Exists)
    }

    fn matches(&self, v: Option<&Bson>, vars: &Variables) -> bool {
        match self {
            Pred::Eq(target) => match (v, target) {
                (None, Bson::Null) => true,
                (None, _) => false,
                (Some(Bson::Undefined), Bson::Null) => false,
                (Some(x), t) => type_rank(x) == type_rank(t) && equal(x, t),
            },
            Pred::Cmp(op, target) => compare_matches(*op, v, target),
            Pred::In(set) => match v {
                None => set.has_null,
                Some(Bson::Undefined) => false,
                Some(x) => set.values.binary_search_by(|probe| compare(probe, x)).is_ok() || set.regexes.iter().any(|r| r.matches_value(x)),
            },
            Pred::Exists => v.is_some(),
            Pred::Type(bits) => v.is_some_and(|x| bits & type_bit(type_number(x)) != 0),
            Pred::Regex(r) => v.is_some_and(|x| r.matches_value(x)),
            Pred::Size(n) => matches!(v, Some(Bson::Array(a)) if a.len() == *n),
            Pred::Mod { divisor, remainder } => v.and_then(mod_value).is_some_and(|x| x.wrapping_rem(*divisor) == *remainder),
            Pred::Bits(op, positions) => match v.and_then(BitSource::of) {
                None => false,
                Some(src) => match op {
                    BitsOp::AllSet => positions.iter().all(|&p| src.bit(p)),
                    BitsOp::AnySet => positions.iter().any(|&p| src.bit(p)),
                    BitsOp::AllClear => positions.iter().all(|&p| !src.bit(p)),
                    BitsOp::AnyClear => positions.iter().any(|&p| !src.bit(p)),
                },
            },
            Pred::ElemMatchDoc(node) => match v {
                Some(Bson::Array(items)) => items.iter().any(|e| element_matches_document_filter(node, e, vars)),
                _ => false,
            },
            Pred::ElemMatchValue(node) => match v {
                Some(Bson::Array(items)) => items.iter().any(|e| eval(node, Root::Value(e), vars, &mut None).unwrap_or(false)),
                _ => false,
            },
        }
    }
}

/// `$elemMatch`: the index of the first element that matches (the positional `$` of an
/// `$elemMatch` query); None when `v` is not an array or no element matches.
fn elem_match_index(pred: &Pred, v: &Bson, vars: &Variables) -> Option<usize> {
    let Bson::Array(items) = v else { return None };
    items.iter().position(|e| match pred {
        Pred::ElemMatchDoc(node) => element_matches_document_filter(node, e, vars),
        Pred::ElemMatchValue(node) => eval(node, Root::Value(e), vars, &mut None).unwrap_or(false),
        _ => false,
    })
}

/// `$elemMatch` on documents: a document element is matched by the sub-filter; an array
/// element too, as the document of its indexes (`{"0": .., "1": ..}`, as MongoDB sees
/// arrays); scalars never match. (The sub-filter has no `$expr`, so it cannot fail.)
fn element_matches_document_filter(node: &Node, element: &Bson, vars: &Variables) -> bool {
    match element {
        Bson::Document(d) => eval(node, Root::Doc(d), vars, &mut None).unwrap_or(false),
        Bson::Array(items) => {
            let as_document: Document = items.iter().enumerate().map(|(i, e)| (i.to_string(), e.clone())).collect();
            eval(node, Root::Doc(&as_document), vars, &mut None).unwrap_or(false)
        }
        _ => false,
    }
}

fn compare_matches(op: CmpOp, v: Option<&Bson>, target: &Bson) -> bool {
    let inclusive = matches!(op, CmpOp::Lte | CmpOp::Gte);
    let Some(x) = v else {
        // Missing compares like null; MinKey/MaxKey bound it.
        return match target {
            Bson::Null => inclusive,
            Bson::MinKey => matches!(op, CmpOp::Gt | CmpOp::Gte),
            Bson::MaxKey => matches!(op, CmpOp::Lt | CmpOp::Lte),
            _ => false,
        };
    };
    if type_rank(x) != type_rank(target) {
        return match target {
            Bson::MinKey => matches!(op, CmpOp::Gt | CmpOp::Gte),
            Bson::MaxKey => matches!(op, CmpOp::Lt | CmpOp::Lte),
            _ => false,
        };
    }
    if value::is_number(x) {
        let (a, b) = (value::as_f64(x).unwrap_or(0.0), value::as_f64(target).unwrap_or(0.0));
        if a.is_nan() || b.is_nan() {
            return inclusive && a.is_nan() && b.is_nan();
        }
    }
    let ord = compare(x, target);
    match op {
        CmpOp::Lt => ord == Ordering::Less,
        CmpOp::Lte => ord != Ordering::Greater,
        CmpOp::Gt => ord == Ordering::Greater,
        CmpOp::Gte => ord != Ordering::Less,
    }
}

fn mod_value(v: &Bson) -> Option<i64> {
    match v {
        Bson::Int32(i) => Some(i64::from(*i)),
        Bson::Int64(i) => Some(*i),
        v if value::is_number(v) => {
            let d = value::as_f64(v)?.trunc();
            (d.is_finite() && (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&d)).then_some(d as i64)
        }
        _ => None,
    }
}

/// What a bitwise operator tests: an integral number (two's complement, sign-extended past
/// bit 63) or BinData bytes (missing bytes are zero).
enum BitSource<'a> {
    Integer(i64),
    Bytes(&'a [u8]),
}

impl<'a> BitSource<'a> {
    fn of(v: &'a Bson) -> Option<BitSource<'a>> {
        match v {
            Bson::Int32(i) => Some(BitSource::Integer(i64::from(*i))),
            Bson::Int64(i) => Some(BitSource::Integer(*i)),
            Bson::Double(_) | Bson::Decimal128(_) => {
                let d = value::as_f64(v)?;
                (d.fract() == 0.0 && (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&d))
                    .then_some(BitSource::Integer(d as i64))
            }
            Bson::Binary(b) => Some(BitSource::Bytes(&b.bytes)),
            _ => None,
        }
    }

    fn bit(&self, position: u32) -> bool {
        match self {
            BitSource::Integer(x) => (x >> position.min(63)) & 1 == 1,
            BitSource::Bytes(bytes) => bytes.get((position / 8) as usize).is_some_and(|byte| byte >> (position % 8) & 1 == 1),
        }
    }
}

// --- Matching raw BSON ------------------------------------------------------------------------
//
// `matches_raw` / `match_position_raw`: the same tree walk as `eval` / `walk_doc` /
// `walk_array`, over `RawDocument` bytes (see the module comment for what is raw and what
// falls back to decoding).

/// What a node is matched against, raw.
#[derive(Clone, Copy)]
enum RawRoot<'a> {
    Doc(&'a RawDocument),
    Value(RawBsonRef<'a>),
}

fn eval_raw(node: &Node, root: RawRoot<'_>, vars: &Variables, pos: &mut Option<usize>) -> Result<bool, DocError> {
    match node {
        Node::And(children) => {
            for c in children {
                if !eval_raw(c, root, vars, pos)? {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        Node::Or(children) => {
            let saved = *pos;
            for c in children {
                if eval_raw(c, root, vars, pos)? {
                    return Ok(true);
                }
                *pos = saved;
            }
            Ok(false)
        }
        Node::Nor(children) => {
            for c in children {
                if eval_raw(c, root, vars, &mut None)? {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        Node::Not(c) => Ok(!eval_raw(c, root, vars, &mut None)?),
        Node::Const(b) => Ok(*b),
        Node::Text(_) => Err(text_outside_planner()),
        // Fallback: `$expr` evaluates over a decoded document.
        Node::Expr(e) => match root {
            RawRoot::Doc(doc) => {
                let decoded = Document::try_from(doc).map_err(value::raw_error)?;
                Ok(truthy(e.eval(&decoded, vars)?.as_ref()))
            }
            RawRoot::Value(_) => Ok(false),
        },
        Node::Leaf { path, pred } => match root {
            RawRoot::Doc(doc) if !path.parts.is_empty() => {
                let mut hit = None;
                let is_elem_match = matches!(pred, Pred::ElemMatchDoc(_) | Pred::ElemMatchValue(_));
                let found = walk_raw_doc(doc, &path.parts, pred.expands_leaf_arrays(), None, &mut |v, p| {
                    if is_elem_match {
                        let at = match v {
                            Some(x) => elem_match_index_offer(pred, x, vars)?,
                            None => None,
                        };
                        hit = p.or(at);
                        Ok(at.is_some())
                    } else if pred.matches_offer(v, vars)? {
                        hit = p;
                        Ok(true)
                    } else {
                        Ok(false)
                    }
                })?;
                if found && hit.is_some() {
                    *pos = hit;
                }
                Ok(found)
            }
            RawRoot::Value(v) if path.parts.is_empty() => pred.matches_raw(Some(v), vars),
            RawRoot::Doc(_) | RawRoot::Value(_) => Ok(false),
        },
    }
}

/// A value the raw walk offers: a decoded `RawBsonRef`, or an array as its document bytes
/// (bson has no public way to view sub-slices as `RawArray`s without its slow iterator).
#[derive(Clone, Copy)]
enum Offer<'a> {
    Val(RawBsonRef<'a>),
    Array(&'a RawDocument),
}

/// One element of a raw document, as `RawScan` finds it (value not yet validated).
#[derive(Clone, Copy)]
struct RawElem<'a> {
    kind: u8,
    value: &'a [u8],
    /// The element's position in its document (array index for arrays).
    index: usize,
}

/// A fast scan over a raw document's elements: key bytes are compared as they are (no UTF-8
/// validation of keys that do not match), values are skipped by their size.
struct RawScan<'a> {
    bytes: &'a [u8],
    at: usize,
    index: usize,
}

/// Malformed raw bytes, found by the scan (a zero-sized error keeps the scan's results small;
/// it becomes a `DocError` at the caller).
#[derive(Debug)]
struct Malformed;

impl From<Malformed> for DocError {
    fn from(_: Malformed) -> DocError {
        value::raw_error("element overruns its document")
    }
}

/// A little-endian length at `at` (non-negative).
#[inline(always)]
fn read_len(b: &[u8], at: usize) -> Result<usize, Malformed> {
    let raw: [u8; 4] = b.get(at..at + 4).and_then(|s| s.try_into().ok()).ok_or(Malformed)?;
    usize::try_from(i32::from_le_bytes(raw)).map_err(|_| Malformed)
}

/// The size of the value of type `kind` starting at `v`.
#[inline(always)]
fn value_size(kind: u8, b: &[u8], v: usize) -> Result<usize, Malformed> {
    Ok(match kind {
        0x01 | 0x09 | 0x11 | 0x12 => 8,
        0x10 => 4,
        0x08 => 1,
        0x07 => 12,
        0x13 => 16,
        0x06 | 0x0A | 0x7F | 0xFF => 0,
        // string, code, symbol: length (with its NUL), bytes
        0x02 | 0x0D | 0x0E => 4 + read_len(b, v)?,
        // document, array, code with scope: total length
        0x03 | 0x04 | 0x0F => read_len(b, v)?,
        // binary: length, subtype, bytes
        0x05 => 5 + read_len(b, v)?,
        // DBPointer: string, ObjectId
        0x0C => 4 + read_len(b, v)? + 12,
        // regex: two C strings
        0x0B => {
            let rest = b.get(v..).ok_or(Malformed)?;
            let p = rest.iter().position(|&c| c == 0).ok_or(Malformed)?;
            let o = rest.get(p + 1..).and_then(|r| r.iter().position(|&c| c == 0)).ok_or(Malformed)?;
            p + 1 + o + 1
        }
        _ => return Err(Malformed),
    })
}

impl<'a> RawScan<'a> {
    #[inline(always)]
    fn new(doc: &'a RawDocument) -> Self {
        RawScan { bytes: doc.as_bytes(), at: 4, index: 0 }
    }

    #[inline(always)]
    fn next(&mut self) -> Result<Option<RawElem<'a>>, Malformed> {
        let b = self.bytes;
        let kind = *b.get(self.at).ok_or(Malformed)?;
        if kind == 0 {
            return Ok(None);
        }
        let key_start = self.at + 1;
        let key_len = b.get(key_start..).and_then(|r| r.iter().position(|&c| c == 0)).ok_or(Malformed)?;
        let v = key_start + key_len + 1;
        let size = value_size(kind, b, v)?;
        let end = v.checked_add(size).filter(|&e| e < b.len()).ok_or(Malformed)?;
        self.at = end;
        let elem = RawElem { kind, value: &b[v..end], index: self.index };
        self.index += 1;
        Ok(Some(elem))
    }

    /// The first element named `name` (skipping the others without slicing their keys).
    #[inline(always)]
    fn find(&mut self, name: &[u8]) -> Result<Option<RawElem<'a>>, Malformed> {
        let b = self.bytes;
        let first = name.first().copied().unwrap_or(0);
        loop {
            let kind = *b.get(self.at).ok_or(Malformed)?;
            if kind == 0 {
                return Ok(None);
            }
            let key_start = self.at + 1;
            // The first byte rejects most keys without a full comparison.
            // (A byte loop: names are short, a `memcmp` call costs more.)
            let hit = b.get(key_start) == Some(&first)
                && b.get(key_start..key_start + name.len()).is_some_and(|k| k.iter().zip(name).all(|(x, y)| x == y))
                && b.get(key_start + name.len()) == Some(&0);
            let key_len =
                if hit { name.len() } else { b.get(key_start..).and_then(|r| r.iter().position(|&c| c == 0)).ok_or(Malformed)? };
            let v = key_start + key_len + 1;
            let size = value_size(kind, b, v)?;
            let end = v.checked_add(size).filter(|&e| e < b.len()).ok_or(Malformed)?;
            self.at = end;
            let index = self.index;
            self.index += 1;
            if hit {
                return Ok(Some(RawElem { kind, value: &b[v..end], index }));
            }
        }
    }
}

impl<'a> RawElem<'a> {
    /// The element's value; `doc` is the document scanned (for the rare types, decoded by
    /// bson's own iterator).
    #[inline(always)]
    fn offer(self, doc: &'a RawDocument) -> Result<Offer<'a>, Malformed> {
        fn fixed<const N: usize>(v: &[u8]) -> Result<[u8; N], Malformed> {
            v.try_into().map_err(|_| Malformed)
        }
        let v = self.value;
        Ok(Offer::Val(match self.kind {
            0x01 => RawBsonRef::Double(f64::from_le_bytes(fixed(v)?)),
            0x02 => {
                // length (with the NUL), bytes, NUL
                let text = v.get(4..v.len().saturating_sub(1)).filter(|_| v.last() == Some(&0)).ok_or(Malformed)?;
                RawBsonRef::String(std::str::from_utf8(text).map_err(|_| Malformed)?)
            }
            0x03 => RawBsonRef::Document(RawDocument::from_bytes(v).map_err(|_| Malformed)?),
            0x04 => return Ok(Offer::Array(RawDocument::from_bytes(v).map_err(|_| Malformed)?)),
            0x06 => RawBsonRef::Undefined,
            0x07 => RawBsonRef::ObjectId(bson::oid::ObjectId::from_bytes(fixed(v)?)),
            0x08 => match v {
                [0] => RawBsonRef::Boolean(false),
                [1] => RawBsonRef::Boolean(true),
                _ => return Err(Malformed),
            },
            0x09 => RawBsonRef::DateTime(bson::DateTime::from_millis(i64::from_le_bytes(fixed(v)?))),
            0x0A => RawBsonRef::Null,
            0x10 => RawBsonRef::Int32(i32::from_le_bytes(fixed(v)?)),
            0x11 => {
                let b: [u8; 8] = fixed(v)?;
                let increment = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                let time = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
                RawBsonRef::Timestamp(bson::Timestamp { time, increment })
            }
            0x12 => RawBsonRef::Int64(i64::from_le_bytes(fixed(v)?)),
            0x13 => RawBsonRef::Decimal128(bson::Decimal128::from_bytes(fixed(v)?)),
            0x7F => RawBsonRef::MaxKey,
            0xFF => RawBsonRef::MinKey,
            // Binary, regex, code, symbol, DBPointer, code with scope: bson decodes them.
            _ => {
                let elem = doc.iter_elements().nth(self.index).ok_or(Malformed)?.map_err(|_| Malformed)?;
                elem.value().map_err(|_| Malformed)?
            }
        }))
    }
}

/// `doc[name]` over raw bytes: the first element whose key is `name` (stored documents have
/// unique keys).
#[inline]
fn raw_field<'a>(doc: &'a RawDocument, name: &str) -> Result<Option<Offer<'a>>, Malformed> {
    match RawScan::new(doc).find(name.as_bytes())? {
        Some(elem) => elem.offer(doc).map(Some),
        None => Ok(None),
    }
}

/// `walk_doc` over raw bytes.
fn walk_raw_doc<'a, F>(doc: &'a RawDocument, parts: &[PathPart], expand: bool, pos: Option<usize>, f: &mut F) -> Result<bool, DocError>
where
    F: FnMut(Option<Offer<'a>>, Option<usize>) -> Result<bool, DocError>,
{
    let mut current = doc;
    let mut i = 0;
    loop {
        let Some(part) = parts.get(i) else { return Ok(false) };
        let last = i + 1 == parts.len();
        match raw_field(current, &part.name)? {
            None => return f(None, pos),
            Some(Offer::Val(RawBsonRef::Document(d))) if !last => {
                current = d;
                i += 1;
            }
            Some(Offer::Array(items)) => return walk_raw_array(items, &parts[i + 1..], expand, pos, f),
            Some(v) if last => return f(Some(v), pos),
            Some(_) => return f(None, pos),
        }
    }
}

/// One value a path reaches in a stored document, as the matcher sees it (index keys).
#[derive(Clone, Copy, Debug)]
pub(crate) enum PathValue<'a> {
    /// A branch of the path is missing (or runs into a scalar).
    Missing,
    /// A value that is not an array (array elements arrive one by one).
    Value(RawBsonRef<'a>),
    /// An array, offered whole (its elements were offered before it).
    Array,
}

/// Call `f` with every value `path` reaches in `doc`, exactly the values the query matcher
/// compares a predicate with: array elements one level down, the arrays themselves, and
/// `Missing` for each branch where the path ends early. An index built from these values holds
/// every value a predicate can match, which is what makes index bounds sound.
pub(crate) fn for_each_path_value<'a>(doc: &'a RawDocument, path: &Path, f: &mut dyn FnMut(PathValue<'a>)) -> Result<(), DocError> {
    walk_raw_doc(doc, &path.parts, true, None, &mut |v, _| {
        f(match v {
            None => PathValue::Missing,
            Some(Offer::Val(x)) => PathValue::Value(x),
            Some(Offer::Array(_)) => PathValue::Array,
        });
        Ok(false)
    })?;
    Ok(())
}

/// `walk_array` over raw bytes (`items`: the array's document bytes).
fn walk_raw_array<'a, F>(items: &'a RawDocument, rest: &[PathPart], expand: bool, pos: Option<usize>, f: &mut F) -> Result<bool, DocError>
where
    F: FnMut(Option<Offer<'a>>, Option<usize>) -> Result<bool, DocError>,
{
    let mut scan = RawScan::new(items);
    let Some(first) = rest.first() else {
        if expand {
            while let Some(elem) = scan.next()? {
                if f(Some(elem.offer(items)?), pos.or(Some(elem.index)))? {
                    return Ok(true);
                }
            }
        }
        return f(Some(Offer::Array(items)), pos);
    };
    while let Some(elem) = scan.next()? {
        let j = elem.index;
        let offset_match = first.index == Some(j);
        // Only documents are walked, and (through the index) the element at `first`.
        if elem.kind != 0x03 && !offset_match {
            continue;
        }
        let e = elem.offer(items)?;
        if let Offer::Val(RawBsonRef::Document(d)) = e {
            if walk_raw_doc(d, rest, expand, pos.or(Some(j)), f)? {
                return Ok(true);
            }
        }
        if offset_match {
            let found = match (e, rest.len()) {
                (_, 1) => f(Some(e), pos)?,
                (Offer::Val(RawBsonRef::Document(d)), _) => walk_raw_doc(d, &rest[1..], expand, pos, f)?,
                (Offer::Array(inner), _) => walk_raw_array(inner, &rest[1..], expand, pos, f)?,
                _ => false,
            };
            if found {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// The values of an array's document bytes (keys ignored, as decoding does).
fn array_values(items: &RawDocument) -> impl Iterator<Item = Result<RawBsonRef<'_>, DocError>> {
    items.iter().map(|e| e.map(|(_, v)| v).map_err(value::raw_error))
}

impl Pred {
    /// `matches` on what the raw walk offers.
    #[inline]
    fn matches_offer(&self, v: Option<Offer<'_>>, vars: &Variables) -> Result<bool, DocError> {
        match v {
            None => Ok(self.matches(None, vars)),
            Some(Offer::Val(x)) => self.matches_raw(Some(x), vars),
            Some(Offer::Array(items)) => self.matches_array(items, vars),
        }
    }

    /// `matches` on an array given as its document bytes.
    fn matches_array(&self, items: &RawDocument, vars: &Variables) -> Result<bool, DocError> {
        const ARRAY_RANK: u8 = 6;
        let cmp = |target: &Bson| -> Result<Ordering, DocError> {
            match target {
                Bson::Array(t) => value::compare_array_values_raw(array_values(items), t),
                other => Ok(ARRAY_RANK.cmp(&type_rank(other))),
            }
        };
        Ok(match self {
            Pred::Eq(target) => matches!(target, Bson::Array(_)) && cmp(target)? == Ordering::Equal,
            Pred::Cmp(op, target) => {
                if type_rank(target) != ARRAY_RANK {
                    match target {
                        Bson::MinKey => matches!(op, CmpOp::Gt | CmpOp::Gte),
                        Bson::MaxKey => matches!(op, CmpOp::Lt | CmpOp::Lte),
                        _ => false,
                    }
                } else {
                    let ord = cmp(target)?;
                    match op {
                        CmpOp::Lt => ord == Ordering::Less,
                        CmpOp::Lte => ord != Ordering::Greater,
                        CmpOp::Gt => ord == Ordering::Greater,
                        CmpOp::Gte => ord != Ordering::Less,
                    }
                }
            }
            Pred::In(set) => {
                let mut failed = None;
                let found = set
                    .values
                    .binary_search_by(|probe| match cmp(probe) {
                        Ok(o) => o.reverse(),
                        Err(e) => {
                            failed = Some(e);
                            Ordering::Equal
                        }
                    })
                    .is_ok();
                if let Some(e) = failed {
                    return Err(e);
                }
                found
            }
            Pred::Exists => true,
            Pred::Type(bits) => bits & type_bit(4) != 0,
            Pred::Regex(_) | Pred::Mod { .. } | Pred::Bits(..) => false,
            Pred::Size(n) => {
                let mut scan = RawScan::new(items);
                let mut len = 0;
                while scan.next()?.is_some() {
                    len += 1;
                }
                len == *n
            }
            Pred::ElemMatchDoc(_) | Pred::ElemMatchValue(_) => elem_match_in(self, array_values(items), vars)?.is_some(),
        })
    }

    /// `matches` on a raw value.
    fn matches_raw(&self, v: Option<RawBsonRef<'_>>, vars: &Variables) -> Result<bool, DocError> {
        let Some(x) = v else { return Ok(self.matches(None, vars)) };
        if let Some(scalar) = value::raw_scalar(x) {
            return Ok(self.matches(Some(&scalar), vars));
        }
        // Strings, documents, arrays, binaries, regexes, code, symbols, DBPointers.
        Ok(match self {
            Pred::Eq(target) => value::raw_type_rank(x) == type_rank(target) && value::equal_raw(x, target)?,
            Pred::Cmp(op, target) => compare_matches_raw(*op, x, target)?,
            Pred::In(set) => {
                let mut failed = None;
                let found = set
                    .values
                    .binary_search_by(|probe| match value::compare_raw(x, probe) {
                        Ok(o) => o.reverse(),
                        Err(e) => {
                            failed = Some(e);
                            Ordering::Equal
                        }
                    })
                    .is_ok();
                if let Some(e) = failed {
                    return Err(e);
                }
                found || set.regexes.iter().any(|r| r.matches_raw(x))
            }
            Pred::Exists => true,
            Pred::Type(bits) => bits & type_bit(value::raw_type_number(x)) != 0,
            Pred::Regex(r) => r.matches_raw(x),
            Pred::Size(n) => match x {
                RawBsonRef::Array(items) => raw_array_len(items)? == *n,
                _ => false,
            },
            // Not numbers (those are scalars, above).
            Pred::Mod { .. } => false,
            Pred::Bits(op, positions) => match x {
                RawBsonRef::Binary(b) => {
                    let src = BitSource::Bytes(b.bytes);
                    match op {
                        BitsOp::AllSet => positions.iter().all(|&p| src.bit(p)),
                        BitsOp::AnySet => positions.iter().any(|&p| src.bit(p)),
                        BitsOp::AllClear => positions.iter().all(|&p| !src.bit(p)),
                        BitsOp::AnyClear => positions.iter().any(|&p| !src.bit(p)),
                    }
                }
                _ => false,
            },
            Pred::ElemMatchDoc(_) | Pred::ElemMatchValue(_) => elem_match_index_raw(self, x, vars)?.is_some(),
        })
    }
}

fn raw_array_len(items: &RawArray) -> Result<usize, DocError> {
    let mut n = 0;
    for e in items {
        e.map_err(value::raw_error)?;
        n += 1;
    }
    Ok(n)
}

/// `elem_match_index` on a raw value.
fn elem_match_index_raw(pred: &Pred, v: RawBsonRef<'_>, vars: &Variables) -> Result<Option<usize>, DocError> {
    let RawBsonRef::Array(items) = v else { return Ok(None) };
    elem_match_in(pred, items.into_iter().map(|e| e.map_err(value::raw_error)), vars)
}

/// `elem_match_index` on what the raw walk offers.
fn elem_match_index_offer(pred: &Pred, v: Offer<'_>, vars: &Variables) -> Result<Option<usize>, DocError> {
    match v {
        Offer::Val(x) => elem_match_index_raw(pred, x, vars),
        Offer::Array(items) => elem_match_in(pred, array_values(items), vars),
    }
}

/// The index of the first of `items` matching the `$elemMatch` `pred`.
fn elem_match_in<'a>(
    pred: &Pred,
    items: impl Iterator<Item = Result<RawBsonRef<'a>, DocError>>,
    vars: &Variables,
) -> Result<Option<usize>, DocError> {
    for (j, e) in items.enumerate() {
        let e = e?;
        let hit = match pred {
            Pred::ElemMatchDoc(node) => match e {
                RawBsonRef::Document(d) => eval_raw(node, RawRoot::Doc(d), vars, &mut None)?,
                // Fallback: an array element is seen as the document of its indexes, built
                // from the decoded element.
                RawBsonRef::Array(_) => element_matches_document_filter(node, &value::raw_to_bson(e)?, vars),
                _ => false,
            },
            Pred::ElemMatchValue(node) => eval_raw(node, RawRoot::Value(e), vars, &mut None)?,
            _ => false,
        };
        if hit {
            return Ok(Some(j));
        }
    }
    Ok(None)
}

/// `compare_matches` for a present raw value that is not a heap-free scalar (so not a number,
/// null or MinKey/MaxKey).
fn compare_matches_raw(op: CmpOp, x: RawBsonRef<'_>, target: &Bson) -> Result<bool, DocError> {
    if value::raw_type_rank(x) != type_rank(target) {
        return Ok(match target {
            Bson::MinKey => matches!(op, CmpOp::Gt | CmpOp::Gte),
            Bson::MaxKey => matches!(op, CmpOp::Lt | CmpOp::Lte),
            _ => false,
        });
    }
    let ord = value::compare_raw(x, target)?;
    Ok(match op {
        CmpOp::Lt => ord == Ordering::Less,
        CmpOp::Lte => ord != Ordering::Greater,
        CmpOp::Gt => ord == Ordering::Greater,
        CmpOp::Gte => ord != Ordering::Less,
    })
}

impl QueryRegex {
    /// `matches_value` on a raw value (regex values compare their options as decoding sorts
    /// them).
    fn matches_raw(&self, v: RawBsonRef<'_>) -> bool {
        match v {
            RawBsonRef::String(s) | RawBsonRef::Symbol(s) => self.re.is_match(s),
            RawBsonRef::RegularExpression(r) => {
                r.pattern.as_str() == self.pattern && value::raw_regex_options_cmp(r.options.as_str(), &self.options) == Ordering::Equal
            }
            _ => false,
        }
    }
}

impl Node {
    /// Whether matching this node decodes the whole document (`$expr`).
    fn has_expr(&self) -> bool {
        match self {
            Node::And(c) | Node::Or(c) | Node::Nor(c) => c.iter().any(Node::has_expr),
            Node::Not(c) => c.has_expr(),
            Node::Expr(_) => true,
            Node::Leaf { .. } | Node::Const(_) | Node::Text(_) => false,
        }
    }

    fn has_text(&self) -> bool {
        match self {
            Node::And(c) | Node::Or(c) | Node::Nor(c) => c.iter().any(Node::has_text),
            Node::Not(c) => c.has_text(),
            Node::Text(_) => true,
            _ => false,
        }
    }

    /// This tree with every `$text` node matching everything (the planner checks text).
    fn without_text(&self) -> Node {
        match self {
            Node::And(c) => Node::And(c.iter().map(Node::without_text).collect()),
            Node::Or(c) => Node::Or(c.iter().map(Node::without_text).collect()),
            Node::Nor(c) => Node::Nor(c.iter().map(Node::without_text).collect()),
            Node::Not(c) => Node::Not(Box::new(c.without_text())),
            Node::Text(_) => Node::Const(true),
            other => other.clone(),
        }
    }
}

fn text_outside_planner() -> DocError {
    DocError::new(super::error::codes::INDEX_NOT_FOUND, "IndexNotFound", "text index required for $text query")
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    fn vars() -> Variables {
        Variables::new(bson::DateTime::from_millis(0))
    }

    fn filter(f: Document) -> Filter {
        Filter::parse(&f, &vars()).unwrap_or_else(|e| panic!("parse {f}: {e:?}"))
    }

    fn m(f: Document, d: Document) -> bool {
        both(&filter(f), &d)
    }

    /// `matches`, asserting that `matches_raw` (and both match positions) agree.
    fn both(flt: &Filter, d: &Document) -> bool {
        let raw = bson::RawDocumentBuf::try_from(d).unwrap();
        let expected = flt.matches(d).unwrap();
        assert_eq!(flt.matches_raw(&raw).unwrap(), expected, "matches_raw {flt:?} on {d}");
        assert_eq!(flt.match_position_raw(&raw).unwrap(), flt.match_position(d).unwrap(), "match_position_raw {flt:?} on {d}");
        expected
    }

    /// Both matchers run without error (deep filters: no stack overflow either way).
    fn both_ok(flt: &Filter, d: &Document) {
        assert!(flt.matches(d).is_ok());
        assert!(flt.matches_raw(&bson::RawDocumentBuf::try_from(d).unwrap()).is_ok());
    }

    /// `match_position`, asserting that `match_position_raw` agrees.
    fn pos(flt: &Filter, d: &Document) -> Option<usize> {
        both(flt, d);
        flt.match_position(d).unwrap()
    }

    fn err(f: Document) -> DocError {
        Filter::parse(&f, &vars()).expect_err("expected a parse error")
    }

    /// The `_id`s of `docs` matching `f`.
    fn ids(f: Document, docs: &[Document]) -> Vec<i32> {
        let flt = filter(f);
        docs.iter().filter(|d| both(&flt, d)).map(|d| d.get_i32("_id").unwrap()).collect()
    }

    /// The manual's `inventory` collection (query on arrays / embedded documents pages).
    fn inventory() -> Vec<Document> {
        vec![
            doc! {"_id": 1, "item": "journal", "qty": 25, "tags": ["blank", "red"], "dim_cm": [14, 21], "size": {"h": 14, "w": 21, "uom": "cm"}, "status": "A"},
            doc! {"_id": 2, "item": "notebook", "qty": 50, "tags": ["red", "blank"], "dim_cm": [14, 21], "size": {"h": 8.5, "w": 11, "uom": "in"}, "status": "A"},
            doc! {"_id": 3, "item": "paper", "qty": 100, "tags": ["red", "blank", "plain"], "dim_cm": [14, 21], "size": {"h": 8.5, "w": 11, "uom": "in"}, "status": "D"},
            doc! {"_id": 4, "item": "planner", "qty": 75, "tags": ["blank", "red"], "dim_cm": [22.85, 30], "size": {"h": 22.85, "w": 30, "uom": "cm"}, "status": "D"},
            doc! {"_id": 5, "item": "postcard", "qty": 45, "tags": ["blue"], "dim_cm": [10, 15.25], "size": {"h": 10, "w": 15.25, "uom": "cm"}, "status": "A"},
        ]
    }

    #[test]
    fn filters_can_be_shared_across_threads() {
        fn shareable<T: Send + Sync + Clone>() {}
        shareable::<Filter>();
    }

    #[test]
    fn empty_filter_matches_everything() {
        let f = filter(doc! {});
        assert!(f.is_empty());
        assert!(both(&f, &doc! {"a": 1}));
        assert!(!filter(doc! {"a": 1}).is_empty());
        assert!(both(&filter(doc! {"$comment": "hi"}), &doc! {}));
    }

    #[test]
    fn equality_and_embedded_documents() {
        let inv = inventory();
        assert_eq!(ids(doc! {"status": "D"}, &inv), vec![3, 4]);
        assert_eq!(ids(doc! {"size": {"h": 14, "w": 21, "uom": "cm"}}, &inv), vec![1]);
        // Field order matters for embedded document equality.
        assert_eq!(ids(doc! {"size": {"w": 21, "h": 14, "uom": "cm"}}, &inv), Vec::<i32>::new());
        assert_eq!(ids(doc! {"size.uom": "in"}, &inv), vec![2, 3]);
        assert_eq!(ids(doc! {"size.h": {"$lt": 15}}, &inv), vec![1, 2, 3, 5]);
        assert_eq!(ids(doc! {"size.h": {"$lt": 15}, "size.uom": "in", "status": "D"}, &inv), vec![3]);
        assert_eq!(ids(doc! {"status": "A", "qty": {"$lt": 30}}, &inv), vec![1]);
        assert_eq!(ids(doc! {"$or": [{"status": "A"}, {"qty": {"$lt": 30}}]}, &inv), vec![1, 2, 5]);
        assert_eq!(ids(doc! {"status": "A", "$or": [{"qty": {"$lt": 30}}, {"item": {"$regex": "^p"}}]}, &inv), vec![1, 5]);
        assert_eq!(ids(doc! {"status": {"$in": ["A", "D"]}}, &inv), vec![1, 2, 3, 4, 5]);
        // Numbers compare across types.
        assert!(m(doc! {"a": 1}, doc! {"a": 1.0}));
        assert!(m(doc! {"a": 1i64}, doc! {"a": 1}));
        assert!(!m(doc! {"a": 1}, doc! {"a": "1"}));
        assert!(m(doc! {"a": {"$eq": {"b": 1}}}, doc! {"a": {"b": 1.0}}));
    }

    #[test]
    fn arrays_match_exactly_or_by_element() {
        let inv = inventory();
        assert_eq!(ids(doc! {"tags": ["red", "blank"]}, &inv), vec![2]);
        assert_eq!(ids(doc! {"tags": {"$all": ["red", "blank"]}}, &inv), vec![1, 2, 3, 4]);
        assert_eq!(ids(doc! {"tags": "red"}, &inv), vec![1, 2, 3, 4]);
        assert_eq!(ids(doc! {"dim_cm": {"$gt": 25}}, &inv), vec![4]);
        // Compound conditions on an array: each condition may be met by a different element.
        assert_eq!(ids(doc! {"dim_cm": {"$gt": 15, "$lt": 20}}, &inv), vec![1, 2, 3, 5]);
        assert_eq!(ids(doc! {"dim_cm": {"$elemMatch": {"$gt": 22, "$lt": 30}}}, &inv), vec![4]);
        assert_eq!(ids(doc! {"dim_cm.1": {"$gt": 25}}, &inv), vec![4]);
        assert_eq!(ids(doc! {"tags": {"$size": 3}}, &inv), vec![3]);
        // An array matches arrays containing it as an element.
        assert!(m(doc! {"a": [1, 2]}, doc! {"a": [[1, 2], 3]}));
        assert!(!m(doc! {"a": [1, 2]}, doc! {"a": [2, 1]}));
        assert!(m(doc! {"tags": {"$ne": "x"}}, doc! {"tags": ["a", "b"]}));
        assert!(!m(doc! {"tags": {"$ne": "a"}}, doc! {"tags": ["a", "b"]}));
        assert!(!m(doc! {"tags": {"$nin": ["a", "z"]}}, doc! {"tags": ["a", "b"]}));
        assert!(m(doc! {"tags": {"$nin": ["y", "z"]}}, doc! {"tags": ["a", "b"]}));
        assert!(m(doc! {"tags": {"$nin": ["y"]}}, doc! {}));
    }

    /// The manual's "Query an Array of Embedded Documents" page.
    fn instock() -> Vec<Document> {
        vec![
            doc! {"_id": 1, "item": "journal", "instock": [{"warehouse": "A", "qty": 5}, {"warehouse": "C", "qty": 15}]},
            doc! {"_id": 2, "item": "notebook", "instock": [{"warehouse": "C", "qty": 5}]},
            doc! {"_id": 3, "item": "paper", "instock": [{"warehouse": "A", "qty": 60}, {"warehouse": "B", "qty": 15}]},
            doc! {"_id": 4, "item": "planner", "instock": [{"warehouse": "A", "qty": 40}, {"warehouse": "B", "qty": 5}]},
            doc! {"_id": 5, "item": "postcard", "instock": [{"warehouse": "B", "qty": 15}, {"warehouse": "C", "qty": 35}]},
        ]
    }

    #[test]
    fn arrays_of_embedded_documents() {
        let inv = instock();
        assert_eq!(ids(doc! {"instock": {"warehouse": "A", "qty": 5}}, &inv), vec![1]);
        assert_eq!(ids(doc! {"instock": {"qty": 5, "warehouse": "A"}}, &inv), Vec::<i32>::new());
        assert_eq!(ids(doc! {"instock.0.qty": {"$lte": 20}}, &inv), vec![1, 2, 5]);
        assert_eq!(ids(doc! {"instock.qty": {"$lte": 20}}, &inv), vec![1, 2, 3, 4, 5]);
        assert_eq!(ids(doc! {"instock": {"$elemMatch": {"qty": 5, "warehouse": "A"}}}, &inv), vec![1]);
        assert_eq!(ids(doc! {"instock": {"$elemMatch": {"qty": {"$gt": 10, "$lte": 20}}}}, &inv), vec![1, 3, 5]);
        assert_eq!(ids(doc! {"instock.qty": {"$gt": 10, "$lte": 20}}, &inv), vec![1, 3, 4, 5]);
        assert_eq!(ids(doc! {"instock.qty": 5, "instock.warehouse": "A"}, &inv), vec![1, 4]);
    }

    #[test]
    fn numeric_components_index_arrays_and_name_fields() {
        assert!(m(doc! {"items.0.sku": "x"}, doc! {"items": [{"sku": "x"}, {"sku": "y"}]}));
        assert!(!m(doc! {"items.1.sku": "x"}, doc! {"items": [{"sku": "x"}, {"sku": "y"}]}));
        assert!(m(doc! {"a.0": 5}, doc! {"a": {"0": 5}}));
        // Through an index, an array element is not expanded; a document element is walked
        // both by field name and by index.
        assert!(!m(doc! {"a.0": 5}, doc! {"a": [[5, 6]]}));
        assert!(m(doc! {"a.0": [5, 6]}, doc! {"a": [[5, 6]]}));
        assert!(m(doc! {"a.0.1": 6}, doc! {"a": [[5, 6]]}));
        assert!(m(doc! {"a.0": 5}, doc! {"a": [{"0": 5}]}));
        assert!(m(doc! {"a.0": {"0": 5}}, doc! {"a": [{"0": 5}]}));
        assert!(m(doc! {"a.0.b": 2}, doc! {"a": [{"b": [1, 2]}]}));
        assert!(m(doc! {"a.0.x": Bson::Null}, doc! {"a": [{"x": 1}, {"x": 2}]}));
        assert!(!m(doc! {"a.0.x": 2}, doc! {"a": [{"x": 1}, {"x": 2}]}));
        // Index out of range: elements with a field named "1".
        assert!(m(doc! {"a.1.x": 5}, doc! {"a": [{"1": {"x": 5}}]}));
        // Only one level of implicit array traversal.
        assert!(!m(doc! {"a.b": 1}, doc! {"a": [[{"b": 1}]]}));
        assert!(m(doc! {"a.b": 1}, doc! {"a": [{"b": [0, 1]}]}));
        assert!(m(doc! {"a.b.c": 1}, doc! {"a": [{"b": [{"c": 1}]}]}));
    }

    #[test]
    fn null_and_missing() {
        // The manual's "Query for Null or Missing Fields".
        let docs = vec![doc! {"_id": 1, "item": Bson::Null}, doc! {"_id": 2}];
        assert_eq!(ids(doc! {"item": Bson::Null}, &docs), vec![1, 2]);
        assert_eq!(ids(doc! {"item": {"$type": 10}}, &docs), vec![1]);
        assert_eq!(ids(doc! {"item": {"$exists": false}}, &docs), vec![2]);
        assert_eq!(ids(doc! {"item": {"$ne": Bson::Null}}, &docs), Vec::<i32>::new());
        assert_eq!(ids(doc! {"item": {"$in": [Bson::Null]}}, &docs), vec![1, 2]);
        assert_eq!(ids(doc! {"item": {"$gte": Bson::Null}}, &docs), vec![1, 2]);
        assert_eq!(ids(doc! {"item": {"$lte": Bson::Null}}, &docs), vec![1, 2]);
        assert_eq!(ids(doc! {"item": {"$gt": Bson::Null}}, &docs), Vec::<i32>::new());
        assert_eq!(ids(doc! {"item": {"$lt": Bson::Null}}, &docs), Vec::<i32>::new());
        assert!(!m(doc! {"a": Bson::Null}, doc! {"a": Bson::Undefined}));
        assert!(m(doc! {"a": Bson::Null}, doc! {"a": [1, Bson::Null]}));
        assert!(!m(doc! {"a": Bson::Null}, doc! {"a": [1, 2]}));
        assert!(m(doc! {"a.b": Bson::Null}, doc! {"a": [{"b": 1}, {"c": 1}]}));
        assert!(!m(doc! {"a.b": Bson::Null}, doc! {"a": [{"b": 1}]}));
        assert!(m(doc! {"a.b": Bson::Null}, doc! {"a": 5}));
    }

    #[test]
    fn comparison_brackets() {
        assert!(!m(doc! {"a": {"$gt": 5}}, doc! {"a": "x"}));
        assert!(m(doc! {"a": {"$gt": 5}}, doc! {"a": 5.5}));
        assert!(m(doc! {"a": {"$gte": 5}}, doc! {"a": 5i64}));
        assert!(!m(doc! {"a": {"$lt": "b"}}, doc! {"a": 1}));
        assert!(m(doc! {"a": {"$lt": "b"}}, doc! {"a": "a"}));
        assert!(m(doc! {"a": {"$gt": Bson::MinKey}}, doc! {"a": "a"}));
        assert!(m(doc! {"a": {"$lt": Bson::MaxKey}}, doc! {"a": {"x": 1}}));
        assert!(m(doc! {"a": {"$gte": f64::NAN}}, doc! {"a": f64::NAN}));
        assert!(!m(doc! {"a": {"$gt": f64::NAN}}, doc! {"a": 1}));
        assert!(!m(doc! {"a": {"$lt": 1}}, doc! {"a": f64::NAN}));
        assert!(m(doc! {"a": f64::NAN}, doc! {"a": f64::NAN}));
        assert!(m(doc! {"d": {"$gt": bson::DateTime::from_millis(5)}}, doc! {"d": bson::DateTime::from_millis(6)}));
        assert!(!m(doc! {"d": {"$gt": bson::DateTime::from_millis(5)}}, doc! {"d": 6}));
        assert!(m(doc! {"a": {"$gt": [1]}}, doc! {"a": [[2]]}));
    }

    #[test]
    fn exists_type_size_mod() {
        assert!(m(doc! {"a": {"$exists": true}}, doc! {"a": Bson::Null}));
        assert!(!m(doc! {"a": {"$exists": 0}}, doc! {"a": 1}));
        assert!(m(doc! {"a.b": {"$exists": true}}, doc! {"a": [{"c": 1}, {"b": 2}]}));
        // $type: the manual's examples.
        assert!(m(doc! {"z": {"$type": "string"}}, doc! {"z": "x"}));
        assert!(m(doc! {"z": {"$type": 2}}, doc! {"z": "x"}));
        assert!(m(doc! {"z": {"$type": 2.0}}, doc! {"z": "x"}));
        assert!(m(doc! {"z": {"$type": "number"}}, doc! {"z": 1i64}));
        assert!(m(doc! {"z": {"$type": ["string", "double"]}}, doc! {"z": 1.5}));
        assert!(m(doc! {"z": {"$type": "string"}}, doc! {"z": [1, "a"]}));
        assert!(m(doc! {"z": {"$type": "array"}}, doc! {"z": [1, 2]}));
        assert!(m(doc! {"z": {"$type": "array"}}, doc! {"z": []}));
        assert!(!m(doc! {"z": {"$type": "array"}}, doc! {"z": 1}));
        assert!(m(doc! {"z": {"$type": "minKey"}}, doc! {"z": Bson::MinKey}));
        assert!(m(doc! {"z": {"$type": 127}}, doc! {"z": Bson::MaxKey}));
        assert_eq!(err(doc! {"z": {"$type": "foo"}}).message, "Unknown type name alias: foo");
        assert_eq!(err(doc! {"z": {"$type": 100}}).message, "Invalid numerical type code: 100");
        assert_eq!(err(doc! {"z": {"$type": 1.5}}).message, "Invalid numerical type code: 1.5");
        assert_eq!(err(doc! {"z": {"$type": 0}}).message, "Invalid numerical type code: 0. Instead use {$exists:false}.");
        assert_eq!(err(doc! {"z": {"$type": "missing"}}).code, 2);
        assert_eq!(err(doc! {"z": {"$type": Bson::Null}}).code, 14);
        assert_eq!(err(doc! {"z": {"$type": true}}).code, 14);
        let e = err(doc! {"z": {"$type": []}});
        assert_eq!((e.code, e.message.as_str()), (9, "z must match at least one type"));
        // $size
        assert!(m(doc! {"a": {"$size": 0}}, doc! {"a": []}));
        assert!(!m(doc! {"a": {"$size": 1}}, doc! {"a": 1}));
        assert!(!m(doc! {"a": {"$size": 1}}, doc! {"a": [[1, 2]]}) || m(doc! {"a": {"$size": 1}}, doc! {"a": [[1, 2]]}));
        assert!(m(doc! {"a": {"$size": 2.0}}, doc! {"a": [1, 2]}));
        assert_eq!(err(doc! {"a": {"$size": -1}}).message, "$size may not be negative");
        assert_eq!(err(doc! {"a": {"$size": 1.5}}).message, "$size must be a whole number");
        assert_eq!(err(doc! {"a": {"$size": f64::NAN}}).message, "$size must be a whole number");
        assert_eq!(err(doc! {"a": {"$size": "1"}}).message, "$size needs a number");
        assert_eq!(err(doc! {"a": {"$size": {"$gt": 1}}}).message, "$size needs a number");
        assert_eq!(err(doc! {"a": {"$size": 1i64 << 40}}).message, "$size must be representable as a 32-bit integer");
        assert!(m(doc! {"a": {"$size": -0.0}}, doc! {"a": []}));
        assert!(m(doc! {"a": {"$size": 2i64}}, doc! {"a": [1, 2]}));
        // $mod: the manual's inventory example.
        let docs = vec![doc! {"_id": 1, "qty": 0}, doc! {"_id": 2, "qty": 5}, doc! {"_id": 3, "qty": 12}];
        assert_eq!(ids(doc! {"qty": {"$mod": [4, 0]}}, &docs), vec![1, 3]);
        let docs = vec![doc! {"_id": 1, "qty": 5.5}, doc! {"_id": 2, "qty": 12.1}, doc! {"_id": 3, "qty": 4.0}];
        // Field values are truncated too (12.1 -> 12).
        assert_eq!(ids(doc! {"qty": {"$mod": [4.0, 0]}}, &docs), vec![2, 3]);
        assert_eq!(ids(doc! {"qty": {"$mod": [4.5, 0]}}, &docs), vec![2, 3]);
        assert_eq!(ids(doc! {"qty": {"$mod": [-4, -0]}}, &docs), vec![2, 3]);
        assert!(m(doc! {"q": {"$mod": [4, -1]}}, doc! {"q": -5}));
        assert_eq!(err(doc! {"q": {"$mod": [4]}}).message, "malformed mod, not enough elements");
        assert_eq!(err(doc! {"q": {"$mod": []}}).message, "malformed mod, not enough elements");
        assert_eq!(err(doc! {"q": {"$mod": [4, 1, 3]}}).message, "malformed mod, too many elements");
        assert_eq!(err(doc! {"q": {"$mod": 4}}).message, "malformed mod, needs to be an array");
        assert_eq!(err(doc! {"q": {"$mod": [0, 1]}}).message, "divisor cannot be 0");
        assert_eq!(err(doc! {"q": {"$mod": ["a", 1]}}).message, "malformed mod, divisor not a number");
        assert_eq!(err(doc! {"q": {"$mod": [1, "a"]}}).message, "malformed mod, remainder not a number");
        assert_eq!(err(doc! {"q": {"$mod": ["a"]}}).message, "malformed mod, divisor not a number");
        assert_eq!(err(doc! {"q": {"$mod": [4, "a", 1]}}).message, "malformed mod, remainder not a number");
        assert_eq!(err(doc! {"q": {"$mod": [f64::NAN, 1]}}).code, 2);
    }

    #[test]
    fn in_nin_regex() {
        let inv = inventory();
        assert_eq!(
            ids(
                doc! {"tags": {"$in": [Bson::RegularExpression(bson::Regex { pattern: "^be".try_into().unwrap(), options: "".try_into().unwrap() }), Bson::RegularExpression(bson::Regex { pattern: "^st".try_into().unwrap(), options: "".try_into().unwrap() })]}},
                &inv
            ),
            Vec::<i32>::new()
        );
        assert_eq!(
            ids(
                doc! {"tags": {"$in": [Bson::RegularExpression(bson::Regex { pattern: "^bl".try_into().unwrap(), options: "".try_into().unwrap() })]}},
                &inv
            ),
            vec![1, 2, 3, 4, 5]
        );
        assert_eq!(ids(doc! {"item": {"$regex": "^P", "$options": "i"}}, &inv), vec![3, 4, 5]);
        assert_eq!(ids(doc! {"item": {"$not": {"$regex": "^p"}}}, &inv), vec![1, 2]);
        assert_eq!(ids(doc! {"qty": {"$nin": [25, 50]}}, &inv), vec![3, 4, 5]);
        assert_eq!(err(doc! {"a": {"$in": 5}}).message, "$in needs an array");
        assert_eq!(err(doc! {"a": {"$in": [{"$gt": 1}]}}).message, "cannot nest $ under $in");
        assert_eq!(err(doc! {"a": {"$in": [Bson::Undefined]}}).code, 2);
        assert_eq!(err(doc! {"a": Bson::Undefined}).message, "cannot compare to undefined");
        assert_eq!(err(doc! {"a": {"$lt": Bson::Undefined}}).message, "cannot compare to undefined");
    }

    fn re(p: &str, o: &str) -> Bson {
        Bson::RegularExpression(bson::Regex { pattern: p.try_into().unwrap(), options: o.try_into().unwrap() })
    }

    /// `m`, `x` and friends set inline: at the pattern start, mid-pattern (to the end of the
    /// enclosing group) and in scoped groups, unset with `-` and `^`.
    #[test]
    fn regex_inline_options() {
        let hit = |p: &str, o: &str, s: &str| QueryRegex::new(p, o).unwrap().matches_value(&Bson::String(s.into()));
        for (p, o) in [("(?m)^a$", ""), ("(?m)a$", ""), ("(?m:a$)", ""), ("x|(?m:a$)", ""), ("(?im)A$", ""), ("(?s-i:a$)", "m")] {
            assert!(hit(p, o, "a\nb"), "{p} /{o}");
            assert!(!hit(p, o, "ab\nc"), "{p} /{o}");
        }
        // Without m, `$` is the end or before a final newline.
        assert!(!hit("a$", "", "a\nb"));
        assert!(!hit("(?-m)a$", "m", "a\nb"));
        assert!(!hit("(?^)a$", "m", "a\nb"));
        assert!(hit("(?^m)a$", "", "a\nb"));
        assert!(hit("(?-m)a$", "m", "a\n"));
        // Scoped: the setting ends with its group; a mid-pattern setting ends with its
        // enclosing group and carries into later alternatives of that group.
        assert!(!hit("(?m:x)a$", "", "a\nb"));
        assert!(!hit("((?m)x)a$", "", "a\nb"));
        assert!(hit("b(?m)a$", "", "ba\nc"));
        assert!(hit("(?:z|(?m)q|a$)", "", "a\nb"));
        assert!(!hit("(?:(?m)q)|a$", "", "a\nb"));
        // i, s, U, n, J pass through or are dropped; (?) is empty.
        assert!(hit("(?i)^ab$", "", "AB"));
        assert!(hit("(?i:a)b", "", "Ab"));
        assert!(!hit("(?i:a)b", "", "AB"));
        assert!(hit("(?s)a.b", "", "a\nb"));
        assert!(!hit("(?-s)a.b", "s", "a\nb"));
        assert!(hit("(?U)^a+$", "", "aa"));
        assert!(hit("(?nJ)^(a)$", "", "a"));
        assert!(hit("^a(?)b$", "", "ab"));
        assert!(hit("^(?-:a)$", "", "a"));
        // x inline: comments dropped, class whitespace kept (xx: spaces in classes ignored).
        assert!(hit("(?x)^a b # comment\n c$", "", "abc"));
        assert!(hit("(?x)^a[ ]b$", "", "a b"));
        assert!(hit("(?x)^a[#]b$", "", "a#b"));
        assert!(!hit("(?xx)^a[ b]$", "", "a "));
        assert!(hit("(?xx)^a[ b]$", "", "ab"));
        assert!(hit("(?x:a b)c d", "", "abc d"));
        assert!(hit("^a # b$", "", "a # b"));
        assert!(hit("(?x)(?-x)^a # b$", "", "a # b"));
        // Not option settings: still refused or translated as before.
        assert_eq!(QueryRegex::new("(?=a)", "").unwrap_err().code, 51091);
        assert_eq!(QueryRegex::new("(?-1)", "").unwrap_err().code, 51091);
        assert_eq!(QueryRegex::new("(?q)", "").unwrap_err().code, 51091);
        assert!(hit("(?<n>a)(?'m'b)(?P<o>c)", "", "abc"));
    }

    /// `\p{..}`, `\P{..}`, `\p{^..}`, `\pL`, `\x{..}`, `\xh`, `\o{..}`.
    #[test]
    fn regex_properties_and_code_points() {
        let hit = |p: &str, s: &str| QueryRegex::new(p, "").unwrap().matches_value(&Bson::String(s.into()));
        assert!(hit("^\\p{Lu}$", "É"));
        assert!(!hit("^\\p{Lu}$", "é"));
        assert!(hit("^\\p{L}$", "é"));
        assert!(hit("^\\pL$", "é"));
        assert!(hit("^\\PL$", "1"));
        assert!(hit("^\\P{L}$", "😀"));
        assert!(!hit("^\\P{L}$", "é"));
        assert!(hit("^\\p{^L}$", "1"));
        assert!(hit("^\\P{^L}$", "é"));
        assert!(hit("^[\\p{Lu}\\d]+$", "É1"));
        assert!(hit("^[^\\p{Lu}]$", "é"));
        assert!(hit("^\\p{L&}$", "é"));
        assert!(!hit("^\\p{L&}$", "1"));
        assert!(hit("^\\p{Greek}$", "α"));
        assert!(hit("^\\p{Xan}+$", "é1"));
        assert!(hit("^\\P{Xan}$", "-"));
        assert!(hit("^[\\p{Xwd}-]+$", "é_1-"));
        assert!(hit("^\\x{E9}$", "é"));
        assert!(hit("\\x{1F600}", "a😀"));
        assert!(hit("^[\\x{E0}-\\x{FF}]$", "é"));
        assert!(hit("^\\x41\\x4$", "A\u{4}"));
        assert!(hit("^\\xg$", "\0g"));
        assert!(hit("^\\o{101}$", "A"));
        assert!(hit("^a\\x{62}{2}$", "abb"));
        for bad in ["\\p{Nope}", "\\p{", "\\p", "\\x{110000}", "\\x{D800}", "\\x{zz}", "\\x{1", "\\o{8}", "\\o1"] {
            assert_eq!(QueryRegex::new(bad, "").unwrap_err().code, 51091, "{bad}");
        }
    }

    #[test]
    fn regex_options_and_translation() {
        // The manual's $regex examples (products collection).
        let products = vec![
            doc! {"_id": 100, "sku": "abc123", "description": "Single line description."},
            doc! {"_id": 101, "sku": "abc789", "description": "First line\nSecond line"},
            doc! {"_id": 102, "sku": "xyz456", "description": "Many spaces before     line"},
            doc! {"_id": 103, "sku": "xyz789", "description": "Multiple\nline description"},
            doc! {"_id": 104, "sku": "Abc789", "description": "SKU starts with A"},
        ];
        assert_eq!(ids(doc! {"sku": {"$regex": "789$"}}, &products), vec![101, 103, 104]);
        assert_eq!(ids(doc! {"sku": re("789$", "")}, &products), vec![101, 103, 104]);
        assert_eq!(ids(doc! {"sku": {"$regex": "^ABC", "$options": "i"}}, &products), vec![100, 101, 104]);
        assert_eq!(ids(doc! {"sku": {"$regex": re("^ABC", "i")}}, &products), vec![100, 101, 104]);
        assert_eq!(ids(doc! {"description": {"$regex": "^S", "$options": "m"}}, &products), vec![100, 101, 104]);
        assert_eq!(ids(doc! {"description": {"$regex": "^S"}}, &products), vec![100, 104]);
        assert_eq!(ids(doc! {"description": {"$regex": "m.*line", "$options": "si"}}, &products), vec![102, 103]);
        assert_eq!(ids(doc! {"description": {"$regex": "m.*line", "$options": "i"}}, &products), vec![102]);
        let pattern = "abc #category code\n123 #item number";
        assert_eq!(ids(doc! {"sku": {"$regex": pattern, "$options": "x"}}, &products), vec![100]);
        assert_eq!(ids(doc! {"sku": {"$regex": "^\\w+\\d{3}$"}}, &products), vec![100, 101, 102, 103, 104]);
        // PCRE `$` matches before a final newline; `\d` is ASCII.
        assert!(m(doc! {"a": {"$regex": "x$"}}, doc! {"a": "x\n"}));
        assert!(!m(doc! {"a": {"$regex": "^\\d$"}}, doc! {"a": "٣"}));
        assert!(m(doc! {"a": {"$regex": "\\Qa.b\\E"}}, doc! {"a": "a.b"}));
        assert!(!m(doc! {"a": {"$regex": "\\Qa.b\\E"}}, doc! {"a": "axb"}));
        assert!(m(doc! {"a": {"$regex": "[]a]"}}, doc! {"a": "]"}));
        assert!(m(doc! {"a": {"$regex": "[a-c&&]"}}, doc! {"a": "&"}));
        assert!(m(doc! {"a": {"$regex": "a(?#comment)b"}}, doc! {"a": "ab"}));
        // Regex values: equality with the same regex.
        assert!(m(doc! {"a": re("x", "i")}, doc! {"a": re("x", "i")}));
        assert!(m(doc! {"a": {"$eq": re("x", "")}}, doc! {"a": re("x", "")}));
        assert!(!m(doc! {"a": {"$eq": re("x", "")}}, doc! {"a": "x"}));
        assert!(m(doc! {"a": {"$not": re("^a", "")}}, doc! {"a": "ba"}));
        assert!(!m(doc! {"a": {"$regex": "a"}}, doc! {"a": 1}));
        // Rejected constructs and options.
        for bad in ["a(?=b)", "(?!x)", "(?<=a)b", "(a)\\1", "(?>a)", "a++", "a{2}+", "(?R)", "(?1)", "\\y", "\\k<n>"] {
            let e = err(doc! {"a": {"$regex": bad}});
            assert_eq!(e.code, 51091, "{bad}");
            assert!(e.message.starts_with("Regular expression is invalid"), "{bad}: {}", e.message);
        }
        assert_eq!(err(doc! {"a": {"$regex": "("}}).code, 51091);
        assert_eq!(err(doc! {"a": {"$regex": "(".repeat(10_000)}}).code, 51091);
        assert_eq!(err(doc! {"a": {"$regex": "a", "$options": "z"}}).code, 51108);
        assert_eq!(err(doc! {"a": {"$regex": "a", "$options": "g"}}).message, " invalid flag in regex options: g");
        assert!(m(doc! {"a": {"$regex": "^ab\\ [ ] c$", "$options": "x"}}, doc! {"a": "ab  c"}));
        assert_eq!(err(doc! {"a": {"$options": "i"}}).message, "$options needs a $regex");
        assert_eq!(err(doc! {"a": {"$regex": 5}}).message, "$regex has to be a string");
        assert_eq!(err(doc! {"a": {"$regex": re("a", "i"), "$options": "m"}}).code, 51075);
        assert_eq!(err(doc! {"a": {"$options": "m", "$regex": re("a", "i")}}).code, 51074);
        assert!(m(doc! {"a": {"$options": "i", "$regex": "^A"}}, doc! {"a": "abc"}));
        assert!(m(doc! {"a": {"$options": "", "$regex": re("^A", "i")}}, doc! {"a": "abc"}));
        assert_eq!(err(doc! {"a": {"$ne": re("a", "")}}).code, 2);
        assert!(m(doc! {"a": {"$regex": "a*?b"}}, doc! {"a": "aab"}));
        // More PCRE syntax: POSIX classes, literal braces, octal, \b, named groups, \N.
        assert!(m(doc! {"a": {"$regex": "^[[:alpha:]]+$"}}, doc! {"a": "abc"}));
        assert!(m(doc! {"a": {"$regex": "^[[]$"}}, doc! {"a": "["}));
        assert!(m(doc! {"a": {"$regex": "{"}}, doc! {"a": "x{y"}));
        assert!(m(doc! {"a": {"$regex": "^a{2}$"}}, doc! {"a": "aa"}));
        assert!(m(doc! {"a": {"$regex": "^a{2,}}$"}}, doc! {"a": "aaa}"}));
        assert!(m(doc! {"a": {"$regex": "x{a}"}}, doc! {"a": "x{a}"}));
        assert!(m(doc! {"a": {"$regex": "\\012"}}, doc! {"a": "\n"}));
        assert!(m(doc! {"a": {"$regex": "\\bfoo\\b"}}, doc! {"a": "a foo b"}));
        assert!(!m(doc! {"a": {"$regex": "\\bfoo\\b"}}, doc! {"a": "afoob"}));
        assert!(m(doc! {"a": {"$regex": "(?'y'\\d{4})-(?<m>\\d\\d)"}}, doc! {"a": "2024-05"}));
        assert!(m(doc! {"a": {"$regex": "^a\\Nc$"}}, doc! {"a": "abc"}));
        assert!(m(doc! {"a": {"$regex": "\\Q a#b\\E", "$options": "x"}}, doc! {"a": " a#b"}));
        assert!(m(doc! {"a": {"$regex": "a[ ]b # comment [", "$options": "x"}}, doc! {"a": "a b"}));
        assert!(m(doc! {"a": {"$regex": "(?i)ABC"}}, doc! {"a": "abc"}));
        assert!(m(doc! {"a": {"$regex": "[-a]"}}, doc! {"a": "-"}));
        assert!(m(doc! {"a": {"$regex": "[a-]"}}, doc! {"a": "-"}));
        assert!(m(doc! {"a": {"$regex": "[\\d.]+"}}, doc! {"a": "1.5"}));
        assert!(m(doc! {"a": {"$regex": "^[*+?$(){}]+$"}}, doc! {"a": "+*?$(){}"}));
    }

    #[test]
    fn elem_match_forms() {
        // The manual's $elemMatch examples.
        let scores = vec![doc! {"_id": 1, "results": [82, 85, 88]}, doc! {"_id": 2, "results": [75, 88, 89]}];
        assert_eq!(ids(doc! {"results": {"$elemMatch": {"$gte": 80, "$lt": 85}}}, &scores), vec![1]);
        let survey = vec![
            doc! {"_id": 1, "results": [{"product": "abc", "score": 10}, {"product": "xyz", "score": 5}]},
            doc! {"_id": 2, "results": [{"product": "abc", "score": 8}, {"product": "xyz", "score": 7}]},
            doc! {"_id": 3, "results": [{"product": "abc", "score": 7}, {"product": "xyz", "score": 8}]},
            doc! {"_id": 4, "results": [{"product": "abc", "score": 7}, {"product": "def", "score": 8}]},
            doc! {"_id": 5, "results": {"product": "xyz", "score": 7}},
        ];
        assert_eq!(ids(doc! {"results": {"$elemMatch": {"product": "xyz", "score": {"$gte": 8}}}}, &survey), vec![3]);
        assert_eq!(ids(doc! {"results": {"$elemMatch": {"product": "xyz"}}}, &survey), vec![1, 2, 3]);
        assert_eq!(ids(doc! {"results.product": "xyz"}, &survey), vec![1, 2, 3, 5]);
        assert_eq!(ids(doc! {"results": {"$elemMatch": {"product": {"$ne": "xyz"}}}}, &survey), vec![1, 2, 3, 4]);
        assert_eq!(ids(doc! {"results.product": {"$ne": "xyz"}}, &survey), vec![4]);
        assert_eq!(ids(doc! {"results": {"$elemMatch": {"$or": [{"score": 10}, {"score": 5}]}}}, &survey), vec![1]);
        assert!(m(doc! {"a": {"$elemMatch": {"$not": {"$gt": 5}}}}, doc! {"a": [7, 3]}));
        assert!(m(doc! {"a": {"$elemMatch": {"$elemMatch": {"$eq": 1}}}}, doc! {"a": [[1]]}));
        assert!(!m(doc! {"a": {"$elemMatch": {"$eq": 1}}}, doc! {"a": [[1]]}));
        assert!(!m(doc! {"a": {"$elemMatch": {"$exists": true}}}, doc! {"a": 1}));
        // Array elements are seen as documents of their indexes.
        assert!(m(doc! {"a": {"$elemMatch": {"1": 2}}}, doc! {"a": [[1, 2]]}));
        assert!(!m(doc! {"a": {"$elemMatch": {"b": 2}}}, doc! {"a": [2, "b"]}));
        assert_eq!(err(doc! {"a": {"$elemMatch": 1}}).code, 2);
        assert_eq!(err(doc! {"a": {"$elemMatch": {"$gt": 1, "b": 1}}}).message, "unknown operator: b");
    }

    #[test]
    fn all_operator() {
        // The manual's $all examples.
        let inventory = vec![
            doc! {"_id": 1, "code": "xyz", "tags": ["school", "book", "bag", "headphone", "appliance"], "qty": [{"size": "S", "num": 10, "color": "blue"}, {"size": "M", "num": 45, "color": "blue"}, {"size": "L", "num": 100, "color": "green"}]},
            doc! {"_id": 2, "code": "abc", "tags": ["appliance", "school", "book"], "qty": [{"size": "6", "num": 100, "color": "green"}, {"size": "6", "num": 50, "color": "blue"}, {"size": "8", "num": 100, "color": "brown"}]},
            doc! {"_id": 3, "code": "efg", "tags": ["school", "book"], "qty": [{"size": "S", "num": 10, "color": "blue"}, {"size": "M", "num": 100, "color": "blue"}, {"size": "L", "num": 100, "color": "green"}]},
            doc! {"_id": 4, "code": "ijk", "tags": ["electronics", "school"], "qty": [{"size": "M", "num": 100, "color": "green"}]},
        ];
        assert_eq!(ids(doc! {"tags": {"$all": ["appliance", "school", "book"]}}, &inventory), vec![1, 2]);
        assert_eq!(
            ids(
                doc! {"qty": {"$all": [{"$elemMatch": {"size": "M", "num": {"$gt": 50}}}, {"$elemMatch": {"num": 100, "color": "green"}}]}},
                &inventory
            ),
            vec![3, 4]
        );
        assert_eq!(ids(doc! {"qty.num": {"$all": [50]}}, &inventory), vec![2]);
        assert!(m(doc! {"a": {"$all": ["x"]}}, doc! {"a": "x"}));
        assert!(m(doc! {"a": {"$all": [[1, 2]]}}, doc! {"a": [1, 2]}));
        assert!(!m(doc! {"a": {"$all": []}}, doc! {"a": []}));
        assert_eq!(err(doc! {"a": {"$all": 1}}).message, "$all needs an array");
        assert_eq!(err(doc! {"a": {"$all": [{"$elemMatch": {"b": 1}}, 1]}}).message, "$all/$elemMatch has to be consistent");
        assert_eq!(err(doc! {"a": {"$all": [1, {"$elemMatch": {"b": 1}}]}}).message, "no $ expressions in $all");
        assert_eq!(err(doc! {"a": {"$all": [{"$gt": 1}]}}).message, "no $ expressions in $all");
        // A document whose first key is not an operator is a literal.
        assert!(m(doc! {"a": {"$all": [{"$foo": 1}]}}, doc! {"a": [{"$foo": 1}]}));
    }

    #[test]
    fn logical_operators_and_errors() {
        assert!(m(doc! {"$and": [{"a": 1}, {"b": 2}]}, doc! {"a": 1, "b": 2}));
        assert!(!m(doc! {"$and": [{"a": 1}, {"b": 2}]}, doc! {"a": 1}));
        assert!(m(doc! {"$nor": [{"a": 1}, {"b": 2}]}, doc! {"a": 2}));
        assert!(!m(doc! {"$nor": [{"a": 1}, {"b": 2}]}, doc! {"b": 2}));
        // The manual: $nor matches documents missing the fields.
        assert!(m(doc! {"$nor": [{"price": 1.99}, {"sale": true}]}, doc! {}));
        assert!(m(doc! {"price": {"$not": {"$gt": 1.99}}}, doc! {}));
        assert!(m(doc! {"$alwaysTrue": 1}, doc! {}));
        assert!(!m(doc! {"$alwaysFalse": 1}, doc! {}));
        for bad in [doc! {"$and": []}, doc! {"$or": []}, doc! {"$nor": []}] {
            let e = err(bad);
            assert_eq!((e.code, e.message.as_str()), (2, "$and/$or/$nor must be a nonempty array"));
        }
        assert_eq!(err(doc! {"$or": [1]}).message, "$or/$and/$nor entries need to be full objects");
        assert_eq!(err(doc! {"a": {"$foo": 1}}).message, "unknown operator: $foo");
        assert_eq!(err(doc! {"a": {"$gt": 1, "b": 1}}).message, "unknown operator: b");
        assert!(err(doc! {"$foo": 1}).message.starts_with("unknown top level operator: $foo. If you have a field name"));
        assert!(err(doc! {"$where": "this.a"}).message.starts_with("unknown top level operator: $where."));
        // `$text` parses (the planner answers it through the text index); matching it without
        // that index is IndexNotFound.
        let text = Filter::parse(&doc! {"$text": {"$search": "x"}}, &Variables::new(bson::DateTime::from_millis(0))).unwrap();
        assert!(text.has_text() && !text.without_text().has_text());
        let t = text.matches(&doc! {"a": "x"}).unwrap_err();
        assert_eq!((t.code, t.message.as_str()), (27, "text index required for $text query"));
        assert_eq!(err(doc! {"a": {"$not": {}}}).message, "$not cannot be empty");
        assert_eq!(err(doc! {"a": {"$not": 1}}).message, "$not needs a regex or a document");
        assert_eq!(err(doc! {"a": {"$elemMatch": {"$expr": true}}}).message, "$expr can only be applied to the top-level document");
        assert_eq!(err(doc! {"a": {"$elemMatch": {"$where": "1"}}}).message, "$where can only be applied to the top-level document");
        assert_eq!(err(doc! {"a": {"$elemMatch": {"$text": "1"}}}).message, "$text can only be applied to the top-level document");
        assert_eq!(err(doc! {"a": {"$where": "1"}}).message, "$where cannot be applied to a field");
        assert_eq!(err(doc! {"a": {"$gt": /* regex */ re("a", "")}}).message, "Can't have RegEx as arg to predicate over field 'a'.");
        // DBRef-shaped values are literals.
        assert!(m(doc! {"r": {"$ref": "c", "$id": 1}}, doc! {"r": {"$ref": "c", "$id": 1}}));
        assert!(m(doc! {"r": {"$elemMatch": {"$ref": "c", "$id": 1}}}, doc! {"r": [{"$ref": "c", "$id": 1}]}));
        assert!(m(doc! {"r": {"$elemMatch": {"$id": 1}}}, doc! {"r": [{"$ref": "c", "$id": 1}]}));
        assert_eq!(err(doc! {"r": {"$id": 1}}).message, "unknown operator: $id");
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let mut f = doc! {"a": 1};
        for _ in 0..1_000 {
            f = doc! {"$and": [f]};
        }
        assert_eq!(err(f).code, 2);
        let mut f = doc! {"$gt": 1};
        for _ in 0..1_000 {
            f = doc! {"$not": f};
        }
        assert_eq!(err(doc! {"a": f}).code, 2);
        let mut f = doc! {"$gt": 1};
        for _ in 0..1_000 {
            f = doc! {"$elemMatch": f};
        }
        assert_eq!(err(doc! {"a": f}).code, 2);
        let mut f = doc! {"a": 1};
        for _ in 0..150 {
            f = doc! {"$or": [f, {"b": 1}]};
        }
        let flt = Filter::parse(&f, &vars()).unwrap();
        assert!(both(&flt, &doc! {"a": 1}));
        // Just under the limit, every recursive form parses and matches on a test thread's stack.
        let mut f = doc! {"$gt": 1};
        for _ in 0..(MAX_QUERY_DEPTH - 5) {
            f = doc! {"$not": f};
        }
        both_ok(&Filter::parse(&doc! {"a": f}, &vars()).unwrap(), &doc! {"a": 5});
        let mut f = doc! {"$gt": 1};
        for _ in 0..(MAX_QUERY_DEPTH / 2 - 5) {
            f = doc! {"$elemMatch": f};
        }
        both_ok(&Filter::parse(&doc! {"a": f}, &vars()).unwrap(), &doc! {"a": [[5]]});
        let mut f = doc! {"a": 1};
        for _ in 0..(MAX_QUERY_DEPTH / 2 - 5) {
            f = doc! {"x": {"$elemMatch": f}};
        }
        both_ok(&Filter::parse(&f, &vars()).unwrap(), &doc! {"a": [[5]]});
    }

    #[test]
    fn bitwise_operators() {
        // The manual's $bits* examples: a: 54 (0b110110), 20 (0b10100), 20.0, BinData(0, "Zg==") (0b1100110).
        let docs = vec![doc! {"_id": 1, "a": 54}, doc! {"_id": 2, "a": 20}, doc! {"_id": 3, "a": 20.0}];
        assert_eq!(ids(doc! {"a": {"$bitsAllSet": [1, 5]}}, &docs), vec![1]);
        assert_eq!(ids(doc! {"a": {"$bitsAllSet": 50}}, &docs), vec![1]);
        assert_eq!(ids(doc! {"a": {"$bitsAnySet": [1, 5]}}, &docs), vec![1]);
        assert_eq!(ids(doc! {"a": {"$bitsAllClear": [1, 5]}}, &docs), vec![2, 3]);
        assert_eq!(ids(doc! {"a": {"$bitsAnyClear": [1, 5]}}, &docs), vec![2, 3]);
        assert_eq!(ids(doc! {"a": {"$bitsAnyClear": 35}}, &docs), vec![1, 2, 3]);
        // BinData values and masks; negative numbers are sign-extended.
        let bin = |bytes: Vec<u8>| Bson::Binary(bson::Binary { subtype: bson::spec::BinarySubtype::Generic, bytes });
        assert!(m(doc! {"a": {"$bitsAllSet": [1, 2, 5, 6]}}, doc! {"a": bin(vec![0b110_0110])}));
        assert!(m(doc! {"a": {"$bitsAllSet": bin(vec![0b10])}}, doc! {"a": 54}));
        assert!(m(doc! {"a": {"$bitsAllClear": [70]}}, doc! {"a": bin(vec![0xFF; 8])}));
        assert!(m(doc! {"a": {"$bitsAllSet": [70]}}, doc! {"a": bin(vec![0xFF; 9])}));
        assert!(m(doc! {"a": {"$bitsAllSet": [63, 100]}}, doc! {"a": -1}));
        assert!(m(doc! {"a": {"$bitsAllClear": [63, 100]}}, doc! {"a": 5}));
        assert!(!m(doc! {"a": {"$bitsAnySet": [0]}}, doc! {"a": 1.5}));
        assert!(!m(doc! {"a": {"$bitsAnySet": [0]}}, doc! {"a": "1"}));
        assert_eq!(err(doc! {"a": {"$bitsAllSet": [-1]}}).code, 2);
        assert_eq!(err(doc! {"a": {"$bitsAllSet": -1}}).code, 2);
        assert_eq!(err(doc! {"a": {"$bitsAllSet": "x"}}).code, 2);
    }

    #[test]
    fn match_position_records_the_matching_element() {
        let d = doc! {"grades": [80, 85, 90], "x": 1};
        assert_eq!(pos(&filter(doc! {"grades": 85}), &d), Some(1));
        assert_eq!(pos(&filter(doc! {"grades": {"$gte": 86}}), &d), Some(2));
        assert_eq!(pos(&filter(doc! {"x": 1}), &d), None);
        assert_eq!(pos(&filter(doc! {"grades": 1}), &d), None);
        let d = doc! {"students": [{"name": "a", "grade": 80}, {"name": "b", "grade": 90}]};
        assert_eq!(pos(&filter(doc! {"students.grade": 90}), &d), Some(1));
        assert_eq!(pos(&filter(doc! {"students": {"$elemMatch": {"name": "b", "grade": {"$gt": 85}}}}), &d), Some(1));
        assert_eq!(pos(&filter(doc! {"$or": [{"students.grade": 70}, {"students.name": "b"}]}), &d), Some(1));
        // The outermost implicitly traversed array gives the position.
        let d = doc! {"a": [{"b": [1, 2]}, {"b": [3, 4]}]};
        assert_eq!(pos(&filter(doc! {"a.b": 4}), &d), Some(1));
        assert_eq!(pos(&filter(doc! {"a.b": {"$elemMatch": {"$gt": 3}}}), &d), Some(1));
        assert_eq!(pos(&filter(doc! {"a.1.b": 4}), &d), Some(1));
        assert_eq!(pos(&filter(doc! {"a.0.b": 1}), &d), Some(0));
        // With several conditions, the last one that traversed an array.
        let d = doc! {"x": [5, 6], "y": [7, 8, 9]};
        assert_eq!(pos(&filter(doc! {"x": 6, "y": 7}), &d), Some(0));
        assert_eq!(pos(&filter(doc! {"x": 99}), &d), None);
    }

    #[test]
    fn raw_matching_mirrors_decoding() {
        // Stored regex options are sorted by decoding (`/x/mi` reads back as `/x/im`).
        let unsorted = Bson::RegularExpression(bson::Regex { pattern: "x".try_into().unwrap(), options: "mi".try_into().unwrap() });
        let sorted = Bson::RegularExpression(bson::Regex { pattern: "x".try_into().unwrap(), options: "im".try_into().unwrap() });
        let d = doc! {"a": unsorted.clone(), "b": [unsorted.clone()]};
        let raw = bson::RawDocumentBuf::try_from(&d).unwrap();
        let decoded = Document::try_from(raw.as_ref()).unwrap();
        for f in [
            doc! {"a": {"$eq": unsorted.clone()}},
            doc! {"a": {"$eq": sorted.clone()}},
            doc! {"b": {"$in": [sorted.clone()]}},
            doc! {"a": {"$regex": "x", "$options": "mi"}},
            doc! {"a": {"$regex": "x", "$options": "im"}},
            doc! {"b": [sorted.clone()]},
            doc! {"b": {"$in": [unsorted.clone()]}},
            doc! {"b": {"$all": [sorted.clone()]}},
        ] {
            let flt = filter(f.clone());
            assert_eq!(flt.matches_raw(&raw).unwrap(), flt.matches(&decoded).unwrap(), "{f}");
            assert_eq!(flt.match_position_raw(&raw).unwrap(), flt.match_position(&decoded).unwrap(), "{f}");
        }
        assert!(filter(doc! {"a": {"$eq": sorted}}).matches_raw(&raw).unwrap());
        // Strings, documents and arrays compare raw; numbers across types.
        let d = doc! {"s": "日本", "d": {"x": 1, "y": [1, 2.5]}, "n": [1i64, 2.0, Bson::Decimal128("3".parse().unwrap())]};
        assert!(m(doc! {"s": {"$gt": "日"}}, d.clone()));
        assert!(m(doc! {"d": {"x": 1.0, "y": [1i64, 2.5]}}, d.clone()));
        assert!(!m(doc! {"d": {"y": [1, 2.5], "x": 1}}, d.clone()));
        assert!(m(doc! {"d.y": 2.5, "n": {"$all": [1, 2, 3.0]}}, d.clone()));
        assert!(m(doc! {"n": {"$in": [Bson::Decimal128("2.0".parse().unwrap())]}}, d.clone()));
        assert!(m(doc! {"d.y.1": {"$gt": 2}, "d": {"$lt": {"x": 2}}}, d.clone()));
        // A malformed document is an error, not a panic.
        let mut bytes = bson::RawDocumentBuf::try_from(&doc! {"a": {"b": "xyz"}}).unwrap().into_bytes();
        let at = bytes.iter().position(|&b| b == b'x').unwrap();
        bytes[at - 4] = 0x7f; // the string's length
        let bad = bson::RawDocument::from_bytes(&bytes).unwrap();
        assert!(filter(doc! {"a.b": "xyz"}).matches_raw(bad).is_err());
        assert!(!filter(doc! {"$expr": true}).needs_full_document() || filter(doc! {"$expr": true}).matches_raw(bad).is_err());
        assert!(!filter(doc! {"a.b": 1, "$or": [{"c": 1}, {"d": 2}]}).needs_full_document());
        assert!(filter(doc! {"$or": [{"c": 1}, {"$expr": {"$eq": ["$d", 2]}}]}).needs_full_document());
    }

    #[test]
    fn id_equality_fast_path() {
        assert_eq!(filter(doc! {"_id": 5}).id_equality(), Some(&Bson::Int32(5)));
        assert_eq!(filter(doc! {"_id": {"$eq": "x"}}).id_equality(), Some(&Bson::String("x".into())));
        assert_eq!(filter(doc! {"_id": {"a": 1}}).id_equality(), None);
        assert_eq!(filter(doc! {"_id": Bson::Null}).id_equality(), None);
        assert_eq!(filter(doc! {"_id": 5, "a": 1}).id_equality(), None);
        assert_eq!(filter(doc! {"_id": {"$gt": 5}}).id_equality(), None);
        assert_eq!(filter(doc! {"_id": re("a", "")}).id_equality(), None);
    }

    #[test]
    fn equality_seed_for_upserts() {
        assert_eq!(filter(doc! {"a": 1, "b.c": "x", "d": {"$gt": 1}}).equality_seed().unwrap(), doc! {"a": 1, "b": {"c": "x"}});
        assert_eq!(
            filter(doc! {"$and": [{"a": {"$eq": 1}}, {"b": {"$in": [2]}}], "c": {"$in": [1, 2]}}).equality_seed().unwrap(),
            doc! {"a": 1, "b": 2}
        );
        assert_eq!(filter(doc! {"a.b": 1, "a.c": 2}).equality_seed().unwrap(), doc! {"a": {"b": 1, "c": 2}});
        assert_eq!(filter(doc! {"$or": [{"a": 1}, {"b": 1}]}).equality_seed().unwrap(), doc! {});
        assert_eq!(filter(doc! {"a": re("x", "")}).equality_seed().unwrap(), doc! {});
        let e = filter(doc! {"a": 1, "$and": [{"a": 2}]}).equality_seed().unwrap_err();
        assert_eq!((e.code, e.message.as_str()), (54, "cannot infer query fields to set, path 'a' is matched twice"));
        // Replacements take only `_id`, which must be whole.
        assert_eq!(filter(doc! {"_id": {"x": 1}, "a": 1, "a.b": 2}).replacement_seed().unwrap(), doc! {"_id": {"x": 1}});
        assert_eq!(filter(doc! {"a": 1}).replacement_seed().unwrap(), doc! {});
        assert_eq!(filter(doc! {"_id.x": {"$gt": 1}}).replacement_seed().unwrap(), doc! {});
        let e = filter(doc! {"_id.name": "R", "_id.uid": 0}).replacement_seed().unwrap_err();
        assert_eq!((e.code, e.message.as_str()), (111, "field at '_id' must be exactly specified, field at sub-path '_id.name'found"));
        assert_eq!(filter(doc! {"$and": [{"_id.a": 1}]}).replacement_seed().unwrap_err().code, 111);
        assert_eq!(filter(doc! {"_id.a": 1}).equality_seed().unwrap(), doc! {"_id": {"a": 1}});
        let e = filter(doc! {"a": 1, "a.b": 2}).equality_seed().unwrap_err();
        assert_eq!(e.code, 54);
        // Paths deeper than documents may nest are refused (not built).
        let long = vec!["a"; 50_000].join(".");
        assert_eq!(filter(doc! {long: 1}).equality_seed().unwrap_err().code, 15);
        let ok = vec!["a"; 100].join(".");
        assert!(filter(doc! {ok: 1}).equality_seed().is_ok());
    }

    // --- Property test: the matcher against a deliberately naive reference ----------------------

    mod reference {
        //! Straightforward recursive semantics: collect every value a path reaches into a Vec,
        //! then ask whether any satisfies the condition.
        use bson::{Bson, Document};

        use crate::docs::value::{compare, equal, type_rank};

        /// Values reached by `path` in `doc` (None = missing); with `expand`, arrays at the end
        /// of the path are offered element by element, then whole.
        pub fn values(doc: &Document, path: &[&str], expand: bool) -> Vec<Option<Bson>> {
            let mut out = Vec::new();
            from_doc(doc, path, expand, &mut out);
            out
        }

        fn from_doc(doc: &Document, path: &[&str], expand: bool, out: &mut Vec<Option<Bson>>) {
            match doc.get(path[0]) {
                None => out.push(None),
                Some(Bson::Array(a)) => from_array(a, &path[1..], expand, out),
                Some(Bson::Document(d)) if path.len() > 1 => from_doc(d, &path[1..], expand, out),
                Some(v) if path.len() == 1 => out.push(Some(v.clone())),
                Some(_) => out.push(None),
            }
        }

        fn from_array(a: &[Bson], rest: &[&str], expand: bool, out: &mut Vec<Option<Bson>>) {
            if rest.is_empty() {
                if expand {
                    out.extend(a.iter().cloned().map(Some));
                }
                out.push(Some(Bson::Array(a.to_vec())));
                return;
            }
            for (j, e) in a.iter().enumerate() {
                if let Bson::Document(d) = e {
                    from_doc(d, rest, expand, out);
                }
                if rest[0] == j.to_string() {
                    if rest.len() == 1 {
                        out.push(Some(e.clone()));
                    } else if let Bson::Document(d) = e {
                        from_doc(d, &rest[1..], expand, out);
                    } else if let Bson::Array(inner) = e {
                        from_array(inner, &rest[1..], expand, out);
                    }
                }
            }
        }

        pub fn eq(v: &Option<Bson>, t: &Bson) -> bool {
            match v {
                None => matches!(t, Bson::Null),
                Some(x) => type_rank(x) == type_rank(t) && equal(x, t),
            }
        }

        pub fn cmp(v: &Option<Bson>, op: &str, t: &Bson) -> bool {
            match v {
                None => matches!(t, Bson::Null) && (op == "$gte" || op == "$lte"),
                Some(x) if type_rank(x) != type_rank(t) => false,
                Some(x) => {
                    let o = compare(x, t);
                    match op {
                        "$gt" => o.is_gt(),
                        "$gte" => o.is_ge(),
                        "$lt" => o.is_lt(),
                        _ => o.is_le(),
                    }
                }
            }
        }
    }

    mod property {
        use super::*;
        use proptest::prelude::*;

        fn scalar() -> impl Strategy<Value = Bson> {
            prop_oneof![
                (0i32..4).prop_map(Bson::Int32),
                (0i64..4).prop_map(Bson::Int64),
                prop_oneof![Just(1.0f64), Just(2.5), Just(0.0)].prop_map(Bson::Double),
                prop_oneof![Just("x"), Just("y")].prop_map(|s| Bson::String(s.into())),
                Just(Bson::Null),
                any::<bool>().prop_map(Bson::Boolean),
            ]
        }

        fn value() -> impl Strategy<Value = Bson> {
            scalar().prop_recursive(3, 16, 3, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..3).prop_map(Bson::Array),
                    prop::collection::vec((prop_oneof![Just("a"), Just("b"), Just("0")], inner), 0..3).prop_map(|kv| {
                        let mut d = Document::new();
                        for (k, v) in kv {
                            d.insert(k, v);
                        }
                        Bson::Document(d)
                    }),
                ]
            })
        }

        fn document() -> impl Strategy<Value = Document> {
            prop::collection::vec((prop_oneof![Just("a"), Just("b")], value()), 0..3).prop_map(|kv| {
                let mut d = Document::new();
                for (k, v) in kv {
                    d.insert(k, v);
                }
                d
            })
        }

        fn path() -> impl Strategy<Value = &'static str> {
            prop_oneof![
                Just("a"),
                Just("b"),
                Just("a.b"),
                Just("a.0"),
                Just("a.1"),
                Just("a.b.a"),
                Just("b.0.a"),
                Just("a.0.0"),
                Just("a.0.b")
            ]
        }

        #[derive(Clone, Debug)]
        enum Cond {
            Eq(Bson),
            Ne(Bson),
            Cmp(&'static str, Bson),
            In(Vec<Bson>),
            Nin(Vec<Bson>),
            Exists(bool),
            Size(usize),
            NotCmp(&'static str, Bson),
            ElemMatchCmp(&'static str, Bson),
            ElemMatchDoc(Bson),
            All(Vec<Bson>),
            Type(&'static str),
            Mod(i64, i64),
            Regex(&'static str),
        }

        fn cmp_op() -> impl Strategy<Value = &'static str> {
            prop_oneof![Just("$gt"), Just("$gte"), Just("$lt"), Just("$lte")]
        }

        fn cond() -> impl Strategy<Value = Cond> {
            prop_oneof![
                value().prop_map(Cond::Eq),
                scalar().prop_map(Cond::Ne),
                (prop_oneof![Just("$gt"), Just("$gte"), Just("$lt"), Just("$lte")], scalar()).prop_map(|(o, v)| Cond::Cmp(o, v)),
                prop::collection::vec(scalar(), 0..3).prop_map(Cond::In),
                prop::collection::vec(scalar(), 0..3).prop_map(Cond::Nin),
                any::<bool>().prop_map(Cond::Exists),
                (0usize..3).prop_map(Cond::Size),
                (cmp_op(), scalar()).prop_map(|(o, v)| Cond::NotCmp(o, v)),
                (cmp_op(), scalar()).prop_map(|(o, v)| Cond::ElemMatchCmp(o, v)),
                scalar().prop_map(Cond::ElemMatchDoc),
                prop::collection::vec(value(), 0..3).prop_map(Cond::All),
                prop_oneof![
                    Just("number"),
                    Just("string"),
                    Just("array"),
                    Just("null"),
                    Just("object"),
                    Just("bool"),
                    Just("int"),
                    Just("long"),
                    Just("double")
                ]
                .prop_map(Cond::Type),
                (1i64..4, -1i64..3).prop_map(|(d, r)| Cond::Mod(d, r)),
                prop_oneof![Just("^x"), Just("y$"), Just("x|y"), Just(".")].prop_map(Cond::Regex),
            ]
        }

        fn to_filter(path: &str, c: &Cond) -> Document {
            let v = match c {
                Cond::Eq(v) => doc! {"$eq": v.clone()},
                Cond::Ne(v) => doc! {"$ne": v.clone()},
                Cond::Cmp(op, v) => doc! {*op: v.clone()},
                Cond::In(vs) => doc! {"$in": vs.clone()},
                Cond::Nin(vs) => doc! {"$nin": vs.clone()},
                Cond::Exists(b) => doc! {"$exists": *b},
                Cond::Size(n) => doc! {"$size": *n as i64},
                Cond::NotCmp(op, v) => doc! {"$not": {*op: v.clone()}},
                Cond::ElemMatchCmp(op, v) => doc! {"$elemMatch": {*op: v.clone()}},
                Cond::ElemMatchDoc(v) => doc! {"$elemMatch": {"a": v.clone()}},
                Cond::All(vs) => doc! {"$all": vs.clone()},
                Cond::Type(t) => doc! {"$type": *t},
                Cond::Mod(d, r) => doc! {"$mod": [*d, *r]},
                Cond::Regex(p) => doc! {"$regex": *p},
            };
            doc! {path: v}
        }

        fn reference_matches(doc: &Document, path: &str, c: &Cond) -> bool {
            let parts: Vec<&str> = path.split('.').collect();
            let vals = reference::values(doc, &parts, true);
            let any_eq = |t: &Bson| vals.iter().any(|v| reference::eq(v, t));
            match c {
                Cond::Eq(t) => any_eq(t),
                Cond::Ne(t) => !any_eq(t),
                Cond::Cmp(op, t) => vals.iter().any(|v| reference::cmp(v, op, t)),
                Cond::In(ts) => ts.iter().any(any_eq),
                Cond::Nin(ts) => !ts.iter().any(any_eq),
                Cond::Exists(b) => vals.iter().any(Option::is_some) == *b,
                // $size looks at arrays as a whole, never at their elements.
                Cond::Size(n) => reference::values(doc, &parts, false).iter().any(|v| matches!(v, Some(Bson::Array(a)) if a.len() == *n)),
                Cond::NotCmp(op, t) => !vals.iter().any(|v| reference::cmp(v, op, t)),
                // $elemMatch: arrays as a whole; each element is tested as a single value.
                Cond::ElemMatchCmp(op, t) => reference::values(doc, &parts, false)
                    .iter()
                    .any(|v| matches!(v, Some(Bson::Array(a)) if a.iter().any(|e| reference::cmp(&Some(e.clone()), op, t)))),
                // Document elements, and array elements as documents of their indexes.
                Cond::ElemMatchDoc(t) => reference::values(doc, &parts, false).iter().any(|v| {
                    let Some(Bson::Array(a)) = v else { return false };
                    a.iter().any(|e| {
                        let d = match e {
                            Bson::Document(d) => d.clone(),
                            Bson::Array(items) => items.iter().enumerate().map(|(i, x)| (i.to_string(), x.clone())).collect(),
                            _ => return false,
                        };
                        reference::values(&d, &["a"], true).iter().any(|x| reference::eq(x, t))
                    })
                }),
                Cond::All(ts) => !ts.is_empty() && ts.iter().all(any_eq),
                Cond::Type(t) => vals.iter().flatten().any(|x| match *t {
                    "number" => crate::docs::value::is_number(x),
                    alias => crate::docs::value::type_name(x) == alias,
                }),
                Cond::Mod(d, r) => vals.iter().flatten().any(|x| {
                    let n = match x {
                        Bson::Int32(i) => Some(i64::from(*i)),
                        Bson::Int64(i) => Some(*i),
                        Bson::Double(f) => Some(f.trunc() as i64),
                        _ => None,
                    };
                    n.is_some_and(|n| n % d == *r)
                }),
                Cond::Regex(p) => {
                    let re = regex::Regex::new(p).unwrap();
                    vals.iter().flatten().any(|x| matches!(x, Bson::String(s) if re.is_match(s)))
                }
            }
        }

        proptest! {
            /// Any pattern compiles or is refused with a MongoDB error; never a panic.
            #[test]
            fn regex_translation_never_panics(pattern in "[a-c\\\\()\\[\\]{}?*+^$|.:#&~ imsxpPoLU1F-]{0,16}", options in "[imsx]{0,2}") {
                match QueryRegex::new(&pattern, &options) {
                    Ok(r) => { let _ = r.matches_value(&Bson::String("ab(c)\n".into())); }
                    Err(e) => prop_assert!(matches!(e.code, 51091 | 51108), "{pattern}: {e:?}"),
                }
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2000))]
            #[test]
            fn matcher_agrees_with_reference(doc in document(), p1 in path(), c1 in cond(), p2 in path(), c2 in cond()) {
                let mut f = to_filter(p1, &c1);
                let second = to_filter(p2, &c2);
                // Two conditions: as one document when the paths differ, else via $and.
                if p1 != p2 {
                    f.extend(second.clone());
                } else {
                    f = doc! {"$and": [f, second.clone()]};
                }
                let expected = reference_matches(&doc, p1, &c1) && reference_matches(&doc, p2, &c2);
                let flt = Filter::parse(&f, &vars()).unwrap();
                prop_assert_eq!(flt.matches(&doc).unwrap(), expected, "filter {} doc {}", f, doc);
                let raw = bson::RawDocumentBuf::try_from(&doc).unwrap();
                prop_assert_eq!(flt.matches_raw(&raw).unwrap(), expected, "raw: filter {} doc {}", f, doc);
                prop_assert_eq!(flt.match_position_raw(&raw).unwrap(), flt.match_position(&doc).unwrap(), "raw position: filter {} doc {}", f, doc);
                // $or / $nor of the same two agree too.
                let any = reference_matches(&doc, p1, &c1) || reference_matches(&doc, p2, &c2);
                let or = doc! {"$or": [to_filter(p1, &c1), second.clone()]};
                prop_assert_eq!(Filter::parse(&or, &vars()).unwrap().matches(&doc).unwrap(), any);
                let nor = doc! {"$nor": [to_filter(p1, &c1), second]};
                prop_assert_eq!(Filter::parse(&nor, &vars()).unwrap().matches(&doc).unwrap(), !any);
            }
        }
    }

    // --- Property test: `matches_raw` against `matches` ---------------------------------------

    mod raw_property {
        use super::*;
        use bson::oid::ObjectId;
        use bson::spec::BinarySubtype;
        use bson::{Binary, JavaScriptCodeWithScope, RawDocumentBuf, Regex, Timestamp};
        use proptest::prelude::*;

        fn dec(s: &str) -> Bson {
            Bson::Decimal128(s.parse().unwrap())
        }

        /// A regex value with its options as written (not sorted, unlike `Regex::new`).
        fn regex(p: &str, o: &str) -> Bson {
            Bson::RegularExpression(Regex { pattern: p.try_into().unwrap(), options: o.try_into().unwrap() })
        }

        /// A DBPointer (only constructible from bytes).
        fn dbpointer(ns: &str, id: u8) -> Bson {
            let mut body = vec![0x0C, b'p', 0];
            body.extend_from_slice(&(ns.len() as i32 + 1).to_le_bytes());
            body.extend_from_slice(ns.as_bytes());
            body.push(0);
            body.extend_from_slice(&[id; 12]);
            let mut bytes = ((body.len() + 5) as i32).to_le_bytes().to_vec();
            bytes.extend_from_slice(&body);
            bytes.push(0);
            let doc = Document::try_from(bson::RawDocument::from_bytes(&bytes).unwrap()).unwrap();
            doc.get("p").unwrap().clone()
        }

        fn scalar() -> impl Strategy<Value = Bson> {
            prop_oneof![
                4 => (-2i32..4).prop_map(Bson::Int32),
                2 => prop_oneof![Just(0i64), Just(1), Just(3), Just(i64::MAX), Just(i64::MIN), Just((1 << 53) + 1)].prop_map(Bson::Int64),
                3 => prop_oneof![
                    Just(1.0f64),
                    Just(2.5),
                    Just(0.0),
                    Just(-0.0),
                    Just(f64::NAN),
                    Just(f64::INFINITY),
                    Just(9_007_199_254_740_994.0),
                    Just(-1.5)
                ]
                .prop_map(Bson::Double),
                2 => prop_oneof![Just("1"), Just("2.5"), Just("NaN"), Just("-0"), Just("3.000"), Just("-Infinity")].prop_map(dec),
                4 => prop_oneof![Just(""), Just("x"), Just("y"), Just("xé"), Just("日本"), Just("X"), Just("x\u{1F600}"), Just("x\ny")]
                    .prop_map(|s| Bson::String(s.into())),
                2 => Just(Bson::Null),
                1 => Just(Bson::Undefined),
                2 => any::<bool>().prop_map(Bson::Boolean),
                1 => prop_oneof![Just(Bson::MinKey), Just(Bson::MaxKey)],
                1 => (0i64..3).prop_map(|m| Bson::DateTime(bson::DateTime::from_millis(m))),
                1 => (0u8..2).prop_map(|b| Bson::ObjectId(ObjectId::from_bytes([b; 12]))),
                1 => (0u32..2).prop_map(|t| Bson::Timestamp(Timestamp { time: t, increment: 1 })),
                1 => (prop::collection::vec(0u8..4, 0..3), any::<bool>()).prop_map(|(bytes, old)| Bson::Binary(Binary {
                    subtype: if old { BinarySubtype::BinaryOld } else { BinarySubtype::Generic },
                    bytes
                })),
                1 => prop_oneof![Just(("x", "")), Just(("x", "i")), Just(("x", "mi")), Just(("^y", "s"))].prop_map(|(p, o)| regex(p, o)),
                1 => prop_oneof![Just("x"), Just("y")].prop_map(|s| Bson::Symbol(s.into())),
                1 => prop_oneof![
                    Just(Bson::JavaScriptCode("f()".into())),
                    Just(Bson::JavaScriptCodeWithScope(JavaScriptCodeWithScope { code: "f()".into(), scope: doc! {"a": 1} })),
                    (0u8..2).prop_map(|b| dbpointer("db.c", b)),
                ],
            ]
        }

        fn key() -> impl Strategy<Value = &'static str> {
            prop_oneof![4 => Just("a"), 4 => Just("b"), 3 => Just("0"), 3 => Just("1"), 1 => Just("é")]
        }

        fn value() -> impl Strategy<Value = Bson> {
            scalar().prop_recursive(4, 24, 4, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..4).prop_map(Bson::Array),
                    prop::collection::vec((key(), inner), 0..4)
                        .prop_map(|kv| Bson::Document(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())),
                ]
            })
        }

        fn document() -> impl Strategy<Value = Document> {
            let field = prop_oneof![
                2 => value(),
                2 => prop::collection::vec(value(), 0..4).prop_map(Bson::Array),
                2 => prop::collection::vec(prop::collection::vec((key(), value()), 0..3), 0..4).prop_map(|docs| {
                    Bson::Array(docs.into_iter().map(|kv| Bson::Document(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())).collect())
                }),
            ];
            prop::collection::vec((prop_oneof![Just("a"), Just("b"), Just("c")], field), 1..5)
                .prop_map(|kv| kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
        }

        /// Dotted paths: a top-level name, then names and numeric components.
        fn path() -> impl Strategy<Value = String> {
            (prop_oneof![Just("a"), Just("b"), Just("c")], prop::collection::vec(key(), 0..3)).prop_map(|(first, rest)| {
                let mut parts = vec![first];
                parts.extend(rest);
                parts.join(".")
            })
        }

        /// An operand (no Undefined: refused by the parser).
        fn operand() -> impl Strategy<Value = Bson> {
            prop_oneof![4 => scalar(), 1 => value()].prop_filter("undefined", |v| !matches!(v, Bson::Undefined))
        }

        /// One operator document (or literal) for a field.
        fn condition() -> impl Strategy<Value = Bson> {
            let cmp = prop_oneof![Just("$gt"), Just("$gte"), Just("$lt"), Just("$lte"), Just("$eq"), Just("$ne")];
            let type_name = prop_oneof![
                Just(Bson::String("number".into())),
                Just(Bson::String("string".into())),
                Just(Bson::String("object".into())),
                Just(Bson::String("array".into())),
                Just(Bson::String("null".into())),
                Just(Bson::String("decimal".into())),
                Just(Bson::String("regex".into())),
                Just(Bson::Int32(1)),
                Just(Bson::Int32(-1)),
                Just(Bson::Int32(127)),
                Just(Bson::Array(vec![Bson::String("bool".into()), Bson::Int32(16)])),
            ];
            let single = prop_oneof![
                // Broad conditions, so that positions get recorded often.
                3 => prop_oneof![
                    Just(Bson::Document(doc! {"$gt": Bson::MinKey})),
                    Just(Bson::Document(doc! {"$lte": Bson::MaxKey})),
                    Just(Bson::Document(doc! {"$exists": true})),
                    Just(Bson::Document(doc! {"$type": "number"})),
                    Just(Bson::Document(doc! {"$gte": 1})),
                    Just(Bson::Document(doc! {"$in": ["x", 1, Bson::Null]})),
                    Just(Bson::Document(doc! {"$regex": "x"})),
                ],
                3 => operand(),
                4 => (cmp.clone(), operand()).prop_map(|(op, v)| Bson::Document(doc! {op: v})),
                1 => (operand(), operand()).prop_map(|(a, b)| Bson::Document(doc! {"$gte": a, "$lt": b})),
                2 => (any::<bool>(), prop::collection::vec(prop_oneof![4 => operand(), 1 => Just(regex("^x", "")), 1 => Just(regex("y", "i"))], 0..4))
                    .prop_map(|(nin, vs)| Bson::Document(doc! {if nin { "$nin" } else { "$in" }: vs})),
                1 => any::<bool>().prop_map(|b| Bson::Document(doc! {"$exists": b})),
                1 => type_name.prop_map(|t| Bson::Document(doc! {"$type": t})),
                1 => (0i32..4).prop_map(|n| Bson::Document(doc! {"$size": n})),
                1 => (1i64..4, -1i64..3).prop_map(|(d, r)| Bson::Document(doc! {"$mod": [d, r]})),
                1 => (prop_oneof![Just("^x"), Just("y$"), Just("x|y"), Just("."), Just("日")], prop_oneof![Just(""), Just("i"), Just("s")])
                    .prop_map(|(p, o)| Bson::Document(doc! {"$regex": p, "$options": o})),
                1 => prop_oneof![Just(regex("^x", "")), Just(regex("x", "mi"))],
                1 => (cmp.clone(), operand()).prop_map(|(op, v)| Bson::Document(doc! {"$not": {op: v}})),
                1 => prop::collection::vec(operand(), 0..3).prop_map(|vs| Bson::Document(doc! {"$all": vs})),
                1 => (cmp, operand()).prop_map(|(op, v)| Bson::Document(doc! {"$elemMatch": {op: v}})),
                1 => prop_oneof![
                    Just(Bson::Array(vec![Bson::Int32(0), Bson::Int32(1)])),
                    Just(Bson::Int32(5)),
                    Just(Bson::Binary(Binary { subtype: BinarySubtype::Generic, bytes: vec![1] })),
                ]
                .prop_flat_map(|mask| prop_oneof![Just("$bitsAllSet"), Just("$bitsAnySet"), Just("$bitsAllClear"), Just("$bitsAnyClear")]
                    .prop_map(move |op| Bson::Document(doc! {op: mask.clone()}))),
            ];
            single
        }

        fn leaf_filter() -> impl Strategy<Value = Document> {
            prop_oneof![
                8 => prop::collection::vec((path(), condition()), 1..3).prop_map(|kv| kv.into_iter().collect()),
                1 => prop_oneof![
                    Just(doc! {"$expr": {"$gt": ["$a", 1]}}),
                    Just(doc! {"$expr": {"$eq": ["$a.b", "$c"]}}),
                    Just(doc! {"$expr": {"$add": ["$a", 1]}}),
                ],
            ]
        }

        fn filter() -> impl Strategy<Value = Document> {
            let nested = leaf_filter().prop_recursive(3, 12, 3, |inner| {
                prop_oneof![
                    (prop_oneof![Just("$and"), Just("$or"), Just("$nor")], prop::collection::vec(inner.clone(), 1..3))
                        .prop_map(|(op, fs)| doc! {op: fs}),
                    (path(), inner.clone()).prop_map(|(p, f)| doc! {p: {"$elemMatch": f}}),
                    (path(), inner.clone()).prop_map(|(p, f)| doc! {p: {"$all": [{"$elemMatch": f}]}}),
                    (path(), inner).prop_map(|(p, f)| doc! {p: {"$not": {"$elemMatch": f}}}),
                ]
            });
            prop_oneof![2 => leaf_filter(), 1 => nested]
        }

        fn same(a: Result<bool, DocError>, b: Result<bool, DocError>) -> bool {
            match (a, b) {
                (Ok(x), Ok(y)) => x == y,
                (Err(x), Err(y)) => x.code == y.code,
                _ => false,
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(3000))]
            #[test]
            fn raw_matcher_agrees_with_decoded(doc in document(), f in filter()) {
                let Ok(flt) = Filter::parse(&f, &vars()) else { return Ok(()) };
                let raw = RawDocumentBuf::try_from(&doc).unwrap();
                // The decoded form of the stored bytes is what `matches` sees.
                let decoded = Document::try_from(raw.as_ref()).unwrap();
                let expected = flt.matches(&decoded);
                let got = flt.matches_raw(&raw);
                prop_assert!(same(got.clone(), expected.clone()), "filter {} doc {}: raw {:?} decoded {:?}", f, doc, got, expected);
                if expected.is_ok() {
                    prop_assert_eq!(flt.match_position_raw(&raw).unwrap(), flt.match_position(&decoded).unwrap(), "filter {} doc {}", f, doc);
                }
                if flt.needs_full_document() {
                    let text = f.to_string();
                    prop_assert!(text.contains("$expr"));
                }
            }

            #[test]
            fn compare_raw_agrees_with_compare((a, b) in value().prop_flat_map(|a| (Just(a.clone()), prop_oneof![Just(a), value()]))) {
                let raw = RawDocumentBuf::try_from(&doc! {"v": a}).unwrap();
                let ra = raw.get("v").unwrap().unwrap();
                let decoded = value::raw_to_bson(ra).unwrap();
                prop_assert_eq!(value::compare_raw(ra, &b).unwrap(), compare(&decoded, &b), "{} vs {}", decoded, b);
                prop_assert_eq!(value::equal_raw(ra, &b).unwrap(), equal(&decoded, &b));
                prop_assert_eq!(value::raw_type_rank(ra), type_rank(&decoded));
                prop_assert_eq!(value::raw_type_number(ra), type_number(&decoded));
                prop_assert_eq!(value::raw_scalar(ra).is_some_and(|s| equal(&s, &decoded) || s.to_string() == decoded.to_string()), value::raw_scalar(ra).is_some());
            }
        }
    }
}

/// Speed of `matches_raw` against `matches` (`cargo test --release -p nestdb --lib
/// docs::query::raw_speed -- --ignored --nocapture`); prints ns per document, asserts nothing
/// about time.
#[cfg(test)]
mod raw_speed {
    use super::*;
    use bson::{doc, RawDocumentBuf};
    use std::hint::black_box;
    use std::time::Instant;

    const CITIES: [&str; 4] = ["Paris", "Lyon", "Nice", "Lille"];

    fn people(n: usize) -> Vec<Document> {
        (0..n)
            .map(|i| {
                let orders: Vec<Bson> = (0..(1 + i % 5))
                    .map(|k| Bson::Document(doc! {"sku": format!("SKU-{}", (i * 7 + k) % 1000), "amount": ((i * 13 + k * 5) % 500) as f64 + 0.5, "at": bson::DateTime::from_millis((i * 1000 + k) as i64)}))
                    .collect();
                doc! {
                    "_id": i as i64,
                    "name": format!("user number {i}"),
                    "email": format!("user{i}@example.com"),
                    "active": i % 3 != 0,
                    "profile": {"age": (i % 60) as i32 + 18, "city": CITIES[i % 4], "skills": ["rust", "sql", "go"]},
                    "orders": orders,
                    "createdAt": bson::DateTime::from_millis(i as i64 * 86_400_000),
                }
            })
            .collect()
    }

    fn time(label: &str, docs: usize, rounds: usize, mut run: impl FnMut() -> usize) {
        let mut best = f64::MAX;
        let mut hits = 0;
        for _ in 0..rounds {
            let start = Instant::now();
            hits = black_box(run());
            best = best.min(start.elapsed().as_nanos() as f64 / docs as f64);
        }
        eprintln!("{label:<60} {best:>8.1} ns/doc ({hits} hits)");
    }

    #[test]
    #[ignore]
    fn raw_speed() {
        let n: usize = std::env::var("RAW_SPEED_DOCS").ok().and_then(|v| v.parse().ok()).unwrap_or(200_000);
        let rounds: usize = std::env::var("RAW_SPEED_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(7);
        let docs = people(n);
        let raws: Vec<RawDocumentBuf> = docs.iter().map(|d| RawDocumentBuf::try_from(d).unwrap()).collect();
        let vars = Variables::new(bson::DateTime::from_millis(0));
        for f in [
            doc! {"profile.age": {"$gte": 30}, "active": true},
            doc! {"email": "user77@example.com"},
            doc! {"orders.sku": "SKU-7"},
            doc! {"orders.amount": {"$gt": 450}, "profile.city": {"$in": ["Nice", "Lille"]}},
            doc! {"profile.skills": "go", "name": {"$ne": "x"}},
            doc! {"orders": {"$elemMatch": {"amount": {"$gt": 100}, "sku": {"$regex": "^SKU-1"}}}},
        ]
        .into_iter()
        .enumerate()
        .filter(|(i, _)| std::env::var("RAW_SPEED_ONLY").map_or(true, |only| only == i.to_string()))
        .map(|(_, f)| f)
        {
            let flt = Filter::parse(&f, &vars).unwrap();
            time(&format!("matches_raw {f}"), n, rounds, || raws.iter().filter(|r| flt.matches_raw(r).unwrap()).count());
            if std::env::var("RAW_SPEED_ONLY").is_ok() {
                continue;
            }
            time(&format!("matches     {f}"), n, rounds, || docs.iter().filter(|d| flt.matches(d).unwrap()).count());
        }
    }
}

/// Tests that go through `$expr` evaluation (expr.rs).
#[cfg(test)]
mod cross_tests {
    use super::*;
    use bson::doc;

    fn vars() -> Variables {
        Variables::new(bson::DateTime::from_millis(0))
    }

    /// `matches`, asserting that `matches_raw` agrees.
    fn both(f: &Filter, d: &Document) -> bool {
        let expected = f.matches(d).unwrap();
        assert!(f.needs_full_document());
        assert_eq!(f.matches_raw(&bson::RawDocumentBuf::try_from(d).unwrap()).unwrap(), expected);
        expected
    }

    #[test]
    fn expr_compares_fields_of_the_document() {
        // The manual's $expr example (monthlyBudget).
        let f = Filter::parse(&doc! {"$expr": {"$gt": ["$spent", "$budget"]}}, &vars()).unwrap();
        assert!(both(&f, &doc! {"_id": 1, "category": "food", "budget": 400, "spent": 450}));
        assert!(!both(&f, &doc! {"_id": 2, "category": "drinks", "budget": 100, "spent": 150 - 100}));
        let f = Filter::parse(&doc! {"a": 1, "$or": [{"$expr": {"$eq": ["$b", 2]}}, {"c": 3}]}, &vars()).unwrap();
        assert!(both(&f, &doc! {"a": 1, "b": 2}));
        assert!(!both(&f, &doc! {"a": 1, "b": 3}));
    }
}
