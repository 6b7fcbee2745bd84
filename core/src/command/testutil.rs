//! Helpers shared by the command families' unit tests: run a command given as words, build
//! expected replies, read reply texts.

use crate::{Db, Reply};

pub(crate) fn run(db: &Db, args: &[&str]) -> Reply {
    let argv: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
    db.execute(&argv)
}

pub(crate) fn int(n: i64) -> Reply {
    Reply::Int(n)
}

pub(crate) fn bulk(s: &str) -> Reply {
    Reply::Bulk(s.as_bytes().to_vec())
}

/// The text of an error reply (panics on anything else).
pub(crate) fn err(db: &Db, args: &[&str]) -> String {
    match run(db, args) {
        Reply::Error(e) => e.into_owned(),
        r => panic!("{args:?}: expected an error, got {r:?}"),
    }
}

/// The text of a bulk reply.
pub(crate) fn text(r: &Reply) -> String {
    match r {
        Reply::Bulk(b) => String::from_utf8(b.clone()).unwrap(),
        other => panic!("not a bulk: {other:?}"),
    }
}

/// The texts of an array-of-bulks reply, in order.
pub(crate) fn list(r: &Reply) -> Vec<String> {
    let Reply::Array(items) = r else { panic!("not an array: {r:?}") };
    items.iter().map(text).collect()
}
