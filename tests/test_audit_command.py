"""``leakwarden audit`` commands through CliRunner, the stand-alone verifier on the proofs they
print, and the CEF/JSON-lines export (escaping checked against the CEF rules by hand)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from leakwarden.audit.command import audit_app
from leakwarden.audit.events import AuditEvent
from leakwarden.audit.export import cef_header, cef_value, to_cef, to_syslog
from leakwarden.audit.ledger import Ledger
from leakwarden.audit.standalone import main as standalone_main

runner = CliRunner()


def _event(i: int, actor: str = "alice") -> AuditEvent:
    return AuditEvent(
        action="gateway.query",
        outcome="denied" if i % 5 == 0 else "success",
        actor=actor,
        dataset="crm/customers" if i % 2 else "crm/orders",
        customer_ids=[f"C{i}"],
        rows=i,
        purpose="support ticket",
        timestamp=datetime(2026, 11, 23, 12, i % 60, tzinfo=UTC),
        event_id=f"ev{i}",
    )


@pytest.fixture
def setup(db_url: str, tmp_path: Path) -> tuple[str, Path]:
    res = runner.invoke(audit_app, ["keygen", "log.example", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    key = tmp_path / "log.example.key"
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    assert "PRIVATE" not in res.output
    with Ledger.open(db_url) as ledger:
        ledger.append_many(_event(i, "alice" if i < 7 else "bob") for i in range(13))
    cps = tmp_path / "cps"
    for _ in range(2):
        res = runner.invoke(
            audit_app,
            ["checkpoint", "--key", str(key), "--url", db_url, "--checkpoints", str(cps)],
        )
        assert res.exit_code == 0, res.output
        with Ledger.open(db_url) as ledger:
            ledger.append_many(_event(i) for i in range(13, 20))
    return db_url, tmp_path


def test_prove_then_verify_standalone(setup: tuple[str, Path], tmp_path: Path) -> None:
    url, keys = setup
    cps = keys / "cps"
    res = runner.invoke(audit_app, ["prove", "ev3", "--url", url, "--checkpoints", str(cps)])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["leaf_index"] == 3 and doc["tree_size"] == 20
    proof = tmp_path / "proof.json"
    proof.write_text(res.output)
    pub = str(keys / "log.example.pub")
    assert standalone_main([str(proof), "--key", pub]) == 0
    # a changed event fails
    doc["event"] = doc["event"].replace("alice", "mallory")
    doc.pop("leaf_hash")
    proof.write_text(json.dumps(doc))
    assert standalone_main([str(proof), "--key", pub]) == 1
    # as a separate program, with only the standard library and cryptography
    res2 = runner.invoke(
        audit_app, ["consistency", "13", "20", "--url", url, "--checkpoints", str(cps)]
    )
    assert res2.exit_code == 0, res2.output
    proof.write_text(res2.output)
    import leakwarden.audit.standalone as sa_mod

    done = subprocess.run(
        [sys.executable, "-I", sa_mod.__file__, str(proof), "--key", pub],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "VALID" in done.stdout


def test_verify_command_and_cosign(setup: tuple[str, Path]) -> None:
    url, keys = setup
    cps = keys / "cps"
    pub = str(keys / "log.example.pub")
    res = runner.invoke(
        audit_app, ["verify", "--url", url, "--checkpoints", str(cps), "--key", pub]
    )
    assert res.exit_code == 0, res.output
    assert "verifies" in res.output
    res = runner.invoke(audit_app, ["keygen", "witness.dept", "--out", str(keys)])
    assert res.exit_code == 0
    cp = sorted(cps.glob("checkpoint.000000000013.*"))[0]
    args = [
        "cosign",
        str(cp),
        "--key",
        str(keys / "witness.dept.key"),
        "--log-key",
        pub,
        "--state",
        str(keys / "w.json"),
        "--url",
        url,
    ]
    assert runner.invoke(audit_app, args).exit_code == 0
    cp20 = sorted(cps.glob("checkpoint.000000000020.*"))[0]
    args[1] = str(cp20)
    res = runner.invoke(audit_app, args)
    assert res.exit_code == 0, res.output
    both = ["--key", pub, "--key", str(keys / "witness.dept.pub")]
    res = runner.invoke(
        audit_app, ["verify", "--url", url, "--checkpoints", str(cps), "--format", "json", *both]
    )
    out = json.loads(res.output)
    # only the two co-signed checkpoints count when the witness must sign too
    assert out["ok"] is False and out["checkpoints"] == 2


def test_query_and_export(setup: tuple[str, Path], tmp_path: Path) -> None:
    url, _ = setup
    res = runner.invoke(
        audit_app, ["query", "--actor", "bob", "--url", url, "--format", "json", "--limit", "100"]
    )
    assert res.exit_code == 0, res.output
    docs = json.loads(res.output)
    assert [d["event"]["id"] for d in docs] == [f"ev{i}" for i in range(7, 13)]
    res = runner.invoke(audit_app, ["query", "--customer", "C4", "--url", url, "--format", "json"])
    assert [d["event"]["id"] for d in json.loads(res.output)] == ["ev4"]
    res = runner.invoke(
        audit_app,
        ["query", "--since", "2026-11-23T12:15:00Z", "--dataset", "crm/orders", "--url", url],
    )
    assert res.exit_code == 0 and "16" in res.output and "ev" not in res.output
    out = tmp_path / "siem.jsonl"
    res = runner.invoke(audit_app, ["export", "--url", url, "--out", str(out)])
    assert res.exit_code == 0, res.output
    lines = out.read_text().splitlines()
    assert len(lines) == 27 and json.loads(lines[4])["event"]["sequence"] == 4
    res = runner.invoke(audit_app, ["export", "--format", "cef", "--since", "#25", "--url", url])
    cef = res.output.splitlines()
    assert len(cef) == 2 and cef[0].startswith("<110>1 2026-11-23T12:18:00.000000Z ")
    assert "CEF:0|leakwarden|leakwarden|" in cef[0] and "|gateway.query|" in cef[0]
    res = runner.invoke(audit_app, ["export", "--format", "xml", "--url", url])
    assert res.exit_code == 2


def test_cef_escaping_follows_the_spec() -> None:
    # CEF: header escapes backslash and pipe; extension values escape backslash, equals, newlines
    assert cef_header(r"a|b\c") == r"a\|b\\c"
    assert cef_value("a=b\\c\nd\re|f") == "a\\=b\\\\c\\nd\\re|f"
    doc = _event(10, actor="x=y").to_ecs(7)
    line = to_cef(doc)
    assert line.startswith("CEF:0|leakwarden|leakwarden|")
    assert "|gateway.query|gateway.query denied|7|" in line
    assert "suser=x\\=y" in line and "cn2=7" in line and "cs1=support ticket" in line
    assert to_syslog(doc, host="h").startswith("<108>1 2026-11-23T12:10:00.000000Z h leakwarden")


def test_bad_inputs_are_named(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    res = runner.invoke(audit_app, ["query", "--since", "yesterday", "--url", url])
    assert res.exit_code == 2 and "--since" in res.output
    (tmp_path / "k.key").write_text("nonsense")
    os.chmod(tmp_path / "k.key", 0o644)
    res = runner.invoke(audit_app, ["checkpoint", "--key", str(tmp_path / "k.key"), "--url", url])
    assert res.exit_code == 2 and "readable by others" in res.output
    res = runner.invoke(audit_app, ["prove", "ev1", "--url", url])
    assert res.exit_code == 2 and "no event" in res.output


def test_standalone_verifier_imports_only_stdlib_and_cryptography() -> None:
    import ast

    import leakwarden.audit.standalone as sa_mod

    tree = ast.parse(Path(sa_mod.__file__).read_text(encoding="utf-8"))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            roots.add(node.module.split(".")[0])
    assert "leakwarden" not in roots
    assert roots - {"cryptography", "__future__"} <= set(sys.stdlib_module_names)


def test_witness_refuses_a_checkpoint_that_forks_from_what_it_cosigned(
    setup: tuple[str, Path],
) -> None:
    import hashlib

    from leakwarden.audit.note import Signer
    from leakwarden.audit.standalone import Checkpoint

    url, keys = setup
    cps = keys / "cps"
    pub = str(keys / "log.example.pub")
    assert runner.invoke(audit_app, ["keygen", "w", "--out", str(keys)]).exit_code == 0
    base = ["--key", str(keys / "w.key"), "--log-key", pub, "--state", str(keys / "s.json")]
    cp13 = sorted(cps.glob("checkpoint.000000000013.*"))[0]
    assert runner.invoke(audit_app, ["cosign", str(cp13), *base, "--url", url]).exit_code == 0
    # the log operator signs another history of size 20
    log_signer = Signer.load(keys / "log.example.key")
    other = log_signer.sign(Checkpoint("x", 20, hashlib.sha256(b"other").digest()).body())
    forged = keys / "forged"
    forged.write_text(other.encode())
    res = runner.invoke(audit_app, ["cosign", str(forged), *base, "--url", url])
    assert res.exit_code == 1 and "not co-signing" in res.output
    assert "w " not in forged.read_text()  # no witness signature was added
