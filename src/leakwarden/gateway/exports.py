"""Bulk export with two-person approval (issue 5): ``ExportService`` and ``export_router``.

The life of an export:

1. ``request``: the requester's SQL is rewritten by :func:`.sql_rewrite.rewrite` under the
   policies for action ``export`` (masks, row filters, denials, exactly as for a query), which
   gives its fingerprint and literal parameters; the rewritten query is counted (rows, and
   distinct customers when the output has a customer key: a ``customer_id`` column, or ``id``
   of a query on ``customers`` alone).  Approval is needed when the estimate is over
   :attr:`ExportConfig.row_threshold` rows OR any column read is sensitive PI; otherwise the
   request is approved at once (``approvals`` empty, the audit says why).
2. ``approve`` / ``reject``: by a *person* who is not the requester and whose role is in
   :attr:`ExportConfig.approver_roles` (the approver rule lives in configuration, not in Cedar:
   the shipped Cedar schema has no approval action; the rule is checked again at execution),
   while the request is ``requested`` and not expired.  The first reject is final.
3. ``execute``: only by the requester, once.  Re-checked at run time: status approved, not
   expired, every recorded approval still valid (another person, an approver role: the
   approver's role *now* when ``principal_of`` is given, as :func:`install_exports` does), the
   stored SQL's fingerprint and parameters equal those approved (and equal to the caller's SQL if it
   gives one), and the policy again (the rewrite runs anew under today's policies).  The status
   goes ``approved -> executing`` by one conditional UPDATE, so two concurrent executes cannot
   both run; a failure before the file is released puts it back to ``approved``.
   The result (CSV, pseudonymised columns HMAC-pseudonymised as on the record path) is written
   encrypted (container below) through :func:`leakwarden.fileio.write_atomic`; the registry row
   (``exports``) holds customer ids and CSV rows only as HMAC-SHA-256 keyed hashes.  Before the
   CSV is written the copy is fingerprinted (:mod:`leakwarden.trace.fingerprint`): canary
   customers mixed in (none for operational purposes), a row subset where configured, a keyed
   row order and formatting variants; the parameters go to ``exports.fingerprint_params``, the
   canaries' keyed identifiers to the canary registry (``trace_canaries``), in the same
   transaction as the copy's registry row.

At execution the result may not exceed the approved estimate by more than
:attr:`ExportConfig.size_tolerance`, and the consent check (:mod:`.consent`) must allow the
purpose for every customer in it.  Results are held in memory (the demo company's sizes; a
streaming writer is future work).  Exports are not charged to the distinct-customer quota: the
approval is the sanctioned way past it.

Wiring: :func:`install_exports` builds the service from ``create_app``'s state and puts it in
``app.state.exports``; ``app.include_router(export_router)`` adds the routes (``POST /exports``,
``POST /exports/{id}/approve|reject|execute``, ``GET /exports/{id}``, ``GET /exports/{id}/file``).

Every step is written to the audit ledger BEFORE its effect is released (the request id
returned, the approval recorded, the file written); if the ledger cannot write, nothing happens
(:class:`~.records.AuditUnavailable`).  Every refusal is an :class:`ExportRefused` naming the
rule, audited as ``denied``.

Encrypted file container (``.lwx``)::

    LWEXPORT1\\n
    <header: one line of JSON, UTF-8>\\n
    <AES-256-GCM ciphertext of the CSV (UTF-8), 16-byte tag appended>

The header holds ``format`` ("leakwarden-export"), ``version`` (1), ``export_id``,
``request_id``, ``cipher`` ("AES-256-GCM"), ``key_name`` / ``key_version`` (a key of the
:class:`~leakwarden.protect.keys.KeyRing`), ``kdf`` (the file key is the ring key's
``derive("export-file:<export_id>")``, HKDF-SHA-256, so each export has its own key),
``nonce`` (base64, 12 bytes) and ``content`` ("text/csv; charset=utf-8").  The header line is
the GCM associated data: changing it breaks decryption.  :func:`decrypt_export` reads it.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import io
import json
import os
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import select, text, update

from leakwarden.audit.events import AuditEvent
from leakwarden.audit.ledger import AuditWriteError
from leakwarden.gateway.catalog import Catalog
from leakwarden.gateway.consent import ConsentCheck, PermissiveConsent
from leakwarden.gateway.decision import AccessRequest, Decision, Principal
from leakwarden.gateway.records import AuditUnavailable
from leakwarden.gateway.sql_rewrite import QueryDenied, Rewritten, rewrite
from leakwarden.store.export_tables import ExportRecord, ExportRequest
from leakwarden.trace.fingerprint import FingerprintConfig

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from leakwarden.audit.ledger import Ledger
    from leakwarden.demo.values import Person
    from leakwarden.protect.keys import KeyRing
    from leakwarden.trace.fingerprint import Fingerprinted

__all__ = [
    "DEFAULT_APPROVER_ROLES",
    "MAGIC",
    "ExportConfig",
    "ExportRefused",
    "ExportService",
    "decrypt_export",
    "export_router",
    "install_exports",
]

MAGIC = b"LWEXPORT1\n"
FILE_KEY = "export-file"
HASH_KEY = "export-hash"

# Who may approve a bulk export (role ids of gateway.decision.ROLE_IDS): heads of department
# that own customer data, legal and security.  ExportConfig.approver_roles overrides it.
DEFAULT_APPROVER_ROLES: frozenset[str] = frozenset(
    {
        "general_manager",
        "data_director",
        "cs_director",
        "risk_director",
        "finance_director",
        "legal_director",
        "legal_manager",
        "security_analyst",
    }
)

Decide = Callable[[AccessRequest], Decision]


@dataclass(frozen=True)
class ExportConfig:
    """Export rules: approval over ``row_threshold`` rows (or any sensitive PI), who may approve,
    the longest an approval may wait, where files go, the SQL dialect of the company database,
    and how far the rows and customers at execution may exceed the approved estimate
    (``size_tolerance``, 0.1 = 10 %; more refuses the export: the approval was for a size);
    ``fingerprint``: canaries and per-copy variants (:class:`~leakwarden.trace.fingerprint.
    FingerprintConfig`, whose ``operational_purposes`` (delivery, billing, marketing by default)
    get no canaries)."""

    row_threshold: int = 1000
    approver_roles: frozenset[str] = DEFAULT_APPROVER_ROLES
    max_expiry: timedelta = timedelta(days=7)
    directory: Path = Path("exports")
    dialect: str = "sqlite"
    size_tolerance: float = 0.1
    fingerprint: FingerprintConfig = field(default_factory=FingerprintConfig)


class ExportRefused(Exception):
    """An export step refused; ``rule`` names the rule, ``status`` is the HTTP status."""

    def __init__(self, status: int, rule: str, message: str) -> None:
        super().__init__(f"{message} [rule: {rule}]")
        self.status = status
        self.rule = rule
        self.message = f"{message} [rule: {rule}]"


class ExportView(BaseModel):
    """What the service tells a caller about a request (and its export, once executed); also
    the HTTP answer of the export routes."""

    id: str
    status: str
    requester: str
    purpose: str
    recipient: str
    sql: str
    fingerprint: str
    parameters: list[str]
    columns: dict[str, list[str]]
    sensitive_columns: list[str]
    estimated_rows: int
    estimated_customers: int | None
    needs_approval: bool
    created_at: str
    expires_at: str
    approvals: list[dict[str, str]]
    export_id: str | None = None
    file_path: str | None = None
    file_sha256: str | None = None
    rows: int | None = None
    customers: int | None = None
    audit_index: int | None = None


@dataclass
class _Result:
    header: list[str]
    rows: list[list[str]]
    customer_ids: list[str] = field(default_factory=list)
    has_customer_key: bool = False
    key_pos: int | None = None


def _now() -> datetime:
    return datetime.now(UTC)


def _utc(value: datetime) -> datetime:
    """SQLite returns naive datetimes: they were stored as UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


class ExportService:
    """The export steps, independent of HTTP.  ``decide`` is the policy (``PolicyEngine.decide``
    over the catalogue); ``keys`` the key ring (key ``export`` is created if missing);
    ``pseudonym_key`` the gateway's pseudonym key (``GatewaySettings.pseudonym_key``)."""

    def __init__(
        self,
        *,
        company: Engine,
        store: Engine,
        ledger: Ledger,
        decide: Decide,
        catalog: Catalog,
        keys: KeyRing,
        pseudonym_key: bytes,
        config: ExportConfig | None = None,
        key_name: str = "export",
        consent: ConsentCheck | None = None,
        principal_of: Callable[[str], Principal] | None = None,
    ) -> None:
        self.company = company
        self.store = store
        self.ledger = ledger
        self.decide = decide
        self.catalog = catalog
        self.keys = keys
        self.pseudonym_key = pseudonym_key
        self.config = config or ExportConfig()
        self.key_name = key_name
        self.consent: ConsentCheck = consent or PermissiveConsent()
        # an approver's current principal by person id (None: the role recorded at approval is
        # re-checked against the configuration only); raises if the person no longer exists
        self.principal_of = principal_of
        # created here, not on first execute: a key-ring insert racing the ledger's writes on
        # one SQLite file could hit "database is locked" in the middle of an export
        self.keys.ensure(key_name, "export")

    # ------------------------------------------------------------------ steps

    def request(
        self,
        principal: Principal,
        sql: str,
        purpose: str,
        ticket: str | None,
        recipient: str,
        expires_in: timedelta,
    ) -> ExportView:
        """Record an export request (module docstring, step 1)."""
        if not recipient.strip():
            self._refuse(principal, "request", None, 400, "recipient", "name the recipient")
        if expires_in <= timedelta(0) or expires_in > self.config.max_expiry:
            self._refuse(
                principal,
                "request",
                None,
                400,
                "expiry",
                f"expires_in must be positive and at most {self.config.max_expiry}",
            )
        rewritten = self._rewrite(principal, sql, purpose, ticket, "request", None)
        rows, customers = self._estimate(rewritten)
        sensitive = sorted(
            f"{t}.{c}"
            for t, cols in rewritten.columns.items()
            for c in cols
            if self.catalog.column(t, c).sensitivity == "sensitive"
        )
        needs = rows > self.config.row_threshold or bool(sensitive)
        now = _now()
        rid = "xr_" + secrets.token_hex(8)
        why = (
            f"approval needed: {rows} rows (threshold {self.config.row_threshold})"
            + (f", sensitive PI {', '.join(sensitive)}" if sensitive else "")
            if needs
            else f"no approval needed: {rows} rows, no sensitive PI"
        )
        row = ExportRequest(
            id=rid,
            requester=principal.person_id,
            requester_role=principal.role,
            purpose=purpose,
            ticket=ticket,
            sql=sql,
            dialect=self.config.dialect,
            fingerprint=rewritten.fingerprint,
            parameters=json.dumps(rewritten.parameters),
            columns=json.dumps(rewritten.columns),
            sensitive_columns=json.dumps(sensitive),
            estimated_rows=rows,
            estimated_customers=customers,
            needs_approval=needs,
            recipient=recipient.strip(),
            created_at=now,
            expires_at=now + expires_in,
            status="requested" if needs else "approved",
            approvals="[]",
        )
        index = self._audit(
            principal,
            "request",
            "success",
            why,
            rid,
            purpose=purpose,
            ticket=ticket,
            columns=_flat(rewritten.columns),
            rows=rows,
            customers=customers,
            extra={"fingerprint": rewritten.fingerprint, "recipient": recipient.strip()},
        )
        from sqlalchemy.orm import Session

        with Session(self.store) as session, session.begin():
            session.add(row)
        view = self.show(rid)
        view.audit_index = index
        return view

    def approve(self, request_id: str, approver: Principal, note: str = "") -> ExportView:
        """Approve (module docstring, step 2)."""
        return self._decide_request(request_id, approver, note, "approve")

    def reject(self, request_id: str, approver: Principal, note: str = "") -> ExportView:
        """Reject: the request can no longer run."""
        return self._decide_request(request_id, approver, note, "reject")

    def execute(self, request_id: str, principal: Principal, sql: str | None = None) -> ExportView:
        """Run an approved request once (module docstring, step 3)."""
        req = self._load(request_id, principal, "execute")
        if principal.person_id != req.requester:
            self._refuse(
                principal, "execute", req, 403, "requester-only", "only the requester may execute"
            )
        if req.status != "approved":
            self._refuse(
                principal,
                "execute",
                req,
                409,
                "approved-once",
                f"the request is {req.status}, not approved",
            )
        self._check_expiry(principal, "execute", req)
        self._check_approvals(principal, req)
        if sql is not None:
            self._check_same_query(principal, req, sql, "the SQL given")
        self._check_same_query(principal, req, req.sql, "the stored SQL")
        rewritten = self._rewrite(
            principal, req.sql, req.purpose, req.ticket, "execute", req, policy_recheck=True
        )
        if rewritten.fingerprint != req.fingerprint or rewritten.parameters != json.loads(
            req.parameters
        ):
            self._refuse(
                principal,
                "execute",
                req,
                409,
                "same-query",
                "the stored SQL no longer matches the approved fingerprint and parameters",
            )
        # claim: approved -> executing, in one conditional UPDATE (a second execute finds 0 rows)
        with self.store.begin() as conn:
            claimed = conn.execute(
                update(ExportRequest)
                .where(ExportRequest.id == request_id, ExportRequest.status == "approved")
                .values(status="executing")
            ).rowcount
        if claimed != 1:
            self._refuse(
                principal,
                "execute",
                req,
                409,
                "approved-once",
                "the request is already being executed or was executed",
            )
        try:
            return self._run(principal, req, rewritten)
        except BaseException:
            with self.store.begin() as conn:
                conn.execute(
                    update(ExportRequest)
                    .where(ExportRequest.id == request_id, ExportRequest.status == "executing")
                    .values(status="approved")
                )
            raise

    def show(self, request_id: str) -> ExportView:
        """The request and, once executed, its export."""
        from sqlalchemy.orm import Session

        with Session(self.store) as session:
            req = session.get(ExportRequest, request_id)
            if req is None:
                raise ExportRefused(404, "exists", f"no export request {request_id!r}")
            rec = session.scalars(
                select(ExportRecord).where(ExportRecord.request_id == request_id)
            ).first()
            status = req.status
            if status in ("requested", "approved") and _utc(req.expires_at) <= _now():
                status = "expired"
            return ExportView(
                id=req.id,
                status=status,
                requester=req.requester,
                purpose=req.purpose,
                recipient=req.recipient,
                sql=req.sql,
                fingerprint=req.fingerprint,
                parameters=json.loads(req.parameters),
                columns=json.loads(req.columns),
                sensitive_columns=json.loads(req.sensitive_columns),
                estimated_rows=req.estimated_rows,
                estimated_customers=req.estimated_customers,
                needs_approval=req.needs_approval,
                created_at=_utc(req.created_at).isoformat(),
                expires_at=_utc(req.expires_at).isoformat(),
                approvals=json.loads(req.approvals),
                export_id=rec.id if rec else None,
                file_path=rec.file_path if rec else None,
                file_sha256=rec.file_sha256 if rec else None,
                rows=rec.rows if rec else None,
                customers=rec.customers if rec else None,
            )

    def pending(self, principal: Principal) -> list[ExportView]:
        """Requests waiting for a decision that ``principal`` may decide (an approver role, not
        their own), oldest first; expired ones are left out."""
        if principal.kind != "person" or principal.role not in self.config.approver_roles:
            return []
        with self.store.connect() as conn:
            ids = list(
                conn.execute(
                    select(ExportRequest.id)
                    .where(
                        ExportRequest.status == "requested",
                        ExportRequest.requester != principal.person_id,
                    )
                    .order_by(ExportRequest.created_at)
                ).scalars()
            )
        views = [self.show(i) for i in ids]
        return [v for v in views if v.status == "requested"]

    def encrypted_file(self, request_id: str, principal: Principal) -> tuple[ExportView, bytes]:
        """The encrypted file of an executed export, for its requester; the download is audited
        before the bytes are returned, and the file must still have its registered SHA-256."""
        view = self.show(request_id)
        req = self._load(request_id, principal, "download")
        if principal.person_id != view.requester:
            self._refuse(
                principal, "download", req, 403, "requester-only", "only the requester downloads"
            )
        if view.file_path is None or view.export_id is None:
            self._refuse(principal, "download", req, 409, "executed", "not executed yet")
        assert view.file_path is not None
        blob = Path(view.file_path).read_bytes()
        if hashlib.sha256(blob).hexdigest() != view.file_sha256:
            self._refuse(
                principal, "download", req, 409, "file-intact", "the file differs from the registry"
            )
        self._audit(
            principal,
            "download",
            "success",
            f"encrypted file of export {view.export_id}",
            request_id,
            purpose=req.purpose,
            export_id=view.export_id,
        )
        return view, blob

    # ------------------------------------------------------------------ internals

    def _decide_request(
        self, request_id: str, approver: Principal, note: str, verb: str
    ) -> ExportView:
        req = self._load(request_id, approver, verb)
        if approver.kind != "person":
            self._refuse(approver, verb, req, 403, "approver-person", "approvers are people")
        if approver.person_id == req.requester:
            self._refuse(
                approver,
                verb,
                req,
                403,
                "four-eyes",
                "the requester may not approve or reject their own export",
            )
        if approver.role not in self.config.approver_roles:
            self._refuse(
                approver,
                verb,
                req,
                403,
                "approver-role",
                f"role {approver.role!r} may not approve exports "
                f"(allowed: {', '.join(sorted(self.config.approver_roles))})",
            )
        if req.status != "requested":
            self._refuse(
                approver, verb, req, 409, "pending", f"the request is {req.status}, not pending"
            )
        self._check_expiry(approver, verb, req)
        now = _now()
        entry = {
            "person": approver.person_id,
            "role": approver.role,
            "decision": "approved" if verb == "approve" else "rejected",
            "at": now.isoformat(),
            "note": note,
        }
        approvals = [*json.loads(req.approvals), entry]
        new_status = "approved" if verb == "approve" else "rejected"
        index = self._audit(
            approver,
            verb,
            "success",
            f"export request {entry['decision']} by {approver.person_id} ({approver.role})",
            req.id,
            purpose=req.purpose,
            ticket=req.ticket,
            extra={"requester": req.requester, "fingerprint": req.fingerprint},
        )
        with self.store.begin() as conn:
            done = conn.execute(
                update(ExportRequest)
                .where(ExportRequest.id == req.id, ExportRequest.status == "requested")
                .values(status=new_status, approvals=json.dumps(approvals))
            ).rowcount
        if done != 1:
            raise ExportRefused(409, "pending", "the request changed meanwhile; nothing recorded")
        view = self.show(req.id)
        view.audit_index = index
        return view

    def _load(self, request_id: str, principal: Principal, verb: str) -> ExportRequest:
        from sqlalchemy.orm import Session

        with Session(self.store, expire_on_commit=False) as session:
            req = session.get(ExportRequest, request_id)
            if req is not None:
                session.expunge(req)
        if req is None:
            self._refuse(principal, verb, None, 404, "exists", f"no export request {request_id!r}")
        assert req is not None
        return req

    def _check_expiry(self, principal: Principal, verb: str, req: ExportRequest) -> None:
        if _utc(req.expires_at) <= _now():
            self._refuse(
                principal,
                verb,
                req,
                410,
                "expiry",
                f"the request expired at {_utc(req.expires_at).isoformat()}",
            )

    def _check_approvals(self, principal: Principal, req: ExportRequest) -> None:
        approvals = [a for a in json.loads(req.approvals) if a.get("decision") == "approved"]
        if req.needs_approval and not approvals:
            self._refuse(principal, "execute", req, 403, "four-eyes", "no approval recorded")
        for a in approvals:
            if a["person"] == req.requester:
                self._refuse(
                    principal, "execute", req, 403, "four-eyes", "approved by the requester"
                )
            role = a["role"]
            if self.principal_of is not None:
                try:
                    role = self.principal_of(a["person"]).role
                except Exception as exc:
                    self._refuse(
                        principal,
                        "execute",
                        req,
                        403,
                        "approver-role",
                        f"approver {a['person']} cannot be confirmed now: {exc}",
                    )
            if role not in self.config.approver_roles:
                self._refuse(
                    principal,
                    "execute",
                    req,
                    403,
                    "approver-role",
                    f"approver {a['person']} (role {role!r}) may no longer approve exports",
                )

    def _check_same_query(
        self, principal: Principal, req: ExportRequest, sql: str, what: str
    ) -> None:
        from leakwarden.gateway.sql_rewrite import fingerprint

        try:
            digest, params = fingerprint(sql, req.dialect)
        except QueryDenied as exc:
            self._refuse(principal, "execute", req, 400, "query", f"{what}: {exc}")
            return
        if digest != req.fingerprint or params != json.loads(req.parameters):
            self._refuse(
                principal,
                "execute",
                req,
                409,
                "same-query",
                f"{what} does not match the approved query (fingerprint and parameters)",
            )

    def _rewrite(
        self,
        principal: Principal,
        sql: str,
        purpose: str,
        ticket: str | None,
        verb: str,
        req: ExportRequest | None,
        *,
        policy_recheck: bool = False,
    ) -> Rewritten:
        policies: list[str] = []

        def decide(table: str, columns: list[str]) -> Decision:
            d = self.decide(
                AccessRequest(
                    principal=principal,
                    action="export",
                    purpose=purpose,
                    table=table,
                    columns=tuple(columns),
                    ticket=ticket,
                )
            )
            policies.extend(d.policy_ids)
            return d

        try:
            return rewrite(
                sql,
                dialect=self.config.dialect,
                catalog=self.catalog,
                decide=decide,
                pseudonymise=True,
            )
        except QueryDenied as exc:
            rule = "policy-at-run-time" if policy_recheck else "policy"
            self._refuse(
                principal, verb, req, 403, rule, f"query refused: {exc}", sql_purpose=purpose
            )
            raise AssertionError("unreachable") from None

    def _estimate(self, rewritten: Rewritten) -> tuple[int, int | None]:
        key = self._customer_column(rewritten)
        with self.company.connect() as conn:
            rows = int(
                conn.execute(text(f"SELECT COUNT(*) FROM ({rewritten.sql}) AS lw_q")).scalar_one()
            )
            customers = None
            if key is not None:
                customers = int(
                    conn.execute(
                        text(f'SELECT COUNT(DISTINCT lw_q."{key}") FROM ({rewritten.sql}) AS lw_q')
                    ).scalar_one()
                )
        return rows, customers

    def _customer_column(self, rewritten: Rewritten) -> str | None:
        """The output column holding customer ids, or None (see the module docstring)."""
        names = self._output_names(rewritten)
        if "customer_id" in names:
            return "customer_id"
        if rewritten.tables == ["customers"] and "id" in names:
            return "id"
        return None

    def _output_names(self, rewritten: Rewritten) -> list[str]:
        with self.company.connect() as conn:
            result = conn.execute(text(f"SELECT * FROM ({rewritten.sql}) AS lw_q LIMIT 0"))
            return list(result.keys())

    def _query(self, rewritten: Rewritten) -> _Result:
        from leakwarden.protect.pseudonym import pseudonym

        key = self._customer_column(rewritten)
        with self.company.connect() as conn:
            result = conn.execute(text(rewritten.sql))
            header = list(result.keys())
            raw = [list(r) for r in result]
        key_pos = header.index(key) if key is not None else None
        rows: list[list[str]] = []
        ids: list[str] = []
        for r in raw:
            if key_pos is not None and r[key_pos] is not None:
                ids.append(str(r[key_pos]))
            out = [_cell(v) for v in r]
            for pos, col in rewritten.pseudonymised.items():
                if out[pos]:
                    type_id = col.data_classes[0] if col.data_classes else None
                    out[pos] = pseudonym(self.pseudonym_key, 1, out[pos], type_id)
            rows.append(out)
        return _Result(header, rows, ids, key_pos is not None, key_pos)

    def _run(self, principal: Principal, req: ExportRequest, rewritten: Rewritten) -> ExportView:
        result = self._query(rewritten)
        self._check_size(principal, req, len(result.rows), len(set(result.customer_ids)))
        if result.customer_ids:
            ids = sorted({int(c) for c in result.customer_ids if c.isdigit()})
            consent = self.consent.check(req.purpose, ids)
            if not consent.allowed:
                self._refuse(
                    principal, "execute", req, 403, "consent", f"consent: {consent.reason}"
                )
        data_key = self.keys.current(self.key_name)
        export_id = "xp_" + secrets.token_hex(8)
        try:
            fp = self._fingerprint(req, rewritten, result, data_key, export_id)
        except ValueError as exc:
            # no copy leaves unfingerprinted (it could not be traced)
            self._refuse(
                principal, "execute", req, 409, "fingerprint", f"cannot fingerprint: {exc}"
            )
            raise AssertionError("unreachable") from None
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\r\n")
        writer.writerow(result.header)
        lines = []
        for row in fp.rows:
            line = io.StringIO()
            csv.writer(line, lineterminator="").writerow(row)
            lines.append(line.getvalue())
            writer.writerow(row)
        plain = buf.getvalue().encode("utf-8")

        mac_key = data_key.derive(HASH_KEY)
        customer_set = sorted(set(fp.real_ids))
        customer_hashes = sorted(_keyed(mac_key, "customer", c) for c in customer_set)
        row_hashes = [_keyed(mac_key, "row", line) for line in lines]
        blob = _encrypt(plain, data_key, export_id, req.id)
        sha = hashlib.sha256(blob).hexdigest()
        self.config.directory.mkdir(parents=True, exist_ok=True)
        path = (self.config.directory / f"{export_id}.lwx").resolve()
        approvers = [
            {"person": a["person"], "role": a["role"], "at": a["at"]}
            for a in json.loads(req.approvals)
            if a.get("decision") == "approved"
        ]
        customers = len(customer_set) if result.has_customer_key else None
        index = self._audit(
            principal,
            "execute",
            "success",
            f"export {export_id} of request {req.id}: {len(fp.rows)} rows to {req.recipient}",
            req.id,
            purpose=req.purpose,
            ticket=req.ticket,
            columns=result.header,
            rows=len(fp.rows),
            customers=customers,
            export_id=export_id,
            extra={
                "fingerprint": req.fingerprint,
                "recipient": req.recipient,
                "approvers": ",".join(a["person"] for a in approvers),
                "file_sha256": sha,
                "canaries": str(len(fp.canaries)),
            },
        )
        from leakwarden.fileio import write_atomic

        write_atomic(path, blob)
        now = _now()
        record = ExportRecord(
            id=export_id,
            request_id=req.id,
            recipient=req.recipient,
            requester=req.requester,
            approvers=json.dumps(approvers),
            purpose=req.purpose,
            executed_at=now,
            sql=req.sql,
            fingerprint=req.fingerprint,
            parameters=req.parameters,
            columns=json.dumps(result.header),
            rows=len(fp.rows),
            customers=customers,
            customer_hashes=json.dumps(customer_hashes),
            row_hashes=json.dumps(row_hashes),
            hash_key=f"{data_key.name}:{data_key.version}:{HASH_KEY}",
            file_path=str(path),
            file_sha256=sha,
            file_key=f"{data_key.name}:{data_key.version}",
            fingerprint_params=json.dumps(fp.params, ensure_ascii=False),
        )
        from sqlalchemy.orm import Session

        from leakwarden.trace.canaries import CANARY_HASH
        from leakwarden.trace.fingerprint import canary_records

        registry = canary_records(
            fp.canaries,
            export_id,
            data_key.derive(CANARY_HASH),
            f"{data_key.name}:{data_key.version}",
        )
        try:
            with Session(self.store) as session, session.begin():
                session.add(record)
                session.add_all(registry[0])
                session.flush()  # the canaries before their keys (foreign key)
                session.add_all(registry[1])
                session.execute(
                    update(ExportRequest)
                    .where(ExportRequest.id == req.id, ExportRequest.status == "executing")
                    .values(status="executed")
                )
        except BaseException:
            # an unregistered file would be an export trace cannot attribute: remove it
            path.unlink(missing_ok=True)
            raise
        view = self.show(req.id)
        view.audit_index = index
        return view

    def _fingerprint(
        self,
        req: ExportRequest,
        rewritten: Rewritten,
        result: _Result,
        data_key: Any,
        export_id: str,
    ) -> Fingerprinted:
        """Canaries and the copy's variants (:mod:`leakwarden.trace.fingerprint`), keyed by the
        copy's own key; pseudonymised columns get the canaries' pseudonyms."""
        from leakwarden.protect.pseudonym import pseudonym
        from leakwarden.trace.fingerprint import fingerprint_rows
        from leakwarden.trace.variants import copy_key

        def pseudo_of(type_id: str | None) -> Callable[[str], str]:
            return lambda value: pseudonym(self.pseudonym_key, 1, value, type_id)

        pseudo = {
            pos: pseudo_of(col.data_classes[0] if col.data_classes else None)
            for pos, col in rewritten.pseudonymised.items()
        }
        key = copy_key(self.keys, data_key.name, data_key.version, export_id)
        return fingerprint_rows(
            result.header,
            result.rows,
            result.key_pos,
            req.purpose,
            key,
            f"{data_key.name}:{data_key.version}",
            self.config.fingerprint,
            pseudonymise=pseudo,
            taken=self._taken_identifiers,
        )

    def _taken_identifiers(self, people: Sequence[Person]) -> set[int]:
        """Which of ``people`` hold a mobile, e-mail or resident ID of a real customer (the
        company's ``customers`` table; a company without one has no clash to find)."""
        from sqlalchemy import column, or_, select, table
        from sqlalchemy.exc import NoSuchTableError, OperationalError, ProgrammingError

        mobiles = {p.mobile: i for i, p in enumerate(people)}
        emails = {p.email: i for i, p in enumerate(people)}
        ids = {p.id_number: i for i, p in enumerate(people)}
        c = table("customers", column("mobile"), column("email"), column("id_card"))
        clash: set[int] = set()
        try:
            with self.company.connect() as conn:
                for lo in range(0, len(people), 300):
                    part = people[lo : lo + 300]
                    q = select(c.c.mobile, c.c.email, c.c.id_card).where(
                        or_(
                            c.c.mobile.in_([p.mobile for p in part]),
                            c.c.email.in_([p.email for p in part]),
                            c.c.id_card.in_([p.id_number for p in part]),
                        )
                    )
                    for mobile, email, id_card in conn.execute(q):
                        for found, where in ((mobile, mobiles), (email, emails), (id_card, ids)):
                            if found in where:
                                clash.add(where[found])
        except (NoSuchTableError, OperationalError, ProgrammingError):
            return set()
        return clash

    def _check_size(
        self, principal: Principal, req: ExportRequest, rows: int, customers: int
    ) -> None:
        """The approval (or the exemption from it) was for a size: refuse a result that grew past
        the estimate by more than ``size_tolerance``, or past the approval threshold when no
        approval was given."""
        slack = 1.0 + self.config.size_tolerance
        problems = []
        if rows > req.estimated_rows * slack:
            problems.append(f"{rows} rows (estimated {req.estimated_rows})")
        if req.estimated_customers is not None and customers > req.estimated_customers * slack:
            problems.append(f"{customers} customers (estimated {req.estimated_customers})")
        if not req.needs_approval and rows > self.config.row_threshold:
            problems.append(f"{rows} rows, over the threshold {self.config.row_threshold}")
        if problems:
            self._refuse(
                principal,
                "execute",
                req,
                409,
                "approved-size",
                f"the result is larger than approved: {'; '.join(problems)}; request again",
            )

    def _refuse(
        self,
        principal: Principal,
        verb: str,
        req: ExportRequest | None,
        status: int,
        rule: str,
        message: str,
        *,
        sql_purpose: str | None = None,
    ) -> None:
        refused = ExportRefused(status, rule, message)
        self._audit(
            principal,
            verb,
            "denied",
            refused.message,
            req.id if req is not None else None,
            purpose=req.purpose if req is not None else sql_purpose,
            ticket=req.ticket if req is not None else None,
            extra={"rule": rule, "status": str(status)},
        )
        raise refused

    def _audit(
        self,
        principal: Principal,
        verb: str,
        outcome: str,
        reason: str,
        request_id: str | None,
        *,
        purpose: str | None = None,
        ticket: str | None = None,
        columns: Sequence[str] = (),
        rows: int | None = None,
        customers: int | None = None,
        export_id: str | None = None,
        extra: Mapping[str, str] | None = None,
    ) -> int:
        more = {"request_id": request_id or "", **(extra or {})}
        try:
            return self.ledger.append(
                AuditEvent(
                    action=f"gateway.export.{verb}",
                    outcome=outcome,  # type: ignore[arg-type]
                    actor=principal.person_id,
                    reason=reason,
                    purpose=purpose,
                    columns=list(columns),
                    rows=rows,
                    customers=customers,
                    ticket=ticket,
                    export_id=export_id,
                    extra=more,
                )
            ).index
        except AuditWriteError as exc:
            raise AuditUnavailable(f"audit ledger unavailable: {exc}") from None
        except Exception as exc:
            raise AuditUnavailable(f"audit ledger unavailable: {type(exc).__name__}") from None


def _flat(columns: Mapping[str, Sequence[str]]) -> list[str]:
    return [f"{t}.{c}" for t, cols in columns.items() for c in cols]


def _keyed(key: bytes, kind: str, value: str) -> str:
    """HMAC-SHA-256 of ``kind:value`` (hex): the registry's keyed hash of a customer id or row."""
    return hmac.new(key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


def _registry_mac(keys: KeyRing, hash_key: str) -> bytes:
    """The MAC key behind a registry ``hash_key`` (``<key name>:<version>:export-hash``)."""
    name, version, _ = hash_key.split(":", 2)
    return keys.get(name, int(version)).derive(HASH_KEY)


def customer_hash(keys: KeyRing, hash_key: str, customer_id: str | int) -> str:
    """The registry's keyed hash of one customer id (``hash_key`` as stored in ``exports``)."""
    return _keyed(_registry_mac(keys, hash_key), "customer", str(customer_id))


def row_hashes(keys: KeyRing, hash_key: str, lines: Sequence[str]) -> list[str]:
    """The registry's keyed hashes of CSV lines, as :meth:`ExportService.execute` registered the
    exported rows: a leaked line with the same hash is a verbatim copy of an exported row."""
    mac = _registry_mac(keys, hash_key)
    return [_keyed(mac, "row", line) for line in lines]


def _encrypt(plain: bytes, data_key: Any, export_id: str, request_id: str) -> bytes:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = os.urandom(12)
    header = {
        "format": "leakwarden-export",
        "version": 1,
        "export_id": export_id,
        "request_id": request_id,
        "cipher": "AES-256-GCM",
        "key_name": data_key.name,
        "key_version": data_key.version,
        "kdf": f"HKDF-SHA-256 derive('{FILE_KEY}:{export_id}')",
        "nonce": base64.b64encode(nonce).decode(),
        "content": "text/csv; charset=utf-8",
    }
    line = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    key = data_key.derive(f"{FILE_KEY}:{export_id}")
    return MAGIC + line + b"\n" + AESGCM(key).encrypt(nonce, plain, line)


def decrypt_export(blob: bytes, keys: KeyRing) -> tuple[dict[str, Any], bytes]:
    """The header and the CSV bytes of an encrypted export file; ValueError naming the problem."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    if not blob.startswith(MAGIC):
        raise ValueError("not a leakwarden export file (no LWEXPORT1 line)")
    line, sep, body = blob[len(MAGIC) :].partition(b"\n")
    if not sep:
        raise ValueError("export file: header line not terminated")
    try:
        header = json.loads(line)
        key = keys.get(header["key_name"], int(header["key_version"])).derive(
            f"{FILE_KEY}:{header['export_id']}"
        )
        nonce = base64.b64decode(header["nonce"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"export file header: {type(exc).__name__}: {exc}") from None
    try:
        return header, AESGCM(key).decrypt(nonce, body, line)
    except InvalidTag:
        raise ValueError("export file: authentication failed (wrong key or altered file)") from None


def install_exports(
    app: Any, keys: KeyRing, config: ExportConfig | None = None, *, store: Engine | None = None
) -> ExportService:
    """Build the export service of a gateway app from ``create_app``'s state (company database,
    ledger, policy, catalogue, consent, pseudonym key) and put it in ``app.state.exports``,
    which :data:`export_router` uses; and the canary guard over the same store, key ring and
    ledger in ``app.state.canary_guard`` (:mod:`.canary_guard`: what the operational endpoints
    check contact values with).  ``config.dialect`` defaults to the company database's."""
    from dataclasses import replace

    from leakwarden.gateway.identity import load_principal
    from leakwarden.store import db

    records = app.state.service
    settings = app.state.settings
    dialect = "postgres" if records.company.dialect.name == "postgresql" else "sqlite"
    config = replace(config or ExportConfig(), dialect=dialect)
    if store is None:
        store = db.make_engine(settings.store_url)
    svc = ExportService(
        company=records.company,
        store=store,
        ledger=records.ledger,
        decide=records.decide,
        catalog=records.catalog,
        keys=keys,
        pseudonym_key=settings.pseudonym_key,
        config=config,
        consent=records.consent,
        principal_of=lambda person: load_principal(records.company, int(person)),
    )
    app.state.exports = svc
    from leakwarden.gateway.canary_guard import CanaryGuard

    app.state.canary_guard = CanaryGuard(store, keys, records.ledger)
    return svc


# ---------------------------------------------------------------------------------- HTTP

export_router = APIRouter(tags=["exports"])


def _service(request: Request) -> ExportService:
    svc = getattr(request.app.state, "exports", None)
    if svc is None:
        from leakwarden.gateway.records import Refused

        raise Refused(503, "exports are not configured on this gateway (no key ring)")
    assert isinstance(svc, ExportService)
    return svc


def _principal(
    request: Request,
    authorization: Annotated[str | None, Header(description="Bearer <token>")] = None,
) -> Principal:
    """The authenticated caller (the gateway's own authentication; failures audited)."""
    from leakwarden.gateway import app as gateway_app
    from leakwarden.gateway.identity import AuthError

    try:
        principal, _auth = gateway_app._authenticate(request, authorization)
    except AuthError as exc:
        gateway_app._audit_auth_failure(
            request.app.state.service, str(exc), gateway_app._client_ip(request), request.url.path
        )
        raise
    assert isinstance(principal, Principal)
    return principal


Caller = Annotated[Principal, Depends(_principal)]
Service = Annotated[ExportService, Depends(_service)]


class ExportRequestIn(BaseModel):
    sql: str = Field(description="The query to export (SELECT), as for POST /query.")
    purpose: str = Field(description="Why (a purpose the policies know, e.g. analytics).")
    ticket: str | None = Field(default=None, description="The work ticket, if any.")
    recipient: str = Field(description="Who receives the file (person, team or partner).")
    expires_in_hours: float = Field(default=24.0, gt=0, description="Approval validity.")


class DecisionIn(BaseModel):
    note: str = Field(default="", description="Why approved or rejected.")


class ExecuteIn(BaseModel):
    sql: str | None = Field(default=None, description="Optional: must match the approved query.")


class ContactSeenIn(BaseModel):
    contact: str = Field(description="The phone number or e-mail address that was contacted.")
    channel: str = Field(default="message", description="How: sms, call, email, message ...")


def _refused(exc: ExportRefused) -> JSONResponse:
    return JSONResponse({"detail": exc.message}, status_code=exc.status)


@export_router.post("/exports", summary="Request a bulk export (approval if over size/sensitive).")
def post_export(body: ExportRequestIn, caller: Caller, svc: Service) -> Any:
    try:
        return svc.request(
            caller,
            body.sql,
            body.purpose,
            body.ticket,
            body.recipient,
            timedelta(hours=body.expires_in_hours),
        )
    except ExportRefused as exc:
        return _refused(exc)


@export_router.post("/exports/{request_id}/approve", summary="Approve (another person).")
def approve_export(request_id: str, body: DecisionIn, caller: Caller, svc: Service) -> Any:
    try:
        return svc.approve(request_id, caller, body.note)
    except ExportRefused as exc:
        return _refused(exc)


@export_router.post("/exports/{request_id}/reject", summary="Reject (another person).")
def reject_export(request_id: str, body: DecisionIn, caller: Caller, svc: Service) -> Any:
    try:
        return svc.reject(request_id, caller, body.note)
    except ExportRefused as exc:
        return _refused(exc)


@export_router.post(
    "/exports/{request_id}/execute", summary="Run once (the requester); returns the file location."
)
def execute_export(request_id: str, body: ExecuteIn, caller: Caller, svc: Service) -> Any:
    try:
        return svc.execute(request_id, caller, body.sql)
    except ExportRefused as exc:
        return _refused(exc)


@export_router.get("/exports", summary="Requests waiting for your approval.")
def list_pending(caller: Caller, svc: Service) -> list[ExportView]:
    return [v for v in svc.pending(caller)]


@export_router.get(
    "/exports/{request_id}/file",
    summary="The encrypted export file (the requester only; decrypt with the key ring).",
    response_class=Response,
)
def get_export_file(request_id: str, caller: Caller, svc: Service) -> Response:
    try:
        view, blob = svc.encrypted_file(request_id, caller)
    except ExportRefused as exc:
        return _refused(exc)
    return Response(
        blob,
        media_type="application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="{view.export_id}.lwx"'},
    )


@export_router.get("/exports/{request_id}", summary="The request and its export.")
def get_export(request_id: str, caller: Caller, svc: Service) -> Any:
    try:
        view = svc.show(request_id)
    except ExportRefused as exc:
        return _refused(exc)
    if caller.person_id != view.requester and caller.role not in svc.config.approver_roles:
        return JSONResponse(
            {"detail": "only the requester or an approver may see an export request"},
            status_code=403,
        )
    return view


@export_router.post(
    "/canaries/contacts",
    status_code=202,
    summary="Report a contact point that was messaged or called (an SMS or mail provider's hook).",
)
def post_canary_contact(body: ContactSeenIn, caller: Caller, request: Request) -> dict[str, str]:
    """A message or call to a canary's phone or e-mail means someone holds its export copy: the
    canary guard writes the alert (``gateway.canary.contact``, the copy's export id, never the
    value) before this answers.  The answer is the same for any contact, so the hook is no oracle
    for which numbers are canaries; an alert that cannot be written is a 503."""
    guard = getattr(request.app.state, "canary_guard", None)
    if guard is None:
        from leakwarden.gateway.records import Refused

        raise Refused(503, "canaries are not configured on this gateway (no key ring)")
    channel = body.channel.strip() or "message"
    guard.check(
        [body.contact],
        actor=caller.person_id,
        purpose=f"canary-contact:{channel}",
        route="POST /canaries/contacts",
    )
    return {"status": "recorded"}
