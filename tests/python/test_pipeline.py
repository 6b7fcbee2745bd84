"""Pipelines, MULTI/EXEC, WATCH and transaction(): every test runs against nestdb and, when
available, against redis-py + a real redis-server, with the same assertions."""

from __future__ import annotations

import threading

import pytest

import nestdb


@pytest.fixture(params=["nestdb", "redis"])
def client(request):
    if request.param == "nestdb":
        c = nestdb.Redis()
        yield c
        c.close()
    else:
        yield request.getfixturevalue("real")


def other_client(c):
    """A second, independent client on the same data (another 'connection')."""
    if isinstance(c, nestdb.Redis):
        pytest.skip("needs a shared database")  # replaced below for nestdb via Database
    import redis

    return redis.Redis(port=c.connection_pool.connection_kwargs["port"])


@pytest.fixture(params=["nestdb", "redis"])
def pair(request):
    """Two clients on the same database."""
    if request.param == "nestdb":
        db = nestdb.open()
        yield db.redis(), db.redis()
        db.close()
    else:
        real = request.getfixturevalue("real")
        import redis

        other = redis.Redis(port=real.connection_pool.connection_kwargs["port"])
        yield real, other
        other.close()


def errtype(c, name):
    if isinstance(c, nestdb.Redis):
        return getattr(nestdb.exceptions, name)
    import redis

    return getattr(redis.exceptions, name)


def test_chained_transaction(client):
    pipe = client.pipeline()
    assert pipe.set("a", 1).incr("a").get("a") is pipe
    assert len(pipe) == 3 and bool(pipe) is True
    assert pipe.execute() == [True, 2, b"2"]
    assert len(pipe) == 0
    assert pipe.execute() == []


def test_non_transactional_pipeline(client):
    with client.pipeline(transaction=False) as pipe:
        pipe.set("a", "x")
        pipe.mset({"b": 1, "c": 2})
        pipe.mget("a", "b", "c")
        pipe.exists("a", "nope")
        assert pipe.execute() == [True, True, [b"x", b"1", b"2"], 1]


def test_pipeline_callbacks_and_options(client):
    pipe = client.pipeline()
    pipe.set("k", "v", nx=True).set("k", "w", nx=True).set("k", "z", get=True).expire("k", 100).ttl("k").ping()
    assert pipe.execute() == [True, None, b"v", True, 100, True]


def test_runtime_error_in_transaction(client):
    client.set("s", "text")
    pipe = client.pipeline()
    pipe.set("a", 1).incr("s").incr("a")
    with pytest.raises(errtype(client, "ResponseError")) as e:
        pipe.execute()
    assert str(e.value) == "Command # 2 (INCRBY s 1) of pipeline caused error: value is not an integer or out of range"
    # the transaction ran: the other commands took effect
    assert client.get("a") == b"2"
    pipe.set("b", 1).incr("s").get("b")
    out = pipe.execute(raise_on_error=False)
    assert out[0] is True and out[2] == b"1"
    assert isinstance(out[1], errtype(client, "ResponseError"))
    assert str(out[1]) == "value is not an integer or out of range"


def test_queue_time_error_aborts_transaction(client):
    pipe = client.pipeline()
    pipe.set("a", 1)
    pipe.execute_command("NOSUCHCOMMAND", "x")
    pipe.set("b", 2)
    with pytest.raises(errtype(client, "ResponseError")) as e:
        pipe.execute()
    assert "Command # 2 (NOSUCHCOMMAND x) of pipeline caused error: unknown command" in str(e.value)
    assert client.get("a") is None and client.get("b") is None


def test_arity_error_aborts_transaction(client):
    pipe = client.pipeline()
    pipe.set("a", 1).execute_command("GET")
    with pytest.raises(errtype(client, "ResponseError")) as e:
        pipe.execute()
    assert str(e.value) == "Command # 2 (GET) of pipeline caused error: wrong number of arguments for 'get' command"
    assert client.get("a") is None


def test_errors_in_plain_pipeline(client):
    client.set("s", "x")
    pipe = client.pipeline(transaction=False)
    pipe.incr("s").set("a", 1).execute_command("NOSUCH")
    out = pipe.execute(raise_on_error=False)
    assert isinstance(out[0], errtype(client, "ResponseError")) and out[1] is True
    assert str(out[2]).startswith("unknown command 'NOSUCH'")
    pipe.incr("s").set("a", 2)
    with pytest.raises(errtype(client, "ResponseError"), match=r"Command # 1 \(INCRBY s 1\) of pipeline caused error"):
        pipe.execute()
    assert client.get("a") == b"2"


def test_data_error_in_pipeline_runs_nothing(client):
    pipe = client.pipeline()
    pipe.set("a", 1).set("b", None)
    with pytest.raises(errtype(client, "DataError")):
        pipe.execute()
    assert client.get("a") is None
    assert len(pipe) == 0  # reset after the failed execute


def test_watch_conflict(pair):
    a, b = pair
    a.set("counter", 1)
    with a.pipeline() as pipe:
        assert pipe.watch("counter") is True
        value = int(pipe.get("counter"))  # immediate while watching
        b.set("counter", 100)  # someone else changes it
        pipe.multi()
        pipe.set("counter", value + 1)
        with pytest.raises(errtype(a, "WatchError")):
            pipe.execute()
    assert a.get("counter") == b"100"


def test_watch_without_conflict(pair):
    a, b = pair
    a.set("counter", 1)
    b.set("unrelated", 1)
    with a.pipeline() as pipe:
        pipe.watch("counter", "missing")
        value = int(pipe.get("counter"))
        pipe.multi()
        pipe.set("counter", value + 1).get("counter")
        assert pipe.execute() == [True, b"2"]


def test_watch_then_unwatch(pair):
    a, b = pair
    with a.pipeline() as pipe:
        pipe.watch("k")
        assert pipe.unwatch() is True
        b.set("k", 1)
        pipe.multi()
        pipe.set("k", 2)
        assert pipe.execute() == [True]


def test_transaction_helper_retries(pair):
    a, b = pair
    a.set("n", 0)
    calls = []

    def incr(pipe):
        n = int(pipe.get("n"))
        if not calls:
            b.set("n", 10)  # conflict on the first attempt only
        calls.append(n)
        pipe.multi()
        pipe.set("n", n + 1)

    assert a.transaction(incr, "n") == [True]
    assert calls == [0, 10] and a.get("n") == b"11"
    assert a.transaction(lambda p: "value", "n", value_from_callable=True) == "value"


def test_multi_rules(client):
    pipe = client.pipeline()
    pipe.multi()
    with pytest.raises(errtype(client, "RedisError"), match="nested calls to MULTI"):
        pipe.multi()
    with pytest.raises(errtype(client, "RedisError"), match="WATCH after a MULTI"):
        pipe.watch("a")
    pipe.reset()
    pipe.set("a", 1)
    with pytest.raises(errtype(client, "RedisError"), match="without an initial WATCH"):
        pipe.multi()


def test_explicit_multi_without_watch(client):
    pipe = client.pipeline(transaction=False)
    pipe.multi()
    pipe.set("x", 1).incr("x")
    assert pipe.execute() == [True, 2]


def test_pipeline_is_a_redis(client):
    pipe = client.pipeline()
    cls = nestdb.Redis if isinstance(client, nestdb.Redis) else type(client)
    assert isinstance(pipe, cls)


def test_pipelines_in_threads():
    r = nestdb.Redis()

    def work(tid):
        for i in range(200):
            with r.pipeline() as pipe:
                pipe.incr("total").incr(f"t{tid}")
                pipe.execute()

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert r.get("total") == b"800"
    assert all(r.get(f"t{t}") == b"200" for t in range(4))


def test_pipeline_shared_by_threads_is_refused_not_corrupted():
    r = nestdb.Redis()
    pipe = r.pipeline()
    errors = []

    def spam():
        for _ in range(2000):
            try:
                pipe.set("k", "v")
            except nestdb.RedisError as e:
                errors.append(e)

    threads = [threading.Thread(target=spam) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Either each call got the pipeline or was refused with a clear error; never corrupted.
    assert len(pipe) + len(errors) == 6000
    assert all("thread" in str(e) for e in errors)
