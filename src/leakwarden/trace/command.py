"""``leakwarden trace FILE``: which customers a leaked sample holds and which registered export
copy it most likely came from.  The lead registers :func:`trace_command` in the CLI
(``app.command("trace")(trace_command)``); :data:`trace_app` wraps it for tests.

Needs the company database (``--company-url``), the store holding the export registry and the
key ring (``--db``), and the master key (``--master-file`` / ``--master-env`` /
``--passphrase-env`` or ``$LEAKWARDEN_MASTER_KEY``, as ``leakwarden keys``) to recompute the
registry's keyed hashes; with the gateway's pseudonym key (``--pseudonym-key-env``, default
``$LEAKWARDEN_GATEWAY_PSEUDONYM_KEY``) pseudonymised exports match as well.

``--index DIR`` uses a saved customer index (:mod:`leakwarden.trace.index`) instead of reading
every customer (minutes at ten million); :data:`trace_index_app` builds and shows one
(``leakwarden trace-index build --out DIR`` / ``leakwarden trace-index show DIR``; the lead
registers it with ``app.add_typer(trace_index_app, name="trace-index")``).  A stale or
mismatched index is refused (exit 2) with the reason.

Exit status: 0 traced (whatever the verdict), 2 bad input (unreadable sample, database or key
ring), with the problem named.  Outputs (``--out``, ``--customers-out``) are written atomically.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from leakwarden.commandline import fail as _fail
from leakwarden.protect.keys_command import MasterEnv, MasterFile, PassphraseEnv

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

__all__ = ["trace_app", "trace_command", "trace_index_app"]

DEFAULT_COMPANY_URL = "sqlite:///leakwarden-demo/company.db"


CompanyUrl = Annotated[
    str | None,
    typer.Option(
        "--company-url",
        help="The customer database (default: $LEAKWARDEN_GATEWAY_COMPANY_URL or "
        f"{DEFAULT_COMPANY_URL}).",
    ),
]
StoreUrl = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Store with the export registry and key ring (default: "
        "$LEAKWARDEN_DB_URL or ./leakwarden.db).",
    ),
]
PseudonymKeyEnv = Annotated[
    str,
    typer.Option(
        "--pseudonym-key-env",
        help="Environment variable holding the gateway's pseudonym key (hex), so leaked "
        "pseudonymised exports match; unset variable: clear values only.",
    ),
]


def _pseudonym_keys(env: str) -> list[tuple[bytes, int]]:
    import os

    key_hex = os.environ.get(env, "").strip()
    if not key_hex:
        return []
    try:
        return [(bytes.fromhex(key_hex), 1)]  # exports write version 1
    except ValueError:
        _fail(f"{env}: not hexadecimal")


def _company(url: str | None) -> Engine:
    import os

    from leakwarden.store import db

    try:
        return db.make_engine(
            url
            or os.environ.get("LEAKWARDEN_GATEWAY_COMPANY_URL", "").strip()
            or DEFAULT_COMPANY_URL
        )
    except db.StoreError as exc:
        _fail(str(exc))


def _fail_clearly(exc: Exception) -> NoReturn:
    """The errors a trace command expects (index, sample, key ring, store, database) as one line
    and exit 2; anything else is raised again."""
    from sqlalchemy.exc import SQLAlchemyError

    from leakwarden.protect.keys import KeyRingError
    from leakwarden.store import db
    from leakwarden.trace.index import IndexFileError
    from leakwarden.trace.normalize import SampleError

    if isinstance(exc, IndexFileError):
        _fail(f"index: {exc}")
    if isinstance(exc, KeyRingError):
        _fail(f"key ring: {exc}")
    if isinstance(exc, SampleError | db.StoreError):
        _fail(str(exc))
    if isinstance(exc, SQLAlchemyError):
        _fail(f"database: {type(exc).__name__}: {str(exc).splitlines()[0]}")
    raise exc


def trace_command(
    file: Annotated[
        Path, typer.Argument(help="The leaked sample (CSV/TSV/JSON/JSONL/XLSX/Parquet/text).")
    ],
    company_url: CompanyUrl = None,
    db_url: StoreUrl = None,
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
    pseudonym_key_env: PseudonymKeyEnv = "LEAKWARDEN_GATEWAY_PSEUDONYM_KEY",
    min_confidence: Annotated[
        float, typer.Option(help="Row-match confidence for a customer to count as affected.")
    ] = 0.9,
    index_dir: Annotated[
        Path | None,
        typer.Option(
            "--index",
            help="A saved customer index (leakwarden trace-index build) instead of reading "
            "every customer.",
        ),
    ] = None,
    index_max_age: Annotated[
        float, typer.Option(help="Refuse a saved index older than this many days.")
    ] = 7.0,
) -> None:
    """Trace a leaked sample: affected customers, export copies ranked by posterior, verdict."""
    import json
    from datetime import timedelta

    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn

    from leakwarden.fileio import write_atomic
    from leakwarden.protect.keys_command import open_key_ring
    from leakwarden.store import db
    from leakwarden.trace.attribute import ModelConfig
    from leakwarden.trace.index import load_index
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
    pseudonym_keys = _pseudonym_keys(pseudonym_key_env)
    if index_max_age <= 0:
        _fail("--index-max-age must be positive")
    company = _company(company_url)
    try:
        store = db.make_engine(db_url)
        db.upgrade(store)
    except db.StoreError as exc:
        company.dispose()
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
            index = None
            if index_dir is not None:
                progress.update(task, description=f"loading the index {index_dir}")
                index = load_index(
                    index_dir,
                    keys,
                    company=company,
                    pseudonym_keys=pseudonym_keys,
                    max_age=timedelta(days=index_max_age),
                )
            result = run_trace(
                sample,
                company=company,
                store=store,
                keys=keys,
                config=config,
                index=index,
                pseudonym_keys=pseudonym_keys,
                status=lambda msg: progress.update(task, description=msg),
            )
    except Exception as exc:
        _fail_clearly(exc)
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


trace_index_app = typer.Typer(
    help="Build and inspect the saved customer index of leakwarden trace."
)


@trace_index_app.command("build")
def index_build(
    out: Annotated[Path, typer.Option("--out", help="Folder to write the index to.")],
    company_url: CompanyUrl = None,
    db_url: StoreUrl = None,
    master_file: MasterFile = None,
    master_env: MasterEnv = None,
    passphrase_env: PassphraseEnv = None,
    pseudonym_key_env: PseudonymKeyEnv = "LEAKWARDEN_GATEWAY_PSEUDONYM_KEY",
    replace: Annotated[bool, typer.Option(help="Replace an existing saved index.")] = False,
) -> None:
    """Read every customer once and save the index ``leakwarden trace --index`` loads."""
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn

    from leakwarden.protect.keys_command import open_key_ring
    from leakwarden.trace.index import timed_build

    pseudonym_keys = _pseudonym_keys(pseudonym_key_env)
    if out.exists() and not replace:
        _fail(f"{out}: exists; give --replace to rebuild it")
    company = _company(company_url)
    try:
        with (
            open_key_ring(db_url, master_file, master_env, passphrase_env) as keys,
            Progress(
                SpinnerColumn(), TextColumn("{task.description}"), console=Console(stderr=True),
                transient=True,
            ) as progress,
        ):  # fmt: skip
            task = progress.add_task("reading customers", total=None)
            index, seconds = timed_build(
                company,
                keys,
                out,
                pseudonym_keys=pseudonym_keys,
                replace=replace,
                progress=lambda n: progress.update(task, description=f"{n:,} customers read"),
            )
    except Exception as exc:
        _fail_clearly(exc)
    finally:
        company.dispose()
    typer.echo(
        f"indexed {index.customers:,} customers ({len(index.hashes):,} keys) in {seconds:.1f} s "
        f"into {out}"
    )


@trace_index_app.command("show")
def index_show(
    path: Annotated[Path, typer.Argument(help="A saved index folder.")],
) -> None:
    """What a saved index holds and when it was built (no key needed)."""
    from leakwarden.trace.index import IndexFileError, info

    try:
        meta = info(path)
    except IndexFileError as exc:
        _fail(str(exc))
    built = meta.built_at.isoformat(timespec="seconds")
    typer.echo(
        f"{meta.path}: {meta.customers:,} customers (largest id {meta.max_customer_id}), "
        f"{meta.entries:,} keys, key {meta.key}, built {built} in {meta.build_seconds:.1f} s "
        f"from {meta.company_url}"
    )
