"""Table models of the audit ledger (``leakwarden.audit``), on the store's one ``Base``.

Changes here need a migration (``0002_audit_ledger`` holds this module's tables).

- ``audit_log``: one row per Merkle leaf, ``idx`` 0, 1, 2, ... without gaps; ``event`` is the
  canonical JSON (the leaf's bytes), ``leaf_hash`` its RFC 9162 leaf hash; ``ts``, ``actor``,
  ``action``, ``outcome`` and ``dataset`` are copies of event fields, for queries only (the
  verifier never trusts them, it reads ``event``).
- ``audit_nodes``: cached hashes of complete, aligned subtrees of 2**level leaves (levels 8, 16,
  24), so that roots and proofs at any size read a few hundred rows, not millions.
- ``audit_head``: one row (``id`` 1) holding the size; writers lock it to take turns.
- ``audit_checkpoints``: every signed checkpoint the ledger published (also kept as files).

``audit_log``, ``audit_nodes`` and ``audit_checkpoints`` refuse UPDATE and DELETE through
triggers the migration creates.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, LargeBinary, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from leakwarden.store.models import Base


class AuditLogRow(Base):
    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_ts", "ts"),
        Index("ix_audit_log_actor_ts", "actor", "ts"),
        Index("ix_audit_log_dataset_ts", "dataset", "ts"),
    )

    # INTEGER on SQLite makes ``idx`` the rowid itself (a BIGINT key would be a second B-tree
    # beside a hidden rowid): one tree to insert into per event instead of two.
    idx: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    )
    ts: Mapped[datetime]
    actor: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(String(16))
    dataset: Mapped[str | None] = mapped_column(Text)
    event: Mapped[str] = mapped_column(Text)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class AuditNodeRow(Base):
    __tablename__ = "audit_nodes"

    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class AuditHeadRow(Base):
    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    size: Mapped[int] = mapped_column(BigInteger)


class AuditCheckpointRow(Base):
    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    size: Mapped[int] = mapped_column(BigInteger, index=True)
    root: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at: Mapped[datetime]
    note: Mapped[str] = mapped_column(Text)
