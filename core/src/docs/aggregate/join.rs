//! Stages that read other collections: `$lookup` (equality, `let`/`pipeline`, and both
//! combined as in MongoDB 5+), `$graphLookup` and `$unionWith`. Foreign documents come from the caller's
//! `Foreign` (see the parent module), fetched once per collection per run.
//!
//! `$lookup` semantics (MongoDB manual, "$lookup"):
//! - Equality: the local values are every value at `localField` (arrays are expanded, also
//!   along the path); a foreign document joins when its `foreignField` matches any of them
//!   with query equality (`{foreignField: {$in: values}}`, so foreign arrays match by element);
//!   no local value (missing, empty array) matches null/missing foreign fields.
//! - `let` values are evaluated against the local document and bound as `$$name` in the
//!   sub-pipeline (re-parsed per document, since `$match` compiles its variables); a pipeline
//!   without `let` and without `localField` is uncorrelated and runs once per run.
//! - Equality joins look candidates up in a hash index of the foreign collection (built once
//!   per stage per run, see `ForeignIndex`) and confirm them with the query filter, so they
//!   cost O(local + foreign) rather than O(local x foreign); null local values scan.
//! - Without `from`, the sub-pipeline must start with `$documents`: those are the foreign
//!   documents, the equality match (if any) applies to them, then the rest of the pipeline.
//!   `$unionWith` without `coll` likewise unions the output of a `$documents` pipeline.
//! - `as` (a dotted path is allowed) is set to the array of joined documents, replacing any
//!   existing value.

use std::collections::HashMap;

use bson::{Bson, Document};

use super::super::expr::{validate_variable_name, Expr, Variables};
use super::super::query::Filter;
use super::super::value::{key_of, type_name};
use super::super::DocError;
use super::{check_path_length, set_path, Context, Pipeline, RunCx};

/// A parsed `$lookup`.
#[derive(Clone, Debug)]
pub struct Lookup {
    /// None: the sub-pipeline starts with `$documents`, which are the foreign documents.
    pub(super) from: Option<String>,
    as_path: Vec<String>,
    /// `localField`, `foreignField`.
    equality: Option<(Vec<String>, String)>,
    let_vars: Vec<(String, Expr)>,
    /// The raw sub-pipeline (re-parsed per document when `let` is used) and its parse.
    pub(super) pipeline: Option<(Vec<Bson>, Pipeline)>,
    depth: usize,
}

fn string_arg(name: &str, v: &Bson) -> Result<String, DocError> {
    match v {
        Bson::String(s) => Ok(s.clone()),
        other => {
            Err(DocError::failed_to_parse(format!("$lookup argument '{name}: {other}' must be a string, is type {}", type_name(other))))
        }
    }
}

impl Lookup {
    pub(super) fn parse(spec: &Bson, vars: &Variables, depth: usize) -> Result<Lookup, DocError> {
        let Bson::Document(d) = spec else {
            return Err(DocError::location(
                40319,
                format!("the $lookup stage specification must be an object, but found {}", type_name(spec)),
            ));
        };
        let (mut from, mut as_field, mut local, mut foreign, mut let_doc, mut pipeline) = (None, None, None, None, None, None);
        for (k, v) in d {
            match k.as_str() {
                "from" => {
                    from = Some(match v {
                        Bson::String(s) => s.clone(),
                        other => {
                            return Err(DocError::location(
                                4570,
                                format!("$lookup 'from' field must be a string, but found {}", type_name(other)),
                            ))
                        }
                    })
                }
                "as" => as_field = Some(string_arg(k, v)?),
                "localField" => local = Some(string_arg(k, v)?),
                "foreignField" => foreign = Some(string_arg(k, v)?),
                "let" => match v {
                    Bson::Document(l) => let_doc = Some(l.clone()),
                    other => {
                        return Err(DocError::failed_to_parse(format!(
                            "$lookup argument 'let' must be an object, is type {}",
                            type_name(other)
                        )))
                    }
                },
                "pipeline" => match v {
                    Bson::Array(p) => pipeline = Some(p.clone()),
                    _ => return Err(DocError::failed_to_parse("'pipeline' option must be specified as an array")),
                },
                other => return Err(DocError::failed_to_parse(format!("unknown argument to $lookup: {other}"))),
            }
        }
        let as_field = as_field.ok_or_else(|| DocError::failed_to_parse("must specify 'as' field for a $lookup"))?;
        let equality = match (local, foreign) {
            (Some(l), Some(f)) => {
                check_path(&l)?;
                check_path(&f)?;
                Some((l.split('.').map(str::to_string).collect(), f))
            }
            (None, None) => None,
            _ => {
                return Err(DocError::failed_to_parse(
                    "$lookup requires either 'pipeline' or both 'localField' and 'foreignField' to be specified",
                ))
            }
        };
        if equality.is_none() && pipeline.is_none() {
            return Err(DocError::failed_to_parse(
                "$lookup requires either 'pipeline' or both 'localField' and 'foreignField' to be specified",
            ));
        }
        check_path(&as_field)?;
        let mut let_vars = Vec::new();
        let mut bound = Vec::new();
        for (name, spec) in let_doc.iter().flatten() {
            validate_variable_name(name)?;
            let_vars.push((name.clone(), Expr::parse(spec)?));
            bound.push((name.clone(), Some(Bson::Null)));
        }
        let pipeline = match pipeline {
            Some(raw) => {
                let parsed = Pipeline::parse_in(&raw, &vars.with_bindings(bound), Context::Lookup, depth + 1)?;
                Some((raw, parsed))
            }
            None => None,
        };
        // Without `from`, the sub-pipeline's leading `$documents` are the foreign documents
        // ($documents page, "Use a $documents Stage in a $lookup Stage").
        if from.is_none() && !pipeline.as_ref().is_some_and(|(_, p)| p.starts_with_documents()) {
            return Err(DocError::failed_to_parse("must specify 'from' field for a $lookup"));
        }
        Ok(Lookup { from, as_path: as_field.split('.').map(str::to_string).collect(), equality, let_vars, pipeline, depth })
    }

    /// Join every input document (`vars` are the pipeline's variables).
    pub(super) fn run<'a>(
        &'a self,
        input: impl Iterator<Item = Result<Document, DocError>> + 'a,
        vars: &'a Variables,
        cx: RunCx<'a>,
    ) -> impl Iterator<Item = Result<Document, DocError>> + 'a {
        let mut foreign = None;
        let mut index: Option<Option<ForeignIndex>> = None;
        let mut uncorrelated: Option<Vec<Bson>> = None;
        input.map(move |r| {
            let mut doc = r?;
            if foreign.is_none() {
                foreign = Some(match &self.from {
                    Some(from) => cx.fetch(from)?,
                    None => {
                        let (_, p) = self.pipeline.as_ref().expect("checked by parse");
                        std::rc::Rc::new(documents_of(p, cx)?)
                    }
                });
            }
            let foreign_docs = foreign.as_ref().expect("fetched");
            let joined: Vec<Bson> = if self.equality.is_none() && self.let_vars.is_empty() {
                if uncorrelated.is_none() {
                    let (_, p) = self.pipeline.as_ref().expect("pipeline or equality");
                    uncorrelated = Some(run_sub(&self.after_source(p), foreign_docs.iter().cloned(), cx)?);
                }
                uncorrelated.clone().unwrap_or_default()
            } else {
                let candidates: Vec<Document> = match &self.equality {
                    Some((local, foreign_field)) => {
                        let values = local_values(&doc, local);
                        let index = index.get_or_insert_with(|| ForeignIndex::build(foreign_docs, foreign_field));
                        let filter = equality_filter(values.clone(), foreign_field, vars)?;
                        let mut out = Vec::new();
                        match index.as_ref().and_then(|ix| ix.candidates(&values)) {
                            Some(positions) => {
                                for i in positions {
                                    if filter.matches(&foreign_docs[i])? {
                                        out.push(foreign_docs[i].clone());
                                    }
                                }
                            }
                            None => {
                                for f in foreign_docs.iter() {
                                    if filter.matches(f)? {
                                        out.push(f.clone());
                                    }
                                }
                            }
                        }
                        out
                    }
                    None => foreign_docs.to_vec(),
                };
                match &self.pipeline {
                    None => candidates.into_iter().map(Bson::Document).collect(),
                    Some((_, parsed)) if self.let_vars.is_empty() => run_sub(&self.after_source(parsed), candidates.into_iter(), cx)?,
                    Some((raw, _)) => {
                        let mut bindings = Vec::with_capacity(self.let_vars.len());
                        for (name, e) in &self.let_vars {
                            bindings.push((name.clone(), e.eval(&doc, vars)?));
                        }
                        let sub = Pipeline::parse_in(raw, &vars.with_bindings(bindings), Context::Lookup, self.depth + 1)?;
                        run_sub(&self.after_source(&sub), candidates.into_iter(), cx)?
                    }
                }
            };
            set_path(&mut doc, &self.as_path, Bson::Array(joined));
            Ok(doc)
        })
    }
}

impl Lookup {
    /// The sub-pipeline that runs on the joined documents: without `from`, the stages after
    /// the leading `$documents` (the equality match applies between them, as in MongoDB).
    fn after_source(&self, p: &Pipeline) -> Pipeline {
        if self.from.is_none() {
            p.tail(1)
        } else {
            p.clone()
        }
    }
}

/// The documents a pipeline's leading `$documents` stage makes.
fn documents_of(p: &Pipeline, cx: RunCx<'_>) -> Result<Vec<Document>, DocError> {
    Pipeline { stages: p.stages.get(..1).unwrap_or_default().to_vec(), vars: p.vars.clone() }
        .stream_cx(Box::new(std::iter::empty()), cx)
        .collect()
}

fn run_sub(p: &Pipeline, docs: impl Iterator<Item = Document>, cx: RunCx<'_>) -> Result<Vec<Bson>, DocError> {
    p.stream_cx(Box::new(docs.map(Ok)), cx).map(|r| r.map(Bson::Document)).collect()
}

fn check_path(p: &str) -> Result<(), DocError> {
    check_path_length(p)?;
    if p.is_empty() || p.split('.').any(str::is_empty) {
        return Err(DocError::location(15998, "FieldPath field names may not be empty strings."));
    }
    if p.starts_with('$') {
        return Err(DocError::location(16410, "FieldPath field names may not start with '$'. Consider using $getField or $setField."));
    }
    Ok(())
}

/// Every value at `path` in `v`, expanding arrays (at the end and along the way).
pub(super) fn collect_values(v: &Bson, path: &[String], out: &mut Vec<Bson>) {
    match (path.split_first(), v) {
        (None, Bson::Array(items)) => out.extend(items.iter().cloned()),
        (None, other) => out.push(other.clone()),
        (Some((head, rest)), Bson::Document(d)) => {
            if let Some(x) = d.get(head) {
                collect_values(x, rest, out);
            }
        }
        (Some(_), Bson::Array(items)) => {
            for e in items {
                if let Bson::Document(_) = e {
                    collect_values(e, path, out);
                }
            }
        }
        _ => {}
    }
}

/// The local values of an equality `$lookup`: every value at `localField`, arrays expanded.
fn local_values(doc: &Document, local: &[String]) -> Vec<Bson> {
    let mut values = Vec::new();
    if let Some((head, rest)) = local.split_first() {
        if let Some(v) = doc.get(head) {
            collect_values(v, rest, &mut values);
        }
    }
    values
}

/// The query a foreign document must match: `{foreignField: {$eq: v}}` for any local value
/// `v` (a regex is compared as a value, not used as a pattern), or `{foreignField: null}` when
/// there is no local value.
fn equality_filter(mut values: Vec<Bson>, foreign_field: &str, vars: &Variables) -> Result<Filter, DocError> {
    if values.len() <= 1 {
        let mut q = Document::new();
        q.insert(foreign_field, bson::doc! {"$eq": values.pop().unwrap_or(Bson::Null)});
        return Filter::parse(&q, vars);
    }
    let mut alternatives = Vec::with_capacity(values.len());
    for v in values {
        let mut one = Document::new();
        one.insert(foreign_field, bson::doc! {"$eq": v});
        alternatives.push(Bson::Document(one));
    }
    Filter::parse(&bson::doc! {"$or": alternatives}, vars)
}

/// A prefilter for equality joins: foreign document positions by the key (`value::key_of`) of
/// every value at `foreignField` (arrays contribute themselves and their elements, at every
/// level). A document can only match `{foreignField: {$eq: v}}`, v not null, if one of its
/// values equals v, so the positions under v's key are a superset of the matches, which the
/// real filter then confirms.
struct ForeignIndex {
    positions: HashMap<Vec<u8>, Vec<usize>>,
}

impl ForeignIndex {
    /// None when the path has numeric components (array indexes in query paths).
    fn build(docs: &[Document], foreign_field: &str) -> Option<ForeignIndex> {
        let path: Vec<String> = foreign_field.split('.').map(str::to_string).collect();
        if path.iter().any(|p| p.bytes().all(|b| b.is_ascii_digit())) {
            return None;
        }
        let mut positions: HashMap<Vec<u8>, Vec<usize>> = HashMap::new();
        for (i, d) in docs.iter().enumerate() {
            let mut values = Vec::new();
            index_values(d.get(&path[0]), &path[1..], &mut values);
            for v in values {
                let list = positions.entry(key_of(v)).or_default();
                if list.last() != Some(&i) {
                    list.push(i);
                }
            }
        }
        Some(ForeignIndex { positions })
    }

    /// Positions (in collection order) that may match one of `values`; None when the index
    /// cannot answer (no value, or null among them: missing fields match null).
    fn candidates(&self, values: &[Bson]) -> Option<Vec<usize>> {
        if values.is_empty() || values.iter().any(|v| matches!(v, Bson::Null | Bson::Undefined)) {
            return None;
        }
        let mut out: Vec<usize> = values.iter().filter_map(|v| self.positions.get(&key_of(v))).flatten().copied().collect();
        out.sort_unstable();
        out.dedup();
        Some(out)
    }
}

fn index_values<'d>(v: Option<&'d Bson>, rest: &[String], out: &mut Vec<&'d Bson>) {
    let Some(v) = v else { return };
    match (rest.split_first(), v) {
        (None, Bson::Array(items)) => {
            out.push(v);
            out.extend(items.iter());
        }
        (None, _) => out.push(v),
        (Some((head, tail)), Bson::Document(d)) => index_values(d.get(head), tail, out),
        (Some(_), Bson::Array(items)) => {
            for e in items {
                index_values(Some(e), rest, out);
            }
        }
        _ => {}
    }
}

/// A parsed `$unionWith`.
#[derive(Clone, Debug)]
pub struct UnionWith {
    /// None: the pipeline starts with `$documents` and reads no collection.
    pub(super) coll: Option<String>,
    pub(super) pipeline: Option<Pipeline>,
}

impl UnionWith {
    pub(super) fn parse(spec: &Bson, vars: &Variables, depth: usize) -> Result<UnionWith, DocError> {
        match spec {
            Bson::String(s) => Ok(UnionWith { coll: Some(s.clone()), pipeline: None }),
            Bson::Document(d) => {
                let (mut coll, mut pipeline) = (None, None);
                for (k, v) in d {
                    match (k.as_str(), v) {
                        ("coll", Bson::String(s)) => coll = Some(s.clone()),
                        ("coll", other) => {
                            return Err(DocError::type_mismatch(format!(
                                "BSON field '$unionWith.coll' is the wrong type '{}', expected type 'string'",
                                type_name(other)
                            )))
                        }
                        ("pipeline", Bson::Array(p)) => pipeline = Some(Pipeline::parse_in(p, vars, Context::UnionWith, depth + 1)?),
                        ("pipeline", other) => {
                            return Err(DocError::type_mismatch(format!(
                                "BSON field '$unionWith.pipeline' is the wrong type '{}', expected type 'array'",
                                type_name(other)
                            )))
                        }
                        (other, _) => {
                            return Err(DocError::location(40415, format!("BSON field '$unionWith.{other}' is an unknown field.")))
                        }
                    }
                }
                // "If you omit the coll field, you must specify a pipeline field with a first
                // stage of $documents."
                if coll.is_none() && !pipeline.as_ref().is_some_and(Pipeline::starts_with_documents) {
                    return Err(DocError::location(40414, "BSON field '$unionWith.coll' is missing but a required field"));
                }
                Ok(UnionWith { coll, pipeline })
            }
            other => Err(DocError::type_mismatch(format!(
                "the $unionWith stage specification must be an object or string, but found {}",
                type_name(other)
            ))),
        }
    }

    /// The input, then this stage's collection through its pipeline.
    pub(super) fn run<'a>(
        &'a self,
        input: impl Iterator<Item = Result<Document, DocError>> + 'a,
        cx: RunCx<'a>,
    ) -> impl Iterator<Item = Result<Document, DocError>> + 'a {
        let mut pending = true;
        let mut rest: Option<std::vec::IntoIter<Result<Document, DocError>>> = None;
        input.chain(std::iter::from_fn(move || {
            if pending {
                pending = false;
                let source = match &self.coll {
                    Some(coll) => cx.fetch(coll),
                    None => Ok(std::rc::Rc::new(Vec::new())), // the pipeline's $documents replace it
                };
                let docs: Vec<Result<Document, DocError>> = match source {
                    Err(e) => vec![Err(e)],
                    Ok(foreign) => match &self.pipeline {
                        None => foreign.iter().cloned().map(Ok).collect(),
                        Some(p) => {
                            let out: Result<Vec<Document>, DocError> = p.stream_cx(Box::new(foreign.iter().cloned().map(Ok)), cx).collect();
                            match out {
                                Ok(v) => v.into_iter().map(Ok).collect(),
                                Err(e) => vec![Err(e)],
                            }
                        }
                    },
                };
                rest = Some(docs.into_iter());
            }
            rest.as_mut()?.next()
        }))
    }
}

/// A parsed `$graphLookup`: a breadth-first search of `from`, starting from `startWith`'s
/// values and following `connectFromField` values to documents whose `connectToField` matches
/// them (query equality, as `$lookup`), each foreign document once (by `_id`), at most
/// `maxDepth` hops after the first, restricted by `restrictSearchWithMatch`. `as` gets the
/// documents found, in discovery order (MongoDB leaves it unspecified), each with
/// `depthField` (a long) when asked.
#[derive(Clone, Debug)]
pub struct GraphLookup {
    pub(super) from: String,
    start_with: Expr,
    connect_from: Vec<String>,
    connect_to: String,
    as_path: Vec<String>,
    max_depth: Option<u64>,
    depth_field: Option<Vec<String>>,
    restrict: Option<Document>,
}

impl GraphLookup {
    pub(super) fn parse(spec: &Bson, vars: &Variables) -> Result<GraphLookup, DocError> {
        let Bson::Document(d) = spec else {
            return Err(DocError::location(
                40327,
                format!("the $graphLookup stage specification must be an object, but found {}", type_name(spec)),
            ));
        };
        let str_arg = |k: &str, v: &Bson| -> Result<String, DocError> {
            match v {
                Bson::String(s) => Ok(s.clone()),
                other => Err(DocError::location(40103, format!("expected string as argument for {k}, found: {other}"))),
            }
        };
        let (mut from, mut start_with, mut connect_from, mut connect_to, mut as_field) = (None, None, None, None, None);
        let (mut max_depth, mut depth_field, mut restrict) = (None, None, None);
        for (k, v) in d {
            match k.as_str() {
                "from" => from = Some(str_arg(k, v)?),
                "startWith" => start_with = Some(Expr::parse(v)?),
                "connectFromField" => {
                    let s = str_arg(k, v)?;
                    check_path(&s)?;
                    connect_from = Some(s);
                }
                "connectToField" => {
                    let s = str_arg(k, v)?;
                    check_path(&s)?;
                    connect_to = Some(s);
                }
                "as" => {
                    let s = str_arg(k, v)?;
                    check_path(&s)?;
                    as_field = Some(s);
                }
                "depthField" => {
                    let s = str_arg(k, v)?;
                    check_path(&s)?;
                    depth_field = Some(s.split('.').map(str::to_string).collect());
                }
                "maxDepth" => {
                    if !super::super::value::is_number(v) {
                        return Err(DocError::location(40100, format!("maxDepth must be numeric, found type: {}", type_name(v))));
                    }
                    match super::super::value::as_i64(v) {
                        Some(n) if n >= 0 => max_depth = Some(n as u64),
                        _ => return Err(DocError::location(40101, format!("maxDepth requires a nonnegative argument, found: {v}"))),
                    }
                }
                "restrictSearchWithMatch" => match v {
                    Bson::Document(m) => {
                        Filter::parse(m, vars)?;
                        restrict = Some(m.clone());
                    }
                    other => {
                        return Err(DocError::location(
                            40185,
                            format!("hint must be an object, restrictSearchWithMatch must be an object, found: {}", type_name(other)),
                        ))
                    }
                },
                other => return Err(DocError::location(40104, format!("Unknown argument to $graphLookup: {other}"))),
            }
        }
        let missing = |what: &str| DocError::location(40105, format!("$graphLookup requires '{what}' to be specified"));
        Ok(GraphLookup {
            from: from.ok_or_else(|| missing("from"))?,
            start_with: start_with.ok_or_else(|| missing("startWith"))?,
            connect_from: connect_from.ok_or_else(|| missing("connectFromField"))?.split('.').map(str::to_string).collect(),
            connect_to: connect_to.ok_or_else(|| missing("connectToField"))?,
            as_path: as_field.ok_or_else(|| missing("as"))?.split('.').map(str::to_string).collect(),
            max_depth,
            depth_field,
            restrict,
        })
    }

    pub(super) fn run<'a>(
        &'a self,
        input: impl Iterator<Item = Result<Document, DocError>> + 'a,
        vars: &'a Variables,
        cx: RunCx<'a>,
    ) -> impl Iterator<Item = Result<Document, DocError>> + 'a {
        let mut foreign = None;
        let mut index: Option<Option<ForeignIndex>> = None;
        input.map(move |r| {
            let mut doc = r?;
            if foreign.is_none() {
                foreign = Some(cx.fetch(&self.from)?);
            }
            let docs = foreign.as_ref().expect("fetched");
            let index = index.get_or_insert_with(|| ForeignIndex::build(docs, &self.connect_to));
            let mut frontier = Vec::new();
            if let Some(v) = self.start_with.eval(&doc, vars)? {
                collect_values(&v, &[], &mut frontier);
            }
            let mut seen: std::collections::HashSet<Vec<u8>> = std::collections::HashSet::new();
            let mut found: Vec<Bson> = Vec::new();
            let mut depth: u64 = 0;
            while !frontier.is_empty() && self.max_depth.is_none_or(|m| depth <= m) {
                let mut filter_doc = Document::new();
                filter_doc.insert(self.connect_to.clone(), bson::doc! {"$in": frontier.clone()});
                let mut q = match &self.restrict {
                    Some(r) => bson::doc! {"$and": [filter_doc, r.clone()]},
                    None => filter_doc,
                };
                if frontier.iter().any(|v| matches!(v, Bson::RegularExpression(_))) {
                    // Compare regexes as values, not patterns.
                    let alternatives: Vec<Bson> = frontier
                        .iter()
                        .map(|v| {
                            let mut one = Document::new();
                            one.insert(self.connect_to.clone(), bson::doc! {"$eq": v.clone()});
                            Bson::Document(one)
                        })
                        .collect();
                    q = match &self.restrict {
                        Some(r) => bson::doc! {"$and": [{"$or": alternatives}, r.clone()]},
                        None => bson::doc! {"$or": alternatives},
                    };
                }
                let filter = Filter::parse(&q, vars)?;
                let positions: Vec<usize> = match index.as_ref().and_then(|ix| ix.candidates(&frontier)) {
                    Some(p) => p,
                    None => (0..docs.len()).collect(),
                };
                let mut next = Vec::new();
                for i in positions {
                    let f = &docs[i];
                    let id_key = key_of(f.get("_id").unwrap_or(&Bson::Null));
                    if seen.contains(&id_key) || !filter.matches(f)? {
                        continue;
                    }
                    seen.insert(id_key);
                    if let Some((head, rest)) = self.connect_from.split_first() {
                        if let Some(v) = f.get(head) {
                            collect_values(v, rest, &mut next);
                        }
                    }
                    let mut out = f.clone();
                    if let Some(p) = &self.depth_field {
                        set_path(&mut out, p, Bson::Int64(depth as i64));
                    }
                    found.push(Bson::Document(out));
                }
                frontier = next;
                depth += 1;
            }
            set_path(&mut doc, &self.as_path, Bson::Array(found));
            Ok(doc)
        })
    }
}
