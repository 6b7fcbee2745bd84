"""nestdb: an embedded database with Redis's data structures and a redis-py compatible API.

    import nestdb
    r = nestdb.Redis()                      # in memory
    r = nestdb.Redis("app.nest", appendfsync="always")   # a database directory on disk
    r.set("greeting", "hello")
    r.get("greeting")                       # b'hello'

``nestdb.Redis`` is a drop-in for ``redis.Redis``: same methods, arguments, return values and
exceptions, no server. ``nestdb.open(path)`` returns a ``Database`` from which ``redis()``
handles hang. A path is a database directory: an append-only log plus snapshots, with Redis's
persistence config (``appendfsync``, ``save``, ``auto_aof_rewrite_*``) and commands (``save()``,
``bgsave()``, ``lastsave()``, ``info("persistence")``); ``nestdb.repair(path)`` fixes a damaged
one.

Documents: ``nestdb.MongoClient(path=None)`` is a drop-in for ``pymongo.MongoClient`` (same
databases, collections, cursors, results and exceptions, in ``nestdb.errors``), and
``nestdb.open(path)`` serves both (``db["users"]``, ``db.transaction()``).
"""

from __future__ import annotations

import os as _os

from . import _callbacks, _nestdb, errors, exceptions
from ._bson import Binary, Code, Decimal128, Int64, InvalidDocument, MaxKey, MinKey, ObjectId, Regex, Timestamp
from ._nestdb import __version__, config_parameters, repair
from .client import Pipeline, Redis, StrictRedis
from .database import Database, open
from .errors import (
    BulkWriteError,
    CollectionInvalid,
    ConfigurationError,
    CursorNotFound,
    DuplicateKeyError,
    ExecutionTimeout,
    InvalidName,
    InvalidOperation,
    OperationFailure,
    PyMongoError,
    WriteError,
)
from .mongo import (
    ASCENDING,
    DESCENDING,
    BulkWriteResult,
    CommandCursor,
    Cursor,
    CursorType,
    DeleteMany,
    DeleteOne,
    DeleteResult,
    IndexModel,
    InsertManyResult,
    InsertOne,
    InsertOneResult,
    MongoClient,
    ReplaceOne,
    ReturnDocument,
    UpdateMany,
    UpdateOne,
    UpdateResult,
)
from .exceptions import (
    AuthenticationError,
    BusyLoadingError,
    ConnectionError,
    DatabaseCorruptError,
    DatabaseLockedError,
    DataError,
    ExecAbortError,
    ForkError,
    InvalidResponse,
    LockError,
    LockNotOwnedError,
    NoPermissionError,
    NoScriptError,
    OutOfMemoryError,
    PubSubError,
    ReadOnlyError,
    RedisError,
    ResponseError,
    TimeoutError,
    WatchError,
)

__all__ = [
    "Redis",
    "StrictRedis",
    "Pipeline",
    "Database",
    "open",
    "config_parameters",
    "repair",
    "exceptions",
    "__version__",
    "AuthenticationError",
    "BusyLoadingError",
    "ConnectionError",
    "DatabaseCorruptError",
    "DatabaseLockedError",
    "DataError",
    "ExecAbortError",
    "ForkError",
    "InvalidResponse",
    "LockError",
    "LockNotOwnedError",
    "NoPermissionError",
    "NoScriptError",
    "OutOfMemoryError",
    "PubSubError",
    "ReadOnlyError",
    "RedisError",
    "ResponseError",
    "TimeoutError",
    "WatchError",
    # documents (pymongo's names)
    "errors",
    "MongoClient",
    "Cursor",
    "CommandCursor",
    "CursorType",
    "ReturnDocument",
    "ASCENDING",
    "DESCENDING",
    "InsertOne",
    "UpdateOne",
    "UpdateMany",
    "ReplaceOne",
    "DeleteOne",
    "DeleteMany",
    "IndexModel",
    "InsertOneResult",
    "InsertManyResult",
    "UpdateResult",
    "DeleteResult",
    "BulkWriteResult",
    "PyMongoError",
    "OperationFailure",
    "WriteError",
    "DuplicateKeyError",
    "BulkWriteError",
    "CollectionInvalid",
    "InvalidName",
    "InvalidOperation",
    "ConfigurationError",
    "CursorNotFound",
    "ExecutionTimeout",
    "InvalidDocument",
    "ObjectId",
    "Decimal128",
    "Binary",
    "Timestamp",
    "Regex",
    "Int64",
    "MinKey",
    "MaxKey",
    "Code",
]

_nestdb._install_callbacks(_callbacks.CALLBACKS)
if hasattr(_os, "register_at_fork"):
    _os.register_at_fork(after_in_child=_nestdb._after_fork_in_child)
