//! Suite `streams`: stream commands in process, through `Db::execute` (the path every surface
//! takes), against redis-server driven by `redis-benchmark -P 16` over loopback with the same
//! commands and data. Not an issue target (streams are not in an issue): a reference for what
//! the stream code costs.
//!
//! Workload: `n` XADD `*` of a two-field entry (16-byte values) into one stream; `n` XRANGE
//! `- + COUNT 10`; XREADGROUP `COUNT 10 NOACK` until the group has read all `n` entries
//! (reported in entries/s); and in process only, XREADGROUP `COUNT 10` then XACK of the ten
//! IDs (a consumer's loop, entries/s).

use nestdb::{Db, Reply};

use crate::measure::Samples;
use crate::redis::{benchmark_command, start_server};
use crate::report::{Report, Unit};
use crate::Config;

const VALUE: &str = "vvvvvvvvvvvvvvvv";

pub fn run(cfg: &Config, report: &mut Report) -> Result<(), String> {
    let n = cfg.keys;
    let (mut add, mut range, mut read, mut read_ack) = (Samples::default(), Samples::default(), Samples::default(), Samples::default());
    for rep in 0..cfg.warmup + cfg.reps {
        let record = rep >= cfg.warmup;
        let db = Db::open_in_memory();
        add.time(record, n, || {
            for _ in 0..n {
                let r = db.execute(&[b"XADD", b"s", b"*", b"f1", VALUE.as_bytes(), b"f2", VALUE.as_bytes()]);
                debug_assert!(matches!(r, Reply::Bulk(_)));
            }
        });
        range.time(record, n, || {
            for _ in 0..n {
                let r = db.execute(&[b"XRANGE", b"s", b"-", b"+", b"COUNT", b"10"]);
                debug_assert!(matches!(&r, Reply::Array(a) if a.len() == 10));
                std::hint::black_box(r);
            }
        });
        db.execute(&[b"XGROUP", b"CREATE", b"s", b"g", b"0"]);
        let got = read.time(record, n, || {
            let mut got = 0;
            while got < n {
                match db.execute(&[b"XREADGROUP", b"GROUP", b"g", b"c", b"COUNT", b"10", b"NOACK", b"STREAMS", b"s", b">"]) {
                    Reply::Map(m) => got += m[0].1.as_array().map_or(0, |a| a.len()),
                    other => panic!("XREADGROUP: {other:?}"),
                }
            }
            got
        });
        assert_eq!(got, n);
        db.execute(&[b"XGROUP", b"CREATE", b"s", b"acking", b"0"]);
        let got = read_ack.time(record, n, || {
            let mut got = 0;
            while got < n {
                let Reply::Map(m) = db.execute(&[b"XREADGROUP", b"GROUP", b"acking", b"c", b"COUNT", b"10", b"STREAMS", b"s", b">"]) else {
                    panic!("XREADGROUP gave nothing")
                };
                let entries = m[0].1.as_array().unwrap_or_default();
                let mut argv: Vec<&[u8]> = vec![b"XACK", b"s", b"acking"];
                argv.extend(entries.iter().filter_map(|e| e.as_array().and_then(|p| p[0].as_bytes())));
                got += entries.len();
                assert_eq!(db.execute(&argv), Reply::Int(entries.len() as i64));
            }
            got
        });
        assert_eq!(got, n);
    }
    let per = |s: &Samples, what: &str| format!("{what}; {}", s.detail(n));
    report.add("nestdb.xadd", "nestdb XADD * (2 fields, `db.execute`)", add.median(), Unit::OpsPerSec, per(&add, "one stream"));
    report.add("nestdb.xrange", "nestdb XRANGE - + COUNT 10", range.median(), Unit::OpsPerSec, per(&range, "calls"));
    report.add("nestdb.xreadgroup", "nestdb XREADGROUP COUNT 10 NOACK (entries/s)", read.median(), Unit::OpsPerSec, per(&read, "entries"));
    report.add(
        "nestdb.xreadgroup_ack",
        "nestdb XREADGROUP COUNT 10 + XACK (entries/s)",
        read_ack.median(),
        Unit::OpsPerSec,
        per(&read_ack, "entries"),
    );

    // redis-server, same commands, pipelined by redis-benchmark.
    let server = start_server()?;
    let bench = |requests: usize, cmd: &[&str]| benchmark_command(server.port, requests, cmd);
    let xadd = bench(n, &["XADD", "s", "*", "f1", VALUE, "f2", VALUE])?;
    let xrange = bench(n, &["XRANGE", "s", "-", "+", "COUNT", "10"])?;
    let mut conn = crate::resp::Conn::connect(server.port).map_err(|e| e.to_string())?;
    conn.status(&[b"XGROUP", b"CREATE", b"s", b"g", b"0"])?;
    let xread = 10.0 * bench(n / 10, &["XREADGROUP", "GROUP", "g", "c", "COUNT", "10", "NOACK", "STREAMS", "s", ">"])?;
    let how = "redis-benchmark -P 16, 50 clients, loopback".to_owned();
    report.add("redis.xadd", "redis-server XADD * (2 fields)", xadd, Unit::OpsPerSec, how.clone());
    report.add("redis.xrange", "redis-server XRANGE - + COUNT 10", xrange, Unit::OpsPerSec, how.clone());
    report.add("redis.xreadgroup", "redis-server XREADGROUP COUNT 10 NOACK (entries/s)", xread, Unit::OpsPerSec, how);
    Ok(())
}
