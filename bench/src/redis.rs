//! Suite `redis`: `redis-benchmark -P 16 -q -t get,set -n N -r N -d 32` against a local
//! redis-server on loopback.
//!
//! Three ways in: `--redis-output FILE` parses the output of a redis-benchmark run that
//! `bench/run.sh` already made (against the server it started); `--redis-port P` runs
//! redis-benchmark against a server already listening there; otherwise this suite starts its own
//! `redis-server` (no persistence) on a free loopback port and stops it when done.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::report::{Report, Unit};
use crate::Config;

/// A redis-server child process, killed on drop.
pub(crate) struct Server {
    child: Child,
    pub(crate) port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn ping(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
    let mut buf = [0u8; 16];
    s.write_all(b"PING\r\n").is_ok() && s.read(&mut buf).is_ok_and(|n| buf[..n].starts_with(b"+PONG"))
}

pub(crate) fn start_server() -> Result<Server, String> {
    let port = free_port().map_err(|e| format!("no free port: {e}"))?;
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start redis-server ({e}); install it with `apt-get install -y redis-server`"))?;
    let server = Server { child, port };
    let t = Instant::now();
    while !ping(port) {
        if t.elapsed() > Duration::from_secs(10) {
            return Err(format!("redis-server did not answer PING on port {port}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(server)
}

/// The redis-benchmark arguments of the issue's workload, `n` requests over `n` random keys.
pub fn benchmark_args(port: u16, n: usize) -> Vec<String> {
    let n = n.to_string();
    ["-h", "127.0.0.1", "-p", &port.to_string(), "-P", "16", "-q", "-t", "get,set", "-n", &n, "-r", &n, "-d", "32"]
        .map(String::from)
        .to_vec()
}

/// Requests per second of `redis-benchmark -P 16 -q -n <requests>` running `cmd` against the
/// server on `port` (50 clients, loopback).
pub(crate) fn benchmark_command(port: u16, requests: usize, cmd: &[&str]) -> Result<f64, String> {
    let (port, n) = (port.to_string(), requests.to_string());
    let mut args = vec!["-h", "127.0.0.1", "-p", &port, "-P", "16", "-q", "-n", &n];
    args.extend_from_slice(cmd);
    let out = Command::new("redis-benchmark")
        .args(&args)
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run redis-benchmark ({e}); install redis-server (it ships redis-benchmark)"))?;
    parse(&String::from_utf8_lossy(&out.stdout))
        .first()
        .map(|(_, rps)| *rps)
        .ok_or_else(|| format!("no figure from redis-benchmark {cmd:?}"))
}

/// `(test, requests per second)` from redis-benchmark `-q` output (progress lines, separated by
/// carriage returns, are skipped).
pub fn parse(output: &str) -> Vec<(String, f64)> {
    output
        .split(['\r', '\n'])
        .filter_map(|line| {
            let (name, rest) = line.trim().split_once(": ")?;
            let rps = rest.strip_suffix(" requests per second").or_else(|| rest.split_once(" requests per second").map(|(a, _)| a))?;
            Some((name.to_owned(), rps.trim().parse().ok()?))
        })
        .collect()
}

fn record(report: &mut Report, results: &[(String, f64)], how: &str) -> Result<(), String> {
    let find = |t: &str| results.iter().find(|(name, _)| name == t).map(|(_, r)| *r);
    let (Some(set), Some(get)) = (find("SET"), find("GET")) else {
        return Err(format!("redis-benchmark output has no SET/GET figures: {results:?}"));
    };
    report.add("redis.set", "redis-server SET (redis-benchmark -P 16)", set, Unit::OpsPerSec, how.to_owned());
    report.add("redis.get", "redis-server GET (redis-benchmark -P 16)", get, Unit::OpsPerSec, how.to_owned());
    Ok(())
}

pub fn run(cfg: &Config, report: &mut Report) -> Result<(), String> {
    let n = cfg.keys;
    let how = format!("`redis-benchmark -P 16 -q -t get,set -n {n} -r {n} -d 32`, 50 clients, loopback");
    if let Some(path) = &cfg.redis_output {
        let out = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        return record(report, &parse(&out), &how);
    }
    let _server;
    let port = match cfg.redis_port {
        Some(p) => p,
        None => {
            _server = start_server()?;
            _server.port
        }
    };
    let out = Command::new("redis-benchmark")
        .args(benchmark_args(port, n))
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run redis-benchmark ({e}); install redis-server (it ships redis-benchmark)"))?;
    if !out.status.success() {
        return Err(format!("redis-benchmark failed: {}", out.status));
    }
    record(report, &parse(&String::from_utf8_lossy(&out.stdout)), &how)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_quiet_output_with_progress_lines() {
        let out = "SET: rps=1034216.0 (overall: 1031941.7) avg_msec=0.651 (overall: 0.654)\r\
                   SET: 1039501.06 requests per second, p50=0.599 msec                    \n\
                   GET: rps=1232000.0 (overall: 1232000.0) avg_msec=0.5\r\
                   GET: 1248439.50 requests per second, p50=0.503 msec                    \n\n";
        assert_eq!(parse(out), vec![("SET".to_owned(), 1039501.06), ("GET".to_owned(), 1248439.50)]);
    }
}
