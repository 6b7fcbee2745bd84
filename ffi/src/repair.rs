//! `nestdb_repair`: make a damaged database directory openable again, and its report.
//!
//! The report is a small JSON object (the format the planned document API uses too), so new
//! fields can be added without changing the ABI; it is returned as one `nestdb_free`-able
//! C string. Repair works on a path, not a handle: the database must not be open anywhere
//! (the directory lock enforces it, also within this process).

use std::ffi::{c_char, c_int};
use std::fmt::Write as _;
use std::ptr;

use ::nestdb::RepairReport;

use crate::alloc::c_alloc;
use crate::boundary;
use crate::error::{self, Failure, NESTDB_CANTOPEN, NESTDB_OK};

/// `s` as a JSON string literal (the path is shown lossily if it is not UTF-8).
fn json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The report as one line of JSON, fields in a fixed order.
fn report_json(r: &RepairReport) -> String {
    let mut out = String::from("{\"truncated_file\":");
    match &r.truncated_file {
        Some(p) => json_string(&mut out, &p.to_string_lossy()),
        None => out.push_str("null"),
    }
    let _ = write!(
        out,
        ",\"truncated_at\":{},\"bytes_dropped\":{},\"segments_removed\":{},\"manifest_rebuilt\":{}}}",
        r.truncated_at, r.bytes_dropped, r.segments_removed, r.manifest_rebuilt
    );
    out
}

/// A copy of `s` on the C heap, NUL-terminated; NULL when out of memory.
pub(crate) fn c_string(s: &str) -> *mut c_char {
    let p = c_alloc(s.len() + 1);
    if !p.is_null() {
        // SAFETY: `p` has s.len() + 1 writable bytes and does not overlap `s`.
        unsafe {
            ptr::copy_nonoverlapping(s.as_ptr(), p, s.len());
            p.add(s.len()).write(0);
        }
    }
    p.cast()
}

fn repair(c_path: *const c_char, out_report: *mut *mut c_char) -> Result<(), Failure> {
    if c_path.is_null() {
        return Err(Failure::misuse("path is NULL"));
    }
    // SAFETY: non-NULL and NUL-terminated per the API contract.
    let path = unsafe { boundary::path(c_path, "path") }.map_err(|e| Failure::new(NESTDB_CANTOPEN, e))?;
    if path.as_os_str().is_empty() || path.as_os_str() == ":memory:" {
        return Err(Failure::misuse("an in-memory database has no files to repair"));
    }
    // Repair never creates a database: a mistyped path is an error, not a new directory.
    if !path.is_dir() {
        return Err(Failure::new(NESTDB_CANTOPEN, format!("{}: no database directory there", path.display())));
    }
    let report = ::nestdb::repair(path)?;
    if !out_report.is_null() {
        let text = c_string(&report_json(&report));
        if text.is_null() {
            return Err(Failure::new(error::NESTDB_ERROR, "out of memory for the report (the repair itself was done)"));
        }
        // SAFETY: non-NULL, writable per the API contract.
        unsafe { out_report.write(text) };
    }
    Ok(())
}

/// Repair a damaged database directory so that it opens again, like redis-check-aof --fix:
/// a missing or damaged MANIFEST is rebuilt from the newest valid snapshot, and the log is
/// truncated at its first bad record (the segments after it are deleted). Every command
/// logged before the damage is kept; the ones after it are lost, and the report says how
/// many bytes that was. A database that is not damaged is left as it is (a report of zeros).
/// Use it when nestdb_open() returns NESTDB_CORRUPT.
///
/// @param path        the database directory; must not be open (in any process, this one
///                    included). Read during the call only.
/// @param out_report  NULL if you do not want the report, or where to store it: a
///                    NUL-terminated one-line JSON object to free with nestdb_free(), e.g.
///                    {"truncated_file":"/data/app.nest/log-00000000000000000001.log",
///                     "truncated_at":4096,"bytes_dropped":120,"segments_removed":0,
///                     "manifest_rebuilt":false}
///                    truncated_file is null when nothing was truncated (a path that is not
///                    UTF-8 is shown with U+FFFD for its bad bytes); more fields may be added.
/// @return            NESTDB_OK with *out_report set (when out_report is not NULL). Otherwise
///                    *out_report is set to NULL (when out_report is not NULL) and the code
///                    is NESTDB_MISUSE (path NULL or ":memory:"), NESTDB_LOCKED (the database
///                    is open; the message names the process), NESTDB_CANTOPEN (no database
///                    directory at path, or it cannot be repaired), NESTDB_IO, NESTDB_ERROR
///                    (out of memory for the report, after repairing) or NESTDB_INTERNAL, with
///                    the message in nestdb_errmsg(NULL).
#[no_mangle]
pub unsafe extern "C" fn nestdb_repair(path: *const c_char, out_report: *mut *mut c_char) -> c_int {
    if !out_report.is_null() {
        // SAFETY: non-NULL, writable per the API contract.
        unsafe { out_report.write(ptr::null_mut()) };
    }
    match boundary::catch(|| repair(path, out_report)).unwrap_or_else(|panic| Err(Failure::internal(panic))) {
        Ok(()) => NESTDB_OK,
        Err(f) => {
            error::set_global(&format!("nestdb_repair: {}", f.message));
            f.code
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alloc::nestdb_free;
    use crate::error::{nestdb_errmsg, NESTDB_CORRUPT, NESTDB_LOCKED, NESTDB_MISUSE};
    use crate::handle::{nestdb, nestdb_close, nestdb_open};
    use std::ffi::{CStr, CString};

    fn text(p: *const c_char) -> String {
        unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
    }

    fn open(path: &CString) -> (c_int, *mut nestdb) {
        let mut db = ptr::null_mut();
        let rc = unsafe { nestdb_open(path.as_ptr(), c"appendfsync always".as_ptr(), &mut db) };
        (rc, db)
    }

    /// Wait until the last close really closed the database: the library's background thread
    /// may hold the engine a few milliseconds longer. Repairing a sound database changes
    /// nothing and succeeds once the directory is unlocked.
    fn wait_closed(path: &CString) {
        for _ in 0..500 {
            if unsafe { nestdb_repair(path.as_ptr(), ptr::null_mut()) } != NESTDB_LOCKED {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("{path:?} stayed locked after its last handle was closed");
    }

    #[test]
    fn json_escapes_and_shape() {
        let mut s = String::new();
        json_string(&mut s, "a\"b\\c\n\u{1}é");
        assert_eq!(s, "\"a\\\"b\\\\c\\n\\u0001é\"");
        assert_eq!(
            report_json(&RepairReport::default()),
            "{\"truncated_file\":null,\"truncated_at\":0,\"bytes_dropped\":0,\"segments_removed\":0,\"manifest_rebuilt\":false}"
        );
    }

    #[test]
    fn corrupt_log_is_reported_then_repaired() {
        let dir = tempfile::tempdir().unwrap();
        let path = CString::new(dir.path().join("db").to_str().unwrap()).unwrap();
        let config = c"appendfsync always\nsave \"\"";
        let mut db = ptr::null_mut();
        let rc = unsafe { nestdb_open(path.as_ptr(), config.as_ptr(), &mut db) };
        assert_eq!(rc, NESTDB_OK, "{}", text(unsafe { nestdb_errmsg(ptr::null_mut()) }));
        for i in 0..20 {
            let (k, v) = (CString::new(format!("k{i}")).unwrap(), CString::new(format!("value-{i}")).unwrap());
            let mut argv = [c"SET".as_ptr(), k.as_ptr(), v.as_ptr()];
            let r = unsafe { crate::handle::nestdb_command_argv(db, 3, argv.as_mut_ptr(), ptr::null()) };
            assert!(!r.is_null());
            unsafe { crate::reply::nestdb_reply_free(r) };
        }
        // Open: repair refuses, naming this process.
        let mut report: *mut c_char = std::ptr::dangling_mut();
        assert_eq!(unsafe { nestdb_repair(path.as_ptr(), &mut report) }, NESTDB_LOCKED);
        assert!(report.is_null());
        let msg = text(unsafe { nestdb_errmsg(ptr::null_mut()) });
        assert!(msg.contains(&format!("locked by process {}", std::process::id())), "{msg}");
        unsafe { nestdb_close(db) };
        wait_closed(&path);

        // Flip a byte in the middle of the log.
        let log = std::fs::read_dir(dir.path().join("db"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.file_name().unwrap().to_str().unwrap().starts_with("log-"))
            .unwrap();
        let mut bytes = std::fs::read(&log).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0xff;
        std::fs::write(&log, &bytes).unwrap();

        let (rc, db) = open(&path);
        assert_eq!(rc, NESTDB_CORRUPT);
        assert!(db.is_null());
        let msg = text(unsafe { nestdb_errmsg(ptr::null_mut()) });
        assert!(msg.contains("CRC mismatch") && msg.contains("log-"), "{msg}");

        assert_eq!(unsafe { nestdb_repair(path.as_ptr(), &mut report) }, NESTDB_OK);
        let json = text(report);
        unsafe { nestdb_free(report.cast()) };
        assert!(json.contains(&format!("\"truncated_file\":\"{}\"", log.display())), "{json}");
        let dropped: u64 = json.split("\"bytes_dropped\":").nth(1).unwrap().split(',').next().unwrap().parse().unwrap();
        assert!(dropped > 0 && dropped < bytes.len() as u64, "{json}");
        assert_eq!(std::fs::metadata(&log).unwrap().len(), bytes.len() as u64 - dropped);

        let (rc, db) = open(&path);
        assert_eq!(rc, NESTDB_OK);
        unsafe { nestdb_close(db) };
        wait_closed(&path);
        // Repairing a sound database changes nothing; the report may be skipped.
        assert_eq!(unsafe { nestdb_repair(path.as_ptr(), ptr::null_mut()) }, NESTDB_OK);
    }

    #[test]
    fn bad_paths() {
        let mut report: *mut c_char = std::ptr::dangling_mut();
        assert_eq!(unsafe { nestdb_repair(ptr::null(), &mut report) }, NESTDB_MISUSE);
        assert!(report.is_null());
        assert_eq!(text(unsafe { nestdb_errmsg(ptr::null_mut()) }), "nestdb_repair: path is NULL");
        assert_eq!(unsafe { nestdb_repair(c":memory:".as_ptr(), &mut report) }, NESTDB_MISUSE);
        let dir = tempfile::tempdir().unwrap();
        let missing = CString::new(dir.path().join("nothing").to_str().unwrap()).unwrap();
        assert_eq!(unsafe { nestdb_repair(missing.as_ptr(), &mut report) }, NESTDB_CANTOPEN);
        assert!(!dir.path().join("nothing").exists(), "repair must not create a database");
        let msg = text(unsafe { nestdb_errmsg(ptr::null_mut()) });
        assert!(msg.ends_with("nothing: no database directory there"), "{msg}");
    }
}
