"""Secondary indexes and the query planner, as the MongoDB manual and pymongo document them.

Conformance tests written from the manual (Indexes: single field, compound, multikey, unique,
partial, sparse, TTL, text, hidden; createIndexes / listIndexes / dropIndexes; explain results;
cursor.hint) and pymongo's API (create_index, create_indexes + IndexModel, list_indexes,
index_information, drop_index, drop_indexes, Cursor.explain, Cursor.hint). Everything goes
through ``nestdb.MongoClient`` as pymongo code with only the constructor changed.

Where the manual documents exact results (documents returned, error codes and messages, the
listIndexes document shape) the assertions are exact; where it documents only shapes (explain
plans) the tests walk the plan tree and check the stages they need.
"""

from __future__ import annotations

import datetime
import random
import time
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import pytest

import nestdb
from nestdb import ASCENDING, DESCENDING, IndexModel, MongoClient
from nestdb.errors import BulkWriteError, DuplicateKeyError, OperationFailure, WriteError

pytestmark = pytest.mark.skipif(
    not hasattr(nestdb._nestdb.Database, "_doc_command"), reason="the native layer has no document commands yet"
)

ID_INDEX = {"v": 2, "key": {"_id": 1}, "name": "_id_"}


@pytest.fixture
def db(client: MongoClient) -> Any:
    return client.test


# --- helpers -------------------------------------------------------------------------------------

PLAN_CHILDREN = ("queryPlan", "inputStage", "inputStages", "thenStage", "elseStage", "outerStage", "innerStage")


def plan_stages(node: Any) -> List[Dict[str, Any]]:
    """Every stage document of a plan tree, depth first: FETCH wraps IXSCAN (``inputStage``),
    OR / SORT_MERGE hold ``inputStages``, SBE-era plans nest the tree under ``queryPlan``."""
    out: List[Dict[str, Any]] = []

    def walk(n: Any) -> None:
        if isinstance(n, dict):
            if isinstance(n.get("stage"), str):
                out.append(n)
            for key in PLAN_CHILDREN:
                if key in n:
                    walk(n[key])
        elif isinstance(n, list):
            for x in n:
                walk(x)

    walk(node)
    return out


def all_stages(node: Any) -> List[Dict[str, Any]]:
    """Every document with a string ``stage`` anywhere in a reply (aggregate explains nest the
    query planner's output under ``stages[0].$cursor`` or put it at the top)."""
    out: List[Dict[str, Any]] = []

    def walk(n: Any) -> None:
        if isinstance(n, dict):
            if isinstance(n.get("stage"), str):
                out.append(n)
            for v in n.values():
                walk(v)
        elif isinstance(n, list):
            for x in n:
                walk(x)

    walk(node)
    return out


def winning_plan(explain: Dict[str, Any]) -> Dict[str, Any]:
    return explain["queryPlanner"]["winningPlan"]  # type: ignore[no-any-return]


def stage_names(explain: Dict[str, Any]) -> List[str]:
    return [s["stage"] for s in plan_stages(winning_plan(explain))]


def ixscans(explain: Dict[str, Any]) -> List[Dict[str, Any]]:
    return [s for s in plan_stages(winning_plan(explain)) if s["stage"] == "IXSCAN"]


def ixscan_names(explain: Dict[str, Any]) -> List[str]:
    return [s.get("indexName") for s in ixscans(explain)]  # type: ignore[misc]


def assert_uses_index(explain: Dict[str, Any], name: str) -> Dict[str, Any]:
    """The winning plan scans index ``name`` and does not scan the collection; the IXSCAN stage."""
    names = stage_names(explain)
    assert "COLLSCAN" not in names, explain
    scans = [s for s in ixscans(explain) if s.get("indexName") == name]
    assert scans, f"no IXSCAN of {name!r} in the winning plan: {explain}"
    return scans[0]


def assert_collscan(explain: Dict[str, Any]) -> None:
    names = stage_names(explain)
    assert "COLLSCAN" in names, explain
    assert "IXSCAN" not in names, explain


def explain_find(db: Any, coll: str, filter: Dict[str, Any], **extra: Any) -> Dict[str, Any]:
    """``{explain: {find: ...}, verbosity: "executionStats"}`` (Database.command passes the
    keyword as a top-level field of the command document)."""
    command: Dict[str, Any] = {"find": coll, "filter": filter}
    command.update(extra)
    return db.command("explain", command, verbosity="executionStats")  # type: ignore[no-any-return]


def ids(docs: Any) -> List[Any]:
    return sorted(d["_id"] for d in docs)


def by_id(docs: Sequence[Dict[str, Any]]) -> List[Dict[str, Any]]:
    return sorted(docs, key=lambda d: repr(d["_id"]))


def natural(coll: Any, filter: Dict[str, Any], sort: Any = None, skip: int = 0, limit: int = 0) -> List[Dict[str, Any]]:
    """The same query as a forced collection scan (``hint({"$natural": 1})``): the expected answer."""
    cursor = coll.find(filter, sort=sort, skip=skip, limit=limit).hint([("$natural", 1)])
    return list(cursor)


def utcnow() -> datetime.datetime:
    """Now, as the naive UTC datetime pymongo stores, truncated to BSON's millisecond precision."""
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def wait_until(predicate: Any, timeout: float = 10.0) -> bool:
    """Poll ``predicate`` every 0.2 s for up to ``timeout`` seconds (the TTL monitor runs every second)."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)


# --- index management: createIndexes / listIndexes / dropIndexes -----------------------------------


class TestIndexManagement:
    def test_create_index_returns_generated_or_given_name(self, db: Any) -> None:
        """pymongo create_index: returns the index name, "<field>_<direction>" joined by "_" unless name= is given."""
        assert db.users.create_index("email") == "email_1"
        assert db.users.create_index([("a", ASCENDING), ("b", DESCENDING)]) == "a_1_b_-1"
        assert db.users.create_index("c", name="by_c") == "by_c"
        assert db.users.create_index([("profile.location", 1), ("createdAt", -1)]) == "profile.location_1_createdAt_-1"
        names = [ix["name"] for ix in db.users.list_indexes()]
        assert names == ["_id_", "email_1", "a_1_b_-1", "by_c", "profile.location_1_createdAt_-1"]

    def test_create_indexes_with_index_models(self, db: Any) -> None:
        """pymongo create_indexes([IndexModel...]): one createIndexes command, the list of names."""
        names = db.users.create_indexes(
            [IndexModel([("x", ASCENDING)]), IndexModel("y", unique=True), IndexModel([("z", DESCENDING)], name="zz")]
        )
        assert names == ["x_1", "y_1", "zz"]
        info = db.users.index_information()
        assert info["x_1"] == {"v": 2, "key": [("x", 1)]}
        assert info["y_1"] == {"v": 2, "key": [("y", 1)], "unique": True}
        assert info["zz"] == {"v": 2, "key": [("z", -1)]}

    def test_list_indexes_document_shape(self, db: Any) -> None:
        """listIndexes: every collection has the _id index {v: 2, key: {_id: 1}, name: "_id_"}; options are echoed."""
        db.users.insert_one({"_id": 1, "email": "a@x"})
        assert list(db.users.list_indexes()) == [ID_INDEX]
        db.users.create_index("email", unique=True)
        assert list(db.users.list_indexes()) == [ID_INDEX, {"v": 2, "key": {"email": 1}, "name": "email_1", "unique": True}]

    def test_index_information_shape(self, db: Any) -> None:
        """pymongo index_information(): {name: {"v", "key": [(field, direction)], ...options}}."""
        db.users.insert_one({"email": "a@x"})
        db.users.create_index("email", unique=True)
        assert db.users.index_information() == {
            "_id_": {"v": 2, "key": [("_id", 1)]},
            "email_1": {"v": 2, "key": [("email", 1)], "unique": True},
        }

    def test_index_information_echoes_options(self, db: Any) -> None:
        """listIndexes returns each index's options as given: sparse, partialFilterExpression, expireAfterSeconds, hidden."""
        db.c.create_index("s", sparse=True)
        db.c.create_index("p", partialFilterExpression={"age": {"$gte": 21}})
        db.c.create_index("createdAt", expireAfterSeconds=3600)
        db.c.create_index("h", hidden=True)
        db.c.create_index([("u", 1), ("v", -1)], unique=True, name="uv")
        info = db.c.index_information()
        assert info["s_1"] == {"v": 2, "key": [("s", 1)], "sparse": True}
        assert info["p_1"] == {"v": 2, "key": [("p", 1)], "partialFilterExpression": {"age": {"$gte": 21}}}
        assert info["createdAt_1"] == {"v": 2, "key": [("createdAt", 1)], "expireAfterSeconds": 3600}
        assert info["h_1"] == {"v": 2, "key": [("h", 1)], "hidden": True}
        assert info["uv"] == {"v": 2, "key": [("u", 1), ("v", -1)], "unique": True}
        assert list(info) == ["_id_", "s_1", "p_1", "createdAt_1", "h_1", "uv"]

    def test_create_index_creates_the_collection(self, db: Any) -> None:
        """createIndexes on a missing collection creates it (createdCollectionAutomatically)."""
        assert db.fresh.create_index("a") == "a_1"
        assert "fresh" in db.list_collection_names()
        assert db.fresh.count_documents({}) == 0
        assert [ix["name"] for ix in db.fresh.list_indexes()] == ["_id_", "a_1"]

    def test_create_indexes_command_reply(self, db: Any) -> None:
        """createIndexes output: numIndexesBefore/After, createdCollectionAutomatically; an existing index is a no-op."""
        reply = db.command("createIndexes", "fresh", indexes=[{"key": {"a": 1}, "name": "a_1"}])
        assert reply["ok"] == 1.0
        assert (reply["numIndexesBefore"], reply["numIndexesAfter"]) == (1, 2)
        assert reply["createdCollectionAutomatically"] is True
        again = db.command("createIndexes", "fresh", indexes=[{"key": {"a": 1}, "name": "a_1"}])
        assert again["ok"] == 1.0
        assert (again["numIndexesBefore"], again["numIndexesAfter"]) == (2, 2)
        assert again.get("createdCollectionAutomatically", False) is False
        assert "all indexes already exist" in again.get("note", "")

    def test_creating_the_same_index_twice_is_a_noop(self, db: Any) -> None:
        """createIndexes: an identical index (same name, key and options) already existing is not an error."""
        db.users.insert_many([{"email": "a"}, {"email": "b"}])
        assert db.users.create_index("email", unique=True) == "email_1"
        assert db.users.create_index("email", unique=True) == "email_1"
        assert db.users.create_indexes([IndexModel("email", unique=True)]) == ["email_1"]
        assert list(db.users.index_information()) == ["_id_", "email_1"]

    def test_same_key_different_options_conflicts(self, db: Any) -> None:
        """createIndexes: same name with other options is IndexOptionsConflict (85) or, when the option
        identifies the index (unique/sparse since 5.0), IndexKeySpecsConflict (86)."""
        db.users.create_index("email")
        with pytest.raises(OperationFailure) as info:
            db.users.create_index("email", unique=True)
        assert info.value.code in (85, 86), info.value.details
        assert db.users.index_information()["email_1"] == {"v": 2, "key": [("email", 1)]}

    def test_same_key_and_options_under_another_name_conflicts(self, db: Any) -> None:
        """createIndexes: an identical index under another name is IndexOptionsConflict (85),
        "Index already exists with a different name: email_1"."""
        db.users.create_index("email")
        with pytest.raises(OperationFailure) as info:
            db.users.create_index("email", name="by_email")
        assert info.value.code == 85, info.value.details
        assert "Index already exists with a different name: email_1" in str(info.value)
        assert list(db.users.index_information()) == ["_id_", "email_1"]

    def test_same_name_different_key_conflicts(self, db: Any) -> None:
        """createIndexes: an existing index with the same name but another key pattern is IndexKeySpecsConflict (86)."""
        db.users.create_index("email")
        with pytest.raises(OperationFailure) as info:
            db.users.create_index("phone", name="email_1")
        assert info.value.code == 86, info.value.details
        assert "An existing index has the same name as the requested index" in str(info.value)
        assert db.users.index_information()["email_1"]["key"] == [("email", 1)]

    def test_ttl_on_a_field_with_a_plain_index_conflicts(self, db: Any) -> None:
        """TTL restrictions: a TTL index cannot be created over a field that already has a non-TTL index of the same key."""
        db.events.create_index("at")
        with pytest.raises(OperationFailure) as info:
            db.events.create_index("at", expireAfterSeconds=60)
        assert info.value.code in (85, 86), info.value.details

    def test_zero_in_key_pattern_is_refused(self, db: Any) -> None:
        """Index key patterns: values must be non-zero numbers or index type strings (CannotCreateIndex, 67)."""
        with pytest.raises(OperationFailure) as info:
            db.users.create_index([("a", 0)])
        assert info.value.code == 67, info.value.details
        assert "a_0" not in db.users.index_information()

    def test_at_most_64_indexes(self, db: Any) -> None:
        """Limits: a collection has at most 64 indexes (the 65th is CannotCreateIndex, 67)."""
        for i in range(63):
            db.wide.create_index(f"f{i}")
        assert len(db.wide.index_information()) == 64
        with pytest.raises(OperationFailure) as info:
            db.wide.create_index("one_too_many")
        assert info.value.code == 67, info.value.details
        assert len(db.wide.index_information()) == 64

    def test_drop_index_by_name_and_by_key_spec(self, db: Any) -> None:
        """pymongo drop_index: by name, or by the (key, direction) list it was created with."""
        db.users.insert_one({"a": 1, "b": 2})
        db.users.create_index("a")
        db.users.create_index([("a", 1), ("b", -1)])
        db.users.drop_index("a_1")
        assert list(db.users.index_information()) == ["_id_", "a_1_b_-1"]
        db.users.drop_index([("a", 1), ("b", -1)])
        assert list(db.users.index_information()) == ["_id_"]
        assert db.users.count_documents({}) == 1

    def test_drop_indexes_command_forms(self, db: Any) -> None:
        """dropIndexes: index may be a name, a key pattern document, or a list of names; reply has nIndexesWas."""
        for key in ("a", "b", "c", "d"):
            db.c.create_index(key)
        reply = db.command("dropIndexes", "c", index={"a": 1})
        assert reply["ok"] == 1.0 and reply["nIndexesWas"] == 5
        reply = db.command("dropIndexes", "c", index=["b_1", "c_1"])
        assert reply["nIndexesWas"] == 4
        assert list(db.c.index_information()) == ["_id_", "d_1"]

    def test_drop_indexes_keeps_id_index(self, db: Any) -> None:
        """dropIndexes "*" (pymongo drop_indexes) drops every index but _id_; documents are untouched."""
        db.users.insert_many([{"_id": i, "a": i, "b": -i} for i in range(5)])
        db.users.create_index("a", unique=True)
        db.users.create_index([("b", DESCENDING)])
        db.users.drop_indexes()
        assert list(db.users.list_indexes()) == [ID_INDEX]
        assert db.users.count_documents({}) == 5
        db.users.insert_one({"_id": 10, "a": 1})  # the unique constraint went with the index
        assert db.users.count_documents({"a": 1}) == 2

    def test_dropping_id_index_is_refused(self, db: Any) -> None:
        """dropIndexes: the _id index cannot be dropped (InvalidOptions, 72, "cannot drop _id index")."""
        db.users.insert_one({"a": 1})
        with pytest.raises(OperationFailure) as info:
            db.users.drop_index("_id_")
        assert info.value.code == 72, info.value.details
        assert "cannot drop _id index" in str(info.value)
        assert list(db.users.list_indexes()) == [ID_INDEX]

    def test_dropping_a_missing_index_fails(self, db: Any) -> None:
        """dropIndexes: an unknown name is IndexNotFound (27), "index not found with name [nope_1]"."""
        db.users.insert_one({"a": 1})
        with pytest.raises(OperationFailure) as info:
            db.users.drop_index("nope_1")
        assert info.value.code == 27, info.value.details
        assert "index not found with name [nope_1]" in str(info.value)

    def test_list_indexes_of_a_missing_collection_is_empty(self, db: Any) -> None:
        """pymongo list_indexes / index_information ignore NamespaceNotFound (26): a missing collection has none."""
        assert list(db.nothing.list_indexes()) == []
        assert db.nothing.index_information() == {}

    def test_dropping_the_collection_drops_its_indexes(self, db: Any) -> None:
        """drop(): the collection's indexes go with it; a recreated collection has only _id_."""
        db.users.insert_one({"email": "a"})
        db.users.create_index("email", unique=True)
        db.users.drop()
        db.users.insert_many([{"email": "a"}, {"email": "a"}])
        assert list(db.users.list_indexes()) == [ID_INDEX]

    def test_rename_keeps_indexes(self, db: Any) -> None:
        """renameCollection: the collection keeps its indexes (and their constraints) under the new name."""
        db.users.insert_one({"_id": 1, "email": "a"})
        db.users.create_index("email", unique=True)
        db.users.rename("people")
        assert db.people.index_information()["email_1"] == {"v": 2, "key": [("email", 1)], "unique": True}
        with pytest.raises(DuplicateKeyError):
            db.people.insert_one({"_id": 2, "email": "a"})


# --- unique indexes -----------------------------------------------------------------------------------


class TestUnique:
    def test_duplicate_insert_raises_duplicate_key_error(self, db: Any) -> None:
        """Unique indexes: a duplicate is E11000 with MongoDB's message, keyPattern and keyValue; nothing changes."""
        db.users.insert_one({"_id": 1, "email": "x", "name": "Ann"})
        db.users.create_index("email", unique=True)
        with pytest.raises(DuplicateKeyError) as info:
            db.users.insert_one({"_id": 2, "email": "x", "name": "Bob"})
        err = info.value
        assert err.code == 11000
        assert 'E11000 duplicate key error collection: test.users index: email_1 dup key: { email: "x" }' in err.details["errmsg"]
        assert err.details["keyPattern"] == {"email": 1}
        assert err.details["keyValue"] == {"email": "x"}
        assert db.users.count_documents({}) == 1
        assert db.users.find_one({"_id": 1}) == {"_id": 1, "email": "x", "name": "Ann"}
        assert db.users.find_one({"_id": 2}) is None

    def test_numerically_equal_values_collide(self, db: Any) -> None:
        """Unique indexes compare values as BSON does: 1, 1.0 (and NumberLong 1) are the same key."""
        db.c.create_index("n", unique=True)
        db.c.insert_one({"n": 1})
        with pytest.raises(DuplicateKeyError):
            db.c.insert_one({"n": 1.0})
        db.c.insert_one({"n": "1"})  # a string is another type, another key
        assert db.c.count_documents({}) == 2

    def test_insert_many_ordered_stops_at_the_duplicate(self, db: Any) -> None:
        """insertMany ordered: documents before the duplicate are inserted, the rest are not (BulkWriteError)."""
        db.users.create_index("email", unique=True)
        docs = [{"_id": 1, "email": "a"}, {"_id": 2, "email": "b"}, {"_id": 3, "email": "a"}, {"_id": 4, "email": "c"}]
        with pytest.raises(BulkWriteError) as info:
            db.users.insert_many(docs)
        d = info.value.details
        assert d["nInserted"] == 2
        assert [(e["index"], e["code"]) for e in d["writeErrors"]] == [(2, 11000)]
        assert d["writeErrors"][0]["keyValue"] == {"email": "a"}
        assert ids(db.users.find()) == [1, 2]

    def test_insert_many_unordered_inserts_the_rest(self, db: Any) -> None:
        """insertMany ordered=False: every non-duplicate is inserted; the duplicate is reported in BulkWriteError."""
        db.users.create_index("email", unique=True)
        docs = [{"_id": 1, "email": "a"}, {"_id": 2, "email": "b"}, {"_id": 3, "email": "a"}, {"_id": 4, "email": "c"}]
        with pytest.raises(BulkWriteError) as info:
            db.users.insert_many(docs, ordered=False)
        d = info.value.details
        assert d["nInserted"] == 3
        assert [(e["index"], e["code"]) for e in d["writeErrors"]] == [(2, 11000)]
        assert ids(db.users.find()) == [1, 2, 4]

    def test_update_creating_a_duplicate_is_refused(self, db: Any) -> None:
        """Unique indexes apply to updates: $set to a taken value is E11000 and the document is unchanged."""
        db.users.insert_many([{"_id": 1, "email": "a"}, {"_id": 2, "email": "b"}])
        db.users.create_index("email", unique=True)
        with pytest.raises(DuplicateKeyError) as info:
            db.users.update_one({"_id": 2}, {"$set": {"email": "a"}})
        assert info.value.code == 11000
        assert 'index: email_1 dup key: { email: "a" }' in info.value.details["errmsg"]
        assert db.users.find_one({"_id": 2}) == {"_id": 2, "email": "b"}
        with pytest.raises(DuplicateKeyError):
            db.users.replace_one({"_id": 2}, {"email": "a"})
        with pytest.raises(DuplicateKeyError):
            db.users.find_one_and_update({"_id": 2}, {"$set": {"email": "a"}})
        assert db.users.find_one({"_id": 2}) == {"_id": 2, "email": "b"}
        # Updating a document to its own value is not a duplicate.
        assert db.users.update_one({"_id": 1}, {"$set": {"email": "a", "x": 1}}).modified_count == 1

    def test_upsert_creating_a_duplicate_is_refused(self, db: Any) -> None:
        """Unique indexes apply to upserts: the would-be inserted document is refused, nothing is inserted."""
        db.users.insert_one({"_id": 1, "email": "a"})
        db.users.create_index("email", unique=True)
        with pytest.raises(DuplicateKeyError):
            db.users.update_one({"_id": 9}, {"$set": {"email": "a"}}, upsert=True)
        assert db.users.count_documents({}) == 1

    def test_unique_index_over_existing_duplicates_fails(self, db: Any) -> None:
        """Unique index build over duplicates fails with a duplicate key error (11000) and leaves no index."""
        db.users.insert_many([{"_id": 1, "email": "a"}, {"_id": 2, "email": "a"}])
        with pytest.raises(OperationFailure) as info:
            db.users.create_index("email", unique=True)
        assert info.value.code == 11000, info.value.details
        assert "E11000 duplicate key error" in str(info.value)
        assert list(db.users.index_information()) == ["_id_"]
        assert db.users.create_index("email") == "email_1"  # a non-unique one is fine

    def test_unique_compound_index(self, db: Any) -> None:
        """Unique compound index: uniqueness applies to the combination of values."""
        db.c.create_index([("a", 1), ("b", 1)], unique=True)
        db.c.insert_many([{"a": 1, "b": 1}, {"a": 1, "b": 2}, {"a": 2, "b": 1}])
        with pytest.raises(DuplicateKeyError) as info:
            db.c.insert_one({"a": 1, "b": 1})
        assert "index: a_1_b_1 dup key: { a: 1, b: 1 }" in info.value.details["errmsg"]
        assert info.value.details["keyPattern"] == {"a": 1, "b": 1}
        assert info.value.details["keyValue"] == {"a": 1, "b": 1}
        assert db.c.count_documents({}) == 3

    def test_missing_field_is_null_and_collides(self, db: Any) -> None:
        """Unique index: a document without the field is indexed as null, so only one may lack it (or hold null)."""
        db.users.create_index("email", unique=True)
        db.users.insert_one({"_id": 1})
        with pytest.raises(DuplicateKeyError) as info:
            db.users.insert_one({"_id": 2})
        assert "dup key: { email: null }" in info.value.details["errmsg"]
        assert info.value.details["keyValue"] == {"email": None}
        with pytest.raises(DuplicateKeyError):
            db.users.insert_one({"_id": 3, "email": None})
        assert ids(db.users.find()) == [1]

    def test_missing_fields_of_a_compound_unique_index_collide(self, db: Any) -> None:
        """Unique compound index: documents missing all the indexed fields share the key {a: null, b: null}."""
        db.c.create_index([("a", 1), ("b", 1)], unique=True)
        db.c.insert_one({"_id": 1, "z": 1})
        with pytest.raises(DuplicateKeyError):
            db.c.insert_one({"_id": 2, "z": 2})
        db.c.insert_one({"_id": 3, "a": 1})  # {a: 1, b: null} is another key
        with pytest.raises(DuplicateKeyError):
            db.c.insert_one({"_id": 4, "a": 1, "b": None})
        assert ids(db.c.find()) == [1, 3]

    def test_unique_sparse_allows_many_missing(self, db: Any) -> None:
        """Sparse index with unique constraint (manual's scores example): duplicates refused, missing field allowed."""
        db.scores.insert_many([{"userid": "newbie"}, {"userid": "abby", "score": 82}, {"userid": "nina", "score": 90}])
        db.scores.create_index("score", sparse=True, unique=True)
        db.scores.insert_one({"userid": "AAAAAAA", "score": 43})
        db.scores.insert_one({"userid": "BBBBBBB", "score": 34})
        db.scores.insert_one({"userid": "CCCCCCC"})
        db.scores.insert_one({"userid": "DDDDDDD"})
        with pytest.raises(DuplicateKeyError):
            db.scores.insert_one({"userid": "AAAAAAA", "score": 82})
        with pytest.raises(DuplicateKeyError):
            db.scores.insert_one({"userid": "BBBBBBB", "score": 90})
        assert db.scores.count_documents({}) == 7

    def test_unique_sparse_indexes_explicit_nulls(self, db: Any) -> None:
        """Sparse indexes contain documents whose field is null (only missing fields are skipped): two nulls collide."""
        db.c.create_index("k", sparse=True, unique=True)
        db.c.insert_one({"_id": 1, "k": None})
        with pytest.raises(DuplicateKeyError):
            db.c.insert_one({"_id": 2, "k": None})
        db.c.insert_one({"_id": 3})
        assert ids(db.c.find()) == [1, 3]

    def test_unique_partial_index(self, db: Any) -> None:
        """Partial index with unique constraint (manual's users example): uniqueness only among documents matching the filter."""
        db.users.insert_many([{"username": "david", "age": 29}, {"username": "amanda", "age": 35}, {"username": "rajiv", "age": 57}])
        db.users.create_index("username", unique=True, partialFilterExpression={"age": {"$gte": 21}})
        for doc in ({"username": "david", "age": 27}, {"username": "amanda", "age": 25}, {"username": "rajiv", "age": 32}):
            with pytest.raises(DuplicateKeyError):
                db.users.insert_one(doc)
        db.users.insert_one({"username": "david", "age": 20})
        db.users.insert_one({"username": "amanda"})
        db.users.insert_one({"username": "rajiv", "age": None})
        assert db.users.count_documents({}) == 6
        # Moving a document into the filter makes it subject to the constraint.
        with pytest.raises(DuplicateKeyError):
            db.users.update_one({"username": "david", "age": 20}, {"$set": {"age": 40}})

    def test_unique_multikey_index(self, db: Any) -> None:
        """Unique multikey index: one document may repeat a value in its array; another document may not reuse it."""
        db.c.create_index("tags", unique=True)
        db.c.insert_one({"_id": 1, "tags": ["a", "a", "b"]})
        with pytest.raises(DuplicateKeyError):
            db.c.insert_one({"_id": 2, "tags": ["b", "c"]})
        with pytest.raises(DuplicateKeyError):
            db.c.insert_one({"_id": 3, "tags": "a"})
        db.c.insert_one({"_id": 4, "tags": ["c"]})
        assert ids(db.c.find()) == [1, 4]

    def test_unique_index_on_a_field_of_array_elements(self, db: Any) -> None:
        """Unique index on "a.loc": values inside arrays of embedded documents are keys too."""
        db.c.create_index("a.loc", unique=True)
        db.c.insert_one({"_id": 1, "a": [{"loc": "A"}, {"loc": "B"}]})
        with pytest.raises(DuplicateKeyError):
            db.c.insert_one({"_id": 2, "a": {"loc": "B"}})
        db.c.insert_one({"_id": 3, "a": [{"loc": "C"}]})
        assert ids(db.c.find({"a.loc": {"$in": ["B", "C"]}})) == [1, 3]


# --- multikey indexes -------------------------------------------------------------------------------


class TestMultikey:
    def test_array_elements_are_indexed(self, db: Any) -> None:
        """Multikey indexes: an index on an array field has a key per element; queries on an element use it."""
        db.c.insert_many(
            [
                {"_id": 1, "tags": ["red", "blue"]},
                {"_id": 2, "tags": ["blue"]},
                {"_id": 3, "tags": "red"},
                {"_id": 4, "tags": []},
                {"_id": 5},
            ]
        )
        db.c.create_index("tags")
        assert ids(db.c.find({"tags": "red"})) == [1, 3]
        assert ids(db.c.find({"tags": "blue"})) == [1, 2]
        assert ids(db.c.find({"tags": ["red", "blue"]})) == [1]  # whole-array equality still matches
        assert ids(db.c.find({"tags": {"$all": ["red", "blue"]}})) == [1]
        assert ids(db.c.find({"tags": []})) == [4]
        assert ids(db.c.find({"tags": None})) == [5]
        scan = assert_uses_index(explain_find(db, "c", {"tags": "red"}), "tags_1")
        assert scan["isMultiKey"] is True

    def test_array_of_embedded_documents(self, db: Any) -> None:
        """Multikey index on "items.sku" indexes the field of each array element."""
        db.orders.insert_many(
            [
                {"_id": 1, "items": [{"sku": "A1", "qty": 1}, {"sku": "B2", "qty": 5}]},
                {"_id": 2, "items": [{"sku": "B2", "qty": 2}]},
                {"_id": 3, "items": {"sku": "A1"}},
            ]
        )
        db.orders.create_index("items.sku")
        assert ids(db.orders.find({"items.sku": "A1"})) == [1, 3]
        assert ids(db.orders.find({"items.sku": "B2"})) == [1, 2]
        assert_uses_index(explain_find(db, "orders", {"items.sku": "B2"}), "items.sku_1")

    def test_parallel_arrays_refused_on_insert(self, db: Any) -> None:
        """Compound multikey indexes: at most one indexed field per document may be an array
        ("cannot index parallel arrays", CannotIndexParallelArrays 171)."""
        db.c.create_index([("a", 1), ("b", 1)])
        db.c.insert_one({"_id": 1, "a": [1, 2], "b": 1})
        db.c.insert_one({"_id": 2, "a": 1, "b": [1, 2]})
        with pytest.raises(WriteError) as info:
            db.c.insert_one({"_id": 3, "a": [1, 2], "b": [3, 4]})
        assert info.value.code == 171
        assert "cannot index parallel arrays" in info.value.details["errmsg"]
        assert ids(db.c.find()) == [1, 2]

    def test_parallel_arrays_refused_on_update(self, db: Any) -> None:
        """An update that would give a document two indexed arrays is refused (171) and changes nothing."""
        db.c.create_index([("a", 1), ("b", 1)])
        db.c.insert_one({"_id": 1, "a": [1, 2], "b": 1})
        with pytest.raises(WriteError) as info:
            db.c.update_one({"_id": 1}, {"$set": {"b": [3, 4]}})
        assert info.value.code == 171
        assert db.c.find_one({"_id": 1}) == {"_id": 1, "a": [1, 2], "b": 1}

    def test_parallel_arrays_refused_on_create_index(self, db: Any) -> None:
        """Building a compound index over a document holding two arrays fails (171); no index is left."""
        db.c.insert_one({"_id": 1, "a": [1], "b": [2]})
        with pytest.raises(OperationFailure) as info:
            db.c.create_index([("a", 1), ("b", 1)])
        assert info.value.code == 171, info.value.details
        assert list(db.c.index_information()) == ["_id_"]

    def test_multikey_range_matches_across_elements(self, db: Any) -> None:
        """Query on arrays with compound conditions: {$gt: 15, $lt: 20} may be met by different elements; $elemMatch needs one."""
        db.c.insert_many([{"_id": 1, "dim": [22, 10]}, {"_id": 2, "dim": [17]}, {"_id": 3, "dim": [10, 30]}, {"_id": 4, "dim": 5}])
        expected_range = ids(natural(db.c, {"dim": {"$gt": 15, "$lt": 20}}))
        expected_elem = ids(natural(db.c, {"dim": {"$elemMatch": {"$gt": 15, "$lt": 20}}}))
        assert expected_range == [1, 2, 3] and expected_elem == [2]
        db.c.create_index("dim")
        assert ids(db.c.find({"dim": {"$gt": 15, "$lt": 20}})) == expected_range
        assert ids(db.c.find({"dim": {"$elemMatch": {"$gt": 15, "$lt": 20}}})) == expected_elem
        assert ids(db.c.find({"dim": {"$gt": 15, "$lt": 20}}).hint("dim_1")) == expected_range


# --- partial indexes ----------------------------------------------------------------------------------


class TestPartial:
    @pytest.fixture
    def people(self, db: Any) -> Any:
        db.people.insert_many([{"_id": i, "name": ["x", "y", "z"][i % 3], "age": 10 + i} for i in range(30)])
        db.people.insert_one({"_id": 100, "name": "x"})  # no age: outside the filter
        db.people.create_index("name", partialFilterExpression={"age": {"$gte": 21}})
        return db.people

    def test_used_when_the_query_implies_the_filter(self, db: Any, people: Any) -> None:
        """Partial index query coverage: usable when the query's conditions are a subset of the filter expression."""
        for query in ({"age": {"$gte": 21}, "name": "x"}, {"name": "x", "age": {"$gte": 30}}, {"name": "x", "age": 25}):
            assert_uses_index(explain_find(db, "people", query), "name_1")
            assert by_id(list(people.find(query))) == by_id(natural(people, query))

    def test_not_used_when_results_would_be_incomplete(self, db: Any, people: Any) -> None:
        """Partial index query coverage: not used when the query can match documents outside the filter."""
        for query in ({"name": "x"}, {"name": "x", "age": {"$lt": 30}}, {"name": "x", "age": {"$gte": 18}}):
            assert_collscan(explain_find(db, "people", query))
        assert ids(people.find({"name": "x"})) == ids(natural(people, {"name": "x"}))
        assert 100 in ids(people.find({"name": "x"}))

    def test_partial_filter_on_another_field_needs_a_non_null_match(self, db: Any) -> None:
        """Partial index on name with filter {email: {$exists: true}}: a query needs a non-null match on email."""
        db.contacts.insert_many([{"_id": 1, "name": "xyz", "email": "a@b.org"}, {"_id": 2, "name": "xyz"}, {"_id": 3, "name": "abc", "email": "c@d.com"}])
        db.contacts.create_index("name", partialFilterExpression={"email": {"$exists": True}})
        assert_uses_index(explain_find(db, "contacts", {"name": "xyz", "email": {"$regex": r"\.org$"}}), "name_1")
        assert_collscan(explain_find(db, "contacts", {"name": "xyz", "email": {"$exists": False}}))
        assert ids(db.contacts.find({"name": "xyz", "email": {"$exists": False}})) == [2]
        assert ids(db.contacts.find({"name": "xyz", "email": {"$regex": r"\.org$"}})) == [1]

    def test_partial_and_sparse_together_are_refused(self, db: Any) -> None:
        """Partial index restrictions: partialFilterExpression and sparse cannot both be given."""
        with pytest.raises(OperationFailure):
            db.c.create_index("a", sparse=True, partialFilterExpression={"a": {"$exists": True}})
        assert "a_1" not in db.c.index_information()


# --- sparse indexes -----------------------------------------------------------------------------------


class TestSparse:
    @pytest.fixture
    def scores(self, db: Any) -> Any:
        db.scores.insert_many(
            [{"_id": 1, "userid": "newbie"}, {"_id": 2, "userid": "abby", "score": 82}, {"_id": 3, "userid": "nina", "score": 90}]
        )
        db.scores.create_index("score", sparse=True)
        return db.scores

    def test_sparse_index_serves_queries_on_present_values(self, db: Any, scores: Any) -> None:
        """Sparse index (manual's scores example): {score: {$lt: 90}} can use the sparse index."""
        assert [d["userid"] for d in scores.find({"score": {"$lt": 90}})] == ["abby"]
        assert_uses_index(explain_find(db, "scores", {"score": {"$lt": 90}}), "score_1")

    def test_sort_does_not_use_an_incomplete_sparse_index(self, db: Any, scores: Any) -> None:
        """Sparse index and incomplete results: find().sort({score: -1}) returns every document, not via the sparse index."""
        assert [d["userid"] for d in scores.find().sort("score", DESCENDING)] == ["nina", "abby", "newbie"]
        explain = explain_find(db, "scores", {}, sort={"score": -1})
        assert "score_1" not in ixscan_names(explain), explain

    def test_hinted_sparse_index_returns_only_indexed_documents(self, db: Any, scores: Any) -> None:
        """Sparse index: find().sort({score: -1}).hint({score: 1}) returns only the documents that have a score."""
        assert [d["userid"] for d in scores.find().sort("score", DESCENDING).hint([("score", 1)])] == ["nina", "abby"]
        assert [d["userid"] for d in scores.find().sort("score", DESCENDING).hint("score_1")] == ["nina", "abby"]

    def test_exists_false_does_not_use_a_sparse_index(self, db: Any, scores: Any) -> None:
        """Sparse index: {x: {$exists: false}} does not use a sparse index on x unless hinted."""
        assert [d["userid"] for d in scores.find({"score": {"$exists": False}})] == ["newbie"]
        assert "score_1" not in ixscan_names(explain_find(db, "scores", {"score": {"$exists": False}}))

    def test_null_query_returns_missing_and_null(self, db: Any, scores: Any) -> None:
        """{field: null} matches missing and null fields; a sparse index holds only the explicit null, so it is not used."""
        scores.insert_one({"_id": 4, "userid": "nil", "score": None})
        assert ids(scores.find({"score": None})) == [1, 4]
        assert ids(scores.find({"score": None}).hint("score_1")) == [4]

    def test_sparse_compound_index_indexes_documents_with_any_key(self, db: Any) -> None:
        """Sparse compound indexes index a document that has at least one of the keys."""
        db.c.insert_many([{"_id": 1, "a": 1}, {"_id": 2, "b": 1}, {"_id": 3, "a": 1, "b": 1}, {"_id": 4, "z": 1}])
        db.c.create_index([("a", 1), ("b", 1)], sparse=True)
        assert ids(db.c.find().hint("a_1_b_1")) == [1, 2, 3]
        assert ids(db.c.find()) == [1, 2, 3, 4]


# --- TTL indexes --------------------------------------------------------------------------------------


class TestTTL:
    def test_expired_documents_are_removed(self, db: Any) -> None:
        """TTL indexes: documents expire expireAfterSeconds after the date; arrays use the earliest date;
        non-date values and missing fields never expire."""
        now = utcnow()
        hour = datetime.timedelta(hours=1)
        assert db.sessions.create_index("createdAt", expireAfterSeconds=1) == "createdAt_1"
        db.sessions.insert_many(
            [
                {"_id": "old", "createdAt": now - hour},
                {"_id": "old_in_array", "createdAt": [now + hour, now - hour]},
                {"_id": "future", "createdAt": now + hour},
                {"_id": "string", "createdAt": "2000-01-01T00:00:00Z"},
                {"_id": "number", "createdAt": 0},
                {"_id": "missing"},
            ]
        )
        remaining = ["future", "missing", "number", "string"]
        assert wait_until(lambda: ids(db.sessions.find()) == remaining), ids(db.sessions.find())
        time.sleep(1.5)  # another monitor pass removes nothing more
        assert ids(db.sessions.find()) == remaining

    def test_expire_at_a_specific_clock_time(self, db: Any) -> None:
        """TTL with expireAfterSeconds: 0 expires each document at the date in its indexed field."""
        now = utcnow()
        db.log.create_index("expireAt", expireAfterSeconds=0)
        db.log.insert_many([{"_id": 1, "expireAt": now - datetime.timedelta(seconds=5)}, {"_id": 2, "expireAt": now + datetime.timedelta(hours=1)}])
        assert wait_until(lambda: ids(db.log.find()) == [2]), ids(db.log.find())

    def test_documents_inserted_later_expire_too(self, db: Any) -> None:
        """TTL indexes keep working for documents written after the index was built (updates included)."""
        now = utcnow()
        db.sessions.create_index("at", expireAfterSeconds=1)
        db.sessions.insert_one({"_id": 1, "at": now + datetime.timedelta(hours=1)})
        db.sessions.insert_one({"_id": 2, "at": now + datetime.timedelta(hours=1)})
        db.sessions.update_one({"_id": 1}, {"$set": {"at": now - datetime.timedelta(hours=1)}})
        assert wait_until(lambda: ids(db.sessions.find()) == [2]), ids(db.sessions.find())

    def test_ttl_index_information(self, db: Any) -> None:
        """TTL indexes are listed with expireAfterSeconds and serve queries like any other index."""
        db.events.insert_one({"at": utcnow()})
        db.events.create_index("at", expireAfterSeconds=3600)
        assert db.events.index_information()["at_1"] == {"v": 2, "key": [("at", 1)], "expireAfterSeconds": 3600}
        assert_uses_index(explain_find(db, "events", {"at": {"$lt": utcnow() + datetime.timedelta(days=1)}}), "at_1")
        assert db.events.count_documents({}) == 1


# --- text indexes -------------------------------------------------------------------------------------

ARTICLES = [
    {"_id": 1, "subject": "coffee", "author": "xyz", "views": 50},
    {"_id": 2, "subject": "Coffee Shopping", "author": "efg", "views": 5},
    {"_id": 3, "subject": "Baking a cake", "author": "abc", "views": 90},
    {"_id": 4, "subject": "baking", "author": "xyz", "views": 100},
    {"_id": 5, "subject": "Café Con Leche", "author": "abc", "views": 200},
    {"_id": 6, "subject": "Сырники", "author": "jkl", "views": 80},
    {"_id": 7, "subject": "coffee and cream", "author": "efg", "views": 10},
    {"_id": 8, "subject": "Cafe con Leche", "author": "xyz", "views": 10},
]


def text_ids(coll: Any, search: str, **extra: Any) -> List[Any]:
    query: Dict[str, Any] = {"$text": {"$search": search}}
    query.update(extra)
    return ids(coll.find(query))


class TestText:
    @pytest.fixture
    def articles(self, db: Any) -> Any:
        db.articles.insert_many([dict(d) for d in ARTICLES])
        assert db.articles.create_index([("subject", "text")]) == "subject_text"
        return db.articles

    def test_single_word(self, articles: Any) -> None:
        """$text: a single word matches documents containing its stemmed form (manual: coffee -> 1, 2, 7)."""
        assert text_ids(articles, "coffee") == [1, 2, 7]

    def test_any_of_the_terms(self, articles: Any) -> None:
        """$text: space-separated terms are ORed, after stemming (bake coffee cake -> 1, 2, 3, 4, 7)."""
        assert text_ids(articles, "bake coffee cake") == [1, 2, 3, 4, 7]

    def test_phrase(self, articles: Any) -> None:
        """$text: an escaped-quoted phrase must appear as such ("coffee shop" -> 2, "Coffee Shopping")."""
        assert text_ids(articles, '"coffee shop"') == [2]

    def test_negated_term(self, articles: Any) -> None:
        """$text: a term prefixed by - excludes documents containing it (coffee -shop -> 1, 7)."""
        assert text_ids(articles, "coffee -shop") == [1, 7]

    def test_only_negations_match_nothing(self, articles: Any) -> None:
        """$text: a search string of only negated words matches no document."""
        assert text_ids(articles, "-coffee") == []

    def test_case_insensitive(self, articles: Any) -> None:
        """Text indexes are case insensitive: COFFEE finds the same documents as coffee."""
        assert text_ids(articles, "COFFEE") == [1, 2, 7]

    def test_stemming(self, articles: Any) -> None:
        """Text search stems words with the index language (english): coffees / baked find coffee / baking."""
        assert text_ids(articles, "coffees") == [1, 2, 7]
        assert text_ids(articles, "baked") == [3, 4]

    def test_stop_words_are_ignored(self, articles: Any) -> None:
        """$text ignores language stop words such as "and" and "a"."""
        assert text_ids(articles, "and") == []
        assert text_ids(articles, "a cake") == [3]

    def test_case_and_diacritic_insensitive(self, articles: Any) -> None:
        """Version 3 text indexes: case and diacritic insensitive, Cyrillic included (сы́рники CAFÉS -> 5, 6, 8)."""
        assert text_ids(articles, "сы́рники CAFÉS") == [5, 6, 8]

    def test_combined_with_other_conditions(self, articles: Any) -> None:
        """$text with an additional query condition: both must hold ({author: "xyz"} and coffee|bake -> 1, 4)."""
        assert text_ids(articles, "coffee bake", author="xyz") == [1, 4]

    def test_text_score_projection(self, articles: Any) -> None:
        """$meta textScore in a projection adds the relevance score (manual: cake -> _id 3 with score 0.75)."""
        docs = list(articles.find({"$text": {"$search": "cake"}}, {"score": {"$meta": "textScore"}}))
        assert docs == [{"_id": 3, "subject": "Baking a cake", "author": "abc", "views": 90, "score": 0.75}]

    def test_sort_by_text_score(self, articles: Any) -> None:
        """Sort by {$meta: "textScore"}: descending relevance; the one-word subject "coffee" ranks first."""
        docs = list(
            articles.find({"$text": {"$search": "coffee"}}, {"score": {"$meta": "textScore"}}).sort([("score", {"$meta": "textScore"})])
        )
        assert ids(docs) == [1, 2, 7]
        assert docs[0]["_id"] == 1
        scores = [d["score"] for d in docs]
        assert scores == sorted(scores, reverse=True) and scores[0] > scores[1]
        top2 = list(articles.find({"$text": {"$search": "coffee"}}).sort([("score", {"$meta": "textScore"})]).limit(2))
        assert top2[0]["_id"] == 1 and len(top2) == 2
        assert "score" not in top2[0]  # 4.4+: sorting by $meta does not require projecting it

    def test_weights_and_frequency_rank_documents(self, db: Any) -> None:
        """Text index weights: a match in a field of weight 10 outranks body matches; two matches outrank one."""
        db.blog.insert_many(
            [
                {"_id": 1, "title": "Morning coffee", "body": "A note about breakfast"},
                {"_id": 2, "title": "Breakfast", "body": "fresh coffee and bread"},
                {"_id": 3, "title": "Lunch", "body": "coffee coffee and bread"},
                {"_id": 4, "title": "Tea", "body": "green tea"},
            ]
        )
        name = db.blog.create_index([("title", "text"), ("body", "text")], weights={"title": 10})
        assert name == "title_text_body_text"
        docs = list(db.blog.find({"$text": {"$search": "coffee"}}, {"score": {"$meta": "textScore"}}).sort([("score", {"$meta": "textScore"})]))
        assert [d["_id"] for d in docs] == [1, 3, 2]
        assert docs[0]["score"] > docs[1]["score"] > docs[2]["score"]

    def test_compound_text_index_searches_every_field(self, db: Any) -> None:
        """A text index over several fields (and arrays of strings) matches a term in any of them; non-strings are ignored."""
        db.posts.insert_many(
            [
                {"_id": 1, "title": "espresso", "body": "short"},
                {"_id": 2, "title": "long", "body": "an espresso bar"},
                {"_id": 3, "title": ["pastry", "espresso"], "body": 5},
                {"_id": 4, "title": 7},
            ]
        )
        db.posts.create_index([("title", "text"), ("body", "text")])
        assert text_ids(db.posts, "espresso") == [1, 2, 3]
        assert text_ids(db.posts, "pastry") == [3]
        db.posts.insert_one({"_id": 5, "body": "pastry chef"})  # the index is maintained on insert
        db.posts.update_one({"_id": 1}, {"$set": {"title": "tea"}})  # ... and on update
        assert text_ids(db.posts, "espresso") == [2, 3]
        assert text_ids(db.posts, "pastry") == [3, 5]

    def test_text_without_a_text_index_fails(self, db: Any) -> None:
        """$text requires a text index: IndexNotFound (27), "text index required for $text query"."""
        db.plain.insert_one({"subject": "coffee"})
        with pytest.raises(OperationFailure) as info:
            list(db.plain.find({"$text": {"$search": "coffee"}}))
        assert info.value.code == 27, info.value.details
        assert "text index required for $text query" in str(info.value)

    def test_only_one_text_index_per_collection(self, articles: Any) -> None:
        """A collection can have at most one text index: a second (other fields) is IndexOptionsConflict (85)."""
        with pytest.raises(OperationFailure) as info:
            articles.create_index([("author", "text")])
        assert info.value.code == 85, info.value.details
        assert list(articles.index_information()) == ["_id_", "subject_text"]

    def test_text_index_listing(self, articles: Any) -> None:
        """listIndexes shows a text index as key {_fts: "text", _ftsx: 1} with weights, default_language,
        language_override and textIndexVersion 3."""
        info = articles.index_information()["subject_text"]
        assert info["key"] == [("_fts", "text"), ("_ftsx", 1)]
        assert info["weights"] == {"subject": 1}
        assert info["default_language"] == "english"
        assert info["language_override"] == "language"
        assert info["textIndexVersion"] == 3

    def test_text_index_can_be_dropped_by_name(self, articles: Any) -> None:
        """A text index is dropped by its name; $text then fails again."""
        articles.drop_index("subject_text")
        with pytest.raises(OperationFailure):
            list(articles.find({"$text": {"$search": "coffee"}}))

    def test_hint_with_text_is_refused(self, articles: Any) -> None:
        """$text restrictions: hint() cannot be used with a $text query."""
        with pytest.raises(OperationFailure):
            list(articles.find({"$text": {"$search": "coffee"}}).hint([("$natural", 1)]))

    def test_text_in_aggregate_match(self, articles: Any) -> None:
        """$text in an aggregation $match (first stage) with $meta textScore in $project and $sort."""
        docs = list(
            articles.aggregate(
                [
                    {"$match": {"$text": {"$search": "coffee"}}},
                    {"$project": {"subject": 1, "score": {"$meta": "textScore"}}},
                    {"$sort": {"score": -1, "_id": 1}},
                ]
            )
        )
        assert [d["_id"] for d in docs][0] == 1
        assert ids(docs) == [1, 2, 7]

    def test_text_query_plan(self, db: Any, articles: Any) -> None:
        """explain of a $text query: the plan reads the text index (an IXSCAN of subject_text under TEXT stages)."""
        explain = explain_find(db, "articles", {"$text": {"$search": "coffee"}})
        assert "subject_text" in [s.get("indexName") for s in all_stages(winning_plan(explain))], explain
        assert "COLLSCAN" not in stage_names(explain)
        assert explain["executionStats"]["nReturned"] == 3


# --- hidden indexes -----------------------------------------------------------------------------------


class TestHidden:
    def test_hidden_index_is_not_used(self, db: Any) -> None:
        """Hidden indexes are not visible to the query planner: explain shows a collection scan."""
        db.c.insert_many([{"_id": i, "a": i} for i in range(20)])
        db.c.create_index("a", hidden=True)
        assert db.c.index_information()["a_1"] == {"v": 2, "key": [("a", 1)], "hidden": True}
        assert_collscan(explain_find(db, "c", {"a": 5}))
        assert ids(db.c.find({"a": {"$gte": 18}})) == [18, 19]
        db.c.drop_index("a_1")
        db.c.create_index("a")  # the same index visible is used
        assert_uses_index(explain_find(db, "c", {"a": 5}), "a_1")

    def test_hidden_unique_index_still_enforces_uniqueness(self, db: Any) -> None:
        """Hidden indexes: a hidden unique index still applies its unique constraint."""
        db.c.create_index("email", unique=True, hidden=True)
        db.c.insert_one({"email": "a"})
        with pytest.raises(DuplicateKeyError) as info:
            db.c.insert_one({"email": "a"})
        assert info.value.details["keyPattern"] == {"email": 1}
        assert db.c.count_documents({}) == 1

    def test_hidden_index_cannot_be_hinted(self, db: Any) -> None:
        """Hidden index restrictions: you cannot hint() a hidden index."""
        db.c.insert_one({"a": 1})
        db.c.create_index("a", hidden=True)
        with pytest.raises(OperationFailure):
            list(db.c.find({"a": 1}).hint("a_1"))

    def test_hidden_ttl_index_still_expires(self, db: Any) -> None:
        """Hidden indexes: a hidden TTL index still expires documents."""
        now = utcnow()
        db.c.create_index("at", expireAfterSeconds=1, hidden=True)
        db.c.insert_many([{"_id": 1, "at": now - datetime.timedelta(hours=1)}, {"_id": 2, "at": now + datetime.timedelta(hours=1)}])
        assert wait_until(lambda: ids(db.c.find()) == [2]), ids(db.c.find())

    def test_hidden_index_is_maintained(self, db: Any) -> None:
        """Hidden indexes are updated on writes: a hidden unique index sees updated and deleted keys."""
        db.c.create_index("k", unique=True, hidden=True)
        db.c.insert_many([{"_id": 1, "k": 1}, {"_id": 2, "k": 2}])
        db.c.update_one({"_id": 1}, {"$set": {"k": 10}})
        db.c.insert_one({"_id": 3, "k": 1})  # the old key left the index
        with pytest.raises(DuplicateKeyError):
            db.c.insert_one({"_id": 4, "k": 10})  # the new key is in it
        db.c.delete_one({"_id": 2})
        db.c.insert_one({"_id": 5, "k": 2})  # a deleted document's key left the index
        assert ids(db.c.find()) == [1, 3, 5]


# --- the planner and explain --------------------------------------------------------------------------

BASE = datetime.datetime(2024, 1, 1)
LOCATIONS = ["NYC", "SF", "LA", "BOS"]


@pytest.fixture
def users(db: Any) -> Any:
    db.users.insert_many(
        [
            {
                "_id": i,
                "email": f"user{i}@x.com",
                "age": i % 50,
                "profile": {"location": LOCATIONS[i % 4]},
                "createdAt": BASE + datetime.timedelta(minutes=i),
            }
            for i in range(200)
        ]
    )
    return db.users


class TestPlanner:
    def test_equality_on_an_indexed_field_uses_ixscan(self, db: Any, users: Any) -> None:
        """explain results: FETCH over IXSCAN of email_1; executionStats nReturned 1, totalKeysExamined 1, totalDocsExamined 1."""
        users.create_index("email")
        explain = explain_find(db, "users", {"email": "user7@x.com"})
        scan = assert_uses_index(explain, "email_1")
        assert scan["keyPattern"] == {"email": 1}
        assert scan["direction"] == "forward"
        assert "FETCH" in stage_names(explain)
        assert isinstance(explain["queryPlanner"]["rejectedPlans"], list)
        stats = explain["executionStats"]
        assert (stats["nReturned"], stats["totalKeysExamined"], stats["totalDocsExamined"]) == (1, 1, 1)

    def test_cursor_explain_has_plan_and_execution_stats(self, users: Any) -> None:
        """pymongo Cursor.explain(): the server's default verbosity (allPlansExecution) includes executionStats."""
        users.create_index("email")
        explain = users.find({"email": "user7@x.com"}).explain()
        assert_uses_index(explain, "email_1")
        assert explain["executionStats"]["nReturned"] == 1

    def test_no_index_is_a_collection_scan(self, db: Any, users: Any) -> None:
        """explain without a usable index: COLLSCAN, totalKeysExamined 0, totalDocsExamined = collection size."""
        users.create_index("email")
        explain = explain_find(db, "users", {"age": 3})
        assert_collscan(explain)
        stats = explain["executionStats"]
        assert (stats["nReturned"], stats["totalKeysExamined"], stats["totalDocsExamined"]) == (4, 0, 200)

    def test_ixscan_reports_index_properties(self, db: Any) -> None:
        """explain IXSCAN fields: indexName, keyPattern, isMultiKey, isUnique, isSparse, isPartial, direction."""
        db.c.insert_many([{"_id": 1, "u": 1, "s": 1, "p": 1, "m": [1, 2]}, {"_id": 2, "u": 2, "p": 2, "m": 3}])
        db.c.create_index("u", unique=True)
        db.c.create_index("s", sparse=True)
        db.c.create_index("p", partialFilterExpression={"p": {"$gt": 0}})
        db.c.create_index("m")
        u = assert_uses_index(explain_find(db, "c", {"u": 1}), "u_1")
        assert (u["isUnique"], u["isSparse"], u["isPartial"], u["isMultiKey"]) == (True, False, False, False)
        s = assert_uses_index(explain_find(db, "c", {"s": 1}), "s_1")
        assert (s["isUnique"], s["isSparse"], s["isPartial"]) == (False, True, False)
        p = assert_uses_index(explain_find(db, "c", {"p": 1}), "p_1")
        assert (p["isSparse"], p["isPartial"]) == (False, True)
        m = assert_uses_index(explain_find(db, "c", {"m": 1}), "m_1")
        assert m["isMultiKey"] is True

    def test_range_scan_counts(self, db: Any, users: Any) -> None:
        """explain of a range on an indexed field: IXSCAN; docs examined = returned; keys examined = returned (+1 at the bound)."""
        users.create_index("age")
        explain = explain_find(db, "users", {"age": {"$gte": 10, "$lt": 12}})
        assert_uses_index(explain, "age_1")
        stats = explain["executionStats"]
        assert stats["nReturned"] == 8
        assert stats["totalDocsExamined"] == 8
        assert 8 <= stats["totalKeysExamined"] <= 9

    def test_compound_index_serves_filter_and_sort(self, db: Any, users: Any) -> None:
        """Compound index {"profile.location": 1, createdAt: -1} serves equality + range + sort with no SORT stage."""
        name = users.create_index([("profile.location", ASCENDING), ("createdAt", DESCENDING)])
        assert name == "profile.location_1_createdAt_-1"
        since = BASE + datetime.timedelta(minutes=40)
        query = {"profile.location": "NYC", "createdAt": {"$gte": since}}
        got = list(users.find(query).sort("createdAt", DESCENDING).limit(20))
        assert got == natural(users, query, sort=[("createdAt", DESCENDING)], limit=20)
        assert [d["_id"] for d in got] == list(range(196, 116, -4))
        explain = explain_find(db, "users", query, sort={"createdAt": -1}, limit=20)
        assert_uses_index(explain, name)
        assert not [s for s in stage_names(explain) if s.startswith("SORT")], explain
        stats = explain["executionStats"]
        assert stats["nReturned"] == 20
        assert stats["totalKeysExamined"] <= 2 * stats["nReturned"]

    def test_compound_index_prefix(self, db: Any, users: Any) -> None:
        """Compound index prefixes: the index serves queries on its leading field alone, not on a non-prefix field."""
        name = users.create_index([("profile.location", ASCENDING), ("createdAt", DESCENDING)])
        assert_uses_index(explain_find(db, "users", {"profile.location": "SF"}), name)
        assert_collscan(explain_find(db, "users", {"createdAt": {"$gte": BASE + datetime.timedelta(minutes=150)}}))
        assert ids(users.find({"profile.location": "SF"})) == list(range(1, 200, 4))

    def test_reversed_sort_walks_the_index_backward(self, db: Any, users: Any) -> None:
        """Sort order and compound indexes: the exact inverse of the key pattern is served by a backward scan."""
        name = users.create_index([("profile.location", ASCENDING), ("createdAt", DESCENDING)])
        query = {"profile.location": "LA"}
        sort = [("profile.location", DESCENDING), ("createdAt", ASCENDING)]
        assert list(users.find(query).sort(sort)) == natural(users, query, sort=sort)
        explain = explain_find(db, "users", query, sort={"profile.location": -1, "createdAt": 1})
        scan = assert_uses_index(explain, name)
        assert scan["direction"] == "backward"
        assert not [s for s in stage_names(explain) if s.startswith("SORT")], explain

    def test_sort_only_query_uses_the_index_order(self, db: Any, users: Any) -> None:
        """Use indexes to sort query results: find().sort({email: 1}).limit(5) reads the index in order, no SORT stage."""
        users.create_index("email")
        got = list(users.find().sort("email", ASCENDING).limit(5))
        assert got == natural(users, {}, sort=[("email", ASCENDING)], limit=5)
        explain = explain_find(db, "users", {}, sort={"email": 1}, limit=5)
        assert_uses_index(explain, "email_1")
        assert not [s for s in stage_names(explain) if s.startswith("SORT")], explain

    def test_in_uses_the_index(self, db: Any, users: Any) -> None:
        """$in on an indexed field is an IXSCAN with one point interval per value."""
        users.create_index("email")
        emails = ["user1@x.com", "user50@x.com", "user199@x.com", "nobody@x.com"]
        explain = explain_find(db, "users", {"email": {"$in": emails}})
        assert_uses_index(explain, "email_1")
        stats = explain["executionStats"]
        assert stats["nReturned"] == 3 and stats["totalDocsExamined"] == 3
        assert stats["totalKeysExamined"] <= 2 * len(emails)
        assert ids(users.find({"email": {"$in": emails}})) == [1, 50, 199]

    def test_or_uses_an_index_per_clause(self, db: Any, users: Any) -> None:
        """$or clauses and indexes: with every clause indexed, the plan is an OR stage over one IXSCAN per clause."""
        users.create_index("email")
        users.create_index("age")
        query = {"$or": [{"email": "user3@x.com"}, {"age": 7}]}
        explain = explain_find(db, "users", query)
        names = stage_names(explain)
        assert "OR" in names and "COLLSCAN" not in names, explain
        or_stage = next(s for s in plan_stages(winning_plan(explain)) if s["stage"] == "OR")
        under_or = {s.get("indexName") for s in plan_stages(or_stage) if s["stage"] == "IXSCAN"}
        assert under_or == {"email_1", "age_1"}, explain
        assert ids(users.find(query)) == ids(natural(users, query)) == [3, 7, 57, 107, 157]

    def test_or_with_an_unindexed_clause_is_a_collection_scan(self, db: Any, users: Any) -> None:
        """$or clauses and indexes: if any clause lacks an index, MongoDB scans the collection."""
        users.create_index("email")
        query = {"$or": [{"email": "user3@x.com"}, {"nickname": "x"}]}
        assert_collscan(explain_find(db, "users", query))
        assert ids(users.find(query)) == [3]

    def test_hint_by_name_and_by_key_pattern(self, db: Any, users: Any) -> None:
        """cursor.hint(): the index name or its key pattern forces that index; {$natural: 1} forces a collection scan."""
        users.create_index("email")
        users.create_index("age")
        query = {"age": 3, "email": {"$gte": "user1"}}
        expected = ids(natural(users, query))
        for hint in ("email_1", [("email", 1)]):
            assert ids(users.find(query).hint(hint)) == expected
            scans = ixscans(users.find(query).hint(hint).explain())
            assert [s["indexName"] for s in scans] == ["email_1"]
        assert_collscan(users.find(query).hint([("$natural", 1)]).explain())
        assert_uses_index(explain_find(db, "users", query, hint="age_1"), "age_1")
        assert_uses_index(explain_find(db, "users", query, hint={"email": 1}), "email_1")

    def test_hint_of_a_missing_index_fails(self, users: Any) -> None:
        """cursor.hint() of an index that does not exist: BadValue (2), "hint provided does not correspond to an existing index"."""
        users.create_index("email")
        for hint in ("nope_1", [("nope", 1)], [("email", -1)]):
            with pytest.raises(OperationFailure) as info:
                list(users.find({"email": "user1@x.com"}).hint(hint))
            assert info.value.code == 2, info.value.details
            assert "hint provided does not correspond to an existing index" in str(info.value)

    def test_covered_query(self, db: Any, users: Any) -> None:
        """Covered queries: filter and projection only on indexed fields, _id excluded -> PROJECTION_COVERED, no documents examined."""
        users.create_index("email")
        assert list(users.find({"email": "user9@x.com"}, {"email": 1, "_id": 0})) == [{"email": "user9@x.com"}]
        explain = explain_find(db, "users", {"email": "user9@x.com"}, projection={"email": 1, "_id": 0})
        names = stage_names(explain)
        assert "PROJECTION_COVERED" in names and "FETCH" not in names, explain
        assert_uses_index(explain, "email_1")
        assert explain["executionStats"]["totalDocsExamined"] == 0
        assert explain["executionStats"]["nReturned"] == 1

    def test_competing_indexes(self, db: Any, users: Any) -> None:
        """With several candidate indexes the winner is one of them and rejectedPlans lists the others' plans."""
        users.create_index("age")
        users.create_index([("age", 1), ("email", 1)])
        explain = explain_find(db, "users", {"age": 3, "email": "user3@x.com"})
        assert isinstance(explain["queryPlanner"]["rejectedPlans"], list)
        assert set(ixscan_names(explain)) <= {"age_1", "age_1_email_1"} and ixscan_names(explain)
        assert explain["executionStats"]["nReturned"] == 1

    def test_count_uses_the_index(self, db: Any, users: Any) -> None:
        """explain of count with an indexed equality reads the index (COUNT_SCAN or IXSCAN), not the collection."""
        users.create_index("age")
        explain = db.command("explain", {"count": "users", "query": {"age": 3}}, verbosity="executionStats")
        stages = all_stages(winning_plan(explain))
        assert "age_1" in [s.get("indexName") for s in stages], explain
        assert "COLLSCAN" not in [s["stage"] for s in stages]
        assert users.count_documents({"age": 3}) == 4

    def test_aggregate_match_uses_the_index(self, db: Any, users: Any) -> None:
        """aggregate explain: a leading $match on an indexed field is pushed to the query layer and uses the index."""
        users.create_index("email")
        reply = db.command("aggregate", "users", pipeline=[{"$match": {"email": "user5@x.com"}}], explain=True)
        hits = [s for s in all_stages(reply) if s["stage"] == "IXSCAN" and s.get("indexName") == "email_1"]
        assert hits, reply
        assert [d["_id"] for d in users.aggregate([{"$match": {"email": "user5@x.com"}}])] == [5]

    def test_index_is_maintained_by_every_write(self, users: Any) -> None:
        """Index maintenance: updates, replacements, $unset, $rename, deletes and upserts keep the index exact."""
        users.create_index("email")

        def via_index(email: Any) -> List[Any]:
            return ids(users.find({"email": email}).hint("email_1"))

        users.update_one({"_id": 5}, {"$set": {"email": "new5"}})
        assert via_index("user5@x.com") == [] and via_index("new5") == [5]
        users.replace_one({"_id": 6}, {"email": "new6"})
        assert via_index("user6@x.com") == [] and via_index("new6") == [6]
        users.update_one({"_id": 7}, {"$unset": {"email": ""}})
        assert via_index("user7@x.com") == [] and 7 in via_index(None)
        users.update_one({"_id": 8}, {"$rename": {"email": "mail"}})
        assert via_index("user8@x.com") == [] and 8 in via_index(None)
        users.delete_one({"_id": 9})
        assert via_index("user9@x.com") == []
        users.delete_many({"age": {"$gte": 45}})
        assert via_index("user49@x.com") == [] and via_index("user44@x.com") == [44]
        users.update_one({"_id": 1000}, {"$set": {"email": "upserted"}}, upsert=True)
        assert via_index("upserted") == [1000]
        users.find_one_and_update({"_id": 10}, {"$set": {"email": "new10"}})
        assert via_index("new10") == [10]
        users.update_many({"age": 11}, {"$set": {"email": "same"}})
        assert via_index("same") == [11, 61, 111, 161]
        for email in ("new5", None, "same", {"$gte": "user1"}, {"$lt": "user2"}):
            query = {"email": email}
            assert ids(users.find(query)) == ids(natural(users, query)) == via_index(email)


# --- answers do not depend on the plan ----------------------------------------------------------------

MISSING = object()


def _scalar(rng: random.Random) -> Any:
    return rng.choice([0, 1, 2, 3, 5, 10, -1, 1.5, 2.0, 5.0, -0.5, "", "x", "y", "ab", "5", None, True, False])


def _value(rng: random.Random, allow_array: bool) -> Any:
    kind = rng.randrange(10)
    if kind <= 4:
        return _scalar(rng)
    if kind == 5:
        return MISSING
    if kind == 6 and allow_array:
        return [_scalar(rng) if rng.random() < 0.8 else {"c": rng.choice([1, 2, "x"])} for _ in range(rng.randrange(4))]
    if kind == 7:
        return {"c": rng.choice([1, 2, 3, "x", None])}
    if kind == 8:
        return {"c": rng.choice([1, 2]), "d": rng.choice([0, 1])}
    return rng.randrange(-2, 12)


def _mixed_documents(seed: int, n: int) -> List[Dict[str, Any]]:
    rng = random.Random(seed)
    docs = []
    for i in range(n):
        doc: Dict[str, Any] = {"_id": i}
        a = _value(rng, allow_array=True)
        b = _value(rng, allow_array=False)  # (a, b) is indexed: never two arrays in one document
        if a is not MISSING:
            doc["a"] = a
        if b is not MISSING:
            doc["b"] = b
        docs.append(doc)
    return docs


MIXED_INDEXES = ["a_1", "a_1_b_1", "a.c_1", "b_-1"]


@pytest.fixture(scope="module")
def mixed() -> Iterator[Any]:
    """A few hundred documents of mixed types, indexed on a, (a, b), a.c and b (descending); half
    inserted before the indexes exist and half after, then updated and partly deleted."""
    c = MongoClient()
    coll = c.test.mixed
    docs = _mixed_documents(20240501, 400)
    coll.insert_many(docs[:200])
    coll.create_index("a")
    coll.create_index([("a", 1), ("b", 1)])
    coll.create_index("a.c")
    coll.create_index([("b", -1)])
    coll.insert_many(docs[200:])
    rng = random.Random(7)
    for i in rng.sample(range(400), 60):
        new = _value(rng, allow_array=False)
        if new is MISSING:
            coll.update_one({"_id": i}, {"$unset": {"a": ""}})
        else:
            coll.update_one({"_id": i}, {"$set": {"a": new}})
    coll.update_many({"b": "x"}, {"$set": {"b": "y"}})
    coll.delete_many({"_id": {"$in": rng.sample(range(400), 40)}})
    yield coll
    c.close()


MIXED_FILTERS: List[Dict[str, Any]] = [
    {},
    {"a": 5},
    {"a": 2},
    {"a": 2.0},
    {"a": "x"},
    {"a": True},
    {"a": {"$gt": 3}},
    {"a": {"$gte": 1, "$lt": 3}},
    {"a": {"$lte": 0}},
    {"a": {"$gt": "a"}},
    {"a": {"$in": [1, "x", None]}},
    {"a": {"$in": [[1, 2], 3]}},
    {"a": {"$nin": [1, 2]}},
    {"a": None},
    {"a": {"$ne": None}},
    {"a": {"$exists": False}},
    {"a": {"$exists": True}},
    {"a": {"$lt": 10}, "b": "y"},
    {"a": {"$in": [1, 2, 3]}, "b": {"$lte": 2}},
    {"$or": [{"a": 1}, {"b": 2}]},
    {"$or": [{"a": {"$gt": 5}}, {"a.c": 1}]},
    {"$and": [{"a": {"$gte": 1}}, {"a": {"$lte": 4}}]},
    {"$nor": [{"a": 1}, {"b": "y"}]},
    {"a": {"$ne": 1}},
    {"a": {"$not": {"$gt": 2}}},
    {"a.c": 1},
    {"a.c": None},
    {"a.c": {"$gte": 2}},
    {"a": {"c": 1}},
    {"a": []},
    {"a": {"$size": 2}},
    {"a": {"$all": [1, 2]}},
    {"a": {"$elemMatch": {"$gt": 0, "$lt": 3}}},
    {"a": {"$type": "string"}},
    {"a": {"$regex": "^a"}},
    {"b": {"$gt": 0}},
    {"b": None},
]

MIXED_SHAPES: List[Tuple[Optional[List[Tuple[str, int]]], int, int]] = [
    (None, 0, 0),
    ([("a", 1), ("_id", 1)], 0, 0),
    ([("a", -1), ("_id", 1)], 0, 0),
    ([("a", 1), ("b", -1), ("_id", 1)], 0, 0),
    ([("b", 1), ("_id", 1)], 0, 0),
    ([("a", 1), ("_id", 1)], 3, 7),
]


class TestPlanIndependence:
    @pytest.mark.parametrize("shape", MIXED_SHAPES, ids=lambda s: f"sort={s[0]},skip={s[1]},limit={s[2]}")
    @pytest.mark.parametrize("filter", MIXED_FILTERS, ids=repr)
    def test_same_answer_as_a_collection_scan(self, mixed: Any, filter: Dict[str, Any], shape: Any) -> None:
        """Indexes never change a query's result: the planner's choice and every hinted (non-sparse) index
        return what a collection scan ({$natural: 1}) returns (in order when sorted)."""
        sort, skip, limit = shape
        expected = natural(mixed, filter, sort=sort, skip=skip, limit=limit)

        def normalize(docs: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
            return docs if sort else by_id(docs)

        got = list(mixed.find(filter, sort=sort, skip=skip, limit=limit))
        assert normalize(got) == normalize(expected), f"planner's choice differs for {filter} {shape}"
        for name in MIXED_INDEXES:
            hinted = list(mixed.find(filter, sort=sort, skip=skip, limit=limit).hint(name))
            assert normalize(hinted) == normalize(expected), f"hint {name} differs for {filter} {shape}"
        if not skip and not limit:
            assert mixed.count_documents(filter) == len(expected)


# --- durability ---------------------------------------------------------------------------------------


class TestDurability:
    def test_indexes_survive_a_restart(self, tmp_path: Any) -> None:
        """Indexes are part of the collection's durable state: definitions, constraints and contents survive a reopen."""
        path = str(tmp_path / "indexes.nest")
        with MongoClient(path) as c:
            coll = c.app.users
            coll.insert_many([{"_id": i, "email": f"u{i}", "title": f"post {i}", "body": "coffee" if i % 2 else "tea"} for i in range(10)])
            coll.create_index("email", unique=True)
            coll.create_index("createdAt", expireAfterSeconds=1)
            coll.create_index([("title", "text"), ("body", "text")], weights={"title": 5})
            coll.create_index([("age", 1), ("email", -1)], sparse=True, name="age_email")
            coll.create_index("p", partialFilterExpression={"p": {"$gt": 0}})
            coll.create_index("h", hidden=True)
            coll.create_index("dropped")
            coll.drop_index("dropped_1")
            info = coll.index_information()
        with MongoClient(path) as c:
            coll = c.app.users
            assert coll.index_information() == info
            with pytest.raises(DuplicateKeyError):
                coll.insert_one({"_id": 100, "email": "u3"})
            assert text_ids(coll, "coffee") == [1, 3, 5, 7, 9]
            assert_uses_index(coll.find({"email": "u4"}).explain(), "email_1")
            assert_collscan(coll.find({"h": 1}).explain())
            coll.insert_one({"_id": 11, "email": "late", "createdAt": utcnow() - datetime.timedelta(hours=1)})
            coll.update_one({"_id": 0}, {"$set": {"email": "renamed"}})
            assert wait_until(lambda: coll.find_one({"_id": 11}) is None), "TTL monitor after reopen"
        with MongoClient(path) as c:
            coll = c.app.users
            assert coll.index_information() == info
            assert ids(coll.find({"email": "renamed"}).hint("email_1")) == [0]
            assert ids(coll.find({"email": "u0"}).hint("email_1")) == []
            with pytest.raises(DuplicateKeyError):
                coll.insert_one({"_id": 101, "email": "renamed"})
