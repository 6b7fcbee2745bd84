//! BSON values as MongoDB compares them: the cross-type order (`type_rank`), total comparison
//! (`compare`, used by sort and range operators), equality (`equal`: `1 == 1.0 == 1L`), the
//! numeric view of the four number types, `$type` names, plain dotted-path lookup, and the
//! order-preserving binary key encoding (`encode_key`) that the `_id` index (and every
//! secondary index) is ordered by.
//!
//! Order (MongoDB's "Comparison/Sort Order"): MinKey < Null (and Undefined, and missing) <
//! numbers < Symbol, String < Object < Array < BinData < ObjectId < Boolean < Date <
//! Timestamp < Regular Expression < DBPointer < JavaScript < JavaScript with scope < MaxKey.
//! Numbers compare by exact value across int32/int64/double/decimal128 (`Exact`: the double 9.99
//! is above Decimal128("9.99"), 2^53 + 1 as int64 or decimal is above the double 2^53); NaN
//! sorts below every other number and equals itself. Strings compare by bytes (the simple collation).

use std::cmp::Ordering;

use bson::{Bson, Document, RawArray, RawBsonRef, RawDocument};

use super::DocError;

/// The position of `v`'s type in MongoDB's comparison order (equal ranks compare by value).
pub fn type_rank(v: &Bson) -> u8 {
    match v {
        Bson::MinKey => 1,
        Bson::Null | Bson::Undefined => 2,
        Bson::Int32(_) | Bson::Int64(_) | Bson::Double(_) | Bson::Decimal128(_) => 3,
        Bson::Symbol(_) | Bson::String(_) => 4,
        Bson::Document(_) => 5,
        Bson::Array(_) => 6,
        Bson::Binary(_) => 7,
        Bson::ObjectId(_) => 8,
        Bson::Boolean(_) => 9,
        Bson::DateTime(_) => 10,
        Bson::Timestamp(_) => 11,
        Bson::RegularExpression(_) => 12,
        Bson::DbPointer(_) => 13,
        Bson::JavaScriptCode(_) => 14,
        Bson::JavaScriptCodeWithScope(_) => 15,
        Bson::MaxKey => 16,
    }
}

/// Whether `v` is one of the four numeric types.
pub fn is_number(v: &Bson) -> bool {
    matches!(v, Bson::Int32(_) | Bson::Int64(_) | Bson::Double(_) | Bson::Decimal128(_))
}

/// `v` as a double (Decimal128 through its decimal string: exact for the values a double can
/// hold, rounded otherwise).
pub fn as_f64(v: &Bson) -> Option<f64> {
    match v {
        Bson::Int32(i) => Some(f64::from(*i)),
        Bson::Int64(i) => Some(*i as f64),
        Bson::Double(d) => Some(*d),
        Bson::Decimal128(d) => Some(decimal_to_f64(d)),
        _ => None,
    }
}

/// `v` as an i64 when it is an integer type, or a double/decimal with an integral value in range.
pub fn as_i64(v: &Bson) -> Option<i64> {
    match v {
        Bson::Int32(i) => Some(i64::from(*i)),
        Bson::Int64(i) => Some(*i),
        Bson::Double(d) if d.fract() == 0.0 && *d >= -9.223_372_036_854_776e18 && *d < 9.223_372_036_854_776e18 => Some(*d as i64),
        Bson::Decimal128(d) => {
            let f = decimal_to_f64(d);
            (f.fract() == 0.0 && f.abs() < 9.2e18).then_some(f as i64)
        }
        _ => None,
    }
}

/// A Decimal128 as the nearest double (NaN for NaN, ±inf for infinities).
pub fn decimal_to_f64(d: &bson::Decimal128) -> f64 {
    let s = d.to_string();
    match s.as_str() {
        "NaN" | "-NaN" => f64::NAN,
        "Infinity" => f64::INFINITY,
        "-Infinity" => f64::NEG_INFINITY,
        _ => s.parse().unwrap_or(f64::NAN),
    }
}

/// Compare two numbers by value. Integers compare exactly; a double against an integer
/// compares exactly too (no rounding of large int64s); NaN is below every number.
pub fn compare_numbers(a: &Bson, b: &Bson) -> Ordering {
    match (a, b) {
        (Bson::Int32(x), Bson::Int32(y)) => x.cmp(y),
        (Bson::Int64(x), Bson::Int64(y)) => x.cmp(y),
        (Bson::Int32(x), Bson::Int64(y)) => i64::from(*x).cmp(y),
        (Bson::Int64(x), Bson::Int32(y)) => x.cmp(&i64::from(*y)),
        (Bson::Int32(_) | Bson::Int64(_), _) | (_, Bson::Int32(_) | Bson::Int64(_))
            if !matches!((a, b), (Bson::Decimal128(_), _) | (_, Bson::Decimal128(_))) =>
        {
            // One integer and one double.
            let (i, d, flip) = match (a, b) {
                (Bson::Int32(i), Bson::Double(d)) => (i64::from(*i), *d, false),
                (Bson::Int64(i), Bson::Double(d)) => (*i, *d, false),
                (Bson::Double(d), Bson::Int32(i)) => (i64::from(*i), *d, true),
                (Bson::Double(d), Bson::Int64(i)) => (*i, *d, true),
                _ => unreachable!("both are numbers"),
            };
            let ord = compare_int_double(i, d);
            if flip {
                ord.reverse()
            } else {
                ord
            }
        }
        _ => {
            // Doubles, or a Decimal128 against any number. Rounding to the nearest double is
            // monotonic, so different nearest doubles decide; equal ones (9.99 and
            // Decimal128("9.99")) are compared by exact value.
            let (x, y) = (as_f64(a).unwrap_or(f64::NAN), as_f64(b).unwrap_or(f64::NAN));
            match compare_doubles(x, y) {
                Ordering::Equal if matches!(a, Bson::Decimal128(_)) || matches!(b, Bson::Decimal128(_)) => Exact::of(a).cmp(&Exact::of(b)),
                o => o,
            }
        }
    }
}

/// A number's exact value: NaN, an infinity, or a finite decimal `±0.d1d2..dn × 10^(adjusted+1)`
/// (`d1.d2..dn × 10^adjusted`) with no leading or trailing zero digit (no digits: zero). Every
/// int32, int64, double and Decimal128 has one (a double's binary fraction has a finite
/// decimal expansion). Ordered as MongoDB orders numbers: NaN below everything, -0 == 0.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Exact {
    NaN,
    NegInf,
    Finite { neg: bool, adjusted: i32, digits: Vec<u8> },
    PosInf,
}

impl Exact {
    /// The exact value of a number (None-like NaN for a non-number: callers pass numbers).
    pub(crate) fn of(v: &Bson) -> Exact {
        match v {
            Bson::Int32(i) => Exact::from_parts(*i < 0, u128::from(i.unsigned_abs()), 0),
            Bson::Int64(i) => Exact::from_parts(*i < 0, u128::from(i.unsigned_abs()), 0),
            Bson::Double(d) => Exact::from_f64(*d),
            Bson::Decimal128(d) => Exact::from_decimal(d),
            _ => Exact::NaN,
        }
    }

    /// `±coefficient × 10^exp10`.
    fn from_parts(neg: bool, coefficient: u128, exp10: i32) -> Exact {
        Exact::from_digits(neg, coefficient.to_string().bytes().map(|b| b - b'0').collect(), exp10)
    }

    /// `±digits × 10^exp10` (digits as values 0..=9, most significant first).
    fn from_digits(neg: bool, mut digits: Vec<u8>, exp10: i32) -> Exact {
        let lead = digits.iter().position(|&d| d != 0).unwrap_or(digits.len());
        digits.drain(..lead);
        if digits.is_empty() {
            return Exact::Finite { neg: false, adjusted: 0, digits };
        }
        // The leading digit's power of ten (trailing zeros do not move it).
        let adjusted = exp10 + (digits.len() as i32 - 1);
        while digits.last() == Some(&0) {
            digits.pop();
        }
        Exact::Finite { neg, adjusted, digits }
    }

    /// A double's exact value: `m × 2^q` as `m × 5^-q × 10^q` (q < 0) or `(m << q)`.
    fn from_f64(d: f64) -> Exact {
        if d.is_nan() {
            return Exact::NaN;
        }
        if d.is_infinite() {
            return if d > 0.0 { Exact::PosInf } else { Exact::NegInf };
        }
        let bits = d.to_bits();
        let neg = bits >> 63 == 1;
        let biased = ((bits >> 52) & 0x7FF) as i32;
        let fraction = bits & ((1 << 52) - 1);
        let (mut m, mut q) = if biased == 0 { (fraction, -1074) } else { (fraction | (1 << 52), biased - 1075) };
        if m == 0 {
            return Exact::from_parts(false, 0, 0);
        }
        let tz = m.trailing_zeros();
        m >>= tz;
        q += tz as i32;
        if (0..=64).contains(&q) {
            return Exact::from_parts(neg, u128::from(m) << q, 0);
        }
        let mut big = Big::from(m);
        let exp10 = if q > 0 {
            big.shl(q as u32);
            0
        } else {
            big.mul_pow5((-q) as u32);
            q
        };
        Exact::from_digits(neg, big.into_digits(), exp10)
    }

    /// A Decimal128's exact value, from its IEEE 754 BID encoding (non-canonical coefficients
    /// are zero, as the standard has them).
    fn from_decimal(d: &bson::Decimal128) -> Exact {
        let bits = u128::from_le_bytes(d.bytes());
        let neg = bits >> 127 == 1;
        if (bits >> 125) & 0b11 == 0b11 {
            return match (bits >> 122) & 0b11111 {
                0b11111 => Exact::NaN,
                0b11110 if neg => Exact::NegInf,
                0b11110 => Exact::PosInf,
                // The large-coefficient form: always above 10^34 - 1, non-canonical.
                _ => Exact::from_parts(false, 0, 0),
            };
        }
        let exponent = ((bits >> 113) & 0x3FFF) as i32 - 6176;
        let coefficient = bits & ((1 << 113) - 1);
        if coefficient >= 10u128.pow(34) {
            return Exact::from_parts(false, 0, 0);
        }
        Exact::from_parts(neg, coefficient, exponent)
    }

    fn rank(&self) -> (u8, i8) {
        match self {
            Exact::NaN => (0, 0),
            Exact::NegInf => (1, 0),
            Exact::Finite { digits, .. } if digits.is_empty() => (2, 0),
            Exact::Finite { neg: true, .. } => (2, -1),
            Exact::Finite { .. } => (2, 1),
            Exact::PosInf => (3, 0),
        }
    }

    /// Append the order-preserving encoding of a finite nonzero value's magnitude: the adjusted
    /// exponent (u16 big-endian, biased by 0x8000), digit pairs as bytes 1..=100, a 0 byte;
    /// every byte inverted for a negative value (so it sorts in reverse, being prefix-free).
    fn encode_magnitude(&self, out: &mut Vec<u8>) {
        let Exact::Finite { neg, adjusted, digits } = self else { return };
        let start = out.len();
        out.extend_from_slice(&((adjusted + 0x8000) as u16).to_be_bytes());
        for pair in digits.chunks(2) {
            out.push(1 + pair[0] * 10 + pair.get(1).copied().unwrap_or(0));
        }
        out.push(0);
        if *neg {
            out[start..].iter_mut().for_each(|b| *b = !*b);
        }
    }
}

impl Ord for Exact {
    fn cmp(&self, other: &Exact) -> Ordering {
        let (ra, rb) = (self.rank(), other.rank());
        if ra != rb {
            return ra.cmp(&rb);
        }
        match (self, other) {
            (Exact::Finite { neg, adjusted: a, digits: x }, Exact::Finite { adjusted: b, digits: y, .. }) => {
                let o = a.cmp(b).then_with(|| x.cmp(y));
                if *neg {
                    o.reverse()
                } else {
                    o
                }
            }
            _ => Ordering::Equal,
        }
    }
}

impl PartialOrd for Exact {
    fn partial_cmp(&self, other: &Exact) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// An unsigned big integer (little-endian u32 limbs), just enough to expand a double exactly.
struct Big(Vec<u32>);

impl From<u64> for Big {
    fn from(v: u64) -> Big {
        Big(vec![v as u32, (v >> 32) as u32])
    }
}

impl Big {
    fn mul_small(&mut self, k: u32) {
        let mut carry = 0u64;
        for limb in &mut self.0 {
            let p = u64::from(*limb) * u64::from(k) + carry;
            *limb = p as u32;
            carry = p >> 32;
        }
        if carry > 0 {
            self.0.push(carry as u32);
        }
    }

    fn mul_pow5(&mut self, mut n: u32) {
        while n >= 13 {
            self.mul_small(1_220_703_125); // 5^13
            n -= 13;
        }
        self.mul_small(5u32.pow(n));
    }

    fn shl(&mut self, n: u32) {
        let (limbs, bits) = ((n / 32) as usize, n % 32);
        if bits > 0 {
            let mut carry = 0u32;
            for limb in &mut self.0 {
                let v = (*limb << bits) | carry;
                carry = *limb >> (32 - bits);
                *limb = v;
            }
            if carry > 0 {
                self.0.push(carry);
            }
        }
        self.0.splice(0..0, std::iter::repeat_n(0, limbs));
    }

    /// The decimal digits (most significant first; leading zeros possible).
    fn into_digits(mut self) -> Vec<u8> {
        let mut chunks = Vec::new();
        while self.0.iter().any(|&l| l != 0) {
            let mut rem = 0u64;
            for limb in self.0.iter_mut().rev() {
                let cur = (rem << 32) | u64::from(*limb);
                *limb = (cur / 1_000_000_000) as u32;
                rem = cur % 1_000_000_000;
            }
            while self.0.last() == Some(&0) {
                self.0.pop();
            }
            chunks.push(rem as u32);
        }
        let mut digits = Vec::with_capacity(chunks.len() * 9);
        for c in chunks.iter().rev() {
            let mut chunk = [0u8; 9];
            let mut c = *c;
            for d in chunk.iter_mut().rev() {
                *d = (c % 10) as u8;
                c /= 10;
            }
            digits.extend_from_slice(&chunk);
        }
        digits
    }
}

fn compare_doubles(x: f64, y: f64) -> Ordering {
    match (x.is_nan(), y.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        // -0.0 == 0.0, as MongoDB has it.
        _ => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
    }
}

fn compare_int_double(i: i64, d: f64) -> Ordering {
    if d.is_nan() {
        return Ordering::Greater;
    }
    if d >= 9.223_372_036_854_776e18 {
        return Ordering::Less;
    }
    if d < -9.223_372_036_854_776e18 {
        return Ordering::Greater;
    }
    let t = d.trunc() as i64;
    match i.cmp(&t) {
        Ordering::Equal => {
            // Same integer part: the fraction decides.
            let frac = d - d.trunc();
            if frac > 0.0 {
                Ordering::Less
            } else if frac < 0.0 {
                Ordering::Greater
            } else {
                Ordering::Equal
            }
        }
        o => o,
    }
}

/// MongoDB's total order over BSON values (sort order; range operators use it within a type
/// bracket). Documents compare field by field (value type, then name, then value), arrays
/// element by element; a shorter prefix is smaller.
pub fn compare(a: &Bson, b: &Bson) -> Ordering {
    let (ra, rb) = (type_rank(a), type_rank(b));
    if ra != rb {
        return ra.cmp(&rb);
    }
    match (a, b) {
        _ if ra == 3 => compare_numbers(a, b),
        (Bson::String(x) | Bson::Symbol(x), Bson::String(y) | Bson::Symbol(y)) => x.as_bytes().cmp(y.as_bytes()),
        (Bson::Document(x), Bson::Document(y)) => compare_documents(x, y),
        (Bson::Array(x), Bson::Array(y)) => compare_arrays(x, y),
        (Bson::Binary(x), Bson::Binary(y)) => x
            .bytes
            .len()
            .cmp(&y.bytes.len())
            .then_with(|| u8::from(x.subtype).cmp(&u8::from(y.subtype)))
            .then_with(|| x.bytes.cmp(&y.bytes)),
        (Bson::ObjectId(x), Bson::ObjectId(y)) => x.bytes().cmp(&y.bytes()),
        (Bson::Boolean(x), Bson::Boolean(y)) => x.cmp(y),
        (Bson::DateTime(x), Bson::DateTime(y)) => x.timestamp_millis().cmp(&y.timestamp_millis()),
        (Bson::Timestamp(x), Bson::Timestamp(y)) => (x.time, x.increment).cmp(&(y.time, y.increment)),
        (Bson::RegularExpression(x), Bson::RegularExpression(y)) => {
            x.pattern.as_str().cmp(y.pattern.as_str()).then_with(|| x.options.as_str().cmp(y.options.as_str()))
        }
        (Bson::JavaScriptCode(x), Bson::JavaScriptCode(y)) => x.cmp(y),
        (Bson::JavaScriptCodeWithScope(x), Bson::JavaScriptCodeWithScope(y)) => {
            x.code.cmp(&y.code).then_with(|| compare_documents(&x.scope, &y.scope))
        }
        (Bson::DbPointer(x), Bson::DbPointer(y)) => format!("{x:?}").cmp(&format!("{y:?}")),
        // MinKey, MaxKey, Null/Undefined: one value each.
        _ => Ordering::Equal,
    }
}

/// Documents: pair by pair, by value type, then field name, then value; then by length.
pub fn compare_documents(x: &Document, y: &Document) -> Ordering {
    let mut ix = x.iter();
    let mut iy = y.iter();
    loop {
        match (ix.next(), iy.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some((kx, vx)), Some((ky, vy))) => {
                let o = type_rank(vx).cmp(&type_rank(vy)).then_with(|| kx.as_bytes().cmp(ky.as_bytes())).then_with(|| compare(vx, vy));
                if o != Ordering::Equal {
                    return o;
                }
            }
        }
    }
}

pub fn compare_arrays(x: &[Bson], y: &[Bson]) -> Ordering {
    for (a, b) in x.iter().zip(y) {
        let o = compare(a, b);
        if o != Ordering::Equal {
            return o;
        }
    }
    x.len().cmp(&y.len())
}

/// MongoDB equality (`$eq` on one value, duplicate `_id`s): same bracket and compares equal,
/// so `1`, `1.0` and `NumberLong(1)` are equal, and a string never equals a number.
pub fn equal(a: &Bson, b: &Bson) -> bool {
    compare(a, b) == Ordering::Equal
}

/// The `$type` alias of `v` ("double", "string", "object"...).
pub fn type_name(v: &Bson) -> &'static str {
    match v {
        Bson::Double(_) => "double",
        Bson::String(_) => "string",
        Bson::Document(_) => "object",
        Bson::Array(_) => "array",
        Bson::Binary(_) => "binData",
        Bson::Undefined => "undefined",
        Bson::ObjectId(_) => "objectId",
        Bson::Boolean(_) => "bool",
        Bson::DateTime(_) => "date",
        Bson::Null => "null",
        Bson::RegularExpression(_) => "regex",
        Bson::DbPointer(_) => "dbPointer",
        Bson::JavaScriptCode(_) => "javascript",
        Bson::Symbol(_) => "symbol",
        Bson::JavaScriptCodeWithScope(_) => "javascriptWithScope",
        Bson::Int32(_) => "int",
        Bson::Timestamp(_) => "timestamp",
        Bson::Int64(_) => "long",
        Bson::Decimal128(_) => "decimal",
        Bson::MinKey => "minKey",
        Bson::MaxKey => "maxKey",
    }
}

/// The BSON type number of `v` (`$type: 2` matches strings).
pub fn type_number(v: &Bson) -> i32 {
    match v {
        Bson::Double(_) => 1,
        Bson::String(_) => 2,
        Bson::Document(_) => 3,
        Bson::Array(_) => 4,
        Bson::Binary(_) => 5,
        Bson::Undefined => 6,
        Bson::ObjectId(_) => 7,
        Bson::Boolean(_) => 8,
        Bson::DateTime(_) => 9,
        Bson::Null => 10,
        Bson::RegularExpression(_) => 11,
        Bson::DbPointer(_) => 12,
        Bson::JavaScriptCode(_) => 13,
        Bson::Symbol(_) => 14,
        Bson::JavaScriptCodeWithScope(_) => 15,
        Bson::Int32(_) => 16,
        Bson::Timestamp(_) => 17,
        Bson::Int64(_) => 18,
        Bson::Decimal128(_) => 19,
        Bson::MinKey => -1,
        Bson::MaxKey => 127,
    }
}

/// The type number of a `$type` alias ("number" is not one: it is handled by the caller).
pub fn type_number_of_alias(alias: &str) -> Option<i32> {
    Some(match alias {
        "double" => 1,
        "string" => 2,
        "object" => 3,
        "array" => 4,
        "binData" => 5,
        "undefined" => 6,
        "objectId" => 7,
        "bool" => 8,
        "date" => 9,
        "null" => 10,
        "regex" => 11,
        "dbPointer" => 12,
        "javascript" => 13,
        "symbol" => 14,
        "javascriptWithScope" => 15,
        "int" => 16,
        "timestamp" => 17,
        "long" => 18,
        "decimal" => 19,
        "minKey" => -1,
        "maxKey" => 127,
        _ => return None,
    })
}

/// The value at a dotted `path` without array expansion: each component names a document
/// field, or (when the value there is an array) an index (`"items.0.sku"`). None if missing.
pub fn get_path<'a>(doc: &'a Document, path: &str) -> Option<&'a Bson> {
    let mut parts = path.split('.');
    let mut cur = doc.get(parts.next()?)?;
    for p in parts {
        cur = match cur {
            Bson::Document(d) => d.get(p)?,
            Bson::Array(a) => a.get(p.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// The nesting depth of a document (a document with only scalars is depth 1).
pub fn depth(doc: &Document) -> usize {
    fn of(v: &Bson) -> usize {
        match v {
            Bson::Document(d) => depth(d),
            Bson::Array(a) => 1 + a.iter().map(of).max().unwrap_or(0),
            _ => 0,
        }
    }
    1 + doc.values().map(of).max().unwrap_or(0)
}

// --- Raw BSON (`RawBsonRef`) views -------------------------------------------------------------
//
// The same order as `compare`, with the left side read straight from raw bytes (no `Bson` is
// built for strings, documents or arrays). `compare_raw(a, b)` equals
// `compare(&Bson::try_from(a)?, b)`; errors only on malformed raw bytes.

/// `type_rank` of a raw value.
pub fn raw_type_rank(v: RawBsonRef<'_>) -> u8 {
    match v {
        RawBsonRef::MinKey => 1,
        RawBsonRef::Null | RawBsonRef::Undefined => 2,
        RawBsonRef::Int32(_) | RawBsonRef::Int64(_) | RawBsonRef::Double(_) | RawBsonRef::Decimal128(_) => 3,
        RawBsonRef::Symbol(_) | RawBsonRef::String(_) => 4,
        RawBsonRef::Document(_) => 5,
        RawBsonRef::Array(_) => 6,
        RawBsonRef::Binary(_) => 7,
        RawBsonRef::ObjectId(_) => 8,
        RawBsonRef::Boolean(_) => 9,
        RawBsonRef::DateTime(_) => 10,
        RawBsonRef::Timestamp(_) => 11,
        RawBsonRef::RegularExpression(_) => 12,
        RawBsonRef::DbPointer(_) => 13,
        RawBsonRef::JavaScriptCode(_) => 14,
        RawBsonRef::JavaScriptCodeWithScope(_) => 15,
        RawBsonRef::MaxKey => 16,
    }
}

/// `type_number` of a raw value (its BSON element type; MinKey is -1).
pub fn raw_type_number(v: RawBsonRef<'_>) -> i32 {
    match v.element_type() {
        bson::spec::ElementType::MinKey => -1,
        t => i32::from(t as u8),
    }
}

/// The `Bson` of a raw value whose `Bson` form owns no heap memory (numbers, booleans, null,
/// undefined, MinKey/MaxKey, ObjectId, dates, timestamps); None for strings, documents,
/// arrays, binaries, regexes, code, symbols and DBPointers.
#[inline]
pub fn raw_scalar(v: RawBsonRef<'_>) -> Option<Bson> {
    Some(match v {
        RawBsonRef::Double(d) => Bson::Double(d),
        RawBsonRef::Int32(i) => Bson::Int32(i),
        RawBsonRef::Int64(i) => Bson::Int64(i),
        RawBsonRef::Decimal128(d) => Bson::Decimal128(d),
        RawBsonRef::Boolean(b) => Bson::Boolean(b),
        RawBsonRef::Null => Bson::Null,
        RawBsonRef::Undefined => Bson::Undefined,
        RawBsonRef::MinKey => Bson::MinKey,
        RawBsonRef::MaxKey => Bson::MaxKey,
        RawBsonRef::ObjectId(o) => Bson::ObjectId(o),
        RawBsonRef::DateTime(d) => Bson::DateTime(d),
        RawBsonRef::Timestamp(t) => Bson::Timestamp(t),
        _ => return None,
    })
}

/// A malformed stored document (validated documents never produce it).
pub fn raw_error(e: impl std::fmt::Display) -> DocError {
    DocError::new(super::error::codes::INTERNAL_ERROR, "InternalError", format!("malformed stored BSON document: {e}"))
}

/// `Bson::try_from(v)` (the whole value decoded: allocates for strings, documents...).
pub fn raw_to_bson(v: RawBsonRef<'_>) -> Result<Bson, DocError> {
    Bson::try_from(v).map_err(raw_error)
}

/// Regex options as `Bson::try_from` gives them (characters sorted), compared with `other`.
/// Options are almost always already sorted ASCII: then no allocation.
pub fn raw_regex_options_cmp(raw: &str, other: &str) -> Ordering {
    if raw.as_bytes().is_ascii() && raw.as_bytes().is_sorted() {
        raw.cmp(other)
    } else {
        let mut chars: Vec<char> = raw.chars().collect();
        chars.sort_unstable();
        chars.into_iter().collect::<String>().as_str().cmp(other)
    }
}

/// `compare(&Bson::try_from(a)?, b)` without decoding `a`.
pub fn compare_raw(a: RawBsonRef<'_>, b: &Bson) -> Result<Ordering, DocError> {
    let (ra, rb) = (raw_type_rank(a), type_rank(b));
    if ra != rb {
        return Ok(ra.cmp(&rb));
    }
    if let Some(x) = raw_scalar(a) {
        return Ok(compare(&x, b));
    }
    Ok(match (a, b) {
        (RawBsonRef::String(x) | RawBsonRef::Symbol(x), Bson::String(y) | Bson::Symbol(y)) => x.as_bytes().cmp(y.as_bytes()),
        (RawBsonRef::Document(x), Bson::Document(y)) => compare_documents_raw(x, y)?,
        (RawBsonRef::Array(x), Bson::Array(y)) => compare_arrays_raw(x, y)?,
        (RawBsonRef::Binary(x), Bson::Binary(y)) => x
            .bytes
            .len()
            .cmp(&y.bytes.len())
            .then_with(|| u8::from(x.subtype).cmp(&u8::from(y.subtype)))
            .then_with(|| x.bytes.cmp(&y.bytes)),
        (RawBsonRef::RegularExpression(x), Bson::RegularExpression(y)) => {
            x.pattern.as_str().cmp(y.pattern.as_str()).then_with(|| raw_regex_options_cmp(x.options.as_str(), y.options.as_str()))
        }
        (RawBsonRef::JavaScriptCode(x), Bson::JavaScriptCode(y)) => x.cmp(y.as_str()),
        (RawBsonRef::JavaScriptCodeWithScope(x), Bson::JavaScriptCodeWithScope(y)) => match x.code.cmp(y.code.as_str()) {
            Ordering::Equal => compare_documents_raw(x.scope, &y.scope)?,
            o => o,
        },
        // DBPointers compare by their debug form (`compare`): decode (rare, deprecated type).
        (RawBsonRef::DbPointer(_), _) => compare(&raw_to_bson(a)?, b),
        _ => Ordering::Equal,
    })
}

/// `compare_documents` with the left document raw.
pub fn compare_documents_raw(x: &RawDocument, y: &Document) -> Result<Ordering, DocError> {
    let mut iy = y.iter();
    for item in x {
        let (kx, vx) = item.map_err(raw_error)?;
        let Some((ky, vy)) = iy.next() else { return Ok(Ordering::Greater) };
        let o = raw_type_rank(vx).cmp(&type_rank(vy)).then_with(|| kx.as_str().as_bytes().cmp(ky.as_bytes()));
        if o != Ordering::Equal {
            return Ok(o);
        }
        let o = compare_raw(vx, vy)?;
        if o != Ordering::Equal {
            return Ok(o);
        }
    }
    Ok(if iy.next().is_some() { Ordering::Less } else { Ordering::Equal })
}

/// `compare_arrays` with the left array raw.
pub fn compare_arrays_raw(x: &RawArray, y: &[Bson]) -> Result<Ordering, DocError> {
    compare_array_values_raw(x.into_iter().map(|e| e.map_err(raw_error)), y)
}

/// `compare_arrays` with the left array's values read raw (an array's elements, whatever
/// their keys).
pub fn compare_array_values_raw<'a>(x: impl Iterator<Item = Result<RawBsonRef<'a>, DocError>>, y: &[Bson]) -> Result<Ordering, DocError> {
    let mut n = 0;
    for e in x {
        let e = e?;
        let Some(b) = y.get(n) else { return Ok(Ordering::Greater) };
        let o = compare_raw(e, b)?;
        if o != Ordering::Equal {
            return Ok(o);
        }
        n += 1;
    }
    Ok(n.cmp(&y.len()))
}

/// `equal(&Bson::try_from(a)?, b)` without decoding `a`.
pub fn equal_raw(a: RawBsonRef<'_>, b: &Bson) -> Result<bool, DocError> {
    Ok(compare_raw(a, b)? == Ordering::Equal)
}

// --- Order-preserving key encoding ------------------------------------------------------------
//
// `encode_key(v)` produces bytes whose memcmp order is `compare`'s order, and which are equal
// exactly when the values are `equal` (so 1, 1.0 and 1L are one `_id`). Layout: one type-rank
// byte, then per type:
// - numbers: the nearest double's bits made sortable (sign flipped, negatives inverted; a
//   finite Decimal128 beyond the double range takes ±f64::MAX), then one tie byte: 0x80 when
//   the value is that double (every double and int32, most int64s), else 0x7E/0x7F (below it,
//   negative/positive) or 0x81/0x82 (above it) and the exact value's magnitude
//   (`Exact::encode_magnitude`, inverted when negative). Rounding to nearest is monotonic, so
//   the double orders values with different doubles and the exact part those sharing one:
//   large int64s, Decimal128("9.99") against the double 9.99, are distinct and ordered;
// - strings: bytes with 0x00 escaped as 0x00 0xFF, terminated by 0x00 0x00;
// - documents: per field, the value's rank byte, the escaped name, the value; then 0x00;
// - arrays: each element's key, then 0x00 (ranks start at 1, so a shorter array sorts first);
// - binary: length (u32 BE), subtype, bytes; ObjectId: 12 bytes; bool: 0/1; date: i64 with
//   the sign bit flipped; timestamp: time, increment (u32 BE); regex: pattern, options.
// Descending index fields invert every byte of their part (done by the index, issue 8).

/// Append the order-preserving key of `v` to `out`.
pub fn encode_key(v: &Bson, out: &mut Vec<u8>) {
    out.push(type_rank(v));
    match v {
        Bson::Int32(_) | Bson::Int64(_) | Bson::Double(_) | Bson::Decimal128(_) => encode_number(v, out),
        Bson::String(s) | Bson::Symbol(s) | Bson::JavaScriptCode(s) => encode_str(s.as_bytes(), out),
        Bson::Document(d) => {
            for (k, v) in d {
                out.push(type_rank(v));
                encode_str(k.as_bytes(), out);
                encode_key(v, out);
            }
            out.push(0);
        }
        Bson::Array(a) => {
            for e in a {
                encode_key(e, out);
            }
            out.push(0);
        }
        Bson::Binary(b) => {
            out.extend_from_slice(&(b.bytes.len() as u32).to_be_bytes());
            out.push(u8::from(b.subtype));
            out.extend_from_slice(&b.bytes);
        }
        Bson::ObjectId(o) => out.extend_from_slice(&o.bytes()),
        Bson::Boolean(b) => out.push(u8::from(*b)),
        Bson::DateTime(d) => out.extend_from_slice(&((d.timestamp_millis() as u64) ^ (1 << 63)).to_be_bytes()),
        Bson::Timestamp(t) => {
            out.extend_from_slice(&t.time.to_be_bytes());
            out.extend_from_slice(&t.increment.to_be_bytes());
        }
        Bson::RegularExpression(r) => {
            encode_str(r.pattern.as_str().as_bytes(), out);
            encode_str(r.options.as_str().as_bytes(), out);
        }
        Bson::JavaScriptCodeWithScope(c) => {
            encode_str(c.code.as_bytes(), out);
            encode_key(&Bson::Document(c.scope.clone()), out);
        }
        Bson::DbPointer(p) => encode_str(format!("{p:?}").as_bytes(), out),
        Bson::MinKey | Bson::MaxKey | Bson::Null | Bson::Undefined => {}
    }
}

/// Whether `{_id: v}` is answered by the `_id` index alone: `v` is not a document, array,
/// regex, null or undefined (those match by other rules than key equality).
pub fn is_id_lookup_value(v: &Bson) -> bool {
    !matches!(v, Bson::Document(_) | Bson::Array(_) | Bson::RegularExpression(_) | Bson::Null | Bson::Undefined)
}

/// The key of `v` as a new buffer.
pub fn key_of(v: &Bson) -> Vec<u8> {
    let mut out = Vec::with_capacity(16);
    encode_key(v, &mut out);
    out
}

/// Append a string's key bytes: 0x00 escaped as 0x00 0xFF, then the 0x00 0x00 terminator
/// (index entries and text terms use it too, into their own buffers).
pub(crate) fn encode_str(s: &[u8], out: &mut impl Extend<u8>) {
    for (i, run) in s.split(|&b| b == 0).enumerate() {
        if i > 0 {
            out.extend([0, 0xFF]);
        }
        out.extend(run.iter().copied());
    }
    out.extend([0, 0]);
}

fn sortable_f64(d: f64) -> u64 {
    if d.is_nan() {
        return 0; // below every number
    }
    let d = if d == 0.0 { 0.0 } else { d }; // -0.0 == 0.0
    let bits = d.to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    }
}

/// The tie byte of a number equal to its double (see `encode_number`).
pub(crate) const NUMBER_EXACT: u8 = 0x80;

fn encode_number(v: &Bson, out: &mut Vec<u8>) {
    // The nearest double `d` (a finite Decimal128 beyond the double range: ±f64::MAX, so that
    // it stays below the infinity), then how the value stands to `d` when it is not `d`.
    let (d, exact) = match v {
        Bson::Int32(i) => (f64::from(*i), None),
        Bson::Double(d) => (*d, None),
        Bson::Int64(i) => {
            let d = *i as f64;
            (d, (compare_int_double(*i, d) != Ordering::Equal).then(|| Exact::of(v)))
        }
        Bson::Decimal128(x) => {
            let e = Exact::from_decimal(x);
            let mut d = decimal_to_f64(x);
            if d.is_infinite() && matches!(e, Exact::Finite { .. }) {
                d = f64::MAX.copysign(d);
            }
            let exact = matches!(e, Exact::Finite { .. }) && e != Exact::from_f64(d);
            (d, exact.then_some(e))
        }
        _ => (f64::NAN, None),
    };
    out.extend_from_slice(&sortable_f64(d).to_be_bytes());
    match exact {
        None => out.push(NUMBER_EXACT),
        Some(e) => {
            let below = e < Exact::from_f64(d);
            let neg = matches!(e, Exact::Finite { neg: true, .. });
            out.push(match (below, neg) {
                (true, true) => 0x7E,
                (true, false) => 0x7F,
                (false, true) => 0x81,
                (false, false) => 0x82,
            });
            e.encode_magnitude(out);
        }
    }
}

/// The integer an Int64 number key holds (`encode_number`'s inverse for integers): None if
/// the key is not one of an integer within the int64 range.
pub(crate) fn decode_int_key(body: &[u8]) -> Option<i64> {
    let bits = u64::from_be_bytes(body.get(..8)?.try_into().ok()?);
    let d = f64::from_bits(if bits >> 63 == 1 { bits & !(1 << 63) } else { !bits });
    let tie = *body.get(8)?;
    if tie == NUMBER_EXACT {
        return (d.fract() == 0.0 && (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&d)).then_some(d as i64);
    }
    let neg = tie == 0x7E || tie == 0x81;
    let at = |i: usize| body.get(i).map(|b| if neg { !b } else { *b });
    let adjusted = i32::from(u16::from_be_bytes([at(9)?, at(10)?])) - 0x8000;
    let mut digits = Vec::new();
    let mut i = 11;
    loop {
        let b = at(i)?;
        if b == 0 {
            break;
        }
        digits.push((b - 1) / 10);
        digits.push((b - 1) % 10);
        i += 1;
    }
    if !(0..19).contains(&adjusted) {
        return None;
    }
    let mut mag: i128 = 0;
    for k in 0..=adjusted as usize {
        mag = mag * 10 + i128::from(digits.get(k).copied().unwrap_or(0));
    }
    i64::try_from(if neg { -mag } else { mag }).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::{doc, oid::ObjectId};

    fn ordered() -> Vec<Bson> {
        vec![
            Bson::MinKey,
            Bson::Null,
            Bson::Double(f64::NAN),
            Bson::Double(f64::NEG_INFINITY),
            Bson::Int64(-(1 << 60) - 1),
            Bson::Int64(-(1 << 60)),
            Bson::Int32(-5),
            Bson::Double(-4.5),
            Bson::Int32(0),
            Bson::Double(0.5),
            Bson::Int64(1),
            Bson::Double(1.5),
            Bson::Int64((1 << 60) + 1),
            Bson::Double(f64::INFINITY),
            Bson::String("".into()),
            Bson::String("a".into()),
            Bson::String("a\0".into()),
            Bson::String("ab".into()),
            Bson::String("b".into()),
            Bson::Document(doc! {}),
            Bson::Document(doc! {"a": 1}),
            Bson::Document(doc! {"a": 1, "b": 1}),
            Bson::Document(doc! {"b": 0}),
            Bson::Document(doc! {"a": "x"}),
            Bson::Array(vec![]),
            Bson::Array(vec![Bson::Int32(1)]),
            Bson::Array(vec![Bson::Int32(1), Bson::Int32(2)]),
            Bson::Array(vec![Bson::Int32(2)]),
            Bson::Binary(bson::Binary { subtype: bson::spec::BinarySubtype::Generic, bytes: vec![9] }),
            Bson::Binary(bson::Binary { subtype: bson::spec::BinarySubtype::Generic, bytes: vec![1, 2] }),
            Bson::ObjectId(ObjectId::from_bytes([0; 12])),
            Bson::ObjectId(ObjectId::from_bytes([1; 12])),
            Bson::Boolean(false),
            Bson::Boolean(true),
            Bson::DateTime(bson::DateTime::from_millis(-1)),
            Bson::DateTime(bson::DateTime::from_millis(5)),
            Bson::Timestamp(bson::Timestamp { time: 1, increment: 2 }),
            Bson::MaxKey,
        ]
    }

    #[test]
    fn compare_and_key_agree_with_mongodb_order() {
        let vals = ordered();
        for (i, a) in vals.iter().enumerate() {
            for (j, b) in vals.iter().enumerate() {
                assert_eq!(compare(a, b), i.cmp(&j), "compare {a:?} {b:?}");
                assert_eq!(key_of(a).cmp(&key_of(b)), i.cmp(&j), "key {a:?} {b:?}");
            }
        }
    }

    #[test]
    fn numbers_are_equal_across_types() {
        for (a, b) in [(Bson::Int32(1), Bson::Double(1.0)), (Bson::Int64(1), Bson::Int32(1)), (Bson::Double(-0.0), Bson::Int32(0))] {
            assert!(equal(&a, &b));
            assert_eq!(key_of(&a), key_of(&b));
        }
        let d: bson::Decimal128 = "2.50".parse().unwrap();
        assert!(equal(&Bson::Decimal128(d), &Bson::Double(2.5)));
        assert!(!equal(&Bson::Int32(1), &Bson::String("1".into())));
        assert!(equal(&Bson::Null, &Bson::Undefined));
        assert_eq!(compare_int_double(i64::MAX, 9.3e18), Ordering::Less);
    }

    fn dec(s: &str) -> Bson {
        Bson::Decimal128(s.parse().unwrap())
    }

    /// Decimal128 against doubles and int64s by exact value (the mongo shell's "Equality and
    /// Sort Order" example, values a double cannot hold, the ends of both ranges).
    #[test]
    fn decimals_compare_by_exact_value() {
        // Ascending; equal neighbours share a group.
        let groups: Vec<Vec<Bson>> = vec![
            vec![Bson::Double(f64::NAN), dec("NaN"), dec("-NaN")],
            vec![Bson::Double(f64::NEG_INFINITY), dec("-Infinity")],
            vec![dec("-1E+6144")],
            vec![dec("-1.8E+308")],
            vec![Bson::Double(-f64::MAX)],
            vec![dec("-9007199254740993"), Bson::Int64(-9007199254740993)],
            vec![Bson::Double(-9007199254740992.0), dec("-9007199254740992")],
            vec![Bson::Double(-0.1)],
            vec![dec("-0.1")],
            vec![dec("-1E-400")],
            vec![Bson::Double(0.0), Bson::Double(-0.0), dec("0"), dec("-0"), dec("0E-6176"), Bson::Int32(0)],
            vec![dec("1E-6176")],
            vec![dec("4.9E-324")],
            vec![Bson::Double(5e-324)],
            vec![dec("0.1")],
            vec![Bson::Double(0.1)],
            vec![dec("0.25"), Bson::Double(0.25)],
            vec![dec("9.99")],
            vec![Bson::Double(9.99)],
            vec![Bson::Double(10.0), Bson::Int64(10), dec("10.0"), dec("1E+1"), Bson::Int32(10)],
            vec![Bson::Double(9007199254740992.0), Bson::Int64(9007199254740992)],
            vec![dec("9007199254740993"), Bson::Int64(9007199254740993), dec("9007199254740993.000")],
            vec![dec("9223372036854775807"), Bson::Int64(i64::MAX)],
            vec![Bson::Double(9223372036854775808.0), dec("9223372036854775808")],
            vec![Bson::Double(f64::MAX)],
            vec![dec("1.8E+308")],
            vec![dec("9.999999999999999999999999999999999E+6144")],
            vec![Bson::Double(f64::INFINITY), dec("Infinity")],
        ];
        for (i, ga) in groups.iter().enumerate() {
            for (j, gb) in groups.iter().enumerate() {
                for a in ga {
                    for b in gb {
                        assert_eq!(compare(a, b), i.cmp(&j), "compare {a:?} {b:?}");
                        assert_eq!(key_of(a).cmp(&key_of(b)), i.cmp(&j), "key {a:?} {b:?}");
                    }
                }
            }
        }
        assert_eq!(Exact::of(&dec("9.99")), Exact::Finite { neg: false, adjusted: 0, digits: vec![9, 9, 9] });
        assert_eq!(Exact::of(&dec("-120E-5")), Exact::Finite { neg: true, adjusted: -3, digits: vec![1, 2] });
        assert_eq!(Exact::of(&Bson::Double(0.375)), Exact::Finite { neg: false, adjusted: -1, digits: vec![3, 7, 5] });
        assert_eq!(
            Exact::of(&Bson::Double(1024.0 * 1024.0 * 1024.0 * 1024.0 * 1024.0 * 1024.0 * 1024.0)),
            Exact::of(&dec("1180591620717411303424"))
        );
        // A double's full expansion: 0.1 is 0.1000000000000000055511151231257827021181583404541015625.
        let Exact::Finite { digits, adjusted, .. } = Exact::of(&Bson::Double(0.1)) else { panic!() };
        assert_eq!((adjusted, digits.len()), (-1, 55));
        assert_eq!(
            digits.iter().map(|d| (b'0' + d) as char).collect::<String>(),
            "1000000000000000055511151231257827021181583404541015625"
        );
    }

    mod property {
        use super::*;
        use proptest::prelude::*;

        /// Numbers near one another: doubles, the decimals of their shortest and longer
        /// renderings, int64s around 2^53 and Decimal128s of any exponent.
        fn number() -> impl Strategy<Value = Bson> {
            prop_oneof![
                any::<f64>().prop_map(Bson::Double),
                (-1000i64..1000).prop_map(|i| Bson::Double(i as f64 / 8.0)),
                any::<f64>().prop_map(|d| Bson::Decimal128(format!("{d:e}").parse().unwrap_or_else(|_| "NaN".parse().unwrap()))),
                (any::<f64>(), 15usize..25)
                    .prop_map(|(d, p)| Bson::Decimal128(format!("{d:.p$e}").parse().unwrap_or_else(|_| "NaN".parse().unwrap()))),
                (-3i64..3).prop_map(|k| Bson::Int64((1 << 53) + k)),
                any::<i64>().prop_map(Bson::Int64),
                any::<i32>().prop_map(Bson::Int32),
                (any::<i64>(), -6176i32..6111).prop_map(|(c, e)| Bson::Decimal128(format!("{c}E{e}").parse().unwrap())),
                (any::<i64>(), -400i32..330).prop_map(|(c, e)| Bson::Decimal128(format!("{c}E{e}").parse().unwrap())),
                any::<[u8; 16]>().prop_map(|b| Bson::Decimal128(bson::Decimal128::from_bytes(b))),
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(5000))]
            /// `compare` is an order consistent with the keys and with exact values; its double
            /// fast path agrees with the exact comparison; int64 keys decode back.
            #[test]
            fn numbers_order_exactly_and_keys_agree(a in number(), b in number(), c in number()) {
                let ab = compare(&a, &b);
                prop_assert_eq!(ab, compare(&b, &a).reverse());
                prop_assert_eq!(ab, Exact::of(&a).cmp(&Exact::of(&b)), "{:?} {:?}", a, b);
                prop_assert_eq!(key_of(&a).cmp(&key_of(&b)), ab, "{:?} {:?}", a, b);
                if ab != Ordering::Greater && compare(&b, &c) != Ordering::Greater {
                    prop_assert_ne!(compare(&a, &c), Ordering::Greater);
                }
                if let Bson::Int64(i) = a {
                    prop_assert_eq!(decode_int_key(&key_of(&a)[1..]), Some(i));
                }
            }

            /// The exact expansion of doubles orders as the doubles do, and a Decimal128
            /// holding a double's exact value (when it has at most 34 digits) equals it.
            #[test]
            fn double_expansion_is_exact(x in any::<f64>(), y in any::<f64>(), k in -60i32..60, m in 0u32..(1 << 20)) {
                if !x.is_nan() && !y.is_nan() {
                    prop_assert_eq!(Exact::from_f64(x).cmp(&Exact::from_f64(y)), x.partial_cmp(&y).unwrap());
                }
                let d = f64::from(m) * 2f64.powi(k);
                if let Exact::Finite { digits, adjusted, neg } = Exact::from_f64(d) {
                    if digits.len() <= 34 && !neg {
                        let text: String = digits.iter().map(|d| (b'0' + d) as char).collect();
                        let text = if text.is_empty() { "0".to_string() } else { format!("0.{text}E{}", adjusted + 1) };
                        prop_assert_eq!(compare(&dec(&text), &Bson::Double(d)), Ordering::Equal, "{} {}", text, d);
                    }
                }
            }
        }
    }

    #[test]
    fn path_lookup_and_depth() {
        let d = doc! {"a": {"b": [{"c": 1}, {"c": 2}]}};
        assert_eq!(get_path(&d, "a.b.1.c"), Some(&Bson::Int32(2)));
        assert_eq!(get_path(&d, "a.x"), None);
        assert_eq!(depth(&d), 4);
        assert_eq!(depth(&doc! {}), 1);
    }
}
