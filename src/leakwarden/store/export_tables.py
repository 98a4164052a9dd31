"""Table models of the gateway's bulk exports (``leakwarden.gateway.exports``).

Changes here need a migration (``0005_exports`` holds this module's tables).

- ``export_requests``: one row per export request: who asks (``requester`` and the role they
  had), why (``purpose``, ``ticket``), what (``sql`` as written, its ``fingerprint`` and literal
  ``parameters`` (JSON list) from :func:`leakwarden.gateway.sql_rewrite.rewrite`, the columns read
  (JSON ``{table: [column]}``) and the sensitive ones), for whom (``recipient``), how big
  (``estimated_rows``, ``estimated_customers``: NULL when the output has no customer key), until
  when (``expires_at``), its ``status`` (requested | approved | rejected | executing | executed |
  expired) and ``approvals`` (JSON list of ``{"person", "role", "decision", "at", "note"}``).
- ``exports``: the export registry, one row per executed request (``request_id`` unique: an
  export runs once), for ``trace`` (issue 6): recipient, requester, approvers (JSON), time, query
  (sql, fingerprint, parameters), columns, row and customer counts, the customer ids and CSV rows
  as HMAC-SHA-256 keyed hashes (hex, JSON lists; key named in ``hash_key``), the encrypted file
  (path, SHA-256 of the file) and the key that encrypts it (``file_key``), and
  ``fingerprint_params`` (JSON, ``{}`` until trace adds canaries and variants).  No clear customer
  id or value is stored here.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from leakwarden.store.models import Base


class ExportRequest(Base):
    __tablename__ = "export_requests"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    requester: Mapped[str] = mapped_column(String(64))
    requester_role: Mapped[str] = mapped_column(String(64))
    purpose: Mapped[str] = mapped_column(String(64))
    ticket: Mapped[str | None] = mapped_column(String(64))
    sql: Mapped[str] = mapped_column(Text)
    dialect: Mapped[str] = mapped_column(String(16))
    fingerprint: Mapped[str] = mapped_column(String(64))
    parameters: Mapped[str] = mapped_column(Text)
    columns: Mapped[str] = mapped_column(Text)
    sensitive_columns: Mapped[str] = mapped_column(Text)
    estimated_rows: Mapped[int] = mapped_column(Integer)
    estimated_customers: Mapped[int | None] = mapped_column(Integer)
    needs_approval: Mapped[bool] = mapped_column(Boolean)
    recipient: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16))
    approvals: Mapped[str] = mapped_column(Text)


class ExportRecord(Base):
    __tablename__ = "exports"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    request_id: Mapped[str] = mapped_column(String(40), unique=True)
    recipient: Mapped[str] = mapped_column(Text)
    requester: Mapped[str] = mapped_column(String(64))
    approvers: Mapped[str] = mapped_column(Text)
    purpose: Mapped[str] = mapped_column(String(64))
    executed_at: Mapped[datetime]
    sql: Mapped[str] = mapped_column(Text)
    fingerprint: Mapped[str] = mapped_column(String(64))
    parameters: Mapped[str] = mapped_column(Text)
    columns: Mapped[str] = mapped_column(Text)
    rows: Mapped[int] = mapped_column(Integer)
    customers: Mapped[int | None] = mapped_column(Integer)
    customer_hashes: Mapped[str] = mapped_column(Text)
    row_hashes: Mapped[str] = mapped_column(Text)
    hash_key: Mapped[str] = mapped_column(String(80))
    file_path: Mapped[str] = mapped_column(Text)
    file_sha256: Mapped[str] = mapped_column(String(64))
    file_key: Mapped[str] = mapped_column(String(80))
    fingerprint_params: Mapped[str] = mapped_column(Text)
