"""The monitor's context read from a company database of the demo schema
(:mod:`leakwarden.demo.schema`): employees, work tickets and customers as :class:`Context`.

Ids follow the gateway's: an employee is ``str(employees.id)`` (what the gateway writes as the
audit event's ``user.id``), a ticket ``str(tickets.id)``.  The demo stores naive date-times; they
are read as UTC, as the demo writes them.  Relationships are not part of the demo schema, so
``relationships`` is None (the features that need it are left out, as :class:`Context` says).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pyarrow as pa

from leakwarden.monitor.events import (
    CUSTOMER_SCHEMA,
    EMPLOYEE_SCHEMA,
    TICKET_SCHEMA,
    Context,
)

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

__all__ = ["context_from_company"]


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def context_from_company(engine: Engine) -> Context:
    """Employees (with the HR leave date as the ``leaving`` signal), one ticket row per ticket
    (the demo's tickets each concern one customer) and customers' district, segment and VIP flag.
    Raises ValueError naming the table when the database lacks the demo schema's tables."""
    from sqlalchemy import inspect, select

    from leakwarden.demo.schema import customers, employees, tickets

    present = set(inspect(engine).get_table_names())
    missing = [t.name for t in (employees, tickets, customers) if t.name not in present]
    if missing:
        raise ValueError(
            f"company database {engine.url.render_as_string(hide_password=True)} has no "
            f"{', '.join(missing)} table (the demo schema's employees, tickets, customers)"
        )
    with engine.connect() as conn:
        emp = conn.execute(
            select(
                employees.c.id,
                employees.c.department,
                employees.c.role,
                employees.c.region,
                employees.c.manager_id,
                employees.c.hire_date,
                employees.c.leave_date,
            ).order_by(employees.c.id)
        ).all()
        tix = conn.execute(
            select(
                tickets.c.id,
                tickets.c.assigned_employee_id,
                tickets.c.customer_id,
                tickets.c.opened_at,
                tickets.c.closed_at,
            ).order_by(tickets.c.id)
        ).all()
        cust = conn.execute(
            select(
                customers.c.id, customers.c.district, customers.c.segment, customers.c.vip
            ).order_by(customers.c.id)
        ).all()
    employee_table = pa.Table.from_pydict(
        {
            "employee_id": [str(r.id) for r in emp],
            "department": [r.department for r in emp],
            "role": [r.role for r in emp],
            "region": [r.region for r in emp],
            "manager": [None if r.manager_id is None else str(r.manager_id) for r in emp],
            "hired": [r.hire_date for r in emp],
            "leaving": [r.leave_date for r in emp],
            "home_district": [None] * len(emp),
            "customer_id": [None] * len(emp),
        },
        schema=EMPLOYEE_SCHEMA,
    )
    ticket_table = pa.Table.from_pydict(
        {
            "ticket_id": [str(r.id) for r in tix],
            "assignee": [str(r.assigned_employee_id) for r in tix],
            "customer_id": [r.customer_id for r in tix],
            "opened": [_utc(r.opened_at) for r in tix],
            "closed": [_utc(r.closed_at) for r in tix],
        },
        schema=TICKET_SCHEMA,
    )
    customer_table = pa.Table.from_pydict(
        {
            "customer_id": [r.id for r in cust],
            "district": [r.district for r in cust],
            "segment": [r.segment for r in cust],
            "vip": [bool(r.vip) for r in cust],
        },
        schema=CUSTOMER_SCHEMA,
    )
    return Context(employees=employee_table, tickets=ticket_table, customers=customer_table)
