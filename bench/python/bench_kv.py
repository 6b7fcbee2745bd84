"""Key-value throughput from one Python thread: nestdb against its peers, in one run.

    python bench/python/bench_kv.py [--keys 100000] [--value-size 32] [--json out.json]

Peers (each skipped with a note when unavailable):
  dict        a plain dict, with d[k] = v / d[k] syntax and through bound-method calls
              (d.__setitem__ / d.get, the shape of a client call): the ceiling from Python
  nestdb      nestdb.Redis() in memory (r.set / r.get)
  sqlite3     in-memory table with a primary key (INSERT OR REPLACE / SELECT), autocommit
              (each statement its own transaction, like each nestdb command) and with all
              SETs in one transaction
  fakeredis   fakeredis.FakeRedis() if importable
  redis-py    redis.Redis against a local redis-server started on a free loopback port
              (redis-server on PATH, or $REDIS_SERVER)

Workloads: SET of N distinct keys, GET of the same keys (shuffled), and a redis-py-style
pipeline of 100 SETs (`pipe = r.pipeline(); 100 x pipe.set(); pipe.execute()`, the default
transaction=True) for nestdb and redis-py. Keys are str ("key:000123"), values random bytes.
Each figure is the best of --repeat runs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable, Dict, List, Optional


def best_rate(n: int, fn: Callable[[], None], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return n / best


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """A throw-away redis-server on a free loopback port (no persistence)."""

    def __init__(self) -> None:
        exe = os.environ.get("REDIS_SERVER") or shutil.which("redis-server")
        if not exe:
            raise RuntimeError("redis-server not found")
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="nestdb-bench-redis-")
        self.proc = subprocess.Popen(
            [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", self.dir],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def bench_redis_like(name: str, r: Any, keys: List[str], shuffled: List[str], value: bytes, repeat: int, pipeline: bool) -> Dict[str, float]:
    out: Dict[str, float] = {}
    rset, rget = r.set, r.get

    def do_set() -> None:
        for k in keys:
            rset(k, value)

    def do_get() -> None:
        for k in shuffled:
            rget(k)

    out["set"] = best_rate(len(keys), do_set, repeat)
    out["get"] = best_rate(len(keys), do_get, repeat)
    assert r.get(keys[0]) == value, f"{name}: wrong value read back"
    if pipeline:
        batches = max(1, min(len(keys) // 100, 500))

        def do_pipe() -> None:
            for b in range(batches):
                pipe = r.pipeline()
                for k in keys[b * 100 : b * 100 + 100]:
                    pipe.set(k, value)
                pipe.execute()

        out["pipeline100"] = best_rate(batches * 100, do_pipe, repeat)
    return out


def bench_dict(keys: List[str], shuffled: List[str], value: bytes, repeat: int, calls: bool) -> Dict[str, float]:
    """A dict: with `calls`, through bound methods (d.__setitem__(k, v) / d.get(k)), the
    shape of a client call; otherwise with d[k] = v / d[k] syntax."""
    d: Dict[str, bytes] = {}

    if calls:
        dset, dget = d.__setitem__, d.get

        def do_set() -> None:
            for k in keys:
                dset(k, value)

        def do_get() -> None:
            for k in shuffled:
                dget(k)

    else:

        def do_set() -> None:
            for k in keys:
                d[k] = value

        def do_get() -> None:
            for k in shuffled:
                d[k]

    return {"set": best_rate(len(keys), do_set, repeat), "get": best_rate(len(keys), do_get, repeat)}


def bench_sqlite(keys: List[str], shuffled: List[str], value: bytes, repeat: int, autocommit: bool) -> Dict[str, float]:
    """sqlite3 in memory. With `autocommit` every statement is its own transaction (like each
    nestdb command); otherwise all SETs share one transaction."""
    db = sqlite3.connect(":memory:", isolation_level=None if autocommit else "DEFERRED")
    db.execute("CREATE TABLE kv (k TEXT PRIMARY KEY, v BLOB) WITHOUT ROWID")
    cur = db.cursor()

    def do_set() -> None:
        ex = cur.execute
        for k in keys:
            ex("INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)", (k, value))
        db.commit()

    def do_get() -> None:
        ex = cur.execute
        for k in shuffled:
            ex("SELECT v FROM kv WHERE k = ?", (k,)).fetchone()

    out = {"set": best_rate(len(keys), do_set, repeat), "get": best_rate(len(keys), do_get, repeat)}
    db.close()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keys", type=int, default=100_000)
    ap.add_argument("--value-size", type=int, default=32)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--redis-keys", type=int, default=20_000, help="keys for the (slow) network peers")
    ap.add_argument("--json", help="write results to this file")
    args = ap.parse_args()

    rnd = random.Random(42)
    keys = [f"key:{i:06d}" for i in range(args.keys)]
    shuffled = keys[:]
    rnd.shuffle(shuffled)
    value = bytes(rnd.getrandbits(8) for _ in range(args.value_size))
    small = keys[: args.redis_keys]
    small_shuffled = small[:]
    rnd.shuffle(small_shuffled)

    results: Dict[str, Dict[str, float]] = {}
    notes: List[str] = []

    results["dict (d[k] = v)"] = bench_dict(keys, shuffled, value, args.repeat, calls=False)
    results["dict (method calls)"] = bench_dict(keys, shuffled, value, args.repeat, calls=True)

    import nestdb

    r = nestdb.Redis()
    results["nestdb"] = bench_redis_like("nestdb", r, keys, shuffled, value, args.repeat, pipeline=True)
    r.close()

    results["sqlite3 (autocommit)"] = bench_sqlite(keys, shuffled, value, args.repeat, autocommit=True)
    results["sqlite3 (one transaction)"] = bench_sqlite(keys, shuffled, value, args.repeat, autocommit=False)

    try:
        import fakeredis

        results["fakeredis"] = bench_redis_like("fakeredis", fakeredis.FakeRedis(), small, small_shuffled, value, 1, pipeline=False)
    except ImportError:
        notes.append("fakeredis: not installed, skipped")

    server: Optional[RedisServer] = None
    try:
        import redis

        server = RedisServer()
        rc = redis.Redis(port=server.port)
        results["redis-py+redis-server"] = bench_redis_like("redis-py", rc, small, small_shuffled, value, 1, pipeline=True)
        rc.close()
    except ImportError:
        notes.append("redis-py: not installed, skipped")
    except RuntimeError as e:
        notes.append(f"redis-py: {e}, skipped")
    finally:
        if server is not None:
            server.stop()

    machine = f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}, Python {sys.version.split()[0]}"
    print(f"# nestdb Python KV benchmark — {args.keys} keys, {args.value_size}-byte values, one thread")
    print(f"# {machine}")
    print(f"{'peer':<28}{'SET/s':>14}{'GET/s':>14}{'pipeline100 SET/s':>20}")
    for name, res in results.items():
        pipe = f"{res['pipeline100']:>20,.0f}" if "pipeline100" in res else f"{'-':>20}"
        print(f"{name:<28}{res['set']:>14,.0f}{res['get']:>14,.0f}{pipe}")
    n = results["nestdb"]
    ratios: Dict[str, float] = {}
    for peer in results:
        if peer == "nestdb":
            continue
        for op in ("set", "get", "pipeline100"):
            if op in results[peer] and op in n:
                ratios[f"nestdb/{peer} {op}"] = n[op] / results[peer][op]
    print()
    for k, v in ratios.items():
        print(f"{k:<52}{v:>10.2f}x")
    for note in notes:
        print(f"note: {note}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine, "keys": args.keys, "value_size": args.value_size, "results": results, "ratios": ratios, "notes": notes}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
