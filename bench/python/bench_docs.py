"""Document-store throughput from one Python thread (issue 7): nestdb.MongoClient against
sqlite3 (documents as JSON text, JSON1 functions) and mongomock, in one run.

    python bench/python/bench_docs.py [--docs 1000000] [--samples 100000]
        [--mongomock-docs 20000] [--mongomock-samples 1000] [--repeat 3] [--json out.json]

Dataset: --docs user profiles (built once, outside every timed region; the same dicts for every
engine): integer _id, name, email, active (85 % true), signup / last-login datetimes, a login
counter, a nested profile (age 18..79, city, country, a list of 2-6 skills, a score) and a list
of 1-5 embedded orders (id, datetime, total, item count, status) — the shape of the Rust `docs`
suite (bench/src/docs.rs), drawn from Python's random instead.

Workloads (per engine; each figure is the best of --repeat runs, a fresh collection per insert run):
  insert    insert_many in batches of 1,000 dicts
  find_one  find_one({"_id": id}) for --samples random ids, a dict back
  update    update_one({"_id": id}, {"$inc": {"logins": 1}}) for the same ids
  count     count_documents({"profile.age": {"$gte": 70}, "active": False}) (about 2.4 %
            of the documents; one run, reference only, no target)

Engines (each skipped with a note when unavailable):
  nestdb     nestdb.MongoClient() (in memory) -> client["bench"]["users"]
  sqlite3    in memory, `users(id INTEGER PRIMARY KEY, doc TEXT)`; insert = JSON text of each
             dict (one JSONEncoder, datetimes as isoformat) + executemany in one transaction
             per batch of 1,000; find_one = primary-key
             SELECT + json.loads; update = `UPDATE ... SET doc = json_set(doc, '$.logins',
             json_extract(doc, '$.logins') + 1) WHERE id = ?` in autocommit; count = json_extract
             on both fields. Datetimes become ISO-8601 strings in the JSON.
  sqlite3 (text only)  the same without JSON encoding / json.loads in the timed region (the JSON
             text made beforehand, find_one returns the text): what sqlite3 itself costs.
  mongomock  mongomock.MongoClient()["bench"]["users"] on the first --mongomock-docs documents
             with --mongomock-samples lookups/updates (it is far slower; its rates are per
             operation, so they are comparable with the full-size ones — and flattered, if anything,
             by the smaller collection).

The ratios compare nestdb's full-size rates with each peer's. Targets (issue 7): nestdb at least
2x sqlite3 (dicts in and out, the same work an application does) on insert, find_one and update,
and at least 50x mongomock; the text-only sqlite3 ratios are shown too.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import sqlite3
import sys
import time
from typing import Any, Callable, Dict, List, Optional

FIRST = ["Alice", "Bruno", "Chiara", "Dmitri", "Emma", "Farid", "Grace", "Hiroshi", "Ines", "Jonas", "Kemal", "Lena", "Mateo", "Nora", "Omar", "Priya"]
LAST = ["Schmidt", "Rossi", "Okafor", "Novak", "Martin", "Larsen", "Kowalski", "Jensen", "Ivanova", "Haddad", "Garcia", "Fischer", "Eriksen", "Dubois", "Costa", "Becker"]
CITIES = [("Berlin", "DE"), ("Milan", "IT"), ("Lagos", "NG"), ("Prague", "CZ"), ("Lyon", "FR"), ("Aarhus", "DK"), ("Osaka", "JP"), ("Porto", "PT")]
SKILLS = ["rust", "python", "sql", "go", "kubernetes", "react", "design", "writing", "sales", "ml", "c++", "excel"]
STATUS = ["pending", "paid", "shipped", "delivered"]
EPOCH = dt.datetime(2020, 1, 1)
BATCH = 1000
SELECTIVE = {"profile.age": {"$gte": 70}, "active": False}


def make_docs(n: int, seed: int = 7) -> List[Dict[str, Any]]:
    rnd = random.Random(seed)
    ri = rnd.randrange
    out = []
    for i in range(n):
        first, last = FIRST[ri(16)], LAST[ri(16)]
        city, country = CITIES[ri(len(CITIES))]
        created = EPOCH + dt.timedelta(days=ri(6 * 365), milliseconds=ri(86_400_000))
        orders = [
            {
                "order_id": i * 8 + k,
                "date": created + dt.timedelta(days=ri(365)),
                "total": ri(500, 50_000) / 100.0,
                "items": ri(1, 11),
                "status": STATUS[ri(4)],
            }
            for k in range(ri(1, 6))
        ]
        out.append(
            {
                "_id": i,
                "name": f"{first} {last}",
                "email": f"{first.lower()}.{last.lower()}{i}@example.com",
                "active": rnd.random() < 0.85,
                "created_at": created,
                "last_login": created + dt.timedelta(days=ri(300)),
                "logins": ri(500),
                "profile": {
                    "age": ri(18, 80),
                    "city": city,
                    "country": country,
                    "skills": [SKILLS[ri(len(SKILLS))] for _ in range(ri(2, 7))],
                    "score": ri(10_000) / 100.0,
                },
                "orders": orders,
            }
        )
    return out


def best(n: int, fn: Callable[[], Any], repeat: int, setup: Optional[Callable[[], Any]] = None) -> float:
    """Best rate (n / seconds) of `repeat` runs; `setup(i)`'s result is passed to fn."""
    t_best = float("inf")
    for _ in range(repeat):
        arg = setup() if setup else None
        t0 = time.perf_counter()
        fn(arg) if setup else fn()
        t_best = min(t_best, time.perf_counter() - t0)
    return n / t_best


def json_default(v: Any) -> Any:
    if isinstance(v, dt.datetime):
        return v.isoformat()
    raise TypeError(f"not JSON: {type(v)}")


# ---------------------------------------------------------------------------------------------
# pymongo-shaped engines (nestdb, mongomock)


def bench_mongo_like(name: str, new_coll: Callable[[], Any], docs: List[Dict[str, Any]], ids: List[int], repeat: int) -> Dict[str, float]:
    n = len(docs)
    out: Dict[str, float] = {}
    holder: Dict[str, Any] = {}

    def setup() -> Any:
        holder.pop("c", None)
        holder["c"] = new_coll()
        return holder["c"]

    def do_insert(c: Any) -> None:
        im = c.insert_many
        for i in range(0, n, BATCH):
            im(docs[i : i + BATCH])

    out["insert"] = best(n, do_insert, repeat, setup)
    c = holder["c"]
    assert c.count_documents({}) == n, f"{name}: wrong count after insert"
    fo, uo = c.find_one, c.update_one

    def do_find() -> None:
        for i in ids:
            fo({"_id": i})

    def do_update() -> None:
        for i in ids:
            uo({"_id": i}, {"$inc": {"logins": 1}})

    out["find_one"] = best(len(ids), do_find, repeat)
    got = c.find_one({"_id": ids[0]})
    assert got is not None and got["email"] == docs[ids[0]]["email"], f"{name}: find_one returned {got!r}"
    before = got["logins"]
    out["update"] = best(len(ids), do_update, repeat)
    after = c.find_one({"_id": ids[0]})["logins"]
    assert after > before, f"{name}: $inc not applied ({before} -> {after})"
    t0 = time.perf_counter()
    out["count_hits"] = c.count_documents(SELECTIVE)
    out["count"] = n / (time.perf_counter() - t0)
    return out


# ---------------------------------------------------------------------------------------------
# sqlite3 with JSON text


def bench_sqlite(docs: List[Dict[str, Any]], ids: List[int], repeat: int, text_only: bool) -> Dict[str, float]:
    n = len(docs)
    out: Dict[str, float] = {}
    # One encoder made up front (json.dumps(d, default=...) would build one per call).
    encode = json.JSONEncoder(default=json_default).encode
    texts = [encode(d) for d in docs] if text_only else None
    holder: Dict[str, Any] = {}

    def setup() -> Any:
        old = holder.pop("db", None)
        if old is not None:
            old.close()
        db = sqlite3.connect(":memory:", isolation_level=None)
        db.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, doc TEXT NOT NULL)")
        holder["db"] = db
        return db

    sql_ins = "INSERT INTO users (id, doc) VALUES (?, ?)"

    def do_insert(db: Any) -> None:
        for i in range(0, n, BATCH):
            if texts is not None:
                rows = [(docs[j]["_id"], texts[j]) for j in range(i, min(i + BATCH, n))]
            else:
                rows = [(d["_id"], encode(d)) for d in docs[i : i + BATCH]]
            db.execute("BEGIN")
            db.executemany(sql_ins, rows)
            db.execute("COMMIT")

    out["insert"] = best(n, do_insert, repeat, setup)
    db = holder["db"]
    assert db.execute("SELECT count(*) FROM users").fetchone()[0] == n
    cur = db.cursor()
    sql_get = "SELECT doc FROM users WHERE id = ?"

    def do_find() -> None:
        ex = cur.execute
        if text_only:
            for i in ids:
                ex(sql_get, (i,)).fetchone()
        else:
            loads = json.loads
            for i in ids:
                row = ex(sql_get, (i,)).fetchone()
                if row is not None:
                    loads(row[0])

    sql_upd = "UPDATE users SET doc = json_set(doc, '$.logins', json_extract(doc, '$.logins') + 1) WHERE id = ?"

    def do_update() -> None:
        ex = cur.execute
        for i in ids:
            ex(sql_upd, (i,))

    out["find_one"] = best(len(ids), do_find, repeat)
    before = json.loads(cur.execute(sql_get, (ids[0],)).fetchone()[0])["logins"]
    out["update"] = best(len(ids), do_update, repeat)
    after = json.loads(cur.execute(sql_get, (ids[0],)).fetchone()[0])["logins"]
    assert after > before, f"sqlite3: json_set not applied ({before} -> {after})"
    t0 = time.perf_counter()
    out["count_hits"] = cur.execute(
        "SELECT count(*) FROM users WHERE json_extract(doc, '$.profile.age') >= 70 AND json_extract(doc, '$.active') = 0"
    ).fetchone()[0]
    out["count"] = n / (time.perf_counter() - t0)
    db.close()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=1_000_000)
    ap.add_argument("--samples", type=int, default=100_000, help="random ids for find_one / update_one")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--mongomock-docs", type=int, default=20_000)
    ap.add_argument("--mongomock-samples", type=int, default=1_000)
    ap.add_argument("--engines", default="nestdb,sqlite3,mongomock", help="comma-separated subset")
    ap.add_argument("--json", help="write results to this file")
    args = ap.parse_args()
    engines = set(args.engines.split(","))

    t0 = time.perf_counter()
    docs = make_docs(args.docs)
    print(f"# dataset: {len(docs)} documents built in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    rnd = random.Random(11)
    ids = [rnd.randrange(args.docs) for _ in range(args.samples)]
    m_docs = docs[: args.mongomock_docs]
    m_ids = [rnd.randrange(len(m_docs)) for _ in range(args.mongomock_samples)]

    results: Dict[str, Dict[str, float]] = {}
    sizes: Dict[str, str] = {}
    notes: List[str] = []

    def run(name: str, fn: Callable[[], Dict[str, float]], size: str) -> None:
        print(f"# {name} ...", file=sys.stderr)
        t = time.perf_counter()
        results[name] = fn()
        sizes[name] = size
        print(f"#   {results[name]} ({time.perf_counter() - t:.0f} s)", file=sys.stderr)

    full = f"{len(docs)} docs, {len(ids)} ids"
    if "nestdb" in engines:
        try:
            import nestdb

            if not hasattr(nestdb, "MongoClient"):
                raise ImportError("this nestdb has no MongoClient")
            client = nestdb.MongoClient()

            def new_nestdb() -> Any:
                client["bench"]["users"].drop()
                return client["bench"]["users"]

            run("nestdb", lambda: bench_mongo_like("nestdb", new_nestdb, docs, ids, args.repeat), full)
        except ImportError as e:
            notes.append(f"nestdb: {e}, skipped")
    if "sqlite3" in engines:
        run("sqlite3", lambda: bench_sqlite(docs, ids, args.repeat, text_only=False), full)
        run("sqlite3 (text only)", lambda: bench_sqlite(docs, ids, args.repeat, text_only=True), full)
    if "mongomock" in engines:
        try:
            import mongomock

            mc = mongomock.MongoClient()

            def new_mm() -> Any:
                mc["bench"].drop_collection("users")
                return mc["bench"]["users"]

            run("mongomock", lambda: bench_mongo_like("mongomock", new_mm, m_docs, m_ids, 1), f"{len(m_docs)} docs, {len(m_ids)} ids, 1 run")
        except ImportError:
            notes.append("mongomock: not installed, skipped")

    machine = f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}, Python {sys.version.split()[0]}, SQLite {sqlite3.sqlite_version}"
    print(f"# nestdb Python document benchmark — one thread")
    print(f"# {machine}")
    print()
    print("| Engine | insert_many /s | find_one(_id) /s | update_one($inc) /s | count_documents (docs scanned/s) | Size |")
    print("|---|---:|---:|---:|---:|---|")
    for name, r in results.items():
        print(f"| {name} | {r['insert']:,.0f} | {r['find_one']:,.0f} | {r['update']:,.0f} | {r['count']:,.0f} ({r['count_hits']:,} hits) | {sizes[name]} |")
    ratios: Dict[str, float] = {}
    targets = {"sqlite3": 2.0, "sqlite3 (text only)": None, "mongomock": 50.0}
    if "nestdb" in results:
        print()
        print("| nestdb vs | insert_many | find_one | update_one | Target |")
        print("|---|---:|---:|---:|---|")
        n = results["nestdb"]
        for peer, bound in targets.items():
            if peer not in results:
                continue
            rs = []
            for op in ("insert", "find_one", "update"):
                r = n[op] / results[peer][op]
                ratios[f"{peer} {op}"] = r
                mark = "" if bound is None else (" yes" if r >= bound else " **NO**")
                rs.append(f"{r:.2f}x{mark}")
            print(f"| {peer} | {' | '.join(rs)} | {'≥ %gx' % bound if bound else 'reference'} |")
    for note in notes:
        print(f"note: {note}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine, "docs": args.docs, "samples": args.samples, "results": results, "sizes": sizes, "ratios": ratios, "notes": notes}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
