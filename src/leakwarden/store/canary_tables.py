"""Table models of the canary registry (``leakwarden.trace.canaries``, issue 6).

Changes here need a migration (``0008_trace_canaries`` holds this module's tables).

- ``trace_canaries``: one row per canary customer planted in an export copy: the copy
  (``export_id``, the ``exports`` row it was written with), how many rows of the file are its
  own (``rows``), which kinds of values it carries (``kinds``, JSON list such as
  ``["name", "phone", "id"]``), when, and the key its hashes are made with (``hash_key``,
  ``<key name>:<version>:canary-hash`` of the key ring).
- ``trace_canary_keys``: the canary's identifiers (phone, e-mail, resident ID, name, and the
  pseudonyms the copy wrote for them) as HMAC-SHA-256 keyed hashes (hex) of their normal forms
  (``phone:13812345678``, ``name:张伟``; :func:`leakwarden.trace.canaries.canary_keys`), one row
  per identifier, indexed by ``digest`` so that a phone number or e-mail used anywhere can be
  checked in one lookup (:mod:`leakwarden.gateway.canary_guard`).  ``contact`` marks the
  identifiers a message can be sent to (phone, e-mail).

No clear canary value is stored: the registry cannot be used to strip canaries from a copy.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from leakwarden.store.models import Base


class TraceCanary(Base):
    __tablename__ = "trace_canaries"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    export_id: Mapped[str] = mapped_column(String(40), index=True)
    rows: Mapped[int] = mapped_column(Integer)
    kinds: Mapped[str] = mapped_column(Text)
    hash_key: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime]


class TraceCanaryKey(Base):
    __tablename__ = "trace_canary_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    canary_id: Mapped[str] = mapped_column(
        ForeignKey("trace_canaries.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    contact: Mapped[bool] = mapped_column(Boolean)
    digest: Mapped[str] = mapped_column(String(64), index=True)
