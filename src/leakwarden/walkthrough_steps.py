"""The main job's steps after discovery: protect the leaked files, serve customer-service
requests through the gateway, and verify the audit ledger that recorded every step.

Each step runs the same code a user's command runs (``leakwarden protect``, the gateway's
record service, ``leakwarden audit verify``), on the demo company that discovery just scanned.
The demo's keys (the key ring's master key, the ledger's checkpoint-signing key) are generated
into ``<out>/keys`` with mode 0600 on the first run and reused after: demo keys, never a
production setup (use a KMS-held master key and a signing key kept outside the host there).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

    from leakwarden.audit.ledger import Ledger
    from leakwarden.audit.note import Signer, VerifierKey

KEYS_DIR = "keys"
PROTECTED_DIR = "protected"
CHECKPOINTS_DIR = "checkpoints"
AUDIT_KEY_NAME = "leakwarden-demo-audit"
AUDIT_ORIGIN = "leakwarden.local/demo-audit"
#: The key ring key of the inventory rules' FF1 and vault operators.
PROTECT_KEY = "pi"
#: What ``leakwarden protect`` rewrites (CSV/TSV, JSON Lines, Parquet).
REWRITTEN_SUFFIXES = frozenset({".csv", ".tsv", ".jsonl", ".ndjson", ".parquet"})


@dataclass
class DemoKeys:
    master_file: Path
    signer: Signer
    verifier: VerifierKey


def demo_keys(out: Path) -> DemoKeys:
    """The demo's master key file and checkpoint-signing key, created on the first run."""
    from leakwarden.audit.note import Signer, generate_keys, load_verifier
    from leakwarden.protect.keys import MasterKey

    keys = out / KEYS_DIR
    keys.mkdir(parents=True, exist_ok=True)
    master = keys / "master.key"
    if not master.exists():
        MasterKey.write_file(master)
    private, public = keys / f"{AUDIT_KEY_NAME}.key", keys / f"{AUDIT_KEY_NAME}.pub"
    if not private.exists() or not public.exists():
        generate_keys(AUDIT_KEY_NAME, private, public)
    return DemoKeys(master, Signer.load(private), load_verifier(public))


def open_ledger(out: Path, store_url: str, keys: DemoKeys) -> Ledger:
    """The store's audit ledger, publishing signed checkpoints to ``<out>/checkpoints``."""
    from leakwarden.audit.checkpoints import Publisher
    from leakwarden.audit.ledger import Ledger

    publisher = Publisher(out / CHECKPOINTS_DIR, keys.signer, origin=AUDIT_ORIGIN)
    return Ledger.open(store_url, publisher=publisher)


def protect_step(
    files_root: Path, out: Path, store_url: str, keys: DemoKeys, console: Console
) -> int:
    """``leakwarden protect <files> --from-inventory``: the leaked files, rewritten with what
    discovery found in them masked, encrypted (FF1) or tokenised.  Returns the exit code."""
    import typer
    from typer.main import get_command

    from leakwarden.protect.command import protect_command
    from leakwarden.protect.keys import KeyRing, MasterKey

    ring = KeyRing.open(store_url, MasterKey.from_file(keys.master_file))
    try:
        ring.ensure(PROTECT_KEY)  # `leakwarden keys create pi` on the first run
    finally:
        ring.close()
    command = typer.Typer(add_completion=False)
    command.command()(protect_command)
    exports = files_root / "exports"
    targets = sorted(p for p in exports.rglob("*") if p.suffix.lower() in REWRITTEN_SUFFIXES)
    skipped = sorted(
        str(p.relative_to(files_root))
        for p in files_root.rglob("*")
        if p.is_file() and p not in targets and p.name != "manifest.json"
    )
    args = [
        *(str(p.resolve()) for p in targets),
        "--from-inventory",
        "--out",
        str((out / PROTECTED_DIR).resolve()),
        "--db",
        store_url,
        "--master-file",
        str(keys.master_file),
        "--key",
        PROTECT_KEY,
    ]
    console.print(
        f"[bold]protect[/bold]: leakwarden protect {exports}/*.{{csv,tsv,jsonl,parquet}} "
        f"--from-inventory --out {out / PROTECTED_DIR}\n"
        f"  not rewritten here (workbooks, whole JSON documents, logs and clean files): "
        f"{', '.join(skipped)}",
        highlight=False,
    )
    try:
        code = get_command(command).main(args=args, standalone_mode=False)
    except typer.Exit as exc:  # pragma: no cover - click returns the code instead
        code = exc.exit_code
    return int(code or 0)


@dataclass
class GatewayCall:
    who: str
    what: str
    outcome: str
    shown: str


def gateway_step(company_url: str, store_url: str, ledger: Ledger, console: Console) -> int:
    """Customer-service requests through the gateway's record service: a lookup for the
    ticket's own customer (fields per policy), a lookup of another customer under the same ticket
    (refused), and a marketing analyst's read of the same customer (pseudonyms and masks).
    Every one of them is in the audit ledger before anything is shown."""
    from rich.table import Table
    from sqlalchemy import text

    from leakwarden.gateway.app import create_app
    from leakwarden.gateway.decision import Principal
    from leakwarden.gateway.records import CallContext, Refused
    from leakwarden.gateway.settings import GatewaySettings

    settings = GatewaySettings(company_url=company_url, store_url=store_url)
    app = create_app(settings, ledger=ledger)
    service = app.state.service
    with app.state.company.connect() as conn:  # the gateway's own engine on the company db
        ticket = (
            conn.execute(
                text(
                    "SELECT t.id, t.customer_id FROM tickets t "
                    "JOIN employees e ON e.id = t.assigned_employee_id "
                    "WHERE t.status = 'open' AND e.department = '客服' "
                    "ORDER BY t.id LIMIT 1"
                )
            )
            .mappings()
            .first()
        )
        analyst = (
            conn.execute(
                text("SELECT * FROM employees WHERE department = '营销' ORDER BY id LIMIT 1")
            )
            .mappings()
            .first()
        )
        agent_row = (
            conn.execute(
                text(
                    "SELECT e.* FROM employees e JOIN tickets t "
                    "ON t.assigned_employee_id = e.id WHERE t.id = :t"
                ),
                {"t": ticket["id"] if ticket else -1},
            )
            .mappings()
            .first()
        )
        other = conn.execute(
            text("SELECT id FROM customers WHERE id <> :c ORDER BY id LIMIT 1"),
            {"c": ticket["customer_id"] if ticket else -1},
        ).scalar()
    if ticket is None or agent_row is None or analyst is None or other is None:
        console.print(
            "[yellow]gateway: skipped: the demo company has no open customer-service ticket, "
            "no marketing employee or a single customer"
        )
        return 0

    agent = Principal.from_employee(dict(agent_row))
    marketer = Principal.from_employee(dict(analyst))
    calls: list[GatewayCall] = []

    def attempt(who: str, what: str, ctx: CallContext, customer: int) -> None:
        try:
            released = service.customer(ctx, customer)
        except Refused as exc:
            calls.append(GatewayCall(who, what, f"refused ({exc.status})", str(exc)))
            return
        record = released.records[0] if released.records else {}
        shown = ", ".join(
            f"{k}={v}" for k, v in record.items() if k in ("name", "mobile", "id_card", "email")
        )
        calls.append(
            GatewayCall(who, what, f"released (audit #{released.audit_index})", shown or "-")
        )

    cs = CallContext(agent, "customer_service", ticket=str(ticket["id"]))
    attempt(
        f"agent {agent.person_id}",
        f"ticket {ticket['id']}: its customer",
        cs,
        ticket["customer_id"],
    )
    attempt(f"agent {agent.person_id}", f"ticket {ticket['id']}: customer {other}", cs, other)
    mk = CallContext(marketer, "marketing")
    attempt(f"marketer {marketer.person_id}", "campaign: same customer", mk, ticket["customer_id"])

    table = Table(
        title="gateway: record requests (identity → purpose/ticket → policy → quota → audit)"
    )
    for column in ("who", "asks for", "outcome", "shown"):
        table.add_column(column)
    for call in calls:
        table.add_row(call.who, call.what, call.outcome, call.shown)
    console.print(table)
    return 0


def audit_step(out: Path, ledger: Ledger, keys: DemoKeys, console: Console) -> int:
    """``leakwarden audit verify``: the whole ledger against its published, signed checkpoints."""
    from leakwarden.audit.checkpoints import Publisher
    from leakwarden.audit.verify import verify_ledger

    Publisher(out / CHECKPOINTS_DIR, keys.signer, origin=AUDIT_ORIGIN).publish(ledger)
    report = verify_ledger(ledger, [out / CHECKPOINTS_DIR], [keys.verifier], workers=1)
    if report.problems:
        console.print(f"[red]audit ledger: {len(report.problems)} problem(s)[/red]")
        for problem in report.problems[:5]:
            console.print(f"  {problem}", highlight=False)
        return 1
    console.print(
        f"[bold]audit[/bold]: {report.rows:,} events in the ledger verify against the signed "
        f"checkpoints in {out / CHECKPOINTS_DIR} (check it yourself: leakwarden audit verify "
        f"--checkpoints {out / CHECKPOINTS_DIR} --key {out / KEYS_DIR / AUDIT_KEY_NAME}.pub)",
        highlight=False,
    )
    return 0


def monitor_step(company_url: str, store_url: str, ledger: Ledger, console: Console) -> int:
    """``leakwarden monitor run --company-url``: the ledger's events scored per person and day
    against the company's staff and tickets; alerts (within the daily budget) kept in the store.
    A demo's one day has no history for baselines, so this shows the wiring, not detection:
    the benchmark's simulated months do that."""
    from sqlalchemy import create_engine
    from sqlalchemy.exc import SQLAlchemyError

    from leakwarden.monitor.alert_store import AlertStore, publish
    from leakwarden.monitor.company_context import context_from_company
    from leakwarden.monitor.detector import MonitorConfig, run_monitor
    from leakwarden.monitor.ledger_events import events_from_ledger
    from leakwarden.store import db

    company = create_engine(company_url)
    try:
        context = context_from_company(company)
    except (SQLAlchemyError, ValueError) as exc:
        console.print(f"[red]monitor:[/red] {exc}", highlight=False)
        return 1
    finally:
        company.dispose()
    result = run_monitor(events_from_ledger(ledger), context, MonitorConfig())
    store = db.make_engine(store_url)
    try:
        alerts = AlertStore(store)
        publish(alerts, result.alerts, [])
        alerts.save_scores(result.scores)
    finally:
        store.dispose()
    console.print(
        f"[bold]monitor[/bold]: {result.scores.num_rows} person-days scored from the ledger "
        f"against {context.employees.num_rows} staff and their tickets; "
        f"{len(result.alerts)} alert(s) within the budget (leakwarden monitor alerts list; "
        "detection over simulated months: python -m benchmarks --only monitor)",
        highlight=False,
    )
    return 0
