"""Stage two of the batch detector: baselines, evidence, the risk ledger and stream thresholds.

Windows: an actor's *own baseline* is their active days in the ``baseline_days`` days ending
``baseline_lag_days`` before the scored day (recomputed every ``baseline_refresh_days``; unused
with fewer than ``min_baseline_days`` days). The lag keeps an attacker's recent days out of their
own baseline, and rank statistics keep out a minority of older ones. Peer groups: department +
role (:mod:`leakwarden.monitor.peers`).

Per active actor-day and scored feature (:data:`SCORED`), the evidence is a tail measure
(:func:`tail_surprise`): ``-log10`` of the share of the peer group's actor-days in the same
window with a value at least as high (the organisation's pool for small groups), scaled down by
how often the actor themselves reached it in their own baseline; minus ``surprise_allow`` and
floored at 0. Heavy-tailed, spiky features (exports, window maxima) are judged against how often
peers do such things, not against a median that is 0, and an attacker's own history can only
lower their evidence by what their peers' history allows.

Daily evidence ``S = sum_f evidence_f``; the risk ledger ``R_d = sum over the last
risk_window_days of S * 0.5 ** (age / risk_half_life_days)``; CUSUMs
``C = min(cusum_cap, max(0, cusum_leak * C + z - cusum_k))`` over active days, where ``z`` is,
for unexplained customers (:data:`CUSUM_ON`), the day's excess over the peer group's median that
day (weekends, holidays and busy days move everyone) against the actor's own *mean* excess
(winsorised at the own 90th percentile: a count's median sits below its mean, which would make
the sum drift up), scaled by ``max(1.4826 MAD, sqrt(own mean + 1))``: growth over weeks that no
single day shows; inputs are clipped at ``cusum_clip`` so no single day raises it alone, and the
leak lets it fall back within days once behaviour is normal again (a plain CUSUM only loses
``k`` a day, so a closed case would sit at the top of the ranking for weeks). Beside it, ``G``:
the moving-sum z of the same inputs over ``growth_days`` (a steady small excess adds up).
Score = ``(R + max(0, C - cusum_h) + max(0, G - growth_allow)) * leaving``, where ``leaving`` is
``leaving_factor`` while the HR signal applies, else 1.

Reasons show each feature against the own median (lagged window), the peer group's median that
day and the organisation's median that day (:class:`Scored` ``own``, ``peer``, ``org``).

Stream thresholds per actor-day (:func:`window_thresholds`, shared with the stream monitor):
``max(floor, stream_factor * max(own q90, peer q99.9))``: the actor's 90th percentile of daily
window maxima over the own-baseline window, and the 99.9th percentile of the peer group's
pooled over that window (a legitimate bulk job that peers run now and then sets the bar; one
outlier does not).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from leakwarden.monitor.config import MonitorConfig
from leakwarden.monitor.events import Context
from leakwarden.monitor.features import COUNTS, Aggregates
from leakwarden.monitor.peers import peer_groups, peer_rare_counts

F64 = npt.NDArray[np.float64]

RARE = {
    "rare_channel_events": "channels",
    "rare_dataset_events": "datasets",
    "rare_district_customers": "districts",
    "rare_segment_customers": "segments",
}
NEEDS_CUSTOMERS = {
    "vip_unexplained",
    "neighbour_unexplained",
    "rare_district_customers",
    "rare_segment_customers",
}
SCORED = (
    "rows",
    "distinct_customers",
    "unexplained_customers",
    "exports",
    "export_rows",
    "denied",
    "off_hours_events",
    "off_hours_customers",
    "vip_unexplained",
    "coworker_unexplained",
    "neighbour_unexplained",
    "rare_channel_events",
    "rare_dataset_events",
    "rare_district_customers",
    "rare_segment_customers",
    "win_customers_max",
    "win_rows_max",
)
# Cumulative detectors run on unexplained customers only: distinct customers legitimately shift
# for weeks (a new route, a busier queue), and on the simulated company a CUSUM on them raised
# more false alerts than it found insiders; their growth still shows in the daily evidence.
CUSUM_ON = ("unexplained_customers",)
WINDOW_FEATURES = ("win_customers_max", "win_rows_max")
RARE_SHARE = 0.05
MIN_GROUP = 5
MIN_PEERS = 5


@dataclass
class Scored:
    """Everything stage two knows, as dense (actor, day[, feature]) arrays."""

    actors: list[str]
    groups: list[str]
    day0: int  # day number (days since the epoch) of column 0
    features: list[str]
    x: F64  # (A, D, F) values, NaN when inactive
    own: F64  # (A, D, F) own-baseline medians, NaN when none
    peer: F64  # (A, D, F) peer medians (organisation when too few peers)
    org: F64  # (D, F)
    evidence: F64  # (A, D, F) e_f - z_allow, clipped at 0
    cusum: F64  # (A, D, len(CUSUM_ON))
    growth: F64  # (A, D, len(CUSUM_ON)): moving-sum z over growth_days
    growth_allow: float
    cusum_h: float  # the part of a CUSUM above this enters the score
    risk: F64  # (A, D)
    score: F64  # (A, D), NaN when inactive
    leaving: npt.NDArray[np.bool_]  # (A, D)
    thresholds: F64  # (A, D, 2): stream thresholds for customers and rows
    table: pa.Table  # actor, day, and every feature (the public ``features`` table)


def score(agg: Aggregates, context: Context, config: MonitorConfig) -> Scored:
    table = _feature_table(agg, context)
    feats = scored_features(context)
    actors, day0, x = build_cube(table, feats)
    n_a, n_days, n_f = x.shape
    groups = peer_groups(context.employees, pa.array(actors, pa.string())).to_pylist()

    own, _, _, own_mean = _own_baselines(x, config)
    peer, _, _, org = _peer_baselines(x, groups)
    surprise = tail_surprise(x, groups, config)
    leaving = _leaving(context, actors, day0, n_days, config)
    factor = np.where(leaving, config.leaving_factor, 1.0)
    evidence = np.maximum(surprise - config.surprise_allow, 0.0)
    active = ~np.isnan(x[:, :, 0]) if n_f else np.zeros((n_a, n_days), dtype=bool)
    evidence[~active] = 0.0
    daily = evidence.sum(axis=2)
    risk = _risk(daily, config)
    cus_idx = [feats.index(f) for f in CUSUM_ON]
    # excess over the peer group that day (weekends, holidays and busy days move everyone),
    # against the actor's own usual excess
    u = x[:, :, cus_idx] - peer[:, :, cus_idx]
    _, u_mad, _, u_mean = _own_baselines(u, config)
    scale = np.maximum(1.4826 * u_mad, np.sqrt(np.abs(own_mean[:, :, cus_idx]) + 1.0))
    z_mean = (u - u_mean) / scale
    z_c = np.where(np.isnan(z_mean), 0.0, z_mean)
    z_clip = np.clip(z_c, -config.cusum_clip, config.cusum_clip)
    cusum = _cusum(z_clip, active, config)
    growth = _moving_z(z_clip, active, config.growth_days)
    growth_ev = np.maximum(growth - config.growth_allow, 0.0)
    total = (
        risk + np.maximum(cusum - config.cusum_h, 0.0).sum(axis=2) + growth_ev.sum(axis=2)
    ) * factor
    total[~active] = np.nan
    thresholds = np.zeros((n_a, n_days, 2))
    step = max(1, config.baseline_refresh_days)
    for start in range(0, n_days, step):
        thresholds[:, start : start + step, :] = window_thresholds(x, feats, groups, config, start)[
            :, None, :
        ]
    return Scored(
        actors=actors,
        groups=[str(g) for g in groups],
        day0=day0,
        features=feats,
        x=x,
        own=own,
        peer=peer,
        org=org,
        evidence=evidence,
        cusum=cusum,
        cusum_h=config.cusum_h,
        growth=growth,
        growth_allow=config.growth_allow,
        risk=risk,
        score=total,
        leaving=leaving,
        thresholds=thresholds,
        table=table,
    )


def scored_features(context: Context) -> list[str]:
    return [f for f in SCORED if context.customers is not None or f not in NEEDS_CUSTOMERS]


def build_cube(table: pa.Table, feats: list[str]) -> tuple[list[str], int, F64]:
    """Actors (sorted), the first day number, and the (actor, day, feature) values of a
    features table (NaN where the actor was not active)."""
    actors = sorted(set(table.column("actor").to_pylist()))
    a_idx = np.asarray(
        pc.index_in(table.column("actor"), value_set=pa.array(actors, pa.string()))
    ).astype(np.int64)
    dnum = np.asarray(table.column("day").cast(pa.int32())).astype(np.int64)
    day0 = int(dnum.min()) if len(dnum) else 0
    n_days = int(dnum.max()) - day0 + 1 if len(dnum) else 0
    x = np.full((len(actors), n_days, len(feats)), np.nan)
    for j, f in enumerate(feats):
        x[a_idx, dnum - day0, j] = np.asarray(table.column(f)).astype(np.float64)
    return actors, day0, x


def baseline_window(d: int, config: MonitorConfig) -> tuple[int, int]:
    """Day indices ``[lo, hi)`` of the own baseline used on day index ``d`` (fixed within a
    refresh block); ``hi <= 0`` means none yet."""
    start = d - d % max(1, config.baseline_refresh_days)
    hi = start - config.baseline_lag_days
    return max(0, hi - config.baseline_days), hi


def window_thresholds(
    x: F64, feats: list[str], groups: list[str], config: MonitorConfig, d: int
) -> F64:
    """(actor, 2) stream thresholds (customers, rows) for day index ``d`` (may lie past the
    cube): ``max(floor, stream_factor * max(own q90, peer q99.9))`` over the own-baseline window
    (the own term left out with too few own days). Only days before ``d`` are read."""
    floors = np.array([config.stream_min_customers, config.stream_min_rows], dtype=np.float64)
    n_a = x.shape[0]
    lo, hi = baseline_window(d, config)
    if hi <= 0:  # warm-up: the days before this refresh block, not yet lagged
        lo, hi = 0, d - d % max(1, config.baseline_refresh_days)
    base = np.full((n_a, 2), np.nan)
    if hi > 0 and lo < x.shape[1]:
        win = x[:, lo : min(hi, x.shape[1]), :][:, :, [feats.index(f) for f in WINDOW_FEATURES]]
        _, _, q = sorted_stats(win, axis=1, quantile=0.9)
        assert q is not None
        enough = np.sum(~np.isnan(win[:, :, 0]), axis=1) >= config.min_baseline_days
        base = np.where(enough[:, None], q, 0.0)
        g_arr = np.array(groups, dtype=object)
        for g in sorted(set(groups)):
            members = np.flatnonzero(g_arr == g)
            pooled = win[members].reshape(-1, 2)
            _, _, pq = sorted_stats(pooled, axis=0, quantile=0.999)
            assert pq is not None
            base[members] = np.maximum(base[members], np.nan_to_num(pq, nan=0.0))
    out: F64 = np.maximum(floors, config.stream_factor * np.nan_to_num(base, nan=0.0))
    return out


def tail_surprise(x: F64, groups: list[str], config: MonitorConfig) -> F64:
    """(A, D, F): how rare each value is among the peer group's actor-days of the own-baseline
    window, ``-log10((1 + n_ge) / (1 + n))`` with ``n_ge`` of the ``n`` pooled values at least as
    high (past the pool's maximum, plus ``log10(x / max)``, at most 3); the organisation's pool
    when the group's holds fewer than ``min_pool`` values. Before any lagged history exists (the
    warm-up), the pool is every earlier day, and in the first block the days up to the scored
    one: never a later day. Then scaled down by the actor's own history: times
    ``s_own / max s_own`` where ``s_own`` is the same measure over the actor's own baseline days
    (1 when they never reached the value; small when they often do)."""
    n_d = x.shape[1]
    out = np.zeros_like(x)
    step = max(1, config.baseline_refresh_days)
    g_arr = np.array(groups, dtype=object)
    members_of = [np.flatnonzero(g_arr == g) for g in sorted(set(groups))]
    for start in range(0, n_d, step):
        stop = min(n_d, start + step)
        lo, hi = baseline_window(start, config)
        if hi > 0:
            out[:, start:stop, :] = _block_surprise(
                x[:, lo:hi, :], x[:, start:stop, :], members_of, config, own=True
            )
        elif start > 0:  # warm-up: every earlier day, not yet lagged
            out[:, start:stop, :] = _block_surprise(
                x[:, :start, :], x[:, start:stop, :], members_of, config, own=False
            )
        else:  # the very first days: each against the days up to itself
            for d in range(start, stop):
                out[:, d : d + 1, :] = _block_surprise(
                    x[:, : d + 1, :], x[:, d : d + 1, :], members_of, config, own=False
                )
    return np.nan_to_num(out, nan=0.0)


def _block_surprise(
    hist: F64, cur: F64, members_of: list[npt.NDArray[np.intp]], config: MonitorConfig, own: bool
) -> F64:
    n_f = hist.shape[2]
    org_pools = [np.sort(v[~np.isnan(v)]) for v in (hist[:, :, f] for f in range(n_f))]
    block = np.zeros_like(cur)
    for members in members_of:
        for f in range(n_f):
            pool = hist[members, :, f]
            pool = np.sort(pool[~np.isnan(pool)])
            if len(pool) < config.min_pool:
                pool = org_pools[f]
            block[members, :, f] = _surprise(pool, cur[members, :, f])
    if own:
        n_own = np.sum(~np.isnan(hist[:, :, :1]), axis=1)  # (A, 1)
        with np.errstate(invalid="ignore"):
            ge = np.sum(hist[:, :, None, :] >= cur[:, None, :, :], axis=1)  # (A, B, F)
        s_own = -np.log10((1.0 + ge) / (1.0 + n_own[:, None, :]))
        s_max = np.log10(1.0 + n_own[:, None, :])
        enough = (n_own >= config.min_baseline_days)[:, None, :]
        ratio = np.where(enough, s_own / np.maximum(s_max, 1e-9), 1.0)
        block = block * ratio
    return block


def _surprise(pool: F64, values: F64) -> F64:
    n = len(pool)
    if n == 0:
        return np.zeros_like(values)
    v = np.nan_to_num(values, nan=-np.inf)
    n_ge = n - np.searchsorted(pool, v, side="left")
    s = -np.log10((1.0 + n_ge) / (1.0 + n))
    top = max(float(pool[-1]), 1.0)
    beyond = np.clip(np.log10(np.maximum(v, 1.0) / top), 0.0, 3.0)
    out: F64 = s + np.where(n_ge == 0, beyond, 0.0)
    return out


def _feature_table(agg: Aggregates, context: Context) -> pa.Table:
    t = agg.actor_day
    for name, attr in RARE.items():
        rare = peer_rare_counts(getattr(agg, attr), context.employees, RARE_SHARE, MIN_GROUP)
        key = pc.binary_join_element_wise(t.column("actor"), t.column("day").cast(pa.string()), "|")
        rkey = pc.binary_join_element_wise(
            rare.column("actor"), rare.column("day").cast(pa.string()), "|"
        )
        idx = pc.index_in(key, value_set=rkey)
        t = t.append_column(name, pc.fill_null(pc.take(rare.column("rare"), idx), 0))
    return t


def sorted_stats(
    values: F64, axis: int, quantile: float | None = None
) -> tuple[F64, F64, F64 | None]:
    """NaN-ignoring median, MAD (and a quantile) along ``axis``, by one sort (NaN sorts last);
    NaN where there is no value."""
    s = np.sort(values, axis=axis)
    cnt = np.sum(~np.isnan(values), axis=axis, keepdims=True)
    med = _at(s, cnt, axis, 0.5)
    dev = np.sort(np.abs(values - med), axis=axis)
    mad = _at(dev, cnt, axis, 0.5)
    q = _at(s, cnt, axis, quantile) if quantile is not None else None
    return (
        np.squeeze(med, axis=axis),
        np.squeeze(mad, axis=axis),
        None if q is None else np.squeeze(q, axis=axis),
    )


def _at(s: F64, cnt: npt.NDArray[np.int64], axis: int, q: float) -> F64:
    pos = np.maximum(cnt - 1, 0) * q
    lo = np.floor(pos).astype(np.int64)
    hi = np.ceil(pos).astype(np.int64)
    a = np.take_along_axis(s, lo, axis=axis)
    b = np.take_along_axis(s, hi, axis=axis)
    out = a + (b - a) * (pos - lo)
    return np.where(cnt > 0, out, np.nan)


def _own_baselines(x: F64, config: MonitorConfig) -> tuple[F64, F64, F64, F64]:
    """Own median, MAD, 90th percentile and mean winsorised at that percentile (for the CUSUM
    reference: a count's median sits below its mean, which would make the CUSUM drift up)."""
    n_d = x.shape[1]
    med = np.full_like(x, np.nan)
    mad = np.full_like(x, np.nan)
    q90 = np.full_like(x, np.nan)
    mean = np.full_like(x, np.nan)
    step = max(1, config.baseline_refresh_days)
    for start in range(0, n_d, step):
        lo, hi = baseline_window(start, config)
        if hi <= 0:
            continue
        window = x[:, lo:hi, :]
        m, d, q = sorted_stats(window, axis=1, quantile=0.9)
        assert q is not None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            w = np.nanmean(np.minimum(window, q[:, None, :]), axis=1)
        enough = np.sum(~np.isnan(window[:, :, :1]), axis=1) >= config.min_baseline_days
        stop = min(n_d, start + step)
        for arr, val in ((med, m), (mad, d), (q90, q), (mean, w)):
            arr[:, start:stop, :] = np.where(enough, val, np.nan)[:, None, :]
    return med, mad, q90, mean


def _peer_baselines(x: F64, groups: list[str]) -> tuple[F64, F64, F64, F64]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        org_m, org_d, org_q = sorted_stats(x, axis=0, quantile=0.9)
    assert org_q is not None
    peer = np.broadcast_to(org_m, x.shape).copy()
    mad = np.broadcast_to(org_d, x.shape).copy()
    q90 = np.broadcast_to(org_q, x.shape).copy()
    g_arr = np.array(groups, dtype=object)
    for g in sorted(set(groups)):
        members = np.flatnonzero(g_arr == g)
        sub = x[members]
        m, d, q = sorted_stats(sub, axis=0, quantile=0.9)
        assert q is not None
        n_active = np.sum(~np.isnan(sub[:, :, :1]), axis=0)  # (D, 1)
        ok = n_active >= MIN_PEERS
        peer[members] = np.where(ok, m, org_m)[None]
        mad[members] = np.where(ok, d, org_d)[None]
        q90[members] = np.where(ok, q, org_q)[None]
    return peer, mad, q90, org_m


def _risk(daily: F64, config: MonitorConfig) -> F64:
    decay = 0.5 ** (1.0 / config.risk_half_life_days)
    w = config.risk_window_days
    out = np.zeros_like(daily)
    acc = np.zeros(daily.shape[0])
    for d in range(daily.shape[1]):
        acc = acc * decay + daily[:, d]
        if d - w >= 0:
            acc = acc - daily[:, d - w] * decay**w
        out[:, d] = acc
    return np.maximum(out, 0.0)


def _moving_z(z: F64, active: npt.NDArray[np.bool_], days: int) -> F64:
    """Sum of the daily z over the active days of the last ``days`` calendar days, divided by
    the square root of their number: a steady small excess adds up (10 days at z 1.5 give 4.7)
    where noise does not."""
    zz = np.where(active[:, :, None], z, 0.0)
    cs = np.concatenate([np.zeros_like(zz[:, :1]), np.cumsum(zz, axis=1)], axis=1)
    cnt = np.concatenate(
        [np.zeros((z.shape[0], 1)), np.cumsum(active.astype(np.float64), axis=1)], axis=1
    )
    hi = np.arange(1, z.shape[1] + 1)
    lo = np.maximum(hi - days, 0)
    total = cs[:, hi, :] - cs[:, lo, :]
    n = (cnt[:, hi] - cnt[:, lo])[:, :, None]
    out: F64 = np.where(active[:, :, None], total / np.sqrt(np.maximum(n, 1.0)), 0.0)
    return out


def _cusum(z: F64, active: npt.NDArray[np.bool_], config: MonitorConfig) -> F64:
    out = np.zeros_like(z)
    acc = np.zeros((z.shape[0], z.shape[2]))
    for d in range(z.shape[1]):
        step = np.minimum(
            config.cusum_cap, np.maximum(0.0, config.cusum_leak * acc + z[:, d, :] - config.cusum_k)
        )
        acc = np.where(active[:, d, None], step, acc)
        out[:, d, :] = acc
    return out


def _leaving(
    context: Context, actors: list[str], day0: int, n_days: int, config: MonitorConfig
) -> npt.NDArray[np.bool_]:
    emp = context.employees
    idx = pc.index_in(pa.array(actors, pa.string()), value_set=emp.column("employee_id"))
    leave = pc.take(emp.column("leaving"), idx).cast(pa.int32())
    when = np.asarray(pc.fill_null(leave, -(2**30))).astype(np.int64)
    has = np.asarray(pc.is_valid(leave))
    days = day0 + np.arange(n_days)
    near: npt.NDArray[np.bool_] = np.abs(days[None, :] - when[:, None]) <= config.leaving_days
    out: npt.NDArray[np.bool_] = near & has[:, None]
    return out


__all__ = ["COUNTS", "SCORED", "Scored", "score", "sorted_stats", "tail_surprise"]
