"""Result objects of write operations, as pymongo's ``pymongo.results``."""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional

from ..errors import InvalidOperation

__all__ = ["InsertOneResult", "InsertManyResult", "UpdateResult", "DeleteResult", "BulkWriteResult"]


class _WriteResult:
    __slots__ = ("_acknowledged",)

    def __init__(self, acknowledged: bool) -> None:
        self._acknowledged = acknowledged

    def _raise_if_unacknowledged(self, property_name: str) -> None:
        if not self._acknowledged:
            raise InvalidOperation(
                f"A value for {property_name} is not available when the write is unacknowledged. Check the acknowledged attribute to avoid this error."
            )

    @property
    def acknowledged(self) -> bool:
        """Always True for nestdb (every write is acknowledged)."""
        return self._acknowledged


class InsertOneResult(_WriteResult):
    """The result of ``insert_one``."""

    __slots__ = ("__inserted_id",)

    def __init__(self, inserted_id: Any, acknowledged: bool) -> None:
        self.__inserted_id = inserted_id
        self._acknowledged = acknowledged  # (_WriteResult.__init__, inlined: results are made per call)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.__inserted_id!r}, acknowledged={self.acknowledged})"

    @property
    def inserted_id(self) -> Any:
        """The ``_id`` of the inserted document."""
        return self.__inserted_id


class InsertManyResult(_WriteResult):
    """The result of ``insert_many``."""

    __slots__ = ("__inserted_ids",)

    def __init__(self, inserted_ids: List[Any], acknowledged: bool) -> None:
        self.__inserted_ids = inserted_ids
        self._acknowledged = acknowledged  # (_WriteResult.__init__, inlined: results are made per call)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.__inserted_ids!r}, acknowledged={self.acknowledged})"

    @property
    def inserted_ids(self) -> List[Any]:
        """The ``_id`` of each document, in the order given."""
        return self.__inserted_ids


class UpdateResult(_WriteResult):
    """The result of ``update_one``/``update_many``/``replace_one``."""

    __slots__ = ("__raw_result", "__in_client_bulk")

    def __init__(self, raw_result: Optional[Mapping[str, Any]], acknowledged: bool, in_client_bulk: bool = False) -> None:
        self.__raw_result = raw_result
        self.__in_client_bulk = in_client_bulk
        self._acknowledged = acknowledged  # (_WriteResult.__init__, inlined: results are made per call)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.__raw_result!r}, acknowledged={self.acknowledged})"

    @property
    def raw_result(self) -> Optional[Mapping[str, Any]]:
        """The reply document of the update command."""
        return self.__raw_result

    @property
    def matched_count(self) -> int:
        self._raise_if_unacknowledged("matched_count")
        assert self.__raw_result is not None
        if self.upserted_id is not None:
            return 0
        return int(self.__raw_result.get("n", 0))

    @property
    def modified_count(self) -> int:
        self._raise_if_unacknowledged("modified_count")
        assert self.__raw_result is not None
        return int(self.__raw_result.get("nModified", 0))

    @property
    def upserted_id(self) -> Any:
        self._raise_if_unacknowledged("upserted_id")
        assert self.__raw_result is not None
        return self.__raw_result.get("upserted")

    @property
    def did_upsert(self) -> bool:
        """True when the update inserted a document."""
        assert self.__raw_result is not None
        return "upserted" in self.__raw_result


class DeleteResult(_WriteResult):
    """The result of ``delete_one``/``delete_many``."""

    __slots__ = ("__raw_result",)

    def __init__(self, raw_result: Mapping[str, Any], acknowledged: bool) -> None:
        self.__raw_result = raw_result
        self._acknowledged = acknowledged  # (_WriteResult.__init__, inlined: results are made per call)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.__raw_result!r}, acknowledged={self.acknowledged})"

    @property
    def raw_result(self) -> Mapping[str, Any]:
        return self.__raw_result

    @property
    def deleted_count(self) -> int:
        self._raise_if_unacknowledged("deleted_count")
        return int(self.__raw_result.get("n", 0))


class BulkWriteResult(_WriteResult):
    """The result of ``bulk_write``."""

    __slots__ = ("__bulk_api_result",)

    def __init__(self, bulk_api_result: Dict[str, Any], acknowledged: bool) -> None:
        self.__bulk_api_result = bulk_api_result
        self._acknowledged = acknowledged  # (_WriteResult.__init__, inlined: results are made per call)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.__bulk_api_result!r}, acknowledged={self.acknowledged})"

    @property
    def bulk_api_result(self) -> Dict[str, Any]:
        return self.__bulk_api_result

    @property
    def inserted_count(self) -> int:
        self._raise_if_unacknowledged("inserted_count")
        return int(self.__bulk_api_result.get("nInserted", 0))

    @property
    def matched_count(self) -> int:
        self._raise_if_unacknowledged("matched_count")
        return int(self.__bulk_api_result.get("nMatched", 0))

    @property
    def modified_count(self) -> int:
        self._raise_if_unacknowledged("modified_count")
        return int(self.__bulk_api_result.get("nModified", 0))

    @property
    def deleted_count(self) -> int:
        self._raise_if_unacknowledged("deleted_count")
        return int(self.__bulk_api_result.get("nRemoved", 0))

    @property
    def upserted_count(self) -> int:
        self._raise_if_unacknowledged("upserted_count")
        return int(self.__bulk_api_result.get("nUpserted", 0))

    @property
    def upserted_ids(self) -> Optional[Dict[int, Any]]:
        self._raise_if_unacknowledged("upserted_ids")
        if self.__bulk_api_result:
            return {upsert["index"]: upsert["_id"] for upsert in self.__bulk_api_result["upserted"]}
        return None
