"""Gateway: API tokens and the exact distinct-customer quota ledger.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23

A frozen snapshot: it does not import ``leakwarden.store.models``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "gateway_tokens",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("token_id", sa.String(length=32), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("employee_id", sa.Integer(), nullable=True),
        sa.Column("service", sa.String(length=64), nullable=True),
        sa.Column("label", sa.Text(), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("expires_at", _TS, nullable=False),
        sa.Column("revoked_at", _TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gateway_tokens")),
        sa.UniqueConstraint("token_id", name=op.f("uq_gateway_tokens_token_id")),
    )
    op.create_table(
        "gateway_quota_people",
        sa.Column("person", sa.String(length=64), nullable=False),
        sa.Column("touched_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("person", name=op.f("pk_gateway_quota_people")),
    )
    op.create_table(
        "gateway_quota_ledger",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("person", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("pool", sa.String(length=16), nullable=False),
        sa.Column("first_seen", _TS, nullable=False),
        sa.Column("last_seen", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gateway_quota_ledger")),
        sa.UniqueConstraint(
            "person", "customer_id", name=op.f("uq_gateway_quota_ledger_person_customer_id")
        ),
    )
    op.create_index(
        "ix_gateway_quota_ledger_person_pool_seen",
        "gateway_quota_ledger",
        ["person", "pool", "last_seen"],
    )


def downgrade() -> None:
    op.drop_index("ix_gateway_quota_ledger_person_pool_seen", table_name="gateway_quota_ledger")
    op.drop_table("gateway_quota_ledger")
    op.drop_table("gateway_quota_people")
    op.drop_table("gateway_tokens")
