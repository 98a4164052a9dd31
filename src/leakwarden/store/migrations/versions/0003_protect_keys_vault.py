"""Protect: the key ring (wrapped, versioned data keys) and the token vault.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23

A frozen snapshot: it does not import ``leakwarden.store.models``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "protect_master",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("kdf", sa.JSON(), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_protect_master")),
    )
    op.create_table(
        "protect_keys",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("wrapped", sa.LargeBinary(), nullable=False),
        sa.Column("master_fingerprint", sa.String(length=64), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_protect_keys")),
        sa.UniqueConstraint("name", "version", name=op.f("uq_protect_keys_name_version")),
    )
    op.create_table(
        "protect_vault",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("namespace", sa.String(length=64), nullable=False),
        sa.Column("token", sa.String(length=128), nullable=False),
        sa.Column("lookup", sa.String(length=64), nullable=False),
        sa.Column("type_id", sa.String(length=64), nullable=True),
        sa.Column("key_name", sa.String(length=64), nullable=False),
        sa.Column("key_version", sa.Integer(), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_protect_vault")),
        sa.UniqueConstraint("namespace", "token", name=op.f("uq_protect_vault_namespace_token")),
        sa.UniqueConstraint("namespace", "lookup", name=op.f("uq_protect_vault_namespace_lookup")),
    )
    op.create_table(
        "protect_relay",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("virtual_number", sa.String(length=32), nullable=False),
        sa.Column("extension", sa.String(length=8), nullable=False),
        sa.Column("vault_namespace", sa.String(length=64), nullable=False),
        sa.Column("token", sa.String(length=128), nullable=False),
        sa.Column("order_ref", sa.Text(), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("expires_at", _TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_protect_relay")),
        sa.UniqueConstraint(
            "virtual_number",
            "extension",
            name=op.f("uq_protect_relay_virtual_number_extension"),
        ),
    )


def downgrade() -> None:
    op.drop_table("protect_relay")
    op.drop_table("protect_vault")
    op.drop_table("protect_keys")
    op.drop_table("protect_master")
