"""``MongoClient``: pymongo's client API on an embedded nestdb database (no server).

``MongoClient()`` is a private in-memory database; ``MongoClient(path)`` opens (or creates) a
nestdb database directory, the same files ``nestdb.Redis(path)`` and ``nestdb.open(path)``
use. Keyword arguments are pymongo's client options (accepted; ``tz_aware`` and
``document_class`` take effect, the network ones have nothing to act on) or nestdb config
parameters (``appendfsync="always"``...); anything else raises ``ConfigurationError`` as
pymongo does for an unknown option.
"""

from __future__ import annotations

import datetime
import os
import threading
from typing import Any, Callable, Dict, FrozenSet, List, Mapping, Optional, Set, Type, Union

from .. import _nestdb
from ..errors import ConfigurationError, InvalidOperation
from .common import check_database_name, check_reply, to_aware
from .cursor import CommandCursor
from .database import Database
from .session import ClientSession, SessionOptions

__all__ = ["MongoClient"]

# pymongo's client options (lower case), accepted for compatibility.
_PYMONGO_OPTIONS = {
    "host", "port", "document_class", "tz_aware", "connect", "type_registry", "datetime_conversion",
    "directconnection", "maxpoolsize", "minpoolsize", "maxidletimems", "maxconnecting", "sockettimeoutms",
    "connecttimeoutms", "serverselectiontimeoutms", "waitqueuetimeoutms", "heartbeatfrequencyms", "appname",
    "driver", "server_api", "retrywrites", "retryreads", "compressors", "zlibcompressionlevel", "uuidrepresentation",
    "unicode_decode_error_handler", "tzinfo", "w", "wtimeoutms", "journal", "fsync", "replicaset",
    "readpreference", "readpreferencetags", "maxstalenessseconds", "localthresholdms", "readconcernlevel",
    "username", "password", "authsource", "authmechanism", "authmechanismproperties", "tls", "ssl",
    "tlscafile", "tlscertificatekeyfile", "tlsallowinvalidcertificates", "tlsallowinvalidhostnames",
    "tlsinsecure", "event_listeners", "timeoutms", "srvservicename", "srvmaxhosts", "loadbalanced",
    "auto_encryption_opts", "pool_class", "monitor_class", "condition_class", "servermonitoringmode",
}


def _native_config_names() -> Set[str]:
    return {p.replace("-", "_") for p in _nestdb.config_parameters()}


class MongoClient:
    """pymongo's ``MongoClient`` on an embedded database: ``MongoClient(path=None, **kwargs)``.

    ``client["shop"]`` / ``client.shop`` give a ``Database``; collections are created on
    their first write. One client may be shared by threads. ``close()`` releases the
    database (it closes with its last handle).
    """

    HOST = "localhost"
    PORT = 27017

    def __init__(self, path: Any = None, *, _native: Any = None, **kwargs: Any) -> None:
        if isinstance(path, str) and path.startswith(("mongodb://", "mongodb+srv://")):
            raise ConfigurationError(
                "nestdb.MongoClient takes a database directory (or None for an in-memory database), not a MongoDB URI"
            )
        native_names = _native_config_names()
        config: Dict[str, Any] = {}
        options: Dict[str, Any] = {}
        for key, value in kwargs.items():
            if key in native_names:
                config[key] = value
            elif key.lower() in _PYMONGO_OPTIONS:
                options[key.lower()] = value
            else:
                raise ConfigurationError(f"Unknown option {key}")
        document_class = options.get("document_class", dict)
        if not (isinstance(document_class, type) and issubclass(document_class, dict)):
            raise ConfigurationError("nestdb supports document_class=dict (or a dict subclass) only")
        tz_aware = options.get("tz_aware") or False
        if not isinstance(tz_aware, bool):
            raise TypeError("tz_aware must be True or False")
        self._document_class: Type[Dict[str, Any]] = document_class
        self._tz_aware = tz_aware
        self._tzinfo = options.get("tzinfo")
        self._options = options
        self._decode_document: Optional[Callable[[Any], Any]] = self._make_decoder()
        if _native is not None:
            self._native = _native
        else:
            self._native = _nestdb.Database(path, **config)
        self._path = path
        self._closed = False
        # The engine for the direct paths (no command documents), or None: they apply with the
        # default codec options (plain dicts, naive datetimes) while the client is open.
        self._fast: Any = self._native if self._decode_document is None and isinstance(self._native, _nestdb.Database) else None
        self._lock = threading.Lock()

    def _make_decoder(self) -> Optional[Callable[[Any], Any]]:
        doc_class = self._document_class
        tz_aware = self._tz_aware
        tzinfo = self._tzinfo
        if doc_class is dict and not tz_aware:
            return None

        def convert(value: Any) -> Any:
            if isinstance(value, dict):
                out = doc_class()
                for k, v in value.items():
                    out[k] = convert(v) if isinstance(v, (dict, list, datetime.datetime)) else v
                return out
            if isinstance(value, list):
                return [convert(v) if isinstance(v, (dict, list, datetime.datetime)) else v for v in value]
            if isinstance(value, datetime.datetime) and tz_aware:
                aware = value.replace(tzinfo=datetime.timezone.utc) if value.tzinfo is None else value
                return aware.astimezone(tzinfo) if tzinfo is not None else aware
            return value

        if doc_class is dict:
            def decode(doc: Any) -> Any:
                return to_aware(doc) if tzinfo is None else convert(doc)

            return decode
        return convert

    # -- plumbing -------------------------------------------------------------------------

    def _run(self, db_name: str, command: Mapping[str, Any]) -> Mapping[str, Any]:
        if self._closed:
            raise InvalidOperation("Cannot use MongoClient after close")
        return self._native._doc_command(db_name, command)  # type: ignore[no-any-return]

    def _admin_command(self, command: Mapping[str, Any]) -> Mapping[str, Any]:
        return check_reply(self._run("admin", command))

    # -- databases ------------------------------------------------------------------------

    def __getattr__(self, name: str) -> Database:
        if name.startswith("_"):
            raise AttributeError(f"MongoClient has no attribute {name!r}. To access the {name} database, use client[{name!r}].")
        return self.__getitem__(name)

    def __getitem__(self, name: str) -> Database:
        return Database(self, name)

    def get_database(self, name: Optional[str] = None, codec_options: Any = None, read_preference: Any = None, write_concern: Any = None, read_concern: Any = None) -> Database:
        """The database ``name`` (pymongo's default database when None: nestdb has no URI, so
        ``ConfigurationError``)."""
        if name is None:
            raise ConfigurationError("No default database name defined or provided.")
        return Database(self, name)

    def get_default_database(self, default: Optional[str] = None, codec_options: Any = None, read_preference: Any = None, write_concern: Any = None, read_concern: Any = None) -> Database:
        """The database ``default`` (nestdb has no URI to take a default from)."""
        if default is None:
            raise ConfigurationError("No default database name defined or provided.")
        return Database(self, default)

    def list_databases(self, session: Any = None, comment: Any = None, **kwargs: Any) -> CommandCursor:
        """A cursor over ``{name, sizeOnDisk, empty}`` documents, one per database."""
        command: Dict[str, Any] = {"listDatabases": 1}
        if comment is not None:
            command["comment"] = comment
        command.update(kwargs)
        reply = self._admin_command(command)
        admin = self["admin"]
        return CommandCursor(admin["$cmd"], {"id": 0, "firstBatch": list(reply.get("databases", [])), "ns": "admin.$cmd"})

    def list_database_names(self, session: Any = None, comment: Any = None) -> List[str]:
        """The names of the databases that hold collections."""
        return [doc["name"] for doc in self.list_databases(nameOnly=True, comment=comment)]

    def drop_database(self, name_or_database: Union[str, Database], session: Any = None, comment: Any = None) -> None:
        """Drop a database and all its collections."""
        name = name_or_database
        if isinstance(name, Database):
            name = name.name
        if not isinstance(name, str):
            raise TypeError("name_or_database must be an instance of str or a Database")
        check_database_name(name)
        command: Dict[str, Any] = {"dropDatabase": 1}
        if comment is not None:
            command["comment"] = comment
        check_reply(self._run(name, command))

    def start_session(self, causal_consistency: Optional[bool] = None, default_transaction_options: Any = None, snapshot: Optional[bool] = False) -> ClientSession:
        """A ``ClientSession`` to pass as ``session=`` (see ``nestdb.mongo.session``: no
        multi-document transactions; use ``nestdb.open(path).transaction()``)."""
        if self._closed:
            raise InvalidOperation("Cannot use MongoClient after close")
        return ClientSession(self, SessionOptions(causal_consistency, default_transaction_options, snapshot))

    def server_info(self, session: Any = None) -> Dict[str, Any]:
        """The engine's ``buildInfo`` reply (``version`` is the MongoDB version it follows)."""
        return dict(self._admin_command({"buildInfo": 1}))

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def address(self) -> None:
        """pymongo gives the server's (host, port); an embedded database has none."""
        return None

    @property
    def is_primary(self) -> bool:
        return True

    @property
    def is_mongos(self) -> bool:
        return False

    @property
    def nodes(self) -> FrozenSet[Any]:
        return frozenset()

    @property
    def path(self) -> Optional[str]:
        """The database directory (None in memory)."""
        return None if self._path is None else os.fspath(self._path) if not isinstance(self._path, bytes) else os.fsdecode(self._path)

    @property
    def codec_options(self) -> Dict[str, Any]:
        return {"document_class": self._document_class, "tz_aware": self._tz_aware, "tzinfo": self._tzinfo}

    def close(self) -> None:
        """Release the database; the client cannot be used afterwards (``InvalidOperation``)."""
        self._closed = True
        self._native = None
        self._fast = None

    def __enter__(self) -> "MongoClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        where = ":memory:" if self._path is None else self.path
        return f"MongoClient({where!r})"

    def __eq__(self, other: Any) -> bool:
        if isinstance(other, MongoClient):
            return self is other
        return NotImplemented

    def __ne__(self, other: Any) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return id(self)

    def __iter__(self) -> "MongoClient":
        return self

    def __next__(self) -> Any:
        raise TypeError("'MongoClient' object is not iterable")

    next = __next__
