//! Redis's number rules: which byte strings are integers and floats, and how numbers print.
//!
//! Integers follow `string2ll`: optional `-`, no `+`, no leading zeros, no spaces, fits in i64.
//! Floats follow `string2d` (strtod without leading space; `inf`/`-inf` allowed, NaN rejected).
//! INCRBYFLOAT's `long double` arithmetic lives in `ldouble.rs`.

/// `n` in decimal, written at the end of `buf`; the digits.
pub(crate) fn fmt_u64(buf: &mut [u8; 20], mut n: u64) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &buf[i..]
}

/// Parse a canonical decimal i64 (Redis `string2ll`).
pub(crate) fn parse_i64_strict(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (neg, digits) = match s[0] {
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || digits[0] == b'0' {
        return None;
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    if neg {
        if v > (i64::MAX as u64) + 1 {
            None
        } else {
            Some((v as i64).wrapping_neg())
        }
    } else if v > i64::MAX as u64 {
        None
    } else {
        Some(v as i64)
    }
}

/// Parse a score bound the way Redis's `zslParseRange` uses `strtod`: the argument is read as
/// a C string (up to its first NUL); the whole of it must be consumed; NaN is refused. As with
/// strtod, leading blanks, `inf`/`infinity`, hex floats and an empty string (= 0) are accepted.
pub(crate) fn strtod_whole(arg: &[u8]) -> Option<f64> {
    let s = &arg[..arg.iter().position(|&b| b == 0).unwrap_or(arg.len())];
    if s.is_empty() {
        return Some(0.0);
    }
    let (v, used) = strtod_prefix(s);
    (used == s.len() && !v.is_nan()).then_some(v)
}

/// Parse a score, increment or weight as Redis's `getDoubleFromObject` does: the whole
/// argument must be a `strtod` number with no leading blank; NaN is refused, and so is a
/// decimal that overflows to infinity or underflows to zero (strtod's ERANGE). Unlike a
/// plain Rust parse this accepts hex floats, as Redis does.
pub(crate) fn parse_f64(arg: &[u8]) -> Option<f64> {
    if arg.is_empty() || matches!(arg[0], b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r') {
        return None;
    }
    let (v, used) = strtod_prefix(arg);
    if used != arg.len() || v.is_nan() {
        return None;
    }
    let body = arg.strip_prefix(b"-").or_else(|| arg.strip_prefix(b"+")).unwrap_or(arg);
    let spelled_inf = body.first().is_some_and(|c| c.eq_ignore_ascii_case(&b'i'));
    if v.is_infinite() && !spelled_inf {
        return None;
    }
    if v == 0.0 {
        let (mantissa, hex) = match body.get(..2) {
            Some(p) if p.eq_ignore_ascii_case(b"0x") => (&body[2..], true),
            _ => (body, false),
        };
        let end = mantissa.iter().position(|&c| if hex { c == b'p' || c == b'P' } else { c == b'e' || c == b'E' });
        let mantissa = &mantissa[..end.unwrap_or(mantissa.len())];
        if mantissa.iter().any(|&c| c.is_ascii_hexdigit() && c != b'0' && (hex || c.is_ascii_digit())) {
            return None;
        }
    }
    Some(v)
}

/// Where C's `strtod`/`strtoull` find the number in `s`: after leading white space (`isspace`)
/// and an optional sign. Returns that index and whether the sign was '-'.
pub(crate) fn c_space_and_sign(s: &[u8]) -> (usize, bool) {
    let mut i = 0;
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r') {
        i += 1;
    }
    match s.get(i) {
        Some(b'-') => (i + 1, true),
        Some(b'+') => (i + 1, false),
        _ => (i, false),
    }
}

/// C `strtod` on a byte string: the value and the number of bytes consumed (0 = no conversion).
pub(crate) fn strtod_prefix(s: &[u8]) -> (f64, usize) {
    let (i, neg) = c_space_and_sign(s);
    let sign = |v: f64| if neg { -v } else { v };
    let rest = &s[i..];
    let starts = |word: &str| rest.len() >= word.len() && rest[..word.len()].eq_ignore_ascii_case(word.as_bytes());
    if starts("infinity") {
        return (sign(f64::INFINITY), i + 8);
    }
    if starts("inf") {
        return (sign(f64::INFINITY), i + 3);
    }
    if starts("nan") {
        return (f64::NAN, i + 3);
    }
    if (starts("0x") || starts("0X"))
        && rest.get(2).is_some_and(|c| c.is_ascii_hexdigit() || (*c == b'.' && rest.get(3).is_some_and(u8::is_ascii_hexdigit)))
    {
        let (v, used) = hex_float(&rest[2..]);
        return (sign(v), i + 2 + used);
    }
    // Decimal: digits [. digits] [e [sign] digits], at least one mantissa digit.
    let digits = |from: usize| rest[from..].iter().take_while(|c| c.is_ascii_digit()).count();
    let int_len = digits(0);
    let mut end = int_len;
    let mut frac_len = 0;
    if rest.get(end) == Some(&b'.') {
        frac_len = digits(end + 1);
        if int_len + frac_len > 0 {
            end += 1 + frac_len;
        }
    }
    if int_len + frac_len == 0 {
        return (0.0, 0);
    }
    if matches!(rest.get(end), Some(b'e' | b'E')) {
        let mut e = end + 1;
        if matches!(rest.get(e), Some(b'+' | b'-')) {
            e += 1;
        }
        let exp_len = digits(e);
        if exp_len > 0 {
            end = e + exp_len;
        }
    }
    // The consumed text is plain ASCII decimal syntax, which Rust's parser rounds correctly.
    let text = std::str::from_utf8(&rest[..end]).unwrap_or("0");
    (sign(text.parse::<f64>().unwrap_or(0.0)), i + end)
}

/// The hex-float body after `0x`: hex digits, optional `.` and fraction, optional `p` exponent.
fn hex_float(s: &[u8]) -> (f64, usize) {
    let mut mant: u64 = 0;
    let mut exp: i64 = 0;
    let mut i = 0;
    let mut seen_dot = false;
    while i < s.len() {
        let c = s[i];
        if c == b'.' && !seen_dot {
            seen_dot = true;
        } else if let Some(d) = (c as char).to_digit(16) {
            if mant >> 56 == 0 {
                mant = mant << 4 | u64::from(d);
                if seen_dot {
                    exp -= 4;
                }
            } else if !seen_dot {
                exp += 4;
            }
        } else {
            break;
        }
        i += 1;
    }
    if matches!(s.get(i), Some(b'p' | b'P')) {
        let mut j = i + 1;
        let neg = match s.get(j) {
            Some(b'-') => {
                j += 1;
                true
            }
            Some(b'+') => {
                j += 1;
                false
            }
            _ => false,
        };
        let n = s[j..].iter().take_while(|c| c.is_ascii_digit()).count();
        if n > 0 {
            let e: i64 = s[j..j + n].iter().fold(0i64, |acc, &c| acc.saturating_mul(10).saturating_add(i64::from(c - b'0')));
            exp = exp.saturating_add(if neg { -e } else { e });
            i = j + n;
        }
    }
    // Two steps so that a large mantissa with a tiny exponent does not underflow early.
    let e = exp.clamp(-2200, 2200) as i32;
    let v = mant as f64 * 2f64.powi(e / 2) * 2f64.powi(e - e / 2);
    (v, i)
}

/// Format a score the way Redis prints a double in RESP (`%.17g` semantics are irrelevant once
/// parsed back; we print the shortest round-trip form, with `inf`/`-inf`).
pub(crate) fn format_score(v: f64) -> String {
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let mut buf = ryu_like(v);
    if buf == "-0" {
        buf = "0".into();
    }
    buf
}

fn ryu_like(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e17 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_follow_string2ll() {
        assert_eq!(parse_i64_strict(b"0"), Some(0));
        assert_eq!(parse_i64_strict(b"-1"), Some(-1));
        assert_eq!(parse_i64_strict(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64_strict(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64_strict(b"9223372036854775808"), None);
        for bad in [&b""[..], b"01", b"+1", b" 1", b"1 ", b"-0", b"-", b"1.0", b"abc"] {
            assert_eq!(parse_i64_strict(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn floats_follow_string2d() {
        assert_eq!(parse_f64(b"1.5"), Some(1.5));
        assert_eq!(parse_f64(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_f64(b"+inf"), Some(f64::INFINITY));
        assert_eq!(parse_f64(b"1e3"), Some(1000.0));
        assert_eq!(parse_f64(b".5"), Some(0.5));
        assert_eq!(parse_f64(b"nan"), None);
        assert_eq!(parse_f64(b" 1"), None);
        assert_eq!(parse_f64(b"abc"), None);
    }
}

/// C's `printf("%.<precision>g", x)` (1 <= precision <= 17): that many significant digits,
/// trailing zeros dropped, scientific notation (`1e+20`, two exponent digits at least) when
/// the exponent is below -4 or at least the precision; `inf`, `-inf`, `nan`, `-nan`, `-0`.
pub(crate) fn format_g(x: f64, precision: usize) -> String {
    let precision = precision.clamp(1, 17);
    if x.is_nan() {
        return if x.is_sign_negative() { "-nan" } else { "nan" }.to_string();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    if x == 0.0 {
        return if x.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    // Rounded once, to `precision` significant digits; the exponent is the rounded one's.
    let sci = format!("{x:.*e}", precision - 1);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let trim = |t: &str| -> String {
        if t.contains('.') {
            t.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            t.to_string()
        }
    };
    if exp < -4 || exp >= precision as i32 {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", trim(mantissa), exp.unsigned_abs())
    } else {
        let decimals = usize::try_from(precision as i32 - 1 - exp).unwrap_or(0);
        trim(&format!("{x:.decimals$}"))
    }
}

#[cfg(test)]
mod format_g_tests {
    use super::format_g;

    /// Figures glibc's printf gives (checked with `printf '%.14g'` and `'%.3g'`).
    #[test]
    fn matches_printf() {
        let cases: [(f64, usize, &str); 14] = [
            (1.0 / 3.0, 14, "0.33333333333333"),
            (123456789012345.0, 14, "1.2345678901234e+14"),
            (1e14, 14, "1e+14"),
            (12345678901234.0, 14, "12345678901234"),
            (-1.5e-7, 14, "-1.5e-07"),
            (9007199254740992.0, 14, "9.007199254741e+15"),
            (0.1 + 0.2, 14, "0.3"),
            (1e20, 14, "1e+20"),
            (0.0001, 14, "0.0001"),
            (0.00001, 14, "1e-05"),
            (99999.5, 3, "1e+05"),
            (0.333, 3, "0.333"),
            (1.5, 14, "1.5"),
            (-0.0, 14, "-0"),
        ];
        for (x, p, want) in cases {
            assert_eq!(format_g(x, p), want, "{x} with precision {p}");
        }
    }
}
