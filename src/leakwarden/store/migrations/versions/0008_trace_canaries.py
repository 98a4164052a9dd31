"""Trace: canary identities per export copy and per-copy fingerprint variants.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23

A frozen snapshot: it does not import ``leakwarden.store.models``.
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
