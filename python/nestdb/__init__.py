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
"""

from __future__ import annotations

import os as _os

from . import _callbacks, _nestdb, exceptions
from ._nestdb import __version__, config_parameters, repair
from .client import Pipeline, Redis, StrictRedis
from .database import Database, open
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
]

_nestdb._install_callbacks(_callbacks.CALLBACKS)
if hasattr(_os, "register_at_fork"):
    _os.register_at_fork(after_in_child=_nestdb._after_fork_in_child)
