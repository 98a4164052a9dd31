"""The gateway's HTTP service (FastAPI): ``create_app(settings)``.

Routes (OpenAPI at ``/openapi.json``, docs at ``/docs``):

- ``GET /customers/{customer_id}``, ``GET /customers?phone=...``, ``GET /orders/{order_id}``,
  ``POST /waybills/{waybill_no}/print``: the record endpoints (:mod:`.records`);
- ``POST /query``: SQL through the gateway (:mod:`.query`'s ``query_router``, which documents
  the request and the answer);
- ``GET /health``: liveness, no data.

Callers authenticate with ``Authorization: Bearer <token>``: an API token (``lw_...``,
:mod:`.identity`) or, when JWT mode is configured, an OIDC/JWT access token.  Each request states
its purpose (``X-Purpose`` header or ``purpose`` parameter) and, where needed, its ticket
(``X-Ticket`` or ``ticket``).  Errors come back as ``{"detail": "..."}``: 401 unidentified, 400
bad request, 403 refused (ticket, consent, policy, region), 404 not found, 429 over a quota
(``Retry-After`` and ``X-Quota-Resets``), 503 the audit ledger could not record the decision
(nothing released).  Refusals and failed authentications are audited too.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from leakwarden.gateway.consent import ConsentCheck, PermissiveConsent
from leakwarden.gateway.identity import (
    AuthError,
    JwtVerifier,
    TokenStore,
    load_principal,
    service_principal,
)
from leakwarden.gateway.records import (
    AuditUnavailable,
    CallContext,
    Decide,
    RecordService,
    Refused,
    Released,
)
from leakwarden.gateway.settings import GatewaySettings

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from leakwarden.audit.ledger import Ledger
    from leakwarden.gateway.exports import ExportConfig
    from leakwarden.gateway.quota import Quota
    from leakwarden.protect.keys import KeyRing
    from leakwarden.protect.waybill import RelayRegistry

__all__ = ["ErrorOut", "RecordsOut", "WaybillOut", "caller_context", "create_app"]


class ErrorOut(BaseModel):
    detail: str = Field(description="What went wrong and why; never a personal value.")


class RecordsOut(BaseModel):
    """Records of one table, each field treated as the policy decided."""

    table: str = Field(description="The table the records come from.")
    records: list[dict[str, str | int | bool | None]] = Field(
        description="The records; DENIED columns are left out, MASKED and PSEUDONYMISED values "
        "are replaced."
    )
    treatments: dict[str, str] = Field(
        description="Column -> clear | masked | pseudonymised | denied."
    )
    policy_ids: list[str] = Field(description="The Cedar policies that made the decision.")
    reason: str = Field(description="The decision's reason.")
    consent: str = Field(
        description="Which consent check ran; 'permissive-default: ...' means none was configured."
    )
    audit_index: int = Field(description="The audit ledger entry recording this release.")


class WaybillOut(BaseModel):
    """A privacy waybill label: recipient name and phone masked, relay number to dial."""

    label: dict[str, str] = Field(
        description="waybill_no, courier, recipient_name (masked), recipient_phone (masked), "
        "recipient_address (full or district), relay ('<line> 转 <ext>' or empty when no relay "
        "is configured), sender_*."
    )
    policy_ids: list[str]
    reason: str
    consent: str
    audit_index: int


_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut, "description": text}
    for code, text in (
        (400, "Bad request (unknown purpose, malformed phone)."),
        (401, "Not identified: missing, malformed, unknown, expired or revoked token."),
        (403, "Refused: ticket, consent, policy or region."),
        (404, "Not found."),
        (429, "Over a quota; the message names it, its limit and when it frees up."),
        (503, "The audit ledger could not record the decision; nothing was released."),
    )
}


def _client_ip(request: Request) -> str | None:
    """The peer's IP address (None when the peer is not an IP, e.g. the test client)."""
    import ipaddress

    host = request.client.host if request.client else None
    try:
        return str(ipaddress.ip_address(host)) if host else None
    except ValueError:
        return None


def _authenticate(request: Request, authorization: str | None) -> tuple[Any, str]:
    state = request.app.state
    if not authorization:
        raise AuthError("no Authorization header (Bearer <token>)")
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise AuthError("use 'Authorization: Bearer <token>'")
    if token.startswith("lw_"):
        info = state.tokens.verify(token)
        if info.service is not None:
            return service_principal(info.service), f"api-token:{info.token_id}"
        assert info.employee_id is not None
        return load_principal(state.company, info.employee_id), f"api-token:{info.token_id}"
    if state.jwt is None:
        raise AuthError("not an API token, and OIDC/JWT bearer tokens are not configured")
    return load_principal(state.company, state.jwt.employee_id(token)), "jwt"


def caller_context(
    request: Request,
    authorization: Annotated[str | None, Header(description="Bearer <token>")] = None,
    x_purpose: Annotated[str | None, Header(description="Why the data is needed.")] = None,
    x_ticket: Annotated[str | None, Header(description="The work ticket number.")] = None,
    purpose: Annotated[str | None, Query(description="Alternative to X-Purpose.")] = None,
    ticket: Annotated[str | None, Query(description="Alternative to X-Ticket.")] = None,
) -> CallContext:
    """Who calls (authenticated), why, under which ticket."""
    ip = _client_ip(request)
    try:
        principal, auth = _authenticate(request, authorization)
    except AuthError as exc:
        _audit_auth_failure(request.app.state.service, str(exc), ip, request.url.path)
        raise
    why = (x_purpose or purpose or "").strip()
    if not why:
        known = ", ".join(sorted(request.app.state.settings.purposes))
        raise Refused(400, f"state a purpose (X-Purpose header or purpose=): one of {known}")
    return CallContext(
        principal=principal,
        purpose=why,
        ticket=(x_ticket or ticket or "").strip() or None,
        source_ip=ip,
        auth=auth,
    )


Caller = Annotated[CallContext, Depends(caller_context)]


async def _caller_inline(request: Request) -> CallContext:
    """:func:`caller_context` run on the event loop, for the record routes (see
    :func:`create_app`; FastAPI would run the plain function in its thread pool).  It reads the
    headers and parameters itself: FastAPI's validation of five optional strings cost about a
    fifth of a lookup's CPU.  :data:`_CALLER_PARAMETERS` documents them in the OpenAPI."""
    h, q = request.headers, request.query_params
    return caller_context(
        request,
        h.get("authorization"),
        h.get("x-purpose"),
        h.get("x-ticket"),
        q.get("purpose"),
        q.get("ticket"),
    )


# What caller_context's parameters say in the OpenAPI, for the routes on _caller_inline.
_CALLER_PARAMETERS: dict[str, Any] = {
    "parameters": [
        {"name": name, "in": where, "required": False, "schema": {"type": "string"},
         "description": text}
        for name, where, text in (
            ("authorization", "header", "Bearer <token>"),
            ("x-purpose", "header", "Why the data is needed."),
            ("x-ticket", "header", "The work ticket number."),
            ("purpose", "query", "Alternative to X-Purpose."),
            ("ticket", "query", "Alternative to X-Ticket."),
        )
    ]
}  # fmt: skip


InlineCaller = Annotated[CallContext, Depends(_caller_inline)]


def create_app(
    settings: GatewaySettings,
    *,
    decide: Decide | None = None,
    consent: ConsentCheck | None = None,
    ledger: Ledger | None = None,
    quota: Quota | None = None,
    company: Engine | None = None,
    relay: RelayRegistry | None = None,
    keys: KeyRing | None = None,
    exports: ExportConfig | None = None,
) -> FastAPI:
    """The service.  With ``keys`` (the key ring holding the export file key) it also serves the
    bulk-export workflow (``/exports``, two-person approval; :mod:`leakwarden.gateway.exports`).
    Everything not given is built from ``settings``: the company database
    engine, the store (migrated), the audit ledger, the exact quota ledger, the shipped Cedar
    policies (or ``settings.policy_dir``) over the demo catalogue, the permissive consent
    default."""
    from leakwarden.audit.ledger import Ledger
    from leakwarden.gateway.catalog import Catalog
    from leakwarden.gateway.quota import SqlQuota
    from leakwarden.store import db

    catalog = Catalog.from_demo()
    # hide_parameters: a database error's text (logged by the server) must not carry the
    # phone number or waybill number a statement was looking for
    company = company or db.make_engine(settings.company_url, hide_parameters=True)
    store = db.make_engine(settings.store_url)
    db.upgrade(store)
    ledger = ledger or Ledger.open(settings.audit_url or settings.store_url)
    if quota is None and settings.redis_url:
        import redis

        from leakwarden.gateway.quota import RedisQuota

        quota = RedisQuota(redis.Redis.from_url(settings.redis_url), settings.quota)
    quota = quota or SqlQuota.for_store(settings.store_url, settings.quota)
    if decide is None:
        from leakwarden.gateway.policy import PolicyEngine

        engine = PolicyEngine.load(settings.policy_dir)

        def decide(request: Any) -> Any:
            return engine.decide(request, catalog)

    service = RecordService(
        settings,
        company=company,
        ledger=ledger,
        quota=quota,
        decide=decide,
        catalog=catalog,
        consent=consent or PermissiveConsent(),
        relay=relay,
    )
    in_flight = _InFlight()
    service.requests_in_flight = in_flight.count
    tokens = TokenStore(store)
    jwt = JwtVerifier(settings.jwt) if settings.jwt is not None else None

    app = FastAPI(
        title="leakwarden gateway",
        version="1",
        description="The single path to customer data: identity, purpose and ticket, consent, "
        "Cedar policy, quotas, and an audit record written before anything is released.",
        responses=_ERRORS,
    )
    app.add_middleware(_CountRequests, counter=in_flight)
    app.state.service = service
    app.state.tokens = tokens
    app.state.jwt = jwt
    app.state.company = company
    app.state.settings = settings

    @app.exception_handler(Refused)
    async def _refused(_request: Request, exc: Refused) -> JSONResponse:
        headers = dict(exc.headers)
        if exc.status == 429 and "X-Quota-Resets" in headers:
            resets = datetime.fromisoformat(headers["X-Quota-Resets"])
            wait = max(1, int((resets - datetime.now(UTC)).total_seconds()) + 1)
            headers["Retry-After"] = str(wait)
        return JSONResponse({"detail": exc.message}, status_code=exc.status, headers=headers)

    @app.exception_handler(AuditUnavailable)
    async def _audit_down(_request: Request, exc: AuditUnavailable) -> JSONResponse:
        return JSONResponse(
            {"detail": f"{exc}; the request was not served and nothing was released"},
            status_code=503,
        )

    @app.exception_handler(Exception)
    async def _internal(_request: Request, exc: Exception) -> JSONResponse:
        # Anything unexpected (the company database down, a bug): nothing was released; the
        # answer names the kind of error only (its text may hold values).
        return JSONResponse(
            {"detail": f"internal error ({type(exc).__name__}); nothing was released"},
            status_code=500,
        )

    @app.exception_handler(AuthError)
    async def _unauthorised(_request: Request, exc: AuthError) -> JSONResponse:
        return JSONResponse(
            {"detail": f"not authenticated: {exc}"},
            status_code=401,
            headers={"WWW-Authenticate": 'Bearer realm="leakwarden"'},
        )

    # The record routes (and the error handlers) are coroutines that call the service directly,
    # on the event loop: a lookup is a few statements of microseconds each and one audit commit,
    # and handing it to the thread pool and back (twice: the caller dependency, then the
    # endpoint) cost more CPU than all of that.  Their audit events are committed by
    # run_deferred, in one transaction with those of the other lookups of the same loop turn,
    # before the answer is returned (group commit without threads; the loop waits for the
    # fsync).  The SQL and export routes stay in the thread pool (their work is longer).
    def _records(r: Released) -> RecordsOut:
        return RecordsOut(
            table=r.table,
            records=r.records,
            treatments=r.treatments,
            policy_ids=r.policy_ids,
            reason=r.reason,
            consent=r.consent,
            audit_index=r.audit_index,
        )

    @app.get("/health", tags=["service"], summary="Liveness (no data, no authentication).")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/customers/{customer_id}",
        tags=["records"],
        openapi_extra=_CALLER_PARAMETERS,
        summary="One customer by id, fields treated per policy.",
    )
    async def get_customer(customer_id: int, ctx: InlineCaller) -> RecordsOut:
        return _records(await service.run_deferred(service.customer, ctx, customer_id))

    @app.get(
        "/customers",
        tags=["records"],
        openapi_extra=_CALLER_PARAMETERS,
        summary="Customers by mobile number (the ticket's customer only, for ticket purposes).",
    )
    async def find_customers(
        ctx: InlineCaller,
        phone: Annotated[str, Query(description="Mobile number (digits; +86 allowed).")],
    ) -> RecordsOut:
        return _records(await service.run_deferred(service.customers_by_phone, ctx, phone))

    @app.get(
        "/orders/{order_id}",
        tags=["records"],
        openapi_extra=_CALLER_PARAMETERS,
        summary="One order, fields per policy.",
    )
    async def get_order(order_id: int, ctx: InlineCaller) -> RecordsOut:
        return _records(await service.run_deferred(service.order, ctx, order_id))

    @app.post(
        "/waybills/{waybill_no}/print",
        tags=["records"],
        openapi_extra=_CALLER_PARAMETERS,
        summary="A privacy waybill label (masked recipient, relay number).",
    )
    async def print_waybill(waybill_no: str, ctx: InlineCaller) -> WaybillOut:
        r = await service.run_deferred(service.print_waybill, ctx, waybill_no)
        return WaybillOut(
            label=r.label,
            policy_ids=r.policy_ids,
            reason=r.reason,
            consent=r.consent,
            audit_index=r.audit_index,
        )

    from leakwarden.gateway.query import QueryService, query_router

    app.state.queries = QueryService(service)
    app.include_router(query_router)

    if keys is not None:
        from leakwarden.gateway.exports import export_router, install_exports

        app.include_router(export_router)
        install_exports(app, keys, exports)
        service.canary_guard = app.state.canary_guard
    return app


class _InFlight:
    """How many HTTP requests the app is serving right now."""

    def __init__(self) -> None:
        self.n = 0

    def count(self) -> int:
        return self.n


class _CountRequests:
    """Pure ASGI middleware keeping :class:`_InFlight` (the record routes' group commit writes
    on the event loop only when the requests of its batch are all the app is serving)."""

    def __init__(self, app: Any, counter: _InFlight) -> None:
        self.app = app
        self.counter = counter

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.counter.n += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.counter.n -= 1


def _audit_auth_failure(service: RecordService, reason: str, ip: str | None, path: str) -> None:
    """A failed authentication is audited (token guessing shows up in the ledger); the path is
    reduced to its first segment so that no value in it (a phone, a waybill number) is kept."""
    from leakwarden.audit.events import AuditEvent
    from leakwarden.audit.ledger import AuditWriteError

    segment = "/" + path.strip("/").split("/", 1)[0]
    try:
        service.ledger.append(
            AuditEvent(
                action="gateway.authenticate",
                outcome="denied",
                actor="unauthenticated",
                reason=reason,
                source_ip=ip,
                extra={"endpoint": segment},
            )
        )
    except (AuditWriteError, Exception) as exc:
        raise AuditUnavailable(f"audit ledger unavailable: {type(exc).__name__}: {exc}") from None
