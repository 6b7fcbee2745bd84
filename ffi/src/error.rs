//! Result codes and error messages.
//!
//! A call that cannot run returns a result code (or NULL) and records a message. Messages are
//! kept per calling thread, so that threads sharing a handle never read (or free) each other's
//! text: on a handle in `Messages` (one slot per thread that ever failed on it, freed with the
//! handle), and for calls without a handle (`nestdb_open`, a NULL `db`) in a thread-local slot.
//! A message stays valid until the same thread records the next one in the same place.
//! `ThreadId`s are never reused, so a slot cannot be inherited by another thread.

use std::cell::RefCell;
use std::ffi::{c_char, c_int, CString};
use std::sync::Mutex;
use std::thread::ThreadId;

use crate::boundary;
use crate::handle::nestdb;

/// Success.
pub const NESTDB_OK: c_int = 0;
/// A failure with no more specific code; nestdb_errmsg() tells what happened.
pub const NESTDB_ERROR: c_int = 1;
/// A bug inside nestdb was caught at the API boundary (please report it with the message).
/// The handle stays usable.
pub const NESTDB_INTERNAL: c_int = 2;
/// The API was used wrongly: a NULL pointer where one is required, a negative count.
pub const NESTDB_MISUSE: c_int = 3;
/// The database could not be opened: the path cannot be created or read, is not a database
/// directory, or its files are damaged in a way nestdb_repair() cannot fix.
pub const NESTDB_CANTOPEN: c_int = 4;
/// The config text has an unknown parameter name or an invalid value.
pub const NESTDB_CONFIG: c_int = 5;
/// An operating-system I/O error (for example a failed write or fsync in nestdb_sync()).
pub const NESTDB_IO: c_int = 6;
/// The database directory is in use by another process (one process at a time may have it
/// open; handles within one process share it). nestdb_errmsg() names the holder's pid, as in
/// "<dir>: database is locked by process 1234 (one writer process at a time)".
/// nestdb_repair() also returns it for a database that is open, in this process too.
pub const NESTDB_LOCKED: c_int = 7;
/// The database files are damaged: a record with a bad checksum in the middle of the log, a
/// missing or damaged MANIFEST, a hole in the log (nestdb_repair() fixes these, by truncating
/// the log at the first bad record; the message then ends with "run repair"), or a damaged
/// snapshot (repair cannot rebuild it). nestdb_errmsg() names the file, offset and sequence
/// number. A torn last record (a crash in the middle of a write) is not damage: it is cut off
/// at open and the open succeeds.
pub const NESTDB_CORRUPT: c_int = 8;

const NOT_AN_ERROR: &[u8] = b"not an error\0";

/// A failed call: its result code and message.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) code: c_int,
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn new(code: c_int, message: impl Into<String>) -> Self {
        Failure { code, message: message.into() }
    }

    pub(crate) fn misuse(message: impl Into<String>) -> Self {
        Failure::new(NESTDB_MISUSE, message)
    }

    pub(crate) fn internal(message: String) -> Self {
        Failure::new(NESTDB_INTERNAL, message)
    }
}

impl From<::nestdb::Error> for Failure {
    fn from(e: ::nestdb::Error) -> Self {
        let code = match &e {
            ::nestdb::Error::Open(_) => NESTDB_CANTOPEN,
            ::nestdb::Error::Locked { .. } => NESTDB_LOCKED,
            ::nestdb::Error::Corrupt(_) => NESTDB_CORRUPT,
            ::nestdb::Error::InvalidArgument(_) => NESTDB_CONFIG,
            ::nestdb::Error::Io(_) => NESTDB_IO,
            _ => NESTDB_ERROR,
        };
        Failure::new(code, e.to_string())
    }
}

/// A message as a C string (an interior NUL, impossible in our texts, becomes a space).
fn to_cstring(msg: &str) -> CString {
    CString::new(msg.replace('\0', " ")).unwrap_or_default()
}

/// The per-thread messages of one handle.
#[derive(Default)]
pub(crate) struct Messages {
    slots: Mutex<Vec<(ThreadId, CString)>>,
}

impl Messages {
    pub(crate) fn set(&self, msg: &str) {
        let id = std::thread::current().id();
        let text = to_cstring(msg);
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        match slots.iter_mut().find(|(t, _)| *t == id) {
            Some(slot) => slot.1 = text,
            None => slots.push((id, text)),
        }
    }

    /// The calling thread's last message; the pointer stays valid until that thread replaces
    /// it (the CString's heap buffer does not move when the Vec does) or the handle is freed.
    fn get(&self) -> *const c_char {
        let id = std::thread::current().id();
        let slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots.iter().find(|(t, _)| *t == id).map_or(NOT_AN_ERROR.as_ptr().cast(), |(_, m)| m.as_ptr())
    }
}

thread_local! {
    static WITHOUT_HANDLE: RefCell<Option<CString>> = const { RefCell::new(None) };
}

/// Record the message of a failed call made without a handle.
pub(crate) fn set_global(msg: &str) {
    let text = to_cstring(msg);
    // try_with: during thread teardown the slot may be gone; the message is then dropped.
    let _ = WITHOUT_HANDLE.try_with(|slot| *slot.borrow_mut() = Some(text));
}

fn get_global() -> *const c_char {
    WITHOUT_HANDLE
        .try_with(|slot| slot.borrow().as_ref().map_or(NOT_AN_ERROR.as_ptr().cast(), |m| m.as_ptr()))
        .unwrap_or(NOT_AN_ERROR.as_ptr().cast())
}

/// The message of the calling thread's last failed call on `db`.
///
/// Use it right after a call reported failure (a result code other than NESTDB_OK, or NULL
/// from nestdb_command_argv()): it describes the last call that failed, not the last call.
/// Messages are kept per thread, so threads sharing a handle each see their own.
///
/// @param db  a handle, or NULL for the last failed call this thread made without a usable
///            handle (nestdb_open(), nestdb_repair(), or any call given a NULL db).
/// @return    a NUL-terminated English message, "not an error" if there was no failure.
///            Owned by the library: do not free it. It stays valid until this thread's next
///            failed call on the same handle (or, for NULL, without a handle), or until
///            nestdb_close(db).
#[no_mangle]
pub unsafe extern "C" fn nestdb_errmsg(db: *mut nestdb) -> *const c_char {
    // SAFETY: the caller passes NULL or a live handle.
    boundary::catch(|| match unsafe { db.as_ref() } {
        Some(db) => db.messages().get(),
        None => get_global(),
    })
    .unwrap_or(NOT_AN_ERROR.as_ptr().cast())
}

/// The English name of a result code, e.g. "unable to open database" for NESTDB_CANTOPEN.
///
/// @param code  any int; codes this library does not know give "unknown error code".
/// @return      a static NUL-terminated string, valid forever; do not free it.
#[no_mangle]
pub extern "C" fn nestdb_errstr(code: c_int) -> *const c_char {
    let s: &'static [u8] = match code {
        NESTDB_OK => NOT_AN_ERROR,
        NESTDB_ERROR => b"unspecified error\0",
        NESTDB_INTERNAL => b"internal error in nestdb\0",
        NESTDB_MISUSE => b"bad parameter or library misuse\0",
        NESTDB_CANTOPEN => b"unable to open database\0",
        NESTDB_CONFIG => b"invalid configuration\0",
        NESTDB_IO => b"disk I/O error\0",
        NESTDB_LOCKED => b"database is locked by another process\0",
        NESTDB_CORRUPT => b"database files are damaged (see nestdb_repair)\0",
        _ => b"unknown error code\0",
    };
    s.as_ptr().cast()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    fn text(p: *const c_char) -> String {
        unsafe { CStr::from_ptr(p) }.to_str().unwrap().to_string()
    }

    #[test]
    fn every_code_has_a_name() {
        for code in [
            NESTDB_OK,
            NESTDB_ERROR,
            NESTDB_INTERNAL,
            NESTDB_MISUSE,
            NESTDB_CANTOPEN,
            NESTDB_CONFIG,
            NESTDB_IO,
            NESTDB_LOCKED,
            NESTDB_CORRUPT,
        ] {
            assert_ne!(text(nestdb_errstr(code)), "unknown error code", "code {code}");
        }
        assert_eq!(text(nestdb_errstr(-1)), "unknown error code");
        assert_eq!(text(nestdb_errstr(1000)), "unknown error code");
    }

    #[test]
    fn handle_messages_are_per_thread() {
        let m = Messages::default();
        assert_eq!(text(m.get()), "not an error");
        m.set("first");
        let p = m.get();
        std::thread::scope(|s| {
            s.spawn(|| {
                assert_eq!(text(m.get()), "not an error");
                m.set("other thread");
                assert_eq!(text(m.get()), "other thread");
            });
        });
        // The other thread's message did not replace (or free) ours.
        assert_eq!(text(p), "first");
        m.set("nul\0inside");
        assert_eq!(text(m.get()), "nul inside");
    }

    #[test]
    fn global_messages_are_per_thread() {
        set_global("open failed");
        assert_eq!(text(unsafe { nestdb_errmsg(std::ptr::null_mut()) }), "open failed");
        std::thread::spawn(|| assert_eq!(text(unsafe { nestdb_errmsg(std::ptr::null_mut()) }), "not an error")).join().unwrap();
    }

    #[test]
    fn core_errors_map_to_codes() {
        assert_eq!(Failure::from(::nestdb::Error::Open("x".into())).code, NESTDB_CANTOPEN);
        let locked = ::nestdb::Error::Locked { message: "/d: database is locked by process 42".into(), pid: Some(42) };
        assert_eq!(Failure::from(locked).code, NESTDB_LOCKED);
        let crc = "/d/log-1.log: CRC mismatch in record at offset 9 (seq 2); run repair to truncate the log there";
        assert_eq!(Failure::from(::nestdb::Error::Corrupt(crc.into())).code, NESTDB_CORRUPT);
        assert_eq!(Failure::from(::nestdb::Error::InvalidArgument("x".into())).code, NESTDB_CONFIG);
        assert_eq!(Failure::from(::nestdb::Error::Io(std::io::Error::other("disk"))).code, NESTDB_IO);
        let f = Failure::from(::nestdb::Error::Command("ERR x".into()));
        assert_eq!((f.code, f.message.as_str()), (NESTDB_ERROR, "ERR x"));
    }
}
