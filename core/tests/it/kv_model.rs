//! Property tests: random command sequences against nestdb and against a simple in-test model
//! of the keyspace (`HashMap<key, ModelValue>`; sorted sets as a member->score map plus a
//! `BTreeSet<(score, member)>`), checking every reply and the final state.
//!
//! The model is deliberately naive (linear scans, cloned collections): it states what each
//! command means, so any disagreement is a bug in nestdb (or in the model, which the failure
//! message makes easy to see). Scores are drawn from values whose sums are exact in binary, so
//! the model's arithmetic equals Redis's.
//!
//! Environment: `NESTDB_MODEL_CASES=<n>` (default 192, 2048 with `NESTDB_FULL=1`),
//! `NESTDB_MODEL_FAMILIES=all|strings,keys,hashes,lists,sets,zsets` overrides
//! `ENABLED_FAMILIES`; proptest's own `PROPTEST_*` variables apply as usual.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use nestdb::{Db, Reply};
use proptest::prelude::*;
use proptest::strategy::Union;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
const TTL_SECS: i64 = 100_000;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Family {
    Strings,
    Keys,
    Hashes,
    Lists,
    Sets,
    ZSets,
}

const ALL_FAMILIES: &[Family] = &[Family::Strings, Family::Keys, Family::Hashes, Family::Lists, Family::Sets, Family::ZSets];

/// The families whose commands the sequences contain by default (`NESTDB_MODEL_FAMILIES=...`
/// narrows them). Every family is listed: a family missing or wrong in nestdb fails the test.
const ENABLED_FAMILIES: &[Family] = ALL_FAMILIES;

fn family_name(f: Family) -> &'static str {
    match f {
        Family::Strings => "strings",
        Family::Keys => "keys",
        Family::Hashes => "hashes",
        Family::Lists => "lists",
        Family::Sets => "sets",
        Family::ZSets => "zsets",
    }
}

fn enabled_families() -> Vec<Family> {
    match std::env::var("NESTDB_MODEL_FAMILIES") {
        Ok(v) if v == "all" => ALL_FAMILIES.to_vec(),
        Ok(v) => v
            .split(',')
            .map(|n| {
                *ALL_FAMILIES
                    .iter()
                    .find(|f| family_name(**f) == n.trim())
                    .unwrap_or_else(|| panic!("NESTDB_MODEL_FAMILIES: unknown family {n:?}"))
            })
            .collect(),
        Err(_) => ENABLED_FAMILIES.to_vec(),
    }
}

// ---------------------------------------------------------------------------------------------
// The model
// ---------------------------------------------------------------------------------------------

/// A score with a total order. The model never holds NaN or -0.0, so `total_cmp` equals the
/// numeric order Redis uses.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Score(f64);

impl Eq for Score {}

impl PartialOrd for Score {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

impl Ord for Score {
    fn cmp(&self, o: &Self) -> Ordering {
        self.0.total_cmp(&o.0)
    }
}

#[derive(Clone, Debug, Default)]
struct ZModel {
    scores: HashMap<Vec<u8>, f64>,
    order: BTreeSet<(Score, Vec<u8>)>,
}

impl ZModel {
    fn insert(&mut self, m: &[u8], s: f64) -> Option<f64> {
        let s = if s == 0.0 { 0.0 } else { s };
        let old = self.scores.insert(m.to_vec(), s);
        if let Some(o) = old {
            self.order.remove(&(Score(o), m.to_vec()));
        }
        self.order.insert((Score(s), m.to_vec()));
        old
    }

    fn remove(&mut self, m: &[u8]) -> bool {
        match self.scores.remove(m) {
            Some(s) => {
                self.order.remove(&(Score(s), m.to_vec()));
                true
            }
            None => false,
        }
    }

    fn rank(&self, m: &[u8]) -> Option<usize> {
        let s = *self.scores.get(m)?;
        Some(self.order.range(..(Score(s), m.to_vec())).count())
    }

    fn len(&self) -> usize {
        self.scores.len()
    }

    fn sorted(&self) -> Vec<(Vec<u8>, f64)> {
        self.order.iter().map(|(s, m)| (m.clone(), s.0)).collect()
    }
}

#[derive(Clone, Debug)]
enum ModelValue {
    Str(Vec<u8>),
    Hash(BTreeMap<Vec<u8>, Vec<u8>>),
    List(VecDeque<Vec<u8>>),
    Set(BTreeSet<Vec<u8>>),
    ZSet(ZModel),
}

impl ModelValue {
    fn type_name(&self) -> &'static str {
        match self {
            ModelValue::Str(_) => "string",
            ModelValue::Hash(_) => "hash",
            ModelValue::List(_) => "list",
            ModelValue::Set(_) => "set",
            ModelValue::ZSet(_) => "zset",
        }
    }

    fn is_empty(&self) -> bool {
        match self {
            ModelValue::Str(_) => false,
            ModelValue::Hash(h) => h.is_empty(),
            ModelValue::List(l) => l.is_empty(),
            ModelValue::Set(s) => s.is_empty(),
            ModelValue::ZSet(z) => z.len() == 0,
        }
    }
}

#[derive(Clone, Debug)]
struct Entry {
    value: ModelValue,
    has_ttl: bool,
}

#[derive(Default, Debug)]
struct Model {
    keys: HashMap<Vec<u8>, Entry>,
}

// ---------------------------------------------------------------------------------------------
// Operations
// ---------------------------------------------------------------------------------------------

/// A score bound for ZRANGEBYSCORE/ZCOUNT.
#[derive(Clone, Copy, Debug)]
struct Bound {
    value: f64,
    exclusive: bool,
}

impl Bound {
    fn arg(self) -> Vec<u8> {
        let v = if self.value == f64::INFINITY {
            "+inf".to_string()
        } else if self.value == f64::NEG_INFINITY {
            "-inf".to_string()
        } else {
            self.value.to_string()
        };
        if self.exclusive {
            format!("({v}").into_bytes()
        } else {
            v.into_bytes()
        }
    }

    fn below(self, s: f64) -> bool {
        // `self` as a minimum admits s?
        if self.exclusive {
            s > self.value
        } else {
            s >= self.value
        }
    }

    fn above(self, s: f64) -> bool {
        if self.exclusive {
            s < self.value
        } else {
            s <= self.value
        }
    }
}

#[derive(Clone, Debug)]
enum Op {
    // strings
    Set(Vec<u8>, Vec<u8>),
    Get(Vec<u8>),
    Append(Vec<u8>, Vec<u8>),
    IncrBy(Vec<u8>, i64),
    Strlen(Vec<u8>),
    // keys
    Del(Vec<Vec<u8>>),
    Exists(Vec<Vec<u8>>),
    Type(Vec<u8>),
    Rename(Vec<u8>, Vec<u8>),
    Expire(Vec<u8>),
    Persist(Vec<u8>),
    Ttl(Vec<u8>),
    // hashes
    HSet(Vec<u8>, Vec<(Vec<u8>, Vec<u8>)>),
    HGet(Vec<u8>, Vec<u8>),
    HDel(Vec<u8>, Vec<Vec<u8>>),
    HLen(Vec<u8>),
    HGetAll(Vec<u8>),
    HIncrBy(Vec<u8>, Vec<u8>, i64),
    // lists
    Push(Vec<u8>, bool, Vec<Vec<u8>>),
    Pop(Vec<u8>, bool),
    LRange(Vec<u8>, i64, i64),
    LLen(Vec<u8>),
    LIndex(Vec<u8>, i64),
    // sets
    SAdd(Vec<u8>, Vec<Vec<u8>>),
    SRem(Vec<u8>, Vec<Vec<u8>>),
    SIsMember(Vec<u8>, Vec<u8>),
    SCard(Vec<u8>),
    SMembers(Vec<u8>),
    // sorted sets
    ZAdd(Vec<u8>, Vec<(f64, Vec<u8>)>),
    ZIncrBy(Vec<u8>, f64, Vec<u8>),
    ZRem(Vec<u8>, Vec<Vec<u8>>),
    ZScore(Vec<u8>, Vec<u8>),
    ZRank(Vec<u8>, Vec<u8>, bool),
    ZCard(Vec<u8>),
    ZRange(Vec<u8>, i64, i64, bool, bool),
    ZRangeByScore(Vec<u8>, Bound, Bound, bool, bool),
    ZCount(Vec<u8>, Bound, Bound),
}

fn fmt_score(s: f64) -> String {
    if s == f64::INFINITY {
        "+inf".into()
    } else if s == f64::NEG_INFINITY {
        "-inf".into()
    } else {
        // Shortest round-trip text; Redis parses it back to the same double.
        format!("{s:?}")
    }
}

impl Op {
    fn argv(&self) -> Vec<Vec<u8>> {
        fn v(parts: &[&[u8]]) -> Vec<Vec<u8>> {
            parts.iter().map(|p| p.to_vec()).collect()
        }
        fn with(mut head: Vec<Vec<u8>>, tail: &[Vec<u8>]) -> Vec<Vec<u8>> {
            head.extend(tail.iter().cloned());
            head
        }
        let n = |i: i64| i.to_string().into_bytes();
        match self {
            Op::Set(k, val) => v(&[b"SET", k, val]),
            Op::Get(k) => v(&[b"GET", k]),
            Op::Append(k, val) => v(&[b"APPEND", k, val]),
            Op::IncrBy(k, d) => v(&[b"INCRBY", k, &n(*d)]),
            Op::Strlen(k) => v(&[b"STRLEN", k]),
            Op::Del(ks) => with(v(&[b"DEL"]), ks),
            Op::Exists(ks) => with(v(&[b"EXISTS"]), ks),
            Op::Type(k) => v(&[b"TYPE", k]),
            Op::Rename(a, b) => v(&[b"RENAME", a, b]),
            Op::Expire(k) => v(&[b"EXPIRE", k, &n(TTL_SECS)]),
            Op::Persist(k) => v(&[b"PERSIST", k]),
            Op::Ttl(k) => v(&[b"TTL", k]),
            Op::HSet(k, pairs) => {
                let mut c = v(&[b"HSET", k]);
                for (f, x) in pairs {
                    c.push(f.clone());
                    c.push(x.clone());
                }
                c
            }
            Op::HGet(k, f) => v(&[b"HGET", k, f]),
            Op::HDel(k, fs) => with(v(&[b"HDEL", k]), fs),
            Op::HLen(k) => v(&[b"HLEN", k]),
            Op::HGetAll(k) => v(&[b"HGETALL", k]),
            Op::HIncrBy(k, f, d) => v(&[b"HINCRBY", k, f, &n(*d)]),
            Op::Push(k, left, xs) => with(v(&[if *left { b"LPUSH" } else { b"RPUSH" }, k]), xs),
            Op::Pop(k, left) => v(&[if *left { b"LPOP" } else { b"RPOP" }, k]),
            Op::LRange(k, a, b) => v(&[b"LRANGE", k, &n(*a), &n(*b)]),
            Op::LLen(k) => v(&[b"LLEN", k]),
            Op::LIndex(k, i) => v(&[b"LINDEX", k, &n(*i)]),
            Op::SAdd(k, ms) => with(v(&[b"SADD", k]), ms),
            Op::SRem(k, ms) => with(v(&[b"SREM", k]), ms),
            Op::SIsMember(k, m) => v(&[b"SISMEMBER", k, m]),
            Op::SCard(k) => v(&[b"SCARD", k]),
            Op::SMembers(k) => v(&[b"SMEMBERS", k]),
            Op::ZAdd(k, pairs) => {
                let mut c = v(&[b"ZADD", k]);
                for (s, m) in pairs {
                    c.push(fmt_score(*s).into_bytes());
                    c.push(m.clone());
                }
                c
            }
            Op::ZIncrBy(k, d, m) => v(&[b"ZINCRBY", k, fmt_score(*d).as_bytes(), m]),
            Op::ZRem(k, ms) => with(v(&[b"ZREM", k]), ms),
            Op::ZScore(k, m) => v(&[b"ZSCORE", k, m]),
            Op::ZRank(k, m, rev) => v(&[if *rev { b"ZREVRANK".as_slice() } else { b"ZRANK" }, k, m]),
            Op::ZCard(k) => v(&[b"ZCARD", k]),
            Op::ZRange(k, a, b, rev, ws) => {
                let mut c = v(&[b"ZRANGE", k, &n(*a), &n(*b)]);
                if *rev {
                    c.push(b"REV".to_vec());
                }
                if *ws {
                    c.push(b"WITHSCORES".to_vec());
                }
                c
            }
            Op::ZRangeByScore(k, min, max, rev, ws) => {
                // ZRANGEBYSCORE / ZREVRANGEBYSCORE (which takes max first).
                let mut c = if *rev {
                    v(&[b"ZREVRANGEBYSCORE", k, &max.arg(), &min.arg()])
                } else {
                    v(&[b"ZRANGEBYSCORE", k, &min.arg(), &max.arg()])
                };
                if *ws {
                    c.push(b"WITHSCORES".to_vec());
                }
                c
            }
            Op::ZCount(k, min, max) => v(&[b"ZCOUNT", k, &min.arg(), &max.arg()]),
        }
    }
}

fn bulk(b: &[u8]) -> Reply {
    Reply::Bulk(b.to_vec())
}

fn wrongtype() -> Reply {
    Reply::Error(WRONGTYPE.into())
}

fn arr(items: impl IntoIterator<Item = Reply>) -> Reply {
    Reply::Array(items.into_iter().collect())
}

fn scored(items: Vec<(Vec<u8>, f64)>, with_scores: bool) -> Reply {
    if with_scores {
        arr(items.into_iter().map(|(m, s)| arr([Reply::Bulk(m), Reply::Double(s)])))
    } else {
        arr(items.into_iter().map(|(m, _)| Reply::Bulk(m)))
    }
}

/// LRANGE/ZRANGE index normalisation: the inclusive range of positions, if any.
fn norm_range(start: i64, stop: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let mut s = if start < 0 { start + len } else { start };
    let mut e = if stop < 0 { stop + len } else { stop };
    if s < 0 {
        s = 0;
    }
    if s > e || s >= len {
        return None;
    }
    if e >= len {
        e = len - 1;
    }
    Some((s as usize, e as usize))
}

/// Expected outcome of a command: an exact reply, or a TTL in a window.
enum Expect {
    Exact(Reply),
    TtlNear,
}

impl Model {
    /// A typed view of `key`: Ok(None) if absent, Err(WRONGTYPE) if another type.
    fn typed<'a, T>(&'a mut self, key: &[u8], pick: impl Fn(&'a mut ModelValue) -> Option<&'a mut T>) -> Result<Option<&'a mut T>, Reply> {
        match self.keys.get_mut(key) {
            None => Ok(None),
            Some(e) => pick(&mut e.value).map(Some).ok_or_else(wrongtype),
        }
    }

    /// A typed container for writing, created empty if absent.
    fn create<'a, T>(
        &'a mut self,
        key: &[u8],
        make: impl Fn() -> ModelValue,
        pick: impl Fn(&'a mut ModelValue) -> Option<&'a mut T>,
    ) -> Result<&'a mut T, Reply> {
        let e = self.keys.entry(key.to_vec()).or_insert_with(|| Entry { value: make(), has_ttl: false });
        pick(&mut e.value).ok_or_else(wrongtype)
    }

    /// Drop `key` if its container became empty (Redis deletes empty aggregates).
    fn prune(&mut self, key: &[u8]) {
        if self.keys.get(key).is_some_and(|e| e.value.is_empty()) {
            self.keys.remove(key);
        }
    }

    fn apply(&mut self, op: &Op) -> Expect {
        let r = self.apply_inner(op);
        if let Some(k) = op.argv().get(1) {
            self.prune(k);
        }
        match r {
            Ok(e) => e,
            Err(e) => Expect::Exact(e),
        }
    }

    fn apply_inner(&mut self, op: &Op) -> Result<Expect, Reply> {
        use Expect::Exact;
        fn hash(v: &mut ModelValue) -> Option<&mut BTreeMap<Vec<u8>, Vec<u8>>> {
            if let ModelValue::Hash(h) = v {
                Some(h)
            } else {
                None
            }
        }
        fn list(v: &mut ModelValue) -> Option<&mut VecDeque<Vec<u8>>> {
            if let ModelValue::List(l) = v {
                Some(l)
            } else {
                None
            }
        }
        fn set(v: &mut ModelValue) -> Option<&mut BTreeSet<Vec<u8>>> {
            if let ModelValue::Set(s) = v {
                Some(s)
            } else {
                None
            }
        }
        fn zset(v: &mut ModelValue) -> Option<&mut ZModel> {
            if let ModelValue::ZSet(z) = v {
                Some(z)
            } else {
                None
            }
        }
        fn string(v: &mut ModelValue) -> Option<&mut Vec<u8>> {
            if let ModelValue::Str(s) = v {
                Some(s)
            } else {
                None
            }
        }
        let new_hash = || ModelValue::Hash(BTreeMap::new());
        let new_list = || ModelValue::List(VecDeque::new());
        let new_set = || ModelValue::Set(BTreeSet::new());
        let new_zset = || ModelValue::ZSet(ZModel::default());
        Ok(match op {
            Op::Set(k, v) => {
                self.keys.insert(k.clone(), Entry { value: ModelValue::Str(v.clone()), has_ttl: false });
                Exact(Reply::OK)
            }
            Op::Get(k) => Exact(self.typed(k, string)?.map_or(Reply::Nil, |s| bulk(s))),
            Op::Append(k, v) => {
                let s = self.create(k, || ModelValue::Str(Vec::new()), string)?;
                s.extend_from_slice(v);
                Exact(Reply::Int(s.len() as i64))
            }
            Op::IncrBy(k, d) => {
                let cur = match self.typed(k, string)? {
                    None => 0,
                    Some(s) => {
                        let text = String::from_utf8_lossy(s);
                        let ok = text == "0" || (!text.starts_with('0') && !text.starts_with("-0") && !text.starts_with('+'));
                        match text.parse::<i64>() {
                            Ok(n) if ok => n,
                            _ => return Err(Reply::Error("ERR value is not an integer or out of range".into())),
                        }
                    }
                };
                let new = cur.checked_add(*d).ok_or_else(|| Reply::Error("ERR increment or decrement would overflow".into()))?;
                let s = self.create(k, || ModelValue::Str(Vec::new()), string)?;
                *s = new.to_string().into_bytes();
                Exact(Reply::Int(new))
            }
            Op::Strlen(k) => Exact(Reply::Int(self.typed(k, string)?.map_or(0, |s| s.len()) as i64)),
            Op::Del(ks) => Exact(Reply::Int(ks.iter().filter(|k| self.keys.remove(*k).is_some()).count() as i64)),
            Op::Exists(ks) => Exact(Reply::Int(ks.iter().filter(|k| self.keys.contains_key(*k)).count() as i64)),
            Op::Type(k) => Exact(Reply::Status(self.keys.get(k).map_or("none", |e| e.value.type_name()).into())),
            Op::Rename(a, b) => match self.keys.remove(a) {
                None => return Err(Reply::Error("ERR no such key".into())),
                Some(e) => {
                    self.keys.insert(b.clone(), e);
                    Exact(Reply::OK)
                }
            },
            Op::Expire(k) => match self.keys.get_mut(k) {
                None => Exact(Reply::Int(0)),
                Some(e) => {
                    e.has_ttl = true;
                    Exact(Reply::Int(1))
                }
            },
            Op::Persist(k) => match self.keys.get_mut(k) {
                Some(e) if e.has_ttl => {
                    e.has_ttl = false;
                    Exact(Reply::Int(1))
                }
                _ => Exact(Reply::Int(0)),
            },
            Op::Ttl(k) => match self.keys.get(k) {
                None => Exact(Reply::Int(-2)),
                Some(e) if !e.has_ttl => Exact(Reply::Int(-1)),
                Some(_) => Expect::TtlNear,
            },
            Op::HSet(k, pairs) => {
                let h = self.create(k, new_hash, hash)?;
                Exact(Reply::Int(pairs.iter().filter(|(f, v)| h.insert(f.clone(), v.clone()).is_none()).count() as i64))
            }
            Op::HGet(k, f) => Exact(self.typed(k, hash)?.and_then(|h| h.get(f)).map_or(Reply::Nil, |v| bulk(v))),
            Op::HDel(k, fs) => {
                Exact(Reply::Int(self.typed(k, hash)?.map_or(0, |h| fs.iter().filter(|f| h.remove(*f).is_some()).count()) as i64))
            }
            Op::HLen(k) => Exact(Reply::Int(self.typed(k, hash)?.map_or(0, |h| h.len()) as i64)),
            Op::HGetAll(k) => {
                let pairs = self.typed(k, hash)?.map(|h| h.iter().map(|(f, v)| (bulk(f), bulk(v))).collect()).unwrap_or_default();
                Exact(Reply::Map(pairs))
            }
            Op::HIncrBy(k, f, d) => {
                let cur = match self.typed(k, hash)?.and_then(|h| h.get(f)) {
                    None => 0,
                    Some(v) => {
                        let text = String::from_utf8_lossy(v);
                        let ok = text == "0" || (!text.starts_with('0') && !text.starts_with("-0") && !text.starts_with('+'));
                        match text.parse::<i64>() {
                            Ok(n) if ok => n,
                            _ => return Err(Reply::Error("ERR hash value is not an integer".into())),
                        }
                    }
                };
                let new = cur.checked_add(*d).ok_or_else(|| Reply::Error("ERR increment or decrement would overflow".into()))?;
                self.create(k, new_hash, hash)?.insert(f.clone(), new.to_string().into_bytes());
                Exact(Reply::Int(new))
            }
            Op::Push(k, left, xs) => {
                let l = self.create(k, new_list, list)?;
                for x in xs {
                    if *left {
                        l.push_front(x.clone());
                    } else {
                        l.push_back(x.clone());
                    }
                }
                Exact(Reply::Int(l.len() as i64))
            }
            Op::Pop(k, left) => {
                let popped = self.typed(k, list)?.and_then(|l| if *left { l.pop_front() } else { l.pop_back() });
                Exact(popped.map_or(Reply::Nil, Reply::Bulk))
            }
            Op::LRange(k, a, b) => {
                let items = match self.typed(k, list)? {
                    None => Vec::new(),
                    Some(l) => match norm_range(*a, *b, l.len()) {
                        None => Vec::new(),
                        Some((s, e)) => l.range(s..=e).map(|x| bulk(x)).collect(),
                    },
                };
                Exact(Reply::Array(items))
            }
            Op::LLen(k) => Exact(Reply::Int(self.typed(k, list)?.map_or(0, |l| l.len()) as i64)),
            Op::LIndex(k, i) => {
                let r = self.typed(k, list)?.and_then(|l| {
                    let idx = if *i < 0 { *i + l.len() as i64 } else { *i };
                    usize::try_from(idx).ok().and_then(|i| l.get(i)).map(|x| bulk(x))
                });
                Exact(r.unwrap_or(Reply::Nil))
            }
            Op::SAdd(k, ms) => {
                let s = self.create(k, new_set, set)?;
                Exact(Reply::Int(ms.iter().filter(|m| s.insert((*m).clone())).count() as i64))
            }
            Op::SRem(k, ms) => Exact(Reply::Int(self.typed(k, set)?.map_or(0, |s| ms.iter().filter(|m| s.remove(*m)).count()) as i64)),
            Op::SIsMember(k, m) => Exact(Reply::Int(i64::from(self.typed(k, set)?.is_some_and(|s| s.contains(m))))),
            Op::SCard(k) => Exact(Reply::Int(self.typed(k, set)?.map_or(0, |s| s.len()) as i64)),
            Op::SMembers(k) => Exact(arr(self.typed(k, set)?.map(|s| s.iter().map(|m| bulk(m)).collect::<Vec<_>>()).unwrap_or_default())),
            Op::ZAdd(k, pairs) => {
                let z = self.create(k, new_zset, zset)?;
                Exact(Reply::Int(pairs.iter().filter(|(s, m)| z.insert(m, *s).is_none()).count() as i64))
            }
            Op::ZIncrBy(k, d, m) => {
                let cur = self.typed(k, zset)?.and_then(|z| z.scores.get(m).copied()).unwrap_or(0.0);
                let new = cur + d;
                if new.is_nan() {
                    return Err(Reply::Error("ERR resulting score is not a number (NaN)".into()));
                }
                self.create(k, new_zset, zset)?.insert(m, new);
                Exact(Reply::Double(new))
            }
            Op::ZRem(k, ms) => Exact(Reply::Int(self.typed(k, zset)?.map_or(0, |z| ms.iter().filter(|m| z.remove(m)).count()) as i64)),
            Op::ZScore(k, m) => Exact(self.typed(k, zset)?.and_then(|z| z.scores.get(m).copied()).map_or(Reply::Nil, Reply::Double)),
            Op::ZRank(k, m, rev) => {
                let r = self.typed(k, zset)?.and_then(|z| z.rank(m).map(|r| if *rev { z.len() - 1 - r } else { r }));
                Exact(r.map_or(Reply::Nil, |r| Reply::Int(r as i64)))
            }
            Op::ZCard(k) => Exact(Reply::Int(self.typed(k, zset)?.map_or(0, |z| z.len()) as i64)),
            Op::ZRange(k, a, b, rev, ws) => {
                let mut items = self.typed(k, zset)?.map(|z| z.sorted()).unwrap_or_default();
                if *rev {
                    items.reverse();
                }
                let picked = match norm_range(*a, *b, items.len()) {
                    None => Vec::new(),
                    Some((s, e)) => items[s..=e].to_vec(),
                };
                Exact(scored(picked, *ws))
            }
            Op::ZRangeByScore(k, min, max, rev, ws) => {
                let mut items: Vec<(Vec<u8>, f64)> = self
                    .typed(k, zset)?
                    .map(|z| z.sorted())
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|(_, s)| min.below(*s) && max.above(*s))
                    .collect();
                if *rev {
                    items.reverse();
                }
                Exact(scored(items, *ws))
            }
            Op::ZCount(k, min, max) => Exact(Reply::Int(
                self.typed(k, zset)?.map_or(0, |z| z.sorted().iter().filter(|(_, s)| min.below(*s) && max.above(*s)).count()) as i64,
            )),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------------

fn key() -> impl Strategy<Value = Vec<u8>> {
    prop::sample::select(vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec(), b"\x00k".to_vec()])
}

fn small() -> impl Strategy<Value = Vec<u8>> {
    prop::sample::select(vec![
        b"x".to_vec(),
        b"y".to_vec(),
        b"z".to_vec(),
        b"".to_vec(),
        b"1".to_vec(),
        b"-7".to_vec(),
        b"10".to_vec(),
        b"07".to_vec(),
    ])
}

fn member() -> impl Strategy<Value = Vec<u8>> {
    prop::sample::select(vec![b"m1".to_vec(), b"m2".to_vec(), b"m3".to_vec(), b"m4".to_vec(), b"a".to_vec(), b"".to_vec()])
}

/// Scores whose sums stay exact in binary floating point (so no rounding question arises).
fn score() -> impl Strategy<Value = f64> {
    prop_oneof![
        8 => (-8i32..8).prop_map(f64::from),
        2 => prop::sample::select(vec![0.5, -1.5, 2.25, 1e6]),
        1 => prop::sample::select(vec![f64::INFINITY, f64::NEG_INFINITY]),
    ]
}

fn bound() -> impl Strategy<Value = Bound> {
    (
        prop_oneof![6 => (-8i32..8).prop_map(f64::from), 1 => Just(f64::INFINITY), 1 => Just(f64::NEG_INFINITY), 1 => Just(0.5)],
        any::<bool>(),
    )
        .prop_map(|(value, exclusive)| Bound { value, exclusive })
}

fn index() -> impl Strategy<Value = i64> {
    prop_oneof![8 => -6i64..8, 1 => Just(i64::MAX), 1 => Just(i64::MIN)]
}

fn strategies(f: Family) -> Vec<BoxedStrategy<Op>> {
    match f {
        Family::Strings => vec![
            (key(), small()).prop_map(|(k, v)| Op::Set(k, v)).boxed(),
            key().prop_map(Op::Get).boxed(),
            (key(), small()).prop_map(|(k, v)| Op::Append(k, v)).boxed(),
            (key(), prop_oneof![4 => -5i64..5, 1 => Just(i64::MAX), 1 => Just(i64::MIN)]).prop_map(|(k, d)| Op::IncrBy(k, d)).boxed(),
            key().prop_map(Op::Strlen).boxed(),
        ],
        Family::Keys => vec![
            prop::collection::vec(key(), 1..3).prop_map(Op::Del).boxed(),
            prop::collection::vec(key(), 1..4).prop_map(Op::Exists).boxed(),
            key().prop_map(Op::Type).boxed(),
            (key(), key()).prop_map(|(a, b)| Op::Rename(a, b)).boxed(),
            key().prop_map(Op::Expire).boxed(),
            key().prop_map(Op::Persist).boxed(),
            key().prop_map(Op::Ttl).boxed(),
        ],
        Family::Hashes => vec![
            (key(), prop::collection::vec((member(), small()), 1..4)).prop_map(|(k, p)| Op::HSet(k, p)).boxed(),
            (key(), member()).prop_map(|(k, f)| Op::HGet(k, f)).boxed(),
            (key(), prop::collection::vec(member(), 1..3)).prop_map(|(k, f)| Op::HDel(k, f)).boxed(),
            key().prop_map(Op::HLen).boxed(),
            key().prop_map(Op::HGetAll).boxed(),
            (key(), member(), -3i64..4).prop_map(|(k, f, d)| Op::HIncrBy(k, f, d)).boxed(),
        ],
        Family::Lists => vec![
            (key(), any::<bool>(), prop::collection::vec(small(), 1..4)).prop_map(|(k, l, xs)| Op::Push(k, l, xs)).boxed(),
            (key(), any::<bool>()).prop_map(|(k, l)| Op::Pop(k, l)).boxed(),
            (key(), index(), index()).prop_map(|(k, a, b)| Op::LRange(k, a, b)).boxed(),
            key().prop_map(Op::LLen).boxed(),
            (key(), -6i64..6).prop_map(|(k, i)| Op::LIndex(k, i)).boxed(),
        ],
        Family::Sets => vec![
            (key(), prop::collection::vec(member(), 1..4)).prop_map(|(k, m)| Op::SAdd(k, m)).boxed(),
            (key(), prop::collection::vec(member(), 1..3)).prop_map(|(k, m)| Op::SRem(k, m)).boxed(),
            (key(), member()).prop_map(|(k, m)| Op::SIsMember(k, m)).boxed(),
            key().prop_map(Op::SCard).boxed(),
            key().prop_map(Op::SMembers).boxed(),
        ],
        Family::ZSets => vec![
            (key(), prop::collection::vec((score(), member()), 1..4)).prop_map(|(k, p)| Op::ZAdd(k, p)).boxed(),
            (key(), score(), member()).prop_map(|(k, d, m)| Op::ZIncrBy(k, d, m)).boxed(),
            (key(), prop::collection::vec(member(), 1..3)).prop_map(|(k, m)| Op::ZRem(k, m)).boxed(),
            (key(), member()).prop_map(|(k, m)| Op::ZScore(k, m)).boxed(),
            (key(), member(), any::<bool>()).prop_map(|(k, m, r)| Op::ZRank(k, m, r)).boxed(),
            key().prop_map(Op::ZCard).boxed(),
            (key(), index(), index(), any::<bool>(), any::<bool>()).prop_map(|(k, a, b, r, w)| Op::ZRange(k, a, b, r, w)).boxed(),
            (key(), bound(), bound(), any::<bool>(), any::<bool>()).prop_map(|(k, a, b, r, w)| Op::ZRangeByScore(k, a, b, r, w)).boxed(),
            (key(), bound(), bound()).prop_map(|(k, a, b)| Op::ZCount(k, a, b)).boxed(),
        ],
    }
}

fn ops(families: &[Family], max_len: usize) -> impl Strategy<Value = Vec<Op>> {
    let all: Vec<BoxedStrategy<Op>> = families.iter().flat_map(|f| strategies(*f)).collect();
    prop::collection::vec(Union::new(all), 1..max_len)
}

// ---------------------------------------------------------------------------------------------
// Checking
// ---------------------------------------------------------------------------------------------

fn exec(db: &Db, argv: &[Vec<u8>]) -> Reply {
    let v: Vec<&[u8]> = argv.iter().map(Vec::as_slice).collect();
    db.execute(&v)
}

fn show(argv: &[Vec<u8>]) -> String {
    argv.iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect::<Vec<_>>().join(" ")
}

/// Sets and hashes come back in any order: compare them sorted.
fn normalise(op: &Op, r: Reply) -> Reply {
    match (op, r) {
        (Op::SMembers(_), Reply::Array(mut a)) => {
            a.sort_by(|x, y| x.as_bytes().cmp(&y.as_bytes()));
            Reply::Array(a)
        }
        (Op::HGetAll(_), Reply::Map(mut m)) => {
            m.sort_by(|x, y| x.0.as_bytes().cmp(&y.0.as_bytes()));
            Reply::Map(m)
        }
        (_, r) => r,
    }
}

fn check_state(db: &Db, model: &Model, history: &[String]) -> Result<(), TestCaseError> {
    let mut keys: Vec<Vec<u8>> = match exec(db, &[b"KEYS".to_vec(), b"*".to_vec()]) {
        Reply::Array(a) => a.into_iter().filter_map(Reply::into_bytes).collect(),
        other => return Err(TestCaseError::fail(format!("KEYS * answered {other:?}"))),
    };
    keys.sort();
    let mut expected: Vec<Vec<u8>> = model.keys.keys().cloned().collect();
    expected.sort();
    prop_assert_eq!(&keys, &expected, "key sets differ after {:#?}", history);
    for (k, e) in &model.keys {
        let k = k.clone();
        let dump = match &e.value {
            ModelValue::Str(_) => Op::Get(k.clone()),
            ModelValue::Hash(_) => Op::HGetAll(k.clone()),
            ModelValue::List(_) => Op::LRange(k.clone(), 0, -1),
            ModelValue::Set(_) => Op::SMembers(k.clone()),
            ModelValue::ZSet(_) => Op::ZRange(k.clone(), 0, -1, false, true),
        };
        let mut m = Model { keys: HashMap::from([(k.clone(), e.clone())]) };
        let Expect::Exact(want) = m.apply(&dump) else { unreachable!("dumps are exact") };
        let got = normalise(&dump, exec(db, &dump.argv()));
        prop_assert_eq!(&got, &normalise(&dump, want), "final value of {:?} differs after {:#?}", String::from_utf8_lossy(&k), history);
        let ty = exec(db, &[b"TYPE".to_vec(), k.clone()]);
        prop_assert_eq!(ty, Reply::Status(e.value.type_name().into()));
        let ttl = exec(db, &[b"PTTL".to_vec(), k.clone()]).as_int().unwrap_or(i64::MIN);
        prop_assert_eq!(
            ttl >= 0,
            e.has_ttl,
            "TTL presence of {:?} differs (PTTL {}) after {:#?}",
            String::from_utf8_lossy(&k),
            ttl,
            history
        );
    }
    Ok(())
}

fn run_sequence(ops: &[Op]) -> Result<(), TestCaseError> {
    let db = Db::open_in_memory();
    let mut model = Model::default();
    let mut history = Vec::new();
    for op in ops {
        let argv = op.argv();
        let got = exec(&db, &argv);
        let want = model.apply(op);
        history.push(format!("{} -> {got:?}", show(&argv)));
        match want {
            Expect::Exact(want) => {
                let (got, want) = (normalise(op, got), normalise(op, want));
                prop_assert_eq!(&got, &want, "reply to `{}` differs; commands so far: {:#?}", show(&argv), history);
            }
            Expect::TtlNear => {
                let t = got.as_int().unwrap_or(i64::MIN);
                prop_assert!((TTL_SECS - 5..=TTL_SECS).contains(&t), "TTL {} out of range for `{}` after {:#?}", t, show(&argv), history);
            }
        }
    }
    check_state(&db, &model, &history)
}

fn cases() -> u32 {
    if let Ok(v) = std::env::var("NESTDB_MODEL_CASES") {
        return v.parse().unwrap_or_else(|_| panic!("NESTDB_MODEL_CASES must be a number, got {v:?}"));
    }
    if std::env::var("NESTDB_FULL").is_ok_and(|v| v == "1") {
        2048
    } else {
        192
    }
}

fn run(families: &[Family], max_len: usize) {
    let mut runner = TestRunner::new(Config { cases: cases(), failure_persistence: None, ..Config::default() });
    if let Err(e) = runner.run(&ops(families, max_len), |ops| run_sequence(&ops)) {
        panic!("{e}");
    }
}

/// Every enabled family in one keyspace: type collisions, WRONGTYPE, empty-aggregate deletion.
#[test]
fn model_mixed_keyspace() {
    run(&enabled_families(), 80);
}

/// Sorted sets alone, longer sequences: ranks, ranges by rank and score, counts.
#[test]
fn model_sorted_sets() {
    let fams = enabled_families();
    if !fams.contains(&Family::ZSets) {
        eprintln!("model_sorted_sets: zsets family disabled");
        return;
    }
    run(&[Family::ZSets], 150);
}

/// Strings and keys alone (always available): counters, renames, TTL presence.
#[test]
fn model_strings_and_keys() {
    run(&[Family::Strings, Family::Keys], 100);
}
