//! Set commands: SADD, SREM, SMEMBERS, SISMEMBER, SMISMEMBER, SCARD, SPOP, SRANDMEMBER, SMOVE,
//! SINTER/SUNION/SDIFF and their STORE forms, SINTERCARD, SSCAN.
//!
//! A set is a `SetValue` (`types/set.rs`: intset, listpack or hashtable, converted as Redis 7.2
//! does; every command reads the live `EncodingLimits`); `Ctx::modify` guarantees one is never
//! stored empty, so removing the last member deletes the key. The algebra follows `t_set.c`:
//! every input key is type-checked in argument order before anything is computed (a
//! WRONGTYPE input is an error even when another input is missing), a missing key is an empty
//! set, and an intersection walks its smallest input. The STORE forms overwrite the
//! destination whatever its type, and store an empty result by deleting it. Results are built
//! member by member as Redis 7.2 builds them (from an empty intset for SUNION/SDIFF; SINTERSTORE
//! starts like its smallest input and ends as an intset when every member is an integer), so
//! they get the encoding and reply order Redis's would (an intset replies in ascending order).
//!
//! Log effects: SPOP picks at random, so it is logged as `SREM key members...` of what it
//! popped (or `DEL key` when it took the whole set); every other write is deterministic and
//! logged verbatim.
//!
//! This file also holds the helpers HSCAN/HRANDFIELD share with SSCAN/SRANDMEMBER: the
//! dict walk with Redis's SCAN budget (`scan_dict`) and distinct random sampling
//! (`sample_distinct`).
//!
//! Complexity (hashtable; compact sets are bounded by the limits): SADD/SREM/SISMEMBER O(1) per
//! member; SMEMBERS/SUNION/SDIFF O(total members); SINTER O(smallest × inputs);
//! SRANDMEMBER/SPOP with a count O(count), or O(size) when the count is close to the size; SSCAN
//! O(COUNT) buckets per call, or the whole set in one call when it is compact (as Redis).

use std::collections::HashSet;

use rand::Rng;

use super::args::{self, is, syntax};
use super::keys::{parse_scan, scan_reply, ScanOpts};
use super::{CmdResult, CommandSpec, DENYOOM, WRITE};
use crate::keyspace::dict::Dict;
use crate::keyspace::{Ctx, EncodingLimits};
use crate::reply::Reply;
use crate::types::set::Member;
use crate::types::{SetValue, Value};
use crate::util::glob::glob_match;
use crate::util::num;

const W: u32 = WRITE | DENYOOM;
const K1: (i32, i32, i32) = (1, 1, 1);
const ALL: (i32, i32, i32) = (1, -1, 1);
const NONE: (i32, i32, i32) = (0, 0, 0);

/// SPOP's count error (for a negative count and for one that is not a number alike).
const POSITIVE: &str = "ERR value is out of range, must be positive";
/// SRANDMEMBER/HRANDFIELD refuse `LONG_MIN`, whose negation does not fit (Redis 7.0's text).
pub(super) const COUNT_RANGE: &str = "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807";
const NUMKEYS: &str = "ERR numkeys should be greater than 0";
const NOVALUES: &str = "ERR NOVALUES option can only be used in HSCAN";

pub(crate) const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("sadd", -3, W, K1, sadd),
    CommandSpec::new("srem", -3, WRITE, K1, srem),
    CommandSpec::new("smembers", 2, 0, K1, smembers),
    CommandSpec::new("sismember", 3, 0, K1, sismember),
    CommandSpec::new("smismember", -3, 0, K1, smismember),
    CommandSpec::new("scard", 2, 0, K1, scard),
    CommandSpec::new("spop", -2, WRITE, K1, spop),
    CommandSpec::new("srandmember", -2, 0, K1, srandmember),
    CommandSpec::new("smove", 4, WRITE, (1, 2, 1), smove),
    CommandSpec::new("sinter", -2, 0, ALL, sinter),
    CommandSpec::new("sinterstore", -3, W, ALL, sinterstore),
    CommandSpec::new("sunion", -2, 0, ALL, sunion),
    CommandSpec::new("sunionstore", -3, W, ALL, sunionstore),
    CommandSpec::new("sdiff", -2, 0, ALL, sdiff),
    CommandSpec::new("sdiffstore", -3, W, ALL, sdiffstore),
    CommandSpec::new("sintercard", -3, 0, NONE, sintercard).with_keys_fn(sintercard_keys),
    CommandSpec::new("sscan", -3, 0, K1, sscan),
];

// ---------------------------------------------------------------------------------------------
// Helpers shared with hash.rs
// ---------------------------------------------------------------------------------------------

/// `count` distinct random entries of `d`, for `0 < count < d.len()`. Close to the size, a
/// partial shuffle of all entries; otherwise random picks with rejection of repeats (Redis's
/// "case 3" and "case 4").
pub(super) fn sample_distinct<'d, V>(d: &'d Dict<V>, count: usize, rng: &mut impl Rng) -> Vec<(&'d [u8], &'d V)> {
    if count.saturating_mul(3) > d.len() {
        let mut all: Vec<(&[u8], &V)> = d.iter().collect();
        let take = count.min(all.len());
        for i in 0..take {
            let j = rng.random_range(i..all.len());
            all.swap(i, j);
        }
        all.truncate(take);
        return all;
    }
    let mut seen: HashSet<&[u8]> = HashSet::with_capacity(count);
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        let Some((k, v)) = d.random_entry(rng) else { break };
        if seen.insert(k) {
            out.push((k, v));
        }
    }
    out
}

/// One SSCAN/HSCAN call over `d`. A `compact` collection (one Redis would keep as an intset or
/// listpack) is returned whole with cursor 0, as Redis does. Otherwise buckets are visited from
/// `o.cursor` until `o.count` elements were collected (each entry weighing `weight` reply
/// items, as in Redis where a hash entry adds field and value) or `10 × count` buckets were
/// visited; MATCH filters what was collected. `emit` appends an entry's reply items.
pub(super) fn scan_dict<V>(
    d: &Dict<V>,
    o: &ScanOpts<'_>,
    compact: bool,
    weight: usize,
    mut emit: impl FnMut(&mut Vec<Reply>, &[u8], &V),
) -> Reply {
    let mut out = Vec::new();
    let wanted = |k: &[u8]| o.pattern.is_none_or(|p| glob_match(p, k));
    if compact {
        for (k, v) in d.iter() {
            if wanted(k) {
                emit(&mut out, k, v);
            }
        }
        return scan_reply(0, out);
    }
    let mut cursor = o.cursor;
    let mut budget = o.count.saturating_mul(10);
    let mut collected = 0usize;
    loop {
        cursor = d.scan(cursor, |k, v| {
            collected += weight;
            if wanted(k) {
                emit(&mut out, k, v);
            }
        });
        if cursor == 0 || budget == 0 || collected >= o.count {
            break;
        }
        budget -= 1;
    }
    scan_reply(cursor, out)
}

/// The options of an SSCAN/HSCAN after the cursor, parsed the way Redis 7.4 does: NOVALUES is
/// recognised where an option may stand (only HSCAN accepts it). Returns the options and
/// whether NOVALUES was given.
pub(super) fn parse_scan_novalues<'a>(a: &[&'a [u8]], hash: bool) -> Result<(ScanOpts<'a>, bool), Reply> {
    let mut rest: Vec<&'a [u8]> = a[..3].to_vec();
    let mut novalues = false;
    let mut i = 3;
    while i < a.len() {
        if (is(a[i], "MATCH") || is(a[i], "COUNT")) && i + 1 < a.len() {
            rest.extend_from_slice(&a[i..i + 2]);
            i += 2;
            continue;
        }
        if is(a[i], "NOVALUES") {
            if !hash {
                // Earlier options are reported first, as Redis parses left to right.
                parse_scan(&a[..i], 2, false)?;
                return Err(Reply::err(NOVALUES));
            }
            novalues = true;
        } else {
            rest.push(a[i]);
        }
        i += 1;
    }
    let o = parse_scan(&rest, 2, false)?;
    let novalues = novalues || o.novalues;
    Ok((o, novalues))
}

/// Reject a cursor that is not a number, before the key is looked up (Redis's order).
pub(super) fn check_cursor(a: &[&[u8]]) -> Result<(), Reply> {
    parse_scan(&a[..3], 2, false).map(|_| ())
}

fn members_reply<'k>(it: impl Iterator<Item = Member<'k>>) -> Reply {
    Reply::Array(it.map(|m| Reply::bulk(&m)).collect())
}

/// `count` distinct random members of `s`, for `0 < count < s.len()`.
fn sample_members<'s>(s: &'s SetValue, count: usize, rng: &mut impl Rng) -> Vec<Member<'s>> {
    match s.as_dict() {
        Some(d) => sample_distinct(d, count, rng).into_iter().map(|(m, _)| Member::Bytes(m)).collect(),
        None => s.sample_compact(count, rng).unwrap_or_default(),
    }
}

// ---------------------------------------------------------------------------------------------
// Single-key commands
// ---------------------------------------------------------------------------------------------

fn sadd(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let limits = ctx.limits();
    let hint = a.len() - 2;
    let added = ctx
        .modify::<SetValue, _>(a[1], true, |s| {
            // Redis picks a new set's encoding from the first member and the argument count, and
            // converts an existing compact set up front when that many members would overflow it.
            if s.is_empty() {
                *s = SetValue::create(a[2], hint, &limits);
            } else {
                s.reserve(hint, &limits);
            }
            a[2..].iter().filter(|m| s.insert(m, &limits)).count()
        })?
        .unwrap_or_default();
    if added > 0 {
        ctx.modified(a[1]);
    }
    Ok(Reply::Int(added as i64))
}

fn srem(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let removed = ctx.modify::<SetValue, _>(a[1], false, |s| a[2..].iter().filter(|m| s.remove(m)).count())?.unwrap_or_default();
    if removed > 0 {
        ctx.modified(a[1]);
    }
    Ok(Reply::Int(removed as i64))
}

fn smembers(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    Ok(ctx.read_plain::<SetValue>(a[1])?.map_or(Reply::Array(Vec::new()), |s| members_reply(s.members())))
}

fn sismember(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let found = ctx.read_plain::<SetValue>(a[1])?.is_some_and(|s| s.contains(a[2]));
    Ok(Reply::Int(i64::from(found)))
}

fn smismember(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let set = ctx.read_plain::<SetValue>(a[1])?;
    Ok(Reply::Array(a[2..].iter().map(|m| Reply::Int(i64::from(set.is_some_and(|s| s.contains(m))))).collect()))
}

fn scard(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    Ok(Reply::Int(ctx.read_plain::<SetValue>(a[1])?.map_or(0, |s| s.len()) as i64))
}

/// What SPOP with a count took out of the set.
enum Taken {
    /// The whole set (the key is gone), as replies.
    Whole(Vec<Reply>),
    /// These members (none for a count of 0).
    Members(Vec<Box<[u8]>>),
}

/// SREM arguments per logged command when SPOP's effect is logged (Redis's batch size).
const SREM_BATCH: usize = 1024;

fn spop(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    // The members are picked at random, so the effect is logged as Redis propagates it: SREM of
    // the popped members (in batches), or DEL when the whole set was taken.
    let key = a[1];
    let mut rng = rand::rng();
    match a.len() {
        2 => {
            let popped = ctx.modify::<SetValue, _>(key, false, |s| s.pop_random(&mut rng))?.flatten();
            let Some(m) = popped else { return Ok(Reply::Nil) };
            ctx.modified(key);
            ctx.log_as(&[b"SREM", key, &m]);
            Ok(Reply::Bulk(m.into_vec()))
        }
        3 => {
            let count = num::parse_i64_strict(a[2]).filter(|&n| n >= 0).ok_or_else(|| Reply::err(POSITIVE))? as u64;
            let limits = ctx.limits();
            let taken = ctx.modify::<SetValue, _>(key, false, |s| {
                if count == 0 {
                    return Taken::Members(Vec::new());
                }
                if count >= s.len() as u64 {
                    return Taken::Whole(std::mem::take(s).members().map(|m| Reply::bulk(&m)).collect());
                }
                Taken::Members(pop_many(s, count as usize, &limits, &mut rng))
            })?;
            let popped = match taken {
                None => Vec::new(),
                Some(Taken::Whole(all)) => {
                    ctx.modified(key);
                    ctx.log_as(&[b"DEL", key]);
                    all
                }
                Some(Taken::Members(picked)) => {
                    if !picked.is_empty() {
                        ctx.modified(key);
                        let mut argv: Vec<&[u8]> = Vec::with_capacity(2 + picked.len().min(SREM_BATCH));
                        for batch in picked.chunks(SREM_BATCH) {
                            argv.clear();
                            argv.push(b"SREM");
                            argv.push(key);
                            argv.extend(batch.iter().map(|m| &**m));
                            ctx.log_as(&argv);
                        }
                    }
                    picked.into_iter().map(|m| Reply::Bulk(m.into_vec())).collect()
                }
            };
            Ok(Reply::Array(popped))
        }
        _ => Err(syntax()),
    }
}

/// How many times the members SPOP leaves must be outnumbered by those it takes before a
/// hashtable is rebuilt from the survivors instead of emptied one by one (Redis's
/// `SPOP_MOVE_STRATEGY_MUL`).
const SPOP_MOVE_STRATEGY_MUL: usize = 5;

/// Take `count` random members out of `s` (`0 < count < s.len()`). As in Redis 7.2, when few
/// members remain a hashtable is rebuilt from the survivors (a new set starting as a
/// listpack, so it may shrink to one); otherwise the picked members are removed in place.
fn pop_many(s: &mut SetValue, count: usize, limits: &EncodingLimits, rng: &mut impl Rng) -> Vec<Box<[u8]>> {
    let remaining = s.len() - count;
    if remaining * SPOP_MOVE_STRATEGY_MUL <= count && s.as_dict().is_some() {
        let kept: HashSet<Member<'_>> = sample_members(s, remaining, rng).into_iter().collect();
        let mut rebuilt = SetValue::new_listpack();
        for m in &kept {
            rebuilt.insert(m, limits);
        }
        let popped = s.members().filter(|m| !kept.contains(m)).map(|m| Box::from(&*m)).collect();
        *s = rebuilt;
        return popped;
    }
    let picked: Vec<Box<[u8]>> = sample_members(s, count, rng).into_iter().map(|m| Box::from(&*m)).collect();
    s.remove_all(&picked);
    picked
}

/// Parse an SRANDMEMBER/HRANDFIELD count: any i64 but `i64::MIN` (as Redis 7.0 checks it).
/// Most elements a random-sampling reply with repetitions (negative count) may hold. Redis
/// would try to build any size and die of OOM; an embedded engine must not take its host
/// process down, so larger requests are refused before anything is allocated.
pub(super) const MAX_RANDOM_REPLY: i64 = 1 << 24;
pub(super) const RANDOM_REPLY_TOO_LARGE: &str = "ERR count is too large: at most 16777216 elements with repetitions";

/// Parse the count of SRANDMEMBER/HRANDFIELD/ZRANDMEMBER.
pub(super) fn rand_count(arg: &[u8]) -> Result<i64, Reply> {
    let n = args::int(arg)?;
    if n == i64::MIN {
        return Err(Reply::err(COUNT_RANGE));
    }
    Ok(n)
}

/// Refuse a negative (with-repetitions) count beyond `MAX_RANDOM_REPLY`; call after Redis's
/// own range checks so Redis's errors win where Redis has one.
pub(super) fn check_repeat_cap(n: i64) -> Result<(), Reply> {
    if n < -MAX_RANDOM_REPLY {
        return Err(Reply::err(RANDOM_REPLY_TOO_LARGE));
    }
    Ok(())
}

fn srandmember(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let mut rng = rand::rng();
    match a.len() {
        2 => {
            let set = ctx.read_plain::<SetValue>(a[1])?;
            Ok(set.and_then(|s| s.random_member(&mut rng)).map_or(Reply::Nil, |m| Reply::bulk(&m)))
        }
        3 => {
            let n = rand_count(a[2])?;
            check_repeat_cap(n)?;
            let Some(s) = ctx.read_plain::<SetValue>(a[1])? else { return Ok(Reply::Array(Vec::new())) };
            let count = n.unsigned_abs();
            if n < 0 {
                // Repeats allowed: `count` independent picks. The reply grows as it is built,
                // like Redis's, rather than being reserved up front.
                let mut out = Vec::with_capacity(count.min(1024) as usize);
                s.random_members(count as usize, &mut rng, |m| out.push(Reply::bulk(m)));
                return Ok(Reply::Array(out));
            }
            if count >= s.len() as u64 {
                return Ok(members_reply(s.members()));
            }
            Ok(members_reply(sample_members(s, count as usize, &mut rng).into_iter()))
        }
        _ => Err(syntax()),
    }
}

fn smove(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let (src, dst, member) = (a[1], a[2], a[3]);
    // Redis: a missing source answers 0 before the destination's type is looked at.
    let Some(s) = ctx.read_plain::<SetValue>(src)? else { return Ok(Reply::Int(0)) };
    let present = s.contains(member);
    ctx.check_type::<SetValue>(dst)?;
    if src == dst || !present {
        return Ok(Reply::Int(i64::from(present && src == dst)));
    }
    let limits = ctx.limits();
    ctx.modify::<SetValue, _>(src, false, |s| s.remove(member))?;
    let added = ctx.modify::<SetValue, _>(dst, true, |d| {
        if d.is_empty() {
            *d = SetValue::create(member, 1, &limits);
        }
        d.insert(member, &limits)
    })?;
    ctx.modified(src);
    // As Redis: the destination counts as modified (WATCH) only if the member was new there.
    if added == Some(true) {
        ctx.modified(dst);
    }
    Ok(Reply::Int(1))
}

// ---------------------------------------------------------------------------------------------
// Set algebra
// ---------------------------------------------------------------------------------------------

/// Look up every input in order: the first key of another type is an error; a missing key is
/// `None` (an empty set).
fn load_sets<'c>(ctx: &'c Ctx<'_>, keys: &[&[u8]]) -> Result<Vec<Option<&'c SetValue>>, Reply> {
    keys.iter().map(|k| ctx.read_plain::<SetValue>(k)).collect()
}

/// The inputs (all present) smallest first: the intersection walks the first.
fn by_size<'s>(sets: &[&'s SetValue]) -> Vec<&'s SetValue> {
    let mut sorted = sets.to_vec();
    sorted.sort_by_key(|s| s.len());
    sorted
}

/// Members of `sorted[0]` common to all `sorted` (smallest first), at most `limit` of them when
/// `limit > 0`.
fn intersect<'s>(sorted: &[&'s SetValue], limit: usize) -> Vec<Member<'s>> {
    let Some((first, rest)) = sorted.split_first() else { return Vec::new() };
    let mut out = Vec::new();
    for m in first.members() {
        if rest.iter().all(|s| std::ptr::eq(*s, *first) || s.contains(&m)) {
            out.push(m);
            if out.len() == limit {
                break;
            }
        }
    }
    out
}

/// The inputs sorted smallest first, or None when one is missing (the intersection is empty).
fn inter_inputs<'s>(sets: &[Option<&'s SetValue>]) -> Option<Vec<&'s SetValue>> {
    let present: Option<Vec<&SetValue>> = sets.iter().copied().collect();
    present.map(|p| by_size(&p))
}

/// The union, built as Redis does: from an empty intset, member by member.
fn union_of(sets: &[Option<&SetValue>], limits: &EncodingLimits) -> SetValue {
    let mut out = SetValue::new();
    for s in sets.iter().flatten() {
        for m in s.members() {
            out.insert(&m, limits);
        }
    }
    out
}

/// The difference, with Redis's choice of algorithm (it decides the result's encoding): walk
/// the first set probing the others (1), or copy the first set and remove the others' members
/// from it (2), whichever should do less work.
fn diff_of(sets: &[Option<&SetValue>], limits: &EncodingLimits) -> SetValue {
    let mut out = SetValue::new();
    let Some((Some(first), rest)) = sets.split_first() else { return out };
    let mut rest: Vec<&SetValue> = rest.iter().flatten().copied().collect();
    if rest.iter().any(|s| std::ptr::eq(*s, *first)) {
        return out;
    }
    let algo_one = first.len() * (1 + rest.len()) / 2;
    let algo_two = first.len() + rest.iter().map(|s| s.len()).sum::<usize>();
    if algo_one <= algo_two {
        // Biggest first: a member found in any of them is rejected sooner.
        rest.sort_by_key(|s| std::cmp::Reverse(s.len()));
        for m in first.members() {
            if !rest.iter().any(|s| s.contains(&m)) {
                out.insert(&m, limits);
            }
        }
    } else {
        for m in first.members() {
            out.insert(&m, limits);
        }
        for s in rest {
            if out.is_empty() {
                break;
            }
            for m in s.members() {
                out.remove(&m);
            }
        }
    }
    out
}

/// Replace `dst` with `result` (deleting it when the result is empty) and reply its size.
/// As in Redis 7.0, an empty result signals the destination only if it existed.
fn store(ctx: &mut Ctx<'_>, dst: &[u8], result: SetValue) -> Reply {
    let n = result.len();
    if n == 0 {
        ctx.remove(dst);
    } else {
        ctx.insert(dst, Value::Set(result), 0);
    }
    Reply::Int(n as i64)
}

fn sinter(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let sets = load_sets(ctx, &a[1..])?;
    Ok(members_reply(inter_inputs(&sets).map(|s| intersect(&s, 0)).unwrap_or_default().into_iter()))
}

fn sinterstore(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let dst = a[1];
    let limits = ctx.limits();
    let sets = load_sets(ctx, &a[2..])?;
    let Some(sorted) = inter_inputs(&sets) else {
        // A missing input: Redis deletes the destination and signals only if it existed.
        ctx.remove(dst);
        return Ok(Reply::Int(0));
    };
    // Redis starts the result as an intset when the smallest input is one, else as a listpack,
    // and makes an all-integer result an intset at the end.
    let mut result = if sorted[0].encoding() == "intset" { SetValue::new() } else { SetValue::new_listpack() };
    for m in intersect(&sorted, 0) {
        result.insert(&m, &limits);
    }
    result.intset_if_all_integers(&limits);
    Ok(store(ctx, dst, result))
}

fn sunion(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let limits = ctx.limits();
    let sets = load_sets(ctx, &a[1..])?;
    Ok(members_reply(union_of(&sets, &limits).members()))
}

fn sunionstore(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let limits = ctx.limits();
    let result = union_of(&load_sets(ctx, &a[2..])?, &limits);
    Ok(store(ctx, a[1], result))
}

fn sdiff(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let limits = ctx.limits();
    let sets = load_sets(ctx, &a[1..])?;
    Ok(members_reply(diff_of(&sets, &limits).members()))
}

fn sdiffstore(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let limits = ctx.limits();
    let result = diff_of(&load_sets(ctx, &a[2..])?, &limits);
    Ok(store(ctx, a[1], result))
}

/// SINTERCARD's keys: `numkeys` arguments after it, when numkeys is valid.
fn sintercard_keys(a: &[&[u8]]) -> Vec<usize> {
    let avail = a.len().saturating_sub(2);
    match a.get(1).and_then(|n| num::parse_i64_strict(n)) {
        Some(n) if n > 0 && n as u64 <= avail as u64 => (2..2 + n as usize).collect(),
        _ => Vec::new(),
    }
}

fn sintercard(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let numkeys = num::parse_i64_strict(a[1]).filter(|&n| n > 0).ok_or_else(|| Reply::err(NUMKEYS))?;
    if numkeys as u64 > (a.len() - 2) as u64 {
        return Err(Reply::err("ERR Number of keys can't be greater than number of args"));
    }
    let end = 2 + numkeys as usize;
    let mut limit = 0usize;
    let mut i = end;
    while i < a.len() {
        if is(a[i], "LIMIT") && i + 1 < a.len() {
            let n = num::parse_i64_strict(a[i + 1]).filter(|&n| n >= 0).ok_or_else(|| Reply::err("ERR LIMIT can't be negative"))?;
            limit = usize::try_from(n).unwrap_or(usize::MAX);
            i += 2;
        } else {
            return Err(syntax());
        }
    }
    let sets = load_sets(ctx, &a[2..end])?;
    Ok(Reply::Int(inter_inputs(&sets).map_or(0, |s| intersect(&s, limit).len()) as i64))
}

fn sscan(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    check_cursor(a)?;
    let Some(s) = ctx.read_plain::<SetValue>(a[1])? else { return Ok(scan_reply(0, Vec::new())) };
    let (o, _) = parse_scan_novalues(a, false)?;
    match s.as_dict() {
        Some(d) => Ok(scan_dict(d, &o, false, 1, |out, m, _| out.push(Reply::bulk(m)))),
        None => {
            // A compact set is returned whole with cursor 0, as Redis does.
            let wanted = |m: &[u8]| o.pattern.is_none_or(|p| glob_match(p, m));
            Ok(scan_reply(0, s.members().filter(|m| wanted(m)).map(|m| Reply::bulk(&m)).collect()))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::super::testutil::{bulk, err, int, list, run};
    use crate::{Db, Reply};

    /// The members of an array-of-bulks reply, as a sorted set of strings.
    fn members(r: &Reply) -> BTreeSet<String> {
        list(r).into_iter().collect()
    }

    fn set_of(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

    fn db_with_string() -> Db {
        let db = Db::open_in_memory();
        assert_eq!(run(&db, &["SET", "str", "v"]), Reply::OK);
        db
    }

    #[test]
    fn sadd_srem_scard_members() {
        let db = Db::open_in_memory();
        assert_eq!(run(&db, &["SADD", "s", "a", "b", "a", "c"]), int(3));
        assert_eq!(run(&db, &["SADD", "s", "a", "d"]), int(1));
        assert_eq!(run(&db, &["SCARD", "s"]), int(4));
        assert_eq!(members(&run(&db, &["SMEMBERS", "s"])), set_of(&["a", "b", "c", "d"]));
        assert_eq!(run(&db, &["SREM", "s", "a", "zz", "a"]), int(1));
        assert_eq!(run(&db, &["SREM", "nokey", "a"]), int(0));
        assert_eq!(run(&db, &["SCARD", "nokey"]), int(0));
        assert_eq!(run(&db, &["SMEMBERS", "nokey"]), Reply::Array(vec![]));
        // Removing the last members deletes the key.
        assert_eq!(run(&db, &["SREM", "s", "b", "c", "d"]), int(3));
        assert_eq!(run(&db, &["EXISTS", "s"]), int(0));
        assert_eq!(run(&db, &["TYPE", "s"]), Reply::status("none"));
    }

    #[test]
    fn membership() {
        let db = Db::open_in_memory();
        run(&db, &["SADD", "s", "a", "b"]);
        assert_eq!(run(&db, &["SISMEMBER", "s", "a"]), int(1));
        assert_eq!(run(&db, &["SISMEMBER", "s", "z"]), int(0));
        assert_eq!(run(&db, &["SISMEMBER", "nokey", "a"]), int(0));
        assert_eq!(run(&db, &["SMISMEMBER", "s", "a", "z", "b"]), Reply::Array(vec![int(1), int(0), int(1)]));
        assert_eq!(run(&db, &["SMISMEMBER", "nokey", "a", "b"]), Reply::Array(vec![int(0), int(0)]));
    }

    #[test]
    fn wrongtype_on_every_command() {
        let db = db_with_string();
        run(&db, &["SADD", "s", "a"]);
        let cases: &[&[&str]] = &[
            &["SADD", "str", "a"],
            &["SREM", "str", "a"],
            &["SMEMBERS", "str"],
            &["SISMEMBER", "str", "a"],
            &["SMISMEMBER", "str", "a"],
            &["SCARD", "str"],
            &["SPOP", "str"],
            &["SPOP", "str", "1"],
            &["SPOP", "str", "0"],
            &["SRANDMEMBER", "str"],
            &["SRANDMEMBER", "str", "1"],
            &["SRANDMEMBER", "str", "0"],
            &["SMOVE", "str", "s", "a"],
            &["SMOVE", "s", "str", "a"],
            &["SMOVE", "s", "str", "absent"],
            &["SMOVE", "str", "str", "a"],
            &["SINTER", "str"],
            &["SINTER", "s", "str"],
            &["SINTER", "nokey", "str"],
            &["SINTER", "str", "nokey"],
            &["SINTERSTORE", "d", "s", "str"],
            &["SINTERSTORE", "d", "nokey", "str"],
            &["SUNION", "nokey", "str"],
            &["SUNIONSTORE", "d", "s", "str"],
            &["SDIFF", "nokey", "str"],
            &["SDIFF", "s", "str"],
            &["SDIFFSTORE", "d", "s", "str"],
            &["SINTERCARD", "2", "nokey", "str"],
            &["SINTERCARD", "1", "str"],
            &["SSCAN", "str", "0"],
            &["SSCAN", "str", "0", "COUNT", "0"],
        ];
        for c in cases {
            assert_eq!(err(&db, c), WRONGTYPE, "{c:?}");
        }
        // Nothing was touched by the failed commands.
        assert_eq!(run(&db, &["GET", "str"]), bulk("v"));
        assert_eq!(run(&db, &["EXISTS", "d"]), int(0));
        assert_eq!(members(&run(&db, &["SMEMBERS", "s"])), set_of(&["a"]));
    }

    #[test]
    fn arity_errors_through_dispatcher() {
        let db = Db::open_in_memory();
        let cases: &[(&[&str], &str)] = &[
            (&["SADD", "s"], "sadd"),
            (&["SREM", "s"], "srem"),
            (&["SMEMBERS"], "smembers"),
            (&["SMEMBERS", "a", "b"], "smembers"),
            (&["SISMEMBER", "s"], "sismember"),
            (&["SMISMEMBER", "s"], "smismember"),
            (&["SCARD"], "scard"),
            (&["SPOP"], "spop"),
            (&["SRANDMEMBER"], "srandmember"),
            (&["SMOVE", "a", "b"], "smove"),
            (&["SINTER"], "sinter"),
            (&["SINTERSTORE", "d"], "sinterstore"),
            (&["SUNION"], "sunion"),
            (&["SUNIONSTORE", "d"], "sunionstore"),
            (&["SDIFF"], "sdiff"),
            (&["SDIFFSTORE", "d"], "sdiffstore"),
            (&["SINTERCARD", "1"], "sintercard"),
            (&["SSCAN", "s"], "sscan"),
        ];
        for (c, name) in cases {
            assert_eq!(err(&db, c), format!("ERR wrong number of arguments for '{name}' command"), "{c:?}");
        }
        assert_eq!(err(&db, &["SPOP", "s", "1", "2"]), "ERR syntax error");
        assert_eq!(err(&db, &["SRANDMEMBER", "s", "1", "2"]), "ERR syntax error");
    }

    #[test]
    fn spop_single_and_count() {
        let db = Db::open_in_memory();
        assert_eq!(run(&db, &["SPOP", "nokey"]), Reply::Nil);
        assert_eq!(run(&db, &["SPOP", "nokey", "3"]), Reply::Array(vec![]));
        assert_eq!(run(&db, &["SPOP", "nokey", "0"]), Reply::Array(vec![]));
        run(&db, &["SADD", "s", "a", "b", "c"]);
        let Reply::Bulk(m) = run(&db, &["SPOP", "s"]) else { panic!() };
        let m = String::from_utf8(m).unwrap();
        assert!(["a", "b", "c"].contains(&m.as_str()));
        assert_eq!(run(&db, &["SISMEMBER", "s", &m]), int(0));
        assert_eq!(run(&db, &["SCARD", "s"]), int(2));
        assert_eq!(run(&db, &["SPOP", "s", "0"]), Reply::Array(vec![]));
        assert_eq!(run(&db, &["SCARD", "s"]), int(2));
        // Count at least the size: everything, and the key is gone.
        let rest = members(&run(&db, &["SPOP", "s", "10"]));
        assert_eq!(rest.len(), 2);
        assert!(!rest.contains(&m));
        assert_eq!(run(&db, &["EXISTS", "s"]), int(0));
        // Errors: the range text both for negative and non-numeric counts, checked first.
        assert_eq!(err(&db, &["SPOP", "s", "-1"]), "ERR value is out of range, must be positive");
        assert_eq!(err(&db, &["SPOP", "s", "abc"]), "ERR value is out of range, must be positive");
        assert_eq!(err(&db, &["SPOP", "nokey", "-1"]), "ERR value is out of range, must be positive");
        // A single SPOP empties a one-member set.
        run(&db, &["SADD", "one", "x"]);
        assert_eq!(run(&db, &["SPOP", "one"]), bulk("x"));
        assert_eq!(run(&db, &["EXISTS", "one"]), int(0));
    }

    #[test]
    fn spop_count_below_size_pops_distinct() {
        let db = Db::open_in_memory();
        for size in [10usize, 100] {
            let all: Vec<String> = (0..size).map(|i| format!("m{i}")).collect();
            let mut argv = vec!["SADD", "s"];
            argv.extend(all.iter().map(String::as_str));
            run(&db, &argv);
            // Both strategies: close to the size (shuffle) and small (random picks).
            for count in [size - 1, 2] {
                let popped = list(&run(&db, &["SPOP", "s", &count.to_string()]));
                assert_eq!(popped.len(), count);
                assert_eq!(popped.iter().collect::<BTreeSet<_>>().len(), count, "distinct");
                for m in &popped {
                    assert_eq!(run(&db, &["SISMEMBER", "s", m]), int(0));
                }
                run(&db, &argv);
            }
            run(&db, &["DEL", "s"]);
        }
    }

    #[test]
    fn srandmember_counts() {
        let db = Db::open_in_memory();
        assert_eq!(run(&db, &["SRANDMEMBER", "nokey"]), Reply::Nil);
        assert_eq!(run(&db, &["SRANDMEMBER", "nokey", "5"]), Reply::Array(vec![]));
        assert_eq!(run(&db, &["SRANDMEMBER", "nokey", "-5"]), Reply::Array(vec![]));
        assert_eq!(err(&db, &["SRANDMEMBER", "nokey", "abc"]), "ERR value is not an integer or out of range");
        let all: Vec<String> = (0..50).map(|i| i.to_string()).collect();
        let mut argv = vec!["SADD", "s"];
        argv.extend(all.iter().map(String::as_str));
        run(&db, &argv);
        let universe: BTreeSet<String> = all.iter().cloned().collect();
        let Reply::Bulk(one) = run(&db, &["SRANDMEMBER", "s"]) else { panic!() };
        assert!(universe.contains(&String::from_utf8(one).unwrap()));
        assert_eq!(run(&db, &["SRANDMEMBER", "s", "0"]), Reply::Array(vec![]));
        for count in [1usize, 5, 20, 49] {
            let got = list(&run(&db, &["SRANDMEMBER", "s", &count.to_string()]));
            assert_eq!(got.len(), count);
            let distinct: BTreeSet<String> = got.into_iter().collect();
            assert_eq!(distinct.len(), count);
            assert!(distinct.is_subset(&universe));
        }
        assert_eq!(members(&run(&db, &["SRANDMEMBER", "s", "50"])), universe);
        assert_eq!(members(&run(&db, &["SRANDMEMBER", "s", "1000"])), universe);
        // Negative: exactly |count| picks, repeats allowed.
        let got = list(&run(&db, &["SRANDMEMBER", "s", "-200"]));
        assert_eq!(got.len(), 200);
        assert!(got.iter().all(|m| universe.contains(m)));
        run(&db, &["SADD", "tiny", "x"]);
        assert_eq!(run(&db, &["SRANDMEMBER", "tiny", "-3"]), Reply::Array(vec![bulk("x"), bulk("x"), bulk("x")]));
        // Nothing was removed.
        assert_eq!(run(&db, &["SCARD", "s"]), int(50));
        assert_eq!(
            err(&db, &["SRANDMEMBER", "s", "-9223372036854775808"]),
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"
        );
    }

    #[test]
    fn smove_cases() {
        let db = db_with_string();
        run(&db, &["SADD", "src", "a", "b"]);
        assert_eq!(run(&db, &["SMOVE", "src", "dst", "a"]), int(1));
        assert_eq!(members(&run(&db, &["SMEMBERS", "dst"])), set_of(&["a"]));
        assert_eq!(members(&run(&db, &["SMEMBERS", "src"])), set_of(&["b"]));
        assert_eq!(run(&db, &["SMOVE", "src", "dst", "zz"]), int(0));
        assert_eq!(run(&db, &["EXISTS", "nodst"]), int(0));
        assert_eq!(run(&db, &["SMOVE", "src", "nodst", "zz"]), int(0));
        assert_eq!(run(&db, &["EXISTS", "nodst"]), int(0));
        // Missing source: 0, whatever the destination holds (Redis checks the source first).
        assert_eq!(run(&db, &["SMOVE", "nokey", "str", "a"]), int(0));
        assert_eq!(run(&db, &["SMOVE", "nokey", "nokey", "a"]), int(0));
        // Same key: membership test, nothing moves.
        assert_eq!(run(&db, &["SMOVE", "src", "src", "b"]), int(1));
        assert_eq!(run(&db, &["SMOVE", "src", "src", "zz"]), int(0));
        assert_eq!(members(&run(&db, &["SMEMBERS", "src"])), set_of(&["b"]));
        // Moving a member the destination already has still removes it from the source;
        // the now-empty source is deleted.
        run(&db, &["SADD", "dst", "b"]);
        assert_eq!(run(&db, &["SMOVE", "src", "dst", "b"]), int(1));
        assert_eq!(run(&db, &["EXISTS", "src"]), int(0));
        assert_eq!(members(&run(&db, &["SMEMBERS", "dst"])), set_of(&["a", "b"]));
    }

    #[test]
    fn algebra() {
        let db = Db::open_in_memory();
        run(&db, &["SADD", "a", "1", "2", "3", "4"]);
        run(&db, &["SADD", "b", "2", "3", "5"]);
        run(&db, &["SADD", "c", "3", "4", "5", "6"]);
        assert_eq!(members(&run(&db, &["SINTER", "a", "b"])), set_of(&["2", "3"]));
        assert_eq!(members(&run(&db, &["SINTER", "a", "b", "c"])), set_of(&["3"]));
        assert_eq!(members(&run(&db, &["SINTER", "a"])), set_of(&["1", "2", "3", "4"]));
        assert_eq!(members(&run(&db, &["SINTER", "a", "a"])), set_of(&["1", "2", "3", "4"]));
        assert_eq!(run(&db, &["SINTER", "a", "nokey"]), Reply::Array(vec![]));
        assert_eq!(members(&run(&db, &["SUNION", "a", "b", "nokey"])), set_of(&["1", "2", "3", "4", "5"]));
        assert_eq!(run(&db, &["SUNION", "nokey"]), Reply::Array(vec![]));
        assert_eq!(members(&run(&db, &["SDIFF", "a", "b"])), set_of(&["1", "4"]));
        assert_eq!(members(&run(&db, &["SDIFF", "a", "b", "c"])), set_of(&["1"]));
        assert_eq!(members(&run(&db, &["SDIFF", "a", "nokey"])), set_of(&["1", "2", "3", "4"]));
        assert_eq!(run(&db, &["SDIFF", "a", "a"]), Reply::Array(vec![]));
        assert_eq!(run(&db, &["SDIFF", "nokey", "a"]), Reply::Array(vec![]));
    }

    #[test]
    fn store_variants() {
        let db = db_with_string();
        run(&db, &["SADD", "a", "1", "2", "3"]);
        run(&db, &["SADD", "b", "2", "3", "4"]);
        assert_eq!(run(&db, &["SINTERSTORE", "d", "a", "b"]), int(2));
        assert_eq!(members(&run(&db, &["SMEMBERS", "d"])), set_of(&["2", "3"]));
        assert_eq!(run(&db, &["SUNIONSTORE", "d", "a", "b"]), int(4));
        assert_eq!(members(&run(&db, &["SMEMBERS", "d"])), set_of(&["1", "2", "3", "4"]));
        assert_eq!(run(&db, &["SDIFFSTORE", "d", "a", "b"]), int(1));
        assert_eq!(members(&run(&db, &["SMEMBERS", "d"])), set_of(&["1"]));
        // The destination may be an input.
        assert_eq!(run(&db, &["SUNIONSTORE", "a", "a", "b"]), int(4));
        assert_eq!(run(&db, &["SCARD", "a"]), int(4));
        // Overwrites a destination of another type, and drops its TTL.
        assert_eq!(run(&db, &["EXPIRE", "str", "100"]), int(1));
        assert_eq!(run(&db, &["SINTERSTORE", "str", "a", "b"]), int(3));
        assert_eq!(run(&db, &["TYPE", "str"]), Reply::status("set"));
        assert_eq!(run(&db, &["TTL", "str"]), int(-1));
        // Empty results delete the destination, whatever it was.
        run(&db, &["SET", "str", "v"]);
        assert_eq!(run(&db, &["SINTERSTORE", "str", "a", "nokey"]), int(0));
        assert_eq!(run(&db, &["EXISTS", "str"]), int(0));
        run(&db, &["SET", "str", "v"]);
        assert_eq!(run(&db, &["SDIFFSTORE", "str", "a", "a"]), int(0));
        assert_eq!(run(&db, &["EXISTS", "str"]), int(0));
        run(&db, &["SET", "str", "v"]);
        assert_eq!(run(&db, &["SUNIONSTORE", "str", "nokey"]), int(0));
        assert_eq!(run(&db, &["EXISTS", "str"]), int(0));
        run(&db, &["SADD", "x", "9"]);
        assert_eq!(run(&db, &["SINTERSTORE", "d", "a", "x"]), int(0));
        assert_eq!(run(&db, &["EXISTS", "d"]), int(0));
        // A wrong-type input aborts before the destination is touched.
        run(&db, &["SET", "str", "v"]);
        run(&db, &["SADD", "d", "keep"]);
        assert_eq!(err(&db, &["SUNIONSTORE", "d", "a", "str"]), WRONGTYPE);
        assert_eq!(err(&db, &["SINTERSTORE", "d", "nokey", "str"]), WRONGTYPE);
        assert_eq!(members(&run(&db, &["SMEMBERS", "d"])), set_of(&["keep"]));
    }

    #[test]
    fn sintercard_cases() {
        let db = db_with_string();
        run(&db, &["SADD", "a", "1", "2", "3", "4"]);
        run(&db, &["SADD", "b", "2", "3", "4", "5"]);
        assert_eq!(run(&db, &["SINTERCARD", "2", "a", "b"]), int(3));
        assert_eq!(run(&db, &["SINTERCARD", "1", "a"]), int(4));
        assert_eq!(run(&db, &["SINTERCARD", "2", "a", "b", "LIMIT", "2"]), int(2));
        assert_eq!(run(&db, &["SINTERCARD", "2", "a", "b", "limit", "0"]), int(3));
        assert_eq!(run(&db, &["SINTERCARD", "2", "a", "b", "LIMIT", "100"]), int(3));
        assert_eq!(run(&db, &["SINTERCARD", "2", "a", "b", "LIMIT", "1", "LIMIT", "5"]), int(3));
        assert_eq!(run(&db, &["SINTERCARD", "2", "a", "nokey"]), int(0));
        let e = |args: &[&str]| err(&db, args);
        assert_eq!(e(&["SINTERCARD", "0", "a"]), "ERR numkeys should be greater than 0");
        assert_eq!(e(&["SINTERCARD", "-1", "a"]), "ERR numkeys should be greater than 0");
        assert_eq!(e(&["SINTERCARD", "abc", "a"]), "ERR numkeys should be greater than 0");
        assert_eq!(e(&["SINTERCARD", "9223372036854775808", "a"]), "ERR numkeys should be greater than 0");
        assert_eq!(e(&["SINTERCARD", "3", "a", "b"]), "ERR Number of keys can't be greater than number of args");
        assert_eq!(e(&["SINTERCARD", "9223372036854775807", "a"]), "ERR Number of keys can't be greater than number of args");
        assert_eq!(e(&["SINTERCARD", "1", "a", "LIMIT", "-1"]), "ERR LIMIT can't be negative");
        assert_eq!(e(&["SINTERCARD", "1", "a", "LIMIT", "abc"]), "ERR LIMIT can't be negative");
        assert_eq!(e(&["SINTERCARD", "1", "a", "LIMIT"]), "ERR syntax error");
        assert_eq!(e(&["SINTERCARD", "1", "a", "FOO"]), "ERR syntax error");
        // Option errors come before key lookups.
        assert_eq!(e(&["SINTERCARD", "1", "str", "LIMIT", "-1"]), "ERR LIMIT can't be negative");
    }

    #[test]
    fn sintercard_key_positions() {
        let argv: Vec<&[u8]> = vec![b"SINTERCARD", b"2", b"a", b"b", b"LIMIT", b"1"];
        assert_eq!(super::sintercard_keys(&argv), vec![2, 3]);
        let argv: Vec<&[u8]> = vec![b"SINTERCARD", b"5", b"a"];
        assert!(super::sintercard_keys(&argv).is_empty());
        let argv: Vec<&[u8]> = vec![b"SINTERCARD", b"x", b"a"];
        assert!(super::sintercard_keys(&argv).is_empty());
    }

    #[test]
    fn modifications_signal_watchers_only_on_change() {
        let db = Db::open_in_memory();
        run(&db, &["SADD", "s", "a"]);
        // Returns whether EXEC ran (no watched key changed in between).
        let exec_survives = |change: &[&str]| {
            let mut s = db.session();
            s.execute(&[b"WATCH", b"s", b"d"]);
            run(&db, change);
            s.execute(&[b"MULTI"]);
            s.execute(&[b"PING"]);
            s.execute(&[b"EXEC"]) != Reply::Nil
        };
        assert!(exec_survives(&["SADD", "s", "a"]));
        assert!(!exec_survives(&["SADD", "s", "b"]));
        assert!(exec_survives(&["SREM", "s", "zz"]));
        assert!(!exec_survives(&["SREM", "s", "b"]));
        assert!(exec_survives(&["SPOP", "s", "0"]));
        assert!(exec_survives(&["SPOP", "nokey"]));
        assert!(exec_survives(&["SMOVE", "s", "d", "zz"]));
        assert!(exec_survives(&["SMOVE", "s", "s", "a"]));
        assert!(!exec_survives(&["SMOVE", "s", "d", "a"]));
        assert!(!exec_survives(&["SMOVE", "d", "s", "a"]));
        assert!(exec_survives(&["SINTERSTORE", "d", "s", "nokey"]));
        assert!(!exec_survives(&["SUNIONSTORE", "d", "s"]));
        assert!(!exec_survives(&["SPOP", "s"]));
        assert!(exec_survives(&["SRANDMEMBER", "d"]));
        // An empty STORE result touches the destination only if it existed (Redis 7.0).
        assert!(!exec_survives(&["SDIFFSTORE", "d", "nokey"]));
        assert!(exec_survives(&["SDIFFSTORE", "d", "nokey"]));
        assert!(exec_survives(&["SUNIONSTORE", "d", "nokey"]));
        run(&db, &["SADD", "x", "zz"]);
        run(&db, &["SADD", "s", "a"]);
        assert!(exec_survives(&["SINTERSTORE", "d", "s", "x"]));
        assert!(!exec_survives(&["SINTERSTORE", "d", "s", "s"]));
    }

    #[test]
    fn sscan_small_set_returns_everything() {
        let db = db_with_string();
        assert_eq!(run(&db, &["SSCAN", "nokey", "0"]), Reply::Array(vec![bulk("0"), Reply::Array(vec![])]));
        // Options are not looked at for a missing key (Redis answers the empty scan first).
        assert_eq!(run(&db, &["SSCAN", "nokey", "0", "COUNT", "0"]), Reply::Array(vec![bulk("0"), Reply::Array(vec![])]));
        assert_eq!(err(&db, &["SSCAN", "nokey", "abc"]), "ERR invalid cursor");
        run(&db, &["SADD", "s", "a", "b", "c", "1"]);
        let r = run(&db, &["SSCAN", "s", "0", "COUNT", "1"]);
        let Reply::Array(parts) = &r else { panic!() };
        assert_eq!(parts[0], bulk("0"));
        assert_eq!(members(&parts[1]), set_of(&["a", "b", "c", "1"]));
        let r = run(&db, &["SSCAN", "s", "0", "MATCH", "[a-b]"]);
        let Reply::Array(parts) = &r else { panic!() };
        assert_eq!(members(&parts[1]), set_of(&["a", "b"]));
        let e = |args: &[&str]| err(&db, args);
        assert_eq!(e(&["SSCAN", "s", "0", "COUNT", "0"]), "ERR syntax error");
        assert_eq!(e(&["SSCAN", "s", "0", "COUNT", "abc"]), "ERR value is not an integer or out of range");
        assert_eq!(e(&["SSCAN", "s", "0", "MATCH"]), "ERR syntax error");
        assert_eq!(e(&["SSCAN", "s", "0", "TYPE", "set"]), "ERR syntax error");
        assert_eq!(e(&["SSCAN", "s", "0", "NOVALUES"]), "ERR NOVALUES option can only be used in HSCAN");
        assert_eq!(e(&["SSCAN", "s", "0", "FOO", "NOVALUES"]), "ERR syntax error");
        assert_eq!(e(&["SSCAN", "s", "0", "COUNT", "x", "NOVALUES"]), "ERR value is not an integer or out of range");
        // MATCH's argument may be the word NOVALUES.
        assert_eq!(run(&db, &["SSCAN", "s", "0", "MATCH", "NOVALUES"]), Reply::Array(vec![bulk("0"), Reply::Array(vec![])]));
    }

    /// Full SSCAN iteration of a big set: every member seen, MATCH applied, cursor ends at 0.
    #[test]
    fn sscan_big_set_is_complete() {
        let db = Db::open_in_memory();
        let all: Vec<String> = (0..3000).map(|i| format!("member:{i}")).collect();
        for chunk in all.chunks(500) {
            let mut argv = vec!["SADD", "big"];
            argv.extend(chunk.iter().map(String::as_str));
            run(&db, &argv);
        }
        for (pattern, count) in [(None, 10usize), (Some("member:1*"), 7), (Some("*9"), 100)] {
            let mut seen = BTreeSet::new();
            let mut cursor = "0".to_string();
            let mut calls = 0;
            loop {
                let c = count.to_string();
                let mut argv = vec!["SSCAN", "big", cursor.as_str(), "COUNT", c.as_str()];
                if let Some(p) = pattern {
                    argv.extend(["MATCH", p]);
                }
                let Reply::Array(parts) = run(&db, &argv) else { panic!() };
                let Reply::Bulk(next) = &parts[0] else { panic!() };
                let batch = list(&parts[1]);
                if pattern.is_none() {
                    assert!(batch.len() <= count * 3, "a call returns about COUNT elements");
                }
                seen.extend(batch);
                cursor = String::from_utf8(next.clone()).unwrap();
                calls += 1;
                if cursor == "0" {
                    break;
                }
            }
            let expected: BTreeSet<String> =
                all.iter().filter(|m| pattern.is_none_or(|p| crate::util::glob::glob_match(p.as_bytes(), m.as_bytes()))).cloned().collect();
            assert_eq!(seen, expected, "pattern {pattern:?}");
            assert!(calls > 1, "a big set is scanned in several calls");
        }
    }

    mod log_effects {
        use std::collections::BTreeSet;

        use super::super::super::string::tests::{check_replay, dump, logged, words};
        use super::super::super::testutil::{list, run, text};
        use crate::{Db, Reply};

        fn sadd(key: &str, n: usize) -> Vec<String> {
            let mut w = vec!["SADD".to_string(), key.to_string()];
            w.extend((0..n).map(|i| format!("m{i}")));
            w
        }

        /// The members named by logged SREMs of `key`, checking each command's shape.
        fn srem_members(cmds: &[Vec<String>], key: &str) -> BTreeSet<String> {
            let mut out = BTreeSet::new();
            for c in cmds {
                assert_eq!(c[..2], ["SREM".to_string(), key.to_string()][..], "{c:?}");
                assert!(c.len() > 2 && c.len() <= 2 + super::super::SREM_BATCH, "{} arguments", c.len());
                for m in &c[2..] {
                    assert!(out.insert(m.clone()), "{m} logged twice");
                }
            }
            out
        }

        #[test]
        fn spop_logs_srem_of_the_popped_members() {
            let setup = [sadd("s", 10), words("SADD other x")];
            let done = check_replay(&setup, &["SPOP", "s"], &["s", "other"]);
            assert_eq!(done.cmds, vec![vec!["SREM".to_string(), "s".to_string(), text(&done.reply)]]);
            for count in ["1", "3", "9"] {
                let done = check_replay(&setup, &["SPOP", "s", count], &["s", "other"]);
                let popped: BTreeSet<String> = list(&done.reply).into_iter().collect();
                assert_eq!(popped.len(), count.parse::<usize>().unwrap());
                assert_eq!(srem_members(&done.cmds, "s"), popped);
            }
        }

        #[test]
        fn spop_of_many_members_logs_srem_batches() {
            let setup = [sadd("s", 3000)];
            for count in ["2500", "600"] {
                let done = check_replay(&setup, &["SPOP", "s", count], &["s"]);
                let popped: BTreeSet<String> = list(&done.reply).into_iter().collect();
                assert_eq!(srem_members(&done.cmds, "s"), popped);
                let n: usize = count.parse().unwrap();
                assert_eq!(done.cmds.len(), n.div_ceil(super::super::SREM_BATCH));
            }
        }

        #[test]
        fn spop_of_the_whole_set_logs_del() {
            let setup = [sadd("s", 5), words("SADD other x")];
            for count in ["5", "6", "1000"] {
                let done = check_replay(&setup, &["SPOP", "s", count], &["s", "other"]);
                assert_eq!(list(&done.reply).len(), 5);
                assert_eq!(done.cmds, vec![words("DEL s")]);
            }
            // A one-member set popped without a count: SREM of the member deletes the key too.
            let done = check_replay(&[words("SADD s only")], &["SPOP", "s"], &["s"]);
            assert_eq!(done.cmds, vec![words("SREM s only")]);
        }

        #[test]
        fn spop_that_pops_nothing_logs_nothing() {
            let db = Db::open_in_memory();
            run(&db, &["SADD", "s", "a", "b"]);
            for cmd in [&["SPOP", "s", "0"][..], &["SPOP", "missing"], &["SPOP", "missing", "3"]] {
                logged(&db, cmd).assert_no_effect();
            }
            assert_eq!(dump(&db, "s").unwrap().0, "set [\"a\", \"b\"]");
        }

        #[test]
        fn deterministic_set_writes_do_not_describe_their_effect() {
            let db = Db::open_in_memory();
            run(&db, &["SADD", "x", "a", "b", "c"]);
            run(&db, &["SADD", "y", "b", "c", "d"]);
            let cmds: [&[&str]; 6] = [
                &["SADD", "s", "a", "b"],
                &["SREM", "s", "a"],
                &["SMOVE", "x", "s", "a"],
                &["SINTERSTORE", "d1", "x", "y"],
                &["SUNIONSTORE", "d2", "x", "y"],
                &["SDIFFSTORE", "d3", "y", "x"],
            ];
            for cmd in cmds {
                let done = logged(&db, cmd);
                assert!(!matches!(done.reply, Reply::Error(_)), "{cmd:?}: {:?}", done.reply);
                assert!(done.dirty > 0, "{cmd:?} changed nothing");
                assert_eq!((done.described, done.cmds.len()), (false, 0), "{cmd:?}");
            }
        }
    }
}
