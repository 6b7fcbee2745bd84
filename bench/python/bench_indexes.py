"""Secondary indexes from one Python thread (issue 8): nestdb.MongoClient against sqlite3 with
JSON text documents and the equivalent expression indexes, in one run.

    python bench/python/bench_indexes.py [--docs 1000000] [--samples 100000]
        [--compound-samples 20000] [--repeat 3] [--json out.json]
    python bench/python/bench_indexes.py --quick      # CI smoke run: 20,000 docs, few samples

Dataset: the --docs user profiles of bench_docs.py (its make_docs, imported: the same documents,
the same seed), built once outside every timed region. In sqlite3 each document is JSON text in
`users(id INTEGER PRIMARY KEY, doc TEXT)`, datetimes as ISO-8601 strings with milliseconds
("2023-04-05T06:07:08.009"), so string order is date order; nestdb stores them as BSON dates.

Workloads (each figure the best of --repeat runs; the rounds of (a), then of (b), alternate
between nestdb and sqlite3, both databases loaded, so that a slow phase of a shared machine
falls on both sides of a ratio):
  (c) index build  on the full collection (data loaded, untimed): the unique `email` index,
      then the compound index, in documents per second.
        nestdb   create_index("email", unique=True);
                 create_index([("profile.city", 1), ("created_at", -1)])
        sqlite3  CREATE UNIQUE INDEX ... ON users(json_extract(doc, '$.email'));
                 CREATE INDEX ... ON users(json_extract(doc, '$.profile.city'),
                                           json_extract(doc, '$.created_at'))
      Every repeat drops the index and builds it again; the last build stays for (a) and (b).
  (a) indexed equality  find_one({"email": e}) for --samples random existing emails, a dict
      back; sqlite3: SELECT doc FROM users WHERE json_extract(doc, '$.email') = ? + json.loads.
  (b) compound query  list(find({"profile.city": X, "created_at": {"$gte": T}})
      .sort("created_at", -1).limit(20)) for --compound-samples random (city, date) pairs;
      sqlite3: the same WHERE ... = ? AND ... >= ? ORDER BY json_extract(doc, '$.created_at')
      DESC LIMIT 20 + json.loads of each row (T as the same ISO string there, a datetime for
      nestdb).
  (d) nestdb insert_many (batches of 1,000) of all --docs documents into an empty collection
      with no secondary index, and with 3 (email unique, the compound index, logins): the
      rates and their ratio (the cost of maintaining three indexes).

Also printed: nestdb's explain() of one sample of (a) and of (b) — the winning plan, keys
examined vs documents returned (issue 8 requires totalKeysExamined within 2x of nReturned) —
and sqlite3's EXPLAIN QUERY PLAN of both (each must use its index, (b) with no temp b-tree
for the ORDER BY). Correctness is checked once: for a few samples of (a) and (b) nestdb and
sqlite3 return the same _ids (ties on created_at at the 20th row compared as dates).
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
from typing import Any, Callable, Dict, List, Optional, Tuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_docs import BATCH, CITIES, EPOCH, make_docs  # noqa: E402  (the same dataset)

COMPOUND_NESTDB = [("profile.city", 1), ("created_at", -1)]
SQL_EMAIL = "json_extract(doc, '$.email')"
SQL_CITY = "json_extract(doc, '$.profile.city')"
SQL_CREATED = "json_extract(doc, '$.created_at')"
SQL_FIND_EMAIL = f"SELECT doc FROM users WHERE {SQL_EMAIL} = ?"
SQL_COMPOUND = f"SELECT doc FROM users WHERE {SQL_CITY} = ? AND {SQL_CREATED} >= ? ORDER BY {SQL_CREATED} DESC LIMIT 20"
LIMIT = 20
CHECK_SAMPLES = 25


def iso(v: dt.datetime) -> str:
    """The ISO-8601 text of a datetime in the JSON documents: always with milliseconds, so that
    string order is date order."""
    if v.tzinfo is not None:
        v = v.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return v.isoformat(timespec="milliseconds")


def json_default(v: Any) -> Any:
    if isinstance(v, dt.datetime):
        return iso(v)
    raise TypeError(f"not JSON: {type(v)}")


def timed_best(fn: Callable[[], Any], repeat: int, setup: Optional[Callable[[], Any]] = None) -> float:
    """Best wall time (seconds) of `repeat` runs of fn(); setup() runs untimed before each."""
    t_best = float("inf")
    for _ in range(repeat):
        if setup is not None:
            setup()
        t0 = time.perf_counter()
        fn()
        t_best = min(t_best, time.perf_counter() - t0)
    return t_best


def plan_stages(plan: Dict[str, Any]) -> str:
    """An explain plan's stages, outermost first: "LIMIT > FETCH > IXSCAN"."""
    out = []
    node: Optional[Dict[str, Any]] = plan
    while node:
        out.append(node.get("stage", "?"))
        if "inputStage" in node:
            node = node["inputStage"]
        elif node.get("inputStages"):
            out.append("(" + " | ".join(plan_stages(s) for s in node["inputStages"]) + ")")
            node = None
        else:
            node = None
    return " > ".join(out)


def index_names(plan: Any) -> List[str]:
    names: List[str] = []
    if isinstance(plan, dict):
        if "indexName" in plan:
            names.append(plan["indexName"])
        for v in plan.values():
            names.extend(index_names(v))
    elif isinstance(plan, list):
        for v in plan:
            names.extend(index_names(v))
    return names


# ---------------------------------------------------------------------------------------------
# nestdb


# What a side's set-up gives the interleaved timing: its results so far, what it reports (explain
# or query plans), its answers for the correctness check, the timed queries by result key, and
# what to run once they are done.
Side = Tuple[Dict[str, float], Dict[str, Any], Dict[str, Any], Dict[str, Callable[[], None]], Callable[[], None]]


def bench_nestdb(docs: List[Dict[str, Any]], emails: List[str], pairs: List[Tuple[str, dt.datetime]], repeat: int, load_repeat: int) -> Side:
    import nestdb

    if not hasattr(nestdb, "MongoClient"):
        raise ImportError("this nestdb has no MongoClient")
    n = len(docs)
    out: Dict[str, float] = {}
    client = nestdb.MongoClient()
    db = client["bench"]
    db["users"].drop()
    coll = db["users"]
    t0 = time.perf_counter()
    for i in range(0, n, BATCH):
        coll.insert_many(docs[i : i + BATCH])
    print(f"#   nestdb: {n} documents loaded in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    assert coll.count_documents({}) == n

    # (c) index builds on the full collection.
    def drop(name: str) -> Callable[[], None]:
        def f() -> None:
            if name in coll.index_information():
                coll.drop_index(name)

        return f

    names: Dict[str, str] = {}

    def build_email() -> None:
        names["email"] = coll.create_index("email", unique=True)

    def build_compound() -> None:
        names["compound"] = coll.create_index(COMPOUND_NESTDB)

    out["build_email"] = n / timed_best(build_email, repeat, drop("email_1"))
    out["build_compound"] = n / timed_best(build_compound, repeat, drop("profile.city_1_created_at_-1"))
    assert sorted(coll.index_information()) == sorted(["_id_", names["email"], names["compound"]]), coll.index_information()

    # (a) indexed equality.
    fo = coll.find_one

    def do_find() -> None:
        for e in emails:
            fo({"email": e})

    # (b) compound equality + range + sort + limit.
    find = coll.find

    def do_compound() -> None:
        for city, t in pairs:
            list(find({"profile.city": city, "created_at": {"$gte": t}}).sort("created_at", -1).limit(LIMIT))

    # explain() of one sample of each, and the answers for the correctness check.
    explains: Dict[str, Any] = {}
    for key, cur in (
        ("a", coll.find({"email": emails[0]}).limit(1)),
        ("b", coll.find({"profile.city": pairs[0][0], "created_at": {"$gte": pairs[0][1]}}).sort("created_at", -1).limit(LIMIT)),
    ):
        e = cur.explain()
        es = e.get("executionStats", {})
        win = e["queryPlanner"]["winningPlan"]
        explains[key] = {
            "plan": plan_stages(win),
            "indexName": ",".join(index_names(win)) or "-",
            "rejectedPlans": len(e["queryPlanner"].get("rejectedPlans", [])),
            "nReturned": es.get("nReturned"),
            "totalKeysExamined": es.get("totalKeysExamined"),
            "totalDocsExamined": es.get("totalDocsExamined"),
            "executionTimeMillis": es.get("executionTimeMillis"),
        }
    answers = {
        "a": [(fo({"email": e}) or {}).get("_id") for e in emails[:CHECK_SAMPLES]],
        "b": [
            [(d["_id"], iso(d["created_at"])) for d in find({"profile.city": c, "created_at": {"$gte": t}}).sort("created_at", -1).limit(LIMIT)]
            for c, t in pairs[:CHECK_SAMPLES]
        ],
    }

    # (d) insert_many into an empty collection, without and with 3 secondary indexes: after
    # the timed queries.
    def fresh(indexes: bool) -> Callable[[], None]:
        def f() -> None:
            db["load"].drop()
            if indexes:
                c = db["load"]
                c.create_index("email", unique=True)
                c.create_index(COMPOUND_NESTDB)
                c.create_index("logins")

        return f

    def do_insert() -> None:
        im = db["load"].insert_many
        for i in range(0, n, BATCH):
            im(docs[i : i + BATCH])

    def finish() -> None:
        coll.drop()
        out["insert_plain"] = n / timed_best(do_insert, load_repeat, fresh(False))
        assert db["load"].count_documents({}) == n
        out["insert_indexed"] = n / timed_best(do_insert, load_repeat, fresh(True))
        assert db["load"].count_documents({}) == n and len(db["load"].index_information()) == 4
        db["load"].drop()
        client.close()

    return out, explains, answers, {"find_email": do_find, "compound": do_compound}, finish


# ---------------------------------------------------------------------------------------------
# sqlite3 with JSON text and expression indexes


def bench_sqlite(docs: List[Dict[str, Any]], emails: List[str], pairs: List[Tuple[str, dt.datetime]], repeat: int) -> Side:
    n = len(docs)
    out: Dict[str, float] = {}
    encode = json.JSONEncoder(default=json_default).encode
    db = sqlite3.connect(":memory:", isolation_level=None)
    db.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, doc TEXT NOT NULL)")
    t0 = time.perf_counter()
    for i in range(0, n, BATCH):
        db.execute("BEGIN")
        db.executemany("INSERT INTO users (id, doc) VALUES (?, ?)", [(d["_id"], encode(d)) for d in docs[i : i + BATCH]])
        db.execute("COMMIT")
    print(f"#   sqlite3: {n} documents loaded in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    assert db.execute("SELECT count(*) FROM users").fetchone()[0] == n

    def drop(name: str) -> Callable[[], None]:
        return lambda: db.execute(f"DROP INDEX IF EXISTS {name}")

    out["build_email"] = n / timed_best(lambda: db.execute(f"CREATE UNIQUE INDEX users_email ON users({SQL_EMAIL})"), repeat, drop("users_email"))
    out["build_compound"] = n / timed_best(
        lambda: db.execute(f"CREATE INDEX users_city_created ON users({SQL_CITY}, {SQL_CREATED})"), repeat, drop("users_city_created")
    )
    db.execute("ANALYZE")
    plans = {
        "a": "; ".join(r[-1] for r in db.execute("EXPLAIN QUERY PLAN " + SQL_FIND_EMAIL, (emails[0],))),
        "b": "; ".join(r[-1] for r in db.execute("EXPLAIN QUERY PLAN " + SQL_COMPOUND, (pairs[0][0], iso(pairs[0][1])))),
    }
    assert "users_email" in plans["a"], f"sqlite3 does not use its email index: {plans['a']}"
    assert "users_city_created" in plans["b"] and "TEMP B-TREE" not in plans["b"], f"sqlite3 plan for (b): {plans['b']}"

    cur = db.cursor()
    loads = json.loads

    def do_find() -> None:
        ex = cur.execute
        for e in emails:
            row = ex(SQL_FIND_EMAIL, (e,)).fetchone()
            if row is not None:
                loads(row[0])

    iso_pairs = [(c, iso(t)) for c, t in pairs]

    def do_compound() -> None:
        ex = cur.execute
        for city, t in iso_pairs:
            [loads(r[0]) for r in ex(SQL_COMPOUND, (city, t)).fetchall()]

    answers = {
        "a": [(loads(r[0])["_id"] if r else None) for r in (cur.execute(SQL_FIND_EMAIL, (e,)).fetchone() for e in emails[:CHECK_SAMPLES])],
        "b": [
            [(d["_id"], d["created_at"]) for d in (loads(r[0]) for r in cur.execute(SQL_COMPOUND, (c, t)).fetchall())]
            for c, t in iso_pairs[:CHECK_SAMPLES]
        ],
    }
    return out, plans, answers, {"find_email": do_find, "compound": do_compound}, db.close


def same_answers(a: Dict[str, Any], b: Dict[str, Any]) -> List[str]:
    """Differences between nestdb's and sqlite3's answers ([] if none). In (b), documents with
    the same created_at may come in either order, and the 20th row may be any of a tie."""
    problems = []
    if a["a"] != b["a"]:
        problems.append(f"(a) _ids differ: nestdb {a['a']} vs sqlite3 {b['a']}")
    for k, (x, y) in enumerate(zip(a["b"], b["b"])):
        if [t for _, t in x] != [t for _, t in y]:
            problems.append(f"(b) sample {k}: created_at lists differ: {x} vs {y}")
            continue
        last = x[-1][1] if x else None
        if {i for i, t in x if t != last} != {i for i, t in y if t != last}:
            problems.append(f"(b) sample {k}: _ids differ: {x} vs {y}")
    return problems


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, help="documents (default 1,000,000; 20,000 with --quick)")
    ap.add_argument("--samples", type=int, help="random emails for (a) (default 100,000; 2,000 with --quick)")
    ap.add_argument("--compound-samples", type=int, help="random (city, date) pairs for (b) (default --samples / 5)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per figure, the best kept (default 3)")
    ap.add_argument("--quick", action="store_true", help="a CI smoke run: 20,000 documents, few samples")
    ap.add_argument("--json", help="write the results to this file")
    args = ap.parse_args()
    n_docs = args.docs if args.docs is not None else (20_000 if args.quick else 1_000_000)
    samples = args.samples if args.samples is not None else (2_000 if args.quick else 100_000)
    compound_samples = args.compound_samples if args.compound_samples is not None else max(1, samples // 5)
    repeat = max(1, args.repeat)
    if n_docs < 1 or samples < 1:
        ap.error("--docs and --samples must be positive")

    t0 = time.perf_counter()
    docs = make_docs(n_docs)
    print(f"# dataset: {len(docs)} documents built in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    rnd = random.Random(13)
    emails = [docs[rnd.randrange(n_docs)]["email"] for _ in range(samples)]
    pairs = [
        (CITIES[rnd.randrange(len(CITIES))][0], EPOCH + dt.timedelta(days=rnd.randrange(6 * 365), milliseconds=rnd.randrange(86_400_000)))
        for _ in range(compound_samples)
    ]

    results: Dict[str, Dict[str, float]] = {}
    notes: List[str] = []
    explains: Dict[str, Any] = {}
    sql_plans: Dict[str, Any] = {}
    answers: Dict[str, Any] = {}
    queries: Dict[str, Dict[str, Callable[[], None]]] = {}
    finish: List[Callable[[], None]] = []
    try:
        print("# nestdb: load, index builds ...", file=sys.stderr)
        t = time.perf_counter()
        results["nestdb"], explains, answers["nestdb"], queries["nestdb"], done = bench_nestdb(docs, emails, pairs, repeat, repeat)
        finish.append(done)
        print(f"#   {results['nestdb']} ({time.perf_counter() - t:.0f} s)", file=sys.stderr)
    except ImportError as e:
        notes.append(f"nestdb: {e}, skipped")
    print("# sqlite3: load, index builds ...", file=sys.stderr)
    t = time.perf_counter()
    results["sqlite3"], sql_plans, answers["sqlite3"], queries["sqlite3"], done = bench_sqlite(docs, emails, pairs, repeat)
    finish.insert(0, done)
    print(f"#   {results['sqlite3']} ({time.perf_counter() - t:.0f} s)", file=sys.stderr)
    # (a) and (b): rounds alternating between the two databases.
    for key, count in (("find_email", len(emails)), ("compound", len(pairs))):
        best = {side: float("inf") for side in queries}
        for _ in range(repeat):
            for side, timed in queries.items():
                t0 = time.perf_counter()
                timed[key]()
                best[side] = min(best[side], time.perf_counter() - t0)
        for side, seconds in best.items():
            results[side][key] = count / seconds
    print("# nestdb: insert_many ...", file=sys.stderr)
    for step in finish:
        step()

    problems: List[str] = []
    if "nestdb" in answers:
        problems = same_answers(answers["nestdb"], answers["sqlite3"])
        checked = min(CHECK_SAMPLES, len(emails)) + min(CHECK_SAMPLES, len(pairs))
        notes.append(
            f"correctness: nestdb and sqlite3 returned the same _ids for {checked} samples" if not problems else "correctness: ANSWERS DIFFER"
        )

    machine = f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}, Python {sys.version.split()[0]}, SQLite {sqlite3.sqlite_version}"
    print("# nestdb Python secondary-index benchmark (issue 8) — one thread")
    print(f"# {machine}")
    print(f"# {n_docs:,} documents; (a) {len(emails):,} lookups, (b) {len(pairs):,} queries; best of {repeat}")
    print()
    rows = [
        ("(a) find_one({email}) — indexed equality", "find_email", "lookups/s"),
        ("(b) {city, created_at ≥ T} sort created_at -1 limit 20", "compound", "queries/s"),
        ("(c) build unique index on email", "build_email", "docs/s"),
        ("(c) build index on (profile.city, created_at)", "build_compound", "docs/s"),
    ]
    ratios: Dict[str, float] = {}
    print("| Workload | Unit | nestdb | sqlite3 | nestdb/sqlite3 |")
    print("|---|---|---:|---:|---:|")
    for label, key, unit in rows:
        nv = results.get("nestdb", {}).get(key)
        sv = results["sqlite3"][key]
        ratio = f"{nv / sv:.2f}x" if nv else "-"
        if nv:
            ratios[key] = nv / sv
        print(f"| {label} | {unit} | {f'{nv:,.0f}' if nv else '-'} | {sv:,.0f} | {ratio} |")
    if "nestdb" in results:
        r = results["nestdb"]
        ratios["insert_indexed/insert_plain"] = r["insert_indexed"] / r["insert_plain"]
        print()
        print("| nestdb insert_many (batches of 1,000, empty collection) | docs/s | vs no index |")
        print("|---|---:|---:|")
        print(f"| (d) no secondary index | {r['insert_plain']:,.0f} | 1.00x |")
        print(f"| (d) 3 secondary indexes (email unique, profile.city+created_at, logins) | {r['insert_indexed']:,.0f} | {ratios['insert_indexed/insert_plain']:.2f}x |")
        print()
        print("| nestdb explain() | Winning plan | Index | nReturned | totalKeysExamined | totalDocsExamined | keys ≤ 2× returned |")
        print("|---|---|---|---:|---:|---:|---|")
        for key, label in (("a", "(a) one email"), ("b", f"(b) {pairs[0][0]}, ≥ {iso(pairs[0][1])[:10]}")):
            e = explains[key]
            ok = e["nReturned"] is not None and e["totalKeysExamined"] is not None and e["totalKeysExamined"] <= 2 * max(e["nReturned"], 1)
            print(
                f"| {label} | {e['plan']} | {e['indexName']} | {e['nReturned']} | {e['totalKeysExamined']} | {e['totalDocsExamined']} | {'yes' if ok else '**NO**'} |"
            )
    print()
    print("| sqlite3 EXPLAIN QUERY PLAN | |")
    print("|---|---|")
    print(f"| (a) | {sql_plans['a']} |")
    print(f"| (b) | {sql_plans['b']} |")
    for p in problems:
        print(f"error: {p}")
    for note in notes:
        print(f"note: {note}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {
                    "machine": machine,
                    "docs": n_docs,
                    "samples": len(emails),
                    "compound_samples": len(pairs),
                    "repeat": repeat,
                    "results": results,
                    "ratios": ratios,
                    "explain": explains,
                    "sqlite_plans": sql_plans,
                    "problems": problems,
                    "notes": notes,
                },
                f,
                indent=2,
            )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
