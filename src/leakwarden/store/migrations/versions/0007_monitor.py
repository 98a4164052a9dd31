"""Monitor: alerts with their dispositions, their deliveries to the webhook and the SIEM, and
the risk ledger (``leakwarden.store.monitor_tables``).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23

A frozen snapshot: it does not import ``leakwarden.store.models``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "monitor_alerts",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("raised_at", _TS, nullable=False),
        sa.Column("rule", sa.String(length=16), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("peer_group", sa.String(length=128), nullable=False),
        sa.Column("reasons", sa.Text(), nullable=False),
        sa.Column("customers", sa.Text(), nullable=False),
        sa.Column("events", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("disposition", sa.String(length=32), nullable=True),
        sa.Column("closed_by", sa.String(length=64), nullable=True),
        sa.Column("closed_at", _TS, nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitor_alerts")),
    )
    op.create_index("ix_monitor_alerts_day_actor", "monitor_alerts", ["day", "actor"])
    op.create_table(
        "monitor_deliveries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("alert_id", sa.String(length=40), nullable=False),
        sa.Column("sink", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("delivered", sa.Boolean(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("tried_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["monitor_alerts.id"],
            name=op.f("fk_monitor_deliveries_alert_id_monitor_alerts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitor_deliveries")),
    )
    op.create_index(op.f("ix_monitor_deliveries_alert_id"), "monitor_deliveries", ["alert_id"])
    op.create_table(
        "monitor_risk",
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("actor", "day", name=op.f("pk_monitor_risk")),
    )


def downgrade() -> None:
    op.drop_table("monitor_risk")
    op.drop_index(op.f("ix_monitor_deliveries_alert_id"), table_name="monitor_deliveries")
    op.drop_table("monitor_deliveries")
    op.drop_index("ix_monitor_alerts_day_actor", table_name="monitor_alerts")
    op.drop_table("monitor_alerts")
