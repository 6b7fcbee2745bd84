"""Write request classes for ``Collection.bulk_write`` (pymongo's ``pymongo.operations``):
``InsertOne``, ``UpdateOne``, ``UpdateMany``, ``ReplaceOne``, ``DeleteOne``, ``DeleteMany``."""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Tuple

from .common import hint_value, index_document, index_list, reject_collation, sort_document, validate_boolean, validate_is_document_type, validate_is_mapping, validate_list, validate_ok_for_replace, validate_ok_for_update

__all__ = ["InsertOne", "UpdateOne", "UpdateMany", "ReplaceOne", "DeleteOne", "DeleteMany", "IndexModel"]

INSERT, UPDATE, DELETE = 0, 1, 2


class InsertOne:
    """Insert ``document`` (an ``_id`` ObjectId is added to it in place when absent)."""

    __slots__ = ("_doc",)

    def __init__(self, document: Any, namespace: Optional[str] = None) -> None:
        self._doc = document

    def _to_op(self) -> Tuple[int, Any]:
        validate_is_document_type("document", self._doc)
        return INSERT, self._doc

    def __repr__(self) -> str:
        return f"InsertOne({self._doc!r})"

    def __eq__(self, other: Any) -> bool:
        if type(other) == type(self):
            return bool(other._doc == self._doc)
        return NotImplemented

    def __ne__(self, other: Any) -> bool:
        return not self == other


class _DeleteOp:
    __slots__ = ("_filter", "_collation", "_hint")
    _limit = 0

    def __init__(self, filter: Mapping[str, Any], collation: Any = None, hint: Any = None, namespace: Optional[str] = None) -> None:
        if filter is not None:
            validate_is_mapping("filter", filter)
        self._filter = filter
        self._collation = collation
        self._hint = hint

    def _to_op(self) -> Tuple[int, Dict[str, Any]]:
        reject_collation(self._collation)
        op: Dict[str, Any] = {"q": self._filter, "limit": self._limit}
        if self._hint is not None:
            op["hint"] = hint_value(self._hint)
        return DELETE, op

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self._filter!r}, {self._collation!r}, {self._hint!r})"

    def __eq__(self, other: Any) -> bool:
        if type(other) == type(self):
            return bool((other._filter, other._collation, other._hint) == (self._filter, self._collation, self._hint))
        return NotImplemented

    def __ne__(self, other: Any) -> bool:
        return not self == other


class DeleteOne(_DeleteOp):
    """Delete the first document matching ``filter``."""

    __slots__ = ()
    _limit = 1


class DeleteMany(_DeleteOp):
    """Delete every document matching ``filter``."""

    __slots__ = ()
    _limit = 0


class _UpdateOp:
    __slots__ = ("_filter", "_doc", "_upsert", "_collation", "_array_filters", "_hint", "_sort")
    _multi = False
    _replace = False

    def __init__(
        self,
        filter: Mapping[str, Any],
        doc: Any,
        upsert: Optional[bool] = None,
        collation: Any = None,
        array_filters: Optional[List[Mapping[str, Any]]] = None,
        hint: Any = None,
        namespace: Optional[str] = None,
        sort: Any = None,
    ) -> None:
        if filter is not None:
            validate_is_mapping("filter", filter)
        if upsert is not None:
            validate_boolean("upsert", upsert)
        if array_filters is not None:
            validate_list("array_filters", array_filters)
        self._filter = filter
        self._doc = doc
        self._upsert = upsert
        self._collation = collation
        self._array_filters = array_filters
        self._hint = hint
        self._sort = sort

    def _to_op(self) -> Tuple[int, Dict[str, Any]]:
        reject_collation(self._collation)
        if self._replace:
            validate_ok_for_replace(self._doc)
        else:
            validate_ok_for_update(self._doc)
        op: Dict[str, Any] = {"q": self._filter, "u": self._doc, "multi": self._multi, "upsert": bool(self._upsert)}
        if self._array_filters is not None:
            op["arrayFilters"] = self._array_filters
        if self._hint is not None:
            op["hint"] = hint_value(self._hint)
        if self._sort is not None:
            op["sort"] = sort_document(self._sort)
        return UPDATE, op

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self._filter!r}, {self._doc!r}, {self._upsert!r}, {self._collation!r}, {self._array_filters!r}, {self._hint!r})"

    def __eq__(self, other: Any) -> bool:
        if type(other) == type(self):
            a = (other._filter, other._doc, other._upsert, other._collation, other._array_filters, other._hint)
            return bool(a == (self._filter, self._doc, self._upsert, self._collation, self._array_filters, self._hint))
        return NotImplemented

    def __ne__(self, other: Any) -> bool:
        return not self == other


class UpdateOne(_UpdateOp):
    """Update the first document matching ``filter`` with ``update`` ($-operators or a pipeline)."""

    __slots__ = ()

    def __init__(
        self,
        filter: Mapping[str, Any],
        update: Any,
        upsert: Optional[bool] = None,
        collation: Any = None,
        array_filters: Optional[List[Mapping[str, Any]]] = None,
        hint: Any = None,
        namespace: Optional[str] = None,
        sort: Any = None,
    ) -> None:
        super().__init__(filter, update, upsert, collation, array_filters, hint, namespace, sort)


class UpdateMany(_UpdateOp):
    """Update every document matching ``filter``."""

    __slots__ = ()
    _multi = True

    def __init__(
        self,
        filter: Mapping[str, Any],
        update: Any,
        upsert: Optional[bool] = None,
        collation: Any = None,
        array_filters: Optional[List[Mapping[str, Any]]] = None,
        hint: Any = None,
        namespace: Optional[str] = None,
    ) -> None:
        super().__init__(filter, update, upsert, collation, array_filters, hint, namespace)


class ReplaceOne(_UpdateOp):
    """Replace the first document matching ``filter`` with ``replacement``."""

    __slots__ = ()
    _replace = True

    def __init__(
        self,
        filter: Mapping[str, Any],
        replacement: Any,
        upsert: Optional[bool] = None,
        collation: Any = None,
        hint: Any = None,
        namespace: Optional[str] = None,
        sort: Any = None,
    ) -> None:
        super().__init__(filter, replacement, upsert, collation, None, hint, namespace, sort)


def gen_index_name(keys: List[Tuple[str, Any]]) -> str:
    """pymongo's default index name: ``"a_1_b_-1"``."""
    return "_".join(f"{key}_{direction}" for key, direction in keys)


class IndexModel:
    """An index specification for ``create_indexes`` (pymongo's ``IndexModel``): ``keys`` in
    any sort form plus index options (``name``, ``unique``, ``sparse``,
    ``expireAfterSeconds``, ``partialFilterExpression``...)."""

    __slots__ = ("__document",)

    def __init__(self, keys: Any, **kwargs: Any) -> None:
        pairs = index_list(keys)
        if kwargs.get("name") is None:
            kwargs["name"] = gen_index_name(pairs)
        kwargs["key"] = index_document(pairs)
        reject_collation(kwargs.pop("collation", None))
        self.__document = kwargs

    @property
    def document(self) -> Dict[str, Any]:
        """The index document sent in ``createIndexes``."""
        return self.__document

    def __repr__(self) -> str:
        return f"IndexModel({self.__document!r})"
