"""``verify_ledger`` on logs tampered with through raw SQL, on SQLite and PostgreSQL: each attack
is found and the first bad entry named.  The append-only triggers are dropped first, as a
database superuser could."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from leakwarden.audit.checkpoints import Publisher
from leakwarden.audit.events import AuditEvent
from leakwarden.audit.ledger import Ledger
from leakwarden.audit.note import Signer, generate_keys, load_verifier
from leakwarden.audit.standalone import Checkpoint, VerifierKey
from leakwarden.audit.verify import Report, verify_ledger

N = 40  # events; checkpoints are published at 10, 20, 30 and 40


def _event(i: int) -> AuditEvent:
    return AuditEvent(
        action="gateway.query",
        outcome="success",
        actor="alice" if i % 2 == 0 else "bob",
        dataset="crm/customers",
        rows=i,
        timestamp=datetime(2026, 11, 23, 12, 0, i % 60, tzinfo=UTC),
        event_id=f"ev{i}",
    )


@pytest.fixture
def logged(db_url: str, tmp_path: Path) -> tuple[Ledger, Path, Signer, VerifierKey]:
    generate_keys("audit.test", tmp_path / "log.key", tmp_path / "log.pub")
    signer = Signer.load(tmp_path / "log.key")
    key = load_verifier(tmp_path / "log.pub")
    cps = tmp_path / "checkpoints"
    pub = Publisher(cps, signer, origin="test/audit", every_events=10, every_seconds=None)
    ledger = Ledger.open(db_url, publisher=pub)
    for start in range(0, N, 10):
        ledger.append_many(_event(i) for i in range(start, start + 10))
    return ledger, cps, signer, key


def _drop_triggers(ledger: Ledger) -> None:
    with ledger.engine.begin() as conn:
        for table in ("audit_log", "audit_nodes", "audit_checkpoints"):
            if ledger.dialect == "postgresql":
                conn.exec_driver_sql(f"DROP TRIGGER {table}_append_only ON {table}")
            else:
                conn.exec_driver_sql(f"DROP TRIGGER {table}_no_update")
                conn.exec_driver_sql(f"DROP TRIGGER {table}_no_delete")


def _sql(ledger: Ledger, *statements: str, **params: object) -> None:
    with ledger.engine.begin() as conn:
        for st in statements:
            conn.execute(sa.text(st), params)


def _verify(ledger: Ledger, cps: Path, key: VerifierKey) -> Report:
    return verify_ledger(ledger, [cps], [key])


def test_untouched_log_verifies(logged: tuple[Ledger, Path, Signer, VerifierKey]) -> None:
    ledger, cps, _, key = logged
    report = _verify(ledger, cps, key)
    assert report.ok, report.problems
    assert report.rows == N and report.checkpoints == 4 and report.checkpoints_matching == 4
    ledger.close()


def test_changed_field_is_pinpointed(logged: tuple[Ledger, Path, Signer, VerifierKey]) -> None:
    ledger, cps, _, key = logged
    _drop_triggers(ledger)
    _sql(
        ledger,
        'UPDATE audit_log SET event = replace(event, \'"id":"alice"\', \'"id":"mallory"\') '
        "WHERE idx = 16",
    )
    report = _verify(ledger, cps, key)
    first = report.first_bad
    assert first is not None and first.index == 16 and first.kind == "changed"
    assert "user.id" in first.message and "mallory" in first.message
    ledger.close()


def test_deleted_row_is_pinpointed(logged: tuple[Ledger, Path, Signer, VerifierKey]) -> None:
    ledger, cps, _, key = logged
    _drop_triggers(ledger)
    _sql(ledger, "DELETE FROM audit_log WHERE idx = 17")
    first = _verify(ledger, cps, key).first_bad
    assert first is not None and (first.index, first.kind) == (17, "deleted")
    ledger.close()


def test_deleted_row_with_renumbering_is_pinpointed(
    logged: tuple[Ledger, Path, Signer, VerifierKey],
) -> None:
    ledger, cps, _, key = logged
    _drop_triggers(ledger)
    _sql(ledger, "DELETE FROM audit_log WHERE idx = 17")
    for i in range(18, N):
        _sql(ledger, "UPDATE audit_log SET idx = :new WHERE idx = :old", new=i - 1, old=i)
    _sql(ledger, "UPDATE audit_head SET size = :n", n=N - 1)
    report = _verify(ledger, cps, key)
    first = report.first_bad
    assert first is not None and (first.index, first.kind) == (17, "deleted")
    assert any(p.kind == "truncated" for p in report.problems)  # checkpoint 40 > 39 rows
    ledger.close()


def test_reordered_rows_are_pinpointed(logged: tuple[Ledger, Path, Signer, VerifierKey]) -> None:
    ledger, cps, _, key = logged
    _drop_triggers(ledger)
    _sql(
        ledger,
        "UPDATE audit_log SET idx = -1 WHERE idx = 23",
        "UPDATE audit_log SET idx = 23 WHERE idx = 24",
        "UPDATE audit_log SET idx = 24 WHERE idx = -1",
    )
    first = _verify(ledger, cps, key).first_bad
    assert first is not None and (first.index, first.kind) == (23, "reordered")
    ledger.close()


def test_rewritten_entry_with_recomputed_hash_is_caught_by_a_checkpoint(
    logged: tuple[Ledger, Path, Signer, VerifierKey],
) -> None:
    ledger, cps, _, key = logged
    _drop_triggers(ledger)
    with ledger.engine.connect() as conn:
        text = conn.execute(sa.text("SELECT event FROM audit_log WHERE idx = 25")).scalar_one()
    forged = text.replace('"rows":25', '"rows":0')
    assert forged != text
    new_hash = hashlib.sha256(b"\x00" + forged.encode()).digest()  # RFC 9162 leaf, by hand
    _sql(
        ledger,
        "UPDATE audit_log SET event = :e, leaf_hash = :h WHERE idx = 25",
        e=forged,
        h=new_hash,
    )
    report = _verify(ledger, cps, key)
    first = report.first_bad
    assert first is not None and first.kind == "rewritten"
    assert (first.index, first.last) == (20, 29)  # between the checkpoints at 20 and 30
    assert not any(p.kind == "changed" for p in report.problems)
    ledger.close()


def test_truncated_log_is_caught(logged: tuple[Ledger, Path, Signer, VerifierKey]) -> None:
    ledger, cps, _, key = logged
    _drop_triggers(ledger)
    _sql(ledger, "DELETE FROM audit_log WHERE idx >= 35", "UPDATE audit_head SET size = 35")
    report = _verify(ledger, cps, key)
    first = report.first_bad
    assert first is not None and (first.kind, first.index, first.last) == ("truncated", 35, 39)
    ledger.close()


def test_fork_and_forged_checkpoint_are_reported(
    logged: tuple[Ledger, Path, Signer, VerifierKey],
) -> None:
    ledger, cps, signer, key = logged
    other = hashlib.sha256(b"another history").digest()
    forked = signer.sign(Checkpoint("test/audit", 20, other).body()).encode()
    (cps / "checkpoint.000000000020.fork").write_text(forked)
    good = sorted(cps.glob("checkpoint.000000000030.*"))[0].read_text()
    (cps / "checkpoint.000000000030.edited").write_text(good.replace("\n30\n", "\n31\n"))
    report = _verify(ledger, cps, key)
    kinds = {p.kind for p in report.problems}
    assert "fork" in kinds and "checkpoint" in kinds
    assert any("edited" in p.message and "not validly signed" in p.message for p in report.problems)
    ledger.close()


def test_checkpoint_signed_by_an_unknown_key_is_not_trusted(
    logged: tuple[Ledger, Path, Signer, VerifierKey], tmp_path: Path
) -> None:
    ledger, cps, _, _ = logged
    generate_keys("intruder", tmp_path / "x.key", tmp_path / "x.pub")
    report = verify_ledger(ledger, [cps], [load_verifier(tmp_path / "x.pub")])
    assert report.checkpoints == 0
    assert report.problems and all(p.kind == "checkpoint" for p in report.problems)
    ledger.close()


def test_tampered_cached_node_is_reported(db_url: str, tmp_path: Path) -> None:
    with Ledger.open(db_url) as ledger:
        ledger.append_many(_event(i) for i in range(300))
        assert verify_ledger(ledger).ok
        _drop_triggers(ledger)
        _sql(ledger, "UPDATE audit_nodes SET hash = :h WHERE level = 8", h=b"\x00" * 32)
        first = verify_ledger(ledger).first_bad
        assert first is not None and (first.kind, first.index, first.last) == ("node", 0, 255)


def test_parallel_scan_agrees(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from leakwarden.audit import verify as verify_mod

    monkeypatch.setattr(verify_mod, "CHUNK", 512)
    monkeypatch.setattr(verify_mod, "PARALLEL_FROM", 1000)
    generate_keys("audit.test", tmp_path / "log.key", tmp_path / "log.pub")
    signer, key = Signer.load(tmp_path / "log.key"), load_verifier(tmp_path / "log.pub")
    cps = tmp_path / "cps"
    pub = Publisher(cps, signer, origin="t", every_events=700, every_seconds=None)
    with Ledger.open(db_url, publisher=pub) as ledger:
        for start in range(0, 3000, 350):
            ledger.append_many(_event(i) for i in range(start, min(start + 350, 3000)))
    with Ledger.open(db_url) as ledger:
        report = verify_ledger(ledger, [cps], [key], workers=2)
        assert report.ok, report.problems
        assert report.rows == 3000 and report.checkpoints_matching == report.checkpoints >= 4
        _drop_triggers(ledger)
        _sql(ledger, "UPDATE audit_log SET event = replace(event, 'bob', 'eve') WHERE idx = 2101")
        first = verify_ledger(ledger, [cps], [key], workers=2).first_bad
        assert first is not None and (first.kind, first.index) == ("changed", 2101)
