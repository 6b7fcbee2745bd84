//! Property test of durability: random command sequences over every write command family,
//! closed and reopened at random points; the reopened database must hold exactly what it held
//! when it was closed — for every fsync policy, and with log rewrites forced.
//!
//! Two oracles:
//! - before/after (every case): the full dump (each key's type, value and absolute expiry,
//!   taken inside `Db::transaction`, whose clock is frozen) just before the close equals the
//!   dump after the reopen, except keys whose expiry passed in between, which must be gone.
//! - model (deterministic cases): the same sequence also runs on an in-memory database; every
//!   reply and, after every step, the whole state must agree. Relative TTLs make the two
//!   databases' expiry times differ by the few milliseconds between their runs, so those are
//!   compared within `TTL_TOLERANCE_MS`; relative and absolute times are drawn from disjoint
//!   windows so that NX/XX/GT/LT decisions cannot differ between the two.
//!
//! Most cases draw keys from six names, so commands collide (types, TTLs, RENAME/COPY/STORE
//! targets); one in four uses 400 names and bulk MSET/DEL, so tables grow and shrink while
//! snapshots walk them.
//!
//! Chaos cases (every other seed) add what a model cannot follow: SPOP, TTLs of a few
//! milliseconds that expire between commands and around the reopen (lazily, by the active
//! cycle, and while closed), sleeps, and bursts of concurrent writers racing a snapshot. Both
//! kinds of case mix plain commands, MULTI/EXEC (with WATCH) through a `Session`, pipelines,
//! `Db::transaction`, and `db.snapshot()`/SAVE/BGSAVE/BGREWRITEAOF mid-sequence.
//!
//! On failure the case is shrunk (steps removed while it still fails) and the panic message
//! gives the seed and the shortest failing sequence found.
//!
//! Environment: `NESTDB_MODEL_CASES=<n>` cases per configuration (default 12; half model, half
//! chaos), `NESTDB_MODEL_SEED=<seed>` runs that one case (seed printed on failure; decimal or
//! 0x-hex), `NESTDB_MODEL_STEPS=<n>` steps per case (default 400), `NESTDB_MODEL_SHRINK_SECS=<n>`
//! time allowed for shrinking a failure (default 60).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nestdb::{Db, FsyncPolicy, Options, Reply};

/// Two databases run the same relative-TTL command a few ms apart.
const TTL_TOLERANCE_MS: i64 = 2000;
/// `hz` of the durable database; `CONFIG SET hz MARKER` before a close tells a reopened handle
/// that still shares the old engine (kept alive for a moment by a background thread) from a
/// freshly opened one (options are not persisted).
const HZ: u32 = 50;
const MARKER_HZ: &str = "37";

/// Keys of most cases: few, so that commands collide (types, TTLs, RENAME/COPY/STORE targets).
const SMALL_KEYSPACE: usize = 6;
/// Keys of one case in four: enough for the tables to grow and resize while snapshots run.
const LARGE_KEYSPACE: usize = 400;
const MEMBERS: &[&str] = &["a", "b", "c", "d", "e"];
const VALUES: &[&str] = &["v", "x", "12", "-3", "0.5", "hello world", "", "10", LONG];
/// Makes the log grow (automatic rewrites) and exercises multi-block compressed snapshots.
const LONG: &str = concat!(
    "0123456789abcdefghijklmnopqrstuvwxyz-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-0123456789abcdefghijklmnopqrst|",
    "1123456789abcdefghijklmnopqrstuvwxyz-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-0123456789abcdefghijklmnopqrst|",
    "2123456789abcdefghijklmnopqrstuvwxyz-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-0123456789abcdefghijklmnopqrst|",
    "3123456789abcdefghijklmnopqrstuvwxyz-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-0123456789abcdefghijklmnopqrst|",
    "4123456789abcdefghijklmnopqrstuvwxyz-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-0123456789abcdefghijklmnopqrst|",
    "5123456789abcdefghijklmnopqrstuvwxyz-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-0123456789abcdefghijklmnopqrst|",
);
const INTS: &[&str] = &["1", "-2", "7", "100", "0", "9223372036854775807", "x"];
const FLOATS: &[&str] = &["0.1", "-1.5", "3", "1e3", "2.5e-3", "-0.1", "abc"];
const SCORES: &[&str] = &["0", "1", "-2", "2.5", "1e10", "0.125", "-inf", "+inf", "3"];

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

// ---------------------------------------------------------------------------------------------
// Random numbers (SplitMix64: a seed fully determines a case)
// ---------------------------------------------------------------------------------------------

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo + 1) as u64) as i64
    }

    /// True with probability `pct` percent.
    fn chance(&mut self, pct: u64) -> bool {
        self.next() % 100 < pct
    }

    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len())]
    }
}

fn mix(a: u64, b: u64) -> u64 {
    Rng(a ^ b.wrapping_mul(0xD1B5_4A32_D192_ED03)).next()
}

// ---------------------------------------------------------------------------------------------
// Cases: steps of commands whose absolute times are relative to the run's start
// ---------------------------------------------------------------------------------------------

/// One argument. Absolute times are stored as offsets from the run's start (`base`), so a
/// case means the same thing whenever it runs (shrinking reruns it later).
#[derive(Clone, Debug)]
enum Arg {
    Lit(String),
    /// Unix ms: base + offset.
    AtMs(i64),
    /// Unix s: base/1000 + offset.
    AtSec(i64),
}

type Cmd = Vec<Arg>;

#[derive(Clone, Copy, Debug)]
enum SnapKind {
    Api,
    Save,
    BgSave,
    BgRewriteAof,
}

#[derive(Clone, Debug)]
enum Step {
    Cmd(Cmd),
    /// Through a `Session`: optionally WATCH a key and let another client run a command, then
    /// MULTI, the commands, EXEC.
    Multi {
        watch: Option<(Cmd, Cmd)>,
        cmds: Vec<Cmd>,
    },
    Pipeline(Vec<Cmd>),
    Transaction(Vec<Cmd>),
    Snapshot(SnapKind),
    ExpireCycle,
    /// Milliseconds (up to 30 in chaos cases, 10 otherwise).
    Sleep(u64),
    /// Chaos only: each list runs on its own thread while the main thread takes a snapshot
    /// (forced-rewrite runs leave the snapshots to the automatic rewrites).
    Concurrent(Vec<Vec<Cmd>>),
    /// Dump, close (drop every handle), stay closed this many ms (chaos: short TTLs pass
    /// while closed), reopen, dump, compare.
    Reopen(u64),
}

fn lit(s: impl Into<String>) -> Arg {
    Arg::Lit(s.into())
}

fn resolve(c: &[Arg], base: i64) -> Vec<Vec<u8>> {
    c.iter()
        .map(|a| match a {
            Arg::Lit(s) => s.clone().into_bytes(),
            Arg::AtMs(o) => (base + o).to_string().into_bytes(),
            Arg::AtSec(o) => (base / 1000 + o).to_string().into_bytes(),
        })
        .collect()
}

fn show_cmd(c: &[Arg]) -> String {
    c.iter()
        .map(|a| match a {
            Arg::Lit(s) if s == LONG => "<LONG>".to_string(),
            Arg::Lit(s) if s.is_empty() || s.contains(' ') => format!("{s:?}"),
            Arg::Lit(s) => s.clone(),
            Arg::AtMs(o) => format!("<t0_ms{o:+}>"),
            Arg::AtSec(o) => format!("<t0_s{o:+}>"),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn show_steps(steps: &[Step]) -> String {
    let mut out = String::new();
    for (i, s) in steps.iter().enumerate() {
        let _ = match s {
            Step::Cmd(c) => writeln!(out, "  {i:3}: {}", show_cmd(c)),
            Step::Multi { watch, cmds } => {
                let mut t = String::new();
                if let Some((w, touch)) = watch {
                    let _ = write!(t, "{}; [other client] {}; ", show_cmd(w), show_cmd(touch));
                }
                let body: Vec<String> =
                    std::iter::once("MULTI".to_string()).chain(cmds.iter().map(|c| show_cmd(c))).chain(["EXEC".to_string()]).collect();
                writeln!(out, "  {i:3}: session: {t}{}", body.join("; "))
            }
            Step::Pipeline(cmds) => {
                writeln!(out, "  {i:3}: pipeline [{}]", cmds.iter().map(|c| show_cmd(c)).collect::<Vec<_>>().join("; "))
            }
            Step::Transaction(cmds) => {
                writeln!(out, "  {i:3}: Db::transaction [{}]", cmds.iter().map(|c| show_cmd(c)).collect::<Vec<_>>().join("; "))
            }
            Step::Snapshot(k) => writeln!(out, "  {i:3}: snapshot via {k:?}"),
            Step::ExpireCycle => writeln!(out, "  {i:3}: db.expire_cycle()"),
            Step::Sleep(ms) => writeln!(out, "  {i:3}: sleep {ms} ms"),
            Step::Concurrent(lists) => {
                let _ = writeln!(out, "  {i:3}: concurrently, with db.snapshot() (or automatic rewrites in forced-rewrite runs):");
                for (t, l) in lists.iter().enumerate() {
                    let _ = writeln!(out, "         thread {t}: {}", l.iter().map(|c| show_cmd(c)).collect::<Vec<_>>().join("; "));
                }
                Ok(())
            }
            Step::Reopen(0) => writeln!(out, "  {i:3}: -- close and reopen --"),
            Step::Reopen(ms) => writeln!(out, "  {i:3}: -- close, {ms} ms closed, reopen --"),
        };
    }
    out
}

/// Seeds with the low bit set are chaos cases.
fn is_chaos(seed: u64) -> bool {
    seed & 1 == 1
}

/// One seed in four (bits 1-2 clear) draws its keys from `LARGE_KEYSPACE`.
fn is_large(seed: u64) -> bool {
    seed & 6 == 0
}

struct Gen {
    rng: Rng,
    chaos: bool,
    /// Forced-rewrite runs: few explicit snapshots, so the log grows past the rewrite size.
    rewrite: bool,
    /// Size of the key space (`SMALL_KEYSPACE` or `LARGE_KEYSPACE`).
    keys: usize,
}

impl Gen {
    fn key(&mut self) -> Arg {
        lit(format!("k{}", self.rng.below(self.keys)))
    }
    fn member(&mut self) -> Arg {
        lit(self.rng.pick(MEMBERS))
    }
    fn value(&mut self) -> Arg {
        lit(self.rng.pick(VALUES))
    }
    fn int(&mut self) -> Arg {
        lit(self.rng.pick(INTS))
    }
    fn float(&mut self) -> Arg {
        lit(self.rng.pick(FLOATS))
    }
    fn score(&mut self) -> Arg {
        lit(self.rng.pick(SCORES))
    }
    fn small(&mut self, lo: i64, hi: i64) -> Arg {
        lit(self.rng.range(lo, hi).to_string())
    }

    /// A relative TTL in seconds. Deterministic ones land in windows [base+100 s, +case
    /// duration], [base+300 s, ...], [base+1000 s, ...], disjoint from every absolute time.
    fn rel_secs(&mut self) -> Arg {
        if self.chaos && self.rng.chance(30) {
            return lit("1");
        }
        match self.rng.below(12) {
            0 => lit("0"),
            1 => lit("-1"),
            2 => lit("9223372036854775807"),
            _ => lit(self.rng.pick(&["100", "300", "1000"])),
        }
    }

    fn rel_ms(&mut self) -> Arg {
        if self.chaos && self.rng.chance(60) {
            return self.small(1, 50);
        }
        match self.rng.below(12) {
            0 => lit("0"),
            1 => lit("-5"),
            _ => lit(self.rng.pick(&["100000", "300000", "1000000"])),
        }
    }

    fn abs_ms(&mut self) -> Arg {
        if self.chaos && self.rng.chance(40) {
            return Arg::AtMs(self.rng.range(1, 80));
        }
        match self.rng.below(7) {
            0 => lit("1"),
            1 => Arg::AtMs(-10_000),
            n => Arg::AtMs([50_000, 200_000, 500_000, 5_000_000, 2_000_000][n - 2]),
        }
    }

    fn abs_secs(&mut self) -> Arg {
        if self.chaos && self.rng.chance(20) {
            return Arg::AtSec(self.rng.range(1, 2));
        }
        match self.rng.below(6) {
            0 => lit("1"),
            1 => Arg::AtSec(-10),
            n => Arg::AtSec([50, 200, 500, 5000][n - 2]),
        }
    }

    fn cmd(&mut self) -> Cmd {
        match self.rng.below(100) {
            0..=24 => self.strings(),
            25..=39 => self.keyspace(),
            40..=51 => self.hashes(),
            52..=67 => self.lists(),
            68..=81 => self.sets(),
            _ => self.zsets(),
        }
    }

    fn strings(&mut self) -> Cmd {
        let k = self.key();
        match self.rng.below(16) {
            0..=2 => {
                let mut c = vec![lit("SET"), k, self.value()];
                match self.rng.below(10) {
                    0 => c.extend([lit("EX"), self.rel_secs()]),
                    1 => c.extend([lit("PX"), self.rel_ms()]),
                    2 => c.extend([lit("EXAT"), self.abs_secs()]),
                    3 => c.extend([lit("PXAT"), self.abs_ms()]),
                    4 => c.push(lit("KEEPTTL")),
                    _ => {}
                }
                if self.rng.chance(25) {
                    c.push(lit(self.rng.pick(&["NX", "XX"])));
                }
                if self.rng.chance(25) {
                    c.push(lit("GET"));
                }
                c
            }
            3 => vec![lit("SETEX"), k, self.rel_secs(), self.value()],
            4 => vec![lit("PSETEX"), k, self.rel_ms(), self.value()],
            5 => vec![lit(self.rng.pick(&["SETNX", "GETSET"])), k, self.value()],
            6 => vec![lit("GETDEL"), k],
            7 => {
                let mut c = vec![lit("GETEX"), k];
                match self.rng.below(6) {
                    0 => c.extend([lit("EX"), self.rel_secs()]),
                    1 => c.extend([lit("PX"), self.rel_ms()]),
                    2 => c.extend([lit("EXAT"), self.abs_secs()]),
                    3 => c.extend([lit("PXAT"), self.abs_ms()]),
                    4 => c.push(lit("PERSIST")),
                    _ => {}
                }
                c
            }
            8 => vec![lit(self.rng.pick(&["INCR", "DECR"])), k],
            9 => vec![lit(self.rng.pick(&["INCRBY", "DECRBY"])), k, self.int()],
            10 => vec![lit("INCRBYFLOAT"), k, self.float()],
            11 => vec![lit("APPEND"), k, self.value()],
            12 => vec![lit("SETRANGE"), k, self.small(0, 12), self.value()],
            13 | 14 => {
                let mut c = vec![lit(self.rng.pick(&["MSET", "MSET", "MSETNX"])), k, self.value()];
                for _ in 0..self.rng.below(3) {
                    c.extend([self.key(), self.value()]);
                }
                c
            }
            _ => vec![lit("SET"), k, self.value()],
        }
    }

    fn expire(&mut self) -> Cmd {
        let which = self.rng.below(4);
        let (name, t) = match which {
            0 => ("EXPIRE", self.rel_secs()),
            1 => ("PEXPIRE", self.rel_ms()),
            2 => ("EXPIREAT", self.abs_secs()),
            _ => ("PEXPIREAT", self.abs_ms()),
        };
        let mut c = vec![lit(name), self.key(), t];
        // GT/LT against relative times would compare two databases' clocks: chaos only.
        let gt_lt = which >= 2 || self.chaos;
        match self.rng.below(7) {
            0 => c.push(lit("NX")),
            1 => c.push(lit("XX")),
            2 if gt_lt => c.push(lit("GT")),
            3 if gt_lt => c.push(lit("LT")),
            4 if gt_lt => c.extend([lit("XX"), lit("GT")]),
            _ => {}
        }
        c
    }

    fn keyspace(&mut self) -> Cmd {
        match self.rng.below(40) {
            0..=5 => {
                let mut c = vec![lit(self.rng.pick(&["DEL", "DEL", "UNLINK"])), self.key()];
                if self.rng.chance(30) {
                    c.push(self.key());
                }
                c
            }
            6..=9 => vec![lit(self.rng.pick(&["RENAME", "RENAME", "RENAMENX"])), self.key(), self.key()],
            10..=13 => {
                let mut c = vec![lit("COPY"), self.key(), self.key()];
                if self.rng.chance(50) {
                    c.push(lit("REPLACE"));
                }
                c
            }
            14..=32 => self.expire(),
            33..=37 => vec![lit("PERSIST"), self.key()],
            38 => vec![lit(self.rng.pick(&["FLUSHDB", "FLUSHALL"]))],
            _ => vec![lit("FLUSHDB"), lit(self.rng.pick(&["SYNC", "ASYNC"]))],
        }
    }

    fn hashes(&mut self) -> Cmd {
        let k = self.key();
        match self.rng.below(9) {
            0..=2 => {
                let mut c = vec![lit(self.rng.pick(&["HSET", "HSET", "HMSET"])), k, self.member(), self.value()];
                for _ in 0..self.rng.below(3) {
                    c.extend([self.member(), self.value()]);
                }
                c
            }
            3 => vec![lit("HSETNX"), k, self.member(), self.value()],
            4 | 5 => {
                let mut c = vec![lit("HDEL"), k, self.member()];
                if self.rng.chance(40) {
                    c.push(self.member());
                }
                c
            }
            6 => vec![lit("HINCRBY"), k, self.member(), self.int()],
            _ => vec![lit("HINCRBYFLOAT"), k, self.member(), self.float()],
        }
    }

    fn dir(&mut self) -> Arg {
        lit(self.rng.pick(&["LEFT", "RIGHT"]))
    }

    fn lists(&mut self) -> Cmd {
        let k = self.key();
        match self.rng.below(16) {
            0..=3 => {
                let mut c = vec![lit(self.rng.pick(&["LPUSH", "RPUSH", "LPUSH", "RPUSH", "LPUSHX", "RPUSHX"])), k, self.member()];
                for _ in 0..self.rng.below(3) {
                    c.push(self.member());
                }
                c
            }
            4 | 5 => {
                let mut c = vec![lit(self.rng.pick(&["LPOP", "RPOP"])), k];
                if self.rng.chance(40) {
                    c.push(self.small(0, 3));
                }
                c
            }
            6 | 7 => vec![lit("LMOVE"), k, self.key(), self.dir(), self.dir()],
            8 => vec![lit("RPOPLPUSH"), k, self.key()],
            9 => {
                let mut c = vec![lit("LMPOP"), lit("2"), k, self.key(), self.dir()];
                if self.rng.chance(50) {
                    c.extend([lit("COUNT"), self.small(1, 3)]);
                }
                c
            }
            10 | 11 => vec![lit("LINSERT"), k, lit(self.rng.pick(&["BEFORE", "AFTER"])), self.member(), self.member()],
            12 => vec![lit("LTRIM"), k, self.small(-3, 2), self.small(-3, 3)],
            13 => vec![lit("LREM"), k, self.small(-2, 2), self.member()],
            _ => vec![lit("LSET"), k, self.small(-3, 3), self.member()],
        }
    }

    fn sets(&mut self) -> Cmd {
        let k = self.key();
        match self.rng.below(12) {
            0..=3 => {
                let mut c = vec![lit("SADD"), k, self.member()];
                for _ in 0..self.rng.below(3) {
                    c.push(self.member());
                }
                c
            }
            4 | 5 => vec![lit("SREM"), k, self.member()],
            6 if self.chaos => {
                let mut c = vec![lit("SPOP"), k];
                if self.rng.chance(60) {
                    c.push(self.small(0, 4));
                }
                c
            }
            6 | 7 => vec![lit("SMOVE"), k, self.key(), self.member()],
            _ => vec![lit(self.rng.pick(&["SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"])), k, self.key(), self.key()],
        }
    }

    fn zsets(&mut self) -> Cmd {
        let k = self.key();
        match self.rng.below(20) {
            0..=4 => {
                let mut c = vec![lit("ZADD"), k];
                if self.rng.chance(30) {
                    c.push(lit(self.rng.pick(&["NX", "XX"])));
                }
                if self.rng.chance(25) {
                    c.push(lit(self.rng.pick(&["GT", "LT"])));
                }
                if self.rng.chance(25) {
                    c.push(lit("CH"));
                }
                let incr = self.rng.chance(20);
                if incr {
                    c.push(lit("INCR"));
                }
                c.extend([self.score(), self.member()]);
                if !incr {
                    for _ in 0..self.rng.below(3) {
                        c.extend([self.score(), self.member()]);
                    }
                }
                c
            }
            5 | 6 => vec![lit("ZINCRBY"), k, self.score(), self.member()],
            7 => vec![lit("ZREM"), k, self.member()],
            8 | 9 => {
                let mut c = vec![lit(self.rng.pick(&["ZPOPMIN", "ZPOPMAX"])), k];
                if self.rng.chance(50) {
                    c.push(self.small(0, 3));
                }
                c
            }
            10 => vec![
                lit("ZREMRANGEBYSCORE"),
                k,
                lit(self.rng.pick(&["-inf", "0", "(1", "2"])),
                lit(self.rng.pick(&["+inf", "1", "(2.5", "3"])),
            ],
            11 => vec![lit("ZREMRANGEBYRANK"), k, self.small(-3, 1), self.small(-2, 2)],
            12 => vec![lit("ZREMRANGEBYLEX"), k, lit(self.rng.pick(&["-", "[a", "(b"])), lit(self.rng.pick(&["+", "[c", "(d"]))],
            13 | 14 => {
                let mut c = vec![lit(self.rng.pick(&["ZUNIONSTORE", "ZINTERSTORE"])), k, lit("2"), self.key(), self.key()];
                if self.rng.chance(40) {
                    c.extend([lit("WEIGHTS"), lit(self.rng.pick(&["1", "2", "-1", "0.5"])), lit(self.rng.pick(&["1", "3", "0"]))]);
                }
                if self.rng.chance(40) {
                    c.extend([lit("AGGREGATE"), lit(self.rng.pick(&["SUM", "MIN", "MAX"]))]);
                }
                c
            }
            15 => vec![lit("ZDIFFSTORE"), k, lit("2"), self.key(), self.key()],
            16 => {
                let mut c = vec![lit("ZRANGESTORE"), k, self.key()];
                if self.rng.chance(50) {
                    c.extend([self.small(-2, 1), self.small(-1, 3)]);
                } else {
                    c.extend([lit("-inf"), lit("(2.5"), lit("BYSCORE")]);
                }
                c
            }
            17 => {
                let mut c = vec![lit("ZMPOP"), lit("2"), k, self.key(), lit(self.rng.pick(&["MIN", "MAX"]))];
                if self.rng.chance(50) {
                    c.extend([lit("COUNT"), self.small(1, 3)]);
                }
                c
            }
            _ => vec![lit("ZADD"), k, self.score(), self.member()],
        }
    }

    fn cmds(&mut self, lo: usize, hi: usize) -> Vec<Cmd> {
        let n = lo + self.rng.below(hi - lo + 1);
        (0..n).map(|_| self.cmd()).collect()
    }

    fn step(&mut self) -> Step {
        let r = self.rng.below(1000);
        match r {
            0..=699 => Step::Cmd(self.cmd()),
            700..=749 => {
                let watch = if self.rng.chance(30) {
                    let k = self.key();
                    // The other client's command touches the watched key or not.
                    let touch = if self.rng.chance(50) { vec![lit("SET"), k.clone(), lit("w")] } else { self.cmd() };
                    Some((vec![lit("WATCH"), k], touch))
                } else {
                    None
                };
                let mut cmds = self.cmds(1, 5);
                if self.rng.chance(5) {
                    // A queue-time error: EXEC aborts the whole transaction.
                    cmds.push(vec![lit("SET"), self.key()]);
                }
                Step::Multi { watch, cmds }
            }
            750..=799 => Step::Pipeline(self.cmds(1, 6)),
            800..=849 => Step::Transaction(self.cmds(1, 5)),
            850..=889 if !self.rewrite || r < 855 => {
                Step::Snapshot([SnapKind::Api, SnapKind::Save, SnapKind::BgSave, SnapKind::BgRewriteAof][self.rng.below(4)])
            }
            890..=899 => Step::ExpireCycle,
            // Bulk writes: many keys at once (the tables grow, shrink and resize).
            900..=909 => {
                let n = 10 + self.rng.below(60);
                if self.rng.chance(70) {
                    let mut c = vec![lit("MSET")];
                    for _ in 0..n {
                        c.extend([self.key(), self.value()]);
                    }
                    Step::Cmd(c)
                } else {
                    let mut c = vec![lit(self.rng.pick(&["DEL", "UNLINK"]))];
                    c.extend((0..n).map(|_| self.key()));
                    Step::Cmd(c)
                }
            }
            910..=939 if self.chaos => Step::Sleep(self.rng.range(1, 30) as u64),
            // Lets background work (active expiry, automatic rewrites) interleave.
            910..=924 => Step::Sleep(self.rng.range(1, 10) as u64),
            940..=954 if self.chaos => {
                let threads = 2 + self.rng.below(2);
                Step::Concurrent((0..threads).map(|_| self.cmds(5, 25)).collect())
            }
            // Forced-rewrite runs close less often, so the log grows past the rewrite size.
            970..=999 if !self.rewrite || r >= 985 => {
                Step::Reopen(if self.chaos && self.rng.chance(50) { self.rng.range(1, 60) as u64 } else { 0 })
            }
            _ => Step::Cmd(self.cmd()),
        }
    }
}

fn gen_case(seed: u64, steps: usize, rewrite: bool) -> Vec<Step> {
    let keys = if is_large(seed) { LARGE_KEYSPACE } else { SMALL_KEYSPACE };
    let mut g = Gen { rng: Rng(seed), chaos: is_chaos(seed), rewrite, keys };
    let mut out: Vec<Step> = (0..steps).map(|_| g.step()).collect();
    out.push(Step::Reopen(0));
    out
}

// ---------------------------------------------------------------------------------------------
// State dumps
// ---------------------------------------------------------------------------------------------

#[derive(Clone, PartialEq)]
enum Val {
    Str(Vec<u8>),
    List(Vec<Vec<u8>>),
    Hash(Vec<(Vec<u8>, Vec<u8>)>),
    Set(Vec<Vec<u8>>),
    /// (member, score bits) in rank order.
    ZSet(Vec<(Vec<u8>, u64)>),
}

/// Bytes for failure messages: text escaped, the long test value abbreviated.
fn show_bytes(b: &[u8]) -> String {
    let long = LONG.as_bytes();
    let mut out = String::from("\"");
    let mut rest = b;
    while !rest.is_empty() {
        if rest.starts_with(long) {
            out.push_str("<LONG>");
            rest = &rest[long.len()..];
        } else {
            out.push_str(&rest[..1].escape_ascii().to_string());
            rest = &rest[1..];
        }
    }
    out.push('"');
    out
}

impl std::fmt::Debug for Val {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list = |v: &[Vec<u8>]| v.iter().map(|m| show_bytes(m)).collect::<Vec<_>>().join(", ");
        match self {
            Val::Str(v) => write!(f, "string {}", show_bytes(v)),
            Val::List(v) => write!(f, "list [{}]", list(v)),
            Val::Set(v) => write!(f, "set {{{}}}", list(v)),
            Val::Hash(p) => {
                write!(
                    f,
                    "hash {{{}}}",
                    p.iter().map(|(k, v)| format!("{}: {}", show_bytes(k), show_bytes(v))).collect::<Vec<_>>().join(", ")
                )
            }
            Val::ZSet(p) => write!(
                f,
                "zset [{}]",
                p.iter().map(|(m, s)| format!("{} {:?}", show_bytes(m), f64::from_bits(*s))).collect::<Vec<_>>().join(", ")
            ),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
struct Entry {
    val: Val,
    /// Absolute expiry in Unix ms (PEXPIRETIME), None without one.
    expire_at: Option<i64>,
}

type Dump = BTreeMap<Vec<u8>, Entry>;

fn bulk(r: &Reply) -> Result<Vec<u8>, String> {
    r.as_bytes().map(<[u8]>::to_vec).ok_or_else(|| format!("expected a bulk string, got {r:?}"))
}

fn bulks(r: &Reply) -> Result<Vec<Vec<u8>>, String> {
    r.as_array().ok_or_else(|| format!("expected an array, got {r:?}"))?.iter().map(bulk).collect()
}

/// The whole state, read at one instant (`Db::transaction` freezes the clock).
fn dump(db: &Db) -> Result<Dump, String> {
    db.transaction(|tx| -> Result<Dump, String> {
        let x = |argv: &[&[u8]]| tx.execute(argv);
        let mut out = Dump::new();
        for key in bulks(&x(&[b"KEYS", b"*"]))? {
            let k = key.as_slice();
            let ty = x(&[b"TYPE", k]);
            let val = match &ty {
                Reply::Status(t) if t == "string" => Val::Str(bulk(&x(&[b"GET", k]))?),
                Reply::Status(t) if t == "list" => Val::List(bulks(&x(&[b"LRANGE", k, b"0", b"-1"]))?),
                Reply::Status(t) if t == "set" => {
                    let mut m = bulks(&x(&[b"SMEMBERS", k]))?;
                    m.sort();
                    Val::Set(m)
                }
                Reply::Status(t) if t == "hash" => match x(&[b"HGETALL", k]) {
                    Reply::Map(pairs) => {
                        let mut p = pairs.iter().map(|(f, v)| Ok((bulk(f)?, bulk(v)?))).collect::<Result<Vec<_>, String>>()?;
                        p.sort();
                        Val::Hash(p)
                    }
                    other => return Err(format!("HGETALL {}: {other:?}", String::from_utf8_lossy(k))),
                },
                Reply::Status(t) if t == "zset" => {
                    let r = x(&[b"ZRANGE", k, b"0", b"-1", b"WITHSCORES"]);
                    let items = r.as_array().ok_or_else(|| format!("ZRANGE WITHSCORES: {r:?}"))?;
                    let mut v = Vec::with_capacity(items.len());
                    for it in items {
                        match it.as_array() {
                            Some([m, Reply::Double(s)]) => v.push((bulk(m)?, s.to_bits())),
                            _ => return Err(format!("ZRANGE WITHSCORES item: {it:?}")),
                        }
                    }
                    Val::ZSet(v)
                }
                other => return Err(format!("KEYS listed {} but TYPE says {other:?}", String::from_utf8_lossy(k))),
            };
            let expire_at = match x(&[b"PEXPIRETIME", k]) {
                Reply::Int(-1) => None,
                Reply::Int(t) if t >= 0 => Some(t),
                other => return Err(format!("PEXPIRETIME {}: {other:?}", String::from_utf8_lossy(k))),
            };
            out.insert(key, Entry { val, expire_at });
        }
        Ok(out)
    })
    .map_err(|e| format!("Db::transaction failed: {e}"))?
}

fn show_key(k: &[u8]) -> String {
    String::from_utf8_lossy(k).into_owned()
}

fn show_dump(d: &Dump) -> String {
    d.iter().map(|(k, e)| format!("    {} = {:?} expire_at={:?}\n", show_key(k), e.val, e.expire_at)).collect()
}

/// The durable database against the model (both read "now"): same keys and values, expiry
/// both absent or both present within the tolerance.
fn compare_model(durable: &Dump, model: &Dump) -> Result<(), String> {
    let same = durable.len() == model.len()
        && durable.iter().zip(model).all(|((k1, e1), (k2, e2))| {
            k1 == k2
                && e1.val == e2.val
                && match (e1.expire_at, e2.expire_at) {
                    (None, None) => true,
                    (Some(a), Some(b)) => (a - b).abs() <= TTL_TOLERANCE_MS,
                    _ => false,
                }
        });
    if same {
        Ok(())
    } else {
        Err(format!("state differs from the model\n  durable:\n{}  model:\n{}", show_dump(durable), show_dump(model)))
    }
}

/// The dump after a reopen (read at some instant in [t0, t1]) against the dump just before the
/// close: every key still unexpired at t1 is there, identical (same absolute expiry); every
/// key expired by t0 is gone; a key expiring in between may be either; nothing new.
fn compare_reopened(before: &Dump, after: &Dump, t0: i64, t1: i64) -> Result<(), String> {
    let mut problems = Vec::new();
    for (k, e) in before {
        let got = after.get(k);
        match (e.expire_at, got) {
            (_, Some(g)) if g != e => problems.push(format!("{}: was {e:?}, after reopen {g:?}", show_key(k))),
            (Some(t), Some(_)) if t <= t0 => problems.push(format!("{}: expired at {t} (now >= {t0}) but back after reopen", show_key(k))),
            (None, None) => problems.push(format!("{}: lost on reopen (was {e:?})", show_key(k))),
            (Some(t), None) if t > t1 => {
                problems.push(format!("{}: lost on reopen, expiry {t} not reached (now <= {t1}) (was {e:?})", show_key(k)))
            }
            _ => {}
        }
    }
    for (k, g) in after {
        if !before.contains_key(k) {
            problems.push(format!("{}: appeared on reopen: {g:?}", show_key(k)));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "state changed across close/reopen:\n    {}\n  before close:\n{}  after reopen:\n{}",
            problems.join("\n    "),
            show_dump(before),
            show_dump(after)
        ))
    }
}

fn info_field(db: &Db, section: &str, field: &str) -> Option<u64> {
    let r = db.execute(&[b"INFO", section.as_bytes()]);
    let text = String::from_utf8_lossy(r.as_bytes()?).into_owned();
    text.lines().find_map(|l| l.strip_prefix(field)?.strip_prefix(':')?.trim().parse().ok())
}

// ---------------------------------------------------------------------------------------------
// Running a case
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
struct Config {
    policy: FsyncPolicy,
    rewrite: bool,
}

impl Config {
    fn options(&self) -> Options {
        let o = Options::default().appendfsync(self.policy).hz(HZ);
        if self.rewrite {
            o.auto_rewrite(1, 4096)
        } else {
            o
        }
    }
}

#[derive(Default, Debug, Clone, Copy)]
struct Totals {
    /// Snapshots (INFO aof_rewrites) counted just before each close.
    rewrites: u64,
    /// Snapshot steps run (each starts at most one snapshot).
    explicit: u64,
    reopens: u64,
    commands: u64,
    /// Reopens that found the lock still held by this process (see `Run::open`).
    own_lock_retries: u64,
    /// Closes that found the files past the automatic rewrite size and saw the rewrite happen.
    due_rewrites: u64,
}

struct Run<'a> {
    cfg: Config,
    path: &'a Path,
    base: i64,
    db: Option<Db>,
    model: Option<Db>,
    totals: Totals,
    steps_run: u64,
    compare_every: u64,
}

fn refs(v: &[Vec<u8>]) -> Vec<&[u8]> {
    v.iter().map(Vec::as_slice).collect()
}

impl Run<'_> {
    fn db(&self) -> &Db {
        self.db.as_ref().expect("durable db open")
    }

    fn argv(&self, c: &[Arg]) -> Vec<Vec<u8>> {
        resolve(c, self.base)
    }

    /// Run `f` on the durable db and on the model (if any); replies must agree.
    fn both<R: PartialEq + std::fmt::Debug>(&self, f: impl Fn(&Db) -> Result<R, String>) -> Result<(), String> {
        let got = f(self.db())?;
        if let Some(m) = &self.model {
            let want = f(m)?;
            if got != want {
                return Err(format!("reply differs from the model:\n  durable: {got:?}\n  model:   {want:?}"));
            }
        }
        Ok(())
    }

    fn step(&mut self, step: &Step) -> Result<(), String> {
        match step {
            Step::Cmd(c) => {
                self.totals.commands += 1;
                let argv = self.argv(c);
                self.both(|db| Ok(db.execute(&refs(&argv))))?;
            }
            Step::Multi { watch, cmds } => {
                self.totals.commands += cmds.len() as u64;
                let watch = watch.as_ref().map(|(w, t)| (self.argv(w), self.argv(t)));
                let argvs: Vec<Vec<Vec<u8>>> = cmds.iter().map(|c| self.argv(c)).collect();
                self.both(|db| {
                    let mut s = db.session();
                    let mut out = Vec::new();
                    if let Some((w, touch)) = &watch {
                        out.push(s.execute(&refs(w)));
                        out.push(db.execute(&refs(touch)));
                    }
                    out.push(s.execute(&[b"MULTI"]));
                    for a in &argvs {
                        out.push(s.execute(&refs(a)));
                    }
                    out.push(s.execute(&[b"EXEC"]));
                    Ok(out)
                })?;
            }
            Step::Pipeline(cmds) => {
                self.totals.commands += cmds.len() as u64;
                let argvs: Vec<Vec<Vec<u8>>> = cmds.iter().map(|c| self.argv(c)).collect();
                self.both(|db| Ok(db.pipeline(&argvs)))?;
            }
            Step::Transaction(cmds) => {
                self.totals.commands += cmds.len() as u64;
                let argvs: Vec<Vec<Vec<u8>>> = cmds.iter().map(|c| self.argv(c)).collect();
                self.both(|db| {
                    db.transaction(|tx| argvs.iter().map(|a| tx.execute(&refs(a))).collect::<Vec<_>>())
                        .map_err(|e| format!("Db::transaction: {e}"))
                })?;
            }
            Step::Snapshot(kind) => {
                self.totals.explicit += 1;
                let db = self.db();
                match kind {
                    SnapKind::Api => db.snapshot().map_err(|e| format!("db.snapshot(): {e}"))?,
                    SnapKind::Save => expect_reply(db.execute(&[b"SAVE"]), &["OK"], "SAVE")?,
                    SnapKind::BgSave => expect_reply(
                        db.execute(&[b"BGSAVE"]),
                        &["Background saving started", "ERR Background save already in progress"],
                        "BGSAVE",
                    )?,
                    SnapKind::BgRewriteAof => expect_reply(
                        db.execute(&[b"BGREWRITEAOF"]),
                        &["Background append only file rewriting started", "Background append only file rewriting scheduled"],
                        "BGREWRITEAOF",
                    )?,
                }
            }
            Step::ExpireCycle => {
                self.db().expire_cycle();
                if let Some(m) = &self.model {
                    m.expire_cycle();
                }
            }
            Step::Sleep(ms) => std::thread::sleep(Duration::from_millis(*ms)),
            Step::Concurrent(lists) => {
                // With forced rewrites, the automatic ones race the writers instead.
                let snapshot = !self.cfg.rewrite;
                self.totals.explicit += u64::from(snapshot);
                let lists: Vec<Vec<Vec<Vec<u8>>>> = lists.iter().map(|l| l.iter().map(|c| self.argv(c)).collect()).collect();
                self.totals.commands += lists.iter().map(|l| l.len() as u64).sum::<u64>();
                let db = self.db().clone();
                let snap = std::thread::scope(|s| {
                    for l in &lists {
                        let db = db.clone();
                        s.spawn(move || {
                            for (i, a) in l.iter().enumerate() {
                                if i % 4 == 3 {
                                    db.pipeline(std::slice::from_ref(a));
                                } else {
                                    db.execute(&refs(a));
                                }
                            }
                        });
                    }
                    if snapshot {
                        db.snapshot()
                    } else {
                        Ok(())
                    }
                });
                snap.map_err(|e| format!("db.snapshot() during concurrent writes: {e}"))?;
            }
            Step::Reopen(closed_ms) => self.reopen(*closed_ms)?,
        }
        self.steps_run += 1;
        // The whole state after every step (every 16th with the large key space, for time).
        if let Some(m) = &self.model {
            if self.steps_run.is_multiple_of(self.compare_every) {
                compare_model(&dump(self.db())?, &dump(m)?)?;
            }
        }
        Ok(())
    }

    fn open(&mut self) -> Result<Db, String> {
        let start = Instant::now();
        loop {
            let db = match Db::open(self.path, self.cfg.options()) {
                Ok(db) => db,
                // WORKAROUND (core bug, reported): the last handle's drop can run on a nestdb
                // background thread, which is still closing (holding LOCK) when we reopen; Db::open
                // is meant to wait for its own process's lock but its check never matches.
                Err(e) if e.to_string().contains(&format!("locked by process {} ", std::process::id())) => {
                    self.totals.own_lock_retries += 1;
                    if start.elapsed() > Duration::from_secs(20) {
                        return Err(format!("reopen failed for 20 s: {e}"));
                    }
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                }
                Err(e) => return Err(format!("reopen failed: {e}")),
            };
            let hz = db.execute(&[b"CONFIG", b"GET", b"hz"]);
            let stale = match &hz {
                Reply::Map(p) => p.iter().any(|(_, v)| v.as_bytes() == Some(MARKER_HZ.as_bytes())),
                Reply::Array(a) => a.iter().any(|v| v.as_bytes() == Some(MARKER_HZ.as_bytes())),
                _ => return Err(format!("CONFIG GET hz: {hz:?}")),
            };
            if !stale {
                return Ok(db);
            }
            // Still the old engine (a background snapshot holds it for a moment).
            drop(db);
            if start.elapsed() > Duration::from_secs(20) {
                return Err("the closed database's engine stayed alive for 20 s after its last handle was dropped".into());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn reopen(&mut self, closed_ms: u64) -> Result<(), String> {
        self.totals.reopens += 1;
        let db = self.db.take().expect("durable db open");
        if self.cfg.rewrite && self.totals.reopens.is_multiple_of(2) {
            self.totals.due_rewrites += u64::from(wait_for_due_rewrite(&db)?);
        }
        self.totals.rewrites += info_field(&db, "persistence", "aof_rewrites").ok_or("INFO persistence has no aof_rewrites")?;
        expect_reply(db.execute(&[b"CONFIG", b"SET", b"hz", MARKER_HZ.as_bytes()]), &["OK"], "CONFIG SET hz")?;
        let before = dump(&db)?;
        if let Some(m) = &self.model {
            compare_model(&before, &dump(m)?)?;
        }
        drop(db);
        std::thread::sleep(Duration::from_millis(closed_ms));
        let db = self.open()?;
        let report = db.recovery_report().ok_or("a file-backed database has no recovery report")?;
        if report.bytes_dropped != 0 || report.torn_at.is_some() {
            return Err(format!("a clean close left a torn log: {report:?}"));
        }
        let t0 = now_ms();
        let after = dump(&db)?;
        let t1 = now_ms();
        self.db = Some(db);
        compare_reopened(&before, &after, t0, t1)
    }
}

/// With `auto_rewrite(1, 4096)`: if the files have grown past the rewrite size, an automatic
/// rewrite must happen (the background thread checks every few ms). Half the closes wait for it,
/// so forced-rewrite runs surely rewrite; the other half close whatever is in flight.
fn wait_for_due_rewrite(db: &Db) -> Result<bool, String> {
    // All three from one INFO (one consistent reading: a rewrite may end between two).
    let read = || -> Result<(u64, u64, u64, String), String> {
        let r = db.execute(&[b"INFO", b"persistence"]);
        let text = String::from_utf8_lossy(r.as_bytes().unwrap_or_default()).into_owned();
        let field = |f: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(f)?.strip_prefix(':')?.trim().parse().ok())
                .ok_or_else(|| format!("INFO persistence has no {f}:\n{text}"))
        };
        Ok((field("aof_current_size")?, field("aof_base_size")?, field("aof_rewrites")?, text.clone()))
    };
    let (size, base, done, _) = read()?;
    if size <= 4096.max(base + base / 100) {
        return Ok(false);
    }
    let start = Instant::now();
    loop {
        let (now_size, _, now_done, text) = read()?;
        if now_done > done {
            return Ok(true);
        }
        if start.elapsed() > Duration::from_secs(5) {
            let hint = if now_size < size {
                format!(
                    " (aof_current_size dropped to {now_size} without a rewrite: it was stale, \
                     still counting the log segment before the last rewrite)"
                )
            } else {
                String::new()
            };
            return Err(format!(
                "INFO said the files are at {size} bytes (base {base}) with auto_rewrite(1, 4096), \
                 but no rewrite came in 5 s{hint}:\n{text}"
            ));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn expect_reply(r: Reply, ok: &[&str], what: &str) -> Result<(), String> {
    let text = match &r {
        Reply::Status(s) | Reply::Error(s) => s.to_string(),
        _ => String::new(),
    };
    if ok.contains(&text.as_str()) {
        Ok(())
    } else {
        Err(format!("{what}: unexpected reply {r:?}"))
    }
}

/// Run one case on a fresh directory; Err describes the first divergence (panics inside the
/// database count as failures too).
fn run_case(cfg: Config, seed: u64, steps: &[Step]) -> Result<Totals, String> {
    let dir = tempfile::tempdir().map_err(|e| format!("tempdir: {e}"))?;
    let path = dir.path().join("db");
    let result = catch_unwind(AssertUnwindSafe(|| -> Result<Totals, (usize, String)> {
        let db = Db::open(&path, cfg.options()).map_err(|e| (0, format!("open failed: {e}")))?;
        let model = if is_chaos(seed) { None } else { Some(Db::open_in_memory()) };
        let compare_every = if is_large(seed) { 16 } else { 1 };
        let mut run = Run { cfg, path: &path, base: now_ms(), db: Some(db), model, totals: Totals::default(), steps_run: 0, compare_every };
        for (i, s) in steps.iter().enumerate() {
            run.step(s).map_err(|e| (i, e))?;
        }
        // Cases shrunk to end without a reopen still compare with the model at the end.
        if let Some(m) = &run.model {
            let end = |e| (steps.len(), e);
            compare_model(&dump(run.db()).map_err(end)?, &dump(m).map_err(end)?).map_err(end)?;
        }
        Ok(run.totals)
    }));
    match result {
        Ok(Ok(t)) => Ok(t),
        Ok(Err((i, e))) => Err(format!("at step {i}: {e}")),
        Err(p) => {
            let msg = p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default();
            Err(format!("panicked: {msg}"))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Shrinking
// ---------------------------------------------------------------------------------------------

/// Remove steps (then commands inside composite steps) while the case still fails; bounded in
/// reruns and time. Returns the smallest failing case found and its failure.
fn shrink(cfg: Config, seed: u64, mut steps: Vec<Step>, mut failure: String) -> (Vec<Step>, String) {
    let deadline = Instant::now() + Duration::from_secs(env_u64("NESTDB_MODEL_SHRINK_SECS").unwrap_or(60));
    let mut tries = 0;
    let mut fails = |candidate: &[Step], failure: &mut String| -> bool {
        tries += 1;
        if tries > 400 || Instant::now() > deadline {
            return false;
        }
        match run_case(cfg, seed, candidate) {
            Err(e) => {
                *failure = e;
                true
            }
            Ok(_) => false,
        }
    };
    // Steps after the failing one never matter.
    if let Some(i) = failure.strip_prefix("at step ").and_then(|r| r.split(':').next()).and_then(|n| n.parse::<usize>().ok()) {
        if i + 1 < steps.len() {
            let mut cut = steps[..=i].to_vec();
            if !matches!(cut.last(), Some(Step::Reopen(_))) {
                cut.push(Step::Reopen(0));
            }
            if fails(&cut, &mut failure) {
                steps = cut;
            }
        }
    }
    let mut chunk = steps.len() / 2;
    while chunk >= 1 {
        let mut i = 0;
        let mut progressed = false;
        while i < steps.len() {
            let mut cand = steps.clone();
            cand.drain(i..(i + chunk).min(cand.len()));
            if !cand.is_empty() && fails(&cand, &mut failure) {
                steps = cand;
                progressed = true;
            } else {
                i += chunk;
            }
        }
        if !progressed {
            chunk /= 2;
        }
    }
    // Inside composite steps: drop commands, then try the plain-command equivalent.
    for i in 0..steps.len() {
        loop {
            let mut changed = false;
            let inner_len = match &steps[i] {
                Step::Multi { cmds, .. } | Step::Pipeline(cmds) | Step::Transaction(cmds) => cmds.len(),
                Step::Concurrent(lists) => lists.iter().map(Vec::len).sum(),
                _ => 0,
            };
            for j in (0..inner_len).rev() {
                let mut cand = steps.clone();
                match &mut cand[i] {
                    Step::Multi { cmds, .. } | Step::Pipeline(cmds) | Step::Transaction(cmds) => {
                        cmds.remove(j);
                    }
                    Step::Concurrent(lists) => {
                        let mut j = j;
                        for l in lists.iter_mut() {
                            if j < l.len() {
                                l.remove(j);
                                break;
                            }
                            j -= l.len();
                        }
                    }
                    _ => {}
                }
                if fails(&cand, &mut failure) {
                    steps = cand;
                    changed = true;
                    break;
                }
            }
            if !changed {
                break;
            }
        }
        if let Step::Multi { watch: Some(_), cmds } = &steps[i] {
            let mut cand = steps.clone();
            cand[i] = Step::Multi { watch: None, cmds: cmds.clone() };
            if fails(&cand, &mut failure) {
                steps = cand;
            }
        }
        let flat: Option<Vec<Step>> = match &steps[i] {
            Step::Multi { watch: None, cmds } | Step::Pipeline(cmds) | Step::Transaction(cmds) => {
                Some(cmds.iter().cloned().map(Step::Cmd).collect())
            }
            Step::Concurrent(lists) => Some(lists.iter().flatten().cloned().map(Step::Cmd).collect()),
            _ => None,
        };
        if let Some(flat) = flat {
            if flat.len() == 1 {
                let mut cand = steps.clone();
                cand[i] = flat.into_iter().next().expect("one");
                if fails(&cand, &mut failure) {
                    steps = cand;
                }
            }
        }
    }
    (steps, failure)
}

// ---------------------------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------------------------

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    let v = v.trim();
    match v.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => v.parse().ok(),
    }
}

fn suite(name: &str, cfg: Config) -> Totals {
    let steps_per_case = env_u64("NESTDB_MODEL_STEPS").unwrap_or(400) as usize;
    let seeds: Vec<u64> = match env_u64("NESTDB_MODEL_SEED") {
        Some(seed) => vec![seed],
        None => {
            let cases = env_u64("NESTDB_MODEL_CASES").unwrap_or(12);
            // Each configuration its own seeds (the suites start in the same millisecond).
            let tag = name.bytes().fold(0u64, |h, b| mix(h, u64::from(b)));
            let base = mix(mix(now_ms() as u64, u64::from(std::process::id())), tag);
            // Alternate model (even) and chaos (odd) seeds; cases 0 and 1 of every 8 use the
            // large key space.
            (0..cases).map(|i| (mix(base, i) & !7) | (i & 1) | if i % 8 < 2 { 0 } else { 2 }).collect()
        }
    };
    let mut totals = Totals::default();
    for seed in seeds {
        let steps = gen_case(seed, steps_per_case, cfg.rewrite);
        match run_case(cfg, seed, &steps) {
            Ok(t) => {
                totals.rewrites += t.rewrites;
                totals.explicit += t.explicit;
                totals.reopens += t.reopens;
                totals.commands += t.commands;
                totals.own_lock_retries += t.own_lock_retries;
                totals.due_rewrites += t.due_rewrites;
            }
            Err(failure) => {
                eprintln!("{name}: seed {seed:#x} failed, shrinking...\n{failure}");
                let (min, min_failure) = shrink(cfg, seed, steps, failure);
                panic!(
                    "{name} ({cfg:?}), {} case, seed {seed:#x} (rerun: NESTDB_MODEL_SEED={seed:#x} \
                     NESTDB_MODEL_STEPS={steps_per_case} cargo test --release -p nestdb --test it durability_model::{name})\n\
                     {min_failure}\nshortest failing sequence found ({} steps; absolute times are relative to the run's \
                     start t0; <LONG> is the {}-byte test value):\n{}",
                    if is_chaos(seed) { "chaos" } else { "model" },
                    min.len(),
                    LONG.len(),
                    show_steps(&min)
                );
            }
        }
    }
    eprintln!("{name}: {totals:?}");
    assert!(totals.reopens > 0, "{name}: no reopen ran");
    totals
}

fn check_rewrites(name: &str, t: Totals) {
    // Only meaningful for full-size runs: a single or short case may never pass 4096 bytes.
    if env_u64("NESTDB_MODEL_SEED").is_none() && env_u64("NESTDB_MODEL_STEPS").is_none_or(|s| s >= 300) {
        assert!(t.due_rewrites > 0, "{name}: auto_rewrite(1, 4096) was never observed to rewrite: {t:?}");
        assert!(t.rewrites > 0, "{name}: INFO persistence aof_rewrites stayed 0: {t:?}");
    }
}

#[test]
fn reopen_matches_model_appendfsync_always() {
    suite("reopen_matches_model_appendfsync_always", Config { policy: FsyncPolicy::Always, rewrite: false });
}

#[test]
fn reopen_matches_model_appendfsync_everysec() {
    suite("reopen_matches_model_appendfsync_everysec", Config { policy: FsyncPolicy::EverySec, rewrite: false });
}

#[test]
fn reopen_matches_model_appendfsync_no() {
    suite("reopen_matches_model_appendfsync_no", Config { policy: FsyncPolicy::No, rewrite: false });
}

#[test]
fn reopen_matches_model_forced_rewrites_always() {
    let name = "reopen_matches_model_forced_rewrites_always";
    check_rewrites(name, suite(name, Config { policy: FsyncPolicy::Always, rewrite: true }));
}

#[test]
fn reopen_matches_model_forced_rewrites_everysec() {
    let name = "reopen_matches_model_forced_rewrites_everysec";
    check_rewrites(name, suite(name, Config { policy: FsyncPolicy::EverySec, rewrite: true }));
}

#[test]
fn reopen_matches_model_forced_rewrites_no() {
    let name = "reopen_matches_model_forced_rewrites_no";
    check_rewrites(name, suite(name, Config { policy: FsyncPolicy::No, rewrite: true }));
}

/// The oracle itself: a reopen comparison must flag a lost key, a changed value, a changed
/// expiry and a key that came back after expiring.
#[test]
fn reopen_comparison_detects_differences() {
    let e = |v: &str, t: Option<i64>| Entry { val: Val::Str(v.as_bytes().to_vec()), expire_at: t };
    let before: Dump = [(b"a".to_vec(), e("1", None)), (b"b".to_vec(), e("2", Some(1000))), (b"c".to_vec(), e("3", Some(5000)))].into();
    // b expired (t0 = 2000), the rest intact.
    let ok: Dump = [(b"a".to_vec(), e("1", None)), (b"c".to_vec(), e("3", Some(5000)))].into();
    assert!(compare_reopened(&before, &ok, 2000, 2001).is_ok());
    let lost: Dump = [(b"c".to_vec(), e("3", Some(5000)))].into();
    assert!(compare_reopened(&before, &lost, 2000, 2001).is_err());
    let changed: Dump = [(b"a".to_vec(), e("9", None)), (b"c".to_vec(), e("3", Some(5000)))].into();
    assert!(compare_reopened(&before, &changed, 2000, 2001).is_err());
    let moved: Dump = [(b"a".to_vec(), e("1", None)), (b"c".to_vec(), e("3", Some(5001)))].into();
    assert!(compare_reopened(&before, &moved, 2000, 2001).is_err());
    assert!(compare_reopened(&before, &before, 2000, 2001).is_err(), "b is back after expiring");
    let new: Dump = [(b"a".to_vec(), e("1", None)), (b"c".to_vec(), e("3", Some(5000))), (b"d".to_vec(), e("4", None))].into();
    assert!(compare_reopened(&before, &new, 2000, 2001).is_err());
    assert!(compare_model(&ok, &[(b"a".to_vec(), e("1", None)), (b"c".to_vec(), e("3", Some(6000)))].into()).is_ok());
    assert!(compare_model(&ok, &[(b"a".to_vec(), e("1", None)), (b"c".to_vec(), e("3", Some(9000)))].into()).is_err());
}

// ---------------------------------------------------------------------------------------------
// Regressions: the shortest sequences the model found, as deterministic tests
// ---------------------------------------------------------------------------------------------

fn info_text(db: &Db) -> String {
    String::from_utf8_lossy(db.execute(&[b"INFO", b"persistence"]).as_bytes().unwrap_or_default()).into_owned()
}

/// A key in the snapshot whose TTL passes before the next open must still be there while the
/// log after the snapshot is replayed: the commands logged after the cut ran while it was
/// alive. Dropping it at load makes a later INCR create a fresh key without TTL (an expired
/// key comes back with another value) and a later PERSIST a no-op (a persistent key is lost).
#[test]
fn snapshot_keys_expiring_before_reopen_replay_like_the_original_run() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let set_at = Instant::now();
    {
        let db = Db::open(&path, Options::default()).unwrap();
        assert_eq!(db.execute(&[b"SET", b"counter", b"10", b"PX", b"400"]), Reply::OK);
        assert_eq!(db.execute(&[b"SET", b"kept", b"v", b"PX", b"400"]), Reply::OK);
        assert_eq!(db.execute(&[b"SAVE"]), Reply::OK);
        assert_eq!(db.execute(&[b"INCR", b"counter"]), Reply::Int(11));
        assert_eq!(db.execute(&[b"PERSIST", b"kept"]), Reply::Int(1));
        assert!(set_at.elapsed() < Duration::from_millis(300), "machine too slow for this test's timing");
    }
    std::thread::sleep(Duration::from_millis(500).saturating_sub(set_at.elapsed()));
    let db = Db::open(&path, Options::default()).unwrap();
    assert_eq!(db.execute(&[b"GET", b"counter"]), Reply::Nil, "expired key came back (PTTL {:?})", db.execute(&[b"PTTL", b"counter"]));
    assert_eq!(db.execute(&[b"GET", b"kept"]), Reply::Bulk(b"v".to_vec()), "PERSISTed key lost");
    assert_eq!(db.execute(&[b"PTTL", b"kept"]), Reply::Int(-1));
}

/// Once the log has passed the automatic rewrite size and been rewritten, an idle database
/// must stop rewriting (the size that triggers it is the log written since the last rewrite).
#[test]
fn idle_database_stops_rewriting() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path().join("db"), Options::default().auto_rewrite(1, 4096)).unwrap();
    let rewrites = |db: &Db| info_field(db, "persistence", "aof_rewrites").expect("aof_rewrites");
    for i in 0..100 {
        db.execute(&[b"SET", format!("k{}", i % 5).as_bytes(), LONG.as_bytes()]);
    }
    let start = Instant::now();
    while rewrites(&db) == 0 {
        assert!(start.elapsed() < Duration::from_secs(5), "auto_rewrite(1, 4096) never rewrote a 25 KB log:\n{}", info_text(&db));
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(100));
    let first = rewrites(&db);
    std::thread::sleep(Duration::from_millis(500));
    let idle = rewrites(&db) - first;
    assert!(idle <= 1, "{idle} rewrites in 500 ms without a single write:\n{}", info_text(&db));
}

/// Dropping the last handle may leave the close to a background thread (a snapshot running, or
/// the expiry thread holding the engine for a moment): opening the path again right away must
/// wait for that close, not fail with "locked by process <this process>".
#[test]
fn reopen_right_after_dropping_the_last_handle() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    for i in 0..150u64 {
        let db = Db::open(&path, Options::default()).unwrap();
        assert_eq!(db.execute(&[b"SET", b"k", i.to_string().as_bytes()]), Reply::OK);
        assert_eq!(db.execute(&[b"CONFIG", b"SET", b"hz", MARKER_HZ.as_bytes()]), Reply::OK);
        db.execute(&[b"BGSAVE"]);
        std::thread::sleep(Duration::from_micros(i % 30 * 500));
        drop(db);
        let start = Instant::now();
        loop {
            let db = match Db::open(&path, Options::default()) {
                Ok(db) => db,
                Err(e) => panic!("iteration {i}: reopening right after the last handle was dropped: {e}"),
            };
            let hz = db.execute(&[b"CONFIG", b"GET", b"hz"]);
            if format!("{hz:?}").contains(MARKER_HZ) {
                // The same engine, still held by a background thread: fine, wait for its close.
                drop(db);
                assert!(start.elapsed() < Duration::from_secs(10), "iteration {i}: the engine never closed");
                std::thread::sleep(Duration::from_micros(200));
                continue;
            }
            assert_eq!(db.execute(&[b"GET", b"k"]), Reply::Bulk(i.to_string().into_bytes()));
            break;
        }
    }
}

/// Redis counts `save` points from startup ("at startup we consider the DB saved"): a new
/// database with the default `save 3600 1 300 100 60 10000` must not snapshot on its first write.
#[test]
fn save_points_count_from_open() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path().join("db"), Options::default()).unwrap();
    assert_eq!(db.execute(&[b"SET", b"k", b"v"]), Reply::OK);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(info_field(&db, "persistence", "rdb_saves"), Some(0), "{}", info_text(&db));
}
