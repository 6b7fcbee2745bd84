"""Publish/subscribe through ``nestdb.Redis``: redis-py's ``PubSub`` API within one process,
compared with a real redis-server through redis-py (same calls, same message dicts), and the
guide's cache-invalidation and chat-room examples."""

from __future__ import annotations

import json
import threading
import time
from typing import Any, Dict, List, Optional

import pytest

import nestdb


def drain(p: Any, n: int, timeout: float = 2.0) -> List[Optional[Dict[str, Any]]]:
    """The next `n` messages (None where nothing came within `timeout`)."""
    out = []
    for _ in range(n):
        deadline = time.time() + timeout
        m = None
        while m is None and time.time() < deadline:
            m = p.get_message(timeout=0.05)
        out.append(m)
    return out


@pytest.mark.parametrize("decode", [False, True])
def test_messages_match_redis_server(real: Any, redis_server: Any, decode: bool) -> None:
    import redis

    theirs_client = redis.Redis(port=redis_server.port, decode_responses=decode)
    db = nestdb.open()
    mine_client = db.redis(decode_responses=decode)
    results = []
    for client in (mine_client, theirs_client):
        p = client.pubsub()
        p.subscribe("news", "sport")
        p.psubscribe("n*")
        got = drain(p, 3)
        assert client.publish("news", "hello") == 2
        assert client.publish("sport", b"\x00bin") == 1
        assert client.publish("weather", "x") == 0
        got += drain(p, 3)
        channels = sorted(client.pubsub_channels())
        numsub = client.pubsub_numsub("news", "none")
        numpat = client.pubsub_numpat()
        p.unsubscribe("sport")
        p.punsubscribe()
        got += drain(p, 2)
        p.unsubscribe()
        got += drain(p, 1)
        assert p.get_message(timeout=0.05) is None
        p.close()
        results.append((got, channels, numsub, numpat))
    assert results[0] == results[1]


def test_handlers_and_ignore_subscribe_messages() -> None:
    r = nestdb.Redis(decode_responses=True)
    seen: List[Dict[str, Any]] = []
    p = r.pubsub(ignore_subscribe_messages=True)
    p.subscribe(**{"alerts": seen.append})
    p.subscribe("plain")
    # One message per call, as redis-py: the two confirmations are read and ignored.
    assert p.get_message(timeout=0.1) is None and p.get_message(timeout=0.1) is None
    assert r.publish("alerts", "fire") == 1
    assert p.get_message(timeout=1) is None  # went to the handler
    assert seen == [{"type": "message", "pattern": None, "channel": "alerts", "data": "fire"}]
    r.publish("plain", "x")
    assert p.get_message(timeout=1) == {"type": "message", "pattern": None, "channel": "plain", "data": "x"}
    assert p.subscribed
    p.unsubscribe()
    assert p.subscribed  # until the last confirmation is read
    assert [p.get_message(timeout=1) for _ in range(2)] == [None, None]  # ignored confirmations
    assert not p.subscribed
    p.close()
    assert not p.subscribed
    assert r.publish("alerts", "after close") == 0


def test_listen_and_run_in_thread() -> None:
    r = nestdb.Redis()
    got: List[Any] = []
    p = r.pubsub()
    p.subscribe(**{"jobs": lambda m: got.append(m["data"])})
    worker = p.run_in_thread(sleep_time=0.01, daemon=True)
    for i in range(50):
        r.publish("jobs", str(i))
    deadline = time.time() + 5
    while len(got) < 50 and time.time() < deadline:
        time.sleep(0.01)
    worker.stop()
    worker.join(5)
    assert got == [str(i).encode() for i in range(50)]

    q = r.pubsub()
    q.subscribe("once")
    r.publish("once", "a")
    q.unsubscribe("once")
    kinds = [m["type"] for m in q.listen()]
    assert kinds == ["subscribe", "message", "unsubscribe"]


def test_the_guide_cache_invalidation_across_services() -> None:
    # The guide's event-driven invalidation: a service publishes 'cache:invalidate' and every
    # other service drops its cached copy. Two "services" share one database in this process.
    db = nestdb.open()
    service_a, service_b = db.redis(decode_responses=True), db.redis(decode_responses=True)
    local_cache_b = {"user:1": {"name": "old"}}

    listener = service_b.pubsub(ignore_subscribe_messages=True)

    def on_invalidate(message: Dict[str, Any]) -> None:
        event = json.loads(message["data"])
        local_cache_b.pop(f"{event['type']}:{event['id']}", None)

    listener.subscribe(**{"cache:invalidate": on_invalidate})
    worker = listener.run_in_thread(sleep_time=0.01, daemon=True)
    service_a.set("user:1", json.dumps({"name": "new"}))
    assert service_a.publish("cache:invalidate", json.dumps({"type": "user", "id": 1, "timestamp": time.time()})) == 1
    deadline = time.time() + 5
    while "user:1" in local_cache_b and time.time() < deadline:
        time.sleep(0.01)
    worker.stop()
    worker.join(5)
    assert "user:1" not in local_cache_b


def test_the_guide_chat_room() -> None:
    # The guide's chat: store the message in a list, publish it to `room:<id>`; each member's
    # subscriber receives it in order.
    db = nestdb.open()
    r = db.redis(decode_responses=True)
    members = {}
    for user in ("alice", "bob"):
        sub = db.redis(decode_responses=True).pubsub(ignore_subscribe_messages=True)
        sub.subscribe("room:42")
        members[user] = sub
    for i, text in enumerate(["hi", "hello", "bye"]):
        message = {"id": i, "userId": "alice", "content": text}
        pipe = r.pipeline()
        pipe.lpush("room:42:messages", json.dumps(message))
        pipe.ltrim("room:42:messages", 0, 99)
        pipe.execute()
        assert r.publish("room:42", json.dumps(message)) == 2
    for user, sub in members.items():
        received = [json.loads(m["data"])["content"] for m in drain(sub, 3) if m]
        assert received == ["hi", "hello", "bye"], user
    assert r.llen("room:42:messages") == 3


def test_a_blocked_reader_does_not_hold_the_gil() -> None:
    r = nestdb.Redis()
    p = r.pubsub()
    p.subscribe("slow")
    p.get_message(timeout=0.1)  # the confirmation
    got: List[Any] = []
    t = threading.Thread(target=lambda: got.append(p.get_message(timeout=5)))
    t.start()
    time.sleep(0.1)
    # While the reader waits, this thread runs Python code and publishes.
    total = sum(range(100_000))
    assert r.publish("slow", "x") == 1
    t.join(5)
    assert total > 0 and got and got[0]["data"] == b"x"


def test_subscribe_through_execute_says_what_to_use() -> None:
    r = nestdb.Redis()
    with pytest.raises(nestdb.exceptions.ResponseError, match="needs a subscriber"):
        r.execute_command("SUBSCRIBE", "x")
