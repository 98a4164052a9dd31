"""The record-level way in: one customer by id or phone, one order, one privacy waybill.

Every request goes through the same steps, in this order, and stops at the first refusal:

1. purpose: known (``settings.purposes``); a purpose that needs a ticket gets one checked
   (:mod:`leakwarden.gateway.tickets`: exists, open, assigned to the caller, concerns the
   customers and the order); a ticket given for another purpose is checked too;
2. consent (:mod:`leakwarden.gateway.consent`) for the purpose and every customer;
3. the policy decision (``decide``: ``PolicyEngine.decide`` in the service); a refusal, or a row
   outside the decision's row filter, refuses the request;
4. the field treatments: CLEAR as stored, MASKED with ``protect``'s ``mask`` operator (the
   column's data class picks the mask), PSEUDONYMISED as an HMAC pseudonym
   (``protect.pseudonym``), DENIED columns left out; a masking error refuses the request;
5. the quota (:mod:`leakwarden.gateway.quota`): rows per request, distinct customers, bytes of
   released data per day (the records or label as the response carries them);
6. the audit event, written to the ledger before anything is returned; if the write fails the
   request fails with :class:`AuditUnavailable` and nothing is released.

:meth:`RecordService.run_deferred` runs a request on an event loop with its audit events held
back and then committed together with those of the other requests that reached their audit in
the same turn of the loop (one transaction, one fsync for all), before the request's answer or
refusal is returned: the HTTP routes use it (:mod:`.app`).

Refusals in 1-5 are audited as well (outcome ``denied``), before the refusal is returned.  Audit
events hold ids, counts, column names and policy ids, never a value (no phone, no waybill
number: the route template names the endpoint).
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from leakwarden.audit.events import AuditEvent
from leakwarden.audit.ledger import AuditWriteError
from leakwarden.gateway.catalog import Catalog
from leakwarden.gateway.consent import ConsentCheck
from leakwarden.gateway.decision import AccessRequest, Action, Decision, Principal, Treatment
from leakwarden.gateway.quota import Quota, QuotaExceeded, payload_bytes
from leakwarden.gateway.settings import GatewaySettings
from leakwarden.gateway.tickets import TicketError, check_ticket, check_ticket_order

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from leakwarden.audit.ledger import Ledger
    from leakwarden.gateway.canary_guard import CanaryGuard
    from leakwarden.protect.waybill import RelayRegistry

__all__ = [
    "AuditUnavailable",
    "CallContext",
    "Decide",
    "RecordService",
    "Refused",
    "Released",
    "customer_region",
]

Decide = Callable[[AccessRequest], Decision]
Value = str | int | bool | None

# Set by RecordService.run_deferred while it runs a request: audit events go here instead of to
# the ledger, and run_deferred commits them before the request returns.
_held: ContextVar[list[AuditEvent] | None] = ContextVar("leakwarden_held_audit", default=None)


class Refused(Exception):
    """The request is refused (and the refusal was audited): ``status`` is the HTTP status."""

    def __init__(self, status: int, message: str, *, headers: Mapping[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


class AuditUnavailable(Exception):
    """The audit ledger could not record the decision: nothing is released (HTTP 503)."""


@dataclass(frozen=True)
class CallContext:
    """Who asks, why, and under which ticket."""

    principal: Principal
    purpose: str
    ticket: str | None = None
    source_ip: str | None = None
    auth: str = ""


@dataclass
class Released:
    """What a request may return, after the audit event was committed."""

    table: str
    records: list[dict[str, Value]]
    treatments: dict[str, str]
    policy_ids: list[str]
    reason: str
    consent: str
    audit_index: int
    label: dict[str, str] = field(default_factory=dict)


def customer_region(province: str, city: str) -> str:
    """The demo company's region of a customer: province + city, or the city alone for the
    municipalities (北京市北京市 -> 北京市), as in ``employees.region``."""
    return city if province == city else province + city


def plain_value(value: Any) -> Value:
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return str(value)


class RecordService:
    """The record endpoints' logic, independent of HTTP (``app`` maps it to routes)."""

    def __init__(
        self,
        settings: GatewaySettings,
        *,
        company: Engine,
        ledger: Ledger,
        quota: Quota,
        decide: Decide,
        catalog: Catalog,
        consent: ConsentCheck,
        relay: RelayRegistry | None = None,
    ) -> None:
        from leakwarden.protect.registry import build_operator

        self.settings = settings
        self.company = company
        self.ledger = ledger
        self.quota = quota
        self.decide = decide
        self.catalog = catalog
        self.consent = consent
        self.relay = relay
        self._mask = build_operator("mask")
        self._mask_full = build_operator("mask:full")
        self._groups: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopGroupCommit] = (
            weakref.WeakKeyDictionary()
        )
        # How many requests the HTTP app is serving (set by .app); without it, those inside
        # run_deferred.  The group commit writes on the loop only when its batch is all of them.
        self.requests_in_flight: Callable[[], int] | None = None
        # Contact values of export canaries (set by exports.install_exports through .app): a
        # canary's phone brought into an operational lookup is audited as an alert and refused.
        self.canary_guard: CanaryGuard | None = None

    # -------------------------------------------------------------------- on an event loop

    async def run_deferred(self, request: Callable[..., Released], *args: Any) -> Released:
        """``request(*args)`` (an endpoint method) run here, on the event loop, with its audit
        events committed afterwards in a group commit with the other requests of this loop turn
        (:class:`_LoopGroupCommit`); the answer, or the refusal, is returned only once they are
        durable.  If they cannot be written: :class:`AuditUnavailable`, nothing released."""
        loop = asyncio.get_running_loop()
        group = self._groups.get(loop)
        if group is None:
            group = self._groups[loop] = _LoopGroupCommit(
                self.ledger, loop, self.requests_in_flight
            )
        held: list[AuditEvent] = []
        group.active += 1
        try:
            token = _held.set(held)
            try:
                released: Released | None = request(*args)
                failure: BaseException | None = None
            except Exception as exc:  # a refusal or a failure: raised once its audit is written
                released, failure = None, exc
            finally:
                _held.reset(token)
            if held:
                indexes = await group.commit(held)
                if released is not None:
                    released.audit_index = indexes[-1]
        finally:
            group.active -= 1
        if failure is not None:
            raise failure
        if released is None or not held:  # never release what was not audited
            raise AuditUnavailable("the request recorded no audit event; nothing released")
        return released

    # -------------------------------------------------------------------- endpoints

    def customer(self, ctx: CallContext, customer_id: int) -> Released:
        from leakwarden.demo.schema import customers
        from leakwarden.gateway.rows import keyed_reader

        route = "GET /customers/{id}"
        self._purpose_and_ticket(ctx, "read", "customers", route, [customer_id])
        row = keyed_reader(self.company, customers, "id").get(customer_id)
        if row is None:
            self.refuse(ctx, "read", "customers", route, 404, "no such customer", [customer_id])
        assert row is not None
        return self._serve(ctx, "read", "customers", route, [row], None)

    def customers_by_phone(self, ctx: CallContext, phone: str) -> Released:
        from sqlalchemy import or_, select

        from leakwarden.demo.schema import customers

        route = "GET /customers?phone="
        self.check_purpose(ctx, "read", "customers", route)
        digits = "".join(c for c in phone if c.isdigit())
        if len(digits) < 7:
            self.refuse(ctx, "read", "customers", route, 400, "phone: give at least 7 digits")
        if digits.startswith("86") and len(digits) == 13:
            digits = digits[2:]
        if self.canary_guard is not None and self.canary_guard.check(
            [phone], actor=ctx.principal.person_id, purpose=ctx.purpose, route=route
        ):
            # a canary's number belongs to no customer: the same answer as any unknown number,
            # so the caller learns nothing; the guard has already audited the alert
            self.refuse(ctx, "read", "customers", route, 404, "no customer with that phone")
        limit = self.settings.max_phone_matches
        with self.company.connect() as conn:
            rows = [
                dict(r._mapping)
                for r in conn.execute(
                    select(customers)
                    .where(or_(customers.c.mobile == digits, customers.c.mobile == phone.strip()))
                    .order_by(customers.c.id)
                    .limit(limit + 1)
                )
            ]
        ids = [int(r["id"]) for r in rows]
        if self.needs_ticket(ctx):
            # With a ticket only its customer can be found: the same answer whether the phone is
            # another customer's or nobody's, so a ticket is no oracle for phone numbers.
            ticket_customer = self._ticket_customer(ctx, route)
            rows = [r for r in rows if int(r["id"]) == ticket_customer]
            ids = [int(r["id"]) for r in rows]
        if not rows:
            self.refuse(ctx, "read", "customers", route, 404, "no customer with that phone")
        if len(rows) > limit:
            self.refuse(
                ctx,
                "read",
                "customers",
                route,
                400,
                f"more than {limit} customers match: give the full number",
            )
        self._purpose_and_ticket(ctx, "read", "customers", route, ids)
        return self._serve(ctx, "read", "customers", route, rows, None)

    def order(self, ctx: CallContext, order_id: int) -> Released:
        from leakwarden.demo.schema import orders
        from leakwarden.gateway.rows import keyed_reader

        route = "GET /orders/{id}"
        self.check_purpose(ctx, "read", "orders", route)
        row = keyed_reader(self.company, orders, "id").get(order_id)
        if row is None:
            self._purpose_and_ticket(ctx, "read", "orders", route, [])
            self.refuse(ctx, "read", "orders", route, 404, "no such order")
        assert row is not None
        self._purpose_and_ticket(ctx, "read", "orders", route, [row["customer_id"]], order_id)
        return self._serve(ctx, "read", "orders", route, [row], None)

    def print_waybill(self, ctx: CallContext, waybill_no: str) -> Released:
        from sqlalchemy import select

        from leakwarden.demo.schema import orders, waybills

        route = "POST /waybills/{waybill_no}/print"
        self.check_purpose(ctx, "print_waybill", "waybills", route)
        with self.company.connect() as conn:
            row = conn.execute(
                select(waybills, orders.c.customer_id)
                .join(orders, orders.c.id == waybills.c.order_id)
                .where(waybills.c.waybill_no == waybill_no)
            ).first()
        if row is None:
            self._purpose_and_ticket(ctx, "print_waybill", "waybills", route, [])
            self.refuse(ctx, "print_waybill", "waybills", route, 404, "no such waybill")
        assert row is not None
        record = dict(row._mapping)
        customer_id = int(record.pop("customer_id"))
        self._purpose_and_ticket(
            ctx, "print_waybill", "waybills", route, [customer_id], int(record["order_id"])
        )
        return self._serve(ctx, "print_waybill", "waybills", route, [record], customer_id)

    # -------------------------------------------------------------------- the steps

    def needs_ticket(self, ctx: CallContext) -> bool:
        return bool(self.settings.purposes.get(ctx.purpose)) or ctx.ticket is not None

    def _ticket_customer(self, ctx: CallContext, route: str) -> int:
        try:
            return check_ticket(self.company, ctx.ticket, ctx.principal, []).customer_id
        except TicketError as exc:
            self.refuse(ctx, "read", "customers", route, 403, f"ticket: {exc}")
            raise  # unreachable: refuse raises

    def check_purpose(self, ctx: CallContext, action: Action, table: str, route: str) -> None:
        """An unknown purpose is refused before anything is looked up."""
        if ctx.purpose not in self.settings.purposes:
            known = ", ".join(sorted(self.settings.purposes))
            self.refuse(
                ctx, action, table, route, 400, f"unknown purpose {ctx.purpose!r} (known: {known})"
            )

    def _purpose_and_ticket(
        self,
        ctx: CallContext,
        action: Action,
        table: str,
        route: str,
        customer_ids: Sequence[int],
        order_id: int | None = None,
    ) -> None:
        self.check_purpose(ctx, action, table, route)
        if not self.needs_ticket(ctx):
            return
        try:
            found = check_ticket(self.company, ctx.ticket, ctx.principal, customer_ids)
            if order_id is not None:
                check_ticket_order(found, order_id)
        except TicketError as exc:
            self.refuse(ctx, action, table, route, 403, f"ticket: {exc}", customer_ids)

    def _serve(
        self,
        ctx: CallContext,
        action: Action,
        table: str,
        route: str,
        rows: list[dict[str, Any]],
        customer_of_row: int | None,
    ) -> Released:
        from sqlalchemy import select

        from leakwarden.demo.schema import customers

        key = "id" if table == "customers" else "customer_id"
        ids = [customer_of_row] if customer_of_row is not None else [int(r[key]) for r in rows]
        # the customers' VIP flag (separate quota) and region (row filter)
        if table == "customers":
            facts = {int(r["id"]): (bool(r["vip"]), r["province"], r["city"]) for r in rows}
        else:
            with self.company.connect() as conn:
                facts = {
                    int(r.id): (bool(r.vip), r.province, r.city)
                    for r in conn.execute(
                        select(
                            customers.c.id, customers.c.vip, customers.c.province, customers.c.city
                        ).where(customers.c.id.in_(ids))
                    )
                }
        consent = self.consent.check(ctx.purpose, ids)
        if not consent.allowed:
            self.refuse(
                ctx,
                action,
                table,
                route,
                403,
                f"consent: {consent.reason}",
                ids,
                consent_label=consent.label,
            )
        info = self.catalog.table(table)
        columns = tuple(info.columns)
        request = AccessRequest(
            principal=ctx.principal,
            action=action,
            purpose=ctx.purpose,
            table=table,
            columns=columns,
            ticket=ctx.ticket,
            customer_ids=tuple(ids),
            ticket_checked=self.needs_ticket(ctx),
        )
        try:
            decision = self.decide(request)
        except Exception as exc:  # fail closed, whatever the engine does
            decision = Decision.deny(f"denied: policy evaluation failed: {type(exc).__name__}")
        if not decision.allowed:
            self.refuse(
                ctx,
                action,
                table,
                route,
                403,
                decision.reason,
                ids,
                policy_ids=decision.policy_ids,
                consent_label=consent.label,
            )
        if decision.row_filter:
            region = decision.row_filter.get("region")
            unknown = set(decision.row_filter) - {"region"}
            outside = [c for c in ids if c not in facts or customer_region(*facts[c][1:]) != region]
            if unknown or outside:
                why = (
                    f"row filter on {sorted(unknown)} cannot be applied"
                    if unknown
                    else f"customer outside your region ({region})"
                )
                self.refuse(
                    ctx,
                    action,
                    table,
                    route,
                    403,
                    f"denied: {why}",
                    ids,
                    policy_ids=decision.policy_ids,
                    consent_label=consent.label,
                )
        treatments = {c: decision.treatment(c) for c in columns}
        label: dict[str, str] = {}
        try:
            if action == "print_waybill":
                label = self._label(rows[0], treatments)
                out: list[dict[str, Value]] = []
            else:
                out = [self._treat(table, r, treatments) for r in rows]
        except Exception as exc:  # a masking error releases nothing
            self.refuse(
                ctx,
                action,
                table,
                route,
                500,
                f"protecting the record failed ({type(exc).__name__}); nothing released",
                ids,
                policy_ids=decision.policy_ids,
                consent_label=consent.label,
                outcome="failure",
            )
        try:
            self.quota.charge(
                ctx.principal.person_id,
                {c: facts.get(c, (False,))[0] for c in ids},
                len(rows),
                size=payload_bytes(label if label else out),
            )
        except QuotaExceeded as exc:
            headers = {}
            if exc.resets_at is not None:
                headers["X-Quota-Resets"] = exc.resets_at.isoformat()
            self.refuse(
                ctx,
                action,
                table,
                route,
                429,
                str(exc),
                ids,
                policy_ids=decision.policy_ids,
                consent_label=consent.label,
                headers=headers,
                extra={"quota": exc.quota},
            )
        released = (
            sorted(label)
            if label
            else [c for c, t in treatments.items() if t is not Treatment.DENIED]
        )
        index = self.audit(
            ctx,
            action,
            table,
            route,
            "success",
            decision.reason,
            ids,
            columns=released,
            rows=len(rows),
            policy_ids=decision.policy_ids,
            consent_label=consent.label,
            extra={"treatments": ",".join(f"{c}={t.value}" for c, t in treatments.items())},
        )
        return Released(
            table=table,
            records=out,
            treatments={c: t.value for c, t in treatments.items()},
            policy_ids=list(decision.policy_ids),
            reason=decision.reason,
            consent=consent.label,
            audit_index=index,
            label=label,
        )

    def _treat(
        self, table: str, row: Mapping[str, Any], treatments: Mapping[str, Treatment]
    ) -> dict[str, Value]:
        from leakwarden.protect.pseudonym import pseudonym

        info = self.catalog.table(table)
        out: dict[str, Value] = {}
        for column, treatment in treatments.items():
            if treatment is Treatment.DENIED:
                continue
            value = row.get(column)
            if treatment is Treatment.CLEAR or value is None:
                out[column] = plain_value(value)
                continue
            text = str(plain_value(value))
            classes = info.column(column).data_classes
            type_id = classes[0] if classes else None
            if treatment is Treatment.MASKED:
                op = self._mask if type_id else self._mask_full
                out[column] = op.apply(text, type_id) if text else text
            elif treatment is Treatment.PSEUDONYMISED:
                out[column] = pseudonym(self.settings.pseudonym_key, 1, text, type_id)
            else:  # a treatment this code does not know: fail closed
                raise ValueError(f"unknown treatment {treatment!r}")
        return out

    def _label(self, row: Mapping[str, Any], treatments: Mapping[str, Treatment]) -> dict[str, str]:
        from leakwarden.protect.waybill import make_label

        needed = ("recipient_phone", "recipient_address")
        if any(treatments.get(c, Treatment.DENIED) is Treatment.DENIED for c in needed):
            raise PermissionError("the policy denies the recipient's phone or address")
        level = "full" if treatments["recipient_address"] is Treatment.CLEAR else "district"
        lab = make_label(row, self.relay, address_level=level)
        return {
            "waybill_no": lab.waybill_no,
            "courier": lab.courier,
            "recipient_name": lab.recipient_name,
            "recipient_phone": lab.recipient_phone,
            "recipient_address": lab.recipient_address,
            "relay": lab.dial if lab.relay_number else "",
            "sender_name": lab.sender_name,
            "sender_phone": lab.sender_phone,
            "sender_address": lab.sender_address,
        }

    # -------------------------------------------------------------------- audit

    def refuse(
        self,
        ctx: CallContext,
        action: Action,
        table: str,
        route: str,
        status: int,
        message: str,
        customer_ids: Sequence[int] = (),
        *,
        policy_ids: Sequence[str] = (),
        consent_label: str | None = None,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, str] | None = None,
        outcome: str = "denied",
    ) -> None:
        """Audit the refusal, then raise it (:class:`AuditUnavailable` if the audit fails)."""
        self.audit(
            ctx,
            action,
            table,
            route,
            outcome,
            message,
            customer_ids,
            policy_ids=policy_ids,
            consent_label=consent_label,
            extra={"status": str(status), **(extra or {})},
        )
        raise Refused(status, message, headers=headers)

    def audit(
        self,
        ctx: CallContext,
        action: Action,
        table: str,
        route: str,
        outcome: str,
        reason: str,
        customer_ids: Sequence[int],
        *,
        columns: Sequence[str] = (),
        rows: int | None = None,
        policy_ids: Sequence[str] = (),
        consent_label: str | None = None,
        extra: Mapping[str, str] | None = None,
    ) -> int:
        more = {"endpoint": route, "auth": ctx.auth, **(extra or {})}
        if consent_label:
            more["consent"] = consent_label
        try:
            event = AuditEvent(
                action=f"gateway.{action}",
                outcome=outcome,  # type: ignore[arg-type]
                actor=ctx.principal.person_id,
                reason=reason,
                purpose=ctx.purpose or None,
                dataset=table,
                columns=list(columns),
                rows=rows,
                customers=len(set(customer_ids)),
                customer_ids=[str(c) for c in dict.fromkeys(customer_ids)],
                ticket=ctx.ticket,
                policy=",".join(policy_ids) or None,
                source_ip=ctx.source_ip,
                extra=more,
            )
            held = _held.get()
            if held is not None:
                held.append(event)  # committed by run_deferred before anything is returned
                return -1
            return self.ledger.append(event).index
        except AuditWriteError as exc:
            raise AuditUnavailable(f"audit ledger unavailable: {exc}") from None
        except Exception as exc:
            raise AuditUnavailable(f"audit ledger unavailable: {type(exc).__name__}") from None


class _LoopGroupCommit:
    """Group commit of the record routes' audit events on one event loop.

    The events of the requests that reach their audit point in the same turn of the loop form
    a batch, written in one transaction (``append_many``: one fsync) at the start of the next
    turn.  When the batch holds every request in progress (``in_flight``: all HTTP requests
    the app is serving), it is written right there, on the loop (a lone request pays no
    thread hand-off; nothing else was waiting).  Otherwise it goes
    to a writer thread, so the loop goes on serving the other requests meanwhile; their batches
    queue up and the writer takes all that are waiting in its next transaction.  Each request
    learns its outcome through its future, set on the loop once the transaction committed (or
    failed: every request of it then fails closed)."""

    def __init__(
        self,
        ledger: Ledger,
        loop: asyncio.AbstractEventLoop,
        in_flight: Callable[[], int] | None = None,
    ) -> None:
        self.ledger = ledger
        self.loop = loop
        self.in_flight = in_flight
        self.active = 0  # requests of this loop inside run_deferred
        self.pending: list[_Held] = []  # reached their audit point in this turn
        self.scheduled = False
        self._lock = threading.Lock()  # guards queue and writing (loop thread and writer)
        self.queue: list[_Held] = []
        self.writing = False

    def commit(self, events: list[AuditEvent]) -> asyncio.Future[list[int]]:
        done: asyncio.Future[list[int]] = self.loop.create_future()
        self.pending.append((events, done))
        if not self.scheduled:
            self.scheduled = True
            self.loop.call_soon(self._flush)
        return done

    def _flush(self) -> None:
        self.scheduled = False
        batch, self.pending = self.pending, []
        with self._lock:
            busy = self.in_flight() if self.in_flight is not None else self.active
            alone = not self.writing and not self.queue and busy <= len(batch)
            if not alone:
                self.queue.extend(batch)
                if self.writing:
                    return
                self.writing = True
        if alone:
            _settle(batch, *self._write(batch))
            return
        self.loop.run_in_executor(None, self._writer)

    def _write(self, batch: list[_Held]) -> tuple[list[int] | None, Exception | None]:
        try:
            receipts = self.ledger.append_many([e for events, _ in batch for e in events])
            return [r.index for r in receipts], None
        except Exception as exc:
            reason = str(exc) if isinstance(exc, AuditWriteError) else type(exc).__name__
            return None, AuditUnavailable(f"audit ledger unavailable: {reason}")

    def _writer(self) -> None:
        """In a worker thread: write what has queued up, until nothing has."""
        while True:
            with self._lock:
                batch, self.queue = self.queue, []
                if not batch:
                    self.writing = False
                    return
            indexes, error = self._write(batch)
            self.loop.call_soon_threadsafe(_settle, batch, indexes, error)


_Held = tuple[list[AuditEvent], "asyncio.Future[list[int]]"]


def _settle(batch: list[_Held], indexes: list[int] | None, error: Exception | None) -> None:
    """On the loop: each request of a written batch gets its events' indexes, or the error."""
    pos = 0
    for events, done in batch:
        if not done.done():
            if error is not None or indexes is None:
                done.set_exception(error or AuditUnavailable("audit ledger unavailable"))
            else:
                done.set_result(indexes[pos : pos + len(events)])
        pos += len(events)
