//! `Client`: the native base class of `nestdb.Redis` and `nestdb.Pipeline`.
//!
//! One class, two modes:
//! - direct (`Redis`): every command runs in the engine at once;
//! - pipeline (`Pipeline`, `pipe` is Some): commands are queued and run by `execute()` —
//!   inside MULTI/EXEC on the pipeline's own engine `Session` when `transaction=True` — except
//!   after `watch()` and before `multi()`, when they run immediately on that session, exactly
//!   like redis-py's `Pipeline`.
//!
//! Every command goes through `run`: arguments are encoded (`encode.rs`), the command runs in
//! the engine (`Db::execute`, or the typed `get`/`set` fast paths), and the reply is shaped
//! by the command's callback (`reply.rs`). `execute_command(*args, **options)` is the generic
//! entry used by the Python command methods; the hottest commands (`get`, `set`, `hget`...) are
//! also native methods here so that a call costs one Python->Rust transition.
//!
//! GIL: released around anything that can take a while (whole-keyspace commands, big range
//! reads, SAVE, pipeline execution, large arguments, and write commands when the database
//! fsyncs every write: `Handle::sync_writes`); kept for O(1) commands, where releasing costs
//! more than the command. No lock of this module or of the engine is held while waiting for the
//! GIL (see `engine.rs`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use pyo3::exceptions::{PyIndexError, PyTypeError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyList, PyMemoryView, PyString, PyTuple, PyType};

use nestdb::{Commands, Reply, Session};

use crate::encode::{str_utf8, Arg, Codec};
use crate::engine::{options_from_kwargs, Handle, Location};
use crate::errors;
use crate::locks::{lock, try_lock};
use crate::reply::{callback_for, Cb, Opts, Out};

/// Per-client response-callback overrides (`set_response_callback`), shared with pipelines.
#[derive(Default)]
struct Overrides {
    active: AtomicBool,
    map: Mutex<HashMap<String, Py<PyAny>>>,
}

/// One queued pipeline command: its arguments are `Stack::spans[first..first + count]`.
struct Queued {
    first: usize,
    count: usize,
    /// The encoding error redis-py would raise when the pipeline is sent.
    error: Option<PyErr>,
    cb: Cb,
    opts: Opts,
}

/// The queued commands of a pipeline. All argument bytes live in one buffer, so queueing a
/// command costs no allocation of its own (amortized).
#[derive(Default)]
struct Stack {
    bytes: Vec<u8>,
    /// (start, len) of each argument in `bytes`.
    spans: Vec<(usize, usize)>,
    cmds: Vec<Queued>,
}

impl Stack {
    fn push(&mut self, argv: &[Arg<'_>], cb: Cb, opts: Opts) {
        let first = self.spans.len();
        for a in argv {
            self.spans.push((self.bytes.len(), a.len()));
            self.bytes.extend_from_slice(a);
        }
        self.cmds.push(Queued { first, count: argv.len(), error: None, cb, opts });
    }

    fn push_error(&mut self, err: PyErr) {
        self.cmds.push(Queued { first: self.spans.len(), count: 0, error: Some(err), cb: Cb::Raw, opts: Opts::default() });
    }

    fn len(&self) -> usize {
        self.cmds.len()
    }

    fn is_empty(&self) -> bool {
        self.cmds.is_empty()
    }

    /// Fill `out` with command `i`'s arguments.
    fn argv_into<'a>(&'a self, i: usize, out: &mut Vec<&'a [u8]>) {
        out.clear();
        let q = &self.cmds[i];
        out.extend(self.spans[q.first..q.first + q.count].iter().map(|&(s, l)| &self.bytes[s..s + l]));
    }

    fn argv(&self, i: usize) -> Vec<&[u8]> {
        let mut v = Vec::new();
        self.argv_into(i, &mut v);
        v
    }
}

/// Arity of a command name as the engine's command table has it (None: unknown command).
/// Cached per process; used to check a transaction before running it without a queue.
fn arity_of(db: &nestdb::Db, name: &[u8]) -> Option<i64> {
    static CACHE: std::sync::OnceLock<Mutex<HashMap<Vec<u8>, Option<i64>>>> = std::sync::OnceLock::new();
    let key = name.to_ascii_lowercase();
    let cache = CACHE.get_or_init(Mutex::default);
    if let Some(a) = lock(cache).get(&key) {
        return *a;
    }
    let arity = match db.execute(&[b"COMMAND", b"INFO", &key]) {
        Reply::Array(items) => match items.into_iter().next() {
            Some(Reply::Array(info)) => info.get(1).and_then(Reply::as_int),
            _ => None,
        },
        _ => None,
    };
    lock(cache).insert(key, arity);
    arity
}

/// Transaction control commands: a pipeline holding one runs through the session.
fn is_txn_command(name: &[u8]) -> bool {
    ["MULTI", "EXEC", "DISCARD", "WATCH", "UNWATCH"].iter().any(|n| n.as_bytes().eq_ignore_ascii_case(name))
}

/// How `execute()` runs a pipeline's stack.
#[derive(Clone, Copy)]
struct RunMode {
    /// MULTI/EXEC semantics.
    transaction: bool,
    /// WATCH in force on the session.
    watching: bool,
    raise_on_error: bool,
}

/// A pipeline's state (redis-py `Pipeline` attributes).
struct PipeState {
    transaction: bool,
    watching: bool,
    explicit_transaction: bool,
    stack: Stack,
    /// The pipeline's engine session ("connection"): WATCH state lives here.
    session: Option<Session>,
}

/// How to build a client that is not opened from a path.
enum SpecKind {
    /// A new handle on an open engine (`Database.redis()`).
    Engine(Arc<Handle>),
    /// A pipeline of an existing client.
    Pipeline { handle: Arc<Handle>, codec: Arc<Codec>, overrides: Arc<Overrides>, transaction: bool },
}

/// Private: passed as `path` to `Client.__new__` to build a pipeline or a shared handle.
#[pyclass(frozen, module = "nestdb._nestdb", name = "_Spec")]
pub(crate) struct Spec {
    kind: SpecKind,
}

impl Spec {
    pub(crate) fn engine(h: Arc<Handle>) -> Spec {
        Spec { kind: SpecKind::Engine(h) }
    }
}

/// The native half of `nestdb.Redis` / `nestdb.Pipeline`.
#[pyclass(subclass, frozen, module = "nestdb._nestdb", name = "Client")]
pub(crate) struct Client {
    h: Arc<Handle>,
    codec: Arc<Codec>,
    overrides: Arc<Overrides>,
    pipe: Option<Mutex<PipeState>>,
}

/// Commands that may run long (whole keyspace, big ranges, blocking): run with the GIL released.
fn is_long(argv0: &[u8]) -> bool {
    const LONG: &[&str] = &[
        "KEYS",
        "SCAN",
        "FLUSHALL",
        "FLUSHDB",
        "SAVE",
        "DBSIZE",
        "INFO",
        "RANDOMKEY",
        "SMEMBERS",
        "SINTER",
        "SINTERSTORE",
        "SINTERCARD",
        "SUNION",
        "SUNIONSTORE",
        "SDIFF",
        "SDIFFSTORE",
        "HGETALL",
        "HKEYS",
        "HVALS",
        "LRANGE",
        "LREM",
        "LPOS",
        "LTRIM",
        "ZRANGE",
        "ZRANGESTORE",
        "ZREVRANGE",
        "ZRANGEBYSCORE",
        "ZREVRANGEBYSCORE",
        "ZRANGEBYLEX",
        "ZREVRANGEBYLEX",
        "ZUNION",
        "ZUNIONSTORE",
        "ZINTER",
        "ZINTERSTORE",
        "ZINTERCARD",
        "ZDIFF",
        "ZDIFFSTORE",
        "ZREMRANGEBYSCORE",
        "ZREMRANGEBYRANK",
        "ZREMRANGEBYLEX",
        "COPY",
        "RENAME",
        "DEL",
        "UNLINK",
        "SORT",
        // A script may run long (and SCRIPT KILL must be callable from another thread).
        "EVAL",
        "EVALSHA",
        "EVAL_RO",
        "EVALSHA_RO",
        // Functions too (FUNCTION KILL from another thread); FUNCTION LOAD / RESTORE run Lua.
        "FCALL",
        "FCALL_RO",
        "FUNCTION",
    ];
    (argv0.len() <= 16 && LONG.iter().any(|n| n.as_bytes().eq_ignore_ascii_case(argv0))) || is_blocking(argv0)
}

/// Whether a command should run with the GIL released.
fn wants_detach(argv: &[&[u8]]) -> bool {
    if argv.len() > 64 {
        return true;
    }
    if argv.iter().map(|a| a.len()).sum::<usize>() > 1 << 16 {
        return true;
    }
    argv.first().is_some_and(|a| is_long(a))
}

/// Whether a command changes data (the engine's WRITE flag, from COMMAND INFO; cached per
/// process). Under `appendfsync always` such a command waits for an fsync.
fn is_write(db: &nestdb::Db, name: &[u8]) -> bool {
    static CACHE: std::sync::OnceLock<Mutex<HashMap<Vec<u8>, bool>>> = std::sync::OnceLock::new();
    let key = name.to_ascii_lowercase();
    let cache = CACHE.get_or_init(Mutex::default);
    if let Some(w) = lock(cache).get(&key) {
        return *w;
    }
    let write = match db.execute(&[b"COMMAND", b"INFO", &key]) {
        Reply::Array(items) => match items.into_iter().next() {
            Some(Reply::Array(info)) => match info.get(2) {
                Some(Reply::Array(flags)) => flags.iter().any(|f| f.as_bytes() == Some(b"write")),
                _ => false,
            },
            _ => false,
        },
        _ => false,
    };
    lock(cache).insert(key, write);
    write
}

/// Whether `argv` should run with the GIL released on this handle: a long command, or a
/// write that waits for its fsync (`appendfsync always`).
fn detach_on(h: &Handle, py: Python<'_>, argv: &[&[u8]]) -> PyResult<bool> {
    if wants_detach(argv) {
        return Ok(true);
    }
    if !h.sync_writes() {
        return Ok(false);
    }
    let name = argv.first().copied().unwrap_or(b"");
    h.run(py, |db| is_write(db, name))
}

/// CONFIG SET may change `appendfsync`: refresh the handle's hint afterwards.
fn is_config_set(argv: &[&[u8]]) -> bool {
    argv.len() >= 2 && argv[0].eq_ignore_ascii_case(b"CONFIG") && argv[1].eq_ignore_ascii_case(b"SET")
}

/// Whether `argv0` names a blocking command (BLPOP..., by the engine's command table): it
/// waits with the GIL released and gives way to a signal (Ctrl-C) as redis-py's socket read does.
fn is_blocking(argv0: &[u8]) -> bool {
    nestdb::is_blocking_command(argv0)
}

/// Run a blocking command without the GIL. While it waits, about every 100 ms: a `close()` of
/// the handle (from another thread) ends the wait with ConnectionError, as closing a redis-py
/// connection does, instead of waiting for it; and pending signals are checked, a handler's
/// exception (KeyboardInterrupt) ending the wait. Either way nothing was taken.
fn execute_blocking(h: &Handle, py: Python<'_>, argv: &[&[u8]]) -> PyResult<Reply> {
    let (reply, raised, closing) = h.run_detached(py, |db| {
        let (mut raised, mut closing) = (None, false);
        let reply = db.execute_interruptible(argv, &mut || {
            // True while a close() waits for this call (the handle's lock lets no new reader
            // in then).
            if h.is_closed() {
                closing = true;
                return true;
            }
            match Python::attach(|py| py.check_signals()) {
                Ok(()) => false,
                Err(e) => {
                    raised = Some(e);
                    true
                }
            }
        });
        (reply, raised, closing)
    })?;
    match (reply, raised) {
        (Some(reply), _) => Ok(reply),
        (None, Some(e)) => Err(e),
        (None, None) if closing => Err(errors::connection_error(py, "this nestdb handle is closed")),
        (None, None) => Err(pyo3::exceptions::PyRuntimeError::new_err("blocking command interrupted")),
    }
}

/// Run one argv on the engine (GIL released when worthwhile).
fn execute_on(h: &Handle, py: Python<'_>, argv: &[&[u8]]) -> PyResult<Reply> {
    if argv.first().is_some_and(|a| is_blocking(a)) {
        return execute_blocking(h, py, argv);
    }
    let reply = if detach_on(h, py, argv)? { h.run_detached(py, |db| db.execute(argv)) } else { h.run(py, |db| db.execute(argv)) }?;
    if is_config_set(argv) {
        h.run(py, |db| h.refresh_sync_writes(db))?;
    }
    Ok(reply)
}

fn lock_state<'a>(py: Python<'_>, m: &'a Mutex<PipeState>) -> PyResult<MutexGuard<'a, PipeState>> {
    try_lock(m).ok_or_else(|| {
        errors::redis_error(py, "this Pipeline is being used by another thread; pipelines are not thread-safe (use one per thread)")
    })
}

/// redis-py `list_or_args`: a str/bytes-like `keys` is one key, another iterable many.
fn list_or_args<'py>(keys: &Bound<'py, PyAny>, args: &Bound<'py, PyTuple>) -> PyResult<Vec<Bound<'py, PyAny>>> {
    let mut out: Vec<Bound<'py, PyAny>> = Vec::new();
    let single = keys.is_instance_of::<PyBytes>()
        || keys.is_instance_of::<PyString>()
        || keys.is_instance_of::<PyByteArray>()
        || keys.is_instance_of::<PyMemoryView>();
    if single {
        out.push(keys.clone());
    } else {
        match keys.try_iter() {
            Ok(it) => {
                for k in it {
                    out.push(k?);
                }
            }
            Err(e) if e.is_instance_of::<PyTypeError>(keys.py()) => out.push(keys.clone()),
            Err(e) => return Err(e),
        }
    }
    out.extend(args.iter());
    Ok(out)
}

/// The Python reference implementation of a command method (nestdb._commands.CommandsMixin),
/// used by the native fast paths for the argument combinations they do not handle.
fn reference<'py>(py: Python<'py>, method: &str) -> PyResult<Bound<'py, PyAny>> {
    static MIXIN: PyOnceLock<Py<PyType>> = PyOnceLock::new();
    MIXIN.import(py, "nestdb._commands", "CommandsMixin")?.getattr(method)
}

/// `pipe.execute()` annotation of an error (redis-py `Pipeline.annotate_exception`).
fn annotate(py: Python<'_>, err: &PyErr, number: usize, argv: &[&[u8]]) -> PyResult<()> {
    let cmd = argv.iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect::<Vec<_>>().join(" ");
    let kw = PyDict::new(py);
    kw.set_item("width", 100)?;
    kw.set_item("placeholder", "...")?;
    kw.set_item("break_long_words", true)?;
    let short = py.import("textwrap")?.getattr("shorten")?.call((cmd,), Some(&kw))?;
    let value = err.value(py);
    let args = value.getattr("args")?.cast_into::<PyTuple>()?;
    let first = match args.len() {
        0 => String::new(),
        _ => args.get_item(0)?.str()?.to_cow()?.into_owned(),
    };
    let msg = format!("Command # {number} ({short}) of pipeline caused error: {first}");
    let mut new_args: Vec<Bound<'_, PyAny>> = vec![PyString::new(py, &msg).into_any()];
    new_args.extend(args.iter().skip(1));
    value.setattr("args", PyTuple::new(py, new_args)?)?;
    Ok(())
}

impl Client {
    fn state(&self, py: Python<'_>) -> PyResult<&Mutex<PipeState>> {
        self.pipe.as_ref().ok_or_else(|| errors::redis_error(py, "not a pipeline"))
    }

    /// The callback for `name` (upper case), honouring `set_response_callback` overrides.
    fn callback(&self, py: Python<'_>, name: &str, default: Cb) -> Cb {
        if self.overrides.active.load(Ordering::Relaxed) {
            if let Some(f) = lock(&self.overrides.map).get(name) {
                return Cb::Py(f.clone_ref(py));
            }
        }
        default
    }

    /// Run (or queue) one command. `name` is redis-py's command name (`args[0]` when a str),
    /// used for WATCH bookkeeping; `argv[0]` is the command as sent.
    fn run<'py>(slf: &Bound<'py, Self>, name: Option<&str>, argv: Vec<Arg<'_>>, cb: Cb, opts: Opts) -> PyResult<Bound<'py, PyAny>> {
        let this = slf.get();
        let py = slf.py();
        let Some(state) = &this.pipe else {
            let refs: Vec<&[u8]> = argv.iter().map(|a| &**a).collect();
            let reply = execute_on(&this.h, py, &refs)?;
            return Out::new(&this.codec, &opts).finish(py, reply, &cb);
        };
        let mut st = lock_state(py, state)?;
        let immediate = (st.watching || name == Some("WATCH")) && !st.explicit_transaction;
        if !immediate {
            st.stack.push(&argv, cb, opts);
            return Ok(slf.clone().into_any());
        }
        this.h.run(py, |_| ())?;
        let mut session = match st.session.take() {
            Some(s) => s,
            None => this.h.session(py)?,
        };
        drop(st);
        let refs: Vec<&[u8]> = argv.iter().map(|a| &**a).collect();
        let detach = match detach_on(&this.h, py, &refs) {
            Ok(d) => d,
            Err(e) => {
                lock_state(py, state)?.session = Some(session);
                return Err(e);
            }
        };
        let config_set = is_config_set(&refs);
        let reply = if detach {
            let (s, r) = py.detach(move || {
                let r = session.execute(&refs);
                (session, r)
            });
            session = s;
            r
        } else {
            session.execute(&refs)
        };
        if config_set {
            this.h.run(py, |db| this.h.refresh_sync_writes(db))?;
        }
        let mut st = lock_state(py, state)?;
        st.session = Some(session);
        if !reply.is_error() {
            match name {
                Some("UNWATCH") | Some("DISCARD") | Some("EXEC") => st.watching = false,
                Some("WATCH") => st.watching = true,
                _ => {}
            }
        }
        drop(st);
        Out::new(&this.codec, &opts).finish(py, reply, &cb)
    }

    /// An argument could not be encoded. redis-py encodes a pipeline only when it is sent, so a
    /// queued command keeps the error for `execute()`; otherwise it is raised now.
    fn encode_failed<'py>(slf: &Bound<'py, Self>, name: Option<&str>, err: PyErr) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        if let Some(state) = &slf.get().pipe {
            let mut st = lock_state(py, state)?;
            let immediate = (st.watching || name == Some("WATCH")) && !st.explicit_transaction;
            if !immediate {
                st.stack.push_error(err);
                return Ok(slf.clone().into_any());
            }
        }
        Err(err)
    }

    /// A native command method: `NAME args... *rest` with callback `cb`.
    fn call<'py>(
        slf: &Bound<'py, Self>,
        name: &'static str,
        cb: Cb,
        opts: Opts,
        args: &[&Bound<'py, PyAny>],
        rest: Option<&Bound<'py, PyTuple>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let this = slf.get();
        let items: Vec<Bound<'py, PyAny>> = rest.map(|t| t.iter().collect()).unwrap_or_default();
        let mut argv: Vec<Arg<'_>> = Vec::with_capacity(1 + args.len() + items.len());
        argv.push(Arg::Borrowed(name.as_bytes()));
        for a in args.iter().copied().chain(items.iter()) {
            match this.codec.encode(a) {
                Ok(x) => argv.push(x),
                Err(e) => return Self::encode_failed(slf, Some(name), e),
            }
        }
        let cb = this.callback(slf.py(), name, cb);
        Self::run(slf, Some(name), argv, cb, opts)
    }

    /// Like `call` for a list of already collected arguments.
    fn call_list<'py>(
        slf: &Bound<'py, Self>,
        name: &'static str,
        cb: Cb,
        opts: Opts,
        args: &[Bound<'py, PyAny>],
    ) -> PyResult<Bound<'py, PyAny>> {
        let this = slf.get();
        let mut argv: Vec<Arg<'_>> = Vec::with_capacity(1 + args.len());
        argv.push(Arg::Borrowed(name.as_bytes()));
        for a in args {
            match this.codec.encode(a) {
                Ok(x) => argv.push(x),
                Err(e) => return Self::encode_failed(slf, Some(name), e),
            }
        }
        let cb = this.callback(slf.py(), name, cb);
        Self::run(slf, Some(name), argv, cb, opts)
    }

    /// True when the typed fast paths may be used (direct mode, no callback overrides).
    fn fast(&self) -> bool {
        self.pipe.is_none() && !self.overrides.active.load(Ordering::Relaxed)
    }

    fn engine_result<'py>(&self, py: Python<'py>, r: nestdb::Result<Option<Vec<u8>>>) -> PyResult<Bound<'py, PyAny>> {
        match r {
            Ok(Some(v)) => Out::new(&self.codec, &Opts::default()).bulk(py, &v),
            Ok(None) => Ok(py.None().into_bound(py)),
            Err(nestdb::Error::Command(msg)) => Err(errors::from_reply(py, &msg)),
            Err(e) => Err(errors::redis_error(py, &e.to_string())),
        }
    }

    /// Run the queued commands of a pipeline. Returns the session to keep.
    ///
    /// Fast path (no WATCH in force, no transaction-control command queued, and for a
    /// transaction every command known with a valid arity): run the commands directly under
    /// the engine's all-shard lock (`Db::transaction`), which is what EXEC does, without
    /// copying them into a MULTI queue. Otherwise MULTI/queue/EXEC on the pipeline's session,
    /// which reproduces queue-time errors and EXECABORT exactly.
    fn run_stack<'py>(
        &self,
        py: Python<'py>,
        stack: &Stack,
        session: Option<Session>,
        mode: RunMode,
        watching_cleared: &mut bool,
    ) -> (PyResult<Bound<'py, PyAny>>, Option<Session>) {
        let RunMode { transaction, watching, raise_on_error } = mode;
        // redis-py encodes the whole pipeline before sending anything.
        if let Some(e) = stack.cmds.iter().find_map(|q| q.error.as_ref()) {
            return (Err(e.clone_ref(py)), session);
        }
        let db = match self.h.db_clone(py) {
            Ok(db) => db,
            Err(e) => return (Err(e), session),
        };
        let skip = |i: usize| transaction && stack.cmds[i].opts.empty_response.is_some();
        let fast = !watching
            && (0..stack.len()).all(|i| {
                let argv = stack.argv(i);
                let name = argv.first().copied().unwrap_or(b"");
                if is_txn_command(name) {
                    return false;
                }
                // Outside MULTI a blocking command waits in the pipeline (`Session::pipeline`);
                // under the fast path's all-shard transaction it could not.
                if !transaction && is_blocking(name) {
                    return false;
                }
                if !transaction || skip(i) {
                    return true;
                }
                match arity_of(&db, name) {
                    Some(a) if a >= 0 => argv.len() as i64 == a,
                    Some(a) => argv.len() as i64 >= -a,
                    None => false,
                }
            });
        if fast {
            let replies = py.detach(|| {
                let done = db.transaction(|tx| {
                    let mut argv: Vec<&[u8]> = Vec::new();
                    let mut out = Vec::with_capacity(stack.len());
                    for i in 0..stack.len() {
                        if skip(i) {
                            continue;
                        }
                        stack.argv_into(i, &mut argv);
                        out.push(tx.execute(&argv));
                    }
                    out
                });
                // Refused (log failed) or not durable: every command gets the error reply.
                done.unwrap_or_else(|e| (0..stack.len()).filter(|&i| !skip(i)).map(|_| Reply::Error(e.to_string().into())).collect())
            });
            let out = if transaction {
                self.finish_transaction(py, stack, Vec::new(), Reply::Array(replies), raise_on_error, watching_cleared)
            } else {
                self.finish_pipeline(py, stack, replies, raise_on_error)
            };
            return (out, session);
        }
        let mut session = match session {
            Some(s) => s,
            None => db.session(),
        };
        let argvs: Vec<Vec<&[u8]>> = (0..stack.len()).map(|i| stack.argv(i)).collect();
        if transaction {
            let (session, queue_errors, exec) = py.detach(move || {
                let mut errs: Vec<(usize, String)> = Vec::new();
                let multi = session.execute(&[b"MULTI"]);
                if let Some(e) = multi.error_text() {
                    errs.push((0, e.to_string()));
                }
                for (i, argv) in argvs.iter().enumerate() {
                    if skip(i) {
                        continue;
                    }
                    if let Some(e) = session.execute(argv).error_text() {
                        errs.push((i, e.to_string()));
                    }
                }
                let exec = session.execute(&[b"EXEC"]);
                (session, errs, exec)
            });
            let out = self.finish_transaction(py, stack, queue_errors, exec, raise_on_error, watching_cleared);
            (out, Some(session))
        } else {
            let (session, replies) = py.detach(move || {
                let r = session.pipeline(&argvs);
                (session, r)
            });
            let out = self.finish_pipeline(py, stack, replies, raise_on_error);
            (out, Some(session))
        }
    }

    fn finish_transaction<'py>(
        &self,
        py: Python<'py>,
        stack: &Stack,
        queue_errors: Vec<(usize, String)>,
        exec: Reply,
        raise_on_error: bool,
        watching_cleared: &mut bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let argv_of = |i: usize| stack.argv(i);
        let items = match exec {
            Reply::Error(text) => {
                if text.starts_with("EXECABORT") {
                    if let Some((i, e)) = queue_errors.first() {
                        let err = errors::from_reply(py, e);
                        annotate(py, &err, i + 1, &argv_of(*i))?;
                        return Err(err);
                    }
                }
                return Err(errors::from_reply(py, &text));
            }
            Reply::Nil => {
                *watching_cleared = true;
                return Err(errors::watch_error(py, "Watched variable changed."));
            }
            Reply::Array(items) => items,
            other => return Err(errors::redis_error(py, &format!("unexpected EXEC reply {other:?}"))),
        };
        *watching_cleared = true;
        let sent = stack.cmds.iter().filter(|q| q.opts.empty_response.is_none()).count();
        if items.len() != sent {
            return Err(errors::from_reply(py, "Wrong number of response items from pipeline execution"));
        }
        if raise_on_error {
            let mut it = items.iter();
            for (i, q) in stack.cmds.iter().enumerate() {
                if q.opts.empty_response.is_some() {
                    continue;
                }
                if let Some(Reply::Error(e)) = it.next() {
                    let err = errors::from_reply(py, e);
                    annotate(py, &err, i + 1, &argv_of(i))?;
                    return Err(err);
                }
            }
        }
        let out = PyList::empty(py);
        let mut it = items.into_iter();
        for q in &stack.cmds {
            if let Some(v) = &q.opts.empty_response {
                out.append(v.bind(py))?;
                continue;
            }
            let r = it.next().unwrap_or(Reply::Nil);
            match r {
                Reply::Error(e) => out.append(errors::reply_error_value(py, &e))?,
                r => out.append(Out::new(&self.codec, &q.opts).finish(py, r, &q.cb)?)?,
            }
        }
        Ok(out.into_any())
    }

    fn finish_pipeline<'py>(
        &self,
        py: Python<'py>,
        stack: &Stack,
        replies: Vec<Reply>,
        raise_on_error: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let out = PyList::empty(py);
        let mut first_error: Option<(usize, PyErr)> = None;
        for (i, (q, r)) in stack.cmds.iter().zip(replies).enumerate() {
            match r {
                Reply::Error(e) => {
                    if let Some(v) = &q.opts.empty_response {
                        out.append(v.bind(py))?;
                        continue;
                    }
                    let err = errors::from_reply(py, &e);
                    out.append(err.value(py))?;
                    if first_error.is_none() {
                        first_error = Some((i, err));
                    }
                }
                r => out.append(Out::new(&self.codec, &q.opts).finish(py, r, &q.cb)?)?,
            }
        }
        if raise_on_error {
            if let Some((i, err)) = first_error {
                annotate(py, &err, i + 1, &stack.argv(i))?;
                return Err(err);
            }
        }
        Ok(out.into_any())
    }

    /// redis-py `Pipeline.reset`.
    fn reset_state(&self, py: Python<'_>, session: Option<Session>) -> PyResult<()> {
        let Some(state) = &self.pipe else { return Ok(()) };
        let mut st = lock_state(py, state)?;
        st.stack = Stack::default();
        if let Some(s) = session {
            st.session = Some(s);
        }
        if st.watching {
            if let Some(s) = st.session.as_mut() {
                s.execute(&[b"UNWATCH"]);
            }
        }
        st.watching = false;
        st.explicit_transaction = false;
        Ok(())
    }
}

#[pymethods]
impl Client {
    /// A native subscriber on this client's database (`nestdb.PubSub` wraps it).
    fn _subscriber(&self, py: Python<'_>) -> PyResult<crate::pubsub::Subscriber> {
        Ok(crate::pubsub::Subscriber::new(self.h.run(py, nestdb::Db::subscriber)?))
    }

    #[new]
    #[pyo3(signature = (path=None, *, decode_responses=false, encoding="utf-8", encoding_errors="strict", **config))]
    fn new(
        py: Python<'_>,
        path: Option<&Bound<'_, PyAny>>,
        decode_responses: bool,
        encoding: &str,
        encoding_errors: &str,
        config: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        if let Some(spec) = path.and_then(|p| p.cast::<Spec>().ok()) {
            if config.is_some_and(|c| !c.is_empty()) {
                return Err(PyTypeError::new_err("config keywords apply when a database is opened, not to a shared handle"));
            }
            return Ok(match &spec.get().kind {
                SpecKind::Engine(h) => Client {
                    h: h.share(py)?,
                    codec: Arc::new(Codec::new(py, decode_responses, encoding, encoding_errors)),
                    overrides: Arc::default(),
                    pipe: None,
                },
                SpecKind::Pipeline { handle, codec, overrides, transaction } => Client {
                    h: handle.clone(),
                    codec: codec.clone(),
                    overrides: overrides.clone(),
                    pipe: Some(Mutex::new(PipeState {
                        transaction: *transaction,
                        watching: false,
                        explicit_transaction: false,
                        stack: Stack::default(),
                        session: None,
                    })),
                },
            });
        }
        let location = Location::from_py(path)?;
        let options = options_from_kwargs(config)?;
        let h = Handle::open(py, location, options)?;
        Ok(Client {
            h,
            codec: Arc::new(Codec::new(py, decode_responses, encoding, encoding_errors)),
            overrides: Arc::default(),
            pipe: None,
        })
    }

    /// Run any command: `execute_command("SET", "k", "v")`. The reply is shaped by redis-py's
    /// callback for `args[0]` (with `**options`), as redis-py does.
    #[pyo3(signature = (*args, **options))]
    fn execute_command<'py>(
        slf: &Bound<'py, Self>,
        args: &Bound<'py, PyTuple>,
        options: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let this = slf.get();
        let py = slf.py();
        if args.is_empty() {
            return Err(PyIndexError::new_err("tuple index out of range"));
        }
        let items: Vec<Bound<'py, PyAny>> = args.iter().collect();
        let first = &items[0];
        let mut argv: Vec<Arg<'_>> = Vec::with_capacity(items.len() + 1);
        let mut name: Option<&str> = None;
        if let Ok(s) = first.cast::<PyString>() {
            // redis-py sends "CONFIG GET" as two arguments: args[0].encode().split()
            let text = str_utf8(s)?;
            if text.contains(char::is_whitespace) {
                argv.extend(text.split_whitespace().map(|p| Arg::Borrowed(p.as_bytes())));
            } else {
                argv.push(Arg::Borrowed(text.as_bytes()));
            }
            name = Some(text);
        } else if let Ok(b) = first.cast::<PyBytes>() {
            let bytes = b.as_bytes();
            if bytes.contains(&b' ') {
                argv.extend(bytes.split(|c| c.is_ascii_whitespace()).filter(|p| !p.is_empty()).map(Arg::Borrowed));
            } else {
                argv.push(Arg::Borrowed(bytes));
            }
        } else {
            match this.codec.encode(first) {
                Ok(x) => argv.push(x),
                Err(e) => return Self::encode_failed(slf, None, e),
            }
        }
        for a in &items[1..] {
            match this.codec.encode(a) {
                Ok(x) => argv.push(x),
                Err(e) => return Self::encode_failed(slf, name, e),
            }
        }
        let opts = Opts::parse(options)?;
        let cb = match name {
            Some(n) => {
                let mut buf = [0u8; 48];
                let owned;
                let upper: &str = if n.len() <= buf.len() && n.is_ascii() {
                    buf[..n.len()].copy_from_slice(n.as_bytes());
                    buf[..n.len()].make_ascii_uppercase();
                    std::str::from_utf8(&buf[..n.len()]).unwrap_or(n)
                } else {
                    owned = n.to_uppercase();
                    &owned
                };
                let cb = callback_for(py, upper);
                this.callback(py, upper, cb)
            }
            None => Cb::Raw,
        };
        Self::run(slf, name, argv, cb, opts)
    }

    /// A new pipeline (redis-py `Redis.pipeline`).
    #[pyo3(signature = (transaction=true, shard_hint=None))]
    fn pipeline<'py>(slf: &Bound<'py, Self>, transaction: bool, shard_hint: Option<&Bound<'py, PyAny>>) -> PyResult<Bound<'py, PyAny>> {
        let _ = shard_hint;
        let this = slf.get();
        let py = slf.py();
        static PIPELINE: PyOnceLock<Py<PyType>> = PyOnceLock::new();
        let cls = PIPELINE.import(py, "nestdb.client", "Pipeline")?;
        let spec = Spec {
            kind: SpecKind::Pipeline { handle: this.h.clone(), codec: this.codec.clone(), overrides: this.overrides.clone(), transaction },
        };
        cls.call1((Bound::new(py, spec)?,))
    }

    /// Replace the response callback of a command (redis-py `set_response_callback`).
    fn set_response_callback(&self, command: &str, callback: Py<PyAny>) {
        lock(&self.overrides.map).insert(command.to_uppercase(), callback);
        self.overrides.active.store(true, Ordering::Relaxed);
    }

    /// Close this handle (a pipeline: reset it). Later calls raise ConnectionError.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        if self.pipe.is_some() {
            return self.reset_state(py, None);
        }
        self.h.close(py);
        Ok(())
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, PyTuple>) -> PyResult<bool> {
        self.close(py)?;
        Ok(false)
    }

    /// Whether this handle was opened with `decode_responses=True`.
    #[getter]
    fn decode_responses(&self) -> bool {
        self.codec.decode
    }

    /// The database path (absolute), or None for an in-memory database.
    #[getter]
    fn path<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyString>>> {
        self.h.location().to_py(py)
    }

    /// True once `close()` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.h.is_closed()
    }

    // ----- pipeline methods (exposed by nestdb.Pipeline under redis-py's names) -----

    #[pyo3(signature = (raise_on_error=true))]
    fn _pipe_execute<'py>(slf: &Bound<'py, Self>, raise_on_error: bool) -> PyResult<Bound<'py, PyAny>> {
        let this = slf.get();
        let py = slf.py();
        let state = this.state(py)?;
        let mut st = lock_state(py, state)?;
        if st.stack.is_empty() && !st.watching {
            return Ok(PyList::empty(py).into_any());
        }
        let stack = std::mem::take(&mut st.stack);
        let transaction = st.transaction || st.explicit_transaction;
        let watching = st.watching;
        let session = st.session.take();
        drop(st);
        let mut cleared = false;
        let mode = RunMode { transaction, watching, raise_on_error };
        let (out, session) = this.run_stack(py, &stack, session, mode, &mut cleared);
        if cleared {
            if let Ok(mut st) = lock_state(py, state) {
                st.watching = false;
            }
        }
        let reset = this.reset_state(py, session);
        let out = out?;
        reset?;
        Ok(out)
    }

    fn _pipe_reset(&self, py: Python<'_>) -> PyResult<()> {
        self.reset_state(py, None)
    }

    fn _pipe_multi(&self, py: Python<'_>) -> PyResult<()> {
        let mut st = lock_state(py, self.state(py)?)?;
        if st.explicit_transaction {
            return Err(errors::redis_error(py, "Cannot issue nested calls to MULTI"));
        }
        if !st.stack.is_empty() {
            return Err(errors::redis_error(py, "Commands without an initial WATCH have already been issued"));
        }
        st.explicit_transaction = true;
        Ok(())
    }

    #[pyo3(signature = (*names))]
    fn _pipe_watch<'py>(slf: &Bound<'py, Self>, names: &Bound<'py, PyTuple>) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        if lock_state(py, slf.get().state(py)?)?.explicit_transaction {
            return Err(errors::redis_error(py, "Cannot issue a WATCH after a MULTI"));
        }
        Self::call(slf, "WATCH", Cb::BoolOk, Opts::default(), &[], Some(names))
    }

    fn _pipe_unwatch<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let watching = lock_state(py, slf.get().state(py)?)?.watching;
        if watching {
            let r = Self::call(slf, "UNWATCH", Cb::BoolOk, Opts::default(), &[], None)?;
            if r.is_truthy()? {
                return Ok(r);
            }
        }
        Ok(pyo3::types::PyBool::new(py, true).to_owned().into_any())
    }

    fn _pipe_discard<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        Self::call(slf, "DISCARD", Cb::Raw, Opts::default(), &[], None)
    }

    fn _pipe_len(&self, py: Python<'_>) -> PyResult<usize> {
        Ok(lock_state(py, self.state(py)?)?.stack.len())
    }

    // ----- native fast paths of the hottest commands (same signatures as redis-py) -----

    /// Return the value at key ``name``, or None if the key doesn't exist
    fn get<'py>(slf: &Bound<'py, Self>, name: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let this = slf.get();
        if !this.fast() {
            return Self::call(slf, "GET", Cb::Raw, Opts::default(), &[name], None);
        }
        let py = slf.py();
        let key = this.codec.encode(name)?;
        if this.codec.decode {
            // Decoding may raise (and so allocate GC-tracked objects): do it after the engine's
            // lock is released.
            let r = this.h.run(py, |db| Commands::get(db, &key))?;
            return this.engine_result(py, r);
        }
        // Build the bytes object straight from the stored value, under the shard's read lock
        // (PyBytes allocation runs no Python code and never collects garbage).
        let r = this.h.run(py, |db| db.get_with(&key, |v| PyBytes::new(py, v)))?;
        match r {
            Ok(Some(b)) => Ok(b.into_any()),
            Ok(None) => Ok(py.None().into_bound(py)),
            Err(nestdb::Error::Command(msg)) => Err(errors::from_reply(py, &msg)),
            Err(e) => Err(errors::redis_error(py, &e.to_string())),
        }
    }

    /// Set the value at key ``name`` to ``value``
    #[pyo3(signature = (name, value, ex=None, px=None, nx=None, xx=None, keepttl=None, get=None, exat=None, pxat=None, ifeq=None, ifne=None, ifdeq=None, ifdne=None))]
    #[pyo3(
        text_signature = "(self, name, value, ex=None, px=None, nx=False, xx=False, keepttl=False, get=False, exat=None, pxat=None, ifeq=None, ifne=None, ifdeq=None, ifdne=None)"
    )]
    #[allow(clippy::too_many_arguments)]
    fn set<'py>(
        slf: &Bound<'py, Self>,
        name: &Bound<'py, PyAny>,
        value: &Bound<'py, PyAny>,
        ex: Option<&Bound<'py, PyAny>>,
        px: Option<&Bound<'py, PyAny>>,
        nx: Option<&Bound<'py, PyAny>>,
        xx: Option<&Bound<'py, PyAny>>,
        keepttl: Option<&Bound<'py, PyAny>>,
        get: Option<&Bound<'py, PyAny>>,
        exat: Option<&Bound<'py, PyAny>>,
        pxat: Option<&Bound<'py, PyAny>>,
        ifeq: Option<&Bound<'py, PyAny>>,
        ifne: Option<&Bound<'py, PyAny>>,
        ifdeq: Option<&Bound<'py, PyAny>>,
        ifdne: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let this = slf.get();
        let py = slf.py();
        let truthy = |o: Option<&Bound<'py, PyAny>>| -> PyResult<bool> { o.map_or(Ok(false), |v| v.is_truthy()) };
        let (nx_t, xx_t, keepttl_t, get_t) = (truthy(nx)?, truthy(xx)?, truthy(keepttl)?, truthy(get)?);
        let exotic = exat.is_some() || pxat.is_some() || ifeq.is_some() || ifne.is_some() || ifdeq.is_some() || ifdne.is_some();
        let int_ttl = |o: Option<&Bound<'py, PyAny>>| o.is_none_or(|v| v.is_exact_instance_of::<pyo3::types::PyInt>());
        let conflicting = (nx_t && xx_t) || (ex.is_some() && px.is_some());
        let common = !(exotic || keepttl_t || conflicting) && int_ttl(ex) && int_ttl(px);
        if !common {
            let kw = PyDict::new(py);
            for (k, v) in [
                ("ex", ex),
                ("px", px),
                ("nx", nx),
                ("xx", xx),
                ("keepttl", keepttl),
                ("get", get),
                ("exat", exat),
                ("pxat", pxat),
                ("ifeq", ifeq),
                ("ifne", ifne),
                ("ifdeq", ifdeq),
                ("ifdne", ifdne),
            ] {
                if let Some(v) = v {
                    kw.set_item(k, v)?;
                }
            }
            return reference(py, "set")?.call((slf, name, value), Some(&kw));
        }
        if this.fast() && !nx_t && !xx_t && !get_t && ex.is_none() && px.is_none() {
            let key = this.codec.encode(name)?;
            let val = this.codec.encode(value)?;
            let r = if val.len() > 1 << 16 || this.h.sync_writes() {
                this.h.run_detached(py, |db| Commands::set(db, &key, &val))?
            } else {
                this.h.run(py, |db| Commands::set(db, &key, &val))?
            };
            return match r {
                Ok(()) => Ok(pyo3::types::PyBool::new(py, true).to_owned().into_any()),
                Err(nestdb::Error::Command(msg)) => Err(errors::from_reply(py, &msg)),
                Err(e) => Err(errors::redis_error(py, &e.to_string())),
            };
        }
        let mut argv: Vec<Arg<'_>> = Vec::with_capacity(7);
        argv.push(Arg::Borrowed(b"SET"));
        macro_rules! push_encoded {
            ($v:expr) => {
                match this.codec.encode($v) {
                    Ok(x) => argv.push(x),
                    Err(e) => return Self::encode_failed(slf, Some("SET"), e),
                }
            };
        }
        push_encoded!(name);
        push_encoded!(value);
        if nx_t {
            argv.push(Arg::Borrowed(b"NX"));
        } else if xx_t {
            argv.push(Arg::Borrowed(b"XX"));
        }
        if get_t {
            argv.push(Arg::Borrowed(b"GET"));
        }
        if let Some(ex) = ex {
            argv.push(Arg::Borrowed(b"EX"));
            push_encoded!(ex);
        } else if let Some(px) = px {
            argv.push(Arg::Borrowed(b"PX"));
            push_encoded!(px);
        }
        let cb = this.callback(py, "SET", Cb::SetResult);
        Self::run(slf, Some("SET"), argv, cb, Opts::set_get(get_t))
    }

    /// Returns a list of values ordered identically to ``keys``
    #[pyo3(signature = (keys, *args))]
    fn mget<'py>(slf: &Bound<'py, Self>, keys: &Bound<'py, PyAny>, args: &Bound<'py, PyTuple>) -> PyResult<Bound<'py, PyAny>> {
        let all = list_or_args(keys, args)?;
        let mut opts = Opts::default();
        if all.is_empty() {
            opts.empty_response = Some(PyList::empty(slf.py()).into_any().unbind());
        }
        Self::call_list(slf, "MGET", Cb::Raw, opts, &all)
    }

    /// Sets key/values based on a mapping.
    fn mset<'py>(slf: &Bound<'py, Self>, mapping: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let mut items = Vec::new();
        for pair in mapping.call_method0("items")?.try_iter()? {
            for x in pair?.try_iter()? {
                items.push(x?);
            }
        }
        Self::call_list(slf, "MSET", Cb::BoolOk, Opts::default(), &items)
    }

    /// Delete one or more keys specified by ``names``
    #[pyo3(signature = (*names))]
    fn delete<'py>(slf: &Bound<'py, Self>, names: &Bound<'py, PyTuple>) -> PyResult<Bound<'py, PyAny>> {
        Self::call(slf, "DEL", Cb::Raw, Opts::default(), &[], Some(names))
    }

    /// Returns the number of ``names`` that exist
    #[pyo3(signature = (*names))]
    fn exists<'py>(slf: &Bound<'py, Self>, names: &Bound<'py, PyTuple>) -> PyResult<Bound<'py, PyAny>> {
        Self::call(slf, "EXISTS", Cb::Raw, Opts::default(), &[], Some(names))
    }

    /// Increments the value of ``key`` by ``amount``.
    #[pyo3(signature = (name, amount=None), text_signature = "(self, name, amount=1)")]
    fn incrby<'py>(slf: &Bound<'py, Self>, name: &Bound<'py, PyAny>, amount: Option<&Bound<'py, PyAny>>) -> PyResult<Bound<'py, PyAny>> {
        let one = 1i64.into_pyobject(slf.py())?.into_any();
        Self::call(slf, "INCRBY", Cb::Raw, Opts::default(), &[name, amount.unwrap_or(&one)], None)
    }

    /// Increments the value of ``key`` by ``amount``.
    #[pyo3(signature = (name, amount=None), text_signature = "(self, name, amount=1)")]
    fn incr<'py>(slf: &Bound<'py, Self>, name: &Bound<'py, PyAny>, amount: Option<&Bound<'py, PyAny>>) -> PyResult<Bound<'py, PyAny>> {
        Self::incrby(slf, name, amount)
    }

    /// Decrements the value of ``key`` by ``amount``.
    #[pyo3(signature = (name, amount=None), text_signature = "(self, name, amount=1)")]
    fn decrby<'py>(slf: &Bound<'py, Self>, name: &Bound<'py, PyAny>, amount: Option<&Bound<'py, PyAny>>) -> PyResult<Bound<'py, PyAny>> {
        let one = 1i64.into_pyobject(slf.py())?.into_any();
        Self::call(slf, "DECRBY", Cb::Raw, Opts::default(), &[name, amount.unwrap_or(&one)], None)
    }

    /// Decrements the value of ``key`` by ``amount``.
    #[pyo3(signature = (name, amount=None), text_signature = "(self, name, amount=1)")]
    fn decr<'py>(slf: &Bound<'py, Self>, name: &Bound<'py, PyAny>, amount: Option<&Bound<'py, PyAny>>) -> PyResult<Bound<'py, PyAny>> {
        Self::decrby(slf, name, amount)
    }

    /// Set an expire flag on key ``name`` for ``time`` seconds.
    #[pyo3(signature = (name, time, nx=None, xx=None, gt=None, lt=None), text_signature = "(self, name, time, nx=False, xx=False, gt=False, lt=False)")]
    #[allow(clippy::too_many_arguments)]
    fn expire<'py>(
        slf: &Bound<'py, Self>,
        name: &Bound<'py, PyAny>,
        time: &Bound<'py, PyAny>,
        nx: Option<&Bound<'py, PyAny>>,
        xx: Option<&Bound<'py, PyAny>>,
        gt: Option<&Bound<'py, PyAny>>,
        lt: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        if nx.is_some() || xx.is_some() || gt.is_some() || lt.is_some() || !time.is_exact_instance_of::<pyo3::types::PyInt>() {
            let kw = PyDict::new(slf.py());
            for (k, v) in [("nx", nx), ("xx", xx), ("gt", gt), ("lt", lt)] {
                if let Some(v) = v {
                    kw.set_item(k, v)?;
                }
            }
            return reference(slf.py(), "expire")?.call((slf, name, time), Some(&kw));
        }
        Self::call(slf, "EXPIRE", Cb::Bool, Opts::default(), &[name, time], None)
    }

    /// Returns the number of seconds until the key ``name`` will expire
    fn ttl<'py>(slf: &Bound<'py, Self>, name: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        Self::call(slf, "TTL", Cb::Raw, Opts::default(), &[name], None)
    }

    /// Return the value of ``key`` within the hash ``name``
    fn hget<'py>(slf: &Bound<'py, Self>, name: &Bound<'py, PyAny>, key: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        Self::call(slf, "HGET", Cb::Raw, Opts::default(), &[name, key], None)
    }

    /// Set ``key`` to ``value`` within hash ``name``, ``mapping`` and ``items`` add more pairs.
    #[pyo3(signature = (name, key=None, value=None, mapping=None, items=None))]
    fn hset<'py>(
        slf: &Bound<'py, Self>,
        name: &Bound<'py, PyAny>,
        key: Option<&Bound<'py, PyAny>>,
        value: Option<&Bound<'py, PyAny>>,
        mapping: Option<&Bound<'py, PyAny>>,
        items: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let truthy = |o: Option<&Bound<'py, PyAny>>| -> PyResult<bool> { o.map_or(Ok(false), |v| v.is_truthy()) };
        let (has_mapping, has_items) = (truthy(mapping)?, truthy(items)?);
        if key.is_none() && !has_mapping && !has_items {
            return Err(errors::data_error(py, "'hset' with no key value pairs"));
        }
        let mut pieces: Vec<Bound<'py, PyAny>> = vec![name.clone()];
        if let (true, Some(items)) = (has_items, items) {
            for x in items.try_iter()? {
                pieces.push(x?);
            }
        }
        if let Some(key) = key {
            pieces.push(key.clone());
            pieces.push(value.cloned().unwrap_or_else(|| py.None().into_bound(py)));
        }
        if let (true, Some(mapping)) = (has_mapping, mapping) {
            for pair in mapping.call_method0("items")?.try_iter()? {
                for x in pair?.try_iter()? {
                    pieces.push(x?);
                }
            }
        }
        Self::call_list(slf, "HSET", Cb::Raw, Opts::default(), &pieces)
    }

    /// Return a Python dict of the hash's name/value pairs
    fn hgetall<'py>(slf: &Bound<'py, Self>, name: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        Self::call(slf, "HGETALL", Cb::Raw, Opts::default(), &[name], None)
    }

    /// Increment the value of ``key`` in hash ``name`` by ``amount``
    #[pyo3(signature = (name, key, amount=None), text_signature = "(self, name, key, amount=1)")]
    fn hincrby<'py>(
        slf: &Bound<'py, Self>,
        name: &Bound<'py, PyAny>,
        key: &Bound<'py, PyAny>,
        amount: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let one = 1i64.into_pyobject(slf.py())?.into_any();
        Self::call(slf, "HINCRBY", Cb::Raw, Opts::default(), &[name, key, amount.unwrap_or(&one)], None)
    }

    /// Add ``value(s)`` to set ``name``
    #[pyo3(signature = (name, *values))]
    fn sadd<'py>(slf: &Bound<'py, Self>, name: &Bound<'py, PyAny>, values: &Bound<'py, PyTuple>) -> PyResult<Bound<'py, PyAny>> {
        Self::call(slf, "SADD", Cb::Raw, Opts::default(), &[name], Some(values))
    }

    /// Remove ``values`` from set ``name``
    #[pyo3(signature = (name, *values))]
    fn srem<'py>(slf: &Bound<'py, Self>, name: &Bound<'py, PyAny>, values: &Bound<'py, PyTuple>) -> PyResult<Bound<'py, PyAny>> {
        Self::call(slf, "SREM", Cb::Raw, Opts::default(), &[name], Some(values))
    }

    /// Return all members of the set ``name``
    fn smembers<'py>(slf: &Bound<'py, Self>, name: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        Self::call(slf, "SMEMBERS", Cb::ToSet, Opts::default(), &[name], None)
    }

    /// Return whether ``value`` is a member of set ``name`` (1 or 0)
    fn sismember<'py>(slf: &Bound<'py, Self>, name: &Bound<'py, PyAny>, value: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        Self::call(slf, "SISMEMBER", Cb::Raw, Opts::default(), &[name, value], None)
    }

    /// Return the number of elements in set ``name``
    fn scard<'py>(slf: &Bound<'py, Self>, name: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        Self::call(slf, "SCARD", Cb::Raw, Opts::default(), &[name], None)
    }

    /// Push ``values`` onto the head of the list ``name``
    #[pyo3(signature = (name, *values))]
    fn lpush<'py>(slf: &Bound<'py, Self>, name: &Bound<'py, PyAny>, values: &Bound<'py, PyTuple>) -> PyResult<Bound<'py, PyAny>> {
        Self::call(slf, "LPUSH", Cb::Raw, Opts::default(), &[name], Some(values))
    }

    /// Push ``values`` onto the tail of the list ``name``
    #[pyo3(signature = (name, *values))]
    fn rpush<'py>(slf: &Bound<'py, Self>, name: &Bound<'py, PyAny>, values: &Bound<'py, PyTuple>) -> PyResult<Bound<'py, PyAny>> {
        Self::call(slf, "RPUSH", Cb::Raw, Opts::default(), &[name], Some(values))
    }

    /// Return a slice of the list ``name`` between position ``start`` and ``end``
    fn lrange<'py>(
        slf: &Bound<'py, Self>,
        name: &Bound<'py, PyAny>,
        start: &Bound<'py, PyAny>,
        end: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        Self::call(slf, "LRANGE", Cb::Raw, Opts::default(), &[name, start, end], None)
    }

    /// Return the length of the list ``name``
    fn llen<'py>(slf: &Bound<'py, Self>, name: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        Self::call(slf, "LLEN", Cb::Raw, Opts::default(), &[name], None)
    }

    /// Removes and returns the first elements of the list ``name``.
    #[pyo3(signature = (name, count=None))]
    fn lpop<'py>(slf: &Bound<'py, Self>, name: &Bound<'py, PyAny>, count: Option<&Bound<'py, PyAny>>) -> PyResult<Bound<'py, PyAny>> {
        match count {
            Some(c) => Self::call(slf, "LPOP", Cb::Raw, Opts::default(), &[name, c], None),
            None => Self::call(slf, "LPOP", Cb::Raw, Opts::default(), &[name], None),
        }
    }

    /// Removes and returns the last elements of the list ``name``.
    #[pyo3(signature = (name, count=None))]
    fn rpop<'py>(slf: &Bound<'py, Self>, name: &Bound<'py, PyAny>, count: Option<&Bound<'py, PyAny>>) -> PyResult<Bound<'py, PyAny>> {
        match count {
            Some(c) => Self::call(slf, "RPOP", Cb::Raw, Opts::default(), &[name, c], None),
            None => Self::call(slf, "RPOP", Cb::Raw, Opts::default(), &[name], None),
        }
    }

    /// Set any number of element-name, score pairs to the key ``name``.
    #[pyo3(signature = (name, mapping, nx=None, xx=None, ch=None, incr=None, gt=None, lt=None))]
    #[pyo3(text_signature = "(self, name, mapping, nx=False, xx=False, ch=False, incr=False, gt=False, lt=False)")]
    #[allow(clippy::too_many_arguments)]
    fn zadd<'py>(
        slf: &Bound<'py, Self>,
        name: &Bound<'py, PyAny>,
        mapping: &Bound<'py, PyAny>,
        nx: Option<&Bound<'py, PyAny>>,
        xx: Option<&Bound<'py, PyAny>>,
        ch: Option<&Bound<'py, PyAny>>,
        incr: Option<&Bound<'py, PyAny>>,
        gt: Option<&Bound<'py, PyAny>>,
        lt: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        if nx.is_some() || xx.is_some() || ch.is_some() || incr.is_some() || gt.is_some() || lt.is_some() || !mapping.is_truthy()? {
            let kw = PyDict::new(py);
            for (k, v) in [("nx", nx), ("xx", xx), ("ch", ch), ("incr", incr), ("gt", gt), ("lt", lt)] {
                if let Some(v) = v {
                    kw.set_item(k, v)?;
                }
            }
            return reference(py, "zadd")?.call((slf, name, mapping), Some(&kw));
        }
        let mut pieces: Vec<Bound<'py, PyAny>> = vec![name.clone()];
        for pair in mapping.call_method0("items")?.try_iter()? {
            let pair = pair?;
            pieces.push(pair.get_item(1)?);
            pieces.push(pair.get_item(0)?);
        }
        Self::call_list(slf, "ZADD", Cb::Raw, Opts::default(), &pieces)
    }

    /// Return the score of element ``value`` in sorted set ``name``
    fn zscore<'py>(slf: &Bound<'py, Self>, name: &Bound<'py, PyAny>, value: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        Self::call(slf, "ZSCORE", Cb::Raw, Opts::default(), &[name, value], None)
    }

    /// Increment the score of ``value`` in sorted set ``name`` by ``amount``
    fn zincrby<'py>(
        slf: &Bound<'py, Self>,
        name: &Bound<'py, PyAny>,
        amount: &Bound<'py, PyAny>,
        value: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        Self::call(slf, "ZINCRBY", Cb::Raw, Opts::default(), &[name, amount, value], None)
    }

    /// Return the number of elements in the sorted set ``name``
    fn zcard<'py>(slf: &Bound<'py, Self>, name: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        Self::call(slf, "ZCARD", Cb::Raw, Opts::default(), &[name], None)
    }

    /// Remove member ``values`` from sorted set ``name``
    #[pyo3(signature = (name, *values))]
    fn zrem<'py>(slf: &Bound<'py, Self>, name: &Bound<'py, PyAny>, values: &Bound<'py, PyTuple>) -> PyResult<Bound<'py, PyAny>> {
        Self::call(slf, "ZREM", Cb::Raw, Opts::default(), &[name], Some(values))
    }
}

/// `Database`: one open database, from which `redis()` handles (and later the document API)
/// hang. Its Python subclass `nestdb.Database` adds `redis()`.
#[pyclass(subclass, frozen, module = "nestdb._nestdb", name = "Database")]
pub(crate) struct Database {
    h: Arc<Handle>,
}

#[pymethods]
impl Database {
    #[new]
    #[pyo3(signature = (path=None, **config))]
    fn new(py: Python<'_>, path: Option<&Bound<'_, PyAny>>, config: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let location = Location::from_py(path)?;
        let options = options_from_kwargs(config)?;
        Ok(Database { h: Handle::open(py, location, options)? })
    }

    /// Private: a spec for `Client.__new__` sharing this database's engine.
    fn _engine_spec(&self, py: Python<'_>) -> PyResult<Spec> {
        self.h.run(py, |_| ())?;
        Ok(Spec::engine(self.h.clone()))
    }

    /// Private: run one MongoDB database command (a Mapping whose first key is the command
    /// name) against database `db_name`; returns MongoDB's reply as a dict. The GIL is
    /// released while it runs. Raises only for values that cannot be encoded as BSON.
    fn _doc_command<'py>(&self, py: Python<'py>, db_name: &str, command: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let cmd = crate::docs::to_document(command)?;
        let reply = self.h.run_detached(py, |db| db.run_command(db_name, &cmd))?;
        crate::docs::document_to_py(py, &reply)
    }

    /// Private: `insert_many`'s fast path. Gives every mapping without an `_id` a new ObjectId
    /// (in place, as pymongo does), encodes the documents straight to BSON and inserts them.
    /// Returns `(inserted count, write errors as dicts, None)`, or `(0, [], error reply)` when
    /// the command as a whole failed (bad namespace, a key of another type...).
    fn _doc_insert_many<'py>(
        &self,
        py: Python<'py>,
        db_name: &str,
        coll: &str,
        docs: &Bound<'py, PyList>,
        ordered: bool,
    ) -> PyResult<(usize, Bound<'py, PyList>, Option<Bound<'py, PyAny>>)> {
        let mut raws = Vec::with_capacity(docs.len());
        // Each document is encoded into one warm scratch buffer, then copied out at its exact
        // size: it is stored as it is, so growth slack would be memory held for its lifetime.
        let mut scratch = Vec::with_capacity(1024);
        for doc in docs.iter() {
            let id = match doc.get_item("_id") {
                Ok(id) => id,
                Err(_) => {
                    let oid = crate::docs::new_object_id(py)?;
                    doc.set_item("_id", &oid).map_err(|_| PyTypeError::new_err("document must be a mutable mapping to receive an _id"))?;
                    oid
                }
            };
            scratch.clear();
            crate::docs::write_document(&mut scratch, &doc, 1, Some(&id))?;
            raws.push(
                nestdb::bson::RawDocumentBuf::from_bytes(scratch.to_vec())
                    .map_err(|e| PyTypeError::new_err(format!("cannot encode the document: {e}")))?,
            );
        }
        let outcome =
            self.h.run_detached(py, |db| db.database(db_name).collection::<nestdb::bson::Document>(coll).insert_raw(raws, ordered))?;
        let errors = PyList::empty(py);
        match outcome {
            Ok(o) => {
                for (index, e) in &o.errors {
                    errors.append(crate::docs::write_error_to_py(py, *index, e)?)?;
                }
                Ok((o.inserted.len(), errors, None))
            }
            Err(e) => Ok((0, errors, Some(crate::docs::error_reply_to_py(py, &e)?))),
        }
    }

    /// Private: a `find` command whose whole answer is one batch (`limit` set), its documents
    /// decoded straight from their BSON bytes. Returns `(list of documents, None)`,
    /// `(None, error reply)`, or `(None, None)` when the command is not such a find (run it
    /// as a command then).
    fn _doc_find_batch<'py>(&self, py: Python<'py>, db_name: &str, command: &Bound<'py, PyAny>) -> PyResult<FoundOrError<'py>> {
        let cmd = crate::docs::to_document(command)?;
        let found = self.h.run_detached(py, |db| db.database(db_name).find_first_batch_raw(&cmd))?;
        match found {
            Ok(Some(docs)) => {
                let list = PyList::empty(py);
                for d in &docs {
                    list.append(crate::docs::raw_document_to_py(py, d)?)?;
                }
                Ok((Some(list.into_any()), None))
            }
            Ok(None) => Ok((None, None)),
            Err(e) => Ok((None, Some(crate::docs::error_reply_to_py(py, &e)?))),
        }
    }

    /// Private: `find_one`'s fast path: the first document matching `filter` (natural order),
    /// decoded straight from its stored bytes. Returns `(document or None, None)` or
    /// `(None, error reply)`.
    fn _doc_find_one<'py>(&self, py: Python<'py>, db_name: &str, coll: &str, filter: &Bound<'py, PyAny>) -> PyResult<FoundOrError<'py>> {
        let filter = crate::docs::to_document(filter)?;
        // `{_id: <scalar>}` is an index lookup of a few hundred nanoseconds: run it with the GIL
        // held; anything else may scan.
        // (As `value::is_id_lookup_value`, but `undefined` too goes to the lookups, as it always
        // has here.)
        let scalar = |v: &nestdb::bson::Bson| {
            !matches!(
                v,
                nestdb::bson::Bson::Document(_)
                    | nestdb::bson::Bson::Array(_)
                    | nestdb::bson::Bson::RegularExpression(_)
                    | nestdb::bson::Bson::Null
            )
        };
        let id = match filter.get("_id") {
            Some(v) if filter.len() == 1 && scalar(v) => Some(v.clone()),
            _ => None,
        };
        // One equality to a scalar on an indexed field is a point lookup too: tried with the
        // GIL held, and only if it does not apply is the general path run without it.
        let point = filter.len() == 1 && matches!(filter.iter().next(), Some((k, v)) if !k.starts_with('$') && scalar(v));
        let found = match id {
            Some(id) => self.h.run(py, |db| db.database(db_name).collection::<nestdb::bson::Document>(coll).find_by_id_raw(&id))?,
            None => {
                let by_point = if point {
                    self.h.run(py, |db| db.database(db_name).collection::<nestdb::bson::Document>(coll).find_one_point_raw(&filter))?
                } else {
                    Ok(None)
                };
                match by_point {
                    Ok(Some(found)) => Ok(found),
                    Err(e) => Err(e),
                    Ok(None) => self.h.run_detached(py, |db| {
                        db.database(db_name).collection::<nestdb::bson::Document>(coll).find_one_raw(&filter, None)
                    })?,
                }
            }
        };
        match found {
            Ok(Some(raw)) => Ok((Some(crate::docs::raw_document_to_py(py, &raw)?), None)),
            Ok(None) => Ok((None, None)),
            Err(e) => Ok((None, Some(crate::docs::error_reply_to_py(py, &e)?))),
        }
    }

    /// Private: `update_one`/`update_many`/`replace_one`'s fast path (no command document).
    /// Returns `(raw_result, None)` with pymongo's `UpdateResult.raw_result` shape (`n`,
    /// `nModified`, `ok`, `updatedExisting`, `upserted` as the id), or `(None, reply)` with the
    /// `update` command's failure reply (`writeErrors`, or `ok: 0`).
    #[allow(clippy::too_many_arguments)]
    fn _doc_update<'py>(
        &self,
        py: Python<'py>,
        db_name: &str,
        coll: &str,
        filter: &Bound<'py, PyAny>,
        update: &Bound<'py, PyAny>,
        upsert: bool,
        multi: bool,
        array_filters: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<FoundOrError<'py>> {
        if !multi && array_filters.is_none_or(|f| f.is_none()) {
            if let Some((id, patch)) = in_place_by_id(filter, update)? {
                let run = |db: &nestdb::Db| {
                    db.database(db_name).collection::<nestdb::bson::Document>(coll).update_by_id_in_place(&id, &patch, upsert)
                };
                match self.h.run(py, run)? {
                    Ok(None) => {} // the general path decides
                    result => return update_reply(py, result.map(|r| r.unwrap_or_default())),
                }
            }
        }
        let filter = crate::docs::to_document(filter)?;
        let update = crate::docs::to_bson(update)?;
        let mut opts = nestdb::UpdateOptions::default().upsert(upsert);
        opts.multi = multi;
        if let Some(filters) = array_filters.filter(|f| !f.is_none()) {
            let mut list = Vec::new();
            for f in filters.try_iter()? {
                list.push(crate::docs::to_document(&f?)?);
            }
            opts = opts.array_filters(list);
        }
        let by_id = !multi && filter.len() == 1 && filter.contains_key("_id");
        let run = |db: &nestdb::Db| db.database(db_name).collection::<nestdb::bson::Document>(coll).update_with(filter, update, opts);
        let result = if by_id { self.h.run(py, run)? } else { self.h.run_detached(py, run)? };
        update_reply(py, result)
    }

    /// Private: run `ops` as one transaction (every lock held once, one log record). Each op is
    /// `("doc", db_name, command)` or `("redis", [args...])`; returns the replies in order (a
    /// dict per document command; per key command the raw reply, an exception instance for an
    /// error reply).
    fn _doc_atomic<'py>(&self, py: Python<'py>, ops: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyList>> {
        enum Op {
            Doc(String, nestdb::bson::Document),
            Redis(Vec<Vec<u8>>),
        }
        let mut parsed = Vec::new();
        for op in ops.try_iter()? {
            let op = op?;
            let kind: String = op.get_item(0)?.extract()?;
            match kind.as_str() {
                "doc" => parsed.push(Op::Doc(op.get_item(1)?.extract()?, crate::docs::to_document(&op.get_item(2)?)?)),
                "redis" => {
                    let mut argv = Vec::new();
                    for a in op.get_item(1)?.try_iter()? {
                        let a = a?;
                        argv.push(match a.cast::<PyString>() {
                            Ok(s) => str_utf8(s)?.as_bytes().to_vec(),
                            Err(_) => match a.extract::<Vec<u8>>() {
                                Ok(b) => b,
                                Err(_) => str_utf8(&a.str()?)?.as_bytes().to_vec(),
                            },
                        });
                    }
                    if argv.is_empty() {
                        return Err(PyTypeError::new_err("a redis op needs a command name"));
                    }
                    parsed.push(Op::Redis(argv));
                }
                other => return Err(PyTypeError::new_err(format!("unknown op kind {other:?} (expected 'doc' or 'redis')"))),
            }
        }
        enum Out {
            Doc(nestdb::bson::Document),
            Redis(Reply),
        }
        let results = self.h.run_detached(py, |db| {
            db.transaction(|tx| {
                parsed
                    .iter()
                    .map(|op| match op {
                        Op::Doc(name, cmd) => Out::Doc(tx.run_command(name, cmd)),
                        Op::Redis(argv) => {
                            let args: Vec<&[u8]> = argv.iter().map(Vec::as_slice).collect();
                            Out::Redis(tx.execute(&args))
                        }
                    })
                    .collect::<Vec<_>>()
            })
        })?;
        let results = results.map_err(|e| errors::redis_error(py, &e.to_string()))?;
        let out = PyList::empty(py);
        for r in results {
            match r {
                Out::Doc(d) => out.append(crate::docs::document_to_py(py, &d)?)?,
                Out::Redis(reply) => out.append(raw_reply(py, reply)?)?,
            }
        }
        Ok(out)
    }

    /// The database path (absolute), or None for an in-memory database.
    #[getter]
    fn path<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyString>>> {
        self.h.location().to_py(py)
    }

    /// True once `close()` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.h.is_closed()
    }

    /// Close this handle on the database (handles from `redis()` stay usable until closed).
    fn close(&self, py: Python<'_>) {
        self.h.close(py);
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, PyTuple>) -> bool {
        self.close(py);
        false
    }
}

/// `(document or None, error reply or None)`.
type FoundOrError<'py> = (Option<Bound<'py, PyAny>>, Option<Bound<'py, PyAny>>);

/// A key command's reply as plain Python values (bytes, int, float, None, list, dict; an error
/// reply becomes the exception instance redis-py would raise).
fn raw_reply(py: Python<'_>, r: Reply) -> PyResult<Bound<'_, PyAny>> {
    Ok(match r {
        Reply::Nil => py.None().into_bound(py),
        Reply::Int(i) => i.into_pyobject(py)?.into_any(),
        Reply::Double(d) => d.into_pyobject(py)?.into_any(),
        Reply::Bulk(b) => PyBytes::new(py, &b).into_any(),
        Reply::Status(s) => PyBytes::new(py, s.as_bytes()).into_any(),
        Reply::Error(e) => errors::reply_error_value(py, &e).into_bound(py),
        Reply::Array(items) => {
            let l = PyList::empty(py);
            for i in items {
                l.append(raw_reply(py, i)?)?;
            }
            l.into_any()
        }
        Reply::Map(pairs) => {
            let d = PyDict::new(py);
            for (k, v) in pairs {
                d.set_item(raw_reply(py, k)?, raw_reply(py, v)?)?;
            }
            d.into_any()
        }
        other => PyString::new(py, &format!("{other:?}")).into_any(),
    })
}

/// `_doc_update`'s reply: pymongo's `UpdateResult.raw_result` shape, or the `update` command's
/// failure reply.
fn update_reply<'py>(py: Python<'py>, result: nestdb::Result<nestdb::UpdateResult>) -> PyResult<FoundOrError<'py>> {
    let raw = PyDict::new(py);
    match result {
        Ok(r) => {
            let (n, n_modified, ok, updated) =
                (intern!(py, "n"), intern!(py, "nModified"), intern!(py, "ok"), intern!(py, "updatedExisting"));
            match &r.upserted_id {
                Some(id) => {
                    raw.set_item(n, 1)?;
                    raw.set_item(n_modified, 0)?;
                    raw.set_item(ok, 1.0)?;
                    raw.set_item(updated, false)?;
                    raw.set_item(intern!(py, "upserted"), crate::docs::bson_to_py(py, id)?)?;
                }
                None => {
                    raw.set_item(n, r.matched_count)?;
                    raw.set_item(n_modified, r.modified_count)?;
                    raw.set_item(ok, 1.0)?;
                    raw.set_item(updated, r.matched_count > 0)?;
                }
            }
            Ok((Some(raw.into_any()), None))
        }
        Err(nestdb::Error::Document(e)) => {
            let errors = PyList::empty(py);
            errors.append(crate::docs::write_error_to_py(py, 0, &e)?)?;
            raw.set_item("n", 0)?;
            raw.set_item("nModified", 0)?;
            raw.set_item("writeErrors", errors)?;
            raw.set_item("ok", 1.0)?;
            Ok((None, Some(raw.into_any())))
        }
        Err(other) => Ok((None, Some(crate::docs::error_reply_to_py(py, &other)?))),
    }
}

/// `update_one({"_id": <scalar>}, {"$inc" | "$set": {<path>: <number>, ...}})` read straight
/// from the Python dicts into an `_id` and an in-place patch, with no filter or update document
/// built; None for any other shape (the general path then handles it, errors included).
fn in_place_by_id(
    filter: &Bound<'_, PyAny>,
    update: &Bound<'_, PyAny>,
) -> PyResult<Option<(nestdb::bson::Bson, nestdb::docs::inplace::InPlace)>> {
    use nestdb::bson::Bson;
    let (Ok(filter), Ok(update)) = (filter.cast::<PyDict>(), update.cast::<PyDict>()) else { return Ok(None) };
    if filter.len() != 1 {
        return Ok(None);
    }
    let Some(id) = filter.get_item(intern!(filter.py(), "_id"))? else { return Ok(None) };
    let id = crate::docs::to_bson(&id)?;
    if !nestdb::docs::value::is_id_lookup_value(&id) {
        return Ok(None);
    }
    let mut names: Vec<(Bound<'_, PyString>, Bound<'_, PyString>, Bson)> = Vec::new();
    for (op, args) in update.iter() {
        let (Ok(op), Ok(args)) = (op.cast_into::<PyString>(), args.cast_into::<PyDict>()) else { return Ok(None) };
        for (path, value) in args.iter() {
            let Ok(path) = path.cast_into::<PyString>() else { return Ok(None) };
            if !(value.is_exact_instance_of::<pyo3::types::PyInt>()
                || value.is_exact_instance_of::<pyo3::types::PyFloat>()
                || value.is_exact_instance_of::<pyo3::types::PyBool>())
            {
                return Ok(None);
            }
            names.push((op.clone(), path, crate::docs::to_bson(&value)?));
        }
    }
    let mut ops = Vec::with_capacity(names.len());
    for (op, path, value) in &names {
        let path = crate::encode::str_utf8(path)?;
        if path.contains('\0') {
            return Ok(None);
        }
        ops.push((crate::encode::str_utf8(op)?, path, value.clone()));
    }
    Ok(nestdb::docs::inplace::InPlace::from_ops(ops).map(|patch| (id, patch)))
}
