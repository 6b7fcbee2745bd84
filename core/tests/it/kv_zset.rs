//! Sorted sets through the public API: the listpack -> skiplist encoding transitions OBJECT
//! ENCODING reports (as Redis 7 makes them), and that both encodings answer every command alike.

use nestdb::{Db, Reply};

fn run(db: &Db, cmd: &str) -> Reply {
    let parts: Vec<&[u8]> = cmd.split(' ').map(str::as_bytes).collect();
    db.execute(&parts)
}

fn run_owned(db: &Db, parts: &[String]) -> Reply {
    let argv: Vec<&[u8]> = parts.iter().map(String::as_bytes).collect();
    db.execute(&argv)
}

fn bulk(s: &str) -> Reply {
    Reply::Bulk(s.as_bytes().to_vec())
}

fn encoding(db: &Db, key: &str) -> Reply {
    run(db, &format!("OBJECT ENCODING {key}"))
}

#[test]
fn count_limit_converts_once_and_never_back() {
    let d = Db::open_in_memory();
    for i in 0..128 {
        assert_eq!(run(&d, &format!("ZADD z {i} m{i}")), Reply::Int(1));
    }
    assert_eq!(encoding(&d, "z"), bulk("listpack"));
    assert_eq!(run(&d, "ZADD z 5 m5"), Reply::Int(0), "an update of a listpack member does not convert");
    assert_eq!(encoding(&d, "z"), bulk("listpack"));
    assert_eq!(run(&d, "ZADD z 128 m128"), Reply::Int(1));
    assert_eq!(encoding(&d, "z"), bulk("skiplist"));
    assert_eq!(run(&d, "ZCARD z"), Reply::Int(129));
    assert_eq!(run(&d, "ZRANK z m128"), Reply::Int(128));
    assert_eq!(run(&d, "ZREMRANGEBYRANK z 0 -2"), Reply::Int(128));
    assert_eq!(encoding(&d, "z"), bulk("skiplist"), "shrinking never converts back");
    // A new key starts over.
    assert_eq!(run(&d, "DEL z"), Reply::Int(1));
    assert_eq!(run(&d, "ZADD z 1 a"), Reply::Int(1));
    assert_eq!(encoding(&d, "z"), bulk("listpack"));
}

#[test]
fn member_length_limit() {
    let d = Db::open_in_memory();
    let m64 = "x".repeat(64);
    assert_eq!(run(&d, &format!("ZADD z 1 {m64}")), Reply::Int(1));
    assert_eq!(encoding(&d, "z"), bulk("listpack"));
    assert_eq!(run(&d, &format!("ZADD z 2 {m64}y")), Reply::Int(1));
    assert_eq!(encoding(&d, "z"), bulk("skiplist"));
    // ZINCRBY creating a long member converts too; XX adds nothing, so converts nothing.
    assert_eq!(run(&d, &format!("ZADD y XX 1 {m64}y")), Reply::Int(0));
    assert_eq!(run(&d, &format!("ZINCRBY y 1 {m64}y")), Reply::Double(1.0));
    assert_eq!(encoding(&d, "y"), bulk("skiplist"));
}

#[test]
fn config_set_changes_the_limits_live() {
    let d = Db::open_in_memory();
    assert_eq!(run(&d, "ZADD small 1 a"), Reply::Int(1));
    assert_eq!(run(&d, "CONFIG SET zset-max-listpack-entries 0"), Reply::OK);
    assert_eq!(run(&d, "ZADD z 1 a"), Reply::Int(1));
    assert_eq!(encoding(&d, "z"), bulk("skiplist"), "max entries 0: skiplist from the first ZADD");
    assert_eq!(encoding(&d, "small"), bulk("listpack"), "an existing set converts only on its next insert");
    assert_eq!(run(&d, "ZADD small 2 a"), Reply::Int(0));
    assert_eq!(encoding(&d, "small"), bulk("listpack"), "an update is not an insert");
    assert_eq!(run(&d, "ZADD small 2 b"), Reply::Int(1));
    assert_eq!(encoding(&d, "small"), bulk("skiplist"));
    assert_eq!(run(&d, "CONFIG SET zset-max-listpack-entries 128"), Reply::OK);
    assert_eq!(run(&d, "CONFIG SET zset-max-listpack-value 3"), Reply::OK);
    assert_eq!(run(&d, "ZADD v 1 abc"), Reply::Int(1));
    assert_eq!(encoding(&d, "v"), bulk("listpack"));
    assert_eq!(run(&d, "ZADD v 1 abcd"), Reply::Int(1));
    assert_eq!(encoding(&d, "v"), bulk("skiplist"));
}

#[test]
fn store_destinations_take_the_encoding_of_their_size() {
    let d = Db::open_in_memory();
    for i in 0..200 {
        run(&d, &format!("ZADD big {i} m{i}"));
    }
    assert_eq!(encoding(&d, "big"), bulk("skiplist"));
    assert_eq!(run(&d, "ZRANGESTORE dst big 0 9"), Reply::Int(10));
    assert_eq!(encoding(&d, "dst"), bulk("listpack"));
    assert_eq!(run(&d, "ZRANGESTORE dst big 0 149"), Reply::Int(150));
    assert_eq!(encoding(&d, "dst"), bulk("skiplist"));
    assert_eq!(run(&d, "ZADD s 1 m1 1 m2"), Reply::Int(2));
    assert_eq!(run(&d, "ZINTERSTORE i 2 big s"), Reply::Int(2));
    assert_eq!(encoding(&d, "i"), bulk("listpack"));
    assert_eq!(
        run(&d, "ZRANGE i 0 -1 WITHSCORES"),
        Reply::Array(vec![Reply::Array(vec![bulk("m1"), Reply::Double(2.0)]), Reply::Array(vec![bulk("m2"), Reply::Double(3.0)]),])
    );
    assert_eq!(run(&d, "ZUNIONSTORE u 2 big s"), Reply::Int(200));
    assert_eq!(encoding(&d, "u"), bulk("skiplist"));
    assert_eq!(run(&d, "ZDIFFSTORE df 2 s big"), Reply::Int(0));
    assert_eq!(run(&d, "EXISTS df"), Reply::Int(0));
}

#[test]
fn zscan_returns_a_listpack_whole() {
    let d = Db::open_in_memory();
    for i in 0..100 {
        run(&d, &format!("ZADD z {i}.5 m{i}"));
    }
    let Reply::Array(r) = run(&d, "ZSCAN z 0 COUNT 1") else { panic!() };
    assert_eq!(r[0], bulk("0"));
    assert_eq!(r[1], {
        let Reply::Array(items) = &r[1] else { panic!() };
        assert_eq!(items.len(), 200);
        assert_eq!(items[..2], [bulk("m0"), bulk("0.5")]);
        r[1].clone()
    });
    // The same set in the skiplist encoding is walked with a cursor.
    run(&d, "CONFIG SET zset-max-listpack-entries 0");
    for i in 0..100 {
        run(&d, &format!("ZADD s {i}.5 m{i}"));
    }
    let Reply::Array(r) = run(&d, "ZSCAN s 0 COUNT 1") else { panic!() };
    assert_ne!(r[0], bulk("0"));
}

/// A tiny deterministic generator (the test must be reproducible without a seed printout).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// The same random command stream against a database that keeps sets in listpacks (up to 8
/// members, so the stream crosses the limit both ways) and one that never does: every reply
/// must be the same, whichever encoding answered.
#[test]
fn both_encodings_answer_alike() {
    let compact = Db::open_in_memory();
    let tree = Db::open_in_memory();
    assert_eq!(run(&compact, "CONFIG SET zset-max-listpack-entries 8"), Reply::OK);
    assert_eq!(run(&tree, "CONFIG SET zset-max-listpack-entries 0"), Reply::OK);
    let mut g = Lcg(7);
    let (mut seen_listpack, mut seen_skiplist) = (0, 0);
    let keys = ["a", "b", "c"];
    let scores = ["0", "1", "-1", "2.5", "-0", "inf", "-inf", "1e300", "7", "(1", "(2.5"];
    let lex = ["-", "+", "[m1", "(m1", "[m3", "(m7", "[", "(m"];
    for step in 0..4000 {
        let k = keys[g.next(3) as usize];
        let k2 = keys[g.next(3) as usize];
        let m = format!("m{}", g.next(20));
        let s = scores[g.next(9) as usize].to_string();
        let lo = scores[g.next(scores.len() as u64) as usize];
        let hi = scores[g.next(scores.len() as u64) as usize];
        let (l1, l2) = (lex[g.next(lex.len() as u64) as usize], lex[g.next(lex.len() as u64) as usize]);
        let (r1, r2) = (g.next(9) as i64 - 4, g.next(9) as i64 - 4);
        let flag = ["", "NX", "XX", "GT", "LT", "CH", "INCR"][g.next(7) as usize];
        let cmd = match g.next(22) {
            0..=4 => {
                let mut c = vec!["ZADD".to_string(), k.to_string()];
                if !flag.is_empty() {
                    c.push(flag.to_string());
                }
                let pairs = if flag == "INCR" { 1 } else { 1 + g.next(4) };
                for _ in 0..pairs {
                    c.push(scores[g.next(9) as usize].to_string());
                    c.push(format!("m{}", g.next(20)));
                }
                c
            }
            5 => vec!["ZINCRBY".into(), k.into(), s, m],
            6 => vec!["ZREM".into(), k.into(), m, format!("m{}", g.next(20))],
            7 => vec!["ZRANGE".into(), k.into(), r1.to_string(), r2.to_string(), "WITHSCORES".into()],
            8 => vec!["ZREVRANGE".into(), k.into(), r1.to_string(), r2.to_string()],
            9 => vec![
                "ZRANGEBYSCORE".into(),
                k.into(),
                lo.into(),
                hi.into(),
                "WITHSCORES".into(),
                "LIMIT".into(),
                (r1 + 1).to_string(),
                r2.to_string(),
            ],
            10 => vec!["ZREVRANGEBYSCORE".into(), k.into(), hi.into(), lo.into()],
            11 => vec!["ZRANGEBYLEX".into(), k.into(), l1.into(), l2.into()],
            12 => vec!["ZREVRANGEBYLEX".into(), k.into(), l2.into(), l1.into(), "LIMIT".into(), "1".into(), "3".into()],
            13 => vec![["ZRANK", "ZREVRANK"][g.next(2) as usize].into(), k.into(), m, "WITHSCORE".into()],
            14 => vec!["ZCOUNT".into(), k.into(), lo.into(), hi.into()],
            15 => vec!["ZLEXCOUNT".into(), k.into(), l1.into(), l2.into()],
            16 => vec![["ZPOPMIN", "ZPOPMAX"][g.next(2) as usize].into(), k.into(), g.next(4).to_string()],
            17 => vec!["ZREMRANGEBYSCORE".into(), k.into(), lo.into(), hi.into()],
            18 => vec!["ZREMRANGEBYRANK".into(), k.into(), r1.to_string(), r2.to_string()],
            19 => vec!["ZMSCORE".into(), k.into(), m, "m1".into(), "nope".into()],
            20 => vec!["ZUNIONSTORE".into(), k.into(), "2".into(), k.into(), k2.into(), "AGGREGATE".into(), "MAX".into()],
            _ => vec!["ZRANGESTORE".into(), k.into(), k2.into(), lo.into(), hi.into(), "BYSCORE".into()],
        };
        let (x, y) = (run_owned(&compact, &cmd), run_owned(&tree, &cmd));
        assert_eq!(x, y, "step {step}: {cmd:?}");
        match encoding(&compact, k) {
            e if e == bulk("listpack") => seen_listpack += 1,
            e if e == bulk("skiplist") => seen_skiplist += 1,
            _ => {}
        }
        for key in keys {
            let q = vec!["ZRANGE".to_string(), key.to_string(), "0".into(), "-1".into(), "WITHSCORES".into()];
            assert_eq!(run_owned(&compact, &q), run_owned(&tree, &q), "step {step}: {key} after {cmd:?}");
        }
    }
    // The stream did exercise both encodings on the compact side.
    assert!(seen_listpack > 300 && seen_skiplist > 300, "listpack {seen_listpack}, skiplist {seen_skiplist}");
}
