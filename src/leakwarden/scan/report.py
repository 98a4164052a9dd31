"""Scan and inventory output: a Rich table for people, JSON for machines, an HTML report.

The HTML report is one self-contained page (inline CSS, no scripts) rendered by Jinja2 with
autoescaping on, so a file name or a masked example can never inject markup.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from leakwarden.store.records import InventoryChange, InventoryEntry, ScanProblem

if TYPE_CHECKING:
    from rich.console import Console

    from leakwarden.scan.scanner import ScanReport


def entry_json(entry: InventoryEntry) -> dict[str, Any]:
    return {
        "source": entry.location.source,
        "container": entry.location.container,
        "field": entry.location.field,
        "type": entry.pi_type,
        "sensitivity": entry.sensitivity,
        "confidence": entry.confidence,
        "evidence": entry.evidence,
        "rows_scanned": entry.rows_scanned,
        "rows_total": entry.rows_total,
        "source_kind": str(entry.source_kind),
        "first_seen": entry.first_seen.isoformat() if entry.first_seen else None,
        "last_seen": entry.last_seen.isoformat() if entry.last_seen else None,
    }


def problem_json(problem: ScanProblem) -> dict[str, Any]:
    return {
        "source": problem.location.source,
        "container": problem.location.container,
        "field": problem.location.field,
        "problem": problem.problem,
        "position": problem.position,
    }


def change_json(change: InventoryChange) -> dict[str, Any]:
    return {
        "kind": change.kind,
        "entry": entry_json(change.entry),
        "previous": entry_json(change.previous) if change.previous is not None else None,
    }


def report_json(report: ScanReport, exit_code: int | None = None) -> dict[str, Any]:
    """The whole scan as one JSON-able object."""
    sources = []
    for result in report.results:
        sources.append(
            {
                "source": result.source,
                "containers_scanned": result.containers_scanned,
                "bytes_scanned": result.bytes_scanned,
                "rows_scanned": result.rows_scanned,
                "unreadable": result.source in report.unreadable,
                "entries": [entry_json(e) for e in result.entries],
                "problems": [problem_json(p) for p in result.problems],
            }
        )
    entries = report.entries
    out: dict[str, Any] = {
        "sources": sources,
        "summary": {
            "entries": len(entries),
            "sensitive": sum(1 for e in entries if e.sensitivity == "sensitive"),
            "problems": len(report.problems),
            "unreadable_sources": list(report.unreadable),
        },
    }
    if exit_code is not None:
        out["exit_code"] = exit_code
    return out


def _where(entry: InventoryEntry) -> str:
    loc = entry.location
    return f"{loc.container} › {loc.field}" if loc.field else loc.container


def _ratio(entry: InventoryEntry) -> str:
    ev = entry.evidence
    kind = ev.get("kind")
    if kind == "text":
        return f"{ev.get('findings', ev.get('matched'))} in {ev.get('sampled')} lines"
    if kind == "mentions":
        return f"{ev.get('cells_with')}/{ev.get('sampled')} cells"
    return f"{ev.get('validated') or ev.get('matched')}/{ev.get('sampled')}"


def entries_table(entries: Sequence[InventoryEntry], title: str) -> Any:
    from rich.table import Table

    table = Table(title=title, title_justify="left", show_lines=False)
    table.add_column("location", overflow="fold")
    table.add_column("type")
    table.add_column("sensitivity")
    table.add_column("confidence", justify="right")
    table.add_column("matched/sampled", justify="right")
    table.add_column("examples", overflow="fold")
    for e in entries:
        style = "bold red" if e.sensitivity == "sensitive" else None
        examples = e.evidence.get("examples") or []
        shown = ", ".join(str(x) for x in examples) if isinstance(examples, list) else ""
        table.add_row(
            _where(e),
            e.pi_type,
            e.sensitivity,
            f"{e.confidence:.2f}",
            _ratio(e),
            shown,
            style=style,
        )
    return table


def problems_table(problems: Sequence[ScanProblem], title: str) -> Any:
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    table.add_column("file / table", overflow="fold")
    table.add_column("position")
    table.add_column("problem", overflow="fold")
    for p in problems:
        where = p.location.container or p.location.source
        if p.location.field:
            where += f" › {p.location.field}"
        table.add_row(where, p.position, p.problem)
    return table


def print_report(console: Console, report: ScanReport) -> None:
    for result in report.results:
        console.print(
            f"[bold]{result.source}[/bold]: {result.containers_scanned} files/tables, "
            f"{result.bytes_scanned:,} bytes, {result.rows_scanned:,} rows read",
            markup=True,
            highlight=False,
        )
        if result.entries:
            console.print(entries_table(result.entries, "personal information found"))
        else:
            console.print("  no personal information found")
        if result.problems:
            console.print(problems_table(result.problems, "skipped or partly read"))


def print_changes(console: Console, changes: Iterable[InventoryChange], title: str) -> None:
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    table.add_column("change")
    table.add_column("location", overflow="fold")
    table.add_column("type")
    table.add_column("sensitivity")
    table.add_column("confidence", justify="right")
    rows = 0
    for c in changes:
        rows += 1
        confidence = f"{c.entry.confidence:.2f}"
        if c.previous is not None:
            confidence = f"{c.previous.confidence:.2f} → {confidence}"
        style = {"added": "green", "removed": "red", "changed": "yellow"}.get(c.kind)
        table.add_row(
            c.kind, _where(c.entry), c.entry.pi_type, c.entry.sensitivity, confidence, style=style
        )
    if rows:
        console.print(table)
    else:
        console.print("no changes")


def render_html(report: ScanReport) -> str:
    """The self-contained HTML report (see ``templates/report.html``)."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("leakwarden.scan", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    template = env.get_template("report.html")
    return template.render(
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        results=report.results,
        unreadable=set(report.unreadable),
        where=_where,
        ratio=_ratio,
        total_entries=len(report.entries),
        total_sensitive=sum(1 for e in report.entries if e.sensitivity == "sensitive"),
        total_problems=len(report.problems),
    )
