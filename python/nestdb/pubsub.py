"""``PubSub``: redis-py's ``redis.client.PubSub`` over nestdb's in-process publish/subscribe.

``Redis.pubsub()`` returns one. Messages published with ``PUBLISH`` by any client of the same
database in this process reach it in order, as dicts shaped like redis-py's
(``{"type", "pattern", "channel", "data"}``), including the subscribe/unsubscribe
confirmations. Handlers given as keyword arguments (``p.subscribe(news=handler)``) are called
instead of returning the message, and ``run_in_thread`` runs them on a worker thread.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Dict, Iterator, Optional

from .exceptions import PubSubError

Handler = Callable[[Dict[str, Any]], Any]


class PubSub:
    """A subscriber: subscribe to channels and patterns, then read messages."""

    PUBLISH_MESSAGE_TYPES = ("message", "pmessage")
    UNSUBSCRIBE_MESSAGE_TYPES = ("unsubscribe", "punsubscribe")

    def __init__(self, client: Any, ignore_subscribe_messages: bool = False, **kwargs: Any) -> None:
        self._client = client
        self._native = client._subscriber()
        self.ignore_subscribe_messages = ignore_subscribe_messages
        self.channels: Dict[Any, Optional[Handler]] = {}
        self.patterns: Dict[Any, Optional[Handler]] = {}
        self._encoding = "utf-8"
        self._decode_responses = bool(client.decode_responses)
        # As redis-py: set by (p)subscribe, cleared when the confirmation of the last
        # (p)unsubscribe is read (so `listen()` yields that confirmation, then stops).
        self._subscribed = False

    # -- context manager and lifetime --------------------------------------------------------

    def __enter__(self) -> "PubSub":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.reset()

    def __del__(self) -> None:
        try:
            self.reset()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

    def reset(self) -> None:
        """Unsubscribe from everything and drop queued messages."""
        self._native.close()
        self.channels = {}
        self.patterns = {}
        self._subscribed = False

    close = reset
    aclose = reset

    @property
    def subscribed(self) -> bool:
        """True from a subscribe until the confirmation of the last unsubscribe is read."""
        return self._subscribed

    # -- subscribing -------------------------------------------------------------------------

    def _encode(self, name: Any) -> bytes:
        if isinstance(name, bytes):
            return name
        if isinstance(name, str):
            return name.encode(self._encoding)
        if isinstance(name, (int, float)):
            return repr(name).encode()
        if isinstance(name, (bytearray, memoryview)):
            return bytes(name)
        raise TypeError(f"invalid channel name {name!r}: bytes, str or a number")

    def _key(self, raw: bytes) -> Any:
        return raw.decode(self._encoding) if self._decode_responses else raw

    def _gather(self, args: Any, kwargs: Dict[str, Handler]) -> Dict[bytes, Optional[Handler]]:
        names: Dict[bytes, Optional[Handler]] = {}
        for a in args:
            if isinstance(a, (list, tuple, set)):
                for x in a:
                    names[self._encode(x)] = None
            else:
                names[self._encode(a)] = None
        for k, h in kwargs.items():
            names[self._encode(k)] = h
        return names

    def _check_open(self) -> None:
        if self._native.closed:
            self._native = self._client._subscriber()

    def subscribe(self, *args: Any, **kwargs: Handler) -> None:
        """Subscribe to channels; ``channel=handler`` keywords register a handler."""
        names = self._gather(args, kwargs)
        if not names:
            raise TypeError("subscribe() needs at least one channel")
        self._check_open()
        self._native.subscribe(list(names))
        for raw, h in names.items():
            self.channels[self._key(raw)] = h
        self._subscribed = True

    def psubscribe(self, *args: Any, **kwargs: Handler) -> None:
        """Subscribe to glob patterns (``news.*``); ``pattern=handler`` keywords too."""
        names = self._gather(args, kwargs)
        if not names:
            raise TypeError("psubscribe() needs at least one pattern")
        self._check_open()
        self._native.psubscribe(list(names))
        for raw, h in names.items():
            self.patterns[self._key(raw)] = h
        self._subscribed = True

    def unsubscribe(self, *args: Any) -> None:
        """Unsubscribe from the channels given, or from all of them."""
        names = list(self._gather(args, {}))
        self._check_open()
        self._native.unsubscribe(names)
        if names:
            for raw in names:
                self.channels.pop(self._key(raw), None)
        else:
            self.channels = {}

    def punsubscribe(self, *args: Any) -> None:
        """Unsubscribe from the patterns given, or from all of them."""
        names = list(self._gather(args, {}))
        self._check_open()
        self._native.punsubscribe(names)
        if names:
            for raw in names:
                self.patterns.pop(self._key(raw), None)
        else:
            self.patterns = {}

    # -- reading -----------------------------------------------------------------------------

    def get_message(self, ignore_subscribe_messages: bool = False, timeout: Optional[float] = 0.0) -> Optional[Dict[str, Any]]:
        """The next message, waiting up to ``timeout`` seconds (``None``: until one arrives).
        Returns None when nothing arrived, or when the message went to a handler or is a
        subscribe confirmation being ignored."""
        if self._native.closed:
            return None
        # One message per call, as redis-py reads one response per call.
        row = self._native.get(None if timeout is None else max(timeout, 0.0))
        if row is None:
            return None
        return self._handle(row, ignore_subscribe_messages)

    def _handle(self, row: Any, ignore_subscribe_messages: bool) -> Optional[Dict[str, Any]]:
        kind, pattern, channel, data = row
        if self._decode_responses:
            pattern = pattern.decode(self._encoding) if pattern is not None else None
            channel = channel.decode(self._encoding) if channel is not None else None
            if isinstance(data, bytes):
                data = data.decode(self._encoding)
        message = {"type": kind, "pattern": pattern, "channel": channel, "data": data}
        if kind in self.UNSUBSCRIBE_MESSAGE_TYPES and data == 0:
            self._subscribed = False
        if kind in self.PUBLISH_MESSAGE_TYPES:
            handler = self.patterns.get(pattern) if kind == "pmessage" else self.channels.get(channel)
            if handler is not None:
                handler(message)
                return None
        elif ignore_subscribe_messages or self.ignore_subscribe_messages:
            return None
        return message

    def listen(self) -> Iterator[Dict[str, Any]]:
        """Yield messages as they arrive, while subscribed."""
        while self.subscribed:
            message = self.get_message(timeout=None)
            if message is not None:
                yield message

    def ping(self, message: Any = None) -> None:
        """No server to ping in-process: a no-op kept for redis-py compatibility."""

    def run_in_thread(self, sleep_time: float = 0.0, daemon: bool = False, exception_handler: Any = None) -> "PubSubWorkerThread":
        """Dispatch messages to the registered handlers on a worker thread."""
        for name, handler in list(self.channels.items()) + list(self.patterns.items()):
            if handler is None:
                raise PubSubError(f"Channel: '{name}' has no handler registered")
        thread = PubSubWorkerThread(self, sleep_time or 0.1, daemon=daemon, exception_handler=exception_handler)
        thread.start()
        return thread


class PubSubWorkerThread(threading.Thread):
    """redis-py's worker: calls ``get_message`` in a loop until ``stop()``."""

    def __init__(self, pubsub: PubSub, sleep_time: float, daemon: bool = False, exception_handler: Any = None) -> None:
        super().__init__()
        self.daemon = daemon
        self.pubsub = pubsub
        self.sleep_time = sleep_time
        self.exception_handler = exception_handler
        self._running = threading.Event()

    def run(self) -> None:
        if self._running.is_set():
            return
        self._running.set()
        while self._running.is_set():
            try:
                self.pubsub.get_message(ignore_subscribe_messages=True, timeout=self.sleep_time)
            except BaseException as e:  # noqa: BLE001 - handed to the user's handler
                if self.exception_handler is None:
                    raise
                self.exception_handler(e, self.pubsub, self)
        self.pubsub.close()

    def stop(self) -> None:
        self._running.clear()
