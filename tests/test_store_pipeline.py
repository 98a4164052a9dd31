"""pipelined_transaction (store/pipeline.py): commits what the block wrote, rolls back on an
error in the block or at the commit, and hands the connection back in its autocommit mode (or
closed, so that the pool drops it, when that mode cannot be restored)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from leakwarden.store.pipeline import pipelined_transaction


@pytest.fixture
def conn(pg_url: str) -> Iterator[psycopg.Connection[Any]]:
    url = pg_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as c:
        c.execute("CREATE TABLE IF NOT EXISTS pipe_t (k int PRIMARY KEY)")
        c.execute("DELETE FROM pipe_t")
        c.commit()
        yield c


def _keys(c: psycopg.Connection[Any]) -> list[int]:
    rows = [int(r[0]) for r in c.execute("SELECT k FROM pipe_t ORDER BY k").fetchall()]
    c.rollback()
    return rows


@pytest.mark.parametrize("pipeline", [True, False])
def test_commits_the_block(conn: psycopg.Connection[Any], pipeline: bool) -> None:
    with pipelined_transaction(conn, pipeline=pipeline):
        conn.execute("INSERT INTO pipe_t VALUES (1)")
        conn.execute("INSERT INTO pipe_t VALUES (2)")
    assert conn.autocommit is False and conn.info.transaction_status.name == "IDLE"
    assert _keys(conn) == [1, 2]


@pytest.mark.parametrize("pipeline", [True, False])
def test_an_error_rolls_everything_back(conn: psycopg.Connection[Any], pipeline: bool) -> None:
    with (
        pytest.raises(psycopg.errors.UniqueViolation),
        pipelined_transaction(conn, pipeline=pipeline),
    ):
        conn.execute("INSERT INTO pipe_t VALUES (1)")
        conn.execute("INSERT INTO pipe_t VALUES (1)")
    assert conn.autocommit is False and conn.info.transaction_status.name == "IDLE"
    with pytest.raises(RuntimeError, match="mine"), pipelined_transaction(conn, pipeline=pipeline):
        conn.execute("INSERT INTO pipe_t VALUES (3)")
        raise RuntimeError("mine")
    assert _keys(conn) == []


class _StuckInAutocommit:
    """A connection whose autocommit cannot be switched back off."""

    def __init__(self) -> None:
        self._autocommit = False
        self.closed = False

    @property
    def autocommit(self) -> bool:
        return self._autocommit

    @autocommit.setter
    def autocommit(self, value: bool) -> None:
        if not value and self._autocommit:
            raise psycopg.OperationalError("cannot change autocommit now")
        self._autocommit = value

    def pipeline(self) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()

    def execute(self, sql: str) -> None:
        pass

    def rollback(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


def test_a_connection_left_in_autocommit_is_closed() -> None:
    fake = _StuckInAutocommit()
    with pipelined_transaction(fake):
        pass
    assert fake.closed
