"""Gateway: the bytes-per-day quota ledger (one row per released response).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23

A frozen snapshot: it does not import ``leakwarden.store.models``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "gateway_quota_bytes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("person", sa.String(length=64), nullable=False),
        sa.Column("released_at", _TS, nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gateway_quota_bytes")),
    )
    op.create_index(
        "ix_gateway_quota_bytes_person_released_at",
        "gateway_quota_bytes",
        ["person", "released_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_gateway_quota_bytes_person_released_at", table_name="gateway_quota_bytes")
    op.drop_table("gateway_quota_bytes")
