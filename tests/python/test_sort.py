"""SORT through the redis-py drop-in, side by side with redis-py on a real redis-server (7.0):
``sort`` and ``sort_ro`` with every keyword (``start``/``num``, ``by``, ``get`` as a string
or a list, ``desc``, ``alpha``, ``store``, ``groups``) give the same values, shapes (lists,
``groups`` tuples, STORE counts) and errors (redis-py's DataErrors, the server's
ResponseErrors), with bytes and with ``decode_responses=True``; and a "top users by a field
of their profile hash" lookup runs as written.
"""

from __future__ import annotations

from typing import Any

import pytest

import nestdb

from conftest import Pair, check, requires

pytestmark = requires("sort", "sort_ro")


def users(c: Any) -> Any:
    c.rpush("uids", 3, 1, 2, 5, 4)
    for uid, (name, score, age) in {1: ("ann", 50, 31), 2: ("bob", 20, 25), 3: ("cy", 70, 40), 4: ("dee", 20, 19)}.items():
        c.hset(f"user:{uid}", mapping={"name": name, "score": score, "age": age})
        c.set(f"weight_{uid}", score)
    return c.hgetall("user:1")


def test_sort_like_redis(pair: Pair) -> None:
    check(
        pair,
        users,
        lambda c: c.sort("uids"),
        lambda c: c.sort("uids", desc=True),
        lambda c: c.sort("uids", start=1, num=2),
        lambda c: c.sort("uids", start=0, num=0),
        lambda c: c.sort("uids", start=10, num=2),
        lambda c: c.sort("uids", by="weight_*"),
        lambda c: c.sort("uids", by="weight_*", desc=True, start=0, num=3),
        lambda c: c.sort("uids", by="user:*->age"),
        lambda c: c.sort("uids", by="user:*->name", alpha=True),
        lambda c: c.sort("uids", by="nosort"),
        lambda c: c.sort("uids", get="user:*->name"),
        lambda c: c.sort("uids", get=["#", "user:*->name", "user:*->score"], by="user:*->score", desc=True),
        lambda c: c.sort("uids", get=("#", "user:*->name"), groups=True),
        lambda c: c.sort("uids", get=["#", "user:*->name", "weight_*"], groups=True, start=1, num=3),
        lambda c: c.sort("uids", by="user:*->score", get="#", store="ranked"),
        lambda c: c.lrange("ranked", 0, -1),
        lambda c: c.sort("uids", start=9, num=1, store="ranked"),
        lambda c: c.exists("ranked"),
        lambda c: c.sort("nokey"),
        lambda c: c.sort("nokey", store="dst"),
        lambda c: c.sort_ro("uids"),
        lambda c: c.sort_ro("uids", by="weight_*", get=["#", "weight_*"], desc=True, start=0, num=2),
        lambda c: c.sort_ro("uids", alpha=True),
        lambda c: c.rpush("words", "pear", "Fig", "apple", "10", "9"),
        lambda c: c.sort("words", alpha=True),
        lambda c: c.sort("words", alpha=True, desc=True, start=1, num=2),
        lambda c: c.sadd("nums", 5, 1, 10, -3),
        lambda c: c.sort("nums"),
        lambda c: c.sort("nums", desc=True, store="snums"),
        lambda c: c.lrange("snums", 0, -1),
        lambda c: c.zadd("z", {"c": 3, "a": 1, "b": 2}),
        lambda c: c.sort("z", alpha=True),
        lambda c: c.sort("z", by="nosort", desc=True),
        lambda c: c.sort("z", by="nosort", start=1, num=1),
    )


def test_sort_errors_like_redis(pair: Pair) -> None:
    check(
        pair,
        lambda c: c.rpush("words", "pear", "fig"),
        lambda c: c.sort("words"),
        lambda c: c.set("str", "x"),
        lambda c: c.sort("str"),
        lambda c: c.sort("words", start=1),
        lambda c: c.sort("words", num=1),
        lambda c: c.sort("words", groups=True),
        lambda c: c.sort("words", get="#", groups=True),
        lambda c: c.sort("words", get=["#"], groups=True),
        lambda c: c.execute_command("SORT", "words", "LIMIT", "x", "1"),
        lambda c: c.execute_command("SORT", "words", "BOGUS"),
        lambda c: c.execute_command("SORT_RO", "words", "STORE", "d"),
        lambda c: c.execute_command("SORT_RO", "words", "ALPHA"),
        lambda c: c.rpush("nan", "1", "nan"),
        lambda c: c.sort("nan"),
    )


def test_sort_in_pipeline_and_transaction(r: nestdb.Redis) -> None:
    r.rpush("l", 3, 1, 2)
    with r.pipeline() as p:
        p.sort("l").sort("l", desc=True, store="d").lrange("d", 0, -1).sort("l", get=["#", "#"], groups=True)
        assert p.execute() == [[b"1", b"2", b"3"], 3, [b"3", b"2", b"1"], [(b"1", b"1"), (b"2", b"2"), (b"3", b"3")]]


def test_leaderboard_by_profile_field(rd: nestdb.Redis) -> None:
    """Top players by a field of their profile hash, names fetched in the same call."""
    for uid, (name, points) in enumerate([("ann", 120), ("bob", 300), ("cy", 80), ("dee", 300)]):
        rd.hset(f"player:{uid}", mapping={"name": name, "points": points})
        rd.sadd("players", uid)
    top = rd.sort("players", by="player:*->points", desc=True, start=0, num=3, get=["#", "player:*->name"], groups=True)
    # Ties in points come out by the ids' order, reversed with DESC (as Redis orders them).
    assert top == [("3", "dee"), ("1", "bob"), ("0", "ann")]
    assert rd.sort("players", by="player:*->points", get="player:*->name", store="ranking") == 4
    assert rd.lrange("ranking", 0, -1) == ["cy", "ann", "bob", "dee"]
    with pytest.raises(nestdb.ResponseError, match="WRONGTYPE"):
        rd.sort("player:0")
