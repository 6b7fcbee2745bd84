"""``Cursor`` (the result of ``Collection.find``) and ``CommandCursor`` (``aggregate``,
``list_collections``...), as pymongo's.

A cursor streams: the first batch comes with the ``find``/``aggregate`` reply, the rest with
``getMore`` on the cursor id, and ``killCursors`` frees the database's cursor when the Python
cursor is closed, exhausted early or garbage collected. Options can be changed until iteration
starts (``InvalidOperation`` afterwards, as pymongo).
"""

from __future__ import annotations

import copy
from collections import abc, deque
from typing import TYPE_CHECKING, Any, Deque, Dict, Iterator, List, Mapping, Optional, Union

from ..errors import InvalidOperation
from .common import check_reply, hint_value, index_document, index_list, reject_collation, validate_boolean, validate_int, validate_is_mapping, validate_non_negative_int

if TYPE_CHECKING:
    from .collection import Collection

__all__ = ["Cursor", "CommandCursor"]


def fields_list_to_dict(fields: Any, option_name: str) -> Mapping[str, Any]:
    """pymongo's projection normalisation: a list of field names → ``{name: 1}``."""
    if isinstance(fields, abc.Mapping):
        return fields
    if isinstance(fields, (abc.Sequence, abc.Set)) and not isinstance(fields, (str, bytes)):
        if not all(isinstance(f, str) for f in fields):
            raise TypeError(f"{option_name} must be a list of key names, each an instance of str")
        return dict.fromkeys(fields, 1)
    raise TypeError(f"{option_name} must be a mapping or list of key names")


class _CursorBase:
    """Batch buffering, ``getMore`` and ``killCursors`` shared by both cursor kinds."""

    _collection: "Collection"
    _data: Deque[Any]
    _id: Optional[int]
    _killed: bool
    _retrieved: int
    _ns_coll: str

    def _send(self, command: Dict[str, Any]) -> Mapping[str, Any]:
        return self._collection.database._run_command(command)

    def _decode_batch(self, batch: List[Any]) -> None:
        decode = self._collection.database.client._decode_document
        if decode is None:
            self._data.extend(batch)
        else:
            self._data.extend(decode(d) for d in batch)
        self._retrieved += len(batch)

    def _take_cursor(self, cursor: Mapping[str, Any], key: str) -> None:
        self._id = int(cursor.get("id", 0))
        ns = cursor.get("ns")
        if isinstance(ns, str) and "." in ns:
            self._ns_coll = ns.split(".", 1)[1]
        self._decode_batch(list(cursor.get(key, [])))
        if self._id == 0:
            self._killed = True

    def _get_more(self, batch_size: int) -> None:
        assert self._id
        cmd: Dict[str, Any] = {"getMore": _int64(self._id), "collection": self._ns_coll}
        if batch_size:
            cmd["batchSize"] = batch_size
        try:
            reply = self._send(cmd)
        except Exception:
            self._id = 0
            self._killed = True
            raise
        self._take_cursor(reply["cursor"], "nextBatch")

    def _kill(self) -> None:
        cursor_id = self._id
        self._killed = True
        if cursor_id:
            self._id = 0
            try:
                self._send({"killCursors": self._ns_coll, "cursors": [_int64(cursor_id)]})
            except Exception:
                pass

    @property
    def cursor_id(self) -> Optional[int]:
        """The database's cursor id (None before the first batch, 0 once exhausted)."""
        return self._id

    @property
    def address(self) -> None:
        """pymongo gives the server's address; an embedded database has none."""
        return None

    @property
    def session(self) -> None:
        return None

    def __del__(self) -> None:
        try:
            if getattr(self, "_id", None):
                self._kill()
        except Exception:
            pass


def _int64(value: int) -> Any:
    from .._bson import Int64

    return Int64(value)


class Cursor(_CursorBase):
    """The result of ``Collection.find``; iterate it, or chain ``sort``/``skip``/``limit``
    first."""

    def __init__(
        self,
        collection: "Collection",
        filter: Optional[Mapping[str, Any]] = None,
        projection: Any = None,
        skip: int = 0,
        limit: int = 0,
        no_cursor_timeout: bool = False,
        cursor_type: int = 0,
        sort: Any = None,
        allow_partial_results: bool = False,
        oplog_replay: bool = False,
        batch_size: int = 0,
        collation: Any = None,
        hint: Any = None,
        max_scan: Any = None,
        max_time_ms: Optional[int] = None,
        max: Any = None,
        min: Any = None,
        return_key: Optional[bool] = None,
        show_record_id: Optional[bool] = None,
        snapshot: Optional[bool] = None,
        comment: Any = None,
        session: Any = None,
        allow_disk_use: Optional[bool] = None,
        let: Optional[Mapping[str, Any]] = None,
    ) -> None:
        self._collection = collection
        self._id = None
        self._killed = False
        self._data = deque()
        self._retrieved = 0
        self._ns_coll = collection._name
        spec = filter
        if spec is None:
            spec = {}
        validate_is_mapping("filter", spec)
        if not isinstance(skip, int) or isinstance(skip, bool):
            raise TypeError("skip must be an instance of int")
        if not isinstance(limit, int) or isinstance(limit, bool):
            raise TypeError("limit must be an instance of int")
        validate_boolean("no_cursor_timeout", no_cursor_timeout)
        if cursor_type not in (0,):
            raise InvalidOperation("nestdb collections are not capped: tailable and exhaust cursors are not available")
        if not isinstance(batch_size, int) or isinstance(batch_size, bool):
            raise TypeError("batch_size must be an integer")
        if batch_size < 0:
            raise ValueError("batch_size must be >= 0")
        if skip < 0:
            raise ValueError("skip must be >= 0")
        reject_collation(collation)
        if let is not None:
            validate_is_mapping("let", let)
        self._spec: Mapping[str, Any] = spec
        self._projection = None if projection is None else fields_list_to_dict(projection, "projection")
        self._skip = skip
        self._limit = limit
        self._batch_size = batch_size
        self._ordering: Optional[Dict[str, Any]] = index_document(sort) if sort else None
        self._hint = hint_value(hint)
        self._max_time_ms = max_time_ms
        self._max = max
        self._min = min
        self._return_key = return_key
        self._show_record_id = show_record_id
        self._comment = comment
        self._allow_disk_use = allow_disk_use
        self._let = let
        self._explain = False

    # -- options (before iteration) -------------------------------------------------------

    def _check_okay_to_chain(self) -> None:
        if self._retrieved or self._id is not None:
            raise InvalidOperation("cannot set options after executing query")

    def sort(self, key_or_list: Any, direction: Optional[Union[int, str]] = None) -> "Cursor":
        """Sort by one key (``sort("age", -1)``), a list of (key, direction) pairs, or a dict."""
        self._check_okay_to_chain()
        keys = index_list(key_or_list, direction)
        self._ordering = index_document(keys)
        return self

    def skip(self, skip: int) -> "Cursor":
        if not isinstance(skip, int) or isinstance(skip, bool):
            raise TypeError("skip must be an integer")
        if skip < 0:
            raise ValueError("skip must be >= 0")
        self._check_okay_to_chain()
        self._skip = skip
        return self

    def limit(self, limit: int) -> "Cursor":
        """At most ``limit`` documents (0: no limit; negative: one batch of ``-limit``)."""
        if not isinstance(limit, int) or isinstance(limit, bool):
            raise TypeError("limit must be an integer")
        self._check_okay_to_chain()
        self._limit = limit
        return self

    def batch_size(self, batch_size: int) -> "Cursor":
        if not isinstance(batch_size, int) or isinstance(batch_size, bool):
            raise TypeError("batch_size must be an integer")
        if batch_size < 0:
            raise ValueError("batch_size must be >= 0")
        self._check_okay_to_chain()
        self._batch_size = batch_size
        return self

    def max_time_ms(self, max_time_ms: Optional[int]) -> "Cursor":
        if max_time_ms is not None and (not isinstance(max_time_ms, int) or isinstance(max_time_ms, bool)):
            raise TypeError("max_time_ms must be an integer or None")
        self._check_okay_to_chain()
        self._max_time_ms = max_time_ms
        return self

    def max_await_time_ms(self, max_await_time_ms: Optional[int]) -> "Cursor":
        """Accepted for pymongo compatibility (only tailable cursors use it)."""
        self._check_okay_to_chain()
        return self

    def hint(self, index: Any) -> "Cursor":
        self._check_okay_to_chain()
        self._hint = hint_value(index)
        return self

    def comment(self, comment: Any) -> "Cursor":
        self._check_okay_to_chain()
        self._comment = comment
        return self

    def collation(self, collation: Any) -> "Cursor":
        """nestdb compares strings by code point: raises ``ConfigurationError``."""
        self._check_okay_to_chain()
        reject_collation(collation)
        return self

    def allow_disk_use(self, allow_disk_use: bool) -> "Cursor":
        validate_boolean("allow_disk_use", allow_disk_use)
        self._check_okay_to_chain()
        self._allow_disk_use = allow_disk_use
        return self

    def max(self, spec: Any) -> "Cursor":
        self._check_okay_to_chain()
        self._max = index_document(spec if not isinstance(spec, (list, tuple)) else index_list(spec))
        return self

    def min(self, spec: Any) -> "Cursor":
        self._check_okay_to_chain()
        self._min = index_document(spec if not isinstance(spec, (list, tuple)) else index_list(spec))
        return self

    def where(self, code: str) -> "Cursor":
        """Add a ``$where`` clause to the filter."""
        self._check_okay_to_chain()
        spec = dict(self._spec)
        spec["$where"] = code
        self._spec = spec
        return self

    # -- state ----------------------------------------------------------------------------

    @property
    def collection(self) -> "Collection":
        return self._collection

    @property
    def retrieved(self) -> int:
        return self._retrieved

    @property
    def alive(self) -> bool:
        """True while more documents may be available."""
        return bool(len(self._data) or (not self._killed))

    def rewind(self) -> "Cursor":
        """Back to the unevaluated state (the query runs again on the next iteration)."""
        self.close()
        self._data = deque()
        self._id = None
        self._retrieved = 0
        self._killed = False
        return self

    def clone(self) -> "Cursor":
        """An unevaluated copy with the same options."""
        return self._clone(True)

    def _clone(self, deepcopy: bool = True) -> "Cursor":
        base = Cursor.__new__(type(self))
        for name in (
            "_collection", "_spec", "_projection", "_skip", "_limit", "_batch_size", "_ordering", "_hint",
            "_max_time_ms", "_max", "_min", "_return_key", "_show_record_id", "_comment", "_allow_disk_use", "_let", "_explain",
        ):
            value = getattr(self, name)
            if deepcopy and name in ("_spec", "_projection", "_ordering", "_let"):
                value = copy.deepcopy(value)
            setattr(base, name, value)
        base._id = None
        base._killed = False
        base._data = deque()
        base._retrieved = 0
        base._ns_coll = self._collection.name
        return base

    def __copy__(self) -> "Cursor":
        return self._clone(deepcopy=False)

    def __deepcopy__(self, memo: Any) -> "Cursor":
        return self._clone(deepcopy=True)

    def close(self) -> None:
        """Free the database's cursor; iteration then ends."""
        self._kill()

    # -- commands -------------------------------------------------------------------------

    def _find_command(self) -> Dict[str, Any]:
        cmd: Dict[str, Any] = {"find": self._collection.name, "filter": self._spec}
        if self._ordering:
            cmd["sort"] = self._ordering
        if self._projection is not None:
            cmd["projection"] = self._projection
        if self._skip:
            cmd["skip"] = self._skip
        if self._hint is not None:
            cmd["hint"] = self._hint
        if self._limit:
            cmd["limit"] = abs(self._limit)
            if self._limit < 0:
                cmd["singleBatch"] = True
        batch = self._batch_size
        if self._limit and batch:
            batch = min(batch, abs(self._limit))
        if batch:
            cmd["batchSize"] = batch
        if self._comment is not None:
            cmd["comment"] = self._comment
        if self._max_time_ms is not None:
            cmd["maxTimeMS"] = self._max_time_ms
        if self._max is not None:
            cmd["max"] = self._max
        if self._min is not None:
            cmd["min"] = self._min
        if self._return_key is not None:
            cmd["returnKey"] = self._return_key
        if self._show_record_id is not None:
            cmd["showRecordId"] = self._show_record_id
        if self._allow_disk_use is not None:
            cmd["allowDiskUse"] = self._allow_disk_use
        if self._let is not None:
            cmd["let"] = self._let
        return cmd

    def _fast_batch(self, command: Dict[str, Any]) -> bool:
        """A limited find answered in one batch by the engine's raw path (documents decoded
        straight from their stored bytes); False when the engine says it is not such a find."""
        collection = self._collection
        fast_native = getattr(collection, "_fast_native", None)
        native = fast_native() if fast_native is not None else None
        if native is None:
            return False
        docs, failure = native._doc_find_batch(collection._database._name, command)
        if failure is not None:
            check_reply(failure)
        if docs is None:
            return False
        self._id = 0
        self._data.extend(docs)
        self._retrieved += len(docs)
        self._killed = True
        return True

    def _refresh(self) -> int:
        """Fetch the next batch; the number of buffered documents."""
        if len(self._data) or self._killed:
            return len(self._data)
        if self._id is None:
            command = self._find_command()
            if self._limit and self._fast_batch(command):
                return len(self._data)
            reply = self._send(command)
            self._take_cursor(reply["cursor"], "firstBatch")
            if self._limit and self._retrieved >= abs(self._limit):
                self._kill()
        elif self._id:
            batch = self._batch_size
            if self._limit:
                remaining = abs(self._limit) - self._retrieved
                if remaining <= 0:
                    self._kill()
                    return len(self._data)
                batch = min(batch, remaining) if batch else remaining
            self._get_more(batch)
            if self._limit and self._retrieved >= abs(self._limit):
                self._kill()
        else:
            self._killed = True
        return len(self._data)

    def explain(self) -> Dict[str, Any]:
        """The database's explanation of how it runs this query (``{explain: {find: ...}}``,
        the server's default verbosity, as pymongo)."""
        clone = self.clone()
        if clone._limit:
            clone._limit = -abs(clone._limit)  # pymongo: always a hard limit for explains
        reply = self._collection.database._run_command({"explain": clone._find_command()})
        return dict(reply)

    def distinct(self, key: str) -> List[Any]:
        """The distinct values of ``key`` among the documents this cursor's filter matches."""
        if not isinstance(key, str):
            raise TypeError("key must be an instance of str")
        return self._collection.distinct(key, self._spec)

    # -- iteration ------------------------------------------------------------------------

    def next(self) -> Any:
        """The next document (``StopIteration`` at the end)."""
        # (Called once per document: the buffered case is kept to one attribute read.)
        data = self._data
        if data:
            return data.popleft()
        if self._refresh():
            return self._data.popleft()
        raise StopIteration

    __next__ = next

    def try_next(self) -> Optional[Any]:
        return next(self, None)

    def __iter__(self) -> Iterator[Any]:
        return self

    def to_list(self, length: Optional[int] = None) -> List[Any]:
        """The remaining documents (at most ``length``) as a list (pymongo 4.9+)."""
        if length is not None:
            if not isinstance(length, int) or isinstance(length, bool):
                raise TypeError("to_list() length must be an integer")
            if length < 1:
                raise ValueError("to_list() length must be greater than 0")
        out: List[Any] = []
        while length is None or len(out) < length:
            if not (len(self._data) or self._refresh()):
                break
            while self._data and (length is None or len(out) < length):
                out.append(self._data.popleft())
        return out

    def __getitem__(self, index: Union[int, slice]) -> Any:
        """``cursor[5]`` (one document: ``IndexError`` if there is none) or ``cursor[2:10]``
        (sets skip and limit on this cursor and returns it)."""
        self._check_okay_to_chain()
        self._explain = False
        if isinstance(index, slice):
            if index.step is not None:
                raise IndexError("Cursor instances do not support slice steps")
            skip = 0
            if index.start is not None:
                if index.start < 0:
                    raise IndexError("Cursor instances do not support negative indices")
                skip = index.start
            if index.stop is not None:
                limit = index.stop - skip
                if limit < 0:
                    raise IndexError("stop index must be greater than start index for slice %r" % index)
            else:
                limit = 0
            self._skip = skip
            self._limit = limit
            if limit == 0 and index.stop is not None:
                self._killed = True  # an empty slice: nothing to fetch
                self._id = 0
            return self
        if isinstance(index, int) and not isinstance(index, bool):
            if index < 0:
                raise IndexError("Cursor instances do not support negative indices")
            clone = self.clone()
            clone.skip(index + self._skip)
            clone.limit(-1)
            for doc in clone:
                return doc
            raise IndexError("no such item for Cursor instance")
        raise TypeError("index %r cannot be applied to Cursor instances" % index)

    def __enter__(self) -> "Cursor":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class CommandCursor(_CursorBase):
    """A cursor over a command's result (``aggregate``, ``list_collections``...)."""

    def __init__(
        self,
        collection: "Collection",
        cursor_info: Mapping[str, Any],
        address: Any = None,
        batch_size: int = 0,
        max_await_time_ms: Optional[int] = None,
        session: Any = None,
        comment: Any = None,
    ) -> None:
        self._collection = collection
        self._id = None
        self._killed = False
        self._data = deque()
        self._retrieved = 0
        self._ns_coll = collection.name
        self._batch_size = batch_size
        self._take_cursor(cursor_info, "firstBatch")

    def batch_size(self, batch_size: int) -> "CommandCursor":
        validate_non_negative_int("batch_size", batch_size)
        self._batch_size = batch_size
        return self

    @property
    def alive(self) -> bool:
        return bool(len(self._data) or (not self._killed))

    def close(self) -> None:
        self._kill()

    def _refresh(self) -> int:
        if len(self._data) or self._killed:
            return len(self._data)
        if self._id:
            self._get_more(self._batch_size)
        else:
            self._killed = True
        return len(self._data)

    def next(self) -> Any:
        if len(self._data) or self._refresh():
            return self._data.popleft()
        raise StopIteration

    __next__ = next

    def try_next(self) -> Optional[Any]:
        if len(self._data) or self._refresh():
            return self._data.popleft()
        return None

    def __iter__(self) -> Iterator[Any]:
        return self

    def to_list(self, length: Optional[int] = None) -> List[Any]:
        if length is not None:
            validate_int("length", length)
            if length < 1:
                raise ValueError("to_list() length must be greater than 0")
        out: List[Any] = []
        while length is None or len(out) < length:
            if not (len(self._data) or self._refresh()):
                break
            while self._data and (length is None or len(out) < length):
                out.append(self._data.popleft())
        return out

    def __enter__(self) -> "CommandCursor":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

