"""Trace: canary identities per export copy and per-copy fingerprint variants.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23

The canary registry (``leakwarden.store.canary_tables``): ``trace_canaries`` (one row per canary
customer of an export copy) and ``trace_canary_keys`` (its identifiers as keyed hashes, indexed
for the gateway's canary-contact check).  The per-copy variants (row subset, keyed order,
formatting) are parameters in ``exports.fingerprint_params`` (0005), so they need no table.

A frozen snapshot: it does not import ``leakwarden.store.models``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "trace_canaries",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("export_id", sa.String(length=40), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("kinds", sa.Text(), nullable=False),
        sa.Column("hash_key", sa.String(length=80), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trace_canaries")),
    )
    op.create_index(
        op.f("ix_trace_canaries_export_id"), "trace_canaries", ["export_id"], unique=False
    )
    op.create_table(
        "trace_canary_keys",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("canary_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("contact", sa.Boolean(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["canary_id"],
            ["trace_canaries.id"],
            name=op.f("fk_trace_canary_keys_canary_id_trace_canaries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trace_canary_keys")),
    )
    op.create_index(
        op.f("ix_trace_canary_keys_canary_id"), "trace_canary_keys", ["canary_id"], unique=False
    )
    op.create_index(
        op.f("ix_trace_canary_keys_digest"), "trace_canary_keys", ["digest"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_trace_canary_keys_digest"), table_name="trace_canary_keys")
    op.drop_index(op.f("ix_trace_canary_keys_canary_id"), table_name="trace_canary_keys")
    op.drop_table("trace_canary_keys")
    op.drop_index(op.f("ix_trace_canaries_export_id"), table_name="trace_canaries")
    op.drop_table("trace_canaries")
