"""The discovery inventory: record scan results, read the current state, compare runs.

``InventoryRepo`` is the only code that reads or writes the inventory tables.  It takes and hands
back the plain records of :mod:`leakwarden.store.records`.  It never adds personal values of its
own: evidence is stored as the scanner gave it (with masked examples).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from leakwarden.store.db import StoreError, redact_url
from leakwarden.store.models import (
    InventoryRow,
    Observation,
    ScannedContainer,
    ScanProblemRow,
    ScanRun,
)
from leakwarden.store.records import (
    InventoryChange,
    InventoryEntry,
    Location,
    ScanProblem,
    ScanResult,
    SourceKind,
)

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

# A confidence that moves by at least this much between two runs is reported as "changed";
# smaller moves are sampling noise.
CONFIDENCE_CHANGE = 0.05
# Two scans of one source recorded at the same moment may both try to insert the same new
# inventory row; the loser retries this many times (it then updates the winner's row).
_RECORD_ATTEMPTS = 3
_CHUNK = 500  # ids per "IN (...)" list

_Key = tuple[str, str, str]  # (container, field, pi_type)


class UnknownRun(StoreError, LookupError):
    """A run id or source the store has no scan run for."""


class RunOrderError(StoreError, ValueError):
    """A diff asked for from a newer run to an older one."""


@dataclass(frozen=True)
class RunSummary:
    """One recorded scan run."""

    id: int
    source: str
    source_kind: SourceKind
    started_at: datetime
    finished_at: datetime | None
    containers_scanned: int
    bytes_scanned: int
    rows_scanned: int
    status: str  # "complete", or "partial" when the run reported problems
    problems: int


class InventoryRepo:
    """Reads and writes the discovery inventory in the database behind ``engine`` (migrated to
    head with :func:`leakwarden.store.db.upgrade`)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- writing ---------------------------------------------------------------------------

    def record_scan(self, result: ScanResult) -> int:
        """Store one scan in one transaction and return its run id.

        Entries are upserted on (source, container, field, type): ``first_seen`` is kept,
        ``last_seen`` and the figures are updated and the entry is active again.  An active entry
        whose container this run read (``result.containers`` plus the containers of
        ``result.entries``) but where this run did not find it becomes inactive.  A container
        with a reported problem counts as not fully read: nothing in it is deactivated.
        """
        source = redact_url(result.source)
        _check_entries(source, result.entries)
        now = datetime.now(UTC)
        started = _aware(result.started_at, "started_at") or now
        finished = _aware(result.finished_at, "finished_at") or now
        for attempt in range(_RECORD_ATTEMPTS):
            try:
                return self._record(result, source, started, finished)
            except IntegrityError:
                if attempt == _RECORD_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _record(
        self, result: ScanResult, source: str, started: datetime, finished: datetime
    ) -> int:
        # Core statements with executemany: the ORM's unit of work costs ~10x more per entry.
        problem_containers = {p.location.container for p in result.problems}
        read = (set(result.containers) | {e.location.container for e in result.entries}) - (
            problem_containers
        )
        if result.entries:
            kind = SourceKind(result.entries[0].source_kind)
        else:
            kind = SourceKind.DATABASE if "://" in source else SourceKind.FILE
        with self.engine.begin() as conn:
            # The first statement writes, so that SQLite takes its write lock at once.
            pk = conn.execute(
                insert(ScanRun).values(
                    source=source,
                    source_kind=str(kind),
                    started_at=started,
                    finished_at=finished,
                    containers_scanned=result.containers_scanned,
                    bytes_scanned=result.bytes_scanned,
                    rows_scanned=result.rows_scanned,
                    status="partial" if result.problems else "complete",
                )
            ).inserted_primary_key
            if pk is None:  # pragma: no cover - every supported driver reports the new id
                raise StoreError("the database did not report the new scan run's id")
            run_id = int(pk[0])
            known = self._known(conn, source)
            new_rows: list[dict[str, object]] = []
            updates: list[dict[str, object]] = []
            for entry in result.entries:
                key = _key(entry)
                figures = {
                    "source_kind": str(entry.source_kind),
                    "sensitivity": str(entry.sensitivity),
                    "confidence": float(entry.confidence),
                    "evidence": dict(entry.evidence),
                    "rows_scanned": entry.rows_scanned,
                    "rows_total": entry.rows_total,
                    "last_seen": finished,
                    "last_run_id": run_id,
                    "active": True,
                }
                if key in known:
                    updates.append({"b_id": known[key][0], **figures})
                else:
                    new_rows.append(
                        {
                            "source": source,
                            "container": key[0],
                            "field": key[1],
                            "pi_type": key[2],
                            "first_seen": finished,
                            **figures,
                        }
                    )
            if new_rows:
                conn.execute(insert(InventoryRow), new_rows)
            if updates:
                conn.execute(
                    update(InventoryRow).where(InventoryRow.id == bindparam("b_id")), updates
                )
            ids = self._known(conn, source) if new_rows else known
            seen_keys = {_key(e) for e in result.entries}
            if result.entries:
                conn.execute(
                    insert(Observation),
                    [
                        {
                            "run_id": run_id,
                            "inventory_id": ids[_key(e)][0],
                            "sensitivity": str(e.sensitivity),
                            "confidence": float(e.confidence),
                            "evidence": dict(e.evidence),
                            "rows_scanned": e.rows_scanned,
                            "rows_total": e.rows_total,
                        }
                        for e in result.entries
                    ],
                )
            gone = [
                row_id
                for key, (row_id, active) in known.items()
                if active and key not in seen_keys and key[0] in read
            ]
            for i in range(0, len(gone), _CHUNK):
                conn.execute(
                    update(InventoryRow)
                    .where(InventoryRow.id.in_(gone[i : i + _CHUNK]))
                    .values(active=False)
                )
            # Only containers that hold or held inventory rows matter to a later diff.
            reread = sorted(read & {key[0] for key in ids})
            if reread:
                conn.execute(
                    insert(ScannedContainer), [{"run_id": run_id, "container": c} for c in reread]
                )
            if result.problems:
                conn.execute(
                    insert(ScanProblemRow),
                    [
                        {
                            "run_id": run_id,
                            "source": redact_url(p.location.source),
                            "container": p.location.container,
                            "field": p.location.field,
                            "problem": p.problem,
                            "position": p.position,
                        }
                        for p in result.problems
                    ],
                )
            return run_id

    @staticmethod
    def _known(conn: Connection, source: str) -> dict[_Key, tuple[int, bool]]:
        """(id, active) of every inventory row of ``source``, by (container, field, type)."""
        stmt = select(
            InventoryRow.id,
            InventoryRow.container,
            InventoryRow.field,
            InventoryRow.pi_type,
            InventoryRow.active,
        ).where(InventoryRow.source == source)
        return {(c, f, t): (i, bool(a)) for i, c, f, t, a in conn.execute(stmt)}

    # -- reading ---------------------------------------------------------------------------

    def latest(self, source: str | None = None) -> list[InventoryEntry]:
        """The active inventory (of one source, or of all), ordered by location and type."""
        stmt = select(*_ROW_COLUMNS, *_FIGURES_OF_ROW).where(InventoryRow.active.is_(True))
        if source is not None:
            stmt = stmt.where(InventoryRow.source == redact_url(source))
        stmt = stmt.order_by(
            InventoryRow.source, InventoryRow.container, InventoryRow.field, InventoryRow.pi_type
        )
        with self.engine.connect() as conn:
            return [_entry(*r) for r in conn.execute(stmt)]

    def runs(self, source: str | None = None) -> list[RunSummary]:
        """Recorded runs (of one source, or of all), oldest first."""
        problems = (
            select(ScanProblemRow.run_id, func.count().label("n"))
            .group_by(ScanProblemRow.run_id)
            .subquery()
        )
        stmt = select(ScanRun, func.coalesce(problems.c.n, 0)).outerjoin(
            problems, problems.c.run_id == ScanRun.id
        )
        if source is not None:
            stmt = stmt.where(ScanRun.source == redact_url(source))
        with Session(self.engine) as session:
            return [
                RunSummary(
                    id=run.id,
                    source=run.source,
                    source_kind=SourceKind(run.source_kind),
                    started_at=run.started_at,
                    finished_at=run.finished_at,
                    containers_scanned=run.containers_scanned,
                    bytes_scanned=run.bytes_scanned,
                    rows_scanned=run.rows_scanned,
                    status=run.status,
                    problems=int(n),
                )
                for run, n in session.execute(stmt.order_by(ScanRun.id))
            ]

    def problems(self, run_id: int) -> list[ScanProblem]:
        """What run ``run_id`` could not read, in the order the scan reported it."""
        with Session(self.engine) as session:
            if session.get(ScanRun, run_id) is None:
                raise UnknownRun(f"no scan run with id {run_id}")
            rows = session.scalars(
                select(ScanProblemRow)
                .where(ScanProblemRow.run_id == run_id)
                .order_by(ScanProblemRow.id)
            )
            return [
                ScanProblem(
                    location=Location(p.source, p.container, p.field),
                    problem=p.problem,
                    position=p.position,
                )
                for p in rows
            ]

    def diff(
        self, source: str, old_run: int | None = None, new_run: int | None = None
    ) -> list[InventoryChange]:
        """What changed in ``source`` from ``old_run`` to ``new_run``.

        Default: the last two runs of the source (with one run only, everything it found is
        ``added``); ``old_run`` must be older than ``new_run``.  ``added``: seen in the new run,
        not in the old.  ``removed``: seen in the old run, not in the new although the new run
        read its container.  ``changed``: seen in both with another sensitivity or a confidence
        moved by at least ``CONFIDENCE_CHANGE``.
        """
        source = redact_url(source)
        with Session(self.engine) as session:
            ids = list(
                session.scalars(
                    select(ScanRun.id).where(ScanRun.source == source).order_by(ScanRun.id)
                )
            )
            if not ids:
                raise UnknownRun(f"no scan runs recorded for source {source}")
            new_id = ids[-1] if new_run is None else new_run
            if new_id not in ids:
                raise UnknownRun(f"run {new_id} is not a scan of {source}")
            if old_run is None:
                earlier = [i for i in ids if i < new_id]
                old_id = earlier[-1] if earlier else None
            else:
                if old_run not in ids:
                    raise UnknownRun(f"run {old_run} is not a scan of {source}")
                if old_run >= new_id:
                    raise RunOrderError(
                        f"diff runs oldest first: run {old_run} is not before run {new_id}"
                    )
                old_id = old_run
            new_seen = self._observed(session, new_id)
            old_seen = self._observed(session, old_id) if old_id is not None else {}
            reread = set(
                session.scalars(
                    select(ScannedContainer.container).where(ScannedContainer.run_id == new_id)
                )
            )
        changes: list[InventoryChange] = []
        for key, entry in new_seen.items():
            before = old_seen.get(key)
            if before is None:
                changes.append(InventoryChange("added", entry))
            elif entry.sensitivity != before.sensitivity or (
                abs(entry.confidence - before.confidence) >= CONFIDENCE_CHANGE
            ):
                changes.append(InventoryChange("changed", entry, previous=before))
        for key, entry in old_seen.items():
            if key not in new_seen and key[0] in reread:
                changes.append(InventoryChange("removed", entry))
        changes.sort(key=lambda c: (*_key(c.entry), c.kind))
        return changes

    @staticmethod
    def _observed(session: Session, run_id: int) -> dict[_Key, InventoryEntry]:
        stmt = (
            select(*_ROW_COLUMNS, *_FIGURES_OF_OBSERVATION)
            .join(Observation, Observation.inventory_id == InventoryRow.id)
            .where(Observation.run_id == run_id)
        )
        out: dict[_Key, InventoryEntry] = {}
        for r in session.execute(stmt):
            entry = _entry(*r)
            out[_key(entry)] = entry
        return out


def _key(entry: InventoryEntry) -> _Key:
    return (entry.location.container, entry.location.field, entry.pi_type)


# What an InventoryEntry is built from: the row's identity and dates, then one set of figures
# (the row's current ones, or those one run observed).
_ROW_COLUMNS = (
    InventoryRow.source,
    InventoryRow.container,
    InventoryRow.field,
    InventoryRow.pi_type,
    InventoryRow.source_kind,
    InventoryRow.first_seen,
    InventoryRow.last_seen,
)
_FIGURES_OF_ROW = (
    InventoryRow.sensitivity,
    InventoryRow.confidence,
    InventoryRow.evidence,
    InventoryRow.rows_scanned,
    InventoryRow.rows_total,
)
_FIGURES_OF_OBSERVATION = (
    Observation.sensitivity,
    Observation.confidence,
    Observation.evidence,
    Observation.rows_scanned,
    Observation.rows_total,
)


def _entry(
    source: str,
    container: str,
    field: str,
    pi_type: str,
    source_kind: str,
    first_seen: datetime,
    last_seen: datetime,
    sensitivity: str,
    confidence: float,
    evidence: dict[str, object],
    rows_scanned: int,
    rows_total: int | None,
) -> InventoryEntry:
    return InventoryEntry(
        location=Location(source, container, field),
        pi_type=pi_type,
        sensitivity=sensitivity,
        confidence=confidence,
        evidence=dict(evidence),
        rows_scanned=rows_scanned,
        rows_total=rows_total,
        source_kind=SourceKind(source_kind),
        first_seen=first_seen,
        last_seen=last_seen,
    )


def _aware(value: datetime | None, name: str) -> datetime | None:
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise ValueError(f"ScanResult.{name} is a naive datetime; give it a time zone (UTC)")
    return value


def _check_entries(source: str, entries: Iterable[InventoryEntry]) -> None:
    """Refuse, before writing anything, entries that belong elsewhere, repeat a (location,
    type) or carry evidence that is not JSON."""
    seen: set[_Key] = set()
    for n, entry in enumerate(entries):
        where = f"entry {n} ({entry.location.container}/{entry.location.field}, {entry.pi_type})"
        if redact_url(entry.location.source) != source:
            raise ValueError(
                f"{where}: source {redact_url(entry.location.source)!r} is not the scan's "
                f"source {source!r}"
            )
        key = _key(entry)
        if key in seen:
            raise ValueError(f"{where}: the same location and type appears twice in one scan")
        seen.add(key)
        if not 0.0 <= entry.confidence <= 1.0:
            raise ValueError(f"{where}: confidence {entry.confidence} is outside 0..1")
        try:
            json.dumps(entry.evidence, ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{where}: evidence is not plain JSON: {exc}") from None
