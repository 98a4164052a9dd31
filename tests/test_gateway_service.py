"""The gateway's record endpoints end to end (FastAPI TestClient, SQLite): identity, purpose and
ticket, consent, the shipped Cedar policies, field treatments, quotas, and the audit record that
must be written before anything is released."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from gateway_world import GatewayWorld, gateway_world
from leakwarden.audit.ledger import AuditWriteError, Ledger
from leakwarden.demo.build import build_company
from leakwarden.gateway.app import create_app
from leakwarden.gateway.consent import StaticConsent
from leakwarden.gateway.decision import AccessRequest, Decision, Principal, Treatment
from leakwarden.gateway.identity import TokenStore
from leakwarden.gateway.records import CallContext
from leakwarden.gateway.settings import GatewaySettings, QuotaLimits
from leakwarden.store import db


@pytest.fixture(scope="module")
def company(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('company')}/company.db"
    build_company(url, customers=300, seed=3)
    return url


World = GatewayWorld


@pytest.fixture
def world(company: str, tmp_path: Path) -> Iterator[World]:
    with gateway_world(company, tmp_path) as w:
        yield w


def _cs_ticket(w: World) -> Any:
    """An open ticket with an order, assigned to a customer-service employee still employed,
    about a customer with an 18-character resident ID."""
    rows = w.q(
        "SELECT t.id, t.customer_id, t.order_id, t.assigned_employee_id FROM tickets t "
        "JOIN employees e ON e.id = t.assigned_employee_id "
        "JOIN customers c ON c.id = t.customer_id "
        "WHERE t.status = 'open' AND t.order_id IS NOT NULL AND e.department = '客服' "
        "AND e.leave_date IS NULL AND length(c.id_card) = 18 ORDER BY t.id LIMIT 1"
    )
    assert rows, "the demo company has no suitable ticket"
    return rows[0]


def _customer(w: World, cid: int) -> Any:
    return w.q("SELECT * FROM customers WHERE id = :i", i=cid)[0]


# ----------------------------------------------------------------------------- identity


def test_requests_without_valid_token_get_401_with_reason(world: World) -> None:
    t = _cs_ticket(world)
    c = world.client()
    url = f"/customers/{t.customer_id}?purpose=customer_service&ticket={t.id}"
    r = c.get(url)
    assert r.status_code == 401 and "no Authorization header" in r.json()["detail"]
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    r = c.get(url, headers={"Authorization": "Bearer lw_000000000000_" + "A" * 43})
    assert r.status_code == 401 and "unknown API token" in r.json()["detail"]
    r = c.get(url, headers={"Authorization": "Bearer nonsense"})
    assert r.status_code == 401 and "JWT" in r.json()["detail"]

    expired = world.tokens.issue(
        employee_id=t.assigned_employee_id,
        ttl=timedelta(hours=1),
        now=datetime.now(UTC) - timedelta(hours=2),
    )
    r = c.get(url, headers={"Authorization": f"Bearer {expired.token}"})
    assert r.status_code == 401 and "expired" in r.json()["detail"]

    good = world.tokens.issue(employee_id=t.assigned_employee_id, ttl=timedelta(hours=1))
    auth = {"Authorization": f"Bearer {good.token}"}
    assert c.get(url, headers=auth).status_code == 200
    assert world.tokens.revoke(good.token_id)
    r = c.get(url, headers=auth)
    assert r.status_code == 401 and "revoked" in r.json()["detail"]
    # failed authentications are audited, without the token
    failed = [e for e in world.events() if e["event"]["action"] == "gateway.authenticate"]
    assert len(failed) == 5
    assert good.token not in world.audit_text() and expired.token not in world.audit_text()


# ----------------------------------------------------------------------------- the record path


def test_customer_for_own_ticket_released_with_policy_treatments_and_audited(
    world: World,
) -> None:
    t = _cs_ticket(world)
    cust = _customer(world, t.customer_id)
    c = world.client()
    r = c.get(
        f"/customers/{t.customer_id}",
        headers={**world.token(t.assigned_employee_id), "X-Purpose": "customer_service",
                 "X-Ticket": str(t.id)},
    )  # fmt: skip
    assert r.status_code == 200, r.text
    body = r.json()
    rec = body["records"][0]
    # cs.clear-contact-for-ticket-customer: name and mobile in clear
    assert rec["mobile"] == cust.mobile and rec["name"] == cust.name
    assert body["treatments"]["mobile"] == "clear"
    # resident ID is sensitive: masked with its default mask keep:6,4 (GB/T 35273 style)
    assert rec["id_card"] == cust.id_card[:6] + "*" * 8 + cust.id_card[-4:]
    assert body["treatments"]["id_card"] == "masked"
    assert "cs.clear-contact-for-ticket-customer" in body["policy_ids"]
    assert body["consent"].startswith("permissive-default")
    # the audit event was committed before the response, holds ids and no values
    ev = world.events()[-1]
    assert ev["event"]["action"] == "gateway.read" and "allowed" in ev["event"]["type"]
    raw = world.audit_text()
    assert cust.mobile not in raw and cust.id_card not in raw and cust.name not in raw
    assert "permissive-default" in raw and "/customers/{id}" in raw
    assert body["audit_index"] == len(world.events()) - 1


@pytest.mark.parametrize("case", ["no-ticket", "other-customer", "closed", "not-mine"])
def test_ticket_refusals_are_403_and_audited(world: World, case: str) -> None:
    t = _cs_ticket(world)
    customer, ticket, employee = t.customer_id, str(t.id), t.assigned_employee_id
    if case == "no-ticket":
        ticket = ""
        want = "needs a ticket"
    elif case == "other-customer":
        customer = customer + 1
        want = "does not concern"
    elif case == "closed":
        closed = world.q(
            "SELECT t.id, t.customer_id, t.assigned_employee_id FROM tickets t "
            "JOIN employees e ON e.id = t.assigned_employee_id "
            "WHERE t.status = 'closed' AND e.leave_date IS NULL LIMIT 1"
        )[0]
        customer, ticket, employee = closed.customer_id, str(closed.id), closed.assigned_employee_id
        want = "is closed, not open"
    else:
        other = world.q(
            "SELECT id FROM employees WHERE department = '客服' AND leave_date IS NULL "
            "AND id != :e LIMIT 1",
            e=employee,
        )[0]
        employee = other.id
        want = "not assigned to"
    headers = {**world.token(employee), "X-Purpose": "customer_service"}
    if ticket:
        headers["X-Ticket"] = ticket
    r = world.client().get(f"/customers/{customer}", headers=headers)
    assert r.status_code == 403 and want in r.json()["detail"]
    assert "records" not in r.json()
    ev = world.events()[-1]
    assert "denied" in ev["event"]["type"] and ev["event"]["action"] == "gateway.read"


def test_purpose_is_required_and_must_be_known(world: World) -> None:
    t = _cs_ticket(world)
    c = world.client()
    auth = world.token(t.assigned_employee_id)
    r = c.get(f"/customers/{t.customer_id}", headers=auth)
    assert r.status_code == 400 and "state a purpose" in r.json()["detail"]
    r = c.get(f"/customers/{t.customer_id}?purpose=curiosity", headers=auth)
    assert r.status_code == 400 and "unknown purpose 'curiosity'" in r.json()["detail"]


def test_phone_lookup_finds_only_the_ticket_customer(world: World) -> None:
    t = _cs_ticket(world)
    cust = _customer(world, t.customer_id)
    other = world.q(
        "SELECT mobile FROM customers WHERE id != :i AND length(mobile) = 11 LIMIT 1",
        i=t.customer_id,
    )[0]
    c = world.client()
    h = {**world.token(t.assigned_employee_id), "X-Purpose": "customer_service",
         "X-Ticket": str(t.id)}  # fmt: skip
    r = c.get("/customers", params={"phone": cust.mobile}, headers=h)
    assert r.status_code == 200 and [x["id"] for x in r.json()["records"]] == [t.customer_id]
    # another customer's phone and nobody's phone: the same answer (no phone-number oracle)
    r1 = c.get("/customers", params={"phone": other.mobile}, headers=h)
    r2 = c.get("/customers", params={"phone": "19999999999"}, headers=h)
    assert r1.status_code == r2.status_code == 404
    assert r1.json() == r2.json()
    assert other.mobile not in world.audit_text()


def test_order_for_the_ticket(world: World) -> None:
    t = _cs_ticket(world)
    c = world.client()
    h = {**world.token(t.assigned_employee_id), "X-Purpose": "customer_service",
         "X-Ticket": str(t.id)}  # fmt: skip
    r = c.get(f"/orders/{t.order_id}", headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["records"][0]["customer_id"] == t.customer_id
    # ext_info (resident IDs in JSON) is sensitive: never clear for customer service
    assert r.json()["treatments"]["ext_info"] != "clear"
    other_order = world.q("SELECT id FROM orders WHERE customer_id != :c LIMIT 1", c=t.customer_id)[
        0
    ]
    r = c.get(f"/orders/{other_order.id}", headers=h)
    assert r.status_code == 403 and "ticket" in r.json()["detail"]


def _courier_and_waybill(world: World) -> tuple[int, str, str]:
    """A waybill and a courier still employed whose region is set (in the test's company
    database) to the region of the waybill's customer."""
    wb = world.q(
        "SELECT w.waybill_no, c.province, c.city, w.recipient_phone FROM waybills w "
        "JOIN orders o ON o.id = w.order_id JOIN customers c ON c.id = o.customer_id "
        "WHERE length(w.recipient_phone) = 11 ORDER BY w.waybill_no LIMIT 1"
    )[0]
    courier = world.q(
        "SELECT id FROM employees WHERE role = '配送员' AND leave_date IS NULL ORDER BY id LIMIT 1"
    )[0].id
    region = wb.city if wb.province == wb.city else wb.province + wb.city
    with create_engine(world.company).begin() as conn:
        conn.execute(
            text("UPDATE employees SET region = :r WHERE id = :i"), {"r": region, "i": courier}
        )
    return courier, wb.waybill_no, wb.recipient_phone


def test_waybill_print_masks_recipient_and_respects_region(world: World) -> None:
    courier, waybill_no, phone = _courier_and_waybill(world)
    c = world.client()
    h = {**world.token(courier), "X-Purpose": "delivery"}
    r = c.post(f"/waybills/{waybill_no}/print", headers=h)
    assert r.status_code == 200, r.text
    label = r.json()["label"]
    assert label["recipient_phone"] == phone[:3] + "****" + phone[-4:]
    assert label["waybill_no"] == waybill_no
    assert label["relay"] == ""  # no relay configured in this test
    raw = world.audit_text()
    assert waybill_no not in raw and phone not in raw
    # a courier of another region is refused
    other = world.q(
        "SELECT id, region FROM employees WHERE role = '配送员' AND leave_date IS NULL "
        "AND id != :i ORDER BY id",
        i=courier,
    )
    away = next(o for o in other if o.region != world.q(
        "SELECT region FROM employees WHERE id = :i", i=courier)[0].region)  # fmt: skip
    r = c.post(
        f"/waybills/{waybill_no}/print", headers={**world.token(away.id), "X-Purpose": "delivery"}
    )
    assert r.status_code == 403 and "outside your region" in r.json()["detail"]


# ----------------------------------------------------------------------------- doubles


def _allow_all(treatment: Treatment) -> Any:
    """A test-only decide: every column gets ``treatment`` (stands in for a policy)."""

    def decide(req: AccessRequest) -> Decision:
        return Decision(True, "test: allowed", ["test.allow"],
                        dict.fromkeys(req.columns, treatment))  # fmt: skip

    return decide


def _analyst(world: World) -> int:
    return int(
        world.q("SELECT id FROM employees WHERE department = '数据分析' AND leave_date IS NULL")[
            0
        ].id
    )


def test_quota_of_distinct_customers_gives_429_naming_quota_limit_and_reset(
    world: World,
) -> None:
    settings = world.settings(quota=QuotaLimits(day=2, week=10, vip_day=5, vip_week=5))
    c = world.client(settings, decide=_allow_all(Treatment.MASKED))
    h = {**world.token(_analyst(world)), "X-Purpose": "analytics"}
    regular = [r.id for r in world.q("SELECT id FROM customers WHERE vip = 0 ORDER BY id LIMIT 3")]
    assert c.get(f"/customers/{regular[0]}", headers=h).status_code == 200
    assert c.get(f"/customers/{regular[1]}", headers=h).status_code == 200
    assert c.get(f"/customers/{regular[0]}", headers=h).status_code == 200  # seen: free
    r = c.get(f"/customers/{regular[2]}", headers=h)
    assert r.status_code == 429
    detail = r.json()["detail"]
    assert "distinct customers per day" in detail and "limit 2" in detail
    assert re.search(r"frees at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", detail)
    assert 0 < int(r.headers["Retry-After"]) <= 86401
    assert "records" not in r.json()
    assert "denied" in world.events()[-1]["event"]["type"]
    # VIP customers have their own budget
    vip = world.q("SELECT id FROM customers WHERE vip = 1 ORDER BY id LIMIT 1")[0].id
    assert c.get(f"/customers/{vip}", headers=h).status_code == 200


def test_audit_failure_releases_nothing(world: World) -> None:
    class BrokenLedger:
        def append(self, event: Any) -> Any:
            raise AuditWriteError("disk full (test)")

    t = _cs_ticket(world)
    cust = _customer(world, t.customer_id)
    c = world.client(ledger=BrokenLedger())  # type: ignore[arg-type]
    h = {**world.token(t.assigned_employee_id), "X-Purpose": "customer_service",
         "X-Ticket": str(t.id)}  # fmt: skip
    r = c.get(f"/customers/{t.customer_id}", headers=h)
    assert r.status_code == 503
    assert "audit ledger unavailable" in r.json()["detail"]
    assert cust.mobile not in r.text and cust.name not in r.text
    # a refusal that cannot be audited fails the same way
    r = c.get(f"/customers/{t.customer_id + 1}", headers=h)
    assert r.status_code == 503


def test_a_real_ledger_that_cannot_commit_releases_nothing(world: World, tmp_path: Path) -> None:
    """The real ledger (its own store) whose commit fails at the database: the lookup, which
    commits its event itself on the event loop, answers 503 with no value of the record."""
    import sqlalchemy as sa

    ledger = Ledger.open(f"sqlite:///{tmp_path}/audit.db")
    t = _cs_ticket(world)
    cust = _customer(world, t.customer_id)
    c = world.client(ledger=ledger)
    h = {**world.token(t.assigned_employee_id), "X-Purpose": "customer_service",
         "X-Ticket": str(t.id)}  # fmt: skip
    assert c.get(f"/customers/{t.customer_id}", headers=h).status_code == 200
    with ledger.engine.begin() as conn:  # the write now fails inside its transaction
        conn.execute(sa.text("DROP TABLE audit_log"))
    r = c.get(f"/customers/{t.customer_id}", headers=h)
    assert r.status_code == 503 and "audit ledger unavailable" in r.json()["detail"]
    assert cust.mobile not in r.text and cust.name not in r.text
    assert str(cust.id_card) not in r.text
    ledger.close()


def test_pseudonymised_fields_are_stable_keyed_and_not_clear(world: World) -> None:
    key = bytes(range(32))
    settings = world.settings(pseudonym_key=key, pseudonym_key_configured=True)
    c = world.client(settings, decide=_allow_all(Treatment.PSEUDONYMISED))
    h = {**world.token(_analyst(world)), "X-Purpose": "analytics"}
    cid = world.q("SELECT id FROM customers WHERE length(mobile) = 11 LIMIT 1")[0].id
    first = c.get(f"/customers/{cid}", headers=h).json()["records"][0]
    again = c.get(f"/customers/{cid}", headers=h).json()["records"][0]
    mobile = _customer(world, cid).mobile
    assert first["mobile"] == again["mobile"] != mobile
    # HMAC-SHA-256 under the key, first 130 bits in base32 (protect.pseudonym's format)
    import base64
    import hmac

    mac = hmac.digest(key, mobile.encode(), "sha256")
    assert first["mobile"] == "cn_mobile:1:" + base64.b32encode(mac).decode()[:26]


def test_policy_error_and_consent_refusal_fail_closed(world: World) -> None:
    def broken(req: AccessRequest) -> Decision:
        raise RuntimeError("engine on fire")

    h = {**world.token(_analyst(world)), "X-Purpose": "analytics"}
    r = world.client(decide=broken).get("/customers/5", headers=h)
    assert r.status_code == 403 and "policy evaluation failed" in r.json()["detail"]
    consent = StaticConsent({(5, "analytics")})
    c = world.client(decide=_allow_all(Treatment.CLEAR), consent=consent)
    r = c.get("/customers/5", headers=h)
    assert r.status_code == 403 and "did not consent" in r.json()["detail"]
    assert c.get("/customers/6", headers=h).json()["consent"] == "static"


def test_denied_columns_are_left_out(world: World) -> None:
    def decide(req: AccessRequest) -> Decision:
        t = {c: Treatment.CLEAR for c in req.columns}
        t["id_card"] = Treatment.DENIED
        return Decision(True, "test", ["test"], t)

    h = {**world.token(_analyst(world)), "X-Purpose": "analytics"}
    rec = world.client(decide=decide).get("/customers/5", headers=h).json()
    assert "id_card" not in rec["records"][0] and rec["treatments"]["id_card"] == "denied"
    assert rec["records"][0]["mobile"] == _customer(world, 5).mobile


def test_record_routes_run_on_the_event_loop_not_the_thread_pool(world: World) -> None:
    """The record path (authentication, policy, quota, audit) runs in the event loop's own
    thread: no hand-off to the thread pool and back on every lookup."""
    import asyncio

    seen: list[bool] = []

    def decide(req: AccessRequest) -> Decision:
        try:
            asyncio.get_running_loop()  # raises in a thread-pool worker
            seen.append(True)
        except RuntimeError:
            seen.append(False)
        return _allow_all(Treatment.CLEAR)(req)

    h = {**world.token(_analyst(world)), "X-Purpose": "analytics"}
    assert world.client(decide=decide).get("/customers/5", headers=h).status_code == 200
    assert seen == [True]


def test_lookups_arriving_together_share_one_audit_transaction(world: World) -> None:
    """Group commit on the event loop: lookups that reach their audit in the same turn are
    written by one append_many (one fsync), and each answer carries its own event's index."""
    import asyncio

    import httpx

    ledger = Ledger.open(world.store)
    batches: list[int] = []
    real = ledger.append_many

    def append_many(events: Any) -> Any:
        events = list(events)
        batches.append(len(events))
        return real(events)

    ledger.append_many = append_many  # type: ignore[method-assign]
    app = create_app(world.settings(), decide=_allow_all(Treatment.CLEAR), ledger=ledger)
    h = {**world.token(_analyst(world)), "X-Purpose": "analytics"}
    ids = [11, 12, 13, 14, 15]

    async def run() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            return await asyncio.gather(*(client.get(f"/customers/{i}", headers=h) for i in ids))

    answers = asyncio.run(run())
    assert [r.status_code for r in answers] == [200] * 5
    assert sum(batches) == 5 and len(batches) < 5  # shared transactions
    for cid, r in zip(ids, answers, strict=True):
        text, _ = ledger.leaf(r.json()["audit_index"])  # the answer's own event
        assert json.loads(text)["leakwarden"]["customer_ids"] == [str(cid)]
    ledger.close()


def test_lookups_arriving_together_all_fail_closed_when_their_batch_is_not_written(
    world: World,
) -> None:
    import asyncio

    import httpx

    class FailingLedger:
        def append_many(self, events: Any) -> Any:
            raise AuditWriteError("disk full (test)")

    app = create_app(world.settings(), decide=_allow_all(Treatment.CLEAR), ledger=FailingLedger())  # type: ignore[arg-type]
    h = {**world.token(_analyst(world)), "X-Purpose": "analytics"}
    ids = [21, 22, 23, 24]

    async def run() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            return await asyncio.gather(*(client.get(f"/customers/{i}", headers=h) for i in ids))

    answers = asyncio.run(run())
    assert [r.status_code for r in answers] == [503] * 4
    for cid, r in zip(ids, answers, strict=True):
        assert "disk full" in r.json()["detail"]
        assert _customer(world, cid).mobile not in r.text


def test_run_deferred_releases_nothing_that_was_not_audited(world: World) -> None:
    import asyncio

    from leakwarden.gateway.records import AuditUnavailable, Released

    service = create_app(world.settings()).state.service

    def unaudited() -> Released:  # a (buggy) request that never wrote its audit event
        return Released("customers", [{"id": 1}], {}, [], "", "", -1)

    with pytest.raises(AuditUnavailable, match="no audit event"):
        asyncio.run(service.run_deferred(unaudited))


def test_openapi_describes_the_record_endpoints(world: World) -> None:
    doc = world.client().get("/openapi.json").json()
    assert {"/customers/{customer_id}", "/customers", "/orders/{order_id}",
            "/waybills/{waybill_no}/print"} <= set(doc["paths"])  # fmt: skip
    schema = doc["components"]["schemas"]["RecordsOut"]
    assert schema["properties"]["treatments"]["description"]
    assert "429" in doc["paths"]["/customers/{customer_id}"]["get"]["responses"]
    order = doc["paths"]["/orders/{order_id}"]["get"]
    params = {(p["name"], p["in"]) for p in order["parameters"]}
    documented = {("order_id", "path"), ("authorization", "header"), ("x-purpose", "header"),
                  ("x-ticket", "header"), ("purpose", "query"), ("ticket", "query")}  # fmt: skip
    assert documented <= params


def test_jwt_bearer_mode_maps_claim_to_employee(world: World) -> None:
    import time

    import jwt
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from leakwarden.gateway.settings import JwtSettings

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    settings = world.settings(
        jwt=JwtSettings(issuer="https://sso.test/", audience="gw", public_key_pem=pem.decode())
    )
    t = _cs_ticket(world)
    now = int(time.time())
    claims = {"iss": "https://sso.test/", "aud": "gw", "exp": now + 300}
    good = jwt.encode({**claims, "sub": str(t.assigned_employee_id)}, key, algorithm="RS256")
    c = world.client(settings)
    url = f"/customers/{t.customer_id}?purpose=customer_service&ticket={t.id}"
    r = c.get(url, headers={"Authorization": f"Bearer {good}"})
    assert r.status_code == 200, r.text
    assert world.events()[-1]["user"]["id"] == str(t.assigned_employee_id)
    stale = jwt.encode(
        {**claims, "exp": now - 100, "sub": str(t.assigned_employee_id)}, key, algorithm="RS256"
    )
    r = c.get(url, headers={"Authorization": f"Bearer {stale}"})
    assert r.status_code == 401 and "expired" in r.json()["detail"]
    # someone else's ticket stays someone else's under SSO too
    nobody = jwt.encode({**claims, "sub": "1"}, key, algorithm="RS256")
    assert c.get(url, headers={"Authorization": f"Bearer {nobody}"}).status_code in (401, 403)


def test_serve_runs_uvicorn_on_loopback_without_access_log(world: World) -> None:
    import socket
    import subprocess
    import sys
    import time

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code = (
        "import typer; from leakwarden.gateway.command import serve_command; "
        "typer.run(serve_command)"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "--port", str(port), "--company-url", world.company,
         "--url", world.store],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                httpx.get(f"{base}/health", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            pytest.fail("leakwarden serve did not start")
        t = _cs_ticket(world)
        cust = _customer(world, t.customer_id)
        h = {**world.token(t.assigned_employee_id), "X-Purpose": "customer_service",
             "X-Ticket": str(t.id)}  # fmt: skip
        r = httpx.get(f"{base}/customers", params={"phone": cust.mobile}, headers=h, timeout=30)
        assert r.status_code == 200 and r.json()["records"][0]["id"] == t.customer_id
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=30)
    logs = out.decode() + err.decode()
    assert "SQLite file" in logs or "sqlite" in logs  # the settings summary, URLs redacted
    assert cust.mobile not in logs  # no access log with the query string


def test_waybill_with_relay_number_resolves_to_the_recipient(world: World) -> None:
    from leakwarden.protect.keys import KeyRing, MasterKey
    from leakwarden.protect.vault import TokenVault
    from leakwarden.protect.waybill import RELAY_NAMESPACE, RelayRegistry

    courier, waybill_no, phone = _courier_and_waybill(world)
    ring = KeyRing.open(world.store, MasterKey.generate())
    ring.ensure("relay", "relay")
    registry = RelayRegistry(ring, TokenVault(ring, namespace=RELAY_NAMESPACE), lines=["95013"])
    try:
        c = world.client(relay=registry)
        h = {**world.token(courier), "X-Purpose": "delivery"}
        label = c.post(f"/waybills/{waybill_no}/print", headers=h).json()["label"]
        line, _, ext = label["relay"].partition(" 转 ")
        assert line == "95013" and len(ext) == 4 and ext.isdigit()
        assert phone not in json.dumps(label)
        # the relay service connects the courier's call to the real phone through its own,
        # audited vault; the gateway's vault may not detokenise at all
        from leakwarden.protect.vault import VaultPermissionError

        with Ledger.open(world.store) as ledger:
            with pytest.raises(VaultPermissionError):
                RelayRegistry(
                    ring,
                    TokenVault(ring, namespace=RELAY_NAMESPACE, ledger=ledger),
                    lines=["95013"],
                ).resolve(line, ext, actor="gateway", reason="curious")
            vault = TokenVault(
                ring, namespace=RELAY_NAMESPACE, ledger=ledger, reveal_allow={"relay"}
            )
            resolver = RelayRegistry(ring, vault, lines=["95013"])
            assert resolver.resolve(line, ext, actor="relay", reason="courier call") == phone
        again = c.post(f"/waybills/{waybill_no}/print", headers=h).json()["label"]
        assert again["relay"] == label["relay"]  # a reprint gives the same number
    finally:
        ring.close()


def test_database_failure_is_500_without_values(world: World, tmp_path: Path) -> None:
    import shutil

    t = _cs_ticket(world)
    cust = _customer(world, t.customer_id)
    broken = tmp_path / "broken.db"
    shutil.copy(world.company.removeprefix("sqlite:///"), broken)
    with create_engine(f"sqlite:///{broken}").begin() as conn:
        conn.execute(text("ALTER TABLE customers RENAME TO customers_gone"))
    app = create_app(GatewaySettings(company_url=f"sqlite:///{broken}", store_url=world.store))
    c = TestClient(app, raise_server_exceptions=False)
    h = {**world.token(t.assigned_employee_id), "X-Purpose": "customer_service",
         "X-Ticket": str(t.id)}  # fmt: skip
    r = c.get("/customers", params={"phone": cust.mobile}, headers=h)
    assert r.status_code == 500
    assert r.json()["detail"] == "internal error (OperationalError); nothing was released"
    assert cust.mobile not in r.text
    # and the driver error itself carries no parameters for the server's log
    from sqlalchemy.exc import OperationalError

    with pytest.raises(OperationalError) as info:
        app.state.service.customers_by_phone(
            CallContext(principal=Principal(str(t.assigned_employee_id), "cs_agent",
                                            "customer_service"),
                        purpose="customer_service", ticket=str(t.id)),
            cust.mobile,
        )  # fmt: skip
    assert cust.mobile not in str(info.value)


def test_bytes_per_day_counts_the_released_records_and_gives_429(world: World) -> None:
    from leakwarden.gateway.quota import payload_bytes

    regular = [r.id for r in world.q("SELECT id FROM customers WHERE vip = 0 ORDER BY id LIMIT 3")]
    # learn the size of the first two masked records with a roomy budget, in another store
    roomy = world.client(decide=_allow_all(Treatment.MASKED))
    h = {**world.token(_analyst(world)), "X-Purpose": "analytics"}
    first = roomy.get(f"/customers/{regular[0]}", headers=h)
    second = roomy.get(f"/customers/{regular[1]}", headers=h)
    size0, size1 = payload_bytes(first.json()["records"]), payload_bytes(second.json()["records"])
    # the counted bytes are the records exactly as the body carries them
    assert (
        b'"records":'
        + json.dumps(first.json()["records"], ensure_ascii=False, separators=(",", ":")).encode()
        in first.content
    )
    assert size0 > 100

    store = f"sqlite:///{world.tmp}/bytes-store.db"
    engine = db.make_engine(store)
    db.upgrade(engine)
    tight = GatewaySettings(
        company_url=world.company,
        store_url=store,
        quota=QuotaLimits(day=100, week=100, bytes_per_day=size0 + size1 - 1),
    )
    c = world.client(tight, decide=_allow_all(Treatment.MASKED))
    token = TokenStore(engine).issue(employee_id=_analyst(world), ttl=timedelta(hours=1))
    h = {"Authorization": f"Bearer {token.token}", "X-Purpose": "analytics"}
    assert c.get(f"/customers/{regular[0]}", headers=h).status_code == 200
    r = c.get(f"/customers/{regular[1]}", headers=h)
    assert r.status_code == 429
    detail = r.json()["detail"]
    assert "bytes per day" in detail and f"limit {size0 + size1 - 1}" in detail
    assert f"already given {size0} bytes" in detail
    assert re.search(r"frees at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", detail)
    assert 0 < int(r.headers["Retry-After"]) <= 86461  # a day after the minute ends
    assert "records" not in r.json()
    engine.dispose()


def test_a_canary_phone_at_the_phone_lookup_is_checked_and_refused(world: World) -> None:
    """The record service asks the canary guard about the phone before searching: a canary's
    number gets the unknown-number answer (the guard audits the alert itself); a real customer's
    number is searched as before. The guard here is a recording double: the real one is tested
    with fingerprinted copies in test_trace_fingerprint."""
    t = _cs_ticket(world)
    cust = _customer(world, t.customer_id)
    canary_phone = "19999999998"
    asked: list[tuple[list[str], str, str | None]] = []

    class Guard:
        def check(
            self, values: list[str], *, actor: str, purpose: str | None, route: str
        ) -> list[str]:
            asked.append((list(values), actor, purpose))
            return [v for v in values if v == canary_phone]

    c = world.client()
    c.app.state.service.canary_guard = Guard()  # type: ignore[attr-defined]
    h = {**world.token(t.assigned_employee_id), "X-Purpose": "customer_service",
         "X-Ticket": str(t.id)}  # fmt: skip
    r = c.get("/customers", params={"phone": canary_phone}, headers=h)
    unknown = c.get("/customers", params={"phone": "19999999999"}, headers=h)
    assert r.status_code == unknown.status_code == 404 and r.json() == unknown.json()
    ok = c.get("/customers", params={"phone": cust.mobile}, headers=h)
    assert ok.status_code == 200 and [x["id"] for x in ok.json()["records"]] == [t.customer_id]
    who = str(t.assigned_employee_id)
    assert asked == [
        ([canary_phone], who, "customer_service"),
        (["19999999999"], who, "customer_service"),
        ([cust.mobile], who, "customer_service"),
    ]
