//! The Lua libraries Redis 7.0 gives scripts and functions besides `redis`: `bit` (LuaBitOp
//! 1.0) and `cjson` (lua-cjson 2.1.0), as globals. Written from the libraries' documented
//! behaviour and checked reply for reply against redis-server 7.0 (`core/tests/it/lua_libs.rs`):
//! the same results, number formats (`%.14g`), key orders (Lua's own table order) and error
//! texts (`bad argument #1 to 'encode' (...)`, located at the script's line as `luaL_error`
//! locates it).
//!
//! Invariants: nesting is walked with explicit stacks, never Rust recursion, so no depth a
//! script configures can overflow the caller's stack; and an open table holds at most two
//! mlua handles, with at most `MAX_NESTING` open, so mlua's ~8,000 handles (it panics past
//! them) are never reached. The effective depth limits are the configured ones, Lua's
//! 8,000-slot C stack as in the C library (`lua_checkstack`), and `MAX_NESTING` (the one
//! difference from Redis: only a configured depth above 2,000 meets it).
//! Not provided: `cmsgpack` and `struct`.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::Arc;

use mlua::{LightUserData, Lua, MultiValue, Table, Value};

use crate::util::num::{format_g, strtod_prefix};

/// Install `bit` and `cjson` as globals.
pub(super) fn install(lua: &Lua, globals: &Table) -> mlua::Result<()> {
    globals.raw_set("bit", bit_library(lua)?)?;
    globals.raw_set("cjson", cjson_library(lua)?)?;
    Ok(())
}

// --- Errors as the C libraries raise them ------------------------------------------------------

/// `luaL_error`: the message, prefixed with the calling line (`user_script:3: `).
fn lua_error(lua: &Lua, msg: impl std::fmt::Display) -> mlua::Error {
    mlua::Error::runtime(format!("{}{msg}", super::script::lua_where(lua)))
}

/// `luaL_argerror`: `bad argument #n to 'name' (extra)`, named as the caller called it.
fn arg_error(lua: &Lua, narg: usize, extra: &str) -> mlua::Error {
    let (name, method) = lua
        .inspect_stack(0, |d| {
            let names = d.names();
            (names.name.map(|n| n.into_owned()), names.name_what == Some("method"))
        })
        .unwrap_or((None, false));
    let name = name.unwrap_or_else(|| "?".into());
    if method {
        if narg == 1 {
            return lua_error(lua, format!("calling '{name}' on bad self ({extra})"));
        }
        return lua_error(lua, format!("bad argument #{} to '{name}' ({extra})", narg - 1));
    }
    lua_error(lua, format!("bad argument #{narg} to '{name}' ({extra})"))
}

/// `luaL_typerror`: `bad argument #n to 'name' (number expected, got string)`.
fn type_error(lua: &Lua, narg: usize, expected: &str, got: Option<&Value>) -> mlua::Error {
    arg_error(lua, narg, &format!("{expected} expected, got {}", type_name(got)))
}

/// `luaL_typename`: Lua's name of a value's type (`no value` for a missing argument).
fn type_name(v: Option<&Value>) -> &'static str {
    match v {
        None => "no value",
        Some(Value::Nil) => "nil",
        Some(Value::Boolean(_)) => "boolean",
        Some(Value::LightUserData(_) | Value::UserData(_)) => "userdata",
        Some(Value::Integer(_) | Value::Number(_)) => "number",
        Some(Value::String(_)) => "string",
        Some(Value::Table(_)) => "table",
        Some(Value::Function(_)) => "function",
        Some(Value::Thread(_)) => "thread",
        Some(_) => "userdata",
    }
}

/// A Lua number's value (mlua hands integral ones over as `Integer`).
fn number_of(v: &Value) -> Option<f64> {
    match v {
        Value::Integer(i) => Some(*i as f64),
        Value::Number(n) => Some(*n),
        _ => None,
    }
}

/// `lua_tonumber`: a number, or a string Lua reads as one; None otherwise.
fn to_number(lua: &Lua, v: Option<&Value>) -> Option<f64> {
    match v {
        Some(v @ Value::String(_)) => lua.coerce_number(v.clone()).ok().flatten(),
        Some(v) => number_of(v),
        None => None,
    }
}

/// `luaL_checkinteger`: the argument as an integer (Lua 5.1 rounds a fraction to nearest).
fn check_integer(lua: &Lua, args: &MultiValue, narg: usize) -> mlua::Result<i64> {
    let v = args.get(narg - 1);
    match to_number(lua, v) {
        Some(n) => Ok(n.round_ties_even() as i64),
        None => Err(type_error(lua, narg, "number", v)),
    }
}

// --- bit ---------------------------------------------------------------------------------------

/// LuaBitOp's argument: the number's low 32 bits after rounding (its 2^52 + 2^51 trick).
fn bit_arg(lua: &Lua, args: &MultiValue, narg: usize) -> mlua::Result<u32> {
    let v = args.get(narg - 1);
    let n = to_number(lua, v);
    let b = (n.unwrap_or(0.0) + 6_755_399_441_055_744.0).to_bits() as u32;
    if b == 0 && n.is_none() {
        return Err(type_error(lua, narg, "number", v));
    }
    Ok(b)
}

/// A result as LuaBitOp returns it: a signed 32-bit number.
fn bit_ret(b: u32) -> f64 {
    f64::from(b as i32)
}

fn bit_library(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    let unary = |f: fn(u32) -> u32| lua.create_function(move |lua, a: MultiValue| Ok(bit_ret(f(bit_arg(lua, &a, 1)?))));
    t.raw_set("tobit", unary(|b| b)?)?;
    t.raw_set("bnot", unary(|b| !b)?)?;
    t.raw_set("bswap", unary(u32::swap_bytes)?)?;
    let fold = |f: fn(u32, u32) -> u32| {
        lua.create_function(move |lua, a: MultiValue| {
            let mut b = bit_arg(lua, &a, 1)?;
            for i in (2..=a.len()).rev() {
                b = f(b, bit_arg(lua, &a, i)?);
            }
            Ok(bit_ret(b))
        })
    };
    t.raw_set("band", fold(|x, y| x & y)?)?;
    t.raw_set("bor", fold(|x, y| x | y)?)?;
    t.raw_set("bxor", fold(|x, y| x ^ y)?)?;
    let shift = |f: fn(u32, u32) -> u32| {
        lua.create_function(move |lua, a: MultiValue| {
            let b = bit_arg(lua, &a, 1)?;
            let n = bit_arg(lua, &a, 2)? & 31;
            Ok(bit_ret(f(b, n)))
        })
    };
    t.raw_set("lshift", shift(|b, n| b << n)?)?;
    t.raw_set("rshift", shift(|b, n| b >> n)?)?;
    t.raw_set("arshift", shift(|b, n| ((b as i32) >> n) as u32)?)?;
    t.raw_set("rol", shift(u32::rotate_left)?)?;
    t.raw_set("ror", shift(u32::rotate_right)?)?;
    t.raw_set(
        "tohex",
        lua.create_function(|lua, a: MultiValue| {
            let mut b = bit_arg(lua, &a, 1)?;
            let mut n = if a.len() < 2 { 8 } else { bit_arg(lua, &a, 2)? as i32 };
            let digits: &[u8; 16] = if n < 0 {
                n = n.wrapping_neg();
                b"0123456789ABCDEF"
            } else {
                b"0123456789abcdef"
            };
            let n = n.clamp(0, 8) as usize;
            let mut out = [0u8; 8];
            for i in (0..n).rev() {
                out[i] = digits[(b & 15) as usize];
                b >>= 4;
            }
            lua.create_string(&out[..n])
        })?,
    )?;
    Ok(t)
}

// --- cjson -------------------------------------------------------------------------------------

/// One `cjson` module's settings (`cjson.new()` makes another with the defaults).
struct CjsonConfig {
    sparse_convert: AtomicBool,
    sparse_ratio: AtomicI32,
    sparse_safe: AtomicI32,
    encode_max_depth: AtomicI32,
    decode_max_depth: AtomicI32,
    /// 0 off (an error), 1 on (`inf`, `nan`), 2 `null`.
    encode_invalid_numbers: AtomicI32,
    decode_invalid_numbers: AtomicBool,
    encode_keep_buffer: AtomicBool,
    number_precision: AtomicI32,
}

impl Default for CjsonConfig {
    fn default() -> Self {
        CjsonConfig {
            sparse_convert: AtomicBool::new(false),
            sparse_ratio: AtomicI32::new(2),
            sparse_safe: AtomicI32::new(10),
            encode_max_depth: AtomicI32::new(1000),
            decode_max_depth: AtomicI32::new(1000),
            encode_invalid_numbers: AtomicI32::new(0),
            decode_invalid_numbers: AtomicBool::new(true),
            encode_keep_buffer: AtomicBool::new(true),
            number_precision: AtomicI32::new(14),
        }
    }
}

/// Lua 5.1's C stack (`LUAI_MAXCSTACK`): `lua_checkstack` refuses to grow a C function's
/// stack past it, which bounds cjson's nesting whatever its configured depths.
const LUA_MAX_C_STACK: i64 = 8000;

/// nestdb's own bound on open tables while encoding or decoding (see the module comment).
const MAX_NESTING: i64 = 2000;

/// `cjson.null`: a light userdata holding NULL.
fn json_null() -> Value {
    Value::LightUserData(LightUserData(std::ptr::null_mut()))
}

fn cjson_library(lua: &Lua) -> mlua::Result<Table> {
    let cfg = Arc::new(CjsonConfig::default());
    let t = lua.create_table()?;
    let c = cfg.clone();
    // The base library's `next`, taken before any script runs.
    let next_fn: mlua::Function = lua.globals().raw_get("next")?;
    t.raw_set(
        "encode",
        lua.create_function(move |lua, a: MultiValue| {
            if a.len() != 1 {
                return Err(arg_error(lua, 1, "expected 1 argument"));
            }
            let out = encode(lua, &c, &next_fn, a.front().cloned().unwrap_or(Value::Nil))?;
            lua.create_string(&out)
        })?,
    )?;
    let c = cfg.clone();
    t.raw_set(
        "decode",
        lua.create_function(move |lua, a: MultiValue| {
            if a.len() != 1 {
                return Err(arg_error(lua, 1, "expected 1 argument"));
            }
            let text = match a.front() {
                Some(v @ (Value::String(_) | Value::Integer(_) | Value::Number(_))) => lua.coerce_string(v.clone())?,
                _ => None,
            };
            let Some(text) = text else { return Err(type_error(lua, 1, "string", a.front())) };
            decode(lua, &c, &text.as_bytes())
        })?,
    )?;
    let c = cfg.clone();
    t.raw_set(
        "encode_sparse_array",
        lua.create_function(move |lua, a: MultiValue| {
            too_many(lua, &a, 3)?;
            bool_option(lua, &a, 1, &c.sparse_convert)?;
            int_option(lua, &a, 2, &c.sparse_ratio, 0, i32::MAX)?;
            int_option(lua, &a, 3, &c.sparse_safe, 0, i32::MAX)?;
            let convert = c.sparse_convert.load(Ordering::Relaxed);
            Ok((convert, c.sparse_ratio.load(Ordering::Relaxed), c.sparse_safe.load(Ordering::Relaxed)))
        })?,
    )?;
    for (name, pick, min, max) in
        [("encode_max_depth", 0, 1, i32::MAX), ("decode_max_depth", 1, 1, i32::MAX), ("encode_number_precision", 2, 1, 14)]
    {
        let c = cfg.clone();
        t.raw_set(
            name,
            lua.create_function(move |lua, a: MultiValue| {
                too_many(lua, &a, 1)?;
                let setting = match pick {
                    0 => &c.encode_max_depth,
                    1 => &c.decode_max_depth,
                    _ => &c.number_precision,
                };
                int_option(lua, &a, 1, setting, min, max)?;
                Ok(setting.load(Ordering::Relaxed))
            })?,
        )?;
    }
    for (name, pick) in [("encode_keep_buffer", 0), ("decode_invalid_numbers", 1)] {
        let c = cfg.clone();
        t.raw_set(
            name,
            lua.create_function(move |lua, a: MultiValue| {
                too_many(lua, &a, 1)?;
                let setting = if pick == 0 { &c.encode_keep_buffer } else { &c.decode_invalid_numbers };
                bool_option(lua, &a, 1, setting)?;
                Ok(setting.load(Ordering::Relaxed))
            })?,
        )?;
    }
    let c = cfg.clone();
    t.raw_set(
        "encode_invalid_numbers",
        lua.create_function(move |lua, a: MultiValue| {
            too_many(lua, &a, 1)?;
            if let Some(i) = enum_option(lua, &a, 1, &[b"off", b"on", b"null"])? {
                c.encode_invalid_numbers.store(i as i32, Ordering::Relaxed);
            }
            Ok(match c.encode_invalid_numbers.load(Ordering::Relaxed) {
                0 => Value::Boolean(false),
                1 => Value::Boolean(true),
                _ => Value::String(lua.create_string("null")?),
            })
        })?,
    )?;
    t.raw_set("new", lua.create_function(|lua, _: MultiValue| cjson_library(lua))?)?;
    t.raw_set("_NAME", "cjson")?;
    t.raw_set("_VERSION", "2.1.0")?;
    t.raw_set("null", json_null())?;
    Ok(t)
}

/// `json_arg_init`: at most `max` arguments.
fn too_many(lua: &Lua, a: &MultiValue, max: usize) -> mlua::Result<()> {
    if a.len() > max {
        return Err(arg_error(lua, max + 1, "found too many arguments"));
    }
    Ok(())
}

/// `json_integer_option`: set from argument `narg` unless it is nil, within `min..=max`.
fn int_option(lua: &Lua, a: &MultiValue, narg: usize, setting: &AtomicI32, min: i32, max: i32) -> mlua::Result<()> {
    if matches!(a.get(narg - 1), None | Some(Value::Nil)) {
        return Ok(());
    }
    let v = check_integer(lua, a, narg)? as i32;
    if !(min..=max).contains(&v) {
        // lua-cjson names argument 1 here whichever it was.
        return Err(arg_error(lua, 1, &format!("expected integer between {min} and {max}")));
    }
    setting.store(v, Ordering::Relaxed);
    Ok(())
}

/// `json_enum_option`: argument `narg` as the index of one of `options` (`"off"` first, then
/// `"on"`; a boolean means one of those two), or None if it is nil or missing.
fn enum_option(lua: &Lua, a: &MultiValue, narg: usize, options: &[&[u8]]) -> mlua::Result<Option<usize>> {
    let word = match a.get(narg - 1) {
        None | Some(Value::Nil) => return Ok(None),
        Some(Value::Boolean(b)) => return Ok(Some(usize::from(*b))),
        Some(Value::String(s)) => s.as_bytes().to_vec(),
        Some(v @ (Value::Integer(_) | Value::Number(_))) => match lua.coerce_string(v.clone())? {
            Some(s) => s.as_bytes().to_vec(),
            None => return Err(type_error(lua, narg, "string", Some(v))),
        },
        Some(v) => return Err(type_error(lua, narg, "string", Some(v))),
    };
    match options.iter().position(|o| *o == word.as_slice()) {
        Some(i) => Ok(Some(i)),
        None => Err(arg_error(lua, narg, &format!("invalid option '{}'", String::from_utf8_lossy(&word)))),
    }
}

/// `json_enum_option` for on/off settings.
fn bool_option(lua: &Lua, a: &MultiValue, narg: usize, setting: &AtomicBool) -> mlua::Result<()> {
    if let Some(i) = enum_option(lua, a, narg, &[b"off", b"on"])? {
        setting.store(i == 1, Ordering::Relaxed);
    }
    Ok(())
}

// cjson.encode

/// `Cannot serialise <type>: <reason>`.
fn cannot_serialise(lua: &Lua, v: Option<&Value>, reason: &str) -> mlua::Error {
    lua_error(lua, format!("Cannot serialise {}: {reason}", type_name(v)))
}

/// What is left to write of an open table.
enum Open {
    /// An array: its table, its length and the next index.
    Array(Table, i64, i64),
    /// An object: its table and the key after which to continue (Nil: from the start).
    Object(Table, Value, bool),
}

fn encode(lua: &Lua, cfg: &CjsonConfig, next_fn: &mlua::Function, value: Value) -> mlua::Result<Vec<u8>> {
    let precision = cfg.number_precision.load(Ordering::Relaxed) as usize;
    let invalid = cfg.encode_invalid_numbers.load(Ordering::Relaxed);
    let max_depth = i64::from(cfg.encode_max_depth.load(Ordering::Relaxed));
    let mut out = Vec::new();
    let mut open: Vec<Open> = Vec::new();
    // Lua stack slots the C encoder would use: its argument, one per open array (the
    // element), two per open object (key and value).
    let mut slots: i64 = 1;
    let mut next = Some(value);
    loop {
        if let Some(v) = next.take() {
            match v {
                Value::String(s) => append_string(&mut out, &s.as_bytes()),
                Value::Integer(_) | Value::Number(_) => {
                    let n = number_of(&v).unwrap_or_default();
                    append_number(lua, &mut out, n, precision, invalid, Some(&v))?;
                }
                Value::Boolean(b) => out.extend_from_slice(if b { b"true" } else { b"false" }),
                Value::Nil => out.extend_from_slice(b"null"),
                Value::LightUserData(p) if p.0.is_null() => out.extend_from_slice(b"null"),
                Value::Table(t) => {
                    let depth = open.len() as i64 + 1;
                    if depth > max_depth || depth > MAX_NESTING || slots + 3 > LUA_MAX_C_STACK {
                        return Err(lua_error(lua, format!("Cannot serialise, excessive nesting ({depth})")));
                    }
                    let len = array_length(lua, cfg, &t)?;
                    if len > 0 {
                        out.push(b'[');
                        open.push(Open::Array(t, len, 1));
                        slots += 1;
                    } else {
                        out.push(b'{');
                        open.push(Open::Object(t, Value::Nil, false));
                        slots += 2;
                    }
                }
                other => return Err(cannot_serialise(lua, Some(&other), "type not supported")),
            }
        }
        // Continue the innermost open table, closing finished ones.
        let Some(top) = open.last_mut() else { return Ok(out) };
        match top {
            Open::Array(t, len, i) => {
                if *i > *len {
                    out.push(b']');
                    open.pop();
                    slots -= 1;
                    continue;
                }
                if *i > 1 {
                    out.push(b',');
                }
                next = Some(t.raw_get(*i)?);
                *i += 1;
            }
            Open::Object(t, after, started) => {
                let Some((k, v)) = table_next(next_fn, t, after)? else {
                    out.push(b'}');
                    open.pop();
                    slots -= 2;
                    continue;
                };
                if *started {
                    out.push(b',');
                }
                *started = true;
                match &k {
                    Value::Integer(_) | Value::Number(_) => {
                        let n = number_of(&k).unwrap_or_default();
                        out.push(b'"');
                        append_number(lua, &mut out, n, precision, invalid, Some(&k))?;
                        out.extend_from_slice(b"\":");
                    }
                    Value::String(s) => {
                        append_string(&mut out, &s.as_bytes());
                        out.push(b':');
                    }
                    other => return Err(cannot_serialise(lua, Some(other), "table key must be a number or string")),
                }
                *after = k;
                next = Some(v);
            }
        }
    }
}

/// `lua_next` through Lua's own `next` (raw, in the table's order): the pair after `key`
/// (Nil: the first), None at the end.
fn table_next(next: &mlua::Function, t: &Table, key: &Value) -> mlua::Result<Option<(Value, Value)>> {
    let (k, v): (Value, Value) = next.call((t.clone(), key.clone()))?;
    Ok(if k.is_nil() { None } else { Some((k, v)) })
}

/// `lua_array_length`: the array length of `t` if every key is an integer >= 1 and the array
/// is not too sparse; -1 for an object (0 for an empty table, written `{}`).
fn array_length(lua: &Lua, cfg: &CjsonConfig, t: &Table) -> mlua::Result<i64> {
    let (mut max, mut items) = (0i64, 0i64);
    for pair in t.pairs::<Value, Value>() {
        let (k, _) = pair?;
        let n = match k {
            Value::Integer(i) => i as f64,
            Value::Number(n) => n,
            _ => return Ok(-1),
        };
        if n == 0.0 || n.floor() != n || n < 1.0 {
            return Ok(-1);
        }
        // C stores it in an int (x86 gives INT_MIN for anything beyond).
        let k = if n <= f64::from(i32::MAX) { n as i64 } else { i64::from(i32::MIN) };
        max = max.max(k);
        items += 1;
    }
    let ratio = i64::from(cfg.sparse_ratio.load(Ordering::Relaxed));
    let safe = i64::from(cfg.sparse_safe.load(Ordering::Relaxed));
    if ratio > 0 && max > items * ratio && max > safe {
        if !cfg.sparse_convert.load(Ordering::Relaxed) {
            return Err(cannot_serialise(lua, Some(&Value::Table(t.clone())), "excessively sparse array"));
        }
        return Ok(-1);
    }
    Ok(max)
}

/// A number as `fpconv_g_fmt` writes it (`%.14g` by default), or the invalid-number rule.
fn append_number(lua: &Lua, out: &mut Vec<u8>, n: f64, precision: usize, invalid: i32, v: Option<&Value>) -> mlua::Result<()> {
    if !n.is_finite() {
        match invalid {
            0 => return Err(cannot_serialise(lua, v, "must not be NaN or Inf")),
            1 if n.is_nan() => {
                out.extend_from_slice(b"nan");
                return Ok(());
            }
            1 => {}
            _ => {
                out.extend_from_slice(b"null");
                return Ok(());
            }
        }
    }
    out.extend_from_slice(format_g(n, precision).as_bytes());
    Ok(())
}

/// A string with lua-cjson's escapes: `"` `\` `/`, the control characters and DEL.
fn append_string(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for &c in s {
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\/"),
            b'\x08' => out.extend_from_slice(b"\\b"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\x0c' => out.extend_from_slice(b"\\f"),
            b'\r' => out.extend_from_slice(b"\\r"),
            0..=0x1f | 0x7f => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(c >> 4)]);
                out.push(HEX[usize::from(c & 15)]);
            }
            _ => out.push(c),
        }
    }
    out.push(b'"');
}

// cjson.decode

/// A token of lua-cjson's tokenizer.
enum Token {
    ObjBegin,
    ObjEnd,
    ArrBegin,
    ArrEnd,
    Str(Vec<u8>),
    Number(f64),
    Boolean(bool),
    Null,
    Colon,
    Comma,
    End,
    /// A token error, with its text (`invalid token`, `invalid escape code`, ...).
    Error(&'static str),
}

impl Token {
    /// How lua-cjson names the token in "Expected ... but found ..." errors.
    fn name(&self) -> &'static str {
        match self {
            Token::ObjBegin => "T_OBJ_BEGIN",
            Token::ObjEnd => "T_OBJ_END",
            Token::ArrBegin => "T_ARR_BEGIN",
            Token::ArrEnd => "T_ARR_END",
            Token::Str(_) => "T_STRING",
            Token::Number(_) => "T_NUMBER",
            Token::Boolean(_) => "T_BOOLEAN",
            Token::Null => "T_NULL",
            Token::Colon => "T_COLON",
            Token::Comma => "T_COMMA",
            Token::End => "T_END",
            Token::Error(what) => what,
        }
    }
}

/// lua-cjson's tokenizer over the text as a C string (a NUL ends it).
struct Tokenizer<'a> {
    data: &'a [u8],
    pos: usize,
    invalid_numbers: bool,
}

impl Tokenizer<'_> {
    fn at(&self, i: usize) -> u8 {
        self.data.get(i).copied().unwrap_or(0)
    }

    /// The next token and where it starts (0-based).
    fn next(&mut self) -> (Token, usize) {
        while matches!(self.at(self.pos), b' ' | b'\t' | b'\n' | b'\r') {
            self.pos += 1;
        }
        let start = self.pos;
        let c = self.at(start);
        let single = match c {
            0 => return (Token::End, start),
            b'{' => Some(Token::ObjBegin),
            b'}' => Some(Token::ObjEnd),
            b'[' => Some(Token::ArrBegin),
            b']' => Some(Token::ArrEnd),
            b':' => Some(Token::Colon),
            b',' => Some(Token::Comma),
            _ => None,
        };
        if let Some(t) = single {
            self.pos += 1;
            return (t, start);
        }
        // Characters that may start a longer token; anything else is an error.
        if !matches!(c, b'"' | b'-' | b'+' | b'0'..=b'9' | b't' | b'f' | b'n' | b'i' | b'I' | b'N') {
            return (Token::Error("invalid token"), start);
        }
        let rest = &self.data[start..];
        if c == b'"' {
            return self.string(start);
        }
        if c == b'-' || c.is_ascii_digit() {
            if !self.invalid_numbers && self.is_invalid_number() {
                return (Token::Error("invalid number"), start);
            }
            return self.number(start);
        }
        for (word, token) in [(&b"true"[..], Token::Boolean(true)), (b"false", Token::Boolean(false)), (b"null", Token::Null)] {
            if rest.starts_with(word) {
                self.pos += word.len();
                return (token, start);
            }
        }
        if self.invalid_numbers && self.is_invalid_number() {
            return self.number(start);
        }
        (Token::Error("invalid token"), start)
    }

    /// `json_is_invalid_number`: a leading `+`, hex, leading zeros, `inf` or `nan`.
    fn is_invalid_number(&self) -> bool {
        let mut p = self.pos;
        if self.at(p) == b'+' {
            return true;
        }
        if self.at(p) == b'-' {
            p += 1;
        }
        if self.at(p) == b'0' {
            let c2 = self.at(p + 1);
            return c2 | 0x20 == b'x' || c2.is_ascii_digit();
        }
        if self.at(p) <= b'9' {
            return false;
        }
        let word = |w: &[u8]| (0..w.len()).all(|i| self.at(p + i).eq_ignore_ascii_case(&w[i]));
        word(b"inf") || word(b"nan")
    }

    /// A number as C `strtod` reads it from here.
    fn number(&mut self, start: usize) -> (Token, usize) {
        let rest = &self.data[start..];
        let rest = &rest[..rest.iter().position(|&b| b == 0).unwrap_or(rest.len())];
        let (v, used) = strtod_prefix(rest);
        if used == 0 {
            return (Token::Error("invalid number"), start);
        }
        self.pos += used;
        (Token::Number(v), start)
    }

    /// A string token: escapes decoded (`\uXXXX` and surrogate pairs to UTF-8).
    fn string(&mut self, start: usize) -> (Token, usize) {
        self.pos += 1;
        let mut out = Vec::new();
        loop {
            let c = self.at(self.pos);
            match c {
                b'"' => break,
                0 => return (Token::Error("unexpected end of string"), self.pos),
                b'\\' => {
                    let decoded = match self.at(self.pos + 1) {
                        b'"' => b'"',
                        b'\\' => b'\\',
                        b'/' => b'/',
                        b'b' => 8,
                        b'f' => 12,
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'u' => {
                            match self.unicode_escape() {
                                Some((bytes, len)) => {
                                    out.extend_from_slice(&bytes);
                                    self.pos += len;
                                }
                                None => return (Token::Error("invalid unicode escape code"), self.pos),
                            }
                            continue;
                        }
                        _ => return (Token::Error("invalid escape code"), self.pos),
                    };
                    out.push(decoded);
                    self.pos += 2;
                }
                _ => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
        self.pos += 1;
        (Token::Str(out), start)
    }

    /// `\uXXXX` (or a surrogate pair of them) here: its UTF-8 bytes and the escape's length.
    fn unicode_escape(&self) -> Option<(Vec<u8>, usize)> {
        let hex4 =
            |at: usize| -> Option<u32> { (0..4).try_fold(0u32, |acc, i| Some(acc * 16 + char::from(self.at(at + i)).to_digit(16)?)) };
        let mut code = hex4(self.pos + 2)?;
        let mut len = 6;
        if code & 0xF800 == 0xD800 {
            if code & 0x400 != 0 || self.at(self.pos + 6) != b'\\' || self.at(self.pos + 7) != b'u' {
                return None;
            }
            let low = hex4(self.pos + 8)?;
            if low & 0xFC00 != 0xDC00 {
                return None;
            }
            code = (((code & 0x3FF) << 10) | (low & 0x3FF)) + 0x10000;
            len = 12;
        }
        let mut bytes = Vec::with_capacity(4);
        match code {
            0..=0x7F => bytes.push(code as u8),
            0x80..=0x7FF => bytes.extend_from_slice(&[0xC0 | (code >> 6) as u8, 0x80 | (code & 0x3F) as u8]),
            0x800..=0xFFFF => {
                bytes.extend_from_slice(&[0xE0 | (code >> 12) as u8, 0x80 | ((code >> 6) & 0x3F) as u8, 0x80 | (code & 0x3F) as u8])
            }
            _ => bytes.extend_from_slice(&[
                0xF0 | (code >> 18) as u8,
                0x80 | ((code >> 12) & 0x3F) as u8,
                0x80 | ((code >> 6) & 0x3F) as u8,
                0x80 | (code & 0x3F) as u8,
            ]),
        }
        Some((bytes, len))
    }
}

/// A table being filled by the decoder.
enum Filling {
    /// An object, and the key whose value is being read.
    Object(Table, Vec<u8>),
    /// An array, and the index of the value being read.
    Array(Table, i64),
}

fn decode(lua: &Lua, cfg: &CjsonConfig, data: &[u8]) -> mlua::Result<Value> {
    // RFC 4627's encoding detection: a NUL in the first two bytes means UTF-16 or UTF-32.
    if data.len() >= 2 && (data[0] == 0 || data[1] == 0) {
        return Err(lua_error(lua, "JSON parser does not support UTF-16 or UTF-32"));
    }
    let max_depth = i64::from(cfg.decode_max_depth.load(Ordering::Relaxed));
    let mut tok = Tokenizer { data, pos: 0, invalid_numbers: cfg.decode_invalid_numbers.load(Ordering::Relaxed) };
    let expected = |lua: &Lua, what: &str, (token, at): &(Token, usize)| {
        lua_error(lua, format!("Expected {what} but found {} at character {}", token.name(), at + 1))
    };
    let mut stack: Vec<Filling> = Vec::new();
    // Lua stack slots the C decoder would use: its argument, one per open array (the table),
    // two per open object (the table and the key).
    let mut slots: i64 = 1;
    let mut t = tok.next();
    'value: loop {
        // Read one value starting at token `t`; containers are opened and read on the stack.
        let mut value = match t.0 {
            Token::Str(ref s) => Value::String(lua.create_string(s)?),
            Token::Number(n) => Value::Number(n),
            Token::Boolean(b) => Value::Boolean(b),
            Token::Null => json_null(),
            Token::ObjBegin | Token::ArrBegin => {
                let depth = stack.len() as i64 + 1;
                if depth > max_depth || depth > MAX_NESTING || slots + 3 > LUA_MAX_C_STACK {
                    return Err(lua_error(lua, format!("Found too many nested data structures ({depth}) at character {}", tok.pos)));
                }
                let table = lua.create_table()?;
                let object = matches!(t.0, Token::ObjBegin);
                t = tok.next();
                if object {
                    if matches!(t.0, Token::ObjEnd) {
                        Value::Table(table)
                    } else {
                        let Token::Str(key) = &t.0 else { return Err(expected(lua, "object key string", &t)) };
                        let key = key.clone();
                        t = tok.next();
                        if !matches!(t.0, Token::Colon) {
                            return Err(expected(lua, "colon", &t));
                        }
                        stack.push(Filling::Object(table, key));
                        slots += 2;
                        t = tok.next();
                        continue 'value;
                    }
                } else if matches!(t.0, Token::ArrEnd) {
                    Value::Table(table)
                } else {
                    stack.push(Filling::Array(table, 1));
                    slots += 1;
                    continue 'value;
                }
            }
            _ => return Err(expected(lua, "value", &t)),
        };
        // Hand the value to the table being filled; close the tables that end here.
        loop {
            t = tok.next();
            match stack.last_mut() {
                None => {
                    if !matches!(t.0, Token::End) {
                        return Err(expected(lua, "the end", &t));
                    }
                    return Ok(value);
                }
                Some(Filling::Object(table, key)) => {
                    table.raw_set(lua.create_string(&*key)?, value)?;
                    if matches!(t.0, Token::ObjEnd) {
                        let Some(Filling::Object(done, _)) = stack.pop() else {
                            return Err(lua_error(lua, "cjson: decoder stack out of order"));
                        };
                        slots -= 2;
                        value = Value::Table(done);
                        continue;
                    }
                    if !matches!(t.0, Token::Comma) {
                        return Err(expected(lua, "comma or object end", &t));
                    }
                    t = tok.next();
                    let Token::Str(next_key) = &t.0 else { return Err(expected(lua, "object key string", &t)) };
                    *key = next_key.clone();
                    t = tok.next();
                    if !matches!(t.0, Token::Colon) {
                        return Err(expected(lua, "colon", &t));
                    }
                    t = tok.next();
                    continue 'value;
                }
                Some(Filling::Array(table, i)) => {
                    table.raw_set(*i, value)?;
                    *i += 1;
                    if matches!(t.0, Token::ArrEnd) {
                        let Some(Filling::Array(done, _)) = stack.pop() else {
                            return Err(lua_error(lua, "cjson: decoder stack out of order"));
                        };
                        slots -= 1;
                        value = Value::Table(done);
                        continue;
                    }
                    if !matches!(t.0, Token::Comma) {
                        return Err(expected(lua, "comma or array end", &t));
                    }
                    t = tok.next();
                    continue 'value;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::reply::Reply;
    use crate::Db;

    fn eval(db: &Db, body: &str) -> Reply {
        db.execute(&[b"EVAL".as_slice(), body.as_bytes(), b"0"])
    }

    /// With the depth limits raised, the deepest structures are refused with the library's
    /// errors (never a panic from running out of mlua handles or stack), on a thread with a
    /// small stack.
    #[test]
    fn raised_depth_limits_meet_the_nesting_bound() {
        let db = Db::open_in_memory();
        let t = std::thread::Builder::new().stack_size(256 * 1024);
        let other = db.clone();
        t.spawn(move || {
            assert_eq!(
                eval(&other, "return {cjson.encode_max_depth(1000000), cjson.decode_max_depth(1000000)}"),
                Reply::Array(vec![Reply::Int(1_000_000), Reply::Int(1_000_000)])
            );
            let deep_table = "local t = {} local c = t for i = 1, 7000 do c[1] = {} c = c[1] end return cjson.encode(t)";
            let r = eval(&other, deep_table);
            assert!(r.error_text().is_some_and(|e| e.contains("Cannot serialise, excessive nesting (2001)")), "{r:?}");
            let deep_object = "local t = {} local c = t for i = 1, 7000 do c.k = {} c = c.k end return cjson.encode(t)";
            let r = eval(&other, deep_object);
            assert!(r.error_text().is_some_and(|e| e.contains("Cannot serialise, excessive nesting (2001)")), "{r:?}");
            let r = eval(&other, "return cjson.decode(string.rep('[', 7000))");
            assert!(r.error_text().is_some_and(|e| e.contains("Found too many nested data structures (2001) at character 2001")), "{r:?}");
            let r = eval(&other, "return cjson.decode(string.rep('{\"a\":', 7000))");
            assert!(r.error_text().is_some_and(|e| e.contains("Found too many nested data structures (2001)")), "{r:?}");
            // 2,000 levels still round-trip.
            let ok = "local s = string.rep('[', 2000) .. string.rep(']', 2000) return #cjson.encode(cjson.decode(s))";
            assert_eq!(eval(&other, ok), Reply::Int(4000));
        })
        .unwrap()
        .join()
        .unwrap();
        assert_eq!(eval(&db, "return 1"), Reply::Int(1));
    }
}
