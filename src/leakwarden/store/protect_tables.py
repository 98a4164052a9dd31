"""Table models of de-identification (``leakwarden.protect``): key ring and token vault.

Changes here need a migration (``0003_protect_keys_vault`` holds this module's tables).

- ``protect_master``: one row (``id`` 1): the fingerprint of the master key that wraps this ring's
  data keys, its kind, and for a passphrase the argon2id salt and costs.  Never the key.
- ``protect_keys``: one row per (name, version): the data key wrapped by the master key.
- ``protect_vault``: the token vault; ``lookup`` is an HMAC of the value (never the value), the
  value itself is in ``ciphertext`` (AES-GCM, nonce first) under ``key_name`` ``key_version``.
- ``protect_relay``: virtual relay numbers printed on privacy waybills, mapped to a vault token
  of the real phone number so the relay can connect calls, until ``expires_at``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from leakwarden.store.models import Base


class ProtectMaster(Base):
    __tablename__ = "protect_master"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    fingerprint: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(32))
    kdf: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime]


class ProtectKey(Base):
    __tablename__ = "protect_keys"
    __table_args__ = (UniqueConstraint("name", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    purpose: Mapped[str] = mapped_column(String(32))
    wrapped: Mapped[bytes] = mapped_column(LargeBinary)
    master_fingerprint: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]


class VaultEntry(Base):
    __tablename__ = "protect_vault"
    __table_args__ = (
        UniqueConstraint("namespace", "token"),
        UniqueConstraint("namespace", "lookup"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    namespace: Mapped[str] = mapped_column(String(64))
    token: Mapped[str] = mapped_column(String(128))
    lookup: Mapped[str] = mapped_column(String(64))
    type_id: Mapped[str | None] = mapped_column(String(64))
    key_name: Mapped[str] = mapped_column(String(64))
    key_version: Mapped[int] = mapped_column(Integer)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]


class RelayNumber(Base):
    __tablename__ = "protect_relay"
    __table_args__ = (UniqueConstraint("virtual_number", "extension"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    virtual_number: Mapped[str] = mapped_column(String(32))
    extension: Mapped[str] = mapped_column(String(8))
    vault_namespace: Mapped[str] = mapped_column(String(64))
    token: Mapped[str] = mapped_column(String(128))
    order_ref: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
