//! Suite `scripts`: a small Lua call per command, in process through `Db::execute`, against
//! redis-server under `redis-benchmark -P 16` with the same commands. Not an issue target: a
//! reference for what a script or function call costs (the interpreter, the all-shard locks).
//!
//! Workload: `EVALSHA` of a script that INCRs its key and returns the value, and `FCALL` of a
//! library function doing the same, on one key, `n` calls each.

use nestdb::{Db, Reply};

use crate::measure::Samples;
use crate::redis::{benchmark_command, start_server};
use crate::report::{Report, Unit};
use crate::Config;

const SCRIPT: &str = "return redis.call('INCR', KEYS[1])";
const LIBRARY: &str = "#!lua name=bench\nredis.register_function('bump', function(keys, args) return redis.call('INCR', keys[1]) end)";

pub fn run(cfg: &Config, report: &mut Report) -> Result<(), String> {
    let n = cfg.keys / 10;
    let (mut evalsha, mut fcall) = (Samples::default(), Samples::default());
    for rep in 0..cfg.warmup + cfg.reps {
        let record = rep >= cfg.warmup;
        let db = Db::open_in_memory();
        let Reply::Bulk(sha) = db.execute(&[b"SCRIPT", b"LOAD", SCRIPT.as_bytes()]) else { return Err("SCRIPT LOAD failed".into()) };
        evalsha.time(record, n, || {
            for _ in 0..n {
                let r = db.execute(&[b"EVALSHA", &sha, b"1", b"counter"]);
                debug_assert!(matches!(r, Reply::Int(_)));
            }
        });
        db.execute(&[b"FUNCTION", b"LOAD", LIBRARY.as_bytes()]);
        fcall.time(record, n, || {
            for _ in 0..n {
                let r = db.execute(&[b"FCALL", b"bump", b"1", b"counter"]);
                debug_assert!(matches!(r, Reply::Int(_)));
            }
        });
        assert_eq!(db.execute(&[b"GET", b"counter"]), Reply::Bulk((2 * n).to_string().into_bytes()));
    }
    report.add("nestdb.evalsha", "nestdb EVALSHA (INCR in Lua, `db.execute`)", evalsha.median(), Unit::OpsPerSec, evalsha.detail(n));
    report.add("nestdb.fcall", "nestdb FCALL (INCR in a library function)", fcall.median(), Unit::OpsPerSec, fcall.detail(n));

    let server = start_server()?;
    let mut conn = crate::resp::Conn::connect(server.port).map_err(|e| e.to_string())?;
    let sha = match conn.call(&[b"SCRIPT", b"LOAD", SCRIPT.as_bytes()]).map_err(|e| e.to_string())? {
        crate::resp::Resp::Bulk(Some(b)) => String::from_utf8_lossy(&b).into_owned(),
        other => return Err(format!("SCRIPT LOAD: {other:?}")),
    };
    conn.call(&[b"FUNCTION", b"LOAD", LIBRARY.as_bytes()]).map_err(|e| e.to_string())?;
    let bench = |cmd: &[&str]| benchmark_command(server.port, n, cmd);
    let how = "redis-benchmark -P 16, 50 clients, loopback".to_owned();
    let theirs_eval = bench(&["EVALSHA", &sha, "1", "counter"])?;
    let theirs_fcall = bench(&["FCALL", "bump", "1", "counter"])?;
    report.add("redis.evalsha", "redis-server EVALSHA (INCR in Lua)", theirs_eval, Unit::OpsPerSec, how.clone());
    report.add("redis.fcall", "redis-server FCALL (INCR in a library function)", theirs_fcall, Unit::OpsPerSec, how);
    report.add("ratio.evalsha", "nestdb / redis-server EVALSHA", evalsha.median() / theirs_eval, Unit::Ratio, String::new());
    report.add("ratio.fcall", "nestdb / redis-server FCALL", fcall.median() / theirs_fcall, Unit::Ratio, String::new());
    Ok(())
}
