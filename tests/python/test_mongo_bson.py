"""nestdb._bson: the BSON value classes (pure Python), and interop with pymongo's ``bson``
when it is installed."""

from __future__ import annotations

import copy
import datetime
import decimal
import os
import pickle
import re

import pytest

from nestdb._bson import Binary, Code, Decimal128, Int64, InvalidId, MaxKey, MinKey, ObjectId, Regex, Timestamp

UTC = datetime.timezone.utc


class TestObjectId:
    def test_generated_layout(self) -> None:
        a, b = ObjectId(), ObjectId()
        assert len(a.binary) == 12 and a != b
        # 5 random bytes per process, counter increments
        assert a.binary[4:9] == b.binary[4:9]
        assert (int.from_bytes(b.binary[9:], "big") - int.from_bytes(a.binary[9:], "big")) % (1 << 24) == 1
        now = datetime.datetime.now(UTC)
        assert abs((a.generation_time - now).total_seconds()) < 5
        assert a.generation_time.tzinfo is not None

    def test_constructors(self) -> None:
        oid = ObjectId("507f1f77bcf86cd799439011")
        assert str(oid) == "507f1f77bcf86cd799439011"
        assert repr(oid) == "ObjectId('507f1f77bcf86cd799439011')"
        assert ObjectId(oid.binary) == oid
        assert ObjectId(oid) == oid
        assert ObjectId(bytearray(oid.binary)) == oid
        assert ObjectId("507F1F77BCF86CD799439011") == oid
        with pytest.raises(InvalidId):
            ObjectId("xyz")
        with pytest.raises(InvalidId):
            ObjectId(b"short")
        with pytest.raises(TypeError):
            ObjectId(12)

        class Foreign:
            binary = b"\x01" * 12

        assert ObjectId(Foreign()).binary == b"\x01" * 12

    def test_is_valid(self) -> None:
        assert ObjectId.is_valid("507f1f77bcf86cd799439011")
        assert ObjectId.is_valid(b"123456789012")
        assert not ObjectId.is_valid("507f1f77bcf86cd79943901g")
        assert not ObjectId.is_valid(None)
        assert not ObjectId.is_valid(12)

    def test_ordering_and_hash(self) -> None:
        a = ObjectId("000000000000000000000001")
        b = ObjectId("000000000000000000000002")
        assert a < b <= b and b > a >= a and a != b
        assert {a: 1}[ObjectId(str(a))] == 1
        assert (a == "000000000000000000000001") is False

    def test_from_datetime(self) -> None:
        dt = datetime.datetime(2024, 1, 15, 10, 30, tzinfo=UTC)
        oid = ObjectId.from_datetime(dt)
        assert oid.generation_time == dt
        assert oid.binary[4:] == b"\x00" * 8
        assert ObjectId.from_datetime(dt.replace(tzinfo=None)) == oid

    def test_pickle_copy(self) -> None:
        oid = ObjectId()
        assert pickle.loads(pickle.dumps(oid)) == oid
        assert copy.deepcopy(oid) == oid

    @pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork")
    def test_random_renewed_after_fork(self) -> None:
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.write(w, ObjectId().binary)
            os._exit(0)
        os.waitpid(pid, 0)
        child = os.read(r, 12)
        assert child[4:9] != ObjectId().binary[4:9]


class TestOtherTypes:
    def test_decimal128(self) -> None:
        d = Decimal128("1.10")
        assert str(d) == "1.10" and repr(d) == "Decimal128('1.10')"
        assert d.to_decimal() == decimal.Decimal("1.10")
        assert Decimal128(decimal.Decimal("1.10")) == d
        assert Decimal128(5) == Decimal128("5")
        assert d != Decimal128("1.1")  # different representation
        assert str(Decimal128("NaN")) == "NaN"
        with pytest.raises(TypeError):
            Decimal128(1.5)  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            Decimal128("not a number")

    def test_binary(self) -> None:
        b = Binary(b"\x01\x02", 4)
        assert isinstance(b, bytes) and b.subtype == 4
        assert b == Binary(b"\x01\x02", 4) and b != Binary(b"\x01\x02", 5)
        assert Binary(b"x") == b"x" and Binary(b"x", 4) != b"x"
        assert pickle.loads(pickle.dumps(b)) == b
        with pytest.raises(ValueError):
            Binary(b"", 256)

    def test_binary_uuid(self) -> None:
        import uuid

        u = uuid.uuid4()
        b = Binary.from_uuid(u)
        assert b.subtype == 4 and bytes(b) == u.bytes and b.as_uuid() == u
        assert Binary.from_uuid(u, 3).as_uuid(3) == u
        with pytest.raises(ValueError):
            b.as_uuid(3)
        with pytest.raises(ValueError):
            Binary.from_uuid(u, 5)

    def test_timestamp(self) -> None:
        t = Timestamp(100, 2)
        assert (t.time, t.inc) == (100, 2)
        assert Timestamp(100, 3) > t and t == Timestamp(100, 2)
        assert Timestamp(datetime.datetime(1970, 1, 1, 0, 1, tzinfo=UTC), 0).time == 60
        with pytest.raises(ValueError):
            Timestamp(-1, 0)

    def test_regex(self) -> None:
        assert Regex("^a", "im").flags == re.IGNORECASE | re.MULTILINE
        assert Regex("^a", re.I).flags == re.I
        r = Regex("^ab+", "i")
        assert r.try_compile().match("ABB")
        assert Regex.from_native(re.compile("x", re.S)).flags == re.S | re.U  # str patterns carry re.U, as in pymongo

    def test_int64_minmax_code(self) -> None:
        assert Int64(5) == 5 and isinstance(Int64(5), int)
        assert MinKey() == MinKey() and MaxKey() == MaxKey() and MinKey() != MaxKey()
        assert MinKey() < MaxKey() and MaxKey() > MinKey()
        c = Code("function() {}")
        assert c == Code("function() {}") and isinstance(c, str) and c.scope is None
        assert Code("x", {"a": 1}).scope == {"a": 1}


class TestPymongoInterop:
    """Only when pymongo's ``bson`` is importable."""

    def test_objectid(self) -> None:
        bson = pytest.importorskip("bson", reason="pymongo's bson is not installed")
        theirs = bson.ObjectId()
        ours = ObjectId(theirs)
        assert ours == theirs and ours.binary == theirs.binary
        assert str(ours) == str(theirs)
        assert bson.ObjectId(str(ours)) == ours

    def test_decimal_and_regex(self) -> None:
        bson = pytest.importorskip("bson", reason="pymongo's bson is not installed")
        assert Decimal128("1.5") == bson.Decimal128("1.5")
        assert Regex("a", "i") == bson.Regex("a", "i")
