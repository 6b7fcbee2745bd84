//! Streams against a real redis-server: scripted cases for every command and its errors, and
//! thousands of random commands over two streams with small node limits (so where Redis's
//! listpack nodes end, which `XTRIM ~` and XINFO depend on, is exercised), every reply
//! compared. Replies that carry times (idle, delivery and seen times) are compared with those
//! fields zeroed, and XINFO's `radix-tree-nodes` (Redis's inner radix-tree nodes) is left out.
//! Then streams survive log replay and snapshots exactly.

use crate::common::{show_argv, RedisServer, RespConn, Rng};
use nestdb::{Db, Options, Reply};

fn is_cmd(argv: &[&[u8]], name: &str) -> bool {
    argv.first().is_some_and(|c| c.eq_ignore_ascii_case(name.as_bytes()))
}

fn arg_is(argv: &[&[u8]], i: usize, word: &str) -> bool {
    argv.get(i).is_some_and(|c| c.eq_ignore_ascii_case(word.as_bytes()))
}

/// Zero the map values under `keys` (recursively).
fn zero_map_fields(r: &mut Reply, keys: &[&str]) {
    match r {
        Reply::Map(m) => {
            for (k, v) in m.iter_mut() {
                if let Reply::Bulk(name) = k {
                    if keys.iter().any(|w| w.as_bytes() == name.as_slice()) {
                        *v = Reply::Int(0);
                        continue;
                    }
                }
                zero_map_fields(v, keys);
            }
        }
        Reply::Array(a) => a.iter_mut().for_each(|x| zero_map_fields(x, keys)),
        _ => {}
    }
}

/// The reply with its time-dependent parts zeroed (see the module comment).
fn masked(argv: &[&[u8]], mut r: Reply) -> Reply {
    if is_cmd(argv, "XPENDING") && argv.len() > 3 {
        if let Reply::Array(rows) = &mut r {
            for row in rows {
                if let Reply::Array(f) = row {
                    if f.len() == 4 {
                        f[2] = Reply::Int(0);
                    }
                }
            }
        }
    }
    if is_cmd(argv, "XINFO") {
        zero_map_fields(&mut r, &["idle", "seen-time", "radix-tree-nodes"]);
        if arg_is(argv, 1, "STREAM") && argv.len() > 3 {
            // FULL: delivery times in the PELs.
            if let Reply::Map(m) = &mut r {
                for (k, v) in m.iter_mut() {
                    if *k == Reply::Bulk(b"groups".to_vec()) {
                        zero_pel_times(v);
                    }
                }
            }
        }
    }
    r
}

fn zero_pel_times(groups: &mut Reply) {
    let Reply::Array(gs) = groups else { return };
    for g in gs {
        let Reply::Map(fields) = g else { continue };
        for (k, v) in fields.iter_mut() {
            match (k, v) {
                (Reply::Bulk(name), Reply::Array(rows)) if name == b"pending" => {
                    for row in rows {
                        if let Reply::Array(f) = row {
                            f[2] = Reply::Int(0);
                        }
                    }
                }
                (Reply::Bulk(name), Reply::Array(consumers)) if name == b"consumers" => {
                    for c in consumers {
                        let Reply::Map(cf) = c else { continue };
                        for (ck, cv) in cf.iter_mut() {
                            if let (Reply::Bulk(n), Reply::Array(rows)) = (ck, cv) {
                                if n == b"pending" {
                                    for row in rows {
                                        if let Reply::Array(f) = row {
                                            f[1] = Reply::Int(0);
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

fn same(db: &Db, redis: &mut RespConn, argv: &[&[u8]]) -> Reply {
    let ours = masked(argv, db.execute(argv));
    let theirs = masked(argv, redis.cmd(argv));
    assert_eq!(ours, theirs, "{}", show_argv(argv));
    ours
}

fn run(db: &Db, redis: &mut RespConn, cmd: &str) -> Reply {
    let argv: Vec<&[u8]> = cmd.split(' ').map(str::as_bytes).collect();
    same(db, redis, &argv)
}

#[test]
fn stream_commands_match_redis() {
    let Some(server) = RedisServer::start_or_skip("stream_commands_match_redis") else { return };
    let mut redis = server.connect();
    let db = Db::open_in_memory();
    let script = [
        // XADD: IDs, `ms-*`, errors, NOMKSTREAM, trimming options and their errors.
        "XADD s 1-1 a 1",
        "XADD s 1-1 a 1",
        "XADD s 1 a 1",
        "XADD s 1-* b 2",
        "XADD s 5-* c 3 d 4",
        "XADD s 5-* c 3 d 4",
        "XADD s 0-0 a 1",
        "XADD new 0-0 a 1",
        "XADD new 0-* a 1",
        "XADD s maxlen 1 minid 1 9-9 f v",
        "XADD s maxlen -1 9-9 f v",
        "XADD s limit 5 9-9 f v",
        "XADD s maxlen 5 limit 5 9-9 f v",
        "XADD s maxlen ~ 5 limit -1 9-9 f v",
        "XADD s maxlen ~ 5 limit 0 9-9 f v",
        "XADD s 1-x f v",
        "XADD s bogus f v",
        "XADD s 9-9 f v g",
        "XADD s nomkstream 10-1 f v",
        "XADD none nomkstream 10-1 f v",
        "EXISTS none",
        "XADD s MAXLEN = 3 11-0 f v",
        "XADD s MINID 6 12-0 f v",
        "XADD s 18446744073709551615-18446744073709551614 f v",
        "XADD s 18446744073709551615-* f v",
        "XADD s 18446744073709551615-* f v",
        "XLEN s",
        "XLEN none",
        "DEL s new",
        // Ranges.
        "XADD r 1-0 a 1",
        "XADD r 1-1 a 2",
        "XADD r 2-0 b 3",
        "XADD r 3-5 a 4 b 5",
        "XADD r 10-0 a 6",
        "XRANGE r - +",
        "XRANGE r 1 1",
        "XRANGE r (1-0 +",
        "XRANGE r - (10-0",
        "XRANGE r (1 (3",
        "XRANGE r - + COUNT 2",
        "XRANGE r - + COUNT 0",
        "XRANGE r - + COUNT -1",
        "XRANGE r - + COUNT",
        "XRANGE r - + COUNT x",
        "XRANGE r x +",
        "XRANGE r (- +",
        "XRANGE r (18446744073709551615-18446744073709551615 +",
        "XRANGE r - (0-0",
        "XRANGE r 5 2",
        "XREVRANGE r + -",
        "XREVRANGE r + - COUNT 3",
        "XREVRANGE r (10 (1-0",
        "XRANGE missing - +",
        "XREVRANGE missing + -",
        // XDEL, tombstones, first/last IDs.
        "XDEL r 1-1 7-7 1-0",
        "XDEL r bad",
        "XDEL missing 1-1",
        "XINFO STREAM r",
        "XDEL r 2-0 3-5 10-0",
        "XINFO STREAM r",
        "XLEN r",
        "EXISTS r",
        "XADD r 11-0 z 1",
        "XINFO STREAM r",
        // XTRIM.
        "XTRIM r",
        "XTRIM r limit 3",
        "XTRIM r maxlen 1 bogus",
        "XTRIM r minid 0 limit 1",
        "XTRIM r maxlen ~ 0 limit 1",
        "XTRIM missing MAXLEN 0",
        "XTRIM r MAXLEN 0",
        "XINFO STREAM r",
        // XREAD.
        "XADD a 1-0 f 1",
        "XADD a 2-0 f 2",
        "XADD b 5-0 g 1",
        "XREAD STREAMS a b 0 0",
        "XREAD COUNT 1 STREAMS a b 0 0",
        "XREAD COUNT 0 STREAMS a b 1 0",
        "XREAD STREAMS a b 2 5",
        "XREAD STREAMS a b $ $",
        "XREAD STREAMS a",
        "XREAD STREAMS a b 0",
        "XREAD COUNT x STREAMS a 0",
        "XREAD BLOCK -1 STREAMS a 0",
        "XREAD BLOCK x STREAMS a 0",
        "XREAD STREAMS a >",
        "XREAD GROUP g c STREAMS a 0",
        "XREAD NOACK STREAMS a 0",
        "XREAD FOO STREAMS a 0",
        "XREAD STREAMS missing 0",
        "XREAD STREAMS a bad",
        // Consumer groups.
        "XGROUP CREATE a g 0",
        "XGROUP CREATE a g 0",
        "XGROUP CREATE a g1 $",
        "XGROUP CREATE a g2 0 ENTRIESREAD 1",
        "XGROUP CREATE a g3 0 ENTRIESREAD -5",
        "XGROUP CREATE a g3 0 bogus",
        "XGROUP CREATE nokey g 0",
        "XGROUP CREATE mk g $ MKSTREAM",
        "XINFO STREAM mk",
        "XGROUP CREATE a",
        "XGROUP SETID a nog 0",
        "XGROUP SETID a g 0 MKSTREAM",
        "XGROUP SETID a g 0 ENTRIESREAD",
        "XGROUP DESTROY nokey g",
        "XGROUP DESTROY a nog",
        "XGROUP CREATECONSUMER a nog c",
        "XGROUP DELCONSUMER a nog c",
        "XGROUP BOGUS a g",
        "XGROUP HELP",
        "XINFO GROUPS a",
        "XREADGROUP GROUP g c1 COUNT 1 STREAMS a >",
        "XREADGROUP GROUP g c1 STREAMS a >",
        "XREADGROUP GROUP g c1 STREAMS a >",
        "XREADGROUP GROUP g c2 STREAMS a 0",
        "XREADGROUP GROUP g c1 STREAMS a 0",
        "XREADGROUP GROUP g c1 STREAMS a $",
        "XREADGROUP GROUP nog c1 STREAMS a >",
        "XREADGROUP GROUP g c1 STREAMS missing >",
        "XREADGROUP COUNT 1 STREAMS a >",
        "XREADGROUP GROUP g c1 STREAMS a b > >",
        "XINFO GROUPS a",
        "XINFO CONSUMERS a g",
        "XINFO CONSUMERS a nog",
        "XPENDING a g",
        "XPENDING a g - + 10",
        "XPENDING a g - + 10 c1",
        "XPENDING a g - + 10 nobody",
        "XPENDING a g IDLE 0 - + 10",
        "XPENDING a g IDLE 0 - +",
        "XPENDING a g - + -1",
        "XPENDING a g (1-0 + 10",
        "XPENDING a g - + x",
        "XPENDING a g 1",
        "XPENDING a nog",
        "XPENDING missing g",
        "XPENDING a g1",
        "XADD a 3-0 f 3",
        "XREADGROUP GROUP g1 c9 NOACK STREAMS a >",
        "XINFO GROUPS a",
        "XACK a g 1-0 9-9",
        "XACK a g bad",
        "XACK a nog bad",
        "XACK missing g 1-0",
        "XPENDING a g",
        "XCLAIM a g c2 0 2-0",
        "XCLAIM a g c2 0 2-0 JUSTID",
        "XCLAIM a g c3 0 3-0",
        "XCLAIM a g c3 0 3-0 FORCE JUSTID RETRYCOUNT 7",
        "XPENDING a g - + 10",
        "XCLAIM a g c3 0 2-0 9-9 LASTID 5-0",
        "XINFO GROUPS a",
        "XCLAIM a g c2 x 1-1",
        "XCLAIM a g c2 0 1-1 idle x",
        "XCLAIM a g c2 0 1-1 time x",
        "XCLAIM a g c2 0 1-1 retrycount x",
        "XCLAIM a g c2 0 bad",
        "XCLAIM a g c2 0 1-1 FORCE 2-0",
        "XCLAIM a nog c2 0 1-1",
        "XCLAIM missing g c2 0 1-1",
        "XCLAIM a g c2 3600000 2-0",
        "XDEL a 2-0",
        "XCLAIM a g c2 0 2-0",
        "XPENDING a g - + 10",
        "XAUTOCLAIM a g c4 0 0",
        "XAUTOCLAIM a g c4 0 0 COUNT 1 JUSTID",
        "XAUTOCLAIM a g c4 0 0 count 0",
        "XAUTOCLAIM a g c4 0 0 justid extra",
        "XAUTOCLAIM a g c4 x 0",
        "XAUTOCLAIM a g c4 0 bad",
        "XAUTOCLAIM a nog c4 0 0",
        "XINFO CONSUMERS a g",
        "XGROUP CREATECONSUMER a g c5",
        "XGROUP CREATECONSUMER a g c5",
        "XGROUP DELCONSUMER a g c4",
        "XGROUP DELCONSUMER a g c4",
        "XINFO CONSUMERS a g",
        "XPENDING a g",
        "XGROUP SETID a g $",
        "XGROUP SETID a g 0 ENTRIESREAD 0",
        "XINFO GROUPS a",
        "XINFO STREAM a FULL",
        "XINFO STREAM a FULL COUNT 1",
        "XINFO STREAM a FULL COUNT",
        "XINFO STREAM a bogus",
        "XINFO STREAM missing",
        "XINFO GROUPS missing",
        "XINFO BOGUS a",
        "XINFO HELP",
        "XINFO GROUPS",
        "XGROUP DESTROY a g",
        "XINFO GROUPS a",
        // XSETID.
        "XSETID a 0-1",
        "XSETID missing 5-5",
        "XSETID a 5-5 ENTRIESADDED 0",
        "XSETID a 5-5 MAXDELETEDID 9-9",
        "XSETID a 9-9 ENTRIESADDED 10 MAXDELETEDID 4-0",
        "XSETID a 9-9 bogus",
        "XINFO STREAM a",
        "XSETID a 8-0",
        // Types.
        "SET str x",
        "XADD str 1-1 f v",
        "XLEN str",
        "XRANGE str - +",
        "XREAD STREAMS str 0",
        "XGROUP CREATE str g 0",
        "XINFO STREAM str",
        "XDEL str 1-1",
        "XTRIM str MAXLEN 0",
        "XACK str g 1-1",
        "XCLAIM str g c 0 1-1",
        "XAUTOCLAIM str g c 0 0",
        "XPENDING str g",
        "XSETID str 1-1",
        "TYPE a",
        "OBJECT ENCODING a",
        "XADD list-stream 1-1 f v",
        "RENAME list-stream renamed",
        "XRANGE renamed - +",
        "COPY renamed copied",
        "XRANGE copied - +",
    ];
    for cmd in script {
        run(&db, &mut redis, cmd);
    }
    // Scripts see RESP2 shapes: XREAD as [stream, entries] pairs, XINFO flattened.
    for body in [
        "return redis.call('XREAD', 'COUNT', '2', 'STREAMS', KEYS[1], KEYS[2], '0', '0')",
        "return redis.call('XINFO', 'STREAM', KEYS[1])",
        "return redis.call('XREADGROUP', 'GROUP', 'g1', 'lua', 'STREAMS', KEYS[1], '>')",
        "return redis.call('XPENDING', KEYS[1], 'g1')",
    ] {
        let eval: Vec<&[u8]> = vec![b"EVAL", body.as_bytes(), b"2", b"a", b"b"];
        let ours = db.execute(&eval);
        assert_eq!(masked(&eval, ours), masked(&eval, redis.cmd(&eval)), "{body}");
    }
}

#[test]
fn stream_xadd_star_and_node_boundaries_match_redis() {
    let Some(server) = RedisServer::start_or_skip("stream_xadd_star_and_node_boundaries_match_redis") else { return };
    let mut redis = server.connect();
    let db = Db::open_in_memory();
    // `*` IDs: the clock's millisecond, then sequence numbers within it; both stay ordered.
    let id = db.execute(&[b"XADD", b"auto", b"*", b"f", b"v"]);
    let Reply::Bulk(id) = id else { panic!("{id:?}") };
    let text = String::from_utf8(id).unwrap();
    let (ms, seq) = text.split_once('-').unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    assert!(ms.parse::<u64>().unwrap().abs_diff(now) < 5_000 && seq == "0", "{text}");
    let mut last = text.clone();
    for _ in 0..200 {
        let Reply::Bulk(next) = db.execute(&[b"XADD", b"auto", b"*", b"f", b"v"]) else { panic!() };
        let next = String::from_utf8(next).unwrap();
        let key = |s: &str| {
            let (a, b) = s.split_once('-').unwrap();
            (a.parse::<u64>().unwrap(), b.parse::<u64>().unwrap())
        };
        assert!(key(&next) > key(&last), "{next} after {last}");
        last = next;
    }
    // Node boundaries: entries and bytes, with the default limits and smaller ones.
    for (entries, bytes) in [("100", "4096"), ("5", "4096"), ("100", "120"), ("3", "0"), ("0", "90")] {
        run(&db, &mut redis, &format!("CONFIG SET stream-node-max-entries {entries}"));
        run(&db, &mut redis, &format!("CONFIG SET stream-node-max-bytes {bytes}"));
        run(&db, &mut redis, "DEL n");
        for i in 1..=260u64 {
            // Fields alternate between the master's and others; values of every listpack size.
            let value = "x".repeat((i as usize * 7) % 70);
            let field = if i % 5 == 0 { "other" } else { "f" };
            let v = if i % 3 == 0 { (i * 1_000_003).to_string() } else { value };
            let cmd = format!("XADD n {}-{} {field} {v}", i * 3, i % 4);
            let argv: Vec<&[u8]> = cmd.split(' ').map(str::as_bytes).collect();
            same(&db, &mut redis, &argv);
            if i % 40 == 0 {
                run(&db, &mut redis, &format!("XDEL n {}-{}", (i - 7) * 3, (i - 7) % 4));
                run(&db, &mut redis, "XINFO STREAM n");
            }
        }
        run(&db, &mut redis, "XINFO STREAM n");
        run(&db, &mut redis, "XTRIM n MAXLEN ~ 200");
        run(&db, &mut redis, "XTRIM n MAXLEN ~ 150 LIMIT 20");
        run(&db, &mut redis, "XTRIM n MINID ~ 400");
        run(&db, &mut redis, "XTRIM n MAXLEN = 120");
        run(&db, &mut redis, "XINFO STREAM n");
        run(&db, &mut redis, "XTRIM n MINID 600");
        run(&db, &mut redis, "XINFO STREAM n");
        run(&db, &mut redis, "XRANGE n - + COUNT 5");
    }
}

/// A random stream command over two streams, three groups and three consumers. IDs are
/// explicit (no clock), near the streams' current ones so ranges, deletes and claims hit.
fn random_command(rng: &mut Rng, top: &mut u64) -> String {
    let key = rng.pick(&["s1", "s2", "s1", "s2", "s1", "s2", "s1", "s2", "s1", "str"]);
    let group = rng.pick(&["g1", "g2", "g3"]);
    let consumer = rng.pick(&["c1", "c2", "c3"]);
    let id = |rng: &mut Rng, top: u64| -> String {
        match rng.below(6) {
            0 => "0".into(),
            1 => format!("{}", rng.below(top + 2)),
            2 => format!("({}-{}", rng.below(top + 2), rng.below(3)),
            _ => format!("{}-{}", rng.below(top + 2), rng.below(3)),
        }
    };
    let plain_id = |rng: &mut Rng, top: u64| format!("{}-{}", rng.below(top + 2), rng.below(3));
    // An ID among the latest entries (deletes, acks and claims mostly hit).
    let near_id = |rng: &mut Rng, top: u64| format!("{}-{}", top.saturating_sub(rng.below(12)), rng.below(3));
    match rng.below(24) {
        0..=5 => {
            *top += rng.below(3);
            let new_id = match rng.below(8) {
                0 => format!("{}-*", top),
                1 => format!("{}-{}", rng.below(*top + 1), rng.below(3)),
                _ => format!("{}-{}", top, rng.below(3)),
            };
            let trim = match rng.below(8) {
                0 => format!("MAXLEN {} ", rng.below(30)),
                1 => format!("MAXLEN ~ {} ", rng.below(30)),
                2 => format!("MINID ~ {} ", rng.below(*top + 1)),
                3 => format!("MAXLEN ~ {} LIMIT {} ", rng.below(30), rng.below(12)),
                _ => String::new(),
            };
            let pairs = 1 + rng.below(3);
            let fields: Vec<String> =
                (0..pairs).map(|p| format!("{} {}", rng.pick(&["f", "g", "name"]), (rng.next() % 1000) * (p + 1))).collect();
            format!("XADD {key} {trim}{new_id} {}", fields.join(" "))
        }
        6 => format!("XDEL {key} {} {}", near_id(rng, *top), plain_id(rng, *top)),
        7 => match rng.below(3) {
            0 => format!("XTRIM {key} MAXLEN {}", rng.below(40)),
            1 => format!("XTRIM {key} MINID {}", plain_id(rng, *top)),
            _ => format!("XTRIM {key} MAXLEN ~ {}", rng.below(40)),
        },
        8 => format!("XRANGE {key} {} + COUNT {}", id(rng, *top), rng.below(6)),
        9 => format!("XREVRANGE {key} + {}", id(rng, *top)),
        10 => format!("XREAD COUNT {} STREAMS s1 s2 {} {}", rng.below(4), plain_id(rng, *top), plain_id(rng, *top)),
        11 => match rng.below(12) {
            0..=3 => format!("XGROUP CREATE {key} {group} {} MKSTREAM", rng.pick(&["$", "0", "0"])),
            4 => format!("XGROUP CREATE {key} {group} {} ENTRIESREAD {}", plain_id(rng, *top), rng.below(10)),
            5 | 6 => format!("XGROUP SETID {key} {group} {}", rng.pick(&["$", "0", "1-0"])),
            7 => format!("XGROUP DESTROY {key} {group}"),
            8..=10 => format!("XGROUP CREATECONSUMER {key} {group} {consumer}"),
            _ => format!("XGROUP DELCONSUMER {key} {group} {consumer}"),
        },
        12..=14 => {
            let noack = if rng.below(5) == 0 { "NOACK " } else { "" };
            let from = if rng.below(3) == 0 { "0" } else { ">" };
            format!("XREADGROUP GROUP {group} {consumer} COUNT {} {noack}STREAMS {key} {from}", 1 + rng.below(4))
        }
        15 => format!("XACK {key} {group} {} {}", near_id(rng, *top), near_id(rng, *top)),
        16 => match rng.below(3) {
            0 => format!("XPENDING {key} {group}"),
            1 => format!("XPENDING {key} {group} - + {}", rng.below(8)),
            _ => format!("XPENDING {key} {group} - + 10 {consumer}"),
        },
        17 | 22 | 23 => {
            let opts = rng.pick(&["", " JUSTID", " FORCE", " FORCE JUSTID", " FORCE RETRYCOUNT 3", " RETRYCOUNT 3", " FORCE LASTID 9-0"]);
            format!("XCLAIM {key} {group} {consumer} 0 {} {}{opts}", near_id(rng, *top), near_id(rng, *top))
        }
        18 => format!("XAUTOCLAIM {key} {group} {consumer} 0 {} COUNT {}{}", id(rng, *top), 1 + rng.below(3), rng.pick(&["", " JUSTID"])),
        19 => match rng.below(4) {
            0 => format!("XINFO STREAM {key}"),
            1 => format!("XINFO STREAM {key} FULL COUNT 0"),
            2 => format!("XINFO GROUPS {key}"),
            _ => format!("XINFO CONSUMERS {key} {group}"),
        },
        20 => format!("XLEN {key}"),
        _ => match rng.below(12) {
            0 => format!("DEL {key}"),
            2..=6 => format!("XGROUP CREATE {key} {group} 0 MKSTREAM"),
            1 => format!("XSETID {key} {}", plain_id(rng, *top + 3)),
            _ => format!("TYPE {key}"),
        },
    }
}

#[test]
fn random_stream_commands_match_redis() {
    let Some(server) = RedisServer::start_or_skip("random_stream_commands_match_redis") else { return };
    let mut redis = server.connect();
    let db = Db::open_in_memory();
    let rounds = if std::env::var_os("NESTDB_FULL").is_some() { 60_000 } else { 6_000 };
    for (entries, bytes) in [("4", "4096"), ("100", "100")] {
        run(&db, &mut redis, &format!("CONFIG SET stream-node-max-entries {entries}"));
        run(&db, &mut redis, &format!("CONFIG SET stream-node-max-bytes {bytes}"));
        run(&db, &mut redis, "SET str x");
        let mut rng = Rng(0x5eed_0f57_1ea5 ^ entries.len() as u64);
        let mut top = 1;
        // How often the interesting outcomes happened: the sequence must reach them.
        let mut seen = std::collections::BTreeMap::<&str, usize>::new();
        for _ in 0..rounds / 2 {
            let cmd = random_command(&mut rng, &mut top);
            let reply = run(&db, &mut redis, &cmd);
            if std::env::var_os("STREAM_TRACE").is_some() {
                eprintln!("CMD {cmd} => {reply:?}");
                for k in ["s1", "s2"] {
                    for g in ["g1", "g2", "g3"] {
                        run(&db, &mut redis, &format!("XPENDING {k} {g} - + 1000"));
                    }
                }
            }
            let name = cmd.split(' ').next().unwrap();
            let outcome = match (name, &reply) {
                (_, Reply::Error(e)) => {
                    if std::env::var_os("STREAM_STATS").is_some() {
                        eprintln!("ERR {name} {e}");
                    }
                    "error"
                }
                ("XADD", Reply::Bulk(_)) => "added",
                ("XREADGROUP", Reply::Map(_)) => "delivered",
                ("XCLAIM", Reply::Array(a)) if !a.is_empty() => "claimed",
                ("XAUTOCLAIM", Reply::Array(a)) if a[1] != Reply::Array(vec![]) || a[2] != Reply::Array(vec![]) => "autoclaimed",
                ("XTRIM" | "XDEL" | "XACK", Reply::Int(n)) if *n > 0 => "removed",
                ("XPENDING", Reply::Array(a)) if !a.is_empty() && a[0] != Reply::Int(0) => "pending",
                _ => "other",
            };
            *seen.entry(outcome).or_default() += 1;
        }
        for outcome in ["error", "added", "delivered", "claimed", "autoclaimed", "removed", "pending"] {
            assert!(seen.get(outcome).copied().unwrap_or(0) >= rounds / 400, "{outcome} too rare: {seen:?}");
        }
        for key in ["s1", "s2"] {
            run(&db, &mut redis, &format!("XINFO STREAM {key} FULL COUNT 0"));
        }
        run(&db, &mut redis, "FLUSHALL");
    }
}

/// Streams, groups and pending entries come back from log replay and from a snapshot as they
/// were (times included: they are logged and saved).
#[test]
fn streams_survive_replay_and_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let full = |db: &Db, key: &str| db.execute(&[b"XINFO", b"STREAM", key.as_bytes(), b"FULL", b"COUNT", b"0"]);
    let image = |db: &Db| -> Vec<Reply> {
        let mut out: Vec<Reply> = ["s1", "s2"].iter().map(|k| full(db, k)).collect();
        // Seen times are not logged (a replay sets them to its own clock): zero them.
        for r in &mut out {
            zero_map_fields(r, &["seen-time"]);
        }
        out
    };
    // Node limits are configuration, not data: the replay must run with the same ones to lay
    // the nodes out as they were (a snapshot keeps the layout whatever the configuration).
    let mut opts = Options::default();
    opts.stream_node_max_entries = 4;
    let before;
    {
        let db = Db::open(&path, opts.clone()).unwrap();
        let mut rng = Rng(99);
        let mut top = 1;
        for _ in 0..3_000 {
            let cmd = random_command(&mut rng, &mut top);
            let argv: Vec<&[u8]> = cmd.split(' ').map(str::as_bytes).collect();
            db.execute(&argv);
        }
        // `*` IDs and a claim with a delivery time from the past.
        db.execute(&[b"XADD", b"s1", b"*", b"auto", b"1"]);
        db.execute(&[b"XGROUP", b"CREATE", b"s2", b"late", b"0", b"MKSTREAM"]);
        db.execute(&[b"XREADGROUP", b"GROUP", b"late", b"w", b"STREAMS", b"s2", b">"]);
        before = image(&db);
        assert!(matches!(&before[0], Reply::Map(_)), "{:?}", before[0]);
    }
    let db = Db::open(&path, opts).unwrap();
    assert!(db.recovery_report().unwrap().records_replayed > 100);
    assert_eq!(image(&db), before, "after log replay");
    db.snapshot().unwrap();
    drop(db);
    let db = Db::open(&path, Options::default()).unwrap();
    assert_eq!(db.recovery_report().unwrap().records_replayed, 0);
    assert_eq!(image(&db), before, "after a snapshot");
}

/// XREAD BLOCK with `$` is served the entry added after it blocked (not the stream's last ID
/// at the time of each retry), XREADGROUP BLOCK `>` likewise, and a timeout gives nil.
#[test]
fn blocked_reads_are_served_by_xadd() {
    let db = Db::open_in_memory();
    db.execute(&[b"XADD", b"s", b"1-0", b"old", b"1"]);
    db.execute(&[b"XGROUP", b"CREATE", b"s", b"g", b"$"]);
    let reader = {
        let db = db.clone();
        std::thread::spawn(move || db.execute(&[b"XREAD", b"BLOCK", b"5000", b"STREAMS", b"s", b"$"]))
    };
    let group_reader = {
        let db = db.clone();
        std::thread::spawn(move || db.execute(&[b"XREADGROUP", b"GROUP", b"g", b"c", b"BLOCK", b"5000", b"STREAMS", b"s", b">"]))
    };
    std::thread::sleep(std::time::Duration::from_millis(150));
    // A write to another key of the same shards wakes the readers for nothing: they block again.
    db.execute(&[b"XADD", b"other", b"1-0", b"x", b"1"]);
    std::thread::sleep(std::time::Duration::from_millis(50));
    db.execute(&[b"XADD", b"s", b"2-0", b"new", b"2"]);
    let entry =
        Reply::Array(vec![Reply::Bulk(b"2-0".to_vec()), Reply::Array(vec![Reply::Bulk(b"new".to_vec()), Reply::Bulk(b"2".to_vec())])]);
    let want = Reply::Map(vec![(Reply::Bulk(b"s".to_vec()), Reply::Array(vec![entry]))]);
    assert_eq!(reader.join().unwrap(), want);
    assert_eq!(group_reader.join().unwrap(), want);
    assert_eq!(db.execute(&[b"XPENDING", b"s", b"g", b"-", b"+", b"10", b"c"]).as_array().map(|a| a.len()), Some(1));
    let t = std::time::Instant::now();
    assert_eq!(db.execute(&[b"XREAD", b"BLOCK", b"100", b"STREAMS", b"s", b"$"]), Reply::Nil);
    assert!(t.elapsed() >= std::time::Duration::from_millis(100));
    // In a transaction a blocking read does not wait.
    let mut session = db.session();
    for c in [&[&b"MULTI"[..]][..], &[b"XREAD", b"BLOCK", b"0", b"STREAMS", b"s", b"$"]] {
        session.execute(c);
    }
    assert_eq!(session.execute(&[b"EXEC"]), Reply::Array(vec![Reply::Nil]));
}

/// More than a listpack's 1 GiB of elements in one XADD is refused (Redis's "Elements are too
/// large to be stored"), after the ID checks, and no empty stream is left behind.
#[test]
fn xadd_refuses_elements_over_one_gib() {
    let db = Db::open_in_memory();
    let big = vec![b'x'; 600 << 20];
    let too_large = Reply::Error("ERR Elements are too large to be stored".into());
    assert_eq!(db.execute(&[b"XADD", b"new", b"1-1", b"a", &big, b"b", &big]), too_large);
    assert_eq!(db.execute(&[b"EXISTS", b"new"]), Reply::Int(0));
    db.execute(&[b"XADD", b"s", b"5-0", b"f", b"v"]);
    let smaller = Reply::Error("ERR The ID specified in XADD is equal or smaller than the target stream top item".into());
    assert_eq!(db.execute(&[b"XADD", b"s", b"1-1", b"a", &big, b"b", &big]), smaller);
    assert_eq!(db.execute(&[b"XADD", b"s", b"6-0", b"a", &big, b"b", &big]), too_large);
    assert_eq!(db.execute(&[b"XLEN", b"s"]), Reply::Int(1));
}
