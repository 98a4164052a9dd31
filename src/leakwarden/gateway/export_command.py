"""``leakwarden export request | pending | approve | reject | execute | show | decrypt``: bulk
exports with two-person approval (:mod:`leakwarden.gateway.exports`).  The lead registers
:data:`export_app`.

Every command but ``decrypt`` is an HTTP client of a running gateway (``--url`` or
``$LEAKWARDEN_GATEWAY_URL``, token from ``--token`` or ``$LEAKWARDEN_TOKEN``): who approves is the
gateway's authenticated caller, never a name typed on a command line, and the audit is the
gateway's.  ``execute --out FILE`` also downloads the encrypted file.  ``decrypt`` is local: it
opens the key ring (``--store``, master key options as ``leakwarden keys``) and writes the CSV
atomically.  Results print as a Rich table for people or JSON (``--json``) for machines; errors
name the refused rule and exit 1 (gateway refusal) or 2 (bad input, gateway unreachable).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from leakwarden.commandline import fail as _fail

__all__ = ["export_app"]

export_app = typer.Typer(
    help="Bulk exports through the gateway: request, approve (another person), execute once, "
    "decrypt.",
    no_args_is_help=True,
)

_URL = typer.Option(
    "http://127.0.0.1:8750", "--url", envvar="LEAKWARDEN_GATEWAY_URL", help="The gateway."
)
_TOKEN = typer.Option(
    None,
    "--token",
    envvar="LEAKWARDEN_TOKEN",
    show_default=False,
    help="API token (or $LEAKWARDEN_TOKEN, which keeps it off the command line).",
)
_JSON = typer.Option(False, "--json", help="Print JSON instead of a table.")


def _http_client(url: str, timeout: float) -> Any:
    """The HTTP client (tests replace it with a TestClient)."""
    import httpx

    return httpx.Client(base_url=url, timeout=timeout)


def _call(
    method: str, path: str, url: str, token: str | None, body: dict[str, Any] | None = None
) -> Any:
    import httpx

    if not token:
        _fail("no API token: give --token or set LEAKWARDEN_TOKEN")
    try:
        with _http_client(url, 120.0) as client:
            r = client.request(
                method, path, json=body, headers={"Authorization": f"Bearer {token}"}
            )
    except httpx.HTTPError as exc:
        _fail(f"gateway {url} unreachable: {type(exc).__name__}: {exc}")
    if r.status_code != 200:
        try:
            detail = r.json().get("detail", r.text[:200])
        except ValueError:
            detail = r.text[:200]
        _fail(f"HTTP {r.status_code}: {detail}", code=1)
    return r


def _print(answer: dict[str, Any], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(answer, ensure_ascii=False))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"export request {answer.get('id', '')}", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    for key, value in answer.items():
        if value is None or value == [] or value == {}:
            continue
        shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        table.add_row(key, shown)
    Console().print(table)


@export_app.command("request")
def request_command(
    sql: str = typer.Argument(..., help="One SELECT statement."),
    purpose: str = typer.Option(..., "--purpose", help="Why the export is needed."),
    recipient: str = typer.Option(..., "--recipient", help="Who receives the file."),
    ticket: str | None = typer.Option(None, "--ticket", help="The work ticket."),
    hours: float = typer.Option(24.0, "--expires-in-hours", help="How long approval may wait."),
    url: str = _URL,
    token: str | None = _TOKEN,
    as_json: bool = _JSON,
) -> None:
    """Request an export; prints whether it needs approval, and the estimate."""
    body = {
        "sql": sql,
        "purpose": purpose,
        "recipient": recipient,
        "ticket": ticket,
        "expires_in_hours": hours,
    }
    _print(_call("POST", "/exports", url, token, body).json(), as_json)


@export_app.command("approve")
def approve_command(
    request_id: str = typer.Argument(..., help="The export request id (xr_...)."),
    note: str = typer.Option("", "--note", help="Why."),
    url: str = _URL,
    token: str | None = _TOKEN,
    as_json: bool = _JSON,
) -> None:
    """Approve another person's export request (your role must be an approver role)."""
    r = _call("POST", f"/exports/{request_id}/approve", url, token, {"note": note})
    _print(r.json(), as_json)


@export_app.command("reject")
def reject_command(
    request_id: str = typer.Argument(..., help="The export request id (xr_...)."),
    note: str = typer.Option("", "--note", help="Why."),
    url: str = _URL,
    token: str | None = _TOKEN,
    as_json: bool = _JSON,
) -> None:
    """Reject another person's export request."""
    r = _call("POST", f"/exports/{request_id}/reject", url, token, {"note": note})
    _print(r.json(), as_json)


@export_app.command("execute")
def execute_command(
    request_id: str = typer.Argument(..., help="The export request id (xr_...)."),
    sql: str | None = typer.Option(
        None, "--sql", help="The query you expect to run: refused unless it is the approved one."
    ),
    out: Annotated[
        Path | None, typer.Option("--out", help="Also download the encrypted file.")
    ] = None,
    url: str = _URL,
    token: str | None = _TOKEN,
    as_json: bool = _JSON,
) -> None:
    """Run your approved export once; the gateway writes the encrypted file."""
    r = _call("POST", f"/exports/{request_id}/execute", url, token, {"sql": sql})
    answer = r.json()
    if out is not None:
        from leakwarden.fileio import write_atomic

        blob = _call("GET", f"/exports/{request_id}/file", url, token).content
        write_atomic(out, blob)
        answer["downloaded_to"] = str(out)
    _print(answer, as_json)


@export_app.command("show")
def show_command(
    request_id: str = typer.Argument(..., help="The export request id (xr_...)."),
    url: str = _URL,
    token: str | None = _TOKEN,
    as_json: bool = _JSON,
) -> None:
    """A request, its approvals and (once executed) its export."""
    _print(_call("GET", f"/exports/{request_id}", url, token).json(), as_json)


@export_app.command("pending")
def pending_command(url: str = _URL, token: str | None = _TOKEN, as_json: bool = _JSON) -> None:
    """Export requests waiting for your approval (approver roles only)."""
    answer = _call("GET", "/exports", url, token).json()
    if as_json:
        typer.echo(json.dumps(answer, ensure_ascii=False))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="export requests waiting for approval")
    for name in ("id", "requester", "purpose", "recipient", "rows", "customers", "sensitive"):
        table.add_column(name)
    for a in answer:
        table.add_row(
            a["id"],
            a["requester"],
            a["purpose"],
            a["recipient"],
            str(a["estimated_rows"]),
            "?" if a["estimated_customers"] is None else str(a["estimated_customers"]),
            ", ".join(a["sensitive_columns"]),
        )
    Console().print(table)


@export_app.command("decrypt")
def decrypt_command(
    file: Annotated[Path, typer.Argument(help="An encrypted export file (.lwx).")],
    out: Annotated[Path, typer.Option("--out", help="Where to write the CSV.")],
    store: str | None = typer.Option(None, "--store", help="Store URL holding the key ring."),
    master_file: Annotated[
        Path | None, typer.Option("--master-file", help="Master key file.")
    ] = None,
    master_env: str | None = typer.Option(None, "--master-env", help="Master key variable."),
) -> None:
    """Decrypt an export file with the key ring (the recipient's step)."""
    from leakwarden.fileio import write_atomic
    from leakwarden.gateway.exports import decrypt_export
    from leakwarden.protect.keys import KeyRingError
    from leakwarden.protect.keys_command import open_key_ring

    try:
        blob = file.read_bytes()
    except OSError as exc:
        _fail(f"{file}: {exc.strerror or exc}")
    try:
        with open_key_ring(store, master_file=master_file, master_env=master_env) as ring:
            header, plain = decrypt_export(blob, ring)
    except (KeyRingError, ValueError) as exc:
        _fail(f"{file}: {exc}")
    write_atomic(out, plain)
    typer.echo(
        f"{file}: export {header['export_id']} ({header['key_name']} v{header['key_version']}) "
        f"-> {out}"
    )
