"""Scoring the insider monitor against the simulator's ground truth (pure NumPy, no sklearn).

* :func:`roc_auc` (Mann-Whitney U with mid-ranks for ties) and :func:`average_precision` (the
  step-wise PR-AUC of scikit-learn's ``average_precision_score``: tied scores form one threshold);
* :func:`wilson` intervals for proportions, :func:`bootstrap_ci` for medians;
* :func:`insider_outcomes`: per insider, the first true alert, time to detect and the records
  taken before it; :func:`alert_truth`: which alerts were true.

An alert is *true* when its actor is an injected insider and it was raised at or after the
insider's first malicious event and no later than ``grace`` after the last one.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

F64 = npt.NDArray[np.float64]


def _rank_average(x: F64) -> F64:
    """1-based ranks, ties given the mean of their ranks."""
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    ranks = np.empty(len(x), dtype=np.float64)
    # boundaries of runs of equal values
    edges = np.flatnonzero(np.diff(xs) != 0) + 1
    starts = np.concatenate([[0], edges])
    ends = np.concatenate([edges, [len(xs)]])
    mid = (starts + ends + 1) / 2.0  # mean of ranks starts+1 .. ends
    ranks[order] = np.repeat(mid, ends - starts)
    return ranks


def _check(labels: npt.ArrayLike, scores: npt.ArrayLike) -> tuple[npt.NDArray[np.bool_], F64]:
    y = np.asarray(labels).astype(np.bool_)
    s = np.asarray(scores, dtype=np.float64)
    if y.shape != s.shape or y.ndim != 1:
        raise ValueError(f"labels and scores must be 1-d of one length, got {y.shape}, {s.shape}")
    if np.isnan(s).any():
        raise ValueError("scores contain NaN")
    if y.all() or not y.any():
        raise ValueError("need at least one positive and one negative label")
    return y, s


def roc_auc(labels: npt.ArrayLike, scores: npt.ArrayLike) -> float:
    """Area under the ROC curve: P(score of a positive > score of a negative) + 0.5 P(tie)."""
    y, s = _check(labels, scores)
    ranks = _rank_average(s)
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    u = ranks[y].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def average_precision(labels: npt.ArrayLike, scores: npt.ArrayLike) -> float:
    """Sum over distinct score thresholds (high to low) of (recall gain) x (precision there)."""
    y, s = _check(labels, scores)
    order = np.argsort(-s, kind="mergesort")
    ys, ss = y[order], s[order]
    last = np.concatenate([np.flatnonzero(np.diff(ss) != 0), [len(ss) - 1]])  # end of each tie
    tp = np.cumsum(ys)[last].astype(np.float64)
    predicted = (last + 1).astype(np.float64)
    precision = tp / predicted
    recall = tp / ys.sum()
    gain = np.diff(np.concatenate([[0.0], recall]))
    return float((gain * precision).sum())


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for k successes in n trials (0, 1 when n == 0)."""
    if n <= 0:
        return 0.0, 1.0
    p = k / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return max(0.0, centre - half), min(1.0, centre + half)


def bootstrap_ci(
    values: Sequence[float],
    stat: Callable[[F64], float] = lambda v: float(np.median(v)),
    n: int = 2000,
    seed: int = 7,
    level: float = 0.95,
) -> tuple[float, float] | None:
    """Percentile bootstrap interval of ``stat`` (None for no values)."""
    v = np.asarray(values, dtype=np.float64)
    if not len(v):
        return None
    rng = np.random.default_rng(seed)
    samples = v[rng.integers(0, len(v), size=(n, len(v)))]
    stats = np.array([stat(row) for row in samples])
    a = (1 - level) / 2
    return float(np.quantile(stats, a)), float(np.quantile(stats, 1 - a))


@dataclass(frozen=True)
class AlertView:
    """What scoring needs of an alert (built from :class:`leakwarden.monitor.config.Alert`)."""

    actor: str
    day: dt.date
    raised_at: dt.datetime
    score: float
    rule: str


@dataclass(frozen=True)
class InsiderOutcome:
    actor: str
    family: str
    seed: int
    first_event: dt.datetime
    last_event: dt.datetime
    records_total: int  # distinct customers taken over the whole activity
    detected_at: dt.datetime | None  # first true alert
    rule: str | None
    records_before: int  # distinct customers taken up to the first true alert (all if missed)

    @property
    def delay_seconds(self) -> float | None:
        if self.detected_at is None:
            return None
        return (self.detected_at - self.first_event).total_seconds()

    def detected_within(self, seconds: float | None) -> bool:
        d = self.delay_seconds
        return d is not None and (seconds is None or d <= seconds)


def malicious_events(events: pa.Table, malicious: npt.NDArray[np.bool_]) -> pa.Table:
    """The malicious rows (actor, ts, customer_ids, customers), in time order."""
    mal = events.filter(pa.array(malicious)).select(["actor", "ts", "customer_ids", "customers"])
    return mal.sort_by([("ts", "ascending")])


def insider_outcomes(
    insiders: pa.Table,
    malicious: pa.Table,
    alerts: Sequence[AlertView],
    seed: int,
    grace: dt.timedelta = dt.timedelta(days=14),
) -> list[InsiderOutcome]:
    """One outcome per insider with malicious events (``malicious`` from
    :func:`malicious_events`)."""
    by_actor: dict[str, list[AlertView]] = {}
    for a in sorted(alerts, key=lambda a: a.raised_at):
        by_actor.setdefault(a.actor, []).append(a)
    out: list[InsiderOutcome] = []
    actors = malicious.column("actor")
    for row in insiders.to_pylist():
        mine = malicious.filter(pc.equal(actors, row["actor"]))
        if not mine.num_rows:
            continue
        ts = mine.column("ts").to_pylist()
        first, last = ts[0], ts[-1]
        true = [a for a in by_actor.get(row["actor"], []) if first <= a.raised_at <= last + grace]
        hit = true[0] if true else None
        ids = mine.column("customer_ids").to_pylist()
        counts = mine.column("customers").to_pylist()
        seen: set[int] = set()
        unlisted = 0
        before = None
        for t, lst, c in zip(ts, ids, counts, strict=True):
            if hit is not None and before is None and t > hit.raised_at:
                before = len(seen) + unlisted
            seen.update(lst)
            unlisted += max(0, c - len(lst))
        total = len(seen) + unlisted
        out.append(
            InsiderOutcome(
                actor=row["actor"],
                family=row["family"],
                seed=seed,
                first_event=first,
                last_event=last,
                records_total=total,
                detected_at=hit.raised_at if hit else None,
                rule=hit.rule if hit else None,
                records_before=total if before is None else before,
            )
        )
    return out


def alert_truth(
    alerts: Sequence[AlertView], outcomes: Sequence[InsiderOutcome], grace: dt.timedelta
) -> list[str | None]:
    """Per alert: the family of the insider it truly caught, or None (a false alert)."""
    spans = {o.actor: o for o in outcomes}
    out: list[str | None] = []
    for a in alerts:
        o = spans.get(a.actor)
        ok = o is not None and o.first_event <= a.raised_at <= o.last_event + grace
        out.append(o.family if ok and o is not None else None)
    return out


def user_day_labels(
    scores: pa.Table, malicious: pa.Table, insiders: pa.Table
) -> tuple[F64, list[str | None], npt.NDArray[np.bool_]]:
    """Align the detector's actor-day scores with the truth: (score, family of a malicious
    actor-day or None, is the actor an insider at all). Days use UTC dates."""
    fam = dict(
        zip(
            insiders.column("actor").to_pylist(), insiders.column("family").to_pylist(), strict=True
        )
    )
    days = pc.cast(pc.cast(malicious.column("ts"), pa.timestamp("us")), pa.date32())
    bad = {
        (a, d) for a, d in zip(malicious.column("actor").to_pylist(), days.to_pylist(), strict=True)
    }
    s = scores.column("score").to_numpy(zero_copy_only=False).astype(np.float64)
    actors = scores.column("actor").to_pylist()
    sdays = scores.column("day").to_pylist()
    family = [fam[a] if (a, d) in bad else None for a, d in zip(actors, sdays, strict=True)]
    insider = np.array([a in fam for a in actors], dtype=np.bool_)
    return s, family, insider
