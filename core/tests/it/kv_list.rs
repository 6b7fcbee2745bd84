//! Lists through the public API: OBJECT ENCODING follows Redis 7's listpack/quicklist
//! conversions (by count under CONFIG SET list-max-listpack-size N, by bytes under the default
//! -2), the commands agree with a `VecDeque` model across node boundaries, and lists survive a
//! snapshot reload.

use std::collections::VecDeque;

use nestdb::{Db, Options, Reply};
use proptest::prelude::*;

fn run(db: &Db, args: &[&[u8]]) -> Reply {
    db.execute(args)
}

fn cmd(db: &Db, line: &str) -> Reply {
    let parts: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
    db.execute(&parts)
}

fn bulk(s: &str) -> Reply {
    Reply::Bulk(s.as_bytes().to_vec())
}

fn encoding(db: &Db, key: &str) -> String {
    match cmd(db, &format!("OBJECT ENCODING {key}")) {
        Reply::Bulk(b) => String::from_utf8(b).unwrap(),
        other => panic!("OBJECT ENCODING {key} answered {other:?}"),
    }
}

fn range(db: &Db, key: &[u8]) -> Vec<Vec<u8>> {
    match run(db, &[b"LRANGE", key, b"0", b"-1"]) {
        Reply::Array(items) => items
            .into_iter()
            .map(|r| match r {
                Reply::Bulk(b) => b,
                other => panic!("LRANGE element {other:?}"),
            })
            .collect(),
        other => panic!("LRANGE answered {other:?}"),
    }
}

#[test]
fn encoding_by_count() {
    let db = Db::open_in_memory();
    assert_eq!(cmd(&db, "CONFIG SET list-max-listpack-size 4"), Reply::OK);
    assert_eq!(cmd(&db, "RPUSH l a b c d"), Reply::Int(4));
    assert_eq!(encoding(&db, "l"), "listpack");
    assert_eq!(cmd(&db, "RPUSH l e"), Reply::Int(5));
    assert_eq!(encoding(&db, "l"), "quicklist");
    assert_eq!(cmd(&db, "LPOP l 2"), Reply::Array(vec![bulk("a"), bulk("b")]));
    assert_eq!(encoding(&db, "l"), "quicklist", "3 elements: not yet half of 4");
    assert_eq!(cmd(&db, "RPOP l"), bulk("e"));
    assert_eq!(encoding(&db, "l"), "listpack");
    assert_eq!(cmd(&db, "LRANGE l 0 -1"), Reply::Array(vec![bulk("c"), bulk("d")]));
    // One push of many converts once, up front.
    assert_eq!(cmd(&db, "LPUSH m 1 2 3 4 5 6 7 8 9"), Reply::Int(9));
    assert_eq!(encoding(&db, "m"), "quicklist");
    assert_eq!(cmd(&db, "LINDEX m 0"), bulk("9"));
    assert_eq!(cmd(&db, "LTRIM m 0 1"), Reply::OK);
    assert_eq!(encoding(&db, "m"), "listpack");
    // LSET converts before checking the index, as Redis 7's lsetCommand does.
    cmd(&db, "RPUSH s a b c d");
    assert_eq!(cmd(&db, "LSET s 10 x"), Reply::Error("ERR index out of range".into()));
    assert_eq!(encoding(&db, "s"), "quicklist");
    assert_eq!(cmd(&db, "LREM s 0 a"), Reply::Int(1));
    assert_eq!(encoding(&db, "s"), "quicklist", "3 > 4/2");
    assert_eq!(cmd(&db, "LREM s 1 b"), Reply::Int(1));
    assert_eq!(encoding(&db, "s"), "listpack");
    // Back to the default: by bytes, so many small elements stay one listpack.
    assert_eq!(cmd(&db, "CONFIG SET list-max-listpack-size -2"), Reply::OK);
    let args: Vec<String> = (0..200).map(|i| format!("e{i}")).collect();
    let mut argv: Vec<&[u8]> = vec![b"RPUSH", b"n"];
    argv.extend(args.iter().map(|s| s.as_bytes()));
    assert_eq!(run(&db, &argv), Reply::Int(200));
    assert_eq!(encoding(&db, "n"), "listpack");
}

#[test]
fn encoding_by_size() {
    let db = Db::open_in_memory();
    cmd(&db, "RPUSH l a b");
    assert_eq!(encoding(&db, "l"), "listpack");
    let big = vec![b'x'; 9000];
    assert_eq!(run(&db, &[b"RPUSH", b"l", &big]), Reply::Int(3));
    assert_eq!(encoding(&db, "l"), "quicklist");
    assert_eq!(run(&db, &[b"LINDEX", b"l", b"-1"]), Reply::Bulk(big.clone()));
    assert_eq!(run(&db, &[b"RPOP", b"l"]), Reply::Bulk(big.clone()));
    assert_eq!(encoding(&db, "l"), "listpack");
    // LSET and LINSERT with a big element.
    assert_eq!(run(&db, &[b"LSET", b"l", b"0", &big]), Reply::OK);
    assert_eq!(encoding(&db, "l"), "quicklist");
    assert_eq!(cmd(&db, "LSET l 0 small"), Reply::OK);
    assert_eq!(encoding(&db, "l"), "listpack");
    assert_eq!(run(&db, &[b"LINSERT", b"l", b"AFTER", b"small", &big]), Reply::Int(3));
    assert_eq!(encoding(&db, "l"), "quicklist");
    assert_eq!(range(&db, b"l"), vec![b"small".to_vec(), big.clone(), b"b".to_vec()]);
    // Many small elements: past 8 KiB the list becomes a quicklist; trimmed back, a listpack.
    for i in 0..1000 {
        run(&db, &[b"RPUSH", b"many", format!("element:{i:04}").as_bytes()]);
    }
    assert_eq!(encoding(&db, "many"), "quicklist");
    assert_eq!(cmd(&db, "LINDEX many 500"), bulk("element:0500"));
    assert_eq!(cmd(&db, "LPOS many element:0999"), Reply::Int(999));
    assert_eq!(cmd(&db, "LTRIM many 100 109"), Reply::OK);
    assert_eq!(encoding(&db, "many"), "listpack");
    assert_eq!(cmd(&db, "LRANGE many 0 0"), Reply::Array(vec![bulk("element:0100")]));
}

#[test]
fn lists_survive_reload() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let big: Vec<Vec<u8>> = (0..20_000u32).map(|i| format!("item:{i}").into_bytes()).collect();
    {
        let db = Db::open(&path, Options::default()).unwrap();
        for chunk in big.chunks(500) {
            let mut argv: Vec<&[u8]> = vec![b"RPUSH", b"big"];
            argv.extend(chunk.iter().map(Vec::as_slice));
            run(&db, &argv);
        }
        cmd(&db, "RPUSH small a b c");
        assert_eq!(cmd(&db, "SAVE"), Reply::OK);
    }
    let db = Db::open(&path, Options::default()).unwrap();
    assert_eq!(range(&db, b"big"), big);
    assert_eq!(encoding(&db, "big"), "quicklist");
    assert_eq!(encoding(&db, "small"), "listpack");
    assert_eq!(cmd(&db, "LINDEX big 12345"), bulk("item:12345"));
}

#[derive(Debug, Clone)]
enum Op {
    Push(bool, Vec<Vec<u8>>),
    Pop(bool, usize),
    Set(i64, Vec<u8>),
    Insert(usize, bool, Vec<u8>),
    Rem(usize, i64),
    Trim(i64, i64),
    Move(bool, bool),
    Range(i64, i64),
    Pos(usize, i64),
}

fn elem() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        6 => (0u8..5).prop_map(|b| vec![b'a' + b]),
        3 => (0usize..120, any::<u8>()).prop_map(|(n, b)| vec![b; n]),
        1 => (2000usize..5000, any::<u8>()).prop_map(|(n, b)| vec![b; n]),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (any::<bool>(), proptest::collection::vec(elem(), 1..30)).prop_map(|(l, v)| Op::Push(l, v)),
        2 => (any::<bool>(), 0usize..20).prop_map(|(l, n)| Op::Pop(l, n)),
        1 => (-40i64..40, elem()).prop_map(|(i, e)| Op::Set(i, e)),
        1 => (any::<usize>(), any::<bool>(), elem()).prop_map(|(i, a, e)| Op::Insert(i, a, e)),
        1 => (any::<usize>(), -3i64..4).prop_map(|(i, c)| Op::Rem(i, c)),
        1 => (-60i64..60, -60i64..60).prop_map(|(a, b)| Op::Trim(a, b)),
        1 => (any::<bool>(), any::<bool>()).prop_map(|(a, b)| Op::Move(a, b)),
        2 => (-60i64..60, -60i64..60).prop_map(|(a, b)| Op::Range(a, b)),
        1 => (any::<usize>(), -3i64..4).prop_map(|(i, r)| Op::Pos(i, r)),
    ]
}

/// Redis's index normalisation for LRANGE/LTRIM: the inclusive window, None when empty.
fn window(start: i64, stop: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let s = if start < 0 { (start + len).max(0) } else { start };
    let e = if stop < 0 { stop + len } else { stop.min(len - 1) };
    (s <= e && s < len).then_some((s as usize, e as usize))
}

fn side(left: bool) -> &'static [u8] {
    if left {
        b"LEFT"
    } else {
        b"RIGHT"
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]
    #[test]
    fn commands_match_a_model(fill in prop_oneof![Just("-1"), Just("-2"), Just("3")], ops in proptest::collection::vec(op(), 1..50)) {
        let db = Db::open_in_memory();
        cmd(&db, &format!("CONFIG SET list-max-listpack-size {fill}"));
        let mut m: VecDeque<Vec<u8>> = VecDeque::new();
        for op in ops {
            match op {
                Op::Push(left, v) => {
                    let mut argv: Vec<&[u8]> = vec![if left { b"LPUSH" } else { b"RPUSH" }, b"l"];
                    argv.extend(v.iter().map(Vec::as_slice));
                    let r = run(&db, &argv);
                    for e in v {
                        if left { m.push_front(e) } else { m.push_back(e) }
                    }
                    prop_assert_eq!(r, Reply::Int(m.len() as i64));
                }
                Op::Pop(left, n) => {
                    let r = run(&db, &[if left { b"LPOP" } else { b"RPOP" }, b"l", n.to_string().as_bytes()]);
                    let want: Vec<Reply> = (0..n).map_while(|_| if left { m.pop_front() } else { m.pop_back() }).map(Reply::Bulk).collect();
                    if want.is_empty() && n > 0 {
                        prop_assert_eq!(r, Reply::Nil);
                    } else if !(n == 0 && m.is_empty()) {
                        prop_assert_eq!(r, Reply::Array(want));
                    }
                }
                Op::Set(i, e) => {
                    let r = run(&db, &[b"LSET", b"l", i.to_string().as_bytes(), &e]);
                    let len = m.len() as i64;
                    let at = if i < 0 { i + len } else { i };
                    if m.is_empty() {
                        prop_assert_eq!(r, Reply::Error("ERR no such key".into()));
                    } else if (0..len).contains(&at) {
                        prop_assert_eq!(r, Reply::OK);
                        m[at as usize] = e;
                    } else {
                        prop_assert_eq!(r, Reply::Error("ERR index out of range".into()));
                    }
                }
                Op::Insert(i, after, e) => {
                    let pivot = if m.is_empty() { b"none".to_vec() } else { m[i % m.len()].clone() };
                    let r = run(&db, &[b"LINSERT", b"l", if after { b"AFTER" } else { b"BEFORE" }, &pivot, &e]);
                    if m.is_empty() {
                        prop_assert_eq!(r, Reply::Int(0));
                    } else {
                        let p = m.iter().position(|x| *x == pivot).unwrap();
                        m.insert(if after { p + 1 } else { p }, e);
                        prop_assert_eq!(r, Reply::Int(m.len() as i64));
                    }
                }
                Op::Rem(i, count) => {
                    let item = if m.is_empty() { b"a".to_vec() } else { m[i % m.len()].clone() };
                    let r = run(&db, &[b"LREM", b"l", count.to_string().as_bytes(), &item]);
                    let mut want = if count == 0 { usize::MAX } else { count.unsigned_abs() as usize };
                    let mut keep = vec![true; m.len()];
                    let order: Vec<usize> = if count < 0 { (0..m.len()).rev().collect() } else { (0..m.len()).collect() };
                    for j in order {
                        if want > 0 && m[j] == item { keep[j] = false; want -= 1; }
                    }
                    let removed = keep.iter().filter(|k| !**k).count();
                    let mut j = 0;
                    m.retain(|_| { j += 1; keep[j - 1] });
                    prop_assert_eq!(r, Reply::Int(removed as i64));
                }
                Op::Trim(a, b) => {
                    prop_assert_eq!(run(&db, &[b"LTRIM", b"l", a.to_string().as_bytes(), b.to_string().as_bytes()]), Reply::OK);
                    match window(a, b, m.len()) {
                        Some((s, e)) => { m.truncate(e + 1); m.drain(..s); }
                        None => m.clear(),
                    }
                }
                Op::Move(from_left, to_left) => {
                    let r = run(&db, &[b"LMOVE", b"l", b"l", side(from_left), side(to_left)]);
                    let e = if from_left { m.pop_front() } else { m.pop_back() };
                    match e {
                        Some(e) => {
                            prop_assert_eq!(r, Reply::Bulk(e.clone()));
                            if to_left { m.push_front(e) } else { m.push_back(e) }
                        }
                        None => prop_assert_eq!(r, Reply::Nil),
                    }
                }
                Op::Range(a, b) => {
                    let r = run(&db, &[b"LRANGE", b"l", a.to_string().as_bytes(), b.to_string().as_bytes()]);
                    let want: Vec<Reply> = match window(a, b, m.len()) {
                        Some((s, e)) => m.range(s..=e).cloned().map(Reply::Bulk).collect(),
                        None => Vec::new(),
                    };
                    prop_assert_eq!(r, Reply::Array(want));
                }
                Op::Pos(i, rank) => {
                    let rank = if rank == 0 { 1 } else { rank };
                    let item = if m.is_empty() { b"a".to_vec() } else { m[i % m.len()].clone() };
                    let r = run(&db, &[b"LPOS", b"l", &item, b"RANK", rank.to_string().as_bytes(), b"COUNT", b"0"]);
                    let mut hits: Vec<usize> = m.iter().enumerate().filter(|(_, x)| **x == item).map(|(j, _)| j).collect();
                    if rank < 0 { hits.reverse(); }
                    let want: Vec<Reply> = hits.into_iter().skip(rank.unsigned_abs() as usize - 1).map(|j| Reply::Int(j as i64)).collect();
                    prop_assert_eq!(r, Reply::Array(want));
                }
            }
            prop_assert_eq!(cmd(&db, "LLEN l"), Reply::Int(m.len() as i64));
            prop_assert_eq!(range(&db, b"l"), m.iter().cloned().collect::<Vec<_>>());
            if !m.is_empty() {
                let mid = (m.len() / 2).to_string();
                prop_assert_eq!(run(&db, &[b"LINDEX", b"l", mid.as_bytes()]), Reply::Bulk(m[m.len() / 2].clone()));
            }
        }
    }
}
