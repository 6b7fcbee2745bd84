"""Exceptions of the document layer, with pymongo's names and hierarchy (``pymongo.errors``).

The Redis side's exceptions live in ``nestdb.exceptions`` (redis-py's names); the two sets are
separate because both libraries use names such as ``ConnectionError``. ``InvalidDocument``
comes from ``nestdb._bson`` (pymongo has it in ``bson.errors``) and is re-exported here.
"""

from __future__ import annotations

from typing import Any, Dict, Iterable, List, Mapping, Optional, Union

from ._bson import BSONError, InvalidDocument, InvalidId

__all__ = [
    "PyMongoError",
    "ProtocolError",
    "ConnectionFailure",
    "AutoReconnect",
    "NetworkTimeout",
    "ServerSelectionTimeoutError",
    "ConfigurationError",
    "OperationFailure",
    "ExecutionTimeout",
    "WriteError",
    "WriteConcernError",
    "DuplicateKeyError",
    "BulkWriteError",
    "CursorNotFound",
    "InvalidOperation",
    "InvalidName",
    "InvalidURI",
    "CollectionInvalid",
    "DocumentTooLarge",
    "WTimeoutError",
    "NotPrimaryError",
    "EncryptionError",
    "InvalidDocument",
    "InvalidId",
    "BSONError",
]


class PyMongoError(Exception):
    """Base class of the document layer's errors (pymongo's ``PyMongoError``)."""

    def __init__(self, message: str = "", error_labels: Optional[Iterable[str]] = None) -> None:
        super().__init__(message)
        self._message = message
        self._error_labels = set(error_labels or [])

    def has_error_label(self, label: str) -> bool:
        return label in self._error_labels

    def _add_error_label(self, label: str) -> None:
        self._error_labels.add(label)

    def _remove_error_label(self, label: str) -> None:
        self._error_labels.discard(label)

    @property
    def timeout(self) -> bool:
        return False


class ProtocolError(PyMongoError):
    """Kept for pymongo compatibility; nestdb has no wire protocol."""


class ConnectionFailure(PyMongoError):
    """The client cannot be used (e.g. it was closed)."""


class AutoReconnect(ConnectionFailure):
    """Kept for pymongo compatibility; never raised by an embedded database."""


class NetworkTimeout(AutoReconnect):
    """Kept for pymongo compatibility."""


class NotPrimaryError(AutoReconnect):
    """Kept for pymongo compatibility."""


class ServerSelectionTimeoutError(AutoReconnect):
    """Kept for pymongo compatibility."""


class ConfigurationError(PyMongoError):
    """A bad client option or argument combination."""


class InvalidURI(ConfigurationError):
    """Kept for pymongo compatibility."""


def _format_detailed_error(message: str, details: Optional[Mapping[str, Any]]) -> str:
    if details is not None:
        message = f"{message}, full error: {dict(details)}"
    return message


class OperationFailure(PyMongoError):
    """A command failed: ``code`` (MongoDB's numeric code), ``code_name`` and ``details`` (the
    whole error document)."""

    def __init__(
        self,
        error: str,
        code: Optional[int] = None,
        details: Optional[Mapping[str, Any]] = None,
        max_wire_version: Optional[int] = None,
    ) -> None:
        error_labels = None
        if details is not None:
            error_labels = details.get("errorLabels")
        super().__init__(_format_detailed_error(error, details), error_labels=error_labels)
        self.__code = code
        self.__details = details
        self.__max_wire_version = max_wire_version

    @property
    def code(self) -> Optional[int]:
        return self.__code

    @property
    def details(self) -> Optional[Mapping[str, Any]]:
        return self.__details

    @property
    def code_name(self) -> Optional[str]:
        if self.__details is None:
            return None
        return self.__details.get("codeName")

    @property
    def timeout(self) -> bool:
        return self.__code in (50,)


class CursorNotFound(OperationFailure):
    """The server-side cursor is gone (``getMore`` after it was killed or exhausted)."""


class ExecutionTimeout(OperationFailure):
    """``max_time_ms`` ran out (code 50)."""

    @property
    def timeout(self) -> bool:
        return True


class WriteConcernError(OperationFailure):
    """Kept for pymongo compatibility (an embedded database has no write concern errors)."""


class WTimeoutError(WriteConcernError):
    """Kept for pymongo compatibility."""


class WriteError(OperationFailure):
    """A single write failed; ``details`` is the write error document."""


class DuplicateKeyError(WriteError):
    """A write would duplicate a unique key such as ``_id`` (codes 11000, 11001, 12582)."""


class BulkWriteError(OperationFailure):
    """A batch write (``insert_many``, ``bulk_write``) failed part way; ``details`` holds the
    partial result: ``writeErrors``, ``nInserted``, ``nUpserted``, ``nMatched``,
    ``nModified``, ``nRemoved``, ``upserted``."""

    def __init__(self, results: Mapping[str, Any]) -> None:
        super().__init__("batch op errors occurred", 65, results)

    def __reduce__(self) -> Any:
        return self.__class__, (self.details,)

    @property
    def timeout(self) -> bool:
        for err in (self.details or {}).get("writeErrors", []):
            if err.get("code") == 50:
                return True
        return False


class InvalidOperation(PyMongoError):
    """An operation that is not allowed in the current state (e.g. modifying a cursor that
    has started iterating)."""


class InvalidName(PyMongoError):
    """An invalid database or collection name."""


class CollectionInvalid(PyMongoError):
    """A collection-level error (``create_collection`` of an existing collection)."""


class DocumentTooLarge(InvalidDocument):
    """A document larger than the maximum BSON size (16 MiB)."""


class EncryptionError(PyMongoError):
    """Kept for pymongo compatibility."""


# MongoDB codes with a dedicated pymongo class.
_DUPLICATE_KEY_CODES = (11000, 11001, 12582)


def _operation_failure(reply: Mapping[str, Any]) -> OperationFailure:
    """The exception pymongo raises for an ``ok: 0`` command reply."""
    errmsg = reply.get("errmsg", "")
    code = reply.get("code")
    details: Dict[str, Any] = dict(reply)
    if code in _DUPLICATE_KEY_CODES:
        return DuplicateKeyError(errmsg, code, details)
    if code == 50:
        return ExecutionTimeout(errmsg, code, details)
    if code == 43:
        return CursorNotFound(errmsg, code, details)
    return OperationFailure(errmsg, code, details)


def _write_error(error: Mapping[str, Any]) -> WriteError:
    """The exception for the first write error of a single-document write."""
    code = error.get("code")
    errmsg = error.get("errmsg", "")
    details = dict(error)
    if code in _DUPLICATE_KEY_CODES:
        return DuplicateKeyError(errmsg, code, details)
    return WriteError(errmsg, code, details)

