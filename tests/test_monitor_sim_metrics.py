"""The monitor benchmark's scoring helpers against hand-worked values and scikit-learn's documented
examples (sklearn itself is not installed)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest
from benchmarks.monitor_metrics import (
    AlertView,
    alert_truth,
    average_precision,
    bootstrap_ci,
    insider_outcomes,
    roc_auc,
    wilson,
)

from leakwarden.monitor.events import TS


def test_roc_auc_by_hand() -> None:
    # positives 0.9 and 0.7, negatives 0.8 and 0.1: pairs won 0.9>0.8, 0.9>0.1, 0.7>0.1; lost
    # 0.7<0.8 -> 3 of 4.
    assert roc_auc([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1]) == pytest.approx(0.75)


def test_roc_auc_ties_count_half() -> None:
    # pairs: (0.5, 0.5) tie = 0.5, (0.5, 0.2) = 1, (0.2, 0.5) = 0, (0.2, 0.2) tie = 0.5 -> 2/4
    assert roc_auc([1, 0, 1, 0], [0.5, 0.5, 0.2, 0.2]) == pytest.approx(0.5)
    assert roc_auc([0, 1], [1.0, 2.0]) == 1.0
    assert roc_auc([1, 0], [1.0, 2.0]) == 0.0


def test_sklearn_documented_example() -> None:
    # scikit-learn's docs: y=[0,0,1,1], scores [0.1,0.4,0.35,0.8] -> ROC-AUC 0.75, AP 0.83
    y, s = [0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]
    assert roc_auc(y, s) == pytest.approx(0.75)
    assert average_precision(y, s) == pytest.approx(0.8333333333)


def test_average_precision_by_hand() -> None:
    # ranked 0.9(+), 0.8(-), 0.7(+), 0.1(-): recall steps 0.5 at precision 1 and 0.5 at 2/3
    assert average_precision([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1]) == pytest.approx(0.5 + 1 / 3)
    # one tied threshold of 2 (1 positive) then all four: 0.5*0.5 + 0.5*0.5
    assert average_precision([1, 0, 1, 0], [0.5, 0.5, 0.2, 0.2]) == pytest.approx(0.5)
    # perfect ranking
    assert average_precision([0, 1, 1], [0.1, 0.8, 0.9]) == pytest.approx(1.0)


def test_auc_refuses_one_class_and_nan() -> None:
    with pytest.raises(ValueError, match="positive and one negative"):
        roc_auc([1, 1], [0.1, 0.2])
    with pytest.raises(ValueError, match="NaN"):
        average_precision([1, 0], [np.nan, 0.2])


def test_wilson_by_hand() -> None:
    # p=0.5, n=10: centre 0.5, half 1.96*sqrt(0.025+0.009604)/1.38416 = 0.26341
    lo, hi = wilson(5, 10)
    assert lo == pytest.approx(0.23659, abs=1e-4)
    assert hi == pytest.approx(0.76341, abs=1e-4)
    assert wilson(0, 0) == (0.0, 1.0)
    assert wilson(10, 10)[1] == 1.0


def test_bootstrap_of_constant_is_constant() -> None:
    assert bootstrap_ci([3.0, 3.0, 3.0]) == (3.0, 3.0)
    assert bootstrap_ci([]) is None


def _ts(h: int, m: int = 0) -> dt.datetime:
    return dt.datetime(2026, 3, 2, h, m, tzinfo=dt.UTC)


def test_outcomes_and_alert_truth_by_hand() -> None:
    insiders = pa.table({"actor": ["a", "b"], "family": ["bulk", "snooping"]})
    mal = pa.table(
        {
            "actor": ["a", "a", "a", "b"],
            "ts": pa.array([_ts(10), _ts(10, 5), _ts(11), _ts(12)], type=TS),
            "customer_ids": pa.array([[1, 2], [2, 3], [4], [9]], type=pa.large_list(pa.int64())),
            "customers": [2, 2, 1, 1],
        }
    )
    alerts = [
        AlertView("a", dt.date(2026, 3, 2), _ts(9), 5.0, "daily"),  # before the first event
        AlertView("a", dt.date(2026, 3, 2), _ts(10, 7), 9.0, "stream"),  # true, after 2 events
        AlertView("c", dt.date(2026, 3, 2), _ts(13), 4.0, "daily"),  # not an insider
    ]
    out = insider_outcomes(insiders, mal, alerts, seed=1)
    a, b = out
    assert a.detected_at == _ts(10, 7) and a.rule == "stream"
    assert a.delay_seconds == 420.0
    assert a.records_before == 3  # customers 1, 2, 3 before 10:07; 4 came later
    assert a.records_total == 4
    assert b.detected_at is None and b.records_before == 1 and not b.detected_within(None)
    assert a.detected_within(300) is False and a.detected_within(600) is True
    assert alert_truth(alerts, out, dt.timedelta(days=1)) == [None, "bulk", None]
