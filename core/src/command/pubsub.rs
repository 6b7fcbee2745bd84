//! PUBLISH and PUBSUB CHANNELS/NUMSUB/NUMPAT over the database's subscription hub
//! (`crate::pubsub`). SUBSCRIBE and its siblings need a subscriber (a connection in subscribed
//! mode, in Redis terms): `Db::subscriber()` in Rust, `Redis.pubsub()` in Python; through
//! `execute` they reply an error that says so.

use super::args::is;
use super::{CmdResult, CommandSpec};
use crate::keyspace::Ctx;
use crate::reply::Reply;

const NONE: (i32, i32, i32) = (0, 0, 0);

pub(crate) const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("publish", 3, 0, NONE, publish),
    CommandSpec::new("pubsub", -2, 0, NONE, pubsub),
    CommandSpec::new("subscribe", -2, 0, NONE, needs_subscriber),
    CommandSpec::new("unsubscribe", -1, 0, NONE, needs_subscriber),
    CommandSpec::new("psubscribe", -2, 0, NONE, needs_subscriber),
    CommandSpec::new("punsubscribe", -1, 0, NONE, needs_subscriber),
];

fn publish(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    Ok(Reply::Int(ctx.keyspace().pubsub.publish(a[1], a[2]) as i64))
}

fn pubsub(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let hub = &ctx.keyspace().pubsub;
    let sub = a[1];
    if is(sub, "CHANNELS") && a.len() <= 3 {
        return Ok(Reply::Array(hub.channels(a.get(2).copied()).into_iter().map(Reply::Bulk).collect()));
    }
    if is(sub, "NUMSUB") {
        let pairs = a[2..].iter().flat_map(|c| [Reply::bulk(c), Reply::Int(hub.numsub(c) as i64)]);
        return Ok(Reply::Array(pairs.collect()));
    }
    if is(sub, "NUMPAT") && a.len() == 2 {
        return Ok(Reply::Int(hub.numpat() as i64));
    }
    if is(sub, "SHARDCHANNELS") && a.len() <= 3 {
        return Ok(Reply::Array(Vec::new()));
    }
    if is(sub, "SHARDNUMSUB") {
        return Ok(Reply::Array(a[2..].iter().flat_map(|c| [Reply::bulk(c), Reply::Int(0)]).collect()));
    }
    if is(sub, "CHANNELS") || is(sub, "SHARDCHANNELS") {
        // Their arity (-2) passes; the handler then refuses more than one pattern.
        return Err(Reply::err_owned(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try PUBSUB HELP.",
            String::from_utf8_lossy(sub)
        )));
    }
    if is(sub, "NUMPAT") {
        return Err(super::subcommand_arity("pubsub", sub));
    }
    Err(super::unknown_subcommand(sub, "PUBSUB"))
}

fn needs_subscriber(_: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    Err(Reply::err_owned(format!(
        "ERR {} needs a subscriber: Db::subscriber() in Rust, pubsub() in Python",
        String::from_utf8_lossy(a[0]).to_ascii_uppercase()
    )))
}
