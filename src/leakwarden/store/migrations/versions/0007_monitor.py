"""Monitor: the risk ledger, alerts and their dispositions (filled in by the monitor work).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23

A frozen snapshot: it does not import ``leakwarden.store.models``.
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
