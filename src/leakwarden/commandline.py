"""What the capabilities' commands share: the one-line error that ends a command (exit 2 unless
told otherwise) and opening leakwarden's own store at its newest schema."""

from __future__ import annotations

from typing import TYPE_CHECKING, NoReturn

import typer

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

__all__ = ["fail", "open_store"]


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``error: message`` to stderr (red on a terminal) and end the command with ``code``."""
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def open_store(url: str | None) -> Engine:
    """The store at ``url`` (default ``$LEAKWARDEN_DB_URL`` or ``./leakwarden.db``), migrated to
    the newest schema; a store that cannot be opened or migrated ends the command (:func:`fail`)."""
    from leakwarden.store import db

    try:
        engine = db.make_engine(url)
        db.upgrade(engine)
    except db.StoreError as exc:
        fail(str(exc))
    return engine
