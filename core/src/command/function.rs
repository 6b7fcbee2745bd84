//! Redis functions (Redis 7.0's `functions.c` and `function_lua.c`): FUNCTION LOAD, DELETE,
//! FLUSH, LIST, DUMP, RESTORE, STATS, KILL and HELP, and FCALL / FCALL_RO.
//!
//! - **Libraries**: `FUNCTION LOAD "#!lua name=<lib>\n<code>"` runs the code once, in an
//!   environment that holds only `redis.register_function`, `redis.log` and the `LOG_*`
//!   constants (anything else is "Script attempted to access nonexistent global variable"),
//!   with its globals read-only. Each registered callback keeps that environment; once the
//!   load is over, the environment reads through to the full scripting API (`redis.call`,
//!   `string`, `math`...), still read-only. A library is all or nothing: any error leaves the
//!   registry as it was.
//! - **Registry** (`Libraries`, inside the interpreter's `Engine`): libraries by name, and a
//!   case-insensitive index of function names (Redis's functions dict compares names without
//!   case; a library's own list is case-sensitive). Counts for FUNCTION STATS are mirrored in
//!   `Scripts::function_counts`, readable while a function runs.
//! - **FCALL** runs a callback as EVAL runs a script (`script::run`): every shard locked, the
//!   effects of its commands logged, never the call. `no-writes` makes it read-only (and is
//!   required by FCALL_RO); `allow-oom` lets it run, and call DENYOOM commands, over maxmemory.
//!   `allow-stale`, `no-cluster` and `allow-cross-slot-keys` are kept and listed; nestdb has
//!   no replicas or cluster for them to change anything.
//! - **Durability**: FUNCTION LOAD / DELETE / FLUSH / RESTORE lock every shard (so they are
//!   ordered with the snapshot cut) and log their effect: `FUNCTION LOAD REPLACE <code>` per
//!   library added or replaced, `FUNCTION DELETE`, `FUNCTION FLUSH`. Snapshots keep each
//!   library's code (`codec`'s entry type 9), loaded again at open.
//! - **DUMP / RESTORE** use Redis's payload: per library the RDB opcode 245 and the code as an
//!   RDB string, then the RDB version (10, Redis 7.0's) and a CRC-64 (Jones, Redis's `crc64`),
//!   so payloads move between nestdb and redis-server. nestdb writes the code uncompressed and
//!   reads LZF-compressed strings too (redis-server compresses code over 20 bytes).

use std::collections::{BTreeMap, HashMap};

use mlua::{Function, Lua, RegistryKey, Table, Value as LuaValue};

use super::args::is;
use super::script::{self, Engine, Target};
use super::{CmdResult, CommandSpec, ALL_SHARDS, WRITE};
use crate::keyspace::Ctx;
use crate::reply::Reply;

const NONE: (i32, i32, i32) = (0, 0, 0);

pub(crate) const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("function", -2, WRITE, NONE, function).with_all_shards_if(changes_libraries),
    CommandSpec::new("fcall", -3, WRITE | ALL_SHARDS, NONE, fcall),
    CommandSpec::new("fcall_ro", -3, ALL_SHARDS, NONE, fcall_ro),
];

/// FUNCTION subcommands that change the registry lock every shard (see the module comment);
/// the others (LIST, STATS, KILL...) take no lock, so KILL and STATS answer while one runs.
fn changes_libraries(a: &[&[u8]]) -> bool {
    ["LOAD", "DELETE", "FLUSH", "RESTORE"].iter().any(|s| is(a[1], s))
}

/// The script flags, in Redis's order (`scripts_flags_def`), with their bits.
const FLAGS: [(&str, u8); 5] = [("no-writes", 1), ("allow-oom", 2), ("allow-stale", 4), ("no-cluster", 8), ("allow-cross-slot-keys", 16)];
pub(crate) const NO_WRITES: u8 = 1;
pub(crate) const ALLOW_OOM: u8 = 2;

/// The RDB opcode of a function library (Redis 7.0 `RDB_OPCODE_FUNCTION2`).
const RDB_OPCODE_FUNCTION2: u8 = 245;
/// The RDB version a DUMP payload carries (Redis 7.0's).
const RDB_VERSION: u16 = 10;

const NAME_RULE: &str = "Library names can only contain letters, numbers, or underscores(_) and must be at least one character long";

/// One registered function.
pub(crate) struct FunctionInfo {
    name: Vec<u8>,
    description: Option<Vec<u8>>,
    flags: u8,
    callback: RegistryKey,
}

impl FunctionInfo {
    pub(super) fn callback(&self) -> &RegistryKey {
        &self.callback
    }
}

/// A loaded library: its full code (shebang included, as FUNCTION LIST WITHCODE shows it) and
/// its functions in registration order.
pub(crate) struct Library {
    name: Vec<u8>,
    code: Vec<u8>,
    functions: Vec<FunctionInfo>,
}

/// Every library of a database, and where each function is.
#[derive(Default)]
pub(crate) struct Libraries {
    libs: BTreeMap<Vec<u8>, Library>,
    /// Lower-cased function name -> its library's name.
    index: HashMap<Vec<u8>, Vec<u8>>,
}

impl Libraries {
    fn counts(&self) -> (usize, usize) {
        (self.libs.len(), self.libs.values().map(|l| l.functions.len()).sum())
    }

    /// The function FCALL names, with its flags.
    pub(crate) fn find(&self, name: &[u8]) -> Option<(&FunctionInfo, &Library)> {
        let lib = self.libs.get(self.index.get(&name.to_ascii_lowercase())?)?;
        // The first of the library's functions with that name, whatever its case (as the
        // case-insensitive dict keeps the first one added).
        lib.functions.iter().find(|f| f.name.eq_ignore_ascii_case(name)).map(|f| (f, lib))
    }

    /// Unlink `name`'s library; its functions leave the index.
    fn unlink(&mut self, name: &[u8]) -> Option<Library> {
        let lib = self.libs.remove(name)?;
        self.index.retain(|_, l| l != name);
        Some(lib)
    }

    /// Link `lib` (no library of its name, none of its functions in the index).
    fn link(&mut self, lib: Library) {
        for f in &lib.functions {
            self.index.entry(f.name.to_ascii_lowercase()).or_insert_with(|| lib.name.clone());
        }
        self.libs.insert(lib.name.clone(), lib);
    }

    /// The first of `lib`'s functions another library already has, if any.
    fn collision<'l>(&self, lib: &'l Library) -> Option<&'l [u8]> {
        lib.functions.iter().find(|f| self.index.contains_key(&f.name.to_ascii_lowercase())).map(|f| &f.name[..])
    }

    /// Every library's name and code (snapshots).
    pub(crate) fn codes(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.libs.values().map(|l| (l.name.clone(), l.code.clone())).collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Loading a library
// ---------------------------------------------------------------------------------------------

/// What the shebang line says.
struct Metadata {
    name: Vec<u8>,
    engine: Vec<u8>,
    /// The code after the shebang, from its newline on (so line numbers stay the file's).
    body_at: usize,
}

/// `functionExtractLibMetaData`.
fn metadata(payload: &[u8]) -> Result<Metadata, String> {
    let c = c_str(payload);
    if !c.starts_with(b"#!") {
        return Err("Missing library metadata".into());
    }
    let Some(nl) = c.iter().position(|&b| b == b'\n') else { return Err("Invalid library metadata".into()) };
    let parts = match split_args(&c[..nl]) {
        Some(p) if !p.is_empty() => p,
        _ => return Err("Invalid library metadata".into()),
    };
    let engine = parts[0].get(2..).unwrap_or_default().to_vec();
    let mut name = None;
    for part in &parts[1..] {
        if part.len() >= 5 && part[..5].eq_ignore_ascii_case(b"name=") {
            if name.is_some() {
                return Err("Invalid metadata value, name argument was given multiple times".into());
            }
            name = Some(part[5..].to_vec());
            continue;
        }
        return Err(format!("Invalid metadata value given: {}", String::from_utf8_lossy(part)));
    }
    let name = name.ok_or("Library name was not given")?;
    Ok(Metadata { name, engine, body_at: nl })
}

/// Redis's `sdssplitargs` on a C string: blank-separated words, `"..."` with C escapes and
/// `\xHH`, `'...'` with `\'`; a closing quote must end the word. None on a syntax error.
fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let is_space = |c: u8| matches!(c, b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c');
    let at = |i: usize| line.get(i).copied().unwrap_or(0);
    let mut words = Vec::new();
    let mut p = 0;
    loop {
        while at(p) != 0 && is_space(at(p)) {
            p += 1;
        }
        if at(p) == 0 {
            return Some(words);
        }
        // Inside "double" or 'single' quotes; a closing quote must end the word.
        let mut quote: Option<u8> = None;
        let ends_word = |i: usize| at(i + 1) == 0 || is_space(at(i + 1));
        let mut done = false;
        let mut cur = Vec::new();
        while !done {
            let c = at(p);
            match quote {
                Some(b'"') if c == b'\\' && at(p + 1) == b'x' && at(p + 2).is_ascii_hexdigit() && at(p + 3).is_ascii_hexdigit() => {
                    let hex = |b: u8| (b as char).to_digit(16).unwrap_or(0) as u8;
                    cur.push(hex(at(p + 2)) * 16 + hex(at(p + 3)));
                    p += 3;
                }
                Some(b'"') if c == b'\\' && at(p + 1) != 0 => {
                    p += 1;
                    cur.push(match at(p) {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 8,
                        b'a' => 7,
                        other => other,
                    });
                }
                Some(b'\'') if c == b'\\' && at(p + 1) == b'\'' => {
                    p += 1;
                    cur.push(b'\'');
                }
                Some(q) if c == q => {
                    if !ends_word(p) {
                        return None;
                    }
                    done = true;
                }
                // An unterminated quote.
                Some(_) if c == 0 => return None,
                Some(_) => cur.push(c),
                None => match c {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => done = true,
                    b'"' | b'\'' => quote = Some(c),
                    _ => cur.push(c),
                },
            }
            if at(p) != 0 {
                p += 1;
            }
        }
        words.push(cur);
    }
}

fn c_str(b: &[u8]) -> &[u8] {
    &b[..b.iter().position(|&c| c == 0).unwrap_or(b.len())]
}

/// `functionsVerifyName`: `[A-Za-z0-9_]+`.
fn valid_name(name: &[u8]) -> bool {
    !name.is_empty() && name.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

/// A function as `redis.register_function` describes it, before it is checked into a library.
struct Registered {
    name: Vec<u8>,
    description: Option<Vec<u8>>,
    flags: u8,
    callback: Function,
}

/// Compile and run a library's code, collecting what it registers. Errors are Redis's texts
/// (without the leading "ERR ").
fn create_library(engine: &Engine, payload: &[u8], md: &Metadata) -> Result<Library, String> {
    let lua = &engine.lua;
    let env = engine.library_env().map_err(|e| e.to_string())?;
    let chunk = lua
        .load(&payload[md.body_at..])
        .set_name("@user_function")
        .set_environment(env.clone())
        .into_function()
        .map_err(|e| format!("Error compiling function: {}", script::syntax_message(e)))?;
    let registered: std::cell::RefCell<Vec<Registered>> = std::cell::RefCell::new(Vec::new());
    let outcome = lua.scope(|scope| {
        let register = scope.create_function(|lua, args: mlua::MultiValue| {
            let f = read_registration(lua, args).map_err(|e| mlua::Error::runtime(format!("ERR {e}")))?;
            let mut all = registered.borrow_mut();
            if !valid_name(&f.name) {
                return Err(mlua::Error::runtime(format!("ERR {NAME_RULE}")));
            }
            if all.iter().any(|g| g.name == f.name) {
                return Err(mlua::Error::runtime("ERR Function already exists in the library"));
            }
            all.push(f);
            Ok(())
        })?;
        let load_api = engine.load_api(register)?;
        env.set_metatable(Some(engine.library_meta(Some(load_api))?))?;
        chunk.call::<()>(())
    });
    // From now on the library's functions see the full API (read-only).
    let meta = engine.library_meta(None).map_err(|e| e.to_string())?;
    env.set_metatable(Some(meta)).map_err(|e| e.to_string())?;
    if let Err(e) = outcome {
        return Err(format!("Error registering functions: {}", script::load_error_message(&e)));
    }
    let registered = registered.into_inner();
    if registered.is_empty() {
        return Err("No functions registered".into());
    }
    let mut functions = Vec::with_capacity(registered.len());
    for r in registered {
        let callback = lua.create_registry_value(r.callback).map_err(|e| e.to_string())?;
        functions.push(FunctionInfo { name: r.name, description: r.description, flags: r.flags, callback });
    }
    Ok(Library { name: md.name.clone(), code: payload.to_vec(), functions })
}

/// `luaRegisterFunctionReadArgs`: `(name, callback)` or one table of named arguments.
fn read_registration(lua: &Lua, args: mlua::MultiValue) -> Result<Registered, &'static str> {
    let args: Vec<LuaValue> = args.into_iter().collect();
    let as_bytes = |v: &LuaValue| -> Option<Vec<u8>> {
        match v {
            LuaValue::String(s) => Some(s.as_bytes().to_vec()),
            LuaValue::Integer(_) | LuaValue::Number(_) => lua.coerce_string(v.clone()).ok().flatten().map(|s| s.as_bytes().to_vec()),
            _ => None,
        }
    };
    match args.len() {
        2 => {
            let name = as_bytes(&args[0]).ok_or("first argument to redis.register_function must be a string")?;
            let LuaValue::Function(callback) = &args[1] else {
                return Err("second argument to redis.register_function must be a function");
            };
            Ok(Registered { name, description: None, flags: 0, callback: callback.clone() })
        }
        1 => {
            let LuaValue::Table(t) = &args[0] else {
                return Err("calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).");
            };
            let (mut name, mut description, mut callback, mut flags) = (None, None, None, 0u8);
            for pair in t.clone().pairs::<LuaValue, LuaValue>() {
                let (k, v) = pair.map_err(|_| "unknown argument given to redis.register_function")?;
                let key = as_bytes(&k).ok_or("named argument key given to redis.register_function is not a string")?;
                if key.eq_ignore_ascii_case(b"function_name") {
                    name = Some(as_bytes(&v).ok_or("function_name argument given to redis.register_function must be a string")?);
                } else if key.eq_ignore_ascii_case(b"description") {
                    description = Some(as_bytes(&v).ok_or("description argument given to redis.register_function must be a string")?);
                } else if key.eq_ignore_ascii_case(b"callback") {
                    let LuaValue::Function(f) = v else {
                        return Err("callback argument given to redis.register_function must be a function");
                    };
                    callback = Some(f);
                } else if key.eq_ignore_ascii_case(b"flags") {
                    let LuaValue::Table(list) = v else {
                        return Err("flags argument to redis.register_function must be a table representing function flags");
                    };
                    flags = read_flags(lua, &list).ok_or("unknown flag given")?;
                } else {
                    return Err("unknown argument given to redis.register_function");
                }
            }
            let name = name.ok_or("redis.register_function must get a function name argument")?;
            let callback = callback.ok_or("redis.register_function must get a callback argument")?;
            Ok(Registered { name, description, flags, callback })
        }
        _ => Err("wrong number of arguments to redis.register_function"),
    }
}

/// The flags of a `flags` table (its array part, up to the first nil); None on an unknown one.
fn read_flags(lua: &Lua, list: &Table) -> Option<u8> {
    let mut flags = 0;
    for i in 1.. {
        let v: LuaValue = list.raw_get(i).ok()?;
        let text = match &v {
            LuaValue::Nil => return Some(flags),
            LuaValue::String(s) => s.as_bytes().to_vec(),
            LuaValue::Integer(_) | LuaValue::Number(_) => lua.coerce_string(v.clone()).ok()??.as_bytes().to_vec(),
            _ => return None,
        };
        flags |= FLAGS.iter().find(|(name, _)| name.as_bytes().eq_ignore_ascii_case(&text))?.1;
    }
    Some(flags)
}

/// `functionsCreateWithLibraryCtx`: load `payload` into `libs` (replacing a library of its
/// name only with `replace`). Returns the library's name; on error `libs` is unchanged.
fn load_into(engine: &Engine, libs: &mut Libraries, payload: &[u8], replace: bool) -> Result<Vec<u8>, String> {
    let md = metadata(payload)?;
    if !valid_name(&md.name) {
        return Err(NAME_RULE.into());
    }
    if !md.engine.eq_ignore_ascii_case(b"lua") {
        return Err(format!("Engine '{}' not found", String::from_utf8_lossy(&md.engine)));
    }
    if libs.libs.contains_key(&md.name) && !replace {
        return Err(format!("Library '{}' already exists", String::from_utf8_lossy(&md.name)));
    }
    let old = libs.unlink(&md.name);
    let result = create_library(engine, payload, &md).and_then(|lib| match libs.collision(&lib) {
        Some(f) => Err(format!("Function {} already exists", String::from_utf8_lossy(f))),
        None => Ok(lib),
    });
    match result {
        Ok(lib) => {
            libs.link(lib);
            Ok(md.name)
        }
        Err(e) => {
            if let Some(old) = old {
                libs.link(old);
            }
            Err(e)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------------------------

fn fcall(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    fcall_generic(ctx, a, false)
}

fn fcall_ro(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    fcall_generic(ctx, a, true)
}

/// `fcallCommandGeneric`.
fn fcall_generic(ctx: &mut Ctx<'_>, a: &[&[u8]], ro: bool) -> CmdResult {
    let flags = {
        let scripts = &ctx.keyspace().scripts;
        let engine = scripts.engine.lock();
        match engine.as_ref().and_then(|e| e.libraries.find(a[1])) {
            Some((f, _)) => f.flags,
            None => return Err(Reply::err("ERR Function not found")),
        }
    };
    let numkeys = crate::util::num::parse_i64_strict(a[2]).ok_or_else(|| Reply::err("ERR Bad number of keys provided"))?;
    if numkeys > (a.len() - 3) as i64 {
        return Err(Reply::err("ERR Number of keys can't be greater than number of args"));
    }
    if numkeys < 0 {
        return Err(Reply::err("ERR Number of keys can't be negative"));
    }
    let read_only = flags & NO_WRITES != 0;
    if ro && !read_only {
        return Err(Reply::err("ERR Can not execute a script with write flag using *_ro command."));
    }
    // `scriptPrepareForRun`: a function that may write is refused over maxmemory unless it
    // says `allow-oom`.
    if !read_only && flags & ALLOW_OOM == 0 && ctx.out_of_memory() {
        return Err(Reply::err(crate::keyspace::evict::OOM));
    }
    let (keys, args) = a[3..].split_at(numkeys as usize);
    let argv: Vec<Vec<u8>> = a.iter().map(|x| x.to_vec()).collect();
    let reply = script::run(
        ctx,
        &script::Run { target: Target::Function { name: a[1], argv: &argv, allow_oom: flags & ALLOW_OOM != 0 }, keys, args, read_only },
    );
    // The effects of the commands it ran are what the log gets, never the FCALL.
    ctx.effect_described = true;
    Ok(reply)
}

/// `FUNCTION <subcommand> ...`.
fn function(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let sub = a[1];
    let arity_ok =
        |min: usize, max: usize| if (min..=max).contains(&a.len()) { Ok(()) } else { Err(super::subcommand_arity("function", sub)) };
    if is(sub, "LOAD") {
        arity_ok(3, usize::MAX)?;
        return load(ctx, a);
    }
    if is(sub, "DELETE") {
        arity_ok(3, 3)?;
        return with_libraries(ctx, |_, libs| match libs.unlink(a[2]) {
            Some(_) => Ok((Reply::OK, vec![vec![b"FUNCTION".to_vec(), b"DELETE".to_vec(), a[2].to_vec()]])),
            None => Err(Reply::err("ERR Library not found")),
        });
    }
    // `addReplySubcommandSyntaxError`, for the subcommands whose table arity has no maximum.
    let syntax = || {
        Reply::err_owned(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try FUNCTION HELP.",
            String::from_utf8_lossy(sub)
        ))
    };
    if is(sub, "FLUSH") {
        if a.len() > 3 {
            return Err(syntax());
        }
        if a.len() == 3 && !is(a[2], "SYNC") && !is(a[2], "ASYNC") {
            return Err(Reply::err("ERR FUNCTION FLUSH only supports SYNC|ASYNC option"));
        }
        return with_libraries(ctx, |_, libs| {
            *libs = Libraries::default();
            Ok((Reply::OK, vec![vec![b"FUNCTION".to_vec(), b"FLUSH".to_vec()]]))
        });
    }
    if is(sub, "LIST") {
        return list(ctx, a);
    }
    if is(sub, "DUMP") {
        arity_ok(2, 2)?;
        let engine = ctx.keyspace().scripts.engine.lock();
        let codes = engine.as_ref().map(|e| e.libraries.codes()).unwrap_or_default();
        return Ok(Reply::Bulk(dump(&codes)));
    }
    if is(sub, "RESTORE") {
        arity_ok(3, usize::MAX)?;
        if a.len() > 4 {
            return Err(syntax());
        }
        return restore(ctx, a);
    }
    if is(sub, "STATS") {
        arity_ok(2, 2)?;
        return stats(ctx);
    }
    if is(sub, "KILL") {
        arity_ok(2, 2)?;
        return script::kill(ctx, false);
    }
    if is(sub, "HELP") && a.len() == 2 {
        return Ok(super::help_reply(HELP));
    }
    if is(sub, "HELP") {
        return Err(super::subcommand_arity("function", sub));
    }
    Err(super::unknown_subcommand(sub, "FUNCTION"))
}

/// Run a change of the registry with the interpreter up; log the effects it returns.
fn with_libraries(
    ctx: &mut Ctx<'_>,
    change: impl FnOnce(&Engine, &mut Libraries) -> Result<(Reply, Vec<Vec<Vec<u8>>>), Reply>,
) -> CmdResult {
    let (reply, effects) = {
        let scripts = &ctx.keyspace().scripts;
        let mut guard = scripts.engine.lock();
        let engine = script::engine_up(scripts, &mut guard)?;
        let mut libs = std::mem::take(&mut engine.libraries);
        let outcome = change(engine, &mut libs);
        engine.libraries = libs;
        let counts = engine.libraries.counts();
        *scripts.function_counts.lock() = counts;
        outcome?
    };
    for argv in &effects {
        let argv: Vec<&[u8]> = argv.iter().map(Vec::as_slice).collect();
        ctx.log_as(&argv);
    }
    ctx.effect_described = true;
    ctx.dirty += effects.len() as u64;
    Ok(reply)
}

/// `FUNCTION LOAD [REPLACE] <code>`.
fn load(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let mut replace = false;
    let mut pos = 2;
    while pos < a.len() - 1 {
        if is(a[pos], "REPLACE") {
            replace = true;
            pos += 1;
            continue;
        }
        return Err(Reply::err_owned(format!("ERR Unknown option given: {}", String::from_utf8_lossy(c_str(a[pos])))));
    }
    let code = a[pos];
    with_libraries(ctx, |engine, libs| match load_into(engine, libs, code, replace) {
        Ok(name) => Ok((Reply::Bulk(name), vec![vec![b"FUNCTION".to_vec(), b"LOAD".to_vec(), b"REPLACE".to_vec(), code.to_vec()]])),
        Err(e) => Err(Reply::err_owned(format!("ERR {e}"))),
    })
}

/// `FUNCTION LIST [LIBRARYNAME pattern] [WITHCODE]`.
fn list(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let (mut with_code, mut pattern) = (false, None);
    let mut i = 2;
    while i < a.len() {
        if !with_code && is(a[i], "WITHCODE") {
            with_code = true;
        } else if pattern.is_none() && is(a[i], "LIBRARYNAME") {
            if i >= a.len() - 1 {
                return Err(Reply::err("ERR library name argument was not given"));
            }
            i += 1;
            pattern = Some(a[i]);
        } else {
            return Err(Reply::err_owned(format!("ERR Unknown argument {}", String::from_utf8_lossy(a[i]))));
        }
        i += 1;
    }
    let engine = ctx.keyspace().scripts.engine.lock();
    let Some(engine) = engine.as_ref() else { return Ok(Reply::Array(Vec::new())) };
    let bulk = |s: &str| Reply::Bulk(s.as_bytes().to_vec());
    let mut out = Vec::new();
    for lib in engine.libraries.libs.values() {
        if pattern.is_some_and(|p| !crate::util::glob::glob_match(&p.to_ascii_lowercase(), &lib.name.to_ascii_lowercase())) {
            continue;
        }
        let functions = lib
            .functions
            .iter()
            .map(|f| {
                Reply::Map(vec![
                    (bulk("name"), Reply::Bulk(f.name.clone())),
                    (bulk("description"), f.description.clone().map_or(Reply::Nil, Reply::Bulk)),
                    (bulk("flags"), Reply::Array(flag_names(f.flags).map(Reply::status).collect())),
                ])
            })
            .collect();
        let mut fields = vec![
            (bulk("library_name"), Reply::Bulk(lib.name.clone())),
            (bulk("engine"), bulk("LUA")),
            (bulk("functions"), Reply::Array(functions)),
        ];
        if with_code {
            fields.push((bulk("library_code"), Reply::Bulk(lib.code.clone())));
        }
        out.push(Reply::Map(fields));
    }
    Ok(Reply::Array(out))
}

fn flag_names(flags: u8) -> impl Iterator<Item = &'static str> {
    FLAGS.iter().filter(move |(_, bit)| flags & bit != 0).map(|(name, _)| *name)
}

/// `FUNCTION STATS`: the running function (name, command, duration) or nil, and the counts.
fn stats(ctx: &mut Ctx<'_>) -> CmdResult {
    let scripts = &ctx.keyspace().scripts;
    let bulk = |s: &str| Reply::Bulk(s.as_bytes().to_vec());
    let running = match scripts.running_now() {
        None => Reply::Nil,
        Some(script::Running::Eval) => {
            return Err(Reply::err("BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."));
        }
        Some(script::Running::Function { name, argv, ms }) => Reply::Map(vec![
            (bulk("name"), Reply::Bulk(name)),
            (bulk("command"), Reply::Array(argv.into_iter().map(Reply::Bulk).collect())),
            (bulk("duration_ms"), Reply::Int(ms)),
        ]),
    };
    let (libraries, functions) = *scripts.function_counts.lock();
    Ok(Reply::Map(vec![
        (bulk("running_script"), running),
        (
            bulk("engines"),
            Reply::Map(vec![(
                bulk("LUA"),
                Reply::Map(vec![
                    (bulk("libraries_count"), Reply::Int(libraries as i64)),
                    (bulk("functions_count"), Reply::Int(functions as i64)),
                ]),
            )]),
        ),
    ]))
}

const HELP: &[&str] = &[
    "FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "LOAD [REPLACE] <FUNCTION CODE>",
    "    Create a new library with the given library name and code.",
    "DELETE <LIBRARY NAME>",
    "    Delete the given library.",
    "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
    "    Return general information on all the libraries:",
    "    * Library name",
    "    * The engine used to run the Library",
    "    * Library description",
    "    * Functions list",
    "    * Library code (if WITHCODE is given)",
    "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
    "STATS",
    "    Return information about the current function running:",
    "    * Function name",
    "    * Command used to run the function",
    "    * Duration in MS that the function is running",
    "    If no function is running, return nil",
    "    In addition, returns a list of available engines.",
    "KILL",
    "    Kill the current running function.",
    "FLUSH [ASYNC|SYNC]",
    "    Delete all the libraries.",
    "    When called without the optional mode argument, the behavior is determined by the",
    "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    "    * ASYNC: Asynchronously flush the libraries.",
    "    * SYNC: Synchronously flush the libraries.",
    "DUMP",
    "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
    "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
    "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
    "    control how to handle existing libraries (default APPEND):",
    "    * FLUSH: delete all existing libraries.",
    "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
    "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
    "      libraries with the new libraries (notice that even on this option there is a chance of failure",
    "      in case of functions name collision with another library).",
    "HELP",
    "    Prints this help.",
];

// ---------------------------------------------------------------------------------------------
// DUMP / RESTORE payloads
// ---------------------------------------------------------------------------------------------

const CRC64: crc::Crc<u64> = crc::Crc::<u64>::new(&crc::CRC_64_REDIS);

/// `functionDumpCommand`: per library opcode 245 and its code as an RDB string; then the RDB
/// version and the CRC-64 of everything before it, both little-endian.
fn dump(codes: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (_, code) in codes {
        out.push(RDB_OPCODE_FUNCTION2);
        rdb_len(&mut out, code.len() as u64);
        out.extend_from_slice(code);
    }
    out.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = CRC64.checksum(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// An RDB length: 6 bits, 14 bits, or a marker byte and 32 / 64 bits big-endian.
fn rdb_len(out: &mut Vec<u8>, n: u64) {
    if n < 1 << 6 {
        out.push(n as u8);
    } else if n < 1 << 14 {
        out.push(0x40 | (n >> 8) as u8);
        out.push(n as u8);
    } else if n <= u64::from(u32::MAX) {
        out.push(0x80);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// Reads RDB items from a payload.
struct RdbReader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl RdbReader<'_> {
    fn byte(&mut self) -> Option<u8> {
        let b = *self.buf.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let s = self.buf.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(s)
    }

    /// A length, or `Err(encoding)` for a special encoding (`11xxxxxx`).
    fn len(&mut self) -> Option<Result<u64, u8>> {
        let b = self.byte()?;
        Some(match b >> 6 {
            0 => Ok(u64::from(b & 0x3f)),
            1 => Ok(u64::from(b & 0x3f) << 8 | u64::from(self.byte()?)),
            2 if b == 0x80 => Ok(u64::from(u32::from_be_bytes(self.take(4)?.try_into().ok()?))),
            2 if b == 0x81 => Ok(u64::from_be_bytes(self.take(8)?.try_into().ok()?)),
            2 => return None,
            _ => Err(b & 0x3f),
        })
    }

    /// An RDB string: plain, an integer encoding, or LZF-compressed.
    fn string(&mut self) -> Option<Vec<u8>> {
        match self.len()? {
            Ok(n) => Some(self.take(usize::try_from(n).ok()?)?.to_vec()),
            Err(0) => Some((self.byte()? as i8).to_string().into_bytes()),
            Err(1) => Some(i16::from_le_bytes(self.take(2)?.try_into().ok()?).to_string().into_bytes()),
            Err(2) => Some(i32::from_le_bytes(self.take(4)?.try_into().ok()?).to_string().into_bytes()),
            Err(3) => {
                let clen = usize::try_from(self.len()?.ok()?).ok()?;
                let len = usize::try_from(self.len()?.ok()?).ok()?;
                lzf_decompress(self.take(clen)?, len)
            }
            Err(_) => None,
        }
    }
}

/// LZF decompression (`lzf_d.c`) into exactly `len` bytes; None on a malformed input.
fn lzf_decompress(input: &[u8], len: usize) -> Option<Vec<u8>> {
    let mut out: Vec<u8> = Vec::with_capacity(len.min(input.len().saturating_mul(64)));
    let mut i = 0;
    while i < input.len() {
        let ctrl = usize::from(input[i]);
        i += 1;
        if ctrl < 32 {
            let run = ctrl + 1;
            if out.len() + run > len {
                return None;
            }
            out.extend_from_slice(input.get(i..i + run)?);
            i += run;
        } else {
            let mut n = ctrl >> 5;
            if n == 7 {
                n += usize::from(*input.get(i)?);
                i += 1;
            }
            let back = ((ctrl & 0x1f) << 8) + usize::from(*input.get(i)?) + 1;
            i += 1;
            n += 2;
            if back > out.len() || out.len() + n > len {
                return None;
            }
            let from = out.len() - back;
            for k in 0..n {
                out.push(out[from + k]);
            }
        }
    }
    (out.len() == len).then_some(out)
}

/// `FUNCTION RESTORE <payload> [FLUSH|APPEND|REPLACE]`.
fn restore(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    #[derive(PartialEq)]
    enum Policy {
        Append,
        Replace,
        Flush,
    }
    let policy = match a.get(3) {
        None => Policy::Append,
        Some(p) if is(p, "APPEND") => Policy::Append,
        Some(p) if is(p, "REPLACE") => Policy::Replace,
        Some(p) if is(p, "FLUSH") => Policy::Flush,
        Some(_) => return Err(Reply::err("ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.")),
    };
    let payload = a[2];
    if !verify_payload(payload) {
        return Err(Reply::err("ERR DUMP payload version or checksum are wrong"));
    }
    // The libraries' codes, in payload order.
    let mut codes = Vec::new();
    let mut r = RdbReader { buf: &payload[..payload.len() - 10], pos: 0 };
    while r.pos < r.buf.len() {
        let ty = r.byte().ok_or_else(|| Reply::err("ERR can not read data type"))?;
        if ty != RDB_OPCODE_FUNCTION2 {
            return Err(Reply::err("ERR given type is not a function"));
        }
        codes.push(r.string().ok_or_else(|| Reply::err("ERR Failed loading library payload"))?);
    }
    with_libraries(ctx, |engine, libs| {
        // Loaded apart first (`functionsLibCtxCreate`): a payload that does not load whole
        // changes nothing.
        let mut fresh = Libraries::default();
        for code in &codes {
            load_into(engine, &mut fresh, code, false).map_err(|e| Reply::err_owned(format!("ERR {e}")))?;
        }
        let mut effects = Vec::new();
        if policy == Policy::Flush {
            *libs = fresh;
            effects.push(vec![b"FUNCTION".to_vec(), b"FLUSH".to_vec()]);
        } else {
            // `libraryJoin`: same-named libraries go (REPLACE) or abort (APPEND); then no
            // function may collide with what is left.
            let mut replaced = Vec::new();
            for name in fresh.libs.keys() {
                if libs.libs.contains_key(name) {
                    if policy == Policy::Append {
                        // Nothing was unlinked yet: APPEND never replaces.
                        return Err(Reply::err_owned(format!("ERR Library {} already exists", String::from_utf8_lossy(name))));
                    }
                    replaced.push(libs.unlink(name).expect("present"));
                }
            }
            if let Some(f) = fresh.libs.values().find_map(|l| libs.collision(l)) {
                let msg = format!("ERR Function {} already exists", String::from_utf8_lossy(f));
                relink(libs, replaced);
                return Err(Reply::err_owned(msg));
            }
            for (_, lib) in std::mem::take(&mut fresh.libs) {
                libs.link(lib);
            }
        }
        for lib in libs.libs.values() {
            if codes.contains(&lib.code) {
                effects.push(vec![b"FUNCTION".to_vec(), b"LOAD".to_vec(), b"REPLACE".to_vec(), lib.code.clone()]);
            }
        }
        Ok((Reply::OK, effects))
    })
}

fn relink(libs: &mut Libraries, back: Vec<Library>) {
    for lib in back {
        libs.link(lib);
    }
}

/// `verifyDumpPayload`: a version Redis 7.0 reads and a matching CRC-64.
fn verify_payload(p: &[u8]) -> bool {
    if p.len() < 10 {
        return false;
    }
    let footer = &p[p.len() - 10..];
    if u16::from_le_bytes([footer[0], footer[1]]) > RDB_VERSION {
        return false;
    }
    CRC64.checksum(&p[..p.len() - 8]).to_le_bytes() == footer[2..]
}

// ---------------------------------------------------------------------------------------------
// Snapshots and opening
// ---------------------------------------------------------------------------------------------

/// Load libraries read from a snapshot (name, code) into `ks`'s registry.
pub(crate) fn restore_libraries(ks: &crate::keyspace::Keyspace, codes: Vec<(Vec<u8>, Vec<u8>)>) -> Result<(), String> {
    if codes.is_empty() {
        return Ok(());
    }
    let scripts = &ks.scripts;
    let mut guard = scripts.engine.lock();
    let engine = script::engine_up(scripts, &mut guard).map_err(|e| format!("{e:?}"))?;
    let mut libs = std::mem::take(&mut engine.libraries);
    let mut result = Ok(());
    for (name, code) in codes {
        match load_into(engine, &mut libs, &code, true) {
            Ok(loaded) if loaded == name => {}
            Ok(loaded) => {
                result = Err(format!(
                    "library {:?} in the snapshot loads as {:?}",
                    String::from_utf8_lossy(&name),
                    String::from_utf8_lossy(&loaded)
                ));
                break;
            }
            Err(e) => {
                result = Err(format!("library {:?} in the snapshot does not load: {e}", String::from_utf8_lossy(&name)));
                break;
            }
        }
    }
    engine.libraries = libs;
    *scripts.function_counts.lock() = engine.libraries.counts();
    result
}

/// The registry's (name, code) pairs now (the snapshot cut calls it under every shard lock).
pub(crate) fn library_codes(ks: &crate::keyspace::Keyspace) -> Vec<(Vec<u8>, Vec<u8>)> {
    ks.scripts.engine.lock().as_ref().map(|e| e.libraries.codes()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_args_is_sdssplitargs() {
        let words = |s: &[u8]| split_args(s).map(|w| w.into_iter().map(|x| String::from_utf8_lossy(&x).into_owned()).collect::<Vec<_>>());
        assert_eq!(words(b"#!lua name=x"), Some(vec!["#!lua".into(), "name=x".into()]));
        assert_eq!(words(b"  a\t\"b c\" 'd\\'e' \"\\x41\\n\""), Some(vec!["a".into(), "b c".into(), "d'e".into(), "A\n".into()]));
        assert_eq!(words(b"\"unterminated"), None);
        assert_eq!(words(b"\"a\"b"), None);
        assert_eq!(words(b""), Some(vec![]));
    }

    #[test]
    fn lzf_round_trips_what_redis_writes() {
        // "aaaaaaaaaa": a literal 'a' then a back reference of 9 at distance 1.
        assert_eq!(lzf_decompress(&[0, b'a', 0xE0, 0, 0], 10).as_deref(), Some(&b"aaaaaaaaaa"[..]));
        assert_eq!(lzf_decompress(&[0, b'a', 0xC0, 0], 9).as_deref(), Some(&b"aaaaaaaaa"[..]));
        assert_eq!(lzf_decompress(&[1, b'a', b'b', 0x20, 1], 5).as_deref(), Some(&b"ababa"[..]));
        assert_eq!(lzf_decompress(&[0x20, 5], 3), None);
        assert_eq!(lzf_decompress(&[5, b'a'], 6), None);
    }

    #[test]
    fn dump_payloads_verify_and_parse() {
        let codes = vec![(b"l".to_vec(), b"#!lua name=l\nredis.register_function('f', function() return 1 end)".to_vec())];
        let p = dump(&codes);
        assert!(verify_payload(&p));
        let mut bad = p.clone();
        bad[3] ^= 1;
        assert!(!verify_payload(&bad));
        let mut r = RdbReader { buf: &p[..p.len() - 10], pos: 0 };
        assert_eq!(r.byte(), Some(RDB_OPCODE_FUNCTION2));
        assert_eq!(r.string(), Some(codes[0].1.clone()));
        for n in [0u64, 63, 64, 16383, 16384, 1 << 32] {
            let mut out = Vec::new();
            rdb_len(&mut out, n);
            assert_eq!(RdbReader { buf: &out, pos: 0 }.len(), Some(Ok(n)));
        }
    }
}
