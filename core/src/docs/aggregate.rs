//! Aggregation pipelines: parsing a pipeline (an array of one-key stage documents) into
//! `Stage`s, and running them over a stream of documents. Owns every stage: `$match`,
//! `$project`, `$addFields`/`$set`, `$unset`, `$replaceRoot`/`$replaceWith`, `$sort`, `$skip`,
//! `$limit`, `$count`, `$unwind`, `$sample`, `$facet`, `$sortByCount`, `$redact`,
//! `$documents`, `$bucket`/`$bucketAuto` (on `group::Group`), `$out`/`$merge` and
//! `$collStats`/`$indexStats` (parsed only, see below), and through submodules `$group` (`group`: the accumulators),
//! `$lookup`/`$unionWith`/`$graphLookup` (`join`) and `$setWindowFields`/`$fill`/`$densify`
//! (`window`). The update-pipeline subset is `parse_update_pipeline`.
//!
//! Invariants and semantics:
//! - Parsing validates everything MongoDB validates at parse time (stage shape, projection
//!   mode, field names, `$limit`/`$skip` arguments, accumulators, `$out`/`$merge` last);
//!   running only fails on evaluation errors.
//! - Stages stream (each wraps the previous iterator) except the blocking ones (`$sort`,
//!   `$count`, `$group`, `$bucket`, `$bucketAuto`, `$facet`, `$sample`, `$setWindowFields`,
//!   `$fill`, `$densify`), which consume their input when first polled. The first error stops
//!   the pipeline. `$sort` directly followed by `$limit` keeps only the best `limit` documents
//!   (`Sort::top_k`), as MongoDB coalesces them.
//! - `$project`/`$addFields`/`$unset` share one field tree (`FieldSpec`): dotted paths become
//!   nested nodes, a path given twice is a "Path collision". Computed fields are evaluated
//!   against the whole document (`$$CURRENT` is the root, also inside arrays). A sub-tree
//!   applied to an array applies to each element; applied to a scalar, computed fields
//!   replace it with a new document, inclusions drop it (as MongoDB does).
//! - `$match` and `$sort` use `query::Filter` and `sort::Sort` (other modules); `$match`'s
//!   `$sampleRate` is rewritten here to an `$expr` on `$rand` first.
//! - `Pipeline::stages` exposes the parsed stages so the caller can push a leading
//!   `$match`/`$sort`/`$skip`/`$limit` down into the collection scan, then run the rest with
//!   `Pipeline::tail`.
//! - Sub-pipelines (`$lookup`, `$unionWith`, `$facet`) nest at most `MAX_SUBPIPELINE_DEPTH`;
//!   dotted paths have at most 200 components; stages never panic on input (property-tested).
//!
//! Contract with the caller (the command layer):
//! - Other collections: `$lookup`, `$graphLookup` and `$unionWith` read documents through
//!   `Foreign`, which `run_with` takes; each collection is asked for once per `run_with` and
//!   cached. `foreign_collections()` lists every collection the pipeline may read (nested
//!   sub-pipelines included) so the caller can lock them first. `run` (no `Foreign`) fails with
//!   code 2 before reading anything when the pipeline reads another collection.
//! - `$out`/`$merge` are parsed (`Stage::Out`, `Stage::Merge`, MongoDB's validation: only as
//!   the last stage, not inside sub-pipelines) but not executed here: `run`/`run_with` return
//!   the documents that reach them, i.e. the documents to write. The caller writes them to
//!   `output_collection()` (for `$merge`, following `Merge`'s options) and answers the
//!   command with an empty cursor, as MongoDB does.
//! - `$collStats`/`$indexStats` (first stage of a top-level pipeline only) are parsed here;
//!   the caller makes their documents from the collection (`stats_source`) and runs `tail(1)`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use bson::{Bson, Document};

use super::error::codes;
use super::expr::{mongo_display, Expr, Variables, MAX_EXPR_DEPTH};
use super::query::Filter;
use super::sort::Sort;
use super::value::{as_f64, as_i64, compare, is_number, type_name, type_rank};
use super::DocError;

mod group;
mod join;
#[cfg(test)]
mod stage_tests;
mod window;

pub use group::{Accumulator, Group};
pub use join::{GraphLookup, Lookup, UnionWith};
pub use window::{Densify, Fill, SetWindowFields};

/// How deeply sub-pipelines (`$lookup`, `$facet`, `$unionWith`) may nest (MongoDB's limit).
pub const MAX_SUBPIPELINE_DEPTH: usize = 20;

/// Where the caller finds the documents of other collections (`$lookup`'s `from`,
/// `$unionWith`'s `coll`), by collection name in the pipeline's database. A missing
/// collection is an empty one (`Ok(vec![])`), as in MongoDB.
pub trait Foreign {
    fn documents(&self, collection: &str) -> Result<Vec<Document>, DocError>;
}

/// Collections gathered up front (e.g. for every name in `foreign_collections()`); absent
/// names are empty collections.
impl Foreign for HashMap<String, Vec<Document>> {
    fn documents(&self, collection: &str) -> Result<Vec<Document>, DocError> {
        Ok(self.get(collection).cloned().unwrap_or_default())
    }
}

/// A closure reading a collection by name.
impl<F: Fn(&str) -> Result<Vec<Document>, DocError>> Foreign for F {
    fn documents(&self, collection: &str) -> Result<Vec<Document>, DocError> {
        self(collection)
    }
}

/// One parsed pipeline stage.
#[derive(Clone, Debug)]
pub enum Stage {
    /// `$match`.
    Match(Filter),
    /// `$project`, `$unset` (an exclusion projection), `$addFields`/`$set`.
    Reshape(Reshape),
    /// `$replaceRoot` / `$replaceWith`.
    ReplaceRoot(ReplaceRoot),
    /// `$sort`.
    Sort(Sort),
    /// `$skip`.
    Skip(u64),
    /// `$limit` (positive).
    Limit(u64),
    /// `$count`: the output field name.
    Count(String),
    /// `$group` (`$sortByCount` is a `Group` then a `Sort`).
    Group(Box<Group>),
    /// `$bucket`.
    Bucket(Box<Bucket>),
    /// `$bucketAuto`.
    BucketAuto(Box<BucketAuto>),
    /// `$unwind`.
    Unwind(Unwind),
    /// `$lookup`.
    Lookup(Box<Lookup>),
    /// `$unionWith`.
    UnionWith(Box<UnionWith>),
    /// `$graphLookup`.
    GraphLookup(Box<GraphLookup>),
    /// `$facet`: named sub-pipelines over the same input.
    Facet(Vec<(String, Pipeline)>),
    /// `$setWindowFields`.
    SetWindowFields(Box<SetWindowFields>),
    /// `$fill`.
    Fill(Box<Fill>),
    /// `$densify`.
    Densify(Box<Densify>),
    /// `$redact`: the expression decides `$$KEEP`, `$$PRUNE` or `$$DESCEND` per (sub)document.
    Redact(Expr),
    /// `$documents`: these documents replace the input (first stage only).
    Documents(Expr),
    /// `$sample`: `size` documents chosen at random.
    Sample(u64),
    /// `$out` (always the last stage): the caller replaces `db.coll` (`db` None = the
    /// pipeline's database) with the documents the pipeline returns.
    Out { db: Option<String>, coll: String },
    /// `$merge` (always the last stage): the caller merges the returned documents into the
    /// target as the options say.
    Merge(Box<Merge>),
    /// `$collStats` (first stage only): one document about the collection, made by the caller
    /// (see `Pipeline::stats_source`).
    CollStats(CollStats),
    /// `$indexStats` (first stage only): one document per index, made by the caller.
    IndexStats,
}

/// What a `$collStats` stage asks for: `count` and `storageStats` (with its `scale`).
/// `latencyStats` and `queryExecStats` are refused at parse time: nestdb keeps neither.
#[derive(Clone, Debug, Default)]
pub struct CollStats {
    pub count: bool,
    pub storage_scale: Option<i64>,
}

impl CollStats {
    fn parse(spec: &Bson) -> Result<CollStats, DocError> {
        let Bson::Document(d) = spec else {
            return Err(DocError::type_mismatch(format!("$collStats must take a nested object but found: {spec}")));
        };
        let mut out = CollStats::default();
        for (k, v) in d {
            let Bson::Document(opts) = v else {
                return Err(DocError::type_mismatch(format!(
                    "BSON field '$collStats.{k}' is the wrong type '{}', expected type 'object'",
                    type_name(v)
                )));
            };
            match k.as_str() {
                "count" => out.count = true,
                "storageStats" => {
                    let mut scale = 1;
                    for (ok, ov) in opts {
                        match ok.as_str() {
                            "scale" => {
                                scale = if is_number(ov) { as_i64(ov) } else { None }.filter(|s| *s >= 1).ok_or_else(|| {
                                    DocError::location(51024, format!("BSON field 'scale' value must be >= 1, actual value '{ov}'"))
                                })?;
                            }
                            other => {
                                return Err(DocError::location(
                                    40415,
                                    format!("BSON field '$collStats.storageStats.{other}' is an unknown field."),
                                ))
                            }
                        }
                    }
                    out.storage_scale = Some(scale);
                }
                "latencyStats" | "queryExecStats" => {
                    return Err(DocError::new(
                        codes::NOT_IMPLEMENTED,
                        "NotImplemented",
                        format!("$collStats '{k}' is not supported by nestdb (it keeps no latency or query statistics)"),
                    ))
                }
                other => return Err(DocError::location(40415, format!("BSON field '$collStats.{other}' is an unknown field."))),
            }
        }
        Ok(out)
    }
}

/// A parsed pipeline.
#[derive(Clone, Debug)]
pub struct Pipeline {
    stages: Vec<Stage>,
    vars: Variables,
}

/// A stream of documents between stages (the first error ends it).
pub type DocStream<'a> = Box<dyn Iterator<Item = Result<Document, DocError>> + 'a>;

/// The stages an update pipeline may use.
const UPDATE_STAGES: &[&str] = &["$addFields", "$set", "$project", "$unset", "$replaceRoot", "$replaceWith"];

/// Every stage name this module knows (others are "Unrecognized pipeline stage name").
const KNOWN_STAGES: &[&str] = &[
    "$match",
    "$project",
    "$addFields",
    "$set",
    "$unset",
    "$replaceRoot",
    "$replaceWith",
    "$sort",
    "$skip",
    "$limit",
    "$count",
    "$group",
    "$bucket",
    "$bucketAuto",
    "$sortByCount",
    "$unwind",
    "$lookup",
    "$unionWith",
    "$graphLookup",
    "$facet",
    "$sample",
    "$redact",
    "$documents",
    "$setWindowFields",
    "$fill",
    "$densify",
    "$out",
    "$merge",
    "$collStats",
    "$indexStats",
];

/// MongoDB stages this module does not run: inside an update pipeline they are "not allowed"
/// (code 72) rather than unrecognized, as MongoDB reports them.
const OTHER_MONGODB_STAGES: &[&str] = &["$geoNear", "$planCacheStats", "$currentOp", "$listSessions"];

/// Where a pipeline is being parsed (stages allowed differ).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Context {
    Top,
    Lookup,
    Facet,
    UnionWith,
}

/// The foreign-collection cache of one run.
type Cache = RefCell<HashMap<String, Rc<Vec<Document>>>>;

/// What running stages need besides their input: the caller's `Foreign` and the per-run
/// cache (both None for `run`/`stream`).
#[derive(Clone, Copy)]
pub(crate) struct RunCx<'a> {
    foreign: Option<&'a dyn Foreign>,
    cache: Option<&'a Cache>,
}

impl RunCx<'_> {
    const NONE: RunCx<'static> = RunCx { foreign: None, cache: None };

    /// The documents of `coll`, fetched once per run.
    fn fetch(&self, coll: &str) -> Result<Rc<Vec<Document>>, DocError> {
        let (Some(foreign), Some(cache)) = (self.foreign, self.cache) else {
            return Err(needs_foreign(coll));
        };
        if let Some(docs) = cache.borrow().get(coll) {
            return Ok(docs.clone());
        }
        let docs = Rc::new(foreign.documents(coll)?);
        cache.borrow_mut().insert(coll.to_string(), docs.clone());
        Ok(docs)
    }
}

fn needs_foreign(coll: &str) -> DocError {
    DocError::bad_value(format!(
        "this pipeline reads collection '{coll}' ($lookup/$unionWith): run it with Pipeline::run_with and a Foreign source"
    ))
}

impl Pipeline {
    /// Parse a pipeline (an array of one-key stage documents).
    pub fn parse(stages: &[Bson], vars: &Variables) -> Result<Pipeline, DocError> {
        Self::parse_in(stages, vars, Context::Top, 0)
    }

    /// Parse a (sub-)pipeline in `context` at sub-pipeline nesting `depth`.
    pub(crate) fn parse_in(stages: &[Bson], vars: &Variables, context: Context, depth: usize) -> Result<Pipeline, DocError> {
        if depth > MAX_SUBPIPELINE_DEPTH {
            return Err(DocError::location(
                5054600,
                format!("Maximum number of nested sub-pipelines exceeded. Limit is {MAX_SUBPIPELINE_DEPTH}"),
            ));
        }
        let mut parsed = Vec::with_capacity(stages.len());
        for (i, s) in stages.iter().enumerate() {
            let (name, spec) = stage_parts(s)?;
            if !KNOWN_STAGES.contains(&name) {
                return Err(unrecognized_stage(name));
            }
            if matches!(name, "$out" | "$merge") {
                match context {
                    Context::Top => {}
                    Context::Lookup => {
                        return Err(DocError::location(51047, format!("{name} is not allowed to be used within a $lookup stage")))
                    }
                    Context::Facet => {
                        return Err(DocError::location(40600, format!("{name} is not allowed to be used within a $facet stage")))
                    }
                    Context::UnionWith => {
                        return Err(DocError::location(31441, format!("{name} is not allowed within a $unionWith's sub-pipeline")))
                    }
                }
                if i + 1 != stages.len() {
                    return Err(DocError::location(40601, format!("{name} can only be the final stage in the pipeline")));
                }
            }
            if matches!(name, "$documents" | "$collStats" | "$indexStats") && i != 0 {
                return Err(DocError::location(40602, format!("{name} is only valid as the first stage in a pipeline")));
            }
            if matches!(name, "$collStats" | "$indexStats") && context != Context::Top {
                return Err(DocError::location(40602, format!("{name} is only valid as the first stage of a top-level pipeline")));
            }
            if name == "$facet" && context == Context::Facet {
                return Err(DocError::location(40600, "$facet is not allowed to be used within a $facet stage"));
            }
            if name == "$sortByCount" {
                let id = parse_sort_by_count(spec)?;
                let count = group::parse_field("count", &Bson::Document(bson::doc! {"$sum": 1}))?;
                parsed.push(Stage::Group(Box::new(Group { id, fields: vec![count] })));
                parsed.push(Stage::Sort(Sort::parse(&bson::doc! {"count": -1})?));
                continue;
            }
            parsed.push(parse_stage(name, spec, vars, depth)?);
        }
        for (i, st) in parsed.iter().enumerate() {
            if let Stage::Match(f) = st {
                if f.has_text() && (i > 0 || context != Context::Top) {
                    return Err(DocError::location(17313, "$match with $text is only allowed as the first pipeline stage"));
                }
            }
        }
        Ok(Pipeline { stages: parsed, vars: vars.clone() })
    }

    /// The leading stages an index plan can answer: a first `$match` and/or a `$sort` right
    /// after it (or first), with how many stages they are.
    pub fn leading(&self) -> (Option<&Filter>, Option<&Sort>, usize) {
        let mut at = 0;
        let filter = match self.stages.first() {
            Some(Stage::Match(f)) => {
                at = 1;
                Some(f)
            }
            _ => None,
        };
        let sort = match self.stages.get(at) {
            Some(Stage::Sort(s)) => {
                at += 1;
                Some(s)
            }
            _ => None,
        };
        (filter, sort, at)
    }

    /// The parsed stages, in order.
    pub fn stages(&self) -> &[Stage] {
        &self.stages
    }

    /// The pipeline without its first `n` stages (after the caller ran them itself).
    pub fn tail(&self, n: usize) -> Pipeline {
        Pipeline { stages: self.stages.get(n..).unwrap_or_default().to_vec(), vars: self.vars.clone() }
    }

    /// Whether the first stage is `$documents` (the pipeline makes its own input).
    pub(crate) fn starts_with_documents(&self) -> bool {
        matches!(self.stages.first(), Some(Stage::Documents(_)))
    }

    /// The leading `$collStats`/`$indexStats` stage, whose documents the caller makes from
    /// the collection and feeds to `tail(1)`.
    pub fn stats_source(&self) -> Option<&Stage> {
        self.stages.first().filter(|s| matches!(s, Stage::CollStats(_) | Stage::IndexStats))
    }

    /// Whether the pipeline has no stages.
    pub fn is_empty(&self) -> bool {
        self.stages.is_empty()
    }

    /// Every collection the pipeline reads besides its input (`$lookup`'s `from`,
    /// `$unionWith`'s `coll`, in nested sub-pipelines too), each once, in first-use order.
    pub fn foreign_collections(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.collect_foreign(&mut out);
        out
    }

    fn collect_foreign(&self, out: &mut Vec<String>) {
        let add = |c: &str, out: &mut Vec<String>| {
            if !out.iter().any(|o| o == c) {
                out.push(c.to_string());
            }
        };
        for stage in &self.stages {
            match stage {
                Stage::Lookup(l) => {
                    if let Some(from) = &l.from {
                        add(from, out);
                    }
                    if let Some((_, p)) = &l.pipeline {
                        p.collect_foreign(out);
                    }
                }
                Stage::UnionWith(u) => {
                    if let Some(coll) = &u.coll {
                        add(coll, out);
                    }
                    if let Some(p) = &u.pipeline {
                        p.collect_foreign(out);
                    }
                }
                Stage::GraphLookup(g) => add(&g.from, out),
                Stage::Facet(facets) => {
                    for (_, p) in facets {
                        p.collect_foreign(out);
                    }
                }
                _ => {}
            }
        }
    }

    /// The collection a final `$out`/`$merge` writes: `(db, coll)`, `db` None meaning the
    /// pipeline's own database.
    pub fn output_collection(&self) -> Option<(Option<&str>, &str)> {
        match self.stages.last()? {
            Stage::Out { db, coll } => Some((db.as_deref(), coll.as_str())),
            Stage::Merge(m) => Some((m.db.as_deref(), m.coll.as_str())),
            _ => None,
        }
    }

    /// Run over `input` documents. Fails (code 2) if the pipeline reads another collection:
    /// use `run_with` for those.
    pub fn run(&self, input: Box<dyn Iterator<Item = Document> + '_>) -> Result<Vec<Document>, DocError> {
        if let Some(c) = self.foreign_collections().first() {
            return Err(needs_foreign(c));
        }
        self.stream(Box::new(input.map(Ok))).collect()
    }

    /// Run over `input`, reading other collections from `foreign` (each fetched at most once).
    /// With a final `$out`/`$merge`, the result is the documents to write.
    pub fn run_with(&self, input: Box<dyn Iterator<Item = Document> + '_>, foreign: &dyn Foreign) -> Result<Vec<Document>, DocError> {
        let cache: Cache = RefCell::new(HashMap::new());
        let cx = RunCx { foreign: Some(foreign), cache: Some(&cache) };
        let out: Result<Vec<Document>, DocError> = self.stream_cx(Box::new(input.map(Ok)), cx).collect();
        out
    }

    /// Run lazily: each stage wraps the previous one (blocking stages consume their input
    /// when first polled). Stages that read other collections fail (see `run_with`).
    pub fn stream<'a>(&'a self, input: DocStream<'a>) -> DocStream<'a> {
        self.stream_cx(input, RunCx::NONE)
    }

    pub(crate) fn stream_cx<'a>(&'a self, input: DocStream<'a>, cx: RunCx<'a>) -> DocStream<'a> {
        let mut it = input;
        for (i, stage) in self.stages.iter().enumerate() {
            it = apply_stage(stage, self.stages.get(i + 1), it, &self.vars, cx);
        }
        it
    }

    /// Run on one document (update pipelines): the resulting document, None if a stage
    /// filtered it out.
    pub fn run_one(&self, doc: Document) -> Result<Option<Document>, DocError> {
        self.stream(Box::new(std::iter::once(Ok(doc)))).next().transpose()
    }
}

/// Parse an update pipeline: only `$addFields $set $project $unset $replaceRoot $replaceWith`.
pub fn parse_update_pipeline(stages: &[Bson], vars: &Variables) -> Result<Pipeline, DocError> {
    let mut parsed = Vec::with_capacity(stages.len());
    for s in stages {
        let (name, spec) = stage_parts(s)?;
        if !UPDATE_STAGES.contains(&name) {
            if KNOWN_STAGES.contains(&name) || OTHER_MONGODB_STAGES.contains(&name) {
                return Err(DocError::new(
                    codes::INVALID_OPTIONS,
                    "InvalidOptions",
                    format!("{name} is not allowed to be used within an update"),
                ));
            }
            return Err(unrecognized_stage(name));
        }
        parsed.push(parse_stage(name, spec, vars, 0)?);
    }
    Ok(Pipeline { stages: parsed, vars: vars.clone() })
}

fn unrecognized_stage(name: &str) -> DocError {
    DocError::location(40324, format!("Unrecognized pipeline stage name: '{name}'"))
}

fn stage_parts(s: &Bson) -> Result<(&str, &Bson), DocError> {
    let Bson::Document(d) = s else {
        return Err(DocError::type_mismatch("Each element of the 'pipeline' array must be an object"));
    };
    if d.len() != 1 {
        return Err(DocError::location(40323, "A pipeline stage specification object must contain exactly one field."));
    }
    let (name, spec) = d.iter().next().expect("one field");
    Ok((name.as_str(), spec))
}

fn parse_stage(name: &str, spec: &Bson, vars: &Variables, depth: usize) -> Result<Stage, DocError> {
    Ok(match name {
        "$match" => {
            let Bson::Document(d) = spec else {
                return Err(DocError::location(15959, "the match filter must be an expression in an object"));
            };
            Stage::Match(Filter::parse(&*rewrite_sample_rate(d)?, vars)?)
        }
        "$project" => {
            let Bson::Document(d) = spec else {
                return Err(DocError::location(15969, "$project specification must be an object"));
            };
            if d.is_empty() {
                return Err(DocError::location(51272, "$project requires at least one output field"));
            }
            Stage::Reshape(Reshape::parse_project(d).map_err(|e| caused_by("$project", e))?)
        }
        "$addFields" | "$set" => {
            let Bson::Document(d) = spec else {
                return Err(DocError::location(40272, format!("{name} specification stage must be an object, got {}", type_name(spec))));
            };
            Stage::Reshape(Reshape::parse_add_fields(d).map_err(|e| caused_by(name, e))?)
        }
        "$unset" => Stage::Reshape(Reshape::parse_unset(spec)?),
        "$replaceRoot" => {
            let Bson::Document(d) = spec else {
                return Err(DocError::location(
                    40229,
                    format!("expected an object as specification for $replaceRoot stage, got {}", type_name(spec)),
                ));
            };
            let mut new_root = None;
            for (k, v) in d {
                if k == "newRoot" {
                    new_root = Some(Expr::parse(v)?);
                } else {
                    return Err(DocError::location(40415, format!("BSON field '$replaceRoot.{k}' is an unknown field.")));
                }
            }
            let expr = new_root.ok_or_else(|| DocError::location(40231, "no newRoot specified for the $replaceRoot stage"))?;
            Stage::ReplaceRoot(ReplaceRoot { expr, what: "'newRoot' expression " })
        }
        "$replaceWith" => Stage::ReplaceRoot(ReplaceRoot { expr: Expr::parse(spec)?, what: "'replacement document'" }),
        "$sort" => {
            let Bson::Document(d) = spec else {
                return Err(DocError::location(15973, "the $sort key specification must be an object"));
            };
            if d.is_empty() {
                return Err(DocError::location(15976, "$sort stage must have at least one sort key"));
            }
            Stage::Sort(Sort::parse(d)?)
        }
        "$skip" => Stage::Skip(parse_count_argument("$skip", spec, 5107200)?),
        "$limit" => {
            let n = parse_count_argument("$limit", spec, 5107201)?;
            if n == 0 {
                return Err(DocError::location(15958, "the limit must be positive"));
            }
            Stage::Limit(n)
        }
        "$count" => {
            let Bson::String(f) = spec else {
                return Err(DocError::location(40156, "the count field must be a non-empty string"));
            };
            if f.is_empty() {
                return Err(DocError::location(40156, "the count field must be a non-empty string"));
            }
            if f.starts_with('$') {
                return Err(DocError::location(40158, "the count field cannot be a $-prefixed path"));
            }
            if f.contains('.') {
                return Err(DocError::location(40160, "the count field cannot contain '.'"));
            }
            if f.contains('\0') {
                return Err(DocError::location(40159, "the count field cannot contain a null byte"));
            }
            Stage::Count(f.clone())
        }
        "$group" => Stage::Group(Box::new(Group::parse(spec)?)),
        "$bucket" => Stage::Bucket(Box::new(Bucket::parse(spec)?)),
        "$bucketAuto" => Stage::BucketAuto(Box::new(BucketAuto::parse(spec)?)),
        "$unwind" => Stage::Unwind(Unwind::parse(spec)?),
        "$lookup" => Stage::Lookup(Box::new(Lookup::parse(spec, vars, depth)?)),
        "$unionWith" => Stage::UnionWith(Box::new(UnionWith::parse(spec, vars, depth)?)),
        "$graphLookup" => Stage::GraphLookup(Box::new(GraphLookup::parse(spec, vars)?)),
        "$facet" => Stage::Facet(parse_facet(spec, vars, depth)?),
        "$sample" => Stage::Sample(parse_sample(spec)?),
        "$collStats" => Stage::CollStats(CollStats::parse(spec)?),
        "$indexStats" => match spec {
            Bson::Document(d) if d.is_empty() => Stage::IndexStats,
            _ => return Err(DocError::location(28803, "The $indexStats stage specification must be an empty object")),
        },
        "$redact" => Stage::Redact(Expr::parse(spec)?),
        "$setWindowFields" => Stage::SetWindowFields(Box::new(SetWindowFields::parse(spec)?)),
        "$fill" => Stage::Fill(Box::new(Fill::parse(spec)?)),
        "$densify" => Stage::Densify(Box::new(Densify::parse(spec)?)),
        "$documents" => Stage::Documents(Expr::parse(spec)?),
        "$out" => parse_out(spec)?,
        "$merge" => Stage::Merge(Box::new(Merge::parse(spec, vars)?)),
        other => return Err(unrecognized_stage(other)),
    })
}

/// `$match`'s `$sampleRate: r` (a top-level operator selecting each document with
/// probability `r`, 0 to 1) becomes `$expr: {$lt: [{$rand: {}}, r]}`, as mongod rewrites it;
/// an `$expr` already there is kept beside it under `$and`.
fn rewrite_sample_rate(d: &Document) -> Result<std::borrow::Cow<'_, Document>, DocError> {
    let Some(rate) = d.get("$sampleRate") else {
        return Ok(std::borrow::Cow::Borrowed(d));
    };
    if !is_number(rate) {
        return Err(DocError::bad_value(format!("argument to $sampleRate must be a numeric type, found {}", type_name(rate))));
    }
    let r = as_f64(rate).unwrap_or(f64::NAN);
    if !(0.0..=1.0).contains(&r) {
        return Err(DocError::bad_value("numeric argument to $sampleRate must be in [0, 1]"));
    }
    let sample = bson::doc! {"$lt": [{"$rand": {}}, r]};
    let mut out = Document::new();
    for (k, v) in d {
        match k.as_str() {
            "$sampleRate" => match d.get("$expr") {
                Some(e) => {
                    out.insert("$expr", bson::doc! {"$and": [e.clone(), sample.clone()]});
                }
                None => {
                    out.insert("$expr", sample.clone());
                }
            },
            "$expr" => {}
            _ => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    Ok(std::borrow::Cow::Owned(out))
}

/// `$skip`/`$limit` arguments: an integral number (`2.0` is fine); `$skip` not negative.
fn parse_count_argument(stage: &str, spec: &Bson, code: i32) -> Result<u64, DocError> {
    let n = if is_number(spec) { as_i64(spec) } else { None }
        .ok_or_else(|| DocError::location(code, format!("invalid argument to {stage} stage: Expected an integer: {stage}: {spec}")))?;
    if n < 0 && stage == "$skip" {
        return Err(DocError::location(
            code,
            format!("invalid argument to {stage} stage: Expected a non-negative number in: {stage}: {spec}"),
        ));
    }
    if n < 0 {
        return Err(DocError::location(15958, "the limit must be positive"));
    }
    Ok(n as u64)
}

fn caused_by(stage: &str, e: DocError) -> DocError {
    DocError { message: format!("Invalid {stage} :: caused by :: {}", e.message), ..e }
}

/// A stage that needs its whole input: `f` runs on the first poll.
fn blocking<'a>(it: DocStream<'a>, f: impl FnOnce(DocStream<'a>) -> Result<Vec<Document>, DocError> + 'a) -> DocStream<'a> {
    let mut pending = Some((it, f));
    let mut out: Option<std::vec::IntoIter<Document>> = None;
    Box::new(std::iter::from_fn(move || {
        if let Some((input, f)) = pending.take() {
            match f(input) {
                Ok(v) => out = Some(v.into_iter()),
                Err(e) => return Some(Err(e)),
            }
        }
        out.as_mut()?.next().map(Ok)
    }))
}

/// The documents of `it` up to its first error (returned instead).
fn collect_all(it: DocStream<'_>) -> Result<Vec<Document>, DocError> {
    it.collect()
}

fn apply_stage<'a>(stage: &'a Stage, next: Option<&'a Stage>, it: DocStream<'a>, vars: &'a Variables, cx: RunCx<'a>) -> DocStream<'a> {
    match stage {
        Stage::Match(filter) => Box::new(it.filter_map(move |r| match r {
            Ok(d) => match filter.matches(&d) {
                Ok(true) => Some(Ok(d)),
                Ok(false) => None,
                Err(e) => Some(Err(e)),
            },
            Err(e) => Some(Err(e)),
        })),
        Stage::Reshape(r) => Box::new(it.map(move |res| res.and_then(|d| r.apply(&d, vars)))),
        Stage::ReplaceRoot(r) => Box::new(it.map(move |res| res.and_then(|d| r.apply(&d, vars)))),
        Stage::Skip(n) => {
            let mut left = *n;
            Box::new(it.filter(move |r| {
                if r.is_ok() && left > 0 {
                    left -= 1;
                    false
                } else {
                    true
                }
            }))
        }
        Stage::Limit(n) => Box::new(it.take(usize::try_from(*n).unwrap_or(usize::MAX))),
        Stage::Sort(sort) => {
            if let Some(Stage::Limit(k)) = next {
                // $sort + $limit: a bounded top-k (the $limit stage after it is then a no-op).
                let k = usize::try_from(*k).unwrap_or(usize::MAX);
                return blocking(it, move |input| {
                    let mut err = None;
                    let docs = input.map_while(|r| match r {
                        Ok(d) => Some(d),
                        Err(e) => {
                            err = Some(e);
                            None
                        }
                    });
                    let top = sort.top_k(docs, k);
                    match err {
                        Some(e) => Err(e),
                        None => top,
                    }
                });
            }
            let mut pending = Some(it);
            let mut sorted: Option<std::vec::IntoIter<Result<Document, DocError>>> = None;
            Box::new(std::iter::from_fn(move || {
                if let Some(input) = pending.take() {
                    sorted = Some(sort_all(sort, input).into_iter());
                }
                sorted.as_mut()?.next()
            }))
        }
        Stage::Count(field) => {
            let mut pending = Some(it);
            Box::new(std::iter::from_fn(move || {
                let input = pending.take()?;
                let mut n: i64 = 0;
                for r in input {
                    if let Err(e) = r {
                        return Some(Err(e));
                    }
                    n += 1;
                }
                if n == 0 {
                    return None;
                }
                let v = i32::try_from(n).map_or(Bson::Int64(n), Bson::Int32);
                let mut d = Document::new();
                d.insert(field.clone(), v);
                Some(Ok(d))
            }))
        }
        Stage::Group(g) => blocking(it, move |input| g.run(input, vars)),
        Stage::Bucket(b) => blocking(it, move |input| b.run(input, vars)),
        Stage::BucketAuto(b) => blocking(it, move |input| b.run(input, vars)),
        Stage::Unwind(u) => {
            let mut pending: std::vec::IntoIter<Document> = Vec::new().into_iter();
            let mut input = it;
            Box::new(std::iter::from_fn(move || loop {
                if let Some(d) = pending.next() {
                    return Some(Ok(d));
                }
                match input.next()? {
                    Ok(d) => pending = u.apply(d).into_iter(),
                    Err(e) => return Some(Err(e)),
                }
            }))
        }
        Stage::Lookup(l) => Box::new(l.run(it, vars, cx)),
        Stage::UnionWith(u) => Box::new(u.run(it, cx)),
        Stage::GraphLookup(g) => Box::new(g.run(it, vars, cx)),
        Stage::Facet(facets) => blocking(it, move |input| {
            let docs = collect_all(input)?;
            let mut out = Document::new();
            for (name, p) in facets {
                let results: Vec<Document> = p.stream_cx(Box::new(docs.iter().cloned().map(Ok)), cx).collect::<Result<_, _>>()?;
                out.insert(name.clone(), Bson::Array(results.into_iter().map(Bson::Document).collect()));
            }
            Ok(vec![out])
        }),
        Stage::CollStats(_) | Stage::IndexStats => blocking(it, |_| {
            Err(DocError::bad_value("$collStats and $indexStats read collection metadata: run them through the aggregate command"))
        }),
        Stage::Sample(n) => blocking(it, move |input| {
            use rand::seq::SliceRandom;
            let mut docs = collect_all(input)?;
            let n = usize::try_from(*n).unwrap_or(usize::MAX).min(docs.len());
            let mut rng = rand::rng();
            let (chosen, _) = docs.partial_shuffle(&mut rng, n);
            Ok(chosen.to_vec())
        }),
        Stage::SetWindowFields(w) => blocking(it, move |input| w.run(input, vars)),
        Stage::Fill(f) => blocking(it, move |input| f.run(input, vars)),
        Stage::Densify(d) => blocking(it, move |input| d.run(input, vars)),
        Stage::Redact(e) => Box::new(it.filter_map(move |r| match r {
            Ok(d) => redact(e, &d, &d, vars).transpose(),
            Err(e) => Some(Err(e)),
        })),
        Stage::Documents(e) => blocking(it, move |_| {
            let empty = Document::new();
            match e.eval(&empty, vars)? {
                Some(Bson::Array(items)) => items
                    .into_iter()
                    .map(|v| match v {
                        Bson::Document(d) => Ok(d),
                        other => {
                            Err(DocError::type_mismatch(format!("$documents expects an array of objects, found {}", type_name(&other))))
                        }
                    })
                    .collect(),
                other => {
                    Err(DocError::location(5858203, format!("an array is expected, found {}", other.as_ref().map_or("missing", type_name))))
                }
            }
        }),
        // Executed by the caller: this passes on the documents to write.
        Stage::Out { .. } | Stage::Merge(_) => it,
    }
}

/// Sort a whole input (stable, keys computed once per document); an input error is the only
/// item returned.
fn sort_all(sort: &Sort, input: DocStream<'_>) -> Vec<Result<Document, DocError>> {
    let mut keyed = Vec::new();
    for r in input {
        match r {
            Ok(d) => match sort.try_key(&d) {
                Ok(key) => keyed.push((key, d)),
                // Parallel arrays (error 2), as MongoDB's blocking sort reports them.
                Err(e) => return vec![Err(e)],
            },
            Err(e) => return vec![Err(e)],
        }
    }
    keyed.sort_by(|a, b| sort.compare_keys(&a.0, &b.0));
    keyed.into_iter().map(|(_, d)| Ok(d)).collect()
}

// --- Helpers -------------------------------------------------------------------------------

/// Set the value at dotted `path` (pre-split), creating or replacing non-document parents.
pub(crate) fn set_path(doc: &mut Document, path: &[String], value: Bson) {
    match path {
        [] => {}
        [last] => {
            doc.insert(last.clone(), value);
        }
        [head, rest @ ..] => {
            if let Some(Bson::Document(sub)) = doc.get_mut(head) {
                set_path(sub, rest, value);
                return;
            }
            let mut sub = Document::new();
            set_path(&mut sub, rest, value);
            doc.insert(head.clone(), Bson::Document(sub));
        }
    }
}

/// The value at dotted `path` through documents only (not arrays), as `$unwind` reads it.
fn get_path_docs<'d>(doc: &'d Document, path: &[String]) -> Option<&'d Bson> {
    let (head, rest) = path.split_first()?;
    let v = doc.get(head)?;
    if rest.is_empty() {
        return Some(v);
    }
    match v {
        Bson::Document(d) => get_path_docs(d, rest),
        _ => None,
    }
}

fn remove_path(doc: &mut Document, path: &[String]) {
    match path {
        [] => {}
        [last] => {
            doc.remove(last);
        }
        [head, rest @ ..] => {
            if let Some(Bson::Document(sub)) = doc.get_mut(head) {
                remove_path(sub, rest);
            }
        }
    }
}

/// Dotted paths that stages walk recursively are capped like expressions.
pub(crate) fn check_path_length(path: &str) -> Result<(), DocError> {
    if path.split('.').count() > MAX_EXPR_DEPTH {
        return Err(DocError::new(codes::OVERFLOW, "Overflow", format!("field path has more than {MAX_EXPR_DEPTH} components")));
    }
    Ok(())
}

// --- $unwind ----------------------------------------------------------------------------------

/// A parsed `$unwind`.
#[derive(Clone, Debug)]
pub struct Unwind {
    path: Vec<String>,
    include_array_index: Option<Vec<String>>,
    preserve_null_and_empty_arrays: bool,
}

impl Unwind {
    fn parse(spec: &Bson) -> Result<Unwind, DocError> {
        let (path, index, preserve) = match spec {
            Bson::String(p) => (p.clone(), None, false),
            Bson::Document(d) => {
                let (mut path, mut index, mut preserve) = (None, None, false);
                for (k, v) in d {
                    match k.as_str() {
                        "path" => match v {
                            Bson::String(p) => path = Some(p.clone()),
                            other => {
                                return Err(DocError::location(
                                    28808,
                                    format!("expected a string as the path for $unwind stage, got {}", type_name(other)),
                                ))
                            }
                        },
                        "includeArrayIndex" => match v {
                            Bson::String(i) if !i.is_empty() => {
                                if i.starts_with('$') {
                                    return Err(DocError::location(
                                        28822,
                                        format!("includeArrayIndex option to $unwind stage should not be prefixed with a '$': {i}"),
                                    ));
                                }
                                index = Some(i.clone());
                            }
                            other => {
                                return Err(DocError::location(
                                    28810,
                                    format!(
                                        "expected a non-empty string for the includeArrayIndex  option to $unwind stage, got {}",
                                        type_name(other)
                                    ),
                                ))
                            }
                        },
                        "preserveNullAndEmptyArrays" => match v {
                            Bson::Boolean(b) => preserve = *b,
                            other => {
                                return Err(DocError::location(
                                    28809,
                                    format!(
                                        "expected a boolean for the preserveNullAndEmptyArrays option to $unwind stage, got {}",
                                        type_name(other)
                                    ),
                                ))
                            }
                        },
                        other => return Err(DocError::location(28811, format!("unrecognized option to $unwind stage: {other}"))),
                    }
                }
                let path = path.ok_or_else(|| DocError::location(28812, "no path specified to $unwind stage"))?;
                (path, index, preserve)
            }
            other => {
                return Err(DocError::location(
                    15981,
                    format!("expected either a string or an object as specification for $unwind stage, got {}", type_name(other)),
                ))
            }
        };
        let Some(field) = path.strip_prefix('$') else {
            return Err(DocError::location(28818, format!("path option to $unwind stage should be prefixed with a '$': {path}")));
        };
        validate_projection_path(field)?;
        if let Some(i) = &index {
            validate_projection_path(i)?;
        }
        let split = |p: &str| p.split('.').map(str::to_string).collect::<Vec<_>>();
        Ok(Unwind { path: split(field), include_array_index: index.as_deref().map(split), preserve_null_and_empty_arrays: preserve })
    }

    /// The documents one input document unwinds to.
    fn apply(&self, mut doc: Document) -> Vec<Document> {
        let index_null = |mut d: Document| {
            if let Some(i) = &self.include_array_index {
                set_path(&mut d, i, Bson::Null);
            }
            d
        };
        match get_path_docs(&doc, &self.path) {
            Some(Bson::Array(items)) if !items.is_empty() => {
                let items = items.clone();
                items
                    .into_iter()
                    .enumerate()
                    .map(|(i, item)| {
                        let mut d = doc.clone();
                        set_path(&mut d, &self.path, item);
                        if let Some(p) = &self.include_array_index {
                            set_path(&mut d, p, Bson::Int64(i as i64));
                        }
                        d
                    })
                    .collect()
            }
            Some(Bson::Array(_)) => {
                if !self.preserve_null_and_empty_arrays {
                    return Vec::new();
                }
                // An empty array is removed from the preserved document (the manual's example).
                remove_path(&mut doc, &self.path);
                vec![index_null(doc)]
            }
            None | Some(Bson::Null | Bson::Undefined) => {
                if self.preserve_null_and_empty_arrays {
                    vec![index_null(doc)]
                } else {
                    Vec::new()
                }
            }
            // A non-array value unwinds as itself.
            Some(_) => vec![index_null(doc)],
        }
    }
}

// --- $bucket ----------------------------------------------------------------------------------

/// A parsed `$bucket`: documents grouped by which `[boundaries[i], boundaries[i+1])` their
/// `groupBy` value falls in (`_id` is the lower bound), the rest in `default`; output sorted by
/// `_id` (MongoDB runs it as `$group` + `$sort`).
#[derive(Clone, Debug)]
pub struct Bucket {
    group_by: Expr,
    boundaries: Vec<Bson>,
    default: Option<Bson>,
    group: Group,
}

impl Bucket {
    fn parse(spec: &Bson) -> Result<Bucket, DocError> {
        let Bson::Document(d) = spec else {
            return Err(DocError::location(
                40201,
                format!("Argument to $bucket stage must be an object, but found type: {}.", type_name(spec)),
            ));
        };
        let (mut group_by, mut boundaries, mut default, mut output) = (None, None, None, None);
        for (k, v) in d {
            match k.as_str() {
                "groupBy" => {
                    group_by = Some(parse_group_by(v, || {
                        DocError::location(
                            40202,
                            format!("The $bucket 'groupBy' field must be defined as a $-prefixed path or an expression, but found: {v}."),
                        )
                    })?);
                }
                "boundaries" => match v {
                    Bson::Array(b) => boundaries = Some(b.clone()),
                    other => {
                        return Err(DocError::location(
                            40200,
                            format!("The $bucket 'boundaries' field must be an array, but found type: {}.", type_name(other)),
                        ))
                    }
                },
                "default" => default = Some(v.clone()),
                "output" => match v {
                    Bson::Document(o) => output = Some(o.clone()),
                    other => {
                        return Err(DocError::location(
                            40196,
                            format!("The $bucket 'output' field must be an object, but found type: {}.", type_name(other)),
                        ))
                    }
                },
                other => return Err(DocError::location(40197, format!("Unrecognized option to $bucket: {other}."))),
            }
        }
        let (Some(group_by), Some(boundaries)) = (group_by, boundaries) else {
            return Err(DocError::location(40198, "$bucket requires 'groupBy' and 'boundaries' to be specified."));
        };
        if boundaries.len() < 2 {
            return Err(DocError::location(
                40192,
                format!("The $bucket 'boundaries' field must have at least 2 values, but found {} value(s).", boundaries.len()),
            ));
        }
        for w in boundaries.windows(2) {
            if type_rank(&w[0]) != type_rank(&w[1]) {
                return Err(DocError::location(
                    40193,
                    format!(
                        "All values in the the 'boundaries' option to $bucket must have the same type. Found conflicting types {} and {}.",
                        type_name(&w[0]),
                        type_name(&w[1])
                    ),
                ));
            }
            if compare(&w[0], &w[1]) != std::cmp::Ordering::Less {
                return Err(DocError::location(
                    40194,
                    format!(
                        "The 'boundaries' option to $bucket must be sorted, but elements {} and {} are not in ascending order ({} is not less than {}).",
                        w[0], w[1], w[0], w[1]
                    ),
                ));
            }
        }
        if let Some(def) = &default {
            let (lo, hi) = (&boundaries[0], &boundaries[boundaries.len() - 1]);
            let comparable = type_rank(def) == type_rank(lo);
            if comparable && compare(def, lo) != std::cmp::Ordering::Less && compare(def, hi) == std::cmp::Ordering::Less {
                return Err(DocError::location(
                    40199,
                    "The $bucket 'default' field must be less than the lowest boundary or greater than or equal to the highest boundary.",
                ));
            }
        }
        let output = output.unwrap_or_else(|| bson::doc! {"count": {"$sum": 1}});
        let mut fields = Vec::new();
        for (k, v) in &output {
            fields.push(group::parse_field(k, v)?);
        }
        Ok(Bucket { group_by, boundaries, default, group: Group { id: Expr::parse(&Bson::Null)?, fields } })
    }

    fn run(&self, input: DocStream<'_>, vars: &Variables) -> Result<Vec<Document>, DocError> {
        let mut out = self.group.run_keyed(input, vars, |doc| {
            let v = self.group_by.eval(doc, vars)?.unwrap_or(Bson::Null);
            // boundaries[i] <= v < boundaries[i+1], by BSON order.
            let i = self.boundaries.partition_point(|b| compare(b, &v) != std::cmp::Ordering::Greater);
            if i > 0 && i < self.boundaries.len() {
                return Ok(self.boundaries[i - 1].clone());
            }
            self.default.clone().ok_or_else(|| {
                DocError::location(40066, "$switch could not find a matching branch for an input, and no default was specified.")
            })
        })?;
        out.sort_by(|a, b| compare(a.get("_id").unwrap_or(&Bson::Null), b.get("_id").unwrap_or(&Bson::Null)));
        Ok(out)
    }
}

// --- $redact ----------------------------------------------------------------------------------

/// `$redact` on `current` (a sub-document of `root`): None when pruned.
fn redact(e: &Expr, root: &Document, current: &Document, vars: &Variables) -> Result<Option<Document>, DocError> {
    match e.eval_with_current(root, current, vars)? {
        Some(Bson::String(s)) if s == "keep" => Ok(Some(current.clone())),
        Some(Bson::String(s)) if s == "prune" => Ok(None),
        Some(Bson::String(s)) if s == "descend" => {
            let mut out = Document::new();
            for (k, v) in current {
                match v {
                    Bson::Document(sub) => {
                        if let Some(kept) = redact(e, root, sub, vars)? {
                            out.insert(k.clone(), kept);
                        }
                    }
                    Bson::Array(items) => {
                        out.insert(k.clone(), redact_array(e, root, items, vars)?);
                    }
                    other => {
                        out.insert(k.clone(), other.clone());
                    }
                }
            }
            Ok(Some(out))
        }
        other => Err(DocError::location(
            17053,
            format!(
                "$redact's expression should not return anything aside from the variables $$KEEP, $$DESCEND, and $$PRUNE, but returned {}",
                other.as_ref().map_or_else(|| "MISSING".to_string(), mongo_display)
            ),
        )),
    }
}

fn redact_array(e: &Expr, root: &Document, items: &[Bson], vars: &Variables) -> Result<Bson, DocError> {
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        match item {
            Bson::Document(sub) => {
                if let Some(kept) = redact(e, root, sub, vars)? {
                    out.push(Bson::Document(kept));
                }
            }
            Bson::Array(inner) => out.push(redact_array(e, root, inner, vars)?),
            other => out.push(other.clone()),
        }
    }
    Ok(Bson::Array(out))
}

// --- $bucketAuto ------------------------------------------------------------------------------

/// A parsed `$bucketAuto`: documents sorted by `groupBy` (missing is null) and cut into at most
/// `buckets` buckets of about `round(n / buckets)` documents each; equal values never straddle
/// two buckets and the last bucket takes the rest. `_id` is `{min, max}`, where `max` is the next
/// bucket's `min` (the last bucket's own largest value). With a `granularity` (a preferred-
/// number series or `POWERSOF2`, see `Granularity`), the values must be non-negative numbers
/// and each bucket's `max` is its largest value rounded up in the series (absorbing the values
/// below it), its `min` the previous bucket's `max` (the first: its smallest value rounded
/// down), as mongod's `populateNextBucket` does.
#[derive(Clone, Debug)]
pub struct BucketAuto {
    group_by: Expr,
    buckets: usize,
    granularity: Option<Granularity>,
    group: Group,
}

/// Buckets as `$bucketAuto` cuts them: each bucket's first position in the sorted input, and
/// its `(min, max)`.
type BucketLayout = (Vec<usize>, Vec<(Bson, Bson)>);

/// A `$bucketAuto` granularity: the Renard (R5..R80), E (E6..E192) and 1-2-5 preferred-number
/// series, scaled by powers of ten, or the powers of two.
#[derive(Clone, Copy, Debug)]
enum Granularity {
    Series(&'static [f64]),
    PowersOf2,
}

// The series as mongod's granularity_rounder_preferred_numbers.cpp lists them (one decade,
// scaled so that every element is an integer).
const R5: &[f64] = &[10.0, 16.0, 25.0, 40.0, 63.0];
const R10: &[f64] = &[100.0, 125.0, 160.0, 200.0, 250.0, 315.0, 400.0, 500.0, 630.0, 800.0];
const R20: &[f64] = &[
    100.0, 112.0, 125.0, 140.0, 160.0, 180.0, 200.0, 224.0, 250.0, 280.0, 315.0, 355.0, 400.0, 450.0, 500.0, 560.0, 630.0, 710.0, 800.0,
    900.0,
];
const R40: &[f64] = &[
    100.0, 106.0, 112.0, 118.0, 125.0, 132.0, 140.0, 150.0, 160.0, 170.0, 180.0, 190.0, 200.0, 212.0, 224.0, 236.0, 250.0, 265.0, 280.0,
    300.0, 315.0, 355.0, 375.0, 400.0, 425.0, 450.0, 475.0, 500.0, 530.0, 560.0, 600.0, 630.0, 670.0, 710.0, 750.0, 800.0, 850.0, 900.0,
    950.0,
];
const R80: &[f64] = &[
    103.0, 109.0, 115.0, 122.0, 128.0, 136.0, 145.0, 155.0, 165.0, 175.0, 185.0, 195.0, 206.0, 218.0, 230.0, 243.0, 258.0, 272.0, 290.0,
    307.0, 325.0, 345.0, 365.0, 387.0, 412.0, 437.0, 462.0, 487.0, 515.0, 545.0, 575.0, 615.0, 650.0, 690.0, 730.0, 775.0, 825.0, 875.0,
    925.0, 975.0,
];
const S125: &[f64] = &[10.0, 20.0, 50.0];
const E6: &[f64] = &[10.0, 15.0, 22.0, 33.0, 47.0, 68.0];
const E12: &[f64] = &[10.0, 12.0, 15.0, 18.0, 22.0, 27.0, 33.0, 39.0, 47.0, 56.0, 68.0, 82.0];
const E24: &[f64] = &[
    10.0, 11.0, 12.0, 13.0, 15.0, 16.0, 18.0, 20.0, 22.0, 24.0, 27.0, 30.0, 33.0, 36.0, 39.0, 43.0, 47.0, 51.0, 56.0, 62.0, 68.0, 75.0,
    82.0, 91.0,
];
const E48: &[f64] = &[
    100.0, 105.0, 110.0, 115.0, 121.0, 127.0, 133.0, 140.0, 147.0, 154.0, 162.0, 169.0, 178.0, 187.0, 196.0, 205.0, 215.0, 226.0, 237.0,
    249.0, 261.0, 274.0, 287.0, 301.0, 316.0, 332.0, 348.0, 365.0, 383.0, 402.0, 422.0, 442.0, 464.0, 487.0, 511.0, 536.0, 562.0, 590.0,
    619.0, 649.0, 681.0, 715.0, 750.0, 787.0, 825.0, 866.0, 909.0, 953.0,
];
const E96: &[f64] = &[
    100.0, 102.0, 105.0, 107.0, 110.0, 113.0, 115.0, 118.0, 121.0, 124.0, 127.0, 130.0, 133.0, 137.0, 140.0, 143.0, 147.0, 150.0, 154.0,
    158.0, 162.0, 165.0, 169.0, 174.0, 178.0, 182.0, 187.0, 191.0, 196.0, 200.0, 205.0, 210.0, 215.0, 221.0, 226.0, 232.0, 237.0, 243.0,
    249.0, 255.0, 261.0, 267.0, 274.0, 280.0, 287.0, 294.0, 301.0, 309.0, 316.0, 324.0, 332.0, 340.0, 348.0, 357.0, 365.0, 374.0, 383.0,
    392.0, 402.0, 412.0, 422.0, 432.0, 442.0, 453.0, 464.0, 475.0, 487.0, 499.0, 511.0, 523.0, 536.0, 549.0, 562.0, 576.0, 590.0, 604.0,
    619.0, 634.0, 649.0, 665.0, 681.0, 698.0, 715.0, 732.0, 750.0, 768.0, 787.0, 806.0, 825.0, 845.0, 866.0, 887.0, 909.0, 931.0, 953.0,
    976.0,
];
const E192: &[f64] = &[
    100.0, 101.0, 102.0, 104.0, 105.0, 106.0, 107.0, 109.0, 110.0, 111.0, 113.0, 114.0, 115.0, 117.0, 118.0, 120.0, 121.0, 123.0, 124.0,
    126.0, 127.0, 129.0, 130.0, 132.0, 133.0, 135.0, 137.0, 138.0, 140.0, 142.0, 143.0, 145.0, 147.0, 149.0, 150.0, 152.0, 154.0, 156.0,
    158.0, 160.0, 162.0, 164.0, 165.0, 167.0, 169.0, 172.0, 174.0, 176.0, 178.0, 180.0, 182.0, 184.0, 187.0, 189.0, 191.0, 193.0, 196.0,
    198.0, 200.0, 203.0, 205.0, 208.0, 210.0, 213.0, 215.0, 218.0, 221.0, 223.0, 226.0, 229.0, 232.0, 234.0, 237.0, 240.0, 243.0, 246.0,
    249.0, 252.0, 255.0, 258.0, 261.0, 264.0, 267.0, 271.0, 274.0, 277.0, 280.0, 284.0, 287.0, 291.0, 294.0, 298.0, 301.0, 305.0, 309.0,
    312.0, 316.0, 320.0, 324.0, 328.0, 332.0, 336.0, 340.0, 344.0, 348.0, 352.0, 357.0, 361.0, 365.0, 370.0, 374.0, 379.0, 383.0, 388.0,
    392.0, 397.0, 402.0, 407.0, 412.0, 417.0, 422.0, 427.0, 432.0, 437.0, 442.0, 448.0, 453.0, 459.0, 464.0, 470.0, 475.0, 481.0, 487.0,
    493.0, 499.0, 505.0, 511.0, 517.0, 523.0, 530.0, 536.0, 542.0, 549.0, 556.0, 562.0, 569.0, 576.0, 583.0, 590.0, 597.0, 604.0, 612.0,
    619.0, 626.0, 634.0, 642.0, 649.0, 657.0, 665.0, 673.0, 681.0, 690.0, 698.0, 706.0, 715.0, 723.0, 732.0, 741.0, 750.0, 759.0, 768.0,
    777.0, 787.0, 796.0, 806.0, 816.0, 825.0, 835.0, 845.0, 856.0, 866.0, 876.0, 887.0, 898.0, 909.0, 920.0, 931.0, 942.0, 953.0, 965.0,
    976.0, 988.0,
];

impl Granularity {
    fn parse(v: &Bson) -> Result<Granularity, DocError> {
        let Bson::String(name) = v else {
            return Err(DocError::location(
                40261,
                format!("The $bucketAuto 'granularity' field must be a string, but found type: {}.", type_name(v)),
            ));
        };
        Ok(Granularity::Series(match name.as_str() {
            "POWERSOF2" => return Ok(Granularity::PowersOf2),
            "R5" => R5,
            "R10" => R10,
            "R20" => R20,
            "R40" => R40,
            "R80" => R80,
            "1-2-5" => S125,
            "E6" => E6,
            "E12" => E12,
            "E24" => E24,
            "E48" => E48,
            "E96" => E96,
            "E192" => E192,
            other => return Err(DocError::location(40257, format!("Unknown rounding granularity '{other}'"))),
        }))
    }

    /// The smallest series value strictly greater than `v` (0 stays 0). `v` is a
    /// non-negative, non-NaN number (`BucketAuto::run` checks).
    fn round_up(self, v: &Bson) -> Bson {
        let x = as_f64(v).unwrap_or(0.0);
        if x == 0.0 {
            return v.clone();
        }
        match self {
            Granularity::PowersOf2 => {
                let exp = match as_i64(v).filter(|_| matches!(v, Bson::Int32(_) | Bson::Int64(_))) {
                    // Integers: the position of the highest set bit, exactly.
                    Some(i) => f64::from(64 - i.leading_zeros()),
                    None => x.log2().floor() + 1.0,
                };
                power_of_two(exp)
            }
            Granularity::Series(series) => {
                let last = series[series.len() - 1];
                let mut m = 1.0;
                while x >= last * m {
                    m *= 10.0;
                }
                while x < series[0] * m {
                    let previous_min = series[0] * m;
                    m /= 10.0;
                    if x >= last * m {
                        return Bson::Double(previous_min);
                    }
                }
                let i = series.partition_point(|s| x >= s * m);
                Bson::Double(series[i.min(series.len() - 1)] * m)
            }
        }
    }

    /// The largest series value strictly less than `v` (0 stays 0).
    fn round_down(self, v: &Bson) -> Bson {
        let x = as_f64(v).unwrap_or(0.0);
        if x == 0.0 {
            return v.clone();
        }
        match self {
            Granularity::PowersOf2 => match as_i64(v).filter(|_| matches!(v, Bson::Int32(_) | Bson::Int64(_))) {
                // A power of two rounds down to the one below it.
                Some(i) if i.count_ones() == 1 => power_of_two(f64::from(62 - i.leading_zeros())),
                Some(i) => power_of_two(f64::from(63 - i.leading_zeros())),
                None => power_of_two(x.log2().ceil() - 1.0),
            },
            Granularity::Series(series) => {
                let last = series[series.len() - 1];
                let mut m = 1.0;
                while x <= series[0] * m {
                    m /= 10.0;
                }
                while x > last * m {
                    let previous_max = last * m;
                    m *= 10.0;
                    if x <= series[0] * m {
                        return Bson::Double(previous_max);
                    }
                }
                let i = series.partition_point(|s| s * m < x);
                Bson::Double(series[i.max(1) - 1] * m)
            }
        }
    }
}

/// 2^exp as `$pow` of two integers gives it: an int, a long past 2^31, a double past 2^63 or
/// below 1.
fn power_of_two(exp: f64) -> Bson {
    if (0.0..31.0).contains(&exp) {
        Bson::Int32(1 << exp as u32)
    } else if (31.0..63.0).contains(&exp) {
        Bson::Int64(1 << exp as u32)
    } else {
        Bson::Double(exp.exp2())
    }
}

impl BucketAuto {
    fn parse(spec: &Bson) -> Result<BucketAuto, DocError> {
        let Bson::Document(d) = spec else {
            return Err(DocError::location(
                40240,
                format!("The argument to $bucketAuto must be an object, but found type: {}.", type_name(spec)),
            ));
        };
        let (mut group_by, mut buckets, mut output, mut granularity) = (None, None, None, None);
        for (k, v) in d {
            match k.as_str() {
                "groupBy" => {
                    group_by = Some(parse_group_by(v, || {
                        DocError::location(
                            40239,
                            format!("The $bucketAuto 'groupBy' field must be defined as a $-prefixed path or an expression object, but found: {v}."),
                        )
                    })?);
                }
                "buckets" => {
                    if !is_number(v) {
                        return Err(DocError::location(
                            40241,
                            format!("The $bucketAuto 'buckets' field must be a numeric value, but found type: {}.", type_name(v)),
                        ));
                    }
                    let n = as_i64(v).filter(|n| i32::try_from(*n).is_ok()).ok_or_else(|| {
                        DocError::location(
                            40242,
                            format!("The $bucketAuto 'buckets' field must be representable as a 32-bit integer, but found {v}."),
                        )
                    })?;
                    if n <= 0 {
                        return Err(DocError::location(
                            40243,
                            format!("The $bucketAuto 'buckets' field must be greater than 0, but found: {n}."),
                        ));
                    }
                    buckets = Some(n as usize);
                }
                "output" => match v {
                    Bson::Document(o) => output = Some(o.clone()),
                    other => {
                        return Err(DocError::location(
                            40244,
                            format!("The $bucketAuto 'output' field must be an object, but found type: {}.", type_name(other)),
                        ))
                    }
                },
                "granularity" => granularity = Some(Granularity::parse(v)?),
                other => return Err(DocError::location(40245, format!("Unrecognized option to $bucketAuto: {other}."))),
            }
        }
        let (Some(group_by), Some(buckets)) = (group_by, buckets) else {
            return Err(DocError::location(40246, "$bucketAuto requires 'groupBy' and 'buckets' to be specified"));
        };
        let output = output.unwrap_or_else(|| bson::doc! {"count": {"$sum": 1}});
        let mut fields = Vec::new();
        for (k, v) in &output {
            fields.push(group::parse_field(k, v)?);
        }
        Ok(BucketAuto { group_by, buckets, granularity, group: Group { id: Expr::parse(&Bson::Null)?, fields } })
    }

    fn run(&self, input: DocStream<'_>, vars: &Variables) -> Result<Vec<Document>, DocError> {
        let mut keyed = Vec::new();
        for r in input {
            let d = r?;
            keyed.push((self.group_by.eval(&d, vars)?.unwrap_or(Bson::Null), d));
        }
        keyed.sort_by(|a, b| compare(&a.0, &b.0));
        let n = keyed.len();
        let size = ((n as f64 / self.buckets as f64).round() as usize).max(1);
        let (starts, bounds) = match self.granularity {
            Some(g) => self.granular_buckets(g, &keyed, size)?,
            None => self.even_buckets(&keyed, size),
        };
        let mut bucket_of = vec![0usize; n];
        for (b, &s) in starts.iter().enumerate() {
            let e = starts.get(b + 1).copied().unwrap_or(n);
            bucket_of[s..e].fill(b);
        }
        let mut pos = 0usize;
        let docs = keyed.into_iter().map(|(_, d)| Ok(d));
        let mut out = self.group.run_keyed(docs, vars, |_| {
            let b = bucket_of[pos];
            pos += 1;
            Ok(Bson::Int64(b as i64))
        })?;
        for d in &mut out {
            let b = d.get_i64("_id").unwrap_or(0) as usize;
            if let Some((min, max)) = bounds.get(b) {
                d.insert("_id", bson::doc! {"min": min.clone(), "max": max.clone()});
            }
        }
        Ok(out)
    }

    /// Buckets of `size` documents (equal values kept together): each bucket's first index and
    /// `(min, max)`.
    fn even_buckets(&self, keyed: &[(Bson, Document)], size: usize) -> BucketLayout {
        let n = keyed.len();
        // Bucket boundaries: (start index, min value).
        let mut starts: Vec<usize> = Vec::new();
        let mut i = 0;
        while i < n {
            starts.push(i);
            if starts.len() == self.buckets {
                break;
            }
            let mut end = (i + size).min(n);
            while end < n && compare(&keyed[end].0, &keyed[end - 1].0) == std::cmp::Ordering::Equal {
                end += 1;
            }
            i = end;
        }
        let bounds: Vec<(Bson, Bson)> = starts
            .iter()
            .enumerate()
            .map(|(b, &s)| {
                let max = match starts.get(b + 1) {
                    Some(&next) => keyed[next].0.clone(),
                    None => keyed[n - 1].0.clone(),
                };
                (keyed[s].0.clone(), max)
            })
            .collect();
        (starts, bounds)
    }

    /// Buckets whose boundaries follow a granularity (see the type's comment).
    fn granular_buckets(&self, g: Granularity, keyed: &[(Bson, Document)], size: usize) -> Result<BucketLayout, DocError> {
        for (v, _) in keyed {
            if !is_number(v) {
                return Err(DocError::location(
                    40258,
                    format!("$bucketAuto can specify a 'granularity' with numeric boundaries only, but found type: {}", type_name(v)),
                ));
            }
            let x = as_f64(v).unwrap_or(f64::NAN);
            if x.is_nan() {
                return Err(DocError::location(
                    40259,
                    "$bucketAuto can specify a 'granularity' with numeric boundaries only, but found a NaN",
                ));
            }
            if x < 0.0 {
                return Err(DocError::location(
                    40260,
                    "$bucketAuto can specify a 'granularity' with non-negative numbers only, but found a negative number",
                ));
            }
        }
        let n = keyed.len();
        let (mut starts, mut bounds) = (Vec::new(), Vec::new());
        let mut previous_max: Option<Bson> = None;
        let mut i = 0;
        while i < n && starts.len() < self.buckets {
            let last_bucket = starts.len() + 1 == self.buckets;
            let start = i;
            let min = previous_max.take().unwrap_or_else(|| g.round_down(&keyed[i].0));
            i += 1;
            while i < n && (i - start < size || last_bucket) {
                i += 1;
            }
            let mut max = keyed[i - 1].0.clone();
            let boundary = g.round_up(&max);
            // Values below the rounded boundary (or equal to the largest) join this bucket.
            while i < n
                && (compare(&boundary, &keyed[i].0) == std::cmp::Ordering::Greater
                    || compare(&max, &keyed[i].0) == std::cmp::Ordering::Equal)
            {
                max = keyed[i].0.clone();
                i += 1;
            }
            // A bucket of zeros ends where the next bucket's rounded-down minimum starts.
            let max = if as_f64(&boundary) == Some(0.0) && i < n { g.round_down(&keyed[i].0) } else { boundary };
            starts.push(start);
            bounds.push((min, max.clone()));
            previous_max = Some(max);
        }
        Ok((starts, bounds))
    }
}

// --- $sortByCount, $facet, $sample, $out, $merge ------------------------------------------------

fn parse_sort_by_count(spec: &Bson) -> Result<Expr, DocError> {
    match spec {
        Bson::String(s) if s.starts_with('$') => Expr::parse(spec),
        Bson::Document(d) if d.len() == 1 && d.keys().next().is_some_and(|k| k.starts_with('$')) => Expr::parse(spec),
        Bson::Document(_) => Err(DocError::location(40147, "the sortByCount field must be specified as an object with a single operator")),
        _ => Err(DocError::location(40149, "the sortByCount field must be defined as a $-prefixed path or an expression")),
    }
}

fn parse_facet(spec: &Bson, vars: &Variables, depth: usize) -> Result<Vec<(String, Pipeline)>, DocError> {
    let Bson::Document(d) = spec else {
        return Err(DocError::location(15947, format!("the $facet specification must be an object, but found type {}", type_name(spec))));
    };
    if d.is_empty() {
        return Err(DocError::location(40169, "the $facet specification must be a non-empty object"));
    }
    let mut out = Vec::with_capacity(d.len());
    for (name, v) in d {
        validate_projection_path(name).map_err(|e| caused_by("$facet", e))?;
        if name.contains('.') {
            return Err(DocError::location(40171, format!("$facet pipeline names may not contain '.': {name}")));
        }
        let Bson::Array(stages) = v else {
            return Err(DocError::location(40170, format!("arguments to $facet must be arrays, {name} is type {}", type_name(v))));
        };
        if stages.is_empty() {
            return Err(DocError::location(40172, format!("sub-pipeline in $facet stage cannot be empty: {name}")));
        }
        out.push((name.clone(), Pipeline::parse_in(stages, vars, Context::Facet, depth + 1)?));
    }
    Ok(out)
}

fn parse_sample(spec: &Bson) -> Result<u64, DocError> {
    let Bson::Document(d) = spec else {
        return Err(DocError::location(28745, "the $sample stage specification must be an object"));
    };
    let mut size = None;
    for (k, v) in d {
        if k != "size" {
            return Err(DocError::location(28748, format!("unrecognized option to $sample: {k}")));
        }
        let n = if is_number(v) { as_i64(v) } else { None }
            .ok_or_else(|| DocError::location(28746, "size argument to $sample must be a number"))?;
        if n < 0 {
            return Err(DocError::location(28747, "size argument to $sample must not be negative"));
        }
        size = Some(n as u64);
    }
    size.ok_or_else(|| DocError::location(28749, "$sample stage must specify a size"))
}

fn string_field(stage: &str, field: &str, v: &Bson) -> Result<String, DocError> {
    match v {
        Bson::String(s) if !s.is_empty() => Ok(s.clone()),
        other => Err(DocError::type_mismatch(format!(
            "BSON field '{stage}.{field}' is the wrong type '{}', expected type 'string'",
            type_name(other)
        ))),
    }
}

/// `{db, coll}` (both strings) as `$out` and `$merge.into` accept it.
fn parse_namespace(stage: &str, d: &Document) -> Result<(Option<String>, String), DocError> {
    let (mut db, mut coll) = (None, None);
    for (k, v) in d {
        match k.as_str() {
            "db" => db = Some(string_field(stage, "db", v)?),
            "coll" => coll = Some(string_field(stage, "coll", v)?),
            "timeseries" if stage == "$out" => {}
            other => return Err(DocError::location(40415, format!("BSON field '{stage}.{other}' is an unknown field."))),
        }
    }
    let coll = coll.ok_or_else(|| DocError::location(40414, format!("BSON field '{stage}.coll' is missing but a required field")))?;
    Ok((db, coll))
}

fn parse_out(spec: &Bson) -> Result<Stage, DocError> {
    let (db, coll) = match spec {
        Bson::String(s) if !s.is_empty() => (None, s.clone()),
        Bson::Document(d) => parse_namespace("$out", d)?,
        other => {
            return Err(DocError::location(
                16990,
                format!("$out only supports a string or object argument, but found {}", type_name(other)),
            ))
        }
    };
    if coll.starts_with("system.") || coll.contains('$') {
        return Err(DocError::new(codes::INVALID_NAMESPACE, "InvalidNamespace", format!("Invalid $out target namespace, {coll}")));
    }
    Ok(Stage::Out { db, coll })
}

/// `$merge`'s `whenMatched`.
#[derive(Clone, Debug, PartialEq)]
pub enum WhenMatched {
    Replace,
    KeepExisting,
    Merge,
    Fail,
    /// An update pipeline (validated with `parse_update_pipeline`), with `$$new` bound to the
    /// incoming document and the `let` variables.
    Pipeline(Vec<Bson>),
}

/// `$merge`'s `whenNotMatched`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WhenNotMatched {
    Insert,
    Discard,
    Fail,
}

/// A parsed `$merge` (executed by the caller, see the module comment).
#[derive(Clone, Debug)]
pub struct Merge {
    /// The target database (None: the pipeline's).
    pub db: Option<String>,
    pub coll: String,
    /// The fields identifying a target document (default `["_id"]`).
    pub on: Vec<String>,
    /// `let` for a pipeline `whenMatched` (None: MongoDB's default `{new: "$$ROOT"}`).
    pub let_vars: Option<Document>,
    pub when_matched: WhenMatched,
    pub when_not_matched: WhenNotMatched,
}

impl Merge {
    fn parse(spec: &Bson, vars: &Variables) -> Result<Merge, DocError> {
        let mut m = Merge {
            db: None,
            coll: String::new(),
            on: vec!["_id".to_string()],
            let_vars: None,
            when_matched: WhenMatched::Merge,
            when_not_matched: WhenNotMatched::Insert,
        };
        match spec {
            Bson::String(s) if !s.is_empty() => m.coll = s.clone(),
            Bson::Document(d) => {
                let mut into = None;
                for (k, v) in d {
                    match k.as_str() {
                        "into" => {
                            into = Some(match v {
                                Bson::String(s) if !s.is_empty() => (None, s.clone()),
                                Bson::Document(ns) => parse_namespace("$merge.into", ns)?,
                                other => {
                                    return Err(DocError::location(
                                        51178,
                                        format!(
                                            "$merge 'into' field  must be either a string or an object, but found {}",
                                            type_name(other)
                                        ),
                                    ))
                                }
                            })
                        }
                        "on" => {
                            m.on = match v {
                                Bson::String(s) => vec![s.clone()],
                                Bson::Array(a) if !a.is_empty() => a
                                    .iter()
                                    .map(|f| match f {
                                        Bson::String(s) => Ok(s.clone()),
                                        _ => Err(DocError::location(51134, "$merge 'on' array elements must be strings")),
                                    })
                                    .collect::<Result<_, _>>()?,
                                _ => {
                                    return Err(DocError::location(
                                        51186,
                                        "$merge 'on' field  must be either a string or an array of strings",
                                    ))
                                }
                            }
                        }
                        "let" => match v {
                            Bson::Document(l) => m.let_vars = Some(l.clone()),
                            other => {
                                return Err(DocError::type_mismatch(format!(
                                    "BSON field '$merge.let' is the wrong type '{}', expected type 'object'",
                                    type_name(other)
                                )))
                            }
                        },
                        "whenMatched" => {
                            m.when_matched = match v {
                                Bson::String(s) => match s.as_str() {
                                    "replace" => WhenMatched::Replace,
                                    "keepExisting" => WhenMatched::KeepExisting,
                                    "merge" => WhenMatched::Merge,
                                    "fail" => WhenMatched::Fail,
                                    other => {
                                        return Err(DocError::bad_value(format!(
                                            "Enumeration value '{other}' for field '$merge.whenMatched' is not a valid value."
                                        )))
                                    }
                                },
                                Bson::Array(p) => {
                                    parse_update_pipeline(p, vars)?;
                                    WhenMatched::Pipeline(p.clone())
                                }
                                other => {
                                    return Err(DocError::location(
                                        51191,
                                        format!(
                                            "$merge 'whenMatched' field  must be either a string or an array, but found {}",
                                            type_name(other)
                                        ),
                                    ))
                                }
                            }
                        }
                        "whenNotMatched" => {
                            m.when_not_matched = match v {
                                Bson::String(s) if s == "insert" => WhenNotMatched::Insert,
                                Bson::String(s) if s == "discard" => WhenNotMatched::Discard,
                                Bson::String(s) if s == "fail" => WhenNotMatched::Fail,
                                other => {
                                    return Err(DocError::bad_value(format!(
                                        "Enumeration value '{}' for field '$merge.whenNotMatched' is not a valid value.",
                                        mongo_display(other)
                                    )))
                                }
                            }
                        }
                        other => return Err(DocError::location(40415, format!("BSON field '$merge.{other}' is an unknown field."))),
                    }
                }
                let (db, coll) =
                    into.ok_or_else(|| DocError::location(40414, "BSON field '$merge.into' is missing but a required field"))?;
                m.db = db;
                m.coll = coll;
                if m.let_vars.is_some() && !matches!(m.when_matched, WhenMatched::Pipeline(_)) {
                    return Err(DocError::location(51199, "Cannot use 'let' variables with 'whenMatched: ...' mode other than pipeline"));
                }
            }
            other => {
                return Err(DocError::location(
                    51182,
                    format!("$merge only supports a string or object argument, but found {}", type_name(other)),
                ))
            }
        }
        Ok(m)
    }
}

// --- $replaceRoot / $replaceWith -------------------------------------------------------------

/// `$replaceRoot: {newRoot: <expr>}` or `$replaceWith: <expr>`.
#[derive(Clone, Debug)]
pub struct ReplaceRoot {
    expr: Expr,
    what: &'static str,
}

impl ReplaceRoot {
    pub fn apply(&self, doc: &Document, vars: &Variables) -> Result<Document, DocError> {
        match self.expr.eval(doc, vars)? {
            Some(Bson::Document(d)) => Ok(d),
            other => {
                let (shown, ty) = match &other {
                    Some(v) => (mongo_display(v), type_name(v)),
                    None => ("MISSING".to_string(), "missing"),
                };
                Err(DocError::location(
                    40228,
                    format!(
                        "{} must evaluate to an object, but resulting value was: {shown}. Type of resulting value: '{ty}'. Input document: {}",
                        self.what,
                        mongo_display(&Bson::Document(doc.clone()))
                    ),
                ))
            }
        }
    }
}

// --- $project / $addFields / $unset ----------------------------------------------------------

/// What a projection does to one field.
#[derive(Clone, Debug)]
enum FieldSpec {
    Include,
    Exclude,
    Computed(Expr),
    /// A sub-projection (`{a: {b: 1}}` or `"a.b"`).
    Nested(Vec<(String, FieldSpec)>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ReshapeKind {
    /// Keep only included and computed fields (`_id` unless excluded).
    Inclusion,
    /// Remove excluded fields.
    Exclusion,
    /// Keep everything, set computed fields (`$addFields`/`$set`).
    AddFields,
}

/// A parsed `$project`, `$unset` or `$addFields`/`$set`.
#[derive(Clone, Debug)]
pub struct Reshape {
    kind: ReshapeKind,
    fields: Vec<(String, FieldSpec)>,
}

fn find<'f>(fields: &'f [(String, FieldSpec)], k: &str) -> Option<&'f FieldSpec> {
    fields.iter().find(|(n, _)| n == k).map(|(_, s)| s)
}

fn has_computed(fields: &[(String, FieldSpec)]) -> bool {
    fields.iter().any(|(_, s)| match s {
        FieldSpec::Computed(_) => true,
        FieldSpec::Nested(sub) => has_computed(sub),
        _ => false,
    })
}

fn validate_projection_path(path: &str) -> Result<(), DocError> {
    if path.is_empty() {
        return Err(DocError::location(40352, "FieldPath cannot be constructed with empty string"));
    }
    if path.starts_with('$') {
        return Err(DocError::location(16410, "FieldPath field names may not start with '$'. Consider using $getField or $setField."));
    }
    check_path_length(path)?;
    for part in path.split('.') {
        if part.is_empty() {
            return Err(DocError::location(15998, "FieldPath field names may not be empty strings."));
        }
        if part.starts_with('$') {
            return Err(DocError::location(16410, "FieldPath field names may not start with '$'. Consider using $getField or $setField."));
        }
    }
    Ok(())
}

/// Insert `spec` at dotted `path` (relative) in `tree`; `full` is the whole path for errors.
fn insert_path(tree: &mut Vec<(String, FieldSpec)>, path: &str, spec: FieldSpec, full: &str) -> Result<(), DocError> {
    let collision = || DocError::location(31250, format!("Path collision at {full}"));
    match path.split_once('.') {
        None => {
            if let Some((_, existing)) = tree.iter_mut().find(|(n, _)| n == path) {
                // Two sub-projections of the same field merge ({"a.b": 1, "a.c": 1}).
                return match (existing, spec) {
                    (FieldSpec::Nested(old), FieldSpec::Nested(new)) => {
                        for (k, s) in new {
                            insert_path(old, &k, s, full)?;
                        }
                        Ok(())
                    }
                    _ => Err(collision()),
                };
            }
            tree.push((path.to_string(), spec));
            Ok(())
        }
        Some((head, rest)) => {
            let idx = match tree.iter().position(|(n, _)| n == head) {
                Some(i) => i,
                None => {
                    tree.push((head.to_string(), FieldSpec::Nested(Vec::new())));
                    tree.len() - 1
                }
            };
            match &mut tree[idx].1 {
                FieldSpec::Nested(sub) => insert_path(sub, rest, spec, full),
                _ => Err(DocError::location(31249, format!("Path collision at {full} remaining portion {rest}"))),
            }
        }
    }
}

/// Parse the fields of a projection object (top level or a sub-projection at `prefix`).
fn parse_fields(spec: &Document, prefix: &str, add_fields: bool, depth: usize) -> Result<Vec<(String, FieldSpec)>, DocError> {
    if depth > MAX_EXPR_DEPTH {
        return Err(DocError::new(
            codes::OVERFLOW,
            "Overflow",
            format!("projection nesting exceeds the maximum depth of {MAX_EXPR_DEPTH}"),
        ));
    }
    let mut tree = Vec::new();
    for (k, v) in spec {
        validate_projection_path(k)?;
        let full = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
        let field = match v {
            Bson::Document(d) if d.is_empty() => {
                if add_fields {
                    FieldSpec::Computed(Expr::parse(v)?)
                } else {
                    return Err(DocError::location(
                        51270,
                        format!("An empty sub-projection is not a valid value. Found empty object at path {full}"),
                    ));
                }
            }
            Bson::Document(d) if d.keys().next().is_some_and(|f| f.starts_with('$')) => {
                FieldSpec::Computed(Expr::parse_at_depth(v, depth + 1)?)
            }
            Bson::Document(d) => FieldSpec::Nested(parse_fields(d, &full, add_fields, depth + 1)?),
            Bson::Boolean(b) if !add_fields => {
                if *b {
                    FieldSpec::Include
                } else {
                    FieldSpec::Exclude
                }
            }
            n if !add_fields && is_number(n) => {
                if super::expr::truthy(Some(n)) {
                    FieldSpec::Include
                } else {
                    FieldSpec::Exclude
                }
            }
            other => FieldSpec::Computed(Expr::parse_at_depth(other, depth + 1)?),
        };
        insert_path(&mut tree, k, field, &full)?;
    }
    Ok(tree)
}

/// Check a `$project` tree is all-inclusion (with computed fields) or all-exclusion, except the
/// top-level `_id`. Returns the kind.
fn projection_kind(fields: &[(String, FieldSpec)]) -> Result<ReshapeKind, DocError> {
    fn walk(fields: &[(String, FieldSpec)], prefix: &str, top: bool, kind: &mut Option<ReshapeKind>) -> Result<(), DocError> {
        for (k, s) in fields {
            let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
            if top && k == "_id" && matches!(s, FieldSpec::Include | FieldSpec::Exclude) {
                continue;
            }
            match s {
                FieldSpec::Include => match kind {
                    Some(ReshapeKind::Exclusion) => {
                        return Err(DocError::location(31253, format!("Cannot do inclusion on field {path} in exclusion projection")))
                    }
                    _ => *kind = Some(ReshapeKind::Inclusion),
                },
                FieldSpec::Computed(_) => match kind {
                    Some(ReshapeKind::Exclusion) => {
                        return Err(DocError::location(31252, "Cannot use expression other than $meta in exclusion projection"))
                    }
                    _ => *kind = Some(ReshapeKind::Inclusion),
                },
                FieldSpec::Exclude => match kind {
                    Some(ReshapeKind::Inclusion) => {
                        return Err(DocError::location(31254, format!("Cannot do exclusion on field {path} in inclusion projection")))
                    }
                    _ => *kind = Some(ReshapeKind::Exclusion),
                },
                FieldSpec::Nested(sub) => walk(sub, &path, false, kind)?,
            }
        }
        Ok(())
    }
    let mut kind = None;
    walk(fields, "", true, &mut kind)?;
    Ok(match kind {
        Some(k) => k,
        // Only _id: {_id: 0} excludes, {_id: 1} includes.
        None => match find(fields, "_id") {
            Some(FieldSpec::Exclude) => ReshapeKind::Exclusion,
            _ => ReshapeKind::Inclusion,
        },
    })
}

impl Reshape {
    /// `$project`.
    pub fn parse_project(spec: &Document) -> Result<Reshape, DocError> {
        if spec.is_empty() {
            return Err(DocError::location(51272, "$project requires at least one output field"));
        }
        let mut fields = parse_fields(spec, "", false, 0)?;
        let kind = projection_kind(&fields)?;
        if kind == ReshapeKind::Inclusion {
            match fields.iter().position(|(k, _)| k == "_id") {
                None => fields.insert(0, ("_id".to_string(), FieldSpec::Include)),
                Some(i) if matches!(fields[i].1, FieldSpec::Exclude) => {
                    fields.remove(i);
                }
                Some(_) => {}
            }
        } else {
            // `_id: 1` in an exclusion projection changes nothing.
            fields.retain(|(k, s)| !(k == "_id" && matches!(s, FieldSpec::Include)));
        }
        Ok(Reshape { kind, fields })
    }

    /// `$addFields` / `$set`.
    pub fn parse_add_fields(spec: &Document) -> Result<Reshape, DocError> {
        Ok(Reshape { kind: ReshapeKind::AddFields, fields: parse_fields(spec, "", true, 0)? })
    }

    /// `$unset: "field"` or `$unset: ["a", "b.c"]`.
    pub fn parse_unset(spec: &Bson) -> Result<Reshape, DocError> {
        let paths: Vec<&str> = match spec {
            Bson::String(s) => vec![s.as_str()],
            Bson::Array(items) if !items.is_empty() => items
                .iter()
                .map(|i| match i {
                    Bson::String(s) => Ok(s.as_str()),
                    _ => Err(DocError::location(31120, "$unset specification must be a string or an array containing only string values")),
                })
                .collect::<Result<_, _>>()?,
            _ => return Err(DocError::location(31119, "$unset specification must be a string or an array with at least one field")),
        };
        let mut fields = Vec::new();
        for p in paths {
            validate_projection_path(p).map_err(|e| caused_by("$unset", e))?;
            insert_path(&mut fields, p, FieldSpec::Exclude, p).map_err(|e| caused_by("$unset", e))?;
        }
        Ok(Reshape { kind: ReshapeKind::Exclusion, fields })
    }

    /// Apply to `doc` (which is also `$$ROOT` for computed fields).
    pub fn apply(&self, doc: &Document, vars: &Variables) -> Result<Document, DocError> {
        match self.kind {
            ReshapeKind::Exclusion => Ok(exclude_doc(doc, &self.fields)),
            ReshapeKind::Inclusion => {
                let mut out = include_doc(doc, &self.fields);
                add_computed(&mut out, &self.fields, doc, vars)?;
                // A text score is metadata: it stays with the document.
                if let Some(score) = doc.get(super::expr::TEXT_SCORE_FIELD) {
                    out.insert(super::expr::TEXT_SCORE_FIELD, score.clone());
                }
                Ok(out)
            }
            ReshapeKind::AddFields => {
                let mut out = doc.clone();
                add_computed(&mut out, &self.fields, doc, vars)?;
                Ok(out)
            }
        }
    }
}

fn exclude_doc(doc: &Document, fields: &[(String, FieldSpec)]) -> Document {
    let mut out = Document::new();
    for (k, v) in doc {
        match find(fields, k) {
            Some(FieldSpec::Exclude) => {}
            Some(FieldSpec::Nested(sub)) => {
                out.insert(k.clone(), exclude_value(v, sub));
            }
            _ => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    out
}

fn exclude_value(v: &Bson, sub: &[(String, FieldSpec)]) -> Bson {
    match v {
        Bson::Document(d) => Bson::Document(exclude_doc(d, sub)),
        Bson::Array(items) => Bson::Array(items.iter().map(|e| exclude_value(e, sub)).collect()),
        other => other.clone(),
    }
}

/// The inclusion pass: included fields in the input's order (computed fields come after).
/// A value a sub-projection skips (a scalar) is dropped, unless the sub-projection computes
/// fields: then a null placeholder keeps its place for the computed pass, which replaces it
/// with a document (MongoDB keeps the slot the same way).
fn include_doc(doc: &Document, fields: &[(String, FieldSpec)]) -> Document {
    let mut out = Document::new();
    for (k, v) in doc {
        match find(fields, k) {
            Some(FieldSpec::Include) => {
                out.insert(k.clone(), v.clone());
            }
            Some(FieldSpec::Nested(sub)) => {
                if let Some(pv) = include_value(v, sub, has_computed(sub)) {
                    out.insert(k.clone(), pv);
                }
            }
            _ => {}
        }
    }
    out
}

fn include_value(v: &Bson, sub: &[(String, FieldSpec)], computed: bool) -> Option<Bson> {
    match v {
        Bson::Document(d) => Some(Bson::Document(include_doc(d, sub))),
        Bson::Array(items) => Some(Bson::Array(items.iter().filter_map(|e| include_value(e, sub, computed)).collect())),
        _ if computed => Some(Bson::Null),
        _ => None,
    }
}

/// The computed pass: set computed fields (missing values remove the field), creating or
/// descending into sub-documents and arrays.
fn add_computed(out: &mut Document, fields: &[(String, FieldSpec)], root: &Document, vars: &Variables) -> Result<(), DocError> {
    for (k, s) in fields {
        match s {
            FieldSpec::Computed(e) => match e.eval(root, vars)? {
                Some(v) => {
                    out.insert(k.clone(), v);
                }
                None => {
                    out.remove(k);
                }
            },
            FieldSpec::Nested(sub) if has_computed(sub) => match out.get_mut(k) {
                Some(v) => computed_value(v, sub, root, vars)?,
                None => {
                    let mut d = Document::new();
                    add_computed(&mut d, sub, root, vars)?;
                    out.insert(k.clone(), d);
                }
            },
            _ => {}
        }
    }
    Ok(())
}

fn computed_value(v: &mut Bson, sub: &[(String, FieldSpec)], root: &Document, vars: &Variables) -> Result<(), DocError> {
    match v {
        Bson::Document(d) => add_computed(d, sub, root, vars),
        Bson::Array(items) => {
            for e in items {
                computed_value(e, sub, root, vars)?;
            }
            Ok(())
        }
        other => {
            let mut d = Document::new();
            add_computed(&mut d, sub, root, vars)?;
            *other = Bson::Document(d);
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::{bson, doc};

    fn vars() -> Variables {
        Variables::new(bson::DateTime::from_millis(0))
    }

    fn run(stages: Bson, docs: Vec<Document>) -> Result<Vec<Document>, DocError> {
        let Bson::Array(stages) = stages else { panic!("stages must be an array") };
        Pipeline::parse(&stages, &vars())?.run(Box::new(docs.into_iter()))
    }

    fn parse_err(stages: Bson) -> DocError {
        let Bson::Array(stages) = stages else { panic!("stages must be an array") };
        Pipeline::parse(&stages, &vars()).unwrap_err()
    }

    fn book() -> Document {
        doc! {"_id": 1, "title": "abc123", "isbn": "0001122223334", "author": {"last": "zzz", "first": "aaa"}, "copies": 5, "lastModified": "2016-07-28"}
    }

    #[test]
    fn project_inclusion_from_the_manual() {
        let out = run(bson!([{"$project": {"title": 1, "author": 1}}]), vec![book()]).unwrap();
        assert_eq!(out, vec![doc! {"_id": 1, "title": "abc123", "author": {"last": "zzz", "first": "aaa"}}]);
        let out = run(bson!([{"$project": {"_id": 0, "title": 1, "author": 1}}]), vec![book()]).unwrap();
        assert_eq!(out, vec![doc! {"title": "abc123", "author": {"last": "zzz", "first": "aaa"}}]);
        let out = run(bson!([{"$project": {"author.first": 1, "title": true}}]), vec![book()]).unwrap();
        assert_eq!(out, vec![doc! {"_id": 1, "title": "abc123", "author": {"first": "aaa"}}]);
        let out = run(bson!([{"$project": {"author": {"first": 1}}}]), vec![book()]).unwrap();
        assert_eq!(out, vec![doc! {"_id": 1, "author": {"first": "aaa"}}]);
    }

    #[test]
    fn project_exclusion_and_remove() {
        let out = run(bson!([{"$project": {"lastModified": 0}}]), vec![book()]).unwrap();
        let mut want = book();
        want.remove("lastModified");
        assert_eq!(out, vec![want]);
        let out = run(bson!([{"$project": {"author.first": 0, "lastModified": 0}}]), vec![book()]).unwrap();
        assert_eq!(out[0].get_document("author").unwrap(), &doc! {"last": "zzz"});
        // Manual: conditionally exclude with $$REMOVE.
        let docs = vec![
            doc! {"_id": 1, "title": "abc123", "author": {"last": "zzz", "first": "aaa", "middle": ""}},
            doc! {"_id": 2, "title": "Baked Goods", "author": {"last": "xyz", "first": "abc", "middle": "mmm"}},
        ];
        let out = run(
            bson!([{"$project": {"title": 1, "author.first": 1, "author.last": 1,
                "author.middle": {"$cond": {"if": {"$eq": ["", "$author.middle"]}, "then": "$$REMOVE", "else": "$author.middle"}}}}]),
            docs,
        )
        .unwrap();
        assert_eq!(out[0], doc! {"_id": 1, "title": "abc123", "author": {"last": "zzz", "first": "aaa"}});
        assert_eq!(out[1], doc! {"_id": 2, "title": "Baked Goods", "author": {"last": "xyz", "first": "abc", "middle": "mmm"}});
        // Nested exclusion over an array of documents.
        let out = run(bson!([{"$project": {"a.b": 0}}]), vec![doc! {"a": [{"b": 1, "c": 1}, 5, {"b": 2}]}]).unwrap();
        assert_eq!(out, vec![doc! {"a": [{"c": 1}, 5, {}]}]);
        let out = run(bson!([{"$project": {"_id": 0}}]), vec![doc! {"_id": 1, "x": 2}]).unwrap();
        assert_eq!(out, vec![doc! {"x": 2}]);
    }

    #[test]
    fn project_computed_fields() {
        let out = run(
            bson!([{"$project": {"title": 1, "isbn": {
                "prefix": {"$substrCP": ["$isbn", 0, 3]},
                "group": {"$substrCP": ["$isbn", 3, 2]}},
                "lastName": "$author.last", "copiesSold": "$copies"}}]),
            vec![book()],
        )
        .unwrap();
        assert_eq!(
            out,
            vec![doc! {"_id": 1, "title": "abc123", "isbn": {"prefix": "000", "group": "11"}, "lastName": "zzz", "copiesSold": 5}]
        );
        // New array fields; a missing field becomes null inside the array.
        let out = run(bson!([{"$project": {"myArray": ["$x", "$y"]}}]), vec![doc! {"_id": 1, "x": 1}]).unwrap();
        assert_eq!(out, vec![doc! {"_id": 1, "myArray": [1, null]}]);
        // Computed sub-field on a scalar replaces it; over arrays it applies per element.
        let out = run(bson!([{"$project": {"a.b": {"$literal": 1}}}]), vec![doc! {"_id": 0, "a": 1}]).unwrap();
        assert_eq!(out, vec![doc! {"_id": 0, "a": {"b": 1}}]);
        let out = run(bson!([{"$project": {"_id": 0, "a.b": "$x"}}]), vec![doc! {"x": 7, "a": [{"c": 1}, 3]}]).unwrap();
        assert_eq!(out, vec![doc! {"a": [{"b": 7}, {"b": 7}]}]);
        let out = run(bson!([{"$project": {"_id": 0, "a.c": 1}}]), vec![doc! {"x": 7, "a": [{"c": 1}, 3, [{"c": 2, "d": 1}]]}]).unwrap();
        assert_eq!(out, vec![doc! {"a": [{"c": 1}, [{"c": 2}]]}]);
        // The replaced scalar keeps its position.
        let out = run(bson!([{"$project": {"_id": 0, "z": 1, "a.b": "$x"}}]), vec![doc! {"a": 1, "x": 7, "z": 0}]).unwrap();
        assert_eq!(out, vec![doc! {"a": {"b": 7}, "z": 0}]);
        // Literal strings and booleans via $literal.
        let out = run(bson!([{"$project": {"s": "text", "t": {"$literal": true}}}]), vec![doc! {"_id": 1}]).unwrap();
        assert_eq!(out, vec![doc! {"_id": 1, "s": "text", "t": true}]);
    }

    #[test]
    fn project_errors() {
        assert_eq!(parse_err(bson!([{"$project": {"a": 1, "b": 0}}])).code, 31254);
        assert_eq!(parse_err(bson!([{"$project": {"a": 0, "b": 1}}])).code, 31253);
        assert_eq!(parse_err(bson!([{"$project": {"a": 0, "b": "$x"}}])).code, 31252);
        let e = parse_err(bson!([{"$project": {"a": 1, "b": 0}}]));
        assert_eq!(e.message, "Invalid $project :: caused by :: Cannot do exclusion on field b in inclusion projection");
        assert_eq!(parse_err(bson!([{"$project": {}}])).code, 51272);
        assert_eq!(parse_err(bson!([{"$project": {"a": {}}}])).code, 51270);
        assert_eq!(parse_err(bson!([{"$project": {"a": 1, "a.b": 1}}])).code, 31249);
        assert_eq!(parse_err(bson!([{"$project": {"a.b": 1, "a": 1}}])).code, 31250);
        assert_eq!(parse_err(bson!([{"$project": {"$a": 1}}])).code, 16410);
        assert_eq!(parse_err(bson!([{"$project": 1}])).code, 15969);
        assert_eq!(parse_err(bson!([{"$project": {"a": {"$foo": 1}}}])).code, 168);
        // _id may be excluded in an inclusion projection and included in an exclusion one.
        assert!(Pipeline::parse(&[Bson::Document(doc! {"$project": {"_id": 0, "a": 1}})], &vars()).is_ok());
        assert!(Pipeline::parse(&[Bson::Document(doc! {"$project": {"_id": 1, "a": 0}})], &vars()).is_ok());
    }

    #[test]
    fn add_fields_and_set_from_the_manual() {
        let docs = vec![doc! {"_id": 1, "student": "Maya", "homework": [10, 5, 10], "quiz": [10, 8], "extraCredit": 0}];
        let out = run(
            bson!([
                {"$addFields": {"totalHomework": {"$sum": "$homework"}, "totalQuiz": {"$sum": "$quiz"}}},
                {"$addFields": {"totalScore": {"$add": ["$totalHomework", "$totalQuiz", "$extraCredit"]}}}
            ]),
            docs,
        )
        .unwrap();
        assert_eq!(
            out,
            vec![doc! {"_id": 1, "student": "Maya", "homework": [10, 5, 10], "quiz": [10, 8], "extraCredit": 0,
            "totalHomework": 25, "totalQuiz": 18, "totalScore": 43}]
        );
        // Adding to an embedded document, dotted or nested.
        let car = doc! {"_id": 1, "type": "car", "specs": {"doors": 4, "wheels": 4}};
        let out = run(bson!([{"$set": {"specs.fuel_type": "unleaded"}}]), vec![car.clone()]).unwrap();
        assert_eq!(out, vec![doc! {"_id": 1, "type": "car", "specs": {"doors": 4, "wheels": 4, "fuel_type": "unleaded"}}]);
        let out = run(bson!([{"$addFields": {"specs": {"fuel_type": "unleaded"}}}]), vec![car.clone()]).unwrap();
        assert_eq!(out, vec![doc! {"_id": 1, "type": "car", "specs": {"doors": 4, "wheels": 4, "fuel_type": "unleaded"}}]);
        // Overwriting keeps the field's position; _id can be replaced.
        let out = run(bson!([{"$set": {"type": "vehicle", "_id": "$type"}}]), vec![car.clone()]).unwrap();
        assert_eq!(out, vec![doc! {"_id": "car", "type": "vehicle", "specs": {"doors": 4, "wheels": 4}}]);
        // Adding an element to an array with $concatArrays.
        let out = run(bson!([{"$set": {"homework": {"$concatArrays": ["$homework", [7]]}}}]), vec![doc! {"_id": 1, "homework": [10, 5]}])
            .unwrap();
        assert_eq!(out, vec![doc! {"_id": 1, "homework": [10, 5, 7]}]);
        // Inside an array of documents: set in each element; scalars become documents.
        let out = run(bson!([{"$set": {"a.b": 1}}]), vec![doc! {"a": [{"c": 1}, 2, [{"d": 1}]]}]).unwrap();
        assert_eq!(out, vec![doc! {"a": [{"c": 1, "b": 1}, {"b": 1}, [{"d": 1, "b": 1}]]}]);
        // Missing parent is created; $$REMOVE removes.
        let out = run(bson!([{"$set": {"x.y.z": 1, "type": "$$REMOVE"}}]), vec![car]).unwrap();
        assert_eq!(out, vec![doc! {"_id": 1, "specs": {"doors": 4, "wheels": 4}, "x": {"y": {"z": 1}}}]);
        // Literal numbers and booleans are values in $addFields, not inclusion flags.
        let out = run(bson!([{"$addFields": {"one": 1, "no": false, "e": {}}}]), vec![doc! {"_id": 1}]).unwrap();
        assert_eq!(out, vec![doc! {"_id": 1, "one": 1, "no": false, "e": {}}]);
        assert_eq!(parse_err(bson!([{"$addFields": 1}])).code, 40272);
        assert_eq!(parse_err(bson!([{"$set": {"$a": 1}}])).code, 16410);
    }

    #[test]
    fn unset_from_the_manual() {
        let docs = vec![
            doc! {"_id": 1, "title": "Antelope Antics", "isbn": "0001122223334", "author": {"last": "An", "first": "Auntie"}, "copies": [{"warehouse": "A", "qty": 5}, {"warehouse": "B", "qty": 15}]},
        ];
        let out = run(bson!([{"$unset": "copies"}]), docs.clone()).unwrap();
        assert_eq!(
            out,
            vec![doc! {"_id": 1, "title": "Antelope Antics", "isbn": "0001122223334", "author": {"last": "An", "first": "Auntie"}}]
        );
        let out = run(bson!([{"$unset": ["isbn", "author.first", "copies.warehouse"]}]), docs).unwrap();
        assert_eq!(out, vec![doc! {"_id": 1, "title": "Antelope Antics", "author": {"last": "An"}, "copies": [{"qty": 5}, {"qty": 15}]}]);
        assert_eq!(parse_err(bson!([{"$unset": []}])).code, 31119);
        assert_eq!(parse_err(bson!([{"$unset": ["a", 1]}])).code, 31120);
    }

    #[test]
    fn replace_root_and_with() {
        let docs = vec![
            doc! {"_id": 1, "name": "Arlene", "age": 34, "pets": {"dogs": 2, "cats": 1}},
            doc! {"_id": 2, "name": "Sam", "age": 41, "pets": {"cats": 1, "fish": 3}},
            doc! {"_id": 3, "name": "Maria", "age": 25},
        ];
        let out = run(
            bson!([{"$replaceRoot": {"newRoot": {"$mergeObjects": [{"dogs": 0, "cats": 0, "birds": 0, "fish": 0}, "$pets"]}}}]),
            docs.clone(),
        )
        .unwrap();
        assert_eq!(out[0], doc! {"dogs": 2, "cats": 1, "birds": 0, "fish": 0});
        assert_eq!(out[2], doc! {"dogs": 0, "cats": 0, "birds": 0, "fish": 0});
        let out =
            run(bson!([{"$replaceWith": {"$mergeObjects": [{"_id": "$_id", "first": ""}, {"name": "$name"}]}}]), docs.clone()).unwrap();
        assert_eq!(out[1], doc! {"_id": 2, "first": "", "name": "Sam"});
        let e = run(bson!([{"$replaceRoot": {"newRoot": "$pets"}}]), docs.clone()).unwrap_err();
        assert_eq!(e.code, 40228);
        assert!(
            e.message.starts_with("'newRoot' expression  must evaluate to an object, but resulting value was: MISSING."),
            "{}",
            e.message
        );
        let e = run(bson!([{"$replaceWith": "$age"}]), docs).unwrap_err();
        assert_eq!(e.code, 40228);
        let e = run(bson!([{"$replaceRoot": {"newRoot": "$genres"}}]), vec![doc! {"genres": ["Drama", "Thriller"]}]).unwrap_err();
        assert_eq!(
            e.message,
            "'newRoot' expression  must evaluate to an object, but resulting value was: [\"Drama\", \"Thriller\"]. Type of resulting value: 'array'. Input document: {genres: [\"Drama\", \"Thriller\"]}"
        );
        assert_eq!(parse_err(bson!([{"$replaceRoot": {}}])).code, 40231);
        assert_eq!(parse_err(bson!([{"$replaceRoot": {"newRoot": 1, "x": 1}}])).code, 40415);
    }

    #[test]
    fn skip_limit_count() {
        let docs: Vec<Document> = (0..5).map(|i| doc! {"_id": i}).collect();
        let out = run(bson!([{"$skip": 1}, {"$limit": 2}]), docs.clone()).unwrap();
        assert_eq!(out, vec![doc! {"_id": 1}, doc! {"_id": 2}]);
        let out = run(bson!([{"$limit": 2.0}]), docs.clone()).unwrap();
        assert_eq!(out.len(), 2);
        let out = run(bson!([{"$skip": 10}]), docs.clone()).unwrap();
        assert!(out.is_empty());
        let out = run(bson!([{"$count": "n"}]), docs.clone()).unwrap();
        assert_eq!(out, vec![doc! {"n": 5}]);
        let out = run(bson!([{"$skip": 9}, {"$count": "n"}]), docs).unwrap();
        assert!(out.is_empty());
        assert_eq!(parse_err(bson!([{"$limit": 0}])).code, 15958);
        assert_eq!(parse_err(bson!([{"$limit": -1}])).code, 15958);
        assert_eq!(parse_err(bson!([{"$limit": "a"}])).code, 5107201);
        assert_eq!(parse_err(bson!([{"$skip": "a"}])).message, "invalid argument to $skip stage: Expected an integer: $skip: \"a\"");
        assert_eq!(parse_err(bson!([{"$limit": 1.5}])).code, 5107201);
        assert_eq!(parse_err(bson!([{"$skip": -1}])).code, 5107200);
        assert_eq!(parse_err(bson!([{"$skip": 1.5}])).code, 5107200);
        assert_eq!(parse_err(bson!([{"$count": ""}])).code, 40156);
        assert_eq!(parse_err(bson!([{"$count": "$n"}])).code, 40158);
        assert_eq!(parse_err(bson!([{"$count": "a.b"}])).code, 40160);
        assert_eq!(parse_err(bson!([{"$count": 1}])).code, 40156);
    }

    #[test]
    fn stage_shape_errors() {
        let e = parse_err(bson!([{"$foo": 1}]));
        assert_eq!((e.code, e.message.as_str()), (40324, "Unrecognized pipeline stage name: '$foo'"));
        let e = parse_err(bson!([{"$skip": 1, "$limit": 1}]));
        assert_eq!((e.code, e.message.as_str()), (40323, "A pipeline stage specification object must contain exactly one field."));
        assert_eq!(parse_err(bson!([{}])).code, 40323);
        assert_eq!(parse_err(bson!([1])).code, 14);
        assert_eq!(parse_err(bson!([{"$match": 1}])).code, 15959);
        assert_eq!(parse_err(bson!([{"$sort": 1}])).code, 15973);
        assert_eq!(parse_err(bson!([{"$sort": {}}])).code, 15976);
    }

    #[test]
    fn update_pipeline() {
        let stages = vec![
            Bson::Document(doc! {"$set": {"status": "Modified", "comments": ["$misc1", "$misc2"]}}),
            Bson::Document(doc! {"$unset": ["misc1", "misc2"]}),
        ];
        let p = parse_update_pipeline(&stages, &vars()).unwrap();
        let out =
            p.run(Box::new(std::iter::once(doc! {"_id": 1, "member": "abc123", "status": "A", "misc1": "note", "misc2": "x"}))).unwrap();
        assert_eq!(out, vec![doc! {"_id": 1, "member": "abc123", "status": "Modified", "comments": ["note", "x"]}]);
        let one = p.run_one(doc! {"_id": 2, "misc1": 1}).unwrap();
        assert_eq!(one, Some(doc! {"_id": 2, "status": "Modified", "comments": [1, null]}));
        let err = parse_update_pipeline(&[Bson::Document(doc! {"$match": {}})], &vars()).unwrap_err();
        assert_eq!((err.code, err.message.as_str()), (72, "$match is not allowed to be used within an update"));
        assert_eq!(parse_update_pipeline(&[Bson::Document(doc! {"$group": {"_id": 1}})], &vars()).unwrap_err().code, 72);
        assert_eq!(parse_update_pipeline(&[Bson::Document(doc! {"$nope": 1})], &vars()).unwrap_err().code, 40324);
        assert!(parse_update_pipeline(&[], &vars()).unwrap().is_empty());
        // Stages view for push-down.
        let p = Pipeline::parse(&[Bson::Document(doc! {"$limit": 3}), Bson::Document(doc! {"$skip": 1})], &vars()).unwrap();
        assert!(matches!(p.stages(), [Stage::Limit(3), Stage::Skip(1)]));
        assert!(matches!(p.tail(1).stages(), [Stage::Skip(1)]));
    }

    #[test]
    fn errors_propagate_from_expressions() {
        let e = run(bson!([{"$set": {"x": {"$divide": [1, 0]}}}]), vec![doc! {}]).unwrap_err();
        assert_eq!(e.code, 2);
        let e = run(bson!([{"$set": {"x": {"$add": [1, "$s"]}}}, {"$count": "n"}]), vec![doc! {"s": "a"}]).unwrap_err();
        assert_eq!(e.code, 14);
    }
}

// Tests that need query.rs / sort.rs from the other helpers (skeletons until merged).
#[cfg(test)]
mod cross_tests {
    use super::*;
    use bson::{bson, doc};

    fn run(stages: Bson, docs: Vec<Document>) -> Result<Vec<Document>, DocError> {
        let Bson::Array(stages) = stages else { panic!("stages must be an array") };
        Pipeline::parse(&stages, &Variables::new(bson::DateTime::from_millis(0)))?.run(Box::new(docs.into_iter()))
    }

    #[test]
    fn match_and_sort_from_the_manual() {
        let docs = vec![
            doc! {"_id": 1, "author": "dave", "score": 80, "views": 100},
            doc! {"_id": 2, "author": "dave", "score": 85, "views": 521},
            doc! {"_id": 3, "author": "ahn", "score": 60, "views": 1000},
            doc! {"_id": 4, "author": "li", "score": 55, "views": 5000},
            doc! {"_id": 5, "author": "annT", "score": 60, "views": 50},
            doc! {"_id": 6, "author": "li", "score": 94, "views": 999},
            doc! {"_id": 7, "author": "ty", "score": 95, "views": 1000},
        ];
        let out = run(bson!([{"$match": {"author": "dave"}}]), docs.clone()).unwrap();
        assert_eq!(out.iter().map(|d| d.get_i32("_id").unwrap()).collect::<Vec<_>>(), vec![1, 2]);
        let out = run(
            bson!([{"$match": {"$or": [{"score": {"$gt": 70, "$lt": 90}}, {"views": {"$gte": 1000}}]}}, {"$count": "n"}]),
            docs.clone(),
        )
        .unwrap();
        assert_eq!(out, vec![doc! {"n": 5}]);
        let out = run(bson!([{"$match": {"$expr": {"$gt": ["$views", {"$multiply": ["$score", 10]}]}}}]), docs.clone()).unwrap();
        assert_eq!(out.iter().map(|d| d.get_i32("_id").unwrap()).collect::<Vec<_>>(), vec![3, 4, 6, 7]);
        let out = run(bson!([{"$sort": {"score": -1, "_id": 1}}, {"$limit": 3}, {"$project": {"_id": 1}}]), docs).unwrap();
        assert_eq!(out, vec![doc! {"_id": 7}, doc! {"_id": 6}, doc! {"_id": 2}]);
    }
}

/// `$bucket`/`$bucketAuto`'s `groupBy`: a `$`-prefixed path or an operator expression
/// (`invalid` builds the stage's own error otherwise).
fn parse_group_by(v: &Bson, invalid: impl FnOnce() -> DocError) -> Result<Expr, DocError> {
    let ok = match v {
        Bson::String(s) => s.starts_with('$'),
        Bson::Document(g) => g.keys().next().is_some_and(|f| f.starts_with('$')),
        _ => false,
    };
    if !ok {
        return Err(invalid());
    }
    Expr::parse(v)
}
