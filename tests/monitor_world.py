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
