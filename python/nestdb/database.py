"""``Database``: one open database, serving ``redis()`` handles (and, later, documents)."""

from __future__ import annotations

from typing import Any

from . import _nestdb
from .client import Redis

__all__ = ["Database", "open"]


class Database(_nestdb.Database):
    """An open nestdb database. ``redis()`` returns redis-py compatible handles on it; every
    handle from one ``Database`` sees the same data."""

    def redis(self, *, decode_responses: bool = False, encoding: str = "utf-8", encoding_errors: str = "strict") -> Redis:
        """A ``nestdb.Redis`` handle on this database."""
        return Redis(self._engine_spec(), decode_responses=decode_responses, encoding=encoding, encoding_errors=encoding_errors)

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
