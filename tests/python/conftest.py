"""Shared fixtures for the nestdb Python tests.

- ``r`` / ``rd``: a fresh in-memory ``nestdb.Redis`` (bytes / ``decode_responses=True``).
- ``redis_server``: a real redis-server started on a free loopback port for the session
  (skipped with a clear message when redis-server is missing, unless NESTDB_REQUIRE_REDIS=1,
  which turns the skip into a failure).
- ``requires(*commands)``: skip when the engine does not implement a command yet.
- ``client``: a fresh in-memory ``nestdb.MongoClient`` (the document tests' own ``db``
  fixtures pick a database on it).
- ``typed`` / ``outcome``: comparable images of redis-py results and exceptions (class,
  message, redis-py base classes), for the tests that run the same calls on nestdb and on a
  real server.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from typing import Any, Callable, Dict, Iterator, List, Set, Tuple

import pytest

import nestdb


def engine_commands() -> Set[str]:
    r = nestdb.Redis()
    names = {c.decode().lower() for c in r.command_list()}
    r.close()
    return names


ENGINE_COMMANDS = engine_commands()


def requires(*commands: str) -> pytest.MarkDecorator:
    missing = [c for c in commands if c.lower() not in ENGINE_COMMANDS]
    return pytest.mark.skipif(bool(missing), reason=f"engine does not implement {', '.join(missing)} yet")


@pytest.fixture
def client() -> Iterator[nestdb.MongoClient]:
    c = nestdb.MongoClient()
    yield c
    c.close()


def _exception_bases() -> tuple:
    import redis.exceptions as RE

    return (RE.ResponseError, RE.DataError, RE.WatchError, RE.ExecAbortError, RE.RedisError)


def exc_info(e: BaseException) -> tuple:
    """An exception as compared: class name, message and the redis-py bases it is an instance of."""
    return ("exc", type(e).__name__, str(e), tuple(c.__name__ for c in _exception_bases() if isinstance(e, c)))


def typed(x: Any) -> Any:
    """A comparable image of ``x`` that keeps Python types (1 != 1.0 != True)."""
    import redis

    if isinstance(x, BaseException):
        return exc_info(x)
    if isinstance(x, (redis.Redis, nestdb.Redis)):  # pipelines chain: compare the kind only
        return ("client", "Pipeline" in type(x).__name__)
    if isinstance(x, dict):
        return ("dict", sorted(((typed(k), typed(v)) for k, v in x.items()), key=repr))
    if isinstance(x, (set, frozenset)):
        return (type(x).__name__, sorted((typed(v) for v in x), key=repr))
    if isinstance(x, (list, tuple)):
        return (type(x).__name__, [typed(v) for v in x])
    return (type(x).__name__, x)


def outcome(c: Any, fn: Callable[[Any], Any]) -> Any:
    """``fn(c)``'s result, or the exception it raised, as ``typed`` images."""
    try:
        return ("ok", typed(fn(c)))
    except Exception as e:  # noqa: BLE001 - compared by class, message and bases
        return ("err",) + exc_info(e)


def wait_blocked(r: nestdb.Redis, n: int = 1) -> None:
    """Wait (at most 10 s) until ``n`` callers are blocked in ``r``'s database."""
    deadline = time.monotonic() + 10
    while r.info("clients")["blocked_clients"] < n:
        assert time.monotonic() < deadline, "the call never blocked"
        time.sleep(0.001)


def in_thread(fn: Callable[[], Any]) -> Tuple[threading.Thread, Dict[str, Any]]:
    """Run ``fn`` on a new thread; its value or exception lands in the returned dict."""
    out: Dict[str, Any] = {}

    def run() -> None:
        try:
            out["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - handed to the test
            out["error"] = e

    t = threading.Thread(target=run)
    t.start()
    return t, out


Pair = Tuple[Any, Any]


@pytest.fixture(params=[False, True], ids=["bytes", "decoded"])
def pair(request: Any, r: nestdb.Redis, rd: nestdb.Redis, real: Any, redis_server: Any) -> Iterator[Pair]:
    """(nestdb client, redis-py client on the real server), both bytes or both decoding."""
    if not request.param:
        yield r, real
        return
    import redis

    theirs = redis.Redis(port=redis_server.port, decode_responses=True)
    yield rd, theirs
    theirs.close()


def check(pair: Pair, *steps: Callable[[Any], Any]) -> List[Any]:
    """Run the steps (each ``step(client)``) in order on both clients: every step's value or
    exception must match, types included. Returns nestdb's outcomes."""
    ours_c, theirs_c = pair
    ours = [outcome(ours_c, fn) for fn in steps]
    theirs = [outcome(theirs_c, fn) for fn in steps]
    for n, (a, b) in enumerate(zip(ours, theirs)):
        assert a == b, f"step {n}:\n  nestdb: {a!r}\n  redis:  {b!r}"
    return ours


@pytest.fixture
def r() -> Iterator[nestdb.Redis]:
    client = nestdb.Redis()
    yield client
    client.close()


@pytest.fixture
def rd() -> Iterator[nestdb.Redis]:
    client = nestdb.Redis(decode_responses=True)
    yield client
    client.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    def __init__(self, exe: str) -> None:
        self.port = _free_port()
        self.dir = tempfile.mkdtemp(prefix="nestdb-test-redis-")
        self.proc = subprocess.Popen(
            [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", self.dir],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.time() + 15
        while time.time() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    required = os.environ.get("NESTDB_REQUIRE_REDIS") == "1"
    try:
        import redis  # noqa: F401
    except ImportError:
        if required:
            pytest.fail("NESTDB_REQUIRE_REDIS=1 but redis-py is not installed")
        pytest.skip("redis-py is not installed (pip install redis); differential tests skipped")
    exe = os.environ.get("REDIS_SERVER") or shutil.which("redis-server")
    if not exe:
        if required:
            pytest.fail("NESTDB_REQUIRE_REDIS=1 but redis-server is not on PATH (apt-get install -y redis-server)")
        pytest.skip("redis-server not found (apt-get install -y redis-server); differential tests skipped")
    server = RedisServer(exe)
    yield server
    server.stop()


@pytest.fixture
def real(redis_server: RedisServer) -> Iterator["object"]:
    import redis

    client = redis.Redis(port=redis_server.port)
    client.flushall()
    yield client
    client.close()
