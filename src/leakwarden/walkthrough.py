"""The main job, ``leakwarden demo``: build the demo company and run every capability built so far
over it, the way a new user first sees leakwarden work.

Discovery first: the company's customer database and the files in which its customers' data has
leaked are scanned, the inventory is recorded in the store, and what was found is checked against
the ground truth the generator planted (``manifest.json``).  Then (``walkthrough_steps``) the
leaked files are protected from the inventory, customer-service requests go through the gateway,
and the audit ledger that recorded all of it is verified against its signed checkpoints.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    from leakwarden.scan.scanner import ScanReport

COMPANY_DB = "company.db"
FILES_DIR = "files"
REPORT_HTML = "discovery.html"


@dataclass
class TruthCheck:
    """Discovery over the leaked files against the generator's manifest, per file/field/type."""

    expected: set[tuple[str, str, str]] = field(default_factory=set)
    found: set[tuple[str, str, str]] = field(default_factory=set)
    problem_files: set[str] = field(default_factory=set)
    # Planted in a file that was broken on purpose: finding them (in the part that can still be
    # read) is right, missing them is no fault.
    optional: set[tuple[str, str, str]] = field(default_factory=set)

    @property
    def hits(self) -> set[tuple[str, str, str]]:
        return self.expected & self.found

    @property
    def missed(self) -> set[tuple[str, str, str]]:
        return self.expected - self.found

    @property
    def false(self) -> set[tuple[str, str, str]]:
        return self.found - self.expected - self.optional


def planted(
    manifest: dict[str, Any],
) -> tuple[set[tuple[str, str, str]], set[tuple[str, str, str]], set[str]]:
    """What the generator planted: (file, field, type) triples in readable files, the triples
    in files it broke on purpose, and the names of those broken files.

    Structured files list ``columns: {field: {type: count}}``; text files ``types: {type:
    count}`` (their field is ``""``)."""
    expected: set[tuple[str, str, str]] = set()
    optional: set[tuple[str, str, str]] = set()
    broken: set[str] = set()
    for entry in manifest["files"]:
        path = str(entry["path"])
        into = expected
        if entry.get("problem"):
            broken.add(path)
            into = optional
        for column, types in (entry.get("columns") or {}).items():
            into.update((path, str(column), t) for t, n in types.items() if n)
        for t, n in (entry.get("types") or {}).items():
            if n:
                into.add((path, "", t))
    return expected, optional, broken


def check_against_manifest(report: ScanReport, files_root: Path) -> TruthCheck:
    manifest = json.loads((files_root / "manifest.json").read_text(encoding="utf-8"))
    expected, optional, broken = planted(manifest)
    check = TruthCheck(expected=expected, problem_files=broken, optional=optional)
    root = str(files_root.resolve())
    for result in report.results:
        if result.source != root:
            continue
        for e in result.entries:
            check.found.add((e.location.container, e.location.field, e.pi_type))
    return check


def print_truth(console: Console, check: TruthCheck) -> None:
    from rich.table import Table

    table = Table(title="discovery over the leaked files vs. what the generator planted")
    table.add_column("outcome")
    table.add_column("count", justify="right")
    table.add_column("examples", overflow="fold")

    def examples(items: set[tuple[str, str, str]]) -> str:
        shown = sorted(items)[:4]
        return "; ".join(f"{f}{'.' + c if c else ''} → {t}" for f, c, t in shown)

    table.add_row("planted and found", str(len(check.hits)), "")
    table.add_row("planted, missed", str(len(check.missed)), examples(check.missed))
    table.add_row("found, not planted", str(len(check.false)), examples(check.false))
    console.print(table)


def run_demo(
    out: Path,
    *,
    customers: int,
    seed: int,
    store_url: str | None,
    leak_rows: int,
    console: Console,
) -> int:
    """Build the company under ``out``, scan it, record the inventory, print what was found.

    Returns the process exit code: 0, or 2 when the store could not be written."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from leakwarden.demo import build_company, write_leak_files
    from leakwarden.fileio import write_atomic
    from leakwarden.scan.report import print_report, render_html
    from leakwarden.scan.scanner import scan_sources
    from leakwarden.store import db
    from leakwarden.store.inventory import InventoryRepo

    out.mkdir(parents=True, exist_ok=True)
    company_url = f"sqlite:///{(out / COMPANY_DB).resolve()}"
    files_root = out / FILES_DIR

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("building the demo company (customers)", total=customers)
        summary = build_company(
            company_url,
            customers=customers,
            seed=seed,
            replace=True,
            progress=lambda done, total: progress.update(task, completed=done, total=total),
        )
    console.print(
        f"demo company: {summary.customers:,} customers, {summary.total_rows:,} rows in "
        f"{len(summary.rows)} tables ({summary.rows_per_second:,.0f} rows/s) → {out / COMPANY_DB}",
        highlight=False,
    )
    write_leak_files(files_root, seed=seed, rows=min(leak_rows, customers))
    console.print(f"leaked and clean files → {files_root}", highlight=False)

    with console.status("scanning the company database and the files"):
        report = scan_sources([company_url, str(files_root.resolve())])
    print_report(console, report)
    print_truth(console, check_against_manifest(report, files_root))

    html = out / REPORT_HTML
    write_atomic(html, render_html(report))
    console.print(f"HTML report: {html}", highlight=False)

    target = store_url or db.default_url()
    try:
        db.upgrade(target)
        repo = InventoryRepo(db.make_engine(target))
        runs = [repo.record_scan(result) for result in report.results]
    except db.StoreError as exc:
        console.print(f"[red]error:[/red] cannot record the inventory: {exc}", highlight=False)
        return 2
    console.print(
        f"inventory recorded in {db.redact_url(target)} (runs {', '.join(map(str, runs))}); "
        "see it with: leakwarden inventory show",
        highlight=False,
    )
    return _after_discovery(out, company_url, files_root, target, console)


def _after_discovery(
    out: Path, company_url: str, files_root: Path, store_url: str, console: Console
) -> int:
    """Protect, gateway, monitor and audit steps (``walkthrough_steps``), every one audited."""
    from leakwarden.audit.events import AuditEvent
    from leakwarden.audit.ledger import AuditWriteError
    from leakwarden.walkthrough_steps import (
        audit_step,
        demo_keys,
        gateway_step,
        monitor_step,
        open_ledger,
        protect_step,
    )

    keys = demo_keys(out)
    try:
        ledger = open_ledger(out, store_url, keys)
    except AuditWriteError as exc:
        console.print(f"[red]error:[/red] cannot open the audit ledger: {exc}", highlight=False)
        return 2
    with ledger:
        try:
            ledger.append(
                AuditEvent(
                    action="protect.files",
                    outcome="success",
                    actor="leakwarden-demo",
                    reason="demo: protect the leaked files discovery found",
                    dataset=str(files_root),
                )
            )
        except AuditWriteError as exc:
            console.print(f"[red]error:[/red] audit write failed: {exc}", highlight=False)
            return 2
        code = protect_step(files_root, out, store_url, keys, console)
        if code:
            return code
        code = gateway_step(company_url, store_url, ledger, console)
        if code:
            return code
        code = monitor_step(company_url, store_url, ledger, console)
        if code:
            return code
        return audit_step(out, ledger, keys, console)
