"""Edge cases of the Redis command set, differential: the same redis-py calls run on a real
redis-server (7.0, the ``redis_server`` fixture, flushed first) and on a fresh
``nestdb.Redis()``; every step's value (Python type included) or raised error (class and
message text) must match.

Complements test_conf_redispy.py (redis-py argument handling and callbacks) and
test_differential.py (random sequences) with focused corners: option conflicts and their
error texts, number formatting, odd ranges, encoding transitions, glob patterns, MULTI/EXEC
error handling. Known differences are kept as strict xfails, so a fix shows up as XPASS.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Iterator, List, Tuple

import pytest
import redis

import nestdb

from conftest import outcome

RE = redis.exceptions


@pytest.fixture
def pair(redis_server) -> Iterator[Tuple[Any, Any]]:
    theirs = redis.Redis(port=redis_server.port)
    theirs.flushall()
    # the defaults of both (other test files may have changed the shared server's config)
    theirs.config_set("hash-max-listpack-value", "64", "hash-max-listpack-entries", "512")
    theirs.config_set("zset-max-listpack-value", "64", "zset-max-listpack-entries", "128")
    theirs.config_set("set-max-intset-entries", "512", "list-max-listpack-size", "-2")
    ours = nestdb.Redis()
    yield ours, theirs
    theirs.close()
    ours.close()


def check(pair, *fns: Callable) -> List[Any]:
    ours, theirs = pair
    a = [outcome(ours, fn) for fn in fns]
    b = [outcome(theirs, fn) for fn in fns]
    for n, (x, y) in enumerate(zip(a, b)):
        assert x == y, f"step {n}:\n  nestdb: {x!r}\n  redis:  {y!r}"
    return a


def X(*args):
    """A raw command (no redis-py client-side validation)."""
    return lambda c: c.execute_command(*args)


def full_scan(c, **kw):
    cursor, seen = 0, []
    while True:
        cursor, page = c.scan(cursor, **kw)
        seen.extend(page)
        if cursor == 0:
            return sorted(seen)


# =======================================================================================
# strings


def test_set_nx_get_and_xx_get(pair):
    check(
        pair,
        lambda c: c.set("k", "v1", nx=True, get=True),
        lambda c: c.get("k"),
        lambda c: c.set("k", "v2", nx=True, get=True),
        lambda c: c.get("k"),
        lambda c: c.set("k", "v3", xx=True, get=True),
        lambda c: c.set("m", "v3", xx=True, get=True),
        lambda c: c.exists("m"),
        lambda c: c.rpush("l", "a"),
        lambda c: c.set("l", "x", get=True),
        lambda c: c.set("l", "x", nx=True, get=True),
        lambda c: c.type("l"),
    )


def test_set_option_conflicts_raw(pair):
    check(
        pair,
        X("SET", "k", "v", "EX", "10", "PX", "100"),
        X("SET", "k", "v", "NX", "XX"),
        X("SET", "k", "v", "EX", "10", "KEEPTTL"),
        X("SET", "k", "v", "EX", "10", "EX", "10"),
        X("SET", "k", "v", "NX", "NX"),
        X("SET", "k", "v", "EXAT", "100", "PXAT", "100"),
        X("SET", "k", "v", "EX"),
        X("SET", "k", "v", "EX", "0"),
        X("SET", "k", "v", "PX", "-1"),
        X("SET", "k", "v", "EX", "9223372036854775807"),
        X("SET", "k", "v", "PX", "9223372036854775807"),
        X("SET", "k", "v", "EXAT", "0"),
        X("SET", "k", "v", "BOGUS"),
        X("SET", "k", "v", "GET", "GET"),
        X("SET", "k"),
        X("EXISTS", "k"),
    )


def test_set_exat_pxat_in_the_past(pair):
    check(
        pair,
        lambda c: c.set("k", "v"),
        lambda c: c.set("k", "w", exat=1),
        lambda c: c.exists("k"),
        lambda c: c.set("k", "v"),
        lambda c: c.set("k", "w", pxat=1000, get=True),
        lambda c: c.get("k"),
        lambda c: c.set("k", "w", exat=1, nx=True),
        lambda c: c.exists("k"),
    )


def test_set_keepttl_on_missing_and_get(pair):
    check(
        pair,
        lambda c: c.set("k", "v", keepttl=True),
        lambda c: c.ttl("k"),
        lambda c: c.set("k", "v", ex=100),
        lambda c: c.set("k", "w", keepttl=True, get=True),
        lambda c: c.ttl("k"),
        lambda c: c.set("k", "x", xx=True, get=True),
        lambda c: c.ttl("k"),
    )


def test_getex_edges(pair):
    check(
        pair,
        lambda c: c.set("k", "v", ex=100),
        lambda c: c.getex("k", persist=True),
        lambda c: c.ttl("k"),
        lambda c: c.getex("k", ex=50),
        lambda c: c.ttl("k"),
        lambda c: c.getex("k", px=0),
        X("GETEX", "k", "EX", "0"),
        X("GETEX", "k", "EX", "-1"),
        X("GETEX", "k", "EX", "10", "PX", "100"),
        X("GETEX", "k", "PERSIST", "EX", "10"),
        X("GETEX", "k", "EX", "10", "PERSIST"),
        X("GETEX", "k", "KEEPTTL"),
        X("GETEX", "k", "BOGUS"),
        X("GETEX", "k", "EXAT", "1"),
        lambda c: c.exists("k"),
        lambda c: c.getex("missing", ex=10),
        X("GETEX", "missing", "BOGUS"),
        lambda c: c.rpush("l", "a"),
        lambda c: c.getex("l", persist=True),
    )


def test_getdel_edges(pair):
    check(
        pair,
        lambda c: c.getdel("missing"),
        lambda c: c.set("k", "v", ex=100),
        lambda c: c.getdel("k"),
        lambda c: c.exists("k"),
        lambda c: c.sadd("s", "a"),
        lambda c: c.getdel("s"),
        lambda c: c.exists("s"),
    )


@pytest.mark.parametrize(
    "start,incr",
    [
        ("10.5", "0.1"),
        ("3.0e3", "0"),
        ("3.0e3", "1.5"),
        ("0", "1e300"),
        ("0", "1e-5"),
        ("0", "0.1"),
        ("0.1", "0.2"),
        ("5", "-5"),
        ("1", "-0.0"),
        ("-0", "0"),
        ("0", "123456789012345678901234567890"),
        ("1.7976931348623157e308", "1.7976931348623157e308"),
        ("0", "inf"),
        ("0", "nan"),
        ("0", "abc"),
        ("abc", "1"),
        (" 1", "1"),
        ("1 ", "1"),
        ("", "1"),
        ("0x10", "1"),
        ("1e", "1"),
        ("0", ".5"),
        ("0", "5."),
        ("0", "+1"),
        ("0", "1e1000"),
        ("9223372036854775807", "1"),
        ("2", "1e17"),
        ("0", "0.000001"),
        ("0", "1e-20"),
        ("100", "-0.0001"),
    ],
)
def test_incrbyfloat_formatting(pair, start, incr):
    check(
        pair,
        lambda c: c.set("k", start),
        X("INCRBYFLOAT", "k", incr),
        lambda c: c.get("k"),
        X("INCRBYFLOAT", "missing", incr),
    )


@pytest.mark.parametrize("value", [" 1", "1 ", "01", "+1", "-0", "1.0", "", "9223372036854775807", "-9223372036854775808", "00", "-01", "1e3", "18446744073709551615"])
def test_incr_parse_edges(pair, value):
    check(
        pair,
        lambda c: c.set("k", value),
        lambda c: c.incr("k"),
        lambda c: c.get("k"),
        lambda c: c.decr("k"),
        lambda c: c.get("k"),
    )


def test_incrby_overflow_and_arg_parsing(pair):
    check(
        pair,
        lambda c: c.set("k", "9223372036854775800"),
        lambda c: c.incrby("k", 7),
        lambda c: c.incrby("k", 1),
        lambda c: c.set("n", "-9223372036854775807"),
        lambda c: c.decrby("n", 1),
        lambda c: c.decrby("n", 1),
        X("DECRBY", "x", "-9223372036854775808"),
        X("INCRBY", "x", "9223372036854775808"),
        X("INCRBY", "x", " 1"),
        X("INCRBY", "x", "01"),
        X("INCRBY", "x", "+5"),
        X("INCRBY", "x", "-0"),
        lambda c: c.get("x"),
    )


def test_setrange_edges(pair):
    check(
        pair,
        X("SETRANGE", "k", "-1", "x"),
        X("SETRANGE", "k", "536870912", "x"),
        X("SETRANGE", "k", "536870911", ""),
        X("SETRANGE", "missing", "10", ""),
        lambda c: c.exists("missing"),
        lambda c: c.setrange("k", 3, "ab"),
        lambda c: c.get("k"),
        lambda c: c.set("e", ""),
        X("SETRANGE", "e", "5", ""),
        lambda c: c.get("e"),
        lambda c: c.setrange("k", 0, ""),
        lambda c: c.set("n", 12345),
        lambda c: c.setrange("n", 1, "9"),
        lambda c: c.get("n"),
        X("SETRANGE", "k", "abc", "x"),
        lambda c: c.rpush("l", "a"),
        X("SETRANGE", "l", "0", ""),
        X("SETRANGE", "l", "-1", "x"),
    )


@pytest.mark.parametrize(
    "start,end",
    [(0, -1), (-3, -1), (-100, 2), (5, 3), (-1, -5), (3, 100), (100, 200), (-100, -50), (0, 0), (-1, -1), (9, 9), (10, 10), (2, -8)],
)
def test_getrange_ranges(pair, start, end):
    check(
        pair,
        lambda c: c.set("k", "0123456789"),
        lambda c: c.getrange("k", start, end),
        lambda c: c.getrange("missing", start, end),
    )


def test_getrange_errors_and_ints(pair):
    check(
        pair,
        lambda c: c.set("n", 12345),
        lambda c: c.getrange("n", 1, 2),
        lambda c: c.set("e", ""),
        lambda c: c.getrange("e", 0, -1),
        X("GETRANGE", "n", "a", "1"),
        X("SUBSTR", "n", "0", "1"),
        lambda c: c.rpush("l", "a"),
        lambda c: c.getrange("l", 0, 1),
    )


def test_append_strlen_on_ints(pair):
    check(
        pair,
        lambda c: c.set("n", 100),
        lambda c: c.strlen("n"),
        lambda c: c.append("n", 5),
        lambda c: c.get("n"),
        lambda c: c.incr("n"),
        lambda c: c.strlen("n"),
        lambda c: c.set("neg", -12),
        lambda c: c.strlen("neg"),
        lambda c: c.strlen("missing"),
        lambda c: c.append("new", ""),
        lambda c: c.exists("new"),
        lambda c: c.get("new"),
        lambda c: c.incrbyfloat("f", 1.5),
        lambda c: c.strlen("f"),
        lambda c: c.hset("h", "a", "b"),
        lambda c: c.strlen("h"),
        lambda c: c.append("h", "x"),
    )


def test_msetnx_and_mset_edges(pair):
    check(
        pair,
        lambda c: c.msetnx({"a": 1, "b": 2}),
        lambda c: c.msetnx({"b": 3, "c": 4}),
        lambda c: c.mget("a", "b", "c"),
        X("MSETNX", "x", "1", "x", "2"),
        lambda c: c.get("x"),
        X("MSET", "y", "1", "y", "2"),
        lambda c: c.get("y"),
        X("MSET", "y", "1", "z"),
        X("MSETNX", "y"),
        lambda c: c.rpush("l", "a"),
        lambda c: c.msetnx({"l": 1, "q": 2}),
        lambda c: c.mget("l", "q", "missing"),
    )


def test_setnx_setex_edges(pair):
    check(
        pair,
        X("SETEX", "k", "0", "v"),
        X("SETEX", "k", "-10", "v"),
        X("SETEX", "k", "abc", "v"),
        X("PSETEX", "k", "0", "v"),
        X("SETEX", "k", "9223372036854775807", "v"),
        lambda c: c.exists("k"),
        lambda c: c.rpush("l", "a"),
        lambda c: c.setnx("l", "v"),
        lambda c: c.setex("l", 100, "v"),
        lambda c: c.type("l"),
    )


# =======================================================================================
# keys


def test_expire_option_combos(pair):
    check(
        pair,
        lambda c: c.set("k", "v"),
        X("EXPIRE", "k", "100", "NX", "XX"),
        X("EXPIRE", "k", "100", "GT", "LT"),
        X("EXPIRE", "k", "100", "NX", "GT"),
        X("EXPIRE", "k", "100", "NX", "LT"),
        X("EXPIRE", "k", "100", "XX", "GT"),
        X("EXPIRE", "k", "100", "bogus"),
        X("EXPIRE", "k", "100", "nx"),
        lambda c: c.ttl("k"),
        X("EXPIRE", "k", "200", "XX", "GT"),
        lambda c: c.ttl("k"),
        X("EXPIRE", "k", "50", "XX", "LT"),
        lambda c: c.ttl("k"),
        X("EXPIRE", "k", "60", "GT", "GT"),
        X("EXPIRE", "k", "abc"),
        X("EXPIRE", "k", "1.5"),
        X("PEXPIRE", "k", "9223372036854775807"),
        X("EXPIRE", "k", "9223372036854775807"),
        X("EXPIRE", "k", "-9223372036854775808"),
        X("PEXPIREAT", "k", "9223372036854775807"),
        lambda c: c.ttl("k"),
    )


def test_expire_gt_lt_without_ttl_and_negative(pair):
    check(
        pair,
        lambda c: c.set("k", "v"),
        X("EXPIRE", "k", "-5", "GT"),
        lambda c: c.ttl("k"),
        X("EXPIRE", "k", "-5", "LT"),
        lambda c: c.exists("k"),
        lambda c: c.set("k", "v"),
        X("EXPIRE", "k", "-5", "XX"),
        lambda c: c.exists("k"),
        X("EXPIRE", "k", "-5", "NX"),
        lambda c: c.exists("k"),
        lambda c: c.set("k", "v", ex=100),
        X("EXPIRE", "k", "-5", "GT"),
        lambda c: c.ttl("k"),
        X("PEXPIRE", "k", "-5", "LT"),
        lambda c: c.exists("k"),
        X("EXPIRE", "missing", "-5"),
        X("EXPIRE", "missing", "10", "GT"),
    )


def test_expiretime_codes(pair):
    ts = int(time.time()) + 1000
    check(
        pair,
        lambda c: [c.expiretime("missing"), c.pexpiretime("missing"), c.ttl("missing"), c.pttl("missing")],
        lambda c: c.set("k", "v"),
        lambda c: [c.expiretime("k"), c.pexpiretime("k"), c.ttl("k"), c.pttl("k")],
        lambda c: c.pexpireat("k", ts * 1000 + 999),
        lambda c: [c.expiretime("k"), c.pexpiretime("k")],
        lambda c: c.persist("k"),
        lambda c: c.persist("k"),
        lambda c: c.expiretime("k"),
    )


def test_copy_edges(pair):
    check(
        pair,
        lambda c: c.set("s", "v"),
        lambda c: c.copy("s", "s"),
        lambda c: c.copy("s", "s", replace=True),
        X("COPY", "s", "d", "REPLACE", "REPLACE"),
        X("COPY", "s", "d2", "BOGUS"),
        X("COPY", "s", "d3", "DB", "0"),
        X("COPY", "s", "d4", "DB", "abc"),
        lambda c: sorted(c.keys()),
        lambda c: c.zadd("z", {"a": 1.5}),
        lambda c: c.copy("z", "s", replace=True),
        lambda c: c.zrange("s", 0, -1, withscores=True),
        lambda c: c.hset("h", "f", "v"),
        lambda c: c.copy("h", "h2"),
        lambda c: c.hset("h", "f", "changed"),
        lambda c: c.hget("h2", "f"),
    )


def test_rename_edges(pair):
    check(
        pair,
        lambda c: c.set("a", "1", ex=100),
        lambda c: c.rename("a", "a"),
        lambda c: c.ttl("a"),
        lambda c: c.renamenx("a", "a"),
        lambda c: c.rename("missing", "missing"),
        lambda c: c.renamenx("missing", "missing"),
        lambda c: c.rpush("l", "x"),
        lambda c: c.rename("a", "l"),
        lambda c: c.type("l"),
        lambda c: c.ttl("l"),
        lambda c: c.set("b", "2"),
        lambda c: c.renamenx("l", "b"),
        lambda c: c.renamenx("l", "c"),
        lambda c: sorted(c.keys()),
    )


def test_exists_del_touch_repeated_keys(pair):
    check(
        pair,
        lambda c: c.set("a", 1),
        lambda c: c.exists("a", "a", "a", "missing"),
        lambda c: c.touch("a", "a", "missing"),
        lambda c: c.delete("a", "a", "missing"),
        lambda c: c.set("b", 1),
        lambda c: c.unlink("b", "b"),
        X("DEL"),
        X("EXISTS"),
    )


def test_type_and_object_errors(pair):
    check(
        pair,
        lambda c: c.type("missing"),
        X("OBJECT", "ENCODING"),
        X("OBJECT", "ENCODING", "missing"),
        X("OBJECT", "ENCODING", "a", "b"),
        X("TYPE"),
    )


def test_object_encoding_strings(pair):
    check(
        pair,
        lambda c: c.set("a", "12345"),
        lambda c: c.set("b", "-12345"),
        lambda c: c.set("c", "012"),
        lambda c: c.set("d", " 12"),
        lambda c: c.set("e", "9223372036854775807"),
        lambda c: c.set("f", "9223372036854775808"),
        lambda c: c.set("g", "1.5"),
        lambda c: c.set("h", ""),
        lambda c: c.set("i", "-0"),
        lambda c: c.set("j", "x" * 44),
        lambda c: c.set("k", "x" * 45),
        lambda c: c.set("n", "10"),
        lambda c: c.incr("n"),
        lambda c: c.set("m", "1" * 21),
        lambda c: [c.object("encoding", k) for k in "abcdefghijkmn"],
    )


def test_object_encoding_hash_transitions(pair):
    check(
        pair,
        lambda c: c.hset("h", "f", "x" * 64),
        lambda c: c.object("encoding", "h"),
        lambda c: c.hset("h", "g", "x" * 65),
        lambda c: c.object("encoding", "h"),
        lambda c: c.hdel("h", "g"),
        lambda c: c.object("encoding", "h"),
        lambda c: c.hset("k", "x" * 65, "v"),
        lambda c: c.object("encoding", "k"),
        lambda c: c.hset("n", mapping={f"f{i}": i for i in range(512)}),
        lambda c: c.object("encoding", "n"),
        lambda c: c.hset("n", "one-more", 1),
        lambda c: c.object("encoding", "n"),
        lambda c: c.hgetall("k"),
        lambda c: c.hincrbyfloat("h", "num", 1.5),
        lambda c: c.hget("h", "num"),
    )


def test_object_encoding_zset_transitions(pair):
    check(
        pair,
        lambda c: c.zadd("z", {"a": 1}),
        lambda c: c.object("encoding", "z"),
        lambda c: c.zadd("z", {"x" * 65: 2}),
        lambda c: c.object("encoding", "z"),
        lambda c: c.zadd("y", {f"m{i}": i for i in range(128)}),
        lambda c: c.object("encoding", "y"),
        lambda c: c.zadd("y", {"extra": 1}),
        lambda c: c.object("encoding", "y"),
        lambda c: c.zadd("w", {"x" * 64: 1}),
        lambda c: c.object("encoding", "w"),
    )


def test_object_encoding_intset_to_hashtable(pair):
    # redis 7.0: intset -> hashtable (no listpack sets before 7.2), so only compare sets
    # that are intset or large enough to be a hashtable in every version
    check(
        pair,
        lambda c: c.sadd("s", *range(512)),
        lambda c: c.object("encoding", "s"),
        lambda c: c.sadd("s", 512),
        lambda c: c.object("encoding", "s"),
        lambda c: c.sadd("i", "1", "-5", "9223372036854775807"),
        lambda c: c.object("encoding", "i"),
        lambda c: c.sadd("j", "01"),
        lambda c: c.sadd("t", *[f"m{i}" for i in range(200)]),
        lambda c: c.object("encoding", "t"),
    )


def test_keys_glob_patterns(pair):
    names = ["a", "b", "c", "ab", "abc", "a*c", "a?c", "a[c", "a\\c", "xyz", "h.llo", "hello", "hallo", "hillo", "hbllo", "", "*", "[", "]"]
    patterns = [
        "*", "a*", "?", "??", "[abc]", "[^a]", "[!a]", "[a-c]", "[c-a]", "a\\*c", "a\\?c", "a[*]c", "a\\[c", "a\\\\c", "a[\\\\]c",
        "h[ae]llo", "h[^e]llo", "h[a-b]llo", "h?llo", "h*llo", "*llo", "[", "[a", "a[", "\\", "*\\", "[]", "[]]", "[^]", "a**", "***", "h[a-]llo", "[-]",
        "", "*[", "[*", "a[b-", "\\a",
    ]

    def setup(c):
        c.mset({n: 1 for n in names})

    steps = [setup] + [(lambda pat: (lambda c: (pat, sorted(c.keys(pat)))))(pat) for pat in patterns]
    check(pair, *steps)


def test_scan_match_count_type(pair):
    def fill(c):
        c.mset({f"s:{i}": i for i in range(40)})
        for i in range(5):
            c.rpush(f"l:{i}", "a")
            c.sadd(f"set:{i}", "a")
            c.hset(f"h:{i}", "f", "v")
            c.zadd(f"z:{i}", {"a": 1})

    check(
        pair,
        fill,
        lambda c: full_scan(c, count=1),
        lambda c: full_scan(c, match="s:1?", count=3),
        lambda c: full_scan(c, _type="zset"),
        lambda c: full_scan(c, _type="hash", match="h:[0-2]"),
        lambda c: full_scan(c, _type="nosuchtype"),
        lambda c: full_scan(c, match="*", count=1000),
        X("SCAN", "0", "COUNT", "0"),
        X("SCAN", "0", "COUNT", "-1"),
        X("SCAN", "abc"),
        X("SCAN", "0", "MATCH"),
        X("SCAN", "0", "BOGUS", "x"),
        X("SCAN", "18446744073709551616"),
    )


# =======================================================================================
# lists


def test_lpos_edges(pair):
    check(
        pair,
        lambda c: c.rpush("l", "a", "b", "a", "c", "a"),
        X("LPOS", "l", "a", "RANK", "0"),
        X("LPOS", "l", "a", "RANK", "-1", "COUNT", "0"),
        X("LPOS", "l", "a", "RANK", "-2", "COUNT", "0"),
        X("LPOS", "l", "a", "COUNT", "0", "MAXLEN", "3"),
        X("LPOS", "l", "a", "RANK", "-1", "MAXLEN", "2"),
        X("LPOS", "l", "a", "MAXLEN", "0"),
        X("LPOS", "l", "a", "COUNT", "-1"),
        X("LPOS", "l", "a", "MAXLEN", "-1"),
        X("LPOS", "l", "a", "COUNT"),
        X("LPOS", "l", "a", "BOGUS", "1"),
        X("LPOS", "l", "a", "RANK", "abc"),
        X("LPOS", "l", "a", "RANK", "4"),
        X("LPOS", "l", "a", "RANK", "3", "COUNT", "5"),
        X("LPOS", "missing", "a", "COUNT", "0"),
        X("LPOS", "missing", "a", "RANK", "0"),
    )


def test_linsert_lset_edges(pair):
    check(
        pair,
        lambda c: c.rpush("l", "a", "b", "a"),
        lambda c: c.linsert("l", "AFTER", "a", "x"),
        lambda c: c.linsert("l", "BEFORE", "zz", "y"),
        lambda c: c.linsert("missing", "BEFORE", "zz", "y"),
        X("LINSERT", "missing", "MIDDLE", "zz", "y"),
        lambda c: c.lrange("l", 0, -1),
        lambda c: c.lset("l", -1, "last"),
        lambda c: c.lset("l", -5, "first"),
        lambda c: c.lset("l", 4, "x"),
        lambda c: c.lset("l", -6, "x"),
        X("LSET", "l", "abc", "x"),
        lambda c: c.lrange("l", 0, -1),
        lambda c: c.set("s", "v"),
        lambda c: c.lset("s", 0, "x"),
        lambda c: c.linsert("s", "BEFORE", "a", "x"),
    )


@pytest.mark.parametrize(
    "start,stop",
    [(0, -1), (-100, 100), (2, 1), (-1, -2), (-2, -1), (5, 10), (4, 4), (-5, -5), (-6, 0), (0, -6), (3, -3), (1, -100)],
)
def test_lrange_ltrim_ranges(pair, start, stop):
    check(
        pair,
        lambda c: c.rpush("l", "a", "b", "c", "d", "e"),
        lambda c: c.lrange("l", start, stop),
        lambda c: c.ltrim("l", start, stop),
        lambda c: c.lrange("l", 0, -1),
        lambda c: c.exists("l"),
    )


def test_lpop_rpop_count_edges(pair):
    check(
        pair,
        lambda c: c.lpop("missing"),
        lambda c: c.lpop("missing", 0),
        lambda c: c.rpop("missing", 1),
        X("LPOP", "missing", "0"),
        X("RPOP", "missing", "-1"),
        X("LPOP", "missing", "abc"),
        lambda c: c.rpush("l", "a", "b", "c"),
        lambda c: c.lpop("l", 0),
        lambda c: c.rpop("l", 0),
        X("LPOP", "l", "-1"),
        X("LPOP", "l", "1", "2"),
        lambda c: c.rpop("l", 2),
        lambda c: c.lpop("l", 5),
        lambda c: c.exists("l"),
        lambda c: c.set("s", "v"),
        lambda c: c.lpop("s", 0),
        lambda c: c.lpop("s"),
    )


def test_lmove_rotation_and_lrem(pair):
    check(
        pair,
        lambda c: c.rpush("l", "1", "2", "3", "2", "1", "2"),
        lambda c: c.lmove("l", "l", "LEFT", "RIGHT"),
        lambda c: c.lmove("l", "l", "RIGHT", "LEFT"),
        lambda c: c.lmove("l", "l", "LEFT", "LEFT"),
        lambda c: c.lmove("l", "l", "RIGHT", "RIGHT"),
        lambda c: c.lrange("l", 0, -1),
        lambda c: c.rpoplpush("l", "l"),
        lambda c: c.lrange("l", 0, -1),
        lambda c: c.lrem("l", -2, "2"),
        lambda c: c.lrange("l", 0, -1),
        lambda c: c.lrem("l", 1, "1"),
        lambda c: c.lrem("l", 0, "1"),
        lambda c: c.lrange("l", 0, -1),
        lambda c: c.lrem("missing", 0, "x"),
        X("LREM", "l", "abc", "x"),
        lambda c: c.lrem("l", -100, "3"),
        lambda c: c.lrange("l", 0, -1),
        lambda c: c.exists("l"),
    )


def test_list_misc_errors(pair):
    check(
        pair,
        X("LRANGE", "l", "a", "1"),
        X("LTRIM", "l", "0", "x"),
        X("LINDEX", "l", "x"),
        X("LPUSH", "l"),
        X("LMOVE", "a", "b", "LEFT"),
        X("LMOVE", "a", "b", "left", "right"),
        X("LMOVE", "a", "b", "UP", "DOWN"),
        lambda c: c.rpush("l", 1),
        X("LMOVE", "l", "l", "UP", "DOWN"),
        X("LMPOP", "0", "l", "LEFT"),
        X("LMPOP", "1", "l", "LEFT", "COUNT", "0"),
        X("LMPOP", "1", "l", "MIDDLE"),
        X("LMPOP", "2", "l", "LEFT"),
        X("LMPOP", "1", "l", "LEFT", "COUNT", "1", "COUNT", "2"),
        X("LMPOP", "1", "l", "LEFT", "COUNT", "10"),
    )


# =======================================================================================
# hashes


@pytest.mark.parametrize(
    "start,incr",
    [("10.5", "0.1"), ("3.0e3", "0"), ("0", "1e-5"), ("0.1", "0.2"), ("5", "-5"), ("1", "inf"), ("0", "nan"), ("1.7976931348623157e308", "1.7976931348623157e308"), (" 1", "1"), ("x", "1"), ("1", "x"), ("0", "1e20"), ("0", "-0.0")],
)
def test_hincrbyfloat_formatting(pair, start, incr):
    check(
        pair,
        lambda c: c.hset("h", "f", start),
        X("HINCRBYFLOAT", "h", "f", incr),
        lambda c: c.hget("h", "f"),
        X("HINCRBYFLOAT", "h", "new", incr),
        lambda c: c.hget("h", "new"),
    )


def test_hincrby_edges(pair):
    check(
        pair,
        lambda c: c.hset("h", mapping={"s": "abc", "f": "1.5", "sp": " 1", "big": "9223372036854775807", "e": ""}),
        lambda c: c.hincrby("h", "s", 1),
        lambda c: c.hincrby("h", "f", 1),
        lambda c: c.hincrby("h", "sp", 1),
        lambda c: c.hincrby("h", "big", 1),
        lambda c: c.hincrby("h", "big", -1),
        lambda c: c.hincrby("h", "e", 1),
        X("HINCRBY", "h", "n", "1.5"),
        X("HINCRBY", "h", "n", "x"),
        X("HINCRBY", "h", "n", "9223372036854775808"),
        lambda c: c.hincrby("h", "n", -9223372036854775807),
        lambda c: c.hincrby("h", "n", -1),
        lambda c: c.hincrby("h", "n", -1),
        lambda c: c.hget("h", "n"),
    )


def test_hsetnx_hstrlen_hset_errors(pair):
    check(
        pair,
        lambda c: c.hsetnx("h", "f", "v"),
        lambda c: c.hsetnx("h", "f", "w"),
        lambda c: c.hget("h", "f"),
        lambda c: c.hset("h", "n", 12345),
        lambda c: c.hstrlen("h", "n"),
        lambda c: c.hstrlen("missing", "n"),
        lambda c: c.hincrbyfloat("h", "fl", 0.5),
        lambda c: c.hstrlen("h", "fl"),
        X("HSET", "h", "a"),
        X("HSET", "h", "a", "1", "b"),
        X("HMSET", "h", "a"),
        X("HSET", "h"),
        X("HSETNX", "h", "a"),
        X("HSET", "h", "a", "1", "a", "2"),
        lambda c: c.hget("h", "a"),
        lambda c: c.set("s", "v"),
        lambda c: c.hsetnx("s", "f", "v"),
        lambda c: c.hstrlen("s", "f"),
    )


def test_hrandfield_counts(pair):
    check(
        pair,
        lambda c: c.hset("h", mapping={"a": 1, "b": 2, "c": 3}),
        lambda c: len(c.hrandfield("h", 2)),
        lambda c: len(set(c.hrandfield("h", 3))),
        lambda c: sorted(c.hrandfield("h", 100)),
        lambda c: len(c.hrandfield("h", -10)),
        lambda c: len(c.hrandfield("h", -10, withvalues=True)),
        lambda c: len(c.hrandfield("h", -1)),
        lambda c: sorted(c.hrandfield("h", 10, withvalues=True)),
        X("HRANDFIELD", "h", "1", "WITHVALUES", "x"),
        X("HRANDFIELD", "h", "abc"),
        X("HRANDFIELD", "h", "1", "BOGUS"),
        X("HRANDFIELD", "missing", "-5"),
        X("HRANDFIELD", "missing", "-5", "WITHVALUES"),
        X("HRANDFIELD", "h", "-9223372036854775808"),
        X("HRANDFIELD", "h", "-9223372036854775807", "WITHVALUES"),
    )


def test_hash_empty_after_delete(pair):
    check(
        pair,
        lambda c: c.hset("h", mapping={"a": 1, "b": 2}),
        lambda c: c.hdel("h", "a", "b", "a"),
        lambda c: c.exists("h"),
        lambda c: c.hgetall("h"),
        lambda c: c.hlen("h"),
        X("HDEL", "h"),
        X("HMGET", "h"),
        X("HGET", "h"),
    )


# =======================================================================================
# sets


def test_sintercard_limit_edges(pair):
    check(
        pair,
        lambda c: c.sadd("a", 1, 2, 3, 4),
        lambda c: c.sadd("b", 2, 3, 4, 5),
        X("SINTERCARD", "2", "a", "b", "LIMIT", "0"),
        X("SINTERCARD", "2", "a", "b", "LIMIT", "1"),
        X("SINTERCARD", "2", "a", "b", "LIMIT", "100"),
        X("SINTERCARD", "2", "a", "b", "LIMIT", "-1"),
        X("SINTERCARD", "0", "a"),
        X("SINTERCARD", "-1", "a"),
        X("SINTERCARD", "3", "a", "b"),
        X("SINTERCARD", "1", "a", "b"),
        X("SINTERCARD", "2", "a", "b", "LIMIT"),
        X("SINTERCARD", "2", "a", "b", "BOGUS", "1"),
        X("SINTERCARD", "abc", "a"),
        X("SINTERCARD", "2", "a", "missing"),
        lambda c: c.set("s", "v"),
        X("SINTERCARD", "2", "missing", "s"),
        X("SINTERCARD", "2", "s", "missing"),
    )


def test_smismember_smove_same_set(pair):
    check(
        pair,
        lambda c: c.sadd("s", "a", "b"),
        lambda c: c.smismember("s", ["a", "a", "z"]),
        lambda c: c.smove("s", "s", "a"),
        lambda c: c.smove("s", "s", "z"),
        lambda c: c.smembers("s"),
        lambda c: c.set("str", "v"),
        lambda c: c.smove("s", "str", "a"),
        lambda c: c.smove("s", "str", "z"),
        lambda c: c.smove("str", "s", "a"),
        lambda c: c.smove("missing", "str", "a"),
        lambda c: c.smembers("s"),
        X("SMISMEMBER", "s"),
        lambda c: c.smismember("str", ["a"]),
        lambda c: c.smove("s", "t", "a"),
        lambda c: c.smove("s", "t", "b"),
        lambda c: c.exists("s"),
    )


def test_spop_srandmember_count_edges(pair):
    check(
        pair,
        lambda c: c.sadd("s", 1, 2, 3),
        lambda c: sorted(c.srandmember("s", 100)),
        lambda c: len(c.srandmember("s", -100)),
        X("SPOP", "s", "-1"),
        X("SRANDMEMBER", "s", "abc"),
        X("SRANDMEMBER", "s", "-9223372036854775808"),
        X("SPOP", "s", "1", "2"),
        lambda c: sorted(c.spop("s", 100)),
        lambda c: c.exists("s"),
        lambda c: c.spop("s", 5),
        lambda c: c.spop("s"),
        lambda c: c.sadd("t", "x"),
        lambda c: c.spop("t", 1),
        lambda c: c.exists("t"),
    )


def test_set_store_overwrites_other_types(pair):
    check(
        pair,
        lambda c: c.sadd("a", 1, 2, 3),
        lambda c: c.sadd("b", 2, 3, 4),
        lambda c: c.set("dest", "string"),
        lambda c: c.sdiffstore("dest", ["a", "b"]),
        lambda c: [c.type("dest"), sorted(c.smembers("dest"))],
        lambda c: c.rpush("dest2", "x"),
        lambda c: c.sinterstore("dest2", ["a", "b"]),
        lambda c: [c.type("dest2"), sorted(c.smembers("dest2"))],
        lambda c: c.set("dest3", "v", ex=100),
        lambda c: c.sunionstore("dest3", ["a", "b"]),
        lambda c: c.ttl("dest3"),
        lambda c: c.sinterstore("dest3", ["a", "missing"]),
        lambda c: c.exists("dest3"),
        lambda c: c.sdiffstore("dest", ["a", "a"]),
        lambda c: c.exists("dest"),
        lambda c: c.sunionstore("dest", ["missing"]),
        lambda c: c.set("str", "v"),
        lambda c: c.sinterstore("d4", ["missing", "str"]),
        lambda c: c.sinterstore("d4", ["str", "missing"]),
        lambda c: c.sdiffstore("d4", ["missing", "str"]),
        lambda c: c.sunionstore("d4", ["a", "str"]),
        lambda c: c.sinter("missing", "str"),
        lambda c: c.sdiff("missing", "str"),
        lambda c: c.sinterstore("a", ["a", "b"]),
        lambda c: sorted(c.smembers("a")),
    )


def test_set_misc_errors(pair):
    check(
        pair,
        X("SADD", "s"),
        X("SREM", "s"),
        X("SMOVE", "a", "b"),
        X("SINTERSTORE", "d"),
        X("SCARD", "a", "b"),
        lambda c: c.sadd("s", "a"),
        X("SRANDMEMBER", "s", "1", "2"),
    )


# =======================================================================================
# sorted sets


def test_zadd_option_errors(pair):
    check(
        pair,
        X("ZADD", "z", "GT", "LT", "1", "a"),
        X("ZADD", "z", "NX", "GT", "1", "a"),
        X("ZADD", "z", "NX", "LT", "1", "a"),
        X("ZADD", "z", "NX", "XX", "1", "a"),
        X("ZADD", "z", "XX", "GT", "LT", "1", "a"),
        X("ZADD", "z", "INCR", "1", "a", "2", "b"),
        X("ZADD", "z", "INCR"),
        X("ZADD", "z", "1"),
        X("ZADD", "z", "1", "a", "2"),
        X("ZADD", "z", "nan", "a"),
        X("ZADD", "z", "abc", "a"),
        X("ZADD", "z", "BOGUS", "1", "a"),
        X("ZADD", "z", "CH", "CH", "1", "a"),
        X("ZADD", "z", "1", "a", "abc", "b"),
        lambda c: c.exists("z"),
        X("ZADD", "z", "XX", "1", "a"),
        lambda c: c.exists("z"),
        X("ZADD", "z", "XX", "INCR", "1", "a"),
        lambda c: c.exists("z"),
        X("ZADD", "z", "GT", "CH", "1", "a"),
        X("ZADD", "z", "LT", "INCR", "-5", "a"),
        X("ZADD", "z", "GT", "INCR", "-5", "a"),
        X("ZADD", "z", "GT", "XX", "CH", "10", "a", "20", "b"),
        lambda c: c.zrange("z", 0, -1, withscores=True),
    )


def test_zadd_score_formats(pair):
    check(
        pair,
        X("ZADD", "z", "1e-5", "a", "-0.0", "b", "1e300", "c", "+inf", "d", "-INF", "e", "0x10", "f"),
        X("ZADD", "z", "1e-5", "a", "-0.0", "b", "1e300", "c", "+inf", "d", "-INF", "e", "  1", "f"),
        X("ZADD", "z", "1e-5", "a", "-0.0", "b", "1e300", "c", "+inf", "d", "-INF", "e", ".5", "f", "5.", "g", "1E2", "h", "Infinity", "i"),
        lambda c: c.zrange("z", 0, -1, withscores=True, score_cast_func=lambda s: s),
        lambda c: c.zincrby("z", 0.2, "a"),
        lambda c: c.zadd("q", {"x": 0.1}),
        lambda c: c.zincrby("q", 0.2, "x"),
        lambda c: c.zscore("q", "x"),
        lambda c: c.zrange("q", 0, -1, withscores=True, score_cast_func=lambda s: s),
        lambda c: c.zadd("q", {"y": 1 / 3, "w": 123456789.123456789, "v": 1e-300, "u": 2**53 + 1}),
        lambda c: c.zrange("q", 0, -1, withscores=True, score_cast_func=lambda s: s),
        lambda c: c.zmscore("q", ["y", "missing", "w"]),
    )


def test_zincrby_nan_and_inf(pair):
    check(
        pair,
        lambda c: c.zadd("z", {"a": "inf"}),
        lambda c: c.zincrby("z", "-inf", "a"),
        lambda c: c.zincrby("z", "inf", "a"),
        lambda c: c.zscore("z", "a"),
        X("ZADD", "z", "INCR", "-inf", "a"),
        X("ZINCRBY", "z", "nan", "a"),
        X("ZINCRBY", "z", "abc", "a"),
        X("ZINCRBY", "z", "1", "b"),
        lambda c: c.zrange("z", 0, -1, withscores=True),
    )


def test_zrange_byscore_bylex_rev_limit(pair):
    check(
        pair,
        lambda c: c.zadd("z", {"a": 1, "b": 2, "c": 3, "d": 4, "e": 5}),
        X("ZRANGE", "z", "(1", "(5", "BYSCORE"),
        X("ZRANGE", "z", "5", "1", "BYSCORE", "REV"),
        X("ZRANGE", "z", "1", "5", "BYSCORE", "REV"),
        X("ZRANGE", "z", "+inf", "-inf", "BYSCORE", "REV", "LIMIT", "1", "2"),
        X("ZRANGE", "z", "-inf", "+inf", "BYSCORE", "LIMIT", "1", "-1"),
        X("ZRANGE", "z", "-inf", "+inf", "BYSCORE", "LIMIT", "-1", "2"),
        X("ZRANGE", "z", "-inf", "+inf", "BYSCORE", "LIMIT", "10", "2"),
        X("ZRANGE", "z", "-inf", "+inf", "BYSCORE", "LIMIT", "0", "0"),
        X("ZRANGE", "z", "(3", "(3", "BYSCORE"),
        X("ZRANGE", "z", "3", "3", "BYSCORE"),
        X("ZRANGE", "z", "((3", "4", "BYSCORE"),
        X("ZRANGE", "z", "inf", "-inf", "BYSCORE"),
        X("ZRANGE", "z", "0", "-1", "LIMIT", "0", "1"),
        X("ZRANGE", "z", "0", "-1", "REV", "WITHSCORES"),
        X("ZRANGE", "z", "0", "-1", "BYSCORE", "BYLEX"),
        X("ZRANGE", "z", "0", "-1", "LIMIT", "0"),
        X("ZRANGE", "z", "0", "-1", "BOGUS"),
        X("ZRANGE", "z", "a", "b"),
        X("ZRANGE", "z", "-inf", "+inf", "BYSCORE", "WITHSCORES", "LIMIT", "1", "1"),
        X("ZRANGEBYSCORE", "z", "-inf", "+inf", "LIMIT", "0", "-5"),
        X("ZRANGEBYSCORE", "z", "-inf", "+inf", "LIMIT", "2", "-1", "WITHSCORES"),
        X("ZREVRANGEBYSCORE", "z", "+inf", "-inf", "LIMIT", "1", "-1"),
        X("ZRANGEBYSCORE", "z", "nan", "1"),
        X("ZCOUNT", "z", "(1", "(1"),
        X("ZCOUNT", "z", "5", "1"),
    )


def test_zrange_bylex_edges(pair):
    check(
        pair,
        lambda c: c.zadd("z", {m: 0 for m in ["a", "aa", "ab", "b", "c", ""]}),
        X("ZRANGE", "z", "[a", "(b", "BYLEX"),
        X("ZRANGE", "z", "(a", "[b", "BYLEX"),
        X("ZRANGE", "z", "-", "+", "BYLEX"),
        X("ZRANGE", "z", "+", "-", "BYLEX"),
        X("ZRANGE", "z", "+", "-", "BYLEX", "REV"),
        X("ZRANGE", "z", "[b", "[a", "BYLEX", "REV", "LIMIT", "1", "2"),
        X("ZRANGE", "z", "[", "[a", "BYLEX"),
        X("ZRANGE", "z", "(", "+", "BYLEX"),
        X("ZRANGE", "z", "a", "b", "BYLEX"),
        X("ZRANGE", "z", "[a", "b", "BYLEX"),
        X("ZRANGE", "z", "", "[b", "BYLEX"),
        X("ZRANGE", "z", "-", "+", "BYLEX", "WITHSCORES"),
        X("ZRANGEBYLEX", "z", "-", "+", "LIMIT", "1", "-1"),
        X("ZREVRANGEBYLEX", "z", "+", "-", "LIMIT", "0", "3"),
        X("ZRANGEBYLEX", "z", "-", "+", "WITHSCORES"),
        X("ZLEXCOUNT", "z", "-", "+"),
        X("ZLEXCOUNT", "z", "[a", "[a"),
        X("ZLEXCOUNT", "z", "(a", "(a"),
        X("ZLEXCOUNT", "z", "[b", "[a"),
        X("ZLEXCOUNT", "z", "a", "+"),
        X("ZLEXCOUNT", "missing", "a", "+"),
        X("ZREMRANGEBYLEX", "z", "(a", "[b"),
        X("ZREMRANGEBYLEX", "z", "x", "+"),
        X("ZREMRANGEBYLEX", "missing", "x", "+"),
        lambda c: c.zrange("z", 0, -1),
        X("ZREMRANGEBYLEX", "z", "-", "+"),
        lambda c: c.exists("z"),
    )


def test_zrank_zmscore_zpop_edges(pair):
    check(
        pair,
        lambda c: c.zadd("z", {"a": 1, "b": 2, "c": 3}),
        lambda c: c.zmscore("z", ["missing", "a", "missing2"]),
        lambda c: c.zmscore("missing", ["a", "b"]),
        X("ZMSCORE", "z"),
        X("ZPOPMIN", "z", "-1"),
        X("ZPOPMIN", "z", "abc"),
        X("ZPOPMIN", "z", "0"),
        X("ZPOPMAX", "z", "1", "2"),
        lambda c: c.zpopmin("z", 2),
        lambda c: c.zpopmax("z", 10),
        lambda c: c.exists("z"),
        X("ZPOPMIN", "missing", "-1"),
        X("ZPOPMIN", "missing", "0"),
    )


def test_zrandmember_counts(pair):
    check(
        pair,
        lambda c: c.zadd("z", {"a": 1, "b": 2, "c": 3}),
        lambda c: len(c.zrandmember("z", -10)),
        lambda c: len(c.zrandmember("z", -10, withscores=True)),
        lambda c: sorted(c.zrandmember("z", 10)),
        lambda c: len(set(c.zrandmember("z", 3))),
        X("ZRANDMEMBER", "z", "abc"),
        X("ZRANDMEMBER", "z", "1", "BOGUS"),
        X("ZRANDMEMBER", "missing", "-5", "WITHSCORES"),
        X("ZRANDMEMBER", "z", "0", "WITHSCORES"),
    )


def test_zunion_zinter_weights_aggregate_edges(pair):
    check(
        pair,
        lambda c: c.zadd("a", {"x": 1, "y": "inf", "z": "-inf"}),
        lambda c: c.zadd("b", {"x": 2, "y": "-inf", "z": 5}),
        lambda c: c.zunionstore("u", {"a": 0, "b": 0}),
        lambda c: c.zrange("u", 0, -1, withscores=True),
        lambda c: c.zunionstore("u", ["a", "b"]),
        lambda c: c.zrange("u", 0, -1, withscores=True),
        lambda c: c.zinterstore("i", ["a", "b"], aggregate="MAX"),
        lambda c: c.zrange("i", 0, -1, withscores=True),
        lambda c: c.zinterstore("i", ["a", "b"], aggregate="MIN"),
        lambda c: c.zrange("i", 0, -1, withscores=True),
        lambda c: c.zunionstore("u", {"a": -1, "b": 2}, aggregate="MIN"),
        lambda c: c.zrange("u", 0, -1, withscores=True),
        X("ZUNIONSTORE", "u", "2", "a", "b", "WEIGHTS", "1"),
        X("ZUNIONSTORE", "u", "2", "a", "b", "WEIGHTS", "1", "x"),
        X("ZUNIONSTORE", "u", "2", "a", "b", "WEIGHTS", "1", "nan"),
        X("ZUNIONSTORE", "u", "2", "a", "b", "AGGREGATE"),
        X("ZUNIONSTORE", "u", "2", "a", "b", "AGGREGATE", "avg"),
        X("ZUNIONSTORE", "u", "0", "a"),
        X("ZUNIONSTORE", "u", "-1", "a"),
        X("ZUNIONSTORE", "u", "3", "a", "b"),
        X("ZUNIONSTORE", "u", "1", "a", "b"),
        X("ZUNIONSTORE", "u", "2", "a", "b", "WITHSCORES"),
        X("ZUNION", "2", "a", "b", "WITHSCORES", "WEIGHTS", "2", "3", "AGGREGATE", "SUM"),
        X("ZUNION", "0", "a"),
        X("ZINTERSTORE", "i", "2", "a", "b", "WEIGHTS", "1", "2", "3"),
        lambda c: c.sadd("s", "x", "y"),
        lambda c: c.zinterstore("i", {"a": 2, "s": 3}),
        lambda c: c.zrange("i", 0, -1, withscores=True),
        lambda c: c.set("str", "v"),
        lambda c: c.zunionstore("u", ["a", "str"]),
    )


def test_zdiffstore_edges(pair):
    check(
        pair,
        lambda c: c.zadd("a", {"x": 1, "y": 2, "z": 3}),
        lambda c: c.zadd("b", {"y": 10}),
        lambda c: c.set("d", "string"),
        lambda c: c.zdiffstore("d", ["a", "b"]),
        lambda c: c.zrange("d", 0, -1, withscores=True),
        lambda c: c.zdiffstore("d", ["a", "a"]),
        lambda c: c.exists("d"),
        lambda c: c.zdiffstore("d", ["missing", "a"]),
        lambda c: c.zdiff(["a", "missing"], withscores=True),
        X("ZDIFF", "0", "a"),
        X("ZDIFFSTORE", "d", "0", "a"),
        X("ZDIFF", "2", "a"),
        X("ZDIFF", "1", "a", "WEIGHTS", "1"),
        lambda c: c.sadd("s", "x"),
        lambda c: c.zdiff(["a", "s"]),
    )


def test_zremrange_edges(pair):
    check(
        pair,
        lambda c: c.zadd("z", {m: i for i, m in enumerate("abcdefg")}),
        lambda c: c.zremrangebyrank("z", -2, -1),
        lambda c: c.zremrangebyrank("z", 3, 1),
        lambda c: c.zremrangebyrank("z", -100, 0),
        lambda c: c.zremrangebyscore("z", "(1", "(3"),
        lambda c: c.zremrangebyscore("z", 3, 1),
        lambda c: c.zrange("z", 0, -1, withscores=True),
        X("ZREMRANGEBYRANK", "z", "a", "1"),
        X("ZREMRANGEBYSCORE", "z", "[1", "2"),
        lambda c: c.zremrangebyscore("z", "-inf", "+inf"),
        lambda c: c.exists("z"),
    )


# =======================================================================================
# transactions


def raw_session(*cmds):
    """Raw commands sent in order on one connection (a non-transactional pipeline: nestdb
    keeps MULTI state per pipeline/session, a real server per connection)."""

    def run(c):
        pipe = c.pipeline(transaction=False)
        for cmd in cmds:
            pipe.execute_command(*cmd)
        return pipe.execute(raise_on_error=False)

    return run


def test_multi_syntax_error_execabort(pair):
    check(
        pair,
        raw_session(("MULTI",), ("SET", "a", "1"), ("SET", "b"), ("INCR", "c"), ("EXEC",)),
        lambda c: [c.get("a"), c.get("c")],
        raw_session(("MULTI",), ("SET", "a", "1"), ("NOSUCHCMD", "x"), ("EXEC",)),
        lambda c: c.get("a"),
        raw_session(("MULTI",), ("ZADD", "z", "GT", "LT", "1", "m"), ("SET", "a", "2"), ("EXEC",)),
        lambda c: [c.get("a"), c.exists("z")],
    )


def test_multi_runtime_error_other_commands_applied(pair):
    check(
        pair,
        lambda c: c.set("s", "v"),
        raw_session(("MULTI",), ("INCR", "n"), ("LPUSH", "s", "x"), ("INCR", "s"), ("INCRBY", "n", "x"), ("INCR", "n"), ("EXEC",)),
        lambda c: [c.get("n"), c.get("s")],
    )


def test_multi_queue_errors(pair):
    check(
        pair,
        raw_session(
            ("MULTI",),
            ("MULTI",),
            ("SET", "a", "1"),
            ("WATCH", "a"),
            ("EXEC",),
            ("GET", "a"),
            ("DISCARD",),
            ("EXEC",),
            ("MULTI",),
            ("SET", "a", "2"),
            ("DISCARD",),
            ("GET", "a"),
            ("MULTI",),
            ("EXEC",),
            ("UNWATCH",),
        ),
        raw_session(("MULTI",), ("GET", "a", "b"), ("SET", "a", "3"), ("EXEC",), ("GET", "a")),
        raw_session(("MULTI",), ("SET", "a", "4"), ("MULTI",), ("EXEC",), ("GET", "a")),
    )


@pytest.fixture
def quad(redis_server):
    """(nestdb client, second nestdb client on the same db, server client, second server client)."""
    db = nestdb.open()
    ours, ours2 = db.redis(), db.redis()
    theirs, theirs2 = redis.Redis(port=redis_server.port), redis.Redis(port=redis_server.port)
    theirs.flushall()
    yield (ours, ours2), (theirs, theirs2)
    for c in (ours, ours2, theirs, theirs2):
        c.close()
    db.close()


def watch_run(c, other, action, key="w"):
    with c.pipeline() as pipe:
        pipe.watch(key)
        action(pipe, other)
        pipe.multi()
        pipe.set("done", "1")
        pipe.exists(key)
        try:
            return ("exec", pipe.execute())
        except RE.WatchError as e:
            return ("watcherror", str(e))


@pytest.mark.parametrize(
    "action",
    [
        pytest.param(lambda p, o: o.set("w", "2"), id="other-set"),
        pytest.param(lambda p, o: o.set("w", "1"), id="other-set-same-value"),
        pytest.param(lambda p, o: p.set("w", "2"), id="own-write"),
        pytest.param(lambda p, o: o.sadd("S", "a"), id="other-key"),
        pytest.param(lambda p, o: o.expire("w", 100), id="other-expire"),
        pytest.param(lambda p, o: o.persist("w"), id="other-persist-noop"),
        pytest.param(lambda p, o: o.append("w", ""), id="other-append-empty"),
        pytest.param(lambda p, o: o.getdel("w"), id="other-getdel"),
        pytest.param(lambda p, o: o.rename("w", "w2"), id="other-rename-away"),
        pytest.param(lambda p, o: o.get("w"), id="other-read"),
        pytest.param(lambda p, o: o.incrbyfloat("w", 0), id="other-incrbyfloat-0"),
        pytest.param(lambda p, o: o.set("w", "x", nx=True), id="other-set-nx-refused"),
    ],
)
def test_watch_modify_exec(quad, action):
    results = []
    for c, other in quad:
        c.set("w", "1")
        results.append((watch_run(c, other, action), c.get("w"), c.get("done")))
    assert results[0] == results[1], f"\n  nestdb: {results[0]!r}\n  redis:  {results[1]!r}"


@pytest.mark.parametrize(
    "action",
    [
        pytest.param(lambda p, o: o.set("m", "1"), id="create"),
        pytest.param(lambda p, o: (o.set("m", "1"), o.delete("m")), id="create-delete"),
        pytest.param(lambda p, o: o.delete("m"), id="delete-missing"),
        pytest.param(lambda p, o: o.sadd("m", "a"), id="create-set"),
        pytest.param(lambda p, o: o.srem("m", "a"), id="srem-missing"),
        pytest.param(lambda p, o: o.flushdb(), id="flushdb"),
    ],
)
def test_watch_missing_key(quad, action):
    results = []
    for c, other in quad:
        c.set("k", "1")
        results.append((watch_run(c, other, action, key="m"), c.get("done")))
    assert results[0] == results[1], f"\n  nestdb: {results[0]!r}\n  redis:  {results[1]!r}"


def test_discard_exec_without_multi_text(pair):
    check(
        pair,
        X("DISCARD"),
        X("EXEC"),
        raw_session(("DISCARD",), ("EXEC",), ("UNWATCH",)),
    )


def test_pipeline_transaction_with_runtime_error(pair):
    def run(c):
        pipe = c.pipeline(transaction=True)
        pipe.set("s", "v").incr("s").rpush("l", "a").lpop("s").get("s")
        return pipe.execute(raise_on_error=False)

    check(pair, run, lambda c: c.lrange("l", 0, -1))


# =======================================================================================
# errors across families


def test_wrongtype_across_families(pair):
    def setup(c):
        c.set("str", "v")
        c.rpush("list", "a")
        c.sadd("set", "a")
        c.hset("hash", "f", "v")
        c.zadd("zset", {"a": 1})

    check(
        pair,
        setup,
        lambda c: c.get("list"),
        lambda c: c.incr("hash"),
        lambda c: c.llen("str"),
        lambda c: c.sadd("zset", "a"),
        lambda c: c.scard("list"),
        lambda c: c.hget("set", "f"),
        lambda c: c.hlen("str"),
        lambda c: c.zscore("hash", "a"),
        lambda c: c.zcard("set"),
        lambda c: c.zrange("list", 0, -1),
        lambda c: c.smembers("zset"),
        lambda c: c.rpoplpush("list", "str"),
        lambda c: c.lrange("list", 0, -1),
        lambda c: c.sunion("set", "zset"),
        lambda c: c.zunionstore("d", ["zset", "list"]),
        lambda c: c.exists("d"),
        lambda c: c.lpos("str", "a"),
        lambda c: c.hrandfield("list"),
        lambda c: c.srandmember("hash"),
        lambda c: c.zrandmember("str"),
        lambda c: c.getrange("hash", 0, 1),
        lambda c: c.incrbyfloat("set", 1),
        lambda c: c.zincrby("list", 1, "a"),
        lambda c: c.hincrby("zset", "f", 1),
        lambda c: c.sismember("hash", "a"),
        lambda c: c.linsert("set", "BEFORE", "a", "b"),
        lambda c: c.lpushx("str", "a"),
        lambda c: c.zrangestore("d", "str", 0, -1),
        lambda c: c.sintercard(1, ["hash"]),
        lambda c: c.zintercard(1, ["list"]),
    )


def test_arity_errors(pair):
    check(
        pair,
        X("GET"),
        X("GET", "a", "b"),
        X("SET", "a"),
        X("INCR"),
        X("INCRBY", "a"),
        X("MGET"),
        X("MSET", "a"),
        X("LPUSH", "a"),
        X("LRANGE", "a", "0"),
        X("HGETALL"),
        X("ZADD", "z"),
        X("ZRANGE", "z", "0"),
        X("ZSCORE", "z"),
        X("EXPIRE", "a"),
        X("TTL"),
        X("RENAME", "a"),
        X("SINTERCARD", "1"),
        X("ZINTERCARD", "1"),
        X("GETEX"),
        X("COPY", "a"),
        X("OBJECT"),
        X("SCAN"),
        X("PERSIST", "a", "b"),
        X("EXPIRETIME"),
    )


def test_not_an_integer_and_syntax_errors(pair):
    check(
        pair,
        lambda c: c.rpush("l", "a"),
        X("LRANGE", "l", "1.0", "2"),
        X("LINDEX", "l", "9223372036854775808"),
        X("EXPIRE", "l", ""),
        X("ZRANGE", "l", "0", "1", "WITHSCORES", "X"),
        X("SETEX", "k", "1.5", "v"),
        X("GETRANGE", "k", "0", "9223372036854775808"),
        X("LPOS", "l", "a", "MAXLEN", "x"),
        X("ZRANGEBYSCORE", "z", "0", "1", "LIMIT", "x", "1"),
        X("ZRANGEBYSCORE", "z", "0", "1", "LIMIT", "0"),
        X("SRANDMEMBER", "s", "1.5"),
        X("HINCRBYFLOAT", "h", "f", ""),
        X("INCRBYFLOAT", "k", ""),
        X("ZINCRBY", "z", "", "m"),
        X("ZADD", "z", "", "m"),
    )


# =======================================================================================
# WATCH: which writes touch a watched key (no-op writes do not), TTL bookkeeping


@pytest.mark.parametrize(
    "setup,action",
    [
        pytest.param(lambda c: c.set("w", "1", px=80), lambda c: time.sleep(0.15), id="expires-while-watched"),
        pytest.param(lambda c: (c.set("w", "1", px=10), time.sleep(0.05)), lambda c: None, id="expired-before-watch"),
        pytest.param(lambda c: c.set("w", "1", ex=100), lambda c: c.persist("w"), id="persist"),
        pytest.param(lambda c: c.set("w", "1", ex=100), lambda c: c.expire("w", 100), id="expire-same"),
        pytest.param(lambda c: c.set("w", "1", ex=100), lambda c: c.expire("w", 50, gt=True), id="expire-gt-refused"),
        pytest.param(lambda c: None, lambda c: (c.lpush("w", "a"), c.lpop("w")), id="created-and-emptied"),
        pytest.param(lambda c: c.hset("w", "f", "v"), lambda c: c.hset("w", "f", "v"), id="hset-same-value"),
        pytest.param(lambda c: c.zadd("w", {"a": 1}), lambda c: c.zadd("w", {"a": 1}), id="zadd-same-score"),
        pytest.param(lambda c: c.zadd("w", {"a": 1}), lambda c: c.zincrby("w", 0, "a"), id="zincrby-0"),
        pytest.param(lambda c: c.sadd("w", "a"), lambda c: c.sadd("w", "a"), id="sadd-existing"),
        pytest.param(lambda c: c.sadd("w", "a"), lambda c: c.smove("w", "w", "a"), id="smove-same-set"),
        pytest.param(lambda c: c.rpush("w", "a"), lambda c: c.lrem("w", 0, "zz"), id="lrem-nothing"),
        pytest.param(lambda c: c.rpush("w", "a"), lambda c: c.ltrim("w", 0, -1), id="ltrim-everything-kept"),
        pytest.param(lambda c: c.rpush("w", "a"), lambda c: c.lset("w", 0, "a"), id="lset-same-value"),
        pytest.param(lambda c: c.rpush("w", "a"), lambda c: c.lmove("w", "w"), id="lmove-rotate-one"),
        pytest.param(lambda c: c.set("w", "abc"), lambda c: c.setrange("w", 0, ""), id="setrange-empty"),
        pytest.param(lambda c: c.set("w", "1"), lambda c: c.append("w", ""), id="append-empty"),
        pytest.param(lambda c: c.set("w", "1"), lambda c: c.incrby("w", 0), id="incrby-0"),
        pytest.param(lambda c: c.hset("w", "f", "1"), lambda c: c.hincrbyfloat("w", "f", 0), id="hincrbyfloat-0"),
        pytest.param(lambda c: c.set("w", "1"), lambda c: c.getex("w", persist=True), id="getex-persist-no-ttl"),
        pytest.param(lambda c: c.set("w", "1"), lambda c: c.rename("w", "w"), id="rename-to-itself"),
        pytest.param(lambda c: (c.set("w", "1"), c.set("src", "2")), lambda c: c.copy("src", "w", replace=True), id="copy-onto"),
        pytest.param(lambda c: c.set("w", "1"), lambda c: c.sinterstore("w", ["nothing"]), id="sinterstore-empty-deletes"),
        pytest.param(lambda c: None, lambda c: c.zunionstore("w", ["nothing"]), id="zunionstore-empty-on-missing"),
        pytest.param(lambda c: c.set("w", "1"), lambda c: c.msetnx({"w": "2", "q": "3"}), id="msetnx-refused"),
        pytest.param(lambda c: None, lambda c: c.flushall(), id="flushall-empty-db"),
    ],
)
def test_watch_which_writes_abort(quad, setup, action):
    def run(c, other):
        c.flushall()
        setup(other)
        return watch_run(c, other, lambda pipe, o: action(o)), c.get("done")

    results = [run(c, other) for c, other in quad]
    assert results[0] == results[1], f"\n  nestdb: {results[0]!r}\n  redis:  {results[1]!r}"


def test_ttl_kept_or_cleared_by_writes(pair):
    check(
        pair,
        lambda c: c.set("a", "v", px=1700),
        lambda c: c.ttl("a"),  # rounded to the nearest second
        lambda c: c.set("e", 1, ex=100),
        lambda c: [c.incr("e"), c.ttl("e"), c.append("e", "x"), c.ttl("e"), c.setrange("e", 0, "y"), c.ttl("e")],
        lambda c: c.set("f", 1, ex=100),
        lambda c: [c.incrbyfloat("f", 1), c.ttl("f"), c.getset("f", 5), c.ttl("f")],
        lambda c: c.rpush("l", "a"),
        lambda c: c.expire("l", 100),
        lambda c: [c.rpush("l", "b"), c.lset("l", 0, "x"), c.ttl("l"), c.lpop("l", 2), c.exists("l"), c.rpush("l", "a"), c.ttl("l")],
        lambda c: c.set("i", "v", ex=100),
        lambda c: [c.setnx("i", "w"), c.ttl("i"), c.mset({"i": "w"}), c.ttl("i")],
        lambda c: c.set("j", "v", ex=100),
        lambda c: [c.getex("j"), c.ttl("j"), c.copy("j", "j2"), c.ttl("j2")],
        lambda c: c.pexpireat("j", 99999999999700),
        lambda c: c.expiretime("j"),
        lambda c: c.pexpireat("j", 99999999999400),
        lambda c: c.expiretime("j"),
    )


def test_zset_equal_scores_order_by_bytes(pair):
    members = [b"a", b"A", b"\x00", b"\xff", b"", b"ab", b"a\x00", b"\xc3\xa9", b"b", b"B", b"0", b"10", b"9"]
    check(
        pair,
        lambda c: c.zadd("z", {m: 1 for m in members}),
        lambda c: c.zrange("z", 0, -1),
        lambda c: c.zrangebylex("z", b"[a", b"(b"),
        lambda c: c.zrangebylex("z", b"(\x00", b"[\xff"),
        lambda c: c.zrevrangebylex("z", b"+", b"-", start=2, num=5),
        lambda c: [c.zrank("z", m) for m in members],
        lambda c: [c.zrevrank("z", m) for m in members],
        lambda c: c.zlexcount("z", b"[A", b"[a"),
        lambda c: c.zrangebyscore("z", 1, 1, start=2, num=4),
        lambda c: c.zrevrangebyscore("z", 1, 1, start=2, num=4),
        lambda c: c.zpopmin("z", 3),
        lambda c: c.zpopmax("z", 2),
        lambda c: c.zremrangebylex("z", b"[0", b"[9"),
        lambda c: c.zrange("z", 0, -1),
        lambda c: c.zadd("big", {**{m: 1 for m in members}, **{f"pad{i}".encode(): 1 for i in range(200)}}),
        lambda c: c.object("encoding", "big"),
        lambda c: c.zrange("big", 0, 15),
        lambda c: c.zrangebylex("big", b"[a", b"(b"),
        lambda c: c.zrank("big", b"\xff"),
    )


def test_large_list_operations(pair):
    check(
        pair,
        lambda c: c.rpush("L", *([b"a", b"b", b"c"] * 500)),
        lambda c: c.lpos("L", "b", rank=-3),
        lambda c: c.lpos("L", "c", rank=400, count=5),
        lambda c: c.lpos("L", "a", count=0, maxlen=10),
        lambda c: c.lpos("L", "c", rank=-1, maxlen=2),
        lambda c: c.lrem("L", -7, "a"),
        lambda c: c.linsert("L", "AFTER", "c", "X"),
        lambda c: c.lrange("L", -5, -1),
        lambda c: c.ltrim("L", 100, -100),
        lambda c: [c.llen("L"), c.lindex("L", 0), c.lindex("L", -1), c.lindex("L", 700)],
        lambda c: c.lrange("L", 0, 5),
    )


def test_keys_glob_more_patterns(pair):
    names = ["é", "a", "b", "-", "]", "[", "\\", "a-b", "ab", "x]y", "x[y", "A", "B", "z", "^", "!", "a\x00b", "*a", "?", "aé"]
    patterns = ["?", "??", "[[]", "[\\]]", "[a-\\]]", "[\\-]", "[a\\-c]", "[A-z]", "[^a-z]", "[^]]", "[a-c-e]", "[]a]", "[^-]", "[ab]?", "a?b", "*\x00*", "\\*a", "?é", "[é]"]
    steps = [lambda c: c.mset({n: 1 for n in names})]
    steps += [(lambda pat: (lambda c: (pat, sorted(c.keys(pat)))))(pat) for pat in patterns]
    steps += [lambda c: c.hset("h", mapping={n: 1 for n in names})]
    steps += [(lambda pat: (lambda c: (pat, sorted(k for k, _ in c.hscan_iter("h", match=pat)))))(pat) for pat in patterns]
    check(pair, *steps)


# =======================================================================================
# Corners found different and fixed in session 19 (argument parsing and error texts), and
# the one known difference left (a strict xfail: a fix turns it into an XPASS failure).


@pytest.mark.xfail(strict=True, reason="nestdb differs: INCRBYFLOAT stores an integral result as 'int', Redis keeps it 'embstr'")
def test_incrbyfloat_integral_result_is_embstr(pair):
    check(
        pair,
        lambda c: c.incrbyfloat("f", 3),
        lambda c: c.object("encoding", "f"),
        lambda c: c.set("g", "5"),
        lambda c: c.incrbyfloat("g", 1),
        lambda c: c.object("encoding", "g"),
    )


def test_zrandmember_count_long_min(pair):
    check(
        pair,
        lambda c: c.zadd("z", {"a": 1, "b": 2}),
        X("ZRANDMEMBER", "z", "-9223372036854775808"),
    )


def test_zrandmember_withscores_count_range(pair):
    check(
        pair,
        lambda c: c.zadd("z", {"a": 1, "b": 2}),
        X("ZRANDMEMBER", "z", "4611686018427387904", "WITHSCORES"),
        X("ZRANDMEMBER", "z", "-4611686018427387904", "WITHSCORES"),
    )


@pytest.mark.parametrize(
    "cmd",
    [
        pytest.param(("SCAN", "-0", "COUNT", "100"), id="scan-minus-zero"),
        pytest.param(("SCAN", "", "COUNT", "100"), id="scan-empty"),
        pytest.param(("HSCAN", "h", "-0"), id="hscan-minus-zero"),
        pytest.param(("HSCAN", "h", "-1"), id="hscan-minus-one"),
        pytest.param(("SSCAN", "s", ""), id="sscan-empty"),
        pytest.param(("ZSCAN", "z", "-0"), id="zscan-minus-zero"),
    ],
)
def test_scan_cursor_strtoul_forms(pair, cmd):
    # one small object of each kind: a single page holds everything in both engines
    check(
        pair,
        lambda c: (c.hset("h", "a", "1"), c.sadd("s", "a"), c.zadd("z", {"a": 1})),
        lambda c: (lambda r: (r[0], sorted(r[1]) if isinstance(r[1], list) else r[1]))(c.execute_command(*cmd)),
    )


@pytest.mark.parametrize("container", ["OBJECT", "CONFIG", "SCRIPT"])
def test_help_subcommand_with_extra_argument(pair, container):
    check(pair, X(container, "HELP", "extra"))


def test_memory_usage_without_key(pair):
    check(pair, X("MEMORY", "USAGE"))


def test_config_set_odd_arguments(pair):
    check(pair, X("CONFIG", "SET", "maxmemory", "0", "hz"))


@pytest.mark.parametrize(
    "cmd",
    [
        pytest.param(("COMMAND", "BOGUS"), id="unknown-subcommand-text"),
        pytest.param(("COMMAND", "COUNT", "x"), id="count-arity"),
        pytest.param(("COMMAND", "GETKEYS"), id="getkeys-arity"),
        pytest.param(("COMMAND", "GETKEYS", "SET", "k", "v"), id="getkeys-set"),
        pytest.param(("COMMAND", "GETKEYS", "MSET", "a", "1", "b", "2"), id="getkeys-mset"),
        pytest.param(("COMMAND", "GETKEYS", "ZUNIONSTORE", "d", "2", "a", "b", "WEIGHTS", "1", "2"), id="getkeys-numkeys"),
        pytest.param(("COMMAND", "GETKEYS", "PING"), id="getkeys-no-keys"),
        pytest.param(("COMMAND", "GETKEYS", "NOPE", "x"), id="getkeys-unknown"),
        pytest.param(("COMMAND", "GETKEYS", "SET", "k"), id="getkeys-bad-arity"),
        pytest.param(("COMMAND", "INFO", "get", "nope"), id="info-names"),
    ],
)
def test_command_subcommand_errors(pair, cmd):
    check(pair, X(*cmd))


def test_pubsub_channels_extra_argument(pair):
    check(pair, X("PUBSUB", "CHANNELS", "a", "b"))


def test_script_flush_two_modes(pair):
    check(pair, X("SCRIPT", "FLUSH", "ASYNC", "SYNC"))
