"""Reply shapes of the hash, list, set and sorted-set families: the redis-py callbacks
(WITHSCORES pairs, cursors, random replies, pops) applied to nestdb's replies. Options newer
than the reference redis-server (HSCAN NOVALUES, ZRANK WITHSCORE) are checked here."""

from __future__ import annotations

import pytest

from conftest import requires


@requires("hset", "hscan", "hrandfield")
def test_hash_shapes(r):
    assert r.hset("h", mapping={"a": 1, "b": 2}) == 2
    assert r.hset("h", "c", 3, items=["d", 4]) == 2
    assert r.hgetall("h") == {b"a": b"1", b"b": b"2", b"c": b"3", b"d": b"4"}
    assert r.hmget("h", ["a", "zz"]) == [b"1", None] and r.hmget("h", "a", "b") == [b"1", b"2"]
    assert r.hexists("h", "a") is True and r.hexists("h", "zz") is False
    assert r.hsetnx("h", "a", 9) == 0 and r.hsetnx("h", "e", 5) == 1  # no bool callback in redis-py
    assert r.hincrbyfloat("h", "a", 0.5) == 1.5
    assert sorted(r.hkeys("h")) == [b"a", b"b", b"c", b"d", b"e"] and r.hlen("h") == 5
    assert r.hstrlen("h", "a") == 3 and r.hdel("h", "e", "zz") == 1
    cursor, page = r.hscan("h", count=100)
    assert cursor == 0 and page == r.hgetall("h")
    assert sorted(r.hscan_iter("h", match="[ab]")) == [(b"a", b"1.5"), (b"b", b"2")]
    assert sorted(r.hscan_iter("h", no_values=True)) == [b"a", b"b", b"c", b"d"]
    assert r.hrandfield("h") in (b"a", b"b", b"c", b"d")
    flat = r.hrandfield("h", 2, withvalues=True)
    assert len(flat) == 4 and all(r.hget("h", f) == v for f, v in zip(flat[::2], flat[1::2]))
    assert r.hmset("h2", {"x": 1}) is True
    with pytest.raises(Exception, match="'hset' with no key value pairs"):
        r.hset("h")


@requires("sadd", "sscan", "smismember", "spop", "srandmember")
def test_set_shapes(rd):
    assert rd.sadd("s", "a", "b", "c") == 3
    assert rd.smembers("s") == {"a", "b", "c"} and rd.smembers("missing") == set()
    assert rd.smismember("s", ["a", "z"]) == [1, 0] and rd.sismember("s", "a") == 1
    assert rd.sinter("s", "missing") == set() and rd.sunion(["s"]) == {"a", "b", "c"}
    assert rd.sdiff("s", "missing") == {"a", "b", "c"}
    assert rd.sintercard(1, ["s"], limit=2) == 2
    assert rd.smove("s", "t", "a") is True and rd.smove("s", "t", "zz") is False
    assert sorted(rd.sscan_iter("s")) == ["b", "c"]
    assert rd.srandmember("s") in ("b", "c") and len(rd.srandmember("s", -5)) == 5
    popped = rd.spop("s", 5)
    assert sorted(popped) == ["b", "c"] and rd.spop("s") is None


@requires("lpush", "lpos", "lmpop", "lmove")
def test_list_shapes(r):
    assert r.rpush("l", "a", "b", "c", "b") == 4
    assert r.lpos("l", "b") == 1 and r.lpos("l", "b", count=0) == [1, 3] and r.lpos("l", "z") is None
    assert r.lset("l", 0, "A") is True and r.ltrim("l", 0, 2) is True
    assert r.linsert("l", "BEFORE", "b", "x") == 4 and r.lindex("l", 1) == b"x"
    assert r.lpop("l", 2) == [b"A", b"x"] and r.rpop("missing") is None and r.lpop("missing", 2) is None
    assert r.lmove("l", "m", "LEFT", "RIGHT") == b"b"
    assert r.lmpop(2, "nope", "l", direction="RIGHT") == [b"l", [b"c"]]
    assert r.rpoplpush("m", "n") == b"b" and r.lrem("n", 0, "b") == 1
    assert r.lmpop(1, "empty", direction="LEFT") is None


@requires("zadd", "zrank", "zpopmin", "zrandmember", "zmpop", "zscan", "zmscore", "zunion")
def test_sorted_set_shapes(r):
    assert r.zadd("z", {"a": 1, "b": 2.5, "c": 3}) == 3
    assert r.zadd("z", {"a": 5}, incr=True) == 6.0 and r.zadd("z", {"zz": 1}, xx=True, incr=True) is None
    assert r.zrange("z", 0, -1, withscores=True) == [(b"b", 2.5), (b"c", 3.0), (b"a", 6.0)]
    assert r.zrange("z", 0, 0, withscores=True, score_cast_func=int) == [(b"b", 2)]
    assert r.zrange("z", 0, 0, withscores=True, score_cast_func=lambda s: s) == [(b"b", b"2.5")]
    assert r.zrangebyscore("z", 3, "+inf", withscores=True) == [(b"c", 3.0), (b"a", 6.0)]
    assert r.zrank("z", "c") == 1 and r.zrevrank("z", "c") == 1 and r.zrank("z", "nope") is None
    assert r.zrank("z", "c", withscore=True) == [1, 3.0]
    assert r.zmscore("z", ["a", "nope"]) == [6.0, None]
    assert r.zscore("z", "b") == 2.5 and r.zincrby("z", 0.5, "b") == 3.0
    flat = r.zrandmember("z", 2, withscores=True)
    assert len(flat) == 4 and all(isinstance(s, bytes) for s in flat[1::2])
    assert r.zrandmember("z") in (b"a", b"b", b"c")
    assert r.zunion(["z", "missing"], withscores=True)[0] == (b"b", 3.0)
    assert r.zdiff(["z", "missing"], withscores=True)[:2] == [b"b", b"3"]
    assert sorted(r.zscan_iter("z")) == [(b"a", 6.0), (b"b", 3.0), (b"c", 3.0)]
    cursor, page = r.zscan("z", count=100, score_cast_func=int)
    assert cursor == 0 and sorted(page) == [(b"a", 6), (b"b", 3), (b"c", 3)]
    assert r.zpopmin("z") == [(b"b", 3.0)] and r.zpopmax("z", 5) == [(b"a", 6.0), (b"c", 3.0)]
    assert r.zpopmin("z") == []
    r.zadd("y", {"m": 1.5})
    assert r.zmpop(2, ["nope", "y"], min=True) == [b"y", [[b"m", b"1.5"]]]
    assert r.zmpop(1, ["nope"], max=True) is None
