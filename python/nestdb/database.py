"""``Database``: one open database, serving ``redis()`` handles, MongoDB-style collections
(``db["users"]``, ``db.collection("users")``, ``db.mongo_database("shop")``, ``db.mongo_client()``)
and transactions spanning both (``db.transaction()``)."""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any, Optional

from . import _nestdb
from .client import Redis

if TYPE_CHECKING:
    from .mongo.client import MongoClient
    from .mongo.collection import Collection
    from .mongo.database import Database as MongoDatabase
    from .mongo.transaction import Transaction

__all__ = ["Database", "open"]


class Database(_nestdb.Database):
    """An open nestdb database. ``redis()`` returns redis-py compatible handles on it; every
    handle from one ``Database`` sees the same data. Documents live beside the keys:
    ``db["users"]`` / ``db.collection("users")`` is a pymongo ``Collection`` in MongoDB database
    ``"test"``, ``db.mongo_database("shop")`` another database, ``db.mongo_client()`` a
    ``MongoClient`` on this file, and ``db.transaction()`` batches key and document writes
    atomically."""

    def redis(self, *, decode_responses: bool = False, encoding: str = "utf-8", encoding_errors: str = "strict") -> Redis:
        """A ``nestdb.Redis`` handle on this database."""
        return Redis(self._engine_spec(), decode_responses=decode_responses, encoding=encoding, encoding_errors=encoding_errors)

    def mongo_client(self, **kwargs: Any) -> "MongoClient":
        """A pymongo-compatible ``MongoClient`` on this database (``tz_aware``,
        ``document_class`` accepted)."""
        from .mongo.client import MongoClient

        if kwargs:
            return MongoClient(_native=self, **kwargs)
        # One client while any of its objects is alive, so that db["users"] == db["users"].
        ref = self.__dict__.get("_mongo_client_ref")
        client = ref() if ref is not None else None
        if client is None or client._closed:
            client = MongoClient(_native=self)
            self.__dict__["_mongo_client_ref"] = weakref.ref(client)
        return client

    def mongo_database(self, name: str = "test") -> "MongoDatabase":
        """The MongoDB-style database ``name`` in this file."""
        return self.mongo_client()[name]

    def collection(self, name: str, database: str = "test") -> "Collection":
        """The document collection ``name`` (in MongoDB database ``database``)."""
        return self.mongo_client()[database][name]

    def __getitem__(self, name: str) -> "Collection":
        return self.collection(name)

    def transaction(self, database: str = "test", *, decode_responses: bool = False, encoding: str = "utf-8", encoding_errors: str = "strict") -> "Transaction":
        """A batch of document writes (``tx.collection(name)``, in MongoDB database
        ``database``) and Redis commands (``tx.redis``; str replies with
        ``decode_responses=True``) run atomically when its ``with`` block ends (or on
        ``execute()``); results in ``tx.results``. See ``nestdb.mongo.transaction``."""
        from .mongo.transaction import Transaction

        return Transaction(self, database, decode_responses=decode_responses, encoding=encoding, encoding_errors=encoding_errors)

    def __repr__(self) -> str:
        where = self.path if self.path is not None else ":memory:"
        return f"<nestdb.Database({where!r})>"


def open(path: Any = None, **config: Any) -> Database:
    """Open a database: ``None`` or ``":memory:"`` in memory, otherwise the database directory
    ``path`` (created if missing; see ``nestdb.Redis`` for sharing, locking and errors).

    ``config`` keywords are Redis config parameters with ``_`` for ``-`` (see
    ``nestdb.config_parameters()``); unknown names raise ``TypeError``.
    """
    return Database(path, **config)
