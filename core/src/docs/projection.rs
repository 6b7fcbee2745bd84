//! Find projections with MongoDB 4.4+ semantics: which fields of a matched document a find
//! returns, and how (`{a: 1}`, `{a: 0}`, `{"size.uom": 1}`, `{size: {uom: 1}}`, `$slice`,
//! `$elemMatch`, positional `"grades.$"`, `{$meta: "textScore"}`, and computed fields from
//! aggregation expressions such as `{total: {$add: ["$a", "$b"]}}` or `{x: "$a.b"}`).
//!
//! Parsing (MongoDB's `projection_parser`) builds a tree of the projected paths (dotted paths
//! and embedded projection documents merge into one tree; a path that is a prefix of another
//! is a path collision, errors 31249/31250) and decides the projection's mode:
//! - inclusion: a field set to 1/true/non-zero, a computed field (any value other than a
//!   number, a boolean, `$slice`, `$elemMatch` or `$meta`), or a positional path;
//! - exclusion: a field set to 0/false;
//! - `_id` does not decide the mode (it is included by default and may be excluded in
//!   either mode), nor do `$slice`, `$elemMatch` and `$meta`. Undecided projections follow
//!   find's defaults: `{_id: 1}` is an inclusion, one with a `$slice` an exclusion, else one
//!   with an `$elemMatch` an inclusion, anything else an exclusion. Mixing modes is error
//!   31253/31254; an expression in an exclusion 31252.
//!
//! Applying an inclusion keeps the included fields in the document's order (so `_id` first),
//! descends into embedded documents and arrays (arrays keep only their document elements,
//! projected; scalars and nested arrays in them are dropped, as find does), slices `$slice`
//! fields in place, then appends the computed fields (expressions, `$elemMatch`, `$meta`,
//! and subtrees of computed fields whose field is missing or a scalar) in specification
//! order; finally the positional projection narrows the first array on its path to the
//! element the query matched. An exclusion removes the excluded paths (through arrays of
//! documents; other array elements stay) and keeps everything else in place; `$slice` and
//! `$elemMatch` replace their field where it is, `$meta` fields are set (appended when new).
//!
//! Invariants: parse and apply never panic on user input; nested specifications and
//! documents deeper than `MAX_RECURSION` are errors rather than stack overflows.

use bson::{doc, Bson, Document};

use super::error::codes;
use super::expr::{Expr, Variables};
use super::query::Filter;
use super::value;
use super::DocError;

/// The deepest nesting of projection documents / projected documents handled.
pub const MAX_RECURSION: usize = 200;

/// A parsed projection.
#[derive(Clone, Debug)]
pub struct Projection {
    root: Node,
    inclusion: bool,
    vars: Variables,
    /// The positional projection's path (without the `.$`), if any.
    positional: Option<String>,
    empty: bool,
}

/// One level of the projection tree: field name -> what to do with it, in spec order.
#[derive(Clone, Debug, Default)]
struct Node {
    children: Vec<(String, Action)>,
}

#[derive(Clone, Debug)]
enum Action {
    Include,
    Exclude,
    Nested(Node),
    Slice {
        skip: Option<i64>,
        limit: i64,
    },
    /// `{field: {$elemMatch: q}}`: the filter is `{field: {$elemMatch: q}}` on the document.
    ElemMatch {
        filter: Box<Filter>,
    },
    Positional,
    Computed(Box<Expr>),
    Meta(MetaKind),
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum MetaKind {
    /// `textScore`: null until text indexes give scores.
    TextScore,
    /// Metadata a find does not produce (`searchScore`, `indexKey`...): the field is omitted.
    Unavailable,
}

impl Node {
    fn get(&self, name: &str) -> Option<&Action> {
        self.children.iter().find(|(k, _)| k == name).map(|(_, a)| a)
    }
    fn get_mut(&mut self, name: &str) -> Option<&mut Action> {
        self.children.iter_mut().find(|(k, _)| k == name).map(|(_, a)| a)
    }
    fn has_slice(&self) -> bool {
        self.children.iter().any(|(_, a)| match a {
            Action::Slice { .. } => true,
            Action::Nested(n) => n.has_slice(),
            _ => false,
        })
    }
    /// Whether applying this subtree to a missing or non-document value still produces a
    /// document (it computes fields).
    fn computes(&self) -> bool {
        self.children.iter().any(|(_, a)| match a {
            Action::Computed(_) | Action::Meta(MetaKind::TextScore) => true,
            Action::Nested(n) => n.computes(),
            _ => false,
        })
    }
}

/// How one specification value is read.
enum Leaf {
    Include,
    Exclude,
    Slice { skip: Option<i64>, limit: i64 },
    ElemMatch(Document),
    Computed(Box<Expr>),
    Meta(MetaKind),
}

struct Parser<'v> {
    vars: &'v Variables,
    root: Node,
    /// Some(true) inclusion, Some(false) exclusion, None undecided yet.
    mode: Option<bool>,
    id_setting: Option<bool>,
    positional: Option<String>,
    elem_match: bool,
}

impl Projection {
    /// Parse a find projection. `vars` are the command's variables (for expressions).
    pub fn parse(spec: &Document, vars: &Variables) -> Result<Projection, DocError> {
        let mut parser = Parser { vars, root: Node::default(), mode: None, id_setting: None, positional: None, elem_match: false };
        parser.parse_level(spec, "", 0)?;
        let Parser { mut root, mode, id_setting, positional, elem_match, .. } = parser;
        // Undecided (MongoDB's find defaults): `{_id: 1}` alone includes only _id; with a
        // $slice it is an exclusion, else with an $elemMatch an inclusion; anything else
        // (`{}`, `{_id: 0}`, only $meta fields) is an exclusion.
        let has_slice = root.has_slice();
        let inclusion = mode.unwrap_or(id_setting == Some(true) || (!has_slice && elem_match));
        if inclusion && root.get("_id").is_none() {
            root.children.insert(0, ("_id".to_string(), Action::Include));
        }
        Ok(Projection { root, inclusion, vars: vars.clone(), positional, empty: spec.is_empty() })
    }

    /// Whether this projection is an inclusion (only the named fields are returned).
    pub fn is_inclusion(&self) -> bool {
        self.inclusion
    }

    /// The dotted paths of a plain inclusion (only fields included, nothing computed, sliced
    /// or matched; `_id` appears when included): what a covered index scan must hold. None
    /// for any other projection.
    pub fn included_paths(&self) -> Option<Vec<String>> {
        fn walk(node: &Node, prefix: &str, out: &mut Vec<String>) -> bool {
            for (name, action) in &node.children {
                let path = if prefix.is_empty() { name.clone() } else { format!("{prefix}.{name}") };
                match action {
                    Action::Include => out.push(path),
                    Action::Exclude if path == "_id" => {}
                    Action::Nested(n) => {
                        if !walk(n, &path, out) {
                            return false;
                        }
                    }
                    _ => return false,
                }
            }
            true
        }
        if !self.inclusion || self.empty || self.positional.is_some() {
            return None;
        }
        let mut out = Vec::new();
        walk(&self.root, "", &mut out).then_some(out)
    }

    /// Whether the projection uses the positional `$` operator (needs the query).
    pub fn is_positional(&self) -> bool {
        self.positional.is_some()
    }

    /// Project `doc`; `filter` is the query (for the positional `$` projection).
    pub fn apply(&self, doc: &Document, filter: Option<&Filter>) -> Result<Document, DocError> {
        self.apply_scored(doc, filter, None)
    }

    /// `apply` for a `$text` query's result: `{$meta: "textScore"}` fields get `score`.
    pub fn apply_scored(&self, doc: &Document, filter: Option<&Filter>, score: Option<f64>) -> Result<Document, DocError> {
        if self.empty {
            return Ok(doc.clone());
        }
        let ctx = ApplyContext { root: doc, vars: &self.vars, score: score.map_or(Bson::Null, Bson::Double) };
        if !self.inclusion {
            return ctx.exclude(&self.root, doc, 0);
        }
        let mut out = ctx.include(&self.root, Some(doc), 0)?;
        if let Some(path) = &self.positional {
            let Some(filter) = filter else {
                return Err(DocError::location(51050, "Projections with a positional operator require a matcher"));
            };
            apply_positional(&mut out, path, || filter.match_position(doc))?;
        }
        Ok(out)
    }
}

impl Parser<'_> {
    fn parse_level(&mut self, spec: &Document, prefix: &str, depth: usize) -> Result<(), DocError> {
        if depth > MAX_RECURSION {
            return Err(DocError::new(codes::NESTING_TOO_DEEP, "Overflow", "projection specification is nested too deeply"));
        }
        for (name, v) in spec {
            let path = if prefix.is_empty() { name.clone() } else { format!("{prefix}.{name}") };
            if let Bson::Document(sub) = v {
                match sub.keys().next() {
                    None => {
                        return Err(DocError::location(
                            51270,
                            format!("An empty sub-projection is not a valid value. Found empty object at path {path}"),
                        ));
                    }
                    Some(first) if !first.starts_with('$') => {
                        check_path(&path)?;
                        self.parse_level(sub, &path, depth + 1)?;
                        continue;
                    }
                    Some(_) => {}
                }
            }
            self.parse_field(&path, v, prefix.is_empty())?;
        }
        Ok(())
    }

    fn parse_field(&mut self, path: &str, v: &Bson, top_level: bool) -> Result<(), DocError> {
        if let Some(array_path) = path.strip_suffix(".$") {
            return self.parse_positional(path, array_path, v);
        }
        check_path(path)?;
        let leaf = self.classify(v)?;
        let is_id = path == "_id";
        let action = match leaf {
            Leaf::Include => {
                if is_id {
                    self.id_setting = Some(true);
                } else {
                    self.set_mode(path, true)?;
                }
                Action::Include
            }
            Leaf::Exclude => {
                if is_id {
                    self.id_setting = Some(false);
                } else {
                    self.set_mode(path, false)?;
                }
                Action::Exclude
            }
            Leaf::Slice { skip, limit } => Action::Slice { skip, limit },
            Leaf::Meta(kind) => Action::Meta(kind),
            Leaf::Computed(expr) => {
                if self.mode == Some(false) {
                    return Err(DocError::location(31252, "Cannot use expression other than $meta in exclusion projection"));
                }
                self.mode = Some(true);
                Action::Computed(expr)
            }
            Leaf::ElemMatch(query) => {
                if self.positional.is_some() {
                    return Err(DocError::location(31255, "Cannot specify positional operator and $elemMatch."));
                }
                if !top_level || path.contains('.') {
                    return Err(DocError::location(31275, "Cannot use $elemMatch projection on a nested field."));
                }
                // $elemMatch does not decide the mode (a projection of only $elemMatch fields
                // is an inclusion; see `parse`).
                self.elem_match = true;
                let filter = Filter::parse(&single(path, Bson::Document(doc! { "$elemMatch": query.clone() })), self.vars)?;
                Action::ElemMatch { filter: Box::new(filter) }
            }
        };
        insert_path(&mut self.root, path, action)
    }

    fn parse_positional(&mut self, path: &str, array_path: &str, v: &Bson) -> Result<(), DocError> {
        check_path(array_path)?;
        if self.positional.is_some() {
            return Err(DocError::location(31276, "Cannot specify more than one positional projection per query."));
        }
        if self.elem_match {
            return Err(DocError::location(31256, "Cannot specify positional operator and $elemMatch."));
        }
        match v {
            Bson::Document(_) => return Err(DocError::location(31271, "positional projection cannot be used with an expression")),
            Bson::Boolean(_) | Bson::Int32(_) | Bson::Int64(_) | Bson::Double(_) | Bson::Decimal128(_) => {}
            _ => return Err(DocError::location(31308, format!("positional projection cannot be used with a literal: {path}"))),
        }
        if let Leaf::Exclude = self.classify(v)? {
            // An exclusion of "a.$" is a plain path, and "$" is not a field name.
            return Err(DocError::location(
                16410,
                format!("FieldPath field names may not start with '$'. Consider using $getField or $setField. (in \"{path}\")"),
            ));
        }
        self.set_mode(path, true)?;
        self.positional = Some(array_path.to_string());
        insert_path(&mut self.root, array_path, Action::Positional)
    }

    fn set_mode(&mut self, path: &str, inclusion: bool) -> Result<(), DocError> {
        match self.mode {
            Some(true) if !inclusion => {
                Err(DocError::location(31254, format!("Cannot do exclusion on field {path} in inclusion projection")))
            }
            Some(false) if inclusion => {
                Err(DocError::location(31253, format!("Cannot do inclusion on field {path} in exclusion projection")))
            }
            _ => {
                self.mode = Some(inclusion);
                Ok(())
            }
        }
    }

    fn classify(&self, v: &Bson) -> Result<Leaf, DocError> {
        Ok(match v {
            Bson::Boolean(b) => bool_leaf(*b),
            Bson::Int32(_) | Bson::Int64(_) | Bson::Double(_) | Bson::Decimal128(_) => {
                // NaN is not zero: an inclusion.
                let zero = value::as_f64(v).is_some_and(|d| d == 0.0);
                bool_leaf(!zero)
            }
            // As MongoDB does, only the first key of a `$slice` / `$elemMatch` object counts.
            Bson::Document(d) if first_key(d) == Some("$slice") => parse_slice(d.get("$slice").unwrap_or(&Bson::Null))?,
            Bson::Document(d) if first_key(d) == Some("$elemMatch") => match d.get("$elemMatch") {
                Some(Bson::Document(q)) => Leaf::ElemMatch(q.clone()),
                other => {
                    let got = other.map_or("missing", value::type_name);
                    return Err(DocError::location(31274, format!("elemMatch: Invalid argument, object required, but got {got}")));
                }
            },
            Bson::Document(d) if d.len() == 1 && d.contains_key("$meta") => match d.get("$meta") {
                Some(Bson::String(s)) => Leaf::Meta(meta_kind(s)?),
                _ => return Err(DocError::location(17307, "$meta only supports string arguments")),
            },
            _ => Leaf::Computed(Box::new(Expr::parse(v)?)),
        })
    }
}

fn first_key(d: &Document) -> Option<&str> {
    d.keys().next().map(String::as_str)
}

fn bool_leaf(include: bool) -> Leaf {
    if include {
        Leaf::Include
    } else {
        Leaf::Exclude
    }
}

fn meta_kind(name: &str) -> Result<MetaKind, DocError> {
    match name {
        "textScore" => Ok(MetaKind::TextScore),
        "randVal"
        | "searchScore"
        | "searchHighlights"
        | "geoNearDistance"
        | "geoNearPoint"
        | "recordId"
        | "indexKey"
        | "sortKey"
        | "searchScoreDetails"
        | "searchSequenceToken"
        | "vectorSearchScore"
        | "score"
        | "scoreDetails" => Ok(MetaKind::Unavailable),
        _ => Err(DocError::location(17308, format!("Unsupported argument to $meta: {name}"))),
    }
}

/// `$slice: n` or `$slice: [skip, limit]`.
fn parse_slice(arg: &Bson) -> Result<Leaf, DocError> {
    /// MongoDB reads the numbers as 32-bit integers (doubles truncated).
    fn int(v: &Bson) -> Option<i64> {
        value::is_number(v).then(|| {
            let d = value::as_f64(v).unwrap_or(0.0);
            if d.is_nan() {
                0
            } else {
                d.trunc().clamp(f64::from(i32::MIN), f64::from(i32::MAX)) as i64
            }
        })
    }
    match arg {
        Bson::Array(items) => {
            if items.len() != 2 {
                return Err(DocError::location(31272, "$slice array argument should be of form [skip, limit]"));
            }
            let Some(skip) = int(&items[0]) else {
                return Err(DocError::location(
                    31257,
                    format!("$slice expects the skip argument to be a number, got {}", value::type_name(&items[0])),
                ));
            };
            let Some(limit) = int(&items[1]) else {
                return Err(DocError::location(
                    31258,
                    format!("$slice expects the limit argument to be a number, got {}", value::type_name(&items[1])),
                ));
            };
            if limit <= 0 {
                return Err(DocError::location(31259, format!("$slice limit must be positive, got {limit}")));
            }
            Ok(Leaf::Slice { skip: Some(skip), limit })
        }
        _ => match int(arg) {
            Some(limit) => Ok(Leaf::Slice { skip: None, limit }),
            None => Err(DocError::location(31273, "$slice only supports numbers and [skip, limit] arrays")),
        },
    }
}

/// Field-path rules for projected paths (the positional `.$` is stripped before this).
fn check_path(path: &str) -> Result<(), DocError> {
    if path.is_empty() {
        return Err(DocError::location(40352, "FieldPath cannot be constructed with empty string"));
    }
    for part in path.split('.') {
        if part.is_empty() {
            return Err(DocError::location(15998, "FieldPath field names may not be empty strings."));
        }
        if part == "$" {
            return Err(DocError::location(
                31394,
                "As of 4.4, it's illegal to specify positional operator in the middle of a path.Positional projection may only be used at the end, \
                 for example: a.b.$. If the query previously used a form like a.b.$.d, remove the parts following the '$' and the results will be \
                 equivalent.",
            ));
        }
        if part.starts_with('$') {
            return Err(DocError::location(
                16410,
                format!("FieldPath field names may not start with '$'. Consider using $getField or $setField. (in \"{path}\")"),
            ));
        }
    }
    Ok(())
}

/// Add `action` at the dotted `path`; a path that is a prefix of another is a collision.
fn insert_path(root: &mut Node, path: &str, action: Action) -> Result<(), DocError> {
    let parts: Vec<&str> = path.split('.').collect();
    let mut node = root;
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        if last {
            if node.get(part).is_some() {
                return Err(DocError::location(31250, format!("Path collision at {path}")));
            }
            node.children.push((part.to_string(), action));
            return Ok(());
        }
        if node.get(part).is_none() {
            node.children.push((part.to_string(), Action::Nested(Node::default())));
        }
        match node.get_mut(part) {
            Some(Action::Nested(child)) => node = child,
            _ => {
                // MongoDB prints the path without its first component (FieldPath::tail).
                return Err(DocError::location(31249, format!("Path collision at {path} remaining portion {}", parts[1..].join("."))));
            }
        }
    }
    Ok(())
}

/// Per-document state of `apply`.
struct ApplyContext<'a> {
    root: &'a Document,
    vars: &'a Variables,
    /// The `$text` score (`{$meta: "textScore"}`), null outside text queries.
    score: Bson,
}

impl ApplyContext<'_> {
    /// Inclusion at one level; `src` None means the field is missing or not a document (only
    /// computed fields are produced then).
    fn include(&self, node: &Node, src: Option<&Document>, depth: usize) -> Result<Document, DocError> {
        check_depth(depth)?;
        let mut out = Document::new();
        if let Some(src) = src {
            for (k, v) in src {
                match node.get(k) {
                    // The positional path is included whole; `apply_positional` then narrows
                    // the first array on it.
                    Some(Action::Include | Action::Positional) => {
                        out.insert(k.clone(), v.clone());
                    }
                    // $slice includes its field in place, sliced.
                    Some(Action::Slice { skip, limit }) => {
                        out.insert(k.clone(), slice(v, *skip, *limit));
                    }
                    Some(Action::Nested(child)) => {
                        if let Some(projected) = self.include_value(child, v, depth + 1)? {
                            out.insert(k.clone(), projected);
                        }
                    }
                    _ => {}
                }
            }
        }
        for (k, action) in &node.children {
            let current = src.and_then(|s| s.get(k));
            let produced = match action {
                Action::Include | Action::Exclude | Action::Slice { .. } | Action::Positional => None,
                Action::Nested(child) => {
                    // A subtree that computes values makes its field exist even when the
                    // source field is missing.
                    // (Present documents and arrays were handled in document order above.)
                    let projected = matches!(current, Some(Bson::Document(_) | Bson::Array(_)));
                    if !projected && child.computes() {
                        Some(Bson::Document(self.include(child, None, depth + 1)?))
                    } else {
                        None
                    }
                }
                Action::ElemMatch { filter } => self.elem_match(k, filter)?,
                Action::Computed(expr) => expr.eval(self.root, self.vars)?,
                Action::Meta(MetaKind::TextScore) => Some(self.score.clone()),
                Action::Meta(MetaKind::Unavailable) => None,
            };
            if let Some(v) = produced {
                out.insert(k.clone(), v);
            }
        }
        Ok(out)
    }

    /// Inclusion below a present field: a document is projected; an array keeps its
    /// projected documents only (scalars and nested arrays are dropped: find projections do
    /// not recurse into nested arrays); a scalar is dropped (None), and a subtree that
    /// computes fields then replaces it, appended after the document-order fields.
    fn include_value(&self, node: &Node, v: &Bson, depth: usize) -> Result<Option<Bson>, DocError> {
        check_depth(depth)?;
        Ok(match v {
            Bson::Document(d) => Some(Bson::Document(self.include(node, Some(d), depth)?)),
            Bson::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    if let Bson::Document(d) = item {
                        out.push(Bson::Document(self.include(node, Some(d), depth)?));
                    }
                }
                Some(Bson::Array(out))
            }
            _ => None,
        })
    }

    /// Exclusion at one level: everything but the excluded paths, in place.
    fn exclude(&self, node: &Node, src: &Document, depth: usize) -> Result<Document, DocError> {
        check_depth(depth)?;
        let mut out = Document::new();
        for (k, v) in src {
            match node.get(k) {
                Some(Action::Exclude) => {}
                Some(Action::Nested(child)) => {
                    out.insert(k.clone(), self.exclude_value(child, v, depth + 1)?);
                }
                Some(Action::Slice { skip, limit }) => {
                    out.insert(k.clone(), slice(v, *skip, *limit));
                }
                Some(Action::ElemMatch { filter }) => {
                    if let Some(matched) = self.elem_match(k, filter)? {
                        out.insert(k.clone(), matched);
                    }
                }
                _ => {
                    out.insert(k.clone(), v.clone());
                }
            }
        }
        for (k, action) in &node.children {
            if let Action::Meta(MetaKind::TextScore) = action {
                out.insert(k.clone(), self.score.clone());
            }
        }
        Ok(out)
    }

    fn exclude_value(&self, node: &Node, v: &Bson, depth: usize) -> Result<Bson, DocError> {
        check_depth(depth)?;
        Ok(match v {
            Bson::Document(d) => Bson::Document(self.exclude(node, d, depth)?),
            // Documents in an array are projected; scalars and nested arrays are kept as they
            // are (find projections do not recurse into nested arrays).
            Bson::Array(items) => Bson::Array(
                items
                    .iter()
                    .map(|item| match item {
                        Bson::Document(d) => Ok(Bson::Document(self.exclude(node, d, depth)?)),
                        _ => Ok(item.clone()),
                    })
                    .collect::<Result<_, DocError>>()?,
            ),
            _ => v.clone(),
        })
    }

    /// `{field: {$elemMatch: q}}`: the first element matching `q`, as a one-element array;
    /// None (field omitted) when the field is not an array or nothing matches.
    fn elem_match(&self, field: &str, filter: &Filter) -> Result<Option<Bson>, DocError> {
        let Some(Bson::Array(items)) = self.root.get(field) else {
            return Ok(None);
        };
        if !filter.matches(self.root)? {
            return Ok(None);
        }
        if let Some(i) = filter.match_position(self.root)? {
            if let Some(e) = items.get(i) {
                return Ok(Some(Bson::Array(vec![e.clone()])));
            }
        }
        // No position reported: test the elements one by one, each as a one-element array
        // under the field.
        for e in items {
            if filter.matches(&single(field, Bson::Array(vec![e.clone()])))? {
                return Ok(Some(Bson::Array(vec![e.clone()])));
            }
        }
        Ok(None)
    }
}

/// The positional projection (MongoDB's `applyPositionalProjection`): walk `path` in the
/// projected document `out`; the first array on it is replaced by its element at the position
/// where the query matched (as a one-element array). Without an array on the path the
/// document is left as it is; an array without a matched position is error 51246, a position
/// past its end 51247.
fn apply_positional(out: &mut Document, path: &str, position: impl FnOnce() -> Result<Option<usize>, DocError>) -> Result<(), DocError> {
    let mut cur = out;
    for part in path.split('.') {
        match cur.get_mut(part) {
            Some(Bson::Document(d)) => cur = d,
            Some(Bson::Array(items)) => {
                let Some(i) = position()? else {
                    return Err(DocError::location(
                        51246,
                        format!("{FIND_ERROR_PREFIX}positional operator '.$' couldn't find a matching element in the array"),
                    ));
                };
                let Some(element) = items.get(i).cloned() else {
                    return Err(DocError::location(51247, format!("{FIND_ERROR_PREFIX}positional operator '.$' element mismatch")));
                };
                *items = vec![element];
                return Ok(());
            }
            _ => return Ok(()),
        }
    }
    Ok(())
}

/// The prefix MongoDB's find command puts on errors raised while producing results (the
/// positional projection's): `errmsg` is this followed by the projection's message.
pub const FIND_ERROR_PREFIX: &str = "Executor error during find command :: caused by :: ";

/// `{name: value}`.
fn single(name: &str, value: Bson) -> Document {
    let mut d = Document::new();
    d.insert(name, value);
    d
}

fn check_depth(depth: usize) -> Result<(), DocError> {
    if depth > MAX_RECURSION {
        Err(DocError::new(codes::NESTING_TOO_DEEP, "Overflow", "document is nested too deeply for projection"))
    } else {
        Ok(())
    }
}

/// `$slice` on one value: `limit` alone takes the first `limit` (last `-limit` when
/// negative); with `skip`, `limit` elements from `skip` (counted from the end when
/// negative). Non-arrays are returned as they are.
pub fn slice(v: &Bson, skip: Option<i64>, limit: i64) -> Bson {
    let Bson::Array(items) = v else {
        return v.clone();
    };
    let len = items.len() as i64;
    let (start, count) = match skip {
        None if limit >= 0 => (0, limit.min(len)),
        None => {
            let count = limit.unsigned_abs().min(len as u64) as i64;
            (len - count, count)
        }
        Some(s) => {
            let start = if s >= 0 { s.min(len) } else { (len + s.max(-len)).max(0) };
            (start, limit.min(len - start))
        }
    };
    Bson::Array(items[start as usize..(start + count) as usize].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Variables {
        Variables::new(bson::DateTime::from_millis(0))
    }

    fn project(spec: Document, d: &Document) -> Result<Document, DocError> {
        Projection::parse(&spec, &vars())?.apply(d, None)
    }

    /// The manual's "Project Fields to Return from Query" collection.
    fn inventory() -> Vec<Document> {
        vec![
            doc! {"_id": 1, "item": "journal", "status": "A", "size": {"h": 14, "w": 21, "uom": "cm"}, "instock": [{"warehouse": "A", "qty": 5}]},
            doc! {"_id": 2, "item": "notebook", "status": "A", "size": {"h": 8.5, "w": 11, "uom": "in"}, "instock": [{"warehouse": "C", "qty": 5}]},
            doc! {"_id": 3, "item": "paper", "status": "D", "size": {"h": 8.5, "w": 11, "uom": "in"}, "instock": [{"warehouse": "A", "qty": 60}]},
            doc! {"_id": 4, "item": "planner", "status": "D", "size": {"h": 22.85, "w": 30, "uom": "cm"}, "instock": [{"warehouse": "A", "qty": 40}]},
            doc! {"_id": 5, "item": "postcard", "status": "A", "size": {"h": 10, "w": 15.25, "uom": "cm"},
            "instock": [{"warehouse": "B", "qty": 15}, {"warehouse": "C", "qty": 35}]},
        ]
    }

    fn project_all(spec: Document) -> Vec<Document> {
        let p = Projection::parse(&spec, &vars()).unwrap();
        inventory().iter().map(|d| p.apply(d, None).unwrap()).collect()
    }

    #[test]
    fn inclusion_returns_named_fields_and_id() {
        let out = project_all(doc! {"item": 1, "status": 1});
        assert_eq!(out[0], doc! {"_id": 1, "item": "journal", "status": "A"});
        assert_eq!(out[4], doc! {"_id": 5, "item": "postcard", "status": "A"});
        // Field order is the document's, not the specification's.
        assert_eq!(project_all(doc! {"status": 1, "item": true})[0], doc! {"_id": 1, "item": "journal", "status": "A"});
        assert_eq!(project_all(doc! {"item": 5, "status": -1.5})[0], doc! {"_id": 1, "item": "journal", "status": "A"});
    }

    #[test]
    fn suppress_id() {
        assert_eq!(project_all(doc! {"item": 1, "status": 1, "_id": 0})[1], doc! {"item": "notebook", "status": "A"});
        assert_eq!(
            project_all(doc! {"_id": 0})[0],
            doc! {"item": "journal", "status": "A", "size": {"h": 14, "w": 21, "uom": "cm"},
            "instock": [{"warehouse": "A", "qty": 5}]}
        );
        assert_eq!(project_all(doc! {"_id": 1})[0], doc! {"_id": 1});
    }

    #[test]
    fn exclusion_returns_all_but_excluded() {
        assert_eq!(
            project_all(doc! {"status": 0, "instock": 0})[0],
            doc! {"_id": 1, "item": "journal", "size": {"h": 14, "w": 21, "uom": "cm"}}
        );
        assert_eq!(project_all(doc! {"status": false, "_id": 0})[2]["item"], Bson::String("paper".into()));
        assert_eq!(project_all(doc! {"status": 0, "_id": 1})[0].keys().collect::<Vec<_>>(), vec!["_id", "item", "size", "instock"]);
    }

    #[test]
    fn specific_fields_in_embedded_documents() {
        let expected = doc! {"_id": 1, "item": "journal", "status": "A", "size": {"uom": "cm"}};
        assert_eq!(project_all(doc! {"item": 1, "status": 1, "size.uom": 1})[0], expected);
        assert_eq!(project_all(doc! {"item": 1, "status": 1, "size": {"uom": 1}})[0], expected);
        let excluded = project_all(doc! {"size.uom": 0});
        assert_eq!(
            excluded[0],
            doc! {"_id": 1, "item": "journal", "status": "A", "size": {"h": 14, "w": 21}, "instock": [{"warehouse": "A", "qty": 5}]}
        );
        assert_eq!(project_all(doc! {"size": {"uom": 0}})[0], excluded[0]);
    }

    #[test]
    fn embedded_documents_in_arrays() {
        let out = project_all(doc! {"item": 1, "status": 1, "instock.qty": 1});
        assert_eq!(out[0], doc! {"_id": 1, "item": "journal", "status": "A", "instock": [{"qty": 5}]});
        assert_eq!(out[4], doc! {"_id": 5, "item": "postcard", "status": "A", "instock": [{"qty": 15}, {"qty": 35}]});
        let out = project_all(doc! {"instock.qty": 0});
        assert_eq!(out[4]["instock"], bson::bson!([{"warehouse": "B"}, {"warehouse": "C"}]));
    }

    #[test]
    fn inclusion_through_arrays_drops_scalars_and_keeps_empty_documents() {
        let d = doc! {"_id": 1, "a": [1, {"b": 2, "c": 3}, [{"b": 4}, 5], {"c": 6}], "x": {"c": 1}, "y": 7};
        assert_eq!(project(doc! {"a.b": 1, "x.b": 1, "y.b": 1}, &d).unwrap(), doc! {"_id": 1, "a": [{"b": 2}, {}], "x": {}});
        // Exclusion keeps scalars and nested arrays inside arrays as they are.
        assert_eq!(project(doc! {"a.b": 0, "_id": 0, "x": 0, "y": 0}, &d).unwrap(), doc! {"a": [1, {"c": 3}, [{"b": 4}, 5], {"c": 6}]});
    }

    #[test]
    fn slice_in_projection_examples() {
        let out = project_all(doc! {"item": 1, "status": 1, "instock": {"$slice": -1}});
        assert_eq!(out[4], doc! {"_id": 5, "item": "postcard", "status": "A", "instock": [{"warehouse": "C", "qty": 35}]});
        // $slice page: inclusion drops the nested document's other fields, exclusion keeps them.
        let socks = doc! {"_id": 1, "item": "socks", "qty": 100, "details": {"colors": ["blue", "red"], "sizes": ["S", "M", "L"]}};
        assert_eq!(
            project(doc! {"qty": 1, "details.colors": {"$slice": 1}}, &socks).unwrap(),
            doc! {"_id": 1, "qty": 100, "details": {"colors": ["blue"]}}
        );
        assert_eq!(
            project(doc! {"_id": 0, "details.colors": {"$slice": 1}}, &socks).unwrap(),
            doc! {"item": "socks", "qty": 100, "details": {"colors": ["blue"], "sizes": ["S", "M", "L"]}}
        );
        // Alone, $slice returns every other field.
        assert_eq!(
            project(doc! {"details.sizes": {"$slice": -2}}, &socks).unwrap()["details"],
            bson::bson!({"colors": ["blue", "red"], "sizes": ["M", "L"]})
        );
    }

    fn comments(spec: Bson) -> Vec<Bson> {
        let posts = [
            doc! {"_id": 1, "title": "Bagels are not croissants.", "comments": [{"comment": "0. true"}, {"comment": "1. croissants aren't bagels."}]},
            doc! {"_id": 2, "title": "Coffee please.", "comments": [{"comment": "0. fooey"}, {"comment": "1. tea please"}, {"comment": "2. iced coffee"},
            {"comment": "3. cappuccino"}, {"comment": "4. whatever"}]},
        ];
        let p = Projection::parse(&doc! {"comments": {"$slice": spec}}, &vars()).unwrap();
        posts
            .iter()
            .map(|d| {
                let out = p.apply(d, None).unwrap();
                assert!(out.contains_key("title"));
                let numbers: Vec<Bson> = out
                    .get_array("comments")
                    .unwrap()
                    .iter()
                    .map(|c| Bson::String(c.as_document().unwrap().get_str("comment").unwrap()[..1].to_string()))
                    .collect();
                Bson::Array(numbers)
            })
            .collect()
    }

    #[test]
    fn slice_forms() {
        let s = |v: &[&str]| Bson::Array(v.iter().map(|x| Bson::String(x.to_string())).collect());
        assert_eq!(comments(Bson::Int32(3)), vec![s(&["0", "1"]), s(&["0", "1", "2"])]);
        assert_eq!(comments(Bson::Int32(-3)), vec![s(&["0", "1"]), s(&["2", "3", "4"])]);
        assert_eq!(comments(bson::bson!([1, 3])), vec![s(&["1"]), s(&["1", "2", "3"])]);
        assert_eq!(comments(bson::bson!([-1, 3])), vec![s(&["1"]), s(&["4"])]);
        assert_eq!(comments(bson::bson!([-10, 2])), vec![s(&["0", "1"]), s(&["0", "1"])]);
        assert_eq!(comments(bson::bson!([10, 2])), vec![s(&[]), s(&[])]);
        assert_eq!(comments(Bson::Int32(0)), vec![s(&[]), s(&[])]);
        assert_eq!(comments(Bson::Int64(-100)), vec![s(&["0", "1"]), s(&["0", "1", "2", "3", "4"])]);
    }

    #[test]
    fn slice_keeps_the_document_order_in_an_inclusion() {
        let d = doc! {"_id": 1, "arr": [1, 2, 3], "a": 1, "nested": [{"v": [1, 2], "w": 1}, 7]};
        assert_eq!(project(doc! {"a": 1, "arr": {"$slice": 1}}, &d).unwrap(), doc! {"_id": 1, "arr": [1], "a": 1});
        // Through an array of documents: each element's array is sliced.
        assert_eq!(project(doc! {"_id": 0, "nested.v": {"$slice": -1}}, &d).unwrap()["nested"], bson::bson!([{"v": [2], "w": 1}, 7]));
        assert_eq!(project(doc! {"_id": 0, "a": 1, "nested.v": {"$slice": -1}}, &d).unwrap(), doc! {"a": 1, "nested": [{"v": [2]}]});
    }

    #[test]
    fn slice_of_non_array_is_returned_as_is_and_missing_stays_missing() {
        let d = doc! {"_id": 1, "a": 5, "b": {"c": 1}};
        assert_eq!(project(doc! {"a": {"$slice": 1}, "b": {"$slice": 1}, "z": {"$slice": 1}}, &d).unwrap(), d);
        assert_eq!(project(doc! {"_id": 1, "a": {"$slice": 1}, "z": {"$slice": 1}}, &d).unwrap(), doc! {"_id": 1, "a": 5});
    }

    #[test]
    fn slice_argument_errors() {
        for (bad, code) in [
            (bson::bson!("x"), 31273),
            (bson::bson!(null), 31273),
            (bson::bson!([1]), 31272),
            (bson::bson!([1, 2, 3]), 31272),
            (bson::bson!([1, 0]), 31259),
            (bson::bson!([1, -2]), 31259),
            (bson::bson!(["a", 1]), 31257),
            (bson::bson!([1, "a"]), 31258),
        ] {
            let e = Projection::parse(&doc! {"a": {"$slice": bad.clone()}}, &vars()).unwrap_err();
            assert_eq!(e.code, code, "{bad:?}");
        }
        assert_eq!(
            Projection::parse(&doc! {"a": {"$slice": [1, 0]}}, &vars()).unwrap_err().message,
            "$slice limit must be positive, got 0"
        );
    }

    #[test]
    fn text_score_meta_is_null_in_either_mode() {
        let d = doc! {"_id": 1, "a": 1, "b": 2};
        assert_eq!(project(doc! {"score": {"$meta": "textScore"}}, &d).unwrap(), doc! {"_id": 1, "a": 1, "b": 2, "score": Bson::Null});
        assert_eq!(project(doc! {"score": {"$meta": "textScore"}, "a": 1}, &d).unwrap(), doc! {"_id": 1, "a": 1, "score": Bson::Null});
        assert_eq!(project(doc! {"score": {"$meta": "textScore"}, "a": 0}, &d).unwrap(), doc! {"_id": 1, "b": 2, "score": Bson::Null});
        assert_eq!(Projection::parse(&doc! {"s": {"$meta": "nope"}}, &vars()).unwrap_err().code, 17308);
    }

    #[test]
    fn mixing_inclusion_and_exclusion_is_an_error() {
        let e = Projection::parse(&doc! {"a": 1, "b": 0}, &vars()).unwrap_err();
        assert_eq!((e.code, e.message.as_str()), (31254, "Cannot do exclusion on field b in inclusion projection"));
        let e = Projection::parse(&doc! {"a": 0, "b.c": 1}, &vars()).unwrap_err();
        assert_eq!((e.code, e.message.as_str()), (31253, "Cannot do inclusion on field b.c in exclusion projection"));
        let e = Projection::parse(&doc! {"a": 0, "b": {"c": true}}, &vars()).unwrap_err();
        assert_eq!(e.code, 31253);
        // _id may go either way.
        assert!(Projection::parse(&doc! {"a": 1, "_id": 0}, &vars()).is_ok());
        assert!(Projection::parse(&doc! {"_id": 1, "a": 0}, &vars()).is_ok());
    }

    #[test]
    fn path_collisions() {
        let e = Projection::parse(&doc! {"a": 1, "a.b": 1}, &vars()).unwrap_err();
        assert_eq!((e.code, e.message.as_str()), (31249, "Path collision at a.b remaining portion b"));
        let e = Projection::parse(&doc! {"a.b": 1, "a.b.c.d": 1}, &vars()).unwrap_err();
        assert_eq!((e.code, e.message.as_str()), (31249, "Path collision at a.b.c.d remaining portion b.c.d"));
        let e = Projection::parse(&doc! {"a.b.c": 1, "a": 1}, &vars()).unwrap_err();
        assert_eq!((e.code, e.message.as_str()), (31250, "Path collision at a"));
        let e = Projection::parse(&doc! {"a.b": 1, "a": {"b": 1}}, &vars()).unwrap_err();
        assert_eq!((e.code, e.message.as_str()), (31250, "Path collision at a.b"));
        // Siblings under one parent merge.
        let d = doc! {"_id": 1, "a": {"b": 1, "c": 2, "d": 3}};
        assert_eq!(project(doc! {"a.b": 1, "a": {"d": 1}}, &d).unwrap(), doc! {"_id": 1, "a": {"b": 1, "d": 3}});
    }

    #[test]
    fn field_path_errors() {
        assert_eq!(Projection::parse(&doc! {"": 1}, &vars()).unwrap_err().code, 40352);
        assert_eq!(Projection::parse(&doc! {"a..b": 1}, &vars()).unwrap_err().code, 15998);
        assert_eq!(Projection::parse(&doc! {"$a": 1}, &vars()).unwrap_err().code, 16410);
        assert_eq!(Projection::parse(&doc! {"a.$.b": 1}, &vars()).unwrap_err().code, 31394);
        assert_eq!(Projection::parse(&doc! {"a": {}}, &vars()).unwrap_err().code, 51270);
        assert_eq!(Projection::parse(&doc! {"a.$": 1, "b.$": 1}, &vars()).unwrap_err().code, 31276);
        assert_eq!(Projection::parse(&doc! {"a.$": 0}, &vars()).unwrap_err().code, 16410);
        assert_eq!(Projection::parse(&doc! {"a.$": {"$slice": 1}}, &vars()).unwrap_err().code, 31271);
        assert_eq!(Projection::parse(&doc! {"b": 0, "a.$": 1}, &vars()).unwrap_err().code, 31253);
        let e = Projection::parse(&doc! {"a": {"$elemMatch": 1}}, &vars()).unwrap_err();
        assert_eq!((e.code, e.message.as_str()), (31274, "elemMatch: Invalid argument, object required, but got int"));
        assert_eq!(Projection::parse(&doc! {"a.b": {"$elemMatch": {"x": 1}}}, &vars()).unwrap_err().code, 31275);
        assert_eq!(Projection::parse(&doc! {"a": {"b": {"$elemMatch": {"x": 1}}}}, &vars()).unwrap_err().code, 31275);
        assert_eq!(Projection::parse(&doc! {"a.$": 1, "b": {"$elemMatch": {"x": 1}}}, &vars()).unwrap_err().code, 31255);
        assert_eq!(Projection::parse(&doc! {"b": {"$elemMatch": {"x": 1}}, "a.$": 1}, &vars()).unwrap_err().code, 31256);
    }

    #[test]
    fn positional_without_a_matched_position_is_an_error() {
        let p = Projection::parse(&doc! {"grades.$": 1}, &vars()).unwrap();
        assert!(p.is_positional() && p.is_inclusion());
        let d = doc! {"_id": 1, "grades": [70, 87, 90]};
        assert_eq!(p.apply(&d, None).unwrap_err().code, 51050);
        let everything = Filter::parse(&doc! {}, &vars()).unwrap();
        let e = p.apply(&d, Some(&everything)).unwrap_err();
        assert_eq!(e.code, 51246);
        assert_eq!(
            e.message,
            "Executor error during find command :: caused by :: positional operator '.$' couldn't find a matching element in the array"
        );
        // Without an array on the path there is nothing to narrow, and no error.
        assert_eq!(p.apply(&doc! {"_id": 2, "grades": 5}, Some(&everything)).unwrap(), doc! {"_id": 2, "grades": 5});
        assert_eq!(p.apply(&doc! {"_id": 3}, Some(&everything)).unwrap(), doc! {"_id": 3});
    }

    #[test]
    fn empty_projection_returns_the_document() {
        let d = inventory().remove(0);
        assert_eq!(project(doc! {}, &d).unwrap(), d);
    }

    #[test]
    fn hostile_nesting_is_an_error_not_a_stack_overflow() {
        let mut spec = doc! {"x": 1};
        for _ in 0..1000 {
            spec = doc! {"a": spec};
        }
        assert!(Projection::parse(&spec, &vars()).is_err());
        let mut d = doc! {"x": 1};
        for _ in 0..1000 {
            d = doc! {"a": [d]};
        }
        let mut path = vec!["a"; 250];
        path.push("x");
        let p = Projection::parse(&single(&path.join("."), Bson::Int32(1)), &vars()).unwrap();
        assert!(p.apply(&d, None).is_err());
        let p = Projection::parse(&single(&path.join("."), Bson::Int32(0)), &vars()).unwrap();
        assert!(p.apply(&d, None).is_err());
    }
}

/// Tests that need the query helper's `Filter` (`$elemMatch`, positional) or the expression
/// helper's `Expr` (computed fields): the skeletons return trivial values until those merge.
#[cfg(test)]
mod cross_tests {
    use super::*;

    fn vars() -> Variables {
        Variables::new(bson::DateTime::from_millis(0))
    }

    fn schools() -> Vec<Document> {
        vec![
            doc! {"_id": 1, "zipcode": "63109", "students": [{"name": "john", "school": 102, "age": 10}, {"name": "jess", "school": 102, "age": 11},
            {"name": "jeff", "school": 108, "age": 15}]},
            doc! {"_id": 3, "zipcode": "63109", "students": [{"name": "ajax", "school": 100, "age": 7}, {"name": "achilles", "school": 100, "age": 8}]},
            doc! {"_id": 4, "zipcode": "63109", "students": [{"name": "barney", "school": 102, "age": 7}, {"name": "ruth", "school": 102, "age": 16}]},
        ]
    }

    #[test]
    fn elem_match_projection_examples() {
        let p = Projection::parse(&doc! {"students": {"$elemMatch": {"school": 102}}}, &vars()).unwrap();
        let out: Vec<Document> = schools().iter().map(|d| p.apply(d, None).unwrap()).collect();
        assert_eq!(out[0], doc! {"_id": 1, "students": [{"name": "john", "school": 102, "age": 10}]});
        assert_eq!(out[1], doc! {"_id": 3});
        assert_eq!(out[2], doc! {"_id": 4, "students": [{"name": "barney", "school": 102, "age": 7}]});
        let p = Projection::parse(&doc! {"students": {"$elemMatch": {"school": 102, "age": {"$gt": 10}}}}, &vars()).unwrap();
        let out: Vec<Document> = schools().iter().map(|d| p.apply(d, None).unwrap()).collect();
        assert_eq!(out[0], doc! {"_id": 1, "students": [{"name": "jess", "school": 102, "age": 11}]});
        assert_eq!(out[1], doc! {"_id": 3});
        assert_eq!(out[2], doc! {"_id": 4, "students": [{"name": "ruth", "school": 102, "age": 16}]});
        // The $elemMatch field comes after the other included fields (4.4+).
        let p = Projection::parse(&doc! {"students": {"$elemMatch": {"school": 108}}, "zipcode": 1}, &vars()).unwrap();
        assert_eq!(
            p.apply(&schools()[0], None).unwrap(),
            doc! {"_id": 1, "zipcode": "63109", "students": [{"name": "jeff", "school": 108, "age": 15}]}
        );
        // In an exclusion (or with a $slice and no inclusions) the matched element replaces
        // the array in place, and other fields stay.
        let p = Projection::parse(&doc! {"students": {"$elemMatch": {"school": 102}}, "zipcode": 0}, &vars()).unwrap();
        assert_eq!(p.apply(&schools()[0], None).unwrap(), doc! {"_id": 1, "students": [{"name": "john", "school": 102, "age": 10}]});
        let p = Projection::parse(&doc! {"students": {"$elemMatch": {"school": 100}}, "x": {"$slice": 1}}, &vars()).unwrap();
        assert!(!p.is_inclusion());
        assert_eq!(p.apply(&schools()[0], None).unwrap(), doc! {"_id": 1, "zipcode": "63109"});
        // Scalar elements with the operator form.
        let p = Projection::parse(&doc! {"n": {"$elemMatch": {"$gt": 5}}}, &vars()).unwrap();
        assert_eq!(p.apply(&doc! {"_id": 1, "n": [1, 7, 9]}, None).unwrap(), doc! {"_id": 1, "n": [7]});
    }

    #[test]
    fn positional_projection_examples() {
        let students = [
            doc! {"_id": 1, "semester": 1, "grades": [70, 87, 90]},
            doc! {"_id": 2, "semester": 1, "grades": [90, 88, 92]},
            doc! {"_id": 3, "semester": 1, "grades": [85, 100, 90]},
        ];
        let filter = Filter::parse(&doc! {"semester": 1, "grades": {"$gte": 85}}, &vars()).unwrap();
        let p = Projection::parse(&doc! {"grades.$": 1}, &vars()).unwrap();
        let out: Vec<Document> = students.iter().map(|d| p.apply(d, Some(&filter)).unwrap()).collect();
        assert_eq!(out, vec![doc! {"_id": 1, "grades": [87]}, doc! {"_id": 2, "grades": [90]}, doc! {"_id": 3, "grades": [85]}]);
        // Array of documents: the first element matching the query.
        let d = doc! {"_id": 7, "grades": [{"grade": 80, "mean": 75}, {"grade": 85, "mean": 90}, {"grade": 90, "mean": 85}]};
        let filter = Filter::parse(&doc! {"grades.mean": {"$gt": 70}}, &vars()).unwrap();
        assert_eq!(p.apply(&d, Some(&filter)).unwrap(), doc! {"_id": 7, "grades": [{"grade": 80, "mean": 75}]});
        // A nested array path; other included fields keep the document order.
        let d = doc! {"_id": 8, "x": {"grades": [1, 5, 9], "y": 1}, "z": 2};
        let filter = Filter::parse(&doc! {"x.grades": {"$gt": 4}}, &vars()).unwrap();
        let p = Projection::parse(&doc! {"z": 1, "x.grades.$": 1}, &vars()).unwrap();
        assert_eq!(p.apply(&d, Some(&filter)).unwrap(), doc! {"_id": 8, "x": {"grades": [5]}, "z": 2});
    }

    #[test]
    fn aggregation_expressions_in_projection() {
        let d = doc! {"_id": 1, "item": "journal", "status": "A", "size": {"h": 14, "w": 21, "uom": "cm"}, "instock": [{"warehouse": "A", "qty": 5}]};
        let spec = doc! {
            "_id": 0,
            "item": 1,
            "status": {"$switch": {"branches": [
                {"case": {"$eq": ["$status", "A"]}, "then": "Available"},
                {"case": {"$eq": ["$status", "D"]}, "then": "Discontinued"},
            ], "default": "No status found"}},
            "area": {"$concat": [{"$toString": {"$multiply": ["$size.h", "$size.w"]}}, " ", "$size.uom"]},
            "reportNumber": {"$literal": 1},
        };
        let p = Projection::parse(&spec, &vars()).unwrap();
        assert!(p.is_inclusion());
        assert_eq!(p.apply(&d, None).unwrap(), doc! {"item": "journal", "status": "Available", "area": "294 cm", "reportNumber": 1});
        // Field paths, literals, nested computed fields (created when missing), missing values omitted.
        // A computed subfield of a scalar replaces it (appended after the document-order fields).
        let d = doc! {"_id": 2, "y": 1, "a": {"b": 5}, "arr": [{"k": 1}, 3, [{"k": 2}]], "z": 1};
        let spec =
            doc! {"x": "$a.b", "s": "text", "n.m": "$a.b", "gone": "$nope", "arr.t": {"$literal": true}, "y.u": {"$literal": 2}, "z": 1};
        assert_eq!(
            Projection::parse(&spec, &vars()).unwrap().apply(&d, None).unwrap(),
            doc! {"_id": 2, "arr": [{"t": true}], "z": 1, "x": 5, "s": "text", "n": {"m": 5}, "y": {"u": 2}}
        );
        // Expressions are not allowed in an exclusion.
        assert_eq!(Projection::parse(&doc! {"a": 0, "x": "$a"}, &vars()).unwrap_err().code, 31252);
    }
}
