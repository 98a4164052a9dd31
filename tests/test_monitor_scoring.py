"""Stage two of the monitor: robust statistics against NumPy, the risk ledger and CUSUM by hand,
lagged own baselines that an attacker's recent days do not move."""

from __future__ import annotations

import warnings

import numpy as np

from leakwarden.monitor.config import MonitorConfig
from leakwarden.monitor.features import build_aggregates
from leakwarden.monitor.scoring import (
    _cusum,
    _moving_z,
    _risk,
    baseline_window,
    score,
    sorted_stats,
)
from monitor_world import World


def test_sorted_stats_match_numpy_nan_functions() -> None:
    rng = np.random.default_rng(3)
    x = rng.poisson(5, size=(40, 30, 3)).astype(float)
    x[rng.random(x.shape) < 0.3] = np.nan
    x[0, :, :] = np.nan  # a row with no values at all
    med, mad, q = sorted_stats(x, axis=1, quantile=0.9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ref_med = np.nanmedian(x, axis=1)
        ref_mad = np.nanmedian(np.abs(x - ref_med[:, None, :]), axis=1)
        ref_q = np.nanquantile(x, 0.9, axis=1)
    np.testing.assert_allclose(med, ref_med, equal_nan=True)
    np.testing.assert_allclose(mad, ref_mad, equal_nan=True)
    np.testing.assert_allclose(q, ref_q, equal_nan=True)


def test_risk_ledger_decays_by_half_life_and_forgets_after_the_window() -> None:
    cfg = MonitorConfig(risk_half_life_days=1.0, risk_window_days=3)
    daily = np.array([[8.0, 0.0, 0.0, 0.0, 4.0]])
    # day 0: 8; day 1: 4; day 2: 2; day 3: the 8 is 3 days old, out of the window: 0;
    # day 4: 4
    np.testing.assert_allclose(_risk(daily, cfg)[0], [8, 4, 2, 0, 4], atol=1e-12)


def test_cusum_accumulates_excess_over_k_only_on_active_days_and_leaks() -> None:
    cfg = MonitorConfig(cusum_k=1.0, cusum_cap=5.0, cusum_leak=0.5)
    z = np.array([[[3.0], [3.0], [9.0], [0.0], [-4.0], [2.5]]])
    active = np.array([[True, True, False, True, True, True]])
    # 0+3-1 = 2; 1+3-1 = 3; (inactive: stays 3); 1.5+0-1 = 0.5; 0.25-4-1 -> 0; 0+2.5-1 = 1.5
    np.testing.assert_allclose(_cusum(z, active, cfg)[0, :, 0], [2, 3, 3, 0.5, 0, 1.5])
    plain = MonitorConfig(cusum_k=1.0, cusum_cap=5.0, cusum_leak=1.0)
    z2 = np.array([[[4.0], [4.0], [4.0]]])
    # 3, 6 -> 5 (cap), 5 + 3 -> 5
    np.testing.assert_allclose(_cusum(z2, np.ones((1, 3), dtype=bool), plain)[0, :, 0], [3, 5, 5])


def test_moving_z_sums_the_recent_active_days_over_the_root_of_their_number() -> None:
    z = np.array([[[2.0], [2.0], [5.0], [2.0], [-1.0]]])
    active = np.array([[True, True, False, True, True]])
    # window of 3 calendar days: day0 2/1; day1 4/sqrt2; day2 inactive: 0;
    # day3 (days 1-3, 2 active) 4/sqrt2; day4 (days 2-4, 2 active) 1/sqrt2
    r2 = np.sqrt(2.0)
    np.testing.assert_allclose(_moving_z(z, active, 3)[0, :, 0], [2, 4 / r2, 0, 4 / r2, 1 / r2])


def test_baseline_window_is_lagged_and_fixed_within_a_refresh_block() -> None:
    cfg = MonitorConfig(baseline_days=28, baseline_lag_days=14, baseline_refresh_days=7)
    assert baseline_window(35, cfg) == (0, 21)
    assert baseline_window(41, cfg) == (0, 21)
    assert baseline_window(70, cfg) == (28, 56)
    assert baseline_window(10, cfg)[1] <= 0  # nothing before the lag yet


def test_an_attackers_recent_days_do_not_enter_their_own_baseline() -> None:
    """Snooping from day 42 onwards (30 a day): on day 53 (11 days in, inside the 14-day lag)
    the own baseline of unexplained customers is still the clean one, and the evidence is as
    high as on the first day; the same actor's baseline before the attack matches a run without
    the attack."""
    cfg = MonitorConfig()
    clean = World(n=20, days=56, seed=11)
    attacked = World(n=20, days=56, seed=11)
    for d in range(42, 56):
        if d % 7 < 5:
            attacked.snoop("e3", d, 30)
    s_clean = score(build_aggregates(clean.table(), clean.context(), cfg), clean.context(), cfg)
    s_att = score(
        build_aggregates(attacked.table(), attacked.context(), cfg), attacked.context(), cfg
    )
    a = s_att.actors.index("e3")
    j = s_att.features.index("unexplained_customers")
    d_first, d_late = 42, 53  # day indices (day 0 is the first day with events)
    assert s_att.day0 == s_clean.day0
    assert s_att.own[a, d_late, j] == s_clean.own[a, d_late, j]
    assert s_att.own[a, d_late, j] <= 1.0
    # never seen among peers (20 agents' days): -log10(1/(1+n)) + log10(30 / peer max) - 2 > 1
    assert s_att.evidence[a, d_late, j] >= s_att.evidence[a, d_first, j] > 1.0
    # and the attacker is the top score of the organisation on those days
    for d in (d_first, d_late):
        col = np.nan_to_num(s_att.score[:, d], nan=-1.0)
        assert int(np.argmax(col)) == a


def test_features_needing_the_customers_table_are_left_out_without_it() -> None:
    w = World(n=6, days=8)
    s = score(
        build_aggregates(w.table(), w.context(), MonitorConfig()), w.context(), MonitorConfig()
    )
    assert "vip_unexplained" not in s.features
    assert "unexplained_customers" in s.features
