"""The native fast paths (methods defined on nestdb._nestdb.Client) must behave exactly like
the redis-py reference methods in nestdb._commands.CommandsMixin: same signature, same
results, same errors, same effect on the data."""

from __future__ import annotations

import datetime
import inspect
import random

import pytest

import nestdb
from nestdb._commands import CommandsMixin
from nestdb._nestdb import Client

from conftest import ENGINE_COMMANDS

NATIVE = sorted(
    name for name, obj in vars(Client).items() if not name.startswith("_") and callable(obj) and hasattr(CommandsMixin, name)
)


def test_there_are_native_fast_paths():
    assert {"get", "set", "mget", "mset", "hset", "zadd"} <= set(NATIVE)


def test_redis_methods_resolve_to_native():
    for name in NATIVE:
        assert getattr(nestdb.Redis, name) is getattr(Client, name), name


@pytest.mark.parametrize("name", NATIVE)
def test_signature_matches_reference(name):
    native = inspect.signature(getattr(Client, name))
    ref = inspect.signature(getattr(CommandsMixin, name))
    got = [(p.name, p.kind, repr(p.default) if p.default is not p.empty else None) for p in native.parameters.values() if p.name != "self"]
    want = [(p.name, p.kind, repr(p.default) if p.default is not p.empty else None) for p in ref.parameters.values() if p.name != "self"]
    want = [(n, k, d.replace("<class 'float'>", "float") if d else d) for n, k, d in want]
    got = [(n, k, d.replace("<class 'float'>", "float") if d else d) for n, k, d in got]
    assert got == want


KEYS = ["a", "b", "c"]
VALS = ["x", "1", "2.5", "", b"\xff", 7, -3, 1.5]


def calls(rnd: random.Random):
    k = lambda: rnd.choice(KEYS)  # noqa: E731
    v = lambda: rnd.choice(VALS)  # noqa: E731
    n = lambda: rnd.choice([-2, -1, 0, 1, 3, "x"])  # noqa: E731
    yield from [
        ("get", (k(),), {}),
        ("set", (k(), v()), rnd.choice([{}, {"nx": True}, {"xx": True}, {"get": True}, {"ex": 100}, {"px": 5000}, {"ex": 10, "nx": True}, {"keepttl": True}, {"nx": 1}, {"ex": datetime.timedelta(seconds=5)}, {"ex": 1, "px": 1}, {"ex": 0}, {"ex": 1.5}, {"nx": True, "xx": True}, {"exat": 2_000_000_000}])),
        ("mget", (rnd.choice([k(), [k(), k()], []]),), {}),
        ("mget", (k(), k()), {}),
        ("mset", ({k(): v(), k(): v()},), {}),
        ("delete", (k(), k()), {}),
        ("exists", (k(), k()), {}),
        ("incrby", (k(),), rnd.choice([{}, {"amount": n()}])),
        ("incr", (k(),), {}),
        ("decrby", (k(), n()), {}),
        ("decr", (k(),), rnd.choice([{}, {"amount": 2}])),
        ("expire", (k(), rnd.choice([10, 100, datetime.timedelta(seconds=20), -1, "x"])), rnd.choice([{}, {"nx": True}, {"xx": True}, {"gt": True}])),
        ("ttl", (k(),), {}),
        ("hget", (k(), v()), {}),
        ("hset", (k(),), rnd.choice([{"key": "f", "value": v()}, {"mapping": {"f": v(), "g": v()}}, {"items": ["f", v()]}, {}, {"key": "f"}])),
        ("hgetall", (k(),), {}),
        ("hincrby", (k(), "f"), rnd.choice([{}, {"amount": n()}])),
        ("sadd", (k(), v(), v()), {}),
        ("srem", (k(), v()), {}),
        ("smembers", (k(),), {}),
        ("sismember", (k(), v()), {}),
        ("scard", (k(),), {}),
        ("lpush", (k(), v(), v()), {}),
        ("rpush", (k(), v()), {}),
        ("lrange", (k(), n(), n()), {}),
        ("llen", (k(),), {}),
        ("lpop", (k(),), rnd.choice([{}, {"count": 2}])),
        ("rpop", (k(),), rnd.choice([{}, {"count": 0}])),
        ("zadd", (k(), rnd.choice([{v(): 1, v(): 2.5}, {}, {"m": "x"}])), rnd.choice([{}, {"nx": True}, {"incr": True}, {"gt": True, "ch": True}])),
        ("zscore", (k(), v()), {}),
        ("zincrby", (k(), rnd.choice([1, 2.5, "x"]), v()), {}),
        ("zcard", (k(),), {}),
        ("zrem", (k(), v()), {}),
        ("zrevrange", (k(), 0, -1), rnd.choice([{}, {"withscores": True}, {"withscores": True, "score_cast_func": int}])),
        ("zrevrank", (k(), v()), rnd.choice([{}, {"withscore": True}])),
    ]


def outcome(fn, *args, **kwargs):
    try:
        return ("ok", fn(*args, **kwargs))
    except Exception as e:
        return ("err", type(e).__name__, str(e))


def state(r):
    out = {}
    for key in sorted(r.keys()):
        out[key] = (r.type(key), r.pttl(key) > 0)
        if r.type(key) == b"string":
            out[key] += (r.get(key),)
    return out


@pytest.mark.parametrize("decode", [False, True])
@pytest.mark.parametrize("pipelined", [False, True])
def test_native_equals_reference(decode, pipelined):
    rnd = random.Random(int(decode) * 2 + int(pipelined))
    native, ref = nestdb.Redis(decode_responses=decode), nestdb.Redis(decode_responses=decode)
    checked = 0
    for _ in range(60):
        for name, args, kwargs in calls(rnd):
            command = {"delete": "del", "hset": "hset"}.get(name, name)
            if command not in ENGINE_COMMANDS and command not in ("incr", "decr"):
                continue
            if pipelined:
                pn, pr = native.pipeline(transaction=False), ref.pipeline(transaction=False)
                a = outcome(getattr(pn, name), *args, **kwargs)
                b = outcome(getattr(CommandsMixin, name), pr, *args, **kwargs)
                if a[0] == "ok":
                    a, b = outcome(pn.execute, raise_on_error=False), outcome(pr.execute, raise_on_error=False)
                    a = (a[0], [repr(x) if isinstance(x, Exception) else x for x in a[1]]) if a[0] == "ok" else a
                    b = (b[0], [repr(x) if isinstance(x, Exception) else x for x in b[1]]) if b[0] == "ok" else b
            else:
                a = outcome(getattr(native, name), *args, **kwargs)
                b = outcome(getattr(CommandsMixin, name), ref, *args, **kwargs)
            assert a == b, (name, args, kwargs)
            checked += 1
        assert state(native) == state(ref)
    assert checked > 100


def test_find_one_by_an_indexed_equality_answers_as_a_scan_does():
    """`find_one({field: scalar})` is read from an index holding the GIL when one has the
    field first, and scanned without it otherwise: both give a matching document exactly when
    one exists, across numeric types, descending and compound indexes and missing collections."""
    client = nestdb.MongoClient()
    db = client.fastpaths
    docs = [{"_id": i, "n": i % 7, "s": f"v{i % 5}", "f": float(i % 3), "tags": [i % 4, "t"]} for i in range(200)]
    db.plain.insert_many(docs)
    db.indexed.insert_many(docs)
    db.indexed.create_index([("n", -1)])
    db.indexed.create_index([("s", 1), ("f", 1)])
    db.indexed.create_index("tags")
    probes = [("n", 3), ("n", 3.0), ("n", 3 * 2**40), ("n", 9), ("s", "v2"), ("s", "zz"), ("f", 1), ("tags", 2), ("tags", "t"), ("tags", "u")]
    for field, value in probes:
        scanned = db.plain.find_one({field: value})
        found = db.indexed.find_one({field: value})
        assert (scanned is None) == (found is None), (field, value)
        if found is not None:
            assert db.plain.count_documents({"_id": found["_id"], field: value}) == 1, (field, value, found)
    assert db.missing.find_one({"n": 3}) is None


def test_update_one_by_id_in_place_matches_the_command_path():
    """`update_one({_id: x}, {$inc/$set: numbers})` patches the stored document straight from
    the Python dicts; `comment=` forces the `update` command path. Both give the same results,
    raw results, documents and errors, on every shape the fast path takes or hands back."""
    client = nestdb.MongoClient()
    fast, slow = client.fp.fast, client.fp.slow
    seed = [
        {"_id": 1, "n": 1, "f": 1.5, "big": 2**40, "flag": False, "sub": {"k": 1}, "s": "x"},
        {"_id": 2.0, "n": 2**31 - 1},
        {"_id": "a", "tags": [1, 2]},
    ]
    for coll in (fast, slow):
        coll.insert_many([dict(d) for d in seed])
        coll.create_index("sub.k")
    cases = [
        ({"_id": 1}, {"$inc": {"n": 1}}),
        ({"_id": 1.0}, {"$inc": {"n": 2, "f": 0.25, "big": 1}}),
        ({"_id": 1}, {"$set": {"flag": True, "n": 7}}),
        ({"_id": 1}, {"$inc": {"sub.k": 5}}),
        ({"_id": 1}, {"$inc": {"missing": 1}}),
        ({"_id": 1}, {"$set": {"n": 1.5}}),
        ({"_id": 2}, {"$inc": {"n": 1}}),
        ({"_id": 1}, {"$inc": {"s": 1}}),
        ({"_id": 1}, {"$inc": {"n": True}}),
        ({"_id": 1}, {"$inc": {"n": 1}, "$set": {"n": 2}}),
        ({"_id": "a"}, {"$inc": {"tags.0": 1}}),
        ({"_id": 99}, {"$inc": {"n": 1}}),
        ({"_id": 1}, {"$inc": {"n": 0}}),
    ]
    for upsert in (False, True):
        for filt, upd in cases:
            got, want = [], []
            for coll, out, kwargs in ((fast, got, {}), (slow, want, {"comment": "general path"})):
                try:
                    r = coll.update_one(dict(filt), {k: dict(v) for k, v in upd.items()}, upsert=upsert, **kwargs)
                    out.append((r.matched_count, r.modified_count, r.upserted_id, r.raw_result))
                except Exception as e:  # noqa: BLE001 - the error itself is compared
                    out.append((type(e).__name__, str(e)))
            assert got == want, (filt, upd, upsert)
            assert list(fast.find().sort("_id")) == list(slow.find().sort("_id")), (filt, upd, upsert)
    assert fast.find_one({"sub.k": 11}) == slow.find_one({"sub.k": 11}) is not None


def test_in_place_updates_by_id_are_logged(tmp_path):
    """Counters patched in place reach the log: they survive a reopen."""
    path = str(tmp_path / "db")
    with nestdb.MongoClient(path) as c:
        c.app.counters.insert_many([{"_id": i, "hits": 0, "score": 0.5} for i in range(50)])
        for i in range(500):
            c.app.counters.update_one({"_id": i % 50}, {"$inc": {"hits": 1, "score": 0.5}})
    with nestdb.MongoClient(path) as c:
        docs = list(c.app.counters.find().sort("_id"))
    assert [(d["hits"], d["score"]) for d in docs] == [(10, 5.5)] * 50
