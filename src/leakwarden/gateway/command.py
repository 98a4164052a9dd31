"""``leakwarden serve`` (the gateway service under uvicorn), ``leakwarden token issue | revoke
| list`` (API tokens) and ``leakwarden query`` (SQL through a running gateway, over HTTP).  The
lead registers :func:`serve_command`, :data:`token_app` and :func:`query_command` in the CLI.

Exit status: 0 done (also when the answer stopped at the row limit or a quota, which stderr
says), 1 the gateway refused or failed the query, the answer stopped on an error, or it was cut
in transit (no ``--output`` file is then written), 2 bad input or an unreachable database /
gateway.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import typer

from leakwarden.commandline import fail as _fail
from leakwarden.commandline import open_store as _store

if TYPE_CHECKING:
    pass

__all__ = ["query_command", "serve_command", "token_app"]

token_app = typer.Typer(
    help="API tokens of the access gateway: issue (shown once), revoke, list.",
    no_args_is_help=True,
)

_STORE = typer.Option(
    None, "--url", help="Store URL (default: $LEAKWARDEN_DB_URL or ./leakwarden.db)"
)
_COMPANY = typer.Option(
    None,
    "--company-url",
    help="The customer database (default: $LEAKWARDEN_GATEWAY_COMPANY_URL or the demo company, "
    "sqlite:///leakwarden-demo/company.db).",
)


@token_app.command("issue")
def issue(
    employee: int | None = typer.Option(None, "--employee", help="Employee id (employees.id)."),
    service: str | None = typer.Option(None, "--service", help="Or a service name."),
    expires: str = typer.Option("8h", "--expires", help="Lifetime: 30m, 8h, 7d, 2w."),
    label: str | None = typer.Option(None, "--label", help="A note (who, what for)."),
    url: str | None = _STORE,
    company_url: str | None = _COMPANY,
    as_json: bool = typer.Option(False, "--json", help="Print JSON for machines."),
) -> None:
    """Issue a token.  The token is printed once and stored only as a hash: keep it now."""
    from leakwarden.gateway.identity import AuthError, TokenStore, load_principal, parse_duration
    from leakwarden.gateway.settings import GatewaySettings
    from leakwarden.store import db

    try:
        ttl = parse_duration(expires)
    except ValueError as exc:
        _fail(f"--expires: {exc}")
    if (employee is None) == (service is None):
        _fail("give exactly one of --employee or --service")
    if employee is not None:
        settings = GatewaySettings.from_env(company_url=company_url)
        try:
            load_principal(db.make_engine(settings.company_url), employee)
        except (AuthError, db.StoreError) as exc:
            _fail(f"--employee {employee}: {exc}")
    store = TokenStore(_store(url))
    try:
        issued = store.issue(employee_id=employee, service=service, ttl=ttl, label=label)
    except ValueError as exc:
        _fail(str(exc))
    bound = f"employee {employee}" if employee is not None else f"service {service}"
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "token": issued.token,
                    "token_id": issued.token_id,
                    "bound_to": bound,
                    "expires_at": issued.expires_at.isoformat(),
                }
            )
        )
        return
    from rich.console import Console

    console = Console()
    console.print(
        f"token [bold]{issued.token_id}[/] for {bound}, "
        f"expires {issued.expires_at:%Y-%m-%d %H:%M} UTC"
    )
    console.print("shown once, stored only as a hash:", style="yellow")
    typer.echo(issued.token)


@token_app.command("revoke")
def revoke(
    token_id: str = typer.Argument(..., help="The token id (the part after lw_)."),
    url: str | None = _STORE,
) -> None:
    """Revoke a token at once."""
    from leakwarden.gateway.identity import TokenStore

    if not TokenStore(_store(url)).revoke(token_id):
        _fail(f"no active token {token_id!r}")
    typer.echo(f"revoked {token_id}")


@token_app.command("list")
def list_tokens(
    url: str | None = _STORE,
    as_json: bool = typer.Option(False, "--json", help="Print JSON for machines."),
) -> None:
    """Tokens with their binding and state (never a secret)."""
    from leakwarden.gateway.identity import TokenStore

    now = datetime.now(UTC)
    infos = TokenStore(_store(url)).list()
    rows = [
        {
            "token_id": i.token_id,
            "bound_to": f"employee {i.employee_id}"
            if i.employee_id is not None
            else f"service {i.service}",
            "state": i.state(now),
            "expires_at": i.expires_at.isoformat(),
            "label": i.label or "",
        }
        for i in infos
    ]
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("token id", "bound to", "state", "expires (UTC)", "label", title="gateway tokens")
    for r in rows:
        table.add_row(r["token_id"], r["bound_to"], r["state"], r["expires_at"][:16], r["label"])
    Console().print(table)


def serve_command(
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Address to listen on (loopback by default)."
    ),
    port: int = typer.Option(8750, "--port", help="Port."),
    company_url: str | None = _COMPANY,
    url: str | None = _STORE,
    relay: bool = typer.Option(
        False,
        "--relay/--no-relay",
        help="Print waybills with virtual relay numbers (needs the key ring's master key: "
        "$LEAKWARDEN_MASTER_KEY, or --master-env).",
    ),
    relay_lines: str = typer.Option("95013", "--relay-lines", help="Comma-separated lines."),
    master_env: str | None = typer.Option(
        None, "--master-env", help="Environment variable holding the base64 master key."
    ),
) -> None:
    """Run the access gateway (FastAPI under uvicorn); OpenAPI at /openapi.json."""
    import os

    import uvicorn

    from leakwarden.gateway.app import create_app
    from leakwarden.gateway.settings import GatewaySettings
    from leakwarden.store import db

    try:
        settings = GatewaySettings.from_env(company_url=company_url, store_url=url)
    except ValueError as exc:
        _fail(str(exc))
    from rich.console import Console

    console = Console(stderr=True)
    for k, v in settings.describe().items():
        console.print(f"{k:>10}: {v}")
    if host not in ("127.0.0.1", "::1", "localhost"):
        console.print(f"listening on {host}: not loopback; put TLS in front", style="yellow")
    registry = None
    ring = None
    from leakwarden.protect.keys import KeyRingError
    from leakwarden.protect.keys_command import MASTER_ENV, open_key_ring

    if relay or os.environ.get(master_env or MASTER_ENV):
        try:
            ring = open_key_ring(url, master_env=master_env)
        except (KeyRingError, ValueError) as exc:
            _fail(f"key ring: {exc}")
    if ring is None:
        console.print(
            "   exports: off (bulk exports need the key ring's master key: "
            f"${master_env or MASTER_ENV})"
        )
    if relay:
        from leakwarden.protect.vault import TokenVault
        from leakwarden.protect.waybill import RELAY_NAMESPACE, RelayRegistry

        assert ring is not None
        try:
            ring.ensure("relay", "relay")
            lines = [x.strip() for x in relay_lines.split(",") if x.strip()]
            vault = TokenVault(ring, namespace=RELAY_NAMESPACE)
            registry = RelayRegistry(ring, vault, lines=lines)
        except (KeyRingError, ValueError) as exc:
            _fail(f"--relay: {exc}")
    try:
        app = create_app(settings, relay=registry, keys=ring)
    except (db.StoreError, ValueError) as exc:
        _fail(str(exc))
    # No access log: request lines carry phone and waybill numbers; the audit ledger is the
    # access record (ids, counts, policies; never values).
    uvicorn.run(app, host=host, port=port, access_log=False, log_level="warning")


def _http_client(url: str, timeout: float) -> Any:
    """The HTTP client of :func:`query_command` (tests replace it with a TestClient)."""
    import httpx

    return httpx.Client(base_url=url, timeout=timeout)


def query_command(
    sql: str = typer.Argument(..., help="One SELECT statement (the company database's dialect)."),
    purpose: str = typer.Option(..., "--purpose", help="Why the data is needed."),
    ticket: str | None = typer.Option(None, "--ticket", help="The work ticket number."),
    url: str = typer.Option(
        "http://127.0.0.1:8750",
        "--url",
        envvar="LEAKWARDEN_GATEWAY_URL",
        help="The gateway (leakwarden serve).",
    ),
    token: str | None = typer.Option(
        None,
        "--token",
        envvar="LEAKWARDEN_TOKEN",
        show_default=False,
        help="API token (or $LEAKWARDEN_TOKEN, which keeps it off the command line).",
    ),
    max_rows: int | None = typer.Option(
        None, "--max-rows", help="At most this many rows (at most the gateway's quota)."
    ),
    aggregate: bool = typer.Option(
        False,
        "--aggregate",
        help="Aggregate-only answer (COUNT/SUM/AVG by GROUP BY columns): small groups "
        "suppressed, charged rows and bytes instead of customers.",
    ),
    fmt: str = typer.Option("table", "--format", help="table (people), json, csv or ndjson."),
    output: str | None = typer.Option(
        None,
        "--output",
        "-o",
        help="Write the answer to this file (csv, json or ndjson), atomically: the file appears "
        "only once the answer has ended.",
    ),
    timeout: float = typer.Option(60.0, "--timeout", help="Seconds to wait for the gateway."),
) -> None:
    """Run SQL through the access gateway: masks, row filter, quotas and audit apply.  The
    answer is streamed (CSV and NDJSON are written as it arrives); an answer that stopped at a
    limit says so on stderr."""
    import httpx

    from leakwarden.gateway.query_client import NDJSON, StreamCut

    if fmt not in ("table", "json", "csv", "ndjson"):
        _fail(f"--format: {fmt!r} is not one of table, json, csv, ndjson")
    if output and fmt == "table":
        _fail("--output: give --format csv, json or ndjson for a file")
    if not token:
        _fail("no API token: give --token or set LEAKWARDEN_TOKEN")
    body: dict[str, Any] = {"sql": sql, "purpose": purpose}
    if ticket:
        body["ticket"] = ticket
    if max_rows is not None:
        body["max_rows"] = max_rows
    if aggregate:
        body["mode"] = "aggregate"
    headers = {"Authorization": f"Bearer {token}", "Accept": NDJSON}
    try:
        with (
            _http_client(url, timeout) as client,
            client.stream("POST", "/query", json=body, headers=headers) as r,
        ):
            if r.status_code != 200:
                r.read()
                try:
                    answer = r.json()
                except ValueError:
                    answer = {"detail": r.text[:200]}
                detail = answer.get("detail", answer) if isinstance(answer, dict) else answer
                _fail(f"HTTP {r.status_code}: {detail}", code=1)
            done = _write_answer(r.iter_lines(), fmt, output)
    except httpx.HTTPError as exc:
        _fail(f"gateway {url} unreachable: {type(exc).__name__}: {exc}")
    except StreamCut as exc:
        _fail(f"the answer was cut: {exc}; {'no file written' if output else 'incomplete'}", 1)
    except OSError as exc:
        _fail(f"--output {output}: {exc}")
    _summary(done)


def _write_answer(lines: Any, fmt: str, output: str | None) -> Any:
    """Read the answer's ``lines`` into ``fmt`` on stdout or, atomically, into ``output``."""
    import contextlib
    import csv
    import sys

    from leakwarden.fileio import atomic_path
    from leakwarden.gateway.query_client import read_answer

    with contextlib.ExitStack() as stack:
        sink: Any
        if output:
            tmp = stack.enter_context(atomic_path(output))
            sink = stack.enter_context(open(tmp, "w", encoding="utf-8", newline=""))
        else:
            sink = sys.stdout
        if fmt == "ndjson":
            return read_answer(_tee(lines, sink))
        if fmt == "csv":
            writer = csv.writer(sink, lineterminator="\n")
            return read_answer(
                lines,
                on_header=lambda h: writer.writerow(h["columns"]),
                on_rows=lambda rows: writer.writerows(
                    ["" if v is None else v for v in row] for row in rows
                ),
            )
        answer = read_answer(lines)
        if fmt == "json":
            doc = {k: v for k, v in answer.header.items() if k != "type"}
            doc["rows"] = answer.rows
            doc["end"] = {k: v for k, v in answer.end.items() if k != "type"}
            sink.write(json.dumps(doc, ensure_ascii=False) + "\n")
            return answer
        from rich.console import Console
        from rich.table import Table

        table = Table(*answer.header["columns"], title=f"query {answer.header['fingerprint'][:12]}")
        for row in answer.rows:
            table.add_row(*("" if v is None else str(v) for v in row))
        Console().print(table)
        return answer
    raise AssertionError("unreachable")


def _tee(lines: Any, sink: Any) -> Any:
    for line in lines:
        if line.strip():
            sink.write(line.rstrip("\n") + "\n")
        yield line


def _summary(answer: Any) -> None:
    """What the answer cost and whether it is complete, on stderr; exit 1 when it stopped for
    a reason other than a limit (an error, consent, ticket, the time limit)."""
    from rich.console import Console

    err = Console(stderr=True)
    head, end = answer.header, answer.end
    last = end["audit_index"] if end["audit_index"] is not None else "(none)"
    err.print(
        f"{end['rows']} rows, {end['customers']} customers charged ({head['customer_basis']}), "
        f"audit entries {head['audit_index']}..{last}"
    )
    notes = head.get("notes") or {}
    if notes.get("suppressed"):
        err.print(
            f"{notes['suppressed']} groups suppressed (fewer than {notes.get('min_group')} "
            "customers, or too close to an earlier answer)",
            style="yellow",
        )
    if end["complete"]:
        return
    err.print(end.get("reason") or f"stopped: {end.get('stopped')}", style="yellow")
    if end.get("stopped") not in ("row limit", "quota"):
        raise typer.Exit(1)
