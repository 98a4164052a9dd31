"""``leakwarden keys``: create, rotate and list the key ring's data keys; make a master key file.

The master key comes from exactly one of ``--master-file``, ``--master-env`` or
``--passphrase-env`` (argon2id), or, with none of them, from ``$LEAKWARDEN_MASTER_KEY`` (base64)
when set, else from a passphrase typed at a hidden prompt.  :func:`open_key_ring` is the one
place that turns these options into a :class:`~leakwarden.protect.keys.KeyRing`, for other
commands too (``protect``, ``reveal``, ``waybill``).

Exit codes: 0 done; 2 a key ring problem (wrong master key, unknown key, unreadable file), with a
message naming the key, file or variable and never key material.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from leakwarden.protect.keys import KeyRing

MASTER_ENV = "LEAKWARDEN_MASTER_KEY"
_DB_HELP = "Store URL (default: $LEAKWARDEN_DB_URL, else sqlite:///leakwarden.db here)."

keys_app = typer.Typer(
    name="keys",
    help="Key ring: named, versioned data keys wrapped by a master key.",
    no_args_is_help=True,
)

MasterFile = Annotated[
    Path | None, typer.Option("--master-file", help="File holding the base64 master key (0600).")
]
MasterEnv = Annotated[
    str | None, typer.Option("--master-env", help="Environment variable holding the master key.")
]
PassphraseEnv = Annotated[
    str | None,
    typer.Option("--passphrase-env", help="Environment variable holding a passphrase (argon2id)."),
]
Db = Annotated[str | None, typer.Option("--db", help=_DB_HELP)]


def open_key_ring(
    db: str | None,
    master_file: Path | None = None,
    master_env: str | None = None,
    passphrase_env: str | None = None,
) -> KeyRing:
    """The key ring at ``db`` opened with the master key the options name (module docstring)."""
    from leakwarden.protect.keys import KeyRing, KeyRingError, MasterKey

    given = [o for o in (master_file, master_env, passphrase_env) if o]
    if len(given) > 1:
        raise KeyRingError("give one of --master-file, --master-env, --passphrase-env")
    if master_file:
        return KeyRing.open(db, MasterKey.from_file(master_file))
    if master_env:
        return KeyRing.open(db, MasterKey.from_env(master_env))
    if passphrase_env:
        phrase = os.environ.get(passphrase_env)
        if not phrase:
            raise KeyRingError(f"environment variable {passphrase_env} is not set or empty")
        return KeyRing.open(db, MasterKey.from_passphrase(phrase))
    if os.environ.get(MASTER_ENV):
        return KeyRing.open(db, MasterKey.from_env(MASTER_ENV))
    new = not KeyRing.exists(db)  # a new ring: type the passphrase twice (a typo is forever)
    phrase = typer.prompt(
        "New key ring passphrase" if new else "Key ring passphrase",
        hide_input=True,
        confirmation_prompt=new,
    )
    return KeyRing.open(db, MasterKey.from_passphrase(phrase))


def _fail(exc: Exception) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(2)


@keys_app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="Key name (letters, digits, _ . -).")],
    purpose: Annotated[str, typer.Option(help="Free label: hmac, ff1, vault, any.")] = "any",
    db: Db = None,
    master_file: MasterFile = None,
    master_env: MasterEnv = None,
    passphrase_env: PassphraseEnv = None,
) -> None:
    """Create key NAME at version 1."""
    from leakwarden.protect.keys import KeyRingError
    from leakwarden.store.db import StoreError

    try:
        with open_key_ring(db, master_file, master_env, passphrase_env) as ring:
            key = ring.create(name, purpose)
    except (KeyRingError, StoreError) as exc:
        raise _fail(exc) from None
    typer.echo(f"created key {key.name!r} version {key.version}")


@keys_app.command("rotate")
def rotate(
    name: Annotated[str, typer.Argument(help="Key to rotate.")],
    db: Db = None,
    master_file: MasterFile = None,
    master_env: MasterEnv = None,
    passphrase_env: PassphraseEnv = None,
) -> None:
    """Add a new version of key NAME; older versions still decrypt what they made."""
    from leakwarden.protect.keys import KeyRingError
    from leakwarden.store.db import StoreError

    try:
        with open_key_ring(db, master_file, master_env, passphrase_env) as ring:
            key = ring.rotate(name)
    except (KeyRingError, StoreError) as exc:
        raise _fail(exc) from None
    typer.echo(f"rotated key {key.name!r}: version {key.version} is current")


@keys_app.command("list")
def list_keys(
    db: Db = None,
    master_file: MasterFile = None,
    master_env: MasterEnv = None,
    passphrase_env: PassphraseEnv = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON for machines.")] = False,
) -> None:
    """List every key version (never key material)."""
    from leakwarden.protect.keys import KeyRingError
    from leakwarden.store.db import StoreError

    try:
        with open_key_ring(db, master_file, master_env, passphrase_env) as ring:
            infos = ring.list()
    except (KeyRingError, StoreError) as exc:
        raise _fail(exc) from None
    if as_json:
        rows = [
            {
                "name": i.name,
                "version": i.version,
                "purpose": i.purpose,
                "created_at": i.created_at.isoformat(),
                "current": i.current,
                "master": i.master,
            }
            for i in infos
        ]
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Key ring")
    for col in ("name", "version", "purpose", "created (UTC)", "current", "master"):
        table.add_column(col)
    for i in infos:
        table.add_row(
            i.name,
            str(i.version),
            i.purpose,
            i.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            "yes" if i.current else "",
            i.master,
        )
    Console().print(table)


@keys_app.command("master-file")
def master_file_command(
    path: Annotated[Path, typer.Argument(help="New file for a random master key (mode 0600).")],
) -> None:
    """Write a new random 256-bit master key to PATH (refuses to overwrite)."""
    from leakwarden.protect.keys import KeyRingError, MasterKey

    try:
        key = MasterKey.write_file(path)
    except KeyRingError as exc:
        raise _fail(exc) from None
    typer.echo(f"wrote {path} (fingerprint {key.fingerprint()}); keep it apart from the data")
