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
use pyo3::intern;
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

/// A Python value as BSON.
pub(crate) fn to_bson(obj: &Bound<'_, PyAny>) -> PyResult<Bson> {
    to_bson_at(obj, 0)
}

/// One Python value as BSON (the general converter, for the rare types of the raw writer).
fn to_bson_value(obj: &Bound<'_, PyAny>, depth: usize) -> PyResult<Bson> {
    to_bson_at(obj, depth)
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
        // `Code` (ours and pymongo's) is a str subclass: JavaScript, with its scope if any.
        if !obj.is_exact_instance_of::<PyString>() && type_name(obj) == "Code" {
            let code = str_utf8(s)?.to_string();
            return match obj.getattr("scope") {
                Ok(scope) if !scope.is_none() => {
                    Ok(Bson::JavaScriptCodeWithScope(bson::JavaScriptCodeWithScope { code, scope: to_document_at(&scope, depth + 1)? }))
                }
                _ => Ok(Bson::JavaScriptCode(code)),
            };
        }
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
            let bin = obj.getattr(intern!(py, "binary"))?;
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
        "DBRef" => {
            // pymongo stores a DBRef as {$ref, $id[, $db]} plus its extra fields.
            let mut d = Document::new();
            d.insert("$ref", Bson::String(obj.getattr("collection")?.extract()?));
            d.insert("$id", to_bson_at(&obj.getattr("id")?, depth + 1)?);
            let database = obj.getattr("database")?;
            if !database.is_none() {
                d.insert("$db", Bson::String(database.extract()?));
            }
            if let Ok(extra) = obj.getattr("_DBRef__kwargs") {
                if let Ok(extra) = to_document_at(&extra, depth + 1) {
                    d.extend(extra);
                }
            }
            return Ok(Bson::Document(d));
        }
        "UUID" => {
            return Err(PyValueError::new_err(
                "cannot encode native uuid.UUID with UuidRepresentation.UNSPECIFIED. UUIDs can be manually converted to bson.Binary instances using bson.Binary.from_uuid() or a different UuidRepresentation can be configured.",
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
    let py = obj.py();
    // Interned attribute names: no string is built per lookup.
    let get = |n: &Bound<'_, PyString>| -> PyResult<i64> { obj.getattr(n)?.extract() };
    let days = days_from_civil(get(intern!(py, "year"))?, get(intern!(py, "month"))?, get(intern!(py, "day"))?);
    let mut ms = ((days * 24 + get(intern!(py, "hour"))?) * 60 + get(intern!(py, "minute"))?) * 60 * 1000
        + get(intern!(py, "second"))? * 1000
        + get(intern!(py, "microsecond"))? / 1000;
    // A naive datetime (no tzinfo) is UTC; only an aware one needs its offset.
    if !obj.getattr(intern!(py, "tzinfo"))?.is_none() {
        let offset = obj.call_method0(intern!(py, "utcoffset"))?;
        if !offset.is_none() {
            let secs: f64 = offset.call_method0(intern!(py, "total_seconds"))?.extract()?;
            ms -= (secs * 1000.0).round() as i64;
        }
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
    document_keyed(py, doc, &mut crate::fastpy::keys())
}

fn document_keyed<'py>(py: Python<'py>, doc: &Document, keys: &mut crate::fastpy::Keys<'_>) -> PyResult<Bound<'py, PyAny>> {
    let d = PyDict::new(py);
    for (k, v) in doc {
        let value = bson_keyed(py, v, keys)?;
        d.set_item(crate::fastpy::key(py, keys, k), value)?;
    }
    Ok(d.into_any())
}

pub(crate) fn bson_to_py<'py>(py: Python<'py>, v: &Bson) -> PyResult<Bound<'py, PyAny>> {
    bson_keyed(py, v, &mut crate::fastpy::keys())
}

fn bson_keyed<'py>(py: Python<'py>, v: &Bson, keys: &mut crate::fastpy::Keys<'_>) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        Bson::Double(f) => PyFloat::new(py, *f).into_any(),
        Bson::String(s) | Bson::Symbol(s) => PyString::new(py, s).into_any(),
        Bson::Document(d) => document_keyed(py, d, keys)?,
        Bson::Array(a) => {
            let items = a.iter().map(|e| bson_keyed(py, e, keys)).collect::<PyResult<Vec<_>>>()?;
            PyList::new(py, items)?.into_any()
        }
        Bson::Boolean(b) => PyBool::new(py, *b).to_owned().into_any(),
        Bson::Null | Bson::Undefined | Bson::DbPointer(_) => py.None().into_bound(py),
        Bson::Int32(i) => i.into_pyobject(py)?.into_any(),
        Bson::Int64(i) => classes(py)?.int64.bind(py).call1((*i,))?,
        Bson::ObjectId(o) => object_id_to_py(py, o)?,
        Bson::DateTime(dt) => datetime_to_py(py, dt.timestamp_millis())?,
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
        Bson::JavaScriptCodeWithScope(c) => classes(py)?.code.bind(py).call1((c.code.as_str(), document_keyed(py, &c.scope, keys)?))?,
        Bson::Timestamp(t) => classes(py)?.timestamp.bind(py).call1((t.time, t.increment))?,
        Bson::Decimal128(d) => classes(py)?.decimal128.bind(py).call1((d.to_string(),))?,
        Bson::MinKey => classes(py)?.min_key.bind(py).call0()?,
        Bson::MaxKey => classes(py)?.max_key.bind(py).call0()?,
    })
}

// --- Python -> raw BSON, written directly ---------------------------------------------------------
//
// The insert path encodes Python documents straight into BSON bytes (no intermediate
// `Document`, one buffer per document), as pymongo's C extension does.

/// Encode `obj` (a mapping) as a BSON document. `id` is written first when given (an insert
/// document's `_id`), and an `_id` key of the mapping is then skipped.
pub(crate) fn write_document(out: &mut Vec<u8>, obj: &Bound<'_, PyAny>, depth: usize, id: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
    let py = obj.py();
    if depth > MAX_NESTING {
        return Err(invalid(py, format!("document nesting exceeds {MAX_NESTING} levels")));
    }
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    if let Some(id) = id {
        write_element(out, "_id", id, depth)?;
    }
    let mut put = |k: &Bound<'_, PyAny>, v: &Bound<'_, PyAny>| -> PyResult<()> {
        let Ok(key) = k.cast::<PyString>() else {
            return Err(invalid(py, format!("documents must have only string keys, key was {}", k.repr()?)));
        };
        let key = str_utf8(key)?;
        if id.is_some() && key == "_id" {
            return Ok(());
        }
        write_element(out, key, v, depth)
    };
    if let Ok(d) = obj.cast::<PyDict>() {
        for (k, v) in d.iter() {
            put(&k, &v)?;
        }
    } else if obj.is_instance(classes(py)?.mapping.bind(py))? {
        for item in obj.call_method0("items")?.try_iter()? {
            let (k, v): (Bound<'_, PyAny>, Bound<'_, PyAny>) = item?.extract()?;
            put(&k, &v)?;
        }
    } else {
        return Err(PyTypeError::new_err(format!(
            "document must be an instance of dict, bson.son.SON, or any other type that inherits from collections.abc.Mapping, not {}",
            obj.get_type().name()?
        )));
    }
    out.push(0);
    let len = i32::try_from(out.len() - start).map_err(|_| invalid(py, "document too large for BSON".into()))?;
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    Ok(())
}

fn cstring(out: &mut Vec<u8>, py: Python<'_>, s: &str) -> PyResult<()> {
    if s.as_bytes().contains(&0) {
        return Err(invalid(py, format!("key {s:?} must not contain a NUL character")));
    }
    out.extend_from_slice(s.as_bytes());
    out.push(0);
    Ok(())
}

fn string_value(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&((s.len() + 1) as i32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
    out.push(0);
}

fn write_element(out: &mut Vec<u8>, key: &str, v: &Bound<'_, PyAny>, depth: usize) -> PyResult<()> {
    let py = v.py();
    let type_at = out.len();
    out.push(0);
    cstring(out, py, key)?;
    let ty = write_value(out, v, depth)?;
    out[type_at] = ty;
    Ok(())
}

/// Write `v`'s BSON value bytes; returns its element type byte.
fn write_value(out: &mut Vec<u8>, v: &Bound<'_, PyAny>, depth: usize) -> PyResult<u8> {
    let py = v.py();
    if v.is_none() {
        return Ok(0x0A);
    }
    if let Ok(s) = v.cast::<PyString>() {
        if v.is_exact_instance_of::<PyString>() || type_name(v) != "Code" {
            string_value(out, str_utf8(s)?);
            return Ok(0x02);
        }
        let code = str_utf8(s)?;
        return match v.getattr("scope") {
            Ok(scope) if !scope.is_none() => {
                let start = out.len();
                out.extend_from_slice(&[0; 4]);
                string_value(out, code);
                write_document(out, &scope, depth + 1, None)?;
                let len = (out.len() - start) as i32;
                out[start..start + 4].copy_from_slice(&len.to_le_bytes());
                Ok(0x0F)
            }
            _ => {
                string_value(out, code);
                Ok(0x0D)
            }
        };
    }
    if let Ok(b) = v.cast::<PyBool>() {
        out.push(u8::from(b.is_true()));
        return Ok(0x08);
    }
    if let Ok(i) = v.cast::<PyInt>() {
        let n: i64 = i.extract().map_err(|_| PyOverflowError::new_err("MongoDB can only handle up to 8-byte ints"))?;
        let as_int64 = !v.is_exact_instance_of::<PyInt>() && type_name(v) == "Int64";
        return Ok(match i32::try_from(n) {
            Ok(small) if !as_int64 => {
                out.extend_from_slice(&small.to_le_bytes());
                0x10
            }
            _ => {
                out.extend_from_slice(&n.to_le_bytes());
                0x12
            }
        });
    }
    if let Ok(f) = v.cast::<PyFloat>() {
        out.extend_from_slice(&f.value().to_le_bytes());
        return Ok(0x01);
    }
    if v.is_instance_of::<PyDict>() {
        write_document(out, v, depth + 1, None)?;
        return Ok(0x03);
    }
    let list = v.cast::<PyList>().ok();
    let tuple = if list.is_none() { v.cast::<PyTuple>().ok() } else { None };
    if list.is_some() || tuple.is_some() {
        if depth + 1 > MAX_NESTING {
            return Err(invalid(py, format!("document nesting exceeds {MAX_NESTING} levels")));
        }
        let start = out.len();
        out.extend_from_slice(&[0; 4]);
        let items: Box<dyn Iterator<Item = Bound<'_, PyAny>>> = match (list, tuple) {
            (Some(l), _) => Box::new(l.iter()),
            (_, Some(t)) => Box::new(t.iter()),
            _ => unreachable!("one of them is set"),
        };
        let mut key = itoa_key();
        for (i, item) in items.enumerate() {
            write_element(out, key.format(i), &item, depth + 1)?;
        }
        out.push(0);
        let len = (out.len() - start) as i32;
        out[start..start + 4].copy_from_slice(&len.to_le_bytes());
        return Ok(0x04);
    }
    let c = classes(py)?;
    if v.is_instance(c.datetime.bind(py))? {
        out.extend_from_slice(&datetime_millis(v)?.to_le_bytes());
        return Ok(0x09);
    }
    // Everything else: through the general converter (rare types), then its BSON bytes.
    let value = to_bson_value(v, depth)?;
    let doc = bson::doc! {"v": value};
    let raw = bson::RawDocumentBuf::try_from(&doc).map_err(|e| invalid(py, format!("cannot encode value: {e}")))?;
    // The element of a one-field document: type byte, "v\0", value bytes.
    let bytes = raw.as_bytes();
    out.extend_from_slice(&bytes[4 + 1 + 2..bytes.len() - 1]);
    Ok(bytes[4])
}

/// Decimal keys "0", "1", ... for arrays without allocating each.
struct KeyBuf([u8; 20]);

fn itoa_key() -> KeyBuf {
    KeyBuf([0; 20])
}

impl KeyBuf {
    fn format(&mut self, mut i: usize) -> &str {
        let mut pos = self.0.len();
        loop {
            pos -= 1;
            self.0[pos] = b'0' + (i % 10) as u8;
            i /= 10;
            if i == 0 {
                break;
            }
        }
        std::str::from_utf8(&self.0[pos..]).unwrap_or("0")
    }
}

// --- raw BSON -> Python ---------------------------------------------------------------------------

/// A stored document (raw BSON) as a dict, decoded straight from its bytes by a walker of its
/// own: keys come from the key cache without being validated again on a hit, strings are
/// validated once (by Python's decoder), and every length is bounds-checked, so a corrupt
/// document is a `ValueError`, never a crash. Rare types go through the `Bson` converter.
pub(crate) fn raw_document_to_py<'py>(py: Python<'py>, doc: &bson::RawDocument) -> PyResult<Bound<'py, PyAny>> {
    raw_container(py, doc.as_bytes(), &mut crate::fastpy::keys(), 0, false)
}

/// String values up to this length go through the key cache (they repeat: statuses, cities...).
const SHORT_STRING: usize = 16;

fn corrupt(what: &str) -> PyErr {
    PyValueError::new_err(format!("invalid BSON document: {what}"))
}

/// The little-endian i32 at the start of `b` as a length, if it is there and not negative.
fn read_len(b: &[u8]) -> PyResult<usize> {
    let word: [u8; 4] = b.get(..4).and_then(|w| w.try_into().ok()).ok_or_else(|| corrupt("truncated length"))?;
    usize::try_from(i32::from_le_bytes(word)).map_err(|_| corrupt("negative length"))
}

fn fixed<const N: usize>(b: &[u8]) -> PyResult<[u8; N]> {
    b.get(..N).and_then(|w| w.try_into().ok()).ok_or_else(|| corrupt("truncated value"))
}

/// A document or array: `b` is exactly its bytes (length, elements, terminating zero).
fn raw_container<'py>(
    py: Python<'py>,
    b: &[u8],
    keys: &mut crate::fastpy::Keys<'_>,
    depth: usize,
    array: bool,
) -> PyResult<Bound<'py, PyAny>> {
    if depth > MAX_NESTING {
        return Err(PyValueError::new_err(format!("document nesting exceeds {MAX_NESTING} levels")));
    }
    if b.len() < 5 || read_len(b)? != b.len() || b[b.len() - 1] != 0 {
        return Err(corrupt("bad document length"));
    }
    let body = &b[4..b.len() - 1];
    let (dict, list) = if array { (None, Some(PyList::empty(py))) } else { (Some(PyDict::new(py)), None) };
    let mut at = 0;
    while at < body.len() {
        let kind = body[at];
        at += 1;
        let key_len = body[at..].iter().position(|&c| c == 0).ok_or_else(|| corrupt("unterminated key"))?;
        let key = &body[at..at + key_len];
        at += key_len + 1;
        let (value, used) = raw_element(py, kind, &body[at..], keys, depth)?;
        at += used;
        match (&dict, &list) {
            (Some(d), _) => d.set_item(crate::fastpy::key_bytes(py, keys, key)?, value)?,
            (_, Some(l)) => l.append(value)?,
            _ => unreachable!("a container is a dict or a list"),
        }
    }
    Ok(match (dict, list) {
        (Some(d), _) => d.into_any(),
        (_, Some(l)) => l.into_any(),
        _ => unreachable!("a container is a dict or a list"),
    })
}

/// A BSON string value at the start of `rest`: its bytes (without the terminating zero) and
/// the length of the whole value.
fn raw_string(rest: &[u8]) -> PyResult<(&[u8], usize)> {
    let n = read_len(rest)?;
    let end = 4usize.checked_add(n).filter(|&e| n >= 1 && e <= rest.len()).ok_or_else(|| corrupt("bad string length"))?;
    if rest[end - 1] != 0 {
        return Err(corrupt("unterminated string"));
    }
    Ok((&rest[4..end - 1], end))
}

/// The value of an element of type `kind` at the start of `rest`, and its length in bytes.
fn raw_element<'py>(
    py: Python<'py>,
    kind: u8,
    rest: &[u8],
    keys: &mut crate::fastpy::Keys<'_>,
    depth: usize,
) -> PyResult<(Bound<'py, PyAny>, usize)> {
    Ok(match kind {
        0x01 => (PyFloat::new(py, f64::from_le_bytes(fixed(rest)?)).into_any(), 8),
        0x02 | 0x0E => {
            let (bytes, used) = raw_string(rest)?;
            let value = if bytes.len() <= SHORT_STRING {
                crate::fastpy::key_bytes(py, keys, bytes)?
            } else {
                crate::fastpy::str_from_utf8(py, bytes)?
            };
            (value.into_any(), used)
        }
        0x03 | 0x04 => {
            let n = read_len(rest)?;
            let inner = rest.get(..n).ok_or_else(|| corrupt("bad document length"))?;
            (raw_container(py, inner, keys, depth + 1, kind == 0x04)?, n)
        }
        0x08 => match rest.first() {
            Some(0) => (PyBool::new(py, false).to_owned().into_any(), 1),
            Some(1) => (PyBool::new(py, true).to_owned().into_any(), 1),
            _ => return Err(corrupt("bad boolean")),
        },
        0x06 | 0x0A => (py.None().into_bound(py), 0),
        0x10 => (i32::from_le_bytes(fixed(rest)?).into_pyobject(py)?.into_any(), 4),
        0x09 => (datetime_to_py(py, i64::from_le_bytes(fixed(rest)?))?, 8),
        0x12 => (classes(py)?.int64.bind(py).call1((i64::from_le_bytes(fixed(rest)?),))?, 8),
        0x07 => (object_id_to_py(py, &bson::oid::ObjectId::from_bytes(fixed(rest)?))?, 12),
        _ => {
            let used = match kind {
                0x05 => read_len(rest)?.checked_add(5).ok_or_else(|| corrupt("bad binary length"))?,
                0x0B => {
                    let first = rest.iter().position(|&c| c == 0).ok_or_else(|| corrupt("unterminated regex"))? + 1;
                    first + rest[first..].iter().position(|&c| c == 0).ok_or_else(|| corrupt("unterminated regex"))? + 1
                }
                0x0C => raw_string(rest)?.1 + 12,
                0x0D => raw_string(rest)?.1,
                0x0F => read_len(rest)?,
                0x11 => 8,
                0x13 => 16,
                0x7F | 0xFF => 0,
                other => return Err(corrupt(&format!("unknown element type {other:#04x}"))),
            };
            let value = rest.get(..used).ok_or_else(|| corrupt("truncated value"))?;
            // A one-element document around the value, read by the bson crate.
            let mut tmp = Vec::with_capacity(used + 7);
            tmp.extend_from_slice(&(used as i32 + 7).to_le_bytes());
            tmp.extend_from_slice(&[kind, 0]);
            tmp.extend_from_slice(value);
            tmp.push(0);
            let doc = bson::RawDocument::from_bytes(&tmp).map_err(|e| corrupt(&e.to_string()))?;
            let (_, v) = doc.into_iter().next().ok_or_else(|| corrupt("empty element"))?.map_err(|e| corrupt(&e.to_string()))?;
            let b = bson::Bson::try_from(v).map_err(|e| corrupt(&e.to_string()))?;
            (bson_keyed(py, &b, keys)?, used)
        }
    })
}

/// A BSON datetime (ms since the Unix epoch) as a naive UTC `datetime` (pymongo's default).
fn datetime_to_py(py: Python<'_>, ms: i64) -> PyResult<Bound<'_, PyAny>> {
    let (days, rem) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    let (y, m, d) = civil_from_days(days);
    if !(1..=9999).contains(&y) {
        return Err(PyValueError::new_err(format!("date value out of range for a Python datetime: {ms} ms since the epoch")));
    }
    let (h, mi, s, us) = (rem / 3_600_000, rem / 60_000 % 60, rem / 1000 % 60, rem % 1000 * 1000);
    crate::fastpy::datetime(py, classes(py)?.datetime.bind(py), (y, m, d, h, mi, s, us))
}

/// A fresh ObjectId (the bson crate's generator: time, per-process random, counter) as a
/// `nestdb._bson.ObjectId`.
pub(crate) fn new_object_id(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    object_id_to_py(py, &bson::oid::ObjectId::new())
}

/// A write error as MongoDB reports it in `writeErrors`.
pub(crate) fn write_error_to_py<'py>(py: Python<'py>, index: usize, e: &nestdb::DocError) -> PyResult<Bound<'py, PyAny>> {
    let mut d = bson::doc! {"index": index as i32, "code": e.code, "errmsg": &e.message};
    if let Some(extra) = e.details.as_deref() {
        for (k, v) in extra {
            d.insert(k.clone(), v.clone());
        }
    }
    document_to_py(py, &d)
}

/// A failed call as MongoDB's error reply (`ok: 0`, `errmsg`, `code`, `codeName`).
pub(crate) fn error_reply_to_py<'py>(py: Python<'py>, e: &nestdb::Error) -> PyResult<Bound<'py, PyAny>> {
    let d = match e {
        nestdb::Error::Document(e) => {
            let mut d = bson::doc! {"ok": 0.0, "errmsg": &e.message, "code": e.code, "codeName": e.code_name()};
            if let Some(extra) = e.details.as_deref() {
                for (k, v) in extra {
                    d.insert(k.clone(), v.clone());
                }
            }
            d
        }
        other => bson::doc! {"ok": 0.0, "errmsg": other.to_string(), "code": 125, "codeName": "CommandFailed"},
    };
    document_to_py(py, &d)
}

/// An ObjectId as `nestdb._bson.ObjectId`, made without running its Python `__init__`: the
/// object is allocated by `object.__new__` and its one slot (`_ObjectId__id`) set directly.
fn object_id_to_py<'py>(py: Python<'py>, o: &bson::oid::ObjectId) -> PyResult<Bound<'py, PyAny>> {
    static NEW: PyOnceLock<(Py<PyAny>, Py<PyString>)> = PyOnceLock::new();
    let cls = classes(py)?.object_id.bind(py);
    let (new, slot) = NEW.get_or_try_init(py, || -> PyResult<_> {
        Ok((py.import("builtins")?.getattr("object")?.getattr("__new__")?.unbind(), PyString::new(py, "_ObjectId__id").unbind()))
    })?;
    let obj = new.bind(py).call1((cls,))?;
    obj.setattr(slot.bind(py), PyBytes::new(py, &o.bytes()))?;
    Ok(obj)
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
