"""HyperLogLog through the redis-py drop-in, side by side with redis-py on a real redis-server:
the same calls give the same results (PFCOUNT's estimates included), and the guide-style
unique-visitor counter works as written."""

from typing import Any

import pytest

import nestdb


def test_unique_visitors_like_redis(r: nestdb.Redis, real: Any) -> None:
    for day in range(3):
        for c in (r, real):
            for chunk in range(10):
                c.pfadd(f"visitors:{day}", *[f"user:{(day * 700 + i) % 2500}" for i in range(chunk * 100, chunk * 100 + 100)])
        assert r.pfcount(f"visitors:{day}") == real.pfcount(f"visitors:{day}")
    assert r.pfcount("visitors:0", "visitors:1", "visitors:2") == real.pfcount("visitors:0", "visitors:1", "visitors:2")
    assert r.pfmerge("visitors:all", "visitors:0", "visitors:1", "visitors:2") is real.pfmerge(
        "visitors:all", "visitors:0", "visitors:1", "visitors:2"
    ) is True
    assert r.pfcount("visitors:all") == real.pfcount("visitors:all")
    # Days cover users 0-999, 700-1699 and 1400-2399: the estimate is close to 2400.
    assert abs(r.pfcount("visitors:all") - 2400) < 2400 * 0.02
    assert r.pfadd("visitors:0", "user:0") == real.pfadd("visitors:0", "user:0") == 0
    assert r.pfadd("fresh") == real.pfadd("fresh") == 1
    assert r.pfcount("fresh") == real.pfcount("fresh") == 0
    assert r.pfcount("nothing-here") == real.pfcount("nothing-here") == 0
    assert r.type("visitors:all") == real.type("visitors:all") == b"string"


def test_a_redis_written_hyperloglog_reads_back(r: nestdb.Redis, real: Any) -> None:
    for n in (5, 5000):
        real.pfadd(f"h{n}", *[f"e{i}" for i in range(n)])
        r.set(f"h{n}", real.get(f"h{n}"))
        assert r.pfcount(f"h{n}") == real.pfcount(f"h{n}")


def test_errors_match_redis(r: nestdb.Redis, real: Any) -> None:
    import redis

    for c in (r, real):
        c.rpush("list", "a")
        c.set("plain", "not a hyperloglog")
    for call in (lambda c: c.pfadd("list", "x"), lambda c: c.pfcount("plain"), lambda c: c.pfmerge("d", "plain")):
        with pytest.raises(redis.exceptions.ResponseError) as ours:
            call(r)
        with pytest.raises(redis.exceptions.ResponseError) as theirs:
            call(real)
        assert str(ours.value) == str(theirs.value)
    assert r.exists("d") == real.exists("d") == 0
    assert r.get("plain") == b"not a hyperloglog"
