//! The command table: every Redis-style command's name, arity, flags and key positions, and
//! the dispatcher that turns an argv into a `Reply`.
//!
//! Every surface (typed Rust methods aside) reaches the keyspace through `dispatch`, so
//! arity checks, key locking and error texts are the same everywhere. A command family lives
//! in its own file and exports a `COMMANDS` slice; handlers get a locked `Ctx` and the full
//! argv (argv[0] is the command name, as in Redis).
//!
//! Locking: the key specs decide which shards a command locks (`LockSet`); commands flagged
//! `ALL_SHARDS` (KEYS, SCAN, FLUSHDB...) lock every shard. Read-only commands take read locks.

pub(crate) mod args;
mod bitmap;
mod function;
mod geo;
mod hash;
mod hll;
mod keys;
mod list;
mod lualib;
mod memory;
mod pubsub;
pub(crate) mod script;
mod server;
mod set;
mod sort;
mod stream;
mod string;
#[cfg(test)]
mod testutil;
mod zset;

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::keyspace::{Ctx, Keyspace, LockSet};
use crate::reply::Reply;

/// What a handler returns: `Err` is an error reply (so handlers can use `?`).
pub(crate) type CmdResult = Result<Reply, Reply>;
pub(crate) type Handler = fn(&mut Ctx<'_>, &[&[u8]]) -> CmdResult;
type KeysFn = fn(&[&[u8]]) -> Vec<usize>;
type ArgvTest = fn(&[&[u8]]) -> bool;

/// The command changes data (takes write locks; logged by the durability layer).
pub(crate) const WRITE: u32 = 1;
/// The command needs every shard (whole-keyspace commands).
pub(crate) const ALL_SHARDS: u32 = 1 << 1;
/// Transaction control (MULTI/EXEC/WATCH...): handled by `Session`, never queued.
pub(crate) const TXN: u32 = 1 << 2;
/// May allocate memory (refused under `noeviction` when over maxmemory).
pub(crate) const DENYOOM: u32 = 1 << 3;
/// May wait for data (BLPOP...): `dispatch` runs it again when a write may have brought some.
pub(crate) const BLOCKING: u32 = 1 << 4;

/// One entry of the command table.
pub(crate) struct CommandSpec {
    /// Lower-case name.
    pub(crate) name: &'static str,
    /// Redis arity: exact argc if positive, minimum argc if negative (argv[0] included).
    pub(crate) arity: i32,
    pub(crate) flags: u32,
    /// First key position (0 = no keys), last key (-1 = last arg, -2 = one before...), step.
    pub(crate) first_key: i32,
    pub(crate) last_key: i32,
    pub(crate) step: i32,
    /// For commands whose keys depend on other arguments (numkeys...).
    pub(crate) keys_fn: Option<KeysFn>,
    /// For commands that may read keys named by their data (SORT's BY and GET patterns):
    /// true when this argv might, and then every shard is locked.
    pub(crate) all_shards_if: Option<ArgvTest>,
    pub(crate) handler: Handler,
}

impl CommandSpec {
    pub(crate) const fn new(name: &'static str, arity: i32, flags: u32, keys: (i32, i32, i32), handler: Handler) -> Self {
        CommandSpec { name, arity, flags, first_key: keys.0, last_key: keys.1, step: keys.2, keys_fn: None, all_shards_if: None, handler }
    }

    pub(crate) const fn with_keys_fn(mut self, f: KeysFn) -> Self {
        self.keys_fn = Some(f);
        self
    }

    pub(crate) const fn with_all_shards_if(mut self, f: ArgvTest) -> Self {
        self.all_shards_if = Some(f);
        self
    }

    pub(crate) fn is_write(&self) -> bool {
        self.flags & WRITE != 0
    }

    /// Positions of the key arguments in `argv`.
    pub(crate) fn key_positions(&self, argv: &[&[u8]]) -> Vec<usize> {
        if let Some(f) = self.keys_fn {
            return f(argv).into_iter().filter(|&i| i < argv.len()).collect();
        }
        if self.first_key <= 0 {
            return Vec::new();
        }
        let argc = argv.len() as i32;
        let last = if self.last_key < 0 { argc + self.last_key } else { self.last_key.min(argc - 1) };
        let mut out = Vec::new();
        let mut i = self.first_key;
        while i <= last {
            out.push(i as usize);
            i += self.step.max(1);
        }
        out
    }

    pub(crate) fn lock_set(&self, argv: &[&[u8]]) -> LockSet {
        if self.flags & ALL_SHARDS != 0 || self.all_shards_if.is_some_and(|f| f(argv)) {
            return LockSet::All;
        }
        if self.keys_fn.is_none() && self.first_key > 0 && self.first_key == self.last_key {
            return LockSet::for_keys(argv.get(self.first_key as usize).copied().into_iter());
        }
        LockSet::for_keys(self.key_positions(argv).into_iter().map(|i| argv[i]))
    }

    pub(crate) fn arity_ok(&self, argc: usize) -> bool {
        let argc = argc as i32;
        if self.arity >= 0 {
            argc == self.arity
        } else {
            argc >= -self.arity
        }
    }
}

/// Name -> spec. foldhash rather than SipHash: this lookup is on every command's path.
type Table = HashMap<&'static [u8], &'static CommandSpec, foldhash::fast::FixedState>;

fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| {
        let families: [&'static [CommandSpec]; 17] = [
            string::COMMANDS,
            bitmap::COMMANDS,
            hll::COMMANDS,
            keys::COMMANDS,
            hash::COMMANDS,
            list::COMMANDS,
            set::COMMANDS,
            zset::COMMANDS,
            sort::COMMANDS,
            geo::COMMANDS,
            stream::COMMANDS,
            server::COMMANDS,
            server::TXN_COMMANDS,
            memory::COMMANDS,
            script::COMMANDS,
            function::COMMANDS,
            pubsub::COMMANDS,
        ];
        let mut map = Table::default();
        for fam in families {
            for spec in fam {
                let dup = map.insert(spec.name.as_bytes(), spec);
                debug_assert!(dup.is_none(), "command {} registered twice", spec.name);
            }
        }
        map
    })
}

/// The function libraries' (name, code) now (snapshots: see `function.rs`).
pub(crate) fn function_library_codes(ks: &Keyspace) -> Vec<(Vec<u8>, Vec<u8>)> {
    function::library_codes(ks)
}

/// Load function libraries read from a snapshot.
pub(crate) fn function_restore_libraries(ks: &Keyspace, codes: Vec<(Vec<u8>, Vec<u8>)>) -> Result<(), String> {
    function::restore_libraries(ks, codes)
}

/// Every command in the table (for COMMAND COUNT/LIST and the surfaces' docs).
pub(crate) fn all_commands() -> impl Iterator<Item = &'static CommandSpec> {
    table().values().copied()
}

/// Look a command up by name, case-insensitively.
pub(crate) fn find(name: &[u8]) -> Option<&'static CommandSpec> {
    let mut buf = [0u8; 32];
    if name.len() > buf.len() {
        return None;
    }
    for (d, s) in buf.iter_mut().zip(name) {
        *d = s.to_ascii_lowercase();
    }
    table().get(&buf[..name.len()]).copied()
}

/// Redis's reply to an unknown command: the name (C-string, at most 128 bytes) and the first
/// arguments, quoted, until the list reaches 128 bytes (as `processCommand` formats it).
pub(crate) fn unknown_command(argv: &[&[u8]]) -> Reply {
    fn c_str(b: &[u8], max: usize) -> String {
        let end = b.iter().position(|&c| c == 0).unwrap_or(b.len()).min(max);
        String::from_utf8_lossy(&b[..end]).into_owned()
    }
    let mut args = String::new();
    for a in argv.iter().skip(1) {
        if args.len() >= 128 {
            break;
        }
        args.push_str(&format!("'{}' ", c_str(a, 128 - args.len())));
    }
    let name = c_str(argv.first().copied().unwrap_or(b""), 128);
    Reply::err_owned(format!("ERR unknown command '{name}', with args beginning with: {args}"))
}

/// Redis's reply to an unknown subcommand of a container command (OBJECT, CONFIG...).
pub(crate) fn unknown_subcommand(sub: &[u8], cmd: &str) -> Reply {
    Reply::err_owned(format!("ERR unknown subcommand '{}'. Try {cmd} HELP.", String::from_utf8_lossy(sub)))
}

/// A `<COMMAND> HELP` reply: one status line per entry, as Redis's `addReplyHelp` sends them.
pub(crate) fn help_reply(lines: &[&'static str]) -> Reply {
    Reply::Array(lines.iter().map(|l| Reply::status(l)).collect())
}

/// Redis's reply to a known subcommand with the wrong number of arguments.
pub(crate) fn subcommand_arity(cmd: &str, sub: &[u8]) -> Reply {
    Reply::err_owned(format!("ERR wrong number of arguments for '{cmd}|{}' command", String::from_utf8_lossy(sub).to_ascii_lowercase()))
}

pub(crate) fn wrong_arity(name: &str) -> Reply {
    Reply::err_owned(format!("ERR wrong number of arguments for '{name}' command"))
}

/// Validate name and arity; the error reply Redis gives otherwise.
pub(crate) fn resolve(argv: &[&[u8]]) -> Result<&'static CommandSpec, Reply> {
    let Some(name) = argv.first() else { return Err(Reply::err("ERR empty command")) };
    let spec = find(name).ok_or_else(|| unknown_command(argv))?;
    if !spec.arity_ok(argv.len()) {
        return Err(wrong_arity(spec.name));
    }
    Ok(spec)
}

/// Run one command under its own locks. A write is refused before it runs while the log
/// cannot take it; its effect is logged before the locks are released; under
/// `appendfsync always` the reply waits (outside the locks) until the record is durable. A
/// blocking command with nothing to take waits for it (see `dispatch_blocking`).
pub(crate) fn dispatch(ks: &Keyspace, spec: &'static CommandSpec, argv: &[&[u8]]) -> Reply {
    if spec.flags & BLOCKING != 0 {
        return dispatch_blocking(ks, spec, argv, &mut || false).unwrap_or(Reply::Nil);
    }
    dispatch_once(ks, spec, argv, false).0
}

/// What one run of a command gave: its reply, how long it may block (`Ctx::block_for`) and
/// the argv to run it with next time (`Ctx::retry_argv`).
struct Attempt {
    reply: Reply,
    block: Option<u64>,
    retry_argv: Option<Vec<Vec<u8>>>,
}

/// One run of `dispatch`: the reply, and how long the command may block (`Ctx::block`).
/// `serving` is `Ctx::serving_blocked`.
fn dispatch_once(ks: &Keyspace, spec: &'static CommandSpec, argv: &[&[u8]], serving: bool) -> (Reply, Option<u64>) {
    let a = attempt(ks, spec, argv, serving);
    (a.reply, a.block)
}

fn attempt(ks: &Keyspace, spec: &'static CommandSpec, argv: &[&[u8]], serving: bool) -> Attempt {
    if spec.is_write() {
        if let Err(e) = ks.check_writable() {
            return Attempt { reply: e, block: None, retry_argv: None };
        }
    }
    let set = spec.lock_set(argv);
    let mut ctx = ks.lock(&set, spec.is_write());
    ctx.serving_blocked = serving;
    let reply = run_locked(&mut ctx, spec, argv);
    let block = ctx.block.take();
    let retry_argv = ctx.retry_argv.take();
    let seq = ctx.finish();
    ctx.release();
    // After any write, or a CONFIG SET that lowered maxmemory (Redis evicts right away then).
    if spec.is_write() || crate::keyspace::evict::over_limit(ks) {
        crate::keyspace::evict::make_room(ks);
    }
    match ks.wait_durable(seq) {
        Ok(()) => Attempt { reply, block, retry_argv },
        Err(e) => Attempt { reply: e, block: None, retry_argv: None },
    }
}

/// Run a blocking command (BLPOP, BLMOVE, BZPOPMIN...): when it finds nothing, wait until a
/// write to one of its keys' shards and run it again, until it gets data or its timeout
/// passes (then the reply is nil, as Redis's). Every `POLL` of waiting `interrupted` is asked
/// whether to give up; if it says so, the result is None and nothing was taken.
pub(crate) fn dispatch_blocking(
    ks: &Keyspace,
    spec: &'static CommandSpec,
    argv: &[&[u8]],
    interrupted: &mut dyn FnMut() -> bool,
) -> Option<Reply> {
    use crate::keyspace::blocking::{Woken, POLL};
    use std::time::{Duration, Instant};

    let first = attempt(ks, spec, argv, false);
    let Some(timeout_ms) = first.block else { return Some(first.reply) };
    // XREAD's `$` IDs stay what they were at the first attempt (see `Ctx::retry_argv`).
    let retry_argv = first.retry_argv;
    let retry: Vec<&[u8]> = match &retry_argv {
        Some(v) => v.iter().map(|x| x.as_slice()).collect(),
        None => argv.to_vec(),
    };
    let argv = &retry[..];
    let deadline = (timeout_ms > 0).then(|| Instant::now() + Duration::from_millis(timeout_ms));
    let mask = spec
        .key_positions(argv)
        .into_iter()
        .fold(0u64, |m, i| m | 1 << crate::keyspace::shard_of(crate::keyspace::dict::hash_bytes(argv[i])));
    struct Registered<'k>(&'k Keyspace, u64);
    impl Drop for Registered<'_> {
        fn drop(&mut self) {
            self.0.blocking.unregister(self.1);
        }
    }
    let mut seen = ks.blocking.register(mask);
    let _registered = Registered(ks, mask);
    loop {
        // Again now that writes wake us: data may have come since the first attempt.
        let (reply, block) = dispatch_once(ks, spec, argv, true);
        if block.is_none() {
            return Some(reply);
        }
        loop {
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                return Some(Reply::Nil);
            }
            let until = deadline.map_or(now + POLL, |d| d.min(now + POLL));
            match ks.blocking.wait(seen, until) {
                Woken::Write(g) => {
                    seen = g;
                    break;
                }
                Woken::TimedOut if interrupted() => return None,
                Woken::TimedOut => {}
            }
        }
    }
}

/// Run one command in a context that already holds (at least) the shards it needs. When the
/// context logs, the command's effect is added to it: the handler's own description
/// (`Ctx::log_as`), or else the argv itself if the command changed anything.
pub(crate) fn run_locked(ctx: &mut Ctx<'_>, spec: &'static CommandSpec, argv: &[&[u8]]) -> Reply {
    ctx.count_command();
    if spec.flags & DENYOOM != 0 && !ctx.allow_oom && ctx.out_of_memory() {
        return Reply::err(crate::keyspace::evict::OOM);
    }
    if !(ctx.logging && spec.is_write()) {
        let reply = match (spec.handler)(ctx, argv) {
            Ok(r) | Err(r) => r,
        };
        if spec.is_write() {
            ctx.settle();
        }
        return reply;
    }
    if spec.keys_fn.is_none() && spec.first_key > 0 && spec.first_key == spec.last_key {
        ctx.purge_expired(std::iter::once(spec.first_key as usize).filter(|&i| i < argv.len()), argv);
    } else if spec.flags & ALL_SHARDS == 0 {
        ctx.purge_expired(spec.key_positions(argv).into_iter(), argv);
    }
    let dirty = ctx.dirty;
    ctx.effect_described = false;
    let reply = match (spec.handler)(ctx, argv) {
        Ok(r) | Err(r) => r,
    };
    if !ctx.effect_described && ctx.dirty != dirty {
        crate::util::resp::encode_command(&mut ctx.effects, argv);
    }
    // Account per command: bounded bookkeeping even in long contexts (replay, pipelines).
    ctx.settle();
    reply
}
