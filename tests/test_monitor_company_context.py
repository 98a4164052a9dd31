"""The monitor's context read from a demo company database, and ``monitor run --company-url``."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from leakwarden.demo.build import build_company
from leakwarden.monitor.command import monitor_app
from leakwarden.monitor.company_context import context_from_company
from leakwarden.monitor.events import EVENT_SCHEMA


@pytest.fixture(scope="module")
def company(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('company') / 'company.db'}"
    build_company(url, customers=120, seed=3)
    return url


def test_context_matches_the_tables(company: str) -> None:
    engine = create_engine(company)
    ctx = context_from_company(engine)
    with engine.connect() as conn:
        n_emp = conn.execute(text("SELECT count(*) FROM employees")).scalar_one()
        n_tix = conn.execute(text("SELECT count(*) FROM tickets")).scalar_one()
        n_cust = conn.execute(text("SELECT count(*) FROM customers")).scalar_one()
        t_id, t_emp, t_cust = conn.execute(
            text("SELECT id, assigned_employee_id, customer_id FROM tickets ORDER BY id LIMIT 1")
        ).one()
        leavers = conn.execute(
            text("SELECT count(*) FROM employees WHERE leave_date IS NOT NULL")
        ).scalar_one()
        vips = conn.execute(text("SELECT count(*) FROM customers WHERE vip")).scalar_one()
    engine.dispose()
    assert ctx.employees.num_rows == n_emp
    assert ctx.tickets is not None and ctx.tickets.num_rows == n_tix
    assert ctx.customers is not None and ctx.customers.num_rows == n_cust
    first = ctx.tickets.slice(0, 1).to_pylist()[0]
    # the gateway's ids: str(employees.id) and str(tickets.id)
    assert (first["ticket_id"], first["assignee"], first["customer_id"]) == (
        str(t_id),
        str(t_emp),
        t_cust,
    )
    assert first["opened"].tzinfo is not None
    assert ctx.employees.column("leaving").null_count == n_emp - leavers
    assert sum(ctx.customers.column("vip").to_pylist()) == vips
    assert ctx.relationships is None


def test_a_database_without_the_demo_tables_is_named(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    with pytest.raises(ValueError, match="no employees, tickets, customers table"):
        context_from_company(engine)


def _events(path: Path, actor: str, ticket: str, customer: int) -> Path:
    ts = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
    table = pa.Table.from_pylist(
        [
            {
                "seq": 0,
                "ts": ts,
                "actor": actor,
                "action": "gateway.customer.read",
                "outcome": "allowed",
                "channel": "api",
                "purpose": "customer_service",
                "dataset": "company/customers",
                "source_ip": "127.0.0.1",
                "rows": 1,
                "customers": 1,
                "customer_ids": [customer],
                "ticket": ticket,
                "export_id": None,
            }
        ],
        schema=EVENT_SCHEMA,
    )
    pq.write_table(table, path)
    return path


def test_run_with_company_url(company: str, tmp_path: Path) -> None:
    engine = create_engine(company)
    with engine.connect() as conn:
        t_id, t_emp, t_cust = conn.execute(
            text("SELECT id, assigned_employee_id, customer_id FROM tickets ORDER BY id LIMIT 1")
        ).one()
    engine.dispose()
    events = _events(tmp_path / "events.parquet", str(t_emp), str(t_id), t_cust)
    store = f"sqlite:///{tmp_path / 'store.db'}"
    runner = CliRunner()
    args = ["run", "--company-url", company, "--events", str(events), "--url", store]
    res = runner.invoke(monitor_app, args)
    assert res.exit_code == 0, res.output
    assert "1 person-days scored" in res.output


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "give --context FOLDER or --company-url URL"),
        (["--context", "ctx", "--company-url", "sqlite://"], "not both"),
    ],
)
def test_context_options_are_checked(tmp_path: Path, extra: list[str], message: str) -> None:
    store = f"sqlite:///{tmp_path / 'store.db'}"
    res = CliRunner().invoke(monitor_app, ["run", "--url", store, *extra])
    assert res.exit_code == 2
    assert message in res.output
