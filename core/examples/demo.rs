//! nestdb demo: the jobs people run Redis for, in-process, with no server.
//!
//! Run with `make demo` (or `cargo run --release -p nestdb --example demo`).

use std::time::Instant;

use nestdb::{Commands, Db, FsyncPolicy, Options, Reply};

fn show(label: &str, r: &Reply) {
    println!("  {label:<44} -> {r:?}");
}

fn main() -> nestdb::Result<()> {
    let db = Db::open_in_memory();

    println!("== cache-aside with a TTL");
    db.execute(&[b"SETEX", b"cache:user:42", b"300", b"{\"name\":\"Ada\"}"]);
    show("GET cache:user:42", &db.execute(&[b"GET", b"cache:user:42"]));
    show("TTL cache:user:42", &db.execute(&[b"TTL", b"cache:user:42"]));

    println!("== distributed-style lock (SET NX PX)");
    show("SET lock:job owner-1 NX PX 30000", &db.execute(&[b"SET", b"lock:job", b"owner-1", b"NX", b"PX", b"30000"]));
    show("SET lock:job owner-2 NX PX 30000", &db.execute(&[b"SET", b"lock:job", b"owner-2", b"NX", b"PX", b"30000"]));

    println!("== leaderboard (sorted set)");
    for (name, score) in [("ada", 3200.0), ("grace", 4100.0), ("linus", 2900.0), ("ken", 4100.0)] {
        db.zadd(b"board", score, name.as_bytes())?;
    }
    show("ZREVRANGE board 0 2 WITHSCORES", &db.execute(&[b"ZREVRANGE", b"board", b"0", b"2", b"WITHSCORES"]));
    show("ZREVRANK board ada", &db.execute(&[b"ZREVRANK", b"board", b"ada"]));

    println!("== session in a hash, with expiry");
    db.execute(&[b"HSET", b"session:abc", b"user", b"42", b"cart", b"3"]);
    db.execute(&[b"EXPIRE", b"session:abc", b"1800"]);
    show("HGETALL session:abc", &db.execute(&[b"HGETALL", b"session:abc"]));

    println!("== sliding-window rate limiter (pipeline)");
    let now = 1_700_000_000_000u64;
    let replies = db.pipeline(&[
        vec![b"ZREMRANGEBYSCORE".to_vec(), b"rl:42".to_vec(), b"0".to_vec(), (now - 60_000).to_string().into_bytes()],
        vec![b"ZADD".to_vec(), b"rl:42".to_vec(), now.to_string().into_bytes(), now.to_string().into_bytes()],
        vec![b"ZCARD".to_vec(), b"rl:42".to_vec()],
        vec![b"EXPIRE".to_vec(), b"rl:42".to_vec(), b"60".to_vec()],
    ]);
    show("requests in window", &replies[2]);

    println!("== optimistic transaction (WATCH/MULTI/EXEC)");
    db.set(b"stock", b"10")?;
    let mut s = db.session();
    s.execute(&[b"WATCH", b"stock"]);
    s.execute(&[b"MULTI"]);
    s.execute(&[b"DECRBY", b"stock", b"3"]);
    show("EXEC", &s.execute(&[b"EXEC"]));

    println!("== errors are Redis's");
    show("LPUSH stock x", &db.execute(&[b"LPUSH", b"stock", b"x"]));
    show("INCR cache:user:42", &db.execute(&[b"INCR", b"cache:user:42"]));

    println!("== speed (1M SET + 1M GET, one thread, in-process)");
    let keys: Vec<Vec<u8>> = (0..1_000_000u32).map(|i| format!("key:{i:012}").into_bytes()).collect();
    let value = [b'v'; 32];
    let t = Instant::now();
    for k in &keys {
        db.set(k, &value)?;
    }
    let set_rate = keys.len() as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    for k in &keys {
        std::hint::black_box(db.get(k)?);
    }
    let get_rate = keys.len() as f64 / t.elapsed().as_secs_f64();
    println!("  SET {:.2} M ops/s, GET {:.2} M ops/s", set_rate / 1e6, get_rate / 1e6);

    durability()
}

/// A database directory: every write logged, a snapshot taken while writing, reopened.
fn durability() -> nestdb::Result<()> {
    println!("== durability (a directory with an append-only log and snapshots)");
    let dir = std::env::temp_dir().join(format!("nestdb-demo-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    {
        let db = Db::open(&dir, Options::default().appendfsync(FsyncPolicy::EverySec))?;
        let t = Instant::now();
        for i in 0..200_000u32 {
            db.set(format!("user:{i}").as_bytes(), b"{\"plan\":\"pro\",\"seats\":3}")?;
        }
        println!("  200k logged SETs in {:.0} ms", t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        db.snapshot()?;
        println!("  snapshot (log restarts after it) in {:.0} ms", t.elapsed().as_secs_f64() * 1e3);
        db.execute(&[b"INCR", b"visits"]);
        db.execute(&[b"SET", b"cache:home", b"<html>", b"EX", b"600"]);
    } // dropped: the log is flushed and fsynced, the directory unlocked
    let db = Db::open(&dir, Options::default())?;
    let r = db.recovery_report().expect("file-backed");
    println!("  reopened in {} ms: {} keys from the snapshot, {} log records replayed", r.load_millis, r.snapshot_keys, r.records_replayed);
    show("GET visits", &db.execute(&[b"GET", b"visits"]));
    show("TTL cache:home", &db.execute(&[b"TTL", b"cache:home"]));
    drop(db);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
