"""The monitor's input tables (Apache Arrow schemas): audit events, and the context they are
judged against (employees, tickets, relationships, customers).

Everything in :mod:`leakwarden.monitor` reads these shapes, whether the rows come from the audit
ledger (:func:`leakwarden.monitor.ledger_events.events_from_ledger`) or from the scenario simulator.
One row of :data:`EVENT_SCHEMA` is one audit event; it names customers by internal id, never by a
personal-information value.

Columns of :data:`EVENT_SCHEMA`:

==============  ==========================  ==============================================
column          from the ledger (ECS)       notes
==============  ==========================  ==============================================
seq             ``event.sequence``          the leaf index: the link to the audit event
ts              ``@timestamp``              UTC, microseconds
actor           ``user.id``                 the employee or application id
action          ``event.action``            e.g. ``gateway.customer.read``, ``gateway.query``
outcome         ``event.type[1]``           ``allowed``, ``denied`` or ``error``
channel         ``labels.channel``          ``api``, ``sql``, ``export``, ``console``,
                                            ``batch``; derived from the action when absent
purpose         ``leakwarden.purpose``      null when none was stated
dataset         ``leakwarden.dataset``      ``source/table``
source_ip       ``source.ip``
rows            ``leakwarden.rows``         0 when absent
customers       ``leakwarden.customers``    distinct customers touched (may exceed the
                                            ids listed when the event only counts them)
customer_ids    ``leakwarden.customer_ids`` internal ids as int64
ticket          ``leakwarden.ticket``       the work ticket the caller stated (the gateway
                                            checked it was open, assigned and covering)
export_id       ``leakwarden.export_id``
==============  ==========================  ==============================================

Context tables (all optional except employees; a detector that needs a missing one says so):

* :data:`EMPLOYEE_SCHEMA`: who works here, in which department, role and region, since when, and
  the HR signal (``leaving``: the date notice was given or the contract ends).
* :data:`TICKET_SCHEMA`: work tickets, one row per (ticket, customer) it concerns.
* :data:`RELATIONSHIP_SCHEMA`: standing relationships that explain access without a ticket
  (account manager, courier route), one row per (employee, customer).
* :data:`CUSTOMER_SCHEMA`: the few customer attributes the detectors use (district, segment, VIP,
  and whether the customer is also an employee).

:class:`Context` bundles the four context tables (checked against their schemas on construction;
extra columns are allowed). :func:`check_table` is the one schema check, used for events too.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

TS = pa.timestamp("us", tz="UTC")

EVENT_SCHEMA = pa.schema(
    [
        pa.field("seq", pa.int64(), nullable=False),
        pa.field("ts", TS, nullable=False),
        pa.field("actor", pa.string(), nullable=False),
        pa.field("action", pa.string(), nullable=False),
        pa.field("outcome", pa.string(), nullable=False),
        pa.field("channel", pa.string(), nullable=False),
        pa.field("purpose", pa.string()),
        pa.field("dataset", pa.string()),
        pa.field("source_ip", pa.string()),
        pa.field("rows", pa.int64(), nullable=False),
        pa.field("customers", pa.int64(), nullable=False),
        pa.field("customer_ids", pa.large_list(pa.int64()), nullable=False),
        pa.field("ticket", pa.string()),
        pa.field("export_id", pa.string()),
    ]
)

EMPLOYEE_SCHEMA = pa.schema(
    [
        pa.field("employee_id", pa.string(), nullable=False),
        pa.field("department", pa.string(), nullable=False),
        pa.field("role", pa.string(), nullable=False),
        pa.field("region", pa.string()),
        pa.field("manager", pa.string()),
        pa.field("hired", pa.date32()),
        pa.field("leaving", pa.date32()),  # HR signal: notice given / contract end
        pa.field("home_district", pa.string()),  # for same-neighbourhood lookups
        pa.field("customer_id", pa.int64()),  # the employee's own customer record, if any
    ]
)

TICKET_SCHEMA = pa.schema(
    [
        pa.field("ticket_id", pa.string(), nullable=False),
        pa.field("assignee", pa.string(), nullable=False),
        pa.field("customer_id", pa.int64(), nullable=False),
        pa.field("opened", TS, nullable=False),
        pa.field("closed", TS),
    ]
)

RELATIONSHIP_SCHEMA = pa.schema(
    [
        pa.field("employee_id", pa.string(), nullable=False),
        pa.field("customer_id", pa.int64(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),  # account_manager, courier_route, ...
    ]
)

CUSTOMER_SCHEMA = pa.schema(
    [
        pa.field("customer_id", pa.int64(), nullable=False),
        pa.field("district", pa.string()),
        pa.field("segment", pa.string()),
        pa.field("vip", pa.bool_(), nullable=False),
    ]
)


_CONTEXT_SCHEMAS: dict[str, pa.Schema] = {
    "employees": EMPLOYEE_SCHEMA,
    "tickets": TICKET_SCHEMA,
    "relationships": RELATIONSHIP_SCHEMA,
    "customers": CUSTOMER_SCHEMA,
}


def check_table(table: pa.Table | pa.RecordBatch, schema: pa.Schema, what: str) -> None:
    """Raise ValueError naming ``what`` and the column when ``table`` lacks a column of ``schema``
    or holds it with another type (extra columns are allowed and ignored)."""
    for field in schema:
        if field.name not in table.schema.names:
            raise ValueError(f"{what}: missing column {field.name!r} ({field.type})")
        got = table.schema.field(field.name).type
        if got != field.type:
            raise ValueError(f"{what}: column {field.name!r} is {got}, expected {field.type}")


@dataclass(frozen=True)
class Context:
    """What events are judged against. ``employees`` is required; the others may be None, and a
    feature that needs a missing one is left out of the scores (its reasons never appear)."""

    employees: pa.Table
    tickets: pa.Table | None = None
    relationships: pa.Table | None = None
    customers: pa.Table | None = None

    def __post_init__(self) -> None:
        for name, schema in _CONTEXT_SCHEMAS.items():
            table = getattr(self, name)
            if table is not None:
                check_table(table, schema, f"context.{name}")
