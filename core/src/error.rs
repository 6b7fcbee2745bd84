//! Errors of the Rust API. Command failures keep Redis's error text so callers can match on it.

use std::fmt;

/// Everything that can go wrong calling nestdb from Rust.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A command answered with an error reply (`WRONGTYPE ...`, `ERR ...`); the text is Redis's.
    Command(String),
    /// An option or argument was not valid (unknown config name, bad value...).
    InvalidArgument(String),
    /// The database could not be opened.
    Open(String),
    /// An I/O error from the file system.
    Io(std::io::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Command(m) => f.write_str(m),
            Error::InvalidArgument(m) => write!(f, "invalid argument: {m}"),
            Error::Open(m) => write!(f, "cannot open database: {m}"),
            Error::Io(e) => write!(f, "I/O error: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e)
    }
}

/// `Result` with nestdb's `Error`.
pub type Result<T, E = Error> = std::result::Result<T, E>;
