//! Shared helpers for nestdb's integration tests: a minimal RESP3 client over `TcpStream`, a
//! guard that runs a throw-away `redis-server` on a free loopback port, and reply
//! normalisation (sorting what Redis documents as unordered).
//!
//! The client decodes straight into `nestdb::Reply` so replies from Redis and from nestdb
//! compare with `==`. RESP3 mapping: sets `~` become arrays, verbatim strings `=` become bulk
//! strings without their `txt:` prefix, big numbers `(` become bulk strings, booleans `#` become
//! integers 1/0, attributes `|` and pushes `>` are read and dropped.

#![allow(dead_code)]

use std::borrow::Cow;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nestdb::{Db, Reply};

/// One RESP3 connection to a Redis server.
pub struct RespConn {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl RespConn {
    /// Connect to 127.0.0.1:`port` and switch the connection to RESP3 (`HELLO 3`).
    pub fn connect(port: u16) -> io::Result<RespConn> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        let writer = stream.try_clone()?;
        let mut conn = RespConn { reader: BufReader::new(stream), writer };
        match conn.call(&["HELLO", "3"])? {
            Reply::Map(_) => Ok(conn),
            other => Err(io::Error::other(format!("HELLO 3 answered {other:?}"))),
        }
    }

    /// Send one command and read its reply.
    pub fn call<A: AsRef<[u8]>>(&mut self, argv: &[A]) -> io::Result<Reply> {
        self.send(argv)?;
        self.read_reply()
    }

    /// Like `call`, panicking on I/O errors (the server is ours; losing it is a test failure).
    pub fn cmd<A: AsRef<[u8]>>(&mut self, argv: &[A]) -> Reply {
        match self.call(argv) {
            Ok(r) => r,
            Err(e) => panic!("redis connection failed on {:?}: {e}", show_argv(argv)),
        }
    }

    fn send<A: AsRef<[u8]>>(&mut self, argv: &[A]) -> io::Result<()> {
        let mut buf = Vec::with_capacity(64);
        buf.extend_from_slice(format!("*{}\r\n", argv.len()).as_bytes());
        for a in argv {
            let a = a.as_ref();
            buf.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            buf.extend_from_slice(a);
            buf.extend_from_slice(b"\r\n");
        }
        self.writer.write_all(&buf)
    }

    fn line(&mut self) -> io::Result<Vec<u8>> {
        let mut line = Vec::new();
        self.reader.read_until(b'\n', &mut line)?;
        if line.len() < 3 || !line.ends_with(b"\r\n") {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, format!("bad RESP line {:?}", String::from_utf8_lossy(&line))));
        }
        line.truncate(line.len() - 2);
        Ok(line)
    }

    fn blob(&mut self, len: usize) -> io::Result<Vec<u8>> {
        let mut buf = vec![0u8; len + 2];
        self.reader.read_exact(&mut buf)?;
        if &buf[len..] != b"\r\n" {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "blob not terminated by CRLF"));
        }
        buf.truncate(len);
        Ok(buf)
    }

    /// Read one reply (skipping attributes and push messages).
    pub fn read_reply(&mut self) -> io::Result<Reply> {
        loop {
            let line = self.line()?;
            let (kind, rest) = (line[0], &line[1..]);
            let text = || String::from_utf8_lossy(rest).into_owned();
            let num = || -> io::Result<i64> { text().parse::<i64>().map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e)) };
            return Ok(match kind {
                b'+' => Reply::Status(Cow::Owned(text())),
                b'-' => Reply::Error(Cow::Owned(text())),
                b':' => Reply::Int(num()?),
                b'_' => Reply::Nil,
                b'#' => Reply::Int(i64::from(rest == b"t")),
                b',' => Reply::Double(parse_double(&text())?),
                b'(' => Reply::Bulk(rest.to_vec()),
                b'$' | b'=' | b'!' => {
                    let n = num()?;
                    if n < 0 {
                        Reply::Nil
                    } else {
                        let mut b = self.blob(n as usize)?;
                        match kind {
                            b'!' => Reply::Error(Cow::Owned(String::from_utf8_lossy(&b).into_owned())),
                            b'=' => {
                                b.drain(..b.len().min(4));
                                Reply::Bulk(b)
                            }
                            _ => Reply::Bulk(b),
                        }
                    }
                }
                b'*' | b'~' => {
                    let n = num()?;
                    if n < 0 {
                        Reply::Nil
                    } else {
                        let mut items = Vec::with_capacity(n as usize);
                        for _ in 0..n {
                            items.push(self.read_reply()?);
                        }
                        Reply::Array(items)
                    }
                }
                b'%' => {
                    let n = num()?;
                    let mut pairs = Vec::with_capacity(n.max(0) as usize);
                    for _ in 0..n {
                        let k = self.read_reply()?;
                        let v = self.read_reply()?;
                        pairs.push((k, v));
                    }
                    Reply::Map(pairs)
                }
                b'|' => {
                    for _ in 0..num()? * 2 {
                        self.read_reply()?;
                    }
                    continue;
                }
                b'>' => {
                    for _ in 0..num()? {
                        self.read_reply()?;
                    }
                    continue;
                }
                _ => return Err(io::Error::new(io::ErrorKind::InvalidData, format!("unknown RESP type {:?}", kind as char))),
            });
        }
    }
}

fn parse_double(s: &str) -> io::Result<f64> {
    match s {
        "inf" => Ok(f64::INFINITY),
        "-inf" => Ok(f64::NEG_INFINITY),
        "nan" => Ok(f64::NAN),
        _ => s.parse::<f64>().map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("bad double {s:?}: {e}"))),
    }
}

/// Render an argv for messages: printable bytes as text, others escaped.
pub fn show_argv<A: AsRef<[u8]>>(argv: &[A]) -> String {
    argv.iter().map(|a| show_bytes(a.as_ref())).collect::<Vec<_>>().join(" ")
}

pub fn show_bytes(b: &[u8]) -> String {
    if !b.is_empty() && b.iter().all(|c| c.is_ascii_graphic()) {
        String::from_utf8_lossy(b).into_owned()
    } else {
        format!("{:?}", String::from_utf8_lossy(b))
    }
}

/// A `redis-server` child process on a free loopback port, killed on drop (also when the test
/// panics).
pub struct RedisServer {
    child: Child,
    pub port: u16,
    dir: std::path::PathBuf,
}

fn free_port() -> u16 {
    let l = TcpListener::bind(("127.0.0.1", 0)).expect("bind a loopback port");
    l.local_addr().expect("local addr").port()
}

impl RedisServer {
    /// Start a server, or skip: when `redis-server` cannot be run, panic if
    /// `NESTDB_REQUIRE_REDIS=1` (CI), else print a skip notice. `NESTDB_REDIS_SERVER` overrides
    /// the binary. None means skipped (not installed and not required): the caller returns.
    pub fn start_or_skip(test: &str) -> Option<RedisServer> {
        let bin = std::env::var("NESTDB_REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
        let required = std::env::var("NESTDB_REQUIRE_REDIS").is_ok_and(|v| v == "1");
        let version = Command::new(&bin).arg("--version").stdout(Stdio::piped()).stderr(Stdio::null()).output();
        match version {
            Ok(out) if out.status.success() => {}
            other => {
                let why = match other {
                    Ok(out) => format!("`{bin} --version` exited with {}", out.status),
                    Err(e) => format!("cannot run `{bin}`: {e}"),
                };
                if required {
                    panic!(
                        "{test}: NESTDB_REQUIRE_REDIS=1 but redis-server is unavailable ({why}); install it (apt-get install redis-server)"
                    );
                }
                eprintln!("SKIPPED {test}: {why}. Install redis-server (or set NESTDB_REDIS_SERVER) to run this differential test.");
                return None;
            }
        }
        // A port can be taken between probing and binding; retry a few times.
        let mut last_err = String::new();
        for _ in 0..5 {
            match RedisServer::start(&bin) {
                Ok(s) => return Some(s),
                Err(e) => last_err = e,
            }
        }
        panic!("{test}: could not start {bin}: {last_err}");
    }

    fn start(bin: &str) -> Result<RedisServer, String> {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("nestdb-redis-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
        let child = Command::new(bin)
            .args(["--port", &port.to_string(), "--save", "", "--appendonly", "no", "--bind", "127.0.0.1"])
            .arg("--dir")
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("spawn: {e}"))?;
        let mut server = RedisServer { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(format!("redis-server exited early with {status} (port {port} taken?)"));
            }
            if let Ok(mut c) = RespConn::connect(port) {
                if matches!(c.call(&["PING"]), Ok(Reply::Status(ref s)) if s == "PONG") {
                    return Ok(server);
                }
            }
            if Instant::now() > deadline {
                return Err(format!("redis-server on port {port} did not answer PING within 10 s"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn connect(&self) -> RespConn {
        RespConn::connect(self.port).unwrap_or_else(|e| panic!("connect to redis-server on port {}: {e}", self.port))
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A sort key for replies (total order, used to compare unordered collections).
pub fn reply_sort_key(r: &Reply) -> Vec<u8> {
    let mut out = Vec::new();
    encode_for_sort(r, &mut out);
    out
}

fn encode_for_sort(r: &Reply, out: &mut Vec<u8>) {
    match r {
        Reply::Nil => out.push(0),
        Reply::Int(i) => {
            out.push(1);
            out.extend_from_slice(&((*i as u64) ^ (1 << 63)).to_be_bytes());
        }
        Reply::Double(d) => {
            out.push(2);
            out.extend_from_slice(&d.to_bits().to_be_bytes());
        }
        Reply::Bulk(b) => {
            out.push(3);
            out.extend_from_slice(b);
            out.push(0);
        }
        Reply::Status(s) => {
            out.push(4);
            out.extend_from_slice(s.as_bytes());
            out.push(0);
        }
        Reply::Error(e) => {
            out.push(5);
            out.extend_from_slice(e.as_bytes());
            out.push(0);
        }
        Reply::Array(a) => {
            out.push(6);
            for x in a {
                encode_for_sort(x, out);
            }
            out.push(0xff);
        }
        Reply::Map(m) => {
            out.push(7);
            for (k, v) in m {
                encode_for_sort(k, out);
                encode_for_sort(v, out);
            }
            out.push(0xff);
        }
        _ => out.push(9),
    }
}

/// An array sorted as a multiset (other replies unchanged).
pub fn sorted(r: Reply) -> Reply {
    match r {
        Reply::Array(mut a) => {
            a.sort_by_cached_key(reply_sort_key);
            Reply::Array(a)
        }
        Reply::Map(mut m) => {
            m.sort_by_cached_key(|(k, v)| (reply_sort_key(k), reply_sort_key(v)));
            Reply::Map(m)
        }
        other => other,
    }
}

/// Flatten a map into an array of 2-element arrays (so maps and RESP2-style pairs compare).
pub fn map_as_pairs(r: Reply) -> Reply {
    match r {
        Reply::Map(m) => Reply::Array(m.into_iter().map(|(k, v)| Reply::Array(vec![k, v])).collect()),
        other => other,
    }
}

/// A tiny deterministic generator for randomized tests (xorshift64: a test replays exactly).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Uniform in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len() as u64) as usize]
    }

    /// True `percent` % of the time.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// Uniform in `[lo, hi]`.
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (self.next() >> 11) as f64 / ((1u64 << 53) - 1) as f64 * (hi - lo)
    }
}

/// `keyspace_hits` and `keyspace_misses` from an `INFO stats` reply.
pub fn keyspace_hits_misses(r: Reply) -> (i64, i64) {
    let Reply::Bulk(text) = r else { panic!("INFO: {r:?}") };
    let text = String::from_utf8(text).unwrap();
    let field = |name: &str| text.lines().find_map(|l| l.strip_prefix(name)).unwrap().trim().parse::<i64>().unwrap();
    (field("keyspace_hits:"), field("keyspace_misses:"))
}

/// Both sides: nestdb, and a connection to redis-server.
pub struct Pair {
    pub db: Db,
    pub server: RedisServer,
    pub redis: RespConn,
}

impl Pair {
    pub fn start(test: &str) -> Option<Pair> {
        let server = RedisServer::start_or_skip(test)?;
        let redis = server.connect();
        Some(Pair { db: Db::open_in_memory(), server, redis })
    }

    /// Both replies to `argv`.
    pub fn both(&mut self, argv: &[&[u8]]) -> (Reply, Reply) {
        let (ours, theirs) = (self.db.execute(argv), self.redis.cmd(argv));
        if matches!(&theirs, Reply::Error(e) if e.contains("converted into double")) {
            // redis-server's SORT tests `errno == ERANGE` without clearing errno first, so an
            // ERANGE stays and fails later SORTs on this connection's thread until another
            // call sets errno. A new connection does (its accept loop ends in EAGAIN).
            self.redis = self.server.connect();
        }
        (ours, theirs)
    }

    /// Run `argv` on both sides; the replies must be equal.
    pub fn run_argv(&mut self, argv: &[&[u8]]) -> Reply {
        let (ours, theirs) = self.both(argv);
        assert_eq!(ours, theirs, "{}", show_argv(argv));
        ours
    }

    /// Run `line` (words split on single spaces) on both sides; the replies must be equal.
    pub fn run(&mut self, line: &str) -> Reply {
        let argv: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
        if std::env::var_os("PAIR_TRACE").is_some() {
            eprintln!("CMD {line}");
        }
        self.run_argv(&argv)
    }

    /// Run `steps`; the keyspace hits and misses they add (INFO stats) must be the same on
    /// both sides.
    pub fn same_hits_and_misses(&mut self, what: &str, steps: impl FnOnce(&mut Pair)) {
        let counts = |p: &mut Pair| {
            let (ours, theirs) = p.both(&[b"INFO", b"stats"]);
            (keyspace_hits_misses(ours), keyspace_hits_misses(theirs))
        };
        let (o0, t0) = counts(self);
        steps(self);
        let (o1, t1) = counts(self);
        assert_eq!((o1.0 - o0.0, o1.1 - o0.1), (t1.0 - t0.0, t1.1 - t0.1), "keyspace hits and misses: {what}");
    }
}
