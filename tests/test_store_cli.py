"""``leakwarden db upgrade`` / ``leakwarden db current`` on both backends."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from leakwarden.cli import app
from leakwarden.store import db

runner = CliRunner()


def test_db_upgrade_then_current(db_url: str) -> None:
    shown = db.redact_url(db.normalize_url(db_url))
    before = runner.invoke(app, ["db", "current", "--url", db_url])
    assert before.exit_code == 0, before.output
    assert f"{shown}: empty" in before.output

    first = runner.invoke(app, ["db", "upgrade", "--url", db_url])
    assert first.exit_code == 0, first.output
    assert f"{shown}: upgraded empty -> 0008 (head)" in first.output
    again = runner.invoke(app, ["db", "upgrade", "--url", db_url])
    assert "already at 0008 (head)" in again.output

    after = runner.invoke(app, ["db", "current", "--url", db_url])
    assert after.output.strip() == f"{shown}: 0008 (head)"
    assert db.current_revision(db_url) == "0008"
    password = make_url(db_url).password
    for result in (before, first, again, after):
        assert not password or str(password) not in result.output


def test_db_current_uses_the_environment_and_creates_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(db.ENV_URL, raising=False)
    result = runner.invoke(app, ["db", "current"])
    assert result.exit_code == 0, result.output
    assert f"sqlite:///{tmp_path}/leakwarden.db: empty" in result.output
    assert not (tmp_path / "leakwarden.db").exists()

    target = tmp_path / "elsewhere.db"
    monkeypatch.setenv(db.ENV_URL, f"sqlite:///{target}")
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    assert target.exists() and not (tmp_path / "leakwarden.db").exists()


def test_db_upgrade_unreachable_exits_2_without_password() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"postgresql://ops:Hunter2Secret@127.0.0.1:{port}/crm?connect_timeout=5"
    result = runner.invoke(app, ["db", "upgrade", "--url", url])
    assert result.exit_code == 2
    assert f"127.0.0.1:{port}" in result.output
    assert "Hunter2Secret" not in result.output
