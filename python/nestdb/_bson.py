"""BSON value classes that the native document layer produces and accepts (pymongo's ``bson``).

A contract with the Rust encoder/decoder (``python/src``): the native code constructs
``ObjectId(bytes12)``, ``Decimal128(str)``, ``Binary(bytes, subtype)``, ``Timestamp(time, inc)``,
``Regex(pattern, flags_str)``, ``Int64(int)``, ``MinKey()``, ``MaxKey()``, ``Code(str)`` and
raises ``InvalidDocument`` for values it cannot encode. When encoding it recognises these
classes (and pymongo's own ``bson`` classes) by class name and attributes.

The classes follow pymongo's ``bson`` package: same constructors, attributes, ``str``/``repr``
and comparisons, and they compare equal to pymongo's objects holding the same value.
"""

from __future__ import annotations

import binascii
import calendar
import datetime
import decimal
import os
import re
import struct
import threading
import time
import uuid as _uuid
from random import SystemRandom
from typing import TYPE_CHECKING, Any, Dict, Mapping, Optional, Pattern, Tuple, TypeVar, Union

if TYPE_CHECKING:
    from typing_extensions import disjoint_base
else:
    _C = TypeVar("_C")

    def disjoint_base(cls: _C) -> _C:  # typing_extensions' marker, for type checkers only
        return cls

__all__ = [
    "ObjectId",
    "Decimal128",
    "Binary",
    "Timestamp",
    "Regex",
    "Int64",
    "MinKey",
    "MaxKey",
    "Code",
    "InvalidDocument",
    "InvalidId",
    "InvalidBSON",
    "BSONError",
    "encode",
    "decode",
]


class BSONError(Exception):
    """Base class of the BSON errors (pymongo's ``bson.errors.BSONError``)."""


class InvalidDocument(BSONError):
    """A value that cannot be stored in a document (a ``set``, a ``datetime.date``, a non-str
    key...), as pymongo's ``bson.errors.InvalidDocument``."""


class InvalidId(BSONError):
    """Not a valid ObjectId (pymongo's ``bson.errors.InvalidId``)."""


class InvalidBSON(BSONError):
    """Bytes that are not a well-formed BSON document (pymongo's ``bson.errors.InvalidBSON``)."""


def encode(document: Mapping[str, Any]) -> bytes:
    """``document`` as BSON bytes (pymongo's ``bson.encode`` with the default codec options);
    values that cannot be encoded raise ``InvalidDocument``."""
    from . import _nestdb

    return _nestdb._bson_encode(document)  # type: ignore[no-any-return]


def decode(data: Union[bytes, bytearray, memoryview]) -> Dict[str, Any]:
    """A BSON document as a dict (pymongo's ``bson.decode`` with the default codec options:
    int64 as ``Int64``, datetimes naive UTC); malformed bytes raise ``InvalidBSON``."""
    from . import _nestdb

    try:
        return _nestdb._bson_decode(bytes(data))  # type: ignore[no-any-return]
    except ValueError as e:  # UnicodeDecodeError included
        raise InvalidBSON(str(e)) from e


_UTC = datetime.timezone.utc
_EPOCH_AWARE = datetime.datetime(1970, 1, 1, tzinfo=_UTC)


def _random_bytes() -> bytes:
    return os.urandom(5)


class ObjectId:
    """A 12-byte MongoDB ObjectId: 4-byte big-endian seconds since the epoch, 5 bytes random
    per process (renewed after ``fork``), 3-byte counter (pymongo's ``bson.ObjectId``)."""

    __slots__ = ("__id",)

    _pid = os.getpid()
    _inc = SystemRandom().randint(0, 0xFFFFFF)
    _inc_lock = threading.Lock()
    __random = _random_bytes()

    def __init__(self, oid: Any = None) -> None:
        if type(oid) is bytes and len(oid) == 12:  # the native decoder's path
            self.__id = oid
        elif oid is None:
            self.__generate()
        else:
            self.__validate(oid)

    @classmethod
    def from_datetime(cls, generation_time: datetime.datetime) -> "ObjectId":
        """An ObjectId whose timestamp is ``generation_time`` and other bytes zero (for range
        queries on ``_id``). Naive datetimes are taken as UTC."""
        offset = generation_time.utcoffset()
        if offset is not None:
            generation_time = generation_time - offset
        ts = calendar.timegm(generation_time.timetuple())
        return cls(struct.pack(">I", int(ts) & 0xFFFFFFFF) + b"\x00" * 8)

    @classmethod
    def is_valid(cls, oid: Any) -> bool:
        """True when ``oid`` can make an ObjectId."""
        if not oid:
            return False
        try:
            ObjectId(oid)
            return True
        except (InvalidId, TypeError):
            return False

    @classmethod
    def _random(cls) -> bytes:
        pid = os.getpid()
        if pid != cls._pid:
            cls._pid = pid
            cls.__random = _random_bytes()
        return cls.__random

    def __generate(self) -> None:
        with ObjectId._inc_lock:
            inc = ObjectId._inc
            ObjectId._inc = (inc + 1) % 0x1000000
        self.__id = struct.pack(">I", int(time.time()) & 0xFFFFFFFF) + ObjectId._random() + struct.pack(">I", inc)[1:4]

    def __validate(self, oid: Any) -> None:
        if isinstance(oid, ObjectId):
            self.__id = oid.binary
        elif isinstance(oid, str):
            if len(oid) == 24:
                try:
                    self.__id = bytes.fromhex(oid)
                    return
                except (TypeError, ValueError):
                    pass
            raise InvalidId(f"{oid!r} is not a valid ObjectId, it must be a 12-byte input or a 24-character hex string")
        elif isinstance(oid, (bytes, bytearray)):
            if len(oid) == 12:
                self.__id = bytes(oid)
                return
            raise InvalidId(f"{oid!r} is not a valid ObjectId, it must be a 12-byte input or a 24-character hex string")
        else:
            binary = getattr(oid, "binary", None)  # pymongo's bson.ObjectId and look-alikes
            if isinstance(binary, bytes) and len(binary) == 12:
                self.__id = binary
                return
            raise TypeError(f"id must be an instance of (bytes, str, ObjectId), not {type(oid)}")

    @property
    def binary(self) -> bytes:
        """The 12 bytes."""
        return self.__id

    @property
    def generation_time(self) -> datetime.datetime:
        """The creation time (aware, UTC, whole seconds)."""
        ts = struct.unpack(">I", self.__id[0:4])[0]
        return datetime.datetime.fromtimestamp(ts, _UTC)

    def __getstate__(self) -> bytes:
        return self.__id

    def __setstate__(self, value: Any) -> None:
        if isinstance(value, dict):
            value = value["_ObjectId__id"]
        self.__id = value if isinstance(value, bytes) else value.encode("latin-1")

    def __str__(self) -> str:
        return binascii.hexlify(self.__id).decode()

    def __repr__(self) -> str:
        return f"ObjectId('{self!s}')"

    def _other_bytes(self, other: Any) -> Optional[bytes]:
        if isinstance(other, ObjectId):
            return other.__id
        if type(other).__name__ == "ObjectId":
            binary = getattr(other, "binary", None)
            if isinstance(binary, bytes):
                return binary
        return None

    def __eq__(self, other: Any) -> bool:
        b = self._other_bytes(other)
        return NotImplemented if b is None else self.__id == b

    def __ne__(self, other: Any) -> bool:
        b = self._other_bytes(other)
        return NotImplemented if b is None else self.__id != b

    def __lt__(self, other: Any) -> bool:
        b = self._other_bytes(other)
        return NotImplemented if b is None else self.__id < b

    def __le__(self, other: Any) -> bool:
        b = self._other_bytes(other)
        return NotImplemented if b is None else self.__id <= b

    def __gt__(self, other: Any) -> bool:
        b = self._other_bytes(other)
        return NotImplemented if b is None else self.__id > b

    def __ge__(self, other: Any) -> bool:
        b = self._other_bytes(other)
        return NotImplemented if b is None else self.__id >= b

    def __hash__(self) -> int:
        return hash(self.__id)


_DEC_CTX = decimal.Context(prec=34, Emin=-6143, Emax=6144, rounding=decimal.ROUND_HALF_EVEN, capitals=1, clamp=1, traps=[decimal.InvalidOperation, decimal.Overflow, decimal.Inexact])


class Decimal128:
    """A BSON decimal128 (IEEE 754-2008 128-bit decimal), as pymongo's ``bson.Decimal128``.

    ``Decimal128("1.10")``, ``Decimal128(decimal.Decimal(...))`` or ``Decimal128(int)``;
    ``str()`` gives the canonical string, ``to_decimal()`` a ``decimal.Decimal``.
    """

    __slots__ = ("__value",)

    def __init__(self, value: Union[str, int, decimal.Decimal, "Decimal128", Tuple[int, int]]) -> None:
        if isinstance(value, Decimal128):
            self.__value: decimal.Decimal = value.__value
            return
        if isinstance(value, bool) or isinstance(value, float):
            raise TypeError("Cannot convert %r to Decimal128" % (value,))
        if isinstance(value, (list, tuple)):
            raise TypeError("Decimal128 from (high, low) bits is not supported; pass a str or Decimal")
        if isinstance(value, (str, int, decimal.Decimal)):
            try:
                dec = _DEC_CTX.create_decimal(value)
            except decimal.Inexact:
                raise ValueError(f"{value!r} cannot be represented exactly as a Decimal128") from None
            except decimal.InvalidOperation:
                raise ValueError(f"{value!r} is not a valid Decimal128") from None
            except decimal.Overflow:
                raise ValueError(f"{value!r} is out of range for Decimal128") from None
            self.__value = dec
            return
        raise TypeError(f"Cannot convert {value!r} to Decimal128")

    def to_decimal(self) -> decimal.Decimal:
        """The value as a ``decimal.Decimal``."""
        return self.__value

    def __str__(self) -> str:
        dec = self.__value
        if dec.is_nan():
            return "NaN"
        return str(dec)

    def __repr__(self) -> str:
        return f"Decimal128('{self!s}')"

    def __eq__(self, other: Any) -> bool:
        if isinstance(other, Decimal128):
            return str(self) == str(other)
        if type(other).__name__ == "Decimal128" and hasattr(other, "to_decimal"):
            return str(self) == str(other)
        return NotImplemented

    def __ne__(self, other: Any) -> bool:
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    def __hash__(self) -> int:
        return hash(str(self))

    def __getstate__(self) -> str:
        return str(self)

    def __setstate__(self, value: str) -> None:
        self.__value = _DEC_CTX.create_decimal(value)


@disjoint_base
class Binary(bytes):
    """Binary data with a BSON subtype (pymongo's ``bson.Binary``). Subtype 0 data comes back
    from the database as plain ``bytes``."""

    _type_marker = 5
    __subtype: int

    def __new__(cls, data: Union[bytes, bytearray, memoryview], subtype: int = 0) -> "Binary":
        if not isinstance(subtype, int) or isinstance(subtype, bool):
            raise TypeError("subtype must be an instance of int")
        if subtype < 0 or subtype >= 256:
            raise ValueError("subtype must be contained in [0, 256)")
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError("data must be an instance of bytes")
        self = bytes.__new__(cls, data)
        self.__subtype = subtype
        return self

    @property
    def subtype(self) -> int:
        """The BSON binary subtype."""
        return self.__subtype

    @classmethod
    def from_uuid(cls, uuid: "_uuid.UUID", uuid_representation: int = 4) -> "Binary":
        """A UUID as binary: subtype 4 (``UuidRepresentation.STANDARD``, the default) or
        subtype 3 with Python's byte order (``PYTHON_LEGACY``)."""
        if not isinstance(uuid, _uuid.UUID):
            raise TypeError("uuid must be an instance of uuid.UUID")
        if uuid_representation == 4:
            return cls(uuid.bytes, 4)
        if uuid_representation == 3:
            return cls(uuid.bytes, 3)
        raise ValueError("nestdb supports UuidRepresentation.STANDARD (4) and PYTHON_LEGACY (3)")

    def as_uuid(self, uuid_representation: int = 4) -> "_uuid.UUID":
        """This binary as a ``uuid.UUID`` (subtype 4, or 3 with ``uuid_representation=3``)."""
        if uuid_representation not in (3, 4):
            raise ValueError("nestdb supports UuidRepresentation.STANDARD (4) and PYTHON_LEGACY (3)")
        if self.__subtype != uuid_representation:
            raise ValueError(f"cannot decode subtype {self.__subtype} as a uuid with representation {uuid_representation}")
        return _uuid.UUID(bytes=bytes(self))

    def __getnewargs__(self) -> Tuple[bytes, int]:  # type: ignore[override]
        return bytes(self), self.__subtype

    def __eq__(self, other: Any) -> bool:
        if isinstance(other, Binary):
            return (self.__subtype, bytes(self)) == (other.subtype, bytes(other))
        if isinstance(other, bytes) and not hasattr(other, "subtype"):
            # pymongo: a Binary of subtype 0 equals the same bytes
            return self.__subtype == 0 and bytes(self) == other
        if isinstance(other, bytes):
            return (self.__subtype, bytes(self)) == (getattr(other, "subtype", None), bytes(other))
        return False

    def __ne__(self, other: Any) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return super().__hash__() ^ hash(self.__subtype)

    def __repr__(self) -> str:
        return f"Binary({bytes.__repr__(self)}, {self.__subtype})"


class Timestamp:
    """A BSON timestamp: ``time`` (seconds since the epoch, or an aware/naive-UTC datetime)
    and ``inc`` (an ordinal within the second), as pymongo's ``bson.Timestamp``."""

    __slots__ = ("__time", "__inc")

    def __init__(self, time: Union[datetime.datetime, int], inc: int) -> None:
        if isinstance(time, datetime.datetime):
            offset = time.utcoffset()
            if offset is not None:
                time = time - offset
            time = int(calendar.timegm(time.timetuple()))
        if not isinstance(time, int) or isinstance(time, bool):
            raise TypeError("time must be an instance of int")
        if not isinstance(inc, int) or isinstance(inc, bool):
            raise TypeError("inc must be an instance of int")
        if not 0 <= time < 2**32:
            raise ValueError("time must be contained in [0, 2**32)")
        if not 0 <= inc < 2**32:
            raise ValueError("inc must be contained in [0, 2**32)")
        self.__time = time
        self.__inc = inc

    @property
    def time(self) -> int:
        return self.__time

    @property
    def inc(self) -> int:
        return self.__inc

    def as_datetime(self) -> datetime.datetime:
        """The ``time`` part as an aware UTC datetime."""
        return datetime.datetime.fromtimestamp(self.__time, _UTC)

    def _key(self, other: Any) -> Optional[Tuple[int, int]]:
        if isinstance(other, Timestamp) or (type(other).__name__ == "Timestamp" and hasattr(other, "inc")):
            return (other.time, other.inc)
        return None

    def __eq__(self, other: Any) -> bool:
        k = self._key(other)
        return NotImplemented if k is None else (self.__time, self.__inc) == k

    def __ne__(self, other: Any) -> bool:
        k = self._key(other)
        return NotImplemented if k is None else (self.__time, self.__inc) != k

    def __lt__(self, other: Any) -> bool:
        k = self._key(other)
        return NotImplemented if k is None else (self.__time, self.__inc) < k

    def __le__(self, other: Any) -> bool:
        k = self._key(other)
        return NotImplemented if k is None else (self.__time, self.__inc) <= k

    def __gt__(self, other: Any) -> bool:
        k = self._key(other)
        return NotImplemented if k is None else (self.__time, self.__inc) > k

    def __ge__(self, other: Any) -> bool:
        k = self._key(other)
        return NotImplemented if k is None else (self.__time, self.__inc) >= k

    def __hash__(self) -> int:
        return hash((self.__time, self.__inc))

    def __repr__(self) -> str:
        return f"Timestamp({self.__time}, {self.__inc})"


_RE_FLAG_LETTERS = (
    (re.IGNORECASE, "i"),
    (re.LOCALE, "l"),
    (re.MULTILINE, "m"),
    (re.DOTALL, "s"),
    (re.UNICODE, "u"),
    (re.VERBOSE, "x"),
)


def _flags_from_str(flags: str) -> int:
    value = 0
    for flag, letter in _RE_FLAG_LETTERS:
        if letter in flags:
            value |= flag
    return int(value)


class Regex:
    """A BSON regular expression (pymongo's ``bson.Regex``): ``pattern`` and ``flags`` (an int
    of ``re`` flags; BSON option letters such as ``"im"`` are accepted too)."""

    __slots__ = ("pattern", "flags")

    def __init__(self, pattern: Union[str, bytes], flags: Union[str, int] = 0) -> None:
        if not isinstance(pattern, (str, bytes)):
            raise TypeError(f"pattern must be an instance of str or bytes, not {type(pattern)}")
        self.pattern: Union[str, bytes] = pattern
        if isinstance(flags, str):
            self.flags: int = _flags_from_str(flags)
        elif isinstance(flags, int):
            self.flags = int(flags)
        else:
            raise TypeError(f"flags must be a str or int, not {type(flags)}")

    @classmethod
    def from_native(cls, regex: Pattern[Any]) -> "Regex":
        """A ``Regex`` from a compiled ``re.Pattern``."""
        if not isinstance(regex, re.Pattern):
            raise TypeError(f"regex must be a compiled regular expression, not {type(regex)}")
        return cls(regex.pattern, regex.flags)

    def try_compile(self) -> Pattern[Any]:
        """Compile with Python's ``re`` (which may reject PCRE-only syntax)."""
        return re.compile(self.pattern, self.flags)

    def __eq__(self, other: Any) -> bool:
        if isinstance(other, Regex) or type(other).__name__ == "Regex":
            return bool(self.pattern == getattr(other, "pattern", None) and self.flags == getattr(other, "flags", None))
        return NotImplemented

    def __ne__(self, other: Any) -> bool:
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Regex({self.pattern!r}, {self.flags!r})"


class Int64(int):
    """A BSON 64-bit integer (pymongo's ``bson.int64.Int64``); an ``int`` in every other way."""

    __slots__ = ()
    _type_marker = 18

    def __getstate__(self) -> Any:
        return {}

    def __setstate__(self, state: Any) -> None:
        pass


class MinKey:
    """The BSON value that sorts before every other (pymongo's ``bson.MinKey``)."""

    __slots__ = ()
    _type_marker = 255

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, MinKey) or type(other).__name__ == "MinKey"

    def __hash__(self) -> int:
        return hash(self._type_marker)

    def __ne__(self, other: Any) -> bool:
        return not self == other

    def __le__(self, other: Any) -> bool:
        return True

    def __lt__(self, other: Any) -> bool:
        return not self == other

    def __ge__(self, other: Any) -> bool:
        return bool(self == other)

    def __gt__(self, other: Any) -> bool:
        return False

    def __repr__(self) -> str:
        return "MinKey()"


class MaxKey:
    """The BSON value that sorts after every other (pymongo's ``bson.MaxKey``)."""

    __slots__ = ()
    _type_marker = 127

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, MaxKey) or type(other).__name__ == "MaxKey"

    def __hash__(self) -> int:
        return hash(self._type_marker)

    def __ne__(self, other: Any) -> bool:
        return not self == other

    def __le__(self, other: Any) -> bool:
        return bool(self == other)

    def __lt__(self, other: Any) -> bool:
        return False

    def __ge__(self, other: Any) -> bool:
        return True

    def __gt__(self, other: Any) -> bool:
        return not self == other

    def __repr__(self) -> str:
        return "MaxKey()"


class Code(str):
    """JavaScript code (pymongo's ``bson.Code``); stored, never run. ``scope`` is kept for
    pymongo compatibility."""

    _type_marker = 13
    __scope: Optional[Dict[str, Any]]

    def __new__(cls, code: Union[str, "Code"], scope: Optional[Mapping[str, Any]] = None, **kwargs: Any) -> "Code":
        if not isinstance(code, str):
            raise TypeError("code must be an instance of str")
        self = str.__new__(cls, code)
        merged = dict(getattr(code, "scope", None) or {})
        if scope is not None:
            merged.update(scope)
        merged.update(kwargs)
        self.__scope = merged if (scope is not None or kwargs or getattr(code, "scope", None)) else None
        return self

    @property
    def scope(self) -> Optional[Dict[str, Any]]:
        return self.__scope

    def __repr__(self) -> str:
        return f"Code({str.__repr__(self)}, {self.__scope!r})"

    def __eq__(self, other: Any) -> bool:
        if isinstance(other, Code):
            return (self.__scope, str(self)) == (other.scope, str(other))
        return False

    def __ne__(self, other: Any) -> bool:
        return not self == other

    __hash__ = str.__hash__
