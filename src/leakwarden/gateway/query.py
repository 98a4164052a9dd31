"""SQL through the gateway (``POST /query``): one caller's query, rewritten, estimated, run,
counted, charged, audited, then released.

The steps, in order, stopping at the first refusal (each refusal audited, outcome ``denied``,
through :class:`~leakwarden.gateway.records.RecordService`'s own helpers):

1. purpose known; a purpose that needs a ticket (or any ticket given) gets the ticket checked:
   exists, open, assigned to the caller (400 / 403);
2. :func:`leakwarden.gateway.sql_rewrite.rewrite` with ``decide`` = the policy engine per table
   for action ``query`` (``ticket_checked`` is False: the SQL path never gets the clear
   treatments a checked ticket's customer gets on the record path).  A policy refusal of a
   table -> 403; any other :class:`QueryDenied` -> 400; both name the reason and the position;
3. the estimate, before running: ``SELECT COUNT(*) FROM (<rewritten>)`` (exact at that moment).
   More rows than ``quota.rows_per_request`` -> 429 naming the quota ``rows per request``; and
   the distinct customers of the answer (``COUNT`` over the hidden key columns of step 6, or the
   probes' count), reported in the answer's header;
4. the run: the rewritten query on a server-side cursor (a per-statement ``stream_results``,
   ``fetchmany`` of :attr:`QueryService.chunk_rows`), read by :mod:`.query_stream` one chunk at
   a time and cut at the row limit (``max_rows`` of the request, at most the quota); a cut is
   said in the answer, never silent.  At most two chunks are in memory (the one being released
   and the lookahead).  Each statement and each fetch gets ``QueryService.time_limit`` seconds
   (30): a query still running then is stopped in the database, and refused (400) when nothing
   was sent yet, else the stream ends with ``stopped: "time limit"``, as it does when the whole
   answer has been open :attr:`QueryService.stream_time_limit` seconds (300: a slow reader holds
   a company-database connection);
5. pseudonymised output positions (``rewrite(pseudonymise=True)``) are replaced by the record
   path's HMAC pseudonym (:func:`leakwarden.protect.pseudonym.pseudonym`, the service's key);
6. the customers: when the query is a plain SELECT (no grouping, aggregate, DISTINCT or set
   operation) each base table with a direct customer key in its FROM/JOINs gets a hidden output
   column carrying that key, so the customers charged are exactly those of the rows returned
   (``customer_basis: "returned"``, charged chunk by chunk; a waybill's customer rides along
   through its order, as a scalar subquery).  A single SELECT with grouping, aggregates or
   DISTINCT is charged the customers of the rows it reads, all before the first chunk: the same
   FROM, JOINs and WHERE with only the keys as output (``customer_basis: "rows read"``;
   dropping GROUP BY, HAVING, LIMIT ... can only add rows, so this is a superset).  Anything
   else (UNION, CTEs, subqueries, which read rows that are not output) is charged the *upper
   bound*: every customer of every table the query reads, after the caller's row filter
   (``customer_basis: "tables"``).  When those customers outnumber the day's regular and VIP
   budgets together, the query is refused on that count before any id is fetched;
7. per chunk (:mod:`.query_stream`): ticket coverage (a ticket's customer only), consent for its
   customers, then its new customers and its bytes charged to the distinct-customer and
   bytes-per-day quotas.  A chunk that does not fit whole is released up to the longest prefix
   that does, and the answer stops there (``stopped: "quota"``, naming the quota and when it
   frees up); when nothing of the first chunk fits, the request is refused (429);
8. per chunk, the audit event (fingerprint, number of parameters never their values, tables,
   columns, rows, the customers new to this answer, policy ids) is written before the chunk
   leaves; the first one is the decision event, written before the header.  If the first fails
   -> :class:`AuditUnavailable` (HTTP 503) and nothing is released; a later one ends the stream
   with an error and nothing further;
9. release: by default one JSON document (``columns``, ``rows``, ``truncated``, ``stopped``,
   ``fingerprint``, ...), the stream read to its end on the server; with ``Accept:
   application/x-ndjson`` the NDJSON stream itself (header, rows, end; :mod:`.query_stream`).

Aggregates are charged the customers they read (step 6), so ``SELECT COUNT(*) FROM customers``
costs every customer and is refused under the 50-a-day default.  Analysts use the aggregate-only
mode instead (``"mode": "aggregate"``, :mod:`.query_aggregate`): GROUP BY answers of COUNT, SUM
and AVG whose cells behind fewer than :attr:`QueryService.min_group` distinct customers are
suppressed, charged rows and bytes but no customer, with a history of the customer sets already
released to the person that suppresses a cell differing from one of them by a few customers
(differencing).  The guard is pairwise and kept in the gateway process; its limits are in
:mod:`.query_aggregate` and docs/design-notes.md.  Exact or bulk data stays with the two-person
export.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from sqlglot import exp

from leakwarden.gateway.app import ErrorOut, caller_context
from leakwarden.gateway.decision import AccessRequest, Decision
from leakwarden.gateway.query_aggregate import OverlapGuard
from leakwarden.gateway.query_stream import (
    ROUTE,
    ChunkReader,
    KeysMasked,
    ListResult,
    Plan,
    QueryStream,
    TooSlow,
)
from leakwarden.gateway.quota import QuotaExceeded
from leakwarden.gateway.records import CallContext, RecordService, Value, plain_value
from leakwarden.gateway.sql_rewrite import DIALECTS, QueryDenied, Rewritten, fingerprint, rewrite
from leakwarden.gateway.tickets import TicketError, check_ticket

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

__all__ = ["ROUTE", "QueryIn", "QueryOut", "QueryResult", "QueryService", "query_router"]

DATASET = "sql"
NDJSON = "application/x-ndjson"
_HIDDEN = "lw_customer_key_"


@dataclass
class QueryResult:
    """What ``POST /query`` returns (after the audit event was committed)."""

    columns: list[str]
    rows: list[list[Value]]
    truncated: bool
    truncation: str | None
    fingerprint: str
    tables: list[str]
    customers: int
    customer_basis: str
    policy_ids: list[str]
    audit_index: int
    estimated_rows: int
    estimated_customers: int = 0
    pseudonymised: list[str] = field(default_factory=list)
    stopped: str | None = None
    end_audit_index: int | None = None
    notes: dict[str, str | int] = field(default_factory=dict)


class QueryService:
    """The query path, on top of the record path's steps (purpose, ticket, consent, quota,
    audit) so that both ways in refuse and record in one way."""

    #: Seconds the estimate and the run together may take on the company database; a query
    #: that runs longer is stopped there (SQLite: a progress handler; PostgreSQL:
    #: ``SET LOCAL statement_timeout`` per statement) and refused.
    time_limit: float = 30.0
    #: Rows per chunk: fetched from the cursor, charged, audited and released together.
    chunk_rows: int = 500
    #: Seconds an answer may stay open in all (it holds a company-database connection while
    #: the caller reads): past them no further chunk is read and the stream ends with
    #: ``stopped: "time limit"``.
    stream_time_limit: float = 300.0
    #: Aggregate mode: the minimum distinct customers behind a released cell, and the window
    #: (seconds) of the differencing guard's history (:mod:`.query_aggregate`).
    min_group: int = 10
    aggregate_window: float = 86_400.0

    def __init__(self, records: RecordService) -> None:
        self.records = records
        dialect = records.company.dialect.name
        if dialect not in DIALECTS:
            raise ValueError(f"SQL through the gateway: unsupported database {dialect!r}")
        self.dialect = dialect
        self._derived_memo: OrderedDict[tuple[str, str], tuple[int, str] | None] = OrderedDict()
        self._derived_lock = threading.Lock()
        self.aggregates = OverlapGuard(self.min_group, self.aggregate_window)

    def run(
        self, ctx: CallContext, sql: str, *, max_rows: int | None = None, mode: str = "rows"
    ) -> QueryResult:
        """The whole answer at once (:meth:`open`, read to its end)."""
        stream = self.open(ctx, sql, max_rows=max_rows, mode=mode)
        rows: list[list[Value]] = []
        end: dict[str, Any] = {}
        for piece in stream.pieces():
            rows.extend(piece.rows or [])
            end = piece.end or end
        head = stream.header()
        return QueryResult(
            columns=head["columns"],
            rows=rows,
            truncated=not end["complete"],
            truncation=end["reason"],
            fingerprint=head["fingerprint"],
            tables=head["tables"],
            customers=end["customers"],
            customer_basis=head["customer_basis"],
            policy_ids=head["policy_ids"],
            audit_index=head["audit_index"],
            estimated_rows=head["estimated_rows"],
            estimated_customers=head["estimated_customers"],
            pseudonymised=head["pseudonymised"],
            stopped=end["stopped"],
            end_audit_index=end["audit_index"],
            notes=head.get("notes", {}),
        )

    def open(
        self, ctx: CallContext, sql: str, *, max_rows: int | None = None, mode: str = "rows"
    ) -> QueryStream:
        """Decide, estimate, start the run and admit the first chunk (module docstring);
        :class:`~.records.Refused` or :class:`~.records.AuditUnavailable` when the request is
        refused, before anything is released.  The caller reads the stream to its end (or
        closes it).  ``mode`` "aggregate": :mod:`.query_aggregate`."""
        rec = self.records
        if mode not in ("rows", "aggregate"):
            rec.refuse(ctx, "query", DATASET, ROUTE, 400, f"mode {mode!r}: rows or aggregate")
        limit = rec.settings.quota.rows_per_request
        if max_rows is not None:
            if max_rows < 1:
                rec.refuse(ctx, "query", DATASET, ROUTE, 400, "max_rows must be at least 1")
            limit = min(limit, max_rows)
        rec.check_purpose(ctx, "query", DATASET, ROUTE)
        needs_ticket = rec.needs_ticket(ctx)
        ticket_customer: int | None = None
        if needs_ticket:
            try:
                ticket_customer = check_ticket(
                    rec.company, ctx.ticket, ctx.principal, []
                ).customer_id
            except TicketError as exc:
                rec.refuse(ctx, "query", DATASET, ROUTE, 403, f"ticket: {exc}")

        decisions: dict[str, Decision] = {}

        def decide(table: str, columns: list[str]) -> Decision:
            request = AccessRequest(
                principal=ctx.principal,
                action="query",
                purpose=ctx.purpose,
                table=table,
                columns=tuple(columns),
                ticket=ctx.ticket,
                customer_ids=None,
                ticket_checked=False,
            )
            try:
                decision = rec.decide(request)
            except Exception as exc:  # fail closed
                decision = Decision.deny(f"denied: policy evaluation failed: {type(exc).__name__}")
            decisions[table] = decision
            return decision

        written = self._rewrite(ctx, sql, decide, decisions)
        policy_ids = sorted({p for d in decisions.values() for p in d.policy_ids})
        if mode == "aggregate":
            return self._open_aggregate(ctx, sql, decide, decisions, written, limit, needs_ticket)
        n_hidden, keyed = self._keyed(ctx, sql, decide, written)
        fp_extra = {"fingerprint": written.fingerprint, "parameters": str(len(written.parameters))}

        from sqlalchemy import text

        stack = ExitStack()
        try:
            conn = stack.enter_context(rec.company.connect())
            with self._time_limit(conn):
                estimated = int(
                    conn.execute(
                        text(f"SELECT COUNT(*) FROM ({written.sql}) AS lw_estimate")
                    ).scalar()
                    or 0
                )
                if estimated > rec.settings.quota.rows_per_request:
                    rec.refuse(
                        ctx,
                        "query",
                        DATASET,
                        ROUTE,
                        429,
                        str(
                            QuotaExceeded(
                                "rows per request",
                                rec.settings.quota.rows_per_request,
                                None,
                                f"this query would return {estimated} rows; narrow it",
                            )
                        ),
                        policy_ids=policy_ids,
                        extra={
                            **fp_extra,
                            "quota": "rows per request",
                            "estimated_rows": str(estimated),
                        },
                    )
                estimated_customers = self._estimate_customers(conn, keyed.sql, n_hidden)
                # a server-side cursor for this statement only (the connection's own options
                # would turn every later statement, SET LOCAL too, into a cursor)
                result = conn.execute(
                    text(keyed.sql),
                    execution_options={
                        "stream_results": True,
                        "max_row_buffer": self.chunk_rows,
                    },
                )
                stack.callback(result.close)
                columns = list(result.keys())
            reader = ChunkReader(
                result,
                limit,
                self.chunk_rows,
                lambda: self._time_limit(conn),
                deadline=time.monotonic() + self.stream_time_limit,
            )
            first = reader.next()
            hidden = list(range(len(columns) - n_hidden, len(columns)))
            upfront: list[int] = []
            basis = "returned"
            try:
                if not hidden:
                    raise KeysMasked
                for r in first:
                    _row_keys(r, hidden)
            except KeysMasked:
                hidden_keys: list[int] = []
                probes = self._contributors(sql, decide)
                basis = "rows read"
                if probes is None:
                    probes = self._table_probes(written, decide)
                    basis = "tables"
                with self._time_limit(conn):
                    upfront = self._customers_of(conn, probes, basis, ctx, policy_ids, fp_extra)
                estimated_customers = len(upfront)
            else:
                hidden_keys = hidden
        except TooSlow:
            stack.close()
            rec.refuse(
                ctx,
                "query",
                DATASET,
                ROUTE,
                400,
                f"the query ran longer than the {self.time_limit:g} s limit and was stopped; "
                "narrow it (nothing was released)",
                policy_ids=policy_ids,
                extra=fp_extra,
            )
            raise  # unreachable: refuse raises
        except BaseException:
            stack.close()
            raise

        plan = self._plan(ctx, written, keyed, decisions, columns, hidden, limit)
        plan.basis, plan.upfront = basis, upfront
        plan.estimated_rows, plan.estimated_customers = estimated, estimated_customers
        plan.keys = lambda row: _row_keys(row, hidden_keys)
        plan.ticket_customer, plan.needs_ticket = ticket_customer, needs_ticket
        return self._start(plan, reader, first, stack)

    def _open_aggregate(
        self,
        ctx: CallContext,
        sql: str,
        decide: Any,
        decisions: dict[str, Decision],
        written: Rewritten,
        limit: int,
        needs_ticket: bool,
    ) -> QueryStream:
        """The aggregate-only answer (:mod:`.query_aggregate`): the answer and its probe run to
        their end (an aggregate answer has at most ``rows_per_request`` groups), the cells
        checked by :attr:`aggregates`, the rest streamed like any answer, charged rows and
        bytes only."""
        import sqlglot
        from sqlalchemy import text

        from leakwarden.gateway.query_aggregate import aggregate_probe, cells_of

        rec = self.records
        policy_ids = sorted({p for d in decisions.values() for p in d.policy_ids})
        fp_extra = {"fingerprint": written.fingerprint, "parameters": str(len(written.parameters)),
                    "mode": "aggregate"}  # fmt: skip
        if needs_ticket:
            rec.refuse(
                ctx, "query", DATASET, ROUTE, 400,
                f"aggregate mode is for analysis; purpose {ctx.purpose!r} works under a ticket "
                "on its customer's rows (use the row mode)",
                policy_ids=policy_ids, extra=fp_extra,
            )  # fmt: skip
        try:
            tree = sqlglot.parse_one(sql, read=DIALECTS[self.dialect])
            if not isinstance(tree, exp.Select):
                raise QueryDenied("aggregate mode: one SELECT with COUNT, SUM or AVG")
            shape = aggregate_probe(tree, self._key_columns, DIALECTS[self.dialect])
            probe = rewrite(shape.probe, dialect=self.dialect, catalog=rec.catalog,
                            decide=decide, pseudonymise=True)  # fmt: skip
        except QueryDenied as exc:
            rec.refuse(ctx, "query", DATASET, ROUTE, 400, f"query denied: {exc.reason}",
                       policy_ids=policy_ids, extra=fp_extra)  # fmt: skip
            raise  # unreachable: refuse raises
        try:
            with rec.company.connect() as conn, self._time_limit(conn):
                estimated = int(
                    conn.execute(text(f"SELECT COUNT(*) FROM ({written.sql}) AS lw_e")).scalar()
                    or 0
                )
                if estimated > rec.settings.quota.rows_per_request:
                    rec.refuse(
                        ctx, "query", DATASET, ROUTE, 429,
                        str(QuotaExceeded("rows per request", rec.settings.quota.rows_per_request,
                                          None, f"this query has {estimated} groups; narrow it")),
                        policy_ids=policy_ids,
                        extra={**fp_extra, "quota": "rows per request"},
                    )  # fmt: skip
                result = conn.execute(text(written.sql))
                columns = list(result.keys())
                answer: list[Sequence[Any]] = [tuple(r) for r in result]
                probe_rows = list(conn.execute(text(probe.sql)))
        except TooSlow:
            rec.refuse(
                ctx, "query", DATASET, ROUTE, 400,
                f"the query ran longer than the {self.time_limit:g} s limit and was stopped; "
                "narrow it (nothing was released)",
                policy_ids=policy_ids, extra=fp_extra,
            )  # fmt: skip
            raise  # unreachable: refuse raises
        try:
            cells = cells_of(probe_rows, shape.groups)
        except ValueError:  # the caller sees the customer key masked
            rec.refuse(
                ctx, "query", DATASET, ROUTE, 400,
                "aggregate mode: the customers of these rows cannot be counted (their key is "
                "masked for you)",
                policy_ids=policy_ids, extra=fp_extra,
            )  # fmt: skip
        at = [shape.group_of_output.index(g) for g in range(shape.groups)]
        row_cells = [cells.get(tuple(row[i] for i in at), set()) for row in answer]
        verdicts = self.aggregates.admit(ctx.principal.person_id, row_cells)
        released = [row for row, v in zip(answer, verdicts, strict=True) if v is None]
        why = {r: sum(1 for v in verdicts if v == r) for r in ("small", "overlap", "union")}
        plan = self._plan(ctx, written, written, decisions, columns, [], limit)
        plan.basis = "aggregate"
        plan.extra = fp_extra
        plan.estimated_rows = estimated
        plan.estimated_customers = len(set().union(*row_cells)) if row_cells else 0
        plan.notes = {
            "mode": "aggregate",
            "min_group": self.aggregates.k,
            "suppressed": len(answer) - len(released),
            **{f"suppressed_{r}": n for r, n in why.items() if n},
            "customers_aggregated": plan.estimated_customers,
        }
        reader = ChunkReader(ListResult(released), limit, self.chunk_rows, nullcontext)
        return self._start(plan, reader, reader.next(), ExitStack())

    def _plan(
        self,
        ctx: CallContext,
        written: Rewritten,
        run: Rewritten,
        decisions: dict[str, Decision],
        columns: list[str],
        hidden: list[int],
        limit: int,
    ) -> Plan:
        """The stream's plan for the answer of ``run`` (``written`` with hidden columns, or
        itself) with ``columns``, the ``hidden`` positions left out of the answer."""
        keep = [i for i in range(len(columns)) if i not in hidden]
        out_columns = [columns[i] for i in keep]
        pseudo = [out_columns[keep.index(p)] for p in run.pseudonymised if p in keep]

        def treat(row: Sequence[Any]) -> list[Value]:
            try:
                return self._treat(row, run, keep)
            except Exception as exc:  # a pseudonymising error releases nothing
                raise _TreatFailed(type(exc).__name__) from None

        return Plan(
            records=self.records,
            ctx=ctx,
            table=",".join(written.tables),
            reason="; ".join(sorted({d.reason for d in decisions.values()})),
            columns=out_columns,
            audit_columns=[f"{t}.{c}" for t, cols in written.columns.items() for c in cols],
            treatments={
                f"{t}.{c}": decisions[t].treatment(c).value
                for t, cols in written.columns.items()
                if t in decisions
                for c in cols
            },
            policy_ids=sorted({p for d in decisions.values() for p in d.policy_ids}),
            extra={"fingerprint": written.fingerprint, "parameters": str(len(written.parameters))},
            fingerprint=written.fingerprint,
            tables=list(written.tables),
            pseudonymised=pseudo,
            basis="returned",
            estimated_rows=0,
            estimated_customers=0,
            row_limit=limit,
            treat=treat,
            keys=lambda row: [],
            vip=self._vip,
        )

    def _start(
        self, plan: Plan, reader: ChunkReader, first: list[Sequence[Any]], stack: ExitStack
    ) -> QueryStream:
        """Admit the first chunk (:meth:`QueryStream.start`): refusals before anything left."""
        stream = QueryStream(plan, reader, first, stack)
        ctx, rec = plan.ctx, self.records
        try:
            stream.start()
        except TooSlow:
            rec.refuse(
                ctx, "query", DATASET, ROUTE, 400,
                f"the query ran longer than the {self.time_limit:g} s limit and was stopped; "
                "narrow it (nothing was released)",
                policy_ids=plan.policy_ids, extra=plan.extra,
            )  # fmt: skip
        except _TreatFailed as exc:
            rec.refuse(
                ctx, "query", DATASET, ROUTE, 500,
                f"protecting the result failed ({exc}); nothing released",
                policy_ids=plan.policy_ids, extra=plan.extra, outcome="failure",
            )  # fmt: skip
        return stream

    # ------------------------------------------------------------------ steps

    def _rewrite(
        self,
        ctx: CallContext,
        sql: str,
        decide: Any,
        decisions: dict[str, Decision],
    ) -> Rewritten:
        rec = self.records
        try:
            return rewrite(
                sql,
                dialect=self.dialect,
                catalog=rec.catalog,
                decide=decide,
                pseudonymise=True,
            )
        except QueryDenied as exc:
            refused = [d for d in decisions.values() if not d.allowed]
            status = 403 if refused else 400
            where = f" (at {exc.position})" if exc.position else ""
            extra: dict[str, str] = {}
            try:  # the denied query's fingerprint, when it parses (never its text)
                digest, literals = fingerprint(sql, self.dialect)
                extra = {"fingerprint": digest, "parameters": str(len(literals))}
            except QueryDenied:
                pass
            rec.refuse(
                ctx,
                "query",
                DATASET,
                ROUTE,
                status,
                f"query denied: {exc.reason}{where}",
                policy_ids=sorted({p for d in refused for p in d.policy_ids}),
                extra=extra,
            )
            raise  # unreachable: refuse raises

    def _derived(self, kind: str, sql: str) -> tuple[int, str] | None:
        """The caller's query turned into the keyed query (``kind`` "keyed") or the contributor
        probe ("probe") *before* rewriting, with its number of key columns; None when the query
        does not qualify.  A pure function of the query text and the catalogue, memoised (the
        last 512 of each kind), as parsing with sqlglot costs milliseconds."""
        key = (kind, sql)
        with self._derived_lock:
            if key in self._derived_memo:
                self._derived_memo.move_to_end(key)
                return self._derived_memo[key]
        out = self._derive(kind, sql)
        with self._derived_lock:
            self._derived_memo[key] = out
            while len(self._derived_memo) > 1024:
                self._derived_memo.popitem(last=False)
        return out

    def _derive(self, kind: str, sql: str) -> tuple[int, str] | None:
        import sqlglot

        try:
            tree = sqlglot.parse_one(sql, read=DIALECTS[self.dialect])
        except Exception:
            return None
        if not isinstance(tree, exp.Select):
            return None
        if not (_plain_select(tree) if kind == "keyed" else _single_select(tree)):
            return None
        keys = self._key_columns(tree)
        if not keys:
            return None
        derived = tree.copy()
        if kind == "keyed":
            derived.set("expressions", [*derived.expressions, *keys])
        else:
            for arg in ("group", "having", "qualify", "order", "limit", "offset", "distinct"):
                derived.set(arg, None)
            derived.set("expressions", keys)
        return len(keys), derived.sql(dialect=DIALECTS[self.dialect])

    def _keyed(
        self, ctx: CallContext, sql: str, decide: Any, written: Rewritten
    ) -> tuple[int, Rewritten]:
        """The query with hidden customer-key columns appended (module docstring, step 6), and
        how many; ``(0, written)`` when the query is not a plain SELECT."""
        derived = self._derived("keyed", sql)
        if derived is None:
            return 0, written
        n_keys, keyed_sql = derived
        try:
            keyed = rewrite(
                keyed_sql,
                dialect=self.dialect,
                catalog=self.records.catalog,
                decide=decide,
                pseudonymise=True,
            )
        except QueryDenied:
            return 0, written  # e.g. the key column is not visible: charge by tables
        # the hidden columns come last (after a star's expansion too)
        return n_keys, keyed

    def _contributors(self, sql: str, decide: Any) -> list[str] | None:
        """For one SELECT over base tables with grouping or aggregates (no CTE, subquery or
        set operation): the customer keys of the rows it reads, i.e. the same FROM, JOINs and
        WHERE with the keys as the only output, and without GROUP BY, HAVING, QUALIFY, ORDER,
        LIMIT and DISTINCT (which can only drop rows: the customers found are a superset of
        those behind the answer).  One probe per key column; None when that is not possible."""
        derived = self._derived("probe", sql)
        if derived is None:
            return None
        n_keys, probe_sql = derived
        try:
            keyed = rewrite(
                probe_sql,
                dialect=self.dialect,
                catalog=self.records.catalog,
                decide=decide,
            )
        except QueryDenied:
            return None
        return [f"SELECT {_HIDDEN}{i} FROM ({keyed.sql}) AS lw_r" for i in range(n_keys)]

    def _key_columns(self, tree: exp.Select) -> list[exp.Expr] | None:
        """One hidden output column per customer-data table in ``tree``'s FROM and JOINs
        carrying that row's customer id; None when a source is not a catalogued table or its
        customer cannot be reached."""
        catalog = self.records.catalog
        sources = [tree.args.get("from_") or tree.args.get("from")]
        sources += [j for j in tree.args.get("joins") or []]
        keys: list[exp.Expr] = []
        for src in sources:
            table = src.this if src is not None else None
            if not isinstance(table, exp.Table) or table.name.lower() not in catalog:
                return None
            key = catalog.table(table.name.lower()).customer_key
            if key is None:
                continue  # not customer data (the catalogue says so)
            alias = table.alias_or_name
            hidden = f"{_HIDDEN}{len(keys)}"
            if key.via_table is None:
                keys.append(exp.column(key.column, table=alias).as_(hidden))
                continue
            via_key = catalog.table(key.via_table).customer_key
            if via_key is None or via_key.via_table is not None or key.via_column is None:
                return None
            # the customer of the row through its via table, as a scalar subquery (rewritten
            # like the rest: the via table is wrapped with the caller's row filter)
            inner = (
                exp.select(exp.column(via_key.column, table="lw_via"))
                .from_(exp.to_table(key.via_table).as_("lw_via"))
                .where(
                    exp.column(key.via_column, table="lw_via").eq(
                        exp.column(key.column, table=alias)
                    )
                )
            )
            keys.append(exp.Subquery(this=inner).as_(hidden))
        return keys

    @contextmanager
    def _time_limit(self, conn: Connection) -> Iterator[None]:
        """Stop the statements run inside after :attr:`time_limit` seconds (:class:`TooSlow`);
        any other database error passes through as it is."""
        from sqlalchemy.exc import OperationalError

        limit = self.time_limit
        started = time.monotonic()
        raw: Any = None
        if self.dialect == "sqlite":
            raw = conn.connection.driver_connection

            def _stop() -> int:
                return 1 if time.monotonic() - started > limit else 0

            raw.set_progress_handler(_stop, 1000)
        else:
            conn.exec_driver_sql(f"SET LOCAL statement_timeout = {max(1, int(limit * 1000))}")
        try:
            yield
        except OperationalError as exc:
            if time.monotonic() - started >= limit:
                raise TooSlow from exc
            raise
        finally:
            if raw is not None:
                raw.set_progress_handler(None, 0)

    def _table_probes(self, written: Rewritten, decide: Any) -> list[str]:
        """Every customer of every table the query reads, after the caller's row filter (the
        upper bound of step 6): one rewritten key query per table."""
        probes: list[str] = []
        for name in written.tables:
            key = self.records.catalog.table(name).customer_key
            if key is None:
                continue
            if key.via_table is None:
                probe = f"SELECT {key.column} FROM {name}"
            else:
                via_key = self.records.catalog.table(key.via_table).customer_key
                if via_key is None:
                    raise QueryDenied(f"table {name!r}: its customers cannot be found")
                probe = (
                    f"SELECT v.{via_key.column} FROM {name} t JOIN {key.via_table} v "
                    f"ON v.{key.via_column} = t.{key.column}"
                )
            try:
                keyed = rewrite(
                    probe, dialect=self.dialect, catalog=self.records.catalog, decide=decide
                )
            except QueryDenied:
                # the key is not visible to the caller: the whole table, unfiltered
                keyed = None
            probes.append(keyed.sql if keyed is not None else probe)
        return probes

    def _estimate_customers(self, conn: Connection, keyed_sql: str, n_keys: int) -> int:
        """The distinct customers in the hidden key columns of the whole answer (before the row
        limit), counted in the database; 0 without key columns."""
        from sqlalchemy import text

        if not n_keys:
            return 0
        union = " UNION ".join(
            f"SELECT {_HIDDEN}{i} AS lw_k FROM ({keyed_sql}) AS lw_e{i}" for i in range(n_keys)
        )
        sql = f"SELECT COUNT(*) FROM ({union}) AS lw_u WHERE lw_k IS NOT NULL"
        return int(conn.execute(text(sql)).scalar() or 0)

    def _customers_of(
        self,
        conn: Connection,
        probes: list[str],
        basis: str,
        ctx: CallContext,
        policy_ids: list[str],
        fp_extra: dict[str, str],
    ) -> list[int]:
        """The distinct customer ids the probes return.  When there are more than the day's
        regular and VIP budgets together, some window is certainly exceeded whatever the person
        saw before: refused on the count, without listing (or fetching) the ids."""
        from sqlalchemy import text

        if not probes:
            return []
        union = " UNION ".join(f"SELECT * FROM ({p}) AS lw_p{i}" for i, p in enumerate(probes))
        count = int(conn.execute(text(f"SELECT COUNT(*) FROM ({union}) AS lw_u")).scalar() or 0)
        limits = self.records.settings.quota
        if count > limits.day + limits.vip_day:
            exc = QuotaExceeded(
                "distinct customers per day",
                limits.day,
                None,
                f"this query reads the rows of {count} customers (charged by {basis}: "
                "aggregates by the rows they read, set operations and subqueries by every "
                "customer of their tables); narrow it by customer",
            )
            self.records.refuse(
                ctx,
                "query",
                DATASET,
                ROUTE,
                429,
                str(exc),
                policy_ids=policy_ids,
                extra={
                    **fp_extra,
                    "quota": exc.quota,
                    "customers_read": str(count),
                    "customer_basis": basis,
                },
            )
        return sorted(int(v) for v in conn.execute(text(union)).scalars() if v is not None)

    def _vip(self, ids: list[int]) -> dict[int, bool]:
        from sqlalchemy import select

        from leakwarden.demo.schema import customers

        if not ids:
            return {}
        vip: dict[int, bool] = {c: False for c in ids}
        with self.records.company.connect() as conn:
            for chunk in range(0, len(ids), 900):
                part = ids[chunk : chunk + 900]
                for r in conn.execute(
                    select(customers.c.id, customers.c.vip).where(customers.c.id.in_(part))
                ):
                    vip[int(r.id)] = bool(r.vip)
        return vip

    def _treat(self, row: Sequence[Any], written: Rewritten, keep: list[int]) -> list[Value]:
        from leakwarden.protect.pseudonym import pseudonym

        out: list[Value] = []
        key = self.records.settings.pseudonym_key
        for i in keep:
            value = row[i]
            pc = written.pseudonymised.get(i)
            if pc is not None and value is not None:
                type_id = pc.data_classes[0] if pc.data_classes else None
                out.append(pseudonym(key, 1, str(plain_value(value)), type_id))
            else:
                out.append(plain_value(value))
        return out


class _TreatFailed(Exception):
    """Pseudonymising a value failed (the exception's type name, never the value)."""


def _row_keys(row: Sequence[Any], hidden: list[int]) -> list[int]:
    """The customer ids in ``row``'s hidden key columns; :class:`KeysMasked` when one is not an
    id (the caller sees the key masked or pseudonymised)."""
    try:
        return [int(row[i]) for i in hidden if row[i] is not None]
    except (TypeError, ValueError):
        raise KeysMasked from None


def _single_select(tree: exp.Select) -> bool:
    """One SELECT over base tables: no CTE, derived table or subquery anywhere, so no row is
    read but through its own FROM, JOINs and WHERE."""
    if tree.args.get("with") or tree.args.get("with_"):
        return False
    return not any(node is not tree for node in tree.find_all(exp.Select, exp.SetOperation))


def _plain_select(tree: exp.Select) -> bool:
    """A single SELECT (:func:`_single_select`) without grouping, aggregate or DISTINCT: each
    output row comes from one row of each of its sources, whose customer keys can ride along."""
    if tree.args.get("group") or tree.args.get("having") or tree.args.get("distinct"):
        return False
    if not _single_select(tree):
        return False
    for projection in tree.expressions:
        for agg in projection.find_all(exp.AggFunc):
            if agg.find_ancestor(exp.Select) is tree and agg.find_ancestor(exp.Window) is None:
                return False
    return True


# ---------------------------------------------------------------------------------- HTTP


class QueryIn(BaseModel):
    """A query through the gateway.  The answer is an NDJSON stream (:mod:`.query_stream`)
    when the request's ``Accept`` names ``application/x-ndjson``, else one JSON document."""

    sql: str = Field(description="One SELECT statement in the company database's dialect.")
    purpose: str | None = Field(None, description="Why (or the X-Purpose header).")
    ticket: str | None = Field(None, description="The work ticket (or the X-Ticket header).")
    max_rows: int | None = Field(
        None, description="Return at most this many rows (at most the rows-per-request quota)."
    )
    mode: str = Field(
        "rows",
        description="'rows' (default) or 'aggregate': a GROUP BY answer whose cells of fewer "
        "than the minimum group size (and cells that differ from earlier answers by a few "
        "customers) are suppressed, charged rows and bytes, not customers.",
    )


class QueryOut(BaseModel):
    """The whole answer as one document (any ``Accept`` but NDJSON): the same stream, read to
    its end on the server.  Values already treated (masked in SQL, pseudonymised)."""

    columns: list[str]
    rows: list[list[str | int | bool | None]]
    truncated: bool = Field(
        description="True when the answer stopped before its end (row limit, quota, error)."
    )
    truncation: str | None = Field(description="Why it stopped, or null.")
    stopped: str | None = Field(
        None,
        description="null (complete) | row limit | quota | ticket | consent | time limit | error",
    )
    fingerprint: str = Field(description="SHA-256 of the normalised query (literals out).")
    tables: list[str]
    customers: int = Field(description="Distinct customers charged to the caller's quota.")
    customer_basis: str = Field(
        description="'returned': the customers of the rows returned; 'rows read': of the rows "
        "an aggregate reads; 'tables': every customer of the tables read (UNION, subqueries), "
        "the safe upper bound."
    )
    estimated_rows: int = Field(0, description="Rows the query had when it was estimated.")
    estimated_customers: int = Field(0, description="Distinct customers it had then.")
    pseudonymised: list[str] = Field(description="Output columns replaced by HMAC pseudonyms.")
    policy_ids: list[str]
    audit_index: int = Field(description="The decision's audit entry (also the first chunk's).")
    notes: dict[str, str | int] = Field(
        default_factory=dict,
        description="Aggregate mode: mode, min_group, suppressed (and why), customers_aggregated.",
    )


#: ``POST /query``; ``create_app`` includes it and puts the :class:`QueryService` in
#: ``app.state.queries``.
query_router = APIRouter(tags=["sql"])


@query_router.post(
    "/query",
    summary="SQL through the gateway: rewritten with the caller's masks and row filter, "
    "estimated, counted, audited before release.",
    response_model=QueryOut,
    responses={
        200: {
            "description": "The answer as one document or, with 'Accept: "
            "application/x-ndjson', a stream: a header line, rows lines, an end line.",
            "content": {NDJSON: {"schema": {"type": "string"}}},
        },
        400: {
            "model": ErrorOut,
            "description": "Query denied: the reason and its line and "
            "column (unknown table or function, writes, filters on masked columns ...).",
        },
        403: {
            "model": ErrorOut,
            "description": "The policy refuses a table, or ticket / consent refusal.",
        },
        429: {
            "model": ErrorOut,
            "description": "Over 'rows per request' (estimated before "
            "running), a distinct-customer quota or bytes per day.",
        },
    },
)
def post_query(
    body: QueryIn,
    request: Request,
    authorization: Annotated[str | None, Header(description="Bearer <token>")] = None,
) -> Any:
    ctx = caller_context(
        request,
        authorization,
        x_purpose=request.headers.get("x-purpose"),
        x_ticket=request.headers.get("x-ticket"),
        purpose=body.purpose,
        ticket=body.ticket,
    )
    queries: QueryService = request.app.state.queries
    if not _wants_stream(request.headers.get("accept")):
        r = queries.run(ctx, body.sql, max_rows=body.max_rows, mode=body.mode)
        return QueryOut(
            columns=r.columns,
            rows=r.rows,
            truncated=r.truncated,
            truncation=r.truncation,
            stopped=r.stopped,
            fingerprint=r.fingerprint,
            tables=r.tables,
            customers=r.customers,
            customer_basis=r.customer_basis,
            estimated_rows=r.estimated_rows,
            estimated_customers=r.estimated_customers,
            pseudonymised=r.pseudonymised,
            policy_ids=r.policy_ids,
            audit_index=r.audit_index,
            notes=r.notes,
        )
    stream = queries.open(ctx, body.sql, max_rows=body.max_rows, mode=body.mode)
    return StreamingResponse(stream.lines(), media_type=NDJSON)


def _wants_stream(accept: str | None) -> bool:
    """The stream when the caller's ``Accept`` names NDJSON; else (``*/*``, JSON, none) the
    one-document answer, which existing clients expect."""
    return NDJSON in (accept or "").lower()
