"""Exceptions raised by nestdb, with redis-py's names and hierarchy.

Error replies keep Redis's text. As in redis-py, the ``ERR`` prefix (and ``EXECABORT``,
``NOSCRIPT``...) is stripped from the message and kept in ``status_code``; other prefixes
(``WRONGTYPE ...``) stay in the message.

When redis-py is installed, every class here also subclasses redis-py's class of the same
name, so code written against redis-py (``except redis.exceptions.ResponseError``) catches
nestdb's errors unchanged.
"""

from __future__ import annotations

from typing import Any, Optional, Tuple, Type

__all__ = [
    "RedisError",
    "ConnectionError",
    "TimeoutError",
    "AuthenticationError",
    "BusyLoadingError",
    "InvalidResponse",
    "ResponseError",
    "DataError",
    "PubSubError",
    "WatchError",
    "NoScriptError",
    "OutOfMemoryError",
    "ExecAbortError",
    "ReadOnlyError",
    "NoPermissionError",
    "ModuleError",
    "LockError",
    "LockNotOwnedError",
    "ForkError",
    "DatabaseLockedError",
    "DatabaseCorruptError",
]


def _redis_py_exceptions() -> Any:
    try:
        import redis.exceptions as rex
    except Exception:  # redis-py absent (or broken): stand alone
        return None
    return rex


_rex = _redis_py_exceptions()


def _bases(name: str, *ours: type) -> Tuple[type, ...]:
    """Our base classes plus redis-py's class ``name`` when redis-py is installed."""
    theirs: Optional[Type[BaseException]] = getattr(_rex, name, None) if _rex is not None else None
    if theirs is None or any(issubclass(b, theirs) for b in ours):
        return ours
    # Keep our own classes first; drop generic bases redis-py's class already has (Exception,
    # ValueError) so the MRO stays consistent.
    kept = tuple(b for b in ours if not issubclass(theirs, b))
    return kept + (theirs,)


class RedisError(*_bases("RedisError", Exception)):  # type: ignore[misc]
    """Base class of every nestdb error."""

    def __init__(self, *args: Any, status_code: Optional[str] = None) -> None:
        if _rex is not None:
            super().__init__(*args, status_code=status_code)
        else:
            super().__init__(*args)
            self.status_code = status_code


class ConnectionError(*_bases("ConnectionError", RedisError)):  # type: ignore[misc]
    """The database cannot be used: it could not be opened, or the handle is closed."""


class TimeoutError(*_bases("TimeoutError", RedisError)):  # type: ignore[misc]
    pass


class AuthenticationError(*_bases("AuthenticationError", ConnectionError)):  # type: ignore[misc]
    pass


class BusyLoadingError(*_bases("BusyLoadingError", ConnectionError)):  # type: ignore[misc]
    pass


class InvalidResponse(*_bases("InvalidResponse", RedisError)):  # type: ignore[misc]
    pass


class ResponseError(*_bases("ResponseError", RedisError)):  # type: ignore[misc]
    """A command failed; the message is Redis's error text."""


class DataError(*_bases("DataError", RedisError)):  # type: ignore[misc]
    """Invalid arguments on the Python side (wrong types, conflicting options)."""


class PubSubError(*_bases("PubSubError", RedisError)):  # type: ignore[misc]
    pass


class WatchError(*_bases("WatchError", RedisError)):  # type: ignore[misc]
    """A WATCHed key changed before EXEC: the transaction did not run."""


class NoScriptError(*_bases("NoScriptError", ResponseError)):  # type: ignore[misc]
    pass


class OutOfMemoryError(*_bases("OutOfMemoryError", ResponseError)):  # type: ignore[misc]
    """The database is over ``maxmemory`` and the policy does not allow eviction."""


class ExecAbortError(*_bases("ExecAbortError", ResponseError)):  # type: ignore[misc]
    """EXEC refused a transaction because a queued command was invalid."""


class ReadOnlyError(*_bases("ReadOnlyError", ResponseError)):  # type: ignore[misc]
    pass


class NoPermissionError(*_bases("NoPermissionError", ResponseError)):  # type: ignore[misc]
    pass


class ModuleError(*_bases("ModuleError", ResponseError)):  # type: ignore[misc]
    pass


class LockError(*_bases("LockError", RedisError, ValueError)):  # type: ignore[misc]
    """Errors acquiring or releasing a lock."""

    def __init__(self, message: Optional[str] = None, lock_name: Optional[str] = None) -> None:
        super(RedisError, self).__init__(message)  # type: ignore[misc]  # skip RedisError's status_code
        self.message = message
        self.lock_name = lock_name


class LockNotOwnedError(*_bases("LockNotOwnedError", LockError)):  # type: ignore[misc]
    """Extending or releasing a lock that is not owned (anymore)."""


class ForkError(ConnectionError):
    """A handle opened before ``os.fork()`` was used in the child process.

    Open a new handle in the child instead (an in-memory database is not shared with the
    parent; a file-backed one is opened again from its file).
    """


class DatabaseLockedError(ConnectionError):
    """The database directory is open in another process (one process at a time may open it;
    handles within one process share it). ``pid`` is the holder's process id when known."""

    def __init__(self, *args: Any, pid: Optional[int] = None, status_code: Optional[str] = None) -> None:
        super().__init__(*args, status_code=status_code)
        self.pid = pid


class DatabaseCorruptError(ConnectionError):
    """The database files are damaged (a bad checksum in the middle of the log, a missing or
    damaged MANIFEST...) in a way ``nestdb.repair(path)`` fixes: it truncates the log at the
    first bad record. The message names the file and offset."""
