"""Shared pieces of the pymongo-compatible layer: constants (``ASCENDING``, ``ReturnDocument``),
argument validation as pymongo does it (names, documents, updates, sort specs), and the mapping
from MongoDB reply documents to pymongo's exceptions."""

from __future__ import annotations

import datetime
from collections import abc
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

from ..errors import (
    CollectionInvalid,
    ConfigurationError,
    InvalidName,
    OperationFailure,
    _operation_failure,
    _write_error,
)

__all__ = [
    "ASCENDING",
    "DESCENDING",
    "GEO2D",
    "GEOSPHERE",
    "HASHED",
    "TEXT",
    "ReturnDocument",
    "CursorType",
]

ASCENDING = 1
"""Ascending sort order."""
DESCENDING = -1
"""Descending sort order."""
GEO2D = "2d"
GEOSPHERE = "2dsphere"
HASHED = "hashed"
TEXT = "text"


class ReturnDocument:
    """Which document ``find_one_and_update``/``find_one_and_replace`` return."""

    BEFORE = False
    """The document as it was before the update (the default)."""
    AFTER = True
    """The document as it is after the update."""


class CursorType:
    """Cursor types (pymongo's ``CursorType``); nestdb cursors are always ``NON_TAILABLE``."""

    NON_TAILABLE = 0
    TAILABLE = 2
    TAILABLE_AWAIT = 34
    EXHAUST = 64


SortSpec = Union[str, Sequence[Union[str, Tuple[str, Union[int, str, Mapping[str, Any]]]]], Mapping[str, Any]]


def index_list(key_or_list: Any, direction: Any = None) -> List[Tuple[str, Any]]:
    """pymongo's ``_index_list``: a key, a key and a direction, a list of keys or (key,
    direction) pairs, or a mapping, as a list of pairs."""
    if direction is not None:
        if not isinstance(key_or_list, str):
            raise TypeError(f"Expected a string and a direction, not {type(key_or_list)}")
        return [(key_or_list, direction)]
    if isinstance(key_or_list, str):
        return [(key_or_list, ASCENDING)]
    if isinstance(key_or_list, abc.ItemsView):
        return list(key_or_list)
    if isinstance(key_or_list, abc.Mapping):
        return list(key_or_list.items())
    if not isinstance(key_or_list, (list, tuple)):
        raise TypeError(f"if no direction is specified, key_or_list must be an instance of list, not {type(key_or_list)}")
    values: List[Tuple[str, Any]] = []
    for item in key_or_list:
        if isinstance(item, str):
            item = (item, ASCENDING)
        values.append(item)
    return values


def _validate_key_pair(key: Any, value: Any) -> None:
    if not isinstance(key, str):
        raise TypeError(f"first item in each key pair must be an instance of str, not {type(key)}")
    if isinstance(value, bool) or not isinstance(value, (str, int, float, abc.Mapping)):
        raise TypeError(
            "second item in each key pair must be 1, -1, '2d', or another valid MongoDB index specifier."
            f", not {type(value)}"
        )


def index_document(spec: Any) -> Dict[str, Any]:
    """pymongo's ``_index_document``: a sort (or hint) specification as an ordered dict."""
    if not isinstance(spec, (list, tuple, abc.Mapping)):
        raise TypeError("must use a dictionary or a list of (key, direction) pairs, not: " + repr(spec))
    if not len(spec):
        raise ValueError("key_or_list must not be empty")
    out: Dict[str, Any] = {}
    items: Iterable[Any] = spec.items() if isinstance(spec, abc.Mapping) else spec
    for item in items:
        if isinstance(item, str):
            item = (item, ASCENDING)
        key, value = item
        _validate_key_pair(key, value)
        out[key] = value
    return out


def sort_document(sort: Any) -> Optional[Dict[str, Any]]:
    """A ``sort=`` argument (any of pymongo's forms) as the command's sort document."""
    if sort is None:
        return None
    if isinstance(sort, str):
        return {sort: ASCENDING}
    return index_document(index_list(sort)) if not isinstance(sort, abc.Mapping) else index_document(sort)


def hint_value(hint: Any) -> Any:
    """A ``hint=`` argument: an index name or a key specification."""
    if hint is None or isinstance(hint, str):
        return hint
    return index_document(index_list(hint))


def validate_is_mapping(option: str, value: Any) -> None:
    if type(value) is dict:  # the common case, without the ABC check
        return
    if not isinstance(value, abc.Mapping):
        raise TypeError(
            f"{option} must be an instance of dict, bson.son.SON, or any other type that inherits from collections.Mapping, not {type(value)}"
        )


def validate_is_document_type(option: str, value: Any) -> None:
    if not isinstance(value, (abc.MutableMapping,)) and not isinstance(value, abc.Mapping):
        raise TypeError(
            f"{option} must be an instance of dict, bson.son.SON, bson.raw_bson.RawBSONDocument, or a type that inherits from collections.MutableMapping, not {type(value)}"
        )


def validate_ok_for_replace(replacement: Any) -> None:
    validate_is_mapping("replacement", replacement)
    if replacement:
        first = next(iter(replacement))
        if isinstance(first, str) and first.startswith("$"):
            raise ValueError("replacement can not include $ operators")


def validate_ok_for_update(update: Any) -> None:
    if isinstance(update, list):
        if not update:
            raise ValueError("update cannot be empty")
        for stage in update:
            validate_is_mapping("update", stage)
        return
    validate_is_mapping("update", update)
    if not update:
        raise ValueError("update cannot be empty")
    first = next(iter(update))
    if not (isinstance(first, str) and first.startswith("$")):
        raise ValueError("update only works with $ operators")


def validate_boolean(option: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{option} must be True or False, was: {option}={value!r}")
    return value


def validate_non_negative_int(option: str, value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{option} must be an integer, not {type(value)}")
    if value < 0:
        raise ValueError(f"{option} must be >= 0")
    return value


def validate_int(option: str, value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{option} must be an instance of int, not {type(value)}")
    return value


def validate_list(option: str, value: Any) -> List[Any]:
    if not isinstance(value, list):
        raise TypeError(f"{option} must be a list, not {type(value)}")
    return value


def reject_collation(collation: Any) -> None:
    """nestdb compares strings by code point only: a ``collation`` cannot be honoured."""
    if collation is not None:
        raise ConfigurationError("collation is not supported by nestdb")


def check_database_name(name: Any) -> str:
    """pymongo's database name validation."""
    if not isinstance(name, str):
        raise TypeError(f"name must be an instance of str, not {type(name)}")
    if not name:
        raise InvalidName("database name cannot be the empty string")
    for invalid in (" ", ".", "$", "/", "\\", "\x00", '"'):
        if invalid in name:
            raise InvalidName(f"database names cannot contain the character {invalid!r}")
    return name


def check_collection_name(name: Any) -> str:
    """pymongo's collection name validation."""
    if not isinstance(name, str):
        raise TypeError(f"name must be an instance of str, not {type(name)}")
    if not name or ".." in name:
        raise InvalidName("collection names cannot be empty")
    if "$" in name and not (name.startswith(("oplog.$main", "$cmd"))):
        raise InvalidName(f"collection names must not contain '$': {name!r}")
    if name[0] == "." or name[-1] == ".":
        raise InvalidName(f"collection names must not start or end with '.': {name!r}")
    if "\x00" in name:
        raise InvalidName("collection names must not contain the null character")
    return name


def check_reply(reply: Mapping[str, Any]) -> Mapping[str, Any]:
    """Raise pymongo's exception for an ``ok: 0`` reply; return the reply otherwise."""
    if not reply.get("ok"):
        if "errmsg" not in reply and "code" not in reply:
            raise OperationFailure("command failed with no error message", None, dict(reply))
        raise _operation_failure(reply)
    return reply


def check_write_reply(reply: Mapping[str, Any]) -> Mapping[str, Any]:
    """A single-document write's reply: ``ok: 0`` → ``OperationFailure``; a write error →
    ``WriteError``/``DuplicateKeyError`` with the write error document as ``details``."""
    check_reply(reply)
    errors = reply.get("writeErrors")
    if errors:
        raise _write_error(errors[-1])
    return reply


def collection_invalid(message: str) -> CollectionInvalid:
    return CollectionInvalid(message)


def to_aware(value: Any) -> Any:
    """Naive UTC datetimes inside a decoded document → aware UTC datetimes (``tz_aware``)."""
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            return value.replace(tzinfo=datetime.timezone.utc)
        return value
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(v, (dict, list, datetime.datetime)):
                value[k] = to_aware(v)
        return value
    if isinstance(value, list):
        for i, v in enumerate(value):
            if isinstance(v, (dict, list, datetime.datetime)):
                value[i] = to_aware(v)
        return value
    return value
