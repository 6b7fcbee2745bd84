//! The redis-server side of the durability suites: a minimal RESP2 client over `TcpStream`
//! (commands are encoded as RESP arrays; pipelining is `send` several, `flush`, `read` as many)
//! and a redis-server child process with its own directory, port and log file.
//!
//! Readiness is what a client sees: the server answers `PING` with `+PONG` (while it loads a
//! dataset it answers `-LOADING`). The load time redis-server itself measures is read from its
//! log ("DB loaded from disk: X seconds" / "DB loaded from append only file: X seconds").

use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::redis::free_port;

/// One RESP2 reply.
#[derive(Debug, PartialEq)]
pub enum Resp {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Resp>>),
}

/// A client connection.
pub struct Conn {
    r: BufReader<TcpStream>,
    w: BufWriter<TcpStream>,
}

fn bad(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

impl Conn {
    pub fn connect(port: u16) -> io::Result<Conn> {
        let s = TcpStream::connect(("127.0.0.1", port))?;
        s.set_nodelay(true)?;
        Ok(Conn { r: BufReader::with_capacity(64 << 10, s.try_clone()?), w: BufWriter::with_capacity(256 << 10, s) })
    }

    /// Queue one command (written on `flush`, or when the buffer fills).
    pub fn send(&mut self, argv: &[&[u8]]) -> io::Result<()> {
        write!(self.w, "*{}\r\n", argv.len())?;
        for a in argv {
            write!(self.w, "${}\r\n", a.len())?;
            self.w.write_all(a)?;
            self.w.write_all(b"\r\n")?;
        }
        Ok(())
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.w.flush()
    }

    fn line(&mut self) -> io::Result<String> {
        let mut buf = Vec::with_capacity(16);
        self.r.read_until(b'\n', &mut buf)?;
        if !buf.ends_with(b"\r\n") {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed mid-reply"));
        }
        buf.truncate(buf.len() - 2);
        String::from_utf8(buf).map_err(|_| bad("reply line is not UTF-8"))
    }

    /// Read one reply.
    pub fn read(&mut self) -> io::Result<Resp> {
        let line = self.line()?;
        let (tag, rest) = line.split_at_checked(1).ok_or_else(|| bad("empty reply line"))?;
        let num = || rest.parse::<i64>().map_err(|_| bad(format!("bad length in {line:?}")));
        Ok(match tag {
            "+" => Resp::Simple(rest.to_owned()),
            "-" => Resp::Error(rest.to_owned()),
            ":" => Resp::Int(num()?),
            "$" => match usize::try_from(num()?) {
                Err(_) => Resp::Bulk(None),
                Ok(n) => {
                    let mut v = vec![0; n + 2];
                    self.r.read_exact(&mut v)?;
                    v.truncate(n);
                    Resp::Bulk(Some(v))
                }
            },
            "*" => match usize::try_from(num()?) {
                Err(_) => Resp::Array(None),
                Ok(n) => Resp::Array(Some((0..n).map(|_| self.read()).collect::<io::Result<_>>()?)),
            },
            _ => return Err(bad(format!("unknown reply type in {line:?}"))),
        })
    }

    /// Send one command and read its reply.
    pub fn call(&mut self, argv: &[&[u8]]) -> io::Result<Resp> {
        self.send(argv)?;
        self.flush()?;
        self.read()
    }

    /// A command that must answer a status (`+OK`, `+Background saving started`...).
    pub fn status(&mut self, argv: &[&[u8]]) -> Result<String, String> {
        match self.call(argv) {
            Ok(Resp::Simple(s)) => Ok(s),
            other => Err(format!("{}: unexpected reply {other:?}", String::from_utf8_lossy(argv[0]))),
        }
    }

    /// `INFO section` as (field, value) pairs.
    pub fn info(&mut self, section: &str) -> Result<Vec<(String, String)>, String> {
        match self.call(&[b"INFO", section.as_bytes()]) {
            Ok(Resp::Bulk(Some(b))) => Ok(String::from_utf8_lossy(&b)
                .lines()
                .filter_map(|l| l.split_once(':').map(|(k, v)| (k.to_owned(), v.trim().to_owned())))
                .collect()),
            other => Err(format!("INFO {section}: unexpected reply {other:?}")),
        }
    }

    /// One numeric INFO field.
    pub fn info_field(&mut self, section: &str, field: &str) -> Result<i64, String> {
        let info = self.info(section)?;
        info.iter()
            .find(|(k, _)| k == field)
            .and_then(|(_, v)| v.parse().ok())
            .ok_or_else(|| format!("INFO {section} has no numeric {field}"))
    }
}

/// A redis-server child process working in `dir`; killed on drop unless shut down.
pub struct RedisProc {
    child: Child,
    pub port: u16,
    log: PathBuf,
    spawned: Instant,
}

impl Drop for RedisProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl RedisProc {
    /// Spawn `redis-server` on a free loopback port, working in `dir` (its RDB, AOF directory and
    /// log `redis.log`, truncated first), with extra `--name value` options. Does not wait.
    pub fn start(dir: &Path, options: &[(&str, &str)]) -> Result<RedisProc, String> {
        let port = free_port().map_err(|e| format!("no free port: {e}"))?;
        let log = dir.join("redis.log");
        let _ = std::fs::remove_file(&log);
        let mut cmd = Command::new("redis-server");
        cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--daemonize", "no", "--protected-mode", "no"]);
        cmd.arg("--dir").arg(dir).arg("--logfile").arg(&log);
        for (k, v) in options {
            cmd.arg(format!("--{k}")).arg(v);
        }
        let spawned = Instant::now();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start redis-server ({e}); install it with `apt-get install -y redis-server`"))?;
        Ok(RedisProc { child, port, log, spawned })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Wait until the server answers PING with PONG; returns the time since spawn.
    pub fn wait_ready(&mut self, timeout: Duration) -> Result<Duration, String> {
        loop {
            if let Ok(mut c) = Conn::connect(self.port) {
                let _ = c.r.get_ref().set_read_timeout(Some(Duration::from_secs(5)));
                if let Ok(Resp::Simple(s)) = c.call(&[b"PING"]) {
                    if s == "PONG" {
                        return Ok(self.spawned.elapsed());
                    }
                }
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("redis-server exited ({status}); log:\n{}", self.log_tail()));
            }
            if self.spawned.elapsed() > timeout {
                return Err(format!("redis-server not ready after {timeout:?}; log:\n{}", self.log_tail()));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn log_tail(&self) -> String {
        let s = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = s.lines().collect();
        lines[lines.len().saturating_sub(10)..].join("\n")
    }

    /// Load time redis-server logged for this start (seconds), from the RDB or the AOF.
    pub fn logged_load_secs(&self) -> Option<f64> {
        parse_load_secs(&std::fs::read_to_string(&self.log).ok()?)
    }

    pub fn connect(&self) -> Result<Conn, String> {
        Conn::connect(self.port).map_err(|e| format!("connect to redis-server on port {}: {e}", self.port))
    }

    /// `SHUTDOWN NOSAVE` (the AOF is flushed and fsynced, no RDB written) and wait for the exit.
    pub fn shutdown(mut self) -> Result<(), String> {
        let mut c = self.connect()?;
        let _ = c.call(&[b"SHUTDOWN", b"NOSAVE"]);
        let status = self.child.wait().map_err(|e| format!("wait for redis-server: {e}"))?;
        if !status.success() {
            return Err(format!("redis-server shutdown: {status}"));
        }
        Ok(())
    }
}

/// The last "DB loaded from ...: X seconds" figure of a redis-server log.
pub fn parse_load_secs(log: &str) -> Option<f64> {
    log.lines().rev().find_map(|l| {
        let rest = l.split_once("DB loaded from disk: ").or_else(|| l.split_once("DB loaded from append only file: "))?.1;
        rest.strip_suffix(" seconds")?.trim().parse().ok()
    })
}

/// Process ids whose parent is `ppid` (redis-server's BGSAVE child), from /proc.
pub fn children_of(ppid: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.filter_map(|e| {
        let pid: u32 = e.ok()?.file_name().to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // Fields after the parenthesised command name: state ppid ...
        let after = &stat[stat.rfind(')')? + 2..];
        let parent: u32 = after.split_whitespace().nth(1)?.parse().ok()?;
        (parent == ppid).then_some(pid)
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_time_from_log() {
        let log = "1:M 26 Nov 2026 15:00:00.000 * Loading RDB produced by version 7.0.15\n\
                   1:M 26 Nov 2026 15:00:02.345 * Done loading RDB, keys loaded: 5000000, keys expired: 0.\n\
                   1:M 26 Nov 2026 15:00:02.345 * DB loaded from disk: 2.345 seconds\n\
                   1:M 26 Nov 2026 15:00:02.345 * Ready to accept connections\n";
        assert_eq!(parse_load_secs(log), Some(2.345));
        let aof = "* DB loaded from incr file appendonly.aof.1.incr.aof: 7.100 seconds\n\
                   * DB loaded from append only file: 7.102 seconds\n";
        assert_eq!(parse_load_secs(aof), Some(7.102));
        assert_eq!(parse_load_secs("* Ready to accept connections\n"), None);
    }

    #[test]
    fn finds_own_children() {
        let mut child = Command::new("sleep").arg("5").spawn().expect("spawn sleep");
        let kids = children_of(std::process::id());
        let _ = child.kill();
        let _ = child.wait();
        assert!(kids.contains(&child.id()), "{kids:?}");
    }
}
