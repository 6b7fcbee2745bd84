//! SORT and SORT_RO against a real redis-server 7.0: a scripted list of every option, pattern
//! form and error, then thousands of random SORTs over lists, sets and sorted sets (numbers,
//! strings, ties, missing and non-numeric weights, hash fields, LIMIT ranges, GET lists,
//! STORE read back). Every reply must be equal, order included; the only replies compared as
//! multisets are those Redis itself leaves in a set's table order (BY without `*`).

use crate::common::{sorted, Pair, Rng};
use nestdb::{Db, Reply};

#[test]
fn scripted_sort_commands_match_redis() {
    let Some(mut p) = Pair::start("scripted_sort_commands_match_redis") else { return };
    let script = [
        // Numbers, ties broken by the elements' bytes, strtod forms.
        "RPUSH nums 3 1 2 10 -5 1.5 0x10 1e2 +7 007 -0 0 2",
        "SORT nums",
        "SORT nums DESC",
        "SORT nums ASC",
        "SORT nums desc asc",
        "SORT nums LIMIT 0 3",
        "SORT nums LIMIT 2 4 DESC",
        "SORT nums LIMIT -5 3",
        "SORT nums LIMIT 3 -1",
        "SORT nums LIMIT 11 5",
        "SORT nums LIMIT 12 5",
        "SORT nums LIMIT 13 5",
        "SORT nums LIMIT 100 1",
        "SORT nums LIMIT 0 0",
        "SORT nums LIMIT 5 0",
        "SORT nums LIMIT 0 9223372036854775807",
        "SORT nums LIMIT 1 9223372036854775807",
        "SORT nums LIMIT a 1",
        "SORT nums LIMIT 1 b",
        "SORT nums LIMIT 1",
        "SORT nums LIMIT",
        "SORT nums ALPHA",
        "SORT nums ALPHA DESC LIMIT 1 4",
        "RPUSH words banana apple cherry Apple 10 9 apple",
        "SORT words",
        "SORT words ALPHA",
        "SORT words ALPHA DESC",
        "SORT nokey",
        "SORT nokey ALPHA DESC LIMIT 0 5",
        "SORT nokey BY nosort",
        "SORT nokey STORE dst",
        "EXISTS dst",
        // Scores that strtod refuses or sets ERANGE for.
        "RPUSH bad 1 nan 2",
        "SORT bad",
        "DEL bad",
        "RPUSH bad 1 1e400",
        "SORT bad",
        "DEL bad",
        "RPUSH bad 1 1e-400",
        "SORT bad",
        "DEL bad",
        "RPUSH bad 1 1e-310",
        "SORT bad",
        "DEL bad",
        "RPUSH bad 1 inf -inf Infinity -INFINITY 2.5e-300",
        "SORT bad",
        "SORT bad DESC",
        "DEL bad",
        "RPUSH bad 1 12abc",
        "SORT bad",
        "SORT bad STORE dst",
        "EXISTS dst",
        "DEL bad",
        "RPUSH bad 0x 1",
        "SORT bad",
        "DEL bad",
        "RPUSH bad 0x1p-1074 0x1p-1022 0 -0x1.8p1",
        "SORT bad",
        // Types.
        "SET str x",
        "SORT str",
        "SORT str BY nosort",
        "SORT str LIMIT a b",
        "HSET h f v",
        "SORT h",
        "XADD s 1-1 a b",
        "SORT s",
        // Parsing: the option loop's errors come before the type check.
        "SORT str FOO",
        "SORT nums BY",
        "SORT nums GET",
        "SORT nums STORE",
        "SORT nums ASC DESC ALPHA FOO",
        "SORT_RO nums STORE dst",
        "SORT_RO nums",
        "SORT_RO nums DESC LIMIT 1 2 ALPHA",
        "SORT",
        "SORT_RO",
        // BY patterns: string keys, hash fields, missing keys, a pattern without `*`.
        "RPUSH ids 1 2 3 4 5 6",
        "MSET w_1 50 w_2 20 w_3 abc w_5 20 w_6 -1",
        "SORT ids BY w_*",
        "MSET w_3 30",
        "SORT ids BY w_*",
        "SORT ids BY w_* DESC",
        "SORT ids BY w_* LIMIT 1 3",
        "SORT ids BY w_* LIMIT 1 3 DESC",
        "SORT ids BY w_* LIMIT 4 10",
        "SORT ids BY w_* ALPHA",
        "SORT ids BY w_* ALPHA DESC",
        "SORT ids BY w_* ALPHA LIMIT 0 2",
        "SORT ids BY nosort",
        "SORT ids BY nosort DESC",
        "SORT ids BY nosort LIMIT 1 2",
        "SORT ids BY nosort DESC LIMIT 1 2",
        "SORT ids BY nosort LIMIT 5 10",
        "SORT ids BY nosort LIMIT 6 10",
        "SORT ids BY nosort BY w_*",
        "SORT ids BY w_* BY nosort",
        "HSET obj_1 age 30 name ann",
        "HSET obj_2 age 25 name bob",
        "HSET obj_3 age 35",
        "HSET obj_4 name dan",
        "SET obj_5 notahash",
        "SORT ids BY obj_*->age",
        "SORT ids BY obj_*->age DESC",
        "SORT ids BY obj_*->name ALPHA",
        "SORT ids BY obj_*->name ALPHA DESC",
        "SORT ids BY obj_*->",
        "SORT ids BY obj_*->missing",
        "SORT ids BY obj_->age*",
        "SORT ids BY *",
        "SORT ids BY w_*_suffix",
        "SET w_1_suffix 9",
        "SORT ids BY w_*_suffix",
        // GET patterns: `#`, strings, hash fields, missing keys, patterns without `*`.
        "SORT ids GET #",
        "SORT ids GET w_*",
        "SORT ids GET # GET w_* GET obj_*->name",
        "SORT ids BY w_* GET # GET obj_*->age",
        "SORT ids BY nosort GET obj_*->name LIMIT 0 3",
        "SORT ids GET nostar",
        "SORT ids GET ## GET #*",
        "SORT ids GET obj_*->name DESC LIMIT 2 2",
        "SORT_RO ids BY w_* GET # GET w_*",
        // STORE: a list replaces any type and its TTL; nothing stored deletes the destination.
        "SORT ids BY w_* STORE dst",
        "LRANGE dst 0 -1",
        "TYPE dst",
        "SET dst old EX 100",
        "SORT ids DESC STORE dst",
        "LRANGE dst 0 -1",
        "TTL dst",
        "SORT ids GET # GET obj_*->name STORE dst",
        "LRANGE dst 0 -1",
        "SORT ids LIMIT 10 10 STORE dst",
        "EXISTS dst",
        "SORT ids STORE a STORE b",
        "EXISTS a b",
        "LRANGE b 0 -1",
        "SORT ids STORE ids DESC",
        "LRANGE ids 0 -1",
        "SORT ids ALPHA STORE ids",
        // Sets: integers (in order already), strings (sorted when stored), BY patterns.
        "SADD iset 5 3 9 -1 100",
        "SORT iset",
        "SORT iset DESC LIMIT 1 2",
        "SORT iset BY nosort",
        "SORT iset BY nosort DESC",
        "SORT iset BY nosort STORE dst",
        "LRANGE dst 0 -1",
        "SADD sset pear fig apple kiwi 42",
        "SORT sset",
        "SORT sset ALPHA",
        "SORT sset ALPHA DESC LIMIT 1 3",
        "SORT sset BY nosort STORE dst",
        "LRANGE dst 0 -1",
        "SORT sset BY nosort DESC STORE dst",
        "LRANGE dst 0 -1",
        "MSET wt_pear 3 wt_fig 1 wt_apple 2 wt_kiwi 5 wt_42 4",
        "SORT sset BY wt_*",
        "SORT sset BY wt_* DESC GET # GET wt_*",
        "SORT sset BY wt_* LIMIT 1 2",
        // Sorted sets: by score order with BY nosort (DESC and LIMIT by rank), else by member.
        "ZADD z 3 c 1 a 2 b 5 e 4 d",
        "SORT z ALPHA",
        "SORT z ALPHA DESC",
        "SORT z BY nosort",
        "SORT z BY nosort DESC",
        "SORT z BY nosort LIMIT 1 3",
        "SORT z BY nosort DESC LIMIT 1 3",
        "SORT z BY nosort LIMIT 4 10",
        "SORT z BY nosort DESC LIMIT 4 10",
        "SORT z BY nosort LIMIT 5 10",
        "SORT z BY nosort GET # LIMIT 0 0",
        "SORT z",
        "ZADD zn 1 10 2 9 3 8",
        "SORT zn",
        "SORT zn BY nosort",
        "SORT zn BY nosort DESC STORE dst",
        "LRANGE dst 0 -1",
        // Scripts: a set sorted as ALPHA under BY nosort; a write refused in a read-only script.
        "EVAL return\\ redis.call('SORT',KEYS[1],'BY','nosort') 1 sset",
        "EVAL_RO return\\ redis.call('SORT_RO',KEYS[1],'BY','w_*','GET','#','GET','w_*') 1 ids",
        "EVAL_RO return\\ redis.call('SORT',KEYS[1]) 1 ids",
        // Keyspace hits: the sorted key and every pattern lookup count.
        "COMMAND GETKEYS SORT ids",
        "COMMAND GETKEYS SORT ids STORE d1 BY x LIMIT 0 1 GET y STORE d2",
        "COMMAND GETKEYS SORT_RO ids",
    ];
    for line in script {
        let line = line.replace("\\ ", "\u{1}");
        let argv: Vec<Vec<u8>> = line.split(' ').map(|w| w.replace('\u{1}', " ").into_bytes()).collect();
        let argv: Vec<&[u8]> = argv.iter().map(Vec::as_slice).collect();
        p.run_argv(&argv);
    }
    // Binary elements and patterns: NULs end C strings (strtod, strcoll, `*` and `->` search).
    let cases: &[&[&[u8]]] = &[
        &[b"RPUSH", b"bin", b"b\x00z", b"b\x00a", b"a", b"", b"\xff", b"\x00"],
        &[b"SORT", b"bin", b"ALPHA"],
        &[b"SORT", b"bin", b"ALPHA", b"DESC"],
        &[b"SORT", b"bin", b"ALPHA", b"STORE", b"bdst"],
        &[b"LRANGE", b"bdst", b"0", b"-1"],
        &[b"RPUSH", b"bnum", b"5\x00x", b"", b" 3", b"2 "],
        &[b"SORT", b"bnum"],
        &[b"DEL", b"bnum"],
        &[b"RPUSH", b"bnum", b"5\x00x", b"", b" 3", b"\t4"],
        &[b"SORT", b"bnum"],
        &[b"SORT", b"bnum", b"DESC"],
        &[b"SET", b"k_", b"7"],
        &[b"SORT", b"bnum", b"BY", b"k_\x00*"],
        &[b"SORT", b"bnum", b"GET", b"#\x00x"],
        &[b"SORT", b"bnum", b"GET", b"k_*", b"GET", b"\x00*"],
    ];
    for argv in cases {
        p.run_argv(argv);
    }
    // Keyspace hits and misses: the sorted key and every lookup a pattern makes.
    p.same_hits_and_misses("one SORT", |p| {
        p.run("SORT ids BY w_* GET # GET obj_*->name GET nostar");
    });
}

/// A random SORT option list over elements named by `elems`: BY (weights, hash fields,
/// missing, nosort), LIMIT, GET, ASC/DESC, ALPHA, STORE.
fn random_options(rng: &mut Rng, ordered_input: bool) -> (Vec<String>, bool, bool) {
    let mut opts: Vec<String> = Vec::new();
    let mut nosort = false;
    let mut alpha_by = false;
    let alpha = rng.chance(40);
    if rng.chance(50) {
        let by = rng.pick(&["w_*", "h_*->f", "h_*->g", "missing_*", "nosort", "w_*", "s_*"]);
        nosort = !by.contains('*');
        alpha_by = alpha && !nosort;
        // Ties among ALPHA sort keys keep the input order, which only a list has.
        if alpha_by && !ordered_input {
            opts.push("BY u_*".into());
        } else {
            opts.push(format!("BY {by}"));
        }
    }
    if alpha {
        opts.push("ALPHA".into());
    }
    if rng.chance(40) {
        opts.push(rng.pick(&["DESC", "ASC", "desc"]).into());
    }
    if rng.chance(50) {
        let off = rng.below(14) as i64 - 2;
        let count = rng.below(14) as i64 - 2;
        opts.push(format!("LIMIT {off} {count}"));
    }
    if rng.chance(40) {
        for _ in 0..1 + rng.below(3) {
            opts.push(format!("GET {}", rng.pick(&["#", "w_*", "h_*->f", "h_*->g", "missing_*", "s_*", "nostar"])));
        }
    }
    for i in (1..opts.len()).rev() {
        opts.swap(i, rng.below(i as u64 + 1) as usize);
    }
    (opts, nosort, alpha_by)
}

#[test]
fn random_sorts_match_redis() {
    let Some(mut p) = Pair::start("random_sorts_match_redis") else { return };
    let full = std::env::var_os("NESTDB_FULL").is_some();
    let rounds = if full { 400 } else { 60 };
    let mut rng = Rng(0x5047_7e57);
    let mut compared = 0usize;
    let mut stored = 0usize;
    let mut errors = 0usize;
    let mut limited_by = 0usize;
    for round in 0..rounds {
        // A fresh universe of elements: numbers (with ties), words, and the keys they name.
        p.run("FLUSHALL");
        let n = 1 + rng.below(if round % 4 == 0 { 300 } else { 20 });
        let elem = |rng: &mut Rng| -> String {
            match rng.below(6) {
                0 => format!("{}", rng.below(20) as i64 - 5),
                1 => format!("{}.{}", rng.below(10), rng.below(100)),
                2 => rng.pick(&["apple", "Apple", "banana", "fig", "10", "9", "x", "-3", "1e3"]).to_string(),
                3 => format!("e{}", rng.below(50)),
                _ => format!("{}", rng.below(1000)),
            }
        };
        let elems: Vec<String> = (0..n).map(|_| elem(&mut rng)).collect();
        let mut push = vec!["RPUSH".to_string(), "l".into()];
        push.extend(elems.iter().cloned());
        p.run(&push.join(" "));
        let mut sadd = vec!["SADD".to_string(), "s".into()];
        sadd.extend(elems.iter().cloned());
        p.run(&sadd.join(" "));
        let mut zadd = vec!["ZADD".to_string(), "z".into()];
        for e in &elems {
            zadd.push(format!("{}", rng.below(8)));
            zadd.push(e.clone());
        }
        p.run(&zadd.join(" "));
        // Weights: numbers with ties, some missing, some not numbers; hash fields; unique ones.
        for (i, e) in elems.iter().enumerate() {
            if rng.chance(80) {
                let w = if rng.chance(5) { "notanumber".to_string() } else { format!("{}", rng.below(10)) };
                p.run(&format!("SET w_{e} {w}"));
            }
            if rng.chance(70) {
                p.run(&format!("HSET h_{e} f {} g {}", rng.below(10), elem(&mut rng)));
            }
            p.run(&format!("SET u_{e} {i:05}{e}"));
            if rng.chance(20) {
                p.run(&format!("SET s_{e} {}", elem(&mut rng)));
            }
        }
        for _ in 0..30 {
            let key = rng.pick(&["l", "l", "s", "z", "missing"]);
            let (opts, nosort, _) = random_options(&mut rng, key == "l");
            let readonly = rng.chance(20);
            let store = !readonly && rng.chance(25);
            let mut line = format!("{} {key}", if readonly { "SORT_RO" } else { "SORT" });
            for o in &opts {
                line += &format!(" {o}");
            }
            if store {
                line += " STORE dst";
            }
            let argv: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
            let (ours, theirs) = p.both(&argv);
            if nosort && key == "s" && !store {
                // A set's own order: Redis's table order is not ours, so a LIMIT picks other
                // members. The whole set must be the same; a range, as long.
                let len = |r: &Reply| if let Reply::Array(v) = r { v.len() } else { usize::MAX };
                if opts.iter().any(|o| o.starts_with("LIMIT")) {
                    assert_eq!(len(&ours), len(&theirs), "{line}");
                } else {
                    assert_eq!(sorted(ours.clone()), sorted(theirs), "{line}");
                }
            } else {
                assert_eq!(ours, theirs, "{line}");
            }
            if matches!(ours, Reply::Error(_)) {
                errors += 1;
            }
            if opts.iter().any(|o| o.starts_with("LIMIT")) && opts.iter().any(|o| o.starts_with("BY") && o.contains('*')) {
                limited_by += 1;
            }
            if store {
                p.run("LRANGE dst 0 -1");
                stored += 1;
            }
            compared += 1;
        }
    }
    // The random lines must reach every path, or the comparison proves little.
    assert!(stored > rounds * 3 && errors > rounds && limited_by > rounds * 2, "stored {stored}, errors {errors}, limited BY {limited_by}");
    assert!(compared >= rounds * 30);
}

/// SORT ... STORE is logged as its effect: replaying the log rebuilds the same list, TTL gone.
#[test]
fn sort_store_survives_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let want = {
        let db = Db::open(dir.path(), nestdb::Options::default()).expect("open");
        db.execute(&[b"SADD", b"s", b"pear", b"fig", b"apple", b"kiwi"]);
        db.execute(&[b"SET", b"dst", b"x", b"EX", b"100"]);
        assert_eq!(db.execute(&[b"SORT", b"s", b"BY", b"nosort", b"STORE", b"dst"]), Reply::Int(4));
        db.execute(&[b"SORT", b"s", b"ALPHA", b"LIMIT", b"0", b"0", b"STORE", b"gone"]);
        db.execute(&[b"RPUSH", b"gone2", b"x"]);
        assert_eq!(db.execute(&[b"SORT", b"s", b"LIMIT", b"9", b"1", b"ALPHA", b"STORE", b"gone2"]), Reply::Int(0));
        db.execute(&[b"LRANGE", b"dst", b"0", b"-1"])
    };
    assert_eq!(want, Reply::Array(["apple", "fig", "kiwi", "pear"].iter().map(|s| Reply::Bulk(s.as_bytes().to_vec())).collect()));
    let db = Db::open(dir.path(), nestdb::Options::default()).expect("reopen");
    assert_eq!(db.execute(&[b"LRANGE", b"dst", b"0", b"-1"]), want);
    assert_eq!(db.execute(&[b"TTL", b"dst"]), Reply::Int(-1));
    assert_eq!(db.execute(&[b"EXISTS", b"gone", b"gone2"]), Reply::Int(0));
}
