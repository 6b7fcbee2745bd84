//! Argument encoding: Python values -> the bytes of one command argument, exactly as
//! redis-py's `Encoder.encode` does it (bytes-like as is, `str` encoded with the client's
//! encoding, `int`/`float` as `repr()`, `bool` and everything else refused with `DataError`).
//!
//! Invariants: a borrowed argument (`Arg::Borrowed`) points into an immutable Python object
//! (`bytes`, or the UTF-8 cache of a `str`) that the caller keeps alive for the whole command,
//! so it stays valid while the GIL is released. Mutable buffers (`bytearray`, `memoryview`)
//! are always copied. Cost: O(len) only for copies; exact `bytes`/`str` keys are zero-copy.

use std::os::raw::c_char;

use pyo3::exceptions::PyTypeError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyFloat, PyInt, PyMemoryView, PyString};

use crate::errors;

// `PyUnicode_AsUTF8AndSize` is in the limited API only from 3.10, but every CPython since 3.3
// exports it; the abi3-py39 build declares it here so `str` arguments are read in place (the
// UTF-8 form is cached inside the `str` object) instead of through a temporary `bytes` copy.
extern "C" {
    fn PyUnicode_AsUTF8AndSize(unicode: *mut ffi::PyObject, size: *mut ffi::Py_ssize_t) -> *const c_char;
}

/// One encoded argument.
pub(crate) enum Arg<'a> {
    Borrowed(&'a [u8]),
    Owned(Vec<u8>),
}

impl std::ops::Deref for Arg<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Arg::Borrowed(b) => b,
            Arg::Owned(v) => v,
        }
    }
}

/// How a client turns `str` into bytes and bytes back into `str` (redis-py's `encoding`,
/// `encoding_errors` and `decode_responses`).
pub(crate) struct Codec {
    /// Return `str` instead of `bytes`.
    pub(crate) decode: bool,
    /// `None` = UTF-8 with strict errors (the fast path); otherwise (encoding, errors).
    pub(crate) custom: Option<(Py<PyString>, Py<PyString>)>,
}

impl Codec {
    pub(crate) fn new(py: Python<'_>, decode: bool, encoding: &str, errors: &str) -> Codec {
        let norm = encoding.to_ascii_lowercase().replace('_', "-");
        let utf8 = matches!(norm.as_str(), "utf-8" | "utf8") && errors == "strict";
        let custom = if utf8 { None } else { Some((PyString::new(py, encoding).unbind(), PyString::new(py, errors).unbind())) };
        Codec { decode, custom }
    }

    /// Encode one argument (redis-py `Encoder.encode`).
    pub(crate) fn encode<'a>(&self, obj: &'a Bound<'_, PyAny>) -> PyResult<Arg<'a>> {
        if let Ok(b) = obj.cast_exact::<PyBytes>() {
            return Ok(Arg::Borrowed(b.as_bytes()));
        }
        if obj.is_exact_instance_of::<PyString>() {
            return self.encode_str(obj);
        }
        if obj.is_exact_instance_of::<PyInt>() {
            return Ok(Arg::Owned(int_text(obj)?));
        }
        if let Ok(f) = obj.cast_exact::<PyFloat>() {
            return float_repr(obj.py(), f.value());
        }
        self.encode_slow(obj)
    }

    #[cold]
    fn encode_slow<'a>(&self, obj: &'a Bound<'_, PyAny>) -> PyResult<Arg<'a>> {
        if let Ok(b) = obj.cast::<PyBytes>() {
            return Ok(Arg::Borrowed(b.as_bytes()));
        }
        if let Ok(b) = obj.cast::<PyByteArray>() {
            return Ok(Arg::Owned(b.to_vec()));
        }
        if obj.is_instance_of::<PyMemoryView>() {
            let b = obj.call_method0("tobytes")?;
            return Ok(Arg::Owned(b.cast::<PyBytes>()?.as_bytes().to_vec()));
        }
        if obj.is_instance_of::<pyo3::types::PyBool>() {
            return Err(errors::data_error(obj.py(), "Invalid input of type: 'bool'. Convert to a bytes, string, int or float first."));
        }
        if obj.is_instance_of::<PyInt>() || obj.is_instance_of::<PyFloat>() {
            // Subclasses (IntEnum, numpy scalars...): redis-py uses repr(), so do we.
            return Ok(Arg::Owned(obj.repr()?.to_cow()?.as_bytes().to_vec()));
        }
        if obj.is_instance_of::<PyString>() {
            return self.encode_str(obj);
        }
        let name = obj.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into());
        Err(errors::data_error(obj.py(), &format!("Invalid input of type: '{name}'. Convert to a bytes, string, int or float first.")))
    }

    fn encode_str<'a>(&self, obj: &'a Bound<'_, PyAny>) -> PyResult<Arg<'a>> {
        if let Some((enc, errs)) = &self.custom {
            let b = obj.call_method1("encode", (enc.bind(obj.py()), errs.bind(obj.py())))?;
            let b = b.cast_into::<PyBytes>().map_err(|_| PyTypeError::new_err("str.encode() did not return bytes"))?;
            return Ok(Arg::Owned(b.as_bytes().to_vec()));
        }
        if !obj.is_exact_instance_of::<PyString>() {
            // A str subclass may override encode(); redis-py calls it.
            let b = obj.call_method1("encode", ("utf-8", "strict"))?;
            let b = b.cast_into::<PyBytes>().map_err(|_| PyTypeError::new_err("str.encode() did not return bytes"))?;
            return Ok(Arg::Owned(b.as_bytes().to_vec()));
        }
        let mut size: ffi::Py_ssize_t = 0;
        // SAFETY: `obj` is an exact `str` (checked above) and we hold the GIL. The returned
        // buffer is owned by the `str` object, immutable, and lives as long as `obj` ('a).
        let ptr = unsafe { PyUnicode_AsUTF8AndSize(obj.as_ptr(), &mut size) };
        if ptr.is_null() {
            // Lone surrogates: UnicodeEncodeError, as `str.encode("utf-8")` raises.
            return Err(PyErr::fetch(obj.py()));
        }
        // SAFETY: CPython guarantees `size` valid bytes at `ptr` for the object's lifetime.
        Ok(Arg::Borrowed(unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), size as usize) }))
    }
}

/// The UTF-8 text of a `str` (exact or subclass), read in place.
pub(crate) fn str_utf8<'a>(obj: &'a Bound<'_, PyString>) -> PyResult<&'a str> {
    let mut size: ffi::Py_ssize_t = 0;
    // SAFETY: `obj` is a `str` and we hold the GIL; the UTF-8 buffer is cached in the object
    // and lives as long as it ('a).
    let ptr = unsafe { PyUnicode_AsUTF8AndSize(obj.as_ptr(), &mut size) };
    if ptr.is_null() {
        return Err(PyErr::fetch(obj.py()));
    }
    // SAFETY: `size` bytes at `ptr`, valid UTF-8: PyUnicode_AsUTF8AndSize encodes the string
    // strictly (a lone surrogate is a UnicodeEncodeError, the NULL return above), so checking
    // them again would only repeat CPython's work on every key and string value.
    unsafe { Ok(std::str::from_utf8_unchecked(std::slice::from_raw_parts(ptr.cast::<u8>(), size as usize))) }
}

/// `repr(x)` of a float, by CPython's own formatter (shortest round-trip digits).
fn float_repr(py: Python<'_>, x: f64) -> PyResult<Arg<'static>> {
    // SAFETY: plain C call; the result is NULL (error set) or a PyMem_Malloc'ed C string that
    // we copy and free.
    let p = unsafe { ffi::PyOS_double_to_string(x, b'r' as c_char, 0, ffi::Py_DTSF_ADD_DOT_0, std::ptr::null_mut()) };
    if p.is_null() {
        return Err(PyErr::fetch(py));
    }
    // SAFETY: `p` is a valid NUL-terminated string until freed below.
    let out = unsafe { std::ffi::CStr::from_ptr(p) }.to_bytes().to_vec();
    // SAFETY: allocated by PyOS_double_to_string with PyMem_Malloc.
    unsafe { ffi::PyMem_Free(p.cast()) };
    Ok(Arg::Owned(out))
}

/// Decimal text of an exact Python int (`repr(int)`), big ints included.
fn int_text(obj: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    match obj.extract::<i64>() {
        Ok(i) => Ok(i.to_string().into_bytes()),
        Err(_) => Ok(obj.str()?.to_cow()?.as_bytes().to_vec()),
    }
}
