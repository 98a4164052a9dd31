"""The monitor's entry points: the contract the simulator and the benchmark code against.

Batch::

    result = run_monitor(events, context, MonitorConfig())
    result.alerts   # list[Alert], at most the daily budget per day, each with its reasons
    result.scores   # pa.Table: actor (string), day (date32), score (float64): one row per
                    # active actor-day, for user-day ROC-AUC / PR-AUC
    result.features # pa.Table: the per actor-day features the scores came from

``events`` is a ``pa.Table`` or an iterable of ``pa.RecordBatch`` of
:data:`~leakwarden.monitor.events.EVENT_SCHEMA` (extra columns ignored). Batches must come in
time order up to the stream window (the ledger's order is); inside a batch any order. Every day
that has events is scored; own baselines use only days before the scored day (lagged, see
:class:`MonitorConfig`), so the result for day D does not depend on later events, and
``run_monitor`` over a history equals scoring each day as it ends.

Stream (fast rules: bulk pulls alert within the stream window, default 5 minutes)::

    stream = StreamMonitor(context, config, history=result)  # baselines from a run, or None
    for batch in live_batches:
        for alert in stream.observe(batch):
            ...

``run_monitor`` applies the same stream rules to its input, so its alerts include the stream
alerts with ``raised_at`` set to the time of the event that crossed the threshold.

Alert time for daily alerts: the end of the day (local midnight in ``config.timezone``).

Dask: :func:`leakwarden.monitor.distributed.run_monitor_dask` takes partitions of events split
by actor and returns the same :class:`MonitorResult`.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pyarrow as pa

from leakwarden.monitor.alerting import select_alerts
from leakwarden.monitor.config import Alert, Disposition, MonitorConfig, MonitorResult, Reason
from leakwarden.monitor.events import Context
from leakwarden.monitor.features import Aggregates, build_aggregates
from leakwarden.monitor.scoring import Scored, score
from leakwarden.monitor.stream import StreamMonitor

__all__ = [
    "Alert",
    "Disposition",
    "MonitorConfig",
    "MonitorResult",
    "Reason",
    "StreamMonitor",
    "run_monitor",
]

SCORE_SCHEMA = pa.schema(
    [
        pa.field("actor", pa.string(), nullable=False),
        pa.field("day", pa.date32(), nullable=False),
        pa.field("score", pa.float64(), nullable=False),
    ]
)


def run_monitor(
    events: pa.Table | Iterable[pa.RecordBatch],
    context: Context,
    config: MonitorConfig | None = None,
    *,
    dispositions: Iterable[Disposition] = (),
) -> MonitorResult:
    """Score every active actor-day of ``events`` and raise the budgeted alerts.
    ``dispositions``: analysts' verdicts on earlier alerts (suppression)."""
    cfg = config or MonitorConfig()
    return result_from_aggregates(
        build_aggregates(events, context, cfg), context, cfg, dispositions
    )


def result_from_aggregates(
    agg: Aggregates,
    context: Context,
    config: MonitorConfig,
    dispositions: Iterable[Disposition] = (),
) -> MonitorResult:
    """Stage two (baselines, scores, alerts) over stage one's aggregates (the Dask path's join)."""
    scored = score(agg, context, config)
    alerts = select_alerts(scored, agg, config, dispositions)
    return MonitorResult(alerts=alerts, scores=scores_table(scored), features=scored.table)


def scores_table(scored: Scored) -> pa.Table:
    a, d = np.nonzero(~np.isnan(scored.score))
    names = pa.array(scored.actors, pa.string())
    return pa.table(
        {
            "actor": names.take(pa.array(a)),
            "day": pa.array((d + scored.day0).astype(np.int32)).cast(pa.date32()),
            "score": pa.array(scored.score[a, d]),
        },
        schema=SCORE_SCHEMA,
    )
