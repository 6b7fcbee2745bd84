"""pymongo conformance of the API's shape: every public method pymongo's MongoClient,
Database, Collection, Cursor and CommandCursor have (but the documented gaps) exists in
nestdb with the same positional parameters in the same order, and the same keyword-only
ones. Skipped when pymongo is not installed."""

from __future__ import annotations

import inspect
from typing import Any, List

import pytest

import nestdb.mongo as nm

# pymongo features nestdb does not have (change streams, Atlas search indexes, raw BSON
# batches, client-level bulk writes of MongoDB 8, server-only cursor flags).
NOT_OFFERED = {
    "watch",
    "create_search_index",
    "create_search_indexes",
    "drop_search_index",
    "list_search_indexes",
    "update_search_index",
    "find_raw_batches",
    "aggregate_raw_batches",
    "validate_collection",
    "bulk_write@MongoClient",
    "append_metadata",
    "eq_props",
    "add_option",
    "remove_option",
    "max_scan",
}


def _pairs() -> List[Any]:
    pytest.importorskip("pymongo")
    from pymongo.synchronous import collection, command_cursor, cursor, database, mongo_client

    return [
        (mongo_client.MongoClient, nm.MongoClient),
        (database.Database, nm.Database),
        (collection.Collection, nm.Collection),
        (cursor.Cursor, nm.Cursor),
        (command_cursor.CommandCursor, nm.CommandCursor),
    ]


def _positional(fn: Any) -> List[str]:
    params = inspect.signature(fn).parameters.values()
    return [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.POSITIONAL_ONLY)]


def test_methods_and_parameters_match_pymongo() -> None:
    problems = []
    for theirs, ours in _pairs():
        for name, fn in inspect.getmembers(theirs, predicate=inspect.isfunction):
            if name.startswith("_") and name not in ("__getitem__", "__init__"):
                continue
            if name == "__init__" and ours is nm.MongoClient:
                continue  # MongoClient(path=None, **options): the one intended difference
            if name in NOT_OFFERED or f"{name}@{ours.__name__}" in NOT_OFFERED:
                continue
            mine = getattr(ours, name, None)
            if mine is None:
                problems.append(f"{ours.__name__}.{name} is missing")
                continue
            if not callable(mine):
                continue
            want, got = _positional(fn), _positional(mine)
            if got[: len(want)] != want:
                problems.append(f"{ours.__name__}.{name}: pymongo {want}, nestdb {got}")
            mine_params = inspect.signature(mine).parameters
            if not any(p.kind == p.VAR_KEYWORD for p in mine_params.values()):
                for p in inspect.signature(fn).parameters.values():
                    if p.kind == p.KEYWORD_ONLY and p.name not in mine_params:
                        problems.append(f"{ours.__name__}.{name}: keyword {p.name!r} missing")
    assert problems == []


def test_properties_match_pymongo() -> None:
    problems = []
    for theirs, ours in _pairs():
        for name, value in inspect.getmembers(theirs):
            if isinstance(value, property) and not name.startswith("_") and not hasattr(ours, name):
                problems.append(f"{ours.__name__}.{name}")
    allowed = {
        "MongoClient.topology_description", "MongoClient.primary", "MongoClient.secondaries", "MongoClient.arbiters",
        "MongoClient.options", "MongoClient.read_preference", "MongoClient.write_concern", "MongoClient.read_concern",
        "Database.codec_options", "Database.read_preference", "Database.write_concern", "Database.read_concern",
        "Collection.codec_options", "Collection.read_preference", "Collection.write_concern", "Collection.read_concern",
    }
    assert sorted(set(problems) - allowed) == []
