"""Threads (one handle shared by many threads, GIL released around long work), fork safety,
and bad input (huge arguments, wrong types) leaving the data unchanged."""

from __future__ import annotations

import os
import sys
import threading
import time

import pytest

import nestdb
from nestdb import exceptions as exc

from conftest import requires


def test_many_threads_one_handle():
    r = nestdb.Redis()
    n_threads, n_ops = 8, 2000
    errors = []

    def worker(t):
        try:
            for i in range(n_ops):
                r.incr("counter")
                r.set(f"t{t}:{i % 50}", i)
                assert r.get(f"t{t}:{i % 50}") == str(i).encode()
                if i % 100 == 0:
                    r.mget([f"t{t}:{j}" for j in range(50)])
                    with r.pipeline() as p:
                        p.incr("piped").incr("piped")
                        p.execute()
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert r.get("counter") == str(n_threads * n_ops).encode()
    assert r.get("piped") == str(n_threads * (n_ops // 100) * 2).encode()
    assert r.dbsize() == n_threads * 50 + 2


def test_close_while_other_threads_work():
    r = nestdb.Redis()
    stop = threading.Event()
    outcomes = []

    def worker():
        while not stop.is_set():
            try:
                r.set("k", "v")
                r.keys("*")
            except exc.ConnectionError:
                outcomes.append("closed")
                return
        outcomes.append("stopped")

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.05)
    r.close()
    time.sleep(0.05)
    stop.set()
    for t in threads:
        t.join(5)
    assert outcomes == ["closed"] * 4


def test_gil_released_during_long_commands():
    """While one thread runs a whole-keyspace command, another thread keeps running Python."""
    r = nestdb.Redis()
    r.mset({f"key:{i}": i for i in range(200_000)})
    ticks = []
    done = threading.Event()

    def ticker():
        while not done.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0)

    t = threading.Thread(target=ticker)
    t.start()
    try:
        start = time.perf_counter()
        for _ in range(5):
            r.keys("key:1*")
        elapsed = time.perf_counter() - start
    finally:
        done.set()
        t.join()
    during = [x for x in ticks if start <= x <= start + elapsed]
    # With the GIL held for the whole KEYS, the ticker could not run at all meanwhile.
    assert len(during) > 5, (elapsed, len(during))


def run_in_child(fn, timeout=10.0):
    """Run ``fn()`` (returning a small int) in a forked child; its result, or "timeout" (the
    child is killed) -- a hang in the child must fail the test, never hang the suite."""
    import select
    import signal

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 99
        try:
            code = fn()
        finally:
            os.write(write, bytes([code]))
            os._exit(0)
    os.close(write)
    ready, _, _ = select.select([read], [], [], timeout)
    if not ready:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(read)
        return "timeout"
    code = os.read(read, 1)
    os.close(read)
    os.waitpid(pid, 0)
    return code[0] if code else "no result"


def child_opens_its_own_databases(parent_path, parent_pid, tmp_path):
    """In a forked child: 0 if the parent's database at ``parent_path`` is refused with
    DatabaseLockedError naming ``parent_pid`` (10: it opened; 11: another pid) and a database
    of the child's own works, opening it twice in the child sharing it (12 if not)."""
    try:
        nestdb.Redis(parent_path)
        return 10
    except nestdb.DatabaseLockedError as e:
        if e.pid != parent_pid:
            return 11
    own = tmp_path / f"child-{os.getpid()}"
    a = nestdb.Redis(own)
    a.set("x", 1)
    b = nestdb.Redis(own)
    ok = b.get("x") == b"1"
    a.close()
    b.close()
    return 0 if ok else 12


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_fork_child_gets_a_clear_error_parent_unaffected():
    r = nestdb.Redis()
    r.set("k", "parent")
    pipe = r.pipeline()

    def child():
        try:
            r.get("k")
            return 10
        except nestdb.ForkError as e:
            if "fork" not in str(e):
                return 11
        try:
            pipe.set("a", 1).execute()
            return 12
        except nestdb.ForkError:
            pass
        r.close()  # harmless in the child: the parent's engine is left alone
        return 0

    assert run_in_child(child) == 0
    assert r.get("k") == b"parent"
    assert pipe.set("a", 1).execute() == [True]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forks_while_other_threads_are_busy_never_hang_the_child(tmp_path):
    """Regression: the engine's locks once came from parking_lot, whose threads park in one
    process-wide table with locks of its own; a fork while a parent thread held one of those
    left it held in the child, and the child's own new database then hung on close (about one
    fork in a hundred under this load). Each child opens, writes, shares and closes a database
    of its own while the parent's threads keep writing (GIL released: appendfsync always)."""
    busy = [nestdb.Redis(tmp_path / f"busy{i}", appendfsync="always") for i in range(3)]
    stop = threading.Event()

    def hammer(r):
        i = 0
        while not stop.is_set():
            r.set(f"k{i % 500}", "x" * (i % 3000))
            i += 1

    threads = [threading.Thread(target=hammer, args=(r,), daemon=True) for r in busy]
    for t in threads:
        t.start()
    parent_path = tmp_path / "parent"
    parent = nestdb.Redis(parent_path, appendfsync="always")
    parent.set("k", "v")
    parent_pid = os.getpid()

    def child():
        return child_opens_its_own_databases(parent_path, parent_pid, tmp_path)

    try:
        results = [run_in_child(child) for _ in range(300)]
    finally:
        stop.set()
        for t in threads:
            t.join()
        for r in busy:
            r.close()
    assert [x for x in results if x != 0] == []
    assert parent.get("k") == b"v"
    parent.close()


def test_huge_arguments(r):
    big = os.urandom(8 * 1024 * 1024)
    assert r.set("big", big) is True
    assert r.get("big") == big
    assert r.strlen("big") == len(big)
    items = {f"k{i}": i for i in range(100_000)}
    assert r.mset(items) is True
    assert r.mget(list(items)[:3]) == [b"0", b"1", b"2"]
    long_key = "k" * 1_000_000
    r.set(long_key, "v")
    assert r.get(long_key) == b"v"
    with pytest.raises(exc.ResponseError, match="maximum allowed size"):
        r.setrange("big", 600 * 1024 * 1024, "x")
    assert r.get("big") == big


def test_wrong_python_types_leave_data_unchanged(r):
    r.set("k", "v")
    before = r.get("k")
    for bad in (None, [1], {"a": 1}, object(), True, 3 + 4j):
        with pytest.raises(exc.DataError):
            r.set("k", bad)
        with pytest.raises(exc.DataError):
            r.mset({"k": bad})
        with pytest.raises(exc.DataError):
            r.execute_command("APPEND", "k", bad)
    with pytest.raises(AttributeError):  # as redis-py: mapping.items()
        r.mset(["not", "a", "mapping"])
    with pytest.raises(TypeError):
        r.get()
    with pytest.raises(TypeError):
        r.set("k")
    assert r.get("k") == before


@requires("rpush", "lrange")
def test_non_utf8_in_list_with_decode_responses():
    db = nestdb.open()
    raw, txt = db.redis(), db.redis(decode_responses=True)
    raw.rpush("lst", "ok", b"\xff\xfe")
    with pytest.raises(UnicodeDecodeError):
        txt.lrange("lst", 0, -1)
    assert raw.lrange("lst", 0, -1) == [b"ok", b"\xff\xfe"]
    assert txt.lrange("lst", 0, 0) == ["ok"]


def test_exception_inside_callback_does_not_poison_handle(r):
    r.set_response_callback("GET", lambda resp, **kw: 1 / 0)
    r.set("k", "v")
    with pytest.raises(ZeroDivisionError):
        r.get("k")
    r.set_response_callback("GET", lambda resp, **kw: resp)
    assert r.get("k") == b"v"


def test_reentrant_close_from_callback(r):
    r.set("k", "v")
    r.set_response_callback("GET", lambda resp, **kw: (r.close(), resp)[1])
    assert r.get("k") == b"v"
    assert r.closed


def test_interpreter_exit_with_open_handles(tmp_path):
    script = tmp_path / "exit.py"
    script.write_text(
        "import nestdb, threading\n"
        "r = nestdb.Redis()\n"
        "r.mset({f'k{i}': i for i in range(10000)})\n"
        "p = r.pipeline(); p.set('a', 1)\n"
        "t = threading.Thread(target=lambda: [r.keys() for _ in range(50)], daemon=True); t.start()\n"
        "print('ok')\n"
    )
    import subprocess

    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_child_after_fork_gets_working_databases_with_active_expiry():
    """A database opened in a forked child must work fully, background expiry included."""
    parent = nestdb.Redis()
    parent.set("p", 1, px=10)  # the parent's background thread exists and runs
    time.sleep(0.05)

    def child():
        ok = 0
        for _ in range(5):  # several tries: the deadlock needs an unlucky fork instant
            db = nestdb.Redis(hz=100)
            for i in range(100):
                db.set(f"k{i}", i, px=20)
            deadline = time.time() + 0.5
            while time.time() < deadline and db.dbsize() > 0:
                time.sleep(0.02)
            ok += db.dbsize() == 0  # only active expiry deletes keys nobody reads
        return 0 if ok == 5 else 2

    for _ in range(3):
        assert run_in_child(child, timeout=30) == 0
