"""Lua scripting through ``nestdb.Redis``: EVAL/EVALSHA/SCRIPT and redis-py's ``register_script``,
compared with a real redis-server 7.0 through redis-py (same calls, same replies, same errors),
plus the guide's lock release run as written."""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, List, Tuple

import pytest

import nestdb
from nestdb.exceptions import NoScriptError, ResponseError

# (setup commands, script, keys, args): each runs on a fresh database on both sides.
CASES: List[Tuple[List[Tuple[Any, ...]], str, List[str], List[Any]]] = [
    ([], "return 1", [], []),
    ([], "return 3.7", [], []),
    ([], "return -3.7", [], []),
    ([], "return 'text'", [], []),
    ([], "return true", [], []),
    ([], "return false", [], []),
    ([], "return nil", [], []),
    ([], "return {1, 2, {3, 'x'}, nil, 5}", [], []),
    ([], "return {ok = 'FINE'}", [], []),
    ([], "return redis.status_reply('FINE')", [], []),
    ([], "return {KEYS[1], ARGV[1], ARGV[2], #KEYS, #ARGV}", ["k"], ["a", 2]),
    ([("SET", "s", "v")], "return redis.call('GET', KEYS[1])", ["s"], []),
    ([], "return redis.call('GET', 'missing')", [], []),
    ([], "return redis.call('GET', 'missing') == false", [], []),
    ([], "return redis.call('SET', 'a', 'b')", [], []),
    ([], "return redis.call('SET', 'a', 'b')['ok']", [], []),
    ([], "redis.call('INCRBY', 'n', 5) return redis.call('INCRBY', 'n', 2.0)", [], []),
    ([], "redis.call('ZADD', 'z', 1.5, 'm', 2, 'n') return redis.call('ZRANGE', 'z', 0, -1, 'WITHSCORES')", [], []),
    ([], "redis.call('ZADD', 'z', 1.5, 'm') return redis.call('ZSCORE', 'z', 'm')", [], []),
    ([("HSET", "h", "f", "v")], "return redis.call('HGETALL', KEYS[1])", ["h"], []),
    ([("RPUSH", "l", "a", "b", "c")], "return redis.call('LRANGE', KEYS[1], 0, -1)", ["l"], []),
    ([], "return redis.call('PING')", [], []),
    ([("SET", "s", "v")], "return redis.pcall('LPUSH', 's', 'x')['err']", [], []),
    ([], "return redis.sha1hex('abc')", [], []),
    ([], "local t = {} for i = 1, 5 do t[i] = i * i end return t", [], []),
    ([], "return string.format('%d-%s', 7, 'x') .. string.rep('ab', 2)", [], []),
    ([], "return math.floor(7 / 2)", [], []),
    ([], "return table.concat({'a', 'b'}, ',')", [], []),
    ([], "return tonumber('12') + 1", [], []),
    # Errors: each must have Redis's text.
    ([("SET", "s", "v")], "return redis.call('LPUSH', 's', 'x')", [], []),
    ([("SET", "s", "v")], "\n\nreturn redis.call('LPUSH', 's', 'x')", [], []),
    ([], "return redis.error_reply('MY custom error')", [], []),
    ([], "return redis.call('GET')", [], []),
    ([], "return redis.call('NOSUCHCOMMAND')", [], []),
]


def outcome(f: Callable[[], Any]) -> Tuple[str, Any]:
    try:
        return ("ok", f())
    except Exception as e:  # noqa: BLE001 - redis-py's and nestdb's errors: names and messages
        return ("err", f"{type(e).__name__}: {e}")


def test_eval_matches_redis_server(real: Any) -> None:
    for setup, script, keys, args in CASES:
        mine = nestdb.Redis()
        real.flushall()
        for cmd in setup:
            mine.execute_command(*cmd)
            real.execute_command(*cmd)
        got = outcome(lambda: mine.eval(script, len(keys), *keys, *args))
        want = outcome(lambda: real.eval(script, len(keys), *keys, *args))
        if want[0] == "err" and got[0] == "err":
            # Compare up to the script name: Redis 7.0 then names the script by sha and line.
            assert got[1].split(" script: ")[0] == want[1].split(" script: ")[0], script
        else:
            assert got == want, script


def test_error_texts_name_the_script_and_line(real: Any) -> None:
    script = "\n\nreturn redis.call('LPUSH', 's', 'x')"
    for c in (nestdb.Redis(), real):
        c.set("s", "v")
    with pytest.raises(ResponseError) as mine:
        nestdb_client = nestdb.Redis()
        nestdb_client.set("s", "v")
        nestdb_client.eval(script, 0)
    with pytest.raises(Exception) as theirs:
        real.eval(script, 0)
    assert str(mine.value) == str(theirs.value)


def test_evalsha_script_load_exists_flush(real: Any) -> None:
    mine = nestdb.Redis()
    for c in (mine, real):
        sha = c.script_load("return ARGV[1]")
        assert sha == "b9d2e3f4b5f63c3b3d54dbe7f3ac4bf69e20bb8b" or len(sha) == 40
    assert mine.script_load("return ARGV[1]") == real.script_load("return ARGV[1]")
    sha = mine.script_load("return ARGV[1]")
    assert mine.evalsha(sha, 0, "x") == real.evalsha(sha, 0, "x") == b"x"
    assert mine.script_exists(sha, "0" * 40) == real.script_exists(sha, "0" * 40) == [True, False]
    assert mine.script_flush() is True and real.script_flush() is True
    assert mine.script_exists(sha) == [False]
    with pytest.raises(NoScriptError):
        mine.evalsha(sha, 0)
    with pytest.raises(ResponseError, match="No scripts in execution"):
        mine.script_kill()


def test_register_script_reloads_after_flush() -> None:
    r = nestdb.Redis(decode_responses=True)
    incr_by = r.register_script("return redis.call('INCRBY', KEYS[1], ARGV[1])")
    assert incr_by(keys=["n"], args=[5]) == 5
    r.script_flush()
    assert incr_by(keys=["n"], args=[2]) == 7
    pipe = r.pipeline()
    incr_by(keys=["n"], args=[1], client=pipe)
    pipe.get("n")
    assert pipe.execute() == [8, "8"]


def test_the_guide_lock_release_as_written() -> None:
    # The guide's RedisDistributedLock: SET PX NX to acquire, a Lua check-and-delete to release.
    r = nestdb.Redis(decode_responses=True)
    release = """
      if redis.call("get", KEYS[1]) == ARGV[1] then
        return redis.call("del", KEYS[1])
      else
        return 0
      end
    """
    assert r.set("lock:critical-section", "me", px=10000, nx=True) is True
    assert r.set("lock:critical-section", "you", px=10000, nx=True) is None
    assert r.eval(release, 1, "lock:critical-section", "you") == 0
    assert r.get("lock:critical-section") == "me"
    assert r.eval(release, 1, "lock:critical-section", "me") == 1
    assert r.exists("lock:critical-section") == 0


def test_scripts_are_atomic_across_threads() -> None:
    r = nestdb.Redis()
    script = r.register_script("local v = tonumber(redis.call('GET', KEYS[1]) or '0') redis.call('SET', KEYS[1], v + 1) return v + 1")

    def work() -> None:
        for _ in range(200):
            script(keys=["counter"])

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert r.get("counter") == b"800"


def test_script_kill_from_another_thread() -> None:
    db = nestdb.open()
    looping, killer = db.redis(), db.redis()
    result: List[Any] = []

    def run() -> None:
        result.append(outcome(lambda: looping.eval("while true do end", 0)))

    t = threading.Thread(target=run)
    t.start()
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            if killer.script_kill():
                break
        except ResponseError:
            time.sleep(0.01)
    t.join(10)
    assert not t.is_alive()
    assert result[0][0] == "err" and "Script killed by user with SCRIPT KILL" in result[0][1]


def test_scripts_survive_a_restart_as_their_effects(tmp_path: Any) -> None:
    path = str(tmp_path / "db")
    r = nestdb.Redis(path=path)
    r.sadd("s", "a", "b", "c", "d")
    popped = r.eval("return redis.call('SPOP', KEYS[1], 2)", 1, "s")
    r.close()
    r = nestdb.Redis(path=path)
    assert r.scard("s") == 2
    assert not any(r.sismember("s", p) for p in popped)
    r.close()
