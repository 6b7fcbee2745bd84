//! `nestdb_run_command`: MongoDB database commands as Extended JSON text, for the document
//! layer. The command goes to `Db::run_command` (the same dispatch the Python client uses);
//! the reply comes back as relaxed Extended JSON.
//!
//! Input handling: the text must be UTF-8 JSON whose top level is an object; canonical and
//! relaxed Extended JSON are both accepted (`{"$oid": ...}`, `{"$date": ...}`,
//! `{"$numberLong": "..."}`...). JSON nested deeper than 128 levels is refused by the parser
//! (serde_json's limit), documents deeper than 100 levels by the engine, before anything runs.
//! The database is the command's `$db` field (as in MongoDB's OP_MSG), `"test"` when absent.

use std::ffi::{c_char, c_int};
use std::ptr;

use ::nestdb::bson::{Bson, Document};

use crate::boundary;
use crate::error::{self, NESTDB_ERROR, NESTDB_INTERNAL, NESTDB_MISUSE, NESTDB_OK};
use crate::handle::nestdb;
use crate::repair::c_string;

/// Parse Extended JSON text into a command document.
fn parse_command(text: &[u8]) -> Result<Document, String> {
    let text = std::str::from_utf8(text).map_err(|e| format!("command_json is not valid UTF-8: {e}"))?;
    let json: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("command_json is not valid JSON: {e}"))?;
    if !json.is_object() {
        return Err("command_json must be a JSON object (a command document such as {\"find\": \"users\"})".into());
    }
    match Bson::try_from(json) {
        Ok(Bson::Document(d)) => Ok(d),
        Ok(_) => Err("command_json must be a JSON object".into()),
        Err(e) => Err(format!("command_json is not valid Extended JSON: {e}")),
    }
}

fn run(handle: &nestdb, command_json: *const c_char) -> Result<String, (c_int, String)> {
    // SAFETY: NULL-checked inside; NUL-terminated per the API contract.
    let text = unsafe { boundary::cstr(command_json, "command_json") }.map_err(|m| (NESTDB_MISUSE, m))?;
    let mut cmd = parse_command(text).map_err(|m| (NESTDB_MISUSE, m))?;
    let db = match cmd.remove("$db") {
        None => "test".to_string(),
        Some(Bson::String(s)) => s,
        Some(_) => return Err((NESTDB_MISUSE, "$db must be a string".into())),
    };
    let reply = handle.db().run_command(&db, &cmd);
    serde_json::to_string(&Bson::Document(reply).into_relaxed_extjson())
        .map_err(|e| (NESTDB_ERROR, format!("cannot encode the reply: {e}")))
}

/// Run one MongoDB database command on the document layer, Extended JSON in and out.
///
/// Example: `nestdb_run_command(db, "{\"insert\": \"users\", \"documents\": [{\"name\": \"ada\"}], \"$db\": \"shop\"}", &reply)`
/// then `nestdb_run_command(db, "{\"find\": \"users\", \"filter\": {\"name\": \"ada\"}, \"$db\": \"shop\"}", &reply)`.
/// Commands: insert, find, getMore, killCursors, update, delete, findAndModify, count,
/// distinct, aggregate, create, drop, dropDatabase, listCollections, listDatabases,
/// renameCollection (with "$db": "admin"), dbStats, collStats, explain, ping — with MongoDB's
/// fields and reply shapes.
///
/// @param db              an open handle.
/// @param command_json    NUL-terminated UTF-8 JSON object: the command document in canonical
///                        or relaxed Extended JSON; its first field is the command name. The
///                        database is its "$db" field ("test" when absent). Read during the
///                        call only.
/// @param out_reply_json  receives MongoDB's reply document as relaxed Extended JSON,
///                        NUL-terminated, to free with nestdb_free(). A command that ran and
///                        failed (duplicate key, bad operator, ...) is still NESTDB_OK: its
///                        reply has "ok": 0 with "errmsg", "code" and "codeName", or
///                        "writeErrors" for write commands, as MongoDB answers.
/// @return                NESTDB_OK with *out_reply_json set. Otherwise *out_reply_json is set
///                        to NULL (when out_reply_json is not NULL) and the code is
///                        NESTDB_MISUSE (db, command_json or out_reply_json NULL; text not
///                        UTF-8, not JSON, not an object, nested deeper than 128 levels, or not
///                        valid Extended JSON), NESTDB_ERROR (out of memory for the reply) or
///                        NESTDB_INTERNAL (a bug caught inside the library), with the message in
///                        nestdb_errmsg(db) (nestdb_errmsg(NULL) when db is NULL).
#[no_mangle]
pub unsafe extern "C" fn nestdb_run_command(db: *mut nestdb, command_json: *const c_char, out_reply_json: *mut *mut c_char) -> c_int {
    if !out_reply_json.is_null() {
        // SAFETY: non-NULL, writable per the API contract.
        unsafe { out_reply_json.write(ptr::null_mut()) };
    }
    // SAFETY: the caller passes NULL or a live handle.
    let Some(handle) = (unsafe { db.as_ref() }) else {
        error::set_global("nestdb_run_command: db is NULL");
        return NESTDB_MISUSE;
    };
    if out_reply_json.is_null() {
        handle.messages().set("nestdb_run_command: out_reply_json is NULL");
        return NESTDB_MISUSE;
    }
    let outcome = boundary::catch(|| run(handle, command_json)).unwrap_or_else(|panic| Err((NESTDB_INTERNAL, panic)));
    match outcome {
        Ok(json) => {
            let p = c_string(&json);
            if p.is_null() {
                handle.messages().set("nestdb_run_command: out of memory for the reply");
                return NESTDB_ERROR;
            }
            // SAFETY: checked non-NULL above.
            unsafe { out_reply_json.write(p) };
            NESTDB_OK
        }
        Err((code, msg)) => {
            handle.messages().set(&format!("nestdb_run_command: {msg}"));
            code
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alloc::nestdb_free;
    use crate::error::nestdb_errmsg;
    use crate::handle::{nestdb_close, nestdb_open};
    use std::ffi::{CStr, CString};

    fn open() -> *mut nestdb {
        let mut db = ptr::null_mut();
        assert_eq!(unsafe { nestdb_open(ptr::null(), ptr::null(), &mut db) }, NESTDB_OK);
        db
    }

    fn run_json(db: *mut nestdb, json: &str) -> Result<serde_json::Value, (c_int, String)> {
        let c = CString::new(json).unwrap();
        let mut out = ptr::null_mut();
        let rc = unsafe { nestdb_run_command(db, c.as_ptr(), &mut out) };
        if rc != NESTDB_OK {
            assert!(out.is_null());
            let msg = unsafe { CStr::from_ptr(nestdb_errmsg(db)) }.to_string_lossy().into_owned();
            return Err((rc, msg));
        }
        let text = unsafe { CStr::from_ptr(out) }.to_str().unwrap().to_string();
        unsafe { nestdb_free(out.cast()) };
        Ok(serde_json::from_str(&text).unwrap())
    }

    #[test]
    fn insert_and_find_round_trip_extended_json() {
        let db = open();
        let r = run_json(
            db,
            r#"{"insert": "users", "documents": [{"_id": {"$oid": "5f0c6c2f9d1b2c3d4e5f6a7b"}, "n": {"$numberLong": "7"}, "at": {"$date": "2024-01-02T03:04:05.678Z"}}], "$db": "shop"}"#,
        )
        .unwrap();
        assert_eq!(r["ok"], 1.0);
        assert_eq!(r["n"], 1);
        let r = run_json(db, r#"{"find": "users", "filter": {}, "$db": "shop"}"#).unwrap();
        let doc = &r["cursor"]["firstBatch"][0];
        assert_eq!(doc["_id"]["$oid"], "5f0c6c2f9d1b2c3d4e5f6a7b");
        assert_eq!(doc["n"], 7);
        assert_eq!(doc["at"]["$date"], "2024-01-02T03:04:05.678Z");
        assert_eq!(r["cursor"]["ns"], "shop.users");
        // A command error is a reply, not a failure.
        let r =
            run_json(db, r#"{"insert": "users", "documents": [{"_id": {"$oid": "5f0c6c2f9d1b2c3d4e5f6a7b"}}], "$db": "shop"}"#).unwrap();
        assert_eq!(r["writeErrors"][0]["code"], 11000);
        let r = run_json(db, r#"{"noSuchCommand": 1}"#).unwrap();
        assert_eq!(r["ok"], 0.0);
        assert_eq!(r["code"], 59);
        unsafe { nestdb_close(db) };
    }

    #[test]
    fn bad_input_is_misuse_and_changes_nothing() {
        let db = open();
        for bad in ["", "not json", "[1, 2]", "42", r#"{"insert": "users", "documents": [{"a": {"$numberLong": "x"}}]}"#] {
            let (rc, msg) = run_json(db, bad).unwrap_err();
            assert_eq!(rc, NESTDB_MISUSE, "{bad}: {msg}");
            assert!(msg.starts_with("nestdb_run_command: command_json"), "{msg}");
        }
        let deep = format!("{}{}", "{\"a\":".repeat(5000), "}".repeat(5000));
        assert_eq!(run_json(db, &deep).unwrap_err().0, NESTDB_MISUSE);
        // Invalid UTF-8.
        let bytes = b"{\"find\": \"\xff\"}\0";
        let mut out = ptr::null_mut();
        assert_eq!(unsafe { nestdb_run_command(db, bytes.as_ptr().cast(), &mut out) }, NESTDB_MISUSE);
        assert!(out.is_null());
        // NULLs.
        assert_eq!(unsafe { nestdb_run_command(ptr::null_mut(), c"{}".as_ptr(), &mut out) }, NESTDB_MISUSE);
        assert_eq!(unsafe { nestdb_run_command(db, ptr::null(), &mut out) }, NESTDB_MISUSE);
        assert_eq!(unsafe { nestdb_run_command(db, c"{}".as_ptr(), ptr::null_mut()) }, NESTDB_MISUSE);
        let r = run_json(db, r#"{"count": "users", "$db": "shop"}"#).unwrap();
        assert_eq!(r["n"], 0);
        unsafe { nestdb_close(db) };
    }
}
