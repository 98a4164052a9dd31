"""``leakwarden scan`` / ``inventory`` end to end with the real detector: exit codes for CI,
JSON that parses, an HTML report that escapes what it shows, and a rescan diff."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from leakwarden.cli import app

ID = "11010519491231002X"  # GB 11643 annex example, valid check digit
MOBILE = "13812345678"


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout


@pytest.fixture
def store(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store.db'}"


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    folder = tmp_path / "logs"
    folder.mkdir()
    (folder / "app.log").write_text(
        "".join(f"2024-05-01 INFO kyc passed for {ID} order {i}\n" for i in range(5))
    )
    (folder / "clean.log").write_text("service started\nhealth ok\n")
    return folder


def test_fail_on_sensitive_in_a_log_folder(logs: Path, store: str) -> None:
    code, _ = run("scan", str(logs), "--db", store, "--fail-on", "sensitive")
    assert code == 1
    code, _ = run("scan", str(logs), "--db", store, "--fail-on", "none")
    assert code == 0
    code, _ = run("scan", str(logs), "--db", store)  # default: report, do not fail
    assert code == 0


def test_fail_on_any_and_clean_folder(tmp_path: Path, store: str) -> None:
    clean = tmp_path / "clean"
    clean.mkdir()
    (clean / "a.log").write_text("nothing personal here\n")
    assert run("scan", str(clean), "--db", store, "--fail-on", "any")[0] == 0
    (clean / "b.log").write_text(f"call me on {MOBILE}\n")
    assert run("scan", str(clean), "--db", store, "--fail-on", "any")[0] == 1
    # a mobile number is personal, not sensitive, information
    assert run("scan", str(clean), "--db", store, "--fail-on", "sensitive")[0] == 0


def test_unreadable_source_and_usage_errors_exit_2(tmp_path: Path, store: str) -> None:
    assert run("scan", str(tmp_path / "missing"), "--db", store)[0] == 2
    assert run("scan", str(tmp_path), "--db", store, "--format", "xml")[0] == 2
    assert run("scan", "--db", store)[0] == 2
    assert run("scan", "postgresql://u:pw@127.0.0.1:1/x", "--no-store")[0] == 2


def test_json_output_parses(logs: Path, store: str) -> None:
    (logs / "blob.bin").write_bytes(bytes(range(256)) * 4)
    code, out = run("scan", str(logs), "--db", store, "--format", "json", "--fail-on", "any")
    assert code == 1
    doc = json.loads(out)
    assert doc["exit_code"] == 1
    [source] = doc["sources"]
    assert source["source"] == str(logs.resolve())
    types = {(e["container"], e["type"], e["sensitivity"]) for e in source["entries"]}
    assert ("app.log", "cn_resident_id", "sensitive") in types
    entry = next(e for e in source["entries"] if e["type"] == "cn_resident_id")
    assert entry["evidence"]["matched"] == 5
    assert ID not in out  # examples are masked
    assert [p["container"] for p in source["problems"]] == ["blob.bin"]
    assert doc["summary"]["problems"] == 1


def test_html_report_renders_and_escapes(tmp_path: Path, store: str) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    evil = "<img src=x onerror=alert(1)>.csv"
    (folder / evil).write_text("phone\n" + "\n".join([MOBILE] * 5) + "\n")
    report = tmp_path / "report.html"
    code, _ = run("scan", str(folder), "--db", store, "--html", str(report))
    assert code == 0
    html = report.read_text()
    assert "<img" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;.csv" in html
    assert "cn_mobile" in html
    assert MOBILE not in html
    assert html.startswith("<!doctype html>") and "</html>" in html


def test_rescan_shows_what_changed(logs: Path, store: str) -> None:
    assert run("scan", str(logs), "--db", store)[0] == 0
    (logs / "clean.log").write_text(f"user {MOBILE} logged in\n")
    assert run("scan", str(logs), "--db", store)[0] == 0
    code, out = run("inventory", "diff", str(logs), "--db", store, "--format", "json")
    assert code == 0
    changes = json.loads(out)
    assert [(c["kind"], c["entry"]["container"], c["entry"]["type"]) for c in changes] == [
        ("added", "clean.log", "cn_mobile")
    ]
    code, out = run("inventory", "show", "--source", str(logs), "--db", store, "--format", "json")
    assert code == 0
    shown = {(e["container"], e["type"]) for e in json.loads(out)}
    assert shown == {("app.log", "cn_resident_id"), ("clean.log", "cn_mobile")}
    code, out = run("inventory", "diff", str(logs), "--db", store)
    assert code == 0 and "added" in out
    assert run("inventory", "diff", "/never/scanned", "--db", store)[0] == 2


def test_unreachable_cluster_exits_2(logs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import leakwarden.scan.scanner as scanner

    monkeypatch.setattr(scanner, "CLUSTER_CONNECT_TIMEOUT", 1)
    code, _ = run("scan", str(logs), "--no-store", "--cluster", "tcp://127.0.0.1:1")
    assert code == 2


def test_local_cluster_from_the_command_line(logs: Path, store: str) -> None:
    code, out = run(
        "scan", str(logs), "--db", store, "--cluster", "local", "--workers", "1",
        "--format", "json",
    )  # fmt: skip
    assert code == 0
    [source] = json.loads(out)["sources"]
    assert {(e["container"], e["type"]) for e in source["entries"]} == {
        ("app.log", "cn_resident_id")
    }


def test_rescan_of_a_database_shows_a_new_id_column(tmp_path: Path, store: str) -> None:
    import sqlite3

    path = tmp_path / "app.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE access_log (id INTEGER PRIMARY KEY, path TEXT, status INTEGER)")
    con.executemany(
        "INSERT INTO access_log (path, status) VALUES (?, ?)",
        [(f"/orders/{i}", 200) for i in range(50)],
    )
    con.commit()
    url = f"sqlite:///{path}"
    assert run("scan", url, "--db", store)[0] == 0
    con.execute("ALTER TABLE access_log ADD COLUMN client_cert TEXT")
    con.execute("UPDATE access_log SET client_cert = ?", (ID,))
    con.commit()
    con.close()
    assert run("scan", url, "--db", store, "--fail-on", "sensitive")[0] == 1
    code, out = run("inventory", "diff", url, "--db", store, "--format", "json")
    assert code == 0
    changes = [(c["kind"], c["entry"]["container"], c["entry"]["field"], c["entry"]["type"])
               for c in json.loads(out)]  # fmt: skip
    assert changes == [("added", "access_log", "client_cert", "cn_resident_id")]
