//! Redis's number rules: which byte strings are integers and floats, and how doubles print.
//!
//! Integers follow `string2ll`: optional `-`, no `+`, no leading zeros, no spaces, fits in i64.
//! Floats follow `string2d` (strtod without leading space; `inf`/`-inf` allowed, NaN rejected).
//! INCRBYFLOAT formats like Redis's `%.17Lf` with trailing zeros trimmed; Redis computes in
//! `long double`, so sums of short decimals are done exactly in decimal here to print the
//! same digits (see `add_decimal_strings`).

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

/// Parse a float as Redis's `string2d`/`string2ld` do. Rejects NaN and leading/trailing space.
pub(crate) fn parse_f64(s: &[u8]) -> Option<f64> {
    if s.is_empty() || s.len() > 5000 {
        return None;
    }
    if s[0].is_ascii_whitespace() || s[s.len() - 1].is_ascii_whitespace() {
        return None;
    }
    let text = std::str::from_utf8(s).ok()?;
    let lower = text.to_ascii_lowercase();
    let v = match lower.as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => f64::INFINITY,
        "-inf" | "-infinity" => f64::NEG_INFINITY,
        _ => {
            // strtod accepts hex floats and more; Rust's parser covers the decimal forms users send.
            if lower.contains("nan") || lower.contains("inf") {
                return None;
            }
            lower.parse::<f64>().ok()?
        }
    };
    if v.is_nan() {
        None
    } else {
        Some(v)
    }
}

/// Format a finite double as Redis's `%.17Lf` with trailing zeros (and a bare dot) removed.
pub(crate) fn format_human_f64(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let s = format!("{v:.17}");
    trim_fraction(s)
}

fn trim_fraction(mut s: String) -> String {
    if s.contains('.') {
        while s.ends_with('0') {
            s.pop();
        }
        if s.ends_with('.') {
            s.pop();
        }
    }
    if s == "-0" {
        s = "0".into();
    }
    s
}

/// An exact decimal: value = mantissa × 10^-scale.
#[derive(Clone, Copy)]
struct Decimal {
    mantissa: i128,
    scale: u32,
}

fn parse_decimal(s: &[u8]) -> Option<Decimal> {
    let text = std::str::from_utf8(s).ok()?;
    let (neg, body) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let (int_part, frac_part) = match body.split_once('.') {
        Some((i, f)) => (i, f),
        None => (body, ""),
    };
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    if !int_part.bytes().all(|c| c.is_ascii_digit()) || !frac_part.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    if int_part.len() + frac_part.len() > 36 || frac_part.len() > 17 {
        return None;
    }
    let mut m: i128 = 0;
    for c in int_part.bytes().chain(frac_part.bytes()) {
        m = m * 10 + i128::from(c - b'0');
    }
    Some(Decimal { mantissa: if neg { -m } else { m }, scale: frac_part.len() as u32 })
}

/// `a + b` for two numeric strings, formatted as Redis's INCRBYFLOAT would print it, or None
/// when the result is not finite. Exact when both are short decimals; otherwise computed in f64.
pub(crate) fn add_decimal_strings(a: &[u8], b: &[u8]) -> Option<String> {
    if let (Some(x), Some(y)) = (parse_decimal(a), parse_decimal(b)) {
        let scale = x.scale.max(y.scale);
        let xm = x.mantissa * 10i128.pow(scale - x.scale);
        let ym = y.mantissa * 10i128.pow(scale - y.scale);
        if let Some(sum) = xm.checked_add(ym) {
            // Only exact while the result stays within f80's ~19 significant digits.
            if sum.unsigned_abs() < 10u128.pow(19) {
                let neg = sum < 0;
                let digits = sum.unsigned_abs().to_string();
                let scale = scale as usize;
                let padded = if digits.len() <= scale { format!("{}{}", "0".repeat(scale + 1 - digits.len()), digits) } else { digits };
                let (ip, fp) = padded.split_at(padded.len() - scale);
                let s = if scale > 0 {
                    format!("{}{}.{}", if neg { "-" } else { "" }, ip, fp)
                } else {
                    format!("{}{}", if neg { "-" } else { "" }, ip)
                };
                return Some(trim_fraction(s));
            }
        }
    }
    let v = parse_f64(a)? + parse_f64(b)?;
    if v.is_finite() {
        Some(format_human_f64(v))
    } else {
        None
    }
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

    #[test]
    fn incrbyfloat_formatting() {
        assert_eq!(add_decimal_strings(b"10.50", b"0.1").unwrap(), "10.6");
        assert_eq!(add_decimal_strings(b"0.1", b"0.2").unwrap(), "0.3");
        assert_eq!(add_decimal_strings(b"5.0e3", b"2.0e2").unwrap(), "5200");
        assert_eq!(add_decimal_strings(b"3", b"-3").unwrap(), "0");
        assert_eq!(add_decimal_strings(b"-0.5", b"0.25").unwrap(), "-0.25");
        assert_eq!(add_decimal_strings(b"1", b"inf"), None);
    }
}
