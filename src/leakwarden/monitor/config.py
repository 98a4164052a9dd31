"""The monitor's settings and its output types: :class:`MonitorConfig`, :class:`Reason`,
:class:`Alert`, :class:`Disposition`, :class:`MonitorResult`. Plain frozen dataclasses, shared
by the batch detector, the stream rules, the alert sinks and the CLI (import them from
:mod:`leakwarden.monitor.detector`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

import pyarrow as pa


@dataclass(frozen=True)
class MonitorConfig:
    """Budget, windows and thresholds. Every default is documented where it is used.

    Budget: at most ``max(min_daily_alerts, floor(budget * active_staff))`` alerts per day, where
    active staff are the actors with at least one event that day. Stream alerts (bulk pulls) count
    against the same budget and come first.
    """

    budget: float = 0.001  # alerts per active member of staff per day
    min_daily_alerts: int = 1  # so a small organisation still gets its top alert each day
    min_score: float = 3.0  # no alert below this, however much budget is left
    timezone: str = "UTC"  # for days, working hours and weekends
    work_start_hour: int = 7  # working hours are [start, end) on Monday-Friday, local time
    work_end_hour: int = 20
    # Own baselines: the ``baseline_days`` days ending ``baseline_lag_days`` before the scored
    # day, so a recent change (and an attacker's own recent history) does not enter its baseline.
    baseline_days: int = 56
    baseline_lag_days: int = 14
    min_baseline_days: int = 5  # fewer active days than this: the own baseline is not used
    baseline_refresh_days: int = 7  # own baselines are recomputed this often (weekly)
    # Rolling risk ledger: daily evidence decays with this half-life and is summed over the window.
    risk_half_life_days: float = 7.0
    risk_window_days: int = 28
    # CUSUM on robust z-scores of the volume features: allowance k and the cap of the sum.
    cusum_k: float = 1.0
    cusum_h: float = 4.0  # only the part of a CUSUM above this enters the score
    cusum_cap: float = 30.0
    cusum_leak: float = 0.8  # C = max(0, leak * C + z - k): forgets within days when z is low
    # CUSUM inputs are clipped to [-cusum_clip, cusum_clip]: with clip - k < cusum_h no single
    # day (a campaign export, a busy route) can raise it alone; growth takes several days
    cusum_clip: float = 3.0
    # Moving-sum z of the same clipped inputs over growth_days: its part above growth_allow
    # enters the score (a steady excess over weeks; scoring._moving_z).
    growth_days: int = 14
    growth_allow: float = 3.0
    # Per-feature evidence: -log10 of the share of peer actor-days at least as high, minus this
    # allowance (2: rarer than 1 in 100 peer-days); see scoring.tail_surprise.
    surprise_allow: float = 2.0
    min_pool: int = 30  # fewer peer actor-days than this: the organisation's pool instead
    leaving_days: int = 60  # the HR signal applies this long before the leaving date (and after)
    leaving_factor: float = 1.5  # evidence multiplier while the HR signal applies
    ticket_grace_days: int = 3  # a ticket explains access up to this long after it closed
    # Stream rules (bulk pulls): sums of customers and of rows over a sliding window.
    stream_window_seconds: int = 300
    stream_factor: float = 3.0  # times the higher of own and peer baseline daily window maxima
    stream_min_customers: int = 1000  # absolute floors of the stream thresholds
    stream_min_rows: int = 5000
    suppress_days: int = 14  # an alerted actor is not re-alerted this long (see alerting)
    benign_days: int = 30  # the same after an analyst closed an alert as benign
    max_listed_customers: int = 50  # unexplained customers listed in an alert
    max_listed_events: int = 50  # audit event seqs linked from an alert

    def __post_init__(self) -> None:
        if not 0 < self.budget <= 1:
            raise ValueError(f"MonitorConfig.budget must be in (0, 1], got {self.budget}")
        if not 0 <= self.work_start_hour < self.work_end_hour <= 24:
            raise ValueError("MonitorConfig: work hours must satisfy 0 <= start < end <= 24")
        for name in ("baseline_days", "risk_window_days", "stream_window_seconds"):
            if getattr(self, name) <= 0:
                raise ValueError(f"MonitorConfig.{name} must be positive")
        if self.baseline_lag_days < 0 or self.min_baseline_days < 1:
            raise ValueError("MonitorConfig: baseline_lag_days >= 0 and min_baseline_days >= 1")


DISPOSITIONS = ("true_positive", "benign", "duplicate", "inconclusive")


@dataclass(frozen=True)
class Disposition:
    """An analyst's verdict on an alert, fed back into later runs: the actor is not alerted again
    by the same rule for ``suppress_days`` (``benign_days`` when benign) after the alert's day
    unless the score reaches twice the closed alert's."""

    actor: str
    day: date
    rule: str
    disposition: str
    score: float

    def __post_init__(self) -> None:
        if self.disposition not in DISPOSITIONS:
            raise ValueError(
                f"disposition {self.disposition!r}: expected one of {', '.join(DISPOSITIONS)}"
            )


@dataclass(frozen=True)
class Reason:
    """One feature's evidence: its value that day against the three robust baselines (median of
    the actor's own lagged history, of their peer group that day, of the whole organisation that
    day; None when there is none), and its contribution to the score."""

    feature: str
    value: float
    own: float | None
    peer: float | None
    org: float | None
    contribution: float
    detail: str = ""


@dataclass(frozen=True)
class Alert:
    """One alert. ``rule`` is ``stream`` (sliding-window volume, raised at the crossing event's
    time) or ``daily`` (risk ledger, raised when the day is scored). ``customers``: a sample of the
    unexplained customer ids; ``events``: audit event seqs (links to the ledger)."""

    alert_id: str
    actor: str
    day: date
    raised_at: datetime
    score: float
    rule: str
    reasons: tuple[Reason, ...]
    customers: tuple[int, ...] = ()
    events: tuple[int, ...] = ()
    peer_group: str = ""
    extra: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class MonitorResult:
    """``alerts``; ``scores``: actor, day, score per active actor-day; ``features``: the per
    actor-day features the scores came from (also the history a stream monitor starts from)."""

    alerts: list[Alert]
    scores: pa.Table
    features: pa.Table
