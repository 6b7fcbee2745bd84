"""The Redis workloads of the NoSQL guide (shared/seed/nosql-mongodb-redis-guide.md), written
as ordinary redis-py code and run unchanged against nestdb.Redis — and against redis-py +
redis-server when available, with the same assertions, to show the code is plain redis-py."""

from __future__ import annotations

import json
import math
import random
import threading
import time
import uuid

import pytest

import nestdb

from conftest import requires


@pytest.fixture(params=["nestdb", "redis"])
def r(request):
    if request.param == "nestdb":
        client = nestdb.Redis()
        yield client
        client.close()
    else:
        yield request.getfixturevalue("real")


@pytest.fixture(params=["nestdb", "redis"])
def rs(request):
    """decode_responses=True flavour."""
    if request.param == "nestdb":
        client = nestdb.Redis(decode_responses=True)
        yield client
        client.close()
    else:
        import redis

        real = request.getfixturevalue("real")
        client = redis.Redis(port=real.connection_pool.connection_kwargs["port"], decode_responses=True)
        yield client
        client.close()


# ------------------------------------------------------------------ strings (guide §1)


def test_strings_counters_and_multi_get(rs):
    rs.set("user:1001:name", "John Doe")
    rs.setex("session:abc123", 3600, json.dumps({"user": 1001}))
    for _ in range(3):
        rs.incr("page:views:homepage")
    rs.mset({"user:1001:email": "john@example.com", "user:1001:status": "active"})
    assert rs.mget("user:1001:name", "user:1001:email") == ["John Doe", "john@example.com"]
    assert rs.get("page:views:homepage") == "3"
    assert 3590 < rs.ttl("session:abc123") <= 3600
    assert json.loads(rs.get("session:abc123")) == {"user": 1001}


# ------------------------------------------------------------------ cache-aside with SETEX


class UserService:
    """Cache-aside: read through the cache, fill it with SETEX, invalidate on write."""

    def __init__(self, cache, database):
        self.cache = cache
        self.db = database
        self.db_reads = 0

    def get_user(self, user_id):
        key = f"user:{user_id}"
        cached = self.cache.get(key)
        if cached is not None:
            return json.loads(cached)
        self.db_reads += 1
        user = self.db.get(user_id)
        if user is not None:
            self.cache.setex(key, 3600, json.dumps(user))
        return user

    def update_user(self, user_id, fields):
        self.db[user_id].update(fields)
        self.cache.delete(f"user:{user_id}")


def test_cache_aside(r):
    svc = UserService(r, {1: {"name": "Ada", "plan": "free"}, 2: {"name": "Bo", "plan": "pro"}})
    assert svc.get_user(1) == {"name": "Ada", "plan": "free"}
    assert svc.get_user(1) == {"name": "Ada", "plan": "free"}
    assert svc.db_reads == 1
    assert 3595 <= r.ttl("user:1") <= 3600
    svc.update_user(1, {"plan": "pro"})
    assert r.exists("user:1") == 0
    assert svc.get_user(1)["plan"] == "pro" and svc.db_reads == 2
    assert svc.get_user(3) is None and r.get("user:3") is None


# ------------------------------------------------------------------ rate limiter


class RateLimiter:
    """Sliding window: ZREMRANGEBYSCORE old entries, ZCARD, ZADD this request, EXPIRE."""

    def __init__(self, redis_client):
        self.redis = redis_client

    def is_allowed(self, key, limit, window_ms, now_ms=None):
        now = int(time.time() * 1000) if now_ms is None else now_ms
        pipeline = self.redis.pipeline()
        pipeline.zremrangebyscore(key, 0, now - window_ms)
        pipeline.zcard(key)
        pipeline.zadd(key, {f"{now}-{random.random()}": now})
        pipeline.expire(key, math.ceil(window_ms / 1000))
        results = pipeline.execute()
        current_count = results[1]
        return current_count < limit


@requires("zadd", "zcard", "zremrangebyscore")
def test_sliding_window_rate_limiter(r):
    limiter = RateLimiter(r)
    t0 = 1_700_000_000_000
    allowed = [limiter.is_allowed("api:user:1001", 5, 60_000, now_ms=t0 + i) for i in range(7)]
    assert allowed == [True] * 5 + [False] * 2
    assert r.zcard("api:user:1001") == 7
    assert 0 < r.ttl("api:user:1001") <= 60
    # a minute later the window has slid past the early requests
    # (scores <= t0+3 fall out: 3 remain, plus this one)
    assert limiter.is_allowed("api:user:1001", 5, 60_000, now_ms=t0 + 60_003) is True
    assert r.zcard("api:user:1001") == 4
    # real clock, separate user
    assert limiter.is_allowed("api:user:1002", 1, 1000) is True
    assert limiter.is_allowed("api:user:1002", 1, 1000) is False


# ------------------------------------------------------------------ lock with SET NX PX


class DistributedLock:
    """The guide's lock: SET key token PX ttl NX; release only if we still own it."""

    def __init__(self, redis_client, key, ttl_ms=10_000):
        self.redis = redis_client
        self.key = f"lock:{key}"
        self.ttl = ttl_ms
        self.identifier = uuid.uuid4().hex

    def acquire(self):
        return self.redis.set(self.key, self.identifier, px=self.ttl, nx=True) is True

    RELEASE = """
      if redis.call("get", KEYS[1]) == ARGV[1] then
        return redis.call("del", KEYS[1])
      else
        return 0
      end
    """

    def release(self):
        # The guide's release, as written: an atomic check-and-delete in Lua.
        return self.redis.eval(self.RELEASE, 1, self.key, self.identifier) == 1

    def release_with_watch(self):
        # The same check-and-delete with WATCH/MULTI (what redis-py's Lock did before Lua).
        with self.redis.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(self.key)
                    if pipe.get(self.key) != self.identifier.encode():
                        pipe.unwatch()
                        return False
                    pipe.multi()
                    pipe.delete(self.key)
                    pipe.execute()
                    return True
                except Exception as e:  # WatchError from either library
                    if type(e).__name__ != "WatchError":
                        raise


def test_lock_set_nx_px(r):
    a = DistributedLock(r, "critical-section", ttl_ms=200)
    b = DistributedLock(r, "critical-section", ttl_ms=200)
    assert a.acquire() is True
    assert b.acquire() is False
    assert b.release() is False and b.release_with_watch() is False
    assert a.release() is True
    assert b.acquire() is True
    time.sleep(0.3)  # b's lock expires
    assert a.acquire() is True
    assert b.release() is False and a.release() is True


def test_lock_mutual_exclusion_across_threads(r):
    r.set("shared", 0)

    def worker():
        lock = DistributedLock(r, "counter")
        for _ in range(50):
            while not lock.acquire():
                time.sleep(0.0005)
            try:
                v = int(r.get("shared"))  # non-atomic read-modify-write, protected by the lock
                r.set("shared", v + 1)
            finally:
                assert lock.release()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert r.get("shared") == b"200"


def test_redis_py_lock_api(r):
    lock = r.lock("resource", timeout=5, blocking_timeout=0.2)
    assert lock.acquire() is True
    assert lock.locked() and lock.owned()
    other = r.lock("resource", timeout=5, blocking_timeout=0.05)
    assert other.acquire() is False
    assert lock.extend(5) is True and r.pttl("resource") > 5000
    assert lock.reacquire() is True
    lock.release()
    assert not lock.locked()
    with r.lock("resource", timeout=1):
        assert r.exists("resource") == 1
    assert r.exists("resource") == 0


# ------------------------------------------------------------------ leaderboard


@requires("zadd", "zrevrange", "zrevrank", "zincrby", "zscore")
def test_leaderboard(r):
    r.zadd("leaderboard:game1", {"player1": 1500, "player2": 1200, "player3": 1800})
    top = r.zrevrange("leaderboard:game1", 0, 9, withscores=True)
    assert top == [(b"player3", 1800.0), (b"player1", 1500.0), (b"player2", 1200.0)]
    assert r.zrevrank("leaderboard:game1", "player1") == 1
    assert r.zrevrank("leaderboard:game1", "nobody") is None
    assert r.zincrby("leaderboard:game1", 400, "player2") == 1600.0
    assert r.zrevrange("leaderboard:game1", 0, 0) == [b"player3"]
    assert r.zscore("leaderboard:game1", "player2") == 1600.0
    assert r.zrange("leaderboard:game1", 0, -1, desc=True, withscores=True)[1] == (b"player2", 1600.0)
    # time-ordered activity log in a sorted set
    now = 1_700_000_000_000
    for i in range(5):
        r.zadd("user:1001:activities", {json.dumps({"i": i}): now + i})
    assert [json.loads(m)["i"] for m in r.zrevrangebyscore("user:1001:activities", "+inf", now + 2)] == [4, 3, 2]


# ------------------------------------------------------------------ sessions (hashes + set)


class SessionManager:
    TTL = 3600

    def __init__(self, redis_client):
        self.redis = redis_client

    def create(self, user_id, role):
        sid = f"session:{uuid.uuid4().hex}"
        now = str(int(time.time() * 1000))
        self.redis.hset(sid, mapping={"userId": user_id, "role": role, "createdAt": now, "lastActivity": now})
        self.redis.expire(sid, self.TTL)
        self.redis.sadd(f"user:{user_id}:sessions", sid)
        return sid

    def validate(self, sid):
        data = self.redis.hgetall(sid)
        if not data:
            return None
        self.redis.hset(sid, "lastActivity", str(int(time.time() * 1000)))
        self.redis.expire(sid, self.TTL)
        return data

    def revoke_user(self, user_id):
        sessions = self.redis.smembers(f"user:{user_id}:sessions")
        if sessions:
            self.redis.delete(*sessions)
            self.redis.delete(f"user:{user_id}:sessions")
        return len(sessions)


@requires("hset", "hgetall", "sadd", "smembers")
def test_sessions(rs):
    mgr = SessionManager(rs)
    s1, s2 = mgr.create(1001, "doctor"), mgr.create(1001, "doctor")
    other = mgr.create(1002, "nurse")
    data = mgr.validate(s1)
    assert data["userId"] == "1001" and data["role"] == "doctor"
    assert 3590 < rs.ttl(s1) <= 3600
    assert rs.smembers("user:1001:sessions") == {s1, s2}
    assert mgr.revoke_user(1001) == 2
    assert mgr.validate(s1) is None and mgr.validate(s2) is None
    assert mgr.validate(other)["role"] == "nurse"


@requires("hset", "hincrby", "hgetall")
def test_user_profile_hash(r):
    r.hset("user:1001", mapping={"name": "John Doe", "email": "john@example.com", "age": "30", "location": "San Francisco"})
    assert r.hincrby("user:1001", "loginCount", 1) == 1
    profile = r.hgetall("user:1001")
    assert profile == {
        b"name": b"John Doe",
        b"email": b"john@example.com",
        b"age": b"30",
        b"location": b"San Francisco",
        b"loginCount": b"1",
    }


# ------------------------------------------------------------------ interests (sets)


@requires("sadd", "sinter", "scard")
def test_common_interests(rs):
    rs.sadd("user:1001:interests", "technology", "music", "travel")
    rs.sadd("user:1002:interests", "technology", "sports", "cooking")
    assert rs.sinter("user:1001:interests", "user:1002:interests") == {"technology"}
    rs.sadd("page:homepage:visitors:2024-01-15", "user:1001")
    rs.sadd("page:homepage:visitors:2024-01-15", "user:1001", "user:1002")
    assert rs.scard("page:homepage:visitors:2024-01-15") == 2


# ------------------------------------------------------------------ feeds and queues (lists)


@requires("lpush", "lrange", "ltrim", "rpush", "lpop", "blpop")
def test_activity_feed_and_queue(rs):
    for i in range(15):
        rs.lpush("user:1001:feed", json.dumps({"type": "post", "content": f"update {i}", "timestamp": i}))
        rs.ltrim("user:1001:feed", 0, 99)
    recent = [json.loads(x) for x in rs.lrange("user:1001:feed", 0, 9)]
    assert [x["timestamp"] for x in recent] == list(range(14, 4, -1))
    # Queue implementation, as the guide writes it: a blocking pop with a timeout.
    rs.rpush("job:queue", json.dumps({"job": 1}), json.dumps({"job": 2}))
    queue, job = rs.blpop("job:queue", 30)
    assert (queue, json.loads(job)) == ("job:queue", {"job": 1})
    assert rs.llen("job:queue") == 1
    assert rs.blpop("job:queue", 30)[1] == json.dumps({"job": 2})
    assert rs.blpop("job:queue", 0.01) is None
