"""Table models of the access gateway (``leakwarden.gateway``): API tokens and the quota ledger.

Changes here need a migration (``0004_gateway`` and ``0006_gateway_quota_bytes`` hold this
module's tables).

- ``gateway_tokens``: one row per API token.  ``token_id`` is the public half printed in the
  token (``lw_<token_id>_<secret>``); ``secret_hash`` is SHA-256 of the whole token, never the
  token: the secret is 256 random bits, so a fast hash is enough (no password stretching needed,
  as for any high-entropy API key).  Bound to an employee (``employee_id``) or a service
  (``service``); ``expires_at`` always set; ``revoked_at`` once revoked.
- ``gateway_quota_people``: one row per person whose quota is counted; every quota transaction
  updates it first, which serialises that person's quota checks on every backend (a row lock on
  PostgreSQL, the write lock on SQLite), so the count after insert is exact.
- ``gateway_quota_ledger``: person × customer with the last time the person was given that
  customer's data; distinct customers in a rolling window = rows with ``last_seen`` in the window
  (unique per person and customer).  ``pool`` separates VIP customers from the rest.
- ``gateway_quota_bytes``: one row per released response (person, when, bytes of released data);
  the bytes a person was given in a rolling day = the sum over the rows in the window.  Rows
  older than a day are deleted now and then by later charges (``0006`` adds the table).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from leakwarden.store.models import Base


class GatewayToken(Base):
    __tablename__ = "gateway_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    token_id: Mapped[str] = mapped_column(String(32), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    employee_id: Mapped[int | None] = mapped_column(Integer)
    service: Mapped[str | None] = mapped_column(String(64))
    label: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class QuotaPerson(Base):
    __tablename__ = "gateway_quota_people"

    person: Mapped[str] = mapped_column(String(64), primary_key=True)
    touched_at: Mapped[datetime]


class QuotaEntry(Base):
    __tablename__ = "gateway_quota_ledger"
    __table_args__ = (
        UniqueConstraint("person", "customer_id"),
        Index("ix_gateway_quota_ledger_person_pool_seen", "person", "pool", "last_seen"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    person: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[str] = mapped_column(String(64))
    pool: Mapped[str] = mapped_column(String(16))
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]


class QuotaBytes(Base):
    __tablename__ = "gateway_quota_bytes"
    __table_args__ = (Index("ix_gateway_quota_bytes_person_released_at", "person", "released_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    person: Mapped[str] = mapped_column(String(64))
    released_at: Mapped[datetime]
    bytes: Mapped[int] = mapped_column(BigInteger)
