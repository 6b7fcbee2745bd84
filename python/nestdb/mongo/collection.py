"""``Collection``: pymongo's collection API (CRUD, bulk writes, aggregation) over nestdb's
document commands.

Every operation builds the MongoDB command document pymongo would send and runs it in the
embedded engine (``Database._doc_command``); replies are turned into pymongo's result objects
and exceptions. Writes go through ``_submit(command, finish)`` so that a transaction
(``nestdb.open(path).transaction()``) can queue them instead of running them at once.
"""

from __future__ import annotations

from collections import abc
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, List, Mapping, MutableMapping, Optional, Sequence, Tuple, Union

from .. import _nestdb
from .._bson import ObjectId
from ..errors import BulkWriteError, ConfigurationError, InvalidName, InvalidOperation, OperationFailure
from .common import (
    check_collection_name,
    check_reply,
    check_write_reply,
    hint_value,
    reject_collation,
    sort_document,
    validate_boolean,
    validate_is_document_type,
    validate_is_mapping,
    validate_list,
    validate_ok_for_replace,
    validate_ok_for_update,
)
from .cursor import CommandCursor, Cursor, fields_list_to_dict
from .operations import DELETE, INSERT, UPDATE, IndexModel, gen_index_name, DeleteMany, DeleteOne, InsertOne, ReplaceOne, UpdateMany, UpdateOne
from .results import BulkWriteResult, DeleteResult, InsertManyResult, InsertOneResult, UpdateResult

if TYPE_CHECKING:
    from .database import Database

__all__ = ["Collection", "ReturnDocument"]

from .common import ReturnDocument

_WriteOp = Union[InsertOne, DeleteOne, DeleteMany, ReplaceOne, UpdateOne, UpdateMany]
_COMMAND_NAMES = {INSERT: ("insert", "documents"), UPDATE: ("update", "updates"), DELETE: ("delete", "deletes")}


def _update_raw_result(reply: Mapping[str, Any]) -> Dict[str, Any]:
    """pymongo's shaping of an update reply: ``updatedExisting``, ``upserted`` as the id."""
    result = dict(reply)
    result.pop("writeErrors", None)
    if result.get("n") and "upserted" not in result:
        result["updatedExisting"] = True
    else:
        result["updatedExisting"] = False
        if "upserted" in result:
            result["upserted"] = result["upserted"][0]["_id"]
    return result


def _add_id(document: Any) -> Any:
    """Add an ``_id`` ObjectId in place when absent (as pymongo does); the id."""
    validate_is_document_type("document", document)
    if "_id" not in document:
        if not isinstance(document, abc.MutableMapping):
            raise TypeError("document must be a mutable mapping to receive an _id")
        document["_id"] = ObjectId()
    return document["_id"]


_is_dict = {dict}.__contains__  # `_is_dict(type(x))`: `map(_is_dict, map(type, docs))` runs in C


class _Run:
    """Consecutive operations of one type, sent as one command (pymongo's bulk ``_Run``)."""

    def __init__(self, op_type: int) -> None:
        self.op_type = op_type
        self.index_map: List[int] = []
        self.ops: List[Any] = []

    def add(self, original_index: int, operation: Any) -> None:
        self.index_map.append(original_index)
        self.ops.append(operation)


def _new_bulk_result() -> Dict[str, Any]:
    return {
        "writeErrors": [],
        "writeConcernErrors": [],
        "nInserted": 0,
        "nUpserted": 0,
        "nMatched": 0,
        "nModified": 0,
        "nRemoved": 0,
        "upserted": [],
    }


def _merge(run: _Run, full: Dict[str, Any], reply: Mapping[str, Any]) -> None:
    affected = int(reply.get("n", 0))
    if run.op_type == INSERT:
        full["nInserted"] += affected
    elif run.op_type == DELETE:
        full["nRemoved"] += affected
    else:
        upserted = reply.get("upserted")
        if upserted:
            for doc in upserted:
                full["upserted"].append({"index": run.index_map[doc["index"]], "_id": doc["_id"]})
            full["nUpserted"] += len(upserted)
            full["nMatched"] += affected - len(upserted)
        else:
            full["nMatched"] += affected
        full["nModified"] += int(reply.get("nModified", 0))
    for err in reply.get("writeErrors") or []:
        replacement = dict(err)
        replacement["index"] = run.index_map[err["index"]]
        replacement["op"] = run.ops[err["index"]]
        full["writeErrors"].append(replacement)


class Collection:
    """A collection of documents in a ``Database`` (``db["users"]`` / ``db.users``)."""

    def __init__(
        self,
        database: "Database",
        name: str,
        create: bool = False,
        codec_options: Any = None,
        read_preference: Any = None,
        write_concern: Any = None,
        read_concern: Any = None,
        session: Any = None,
        **kwargs: Any,
    ) -> None:
        check_collection_name(name)
        self._database = database
        self._name = name
        self._full_name = f"{database.name}.{name}"
        self._tx: Any = None
        if create or kwargs:
            database.create_collection(name, **kwargs)

    # -- identity -------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self._name

    @property
    def full_name(self) -> str:
        """``"<database>.<collection>"``."""
        return self._full_name

    @property
    def database(self) -> "Database":
        return self._database

    def __getattr__(self, name: str) -> "Collection":
        """The sub-collection ``<this>.<name>``."""
        if name.startswith("_"):
            full_name = f"{self._name}.{name}"
            raise AttributeError(
                f"Collection has no attribute {name!r}. To access the {full_name} collection, use database['{full_name}']."
            )
        return self.__getitem__(name)

    def __getitem__(self, name: str) -> "Collection":
        sub = Collection(self._database, f"{self._name}.{name}")
        sub._tx = self._tx
        return sub

    def with_options(self, codec_options: Any = None, read_preference: Any = None, write_concern: Any = None, read_concern: Any = None) -> "Collection":
        """The same collection (nestdb has one codec, read preference and write concern)."""
        other = Collection(self._database, self._name)
        other._tx = self._tx
        return other

    def __repr__(self) -> str:
        return f"Collection({self._database!r}, {self._name!r})"

    def __eq__(self, other: Any) -> bool:
        if isinstance(other, Collection):
            return self._database == other.database and self._name == other.name
        return NotImplemented

    def __ne__(self, other: Any) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return hash((self._database, self._name))

    def __bool__(self) -> bool:
        raise NotImplementedError(
            "Collection objects do not implement truth value testing or bool(). Please compare with None instead: collection is not None"
        )

    def __iter__(self) -> "Collection":
        return self

    def __next__(self) -> Any:
        raise TypeError("'Collection' object is not iterable")

    next = __next__

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if "." not in self._name:
            raise TypeError(
                f"'Collection' object is not callable. If you meant to call the '{self._name}' method on a 'Database' object it is failing because no such method exists."
            )
        raise TypeError(
            f"'Collection' object is not callable. If you meant to call the '{self._name.split('.')[-1]}' method on a 'Collection' object it is failing because no such method exists."
        )

    # -- plumbing -------------------------------------------------------------------------

    def _check_not_in_transaction(self) -> None:
        if self._tx is not None:
            raise InvalidOperation(
                "reads are not queued in a nestdb transaction: read through a collection outside the transaction, before or after it"
            )

    def _fast_native(self) -> Any:
        """The native database when the direct (no command document) paths apply: outside a
        transaction, with the default codec options (plain dicts, naive datetimes), while the
        client is open (`MongoClient._fast`)."""
        if self._tx is not None:
            return None
        return self._database._client._fast

    def _read(self, command: Dict[str, Any]) -> Mapping[str, Any]:
        self._check_not_in_transaction()
        return self._database._run_command(command)

    def _submit(self, command: Dict[str, Any], finish: Callable[[Mapping[str, Any]], Any]) -> Any:
        """Run a write command and shape its reply with ``finish`` (or queue both in a
        transaction; ``finish``'s value then lands in the transaction's results)."""
        if self._tx is not None:
            self._tx._queue_doc(self._database.name, command, finish)
            return None
        return finish(self._database._run_command_unchecked(command))

    @staticmethod
    def _options(command: Dict[str, Any], **options: Any) -> Dict[str, Any]:
        for key, value in options.items():
            if value is not None:
                command[key] = value
        return command

    # -- inserts --------------------------------------------------------------------------

    def insert_one(self, document: Any, bypass_document_validation: Optional[bool] = None, session: Any = None, comment: Any = None) -> InsertOneResult:
        """Insert one document (``_id`` added in place when absent)."""
        validate_is_document_type("document", document)
        native = self._fast_native() if comment is None and bypass_document_validation is None else None
        if native is not None:
            n, errors, failure = native._doc_insert_many(self._database.name, self._name, [document], True)
            check_write_reply(failure if failure is not None else ({"n": n, "ok": 1.0, "writeErrors": errors} if errors else {"n": n, "ok": 1.0}))
            return InsertOneResult(document["_id"], True)
        inserted_id = _add_id(document)
        command = self._options({"insert": self._name, "documents": [document], "ordered": True}, comment=comment, bypassDocumentValidation=bypass_document_validation)

        def finish(reply: Mapping[str, Any]) -> InsertOneResult:
            check_write_reply(reply)
            return InsertOneResult(inserted_id, True)

        return self._submit(command, finish)  # type: ignore[no-any-return]

    def insert_many(
        self,
        documents: Iterable[Any],
        ordered: bool = True,
        bypass_document_validation: Optional[bool] = None,
        session: Any = None,
        comment: Any = None,
    ) -> InsertManyResult:
        """Insert documents (``_id`` added in place when absent); ``BulkWriteError`` with the
        partial result when one fails."""
        if not isinstance(documents, abc.Iterable) or isinstance(documents, abc.Mapping) or not documents:
            raise TypeError("documents must be a non-empty list")
        docs = list(documents)
        if not docs:
            raise TypeError("documents must be a non-empty list")
        validate_boolean("ordered", ordered)
        native = self._fast_native() if comment is None and bypass_document_validation is None else None
        if native is not None:
            # Plain dicts (the usual case) are checked in one C-level pass; anything else one by one.
            if not all(map(_is_dict, map(type, docs))):
                for doc in docs:
                    validate_is_document_type("document", doc)
            n, errors, failure = native._doc_insert_many(self._database.name, self._name, docs, ordered)
            inserted_ids = [doc["_id"] for doc in docs]
        else:
            inserted_ids = [_add_id(doc) for doc in docs]

        def finish(reply: Mapping[str, Any]) -> InsertManyResult:
            check_reply(reply)
            if reply.get("writeErrors"):
                run = _Run(INSERT)
                run.index_map = list(range(len(docs)))
                run.ops = docs
                full = _new_bulk_result()
                _merge(run, full, reply)
                raise BulkWriteError(full)
            return InsertManyResult(inserted_ids, True)

        if native is not None:
            return finish(failure if failure is not None else ({"n": n, "ok": 1.0, "writeErrors": errors} if errors else {"n": n, "ok": 1.0}))
        command = self._options({"insert": self._name, "documents": docs, "ordered": ordered}, comment=comment, bypassDocumentValidation=bypass_document_validation)

        return self._submit(command, finish)  # type: ignore[no-any-return]

    # -- updates --------------------------------------------------------------------------

    def _update(
        self,
        filter: Mapping[str, Any],
        document: Any,
        upsert: bool,
        multi: bool,
        replace: bool,
        array_filters: Optional[List[Mapping[str, Any]]],
        hint: Any,
        collation: Any,
        let: Optional[Mapping[str, Any]],
        sort: Any,
        comment: Any,
        bypass_document_validation: Optional[bool],
    ) -> UpdateResult:
        validate_is_mapping("filter", filter)
        validate_boolean("upsert", upsert)
        if replace:
            validate_ok_for_replace(document)
        else:
            validate_ok_for_update(document)
        reject_collation(collation)
        if array_filters is not None:
            validate_list("array_filters", array_filters)
        if let is not None:
            validate_is_mapping("let", let)
        if hint is None and sort is None and let is None and comment is None and bypass_document_validation is None:
            native = self._fast_native()
            if native is not None:
                raw, failure = native._doc_update(self._database.name, self._name, filter, document, upsert, multi, array_filters)
                if failure is not None:
                    check_write_reply(failure)
                return UpdateResult(raw, True)
        op: Dict[str, Any] = {"q": filter, "u": document, "multi": multi, "upsert": upsert}
        if array_filters is not None:
            op["arrayFilters"] = array_filters
        if hint is not None:
            op["hint"] = hint_value(hint)
        if sort is not None:
            op["sort"] = sort_document(sort)
        command = self._options({"update": self._name, "updates": [op], "ordered": True}, let=let, comment=comment, bypassDocumentValidation=bypass_document_validation)

        def finish(reply: Mapping[str, Any]) -> UpdateResult:
            check_write_reply(reply)
            return UpdateResult(_update_raw_result(reply), True)

        return self._submit(command, finish)  # type: ignore[no-any-return]

    def update_one(
        self,
        filter: Mapping[str, Any],
        update: Any,
        upsert: bool = False,
        bypass_document_validation: Optional[bool] = None,
        collation: Any = None,
        array_filters: Optional[List[Mapping[str, Any]]] = None,
        hint: Any = None,
        session: Any = None,
        let: Optional[Mapping[str, Any]] = None,
        sort: Any = None,
        comment: Any = None,
    ) -> UpdateResult:
        """Update the first matching document with ``$`` operators (or a pipeline)."""
        if (
            type(filter) is dict
            and type(update) is dict
            and update
            and type(upsert) is bool
            and collation is None
            and array_filters is None
            and hint is None
            and let is None
            and sort is None
            and comment is None
            and bypass_document_validation is None
        ):
            first = next(iter(update))
            # (`_fast_native()` inlined: this is the hottest write path.)
            native = self._database._client._fast if self._tx is None and type(first) is str and first.startswith("$") else None
            if native is not None:
                raw, failure = native._doc_update(self._database._name, self._name, filter, update, upsert, False, None)
                if failure is not None:
                    check_write_reply(failure)
                return UpdateResult(raw, True)
        return self._update(filter, update, upsert, False, False, array_filters, hint, collation, let, sort, comment, bypass_document_validation)

    def update_many(
        self,
        filter: Mapping[str, Any],
        update: Any,
        upsert: bool = False,
        array_filters: Optional[List[Mapping[str, Any]]] = None,
        bypass_document_validation: Optional[bool] = None,
        collation: Any = None,
        hint: Any = None,
        session: Any = None,
        let: Optional[Mapping[str, Any]] = None,
        comment: Any = None,
    ) -> UpdateResult:
        """Update every matching document."""
        return self._update(filter, update, upsert, True, False, array_filters, hint, collation, let, None, comment, bypass_document_validation)

    def replace_one(
        self,
        filter: Mapping[str, Any],
        replacement: Mapping[str, Any],
        upsert: bool = False,
        bypass_document_validation: Optional[bool] = None,
        collation: Any = None,
        hint: Any = None,
        session: Any = None,
        let: Optional[Mapping[str, Any]] = None,
        sort: Any = None,
        comment: Any = None,
    ) -> UpdateResult:
        """Replace the first matching document (its ``_id`` is kept)."""
        return self._update(filter, replacement, upsert, False, True, None, hint, collation, let, sort, comment, bypass_document_validation)

    # -- deletes --------------------------------------------------------------------------

    def _delete(self, filter: Mapping[str, Any], limit: int, collation: Any, hint: Any, let: Any, comment: Any) -> DeleteResult:
        validate_is_mapping("filter", filter)
        reject_collation(collation)
        if let is not None:
            validate_is_mapping("let", let)
        op: Dict[str, Any] = {"q": filter, "limit": limit}
        if hint is not None:
            op["hint"] = hint_value(hint)
        command = self._options({"delete": self._name, "deletes": [op], "ordered": True}, let=let, comment=comment)

        def finish(reply: Mapping[str, Any]) -> DeleteResult:
            check_write_reply(reply)
            raw = dict(reply)
            return DeleteResult(raw, True)

        return self._submit(command, finish)  # type: ignore[no-any-return]

    def delete_one(self, filter: Mapping[str, Any], collation: Any = None, hint: Any = None, session: Any = None, let: Optional[Mapping[str, Any]] = None, comment: Any = None) -> DeleteResult:
        """Delete the first matching document."""
        return self._delete(filter, 1, collation, hint, let, comment)

    def delete_many(self, filter: Mapping[str, Any], collation: Any = None, hint: Any = None, session: Any = None, let: Optional[Mapping[str, Any]] = None, comment: Any = None) -> DeleteResult:
        """Delete every matching document."""
        return self._delete(filter, 0, collation, hint, let, comment)

    # -- bulk -----------------------------------------------------------------------------

    def bulk_write(
        self,
        requests: Sequence[_WriteOp],
        ordered: bool = True,
        bypass_document_validation: Optional[bool] = None,
        session: Any = None,
        comment: Any = None,
        let: Optional[Mapping[str, Any]] = None,
    ) -> BulkWriteResult:
        """Run ``InsertOne``/``UpdateOne``/``UpdateMany``/``ReplaceOne``/``DeleteOne``/
        ``DeleteMany`` requests: ordered (stop at the first error) or not (run them all);
        ``BulkWriteError`` carries the partial result."""
        validate_list("requests", requests)
        validate_boolean("ordered", ordered)
        if let is not None:
            validate_is_mapping("let", let)
        ops: List[Tuple[int, Any]] = []
        for request in requests:
            to_op = getattr(request, "_to_op", None)
            if to_op is None:
                raise TypeError(f"{request!r} is not a valid request")
            op_type, op = to_op()
            if op_type == INSERT:
                _add_id(op)
            ops.append((op_type, op))
        if not ops:
            raise InvalidOperation("No operations to execute")
        if self._tx is not None:
            if len({t for t, _ in ops}) != 1:
                raise InvalidOperation("in a nestdb transaction, bulk_write takes requests of one kind (inserts, updates or deletes)")
        runs: List[_Run] = []
        if ordered:
            for i, (op_type, op) in enumerate(ops):
                if not runs or runs[-1].op_type != op_type:
                    runs.append(_Run(op_type))
                runs[-1].add(i, op)
        else:
            by_type: Dict[int, _Run] = {}
            for i, (op_type, op) in enumerate(ops):
                by_type.setdefault(op_type, _Run(op_type)).add(i, op)
            runs = [by_type[t] for t in (INSERT, UPDATE, DELETE) if t in by_type]

        def command_for(run: _Run) -> Dict[str, Any]:
            name, field = _COMMAND_NAMES[run.op_type]
            cmd: Dict[str, Any] = {name: self._name, field: run.ops, "ordered": ordered}
            return self._options(cmd, let=let if run.op_type != INSERT else None, comment=comment, bypassDocumentValidation=bypass_document_validation)

        if self._tx is not None:
            run = runs[0]

            def finish_tx(reply: Mapping[str, Any]) -> BulkWriteResult:
                check_reply(reply)
                full = _new_bulk_result()
                _merge(run, full, reply)
                if full["writeErrors"]:
                    raise BulkWriteError(full)
                return BulkWriteResult(full, True)

            return self._submit(command_for(run), finish_tx)  # type: ignore[no-any-return]

        full = _new_bulk_result()
        for run in runs:
            reply = self._database._run_command_unchecked(command_for(run))
            check_reply(reply)
            _merge(run, full, reply)
            if ordered and full["writeErrors"]:
                break
        if full["writeErrors"]:
            full["writeErrors"].sort(key=lambda e: e["index"])
            raise BulkWriteError(full)
        return BulkWriteResult(full, True)

    # -- reads ----------------------------------------------------------------------------

    def find(self, *args: Any, **kwargs: Any) -> Cursor:
        """A ``Cursor`` over the documents matching ``filter`` (same arguments as pymongo)."""
        self._check_not_in_transaction()
        return Cursor(self, *args, **kwargs)

    def find_one(self, filter: Optional[Any] = None, *args: Any, **kwargs: Any) -> Optional[Any]:
        """The first matching document, or None; a non-mapping ``filter`` means ``{"_id": filter}``."""
        if filter is not None and type(filter) is not dict and not isinstance(filter, abc.Mapping):
            filter = {"_id": filter}
        if not args and not kwargs:
            # (`_fast_native()` inlined: this is the hottest read path.)
            native = self._database._client._fast if self._tx is None else None
            if native is not None:
                doc, failure = native._doc_find_one(self._database._name, self._name, {} if filter is None else filter)
                if failure is not None:
                    check_reply(failure)
                return doc
        cursor = self.find(filter, *args, **kwargs)
        for result in cursor.limit(-1):
            return result
        return None

    def count_documents(self, filter: Mapping[str, Any], session: Any = None, comment: Any = None, **kwargs: Any) -> int:
        """The number of documents matching ``filter`` (``skip``, ``limit``, ``hint``,
        ``maxTimeMS`` accepted)."""
        validate_is_mapping("filter", filter)
        reject_collation(kwargs.pop("collation", None))
        command: Dict[str, Any] = {"count": self._name, "query": filter}
        if "skip" in kwargs:
            command["skip"] = kwargs.pop("skip")
        if "limit" in kwargs:
            command["limit"] = kwargs.pop("limit")
        if kwargs.get("hint") is not None:
            command["hint"] = hint_value(kwargs.pop("hint"))
        kwargs.pop("hint", None)
        if "max_time_ms" in kwargs:
            kwargs["maxTimeMS"] = kwargs.pop("max_time_ms")
        if comment is not None:
            command["comment"] = comment
        command.update(kwargs)
        return int(self._read(command).get("n", 0))

    def estimated_document_count(self, comment: Any = None, **kwargs: Any) -> int:
        """The number of documents in the collection."""
        if "session" in kwargs:
            raise ConfigurationError("estimated_document_count does not support sessions")
        command: Dict[str, Any] = {"count": self._name}
        if comment is not None:
            command["comment"] = comment
        if "max_time_ms" in kwargs:
            kwargs["maxTimeMS"] = kwargs.pop("max_time_ms")
        command.update(kwargs)
        return int(self._read(command).get("n", 0))

    def distinct(self, key: str, filter: Optional[Mapping[str, Any]] = None, session: Any = None, comment: Any = None, hint: Any = None, **kwargs: Any) -> List[Any]:
        """The distinct values of ``key`` (array elements counted separately)."""
        if not isinstance(key, str):
            raise TypeError(f"key must be an instance of str, not {type(key)}")
        reject_collation(kwargs.pop("collation", None))
        command: Dict[str, Any] = {"distinct": self._name, "key": key}
        if filter is not None:
            if "query" in kwargs:
                raise ConfigurationError("can't pass both filter and query")
            kwargs["query"] = filter
        if hint is not None:
            command["hint"] = hint_value(hint)
        if comment is not None:
            command["comment"] = comment
        if "max_time_ms" in kwargs:
            kwargs["maxTimeMS"] = kwargs.pop("max_time_ms")
        command.update(kwargs)
        values = list(self._read(command).get("values", []))
        decode = self._database.client._decode_document
        return decode(values) if decode is not None else values

    def aggregate(self, pipeline: List[Mapping[str, Any]], session: Any = None, let: Optional[Mapping[str, Any]] = None, comment: Any = None, **kwargs: Any) -> CommandCursor:
        """Run an aggregation pipeline; a ``CommandCursor`` over its output."""
        if not isinstance(pipeline, list):
            raise TypeError("pipeline must be a list")
        for stage in pipeline:
            validate_is_mapping("pipeline stage", stage)
        reject_collation(kwargs.pop("collation", None))
        command: Dict[str, Any] = {"aggregate": self._name, "pipeline": pipeline}
        cursor_opts: Dict[str, Any] = {}
        batch_size = kwargs.pop("batchSize", kwargs.pop("batch_size", None))
        if batch_size is not None:
            cursor_opts["batchSize"] = batch_size
        command["cursor"] = cursor_opts
        if "max_time_ms" in kwargs:
            kwargs["maxTimeMS"] = kwargs.pop("max_time_ms")
        if "allow_disk_use" in kwargs:
            kwargs["allowDiskUse"] = kwargs.pop("allow_disk_use")
        if kwargs.get("hint") is not None:
            kwargs["hint"] = hint_value(kwargs["hint"])
        if let is not None:
            validate_is_mapping("let", let)
            command["let"] = let
        if comment is not None:
            command["comment"] = comment
        command.update(kwargs)
        reply = self._read(command)
        return CommandCursor(self, reply["cursor"], batch_size=batch_size or 0)

    # -- find-and-modify ------------------------------------------------------------------

    def _find_and_modify(
        self,
        filter: Mapping[str, Any],
        projection: Any,
        sort: Any,
        upsert: Optional[bool] = None,
        return_document: bool = ReturnDocument.BEFORE,
        array_filters: Optional[List[Mapping[str, Any]]] = None,
        hint: Any = None,
        let: Optional[Mapping[str, Any]] = None,
        comment: Any = None,
        **kwargs: Any,
    ) -> Any:
        validate_is_mapping("filter", filter)
        if not isinstance(return_document, bool):
            raise ValueError("return_document must be ReturnDocument.BEFORE or ReturnDocument.AFTER")
        reject_collation(kwargs.pop("collation", None))
        command: Dict[str, Any] = {"findAndModify": self._name, "query": filter, "new": return_document}
        if let is not None:
            validate_is_mapping("let", let)
            command["let"] = let
        if "max_time_ms" in kwargs:
            kwargs["maxTimeMS"] = kwargs.pop("max_time_ms")
        command.update(kwargs)
        if projection is not None:
            command["fields"] = fields_list_to_dict(projection, "projection")
        if sort is not None:
            command["sort"] = sort_document(sort)
        if upsert is not None:
            validate_boolean("upsert", upsert)
            command["upsert"] = upsert
        if array_filters is not None:
            validate_list("array_filters", array_filters)
            command["arrayFilters"] = array_filters
        if hint is not None:
            command["hint"] = hint_value(hint)
        if comment is not None:
            command["comment"] = comment
        decode = self._database.client._decode_document

        def finish(reply: Mapping[str, Any]) -> Any:
            check_write_reply(reply)
            value = reply.get("value")
            if value is not None and decode is not None:
                value = decode(value)
            return value

        return self._submit(command, finish)

    def find_one_and_delete(
        self, filter: Mapping[str, Any], projection: Any = None, sort: Any = None, hint: Any = None, session: Any = None, let: Optional[Mapping[str, Any]] = None, comment: Any = None, **kwargs: Any
    ) -> Any:
        """Delete the first matching document (in ``sort`` order) and return it."""
        kwargs["remove"] = True
        return self._find_and_modify(filter, projection, sort, let=let, hint=hint, comment=comment, **kwargs)

    def find_one_and_replace(
        self,
        filter: Mapping[str, Any],
        replacement: Mapping[str, Any],
        projection: Any = None,
        sort: Any = None,
        upsert: bool = False,
        return_document: bool = ReturnDocument.BEFORE,
        hint: Any = None,
        session: Any = None,
        let: Optional[Mapping[str, Any]] = None,
        comment: Any = None,
        **kwargs: Any,
    ) -> Any:
        """Replace the first matching document; the document before (default) or after."""
        validate_ok_for_replace(replacement)
        kwargs["update"] = replacement
        return self._find_and_modify(filter, projection, sort, upsert, return_document, let=let, hint=hint, comment=comment, **kwargs)

    def find_one_and_update(
        self,
        filter: Mapping[str, Any],
        update: Any,
        projection: Any = None,
        sort: Any = None,
        upsert: bool = False,
        return_document: bool = ReturnDocument.BEFORE,
        array_filters: Optional[List[Mapping[str, Any]]] = None,
        hint: Any = None,
        session: Any = None,
        let: Optional[Mapping[str, Any]] = None,
        comment: Any = None,
        **kwargs: Any,
    ) -> Any:
        """Update the first matching document; the document before (default) or after."""
        validate_ok_for_update(update)
        kwargs["update"] = update
        return self._find_and_modify(filter, projection, sort, upsert, return_document, array_filters, hint=hint, let=let, comment=comment, **kwargs)

    # -- collection level -----------------------------------------------------------------

    def drop(self, session: Any = None, comment: Any = None, encrypted_fields: Any = None) -> None:
        """Drop this collection (no error if it does not exist)."""
        if self._tx is not None:
            command: Dict[str, Any] = {"drop": self._name}
            if comment is not None:
                command["comment"] = comment

            def finish(reply: Mapping[str, Any]) -> None:
                if not reply.get("ok") and reply.get("code") == 26:
                    return None
                check_reply(reply)
                return None

            self._submit(command, finish)
            return
        self._database.drop_collection(self._name, comment=comment)

    def rename(self, new_name: str, session: Any = None, comment: Any = None, **kwargs: Any) -> Mapping[str, Any]:
        """Rename to ``new_name`` in the same database (``dropTarget=True`` replaces an existing
        target)."""
        if not isinstance(new_name, str):
            raise TypeError(f"new_name must be an instance of str, not {type(new_name)}")
        if not new_name or ".." in new_name:
            raise InvalidName("collection names cannot be empty")
        if new_name[0] == "." or new_name[-1] == ".":
            raise InvalidName("collection names must not start or end with '.'")
        if "$" in new_name and not new_name.startswith("oplog.$main"):
            raise InvalidName("collection names must not contain '$'")
        command: Dict[str, Any] = {"renameCollection": self._full_name, "to": f"{self._database.name}.{new_name}"}
        if comment is not None:
            command["comment"] = comment
        command.update(kwargs)
        if self._tx is not None:
            self._tx._queue_doc("admin", command, check_reply)
            return None  # type: ignore[return-value]
        return self._database.client._admin_command(command)

    # -- indexes --------------------------------------------------------------------------

    def create_indexes(self, indexes: List[IndexModel], session: Any = None, comment: Any = None, **kwargs: Any) -> List[str]:
        """Create several indexes (``createIndexes``); their names."""
        self._check_not_in_transaction()
        validate_list("indexes", indexes)
        documents = []
        for index in indexes:
            if not isinstance(index, IndexModel):
                raise TypeError(f"{index!r} is not an instance of pymongo.operations.IndexModel")
            documents.append(index.document)
        command: Dict[str, Any] = {"createIndexes": self._name, "indexes": documents}
        if comment is not None:
            command["comment"] = comment
        if "max_time_ms" in kwargs:
            kwargs["maxTimeMS"] = kwargs.pop("max_time_ms")
        command.update(kwargs)
        self._database._run_command(command)
        return [doc["name"] for doc in documents]

    def create_index(self, keys: Any, session: Any = None, comment: Any = None, **kwargs: Any) -> str:
        """Create an index on ``keys`` (``"email"``, ``[("a", 1), ("b", -1)]``...) with options
        such as ``unique=True``; its name."""
        cmd_options = {}
        if "maxTimeMS" in kwargs:
            cmd_options["maxTimeMS"] = kwargs.pop("maxTimeMS")
        if "max_time_ms" in kwargs:
            cmd_options["maxTimeMS"] = kwargs.pop("max_time_ms")
        index = IndexModel(keys, **kwargs)
        return self.create_indexes([index], comment=comment, **cmd_options)[0]

    def list_indexes(self, session: Any = None, comment: Any = None) -> CommandCursor:
        """A cursor over the index documents (``listIndexes``)."""
        self._check_not_in_transaction()
        command: Dict[str, Any] = {"listIndexes": self._name, "cursor": {}}
        if comment is not None:
            command["comment"] = comment
        try:
            reply = self._read(command)
        except OperationFailure as exc:
            # pymongo: a collection that does not exist has no indexes (not an error).
            if exc.code != 26:
                raise
            reply = {"cursor": {"id": 0, "ns": f"{self._database.name}.{self._name}", "firstBatch": []}}
        return CommandCursor(self, reply["cursor"])

    def index_information(self, session: Any = None, comment: Any = None) -> Dict[str, Any]:
        """``{name: {"key": [(field, direction)...], ...options}}`` for every index."""
        info: Dict[str, Any] = {}
        for index in self.list_indexes(comment=comment):
            index = dict(index)
            index["key"] = list(index["key"].items())
            info[index.pop("name")] = index
        return info

    def drop_index(self, index_or_name: Any, session: Any = None, comment: Any = None, **kwargs: Any) -> None:
        """Drop an index given by name or by its keys."""
        self._check_not_in_transaction()
        name = index_or_name
        if isinstance(index_or_name, list):
            name = gen_index_name(index_or_name)
        if not isinstance(name, str):
            raise TypeError("index_or_name must be an instance of str or list")
        command: Dict[str, Any] = {"dropIndexes": self._name, "index": name}
        if comment is not None:
            command["comment"] = comment
        command.update(kwargs)
        self._database._run_command(command)

    def drop_indexes(self, session: Any = None, comment: Any = None, **kwargs: Any) -> None:
        """Drop every index but ``_id_``."""
        self.drop_index("*", comment=comment, **kwargs)

    def options(self, session: Any = None, comment: Any = None) -> Dict[str, Any]:
        """The options this collection was created with."""
        for info in self._database.list_collections(filter={"name": self._name}):
            options = dict(info.get("options", {}))
            return options
        return {}

