"""Streams through the redis-py drop-in, side by side with redis-py on a real redis-server
(7.0): the same calls give the same results in redis-py's shapes (ids, entries, consumer
groups, pending entries, XINFO) and the same errors, with bytes and with
``decode_responses=True``; blocking XREAD/XREADGROUP are served by an XADD from another
thread and time out like redis-py's; and the guide-style task queue with a consumer group
(two workers, acks, a dead worker's tasks reclaimed with XAUTOCLAIM) runs as written.

Times differ by a few milliseconds between the two runs, so XPENDING's
``time_since_delivered`` and XINFO CONSUMERS' ``idle`` are only checked to be small
non-negative ints, and XINFO STREAM FULL's ``seen-time``/``delivery-time`` to be the current
Unix time in ms. XINFO STREAM's ``radix-tree-keys``/``radix-tree-nodes`` (Redis's internal
rax counts) are not compared.
"""

from __future__ import annotations

import time
from typing import Any, Callable, List


import nestdb

from conftest import Pair, check, in_thread, requires, wait_blocked

# Skipped as a whole until the engine has streams (the commands are not in COMMAND LIST yet).
pytestmark = requires("xadd", "xreadgroup", "xinfo")


# ---------------------------------------------------------------------------------------
# helpers




def same_order(pair: Pair, fn: Callable[[Any], Any]) -> None:
    """``fn(client)`` is a dict (or a list of dicts) whose keys come in the same order on both."""

    def keys(x: Any) -> Any:
        if isinstance(x, dict):
            return [(k, keys(v)) for k, v in x.items()]
        if isinstance(x, (list, tuple)):
            return [keys(v) for v in x]
        return None

    assert keys(fn(pair[0])) == keys(fn(pair[1]))


def text(x: Any) -> Any:
    return x.decode() if isinstance(x, bytes) else x


def now_ms() -> int:
    return int(time.time() * 1000)


IDLE = {"idle", "time_since_delivered", "inactive"}  # ms since something: small
CLOCK = {"seen-time", "delivery-time", "active-time"}  # Unix time in ms: now
UNCOMPARED = {"radix-tree-keys", "radix-tree-nodes"}


def _idle(v: Any) -> str:
    assert isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 10_000, v
    return "<ms>"


def _clock(v: Any) -> str:
    assert isinstance(v, int) and abs(v - now_ms()) < 60_000, v
    return "<clock>"


def calm(x: Any) -> Any:
    """``x`` with its timing fields checked to be plausible and replaced by markers, and the
    rax counts dropped: what is compared between the two servers."""
    if isinstance(x, dict):
        out = {}
        for k, v in x.items():
            name = text(k)
            if name in UNCOMPARED:
                continue
            if name in IDLE:
                v = _idle(v)
            elif name in CLOCK:
                v = _clock(v)
            elif name == "pending" and isinstance(v, list):
                # XINFO STREAM FULL: [id, consumer, delivery-time, count] (a group's PEL) or
                # [id, delivery-time, count] (a consumer's)
                v = [e[:-2] + [_clock(e[-2]), e[-1]] for e in v]
            else:
                v = calm(v)
            out[k] = v
        return out
    if isinstance(x, list):
        return [calm(v) for v in x]
    if isinstance(x, tuple):
        return tuple(calm(v) for v in x)
    return x


def fill(c: Any, name: str, n: int, start: int = 1, **fields: Any) -> None:
    for i in range(start, start + n):
        c.xadd(name, {"n": i, **fields}, id=f"{i}-0")


# ---------------------------------------------------------------------------------------
# XADD, XRANGE, XREVRANGE, XLEN, XDEL, XTRIM


def test_xadd_ids_like_redis(pair: Pair) -> None:
    check(
        pair,
        lambda c: c.xadd("s", {"a": 1, "b": "x"}, id="1-1"),
        lambda c: c.xadd("s", {"a": 2}, id="1-*"),
        lambda c: c.xadd("s", {"a": 3}, id="2-*"),
        lambda c: c.xadd("s", {"a": 4}, id=5),
        lambda c: c.xadd("s", {"a": 5}, id="5-0"),
        lambda c: c.xadd("s", {"a": 5}, id="4-9"),
        lambda c: c.xadd("s", {"a": 5}, id="5"),
        lambda c: c.xadd("s", {"a": 5}, id="abc"),
        lambda c: c.xadd("s", {"a": 5}, id="1-2-3"),
        lambda c: c.xadd("s", {"a": 5}, id="-1"),
        lambda c: c.xadd("t", {"a": 5}, id="0-0"),
        lambda c: c.xadd("t", {"a": 5}, id="0-*"),
        lambda c: c.xadd("s", {"a": 1.5, "b": "é", "c": b"bytes"}, id="12-0"),
        lambda c: c.xadd("s", {"same": 1, "other": 2}, id="12-1"),
        lambda c: c.xadd("s", {"other": 3, "same": 4}, id="12-2"),
        lambda c: c.xrange("s"),
        lambda c: c.xlen("s"),
        lambda c: c.xlen("missing"),
        lambda c: c.type("s"),
        lambda c: c.exists("t"),
        lambda c: c.xadd("big", {"x": 1}, id="18446744073709551615-18446744073709551615"),
        lambda c: c.xadd("big", {"x": 1}),
        lambda c: c.xadd("big", {"x": 1}, id="18446744073709551615-*"),
        lambda c: c.xadd("future", {"x": 1}, id="99999999999999-5"),
        lambda c: c.xadd("future", {"x": 2}),
        lambda c: c.xadd("future", {"x": 3}, id="99999999999999-*"),
        lambda c: c.xrange("future"),
    )


def test_xadd_options_like_redis(pair: Pair) -> None:
    check(
        pair,
        lambda c: c.xadd("nope", {"a": 1}, nomkstream=True),
        lambda c: c.exists("nope"),
        lambda c: fill(c, "s", 6),
        lambda c: c.xadd("s", {"a": 7}, id="7-0", nomkstream=True),
        lambda c: c.xadd("s", {"a": 8}, id="8-0", maxlen=3, approximate=False),
        lambda c: c.xrange("s"),
        # ~ on a small stream trims nothing (only whole nodes go)
        lambda c: c.xadd("s", {"a": 9}, id="9-0", maxlen=1),
        lambda c: c.xlen("s"),
        lambda c: c.xadd("s", {"a": 10}, id="10-0", minid="9-0", approximate=False),
        lambda c: c.xrange("s"),
        lambda c: c.xadd("s", {"a": 11}, id="11-0", minid="11-0", limit=5),
        lambda c: c.xlen("s"),
        lambda c: c.xadd("s", {"a": 12}, id="12-0", maxlen=0, approximate=False),
        lambda c: c.xrange("s"),
        lambda c: c.xadd("s", {"a": 13}, id="13-0", maxlen=1, approximate=False, limit=1),
        lambda c: c.xadd("s", {"a": 13}, id="13-0", minid="abc", approximate=False),
        lambda c: c.execute_command("XADD", "s", "MAXLEN", -1, "*", "a", 1),
        lambda c: c.execute_command("XADD", "s", "MAXLEN", "~", 5, "LIMIT", -1, "*", "a", 1),
        lambda c: c.execute_command("XADD", "s", "MAXLEN", 1, "MINID", 1, "*", "a", 1),
        lambda c: c.execute_command("XADD", "s", "*", "a"),
        lambda c: c.execute_command("XADD", "s", "*"),
        lambda c: c.execute_command("XADD", "s", "NOMKSTREAM", "14-0", "a", 1, "b", 2),
        lambda c: c.xinfo_stream("s")["entries-added"],
        # redis-py's own checks
        lambda c: c.xadd("s", {}),
        lambda c: c.xadd("s", {"a": 1}, maxlen=-1),
        lambda c: c.xadd("s", {"a": 1}, maxlen=1, minid="1-0"),
        lambda c: c.xlen("s"),
    )


def test_xadd_automatic_ids(pair: Pair) -> None:
    for c in pair:
        before = now_ms()
        ids = [text(c.xadd("auto", {"n": i})) for i in range(50)]
        after = now_ms()
        parsed = [tuple(map(int, i.split("-"))) for i in ids]
        assert parsed == sorted(set(parsed))
        assert all(before - 5 <= ms <= after + 5 for ms, _ in parsed)
        assert [text(i) for i, _ in c.xrange("auto")] == ids
        assert text(c.xinfo_stream("auto")["last-generated-id"]) == ids[-1]


def test_xrange_xrevrange_like_redis(pair: Pair) -> None:
    ids = ["1-0", "1-1", "2-0", "3-5", "10-0", "10-7"]

    def build(c: Any) -> None:
        for n, i in enumerate(ids):
            c.xadd("s", {"n": n, "id": i}, id=i)

    check(
        pair,
        build,
        lambda c: c.xrange("s"),
        lambda c: c.xrange("s", count=1),
        lambda c: c.xrange("s", count=4),
        lambda c: c.xrange("s", count=100),
        lambda c: c.xrange("s", "2", "3"),
        lambda c: c.xrange("s", "1", "1"),
        lambda c: c.xrange("s", "1-1", "10"),
        lambda c: c.xrange("s", "(1-0", "+"),
        lambda c: c.xrange("s", "-", "(10-7"),
        lambda c: c.xrange("s", "(1-1", "(3-5", count=1),
        lambda c: c.xrange("s", "(1", "(10"),
        lambda c: c.xrange("s", "5", "2"),
        lambda c: c.xrange("s", "4", "9"),
        lambda c: c.xrange("s", 2, 10),
        lambda c: c.xrange("missing"),
        lambda c: c.xrevrange("s"),
        lambda c: c.xrevrange("s", count=2),
        lambda c: c.xrevrange("s", "(10-7", "(1-0"),
        lambda c: c.xrevrange("s", "3", "1", count=3),
        lambda c: c.xrevrange("s", "1", "3"),
        lambda c: c.xrevrange("missing"),
        lambda c: c.execute_command("XRANGE", "s", "-", "+", "COUNT", 0),
        lambda c: c.execute_command("XRANGE", "s", "-", "+", "COUNT", -2),
        lambda c: c.execute_command("XREVRANGE", "s", "+", "-", "COUNT", 0),
        lambda c: c.execute_command("XRANGE", "s", "-", "+", "COUNT"),
        lambda c: c.execute_command("XRANGE", "s", "-", "+", "LIMIT", 1),
        lambda c: c.xrange("s", "(-", "+"),
        lambda c: c.xrange("s", "-", "(+"),
        lambda c: c.xrange("s", "(18446744073709551615-18446744073709551615", "+"),
        lambda c: c.xrevrange("s", "+", "(18446744073709551615-18446744073709551615"),
        lambda c: c.xrange("s", "-", "(0-0"),
        lambda c: c.xrange("s", "x", "+"),
        lambda c: c.xrange("s", "1-x", "+"),
        lambda c: c.xrange("s", count=0),
    )


def test_xdel_xlen_xtrim_like_redis(pair: Pair) -> None:
    check(
        pair,
        lambda c: fill(c, "s", 10),
        lambda c: c.xdel("s", "2-0"),
        lambda c: c.xdel("s", "2-0", "3-0", "99-0", "4"),
        lambda c: c.xdel("missing", "1-0"),
        lambda c: c.xdel("s", "bad"),
        lambda c: c.xlen("s"),
        lambda c: c.xinfo_stream("s")["max-deleted-entry-id"],
        lambda c: c.xtrim("s", maxlen=5, approximate=False),
        lambda c: c.xrange("s"),
        lambda c: c.xtrim("s", maxlen=5, approximate=False),
        lambda c: c.xtrim("s", maxlen=1),
        lambda c: c.xtrim("s", minid="8", approximate=False),
        lambda c: c.xrange("s"),
        lambda c: c.xtrim("s", minid="9-0", limit=10),
        lambda c: c.xtrim("s", maxlen=1, approximate=False, limit=10),
        lambda c: c.xtrim("s", maxlen=-1),
        lambda c: c.xtrim("s", minid="x"),
        lambda c: c.xtrim("missing", maxlen=0, approximate=False),
        lambda c: c.exists("missing"),
        lambda c: c.xtrim("s", maxlen=0, approximate=False),
        # an emptied stream stays, with its history
        lambda c: (c.exists("s"), c.type("s"), c.xlen("s"), c.xrange("s")),
        lambda c: c.xinfo_stream("s")["last-generated-id"],
        lambda c: c.xadd("s", {"a": 1}, id="5-0"),
        lambda c: c.xadd("s", {"a": 1}, id="11-0"),
        lambda c: c.xdel("s", "11-0"),
        lambda c: c.xlen("s"),
        lambda c: c.xtrim("s"),
        lambda c: c.xtrim("s", maxlen=1, minid="1-0"),
    )


def test_approximate_trimming_like_redis(pair: Pair) -> None:
    """``~`` trims whole nodes of ``stream-node-max-entries`` (100) entries only, LIMIT caps
    the entries one trim may remove: the lengths after trimming are Redis's."""
    check(
        pair,
        lambda c: [c.xadd("s", {"n": i}, id=f"{i}-0", maxlen=120) for i in range(1, 351)][-1],
        lambda c: c.xlen("s"),
        lambda c: c.xrange("s", count=1),
        lambda c: c.xtrim("s", maxlen=10, limit=50),
        lambda c: c.xtrim("s", maxlen=10),
        lambda c: c.xlen("s"),
        lambda c: c.xrange("s", count=1),
        lambda c: fill(c, "t", 450),
        lambda c: c.xtrim("t", minid="260-0"),
        lambda c: c.xlen("t"),
        lambda c: c.xtrim("t", minid="1000-0", limit=100),
        lambda c: c.xlen("t"),
        lambda c: c.xtrim("t", maxlen=0),
        lambda c: c.xlen("t"),
    )


# ---------------------------------------------------------------------------------------
# XREAD


def test_xread_like_redis(pair: Pair) -> None:
    check(
        pair,
        lambda c: fill(c, "s1", 5),
        lambda c: fill(c, "s2", 3, start=3, side="two"),
        lambda c: c.xread({"s1": 0}),
        lambda c: c.xread({"s1": "0-0", "s2": "0"}),
        lambda c: c.xread({"s2": "0", "s1": "0"}, count=1),
        lambda c: c.xread({"s1": "3", "s2": "4-0"}, count=2),
        lambda c: c.xread({"s1": "5-0"}),
        lambda c: c.xread({"s1": "99-0", "s2": "99-0"}),
        lambda c: c.xread({"missing": 0}),
        lambda c: c.xread({"missing": 0, "s2": "4-0"}),
        lambda c: c.xread({"s1": "2"}, block=0),
        lambda c: c.xread({"s1": "2-0"}, count=1, block=100),
        lambda c: c.xread({"s1": ">"}),
        lambda c: c.xread({"s1": "x"}),
        lambda c: c.execute_command("XREAD", "COUNT", 1, "STREAMS", "s1", "s2", "0"),
        lambda c: c.execute_command("XREAD", "STREAMS", "s1"),
        lambda c: c.execute_command("XREAD", "COUNT", 0, "STREAMS", "s1", "0"),
        lambda c: c.execute_command("XREAD", "BLOCK", -1, "STREAMS", "s1", "0"),
        # redis-py's own checks
        lambda c: c.xread({}),
        lambda c: c.xread({"s1": 0}, count=0),
        lambda c: c.xread({"s1": 0}, block=-1),
    )


# ---------------------------------------------------------------------------------------
# consumer groups


def test_consumer_groups_like_redis(pair: Pair) -> None:
    check(
        pair,
        lambda c: c.xgroup_create("s", "g", id="0", mkstream=True),
        lambda c: (c.type("s"), c.xlen("s")),
        lambda c: c.xgroup_create("s", "g"),
        lambda c: c.xgroup_create("missing", "g"),
        lambda c: fill(c, "s", 6),
        lambda c: c.xgroup_create("s", "late", id="$"),
        lambda c: c.xgroup_create("s", "mid", id="3-0", entries_read=3),
        lambda c: c.xgroup_create("s", "bad", id="$", entries_read=-5),
        lambda c: c.xgroup_create("s", "bad", id="nope"),
        lambda c: c.xinfo_groups("s"),
        lambda c: c.xreadgroup("g", "alice", {"s": ">"}, count=2),
        lambda c: c.xreadgroup("g", "bob", {"s": ">"}, count=1),
        lambda c: c.xreadgroup("g", "alice", {"s": "0"}),
        lambda c: c.xreadgroup("g", "alice", {"s": "1-0"}),
        lambda c: c.xreadgroup("g", "bob", {"s": 0}, count=5),
        lambda c: c.xreadgroup("g", "carol", {"s": ">"}, count=1, noack=True),
        lambda c: c.xreadgroup("g", "carol", {"s": "0"}),
        lambda c: c.xpending("s", "g"),
        lambda c: calm(c.xpending_range("s", "g", "-", "+", 10)),
        lambda c: calm(c.xpending_range("s", "g", "-", "+", 10, consumername="alice")),
        lambda c: calm(c.xpending_range("s", "g", "(1-0", "+", 1)),
        lambda c: calm(c.xpending_range("s", "g", "-", "+", 10, idle=0)),
        lambda c: c.xpending_range("s", "g", "-", "+", 10, idle=100_000),
        lambda c: c.xpending_range("s", "g", "-", "+", 0),
        lambda c: c.xpending_range("s", "g", "-", "+", 10, consumername="nobody"),
        lambda c: c.xack("s", "g", "1-0", "3-0", "99-0"),
        lambda c: c.xack("s", "g", "1-0"),
        lambda c: c.xack("s", "nogroup", "1-0"),
        lambda c: c.xack("missing", "g", "1-0"),
        lambda c: c.xack("s", "g", "bad-id"),
        lambda c: c.xpending("s", "g"),
        lambda c: c.xreadgroup("g", "alice", {"s": "0"}),
        lambda c: c.xreadgroup("late", "x", {"s": ">"}),
        lambda c: c.xreadgroup("mid", "y", {"s": ">"}, count=1),
        lambda c: c.xinfo_groups("s"),
        lambda c: calm(c.xinfo_consumers("s", "g")),
        lambda c: c.xreadgroup("nogroup", "c", {"s": ">"}),
        lambda c: c.xreadgroup("g", "c", {"s": "$"}),
        lambda c: c.xreadgroup("g", "c", {"missing": ">"}),
        lambda c: c.xreadgroup("g", "c", {"s": "x"}),
        lambda c: c.xpending("s", "nogroup"),
        lambda c: c.xpending("missing", "g"),
        lambda c: c.xpending("s", "late"),
        lambda c: c.xinfo_consumers("s", "nogroup"),
    )


def test_xreadgroup_over_several_streams_like_redis(pair: Pair) -> None:
    check(
        pair,
        lambda c: fill(c, "a", 3),
        lambda c: fill(c, "b", 2, start=10),
        lambda c: c.xgroup_create("a", "g", id="0"),
        lambda c: c.xgroup_create("b", "g", id="0"),
        lambda c: c.xreadgroup("g", "w", {"a": ">", "b": ">"}, count=2),
        lambda c: c.xreadgroup("g", "w", {"b": ">", "a": ">"}),
        lambda c: c.xreadgroup("g", "w", {"a": ">", "b": ">"}),
        lambda c: c.xreadgroup("g", "w", {"a": "0", "b": ">"}),
        lambda c: c.xreadgroup("g", "w", {"a": "0", "b": "0"}, count=1),
        # a pending entry deleted from the stream reads back as (id, {})
        lambda c: c.xdel("a", "2-0"),
        lambda c: c.xreadgroup("g", "w", {"a": "0"}),
        lambda c: c.xadd("b", {"late": 1}, id="20-0"),
        lambda c: c.xreadgroup("g", "v", {"a": ">", "b": ">"}, noack=True),
        lambda c: c.xpending("b", "g"),
        lambda c: c.xgroup_create("c", "other", mkstream=True),
        lambda c: c.xreadgroup("g", "w", {"a": ">", "c": ">"}),
    )


def test_xgroup_management_like_redis(pair: Pair) -> None:
    check(
        pair,
        lambda c: fill(c, "s", 5),
        lambda c: c.xgroup_create("s", "g", id="0"),
        lambda c: c.xgroup_createconsumer("s", "g", "alice"),
        lambda c: c.xgroup_createconsumer("s", "g", "alice"),
        lambda c: c.xgroup_createconsumer("s", "nogroup", "alice"),
        lambda c: c.xgroup_createconsumer("missing", "g", "alice"),
        lambda c: c.xreadgroup("g", "bob", {"s": ">"}, count=3),
        lambda c: [d["name"] for d in c.xinfo_consumers("s", "g")],
        lambda c: c.xgroup_delconsumer("s", "g", "bob"),
        lambda c: c.xgroup_delconsumer("s", "g", "bob"),
        lambda c: c.xgroup_delconsumer("s", "g", "alice"),
        lambda c: c.xgroup_delconsumer("s", "nogroup", "alice"),
        lambda c: c.xpending("s", "g"),
        lambda c: c.xinfo_groups("s"),
        lambda c: c.xgroup_setid("s", "g", "0"),
        lambda c: c.xinfo_groups("s"),
        lambda c: c.xgroup_setid("s", "g", "$"),
        lambda c: c.xinfo_groups("s"),
        lambda c: c.xgroup_setid("s", "g", "2-0", entries_read=2),
        lambda c: c.xinfo_groups("s"),
        lambda c: c.xreadgroup("g", "carol", {"s": ">"}),
        lambda c: c.xgroup_setid("s", "g", "1-0", entries_read=-1),
        lambda c: c.xinfo_groups("s"),
        lambda c: c.xgroup_setid("s", "g", "x"),
        lambda c: c.xgroup_setid("s", "g", "0", entries_read=-7),
        lambda c: c.xgroup_setid("s", "nogroup", "0"),
        lambda c: c.xgroup_setid("missing", "g", "0"),
        lambda c: c.xgroup_destroy("s", "g"),
        lambda c: c.xgroup_destroy("s", "g"),
        lambda c: c.xgroup_destroy("missing", "g"),
        lambda c: c.xinfo_groups("s"),
        lambda c: c.xinfo_stream("s")["groups"],
    )


def test_group_lag_and_entries_read_like_redis(pair: Pair) -> None:
    """XINFO GROUPS' ``entries-read`` and ``lag`` (Redis 7.0's consumer-group lag tracking:
    nil where it cannot be known, e.g. after a deletion inside the unread range)."""
    check(
        pair,
        lambda c: fill(c, "s", 5),
        lambda c: c.xgroup_create("s", "g0", id="0"),
        lambda c: c.xgroup_create("s", "g1", id="$"),
        lambda c: c.xgroup_create("s", "g2", id="2-0"),
        lambda c: c.xgroup_create("s", "g3", id="2-0", entries_read=2),
        lambda c: c.xinfo_groups("s"),
        lambda c: c.xreadgroup("g0", "c", {"s": ">"}, count=2),
        lambda c: c.xinfo_groups("s"),
        lambda c: c.xdel("s", "4-0"),
        lambda c: c.xinfo_groups("s"),
        lambda c: c.xreadgroup("g0", "c", {"s": ">"}),
        lambda c: c.xreadgroup("g2", "c", {"s": ">"}),
        lambda c: c.xinfo_groups("s"),
        lambda c: c.xadd("s", {"n": 6}, id="6-0"),
        lambda c: c.xinfo_groups("s"),
        lambda c: c.xdel("s", "1-0"),
        lambda c: c.xtrim("s", maxlen=2, approximate=False),
        lambda c: c.xinfo_groups("s"),
        lambda c: c.xinfo_stream("s"),
    )


def test_xclaim_like_redis(pair: Pair) -> None:
    at = now_ms() - 30_000

    def pel(c: Any) -> Any:
        """The PEL with delivery counts, and each entry's idle time to the second."""
        return [
            (e["message_id"], e["consumer"], e["times_delivered"], round(e["time_since_delivered"] / 1000))
            for e in c.xpending_range("s", "g", "-", "+", 100)
        ]

    check(
        pair,
        lambda c: fill(c, "s", 6),
        lambda c: c.xgroup_create("s", "g", id="0"),
        lambda c: c.xreadgroup("g", "alice", {"s": ">"}, count=4),
        lambda c: c.xclaim("s", "g", "bob", 0, ["1-0"]),
        lambda c: c.xclaim("s", "g", "bob", 0, ("2-0", "99-0"), justid=True),
        lambda c: c.xclaim("s", "g", "bob", 100_000, ["3-0"]),
        lambda c: pel(c),
        lambda c: c.xclaim("s", "g", "bob", 0, ["5-0"]),
        lambda c: c.xclaim("s", "g", "bob", 0, ["5-0", "98-0"], force=True, justid=True),
        lambda c: c.xclaim("s", "g", "carol", 0, ["3-0"], retrycount=5, justid=True),
        lambda c: c.xclaim("s", "g", "carol", 0, ["4-0"], idle=50_000),
        lambda c: c.xclaim("s", "g", "carol", 0, ["1-0"], time=at, retrycount=0),
        lambda c: pel(c),
        lambda c: c.xclaim("s", "g", "dave", 40_000, ["1-0", "2-0", "3-0", "4-0"], justid=True),
        lambda c: pel(c),
        lambda c: c.xdel("s", "2-0"),
        lambda c: c.xclaim("s", "g", "erin", 0, ["2-0", "3-0"]),
        lambda c: c.xpending("s", "g"),
        lambda c: c.xclaim("s", "g", "erin", 0, ["6-0"], force=True),
        lambda c: c.xpending("s", "g"),
        lambda c: c.xclaim("s", "nogroup", "bob", 0, ["1-0"]),
        lambda c: c.xclaim("missing", "g", "bob", 0, ["1-0"]),
        lambda c: c.xclaim("s", "g", "bob", 0, ["bad"]),
        lambda c: c.execute_command("XCLAIM", "s", "g", "bob", 0, "1-0", "RETRYCOUNT", -1),
        lambda c: c.execute_command("XCLAIM", "s", "g", "bob", 0, "1-0", "IDLE", "x"),
        lambda c: c.execute_command("XCLAIM", "s", "g", "bob", 0, "1-0", "LASTID", "3-0", "JUSTID", parse_justid=True),
        # redis-py's own checks
        lambda c: c.xclaim("s", "g", "bob", -1, ["1-0"]),
        lambda c: c.xclaim("s", "g", "bob", 0, []),
        lambda c: c.xclaim("s", "g", "bob", 0, "1-0"),
        lambda c: c.xclaim("s", "g", "bob", 0, ["1-0"], idle="10"),
        lambda c: c.xclaim("s", "g", "bob", 0, ["1-0"], force=1),
    )


def test_xautoclaim_like_redis(pair: Pair) -> None:
    check(
        pair,
        lambda c: fill(c, "s", 8),
        lambda c: c.xgroup_create("s", "g", id="0"),
        lambda c: c.xreadgroup("g", "alice", {"s": ">"}, count=6),
        lambda c: c.xautoclaim("s", "g", "bob", 0, count=2),
        lambda c: c.xautoclaim("s", "g", "bob", 0, start_id="3-0", count=2),
        lambda c: c.xautoclaim("s", "g", "bob", 0, start_id="(3-0", count=1),
        lambda c: c.xautoclaim("s", "g", "carol", 0, start_id="5-0", justid=True),
        lambda c: c.xautoclaim("s", "g", "carol", 100_000),
        lambda c: c.xdel("s", "2-0", "4-0"),
        lambda c: c.xautoclaim("s", "g", "dave", 0),
        lambda c: c.xpending("s", "g"),
        lambda c: calm(c.xpending_range("s", "g", "-", "+", 10)),
        lambda c: c.xautoclaim("s", "g", "dave", 0, start_id="99-0"),
        lambda c: c.xautoclaim("s", "g", "dave", 0, count=0),
        lambda c: c.xautoclaim("s", "g", "dave", 0, start_id="x"),
        lambda c: c.xautoclaim("s", "nogroup", "dave", 0),
        lambda c: c.xautoclaim("missing", "g", "dave", 0),
        lambda c: c.execute_command("XAUTOCLAIM", "s", "g", "dave", -1, "0"),
        # redis-py's own checks
        lambda c: c.xautoclaim("s", "g", "dave", -1),
        lambda c: c.xautoclaim("s", "g", "dave", 0, count=-1),
    )


# ---------------------------------------------------------------------------------------
# XINFO


def test_xinfo_like_redis(pair: Pair) -> None:
    def build(c: Any) -> None:
        c.xgroup_create("empty", "g", mkstream=True)
        fill(c, "s", 14, tag="x")
        c.xdel("s", "3-0")
        c.xgroup_create("s", "g1", id="0")
        c.xgroup_create("s", "g2", id="5-0")
        c.xreadgroup("g1", "alice", {"s": ">"}, count=12)
        c.xreadgroup("g1", "bob", {"s": ">"}, count=1)
        c.xgroup_createconsumer("s", "g1", "carol")
        c.xack("s", "g1", "1-0")

    steps = [
        build,
        lambda c: calm(c.xinfo_stream("s")),
        lambda c: calm(c.xinfo_stream("empty")),
        lambda c: calm(c.xinfo_stream("s", full=True)),
        lambda c: calm(c.xinfo_stream("empty", full=True)),
        lambda c: c.xinfo_groups("s"),
        lambda c: c.xinfo_groups("empty"),
        lambda c: calm(c.xinfo_consumers("s", "g1")),
        lambda c: c.xinfo_consumers("s", "g2"),
        lambda c: calm(c.execute_command("XINFO STREAM", "s", "FULL", "COUNT", 2, full=True)),
        lambda c: calm(c.execute_command("XINFO STREAM", "s", "FULL", "COUNT", 0, full=True))["entries"],
        lambda c: c.xinfo_stream("missing"),
        lambda c: c.xinfo_stream("missing", full=True),
        lambda c: c.xinfo_groups("missing"),
        lambda c: c.xinfo_consumers("missing", "g"),
        lambda c: calm(c.execute_command("XINFO STREAM", "s", "FULL", "COUNT", -1, full=True)),
        lambda c: c.execute_command("XINFO STREAM", "s", "COUNT", 1),
    ]
    check(pair, *steps)
    for fn in steps[1:9]:
        same_order(pair, fn)


def test_xinfo_stream_values(r: nestdb.Redis) -> None:
    """The documented shapes, spelled out (what the comparisons above hold the engine to)."""
    r.xadd("s", {"f": "v"}, id="1-0")
    r.xadd("s", {"f": "w", "g": "x"}, id="2-0")
    r.xgroup_create("s", "g", id="0")
    r.xreadgroup("g", "c", {"s": ">"}, count=1)
    raw = r.xinfo_stream("s")
    assert isinstance(raw["radix-tree-keys"], int) and isinstance(raw["radix-tree-nodes"], int)
    info = calm(raw)
    assert info == {
        "length": 2,
        "last-generated-id": b"2-0",
        "max-deleted-entry-id": b"0-0",
        "entries-added": 2,
        "recorded-first-entry-id": b"1-0",
        "groups": 1,
        "first-entry": (b"1-0", {b"f": b"v"}),
        "last-entry": (b"2-0", {b"f": b"w", b"g": b"x"}),
    }
    assert r.xpending("s", "g") == {"pending": 1, "min": b"1-0", "max": b"1-0", "consumers": [{"name": b"c", "pending": 1}]}
    assert calm(r.xpending_range("s", "g", "-", "+", 5)) == [
        {"message_id": b"1-0", "consumer": b"c", "time_since_delivered": "<ms>", "times_delivered": 1}
    ]
    assert r.xinfo_groups("s") == [
        {"name": b"g", "consumers": 1, "pending": 1, "last-delivered-id": b"1-0", "entries-read": 1, "lag": 1}
    ]
    assert calm(r.xinfo_consumers("s", "g")) == [{"name": b"c", "pending": 1, "idle": "<ms>"}]
    assert r.xread({"s": "1-0"}) == [[b"s", [(b"2-0", {b"f": b"w", b"g": b"x"})]]]
    assert r.xread({"s": "2-0"}) == []
    assert r.xgroup_create("s", "h") is True and r.xgroup_setid("s", "h", "0") is True
    assert r.xgroup_destroy("s", "h") is True and r.xgroup_destroy("s", "h") is False
    assert r.type("s") == b"stream"


# ---------------------------------------------------------------------------------------
# errors, redis-py's argument checks, pipelines


def test_errors_like_redis(pair: Pair) -> None:
    def build(c: Any) -> None:
        c.set("str", "x")
        c.rpush("list", "a")
        c.xadd("s", {"a": 1}, id="1-0")

    check(
        pair,
        build,
        lambda c: c.xadd("str", {"a": 1}),
        lambda c: c.xadd("list", {"a": 1}, nomkstream=True),
        lambda c: c.xrange("str"),
        lambda c: c.xrevrange("list"),
        lambda c: c.xlen("str"),
        lambda c: c.xdel("str", "1-0"),
        lambda c: c.xtrim("str", maxlen=0),
        lambda c: c.xread({"s": 0, "str": 0}),
        lambda c: c.xgroup_create("str", "g"),
        lambda c: c.xgroup_create("list", "g", mkstream=True),
        lambda c: c.xreadgroup("g", "c", {"str": ">"}),
        lambda c: c.xack("str", "g", "1-0"),
        lambda c: c.xpending("str", "g"),
        lambda c: c.xclaim("str", "g", "c", 0, ["1-0"]),
        lambda c: c.xautoclaim("str", "g", "c", 0),
        lambda c: c.xinfo_stream("str"),
        lambda c: c.xinfo_groups("list"),
        lambda c: c.get("s"),
        lambda c: c.lpush("s", "x"),
        lambda c: c.hset("s", "f", "v"),
        lambda c: (c.type("s"), c.type("str")),
        lambda c: c.execute_command("XGROUP", "NOSUCH", "s", "g"),
        lambda c: c.execute_command("XINFO", "NOSUCH", "s"),
        lambda c: c.execute_command("XLEN"),
        lambda c: c.execute_command("XADD", "s"),
    )


def test_redis_py_argument_checks_like_redis(pair: Pair) -> None:
    check(
        pair,
        lambda c: c.xadd("s", {"a": 1}, id="1-0"),
        lambda c: c.xadd("s", {}),
        lambda c: c.xadd("s", ["a", 1]),
        lambda c: c.xadd("s", {"a": 1}, maxlen="5"),
        lambda c: c.xadd("s", {"a": 1}, ref_policy="NOPE"),
        lambda c: c.xadd("s", {"a": 1}, ref_policy="KEEPREF"),
        lambda c: c.xtrim("s", maxlen=1, ref_policy="ACKED"),
        lambda c: c.xadd("s", {"a": 1}, idmpauto="p", idmp=("p", b"i")),
        lambda c: c.xadd("s", {"a": 1}, id="9-0", idmpauto="p"),
        lambda c: c.xrange("s", count=-1),
        lambda c: c.xrevrange("s", count="2"),
        lambda c: c.xread({"s": 0}, count=1, max_count=0),
        lambda c: c.xread({"s": 0}, count=2, max_count=1),
        lambda c: c.xread({"s": 0}, max_size=0),
        lambda c: c.xread([("s", 0)]),
        lambda c: c.xreadgroup("g", "c", {}),
        lambda c: c.xreadgroup("g", "c", {"s": ">"}, count=0),
        lambda c: c.xreadgroup("g", "c", {"s": ">"}, block=-5),
        lambda c: c.xreadgroup("g", "c", {"s": ">"}, claim_min_idle_time=-1),
        lambda c: c.xtrim("s"),
        lambda c: c.xtrim("s", maxlen=1, minid="1-0"),
        lambda c: c.xtrim("s", maxlen=1, ref_policy="NOPE"),
        lambda c: c.xpending_range("s", "g", None, None, None, idle=5),
        lambda c: c.xpending_range("s", "g", "-", None, 10),
        lambda c: c.xpending_range("s", "g", "-", "+", -1),
        lambda c: c.xpending_range("s", "g", "-", "+", 1, idle=-1),
        lambda c: c.xautoclaim("s", "g", "c", -3),
        lambda c: c.xautoclaim("s", "g", "c", 0, count=-3),
        lambda c: c.xclaim("s", "g", "c", "0", ["1-0"]),
        lambda c: c.xclaim("s", "g", "c", 0, ["1-0"], time=1.5),
        lambda c: c.xclaim("s", "g", "c", 0, ["1-0"], retrycount="1"),
        lambda c: c.xclaim("s", "g", "c", 0, ["1-0"], justid="yes"),
        lambda c: c.xlen("s"),
    )


def test_streams_in_pipelines_like_redis(pair: Pair) -> None:
    def run(c: Any, transaction: bool) -> Any:
        pipe = c.pipeline(transaction=transaction)
        pipe.xadd("s", {"a": 1}, id="1-0").xadd("s", {"a": 2}, id="2-0").xadd("s", {"a": 3}, id="2-0")
        pipe.xrange("s").xrevrange("s", count=1).xread({"s": 0, "t": 0}).xlen("s")
        pipe.xgroup_create("s", "g", id="0").xreadgroup("g", "c", {"s": ">"}, count=1)
        pipe.xpending("s", "g").xclaim("s", "g", "d", 0, ["1-0"], justid=True).xautoclaim("s", "g", "e", 0)
        pipe.xinfo_groups("s").xack("s", "g", "1-0").xgroup_destroy("s", "g")
        pipe.xread({"s": "1-0"}, block=0)  # data at hand: no wait
        pipe.xtrim("s", maxlen=0, approximate=False).xdel("s", "1-0")
        return pipe.execute(raise_on_error=False)

    check(pair, lambda c: run(c, True), lambda c: c.delete("s"), lambda c: run(c, False))


def test_blocking_reads_in_a_transaction_do_not_block_like_redis(pair: Pair) -> None:
    def run(c: Any) -> Any:
        c.xgroup_create("s", "g", mkstream=True)
        pipe = c.pipeline(transaction=True)
        pipe.xread({"s": "$"}, block=0).xreadgroup("g", "c", {"s": ">"}, block=0).xread({"none": 0}, block=0)
        return pipe.execute()

    t = time.monotonic()
    check(pair, run)
    assert time.monotonic() - t < 5


# ---------------------------------------------------------------------------------------
# blocking XREAD / XREADGROUP (nestdb: served from another thread; the timeouts also on redis)


def test_blocking_xread_is_served_by_an_xadd_from_another_thread(r: nestdb.Redis) -> None:
    r.xadd("s", {"old": 1}, id="1-0")
    t, out = in_thread(lambda: r.xread({"s": "$"}, block=10_000))
    wait_blocked(r)
    r.xadd("s", {"job": "one"}, id="2-0")
    t.join(10)
    assert out == {"value": [[b"s", [(b"2-0", {b"job": b"one"})]]]}
    assert r.info("clients")["blocked_clients"] == 0


def test_blocking_xread_of_several_streams_forever(rd: nestdb.Redis) -> None:
    t, out = in_thread(lambda: rd.xread({"a": "$", "b": "$"}, block=0, count=5))
    wait_blocked(rd)
    rd.xadd("other", {"x": 1}, id="1-0")
    time.sleep(0.05)
    assert t.is_alive() and out == {}
    rd.xadd("b", {"x": 2}, id="3-0")
    t.join(10)
    assert out == {"value": [["b", [("3-0", {"x": "2"})]]]}


def test_blocking_xread_with_data_at_hand_returns_at_once(r: nestdb.Redis, real: Any) -> None:
    for c in (r, real):
        fill(c, "s", 3)
    t = time.monotonic()
    assert r.xread({"s": "1-0"}, block=10_000) == real.xread({"s": "1-0"}, block=10_000)
    assert time.monotonic() - t < 5


def test_blocking_reads_time_out_like_redis(r: nestdb.Redis, real: Any) -> None:
    results = {}
    for name, c in (("nestdb", r), ("redis", real)):
        c.xadd("s", {"a": 1}, id="1-0")
        c.xgroup_create("s", "g", id="$")
        got = []
        for call in (
            lambda: c.xread({"s": "$"}, block=50),
            lambda: c.xread({"s": "1-0", "missing": "$"}, block=50, count=1),
            lambda: c.xreadgroup("g", "c", {"s": ">"}, block=50),
        ):
            t = time.monotonic()
            got.append(call())
            assert 0.045 <= time.monotonic() - t < 5, name
        results[name] = got
    assert results["nestdb"] == results["redis"] == [[], [], []]
    assert r.xinfo_groups("s") == real.xinfo_groups("s")
    assert r.info("clients")["blocked_clients"] == 0


def test_blocking_xreadgroup_is_served_by_an_xadd_from_another_thread(r: nestdb.Redis) -> None:
    r.xgroup_create("tasks", "workers", mkstream=True)
    t, out = in_thread(lambda: r.xreadgroup("workers", "w1", {"tasks": ">"}, block=10_000, count=10))
    wait_blocked(r)
    r.xadd("tasks", {"job": "a"}, id="1-0")
    t.join(10)
    assert out == {"value": [[b"tasks", [(b"1-0", {b"job": b"a"})]]]}
    assert r.xpending("tasks", "workers") == {"pending": 1, "min": b"1-0", "max": b"1-0", "consumers": [{"name": b"w1", "pending": 1}]}
    assert [c["name"] for c in r.xinfo_consumers("tasks", "workers")] == [b"w1"]


def test_two_blocked_group_readers_each_get_a_different_entry(r: nestdb.Redis) -> None:
    r.xgroup_create("tasks", "workers", mkstream=True)
    t1, out1 = in_thread(lambda: r.xreadgroup("workers", "w1", {"tasks": ">"}, block=10_000, count=1))
    wait_blocked(r, 1)
    t2, out2 = in_thread(lambda: r.xreadgroup("workers", "w2", {"tasks": ">"}, block=10_000, count=1))
    wait_blocked(r, 2)
    r.xadd("tasks", {"job": "a"}, id="1-0")
    r.xadd("tasks", {"job": "b"}, id="2-0")
    t1.join(10)
    t2.join(10)
    got = sorted(o["value"][0][1][0][0] for o in (out1, out2))
    assert got == [b"1-0", b"2-0"]
    assert r.xpending("tasks", "workers")["pending"] == 2


# ---------------------------------------------------------------------------------------
# the guide: a task queue with a consumer group


def task_queue(c: Any) -> List[Any]:
    """Producers add tasks; two workers share them through the ``workers`` group; worker-b
    dies holding two tasks, which worker-a reclaims with XAUTOCLAIM once they have been idle
    for 50 ms. Returns what each step saw (jobs by name, so the two runs compare)."""
    log: List[Any] = []
    c.xgroup_create("tasks", "workers", id="$", mkstream=True)
    for n in range(6):
        c.xadd("tasks", {"job": f"resize:{n}", "size": 64 * (n + 1)}, maxlen=1000)

    def jobs(reply: Any) -> List[str]:
        return [text(fields[b"job"]) for _, fields in reply[0][1]] if reply else []

    # each worker takes two tasks
    a = c.xreadgroup("workers", "worker-a", {"tasks": ">"}, count=2, block=1000)
    b = c.xreadgroup("workers", "worker-b", {"tasks": ">"}, count=2, block=1000)
    log += [jobs(a), jobs(b)]
    # worker-a does its work and acknowledges it; worker-b crashes
    log.append(c.xack("tasks", "workers", *[entry_id for entry_id, _ in a[0][1]]))
    p = c.xpending("tasks", "workers")
    log.append((p["pending"], [(text(x["name"]), x["pending"]) for x in p["consumers"]]))
    # nothing has been idle long enough yet
    log.append(c.xautoclaim("tasks", "workers", "worker-a", min_idle_time=60_000)[1])
    time.sleep(0.1)
    # worker-a takes over what has been pending for more than 50 ms
    next_id, claimed, deleted = c.xautoclaim("tasks", "workers", "worker-a", min_idle_time=50, count=10)
    log.append((text(next_id), [text(f[b"job"]) for _, f in claimed], deleted))
    log.append([x["times_delivered"] for x in c.xpending_range("tasks", "workers", "-", "+", 10)])
    log.append(c.xack("tasks", "workers", *[entry_id for entry_id, _ in claimed]))
    # worker-a carries on with the rest of the queue
    rest = c.xreadgroup("workers", "worker-a", {"tasks": ">"}, count=10)
    log.append(jobs(rest))
    log.append(c.xack("tasks", "workers", *[entry_id for entry_id, _ in rest[0][1]]))
    log.append(c.xreadgroup("workers", "worker-a", {"tasks": ">"}, count=10, block=20))
    log.append(c.xpending("tasks", "workers"))
    # the dead worker holds nothing any more and can go
    log.append(c.xgroup_delconsumer("tasks", "workers", "worker-b"))
    log.append(
        [
            {k: v for k, v in g.items() if k != "last-delivered-id"}
            for g in c.xinfo_groups("tasks")
        ]
    )
    # processed tasks can be trimmed away
    log.append(c.xtrim("tasks", maxlen=0, approximate=False))
    log.append(c.xlen("tasks"))
    return log


def test_task_queue_with_a_consumer_group(r: nestdb.Redis, real: Any) -> None:
    ours = task_queue(r)
    assert ours == task_queue(real)
    assert ours[:2] == [["resize:0", "resize:1"], ["resize:2", "resize:3"]]
    assert ours[3] == (2, [("worker-b", 2)])
    assert ours[4] == []
    assert ours[5] == ("0-0", ["resize:2", "resize:3"], [])
    assert ours[6] == [2, 2]
    assert ours[8] == ["resize:4", "resize:5"]
    assert ours[11] == {"pending": 0, "min": None, "max": None, "consumers": []}
    assert ours[12] == 0
    assert ours[13] == [{"name": b"workers", "consumers": 1, "pending": 0, "entries-read": 6, "lag": 0}]
