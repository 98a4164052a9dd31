"""Write the demo company into a database, streaming: memory does not grow with its size.

Rows come from ``company.iter_company`` in batches; on PostgreSQL each batch goes through
``COPY ... FROM STDIN`` (psycopg 3), elsewhere through a multi-row ``executemany`` insert.  Each
chunk of customers and their activity is committed together.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from leakwarden.demo.company import Batch, CompanyShape, iter_company

if TYPE_CHECKING:
    from sqlalchemy import Connection

__all__ = ["BuildSummary", "CompanyExistsError", "build_company"]

Progress = Callable[[int, int], None]  # (customers written so far, customers in total)


class CompanyExistsError(RuntimeError):
    """The target database already has tables the demo would overwrite."""


@dataclass(frozen=True)
class BuildSummary:
    """What ``build_company`` wrote: rows per table and how long it took."""

    url: str  # password hidden
    customers: int
    seed: int
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())

    @property
    def customers_per_second(self) -> float:
        return self.customers / self.seconds if self.seconds else 0.0

    @property
    def rows_per_second(self) -> float:
        return self.total_rows / self.seconds if self.seconds else 0.0


def build_company(
    url: str,
    *,
    customers: int = 1000,
    seed: int = 0,
    batch_size: int = 5000,
    replace: bool = False,
    shape: CompanyShape | None = None,
    progress: Progress | None = None,
) -> BuildSummary:
    """Create the demo company's tables in the database at ``url`` and fill them.

    Same ``seed`` and ``customers`` → same rows.  Existing demo tables are dropped only with
    ``replace=True``; otherwise :class:`CompanyExistsError` names them and nothing is written.
    """
    from sqlalchemy import create_engine, event, inspect

    from leakwarden.demo.schema import TABLE_ORDER, metadata

    engine = create_engine(url)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_bulk_pragmas)
    shown_url = engine.url.render_as_string(hide_password=True)
    started = time.perf_counter()
    rows = dict.fromkeys(TABLE_ORDER, 0)
    try:
        existing = sorted(set(TABLE_ORDER) & set(inspect(engine).get_table_names()))
        if existing and not replace:
            raise CompanyExistsError(
                f"{shown_url} already has the demo tables {', '.join(existing)}; "
                "pass replace=True (leakwarden demo --replace) to rebuild them"
            )
        with engine.begin() as conn:
            metadata.drop_all(conn)
            metadata.create_all(conn)
        write = {"postgresql": _copy_batch, "sqlite": _sqlite_batch}.get(
            engine.dialect.name, _insert_batch
        )
        done = 0
        with engine.connect() as conn:
            # Explicit transactions: COPY goes through the driver's cursor, which SQLAlchemy's
            # autobegin does not see, so conn.commit() alone would commit nothing.
            transaction = conn.begin()
            for batch in iter_company(
                customers, seed, batch_size=batch_size, shape=shape or CompanyShape()
            ):
                if batch.table == "customers" and done:
                    transaction.commit()  # the previous chunk with its activity
                    transaction = conn.begin()
                write(conn, batch)
                rows[batch.table] += len(batch)
                if batch.table == "customers":
                    done += len(batch)
                    if progress is not None:
                        progress(done, customers)
            transaction.commit()
    finally:
        engine.dispose()
    return BuildSummary(shown_url, customers, seed, rows, time.perf_counter() - started)


def _sqlite_bulk_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _insert_batch(conn: Connection, batch: Batch) -> None:
    from leakwarden.demo.schema import metadata

    conn.execute(metadata.tables[batch.table].insert(), batch.dicts())


def _sqlite_batch(conn: Connection, batch: Batch) -> None:
    """SQLite: plain ``executemany`` of tuples, values already in the text forms SQLAlchemy's
    SQLite dialect stores (ISO dates, ``YYYY-MM-DD HH:MM:SS.ffffff``, 0/1), which skips the
    per-row type processing that otherwise costs more than the insert itself."""
    from sqlalchemy import Boolean, Date, DateTime

    from leakwarden.demo.schema import metadata

    table = metadata.tables[batch.table]
    columns: list[list[Any]] = []
    for name, values in batch.columns.items():
        kind = table.c[name].type
        if isinstance(kind, DateTime):
            values = [None if v is None else v.isoformat(" ", "microseconds") for v in values]
        elif isinstance(kind, Date):
            values = [None if v is None else v.isoformat() for v in values]
        elif isinstance(kind, Boolean):
            values = [None if v is None else int(v) for v in values]
        columns.append(values)
    quote = conn.dialect.identifier_preparer.quote
    names = ", ".join(quote(name) for name in batch.columns)
    marks = ", ".join("?" for _ in batch.columns)
    sql = f"INSERT INTO {quote(batch.table)} ({names}) VALUES ({marks})"
    conn.exec_driver_sql(sql, list(zip(*columns, strict=True)))


def _copy_batch(conn: Connection, batch: Batch) -> None:
    """PostgreSQL: one ``COPY ... FROM STDIN`` per batch through psycopg 3."""
    quote = conn.dialect.identifier_preparer.quote
    columns = ", ".join(quote(name) for name in batch.columns)
    raw = conn.connection.dbapi_connection
    assert raw is not None
    cursor: Any = raw.cursor()
    try:
        with cursor.copy(f"COPY {quote(batch.table)} ({columns}) FROM STDIN") as copy:
            for row in batch.rows():
                copy.write_row(row)
    finally:
        cursor.close()
