"""Small hand-made event and context tables for the monitor's tests."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pyarrow as pa

from leakwarden.monitor.events import (
    CUSTOMER_SCHEMA,
    EMPLOYEE_SCHEMA,
    EVENT_SCHEMA,
    RELATIONSHIP_SCHEMA,
    TICKET_SCHEMA,
    Context,
)

DAY0 = date(2026, 3, 2)  # a Monday


def at(day: int, hour: float = 10.0) -> datetime:
    """UTC time ``hour`` on day ``day`` counted from DAY0."""
    base = datetime(DAY0.year, DAY0.month, DAY0.day, tzinfo=UTC)
    return base + timedelta(days=day, hours=hour)


class Events:
    """Collects events; seq counts up."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def add(
        self,
        actor: str,
        when: datetime,
        customer_ids: list[int] | None = None,
        *,
        rows: int | None = None,
        customers: int | None = None,
        channel: str = "api",
        outcome: str = "allowed",
        dataset: str = "crm/customers",
        ticket: str | None = None,
        export_id: str | None = None,
    ) -> int:
        ids = customer_ids or []
        seq = len(self.rows)
        self.rows.append(
            {
                "seq": seq,
                "ts": when,
                "actor": actor,
                "action": "gateway.customer.read",
                "outcome": outcome,
                "channel": channel,
                "purpose": None,
                "dataset": dataset,
                "source_ip": None,
                "rows": len(ids) if rows is None else rows,
                "customers": len(ids) if customers is None else customers,
                "customer_ids": ids,
                "ticket": ticket,
                "export_id": export_id,
            }
        )
        return seq

    def table(self) -> pa.Table:
        return pa.Table.from_pylist(self.rows, schema=EVENT_SCHEMA)


def employees(rows: list[dict[str, Any]]) -> pa.Table:
    full = [
        {
            "region": None,
            "manager": None,
            "hired": None,
            "leaving": None,
            "home_district": None,
            "customer_id": None,
            **r,
        }
        for r in rows
    ]
    return pa.Table.from_pylist(full, schema=EMPLOYEE_SCHEMA)


def staff(
    n: int, department: str = "cs", role: str = "agent", prefix: str = "e"
) -> list[dict[str, Any]]:
    return [
        {"employee_id": f"{prefix}{i}", "department": department, "role": role} for i in range(n)
    ]


def tickets(rows: list[tuple[str, str, int, datetime, datetime | None]]) -> pa.Table:
    return pa.Table.from_pylist(
        [
            {"ticket_id": t, "assignee": a, "customer_id": c, "opened": o, "closed": cl}
            for t, a, c, o, cl in rows
        ],
        schema=TICKET_SCHEMA,
    )


def relationships(rows: list[tuple[str, int, str]]) -> pa.Table:
    return pa.Table.from_pylist(
        [{"employee_id": e, "customer_id": c, "kind": k} for e, c, k in rows],
        schema=RELATIONSHIP_SCHEMA,
    )


def customers(rows: list[tuple[int, str | None, str | None, bool]]) -> pa.Table:
    return pa.Table.from_pylist(
        [{"customer_id": c, "district": d, "segment": s, "vip": v} for c, d, s, v in rows],
        schema=CUSTOMER_SCHEMA,
    )


def context(emps: list[dict[str, Any]], **kw: pa.Table | None) -> Context:
    return Context(employees=employees(emps), **kw)


class World:
    """A small organisation with ordinary, ticket-driven work on weekdays: ``n`` agents, each
    day about ``per_day`` ticketed look-ups (one ticket per customer, open that day) and now and
    then an unexplained one, between 09:00 and 17:00 UTC."""

    def __init__(self, n: int = 30, days: int = 40, per_day: int = 15, seed: int = 7) -> None:
        import numpy as np

        self.n, self.days = n, days
        self.rng = np.random.default_rng(seed)
        self.events = Events()
        self.ticket_rows: list[tuple[str, str, int, datetime, datetime | None]] = []
        self.next_customer = 1_000_000
        for d in range(days):
            if d % 7 >= 5:
                continue
            for i in range(n):
                actor = f"e{i}"
                for _ in range(int(self.rng.poisson(per_day))):
                    c = int(self.rng.integers(0, 500_000))
                    t = f"T{len(self.ticket_rows)}"
                    self.ticket_rows.append((t, actor, c, at(d, 8), at(d, 18)))
                    self.events.add(actor, at(d, 9 + 8 * self.rng.random()), [c], ticket=t)
                for _ in range(int(self.rng.poisson(0.3))):
                    c = int(self.rng.integers(0, 500_000))
                    self.events.add(actor, at(d, 9 + 8 * self.rng.random()), [c])

    def fresh_customers(self, k: int) -> list[int]:
        out = list(range(self.next_customer, self.next_customer + k))
        self.next_customer += k
        return out

    def snoop(self, actor: str, day: int, k: int, hour: float = 11.0) -> list[int]:
        """``k`` unexplained look-ups of customers nobody else reads."""
        ids = self.fresh_customers(k)
        for j, c in enumerate(ids):
            self.events.add(actor, at(day, hour + j * 0.01), [c])
        return ids

    def table(self) -> pa.Table:
        rows = sorted(self.events.rows, key=lambda r: (r["ts"], r["seq"]))
        for i, r in enumerate(rows):
            r["seq"] = i
        self.events.rows = rows
        return self.events.table()

    def context(self, **kw: Any) -> Context:
        return context(staff(self.n), tickets=tickets(self.ticket_rows), **kw)
