"""File-backed databases from Python: persistence with each appendfsync policy, config keywords
and CONFIG SET/GET, save/bgsave/bgrewriteaof/lastsave/info("persistence"), one engine per path
within a process, the directory lock between processes (DatabaseLockedError with the pid), a
corrupted log (DatabaseCorruptError, nestdb.repair), a torn tail, paths of every type, and the
GIL released while opening and saving."""

from __future__ import annotations

import datetime
import os
import pathlib
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import nestdb
from nestdb import exceptions as exc

from test_concurrency import child_opens_its_own_databases, run_in_child


def wait_closed(path) -> None:
    """Wait until the database at ``path`` is closed for real (its directory unlocked).

    Closing the last handle closes the database, but the library's background thread may hold
    the engine a few milliseconds longer. Repairing a sound database changes nothing and
    succeeds only once nobody holds the lock."""
    deadline = time.time() + 5
    while True:
        try:
            nestdb.repair(path)
            return
        except nestdb.DatabaseLockedError:
            if time.time() > deadline:
                raise
            time.sleep(0.01)


def only_log(path) -> pathlib.Path:
    logs = sorted(pathlib.Path(path).glob("log-*.log"))
    assert len(logs) == 1, logs
    return logs[0]


def fill(path, n: int) -> None:
    """``n`` keys written in order with appendfsync always (no snapshots), then closed."""
    with nestdb.Redis(path, appendfsync="always", save="") as r:
        for i in range(n):
            r.set(f"key:{i:03d}", f"value number {i}")
    wait_closed(path)


# ---------------------------------------------------------------- persistence


@pytest.mark.parametrize("policy", ["always", "everysec", "no"])
def test_round_trip_with_each_appendfsync(tmp_path, policy):
    path = tmp_path / "app.nest"
    r = nestdb.Redis(path, appendfsync=policy)
    assert r.config_get("appendfsync") == {"appendfsync": policy}
    r.set("greeting", "hello", ex=3600)
    r.hset("user:1", mapping={"name": "ada", "lang": "python"})
    r.rpush("queue", "a", "b", "c")
    r.sadd("tags", "x", "y")
    r.zadd("board", {"ada": 10, "grace": 20.5})
    r.incrby("counter", 41)
    r.incr("counter")
    r.set(b"bin\x00key", b"\x00\xff")
    r.delete("tags")
    r.close()
    assert r.closed
    wait_closed(path)

    r = nestdb.Redis(path, decode_responses=True)
    assert r.get("greeting") == "hello"
    assert 3500 < r.ttl("greeting") <= 3600
    assert r.hgetall("user:1") == {"name": "ada", "lang": "python"}
    assert r.lrange("queue", 0, -1) == ["a", "b", "c"]
    assert r.exists("tags") == 0
    assert r.zrange("board", 0, -1, withscores=True) == [("ada", 10.0), ("grace", 20.5)]
    assert r.get("counter") == "42"
    assert r.dbsize() == 6
    # The config is not stored with the data.
    assert r.config_get("appendfsync") == {"appendfsync": "everysec"}
    r.close()
    with nestdb.Redis(path) as raw:
        assert raw.get(b"bin\x00key") == b"\x00\xff"


def test_every_path_spelling(tmp_path):
    with nestdb.Redis(str(tmp_path / "a")) as r:
        r.set("k", "str")
        assert r.path == str(tmp_path / "a")
    wait_closed(tmp_path / "a")
    with nestdb.Redis(tmp_path / "a") as r:
        assert r.get("k") == b"str"
    wait_closed(tmp_path / "a")
    with nestdb.Redis(os.fsencode(tmp_path / "a")) as r:
        assert r.get("k") == b"str"
    wait_closed(tmp_path / "a")
    # A relative path is taken from the current directory when opened; r.path is absolute.
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        with nestdb.Redis("a") as r:
            assert r.get("k") == b"str" and r.path == str(tmp_path / "a")
    finally:
        os.chdir(old)
    wait_closed(tmp_path / "a")


@pytest.mark.skipif(sys.platform == "win32", reason="file names are bytes on POSIX only")
def test_undecodable_path_names_exactly_that_directory(tmp_path):
    raw = os.fsencode(tmp_path) + b"/db-\xff\xfe"
    with nestdb.Redis(raw) as r:
        r.set("k", "v")
        assert r.path == os.fsdecode(raw)
    wait_closed(raw)
    assert os.path.isdir(raw)
    with nestdb.Redis(os.fsdecode(raw)) as r:  # the same name as a str (surrogateescape)
        assert r.get("k") == b"v"
    wait_closed(raw)
    with pytest.raises(ValueError, match="null"):
        nestdb.Redis(str(tmp_path / "nul\x00here"))


def test_bad_paths_are_clear_errors(tmp_path):
    plain = tmp_path / "plain-file"
    plain.write_text("not a database")
    with pytest.raises(exc.ConnectionError, match="not a database directory"):
        nestdb.Redis(plain)
    with pytest.raises(exc.ConnectionError, match="plain-file"):
        nestdb.Redis(plain / "below")
    with pytest.raises(TypeError):
        nestdb.Redis(12)


# ---------------------------------------------------------------- config


def test_config_keywords(tmp_path):
    path = tmp_path / "cfg"
    r = nestdb.Redis(
        path,
        appendfsync="always",
        auto_aof_rewrite_percentage=50,
        auto_aof_rewrite_min_size="1mb",
        save="60 5 10 100",
        hz=20,
    )
    assert r.config_get("appendfsync") == {"appendfsync": "always"}
    assert r.config_get("auto-aof-rewrite-*") == {"auto-aof-rewrite-percentage": "50", "auto-aof-rewrite-min-size": "1048576"}
    assert r.config_get("save") == {"save": "60 5 10 100"}
    assert r.config_get("hz") == {"hz": "20"}
    r.close()
    wait_closed(path)
    with nestdb.Redis(path, auto_aof_rewrite_min_size=2 * 1024 * 1024, save="") as r:
        assert r.config_get("auto-aof-rewrite-min-size") == {"auto-aof-rewrite-min-size": "2097152"}
        assert r.config_get("save") == {"save": ""}
    for name in ("appendfsync", "auto_aof_rewrite_percentage", "auto_aof_rewrite_min_size", "save", "hz"):
        assert name in nestdb.config_parameters()


def test_config_keyword_errors(tmp_path):
    with pytest.raises(TypeError) as e:
        nestdb.Redis(tmp_path / "x", append_fsync="always")
    assert "append_fsync" in str(e.value) and "appendfsync" in str(e.value) and "auto_aof_rewrite_min_size" in str(e.value)
    with pytest.raises(ValueError, match="appendfsync"):
        nestdb.Redis(tmp_path / "x", appendfsync="sometimes")
    with pytest.raises(ValueError, match="save"):
        nestdb.Redis(tmp_path / "x", save="60")
    with pytest.raises(ValueError, match="auto-aof-rewrite-min-size"):
        nestdb.Redis(tmp_path / "x", auto_aof_rewrite_min_size="lots")
    with pytest.raises(TypeError):
        nestdb.Redis(tmp_path / "x", save=[(60, 5)])
    # A bad keyword never leaves a database behind.
    assert not (tmp_path / "x").exists()


def test_config_set_and_get_at_run_time(tmp_path):
    with nestdb.Redis(tmp_path / "rt") as r:
        assert r.config_get("appendfsync") == {"appendfsync": "everysec"}
        assert r.config_set("appendfsync", "always") is True
        assert r.config_get("appendfsync") == {"appendfsync": "always"}
        r.set("k", "v")  # a write under "always" (runs with the GIL released)
        assert r.config_set("save", "") is True
        assert r.config_get("save") == {"save": ""}
        with pytest.raises(exc.ResponseError, match="appendfsync"):
            r.config_set("appendfsync", "sometimes")
        assert r.config_get("appendfsync") == {"appendfsync": "always"}
        assert r.execute_command("CONFIG", "SET", "appendfsync", "no") == b"OK"
        assert r.config_get("appendfsync") == {"appendfsync": "no"}


# ---------------------------------------------------------------- persistence commands


def test_save_bgsave_lastsave_and_info(tmp_path):
    path = tmp_path / "save"
    r = nestdb.Redis(path, save="")
    info = r.info("persistence")
    assert info["aof_enabled"] == 1 and info["aof_last_write_status"] == "ok"
    assert info["nestdb_appendfsync"] == "everysec" and info["rdb_saves"] == 0
    r.set("a", 1)
    r.set("b", 2)
    assert r.info("persistence")["rdb_changes_since_last_save"] == 2
    before = datetime.datetime.now().replace(microsecond=0)
    assert r.save() is True
    last = r.lastsave()
    assert isinstance(last, datetime.datetime) and before - datetime.timedelta(seconds=1) <= last <= datetime.datetime.now()
    info = r.info("persistence")
    assert info["rdb_saves"] == 1 and info["rdb_changes_since_last_save"] == 0 and info["rdb_last_bgsave_status"] == "ok"
    assert info["aof_base_size"] > 0 and info["aof_current_size"] >= info["aof_base_size"]
    assert r.bgsave() is True
    assert r.bgrewriteaof() is True
    assert r.save() is True  # waits for a background snapshot in progress
    assert r.info("persistence")["rdb_saves"] >= 2
    assert "rdb_saves" in r.info()  # the default sections include persistence
    r.close()
    wait_closed(path)
    with nestdb.Redis(path) as r:
        assert r.info("persistence")["rdb_last_load_keys_loaded"] == 2
        assert r.mget("a", "b") == [b"1", b"2"]


def test_persistence_commands_in_memory(r):
    with pytest.raises(exc.ResponseError, match="in memory"):
        r.save()
    with pytest.raises(exc.ResponseError, match="in memory"):
        r.bgsave()
    assert r.lastsave() is None
    assert r.info("persistence")["aof_enabled"] == 0


# ---------------------------------------------------------------- sharing and locking


def test_same_path_shares_one_engine_in_a_process(tmp_path):
    path = tmp_path / "shared"
    a = nestdb.Redis(path)
    b = nestdb.Redis(str(tmp_path / ".." / tmp_path.name / "shared"), decode_responses=True)
    db = nestdb.open(path)
    c = db.redis()
    a.set("who", "a")
    assert b.get("who") == "a" and c.get("who") == b"a"
    # The engine keeps the config of its first open (CONFIG SET changes it).
    d = nestdb.Redis(path, appendfsync="always")
    assert d.config_get("appendfsync") == {"appendfsync": "everysec"}
    d.config_set("appendfsync", "always")
    assert a.config_get("appendfsync") == {"appendfsync": "always"}
    a.close()
    d.close()
    db.close()
    assert b.get("who") == "a"  # still open through b and c
    with pytest.raises(nestdb.DatabaseLockedError) as e:
        nestdb.repair(path)
    assert e.value.pid == os.getpid() and f"process {os.getpid()}" in str(e.value)
    b.set("who", "b")
    b.close()
    c.close()
    wait_closed(path)  # the last close released the directory
    with nestdb.Redis(path) as r:
        assert r.get("who") == b"b"


def _python(code: str, *args: str, **kw):
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args], text=True, **kw)


def test_locked_by_another_process(tmp_path):
    path = tmp_path / "locked"
    r = nestdb.Redis(path)
    r.set("owner", "parent")
    child = _python(
        """
        import sys, nestdb
        try:
            nestdb.Redis(sys.argv[1])
        except nestdb.DatabaseLockedError as e:
            assert isinstance(e, nestdb.ConnectionError)
            print(e.pid, "|", e)
        """,
        str(path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    pid, message = out.strip().split(" | ", 1)
    assert int(pid) == os.getpid()
    assert f"locked by process {os.getpid()}" in message and str(path) in message

    # The other way round: a child holds it, this process is refused, then gets it.
    r.close()
    wait_closed(path)
    holder = _python(
        """
        import sys, nestdb
        r = nestdb.Redis(sys.argv[1], appendfsync="always")
        r.set("owner", "child")
        print("ready", flush=True)
        sys.stdin.read()
        r.close()
        """,
        str(path),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(nestdb.DatabaseLockedError) as e:
            nestdb.Redis(path)
        assert e.value.pid == holder.pid and f"process {holder.pid}" in str(e.value)
        with pytest.raises(nestdb.DatabaseLockedError):
            nestdb.repair(path)
    finally:
        holder.stdin.close()
        holder.wait(60)
    assert holder.returncode == 0
    with nestdb.Redis(path) as r:
        assert r.get("owner") == b"child"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_child_cannot_open_the_parents_database(tmp_path):
    path = tmp_path / "forked"
    parent = nestdb.Redis(path, appendfsync="always")
    parent.set("k", "parent")
    parent_pid = os.getpid()

    assert run_in_child(lambda: child_opens_its_own_databases(path, parent_pid, tmp_path)) == 0
    parent.set("k2", "still the parent's")
    parent.close()
    wait_closed(path)
    with nestdb.Redis(path) as r:
        assert r.mget("k", "k2") == [b"parent", b"still the parent's"]


# ---------------------------------------------------------------- damage and repair


def test_corrupt_log_then_repair(tmp_path):
    path = tmp_path / "corrupt"
    fill(path, 100)
    log = only_log(path)
    data = bytearray(log.read_bytes())
    data[len(data) // 2] ^= 0x5A
    log.write_bytes(bytes(data))

    with pytest.raises(nestdb.DatabaseCorruptError) as e:
        nestdb.Redis(path)
    assert isinstance(e.value, nestdb.ConnectionError)
    assert "CRC mismatch" in str(e.value) and log.name in str(e.value)

    report = nestdb.repair(path)
    assert set(report) == {"truncated_file", "truncated_at", "bytes_dropped", "segments_removed", "manifest_rebuilt"}
    assert report["truncated_file"] == str(log)
    assert 0 < report["truncated_at"] <= len(data) // 2
    assert report["truncated_at"] + report["bytes_dropped"] == len(data)
    assert report["segments_removed"] == 0 and report["manifest_rebuilt"] is False
    assert log.stat().st_size == report["truncated_at"]

    with nestdb.Redis(path, decode_responses=True) as r:
        kept = r.dbsize()
        assert 10 < kept < 100
        # Keys were written in order: exactly the first `kept` survive.
        assert r.get(f"key:{kept - 1:03d}") == f"value number {kept - 1}"
        assert r.get(f"key:{kept:03d}") is None
        r.set("after-repair", "yes")
    wait_closed(path)
    assert nestdb.repair(path) == {
        "truncated_file": None,
        "truncated_at": 0,
        "bytes_dropped": 0,
        "segments_removed": 0,
        "manifest_rebuilt": False,
    }
    with nestdb.Redis(path) as r:
        assert r.get("after-repair") == b"yes"


def test_missing_manifest_is_corrupt_and_repaired(tmp_path):
    path = tmp_path / "manifest"
    fill(path, 10)
    (path / "MANIFEST").unlink()
    with pytest.raises(nestdb.DatabaseCorruptError, match="MANIFEST"):
        nestdb.Redis(path)
    assert nestdb.repair(path)["manifest_rebuilt"] is True
    with nestdb.Redis(path) as r:
        assert r.dbsize() == 10


def test_torn_tail_is_cut_off_at_open(tmp_path):
    path = tmp_path / "torn"
    fill(path, 10)
    log = only_log(path)
    size = log.stat().st_size
    with open(log, "ab") as f:
        f.write(bytes([0x40, 0, 0, 0, 1, 2, 3]))  # a record that never finished
    with nestdb.Redis(path, save="") as r:  # no snapshot: it would replace the log file
        assert r.dbsize() == 10
        assert r.info("persistence")["nestdb_recovery_bytes_dropped"] == 7
    assert log.stat().st_size == size


def test_repair_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        nestdb.repair(tmp_path / "missing")
    assert not (tmp_path / "missing").exists()  # repair never creates a database
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError):
        nestdb.repair(tmp_path / "file")
    for memory in (None, ":memory:", ""):
        with pytest.raises(ValueError, match="in-memory"):
            nestdb.repair(memory)
    with pytest.raises(TypeError):
        nestdb.repair(3.5)


# ---------------------------------------------------------------- the GIL


def _ticks_during(action) -> int:
    """How many times another thread ran Python code while ``action()`` ran."""
    ticks = []
    done = threading.Event()

    def ticker():
        while not done.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0)

    t = threading.Thread(target=ticker)
    t.start()
    try:
        time.sleep(0.01)
        start = time.perf_counter()
        action()
        end = time.perf_counter()
    finally:
        done.set()
        t.join()
    return len([x for x in ticks if start <= x <= end])


def test_gil_released_while_opening_and_saving(tmp_path):
    path = tmp_path / "big"
    with nestdb.Redis(path, save="") as r:
        for chunk in range(4):
            r.mset({f"key:{chunk}:{i}": "x" * 20 for i in range(50_000)})
    wait_closed(path)  # the log holds every key: the next open replays it
    opened = []
    assert _ticks_during(lambda: opened.append(nestdb.Redis(path))) > 5
    r = opened[0]
    assert r.dbsize() == 200_000
    assert _ticks_during(r.save) > 5
    r.close()


def test_gil_released_while_writes_wait_for_fsync(tmp_path):
    """Under appendfsync always every write waits for its fsync: another thread runs meanwhile.
    (A call that kept the GIL could never see the ticker move during the call.)"""
    r = nestdb.Redis(tmp_path / "fsync", appendfsync="always")
    ticks = [0]
    done = threading.Event()

    def ticker():
        while not done.is_set():
            ticks[0] += 1
            time.sleep(0)

    def moved_during(calls):
        moved = {}
        for i in range(100):
            for name, call in calls:
                before = ticks[0]
                call(i)
                moved[name] = moved.get(name, 0) + (ticks[0] != before)
        return moved

    writes = (
        ("set", lambda i: r.set(f"k{i}", i)),
        ("hset", lambda i: r.hset("h", f"f{i}", i)),
        ("execute_command", lambda i: r.execute_command("RPUSH", "l", i)),
    )
    # No forced GIL switches: the ticker runs only when this thread lets go of the GIL.
    interval = sys.getswitchinterval()
    sys.setswitchinterval(30)
    t = threading.Thread(target=ticker)
    t.start()
    try:
        synced = moved_during(writes)
        # Under "everysec" a write does not wait: O(1) commands keep the GIL (cheaper), so the
        # ticker cannot move during them. The hint follows CONFIG SET.
        assert r.config_set("appendfsync", "everysec") is True
        unsynced = moved_during(writes)
    finally:
        done.set()
        t.join()
        sys.setswitchinterval(interval)
    assert all(n > 0 for n in synced.values()), synced
    assert all(n == 0 for n in unsynced.values()), unsynced
    assert r.hlen("h") == 100 and r.llen("l") == 200
    r.close()
