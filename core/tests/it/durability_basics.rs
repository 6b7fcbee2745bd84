//! File-backed databases: reopen, snapshots, rewrite, locking (the quick checks; crash and
//! fault-injection tests live in their own files).

use nestdb::{Commands, Db, FsyncPolicy, Options, Reply};

fn opts(policy: FsyncPolicy) -> Options {
    Options::default().appendfsync(policy)
}

#[test]
fn writes_survive_reopen_under_every_policy() {
    for policy in [FsyncPolicy::Always, FsyncPolicy::EverySec, FsyncPolicy::No] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        {
            let db = Db::open(&path, opts(policy)).unwrap();
            db.set(b"k", b"v").unwrap();
            db.execute(&[b"RPUSH", b"l", b"a", b"b", b"c"]);
            db.execute(&[b"HSET", b"h", b"f", b"1"]);
            db.execute(&[b"ZADD", b"z", b"1.5", b"m"]);
            db.execute(&[b"SADD", b"s", b"x", b"y"]);
            db.execute(&[b"INCRBYFLOAT", b"f", b"0.1"]);
            db.execute(&[b"SET", b"ttl", b"v", b"EX", b"1000"]);
            db.execute(&[b"DEL", b"s"]);
        }
        let db = Db::open(&path, opts(policy)).unwrap();
        let report = db.recovery_report().unwrap();
        assert_eq!(report.records_replayed, 8, "{policy:?}");
        assert_eq!(db.get(b"k").unwrap().as_deref(), Some(&b"v"[..]));
        assert_eq!(db.lrange(b"l", 0, -1).unwrap(), vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
        assert_eq!(db.hget(b"h", b"f").unwrap().as_deref(), Some(&b"1"[..]));
        assert_eq!(db.zscore(b"z", b"m").unwrap(), Some(1.5));
        assert_eq!(db.execute(&[b"EXISTS", b"s"]), Reply::Int(0));
        assert_eq!(db.get(b"f").unwrap().as_deref(), Some(&b"0.1"[..]));
        let ttl = db.pttl(b"ttl").unwrap();
        assert!(ttl > 990_000 && ttl <= 1_000_000, "{ttl}");
    }
}

#[test]
fn snapshot_then_more_writes_then_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    {
        let db = Db::open(&path, Options::default()).unwrap();
        for i in 0..10_000 {
            db.set(format!("key:{i}").as_bytes(), format!("value:{i}").as_bytes()).unwrap();
        }
        db.execute(&[b"ZADD", b"z", b"1", b"a", b"2", b"b"]);
        db.snapshot().unwrap();
        for i in 0..100 {
            db.set(format!("key:{i}").as_bytes(), b"changed").unwrap();
        }
        assert_eq!(db.execute(&[b"SAVE"]), Reply::OK);
        db.set(b"after", b"1").unwrap();
    }
    let names: Vec<String> = std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert_eq!(names.iter().filter(|n| n.starts_with("snap-")).count(), 1, "{names:?}");
    let db = Db::open(&path, Options::default()).unwrap();
    let r = db.recovery_report().unwrap();
    assert_eq!((r.snapshot_keys, r.records_replayed), (10_001, 1));
    assert_eq!(db.get(b"key:5").unwrap().as_deref(), Some(&b"changed"[..]));
    assert_eq!(db.get(b"key:500").unwrap().as_deref(), Some(&b"value:500"[..]));
    assert_eq!(db.zrank(b"z", b"b").unwrap(), Some(1));
    assert_eq!(db.execute(&[b"DBSIZE"]), Reply::Int(10_002));
}

#[test]
fn second_process_lock_and_same_process_sharing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let a = Db::open(&path, Options::default()).unwrap();
    let b = Db::open(&path, Options::default()).unwrap();
    a.set(b"x", b"1").unwrap();
    assert_eq!(b.get(b"x").unwrap().as_deref(), Some(&b"1"[..]));
    drop(a);
    drop(b);
    let c = Db::open(&path, Options::default()).unwrap();
    assert_eq!(c.get(b"x").unwrap().as_deref(), Some(&b"1"[..]));
}

#[test]
fn database_files_are_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let db = Db::open(&path, Options::default()).unwrap();
    db.set(b"k", b"v").unwrap();
    db.snapshot().unwrap();
    db.set(b"k2", b"v").unwrap();
    db.sync().unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o700);
    for e in std::fs::read_dir(&path).unwrap() {
        let e = e.unwrap();
        assert_eq!(e.metadata().unwrap().permissions().mode() & 0o077, 0, "{:?} is readable by others", e.file_name());
    }
}

/// Bit commands are logged verbatim and rebuild the same bytes on replay, and a bitmap big
/// enough to be stored compressed comes back from a snapshot unchanged.
#[test]
fn bit_commands_survive_log_replay_and_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let run = |db: &Db, argv: &[&str]| db.execute(&argv.iter().map(|a| a.as_bytes()).collect::<Vec<_>>());
    let expect = |db: &Db| {
        let bits = |key: &str| db.get(key.as_bytes()).unwrap().unwrap_or_default();
        assert_eq!(run(db, &["BITCOUNT", "flags"]), Reply::Int(3));
        assert_eq!(run(db, &["GETBIT", "flags", "70"]), Reply::Int(1));
        assert_eq!(bits("big").len(), 8001);
        assert_eq!(run(db, &["BITCOUNT", "big"]), Reply::Int(2));
        assert_eq!(bits("both"), vec![0x80, 0, 0, 0, 0, 0, 0, 0, 0x02]);
        assert_eq!(run(db, &["EXISTS", "gone"]), Reply::Int(0));
        assert_eq!(run(db, &["PTTL", "both"]), Reply::Int(-1));
    };
    {
        let db = Db::open(&path, Options::default()).unwrap();
        for (k, off, v) in [("flags", "0", "1"), ("flags", "7", "1"), ("flags", "70", "1"), ("flags", "7", "0"), ("flags", "9", "1")] {
            assert!(matches!(run(&db, &["SETBIT", k, off, v]), Reply::Int(_)));
        }
        run(&db, &["SETBIT", "big", "64000", "1"]);
        run(&db, &["SETBIT", "big", "3", "1"]);
        run(&db, &["SET", "both", "x", "EX", "1000"]);
        run(&db, &["SETBIT", "a", "0", "1"]);
        run(&db, &["SETBIT", "b", "70", "1"]);
        assert_eq!(run(&db, &["BITOP", "OR", "both", "a", "b"]), Reply::Int(9));
        run(&db, &["SET", "gone", "x"]);
        assert_eq!(run(&db, &["BITOP", "AND", "gone", "nothing", "nothing2"]), Reply::Int(0));
        // Errors change nothing and log nothing.
        assert!(matches!(run(&db, &["SETBIT", "flags", "-1", "1"]), Reply::Error(_)));
        assert!(matches!(run(&db, &["SETBIT", "flags", "1", "2"]), Reply::Error(_)));
        expect(&db);
    }
    let db = Db::open(&path, Options::default()).unwrap();
    expect(&db);
    db.snapshot().unwrap();
    drop(db);
    let db = Db::open(&path, Options::default()).unwrap();
    assert_eq!(db.recovery_report().unwrap().records_replayed, 0);
    expect(&db);
}
