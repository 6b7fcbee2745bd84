"""Memory through the Python surface (issue 6): config keywords at open and CONFIG SET/GET,
INFO memory/stats/keyspace parsed as redis-py parses them, MEMORY USAGE/STATS, OBJECT
ENCODING/IDLETIME/FREQ, TOUCH, maxmemory with eviction (used_memory stays at or under the cap
after every write; volatile policies never evict keys without a TTL), noeviction's
OutOfMemoryError changing nothing, compact encodings converting as they grow, transparent
compression, and the guide's cache workloads under a memory cap.

The redis-py method calls are the ones an application makes against redis-server; where the
shape of a reply matters it is compared with redis-py + redis-server (skipped without one).
"""

from __future__ import annotations

import json
import os
import random

import pytest

import nestdb
from nestdb.exceptions import OutOfMemoryError, ResponseError

try:  # errors of both clients in the tests that also run against redis-py + redis-server
    import redis

    ANY_RESPONSE_ERROR: tuple = (redis.exceptions.ResponseError,)
except ImportError:  # pragma: no cover
    ANY_RESPONSE_ERROR = (ResponseError,)

OOM_TEXT = "command not allowed when used memory > 'maxmemory'."
MB = 1024 * 1024


def used(r) -> int:
    return r.info("memory")["used_memory"]


def evicted(r) -> int:
    return r.info("stats")["evicted_keys"]


# ------------------------------------------------------------------ config


MEMORY_CONFIG = {
    "maxmemory": "1mb",
    "maxmemory_policy": "allkeys-lru",
    "maxmemory_samples": 10,
    "lfu_log_factor": 5,
    "lfu_decay_time": 2,
    "compression": "zlib",
    "compression_min_size": 64,
    "hash_max_listpack_entries": 16,
    "hash_max_listpack_value": 32,
    "set_max_intset_entries": 64,
    "set_max_listpack_entries": 16,
    "set_max_listpack_value": 32,
    "zset_max_listpack_entries": 16,
    "zset_max_listpack_value": 32,
    "list_max_listpack_size": 8,
}


def test_config_keywords_at_open():
    r = nestdb.Redis(decode_responses=True, **MEMORY_CONFIG)
    got = r.config_get("*")
    want = {k.replace("_", "-"): str(v) for k, v in MEMORY_CONFIG.items()}
    want["maxmemory"] = str(MB)
    assert {k: got[k] for k in want} == want
    info = r.info("memory")
    assert info["maxmemory"] == MB
    assert info["maxmemory_policy"] == "allkeys-lru"
    r.close()


@pytest.mark.parametrize("value, expected", [(MB, MB), ("100mb", 100 * MB), ("2gb", 2048 * MB), ("64k", 64000), ("64kb", 65536), (0, 0)])
def test_maxmemory_units(value, expected):
    r = nestdb.Redis(maxmemory=value)
    assert r.config_get("maxmemory") == {"maxmemory": str(expected)}
    assert r.info("memory")["maxmemory"] == expected
    r.close()


@pytest.mark.parametrize(
    "policy", ["noeviction", "allkeys-lru", "volatile-lru", "allkeys-lfu", "volatile-lfu", "allkeys-random", "volatile-random", "volatile-ttl"]
)
def test_every_policy_at_open_and_at_run_time(policy):
    r = nestdb.Redis(maxmemory_policy=policy)
    assert r.config_get("maxmemory-policy") == {"maxmemory-policy": policy}
    assert r.config_set("maxmemory-policy", "noeviction") is True
    assert r.config_set("maxmemory-policy", policy) is True
    assert r.info("memory")["maxmemory_policy"] == policy
    r.close()


def test_config_keyword_errors():
    with pytest.raises(ValueError):
        nestdb.Redis(maxmemory_policy="most-recently-used")
    with pytest.raises(ValueError):
        nestdb.Redis(maxmemory="lots")
    with pytest.raises(ValueError):
        nestdb.Redis(compression="brotli")
    with pytest.raises(TypeError):
        nestdb.Redis(max_memory="1mb")


def test_config_set_errors_are_response_errors(r):
    with pytest.raises(ResponseError):
        r.config_set("maxmemory-policy", "most-recently-used")
    with pytest.raises(ResponseError):
        r.config_set("compression", "brotli")
    assert r.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}


def test_config_set_several_at_once(r):
    assert r.config_set("maxmemory", "10mb", "maxmemory-policy", "allkeys-lfu") is True
    assert r.config_get("maxmemory", "maxmemory-policy") == {"maxmemory": str(10 * MB), "maxmemory-policy": "allkeys-lfu"}


# ------------------------------------------------------------------ INFO, MEMORY, OBJECT, TOUCH


def test_info_memory_stats_keyspace_types(r):
    r.set("a", "1")
    r.set("b", "x" * 100, ex=100)
    r.get("a")
    r.get("missing")
    info = r.info()
    for name in ("used_memory", "used_memory_peak", "maxmemory", "evicted_keys", "expired_keys", "keyspace_hits", "keyspace_misses"):
        assert type(info[name]) is int, name
    assert type(info["used_memory_human"]) is str
    assert type(info["mem_fragmentation_ratio"]) is float
    assert info["maxmemory_policy"] == "noeviction"
    assert info["used_memory"] > 0 and info["used_memory_peak"] >= info["used_memory"]
    assert info["keyspace_hits"] >= 1 and info["keyspace_misses"] >= 1
    assert info["db0"]["keys"] == 2 and info["db0"]["expires"] == 1
    assert r.info("keyspace") == {"db0": info["db0"]}
    mem = r.info("memory")
    assert "used_memory" in mem and "evicted_keys" not in mem
    assert set(r.info("stats")) >= {"evicted_keys", "expired_keys", "keyspace_hits", "keyspace_misses"}


def test_info_memory_field_types_match_redis(r, real):
    for c in (r, real):
        c.set("k", "v")
    ours, theirs = r.info("memory"), real.info("memory")
    common = [k for k in theirs if k in ours]
    assert {"used_memory", "used_memory_human", "used_memory_peak", "maxmemory", "maxmemory_policy", "mem_fragmentation_ratio"} <= set(common)
    assert {k: type(ours[k]) for k in common} == {k: type(theirs[k]) for k in common}
    assert ours["maxmemory_policy"] == theirs["maxmemory_policy"] == "noeviction"


def test_used_memory_follows_writes_and_deletes(r):
    empty = used(r)
    r.mset({f"k:{i}": "v" * 100 for i in range(200)})
    full = used(r)
    assert full - empty >= 200 * 100
    r.delete(*[f"k:{i}" for i in range(200)])
    assert used(r) < empty + (full - empty) // 5  # what stays is the grown hash tables
    assert r.info("memory")["used_memory_peak"] >= full


def test_memory_usage(r, real):
    for c in (r, real):
        c.set("small", "v")
        c.set("big", os.urandom(5000))  # incompressible: stored at full size
        c.hset("h", mapping={f"f{i}": i for i in range(50)})
    for c in (r, real):
        small, big = c.memory_usage("small"), c.memory_usage("big")
        assert type(small) is int and type(big) is int
        assert 0 < small < big and big >= 5000
        assert c.memory_usage("missing") is None
        assert type(c.memory_usage("h", samples=0)) is int
        assert type(c.memory_usage("h", samples=5)) is int


def test_memory_usage_grows_with_the_value(r):
    sizes = []
    for n in (10, 100, 1000, 10000):
        r.set("k", os.urandom(n))  # incompressible
        sizes.append(r.memory_usage("k"))
    assert sizes == sorted(sizes) and sizes[-1] >= 10000


def test_memory_stats_shape(r, real):
    for c in (r, real):
        c.set("k", "v")
        stats = c.memory_stats()
        assert isinstance(stats, dict) and all(type(k) is str for k in stats)
        for name in ("peak.allocated", "total.allocated", "keys.count", "dataset.bytes"):
            assert type(stats[name]) is int, (c, name)
        assert stats["keys.count"] == 1
    rd = nestdb.Redis(decode_responses=True)
    rd.set("k", "v")
    assert all(type(k) is str for k in rd.memory_stats())
    rd.close()


def test_memory_doctor_help_purge_malloc_stats_like_redis_py(r):
    with pytest.raises(NotImplementedError):
        r.memory_doctor()
    with pytest.raises(NotImplementedError):
        r.memory_help()
    assert r.memory_purge() is True
    assert isinstance(r.memory_malloc_stats(), bytes)
    assert isinstance(r.execute_command("MEMORY DOCTOR"), bytes)
    assert isinstance(r.execute_command("MEMORY HELP"), list)


def test_object_and_touch(r, real):
    for c in (r, real):
        c.set("n", 12345)
        c.set("s", "hello")
        assert c.object("encoding", "n") == b"int"
        assert c.object("encoding", "s") == b"embstr"
        assert c.object("encoding", "missing") is None
        idle = c.object("idletime", "s")
        assert type(idle) is int and 0 <= idle <= 2
        assert c.object("idletime", "missing") is None
        with pytest.raises(ANY_RESPONSE_ERROR, match="LFU maxmemory policy is not selected"):
            c.object("freq", "s")
        assert c.touch("n", "s", "missing") == 2
        assert c.touch("missing") == 0


def test_object_encoding_decoded(rd):
    rd.set("s", "x" * 100)
    assert rd.object("encoding", "s") == "raw"


def test_object_freq_under_lfu():
    r = nestdb.Redis(maxmemory_policy="allkeys-lfu")
    r.set("hot", "v")
    r.set("cold", "v")
    for _ in range(200):
        r.get("hot")
    hot, cold = r.object("freq", "hot"), r.object("freq", "cold")
    assert type(hot) is int and type(cold) is int
    assert hot > cold
    with pytest.raises(ResponseError, match="LFU maxmemory policy is selected, idle time not tracked"):
        r.object("idletime", "hot")  # Redis: IDLETIME is not tracked under an LFU policy
    r.close()


def test_object_encoding_transitions():
    r = nestdb.Redis(decode_responses=True, **{k: v for k, v in MEMORY_CONFIG.items() if "max_" in k and k != "maxmemory"})

    r.hset("h", mapping={f"f{i}": "v" for i in range(16)})
    assert r.object("encoding", "h") == "listpack"
    r.hset("h", "f16", "v")
    assert r.object("encoding", "h") == "hashtable"
    r.hset("h2", "f", "v" * 32)
    assert r.object("encoding", "h2") == "listpack"
    r.hset("h2", "g", "v" * 33)
    assert r.object("encoding", "h2") == "hashtable"

    r.sadd("ints", *range(64))
    assert r.object("encoding", "ints") == "intset"
    r.sadd("ints", 64)
    assert r.object("encoding", "ints") == "hashtable"
    r.sadd("mixed", 1, 2, 3)
    assert r.object("encoding", "mixed") == "intset"
    r.sadd("mixed", "a")
    assert r.object("encoding", "mixed") == "listpack"
    r.sadd("mixed", *[f"m{i}" for i in range(20)])
    assert r.object("encoding", "mixed") == "hashtable"
    r.sadd("longmember", "x" * 33)
    assert r.object("encoding", "longmember") == "hashtable"

    r.zadd("z", {f"m{i}": i for i in range(16)})
    assert r.object("encoding", "z") == "listpack"
    r.zadd("z", {"m16": 16})
    assert r.object("encoding", "z") == "skiplist"
    r.zadd("z2", {"y" * 33: 1})
    assert r.object("encoding", "z2") == "skiplist"

    r.rpush("l", *range(8))
    assert r.object("encoding", "l") == "listpack"
    r.rpush("l", *range(100))
    assert r.object("encoding", "l") == "quicklist"

    # Contents survive every conversion.
    assert r.hlen("h") == 17 and r.hget("h2", "g") == "v" * 33
    assert r.scard("ints") == 65 and r.sismember("mixed", "a") and r.sismember("mixed", 1)
    assert r.zscore("z", "m16") == 16.0 and r.zcard("z") == 17
    assert r.llen("l") == 108 and r.lindex("l", 7) == "7" and r.lindex("l", -1) == "99"
    r.close()


def test_default_thresholds_match_redis(r, real):
    """The memory parameters' defaults are redis-server's."""
    names = [
        "maxmemory",
        "maxmemory-policy",
        "maxmemory-samples",
        "lfu-log-factor",
        "lfu-decay-time",
        "hash-max-listpack-entries",
        "hash-max-listpack-value",
        "set-max-intset-entries",
        "zset-max-listpack-entries",
        "zset-max-listpack-value",
        "list-max-listpack-size",
    ]
    ours, theirs = r.config_get(*names), real.config_get(*names)
    assert ours == {k: theirs[k] for k in names}


def test_default_encodings_match_redis(r, real):
    """With the default thresholds the encodings are those redis-server reports. (Only the
    cases every Redis 7 agrees on: 7.0 keeps a hash filled by one big HSET as a listpack and
    has no listpack lists or sets; nestdb follows 7.2+.)"""
    for c in (r, real):
        c.hset("h", mapping={f"f{i}": "v" for i in range(10)})
        for i in range(600):
            c.hset("hbig", f"f{i}", "v")
        c.hset("hlong", "f", "v" * 65)
        c.sadd("si", *range(10))
        c.sadd("sibig", *range(600))
        c.sadd("sbig", *[f"m{i}" for i in range(200)])
        c.zadd("z", {f"m{i}": i for i in range(10)})
        c.zadd("zbig", {f"m{i}": i for i in range(200)})
        c.set("n", -42)
        c.set("emb", "x" * 44)
        c.set("raw", "x" * 45)
    keys = ["h", "hbig", "hlong", "si", "sibig", "sbig", "z", "zbig", "n", "emb", "raw"]
    assert [r.object("encoding", k) for k in keys] == [real.object("encoding", k) for k in keys]


# ------------------------------------------------------------------ eviction


ALLKEYS = ["allkeys-lru", "allkeys-lfu", "allkeys-random"]
VOLATILE = ["volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl"]


def random_write(r, rng: random.Random, i: int, ttl: bool) -> None:
    """One random write of a random type; with `ttl`, half the keys get a TTL."""
    key = f"k:{rng.randrange(4000)}"
    kind = rng.randrange(6)
    if kind == 0:
        r.set(key, "v" * rng.randrange(1, 400))
    elif kind == 1:
        r.execute_command("SET", key, "w" * rng.randrange(1, 400))
    elif kind == 2:
        r.hset(f"h:{key}", f"f{i % 50}", "x" * rng.randrange(1, 60))
    elif kind == 3:
        r.rpush(f"l:{key}", *["y" * 20] * rng.randrange(1, 5))
    elif kind == 4:
        r.sadd(f"s:{key}", *[f"m{rng.randrange(1000)}" for _ in range(3)])
    else:
        r.zadd(f"z:{key}", {f"m{rng.randrange(1000)}": rng.random()})
    if ttl and rng.random() < 0.5:
        r.expire(key if kind < 2 else f"{'hlsz'[kind - 2]}:{key}", 1000)


@pytest.mark.parametrize("policy", ALLKEYS)
def test_allkeys_eviction_keeps_used_memory_under_the_cap(policy):
    cap = 256 * 1024
    r = nestdb.Redis(maxmemory=cap, maxmemory_policy=policy)
    rng = random.Random(policy)
    worst = 0
    for i in range(6000):
        random_write(r, rng, i, ttl=False)
        worst = max(worst, used(r))
        assert worst <= cap, f"write {i}: used_memory {worst} > maxmemory {cap}"
    n = r.dbsize()
    assert evicted(r) > 0 and n > 100
    r.close()


@pytest.mark.parametrize("policy", VOLATILE)
def test_volatile_eviction_never_touches_keys_without_ttl(policy):
    cap = 256 * 1024
    r = nestdb.Redis(maxmemory=cap, maxmemory_policy=policy)
    persistent = [f"keep:{i}" for i in range(100)]
    r.mset({k: "p" * 100 for k in persistent})
    rng = random.Random(policy)
    for i in range(3000):
        key = f"vol:{i}"
        r.set(key, "v" * rng.randrange(50, 300), ex=rng.randrange(100, 10000))
        assert used(r) <= cap, f"write {i}: used_memory {used(r)} > maxmemory {cap}"
    assert evicted(r) > 0
    assert r.exists(*persistent) == len(persistent)
    assert all(v == b"p" * 100 for v in r.mget(persistent))
    r.close()


def test_volatile_policy_without_volatile_keys_is_oom():
    cap = 64 * 1024
    r = nestdb.Redis(maxmemory=cap, maxmemory_policy="volatile-lru")
    with pytest.raises(OutOfMemoryError):
        for i in range(10_000):
            r.execute_command("SET", f"k:{i}", "v" * 100)
    n = r.dbsize()
    assert evicted(r) == 0 and n > 0
    with pytest.raises(OutOfMemoryError):
        r.set("one-more", "v")
    assert r.dbsize() == n and r.get("one-more") is None
    r.close()


def test_evicted_keys_counts_every_eviction():
    r = nestdb.Redis(maxmemory=128 * 1024, maxmemory_policy="allkeys-random")
    for i in range(3000):
        r.set(f"k:{i}", "v" * 100)
    assert evicted(r) == 3000 - r.dbsize() > 0
    r.config_resetstat()
    assert evicted(r) == 0
    r.close()


def test_lowering_maxmemory_at_run_time_evicts_on_the_next_write():
    r = nestdb.Redis(maxmemory_policy="allkeys-lru")
    r.mset({f"k:{i}": "v" * 100 for i in range(2000)})
    before = used(r)
    cap = before // 4
    assert r.config_set("maxmemory", cap) is True
    r.set("trigger", "x")
    assert used(r) <= cap
    assert r.dbsize() < 2000 and evicted(r) > 0
    r.close()


def test_allkeys_lru_keeps_recently_used_keys():
    cap = 256 * 1024
    r = nestdb.Redis(maxmemory=cap, maxmemory_policy="allkeys-lru", maxmemory_samples=10)
    hot = [f"hot:{i}" for i in range(50)]
    r.mset({k: "h" * 100 for k in hot})
    for i in range(5000):
        r.set(f"cold:{i}", "c" * 100)
        if i % 20 == 0:
            r.mget(hot)  # keep them recent
    alive = r.exists(*hot)
    assert alive >= 45, alive
    r.close()


def test_allkeys_lfu_keeps_frequently_used_keys():
    cap = 256 * 1024
    r = nestdb.Redis(maxmemory=cap, maxmemory_policy="allkeys-lfu", maxmemory_samples=10)
    hot = [f"hot:{i}" for i in range(50)]
    r.mset({k: "h" * 100 for k in hot})
    for _ in range(30):
        for k in hot:
            r.get(k)
    for i in range(5000):  # a one-off scan of cold keys
        r.set(f"cold:{i}", "c" * 100)
    alive = r.exists(*hot)
    assert alive >= 45, alive
    r.close()


def test_volatile_ttl_evicts_the_nearest_expiry_first():
    cap = 128 * 1024
    r = nestdb.Redis(maxmemory=cap, maxmemory_policy="volatile-ttl", maxmemory_samples=10)
    r.mset({f"late:{i}": "l" * 100 for i in range(100)})
    for i in range(100):
        r.expire(f"late:{i}", 100_000)
    for i in range(3000):
        r.set(f"soon:{i}", "s" * 100, ex=100 + i % 50)
    assert r.exists(*[f"late:{i}" for i in range(100)]) >= 90
    r.close()


# ------------------------------------------------------------------ noeviction and OOM


def fill_until_oom(r, prefix: str = "k") -> int:
    for i in range(100_000):
        try:
            r.set(f"{prefix}:{i}", "v" * 100)
        except OutOfMemoryError:
            return i
    raise AssertionError("no OOM error under noeviction")


def test_noeviction_raises_redis_py_oom_error():
    import redis

    r = nestdb.Redis(maxmemory=64 * 1024, maxmemory_policy="noeviction")
    n = fill_until_oom(r)
    assert r.dbsize() == n > 0
    assert used(r) <= 64 * 1024 + 1024  # the write that crossed the cap is the only overshoot
    with pytest.raises(OutOfMemoryError) as e:
        r.set("new", "v")
    err = e.value
    assert isinstance(err, ResponseError)
    assert isinstance(err, redis.exceptions.OutOfMemoryError)
    assert isinstance(err, redis.exceptions.ResponseError)
    assert str(err) == OOM_TEXT
    assert err.status_code == "OOM"
    r.close()


def test_noeviction_refusals_change_nothing():
    r = nestdb.Redis(maxmemory=64 * 1024, maxmemory_policy="noeviction")
    r.set("s", "old")
    r.hset("h", "f", "v")
    r.rpush("l", "a")
    r.sadd("st", "m")
    r.zadd("z", {"m": 1})
    r.set("n", 10)
    fill_until_oom(r)
    n, mem = r.dbsize(), used(r)
    refused = [
        lambda: r.set("s", "new"),
        lambda: r.execute_command("SET", "s", "new"),
        lambda: r.append("s", "more"),
        lambda: r.hset("h", "g", "v"),
        lambda: r.rpush("l", "b"),
        lambda: r.lpush("l", "b"),
        lambda: r.sadd("st", "m2"),
        lambda: r.zadd("z", {"m2": 2}),
        lambda: r.incr("n"),
        lambda: r.mset({"x": "1", "y": "2"}),
        lambda: r.setex("s", 100, "new"),
    ]
    for i, write in enumerate(refused):
        with pytest.raises(OutOfMemoryError):
            write()
        assert r.dbsize() == n and used(r) == mem, f"refused write #{i} changed something"
    assert r.get("s") == b"old" and r.hgetall("h") == {b"f": b"v"} and r.lrange("l", 0, -1) == [b"a"]
    assert r.smembers("st") == {b"m"} and r.zrange("z", 0, -1) == [b"m"] and r.get("n") == b"10"
    assert r.ttl("s") == -1
    # Reads and deletes still work; freeing memory lets writes in again.
    assert r.get("k:0") == b"v" * 100
    assert r.delete(*[f"k:{i}" for i in range(50)]) == 50
    assert r.set("s", "new") is True and r.get("s") == b"new"
    assert evicted(r) == 0
    r.close()


def test_oom_in_pipeline_and_transaction():
    r = nestdb.Redis(maxmemory=64 * 1024, maxmemory_policy="noeviction")
    fill_until_oom(r)
    n = r.dbsize()
    pipe = r.pipeline(transaction=False)
    pipe.get("k:0").set("p", "v").delete("k:1")
    res = pipe.execute(raise_on_error=False)
    assert res[0] == b"v" * 100 and isinstance(res[1], OutOfMemoryError) and res[2] == 1
    assert r.dbsize() == n - 1
    fill_until_oom(r, "more")
    with r.pipeline() as tx:
        tx.set("t", "v").get("k:2")
        with pytest.raises((OutOfMemoryError, ResponseError)):
            tx.execute()
    assert r.get("t") is None
    r.close()


def test_raising_maxmemory_at_run_time_lets_writes_in():
    r = nestdb.Redis(maxmemory=64 * 1024, maxmemory_policy="noeviction")
    n = fill_until_oom(r)
    assert r.config_set("maxmemory", "10mb") is True
    assert r.set("more", "v") is True and r.dbsize() == n + 1
    assert r.config_set("maxmemory", 0) is True
    for i in range(n, n + 500):
        r.set(f"k:{i}", "v" * 100)
    r.close()


# ------------------------------------------------------------------ compression


def json_doc(i: int) -> str:
    return json.dumps(
        {
            "session": i,
            "user": {"id": 1000 + i, "name": f"user {i}", "email": f"user{i}@example.com", "roles": ["reader", "writer"]},
            "cart": [{"sku": f"SKU-{j:05d}", "qty": j % 3 + 1, "price": round(9.99 + j, 2)} for j in range(12)],
            "flags": {"beta": i % 2 == 0, "theme": "dark", "locale": "en-US"},
        }
    )


@pytest.mark.parametrize("algo", ["zlib", "lz4"])
def test_compression_is_invisible(algo):
    r = nestdb.Redis(decode_responses=True, compression=algo, compression_min_size=64)
    docs = {f"session:{i}": json_doc(i) for i in range(300)}
    for k, v in docs.items():
        r.set(k, v)
    assert r.mget(list(docs)) == list(docs.values())
    assert all(r.get(k) == v for k, v in docs.items())
    mem = r.info("memory")
    assert mem["compressed_values"] >= 300
    assert mem["compressed_stored_bytes"] < mem["compressed_raw_bytes"]
    assert mem["compression"] == algo

    v = docs["session:7"]
    assert r.strlen("session:7") == len(v)
    assert r.getrange("session:7", 10, 200) == v[10:201]
    assert r.getrange("session:7", -20, -1) == v[-20:]
    assert r.append("session:7", "!tail") == len(v) + 5
    assert r.get("session:7") == v + "!tail"
    assert r.setrange("session:7", 0, "XX") == len(v) + 5
    assert r.get("session:7") == "XX" + v[2:] + "!tail"
    assert r.getdel("session:8") == docs["session:8"]
    assert r.getex("session:9", ex=100) == docs["session:9"]
    assert r.set("session:10", "new", get=True) == docs["session:10"]

    r.hset("user:1", mapping={"profile": json_doc(1), "small": "x"})
    assert r.hget("user:1", "profile") == json_doc(1)
    assert r.hgetall("user:1") == {"profile": json_doc(1), "small": "x"}
    assert r.hstrlen("user:1", "profile") == len(json_doc(1))
    r.close()


def test_compressed_memory_is_smaller_than_uncompressed():
    sizes = {}
    for algo in ("none", "lz4", "zlib"):
        r = nestdb.Redis(compression=algo, compression_min_size=64)
        for i in range(500):
            r.set(f"session:{i}", json_doc(i))
        mem = r.info("memory")
        sizes[algo] = mem["used_memory"]
        if algo == "none":
            assert mem["compressed_values"] == 0
        else:
            assert mem["compressed_values"] == 500
        r.close()
    assert sizes["zlib"] < 0.6 * sizes["none"], sizes
    assert sizes["lz4"] < 0.8 * sizes["none"], sizes


def test_small_and_incompressible_values_are_stored_plain():
    r = nestdb.Redis(compression="zlib", compression_min_size=512)
    r.set("small", "a" * 511)
    noise = os.urandom(4096)
    r.set("noise", noise)
    assert r.info("memory")["compressed_values"] == 0
    assert r.get("noise") == noise and r.get("small") == b"a" * 511
    r.set("big", "a" * 512)
    assert r.info("memory")["compressed_values"] == 1
    assert r.get("big") == b"a" * 512
    r.close()


def test_compression_set_at_run_time():
    r = nestdb.Redis(compression="none")
    r.set("before", json_doc(0))
    assert r.info("memory")["compressed_values"] == 0
    assert r.config_set("compression", "zlib") is True
    assert r.config_set("compression-min-size", 100) is True
    r.set("after", json_doc(1))
    assert r.info("memory")["compressed_values"] == 1
    assert r.get("before") == json_doc(0).encode() and r.get("after") == json_doc(1).encode()
    r.close()


def test_compression_with_eviction_accounts_stored_bytes():
    """Under a cap, compressed values let more keys fit than plain ones."""
    fits = {}
    for algo in ("none", "zlib"):
        r = nestdb.Redis(maxmemory=256 * 1024, maxmemory_policy="allkeys-lru", compression=algo, compression_min_size=64)
        for i in range(2000):
            r.set(f"session:{i}", json_doc(i))
            assert used(r) <= 256 * 1024
        fits[algo] = r.dbsize()
        r.close()
    assert fits["zlib"] > 2 * fits["none"], fits


# ------------------------------------------------------------------ guide workloads under a cap


def test_cache_aside_with_allkeys_lru():
    cap = 512 * 1024
    r = nestdb.Redis(decode_responses=True, maxmemory=cap, maxmemory_policy="allkeys-lru")
    rng = random.Random(6)

    def load_from_db(product_id: int) -> dict:
        return {"id": product_id, "name": f"product {product_id}", "price": product_id % 100 + 0.99, "tags": ["a", "b"] * 5}

    hits = misses = 0
    for _ in range(20_000):
        pid = min(int(rng.paretovariate(1.2)), 20_000)  # skewed: a few hot products
        key = f"product:{pid}"
        cached = r.get(key)
        if cached is not None:
            hits += 1
            assert json.loads(cached) == load_from_db(pid)
        else:
            misses += 1
            r.setex(key, 3600, json.dumps(load_from_db(pid)))
        assert used(r) <= cap
    assert hits > misses
    stats = r.info("stats")
    assert stats["keyspace_hits"] >= hits and stats["keyspace_misses"] >= misses
    r.close()


def test_cache_aside_over_more_keys_than_fit():
    cap = 256 * 1024
    r = nestdb.Redis(maxmemory=cap, maxmemory_policy="allkeys-lru")
    for rnd in range(3):
        for i in range(4000):
            key = f"page:{i}"
            if r.get(key) is None:
                r.set(key, f"<html>{i}</html>" * 10)
            assert used(r) <= cap
    n = r.dbsize()
    assert 0 < n < 4000 and evicted(r) >= 3 * 4000 - n - 4000
    r.close()


def test_rate_limiter_under_volatile_lru():
    cap = 256 * 1024
    r = nestdb.Redis(decode_responses=True, maxmemory=cap, maxmemory_policy="volatile-lru")
    config = {f"config:{i}": f"value {i}" for i in range(200)}  # no TTL: must never be evicted
    r.mset(config)

    def allowed(user: str, limit: int = 5, window: int = 60) -> bool:
        key = f"rate:{user}"
        pipe = r.pipeline()
        pipe.incr(key)
        pipe.expire(key, window, nx=True)
        count, _ = pipe.execute()
        return count <= limit

    for i in range(20_000):
        user = f"u{i % 5000}"
        allowed(user)
        assert used(r) <= cap
    assert evicted(r) > 0
    assert r.mget(list(config)) == list(config.values())
    # Each surviving counter counts no more than the requests made for it, and has its TTL.
    for key in r.scan_iter("rate:*", count=1000):
        assert 1 <= int(r.get(key)) <= 4
        assert 0 < r.ttl(key) <= 60
    r.close()
