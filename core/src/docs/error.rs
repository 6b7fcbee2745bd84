//! MongoDB-shaped errors of the document layer: a numeric `code`, its `codeName`, and the
//! message MongoDB gives (users match on codes such as 11000 and 66, so they are MongoDB's).

use std::fmt;

use bson::Document;

/// A document-layer failure, as MongoDB reports it (`{ok: 0, code, codeName, errmsg}`).
#[derive(Clone, Debug, PartialEq)]
pub struct DocError {
    /// MongoDB's error code (2 BadValue, 11000 DuplicateKey, 66 ImmutableField...).
    pub code: i32,
    /// MongoDB's name for the code.
    pub code_name: &'static str,
    /// The message (`errmsg`).
    pub message: String,
    /// Extra reply fields MongoDB adds for some errors (`keyPattern`/`keyValue` for 11000).
    pub details: Option<Box<Document>>,
}

impl DocError {
    pub fn new(code: i32, code_name: &'static str, message: impl Into<String>) -> Self {
        DocError { code, code_name, message: message.into(), details: None }
    }

    /// 2 BadValue: an argument that is not valid.
    pub fn bad_value(message: impl Into<String>) -> Self {
        Self::new(codes::BAD_VALUE, "BadValue", message)
    }

    /// 9 FailedToParse: a malformed query, update or command.
    pub fn failed_to_parse(message: impl Into<String>) -> Self {
        Self::new(codes::FAILED_TO_PARSE, "FailedToParse", message)
    }

    /// 14 TypeMismatch.
    pub fn type_mismatch(message: impl Into<String>) -> Self {
        Self::new(codes::TYPE_MISMATCH, "TypeMismatch", message)
    }

    /// A numbered "Location" error (MongoDB's expression errors: `Location16554`...).
    pub fn location(code: i32, message: impl Into<String>) -> Self {
        DocError { code, code_name: "Location", message: message.into(), details: None }
    }

    /// The `codeName` as MongoDB prints it (`Location16554` for numbered locations).
    pub fn code_name(&self) -> String {
        if self.code_name == "Location" {
            format!("Location{}", self.code)
        } else {
            self.code_name.to_string()
        }
    }
}

impl fmt::Display for DocError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DocError {}

/// The codes users match on (MongoDB's `error_codes.yml`).
pub mod codes {
    pub const INTERNAL_ERROR: i32 = 1;
    pub const BAD_VALUE: i32 = 2;
    pub const NO_SUCH_KEY: i32 = 4;
    pub const FAILED_TO_PARSE: i32 = 9;
    pub const UNSUPPORTED_FORMAT: i32 = 12;
    pub const TYPE_MISMATCH: i32 = 14;
    pub const OVERFLOW: i32 = 15;
    pub const ILLEGAL_OPERATION: i32 = 20;
    pub const NAMESPACE_NOT_FOUND: i32 = 26;
    pub const INDEX_NOT_FOUND: i32 = 27;
    pub const PATH_NOT_VIABLE: i32 = 28;
    pub const CONFLICTING_UPDATE_OPERATORS: i32 = 40;
    pub const CURSOR_NOT_FOUND: i32 = 43;
    pub const NAMESPACE_EXISTS: i32 = 48;
    pub const DOLLAR_PREFIXED_FIELD_NAME: i32 = 52;
    pub const INVALID_ID_FIELD: i32 = 53;
    pub const NOT_SINGLE_VALUE_FIELD: i32 = 54;
    pub const NOT_EXACT_VALUE_FIELD: i32 = 111;
    pub const EMPTY_FIELD_NAME: i32 = 56;
    pub const COMMAND_NOT_FOUND: i32 = 59;
    pub const IMMUTABLE_FIELD: i32 = 66;
    pub const INVALID_OPTIONS: i32 = 72;
    pub const INVALID_NAMESPACE: i32 = 73;
    pub const NOT_IMPLEMENTED: i32 = 238;
    pub const BSON_OBJECT_TOO_LARGE: i32 = 10334;
    pub const DUPLICATE_KEY: i32 = 11000;
    pub const MAX_TIME_EXPIRED: i32 = 50;
    pub const NESTING_TOO_DEEP: i32 = 15;
    pub const INVALID_PIPELINE_OPERATOR: i32 = 168;
    pub const COMMAND_FAILED: i32 = 125;
    pub const CANNOT_CREATE_INDEX: i32 = 67;
    pub const INDEX_OPTIONS_CONFLICT: i32 = 85;
    pub const INDEX_KEY_SPECS_CONFLICT: i32 = 86;
    pub const CANNOT_INDEX_PARALLEL_ARRAYS: i32 = 171;
    pub const INVALID_INDEX_SPECIFICATION_OPTION: i32 = 197;
    pub const INDEX_ALREADY_EXISTS: i32 = 68;
    /// A cursor's collection was dropped (or replaced) while it was open.
    pub const QUERY_PLAN_KILLED: i32 = 175;
}
