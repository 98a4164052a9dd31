"""InventoryRepo on SQLite and PostgreSQL: record scans, read the inventory, diff runs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from leakwarden.store import db
from leakwarden.store.inventory import InventoryRepo, RunOrderError, UnknownRun
from leakwarden.store.models import ScanRun
from leakwarden.store.records import (
    InventoryEntry,
    Location,
    ScanProblem,
    ScanResult,
    SourceKind,
)

SOURCE = "postgresql://crm_reader@10.1.2.3:5432/crm"
T1 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
T2 = datetime(2026, 3, 8, 8, 0, tzinfo=UTC)
T3 = datetime(2026, 3, 15, 8, 0, tzinfo=UTC)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    db.upgrade(db_url)
    eng = db.make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def repo(engine: Engine) -> InventoryRepo:
    return InventoryRepo(engine)


def entry(
    container: str,
    field: str,
    pi_type: str,
    *,
    sensitivity: str = "sensitive",
    confidence: float = 0.97,
    examples: tuple[str, ...] = (),
    rows_scanned: int = 1000,
    rows_total: int | None = 250_000,
) -> InventoryEntry:
    return InventoryEntry(
        location=Location(SOURCE, container, field),
        pi_type=pi_type,
        sensitivity=sensitivity,
        confidence=confidence,
        evidence={"sampled": 1000, "matched": 990, "validated": 985, "examples": list(examples)},
        rows_scanned=rows_scanned,
        rows_total=rows_total,
        source_kind=SourceKind.DATABASE,
    )


MOBILE = entry("public.customers", "mobile", "cn_mobile", sensitivity="personal",
               examples=("138****5678",))  # fmt: skip
RESIDENT_ID = entry("public.customers", "id_no", "cn_resident_id", examples=("110105********002X",))
CARD = entry("public.payments", "card_no", "bank_card", examples=("6222 **** **** 0001",))
LOG_ID = entry("ops.app_log", "message", "cn_resident_id", confidence=0.81)


def scan(
    *entries: InventoryEntry,
    at: datetime,
    containers: tuple[str, ...] = (),
    problems: tuple[ScanProblem, ...] = (),
) -> ScanResult:
    return ScanResult(
        source=SOURCE,
        entries=list(entries),
        problems=list(problems),
        containers_scanned=len(containers),
        bytes_scanned=0,
        rows_scanned=sum(e.rows_scanned for e in entries),
        containers=list(containers),
        started_at=at - timedelta(minutes=5),
        finished_at=at,
    )


ALL_TABLES = ("public.customers", "public.payments", "ops.app_log")


def keys(entries: list[InventoryEntry]) -> list[tuple[str, str, str]]:
    return [(e.location.container, e.location.field, e.pi_type) for e in entries]


def test_record_scan_and_latest(repo: InventoryRepo) -> None:
    run_id = repo.record_scan(scan(MOBILE, RESIDENT_ID, CARD, at=T1, containers=ALL_TABLES))
    assert run_id >= 1

    latest = repo.latest(SOURCE)
    # ordered by container, field, type
    assert keys(latest) == [
        ("public.customers", "id_no", "cn_resident_id"),
        ("public.customers", "mobile", "cn_mobile"),
        ("public.payments", "card_no", "bank_card"),
    ]
    mobile = latest[1]
    assert mobile.location == Location(SOURCE, "public.customers", "mobile")
    assert mobile.sensitivity == "personal"
    assert mobile.confidence == pytest.approx(0.97)
    assert mobile.evidence == {
        "sampled": 1000,
        "matched": 990,
        "validated": 985,
        "examples": ["138****5678"],
    }
    assert (mobile.rows_scanned, mobile.rows_total) == (1000, 250_000)
    assert mobile.source_kind is SourceKind.DATABASE
    assert mobile.first_seen == mobile.last_seen == T1
    assert mobile.first_seen is not None and mobile.first_seen.tzinfo is not None
    assert mobile.first_seen.utcoffset() == timedelta(0)

    (run,) = repo.runs(SOURCE)
    assert (run.id, run.status, run.problems) == (run_id, "complete", 0)
    assert (run.started_at, run.finished_at) == (T1 - timedelta(minutes=5), T1)
    assert (run.containers_scanned, run.rows_scanned) == (3, 3000)
    assert run.source_kind is SourceKind.DATABASE
    assert repo.latest("/some/other/source") == []
    assert keys(repo.latest()) == keys(latest)


def test_rescan_with_a_new_id_number_column_shows_added(repo: InventoryRepo) -> None:
    repo.record_scan(scan(MOBILE, RESIDENT_ID, CARD, at=T1, containers=ALL_TABLES))
    # A week later someone started logging ID numbers into ops.app_log.
    repo.record_scan(scan(MOBILE, RESIDENT_ID, CARD, LOG_ID, at=T2, containers=ALL_TABLES))

    changes = repo.diff(SOURCE)
    assert [(c.kind, *keys([c.entry])[0]) for c in changes] == [
        ("added", "ops.app_log", "message", "cn_resident_id")
    ]
    assert changes[0].previous is None
    assert changes[0].entry.confidence == pytest.approx(0.81)
    assert changes[0].entry.first_seen == T2


def test_removed_column_shows_removed_and_leaves_latest(repo: InventoryRepo) -> None:
    repo.record_scan(scan(MOBILE, RESIDENT_ID, CARD, at=T1, containers=ALL_TABLES))
    # The id_no column was dropped from public.customers; public.payments was not scanned.
    repo.record_scan(scan(MOBILE, at=T2, containers=("public.customers",)))

    changes = repo.diff(SOURCE)
    assert [(c.kind, *keys([c.entry])[0]) for c in changes] == [
        ("removed", "public.customers", "id_no", "cn_resident_id")
    ]
    assert keys(repo.latest(SOURCE)) == [
        ("public.customers", "mobile", "cn_mobile"),
        # not re-read, so still believed to be there
        ("public.payments", "card_no", "bank_card"),
    ]


def test_container_read_without_findings_deactivates_its_entries(repo: InventoryRepo) -> None:
    repo.record_scan(scan(MOBILE, CARD, at=T1, containers=ALL_TABLES))
    # public.payments was read in full and holds no card numbers any more (no entries at all).
    repo.record_scan(scan(MOBILE, at=T2, containers=ALL_TABLES))
    assert keys(repo.latest(SOURCE)) == [("public.customers", "mobile", "cn_mobile")]
    assert [c.kind for c in repo.diff(SOURCE)] == ["removed"]


def test_first_seen_is_kept_across_runs(repo: InventoryRepo) -> None:
    repo.record_scan(scan(MOBILE, at=T1, containers=ALL_TABLES))
    repo.record_scan(scan(MOBILE, at=T2, containers=ALL_TABLES))
    repo.record_scan(scan(MOBILE, at=T3, containers=ALL_TABLES))
    (mobile,) = repo.latest(SOURCE)
    assert mobile.first_seen == T1
    assert mobile.last_seen == T3
    assert [r.finished_at for r in repo.runs(SOURCE)] == [T1, T2, T3]


def test_entry_seen_again_is_active_again_and_keeps_first_seen(repo: InventoryRepo) -> None:
    repo.record_scan(scan(MOBILE, RESIDENT_ID, at=T1, containers=ALL_TABLES))
    repo.record_scan(scan(MOBILE, at=T2, containers=ALL_TABLES))
    repo.record_scan(scan(MOBILE, RESIDENT_ID, at=T3, containers=ALL_TABLES))
    ids = [e for e in repo.latest(SOURCE) if e.pi_type == "cn_resident_id"]
    assert len(ids) == 1
    assert (ids[0].first_seen, ids[0].last_seen) == (T1, T3)
    assert [c.kind for c in repo.diff(SOURCE)] == ["added"]


def test_changed_confidence_and_sensitivity(repo: InventoryRepo) -> None:
    repo.record_scan(scan(MOBILE, RESIDENT_ID, CARD, at=T1, containers=ALL_TABLES))
    weaker_id = entry("public.customers", "id_no", "cn_resident_id", confidence=0.60)
    nudged_card = entry("public.payments", "card_no", "bank_card", confidence=0.99)  # +0.02
    reclassed_mobile = entry("public.customers", "mobile", "cn_mobile", sensitivity="sensitive")
    repo.record_scan(scan(reclassed_mobile, weaker_id, nudged_card, at=T2, containers=ALL_TABLES))

    changes = repo.diff(SOURCE)
    assert [(c.kind, c.entry.location.field) for c in changes] == [
        ("changed", "id_no"),
        ("changed", "mobile"),
    ]
    id_change = changes[0]
    assert id_change.previous is not None
    assert id_change.previous.confidence == pytest.approx(0.97)
    assert id_change.entry.confidence == pytest.approx(0.60)
    assert changes[1].previous is not None
    assert (changes[1].previous.sensitivity, changes[1].entry.sensitivity) == (
        "personal",
        "sensitive",
    )


def test_diff_between_chosen_runs(repo: InventoryRepo) -> None:
    r1 = repo.record_scan(scan(MOBILE, at=T1, containers=ALL_TABLES))
    r2 = repo.record_scan(scan(MOBILE, CARD, at=T2, containers=ALL_TABLES))
    r3 = repo.record_scan(scan(MOBILE, CARD, LOG_ID, at=T3, containers=ALL_TABLES))

    def summary(old: int | None, new: int | None) -> list[tuple[str, str]]:
        return [(c.kind, c.entry.pi_type) for c in repo.diff(SOURCE, old, new)]

    assert summary(r1, r3) == [("added", "cn_resident_id"), ("added", "bank_card")]
    assert summary(r1, r2) == [("added", "bank_card")]
    assert summary(None, r2) == [("added", "bank_card")]  # the run before r2 is r1
    assert summary(r2, None) == [("added", "cn_resident_id")]  # up to the newest, r3
    with pytest.raises(RunOrderError, match=f"oldest first: run {r3} is not before run {r1}"):
        repo.diff(SOURCE, r3, r1)
    # The very first run: everything it found is new.
    assert summary(None, r1) == [("added", "cn_mobile")]


def test_diff_and_problems_refuse_unknown_runs(repo: InventoryRepo) -> None:
    with pytest.raises(UnknownRun, match="no scan runs"):
        repo.diff(SOURCE)
    run_id = repo.record_scan(scan(MOBILE, at=T1, containers=ALL_TABLES))
    other = ScanResult(source="/srv/exports", containers=["a.csv"], finished_at=T2)
    other_id = repo.record_scan(other)
    with pytest.raises(UnknownRun, match=f"run {other_id} is not a scan of"):
        repo.diff(SOURCE, other_id, run_id)
    with pytest.raises(UnknownRun, match="no scan run with id 999"):
        repo.problems(999)


def test_problems_are_stored_and_their_containers_not_deactivated(repo: InventoryRepo) -> None:
    repo.record_scan(scan(MOBILE, RESIDENT_ID, CARD, at=T1, containers=ALL_TABLES))
    problems = (
        ScanProblem(
            Location(SOURCE, "public.payments"), "permission denied for table payments", "row 0"
        ),
        ScanProblem(Location(SOURCE, "ops.app_log", "message"), "invalid UTF-8", "row 17"),
    )
    run_id = repo.record_scan(scan(MOBILE, RESIDENT_ID, at=T2, containers=ALL_TABLES,
                                   problems=problems))  # fmt: skip

    assert repo.problems(run_id) == list(problems)
    run = repo.runs(SOURCE)[-1]
    assert (run.id, run.status, run.problems) == (run_id, "partial", 2)
    # public.payments could not be read: its card column is still believed to be there.
    assert ("public.payments", "card_no", "bank_card") in keys(repo.latest(SOURCE))
    assert repo.diff(SOURCE) == []


def test_record_scan_refuses_bad_input_before_writing(repo: InventoryRepo, engine: Engine) -> None:
    foreign = InventoryEntry(Location("/elsewhere", "a.csv", "phone"), "cn_mobile", "personal", 0.9)
    with pytest.raises(ValueError, match=r"entry 1 .*source '/elsewhere' is not the scan's"):
        repo.record_scan(scan(MOBILE, foreign, at=T1))
    with pytest.raises(ValueError, match="appears twice"):
        repo.record_scan(scan(MOBILE, MOBILE, at=T1))
    bad_evidence = InventoryEntry(
        Location(SOURCE, "t", "c"), "email", "personal", 0.9, evidence={"seen": {1, 2}}
    )
    with pytest.raises(ValueError, match="evidence is not plain JSON"):
        repo.record_scan(scan(bad_evidence, at=T1))
    with pytest.raises(ValueError, match="naive datetime"):
        repo.record_scan(ScanResult(source=SOURCE, started_at=datetime(2026, 3, 1, 8, 0)))
    with engine.connect() as conn:
        assert conn.execute(select(ScanRun.id)).first() is None


def test_times_are_stored_as_utc(repo: InventoryRepo) -> None:
    beijing = timezone(timedelta(hours=8))
    local = datetime(2026, 3, 1, 16, 0, tzinfo=beijing)  # 08:00 UTC
    repo.record_scan(scan(MOBILE, at=local, containers=ALL_TABLES))
    (mobile,) = repo.latest(SOURCE)
    assert mobile.first_seen == T1
    assert mobile.first_seen is not None and mobile.first_seen.utcoffset() == timedelta(0)
    assert mobile.first_seen.hour == 8


def test_source_password_never_stored(repo: InventoryRepo, engine: Engine) -> None:
    secret_source = "postgresql://crm_reader:hunter2@10.1.2.3:5432/crm"
    result = ScanResult(
        source=secret_source,
        entries=[
            InventoryEntry(Location(secret_source, "public.t", "c"), "email", "personal", 0.9)
        ],
        problems=[ScanProblem(Location(secret_source, "public.u"), "timeout")],
    )
    run_id = repo.record_scan(result)
    assert [r.source for r in repo.runs()] == [SOURCE]
    assert repo.latest()[0].location.source == SOURCE
    assert repo.problems(run_id)[0].location.source == SOURCE
    # and the redacted and the secret URL name the same inventory
    assert len(repo.latest(secret_source)) == 1


def test_concurrent_scans_of_one_source_all_land(db_url: str, engine: Engine) -> None:
    """Four scans recorded at once, each inserting the same new rows: none is lost or fails."""
    import threading

    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def record(i: int) -> None:
        local = db.make_engine(db_url)  # one engine (pool) per writer, as separate processes have
        try:
            start.wait()
            InventoryRepo(local).record_scan(
                scan(MOBILE, RESIDENT_ID, CARD, at=T1 + timedelta(hours=i), containers=ALL_TABLES)
            )
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            local.dispose()

    threads = [threading.Thread(target=record, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    repo = InventoryRepo(engine)
    assert len(repo.runs(SOURCE)) == 4
    latest = repo.latest(SOURCE)
    assert len(latest) == 3
    assert all(e.first_seen is not None and e.first_seen >= T1 for e in latest)


def test_many_entries_recorded_and_deactivated_in_chunks(repo: InventoryRepo) -> None:
    """1,200 columns (more than one IN-list chunk) appear, then a full rescan finds none."""
    tables = tuple(f"crm.t{i:03d}" for i in range(120))
    many = [entry(t, f"c{j}", "email", sensitivity="personal") for t in tables for j in range(10)]
    repo.record_scan(scan(*many, at=T1, containers=tables))
    assert len(repo.latest(SOURCE)) == 1200
    repo.record_scan(scan(at=T2, containers=tables))
    assert repo.latest(SOURCE) == []
    changes = repo.diff(SOURCE)
    assert len(changes) == 1200 and {c.kind for c in changes} == {"removed"}
