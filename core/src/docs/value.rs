//! BSON values as MongoDB compares them: the cross-type order (`type_rank`), total comparison
//! (`compare`, used by sort and range operators), equality (`equal`: `1 == 1.0 == 1L`), the
//! numeric view of the four number types, `$type` names, plain dotted-path lookup, and the
//! order-preserving binary key encoding (`encode_key`) that the `_id` index (and every
//! secondary index) is ordered by.
//!
//! Order (MongoDB's "Comparison/Sort Order"): MinKey < Null (and Undefined, and missing) <
//! numbers < Symbol, String < Object < Array < BinData < ObjectId < Boolean < Date <
//! Timestamp < Regular Expression < DBPointer < JavaScript < JavaScript with scope < MaxKey.
//! Numbers compare by value across int32/int64/double/decimal128; NaN sorts below every other
//! number and equals itself. Strings compare by bytes (the simple collation).

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
            let (x, y) = (as_f64(a).unwrap_or(f64::NAN), as_f64(b).unwrap_or(f64::NAN));
            compare_doubles(x, y)
        }
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
// - numbers: the double's bits made sortable (sign flipped, negatives inverted), then 8 bytes
//   of the exact int64 remainder beyond the double (0 for doubles), so large int64s that
//   round to the same double stay distinct and ordered;
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

fn encode_number(v: &Bson, out: &mut Vec<u8>) {
    let (d, rem): (f64, i64) = match v {
        Bson::Int64(i) => {
            let d = *i as f64;
            // The part of `i` the double lost (d is within 2^11 of i for |i| < 2^63).
            let back = if d >= 9.223_372_036_854_776e18 { i64::MAX } else { d as i64 };
            (d, i.wrapping_sub(back))
        }
        _ => (as_f64(v).unwrap_or(f64::NAN), 0),
    };
    out.extend_from_slice(&sortable_f64(d).to_be_bytes());
    out.extend_from_slice(&((rem as u64) ^ (1 << 63)).to_be_bytes());
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

    #[test]
    fn path_lookup_and_depth() {
        let d = doc! {"a": {"b": [{"c": 1}, {"c": 2}]}};
        assert_eq!(get_path(&d, "a.b.1.c"), Some(&Bson::Int32(2)));
        assert_eq!(get_path(&d, "a.x"), None);
        assert_eq!(depth(&d), 4);
        assert_eq!(depth(&doc! {}), 1);
    }
}
