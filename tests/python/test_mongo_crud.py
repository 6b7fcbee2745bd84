"""End to end against the native document layer: the MongoDB manual's CRUD tutorial
(inventory: insert, query on embedded documents and arrays, projection, update, delete),
sort/skip/limit, cursors across batches, find_one_and_*, upserts, bulk writes, duplicate keys,
datetimes and BSON types, written as pymongo code with only the constructor changed."""

from __future__ import annotations

import datetime
import re
from typing import Any, Dict, List

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
from nestdb.errors import BulkWriteError, CollectionInvalid, DuplicateKeyError, InvalidOperation, OperationFailure, WriteError

pytestmark = pytest.mark.skipif(
    not hasattr(nestdb._nestdb.Database, "_doc_command"), reason="the native layer has no document commands yet"
)


@pytest.fixture
def db(client: MongoClient) -> Any:
    return client.test


def items(cursor: Any) -> List[str]:
    return sorted(doc["item"] for doc in cursor)


INVENTORY = [
    {"item": "journal", "qty": 25, "size": {"h": 14, "w": 21, "uom": "cm"}, "status": "A"},
    {"item": "notebook", "qty": 50, "size": {"h": 8.5, "w": 11, "uom": "in"}, "status": "A"},
    {"item": "paper", "qty": 100, "size": {"h": 8.5, "w": 11, "uom": "in"}, "status": "D"},
    {"item": "planner", "qty": 75, "size": {"h": 22.85, "w": 30, "uom": "cm"}, "status": "D"},
    {"item": "postcard", "qty": 45, "size": {"h": 10, "w": 15.25, "uom": "cm"}, "status": "A"},
]


class TestInsertAndQuery:
    def test_insert_one_and_find(self, db: Any) -> None:
        doc = {"item": "canvas", "qty": 100, "tags": ["cotton"], "size": {"h": 28, "w": 35.5, "uom": "cm"}}
        result = db.inventory.insert_one(doc)
        assert isinstance(result.inserted_id, ObjectId) and doc["_id"] == result.inserted_id
        found = db.inventory.find_one({"item": "canvas"})
        assert found == doc
        assert list(found) == ["_id", "item", "qty", "tags", "size"]  # MongoDB stores _id first
        assert db.inventory.find_one(result.inserted_id)["item"] == "canvas"
        assert db.list_collection_names() == ["inventory"]

    def test_query_top_level(self, db: Any) -> None:
        db.inventory.insert_many([dict(d) for d in INVENTORY])
        inv = db.inventory
        assert inv.count_documents({}) == 5
        assert items(inv.find({"status": "D"})) == ["paper", "planner"]
        assert len(list(inv.find({"status": {"$in": ["A", "D"]}}))) == 5
        assert items(inv.find({"status": "A", "qty": {"$lt": 30}})) == ["journal"]
        assert items(inv.find({"$or": [{"status": "A"}, {"qty": {"$lt": 30}}]})) == ["journal", "notebook", "postcard"]
        assert items(inv.find({"status": "A", "$or": [{"qty": {"$lt": 30}}, {"item": {"$regex": "^p"}}]})) == ["journal", "postcard"]
        assert items(inv.find({"item": re.compile("^P", re.I)})) == ["paper", "planner", "postcard"]

    def test_query_embedded(self, db: Any) -> None:
        db.inventory.insert_many([dict(d) for d in INVENTORY])
        inv = db.inventory
        assert items(inv.find({"size": {"h": 14, "w": 21, "uom": "cm"}})) == ["journal"]
        assert items(inv.find({"size": {"w": 21, "h": 14, "uom": "cm"}})) == []
        assert items(inv.find({"size.uom": "in"})) == ["notebook", "paper"]
        assert items(inv.find({"size.h": {"$lt": 15}})) == ["journal", "notebook", "paper", "postcard"]
        assert items(inv.find({"size.h": {"$lt": 15}, "size.uom": "in", "status": "D"})) == ["paper"]

    def test_query_arrays(self, db: Any) -> None:
        db.inventory.insert_many([
            {"item": "journal", "qty": 25, "tags": ["blank", "red"], "dim_cm": [14, 21]},
            {"item": "notebook", "qty": 50, "tags": ["red", "blank"], "dim_cm": [14, 21]},
            {"item": "paper", "qty": 100, "tags": ["red", "blank", "plain"], "dim_cm": [14, 21]},
            {"item": "planner", "qty": 75, "tags": ["blank", "red"], "dim_cm": [22.85, 30]},
            {"item": "postcard", "qty": 45, "tags": ["blue"], "dim_cm": [10, 15.25]},
        ])
        inv = db.inventory
        assert items(inv.find({"tags": ["red", "blank"]})) == ["notebook"]
        assert items(inv.find({"tags": {"$all": ["red", "blank"]}})) == ["journal", "notebook", "paper", "planner"]
        assert items(inv.find({"tags": "red"})) == ["journal", "notebook", "paper", "planner"]
        assert items(inv.find({"dim_cm": {"$gt": 25}})) == ["planner"]
        assert items(inv.find({"dim_cm": {"$gt": 15, "$lt": 20}})) == ["journal", "notebook", "paper", "postcard"]
        assert items(inv.find({"dim_cm": {"$elemMatch": {"$gt": 22, "$lt": 30}}})) == ["planner"]
        assert items(inv.find({"dim_cm.1": {"$gt": 25}})) == ["planner"]
        assert items(inv.find({"tags": {"$size": 3}})) == ["paper"]

    def test_query_array_of_documents(self, db: Any) -> None:
        db.inventory.insert_many([
            {"item": "journal", "instock": [{"warehouse": "A", "qty": 5}, {"warehouse": "C", "qty": 15}]},
            {"item": "notebook", "instock": [{"warehouse": "C", "qty": 5}]},
            {"item": "paper", "instock": [{"warehouse": "A", "qty": 60}, {"warehouse": "B", "qty": 15}]},
            {"item": "planner", "instock": [{"warehouse": "A", "qty": 40}, {"warehouse": "B", "qty": 5}]},
            {"item": "postcard", "instock": [{"warehouse": "B", "qty": 15}, {"warehouse": "C", "qty": 35}]},
        ])
        inv = db.inventory
        assert items(inv.find({"instock": {"warehouse": "A", "qty": 5}})) == ["journal"]
        assert items(inv.find({"instock": {"qty": 5, "warehouse": "A"}})) == []
        assert items(inv.find({"instock.0.qty": {"$lte": 20}})) == ["journal", "notebook", "postcard"]
        assert len(items(inv.find({"instock.qty": {"$lte": 20}}))) == 5
        assert items(inv.find({"instock": {"$elemMatch": {"qty": 5, "warehouse": "A"}}})) == ["journal"]
        assert items(inv.find({"instock": {"$elemMatch": {"qty": {"$gt": 10, "$lte": 20}}}})) == ["journal", "paper", "postcard"]
        assert items(inv.find({"instock.qty": {"$gt": 10, "$lte": 20}})) == ["journal", "paper", "planner", "postcard"]
        assert items(inv.find({"instock.qty": 5, "instock.warehouse": "A"})) == ["journal", "planner"]
        # null / missing fields
        db.nulls.insert_many([{"_id": 1, "item": None}, {"_id": 2}])
        assert [d["_id"] for d in db.nulls.find({"item": None}).sort("_id")] == [1, 2]
        assert [d["_id"] for d in db.nulls.find({"item": {"$exists": False}})] == [2]
        assert [d["_id"] for d in db.nulls.find({"item": {"$type": 10}})] == [1]


class TestProjection:
    def test_manual_examples(self, db: Any) -> None:
        db.inventory.insert_many([
            {"item": "journal", "status": "A", "size": {"h": 14, "w": 21, "uom": "cm"}, "instock": [{"warehouse": "A", "qty": 5}]},
            {"item": "postcard", "status": "A", "size": {"h": 10, "w": 15.25, "uom": "cm"}, "instock": [{"warehouse": "B", "qty": 15}, {"warehouse": "C", "qty": 35}]},
        ])
        inv = db.inventory
        docs = list(inv.find({"status": "A"}, {"item": 1, "status": 1}).sort("item"))
        assert [sorted(d) for d in docs] == [["_id", "item", "status"]] * 2
        docs = list(inv.find({"status": "A"}, {"item": 1, "status": 1, "_id": 0}).sort("item"))
        assert docs == [{"item": "journal", "status": "A"}, {"item": "postcard", "status": "A"}]
        docs = list(inv.find({"status": "A"}, {"status": 0, "instock": 0}).sort("item"))
        assert sorted(docs[0]) == ["_id", "item", "size"]
        assert inv.find_one({"item": "journal"}, {"size.uom": 1, "_id": 0}) == {"size": {"uom": "cm"}}
        assert inv.find_one({"item": "postcard"}, {"instock.qty": 1, "_id": 0}) == {"instock": [{"qty": 15}, {"qty": 35}]}
        assert inv.find_one({"item": "postcard"}, {"item": 1, "instock": {"$slice": -1}, "_id": 0}) == {"item": "postcard", "instock": [{"warehouse": "C", "qty": 35}]}
        assert inv.find_one({"item": "journal"}, projection=["item"])["item"] == "journal"


class TestSortSkipLimitCursor:
    def test_sort_forms(self, db: Any) -> None:
        db.c.insert_many([{"_id": i, "a": i % 3, "b": -i} for i in range(10)])
        ids = lambda cur: [d["_id"] for d in cur]  # noqa: E731
        assert ids(db.c.find().sort("b")) == list(range(9, -1, -1))
        assert ids(db.c.find().sort("b", DESCENDING)) == list(range(10))
        assert ids(db.c.find().sort([("a", ASCENDING), ("b", DESCENDING)])) == [0, 3, 6, 9, 1, 4, 7, 2, 5, 8]
        assert ids(db.c.find(sort={"a": -1, "_id": 1})) == [2, 5, 8, 1, 4, 7, 0, 3, 6, 9]
        assert ids(db.c.find().sort("_id").skip(2).limit(3)) == [2, 3, 4]
        assert ids(db.c.find(skip=8)) == [8, 9]
        assert ids(db.c.find().sort("_id")[4:6]) == [4, 5]
        assert db.c.find().sort("_id", -1)[0]["_id"] == 9
        assert db.c.find({}, sort=[("_id", -1)], limit=-2).to_list() == [{"_id": 9, "a": 0, "b": -9}, {"_id": 8, "a": 2, "b": -8}]
        assert db.c.find().distinct("a") == [0, 1, 2]
        assert sorted(db.c.distinct("a", {"_id": {"$lt": 2}})) == [0, 1]

    def test_cursor_across_batches(self, db: Any) -> None:
        db.big.insert_many([{"_id": i, "v": i} for i in range(350)])
        cursor = db.big.find().sort("_id")
        first = next(cursor)
        assert first["_id"] == 0 and cursor.cursor_id  # a live cursor after the first batch of 101
        assert [d["_id"] for d in cursor] == list(range(1, 350))
        assert not cursor.alive and cursor.cursor_id == 0
        docs = db.big.find(batch_size=40).sort("_id").to_list()
        assert [d["_id"] for d in docs] == list(range(350))
        assert len(db.big.find(batch_size=7, limit=30).to_list()) == 30
        cursor = db.big.find(batch_size=10)
        next(cursor)
        with pytest.raises(InvalidOperation):
            cursor.sort("v")
        cursor.close()
        assert not cursor.cursor_id
        assert len(list(cursor)) == 9  # as pymongo: the buffered rest of the first batch remains
        assert not cursor.alive
        agg = db.big.aggregate([{"$sort": {"_id": 1}}], batchSize=50)
        assert len(agg.to_list()) == 350

    def test_explain(self, db: Any) -> None:
        db.c.insert_one({"a": 1})
        plan = db.c.find({"a": 1}).explain()
        assert plan.get("ok", 1.0) == 1.0 and plan


class TestUpdateDelete:
    UPDATE_DOCS = [
        {"item": "canvas", "qty": 100, "size": {"h": 28, "w": 35.5, "uom": "cm"}, "status": "A"},
        {"item": "journal", "qty": 25, "size": {"h": 14, "w": 21, "uom": "cm"}, "status": "A"},
        {"item": "mat", "qty": 85, "size": {"h": 27.9, "w": 35.5, "uom": "cm"}, "status": "A"},
        {"item": "mousepad", "qty": 25, "size": {"h": 19, "w": 22.85, "uom": "cm"}, "status": "P"},
        {"item": "notebook", "qty": 50, "size": {"h": 8.5, "w": 11, "uom": "in"}, "status": "P"},
        {"item": "paper", "qty": 100, "size": {"h": 8.5, "w": 11, "uom": "in"}, "status": "D"},
        {"item": "planner", "qty": 75, "size": {"h": 22.85, "w": 30, "uom": "cm"}, "status": "D"},
        {"item": "postcard", "qty": 45, "size": {"h": 10, "w": 15.25, "uom": "cm"}, "status": "A"},
        {"item": "sketchbook", "qty": 80, "size": {"h": 14, "w": 21, "uom": "cm"}, "status": "A"},
        {"item": "sketch pad", "qty": 95, "size": {"h": 22.85, "w": 30.5, "uom": "cm"}, "status": "A"},
    ]

    def test_manual_update_examples(self, db: Any) -> None:
        inv = db.inventory
        inv.insert_many([dict(d) for d in self.UPDATE_DOCS])
        r = inv.update_one({"item": "paper"}, {"$set": {"size.uom": "cm", "status": "P"}, "$currentDate": {"lastModified": True}})
        assert (r.matched_count, r.modified_count, r.upserted_id) == (1, 1, None)
        paper = inv.find_one({"item": "paper"})
        assert paper["size"]["uom"] == "cm" and paper["status"] == "P"
        assert isinstance(paper["lastModified"], datetime.datetime)
        r = inv.update_many({"qty": {"$lt": 50}}, {"$set": {"size.uom": "in", "status": "P"}, "$currentDate": {"lastModified": True}})
        assert (r.matched_count, r.modified_count) == (3, 3)
        r = inv.replace_one({"item": "paper"}, {"item": "paper", "instock": [{"warehouse": "A", "qty": 60}, {"warehouse": "B", "qty": 40}]})
        assert (r.matched_count, r.modified_count) == (1, 1)
        replaced = inv.find_one({"item": "paper"})
        assert replaced["_id"] == paper["_id"] and "status" not in replaced
        r = inv.update_one({"item": "nothing"}, {"$set": {"x": 1}})
        assert (r.matched_count, r.modified_count) == (0, 0)
        r = inv.update_one({"item": "canvas"}, {"$set": {"qty": 100}})
        assert (r.matched_count, r.modified_count) == (1, 0)
        with pytest.raises(WriteError) as info:
            inv.update_one({"item": "canvas"}, {"$set": {"_id": 5}})
        assert info.value.code == 66

    def test_manual_delete_examples(self, db: Any) -> None:
        inv = db.inventory
        inv.insert_many([dict(d) for d in INVENTORY])
        assert inv.delete_one({"status": "D"}).deleted_count == 1
        assert inv.delete_many({"status": "A"}).deleted_count == 3
        assert inv.delete_many({}).deleted_count == 1
        assert inv.count_documents({}) == 0

    def test_upsert_set_on_insert(self, db: Any) -> None:
        users = db.users
        now = datetime.datetime(2024, 1, 15, 10, 30)
        update = {"$set": {"name": "Jane Smith", "updatedAt": now}, "$setOnInsert": {"createdAt": now}}
        r = users.update_one({"email": "jane@example.com"}, update, upsert=True)
        assert r.matched_count == 0 and r.modified_count == 0 and isinstance(r.upserted_id, ObjectId)
        jane = users.find_one({"email": "jane@example.com"})
        assert jane == {"_id": r.upserted_id, "email": "jane@example.com", "name": "Jane Smith", "updatedAt": now, "createdAt": now}
        later = datetime.datetime(2024, 2, 1)
        r2 = users.update_one({"email": "jane@example.com"}, {"$set": {"updatedAt": later}, "$setOnInsert": {"createdAt": later}}, upsert=True)
        assert (r2.matched_count, r2.modified_count, r2.upserted_id) == (1, 1, None)
        assert users.find_one({"email": "jane@example.com"})["createdAt"] == now
        r3 = users.replace_one({"_id": 42}, {"name": "x"}, upsert=True)
        assert r3.upserted_id == 42

    def test_upsert_details(self, db: Any) -> None:
        r = db.u.update_one({"email": "a@b", "n": {"$gt": 1}}, {"$set": {"x": 1}}, upsert=True)
        assert r.did_upsert and r.raw_result["updatedExisting"] is False
        assert db.u.find_one({"_id": r.upserted_id}, {"_id": 0}) == {"email": "a@b", "x": 1}
        assert db.u.update_one({"_id": 77}, {"$inc": {"n": 1}}, upsert=True).upserted_id == 77
        again = db.u.update_one({"_id": 77}, {"$inc": {"n": 1}}, upsert=True)
        assert not again.did_upsert and again.upserted_id is None and again.matched_count == 1
        assert db.k.find_one_and_update({"_id": "y"}, {"$setOnInsert": {"v": 1}}, upsert=True) is None
        assert db.k.find_one({"_id": "y"}) == {"_id": "y", "v": 1}

    def test_pipeline_update_and_let(self, db: Any) -> None:
        db.c.insert_many([{"_id": 1, "a": 1}, {"_id": 2, "a": 2}])
        r = db.c.update_one({"_id": 1}, [{"$set": {"b": {"$add": ["$a", 10]}}}])
        assert r.modified_count == 1 and db.c.find_one(1) == {"_id": 1, "a": 1, "b": 11}
        assert [d["_id"] for d in db.c.find({"$expr": {"$eq": ["$a", "$$v"]}}, let={"v": 2})] == [2]
        r = db.c.update_many({"$expr": {"$gte": ["$a", "$$min"]}}, {"$set": {"seen": True}}, let={"min": 1})
        assert r.matched_count == 2

    def test_update_errors(self, db: Any) -> None:
        db.c.insert_one({"_id": 1, "a": 1})
        with pytest.raises(WriteError) as info:
            db.c.update_one({}, {"$set": {"a": 1}, "$inc": {"a": 1}})
        assert info.value.code == 40
        with pytest.raises(WriteError) as info:
            db.c.update_one({}, {"$bad": {"a": 1}})
        assert info.value.code == 9
        with pytest.raises(OperationFailure) as info2:
            db.c.find_one({"a": {"$bad": 1}})
        assert info2.value.code == 2 and info2.value.code_name == "BadValue"

    def test_cursor_not_found(self, db: Any, client: MongoClient) -> None:
        db.c.insert_many([{"_id": i} for i in range(10)])
        cursor = db.c.find(batch_size=2)
        next(cursor)
        db.command({"killCursors": "c", "cursors": [cursor.cursor_id]})
        next(cursor)  # still buffered
        with pytest.raises(nestdb.errors.CursorNotFound):
            next(cursor)

    def test_array_filters(self, db: Any) -> None:
        db.students.insert_many([{"_id": 1, "grades": [95, 92, 90]}, {"_id": 2, "grades": [98, 100, 102]}, {"_id": 3, "grades": [95, 110, 100]}])
        db.students.update_many({}, {"$set": {"grades.$[element]": 100}}, array_filters=[{"element": {"$gte": 100}}])
        assert [d["grades"] for d in db.students.find().sort("_id")] == [[95, 92, 90], [98, 100, 100], [95, 100, 100]]

    def test_find_one_and_modify(self, db: Any) -> None:
        db.counters.insert_one({"_id": "orders", "seq": 0})
        before = db.counters.find_one_and_update({"_id": "orders"}, {"$inc": {"seq": 1}})
        assert before == {"_id": "orders", "seq": 0}
        after = db.counters.find_one_and_update({"_id": "orders"}, {"$inc": {"seq": 1}}, return_document=ReturnDocument.AFTER)
        assert after == {"_id": "orders", "seq": 2}
        created = db.counters.find_one_and_update({"_id": "users"}, {"$inc": {"seq": 1}}, upsert=True, return_document=ReturnDocument.AFTER, projection={"_id": 0})
        assert created == {"seq": 1}
        assert db.counters.find_one_and_update({"_id": "none"}, {"$inc": {"seq": 1}}) is None
        db.q.insert_many([{"_id": i, "p": i} for i in range(5)])
        assert db.q.find_one_and_delete({}, sort=[("p", -1)]) == {"_id": 4, "p": 4}
        assert db.q.count_documents({}) == 4
        old = db.q.find_one_and_replace({"p": 0}, {"p": 10}, return_document=ReturnDocument.BEFORE)
        assert old == {"_id": 0, "p": 0} and db.q.find_one({"_id": 0}) == {"_id": 0, "p": 10}


class TestErrorsAndBulk:
    def test_duplicate_key(self, db: Any) -> None:
        db.c.insert_one({"_id": 1})
        with pytest.raises(DuplicateKeyError) as info:
            db.c.insert_one({"_id": 1})
        assert info.value.code == 11000
        assert info.value.details["keyValue"] == {"_id": 1}
        assert "E11000" in info.value.details["errmsg"]

    def test_insert_many_partial(self, db: Any) -> None:
        with pytest.raises(BulkWriteError) as info:
            db.c.insert_many([{"_id": 1}, {"_id": 2}, {"_id": 1}, {"_id": 3}])
        d = info.value.details
        assert d["nInserted"] == 2 and d["writeErrors"][0]["index"] == 2 and d["writeErrors"][0]["code"] == 11000
        assert d["writeErrors"][0]["op"] == {"_id": 1}
        assert db.c.count_documents({}) == 2
        db.d.insert_one({"_id": 2})
        with pytest.raises(BulkWriteError) as info2:
            db.d.insert_many([{"_id": 1}, {"_id": 2}, {"_id": 3}], ordered=False)
        assert info2.value.details["nInserted"] == 2 and db.d.count_documents({}) == 3

    def test_insert_many_mappings_and_non_mappings(self, db: Any) -> None:
        import collections
        import types

        class Frozen(collections.abc.Mapping):  # a read-only Mapping: fine when it has an _id
            def __init__(self, d: Dict[str, Any]) -> None:
                self._d = d

            def __getitem__(self, k: str) -> Any:
                return self._d[k]

            def __iter__(self) -> Any:
                return iter(self._d)

            def __len__(self) -> int:
                return len(self._d)

        docs = [{"_id": 1}, collections.OrderedDict(_id=2, a=1), Frozen({"_id": 3, "b": 2}), types.MappingProxyType({"_id": 4})]
        assert db.m.insert_many(docs).inserted_ids == [1, 2, 3, 4]
        assert list(db.m.find({}, sort=[("_id", 1)])) == [{"_id": 1}, {"_id": 2, "a": 1}, {"_id": 3, "b": 2}, {"_id": 4}]
        for bad in ([{"_id": 5}, 7], [{"_id": 5}, [("_id", 6)]], [{"_id": 5}, "doc"]):
            with pytest.raises(TypeError, match="must be an instance of dict"):
                db.m.insert_many(bad)
        assert db.m.count_documents({}) == 4  # nothing of a refused batch was inserted

    def test_bulk_write_ordered_vs_unordered(self, db: Any) -> None:
        requests = [
            InsertOne({"_id": 1, "n": 0}),
            InsertOne({"_id": 1, "n": 0}),  # duplicate in the middle
            UpdateOne({"_id": 1}, {"$inc": {"n": 1}}),
            ReplaceOne({"_id": 2}, {"n": 5}, upsert=True),
            DeleteOne({"_id": 3}),
        ]
        with pytest.raises(BulkWriteError) as info:
            db.ordered.bulk_write(requests, ordered=True)
        d = info.value.details
        assert (d["nInserted"], d["nMatched"], d["nUpserted"], d["nRemoved"]) == (1, 0, 0, 0)
        assert [e["index"] for e in d["writeErrors"]] == [1]
        assert db.ordered.find_one({"_id": 1}) == {"_id": 1, "n": 0}
        requests2 = [
            InsertOne({"_id": 1, "n": 0}),
            InsertOne({"_id": 1, "n": 0}),
            UpdateOne({"_id": 1}, {"$inc": {"n": 1}}),
            ReplaceOne({"_id": 2}, {"n": 5}, upsert=True),
            DeleteOne({"_id": 3}),
        ]
        with pytest.raises(BulkWriteError) as info2:
            db.unordered.bulk_write(requests2, ordered=False)
        d2 = info2.value.details
        assert (d2["nInserted"], d2["nMatched"], d2["nModified"], d2["nUpserted"], d2["nRemoved"]) == (1, 1, 1, 1, 0)
        assert d2["upserted"] == [{"index": 3, "_id": 2}]
        assert [e["index"] for e in d2["writeErrors"]] == [1]
        assert db.unordered.find_one({"_id": 1}) == {"_id": 1, "n": 1}
        ok = db.ok.bulk_write([InsertOne({"_id": 1}), UpdateMany({}, {"$set": {"x": 1}}), DeleteMany({"x": 2}), UpdateOne({"_id": 9}, {"$set": {"y": 1}}, upsert=True)])
        assert (ok.inserted_count, ok.matched_count, ok.modified_count, ok.deleted_count, ok.upserted_count) == (1, 1, 1, 0, 1)
        assert ok.upserted_ids == {3: 9}

    def test_operation_failure(self, db: Any) -> None:
        db.c.insert_one({"a": 1})
        with pytest.raises(OperationFailure) as info:
            list(db.c.find({"a": {"$nosuchop": 1}}))
        assert info.value.code == 2 and info.value.details["ok"] == 0.0

    def test_invalid_document(self, db: Any) -> None:
        with pytest.raises(nestdb.errors.InvalidDocument):
            db.c.insert_one({"s": {1, 2}})
        with pytest.raises(nestdb.errors.InvalidDocument):
            db.c.insert_one({"d": datetime.date(2024, 1, 1)})
        with pytest.raises(OverflowError):
            db.c.insert_one({"big": 2**64})


class TestTypes:
    def test_datetime_round_trip(self, db: Any) -> None:
        aware = datetime.datetime(2024, 1, 15, 10, 30, 0, 123456, tzinfo=datetime.timezone(datetime.timedelta(hours=2)))
        naive = datetime.datetime(2024, 1, 15, 10, 30, 0, 999999)
        db.t.insert_one({"_id": 1, "aware": aware, "naive": naive})
        doc = db.t.find_one({"_id": 1})
        assert doc["aware"] == datetime.datetime(2024, 1, 15, 8, 30, 0, 123000) and doc["aware"].tzinfo is None
        assert doc["naive"] == datetime.datetime(2024, 1, 15, 10, 30, 0, 999000)
        aware_client = MongoClient(_native=db.client._native, tz_aware=True)
        got = aware_client.test.t.find_one({"_id": 1})["aware"]
        assert got.tzinfo is not None and got == aware.replace(microsecond=123000)
        assert db.t.count_documents({"naive": {"$gt": datetime.datetime(2024, 1, 1)}}) == 1

    def test_bson_values(self, db: Any) -> None:
        values = {
            "_id": 1,
            "oid": ObjectId(),
            "dec": nestdb.Decimal128("1.10"),
            "bin": nestdb.Binary(b"\x00\x01", 4),
            "raw": b"bytes",
            "i64": nestdb.Int64(5),
            "big": 2**40,
            "f": 1.5,
            "ts": nestdb.Timestamp(100, 1),
            "re": nestdb.Regex("^a", "i"),
            "min": nestdb.MinKey(),
            "max": nestdb.MaxKey(),
            "none": None,
            "t": True,
            "tuple": (1, 2),
        }
        db.v.insert_one(dict(values))
        doc = db.v.find_one({"_id": 1})
        for key in ("oid", "dec", "bin", "raw", "i64", "big", "f", "ts", "min", "max", "none", "t"):
            assert doc[key] == values[key], key
        assert type(doc["raw"]) is bytes and doc["bin"].subtype == 4
        assert isinstance(doc["big"], nestdb.Int64) and type(doc["i64"]) is nestdb.Int64
        assert doc["re"].pattern == "^a" and doc["re"].flags & re.IGNORECASE
        assert doc["tuple"] == [1, 2]

    def test_code_round_trip(self, db: Any) -> None:
        db.v.insert_one({"_id": 1, "code": nestdb.Code("function() { return 1; }")})
        got = db.v.find_one({"_id": 1})["code"]
        assert isinstance(got, nestdb.Code) and got == nestdb.Code("function() { return 1; }")

    def test_pymongo_bson_interop(self, db: Any) -> None:
        bson = pytest.importorskip("bson")
        theirs = bson.ObjectId()
        db.x.insert_one({"_id": theirs, "d": bson.Decimal128("2.5"), "i": bson.Int64(3)})
        doc = db.x.find_one({"_id": theirs})
        assert doc["_id"] == theirs and str(doc["d"]) == "2.5" and doc["i"] == 3


class TestDatabaseAndClient:
    def test_collections_and_databases(self, client: MongoClient) -> None:
        db = client.shop
        db.create_collection("orders")
        with pytest.raises(CollectionInvalid):
            db.create_collection("orders")
        db.users.insert_one({"a": 1})
        assert sorted(db.list_collection_names()) == ["orders", "users"]
        assert [c["name"] for c in db.list_collections(filter={"name": "users"})] == ["users"]
        assert "shop" in client.list_database_names()
        assert db.command("ping")["ok"] == 1.0
        assert db.command({"count": "users"})["n"] == 1
        assert db.command("count", "users")["n"] == 1
        assert db.command("dbStats")["collections"] == 2
        db.users.rename("people")
        assert sorted(db.list_collection_names()) == ["orders", "people"]
        db.people.drop()
        db.drop_collection("orders")
        db.drop_collection("never-existed")
        assert db.list_collection_names() == []
        client.other.c.insert_one({})
        client.drop_database("other")
        assert "other" not in client.list_database_names()
        assert db.users.estimated_document_count() == 0

    def test_client_options(self, tmp_path: Any) -> None:
        class Doc(dict):
            pass

        path = str(tmp_path / "opts.nest")
        c = MongoClient(path, appendfsync="always", tz_aware=True, document_class=Doc, serverSelectionTimeoutMS=5, connect=False)
        c.db.c.insert_one({"_id": 1, "at": datetime.datetime(2024, 1, 1), "sub": {"x": 1}})
        doc = c.db.c.find_one(1)
        assert type(doc) is Doc and type(doc["sub"]) is Doc
        assert doc["at"] == datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
        assert c.db.c.distinct("at")[0].tzinfo is not None
        assert c.server_info()["ok"] == 1.0
        # the same directory serves the Redis API
        assert nestdb.Redis(path).set("k", "v") is True
        c.close()
        with pytest.raises(InvalidOperation):
            c.db.c.find_one()
        with pytest.raises(nestdb.errors.ConfigurationError):
            MongoClient(no_such_option=1)

    def test_persistence(self, tmp_path: Any) -> None:
        path = str(tmp_path / "db.nest")
        with MongoClient(path) as c:
            c.app.users.insert_one({"_id": 1, "name": "Ann"})
        with MongoClient(path) as c:
            assert c.app.users.find_one({"_id": 1}) == {"_id": 1, "name": "Ann"}
