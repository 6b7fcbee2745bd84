"""What issue 7's "50x mongomock on insert_many" asks of any document store (reference run, not a
target): on the profile documents of bench_docs.py, one Python thread, best of 3:

  mongomock   insert_many in batches of 1,000 (a deepcopy of each dict into a dict)
  bson.encode pymongo's C BSON encoder on each dict: the least work a store that keeps
              documents as BSON, or a MongoDB driver that sends them, does per document
  nestdb      nestdb.MongoClient() (in memory) insert_many in batches of 1,000

    python bench/python/encode_floor.py [--docs 20000]

Needs pymongo (for bson) and mongomock; nestdb is skipped when not installed.
"""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_docs  # noqa: E402  (the same document generator)


def best(n: int, fn) -> float:
    return bench_docs.best(n, fn, 3)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=20_000)
    n = ap.parse_args().docs
    docs = bench_docs.make_docs(n)
    import bson
    import mongomock

    def batches(coll) -> None:
        for i in range(0, n, 1000):
            coll.insert_many([dict(d) for d in docs[i : i + 1000]])

    rates = {"mongomock": best(n, lambda: batches(mongomock.MongoClient()["b"]["u"]))}
    encode = bson.encode
    rates["bson.encode"] = best(n, lambda: [encode(d) for d in docs])
    try:
        import nestdb

        rates["nestdb"] = best(n, lambda: batches(nestdb.MongoClient()["b"]["u"]))
    except ImportError:
        pass
    need = 50 * rates["mongomock"]
    print(f"{n} documents, docs/s (best of 3):")
    for k, v in rates.items():
        print(f"  {k:12} {v:12,.0f}   {v / rates['mongomock']:6.1f}x mongomock   {v / rates['bson.encode']:5.2f}x bson.encode")
    print(f"  50x mongomock = {need:,.0f} docs/s = {need / rates['bson.encode']:.1f}x pymongo's C encoder alone")
    return 0


if __name__ == "__main__":
    sys.exit(main())
