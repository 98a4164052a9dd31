"""``leakwarden trace FILE``: which customers a leaked sample holds and which registered export
copy it most likely came from.  The lead registers :func:`trace_command` in the CLI
(``app.command("trace")(trace_command)``); :data:`trace_app` wraps it for tests.

Needs the company database (``--company-url``), the store holding the export registry and the
key ring (``--db``), and the master key (``--master-file`` / ``--master-env`` /
``--passphrase-env`` or ``$LEAKWARDEN_MASTER_KEY``, as ``leakwarden keys``) to recompute the
registry's keyed hashes; with the gateway's pseudonym key (``--pseudonym-key-env``, default
``$LEAKWARDEN_GATEWAY_PSEUDONYM_KEY``) pseudonymised exports match as well.

Exit status: 0 traced (whatever the verdict), 2 bad input (unreadable sample, database or key
ring), with the problem named.  Outputs (``--out``, ``--customers-out``) are written atomically.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn

import typer

from leakwarden.protect.keys_command import MasterEnv, MasterFile, PassphraseEnv

__all__ = ["trace_app", "trace_command"]

DEFAULT_COMPANY_URL = "sqlite:///leakwarden-demo/company.db"


def _fail(message: str) -> NoReturn:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


def trace_command(
    file: Annotated[
        Path, typer.Argument(help="The leaked sample (CSV/TSV/JSON/JSONL/XLSX/Parquet/text).")
    ],
    company_url: Annotated[
        str | None,
        typer.Option(
            "--company-url",
            help="The customer database (default: $LEAKWARDEN_GATEWAY_COMPANY_URL or "
            f"{DEFAULT_COMPANY_URL}).",
        ),
    ] = None,
    db_url: Annotated[
        str | None,
        typer.Option(
            "--db",
            help="Store with the export registry and key ring (default: "
            "$LEAKWARDEN_DB_URL or ./leakwarden.db).",
        ),
    ] = None,
    master_file: MasterFile = None,
    master_env: MasterEnv = None,
    passphrase_env: PassphraseEnv = None,
    fmt: Annotated[
        str, typer.Option("--format", help="table (people), json (machines) or html.")
    ] = "table",
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write the report here (format from --format; html/json)."),
    ] = None,
    customers_out: Annotated[
        Path | None,
        typer.Option("--customers-out", help="Regulator-facing CSV of affected customer ids."),
    ] = None,
    threshold: Annotated[
        float, typer.Option(help="Posterior needed to name a copy (and 1 - innocence bound).")
    ] = 0.999999,
    other_route_rate: Annotated[
        float, typer.Option(help="Assumed share of leaked rows from other routes.")
    ] = 0.01,
    pseudonym_key_env: Annotated[
        str,
        typer.Option(
            "--pseudonym-key-env",
            help="Environment variable holding the gateway's pseudonym key (hex), so leaked "
            "pseudonymised exports match; unset variable: clear values only.",
        ),
    ] = "LEAKWARDEN_GATEWAY_PSEUDONYM_KEY",
    min_confidence: Annotated[
        float, typer.Option(help="Row-match confidence for a customer to count as affected.")
    ] = 0.9,
) -> None:
    """Trace a leaked sample: affected customers, export copies ranked by posterior, verdict."""
    import json
    import os

    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn

    from leakwarden.fileio import write_atomic
    from leakwarden.protect.keys import KeyRingError
    from leakwarden.protect.keys_command import open_key_ring
    from leakwarden.store import db
    from leakwarden.trace.attribute import ModelConfig
    from leakwarden.trace.normalize import SampleError
    from leakwarden.trace.report import print_tables, render_html, to_json, write_customers_csv
    from leakwarden.trace.run import run_trace

    if fmt not in {"table", "json", "html"}:
        _fail(f"--format {fmt!r}: choose table, json or html")
    try:
        config = ModelConfig(other_route_rate, threshold, min_confidence)
    except ValueError as exc:
        _fail(str(exc))
    from leakwarden.protect.keys import KeyRing
    from leakwarden.trace.normalize import read_sample

    try:
        sample = read_sample(file)  # a bad sample is named before any database is opened
    except SampleError as exc:
        _fail(str(exc))
    pseudonym_keys: list[tuple[bytes, int]] = []
    key_hex = os.environ.get(pseudonym_key_env, "").strip()
    if key_hex:
        try:
            pseudonym_keys.append((bytes.fromhex(key_hex), 1))  # exports write version 1
        except ValueError:
            _fail(f"{pseudonym_key_env}: not hexadecimal")
    url = (
        company_url
        or os.environ.get("LEAKWARDEN_GATEWAY_COMPANY_URL", "").strip()
        or DEFAULT_COMPANY_URL
    )
    try:
        company = db.make_engine(url)
        store = db.make_engine(db_url)
        db.upgrade(store)
    except db.StoreError as exc:
        _fail(str(exc))
    console = Console(stderr=fmt != "table")
    if not KeyRing.exists(db_url):
        store.dispose()
        company.dispose()
        _fail(
            f"no key ring in the store {db.redact_url(db_url or db.default_url())}: the export "
            "registry's keyed hashes cannot be recomputed (give --db)"
        )
    try:
        with (
            open_key_ring(db_url, master_file, master_env, passphrase_env) as keys,
            Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                console=Console(stderr=True),
                transient=True,
            ) as progress,
        ):
            task = progress.add_task("trace", total=None)
            result = run_trace(
                sample,
                company=company,
                store=store,
                keys=keys,
                config=config,
                pseudonym_keys=pseudonym_keys,
                status=lambda msg: progress.update(task, description=msg),
            )
    except SampleError as exc:
        _fail(str(exc))
    except KeyRingError as exc:
        _fail(f"key ring: {exc}")
    except db.StoreError as exc:
        _fail(str(exc))
    except Exception as exc:
        from sqlalchemy.exc import SQLAlchemyError

        if isinstance(exc, SQLAlchemyError):
            _fail(f"database: {type(exc).__name__}: {str(exc).splitlines()[0]}")
        raise
    finally:
        company.dispose()
        store.dispose()
    if customers_out is not None:
        write_customers_csv(result, customers_out)
    doc = to_json(result)
    if fmt == "json":
        text = json.dumps(doc, ensure_ascii=False, indent=2)
        if out is not None:
            write_atomic(out, text + "\n")
        else:
            typer.echo(text)
    elif fmt == "html":
        page = render_html(result)
        if out is not None:
            write_atomic(out, page)
        else:
            typer.echo(page)
    else:
        print_tables(result, console)
        if out is not None:
            write_atomic(out, render_html(result) if out.suffix.lower() in {".html", ".htm"}
                         else json.dumps(doc, ensure_ascii=False, indent=2) + "\n")  # fmt: skip
    if customers_out is not None and fmt == "table":
        console.print(f"affected customers written to {customers_out}")


trace_app = typer.Typer(help="Trace a leaked sample to its customers and export copy.")
trace_app.command("trace")(trace_command)
