"""KeyedReader (the record path's keyed reads on the DB-API connection) gives the same values as
SQLAlchemy Core's ``select(table).where(key == value)``, on SQLite and PostgreSQL, for the
column types the gateway reads: integers, text, booleans, dates, naive datetimes, decimals and
the store's ``UTCDateTime``, including NULLs and a column name that needs quoting."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from leakwarden.gateway.rows import KeyedReader, keyed_reader
from leakwarden.store import db
from leakwarden.store.models import UTCDateTime


def _table() -> sa.Table:
    return sa.Table(
        "people",
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("code", sa.String(20), unique=True),
        sa.Column("name", sa.Text),
        sa.Column("vip", sa.Boolean),
        sa.Column("born", sa.Date),
        sa.Column("seen", sa.DateTime),
        sa.Column("amount", sa.Numeric(10, 2)),
        sa.Column("at", UTCDateTime),
        sa.Column("select", sa.String(10)),  # a reserved word as a column name
    )


ROWS = [
    {"id": 1, "code": "a-1", "name": "张三", "vip": True, "born": date(1990, 2, 28),
     "seen": datetime(2026, 11, 23, 12, 30, 1, 250), "amount": Decimal("12.50"),
     "at": datetime(2026, 11, 23, 9, 0, tzinfo=UTC), "select": "x"},
    {"id": 2, "code": "b'2", "name": None, "vip": False, "born": None, "seen": None,
     "amount": None, "at": None, "select": None},
]  # fmt: skip


def test_keyed_reads_equal_core_reads(db_url: str) -> None:
    engine = db.make_engine(db_url)
    table = _table()
    table.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(sa.insert(table), ROWS)
    for key, values in (("id", [1, 2, 3]), ("code", ["a-1", "b'2", "nope"])):
        reader = KeyedReader(engine, table, key)
        for value in values:
            with engine.connect() as conn:
                core = conn.execute(sa.select(table).where(table.c[key] == value)).first()
            got = reader.get(value)
            if core is None:
                assert got is None
                continue
            assert got == dict(core._mapping)
            assert [type(v) for v in got.values()] == [type(v) for v in core]
    assert keyed_reader(engine, table, "id") is keyed_reader(engine, table, "id")
    assert keyed_reader(engine, table, "id").get(1) == {**ROWS[0]}
    engine.dispose()


def test_unknown_key_column_is_refused() -> None:
    engine = sa.create_engine("sqlite://")
    with pytest.raises(ValueError, match="people has no column 'nope'"):
        KeyedReader(engine, _table(), "nope")


def test_postgresql_read_sends_one_statement_and_leaves_the_connection_as_it_was(
    pg_url: str, tmp_path: Path
) -> None:
    engine = db.make_engine(pg_url, pool_size=1, max_overflow=0)
    table = _table().to_metadata(sa.MetaData(), name="keyed_once")
    table.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(sa.insert(table), ROWS)
    reader = KeyedReader(engine, table, "id")
    reader.get(2)  # the first read also fetches the types' conversions
    raw = engine.raw_connection()
    pgconn = raw.dbapi_connection.pgconn  # type: ignore[union-attr]
    trace = tmp_path / "libpq.trace"
    with trace.open("w") as out:
        pgconn.trace(out.fileno())
        raw.close()
        try:
            assert reader.get(1) == ROWS[0]
        finally:
            pgconn.untrace()
    sent = [line for line in trace.read_text().splitlines() if "\tF\t" in line]
    queries = [line for line in sent if "\tQuery\t" in line or "\tParse\t" in line]
    assert len(queries) == 1 and "keyed_once" in queries[0], sent  # no BEGIN, no ROLLBACK
    raw = engine.raw_connection()
    try:  # the pool's only connection, handed back as the rest of the store expects it
        assert raw.dbapi_connection is not None
        assert raw.dbapi_connection.autocommit is False
    finally:
        raw.close()
    engine.dispose()
