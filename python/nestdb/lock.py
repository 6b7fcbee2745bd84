"""``Lock``: redis-py's ``redis.lock.Lock`` API, without Lua.

redis-py implements release/extend/reacquire as Lua scripts (check the token, then act).
nestdb runs the same check-then-act atomically with WATCH/MULTI/EXEC on the lock key, so the
semantics are the same: only the owner (the holder of the token) can release or extend.
"""

from __future__ import annotations

import logging
import threading
import time as mod_time
import uuid
from types import SimpleNamespace, TracebackType
from typing import Any, Callable, Optional, Type, Union

from .exceptions import LockError, LockNotOwnedError, WatchError

logger = logging.getLogger(__name__)

Number = Union[int, float]


class Lock:
    """A lock shared by every thread and process using the same database (redis-py ``Lock``)."""

    def __init__(
        self,
        redis: Any,
        name: str,
        timeout: Optional[Number] = None,
        sleep: Number = 0.1,
        blocking: bool = True,
        blocking_timeout: Optional[Number] = None,
        thread_local: bool = True,
        raise_on_release_error: bool = True,
    ) -> None:
        self.redis = redis
        self.name = name
        self.timeout = timeout
        self.sleep = sleep
        self.blocking = blocking
        self.blocking_timeout = blocking_timeout
        self.thread_local = bool(thread_local)
        self.raise_on_release_error = raise_on_release_error
        self.local: Any = threading.local() if self.thread_local else SimpleNamespace()
        self.local.token = None

    def __enter__(self) -> "Lock":
        if self.acquire():
            return self
        raise LockError("Unable to acquire lock within the time specified", lock_name=self.name)

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc_value: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        try:
            self.release()
        except LockError:
            if self.raise_on_release_error:
                raise
            logger.warning("Lock was unlocked or no longer owned when exiting context manager.")

    def _token(self) -> Optional[bytes]:
        return getattr(self.local, "token", None)

    def acquire(
        self,
        sleep: Optional[Number] = None,
        blocking: Optional[bool] = None,
        blocking_timeout: Optional[Number] = None,
        token: Optional[Union[str, bytes]] = None,
    ) -> bool:
        """Acquire the lock; with ``blocking`` wait (up to ``blocking_timeout`` seconds)."""
        if sleep is None:
            sleep = self.sleep
        if token is None:
            tok = uuid.uuid1().hex.encode()
        else:
            tok = token.encode() if isinstance(token, str) else bytes(token)
        if blocking is None:
            blocking = self.blocking
        if blocking_timeout is None:
            blocking_timeout = self.blocking_timeout
        stop_trying_at = None
        if blocking_timeout is not None:
            stop_trying_at = mod_time.monotonic() + blocking_timeout
        while True:
            if self.do_acquire(tok):
                self.local.token = tok
                return True
            if not blocking:
                return False
            next_try_at = mod_time.monotonic() + sleep
            if stop_trying_at is not None and next_try_at > stop_trying_at:
                return False
            mod_time.sleep(sleep)

    def do_acquire(self, token: bytes) -> bool:
        timeout = int(self.timeout * 1000) if self.timeout else None
        return bool(self.redis.set(self.name, token, nx=True, px=timeout))

    def locked(self) -> bool:
        """True if any owner holds the lock."""
        return self.redis.get(self.name) is not None

    def owned(self) -> bool:
        """True if this lock object holds the lock."""
        stored = self.redis.get(self.name)
        if isinstance(stored, str):
            stored = stored.encode()
        return self._token() is not None and stored == self._token()

    def _if_owner(self, token: bytes, plan: Callable[[int], Optional[Callable[[Any], Any]]]) -> bool:
        """Atomically: if the lock key holds ``token``, run ``plan(pttl)``'s action in MULTI.
        ``plan`` returns None to give up (then nothing changes and the result is False)."""
        with self.redis.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(self.name)
                    stored = pipe.get(self.name)
                    if isinstance(stored, str):
                        stored = stored.encode()
                    action = plan(pipe.pttl(self.name)) if stored == token else None
                    if action is None:
                        pipe.reset()
                        return False
                    pipe.multi()
                    action(pipe)
                    pipe.execute()
                    return True
                except WatchError:
                    continue

    def release(self) -> None:
        """Release the lock (LockError if not held, LockNotOwnedError if lost meanwhile)."""
        expected = self._token()
        if expected is None:
            raise LockError("Cannot release a lock that's not owned or is already unlocked.", lock_name=self.name)
        self.local.token = None
        self.do_release(expected)

    def do_release(self, expected_token: bytes) -> None:
        if not self._if_owner(expected_token, lambda ttl: lambda pipe: pipe.delete(self.name)):
            raise LockNotOwnedError("Cannot release a lock that's no longer owned", lock_name=self.name)

    def extend(self, additional_time: Number, replace_ttl: bool = False) -> bool:
        """Add ``additional_time`` seconds to the lock's TTL (or set it, with ``replace_ttl``)."""
        if self._token() is None:
            raise LockError("Cannot extend an unlocked lock", lock_name=self.name)
        if self.timeout is None:
            raise LockError("Cannot extend a lock with no timeout", lock_name=self.name)
        return self.do_extend(additional_time, replace_ttl)

    def do_extend(self, additional_time: Number, replace_ttl: bool) -> bool:
        ms = int(additional_time * 1000)

        def plan(ttl: int) -> Optional[Callable[[Any], Any]]:
            if ttl < 0:  # no TTL (or gone): redis-py's script refuses too
                return None
            return lambda pipe: pipe.pexpire(self.name, ms if replace_ttl else ms + ttl)

        token = self._token()
        if token is None or not self._if_owner(token, plan):
            raise LockNotOwnedError("Cannot extend a lock that's no longer owned", lock_name=self.name)
        return True

    def reacquire(self) -> bool:
        """Reset the lock's TTL to ``timeout``."""
        if self._token() is None:
            raise LockError("Cannot reacquire an unlocked lock", lock_name=self.name)
        if self.timeout is None:
            raise LockError("Cannot reacquire a lock with no timeout", lock_name=self.name)
        return self.do_reacquire()

    def do_reacquire(self) -> bool:
        assert self.timeout is not None
        ms = int(self.timeout * 1000)
        token = self._token()
        if token is None or not self._if_owner(token, lambda ttl: lambda pipe: pipe.pexpire(self.name, ms)):
            raise LockNotOwnedError("Cannot reacquire a lock that's no longer owned", lock_name=self.name)
        return True
