//! The panic boundary and pointer checks every export goes through.
//!
//! Unwinding out of an `extern "C"` function aborts the process, so every export runs its body
//! inside `catch`: a panic (a bug in nestdb) becomes a value the export turns into a result
//! code (`NESTDB_INTERNAL`) or an error reply. The library must be built with `panic = "unwind"`
//! (the default); with `panic = "abort"` nothing can be caught.
//!
//! Pointers from C are never trusted to be non-NULL: `cstr` and `bytes` turn them into Rust
//! values or an error message naming the parameter.

use std::any::Any;
use std::ffi::{c_char, CStr, OsStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

/// Run `f`; a panic becomes `Err(message)`.
pub(crate) fn catch<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => Ok(v),
        Err(payload) => Err(panic_message(payload)),
    }
}

fn panic_message(payload: Box<dyn Any + Send>) -> String {
    let msg = if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_string()
    };
    // Dropping a payload runs its destructor, which could itself panic: contain that too, and
    // leak the second payload rather than unwind from here.
    if let Err(again) = catch_unwind(AssertUnwindSafe(move || drop(payload))) {
        std::mem::forget(again);
    }
    format!("internal error (please report): {msg}")
}

/// A NUL-terminated C string parameter as bytes; `Err` names the parameter when it is NULL.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string that stays valid during the call.
pub(crate) unsafe fn cstr<'a>(p: *const c_char, what: &str) -> Result<&'a [u8], String> {
    if p.is_null() {
        return Err(format!("{what} is NULL"));
    }
    // SAFETY: non-NULL and NUL-terminated per the caller's contract.
    Ok(unsafe { CStr::from_ptr(p) }.to_bytes())
}

/// A NUL-terminated C path parameter as a `Path`. On Unix a path is bytes, any bytes (as for
/// open(2)); elsewhere it must be UTF-8. `Err` names the parameter.
///
/// # Safety
/// As for `cstr`.
pub(crate) unsafe fn path<'a>(p: *const c_char, what: &str) -> Result<&'a Path, String> {
    // SAFETY: forwarded from the caller.
    let bytes = unsafe { cstr(p, what) }?;
    #[cfg(unix)]
    let os: &OsStr = std::os::unix::ffi::OsStrExt::from_bytes(bytes);
    #[cfg(not(unix))]
    let os: &OsStr = OsStr::new(std::str::from_utf8(bytes).map_err(|e| format!("{what} is not valid UTF-8: {e}"))?);
    Ok(Path::new(os))
}

/// `len` bytes at `p` (NULL allowed only with `len` 0).
///
/// # Safety
/// When non-NULL, `p` points to `len` readable bytes that stay valid during the call.
pub(crate) unsafe fn bytes<'a>(p: *const c_char, len: usize, what: impl FnOnce() -> String) -> Result<&'a [u8], String> {
    if p.is_null() {
        return if len == 0 { Ok(&[]) } else { Err(format!("{} is NULL but its length is {len}", what())) };
    }
    if len > isize::MAX as usize {
        return Err(format!("{} has an impossible length {len}", what()));
    }
    // SAFETY: non-NULL, length within isize::MAX, readable per the caller's contract.
    Ok(unsafe { std::slice::from_raw_parts(p.cast::<u8>(), len) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panics_become_messages() {
        let r: Result<i32, String> = catch(|| panic!("boom {}", 7));
        assert_eq!(r.unwrap_err(), "internal error (please report): boom 7");
        let r: Result<i32, String> = catch(|| std::panic::panic_any(42u8));
        assert_eq!(r.unwrap_err(), "internal error (please report): unknown panic");
        assert_eq!(catch(|| 5), Ok(5));
    }

    #[test]
    fn null_pointers_are_named() {
        assert_eq!(unsafe { cstr(std::ptr::null(), "path") }.unwrap_err(), "path is NULL");
        assert_eq!(unsafe { bytes(std::ptr::null(), 0, || "argv[1]".into()) }.unwrap(), b"");
        assert_eq!(unsafe { bytes(std::ptr::null(), 3, || "argv[1]".into()) }.unwrap_err(), "argv[1] is NULL but its length is 3");
        let s = b"abc";
        assert_eq!(
            unsafe { bytes(s.as_ptr().cast(), usize::MAX, || "argv[0]".into()) }.unwrap_err(),
            format!("argv[0] has an impossible length {}", usize::MAX)
        );
        assert_eq!(unsafe { bytes(s.as_ptr().cast(), 2, || "x".into()) }.unwrap(), b"ab");
    }
}
