"""Where the store lives and how to reach it: URLs, engines, migrations.

SQLite file in the working folder by default (``leakwarden.db``), PostgreSQL through psycopg 3 by
URL.  Every URL that reaches a message, a log line or an inventory record goes through
:func:`redact_url` first: passwords never leave this module.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

if TYPE_CHECKING:
    from sqlalchemy.engine import URL, Engine

ENV_URL = "LEAKWARDEN_DB_URL"
DEFAULT_SQLITE_FILE = "leakwarden.db"
# How long a PostgreSQL connection attempt may take before the store gives up (seconds), unless
# the URL says otherwise with ``?connect_timeout=``.
PG_CONNECT_TIMEOUT = 10
# How long a SQLite writer waits for another writer's lock before failing (milliseconds).
SQLITE_BUSY_TIMEOUT_MS = 30_000
# A pooled PostgreSQL connection idle for longer than this (seconds) is pinged before it is
# handed out (one round trip); one used more recently is handed out as it is.
PG_PING_AFTER_IDLE_S = 2.0

_SECRET_QUERY_KEYS = frozenset({"password", "sslpassword"})
# scheme://user[:password]@ -- SQLAlchemy's own reading of the user part (engine/url.py).
_USERINFO = re.compile(r"(?P<scheme>[\w+.-]+)://(?:(?P<user>[^:/]*)(?::(?P<password>[^@]*))?@)?")


class StoreError(Exception):
    """The store cannot do what was asked; the message is safe to show (no secrets)."""


class DatabaseUnavailable(StoreError):
    """The database cannot be reached or refused the connection.  The message names the host and
    port (or the SQLite file) and never the password."""


def default_url() -> str:
    """``$LEAKWARDEN_DB_URL`` if set, else a SQLite file ``leakwarden.db`` in the working
    folder (made absolute so that a later ``chdir`` does not move the store)."""
    env = os.environ.get(ENV_URL, "").strip()
    if env:
        return env
    return f"sqlite:///{Path.cwd() / DEFAULT_SQLITE_FILE}"


def normalize_url(url: str) -> str:
    """Map plain PostgreSQL URLs (``postgres://``, ``postgresql://``) to the psycopg 3 driver;
    leave every other URL as it is."""
    scheme, sep, rest = url.partition("://")
    if sep and scheme.lower() in ("postgres", "postgresql"):
        return f"postgresql+psycopg://{rest}"
    return url


def redact_url(url: str) -> str:
    """``url`` without its password (in the user part or the query string); everything else is
    kept as written, and anything that is not a URL (a directory path) comes back unchanged.
    The user part is read the way SQLAlchemy reads it, so what it would take for a password is
    what goes.

    >>> redact_url("postgresql://app:s3cret@db.example:5432/crm")
    'postgresql://app@db.example:5432/crm'
    """
    m = _USERINFO.match(url)
    if m is None:
        return url
    if m.group("password") is not None:
        end = m.end()
        host = re.match(r"[^/?#]*", url[end:])
        if host is not None and "@" in host.group(0):
            # An unencoded "@" in the password: SQLAlchemy would take the rest for the host;
            # cut up to the last "@" so that no piece of the password survives.
            end += host.group(0).rindex("@") + 1
        user = m.group("user")
        url = url[: m.start("user")] + (f"{user}@" if user else "") + url[end:]
    head, qmark, query = url.partition("?")
    if not qmark:
        return url
    query, hash_, fragment = query.partition("#")
    kept = [
        piece
        for piece in query.split("&")
        if unquote_plus(piece.split("=", 1)[0]).strip().lower() not in _SECRET_QUERY_KEYS
    ]
    return head + (qmark + "&".join(kept) if kept else "") + hash_ + fragment


def describe_target(url: str | URL) -> str:
    """Where a URL points, for people: ``host:port/database`` or the SQLite file; no password."""
    from sqlalchemy.engine import make_url

    u = make_url(url) if isinstance(url, str) else url
    if u.get_backend_name() == "sqlite":
        if u.database in (None, "", ":memory:"):
            return "SQLite in memory"
        return f"SQLite file {u.database}"
    host = u.host or "localhost (unix socket)"
    port = u.port or _default_port(u.get_backend_name())
    return f"{host}:{port}/{u.database or ''}"


def _default_port(backend: str) -> int | str:
    return {"postgresql": 5432, "mysql": 3306, "mariadb": 3306}.get(backend, "?")


def make_engine(url: str | None = None, *, check: bool = True, **kwargs: Any) -> Engine:
    """An engine for ``url`` (default :func:`default_url`).

    SQLite: WAL journal, foreign keys enforced, a busy timeout, and real ``BEGIN`` transactions
    (the stdlib driver's own transaction handling is switched off, as SQLAlchemy's docs advise).
    PostgreSQL: psycopg 3, with a connect timeout; a pooled connection idle for more than
    :data:`PG_PING_AFTER_IDLE_S` is pinged before it is handed out, and replaced if the ping
    fails (pass ``pool_pre_ping=True`` to ping on every checkout instead).  With ``check``
    (default) one connection is
    opened at once so that an unreachable database fails here, with
    :class:`DatabaseUnavailable` naming host and port, rather than somewhere later.
    """
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    raw = normalize_url(url if url is not None else default_url())
    try:
        u = make_url(raw)
    except ArgumentError:
        raise StoreError(f"not a database URL: {redact_url(raw)!r}") from None
    backend = u.get_backend_name()
    if backend == "postgresql":
        connect_args = dict(kwargs.pop("connect_args", {}))
        if "connect_timeout" not in u.query:
            connect_args.setdefault("connect_timeout", PG_CONNECT_TIMEOUT)
        kwargs["connect_args"] = connect_args
    ping_when_idle = backend == "postgresql" and not kwargs.get("pool_pre_ping", False)
    try:
        engine = create_engine(u, **kwargs)
    except Exception as exc:  # missing driver, bad option: say which URL, never the password
        raise StoreError(f"cannot create an engine for {redact_url(raw)}: {exc}") from None
    if backend == "sqlite":
        _configure_sqlite(engine)
    if ping_when_idle:
        _ping_when_idle(engine)
    if check:
        check_connection(engine)
    return engine


def _configure_sqlite(engine: Engine) -> None:
    from sqlalchemy import event

    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy (through the "begin" hook below) decide where transactions start.
        dbapi_connection.isolation_level = None
        cur = dbapi_connection.cursor()
        try:
            cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            cur.execute("PRAGMA foreign_keys = ON")
            cur.execute("PRAGMA journal_mode = WAL")
        finally:
            cur.close()

    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN")

    event.listen(engine, "connect", _on_connect)
    event.listen(engine, "begin", _on_begin)


def _ping_when_idle(engine: Engine) -> None:
    """Ping a pooled connection at checkout only when it sat idle for more than
    :data:`PG_PING_AFTER_IDLE_S`.  SQLAlchemy's ``pool_pre_ping`` pings at every checkout: one
    round trip to the server each time, a fifth of a gateway lookup's round trips on a
    PostgreSQL store.  A connection that dies while in steady use fails its next statement
    instead, and the pool drops it when it comes back (its reset fails)."""
    import time

    from sqlalchemy import event
    from sqlalchemy.exc import DisconnectionError

    dialect = engine.dialect

    def _checkin(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            record.info["lw_idle_since"] = time.monotonic()

    def _checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("lw_idle_since")
        if since is None or time.monotonic() - since <= PG_PING_AFTER_IDLE_S:
            return
        try:
            alive = dialect.do_ping(dbapi_connection)
        except Exception:
            alive = False
        if not alive:
            raise DisconnectionError("pooled connection failed its ping")  # the pool reconnects

    event.listen(engine, "checkin", _checkin)
    event.listen(engine, "checkout", _checkout)


def check_connection(engine: Engine) -> None:
    """Open and close one connection; :class:`DatabaseUnavailable` (host, port, reason; no
    password) when that fails."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError, OperationalError

    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except (OperationalError, DBAPIError) as exc:
        raise DatabaseUnavailable(
            f"cannot reach the database at {describe_target(engine.url)}: "
            f"{_safe_reason(exc, engine.url)}"
        ) from None


def _safe_reason(exc: BaseException, url: URL) -> str:
    """The driver's own message (its first line), with the password cut out should it appear."""
    orig = getattr(exc, "orig", None) or exc
    reason = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    if url.password:
        reason = reason.replace(str(url.password), "***")
    return reason


def _alembic_config() -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    return cfg


def head_revision() -> str:
    """The newest migration shipped with this package."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships at least one migration
        raise StoreError("no migrations shipped with leakwarden.store")
    return head


def upgrade(target: str | Engine | None = None, revision: str = "head") -> None:
    """Migrate the database at ``target`` (a URL, default :func:`default_url`, or an engine) to
    ``revision`` (default the newest).  Safe to run again: an up-to-date database is left as it
    is."""
    _run_alembic(target, "upgrade", revision)


def downgrade(target: str | Engine | None, revision: str) -> None:
    """Migrate down to ``revision`` (``"base"`` drops every table the store made)."""
    _run_alembic(target, "downgrade", revision)


def _run_alembic(target: str | Engine | None, action: str, revision: str) -> None:
    from alembic import command
    from sqlalchemy.engine import Engine as _Engine

    engine = target if isinstance(target, _Engine) else make_engine(target)
    cfg = _alembic_config()
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            getattr(command, action)(cfg, revision)
    finally:
        if not isinstance(target, _Engine):
            engine.dispose()


def current_revision(target: str | Engine | None = None) -> str | None:
    """The migration the database is at, or ``None`` for a database the store never touched."""
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy.engine import Engine as _Engine
    from sqlalchemy.engine import make_url

    if not isinstance(target, _Engine):
        u = make_url(normalize_url(target if target is not None else default_url()))
        on_disk = u.get_backend_name() == "sqlite" and u.database not in (None, "", ":memory:")
        if on_disk and not Path(str(u.database)).exists():
            return None  # asking must not create an empty database file
    engine = target if isinstance(target, _Engine) else make_engine(target)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        if not isinstance(target, _Engine):
            engine.dispose()
