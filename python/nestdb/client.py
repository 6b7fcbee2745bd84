"""``Redis`` and ``Pipeline``: redis-py's client API over an embedded nestdb engine.

``Redis`` = the native ``Client`` (engine handle, ``execute_command``, native fast paths of
the hottest commands, pipelines) + ``CommandsMixin`` (redis-py's command methods).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Callable, Optional, Union

from . import _nestdb
from ._commands import CommandsMixin
from .exceptions import WatchError

__all__ = ["Redis", "StrictRedis", "Pipeline"]


class Redis(_nestdb.Client, CommandsMixin):
    """A redis-py compatible client on an embedded database: no server, no connection.

    ``Redis(path=None, *, decode_responses=False, encoding="utf-8", encoding_errors="strict",
    **config)``. ``path=None`` (or ``":memory:"``) opens a private in-memory database; a path
    (str, bytes or os.PathLike) opens a database directory, creating it if missing, or joins
    it when it is already open in this process (it keeps the config of its first open). Another process holding it raises
    ``DatabaseLockedError``; damaged files raise ``DatabaseCorruptError`` (see
    ``nestdb.repair``). ``config`` keywords are Redis config parameters with ``_`` for ``-``
    (``appendfsync="always"``, ``save=""``, ``hz=50``...); unknown names raise ``TypeError``,
    bad values ``ValueError``. Methods, arguments, return values and exceptions follow
    redis-py. One instance may be shared by threads. ``close()`` releases it; the database
    closes with its last handle. After ``os.fork()`` open a new one in the child (the parent's
    handle raises ``ForkError`` there).
    """

    if TYPE_CHECKING:  # native (nestdb._nestdb.Client.pipeline); typed here for checkers

        def pipeline(self, transaction: bool = True, shard_hint: Optional[str] = None) -> "Pipeline": ...

    def transaction(self, func: Callable[["Pipeline"], Any], *watches: Any, **kwargs: Any) -> Any:
        """Run ``func(pipe)`` then ``pipe.execute()`` in a MULTI/EXEC transaction, WATCHing
        ``watches``, retrying while a watched key changes (redis-py ``Redis.transaction``)."""
        shard_hint = kwargs.pop("shard_hint", None)
        value_from_callable = kwargs.pop("value_from_callable", False)
        watch_delay = kwargs.pop("watch_delay", None)
        with self.pipeline(True, shard_hint) as pipe:
            while True:
                try:
                    if watches:
                        pipe.watch(*watches)
                    func_value = func(pipe)
                    exec_value = pipe.execute()
                    return func_value if value_from_callable else exec_value
                except WatchError:
                    if watch_delay is not None and watch_delay > 0:
                        time.sleep(watch_delay)
                    continue

    def lock(
        self,
        name: str,
        timeout: Optional[float] = None,
        sleep: float = 0.1,
        blocking: bool = True,
        blocking_timeout: Optional[float] = None,
        lock_class: Union[None, Any] = None,
        thread_local: bool = True,
        raise_on_release_error: bool = True,
    ) -> Any:
        """A lock named ``name`` that behaves like ``threading.Lock`` (redis-py ``Redis.lock``)."""
        if lock_class is None:
            from .lock import Lock

            lock_class = Lock
        return lock_class(
            self,
            name,
            timeout=timeout,
            sleep=sleep,
            blocking=blocking,
            blocking_timeout=blocking_timeout,
            thread_local=thread_local,
            raise_on_release_error=raise_on_release_error,
        )

    def __repr__(self) -> str:
        where = self.path if self.path is not None else ":memory:"
        return f"<{type(self).__module__}.{type(self).__qualname__}({where!r})>"

    if not TYPE_CHECKING:  # at run time only: type checkers should still flag unknown names

        def __getattr__(self, name: str) -> Any:
            family = _MISSING_FAMILIES.get(name.split("_")[0]) or _MISSING_FAMILIES.get(name[:2])
            hint = f" (nestdb does not implement {family} yet)" if family else ""
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}{hint}")


# redis-py method families that nestdb's engine does not have (yet), for clearer errors.
_MISSING_FAMILIES = {
    "spublish": "sharded pub/sub",
}


StrictRedis = Redis


class Pipeline(Redis):
    """Queues commands and runs them with ``execute()``; with ``transaction=True`` (the
    default) inside MULTI/EXEC. After ``watch()`` and before ``multi()`` commands run at once
    (redis-py semantics). Every command method returns the pipeline, so calls chain. Not
    thread-safe: use one pipeline per thread.
    """

    execute = _nestdb.Client._pipe_execute
    reset = _nestdb.Client._pipe_reset
    multi = _nestdb.Client._pipe_multi
    watch = _nestdb.Client._pipe_watch  # type: ignore[assignment]
    unwatch = _nestdb.Client._pipe_unwatch  # type: ignore[assignment]
    discard = _nestdb.Client._pipe_discard

    def __len__(self) -> int:
        return self._pipe_len()

    def __bool__(self) -> bool:
        return True


