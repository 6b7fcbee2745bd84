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
    /// Another process has the database open (`pid` when its LOCK file names it).
    Locked {
        /// Why, with the path.
        message: String,
        /// The holder's process id.
        pid: Option<u32>,
    },
    /// The files are damaged (a bad log record before the end, a damaged snapshot or MANIFEST):
    /// the message names the file, offset and seq, and ends with "run repair" when
    /// `nestdb::repair` can fix it.
    Corrupt(String),
    /// An I/O error from the file system.
    Io(std::io::Error),
    /// A document operation failed: MongoDB's code (11000 duplicate key, 66 immutable
    /// field...) and message.
    Document(Box<crate::docs::DocError>),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Command(m) => f.write_str(m),
            Error::InvalidArgument(m) => write!(f, "invalid argument: {m}"),
            Error::Open(m) => write!(f, "cannot open database: {m}"),
            Error::Locked { message, .. } => write!(f, "cannot open database: {message}"),
            Error::Corrupt(m) => write!(f, "cannot open database: {m}"),
            Error::Io(e) => write!(f, "I/O error: {e}"),
            Error::Document(e) => write!(f, "{} ({}): {}", e.code_name(), e.code, e.message),
        }
    }
}

impl Error {
    /// Classify a failure to open (or repair) a database directory.
    pub(crate) fn from_open_failure(message: String) -> Error {
        if let Some(i) = message.find("database is locked by process ") {
            let digits: String = message[i + 30..].chars().take_while(char::is_ascii_digit).collect();
            return Error::Locked { pid: digits.parse().ok(), message };
        }
        if message.contains("database is locked by ") {
            return Error::Locked { message, pid: None };
        }
        if message.contains("run repair") || message.contains("CRC mismatch") || message.contains("damaged") {
            return Error::Corrupt(message);
        }
        Error::Open(message)
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
