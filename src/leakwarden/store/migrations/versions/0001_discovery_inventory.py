"""Discovery inventory: scan runs, the inventory, per-run observations, problems.

Revision ID: 0001
Revises:
Create Date: 2026-11-23

A frozen snapshot: it does not import ``leakwarden.store.models`` (the models move on, this
migration must not).  Datetimes are ``timestamp with time zone`` (UTC); evidence is portable JSON.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "scan_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("source_kind", sa.String(length=16), nullable=False),
        sa.Column("started_at", _TS, nullable=False),
        sa.Column("finished_at", _TS, nullable=True),
        sa.Column("containers_scanned", sa.Integer(), nullable=False),
        sa.Column("bytes_scanned", sa.BigInteger(), nullable=False),
        sa.Column("rows_scanned", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scan_runs")),
    )
    op.create_index(op.f("ix_scan_runs_source"), "scan_runs", ["source"])

    op.create_table(
        "inventory",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("source_kind", sa.String(length=16), nullable=False),
        sa.Column("container", sa.Text(), nullable=False),
        sa.Column("field", sa.Text(), nullable=False),
        sa.Column("pi_type", sa.String(length=64), nullable=False),
        sa.Column("sensitivity", sa.String(length=32), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("rows_scanned", sa.BigInteger(), nullable=False),
        sa.Column("rows_total", sa.BigInteger(), nullable=True),
        sa.Column("first_seen", _TS, nullable=False),
        sa.Column("last_seen", _TS, nullable=False),
        sa.Column("last_run_id", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["last_run_id"], ["scan_runs.id"], name=op.f("fk_inventory_last_run_id_scan_runs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inventory")),
        sa.UniqueConstraint(
            "source",
            "container",
            "field",
            "pi_type",
            name=op.f("uq_inventory_source_container_field_pi_type"),
        ),
    )
    op.create_index(op.f("ix_inventory_last_run_id"), "inventory", ["last_run_id"])
    op.create_index("ix_inventory_source_active", "inventory", ["source", "active"])

    op.create_table(
        "inventory_observations",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("inventory_id", sa.Integer(), nullable=False),
        sa.Column("sensitivity", sa.String(length=32), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("rows_scanned", sa.BigInteger(), nullable=False),
        sa.Column("rows_total", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["inventory_id"],
            ["inventory.id"],
            name=op.f("fk_inventory_observations_inventory_id_inventory"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["scan_runs.id"],
            name=op.f("fk_inventory_observations_run_id_scan_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("run_id", "inventory_id", name=op.f("pk_inventory_observations")),
    )
    op.create_index(
        op.f("ix_inventory_observations_inventory_id"), "inventory_observations", ["inventory_id"]
    )

    op.create_table(
        "scan_containers",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("container", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["scan_runs.id"],
            name=op.f("fk_scan_containers_run_id_scan_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("run_id", "container", name=op.f("pk_scan_containers")),
    )

    op.create_table(
        "scan_problems",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("container", sa.Text(), nullable=False),
        sa.Column("field", sa.Text(), nullable=False),
        sa.Column("problem", sa.Text(), nullable=False),
        sa.Column("position", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["scan_runs.id"],
            name=op.f("fk_scan_problems_run_id_scan_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scan_problems")),
    )
    op.create_index(op.f("ix_scan_problems_run_id"), "scan_problems", ["run_id"])


def downgrade() -> None:
    op.drop_table("scan_problems")
    op.drop_table("scan_containers")
    op.drop_table("inventory_observations")
    op.drop_table("inventory")
    op.drop_table("scan_runs")
