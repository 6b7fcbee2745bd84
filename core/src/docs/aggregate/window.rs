//! `$setWindowFields`: window functions over partitions (MongoDB manual, "$setWindowFields"),
//! and `$fill` (see `Fill`), which shares its partitioning and sorting.
//!
//! Supported: `partitionBy` (any expression; missing is null), `sortBy`, and output fields
//! (dotted paths allowed) computed by
//! - every `$group` accumulator (`$sum $avg $min $max $first $last $push $addToSet $count
//!   $mergeObjects $stdDevPop $stdDevSamp $top $bottom $topN $bottomN $firstN $lastN $maxN
//!   $minN`) over a window: `documents: [lo, hi]` (positions relative to the current document,
//!   `"unbounded"`/`"current"`/integers) or `range: [lo, hi]` (offsets added to the value of the
//!   single ascending `sortBy` field: numbers, or dates with a `unit`, added as `$dateAdd`
//!   does; `"current"` is the current document's position); no window means the whole
//!   partition;
//! - `$rank`, `$denseRank` (need a `sortBy` on one field), `$documentNumber`, `$shift`,
//!   `$expMovingAvg` (need `sortBy`), `$locf`, `$linearFill` (the `$fill` interpolation);
//! - `$derivative` and `$integral` (over a window; x is the single `sortBy` value, dates in
//!   `unit`s; trapezoidal rule), `$covariancePop`/`$covarianceSamp` (numeric pairs only).
//!
//! Windows of the `[unbounded, x]` shape advance one running state;
//! whole-partition windows are computed once per partition; other windows recompute per
//! document (O(n * window)).
//!
//! Documents come out sorted by partition, then `sortBy` (as MongoDB sorts them). Every output
//! is computed from the input documents, then all are set.

use std::cmp::Ordering;

use bson::{Bson, Document};

use super::super::expr::{date_add_millis, Expr, Variables};
use super::super::sort::Sort;
use super::super::value::{as_f64, as_i64, compare, is_number, type_name};
use super::super::DocError;
use super::group::{parse_window_accumulator, Accumulator};
use super::{set_path, validate_projection_path, DocStream};

/// A parsed `$setWindowFields`.
#[derive(Clone, Debug)]
pub struct SetWindowFields {
    partition_by: Option<Expr>,
    sort_by: Option<Sort>,
    outputs: Vec<(Vec<String>, Function)>,
}

#[derive(Clone, Debug)]
enum Function {
    Acc(Accumulator, Window),
    Rank,
    DenseRank,
    DocumentNumber,
    Shift {
        output: Expr,
        by: i64,
        default: Bson,
    },
    Locf(Expr),
    /// `$linearFill`: nulls between two numbers interpolated by the single `sortBy` value.
    LinearFill(Expr),
    /// `$expMovingAvg`: `alpha` from `N` (2 / (N + 1)) or given.
    ExpMovingAvg {
        input: Expr,
        alpha: f64,
    },
    /// `$derivative` (`integral` false) / `$integral` over a window, the `sortBy` value as x
    /// (dates in milliseconds divided by `unit`'s length).
    Calculus {
        input: Expr,
        unit: Option<i64>,
        integral: bool,
        window: Window,
    },
    /// `$covariancePop` / `$covarianceSamp` of two numeric expressions over a window.
    Covariance {
        x: Expr,
        y: Expr,
        sample: bool,
        window: Window,
    },
}

#[derive(Clone, Copy, Debug)]
enum Bound {
    Unbounded,
    Current,
    Offset(f64),
}

#[derive(Clone, Copy, Debug)]
enum Window {
    Whole,
    Documents(Bound, Bound),
    /// Range bounds; with a time `unit`, offsets are added to dates as `$dateAdd` does.
    Range(Bound, Bound, Option<&'static str>),
}

fn err(message: impl Into<String>) -> DocError {
    DocError::failed_to_parse(message)
}

fn parse_bound(v: &Bson, documents: bool) -> Result<Bound, DocError> {
    match v {
        Bson::String(s) if s == "unbounded" => Ok(Bound::Unbounded),
        Bson::String(s) if s == "current" => Ok(Bound::Current),
        n if is_number(n) => {
            if documents {
                let i = as_i64(n).ok_or_else(|| err("Numeric document-based bounds must be an integer"))?;
                Ok(Bound::Offset(i as f64))
            } else {
                Ok(Bound::Offset(as_f64(n).unwrap_or(0.0)))
            }
        }
        other => Err(err(format!("Window bounds must be 'unbounded', 'current', or a number, found {}", type_name(other)))),
    }
}

fn parse_window(spec: &Bson, ascending: Option<bool>) -> Result<Window, DocError> {
    let Bson::Document(d) = spec else {
        return Err(err("'window' field must be an object"));
    };
    let (mut documents, mut range, mut unit) = (None, None, None);
    for (k, v) in d {
        match k.as_str() {
            "documents" | "range" => {
                let Bson::Array(b) = v else {
                    return Err(err(format!("Window bounds must be a 2-element array: {k}: {v}")));
                };
                if b.len() != 2 {
                    return Err(err(format!("Window bounds must be a 2-element array: {k}: {v}")));
                }
                let is_docs = k == "documents";
                let pair = (parse_bound(&b[0], is_docs)?, parse_bound(&b[1], is_docs)?);
                if let (Bound::Offset(lo), Bound::Offset(hi)) = pair {
                    if lo > hi {
                        return Err(err("Lower bound must not exceed upper bound"));
                    }
                }
                if matches!(pair, (Bound::Current, Bound::Offset(h)) if h < 0.0)
                    || matches!(pair, (Bound::Offset(l), Bound::Current) if l > 0.0)
                {
                    return Err(err("Lower bound must not exceed upper bound"));
                }
                if is_docs {
                    documents = Some(pair);
                } else {
                    range = Some(pair);
                }
            }
            "unit" => {
                let Bson::String(u) = v else {
                    return Err(err("'unit' must be a string"));
                };
                const UNITS: [&str; 9] = ["millisecond", "second", "minute", "hour", "day", "week", "month", "quarter", "year"];
                unit = Some(*UNITS.iter().find(|x| **x == u.as_str()).ok_or_else(|| err(format!("unknown time unit value: {u}")))?);
            }
            other => return Err(err(format!("'window' field that is not 'documents', 'range' or 'unit': {other}"))),
        }
    }
    match (documents, range) {
        (Some(_), Some(_)) => Err(err("Window bounds can specify either 'documents' or 'range', not both")),
        (Some((lo, hi)), None) => {
            if unit.is_some() {
                return Err(err("'unit' is only valid with 'range' windows"));
            }
            if ascending.is_none() && !matches!((lo, hi), (Bound::Unbounded, Bound::Unbounded)) {
                return Err(DocError::location(5339901, "Document-based bounds require a sortBy"));
            }
            Ok(Window::Documents(lo, hi))
        }
        (None, Some((lo, hi))) => {
            if ascending != Some(true) {
                return Err(DocError::location(5339902, "Range-based bounds require an ascending sortBy on a single field"));
            }
            if unit.is_some() && [lo, hi].iter().any(|b| matches!(b, Bound::Offset(o) if o.fract() != 0.0)) {
                return Err(err("With a 'unit', range bounds must be integers"));
            }
            Ok(Window::Range(lo, hi, unit))
        }
        (None, None) => Err(err("'window' field must specify 'documents' or 'range'")),
    }
}

impl SetWindowFields {
    pub(super) fn parse(spec: &Bson) -> Result<SetWindowFields, DocError> {
        let Bson::Document(d) = spec else {
            return Err(err(format!("the $setWindowFields stage specification must be an object, found {}", type_name(spec))));
        };
        let (mut partition_by, mut sort_spec, mut output) = (None, None, None);
        for (k, v) in d {
            match k.as_str() {
                "partitionBy" => {
                    if matches!(v, Bson::Document(p) if !p.keys().next().is_some_and(|f| f.starts_with('$'))) {
                        return Err(err("An expression object for 'partitionBy' must start with an operator"));
                    }
                    partition_by = Some(Expr::parse(v)?)
                }
                "sortBy" => match v {
                    Bson::Document(s) if !s.is_empty() => sort_spec = Some(s.clone()),
                    _ => return Err(err("'sortBy' must be a non-empty object")),
                },
                "output" => match v {
                    Bson::Document(o) => output = Some(o.clone()),
                    other => {
                        return Err(DocError::type_mismatch(format!(
                            "BSON field '$setWindowFields.output' is the wrong type '{}', expected type 'object'",
                            type_name(other)
                        )))
                    }
                },
                other => return Err(DocError::location(40415, format!("BSON field '$setWindowFields.{other}' is an unknown field."))),
            }
        }
        let output =
            output.ok_or_else(|| DocError::location(40414, "BSON field '$setWindowFields.output' is missing but a required field"))?;
        let sort_by = sort_spec.as_ref().map(Sort::parse).transpose()?;
        let single_sort_ascending = match &sort_spec {
            Some(s) if s.len() == 1 => s.values().next().and_then(as_i64).map(|d| d >= 0),
            _ => None,
        };
        let has_sort = sort_by.is_some();
        let mut outputs = Vec::new();
        for (field, fspec) in &output {
            validate_projection_path(field)?;
            let Bson::Document(f) = fspec else {
                return Err(err(format!("Window function spec for '{field}' must be an object")));
            };
            let mut func = None;
            let mut window = None;
            for (k, v) in f {
                if k == "window" {
                    window = Some(v);
                } else if k.starts_with('$') {
                    if func.is_some() {
                        return Err(err(format!("Window function spec for '{field}' must have exactly one window function")));
                    }
                    func = Some((k.as_str(), v));
                } else {
                    return Err(err(format!("Window function found an unknown argument: {k}")));
                }
            }
            let (op, arg) = func.ok_or_else(|| err(format!("Window function spec for '{field}' must specify a window function")))?;
            let needs_sort = |name: &str| -> Result<(), DocError> {
                if !has_sort {
                    return Err(DocError::location(
                        5371602,
                        format!("{name} must be specified with a top level sortBy expression with exactly one element"),
                    ));
                }
                if window.is_some() {
                    return Err(err(format!("{name} does not accept a 'window' field")));
                }
                Ok(())
            };
            let function = match op {
                "$rank" | "$denseRank" | "$documentNumber" => {
                    needs_sort(op)?;
                    // "When used with the $rank operator, sortBy can only take one field"
                    // (likewise $denseRank).
                    if op != "$documentNumber" && sort_spec.as_ref().is_some_and(|s| s.len() != 1) {
                        return Err(DocError::location(
                            5371602,
                            format!("{op} must be specified with a top level sortBy expression with exactly one element"),
                        ));
                    }
                    if !matches!(arg, Bson::Document(a) if a.is_empty()) {
                        return Err(err(format!("{op} accepts no arguments: use {op}: {{}}")));
                    }
                    match op {
                        "$rank" => Function::Rank,
                        "$denseRank" => Function::DenseRank,
                        _ => Function::DocumentNumber,
                    }
                }
                "$shift" => {
                    needs_sort(op)?;
                    let Bson::Document(a) = arg else {
                        return Err(err("Argument to $shift must be an object"));
                    };
                    let (mut output, mut by, mut default) = (None, None, Bson::Null);
                    for (k, v) in a {
                        match k.as_str() {
                            "output" => output = Some(Expr::parse(v)?),
                            "by" => {
                                by = Some(
                                    if is_number(v) { as_i64(v) } else { None }
                                        .ok_or_else(|| err("'$shift:by' field must be an integer"))?,
                                )
                            }
                            "default" => {
                                default = Expr::parse(v)?
                                    .as_constant()
                                    .cloned()
                                    .ok_or_else(|| err("'$shift:default' expression must yield a constant value"))?
                            }
                            other => return Err(err(format!("Unknown argument in $shift: {other}"))),
                        }
                    }
                    Function::Shift {
                        output: output.ok_or_else(|| err("$shift requires an 'output' expression"))?,
                        by: by.ok_or_else(|| err("$shift requires 'by' as an integer value"))?,
                        default,
                    }
                }
                "$locf" => {
                    if window.is_some() {
                        return Err(err("$locf does not accept a 'window' field"));
                    }
                    Function::Locf(Expr::parse(arg)?)
                }
                "$linearFill" => {
                    if sort_spec.as_ref().is_none_or(|s| s.len() != 1) {
                        return Err(DocError::location(605001, "$linearFill requires a sortBy on exactly one field"));
                    }
                    if window.is_some() {
                        return Err(err("$linearFill does not accept a 'window' field"));
                    }
                    Function::LinearFill(Expr::parse(arg)?)
                }
                "$expMovingAvg" => {
                    needs_sort(op)?;
                    parse_exp_moving_avg(arg)?
                }
                "$derivative" | "$integral" => {
                    if single_sort_ascending.is_none() {
                        return Err(DocError::location(5339902, format!("{op} requires a sortBy on exactly one field")));
                    }
                    let Bson::Document(a) = arg else {
                        return Err(err(format!("{op} expects an object argument, found {}", type_name(arg))));
                    };
                    let (mut input, mut unit) = (None, None);
                    for (k, v) in a {
                        match k.as_str() {
                            "input" => input = Some(Expr::parse(v)?),
                            "unit" => unit = Some(parse_calculus_unit(v)?),
                            other => return Err(err(format!("{op} got unexpected argument: {other}"))),
                        }
                    }
                    let input = input.ok_or_else(|| err(format!("{op} requires an 'input' expression")))?;
                    let w = match window {
                        Some(w) => parse_window(w, Some(single_sort_ascending.unwrap_or(true)))?,
                        None if op == "$derivative" => {
                            return Err(DocError::location(5490701, "$derivative requires explicit window bounds"))
                        }
                        None => Window::Documents(Bound::Unbounded, Bound::Unbounded),
                    };
                    Function::Calculus { input, unit, integral: op == "$integral", window: w }
                }
                "$covariancePop" | "$covarianceSamp" => {
                    let Bson::Array(a) = arg else {
                        return Err(err(format!("{op} requires an array of two expressions")));
                    };
                    if a.len() != 2 {
                        return Err(err(format!("{op} requires an array of two expressions")));
                    }
                    let w = match window {
                        None => Window::Whole,
                        Some(w) => parse_window(w, if has_sort { Some(single_sort_ascending.unwrap_or(true)) } else { None })?,
                    };
                    if matches!(w, Window::Range(..)) && single_sort_ascending != Some(true) {
                        return Err(DocError::location(5339902, "Range-based bounds require an ascending sortBy on a single field"));
                    }
                    Function::Covariance { x: Expr::parse(&a[0])?, y: Expr::parse(&a[1])?, sample: op == "$covarianceSamp", window: w }
                }
                _ => {
                    let acc = parse_window_accumulator(op, arg)
                        .ok_or_else(|| DocError::location(5371600, format!("Unrecognized window function, {op}")))??;
                    let w = match window {
                        None => Window::Whole,
                        Some(w) => parse_window(w, if has_sort { Some(single_sort_ascending.unwrap_or(true)) } else { None })?,
                    };
                    if matches!(w, Window::Range(..)) && single_sort_ascending != Some(true) {
                        return Err(DocError::location(5339902, "Range-based bounds require an ascending sortBy on a single field"));
                    }
                    Function::Acc(acc, w)
                }
            };
            outputs.push((field.split('.').map(str::to_string).collect(), function));
        }
        Ok(SetWindowFields { partition_by, sort_by, outputs })
    }

    pub(super) fn run(&self, input: DocStream<'_>, vars: &Variables) -> Result<Vec<Document>, DocError> {
        // (partition key, sort key, arrival, document)
        let mut rows: Vec<(Bson, Vec<Bson>, usize, Document)> = Vec::new();
        for (i, r) in input.enumerate() {
            let d = r?;
            let part = match &self.partition_by {
                Some(p) => p.eval(&d, vars)?.unwrap_or(Bson::Null),
                None => Bson::Null,
            };
            let key = self.sort_by.as_ref().map(|s| s.key(&d)).unwrap_or_default();
            rows.push((part, key, i, d));
        }
        rows.sort_by(|a, b| {
            compare(&a.0, &b.0)
                .then_with(|| self.sort_by.as_ref().map_or(Ordering::Equal, |s| s.compare_keys(&a.1, &b.1)))
                .then(a.2.cmp(&b.2))
        });
        let mut results: Vec<Vec<Bson>> = vec![Vec::with_capacity(self.outputs.len()); rows.len()];
        let mut start = 0;
        while start < rows.len() {
            let mut end = start + 1;
            while end < rows.len() && compare(&rows[end].0, &rows[start].0) == Ordering::Equal {
                end += 1;
            }
            let part = &rows[start..end];
            for (_, f) in &self.outputs {
                let values = self.compute(f, part, vars)?;
                for (i, v) in values.into_iter().enumerate() {
                    results[start + i].push(v);
                }
            }
            start = end;
        }
        Ok(rows
            .into_iter()
            .zip(results)
            .map(|((_, _, _, mut d), values)| {
                for ((path, _), v) in self.outputs.iter().zip(values) {
                    set_path(&mut d, path, v);
                }
                d
            })
            .collect())
    }

    /// One output's values for a partition (rows in window order).
    fn compute(&self, f: &Function, part: &[(Bson, Vec<Bson>, usize, Document)], vars: &Variables) -> Result<Vec<Bson>, DocError> {
        let n = part.len();
        let same_key =
            |a: usize, b: usize| self.sort_by.as_ref().is_some_and(|s| s.compare_keys(&part[a].1, &part[b].1) == Ordering::Equal);
        Ok(match f {
            Function::DocumentNumber => (1..=n).map(|i| Bson::Int32(i as i32)).collect(),
            Function::Rank => {
                let mut out = Vec::with_capacity(n);
                let mut rank = 1;
                for i in 0..n {
                    if i > 0 && !same_key(i, i - 1) {
                        rank = i + 1;
                    }
                    out.push(Bson::Int32(rank as i32));
                }
                out
            }
            Function::DenseRank => {
                let mut out = Vec::with_capacity(n);
                let mut rank = 1;
                for i in 0..n {
                    if i > 0 && !same_key(i, i - 1) {
                        rank += 1;
                    }
                    out.push(Bson::Int32(rank));
                }
                out
            }
            Function::Shift { output, by, default } => (0..n)
                .map(|i| {
                    let j = (i as i64).saturating_add(*by);
                    if j < 0 || j >= n as i64 {
                        return Ok(default.clone());
                    }
                    Ok(output.eval(&part[j as usize].3, vars)?.unwrap_or(Bson::Null))
                })
                .collect::<Result<_, DocError>>()?,
            Function::Locf(e) => {
                let mut last = Bson::Null;
                let mut out = Vec::with_capacity(n);
                for row in part {
                    match e.eval(&row.3, vars)? {
                        None | Some(Bson::Null | Bson::Undefined) => {}
                        Some(v) => last = v,
                    }
                    out.push(last.clone());
                }
                out
            }
            Function::Acc(acc, window) => self.accumulate_windows(acc, *window, part, vars)?,
            Function::LinearFill(e) => {
                let ys: Vec<Option<Bson>> = part.iter().map(|r| e.eval(&r.3, vars)).collect::<Result<_, _>>()?;
                let xs: Vec<Option<f64>> = part.iter().map(|r| sort_number(r.1.first())).collect();
                let filled = linear_fill(&ys, &xs)?;
                ys.into_iter()
                    .zip(filled)
                    .map(|(y, f)| match y {
                        Some(v) if !matches!(v, Bson::Null | Bson::Undefined) => v,
                        _ => f.unwrap_or(Bson::Null),
                    })
                    .collect()
            }
            Function::ExpMovingAvg { input, alpha } => {
                let mut avg: Option<f64> = None;
                let mut out = Vec::with_capacity(n);
                for row in part {
                    // Non-numeric values (null, missing included) are skipped.
                    if let Some(v) = input.eval(&row.3, vars)?.filter(is_number).and_then(|v| as_f64(&v)) {
                        avg = Some(match avg {
                            None => v,
                            Some(a) => v * alpha + a * (1.0 - alpha),
                        });
                    }
                    out.push(avg.map_or(Bson::Null, Bson::Double));
                }
                out
            }
            Function::Calculus { input, unit, integral, window } => {
                let mut points = Vec::with_capacity(n);
                for row in part {
                    let x = match (row.1.first(), unit) {
                        (Some(Bson::DateTime(d)), Some(u)) => d.timestamp_millis() as f64 / *u as f64,
                        (Some(Bson::DateTime(_)), None) => {
                            return Err(DocError::location(5624901, "Window function with a date sortBy requires a 'unit'"))
                        }
                        (Some(v), None) if is_number(v) => as_f64(v).unwrap_or(f64::NAN),
                        (Some(v), Some(_)) if is_number(v) => {
                            return Err(DocError::location(5624900, "Window function with a 'unit' requires a date sortBy"))
                        }
                        (other, _) => {
                            return Err(DocError::location(
                                5624900,
                                format!("Window function requires a numeric or date sortBy, found {}", other.map_or("missing", type_name)),
                            ))
                        }
                    };
                    let y = match input.eval(&row.3, vars)? {
                        Some(v) if is_number(&v) => as_f64(&v).unwrap_or(f64::NAN),
                        other => {
                            return Err(DocError::location(
                                5423900,
                                format!("Window function input must be numeric, found {}", other.as_ref().map_or("missing", type_name)),
                            ))
                        }
                    };
                    points.push((x, y));
                }
                self.window_ranges(*window, part)?
                    .into_iter()
                    .map(|(a, b)| {
                        let w = &points[a..b.max(a)];
                        if *integral {
                            Bson::Double(trapezoid(w))
                        } else {
                            derivative(w).map_or(Bson::Null, Bson::Double)
                        }
                    })
                    .collect()
            }
            Function::Covariance { x, y, sample, window } => {
                let mut pairs = Vec::with_capacity(n);
                for row in part {
                    let num = |e: &Expr| -> Result<Option<f64>, DocError> {
                        Ok(e.eval(&row.3, vars)?.filter(is_number).and_then(|v| as_f64(&v)))
                    };
                    pairs.push(num(x)?.zip(num(y)?));
                }
                self.window_ranges(*window, part)?
                    .into_iter()
                    .map(|(a, b)| {
                        let w: Vec<(f64, f64)> = pairs[a..b.max(a)].iter().flatten().copied().collect();
                        covariance(&w, *sample).map_or(Bson::Null, Bson::Double)
                    })
                    .collect()
            }
        })
    }

    /// Each document's window as positions `[a, b)` in the partition.
    fn window_ranges(&self, window: Window, part: &[(Bson, Vec<Bson>, usize, Document)]) -> Result<Vec<(usize, usize)>, DocError> {
        let n = part.len();
        match window {
            Window::Whole => Ok(vec![(0, n); n]),
            Window::Documents(lo, hi) => Ok((0..n).map(|i| (doc_bound(lo, i, n, false), doc_bound(hi, i, n, true))).collect()),
            Window::Range(lo, hi, unit) => range_bounds(lo, hi, unit, part),
        }
    }

    fn accumulate_windows(
        &self,
        acc: &Accumulator,
        window: Window,
        part: &[(Bson, Vec<Bson>, usize, Document)],
        vars: &Variables,
    ) -> Result<Vec<Bson>, DocError> {
        let n = part.len();
        let key = &part[0].0;
        let over = |lo: usize, hi: usize| -> Result<Bson, DocError> {
            let mut state = acc.init(key, vars)?;
            for (j, row) in part.iter().enumerate().take(hi).skip(lo) {
                acc.accumulate(&mut state, &row.3, j as u64, vars)?;
            }
            Ok(acc.finish(state))
        };
        match window {
            Window::Whole | Window::Documents(Bound::Unbounded, Bound::Unbounded) => {
                let v = over(0, n)?;
                Ok(vec![v; n])
            }
            Window::Documents(Bound::Unbounded, hi) => {
                // Running windows: one state advanced as the upper edge moves.
                let mut state = acc.init(key, vars)?;
                let mut added = 0usize;
                let mut out = Vec::with_capacity(n);
                for i in 0..n {
                    let end = doc_bound(hi, i, n, true);
                    while added < end {
                        acc.accumulate(&mut state, &part[added].3, added as u64, vars)?;
                        added += 1;
                    }
                    out.push(acc.finish(state.clone()));
                }
                Ok(out)
            }
            Window::Documents(lo, hi) => (0..n)
                .map(|i| {
                    let (a, b) = (doc_bound(lo, i, n, false), doc_bound(hi, i, n, true));
                    over(a, b.max(a))
                })
                .collect(),
            Window::Range(lo, hi, unit) => range_bounds(lo, hi, unit, part)?.into_iter().map(|(a, b)| over(a, b.max(a))).collect(),
        }
    }
}

/// Each document's `range` window as positions `[a, b)`: offsets added to the single
/// ascending `sortBy` field's value (numbers, or dates as `$dateAdd` adds a `unit`).
fn range_bounds(
    lo: Bound,
    hi: Bound,
    unit: Option<&'static str>,
    part: &[(Bson, Vec<Bson>, usize, Document)],
) -> Result<Vec<(usize, usize)>, DocError> {
    let n = part.len();
    // The sortBy values as numbers (dates as milliseconds when a unit is given).
    let mut vals = Vec::with_capacity(n);
    for row in part {
        let v = row.1.first().cloned().unwrap_or(Bson::Null);
        vals.push(match (&v, unit) {
            (Bson::DateTime(d), Some(_)) => d.timestamp_millis() as f64,
            (x, None) if is_number(x) => as_f64(x).unwrap_or(f64::NAN),
            (other, _) => {
                return Err(DocError::location(
                    5429414,
                    format!(
                        "Invalid range: Expected the sortBy field to be a {}, but it was {}",
                        if unit.is_some() { "date" } else { "number" },
                        type_name(other)
                    ),
                ))
            }
        });
    }
    let edge = |v: f64, b: Bound, default: f64| -> Result<f64, DocError> {
        Ok(match (b, unit) {
            (Bound::Offset(o), None) => v + o,
            (Bound::Offset(o), Some(u)) => date_add_millis(v as i64, u, o as i64)
                .ok_or_else(|| DocError::location(5166406, "$setWindowFields range bound overflowed"))?
                as f64,
            _ => default,
        })
    };
    let mut out = Vec::with_capacity(n);
    for (i, &v) in vals.iter().enumerate() {
        // Values ascend, so the window is contiguous; "current" is the current document's
        // position (not its value).
        let a = match lo {
            Bound::Current => i,
            _ => {
                let low = edge(v, lo, f64::NEG_INFINITY)?;
                vals.partition_point(|x| *x < low)
            }
        };
        let b = match hi {
            Bound::Current => i + 1,
            _ => {
                let high = edge(v, hi, f64::INFINITY)?;
                vals.partition_point(|x| *x <= high)
            }
        };
        out.push((a, b));
    }
    Ok(out)
}

/// A `sortBy` value as a number for interpolation (dates as milliseconds).
fn sort_number(v: Option<&Bson>) -> Option<f64> {
    match v {
        Some(Bson::DateTime(d)) => Some(d.timestamp_millis() as f64),
        Some(v) if is_number(v) => as_f64(v),
        _ => None,
    }
}

/// `$expMovingAvg`'s argument: `{input, N}` (a positive integer, alpha = 2 / (N + 1)) or
/// `{input, alpha}` (0 < alpha < 1), not both.
fn parse_exp_moving_avg(arg: &Bson) -> Result<Function, DocError> {
    let Bson::Document(a) = arg else {
        return Err(err("$expMovingAvg must have exactly one argument that is an object"));
    };
    let (mut input, mut alpha) = (None, None);
    for (k, v) in a {
        match k.as_str() {
            "input" => input = Some(Expr::parse(v)?),
            "N" | "alpha" if alpha.is_some() => {
                return Err(err("$expMovingAvg must have exactly one of 'N' or 'alpha'"));
            }
            "N" => {
                let n = if is_number(v) { as_i64(v).filter(|_| as_f64(v).is_some_and(|f| f.fract() == 0.0)) } else { None }
                    .filter(|n| *n > 0)
                    .ok_or_else(|| err("'N' field must be an integer greater than zero"))?;
                alpha = Some(2.0 / (n as f64 + 1.0));
            }
            "alpha" => {
                let x = if is_number(v) { as_f64(v) } else { None }
                    .filter(|x| *x > 0.0 && *x < 1.0)
                    .ok_or_else(|| err("'alpha' must be a number between 0 and 1 (exclusive)"))?;
                alpha = Some(x);
            }
            other => return Err(err(format!("$expMovingAvg got unexpected argument: {other}"))),
        }
    }
    Ok(Function::ExpMovingAvg {
        input: input.ok_or_else(|| err("$expMovingAvg requires an 'input' expression"))?,
        alpha: alpha.ok_or_else(|| err("$expMovingAvg must have exactly one of 'N' or 'alpha'"))?,
    })
}

/// `$derivative`/`$integral`'s `unit`: its length in milliseconds (fixed-length units only).
fn parse_calculus_unit(v: &Bson) -> Result<i64, DocError> {
    match v {
        Bson::String(u) => match u.as_str() {
            "week" => Ok(7 * 86_400_000),
            "day" => Ok(86_400_000),
            "hour" => Ok(3_600_000),
            "minute" => Ok(60_000),
            "second" => Ok(1000),
            "millisecond" => Ok(1),
            other => Err(DocError::location(5490704, format!("unit must be 'week' or smaller, found {other}"))),
        },
        other => Err(err(format!("'unit' must be a string, found {}", type_name(other)))),
    }
}

/// Rate of change between a window's first and last points: null with fewer than two.
fn derivative(w: &[(f64, f64)]) -> Option<f64> {
    let (first, last) = (w.first()?, w.last()?);
    (w.len() >= 2 && last.0 != first.0).then(|| (last.1 - first.1) / (last.0 - first.0))
}

/// The trapezoidal-rule area under a window's points (0 for fewer than two).
fn trapezoid(w: &[(f64, f64)]) -> f64 {
    w.windows(2).map(|p| (p[1].0 - p[0].0) * (p[0].1 + p[1].1) / 2.0).sum()
}

/// Population (divided by n) or sample (by n - 1) covariance; null without enough points.
fn covariance(w: &[(f64, f64)], sample: bool) -> Option<f64> {
    let n = w.len();
    if n == 0 || (sample && n < 2) {
        return None;
    }
    let (mx, my) = (w.iter().map(|p| p.0).sum::<f64>() / n as f64, w.iter().map(|p| p.1).sum::<f64>() / n as f64);
    let c: f64 = w.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    Some(c / if sample { (n - 1) as f64 } else { n as f64 })
}

/// A document bound as an index: the window's first index (`upper` false) or one past its last
/// (`upper` true), clamped to the partition.
fn doc_bound(b: Bound, i: usize, n: usize, upper: bool) -> usize {
    let pos = match b {
        Bound::Unbounded => return if upper { n } else { 0 },
        Bound::Current => i as i64,
        Bound::Offset(o) => (i as i64).saturating_add(o as i64),
    };
    let pos = if upper { pos.saturating_add(1) } else { pos };
    pos.clamp(0, n as i64) as usize
}

/// A parsed `$fill`: null and missing output fields get a `value` expression (evaluated on the
/// document), the last non-null value (`method: "locf"`) or a linear interpolation between
/// the surrounding non-null numbers by the single `sortBy` field (`method: "linear"`; leading
/// and trailing gaps stay null). With `sortBy`, documents come out sorted by partition then
/// `sortBy`; otherwise in input order.
#[derive(Clone, Debug)]
pub struct Fill {
    partition_by: Option<Expr>,
    partition_fields: Option<Vec<Vec<String>>>,
    sort_by: Option<Sort>,
    outputs: Vec<(Vec<String>, FillKind)>,
}

#[derive(Clone, Debug)]
enum FillKind {
    Value(Expr),
    Locf,
    Linear,
}

fn get_path<'d>(doc: &'d Document, path: &[String]) -> Option<&'d Bson> {
    let (head, rest) = path.split_first()?;
    let v = doc.get(head)?;
    if rest.is_empty() {
        return Some(v);
    }
    match v {
        Bson::Document(d) => get_path(d, rest),
        _ => None,
    }
}

impl Fill {
    pub(super) fn parse(spec: &Bson) -> Result<Fill, DocError> {
        let Bson::Document(d) = spec else {
            return Err(DocError::type_mismatch(format!("the $fill stage specification must be an object, found {}", type_name(spec))));
        };
        let (mut partition_by, mut partition_fields, mut sort_spec, mut output) = (None, None, None, None);
        for (k, v) in d {
            match k.as_str() {
                "partitionBy" => partition_by = Some(Expr::parse(v)?),
                "partitionByFields" => {
                    let Bson::Array(items) = v else {
                        return Err(DocError::type_mismatch("BSON field '$fill.partitionByFields' must be an array of strings"));
                    };
                    let mut fields = Vec::new();
                    for i in items {
                        let Bson::String(f) = i else {
                            return Err(DocError::type_mismatch("BSON field '$fill.partitionByFields' must be an array of strings"));
                        };
                        validate_projection_path(f)?;
                        fields.push(f.split('.').map(str::to_string).collect());
                    }
                    partition_fields = Some(fields);
                }
                "sortBy" => match v {
                    Bson::Document(s) if !s.is_empty() => sort_spec = Some(s.clone()),
                    _ => return Err(err("'sortBy' must be a non-empty object")),
                },
                "output" => match v {
                    Bson::Document(o) if !o.is_empty() => output = Some(o.clone()),
                    _ => return Err(err("$fill 'output' must be a non-empty object")),
                },
                other => return Err(DocError::location(40415, format!("BSON field '$fill.{other}' is an unknown field."))),
            }
        }
        if partition_by.is_some() && partition_fields.is_some() {
            return Err(DocError::location(6050204, "Maximum one of 'partitionBy' and 'partitionByFields can be specified in '$fill'"));
        }
        let output = output.ok_or_else(|| DocError::location(40414, "BSON field '$fill.output' is missing but a required field"))?;
        let mut outputs = Vec::new();
        for (field, spec) in &output {
            validate_projection_path(field)?;
            let kind = match spec {
                Bson::Document(s) if s.len() == 1 => match s.iter().next().expect("one field") {
                    (k, v) if k == "value" => FillKind::Value(Expr::parse(v)?),
                    (k, Bson::String(m)) if k == "method" && m == "locf" => FillKind::Locf,
                    (k, Bson::String(m)) if k == "method" && m == "linear" => FillKind::Linear,
                    (k, v) if k == "method" => {
                        return Err(DocError::location(6050202, format!("Method must be either 'locf' or 'linear', found {v}")))
                    }
                    (k, _) => return Err(DocError::location(6050203, format!("Unknown field '{k}' in $fill output for '{field}'"))),
                },
                _ => {
                    return Err(DocError::location(
                        6050203,
                        format!("Exactly one of 'value' and 'method' must be specified in $fill output for '{field}'"),
                    ))
                }
            };
            if !matches!(kind, FillKind::Value(_)) && sort_spec.is_none() {
                return Err(DocError::location(6050201, "sortBy is required if any fill method is specified"));
            }
            if matches!(kind, FillKind::Linear) && sort_spec.as_ref().is_some_and(|s| s.len() != 1) {
                return Err(DocError::location(605001, "$linearFill requires a sortBy on exactly one field"));
            }
            outputs.push((field.split('.').map(str::to_string).collect(), kind));
        }
        let sort_by = sort_spec.as_ref().map(Sort::parse).transpose()?;
        Ok(Fill { partition_by, partition_fields, sort_by, outputs })
    }

    pub(super) fn run(&self, input: DocStream<'_>, vars: &Variables) -> Result<Vec<Document>, DocError> {
        let mut rows: Vec<(Bson, Vec<Bson>, usize, Document)> = Vec::new();
        for (i, r) in input.enumerate() {
            let d = r?;
            let part = if let Some(p) = &self.partition_by {
                p.eval(&d, vars)?.unwrap_or(Bson::Null)
            } else if let Some(fields) = &self.partition_fields {
                Bson::Array(fields.iter().map(|f| get_path(&d, f).cloned().unwrap_or(Bson::Null)).collect())
            } else {
                Bson::Null
            };
            let key = self.sort_by.as_ref().map(|s| s.key(&d)).unwrap_or_default();
            rows.push((part, key, i, d));
        }
        let partitioned = self.partition_by.is_some() || self.partition_fields.is_some();
        if self.sort_by.is_some() || partitioned {
            rows.sort_by(|a, b| {
                compare(&a.0, &b.0)
                    .then_with(|| self.sort_by.as_ref().map_or(Ordering::Equal, |s| s.compare_keys(&a.1, &b.1)))
                    .then(a.2.cmp(&b.2))
            });
        }
        let is_gap = |v: Option<&Bson>| matches!(v, None | Some(Bson::Null | Bson::Undefined));
        let mut start = 0;
        while start < rows.len() {
            let mut end = start + 1;
            while end < rows.len() && compare(&rows[end].0, &rows[start].0) == Ordering::Equal {
                end += 1;
            }
            for (path, kind) in &self.outputs {
                // Computed from the partition before this output changes it.
                let current: Vec<Option<Bson>> = rows[start..end].iter().map(|r| get_path(&r.3, path).cloned()).collect();
                let filled: Vec<Option<Bson>> = match kind {
                    FillKind::Value(e) => rows[start..end]
                        .iter()
                        .zip(&current)
                        .map(|(r, c)| if is_gap(c.as_ref()) { e.eval(&r.3, vars).map(|v| v.or(Some(Bson::Null))) } else { Ok(None) })
                        .collect::<Result<_, _>>()?,
                    FillKind::Locf => {
                        let mut last: Option<Bson> = None;
                        current
                            .iter()
                            .map(|c| {
                                if is_gap(c.as_ref()) {
                                    last.clone()
                                } else {
                                    last = c.clone();
                                    None
                                }
                            })
                            .collect()
                    }
                    FillKind::Linear => {
                        let xs: Vec<Option<f64>> = rows[start..end]
                            .iter()
                            .map(|r| match r.1.first() {
                                Some(Bson::DateTime(d)) => Some(d.timestamp_millis() as f64),
                                Some(v) if is_number(v) => as_f64(v),
                                _ => None,
                            })
                            .collect();
                        linear_fill(&current, &xs)?
                    }
                };
                for (i, f) in filled.into_iter().enumerate() {
                    if let Some(v) = f {
                        set_path(&mut rows[start + i].3, path, v);
                    }
                }
            }
            start = end;
        }
        Ok(rows.into_iter().map(|r| r.3).collect())
    }
}

/// Linear interpolation of gaps between numeric neighbours (by sort position `xs`).
fn linear_fill(ys: &[Option<Bson>], xs: &[Option<f64>]) -> Result<Vec<Option<Bson>>, DocError> {
    let known: Vec<(usize, f64)> = ys
        .iter()
        .enumerate()
        .filter_map(|(i, y)| match y {
            None | Some(Bson::Null | Bson::Undefined) => None,
            Some(v) => Some(as_f64(v).filter(|_| is_number(v)).map(|f| (i, f)).ok_or_else(|| {
                DocError::location(6050106, format!("Value to be filled must evaluate to a number, found {}", type_name(v)))
            })),
        })
        .collect::<Result<_, _>>()?;
    let mut out = vec![None; ys.len()];
    for w in known.windows(2) {
        let ((i0, y0), (i1, y1)) = (w[0], w[1]);
        let (Some(x0), Some(x1)) = (xs[i0], xs[i1]) else {
            return Err(DocError::location(6050106, "$linearFill requires a numeric or date sortBy field"));
        };
        for (i, slot) in out.iter_mut().enumerate().take(i1).skip(i0 + 1) {
            let x = xs[i].ok_or_else(|| DocError::location(6050106, "$linearFill requires a numeric or date sortBy field"))?;
            let y = if x1 == x0 { y0 } else { y0 + (y1 - y0) * (x - x0) / (x1 - x0) };
            *slot = Some(Bson::Double(y));
        }
    }
    Ok(out)
}

/// A parsed `$densify`: for the numeric (or, with `unit`, date) `field`, adds documents for the
/// missing steps `lo + k * step` within the bounds (`"full"`: the minimum to maximum over all
/// documents; `"partition"`: per partition; `[lo, hi]`: `hi` excluded), per partition of
/// `partitionByFields`. Added documents hold only the field and the partition fields.
/// Documents whose field is null or missing pass through first. Output is sorted by partition
/// then field.
#[derive(Clone, Debug)]
pub struct Densify {
    field: Vec<String>,
    partition_fields: Vec<Vec<String>>,
    step: f64,
    unit: Option<&'static str>,
    bounds: DensifyBounds,
}

#[derive(Clone, Debug)]
enum DensifyBounds {
    Full,
    Partition,
    Explicit(f64, f64),
}

/// A `$densify` value as a number (dates as milliseconds when `unit` is set).
fn densify_value(v: &Bson, unit: Option<&str>) -> Result<f64, DocError> {
    match (v, unit) {
        (Bson::DateTime(d), Some(_)) => Ok(d.timestamp_millis() as f64),
        (n, None) if is_number(n) => Ok(as_f64(n).unwrap_or(f64::NAN)),
        (other, Some(_)) => {
            Err(DocError::location(6053600, format!("Densify field type must be a date when a unit is given, found {}", type_name(other))))
        }
        (other, None) => Err(DocError::location(5733201, format!("Densify field type must be numeric, found {}", type_name(other)))),
    }
}

impl Densify {
    pub(super) fn parse(spec: &Bson) -> Result<Densify, DocError> {
        let Bson::Document(d) = spec else {
            return Err(DocError::type_mismatch(format!("the $densify stage specification must be an object, found {}", type_name(spec))));
        };
        let (mut field, mut partition_fields, mut range) = (None, Vec::new(), None);
        for (k, v) in d {
            match (k.as_str(), v) {
                ("field", Bson::String(f)) => {
                    validate_projection_path(f)?;
                    field = Some(f.split('.').map(str::to_string).collect::<Vec<_>>());
                }
                ("partitionByFields", Bson::Array(items)) => {
                    for i in items {
                        let Bson::String(f) = i else {
                            return Err(DocError::type_mismatch("BSON field '$densify.partitionByFields' must be an array of strings"));
                        };
                        validate_projection_path(f)?;
                        partition_fields.push(f.split('.').map(str::to_string).collect());
                    }
                }
                ("range", Bson::Document(r)) => range = Some(r.clone()),
                ("field" | "partitionByFields" | "range", other) => {
                    return Err(DocError::type_mismatch(format!("BSON field '$densify.{k}' is the wrong type '{}'", type_name(other))))
                }
                (other, _) => return Err(DocError::location(40415, format!("BSON field '$densify.{other}' is an unknown field."))),
            }
        }
        let field = field.ok_or_else(|| DocError::location(40414, "BSON field '$densify.field' is missing but a required field"))?;
        let range = range.ok_or_else(|| DocError::location(40414, "BSON field '$densify.range' is missing but a required field"))?;
        let (mut step, mut unit, mut bounds) = (None, None, None);
        for (k, v) in &range {
            match k.as_str() {
                "step" => step = Some(v.clone()),
                "unit" => {
                    const UNITS: [&str; 9] = ["millisecond", "second", "minute", "hour", "day", "week", "month", "quarter", "year"];
                    let Bson::String(u) = v else { return Err(err("'unit' must be a string")) };
                    unit = Some(*UNITS.iter().find(|x| **x == u.as_str()).ok_or_else(|| err(format!("unknown time unit value: {u}")))?);
                }
                "bounds" => bounds = Some(v.clone()),
                other => return Err(DocError::location(40415, format!("BSON field '$densify.range.{other}' is an unknown field."))),
            }
        }
        let step_v = step.ok_or_else(|| DocError::location(40414, "BSON field '$densify.range.step' is missing but a required field"))?;
        let step = match (&step_v, unit) {
            (n, None) if is_number(n) => as_f64(n).unwrap_or(0.0),
            (n, Some(_)) if is_number(n) => as_i64(n).ok_or_else(|| {
                DocError::location(5733412, "The step parameter in a range statement must be a whole number when densifying a date range")
            })? as f64,
            _ => 0.0,
        };
        if !(step > 0.0 && step.is_finite()) {
            return Err(DocError::location(5733401, "the step parameter in a range statement must be a strictly positive numeric value"));
        }
        let bounds = match bounds
            .ok_or_else(|| DocError::location(40414, "BSON field '$densify.range.bounds' is missing but a required field"))?
        {
            Bson::String(s) if s == "full" => DensifyBounds::Full,
            Bson::String(s) if s == "partition" => DensifyBounds::Partition,
            Bson::Array(b) if b.len() == 2 => {
                let (lo, hi) = (densify_value(&b[0], unit)?, densify_value(&b[1], unit)?);
                if lo > hi {
                    return Err(DocError::location(5733402, "the lower bound of a range must be less than or equal to the upper bound"));
                }
                DensifyBounds::Explicit(lo, hi)
            }
            other => {
                return Err(DocError::location(
                    5946802,
                    format!("Bounds must be 'full', 'partition', or an array of two values, found {other}"),
                ))
            }
        };
        Ok(Densify { field, partition_fields, step, unit, bounds })
    }

    /// The k-th generated value from `lo` (numbers only: `lo + k * step`, no drift).
    fn nth(&self, lo: f64, k: i64) -> Option<f64> {
        Some(lo + self.step * k as f64)
    }

    /// The value generated after `prev`, the k-th from `lo`: dates step from the previous
    /// value as `$dateAdd` does (so Jan 31 + 1 month is Feb 28, then Mar 28, as MongoDB's
    /// `DensifyValue::increment` chains them); numbers are `lo + k * step`.
    fn advance(&self, lo: f64, k: i64, prev: Option<f64>) -> Option<f64> {
        match self.unit {
            Some(u) => date_add_millis(prev? as i64, u, self.step as i64).map(|v| v as f64),
            None => self.nth(lo, k),
        }
    }

    fn make(&self, v: f64, part: &[Bson]) -> Document {
        let mut d = Document::new();
        for (path, value) in self.partition_fields.iter().zip(part) {
            if !matches!(value, Bson::Null) {
                set_path(&mut d, path, value.clone());
            }
        }
        let value = match self.unit {
            Some(_) => Bson::DateTime(bson::DateTime::from_millis(v as i64)),
            None if v.fract() == 0.0 && v.abs() < i32::MAX as f64 && self.step.fract() == 0.0 => Bson::Int32(v as i32),
            None => Bson::Double(v),
        };
        set_path(&mut d, &self.field, value);
        d
    }

    pub(super) fn run(&self, input: DocStream<'_>, _vars: &Variables) -> Result<Vec<Document>, DocError> {
        let mut passthrough = Vec::new();
        // (partition values, field value, arrival, document)
        let mut rows: Vec<(Vec<Bson>, f64, usize, Document)> = Vec::new();
        for (i, r) in input.enumerate() {
            let d = r?;
            let part: Vec<Bson> = self.partition_fields.iter().map(|f| get_path(&d, f).cloned().unwrap_or(Bson::Null)).collect();
            match get_path(&d, &self.field) {
                None | Some(Bson::Null | Bson::Undefined) => passthrough.push(d),
                Some(v) => {
                    let x = densify_value(v, self.unit)?;
                    rows.push((part, x, i, d));
                }
            }
        }
        rows.sort_by(|a, b| crate::docs::value::compare_arrays(&a.0, &b.0).then(a.1.total_cmp(&b.1)).then(a.2.cmp(&b.2)));
        let global = (rows.iter().map(|r| r.1).fold(f64::INFINITY, f64::min), rows.iter().map(|r| r.1).fold(f64::NEG_INFINITY, f64::max));
        let mut out = passthrough;
        // Each partition is drained from the front, so the next one starts at 0 again.
        let start = 0;
        const MAX_GENERATED: usize = 500_000;
        let mut generated = 0usize;
        while start < rows.len() {
            let mut end = start + 1;
            while end < rows.len() && crate::docs::value::compare_arrays(&rows[end].0, &rows[start].0) == Ordering::Equal {
                end += 1;
            }
            let part = rows[start].0.clone();
            let (lo, hi, inclusive) = match self.bounds {
                DensifyBounds::Full => (global.0, global.1, true),
                DensifyBounds::Partition => (rows[start].1, rows[end - 1].1, true),
                DensifyBounds::Explicit(lo, hi) => (lo, hi, false),
            };
            let mut k: i64 = 0;
            let mut next = Some(lo);
            let in_range = |v: f64| if inclusive { v <= hi } else { v < hi };
            for row in rows.drain(start..end).collect::<Vec<_>>() {
                // Generated values below this document's value.
                while let Some(v) = next.filter(|v| *v < row.1 && in_range(*v)) {
                    generated += 1;
                    if generated > MAX_GENERATED {
                        return Err(DocError::location(5897900, format!("$densify would generate more than {MAX_GENERATED} documents")));
                    }
                    out.push(self.make(v, &part));
                    k += 1;
                    next = self.advance(lo, k, next);
                }
                // Move past this document's value (a step equal to it is not generated).
                if next.is_some_and(|v| v <= row.1) {
                    if self.unit.is_none() {
                        let steps = ((row.1 - lo) / self.step).floor() + 1.0;
                        if steps >= i64::MAX as f64 {
                            // Beyond any count of steps that could be generated.
                            next = None;
                        } else {
                            k = k.max(steps as i64);
                            next = self.nth(lo, k);
                        }
                    }
                    while next.is_some_and(|v| v <= row.1) {
                        generated += 1;
                        if generated > MAX_GENERATED {
                            return Err(DocError::location(
                                5897900,
                                format!("$densify would generate more than {MAX_GENERATED} documents"),
                            ));
                        }
                        k = k.saturating_add(1);
                        next = self.advance(lo, k, next);
                    }
                }
                out.push(row.3);
            }
            while let Some(v) = next.filter(|v| in_range(*v)) {
                generated += 1;
                if generated > MAX_GENERATED {
                    return Err(DocError::location(5897900, format!("$densify would generate more than {MAX_GENERATED} documents")));
                }
                out.push(self.make(v, &part));
                k += 1;
                next = self.advance(lo, k, next);
            }
        }
        Ok(out)
    }
}
