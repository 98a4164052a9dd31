"""The ``leakwarden scan`` and ``leakwarden inventory`` commands.

Only Typer and the standard library are imported at module level, so that the CLI can register
these commands without slowing ``leakwarden --help``.

Exit codes (for CI pipelines): 0 scanned, condition not met; 1 the ``--fail-on`` condition was
met (``sensitive``: an entry of sensitive personal information; ``any``: any entry); 2 a usage
error, a source that could not be read at all (missing path, unreachable database) or a store
that could not be written.  2 wins over 1: a scan that could not look cannot vouch for anything.
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from leakwarden.scan.scanner import ScanReport
    from leakwarden.scan.tasks import TaskOutcome

EXIT_OK = 0
EXIT_FAIL_ON = 1
EXIT_UNREADABLE = 2

_DB_HELP = "Store URL (default: $LEAKWARDEN_DB_URL, else sqlite:///leakwarden.db here)."


class OutputFormat(StrEnum):
    table = "table"
    json = "json"


class FailOn(StrEnum):
    sensitive = "sensitive"
    any = "any"
    none = "none"


def _stderr_console() -> Console:
    from rich.console import Console

    return Console(stderr=True)


def _progress_observer(console: Console) -> tuple[Any, Any]:
    """A Rich progress bar (files/tables done, bytes or rows read) as a scan observer."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    from leakwarden.scan.scanner import ScanObserver

    progress = Progress(
        SpinnerColumn(),
        TextColumn("[bold]scanning[/bold] {task.fields[current]}", markup=True),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[volume]}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )

    class Observer(ScanObserver):
        def __init__(self) -> None:
            self.task = progress.add_task("scan", total=None, current="", volume="")
            self.read = {"bytes": 0, "rows": 0}

        def planned(self, tasks: int, total_bytes: int) -> None:
            progress.update(self.task, total=tasks)

        def started(self, label: str) -> None:
            progress.update(self.task, current=label[-60:])

        def advanced(self, label: str, amount: int, unit: str) -> None:
            self.read[unit] = self.read.get(unit, 0) + amount
            parts = []
            if self.read["bytes"]:
                parts.append(f"{self.read['bytes'] / 1e6:,.1f} MB")
            if self.read["rows"]:
                parts.append(f"{self.read['rows']:,} rows")
            progress.update(self.task, volume=" + ".join(parts) + " read")

        def finished(self, label: str, outcome: TaskOutcome) -> None:
            progress.update(self.task, advance=1, current=label[-60:])

    return progress, Observer()


def _store(url: str | None) -> Any:
    from leakwarden.store import db
    from leakwarden.store.inventory import InventoryRepo

    target = url or db.default_url()
    db.upgrade(target)
    return InventoryRepo(db.make_engine(target))


def exit_code(report: ScanReport, fail_on: FailOn) -> int:
    """The scan's exit code (see the module docstring)."""
    if report.unreadable:
        return EXIT_UNREADABLE
    entries = report.entries
    if fail_on is FailOn.sensitive and any(e.sensitivity == "sensitive" for e in entries):
        return EXIT_FAIL_ON
    if fail_on is FailOn.any and entries:
        return EXIT_FAIL_ON
    return EXIT_OK


def scan_command(
    targets: Annotated[
        list[str],
        typer.Argument(metavar="PATH_OR_URL...", help="Folders, files, or database URLs."),
    ],
    sample: Annotated[
        int,
        typer.Option(
            "--sample",
            min=1,
            help="Non-empty cells per column to classify on (tables, CSV, JSON, Parquet, XLSX); "
            "text and log files are always read whole.",
        ),
    ] = 1000,
    full: Annotated[bool, typer.Option("--full", help="Read every row, not a sample.")] = False,
    fmt: Annotated[OutputFormat, typer.Option("--format", help="table or json.")] = (
        OutputFormat.table
    ),
    html: Annotated[
        Path | None, typer.Option("--html", help="Also write an HTML report to this file.")
    ] = None,
    db: Annotated[str | None, typer.Option("--db", help=_DB_HELP)] = None,
    store: Annotated[
        bool, typer.Option("--store/--no-store", help="Record the scan in the inventory.")
    ] = True,
    fail_on: Annotated[
        FailOn, typer.Option("--fail-on", help="Exit 1 when sensitive (or any) PI is found.")
    ] = FailOn.none,
    cluster: Annotated[
        str | None,
        typer.Option("--cluster", help="Dask scheduler address, or 'local' for a local cluster."),
    ] = None,
    workers: Annotated[
        int, typer.Option("--workers", min=1, help="Workers of --cluster local.")
    ] = 2,
) -> None:
    """Find personal information in files, folders and databases; record it in the inventory.

    Exit code: 0 done; 1 --fail-on condition met; 2 usage error or unreadable source.
    """
    from leakwarden.scan.report import print_report, render_html, report_json
    from leakwarden.scan.scanner import scan_sources
    from leakwarden.scan.tasks import ScanOptions

    err = _stderr_console()
    options = ScanOptions(sample=sample, full=full)
    progress, observer = _progress_observer(err)
    from leakwarden.scan.scanner import ClusterUnavailable

    try:
        with progress:
            report = scan_sources(
                targets, options, observer=observer, cluster=cluster, workers=workers
            )
    except ClusterUnavailable as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(EXIT_UNREADABLE) from None
    code = exit_code(report, fail_on)
    if store:
        from leakwarden.store.db import StoreError

        try:
            repo = _store(db)
            for result in report.results:
                if result.source not in report.unreadable:
                    repo.record_scan(result)
        except StoreError as exc:
            err.print(f"[red]error:[/red] cannot record the scan: {exc}", highlight=False)
            code = EXIT_UNREADABLE
    if html is not None:
        from leakwarden.fileio import write_atomic

        write_atomic(html, render_html(report))
    if fmt is OutputFormat.json:
        sys.stdout.write(json.dumps(report_json(report, code), ensure_ascii=False, indent=2))
        sys.stdout.write("\n")
    else:
        from rich.console import Console

        out = Console()
        print_report(out, report)
        if html is not None:
            out.print(f"HTML report: {html}", highlight=False)
    for source in report.unreadable:
        err.print(f"[red]error:[/red] could not read {source}", highlight=False)
    raise typer.Exit(code)


inventory_app = typer.Typer(
    help="The discovery inventory: what was found where, and what changed.",
    no_args_is_help=True,
)


def _source_key(source: str) -> str:
    """A source as the inventory records it: an absolute path, or the URL as given."""
    if "://" in source:
        return source
    path = Path(source).expanduser()
    return str(path.resolve()) if path.exists() else source


@inventory_app.command("show")
def inventory_show(
    source: Annotated[
        str | None, typer.Option("--source", help="Only this folder, file or URL.")
    ] = None,
    fmt: Annotated[OutputFormat, typer.Option("--format", help="table or json.")] = (
        OutputFormat.table
    ),
    db: Annotated[str | None, typer.Option("--db", help=_DB_HELP)] = None,
) -> None:
    """The current inventory: every location holding personal information."""
    from leakwarden.scan.report import entries_table, entry_json
    from leakwarden.store.db import StoreError

    try:
        entries = _store(db).latest(_source_key(source) if source else None)
    except StoreError as exc:
        _stderr_console().print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(EXIT_UNREADABLE) from None
    if fmt is OutputFormat.json:
        sys.stdout.write(
            json.dumps([entry_json(e) for e in entries], ensure_ascii=False, indent=2) + "\n"
        )
        return
    from rich.console import Console

    if entries:
        Console().print(entries_table(entries, "inventory"))
    else:
        Console().print("the inventory is empty")


@inventory_app.command("diff")
def inventory_diff(
    source: Annotated[str, typer.Argument(help="Folder, file or URL that was scanned twice.")],
    fmt: Annotated[OutputFormat, typer.Option("--format", help="table or json.")] = (
        OutputFormat.table
    ),
    db: Annotated[str | None, typer.Option("--db", help=_DB_HELP)] = None,
    old: Annotated[int | None, typer.Option("--old", help="Run id to compare from.")] = None,
    new: Annotated[int | None, typer.Option("--new", help="Run id to compare to.")] = None,
) -> None:
    """What changed between the last two scans of SOURCE (or the runs given)."""
    from leakwarden.scan.report import change_json, print_changes
    from leakwarden.store.db import StoreError

    try:
        changes = _store(db).diff(_source_key(source), old, new)
    except (StoreError, LookupError) as exc:
        _stderr_console().print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(EXIT_UNREADABLE) from None
    if fmt is OutputFormat.json:
        sys.stdout.write(
            json.dumps([change_json(c) for c in changes], ensure_ascii=False, indent=2) + "\n"
        )
        return
    from rich.console import Console

    print_changes(Console(), changes, f"changes in {source}")
