"""Bulk export with two-person approval (gateway/exports.py) on the demo company (SQLite): the
four-eyes rule, approver roles, expiry, the query bound by fingerprint and parameters, execute
once under concurrency, the encrypted file, the registry's keyed hashes, and the audit trail
written before anything happens (a failing ledger -> nothing executed)."""

from __future__ import annotations

import csv
import io
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from leakwarden.audit.ledger import AuditWriteError, Ledger
from leakwarden.demo.build import build_company
from leakwarden.gateway.canary_guard import CanaryGuard
from leakwarden.gateway.catalog import Catalog
from leakwarden.gateway.decision import AccessRequest, Decision, Principal
from leakwarden.gateway.exports import (
    MAGIC,
    ExportConfig,
    ExportRefused,
    ExportService,
    customer_hash,
    decrypt_export,
    export_router,
)
from leakwarden.gateway.policy import PolicyEngine
from leakwarden.gateway.records import AuditUnavailable
from leakwarden.protect.keys import KeyRing, MasterKey
from leakwarden.protect.pseudonym import pseudonym
from leakwarden.store import db
from leakwarden.trace.fingerprint import FingerprintConfig

PLAIN = FingerprintConfig(canary_density=0.0, keyed_order=False, vary_formats=False)

ANALYST = Principal("101", "analyst", "analytics")
ANALYST2 = Principal("102", "analyst", "analytics")
DIRECTOR = Principal("201", "data_director", "analytics")
BILLER = Principal("301", "finance_manager", "finance")
LEGAL = Principal("401", "legal_director", "legal")

# city of the first customers: a small, fixed slice of the demo company
SQL_ANALYTICS = "SELECT id, mobile, city FROM customers WHERE id <= 40"
SQL_BILLING = "SELECT id, name, id_card FROM customers WHERE id <= 25"


@pytest.fixture(scope="module")
def company(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('company')}/company.db"
    build_company(url, customers=120, seed=5)
    return url


class FailingLedger:
    def append(self, event: Any) -> Any:
        raise AuditWriteError("disk full (test)")


@dataclass
class World:
    company: str
    store: str
    svc: ExportService
    keys: KeyRing
    ledger: Ledger
    tmp: Path
    pkey: bytes

    def q(self, sql: str) -> list[Any]:
        with create_engine(self.company).connect() as conn:
            return list(conn.execute(text(sql)))

    def actions(self) -> list[tuple[str, str]]:
        with create_engine(self.store).connect() as conn:
            rows = conn.execute(text("SELECT event FROM audit_log ORDER BY idx")).scalars()
            evs = [json.loads(r)["event"] for r in rows]
        # ECS outcome: a refusal is "failure" (event.type names "denied")
        return [(e["action"], e["outcome"]) for e in evs]

    def store_rows(self, sql: str) -> list[Any]:
        with create_engine(self.store).connect() as conn:
            return list(conn.execute(text(sql)))


@pytest.fixture
def world(company: str, tmp_path: Path) -> Iterator[World]:
    store = f"sqlite:///{tmp_path}/store.db"
    engine = db.make_engine(store)
    db.upgrade(engine)
    ledger = Ledger.open(store)
    keys = KeyRing.open(store, MasterKey.write_file(tmp_path / "master.key"))
    catalog = Catalog.from_demo()
    policies = PolicyEngine.load()
    pkey = b"k" * 32

    def decide(req: AccessRequest) -> Decision:
        return policies.decide(req, catalog)

    svc = ExportService(
        company=db.make_engine(company),
        store=engine,
        ledger=ledger,
        decide=decide,
        catalog=catalog,
        keys=keys,
        pseudonym_key=pkey,
        # fingerprinting (canaries, order, formats) is tested in tests/test_trace_fingerprint.py;
        # here the copy holds exactly the query's rows, in its order
        config=ExportConfig(row_threshold=30, directory=tmp_path / "out", fingerprint=PLAIN),
    )
    yield World(company, store, svc, keys, ledger, tmp_path, pkey)
    ledger.close()
    keys.close()
    engine.dispose()


def _rule(exc: pytest.ExceptionInfo[ExportRefused]) -> str:
    return exc.value.rule


def _request(w: World, sql: str = SQL_ANALYTICS, who: Principal = ANALYST, **kw: Any) -> str:
    purpose = kw.pop("purpose", "analytics")
    v = w.svc.request(
        who, sql, purpose, None, "partner: 数据服务公司", kw.pop("ttl", timedelta(hours=2))
    )
    return v.id


def test_over_threshold_needs_approval_and_self_approval_is_refused(world: World) -> None:
    rid = _request(world)  # 40 rows > 30
    view = world.svc.show(rid)
    assert view.needs_approval and view.status == "requested"
    assert view.estimated_rows == 40 and view.estimated_customers == 40
    with pytest.raises(ExportRefused) as exc:
        world.svc.approve(rid, ANALYST, "mine")
    assert _rule(exc) == "four-eyes" and "own export" in str(exc.value)
    # executing unapproved is refused too
    with pytest.raises(ExportRefused) as exc:
        world.svc.execute(rid, ANALYST)
    assert _rule(exc) == "approved-once"
    assert world.svc.show(rid).status == "requested"


def test_small_export_without_sensitive_pi_is_approved_at_once(world: World) -> None:
    rid = _request(world, "SELECT id, city FROM customers WHERE id <= 5")
    view = world.svc.show(rid)
    assert not view.needs_approval and view.status == "approved" and view.approvals == []


def test_sensitive_pi_needs_approval_even_when_small(world: World) -> None:
    rid = _request(
        world, "SELECT id, id_card FROM customers WHERE id <= 2", BILLER, purpose="billing"
    )
    view = world.svc.show(rid)
    assert view.needs_approval and view.sensitive_columns == ["customers.id_card"]


def test_approver_without_role_is_refused(world: World) -> None:
    rid = _request(world)
    with pytest.raises(ExportRefused) as exc:
        world.svc.approve(rid, ANALYST2)
    assert _rule(exc) == "approver-role" and "'analyst'" in str(exc.value)
    assert world.svc.show(rid).status == "requested"
    service = Principal("svc-etl", "etl", "engineering", kind="service")
    with pytest.raises(ExportRefused) as exc:
        world.svc.approve(rid, service)
    assert _rule(exc) == "approver-person"


def test_expired_request_is_refused_at_approval_and_execution(world: World) -> None:
    rid = _request(world)
    world.svc.approve(rid, DIRECTOR, "ok")
    rid2 = _request(world)
    past = datetime.now(UTC) - timedelta(seconds=1)
    with create_engine(world.store).begin() as conn:
        conn.execute(
            text("UPDATE export_requests SET expires_at = :p WHERE id IN (:a, :b)"),
            {"p": past, "a": rid, "b": rid2},
        )
    with pytest.raises(ExportRefused) as exc:
        world.svc.execute(rid, ANALYST)
    assert _rule(exc) == "expiry"
    with pytest.raises(ExportRefused) as exc:
        world.svc.approve(rid2, DIRECTOR)
    assert _rule(exc) == "expiry"
    assert world.svc.show(rid).status == "expired"
    assert not list((world.tmp / "out").glob("*")) if (world.tmp / "out").exists() else True


def test_changed_sql_or_parameters_refused_at_execute(world: World) -> None:
    rid = _request(world)
    world.svc.approve(rid, DIRECTOR)
    # the caller's SQL must be the approved one: other literal, other column
    for other in (
        "SELECT id, mobile, city FROM customers WHERE id <= 4000",
        "SELECT id, mobile, address FROM customers WHERE id <= 40",
    ):
        with pytest.raises(ExportRefused) as exc:
            world.svc.execute(rid, ANALYST, other)
        assert _rule(exc) == "same-query"
    # the stored SQL altered behind the service's back
    with create_engine(world.store).begin() as conn:
        conn.execute(
            text("UPDATE export_requests SET sql = :s WHERE id = :i"),
            {"s": "SELECT id, mobile, city FROM customers WHERE id <= 120", "i": rid},
        )
    with pytest.raises(ExportRefused) as exc:
        world.svc.execute(rid, ANALYST)
    assert _rule(exc) == "same-query"
    assert world.svc.show(rid).status == "approved"
    assert world.store_rows("SELECT count(*) FROM exports")[0][0] == 0


def test_approver_who_lost_the_role_or_left_voids_the_approval(world: World) -> None:
    from leakwarden.gateway.identity import AuthError

    rid = _request(world)
    world.svc.approve(rid, DIRECTOR)
    now = {"201": Principal("201", "analyst", "analytics")}  # demoted after approving

    def principal_of(person: str) -> Principal:
        if person not in now:
            raise AuthError(f"employee {person} has left the company")
        return now[person]

    world.svc.principal_of = principal_of
    with pytest.raises(ExportRefused) as exc:
        world.svc.execute(rid, ANALYST)
    assert _rule(exc) == "approver-role" and "'analyst'" in str(exc.value)
    now.clear()
    with pytest.raises(ExportRefused) as exc:
        world.svc.execute(rid, ANALYST)
    assert _rule(exc) == "approver-role" and "has left" in str(exc.value)
    now["201"] = DIRECTOR
    assert world.svc.execute(rid, ANALYST).status == "executed"


def test_only_requester_executes_and_policy_is_checked_again(world: World) -> None:
    rid = _request(world)
    world.svc.approve(rid, DIRECTOR)
    with pytest.raises(ExportRefused) as exc:
        world.svc.execute(rid, ANALYST2)
    assert _rule(exc) == "requester-only"
    # the requester moved to marketing meanwhile: the policy refuses at run time
    moved = Principal("101", "analyst", "marketing")
    with pytest.raises(ExportRefused) as exc:
        world.svc.execute(rid, moved)
    assert _rule(exc) == "policy-at-run-time"
    assert world.svc.show(rid).status == "approved"


def test_result_larger_than_approved_is_refused(world: World) -> None:
    rid = _request(world)
    world.svc.approve(rid, DIRECTOR)
    # the approval was for an estimate of 30 rows; the query now returns 40 (> 30 + 10 %)
    with create_engine(world.store).begin() as conn:
        conn.execute(
            text("UPDATE export_requests SET estimated_rows = 30 WHERE id = :i"), {"i": rid}
        )
    with pytest.raises(ExportRefused) as exc:
        world.svc.execute(rid, ANALYST)
    assert _rule(exc) == "approved-size" and "40 rows (estimated 30)" in str(exc.value)
    assert world.svc.show(rid).status == "approved"
    assert world.store_rows("SELECT count(*) FROM exports")[0][0] == 0


def test_consent_refusal_stops_the_export(world: World) -> None:
    from leakwarden.gateway.consent import StaticConsent

    rid = _request(world)
    world.svc.approve(rid, DIRECTOR)
    world.svc.consent = StaticConsent({(7, "analytics")})
    with pytest.raises(ExportRefused) as exc:
        world.svc.execute(rid, ANALYST)
    assert _rule(exc) == "consent" and "1 customer(s)" in str(exc.value)
    world.svc.consent = StaticConsent({(7, "marketing")})
    assert world.svc.execute(rid, ANALYST).rows == 40


def test_double_execute_in_two_threads_runs_once(world: World) -> None:
    rid = _request(world)
    world.svc.approve(rid, LEGAL)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def run() -> None:
        barrier.wait()
        try:
            world.svc.execute(rid, ANALYST)
            outcomes.append("ran")
        except ExportRefused as exc:
            outcomes.append(exc.rule)
        except Exception as exc:  # any other error fails the test below, named
            outcomes.append(repr(exc))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["approved-once", "ran"]
    assert world.store_rows("SELECT count(*) FROM exports")[0][0] == 1
    assert len(list((world.tmp / "out").glob("*.lwx"))) == 1
    assert world.svc.show(rid).status == "executed"
    with pytest.raises(ExportRefused):
        world.svc.execute(rid, ANALYST)


def _csv(blob: bytes, keys: KeyRing) -> tuple[dict[str, Any], list[list[str]]]:
    header, plain = decrypt_export(blob, keys)
    return header, list(csv.reader(io.StringIO(plain.decode("utf-8"))))


def test_encrypted_file_decrypts_to_the_query_rows_pseudonymised_per_policy(world: World) -> None:
    rid = _request(world)
    world.svc.approve(rid, DIRECTOR, "quarterly churn study")
    view = world.svc.execute(rid, ANALYST)
    assert view.status == "executed" and view.rows == 40 and view.customers == 40
    blob = Path(view.file_path or "").read_bytes()
    assert blob.startswith(MAGIC)
    raw = world.q("SELECT id, mobile, city FROM customers WHERE id <= 40 ORDER BY id")
    for r in raw:  # no clear mobile anywhere in the file (encrypted) nor after decryption
        assert r.mobile.encode() not in blob
    header, rows = _csv(blob, world.keys)
    assert header["export_id"] == view.export_id and header["cipher"] == "AES-256-GCM"
    assert rows[0] == ["id", "mobile", "city"]
    got = sorted(rows[1:], key=lambda r: int(r[0]))
    # analytics sees personal PI pseudonymised (analytics.pseudonymised), ids and cities clear
    expected = [[str(r.id), pseudonym(world.pkey, 1, r.mobile, "cn_mobile"), r.city] for r in raw]
    assert got == expected
    assert all(
        r[1].startswith("cn_mobile:1:") and r[1] != m.mobile for r, m in zip(got, raw, strict=True)
    )
    # an altered file does not decrypt
    bad = bytearray(blob)
    bad[-1] ^= 1
    with pytest.raises(ValueError, match="authentication failed"):
        decrypt_export(bytes(bad), world.keys)


def test_billing_export_masks_sensitive_pi(world: World) -> None:
    rid = _request(world, SQL_BILLING, BILLER, purpose="billing")
    world.svc.approve(rid, Principal("302", "finance_director", "finance"))
    view = world.svc.execute(rid, BILLER)
    _, rows = _csv(Path(view.file_path or "").read_bytes(), world.keys)
    raw = {r.id: r for r in world.q("SELECT id, name, id_card FROM customers WHERE id <= 25")}
    assert len(rows) == 26
    for rid_, name, card in rows[1:]:
        real = raw[int(rid_)]
        # exports never carry clear PI (base.no-clear-export): name and resident id masked
        assert name != real.name and "*" in name
        assert card != real.id_card and "*" in card
        assert card[-4:] == real.id_card[-4:] or card.endswith("*")


def test_registry_holds_keyed_hashes_not_customer_ids(world: World) -> None:
    rid = _request(world)
    world.svc.approve(rid, DIRECTOR)
    view = world.svc.execute(rid, ANALYST)
    (rec,) = world.store_rows(
        "SELECT recipient, requester, approvers, customer_hashes, row_hashes, hash_key, "
        "customers, rows, file_sha256, fingerprint FROM exports"
    )
    hashes = json.loads(rec.customer_hashes)
    assert rec.requester == "101" and rec.recipient == "partner: 数据服务公司"
    assert [a["person"] for a in json.loads(rec.approvers)] == ["201"]
    assert rec.customers == 40 and rec.rows == 40 and len(json.loads(rec.row_hashes)) == 40
    assert len(hashes) == 40 and all(len(h) == 64 for h in hashes)
    assert '"1"' not in rec.customer_hashes and "40" not in hashes
    # each hash is the HMAC under the ring's key of the customer id
    assert set(hashes) == {customer_hash(world.keys, rec.hash_key, i) for i in range(1, 41)}
    assert customer_hash(world.keys, rec.hash_key, 41) not in hashes
    import hashlib

    assert rec.file_sha256 == hashlib.sha256(Path(view.file_path or "").read_bytes()).hexdigest()


def test_every_step_is_audited_and_a_failing_ledger_executes_nothing(world: World) -> None:
    rid = _request(world)
    with pytest.raises(ExportRefused):
        world.svc.approve(rid, ANALYST)
    world.svc.approve(rid, DIRECTOR)
    rid2 = _request(world)
    world.svc.reject(rid2, LEGAL, "no business need")
    with pytest.raises(ExportRefused) as exc:
        world.svc.execute(rid2, ANALYST)
    assert "rejected" in str(exc.value)

    # with the ledger down, executing writes no file, registers nothing, stays approved
    world.svc.ledger = FailingLedger()  # type: ignore[assignment]
    with pytest.raises(AuditUnavailable):
        world.svc.execute(rid, ANALYST)
    assert not (world.tmp / "out").exists() or not list((world.tmp / "out").glob("*"))
    assert world.store_rows("SELECT count(*) FROM exports")[0][0] == 0
    assert world.svc.show(rid).status == "approved"
    with pytest.raises(AuditUnavailable):
        world.svc.request(ANALYST, SQL_ANALYTICS, "analytics", None, "x", timedelta(hours=1))
    assert world.store_rows("SELECT count(*) FROM export_requests")[0][0] == 2
    world.svc.ledger = world.ledger
    world.svc.execute(rid, ANALYST)
    assert world.actions() == [
        ("gateway.export.request", "success"),
        ("gateway.export.approve", "failure"),
        ("gateway.export.approve", "success"),
        ("gateway.export.request", "success"),
        ("gateway.export.reject", "success"),
        ("gateway.export.execute", "failure"),
        ("gateway.export.execute", "success"),
    ]


def test_bad_request_input_names_the_rule(world: World) -> None:
    with pytest.raises(ExportRefused) as exc:
        _request(world, "SELECT id, id_card FROM customers")  # analytics: id_card denied
    assert _rule(exc) == "policy" and "id_card" in str(exc.value)
    with pytest.raises(ExportRefused) as exc:
        _request(world, ttl=timedelta(days=30))
    assert _rule(exc) == "expiry"
    with pytest.raises(ExportRefused) as exc:
        world.svc.approve("xr_nope", DIRECTOR)
    assert _rule(exc) == "exists"


# ----------------------------------------------------------------------------- HTTP


def test_http_routes_request_approve_execute(world: World) -> None:
    from leakwarden.gateway.app import create_app
    from leakwarden.gateway.identity import TokenStore
    from leakwarden.gateway.settings import GatewaySettings

    # real employees of the demo company: an analyst and the data director
    emp = world.q("SELECT id, role FROM employees WHERE leave_date IS NULL ORDER BY id")
    analyst = next(e.id for e in emp if e.role == "数据分析师")
    director = next(e.id for e in emp if e.role == "数据总监")
    # create_app with the key ring serves the export workflow itself (as `leakwarden serve` does)
    app = create_app(
        GatewaySettings(company_url=world.company, store_url=world.store),
        ledger=world.ledger,
        keys=world.keys,
        exports=ExportConfig(row_threshold=30, directory=world.tmp, fingerprint=PLAIN),
    )
    svc = app.state.exports
    assert svc.config.dialect == "sqlite" and svc.ledger is world.ledger
    # and the canary guard the operational endpoints check contacts with, on the same ledger
    assert isinstance(app.state.canary_guard, CanaryGuard)
    assert app.state.canary_guard.ledger is world.ledger
    assert app.state.service.canary_guard is app.state.canary_guard  # the phone lookup asks it
    assert "/exports/{request_id}/approve" in app.openapi()["paths"]
    tokens = TokenStore(db.make_engine(world.store))

    def auth(e: int) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {tokens.issue(employee_id=e, ttl=timedelta(hours=1)).token}"
        }

    c = TestClient(app)
    a, d = auth(analyst), auth(director)
    r = c.post(
        "/exports",
        json={"sql": SQL_ANALYTICS, "purpose": "analytics", "recipient": "team bi"},
        headers=a,
    )
    assert r.status_code == 200, r.text
    rid = r.json()["id"]
    assert r.json()["status"] == "requested"
    r = c.post(f"/exports/{rid}/approve", json={"note": "me"}, headers=a)
    assert r.status_code == 403 and "four-eyes" in r.json()["detail"]
    # the approver sees exactly what they approve
    shown = c.get(f"/exports/{rid}", headers=d).json()
    assert shown["sql"] == SQL_ANALYTICS and shown["estimated_rows"] == 40
    assert shown["columns"] == {"customers": ["id", "mobile", "city"]}
    assert c.post(f"/exports/{rid}/approve", json={}, headers=d).status_code == 200
    r = c.post(f"/exports/{rid}/execute", json={}, headers=a)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "executed" and body["rows"] == 40
    assert c.get(f"/exports/{rid}", headers=d).json()["export_id"] == body["export_id"]
    assert c.post(f"/exports/{rid}/execute", json={}, headers=a).status_code == 409
    r = c.get(f"/exports/{rid}/file", headers=a)
    assert r.status_code == 200 and r.content.startswith(MAGIC)
    _, rows = _csv(r.content, world.keys)
    assert len(rows) == 41 and rows[0] == ["id", "mobile", "city"]
    assert c.get(f"/exports/{rid}/file", headers=d).status_code == 403
    assert c.get(f"/exports/{rid}").status_code == 401


def test_cli_request_approve_execute_download_decrypt(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from leakwarden.gateway import export_command
    from leakwarden.gateway.app import create_app
    from leakwarden.gateway.identity import TokenStore
    from leakwarden.gateway.settings import GatewaySettings

    emp = world.q("SELECT id, role FROM employees WHERE leave_date IS NULL ORDER BY id")
    analyst = next(e.id for e in emp if e.role == "数据分析师")
    director = next(e.id for e in emp if e.role == "数据总监")
    app = create_app(
        GatewaySettings(company_url=world.company, store_url=world.store), ledger=world.ledger
    )
    app.include_router(export_router)
    app.state.exports = world.svc
    monkeypatch.setattr(export_command, "_http_client", lambda url, timeout: TestClient(app))
    tokens = TokenStore(db.make_engine(world.store))
    a = tokens.issue(employee_id=analyst, ttl=timedelta(hours=1)).token
    d = tokens.issue(employee_id=director, ttl=timedelta(hours=1)).token
    cli = CliRunner()
    app_ = export_command.export_app

    r = cli.invoke(
        app_,
        ["request", SQL_ANALYTICS, "--purpose", "analytics", "--recipient", "bi", "--json"],
        env={"LEAKWARDEN_TOKEN": a},
    )
    assert r.exit_code == 0, r.output
    rid = json.loads(r.output)["id"]
    r = cli.invoke(app_, ["pending", "--json"], env={"LEAKWARDEN_TOKEN": d})
    assert r.exit_code == 0 and [x["id"] for x in json.loads(r.output)] == [rid]
    r = cli.invoke(app_, ["pending", "--json"], env={"LEAKWARDEN_TOKEN": a})
    assert r.exit_code == 0 and json.loads(r.output) == []  # an analyst approves nothing
    r = cli.invoke(app_, ["approve", rid], env={"LEAKWARDEN_TOKEN": a})
    assert r.exit_code == 1 and "four-eyes" in r.output
    r = cli.invoke(app_, ["approve", rid, "--note", "ok"], env={"LEAKWARDEN_TOKEN": d})
    assert r.exit_code == 0 and "approved" in r.output
    enc = world.tmp / "dl.lwx"
    r = cli.invoke(
        app_,
        ["execute", rid, "--sql", SQL_ANALYTICS.replace("40", "41"), "--out", str(enc)],
        env={"LEAKWARDEN_TOKEN": a},
    )
    assert r.exit_code == 1 and "same-query" in r.output and not enc.exists()
    r = cli.invoke(app_, ["execute", rid, "--out", str(enc)], env={"LEAKWARDEN_TOKEN": a})
    assert r.exit_code == 0, r.output
    out = world.tmp / "plain.csv"
    r = cli.invoke(
        app_,
        [
            "decrypt",
            str(enc),
            "--out",
            str(out),
            "--store",
            world.store,
            "--master-file",
            str(world.tmp / "master.key"),
        ],
    )
    assert r.exit_code == 0, r.output
    rows = list(csv.reader(out.open(encoding="utf-8", newline="")))
    assert len(rows) == 41 and rows[0] == ["id", "mobile", "city"]
    r = cli.invoke(app_, ["show", rid], env={"LEAKWARDEN_TOKEN": ""})
    assert r.exit_code == 2 and "no API token" in r.output


# ----------------------------------------------------------------------------- PostgreSQL


@pytest.mark.postgres
def test_export_on_postgres_runs_once_and_decrypts(pg_server: Any, tmp_path: Path) -> None:
    company = pg_server.create_database()
    store = pg_server.create_database()
    try:
        build_company(company, customers=60, seed=5)
        engine = db.make_engine(store)
        db.upgrade(engine)
        ledger = Ledger.open(store)
        keys = KeyRing.open(store, MasterKey.generate())
        catalog = Catalog.from_demo()
        policies = PolicyEngine.load()
        svc = ExportService(
            company=db.make_engine(company),
            store=engine,
            ledger=ledger,
            decide=lambda req: policies.decide(req, catalog),
            catalog=catalog,
            keys=keys,
            pseudonym_key=b"p" * 32,
            config=ExportConfig(
                row_threshold=30, directory=tmp_path, dialect="postgres", fingerprint=PLAIN
            ),
        )
        rid = svc.request(ANALYST, SQL_ANALYTICS, "analytics", None, "bi", timedelta(hours=1)).id
        assert svc.show(rid).estimated_rows == 40
        with pytest.raises(ExportRefused):
            svc.approve(rid, ANALYST)
        svc.approve(rid, DIRECTOR)
        outcomes: list[str] = []
        barrier = threading.Barrier(2)

        def run() -> None:
            barrier.wait()
            try:
                svc.execute(rid, ANALYST)
                outcomes.append("ran")
            except ExportRefused as exc:
                outcomes.append(exc.rule)
            except Exception as exc:
                outcomes.append(repr(exc))

        threads = [threading.Thread(target=run) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(outcomes) == ["approved-once", "ran"]
        view = svc.show(rid)
        _, rows = _csv(Path(view.file_path or "").read_bytes(), keys)
        with create_engine(company).connect() as conn:
            raw = list(conn.execute(text("SELECT id, mobile, city FROM customers WHERE id <= 40")))
        expected = sorted(
            [str(r.id), pseudonym(b"p" * 32, 1, r.mobile, "cn_mobile"), r.city] for r in raw
        )
        assert sorted(rows[1:]) == expected
        ledger.close()
        keys.close()
        engine.dispose()
    finally:
        pg_server.drop_database(company)
        pg_server.drop_database(store)


def test_http_without_export_service_or_ledger_fails_closed(world: World) -> None:
    from leakwarden.gateway.app import create_app
    from leakwarden.gateway.identity import TokenStore
    from leakwarden.gateway.settings import GatewaySettings

    emp = world.q("SELECT id, role FROM employees WHERE leave_date IS NULL ORDER BY id")
    analyst = next(e.id for e in emp if e.role == "数据分析师")
    app = create_app(
        GatewaySettings(company_url=world.company, store_url=world.store), ledger=world.ledger
    )
    app.include_router(export_router)
    token = TokenStore(db.make_engine(world.store)).issue(
        employee_id=analyst, ttl=timedelta(hours=1)
    )
    h = {"Authorization": f"Bearer {token.token}"}
    body = {"sql": SQL_ANALYTICS, "purpose": "analytics", "recipient": "bi"}
    c = TestClient(app)
    r = c.post("/exports", json=body, headers=h)
    assert r.status_code == 503 and "not configured" in r.json()["detail"]
    app.state.exports = world.svc
    world.svc.ledger = FailingLedger()  # type: ignore[assignment]
    r = c.post("/exports", json=body, headers=h)
    assert r.status_code == 503 and "audit ledger unavailable" in r.json()["detail"]
    assert world.store_rows("SELECT count(*) FROM export_requests")[0][0] == 0
