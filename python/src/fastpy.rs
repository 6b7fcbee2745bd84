//! Cheaper Python objects for decoded documents: the two costs that dominated turning a stored
//! document into a dict (profiled on 1M user profiles: ~35 objects per document).
//!
//! - **Keys** (and short string values): a document's field names repeat across documents, so
//!   their `str` objects are cached in a small direct-mapped table (2048 slots, names of at most 24 bytes). A hit is an
//!   incref of a string whose hash is already computed, instead of allocating, validating and
//!   hashing a new one. The table sits behind a `try_lock`: a thread that finds it busy (held by
//!   another thread across a GIL switch) decodes without it, so it can never block on it.
//!   Cached strings are never freed (at most 2048 small strings).
//! - **datetimes**: `datetime(y, m, d, ...)` called from Rust goes through argument-tuple
//!   building and keyword parsing; the `datetime` module's C API capsule
//!   (`datetime.datetime_CAPI`, imported with `PyCapsule_Import`, part of the stable ABI) gives
//!   its constructor directly. The capsule's struct is not part of the limited API, so it is
//!   trusted only after a check at first use: its `DateTimeType` must be the `datetime.datetime`
//!   class, and a datetime it builds must equal one built by calling the class. Otherwise the
//!   call path is used.

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyString, PyType};
use std::os::raw::c_int;
use std::sync::{Mutex, MutexGuard};

/// A power of two.
const KEY_SLOTS: usize = 2048;
/// Longest cached string, in bytes: up to 24 bytes, three overlapping words and the length
/// identify a string exactly (see `Fingerprint`).
const KEY_MAX: usize = 24;

/// A string of at most `KEY_MAX` bytes, exactly: its length and the words at its start, end and
/// middle (zero-padded below 8 bytes). For 8 < n <= 24 bytes, [0, 8), [n-8, n) and
/// [n/2-4, n/2+4) cover every byte.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Fingerprint {
    len: u64,
    words: [u64; 3],
}

impl Fingerprint {
    fn of(k: &[u8]) -> Fingerprint {
        let n = k.len();
        let at = |i: usize| u64::from_le_bytes(k[i..i + 8].try_into().expect("8 bytes"));
        let words = if n >= 8 {
            [at(0), at(n - 8), at(n / 2 - 4)]
        } else {
            let mut w = 0u64;
            for (i, &b) in k.iter().enumerate() {
                w |= u64::from(b) << (8 * i);
            }
            [w, 0, 0]
        };
        Fingerprint { len: n as u64, words }
    }

    fn slot(&self) -> usize {
        let [a, b, c] = self.words;
        let h =
            (a ^ self.len.rotate_left(32)).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ b.wrapping_mul(0xC2B2_AE3D_27D4_EB4F) ^ c.rotate_left(29);
        (h.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - KEY_SLOTS.trailing_zeros())) as usize
    }
}

struct KeySlot {
    print: Fingerprint,
    string: Py<PyString>,
}

pub(crate) struct KeyCache {
    slots: Vec<Option<KeySlot>>,
}

static KEYS: Mutex<Option<KeyCache>> = Mutex::new(None);

/// The key cache for one decode, or `None` when another thread holds it.
pub(crate) type Keys<'a> = Option<MutexGuard<'a, Option<KeyCache>>>;

pub(crate) fn keys() -> Keys<'static> {
    let mut guard = crate::locks::try_lock(&KEYS)?;
    if guard.is_none() {
        *guard = Some(KeyCache { slots: (0..KEY_SLOTS).map(|_| None).collect() });
    }
    Some(guard)
}

/// `key` as a Python `str`, from the cache when possible.
pub(crate) fn key<'py>(py: Python<'py>, keys: &mut Keys<'_>, key: &str) -> Bound<'py, PyString> {
    match cached(py, keys, key.as_bytes()) {
        Ok(s) => s,
        Err(slot) => remember(slot, PyString::new(py, key)),
    }
}

/// `key` (bytes, UTF-8 checked on a cache miss) as a Python `str`, from the cache when possible.
/// Also used for short string values (statuses, cities, tags...), which repeat as keys do.
pub(crate) fn key_bytes<'py>(py: Python<'py>, keys: &mut Keys<'_>, key: &[u8]) -> PyResult<Bound<'py, PyString>> {
    match cached(py, keys, key) {
        Ok(s) => Ok(s),
        Err(slot) => Ok(remember(slot, str_from_utf8(py, key)?)),
    }
}

type Vacancy<'k> = Option<(&'k mut Option<KeySlot>, Fingerprint)>;

/// The cached string for `bytes`, or the slot to remember it in (`None`: not cacheable).
fn cached<'py, 'k>(py: Python<'py>, keys: &'k mut Keys<'_>, bytes: &[u8]) -> Result<Bound<'py, PyString>, Vacancy<'k>> {
    let Some(cache) = keys.as_mut().and_then(|g| g.as_mut()).filter(|_| bytes.len() <= KEY_MAX) else {
        return Err(None);
    };
    let print = Fingerprint::of(bytes);
    let slot = &mut cache.slots[print.slot()];
    match slot {
        Some(s) if s.print == print => Ok(s.string.bind(py).clone()),
        _ => Err(Some((slot, print))),
    }
}

fn remember<'py>(vacancy: Vacancy<'_>, string: Bound<'py, PyString>) -> Bound<'py, PyString> {
    if let Some((slot, print)) = vacancy {
        // The displaced string (if any) is released here, with the GIL held.
        *slot = Some(KeySlot { print, string: string.clone().unbind() });
    }
    string
}

/// UTF-8 bytes as a `str`; invalid UTF-8 raises `UnicodeDecodeError` (Python's own decoder
/// validates, so the bytes are checked once).
pub(crate) fn str_from_utf8<'py>(py: Python<'py>, bytes: &[u8]) -> PyResult<Bound<'py, PyString>> {
    let len = ffi::Py_ssize_t::try_from(bytes.len()).map_err(|_| pyo3::exceptions::PyOverflowError::new_err("string too long"))?;
    // SAFETY: a pointer and length of a live slice; the result is a new reference or NULL with
    // an exception set.
    unsafe {
        let obj = ffi::PyUnicode_FromStringAndSize(bytes.as_ptr().cast(), len);
        Ok(Bound::from_owned_ptr_or_err(py, obj)?.cast_into_unchecked())
    }
}

type DateTimeCtor =
    unsafe extern "C" fn(c_int, c_int, c_int, c_int, c_int, c_int, c_int, *mut ffi::PyObject, *mut ffi::PyTypeObject) -> *mut ffi::PyObject;

/// The head of CPython's `PyDateTime_CAPI` (unchanged since 3.7; later versions only append).
#[repr(C)]
struct DateTimeCapiHead {
    date_type: *mut ffi::PyTypeObject,
    datetime_type: *mut ffi::PyTypeObject,
    time_type: *mut ffi::PyTypeObject,
    delta_type: *mut ffi::PyTypeObject,
    tzinfo_type: *mut ffi::PyTypeObject,
    timezone_utc: *mut ffi::PyObject,
    date_from_date: *const std::ffi::c_void,
    datetime_from_date_and_time: DateTimeCtor,
}

struct FastDateTime {
    ctor: DateTimeCtor,
    class: *mut ffi::PyTypeObject,
}

// SAFETY: a function pointer and a pointer to a type object that lives as long as the
// interpreter (the capsule holds the module's types); only used with the GIL held.
unsafe impl Send for FastDateTime {}
unsafe impl Sync for FastDateTime {}

static FAST_DATETIME: PyOnceLock<Option<FastDateTime>> = PyOnceLock::new();

fn fast_datetime(py: Python<'_>, class: &Bound<'_, PyType>) -> Option<&'static FastDateTime> {
    FAST_DATETIME
        .get_or_init(py, || {
            // SAFETY: PyCapsule_Import is in the stable ABI; a NULL return sets an exception,
            // which is cleared.
            let capsule = unsafe { ffi::PyCapsule_Import(c"datetime.datetime_CAPI".as_ptr(), 1) };
            if capsule.is_null() {
                let _ = PyErr::take(py);
                return None;
            }
            // SAFETY: the capsule's pointer is the module's `PyDateTime_CAPI`, whose head has
            // this layout on every CPython since 3.7; the type check below guards it.
            let head = unsafe { &*(capsule as *const DateTimeCapiHead) };
            if head.datetime_type.cast::<ffi::PyObject>() != class.as_ptr() {
                return None;
            }
            let fast = FastDateTime { ctor: head.datetime_from_date_and_time, class: head.datetime_type };
            let probe = construct(py, &fast, (2001, 2, 3, 4, 5, 6, 7)).ok()?;
            let slow = class.call1((2001, 2, 3, 4, 5, 6, 7)).ok()?;
            (probe.get_type().is(class) && probe.eq(&slow).ok()?).then_some(fast)
        })
        .as_ref()
}

fn construct<'py>(py: Python<'py>, fast: &FastDateTime, p: (i64, i64, i64, i64, i64, i64, i64)) -> PyResult<Bound<'py, PyAny>> {
    let c = |v: i64| v as c_int;
    // SAFETY: the constructor validates its arguments (raising ValueError) and returns a new
    // reference or NULL with an exception set; Py_None is a borrowed singleton.
    unsafe {
        let obj = (fast.ctor)(c(p.0), c(p.1), c(p.2), c(p.3), c(p.4), c(p.5), c(p.6), ffi::Py_None(), fast.class);
        Bound::from_owned_ptr_or_err(py, obj)
    }
}

/// A naive `datetime(year, month, day, hour, minute, second, microsecond)` of class `class`
/// (`datetime.datetime`).
pub(crate) fn datetime<'py>(
    py: Python<'py>,
    class: &Bound<'py, PyType>,
    p: (i64, i64, i64, i64, i64, i64, i64),
) -> PyResult<Bound<'py, PyAny>> {
    match fast_datetime(py, class) {
        Some(fast) => construct(py, fast, p),
        None => class.call1(p),
    }
}

#[cfg(test)]
mod tests {
    use super::{Fingerprint, KEY_MAX, KEY_SLOTS};

    #[test]
    fn slots_are_in_range_and_spread() {
        let names = ["_id", "name", "email", "active", "created_at", "last_login", "logins", "profile", "age", "city"];
        let slots: std::collections::HashSet<usize> = names.iter().map(|n| Fingerprint::of(n.as_bytes()).slot()).collect();
        assert!(slots.iter().all(|&s| s < KEY_SLOTS));
        assert!(slots.len() >= 9, "{slots:?}");
    }

    #[test]
    fn fingerprints_identify_strings_exactly() {
        // Every pair of strings up to KEY_MAX bytes that differ in one byte, at every position
        // and length, has different fingerprints.
        let base: Vec<u8> = (0..KEY_MAX as u8).map(|i| b'a' + i).collect();
        for n in 0..=KEY_MAX {
            let p = Fingerprint::of(&base[..n]);
            assert_eq!(p, Fingerprint::of(&base[..n]));
            for at in 0..n {
                let mut other = base[..n].to_vec();
                other[at] ^= 0x20;
                assert!(Fingerprint::of(&other) != p, "n={n} at={at}");
            }
            if n > 0 {
                assert!(Fingerprint::of(&base[..n - 1]) != p);
            }
        }
        // Zero bytes are not padding.
        assert!(Fingerprint::of(b"a") != Fingerprint::of(b"a\0"));
    }
}
