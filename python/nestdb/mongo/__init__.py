"""The pymongo-compatible document API of nestdb: ``MongoClient`` → ``Database`` →
``Collection`` → ``Cursor``, write requests, results and constants, with pymongo's names.

Everything here is also exported from the top-level ``nestdb`` package (``from nestdb import
MongoClient, InsertOne, ReturnDocument, ASCENDING, ObjectId``).
"""

from __future__ import annotations

from .client import MongoClient
from .collection import Collection
from .common import ASCENDING, DESCENDING, GEO2D, GEOSPHERE, HASHED, TEXT, CursorType, ReturnDocument
from .cursor import CommandCursor, Cursor
from .database import Database
from .operations import DeleteMany, DeleteOne, IndexModel, InsertOne, ReplaceOne, UpdateMany, UpdateOne
from .results import BulkWriteResult, DeleteResult, InsertManyResult, InsertOneResult, UpdateResult

__all__ = [
    "MongoClient",
    "Database",
    "Collection",
    "Cursor",
    "CommandCursor",
    "CursorType",
    "ReturnDocument",
    "ASCENDING",
    "DESCENDING",
    "GEO2D",
    "GEOSPHERE",
    "HASHED",
    "TEXT",
    "InsertOne",
    "UpdateOne",
    "UpdateMany",
    "ReplaceOne",
    "DeleteOne",
    "DeleteMany",
    "IndexModel",
    "InsertOneResult",
    "InsertManyResult",
    "UpdateResult",
    "DeleteResult",
    "BulkWriteResult",
]
