//! The Lua libraries scripts get besides `redis` (`bit`, `cjson`) against a real
//! redis-server 7.0: scripted cases for every function, option and error, then thousands of
//! random JSON texts (valid and broken) decoded and re-encoded on both sides. Every reply must
//! be equal, error texts and key orders included.

use crate::common::{Pair, Rng};

/// EVAL `script` with no keys and `args` on both sides.
fn eval(p: &mut Pair, script: &str, args: &[&[u8]]) {
    let mut argv: Vec<&[u8]> = vec![b"EVAL", script.as_bytes(), b"0"];
    argv.extend_from_slice(args);
    p.run_argv(&argv);
}

#[test]
fn bit_library_matches_redis() {
    let Some(mut p) = Pair::start("bit_library_matches_redis") else { return };
    for script in [
        "return {bit.tohex(-1), bit.tohex(255, -4), bit.tohex(1, 20), bit.tohex(0x12345678, 3), bit.tohex(7, 0)}",
        "return {bit.band(0xff, 0x0f, 3), bit.bor(1, 2, 4, 8), bit.bxor(5, 3), bit.bor('8', 1), bit.band(-1)}",
        "return {bit.tobit(2^32 + 5), bit.tobit(-1.5), bit.tobit(2.5), bit.tobit(3.5), bit.tobit(2^52), bit.tobit(-2^31 - 1)}",
        "return {bit.lshift(1, 31), bit.lshift(1, 32), bit.lshift(1, 33), bit.rshift(-1, 28), bit.arshift(-256, 4), bit.arshift(256, 36)}",
        "return {bit.rol(0x12345678, 8), bit.ror(0x12345678, 8), bit.rol(1, 0), bit.ror(1, 32), bit.bswap(0x12345678), bit.bnot(0)}",
        "return {bit.tobit(0.5), bit.tobit(1.5), bit.tobit(-0.5), bit.tobit(1e300), bit.tobit('0x10'), bit.tobit(' 12 ')}",
        "return bit.band()",
        "return bit.band('x')",
        "return bit.band(1, {})",
        "return bit.tohex(1, nil)",
        "return bit.lshift(1)",
        "return bit.bnot(nil)",
        "local f = bit.bor return f(1, 'y')",
        "local a = {} for k in pairs(bit) do a[#a + 1] = k end table.sort(a) return a",
    ] {
        eval(&mut p, script, &[]);
    }
}

#[test]
fn cjson_scripted_cases_match_redis() {
    let Some(mut p) = Pair::start("cjson_scripted_cases_match_redis") else { return };
    for script in [
        // Encoding: types, number formats, escapes, arrays against objects, key order.
        "return cjson.encode({1, 2, 3, 'a/b', {x = 1}})",
        "return cjson.encode({a = 1.5, b = 0.1, c = 1e20, d = -0, e = 123456789012345678, f = 1/3, g = -1.5e-7})",
        "return cjson.encode({[1] = 1, [3] = 3})",
        "return cjson.encode({[1] = 1, [20] = 3})",
        "return cjson.encode({[1] = 1, [11] = 2, [12] = 3, [13] = 4, [14] = 5, [15] = 6})",
        "return cjson.encode({})",
        "return cjson.encode({[2] = 1})",
        "return cjson.encode({[1] = 1, a = 2})",
        "return cjson.encode({[1.5] = 1, [-1] = 2, [0] = 3})",
        "return cjson.encode(string.char(0, 1, 8, 9, 10, 11, 12, 13, 27, 31, 34, 47, 92, 127, 128, 255))",
        "return cjson.encode(cjson.null)",
        "return cjson.encode(nil)",
        "return cjson.encode(true)",
        "return cjson.encode({true, false, cjson.null})",
        "return cjson.encode({a = {b = {c = {}}}})",
        "return cjson.encode({'x', nil, 'z'})",
        "local t = {} for i = 1, 40 do t['k' .. i] = i end return cjson.encode(t)",
        "local t = {} for i = 1, 25 do t[i * 7 % 25 + 1] = i end return cjson.encode(t)",
        "return cjson.encode({{1, {2, {3, {4}}}}, {a = {b = {'c'}}}})",
        "return {cjson.encode(123456789012345), cjson.encode(1e14), cjson.encode(2^53), cjson.encode(0.1 + 0.2), cjson.encode(-2^63)}",
        // Encoding errors.
        "return cjson.encode(0/0)",
        "return cjson.encode({1/0})",
        "return cjson.encode({[1/0] = 1})",
        "return cjson.encode({[true] = 1})",
        "return cjson.encode({a = function() end})",
        "return cjson.encode(function() end)",
        "return cjson.encode()",
        "return cjson.encode(1, 2)",
        "local t = {} local c = t for i = 1, 1001 do c[1] = {} c = c[1] end return cjson.encode(t)",
        "local t = {} local c = t for i = 1, 999 do c[1] = {} c = c[1] end return #cjson.encode(t)",
        // Settings.
        "return {cjson.encode_sparse_array()}",
        "return {cjson.encode_sparse_array(true), cjson.encode({[1] = 1, [20] = 3}), cjson.encode_sparse_array(false)}",
        "return {cjson.encode_sparse_array(nil, 0), cjson.encode({[1] = 1, [20] = 'x'}), cjson.encode_sparse_array(nil, 2)}",
        "return {cjson.encode_sparse_array('on', 3, 4), cjson.encode_sparse_array('off', 2, 10)}",
        "return cjson.encode_sparse_array('maybe')",
        "return cjson.encode_sparse_array(true, -1)",
        "return cjson.encode_sparse_array(true, 1, 2, 3)",
        "return {cjson.encode_invalid_numbers()}",
        "return {cjson.encode_invalid_numbers('null'), cjson.encode({1/0, 0/0}), cjson.encode_invalid_numbers(true), cjson.encode({1/0, -1/0}), cjson.encode_invalid_numbers(false)}",
        "return cjson.encode_invalid_numbers('sometimes')",
        "local s = {cjson.encode_number_precision(3), cjson.encode(1/3), cjson.encode(12345)} cjson.encode_number_precision(14) return s",
        "return cjson.encode_number_precision(15)",
        "return cjson.encode_number_precision(0)",
        "return cjson.encode_number_precision('x')",
        "return {cjson.encode_max_depth(), cjson.decode_max_depth(), cjson.encode_keep_buffer(), cjson.decode_invalid_numbers()}",
        "return cjson.encode_max_depth(0)",
        "return cjson.encode_max_depth(1, 2)",
        // A setting stays for the next scripts (one interpreter), so each is set back after.
        "cjson.encode_max_depth(2) return cjson.encode({{{1}}})",
        "return {cjson.encode_max_depth(1000), cjson.encode({{{1}}})}",
        "cjson.decode_max_depth(2) return cjson.decode('[[[1]]]')",
        "return {cjson.decode_max_depth(1000), cjson.decode('[[[1]]]')}",
        "cjson.decode_invalid_numbers(false) return cjson.decode('0x10')",
        "cjson.decode_invalid_numbers('off') return cjson.decode('[1, -Inf]')",
        "cjson.decode_invalid_numbers(false) return cjson.decode('[1, 01]')",
        "return {cjson.decode_invalid_numbers(true), cjson.decode('0x10')}",
        "return {cjson._NAME, cjson._VERSION, type(cjson.null), tostring(cjson.null), type(cjson.new)}",
        "local c = cjson.new() c.encode_number_precision(3) return {c.encode(1/3), cjson.encode(1/3)}",
        "local a = {} for k in pairs(cjson) do a[#a + 1] = k end table.sort(a) return a",
        // Decoding.
        "local t = cjson.decode(ARGV[1]) return {t.a, t.b[1], t.b[2], tostring(t.c), type(t.c), t.d}",
        "return cjson.decode('[1,2,3]')",
        "return cjson.decode(123)",
        "return cjson.decode({})",
        "return cjson.decode()",
        "return cjson.decode('[1]', 2)",
        "return tostring(cjson.decode('0x10'))",
        "return tostring(cjson.decode(' 12 '))",
        "return {tostring(cjson.decode('Infinity')), tostring(cjson.decode('-inf')), tostring(cjson.decode('-0')), tostring(cjson.decode('1e400'))}",
        "return cjson.decode('\"\\\\u00e9\\\\ud83d\\\\ude00\\\\u0041\\\\/\\\\b\\\\f\\\\n\\\\r\\\\t\"')",
        "local t = cjson.decode('{\"b\":1,\"a\":2,\"c\":{\"z\":[]},\"d\":{}}') local a = {} for k in pairs(t) do a[#a + 1] = k end return a",
        "return cjson.encode(cjson.decode('{\"k1\":1,\"k2\":[1,2,{\"x\":null}],\"k3\":\"s\",\"k4\":true,\"k5\":1.25}'))",
        "local s = string.rep('[', 1001) return cjson.decode(s)",
        "local s = string.rep('[', 999) .. string.rep(']', 999) return #cjson.encode(cjson.decode(s))",
        "local s = string.rep('{\"a\":', 1001) return cjson.decode(s)",
    ] {
        eval(&mut p, script, &[br#"{"a":"x","b":[1,2.5],"c":null,"d":true}"#]);
    }
    // Broken texts: each error's text and position.
    for text in [
        "[1,2",
        "{\"a\":}",
        "nul",
        "",
        " ",
        "12 x",
        "\"\\x\"",
        "\"abc",
        "[1,]",
        "{,}",
        "{\"a\" 1}",
        "{1:2}",
        "[1 2]",
        "tru",
        "+1",
        "-",
        "01",
        "0x",
        "\"\\u12\"",
        "\"\\ud800\"",
        "\"\\ud800\\u0041\"",
        "\"\\udc00\"",
        "[\"a\"]]",
        "{\"a\":1,}",
        "\u{1}",
        "[1]\u{0}xyz",
        "\u{0}[1]",
        "[nan]",
        "[NaN, Inf]",
        "1e5",
        ".5",
        "-.5e1",
        "[true false]",
        "{\"a\":1 \"b\":2}",
    ] {
        eval(&mut p, "return cjson.encode(cjson.decode(ARGV[1]))", &[text.as_bytes()]);
    }
}

/// A random JSON-ish text: mostly valid, sometimes cut or with a byte changed.
fn random_json(rng: &mut Rng, depth: u32, out: &mut String) {
    let pick = if depth > 4 { rng.below(6) } else { rng.below(9) };
    match pick {
        0 => out.push_str(rng.pick(&["null", "true", "false"])),
        1 => out.push_str(&format!("{}", rng.below(1_000_000) as i64 - 500_000)),
        2 => out.push_str(&format!("{}", rng.uniform(-1e6, 1e6))),
        3 => out.push_str(rng.pick(&["1e21", "-0", "0.1", "1E-7", "123456789012345678", "3.14159265358979", "2.5e-300"])),
        4 | 5 => {
            out.push('"');
            for _ in 0..rng.below(8) {
                out.push_str(rng.pick(&[
                    "a",
                    "Z",
                    " ",
                    "é",
                    "\\n",
                    "\\\"",
                    "\\/",
                    "\\u0041",
                    "\\u00e9",
                    "\\ud83d\\ude00",
                    "/",
                    "\\\\",
                    "\\t",
                ]));
            }
            out.push('"');
        }
        6 | 7 => {
            out.push('[');
            for i in 0..rng.below(5) {
                if i > 0 {
                    out.push_str(rng.pick(&[",", ", ", " ,"]));
                }
                random_json(rng, depth + 1, out);
            }
            out.push(']');
        }
        _ => {
            out.push('{');
            for i in 0..rng.below(5) {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&format!("\"{}\":", rng.pick(&["a", "b", "key", "1", "2", "x y", "é", ""])));
                random_json(rng, depth + 1, out);
            }
            out.push('}');
        }
    }
}

#[test]
fn random_json_round_trips_match_redis() {
    let Some(mut p) = Pair::start("random_json_round_trips_match_redis") else { return };
    let rounds = if std::env::var_os("NESTDB_FULL").is_some() { 20_000 } else { 2_000 };
    let mut rng = Rng(0x5EED_C750);
    // Decoded, then re-encoded (object key order is Lua's table order on both sides); an
    // error is the script's error reply.
    let script = "return cjson.encode(cjson.decode(ARGV[1]))";
    for _ in 0..rounds {
        let mut text = String::new();
        random_json(&mut rng, 0, &mut text);
        let mut bytes = text.into_bytes();
        if rng.chance(20) && !bytes.is_empty() {
            let at = rng.below(bytes.len() as u64) as usize;
            if rng.chance(50) {
                bytes.truncate(at);
            } else {
                bytes[at] = rng.pick(&["{", "}", "[", "]", ",", ":", "\"", "\\", "x", "0", " "]).as_bytes()[0];
            }
        }
        eval(&mut p, script, &[&bytes]);
    }
}

#[test]
fn functions_see_the_libraries_too() {
    let Some(mut p) = Pair::start("functions_see_the_libraries_too") else { return };
    let code = "#!lua name=jl\nredis.register_function('j', function(keys, args) return cjson.encode({bit.band(6, 3), cjson.decode(args[1])}) end)";
    p.run_argv(&[b"FUNCTION", b"LOAD", code.as_bytes()]);
    p.run_argv(&[b"FCALL", b"j", b"0", br#"{"a":[1,{"b":null}]}"#]);
    p.run_argv(&[b"FCALL", b"j", b"0", b"[1,"]);
}

/// What a script's own `pcall` gives for each kind of error: Redis 7.0's `pcall` hands back
/// the `err` string of an error table, and errors raised by library functions are strings.
#[test]
fn pcall_errors_match_redis() {
    let Some(mut p) = Pair::start("pcall_errors_match_redis") else { return };
    p.run("SET s abc");
    for script in [
        "local ok, e = pcall(redis.call, 'incr', 's') return {tostring(ok), type(e), type(e) == 'table' and e.err or tostring(e)}",
        "local ok, e = pcall(function() return redis.call('incr', 's') end) return {tostring(ok), type(e), type(e) == 'table' and e.err or tostring(e)}",
        "local ok, e = pcall(function() return x.y end) return {tostring(ok), type(e), tostring(e)}",
        "local ok, e = pcall(cjson.decode, '[') return {tostring(ok), type(e), tostring(e)}",
        "local ok, e = pcall(function() return cjson.decode('[') end) return {tostring(ok), type(e), tostring(e)}",
        "local ok, e = pcall(bit.band, 'x') return {tostring(ok), type(e), tostring(e)}",
        "local ok, e = pcall(function() error('boom') end) return {tostring(ok), type(e), tostring(e)}",
        "local ok, e = pcall(function() error({err = 'X'}) end) return {tostring(ok), type(e), tostring(e)}",
        "local ok, e = pcall(function() error({other = 'X'}) end) return {tostring(ok), type(e)}",
        "local ok, e = pcall(function() error(7) end) return {tostring(ok), type(e), tostring(e)}",
        "local ok, e = pcall(redis.call) return {tostring(ok), type(e), type(e) == 'table' and e.err or tostring(e)}",
        "local ok, e = pcall(redis.call, 'nosuchcommand') return {tostring(ok), type(e), type(e) == 'table' and e.err or tostring(e)}",
        "local ok, a, b = pcall(function() return 1, 2 end) return {tostring(ok), a, b}",
        "local ok, e = pcall(redis.call, 'incr', 's') return e",
        "return {pcall(redis.pcall, 'incr', 's')}",
        "local ok, e = xpcall(function() return redis.call('incr', 's') end, function(m) return m end) return {tostring(ok), type(e), type(e) == 'table' and e.err or tostring(e)}",
        "local ok, e = xpcall(function() return cjson.decode('[') end, function(m) return m end) return {tostring(ok), type(e), tostring(e)}",
        "local a, b, c = pcall() return {type(a), type(b), type(c), tostring(a), tostring(b)}",
        "local a, b = xpcall() return {type(a), tostring(b)}",
        "local a, b = xpcall(function() return 1 end) return {type(a), tostring(b)}",
        "local a, b, c = xpcall(function() return 1, 2 end, tostring) return {tostring(a), b, c}",
        "local n = 0 local ok, e = pcall(function() for i = 1, 10 do n = n + 1 if i == 5 then error('stop at ' .. i) end end end) return {n, e}",
    ] {
        eval(&mut p, script, &[]);
    }
}

/// The globals a script finds, as redis-server 7.0.15 gives them (its patch releases took
/// `print`, `getfenv`, `setfenv` and `newproxy` away). Not compared: `cmsgpack` and `struct`,
/// which nestdb does not have.
#[test]
fn script_globals_match_redis() {
    let Some(mut p) = Pair::start("script_globals_match_redis") else { return };
    for g in [
        "print",
        "getfenv",
        "setfenv",
        "newproxy",
        "gcinfo",
        "loadstring",
        "load",
        "unpack",
        "collectgarbage",
        "module",
        "require",
        "os",
        "io",
        "debug",
        "coroutine",
        "string",
        "table",
        "math",
        "bit",
        "cjson",
        "redis",
        "pcall",
        "xpcall",
        "error",
        "select",
        "tonumber",
        "tostring",
        "type",
        "next",
        "pairs",
        "ipairs",
        "rawget",
        "rawset",
        "rawequal",
        "setmetatable",
        "getmetatable",
        "assert",
        "dofile",
        "loadfile",
        "_G",
        "_VERSION",
    ] {
        eval(&mut p, &format!("return type({g})"), &[]);
    }
}
