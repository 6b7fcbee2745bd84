//! Lua scripting: EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT LOAD/EXISTS/FLUSH/KILL, with
//! Redis's semantics (Redis's "Scripting with Lua" and "Lua API reference" pages).
//!
//! - **Interpreter**: Lua 5.1, as Redis embeds, through `mlua` (vendored, so no system Lua is
//!   needed). One interpreter per database, created on first use and kept behind a mutex; it
//!   loads only the base, table, string and math libraries (no `io`, `os`, `require`,
//!   `loadfile`, `dofile`). Each run gets a fresh environment table: `KEYS` and `ARGV` live
//!   there, a global the script assigns dies with the run, and reading an undefined global
//!   raises Redis's "Script attempted to access nonexistent global variable" error.
//! - **Atomicity**: the commands take write locks on every shard (read locks for the `_RO`
//!   forms) for the whole run, so nothing interleaves with a script, as in single-threaded
//!   Redis. `redis.call`/`redis.pcall` run commands through `run_locked` in that same context.
//!   Commands that control transactions or scripts are refused inside a script.
//! - **Durability**: effects replication (Redis 7's only mode): the log gets the effects of
//!   the commands the script ran, as one atomic record with everything else in the context,
//!   never the script itself, so replay does not run Lua and cannot diverge.
//! - **Errors**: an error reply from `redis.call` aborts the script with that error, suffixed
//!   `script: <sha>, on @user_script:<line>.` (Redis 7.0's shape); `redis.pcall` returns it as
//!   a `{err = ...}` table. Lua runtime errors become `ERR user_script:<line>: <message> ...`.
//! - **SCRIPT KILL**: an instruction hook checks a flag every 10,000 instructions; a script
//!   that has already written cannot be killed (`UNKILLABLE`), as in Redis. While a script
//!   runs, other callers wait on the shard locks (Redis answers `BUSY` instead).
//!
//! Type conversions follow Redis's tables: integer replies become Lua numbers, bulk strings
//! strings, nil `false`, arrays tables, status and error replies `{ok=..}` / `{err=..}` tables,
//! doubles their RESP2 text. Back: numbers truncate to integers, `true` is 1, `false` nil, a
//! table is an array up to its first nil unless it has an `ok` or `err` field.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use mlua::{Function, HookTriggers, Lua, LuaOptions, MultiValue, StdLib, Table, Value as LuaValue, VmState};

use super::args::{self, is};
use super::{CmdResult, CommandSpec, ALL_SHARDS, BLOCKING, TXN, WRITE};
use crate::keyspace::Ctx;
use crate::reply::Reply;
use crate::sync::Mutex;

const NONE: (i32, i32, i32) = (0, 0, 0);

pub(crate) const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("eval", -3, WRITE | ALL_SHARDS, NONE, eval),
    CommandSpec::new("evalsha", -3, WRITE | ALL_SHARDS, NONE, evalsha),
    CommandSpec::new("eval_ro", -3, ALL_SHARDS, NONE, eval_ro),
    CommandSpec::new("evalsha_ro", -3, ALL_SHARDS, NONE, evalsha_ro),
    CommandSpec::new("script", -2, 0, NONE, script),
];

/// Commands a script may not call (Redis's `noscript` flag, for the commands nestdb has).
/// Blocking commands are refused too (their `BLOCKING` flag), except XREAD and XREADGROUP
/// without BLOCK. CONFIG's subcommands are all `noscript` in Redis 7.0.
const NOT_IN_SCRIPTS: &[&str] = &[
    "eval",
    "evalsha",
    "eval_ro",
    "evalsha_ro",
    "script",
    "function",
    "fcall",
    "fcall_ro",
    "save",
    "bgsave",
    "bgrewriteaof",
    "config",
    "subscribe",
    "unsubscribe",
    "psubscribe",
    "punsubscribe",
];

/// Instructions between two looks at the kill flag.
const HOOK_EVERY: u32 = 10_000;

/// A database's scripts: the cache SCRIPT LOAD and EVAL fill, and the interpreter.
#[derive(Default)]
pub(crate) struct Scripts {
    /// Lower-case SHA1 hex of a body -> the body.
    cache: Mutex<HashMap<String, Arc<[u8]>>>,
    /// The interpreter and the function libraries it holds (`function.rs`).
    pub(super) engine: Mutex<Option<Engine>>,
    /// Set while a script runs; `wrote` once it has changed data; `kill` asks it to stop.
    running: AtomicBool,
    pub(super) wrote: AtomicBool,
    kill: Arc<AtomicBool>,
    /// (libraries, functions) loaded: FUNCTION STATS reads them while a function runs.
    pub(super) function_counts: Mutex<(usize, usize)>,
    /// The function running now (name, FCALL argv, start), for FUNCTION STATS and the KILLs.
    current_function: Mutex<Option<CurrentFunction>>,
}

struct CurrentFunction {
    name: Vec<u8>,
    argv: Vec<Vec<u8>>,
    started: Instant,
}

/// What runs now (`Scripts::running_now`).
pub(crate) enum Running {
    Eval,
    Function { name: Vec<u8>, argv: Vec<Vec<u8>>, ms: i64 },
}

impl Scripts {
    pub(super) fn running_now(&self) -> Option<Running> {
        if !self.running.load(Ordering::SeqCst) {
            return None;
        }
        Some(match self.current_function.lock().as_ref() {
            None => Running::Eval,
            Some(f) => Running::Function { name: f.name.clone(), argv: f.argv.clone(), ms: f.started.elapsed().as_millis() as i64 },
        })
    }
}

/// The interpreter, the table behind the read-only `redis` library, and the function
/// libraries (their callbacks live in this interpreter).
pub(crate) struct Engine {
    pub(super) lua: Lua,
    /// What `redis.*` reads (`call` and `pcall` are `forward_call`/`forward_pcall`).
    api: Table,
    /// mlua's `pcall`, which runs each script (the scripts' own is `script_pcall`).
    run_pcall: Function,
    /// `redis.*` as built by the prelude (the runs' environments read globals through it).
    globals: Table,
    /// `redis` as a library's functions see it once loaded.
    function_api: Table,
    /// The metatable of every EVAL run's environment: undefined globals fail, others come
    /// from `globals`.
    script_meta: Table,
    /// EVAL bodies compiled so far, by SHA1 (emptied by SCRIPT FLUSH). Kept in the Lua
    /// registry: a `Function` handle takes a slot of mlua's reference stack, which holds
    /// about 8,000, and a program may run more scripts than that.
    compiled: std::cell::RefCell<HashMap<String, mlua::RegistryKey>>,
    pub(super) libraries: super::function::Libraries,
}

/// Installed once per interpreter: the `redis` library as a read-only view of the table it
/// returns (`Engine::api`), into which each run puts its `call` and `pcall` callbacks.
const PRELUDE: &str = r#"
local api = {}
function api.error_reply(msg) return {err = msg} end
function api.status_reply(msg) return {ok = msg} end
function api.log(level, ...) end
function api.setresp(v) if v ~= 2 then error("RESP3 is not supported by nestdb's scripts", 2) end end
function api.set_repl(v) end
function api.replicate_commands() return true end
api.LOG_DEBUG, api.LOG_VERBOSE, api.LOG_NOTICE, api.LOG_WARNING = 0, 1, 2, 3
api.REPL_NONE, api.REPL_AOF, api.REPL_SLAVE, api.REPL_REPLICA, api.REPL_ALL = 0, 1, 2, 2, 3
redis = setmetatable({}, {
  __index = api,
  __newindex = function() error("Attempt to modify a readonly table", 2) end,
  __metatable = false,
})
loadfile = nil
dofile = nil
-- What a library's functions see as `redis`: the same API without replicate_commands, which
-- Redis 7.0 does not give functions.
local function_api = setmetatable({}, {
  __index = function(_, k) if k == 'replicate_commands' then return nil end return api[k] end,
  __newindex = function() error("Attempt to modify a readonly table", 2) end,
  __metatable = false,
})
return api, function_api
"#;

/// Base-library globals redis-server 7.0.15 gives neither scripts nor functions.
const REMOVED_GLOBALS: [&str; 4] = ["print", "getfenv", "setfenv", "newproxy"];

impl Engine {
    fn new(kill: Arc<AtomicBool>) -> mlua::Result<Engine> {
        let lua = Lua::new_with(StdLib::TABLE | StdLib::STRING | StdLib::MATH, LuaOptions::default())?;
        // Redis's other libraries first: the prelude ends by protecting the globals.
        super::lualib::install(&lua, &lua.globals())?;
        let (api, function_api): (Table, Table) = lua.load(PRELUDE).set_name("=prelude").call(())?;
        // mlua's `pcall` (it keeps Rust errors as values, for `error_reply`) runs each script;
        // the scripts' own `pcall`/`xpcall` see errors as Redis's do.
        let run_pcall: Function = lua.globals().raw_get("pcall")?;
        for name in REMOVED_GLOBALS {
            lua.globals().raw_set(name, LuaValue::Nil)?;
        }
        lua.set_named_registry_value(registry_name(ERROR_VALUE_KEY), lua.create_function(redis_error_value)?)?;
        // SAFETY: these are C functions that only use the Lua API on their own stack (see
        // `forward` and `script_pcall`).
        unsafe {
            api.set("call", lua.create_c_function(forward_call)?)?;
            api.set("pcall", lua.create_c_function(forward_pcall)?)?;
            lua.globals().raw_set("pcall", lua.create_c_function(script_pcall)?)?;
            lua.globals().raw_set("xpcall", lua.create_c_function(script_xpcall)?)?;
        }
        api.set("sha1hex", lua.create_function(|_, s: mlua::String| Ok(sha1_hex(&s.as_bytes()[..])))?)?;
        lua.set_hook(HookTriggers::new().every_nth_instruction(HOOK_EVERY), move |_, debug| {
            if kill.load(Ordering::Relaxed) {
                Err(mlua::Error::external(Killed { line: debug.current_line().unwrap_or(0) }))
            } else {
                Ok(VmState::Continue)
            }
        })?;
        let globals = lua.globals();
        let script_meta = lua.create_table()?;
        let lookup = globals.clone();
        script_meta.set(
            "__index",
            lua.create_function(move |lua, (_, name): (LuaValue, LuaValue)| {
                let v: LuaValue = lookup.raw_get(name.clone())?;
                if v.is_nil() {
                    return Err(nonexistent_global(lua, &name));
                }
                Ok(v)
            })?,
        )?;
        Ok(Engine { lua, api, run_pcall, function_api, globals, script_meta, compiled: Default::default(), libraries: Default::default() })
    }

    /// A new environment table for a function library.
    pub(super) fn library_env(&self) -> mlua::Result<Table> {
        self.lua.create_table()
    }

    /// The `redis` table a library sees while it loads: `register_function`, `log` and the
    /// `LOG_*` levels; reading anything else fails as an undefined global does, writing fails.
    pub(super) fn load_api(&self, register: Function) -> mlua::Result<Table> {
        let lua = &self.lua;
        let api = lua.create_table()?;
        api.set("register_function", register)?;
        api.set("log", self.api.get::<LuaValue>("log")?)?;
        for level in ["LOG_DEBUG", "LOG_VERBOSE", "LOG_NOTICE", "LOG_WARNING"] {
            api.set(level, self.api.get::<LuaValue>(level)?)?;
        }
        let meta = lua.create_table()?;
        meta.set(
            "__index",
            lua.create_function(|lua, (_, name): (LuaValue, LuaValue)| -> mlua::Result<LuaValue> { Err(nonexistent_global(lua, &name)) })?,
        )?;
        meta.set("__newindex", lua.create_function(|lua, _: MultiValue| -> mlua::Result<()> { Err(readonly_table(lua)) })?)?;
        api.set_metatable(Some(meta))?;
        Ok(api)
    }

    /// The metatable of a library's environment: its globals are read-only; reads go to
    /// `load` as `redis` while the library loads (`Some`), to the whole scripting API after.
    pub(super) fn library_meta(&self, load: Option<Table>) -> mlua::Result<Table> {
        let lua = &self.lua;
        let meta = lua.create_table()?;
        let (globals, function_api) = (self.globals.clone(), self.function_api.clone());
        meta.set(
            "__index",
            lua.create_function(move |lua, (_, name): (LuaValue, LuaValue)| {
                let is = |word: &str| matches!(&name, LuaValue::String(s) if s.as_bytes() == word.as_bytes());
                let v: LuaValue = match &load {
                    Some(api) if is("redis") => LuaValue::Table(api.clone()),
                    Some(_) => LuaValue::Nil,
                    None if is("redis") => LuaValue::Table(function_api.clone()),
                    None => globals.raw_get(name.clone())?,
                };
                if v.is_nil() {
                    return Err(nonexistent_global(lua, &name));
                }
                Ok(v)
            })?,
        )?;
        meta.set("__newindex", lua.create_function(|lua, _: MultiValue| -> mlua::Result<()> { Err(readonly_table(lua)) })?)?;
        meta.set("__metatable", false)?;
        Ok(meta)
    }
}

/// Where the running Lua code is, as `luaL_where(L, 1)` writes it (`user_function:3: `).
pub(super) fn lua_where(lua: &Lua) -> String {
    lua.inspect_stack(1, |d| {
        let line = d.current_line()?;
        let src = d.source().short_src?.into_owned();
        Some(format!("{src}:{line}: "))
    })
    .flatten()
    .unwrap_or_default()
}

/// The error for reading a global nobody defined, located as Redis's `luaL_error` locates it.
fn nonexistent_global(lua: &Lua, name: &LuaValue) -> mlua::Error {
    let shown = name.to_string().unwrap_or_else(|_| "?".into());
    mlua::Error::runtime(format!("{}Script attempted to access nonexistent global variable '{shown}'", lua_where(lua)))
}

fn readonly_table(lua: &Lua) -> mlua::Error {
    mlua::Error::runtime(format!("{}Attempt to modify a readonly table", lua_where(lua)))
}

/// The message of a compile error (`user_function:2: '=' expected near 'error'`).
pub(super) fn syntax_message(e: mlua::Error) -> String {
    match e {
        mlua::Error::SyntaxError { message, .. } => message,
        other => other.to_string(),
    }
}

/// The message of an error a library raised while loading, as Redis prints it after
/// "Error registering functions: " (always starting "ERR ").
pub(super) fn load_error_message(e: &mlua::Error) -> String {
    let msg = match e {
        mlua::Error::CallbackError { .. } | mlua::Error::RuntimeError(_) => root_message(e),
        other => other.to_string(),
    };
    // A runtime error carries the traceback mlua adds; Redis's message is its first part.
    let msg = msg.split("\nstack traceback:").next().unwrap_or_default();
    if msg.starts_with("ERR ") {
        msg.to_string()
    } else {
        format!("ERR {msg}")
    }
}

/// The interpreter of `scripts`, started on first use.
pub(super) fn engine_up<'g>(scripts: &Scripts, guard: &'g mut Option<Engine>) -> Result<&'g mut Engine, Reply> {
    if guard.is_none() {
        match Engine::new(scripts.kill.clone()) {
            Ok(e) => *guard = Some(e),
            Err(e) => return Err(Reply::err_owned(format!("ERR cannot start the Lua interpreter: {e}"))),
        }
    }
    Ok(guard.as_mut().expect("started above"))
}

fn sha1_hex(body: &[u8]) -> String {
    sha1_smol::Sha1::from(body).digest().to_string()
}

/// What a run needs besides the context.
pub(super) struct Run<'s> {
    pub(super) target: Target<'s>,
    pub(super) keys: &'s [&'s [u8]],
    pub(super) args: &'s [&'s [u8]],
    pub(super) read_only: bool,
}

/// What runs: an EVAL script, or a library's function (FCALL).
pub(super) enum Target<'s> {
    Eval { sha: &'s str, body: &'s [u8] },
    Function { name: &'s [u8], argv: &'s [Vec<u8>], allow_oom: bool },
}

impl Target<'_> {
    /// How errors name the script, and its chunk (`script: <name>, on @<chunk>:<line>.`).
    fn names(&self) -> (String, &'static str) {
        match self {
            Target::Eval { sha, .. } => (sha.to_string(), "user_script"),
            Target::Function { name, .. } => (String::from_utf8_lossy(name).into_owned(), "user_function"),
        }
    }
}

fn eval(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    eval_generic(ctx, a, false, false)
}

fn evalsha(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    eval_generic(ctx, a, true, false)
}

fn eval_ro(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    eval_generic(ctx, a, false, true)
}

fn evalsha_ro(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    eval_generic(ctx, a, true, true)
}

/// `EVAL script numkeys key... arg...` and its three siblings.
fn eval_generic(ctx: &mut Ctx<'_>, a: &[&[u8]], by_sha: bool, read_only: bool) -> CmdResult {
    let numkeys = args::int(a[2])?;
    if numkeys < 0 {
        return Err(Reply::err("ERR Number of keys can't be negative"));
    }
    if numkeys as u64 > (a.len() - 3) as u64 {
        return Err(Reply::err("ERR Number of keys can't be greater than number of args"));
    }
    let (keys, args) = a[3..].split_at(numkeys as usize);
    let scripts = &ctx.keyspace().scripts;
    let (sha, body) = if by_sha {
        let sha = String::from_utf8_lossy(a[1]).to_ascii_lowercase();
        let Some(body) = scripts.cache.lock().get(&sha).cloned() else {
            return Err(Reply::err("NOSCRIPT No matching script. Please use EVAL."));
        };
        (sha, body)
    } else {
        let sha = sha1_hex(a[1]);
        let body: Arc<[u8]> = scripts.cache.lock().entry(sha.clone()).or_insert_with(|| Arc::from(a[1])).clone();
        (sha, body)
    };
    let reply = run(ctx, &Run { target: Target::Eval { sha: &sha, body: &body }, keys, args, read_only });
    // The effects of the commands the script ran are what the log gets, never the EVAL.
    ctx.effect_described = true;
    Ok(reply)
}

/// Run a script in `ctx` and turn its outcome into the reply.
pub(super) fn run(ctx: &mut Ctx<'_>, r: &Run<'_>) -> Reply {
    let scripts = &ctx.keyspace().scripts;
    let mut guard = scripts.engine.lock();
    let engine = match engine_up(scripts, &mut guard) {
        Ok(e) => &*e,
        Err(e) => return e,
    };
    if let Target::Function { name, argv, .. } = r.target {
        *scripts.current_function.lock() = Some(CurrentFunction { name: name.to_vec(), argv: argv.to_vec(), started: Instant::now() });
    }
    scripts.kill.store(false, Ordering::SeqCst);
    scripts.wrote.store(false, Ordering::SeqCst);
    scripts.running.store(true, Ordering::SeqCst);
    let allow_oom = std::mem::replace(&mut ctx.allow_oom, matches!(r.target, Target::Function { allow_oom: true, .. }));
    let outcome = run_in(engine, ctx, r);
    ctx.allow_oom = allow_oom;
    scripts.running.store(false, Ordering::SeqCst);
    scripts.kill.store(false, Ordering::SeqCst);
    *scripts.current_function.lock() = None;
    // Drop the per-run callbacks (their scope has ended; this only clears stale handles).
    let _ = engine.lua.set_named_registry_value(registry_name(CALL_KEY), LuaValue::Nil);
    let _ = engine.lua.set_named_registry_value(registry_name(PCALL_KEY), LuaValue::Nil);
    match outcome {
        Ok(reply) => reply,
        Err(e) => Reply::err_owned(format!("ERR {e}")),
    }
}

fn run_in(engine: &Engine, ctx: &mut Ctx<'_>, r: &Run<'_>) -> mlua::Result<Reply> {
    let lua = &engine.lua;
    // An EVAL body is compiled into a function of (); a library's function takes the keys and
    // the arguments as two tables.
    let (function, call_args) = match r.target {
        Target::Eval { sha, body } => match compile(engine, sha, r.keys, r.args, body) {
            Ok(f) => (f, None),
            Err(msg) => return Ok(Reply::err_owned(format!("ERR Error compiling script (new function): {msg}"))),
        },
        Target::Function { name, .. } => {
            let Some((f, _)) = engine.libraries.find(name) else { return Ok(Reply::err("ERR Function not found")) };
            let function: Function = lua.registry_value(f.callback())?;
            let (keys, args) = (strings_table(lua, r.keys)?, strings_table(lua, r.args)?);
            (function, Some((keys, args)))
        }
    };
    let (script_name, chunk) = r.target.names();
    let cell = std::cell::RefCell::new(ctx);
    lua.scope(|scope| {
        // `redis.pcall`: the reply, an error one as an `{err = ...}` table.
        let pcall = scope.create_function(|lua, argv: MultiValue| {
            let mut ctx = cell.try_borrow_mut().map_err(|_| mlua::Error::runtime("redis.pcall re-entered"))?;
            reply_to_lua(lua, call_command(&mut ctx, lua, argv, r.read_only))
        })?;
        // `redis.call`: an error reply raises, carrying the calling line (level 0 is this
        // callback, level 1 `forward`, level 2 the script: a tail call of a C function keeps
        // the caller's frame).
        let call = scope.create_function(|lua, argv: MultiValue| {
            let mut ctx = cell.try_borrow_mut().map_err(|_| mlua::Error::runtime("redis.call re-entered"))?;
            match call_command(&mut ctx, lua, argv, r.read_only) {
                Reply::Error(err) => {
                    let line = lua.inspect_stack(2, |d| d.current_line()).flatten().unwrap_or(0);
                    Err(mlua::Error::external(CallFailed { err: err.into_owned(), line }))
                }
                reply => reply_to_lua(lua, reply),
            }
        })?;
        engine.lua.set_named_registry_value(registry_name(CALL_KEY), call)?;
        engine.lua.set_named_registry_value(registry_name(PCALL_KEY), pcall)?;
        let (ok, value): (bool, LuaValue) = match call_args {
            None => engine.run_pcall.call(function)?,
            Some((keys, args)) => engine.run_pcall.call((function, keys, args))?,
        };
        Ok(if ok { lua_to_reply(&value) } else { error_reply(&value, &script_name, chunk) })
    })
}

/// An error reply from `redis.call`, raised through the script.
#[derive(Debug)]
struct CallFailed {
    err: String,
    line: usize,
}

impl std::fmt::Display for CallFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.err)
    }
}

impl std::error::Error for CallFailed {}

/// The script's body as a function of a fresh environment holding `KEYS` and `ARGV`;
/// `Err(message)` on a syntax error. A body is compiled once (`Engine::compiled`, by SHA1)
/// and given a new environment per run.
fn compile(engine: &Engine, sha: &str, keys: &[&[u8]], args: &[&[u8]], body: &[u8]) -> Result<Function, String> {
    let lua = &engine.lua;
    let env = (|| -> mlua::Result<Table> {
        let env = lua.create_table()?;
        env.set("KEYS", strings_table(lua, keys)?)?;
        env.set("ARGV", strings_table(lua, args)?)?;
        env.set_metatable(Some(engine.script_meta.clone()))?;
        Ok(env)
    })()
    .map_err(|e| e.to_string())?;
    let mut compiled = engine.compiled.borrow_mut();
    let function = match compiled.get(sha) {
        Some(key) => lua.registry_value::<Function>(key).map_err(|e| e.to_string())?,
        None => {
            let f = lua.load(body).set_name("@user_script").into_function().map_err(syntax_message)?;
            compiled.insert(sha.to_string(), lua.create_registry_value(f.clone()).map_err(|e| e.to_string())?);
            f
        }
    };
    function.set_environment(env).map_err(|e| e.to_string())?;
    Ok(function)
}

/// A Lua sequence of `items` as strings, built one string at a time (each mlua handle is
/// dropped before the next is made: mlua has about 8,000 of them).
fn strings_table(lua: &Lua, items: &[&[u8]]) -> mlua::Result<Table> {
    let t = lua.create_table_with_capacity(items.len(), 0)?;
    for (i, item) in items.iter().enumerate() {
        t.raw_set(i + 1, lua.create_string(item)?)?;
    }
    Ok(t)
}

/// Where a run's `redis.call` and `redis.pcall` callbacks are, in the Lua registry (read by
/// `forward` through the C API, written through mlua as `registry_name`).
const CALL_KEY: &std::ffi::CStr = c"nestdb.call";
const PCALL_KEY: &std::ffi::CStr = c"nestdb.pcall";

/// A registry key as mlua's named-registry functions take it (every key here is ASCII).
fn registry_name(key: &std::ffi::CStr) -> &str {
    key.to_str().unwrap_or_default()
}

/// The marker `forward` puts before packed arguments.
fn packed_marker() -> mlua::LightUserData {
    static MARKER: u8 = 0;
    mlua::LightUserData(std::ptr::addr_of!(MARKER) as *mut std::ffi::c_void)
}

/// Arguments `forward` hands over as they are; more go packed in a table.
const UNPACKED_ARGS: i32 = 64;

/// `redis.call` and `redis.pcall` as C functions, as Redis's are: a script's `return
/// redis.call(...)` then keeps the script's frame (Lua 5.1 drops a frame for a tail call of a
/// Lua function, not of a C one), so errors name the script's line. Each passes its arguments
/// to the run's Rust callback, under `key` in the registry: as they are, or after
/// `packed_marker()` as their count and a table holding them when there are many. mlua holds
/// one reference per argument it converts and has about 8,000, as many as `unpack` can give.
///
/// # Safety
/// Called by Lua with its arguments on the stack. It only uses the Lua API; an error raised
/// inside (out of memory, or the callback's) unwinds through this frame, which owns nothing.
unsafe fn forward(l: *mut mlua::ffi::lua_State, key: &std::ffi::CStr) -> std::ffi::c_int {
    // SAFETY: see above; `l` is the running state, and every index used is on its stack.
    unsafe {
        use mlua::ffi;
        let n = ffi::lua_gettop(l);
        if n > UNPACKED_ARGS {
            ffi::lua_createtable(l, n, 0);
            for i in 1..=n {
                ffi::lua_pushvalue(l, i);
                ffi::lua_rawseti(l, -2, i as _);
            }
            ffi::lua_replace(l, 1);
            ffi::lua_settop(l, 1);
            ffi::lua_pushlightuserdata(l, packed_marker().0);
            ffi::lua_insert(l, 1);
            ffi::lua_pushinteger(l, n as ffi::lua_Integer);
            ffi::lua_insert(l, 2);
        }
        ffi::lua_getfield(l, ffi::LUA_REGISTRYINDEX, key.as_ptr());
        ffi::lua_insert(l, 1);
        ffi::lua_call(l, ffi::lua_gettop(l) - 1, ffi::LUA_MULTRET);
        ffi::lua_gettop(l)
    }
}

/// Where the converter of Rust errors into Redis's error values is, in the Lua registry.
const ERROR_VALUE_KEY: &std::ffi::CStr = c"nestdb.error_value";

/// An error as a script's `pcall`/`xpcall` sees it in Redis 7.0: a `redis.call` error reply is
/// the table `{err = ...}`, anything else raised in Rust is its message (a string); Lua's own
/// values pass as they are. Also whether it is a SCRIPT KILL (then the value is unchanged,
/// to be raised again: no script may catch it).
fn redis_error_value(lua: &Lua, v: LuaValue) -> mlua::Result<(LuaValue, bool)> {
    let LuaValue::Error(e) = v else { return Ok((v, false)) };
    if killed(&e).is_some() {
        return Ok((LuaValue::Error(e), true));
    }
    let value = match call_failed(&e) {
        Some(failed) => {
            let t = lua.create_table()?;
            t.raw_set("err", failed.err.as_str())?;
            LuaValue::Table(t)
        }
        None => LuaValue::String(lua.create_string(root_message(&e))?),
    };
    Ok((value, false))
}

/// Replace the error value on top of the stack with `redis_error_value`'s; true if it is a
/// SCRIPT KILL (left as it was).
///
/// # Safety
/// `l` is the running state with an error value on top; Lua errors raised here (out of
/// memory) unwind through frames that own nothing.
unsafe fn convert_error(l: *mut mlua::ffi::lua_State) -> bool {
    use mlua::ffi;
    // SAFETY: as above.
    unsafe {
        if ffi::lua_type(l, -1) != ffi::LUA_TUSERDATA {
            return false;
        }
        ffi::lua_getfield(l, ffi::LUA_REGISTRYINDEX, ERROR_VALUE_KEY.as_ptr());
        ffi::lua_insert(l, -2);
        ffi::lua_call(l, 1, 2);
        let killed = ffi::lua_toboolean(l, -1) != 0;
        ffi::lua_pop(l, 1);
        killed
    }
}

/// The scripts' `pcall`, as Redis 7.0's (`luaRedisPcall`): Lua 5.1's, except that an error
/// table with an `err` string gives that string, and errors raised in Rust are their messages.
unsafe extern "C-unwind" fn script_pcall(l: *mut mlua::ffi::lua_State) -> std::ffi::c_int {
    use mlua::ffi;
    // SAFETY: called by Lua with its arguments on the stack; see `convert_error`.
    unsafe {
        if ffi::lua_gettop(l) == 0 {
            // Redis's pcall calls its own `true` placeholder then.
            ffi::lua_pushboolean(l, 0);
            ffi::lua_pushstring(l, c"attempt to call a boolean value".as_ptr());
            return 2;
        }
        if ffi::lua_pcall(l, ffi::lua_gettop(l) - 1, ffi::LUA_MULTRET, 0) == 0 {
            ffi::lua_pushboolean(l, 1);
            ffi::lua_insert(l, 1);
            return ffi::lua_gettop(l);
        }
        if convert_error(l) {
            ffi::lua_error(l);
        }
        if ffi::lua_type(l, -1) == ffi::LUA_TTABLE {
            ffi::lua_getfield(l, -1, c"err".as_ptr());
            if ffi::lua_isstring(l, -1) != 0 {
                ffi::lua_replace(l, -2);
            } else {
                ffi::lua_pop(l, 1);
            }
        }
        ffi::lua_pushboolean(l, 0);
        ffi::lua_insert(l, -2);
        2
    }
}

/// The message handler `script_xpcall` installs: the error converted, then the script's
/// handler (upvalue 1) called with it; a SCRIPT KILL is passed on as it is, unhandled.
unsafe extern "C-unwind" fn xpcall_handler(l: *mut mlua::ffi::lua_State) -> std::ffi::c_int {
    use mlua::ffi;
    // SAFETY: called by Lua with the error value on the stack; see `convert_error`.
    unsafe {
        if convert_error(l) {
            return 1;
        }
        ffi::lua_pushvalue(l, ffi::lua_upvalueindex(1));
        ffi::lua_insert(l, -2);
        ffi::lua_call(l, 1, 1);
        1
    }
}

/// The scripts' `xpcall(f, handler)`, as Lua 5.1's, with errors converted before the handler
/// sees them (as `script_pcall` converts them).
unsafe extern "C-unwind" fn script_xpcall(l: *mut mlua::ffi::lua_State) -> std::ffi::c_int {
    use mlua::ffi;
    // SAFETY: called by Lua with its arguments on the stack; see `convert_error`.
    unsafe {
        ffi::luaL_checkany(l, 2);
        ffi::lua_settop(l, 2);
        ffi::lua_pushcclosure(l, xpcall_handler, 1);
        ffi::lua_insert(l, 1);
        let ok = ffi::lua_pcall(l, 0, ffi::LUA_MULTRET, 1) == 0;
        if !ok && convert_error(l) {
            ffi::lua_error(l);
        }
        ffi::lua_pushboolean(l, i32::from(ok));
        ffi::lua_replace(l, 1);
        ffi::lua_gettop(l)
    }
}

unsafe extern "C-unwind" fn forward_call(l: *mut mlua::ffi::lua_State) -> std::ffi::c_int {
    // SAFETY: as `forward`'s.
    unsafe { forward(l, CALL_KEY) }
}

unsafe extern "C-unwind" fn forward_pcall(l: *mut mlua::ffi::lua_State) -> std::ffi::c_int {
    // SAFETY: as `forward`'s.
    unsafe { forward(l, PCALL_KEY) }
}

/// One argument of `redis.call` as bytes: a string, or a number as Lua writes it.
fn call_arg(lua: &Lua, v: LuaValue) -> Option<Vec<u8>> {
    match v {
        LuaValue::String(s) => Some(s.as_bytes().to_vec()),
        LuaValue::Integer(_) | LuaValue::Number(_) => lua.coerce_string(v).ok().flatten().map(|s| s.as_bytes().to_vec()),
        _ => None,
    }
}

/// The arguments `redis.call` got: as they came, or (after the `packed` marker) their count
/// and the table holding them. None if one is neither a string nor a number.
fn call_args(lua: &Lua, argv: MultiValue) -> Option<Vec<Vec<u8>>> {
    let packed = matches!(argv.front(), Some(LuaValue::LightUserData(m)) if *m == packed_marker());
    if packed {
        let (Some(LuaValue::Integer(n)), Some(LuaValue::Table(t))) = (argv.get(1), argv.get(2)) else { return None };
        // One handle at a time: each argument is copied out and its handle dropped.
        return (1..=*n).map(|i| call_arg(lua, t.raw_get(i).ok()?)).collect();
    }
    argv.into_iter().map(|v| call_arg(lua, v)).collect()
}

/// `redis.pcall(...)`: run one command in the script's context.
fn call_command(ctx: &mut Ctx<'_>, lua: &Lua, argv: MultiValue, read_only: bool) -> Reply {
    if argv.is_empty() {
        return Reply::err("ERR Please specify at least one argument for this redis lib call");
    }
    let Some(owned) = call_args(lua, argv) else {
        return Reply::err("ERR Lua redis lib command arguments must be strings or integers");
    };
    let argv: Vec<&[u8]> = owned.iter().map(Vec::as_slice).collect();
    let Some(spec) = super::find(argv[0]) else { return Reply::err("ERR Unknown Redis command called from script") };
    if spec.flags & BLOCKING != 0 && matches!(spec.name, "xread" | "xreadgroup") {
        // XREAD's options come before STREAMS; a BLOCK there is refused, in the name as typed.
        let streams = argv.iter().position(|a| is(a, "STREAMS")).unwrap_or(argv.len());
        if argv[1..streams].iter().any(|a| is(a, "BLOCK")) {
            return Reply::err_owned(format!(
                "ERR {} command is not allowed with BLOCK option from scripts",
                String::from_utf8_lossy(argv[0])
            ));
        }
    } else if spec.flags & (TXN | BLOCKING) != 0 || NOT_IN_SCRIPTS.contains(&spec.name) {
        return Reply::err("ERR This Redis command is not allowed from script");
    }
    if !spec.arity_ok(argv.len()) {
        return Reply::err("ERR Wrong number of args calling Redis command from script");
    }
    if spec.is_write() {
        if read_only {
            return Reply::err("ERR Write commands are not allowed from read-only scripts.");
        }
        if let Err(e) = ctx.keyspace().check_writable() {
            return e;
        }
    }
    let dirty = ctx.dirty;
    let in_script = std::mem::replace(&mut ctx.in_script, true);
    let reply = super::run_locked(ctx, spec, &argv);
    ctx.in_script = in_script;
    if ctx.dirty != dirty {
        ctx.keyspace().scripts.wrote.store(true, Ordering::SeqCst);
    }
    resp2_shape(spec.name, reply)
}

/// Scripts speak RESP2: the replies that RESP3 sends as `[member, score]` pairs are flat
/// there (the scores become strings in `reply_to_lua`), and XREAD's map of streams is an
/// array of `[stream, entries]` pairs (a map would flatten). Geo coordinates are bulk strings.
fn resp2_shape(name: &str, reply: Reply) -> Reply {
    fn flatten(reply: Reply) -> Reply {
        match reply {
            Reply::Array(items) if !items.is_empty() && items.iter().all(|i| matches!(i, Reply::Array(p) if p.len() == 2)) => {
                Reply::Array(items.into_iter().flat_map(|i| if let Reply::Array(p) = i { p } else { Vec::new() }).collect())
            }
            other => other,
        }
    }
    match name {
        "zrange" | "zrangebyscore" | "zrevrange" | "zrevrangebyscore" | "zpopmin" | "zpopmax" | "zrandmember" | "zunion" | "zinter"
        | "zdiff" | "hrandfield" => flatten(reply),
        "zmpop" => match reply {
            Reply::Array(mut kv) if kv.len() == 2 => {
                let pairs = kv.pop().map(flatten).unwrap_or(Reply::Nil);
                kv.push(pairs);
                Reply::Array(kv)
            }
            other => other,
        },
        // Coordinates are RESP3 doubles; RESP2 sends their text as bulk strings.
        "geopos" | "georadius" | "georadius_ro" | "georadiusbymember" | "georadiusbymember_ro" | "geosearch" => {
            super::geo::coords_as_bulk(reply)
        }
        "xread" | "xreadgroup" => match reply {
            Reply::Map(streams) => Reply::Array(streams.into_iter().map(|(k, v)| Reply::Array(vec![k, v])).collect()),
            other => other,
        },
        _ => reply,
    }
}

/// A command's reply as the script sees it.
fn reply_to_lua(lua: &Lua, reply: Reply) -> mlua::Result<LuaValue> {
    Ok(match reply {
        Reply::Nil => LuaValue::Boolean(false),
        Reply::Int(i) => LuaValue::Number(i as f64),
        Reply::Double(d) => LuaValue::String(lua.create_string(Reply::format_double(d))?),
        Reply::Bulk(b) => LuaValue::String(lua.create_string(&b)?),
        Reply::Status(s) => {
            let t = lua.create_table()?;
            t.set("ok", s.as_ref())?;
            LuaValue::Table(t)
        }
        Reply::Error(e) => {
            let t = lua.create_table()?;
            t.set("err", e.as_ref())?;
            LuaValue::Table(t)
        }
        Reply::Array(items) => {
            let t = lua.create_table_with_capacity(items.len(), 0)?;
            for (i, item) in items.into_iter().enumerate() {
                t.raw_set(i + 1, reply_to_lua(lua, item)?)?;
            }
            LuaValue::Table(t)
        }
        // RESP2 flattens a map into an array of alternating keys and values.
        Reply::Map(pairs) => {
            let t = lua.create_table_with_capacity(pairs.len() * 2, 0)?;
            for (i, (k, v)) in pairs.into_iter().enumerate() {
                t.raw_set(2 * i + 1, reply_to_lua(lua, k)?)?;
                t.raw_set(2 * i + 2, reply_to_lua(lua, v)?)?;
            }
            LuaValue::Table(t)
        }
    })
}

/// C's `(long long)` conversion of a Lua number as x86-64 does it (`cvttsd2si`): truncated
/// towards zero, and NaN or anything outside the `i64` range is `i64::MIN` (Redis returns
/// that for `0/0`, `1/0`, `1e30`).
fn c_long_long(n: f64) -> i64 {
    // 2^63 is exact in an f64: the range is [-2^63, 2^63).
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if n.is_nan() || !(-LIMIT..LIMIT).contains(&n) {
        i64::MIN
    } else {
        n as i64
    }
}

/// The script's return value as a reply.
fn lua_to_reply(v: &LuaValue) -> Reply {
    match v {
        LuaValue::Nil | LuaValue::Boolean(false) => Reply::Nil,
        LuaValue::Boolean(true) => Reply::Int(1),
        LuaValue::Integer(i) => Reply::Int(*i),
        LuaValue::Number(n) => Reply::Int(c_long_long(*n)),
        LuaValue::String(s) => Reply::Bulk(s.as_bytes().to_vec()),
        LuaValue::Table(t) => {
            if let Ok(LuaValue::String(e)) = t.raw_get::<LuaValue>("err") {
                return Reply::err_owned(e.to_string_lossy());
            }
            if let Ok(LuaValue::String(s)) = t.raw_get::<LuaValue>("ok") {
                return Reply::Status(s.to_string_lossy().into());
            }
            // Redis 7's `{double = n}`: a double reply (a bulk string in RESP2).
            match t.raw_get::<LuaValue>("double") {
                Ok(LuaValue::Number(n)) => return Reply::Double(n),
                Ok(LuaValue::Integer(i)) => return Reply::Double(i as f64),
                _ => {}
            }
            let mut items = Vec::new();
            for i in 1.. {
                match t.raw_get::<LuaValue>(i) {
                    Ok(LuaValue::Nil) | Err(_) => break,
                    Ok(item) => items.push(lua_to_reply(&item)),
                }
            }
            Reply::Array(items)
        }
        _ => Reply::Nil,
    }
}

/// The reply for an error the script raised (`value` is Lua's error object).
fn error_reply(value: &LuaValue, sha: &str, chunk: &str) -> Reply {
    match value {
        // A `redis.error_reply` table passed to `error`.
        LuaValue::Table(t) => {
            let err = match t.raw_get::<LuaValue>("err") {
                Ok(LuaValue::String(s)) => s.to_string_lossy(),
                _ => "ERR unknown error".to_string(),
            };
            let line = t.raw_get::<i64>("line").unwrap_or(0);
            Reply::err_owned(format!("{err} script: {sha}, on @{chunk}:{line}."))
        }
        LuaValue::String(s) => {
            let msg = s.to_string_lossy();
            Reply::err_owned(format!("ERR {msg} script: {sha}, on @{chunk}:{}.", line_of(&msg, chunk)))
        }
        LuaValue::Error(e) => {
            if let Some(failed) = call_failed(e) {
                return Reply::err_owned(format!("{} script: {sha}, on @{chunk}:{}.", failed.err, failed.line));
            }
            if let Some(k) = killed(e) {
                return Reply::err_owned(format!("{KILLED} script: {sha}, on @{chunk}:{}.", k.line));
            }
            let msg = root_message(e);
            Reply::err_owned(format!("ERR {msg} script: {sha}, on @{chunk}:{}.", line_of(&msg, chunk)))
        }
        other => Reply::err_owned(format!("ERR {other:?} script: {sha}, on @{chunk}:0.")),
    }
}

/// A script or function stopped by SCRIPT KILL / FUNCTION KILL, at this line.
#[derive(Debug)]
struct Killed {
    line: usize,
}

impl std::fmt::Display for Killed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(KILLED)
    }
}

impl std::error::Error for Killed {}

const KILLED: &str = "ERR Script killed by user with SCRIPT KILL...";

/// The kill inside an error, if that is what it is.
fn killed(e: &mlua::Error) -> Option<&Killed> {
    match e {
        mlua::Error::CallbackError { cause, .. } => killed(cause),
        mlua::Error::ExternalError(inner) => inner.downcast_ref::<Killed>(),
        _ => None,
    }
}

/// The `redis.call` failure inside an error, if that is what it is.
fn call_failed(e: &mlua::Error) -> Option<&CallFailed> {
    match e {
        mlua::Error::CallbackError { cause, .. } => call_failed(cause),
        mlua::Error::ExternalError(inner) => inner.downcast_ref::<CallFailed>(),
        _ => None,
    }
}

/// The innermost message of an error raised from Rust (the callback wrapper adds a traceback).
fn root_message(e: &mlua::Error) -> String {
    match e {
        mlua::Error::CallbackError { cause, .. } => root_message(cause),
        mlua::Error::RuntimeError(m) => m.clone(),
        other => other.to_string(),
    }
}

/// The line number of a `<chunk>:<line>: ...` message (0 if there is none).
fn line_of(msg: &str, chunk: &str) -> i64 {
    msg.strip_prefix(chunk).and_then(|r| r.strip_prefix(':')).and_then(|r| r.split(':').next()).and_then(|n| n.parse().ok()).unwrap_or(0)
}

/// `scriptKill`: SCRIPT KILL (`eval`) stops an EVAL script, FUNCTION KILL a function.
pub(super) fn kill(ctx: &Ctx<'_>, eval: bool) -> CmdResult {
    let scripts = &ctx.keyspace().scripts;
    let Some(running) = scripts.running_now() else { return Err(Reply::err("NOTBUSY No scripts in execution right now.")) };
    if scripts.wrote.load(Ordering::SeqCst) {
        return Err(Reply::err(
            "UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.",
        ));
    }
    match (running, eval) {
        (Running::Function { .. }, true) => {
            Err(Reply::err("BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE."))
        }
        (Running::Eval, false) => Err(Reply::err("BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.")),
        _ => {
            scripts.kill.store(true, Ordering::SeqCst);
            Ok(Reply::OK)
        }
    }
}

/// `SCRIPT LOAD|EXISTS|FLUSH|KILL|HELP`.
fn script(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let scripts = &ctx.keyspace().scripts;
    let sub = a[1];
    if is(sub, "LOAD") {
        if a.len() != 3 {
            return Err(super::subcommand_arity("script", sub));
        }
        let sha = sha1_hex(a[2]);
        scripts.cache.lock().entry(sha.clone()).or_insert_with(|| Arc::from(a[2]));
        return Ok(Reply::Bulk(sha.into_bytes()));
    }
    if is(sub, "EXISTS") {
        if a.len() < 3 {
            return Err(super::subcommand_arity("script", sub));
        }
        let cache = scripts.cache.lock();
        let found = a[2..].iter().map(|s| Reply::Int(i64::from(cache.contains_key(&String::from_utf8_lossy(s).to_ascii_lowercase()))));
        return Ok(Reply::Array(found.collect()));
    }
    if is(sub, "FLUSH") {
        match a.len() {
            2 => {}
            3 if is(a[2], "ASYNC") || is(a[2], "SYNC") => {}
            _ => return Err(Reply::err("ERR SCRIPT FLUSH only support SYNC|ASYNC option")),
        }
        scripts.cache.lock().clear();
        if let Some(engine) = scripts.engine.lock().as_ref() {
            engine.compiled.borrow_mut().clear();
            engine.lua.expire_registry_values();
        }
        return Ok(Reply::OK);
    }
    if is(sub, "KILL") {
        if a.len() != 2 {
            return Err(super::subcommand_arity("script", sub));
        }
        return kill(ctx, true);
    }
    if is(sub, "HELP") && a.len() == 2 {
        let lines = [
            "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "EXISTS <sha1> [<sha1> ...]",
            "    Return information about the existence of the scripts in the script cache.",
            "FLUSH [ASYNC|SYNC]",
            "    Flush the Lua scripts cache.",
            "KILL",
            "    Kill the currently executing Lua script.",
            "LOAD <script>",
            "    Load a script into the scripts cache without executing it.",
            "HELP",
            "    Prints this help.",
        ];
        return Ok(super::help_reply(&lines));
    }
    if is(sub, "HELP") {
        return Err(super::subcommand_arity("script", sub));
    }
    Err(super::unknown_subcommand(sub, "SCRIPT"))
}

#[cfg(test)]
mod tests {
    use crate::reply::Reply;
    use crate::Db;

    fn run(db: &Db, argv: &[&str]) -> Reply {
        let argv: Vec<&[u8]> = argv.iter().map(|s| s.as_bytes()).collect();
        db.execute(&argv)
    }

    #[test]
    fn conversions_follow_redis() {
        let db = Db::open_in_memory();
        assert_eq!(run(&db, &["EVAL", "return 1", "0"]), Reply::Int(1));
        assert_eq!(run(&db, &["EVAL", "return 3.99", "0"]), Reply::Int(3));
        assert_eq!(run(&db, &["EVAL", "return -3.99", "0"]), Reply::Int(-3));
        assert_eq!(run(&db, &["EVAL", "return 'x'", "0"]), Reply::Bulk(b"x".to_vec()));
        assert_eq!(run(&db, &["EVAL", "return true", "0"]), Reply::Int(1));
        assert_eq!(run(&db, &["EVAL", "return false", "0"]), Reply::Nil);
        assert_eq!(run(&db, &["EVAL", "return nil", "0"]), Reply::Nil);
        assert_eq!(
            run(&db, &["EVAL", "return {1, 'a', {2}, nil, 5}", "0"]),
            Reply::Array(vec![Reply::Int(1), Reply::Bulk(b"a".to_vec()), Reply::Array(vec![Reply::Int(2)])])
        );
        assert_eq!(run(&db, &["EVAL", "return {ok='FINE'}", "0"]), Reply::Status("FINE".into()));
        assert_eq!(run(&db, &["EVAL", "return redis.status_reply('FINE')", "0"]), Reply::Status("FINE".into()));
        assert_eq!(run(&db, &["EVAL", "return redis.error_reply('MY bad')", "0"]), Reply::err("MY bad"));
        assert_eq!(
            run(&db, &["EVAL", "return {KEYS[1], KEYS[2], ARGV[1], #ARGV}", "2", "k1", "k2", "a1", "a2"]),
            Reply::Array(vec![Reply::Bulk(b"k1".to_vec()), Reply::Bulk(b"k2".to_vec()), Reply::Bulk(b"a1".to_vec()), Reply::Int(2)])
        );
        // Command replies inside the script: nil is false, status a table, integers numbers.
        run(&db, &["SET", "s", "v"]);
        assert_eq!(run(&db, &["EVAL", "return redis.call('GET', 'missing') == false", "0"]), Reply::Int(1));
        assert_eq!(run(&db, &["EVAL", "return redis.call('SET', 'a', 'b')['ok']", "0"]), Reply::Bulk(b"OK".to_vec()));
        assert_eq!(run(&db, &["EVAL", "return redis.call('SET', 'a', 'b')", "0"]), Reply::OK);
        assert_eq!(run(&db, &["EVAL", "return redis.call('INCRBY', 'n', 5) + 1", "0"]), Reply::Int(6));
        assert_eq!(
            run(&db, &["EVAL", "redis.call('ZADD', 'z', 1.5, 'm') return redis.call('ZSCORE', 'z', 'm')", "0"]),
            Reply::Bulk(b"1.5".to_vec())
        );
        assert_eq!(run(&db, &["EVAL", "return redis.call('INCRBY', 'n', 2.0)", "0"]), Reply::Int(7));
        // RESP2 shapes inside scripts: WITHSCORES flat, scores as strings.
        assert_eq!(
            run(&db, &["EVAL", "redis.call('ZADD', 'z', 2, 'b') return redis.call('ZRANGE', 'z', 0, -1, 'WITHSCORES')", "0"]),
            Reply::Array(vec![
                Reply::Bulk(b"m".to_vec()),
                Reply::Bulk(b"1.5".to_vec()),
                Reply::Bulk(b"b".to_vec()),
                Reply::Bulk(b"2".to_vec())
            ])
        );
    }

    #[test]
    fn the_guide_lock_release_is_atomic_check_and_delete() {
        let db = Db::open_in_memory();
        let release = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";
        run(&db, &["SET", "lock:x", "me", "PX", "10000", "NX"]);
        assert_eq!(run(&db, &["EVAL", release, "1", "lock:x", "someone-else"]), Reply::Int(0));
        assert_eq!(run(&db, &["EXISTS", "lock:x"]), Reply::Int(1));
        assert_eq!(run(&db, &["EVAL", release, "1", "lock:x", "me"]), Reply::Int(1));
        assert_eq!(run(&db, &["EXISTS", "lock:x"]), Reply::Int(0));
    }

    #[test]
    fn errors_have_redis_shapes() {
        let db = Db::open_in_memory();
        run(&db, &["SET", "s", "v"]);
        let sha = super::sha1_hex(b"return redis.call('LPUSH', 's', 'x')");
        let Reply::Error(e) = run(&db, &["EVAL", "return redis.call('LPUSH', 's', 'x')", "0"]) else { panic!("error expected") };
        assert_eq!(e, format!("WRONGTYPE Operation against a key holding the wrong kind of value script: {sha}, on @user_script:1."));
        // pcall hands the error back as a table.
        assert_eq!(
            run(&db, &["EVAL", "local r = redis.pcall('LPUSH', 's', 'x') return r['err']", "0"]),
            Reply::Bulk(b"WRONGTYPE Operation against a key holding the wrong kind of value".to_vec())
        );
        let Reply::Error(e) = run(&db, &["EVAL", "return x + 1", "0"]) else { panic!() };
        assert!(e.starts_with("ERR ") && e.contains("Script attempted to access nonexistent global variable 'x'"), "{e}");
        let Reply::Error(e) = run(&db, &["EVAL", "return (", "0"]) else { panic!() };
        assert!(e.starts_with("ERR Error compiling script (new function): user_script:1:"), "{e}");
        assert_eq!(
            run(&db, &["EVAL", "return redis.call('NOPE')", "0"])
                .error_text()
                .map(|e| e.starts_with("ERR Unknown Redis command called from script")),
            Some(true)
        );
        assert_eq!(
            run(&db, &["EVAL", "return redis.pcall('GET')", "0"]),
            Reply::err("ERR Wrong number of args calling Redis command from script")
        );
        assert_eq!(
            run(&db, &["EVAL", "return redis.pcall('EVAL', 'return 1', '0')", "0"]),
            Reply::err("ERR This Redis command is not allowed from script")
        );
        assert_eq!(
            run(&db, &["EVAL", "return redis.pcall('MULTI')", "0"]),
            Reply::err("ERR This Redis command is not allowed from script")
        );
        assert_eq!(
            run(&db, &["EVAL", "return redis.pcall('GET', {})", "0"]),
            Reply::err("ERR Lua redis lib command arguments must be strings or integers")
        );
        assert_eq!(run(&db, &["EVAL", "return 1", "-1"]), Reply::err("ERR Number of keys can't be negative"));
        assert_eq!(run(&db, &["EVAL", "return 1", "2", "a"]), Reply::err("ERR Number of keys can't be greater than number of args"));
        assert_eq!(run(&db, &["EVAL", "return 1", "x"]), Reply::err("ERR value is not an integer or out of range"));
        assert_eq!(
            run(&db, &["EVAL_RO", "return redis.pcall('SET', 'a', 'b')", "0"]),
            Reply::err("ERR Write commands are not allowed from read-only scripts.")
        );
        assert_eq!(run(&db, &["EVAL_RO", "return redis.call('GET', 's')", "0"]), Reply::Bulk(b"v".to_vec()));
        // No file or OS access.
        assert!(run(&db, &["EVAL", "return io.open('/etc/passwd')", "0"]).is_error());
        assert!(run(&db, &["EVAL", "return os.time()", "0"]).is_error());
        assert!(run(&db, &["EVAL", "return dofile('/etc/passwd')", "0"]).is_error());
    }

    /// Each compiled body is kept in the Lua registry: 20,000 distinct scripts (more than
    /// mlua's ~8,000 reference slots) run, and run again from the cache after SCRIPT FLUSH
    /// emptied it once.
    #[test]
    fn more_distinct_scripts_than_lua_reference_slots() {
        let db = Db::open_in_memory();
        for round in 0..2 {
            for i in 0..20_000 {
                let body = format!("return {i}");
                assert_eq!(run(&db, &["EVAL", &body, "0"]), Reply::Int(i), "round {round}, script {i}");
            }
            assert_eq!(run(&db, &["EVAL", "return 19999", "0"]), Reply::Int(19_999));
            assert_eq!(run(&db, &["SCRIPT", "FLUSH"]), Reply::OK);
        }
    }

    /// Thousands of KEYS and ARGV, and a command called with all of them (`unpack(ARGV)`, up
    /// to Lua 5.1's C stack limit): nothing holds one mlua reference per argument at once.
    #[test]
    fn thousands_of_arguments() {
        let db = Db::open_in_memory();
        let members: Vec<String> = (0..7_900).map(|i| format!("m{i}")).collect();
        let mut argv: Vec<&str> = vec!["EVAL", "return redis.call('sadd', KEYS[1], unpack(ARGV))", "1", "s"];
        argv.extend(members.iter().map(String::as_str));
        assert_eq!(run(&db, &argv), Reply::Int(7_900));
        let keys: Vec<String> = (0..20_000).map(|i| format!("k{i}")).collect();
        let mut argv: Vec<&str> = vec!["EVAL", "return #KEYS + #ARGV"];
        let n = keys.len().to_string();
        argv.push(&n);
        argv.extend(keys.iter().map(String::as_str));
        argv.extend(members.iter().map(String::as_str));
        assert_eq!(run(&db, &argv), Reply::Int(27_900));
    }

    #[test]
    fn globals_do_not_leak_between_runs() {
        let db = Db::open_in_memory();
        assert_eq!(run(&db, &["EVAL", "leaked = 5 return leaked", "0"]), Reply::Int(5));
        assert!(run(&db, &["EVAL", "return leaked", "0"]).is_error());
        // Scripts cannot replace the redis library for later runs either.
        run(&db, &["EVAL", "redis = nil return 1", "0"]);
        let Reply::Error(e) = run(&db, &["EVAL", "redis.call = nil return 1", "0"]) else { panic!("the library is read-only") };
        assert!(e.contains("Attempt to modify a readonly table"), "{e}");
        assert_eq!(run(&db, &["EVAL", "return redis.call('PING')", "0"]), Reply::Status("PONG".into()));
    }

    #[test]
    fn script_cache_and_evalsha() {
        let db = Db::open_in_memory();
        let sha = super::sha1_hex(b"return ARGV[1]");
        assert_eq!(run(&db, &["EVALSHA", &sha, "0", "x"]), Reply::err("NOSCRIPT No matching script. Please use EVAL."));
        assert_eq!(run(&db, &["SCRIPT", "LOAD", "return ARGV[1]"]), Reply::Bulk(sha.clone().into_bytes()));
        assert_eq!(run(&db, &["EVALSHA", &sha.to_uppercase(), "0", "x"]), Reply::Bulk(b"x".to_vec()));
        assert_eq!(run(&db, &["SCRIPT", "EXISTS", &sha, "0000"]), Reply::Array(vec![Reply::Int(1), Reply::Int(0)]));
        assert_eq!(run(&db, &["SCRIPT", "FLUSH"]), Reply::OK);
        assert_eq!(run(&db, &["SCRIPT", "EXISTS", &sha]), Reply::Array(vec![Reply::Int(0)]));
        // EVAL caches what it runs.
        run(&db, &["EVAL", "return ARGV[1]", "0", "y"]);
        assert_eq!(run(&db, &["EVALSHA", &sha, "0", "z"]), Reply::Bulk(b"z".to_vec()));
        assert_eq!(run(&db, &["EVAL", "return redis.sha1hex('')", "0"]), Reply::Bulk(b"da39a3ee5e6b4b0d3255bfef95601890afd80709".to_vec()));
        assert_eq!(run(&db, &["SCRIPT", "KILL"]), Reply::err("NOTBUSY No scripts in execution right now."));
    }

    #[test]
    fn script_kill_stops_a_read_only_loop() {
        let db = Db::open_in_memory();
        let other = db.clone();
        let killer = std::thread::spawn(move || loop {
            std::thread::sleep(std::time::Duration::from_millis(20));
            if run(&other, &["SCRIPT", "KILL"]) == Reply::OK {
                return;
            }
        });
        let reply = run(&db, &["EVAL", "while true do end", "0"]);
        killer.join().unwrap();
        assert_eq!(reply.error_text().map(|e| e.starts_with("ERR Script killed by user with SCRIPT KILL")), Some(true), "{reply:?}");
        // The interpreter is usable afterwards.
        assert_eq!(run(&db, &["EVAL", "return 2", "0"]), Reply::Int(2));
    }

    /// A script's own pcall or xpcall cannot catch the kill.
    #[test]
    fn script_kill_is_not_caught_by_pcall() {
        let db = Db::open_in_memory();
        for body in [
            "local ok = pcall(function() while true do end end) return 'survived'",
            "local ok = xpcall(function() while true do end end, function(e) return e end) return 'survived'",
        ] {
            let other = db.clone();
            let killer = std::thread::spawn(move || loop {
                std::thread::sleep(std::time::Duration::from_millis(20));
                if run(&other, &["SCRIPT", "KILL"]) == Reply::OK {
                    return;
                }
            });
            let reply = run(&db, &["EVAL", body, "0"]);
            killer.join().unwrap();
            assert_eq!(
                reply.error_text().map(|e| e.starts_with("ERR Script killed by user with SCRIPT KILL")),
                Some(true),
                "{body}: {reply:?}"
            );
        }
        assert_eq!(run(&db, &["EVAL", "return 2", "0"]), Reply::Int(2));
    }

    #[test]
    fn the_log_gets_the_effects_and_replay_never_runs_lua() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let popped = {
            let db = Db::open(&path, crate::Options::default()).unwrap();
            run(&db, &["SADD", "s", "a", "b", "c", "d"]);
            // SPOP picks at random: replaying the script would pick differently, its effect not.
            let popped = run(&db, &["EVAL", "redis.call('SET', 'k', 'v', 'PX', 100000) return redis.call('SPOP', KEYS[1], 2)", "1", "s"]);
            // A script that fails half-way keeps what it did before the failure (as Redis).
            assert!(run(&db, &["EVAL", "redis.call('INCR', 'n') redis.call('LPUSH', 'k', 'x')", "0"]).is_error());
            popped
        };
        let db = Db::open(&path, crate::Options::default()).unwrap();
        let Reply::Array(popped) = popped else { panic!("{popped:?}") };
        for p in &popped {
            assert_eq!(run(&db, &["SISMEMBER", "s", std::str::from_utf8(p.as_bytes().unwrap()).unwrap()]), Reply::Int(0));
        }
        assert_eq!(run(&db, &["SCARD", "s"]), Reply::Int(2));
        assert_eq!(run(&db, &["GET", "k"]), Reply::Bulk(b"v".to_vec()));
        assert!(matches!(run(&db, &["PTTL", "k"]), Reply::Int(t) if t > 0));
        assert_eq!(run(&db, &["GET", "n"]), Reply::Bulk(b"1".to_vec()));
    }

    #[test]
    fn a_script_is_atomic_against_other_threads() {
        let db = Db::open_in_memory();
        let incr = "local v = tonumber(redis.call('GET', KEYS[1]) or '0') redis.call('SET', KEYS[1], v + 1) return v + 1";
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let db = db.clone();
                std::thread::spawn(move || {
                    for _ in 0..250 {
                        assert!(!run(&db, &["EVAL", incr, "1", "counter"]).is_error());
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(run(&db, &["GET", "counter"]), Reply::Bulk(b"1000".to_vec()));
    }
}
