"""LCS through the redis-py drop-in, side by side with redis-py on a real redis-server (same
arguments, same results in redis-py's RESP2 shapes, same errors)."""

import random
from typing import Any

import pytest

import nestdb


def test_lcs_like_redis(r: nestdb.Redis, real: Any) -> None:
    rng = random.Random(7)
    for _ in range(40):
        x = "".join(rng.choice("ab") for _ in range(rng.randint(0, 25)))
        y = "".join(rng.choice("ab") for _ in range(rng.randint(0, 25)))
        for c in (r, real):
            c.mset({"x": x, "y": y})
        for kwargs in ({}, {"len": True}, {"idx": True}, {"idx": True, "withmatchlen": True}, {"idx": True, "minmatchlen": 2}):
            assert r.lcs("x", "y", **kwargs) == real.lcs("x", "y", **kwargs), (x, y, kwargs)
    # The manual's example.
    r.mset({"key1": "ohmytext", "key2": "mynewtext"})
    assert r.lcs("key1", "key2") == b"mytext"
    assert r.lcs("key1", "key2", len=True) == 6
    assert r.lcs("key1", "key2", idx=True, minmatchlen=4, withmatchlen=True) == [b"matches", [[[4, 7], [5, 8], 4]], b"len", 6]


def test_lcs_errors_like_redis(r: nestdb.Redis, real: Any) -> None:
    import redis

    for c in (r, real):
        c.rpush("l", "a")
        c.set("s", "abc")
    for call in (lambda c: c.lcs("s", "l"), lambda c: c.lcs("s", "s", len=True, idx=True)):
        with pytest.raises(redis.exceptions.ResponseError) as ours:
            call(r)
        with pytest.raises(redis.exceptions.ResponseError) as theirs:
            call(real)
        assert str(ours.value) == str(theirs.value)
