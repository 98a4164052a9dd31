"""The gateway service with its company database and its store (tokens, quota ledger, audit
ledger) on a real PostgreSQL server (the throwaway one of tests/conftest.py), and the quota
ledger hammered by several processes at once."""

from __future__ import annotations

import json
import multiprocessing as mp
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, select, text

from leakwarden.demo.build import build_company
from leakwarden.gateway.app import create_app
from leakwarden.gateway.decision import AccessRequest, Decision, Treatment
from leakwarden.gateway.identity import TokenStore
from leakwarden.gateway.quota import QuotaExceeded, SqlQuota
from leakwarden.gateway.settings import GatewaySettings, QuotaLimits
from leakwarden.store import db

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def company(pg_server: Any) -> Iterator[str]:
    url = pg_server.create_database()
    build_company(url, customers=200, seed=5)
    yield url
    pg_server.drop_database(url)


@pytest.fixture
def store(pg_server: Any) -> Iterator[str]:
    url = pg_server.create_database()
    engine = db.make_engine(url)
    db.upgrade(engine)
    engine.dispose()
    yield url
    pg_server.drop_database(url)


def test_record_path_on_postgres(company: str, store: str) -> None:
    with create_engine(company).connect() as conn:
        t = conn.execute(
            text(
                "SELECT t.id, t.customer_id, t.assigned_employee_id, c.mobile FROM tickets t "
                "JOIN employees e ON e.id = t.assigned_employee_id "
                "JOIN customers c ON c.id = t.customer_id "
                "WHERE t.status = 'open' AND e.department = '客服' AND e.leave_date IS NULL "
                "ORDER BY t.id LIMIT 1"
            )
        ).one()
    engine = db.make_engine(store)
    token = TokenStore(engine).issue(employee_id=t.assigned_employee_id, ttl=timedelta(hours=1))
    app = create_app(GatewaySettings(company_url=company, store_url=store))
    c = TestClient(app)
    h = {"Authorization": f"Bearer {token.token}", "X-Purpose": "customer_service",
         "X-Ticket": str(t.id)}  # fmt: skip
    r = c.get(f"/customers/{t.customer_id}", headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["records"][0]["mobile"] == t.mobile
    r = c.get(f"/customers/{t.customer_id + 1}", headers=h)
    assert r.status_code == 403
    with engine.connect() as conn:
        events = [
            json.loads(e) for e in conn.execute(text("SELECT event FROM audit_log")).scalars()
        ]
        charged = conn.execute(text("SELECT person, customer_id FROM gateway_quota_ledger")).all()
    assert [e["event"]["type"][1] for e in events] == ["allowed", "denied"]
    assert t.mobile not in json.dumps(events)
    assert [tuple(x) for x in charged] == [(str(t.assigned_employee_id), str(t.customer_id))]


def test_quota_429_on_postgres(company: str, store: str) -> None:
    def decide(req: AccessRequest) -> Decision:  # test-only: every column masked
        return Decision(True, "test", ["test"], dict.fromkeys(req.columns, Treatment.MASKED))

    with create_engine(company).connect() as conn:
        analyst = conn.execute(
            text("SELECT id FROM employees WHERE department = '数据分析' AND leave_date IS NULL")
        ).scalar()
        ids = conn.execute(text("SELECT id FROM customers WHERE NOT vip ORDER BY id LIMIT 2")).all()
    engine = db.make_engine(store)
    token = TokenStore(engine).issue(employee_id=analyst, ttl=timedelta(hours=1))
    settings = GatewaySettings(company_url=company, store_url=store, quota=QuotaLimits(day=1))
    c = TestClient(create_app(settings, decide=decide))
    h = {"Authorization": f"Bearer {token.token}", "X-Purpose": "analytics"}
    assert c.get(f"/customers/{ids[0].id}", headers=h).status_code == 200
    r = c.get(f"/customers/{ids[1].id}", headers=h)
    assert r.status_code == 429 and "distinct customers per day" in r.json()["detail"]


def _hammer(url: str, worker: int, out: Any) -> None:
    quota = SqlQuota(db.make_engine(url), QuotaLimits(day=10, week=100))
    got = 0
    for i in range(6):
        try:
            quota.charge("99", {worker * 1000 + i: False}, 1)
            got += 1
        except QuotaExceeded:
            pass
    out.put(got)


def test_processes_hammering_one_quota_never_over_issue(store: str) -> None:
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_hammer, args=(store, n, out)) for n in range(6)]
    for p in procs:
        p.start()
    granted = sum(out.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    from leakwarden.store.gateway_tables import QuotaEntry

    with db.make_engine(store).connect() as conn:
        rows = conn.execute(select(func.count()).select_from(QuotaEntry)).scalar_one()
    assert granted == rows == 10  # 36 distinct customers asked for, exactly 10 given
