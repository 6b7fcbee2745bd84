"""Redis functions through the redis-py drop-in, side by side with redis-py on a real
redis-server (7.0): ``function_load`` (new libraries, ``replace=True`` and every load error:
metadata, names, engines, collisions, compile and registration errors), ``fcall`` and
``fcall_ro`` (keys and args, reads and writes, the ``no-writes`` flag, run-time errors and
their ``script: <name>, on @user_function:<line>.`` suffix), ``function_list`` (library
patterns, ``withcode``), ``function_delete``, ``function_flush``, ``function_stats``,
``function_kill`` and ``function_dump``/``function_restore`` give the same values, shapes and
errors, with bytes and with ``decode_responses=True``; FUNCTION STATS and FUNCTION KILL also
while a function runs. The DUMP payload format is checked by restoring redis-server's payloads
(LZF-compressed) into nestdb and nestdb's into redis-server; libraries survive reopening a
file-backed database (from the log and from a snapshot); and the guide-style rate limiter runs
as written.

Redis lists libraries (and a library's functions) in hash-table order, so the listings are
compared one library at a time, or order-insensitively.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, List

import pytest

import nestdb
from nestdb.exceptions import ResponseError

from conftest import Pair, check, requires, typed

pytestmark = requires("function", "fcall", "fcall_ro")


KV = """#!lua name=kv
redis.register_function('kv_get', function(keys, args) return redis.call('GET', keys[1]) end)
redis.register_function('kv_set', function(keys, args) return redis.call('SET', keys[1], args[1]) end)
redis.register_function{
  function_name = 'kv_len',
  callback = function(keys, args) return redis.call('STRLEN', keys[1]) end,
  flags = {'no-writes'},
  description = 'length of the value at a key',
}
"""

KV2 = """#!lua name=kv
redis.register_function('kv_get', function(keys, args) return 'v2:' .. (redis.call('GET', keys[1]) or 'nil') end)
"""

MISC = """#!lua name=misc
redis.register_function('echo', function(keys, args) return {#keys, #args, keys, args} end)
redis.register_function('types', function(keys, args)
  return {1, 'two', 3.7, true, false, {ok = 'FINE'}, redis.status_reply('S'), {1, {2, 'x'}}}
end)
redis.register_function('hgetall', function(keys, args) return redis.call('HGETALL', keys[1]) end)
redis.register_function('incr2', function(keys, args)
  redis.call('INCRBY', keys[1], args[1])
  return redis.call('INCRBY', keys[2], args[2])
end)
redis.register_function{function_name = 'ro_write', callback = function(keys, args)
  return redis.call('SET', keys[1], 'x')
end, flags = {'no-writes'}}
redis.register_function('glob', function(keys, args) y = 1 return 1 end)
redis.register_function('boom', function(keys, args) return error('oops') end)
redis.register_function('err_reply', function(keys, args) return redis.error_reply('MY bad thing') end)
redis.register_function('wrongtype', function(keys, args) return redis.call('LPUSH', keys[1], 'x') end)
redis.register_function('pcall_err', function(keys, args) return redis.pcall('LPUSH', keys[1], 'x')['err'] end)
redis.register_function('undefined', function(keys, args) return nosuchvar end)
redis.register_function('nocmd', function(keys, args) return redis.call('NOSUCHCOMMAND') end)
redis.register_function{function_name = 'flagged', callback = function() return 1 end,
  flags = {'no-writes', 'allow-oom', 'allow-stale', 'no-cluster', 'allow-cross-slot-keys'}}
"""


def flush(c: Any) -> Any:
    return c.function_flush()


def sorted_listing(listing: List[Any]) -> List[Any]:
    """FUNCTION LIST in a stable order (libraries by name, functions by name)."""
    out = []
    for lib in listing:
        lib = list(lib)
        i = lib.index(b"functions" if isinstance(lib[0], bytes) else "functions")
        lib[i + 1] = sorted(lib[i + 1], key=lambda f: f[1])
        out.append(lib)
    return sorted(out, key=lambda lib: lib[1])


def test_function_load_like_redis(pair: Pair) -> None:
    check(
        pair,
        flush,
        lambda c: c.function_load(KV),
        lambda c: c.function_load(KV),
        lambda c: c.function_load(KV, replace=True),
        lambda c: c.function_load(KV2, replace=True),
        lambda c: c.fcall("kv_get", 1, "k"),
        lambda c: c.fcall("kv_set", 1, "k", "v"),
        lambda c: c.function_load(KV, replace=False),
        lambda c: c.function_load("#!lua name=other\nredis.register_function('kv_get', function() return 1 end)"),
        lambda c: c.function_load("#!lua name=other\nredis.register_function('kv_get', function() return 1 end)", replace=True),
        lambda c: c.function_load("#!lua name=other\nredis.register_function('o1', function() return 1 end)"),
        lambda c: c.function_load("#!lua name=Other_2\nredis.register_function('O_2', function() return 2 end)"),
        lambda c: c.fcall("O_2", 0),
        lambda c: c.fcall("o_2", 0),
        lambda c: c.function_stats(),
    )


LOAD_ERRORS = [
    "return 1",
    "",
    "#!lua",
    "#!lua name=",
    "#!lua name=bad-name\nredis.register_function('f', function() return 1 end)",
    "#!lua name=x name=y\nredis.register_function('f', function() return 1 end)",
    "#!lua name=x foo=bar\nredis.register_function('f', function() return 1 end)",
    "#!js name=x\nredis.register_function('f', function() return 1 end)",
    "#!LUA name=x\nredis.register_function('f', function() return 1 end)",
    "#!lua name=x",
    "#!lua name=x\n",
    "#!lua name=x\nreturn 1",
    "#!lua name=x\nlocal x = (",
    "#!lua name=x\nredis.register_function('f', function() return 1 end",
    "#!lua name=x\nerror('boom')",
    "#!lua name=x\nredis.register_function('bad name', function() return 1 end)",
    "#!lua name=x\nredis.register_function('', function() return 1 end)",
    "#!lua name=x\nredis.register_function('f', 'notafunction')",
    "#!lua name=x\nredis.register_function('f')",
    "#!lua name=x\nredis.register_function()",
    "#!lua name=x\nredis.register_function('f', function() return 1 end, 'extra')",
    "#!lua name=x\nredis.register_function{function_name='f', callback=function() return 1 end, flags={'bogus'}}",
    "#!lua name=x\nredis.register_function{function_name='f', callback=function() return 1 end, whatever=1}",
    "#!lua name=x\nredis.register_function{callback=function() return 1 end}",
    "#!lua name=x\nredis.register_function{function_name='f'}",
    "#!lua name=x\nredis.register_function{function_name='f', callback=function() return 1 end, description=3}",
    "#!lua name=x\nredis.register_function('f', function() return 1 end) redis.register_function('f', function() return 1 end)",
    "#!lua name=x\nredis.call('SET', 'x', 'y')",
    "#!lua name=x\nredis.register_function('f', function() return 1 end) x = 1",
]


@pytest.mark.parametrize("code", LOAD_ERRORS, ids=range(len(LOAD_ERRORS)))
def test_function_load_errors_like_redis(pair: Pair, code: str) -> None:
    check(pair, flush, lambda c: c.function_load(code), lambda c: c.function_list())


def test_fcall_like_redis(pair: Pair) -> None:
    check(
        pair,
        flush,
        lambda c: c.function_load(KV),
        lambda c: c.function_load(MISC),
        lambda c: c.fcall("kv_get", 1, "k"),
        lambda c: c.fcall("kv_set", 1, "k", "hello"),
        lambda c: c.fcall("kv_get", 1, "k"),
        lambda c: c.fcall_ro("kv_get", 1, "k"),
        lambda c: c.fcall_ro("kv_len", 1, "k"),
        lambda c: c.fcall("kv_len", 1, "k"),
        lambda c: c.fcall_ro("kv_set", 1, "k", "x"),
        lambda c: c.get("k"),
        lambda c: c.fcall("echo", 2, "a", "b", "x", 7, 1.5),
        lambda c: c.fcall("echo", 0),
        lambda c: c.fcall("echo", 0, "x"),
        lambda c: c.fcall("types", 0),
        lambda c: c.hset("h", mapping={"f": "v", "g": "w"}),
        lambda c: c.fcall("hgetall", 1, "h"),
        lambda c: c.fcall("incr2", 2, "n1", "n2", 5, -2),
        lambda c: c.mget("n1", "n2"),
        lambda c: c.fcall("ro_write", 1, "k2"),
        lambda c: c.fcall_ro("ro_write", 1, "k2"),
        lambda c: c.exists("k2"),
        lambda c: c.fcall("glob", 0),
        lambda c: c.fcall("boom", 0),
        lambda c: c.fcall("err_reply", 0),
        lambda c: c.fcall("wrongtype", 1, "k"),
        lambda c: c.fcall("pcall_err", 1, "k"),
        lambda c: c.fcall("undefined", 0),
        lambda c: c.fcall("nocmd", 0),
        lambda c: c.fcall_ro("flagged", 0),
        lambda c: c.fcall("nosuchfunction", 0),
        lambda c: c.fcall_ro("nosuchfunction", 0),
        lambda c: c.fcall("echo", 3, "a"),
        lambda c: c.fcall("echo", -1),
        lambda c: c.fcall("echo", "x"),
        lambda c: c.fcall("KV_GET", 1, "k"),
        lambda c: c.execute_command("FCALL", "echo"),
        lambda c: c.execute_command("FCALL_RO"),
    )


def test_fcall_in_a_transaction_like_redis(pair: Pair) -> None:
    def tx(c: Any) -> Any:
        p = c.pipeline()
        p.fcall("kv_set", 1, "k", "a").fcall_ro("kv_get", 1, "k").fcall("kv_len", 1, "k")
        return p.execute()

    def management(c: Any) -> Any:
        p = c.pipeline(transaction=False)
        p.function_load(KV2.replace("name=kv", "name=other").replace("kv_get", "o_get"))
        p.function_list(library="other").function_stats().function_dump().function_delete("other")
        p.function_restore(b"bad").function_flush().function_list()
        loaded, listing, stats, dump, deleted, bad, flushed, after = p.execute(raise_on_error=False)
        return loaded, listing, stats, type(dump), deleted, typed(bad), flushed, after

    check(pair, flush, lambda c: c.function_load(KV), tx, lambda c: c.get("k"), management)


def test_function_list_like_redis(pair: Pair) -> None:
    check(
        pair,
        flush,
        lambda c: c.function_list(),
        lambda c: c.function_list(withcode=True),
        lambda c: c.function_load(KV),
        lambda c: c.function_load(KV2.replace("name=kv", "name=other").replace("kv_get", "o_get")),
        lambda c: c.function_load(MISC),
        lambda c: sorted_listing(c.function_list(library="kv")),
        lambda c: sorted_listing(c.function_list(library="kv", withcode=True)),
        lambda c: c.function_list(library="ot*", withcode=True),
        lambda c: sorted_listing(c.function_list(library="m?sc")),
        lambda c: sorted_listing(c.function_list(library="KV")),  # patterns ignore case
        lambda c: c.function_list(library="nomatch*"),
        lambda c: sorted_listing(c.function_list()),
        lambda c: sorted_listing(c.function_list(library="*", withcode=True)),
        lambda c: sorted_listing(c.function_list(library="[ko]*")),
        lambda c: sorted_listing(c.execute_command("FUNCTION LIST", "WITHCODE", "LIBRARYNAME", "kv")),
        lambda c: c.execute_command("FUNCTION LIST", "LIBRARYNAME"),
        lambda c: c.execute_command("FUNCTION LIST", "BOGUS"),
        lambda c: c.execute_command("FUNCTION LIST", "LIBRARYNAME", "a", "LIBRARYNAME", "b"),
    )


def test_function_delete_flush_stats_kill_like_redis(pair: Pair) -> None:
    check(
        pair,
        flush,
        lambda c: c.function_stats(),
        lambda c: c.function_load(KV),
        lambda c: c.function_load(MISC),
        lambda c: c.function_stats(),
        lambda c: c.function_delete("kv"),
        lambda c: c.function_delete("kv"),
        lambda c: c.function_delete("KV"),
        lambda c: c.function_delete("nolib"),
        lambda c: c.fcall("kv_get", 1, "k"),
        lambda c: c.fcall("echo", 0),
        lambda c: c.function_stats(),
        lambda c: c.function_load(KV),
        lambda c: c.function_flush("ASYNC"),
        lambda c: c.function_list(),
        lambda c: c.function_load(KV),
        lambda c: c.function_flush("SYNC"),
        lambda c: c.function_stats(),
        lambda c: c.function_load(KV),
        lambda c: c.function_flush("BAD"),
        lambda c: c.function_flush("sync"),
        lambda c: c.execute_command("FUNCTION FLUSH"),
        lambda c: c.function_list(),
        lambda c: c.function_kill(),
        lambda c: c.execute_command("FUNCTION KILL", "x"),
        lambda c: c.execute_command("FUNCTION DELETE"),
        lambda c: c.execute_command("FUNCTION STATS", "x"),
        lambda c: c.execute_command("FUNCTION NOSUCHSUB"),
        lambda c: c.execute_command("FUNCTION"),
        lambda c: c.execute_command("FUNCTION LOAD"),
        lambda c: c.execute_command("FUNCTION LOAD", "REPLACE"),
        lambda c: c.execute_command("FUNCTION LOAD", "BOGUS", KV),
        lambda c: c.execute_command("FUNCTION DUMP", "x"),
        lambda c: c.execute_command("FUNCTION RESTORE"),
    )


def test_function_help_like_redis(pair: Pair) -> None:
    def help_text(c: Any) -> Any:
        lines = c.execute_command("FUNCTION HELP")
        return lines[:-1]  # the last line: see test_known_engine_differences

    check(pair, help_text, lambda c: c.execute_command("FUNCTION HELP", "x"))


# Replies where nestdb's engine once differed from redis-server 7.0.
ONCE_DIFFERENT = {
    "flush_too_many_args": lambda c: c.execute_command("FUNCTION FLUSH", "SYNC", "ASYNC"),
    "restore_too_many_args": lambda c: c.execute_command("FUNCTION RESTORE", c.function_dump(), "FLUSH", "x"),
    "help_last_line": lambda c: c.execute_command("FUNCTION HELP")[-1],
    # Redis 7.0's function run-time globals have no print, getfenv, newproxy and no
    # redis.replicate_commands (EVAL scripts have only the last in 7.0.15).
    "runtime_globals": lambda c: [
        c.function_load(
            "#!lua name=env\nredis.register_function('env', function(keys, args)\n"
            "  return {type(print), type(getfenv), type(newproxy), type(redis.replicate_commands)}\nend)"
        ),
        outcome_of(lambda: c.fcall("env", 0)),
    ],
}


@pytest.mark.parametrize("name", sorted(ONCE_DIFFERENT))
def test_once_different_replies_match(pair: Pair, name: str) -> None:
    check(pair, flush, ONCE_DIFFERENT[name])


def test_dump_restore_round_trip_like_redis(pair: Pair) -> None:
    def restore_into_fresh(policy: Any) -> Callable[[Any], Any]:
        def step(c: Any) -> Any:
            payload = c.function_dump()
            c.function_flush()
            c.function_load(KV2.replace("name=kv", "name=other").replace("kv_get", "o_get"))
            ok = c.function_restore(payload) if policy is None else c.function_restore(payload, policy)
            return ok, sorted_listing(c.function_list(withcode=True))

        return step

    def collide(c: Any) -> Any:
        payload = c.function_dump()
        c.function_flush()
        c.function_load(KV2)  # library kv exists
        out = [outcome_of(lambda: c.function_restore(payload))]
        out.append(sorted_listing(c.function_list(withcode=True)))
        c.function_flush()
        c.function_load(KV2.replace("name=kv", "name=kvx"))  # function kv_get exists elsewhere
        out.append(outcome_of(lambda: c.function_restore(payload)))
        out.append(outcome_of(lambda: c.function_restore(payload, "REPLACE")))
        out.append(sorted_listing(c.function_list(withcode=True)))
        c.function_flush()
        c.function_load(KV2)
        out.append(outcome_of(lambda: c.function_restore(payload, "REPLACE")))
        out.append(c.fcall("kv_get", 1, "k"))
        out.append(sorted_listing(c.function_list(withcode=True)))
        return out

    check(
        pair,
        flush,
        lambda c: type(c.function_dump()),
        lambda c: c.function_restore(c.function_dump()),
        lambda c: c.function_list(),
        lambda c: c.function_load(KV),
        lambda c: c.function_load(MISC),
        lambda c: type(c.function_dump()),
        lambda c: c.function_dump()[:1],
        restore_into_fresh(None),
        restore_into_fresh("APPEND"),
        restore_into_fresh("REPLACE"),
        restore_into_fresh("FLUSH"),
        lambda c: c.function_flush(),
        lambda c: c.function_load(KV),
        collide,
        lambda c: c.function_restore(c.function_dump(), "BAD"),
        lambda c: c.function_restore(c.function_dump(), "flush"),
        lambda c: c.function_restore(b"garbage"),
        lambda c: c.function_restore(b""),
        lambda c: c.function_restore(c.function_dump()[:-1]),
        lambda c: c.function_restore(c.function_dump()[:-10] + c.function_dump()[-10:][::-1]),
        lambda c: sorted_listing(c.function_list(withcode=True)),
    )


SPIN = """#!lua name=spin
redis.register_function('spin', function(keys, args)
  while true do end
end)
redis.register_function{function_name = 'ro_spin', callback = function(keys, args)
  while true do end
end, flags = {'no-writes'}}
"""

# Arguments of the looping calls (FCALL runs with the GIL released, so another thread can call
# FUNCTION KILL meanwhile).
SPIN_ARGS = ["arg"]


def running(caller: Any, watcher: Any, fcall: Callable[[], Any]) -> Any:
    """Start ``fcall`` (a looping function) on ``caller`` in a thread; return what ``watcher``
    sees while it runs (FUNCTION STATS, SCRIPT KILL, FUNCTION KILL) and how the call ended."""
    ended: List[Any] = []

    def run() -> None:
        ended.append(outcome_of(fcall))

    t = threading.Thread(target=run, daemon=True)
    t.start()
    deadline = time.monotonic() + 10
    while True:
        stats = watcher.function_stats()
        if stats["running_script" if "running_script" in stats else b"running_script"] is not None:
            break
        assert time.monotonic() < deadline, "the function never ran"
        time.sleep(0.01)
    key = next(iter(stats))
    now = stats[key]
    now = {k: (type(v).__name__ if "duration" in str(k) else v[:5] if isinstance(v, list) else v) for k, v in now.items()}
    seen = [now, outcome_of(watcher.script_kill)]
    seen.append(outcome_of(watcher.function_kill))
    t.join(10)
    assert not t.is_alive()
    seen.append([(kind, msg.split(" script: ")[0]) for kind, msg in ended])
    seen.append(watcher.function_stats()[key])
    return seen


def test_function_stats_and_kill_while_running(real: Any, redis_server: Any) -> None:
    import redis

    db = nestdb.open()
    ours = (db.redis(), db.redis())
    theirs = (redis.Redis(port=redis_server.port), redis.Redis(port=redis_server.port))
    threshold = real.config_get("busy-reply-threshold")["busy-reply-threshold"]
    real.config_set("busy-reply-threshold", 50)  # answer other clients 50 ms into a script
    try:
        results = []
        for caller, watcher in (ours, theirs):
            watcher.function_flush()
            watcher.function_load(SPIN)
            results.append(
                [
                    running(caller, watcher, lambda: caller.fcall("spin", 1, "k", *SPIN_ARGS)),
                    running(caller, watcher, lambda: caller.fcall_ro("ro_spin", 0, *SPIN_ARGS)),
                    watcher.exists("k"),
                ]
            )
            watcher.function_flush()
        assert results[0] == results[1]
        [spin, ro_spin, _] = results[0]
        assert spin[0][b"name"] == b"spin" and spin[0][b"command"] == [b"FCALL", b"spin", b"1", b"k", b"arg"]
        assert spin[2] == ("ok", b"OK") and spin[3] == [("err", "Script killed by user with SCRIPT KILL...")]
        assert ro_spin[0][b"command"][0] == b"FCALL_RO"
    finally:
        real.config_set("busy-reply-threshold", threshold)
        for c in ours + theirs:
            c.close()


def test_function_that_wrote_cannot_be_killed() -> None:
    # nestdb only: a redis-server running a function that wrote can only be stopped with
    # SHUTDOWN NOSAVE (it replies the same UNKILLABLE error); this one writes, then returns
    # after 300 ms.
    db = nestdb.open()
    caller, watcher = db.redis(), db.redis()
    caller.function_load(
        "#!lua name=w\nredis.register_function('write_wait', function(keys, args)\n"
        "  redis.call('SET', keys[1], 'x')\n"
        "  local t = redis.call('TIME')\n"
        "  local stop = t[1] * 1000000 + t[2] + 300000\n"
        "  repeat t = redis.call('TIME') until t[1] * 1000000 + t[2] >= stop\n"
        "  return 'done'\nend)"
    )
    ended: List[Any] = []
    t = threading.Thread(target=lambda: ended.append(caller.fcall("write_wait", 1, "k", *SPIN_ARGS)), daemon=True)
    t.start()
    deadline = time.monotonic() + 10
    while watcher.function_stats()[b"running_script"] is None:
        assert time.monotonic() < deadline
        time.sleep(0.005)
    with pytest.raises(ResponseError, match="^UNKILLABLE Sorry the script already executed write commands"):
        watcher.function_kill()
    t.join(10)
    assert ended == [b"done"] and watcher.get("k") == b"x"
    caller.close()
    watcher.close()


def outcome_of(f: Callable[[], Any]) -> Any:
    try:
        return ("ok", f())
    except Exception as e:  # noqa: BLE001 - nestdb's and redis-py's errors, by message
        return ("err", str(e))


def test_dump_payload_format(r: nestdb.Redis) -> None:
    assert r.function_dump() == r.function_dump()
    r.function_load(KV)
    payload = r.function_dump()
    # opcode 245 (RDB_OPCODE_FUNCTION2), the code as an RDB string, RDB version 10, CRC-64 (LE).
    assert payload[0] == 245 and payload[-10:-8] == b"\x0a\x00"
    assert KV.encode() in payload
    rd = nestdb.Redis(decode_responses=True)
    rd.function_load(KV)
    assert rd.function_dump() == payload and isinstance(rd.function_dump(), bytes)
    rd.close()


def test_cross_restore_between_nestdb_and_redis(pair: Pair) -> None:
    ours, theirs = pair
    for c in (ours, theirs):
        c.function_flush()
    big = "#!lua name=big\n" + "".join(f"redis.register_function('big_{i}', function() return '{'x' * 50}{i}' end)\n" for i in range(40))
    theirs.function_load(KV)
    theirs.function_load(big)  # long and repetitive: redis-server's payload is LZF-compressed
    from_redis = theirs.function_dump()
    assert ours.function_restore(from_redis) is True
    assert sorted_listing(ours.function_list(withcode=True)) == sorted_listing(theirs.function_list(withcode=True))
    assert ours.fcall("big_7", 0) == theirs.fcall("big_7", 0)
    ours.function_load(MISC)
    theirs.function_flush()
    assert theirs.function_restore(ours.function_dump()) is True
    assert sorted_listing(theirs.function_list(withcode=True)) == sorted_listing(ours.function_list(withcode=True))
    assert theirs.fcall("echo", 1, "a", "b") == ours.fcall("echo", 1, "a", "b")
    # Restoring one side's payload into the other: same policies, same errors.
    payload = ours.function_dump()
    for c in (ours, theirs):
        with pytest.raises(Exception, match="^Library (kv|big|misc) already exists$"):
            c.function_restore(payload)
        assert c.function_restore(payload, "REPLACE") is True
        assert c.function_restore(from_redis, "FLUSH") is True
        names = sorted(lib[1] for lib in c.function_list())
        assert names == (["big", "kv"] if ours.decode_responses else [b"big", b"kv"])
    theirs.function_flush()


RATE_LIMITER = """#!lua name=ratelimit
-- Fixed-window rate limiter: allow at most ARGV[1] calls per ARGV[2] seconds per key.
local function hit(keys, args)
  local limit = tonumber(args[1])
  local window = tonumber(args[2])
  local n = redis.call('INCR', keys[1])
  if n == 1 then
    redis.call('EXPIRE', keys[1], window)
  end
  if n > limit then
    return {0, redis.call('TTL', keys[1])}
  end
  return {1, limit - n}
end

local function peek(keys, args)
  return tonumber(redis.call('GET', keys[1]) or '0')
end

redis.register_function('rl_hit', hit)
redis.register_function{function_name = 'rl_peek', callback = peek, flags = {'no-writes'}}
"""


def test_guide_rate_limiter() -> None:
    r = nestdb.Redis(decode_responses=True)
    assert r.function_load(RATE_LIMITER) == "ratelimit"
    results = [r.fcall("rl_hit", 1, "rl:alice", 3, 60) for _ in range(5)]
    assert results[:3] == [[1, 2], [1, 1], [1, 0]]
    assert [allowed for allowed, _ in results[3:]] == [0, 0]
    assert all(0 < ttl <= 60 for _, ttl in results[3:])
    assert r.fcall_ro("rl_peek", 1, "rl:alice") == 5
    assert r.fcall_ro("rl_peek", 1, "rl:bob") == 0
    assert 0 < r.ttl("rl:alice") <= 60
    with pytest.raises(ResponseError, match="write flag"):
        r.fcall_ro("rl_hit", 1, "rl:bob", 3, 60)
    [lib] = r.function_list(withcode=True)
    assert lib[:4] == ["library_name", "ratelimit", "engine", "LUA"] and lib[-1] == RATE_LIMITER
    assert r.function_stats()["engines"] == {"LUA": {"libraries_count": 1, "functions_count": 2}}
    r.close()


def test_functions_survive_reopen(tmp_path: Any) -> None:
    path = str(tmp_path / "db")
    r = nestdb.Redis(path)
    assert r.function_load(KV) == b"kv"
    assert r.fcall("kv_set", 1, "k", "one") == b"OK"
    r.close()

    r = nestdb.Redis(path)
    assert r.fcall("kv_get", 1, "k") == b"one"
    assert r.function_load(MISC) == b"misc"
    assert r.function_load(KV2, replace=True) == b"kv"
    r.close()

    r = nestdb.Redis(path)
    assert r.fcall("kv_get", 1, "k") == b"v2:one"
    assert r.fcall("incr2", 2, "a", "b", 1, 2) == 2
    assert r.function_delete("misc") is True
    r.close()

    r = nestdb.Redis(path)
    assert [lib[1] for lib in r.function_list()] == [b"kv"]
    with pytest.raises(ResponseError, match="Function not found"):
        r.fcall("incr2", 2, "a", "b", 1, 2)
    assert r.function_flush() is True
    r.close()

    r = nestdb.Redis(path)
    assert r.function_list() == []
    r.close()


def test_functions_survive_snapshot_then_reopen(tmp_path: Any) -> None:
    path = str(tmp_path / "db")
    r = nestdb.Redis(path, save="")
    r.function_load(KV)
    r.function_load(MISC)
    r.fcall("kv_set", 1, "k", "before")
    assert r.save() is True
    # Changes after the snapshot come from the log on reopen.
    r.fcall("kv_set", 1, "k", "after")
    r.function_delete("misc")
    r.function_load(KV2, replace=True)
    r.function_load(RATE_LIMITER)
    r.fcall("rl_hit", 1, "rl", 10, 60)
    r.close()

    r = nestdb.Redis(path, save="")
    assert sorted(lib[1] for lib in r.function_list()) == [b"kv", b"ratelimit"]
    assert r.fcall("kv_get", 1, "k") == b"v2:after"
    assert r.fcall("rl_hit", 1, "rl", 10, 60) == [1, 8]
    assert r.bgrewriteaof() is True
    assert r.save() is True
    r.function_flush()
    r.function_load(KV)
    r.close()

    r = nestdb.Redis(path, save="")
    assert [lib[1] for lib in r.function_list()] == [b"kv"]
    assert r.fcall("kv_get", 1, "k") == b"after"
    dumped = r.function_dump()
    r.close()

    fresh = nestdb.Redis(str(tmp_path / "other"))
    assert fresh.function_restore(dumped) is True  # type: ignore[arg-type]  # redis-py types it str
    fresh.close()
    fresh = nestdb.Redis(str(tmp_path / "other"))
    assert fresh.function_dump() == dumped
    fresh.close()
