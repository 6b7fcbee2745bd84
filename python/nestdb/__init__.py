"""nestdb: an embedded database with Redis's data structures and a redis-py compatible API.

    import nestdb
    r = nestdb.Redis()                      # in memory; nestdb.Redis("app.nest") for a file
    r.set("greeting", "hello")
    r.get("greeting")                       # b'hello'

``nestdb.Redis`` is a drop-in for ``redis.Redis``: same methods, arguments, return values and
exceptions, no server. ``nestdb.open(path)`` returns a ``Database`` from which ``redis()``
handles hang.
"""

from __future__ import annotations

import os as _os

from . import _callbacks, _nestdb, exceptions
from ._nestdb import __version__, config_parameters
from .client import Pipeline, Redis, StrictRedis
from .database import Database, open
from .exceptions import (
    AuthenticationError,
    BusyLoadingError,
    ConnectionError,
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
    "exceptions",
    "__version__",
    "AuthenticationError",
    "BusyLoadingError",
    "ConnectionError",
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
