"""Plain records that cross the boundary between the store and the packages that use it.

The discovery inventory: which source, table/file and column/field holds which type of personal
information, with the evidence for it.  ``scan`` builds these; ``store`` persists and diffs them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class SourceKind(StrEnum):
    FILE = "file"
    DATABASE = "database"


@dataclass(frozen=True)
class Location:
    """Where a finding lives: ``source`` is a directory path or a database URL (password
    removed), ``container`` a table (``schema.table``) or a file path relative to the source,
    ``field`` a column or JSON field path; ``field`` is ``""`` for free text (a log file)."""

    source: str
    container: str
    field: str = ""


@dataclass(frozen=True)
class InventoryEntry:
    """One (location, type) pair the scan decided on."""

    location: Location
    pi_type: str
    sensitivity: str
    confidence: float
    # Evidence: {"sampled": n, "matched": n, "validated": n, "header_hint": "手机号", "examples":
    # ["138****5678"]}.  Examples are always masked: the inventory never stores clear values.
    evidence: dict[str, object] = field(default_factory=dict)
    rows_scanned: int = 0
    rows_total: int | None = None
    source_kind: SourceKind = SourceKind.FILE
    first_seen: datetime | None = None
    last_seen: datetime | None = None


@dataclass(frozen=True)
class ScanProblem:
    """Something the scan could not read, and why: reported, never silently skipped."""

    location: Location
    problem: str
    position: str = ""  # "line 1234", "byte 40960", "row 17"


@dataclass
class ScanResult:
    source: str
    entries: list[InventoryEntry] = field(default_factory=list)
    problems: list[ScanProblem] = field(default_factory=list)
    containers_scanned: int = 0
    bytes_scanned: int = 0
    rows_scanned: int = 0
    # Containers (tables, files) this run read, with or without findings.  The store marks an
    # entry it knew in one of these, and did not see again, as no longer active.  Empty: only
    # the containers named by ``entries`` count as read.
    containers: list[str] = field(default_factory=list)
    # When the scan ran (timezone-aware); the store uses "now" when these are None.
    started_at: datetime | None = None
    finished_at: datetime | None = None


@dataclass(frozen=True)
class InventoryChange:
    """What a rescan changed: ``kind`` is ``added`` (new location/type), ``removed`` (no longer
    seen in a container that was scanned again) or ``changed`` (confidence or sensitivity)."""

    kind: str
    entry: InventoryEntry
    previous: InventoryEntry | None = None
