"""URLs, engines and connection errors of ``leakwarden.store.db``, on SQLite and PostgreSQL."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from leakwarden.store import db


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://app:s3cret@db.example:5432/crm", "postgresql://app@db.example:5432/crm"),
        (
            "postgresql+psycopg://app:s3cret@db.example/crm",
            "postgresql+psycopg://app@db.example/crm",
        ),
        # percent-encoded password, query kept as written
        ("mysql+pymysql://u:p%40ss@h/d?charset=utf8mb4", "mysql+pymysql://u@h/d?charset=utf8mb4"),
        # password in the query string (libpq style), other keys kept in their order
        (
            "postgresql://u@h/d?sslmode=require&password=zz&application_name=x",
            "postgresql://u@h/d?sslmode=require&application_name=x",
        ),
        ("postgresql://u:pw@h/d?password=zz", "postgresql://u@h/d"),
        # a slash in an unencoded password: SQLAlchemy reads up to the "@", so must we
        ("postgresql://u:a/b?c@h/d", "postgresql://u@h/d"),
        ("postgresql://:pw@h/d", "postgresql://h/d"),
        # an unencoded "@" in the password: no piece of it may stay behind
        ("postgresql://u:p@ss@h:5432/d", "postgresql://u@h:5432/d"),
        # nothing to hide: unchanged, including SQLite's empty authority and plain paths
        ("sqlite:////var/lib/leakwarden.db", "sqlite:////var/lib/leakwarden.db"),
        ("postgresql://app@db/crm", "postgresql://app@db/crm"),
        ("/srv/exports", "/srv/exports"),
    ],
)
def test_redact_url_removes_passwords_only(url: str, expected: str) -> None:
    assert db.redact_url(url) == expected


def test_redact_url_agrees_with_sqlalchemy() -> None:
    url = "postgresql+psycopg://ops:Tr0ub4dor&3@10.0.0.7:6432/crm?sslmode=verify-full"
    red = db.redact_url(url)
    assert "Tr0ub4dor" not in red
    parsed, original = make_url(red), make_url(url)
    assert parsed.password is None
    assert (parsed.username, parsed.host, parsed.port, parsed.database) == (
        original.username,
        original.host,
        original.port,
        original.database,
    )
    assert parsed.query == {"sslmode": "verify-full"}


def test_normalize_url_maps_plain_postgres_to_psycopg() -> None:
    assert db.normalize_url("postgresql://u@h/d") == "postgresql+psycopg://u@h/d"
    assert db.normalize_url("postgres://u@h/d") == "postgresql+psycopg://u@h/d"
    assert db.normalize_url("postgresql+psycopg://u@h/d") == "postgresql+psycopg://u@h/d"
    assert db.normalize_url("sqlite:///x.db") == "sqlite:///x.db"


def test_default_url(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(db.ENV_URL, raising=False)
    monkeypatch.chdir(tmp_path)
    assert db.default_url() == f"sqlite:///{tmp_path}/leakwarden.db"
    monkeypatch.setenv(db.ENV_URL, "postgresql://u@h/d")
    assert db.default_url() == "postgresql://u@h/d"


def test_sqlite_engine_settings(tmp_path: Path) -> None:
    engine = db.make_engine(f"sqlite:///{tmp_path / 's.db'}")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == db.SQLITE_BUSY_TIMEOUT_MS
    engine.dispose()


def test_engine_reaches_each_backend(db_url: str) -> None:
    engine = db.make_engine(db_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT 1 + 1")).scalar() == 2
    engine.dispose()


@pytest.mark.postgres
def test_plain_postgresql_url_uses_psycopg(pg_url: str) -> None:
    plain = pg_url.replace("postgresql+psycopg://", "postgresql://", 1)
    engine = db.make_engine(plain)
    assert engine.dialect.driver == "psycopg"
    engine.dispose()


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_unreachable_database_names_where_without_password(db_url: str, tmp_path: Path) -> None:
    if db_url.startswith("sqlite"):
        missing = tmp_path / "no-such-folder" / "store.db"
        with pytest.raises(db.DatabaseUnavailable) as err:
            db.make_engine(f"sqlite:///{missing}")
        assert str(missing) in str(err.value)
        return
    port = _closed_port()
    url = make_url(db_url).set(host="127.0.0.1", port=port, password="Sup3rS3cret")
    with pytest.raises(db.DatabaseUnavailable) as err:
        db.make_engine(url.render_as_string(hide_password=False))
    message = str(err.value)
    assert f"127.0.0.1:{port}" in message
    assert "Sup3rS3cret" not in message
    assert "Sup3rS3cret" not in repr(err.value)
    assert err.value.__cause__ is None and err.value.__suppress_context__


@pytest.mark.postgres
def test_wrong_password_is_refused_without_echoing_it(pg_url: str) -> None:
    u = make_url(pg_url)
    wrong = u.set(password="Wr0ngPassw0rd").render_as_string(hide_password=False)
    with pytest.raises(db.DatabaseUnavailable) as err:
        db.make_engine(wrong)
    assert f"{u.host}:{u.port}" in str(err.value)
    assert "Wr0ngPassw0rd" not in str(err.value)
    assert "password authentication failed" in str(err.value)


def test_not_a_url_is_a_store_error() -> None:
    with pytest.raises(db.StoreError, match="not a database URL"):
        db.make_engine("no url here", check=False)


def test_postgresql_pool_pings_only_connections_left_idle(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = db.make_engine(pg_url, pool_size=1, max_overflow=0)
    pings: list[object] = []
    ping = engine.dialect.do_ping

    def counted(dbapi_connection: object) -> bool:
        pings.append(dbapi_connection)
        return ping(dbapi_connection)

    monkeypatch.setattr(engine.dialect, "do_ping", counted)
    try:
        for _ in range(3):  # back to back: well within the idle allowance
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        assert pings == []
        monkeypatch.setattr(db, "PG_PING_AFTER_IDLE_S", 0.0)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        assert len(pings) == 1
    finally:
        engine.dispose()


def test_postgresql_pool_replaces_a_connection_that_died_while_idle(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = db.make_engine(pg_url, pool_size=1, max_overflow=0)
    admin = db.make_engine(pg_url)
    try:
        with engine.connect() as conn:
            pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        with admin.connect() as conn:
            assert conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar()
        monkeypatch.setattr(db, "PG_PING_AFTER_IDLE_S", 0.0)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT pg_backend_pid()")).scalar_one() != pid
    finally:
        engine.dispose()
        admin.dispose()
