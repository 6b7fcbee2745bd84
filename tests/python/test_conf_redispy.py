"""Conformance at the redis-py method layer: the same redis-py method, with the same
arguments, on ``nestdb.Redis`` and on redis-py + a real redis-server must give identical
Python values (types included: bool vs int, float vs bytes, tuple vs list, set vs list) and
identical exceptions (class name, message, redis-py exception bases).

Each test runs twice: with ``decode_responses=False`` and ``decode_responses=True``. Unlike
test_differential.py (random command sequences), these are focused checks of redis-py's
argument handling and response callbacks: ``set(ex=timedelta, exat=datetime, get=True)``,
``zadd(incr=True)`` -> float, ``zrange(withscores=True, score_cast_func=...)``, scan shapes,
pipelines with errors, WATCH, ``transaction()``, error classes and texts, INFO/CONFIG shapes.
"""

from __future__ import annotations

import datetime
import time
from typing import Any, Callable, List

import pytest
import redis

import nestdb

from conftest import outcome, requires

RE = redis.exceptions


class Pair:
    def __init__(self, ours, theirs, ours2, theirs2, decoded: bool) -> None:
        self.ours, self.theirs = ours, theirs
        # a second client on the same database / server (for WATCH interference)
        self.other = {id(ours): ours2, id(theirs): theirs2}
        self.decoded = decoded

    def b(self, s: str) -> Any:
        """What a client of this pair returns for the text ``s``."""
        return s if self.decoded else s.encode()


@pytest.fixture(params=[False, True], ids=["bytes", "decoded"])
def p(request, redis_server) -> Pair:
    decoded = request.param
    db = nestdb.open()
    ours, ours2 = db.redis(decode_responses=decoded), db.redis(decode_responses=decoded)
    theirs = redis.Redis(port=redis_server.port, decode_responses=decoded)
    theirs2 = redis.Redis(port=redis_server.port, decode_responses=decoded)
    theirs.flushall()
    theirs.config_set("maxmemory", "0", "maxmemory-policy", "noeviction", "maxmemory-samples", "5", "hz", "10")
    yield Pair(ours, theirs, ours2, theirs2, decoded)
    theirs.close()
    theirs2.close()
    ours.close()
    ours2.close()
    db.close()


# ---------------------------------------------------------------------------------------
# comparison helpers

def check(p: Pair, *fns: Callable) -> List[Any]:
    """Run the steps ``fns`` (each ``fn(client)``) in order on both clients; every step's
    value or exception must match. Returns nestdb's outcomes."""
    ours = [outcome(p.ours, fn) for fn in fns]
    theirs = [outcome(p.theirs, fn) for fn in fns]
    for n, (a, b) in enumerate(zip(ours, theirs)):
        assert a == b, f"step {n}:\n  nestdb: {a!r}\n  redis:  {b!r}"
    return ours


def check2(p: Pair, *fns: Callable) -> List[Any]:
    """Like ``check`` but each step is ``fn(client, other_client_on_same_db)``."""
    return check(p, *[(lambda f: (lambda c: f(c, p.other[id(c)])))(fn) for fn in fns])


def shape(x: Any) -> Any:
    """Type and length of a random reply (members compared separately)."""
    if isinstance(x, (list, tuple, set, dict)):
        return (type(x).__name__, len(x), [type(v).__name__ for v in (x if not isinstance(x, dict) else x.items())][:1])
    return (type(x).__name__,)


def rounded_s(ms: int) -> int:
    return ms if ms < 0 else round(ms / 1000)


# ---------------------------------------------------------------------------------------
# strings


def test_set_returns_and_conditions(p):
    check(
        p,
        lambda c: c.set("k", "v"),
        lambda c: c.set("k", "w", nx=True),
        lambda c: c.set("missing", "w", xx=True),
        lambda c: c.set("k", "w", xx=True),
        lambda c: c.get("k"),
        lambda c: c.set("k", "x", get=True),
        lambda c: c.set("new", "x", get=True),
        lambda c: c.set("k", "y", nx=True, get=True),
        lambda c: c.set("k2", "y", nx=True, get=True),
        lambda c: c.set("k", "z", xx=True, get=True),
        lambda c: c.get("missing"),
    )


def test_set_ex_px_timedelta(p):
    check(
        p,
        lambda c: c.set("a", "1", ex=datetime.timedelta(seconds=100)),
        lambda c: c.ttl("a"),
        lambda c: c.set("b", "1", px=datetime.timedelta(milliseconds=50500)),
        lambda c: rounded_s(c.pttl("b")),
        lambda c: c.set("c", "1", ex=200),
        lambda c: c.ttl("c"),
        lambda c: c.set("d", "1", px=123456),
        lambda c: rounded_s(c.pttl("d")),
    )


def test_set_exat_pxat_datetime(p):
    at = datetime.datetime.now() + datetime.timedelta(seconds=500)
    at = at.replace(microsecond=0)
    ts = int(time.time()) + 1000
    check(
        p,
        lambda c: c.set("a", "1", exat=at),
        lambda c: c.expiretime("a"),
        lambda c: c.set("b", "1", pxat=ts * 1000 + 123),
        lambda c: c.pexpiretime("b"),
        lambda c: c.set("c", "1", exat=ts),
        lambda c: c.expiretime("c"),
        lambda c: c.set("d", "1", pxat=at),
        lambda c: c.pexpiretime("d"),
    )


def test_set_keepttl_and_plain_set_clears_ttl(p):
    check(
        p,
        lambda c: c.set("k", "v", ex=100),
        lambda c: c.set("k", "w", keepttl=True),
        lambda c: c.ttl("k"),
        lambda c: c.set("k", "x"),
        lambda c: c.ttl("k"),
    )


def test_set_invalid_expire_errors(p):
    check(
        p,
        lambda c: c.set("k", "v", ex=0),
        lambda c: c.set("k", "v", ex=-5),
        lambda c: c.set("k", "v", px=0),
        lambda c: c.set("k", "v", ex=1.5),
        lambda c: c.set("k", "v", ex="abc"),
        lambda c: c.set("k", "v", nx=True, xx=True),
        lambda c: c.set("k", "v", ex=10, px=10000),
        lambda c: c.set("k", "v", keepttl=True, ex=10),
        lambda c: c.exists("k"),
    )


def test_getex_options(p):
    at = int(time.time()) + 900
    check(
        p,
        lambda c: c.getex("missing"),
        lambda c: c.set("k", "v", ex=100),
        lambda c: c.getex("k"),
        lambda c: c.ttl("k"),
        lambda c: c.getex("k", persist=True),
        lambda c: c.ttl("k"),
        lambda c: c.getex("k", ex=datetime.timedelta(seconds=300)),
        lambda c: c.ttl("k"),
        lambda c: c.getex("k", px=400000),
        lambda c: rounded_s(c.pttl("k")),
        lambda c: c.getex("k", exat=at),
        lambda c: c.expiretime("k"),
        lambda c: c.getex("k", pxat=at * 1000 + 5),
        lambda c: c.pexpiretime("k"),
        lambda c: c.getex("k", ex=10, persist=True),
        lambda c: c.getex("k", ex=0),
        lambda c: c.getex("k", ex=-1),
    )


def test_mset_mget_msetnx(p):
    check(
        p,
        lambda c: c.mset({"a": "1", "b": 2, "c": 3.5}),
        lambda c: c.mget("a", "b", "c", "missing"),
        lambda c: c.mget(["a", "b"]),
        lambda c: c.mget(["a"], "b"),
        lambda c: c.msetnx({"a": "x", "z": "y"}),
        lambda c: c.msetnx({"y": "x", "z": "y"}),
        lambda c: c.mget("y", "z"),
        lambda c: c.mset({}),
    )


def test_getset_getdel_setnx_setex_psetex(p):
    check(
        p,
        lambda c: c.getset("k", "1"),
        lambda c: c.getset("k", "2"),
        lambda c: c.getdel("k"),
        lambda c: c.getdel("k"),
        lambda c: c.setnx("k", "v"),
        lambda c: c.setnx("k", "w"),
        lambda c: c.setex("e", datetime.timedelta(seconds=70), "v"),
        lambda c: c.ttl("e"),
        lambda c: c.setex("e", 0, "v"),
        lambda c: c.psetex("pe", datetime.timedelta(seconds=80), "v"),
        lambda c: rounded_s(c.pttl("pe")),
        lambda c: c.psetex("pe", 30000, "v"),
        lambda c: rounded_s(c.pttl("pe")),
    )


def test_incr_family_types(p):
    check(
        p,
        lambda c: c.incr("n"),
        lambda c: c.incr("n", 10),
        lambda c: c.incrby("n", -3),
        lambda c: c.decr("n"),
        lambda c: c.decrby("n", 5),
        lambda c: c.decr("n", 2),
        lambda c: c.get("n"),
        lambda c: c.incrbyfloat("f", 1.5),
        lambda c: c.incrbyfloat("f"),
        lambda c: c.incrbyfloat("f", -0.25),
        lambda c: c.incrbyfloat("n", 2),
        lambda c: c.get("f"),
        lambda c: c.incrbyfloat("f", 1e3),
        lambda c: c.incrbyfloat("g", "5.0e3"),
        lambda c: c.get("g"),
    )


def test_integer_and_float_parse_errors(p):
    check(
        p,
        lambda c: c.set("s", "abc"),
        lambda c: c.incr("s"),
        lambda c: c.incrby("s", 2),
        lambda c: c.incrby("n", "1.5"),
        lambda c: c.incrbyfloat("s", 1),
        lambda c: c.incrbyfloat("n", "x"),
        lambda c: c.set("big", "9223372036854775807"),
        lambda c: c.incr("big"),
        lambda c: c.expire("s", "abc"),
        lambda c: c.getrange("s", "a", 2),
        lambda c: c.lrange("l", 0, "x"),
        lambda c: c.setex("s", "ten", "v"),
    )


def test_append_strlen_getrange_setrange(p):
    check(
        p,
        lambda c: c.append("k", "hello"),
        lambda c: c.append("k", " world"),
        lambda c: c.strlen("k"),
        lambda c: c.strlen("missing"),
        lambda c: c.getrange("k", 0, 4),
        lambda c: c.getrange("k", -5, -1),
        lambda c: c.getrange("k", 5, 2),
        lambda c: c.getrange("missing", 0, -1),
        lambda c: c.setrange("k", 6, "W"),
        lambda c: c.setrange("pad", 3, "x"),
        lambda c: c.get("pad"),
        lambda c: c.setrange("k", -1, "x"),
        lambda c: c.setrange("k2", 0, ""),
        lambda c: c.exists("k2"),
        lambda c: c.get("k"),
        lambda c: c.substr("k", 1, 3),
    )


def test_numeric_and_bytes_values_round_trip(p):
    check(
        p,
        lambda c: c.set("i", 42),
        lambda c: c.set("f", 0.1),
        lambda c: c.set("b", b"\x00\x01raw"),
        lambda c: c.set("e", ""),
        lambda c: c.mget("i", "f", "e"),
        lambda c: c.get("b") if not p.decoded else c.strlen("b"),
        lambda c: c.strlen("e"),
    )


def test_wrongtype_errors(p):
    check(
        p,
        lambda c: c.rpush("l", "a"),
        lambda c: c.get("l"),
        lambda c: c.incr("l"),
        lambda c: c.hget("l", "f"),
        lambda c: c.sadd("l", "x"),
        lambda c: c.zscore("l", "x"),
        lambda c: c.append("l", "x"),
        lambda c: c.set("s", "v"),
        lambda c: c.lpush("s", "x"),
        lambda c: c.smembers("s"),
        lambda c: c.hgetall("s"),
        lambda c: c.zrange("s", 0, -1),
        lambda c: c.sinter("s", "l"),
        lambda c: c.getex("l"),
    )


def test_wrongtype_is_response_error(p):
    for c in (p.ours, p.theirs):
        c.rpush("l", "a")
        with pytest.raises(RE.ResponseError) as info:
            c.get("l")
        assert str(info.value) == "WRONGTYPE Operation against a key holding the wrong kind of value"


def test_unknown_command_and_arity_errors(p):
    check(
        p,
        lambda c: c.execute_command("NOSUCHCMD", "a", "b"),
        lambda c: c.execute_command("GET"),
        lambda c: c.execute_command("SET", "k"),
        lambda c: c.execute_command("SET", "k", "v", "BOGUS"),
        lambda c: c.execute_command("SET", "k", "v", "EX"),
        lambda c: c.delete(),
        lambda c: c.exists(),
        lambda c: c.mget([]),
    )


# ---------------------------------------------------------------------------------------
# keys


def test_delete_exists_touch_unlink(p):
    check(
        p,
        lambda c: c.mset({"a": 1, "b": 2, "c": 3}),
        lambda c: c.exists("a", "a", "b", "missing"),
        lambda c: c.exists("missing"),
        lambda c: c.touch("a", "b", "missing"),
        lambda c: c.delete("a", "missing"),
        lambda c: c.delete("a"),
        lambda c: c.unlink("b", "c", "x"),
        lambda c: c.dbsize(),
    )


def test_type_of_every_kind(p):
    check(
        p,
        lambda c: c.set("s", "v"),
        lambda c: c.rpush("l", "v"),
        lambda c: c.sadd("S", "v"),
        lambda c: c.hset("h", "f", "v"),
        lambda c: c.zadd("z", {"m": 1}),
        lambda c: [c.type(k) for k in ("s", "l", "S", "h", "z", "missing")],
    )


@requires("object")
def test_object_encoding(p):
    check(
        p,
        lambda c: c.set("int", 123),
        lambda c: c.set("emb", "short"),
        lambda c: c.set("raw", "x" * 100),
        lambda c: c.set("e44", "x" * 44),
        lambda c: c.set("e45", "x" * 45),
        lambda c: c.incrbyfloat("fl", 1.5),
        lambda c: c.sadd("iset", 1, 2, 3),
        lambda c: c.sadd("bigiset", *range(600)),
        lambda c: c.hset("hash", "f", "v"),
        lambda c: c.hset("bighash", mapping={f"f{i}": i for i in range(600)}),
        lambda c: c.hset("longhash", "f", "x" * 100),
        lambda c: c.zadd("zset", {"a": 1}),
        lambda c: c.zadd("bigzset", {f"m{i}": i for i in range(200)}),
        lambda c: c.zadd("longzset", {"x" * 100: 1}),
        lambda c: [c.object("encoding", k) for k in ("int", "emb", "raw", "e44", "e45", "fl", "iset", "bigiset", "hash", "bighash", "longhash", "zset", "bigzset", "longzset")],
        lambda c: c.object("encoding", "missing"),
        lambda c: c.object("bogus", "int"),
        lambda c: [type(c.object(sub, "int")).__name__ for sub in ("refcount", "idletime")],
        lambda c: c.object("freq", "int"),
    )


@requires("object")
def test_object_encoding_after_append_and_setrange_is_raw(p):
    # APPEND / SETRANGE always leave a "raw" string in Redis, even when it looks like an int
    check(
        p,
        lambda c: c.set("n", 123),
        lambda c: c.append("n", "4"),
        lambda c: c.object("encoding", "n"),
        lambda c: c.setrange("s", 0, "abc"),
        lambda c: c.object("encoding", "s"),
        lambda c: c.append("t", "abc"),
        lambda c: c.object("encoding", "t"),
    )


@requires("object")
def test_object_encoding_of_small_list_and_set_redis72(p):
    # nestdb follows the current Redis documentation (7.2+): small lists and small non-integer
    # sets are "listpack". The redis-server 7.0 these tests run against predates listpack
    # sets (it answers "quicklist" and "hashtable"), so this checks nestdb alone.
    c = p.ours
    assert c.rpush("list", "a") == 1
    assert c.object("encoding", "list") == p.b("listpack")
    assert c.sadd("set", "a", "b") == 2
    assert c.object("encoding", "set") == p.b("listpack")
    assert c.sadd("ints", 1, 2) == 2
    assert c.object("encoding", "ints") == p.b("intset")


def test_expire_options_return_bools(p):
    check(
        p,
        lambda c: c.expire("missing", 100),
        lambda c: c.set("k", "v"),
        lambda c: c.expire("k", 100, xx=True),
        lambda c: c.expire("k", 100, nx=True),
        lambda c: c.expire("k", 200, nx=True),
        lambda c: c.expire("k", 50, gt=True),
        lambda c: c.expire("k", 500, gt=True),
        lambda c: c.expire("k", 600, lt=True),
        lambda c: c.expire("k", 300, lt=True),
        lambda c: c.ttl("k"),
        lambda c: c.expire("k", 300, xx=True),
        lambda c: c.expire("k", datetime.timedelta(minutes=20)),
        lambda c: c.ttl("k"),
        lambda c: c.pexpire("k", datetime.timedelta(seconds=30)),
        lambda c: rounded_s(c.pttl("k")),
        lambda c: c.expire("k", 10, nx=True, xx=True),
        lambda c: c.expire("k", 10, gt=True, lt=True),
    )


def test_expire_gt_lt_without_ttl(p):
    check(
        p,
        lambda c: c.set("k", "v"),
        lambda c: c.expire("k", 100, gt=True),
        lambda c: c.ttl("k"),
        lambda c: c.expire("k", 100, lt=True),
        lambda c: c.ttl("k"),
    )


def test_expireat_pexpireat_expiretime(p):
    at = datetime.datetime.now().replace(microsecond=0) + datetime.timedelta(seconds=700)
    ts = int(time.time()) + 800
    check(
        p,
        lambda c: c.set("k", "v"),
        lambda c: c.expireat("k", at),
        lambda c: c.expiretime("k"),
        lambda c: c.expireat("k", ts, lt=True),
        lambda c: c.expiretime("k"),
        lambda c: c.pexpireat("k", ts * 1000 + 777),
        lambda c: c.pexpiretime("k"),
        lambda c: c.pexpireat("k", at),
        lambda c: c.pexpiretime("k"),
        lambda c: c.expireat("missing", ts),
    )


def test_ttl_pttl_expiretime_for_missing_and_persistent(p):
    check(
        p,
        lambda c: c.set("k", "v"),
        lambda c: [c.ttl("missing"), c.pttl("missing"), c.expiretime("missing"), c.pexpiretime("missing")],
        lambda c: [c.ttl("k"), c.pttl("k"), c.expiretime("k"), c.pexpiretime("k")],
        lambda c: c.persist("k"),
        lambda c: c.persist("missing"),
        lambda c: c.expire("k", 100),
        lambda c: c.persist("k"),
        lambda c: c.ttl("k"),
    )


def test_expire_in_the_past_deletes(p):
    check(
        p,
        lambda c: c.set("k", "v"),
        lambda c: c.expire("k", -1),
        lambda c: c.exists("k"),
        lambda c: c.set("k", "v"),
        lambda c: c.expireat("k", 1),
        lambda c: c.get("k"),
        lambda c: c.set("k", "v"),
        lambda c: c.pexpire("k", 0),
        lambda c: c.get("k"),
    )


def test_expired_keys_are_reclaimed_when_accessed(p):
    # Redis deletes an expired key when a command touches it: DBSIZE and INFO keyspace no
    # longer count it afterwards
    def expire_all(c):
        for k in ("a", "b", "c", "d"):
            c.set(k, "v", px=1)
        c.set("live", "v")
        time.sleep(0.02)

    check(
        p,
        expire_all,
        lambda c: [c.get("a"), c.exists("b"), c.ttl("c"), c.type("d")],
        lambda c: sorted(c.keys()),
        lambda c: c.dbsize(),
        lambda c: c.info("keyspace"),
    )


def test_copy(p):
    check(
        p,
        lambda c: c.copy("missing", "d"),
        lambda c: c.set("s", "v", ex=100),
        lambda c: c.copy("s", "d"),
        lambda c: c.ttl("d"),
        lambda c: c.set("s", "w"),
        lambda c: c.copy("s", "d"),
        lambda c: c.get("d"),
        lambda c: c.copy("s", "d", replace=True),
        lambda c: c.get("d"),
        lambda c: c.copy("s", "s"),
        lambda c: c.rpush("l", "a", "b"),
        lambda c: c.copy("l", "d", replace=True),
        lambda c: c.lrange("d", 0, -1),
        lambda c: c.type("d"),
    )


def test_rename_renamenx(p):
    check(
        p,
        lambda c: c.rename("missing", "x"),
        lambda c: c.renamenx("missing", "x"),
        lambda c: c.set("a", "1", ex=100),
        lambda c: c.set("b", "2"),
        lambda c: c.renamenx("a", "b"),
        lambda c: c.rename("a", "c"),
        lambda c: c.ttl("c"),
        lambda c: c.rename("c", "b"),
        lambda c: c.mget("a", "b", "c"),
        lambda c: c.rename("b", "b"),
        lambda c: c.renamenx("b", "b"),
        lambda c: c.ttl("b"),
    )


def test_rename_error_is_response_error(p):
    for c in (p.ours, p.theirs):
        with pytest.raises(RE.ResponseError, match="^no such key$"):
            c.rename("missing", "x")


def test_keys_randomkey_dbsize_flushdb(p):
    check(
        p,
        lambda c: c.randomkey(),
        lambda c: c.keys(),
        lambda c: c.mset({"user:1": 1, "user:2": 2, "item:1": 3, "u": 4}),
        lambda c: sorted(c.keys("user:*")),
        lambda c: sorted(c.keys("u*")),
        lambda c: sorted(c.keys("?ser:[12]")),
        lambda c: sorted(c.keys()),
        lambda c: c.randomkey() in c.keys(),
        lambda c: type(c.randomkey()).__name__,
        lambda c: c.dbsize(),
        lambda c: c.flushdb(),
        lambda c: c.dbsize(),
        lambda c: c.flushall(),
    )


def test_scan_shape_and_scan_iter(p):
    def fill(c):
        c.mset({f"key:{i}": i for i in range(30)})
        c.rpush("alist", "a")
        c.sadd("aset", "a")

    def full_scan(c, **kw):
        cursor, seen = 0, []
        while True:
            cursor, page = c.scan(cursor, **kw)
            assert isinstance(cursor, int) and isinstance(page, list)
            seen.extend(page)
            if cursor == 0:
                return sorted(seen)

    check(
        p,
        lambda c: c.scan(),
        fill,
        lambda c: full_scan(c),
        lambda c: full_scan(c, match="key:1*", count=5),
        lambda c: full_scan(c, _type="list"),
        lambda c: sorted(c.scan_iter()),
        lambda c: sorted(c.scan_iter(match="key:2?", count=3)),
        lambda c: sorted(c.scan_iter(_type="set")),
        lambda c: sorted(c.scan_iter(_type="STRING", match="*:29")),
        lambda c: type(c.scan_iter()).__name__,
        lambda c: c.scan(0, match="nomatch*", count=1000),
    )


# ---------------------------------------------------------------------------------------
# lists


def test_push_pop_and_lrange(p):
    check(
        p,
        lambda c: c.rpush("l", "a", "b", "c"),
        lambda c: c.lpush("l", 1, 2.5),
        lambda c: c.lrange("l", 0, -1),
        lambda c: c.lrange("l", -2, 100),
        lambda c: c.lrange("l", 3, 1),
        lambda c: c.lrange("missing", 0, -1),
        lambda c: c.lpushx("missing", "a"),
        lambda c: c.rpushx("l", "z"),
        lambda c: c.lpop("l"),
        lambda c: c.rpop("l"),
        lambda c: c.lpop("l", 2),
        lambda c: c.rpop("l", 1),
        lambda c: c.lpop("l", 0),
        lambda c: c.lpop("missing"),
        lambda c: c.lpop("missing", 2),
        lambda c: c.rpop("l", 10),
        lambda c: c.exists("l"),
        lambda c: c.lpop("l", -1),
    )


def test_lindex_lset_lrem_ltrim_llen(p):
    check(
        p,
        lambda c: c.rpush("l", "a", "b", "a", "c", "a"),
        lambda c: [c.lindex("l", 0), c.lindex("l", -1), c.lindex("l", 99), c.lindex("missing", 0)],
        lambda c: c.lset("l", 1, "B"),
        lambda c: c.lset("l", 99, "x"),
        lambda c: c.lset("missing", 0, "x"),
        lambda c: c.lrem("l", 1, "a"),
        lambda c: c.lrem("l", -1, "a"),
        lambda c: c.lrem("l", 0, "zz"),
        lambda c: c.lrange("l", 0, -1),
        lambda c: c.ltrim("l", 0, 1),
        lambda c: c.ltrim("missing", 0, 1),
        lambda c: c.llen("l"),
        lambda c: c.llen("missing"),
        lambda c: c.ltrim("l", 5, 1),
        lambda c: c.exists("l"),
    )


def test_linsert(p):
    check(
        p,
        lambda c: c.linsert("missing", "BEFORE", "a", "x"),
        lambda c: c.rpush("l", "a", "b"),
        lambda c: c.linsert("l", "BEFORE", "b", "x"),
        lambda c: c.linsert("l", "after", "b", "y"),
        lambda c: c.linsert("l", "BEFORE", "nope", "z"),
        lambda c: c.linsert("l", "MIDDLE", "a", "z"),
        lambda c: c.lrange("l", 0, -1),
    )


@requires("lpos")
def test_lpos(p):
    check(
        p,
        lambda c: c.rpush("l", "a", "b", "c", "b", "d", "b"),
        lambda c: c.lpos("l", "b"),
        lambda c: c.lpos("l", "b", rank=2),
        lambda c: c.lpos("l", "b", rank=-1),
        lambda c: c.lpos("l", "b", rank=-2, count=2),
        lambda c: c.lpos("l", "b", count=0),
        lambda c: c.lpos("l", "b", count=2),
        lambda c: c.lpos("l", "b", count=5, maxlen=4),
        lambda c: c.lpos("l", "b", maxlen=1),
        lambda c: c.lpos("l", "zz"),
        lambda c: c.lpos("l", "zz", count=2),
        lambda c: c.lpos("missing", "b"),
        lambda c: c.lpos("missing", "b", count=1),
        lambda c: c.lpos("l", "b", rank=0),
        lambda c: c.lpos("l", "b", count=-1),
        lambda c: c.lpos("l", "b", maxlen=-1),
        lambda c: c.lpos("l", "b", rank=10),
    )


def test_lmove_rpoplpush(p):
    check(
        p,
        lambda c: c.rpush("a", "1", "2", "3"),
        lambda c: c.lmove("a", "b"),
        lambda c: c.lmove("a", "b", "RIGHT", "LEFT"),
        lambda c: c.lmove("a", "a", "LEFT", "RIGHT"),
        lambda c: c.lmove("missing", "b"),
        lambda c: c.rpoplpush("b", "a"),
        lambda c: [c.lrange("a", 0, -1), c.lrange("b", 0, -1)],
        lambda c: c.lmove("a", "b", "UP", "LEFT"),
        lambda c: c.set("s", "v"),
        lambda c: c.lmove("a", "s"),
        lambda c: c.lrange("a", 0, -1),
    )


@requires("lmpop")
def test_lmpop(p):
    check(
        p,
        lambda c: c.lmpop(2, "missing", "m2", direction="LEFT"),
        lambda c: c.rpush("b", "1", "2", "3"),
        lambda c: c.lmpop(2, "a", "b", direction="LEFT"),
        lambda c: c.lmpop(2, "a", "b", direction="RIGHT", count=5),
        lambda c: c.exists("b"),
    )


@requires("blpop", "brpop", "brpoplpush", "blmove")
def test_blocking_pops_with_data(p):
    check(
        p,
        lambda c: c.rpush("l", "a", "b"),
        lambda c: c.blpop(["missing", "l"], timeout=1),
        lambda c: c.brpop("l", timeout=1),
        lambda c: c.blpop("l", timeout=0.05),
        lambda c: c.rpush("l", "x"),
        lambda c: c.brpoplpush("l", "m", timeout=1),
        lambda c: c.blmove("m", "l", 1, "LEFT", "RIGHT"),
        lambda c: c.lrange("l", 0, -1),
    )


# ---------------------------------------------------------------------------------------
# sets


def test_set_algebra_returns_sets(p):
    check(
        p,
        lambda c: c.sadd("a", "1", "2", "3", "x"),
        lambda c: c.sadd("b", "2", "3", "4"),
        lambda c: c.sadd("a", "1"),
        lambda c: c.smembers("a"),
        lambda c: c.smembers("missing"),
        lambda c: c.sinter("a", "b"),
        lambda c: c.sinter(["a", "b"]),
        lambda c: c.sunion("a", "b", "missing"),
        lambda c: c.sdiff("a", "b"),
        lambda c: c.sdiff(["missing", "a"]),
        lambda c: c.sinter("a", "missing"),
        lambda c: c.sinterstore("d", ["a", "b"]),
        lambda c: c.sunionstore("d", "a", "b"),
        lambda c: c.sdiffstore("d", ["a"], "b"),
        lambda c: c.smembers("d"),
        lambda c: c.sinterstore("d", "missing"),
        lambda c: c.exists("d"),
    )


def test_sismember_smismember_scard_srem_smove(p):
    check(
        p,
        lambda c: c.sadd("s", "a", "b", 1),
        lambda c: c.sismember("s", "a"),
        lambda c: c.sismember("s", "z"),
        lambda c: c.sismember("missing", "a"),
        lambda c: c.smismember("s", ["a", "z", 1]),
        lambda c: c.smismember("s", "a", "b"),
        lambda c: c.smismember("missing", ["a"]),
        lambda c: c.scard("s"),
        lambda c: c.srem("s", "a", "zz"),
        lambda c: c.smove("s", "t", "b"),
        lambda c: c.smove("s", "t", "b"),
        lambda c: c.smove("missing", "t", "b"),
        lambda c: [c.smembers("s"), c.smembers("t")],
    )


@requires("sintercard")
def test_sintercard(p):
    check(
        p,
        lambda c: c.sadd("a", 1, 2, 3, 4),
        lambda c: c.sadd("b", 2, 3, 4, 5),
        lambda c: c.sintercard(2, ["a", "b"]),
        lambda c: c.sintercard(2, ["a", "b"], limit=2),
        lambda c: c.sintercard(2, ["a", "b"], limit=0),
        lambda c: c.sintercard(1, ["missing"]),
        lambda c: c.sintercard(3, ["a", "b"]),
        lambda c: c.sintercard(2, ["a", "b"], limit=-1),
    )


def test_spop_srandmember_shapes(p):
    members = {p.b(m) for m in ("a", "b", "c", "d")}
    check(
        p,
        lambda c: c.sadd("s", "a", "b", "c", "d"),
        lambda c: c.srandmember("missing"),
        lambda c: c.srandmember("missing", 3),
        lambda c: c.spop("missing"),
        lambda c: c.spop("missing", 2),
        lambda c: (shape(c.srandmember("s")), c.srandmember("s") in members),
        lambda c: (shape(c.srandmember("s", 2)), set(c.srandmember("s", 2)) <= members, len(set(c.srandmember("s", 3)))),
        lambda c: (shape(c.srandmember("s", -6)), set(c.srandmember("s", -6)) <= members),
        lambda c: sorted(c.srandmember("s", 10)),
        lambda c: c.srandmember("s", 0),
        lambda c: (shape(c.spop("s")), c.scard("s")),
        lambda c: (shape(c.spop("s", 2)), c.scard("s")),
        lambda c: (shape(c.spop("s", 5)), c.exists("s")),
        lambda c: c.spop("s", 0),
    )


def test_sscan_shape_and_iter(p):
    def full(c, **kw):
        cursor, seen = 0, []
        while True:
            cursor, page = c.sscan("s", cursor, **kw)
            assert isinstance(cursor, int) and isinstance(page, list)
            seen.extend(page)
            if cursor == 0:
                return sorted(seen)

    check(
        p,
        lambda c: c.sscan("missing"),
        lambda c: c.sadd("s", *[f"m{i}" for i in range(40)]),
        lambda c: full(c),
        lambda c: full(c, match="m1*", count=7),
        lambda c: sorted(c.sscan_iter("s", match="*9")),
        lambda c: c.sadd("i", 1, 2, 3),
        lambda c: c.sscan("i"),
    )


# ---------------------------------------------------------------------------------------
# hashes


def test_hset_forms(p):
    check(
        p,
        lambda c: c.hset("h", "f", "v"),
        lambda c: c.hset("h", "f", "v2"),
        lambda c: c.hset("h", mapping={"a": 1, "b": 2.5}),
        lambda c: c.hset("h", "c", 3, mapping={"a": 9, "d": 4}),
        lambda c: c.hset("h", items=["x", 1, "y", 2]),
        lambda c: c.hset("h", "z", "1", mapping={"w": 1}, items=["v", 0]),
        lambda c: c.hgetall("h"),
        lambda c: c.hset("h"),
        lambda c: c.hset("h", mapping={}),
        lambda c: c.hmset("h2", {"a": 1, "b": 2}),
        lambda c: c.hgetall("h2"),
    )


def test_hash_reads_types(p):
    check(
        p,
        lambda c: c.hset("h", mapping={"a": "1", "b": "2", "c": ""}),
        lambda c: c.hgetall("h"),
        lambda c: c.hgetall("missing"),
        lambda c: sorted(c.hkeys("h")),
        lambda c: c.hkeys("missing"),
        lambda c: sorted(c.hvals("h")),
        lambda c: c.hget("h", "a"),
        lambda c: c.hget("h", "zz"),
        lambda c: c.hmget("h", ["a", "zz", "b"]),
        lambda c: c.hmget("h", "a", "c"),
        lambda c: c.hmget("missing", "a"),
        lambda c: c.hexists("h", "a"),
        lambda c: c.hexists("h", "zz"),
        lambda c: c.hlen("h"),
        lambda c: c.hstrlen("h", "a"),
        lambda c: c.hstrlen("h", "zz"),
        lambda c: c.hdel("h", "a", "zz"),
        lambda c: c.hdel("missing", "a"),
        lambda c: c.hsetnx("h", "b", "x"),
        lambda c: c.hsetnx("h", "new", "x"),
    )


def test_hincrby_hincrbyfloat(p):
    check(
        p,
        lambda c: c.hincrby("h", "n"),
        lambda c: c.hincrby("h", "n", 10),
        lambda c: c.hincrbyfloat("h", "f"),
        lambda c: c.hincrbyfloat("h", "f", 2.5),
        lambda c: c.hincrbyfloat("h", "n", 0.5),
        lambda c: c.hset("h", "s", "abc"),
        lambda c: c.hincrby("h", "s", 1),
        lambda c: c.hincrbyfloat("h", "s", 1),
        lambda c: c.hincrby("h", "f", 1),
        lambda c: c.hgetall("h"),
    )


@requires("hrandfield")
def test_hrandfield_shapes(p):
    fields = {p.b(f) for f in ("a", "b", "c")}
    check(
        p,
        lambda c: c.hrandfield("missing"),
        lambda c: c.hrandfield("missing", 2),
        lambda c: c.hrandfield("missing", 2, withvalues=True),
        lambda c: c.hset("h", mapping={"a": 1, "b": 2, "c": 3}),
        lambda c: (shape(c.hrandfield("h")), c.hrandfield("h") in fields),
        lambda c: (shape(c.hrandfield("h", 2)), set(c.hrandfield("h", 2)) <= fields),
        lambda c: sorted(c.hrandfield("h", 5)),
        lambda c: (shape(c.hrandfield("h", -5)), set(c.hrandfield("h", -5)) <= fields),
        lambda c: (shape(c.hrandfield("h", 2, withvalues=True))),
        lambda c: sorted(zip(*[iter(c.hrandfield("h", 3, withvalues=True))] * 2)),
        lambda c: c.hrandfield("h", 0),
        lambda c: c.hrandfield("h", 0, withvalues=True),
    )


def test_hscan_shape_and_iter(p):
    check(
        p,
        lambda c: c.hscan("missing"),
        lambda c: c.hset("h", mapping={f"f{i}": i for i in range(5)}),
        lambda c: c.hscan("h"),
        lambda c: c.hscan("h", 0, match="f1*"),
        lambda c: sorted(c.hscan_iter("h")),
        lambda c: sorted(c.hscan_iter("h", match="f[23]", count=1)),
        lambda c: type(next(iter(c.hscan_iter("h")))).__name__,
    )


# ---------------------------------------------------------------------------------------
# sorted sets


def test_zadd_flags_and_returns(p):
    check(
        p,
        lambda c: c.zadd("z", {"a": 1, "b": 2}),
        lambda c: c.zadd("z", {"a": 5, "c": 3}, nx=True),
        lambda c: c.zadd("z", {"a": 5, "d": 3}, xx=True),
        lambda c: c.zadd("z", {"a": 5, "b": 9}, xx=True, ch=True),
        lambda c: c.zadd("z", {"a": 1, "b": 10}, gt=True, ch=True),
        lambda c: c.zadd("z", {"a": 1, "b": 20, "e": 0}, lt=True, ch=True),
        lambda c: c.zrange("z", 0, -1, withscores=True),
        lambda c: c.zadd("z", {"a": 1}, nx=True, gt=True),
        lambda c: c.zadd("z", {"a": 1}, nx=True, xx=True),
        lambda c: c.zadd("z", {"a": 1}, gt=True, lt=True),
        lambda c: c.zadd("z", {}),
        lambda c: c.zadd("z", {"a": "notafloat"}),
        lambda c: c.zadd("z", {"a": float("nan")}),
    )


def test_zadd_incr_returns_float(p):
    check(
        p,
        lambda c: c.zadd("z", {"a": 1}, incr=True),
        lambda c: c.zadd("z", {"a": 2.5}, incr=True),
        lambda c: c.zadd("z", {"a": 1}, incr=True, nx=True),
        lambda c: c.zadd("z", {"b": 1}, incr=True, xx=True),
        lambda c: c.zadd("z", {"a": -100}, incr=True, gt=True),
        lambda c: c.zadd("z", {"a": 1, "b": 2}, incr=True),
        lambda c: c.zincrby("z", 2, "a"),
        lambda c: c.zincrby("z", -0.5, "new"),
        lambda c: c.zadd("z", {"inf": "inf"}),
        lambda c: c.zincrby("z", "-inf", "inf"),
        lambda c: c.zscore("z", "a"),
    )


def test_zscore_zmscore_zcard_zcount(p):
    check(
        p,
        lambda c: c.zadd("z", {"a": 1, "b": 2.5, "c": -3, "d": 1e20, "e": "inf"}),
        lambda c: [c.zscore("z", m) for m in ("a", "b", "c", "d", "e", "zz")],
        lambda c: c.zscore("missing", "a"),
        lambda c: c.zmscore("z", ["a", "zz", "e"]),
        lambda c: c.zmscore("missing", ["a"]),
        lambda c: c.zmscore("z", []),
        lambda c: c.zcard("z"),
        lambda c: c.zcard("missing"),
        lambda c: c.zcount("z", 1, 3),
        lambda c: c.zcount("z", "(1", "+inf"),
        lambda c: c.zcount("z", "-inf", "(2.5"),
        lambda c: c.zcount("z", "x", 3),
    )


def test_zrange_variants(p):
    check(
        p,
        lambda c: c.zadd("z", {"a": 1, "b": 2, "c": 3, "d": 4, "e": 5}),
        lambda c: c.zrange("z", 0, -1),
        lambda c: c.zrange("z", 0, 1, withscores=True),
        lambda c: c.zrange("z", 0, 1, desc=True, withscores=True),
        lambda c: c.zrange("z", 0, 1, withscores=True, score_cast_func=int),
        lambda c: c.zrange("z", 2, 4, byscore=True),
        lambda c: c.zrange("z", "(2", "+inf", byscore=True, withscores=True),
        lambda c: c.zrange("z", 5, 2, byscore=True, desc=True),
        lambda c: c.zrange("z", 1, 10, byscore=True, offset=1, num=2),
        lambda c: c.zrange("z", 10, 1, byscore=True, desc=True, offset=0, num=3, withscores=True),
        lambda c: c.zrange("missing", 0, -1),
        lambda c: c.zrange("missing", 0, -1, withscores=True),
        lambda c: c.zrange("z", 0, -1, offset=1),
        lambda c: c.zrange("z", 0, -1, byscore=True, bylex=True),
        lambda c: c.zrange("z", 0, 1, offset=0, num=1),
    )


def test_zrange_bylex(p):
    check(
        p,
        lambda c: c.zadd("z", {m: 0 for m in "abcdefg"}),
        lambda c: c.zrange("z", "[b", "(e", bylex=True),
        lambda c: c.zrange("z", "+", "[e", bylex=True, desc=True),
        lambda c: c.zrange("z", "-", "+", bylex=True, offset=2, num=2),
        lambda c: c.zrange("z", "-", "+", bylex=True, withscores=True),
        lambda c: c.zrange("z", "b", "e", bylex=True),
        lambda c: c.zrangebylex("z", "-", "[c"),
        lambda c: c.zrangebylex("z", "-", "+", start=1, num=2),
        lambda c: c.zrevrangebylex("z", "[f", "(b"),
        lambda c: c.zrevrangebylex("z", "+", "-", start=0, num=1),
        lambda c: c.zlexcount("z", "[b", "[d"),
        lambda c: c.zrangebylex("z", "-", "+", start=1),
    )


def test_zrange_score_cast_func_sees_raw_score(p):
    # score_cast_func receives the reply's score text: checks the engine's score formatting
    check(
        p,
        lambda c: c.zadd("z", {"a": 1, "b": 2.5, "c": -0.1, "d": 1e20, "e": "inf", "f": "-inf", "g": 1 / 3, "h": 123456789012}),
        lambda c: c.zrange("z", 0, -1, withscores=True, score_cast_func=lambda s: s),
        lambda c: c.zrangebyscore("z", "-inf", "+inf", withscores=True, score_cast_func=lambda s: s),
        lambda c: c.zscan("z", score_cast_func=lambda s: s),
        lambda c: c.zpopmin("z", 2),
        lambda c: c.zrange("z", 0, -1, withscores=True, score_cast_func=str),
    )


def test_zrangebyscore_zrevrange_zrevrangebyscore(p):
    check(
        p,
        lambda c: c.zadd("z", {"a": 1, "b": 2, "c": 3, "d": 4}),
        lambda c: c.zrangebyscore("z", 2, 3),
        lambda c: c.zrangebyscore("z", "-inf", "+inf", start=1, num=2),
        lambda c: c.zrangebyscore("z", "-inf", "+inf", start=1, num=2, withscores=True),
        lambda c: c.zrangebyscore("z", "(1", 4, withscores=True, score_cast_func=int),
        lambda c: c.zrangebyscore("z", 2, "x"),
        lambda c: c.zrangebyscore("z", 0, 10, start=1),
        lambda c: c.zrevrange("z", 0, 1),
        lambda c: c.zrevrange("z", 0, -1, withscores=True),
        lambda c: c.zrevrange("z", 0, 0, withscores=True, score_cast_func=int),
        lambda c: c.zrevrangebyscore("z", 4, 2),
        lambda c: c.zrevrangebyscore("z", "+inf", "-inf", start=0, num=2, withscores=True),
    )


def test_zrank_zrevrank(p):
    check(
        p,
        lambda c: c.zadd("z", {"a": 1, "b": 2.5, "c": 3}),
        lambda c: [c.zrank("z", "a"), c.zrank("z", "c"), c.zrank("z", "zz"), c.zrank("missing", "a")],
        lambda c: [c.zrevrank("z", "a"), c.zrevrank("z", "zz")],
    )


@requires("zrank")
def test_zrank_withscore_nestdb_only(p):
    # redis 7.0 has no WITHSCORE (7.2+): check nestdb against redis-py's documented RESP2 shape
    c = p.ours
    c.zadd("z", {"a": 1, "b": 2.5})
    assert c.zrank("z", "b", withscore=True) == [1, 2.5]
    assert c.zrevrank("z", "b", withscore=True) == [0, 2.5]
    assert c.zrank("z", "zz", withscore=True) is None
    r = c.zrank("z", "a", withscore=True)
    assert type(r) is list and type(r[0]) is int and type(r[1]) is float
    # score_cast_func sees the same raw score as for ZRANGE (checked against the server)
    raw = c.zrange("z", 1, 1, withscores=True, score_cast_func=lambda s: s)[0][1]
    assert c.zrank("z", "b", withscore=True, score_cast_func=lambda s: s) == [1, raw]
    assert c.zrank("z", "a", withscore=True, score_cast_func=int) == [0, 1]
    with pytest.raises(RE.ResponseError) as info:
        p.theirs.zadd("z", {"a": 1}) and p.theirs.zrank("z", "a", withscore=True)
    assert "syntax error" in str(info.value) or "wrong number" in str(info.value)


def test_zpopmin_zpopmax(p):
    check(
        p,
        lambda c: c.zpopmin("missing"),
        lambda c: c.zpopmax("missing", 2),
        lambda c: c.zadd("z", {"a": 1, "b": 2, "c": 3, "d": 4.5}),
        lambda c: c.zpopmin("z"),
        lambda c: c.zpopmax("z"),
        lambda c: c.zpopmin("z", 5),
        lambda c: c.exists("z"),
        lambda c: c.zadd("z", {"a": 1}),
        lambda c: c.zpopmin("z", 0),
        lambda c: c.zpopmax("z", -1),
    )


@requires("bzpopmin", "bzpopmax")
def test_bzpop_with_data(p):
    check(
        p,
        lambda c: c.zadd("z", {"a": 1, "b": 2}),
        lambda c: c.bzpopmin(["missing", "z"], timeout=1),
        lambda c: c.bzpopmax("z", timeout=1),
        lambda c: c.bzpopmin("z", timeout=0.05),
    )


@requires("zrandmember")
def test_zrandmember_shapes(p):
    members = {p.b(m) for m in ("a", "b", "c")}
    check(
        p,
        lambda c: c.zrandmember("missing"),
        lambda c: c.zrandmember("missing", 2),
        lambda c: c.zrandmember("missing", 2, withscores=True),
        lambda c: c.zadd("z", {"a": 1, "b": 2, "c": 3}),
        lambda c: (shape(c.zrandmember("z")), c.zrandmember("z") in members),
        lambda c: (shape(c.zrandmember("z", 2)), set(c.zrandmember("z", 2)) <= members),
        lambda c: sorted(c.zrandmember("z", 5)),
        lambda c: (shape(c.zrandmember("z", -5)), set(c.zrandmember("z", -5)) <= members),
        lambda c: shape(c.zrandmember("z", 2, withscores=True)),
        lambda c: sorted(zip(*[iter(c.zrandmember("z", 3, withscores=True))] * 2)),
        lambda c: c.zrandmember("z", 0),
    )


def test_zunionstore_zinterstore_weights_aggregate(p):
    check(
        p,
        lambda c: c.zadd("a", {"x": 1, "y": 2, "z": 3}),
        lambda c: c.zadd("b", {"y": 10, "z": 20, "w": 30}),
        lambda c: c.zunionstore("u", ["a", "b"]),
        lambda c: c.zrange("u", 0, -1, withscores=True),
        lambda c: c.zunionstore("u", {"a": 2, "b": 0.5}),
        lambda c: c.zrange("u", 0, -1, withscores=True),
        lambda c: c.zunionstore("u", {"a": 1, "b": 1}, aggregate="MAX"),
        lambda c: c.zrange("u", 0, -1, withscores=True),
        lambda c: c.zinterstore("i", ["a", "b"], aggregate="min"),
        lambda c: c.zrange("i", 0, -1, withscores=True),
        lambda c: c.zinterstore("i", {"a": 3, "b": -1}, aggregate="SUM"),
        lambda c: c.zrange("i", 0, -1, withscores=True),
        lambda c: c.zinterstore("i", ["a", "missing"]),
        lambda c: c.exists("i"),
        lambda c: c.zunionstore("u", ["a"], aggregate="AVG"),
        lambda c: c.sadd("s", "x", "q"),
        lambda c: c.zunionstore("u", ["a", "s"]),
        lambda c: c.zrange("u", 0, -1, withscores=True),
    )


@requires("zunion", "zinter", "zdiff")
def test_zunion_zinter_zdiff_readers(p):
    check(
        p,
        lambda c: c.zadd("a", {"x": 1, "y": 2, "z": 3}),
        lambda c: c.zadd("b", {"y": 10, "z": 20, "w": 30}),
        lambda c: c.zunion(["a", "b"]),
        lambda c: c.zunion(["a", "b"], withscores=True),
        lambda c: c.zunion({"a": 2, "b": 1}, aggregate="MIN", withscores=True),
        lambda c: c.zinter(["a", "b"], withscores=True),
        lambda c: c.zinter({"a": 1, "b": 2}, aggregate="max", withscores=True),
        lambda c: c.zdiff(["a", "b"]),
        lambda c: c.zdiff(["a", "b"], withscores=True),
        lambda c: c.zdiffstore("d", ["b", "a"]),
        lambda c: c.zrange("d", 0, -1, withscores=True),
        lambda c: c.zinter(["a", "missing"], withscores=True),
    )


@requires("zrangestore", "zintercard", "zmpop")
def test_zrangestore_zintercard_zmpop(p):
    check(
        p,
        lambda c: c.zadd("a", {"x": 1, "y": 2, "z": 3}),
        lambda c: c.zadd("b", {"y": 1, "z": 1}),
        lambda c: c.zrangestore("d", "a", 0, 1),
        lambda c: c.zrangestore("d", "a", 2, 3, byscore=True, desc=False),
        lambda c: c.zrangestore("d", "a", "+inf", 2, byscore=True, desc=True, offset=0, num=1),
        lambda c: c.zrange("d", 0, -1, withscores=True),
        lambda c: c.zintercard(2, ["a", "b"]),
        lambda c: c.zintercard(2, ["a", "b"], limit=1),
        lambda c: c.zmpop(2, ["missing", "a"], min=True),
        lambda c: c.zmpop(2, ["a", "b"], max=True, count=5),
        lambda c: c.zmpop(1, ["missing"], min=True),
        lambda c: c.zmpop(1, ["a"]),
    )


def test_zrem_and_zremrange(p):
    check(
        p,
        lambda c: c.zadd("z", {m: i for i, m in enumerate("abcdefgh")}),
        lambda c: c.zrem("z", "a", "zz"),
        lambda c: c.zremrangebyrank("z", 0, 1),
        lambda c: c.zremrangebyscore("z", "(4", 5),
        lambda c: c.zrange("z", 0, -1),
        lambda c: c.zadd("lex", {m: 0 for m in "abcde"}),
        lambda c: c.zremrangebylex("lex", "[b", "(d"),
        lambda c: c.zrange("lex", 0, -1),
        lambda c: c.zrem("missing", "a"),
        lambda c: c.zremrangebyscore("z", "x", 1),
    )


def test_zscan_shape_and_iter(p):
    check(
        p,
        lambda c: c.zscan("missing"),
        lambda c: c.zadd("z", {f"m{i}": i / 2 for i in range(8)}),
        lambda c: c.zscan("z"),
        lambda c: c.zscan("z", 0, match="m[13]"),
        lambda c: c.zscan("z", 0, score_cast_func=int),
        lambda c: sorted(c.zscan_iter("z")),
        lambda c: sorted(c.zscan_iter("z", match="m*", count=2, score_cast_func=str)),
        lambda c: type(next(iter(c.zscan_iter("z")))).__name__,
    )


# ---------------------------------------------------------------------------------------
# pipelines and transactions


def test_pipeline_return_lists(p):
    def run(c, transaction):
        pipe = c.pipeline(transaction=transaction)
        pipe.set("k", "1").incr("k").get("k")
        pipe.rpush("l", "a", "b")
        pipe.lrange("l", 0, -1).hset("h", mapping={"f": "v"}).hgetall("h")
        pipe.sadd("s", "a").smembers("s").zadd("z", {"a": 1}, incr=True)
        pipe.zrange("z", 0, -1, withscores=True).expire("k", 100).ttl("k").exists("k", "l")
        pipe.set("k", "v", get=True).zscore("z", "a").zrank("z", "zz")
        return pipe.execute()

    check(p, lambda c: run(c, True), lambda c: c.flushdb(), lambda c: run(c, False))


def test_pipeline_errors_raise_first_error_after_executing(p):
    def run(c, transaction):
        pipe = c.pipeline(transaction=transaction)
        pipe.set("s", "v").lpush("s", "x").incr("n").hget("s", "f").get("s")
        return pipe.execute()

    check(
        p,
        lambda c: run(c, True),
        lambda c: [c.get("s"), c.get("n")],
        lambda c: c.flushdb(),
        lambda c: run(c, False),
        lambda c: [c.get("s"), c.get("n")],
    )


def test_pipeline_errors_returned_with_raise_on_error_false(p):
    def run(c, transaction):
        pipe = c.pipeline(transaction=transaction)
        pipe.set("s", "abc").incr("s").lpush("s", "x").append("s", "d").get("s")
        out = pipe.execute(raise_on_error=False)
        return out, [isinstance(x, RE.ResponseError) for x in out]

    check(p, lambda c: run(c, True), lambda c: c.flushdb(), lambda c: run(c, False))


def test_pipeline_queue_time_error_aborts_transaction(p):
    def run(c, transaction, raise_on_error=True):
        pipe = c.pipeline(transaction=transaction)
        pipe.set("a", "1")
        pipe.execute_command("SET", "b")  # wrong arity: rejected when queued
        pipe.set("c", "3")
        return pipe.execute(raise_on_error=raise_on_error)

    check(
        p,
        lambda c: run(c, True),
        lambda c: c.mget("a", "b", "c"),
        lambda c: run(c, True, raise_on_error=False),
        lambda c: run(c, False, raise_on_error=False),
        lambda c: c.mget("a", "b", "c"),
        lambda c: c.flushdb(),
        lambda c: run(c, False),
        lambda c: c.mget("a", "b", "c"),
    )


def test_pipeline_unknown_command_in_transaction(p):
    def run(c):
        pipe = c.pipeline()
        pipe.set("a", "1").execute_command("NOSUCH", "x").get("a")
        return pipe.execute()

    check(p, run, lambda c: c.get("a"))


def test_pipeline_empty_len_context_and_reset(p):
    def run(c):
        out = []
        with c.pipeline() as pipe:
            out.append(pipe.execute())
            pipe.set("a", 1).get("a")
            out.append(len(pipe))
            pipe.reset()
            out.append(len(pipe))
            pipe.get("a")
            out.append(pipe.execute())
            out.append(len(pipe))
            pipe.incr("a")
            out.append(pipe.execute())
        out.append(c.pipeline(transaction=False).execute())
        return out

    check(p, run)


def test_pipeline_callbacks_in_pipeline(p):
    def run(c):
        pipe = c.pipeline()
        pipe.set("k", "v", ex=100).ttl("k").pttl("missing").type("k").sismember("s", "x")
        pipe.smismember("s", ["x"]).hexists("h", "f").incrbyfloat("f", 1).zincrby("z", 1.5, "m")
        pipe.zmscore("z", ["m", "q"]).zpopmin("z").hscan("h").zscan("z").scan(0, match="nomatch")
        pipe.keys("k*").dbsize().ping().echo("hi").copy("k", "k2").persist("k").expire("k", 10, nx=True)
        pipe.getex("k", persist=True).exists("k").mset({"a": 1}).msetnx({"a": 1})
        return pipe.execute()

    check(p, run)


def test_watch_multi_exec_conflict_raises_watcherror(p):
    def run(c, other):
        with c.pipeline() as pipe:
            pipe.watch("k")
            before = pipe.get("k")
            other.set("k", "changed")
            pipe.multi()
            pipe.set("k", "mine")
            pipe.get("k")
            try:
                return ("executed", before, pipe.execute())
            except RE.WatchError as e:
                return ("watcherror", before, type(e).__name__, str(e))

    check2(
        p,
        lambda c, o: c.set("k", "orig"),
        run,
        lambda c, o: c.get("k"),
    )


def test_watch_without_conflict_executes(p):
    def run(c, other):
        with c.pipeline() as pipe:
            pipe.watch("k", "j")
            n = int(pipe.get("k") or 0)
            other.set("unrelated", "x")
            other.get("k")
            pipe.multi()
            pipe.set("k", n + 1)
            pipe.incr("j")
            return pipe.execute()

    check2(p, lambda c, o: c.set("k", "5"), run, run, lambda c, o: c.mget("k", "j"))


def test_watch_conflict_from_expiry_and_delete(p):
    def run(c, other, action):
        with c.pipeline() as pipe:
            pipe.watch("k")
            action(other)
            pipe.multi()
            pipe.get("k")
            try:
                return pipe.execute()
            except RE.WatchError as e:
                return ("watcherror", str(e))

    check2(
        p,
        lambda c, o: c.set("k", "v"),
        lambda c, o: run(c, o, lambda x: x.delete("k")),
        lambda c, o: run(c, o, lambda x: x.set("k", "new")),
        lambda c, o: run(c, o, lambda x: x.expire("k", 100)),
        lambda c, o: run(c, o, lambda x: x.delete("missing")),
        lambda c, o: run(c, o, lambda x: x.flushdb()),
    )


def test_pipeline_watch_immediate_mode_and_errors(p):
    def run(c):
        out = []
        pipe = c.pipeline()
        pipe.watch("k")
        out.append(pipe.set("k", "1"))  # immediate mode: runs at once
        out.append(pipe.get("k"))
        pipe.multi()
        try:
            pipe.multi()
        except Exception as e:  # noqa: BLE001
            out.append((type(e).__name__, str(e)))
        pipe.incr("k")
        out.append(pipe.execute())
        pipe.reset()
        return out

    check(p, run)


def test_transaction_helper(p):
    def incr_via_transaction(c, other, **kw):
        calls = []

        def body(pipe):
            calls.append(1)
            v = int(pipe.get("k") or 0)
            if len(calls) == 1:
                other.set("k", "100")  # first attempt conflicts: retried
            pipe.multi()
            pipe.set("k", v + 1)
            pipe.get("k")
            return v

        return c.transaction(body, "k", **kw), len(calls)

    check2(
        p,
        lambda c, o: c.set("k", "1"),
        lambda c, o: incr_via_transaction(c, o),
        lambda c, o: incr_via_transaction(c, o, value_from_callable=True),
        lambda c, o: c.get("k"),
    )


def test_exec_discard_without_multi(p):
    check(
        p,
        lambda c: c.execute_command("EXEC"),
        lambda c: c.execute_command("DISCARD"),
        lambda c: c.pipeline(transaction=False).execute_command("EXEC").execute(raise_on_error=False),
    )


def test_multi_exec_raw_commands(p):
    def run(c):
        pipe = c.pipeline(transaction=False)
        pipe.execute_command("MULTI")
        pipe.set("a", "1")
        pipe.incr("a")
        pipe.execute_command("EXEC")
        return pipe.execute()

    check(p, run, lambda c: c.get("a"))


# ---------------------------------------------------------------------------------------
# server


def test_ping_echo_time_shape(p):
    check(
        p,
        lambda c: c.ping(),
        lambda c: c.echo("hi"),
        lambda c: c.echo(12),
        lambda c: shape(c.time()) + tuple(type(x).__name__ for x in c.time()),
        lambda c: abs(c.time()[0] - time.time()) < 5,
    )


@requires("info")
def test_info_dict_shape(p):
    def info_shape(c):
        c.mset({"a": 1, "b": 2})
        c.set("e", 1, ex=100)
        info = c.info()
        # (fields nestdb lacks are in test_info_sections_contain_common_fields)
        want_ints = ["used_memory", "used_memory_peak", "keyspace_hits", "keyspace_misses", "expired_keys", "evicted_keys", "maxmemory", "loading", "aof_enabled"]
        return (
            type(info).__name__,
            {k: type(info.get(k)).__name__ for k in want_ints},
            type(info.get("redis_version")).__name__,
            type(info.get("used_memory_human")).__name__,
            type(info.get("maxmemory_policy")).__name__,
            info.get("maxmemory_policy"),
            # avg_ttl is left out: redis-server's becomes non-zero whenever its 10 Hz expire
            # cycle happens to sample "e" between the SET and the INFO (a timing race, which
            # failed a fresh-clone run once); nestdb reports 0. keys and expires are compared.
            {k: v for k, v in (info.get("db0") or {}).items() if k != "avg_ttl"},
            "db1" in info,
        )

    def keyspace(c):
        c.set("x", 1)
        info = c.info("keyspace")
        return info, sorted(c.info("memory"))[:0], type(c.info("server").get("redis_version")).__name__

    check(p, info_shape, lambda c: c.flushdb(), keyspace, lambda c: c.flushdb(), lambda c: c.info("keyspace"))


@requires("info")
def test_info_sections_contain_common_fields(p):
    fields = {
        "server": ["redis_version", "redis_mode", "os", "arch_bits", "process_id", "uptime_in_seconds", "uptime_in_days", "hz"],
        "clients": ["connected_clients", "blocked_clients"],
        "memory": ["used_memory", "used_memory_human", "used_memory_peak", "maxmemory", "maxmemory_human", "maxmemory_policy", "mem_fragmentation_ratio"],
        "persistence": ["loading", "rdb_changes_since_last_save", "rdb_bgsave_in_progress", "rdb_last_save_time", "aof_enabled"],
        "stats": ["total_connections_received", "total_commands_processed", "expired_keys", "evicted_keys", "keyspace_hits", "keyspace_misses"],
        "replication": ["role", "connected_slaves"],
    }

    def present(c):
        out = {}
        for section, names in fields.items():
            info = c.info(section)
            out[section] = {n: type(info[n]).__name__ if n in info else "MISSING" for n in names}
        return out

    check(p, present)


@requires("config")
def test_config_get_set(p):
    check(
        p,
        lambda c: c.config_get("maxmemory"),
        lambda c: c.config_get("maxmemory-policy"),
        lambda c: c.config_set("maxmemory-policy", "allkeys-lru"),
        lambda c: c.config_get("maxmemory-policy"),
        lambda c: c.config_set("maxmemory", "10mb"),
        lambda c: c.config_get("maxmemory"),
        lambda c: c.config_set("maxmemory", 0),
        lambda c: c.config_set("maxmemory-policy", "noeviction"),
        lambda c: c.config_get("no-such-param"),
        lambda c: c.config_set("no-such-param", "1"),
        lambda c: c.config_get("maxmemory-policy"),
        lambda c: type(c.config_get()).__name__,
        lambda c: c.config_get("hz"),
        lambda c: c.config_set("hz", 20),
        lambda c: c.config_get("hz"),
        lambda c: c.config_set("hz", 10),
        lambda c: c.config_set("maxmemory", 0, "maxmemory-samples", 7),
        lambda c: c.config_get("maxmemory-samples"),
        lambda c: c.config_set("maxmemory-samples", 5),
        lambda c: c.config_get("maxmemory", "hz"),
        lambda c: c.config_resetstat(),
    )


@requires("config")
def test_config_set_invalid_value_error_texts(p):
    check(
        p,
        lambda c: c.config_set("maxmemory-policy", "bogus"),
        lambda c: c.config_set("maxmemory", "abc"),
        lambda c: c.config_set("maxmemory-samples", "0"),
        lambda c: c.config_set("hz", "x"),
        lambda c: c.config_get("maxmemory-policy"),
    )


@requires("config")
def test_config_get_common_parameters(p):
    # parameters that clients commonly read (and CONFIG SET) on startup; read-only in nestdb
    names = ["appendonly", "timeout", "maxclients", "notify-keyspace-events", "maxmemory-clients", "maxmemory-eviction-tenacity"]
    check(p, *[(lambda n: (lambda c: c.config_get(n)))(n) for n in names])
    # one keyspace: nestdb says databases=1 (SELECT takes only 0) where a default
    # redis-server says 16; refusing to set it is Redis's answer for an immutable parameter
    assert p.ours.config_get("databases") == {"databases": "1"}  # redis-py decodes CONFIG GET
    with pytest.raises(redis.ResponseError, match="DB index is out of range"):
        p.ours.execute_command("SELECT", 1)
    check(p, lambda c: c.config_set("databases", 4), lambda c: c.config_set("DATABASES", 4))


def test_config_set_of_read_only_parameters_is_refused():
    r = nestdb.Redis()
    for name in ["appendonly", "timeout", "maxclients", "notify-keyspace-events", "maxmemory-clients"]:
        with pytest.raises(redis.ResponseError) as e:
            r.config_set(name, "1")
        assert str(e.value) == f"CONFIG SET failed (possibly related to argument '{name}') - can't set immutable config"
    r.close()


@requires("config")
def test_config_get_exact_name_keeps_requested_spelling(p):
    check(p, lambda c: c.config_get("MAXMEMORY"), lambda c: c.config_get("Maxmemory-Policy"))


@requires("config")
def test_config_get_glob(p):
    check(
        p,
        lambda c: c.config_get("maxmemory-p*"),
        lambda c: c.config_get("maxmemory-?amples"),
        lambda c: sorted(c.config_get("hash-max-listpack-*")),
    )


def test_decode_responses_types_for_nested_replies(p):
    check(
        p,
        lambda c: c.hset("h", mapping={"a": "1"}),
        lambda c: c.zadd("z", {"m": 2}),
        lambda c: c.rpush("l", "x"),
        lambda c: c.sadd("s", "y"),
        lambda c: [c.hgetall("h"), c.zrange("z", 0, -1, withscores=True), c.lrange("l", 0, -1), c.smembers("s"), c.keys("*") and sorted(c.keys("*"))],
        lambda c: c.execute_command("HGETALL", "h"),
        lambda c: c.execute_command("ZRANGE", "z", "0", "-1", "WITHSCORES"),
        lambda c: c.execute_command("SMEMBERS", "s"),
        lambda c: c.execute_command("SET", "x", "1"),
        lambda c: c.execute_command("GET", "nope"),
    )
