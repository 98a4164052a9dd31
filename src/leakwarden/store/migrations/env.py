"""Alembic environment of the leakwarden store, run from the installed package.

``leakwarden.store.db.upgrade`` hands in an open connection through ``config.attributes``; no
alembic.ini and no URL in a config file (so no password on disk).
"""

from __future__ import annotations

from alembic import context

from leakwarden.store.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        from leakwarden.store.db import make_engine

        url = config.get_main_option("sqlalchemy.url")
        engine = make_engine(url)
        with engine.begin() as conn:
            _run(conn)
        engine.dispose()
    else:
        _run(connection)


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite needs table copies for most ALTERs
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("leakwarden migrations run online only: use `leakwarden db upgrade`")
run_migrations()
