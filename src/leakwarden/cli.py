"""The one command, ``leakwarden``, with a sub-command per capability.

Heavy libraries (Hyperscan, SQLAlchemy, Dask) are imported inside each command so that
``leakwarden --help`` stays instant.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from leakwarden.audit.command import audit_app
from leakwarden.gateway.command import query_command, serve_command, token_app
from leakwarden.gateway.export_command import export_app
from leakwarden.gateway.policy_command import policy_app
from leakwarden.monitor.command import monitor_app
from leakwarden.protect.command import protect_command, reveal_command
from leakwarden.protect.keys_command import keys_app
from leakwarden.protect.waybill import waybill_app
from leakwarden.scan.command import inventory_app, scan_command
from leakwarden.trace.command import trace_command, trace_index_app

app = typer.Typer(
    name="leakwarden",
    help="Find, protect, gate, audit, monitor and trace customers' personal information.",
    no_args_is_help=True,
    add_completion=False,
)


db_app = typer.Typer(
    help="The leakwarden store: create and migrate its tables.", no_args_is_help=True
)
app.add_typer(db_app, name="db")

_DB_URL_HELP = "Database URL (default: $LEAKWARDEN_DB_URL, else sqlite:///leakwarden.db here)."


@db_app.command("upgrade")
def db_upgrade(url: str | None = typer.Option(None, "--url", help=_DB_URL_HELP)) -> None:
    """Create the store's tables, or migrate them to this version's schema."""
    from leakwarden.store import db

    target = url or db.default_url()
    try:
        before = db.current_revision(target)
        db.upgrade(target)
        after = db.current_revision(target)
    except db.StoreError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    where = db.redact_url(db.normalize_url(target))
    if before == after:
        typer.echo(f"{where}: already at {after} (head)")
    else:
        typer.echo(f"{where}: upgraded {before or 'empty'} -> {after} (head)")


@db_app.command("current")
def db_current(url: str | None = typer.Option(None, "--url", help=_DB_URL_HELP)) -> None:
    """Show which migration the store is at, and whether that is the newest."""
    from leakwarden.store import db

    target = url or db.default_url()
    try:
        rev = db.current_revision(target)
    except db.StoreError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    head = db.head_revision()
    where = db.redact_url(db.normalize_url(target))
    if rev is None:
        typer.echo(f"{where}: empty (run `leakwarden db upgrade`; newest is {head})")
    else:
        typer.echo(f"{where}: {rev}" + (" (head)" if rev == head else f" (newest is {head})"))


@app.command("detect")
def detect(
    source: str = typer.Argument("-", help="File to read, or - for stdin."),
    fmt: str = typer.Option("jsonl", "--format", help="jsonl, json or table."),
    types: str | None = typer.Option(
        None, "--types", help="Comma-separated type ids (default: all types)."
    ),
) -> None:
    """Find personal information in a file or stdin; one finding per span, char offsets."""
    from leakwarden.detect.command import run_detect

    code = run_detect(source, fmt, types)
    if code:
        raise typer.Exit(code)


app.command("scan")(scan_command)


@app.command("demo")
def demo(
    out: Annotated[Path, typer.Option("--out", help="Folder for the demo company.")] = Path(
        "leakwarden-demo"
    ),
    customers: Annotated[int, typer.Option("--customers", min=100, max=10_000_000)] = 5000,
    seed: Annotated[int, typer.Option("--seed", help="Same seed, same company.")] = 7,
    leak_rows: Annotated[
        int, typer.Option("--leak-rows", min=10, help="Rows in each leaked file.")
    ] = 1000,
    db: Annotated[
        str | None, typer.Option("--db", help="Store URL (default: leakwarden.db here).")
    ] = None,
) -> None:
    """The main job: build a demo company (database + leaked files) and run discovery on it."""
    from rich.console import Console

    from leakwarden.walkthrough import run_demo

    code = run_demo(
        out, customers=customers, seed=seed, store_url=db, leak_rows=leak_rows, console=Console()
    )
    raise typer.Exit(code)


app.add_typer(inventory_app, name="inventory")
app.command("protect")(protect_command)
app.command("reveal")(reveal_command)
app.add_typer(keys_app, name="keys")
app.add_typer(waybill_app, name="waybill")
app.add_typer(audit_app, name="audit")
app.command("serve")(serve_command)
app.add_typer(token_app, name="token")
app.add_typer(policy_app, name="policy")
app.command("query")(query_command)
app.add_typer(export_app, name="export")
app.command("trace")(trace_command)
app.add_typer(trace_index_app, name="trace-index")
app.add_typer(monitor_app, name="monitor")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
