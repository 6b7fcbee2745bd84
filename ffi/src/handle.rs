//! `nestdb`: the handle — open, close, sync, and running commands.
//!
//! A handle owns a `nestdb::Db` (shared engine) and one `nestdb::Session` (MULTI/EXEC/WATCH
//! state), like a hiredis connection. Threads share a handle freely: outside a transaction a
//! command goes straight to `Db::execute`, so commands from many threads run in parallel (the
//! engine locks per shard). Only transaction commands, and every command while the handle is
//! inside MULTI, go through the session's mutex, so they queue in the order they arrive.
//! `in_multi` mirrors `Session::in_multi` after every session call; a command racing with
//! MULTI on another thread may land on either side of it, as on a shared connection.
//!
//! The `Session` mutex is `std::sync::Mutex`; a panic while holding it poisons it, and the
//! next caller takes the guard anyway (`into_inner`): the session's fields stay consistent
//! enough (a queue, a flag and a watch list) for the next EXEC or DISCARD to clear them.

use std::ffi::{c_char, c_int};
use std::ptr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

use ::nestdb::{Db, Options, Reply, Session};

use crate::boundary;
use crate::error::{self, Failure, Messages, NESTDB_OK};
use crate::reply::{self, nestdb_reply};

/// An open database handle (opaque). Create it with nestdb_open() (or nestdb_open_session())
/// and release it with nestdb_close(). Thread-safe: see THREADS at the top of this file.
pub struct nestdb {
    db: Db,
    session: Mutex<Session>,
    in_multi: AtomicBool,
    messages: Messages,
}

impl nestdb {
    fn new(db: Db) -> Box<nestdb> {
        let session = db.session();
        Box::new(nestdb { db, session: Mutex::new(session), in_multi: AtomicBool::new(false), messages: Messages::default() })
    }

    pub(crate) fn messages(&self) -> &Messages {
        &self.messages
    }

    pub(crate) fn db(&self) -> &Db {
        &self.db
    }

    /// Run one command with this handle's transaction state.
    fn execute(&self, argv: &[&[u8]]) -> Reply {
        if !self.in_multi.load(Ordering::Acquire) && !is_transaction_command(argv[0]) {
            return self.db.execute(argv);
        }
        let mut session = self.session.lock().unwrap_or_else(PoisonError::into_inner);
        let reply = session.execute(argv);
        self.in_multi.store(session.in_multi(), Ordering::Release);
        reply
    }
}

/// The commands `Db::execute` refuses because they need a session.
fn is_transaction_command(name: &[u8]) -> bool {
    ["multi", "exec", "discard", "watch", "unwatch"].iter().any(|c| name.eq_ignore_ascii_case(c.as_bytes()))
}

/// Open options from the C `config` text.
fn options(config: *const c_char) -> Result<Options, Failure> {
    if config.is_null() {
        return Ok(Options::default());
    }
    // SAFETY: non-NULL; NUL-terminated per the API contract.
    let text = unsafe { boundary::cstr(config, "config") }.map_err(Failure::misuse)?;
    let text = std::str::from_utf8(text).map_err(|e| Failure::new(error::NESTDB_CONFIG, format!("config is not valid UTF-8: {e}")))?;
    Ok(Options::from_config_text(text)?)
}

fn open_db(path: *const c_char, config: *const c_char) -> Result<Db, Failure> {
    let options = options(config)?;
    if path.is_null() {
        return Ok(Db::memory(options));
    }
    // SAFETY: non-NULL; NUL-terminated per the API contract.
    let path = unsafe { boundary::path(path, "path") }.map_err(|e| Failure::new(error::NESTDB_CANTOPEN, e))?;
    Ok(Db::open(path, options)?)
}

/// Open a database.
///
/// @param path    NULL, "" or ":memory:" for a new in-memory database (no files). Any other
///                path is a database directory, created (mode 0700, parents included) if
///                missing: its last snapshot is loaded and its log replayed, and from then on
///                every write command is logged (when it reaches the disk is the appendfsync
///                config below). A torn last record, left by a crash in the middle of a write,
///                is cut off and the open succeeds. One process at a time may have a directory
///                open. Within a process, opening a path that is already open gives another
///                handle on the same database (its config stays that of the first open; change
///                it with CONFIG SET); the database closes -- everything logged written and
///                fsynced, the directory unlocked -- when its last handle is closed. On Unix a
///                path is bytes, as for open(2); elsewhere it must be UTF-8. Read during the
///                call only.
/// @param config  NULL for the defaults, or redis.conf-style text: one "name value" per line,
///                '#' starts a comment line, a value may be in double quotes; the names are
///                those CONFIG SET accepts, with the same values:
///                  hz 10                            background cycles per second (1..500)
///                  appendfsync everysec             always | everysec | no: fsync the log
///                                                   after every write command, once a second,
///                                                   or never (left to the OS)
///                  save "3600 1 300 100 60 10000"   snapshot after <seconds> if at least
///                                                   <changes> writes; save "" turns it off
///                  auto-aof-rewrite-percentage 100  rewrite (snapshot + fresh log) when the
///                  auto-aof-rewrite-min-size 64mb   files grew by this % and are this big
///                  maxmemory 0                      memory cap (bytes, or 100mb...); 0 = none
///                  maxmemory-policy noeviction      noeviction | allkeys-lru | volatile-lru |
///                                                   allkeys-lfu | volatile-lfu | allkeys-random
///                                                   | volatile-random | volatile-ttl
///                  maxmemory-samples 5              keys sampled per eviction round (1..64)
///                  lfu-log-factor 10                LFU counter growth; lfu-decay-time 1 (min)
///                  compression lz4                  lz4 | zlib | none, for values of at least
///                  compression-min-size 512         this many bytes
///                  hash-max-listpack-entries 512    compact-encoding limits, as Redis's
///                  (and the other *-max-listpack-*, set-max-intset-entries,
///                  list-max-listpack-size)
///                Read during the call only.
/// @param out_db  where to store the new handle; must not be NULL.
/// @return        NESTDB_OK, and *out_db is a handle to release with nestdb_close().
///                On failure *out_db is set to NULL and the code tells why:
///                NESTDB_MISUSE (out_db is NULL), NESTDB_CONFIG (unknown name, bad value, text
///                not UTF-8), NESTDB_LOCKED (another process has the directory open; the
///                message names its pid), NESTDB_CORRUPT (damaged files; the message names
///                the file and offset, and ends with "run repair" when nestdb_repair() fixes
///                them), NESTDB_CANTOPEN (anything
///                else that prevents opening), NESTDB_IO, NESTDB_INTERNAL.
///                nestdb_errmsg(NULL), called next on the same thread, gives the detailed
///                message.
#[no_mangle]
pub unsafe extern "C" fn nestdb_open(path: *const c_char, config: *const c_char, out_db: *mut *mut nestdb) -> c_int {
    let result = boundary::catch(|| {
        if out_db.is_null() {
            return Err(Failure::misuse("nestdb_open: out_db is NULL"));
        }
        open_db(path, config).map(nestdb::new)
    })
    .unwrap_or_else(|panic| Err(Failure::internal(panic)));
    finish_open(result, out_db, "nestdb_open")
}

/// Store the outcome of an open in `*out` and turn it into a result code.
fn finish_open(result: Result<Box<nestdb>, Failure>, out: *mut *mut nestdb, what: &str) -> c_int {
    match result {
        Ok(handle) => {
            // SAFETY: `out` was checked non-NULL before a handle could be made.
            unsafe { out.write(Box::into_raw(handle)) };
            NESTDB_OK
        }
        Err(f) => {
            if !out.is_null() {
                // SAFETY: non-NULL, points to writable storage per the API contract.
                unsafe { out.write(ptr::null_mut()) };
            }
            let msg = if f.message.starts_with(what) { f.message } else { format!("{what}: {}", f.message) };
            error::set_global(&msg);
            f.code
        }
    }
}

/// Open another handle on the same database as `db`, with its own transaction state — what a
/// second connection to the same server is for hiredis. Use one per thread when threads run
/// MULTI/EXEC or WATCH concurrently. The database stays open until its last handle is closed;
/// close each handle with nestdb_close(), in any order.
///
/// @param db      an open handle; must not be NULL.
/// @param out_db  where to store the new handle; must not be NULL.
/// @return        NESTDB_OK with *out_db set; otherwise NESTDB_MISUSE (a NULL argument) or
///                NESTDB_INTERNAL, *out_db set to NULL (when out_db is not NULL), and the
///                message in nestdb_errmsg(NULL).
#[no_mangle]
pub unsafe extern "C" fn nestdb_open_session(db: *mut nestdb, out_db: *mut *mut nestdb) -> c_int {
    let result = boundary::catch(|| {
        // SAFETY: the caller passes NULL or a live handle.
        let Some(db) = (unsafe { db.as_ref() }) else { return Err(Failure::misuse("db is NULL")) };
        if out_db.is_null() {
            return Err(Failure::misuse("out_db is NULL"));
        }
        Ok(nestdb::new(db.db.clone()))
    })
    .unwrap_or_else(|panic| Err(Failure::internal(panic)));
    finish_open(result, out_db, "nestdb_open_session")
}

/// Close a handle and free everything it owns (messages from nestdb_errmsg(db) included).
/// Replies already returned stay valid: free them with nestdb_reply_free() as usual.
/// A transaction left open on the handle (MULTI without EXEC) is discarded and its WATCHes
/// are released. Closing the last handle of a database directory (in this process) closes
/// the database: everything logged is written and fsynced and the directory is unlocked. A
/// failure there cannot be reported: call nestdb_sync() first if you need to know.
///
/// @param db  a handle from nestdb_open() / nestdb_open_session(), or NULL (a no-op). No other
///            thread may be using the handle, and it must not be used again: using or closing
///            a handle after nestdb_close() is undefined behaviour.
#[no_mangle]
pub unsafe extern "C" fn nestdb_close(db: *mut nestdb) {
    if db.is_null() {
        return;
    }
    // SAFETY: a live handle made by Box::into_raw, closed once per the API contract.
    let handle = unsafe { Box::from_raw(db) };
    if let Err(panic) = boundary::catch(move || drop(handle)) {
        error::set_global(&format!("nestdb_close: {panic}"));
    }
}

/// Write and fsync everything logged so far, whatever the appendfsync policy: when it returns
/// NESTDB_OK, every command that completed before the call survives a crash or a power loss.
/// With "appendfsync always" that holds after every command already; with "everysec" (the
/// default) a crash can lose about the last second of writes, with "no" whatever the OS had
/// not written yet. Closing the last handle of a database syncs too, but nestdb_close() cannot
/// report a failure: call nestdb_sync() first when you need to know. A snapshot (the SAVE
/// command) also makes everything before it durable.
///
/// @param db  an open handle. For an in-memory database there is nothing to do: NESTDB_OK.
/// @return    NESTDB_OK; NESTDB_MISUSE (db is NULL, message in nestdb_errmsg(NULL));
///            NESTDB_IO when the write or fsync failed (message in nestdb_errmsg(db)): the
///            database keeps retrying in the background, and meanwhile write commands fail
///            with "MISCONF Errors writing to the AOF file: ..." while reads work.
#[no_mangle]
pub unsafe extern "C" fn nestdb_sync(db: *mut nestdb) -> c_int {
    // SAFETY: the caller passes NULL or a live handle.
    let Some(handle) = (unsafe { db.as_ref() }) else {
        error::set_global("nestdb_sync: db is NULL");
        return error::NESTDB_MISUSE;
    };
    let result = boundary::catch(|| handle.db.sync().map_err(Failure::from)).unwrap_or_else(|panic| Err(Failure::internal(panic)));
    match result {
        Ok(()) => NESTDB_OK,
        Err(f) => {
            handle.messages().set(&format!("nestdb_sync: {}", f.message));
            f.code
        }
    }
}

/// Arguments up to this count are collected on the stack.
const STACK_ARGS: usize = 8;

/// Read `argc` arguments from C into `out` (cleared first).
///
/// # Safety
/// `argv` has `argc` readable entries; `argvlen` is NULL or has `argc` readable entries.
unsafe fn collect_args(argc: usize, argv: *mut *const c_char, argvlen: *const usize, out: &mut [&[u8]]) -> Result<(), String> {
    for (i, slot) in out.iter_mut().enumerate().take(argc) {
        // SAFETY: i < argc entries, per the caller's contract.
        let p = unsafe { *argv.add(i) };
        *slot = if argvlen.is_null() {
            // SAFETY: NUL-terminated when argvlen is NULL, per the API contract.
            unsafe { boundary::cstr(p, &format!("argv[{i}]")) }.map_err(|e| format!("{e} (and argvlen is NULL)"))?
        } else {
            // SAFETY: as above; the entry has argvlen[i] readable bytes.
            unsafe { boundary::bytes(p, *argvlen.add(i), || format!("argv[{i}]")) }?
        };
    }
    Ok(())
}

/// Check the arguments, run the command, and build the C reply.
///
/// # Safety
/// As for `nestdb_command_argv`, with `db` non-NULL.
unsafe fn command(db: &nestdb, argc: c_int, argv: *mut *const c_char, argvlen: *const usize) -> Result<*mut nestdb_reply, String> {
    if argc < 1 {
        return Err(format!("argc must be at least 1 (the command name), got {argc}"));
    }
    if argv.is_null() {
        return Err("argv is NULL".into());
    }
    let argc = argc as usize;
    let reply = if argc <= STACK_ARGS {
        let mut args: [&[u8]; STACK_ARGS] = [&[]; STACK_ARGS];
        // SAFETY: forwarded from the caller.
        unsafe { collect_args(argc, argv, argvlen, &mut args) }?;
        db.execute(&args[..argc])
    } else {
        // try_reserve: a huge argc must be an error, not an abort on allocation failure.
        let mut args: Vec<&[u8]> = Vec::new();
        args.try_reserve_exact(argc).map_err(|_| format!("out of memory for {argc} arguments"))?;
        args.resize(argc, &[]);
        // SAFETY: forwarded from the caller.
        unsafe { collect_args(argc, argv, argvlen, &mut args) }?;
        db.execute(&args)
    };
    let out = reply::to_c(&reply);
    if out.is_null() {
        return Err("out of memory building the reply".into());
    }
    Ok(out)
}

/// Run one command: any command the database knows, binary-safe, like hiredis's
/// redisCommandArgv(). Example: `const char *argv[] = {"SET", "k", "v"};
/// nestdb_command_argv(db, 3, argv, NULL)`.
///
/// Transactions: MULTI, EXEC, DISCARD, WATCH and UNWATCH work per handle, as on a hiredis
/// connection: after MULTI every command sent on this handle (from any thread) is answered
/// "QUEUED" until EXEC runs them atomically. Use nestdb_open_session() to give each thread
/// its own transaction state.
///
/// @param db       an open handle.
/// @param argc     number of arguments, at least 1 (argv[0] is the command name, any case).
/// @param argv     argc pointers to the arguments. Read during the call only.
/// @param argvlen  argc lengths in bytes, so arguments may contain NUL bytes; or NULL, and
///                 then every argv[i] must be a NUL-terminated string. With argvlen, an
///                 argv[i] may be NULL only if argvlen[i] is 0 (an empty argument).
/// @return         a reply to free with nestdb_reply_free(). A command that ran and failed
///                 (unknown command, wrong number of arguments, WRONGTYPE, syntax error, ...)
///                 returns a reply of type NESTDB_REPLY_ERROR with Redis's error text.
///                 NULL only when the command could not be run: db NULL (message in
///                 nestdb_errmsg(NULL)), argc < 1, argv NULL, a NULL argument with a nonzero
///                 length or without argvlen, or out of memory (message in nestdb_errmsg(db)).
///                 A bug caught inside the library gives an error reply starting with
///                 "ERR internal error".
#[no_mangle]
pub unsafe extern "C" fn nestdb_command_argv(
    db: *mut nestdb,
    argc: c_int,
    argv: *mut *const c_char,
    argvlen: *const usize,
) -> *mut nestdb_reply {
    // SAFETY: the caller passes NULL or a live handle.
    let Some(handle) = (unsafe { db.as_ref() }) else {
        error::set_global("nestdb_command_argv: db is NULL");
        return ptr::null_mut();
    };
    // SAFETY: argument validity per the API contract; checked for NULL inside.
    match boundary::catch(|| unsafe { command(handle, argc, argv, argvlen) }) {
        Ok(Ok(reply)) => reply,
        Ok(Err(msg)) => {
            handle.messages().set(&format!("nestdb_command_argv: {msg}"));
            ptr::null_mut()
        }
        Err(panic) => {
            let reply = reply::to_c(&Reply::Error(format!("ERR {panic}").into()));
            if reply.is_null() {
                handle.messages().set(&format!("nestdb_command_argv: {panic}"));
            }
            reply
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{nestdb_errmsg, NESTDB_CANTOPEN, NESTDB_CONFIG, NESTDB_MISUSE};
    use crate::reply::{nestdb_reply_free, NESTDB_REPLY_ARRAY, NESTDB_REPLY_ERROR, NESTDB_REPLY_STATUS, NESTDB_REPLY_STRING};
    use std::ffi::{CStr, CString};

    fn text(p: *const c_char) -> String {
        unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
    }

    fn open(config: Option<&str>) -> *mut nestdb {
        let config = config.map(|c| CString::new(c).unwrap());
        let mut db = ptr::null_mut();
        let rc = unsafe { nestdb_open(ptr::null(), config.as_ref().map_or(ptr::null(), |c| c.as_ptr()), &mut db) };
        assert_eq!(rc, NESTDB_OK, "{}", text(unsafe { nestdb_errmsg(ptr::null_mut()) }));
        db
    }

    /// Run a command; returns (type, str) of the reply.
    fn run(db: *mut nestdb, args: &[&[u8]]) -> (c_int, Vec<u8>) {
        let mut argv: Vec<*const c_char> = args.iter().map(|a| a.as_ptr().cast()).collect();
        let lens: Vec<usize> = args.iter().map(|a| a.len()).collect();
        let r = unsafe { nestdb_command_argv(db, args.len() as c_int, argv.as_mut_ptr(), lens.as_ptr()) };
        assert!(!r.is_null());
        let out = unsafe {
            let r = &*r;
            let s = if r.str.is_null() { Vec::new() } else { std::slice::from_raw_parts(r.str.cast::<u8>(), r.len).to_vec() };
            (r.r#type, s)
        };
        unsafe { nestdb_reply_free(r) };
        out
    }

    #[test]
    fn open_reports_failures_with_null_handles() {
        let mut db: *mut nestdb = std::ptr::dangling_mut::<nestdb>();
        // A path whose parent is a regular file cannot become a database directory.
        let file = tempfile::NamedTempFile::new().unwrap();
        let path = CString::new(format!("{}/db", file.path().display())).unwrap();
        assert_eq!(unsafe { nestdb_open(path.as_ptr(), ptr::null(), &mut db) }, NESTDB_CANTOPEN);
        assert!(db.is_null());
        let msg = text(unsafe { nestdb_errmsg(ptr::null_mut()) });
        assert!(msg.starts_with("nestdb_open: cannot open database: "), "{msg}");

        let bad = CString::new("hz 10\nno-such-option 1").unwrap();
        db = std::ptr::dangling_mut::<nestdb>();
        assert_eq!(unsafe { nestdb_open(ptr::null(), bad.as_ptr(), &mut db) }, NESTDB_CONFIG);
        assert!(db.is_null());
        let msg = text(unsafe { nestdb_errmsg(ptr::null_mut()) });
        assert!(msg.starts_with("nestdb_open: invalid argument: config line 2: "), "{msg}");
        assert!(msg.ends_with("unknown config parameter 'no-such-option'"), "{msg}");
        assert_eq!(unsafe { nestdb_open(ptr::null(), ptr::null(), ptr::null_mut()) }, NESTDB_MISUSE);
        assert_eq!(text(unsafe { nestdb_errmsg(ptr::null_mut()) }), "nestdb_open: out_db is NULL");
    }

    #[test]
    fn config_text_reaches_the_engine() {
        let db = open(Some("# comment\nhz 42\n"));
        let r = unsafe {
            let mut argv = [c"CONFIG".as_ptr(), c"GET".as_ptr(), c"hz".as_ptr()];
            nestdb_command_argv(db, 3, argv.as_mut_ptr(), ptr::null())
        };
        let r2 = unsafe { &*r };
        assert_ne!(r2.r#type, NESTDB_REPLY_ERROR);
        let value = unsafe { &**r2.element.add(1) };
        assert_eq!(text(value.str), "42");
        unsafe { nestdb_reply_free(r) };
        unsafe { nestdb_close(db) };
    }

    #[test]
    fn commands_and_transactions_per_handle() {
        let db = open(None);
        assert_eq!(run(db, &[b"SET", b"k\0ey", b"v\0al"]), (NESTDB_REPLY_STATUS, b"OK".to_vec()));
        assert_eq!(run(db, &[b"get", b"k\0ey"]), (NESTDB_REPLY_STRING, b"v\0al".to_vec()));
        assert_eq!(run(db, &[b"MULTI"]).1, b"OK");
        assert_eq!(run(db, &[b"INCR", b"n"]), (NESTDB_REPLY_STATUS, b"QUEUED".to_vec()));
        let mut other = ptr::null_mut();
        assert_eq!(unsafe { nestdb_open_session(db, &mut other) }, NESTDB_OK);
        // The second handle has its own (empty) transaction state and sees the same data.
        assert_eq!(run(other, &[b"GET", b"k\0ey"]).1, b"v\0al");
        assert_eq!(run(other, &[b"EXEC"]), (NESTDB_REPLY_ERROR, b"ERR EXEC without MULTI".to_vec()));
        assert_eq!(run(db, &[b"EXEC"]).0, NESTDB_REPLY_ARRAY);
        assert_eq!(run(db, &[b"INCR", b"n"]).0, crate::reply::NESTDB_REPLY_INTEGER);
        unsafe { nestdb_close(db) };
        // The database lives on in the other handle.
        assert_eq!(run(other, &[b"GET", b"n"]).1, b"2");
        unsafe { nestdb_close(other) };
    }

    #[test]
    fn bad_arguments_return_null_with_a_message() {
        let db = open(None);
        let mut argv = [c"GET".as_ptr(), ptr::null()];
        assert!(unsafe { nestdb_command_argv(db, 0, argv.as_mut_ptr(), ptr::null()) }.is_null());
        assert_eq!(text(unsafe { nestdb_errmsg(db) }), "nestdb_command_argv: argc must be at least 1 (the command name), got 0");
        assert!(unsafe { nestdb_command_argv(db, 1, ptr::null_mut(), ptr::null()) }.is_null());
        assert_eq!(text(unsafe { nestdb_errmsg(db) }), "nestdb_command_argv: argv is NULL");
        assert!(unsafe { nestdb_command_argv(db, 2, argv.as_mut_ptr(), ptr::null()) }.is_null());
        assert_eq!(text(unsafe { nestdb_errmsg(db) }), "nestdb_command_argv: argv[1] is NULL (and argvlen is NULL)");
        let lens = [3usize, 1];
        assert!(unsafe { nestdb_command_argv(db, 2, argv.as_mut_ptr(), lens.as_ptr()) }.is_null());
        assert_eq!(text(unsafe { nestdb_errmsg(db) }), "nestdb_command_argv: argv[1] is NULL but its length is 1");
        // NULL with length 0 is an empty argument.
        let lens = [3usize, 0];
        let r = unsafe { nestdb_command_argv(db, 2, argv.as_mut_ptr(), lens.as_ptr()) };
        assert_eq!(unsafe { (*r).r#type }, crate::reply::NESTDB_REPLY_NIL);
        unsafe { nestdb_reply_free(r) };
        assert!(unsafe { nestdb_command_argv(ptr::null_mut(), 1, argv.as_mut_ptr(), ptr::null()) }.is_null());
        assert_eq!(text(unsafe { nestdb_errmsg(ptr::null_mut()) }), "nestdb_command_argv: db is NULL");
        unsafe { nestdb_close(db) };
        unsafe { nestdb_close(ptr::null_mut()) };
    }

    #[test]
    fn many_arguments_take_the_heap_path() {
        let db = open(None);
        let mut args: Vec<Vec<u8>> = vec![b"MSET".to_vec()];
        for i in 0..50 {
            args.push(format!("key{i}").into_bytes());
            args.push(format!("{i}").into_bytes());
        }
        let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        assert_eq!(run(db, &refs).1, b"OK");
        assert_eq!(run(db, &[b"GET", b"key49"]).1, b"49");
        unsafe { nestdb_close(db) };
    }
}
