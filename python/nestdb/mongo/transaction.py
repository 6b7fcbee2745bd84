"""``Transaction``: one atomic batch spanning Redis keys and documents, for ``nestdb.open(path)``.

    db = nestdb.open("app.nest")
    with db.transaction() as tx:
        tx.collection("users").update_one({"_id": 1}, {"$set": {"name": "Ann"}})
        tx.redis.delete("cache:user:1")
    tx.results        # [UpdateResult(...), 1]

Inside the ``with`` block, write methods of ``tx.collection(...)`` (``insert_one``,
``insert_many``, ``update_*``, ``replace_one``, ``delete_*``, ``find_one_and_*``,
``bulk_write`` of one kind of request) and every command method of ``tx.redis`` are queued and
return None; when the block ends they run as one batch (``Database._doc_atomic``): all locks
are taken once, no other writer runs in between, and the batch is one record in the log, so it
survives a crash whole or not at all. As in a Redis MULTI/EXEC, a failing operation (a
duplicate key, WRONGTYPE...) does not undo the others. ``tx.results`` then holds each
operation's result (pymongo's result objects for documents, redis-py's for keys) or, for a
failed one, its exception; with ``raise_on_error=True`` (the default) the first exception is
raised after the whole batch ran. An exception inside the ``with`` block discards the batch.
Reads are not queued (``InvalidOperation``): read through ordinary handles before the block.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, List, Mapping, Optional, Tuple

from .._commands import CommandsMixin
from ..errors import InvalidOperation
from ..exceptions import DataError
from .collection import Collection

if TYPE_CHECKING:
    from ..database import Database as FileDatabase

__all__ = ["Transaction", "TransactionRedis"]

# redis-py's response callbacks (the table the native client applies, ``reply.rs``), applied
# here to the raw replies of a transaction's key commands.
_BOOL = {"COPY", "EXPIRE", "EXPIREAT", "HEXISTS", "HMSET", "MOVE", "MSETNX", "PERSIST", "PSETEX", "PEXPIRE", "PEXPIREAT", "RENAMENX", "SETEX", "SETNX", "SMOVE"}
_FLOAT = {"HINCRBYFLOAT", "INCRBYFLOAT"}
_BOOL_OK = {"FLUSHALL", "FLUSHDB", "LSET", "LTRIM", "MSET", "RENAME", "SAVE", "SELECT", "SWAPDB"}
_TO_SET = {"SDIFF", "SINTER", "SMEMBERS", "SUNION"}
_Z_PAIRS = {"ZINTER", "ZRANGE", "ZRANGEBYSCORE", "ZREVRANGE", "ZREVRANGEBYSCORE", "ZUNION", "ZDIFF", "ZRANDMEMBER"}


def _encode_arg(value: Any) -> Any:
    """redis-py's argument encoding: str/bytes as they are, numbers as their repr."""
    if isinstance(value, (bytes, str)):
        return value
    if isinstance(value, bool):
        raise DataError("Invalid input of type: 'bool'. Convert to a bytes, string, int or float first.")
    if isinstance(value, (int, float)):
        return repr(value).encode()
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    raise DataError(f"Invalid input of type: '{type(value).__name__}'. Convert to a bytes, string, int or float first.")


def _decode_value(value: Any, encoding: str, errors: str) -> Any:
    """``decode_responses=True``: bytes in a raw reply as str."""
    if isinstance(value, bytes):
        return value.decode(encoding, errors)
    if isinstance(value, list):
        return [_decode_value(v, encoding, errors) for v in value]
    if isinstance(value, dict):
        return {_decode_value(k, encoding, errors): _decode_value(v, encoding, errors) for k, v in value.items()}
    return value


def _pairs(flat_or_nested: Any, cast: Callable[[Any], Any] = float) -> List[Tuple[Any, Any]]:
    items = list(flat_or_nested or [])
    if items and isinstance(items[0], (list, tuple)):
        return [(m, cast(sc)) for m, sc in items]
    return [(items[i], cast(items[i + 1])) for i in range(0, len(items) - 1, 2)]


def _shape_redis_reply(command: str, reply: Any, options: Mapping[str, Any]) -> Any:
    """redis-py's value for ``command``'s raw ``reply`` (an error reply stays an exception)."""
    if isinstance(reply, BaseException):
        return reply
    if command in _BOOL:
        return bool(reply)
    if command in _FLOAT:
        return None if reply is None else float(reply)
    if command in _BOOL_OK:
        return reply in (b"OK", "OK", True)
    if command == "SET":
        if options.get("get"):
            return reply
        return True if reply in (b"OK", "OK") else None
    if command == "PING":
        return reply in (b"PONG", "PONG", True)
    if command in _TO_SET:
        return set(reply) if reply is not None else set()
    if command in _Z_PAIRS:
        if options.get("withscores"):
            return _pairs(reply, options.get("score_cast_func") or float)
        return reply
    if command in ("ZPOPMIN", "ZPOPMAX"):
        return _pairs(reply)
    if command in ("BLPOP", "BRPOP"):
        return tuple(reply) if reply is not None else None
    if command in ("SCAN", "SSCAN"):
        return int(reply[0]), list(reply[1])
    if command == "HSCAN":
        data = reply[1]
        if isinstance(data, dict) or options.get("no_values"):
            return int(reply[0]), data
        return int(reply[0]), dict(zip(data[::2], data[1::2]))
    if command == "ZSCAN":
        return int(reply[0]), _pairs(reply[1])
    if command == "TIME":
        return int(reply[0]), int(reply[1])
    return reply


class TransactionRedis(CommandsMixin):
    """redis-py's command methods, queued into a ``Transaction`` (each returns None; the
    reply lands in ``Transaction.results``)."""

    def __init__(self, transaction: "Transaction") -> None:
        self._transaction = transaction

    def execute_command(self, *args: Any, **options: Any) -> None:
        if not args:
            raise DataError("empty command")
        name = str(args[0]).upper() if not isinstance(args[0], bytes) else args[0].decode().upper()
        if name in ("CONFIG", "MEMORY", "COMMAND") and len(args) > 1:
            sub = args[1].decode() if isinstance(args[1], bytes) else str(args[1])
            name = f"{name} {sub.upper()}"
        encoded = [_encode_arg(a) for a in args]
        self._transaction._queue_redis(name, encoded, options)
        return None


class Transaction:
    """A batch of document writes and Redis commands run atomically (see the module docs)."""

    def __init__(self, database: "FileDatabase", default_database: str = "test", decode_responses: bool = False, encoding: str = "utf-8", encoding_errors: str = "strict") -> None:
        from .client import MongoClient

        self._database = database
        self._client = MongoClient(_native=database)
        self._default_database = default_database
        self._ops: List[Tuple[Any, ...]] = []
        self._finishers: List[Callable[[Any], Any]] = []
        self._executed = False
        self.results: Optional[List[Any]] = None
        self._decode: Optional[Callable[[Any], Any]] = None
        if decode_responses:
            self._decode = lambda value: _decode_value(value, encoding, encoding_errors)
        self.redis = TransactionRedis(self)
        """Redis command methods (``tx.redis.set(...)``, ``tx.redis.delete(...)``) queued here."""

    # -- queueing -------------------------------------------------------------------------

    def collection(self, name: str, database: Optional[str] = None) -> Collection:
        """The collection ``name`` (in MongoDB database ``database``, default ``"test"``) whose
        writes are queued in this transaction."""
        collection = self._client[database or self._default_database][name]
        collection._tx = self
        return collection

    def __getitem__(self, name: str) -> Collection:
        return self.collection(name)

    def _check_open(self) -> None:
        if self._executed:
            raise InvalidOperation("this transaction has already run; start a new one with db.transaction()")

    def _queue_doc(self, db_name: str, command: Mapping[str, Any], finish: Callable[[Any], Any]) -> None:
        self._check_open()
        self._ops.append(("doc", db_name, command))
        self._finishers.append(finish)

    def _queue_redis(self, name: str, args: List[Any], options: Mapping[str, Any]) -> None:
        self._check_open()
        self._ops.append(("redis", args))

        decode = self._decode

        def finish(reply: Any) -> Any:
            if decode is not None and not options.get("NEVER_DECODE"):
                reply = decode(reply)
            return _shape_redis_reply(name, reply, options)

        self._finishers.append(finish)

    def __len__(self) -> int:
        return len(self._ops)

    def __bool__(self) -> bool:
        return True

    # -- running --------------------------------------------------------------------------

    def execute(self, raise_on_error: bool = True) -> List[Any]:
        """Run the queued operations atomically; their results, in order."""
        self._check_open()
        self._executed = True
        replies = self._database._doc_atomic(self._ops) if self._ops else []
        results: List[Any] = []
        for finish, reply in zip(self._finishers, replies):
            try:
                results.append(finish(reply))
            except Exception as exc:  # a failed operation: its exception is its result
                results.append(exc)
        self.results = results
        self._ops = []
        self._finishers = []
        if raise_on_error:
            for result in results:
                if isinstance(result, BaseException):
                    raise result
        return results

    def discard(self) -> None:
        """Forget the queued operations without running them."""
        self._ops = []
        self._finishers = []
        self._executed = True

    def __enter__(self) -> "Transaction":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            self.discard()
            return
        if not self._executed:
            self.execute()
