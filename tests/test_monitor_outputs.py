"""The monitor's outputs: the store (migration 0007, idempotent saves, dispositions), the webhook
(retries, recorded failures) and the SIEM lines (the audit export's JSON-lines and CEF formats),
and the audit-ledger adapter's round trip."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import ClassVar

import pyarrow as pa
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Engine

from leakwarden.audit.events import AuditEvent
from leakwarden.audit.ledger import Ledger
from leakwarden.monitor.alert_store import AlertNotFound, AlertStore, publish
from leakwarden.monitor.config import Alert, Reason
from leakwarden.monitor.ledger_events import customer_key, events_from_ledger
from leakwarden.monitor.sinks import SiemSink, WebhookSink, alert_doc
from leakwarden.store import db
from leakwarden.store import monitor_tables as _monitor_tables  # noqa: F401  (the models)
from leakwarden.store.models import Base

MONITOR_TABLES = {"monitor_alerts", "monitor_deliveries", "monitor_risk"}


def _alert(actor: str = "e1", rule: str = "daily", score: float = 12.5) -> Alert:
    return Alert(
        alert_id=f"mon-{actor}-{rule}",
        actor=actor,
        day=date(2026, 3, 2),
        raised_at=datetime(2026, 3, 3, 0, 0, tzinfo=UTC),
        score=score,
        rule=rule,
        reasons=(
            Reason("unexplained_customers", 25.0, 0.0, 1.0, 1.0, 10.0, "25 of 40 | a=b"),
            Reason("risk_carried", 2.5, None, None, None, 2.5),
        ),
        customers=(1000001, 1000002),
        events=(17, 18, 40),
        peer_group="cs/agent",
    )


@pytest.fixture
def store(db_url: str) -> Iterator[Engine]:
    engine = db.make_engine(db_url)
    db.upgrade(engine)
    try:
        yield engine
    finally:
        engine.dispose()


def test_migration_0007_builds_the_monitor_models_and_downgrades(db_url: str) -> None:
    url = db_url
    db.upgrade(url)
    engine = db.make_engine(url)
    try:
        assert set(inspect(engine).get_table_names()) >= MONITOR_TABLES
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            diffs = [
                d
                for d in compare_metadata(ctx, Base.metadata)
                if any(t in repr(d) for t in MONITOR_TABLES)
            ]
        assert diffs == []
    finally:
        engine.dispose()
    db.downgrade(url, "0006")
    engine = db.make_engine(url)
    try:
        assert not MONITOR_TABLES & set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_store_saves_idempotently_and_closing_keeps_the_verdict(store: Engine) -> None:
    s = AlertStore(store)
    a = _alert()
    assert s.save([a]) == [a.alert_id]
    assert s.save([a]) == []  # the same alert again: nothing new
    assert s.get(a.alert_id) == a
    d = s.close(a.alert_id, "benign", by="ana", note="known batch job")
    assert (d.actor, d.rule, d.disposition, d.score) == ("e1", "daily", "benign", 12.5)
    s.save([_alert(score=99.0)])  # a re-run does not reopen or rescore a closed alert
    assert s.get(a.alert_id).score == 12.5
    assert s.status(a.alert_id)["disposition"] == "benign"
    assert s.dispositions() == [d]
    assert [x.alert_id for x, st, _ in s.find(status="open")] == []
    with pytest.raises(ValueError, match="disposition 'fine'"):
        s.close(a.alert_id, "fine", by="ana")
    with pytest.raises(AlertNotFound):
        s.close("mon-nope", "benign", by="ana")


def test_risk_ledger_rows_replace_their_days(store: Engine) -> None:
    s = AlertStore(store)
    day = pa.array([date(2026, 3, 2), date(2026, 3, 2)], pa.date32())
    scores = pa.table({"actor": ["a", "b"], "day": day, "score": [1.0, 2.0]})
    assert s.save_scores(scores) == 2
    assert s.save_scores(scores.slice(0, 1)) == 1
    from sqlalchemy import text

    with store.connect() as conn:
        assert conn.execute(text("SELECT actor, score FROM monitor_risk")).all() == [("a", 1.0)]


class _Hook(BaseHTTPRequestHandler):
    statuses: ClassVar[list[int]] = []
    bodies: ClassVar[list[dict[str, object]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).bodies.append(json.loads(body))
        status = type(self).statuses.pop(0) if type(self).statuses else 200
        self.send_response(status)
        self.end_headers()
        self.wfile.write(b"no")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def hook() -> Iterator[tuple[str, type[_Hook]]]:
    handler = type("Hook", (_Hook,), {"statuses": [], "bodies": []})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/alerts", handler
    finally:
        server.shutdown()
        server.server_close()


def test_webhook_retries_server_errors_and_records_every_outcome(
    store: Engine, hook: tuple[str, type[_Hook]]
) -> None:
    url, handler = hook
    sleeps: list[float] = []
    sink = WebhookSink(url, retries=3, backoff=0.25, sleep=sleeps.append)
    handler.statuses = [503, 500, 200]
    s = AlertStore(store)
    a = _alert()
    [d] = publish(s, [a], [sink])
    assert (d.delivered, d.attempts) == (True, 3)
    assert sleeps == [0.25, 0.5]
    assert handler.bodies[-1] == json.loads(json.dumps(alert_doc(a)))
    assert handler.bodies[-1]["user"] == {"id": "e1"}
    # a second publish of the same alert sends nothing
    assert publish(s, [a], [sink]) == []
    # always failing: four attempts, the failure recorded with its reason
    handler.statuses = [500] * 4
    b = _alert(actor="e2")
    [d2] = publish(s, [b], [sink])
    assert (d2.delivered, d2.attempts) == (False, 4)
    assert s.deliveries(b.alert_id)[0].error == "HTTP 500: no"
    # a client error is not retried
    handler.statuses = [400]
    [d3] = publish(s, [_alert(actor="e3")], [sink])
    assert (d3.delivered, d3.attempts) == (False, 1)
    # nobody listening: a connection error, recorded, never raised
    dead = WebhookSink("http://127.0.0.1:9/x", retries=1, sleep=sleeps.append)
    [d4] = publish(s, [_alert(actor="e4")], [dead])
    assert not d4.delivered and d4.error and "refused" in d4.error.lower()


def test_siem_lines_in_json_and_cef(tmp_path: Path) -> None:
    a = _alert()
    path = tmp_path / "siem.log"
    assert SiemSink(path, "jsonl").send(a).delivered
    doc = json.loads(path.read_text().splitlines()[0])
    assert doc["event"]["kind"] == "alert" and doc["event"]["id"] == a.alert_id
    assert doc["leakwarden"]["monitor"]["events"] == [17, 18, 40]
    out = io.StringIO()
    SiemSink(out, "cef", host="mon1").send(a)
    line = out.getvalue().rstrip("\n")
    assert line.startswith("<108>1 2026-03-03T00:00:00.000000Z mon1 leakwarden - monitor - CEF:0|")
    head, _, ext = line.partition("CEF:0|")[2].rpartition("|")
    assert head.split("|")[3:] == ["monitor.alert", "insider risk (daily)", "6"]
    assert "suser=e1" in ext and "cs4=17,18,40" in ext
    # CEF escaping of "=" in extension values
    out = io.StringIO()
    SiemSink(out, "cef", host="mon1").send(replace(a, peer_group="ops=night"))
    assert "cs3=ops\\=night " in out.getvalue()
    with pytest.raises(ValueError, match="SIEM format 'xml'"):
        SiemSink(path, "xml")


def _ledger_event(i: int, **kw: object) -> AuditEvent:
    base: dict[str, object] = {
        "action": "gateway.customer.read",
        "outcome": "success",
        "actor": "alice",
        "timestamp": datetime(2026, 3, 2, 9, i, tzinfo=UTC),
        "event_id": f"ev{i}",
        "dataset": "crm/customers",
        "rows": 2,
        "customers": 2,
        "customer_ids": ["101", "102"],
        "ticket": "T1",
        "source_ip": "10.0.0.1",
    }
    base.update(kw)
    return AuditEvent(**base)  # type: ignore[arg-type]


def test_ledger_rows_become_event_batches(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    with Ledger.open(url) as ledger:
        ledger.append_many(
            [
                _ledger_event(0),
                _ledger_event(1, outcome="denied", customer_ids=[], customers=None, rows=None),
                _ledger_event(2, action="gateway.export", export_id="x9", customer_ids=["c-7"]),
                _ledger_event(3, action="gateway.query", extra={"channel": "console"}),
            ]
        )
        rows = [r for b in events_from_ledger(ledger) for r in b.to_pylist()]
        assert [r["seq"] for r in rows] == [0, 1, 2, 3]
        first = rows[0]
        assert first["ts"] == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
        assert (first["actor"], first["action"], first["outcome"]) == (
            "alice",
            "gateway.customer.read",
            "allowed",
        )
        assert (first["channel"], first["dataset"], first["source_ip"]) == (
            "api",
            "crm/customers",
            "10.0.0.1",
        )
        assert (first["rows"], first["customers"], first["customer_ids"]) == (2, 2, [101, 102])
        assert first["ticket"] == "T1"
        assert (rows[1]["outcome"], rows[1]["rows"], rows[1]["customers"]) == ("denied", 0, 0)
        assert (rows[2]["channel"], rows[2]["export_id"]) == ("export", "x9")
        assert rows[2]["customer_ids"] == [customer_key("c-7")]
        assert rows[3]["channel"] == "console"  # labels.channel wins over the action
        since = list(events_from_ledger(ledger, since=2))
        assert [r["seq"] for b in since for r in b.to_pylist()] == [2, 3]
        after = list(events_from_ledger(ledger, since=datetime(2026, 3, 2, 9, 3, tzinfo=UTC)))
        assert [r["seq"] for b in after for r in b.to_pylist()] == [3]


def test_customer_keys_are_stable_and_decimal_ids_kept() -> None:
    assert customer_key("12345") == 12345
    assert customer_key("c-7") == customer_key("c-7") != customer_key("c-8")
    assert 0 <= customer_key("c-7") < 2**63
