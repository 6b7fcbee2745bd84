//! Engine replies -> the Python values redis-py returns.
//!
//! redis-py 8 talks RESP3 by default and turns replies back into its classic ("legacy")
//! shapes with per-command callbacks. The engine's `Reply` is RESP3-shaped, so this module does
//! what redis-py's RESP3 parser plus those callbacks do, in one pass over the reply:
//! - parser: nil -> `None`, integers -> `int`, doubles -> `float`, bulk and status -> `bytes`
//!   (`str` with `decode_responses`), arrays -> `list`, maps -> `dict`; an error nested in an
//!   array (EXEC results) becomes an exception *value*, a top-level one is raised.
//! - callbacks (`Cb`), chosen by command name exactly as redis-py's callback table does (for
//!   `execute_command` the name is `args[0]` as given, so `execute_command("CONFIG", "GET", x)`
//!   gets no callback, like redis-py), with the options redis-py's methods pass
//!   (`withscores`, `score_cast_func`, `get`...). The common callbacks are native; the rest are
//!   Python functions registered by `nestdb._callbacks` at import.
//!
//! Cost: one allocation per Python object produced; no intermediate lists.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyList, PySet, PyString, PyTuple};

use nestdb::Reply;

use crate::encode::Codec;
use crate::errors;

/// A response callback (redis-py's `response_callbacks` entry for one command).
pub(crate) enum Cb {
    /// No callback: the parsed reply.
    Raw,
    /// `bool(r)`.
    Bool,
    /// `float(r)`.
    Float,
    /// `r == "OK"`.
    BoolOk,
    /// SET: the old value with `get=True`, else `r and r == "OK"` (True or None).
    SetResult,
    /// `r == "PONG"`.
    Ping,
    /// `r and set(r) or set()`.
    ToSet,
    /// WITHSCORES ranges: `[(member, score), ...]` when `withscores`.
    ZPairs,
    /// ZDIFF/ZRANDMEMBER WITHSCORES: flat `[member, b"score", ...]` (redis-py's legacy shape).
    ZPairsFlat,
    /// ZPOPMIN/ZPOPMAX: `[(member, score), ...]`.
    ZPop,
    /// BZPOPMIN/BZPOPMAX: `(key, member, score)` or None.
    BZPop,
    /// ZRANK/ZREVRANK WITHSCORE: `[rank, score]`.
    ZRank,
    /// BLPOP/BRPOP: `r and tuple(r) or None`.
    Tuple,
    /// ZMPOP/BZMPOP: `[key, [[member, b"score"], ...]]`.
    ZMPop,
    /// HRANDFIELD WITHVALUES: flat `[field, value, ...]`.
    HRandField,
    /// SCAN/SSCAN: `(int(cursor), list)`.
    Scan,
    /// HSCAN: `(int(cursor), dict)` or `(int(cursor), list)` with `no_values`.
    HScan,
    /// ZSCAN: `(int(cursor), [(member, score), ...])`.
    ZScan,
    /// TIME: `(int, int)`.
    Time,
    /// CONFIG GET: `{str: str}`.
    ConfigGet,
    /// A Python callable `f(response, **options)`.
    Py(Py<PyAny>),
}

/// The native callback for an upper-case command name (redis-py's default legacy table,
/// restricted to the commands the engine has), if any.
pub(crate) fn native_callback(name: &str) -> Option<Cb> {
    Some(match name {
        "COPY" | "EXPIRE" | "EXPIREAT" | "HEXISTS" | "HMSET" | "MOVE" | "MSETNX" | "PERSIST" | "PSETEX" | "PEXPIRE" | "PEXPIREAT"
        | "RENAMENX" | "SETEX" | "SETNX" | "SMOVE" => Cb::Bool,
        "HINCRBYFLOAT" | "INCRBYFLOAT" => Cb::Float,
        "FLUSHALL" | "FLUSHDB" | "LSET" | "LTRIM" | "MSET" | "PFMERGE" | "RENAME" | "SAVE" | "SELECT" | "SWAPDB" | "WATCH" | "UNWATCH"
        | "CONFIG SET" | "CONFIG RESETSTAT" => Cb::BoolOk,
        "SET" => Cb::SetResult,
        "PING" => Cb::Ping,
        "SDIFF" | "SINTER" | "SMEMBERS" | "SUNION" => Cb::ToSet,
        "ZINTER" | "ZRANGE" | "ZRANGEBYSCORE" | "ZREVRANGE" | "ZREVRANGEBYSCORE" | "ZUNION" => Cb::ZPairs,
        "ZDIFF" | "ZRANDMEMBER" => Cb::ZPairsFlat,
        "ZPOPMAX" | "ZPOPMIN" => Cb::ZPop,
        "BZPOPMAX" | "BZPOPMIN" => Cb::BZPop,
        "ZRANK" | "ZREVRANK" => Cb::ZRank,
        "BLPOP" | "BRPOP" => Cb::Tuple,
        "ZMPOP" | "BZMPOP" => Cb::ZMPop,
        "HRANDFIELD" => Cb::HRandField,
        "SCAN" | "SSCAN" => Cb::Scan,
        "HSCAN" => Cb::HScan,
        "ZSCAN" => Cb::ZScan,
        "TIME" => Cb::Time,
        "CONFIG GET" => Cb::ConfigGet,
        _ => return None,
    })
}

/// Python callbacks (`nestdb._callbacks.CALLBACKS`, upper-case name -> callable).
static PY_CALLBACKS: PyOnceLock<Py<PyDict>> = PyOnceLock::new();

pub(crate) fn install_callbacks(py: Python<'_>, callbacks: &Bound<'_, PyDict>) {
    let _ = PY_CALLBACKS.set(py, callbacks.clone().unbind());
}

/// The callback redis-py applies to command `name` (upper case).
pub(crate) fn callback_for(py: Python<'_>, name: &str) -> Cb {
    if let Some(cb) = native_callback(name) {
        return cb;
    }
    if let Some(d) = PY_CALLBACKS.get(py) {
        if let Ok(Some(f)) = d.bind(py).get_item(name) {
            return Cb::Py(f.unbind());
        }
    }
    Cb::Raw
}

const O_WITHSCORES: u8 = 1;
const O_WITHSCORE: u8 = 2;
const O_GET: u8 = 4;
const O_WITHVALUES: u8 = 8;
const O_NO_VALUES: u8 = 16;
const O_NEVER_DECODE: u8 = 32;

/// The `**options` of `execute_command` that shape a reply.
#[derive(Default)]
pub(crate) struct Opts {
    flags: u8,
    /// `score_cast_func` when it is not `float` itself.
    score_cast: Option<Py<PyAny>>,
    /// redis-py's EMPTY_RESPONSE: returned instead of raising a ResponseError.
    pub(crate) empty_response: Option<Py<PyAny>>,
    /// The options for Python callbacks (without the transport-only ones).
    kwargs: Option<Py<PyDict>>,
}

impl Opts {
    /// SET's options: `get=True` makes the reply the old value.
    pub(crate) fn set_get(get: bool) -> Opts {
        Opts { flags: if get { O_GET } else { 0 }, ..Opts::default() }
    }

    fn has(&self, f: u8) -> bool {
        self.flags & f != 0
    }

    /// Read redis-py's options dict.
    pub(crate) fn parse(options: Option<&Bound<'_, PyDict>>) -> PyResult<Opts> {
        let mut o = Opts::default();
        let Some(options) = options else { return Ok(o) };
        if options.is_empty() {
            return Ok(o);
        }
        let py = options.py();
        let kwargs = PyDict::new(py);
        for (k, v) in options.iter() {
            let Ok(name) = k.cast::<PyString>() else {
                kwargs.set_item(&k, &v)?;
                continue;
            };
            let name = name.to_cow()?;
            match name.as_ref() {
                "keys" => continue,
                "NEVER_DECODE" => {
                    o.flags |= O_NEVER_DECODE;
                    continue;
                }
                "EMPTY_RESPONSE" => {
                    o.empty_response = Some(v.clone().unbind());
                    continue;
                }
                "withscores" if v.is_truthy()? => o.flags |= O_WITHSCORES,
                "withscore" if v.is_truthy()? => o.flags |= O_WITHSCORE,
                "get" if v.is_truthy()? => o.flags |= O_GET,
                "withvalues" if v.is_truthy()? => o.flags |= O_WITHVALUES,
                "no_values" if v.is_truthy()? => o.flags |= O_NO_VALUES,
                "score_cast_func" => {
                    let is_float = v.is(py.get_type::<PyFloat>().as_any());
                    if !is_float {
                        o.score_cast = Some(v.clone().unbind());
                    }
                }
                _ => {}
            }
            kwargs.set_item(&k, &v)?;
        }
        if !kwargs.is_empty() {
            o.kwargs = Some(kwargs.unbind());
        }
        Ok(o)
    }
}

/// Converts replies for one client (its decoding) and one command (its options).
pub(crate) struct Out<'a> {
    pub(crate) codec: &'a Codec,
    pub(crate) opts: &'a Opts,
}

impl<'a> Out<'a> {
    pub(crate) fn new(codec: &'a Codec, opts: &'a Opts) -> Self {
        Out { codec, opts }
    }

    fn decoding(&self) -> bool {
        self.codec.decode && !self.opts.has(O_NEVER_DECODE)
    }

    /// Bytes as redis-py returns them: `bytes`, or `str` when decoding.
    pub(crate) fn bulk<'py>(&self, py: Python<'py>, b: &[u8]) -> PyResult<Bound<'py, PyAny>> {
        if !self.decoding() {
            return Ok(PyBytes::new(py, b).into_any());
        }
        decode(py, self.codec, b)
    }

    /// The RESP3 parser's view of a reply (no callback).
    pub(crate) fn plain<'py>(&self, py: Python<'py>, r: Reply) -> PyResult<Bound<'py, PyAny>> {
        Ok(match r {
            Reply::Nil => py.None().into_bound(py),
            Reply::Int(i) => i.into_pyobject(py)?.into_any(),
            Reply::Double(d) => PyFloat::new(py, d).into_any(),
            Reply::Bulk(b) => self.bulk(py, &b)?,
            Reply::Status(s) => self.bulk(py, s.as_bytes())?,
            Reply::Error(e) => return Err(errors::from_reply(py, &e)),
            Reply::Array(items) => {
                let list = PyList::empty(py);
                for it in items {
                    list.append(self.nested(py, it)?)?;
                }
                list.into_any()
            }
            Reply::Map(pairs) => {
                let d = PyDict::new(py);
                for (k, v) in pairs {
                    d.set_item(self.nested(py, k)?, self.nested(py, v)?)?;
                }
                d.into_any()
            }
            other => return Err(errors::redis_error(py, &format!("unexpected reply from the engine: {other:?}"))),
        })
    }

    /// An element inside an aggregate: errors become exception values.
    fn nested<'py>(&self, py: Python<'py>, r: Reply) -> PyResult<Bound<'py, PyAny>> {
        match r {
            Reply::Error(e) => Ok(errors::reply_error_value(py, &e).into_bound(py)),
            r => self.plain(py, r),
        }
    }

    /// A score as redis-py's callbacks produce it: `float`, or `score_cast_func` applied to
    /// the RESP2 text of the score (`format(score, ".17g")` bytes for a double).
    fn score<'py>(&self, py: Python<'py>, r: Reply) -> PyResult<Bound<'py, PyAny>> {
        let Some(cast) = &self.opts.score_cast else {
            return Ok(match r {
                Reply::Double(d) => PyFloat::new(py, d).into_any(),
                Reply::Int(i) => PyFloat::new(py, i as f64).into_any(),
                other => {
                    let v = self.plain(py, other)?;
                    py_float(&v)?
                }
            });
        };
        let text = match r {
            Reply::Double(d) => score_bytes(py, d)?,
            other => self.plain(py, other)?,
        };
        call_cast(cast.bind(py), &text)
    }

    /// A score re-encoded as RESP2 bytes (redis-py `_score_to_resp2_bytes`).
    fn score_resp2<'py>(&self, py: Python<'py>, r: Reply) -> PyResult<Bound<'py, PyAny>> {
        match r {
            Reply::Double(d) => score_bytes(py, d),
            Reply::Bulk(b) => Ok(PyBytes::new(py, &b).into_any()),
            other => self.plain(py, other),
        }
    }

    /// Apply callback `cb` to reply `r` (redis-py `parse_response`).
    pub(crate) fn finish<'py>(&self, py: Python<'py>, r: Reply, cb: &Cb) -> PyResult<Bound<'py, PyAny>> {
        if let Reply::Error(e) = &r {
            if let Some(v) = &self.opts.empty_response {
                return Ok(v.bind(py).clone());
            }
            return Err(errors::from_reply(py, e));
        }
        match cb {
            Cb::Raw => self.plain(py, r),
            Cb::Bool => match r {
                Reply::Int(i) => Ok(PyBool::new(py, i != 0).to_owned().into_any()),
                r => {
                    let v = self.plain(py, r)?;
                    Ok(PyBool::new(py, v.is_truthy()?).to_owned().into_any())
                }
            },
            Cb::Float => match r {
                Reply::Double(d) => Ok(PyFloat::new(py, d).into_any()),
                Reply::Bulk(b) => match std::str::from_utf8(&b).ok().and_then(|s| s.parse::<f64>().ok()) {
                    Some(d) => Ok(PyFloat::new(py, d).into_any()),
                    None => py_float(&self.plain(py, Reply::Bulk(b))?),
                },
                r => py_float(&self.plain(py, r)?),
            },
            Cb::BoolOk => Ok(PyBool::new(py, status_is(&r, "OK")).to_owned().into_any()),
            Cb::SetResult => {
                if self.opts.has(O_GET) {
                    return self.plain(py, r);
                }
                match r {
                    Reply::Nil => Ok(py.None().into_bound(py)),
                    r => Ok(PyBool::new(py, status_is(&r, "OK")).to_owned().into_any()),
                }
            }
            Cb::Ping => Ok(PyBool::new(py, status_is(&r, "PONG")).to_owned().into_any()),
            Cb::ToSet => {
                let set = PySet::empty(py)?;
                if let Reply::Array(items) = r {
                    for it in items {
                        set.add(self.nested(py, it)?)?;
                    }
                }
                Ok(set.into_any())
            }
            Cb::ZPairs => {
                if !self.opts.has(O_WITHSCORES) {
                    return self.plain(py, r);
                }
                self.pairs(py, r, true)
            }
            Cb::ZPairsFlat => {
                if !self.opts.has(O_WITHSCORES) {
                    return self.plain(py, r);
                }
                match r {
                    Reply::Array(items) if items.iter().all(|p| matches!(p, Reply::Array(a) if a.len() == 2)) => {
                        let list = PyList::empty(py);
                        for p in items {
                            let (m, s) = split_pair(p);
                            list.append(self.nested(py, m)?)?;
                            list.append(self.score_resp2(py, s)?)?;
                        }
                        Ok(list.into_any())
                    }
                    r => self.plain(py, r),
                }
            }
            Cb::ZPop => match r {
                Reply::Array(items) if !items.is_empty() => {
                    if matches!(items[0], Reply::Array(_)) {
                        self.pairs(py, Reply::Array(items), false)
                    } else {
                        self.flat_pairs(py, items)
                    }
                }
                r => self.plain(py, r),
            },
            Cb::BZPop => match r {
                Reply::Array(mut items) if items.len() == 3 => {
                    let score = items.pop().unwrap_or(Reply::Nil);
                    let member = items.pop().unwrap_or(Reply::Nil);
                    let key = items.pop().unwrap_or(Reply::Nil);
                    let s = match score {
                        Reply::Double(d) => PyFloat::new(py, d).into_any(),
                        other => py_float(&self.plain(py, other)?)?,
                    };
                    Ok(PyTuple::new(py, [self.nested(py, key)?, self.nested(py, member)?, s])?.into_any())
                }
                Reply::Array(items) if items.is_empty() => Ok(py.None().into_bound(py)),
                r => self.plain(py, r),
            },
            Cb::ZRank => {
                if !self.opts.has(O_WITHSCORE) {
                    return self.plain(py, r);
                }
                match r {
                    Reply::Array(items) if items.len() == 2 => {
                        let (rank, s) = split_pair(Reply::Array(items));
                        let rank = self.nested(py, rank)?;
                        let s = match (&self.opts.score_cast, s) {
                            (None, Reply::Double(d)) => PyFloat::new(py, d).into_any(),
                            (None, other) => py_float(&self.plain(py, other)?)?,
                            (Some(cast), other) => call_cast(cast.bind(py), &self.score_resp2(py, other)?)?,
                        };
                        Ok(PyList::new(py, [rank, s])?.into_any())
                    }
                    r => self.plain(py, r),
                }
            }
            Cb::Tuple => match r {
                Reply::Array(items) if !items.is_empty() => {
                    let v: Vec<Bound<'py, PyAny>> = items.into_iter().map(|i| self.nested(py, i)).collect::<PyResult<_>>()?;
                    Ok(PyTuple::new(py, v)?.into_any())
                }
                _ => Ok(py.None().into_bound(py)),
            },
            Cb::ZMPop => match r {
                Reply::Array(mut items) if items.len() == 2 => {
                    let pairs = items.pop().unwrap_or(Reply::Nil);
                    let key = items.pop().unwrap_or(Reply::Nil);
                    let out = PyList::empty(py);
                    if let Reply::Array(ps) = pairs {
                        for p in ps {
                            let (m, s) = split_pair(p);
                            out.append(PyList::new(py, [self.nested(py, m)?, self.score_resp2(py, s)?])?)?;
                        }
                    }
                    Ok(PyList::new(py, [self.nested(py, key)?, out.into_any()])?.into_any())
                }
                r => self.plain(py, r),
            },
            Cb::HRandField => {
                if !self.opts.has(O_WITHVALUES) {
                    return self.plain(py, r);
                }
                match r {
                    Reply::Array(items) if matches!(items.first(), Some(Reply::Array(_))) => {
                        let list = PyList::empty(py);
                        for p in items {
                            let (f, v) = split_pair(p);
                            list.append(self.nested(py, f)?)?;
                            list.append(self.nested(py, v)?)?;
                        }
                        Ok(list.into_any())
                    }
                    r => self.plain(py, r),
                }
            }
            Cb::Scan | Cb::HScan | Cb::ZScan => match r {
                Reply::Array(mut items) if items.len() == 2 => {
                    let payload = items.pop().unwrap_or(Reply::Nil);
                    let cursor = items.pop().unwrap_or(Reply::Nil);
                    let cursor = self.int_of(py, cursor)?;
                    let body = match cb {
                        Cb::Scan => self.plain(py, payload)?,
                        Cb::HScan if self.opts.has(O_NO_VALUES) => match payload {
                            Reply::Nil => PyList::empty(py).into_any(),
                            p => self.plain(py, p)?,
                        },
                        Cb::HScan => {
                            let d = PyDict::new(py);
                            if let Reply::Array(flat) = payload {
                                let mut it = flat.into_iter();
                                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                                    d.set_item(self.nested(py, k)?, self.nested(py, v)?)?;
                                }
                            }
                            d.into_any()
                        }
                        _ => {
                            let list = PyList::empty(py);
                            if let Reply::Array(flat) = payload {
                                let mut it = flat.into_iter();
                                while let (Some(m), Some(s)) = (it.next(), it.next()) {
                                    let m = self.nested(py, m)?;
                                    let s = self.nested(py, s)?;
                                    let s = match &self.opts.score_cast {
                                        None => py_float(&s)?,
                                        Some(cast) => call_cast(cast.bind(py), &s)?,
                                    };
                                    list.append(PyTuple::new(py, [m, s])?)?;
                                }
                            }
                            list.into_any()
                        }
                    };
                    Ok(PyTuple::new(py, [cursor, body])?.into_any())
                }
                r => self.plain(py, r),
            },
            Cb::Time => match r {
                Reply::Array(items) if items.len() == 2 => {
                    let v: Vec<Bound<'py, PyAny>> = items.into_iter().map(|i| self.int_of(py, i)).collect::<PyResult<_>>()?;
                    Ok(PyTuple::new(py, v)?.into_any())
                }
                r => self.plain(py, r),
            },
            Cb::ConfigGet => {
                let d = PyDict::new(py);
                let pairs = match r {
                    Reply::Map(p) => p,
                    Reply::Array(flat) => {
                        let mut v = Vec::new();
                        let mut it = flat.into_iter();
                        while let (Some(k), Some(x)) = (it.next(), it.next()) {
                            v.push((k, x));
                        }
                        v
                    }
                    _ => Vec::new(),
                };
                for (k, v) in pairs {
                    d.set_item(lossy_str(py, &k), lossy_str(py, &v))?;
                }
                Ok(d.into_any())
            }
            Cb::Py(f) => {
                let v = self.plain(py, r)?;
                let kw = self.opts.kwargs.as_ref().map(|d| d.bind(py));
                f.bind(py).call((v,), kw)
            }
        }
    }

    /// `[(member, score), ...]` from `[[member, score], ...]` (or a flat RESP2-style list).
    fn pairs<'py>(&self, py: Python<'py>, r: Reply, _withscores: bool) -> PyResult<Bound<'py, PyAny>> {
        match r {
            Reply::Array(items) => {
                if items.first().is_some_and(|p| !matches!(p, Reply::Array(_))) {
                    return self.flat_pairs(py, items);
                }
                let list = PyList::empty(py);
                for p in items {
                    let (m, s) = split_pair(p);
                    list.append(PyTuple::new(py, [self.nested(py, m)?, self.score(py, s)?])?)?;
                }
                Ok(list.into_any())
            }
            r => self.plain(py, r),
        }
    }

    fn flat_pairs<'py>(&self, py: Python<'py>, items: Vec<Reply>) -> PyResult<Bound<'py, PyAny>> {
        let list = PyList::empty(py);
        let mut it = items.into_iter();
        while let (Some(m), Some(s)) = (it.next(), it.next()) {
            list.append(PyTuple::new(py, [self.nested(py, m)?, self.score(py, s)?])?)?;
        }
        Ok(list.into_any())
    }

    /// `int(r)` for a cursor or TIME field.
    fn int_of<'py>(&self, py: Python<'py>, r: Reply) -> PyResult<Bound<'py, PyAny>> {
        match &r {
            Reply::Int(i) => Ok(i.into_pyobject(py)?.into_any()),
            Reply::Bulk(b) => match std::str::from_utf8(b).ok().and_then(|s| s.parse::<u64>().ok()) {
                Some(n) => Ok(n.into_pyobject(py)?.into_any()),
                None => py.get_type::<pyo3::types::PyInt>().call1((self.plain(py, r)?,)),
            },
            _ => py.get_type::<pyo3::types::PyInt>().call1((self.plain(py, r)?,)),
        }
    }
}

fn split_pair(p: Reply) -> (Reply, Reply) {
    match p {
        Reply::Array(mut a) if a.len() == 2 => {
            let s = a.pop().unwrap_or(Reply::Nil);
            let m = a.pop().unwrap_or(Reply::Nil);
            (m, s)
        }
        other => (other, Reply::Nil),
    }
}

fn status_is(r: &Reply, want: &str) -> bool {
    match r {
        Reply::Status(s) => s == want,
        Reply::Bulk(b) => b.as_slice() == want.as_bytes(),
        _ => false,
    }
}

/// `str_if_bytes`: UTF-8 with replacement.
fn lossy_str<'py>(py: Python<'py>, r: &Reply) -> Bound<'py, PyAny> {
    match r {
        Reply::Bulk(b) => PyString::new(py, &String::from_utf8_lossy(b)).into_any(),
        Reply::Status(s) => PyString::new(py, s).into_any(),
        Reply::Int(i) => PyString::new(py, &i.to_string()).into_any(),
        _ => py.None().into_bound(py),
    }
}

fn py_float<'py>(v: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    v.py().get_type::<PyFloat>().call1((v,))
}

/// `format(d, ".17g").encode()`.
fn score_bytes<'py>(py: Python<'py>, d: f64) -> PyResult<Bound<'py, PyAny>> {
    let s = PyFloat::new(py, d).call_method1("__format__", (".17g",))?;
    let s = s.cast::<PyString>()?.to_cow()?.into_owned();
    Ok(PyBytes::new(py, s.as_bytes()).into_any())
}

/// redis-py `_wrap_score_cast_func`: try `cast(x)`, on ValueError/TypeError `cast(float(x))`.
fn call_cast<'py>(cast: &Bound<'py, PyAny>, x: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let py = cast.py();
    match cast.call1((x,)) {
        Ok(v) => Ok(v),
        Err(e) if e.is_instance_of::<pyo3::exceptions::PyValueError>(py) || e.is_instance_of::<pyo3::exceptions::PyTypeError>(py) => {
            cast.call1((py_float(x)?,))
        }
        Err(e) => Err(e),
    }
}

/// Decode bytes with the client's encoding (UTF-8 strict by default): UnicodeDecodeError on
/// invalid input, as redis-py's `Encoder.decode`.
pub(crate) fn decode<'py>(py: Python<'py>, codec: &Codec, b: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    match &codec.custom {
        None => {
            // SAFETY: valid pointer/length from a slice; returns a new reference or NULL with
            // UnicodeDecodeError set.
            let ptr = unsafe { pyo3::ffi::PyUnicode_DecodeUTF8(b.as_ptr().cast(), b.len() as pyo3::ffi::Py_ssize_t, c"strict".as_ptr()) };
            // SAFETY: `ptr` is an owned reference or NULL (then the error is fetched).
            unsafe { Bound::from_owned_ptr_or_err(py, ptr) }
        }
        Some((enc, errs)) => PyBytes::new(py, b).call_method1("decode", (enc.bind(py), errs.bind(py))),
    }
}
