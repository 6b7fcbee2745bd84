//! Argument parsing with Redis's error texts.

use crate::reply::Reply;
use crate::util::num;

pub(crate) const NOT_INTEGER: &str = "ERR value is not an integer or out of range";
pub(crate) const NOT_FLOAT: &str = "ERR value is not a valid float";
pub(crate) const SYNTAX: &str = "ERR syntax error";

pub(crate) fn int(arg: &[u8]) -> Result<i64, Reply> {
    num::parse_i64_strict(arg).ok_or_else(|| Reply::err(NOT_INTEGER))
}

/// A blocking command's timeout in seconds (a float, as Redis 7.0's `getTimeoutFromObjectOrReply`
/// reads it), as milliseconds rounded up; 0 means wait forever. Like Redis 7.0 on x86-64, a
/// value whose milliseconds do not fit an `i64` (a huge number, `inf`) is "negative": the C
/// conversion gives `LLONG_MIN` there.
pub(crate) fn timeout_ms(arg: &[u8]) -> Result<u64, Reply> {
    let secs = crate::util::ldouble::parse(arg).ok_or_else(|| Reply::err("ERR timeout is not a float or out of range"))?;
    let ms = (secs.to_f64() * 1000.0).ceil();
    if !(0.0..9.223_372_036_854_776e18).contains(&ms) {
        return Err(Reply::err("ERR timeout is negative"));
    }
    // A positive value below f64's range (1e-400) still rounds up to 1 ms in Redis's long double.
    if ms == 0.0 && secs.is_positive() {
        return Ok(1);
    }
    Ok(ms as u64)
}

/// Case-insensitive keyword comparison (`word` is upper-case ASCII).
pub(crate) fn is(arg: &[u8], word: &str) -> bool {
    arg.eq_ignore_ascii_case(word.as_bytes())
}

pub(crate) fn syntax() -> Reply {
    Reply::err(SYNTAX)
}

/// Resolve a Redis (start, stop) index pair against `len` into an inclusive range, or None
/// when empty. Negative indexes count from the end.
pub(crate) fn range(start: i64, stop: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let mut s = if start < 0 { len + start } else { start };
    let mut e = if stop < 0 { len + stop } else { stop };
    if s < 0 {
        s = 0;
    }
    if s > e || s >= len {
        return None;
    }
    if e >= len {
        e = len - 1;
    }
    Some((s as usize, e as usize))
}
