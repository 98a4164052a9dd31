"""SQLAlchemy 2 table models of the store (the discovery inventory so far).

Portable on purpose: the same models run on SQLite and PostgreSQL, with JSON for evidence and a
UTC datetime type that always hands back timezone-aware values.  Changes here need a migration in
``leakwarden/store/migrations/versions``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

# Stable constraint names, so that migrations can refer to them on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A point in time, stored as UTC and always returned timezone-aware (UTC).

    SQLite keeps no zone; PostgreSQL's ``timestamptz`` returns the session's zone.  Both come back
    as UTC here.  A naive datetime is refused: its zone would be a guess.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} refused: give it a time zone")
        utc = value.astimezone(UTC)
        # SQLite stores the text it is given; keep it zone-free and uniformly UTC so that
        # comparisons and ordering are right.
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
    }


class ScanRun(Base):
    """One scan of one source."""

    __tablename__ = "scan_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(Text, index=True)
    source_kind: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    containers_scanned: Mapped[int] = mapped_column(Integer, default=0)
    bytes_scanned: Mapped[int] = mapped_column(BigInteger, default=0)
    rows_scanned: Mapped[int] = mapped_column(BigInteger, default=0)
    # "complete": nothing was skipped; "partial": some containers had problems (see scan_problems)
    status: Mapped[str] = mapped_column(String(16))


class InventoryRow(Base):
    """The current state of one (source, container, field, type): where personal information
    lives.  ``active`` is cleared when a later scan read the container and no longer found it."""

    __tablename__ = "inventory"
    __table_args__ = (
        UniqueConstraint("source", "container", "field", "pi_type"),
        Index("ix_inventory_source_active", "source", "active"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(Text)
    source_kind: Mapped[str] = mapped_column(String(16))
    container: Mapped[str] = mapped_column(Text)
    field: Mapped[str] = mapped_column(Text)
    pi_type: Mapped[str] = mapped_column(String(64))
    sensitivity: Mapped[str] = mapped_column(String(32))
    confidence: Mapped[float] = mapped_column(Float)
    evidence: Mapped[dict[str, Any]]
    rows_scanned: Mapped[int] = mapped_column(BigInteger, default=0)
    rows_total: Mapped[int | None] = mapped_column(BigInteger)
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]
    last_run_id: Mapped[int] = mapped_column(ForeignKey("scan_runs.id"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Observation(Base):
    """What one run saw of one inventory row (its confidence and evidence at that time), so that
    any two runs can be compared, not just the latest state."""

    __tablename__ = "inventory_observations"

    run_id: Mapped[int] = mapped_column(
        ForeignKey("scan_runs.id", ondelete="CASCADE"), primary_key=True
    )
    inventory_id: Mapped[int] = mapped_column(
        ForeignKey("inventory.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    sensitivity: Mapped[str] = mapped_column(String(32))
    confidence: Mapped[float] = mapped_column(Float)
    evidence: Mapped[dict[str, Any]]
    rows_scanned: Mapped[int] = mapped_column(BigInteger, default=0)
    rows_total: Mapped[int | None] = mapped_column(BigInteger)


class ScannedContainer(Base):
    """A container (table, file) a run read fully and that holds, or once held, inventory rows.
    A row seen before but missing from such a container counts as removed in that run."""

    __tablename__ = "scan_containers"

    run_id: Mapped[int] = mapped_column(
        ForeignKey("scan_runs.id", ondelete="CASCADE"), primary_key=True
    )
    container: Mapped[str] = mapped_column(Text, primary_key=True)


class ScanProblemRow(Base):
    """Something a run could not read, and why."""

    __tablename__ = "scan_problems"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("scan_runs.id", ondelete="CASCADE"), index=True)
    source: Mapped[str] = mapped_column(Text)
    container: Mapped[str] = mapped_column(Text)
    field: Mapped[str] = mapped_column(Text)
    problem: Mapped[str] = mapped_column(Text)
    position: Mapped[str] = mapped_column(Text)


# Other capabilities keep their tables in their own modules on the same Base; importing them here
# puts every table in ``Base.metadata``, which the migrations and their tests compare against.
from leakwarden.store import audit_tables as _audit_tables  # noqa: E402,F401
from leakwarden.store import canary_tables as _canary_tables  # noqa: E402,F401
from leakwarden.store import export_tables as _export_tables  # noqa: E402,F401
from leakwarden.store import gateway_tables as _gateway_tables  # noqa: E402,F401
from leakwarden.store import monitor_tables as _monitor_tables  # noqa: E402,F401
from leakwarden.store import protect_tables as _protect_tables  # noqa: E402,F401
