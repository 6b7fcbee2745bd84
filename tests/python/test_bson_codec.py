"""The native BSON codec: ``nestdb._bson.encode``/``decode`` (pymongo's ``bson.encode``/``decode``)
and the decoder every query result goes through (``find_one`` decodes stored bytes with it).

Checked against the BSON specification's examples, round trips of every type, the key-string
cache (more distinct keys than it has slots, long and non-ASCII keys), datetime edges, and
thousands of corrupted inputs: each decodes or raises ``InvalidBSON``, nothing else."""

from __future__ import annotations

import datetime
import random
import struct
from typing import Any, Dict

import pytest

from nestdb import MongoClient
from nestdb._bson import Binary, Code, Decimal128, Int64, InvalidBSON, InvalidDocument, MaxKey, MinKey, ObjectId, Regex, Timestamp, decode, encode


def rich_document() -> Dict[str, Any]:
    return {
        "_id": ObjectId("5f1d7f0a9b1e8a3c4d5e6f70"),
        "s": "héllo wörld",
        "i32": -42,
        "i64": Int64(1 << 40),
        "big": 1 << 40,
        "f": 3.25,
        "t": True,
        "no": False,
        "none": None,
        "when": datetime.datetime(2024, 2, 29, 23, 59, 59, 999000),
        "old": datetime.datetime(1969, 12, 31, 23, 59, 59, 1000),
        "bin": b"\x00\x01\xff",
        "bin5": Binary(b"0123456789abcdef", 5),
        "oid": ObjectId("000000000000000000000001"),
        "re": Regex("^a.c$", "im"),
        "code": Code("function () { return 1; }"),
        "scoped": Code("x + y", {"x": 1}),
        "ts": Timestamp(1_700_000_000, 7),
        "dec": Decimal128("-1.50E+3"),
        "min": MinKey(),
        "max": MaxKey(),
        "nested": {"a": {"b": {"c": [1, "two", {"three": 3.0}, [4, [5]]]}}},
        "empty_doc": {},
        "empty_list": [],
        "ключ": "значение",
    }


def test_spec_examples() -> None:
    # bsonspec.org's examples.
    hello = b"\x16\x00\x00\x00\x02hello\x00\x06\x00\x00\x00world\x00\x00"
    assert decode(hello) == {"hello": "world"}
    assert encode({"hello": "world"}) == hello
    awesome = (
        b"1\x00\x00\x00\x04BSON\x00&\x00\x00\x00\x020\x00\x08\x00\x00\x00awesome\x00"
        b"\x011\x00333333\x14@\x102\x00\xc2\x07\x00\x00\x00\x00"
    )
    assert decode(awesome) == {"BSON": ["awesome", 5.05, 1986]}
    assert encode({"BSON": ["awesome", 5.05, 1986]}) == awesome
    assert decode(bytearray(hello)) == decode(memoryview(hello)) == {"hello": "world"}


def test_round_trip_every_type() -> None:
    doc = rich_document()
    back = decode(encode(doc))
    assert back == doc
    assert list(back) == list(doc)
    assert type(back["i64"]) is Int64 and type(back["big"]) is Int64 and type(back["i32"]) is int
    assert type(back["bin"]) is bytes and isinstance(back["bin5"], Binary) and back["bin5"].subtype == 5
    assert back["scoped"].scope == {"x": 1}
    assert back["when"].tzinfo is None


def test_stored_documents_decode_the_same_way() -> None:
    with MongoClient() as client:
        coll = client.db.c
        doc = rich_document()
        coll.insert_one(dict(doc))
        via_find_one = coll.find_one({"_id": doc["_id"]})  # the raw decoder
        via_cursor = list(coll.find({}))[0]  # command replies
        via_filter = coll.find_one({"s": doc["s"]})
        assert via_find_one == via_cursor == via_filter == doc
        assert list(via_find_one) == list(doc)


def test_many_distinct_keys_and_long_keys() -> None:
    # More distinct names than the key cache has slots, names around its 32-byte limit, and
    # non-ASCII names: every document must come back with exactly its own keys.
    rnd = random.Random(5)
    names = [f"k{i}" for i in range(3000)] + ["x" * n for n in (31, 32, 33, 100)] + ["é" * 16, "日本語のキー", "a\u00e9" * 11]
    for _ in range(300):
        picked = rnd.sample(names, 12)
        doc = {name: i for i, name in enumerate(picked)}
        assert decode(encode(doc)) == doc
        assert list(decode(encode(doc))) == picked
    with MongoClient() as client:
        coll = client.db.keys
        docs = [{"_id": i, **{names[(i * 7 + j) % len(names)]: j for j in range(10)}} for i in range(500)]
        coll.insert_many([dict(d) for d in docs])
        for d in docs:
            assert coll.find_one({"_id": d["_id"]}) == d


@pytest.mark.parametrize(
    "value",
    [
        datetime.datetime(1, 1, 1),
        datetime.datetime(9999, 12, 31, 23, 59, 59, 999000),
        datetime.datetime(1970, 1, 1),
        datetime.datetime(1969, 12, 31, 23, 59, 59, 999000),
        datetime.datetime(1900, 3, 1, 12, 0, 0, 1000),
        datetime.datetime(2000, 2, 29),
    ],
)
def test_datetime_edges(value: datetime.datetime) -> None:
    assert decode(encode({"d": value})) == {"d": value}


def test_datetime_microseconds_truncate_and_aware_convert() -> None:
    assert decode(encode({"d": datetime.datetime(2024, 1, 1, 0, 0, 0, 999999)}))["d"] == datetime.datetime(2024, 1, 1, 0, 0, 0, 999000)
    aware = datetime.datetime(2024, 1, 1, 5, 30, tzinfo=datetime.timezone(datetime.timedelta(hours=5, minutes=30)))
    assert decode(encode({"d": aware}))["d"] == datetime.datetime(2024, 1, 1)


def element(kind: int, key: bytes, value: bytes) -> bytes:
    body = bytes([kind]) + key + b"\x00" + value + b"\x00"
    return struct.pack("<i", len(body) + 4) + body


def test_malformed_values_raise_invalid_bson() -> None:
    bad = [
        element(0x02, b"s", struct.pack("<i", 3) + b"\xff\xfe\x00"),  # invalid UTF-8 string
        element(0x02, b"\xff", struct.pack("<i", 2) + b"a\x00"),  # invalid UTF-8 key
        element(0x02, b"s", struct.pack("<i", 100) + b"ab\x00"),  # string longer than the document
        element(0x02, b"s", struct.pack("<i", -5) + b"ab\x00"),  # negative length
        element(0x02, b"s", struct.pack("<i", 3) + b"abc"),  # unterminated string
        element(0x08, b"b", b"\x02"),  # boolean that is neither 0 nor 1
        element(0x09, b"d", struct.pack("<q", 2**62)),  # datetime beyond year 9999
        element(0x10, b"i", b"\x01\x00"),  # truncated int32
        element(0x03, b"d", struct.pack("<i", 4) + b"\x00"),  # inner document too short
        element(0x42, b"x", b""),  # unknown type
        b"\x05\x00\x00\x00\x01",  # bad terminator
        b"\x04\x00\x00\x00",  # too short
        b"",
    ]
    for data in bad:
        with pytest.raises(InvalidBSON):
            decode(data)


def test_deep_nesting_is_refused_not_a_crash() -> None:
    inner = b"\x05\x00\x00\x00\x00"
    for _ in range(400):
        inner = element(0x03, b"a", inner)
    with pytest.raises(InvalidBSON, match="nesting"):
        decode(inner)


def test_corrupted_bytes_decode_or_raise_invalid_bson() -> None:
    good = encode(rich_document())
    rnd = random.Random(11)
    outcomes = {"decoded": 0, "invalid": 0}
    for trial in range(4000):
        data = bytearray(good)
        how = trial % 4
        if how == 0:  # flip a few bytes
            for _ in range(rnd.randint(1, 4)):
                data[rnd.randrange(4, len(data))] = rnd.randrange(256)
        elif how == 1:  # truncate, keeping the header consistent
            cut = rnd.randrange(5, len(data))
            data = data[:cut] + b"\x00"
            data[:4] = struct.pack("<i", len(data))
        elif how == 2:  # change an inner length or type byte
            at = rnd.randrange(4, len(data) - 4)
            data[at : at + 4] = struct.pack("<i", rnd.choice([-1, 0, 1, 5, 2**31 - 1, rnd.randrange(len(good))]))
        else:  # random garbage behind a valid header
            data = bytearray(rnd.randbytes(rnd.randrange(1, 200)))
            data = struct.pack("<i", len(data) + 5) + data + b"\x00"
        try:
            result = decode(bytes(data))
        except InvalidBSON:
            outcomes["invalid"] += 1
        else:
            assert isinstance(result, dict)
            outcomes["decoded"] += 1
    assert outcomes["invalid"] > 1000 and outcomes["decoded"] > 0, outcomes


def test_encode_refuses_what_bson_cannot_hold() -> None:
    with pytest.raises(InvalidDocument):
        encode({"s": {1, 2}})
    with pytest.raises(InvalidDocument):
        encode({1: "non-str key"})
    with pytest.raises(TypeError):
        encode(["not", "a", "mapping"])
