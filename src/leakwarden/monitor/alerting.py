"""From scores to alerts: stream crossings, the daily budget, suppression and reasons.

Per day, in order: stream alerts (first crossing of an actor's window threshold, by time), then
daily alerts by descending score (at least ``min_score``), until the day's budget
``max(min_daily_alerts, floor(budget * active actors))`` is spent. An actor gets at most one alert
per day. Suppression (per actor and rule): after an alert, and after an analyst's disposition
(:class:`~leakwarden.monitor.config.Disposition`), the actor is not alerted again for
``suppress_days`` (``benign_days`` after a benign verdict); a verdict or a stream alert gives
way to a score twice as high, a daily alert does not (its person's growing risk is the open
case, and the budget is better spent on someone new).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from leakwarden.monitor.config import Alert, Disposition, MonitorConfig, Reason
from leakwarden.monitor.features import Aggregates
from leakwarden.monitor.scoring import CUSUM_ON, Scored

EPOCH = date(1970, 1, 1)
EPOCH_UTC = datetime(1970, 1, 1, tzinfo=UTC)
STREAM_KINDS = ("win_customers_max", "win_rows_max")


def alert_id(actor: str, day: date, rule: str) -> str:
    """Stable id: the same actor, day and rule always give the same alert (idempotent stores)."""
    digest = hashlib.sha256(f"{actor}|{day.isoformat()}|{rule}".encode()).hexdigest()
    return f"mon-{digest[:20]}"


def day_end(day: date, tz: str) -> datetime:
    """The end of ``day`` (local midnight in ``tz``) in UTC."""
    nxt = day + timedelta(days=1)
    local = datetime(nxt.year, nxt.month, nxt.day, tzinfo=ZoneInfo(tz))
    return local.astimezone(UTC)


@dataclass
class _Suppression:
    day: int  # day number of the alert or verdict
    until: int  # day number, inclusive
    score: float
    escape: bool = True  # a score twice as high breaks through before ``until``


class Suppressor:
    """Per (actor, rule): no new alert until ``until`` (after an analyst's verdict or a stream
    alert, unless the score doubles; after a daily alert, not at all); and for the daily rule,
    the score an alert already reported is spent: later days are ranked on
    ``score - spent * decay ** age`` (the risk ledger's decay), so one incident's carried risk
    does not raise a second alert when the suppression ends."""

    def __init__(self, config: MonitorConfig, dispositions: Iterable[Disposition] = ()) -> None:
        self.config = config
        self.decay = 0.5 ** (1.0 / config.risk_half_life_days)
        self.state: dict[tuple[str, str], _Suppression] = {}
        for d in dispositions:
            days = config.benign_days if d.disposition == "benign" else config.suppress_days
            day = (d.day - EPOCH).days
            self._set(d.actor, d.rule, _Suppression(day, day + days, d.score))

    def _set(self, actor: str, rule: str, new: _Suppression) -> None:
        old = self.state.get((actor, rule))
        if old is not None and old.until > new.until:
            new = _Suppression(
                new.day, old.until, max(new.score, old.score), old.escape and new.escape
            )
        self.state[(actor, rule)] = new

    def adjusted(self, actor: str, rule: str, day: int, score: float) -> float:
        s = self.state.get((actor, rule))
        if s is None or rule != "daily":
            return score
        return float(score - s.score * self.decay ** max(0, day - s.day))

    def allows(self, actor: str, rule: str, day: int, score: float) -> bool:
        s = self.state.get((actor, rule))
        return s is None or day > s.until or (s.escape and score >= 2 * s.score)

    def alerted(self, actor: str, rule: str, day: int, score: float) -> None:
        # a daily alert opens a case: the same person's growing risk is that case, not a new
        # alert, so the daily rule stays quiet for suppress_days; a bulk pull twice the last
        # one (stream) still breaks through
        escape = rule != "daily"
        until = day + self.config.suppress_days
        self._set(actor, rule, _Suppression(day, until, score, escape))


def select_alerts(
    scored: Scored,
    agg: Aggregates,
    config: MonitorConfig,
    dispositions: Iterable[Disposition] = (),
) -> list[Alert]:
    crossings = stream_crossings(scored, agg, config.stream_window_seconds * 1_000_000)
    samples = _samples(agg)
    sup = Suppressor(config, dispositions)
    alerts: list[Alert] = []
    active = ~np.isnan(scored.score)
    n_days = scored.score.shape[1]
    for d in range(n_days):
        day_no = scored.day0 + d
        day = EPOCH + timedelta(days=day_no)
        n_active = int(active[:, d].sum())
        if n_active == 0:
            continue
        budget = max(config.min_daily_alerts, math.floor(config.budget * n_active))
        taken: set[int] = set()
        for a, ts_us, seqs, ratio, kind, value in crossings.get(d, []):
            if len(taken) >= budget:
                break
            actor = scored.actors[a]
            if a in taken or not sup.allows(actor, "stream", day_no, ratio):
                continue
            sup.alerted(actor, "stream", day_no, ratio)
            sup.alerted(actor, "daily", day_no, float(np.nan_to_num(scored.score[a, d])))
            taken.add(a)
            raised = EPOCH_UTC + timedelta(microseconds=ts_us)
            stream = _stream_reason(scored, a, d, kind, value, config)
            alerts.append(
                _alert(scored, samples, a, d, "stream", raised, ratio, seqs, config, stream)
            )
        col = np.where(active[:, d], scored.score[:, d], -np.inf)
        for i in np.flatnonzero(active[:, d]):
            col[i] = sup.adjusted(scored.actors[i], "daily", day_no, float(col[i]))
        for a in np.argsort(-col, kind="stable"):
            if len(taken) >= budget or col[a] < config.min_score:
                break
            a = int(a)
            actor = scored.actors[a]
            if a in taken or not sup.allows(actor, "daily", day_no, float(col[a])):
                continue
            sup.alerted(actor, "daily", day_no, float(scored.score[a, d]))
            taken.add(a)
            raised = day_end(day, config.timezone)
            alerts.append(
                _alert(
                    scored,
                    samples,
                    a,
                    d,
                    "daily",
                    raised,
                    float(col[a]),
                    (),
                    config,
                    reasons_for(scored, a, d),
                )
            )
    return alerts


Crossing = tuple[int, int, tuple[int, ...], float, int, float]


def stream_crossings(scored: Scored, agg: Aggregates, window_us: int) -> dict[int, list[Crossing]]:
    """Per day index: (actor index, crossing time in µs, seqs up to it, value / threshold, kind,
    value), by time: the first event whose window sum reached the actor's threshold that day
    (kind 0: customers, 1: rows). The seqs are the window's new-maximum events up to it."""
    pts = agg.points
    out: dict[int, list[Crossing]] = {}
    if pts.num_rows == 0:
        return out
    a = np.asarray(
        pc.index_in(pts.column("actor"), value_set=pa.array(scored.actors, pa.string()))
    ).astype(np.int64)
    d = np.asarray(pts.column("day").cast(pa.int32())).astype(np.int64) - scored.day0
    kind = np.asarray(pts.column("kind")).astype(np.int64)
    value = np.asarray(pts.column("value")).astype(np.float64)
    ts = np.asarray(pts.column("ts")).astype(np.int64)
    seq = np.asarray(pts.column("seq")).astype(np.int64)
    thr = scored.thresholds[a, d, kind]
    hit = value >= thr
    first: dict[tuple[int, int], tuple[int, int, float, int, float]] = {}
    for i in np.flatnonzero(hit):
        key = (int(a[i]), int(d[i]))
        cand = (int(ts[i]), int(seq[i]), float(value[i] / thr[i]), int(kind[i]), float(value[i]))
        if key not in first or cand[0] < first[key][0]:
            first[key] = cand
    for (ai, di), (t, s, ratio, k, v) in first.items():
        mask = (a == ai) & (d == di) & (ts <= t) & (ts > t - window_us)
        seqs = tuple(sorted({int(q) for q in seq[mask]}))
        out.setdefault(di, []).append((ai, t, seqs or (s,), ratio, k, v))
    for di in out:
        out[di].sort(key=lambda c: (c[1], c[0]))
    return out


def _samples(agg: Aggregates) -> dict[tuple[str, int], tuple[list[int], list[int]]]:
    t = agg.actor_day.select(["actor", "day", "unexplained_sample", "seq_sample"])
    t = t.filter(pc.is_valid(t.column("unexplained_sample")))
    days = np.asarray(t.column("day").cast(pa.int32())).astype(np.int64)
    out: dict[tuple[str, int], tuple[list[int], list[int]]] = {}
    for actor, day, cust, seqs in zip(
        t.column("actor").to_pylist(),
        days.tolist(),
        t.column("unexplained_sample").to_pylist(),
        t.column("seq_sample").to_pylist(),
        strict=True,
    ):
        out[(actor, day)] = (cust or [], seqs or [])
    return out


def reasons_for(scored: Scored, a: int, d: int) -> list[Reason]:
    """The features behind actor ``a``'s score on day ``d``, largest contribution first."""
    out: list[Reason] = []
    x = scored.x[a, d]
    feats = scored.features
    idx = {f: i for i, f in enumerate(feats)}
    for j in np.argsort(-scored.evidence[a, d], kind="stable"):
        j = int(j)
        if scored.evidence[a, d, j] <= 0:
            break
        detail = ""
        if feats[j] == "unexplained_customers" and "distinct_customers" in idx:
            total = x[idx["distinct_customers"]]
            detail = (
                f"{x[j]:.0f} of {total:.0f} customers not explained by a ticket or relationship"
            )
        out.append(
            Reason(
                feature=feats[j],
                value=float(x[j]),
                own=_f(scored.own[a, d, j]),
                peer=_f(scored.peer[a, d, j]),
                org=_f(scored.org[d, j]),
                contribution=float(scored.evidence[a, d, j]),
                detail=detail,
            )
        )
    for k, f in enumerate(CUSUM_ON):
        c = float(scored.cusum[a, d, k]) - scored.cusum_h
        if c > 0:
            j = idx[f]
            out.append(
                Reason(
                    feature=f"cusum_{f}",
                    value=float(x[j]),
                    own=_f(scored.own[a, d, j]),
                    peer=_f(scored.peer[a, d, j]),
                    org=_f(scored.org[d, j]),
                    contribution=c,
                    detail="cumulative excess over the own baseline (growth over days)",
                )
            )
    for k, f in enumerate(CUSUM_ON):
        g = float(scored.growth[a, d, k]) - scored.growth_allow
        if g > 0:
            j = idx[f]
            out.append(
                Reason(
                    feature=f"growth_{f}",
                    value=float(scored.growth[a, d, k]),
                    own=_f(scored.own[a, d, j]),
                    peer=_f(scored.peer[a, d, j]),
                    org=_f(scored.org[d, j]),
                    contribution=g,
                    detail="moving-sum z of the daily excess over the recent days",
                )
            )
    carried = float(scored.risk[a, d] - scored.evidence[a, d].sum())
    if carried >= 0.5:
        out.append(
            Reason(
                feature="risk_carried",
                value=carried,
                own=None,
                peer=None,
                org=None,
                contribution=carried,
                detail="decayed evidence from earlier days in the risk window",
            )
        )
    if scored.leaving[a, d]:
        out.append(
            Reason(
                feature="leaving",
                value=1.0,
                own=None,
                peer=None,
                org=None,
                contribution=0.0,
                detail="HR signal: leaving date near; evidence weighted up",
            )
        )
    return out


def _stream_reason(
    scored: Scored, a: int, d: int, kind: int, value: float, config: MonitorConfig
) -> list[Reason]:
    """The crossed window sum against its baselines (daily window maxima) and threshold; only
    what was known at the crossing, not the rest of the day."""
    f = STREAM_KINDS[kind]
    j = scored.features.index(f)
    thr = float(scored.thresholds[a, d, kind])
    return [
        Reason(
            feature=f,
            value=value,
            own=_f(scored.own[a, d, j]),
            peer=_f(scored.peer[a, d, j]),
            org=_f(scored.org[d, j]),
            contribution=value / thr,
            detail=f"{value:.0f} {('customers', 'rows')[kind]} in "
            f"{config.stream_window_seconds} s, threshold {thr:.0f}",
        )
    ]


def _alert(
    scored: Scored,
    samples: dict[tuple[str, int], tuple[list[int], list[int]]],
    a: int,
    d: int,
    rule: str,
    raised: datetime,
    value: float,
    seqs: tuple[int, ...],
    config: MonitorConfig,
    reasons: list[Reason],
) -> Alert:
    actor = scored.actors[a]
    day = EPOCH + timedelta(days=scored.day0 + d)
    cust, cseq = samples.get((actor, scored.day0 + d), ([], []))
    if rule == "stream" and seqs:
        last = max(seqs)
        pairs = [(c, q) for c, q in zip(cust, cseq, strict=True) if q <= last]
        cust, cseq = [c for c, _ in pairs], [q for _, q in pairs]
    links = sorted(set(seqs) | set(cseq))[: config.max_listed_events]
    return Alert(
        alert_id=alert_id(actor, day, rule),
        actor=actor,
        day=day,
        raised_at=raised,
        score=value,
        rule=rule,
        reasons=tuple(reasons),
        customers=tuple(cust[: config.max_listed_customers]),
        events=tuple(links),
        peer_group=scored.groups[a],
    )


def _f(v: float) -> float | None:
    return None if np.isnan(v) else float(v)
