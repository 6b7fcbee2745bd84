//! SORT and SORT_RO, as Redis 7.0's `sort.c` does them.
//!
//! `SORT key [BY pattern] [LIMIT offset count] [GET pattern ...] [ASC|DESC] [ALPHA] [STORE dst]`
//! sorts the elements of a list, set or sorted set: as numbers (each element, or the value its
//! BY pattern names, read as a C `strtod` double; ties by the elements' bytes), or as strings
//! with ALPHA (byte order, which is `strcoll`'s in the C and C.UTF-8 locales). A pattern's first
//! `*` is replaced by the element to name a string key, or with `->field` a hash field; `#`
//! is the element itself. A BY pattern without `*` means "do not sort" (the container's own
//! order; a set is still sorted, as ALPHA, when the result is stored or a script asks).
//!
//! Redis's order, reproduced: parsing (options left to right, the last STORE wins, a BY without
//! `*` stays "do not sort" even if a later BY has one), the LIMIT arithmetic, glibc's stable
//! `qsort` for a full sort and Redis's `pqsort` for a LIMIT range under BY (so ties come out as
//! redis-server leaves them), `strtod`'s ERANGE and NaN refusals, and the error texts.
//!
//! Locking: a BY or GET pattern may name any key, so an argv with a `*` in any option locks
//! every shard (`uses_patterns`); otherwise the sorted key and the STORE destination.
//!
//! Log: STORE is logged as its effect (DEL, then RPUSH of the result in batches), not its argv:
//! a set's elements come in its table's order, which a replay need not rebuild, and ALPHA ties
//! keep that order.

use std::borrow::Cow;

use super::args::{self, is, syntax};
use super::{CmdResult, CommandSpec, DENYOOM, WRITE};
use crate::keyspace::Ctx;
use crate::reply::Reply;
use crate::types::{ListValue, Value, ZSetValue};
use crate::util::csort::{glibc_qsort_copy, pqsort};
use crate::util::num;

pub(crate) static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("sort", -2, WRITE | DENYOOM, (1, 1, 1), sort).with_keys_fn(sort_keys).with_all_shards_if(uses_patterns),
    CommandSpec::new("sort_ro", -2, 0, (1, 1, 1), sort_ro).with_all_shards_if(uses_patterns),
];

/// Elements per RPUSH record when a STORE result is logged.
const LOG_BATCH: usize = 1024;

/// The sorted key and the STORE destination the parser would use (a superset is harmless:
/// with a syntax error nothing is stored).
fn sort_keys(a: &[&[u8]]) -> Vec<usize> {
    let mut keys = vec![1];
    if let Ok(opts) = Options::parse(a, false) {
        keys.extend(opts.store);
    }
    keys
}

/// Whether the options may look keys up through a pattern: every pattern that does holds a
/// `*`, so any option argument with one locks every shard.
fn uses_patterns(a: &[&[u8]]) -> bool {
    a.iter().skip(2).any(|arg| c_str(arg).contains(&b'*'))
}

/// The bytes C's string functions see: up to the first NUL.
fn c_str(b: &[u8]) -> &[u8] {
    &b[..b.iter().position(|&c| c == 0).unwrap_or(b.len())]
}

struct Options<'a> {
    desc: bool,
    alpha: bool,
    limit: Option<(i64, i64)>,
    /// Position of the STORE destination in the argv.
    store: Option<usize>,
    by: Option<&'a [u8]>,
    /// A BY pattern without `*` was given: keep the container's order.
    dont_sort: bool,
    gets: Vec<&'a [u8]>,
}

impl<'a> Options<'a> {
    /// `sortCommandGeneric`'s option loop: keywords in any order, each with its arguments.
    fn parse(a: &[&'a [u8]], readonly: bool) -> Result<Self, Reply> {
        let mut o = Options { desc: false, alpha: false, limit: None, store: None, by: None, dont_sort: false, gets: Vec::new() };
        let mut j = 2;
        while j < a.len() {
            let left = a.len() - j - 1;
            let arg = a[j];
            if is(arg, "ASC") {
                o.desc = false;
            } else if is(arg, "DESC") {
                o.desc = true;
            } else if is(arg, "ALPHA") {
                o.alpha = true;
            } else if is(arg, "LIMIT") && left >= 2 {
                o.limit = Some((args::int(a[j + 1])?, args::int(a[j + 2])?));
                j += 2;
            } else if !readonly && is(arg, "STORE") && left >= 1 {
                o.store = Some(j + 1);
                j += 1;
            } else if is(arg, "BY") && left >= 1 {
                o.by = Some(a[j + 1]);
                if !c_str(a[j + 1]).contains(&b'*') {
                    o.dont_sort = true;
                }
                j += 1;
            } else if is(arg, "GET") && left >= 1 {
                o.gets.push(a[j + 1]);
                j += 1;
            } else {
                return Err(syntax());
            }
            j += 1;
        }
        Ok(o)
    }
}

/// The elements to sort, their bytes end to end in one buffer (no allocation per element).
#[derive(Default)]
struct Elems {
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

impl Elems {
    fn push(&mut self, e: &[u8]) {
        self.bytes.extend_from_slice(e);
        self.ends.push(self.bytes.len());
    }

    fn len(&self) -> usize {
        self.ends.len()
    }

    fn get(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.bytes[start..self.ends[i]]
    }
}

fn sort(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    sort_generic(ctx, a, false)
}

fn sort_ro(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    sort_generic(ctx, a, true)
}

fn sort_generic(ctx: &mut Ctx<'_>, a: &[&[u8]], readonly: bool) -> CmdResult {
    let o = Options::parse(a, readonly)?;
    let store = o.store.map(|i| a[i]);
    let (mut alpha, mut by, mut dont_sort) = (o.alpha, o.by, o.dont_sort);
    let (elems, start, end) = {
        let e = ctx.lookup_counted(a[1]);
        let value = match e.as_deref().map(|e| &e.value) {
            None => None,
            Some(v @ (Value::List(_) | Value::Set(_) | Value::ZSet(_))) => Some(v),
            Some(_) => return Err(Reply::err(crate::keyspace::WRONGTYPE)),
        };
        // A set has no order of its own that a replay or a script could rely on: sort it.
        if dont_sort && matches!(value, Some(Value::Set(_))) && (store.is_some() || ctx.in_script) {
            (dont_sort, alpha, by) = (false, true, None);
        }
        let len = match value {
            Some(Value::List(l)) => l.len(),
            Some(Value::Set(s)) => s.len(),
            Some(Value::ZSet(z)) => z.len(),
            _ => 0,
        } as i64;
        let (start, end) = limit_range(o.limit, len);
        load(value, dont_sort, o.desc, start, end)
    };
    let order = if dont_sort {
        (0..elems.len()).collect()
    } else {
        let sort = Sort { alpha, by, stored: store.is_some(), desc: o.desc };
        sort.order(ctx, &elems, start, end)?
    };
    let picked: &[usize] = if (0..=end).contains(&start) { order.get(start as usize..=end as usize).unwrap_or(&[]) } else { &[] };
    match store {
        None => {
            let mut out = Vec::with_capacity(picked.len() * o.gets.len().max(1));
            for &i in picked {
                let elem = elems.get(i);
                if o.gets.is_empty() {
                    out.push(Reply::Bulk(elem.to_vec()));
                }
                for g in &o.gets {
                    out.push(lookup_by_pattern(ctx, g, elem).map_or(Reply::Nil, Reply::Bulk));
                }
            }
            Ok(Reply::Array(out))
        }
        Some(dst) => {
            let mut out: Vec<Vec<u8>> = Vec::with_capacity(picked.len() * o.gets.len().max(1));
            for &i in picked {
                let elem = elems.get(i);
                if o.gets.is_empty() {
                    out.push(elem.to_vec());
                }
                for g in &o.gets {
                    out.push(lookup_by_pattern(ctx, g, elem).unwrap_or_default());
                }
            }
            let n = out.len();
            drop(elems);
            store_list(ctx, dst, out);
            Ok(Reply::Int(n as i64))
        }
    }
}

/// How to order the elements: `sortCompare` with its flags.
struct Sort<'a> {
    alpha: bool,
    by: Option<&'a [u8]>,
    /// STORE compares bytes as `memcmp`; a reply compares C strings as `strcoll`.
    stored: bool,
    desc: bool,
}

impl Sort<'_> {
    /// The elements' positions in sorted order; only `[start, end]` of it is in its final
    /// order when a BY pattern and a range let `pqsort` stop early, as in Redis.
    fn order(&self, ctx: &Ctx<'_>, elems: &Elems, start: i64, end: i64) -> Result<Vec<usize>, Reply> {
        let n = elems.len();
        let partial = self.by.is_some() && (start != 0 || end != n as i64 - 1);
        let range = (0..=end).contains(&start).then_some((start as usize, end as usize));
        let sign = |c: i32| if self.desc { -c } else { c };
        // Each element's sort key: what its BY pattern found (nothing: score 0, or for ALPHA
        // "absent", which sorts first), or the element itself.
        let key = |i: usize| match self.by {
            Some(pattern) => lookup_by_pattern(ctx, pattern, elems.get(i)).map(Cow::Owned),
            None => Some(Cow::Borrowed(elems.get(i))),
        };
        if !self.alpha {
            let mut keys: Vec<(f64, usize)> = Vec::with_capacity(n);
            // Every key is looked up even after a bad one (Redis's lookups, counted as hits
            // and misses, all happen before it replies with the error).
            let mut convertible = true;
            for i in 0..n {
                let score = key(i).map_or(Some(0.0), |k| strtod_sort(&k));
                convertible &= score.is_some();
                keys.push((score.unwrap_or(0.0), i));
            }
            if !convertible {
                return Err(Reply::err("ERR One or more scores can't be converted into double"));
            }
            // Equal scores: the elements' bytes decide, so the order is deterministic.
            let cmp = |x: &(f64, usize), y: &(f64, usize)| {
                sign(if x.0 > y.0 {
                    1
                } else if x.0 < y.0 {
                    -1
                } else {
                    ord(elems.get(x.1).cmp(elems.get(y.1)))
                })
            };
            // Equal keys are equal elements: any sort gives Redis's sequence.
            sort_range(&mut keys, &cmp, partial, range, true);
            return Ok(keys.into_iter().map(|(_, i)| i).collect());
        }
        let found: Vec<Option<Cow<'_, [u8]>>> = (0..n).map(key).collect();
        // The bytes compared: all of them for STORE, up to a NUL for `strcoll`.
        let texts: Vec<Option<&[u8]>> = found.iter().map(|t| t.as_deref().map(|t| if self.stored { t } else { c_str(t) })).collect();
        let cmp = |x: &usize, y: &usize| {
            sign(match (texts[*x], texts[*y]) {
                (None, None) => 0,
                (None, Some(_)) => -1,
                (Some(_), None) => 1,
                (Some(p), Some(q)) => ord(p.cmp(q)),
            })
        };
        // Without BY, only `strcoll`'s stop at a NUL can make different elements tie.
        let total = self.by.is_none() && (self.stored || !elems.bytes.contains(&0));
        let mut order: Vec<usize> = (0..n).collect();
        sort_range(&mut order, &cmp, partial, range, total);
        Ok(order)
    }
}

/// glibc's `qsort` of all of `v`, or (`partial`) Redis's `pqsort` of the range. With an empty
/// range Redis's pqsort still partitions once; no element is returned, so its order is never
/// seen.
///
/// `total`: `cmp` says "equal" only of identical elements, so every correct sort gives the
/// same sequence, and a faster one is used (pattern-defeating quicksort; for a range, a
/// selection and a sort of the range). Otherwise the ties' order is the algorithm's, so it
/// must be glibc's or Redis's.
fn sort_range<T: Copy, F: Fn(&T, &T) -> i32>(v: &mut [T], cmp: &F, partial: bool, range: Option<(usize, usize)>, total: bool) {
    let ordering = |x: &T, y: &T| cmp(x, y).cmp(&0);
    match (partial, range, total) {
        (false, _, false) => glibc_qsort_copy(v, cmp),
        (false, _, true) => v.sort_unstable_by(ordering),
        (true, None, _) => {}
        (true, Some((l, r)), false) => pqsort(v, cmp, l, r),
        (true, Some((l, r)), true) => {
            let (_, _, after) = v.select_nth_unstable_by(l, ordering);
            if r > l {
                after.select_nth_unstable_by(r - l - 1, ordering);
            }
            v[l..=r].sort_unstable_by(ordering);
        }
    }
}

fn ord(o: std::cmp::Ordering) -> i32 {
    o as i32
}

/// The LIMIT arithmetic of `sortCommandGeneric`: the inclusive range of positions to return
/// out of `len` (empty when `end < start`).
fn limit_range(limit: Option<(i64, i64)>, len: i64) -> (i64, i64) {
    let (offset, count) = limit.unwrap_or((0, -1));
    let mut start = offset.max(0);
    let mut end = if count < 0 { len - 1 } else { start.saturating_add(count) - 1 };
    if start >= len {
        start = len - 1;
        end = len - 2;
    }
    if end >= len {
        end = len - 1;
    }
    (start, end)
}

/// The elements to sort, as `sortCommandGeneric` loads them, and the range of them to return.
/// Unsorted lists and sorted sets load only that range, in the order asked (DESC from the
/// tail), and the range becomes all of them; an unsorted set keeps its own order.
fn load(value: Option<&Value>, dont_sort: bool, desc: bool, start: i64, end: i64) -> (Elems, i64, i64) {
    let mut elems = Elems::default();
    let ranged = dont_sort && matches!(value, Some(Value::List(_) | Value::ZSet(_)));
    if ranged {
        if end < start {
            return (elems, start, end);
        }
        let (first, n) = (start as usize, (end - start + 1) as usize);
        match value {
            Some(Value::List(l)) => list_range(l, first, n, desc).for_each(|e| elems.push(e)),
            Some(Value::ZSet(z)) => zset_range(z, first, n, desc).for_each(|e| elems.push(e)),
            _ => unreachable!("ranged loads are of lists and sorted sets"),
        }
        return (elems, 0, end - start);
    }
    match value {
        None => {}
        Some(Value::List(l)) => l.iter().for_each(|e| elems.push(e)),
        Some(Value::Set(s)) => s.members().for_each(|m| elems.push(&m)),
        Some(Value::ZSet(z)) => z.iter().for_each(|(m, _)| elems.push(m)),
        Some(_) => unreachable!("the type was checked"),
    }
    (elems, start, end)
}

fn list_range(l: &ListValue, first: usize, n: usize, desc: bool) -> Box<dyn Iterator<Item = &[u8]> + '_> {
    if desc {
        Box::new(l.iter().rev().skip(first).take(n))
    } else {
        Box::new(l.iter_from(first).take(n))
    }
}

fn zset_range(z: &ZSetValue, first: usize, n: usize, desc: bool) -> Box<dyn Iterator<Item = &[u8]> + '_> {
    if desc {
        Box::new(z.iter_rev_from(z.len() - 1 - first).take(n).map(|(m, _)| m))
    } else {
        Box::new(z.iter_from(first).take(n).map(|(m, _)| m))
    }
}

/// `lookupKeyByPattern`: `#` is the element itself; otherwise the pattern's first `*` is
/// replaced by the element, and the key found must be a string, or with `->field` after the
/// `*` a hash holding the field. None when the pattern has no `*` or nothing is found.
fn lookup_by_pattern(ctx: &Ctx<'_>, pattern: &[u8], elem: &[u8]) -> Option<Vec<u8>> {
    let c = c_str(pattern);
    if c == b"#" {
        return Some(elem.to_vec());
    }
    let star = c.iter().position(|&b| b == b'*')?;
    // The first "->" after the `*` with something after it (in C's view of the string) makes
    // the rest of the pattern a field name.
    let arrow = c[star + 1..].windows(2).position(|w| w == b"->").map(|i| star + 1 + i).filter(|&f| f + 2 < c.len());
    let (post_end, field) = match arrow {
        Some(f) => (f, Some(&pattern[f + 2..])),
        None => (pattern.len(), None),
    };
    let mut key = Vec::with_capacity(pattern.len() + elem.len());
    key.extend_from_slice(&pattern[..star]);
    key.extend_from_slice(elem);
    key.extend_from_slice(&pattern[star + 1..post_end]);
    let e = ctx.lookup_counted(&key)?;
    match (&e.value, field) {
        (Value::Str(s), None) => Some(s.with_bytes(<[u8]>::to_vec)),
        (Value::Hash(h), Some(f)) => h.get(f).map(|v| v.into_owned()),
        _ => None,
    }
}

/// A sort key as `sortCommandGeneric` reads it: C `strtod` over the C string, all of it
/// consumed, not NaN, and no ERANGE (an overflow to infinity, or an inexact result below the
/// normal range).
fn strtod_sort(s: &[u8]) -> Option<f64> {
    let v = num::strtod_whole(s)?;
    let c = c_str(s);
    let (i, _) = num::c_space_and_sign(c);
    let body = &c[i..];
    if v.is_infinite() && !body.first().is_some_and(|b| b.eq_ignore_ascii_case(&b'i')) {
        return None;
    }
    if (v == 0.0 || v.is_subnormal()) && has_nonzero_mantissa(body) {
        // A decimal that lands in or under the subnormal range is inexact (glibc sets ERANGE
        // then); a hex float there may be exact, and only a total underflow is refused.
        let hex = body.len() > 1 && body[..2].eq_ignore_ascii_case(b"0x");
        if !hex || v == 0.0 {
            return None;
        }
    }
    Some(v)
}

/// Whether the number's mantissa (before any exponent) has a digit other than 0.
fn has_nonzero_mantissa(body: &[u8]) -> bool {
    let (digits, hex) = match body.get(..2) {
        Some(p) if p.eq_ignore_ascii_case(b"0x") => (&body[2..], true),
        _ => (body, false),
    };
    digits
        .iter()
        .take_while(|&&c| if hex { c != b'p' && c != b'P' } else { c != b'e' && c != b'E' })
        .any(|&c| c != b'0' && c != b'.' && c.is_ascii_hexdigit() && (hex || c.is_ascii_digit()))
}

/// Replace `dst` with a list of `items` (delete it when there are none) and log that effect.
fn store_list(ctx: &mut Ctx<'_>, dst: &[u8], items: Vec<Vec<u8>>) {
    if items.is_empty() {
        if ctx.remove(dst).is_some() {
            ctx.log_as(&[b"DEL", dst]);
        }
        return;
    }
    let refs: Vec<&[u8]> = items.iter().map(Vec::as_slice).collect();
    let list = ListValue::from_items(&refs, ctx.limits().list_max_listpack_size);
    ctx.insert(dst, Value::List(list), 0);
    ctx.log_as(&[b"DEL", dst]);
    for batch in refs.chunks(LOG_BATCH) {
        let mut argv: Vec<&[u8]> = Vec::with_capacity(batch.len() + 2);
        argv.push(b"RPUSH");
        argv.push(dst);
        argv.extend_from_slice(batch);
        ctx.log_as(&argv);
    }
}
