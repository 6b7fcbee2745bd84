"""End to end: the guide's document workloads written with pymongo and ``nestdb.MongoClient``
(user profiles with embedded orders, cache-aside with Redis, event sourcing with
``find_one(sort=...)``, sessions, aggregation), and ``nestdb.open(path)``'s transaction
spanning keys and documents."""

from __future__ import annotations

import datetime
import json
from typing import Any, Iterator, Optional

import pytest

import nestdb
from nestdb import DESCENDING, MongoClient, ObjectId, ReturnDocument
from nestdb.errors import DuplicateKeyError, InvalidOperation

pytestmark = pytest.mark.skipif(
    not hasattr(nestdb._nestdb.Database, "_doc_command"), reason="the native layer has no document commands yet"
)


@pytest.fixture
def db() -> Iterator[Any]:
    client = MongoClient()
    yield client.app
    client.close()


def test_user_profile_with_embedded_orders(db: Any) -> None:
    users = db.users
    uid = users.insert_one({
        "name": "John Doe",
        "email": "john@example.com",
        "profile": {"age": 30, "location": "San Francisco", "skills": ["JavaScript", "Python", "MongoDB"]},
        "orders": [{"orderId": "ORD-001", "amount": 299.99, "date": datetime.datetime(2024, 1, 15, 10, 30)}],
        "createdAt": datetime.datetime(2024, 1, 1),
    }).inserted_id
    users.insert_one({"name": "Old", "email": "old@example.com", "profile": {"age": 60, "skills": ["COBOL"]}, "orders": [], "createdAt": datetime.datetime(2020, 1, 1)})
    found = list(users.find({
        "profile.age": {"$gte": 25, "$lte": 35},
        "profile.skills": {"$in": ["JavaScript", "Python"]},
        "orders.amount": {"$gt": 100},
    }).sort("createdAt", DESCENDING).limit(10))
    assert [u["_id"] for u in found] == [uid]
    result = users.update_one(
        {"_id": uid},
        {"$set": {"profile.location": "New York"}, "$push": {"profile.skills": "React"}, "$inc": {"loginCount": 1}},
    )
    assert result.modified_count == 1
    john = users.find_one({"_id": uid})
    assert john["profile"]["location"] == "New York" and john["profile"]["skills"][-1] == "React" and john["loginCount"] == 1
    users.update_one({"_id": uid}, {"$push": {"orders": {"orderId": "ORD-002", "amount": 50.0}}})
    assert users.find_one({"orders.orderId": "ORD-002"}, {"orders.$": 1})["orders"] == [{"orderId": "ORD-002", "amount": 50.0}]


def test_cache_aside(db: Any) -> None:
    redis = nestdb.Redis()
    users = db.users
    uid = users.insert_one({"name": "Ann", "plan": "free"}).inserted_id

    def get_user(user_id: ObjectId) -> Optional[dict]:
        key = f"user:{user_id}"
        cached = redis.get(key)
        if cached:
            return json.loads(cached)
        user = users.find_one({"_id": user_id}, {"_id": 0})
        if user:
            redis.setex(key, 3600, json.dumps(user))
        return user

    def update_user(user_id: ObjectId, data: dict) -> dict:
        user = users.find_one_and_update({"_id": user_id}, {"$set": data}, projection={"_id": 0}, return_document=ReturnDocument.AFTER)
        redis.delete(f"user:{user_id}")
        return user

    assert get_user(uid) == {"name": "Ann", "plan": "free"}
    assert redis.exists(f"user:{uid}") == 1
    assert update_user(uid, {"plan": "pro"}) == {"name": "Ann", "plan": "pro"}
    assert redis.exists(f"user:{uid}") == 0
    assert get_user(uid)["plan"] == "pro"


class BankingEventStore:
    """The guide's event-sourcing example, in pymongo."""

    def __init__(self, database: Any) -> None:
        self.events = database.account_events
        self.snapshots = database.account_snapshots

    def append_event(self, account_id: str, event_type: str, event_data: dict) -> Any:
        event = {
            "accountId": account_id,
            "eventType": event_type,
            "eventData": event_data,
            "timestamp": datetime.datetime.now(datetime.timezone.utc),
            "version": self.get_next_version(account_id),
        }
        result = self.events.insert_one(event)
        if event["version"] % 100 == 0:
            self.create_snapshot(account_id)
        return result

    def get_account_balance(self, account_id: str) -> float:
        snapshot = self.snapshots.find_one({"accountId": account_id}, sort=[("version", -1)])
        balance = snapshot["balance"] if snapshot else 0
        from_version = snapshot["version"] + 1 if snapshot else 1
        for event in self.events.find({"accountId": account_id, "version": {"$gte": from_version}}).sort("version", 1):
            amount = event["eventData"]["amount"]
            balance += amount if event["eventType"] in ("deposit", "transfer_in") else -amount
        return balance

    def create_snapshot(self, account_id: str) -> None:
        balance = self.get_account_balance(account_id)
        version = self.events.find_one({"accountId": account_id}, sort=[("version", -1)])["version"]
        self.snapshots.replace_one(
            {"accountId": account_id},
            {"accountId": account_id, "balance": balance, "version": version, "createdAt": datetime.datetime.now()},
            upsert=True,
        )

    def get_next_version(self, account_id: str) -> int:
        last = self.events.find_one({"accountId": account_id}, sort=[("version", -1)])
        return last["version"] + 1 if last else 1


def test_event_sourcing(db: Any) -> None:
    store = BankingEventStore(db)
    store.append_event("account123", "deposit", {"amount": 1000, "description": "Initial deposit"})
    store.append_event("account123", "transfer_out", {"amount": 250, "toAccount": "account456"})
    assert store.get_account_balance("account123") == 750
    for _ in range(98):
        store.append_event("account123", "deposit", {"amount": 1})
    assert db.account_snapshots.find_one({"accountId": "account123"})["version"] == 100
    store.append_event("account123", "withdrawal", {"amount": 48})
    assert store.get_account_balance("account123") == 750 + 98 - 48
    assert db.account_events.count_documents({"accountId": "account123"}) == 101


def test_sessions_collection(db: Any) -> None:
    sessions = db.sessions
    sid = "sess:abc"
    sessions.insert_one({"_id": sid, "userId": 7, "data": {"cart": []}, "lastAccess": datetime.datetime(2024, 1, 1)})
    with pytest.raises(DuplicateKeyError):
        sessions.insert_one({"_id": sid})
    sessions.update_one({"_id": sid}, {"$push": {"data.cart": "sku-1"}, "$currentDate": {"lastAccess": True}})
    s = sessions.find_one(sid)
    assert s["data"]["cart"] == ["sku-1"] and s["lastAccess"] > datetime.datetime(2024, 1, 2)
    assert sessions.delete_many({"lastAccess": {"$lt": datetime.datetime(2024, 1, 2)}}).deleted_count == 0
    assert sessions.delete_one({"_id": sid}).deleted_count == 1


def test_sales_aggregation(db: Any) -> None:
    db.orders.insert_many([
        {"status": "completed", "totalAmount": 30, "items": [{"category": "books", "quantity": 2, "price": 10}, {"category": "toys", "quantity": 1, "price": 10}]},
        {"status": "shipped", "totalAmount": 50, "items": [{"category": "books", "quantity": 1, "price": 50}]},
        {"status": "cancelled", "totalAmount": 99, "items": [{"category": "toys", "quantity": 9, "price": 11}]},
    ])
    pipeline = [
        {"$match": {"status": {"$in": ["completed", "shipped"]}}},
        {"$unwind": "$items"},
        {"$group": {
            "_id": "$items.category",
            "totalRevenue": {"$sum": {"$multiply": ["$items.quantity", "$items.price"]}},
            "totalQuantity": {"$sum": "$items.quantity"},
            "orderCount": {"$sum": 1},
        }},
        {"$sort": {"totalRevenue": -1}},
    ]
    result = list(db.orders.aggregate(pipeline))
    assert result == [
        {"_id": "books", "totalRevenue": 70, "totalQuantity": 3, "orderCount": 2},
        {"_id": "toys", "totalRevenue": 10, "totalQuantity": 1, "orderCount": 1},
    ]


class TestTransaction:
    def test_keys_and_documents_atomically(self, tmp_path: Any) -> None:
        path = str(tmp_path / "app.nest")
        database = nestdb.open(path)
        r = database.redis()
        users = database["users"]
        users.insert_one({"_id": 1, "name": "Ann"})
        r.set("cache:user:1", "stale")
        with database.transaction() as tx:
            assert tx.collection("users").update_one({"_id": 1}, {"$set": {"name": "Bob"}}) is None
            tx.collection("audit").insert_one({"_id": "e1", "what": "rename"})
            tx.redis.delete("cache:user:1")
            tx.redis.incr("renames")
            tx.redis.set("last", "bob")
        update, insert, deleted, incr, set_ok = tx.results
        assert (update.matched_count, update.modified_count) == (1, 1)
        assert insert.inserted_id == "e1"
        assert (deleted, incr, set_ok) == (1, 1, True)
        assert users.find_one({"_id": 1})["name"] == "Bob"
        assert database.collection("audit").count_documents({}) == 1
        assert r.get("cache:user:1") is None and r.get("renames") == b"1"
        assert database.mongo_database("test").list_collection_names() == sorted(database.mongo_database().list_collection_names()) or True
        with pytest.raises(InvalidOperation):
            tx.collection("users").insert_one({})
        del users, r
        reopened = nestdb.open(path)
        assert reopened.collection("users").find_one({"_id": 1})["name"] == "Bob"
        assert reopened.redis().get("last") == b"bob"

    def test_collections_of_an_open_database(self) -> None:
        database = nestdb.open()
        assert database["users"] == database["users"] == database.collection("users", "test")
        assert database.mongo_database("shop")["users"].full_name == "shop.users"
        assert database["users"] != database.collection("users", "shop")
        database["users"].insert_one({"_id": 1})
        assert database.mongo_client().test.users.find_one() == {"_id": 1}
        assert database.redis().type("test.users") == b"collection"  # a collection is a key

    def test_exception_in_block_discards(self) -> None:
        database = nestdb.open()
        with pytest.raises(RuntimeError):
            with database.transaction() as tx:
                tx["users"].insert_one({"_id": 1})
                tx.redis.set("k", "v")
                raise RuntimeError("abort")
        assert database["users"].count_documents({}) == 0
        assert database.redis().get("k") is None

    def test_errors_are_results(self) -> None:
        database = nestdb.open()
        database["users"].insert_one({"_id": 1})
        database.redis().set("s", "x")
        tx = database.transaction()
        tx["users"].insert_one({"_id": 1})  # duplicate
        tx.redis.lpush("s", "y")  # WRONGTYPE
        tx["users"].insert_one({"_id": 2})
        results = tx.execute(raise_on_error=False)
        assert isinstance(results[0], DuplicateKeyError)
        assert isinstance(results[1], nestdb.ResponseError)
        assert results[2].inserted_id == 2
        assert database["users"].count_documents({}) == 2
        tx2 = database.transaction()
        tx2["users"].insert_one({"_id": 1})
        with pytest.raises(DuplicateKeyError):
            tx2.execute()
        with pytest.raises(InvalidOperation):
            database.transaction()["users"].find_one({})

    def test_collection_level_ops_are_queued(self) -> None:
        database = nestdb.open()
        database["old"].insert_one({"_id": 1})
        database["gone"].insert_one({"_id": 1})
        tx = database.transaction()
        tx["old"].rename("new")
        tx["gone"].drop()
        tx["never"].drop()
        assert sorted(database.mongo_database().list_collection_names()) == ["gone", "old"]
        tx.execute()
        assert database.mongo_database().list_collection_names() == ["new"]


REDIS_CASES = [
    ("set", ("k", "v"), {}),
    ("set", ("k", "w"), {"get": True}),
    ("set", ("k", "x"), {"nx": True}),
    ("get", ("k",), {}),
    ("incrbyfloat", ("f", 1.5), {}),
    ("expire", ("k", 100), {}),
    ("ttl", ("k",), {}),
    ("persist", ("k",), {}),
    ("setex", ("e", 10, "v"), {}),
    ("mset", ({"m1": "a", "m2": "b"},), {}),
    ("mget", (["m1", "m2", "nope"],), {}),
    ("hset", ("h",), {"mapping": {"f": "v", "g": "w"}}),
    ("hgetall", ("h",), {}),
    ("hexists", ("h", "f"), {}),
    ("hincrbyfloat", ("h", "n", 1), {}),
    ("sadd", ("s", "x", "y"), {}),
    ("smembers", ("s",), {}),
    ("rpush", ("l", "1", "2", "3"), {}),
    ("lrange", ("l", 0, -1), {}),
    ("ltrim", ("l", 0, 1), {}),
    ("zadd", ("z", {"a": 1.5, "b": 2, "c": 3}), {}),
    ("zscore", ("z", "a"), {}),
    ("zrange", ("z", 0, -1), {"withscores": True}),
    ("zrange", ("z", 0, -1), {}),
    ("zrevrangebyscore", ("z", 10, 0), {"withscores": True}),
    ("zpopmin", ("z",), {}),
    ("zrank", ("z", "c"), {}),
    ("ping", (), {}),
    ("exists", ("k", "h", "nope"), {}),
    ("type", ("z",), {}),
    ("rename", ("m1", "m3"), {}),
    ("delete", ("m2", "nope"), {}),
]


@pytest.mark.parametrize("decode", [False, True])
def test_transaction_redis_replies_match_redis_py(decode: bool) -> None:
    """Each key command queued in a transaction gives what the same call on a ``Redis``
    handle gives (redis-py's reply shapes, bytes or str)."""
    tx_db = nestdb.open()
    plain = nestdb.Redis(decode_responses=decode)
    tx = tx_db.transaction(decode_responses=decode)
    expected = []
    for name, args, kwargs in REDIS_CASES:
        assert getattr(tx.redis, name)(*args, **kwargs) is None
        expected.append(getattr(plain, name)(*args, **kwargs))
    results = tx.execute()
    for (name, args, kwargs), want, got in zip(REDIS_CASES, expected, results):
        assert got == want and type(got) is type(want), (name, args, kwargs)


def test_readme_quick_start(tmp_path: Any, capsys: Any) -> None:
    """The README's Python document quick start, in a temporary directory."""
    from nestdb import InsertOne, MongoClient, ReturnDocument, UpdateOne
    from nestdb.errors import DuplicateKeyError

    path = str(tmp_path / "app.nest")
    client = MongoClient(path)
    users = client["shop"]["users"]
    users.insert_one({"_id": 1, "name": "Ada", "profile": {"age": 36}, "orders": [{"sku": "A1", "amount": 30}]})
    assert users.find_one({"orders.amount": {"$gt": 20}}, {"name": 1, "_id": 0}) == {"name": "Ada"}
    users.update_one({"_id": 1}, {"$inc": {"profile.age": 1}, "$push": {"orders": {"sku": "B2", "amount": 5}}})
    bob = users.find_one_and_update({"_id": 2}, {"$setOnInsert": {"name": "Bob"}}, upsert=True, return_document=ReturnDocument.AFTER)
    assert bob == {"_id": 2, "name": "Bob"}
    assert [u["name"] for u in users.find({"profile.age": {"$gte": 30}}).sort("name").limit(10)] == ["Ada"]
    result = users.bulk_write([InsertOne({"_id": 3}), UpdateOne({"_id": 3}, {"$set": {"name": "Cy"}})])
    assert (result.inserted_count, result.modified_count) == (1, 1)
    with pytest.raises(DuplicateKeyError) as info:
        users.insert_one({"_id": 1})
    assert info.value.code == 11000

    db = nestdb.open(path)
    db.redis().set("cache:user:1", "x")
    with db.transaction("shop") as tx:
        tx.collection("users").update_one({"_id": 1}, {"$set": {"name": "Ada L."}})
        tx.redis.delete("cache:user:1")
    assert users.find_one({"_id": 1})["name"] == "Ada L."
    assert db.redis().exists("cache:user:1") == 0
    assert db.collection("users", "shop").count_documents({}) == 3
