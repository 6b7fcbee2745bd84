//! `Reply`: what every command returns, shaped like RESP3 so that each surface can render it
//! faithfully (RESP2 flattening for redis-py, hiredis-like structs for C).
//!
//! Error replies carry Redis's full error text, prefix included (`ERR ...`, `WRONGTYPE ...`),
//! because users match on those strings.

use std::borrow::Cow;
use std::fmt;

/// One command's reply.
#[derive(Clone, PartialEq)]
#[non_exhaustive]
pub enum Reply {
    /// The null reply (missing key, aborted transaction...).
    Nil,
    /// A 64-bit signed integer.
    Int(i64),
    /// A floating point number (RESP3 double: scores, INCRBYFLOAT results are bulk as in Redis).
    Double(f64),
    /// Binary-safe bytes.
    Bulk(Vec<u8>),
    /// A short status line such as `OK` or `QUEUED`.
    Status(Cow<'static, str>),
    /// An error with Redis's text, e.g. `ERR value is not an integer or out of range`.
    Error(Cow<'static, str>),
    /// An ordered sequence of replies.
    Array(Vec<Reply>),
    /// Key/value pairs (HGETALL, CONFIG GET...), order as produced.
    Map(Vec<(Reply, Reply)>),
}

impl Reply {
    /// The `+OK` status.
    pub const OK: Reply = Reply::Status(Cow::Borrowed("OK"));

    pub(crate) fn err(msg: &'static str) -> Reply {
        Reply::Error(Cow::Borrowed(msg))
    }

    pub(crate) fn err_owned(msg: String) -> Reply {
        Reply::Error(Cow::Owned(msg))
    }

    pub(crate) fn status(s: &'static str) -> Reply {
        Reply::Status(Cow::Borrowed(s))
    }

    pub(crate) fn bulk(b: &[u8]) -> Reply {
        Reply::Bulk(b.to_vec())
    }

    pub(crate) fn bulk_opt(b: Option<&[u8]>) -> Reply {
        b.map_or(Reply::Nil, Reply::bulk)
    }

    /// The text Redis prints for a double (the RESP2 bulk form of a score, `inf`/`-inf`):
    /// what the C API puts in `str` of a double reply and what RESP2 renderings use.
    pub fn format_double(d: f64) -> String {
        crate::util::num::format_score(d)
    }

    /// True for an error reply.
    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }

    /// The integer of an `Int` reply.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Reply::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The bytes of a `Bulk` reply (or the text of a status).
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Reply::Bulk(b) => Some(b),
            Reply::Status(s) => Some(s.as_bytes()),
            _ => None,
        }
    }

    /// Consume into bytes if this is a `Bulk` reply.
    pub fn into_bytes(self) -> Option<Vec<u8>> {
        match self {
            Reply::Bulk(b) => Some(b),
            _ => None,
        }
    }

    /// The elements of an `Array` reply.
    pub fn as_array(&self) -> Option<&[Reply]> {
        match self {
            Reply::Array(a) => Some(a),
            _ => None,
        }
    }

    /// The text of an error reply.
    pub fn error_text(&self) -> Option<&str> {
        match self {
            Reply::Error(e) => Some(e),
            _ => None,
        }
    }
}

impl fmt::Debug for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reply::Nil => write!(f, "nil"),
            Reply::Int(i) => write!(f, "(integer) {i}"),
            Reply::Double(d) => write!(f, "(double) {d}"),
            Reply::Bulk(b) => write!(f, "{:?}", String::from_utf8_lossy(b)),
            Reply::Status(s) => write!(f, "+{s}"),
            Reply::Error(e) => write!(f, "(error) {e}"),
            Reply::Array(a) => f.debug_list().entries(a).finish(),
            Reply::Map(m) => f.debug_map().entries(m.iter().map(|(k, v)| (k, v))).finish(),
        }
    }
}
