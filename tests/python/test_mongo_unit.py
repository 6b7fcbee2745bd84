"""The pymongo layer's pure-Python logic, against a fake native layer that records the commands
it is sent and answers with canned MongoDB replies: argument validation, command shapes, sort
normalisation, cursor batching (find/getMore/killCursors), results and error mapping."""

from __future__ import annotations

import datetime
from typing import Any, Callable, Dict, List, Mapping, Optional

import pytest

import nestdb
from nestdb import (
    ASCENDING,
    DESCENDING,
    DeleteMany,
    DeleteOne,
    InsertOne,
    MongoClient,
    ObjectId,
    ReplaceOne,
    ReturnDocument,
    UpdateMany,
    UpdateOne,
)
from nestdb.errors import (
    BulkWriteError,
    CollectionInvalid,
    ConfigurationError,
    CursorNotFound,
    DuplicateKeyError,
    ExecutionTimeout,
    InvalidDocument,
    InvalidName,
    InvalidOperation,
    OperationFailure,
    PyMongoError,
    WriteError,
)
from nestdb.mongo.common import index_document, index_list, sort_document


class FakeNative:
    """Stands in for ``nestdb._nestdb.Database``: records commands; ``handler`` answers."""

    def __init__(self, handler: Optional[Callable[[str, Dict[str, Any]], Dict[str, Any]]] = None) -> None:
        self.sent: List[tuple] = []
        self.handler = handler or (lambda db, cmd: {"ok": 1.0})

    def _doc_command(self, db_name: str, command: Mapping[str, Any]) -> Dict[str, Any]:
        cmd = dict(command)
        self.sent.append((db_name, cmd))
        return self.handler(db_name, cmd)

    def names(self) -> List[str]:
        return [next(iter(cmd)) for _, cmd in self.sent]


def client_with(handler: Callable[[str, Dict[str, Any]], Dict[str, Any]], **kwargs: Any) -> tuple:
    fake = FakeNative(handler)
    return MongoClient(_native=fake, **kwargs), fake


def paged(docs: List[Dict[str, Any]]) -> Callable[[str, Dict[str, Any]], Dict[str, Any]]:
    """A find/getMore server over ``docs`` honouring batchSize (101 by default) and limit."""
    state: Dict[str, Any] = {}

    def handler(db: str, cmd: Dict[str, Any]) -> Dict[str, Any]:
        name = next(iter(cmd))
        if name == "find":
            rest = docs[cmd.get("skip", 0):]
            if cmd.get("limit"):
                rest = rest[: cmd["limit"]]
            n = cmd.get("batchSize", 101)
            state["rest"] = rest[n:]
            cid = 0 if not state["rest"] or cmd.get("singleBatch") else 77
            return {"ok": 1.0, "cursor": {"id": nestdb.Int64(cid), "ns": f"{db}.{cmd['find']}", "firstBatch": rest[:n]}}
        if name == "getMore":
            assert cmd["getMore"] == 77 and isinstance(cmd["getMore"], nestdb.Int64)
            n = cmd.get("batchSize") or len(state["rest"])
            batch, state["rest"] = state["rest"][:n], state["rest"][n:]
            return {"ok": 1.0, "cursor": {"id": nestdb.Int64(77 if state["rest"] else 0), "ns": f"{db}.c", "nextBatch": batch}}
        if name == "killCursors":
            return {"ok": 1.0, "cursorsKilled": cmd["cursors"]}
        raise AssertionError(cmd)

    return handler


DOCS = [{"_id": i, "n": i} for i in range(250)]


# -- exports and names -----------------------------------------------------------------------


def test_top_level_exports() -> None:
    from nestdb import MongoClient, InsertOne, UpdateOne, UpdateMany, ReplaceOne, DeleteOne, DeleteMany, ReturnDocument, ASCENDING, DESCENDING, ObjectId  # noqa: F401

    assert (ASCENDING, DESCENDING) == (1, -1)
    assert ReturnDocument.BEFORE is False and ReturnDocument.AFTER is True
    assert issubclass(nestdb.errors.DuplicateKeyError, nestdb.errors.WriteError)
    assert issubclass(nestdb.errors.WriteError, nestdb.errors.OperationFailure)
    assert issubclass(nestdb.errors.OperationFailure, nestdb.errors.PyMongoError)
    assert nestdb.errors.InvalidDocument is nestdb._bson.InvalidDocument
    # the Redis side's exceptions are untouched
    assert nestdb.ConnectionError is nestdb.exceptions.ConnectionError
    assert issubclass(nestdb.ResponseError, nestdb.RedisError)


def test_names_and_access() -> None:
    client, fake = client_with(lambda db, cmd: {"ok": 1.0})
    db = client.shop
    assert db == client["shop"] == client.get_database("shop")
    assert db.name == "shop" and db.client is client
    users = db.users
    assert users == db["users"] == db.get_collection("users")
    assert users.full_name == "shop.users" and users.database is db
    assert db.users.archive.name == "users.archive"
    with pytest.raises(InvalidName):
        client["bad.name"]
    with pytest.raises(InvalidName):
        client["bad name"]
    with pytest.raises(InvalidName):
        db["a$b"]
    with pytest.raises(InvalidName):
        db[""]
    with pytest.raises(TypeError):
        db[5]  # type: ignore[index]
    with pytest.raises(AttributeError):
        client._private
    with pytest.raises(NotImplementedError):
        bool(users)
    with pytest.raises(TypeError):
        users.no_such_method()
    assert fake.sent == []


def test_client_options() -> None:
    fake = FakeNative()
    MongoClient(_native=fake, tz_aware=False, connect=True, serverSelectionTimeoutMS=100, connectTimeoutMS=5, appname="x")
    with pytest.raises(ConfigurationError):
        MongoClient(_native=fake, no_such_option=1)
    with pytest.raises(ConfigurationError):
        MongoClient("mongodb://localhost:27017")
    with pytest.raises(ConfigurationError):
        MongoClient(_native=fake, document_class=list)


def test_close_then_use() -> None:
    client, _ = client_with(lambda db, cmd: {"ok": 1.0, "n": 0})
    with client:
        client.db.c.count_documents({})
    with pytest.raises(InvalidOperation):
        client.db.c.count_documents({})


# -- sort specs --------------------------------------------------------------------------------


def test_sort_forms() -> None:
    assert index_list("a") == [("a", 1)]
    assert index_list("a", -1) == [("a", -1)]
    assert index_list([("a", 1), ("b", -1)]) == [("a", 1), ("b", -1)]
    assert index_list({"a": -1}) == [("a", -1)]
    assert list(index_document([("b", -1), ("a", 1)]).items()) == [("b", -1), ("a", 1)]
    assert sort_document("x") == {"x": 1}
    assert sort_document({"v": -1}) == {"v": -1}
    assert sort_document([("v", DESCENDING)]) == {"v": -1}
    with pytest.raises(TypeError):
        index_list(5)
    with pytest.raises(TypeError):
        index_list(["a"], 1)
    with pytest.raises(ValueError):
        index_document([])
    with pytest.raises(TypeError):
        index_document([("a", None)])


def test_cursor_sort_command() -> None:
    client, fake = client_with(paged([]))
    coll = client.db.c
    list(coll.find({"a": 1}).sort("x", DESCENDING))
    list(coll.find().sort([("x", 1), ("y", -1)]))
    list(coll.find().sort({"z": -1}))
    list(coll.find(sort=[("w", ASCENDING)], projection=["a", "b"], skip=2, limit=3))
    finds = [cmd for _, cmd in fake.sent]
    assert finds[0]["sort"] == {"x": -1} and finds[0]["filter"] == {"a": 1}
    assert list(finds[1]["sort"].items()) == [("x", 1), ("y", -1)]
    assert finds[2]["sort"] == {"z": -1}
    assert finds[3]["sort"] == {"w": 1} and finds[3]["projection"] == {"a": 1, "b": 1}
    assert (finds[3]["skip"], finds[3]["limit"]) == (2, 3)


# -- cursors -----------------------------------------------------------------------------------


def test_cursor_streams_batches() -> None:
    client, fake = client_with(paged(DOCS))
    cursor = client.db.c.find()
    assert cursor.alive
    assert [d["n"] for d in cursor] == list(range(250))
    assert fake.names() == ["find", "getMore"]
    assert not cursor.alive


def test_cursor_batch_size_and_limit() -> None:
    client, fake = client_with(paged(DOCS))
    docs = list(client.db.c.find(batch_size=40, limit=100))
    assert len(docs) == 100
    assert fake.names() == ["find", "getMore", "getMore"]
    sent = [cmd for _, cmd in fake.sent]
    assert sent[0]["batchSize"] == 40 and sent[0]["limit"] == 100
    assert [c.get("batchSize") for c in sent[1:]] == [40, 20]


def test_cursor_early_close_kills() -> None:
    client, fake = client_with(paged(DOCS))
    cursor = client.db.c.find(batch_size=10)
    assert next(cursor)["n"] == 0
    cursor.close()
    assert fake.names() == ["find", "killCursors"]
    assert fake.sent[-1][1] == {"killCursors": "c", "cursors": [77]}
    assert list(cursor) == [] or True
    with client.db.c.find(batch_size=10) as c2:
        next(c2)
    assert fake.names()[-1] == "killCursors"


def test_cursor_gc_kills() -> None:
    client, fake = client_with(paged(DOCS))
    cursor = client.db.c.find(batch_size=10)
    next(cursor)
    del cursor
    import gc

    gc.collect()
    assert fake.names() == ["find", "killCursors"]


def test_cursor_modifiers_after_start() -> None:
    client, _ = client_with(paged(DOCS))
    cursor = client.db.c.find()
    next(cursor)
    for modify in (lambda: cursor.sort("a"), lambda: cursor.skip(1), lambda: cursor.limit(1), lambda: cursor.batch_size(3)):
        with pytest.raises(InvalidOperation):
            modify()
    cursor.rewind()
    cursor.limit(2)
    assert len(list(cursor)) == 2


def test_cursor_getitem_and_to_list() -> None:
    client, fake = client_with(paged(DOCS))
    coll = client.db.c
    assert coll.find()[5] == {"_id": 5, "n": 5}
    assert fake.sent[-1][1]["skip"] == 5 and fake.sent[-1][1]["singleBatch"] is True
    with pytest.raises(IndexError):
        coll.find()[1000]
    with pytest.raises(IndexError):
        coll.find()[-1]
    assert [d["n"] for d in coll.find()[3:6]] == [3, 4, 5]
    with pytest.raises(IndexError):
        coll.find()[1:5:2]
    cursor = coll.find(batch_size=50)
    assert len(cursor.to_list(120)) == 120
    assert len(cursor.to_list()) == 130
    with pytest.raises(ValueError):
        coll.find().to_list(0)
    clone = coll.find({"n": 1}).limit(3).clone()
    assert clone._limit == 3 and clone._spec == {"n": 1}


def test_cursor_explain_and_validation() -> None:
    client, fake = client_with(lambda db, cmd: {"ok": 1.0, "queryPlanner": {}})
    plan = client.db.c.find({"a": 1}).sort("b").explain()
    assert "queryPlanner" in plan
    assert fake.sent[-1][1]["explain"] == {"find": "c", "filter": {"a": 1}, "sort": {"b": 1}}
    with pytest.raises(TypeError):
        client.db.c.find([("a", 1)])
    with pytest.raises(TypeError):
        client.db.c.find(skip="1")
    with pytest.raises(ValueError):
        client.db.c.find().skip(-1)


def test_tz_aware_decoding() -> None:
    when = datetime.datetime(2024, 1, 15, 10, 30, 0, 123000)
    client, _ = client_with(paged([{"_id": 1, "at": when, "sub": {"at": [when]}}]), tz_aware=True)
    doc = client.db.c.find_one()
    assert doc["at"] == when.replace(tzinfo=datetime.timezone.utc)
    assert doc["sub"]["at"][0].tzinfo is not None


# -- writes: commands, results, errors -------------------------------------------------------------


def test_insert_one_adds_id_in_place() -> None:
    client, fake = client_with(lambda db, cmd: {"ok": 1.0, "n": 1})
    doc: Dict[str, Any] = {"name": "Ann"}
    result = client.db.users.insert_one(doc)
    assert isinstance(doc["_id"], ObjectId) and result.inserted_id == doc["_id"] and result.acknowledged
    assert fake.sent[-1] == ("db", {"insert": "users", "documents": [doc], "ordered": True})
    keep = {"_id": 7}
    assert client.db.users.insert_one(keep).inserted_id == 7
    with pytest.raises(TypeError):
        client.db.users.insert_one([("a", 1)])  # type: ignore[arg-type]


def test_insert_many() -> None:
    client, fake = client_with(lambda db, cmd: {"ok": 1.0, "n": len(cmd["documents"])})
    docs = [{"a": 1}, {"_id": "x"}]
    result = client.db.c.insert_many(docs, ordered=False)
    assert result.inserted_ids == [docs[0]["_id"], "x"]
    assert fake.sent[-1][1]["ordered"] is False
    with pytest.raises(TypeError):
        client.db.c.insert_many([])
    with pytest.raises(TypeError):
        client.db.c.insert_many({"a": 1})  # type: ignore[arg-type]


def test_update_validation() -> None:
    client, fake = client_with(lambda db, cmd: {"ok": 1.0, "n": 1, "nModified": 1})
    coll = client.db.c
    with pytest.raises(ValueError, match=r"update only works with \$ operators"):
        coll.update_one({}, {"a": 1})
    with pytest.raises(ValueError, match=r"update only works with \$ operators"):
        coll.update_many({}, {"a": 1})
    with pytest.raises(ValueError, match=r"replacement can not include \$ operators"):
        coll.replace_one({}, {"$set": {"a": 1}})
    with pytest.raises(ValueError):
        coll.find_one_and_update({}, {"a": 1})
    with pytest.raises(TypeError):
        coll.update_one([], {"$set": {"a": 1}})  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        coll.update_one({}, {"$set": {"a": 1}}, upsert=1)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="collation is not supported by nestdb"):
        coll.update_one({}, {"$set": {"a": 1}}, collation={"locale": "fr"})
    with pytest.raises(ConfigurationError, match="collation"):
        coll.find({}, collation={"locale": "fr"})
    with pytest.raises(ConfigurationError, match="collation"):
        coll.aggregate([], collation={"locale": "fr"})
    assert fake.sent == []
    result = coll.update_one({"a": 1}, [{"$set": {"b": 2}}], array_filters=[{"x.y": 1}], hint="a_1")
    cmd = fake.sent[-1][1]
    assert cmd["updates"] == [{"q": {"a": 1}, "u": [{"$set": {"b": 2}}], "multi": False, "upsert": False, "arrayFilters": [{"x.y": 1}], "hint": "a_1"}]
    assert (result.matched_count, result.modified_count, result.upserted_id) == (1, 1, None)
    assert result.raw_result["updatedExisting"] is True


def test_update_upsert_result() -> None:
    oid = ObjectId()
    client, _ = client_with(lambda db, cmd: {"ok": 1.0, "n": 1, "nModified": 0, "upserted": [{"index": 0, "_id": oid}]})
    result = client.db.c.update_one({"email": "j@x"}, {"$set": {"n": 1}}, upsert=True)
    assert (result.matched_count, result.modified_count, result.upserted_id) == (0, 0, oid)
    assert result.raw_result == {"ok": 1.0, "n": 1, "nModified": 0, "upserted": oid, "updatedExisting": False}


def test_write_error_mapping() -> None:
    err = {"index": 0, "code": 11000, "errmsg": "E11000 duplicate key error collection: db.c index: _id_ dup key: { _id: 1 }", "keyPattern": {"_id": 1}, "keyValue": {"_id": 1}}
    client, _ = client_with(lambda db, cmd: {"ok": 1.0, "n": 0, "writeErrors": [err]})
    with pytest.raises(DuplicateKeyError) as info:
        client.db.c.insert_one({"_id": 1})
    assert info.value.code == 11000 and info.value.details == err
    assert "E11000" in str(info.value)
    other = {"index": 0, "code": 66, "errmsg": "Performing an update on the path '_id' would modify the immutable field '_id'"}
    client, _ = client_with(lambda db, cmd: {"ok": 1.0, "n": 0, "nModified": 0, "writeErrors": [other]})
    with pytest.raises(WriteError) as winfo:
        client.db.c.update_one({}, {"$set": {"_id": 2}})
    assert not isinstance(winfo.value, DuplicateKeyError) and winfo.value.code == 66


def test_command_failure_mapping() -> None:
    def failing(code: int, name: str) -> Callable[[str, Dict[str, Any]], Dict[str, Any]]:
        return lambda db, cmd: {"ok": 0.0, "errmsg": "boom", "code": code, "codeName": name}

    for code, name, cls in ((2, "BadValue", OperationFailure), (50, "MaxTimeMSExpired", ExecutionTimeout), (43, "CursorNotFound", CursorNotFound), (11000, "DuplicateKey", DuplicateKeyError)):
        client, _ = client_with(failing(code, name))
        with pytest.raises(cls) as info:
            client.db.c.count_documents({})
        assert info.value.code == code and info.value.code_name == name
        assert info.value.details["errmsg"] == "boom"
        assert isinstance(info.value, PyMongoError)
    client, _ = client_with(failing(2, "BadValue"))
    assert client.db.command("ping", check=False)["ok"] == 0.0
    assert client.db.command("ping", allowable_errors=[2])["code"] == 2


def test_bulk_write_ordered_partial() -> None:
    dup = {"index": 1, "code": 11000, "errmsg": "E11000 duplicate key error", "keyPattern": {"_id": 1}, "keyValue": {"_id": 1}}

    def handler(db: str, cmd: Dict[str, Any]) -> Dict[str, Any]:
        if "insert" in cmd:
            return {"ok": 1.0, "n": 1, "writeErrors": [dup]}
        raise AssertionError("ordered bulk must stop at the failing run")

    client, fake = client_with(handler)
    with pytest.raises(BulkWriteError) as info:
        client.db.c.bulk_write([InsertOne({"_id": 0}), InsertOne({"_id": 1}), InsertOne({"_id": 2}), DeleteOne({"_id": 0})])
    details = info.value.details
    assert details["nInserted"] == 1 and details["nRemoved"] == 0
    assert details["writeErrors"][0]["index"] == 1 and details["writeErrors"][0]["op"] == {"_id": 1}
    assert info.value.code == 65
    assert fake.names() == ["insert"]


def test_bulk_write_unordered_groups_and_indexes() -> None:
    def handler(db: str, cmd: Dict[str, Any]) -> Dict[str, Any]:
        if "insert" in cmd:
            return {"ok": 1.0, "n": 1, "writeErrors": [{"index": 1, "code": 11000, "errmsg": "dup"}]}
        if "update" in cmd:
            return {"ok": 1.0, "n": 2, "nModified": 1, "upserted": [{"index": 1, "_id": "u"}]}
        return {"ok": 1.0, "n": 3}

    client, fake = client_with(handler)
    requests = [
        InsertOne({"_id": 1}),
        UpdateOne({"a": 1}, {"$set": {"b": 1}}),
        InsertOne({"_id": 1}),
        DeleteMany({}),
        ReplaceOne({"a": 2}, {"a": 3}, upsert=True),
    ]
    with pytest.raises(BulkWriteError) as info:
        client.db.c.bulk_write(requests, ordered=False)
    d = info.value.details
    assert fake.names() == ["insert", "update", "delete"]
    assert (d["nInserted"], d["nMatched"], d["nModified"], d["nUpserted"], d["nRemoved"]) == (1, 1, 1, 1, 3)
    assert d["upserted"] == [{"index": 4, "_id": "u"}]
    assert d["writeErrors"][0]["index"] == 2
    assert fake.sent[1][1]["updates"][1] == {"q": {"a": 2}, "u": {"a": 3}, "multi": False, "upsert": True}


def test_bulk_write_result_and_validation() -> None:
    def handler(db: str, cmd: Dict[str, Any]) -> Dict[str, Any]:
        if "update" in cmd:
            return {"ok": 1.0, "n": 1, "nModified": 1}
        return {"ok": 1.0, "n": 1}

    client, _ = client_with(handler)
    result = client.db.c.bulk_write([InsertOne({"x": 1}), UpdateMany({}, {"$inc": {"x": 1}}), DeleteOne({})])
    assert (result.inserted_count, result.matched_count, result.modified_count, result.deleted_count, result.upserted_count) == (1, 1, 1, 1, 0)
    assert result.upserted_ids == {}
    with pytest.raises(InvalidOperation):
        client.db.c.bulk_write([])
    with pytest.raises(TypeError):
        client.db.c.bulk_write([{"insertOne": {}}])  # type: ignore[list-item]
    with pytest.raises(ValueError):
        client.db.c.bulk_write([UpdateOne({}, {"x": 1})])
    assert InsertOne({"a": 1}) == InsertOne({"a": 1}) and UpdateOne({}, {"$set": {}}) != UpdateMany({}, {"$set": {}})


def test_find_one_and_update_command() -> None:
    client, fake = client_with(lambda db, cmd: {"ok": 1.0, "value": {"_id": 1, "n": 2}, "lastErrorObject": {"n": 1, "updatedExisting": True}})
    doc = client.db.c.find_one_and_update({"_id": 1}, {"$inc": {"n": 1}}, projection={"n": 1}, sort=[("n", -1)], upsert=True, return_document=ReturnDocument.AFTER)
    assert doc == {"_id": 1, "n": 2}
    assert fake.sent[-1][1] == {"findAndModify": "c", "query": {"_id": 1}, "new": True, "update": {"$inc": {"n": 1}}, "fields": {"n": 1}, "sort": {"n": -1}, "upsert": True}
    client.db.c.find_one_and_delete({"a": 1}, sort={"b": 1})
    assert fake.sent[-1][1]["remove"] is True and fake.sent[-1][1]["sort"] == {"b": 1}
    with pytest.raises(ValueError):
        client.db.c.find_one_and_replace({}, {"$set": {}})
    with pytest.raises(ValueError):
        client.db.c.find_one_and_update({}, {"$set": {}}, return_document="after")  # type: ignore[arg-type]


def test_find_one_non_mapping_is_id() -> None:
    client, fake = client_with(paged([]))
    oid = ObjectId()
    assert client.db.c.find_one(oid) is None
    assert fake.sent[-1][1]["filter"] == {"_id": oid}


def test_database_commands() -> None:
    def handler(db: str, cmd: Dict[str, Any]) -> Dict[str, Any]:
        name = next(iter(cmd))
        if name == "listCollections":
            batch = [{"name": "users", "type": "collection"}]
            if cmd.get("filter") == {"name": "orders"}:
                batch = []
            return {"ok": 1.0, "cursor": {"id": 0, "ns": f"{db}.$cmd.listCollections", "firstBatch": batch}}
        if name == "drop":
            return {"ok": 0.0, "errmsg": "ns not found", "code": 26, "codeName": "NamespaceNotFound"}
        return {"ok": 1.0, "n": 3}

    client, fake = client_with(handler)
    db = client.shop
    assert db.list_collection_names() == ["users"]
    assert fake.sent[-1][1]["nameOnly"] is True
    with pytest.raises(CollectionInvalid):
        db.create_collection("users")
    db.create_collection("orders")
    assert fake.sent[-1] == ("shop", {"create": "orders"})
    assert db.drop_collection("nope")["code"] == 26
    assert db.command("ping")["ok"] == 1.0
    assert fake.sent[-1] == ("shop", {"ping": 1})
    db.command({"count": "users"})
    assert fake.sent[-1] == ("shop", {"count": "users"})
    db.command("count", "users", query={"a": 1})
    assert fake.sent[-1] == ("shop", {"count": "users", "query": {"a": 1}})
    db.users.rename("people", dropTarget=True)
    assert fake.sent[-1] == ("admin", {"renameCollection": "shop.users", "to": "shop.people", "dropTarget": True})
    with pytest.raises(InvalidName):
        db.users.rename("a$b")
    assert db.users.count_documents({"a": 1}, skip=1, limit=5) == 3
    assert fake.sent[-1][1] == {"count": "users", "query": {"a": 1}, "skip": 1, "limit": 5}
    assert db.users.estimated_document_count() == 3


def test_aggregate_command_cursor() -> None:
    def handler(db: str, cmd: Dict[str, Any]) -> Dict[str, Any]:
        if "aggregate" in cmd:
            return {"ok": 1.0, "cursor": {"id": nestdb.Int64(5), "ns": "db.c", "firstBatch": [{"x": 1}]}}
        if "getMore" in cmd:
            return {"ok": 1.0, "cursor": {"id": nestdb.Int64(0), "ns": "db.c", "nextBatch": [{"x": 2}]}}
        raise AssertionError(cmd)

    client, fake = client_with(handler)
    cursor = client.db.c.aggregate([{"$match": {}}], batchSize=1, allowDiskUse=True, maxTimeMS=100, comment="c")
    assert isinstance(cursor, nestdb.CommandCursor)
    assert list(cursor) == [{"x": 1}, {"x": 2}]
    cmd = fake.sent[0][1]
    assert cmd["cursor"] == {"batchSize": 1} and cmd["allowDiskUse"] is True and cmd["maxTimeMS"] == 100
    assert fake.sent[1][1] == {"getMore": 5, "collection": "c", "batchSize": 1}
    with pytest.raises(TypeError):
        client.db.c.aggregate({"$match": {}})  # type: ignore[arg-type]


def test_invalid_document_is_bson_error() -> None:
    def handler(db: str, cmd: Dict[str, Any]) -> Dict[str, Any]:
        raise InvalidDocument("cannot encode object: {1, 2}, of type: <class 'set'>")

    client, _ = client_with(handler)
    with pytest.raises(InvalidDocument):
        client.db.c.insert_one({"s": {1, 2}})


def test_index_commands() -> None:
    def handler(db: str, cmd: Dict[str, Any]) -> Dict[str, Any]:
        if "listIndexes" in cmd:
            return {"ok": 1.0, "cursor": {"id": 0, "ns": "db.c", "firstBatch": [{"v": 2, "key": {"_id": 1}, "name": "_id_"}, {"v": 2, "key": {"a": 1, "b": -1}, "name": "a_1_b_-1", "unique": True}]}}
        return {"ok": 1.0}

    client, fake = client_with(handler)
    coll = client.db.c
    assert coll.create_index([("a", ASCENDING), ("b", DESCENDING)], unique=True) == "a_1_b_-1"
    assert fake.sent[-1][1] == {"createIndexes": "c", "indexes": [{"unique": True, "name": "a_1_b_-1", "key": {"a": 1, "b": -1}}]}
    assert coll.create_index("email", name="by_email", expireAfterSeconds=60) == "by_email"
    assert coll.create_indexes([nestdb.IndexModel([("x", 1)]), nestdb.IndexModel("y")]) == ["x_1", "y_1"]
    info = coll.index_information()
    assert info["a_1_b_-1"] == {"v": 2, "key": [("a", 1), ("b", -1)], "unique": True}
    coll.drop_index([("a", 1), ("b", -1)])
    assert fake.sent[-1][1] == {"dropIndexes": "c", "index": "a_1_b_-1"}
    coll.drop_indexes()
    assert fake.sent[-1][1] == {"dropIndexes": "c", "index": "*"}
    with pytest.raises(TypeError):
        coll.create_indexes([{"key": {"a": 1}}])  # type: ignore[list-item]
    with pytest.raises(ConfigurationError):
        coll.create_index("a", collation={"locale": "en"})


def test_sessions_pass_through() -> None:
    client, fake = client_with(paged([{"_id": 1}]))
    with client.start_session() as session:
        assert session.client is client and not session.in_transaction
        assert session.session_id["id"].subtype == 4
        assert client.db.c.find_one({}, session=session) == {"_id": 1}
        with pytest.raises(InvalidOperation, match="transaction"):
            session.start_transaction()
        with pytest.raises(InvalidOperation):
            session.with_transaction(lambda s: None)
    assert session.has_ended
    with pytest.raises(InvalidOperation):
        session.session_id
