//! Atomicity under threads: INCR, closure transactions, MULTI/EXEC with WATCH retries, and
//! multi-key commands that must never be seen half-done.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;

use nestdb::{Commands, Db, Reply};

const THREADS: usize = 8;
const PER_THREAD: usize = 2_000;

#[test]
fn incr_is_atomic() {
    let db = Db::open_in_memory();
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let db = db.clone();
            thread::spawn(move || {
                for _ in 0..PER_THREAD {
                    assert!(matches!(db.execute(&[b"INCR", b"counter"]), Reply::Int(_)));
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(db.get(b"counter").unwrap().unwrap(), (THREADS * PER_THREAD).to_string().as_bytes());
}

#[test]
fn closure_transactions_serialize_read_modify_write() {
    let db = Db::open_in_memory();
    db.set(b"balance:a", b"1000").unwrap();
    db.set(b"balance:b", b"1000").unwrap();
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let db = db.clone();
            thread::spawn(move || {
                for i in 0..PER_THREAD / 4 {
                    let (from, to): (&[u8], &[u8]) =
                        if (t + i) % 2 == 0 { (b"balance:a", b"balance:b") } else { (b"balance:b", b"balance:a") };
                    db.transaction(|tx| {
                        // A non-atomic read-modify-write would lose updates here.
                        let f: i64 = String::from_utf8(tx.get(from).unwrap().unwrap()).unwrap().parse().unwrap();
                        let g: i64 = String::from_utf8(tx.get(to).unwrap().unwrap()).unwrap().parse().unwrap();
                        tx.set(from, (f - 1).to_string().as_bytes()).unwrap();
                        tx.set(to, (g + 1).to_string().as_bytes()).unwrap();
                    })
                    .unwrap();
                }
            })
        })
        .collect();
    // A concurrent reader must always see the invariant a + b = 2000 (MGET is atomic too).
    let reader = {
        let db = db.clone();
        thread::spawn(move || {
            for _ in 0..2_000 {
                let Reply::Array(v) = db.execute(&[b"MGET", b"balance:a", b"balance:b"]) else { panic!() };
                let sum: i64 = v.iter().map(|r| String::from_utf8(r.as_bytes().unwrap().to_vec()).unwrap().parse::<i64>().unwrap()).sum();
                assert_eq!(sum, 2000);
            }
        })
    };
    for h in handles {
        h.join().unwrap();
    }
    reader.join().unwrap();
    let a: i64 = String::from_utf8(db.get(b"balance:a").unwrap().unwrap()).unwrap().parse().unwrap();
    let b: i64 = String::from_utf8(db.get(b"balance:b").unwrap().unwrap()).unwrap().parse().unwrap();
    assert_eq!(a + b, 2000);
}

#[test]
fn watch_retries_never_lose_an_increment() {
    let db = Db::open_in_memory();
    let conflicts = Arc::new(AtomicBool::new(false));
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let db = db.clone();
            let conflicts = conflicts.clone();
            thread::spawn(move || {
                let mut s = db.session();
                for _ in 0..PER_THREAD / 4 {
                    loop {
                        s.execute(&[b"WATCH", b"n"]);
                        let cur: i64 = match s.execute(&[b"GET", b"n"]) {
                            Reply::Bulk(b) => String::from_utf8(b).unwrap().parse().unwrap(),
                            _ => 0,
                        };
                        s.execute(&[b"MULTI"]);
                        s.execute(&[b"SET", b"n", (cur + 1).to_string().as_bytes()]);
                        match s.execute(&[b"EXEC"]) {
                            Reply::Array(_) => break,
                            Reply::Nil => conflicts.store(true, Ordering::Relaxed),
                            other => panic!("unexpected EXEC reply {other:?}"),
                        }
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(db.get(b"n").unwrap().unwrap(), (THREADS * PER_THREAD / 4).to_string().as_bytes());
    // Whether the threads above happened to conflict depends on scheduling; this part forces one.
    let (watched_tx, watched_rx) = std::sync::mpsc::channel();
    let (written_tx, written_rx) = std::sync::mpsc::channel::<()>();
    let watcher = {
        let db = db.clone();
        thread::spawn(move || {
            let mut s = db.session();
            s.execute(&[b"WATCH", b"n"]);
            watched_tx.send(()).unwrap();
            written_rx.recv().unwrap();
            s.execute(&[b"MULTI"]);
            s.execute(&[b"SET", b"n", b"stale"]);
            s.execute(&[b"EXEC"])
        })
    };
    watched_rx.recv().unwrap();
    db.execute(&[b"INCR", b"n"]);
    written_tx.send(()).unwrap();
    assert_eq!(watcher.join().unwrap(), Reply::Nil, "EXEC must fail after another thread wrote a watched key");
    eprintln!("random-phase conflicts seen: {}", conflicts.load(Ordering::Relaxed));
}

#[test]
fn exec_is_atomic_for_readers() {
    let db = Db::open_in_memory();
    db.execute(&[b"MSET", b"x", b"0", b"y", b"0"]);
    let writer = {
        let db = db.clone();
        thread::spawn(move || {
            let mut s = db.session();
            for _ in 0..3_000 {
                s.execute(&[b"MULTI"]);
                s.execute(&[b"INCR", b"x"]);
                s.execute(&[b"INCR", b"y"]);
                assert!(matches!(s.execute(&[b"EXEC"]), Reply::Array(_)));
            }
        })
    };
    for _ in 0..3_000 {
        let Reply::Array(v) = db.execute(&[b"MGET", b"x", b"y"]) else { panic!() };
        assert_eq!(v[0], v[1], "saw half a transaction");
    }
    writer.join().unwrap();
}

#[test]
fn parallel_readers_and_writers_on_many_keys() {
    let db = Db::open_in_memory();
    for i in 0..1000 {
        db.set(format!("k{i}").as_bytes(), b"v").unwrap();
    }
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let db = db.clone();
            thread::spawn(move || {
                for i in 0..20_000 {
                    let k = format!("k{}", (i * 7 + t) % 1000);
                    if t % 2 == 0 {
                        assert_eq!(db.get(k.as_bytes()).unwrap().as_deref(), Some(&b"v"[..]));
                    } else {
                        db.set(k.as_bytes(), b"v").unwrap();
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(db.execute(&[b"DBSIZE"]), Reply::Int(1000));
}

/// INFO's command and hit/miss counters are kept per thread (striped); INFO must sum every
/// thread's, whichever path counted them (typed GET's fast path, the command table, MULTI), and
/// CONFIG RESETSTAT must zero them all. More threads than stripes, so some share one.
#[test]
fn info_counters_sum_every_thread() {
    let d = Db::open_in_memory();
    d.set(b"present", b"v").unwrap();
    assert_eq!(d.execute(&[b"CONFIG", b"RESETSTAT"]), Reply::OK);
    let threads = 20;
    thread::scope(|s| {
        for _ in 0..threads {
            let d = d.clone();
            s.spawn(move || {
                for _ in 0..50 {
                    assert!(d.get(b"present").unwrap().is_some()); // fast path: hit
                    assert!(d.get(b"absent").unwrap().is_none()); // fast path: miss
                    assert_eq!(d.execute(&[b"EXISTS", b"present"]), Reply::Int(1)); // no hit counted
                    assert!(matches!(d.execute(&[b"GET", b"present"]), Reply::Bulk(_))); // command table: hit
                    assert_eq!(d.execute(&[b"PING"]), Reply::Status("PONG".into()));
                    // locks no shard
                }
            });
        }
    });
    let info = |d: &Db| {
        let Reply::Bulk(b) = d.execute(&[b"INFO", b"stats"]) else { panic!("INFO") };
        let text = String::from_utf8(b).unwrap();
        let field = |name: &str| -> u64 { text.lines().find_map(|l| l.strip_prefix(&format!("{name}:"))).unwrap().trim().parse().unwrap() };
        (field("total_commands_processed"), field("keyspace_hits"), field("keyspace_misses"))
    };
    let n = threads as u64 * 50;
    // 5 commands per round, plus the RESETSTAT (counted after it ran, as Redis does); the INFO
    // call is counted after it reads the counters.
    assert_eq!(info(&d), (5 * n + 1, 2 * n, n));
    assert_eq!(d.execute(&[b"CONFIG", b"RESETSTAT"]), Reply::OK);
    let (commands, hits, misses) = info(&d);
    assert_eq!((hits, misses), (0, 0));
    assert!(commands <= 2, "RESETSTAT left {commands} commands");
}

/// Readers of small hashes (views of packed nodes, whose reads record accesses in the node
/// under a shared lock) run against a writer that rewrites them (unpacking and repacking each
/// node): every read sees a whole hash, all fields from one write.
#[test]
fn readers_of_packed_hashes_see_whole_writes() {
    let db = Db::open_in_memory();
    db.execute(&[b"CONFIG", b"SET", b"maxmemory-policy", b"allkeys-lfu"]);
    let hset = |db: &Db, key: &[u8], round: usize| {
        let v = round.to_string();
        let mut argv: Vec<&[u8]> = vec![b"HSET", key];
        for f in [b"a".as_slice(), b"b", b"c", b"d"] {
            argv.extend([f, v.as_bytes()]);
        }
        assert!(matches!(db.execute(&argv), Reply::Int(_)));
    };
    for k in 0..16 {
        hset(&db, format!("h{k}").as_bytes(), 0);
    }
    let stop = Arc::new(AtomicBool::new(false));
    // Writes start once every reader is reading (on a loaded machine the writes could
    // otherwise all be over before a reader ran).
    let reading = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let readers: Vec<_> = (0..4)
        .map(|t| {
            let (db, stop, reading) = (db.clone(), stop.clone(), reading.clone());
            thread::spawn(move || {
                let mut n = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    let key = format!("h{}", (n + t) % 16);
                    let Reply::Map(pairs) = db.execute(&[b"HGETALL", key.as_bytes()]) else { panic!("HGETALL {key}") };
                    assert_eq!(pairs.len(), 4, "{key}");
                    assert!(pairs.windows(2).all(|w| w[0].1 == w[1].1), "{key}: {pairs:?}");
                    if n == 0 {
                        reading.fetch_add(1, Ordering::SeqCst);
                    }
                    n += 1;
                }
                n
            })
        })
        .collect();
    while reading.load(Ordering::SeqCst) < 4 {
        thread::yield_now();
    }
    for round in 1..=3000 {
        hset(&db, format!("h{}", round % 16).as_bytes(), round);
    }
    stop.store(true, Ordering::Relaxed);
    let reads: usize = readers.into_iter().map(|h| h.join().unwrap()).sum();
    assert!(reads > 0);
}
