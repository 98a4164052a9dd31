"""The main job, ``leakwarden demo``: builds, scans, checks itself and records the inventory."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from typer.testing import CliRunner

from leakwarden.cli import app
from leakwarden.walkthrough import planted


def test_planted_reads_columns_text_types_and_broken_files() -> None:
    manifest = {
        "files": [
            {"path": "a.csv", "columns": {"手机号": {"cn_mobile": 3, "phone": 0}, "备注": {}}},
            {"path": "app.log", "types": {"email": 2}},
            {"path": "old.log.gz", "types": {"cn_mobile": 5}, "problem": "truncated gzip"},
            {"path": "clean.csv", "columns": {"sku": {}}},
        ]
    }
    expected, optional, broken = planted(manifest)
    assert expected == {("a.csv", "手机号", "cn_mobile"), ("app.log", "", "email")}
    assert optional == {("old.log.gz", "", "cn_mobile")}
    assert broken == {"old.log.gz"}


def test_demo_command_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    store = tmp_path / "store.db"
    result = CliRunner().invoke(
        app,
        ["demo", "--out", str(out), "--customers", "300", "--leak-rows", "100",
         "--db", f"sqlite:///{store}"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (out / "company.db").is_file()
    assert (out / "files" / "manifest.json").is_file()
    html = (out / "discovery.html").read_text(encoding="utf-8")
    assert "cn_resident_id" in html
    assert "planted, missed" in result.output
    with sqlite3.connect(out / "company.db") as company:
        assert company.execute("SELECT count(*) FROM customers").fetchone() == (300,)
    with sqlite3.connect(store) as db:
        sources = {row[0] for row in db.execute("SELECT DISTINCT source FROM inventory")}
        types = {row[0] for row in db.execute("SELECT DISTINCT pi_type FROM inventory")}
    assert len(sources) == 2  # the company database and the files folder
    assert {"cn_resident_id", "cn_mobile", "bank_card", "email"} <= types


def test_demo_protects_gates_and_audits(tmp_path: Path) -> None:
    """After discovery the demo protects the leaked exports (no clear value of a protected column
    is left in them), serves three gateway requests (one refused) and verifies its ledger."""
    import csv

    from leakwarden.audit.ledger import Ledger
    from leakwarden.audit.note import load_verifier
    from leakwarden.audit.verify import verify_ledger

    out = tmp_path / "demo"
    store = f"sqlite:///{tmp_path / 'store.db'}"
    result = CliRunner().invoke(
        app,
        ["demo", "--out", str(out), "--customers", "300", "--leak-rows", "100", "--db", store],
    )
    assert result.exit_code == 0, result.output

    source = out / "files" / "exports" / "customers_2026-03-01.csv"
    protected = out / "protected" / source.name
    assert protected.is_file()
    with source.open(encoding="utf-8-sig", newline="") as fh:
        before = list(csv.DictReader(fh))
    with protected.open(encoding="utf-8-sig", newline="") as fh:
        after = list(csv.DictReader(fh))
    assert len(before) == len(after) == 100
    # the phone, ID and name columns of this export (by its manifest) hold no clear value any more
    manifest = (out / "files" / "manifest.json").read_text(encoding="utf-8")
    assert "customers_2026-03-01.csv" in manifest
    changed = [
        c for c in before[0] if any(b[c] != a[c] for b, a in zip(before, after, strict=True))
    ]
    assert len(changed) >= 3, changed
    for column in changed:
        clear = {row[column] for row in before if len(row[column]) >= 4}
        assert not clear & {row[column] for row in after}, column

    assert "refused (403)" in result.output  # the ticket does not concern the other customer
    # the monitor scores one day for each actor in the ledger: the demo's protect run, the agent
    # (two requests) and the marketer
    assert "monitor: 3 person-days scored" in " ".join(result.output.split())
    with Ledger.open(store) as ledger:
        assert ledger.size() >= 4  # protect, three gateway requests
        keys = out / "keys"
        report = verify_ledger(
            ledger, [out / "checkpoints"], [load_verifier(keys / "leakwarden-demo-audit.pub")]
        )
    assert not report.problems
    assert (keys / "master.key").stat().st_mode & 0o077 == 0
