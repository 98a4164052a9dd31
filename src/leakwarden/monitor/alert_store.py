"""Alerts, dispositions, deliveries and the risk ledger in leakwarden's store
(:mod:`leakwarden.store.monitor_tables`).

:meth:`AlertStore.save` is idempotent: an alert id is stable for (actor, day, rule), so running a
day again updates the open alert's score and reasons and leaves a closed alert (and its
disposition) alone. :meth:`AlertStore.close` records an analyst's verdict;
:meth:`AlertStore.dispositions` gives them back as
:class:`~leakwarden.monitor.config.Disposition` for the next run's suppression.
:func:`publish` sends new alerts to the sinks and records each delivery.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from datetime import UTC, date, datetime
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
from sqlalchemy import delete, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from leakwarden.monitor.config import DISPOSITIONS, Alert, Disposition, Reason
from leakwarden.monitor.sinks import Delivery
from leakwarden.store.monitor_tables import MonitorAlert, MonitorDelivery, MonitorRisk


class AlertNotFound(LookupError):
    pass


class Sink(Protocol):
    name: str

    def send(self, alert: Alert) -> Delivery: ...


class AlertStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def save(self, alerts: Iterable[Alert]) -> list[str]:
        """Store alerts; the ids of those that are new (not stored before)."""
        new: list[str] = []
        with Session(self.engine) as s, s.begin():
            for a in alerts:
                row = s.get(MonitorAlert, a.alert_id)
                if row is None:
                    s.add(_row(a))
                    new.append(a.alert_id)
                elif row.status == "open":
                    fresh = _row(a)
                    for col in ("raised_at", "score", "reasons", "customers", "events"):
                        setattr(row, col, getattr(fresh, col))
        return new

    def save_scores(self, scores: pa.Table) -> int:
        """Replace the risk ledger's rows for the days in ``scores`` (actor, day, score)."""
        if scores.num_rows == 0:
            return 0
        days = sorted(set(scores.column("day").to_pylist()))
        rows = [
            MonitorRisk(actor=a, day=d, score=float(v))
            for a, d, v in zip(
                scores.column("actor").to_pylist(),
                scores.column("day").to_pylist(),
                np.asarray(scores.column("score")).tolist(),
                strict=True,
            )
        ]
        with Session(self.engine) as s, s.begin():
            s.execute(delete(MonitorRisk).where(MonitorRisk.day.in_(days)))
            s.add_all(rows)
        return len(rows)

    def get(self, alert_id: str) -> Alert:
        with Session(self.engine) as s:
            row = s.get(MonitorAlert, alert_id)
            if row is None:
                raise AlertNotFound(f"no monitor alert {alert_id!r}")
            return _alert(row)

    def status(self, alert_id: str) -> dict[str, Any]:
        with Session(self.engine) as s:
            row = s.get(MonitorAlert, alert_id)
            if row is None:
                raise AlertNotFound(f"no monitor alert {alert_id!r}")
            return {
                "status": row.status,
                "disposition": row.disposition,
                "closed_by": row.closed_by,
                "closed_at": row.closed_at,
                "note": row.note,
            }

    def find(
        self,
        *,
        status: str | None = None,
        actor: str | None = None,
        since: date | None = None,
        limit: int | None = None,
    ) -> list[tuple[Alert, str, str | None]]:
        """(alert, status, disposition), newest day first."""
        q = select(MonitorAlert).order_by(MonitorAlert.day.desc(), MonitorAlert.score.desc())
        if status is not None:
            q = q.where(MonitorAlert.status == status)
        if actor is not None:
            q = q.where(MonitorAlert.actor == actor)
        if since is not None:
            q = q.where(MonitorAlert.day >= since)
        if limit is not None:
            q = q.limit(limit)
        with Session(self.engine) as s:
            return [(_alert(r), r.status, r.disposition) for r in s.scalars(q)]

    def close(
        self, alert_id: str, disposition: str, *, by: str, note: str | None = None
    ) -> Disposition:
        if disposition not in DISPOSITIONS:
            raise ValueError(
                f"disposition {disposition!r}: expected one of {', '.join(DISPOSITIONS)}"
            )
        with Session(self.engine) as s, s.begin():
            row = s.get(MonitorAlert, alert_id)
            if row is None:
                raise AlertNotFound(f"no monitor alert {alert_id!r}")
            row.status = "closed"
            row.disposition = disposition
            row.closed_by = by
            row.closed_at = datetime.now(UTC)
            row.note = note
            return Disposition(row.actor, row.day, row.rule, disposition, row.score)

    def dispositions(self, since: date | None = None) -> list[Disposition]:
        q = select(MonitorAlert).where(MonitorAlert.status == "closed")
        if since is not None:
            q = q.where(MonitorAlert.day >= since)
        with Session(self.engine) as s:
            return [
                Disposition(r.actor, r.day, r.rule, r.disposition or "inconclusive", r.score)
                for r in s.scalars(q)
            ]

    def record_delivery(self, d: Delivery) -> None:
        with Session(self.engine) as s, s.begin():
            s.add(
                MonitorDelivery(
                    alert_id=d.alert_id,
                    sink=d.sink,
                    attempts=d.attempts,
                    delivered=d.delivered,
                    last_error=d.error,
                    tried_at=datetime.now(UTC),
                )
            )

    def deliveries(self, alert_id: str) -> list[Delivery]:
        q = select(MonitorDelivery).where(MonitorDelivery.alert_id == alert_id)
        with Session(self.engine) as s:
            return [
                Delivery(r.alert_id, r.sink, r.attempts, r.delivered, r.last_error)
                for r in s.scalars(q.order_by(MonitorDelivery.id))
            ]


def publish(store: AlertStore, alerts: Sequence[Alert], sinks: Sequence[Sink]) -> list[Delivery]:
    """Store ``alerts``; send the new ones to every sink, recording each delivery."""
    new = set(store.save(alerts))
    out: list[Delivery] = []
    for a in alerts:
        if a.alert_id not in new:
            continue
        for sink in sinks:
            d = sink.send(a)
            store.record_delivery(d)
            out.append(d)
    return out


def _row(a: Alert) -> MonitorAlert:
    return MonitorAlert(
        id=a.alert_id,
        actor=a.actor,
        day=a.day,
        raised_at=a.raised_at,
        rule=a.rule,
        score=float(a.score),
        peer_group=a.peer_group,
        reasons=json.dumps([asdict(r) for r in a.reasons]),
        customers=json.dumps(list(a.customers)),
        events=json.dumps(list(a.events)),
        status="open",
        disposition=None,
        closed_by=None,
        closed_at=None,
        note=None,
    )


def _alert(r: MonitorAlert) -> Alert:
    return Alert(
        alert_id=r.id,
        actor=r.actor,
        day=r.day,
        raised_at=r.raised_at,
        score=r.score,
        rule=r.rule,
        reasons=tuple(Reason(**x) for x in json.loads(r.reasons)),
        customers=tuple(json.loads(r.customers)),
        events=tuple(json.loads(r.events)),
        peer_group=r.peer_group,
    )
