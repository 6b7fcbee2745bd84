"""``Database``: pymongo's database API (collections, ``command``) for nestdb's
``MongoClient``. Not to be confused with ``nestdb.Database`` (the opened file)."""

from __future__ import annotations

from collections import abc
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Union

from ..errors import CollectionInvalid, InvalidOperation
from .common import check_database_name, check_reply, reject_collation, validate_is_mapping
from .collection import Collection
from .cursor import CommandCursor

if TYPE_CHECKING:
    from .client import MongoClient

__all__ = ["Database"]


class Database:
    """A MongoDB-style database inside a nestdb file (``client["shop"]`` / ``client.shop``)."""

    def __init__(self, client: "MongoClient", name: str, codec_options: Any = None, read_preference: Any = None, write_concern: Any = None, read_concern: Any = None) -> None:
        check_database_name(name)
        self._client = client
        self._name = name

    @property
    def name(self) -> str:
        return self._name

    @property
    def client(self) -> "MongoClient":
        return self._client

    # -- plumbing -------------------------------------------------------------------------

    def _run_command_unchecked(self, command: Mapping[str, Any]) -> Mapping[str, Any]:
        return self._client._run(self._name, command)

    def _run_command(self, command: Mapping[str, Any]) -> Mapping[str, Any]:
        return check_reply(self._client._run(self._name, command))

    # -- collections ----------------------------------------------------------------------

    def __getattr__(self, name: str) -> Collection:
        if name.startswith("_"):
            raise AttributeError(
                f"Database has no attribute {name!r}. To access the {name} collection, use database[{name!r}]."
            )
        return self.__getitem__(name)

    def __getitem__(self, name: str) -> Collection:
        return Collection(self, name)

    def get_collection(self, name: str, codec_options: Any = None, read_preference: Any = None, write_concern: Any = None, read_concern: Any = None) -> Collection:
        """The collection ``name`` (created on its first write)."""
        return Collection(self, name)

    def with_options(self, codec_options: Any = None, read_preference: Any = None, write_concern: Any = None, read_concern: Any = None) -> "Database":
        return Database(self._client, self._name)

    def list_collections(self, session: Any = None, filter: Optional[Mapping[str, Any]] = None, comment: Any = None, **kwargs: Any) -> CommandCursor:
        """A cursor over ``{name, type, options, info, idIndex}`` documents, one per collection."""
        command: Dict[str, Any] = {"listCollections": 1, "cursor": {}}
        if filter is not None:
            validate_is_mapping("filter", filter)
            command["filter"] = filter
        if comment is not None:
            command["comment"] = comment
        command.update(kwargs)
        reply = self._run_command(command)
        return CommandCursor(Collection(self, "$cmd.listCollections"), reply["cursor"])

    def list_collection_names(self, session: Any = None, filter: Optional[Mapping[str, Any]] = None, comment: Any = None, **kwargs: Any) -> List[str]:
        """The names of the collections (optionally those matching ``filter``)."""
        if filter is None:
            kwargs["nameOnly"] = True
        else:
            validate_is_mapping("filter", filter)
            # nameOnly works only with name filters
            if not filter or (len(filter) == 1 and "name" in filter):
                kwargs["nameOnly"] = True
        return [result["name"] for result in self.list_collections(session=session, filter=filter, comment=comment, **kwargs)]

    def create_collection(self, name: str, codec_options: Any = None, read_preference: Any = None, write_concern: Any = None, read_concern: Any = None, session: Any = None, check_exists: Optional[bool] = True, **kwargs: Any) -> Collection:
        """Create the collection ``name``; ``CollectionInvalid`` if it exists."""
        collection = Collection(self, name)
        reject_collation(kwargs.pop("collation", None))
        if check_exists and name in self.list_collection_names(filter={"name": name}):
            raise CollectionInvalid(f"collection {name} already exists")
        command: Dict[str, Any] = {"create": name}
        command.update(kwargs)
        self._run_command(command)  # with check_exists=False an existing one fails (code 48), as pymongo
        return collection

    def drop_collection(self, name_or_collection: Union[str, Collection], session: Any = None, comment: Any = None, encrypted_fields: Any = None) -> Dict[str, Any]:
        """Drop a collection (no error if it does not exist); the reply document."""
        name = name_or_collection
        if isinstance(name, Collection):
            name = name.name
        if not isinstance(name, str):
            raise TypeError("name_or_collection must be an instance of str or Collection")
        command: Dict[str, Any] = {"drop": name}
        if comment is not None:
            command["comment"] = comment
        reply = dict(self._run_command_unchecked(command))
        if not reply.get("ok") and (reply.get("code") == 26 or reply.get("errmsg") == "ns not found"):
            return reply
        check_reply(reply)
        return reply

    # -- commands -------------------------------------------------------------------------

    def command(
        self,
        command: Union[str, Mapping[str, Any]],
        value: Any = 1,
        check: bool = True,
        allowable_errors: Optional[List[Union[str, int]]] = None,
        read_preference: Any = None,
        codec_options: Any = None,
        session: Any = None,
        comment: Any = None,
        **kwargs: Any,
    ) -> Dict[str, Any]:
        """Run a database command: ``command("ping")``, ``command("count", "users")``,
        ``command({"count": "users", "query": {...}})``; the reply document."""
        if isinstance(command, str):
            spec: Dict[str, Any] = {command: value}
        elif isinstance(command, abc.Mapping):
            spec = dict(command)
        else:
            raise TypeError(f"command must be an instance of str or Mapping, not {type(command)}")
        if comment is not None:
            spec["comment"] = comment
        spec.update(kwargs)
        reply = dict(self._run_command_unchecked(spec))
        if check and not reply.get("ok"):
            allowed = allowable_errors or []
            if reply.get("errmsg") in allowed or reply.get("code") in allowed:
                return reply
            check_reply(reply)
        decode = self._client._decode_document
        return decode(reply) if decode is not None else reply

    def cursor_command(
        self,
        command: Union[str, Mapping[str, Any]],
        value: Any = 1,
        read_preference: Any = None,
        codec_options: Any = None,
        session: Any = None,
        comment: Any = None,
        max_await_time_ms: Optional[int] = None,
        **kwargs: Any,
    ) -> CommandCursor:
        """Run a command whose reply holds a cursor (``find``, ``aggregate``,
        ``listCollections``...) and iterate it with a ``CommandCursor``."""
        if isinstance(command, str):
            spec: Dict[str, Any] = {command: value}
        elif isinstance(command, abc.Mapping):
            spec = dict(command)
        else:
            raise TypeError(f"command must be an instance of str or Mapping, not {type(command)}")
        if comment is not None:
            spec["comment"] = comment
        spec.update(kwargs)
        reply = self._run_command(spec)
        cursor = reply.get("cursor")
        if not isinstance(cursor, abc.Mapping):
            raise InvalidOperation("Command does not return a cursor.")
        ns = cursor.get("ns", "")
        coll = ns.split(".", 1)[1] if isinstance(ns, str) and "." in ns else "$cmd"
        return CommandCursor(Collection(self, coll), cursor)

    def aggregate(self, pipeline: List[Mapping[str, Any]], session: Any = None, **kwargs: Any) -> CommandCursor:
        """A database-level aggregation (``{aggregate: 1}``: ``$documents``...)."""
        if not isinstance(pipeline, list):
            raise TypeError("pipeline must be a list")
        reject_collation(kwargs.pop("collation", None))
        command: Dict[str, Any] = {"aggregate": 1, "pipeline": pipeline, "cursor": {}}
        batch_size = kwargs.pop("batchSize", None)
        if batch_size is not None:
            command["cursor"] = {"batchSize": batch_size}
        command.update(kwargs)
        reply = self._run_command(command)
        return CommandCursor(Collection(self, "$cmd.aggregate"), reply["cursor"], batch_size=batch_size or 0)

    def dereference(self, dbref: Any, session: Any = None, comment: Any = None, **kwargs: Any) -> Any:
        """The document a ``DBRef`` (anything with ``collection``, ``id``, ``database``) points to."""
        database = getattr(dbref, "database", None)
        if database is not None and database != self._name:
            raise ValueError(f"trying to dereference a DBRef that points to another database ({database!r} not {self._name!r})")
        return self[dbref.collection].find_one({"_id": dbref.id}, comment=comment, **kwargs)

    # -- identity -------------------------------------------------------------------------

    def __repr__(self) -> str:
        return f"Database({self._client!r}, {self._name!r})"

    def __eq__(self, other: Any) -> bool:
        if isinstance(other, Database):
            return self._client == other.client and self._name == other.name
        return NotImplemented

    def __ne__(self, other: Any) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return hash((self._client, self._name))

    def __bool__(self) -> bool:
        raise NotImplementedError(
            "Database objects do not implement truth value testing or bool(). Please compare with None instead: database is not None"
        )

    def __iter__(self) -> "Database":
        return self

    def __next__(self) -> Any:
        raise TypeError("'Database' object is not iterable")

    next = __next__

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(
            f"'Database' object is not callable. If you meant to call the '{self._name}' method on a 'MongoClient' object it is failing because no such method exists."
        )
