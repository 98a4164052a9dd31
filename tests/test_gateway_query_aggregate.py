"""Aggregate-only answers (``POST /query`` with ``"mode": "aggregate"``): cells behind fewer than
k distinct customers are suppressed, the answer is charged rows and bytes but no customer, and
the differencing guard suppresses a cell that differs from an earlier answer of the same person
by fewer than k customers (both orders, and a total against a grouped answer's visible cells).
Expected values come from the company database directly."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from gateway_world import GatewayWorld, customers_contact_masked, gateway_world
from leakwarden.demo.build import build_company
from leakwarden.gateway.app import create_app
from leakwarden.gateway.query_aggregate import OverlapGuard
from leakwarden.gateway.settings import QuotaLimits

# three customers a day: far fewer than any aggregate here reads
SMALL = QuotaLimits(day=3, week=3, vip_day=3, vip_week=3, rows_per_request=50)


@pytest.fixture(scope="module")
def company(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('company')}/company.db"
    build_company(url, customers=120, seed=5)
    return url


class World(GatewayWorld):
    def client(self, k: int = 10) -> TestClient:  # type: ignore[override]
        app = create_app(self.settings(quota=SMALL), decide=customers_contact_masked)
        app.state.queries.aggregates = OverlapGuard(k)
        return TestClient(app)

    def analyst(self) -> dict[str, str]:
        analyst = self.q(
            "SELECT id FROM employees WHERE department = '数据分析' AND leave_date IS NULL "
            "ORDER BY id LIMIT 1"
        )[0].id
        return self.token(analyst)

    def charged(self) -> int:
        with create_engine(self.store).connect() as conn:
            return int(conn.execute(text("SELECT COUNT(*) FROM gateway_quota_ledger")).scalar())


@pytest.fixture
def world(company: str, tmp_path: Path) -> Iterator[World]:
    with gateway_world(company, tmp_path, World) as w:
        assert isinstance(w, World)
        yield w


def _agg(c: TestClient, h: dict[str, str], sql: str, **kw: Any) -> Any:
    body = {"sql": sql, "purpose": "analytics", "mode": "aggregate", **kw}
    return c.post("/query", json=body, headers=h)


def _segments(world: World) -> dict[str, int]:
    return {r.segment: r.n for r in world.q(
        "SELECT segment, COUNT(*) AS n FROM customers GROUP BY segment")}  # fmt: skip


def test_small_groups_are_suppressed_and_no_customer_is_charged(world: World) -> None:
    sizes = _segments(world)
    k = sorted(sizes.values())[0] + 1  # the smallest segment falls under k
    assert sorted(sizes.values())[1] >= k, sizes  # the test needs the others over it
    c, h = world.client(k), world.analyst()
    # in the row mode this aggregate reads 120 customers: refused under a 3-a-day quota
    grouped = "SELECT segment, COUNT(*) AS n FROM customers GROUP BY segment"
    rows_mode = c.post("/query", json={"sql": grouped, "purpose": "analytics"}, headers=h)
    assert rows_mode.status_code == 429
    r = _agg(c, h, "SELECT segment, COUNT(*) AS n FROM customers GROUP BY segment ORDER BY segment")
    assert r.status_code == 200, r.text
    body = r.json()
    want = sorted([s, n] for s, n in sizes.items() if n >= k)
    assert body["rows"] == want
    assert body["notes"]["suppressed"] == 1 and body["notes"]["suppressed_small"] == 1
    assert body["notes"]["min_group"] == k and body["customer_basis"] == "aggregate"
    assert body["customers"] == 0 and world.charged() == 0
    event = [e for e in world.events() if e["event"]["action"] == "gateway.query"][-1]
    assert event["labels"]["mode"] == "aggregate" and event["labels"]["suppressed"] == "1"
    assert "customer_ids" not in event.get("leakwarden", {})
    # one group per customer: every cell is one customer, all suppressed
    r = _agg(c, h, "SELECT id, COUNT(*) AS n FROM customers WHERE id <= 30 GROUP BY id")
    assert r.status_code == 200 and r.json()["rows"] == []
    assert r.json()["notes"]["suppressed_small"] == 30


def test_a_difference_of_a_few_customers_is_suppressed_either_way(world: World) -> None:
    sizes = _segments(world)
    segment = max(sizes, key=lambda s: sizes[s])
    n = sizes[segment]
    one = world.q("SELECT id FROM customers WHERE segment = :s ORDER BY id LIMIT 1", s=segment)[
        0
    ].id
    whole = f"SELECT COUNT(*) AS n FROM customers WHERE segment = '{segment}'"
    less = f"{whole} AND id <> {one}"
    for first, second, first_n in ((whole, less, n), (less, whole, n - 1)):
        c, h = world.client(10), world.analyst()
        r = _agg(c, h, first)
        assert r.status_code == 200 and r.json()["rows"] == [[first_n]], r.text
        r = _agg(c, h, second)
        assert r.status_code == 200 and r.json()["rows"] == [], r.text
        assert r.json()["notes"]["suppressed_overlap"] == 1
        # the same question again is answered (same customers, nothing to subtract)
        assert _agg(c, h, first).json()["rows"] == [[first_n]]
    # another person has their own history
    other = world.q("SELECT id FROM employees WHERE department = '数据分析' AND leave_date IS NULL "
                    "ORDER BY id LIMIT 2")[1].id  # fmt: skip
    assert _agg(c, world.token(other), less).json()["rows"] == [[n - 1]]


def test_a_total_cannot_recover_a_suppressed_cell(world: World) -> None:
    """Grouped by segment with the smallest segment suppressed, then the total: total minus
    the visible cells would be the suppressed cell, so the total is suppressed."""
    sizes = _segments(world)
    k = sorted(sizes.values())[0] + 1
    c, h = world.client(k), world.analyst()
    r = _agg(c, h, "SELECT segment, COUNT(*) AS n FROM customers GROUP BY segment")
    assert len(r.json()["rows"]) == len(sizes) - 1
    r = _agg(c, h, "SELECT COUNT(*) AS n FROM customers")
    assert r.status_code == 200 and r.json()["rows"] == [], r.text
    # the other way round: the total first, then the grouped answer is refused as a whole
    c = world.client(k)
    assert _agg(c, h, "SELECT COUNT(*) AS n FROM customers").json()["rows"] == [[120]]
    r = _agg(c, h, "SELECT segment, COUNT(*) AS n FROM customers GROUP BY segment")
    assert r.json()["rows"] == [] and r.json()["notes"]["suppressed_union"] == len(sizes) - 1


@pytest.mark.parametrize(
    ("sql", "why"),
    [
        ("SELECT MIN(birth_date) FROM customers", "MIN is not allowed"),
        ("SELECT segment, COUNT(*) FROM customers GROUP BY segment HAVING COUNT(*) > 1", "HAVING"),
        ("SELECT segment FROM customers", "neither a GROUP BY column nor an aggregate"),
        ("SELECT COUNT(*) FROM (SELECT id FROM customers) t", "subqueries"),
        ("SELECT COUNT(*) + id FROM customers GROUP BY id", "mixes a column"),
        ("SELECT COUNT(*) FROM employees", "no customer data"),
        ("SELECT segment, COUNT(*) FROM customers GROUP BY segment, city", "every GROUP BY"),
    ],
)
def test_aggregate_shapes_outside_the_mode_are_refused(world: World, sql: str, why: str) -> None:
    r = _agg(world.client(), world.analyst(), sql)
    assert r.status_code == 400 and why in r.json()["detail"], r.text


def test_aggregate_mode_is_not_for_ticket_work(world: World) -> None:
    t = world.q(
        "SELECT t.id, t.assigned_employee_id AS who FROM tickets t "
        "JOIN employees e ON e.id = t.assigned_employee_id "
        "WHERE t.status = 'open' AND e.department = '客服' AND e.leave_date IS NULL LIMIT 1"
    )[0]
    r = _agg(world.client(), world.token(t.who), "SELECT COUNT(*) FROM customers",
             purpose="customer_service", ticket=str(t.id))  # fmt: skip
    assert r.status_code == 400 and "aggregate mode is for analysis" in r.json()["detail"]
    r = _agg(world.client(), world.analyst(), "SELECT COUNT(*) FROM customers", mode="cells")
    assert r.status_code == 400 and "rows or aggregate" in r.json()["detail"]


def test_overlap_guard_pairwise_rules() -> None:
    g = OverlapGuard(3)
    a = set(range(10))
    assert g.admit("p", [a]) == [None]
    assert g.admit("p", [a - {0}]) == ["overlap"]  # differs by 1
    assert g.admit("p", [a - {0, 1, 2}]) == [None]  # differs by 3 = k: allowed
    assert g.admit("p", [{1, 2}]) == ["small"]
    assert g.admit("p", [set(range(100, 110))]) == [None]  # disjoint
    assert g.admit("q", [a - {0}]) == [None]  # another person
    with pytest.raises(ValueError, match="at least 2"):
        OverlapGuard(1)


def test_cli_aggregate_flag(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    import typer
    from typer.testing import CliRunner

    from leakwarden.gateway import command

    sizes = _segments(world)
    k = sorted(sizes.values())[0] + 1
    client = world.client(k)
    monkeypatch.setattr(command, "_http_client", lambda url, timeout: client)
    cli = typer.Typer()
    cli.command("query")(command.query_command)
    token = world.analyst()["Authorization"].removeprefix("Bearer ")
    r = CliRunner().invoke(
        cli,
        ["SELECT segment, COUNT(*) AS n FROM customers GROUP BY segment ORDER BY segment",
         "--purpose", "analytics", "--aggregate", "--format", "csv"],
        env={"LEAKWARDEN_TOKEN": token},
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    want = [f"{s},{n}" for s, n in sorted(sizes.items()) if n >= k]
    assert r.stdout.splitlines() == ["segment,n", *want]
    assert "1 groups suppressed" in r.stderr and "0 customers charged (aggregate)" in r.stderr
