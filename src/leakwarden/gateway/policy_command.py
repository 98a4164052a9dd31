# ruff: noqa: B008  (typer reads its options from argument defaults)
"""``leakwarden policy ...``: run a policy directory's test cases (``policy test``) and show how
one request is decided (``policy explain``).  The lead registers :data:`policy_app` in the CLI.

Exit status: 0 every case passed (``explain``: the request is allowed), 1 a case failed
(``explain``: denied), 2 bad input (a policy that does not load, an unreadable case file).
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from leakwarden.commandline import fail as _fail
from leakwarden.gateway.catalog import Catalog
from leakwarden.gateway.decision import ACTIONS, AccessRequest, Principal
from leakwarden.gateway.policy import (
    CaseError,
    PolicyEngine,
    PolicyLoadError,
    load_cases,
    run_cases,
    unexercised,
)

policy_app = typer.Typer(
    help="The gateway's Cedar policies: test them, explain a decision.", no_args_is_help=True
)

_POLICIES = typer.Argument(
    None, help="Policy directory (*.cedar, one *.cedarschema, tests/*.json); default: shipped."
)


def _engine(directory: Path | None) -> PolicyEngine:
    try:
        return PolicyEngine.load(directory)
    except PolicyLoadError as exc:
        _fail(str(exc))
        raise AssertionError from None  # unreachable


def _check_format(fmt: str) -> None:
    if fmt not in ("table", "json"):
        _fail(f"--format {fmt!r}: use table or json")


@policy_app.command("test")
def test_command(
    directory: Path | None = _POLICIES,
    cases: list[Path] | None = typer.Option(
        None, "--cases", help="Case files or folders (default: the policy directory's tests/)."
    ),
    fmt: str = typer.Option("table", "--format", help="table or json"),
) -> None:
    """Run the policy test cases against the policies (the demo company's catalogue)."""
    _check_format(fmt)
    engine = _engine(directory)
    paths = list(cases) if cases else [engine.directory / "tests"]
    missing = [p for p in paths if not p.exists()]
    if missing:
        _fail(f"no test cases at {missing[0]}")
    try:
        loaded = load_cases(paths)
    except CaseError as exc:
        _fail(str(exc))
    if not loaded:
        _fail(f"no test cases in {', '.join(map(str, paths))}")
    results = run_cases(engine, loaded, Catalog.from_demo())
    failed = sum(not r.passed for r in results)
    untested = unexercised(engine, results)
    if fmt == "json":
        out = {
            "policies": str(engine.directory),
            "passed": len(results) - failed,
            "failed": failed,
            "unexercised_policies": untested,
            "cases": [
                {
                    "file": r.case.file,
                    "name": r.case.name,
                    "passed": r.passed,
                    "problems": r.problems,
                    "allowed": r.decision.allowed,
                    "reason": r.decision.reason,
                    "policy_ids": r.decision.policy_ids,
                }
                for r in results
            ],
        }
        typer.echo(json.dumps(out, ensure_ascii=False, indent=2))
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table(title=f"policy tests: {engine.directory}")
        table.add_column("result")
        table.add_column("case")
        table.add_column("file")
        table.add_column("problems")
        for r in results:
            mark = "[green]pass[/green]" if r.passed else "[red]FAIL[/red]"
            table.add_row(mark, r.case.name, r.case.file, "\n".join(r.problems))
        console = Console()
        console.print(table)
        if untested:
            console.print(f"[yellow]policies no case exercises: {', '.join(untested)}[/yellow]")
        console.print(f"policy cases: {len(results) - failed} passed, {failed} failed")
    raise typer.Exit(1 if failed else 0)


@policy_app.command("explain")
def explain_command(
    table: str = typer.Option(..., "--table", help="Table asked for."),
    columns: str = typer.Option(..., "--columns", help="Comma-separated column names."),
    purpose: str = typer.Option(..., "--purpose", help="Purpose of the request."),
    role: str = typer.Option(..., "--role", help="Role id or the demo company's title (客服专员)."),
    department: str = typer.Option(..., "--department", help="Department id or name (客服)."),
    region: str = typer.Option("", "--region", help="The principal's region (浙江杭州)."),
    kind: str = typer.Option("person", "--kind", help="person or service"),
    action: str = typer.Option("read", "--action", help=f"One of {', '.join(ACTIONS)}."),
    ticket: str | None = typer.Option(None, "--ticket", help="Work ticket id."),
    ticket_checked: bool = typer.Option(
        False, "--ticket-checked", help="Treat the ticket as checked (open, assigned, about it)."
    ),
    customer: list[int] | None = typer.Option(None, "--customer", help="Customer id (repeat)."),
    policies: Path | None = typer.Option(None, "--policies", help="Policy directory."),
    fmt: str = typer.Option("table", "--format", help="table or json"),
) -> None:
    """Show the decision for one request and every Cedar evaluation behind it."""
    _check_format(fmt)
    if action not in ACTIONS:
        _fail(f"--action {action!r}: use one of {', '.join(ACTIONS)}")
    if kind not in ("person", "service"):
        _fail(f"--kind {kind!r}: use person or service")
    engine = _engine(policies)
    catalog = Catalog.from_demo()
    request = AccessRequest(
        principal=Principal("cli", role, department, region, kind=kind),  # type: ignore[arg-type]
        action=action,  # type: ignore[arg-type]
        purpose=purpose,
        table=table,
        columns=tuple(c.strip() for c in columns.split(",") if c.strip()),
        ticket=ticket,
        customer_ids=tuple(customer) if customer else None,
        ticket_checked=ticket_checked,
    )
    decision = engine.decide(request, catalog)
    try:
        evaluations = engine.explain(request, catalog)
    except (KeyError, ValueError):
        evaluations = []  # an unknown table or column: the decision's reason says which
    if fmt == "json":
        out = {
            "allowed": decision.allowed,
            "reason": decision.reason,
            "policy_ids": decision.policy_ids,
            "treatments": {c: str(t) for c, t in decision.treatments.items()},
            "row_filter": decision.row_filter,
            "evaluations": [
                {
                    "target": e.target,
                    "action": e.action,
                    "allowed": e.allowed,
                    "policy_ids": e.policy_ids,
                    "errors": e.errors,
                }
                for e in evaluations
            ],
        }
        typer.echo(json.dumps(out, ensure_ascii=False, indent=2))
    else:
        from rich.console import Console
        from rich.table import Table

        console = Console()
        colour = "green" if decision.allowed else "red"
        reason = decision.reason.removeprefix("denied: ")
        console.print(
            f"[{colour}]{'allowed' if decision.allowed else 'denied'}[/{colour}]: {reason}"
        )
        if decision.row_filter:
            console.print(f"row filter: {decision.row_filter}")
        treatments = Table(title="treatment per column")
        treatments.add_column("column")
        treatments.add_column("treatment")
        for c, t in decision.treatments.items():
            treatments.add_row(c, str(t))
        console.print(treatments)
        detail = Table(title="Cedar evaluations")
        for name in ("target", "action", "decision", "policies", "errors"):
            detail.add_column(name)
        for e in evaluations:
            detail.add_row(
                e.target,
                e.action,
                "allow" if e.allowed else "deny",
                ", ".join(e.policy_ids),
                "; ".join(e.errors),
            )
        if evaluations:
            console.print(detail)
    raise typer.Exit(0 if decision.allowed else 1)
