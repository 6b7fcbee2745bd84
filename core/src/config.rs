//! Configuration: the options a database is opened with and that CONFIG GET/SET change.
//!
//! Names are Redis's (`hz`, later `appendfsync`, `maxmemory`...). One table (`PARAMS`) lists
//! every parameter with its parser and printer, so `Options::set`, CONFIG SET, the C `config`
//! string and Python keyword arguments all accept exactly the same names and values. A
//! parameter is listed only once the engine honours it.

use crate::error::{Error, Result};

/// Options for `Db::open`. Build with `Options::default()` and chain setters, or set by
/// Redis config name with `Options::set`.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Options {
    /// Background task frequency (active expiry cycles per second), 1..=500. Redis's `hz`.
    pub hz: u32,
}

impl Default for Options {
    fn default() -> Self {
        Options { hz: 10 }
    }
}

struct Param {
    name: &'static str,
    get: fn(&Options) -> String,
    set: fn(&mut Options, &str) -> std::result::Result<(), String>,
}

fn parse_int_in(v: &str, lo: i64, hi: i64) -> std::result::Result<i64, String> {
    let n: i64 = v.trim().parse().map_err(|_| "argument couldn't be parsed into an integer".to_string())?;
    if n < lo || n > hi {
        return Err(format!("argument must be between {lo} and {hi} inclusive"));
    }
    Ok(n)
}

const PARAMS: &[Param] = &[Param {
    name: "hz",
    get: |o| o.hz.to_string(),
    set: |o, v| {
        o.hz = parse_int_in(v, 1, 500)? as u32;
        Ok(())
    },
}];

fn normalize(name: &str) -> String {
    name.trim().to_ascii_lowercase().replace('_', "-")
}

impl Options {
    /// Set a parameter by its Redis name (`_` and `-` are interchangeable, case-insensitive).
    pub fn set(&mut self, name: &str, value: &str) -> Result<()> {
        let key = normalize(name);
        let p =
            PARAMS.iter().find(|p| p.name == key).ok_or_else(|| Error::InvalidArgument(format!("unknown config parameter '{name}'")))?;
        (p.set)(self, value).map_err(|e| Error::InvalidArgument(format!("invalid value for '{}': {e}", p.name)))
    }

    /// Builder form of `set` for `hz`.
    pub fn hz(mut self, hz: u32) -> Self {
        self.hz = hz.clamp(1, 500);
        self
    }

    /// Parse redis.conf-style text: one `name value` per line, `#` comments, quotes allowed.
    pub fn from_config_text(text: &str) -> Result<Options> {
        let mut o = Options::default();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (name, value) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
            let value = value.trim().trim_matches('"');
            o.set(name, value).map_err(|e| match e {
                Error::InvalidArgument(m) => Error::InvalidArgument(format!("config line {}: {m}", n + 1)),
                e => e,
            })?;
        }
        Ok(o)
    }

    /// Current value of a parameter by name.
    pub fn get(&self, name: &str) -> Option<String> {
        let key = normalize(name);
        PARAMS.iter().find(|p| p.name == key).map(|p| (p.get)(self))
    }

    /// (name, value) of every parameter whose name matches the Redis glob `pattern`.
    pub(crate) fn matching(&self, pattern: &[u8]) -> Vec<(&'static str, String)> {
        PARAMS.iter().filter(|p| crate::util::glob::glob_match(pattern, p.name.as_bytes())).map(|p| (p.name, (p.get)(self))).collect()
    }

    /// Whether `name` is a known parameter.
    pub(crate) fn is_known(name: &str) -> bool {
        let key = normalize(name);
        PARAMS.iter().any(|p| p.name == key)
    }
}
