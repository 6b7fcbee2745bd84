//! `$group` and its accumulators; `$bucket` and `$sortByCount` are built on it.
//!
//! Semantics (MongoDB manual, "$group (aggregation)" and each accumulator's page):
//! - `_id` is any expression (a document of expressions, a constant, `null`); a missing value
//!   groups as `null`. Keys are compared by BSON equality (`value::key_of`), so `1`, `1.0` and
//!   `NumberLong(1)` are one group, whose `_id` is the first value seen. Groups come out in
//!   first-seen order (MongoDB leaves the order unspecified).
//! - `$sum`/`$avg`/`$stdDevPop`/`$stdDevSamp` ignore non-numbers (arrays included: unlike the
//!   expressions, the accumulators do not look inside arrays); `$sum` of nothing is 0, `$avg`
//!   and the standard deviations of nothing are null. Sums promote as `$add` does.
//! - `$min`/`$max`/`$minN`/`$maxN` ignore null and missing; `$push`/`$addToSet` ignore missing;
//!   `$first`/`$last`/`$firstN`/`$lastN`/`$top`/`$bottom` keep null and turn missing into null.
//! - `$topN`/`$bottomN`/`$firstN`/`$lastN`/`$maxN`/`$minN`: `n` is evaluated once per group
//!   against the group key (a document key is the root, as in the manual's `$cond` example; a
//!   scalar key is seen as `{_id: key}`).
//! - `$percentile`/`$median` keep every number and compute exactly (MongoDB's "approximate"
//!   t-digest may differ slightly on large inputs); `method: "continuous"` interpolates.
//! - Parse errors use mongod's codes: 15955 (no `_id`), 40234 (not an accumulator object),
//!   40235 (dotted name), 40236 (`$`-name), 40238 (two accumulators), 15952 (unknown).

use std::collections::{HashMap, HashSet};

use bson::{Bson, Document};

use super::super::expr::{add_numbers, f64_to_decimal, percentile_spec, percentiles_of, Expr, Variables};
use super::super::sort::Sort;
use super::super::value::{as_f64, as_i64, compare, is_number, key_of, type_name};
use super::super::DocError;

/// A parsed `$group` (also the core of `$bucket` and `$sortByCount`).
#[derive(Clone, Debug)]
pub struct Group {
    pub(super) id: Expr,
    pub(super) fields: Vec<(String, Accumulator)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Sum,
    Avg,
    Min,
    Max,
    First,
    Last,
    Push,
    AddToSet,
    Count,
    MergeObjects,
    StdDevPop,
    StdDevSamp,
    Top,
    Bottom,
    TopN,
    BottomN,
    FirstN,
    LastN,
    MaxN,
    MinN,
    Percentile,
    Median,
}

const OPS: &[(&str, Op)] = &[
    ("$sum", Op::Sum),
    ("$avg", Op::Avg),
    ("$min", Op::Min),
    ("$max", Op::Max),
    ("$first", Op::First),
    ("$last", Op::Last),
    ("$push", Op::Push),
    ("$addToSet", Op::AddToSet),
    ("$count", Op::Count),
    ("$mergeObjects", Op::MergeObjects),
    ("$stdDevPop", Op::StdDevPop),
    ("$stdDevSamp", Op::StdDevSamp),
    ("$top", Op::Top),
    ("$bottom", Op::Bottom),
    ("$topN", Op::TopN),
    ("$bottomN", Op::BottomN),
    ("$firstN", Op::FirstN),
    ("$lastN", Op::LastN),
    ("$maxN", Op::MaxN),
    ("$minN", Op::MinN),
    ("$percentile", Op::Percentile),
    ("$median", Op::Median),
];

/// One output field's accumulator.
#[derive(Clone, Debug)]
pub struct Accumulator {
    op: Op,
    /// The per-document expression (`input`/`output` for the object forms).
    arg: Expr,
    /// `n` for the N forms.
    n: Option<Expr>,
    /// `sortBy` for `$top`/`$bottom`/`$topN`/`$bottomN`.
    sort_by: Option<Sort>,
    /// `p` and whether to interpolate, for `$percentile`/`$median`.
    percentiles: Option<(Vec<f64>, bool)>,
}

/// The running state of one accumulator in one group (or window).
#[derive(Clone)]
pub(super) enum State {
    Sum(Bson),
    Avg {
        total: Bson,
        count: u64,
    },
    Best(Option<Bson>),
    First(Option<Bson>),
    Last(Bson),
    Push(Vec<Bson>),
    Set(Vec<Bson>, HashSet<Vec<u8>>),
    Merge(Document),
    /// Welford's running mean and sum of squared deviations.
    StdDev {
        n: u64,
        mean: f64,
        m2: f64,
    },
    /// `$percentile`/`$median`: every number seen.
    Numbers(Vec<f64>),
    /// `$top`/`$bottom`(N): (sort key, arrival, output), pruned to `n` as it grows.
    Sorted {
        n: usize,
        items: Vec<(Vec<Bson>, u64, Bson)>,
    },
    /// `$firstN`/`$lastN`/`$maxN`/`$minN`.
    Values {
        n: usize,
        items: Vec<Bson>,
    },
}

impl Group {
    /// Parse a `$group` specification.
    pub fn parse(spec: &Bson) -> Result<Group, DocError> {
        let Bson::Document(d) = spec else {
            return Err(DocError::location(15947, "a group's fields must be specified in an object"));
        };
        let mut id = None;
        let mut fields: Vec<(String, Accumulator)> = Vec::new();
        for (k, v) in d {
            if k == "_id" {
                id = Some(Expr::parse(v)?);
                continue;
            }
            let (name, acc) = parse_field(k, v)?;
            fields.push((name, acc));
        }
        let id = id.ok_or_else(|| DocError::location(15955, "a group specification must include an _id"))?;
        Ok(Group { id, fields })
    }

    /// Group `input` (all of it), in first-seen group order.
    pub fn run(&self, input: impl Iterator<Item = Result<Document, DocError>>, vars: &Variables) -> Result<Vec<Document>, DocError> {
        self.run_keyed(input, vars, |doc| Ok(self.id.eval(doc, vars)?.unwrap_or(Bson::Null)))
    }

    /// Group with the key computed by `key_of_doc` instead of `_id` (`$bucket`).
    pub(super) fn run_keyed(
        &self,
        input: impl Iterator<Item = Result<Document, DocError>>,
        vars: &Variables,
        mut key_of_doc: impl FnMut(&Document) -> Result<Bson, DocError>,
    ) -> Result<Vec<Document>, DocError> {
        let mut index: HashMap<Vec<u8>, usize> = HashMap::new();
        let mut groups: Vec<(Bson, Vec<State>)> = Vec::new();
        for (seq, doc) in input.enumerate() {
            let doc = doc?;
            let key = key_of_doc(&doc)?;
            let k = key_of(&key);
            let slot = match index.get(&k) {
                Some(i) => *i,
                None => {
                    let states = self.fields.iter().map(|(_, a)| a.init(&key, vars)).collect::<Result<Vec<_>, _>>()?;
                    groups.push((key, states));
                    index.insert(k, groups.len() - 1);
                    groups.len() - 1
                }
            };
            let states = &mut groups[slot].1;
            for ((_, acc), state) in self.fields.iter().zip(states.iter_mut()) {
                acc.accumulate(state, &doc, seq as u64, vars)?;
            }
        }
        Ok(groups
            .into_iter()
            .map(|(key, states)| {
                let mut out = Document::new();
                out.insert("_id", key);
                for ((name, acc), state) in self.fields.iter().zip(states) {
                    out.insert(name.clone(), acc.finish(state));
                }
                out
            })
            .collect())
    }
}

/// Parse `{$acc: arg}` as a window function's accumulator (`$setWindowFields`); None when `op`
/// is not an accumulator.
pub(super) fn parse_window_accumulator(op: &str, arg: &Bson) -> Option<Result<Accumulator, DocError>> {
    let &(name, op) = OPS.iter().find(|(n, _)| *n == op)?;
    Some(Accumulator::parse(name, op, arg))
}

/// Parse one `name: {$acc: arg}` entry (also `$bucket`'s `output`).
pub fn parse_field(k: &str, v: &Bson) -> Result<(String, Accumulator), DocError> {
    let Bson::Document(spec) = v else {
        return Err(DocError::location(40234, format!("The field '{k}' must be an accumulator object")));
    };
    if !spec.keys().next().is_some_and(|f| f.starts_with('$')) {
        return Err(DocError::location(40234, format!("The field '{k}' must be an accumulator object")));
    }
    if k.contains('.') {
        return Err(DocError::location(40235, format!("The field name '{k}' cannot contain '.'")));
    }
    if k.starts_with('$') {
        return Err(DocError::location(40236, format!("The field name '{k}' cannot be an operator name")));
    }
    if spec.len() != 1 {
        return Err(DocError::location(40238, format!("The field '{k}' must specify one accumulator")));
    }
    let (op_name, arg) = spec.iter().next().expect("one field");
    let Some(&(name, op)) = OPS.iter().find(|(n, _)| n == op_name) else {
        return Err(DocError::location(15952, format!("unknown group operator '{op_name}'")));
    };
    Ok((k.to_string(), Accumulator::parse(name, op, arg)?))
}

/// The named arguments of an object-form accumulator (`{input, n}`, `{sortBy, output}`).
fn named_args<'b>(name: &str, arg: &'b Bson, allowed: &[&str]) -> Result<Vec<Option<&'b Bson>>, DocError> {
    let Bson::Document(d) = arg else {
        return Err(DocError::location(5787900, format!("specification must be an object; found {}: {}", type_name(arg), arg)));
    };
    let mut out = vec![None; allowed.len()];
    for (k, v) in d {
        let Some(i) = allowed.iter().position(|a| a == k) else {
            return Err(DocError::location(5787901, format!("Unknown argument for '{name}' operator: {k}")));
        };
        out[i] = Some(v);
    }
    for (i, a) in allowed.iter().enumerate() {
        if out[i].is_none() {
            return Err(DocError::location(5787906, format!("Missing value for '{a}' in {name}")));
        }
    }
    Ok(out)
}

impl Accumulator {
    fn parse(name: &'static str, op: Op, arg: &Bson) -> Result<Accumulator, DocError> {
        let simple = |arg: &Bson| -> Result<Accumulator, DocError> {
            // `{$sum: ["$a"]}` with one array element is not an expression list for the
            // accumulator: MongoDB refuses arrays as accumulator arguments.
            if let Bson::Array(_) = arg {
                return Err(DocError::location(40237, format!("The {name} accumulator is a unary operator")));
            }
            Ok(Accumulator { op, arg: Expr::parse(arg)?, n: None, sort_by: None, percentiles: None })
        };
        match op {
            Op::Count => match arg {
                Bson::Document(d) if d.is_empty() => {
                    Ok(Accumulator { op, arg: Expr::parse(&Bson::Int32(1))?, n: None, sort_by: None, percentiles: None })
                }
                _ => Err(DocError::bad_value("$count takes no arguments, i.e. $count:{}")),
            },
            Op::Top | Op::Bottom => {
                let a = named_args(name, arg, &["sortBy", "output"])?;
                let sort_by = parse_sort_by(name, a[0])?;
                Ok(Accumulator { op, arg: Expr::parse(a[1].unwrap_or(&Bson::Null))?, n: None, sort_by: Some(sort_by), percentiles: None })
            }
            Op::TopN | Op::BottomN => {
                let a = named_args(name, arg, &["n", "sortBy", "output"])?;
                let sort_by = parse_sort_by(name, a[1])?;
                Ok(Accumulator {
                    op,
                    arg: Expr::parse(a[2].unwrap_or(&Bson::Null))?,
                    n: Some(parse_n(a[0])?),
                    sort_by: Some(sort_by),
                    percentiles: None,
                })
            }
            Op::FirstN | Op::LastN | Op::MaxN | Op::MinN => {
                let a = named_args(name, arg, &["input", "n"])?;
                Ok(Accumulator {
                    op,
                    arg: Expr::parse(a[0].unwrap_or(&Bson::Null))?,
                    n: Some(parse_n(a[1])?),
                    sort_by: None,
                    percentiles: None,
                })
            }
            Op::Percentile | Op::Median => {
                let (input, ps, continuous) = percentile_spec(name, arg)?;
                Ok(Accumulator { op, arg: Expr::parse(&input)?, n: None, sort_by: None, percentiles: Some((ps, continuous)) })
            }
            _ => simple(arg),
        }
    }

    /// The initial state for a new group whose key is `key`.
    pub(super) fn init(&self, key: &Bson, vars: &Variables) -> Result<State, DocError> {
        Ok(match self.op {
            Op::Sum | Op::Count => State::Sum(Bson::Int32(0)),
            Op::Avg => State::Avg { total: Bson::Int32(0), count: 0 },
            Op::Min | Op::Max => State::Best(None),
            Op::First => State::First(None),
            Op::Last => State::Last(Bson::Null),
            Op::Push => State::Push(Vec::new()),
            Op::AddToSet => State::Set(Vec::new(), HashSet::new()),
            Op::MergeObjects => State::Merge(Document::new()),
            Op::StdDevPop | Op::StdDevSamp => State::StdDev { n: 0, mean: 0.0, m2: 0.0 },
            Op::Top | Op::Bottom => State::Sorted { n: 1, items: Vec::new() },
            Op::TopN | Op::BottomN => State::Sorted { n: self.eval_n(key, vars)?, items: Vec::new() },
            Op::FirstN | Op::LastN | Op::MaxN | Op::MinN => State::Values { n: self.eval_n(key, vars)?, items: Vec::new() },
            Op::Percentile | Op::Median => State::Numbers(Vec::new()),
        })
    }

    fn eval_n(&self, key: &Bson, vars: &Variables) -> Result<usize, DocError> {
        let Some(n) = &self.n else { return Ok(1) };
        // The manual evaluates `n` against the group key (`n: {$cond: {if: {$eq: ["$gameId",
        // "G2"]}...}}` with `_id: {gameId: "$gameId"}`); a scalar key is seen as `{_id: key}`.
        let root = match key {
            Bson::Document(d) => d.clone(),
            other => bson::doc! {"_id": other.clone()},
        };
        check_n(&n.eval(&root, vars)?.unwrap_or(Bson::Null))
    }

    pub(super) fn accumulate(&self, state: &mut State, doc: &Document, seq: u64, vars: &Variables) -> Result<(), DocError> {
        let v = self.arg.eval(doc, vars)?;
        match state {
            State::Sum(total) => {
                if let Some(s) = v.as_ref().and_then(|v| add_numbers(total, v)) {
                    *total = s;
                }
            }
            State::Avg { total, count } => {
                if let Some(s) = v.as_ref().and_then(|v| add_numbers(total, v)) {
                    *total = s;
                    *count += 1;
                }
            }
            State::Best(best) => {
                let Some(v) = v.filter(|v| !matches!(v, Bson::Null | Bson::Undefined)) else { return Ok(()) };
                let want = if self.op == Op::Max { std::cmp::Ordering::Greater } else { std::cmp::Ordering::Less };
                if best.as_ref().is_none_or(|b| compare(&v, b) == want) {
                    *best = Some(v);
                }
            }
            State::First(first) => {
                if first.is_none() {
                    *first = Some(v.unwrap_or(Bson::Null));
                }
            }
            State::Last(last) => *last = v.unwrap_or(Bson::Null),
            State::Push(items) => {
                if let Some(v) = v {
                    items.push(v);
                }
            }
            State::Set(items, seen) => {
                if let Some(v) = v {
                    if seen.insert(key_of(&v)) {
                        items.push(v);
                    }
                }
            }
            State::Merge(out) => match v {
                None | Some(Bson::Null | Bson::Undefined) => {}
                Some(Bson::Document(d)) => {
                    for (k, x) in d {
                        out.insert(k, x);
                    }
                }
                Some(other) => {
                    return Err(DocError::location(
                        40400,
                        format!("$mergeObjects requires object inputs, but input {other} is of type {}", type_name(&other)),
                    ))
                }
            },
            State::StdDev { n, mean, m2 } => {
                if let Some(x) = v.as_ref().filter(|v| is_number(v)).and_then(as_f64) {
                    *n += 1;
                    let delta = x - *mean;
                    *mean += delta / *n as f64;
                    *m2 += delta * (x - *mean);
                }
            }
            State::Sorted { n, items } => {
                let sort = self.sort_by.as_ref().expect("sorted accumulators have sortBy");
                items.push((sort.key(doc), seq, v.unwrap_or(Bson::Null)));
                if items.len() >= n.saturating_mul(2).max(64) {
                    self.prune(sort, items, *n);
                }
            }
            State::Numbers(xs) => {
                if let Some(x) = v.as_ref().filter(|v| is_number(v)).and_then(as_f64).filter(|x| !x.is_nan()) {
                    xs.push(x);
                }
            }
            State::Values { n, items } => match self.op {
                Op::FirstN => {
                    if items.len() < *n {
                        items.push(v.unwrap_or(Bson::Null));
                    }
                }
                Op::LastN => {
                    items.push(v.unwrap_or(Bson::Null));
                    if items.len() > n.saturating_mul(2).max(64) {
                        let drop = items.len() - *n;
                        items.drain(..drop);
                    }
                }
                _ => {
                    let Some(v) = v.filter(|v| !matches!(v, Bson::Null | Bson::Undefined)) else { return Ok(()) };
                    items.push(v);
                    if items.len() > n.saturating_mul(2).max(64) {
                        self.order_values(items);
                        items.truncate(*n);
                    }
                }
            },
        }
        Ok(())
    }

    /// Order `$top`-family items (best first for `$top`, i.e. sort order; `$bottom` keeps the
    /// last ones) and keep `n`.
    fn prune(&self, sort: &Sort, items: &mut Vec<(Vec<Bson>, u64, Bson)>, n: usize) {
        items.sort_by(|a, b| sort.compare_keys(&a.0, &b.0).then(a.1.cmp(&b.1)));
        if matches!(self.op, Op::Bottom | Op::BottomN) {
            let drop = items.len().saturating_sub(n);
            items.drain(..drop);
        } else {
            items.truncate(n);
        }
    }

    /// `$maxN` descending, `$minN` ascending.
    fn order_values(&self, items: &mut [Bson]) {
        if self.op == Op::MaxN {
            items.sort_by(|a, b| compare(b, a));
        } else {
            items.sort_by(compare);
        }
    }

    pub(super) fn finish(&self, state: State) -> Bson {
        match state {
            State::Sum(total) => total,
            State::Avg { total, count } => {
                if count == 0 {
                    return Bson::Null;
                }
                let avg = as_f64(&total).unwrap_or(0.0) / count as f64;
                if matches!(total, Bson::Decimal128(_)) {
                    Bson::Decimal128(f64_to_decimal(avg))
                } else {
                    Bson::Double(avg)
                }
            }
            State::Best(best) => best.unwrap_or(Bson::Null),
            State::First(first) => first.unwrap_or(Bson::Null),
            State::Last(last) => last,
            State::Push(items) | State::Set(items, _) => Bson::Array(items),
            State::Merge(d) => Bson::Document(d),
            State::StdDev { n, m2, .. } => {
                let (pop, denom) = (self.op == Op::StdDevPop, if self.op == Op::StdDevPop { n } else { n.saturating_sub(1) });
                if n == 0 || (!pop && n < 2) {
                    return Bson::Null;
                }
                Bson::Double((m2 / denom as f64).max(0.0).sqrt())
            }
            State::Sorted { n, mut items } => {
                let sort = self.sort_by.as_ref().expect("sorted accumulators have sortBy");
                self.prune(sort, &mut items, n);
                let values: Vec<Bson> = items.into_iter().map(|(_, _, v)| v).collect();
                match self.op {
                    Op::Top | Op::Bottom => values.into_iter().next().unwrap_or(Bson::Null),
                    _ => Bson::Array(values),
                }
            }
            State::Numbers(mut xs) => {
                let (ps, continuous) = self.percentiles.clone().unwrap_or((vec![0.5], false));
                if xs.is_empty() {
                    return if self.op == Op::Median { Bson::Null } else { Bson::Array(vec![Bson::Null; ps.len()]) };
                }
                xs.sort_by(f64::total_cmp);
                let r = percentiles_of(&xs, &ps, continuous);
                if self.op == Op::Median {
                    Bson::Double(r[0])
                } else {
                    Bson::Array(r.into_iter().map(Bson::Double).collect())
                }
            }
            State::Values { n, mut items } => {
                match self.op {
                    Op::LastN => {
                        let drop = items.len().saturating_sub(n);
                        items.drain(..drop);
                    }
                    Op::MaxN | Op::MinN => {
                        self.order_values(&mut items);
                        items.truncate(n);
                    }
                    _ => {}
                }
                Bson::Array(items)
            }
        }
    }
}

/// `n` of the N accumulators: a positive integral number.
fn check_n(v: &Bson) -> Result<usize, DocError> {
    let bad = || DocError::location(5787902, format!("Value for 'n' must be of integral type, but found {v}"));
    let i = if is_number(v) { as_i64(v).ok_or_else(bad)? } else { return Err(bad()) };
    if i <= 0 {
        return Err(DocError::location(5787908, format!("'n' must be greater than 0, found {i}")));
    }
    Ok(usize::try_from(i).unwrap_or(usize::MAX))
}

/// Parse `n`; a constant is checked now (MongoDB fails at parse time).
fn parse_n(spec: Option<&Bson>) -> Result<Expr, DocError> {
    let n = Expr::parse(spec.unwrap_or(&Bson::Null))?;
    if let Some(c) = n.as_constant() {
        check_n(c)?;
    }
    Ok(n)
}

fn parse_sort_by(name: &str, spec: Option<&Bson>) -> Result<Sort, DocError> {
    match spec {
        Some(Bson::Document(d)) if !d.is_empty() => Sort::parse(d),
        _ => Err(DocError::location(5788003, format!("Missing value for 'sortBy' in {name}, or it is not an object"))),
    }
}
