"""Table models of the insider-exfiltration monitor (``leakwarden.monitor``).

Changes here need a migration (``0007_monitor`` holds this module's tables).

- ``monitor_alerts``: one row per alert, keyed by its stable id (the same actor, day and rule
  always give the same id, so re-running a day updates rather than duplicates): who (``actor``,
  ``peer_group``), which day, when it was raised, the ``rule`` (stream | daily), the ``score``,
  the ``reasons`` (JSON list of ``{"feature", "value", "own", "peer", "org", "contribution",
  "detail"}``), a sample of the unexplained ``customers`` (JSON list of internal ids) and the
  audit ``events`` (JSON list of ledger seqs). ``status`` open | closed; a closed alert carries
  the analyst's ``disposition`` (true_positive | benign | duplicate | inconclusive), who closed
  it, when, and a ``note``; dispositions feed suppression in later runs.
- ``monitor_deliveries``: one row per alert and sink (webhook | siem): attempts made, whether
  delivered, the last error, when last tried. Failures are recorded here, never lost.
- ``monitor_risk``: the risk ledger, one row per active actor-day: the score the day's alerts
  were ranked on.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from leakwarden.store.models import Base


class MonitorAlert(Base):
    __tablename__ = "monitor_alerts"
    __table_args__ = (Index("ix_monitor_alerts_day_actor", "day", "actor"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    actor: Mapped[str] = mapped_column(String(64))
    day: Mapped[date] = mapped_column(Date)
    raised_at: Mapped[datetime]
    rule: Mapped[str] = mapped_column(String(16))
    score: Mapped[float] = mapped_column(Float)
    peer_group: Mapped[str] = mapped_column(String(128))
    reasons: Mapped[str] = mapped_column(Text)
    customers: Mapped[str] = mapped_column(Text)
    events: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    disposition: Mapped[str | None] = mapped_column(String(32))
    closed_by: Mapped[str | None] = mapped_column(String(64))
    closed_at: Mapped[datetime | None]
    note: Mapped[str | None] = mapped_column(Text)


class MonitorDelivery(Base):
    __tablename__ = "monitor_deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_id: Mapped[str] = mapped_column(
        ForeignKey("monitor_alerts.id", ondelete="CASCADE"), index=True
    )
    sink: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    delivered: Mapped[bool] = mapped_column(Boolean)
    last_error: Mapped[str | None] = mapped_column(Text)
    tried_at: Mapped[datetime]


class MonitorRisk(Base):
    __tablename__ = "monitor_risk"

    actor: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    score: Mapped[float] = mapped_column(Float)
