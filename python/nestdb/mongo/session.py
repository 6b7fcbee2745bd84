"""``ClientSession`` (pymongo's ``client.start_session()``) for code that passes ``session=``.

An embedded database is causally consistent by construction (one process, every write is
visible to the next read), so a session needs no server state: operations given
``session=`` run as without one. Multi-document transactions in pymongo's style
(``start_transaction``/``with_transaction``, with reads inside them) cannot be offered over
nestdb's atomic batches, so they raise ``InvalidOperation`` pointing to
``nestdb.open(path).transaction()``, which batches key and document writes atomically.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any, Callable, Dict, Mapping, Optional

from .._bson import Binary
from ..errors import InvalidOperation

if TYPE_CHECKING:
    from .client import MongoClient

__all__ = ["ClientSession", "SessionOptions"]

_NO_TRANSACTIONS = (
    "nestdb sessions have no multi-document transactions; run the writes in a "
    "nestdb.open(path).transaction() batch (atomic, keys and documents)"
)


class SessionOptions:
    """Options of ``start_session`` (kept for pymongo compatibility)."""

    def __init__(self, causal_consistency: Optional[bool] = None, default_transaction_options: Any = None, snapshot: Optional[bool] = False) -> None:
        self._causal_consistency = True if causal_consistency is None else causal_consistency
        self._default_transaction_options = default_transaction_options
        self._snapshot = snapshot

    @property
    def causal_consistency(self) -> bool:
        return self._causal_consistency

    @property
    def default_transaction_options(self) -> Any:
        return self._default_transaction_options

    @property
    def snapshot(self) -> Optional[bool]:
        return self._snapshot


class ClientSession:
    """A logical session: pass it as ``session=`` to any operation; end it with
    ``end_session()`` or a ``with`` block."""

    def __init__(self, client: "MongoClient", options: SessionOptions) -> None:
        self._client = client
        self._options = options
        self._session_id = {"id": Binary(uuid.uuid4().bytes, 4)}
        self._ended = False
        self._cluster_time: Optional[Mapping[str, Any]] = None
        self._operation_time: Any = None

    @property
    def client(self) -> "MongoClient":
        return self._client

    @property
    def options(self) -> SessionOptions:
        return self._options

    @property
    def session_id(self) -> Dict[str, Any]:
        """``{"id": Binary(uuid, 4)}``, as MongoDB's logical session ids."""
        self._check_ended()
        return self._session_id

    @property
    def has_ended(self) -> bool:
        return self._ended

    @property
    def in_transaction(self) -> bool:
        return False

    @property
    def cluster_time(self) -> Optional[Mapping[str, Any]]:
        return self._cluster_time

    @property
    def operation_time(self) -> Any:
        return self._operation_time

    def advance_cluster_time(self, cluster_time: Mapping[str, Any]) -> None:
        if not isinstance(cluster_time, Mapping):
            raise TypeError("cluster_time must be a subclass of collections.Mapping")
        self._cluster_time = cluster_time

    def advance_operation_time(self, operation_time: Any) -> None:
        self._operation_time = operation_time

    def _check_ended(self) -> None:
        if self._ended:
            raise InvalidOperation("Cannot use ended session")

    def end_session(self) -> None:
        self._ended = True

    def start_transaction(self, read_concern: Any = None, write_concern: Any = None, read_preference: Any = None, max_commit_time_ms: Optional[int] = None) -> Any:
        self._check_ended()
        raise InvalidOperation(_NO_TRANSACTIONS)

    def with_transaction(self, callback: Callable[["ClientSession"], Any], read_concern: Any = None, write_concern: Any = None, read_preference: Any = None, max_commit_time_ms: Optional[int] = None) -> Any:
        self._check_ended()
        raise InvalidOperation(_NO_TRANSACTIONS)

    def commit_transaction(self) -> None:
        raise InvalidOperation("No transaction started")

    def abort_transaction(self) -> None:
        raise InvalidOperation("No transaction started")

    def __enter__(self) -> "ClientSession":
        return self

    def __exit__(self, *exc: object) -> None:
        self.end_session()
