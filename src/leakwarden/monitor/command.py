# ruff: noqa: B008  (typer reads its options from argument defaults)
"""``leakwarden monitor ...``: run the insider-exfiltration monitor and work its alerts.
The lead registers :data:`monitor_app` in the CLI as ``monitor``.

* ``monitor run``: events from the audit ledger (``--since``) or from Parquet files
  (``--events``), context from a folder of Parquet files (``employees.parquet`` required;
  ``tickets``, ``relationships``, ``customers`` optional); alerts go to the store, and new ones
  to ``--webhook`` and ``--siem`` (JSON lines or syslog/CEF); the day scores to the risk ledger.
  Earlier dispositions suppress repeats.
* ``monitor alerts list`` / ``show ID`` / ``close ID --disposition ... --by ...``.

Exit status: 0 done, 2 bad input or an unreachable store.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from leakwarden.commandline import fail as _fail
from leakwarden.commandline import open_store as _store

if TYPE_CHECKING:
    import pyarrow as pa

    from leakwarden.monitor.events import Context

monitor_app = typer.Typer(help="Insider-exfiltration monitoring: run, list and close alerts.")
alerts_app = typer.Typer(help="Monitor alerts: list, show, close with a disposition.")
monitor_app.add_typer(alerts_app, name="alerts")

_URL = typer.Option(
    None, "--url", help="Store URL (default: $LEAKWARDEN_DB_URL or ./leakwarden.db)"
)


def read_context(folder: Path) -> Context:
    """The context tables from ``folder/<name>.parquet`` (employees required)."""
    import pyarrow.parquet as pq

    from leakwarden.monitor.events import Context

    if not (folder / "employees.parquet").is_file():
        _fail(f"--context {folder}: no employees.parquet")
    tables: dict[str, pa.Table | None] = {}
    for name in ("employees", "tickets", "relationships", "customers"):
        path = folder / f"{name}.parquet"
        tables[name] = pq.read_table(path) if path.is_file() else None
    try:
        return Context(
            employees=tables["employees"],
            tickets=tables["tickets"],
            relationships=tables["relationships"],
            customers=tables["customers"],
        )
    except ValueError as exc:
        _fail(f"--context {folder}: {exc}")


def _context(folder: Path | None, company_url: str | None) -> Context:
    """The context from exactly one of ``--context`` and ``--company-url``."""
    if folder is not None and company_url is not None:
        _fail("give one of --context FOLDER and --company-url URL, not both")
    if folder is not None:
        return read_context(folder)
    if company_url is None:
        _fail("give --context FOLDER or --company-url URL (where employees and tickets are)")
    from sqlalchemy import create_engine
    from sqlalchemy.exc import SQLAlchemyError

    from leakwarden.monitor.company_context import context_from_company

    try:
        engine = create_engine(company_url)
    except (SQLAlchemyError, ValueError) as exc:
        _fail(f"--company-url: {exc}")
    try:
        return context_from_company(engine)
    except (SQLAlchemyError, ValueError) as exc:
        _fail(f"--company-url: {exc}")
    finally:
        engine.dispose()


@monitor_app.command("run")
def run(
    context_dir: Path | None = typer.Option(
        None, "--context", help="Folder of context Parquet files (or --company-url)."
    ),
    company_url: str | None = typer.Option(
        None,
        "--company-url",
        help="Read employees, tickets and customers from this company database (demo schema).",
    ),
    events: Path | None = typer.Option(
        None, "--events", help="Parquet file or folder of events (default: the audit ledger)."
    ),
    since: str | None = typer.Option(
        None, "--since", help="Ledger events from: ISO 8601 time, or #INDEX."
    ),
    budget: float = typer.Option(0.001, "--budget", help="Alerts per active person per day."),
    timezone: str = typer.Option("UTC", "--timezone", help="For days and working hours."),
    webhook: str | None = typer.Option(None, "--webhook", help="POST new alerts here."),
    siem: Path | None = typer.Option(None, "--siem", help="Append new alerts to this file."),
    siem_format: str = typer.Option("jsonl", "--siem-format", help="jsonl or cef (syslog)."),
    url: str | None = _URL,
) -> None:
    """Score the events, raise the budgeted alerts, store and deliver them."""
    from leakwarden.monitor.alert_store import AlertStore, Sink, publish
    from leakwarden.monitor.detector import MonitorConfig, run_monitor
    from leakwarden.monitor.sinks import SiemSink, WebhookSink

    try:
        config = MonitorConfig(budget=budget, timezone=timezone)
        sinks: list[Sink] = []
        if webhook is not None:
            sinks.append(WebhookSink(webhook))
        if siem is not None:
            sinks.append(SiemSink(siem, siem_format))
    except ValueError as exc:
        _fail(str(exc))
    context = _context(context_dir, company_url)
    engine = _store(url)
    try:
        store = AlertStore(engine)
        source, ledger = _events(events, since, url)
        try:
            result = run_monitor(source, context, config, dispositions=store.dispositions())
        except ValueError as exc:
            _fail(str(exc))
        finally:
            if ledger is not None:
                ledger.close()
        deliveries = publish(store, result.alerts, sinks)
        store.save_scores(result.scores)
    finally:
        engine.dispose()
    failed = [d for d in deliveries if not d.delivered]
    typer.echo(
        f"{result.scores.num_rows} person-days scored, {len(result.alerts)} alerts, "
        f"{len(deliveries) - len(failed)} deliveries, {len(failed)} failed"
    )
    for d in failed:
        typer.secho(f"  {d.sink} {d.alert_id}: {d.error}", fg=typer.colors.YELLOW, err=True)


def _events(path: Path | None, since: str | None, url: str | None) -> tuple[Any, Any]:
    """The events, and the ledger to close afterwards (None for files)."""
    if path is not None:
        import pyarrow.dataset as ds

        if not path.exists():
            _fail(f"--events {path}: no such file or folder")
        return ds.dataset(str(path), format="parquet").to_table(), None
    from leakwarden.audit.ledger import AuditWriteError, Ledger
    from leakwarden.monitor.ledger_events import events_from_ledger

    start: int | datetime = 0
    if since is not None and since.startswith("#"):
        if not since[1:].isdigit():
            _fail(f"--since {since!r}: #INDEX needs digits")
        start = int(since[1:])
    elif since is not None:
        try:
            start = datetime.fromisoformat(since.replace("Z", "+00:00"))
        except ValueError:
            _fail(f"--since {since!r}: not an ISO 8601 time")
        if start.tzinfo is None:
            _fail(f"--since {since!r}: give a time zone (e.g. Z)")
    try:
        ledger = Ledger.open(url)
    except AuditWriteError as exc:
        _fail(str(exc))
    return events_from_ledger(ledger, start), ledger


@alerts_app.command("list")
def list_alerts(
    status: str | None = typer.Option(None, "--status", help="open or closed"),
    actor: str | None = typer.Option(None, "--actor"),
    since: str | None = typer.Option(None, "--since", help="First day (YYYY-MM-DD)."),
    limit: int = typer.Option(50, "--limit"),
    as_json: bool = typer.Option(False, "--json", help="JSON lines instead of a table."),
    url: str | None = _URL,
) -> None:
    """Alerts, newest day first."""
    from rich.console import Console
    from rich.table import Table

    from leakwarden.monitor.alert_store import AlertStore

    first = None
    if since is not None:
        try:
            first = date.fromisoformat(since)
        except ValueError:
            _fail(f"--since {since!r}: expected YYYY-MM-DD")
    engine = _store(url)
    try:
        rows = AlertStore(engine).find(status=status, actor=actor, since=first, limit=limit)
    finally:
        engine.dispose()
    if as_json:
        for alert, st, disp in rows:
            doc = {"status": st, "disposition": disp, **_doc(alert)}
            sys.stdout.write(json.dumps(doc, default=str) + "\n")
        return
    table = Table("id", "day", "actor", "rule", "score", "status", "top reason")
    for alert, st, disp in rows:
        top = alert.reasons[0].feature if alert.reasons else ""
        table.add_row(
            alert.alert_id,
            alert.day.isoformat(),
            alert.actor,
            alert.rule,
            f"{alert.score:.1f}",
            st if disp is None else f"{st} ({disp})",
            top,
        )
    Console().print(table)


@alerts_app.command("show")
def show(alert_id: str, url: str | None = _URL) -> None:
    """One alert with its reasons, customers and audit event links, as JSON."""
    from leakwarden.monitor.alert_store import AlertNotFound, AlertStore

    engine = _store(url)
    try:
        store = AlertStore(engine)
        alert = store.get(alert_id)
        state = store.status(alert_id)
        deliveries = [asdict(d) for d in store.deliveries(alert_id)]
    except AlertNotFound as exc:
        _fail(str(exc))
    finally:
        engine.dispose()
    doc = {**_doc(alert), **state, "deliveries": deliveries}
    sys.stdout.write(json.dumps(doc, default=str, indent=2) + "\n")


@alerts_app.command("close")
def close(
    alert_id: str,
    disposition: str = typer.Option(
        ..., "--disposition", help="true_positive, benign, duplicate or inconclusive"
    ),
    by: str = typer.Option(..., "--by", help="The analyst closing it."),
    note: str | None = typer.Option(None, "--note"),
    url: str | None = _URL,
) -> None:
    """Close an alert with a disposition (suppresses repeats in later runs)."""
    from leakwarden.monitor.alert_store import AlertNotFound, AlertStore

    engine = _store(url)
    try:
        AlertStore(engine).close(alert_id, disposition, by=by, note=note)
    except (AlertNotFound, ValueError) as exc:
        _fail(str(exc))
    finally:
        engine.dispose()
    typer.echo(f"{alert_id} closed: {disposition}")


def _doc(alert: Any) -> dict[str, Any]:
    from leakwarden.monitor.sinks import alert_doc

    return alert_doc(alert)
