//! Blocking commands across threads: BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP, BZPOPMIN,
//! BZPOPMAX and BZMPOP wait for data another thread writes, by any write path (commands,
//! MULTI/EXEC, Lua, pipelines, closure transactions, RENAME), time out with nil, never block
//! inside a transaction or script, and hand every element to exactly one waiter.
//! (Immediate replies and error texts are compared with redis-server in `compat_redis.rs`.)

use std::collections::HashSet;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use nestdb::{Db, Options, Reply};

fn run(db: &Db, args: &[&str]) -> Reply {
    let argv: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
    db.execute(&argv)
}

fn bulk(s: &str) -> Reply {
    Reply::Bulk(s.as_bytes().to_vec())
}

fn info_field(db: &Db, field: &str) -> String {
    let Reply::Bulk(text) = run(db, &["INFO", "clients"]) else { panic!("INFO") };
    let text = String::from_utf8(text).unwrap();
    text.lines().find_map(|l| l.strip_prefix(&format!("{field}:"))).unwrap_or_else(|| panic!("{field} in {text}")).to_string()
}

/// Run `args` on another thread; returns its handle once the call is blocked (INFO's
/// `blocked_clients` went up).
fn blocked(db: &Db, args: &[&str]) -> thread::JoinHandle<(Reply, Duration)> {
    let before: usize = info_field(db, "blocked_clients").parse().unwrap();
    let (db2, args): (Db, Vec<String>) = (db.clone(), args.iter().map(|s| s.to_string()).collect());
    let h = thread::spawn(move || {
        let t = Instant::now();
        let argv: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
        let r = db2.execute(&argv);
        (r, t.elapsed())
    });
    let until = Instant::now() + Duration::from_secs(10);
    while info_field(db, "blocked_clients").parse::<usize>().unwrap() <= before {
        assert!(Instant::now() < until, "the call never blocked");
        assert!(!h.is_finished(), "the call returned without blocking: {:?}", h.join().unwrap().0);
        thread::sleep(Duration::from_millis(1));
    }
    h
}

fn served(h: thread::JoinHandle<(Reply, Duration)>) -> Reply {
    let (r, _) = h.join().unwrap();
    r
}

#[test]
fn blpop_waits_for_a_push_from_another_thread() {
    let db = Db::open_in_memory();
    let h = blocked(&db, &["BLPOP", "job:queue", "30"]);
    assert_eq!(run(&db, &["RPUSH", "job:queue", "{\"job\":1}"]), Reply::Int(1));
    assert_eq!(served(h), Reply::Array(vec![bulk("job:queue"), bulk("{\"job\":1}")]));
    assert_eq!(run(&db, &["EXISTS", "job:queue"]), Reply::Int(0));
    assert_eq!(info_field(&db, "blocked_clients"), "0");
}

#[test]
fn data_already_there_is_taken_without_waiting_in_key_order() {
    let db = Db::open_in_memory();
    run(&db, &["RPUSH", "b", "b1", "b2"]);
    run(&db, &["RPUSH", "c", "c1"]);
    assert_eq!(run(&db, &["BLPOP", "a", "b", "c", "0"]), Reply::Array(vec![bulk("b"), bulk("b1")]));
    assert_eq!(run(&db, &["BRPOP", "c", "b", "0"]), Reply::Array(vec![bulk("c"), bulk("c1")]));
    assert_eq!(run(&db, &["BRPOPLPUSH", "b", "d", "0"]), bulk("b2"));
    assert_eq!(run(&db, &["BLMOVE", "d", "e", "LEFT", "RIGHT", "0"]), bulk("b2"));
    assert_eq!(run(&db, &["ZADD", "z", "1", "one", "2", "two", "3", "three"]), Reply::Int(3));
    assert_eq!(run(&db, &["BZPOPMIN", "y", "z", "0"]), Reply::Array(vec![bulk("z"), bulk("one"), Reply::Double(1.0)]));
    assert_eq!(run(&db, &["BZPOPMAX", "z", "0"]), Reply::Array(vec![bulk("z"), bulk("three"), Reply::Double(3.0)]));
    assert_eq!(
        run(&db, &["BZMPOP", "0", "2", "y", "z", "MIN", "COUNT", "5"]),
        Reply::Array(vec![bulk("z"), Reply::Array(vec![Reply::Array(vec![bulk("two"), Reply::Double(2.0)])])])
    );
    assert_eq!(run(&db, &["BLMPOP", "0", "1", "e", "RIGHT", "COUNT", "2"]), Reply::Array(vec![bulk("e"), Reply::Array(vec![bulk("b2")])]));
}

#[test]
fn a_timeout_replies_nil_after_the_time() {
    let db = Db::open_in_memory();
    for args in [
        &["BLPOP", "missing", "0.05"][..],
        &["BRPOP", "missing", "other", "0.05"],
        &["BLMOVE", "missing", "dst", "LEFT", "LEFT", "0.05"],
        &["BRPOPLPUSH", "missing", "dst", "0.05"],
        &["BLMPOP", "0.05", "1", "missing", "LEFT"],
        &["BZPOPMIN", "missing", "0.05"],
        &["BZPOPMAX", "missing", "0.05"],
        &["BZMPOP", "0.05", "1", "missing", "MAX"],
    ] {
        let t = Instant::now();
        assert_eq!(run(&db, args), Reply::Nil, "{args:?}");
        let took = t.elapsed();
        assert!(took >= Duration::from_millis(50) && took < Duration::from_secs(5), "{args:?} took {took:?}");
    }
    assert_eq!(run(&db, &["DBSIZE"]), Reply::Int(0));
    // Positive but below f64's range: Redis's long double still makes it 1 ms, not "forever".
    let t = Instant::now();
    assert_eq!(run(&db, &["BLPOP", "missing", "1e-400"]), Reply::Nil);
    assert!(t.elapsed() < Duration::from_secs(5));
}

#[test]
fn the_command_table_says_which_commands_block() {
    for name in ["BLPOP", "brpop", "BRPOPLPUSH", "BLMove", "BLMPOP", "BZPOPMIN", "BZPOPMAX", "BZMPOP"] {
        assert!(nestdb::is_blocking_command(name.as_bytes()), "{name}");
    }
    for name in ["LPOP", "LMPOP", "ZPOPMIN", "GET", "EVAL", "NOSUCHCOMMAND", ""] {
        assert!(!nestdb::is_blocking_command(name.as_bytes()), "{name}");
    }
}

#[test]
fn errors_come_before_any_wait() {
    let db = Db::open_in_memory();
    run(&db, &["SET", "s", "x"]);
    let cases: &[(&[&str], &str)] = &[
        (&["BLPOP", "l", "abc"], "ERR timeout is not a float or out of range"),
        (&["BLPOP", "l", "-1"], "ERR timeout is negative"),
        (&["BLPOP", "l", "1e300"], "ERR timeout is negative"),
        (&["BLPOP", "l", "inf"], "ERR timeout is negative"),
        (&["BLPOP", "l", "nan"], "ERR timeout is not a float or out of range"),
        (&["BLPOP", "s", "0"], "WRONGTYPE Operation against a key holding the wrong kind of value"),
        (&["BLMOVE", "s", "d", "LEFT", "LEFT", "0"], "WRONGTYPE Operation against a key holding the wrong kind of value"),
        (&["BLMOVE", "l", "d", "UP", "LEFT", "0"], "ERR syntax error"),
        (&["BLMPOP", "0", "0", "l", "LEFT"], "ERR numkeys should be greater than 0"),
        (&["BLMPOP", "x", "1", "l", "LEFT"], "ERR timeout is not a float or out of range"),
        (&["BZPOPMIN", "s", "0"], "WRONGTYPE Operation against a key holding the wrong kind of value"),
        (&["BZMPOP", "0", "1", "z", "MIDDLE"], "ERR syntax error"),
        (&["BLPOP", "l"], "ERR wrong number of arguments for 'blpop' command"),
    ];
    for (args, want) in cases {
        assert_eq!(run(&db, args), Reply::Error((*want).into()), "{args:?}");
    }
}

#[test]
fn every_blocking_command_is_served_by_a_later_write() {
    let db = Db::open_in_memory();
    let h = blocked(&db, &["BRPOP", "l1", "l2", "0"]);
    run(&db, &["LPUSH", "l2", "x"]);
    assert_eq!(served(h), Reply::Array(vec![bulk("l2"), bulk("x")]));

    let h = blocked(&db, &["BLMOVE", "src", "dst", "RIGHT", "LEFT", "0"]);
    run(&db, &["RPUSH", "src", "a", "b"]);
    assert_eq!(served(h), bulk("b"));
    assert_eq!(run(&db, &["LRANGE", "dst", "0", "-1"]), Reply::Array(vec![bulk("b")]));

    run(&db, &["DEL", "src"]);
    let h = blocked(&db, &["BRPOPLPUSH", "src", "dst", "0"]);
    run(&db, &["RPUSH", "src", "c"]);
    assert_eq!(served(h), bulk("c"));

    let h = blocked(&db, &["BLMPOP", "0", "2", "m1", "m2", "LEFT", "COUNT", "3"]);
    run(&db, &["RPUSH", "m2", "1", "2"]);
    assert_eq!(served(h), Reply::Array(vec![bulk("m2"), Reply::Array(vec![bulk("1"), bulk("2")])]));

    let h = blocked(&db, &["BZPOPMIN", "z", "0"]);
    run(&db, &["ZADD", "z", "5", "five"]);
    assert_eq!(served(h), Reply::Array(vec![bulk("z"), bulk("five"), Reply::Double(5.0)]));

    let h = blocked(&db, &["BZMPOP", "0", "1", "z", "MAX"]);
    run(&db, &["ZADD", "z", "1", "a", "2", "b"]);
    assert_eq!(served(h), Reply::Array(vec![bulk("z"), Reply::Array(vec![Reply::Array(vec![bulk("b"), Reply::Double(2.0)])])]));
}

#[test]
fn waiters_are_woken_by_every_write_path() {
    let db = Db::open_in_memory();
    // MULTI/EXEC.
    let h = blocked(&db, &["BLPOP", "q", "0"]);
    let mut s = db.session();
    for c in [&["MULTI"][..], &["SET", "other", "1"], &["RPUSH", "q", "from-exec"]] {
        let argv: Vec<&[u8]> = c.iter().map(|a| a.as_bytes()).collect();
        s.execute(&argv);
    }
    assert!(matches!(s.execute(&[b"EXEC"]), Reply::Array(_)));
    assert_eq!(served(h), Reply::Array(vec![bulk("q"), bulk("from-exec")]));
    // A Lua script.
    let h = blocked(&db, &["BLPOP", "q", "0"]);
    run(&db, &["EVAL", "return redis.call('RPUSH', KEYS[1], 'from-lua')", "1", "q"]);
    assert_eq!(served(h), Reply::Array(vec![bulk("q"), bulk("from-lua")]));
    // A pipeline.
    let h = blocked(&db, &["BLPOP", "q", "0"]);
    db.pipeline(&[vec!["SET", "a", "1"], vec!["RPUSH", "q", "from-pipeline"]]);
    assert_eq!(served(h), Reply::Array(vec![bulk("q"), bulk("from-pipeline")]));
    // A closure transaction.
    let h = blocked(&db, &["BLPOP", "q", "0"]);
    db.transaction(|tx| tx.execute(&[b"RPUSH", b"q", b"from-tx"])).unwrap();
    assert_eq!(served(h), Reply::Array(vec![bulk("q"), bulk("from-tx")]));
    // RENAME of a list onto the waited key, and the typed API.
    let h = blocked(&db, &["BLPOP", "q", "0"]);
    run(&db, &["RPUSH", "tmp", "renamed"]);
    run(&db, &["RENAME", "tmp", "q"]);
    assert_eq!(served(h), Reply::Array(vec![bulk("q"), bulk("renamed")]));
    let h = blocked(&db, &["BLPOP", "q", "0"]);
    nestdb::Commands::rpush(&db, b"q", &[b"typed"]).unwrap();
    assert_eq!(served(h), Reply::Array(vec![bulk("q"), bulk("typed")]));
}

#[test]
fn inside_multi_and_transactions_nothing_blocks() {
    let db = Db::open_in_memory();
    let mut s = db.session();
    s.execute(&[b"MULTI"]);
    s.execute(&[b"BLPOP", b"q", b"0"]);
    s.execute(&[b"BZPOPMIN", b"z", b"0"]);
    s.execute(&[b"BLMOVE", b"q", b"d", b"LEFT", b"LEFT", b"0"]);
    assert_eq!(s.execute(&[b"EXEC"]), Reply::Array(vec![Reply::Nil, Reply::Nil, Reply::Nil]));
    // Scripts may not call blocking commands at all (Redis 7.0 flags them `noscript`).
    let r = run(&db, &["EVAL", "return redis.call('BLPOP', KEYS[1], 0)", "1", "q"]);
    assert!(matches!(&r, Reply::Error(e) if e.starts_with("ERR This Redis command is not allowed from script script: ")), "{r:?}");
    let r = db.transaction(|tx| tx.execute(&[b"BRPOP", b"q", b"0"])).unwrap();
    assert_eq!(r, Reply::Nil);
}

#[test]
fn a_pipeline_with_a_blocking_command_waits_in_it() {
    let db = Db::open_in_memory();
    let producer = {
        let db = db.clone();
        thread::spawn(move || {
            let until = Instant::now() + Duration::from_secs(10);
            while info_field(&db, "blocked_clients") == "0" {
                assert!(Instant::now() < until);
                thread::sleep(Duration::from_millis(1));
            }
            run(&db, &["RPUSH", "q", "late"]);
        })
    };
    let replies = db.pipeline(&[vec!["SET", "k", "v"], vec!["BLPOP", "q", "0"], vec!["GET", "k"]]);
    producer.join().unwrap();
    assert_eq!(replies, vec![Reply::OK, Reply::Array(vec![bulk("q"), bulk("late")]), bulk("v")]);
}

#[test]
fn a_waited_key_turned_into_another_type_keeps_the_caller_waiting() {
    // Redis 7.0 serves a blocked client only from a key of the type it waits for.
    let db = Db::open_in_memory();
    let h = blocked(&db, &["BLPOP", "k", "other", "0"]);
    run(&db, &["SET", "k", "a string"]);
    thread::sleep(Duration::from_millis(30));
    assert!(!h.is_finished());
    run(&db, &["RPUSH", "other", "x"]);
    assert_eq!(served(h), Reply::Array(vec![bulk("other"), bulk("x")]));
}

#[test]
fn interrupted_waits_give_up_without_taking_anything() {
    let db = Db::open_in_memory();
    let t = Instant::now();
    let mut asked = 0;
    let r = db.execute_interruptible(&[b"BLPOP", b"q", b"0"], &mut || {
        asked += 1;
        asked == 3
    });
    assert_eq!(r, None);
    assert!(t.elapsed() >= Duration::from_millis(200), "asked about every 100 ms");
    assert_eq!(info_field(&db, "blocked_clients"), "0");
    // Not blocking, or data at hand: the interrupt is never asked.
    run(&db, &["RPUSH", "q", "x"]);
    assert_eq!(db.execute_interruptible(&[b"BLPOP", b"q", b"0"], &mut || panic!("asked")), Some(Reply::Array(vec![bulk("q"), bulk("x")])));
    assert_eq!(db.execute_interruptible(&[b"PING"], &mut || panic!("asked")), Some(Reply::Status("PONG".into())));
}

#[test]
fn producers_and_consumers_hand_every_element_to_exactly_one_consumer() {
    const PRODUCERS: usize = 3;
    const CONSUMERS: usize = 4;
    const PER_PRODUCER: usize = 2_000;
    let db = Db::open_in_memory();
    let consumers: Vec<_> = (0..CONSUMERS)
        .map(|c| {
            let db = db.clone();
            thread::spawn(move || {
                let mut got = Vec::new();
                loop {
                    // Two consumers race for the list, two for the sorted set.
                    let r = match c % 2 {
                        0 => db.execute(&[b"BLPOP", b"missing", b"jobs", b"1"]),
                        _ => db.execute(&[b"BZPOPMIN", b"zjobs", b"1"]),
                    };
                    match r {
                        Reply::Nil => return got,
                        Reply::Array(items) => match &items[1] {
                            Reply::Bulk(b) => got.push(String::from_utf8(b.clone()).unwrap()),
                            other => panic!("{other:?}"),
                        },
                        other => panic!("{other:?}"),
                    }
                }
            })
        })
        .collect();
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let db = db.clone();
            thread::spawn(move || {
                for i in 0..PER_PRODUCER {
                    let item = format!("{p}:{i}");
                    if i % 3 == 0 {
                        db.execute(&[b"ZADD", b"zjobs", i.to_string().as_bytes(), item.as_bytes()]);
                    } else {
                        db.execute(&[b"RPUSH", b"jobs", item.as_bytes()]);
                    }
                    if i % 64 == 0 {
                        thread::yield_now();
                    }
                }
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    let all: Vec<String> = consumers.into_iter().flat_map(|c| c.join().unwrap()).collect();
    let unique: HashSet<&String> = all.iter().collect();
    assert_eq!(all.len(), PRODUCERS * PER_PRODUCER, "every element taken once");
    assert_eq!(unique.len(), all.len(), "no element taken twice");
    assert_eq!(run(&db, &["DBSIZE"]), Reply::Int(0));
}

#[test]
fn blocked_pops_are_logged_as_the_data_they_took() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Arc::new(Db::open(dir.path(), Options::default()).unwrap());
        run(&db, &["RPUSH", "keep", "1", "2"]);
        let h = blocked(&db, &["BLPOP", "q", "keep2", "0"]);
        run(&db, &["RPUSH", "q", "a", "b"]);
        assert_eq!(served(h), Reply::Array(vec![bulk("q"), bulk("a")]));
        run(&db, &["BLMOVE", "keep", "moved", "LEFT", "RIGHT", "0"]);
    }
    let db = Db::open(dir.path(), Options::default()).unwrap();
    assert_eq!(run(&db, &["LRANGE", "q", "0", "-1"]), Reply::Array(vec![bulk("b")]));
    assert_eq!(run(&db, &["LRANGE", "keep", "0", "-1"]), Reply::Array(vec![bulk("2")]));
    assert_eq!(run(&db, &["LRANGE", "moved", "0", "-1"]), Reply::Array(vec![bulk("1")]));
}
