"""Work tickets: a purpose that needs one (customer service, delivery, ...) is only served for
the customers of an open ticket assigned to the caller.

The ticket is read from the company database (``leakwarden.demo.schema.tickets``: ``customer_id``,
``order_id``, ``assigned_employee_id``, ``status``).  A ticket concerns its customer, and its
order when it names one (an order of another customer never passes).  Every refusal is a
:class:`TicketError` (HTTP 403) that names the ticket and what is wrong with it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from leakwarden.gateway.decision import Principal

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

__all__ = ["Ticket", "TicketError", "check_ticket"]


class TicketError(Exception):
    """The request's ticket does not allow it (missing, closed, someone else's, other customer)."""


@dataclass(frozen=True)
class Ticket:
    id: int
    customer_id: int
    order_id: int | None
    assigned_employee_id: int
    status: str


def check_ticket(
    company: Engine,
    ticket: str | None,
    principal: Principal,
    customer_ids: Iterable[int],
) -> Ticket:
    """The ticket, once it is known to exist, be open, be assigned to ``principal`` and concern
    every customer in ``customer_ids``; :class:`TicketError` otherwise."""
    from leakwarden.demo.schema import tickets
    from leakwarden.gateway.rows import keyed_reader

    if ticket is None or not ticket.strip():
        raise TicketError("this purpose needs a ticket (X-Ticket header or ticket parameter)")
    try:
        ticket_id = int(ticket.strip())
    except ValueError:
        raise TicketError(f"ticket {ticket!r} is not a ticket number") from None
    row = keyed_reader(company, tickets, "id").get(ticket_id)
    if row is None:
        raise TicketError(f"ticket {ticket_id} does not exist")
    found = Ticket(
        id=row["id"],
        customer_id=row["customer_id"],
        order_id=row["order_id"],
        assigned_employee_id=row["assigned_employee_id"],
        status=row["status"],
    )
    if found.status != "open":
        raise TicketError(f"ticket {ticket_id} is {found.status}, not open")
    if principal.kind != "person" or str(found.assigned_employee_id) != principal.person_id:
        raise TicketError(f"ticket {ticket_id} is not assigned to {principal.person_id}")
    others = sorted({int(c) for c in customer_ids} - {found.customer_id})
    if others:
        raise TicketError(f"ticket {ticket_id} does not concern the customer(s) requested")
    return found


def check_ticket_order(ticket: Ticket, order_id: int) -> None:
    """A ticket that names an order covers that order only."""
    if ticket.order_id is not None and ticket.order_id != order_id:
        raise TicketError(f"ticket {ticket.id} concerns another order")
