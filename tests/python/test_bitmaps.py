"""Bitmaps through redis-py's API: SETBIT/GETBIT/BITCOUNT/BITPOS/BITOP and the BITFIELD builder
(``r.bitfield(key)...execute()``), side by side with a real redis-server (fixture ``real``),
plus the client-side argument checks redis-py makes before sending anything.

The random differential (test_differential.py) covers the plain commands on shared keys; this
file covers the builder, pipelines and the cases worth naming.
"""

from __future__ import annotations

from typing import Any, Callable, List

import pytest

import nestdb
from nestdb.exceptions import DataError, ResponseError


def both(real: Any, r: nestdb.Redis, calls: Callable[[Any], Any]) -> Any:
    """Run ``calls`` on each client; the results (or the errors' types and texts) must match."""

    def outcome(client: Any) -> Any:
        try:
            return ("ok", calls(client))
        except Exception as e:  # noqa: BLE001 - compared, not swallowed
            return ("error", type(e).__name__, str(e))

    theirs, ours = outcome(real), outcome(r)
    assert ours == theirs
    return ours


def test_setbit_getbit_bitcount_bitpos(real: Any, r: nestdb.Redis) -> None:
    def run(c: Any) -> List[Any]:
        out = [c.setbit("b", 7, 1), c.setbit("b", 7, 1), c.setbit("b", 100, True), c.getbit("b", 100), c.getbit("b", 10_000)]
        out += [c.get("b"), c.strlen("b"), c.bitcount("b"), c.bitcount("b", 0, 0), c.bitcount("b", 5, 30, "BIT")]
        out += [c.bitpos("b", 1), c.bitpos("b", 0), c.bitpos("b", 1, 1), c.bitpos("b", 0, 0, -1), c.bitpos("b", 1, 8, 100, "BIT")]
        out += [c.bitpos("missing", 0), c.bitpos("missing", 1), c.bitcount("missing")]
        c.set("all", b"\xff\xff")
        out += [c.bitpos("all", 0), c.bitpos("all", 0, 0, -1), c.bitpos("all", 0, 1)]
        return out

    both(real, r, run)


def test_bit_errors(real: Any, r: nestdb.Redis) -> None:
    r.rpush("list", "x")
    real.rpush("list", "x")
    for call in [
        lambda c: c.setbit("b", -1, 1),
        lambda c: c.setbit("b", 2**32, 1),
        lambda c: c.execute_command("SETBIT", "b", 0, 2),
        lambda c: c.getbit("list", 0),
        lambda c: c.setbit("list", 0, 1),
        lambda c: c.bitcount("list"),
        lambda c: c.bitcount("b", 0, 1, "bits"),
        lambda c: c.execute_command("BITPOS", "b", 2),
        lambda c: c.bitop("NOT", "d", "a", "b"),
        lambda c: c.bitop("NAND", "d", "a"),
        lambda c: c.bitop("AND", "d", "list"),
    ]:
        both(real, r, call)
    # Every one of them failed (or, for BITCOUNT of a missing key, answered 0): nothing stored.
    assert r.exists("b", "d") == 0


def test_bitop_results_and_empty_result_deletes(real: Any, r: nestdb.Redis) -> None:
    def run(c: Any) -> List[Any]:
        c.set("x", b"\x0f\xf0")
        c.set("y", b"\xff")
        c.set("dest", "old", ex=1000)
        out = [c.bitop("AND", "dest", "x", "y"), c.get("dest"), c.ttl("dest")]
        out += [c.bitop("OR", "dest", "x", "y"), c.get("dest"), c.bitop("XOR", "dest", "x", "y", "x"), c.get("dest")]
        out += [c.bitop("NOT", "dest", "x"), c.get("dest")]
        out += [c.bitop("AND", "dest", "nope1", "nope2"), c.exists("dest")]
        return out

    both(real, r, run)


def test_bitfield_builder(real: Any, r: nestdb.Redis) -> None:
    def run(c: Any) -> List[Any]:
        out = []
        bf = c.bitfield("f")
        out.append(bf.set("u8", 0, 255).get("u8", 0).get("i8", 0).incrby("u8", 0, 10).execute())
        out.append(c.bitfield("f").incrby("i5", "#3", 100, overflow="SAT").incrby("i5", "#3", -100).execute())
        out.append(c.bitfield("f", default_overflow="FAIL").incrby("u2", 100, 7).get("u2", 100).execute())
        out.append(c.bitfield("f").set("i64", 64, -(2**63)).incrby("i64", 64, -1).get("u63", 64).execute())
        out.append(c.bitfield("f").overflow("SAT").set("i8", 200, -(2**63)).get("i8", 200).execute())
        out.append(c.bitfield_ro("f", "u8", 0, items=[("i64", 64), ("u4", "#2")]))
        out.append(c.get("f"))
        out.append(c.bitfield("nothing").get("u8", 0).execute())
        out.append(c.exists("nothing"))
        return out

    both(real, r, run)


def test_bitfield_errors(real: Any, r: nestdb.Redis) -> None:
    for call in [
        lambda c: c.bitfield("f").get("u64", 0).execute(),
        lambda c: c.bitfield("f").get("i65", 0).execute(),
        lambda c: c.bitfield("f").get("x8", 0).execute(),
        lambda c: c.bitfield("f").set("u8", -1, 1).execute(),
        lambda c: c.bitfield("f").set("u8", 0, "abc").execute(),
        lambda c: c.execute_command("BITFIELD", "f", "OVERFLOW", "NOPE", "GET", "u8", 0),
        lambda c: c.execute_command("BITFIELD", "f", "GET", "u8"),
        lambda c: c.execute_command("BITFIELD_RO", "f", "SET", "u8", 0, 1),
    ]:
        result = both(real, r, call)
        assert result[0] == "error" and result[1] == "ResponseError", result
    assert r.exists("f") == 0


def test_bitfield_in_a_pipeline_and_transaction(real: Any, r: nestdb.Redis) -> None:
    def run(c: Any) -> Any:
        p = c.pipeline(transaction=True)
        p.setbit("p", 3, 1)
        p.bitfield("p").incrby("u4", 0, 3).execute()
        p.bitcount("p")
        p.bitpos("p", 1)
        return p.execute()

    both(real, r, run)


def test_redis_py_client_side_checks() -> None:
    r = nestdb.Redis()
    with pytest.raises(DataError):
        r.bitcount("k", 1)
    with pytest.raises(DataError):
        r.bitpos("k", 2)
    with pytest.raises(DataError):
        r.bitpos("k", 1, end=3)
    with pytest.raises(ResponseError):
        r.execute_command("BITPOS", "k", "x")


def test_bitmaps_survive_reopen(tmp_path: Any) -> None:
    path = str(tmp_path / "db")
    r = nestdb.Redis(path=path)
    r.setbit("seen", 12345, 1)
    r.bitfield("counters").incrby("u16", "#7", 300).execute()
    r.close()
    r = nestdb.Redis(path=path)
    assert r.getbit("seen", 12345) == 1
    assert r.bitcount("seen") == 1
    assert r.bitfield_ro("counters", "u16", "#7") == [300]
    r.close()
