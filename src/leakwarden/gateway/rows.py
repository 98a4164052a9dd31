"""Keyed row reads for the gateway's per-request path: one row of a table by one column's value,
on a pooled DB-API connection, converted by the columns' own SQLAlchemy types.

Every lookup reads a token, an employee, a ticket and a customer or order by key.  Through
SQLAlchemy Core each such read cost 70-130 µs on SQLite (statement construction, the compiled
cache lookup, execution events, a ``BEGIN``/``ROLLBACK`` pair); the same statement on the pooled
DB-API connection costs about 15 µs.  :class:`KeyedReader` builds its SQL once per table (the
dialect's quoting and placeholder), and turns the driver's row into the values Core would give
(``TypeEngine.result_processor`` of each column: dates, booleans, ``UTCDateTime`` ...), so callers
see the same values either way.

On PostgreSQL the read runs in autocommit: one statement is its own transaction (the same
snapshot), and the driver's ``BEGIN`` before it and the pool's ``ROLLBACK`` after it, a round
trip to the server each, are not sent.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy import Table
    from sqlalchemy.engine import Engine

__all__ = ["KeyedReader", "keyed_reader"]

_PLACEHOLDER = {"qmark": "?", "format": "%s", "pyformat": "%s", "numeric": ":1"}


class KeyedReader:
    """``SELECT <every column> FROM <table> WHERE <key> = <value>`` on ``engine``."""

    def __init__(self, engine: Engine, table: Table, key: str) -> None:
        dialect = engine.dialect
        placeholder = _PLACEHOLDER.get(dialect.paramstyle)
        if placeholder is None:
            raise ValueError(f"KeyedReader: parameter style {dialect.paramstyle!r} not supported")
        if key not in table.c:
            raise ValueError(f"KeyedReader: {table.name} has no column {key!r}")
        quote = dialect.identifier_preparer
        self.engine = engine
        self.names = tuple(c.name for c in table.columns)
        self.sql = (
            f"SELECT {', '.join(quote.quote(n) for n in self.names)} "
            f"FROM {quote.format_table(table)} WHERE {quote.quote(key)} = {placeholder}"
        )
        self._types = [c.type.dialect_impl(dialect) for c in table.columns]
        self._autocommit = dialect.name == "postgresql"
        # built from the first answer's description (some processors depend on the driver's
        # type code of the column, e.g. PostgreSQL's numerics)
        self._convert: list[tuple[int, Callable[[Any], Any]]] | None = None

    def _processors(self, description: Any) -> list[tuple[int, Callable[[Any], Any]]]:
        dialect = self.engine.dialect
        out: list[tuple[int, Callable[[Any], Any]]] = []
        for i, (kind, described) in enumerate(zip(self._types, description, strict=True)):
            process = kind.result_processor(dialect, described[1])
            if process is not None:
                out.append((i, process))
        return out

    def get(self, value: Any) -> dict[str, Any] | None:
        """The row whose key equals ``value`` (the first, if several), or None."""
        raw = self.engine.raw_connection()
        try:
            if self._autocommit:
                raw.dbapi_connection.autocommit = True  # type: ignore[union-attr]
            try:
                cur = raw.cursor()
                try:
                    cur.execute(self.sql, (value,))
                    row = cur.fetchone()
                    if self._convert is None:
                        self._convert = self._processors(cur.description)
                finally:
                    cur.close()
            finally:
                if self._autocommit:
                    try:
                        raw.dbapi_connection.autocommit = False  # type: ignore[union-attr]
                    except Exception:
                        raw.invalidate()  # never back in the pool in autocommit
        finally:
            raw.close()  # back to the pool, which ends any read transaction
        if row is None:
            return None
        values = list(row)
        for i, process in self._convert:
            values[i] = process(values[i])
        return dict(zip(self.names, values, strict=True))


_readers: weakref.WeakKeyDictionary[Engine, dict[tuple[str, str], KeyedReader]] = (
    weakref.WeakKeyDictionary()
)
_lock = threading.Lock()


def keyed_reader(engine: Engine, table: Table, key: str) -> KeyedReader:
    """The :class:`KeyedReader` of ``table`` by ``key`` on ``engine``, built once per engine
    (and dropped with it)."""
    with _lock:
        mine = _readers.setdefault(engine, {})
        reader = mine.get((table.name, key))
        if reader is None:
            reader = mine[(table.name, key)] = KeyedReader(engine, table, key)
        return reader
