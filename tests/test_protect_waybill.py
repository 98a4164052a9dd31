"""Privacy waybills: masked fields, a deterministic registered relay number that only the
audited vault maps back, address levels, and no ID on the label."""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from pathlib import Path

import pytest
from typer.testing import CliRunner

from leakwarden.audit.events import AuditEvent
from leakwarden.protect.keys import KeyRing, MasterKey
from leakwarden.protect.operator import OperatorError
from leakwarden.protect.vault import TokenVault, VaultPermissionError
from leakwarden.protect.waybill import RelayRegistry, make_label, waybill_app

RECORD = {
    "waybill_no": "SF1234567890123",
    "order_id": 7,
    "courier": "SF",
    "recipient_name": "张三明",
    "recipient_phone": "13812345678",
    "recipient_address": "广东省深圳市南山区科技园路1号",
    "sender_name": "示例商城",
    "sender_phone": "0755-12345678",
    "sender_address": "广东省深圳市福田区华强北路2号",
    "ext_info": '{"id_card": "11010519491231002X"}',
}


class Sink:
    def __init__(self) -> None:
        self.events: list[AuditEvent] = []

    def append(self, event: AuditEvent) -> object:
        self.events.append(event)
        return object()


@pytest.fixture
def ring(tmp_path: Path) -> KeyRing:
    return KeyRing.open(f"sqlite:///{tmp_path / 's.db'}", MasterKey.generate())


def test_label_fields(ring: KeyRing) -> None:
    sink = Sink()
    vault = TokenVault(ring, namespace="relay", ledger=sink, reveal_allow={"relay-switch"})
    relay = RelayRegistry(ring, vault, lines=["95013", "95014"])
    label = make_label(RECORD, relay)
    assert label.recipient_name == "张*明"
    assert label.recipient_phone == "138****5678"
    assert label.recipient_address == RECORD["recipient_address"]  # the courier delivers to it
    assert label.relay_number in ("95013", "95014") and re.fullmatch(
        r"\d{4}", label.relay_extension
    )
    printed = json.dumps(asdict(label), ensure_ascii=False)
    assert "13812345678" not in printed and "11010519491231002X" not in printed
    assert "张三明" not in printed
    # a reprint gives the same number; another waybill of the same person another extension
    assert make_label(RECORD, relay).dial == label.dial
    other = make_label({**RECORD, "waybill_no": "SF999"}, relay)
    assert other.dial != label.dial
    # the relay maps it back, through the audited vault only
    phone = relay.resolve(
        label.relay_number, label.relay_extension, actor="relay-switch", reason="incoming call"
    )
    assert phone == "13812345678" and sink.events[-1].outcome == "success"
    with pytest.raises(VaultPermissionError):
        relay.resolve(label.relay_number, label.relay_extension, actor="courier", reason="x")


def test_address_levels_and_orders() -> None:
    order = {
        "id": 7,
        "ship_to_name": "李四",
        "ship_to_phone": "13912345678",
        "ship_to_address": "北京市朝阳区建国路88号",
    }
    label = make_label(order, address_level="district")
    assert (label.recipient_name, label.recipient_phone) == ("李*", "139****5678")
    assert label.recipient_address == "北京市朝阳区"
    assert make_label(order, address_level="city").recipient_address == "北京市"
    assert label.relay_number == "" and label.waybill_no == "7"
    with pytest.raises(OperatorError, match="phone or address missing"):
        make_label({"id": 8, "ship_to_name": "王五"})
    with pytest.raises(ValueError, match="address level"):
        make_label(order, address_level="street")


def test_command(tmp_path: Path) -> None:
    src = tmp_path / "orders.jsonl"
    src.write_text(json.dumps(RECORD, ensure_ascii=False) + "\n", encoding="utf-8")
    key = tmp_path / "m.key"
    MasterKey.write_file(key)
    db = f"sqlite:///{tmp_path / 'store.db'}"
    r = CliRunner().invoke(waybill_app, [str(src), "--db", db, "--master-file", str(key), "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output.splitlines()[0])
    assert out["recipient_phone"] == "138****5678" and out["relay_number"] == "95013"
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"a": 1}\n{oops\n', encoding="utf-8")
    r = CliRunner().invoke(waybill_app, [str(bad), "--no-relay"])
    assert r.exit_code != 0 and "line 1" in r.output  # record 1 has no phone


def test_command_reads_a_waybills_table(tmp_path: Path) -> None:
    from datetime import datetime

    from sqlalchemy import create_engine, insert

    from leakwarden.demo.schema import customers, metadata, orders, waybills

    url = f"sqlite:///{tmp_path / 'company.db'}"
    engine = create_engine(url)
    metadata.create_all(engine, tables=[customers, orders, waybills])
    row = {k: v for k, v in RECORD.items() if k in waybills.c}
    with engine.begin() as conn:
        conn.execute(insert(waybills).values(**row, created_at=datetime(2026, 11, 1)))
    engine.dispose()
    r = CliRunner().invoke(
        waybill_app, ["--from-db", url, "--no-relay", "--address", "district", "--json"]
    )
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["recipient_address"] == "广东省深圳市南山区" and out["recipient_name"] == "张*明"


def test_relay_numbers_expire_and_free_their_slot(
    ring: KeyRing, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import timedelta

    from leakwarden.protect import waybill
    from leakwarden.protect.vault import VaultError

    monkeypatch.setattr(waybill, "_EXTENSIONS", 1)  # one slot: every waybill wants it
    vault = TokenVault(ring, namespace="relay", ledger=Sink(), reveal_allow={"switch"})
    gone = RelayRegistry(ring, vault, lines=["95013"], ttl=timedelta(seconds=-1))
    first = make_label(RECORD, gone)
    assert first.dial == "95013 转 0000"
    with pytest.raises(VaultError, match="expired"):
        gone.resolve("95013", "0000", actor="switch", reason="call")
    live = RelayRegistry(ring, vault, lines=["95013"])
    second = make_label({**RECORD, "waybill_no": "SF2", "recipient_phone": "13900001111"}, live)
    assert second.dial == "95013 转 0000"  # the expired slot was taken over
    assert live.resolve("95013", "0000", actor="switch", reason="call") == "13900001111"
    with pytest.raises(OperatorError, match="no free relay extension"):
        make_label({**RECORD, "waybill_no": "SF3"}, live)  # the only slot is live
