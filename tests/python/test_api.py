"""The API surface of nestdb.Redis: construction, config, return types, encoding, errors,
execute_command, callbacks, close/GC, Database sharing."""

from __future__ import annotations

import datetime
import enum
import gc
import math
import pathlib
import time

import pytest

import nestdb
from nestdb import exceptions as exc

from conftest import requires


# ---------------------------------------------------------------- construction and config


def test_in_memory_databases_are_private():
    a, b = nestdb.Redis(), nestdb.Redis(":memory:")
    a.set("k", "1")
    assert b.get("k") is None
    assert nestdb.Redis(None).dbsize() == 0


def test_config_keywords_use_redis_names():
    r = nestdb.Redis(hz=50)
    assert r.config_get("hz") == {"hz": "50"}
    assert r.config_set("hz", 20) is True
    assert r.config_get("hz*") == {"hz": "20"}
    assert "hash-max-listpack-entries" in r.config_get("h*")
    assert "hz" in nestdb.config_parameters()


def test_unknown_config_name_is_a_clear_error():
    with pytest.raises(TypeError) as e:
        nestdb.Redis(no_such_option=1)
    assert "no_such_option" in str(e.value) and "hz" in str(e.value)


def test_bad_config_value_is_a_clear_error():
    # (hz=100000 is accepted and clamped to 500, as Redis does; a negative hz is refused)
    with pytest.raises(ValueError) as e:
        nestdb.Redis(hz=-1)
    assert "hz" in str(e.value) and "between 0 and 2147483647" in str(e.value)
    with pytest.raises(TypeError):
        nestdb.Redis(hz=[1])


def test_config_set_unknown_parameter_is_redis_error():
    r = nestdb.Redis()
    with pytest.raises(exc.ResponseError) as e:
        r.config_set("no-such-parameter", "1")
    assert "no-such-parameter" in str(e.value)


def test_file_path_opens_a_database_directory(tmp_path):
    # Persistence in depth: test_durability.py.
    for p in (str(tmp_path / "app.nest"), tmp_path / "app.nest", bytes(tmp_path / "app.nest")):
        with nestdb.Redis(p) as r:
            r.incr("opens")
            assert r.path == str(tmp_path / "app.nest")
        assert (tmp_path / "app.nest" / "MANIFEST").is_file()


def test_bad_path_type():
    with pytest.raises(TypeError):
        nestdb.Redis(12)


def test_open_returns_database_serving_shared_redis_handles():
    db = nestdb.open(hz=20)
    a = db.redis()
    b = db.redis(decode_responses=True)
    a.set("shared", "yes")
    assert b.get("shared") == "yes"
    assert a.config_get("hz") == {"hz": "20"}
    assert db.path is None and repr(db) == "<nestdb.Database(':memory:')>"
    db.close()
    assert db.closed
    # handles taken from the database keep working until they are closed themselves
    assert a.get("shared") == b"yes"
    with pytest.raises(exc.ConnectionError):
        db.redis()


def test_database_context_manager():
    with nestdb.open() as db:
        r = db.redis()
        r.set("a", 1)
    assert db.closed


# ---------------------------------------------------------------- close, context manager, GC


def test_close_and_context_manager():
    r = nestdb.Redis()
    r.set("a", "1")
    r.close()
    assert r.closed
    with pytest.raises(exc.ConnectionError, match="closed"):
        r.get("a")
    with pytest.raises(exc.ConnectionError):
        r.execute_command("PING")
    r.close()  # idempotent
    with nestdb.Redis() as r2:
        r2.set("a", 1)
    assert r2.closed


def test_garbage_collection_of_open_handles():
    for _ in range(50):
        r = nestdb.Redis()
        r.set("k", "v" * 1000)
        p = r.pipeline()
        p.set("x", 1)
        del r, p
    gc.collect()


def test_repr():
    assert repr(nestdb.Redis()) == "<nestdb.client.Redis(':memory:')>"


# ---------------------------------------------------------------- return types


def test_string_return_types(r):
    assert r.set("k", "v") is True
    assert r.set("k", "w", nx=True) is None
    assert r.set("k", "w", xx=True) is True
    assert r.set("k", "x", get=True) == b"w"
    assert r.get("k") == b"x"
    assert r.get("missing") is None
    assert r.incr("n") == 1 and r.incrby("n", 5) == 6 and r.decr("n") == 5 and r.decrby("n", 2) == 3
    assert r.incrbyfloat("f", 1.5) == 1.5 and isinstance(r.incrbyfloat("f"), float)
    assert r.append("k", "yz") == 3 and r.strlen("k") == 3
    assert r.getrange("k", 0, 1) == b"xy" and r.substr("k", 1) == b"yz"
    assert r.setrange("k", 1, "Q") == 3 and r.get("k") == b"xQz"
    assert r.getset("k", "new") == b"xQz"
    assert r.getdel("k") == b"new" and r.get("k") is None
    assert r.mset({"a": 1, "b": 2}) is True
    assert r.mget("a", "b", "c") == [b"1", b"2", None] and r.mget(["a", "b"]) == [b"1", b"2"]
    assert r.mget([]) == []
    assert r.msetnx({"a": 1, "zz": 2}) is False
    assert r.setnx("a", 1) is False and r.setnx("new", 1) is True
    assert r.setex("e", 100, "v") is True and 0 < r.ttl("e") <= 100
    assert r.psetex("pe", 100000, "v") is True and 0 < r.pttl("pe") <= 100000


def test_decode_responses(rd):
    rd.set("k", "värde")
    assert rd.get("k") == "värde"
    assert rd.mget("k", "missing") == ["värde", None]
    assert rd.set("k", "x", get=True) == "värde"
    assert rd.keys() == ["k"]
    assert rd.type("k") == "string"


def test_key_commands(r):
    r.set("a", 1)
    assert r.exists("a", "a", "b") == 2 and ("a" in r) == 1
    assert r.type("a") == b"string" and r.type("nope") == b"none"
    assert r.expire("a", 100) is True and r.expire("nope", 100) is False
    assert r.ttl("a") in (99, 100) and r.ttl("nope") == -2
    assert r.persist("a") is True and r.ttl("a") == -1
    assert r.pexpire("a", 100000) is True and r.pexpireat("a", int(time.time() * 1000) + 50000) is True
    assert r.expireat("a", datetime.datetime.now() + datetime.timedelta(seconds=60)) is True
    assert r.expire("a", datetime.timedelta(seconds=30)) is True and r.ttl("a") <= 30
    assert r.expiretime("a") > time.time() and r.pexpiretime("a") > time.time() * 1000
    assert r.rename("a", "b") is True and r.renamenx("b", "b2") is True
    assert r.copy("b2", "c") is True and r.copy("b2", "c") is False and r.copy("b2", "c", replace=True) is True
    assert sorted(r.keys("*")) == [b"b2", b"c"] and r.dbsize() == 2
    assert r.randomkey() in (b"b2", b"c")
    assert r.touch("b2", "c", "zz") == 2
    assert r.unlink("b2") == 1 and r.delete("c", "zz") == 1
    assert r.ping() is True and r.echo("hi") == b"hi"
    assert r.flushdb() is True and r.flushall() is True and r.dbsize() == 0


def test_set_expiry_options(r):
    assert r.set("a", 1, ex=100) and 99 <= r.ttl("a") <= 100
    assert r.set("a", 1, px=100000) and 99000 <= r.pttl("a") <= 100000
    assert r.set("a", 1, ex=datetime.timedelta(seconds=50)) and r.ttl("a") <= 50
    assert r.set("a", 1, exat=int(time.time()) + 100) and 98 <= r.ttl("a") <= 100
    assert r.set("a", 1, pxat=datetime.datetime.now() + datetime.timedelta(seconds=100)) and r.ttl("a") >= 98
    assert r.set("a", 2, keepttl=True) and r.ttl("a") >= 98
    assert r.set("a", 3) and r.ttl("a") == -1
    assert r.set("a", 4, ex="100") and r.ttl("a") >= 99
    with pytest.raises(exc.DataError):
        r.set("a", 1, ex=1, px=1)
    with pytest.raises(exc.DataError):
        r.set("a", 1, nx=True, xx=True)
    with pytest.raises(exc.DataError, match="ex must be"):
        r.set("a", 1, ex=1.5)
    with pytest.raises(exc.ResponseError, match="invalid expire time"):
        r.set("a", 1, ex=0)


def test_server_commands(r):
    info = r.info()
    assert info["redis_version"] == "7.0.0" and "nestdb_version" in info
    assert "keyspace_hits" in r.info("stats")
    sec, usec = r.time()
    assert abs(sec - time.time()) < 5 and 0 <= usec < 1_000_000
    assert r.select(0) is True
    with pytest.raises(exc.ResponseError):
        r.select(1)
    assert r.config_resetstat() is True
    assert r.command_count() == len(r.command_list()) > 20


# ---------------------------------------------------------------- argument encoding


class Color(enum.IntEnum):
    RED = 1


class MyStr(str):
    pass


ENCODINGS = [
    ("abc", b"abc"),
    (b"\x00\xff", b"\x00\xff"),
    (bytearray(b"ba"), b"ba"),
    (memoryview(b"mv"), b"mv"),
    (0, b"0"),
    (-17, b"-17"),
    (2**70, str(2**70).encode()),
    (1.5, b"1.5"),
    (0.1, b"0.1"),
    (1e16, b"1e+16"),
    (1e15, b"1000000000000000.0"),
    (1e-5, b"1e-05"),
    (-0.0, b"-0.0"),
    (float("inf"), b"inf"),
    (3.0, b"3.0"),
    (Color.RED, repr(Color.RED).encode()),
    (MyStr("sub"), b"sub"),
    ("ünï", "ünï".encode()),
]


@pytest.mark.parametrize("value,expected", ENCODINGS)
def test_argument_encoding_matches_redis_py(r, value, expected):
    assert r.echo(value) == expected
    assert r.execute_command("ECHO", value) == expected
    r.set("k", value)
    assert r.get("k") == expected
    try:
        from redis._parsers.encoders import Encoder
    except ImportError:
        return
    assert bytes(Encoder("utf-8", "strict", False).encode(value)) == expected


def test_random_floats_encode_as_repr(r):
    import random

    rnd = random.Random(7)
    for _ in range(2000):
        x = rnd.choice([rnd.random(), rnd.uniform(-1e30, 1e30), rnd.expovariate(1e-5), 10 ** rnd.uniform(-30, 30)])
        assert r.echo(x) == repr(x).encode()


@pytest.mark.parametrize(
    "value,name",
    [(None, "NoneType"), (True, "bool"), ({"a": 1}, "dict"), ([1], "list"), (object(), "object"), ((1,), "tuple")],
)
def test_invalid_argument_types_raise_data_error(r, value, name):
    r.set("k", "before")
    msg = f"Invalid input of type: '{name}'. Convert to a bytes, string, int or float first."
    with pytest.raises(exc.DataError) as e:
        r.set("k", value)
    assert str(e.value) == msg
    with pytest.raises(exc.DataError):
        r.execute_command("SET", "k", value)
    with pytest.raises(exc.DataError):
        r.get(value)
    assert r.get("k") == b"before"


def test_lone_surrogate_str_is_rejected(r):
    with pytest.raises(UnicodeEncodeError):
        r.set("k", "\ud800")
    assert r.get("k") is None


def test_custom_encoding():
    r = nestdb.Redis(encoding="latin-1", decode_responses=True)
    r.set("k", "é")
    raw = nestdb.open()
    assert r.get("k") == "é"
    assert nestdb.Redis(encoding="latin-1").echo("é") == b"\xe9"
    raw.close()


def test_non_utf8_with_decode_responses_is_a_clear_error_and_data_unchanged():
    db = nestdb.open()
    raw, txt = db.redis(), db.redis(decode_responses=True)
    raw.set("bin", b"\xff\xfe")
    raw.rpush("lst", b"ok", b"\xff") if "rpush" in _engine() else None
    with pytest.raises(UnicodeDecodeError):
        txt.get("bin")
    with pytest.raises(UnicodeDecodeError):
        txt.mget("bin")
    assert raw.get("bin") == b"\xff\xfe"
    # a key that is not UTF-8
    raw.set(b"\xff-key", "v")
    with pytest.raises(UnicodeDecodeError):
        txt.keys()
    assert raw.get(b"\xff-key") == b"v"


def _engine():
    from conftest import ENGINE_COMMANDS

    return ENGINE_COMMANDS


# ---------------------------------------------------------------- errors


def test_error_classes_and_texts(r):
    r.set("s", "x")
    with pytest.raises(exc.ResponseError) as e:
        r.incr("s")
    assert str(e.value) == "value is not an integer or out of range" and e.value.status_code == "ERR"
    with pytest.raises(exc.ResponseError) as e:
        r.execute_command("NOSUCHCMD", "a")
    assert str(e.value).startswith("unknown command 'NOSUCHCMD'")
    with pytest.raises(exc.ResponseError) as e:
        r.execute_command("GET")
    assert str(e.value) == "wrong number of arguments for 'get' command"
    with pytest.raises(IndexError):
        r.execute_command()


@requires("lpush")
def test_wrongtype_keeps_full_text(r):
    r.set("s", "x")
    with pytest.raises(exc.ResponseError) as e:
        r.lpush("s", "a")
    assert str(e.value) == "WRONGTYPE Operation against a key holding the wrong kind of value"


def test_exceptions_are_redis_py_exceptions_when_installed(r):
    redis = pytest.importorskip("redis")
    r.set("s", "x")
    with pytest.raises(redis.exceptions.ResponseError):
        r.incr("s")
    with pytest.raises(redis.exceptions.DataError):
        r.set("s", None)
    assert issubclass(nestdb.WatchError, redis.exceptions.WatchError)
    assert issubclass(nestdb.ConnectionError, redis.exceptions.ConnectionError)
    assert issubclass(nestdb.ExecAbortError, redis.exceptions.ResponseError)
    assert issubclass(nestdb.ForkError, redis.exceptions.ConnectionError)


def test_exception_hierarchy():
    assert issubclass(exc.ResponseError, exc.RedisError)
    assert issubclass(exc.ExecAbortError, exc.ResponseError)
    assert issubclass(exc.ForkError, exc.ConnectionError)
    assert issubclass(exc.LockNotOwnedError, exc.LockError) and issubclass(exc.LockError, ValueError)


# ---------------------------------------------------------------- execute_command and callbacks


def test_execute_command_applies_redis_py_callbacks(r):
    assert r.execute_command("SET", "k", "v") is True
    assert r.execute_command("set", "k", "v") is True  # callback lookup is case-insensitive
    assert r.execute_command(b"SET", "k", "v") == b"OK"  # bytes name: no callback, as redis-py
    assert r.execute_command("CONFIG GET", "hz") == {"hz": "10"}
    assert r.execute_command("CONFIG", "GET", "hz") == {b"hz": b"10"}
    assert r.execute_command("PING") is True
    assert r.execute_command("SET", "k", "v", "GET", get=True) == b"v"
    assert r.execute_command("EXPIRE", "k", 10) is True
    assert r.execute_command("MGET", EMPTY_RESPONSE=[]) == []
    assert r.execute_command("GET", "k", keys=["k"]) == b"v"


def test_never_decode_option(rd):
    rd.set("k", "v")
    assert rd.execute_command("GET", "k", NEVER_DECODE=[]) == b"v"
    assert rd.execute_command("GET", "k") == "v"


def test_set_response_callback(r):
    r.set_response_callback("GET", lambda resp, **kw: ("wrapped", resp))
    r.set("k", "v")
    assert r.get("k") == ("wrapped", b"v")
    assert r.execute_command("GET", "k") == ("wrapped", b"v")
    p = r.pipeline()
    p.get("k")
    assert p.execute() == [("wrapped", b"v")]


def test_dict_style_access(r):
    r["a"] = "1"
    assert r["a"] == b"1"
    with pytest.raises(KeyError):
        r["missing"]
    del r["a"]
    assert r.get("a") is None


def test_scan_and_scan_iter(r):
    for i in range(300):
        r.set(f"key:{i}", i)
    r.set("other", 1)
    seen = set()
    cursor = 0
    while True:
        cursor, keys = r.scan(cursor, match="key:*", count=50)
        seen.update(keys)
        if cursor == 0:
            break
    assert len(seen) == 300
    assert sorted(r.scan_iter("key:1*")) == sorted(k.encode() for k in (f"key:{i}" for i in range(300)) if k.startswith("key:1"))
    assert len(list(r.scan_iter(count=7))) == 301
    assert list(r.scan_iter(_type="string", match="other")) == [b"other"]


def test_float_results(r):
    assert r.incrbyfloat("f", 0.1) == 0.1
    assert r.incrbyfloat("f", 0.2) == pytest.approx(0.3)
    assert math.isclose(float(r.get("f")), 0.3)


def test_path_property(r):
    assert r.path is None and r.decode_responses is False


def test_pathlib_memory_literal():
    assert nestdb.Redis(pathlib.PurePosixPath(":memory:")).dbsize() == 0


def test_missing_families_say_so(r):
    assert hasattr(r, "fcall") and hasattr(r, "function_load")
    assert r.eval("return 1", 0) == 1
    with pytest.raises(AttributeError, match="sharded pub/sub"):
        r.spublish("ch", "m")
    assert not hasattr(r, "spublish") and hasattr(r, "get") and hasattr(r, "sort")
    with pytest.raises(AttributeError, match="^'Redis' object has no attribute 'nosuchthing'$"):
        r.nosuchthing
