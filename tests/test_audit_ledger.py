"""The ledger's append contract on both backends: indexes without gaps, durable receipts, the
cached subtree nodes agreeing with a tree recomputed from the rows, concurrent writers (threads
and processes), append-only triggers, and AuditWriteError when the store is gone."""

from __future__ import annotations

import hashlib
import multiprocessing
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from leakwarden.audit.events import AuditEvent
from leakwarden.audit.ledger import AuditWriteError, Ledger
from leakwarden.audit.merkle import root_of
from leakwarden.store import db


def _event(i: int, actor: str = "alice") -> AuditEvent:
    return AuditEvent(
        action="gateway.query",
        outcome="success",
        actor=actor,
        dataset="crm/customers",
        columns=["phone"],
        rows=i,
        customers=1,
        customer_ids=[f"c{i}"],
        timestamp=datetime(2026, 11, 23, 12, 0, tzinfo=UTC),
        event_id=f"ev{i}",
    )


def _sha_leaf(data: bytes) -> bytes:
    # RFC 9162 2.1.1 written out here, independently of leakwarden.audit.merkle
    return hashlib.sha256(b"\x00" + data).digest()


def test_append_returns_consecutive_indexes_and_rfc_leaf_hashes(db_url: str) -> None:
    with Ledger.open(db_url) as ledger:
        receipts = [ledger.append(_event(i)) for i in range(3)]
        assert [r.index for r in receipts] == [0, 1, 2]
        for i, r in enumerate(receipts):
            text, stored = ledger.leaf(i)
            assert stored == r.leaf_hash == _sha_leaf(text.encode())
            assert AuditEvent.from_ecs(__import__("json").loads(text)) == _event(i)
        assert ledger.size() == 3


def test_cached_nodes_agree_with_a_tree_recomputed_from_rows(db_url: str) -> None:
    with Ledger.open(db_url) as ledger:
        # batches that straddle the 256-leaf blocks, so nodes are completed from rows on disk
        sizes = [100, 200, 57, 300, 1, 255, 700]
        i = 0
        for n in sizes:
            ledger.append_many(_event(i + k) for k in range(n))
            i += n
        hashes = [h for chunk in ledger.iter_rows(events=False) for _, h in chunk]
        hashes = [bytes(h) for h in hashes]
        assert len(hashes) == i == ledger.size()
        for size in (1, 2, 255, 256, 257, 511, 512, 1000, 1024, i):
            assert ledger.root(size) == root_of(hashes[:size])
        with ledger.engine.connect() as conn:
            n8 = conn.execute(sa.text("SELECT count(*) FROM audit_nodes WHERE level = 8"))
            assert n8.scalar() == i // 256


def test_many_threads_share_transactions_without_gaps(db_url: str) -> None:
    import threading

    with Ledger.open(db_url) as ledger:
        got: list[int] = []
        lock = threading.Lock()

        def work(t: int) -> None:
            for k in range(40):
                r = ledger.append(_event(t * 1000 + k, actor=f"t{t}"))
                with lock:
                    got.append(r.index)

        threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert sorted(got) == list(range(320))
        hashes = [bytes(h) for chunk in ledger.iter_rows(events=False) for _, h in chunk]
        assert ledger.root() == root_of(hashes)


def _writer_process(url: str, worker: int, count: int) -> None:
    with Ledger.open(url, migrate=False) as ledger:
        for k in range(0, count, 10):
            ledger.append_many(_event(worker * 10_000 + k + j, f"p{worker}") for j in range(10))


def test_processes_append_concurrently_and_the_tree_stays_consistent(db_url: str) -> None:
    Ledger.open(db_url).close()  # migrate once
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer_process, args=(db_url, w, 300)) for w in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    with Ledger.open(db_url) as ledger:
        assert ledger.size() == 900
        rows = [r for chunk in ledger.iter_rows() for r in chunk]
        assert [r[0] for r in rows] == list(range(900))
        hashes = [bytes(r[2]) for r in rows]
        assert all(_sha_leaf(r[1].encode()) == h for r, h in zip(rows, hashes, strict=True))
        assert ledger.root() == root_of(hashes)
        with ledger.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM audit_nodes")).scalar() == 3


def test_update_and_delete_are_refused_by_the_database(db_url: str) -> None:
    with Ledger.open(db_url) as ledger:
        ledger.append(_event(0))
        for sql in (
            "UPDATE audit_log SET actor = 'mallory'",
            "DELETE FROM audit_log",
        ):
            with (
                pytest.raises(sa.exc.DBAPIError, match="append-only"),
                ledger.engine.begin() as conn,
            ):
                conn.execute(sa.text(sql))
        assert ledger.leaf(0)[0].count("alice") == 1


def test_write_failure_raises_audit_write_error(tmp_path: object) -> None:
    from pathlib import Path

    url = f"sqlite:///{Path(str(tmp_path)) / 'a.db'}"
    ledger = Ledger.open(url)
    with ledger.engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE audit_log"))
    with pytest.raises(AuditWriteError, match="not written"):
        ledger.append(_event(0))
    with pytest.raises(AuditWriteError):
        ledger.append_many([_event(1)])
    ledger.close()
    with pytest.raises(AuditWriteError, match="closed"):
        ledger.append(_event(2))


def test_event_refuses_naive_time_and_bad_ip() -> None:
    with pytest.raises(ValueError, match="time zone"):
        AuditEvent(action="a", outcome="success", actor="x", timestamp=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="source_ip"):
        AuditEvent(action="a", outcome="success", actor="x", source_ip="999.1.1.1")
    with pytest.raises(ValueError):
        AuditEvent(action="a", outcome="maybe", actor="x")  # type: ignore[arg-type]


_CRASH_WRITER = """
import sys
from leakwarden.audit.events import AuditEvent
from leakwarden.audit.ledger import Ledger
ledger = Ledger.open(sys.argv[1], migrate=False)
i = 0
while True:
    rs = ledger.append_many(
        AuditEvent(action="a", outcome="success", actor="x", event_id=f"k{i + j}")
        for j in range(50)
    )
    i += 50
    print(rs[-1].index, rs[-1].event_id, flush=True)
"""


_CRASH_APPENDER = """
import sys
from leakwarden.audit.events import AuditEvent
from leakwarden.audit.ledger import Ledger
ledger = Ledger.open(sys.argv[1], migrate=False)
i = 0
while True:
    r = ledger.append(AuditEvent(action="a", outcome="success", actor="x", event_id=f"k{i}"))
    i += 1
    print(r.index, r.event_id, flush=True)
"""


@pytest.mark.parametrize("writer", [_CRASH_WRITER, _CRASH_APPENDER], ids=["batches", "one by one"])
def test_killed_writer_loses_no_acknowledged_event(db_url: str, writer: str) -> None:
    import signal
    import subprocess
    import sys
    import time

    from leakwarden.audit.verify import verify_ledger

    Ledger.open(db_url).close()
    proc = subprocess.Popen(
        [sys.executable, "-c", writer, db_url], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    acked = []
    deadline = time.monotonic() + 60
    while len(acked) < 20 and time.monotonic() < deadline:
        acked.append(proc.stdout.readline().split())
    proc.send_signal(signal.SIGKILL)  # in the middle of whatever it was doing
    proc.wait()
    assert len(acked) == 20
    with Ledger.open(db_url) as ledger:
        for index, event_id in acked:
            text, _ = ledger.leaf(int(index))
            assert f'"id":"{event_id}"' in text
        report = verify_ledger(ledger)
        assert report.ok, report.problems
        assert report.rows >= int(acked[-1][0]) + 1


def test_environment_configures_checkpoint_publication(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pathlib import Path

    from leakwarden.audit.checkpoints import read_published
    from leakwarden.audit.note import generate_keys, load_verifier

    tmp = Path(str(tmp_path))
    generate_keys("env.test", tmp / "k.key", tmp / "k.pub")
    monkeypatch.setenv("LEAKWARDEN_AUDIT_KEY", str(tmp / "k.key"))
    monkeypatch.setenv("LEAKWARDEN_AUDIT_CHECKPOINTS", str(tmp / "cps"))
    monkeypatch.setenv("LEAKWARDEN_AUDIT_CHECKPOINT_EVERY", "5")
    with Ledger.open(f"sqlite:///{tmp / 'a.db'}") as ledger:
        for i in range(12):
            ledger.append(_event(i))
    found, problems = read_published(tmp / "cps")
    key = load_verifier(tmp / "k.pub")
    sizes = sorted({p.checkpoint.size for p in found})
    assert not problems and all(p.note.verified_by(key) for p in found)
    assert 5 in sizes and 10 in sizes and sizes[-1] == 12  # the last one on close
    monkeypatch.setenv("LEAKWARDEN_AUDIT_CHECKPOINT_EVERY", "many")
    with pytest.raises(AuditWriteError, match="LEAKWARDEN_AUDIT_CHECKPOINT_EVERY"):
        Ledger.open(f"sqlite:///{tmp / 'a.db'}")
    monkeypatch.setenv("LEAKWARDEN_AUDIT_KEY", str(tmp / "missing.key"))
    with pytest.raises(AuditWriteError, match="LEAKWARDEN_AUDIT_KEY"):
        Ledger.open(f"sqlite:///{tmp / 'a.db'}")


def test_in_memory_or_bad_url_is_refused() -> None:
    with pytest.raises(AuditWriteError, match="in-memory"):
        Ledger.open("sqlite://")
    with pytest.raises(AuditWriteError, match="in-memory"):
        Ledger.open("sqlite:///:memory:")
    with pytest.raises(AuditWriteError, match="URL"):
        Ledger.open("not a url")


def test_store_proofs_equal_proofs_over_the_rows(db_url: str) -> None:
    import random

    from leakwarden.audit.merkle import (
        consistency_proof,
        inclusion_proof,
        memory_subtree,
        verify_consistency,
        verify_inclusion,
    )

    with Ledger.open(db_url) as ledger:
        ledger.append_many(_event(i) for i in range(700))
        ledger.append_many(_event(i) for i in range(700, 1100))
        hashes = [bytes(h) for chunk in ledger.iter_rows(events=False) for _, h in chunk]
        mem = memory_subtree(hashes)
        rng = random.Random(5)
        for _ in range(40):
            n = rng.randrange(1, 1101)
            i = rng.randrange(n)
            m = rng.randrange(0, n + 1)
            proof = ledger.inclusion_proof(i, n)
            assert proof == inclusion_proof(i, n, mem)
            verify_inclusion(hashes[i], i, n, proof, root_of(hashes[:n]))
            cproof = ledger.consistency_proof(m, n)
            assert cproof == consistency_proof(m, n, mem)
            verify_consistency(m, n, root_of(hashes[:m]), root_of(hashes[:n]), cproof)


def test_proof_from_a_store_with_a_deleted_row_fails(tmp_path: object) -> None:
    from pathlib import Path

    from leakwarden.audit.ledger import LedgerError

    url = f"sqlite:///{Path(str(tmp_path)) / 'g.db'}"
    with Ledger.open(url) as ledger:
        ledger.append_many(_event(i) for i in range(20))
        with ledger.engine.begin() as conn:
            conn.exec_driver_sql("DROP TRIGGER audit_log_no_delete")
            conn.exec_driver_sql("DELETE FROM audit_log WHERE idx = 5")
        with pytest.raises(LedgerError, match="lacks hashes"):
            ledger.inclusion_proof(3, 20)


def test_a_lone_append_commits_in_the_callers_thread_and_later_ones_share_a_commit(
    tmp_path: object,
) -> None:
    """Group commit with a caller-led fast path: an append that finds nothing being written
    commits itself (no hand-off); appends arriving while that write is under way wait, and are
    then written together, in one transaction, by the committer thread."""
    import threading
    from pathlib import Path

    ledger = Ledger.open(f"sqlite:///{Path(str(tmp_path)) / 'a.db'}")
    commits: list[tuple[str, int]] = []
    gate = threading.Event()
    real = ledger._commit

    def commit(items: list) -> list:  # type: ignore[type-arg]
        commits.append((threading.current_thread().name, len(items)))
        if len(commits) == 2:
            gate.wait(30)  # hold the second (lone) write until the others have queued
        return real(items)

    ledger._commit = commit  # type: ignore[method-assign]
    assert ledger.append(_event(0)).index == 0
    assert commits == [(threading.current_thread().name, 1)]

    got: list[int] = []
    first = threading.Thread(
        target=lambda: got.append(ledger.append(_event(1)).index), name="lone-caller"
    )
    first.start()
    while len(commits) < 2:  # the lone writer is inside its commit
        threading.Event().wait(0.01)
    others = [
        threading.Thread(target=lambda k=k: got.append(ledger.append(_event(k)).index))
        for k in range(2, 6)
    ]
    for th in others:
        th.start()
    while True:
        with ledger._cv:
            if sum(len(w.items) for w in ledger._queue) == 4:
                break
        threading.Event().wait(0.01)
    gate.set()
    for th in [first, *others]:
        th.join(30)
    assert sorted(got) == [1, 2, 3, 4, 5]
    assert commits[1] == ("lone-caller", 1)
    assert commits[2:] == [("audit-ledger-committer", 4)]
    assert ledger.size() == 6
    ledger.close()


def test_small_batches_complete_cached_nodes_too(db_url: str) -> None:
    # batches of 7 go through PostgreSQL's pipelined INSERTs (large ones through COPY) and cross
    # the 256- and 512-leaf block ends
    with Ledger.open(db_url) as ledger:
        for start in range(0, 600, 7):
            ledger.append_many(_event(start + k) for k in range(7))
        hashes = [bytes(h) for chunk in ledger.iter_rows(events=False) for _, h in chunk]
        assert len(hashes) == 602 == ledger.size()
        for size in (255, 256, 257, 512, 513, 602):
            assert ledger.root(size) == root_of(hashes[:size])
        with ledger.engine.connect() as conn:
            n8 = conn.execute(sa.text("SELECT count(*) FROM audit_nodes WHERE level = 8"))
            assert n8.scalar() == 2


@pytest.mark.parametrize("batch", [1, 100])
def test_a_failed_write_raises_and_leaves_no_trace(db_url: str, batch: int) -> None:
    with Ledger.open(db_url) as ledger:
        ledger.append_many(_event(k) for k in range(5))
        root = ledger.root(5)
        with ledger.engine.begin() as conn:  # a stray row where the next leaf would go
            conn.execute(
                sa.text(
                    "INSERT INTO audit_log (idx, ts, actor, action, outcome, dataset, event, "
                    "leaf_hash) SELECT 5, ts, actor, action, outcome, dataset, event, leaf_hash "
                    "FROM audit_log WHERE idx = 4"
                )
            )
        with pytest.raises(AuditWriteError, match="not written"):
            ledger.append_many(_event(10 + k) for k in range(batch))
        assert ledger.size() == 5 and ledger.root(5) == root
        with ledger.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM audit_log")).scalar() == 6


def test_postgresql_append_takes_two_round_trips(pg_url: str, tmp_path: Path) -> None:
    # BEGIN + durable setting + head lock; leaves + size + COMMIT (answered once flushed)
    engine = db.make_engine(pg_url, pool_size=1, max_overflow=0)
    db.upgrade(engine)
    with Ledger(engine) as ledger:
        ledger.append(_event(0))
        raw = engine.raw_connection()
        pgconn = raw.dbapi_connection.pgconn  # type: ignore[union-attr]
        trace = tmp_path / "libpq.trace"
        with trace.open("w") as out:
            pgconn.trace(out.fileno())
            raw.close()
            try:
                ledger.append(_event(1))
            finally:
                pgconn.untrace()
        text = trace.read_text()
        sides = [line.split("\t")[1] for line in text.splitlines() if "\t" in line]
        runs = sum(1 for i, s in enumerate(sides) if s == "F" and (i == 0 or sides[i - 1] == "B"))
        assert runs == 2, text
        assert "synchronous_commit TO on" in text and '"COMMIT"' in text
        assert ledger.size() == 2
