"""Blocking commands through `nestdb.Redis`: redis-py's return shapes, waits served by another
thread (the GIL is released while waiting), timeouts, and Ctrl-C ending a wait.

The guide's job queue (`rpush` + `blpop('job:queue', 30)`) runs as written in
test_workloads.py; replies with data at hand are compared with redis-server in
test_conf_redispy.py.
"""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

import nestdb
from nestdb import exceptions as exc

from conftest import in_thread, wait_blocked


def test_blpop_is_served_by_a_push_from_another_thread(r: nestdb.Redis) -> None:
    t, out = in_thread(lambda: r.blpop("job:queue", 30))
    wait_blocked(r)
    r.rpush("job:queue", '{"job": 1}')
    t.join(10)
    assert out == {"value": (b"job:queue", b'{"job": 1}')}
    assert r.info("clients")["blocked_clients"] == 0


def test_shapes_follow_redis_py(rd: nestdb.Redis) -> None:
    rd.rpush("l", "a", "b", "c")
    rd.zadd("z", {"one": 1, "two": 2, "three": 3})
    assert rd.blpop(["missing", "l"], timeout=1) == ("l", "a")
    assert rd.brpop("l", timeout=1) == ("l", "c")
    assert rd.brpoplpush("l", "m", timeout=1) == "b"
    assert rd.blmove("m", "l", 1, "LEFT", "RIGHT") == "b"
    assert rd.blmpop(1, 1, "l", direction="LEFT", count=5) == ["l", ["b"]]
    assert rd.bzpopmin("z", timeout=1) == ("z", "one", 1.0)
    assert rd.bzpopmax(["missing", "z"], timeout=1) == ("z", "three", 3.0)
    # (redis-py leaves a [BZ]MPOP score undecoded, b"2", against redis-server too)
    assert rd.bzmpop(1, 1, ["z"], min=True) == ["z", [["two", b"2"]]]


def test_timeouts_return_none_after_the_time(r: nestdb.Redis) -> None:
    for call in (
        lambda: r.blpop("missing", timeout=0.05),
        lambda: r.brpop(["missing", "other"], timeout=0.05),
        lambda: r.brpoplpush("missing", "dst", timeout=0.05),
        lambda: r.blmove("missing", "dst", 0.05),
        lambda: r.blmpop(0.05, 1, "missing", direction="LEFT"),
        lambda: r.bzpopmin("missing", timeout=0.05),
        lambda: r.bzpopmax("missing", timeout=0.05),
        lambda: r.bzmpop(0.05, 1, ["missing"], max=True),
    ):
        t = time.monotonic()
        assert call() is None
        assert 0.05 <= time.monotonic() - t < 5
    assert r.dbsize() == 0


def test_errors(r: nestdb.Redis) -> None:
    r.set("s", "x")
    with pytest.raises(exc.ResponseError, match="^WRONGTYPE"):
        r.blpop("s", timeout=1)
    with pytest.raises(exc.ResponseError, match="^timeout is negative$"):
        r.blpop("l", timeout=-1)
    with pytest.raises(exc.ResponseError, match="^timeout is not a float or out of range$"):
        r.execute_command("BLPOP", "l", "soon")


def test_other_threads_run_while_a_call_waits(r: nestdb.Redis) -> None:
    t, out = in_thread(lambda: r.bzpopmin("z", timeout=30))
    wait_blocked(r)
    for i in range(200):  # the waiting thread must not hold the GIL or the engine
        r.incr("counter")
    r.zadd("z", {"m": 7})
    t.join(10)
    assert out == {"value": (b"z", b"m", 7.0)}
    assert r.get("counter") == b"200"


def test_a_pipeline_with_blpop_waits_in_it(r: nestdb.Redis) -> None:
    def produce() -> None:
        wait_blocked(r)
        r.rpush("q", "late")

    t = threading.Thread(target=produce)
    t.start()
    pipe = r.pipeline(transaction=False)
    pipe.set("k", "v").blpop("q", 0).get("k")
    assert pipe.execute() == [True, (b"q", b"late"), b"v"]
    t.join(10)


def test_in_a_transaction_nothing_blocks(r: nestdb.Redis) -> None:
    pipe = r.pipeline(transaction=True)
    pipe.blpop("q", 0).bzpopmin("z", 0)
    assert pipe.execute() == [None, None]


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="needs setitimer")
def test_ctrl_c_ends_a_wait_and_takes_nothing(r: nestdb.Redis) -> None:
    class Interrupted(Exception):
        pass

    def handler(signum, frame):  # noqa: ARG001 - signal handler signature
        raise Interrupted

    old = signal.signal(signal.SIGALRM, handler)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.2)
        t = time.monotonic()
        with pytest.raises(Interrupted):
            r.blpop("q", timeout=0)
        assert time.monotonic() - t < 5
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert r.info("clients")["blocked_clients"] == 0
    r.rpush("q", "x")
    assert r.lpop("q") == b"x"


def test_close_from_another_thread_ends_a_wait() -> None:
    r = nestdb.Redis()
    t, out = in_thread(lambda: r.blpop("q", timeout=0))
    wait_blocked(r)
    start = time.monotonic()
    r.close()
    assert time.monotonic() - start < 5, "close() waited for the blocked call"
    t.join(10)
    assert isinstance(out.get("error"), exc.ConnectionError)


def test_a_worker_pool_consumes_each_job_once(r: nestdb.Redis) -> None:
    jobs = 600
    results: list[bytes] = []
    lock = threading.Lock()

    def worker() -> None:
        while True:
            item = r.blpop("jobs", timeout=1)
            if item is None:
                return
            with lock:
                results.append(item[1])

    workers = [threading.Thread(target=worker) for _ in range(4)]
    for w in workers:
        w.start()
    for i in range(jobs):
        r.rpush("jobs", f"job-{i}")
        if i % 50 == 0:
            time.sleep(0.001)
    for w in workers:
        w.join(30)
    assert sorted(results) == sorted(f"job-{i}".encode() for i in range(jobs))


def test_file_backed_blocked_pop_survives_a_reopen(tmp_path: os.PathLike) -> None:
    path = str(tmp_path / "db")
    r = nestdb.Redis(path=path)
    t, out = in_thread(lambda: r.blpop("q", 10))
    wait_blocked(r)
    r.rpush("q", "a", "b")
    t.join(10)
    assert out == {"value": (b"q", b"a")}
    r.close()
    r = nestdb.Redis(path=path)
    assert r.lrange("q", 0, -1) == [b"b"]
    r.close()
