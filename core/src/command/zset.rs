//! Sorted-set commands: ZADD, ZINCRBY, ZREM, ZSCORE, ZMSCORE, ZCARD, ZCOUNT, ZLEXCOUNT,
//! ZRANK/ZREVRANK, the ZRANGE family (ZRANGE, ZRANGESTORE, ZREVRANGE, ZRANGEBYSCORE,
//! ZREVRANGEBYSCORE, ZRANGEBYLEX, ZREVRANGEBYLEX), ZREMRANGEBY{SCORE,RANK,LEX}, ZPOPMIN/ZPOPMAX,
//! ZMPOP, ZRANDMEMBER, the set algebra (ZUNION[STORE], ZINTER[STORE], ZDIFF[STORE], ZINTERCARD)
//! and ZSCAN, with Redis 7's semantics, error texts and RESP3 reply shapes.
//!
//! Complexity: every range is turned into ascending ranks `[lo, hi)` with the order-statistic
//! queries of `ZSetValue` (`count_below_score`, `count_below_member`), and results are read by
//! walking from a rank (`iter_from` / `iter_rev_from`), so on the skiplist encoding a range of m
//! elements costs O(log n + m) and no command scans the whole set to find a rank or a bound (the
//! listpack encoding is small by construction and is scanned). Removals by range use
//! `remove_range_by_rank`. Writes pass the live `EncodingLimits` (a listpack converts when an
//! insert would exceed them); STORE destinations take the encoding of their final size.
//!
//! Reply shapes (RESP3, as Redis 7 sends them): scores are `Reply::Double`; WITHSCORES replies
//! are arrays of `[member, score]` pairs; ZPOPMIN/ZPOPMAX without a count reply a flat
//! `[member, score]`, with a count an array of pairs; ZMPOP replies `[key, [[member, score]...]]`.
//! ZSCAN keeps RESP2-style bulk-string scores, formatted as Redis 7.0 prints them.
//!
//! Invariants: every write signals `ctx.modified(key)` exactly when the set changed; a set left
//! empty is deleted (by `Ctx::modify`); STORE destinations are replaced whole (TTL dropped) or
//! deleted when the result is empty. Score bounds are parsed like Redis's `strtod` call
//! (`(` prefix = exclusive, `inf`/`-inf`, leading blanks and hex accepted, NaN refused); lex
//! bounds are `[x`, `(x`, `-`, `+`. Scores, increments and weights are parsed like Redis's
//! `getDoubleFromObject` (hex accepted; NaN, blanks, overflow and underflow to 0 refused).
//! ZRANK/ZREVRANK accept Redis 7.2's WITHSCORE (`[rank, score]`).
//!
//! ZSCAN: a listpack-encoded set is returned whole with cursor 0, as Redis does (scores printed
//! as Redis's listpack holds them, `d2string`). A skiplist-encoded set is walked with its member
//! map's bucket cursor, which keeps SCAN's guarantee (scores printed `%.17g`).

use std::cmp::Ordering;
use std::collections::HashMap;

use rand::Rng;

use super::args::{self, is, syntax};
use super::keys::{parse_scan, scan_reply};
use super::{wrong_arity, CmdResult, CommandSpec, BLOCKING, DENYOOM, WRITE};
use crate::keyspace::EncodingLimits;
use crate::keyspace::{Ctx, WRONGTYPE};
use crate::reply::Reply;
use crate::types::set::Member;
use crate::types::{SetValue, Value, ZSetValue};
use crate::util::glob::glob_match;
use crate::util::num;

const W: u32 = WRITE | DENYOOM;
const K1: (i32, i32, i32) = (1, 1, 1);
const NONE: (i32, i32, i32) = (0, 0, 0);

const NOT_FLOAT_RANGE: &str = "ERR min or max is not a float";
const NOT_LEX_RANGE: &str = "ERR min or max not valid string range item";
const NAN_SCORE: &str = "ERR resulting score is not a number (NaN)";

pub(crate) const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("zadd", -4, W, K1, zadd),
    CommandSpec::new("zincrby", 4, W, K1, zincrby),
    CommandSpec::new("zrem", -3, WRITE, K1, zrem),
    CommandSpec::new("zscore", 3, 0, K1, zscore),
    CommandSpec::new("zmscore", -3, 0, K1, zmscore),
    CommandSpec::new("zcard", 2, 0, K1, zcard),
    CommandSpec::new("zcount", 4, 0, K1, zcount),
    CommandSpec::new("zlexcount", 4, 0, K1, zlexcount),
    CommandSpec::new("zrank", -3, 0, K1, zrank),
    CommandSpec::new("zrevrank", -3, 0, K1, zrevrank),
    CommandSpec::new("zrange", -4, 0, K1, zrange),
    CommandSpec::new("zrangestore", -5, W, (1, 2, 1), zrangestore),
    CommandSpec::new("zrevrange", -4, 0, K1, zrevrange),
    CommandSpec::new("zrangebyscore", -4, 0, K1, zrangebyscore),
    CommandSpec::new("zrevrangebyscore", -4, 0, K1, zrevrangebyscore),
    CommandSpec::new("zrangebylex", -4, 0, K1, zrangebylex),
    CommandSpec::new("zrevrangebylex", -4, 0, K1, zrevrangebylex),
    CommandSpec::new("zremrangebyscore", 4, WRITE, K1, zremrangebyscore),
    CommandSpec::new("zremrangebyrank", 4, WRITE, K1, zremrangebyrank),
    CommandSpec::new("zremrangebylex", 4, WRITE, K1, zremrangebylex),
    CommandSpec::new("zpopmin", -2, WRITE, K1, zpopmin),
    CommandSpec::new("zpopmax", -2, WRITE, K1, zpopmax),
    CommandSpec::new("zmpop", -4, WRITE, NONE, zmpop).with_keys_fn(keys_after_numkeys),
    CommandSpec::new("bzpopmin", -3, WRITE | BLOCKING, (1, -2, 1), bzpopmin),
    CommandSpec::new("bzpopmax", -3, WRITE | BLOCKING, (1, -2, 1), bzpopmax),
    CommandSpec::new("bzmpop", -5, WRITE | BLOCKING, NONE, bzmpop).with_keys_fn(keys_after_timeout_numkeys),
    CommandSpec::new("zrandmember", -2, 0, K1, zrandmember),
    CommandSpec::new("zunionstore", -4, W, K1, zunionstore).with_keys_fn(store_keys),
    CommandSpec::new("zinterstore", -4, W, K1, zinterstore).with_keys_fn(store_keys),
    CommandSpec::new("zdiffstore", -4, W, K1, zdiffstore).with_keys_fn(store_keys),
    CommandSpec::new("zunion", -3, 0, NONE, zunion).with_keys_fn(keys_after_numkeys),
    CommandSpec::new("zinter", -3, 0, NONE, zinter).with_keys_fn(keys_after_numkeys),
    CommandSpec::new("zdiff", -3, 0, NONE, zdiff).with_keys_fn(keys_after_numkeys),
    CommandSpec::new("zintercard", -3, 0, NONE, zintercard).with_keys_fn(keys_after_numkeys),
    CommandSpec::new("zscan", -3, 0, K1, zscan),
];

// ---------------------------------------------------------------------------------------------
// Key specs for numkeys-style commands
// ---------------------------------------------------------------------------------------------

/// The numkeys argument at `i`, clamped to the argument count (0 when not a positive integer:
/// the handler then fails before touching any key).
fn numkeys_at(a: &[&[u8]], i: usize) -> usize {
    match a.get(i).and_then(|x| args::int(x).ok()) {
        Some(n) if n > 0 => usize::try_from(n).unwrap_or(usize::MAX).min(a.len()),
        _ => 0,
    }
}

/// `CMD numkeys key...` (ZUNION, ZINTER, ZDIFF, ZINTERCARD, ZMPOP).
fn keys_after_numkeys(a: &[&[u8]]) -> Vec<usize> {
    (2..2 + numkeys_at(a, 1)).collect()
}

/// `CMD timeout numkeys key...` (BZMPOP).
fn keys_after_timeout_numkeys(a: &[&[u8]]) -> Vec<usize> {
    (3..3 + numkeys_at(a, 2)).collect()
}

/// `CMD destination numkeys key...` (ZUNIONSTORE, ZINTERSTORE, ZDIFFSTORE).
fn store_keys(a: &[&[u8]]) -> Vec<usize> {
    std::iter::once(1).chain(3..3 + numkeys_at(a, 2)).collect()
}

// ---------------------------------------------------------------------------------------------
// Ranges: parsing and conversion to ranks
// ---------------------------------------------------------------------------------------------

/// A score interval (Redis's `zrangespec`).
#[derive(Clone, Copy, Debug)]
struct ScoreRange {
    min: f64,
    max: f64,
    minex: bool,
    maxex: bool,
}

impl ScoreRange {
    fn parse(min: &[u8], max: &[u8]) -> Result<Self, Reply> {
        let bound = |arg: &[u8]| -> Option<(f64, bool)> {
            match arg.first() {
                Some(b'(') => num::strtod_whole(&arg[1..]).map(|v| (v, true)),
                _ => num::strtod_whole(arg).map(|v| (v, false)),
            }
        };
        match (bound(min), bound(max)) {
            (Some((min, minex)), Some((max, maxex))) => Ok(ScoreRange { min, max, minex, maxex }),
            _ => Err(Reply::err(NOT_FLOAT_RANGE)),
        }
    }

    /// The ascending ranks `[lo, hi)` of the members inside the interval.
    fn ranks(&self, z: &ZSetValue) -> (usize, usize) {
        let lo = z.count_below_score(self.min, self.minex);
        let hi = z.count_below_score(self.max, !self.maxex);
        (lo, hi.max(lo))
    }
}

/// One end of a lex interval (Redis's `zlexrangespec` items).
#[derive(Clone, Copy, Debug)]
enum Lex<'a> {
    /// `-`: below every string.
    Min,
    /// `+`: above every string.
    Max,
    Incl(&'a [u8]),
    Excl(&'a [u8]),
}

#[derive(Clone, Copy, Debug)]
struct LexRange<'a> {
    min: Lex<'a>,
    max: Lex<'a>,
}

impl<'a> LexRange<'a> {
    fn parse(min: &'a [u8], max: &'a [u8]) -> Result<Self, Reply> {
        // Like zslParseLexRangeItem: `+`/`-` must stand alone (C-string view), `(`/`[` prefix a value.
        let item = |arg: &'a [u8]| -> Option<Lex<'a>> {
            let alone = arg.get(1).is_none_or(|&c| c == 0);
            match arg.first()? {
                b'+' if alone => Some(Lex::Max),
                b'-' if alone => Some(Lex::Min),
                b'(' => Some(Lex::Excl(&arg[1..])),
                b'[' => Some(Lex::Incl(&arg[1..])),
                _ => None,
            }
        };
        match (item(min), item(max)) {
            (Some(min), Some(max)) => Ok(LexRange { min, max }),
            _ => Err(Reply::err(NOT_LEX_RANGE)),
        }
    }

    /// The ascending ranks `[lo, hi)` of the members inside the interval (members are assumed
    /// to share one score, as Redis documents; otherwise the result is unspecified there too).
    fn ranks(&self, z: &ZSetValue) -> (usize, usize) {
        let lo = match self.min {
            Lex::Min => 0,
            Lex::Max => z.len(),
            Lex::Incl(v) => z.count_below_member(v, false),
            Lex::Excl(v) => z.count_below_member(v, true),
        };
        let hi = match self.max {
            Lex::Min => 0,
            Lex::Max => z.len(),
            Lex::Incl(v) => z.count_below_member(v, true),
            Lex::Excl(v) => z.count_below_member(v, false),
        };
        (lo, hi.max(lo))
    }
}

/// Elements of ascending ranks `[lo, hi)` after skipping `offset` and taking at most `limit`
/// (negative = no limit), walking down from `hi` when `rev`. A negative offset selects nothing
/// (as in Redis, whose offset loop then runs off the end of the set).
fn window(z: &ZSetValue, lo: usize, hi: usize, offset: i64, limit: i64, rev: bool) -> Vec<(&[u8], f64)> {
    if offset < 0 || lo >= hi {
        return Vec::new();
    }
    let avail = hi - lo;
    let off = usize::try_from(offset).unwrap_or(usize::MAX);
    if off >= avail {
        return Vec::new();
    }
    let mut n = avail - off;
    if limit >= 0 {
        n = n.min(usize::try_from(limit).unwrap_or(usize::MAX));
    }
    if rev {
        z.iter_rev_from(hi - 1 - off).take(n).collect()
    } else {
        z.iter_from(lo + off).take(n).collect()
    }
}

/// Elements between LRANGE-style indexes `start..=stop` (negative from the end), reversed
/// indexes when `rev` (index 0 = highest score).
fn rank_window(z: &ZSetValue, start: i64, stop: i64, rev: bool) -> Vec<(&[u8], f64)> {
    let len = z.len();
    let Some((s, e)) = args::range(start, stop, len) else { return Vec::new() };
    let n = e - s + 1;
    if rev {
        z.iter_rev_from(len - 1 - s).take(n).collect()
    } else {
        z.iter_from(s).take(n).collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Reply helpers
// ---------------------------------------------------------------------------------------------

/// Members, or `[member, score]` pairs with `withscores` (RESP3 shape).
fn members_reply<'x>(items: impl IntoIterator<Item = (&'x [u8], f64)>, withscores: bool) -> Reply {
    Reply::Array(
        items
            .into_iter()
            .map(|(m, s)| if withscores { Reply::Array(vec![Reply::bulk(m), Reply::Double(s)]) } else { Reply::bulk(m) })
            .collect(),
    )
}

fn pairs_reply(items: &[(Vec<u8>, f64)]) -> Reply {
    members_reply(items.iter().map(|(m, s)| (m.as_slice(), *s)), true)
}

/// Replace `dst` with `z` (or delete it when `z` is empty) and reply its size, as Redis's
/// STORE variants do. Signals only when something changed.
fn store_result(ctx: &mut Ctx<'_>, dst: &[u8], z: ZSetValue) -> Reply {
    let n = z.len();
    if n == 0 {
        ctx.remove(dst);
    } else {
        ctx.insert(dst, Value::ZSet(z), 0);
    }
    Reply::Int(n as i64)
}

/// C's `%.17g` (what Redis 7.0's ZSCAN prints for skiplist-encoded sets via `%.17Lg`).
fn format_g17(v: f64) -> String {
    crate::util::num::format_g(v, 17)
}

/// Redis's `d2string` (how a listpack stores a score, hence what ZSCAN of a small set prints):
/// integral values within ±LLONG_MAX/2 print as integers, everything else as `%.17g`.
fn format_d2string(v: f64) -> String {
    let lim = (i64::MAX / 2) as f64;
    if v != 0.0 && v.is_finite() && (-lim..=lim).contains(&v) && (v as i64) as f64 == v {
        return (v as i64).to_string();
    }
    format_g17(v)
}

// ---------------------------------------------------------------------------------------------
// ZADD, ZINCRBY, ZREM
// ---------------------------------------------------------------------------------------------

#[derive(Default, Clone, Copy)]
struct AddFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    ch: bool,
    incr: bool,
}

#[derive(PartialEq)]
enum AddOutcome {
    Added,
    Updated,
    /// Processed, score unchanged.
    Same,
    /// Skipped by NX/XX/GT/LT.
    Nop,
}

/// Redis's `zsetAdd`: the outcome and the member's resulting score; Err(()) for a NaN result.
fn add_one(z: &mut ZSetValue, member: &[u8], score: f64, f: AddFlags, limits: &EncodingLimits) -> Result<(AddOutcome, f64), ()> {
    match z.score(member) {
        Some(cur) => {
            if f.nx {
                return Ok((AddOutcome::Nop, cur));
            }
            let new = if f.incr { cur + score } else { score };
            if new.is_nan() {
                return Err(());
            }
            if (f.lt && new >= cur) || (f.gt && new <= cur) {
                return Ok((AddOutcome::Nop, new));
            }
            if new != cur {
                z.insert(member, new, limits);
                Ok((AddOutcome::Updated, new))
            } else {
                Ok((AddOutcome::Same, new))
            }
        }
        None if !f.xx => {
            z.insert(member, score, limits);
            Ok((AddOutcome::Added, score))
        }
        None => Ok((AddOutcome::Nop, score)),
    }
}

fn zadd_generic(ctx: &mut Ctx<'_>, a: &[&[u8]], forced: AddFlags) -> CmdResult {
    let key = a[1];
    let mut f = forced;
    let mut idx = 2;
    while idx < a.len() {
        let o = a[idx];
        if is(o, "NX") {
            f.nx = true;
        } else if is(o, "XX") {
            f.xx = true;
        } else if is(o, "CH") {
            f.ch = true;
        } else if is(o, "INCR") {
            f.incr = true;
        } else if is(o, "GT") {
            f.gt = true;
        } else if is(o, "LT") {
            f.lt = true;
        } else {
            break;
        }
        idx += 1;
    }
    let rest = a.len() - idx;
    if rest == 0 || !rest.is_multiple_of(2) {
        return Err(syntax());
    }
    let pairs = rest / 2;
    if f.nx && f.xx {
        return Err(Reply::err("ERR XX and NX options at the same time are not compatible"));
    }
    if (f.nx && (f.gt || f.lt)) || (f.gt && f.lt) {
        return Err(Reply::err("ERR GT, LT, and/or NX options at the same time are not compatible"));
    }
    if f.incr && pairs > 1 {
        return Err(Reply::err("ERR INCR option supports a single increment-element pair"));
    }
    let scores = (0..pairs)
        .map(|j| num::parse_f64(a[idx + 2 * j]).ok_or_else(|| Reply::err(args::NOT_FLOAT)))
        .collect::<Result<Vec<f64>, Reply>>()?;

    let limits = ctx.limits();
    let outcome = ctx.modify::<ZSetValue, _>(key, !f.xx, |z| {
        let (mut added, mut updated, mut processed, mut last) = (0i64, 0i64, 0i64, 0.0);
        for (j, &score) in scores.iter().enumerate() {
            match add_one(z, a[idx + 2 * j + 1], score, f, &limits) {
                Err(()) => return (added, updated, processed, last, true),
                Ok((o, newscore)) => {
                    match o {
                        AddOutcome::Added => added += 1,
                        AddOutcome::Updated => updated += 1,
                        AddOutcome::Same | AddOutcome::Nop => {}
                    }
                    if o != AddOutcome::Nop {
                        processed += 1;
                    }
                    last = newscore;
                }
            }
        }
        (added, updated, processed, last, false)
    })?;
    let (added, updated, processed, last, nan) = outcome.unwrap_or((0, 0, 0, 0.0, false));
    if added + updated > 0 {
        ctx.modified(key);
    }
    if nan {
        return Err(Reply::err(NAN_SCORE));
    }
    Ok(if f.incr {
        if processed > 0 {
            Reply::Double(last)
        } else {
            Reply::Nil
        }
    } else {
        Reply::Int(if f.ch { added + updated } else { added })
    })
}

fn zadd(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    zadd_generic(ctx, a, AddFlags::default())
}

fn zincrby(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    zadd_generic(ctx, a, AddFlags { incr: true, ..AddFlags::default() })
}

fn zrem(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let key = a[1];
    let removed = ctx.modify::<ZSetValue, _>(key, false, |z| a[2..].iter().filter(|m| z.remove(m).is_some()).count())?.unwrap_or(0);
    if removed > 0 {
        ctx.modified(key);
    }
    Ok(Reply::Int(removed as i64))
}

// ---------------------------------------------------------------------------------------------
// Point reads and counts
// ---------------------------------------------------------------------------------------------

fn zscore(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let z = ctx.read_plain::<ZSetValue>(a[1])?;
    Ok(z.and_then(|z| z.score(a[2])).map_or(Reply::Nil, Reply::Double))
}

fn zmscore(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let z = ctx.read_plain::<ZSetValue>(a[1])?;
    Ok(Reply::Array(a[2..].iter().map(|m| z.and_then(|z| z.score(m)).map_or(Reply::Nil, Reply::Double)).collect()))
}

fn zcard(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    Ok(Reply::Int(ctx.read_plain::<ZSetValue>(a[1])?.map_or(0, |z| z.len()) as i64))
}

fn zcount(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let range = ScoreRange::parse(a[2], a[3])?;
    let n = ctx.read_plain::<ZSetValue>(a[1])?.map_or(0, |z| {
        let (lo, hi) = range.ranks(z);
        hi - lo
    });
    Ok(Reply::Int(n as i64))
}

fn zlexcount(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let range = LexRange::parse(a[2], a[3])?;
    let n = ctx.read_plain::<ZSetValue>(a[1])?.map_or(0, |z| {
        let (lo, hi) = range.ranks(z);
        hi - lo
    });
    Ok(Reply::Int(n as i64))
}

/// ZRANK/ZREVRANK key member [WITHSCORE] (WITHSCORE as in Redis 7.2: `[rank, score]`).
fn zrank_generic(ctx: &mut Ctx<'_>, a: &[&[u8]], rev: bool) -> CmdResult {
    if a.len() > 4 {
        return Err(wrong_arity(if rev { "zrevrank" } else { "zrank" }));
    }
    let withscore = match a.get(3) {
        None => false,
        Some(o) if is(o, "WITHSCORE") => true,
        Some(_) => return Err(syntax()),
    };
    let Some(z) = ctx.read_plain::<ZSetValue>(a[1])? else { return Ok(Reply::Nil) };
    let Some(rank) = z.rank(a[2]) else { return Ok(Reply::Nil) };
    let rank = if rev { z.len() - 1 - rank } else { rank } as i64;
    // The score is looked up only when asked for (a second member lookup otherwise).
    Ok(match z.score(a[2]).filter(|_| withscore) {
        Some(score) => Reply::Array(vec![Reply::Int(rank), Reply::Double(score)]),
        None => Reply::Int(rank),
    })
}

fn zrank(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    zrank_generic(ctx, a, false)
}

fn zrevrank(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    zrank_generic(ctx, a, true)
}

// ---------------------------------------------------------------------------------------------
// The ZRANGE family
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Debug)]
enum RangeKind {
    Auto,
    Rank,
    Score,
    Lex,
}

enum RangeSpec<'a> {
    Rank(i64, i64),
    Score(ScoreRange),
    Lex(LexRange<'a>),
}

/// Redis's `zrangeGenericCommand`. `at` is the index of the source key; `dst` is set for
/// ZRANGESTORE; `kind`/`rev` are fixed by the legacy commands (Auto/None let options decide).
fn zrange_generic(ctx: &mut Ctx<'_>, a: &[&[u8]], at: usize, dst: Option<&[u8]>, mut kind: RangeKind, mut rev: Option<bool>) -> CmdResult {
    let key = a[at];
    let (mut minidx, mut maxidx) = (at + 1, at + 2);
    let (mut withscores, mut offset, mut limit) = (false, 0i64, -1i64);
    let mut j = at + 3;
    while j < a.len() {
        let left = a.len() - j - 1;
        if dst.is_none() && is(a[j], "WITHSCORES") {
            withscores = true;
        } else if is(a[j], "LIMIT") && left >= 2 {
            offset = args::int(a[j + 1])?;
            limit = args::int(a[j + 2])?;
            j += 2;
        } else if rev.is_none() && is(a[j], "REV") {
            rev = Some(true);
        } else if kind == RangeKind::Auto && is(a[j], "BYLEX") {
            kind = RangeKind::Lex;
        } else if kind == RangeKind::Auto && is(a[j], "BYSCORE") {
            kind = RangeKind::Score;
        } else {
            return Err(syntax());
        }
        j += 1;
    }
    let rev = rev.unwrap_or(false);
    if kind == RangeKind::Auto {
        kind = RangeKind::Rank;
    }
    if limit != -1 && kind == RangeKind::Rank {
        return Err(Reply::err("ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"));
    }
    if withscores && kind == RangeKind::Lex {
        return Err(Reply::err("ERR syntax error, WITHSCORES not supported in combination with BYLEX"));
    }
    if rev && kind != RangeKind::Rank {
        std::mem::swap(&mut minidx, &mut maxidx);
    }
    let spec = match kind {
        RangeKind::Score => RangeSpec::Score(ScoreRange::parse(a[minidx], a[maxidx])?),
        RangeKind::Lex => RangeSpec::Lex(LexRange::parse(a[minidx], a[maxidx])?),
        RangeKind::Auto | RangeKind::Rank => RangeSpec::Rank(args::int(a[minidx])?, args::int(a[maxidx])?),
    };
    let select = |z| select_range(z, &spec, offset, limit, rev);
    match dst {
        None => {
            let Some(z) = ctx.read_plain::<ZSetValue>(key)? else { return Ok(Reply::Array(Vec::new())) };
            Ok(members_reply(select(z), withscores))
        }
        Some(dst) => {
            let limits = ctx.limits();
            let out = match ctx.read_plain::<ZSetValue>(key)? {
                Some(z) => ZSetValue::from_entries(select(z), &limits),
                None => ZSetValue::new(),
            };
            Ok(store_result(ctx, dst, out))
        }
    }
}

/// The elements a parsed range selects, in reply order.
fn select_range<'z>(z: &'z ZSetValue, spec: &RangeSpec<'_>, offset: i64, limit: i64, rev: bool) -> Vec<(&'z [u8], f64)> {
    match spec {
        RangeSpec::Rank(start, stop) => rank_window(z, *start, *stop, rev),
        RangeSpec::Score(r) => {
            let (lo, hi) = r.ranks(z);
            window(z, lo, hi, offset, limit, rev)
        }
        RangeSpec::Lex(r) => {
            let (lo, hi) = r.ranks(z);
            window(z, lo, hi, offset, limit, rev)
        }
    }
}

fn zrange(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    zrange_generic(ctx, a, 1, None, RangeKind::Auto, None)
}

fn zrangestore(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    zrange_generic(ctx, a, 2, Some(a[1]), RangeKind::Auto, None)
}

fn zrevrange(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    zrange_generic(ctx, a, 1, None, RangeKind::Rank, Some(true))
}

fn zrangebyscore(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    zrange_generic(ctx, a, 1, None, RangeKind::Score, Some(false))
}

fn zrevrangebyscore(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    zrange_generic(ctx, a, 1, None, RangeKind::Score, Some(true))
}

fn zrangebylex(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    zrange_generic(ctx, a, 1, None, RangeKind::Lex, Some(false))
}

fn zrevrangebylex(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    zrange_generic(ctx, a, 1, None, RangeKind::Lex, Some(true))
}

// ---------------------------------------------------------------------------------------------
// ZREMRANGEBY*
// ---------------------------------------------------------------------------------------------

fn zremrange_generic(ctx: &mut Ctx<'_>, a: &[&[u8]], kind: RangeKind) -> CmdResult {
    let key = a[1];
    let spec = match kind {
        RangeKind::Score => RangeSpec::Score(ScoreRange::parse(a[2], a[3])?),
        RangeKind::Lex => RangeSpec::Lex(LexRange::parse(a[2], a[3])?),
        RangeKind::Auto | RangeKind::Rank => RangeSpec::Rank(args::int(a[2])?, args::int(a[3])?),
    };
    let removed = ctx
        .modify::<ZSetValue, _>(key, false, |z| {
            let span = match &spec {
                RangeSpec::Rank(start, stop) => args::range(*start, *stop, z.len()).map(|(s, e)| (s, e + 1)),
                RangeSpec::Score(r) => Some(r.ranks(z)),
                RangeSpec::Lex(r) => Some(r.ranks(z)),
            };
            match span {
                Some((lo, hi)) if lo < hi => z.remove_range_by_rank(lo, hi - 1),
                _ => 0,
            }
        })?
        .unwrap_or(0);
    if removed > 0 {
        ctx.modified(key);
    }
    Ok(Reply::Int(removed as i64))
}

fn zremrangebyscore(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    zremrange_generic(ctx, a, RangeKind::Score)
}

fn zremrangebyrank(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    zremrange_generic(ctx, a, RangeKind::Rank)
}

fn zremrangebylex(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    zremrange_generic(ctx, a, RangeKind::Lex)
}

// ---------------------------------------------------------------------------------------------
// ZPOPMIN, ZPOPMAX, ZMPOP
// ---------------------------------------------------------------------------------------------

/// Pop up to `n` members from the low (or high, `max`) end of `key`. None when the key is absent.
/// Owned (member, score) pairs taken out of a set.
type Popped = Vec<(Vec<u8>, f64)>;

fn pop(ctx: &mut Ctx<'_>, key: &[u8], max: bool, n: usize) -> Result<Option<Popped>, Reply> {
    let popped = ctx.modify::<ZSetValue, _>(key, false, |z| {
        let len = z.len();
        let n = n.min(len);
        if n == 0 {
            return Vec::new();
        }
        let own = |(m, s): (&[u8], f64)| (m.to_vec(), s);
        if max {
            let items: Vec<(Vec<u8>, f64)> = z.iter_rev_from(len - 1).take(n).map(own).collect();
            z.remove_range_by_rank(len - n, len - 1);
            items
        } else {
            let items: Vec<(Vec<u8>, f64)> = z.iter_from(0).take(n).map(own).collect();
            z.remove_range_by_rank(0, n - 1);
            items
        }
    })?;
    if popped.as_ref().is_some_and(|v| !v.is_empty()) {
        ctx.modified(key);
    }
    Ok(popped)
}

fn zpop_generic(ctx: &mut Ctx<'_>, a: &[&[u8]], max: bool) -> CmdResult {
    if a.len() > 3 {
        return Err(syntax());
    }
    let key = a[1];
    let count = match a.get(2) {
        None => None,
        Some(arg) => {
            Some(args::int(arg).ok().filter(|&n| n >= 0).ok_or_else(|| Reply::err("ERR value is out of range, must be positive"))?)
        }
    };
    if count == Some(0) {
        ctx.check_type::<ZSetValue>(key)?;
        return Ok(Reply::Array(Vec::new()));
    }
    let n = count.map_or(1, |c| usize::try_from(c).unwrap_or(usize::MAX));
    let Some(items) = pop(ctx, key, max, n)? else { return Ok(Reply::Array(Vec::new())) };
    Ok(match count {
        // RESP3: a single pop without COUNT is a flat [member, score].
        None => Reply::Array(items.into_iter().flat_map(|(m, s)| [Reply::Bulk(m), Reply::Double(s)]).collect()),
        Some(_) => pairs_reply(&items),
    })
}

fn zpopmin(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    zpop_generic(ctx, a, false)
}

fn zpopmax(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    zpop_generic(ctx, a, true)
}

/// ZMPOP numkeys key... MIN|MAX [COUNT count]
fn zmpop(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    zmpop_generic(ctx, a, 1, None)
}

/// BZMPOP timeout numkeys key... MIN|MAX [COUNT count]: ZMPOP, or wait (the timeout is read
/// after the other arguments, as Redis does).
fn bzmpop(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    zmpop_generic(ctx, a, 2, Some(a[1]))
}

/// ZMPOP and BZMPOP, whose numkeys is `a[numkeys_idx]`; `timeout` is BZMPOP's.
fn zmpop_generic(ctx: &mut Ctx<'_>, a: &[&[u8]], numkeys_idx: usize, timeout: Option<&[u8]>) -> CmdResult {
    let numkeys = args::int(a[numkeys_idx]).ok().filter(|&n| n >= 1).ok_or_else(|| Reply::err("ERR numkeys should be greater than 0"))?;
    let where_idx =
        usize::try_from(numkeys).ok().and_then(|n| n.checked_add(numkeys_idx + 1)).filter(|&w| w < a.len()).ok_or_else(syntax)?;
    let max = if is(a[where_idx], "MIN") {
        false
    } else if is(a[where_idx], "MAX") {
        true
    } else {
        return Err(syntax());
    };
    let mut count: Option<usize> = None;
    let mut j = where_idx + 1;
    while j < a.len() {
        if count.is_none() && is(a[j], "COUNT") && j + 1 < a.len() {
            let n = args::int(a[j + 1]).ok().filter(|&n| n >= 1).ok_or_else(|| Reply::err("ERR count should be greater than 0"))?;
            count = Some(usize::try_from(n).unwrap_or(usize::MAX));
            j += 2;
        } else {
            return Err(syntax());
        }
    }
    let timeout = timeout.map(args::timeout_ms).transpose()?;
    let Some(key) = first_zset(ctx, &a[numkeys_idx + 1..where_idx])? else {
        if let Some(t) = timeout {
            ctx.block_for(t);
        }
        return Ok(Reply::Nil);
    };
    let items = pop(ctx, key, max, count.unwrap_or(1))?.unwrap_or_default();
    Ok(Reply::Array(vec![Reply::bulk(key), pairs_reply(&items)]))
}

/// The first of `keys` that exists: a sorted set to pop from (never empty), or WRONGTYPE (a
/// blocked caller passes over keys of another type, see `Ctx::serving_blocked`).
fn first_zset<'k>(ctx: &Ctx<'_>, keys: &[&'k [u8]]) -> Result<Option<&'k [u8]>, Reply> {
    for &k in keys {
        match ctx.lookup(k) {
            None => continue,
            Some(e) if matches!(e.value, Value::ZSet(_)) => return Ok(Some(k)),
            Some(_) if ctx.serving_blocked => continue,
            Some(_) => return Err(Reply::err(WRONGTYPE)),
        }
    }
    Ok(None)
}

/// BZPOPMIN/BZPOPMAX key [key ...] timeout: [key, member, score] from the first non-empty
/// sorted set, or wait for one.
fn bzpop_generic(ctx: &mut Ctx<'_>, a: &[&[u8]], max: bool) -> CmdResult {
    let timeout = args::timeout_ms(a[a.len() - 1])?;
    let Some(key) = first_zset(ctx, &a[1..a.len() - 1])? else {
        ctx.block_for(timeout);
        return Ok(Reply::Nil);
    };
    let items = pop(ctx, key, max, 1)?.unwrap_or_default();
    let mut out = vec![Reply::bulk(key)];
    out.extend(items.into_iter().flat_map(|(m, s)| [Reply::Bulk(m), Reply::Double(s)]));
    Ok(Reply::Array(out))
}

fn bzpopmin(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    bzpop_generic(ctx, a, false)
}

fn bzpopmax(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    bzpop_generic(ctx, a, true)
}

// ---------------------------------------------------------------------------------------------
// ZRANDMEMBER
// ---------------------------------------------------------------------------------------------

fn zrandmember(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let key = a[1];
    let mut rng = rand::rng();
    if a.len() >= 3 {
        // Redis 7.0: the count in -LONG_MAX..=LONG_MAX, and within half of that WITHSCORES.
        let l = super::set::rand_count(a[2])?;
        if a.len() > 4 || (a.len() == 4 && !is(a[3], "WITHSCORES")) {
            return Err(syntax());
        }
        let withscores = a.len() == 4;
        if withscores && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&l) {
            return Err(Reply::err("ERR value is out of range"));
        }
        super::set::check_repeat_cap(l)?;
        let Some(z) = ctx.read_plain::<ZSetValue>(key)? else { return Ok(Reply::Array(Vec::new())) };
        let size = z.len();
        if l == 0 || size == 0 {
            return Ok(Reply::Array(Vec::new()));
        }
        let one = |(m, s): (&[u8], f64)| if withscores { Reply::Array(vec![Reply::bulk(m), Reply::Double(s)]) } else { Reply::bulk(m) };
        // Picks by rank: O(log n) each through the skiplist's rank index; a listpack (a scan
        // per rank) is unpacked once instead.
        let flat: Option<Vec<(&[u8], f64)>> = z.is_listpack().then(|| z.iter().collect());
        let at = |r: usize| match &flat {
            Some(v) => v.get(r).copied(),
            None => z.get_by_rank(r),
        };
        let count = l.unsigned_abs();
        if l < 0 || count == 1 {
            // With repetitions: each pick independent.
            let mut out = Vec::with_capacity(usize::try_from(count).unwrap_or(usize::MAX).min(1024));
            for _ in 0..count {
                if let Some(e) = at(rng.random_range(0..size)) {
                    out.push(one(e));
                }
            }
            return Ok(Reply::Array(out));
        }
        let count = usize::try_from(count).unwrap_or(usize::MAX);
        if count >= size {
            // The whole set, in the order Redis's iterator yields it (highest score first).
            return Ok(Reply::Array(z.iter_rev_from(size - 1).map(one).collect()));
        }
        let picks = rand::seq::index::sample(&mut rng, size, count);
        return Ok(Reply::Array(picks.into_iter().filter_map(at).map(one).collect()));
    }
    let Some(z) = ctx.read_plain::<ZSetValue>(key)? else { return Ok(Reply::Nil) };
    if z.is_empty() {
        return Ok(Reply::Nil);
    }
    Ok(z.get_by_rank(rng.random_range(0..z.len())).map_or(Reply::Nil, |(m, _)| Reply::bulk(m)))
}

// ---------------------------------------------------------------------------------------------
// ZUNION, ZINTER, ZDIFF (+STORE), ZINTERCARD
// ---------------------------------------------------------------------------------------------

/// An input of the set algebra: a sorted set, a plain set (every member scored 1), or nothing.
#[derive(Clone, Copy)]
enum Src<'a> {
    Missing,
    Z(&'a ZSetValue),
    S(&'a SetValue),
}

impl<'a> Src<'a> {
    fn len(&self) -> usize {
        match self {
            Src::Missing => 0,
            Src::Z(z) => z.len(),
            Src::S(s) => s.len(),
        }
    }

    fn find(&self, m: &[u8]) -> Option<f64> {
        match self {
            Src::Missing => None,
            Src::Z(z) => z.score(m),
            Src::S(s) => s.contains(m).then_some(1.0),
        }
    }

    fn iter(&self) -> Box<dyn Iterator<Item = (Member<'a>, f64)> + 'a> {
        match *self {
            Src::Missing => Box::new(std::iter::empty()),
            Src::Z(z) => Box::new(z.iter().map(|(m, s)| (Member::Bytes(m), s))),
            Src::S(s) => Box::new(s.members().map(|m| (m, 1.0))),
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum SetOp {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

/// Redis's `zunionInterAggregate` (inf + -inf in SUM gives 0).
fn aggregate(target: &mut f64, v: f64, agg: Aggregate) {
    match agg {
        Aggregate::Sum => {
            *target += v;
            if target.is_nan() {
                *target = 0.0;
            }
        }
        Aggregate::Min => {
            if v < *target {
                *target = v;
            }
        }
        Aggregate::Max => {
            if v > *target {
                *target = v;
            }
        }
    }
}

/// Redis's `zunionInterDiffGenericCommand`. `name` is the command name for error texts.
fn setop_generic(ctx: &mut Ctx<'_>, a: &[&[u8]], dst: Option<&[u8]>, numkeys_idx: usize, op: SetOp, card_only: bool) -> CmdResult {
    let name = if card_only {
        "zintercard"
    } else {
        match (op, dst.is_some()) {
            (SetOp::Union, true) => "zunionstore",
            (SetOp::Inter, true) => "zinterstore",
            (SetOp::Diff, true) => "zdiffstore",
            (SetOp::Union, false) => "zunion",
            (SetOp::Inter, false) => "zinter",
            (SetOp::Diff, false) => "zdiff",
        }
    };
    let setnum = args::int(a[numkeys_idx])?;
    if setnum < 1 {
        return Err(Reply::err_owned(format!("ERR at least 1 input key is needed for '{name}' command")));
    }
    let first = numkeys_idx + 1;
    let setnum = usize::try_from(setnum).unwrap_or(usize::MAX);
    if setnum > a.len() - first {
        return Err(syntax());
    }
    let keys = &a[first..first + setnum];

    let result = {
        // Inputs are type-checked before the options are parsed, as Redis does.
        let mut srcs: Vec<(Src<'_>, f64)> = Vec::with_capacity(setnum);
        for k in keys {
            let src = match ctx.lookup_counted(k) {
                None => Src::Missing,
                // Sorted sets and sets are never packed: they are in their nodes.
                Some(e) => match e.as_node().map(|e| &e.value) {
                    Some(Value::ZSet(z)) => Src::Z(z),
                    Some(Value::Set(s)) => Src::S(s),
                    _ => return Err(Reply::err(WRONGTYPE)),
                },
            };
            srcs.push((src, 1.0));
        }
        let mut agg = Aggregate::Sum;
        let mut withscores = false;
        let mut limit = 0usize;
        let mut j = first + setnum;
        while j < a.len() {
            let remaining = a.len() - j;
            if op != SetOp::Diff && !card_only && remaining > setnum && is(a[j], "WEIGHTS") {
                j += 1;
                for src in srcs.iter_mut() {
                    src.1 = num::parse_f64(a[j]).ok_or_else(|| Reply::err("ERR weight value is not a float"))?;
                    j += 1;
                }
            } else if op != SetOp::Diff && !card_only && remaining >= 2 && is(a[j], "AGGREGATE") {
                let v = a[j + 1];
                agg = if is(v, "SUM") {
                    Aggregate::Sum
                } else if is(v, "MIN") {
                    Aggregate::Min
                } else if is(v, "MAX") {
                    Aggregate::Max
                } else {
                    return Err(syntax());
                };
                j += 2;
            } else if dst.is_none() && !card_only && is(a[j], "WITHSCORES") {
                withscores = true;
                j += 1;
            } else if card_only && remaining >= 2 && is(a[j], "LIMIT") {
                let n = args::int(a[j + 1]).ok().filter(|&n| n >= 0).ok_or_else(|| Reply::err("ERR LIMIT can't be negative"))?;
                limit = usize::try_from(n).unwrap_or(usize::MAX);
                j += 2;
            } else {
                return Err(syntax());
            }
        }
        if op != SetOp::Diff {
            // Smallest input first, as Redis does (fewest probes for INTER).
            srcs.sort_by_key(|(s, _)| s.len());
        }

        let mut out: Vec<(Vec<u8>, f64)> = Vec::new();
        let mut card = 0usize;
        match op {
            SetOp::Inter => {
                let (head, w0) = srcs[0];
                for (m, s) in head.iter() {
                    let mut score = w0 * s;
                    if score.is_nan() {
                        score = 0.0;
                    }
                    let mut all = true;
                    for (src, w) in &srcs[1..] {
                        match src.find(&m) {
                            Some(v) => aggregate(&mut score, v * w, agg),
                            None => {
                                all = false;
                                break;
                            }
                        }
                    }
                    if !all {
                        continue;
                    }
                    if card_only {
                        card += 1;
                        if limit > 0 && card >= limit {
                            break;
                        }
                    } else {
                        out.push((m.to_vec(), score));
                    }
                }
            }
            SetOp::Union => {
                let mut acc: HashMap<Member<'_>, f64> = HashMap::with_capacity(srcs.last().map_or(0, |(s, _)| s.len()));
                for (src, w) in &srcs {
                    for (m, s) in src.iter() {
                        let mut score = w * s;
                        if score.is_nan() {
                            score = 0.0;
                        }
                        match acc.get_mut(&m) {
                            Some(t) => aggregate(t, score, agg),
                            None => {
                                acc.insert(m, score);
                            }
                        }
                    }
                }
                out = acc.into_iter().map(|(m, s)| (m.to_vec(), s)).collect();
            }
            SetOp::Diff => {
                let (head, _) = srcs[0];
                for (m, s) in head.iter() {
                    if srcs[1..].iter().all(|(src, _)| src.find(&m).is_none()) {
                        out.push((m.to_vec(), s));
                    }
                }
            }
        }
        (out, card, withscores)
    };

    let (mut out, card, withscores) = result;
    if card_only {
        return Ok(Reply::Int(card as i64));
    }
    if let Some(dst) = dst {
        let z = ZSetValue::from_entries(out, &ctx.limits());
        return Ok(store_result(ctx, dst, z));
    }
    out.sort_by(|x, y| x.1.partial_cmp(&y.1).unwrap_or(Ordering::Equal).then_with(|| x.0.cmp(&y.0)));
    Ok(members_reply(out.iter().map(|(m, s)| (m.as_slice(), *s)), withscores))
}

fn zunionstore(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    setop_generic(ctx, a, Some(a[1]), 2, SetOp::Union, false)
}

fn zinterstore(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    setop_generic(ctx, a, Some(a[1]), 2, SetOp::Inter, false)
}

fn zdiffstore(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    setop_generic(ctx, a, Some(a[1]), 2, SetOp::Diff, false)
}

fn zunion(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    setop_generic(ctx, a, None, 1, SetOp::Union, false)
}

fn zinter(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    setop_generic(ctx, a, None, 1, SetOp::Inter, false)
}

fn zdiff(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    setop_generic(ctx, a, None, 1, SetOp::Diff, false)
}

fn zintercard(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    setop_generic(ctx, a, None, 1, SetOp::Inter, true)
}

// ---------------------------------------------------------------------------------------------
// ZSCAN
// ---------------------------------------------------------------------------------------------

fn zscan(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    // Redis validates the cursor, then looks the key up, then parses the options.
    let opts = parse_scan(a, 2, false);
    if let Err(e) = &opts {
        if e.error_text() == Some("ERR invalid cursor") {
            return Err(e.clone());
        }
    }
    let Some(z) = ctx.read_plain::<ZSetValue>(a[1])? else { return Ok(scan_reply(0, Vec::new())) };
    let o = opts?;
    let matches = |m: &[u8]| o.pattern.is_none_or(|p| glob_match(p, m));
    let Some(map) = z.members_map() else {
        let mut items = Vec::new();
        for (m, s) in z.iter() {
            if matches(m) {
                items.push(Reply::bulk(m));
                items.push(Reply::Bulk(format_d2string(s).into_bytes()));
            }
        }
        return Ok(scan_reply(0, items));
    };
    // Skiplist encoding: the member map's bucket cursor (Redis's guarantee), scores printed as
    // Redis's skiplist encoding prints them (%.17g).
    Ok(super::set::scan_dict(map, &o, false, 2, |out, m, s| {
        out.push(Reply::bulk(m));
        out.push(Reply::Bulk(format_g17(*s).into_bytes()));
    }))
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyspace::LockSet;
    use crate::Db;

    fn run(db: &Db, cmd: &str) -> Reply {
        let parts = split(cmd);
        let argv: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        db.execute(&argv)
    }

    /// Whitespace-separated words; `''` is an empty argument.
    fn split(cmd: &str) -> Vec<Vec<u8>> {
        cmd.split_whitespace().map(|w| if w == "''" { Vec::new() } else { w.as_bytes().to_vec() }).collect()
    }

    fn b(s: &str) -> Reply {
        Reply::Bulk(s.as_bytes().to_vec())
    }

    fn d(x: f64) -> Reply {
        Reply::Double(x)
    }

    fn int(n: i64) -> Reply {
        Reply::Int(n)
    }

    fn err(s: &str) -> Reply {
        Reply::Error(s.to_string().into())
    }

    fn arr(v: Vec<Reply>) -> Reply {
        Reply::Array(v)
    }

    fn members(ms: &[&str]) -> Reply {
        arr(ms.iter().map(|m| b(m)).collect())
    }

    fn pairs(ps: &[(&str, f64)]) -> Reply {
        arr(ps.iter().map(|(m, s)| arr(vec![b(m), d(*s)])).collect())
    }

    const WRONG: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
    const SYNTAX: &str = "ERR syntax error";
    const NOT_INT: &str = "ERR value is not an integer or out of range";

    fn db_with(cmds: &[&str]) -> Db {
        let db = Db::open_in_memory();
        for c in cmds {
            let r = run(&db, c);
            assert!(!r.is_error(), "{c}: {r:?}");
        }
        db
    }

    /// Did `cmd` signal a modification of `key`? (WATCH, run, then EXEC aborts iff it did.)
    fn signals(db: &Db, key: &str, cmd: &str) -> bool {
        let mut s = db.session();
        assert_eq!(s.execute(&[b"WATCH", key.as_bytes()]), Reply::OK);
        let r = run(db, cmd);
        assert!(!r.is_error(), "{cmd}: {r:?}");
        assert_eq!(s.execute(&[b"MULTI"]), Reply::OK);
        s.execute(&[b"PING"]);
        s.execute(&[b"EXEC"]) == Reply::Nil
    }

    /// Store a plain SET value directly (independent of the set command family).
    fn put_set(db: &Db, key: &str, ms: &[&str]) {
        let mut set = SetValue::new();
        for m in ms {
            set.insert(m.as_bytes(), &crate::keyspace::EncodingLimits::default());
        }
        let mut ctx = db.keyspace().lock(&LockSet::All, true);
        ctx.insert(key.as_bytes(), Value::Set(set), 0);
    }

    #[test]
    fn zadd_basic_and_options() {
        let db = db_with(&[]);
        assert_eq!(run(&db, "ZADD z 1 a 2 b 3 c"), int(3));
        assert_eq!(run(&db, "ZADD z 1 a 5 b"), int(0));
        assert_eq!(run(&db, "ZSCORE z b"), d(5.0));
        assert_eq!(run(&db, "ZADD z CH 5 b 6 c 7 d"), int(2));
        assert_eq!(run(&db, "ZADD z NX 100 a 8 e"), int(1));
        assert_eq!(run(&db, "ZSCORE z a"), d(1.0));
        assert_eq!(run(&db, "ZADD z XX 10 a 9 nope"), int(0));
        assert_eq!(run(&db, "ZSCORE z a"), d(10.0));
        assert_eq!(run(&db, "ZSCORE z nope"), Reply::Nil);
        assert_eq!(run(&db, "ZADD z GT CH 5 a 11 c"), int(1));
        assert_eq!(run(&db, "ZSCORE z a"), d(10.0));
        assert_eq!(run(&db, "ZADD z LT CH 5 a 20 c 0 new"), int(2));
        assert_eq!(run(&db, "ZSCORE z a"), d(5.0));
        assert_eq!(run(&db, "ZSCORE z new"), d(0.0));
        assert_eq!(run(&db, "ZADD z 1 dup 1 dup 2 dup"), int(1));
        assert_eq!(run(&db, "ZSCORE z dup"), d(2.0));
        assert_eq!(run(&db, "ZADD z CH 3 dup 3 dup"), int(1));
        assert_eq!(run(&db, "zadd z nx ch 1 fresh"), int(1));
    }

    #[test]
    fn zadd_errors() {
        let db = db_with(&["SET str x"]);
        assert_eq!(run(&db, "ZADD z NX XX 1 a"), err("ERR XX and NX options at the same time are not compatible"));
        for c in ["ZADD z NX GT 1 a", "ZADD z NX LT 1 a", "ZADD z GT LT 1 a"] {
            assert_eq!(run(&db, c), err("ERR GT, LT, and/or NX options at the same time are not compatible"), "{c}");
        }
        assert_eq!(run(&db, "ZADD z INCR 1 a 2 b"), err("ERR INCR option supports a single increment-element pair"));
        assert_eq!(run(&db, "ZADD z 1"), err("ERR wrong number of arguments for 'zadd' command"));
        assert_eq!(run(&db, "ZADD z 1 a 2"), err(SYNTAX));
        // The element count is checked before option compatibility, as in Redis.
        assert_eq!(run(&db, "ZADD z NX XX 1"), err(SYNTAX));
        assert_eq!(run(&db, "ZADD z x a"), err("ERR value is not a valid float"));
        assert_eq!(run(&db, "ZADD z 1 a nan b"), err("ERR value is not a valid float"));
        assert_eq!(run(&db, "ZADD z 1e999 a"), err("ERR value is not a valid float"), "overflow is refused");
        assert_eq!(run(&db, "ZADD z 1e-400 a"), err("ERR value is not a valid float"), "underflow to 0 is refused");
        assert_eq!(run(&db, "EXISTS z"), int(0), "a bad score adds nothing");
        assert_eq!(run(&db, "ZADD str 1 a"), err(WRONG));
    }

    #[test]
    fn zadd_incr_and_zincrby() {
        let db = db_with(&[]);
        assert_eq!(run(&db, "ZADD z XX 1 a"), int(0));
        assert_eq!(run(&db, "ZADD z XX INCR 1 a"), Reply::Nil);
        assert_eq!(run(&db, "EXISTS z"), int(0), "XX never creates the key");
        assert_eq!(run(&db, "ZADD z INCR 1.5 a"), d(1.5));
        assert_eq!(run(&db, "ZADD z INCR 2 a"), d(3.5));
        assert_eq!(run(&db, "ZADD z NX INCR 1 a"), Reply::Nil);
        assert_eq!(run(&db, "ZADD z GT INCR -1 a"), Reply::Nil);
        assert_eq!(run(&db, "ZADD z LT INCR -1 a"), d(2.5));
        assert_eq!(run(&db, "ZADD z LT INCR 0 a"), Reply::Nil);
        assert_eq!(run(&db, "ZADD z INCR 0 a"), d(2.5));
        assert_eq!(run(&db, "ZADD z INCR inf a"), d(f64::INFINITY));
        assert_eq!(run(&db, "ZADD z INCR -inf a"), err("ERR resulting score is not a number (NaN)"));
        assert_eq!(run(&db, "ZSCORE z a"), d(f64::INFINITY));
        assert_eq!(run(&db, "ZINCRBY z 1 a"), d(f64::INFINITY));
        assert_eq!(run(&db, "ZINCRBY z 2 b"), d(2.0));
        assert_eq!(run(&db, "ZINCRBY z -0.5 b"), d(1.5));
        assert_eq!(run(&db, "ZINCRBY z x b"), err("ERR value is not a valid float"));
        assert_eq!(run(&db, "ZINCRBY nz -inf a"), d(f64::NEG_INFINITY));
        assert_eq!(run(&db, "ZINCRBY nz inf a"), err("ERR resulting score is not a number (NaN)"));
        assert_eq!(run(&db, "ZINCRBY z 1"), err("ERR wrong number of arguments for 'zincrby' command"));
        // ZINCRBY shares ZADD's option parser: an option word as increment is a syntax error.
        assert_eq!(run(&db, "ZINCRBY z nx a"), err(SYNTAX));
        let db = db_with(&["SET str x"]);
        assert_eq!(run(&db, "ZINCRBY str 1 a"), err(WRONG));
    }

    #[test]
    fn zadd_signals_only_real_changes() {
        let db = db_with(&["ZADD z 1 a 2 b"]);
        assert!(!signals(&db, "z", "ZADD z 1 a 2 b"));
        assert!(!signals(&db, "z", "ZADD z NX 5 a"));
        assert!(!signals(&db, "z", "ZADD z GT 0 a"));
        assert!(!signals(&db, "z", "ZADD z INCR 0 a"));
        assert!(signals(&db, "z", "ZADD z 3 a"));
        assert!(signals(&db, "z", "ZADD z 3 c"));
        assert!(!signals(&db, "z", "ZREM z nope"));
        assert!(signals(&db, "z", "ZREM z c"));
        assert!(!signals(&db, "z", "ZREMRANGEBYSCORE z 100 200"));
        assert!(!signals(&db, "z", "ZPOPMIN z 0"));
        assert!(signals(&db, "z", "ZPOPMIN z"));
        assert!(!signals(&db, "n", "ZADD n XX 1 a"));
    }

    #[test]
    fn zrem_zcard_zscore_zmscore() {
        let db = db_with(&["ZADD z 1 a 2 b 3 c", "SET str x"]);
        assert_eq!(run(&db, "ZREM z a nope a"), int(1));
        assert_eq!(run(&db, "ZCARD z"), int(2));
        assert_eq!(run(&db, "ZREM z b c"), int(2));
        assert_eq!(run(&db, "EXISTS z"), int(0), "empty sorted sets are deleted");
        assert_eq!(run(&db, "ZREM nokey a"), int(0));
        assert_eq!(run(&db, "ZCARD nokey"), int(0));
        assert_eq!(run(&db, "ZSCORE nokey a"), Reply::Nil);
        let db = db_with(&["ZADD z 1 a -inf b", "SET str x"]);
        assert_eq!(run(&db, "ZMSCORE z a nope b"), arr(vec![d(1.0), Reply::Nil, d(f64::NEG_INFINITY)]));
        assert_eq!(run(&db, "ZMSCORE nokey a b"), arr(vec![Reply::Nil, Reply::Nil]));
        for c in ["ZREM str a", "ZCARD str", "ZSCORE str a", "ZMSCORE str a", "ZRANK str a", "ZCOUNT str 0 1", "ZLEXCOUNT str - +"] {
            assert_eq!(run(&db, c), err(WRONG), "{c}");
        }
    }

    #[test]
    fn negative_zero_is_stored_as_zero() {
        let db = db_with(&["ZADD z -0 a 1 b"]);
        assert_eq!(run(&db, "ZSCORE z a"), d(0.0));
        match run(&db, "ZSCORE z a") {
            Reply::Double(v) => assert!(v.is_sign_positive()),
            r => panic!("{r:?}"),
        }
        assert_eq!(run(&db, "ZRANGEBYSCORE z 0 0"), members(&["a"]));
        assert_eq!(run(&db, "ZRANGEBYSCORE z -0 (1"), members(&["a"]));
    }

    #[test]
    fn ranks_and_ties() {
        // Equal scores order by member bytes.
        let db = db_with(&["ZADD z 1 b 1 a 1 c 0 z 2 A"]);
        assert_eq!(run(&db, "ZRANGE z 0 -1"), members(&["z", "a", "b", "c", "A"]));
        assert_eq!(run(&db, "ZRANK z a"), int(1));
        assert_eq!(run(&db, "ZREVRANK z a"), int(3));
        assert_eq!(run(&db, "ZRANK z c WITHSCORE"), arr(vec![int(3), d(1.0)]));
        assert_eq!(run(&db, "ZREVRANK z A withscore"), arr(vec![int(0), d(2.0)]));
        assert_eq!(run(&db, "ZRANK z nope"), Reply::Nil);
        assert_eq!(run(&db, "ZRANK z nope WITHSCORE"), Reply::Nil);
        assert_eq!(run(&db, "ZRANK nokey a"), Reply::Nil);
        assert_eq!(run(&db, "ZRANK z a foo"), err(SYNTAX));
        assert_eq!(run(&db, "ZRANK z a WITHSCORE x"), err("ERR wrong number of arguments for 'zrank' command"));
        assert_eq!(run(&db, "ZREVRANK z a WITHSCORE x"), err("ERR wrong number of arguments for 'zrevrank' command"));
        // Binary-safe ordering: bytes compare unsigned.
        let db = Db::open_in_memory();
        assert_eq!(db.execute(&[b"ZADD", b"z", b"0", b"\xff", b"0", b"\x00", b"0", b"a"]), int(3));
        assert_eq!(db.execute(&[b"ZRANGE", b"z", b"0", b"-1"]), arr(vec![b("\0"), b("a"), Reply::Bulk(vec![0xff])]));
    }

    #[test]
    fn zcount_and_score_syntax() {
        let db = db_with(&["ZADD z -inf n 1 a 1.5 b 2 c 3 d +inf p", "SET str x"]);
        assert_eq!(run(&db, "ZCOUNT z -inf +inf"), int(6));
        assert_eq!(run(&db, "ZCOUNT z -inf inf"), int(6));
        assert_eq!(run(&db, "ZCOUNT z (-inf (+inf"), int(4));
        assert_eq!(run(&db, "ZCOUNT z (1 2"), int(2));
        assert_eq!(run(&db, "ZCOUNT z (1.5 (2"), int(0));
        assert_eq!(run(&db, "ZCOUNT z 1 1"), int(1));
        assert_eq!(run(&db, "ZCOUNT z (1 (1"), int(0));
        assert_eq!(run(&db, "ZCOUNT z 3 1"), int(0));
        assert_eq!(run(&db, "ZCOUNT z -Infinity 1e0"), int(2));
        assert_eq!(run(&db, "ZCOUNT z 0x1 0x2"), int(3), "strtod accepts hex");
        assert_eq!(run(&db, "ZCOUNT z ( 1"), int(1), "strtod of an empty string is 0");
        assert_eq!(run(&db, "ZCOUNT z '' 1"), int(1));
        assert_eq!(run(&db, "ZCOUNT nokey 0 1"), int(0));
        for bad in [
            "ZCOUNT z nan 1",
            "ZCOUNT z 1 (nan",
            "ZCOUNT z x 1",
            "ZCOUNT z 1 2x",
            "ZCOUNT z [1 2",
            "ZCOUNT z + 2",
            "ZCOUNT nokey x 1",
            "ZCOUNT str x 1",
        ] {
            assert_eq!(run(&db, bad), err("ERR min or max is not a float"), "{bad}");
        }
        assert_eq!(db.execute(&[b"ZCOUNT", b"z", b" 1", b"1 "]), err("ERR min or max is not a float"));
        assert_eq!(db.execute(&[b"ZCOUNT", b"z", b" 1", b"2"]), int(3), "leading blanks are skipped by strtod");
    }

    #[test]
    fn strtod_and_formatting_helpers() {
        assert_eq!(num::strtod_whole(b"1.5"), Some(1.5));
        assert_eq!(num::strtod_whole(b"-1e3"), Some(-1000.0));
        assert_eq!(num::strtod_whole(b"5."), Some(5.0));
        assert_eq!(num::strtod_whole(b".5"), Some(0.5));
        assert_eq!(num::strtod_whole(b"0x10"), Some(16.0));
        assert_eq!(num::strtod_whole(b"0x1.8p1"), Some(3.0));
        assert_eq!(num::strtod_whole(b"1e999"), Some(f64::INFINITY));
        assert_eq!(num::strtod_whole(b"1\0junk"), Some(1.0));
        assert_eq!(num::strtod_whole(b"1e"), None);
        assert_eq!(num::strtod_whole(b"."), None);
        assert_eq!(num::strtod_whole(b"-"), None);
        assert_eq!(num::strtod_whole(b"NaN"), None);
        assert_eq!(num::parse_f64(b"1.5"), Some(1.5));
        assert_eq!(num::parse_f64(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(num::parse_f64(b"+Infinity"), Some(f64::INFINITY));
        assert_eq!(num::parse_f64(b"0x10"), Some(16.0));
        assert_eq!(num::parse_f64(b"1e-320"), Some(1e-320), "subnormal results are kept");
        assert_eq!(num::parse_f64(b"0e5"), Some(0.0));
        assert_eq!(num::parse_f64(b"-0.000"), Some(-0.0));
        for bad in [&b""[..], b" 1", b"1 ", b"nan", b"1e999", b"-1e999", b"1e-400", b"0x1p-2000", b"1\0", b"abc"] {
            assert_eq!(num::parse_f64(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
        assert_eq!(format_g17(0.1), "0.10000000000000001");
        assert_eq!(format_g17(1.5), "1.5");
        assert_eq!(format_g17(1e17), "1e+17");
        assert_eq!(format_g17(123456789012345678.0), "1.2345678901234568e+17");
        assert_eq!(format_g17(1e-5), "1.0000000000000001e-05");
        assert_eq!(format_g17(2.5e-300), "2.5e-300");
        assert_eq!(format_g17(3.0000000000000004), "3.0000000000000004");
        assert_eq!(format_g17(-5.0), "-5");
        assert_eq!(format_g17(1e16), "10000000000000000");
        assert_eq!(format_g17(f64::NEG_INFINITY), "-inf");
        assert_eq!(format_d2string(1e17), "100000000000000000");
        assert_eq!(format_d2string(1e18), "1000000000000000000");
        assert_eq!(format_d2string(1e19), "1e+19");
        assert_eq!(format_d2string(4503599627370497.0), "4503599627370497");
        assert_eq!(format_d2string(0.0), "0");
        assert_eq!(format_d2string(f64::INFINITY), "inf");
    }

    #[test]
    fn zrange_by_rank() {
        let db = db_with(&["ZADD z 1 a 2 b 3 c 4 d 5 e", "SET str x"]);
        assert_eq!(run(&db, "ZRANGE z 0 -1"), members(&["a", "b", "c", "d", "e"]));
        assert_eq!(run(&db, "ZRANGE z -100 1 WITHSCORES"), pairs(&[("a", 1.0), ("b", 2.0)]));
        assert_eq!(run(&db, "ZRANGE z 2 100 REV withscores"), pairs(&[("c", 3.0), ("b", 2.0), ("a", 1.0)]));
        assert_eq!(run(&db, "ZRANGE z 1 0"), members(&[]));
        assert_eq!(run(&db, "ZRANGE z -1 -2"), members(&[]));
        assert_eq!(run(&db, "ZRANGE z 5 10"), members(&[]));
        assert_eq!(run(&db, "ZRANGE z -1 -1"), members(&["e"]));
        assert_eq!(run(&db, "ZRANGE z 0 -1 WITHSCORES WITHSCORES"), run(&db, "ZRANGE z 0 -1 WITHSCORES"));
        assert_eq!(run(&db, "ZREVRANGE z 0 1 WITHSCORES"), pairs(&[("e", 5.0), ("d", 4.0)]));
        assert_eq!(run(&db, "ZREVRANGE z -2 -1"), members(&["b", "a"]));
        assert_eq!(run(&db, "ZRANGE nokey 0 -1"), members(&[]));
        assert_eq!(run(&db, "ZRANGE str 0 -1"), err(WRONG));
        assert_eq!(run(&db, "ZRANGE str x 1"), err(NOT_INT), "argument errors come before WRONGTYPE");
        assert_eq!(run(&db, "ZRANGE z x 1"), err(NOT_INT));
        assert_eq!(
            run(&db, "ZRANGE z 0 1 LIMIT 0 1"),
            err("ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX")
        );
        assert_eq!(
            run(&db, "ZREVRANGE z 0 1 LIMIT 0 1"),
            err("ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX")
        );
        // LIMIT with count -1 is indistinguishable from no LIMIT in Redis.
        assert_eq!(run(&db, "ZRANGE z 0 -1 LIMIT 5 -1"), members(&["a", "b", "c", "d", "e"]));
        assert_eq!(run(&db, "ZRANGE z 0 1 LIMIT x 1"), err(NOT_INT));
        for c in [
            "ZRANGE z 0 1 REV REV",
            "ZRANGE z 0 1 BYSCORE BYLEX",
            "ZRANGE z 0 1 foo",
            "ZRANGE z 0 1 LIMIT 1",
            "ZREVRANGE z 0 1 BYSCORE",
            "ZREVRANGE z 0 1 REV",
        ] {
            assert_eq!(run(&db, c), err(SYNTAX), "{c}");
        }
    }

    #[test]
    fn zrange_by_score() {
        let db = db_with(&["ZADD z 1 a 2 b 3 c 4 d 5 e 3 cc"]);
        assert_eq!(run(&db, "ZRANGE z (1 3 BYSCORE"), members(&["b", "c", "cc"]));
        assert_eq!(run(&db, "ZRANGE z (1 3 BYSCORE LIMIT 1 1 WITHSCORES"), pairs(&[("c", 3.0)]));
        assert_eq!(run(&db, "ZRANGE z 3 (1 BYSCORE REV WITHSCORES"), pairs(&[("cc", 3.0), ("c", 3.0), ("b", 2.0)]));
        assert_eq!(run(&db, "ZRANGE z +inf -inf BYSCORE REV LIMIT 1 2"), members(&["d", "cc"]));
        assert_eq!(run(&db, "ZRANGE z -inf +inf BYSCORE LIMIT 1 -1"), members(&["b", "c", "cc", "d", "e"]));
        assert_eq!(run(&db, "ZRANGE z -inf +inf BYSCORE LIMIT 1 0"), members(&[]));
        assert_eq!(run(&db, "ZRANGE z -inf +inf BYSCORE LIMIT -1 5"), members(&[]));
        assert_eq!(run(&db, "ZRANGE z -inf +inf BYSCORE LIMIT 6 5"), members(&[]));
        assert_eq!(run(&db, "ZRANGE z -inf +inf BYSCORE LIMIT 5 5"), members(&["e"]));
        assert_eq!(run(&db, "ZRANGE z 5 0 BYSCORE"), members(&[]));
        assert_eq!(run(&db, "ZRANGE z (inf +inf BYSCORE"), members(&[]));
        assert_eq!(run(&db, "ZRANGEBYSCORE z -inf +inf WITHSCORES LIMIT 1 2"), pairs(&[("b", 2.0), ("c", 3.0)]));
        assert_eq!(run(&db, "ZRANGEBYSCORE z 3 3"), members(&["c", "cc"]));
        assert_eq!(run(&db, "ZREVRANGEBYSCORE z +inf -inf WITHSCORES LIMIT 1 2"), pairs(&[("d", 4.0), ("cc", 3.0)]));
        assert_eq!(run(&db, "ZREVRANGEBYSCORE z 2 4"), members(&[]));
        assert_eq!(run(&db, "ZREVRANGEBYSCORE z (4 2"), members(&["cc", "c", "b"]));
        assert_eq!(run(&db, "ZRANGE z x 1 BYSCORE"), err("ERR min or max is not a float"));
        for c in [
            "ZRANGEBYSCORE z -inf +inf REV",
            "ZRANGEBYSCORE z -inf +inf BYSCORE",
            "ZRANGEBYSCORE z -inf +inf LIMIT 0",
            "ZREVRANGEBYSCORE z 1 0 BYLEX",
        ] {
            assert_eq!(run(&db, c), err(SYNTAX), "{c}");
        }
    }

    #[test]
    fn zrange_by_lex() {
        let db = db_with(&["ZADD l 0 a 0 b 0 c 0 d 0 e 0 bb"]);
        assert_eq!(run(&db, "ZRANGE l - + BYLEX"), members(&["a", "b", "bb", "c", "d", "e"]));
        assert_eq!(run(&db, "ZRANGE l + - BYLEX REV LIMIT 1 2"), members(&["d", "c"]));
        assert_eq!(run(&db, "ZRANGE l (a [c BYLEX"), members(&["b", "bb", "c"]));
        assert_eq!(run(&db, "ZRANGE l [c (a BYLEX REV"), members(&["c", "bb", "b"]));
        assert_eq!(run(&db, "ZRANGE l - (c BYLEX LIMIT 0 -1"), members(&["a", "b", "bb"]));
        assert_eq!(run(&db, "ZRANGE l [b [b BYLEX"), members(&["b"]));
        assert_eq!(run(&db, "ZRANGE l (b [b BYLEX"), members(&[]));
        assert_eq!(run(&db, "ZRANGE l (b (bc BYLEX"), members(&["bb"]));
        assert_eq!(run(&db, "ZRANGE l + - BYLEX"), members(&[]));
        assert_eq!(run(&db, "ZRANGE l [ (b BYLEX"), members(&["a"]), "an empty bound is the empty string");
        assert_eq!(run(&db, "ZRANGEBYLEX l - + LIMIT 1 2"), members(&["b", "bb"]));
        assert_eq!(run(&db, "ZREVRANGEBYLEX l + - LIMIT 1 2"), members(&["d", "c"]));
        assert_eq!(run(&db, "ZREVRANGEBYLEX l [c - "), members(&["c", "bb", "b", "a"]));
        assert_eq!(run(&db, "ZLEXCOUNT l - +"), int(6));
        assert_eq!(run(&db, "ZLEXCOUNT l [b (d"), int(3));
        assert_eq!(run(&db, "ZLEXCOUNT nokey - +"), int(0));
        for c in [
            "ZRANGE l a b BYLEX",
            "ZRANGE l [a +b BYLEX",
            "ZRANGE l -a + BYLEX",
            "ZLEXCOUNT l x +",
            "ZLEXCOUNT nokey - x",
            "ZRANGEBYLEX l '' +",
        ] {
            assert_eq!(run(&db, c), err("ERR min or max not valid string range item"), "{c}");
        }
        assert_eq!(run(&db, "ZRANGE l - + BYLEX WITHSCORES"), err("ERR syntax error, WITHSCORES not supported in combination with BYLEX"));
        assert_eq!(run(&db, "ZRANGEBYLEX l - + WITHSCORES"), err("ERR syntax error, WITHSCORES not supported in combination with BYLEX"));
        assert_eq!(run(&db, "ZRANGEBYLEX l - + BYSCORE"), err(SYNTAX));
        assert_eq!(run(&db, "ZRANGEBYLEX l - + REV"), err(SYNTAX));
    }

    #[test]
    fn zrangestore() {
        let db = db_with(&["ZADD z 1 a 2 b 3 c 4 d 5 e", "ZADD l 0 a 0 b 0 c", "SET str x"]);
        assert_eq!(run(&db, "ZRANGESTORE dst z 0 1"), int(2));
        assert_eq!(run(&db, "ZRANGE dst 0 -1 WITHSCORES"), pairs(&[("a", 1.0), ("b", 2.0)]));
        assert_eq!(run(&db, "ZRANGESTORE dst z 1 3 BYSCORE LIMIT 1 1"), int(1));
        assert_eq!(run(&db, "ZRANGE dst 0 -1 WITHSCORES"), pairs(&[("b", 2.0)]));
        assert_eq!(run(&db, "ZRANGESTORE dst z 0 -1 REV"), int(5));
        assert_eq!(run(&db, "ZRANGE dst 0 -1"), members(&["a", "b", "c", "d", "e"]));
        assert_eq!(run(&db, "ZRANGESTORE dst l [b [c BYLEX"), int(2));
        assert_eq!(run(&db, "ZRANGE dst 0 -1"), members(&["b", "c"]));
        // REV swaps the bounds: [b [c is then max=[b min=[c, an empty range; dst is deleted.
        assert_eq!(run(&db, "ZRANGESTORE dst l [b [c BYLEX REV"), int(0));
        assert_eq!(run(&db, "EXISTS dst"), int(0));
        assert_eq!(run(&db, "ZRANGESTORE dst z 0 0"), int(1));
        assert_eq!(run(&db, "ZRANGESTORE dst nokey 0 -1"), int(0));
        assert_eq!(run(&db, "EXISTS dst"), int(0));
        assert_eq!(run(&db, "ZRANGESTORE dst z 0 -1 WITHSCORES"), err(SYNTAX));
        assert_eq!(run(&db, "ZRANGESTORE dst str 0 -1"), err(WRONG));
        // The destination's old type does not matter; it is replaced (TTL included).
        assert_eq!(run(&db, "ZRANGESTORE str z 0 1"), int(2));
        assert_eq!(run(&db, "TYPE str"), Reply::status("zset"));
        assert_eq!(run(&db, "ZRANGESTORE z z 1 2"), int(2), "source and destination may be the same key");
        assert_eq!(run(&db, "ZRANGE z 0 -1"), members(&["b", "c"]));
        assert!(!signals(&db, "nothing", "ZRANGESTORE nothing nokey 0 -1"));
        assert!(signals(&db, "dst", "ZRANGESTORE dst z 0 -1"));
    }

    #[test]
    fn zremrange_family() {
        let db = db_with(&["ZADD z 1 a 2 b 3 c 4 d 5 e", "SET str x"]);
        assert_eq!(run(&db, "ZREMRANGEBYRANK z 10 20"), int(0));
        assert_eq!(run(&db, "ZREMRANGEBYRANK z -2 -1"), int(2));
        assert_eq!(run(&db, "ZRANGE z 0 -1"), members(&["a", "b", "c"]));
        assert_eq!(run(&db, "ZREMRANGEBYSCORE z (1 2"), int(1));
        assert_eq!(run(&db, "ZREMRANGEBYSCORE z 5 1"), int(0));
        assert_eq!(run(&db, "ZRANGE z 0 -1"), members(&["a", "c"]));
        assert_eq!(run(&db, "ZREMRANGEBYLEX z - +"), int(2));
        assert_eq!(run(&db, "EXISTS z"), int(0));
        assert_eq!(run(&db, "ZREMRANGEBYRANK nokey 0 1"), int(0));
        assert_eq!(run(&db, "ZREMRANGEBYRANK z x 1"), err(NOT_INT));
        assert_eq!(run(&db, "ZREMRANGEBYSCORE z x 1"), err("ERR min or max is not a float"));
        assert_eq!(run(&db, "ZREMRANGEBYLEX z x +"), err("ERR min or max not valid string range item"));
        assert_eq!(run(&db, "ZREMRANGEBYSCORE str x 2"), err("ERR min or max is not a float"));
        for c in ["ZREMRANGEBYSCORE str 1 2", "ZREMRANGEBYLEX str - +", "ZREMRANGEBYRANK str 0 1"] {
            assert_eq!(run(&db, c), err(WRONG), "{c}");
        }
        let db = db_with(&["ZADD l 0 a 0 b 0 c 0 d"]);
        assert_eq!(run(&db, "ZREMRANGEBYLEX l (a [c"), int(2));
        assert_eq!(run(&db, "ZRANGE l 0 -1"), members(&["a", "d"]));
        assert_eq!(run(&db, "ZREMRANGEBYRANK l 0 0"), int(1));
        assert_eq!(run(&db, "ZREMRANGEBYSCORE l -inf +inf"), int(1));
        assert_eq!(run(&db, "EXISTS l"), int(0));
    }

    #[test]
    fn zpop_shapes() {
        let db = db_with(&["ZADD z 1 a 2 b 3 c", "SET str x"]);
        // RESP3: without COUNT a flat [member, score]; with COUNT an array of pairs.
        assert_eq!(run(&db, "ZPOPMAX z"), arr(vec![b("c"), d(3.0)]));
        assert_eq!(run(&db, "ZPOPMIN z 1"), pairs(&[("a", 1.0)]));
        assert_eq!(run(&db, "ZPOPMAX z 0"), arr(vec![]));
        assert_eq!(run(&db, "ZPOPMAX z 5"), pairs(&[("b", 2.0)]));
        assert_eq!(run(&db, "EXISTS z"), int(0));
        assert_eq!(run(&db, "ZPOPMIN z"), arr(vec![]));
        assert_eq!(run(&db, "ZPOPMIN z 3"), arr(vec![]));
        assert_eq!(run(&db, "ZPOPMIN str"), err(WRONG));
        assert_eq!(run(&db, "ZPOPMIN str 0"), err(WRONG));
        assert_eq!(run(&db, "ZPOPMIN z -1"), err("ERR value is out of range, must be positive"));
        assert_eq!(run(&db, "ZPOPMIN z x"), err("ERR value is out of range, must be positive"));
        assert_eq!(run(&db, "ZPOPMIN z 1 2"), err(SYNTAX));
        let db = db_with(&["ZADD z 1 a 1 b 2 c 2 d"]);
        assert_eq!(run(&db, "ZPOPMIN z 3"), pairs(&[("a", 1.0), ("b", 1.0), ("c", 2.0)]));
        assert_eq!(run(&db, "ZADD z 2 e"), int(1));
        assert_eq!(run(&db, "ZPOPMAX z 9223372036854775807"), pairs(&[("e", 2.0), ("d", 2.0)]));
    }

    #[test]
    fn zmpop() {
        let db = db_with(&["ZADD z 1 a 2 b 3 c", "SET str x"]);
        assert_eq!(run(&db, "ZMPOP 1 z MIN"), arr(vec![b("z"), pairs(&[("a", 1.0)])]));
        assert_eq!(run(&db, "ZMPOP 1 z max COUNT 5"), arr(vec![b("z"), pairs(&[("c", 3.0), ("b", 2.0)])]));
        assert_eq!(run(&db, "ZMPOP 1 z MIN"), Reply::Nil);
        assert_eq!(run(&db, "ZADD z2 1 x"), int(1));
        assert_eq!(run(&db, "ZMPOP 2 z z2 MIN"), arr(vec![b("z2"), pairs(&[("x", 1.0)])]));
        assert_eq!(run(&db, "ZADD z2 1 x"), int(1));
        assert_eq!(run(&db, "ZMPOP 3 z str z2 MIN"), err(WRONG), "the first existing key decides");
        assert_eq!(run(&db, "ZMPOP 2 z2 str MIN"), arr(vec![b("z2"), pairs(&[("x", 1.0)])]));
        for c in ["ZMPOP 0 z MIN", "ZMPOP -1 z MIN", "ZMPOP x z MIN"] {
            assert_eq!(run(&db, c), err("ERR numkeys should be greater than 0"), "{c}");
        }
        for c in ["ZMPOP 1 z MIN COUNT 0", "ZMPOP 1 z MIN COUNT -1", "ZMPOP 1 z MIN COUNT x"] {
            assert_eq!(run(&db, c), err("ERR count should be greater than 0"), "{c}");
        }
        for c in [
            "ZMPOP 2 z MIN",
            "ZMPOP 1 z foo",
            "ZMPOP 1 z MIN COUNT 1 COUNT 1",
            "ZMPOP 1 z MIN foo",
            "ZMPOP 1 z MIN COUNT",
            "ZMPOP 99999999999999 z MIN",
        ] {
            assert_eq!(run(&db, c), err(SYNTAX), "{c}");
        }
    }

    #[test]
    fn zrandmember() {
        let db = db_with(&["ZADD z 1 a 2 b 3 c 4 d 5 e", "SET str x"]);
        let all = ["a", "b", "c", "d", "e"];
        let score = |m: &[u8]| f64::from(m[0] - b'a' + 1);
        match run(&db, "ZRANDMEMBER z") {
            Reply::Bulk(m) => assert!(all.contains(&std::str::from_utf8(&m).unwrap())),
            r => panic!("{r:?}"),
        }
        assert_eq!(run(&db, "ZRANDMEMBER nokey"), Reply::Nil);
        assert_eq!(run(&db, "ZRANDMEMBER nokey 3"), arr(vec![]));
        assert_eq!(run(&db, "ZRANDMEMBER z 0"), arr(vec![]));
        // count >= size: every member once, highest score first (Redis's iteration order).
        assert_eq!(run(&db, "ZRANDMEMBER z 10 WITHSCORES"), pairs(&[("e", 5.0), ("d", 4.0), ("c", 3.0), ("b", 2.0), ("a", 1.0)]));
        for _ in 0..20 {
            let Reply::Array(v) = run(&db, "ZRANDMEMBER z 3") else { panic!() };
            let mut ms: Vec<Vec<u8>> = v.into_iter().map(|r| r.into_bytes().unwrap()).collect();
            assert_eq!(ms.len(), 3);
            ms.sort();
            ms.dedup();
            assert_eq!(ms.len(), 3, "positive count: distinct members");
            let Reply::Array(v) = run(&db, "ZRANDMEMBER z -8 WITHSCORES") else { panic!() };
            assert_eq!(v.len(), 8, "negative count: exactly |count| picks");
            for p in v {
                let Reply::Array(p) = p else { panic!() };
                let (Reply::Bulk(m), Reply::Double(s)) = (&p[0], &p[1]) else { panic!() };
                assert_eq!(*s, score(m));
            }
        }
        let Reply::Array(v) = run(&db, "ZRANDMEMBER z 1 WITHSCORES") else { panic!() };
        assert_eq!(v.len(), 1);
        assert_eq!(run(&db, "ZRANDMEMBER z 2 WITHSCORES x"), err(SYNTAX));
        assert_eq!(run(&db, "ZRANDMEMBER z 2 foo"), err(SYNTAX));
        assert_eq!(run(&db, "ZRANDMEMBER z x"), err(NOT_INT));
        assert_eq!(run(&db, "ZRANDMEMBER z -4611686018427387905 WITHSCORES"), err("ERR value is out of range"));
        assert_eq!(run(&db, "ZRANDMEMBER z 4611686018427387904 WITHSCORES"), err("ERR value is out of range"));
        assert_eq!(run(&db, "ZRANDMEMBER str"), err(WRONG));
        assert_eq!(run(&db, "ZRANDMEMBER str 2"), err(WRONG));
    }

    #[test]
    fn set_algebra_with_plain_sets() {
        let db = db_with(&["ZADD a 1 x 2 y 3 z", "SET str x"]);
        put_set(&db, "s", &["x", "y", "w"]);
        assert_eq!(run(&db, "ZUNIONSTORE dst 2 a s"), int(4));
        assert_eq!(run(&db, "ZRANGE dst 0 -1 WITHSCORES"), pairs(&[("w", 1.0), ("x", 2.0), ("y", 3.0), ("z", 3.0)]));
        assert_eq!(run(&db, "ZUNIONSTORE dst 2 a s WEIGHTS 2 3 AGGREGATE MAX"), int(4));
        assert_eq!(run(&db, "ZRANGE dst 0 -1 WITHSCORES"), pairs(&[("w", 3.0), ("x", 3.0), ("y", 4.0), ("z", 6.0)]));
        assert_eq!(run(&db, "ZINTERSTORE dst 2 a s AGGREGATE min"), int(2));
        assert_eq!(run(&db, "ZRANGE dst 0 -1 WITHSCORES"), pairs(&[("x", 1.0), ("y", 1.0)]));
        assert_eq!(run(&db, "ZDIFFSTORE dst 2 a s"), int(1));
        assert_eq!(run(&db, "ZRANGE dst 0 -1 WITHSCORES"), pairs(&[("z", 3.0)]));
        assert_eq!(run(&db, "ZDIFFSTORE dst 2 s a"), int(1));
        assert_eq!(run(&db, "ZRANGE dst 0 -1 WITHSCORES"), pairs(&[("w", 1.0)]));
        assert_eq!(run(&db, "ZDIFF 2 a s WITHSCORES"), pairs(&[("z", 3.0)]));
        assert_eq!(run(&db, "ZDIFF 1 a"), members(&["x", "y", "z"]));
        assert_eq!(run(&db, "ZUNION 2 a s WITHSCORES WEIGHTS 1 2"), pairs(&[("w", 2.0), ("x", 3.0), ("z", 3.0), ("y", 4.0)]));
        assert_eq!(run(&db, "ZINTER 2 a s WITHSCORES"), pairs(&[("x", 2.0), ("y", 3.0)]));
        assert_eq!(run(&db, "ZINTER 2 a s"), members(&["x", "y"]));
        assert_eq!(run(&db, "ZINTER 2 a nokey"), members(&[]));
        assert_eq!(run(&db, "ZUNION 2 a a WITHSCORES"), pairs(&[("x", 2.0), ("y", 4.0), ("z", 6.0)]));
        assert_eq!(run(&db, "ZUNIONSTORE dst 2 a s AGGREGATE SUM AGGREGATE MAX WEIGHTS 2 1 WEIGHTS 3 1"), int(4));
        assert_eq!(run(&db, "ZSCORE dst z"), d(9.0), "later options override earlier ones");
        assert_eq!(run(&db, "ZINTERCARD 2 a s"), int(2));
        assert_eq!(run(&db, "ZINTERCARD 2 a s LIMIT 1"), int(1));
        assert_eq!(run(&db, "ZINTERCARD 2 a s LIMIT 0"), int(2));
        assert_eq!(run(&db, "ZINTERCARD 1 nokey"), int(0));
        // Empty results delete the destination.
        assert_eq!(run(&db, "ZUNIONSTORE dst 2 nokey nokey2"), int(0));
        assert_eq!(run(&db, "EXISTS dst"), int(0));
        assert!(!signals(&db, "dst", "ZINTERSTORE dst 2 a nokey"));
        assert!(signals(&db, "dst", "ZINTERSTORE dst 2 a s"));
        assert!(signals(&db, "dst", "ZINTERSTORE dst 2 a nokey"));
        // The destination may be one of the inputs; its old type does not matter.
        assert_eq!(run(&db, "ZUNIONSTORE a 2 a s"), int(4));
        assert_eq!(run(&db, "ZSCORE a x"), d(2.0));
        assert_eq!(run(&db, "ZINTERSTORE str 1 a"), int(4));
        assert_eq!(run(&db, "TYPE str"), Reply::status("zset"));
    }

    #[test]
    fn set_algebra_errors() {
        let db = db_with(&["ZADD a 1 x", "ZADD b 1 x", "SET str x"]);
        for (c, name) in [
            ("ZUNIONSTORE dst 0 a", "zunionstore"),
            ("ZINTERSTORE dst -1 a", "zinterstore"),
            ("ZDIFFSTORE dst 0 a", "zdiffstore"),
            ("ZUNION 0 a", "zunion"),
            ("ZINTER 0 a", "zinter"),
            ("ZDIFF 0 a", "zdiff"),
            ("ZINTERCARD 0 a", "zintercard"),
        ] {
            assert_eq!(run(&db, c), err(&format!("ERR at least 1 input key is needed for '{name}' command")), "{c}");
        }
        assert_eq!(run(&db, "ZUNIONSTORE dst x a"), err(NOT_INT));
        for c in [
            "ZUNIONSTORE dst 3 a b",
            "ZUNIONSTORE dst 2 a b WEIGHTS 1",
            "ZUNIONSTORE dst 2 a b AGGREGATE foo",
            "ZUNIONSTORE dst 2 a b AGGREGATE",
            "ZUNIONSTORE dst 2 a b WITHSCORES",
            "ZDIFFSTORE dst 2 a b WEIGHTS 1 2",
            "ZDIFF 2 a b AGGREGATE SUM",
            "ZINTERCARD 2 a b WEIGHTS 1 1",
            "ZINTERCARD 2 a b WITHSCORES",
            "ZINTERCARD 2 a",
            "ZINTER 2 a b LIMIT 1",
        ] {
            assert_eq!(run(&db, c), err(SYNTAX), "{c}");
        }
        assert_eq!(run(&db, "ZUNIONSTORE dst 2 a b WEIGHTS 1 x"), err("ERR weight value is not a float"));
        assert_eq!(run(&db, "ZUNION 1 a WEIGHTS nan"), err("ERR weight value is not a float"));
        assert_eq!(run(&db, "ZUNION 1 a WEIGHTS 1e999"), err("ERR weight value is not a float"));
        assert_eq!(run(&db, "ZUNION 1 a WEIGHTS 0x10 WITHSCORES"), arr(vec![arr(vec![b("x"), d(16.0)])]));
        assert_eq!(run(&db, "ZINTERCARD 2 a b LIMIT -1"), err("ERR LIMIT can't be negative"));
        assert_eq!(run(&db, "ZINTERCARD 2 a b LIMIT x"), err("ERR LIMIT can't be negative"));
        assert_eq!(run(&db, "ZUNION 2 a str"), err(WRONG));
        assert_eq!(run(&db, "ZUNIONSTORE dst 2 str a foo"), err(WRONG), "inputs are checked before options");
        assert_eq!(run(&db, "EXISTS dst"), int(0));
    }

    #[test]
    fn set_algebra_infinities() {
        let db = db_with(&["ZADD i1 inf x", "ZADD i2 -inf x", "ZADD zz 0 x"]);
        // inf + -inf is NaN; Redis turns it into 0.
        assert_eq!(run(&db, "ZUNION 2 i1 i2 WITHSCORES"), pairs(&[("x", 0.0)]));
        assert_eq!(run(&db, "ZINTER 2 i1 i2 WITHSCORES"), pairs(&[("x", 0.0)]));
        assert_eq!(run(&db, "ZUNION 2 i1 i2 WITHSCORES WEIGHTS 0 1"), pairs(&[("x", f64::NEG_INFINITY)]));
        assert_eq!(run(&db, "ZUNION 2 i1 i1 WITHSCORES"), pairs(&[("x", f64::INFINITY)]));
        assert_eq!(run(&db, "ZINTER 2 i1 i1 WITHSCORES WEIGHTS 1 -1"), pairs(&[("x", 0.0)]));
        assert_eq!(run(&db, "ZUNION 1 zz WITHSCORES WEIGHTS inf"), pairs(&[("x", 0.0)]));
        assert_eq!(run(&db, "ZINTER 2 i1 i2 WITHSCORES AGGREGATE MIN"), pairs(&[("x", f64::NEG_INFINITY)]));
        assert_eq!(run(&db, "ZUNIONSTORE dst 2 i1 i2"), int(1));
        assert_eq!(run(&db, "ZSCORE dst x"), d(0.0));
    }

    #[test]
    fn zscan_small_sets() {
        let db = db_with(&["ZADD z 1 a 1.5 c inf d -inf e 0.1 f 1e17 g 1e19 h", "SET str x"]);
        assert_eq!(
            run(&db, "ZSCAN z 0"),
            arr(vec![
                b("0"),
                members(&[
                    "e",
                    "-inf",
                    "f",
                    "0.10000000000000001",
                    "a",
                    "1",
                    "c",
                    "1.5",
                    "g",
                    "100000000000000000",
                    "h",
                    "1e+19",
                    "d",
                    "inf"
                ]),
            ])
        );
        assert_eq!(run(&db, "ZSCAN z 0 MATCH c COUNT 1"), arr(vec![b("0"), members(&["c", "1.5"])]));
        assert_eq!(run(&db, "ZSCAN nokey 0"), arr(vec![b("0"), arr(vec![])]));
        assert_eq!(run(&db, "ZSCAN nokey 0 COUNT 0"), arr(vec![b("0"), arr(vec![])]), "options are parsed after the lookup");
        assert_eq!(run(&db, "ZSCAN nokey x"), err("ERR invalid cursor"));
        assert_eq!(run(&db, "ZSCAN str 0"), err(WRONG));
        assert_eq!(run(&db, "ZSCAN str 0 COUNT 0"), err(WRONG));
        assert_eq!(run(&db, "ZSCAN z 0 COUNT 0"), err(SYNTAX));
        assert_eq!(run(&db, "ZSCAN z 0 MATCH"), err(SYNTAX));
    }

    #[test]
    fn zscan_large_set_visits_everything_despite_changes() {
        let db = Db::open_in_memory();
        // 300 members; scores repeat so that groups of ties straddle COUNT boundaries.
        for i in 0..300 {
            let m = format!("m{i:03}");
            let s = (i / 7).to_string();
            assert_eq!(db.execute(&[b"ZADD", b"big", s.as_bytes(), m.as_bytes()]), int(1));
        }
        let mut seen = std::collections::HashSet::new();
        let mut cursor = b"0".to_vec();
        let mut calls = 0;
        loop {
            let Reply::Array(r) = db.execute(&[b"ZSCAN", b"big", &cursor, b"COUNT", b"10"]) else { panic!() };
            let [Reply::Bulk(c), Reply::Array(items)] = &r[..] else { panic!("{r:?}") };
            for pair in items.chunks(2) {
                let (Reply::Bulk(m), Reply::Bulk(s)) = (&pair[0], &pair[1]) else { panic!() };
                if m.as_slice() == b"early" || m.starts_with(b"tmp") {
                    continue;
                }
                let i: i64 = std::str::from_utf8(&m[1..]).unwrap().parse().unwrap();
                assert_eq!(std::str::from_utf8(s).unwrap(), (i / 7).to_string());
                seen.insert(m.clone());
            }
            calls += 1;
            // Churn between calls: remove members, add new ones, re-score survivors.
            if calls == 3 {
                assert_eq!(run(&db, "ZREMRANGEBYRANK big 0 9").as_int(), Some(10));
                assert_eq!(run(&db, "ZADD big -1 early"), int(1));
            }
            if calls == 5 {
                for i in (10..300).step_by(3) {
                    let m = format!("m{i:03}");
                    db.execute(&[b"ZINCRBY", b"big", b"0", m.as_bytes()]);
                }
                // Grow the map past a resize, then shrink it back.
                for i in 0..2000 {
                    db.execute(&[b"ZADD", b"big", b"1000", format!("tmp{i}").as_bytes()]);
                }
                db.execute(&[b"ZREMRANGEBYSCORE", b"big", b"1000", b"1000"]);
            }
            if c.as_slice() == b"0" {
                break;
            }
            cursor = c.clone();
        }
        assert!(calls > 10, "the scan was incremental ({calls} calls)");
        for i in 0..300 {
            let m = format!("m{i:03}").into_bytes();
            if i >= 10 {
                assert!(seen.contains(&m), "member {i} present for the whole scan was missed");
            }
        }
        // Non-integral scores print with %.17g on large sets.
        assert_eq!(run(&db, "ZADD big 0.1 zz"), int(1));
        let Reply::Array(r) = run(&db, "ZSCAN big 0 MATCH zz COUNT 1000") else { panic!() };
        assert_eq!(r[1], members(&["zz", "0.10000000000000001"]));
    }

    #[test]
    fn zscan_large_set_returns_each_member_once_when_nothing_changes() {
        let db = Db::open_in_memory();
        for i in 0..300 {
            let s = if i < 200 { "0".to_string() } else { i.to_string() };
            db.execute(&[b"ZADD", b"big", s.as_bytes(), format!("m{i:03}").as_bytes()]);
        }
        let mut seen = Vec::new();
        let mut cursor = b"0".to_vec();
        for call in 0.. {
            assert!(call < 1000, "the scan does not terminate");
            let Reply::Array(r) = db.execute(&[b"ZSCAN", b"big", &cursor, b"COUNT", b"10"]) else { panic!() };
            let [Reply::Bulk(c), Reply::Array(items)] = &r[..] else { panic!("{r:?}") };
            seen.extend(items.chunks(2).map(|p| p[0].clone()));
            if c.as_slice() == b"0" {
                break;
            }
            cursor = c.clone();
        }
        assert_eq!(seen.len(), 300, "no duplicates without a resize");
        let got: std::collections::HashSet<Vec<u8>> = seen.into_iter().map(|r| r.into_bytes().unwrap()).collect();
        assert_eq!(got.len(), 300);
    }

    #[test]
    fn rank_based_queries_on_a_larger_set() {
        let db = Db::open_in_memory();
        for i in 0..500 {
            let s = (i % 50).to_string();
            let m = format!("{i:04}");
            db.execute(&[b"ZADD", b"z", s.as_bytes(), m.as_bytes()]);
        }
        assert_eq!(run(&db, "ZCARD z"), int(500));
        assert_eq!(run(&db, "ZCOUNT z 10 (20"), int(100));
        assert_eq!(run(&db, "ZRANK z 0049"), int(490));
        assert_eq!(run(&db, "ZRANGE z 0 2"), members(&["0000", "0050", "0100"]));
        assert_eq!(run(&db, "ZRANGE z (50 49 BYSCORE REV LIMIT 0 2"), members(&["0499", "0449"]));
        assert_eq!(run(&db, "ZRANGEBYSCORE z 1 1 LIMIT 9 5"), members(&["0451"]));
        assert_eq!(run(&db, "ZREMRANGEBYSCORE z 0 (49"), int(490));
        assert_eq!(run(&db, "ZRANGE z 0 -1 WITHSCORES").as_array().map(<[Reply]>::len), Some(10));
    }

    #[test]
    fn keys_functions_cover_every_key() {
        let argv: Vec<&[u8]> = vec![b"zunionstore", b"d", b"2", b"a", b"b", b"WEIGHTS", b"1", b"2"];
        assert_eq!(store_keys(&argv), vec![1, 3, 4]);
        let argv: Vec<&[u8]> = vec![b"zunion", b"3", b"a", b"b", b"c"];
        assert_eq!(keys_after_numkeys(&argv), vec![2, 3, 4]);
        let argv: Vec<&[u8]> = vec![b"zmpop", b"99999999999999999", b"a", b"MIN"];
        assert!(keys_after_numkeys(&argv).len() <= argv.len());
        let argv: Vec<&[u8]> = vec![b"zunion", b"x", b"a"];
        assert!(keys_after_numkeys(&argv).is_empty());
    }
}
