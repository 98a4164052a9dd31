"""``reveal``: an explicit key and a reason, the audit record written before anything is
released, fail closed when it cannot be written, never a clear value in the record."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from leakwarden.audit.ledger import AuditWriteError, Ledger
from leakwarden.protect._reveal import RevealDenied, RevealRequest, reveal_file, reveal_value
from leakwarden.protect.command import reveal_command
from protect_doubles import Last4, Swap

REQUEST = RevealRequest("ff1", "test", "customer complaint #88 needs a call back", "alice")


def swap(value: str) -> str:
    return "".join(str(9 - int(c)) for c in value)


@pytest.fixture
def ledger(tmp_path: Path) -> Any:
    led = Ledger.open(f"sqlite:///{tmp_path / 'audit.db'}")
    yield led
    led.close()


class BrokenLedger:
    def append(self, event: Any) -> Any:
        raise AuditWriteError("disk full")


class Recorder:
    """Appends to a real ledger and remembers whether the output existed at that moment."""

    def __init__(self, ledger: Any, watch: Path | None = None) -> None:
        self.ledger, self.watch, self.seen = ledger, watch, []

    def append(self, event: Any) -> Any:
        self.seen.append(self.watch.exists() if self.watch is not None else None)
        return self.ledger.append(event)


def test_reveal_value_is_recorded_first(ledger: Any) -> None:
    clear, receipt = reveal_value("86187654321", REQUEST, lambda s: Swap(), ledger)
    assert clear == "13812345678"
    text, _ = ledger.leaf(receipt.index)
    event = json.loads(text)
    assert event["event"]["action"] == "protect.reveal"
    assert event["event"]["outcome"] == "success"
    assert event["event"]["reason"] == REQUEST.reason
    assert event["user"]["id"] == "alice"
    assert event["labels"] == {"key": "test", "operator": "ff1"}
    assert "13812345678" not in text and "86187654321" not in text


def test_reveal_fails_closed_when_audit_cannot_be_written() -> None:
    with pytest.raises(RevealDenied, match=r"could not be recorded.*disk full"):
        reveal_value("86187654321", REQUEST, lambda s: Swap(), BrokenLedger())


def test_reveal_refuses_without_key_reason_or_reversible_operator(ledger: Any) -> None:
    for request, message in [
        (RevealRequest("ff1", "test", "  ", "alice"), "reason is required"),
        (RevealRequest("ff1", "", "why", "alice"), "explicit key"),
        (RevealRequest("hmac", "test", "why", "alice"), "cannot be reversed"),
    ]:
        with pytest.raises(RevealDenied, match=message):
            reveal_value("1", request, lambda s: Swap(), ledger)
    with pytest.raises(RevealDenied, match="not reversible"):
        reveal_value("1", REQUEST, lambda s: Last4(), ledger)
    assert ledger.size() == 0


def test_value_that_does_not_reverse_is_a_recorded_failure(ledger: Any) -> None:
    with pytest.raises(RevealDenied, match="does not reverse"):
        reveal_value("not-digits", REQUEST, lambda s: Swap(), ledger)
    event = json.loads(ledger.leaf(0)[0])
    assert event["event"]["outcome"] == "failure" and "not-digits" not in ledger.leaf(0)[0]


def test_reveal_file_column(tmp_path: Path, ledger: Any) -> None:
    src = tmp_path / "p.csv"
    src.write_text("id,mobile\n1,86187654321\n2,\n3,86099998888\n")
    out = tmp_path / "clear.csv"
    recorder = Recorder(ledger, out)
    _result, receipt = reveal_file(src, "mobile", out, REQUEST, lambda s: Swap(), recorder)
    assert out.read_text() == "id,mobile\n1,13812345678\n2,\n3,13900001111\n"
    assert recorder.seen == [False]  # recorded before the output appeared
    event = json.loads(ledger.leaf(receipt.index)[0])
    assert event["leakwarden"]["rows"] == 2 and event["leakwarden"]["columns"] == ["mobile"]
    assert not Path(str(out) + ".leakwarden.json").exists()


def test_reveal_file_fails_closed(tmp_path: Path) -> None:
    src = tmp_path / "p.csv"
    src.write_text("id,mobile\n1,86187654321\n")
    out = tmp_path / "clear.csv"
    with pytest.raises(RevealDenied, match="could not be recorded"):
        reveal_file(src, "mobile", out, REQUEST, lambda s: Swap(), BrokenLedger())
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["p.csv"]


app = typer.Typer()
app.command("reveal")(reveal_command)
app.command("noop")(lambda: None)


def test_cli_requires_key_and_reason(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 's.db'}"
    res = CliRunner().invoke(app, ["reveal", "123", "--reason", "x", "--db", db])
    assert res.exit_code == 2 and "--key is required" in res.output
    res = CliRunner().invoke(app, ["reveal", "123", "--key", "k", "--db", db])
    assert res.exit_code == 2 and "--reason is required" in res.output
    res = CliRunner().invoke(
        app, ["reveal", "--file", "x.csv", "--key", "k", "--reason", "r", "--db", db]
    )
    assert res.exit_code == 2 and "--column and --out" in res.output


def test_cli_without_master_key_reveals_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LW_TEST_NO_SUCH_VAR", raising=False)
    db = f"sqlite:///{tmp_path / 's.db'}"
    res = CliRunner().invoke(
        app,
        ["reveal", "86187654321", "--key", "k", "--reason", "r", "--db", db,
         "--master-env", "LW_TEST_NO_SUCH_VAR"],
    )  # fmt: skip
    assert res.exit_code == 2 and "LW_TEST_NO_SUCH_VAR" in res.output
    with Ledger.open(db) as led:
        assert led.size() == 0


def test_cli_round_trip_with_real_ff1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import base64
    import os

    from leakwarden.protect.command import protect_command
    from leakwarden.protect.keys import KeyRing, MasterKey

    monkeypatch.setenv("LEAKWARDEN_MASTER_KEY", base64.b64encode(os.urandom(32)).decode())
    db = f"sqlite:///{tmp_path / 'store.db'}"
    with KeyRing.open(db, MasterKey.from_env("LEAKWARDEN_MASTER_KEY")) as ring:
        ring.create("pi")
    both = typer.Typer()
    both.command("protect")(protect_command)
    both.command("reveal")(reveal_command)
    rules = tmp_path / "r.yaml"
    rules.write_text(
        "rules:\n  - file: '*.csv'\n    column: mobile\n    operator: ff1:pi\n    type: cn_mobile\n"
    )
    src = tmp_path / "c.csv"
    clear = "id,mobile\n1,13812345678\n2,15900001111\n"
    src.write_text(clear)
    enc = tmp_path / "enc.csv"
    res = CliRunner().invoke(
        both, ["protect", str(src), "--rules", str(rules), "--out", str(enc), "--db", db]
    )
    assert res.exit_code == 0, res.output
    cipher = [line.split(",")[1] for line in enc.read_text().splitlines()[1:]]
    assert all(len(c) == 11 and c.isdigit() and c[0] == "1" for c in cipher)
    assert "13812345678" not in enc.read_text()
    reason = ["--key", "pi", "--reason", "courier cannot reach the customer", "--db", db]
    one = CliRunner().invoke(
        both, ["reveal", cipher[0], "--type", "cn_mobile", *reason, "--actor", "bob"]
    )
    assert one.exit_code == 0, one.output
    assert one.stdout.strip() == "13812345678"
    back = tmp_path / "back.csv"
    whole = CliRunner().invoke(
        both,
        [
            "reveal",
            "--file",
            str(enc),
            "--column",
            "mobile",
            "--out",
            str(back),
            "--type",
            "cn_mobile",
            *reason,
            "--format",
            "json",
        ],
    )
    assert whole.exit_code == 0, whole.output
    assert back.read_text() == clear
    with Ledger.open(db) as led:
        events = [json.loads(led.leaf(i)[0]) for i in range(led.size())]
    reveals = [e for e in events if e["event"]["action"] == "protect.reveal"]
    assert len(reveals) == 2 and reveals[0]["user"]["id"] == "bob"
    assert reveals[1]["leakwarden"]["rows"] == 2
    assert all(e["event"]["reason"] == "courier cannot reach the customer" for e in reveals)
    assert "13812345678" not in json.dumps(events, ensure_ascii=False)


def test_cli_token_vault_round_trip_and_permission(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import base64
    import os

    from leakwarden.protect.command import protect_command
    from leakwarden.protect.keys import KeyRing, MasterKey

    monkeypatch.setenv("LEAKWARDEN_MASTER_KEY", base64.b64encode(os.urandom(32)).decode())
    db = f"sqlite:///{tmp_path / 'store.db'}"
    with KeyRing.open(db, MasterKey.from_env("LEAKWARDEN_MASTER_KEY")) as ring:
        ring.create("vk")
    both = typer.Typer()
    both.command("protect")(protect_command)
    both.command("reveal")(reveal_command)
    rules = tmp_path / "r.yaml"
    rules.write_text("rules:\n  - file: '*.csv'\n    column: card\n    operator: token:vk\n")
    src = tmp_path / "c.csv"
    src.write_text("id,card\n1,6222021234567890123\n2,6222021234567890123\n3,4111111111111111\n")
    out = tmp_path / "t.csv"
    res = CliRunner().invoke(
        both, ["protect", str(src), "--rules", str(rules), "--out", str(out), "--db", db]
    )
    assert res.exit_code == 0, res.output
    tokens = [line.split(",")[1] for line in out.read_text().splitlines()[1:]]
    assert tokens[0] == tokens[1] != tokens[2] and all(t.startswith("tk_") for t in tokens)
    ask = ["reveal", tokens[2], "--operator", "token", "--key", "vk", "--reason", "chargeback"]
    monkeypatch.setenv("LEAKWARDEN_VAULT_REVEAL_ALLOW", "carol")
    denied = CliRunner().invoke(both, [*ask, "--actor", "mallory", "--db", db])
    assert denied.exit_code == 2 and "4111111111111111" not in denied.output
    allowed = CliRunner().invoke(both, [*ask, "--actor", "carol", "--db", db])
    assert allowed.exit_code == 0, allowed.output
    assert allowed.stdout.strip() == "4111111111111111"
