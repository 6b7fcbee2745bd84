//! Documents across the Python boundary: Python values <-> BSON (pymongo's mapping), and the
//! two native entry points the pure-Python `nestdb.mongo` layer is built on:
//! `Database._doc_command(db, command)` (one MongoDB database command, reply as a dict) and
//! `Database._doc_atomic(ops)` (key commands and document commands as one transaction).
//!
//! Mapping (as pymongo's default codec options): int -> int32 when it fits, else int64 (beyond
//! int64: OverflowError); `nestdb._bson.Int64` (or pymongo's) -> int64; float, str, bool, None,
//! dict / any Mapping (order kept), list/tuple, bytes -> binary subtype 0, `datetime` -> UTC
//! datetime (naive = UTC; milliseconds kept), `re.Pattern` -> regex, and the `nestdb._bson`
//! classes (ObjectId, Decimal128, Binary, Timestamp, Regex, MinKey, MaxKey, Code), recognised by
//! class name and attributes so pymongo's own `bson` classes work too. Decoding gives plain
//! Python types, `Int64` for int64, naive UTC datetimes, and the `nestdb._bson` classes.
//! Anything else raises `nestdb._bson.InvalidDocument`, before anything runs.

use crate::encode::str_utf8;
use nestdb::bson::{self, spec::BinarySubtype, Bson, Document};
use pyo3::exceptions::{PyOverflowError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple, PyType};

/// Nesting beyond this is refused while converting (cyclic structures end here too).
const MAX_NESTING: usize = 150;

struct Classes {
    object_id: Py<PyType>,
    decimal128: Py<PyType>,
    binary: Py<PyType>,
    timestamp: Py<PyType>,
    regex: Py<PyType>,
    int64: Py<PyType>,
    min_key: Py<PyType>,
    max_key: Py<PyType>,
    code: Py<PyType>,
    invalid_document: Py<PyType>,
    datetime: Py<PyType>,
    re_pattern: Py<PyType>,
    mapping: Py<PyType>,
}

static CLASSES: PyOnceLock<Classes> = PyOnceLock::new();

fn classes(py: Python<'_>) -> PyResult<&Classes> {
    CLASSES.get_or_try_init(py, || {
        let b = py.import("nestdb._bson")?;
        let t = |m: &Bound<'_, PyModule>, name: &str| -> PyResult<Py<PyType>> { Ok(m.getattr(name)?.cast_into::<PyType>()?.unbind()) };
        Ok(Classes {
            object_id: t(&b, "ObjectId")?,
            decimal128: t(&b, "Decimal128")?,
            binary: t(&b, "Binary")?,
            timestamp: t(&b, "Timestamp")?,
            regex: t(&b, "Regex")?,
            int64: t(&b, "Int64")?,
            min_key: t(&b, "MinKey")?,
            max_key: t(&b, "MaxKey")?,
            code: t(&b, "Code")?,
            invalid_document: t(&b, "InvalidDocument")?,
            datetime: t(&py.import("datetime")?, "datetime")?,
            re_pattern: t(&py.import("re")?, "Pattern")?,
            mapping: t(&py.import("collections.abc")?, "Mapping")?,
        })
    })
}

fn invalid(py: Python<'_>, msg: String) -> PyErr {
    match classes(py) {
        Ok(c) => {
            PyErr::from_value(c.invalid_document.bind(py).call1((msg,)).unwrap_or_else(|e| e.into_value(py).into_bound(py).into_any()))
        }
        Err(e) => e,
    }
}

// --- Python -> BSON ------------------------------------------------------------------------------

/// A Python mapping as a BSON document.
pub(crate) fn to_document(obj: &Bound<'_, PyAny>) -> PyResult<Document> {
    to_document_at(obj, 0)
}

fn to_document_at(obj: &Bound<'_, PyAny>, depth: usize) -> PyResult<Document> {
    let py = obj.py();
    if depth > MAX_NESTING {
        return Err(invalid(py, format!("document nesting exceeds {MAX_NESTING} levels")));
    }
    let mut doc = Document::new();
    let mut put = |k: &Bound<'_, PyAny>, v: &Bound<'_, PyAny>| -> PyResult<()> {
        let Ok(key) = k.cast::<PyString>() else {
            return Err(invalid(py, format!("documents must have only string keys, key was {}", k.repr()?)));
        };
        let key = str_utf8(key)?;
        if key.contains('\0') {
            return Err(invalid(py, format!("key {key:?} must not contain a NUL character")));
        }
        doc.insert(key, to_bson_at(v, depth + 1)?);
        Ok(())
    };
    if let Ok(d) = obj.cast::<PyDict>() {
        for (k, v) in d.iter() {
            put(&k, &v)?;
        }
        return Ok(doc);
    }
    if obj.is_instance(classes(py)?.mapping.bind(py))? {
        for item in obj.call_method0("items")?.try_iter()? {
            let (k, v): (Bound<'_, PyAny>, Bound<'_, PyAny>) = item?.extract()?;
            put(&k, &v)?;
        }
        return Ok(doc);
    }
    Err(PyTypeError::new_err(format!(
        "document must be an instance of dict, bson.son.SON, or any other type that inherits from collections.abc.Mapping, not {}",
        obj.get_type().name()?
    )))
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type().name().map(|n| n.to_string()).unwrap_or_default()
}

fn to_bson_at(obj: &Bound<'_, PyAny>, depth: usize) -> PyResult<Bson> {
    let py = obj.py();
    if depth > MAX_NESTING {
        return Err(invalid(py, format!("document nesting exceeds {MAX_NESTING} levels")));
    }
    if obj.is_none() {
        return Ok(Bson::Null);
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Bson::String(str_utf8(s)?.to_string()));
    }
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Bson::Boolean(b.is_true()));
    }
    if let Ok(i) = obj.cast::<PyInt>() {
        let v: i64 = i.extract().map_err(|_| PyOverflowError::new_err("MongoDB can only handle up to 8-byte ints"))?;
        if obj.is_exact_instance_of::<PyInt>() {
            return Ok(i32::try_from(v).map_or(Bson::Int64(v), Bson::Int32));
        }
        return Ok(if type_name(obj) == "Int64" { Bson::Int64(v) } else { i32::try_from(v).map_or(Bson::Int64(v), Bson::Int32) });
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        return Ok(Bson::Double(f.value()));
    }
    if obj.is_instance_of::<PyDict>() {
        return Ok(Bson::Document(to_document_at(obj, depth)?));
    }
    if let Ok(l) = obj.cast::<PyList>() {
        return l.iter().map(|e| to_bson_at(&e, depth + 1)).collect::<PyResult<Vec<_>>>().map(Bson::Array);
    }
    if let Ok(t) = obj.cast::<PyTuple>() {
        return t.iter().map(|e| to_bson_at(&e, depth + 1)).collect::<PyResult<Vec<_>>>().map(Bson::Array);
    }
    let c = classes(py)?;
    let name = type_name(obj);
    if let Ok(b) = obj.cast::<PyBytes>() {
        let subtype = if name == "Binary" { obj.getattr("subtype")?.extract::<u8>()? } else { 0 };
        return Ok(Bson::Binary(bson::Binary { subtype: BinarySubtype::from(subtype), bytes: b.as_bytes().to_vec() }));
    }
    if let Ok(b) = obj.cast::<PyByteArray>() {
        return Ok(Bson::Binary(bson::Binary { subtype: BinarySubtype::Generic, bytes: b.to_vec() }));
    }
    if obj.is_instance(c.datetime.bind(py))? {
        return Ok(Bson::DateTime(bson::DateTime::from_millis(datetime_millis(obj)?)));
    }
    match name.as_str() {
        "ObjectId" => {
            let bin = obj.getattr("binary")?;
            let bytes: [u8; 12] = bin
                .cast::<PyBytes>()
                .ok()
                .and_then(|b| b.as_bytes().try_into().ok())
                .ok_or_else(|| invalid(py, "ObjectId.binary must be 12 bytes".into()))?;
            return Ok(Bson::ObjectId(bson::oid::ObjectId::from_bytes(bytes)));
        }
        "Decimal128" => {
            if let Ok(bid) = obj.getattr("bid") {
                if let Ok(b) = bid.cast::<PyBytes>() {
                    if let Ok(arr) = <[u8; 16]>::try_from(b.as_bytes()) {
                        return Ok(Bson::Decimal128(bson::Decimal128::from_bytes(arr)));
                    }
                }
            }
            let text = obj.str().and_then(|s| str_utf8(&s).map(str::to_string))?;
            let d: bson::Decimal128 = text.parse().map_err(|_| invalid(py, format!("invalid Decimal128 value {text:?}")))?;
            return Ok(Bson::Decimal128(d));
        }
        "Timestamp" => {
            let time: u32 = obj.getattr("time")?.extract()?;
            let increment: u32 = obj.getattr("inc")?.extract()?;
            return Ok(Bson::Timestamp(bson::Timestamp { time, increment }));
        }
        "MinKey" => return Ok(Bson::MinKey),
        "MaxKey" => return Ok(Bson::MaxKey),
        "Code" => return Ok(Bson::JavaScriptCode(obj.str().and_then(|s| str_utf8(&s).map(str::to_string))?)),
        "Regex" => {
            let pattern: String = obj.getattr("pattern")?.extract()?;
            let flags = obj.getattr("flags")?;
            let options = match flags.extract::<String>() {
                Ok(s) => s,
                Err(_) => re_flags_to_options(flags.extract::<i64>()?),
            };
            return regex_bson(py, pattern, options);
        }
        "UUID" => {
            return Err(invalid(
                py,
                "cannot encode native uuid.UUID with UuidRepresentation.UNSPECIFIED. UUIDs can be manually converted to bson.Binary instances using bson.Binary.from_uuid() or a different UuidRepresentation can be configured.".into(),
            ))
        }
        _ => {}
    }
    if obj.is_instance(c.re_pattern.bind(py))? {
        let pattern: String = obj.getattr("pattern")?.extract().map_err(|_| invalid(py, "regex patterns must be str".into()))?;
        let flags: i64 = obj.getattr("flags")?.extract()?;
        return regex_bson(py, pattern, re_flags_to_options(flags));
    }
    if obj.is_instance(c.mapping.bind(py))? {
        return Ok(Bson::Document(to_document_at(obj, depth)?));
    }
    Err(invalid(py, format!("cannot encode object: {}, of type: {}", obj.repr()?, obj.get_type().repr()?)))
}

fn regex_bson(py: Python<'_>, pattern: String, mut options: String) -> PyResult<Bson> {
    if pattern.contains('\0') || options.contains('\0') {
        return Err(invalid(py, "regex patterns must not contain NUL".into()));
    }
    let mut chars: Vec<char> = options.chars().collect();
    chars.sort_unstable();
    chars.dedup();
    options = chars.into_iter().collect();
    let pattern = pattern.try_into().map_err(|_| invalid(py, "regex patterns must not contain NUL".into()))?;
    let options = options.try_into().map_err(|_| invalid(py, "regex options must not contain NUL".into()))?;
    Ok(Bson::RegularExpression(bson::Regex { pattern, options }))
}

/// Python `re` flags as BSON regex option letters (pymongo's mapping).
fn re_flags_to_options(flags: i64) -> String {
    let mut s = String::new();
    for (bit, letter) in [(2, 'i'), (4, 'l'), (8, 'm'), (16, 's'), (32, 'u'), (64, 'x')] {
        if flags & bit != 0 {
            s.push(letter);
        }
    }
    s
}

/// A `datetime` as Unix milliseconds (naive = UTC; aware converted with its offset).
fn datetime_millis(obj: &Bound<'_, PyAny>) -> PyResult<i64> {
    let get = |n: &str| -> PyResult<i64> { obj.getattr(n)?.extract() };
    let days = days_from_civil(get("year")?, get("month")?, get("day")?);
    let mut ms = ((days * 24 + get("hour")?) * 60 + get("minute")?) * 60 * 1000 + get("second")? * 1000 + get("microsecond")? / 1000;
    let offset = obj.call_method0("utcoffset")?;
    if !offset.is_none() {
        let secs: f64 = offset.call_method0("total_seconds")?.extract()?;
        ms -= (secs * 1000.0).round() as i64;
    }
    Ok(ms)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

// --- BSON -> Python ------------------------------------------------------------------------------

pub(crate) fn document_to_py<'py>(py: Python<'py>, doc: &Document) -> PyResult<Bound<'py, PyAny>> {
    let d = PyDict::new(py);
    for (k, v) in doc {
        d.set_item(k, bson_to_py(py, v)?)?;
    }
    Ok(d.into_any())
}

pub(crate) fn bson_to_py<'py>(py: Python<'py>, v: &Bson) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        Bson::Double(f) => PyFloat::new(py, *f).into_any(),
        Bson::String(s) | Bson::Symbol(s) => PyString::new(py, s).into_any(),
        Bson::Document(d) => document_to_py(py, d)?,
        Bson::Array(a) => {
            let items = a.iter().map(|e| bson_to_py(py, e)).collect::<PyResult<Vec<_>>>()?;
            PyList::new(py, items)?.into_any()
        }
        Bson::Boolean(b) => PyBool::new(py, *b).to_owned().into_any(),
        Bson::Null | Bson::Undefined | Bson::DbPointer(_) => py.None().into_bound(py),
        Bson::Int32(i) => i.into_pyobject(py)?.into_any(),
        Bson::Int64(i) => classes(py)?.int64.bind(py).call1((*i,))?,
        Bson::ObjectId(o) => classes(py)?.object_id.bind(py).call1((PyBytes::new(py, &o.bytes()),))?,
        Bson::DateTime(dt) => {
            let ms = dt.timestamp_millis();
            let (days, rem) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
            let (y, m, d) = civil_from_days(days);
            if !(1..=9999).contains(&y) {
                return Err(PyValueError::new_err(format!("date value out of range for a Python datetime: {ms} ms since the epoch")));
            }
            let (h, mi, s, us) = (rem / 3_600_000, rem / 60_000 % 60, rem / 1000 % 60, rem % 1000 * 1000);
            classes(py)?.datetime.bind(py).call1((y, m, d, h, mi, s, us))?
        }
        Bson::Binary(b) => {
            let st = u8::from(b.subtype);
            if st == 0 {
                PyBytes::new(py, &b.bytes).into_any()
            } else {
                classes(py)?.binary.bind(py).call1((PyBytes::new(py, &b.bytes), st))?
            }
        }
        Bson::RegularExpression(r) => classes(py)?.regex.bind(py).call1((r.pattern.as_str(), r.options.as_str()))?,
        Bson::JavaScriptCode(c) => classes(py)?.code.bind(py).call1((c.as_str(),))?,
        Bson::JavaScriptCodeWithScope(c) => classes(py)?.code.bind(py).call1((c.code.as_str(),))?,
        Bson::Timestamp(t) => classes(py)?.timestamp.bind(py).call1((t.time, t.increment))?,
        Bson::Decimal128(d) => classes(py)?.decimal128.bind(py).call1((d.to_string(),))?,
        Bson::MinKey => classes(py)?.min_key.bind(py).call0()?,
        Bson::MaxKey => classes(py)?.max_key.bind(py).call0()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_round_trip() {
        for days in [-719_468, -1, 0, 1, 365, 10_957, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }
}
