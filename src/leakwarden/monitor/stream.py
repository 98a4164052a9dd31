"""The fast rules on a live stream: bulk pulls alert at the event that crosses the threshold.

:class:`StreamMonitor` keeps the last window of each actor's allowed events
(:class:`~leakwarden.monitor.window.WindowCarry`) and compares the sliding sums of customers and
rows with the same thresholds the batch detector uses
(:func:`~leakwarden.monitor.scoring.window_thresholds`), computed from an earlier
:class:`~leakwarden.monitor.detector.MonitorResult` (``history``); without history, or for an
actor it never saw, the peer group's thresholds, else the floors. One alert per actor and day;
the day's budget is ``max(min_daily_alerts, floor(budget * employees))`` (the day's active staff
is not known until it ends). Linked events: the actor's events of the crossing window seen in
the current batch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from leakwarden.monitor.alerting import EPOCH, EPOCH_UTC, STREAM_KINDS, alert_id
from leakwarden.monitor.config import Alert, MonitorConfig, MonitorResult, Reason
from leakwarden.monitor.events import EVENT_SCHEMA, Context, check_table
from leakwarden.monitor.features import day_of, us_of
from leakwarden.monitor.peers import peer_groups
from leakwarden.monitor.scoring import (
    baseline_window,
    build_cube,
    scored_features,
    sorted_stats,
    window_thresholds,
)
from leakwarden.monitor.window import WindowCarry, WindowEvents


class StreamMonitor:
    """The fast rules over a live stream of event batches (see the module docstring)."""

    def __init__(
        self,
        context: Context,
        config: MonitorConfig | None = None,
        history: MonitorResult | pa.Table | None = None,
    ) -> None:
        """``history``: an earlier run's result, or its ``features`` table."""
        self.context = context
        self.config = config or MonitorConfig()
        self.feats = scored_features(context)
        table = history.features if isinstance(history, MonitorResult) else history
        if table is not None and table.num_rows:
            actors, self.day0, x = build_cube(table, self.feats)
        else:
            actors, self.day0, x = [], 0, np.full((0, 0, len(self.feats)), np.nan)
        known = set(actors)
        extra = [e for e in context.employees.column("employee_id").to_pylist() if e not in known]
        self.x = np.concatenate([x, np.full((len(extra), x.shape[1], x.shape[2]), np.nan)])
        self.actors: list[str] = actors + extra
        self.groups = [
            str(g) for g in peer_groups(context.employees, pa.array(self.actors, pa.string()))
        ]
        self.code_of = {a: i for i, a in enumerate(self.actors)}
        self.carry = WindowCarry(self.config.stream_window_seconds * 1_000_000)
        self._thresholds: dict[int, np.ndarray] = {}
        self.alerted: set[tuple[str, int]] = set()
        self.per_day: dict[int, int] = {}
        self.budget = max(
            self.config.min_daily_alerts,
            math.floor(self.config.budget * context.employees.num_rows),
        )
        self.batches = 0

    def _codes(self, actors: Sequence[str]) -> np.ndarray:
        out = np.empty(len(actors), dtype=np.int64)
        for i, a in enumerate(actors):
            code = self.code_of.get(a)
            if code is None:
                code = self.code_of[a] = len(self.actors)
                self.actors.append(a)
            out[i] = code
        return out

    def thresholds(self, day: int) -> np.ndarray:
        """(actor code, 2): customers and rows thresholds on day number ``day``."""
        got = self._thresholds.get(day)
        if got is None:
            got = window_thresholds(self.x, self.feats, self.groups, self.config, day - self.day0)
            self._thresholds[day] = got
        if len(got) < len(self.actors):
            floors = np.array(
                [[self.config.stream_min_customers, self.config.stream_min_rows]], dtype=float
            )
            got = np.concatenate([got, np.repeat(floors, len(self.actors) - len(got), axis=0)])
            self._thresholds[day] = got
        return got

    def observe(self, batch: pa.RecordBatch | pa.Table) -> list[Alert]:
        """Alerts raised by this batch (each actor at most once per day)."""
        where = f"stream batch {self.batches}"
        self.batches += 1
        check_table(batch, EVENT_SCHEMA, where)
        tbl = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
        tbl = tbl.filter(pc.equal(tbl.column("outcome"), "allowed"))
        if tbl.num_rows == 0:
            return []
        ev = WindowEvents(
            self._codes(tbl.column("actor").to_pylist()),
            us_of(tbl.column("ts")),
            np.asarray(tbl.column("seq")).astype(np.int64),
            np.asarray(tbl.column("customers")).astype(np.int64),
            np.asarray(tbl.column("rows")).astype(np.int64),
        )
        got = self.carry.push(ev, where)
        days = day_of(got.events.ts, self.config.timezone)
        thr = np.zeros((len(days), 2))
        for day in np.unique(days):
            sel = days == day
            thr[sel] = self.thresholds(int(day))[got.events.actor[sel]]
        hit_c = got.customers >= thr[:, 0]
        hit_r = got.rows >= thr[:, 1]
        hits = np.flatnonzero(hit_c | hit_r)
        alerts: list[Alert] = []
        for i in hits[np.argsort(got.events.ts[hits], kind="stable")]:
            code, day = int(got.events.actor[i]), int(days[i])
            actor = self.actors[code]
            if (actor, day) in self.alerted or self.per_day.get(day, 0) >= self.budget:
                continue
            self.alerted.add((actor, day))
            self.per_day[day] = self.per_day.get(day, 0) + 1
            kind = 0 if hit_c[i] else 1
            value = float((got.customers, got.rows)[kind][i])
            ts = int(got.events.ts[i])
            window = self.config.stream_window_seconds * 1_000_000
            mine = (
                (got.events.actor == code) & (got.events.ts <= ts) & (got.events.ts > ts - window)
            )
            seqs = sorted(int(q) for q in got.events.seq[mine])[-self.config.max_listed_events :]
            alerts.append(
                Alert(
                    alert_id=alert_id(actor, EPOCH + timedelta(days=day), "stream"),
                    actor=actor,
                    day=EPOCH + timedelta(days=day),
                    raised_at=EPOCH_UTC + timedelta(microseconds=ts),
                    score=value / float(thr[i, kind]),
                    rule="stream",
                    reasons=(self._reason(code, day, kind, value, float(thr[i, kind])),),
                    events=tuple(seqs),
                    peer_group=self.groups[code] if code < len(self.groups) else "?",
                )
            )
        return alerts

    def _reason(self, code: int, day: int, kind: int, value: float, thr: float) -> Reason:
        f = STREAM_KINDS[kind]
        own = peer = None
        lo, hi = baseline_window(day - self.day0, self.config)
        if code < self.x.shape[0] and hi > 0 and lo < self.x.shape[1]:
            j = self.feats.index(f)
            window = self.x[:, lo : min(hi, self.x.shape[1]), j]
            m, _, _ = sorted_stats(window[code : code + 1], axis=1)
            own = None if np.isnan(m[0]) else float(m[0])
            members = [i for i, g in enumerate(self.groups) if g == self.groups[code]]
            pm, _, _ = sorted_stats(window[members].reshape(-1), axis=0)
            peer = None if np.isnan(pm) else float(pm)
        return Reason(
            feature=f,
            value=value,
            own=own,
            peer=peer,
            org=None,
            contribution=value / thr,
            detail=f"{value:.0f} {('customers', 'rows')[kind]} in "
            f"{self.config.stream_window_seconds} s, threshold {thr:.0f}",
        )
