"""The release side of ``POST /query``: a query's answer leaves in chunks, each one counted,
charged to the caller's quota and covered by a durable audit record *before* it leaves
(:class:`QueryStream`), and the answer's line format (NDJSON, :func:`ndjson`).

The steps before the first chunk (purpose, ticket, rewrite, estimate) are
:class:`leakwarden.gateway.query.QueryService`'s; it hands over a :class:`Plan` and the open
server-side cursor (:class:`ChunkReader`).

Per chunk, in order (module docstring of :mod:`.query` for the whole path):

1. fetched from the cursor (``fetchmany``; one chunk of lookahead, so that the chunk being
   released knows whether it is the last one, and one row past the row limit, never released,
   so that a cut is known to be one);
2. treated (pseudonymised positions replaced), the customers of its rows read from the hidden
   key columns;
3. ticket coverage and consent for its customers;
4. charged: its new customers and its bytes, with :meth:`Quota.charge`.  When the whole chunk
   does not fit, the longest prefix that does is found by charging halves (each successful
   charge is of rows that will be released, so nothing is charged twice and the stream stops
   exactly at the caller's remaining quota);
5. audited (one ledger append: the rows, the customers new to this answer, the chunk's number,
   whether it is the last and why it stopped); the first chunk's event is also the decision
   event (estimate, customer basis, policy ids), written before the header line leaves;
6. released.

A failure at step 3 or 4 of the first chunk refuses the whole request (403 / 429, nothing sent);
later, and for any error (the audit or quota store failing, the time limit), the stream writes
a closing audit event when it can, ends with a trailer saying why it stopped, and releases
nothing further.

The line format (``application/x-ndjson``), one JSON object per line:

- ``{"type": "header", "decision": "allowed", "columns": [...], "fingerprint", "tables",
  "treatments", "policy_ids", "reason", "consent", "customer_basis", "estimated_rows",
  "estimated_customers", "row_limit", "pseudonymised", "audit_index", "notes"?}``: the decision
  (sent after the first chunk was audited; ``notes`` in the aggregate mode);
- ``{"type": "rows", "rows": [[...], ...], "audit_index": n}``: one per chunk;
- ``{"type": "end", "complete": bool, "stopped": null | "row limit" | "quota" | "ticket" |
  "consent" | "time limit" | "error", "reason": str | null, "rows": n, "customers": n,
  "audit_index": n | null}``: always last; a stream without it was cut in transit.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass, field
from typing import Any

from leakwarden.gateway.quota import QuotaExceeded, payload_bytes
from leakwarden.gateway.records import AuditUnavailable, CallContext, RecordService, Value

__all__ = [
    "ROUTE",
    "ChunkReader",
    "KeysMasked",
    "ListResult",
    "Plan",
    "QueryStream",
    "StreamPiece",
    "TooSlow",
    "charge_prefix",
    "ndjson",
]

ROUTE = "POST /query"


class TooSlow(Exception):
    """The query ran past the service's time limit."""


class KeysMasked(Exception):
    """A hidden customer-key column came back as something other than an id (the caller sees
    the key masked): the customers cannot be read from the rows."""


class ChunkReader:
    """Chunks of at most ``chunk`` rows from an open result, at most ``limit`` rows in all;
    ``cut`` is True once a row past the limit was seen (it is dropped, never released).
    ``guard`` runs each ``fetchmany`` under the time limit; past ``deadline`` (a
    ``time.monotonic()`` value) no further chunk is read (:class:`TooSlow`)."""

    def __init__(
        self,
        result: Any,
        limit: int,
        chunk: int,
        guard: Callable[[], AbstractContextManager[None]],
        deadline: float | None = None,
    ) -> None:
        self.result = result
        self.deadline = deadline
        self.limit = limit
        self.chunk = chunk
        self.guard = guard
        self.fetched = 0
        self.cut = False
        self.done = False

    def next(self) -> list[Sequence[Any]]:
        """The next chunk ([] when there is none)."""
        if self.done:
            return []
        if self.deadline is not None and time.monotonic() > self.deadline:
            # a slow reader holds a database connection: the whole answer has a deadline too
            raise TooSlow
        want = min(self.chunk, self.limit + 1 - self.fetched)
        with self.guard():
            batch: list[Sequence[Any]] = [tuple(r) for r in self.result.fetchmany(want)]
        self.fetched += len(batch)
        if len(batch) < want:
            self.done = True
        if self.fetched > self.limit:
            self.cut = True
            self.done = True
            batch = batch[: len(batch) - (self.fetched - self.limit)]
            self.fetched = self.limit
        return batch


@dataclass
class Plan:
    """What :class:`QueryStream` needs from the decision made before running."""

    records: RecordService
    ctx: CallContext
    table: str  # the tables read, comma-separated (the audit's dataset)
    reason: str
    columns: list[str]  # output columns (hidden key columns left out)
    audit_columns: list[str]  # table.column read
    treatments: dict[str, str]
    policy_ids: list[str]
    extra: dict[str, str]  # fingerprint, parameters
    fingerprint: str
    tables: list[str]
    pseudonymised: list[str]
    basis: str
    estimated_rows: int
    estimated_customers: int
    row_limit: int
    treat: Callable[[Sequence[Any]], list[Value]]
    keys: Callable[[Sequence[Any]], list[int]]  # a raw row's customer ids ([] without keys)
    vip: Callable[[list[int]], dict[int, bool]]
    upfront: list[int] = field(default_factory=list)  # charged before the first chunk
    ticket_customer: int | None = None
    needs_ticket: bool = False
    notes: dict[str, str | int] = field(default_factory=dict)  # header + decision event


class ListResult:
    """Rows already in memory (an aggregate answer) behind the cursor interface
    :class:`ChunkReader` reads."""

    def __init__(self, rows: list[Sequence[Any]]) -> None:
        self._rows = rows
        self._at = 0

    def fetchmany(self, n: int) -> list[Sequence[Any]]:
        part = self._rows[self._at : self._at + n]
        self._at += len(part)
        return part


@dataclass
class StreamPiece:
    """One piece of an answer: rows (with their audit index) or the end."""

    rows: list[list[Value]] | None = None
    audit_index: int | None = None
    end: dict[str, Any] | None = None


class _Stop(Exception):
    def __init__(
        self,
        kind: str,
        reason: str,
        status: int,
        headers: dict[str, str] | None = None,
        extra: dict[str, str] | None = None,
    ) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason
        self.status = status
        self.headers = headers or {}
        self.extra = extra or {}


def charge_prefix(
    charge: Callable[[dict[int, bool], int, int], object],
    rows: Sequence[Sequence[Value]],
    row_ids: Sequence[Sequence[int]],
    vip: dict[int, bool],
) -> tuple[int, QuotaExceeded | None]:
    """Charge the longest prefix of ``rows`` that fits the quota; ``charge(customers, rows,
    size)`` raises :class:`QuotaExceeded` (charging nothing) when a part does not fit.  Parts
    are charged in order and each successful one stays charged, so the rows charged are exactly
    ``rows[:n]``.  Returns ``n`` and the last refusal (None when every row fits)."""
    done, step, refused = 0, len(rows), None
    while done < len(rows) and step > 0:
        take = min(step, len(rows) - done)
        ids = {c for keys in row_ids[done : done + take] for c in keys}
        try:
            charge(
                {c: vip.get(c, False) for c in ids}, take, payload_bytes(rows[done : done + take])
            )
        except QuotaExceeded as exc:
            refused = exc
            step = take // 2
            continue
        done += take
    return done, (refused if done < len(rows) else None)


class QueryStream:
    """One answer being released (module docstring).  :meth:`start` admits the first chunk and
    writes the decision event (raising :class:`~.records.Refused` / :class:`AuditUnavailable`,
    nothing sent); then :meth:`pieces` (or :meth:`lines`) gives the rest, always ending with an
    end piece, and closes the cursor."""

    def __init__(
        self, plan: Plan, reader: ChunkReader, first: list[Sequence[Any]], stack: ExitStack
    ):
        self.plan = plan
        self.reader = reader
        self.stack = stack
        self._pending = first
        self.rows = 0
        self.customers: set[int] = set(plan.upfront)
        self.chunks = 0
        self.decision_index = -1
        self._first: StreamPiece | None = None
        self._tail: StreamPiece | None = None
        self.consent_label = ""

    # ------------------------------------------------------------------ the first chunk

    def start(self) -> None:
        try:
            piece = self._admit(first=True)
        except _Stop as stop:
            self.close()
            p = self.plan
            p.records.refuse(
                p.ctx, "query", p.table, ROUTE, stop.status, stop.reason,
                policy_ids=p.policy_ids, consent_label=self.consent_label or None,
                headers=stop.headers, extra={**p.extra, **stop.extra, "stage": "decision"},
            )  # fmt: skip
        except BaseException:
            self.close()
            raise
        self._first = piece

    def header(self) -> dict[str, Any]:
        p = self.plan
        return {
            "type": "header",
            "decision": "allowed",  # a refusal never gets a stream: it is an HTTP error
            "columns": p.columns,
            "fingerprint": p.fingerprint,
            "tables": p.tables,
            "treatments": p.treatments,
            "policy_ids": p.policy_ids,
            "reason": p.reason,
            "consent": self.consent_label,
            "customer_basis": p.basis,
            "estimated_rows": p.estimated_rows,
            "estimated_customers": p.estimated_customers,
            "row_limit": p.row_limit,
            "pseudonymised": p.pseudonymised,
            "audit_index": self.decision_index,
            **({"notes": p.notes} if p.notes else {}),
        }

    # ------------------------------------------------------------------ the rest

    def pieces(self) -> Iterator[StreamPiece]:
        """The admitted chunks, then the end piece; never raises (errors end the stream)."""
        try:
            assert self._first is not None, "start() first"
            piece = self._first
            while True:
                yield piece
                if self._tail is not None:
                    yield self._tail
                    return
                piece = self._admit(first=False)
        except _Stop as stop:
            yield self._stopped(stop.kind, stop.reason, "denied", stop.extra)
        except TooSlow:
            yield self._stopped("time limit", "the query ran past the time limit", "failure")
        except AuditUnavailable as exc:
            yield self._end(False, "error", f"{exc}; nothing further was released", None)
        except Exception as exc:  # quota store, company database: fail closed
            yield self._stopped("error", f"internal error ({type(exc).__name__})", "failure")
        finally:
            self.close()

    def lines(self) -> Iterator[bytes]:
        """The answer as NDJSON lines (header, rows..., end)."""
        yield ndjson(self.header())
        for piece in self.pieces():
            if piece.end is not None:
                yield ndjson({"type": "end", **piece.end})
            else:
                yield ndjson({"type": "rows", "rows": piece.rows, "audit_index": piece.audit_index})

    def close(self) -> None:
        self.stack.close()

    def _end(
        self, complete: bool, stopped: str | None, reason: str | None, index: int | None
    ) -> StreamPiece:
        return StreamPiece(
            end={
                "complete": complete,
                "stopped": stopped,
                "reason": reason,
                "rows": self.rows,
                "customers": len(self.customers),
                "audit_index": index,
            }
        )

    def _stopped(
        self, kind: str, reason: str, outcome: str, more: dict[str, str] | None = None
    ) -> StreamPiece:
        """Audit why the stream stopped (best effort: the rows already out are covered by their
        own events) and end it."""
        p = self.plan
        try:
            index: int | None = p.records.audit(
                p.ctx, "query", p.table, ROUTE, outcome, reason, [],
                policy_ids=p.policy_ids,
                extra={**p.extra, **(more or {}), "stage": "stop", "stopped": kind,
                       "decision": str(self.decision_index)},
            )  # fmt: skip
        except AuditUnavailable as exc:
            reason = f"{reason}; and {exc}"
            index = None
        return self._end(False, kind, f"{reason}; nothing further was released", index)

    def _admit(self, *, first: bool) -> StreamPiece:
        """Take the pending chunk through steps 2-5 (it is the last one when the lookahead
        finds nothing more; :attr:`_tail` is then the end piece).  A stop (ticket, consent,
        quota) raises :class:`_Stop` before anything of the chunk is charged or released,
        except a quota stop after a prefix of it fitted: that prefix is the last piece."""
        p = self.plan
        raw = self._pending
        self._pending = self.reader.next()
        last = not self._pending
        rows = [p.treat(r) for r in raw]
        row_ids = [p.keys(r) for r in raw]
        ids = sorted({c for keys in row_ids for c in keys})
        reached = sorted(set(ids) | set(p.upfront)) if first else ids
        if p.needs_ticket and any(c != p.ticket_customer for c in reached):
            raise _Stop(
                "ticket",
                f"ticket: ticket {p.ctx.ticket} concerns one customer; the query reaches "
                f"{len(set(reached) | self.customers)} customers ({p.basis}); add a filter on that "
                "customer",
                403,
            )
        if reached or first:
            consent = p.records.consent.check(p.ctx.purpose, reached)
            self.consent_label = consent.label
            if not consent.allowed:
                raise _Stop("consent", f"consent: {consent.reason}", 403)
        vip = p.vip(ids)
        person = p.ctx.principal.person_id
        quota = p.records.quota

        def charge(customers: dict[int, bool], n: int, size: int) -> object:
            return quota.charge(person, customers, n, size=size)

        if first and p.upfront:
            try:
                charge(p.vip(p.upfront), len(rows), 0)
            except QuotaExceeded as exc:
                raise _quota_stop(exc) from None
        n, refused = charge_prefix(charge, rows, row_ids, vip)
        if refused is not None and n == 0:
            raise _quota_stop(refused)
        rows, row_ids = rows[:n], row_ids[:n]
        new = sorted({c for keys in row_ids for c in keys} - self.customers)
        if first:
            new = sorted(set(new) | set(p.upfront))
        stopped = None
        if refused is not None:
            stopped, last = "quota", True
        elif last and self.reader.cut:
            stopped = "row limit"
        extra = {
            **p.extra,
            "stage": "decision" if first else "release",
            "chunk": str(self.chunks),
            "last": "true" if last else "false",
        }
        if first:
            extra |= {
                "estimated_rows": str(p.estimated_rows),
                "estimated_customers": str(p.estimated_customers),
                "customer_basis": p.basis,
                "pseudonymised": ",".join(p.pseudonymised),
                **{k: str(v) for k, v in p.notes.items()},
            }
        else:
            extra["decision"] = str(self.decision_index)
        if last:
            extra["truncated"] = "true" if stopped else "false"
            if stopped:
                extra["stopped"] = stopped
        index = p.records.audit(
            p.ctx, "query", p.table, ROUTE, "success",
            p.reason if first else f"release of chunk {self.chunks}",
            new,
            columns=p.audit_columns if first else (),
            rows=n,
            policy_ids=p.policy_ids,
            consent_label=self.consent_label or None,
            extra=extra,
        )  # fmt: skip
        if first:
            self.decision_index = index
        self.chunks += 1
        self.rows += n
        self.customers.update(new)
        piece = StreamPiece(rows=rows, audit_index=index)
        if last:
            self._pending = []
            reason = None
            if stopped == "quota":
                assert refused is not None
                reason = f"stopped at a quota: {refused}"
            elif stopped == "row limit":
                reason = (
                    f"truncated: only the first {p.row_limit} rows are returned (the row "
                    "limit); narrow the query for the rest"
                )
            self._tail = self._end(stopped is None, stopped, reason, index)
        return piece


def _quota_stop(exc: QuotaExceeded) -> _Stop:
    headers = {}
    if exc.resets_at is not None:
        headers["X-Quota-Resets"] = exc.resets_at.isoformat()
    return _Stop("quota", str(exc), 429, headers, {"quota": exc.quota})


def ndjson(obj: object) -> bytes:
    """One line of the answer: compact UTF-8 JSON and a newline."""
    return (json.dumps(obj, ensure_ascii=False, separators=(",", ":"), default=str) + "\n").encode()
