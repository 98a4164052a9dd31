"""Alerts from run_monitor and StreamMonitor: the daily budget, reasons with their baselines and
links, stream alerts at the crossing event, suppression by dispositions."""

from __future__ import annotations

import math
from collections import Counter
from datetime import timedelta

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from leakwarden.monitor.alerting import day_end
from leakwarden.monitor.detector import (
    Disposition,
    MonitorConfig,
    StreamMonitor,
    run_monitor,
)
from monitor_world import DAY0, World, at


def _snooping_world() -> tuple[World, list[int]]:
    w = World(n=30, days=50, seed=5)
    taken = w.snoop("e4", 44, 25)
    return w, taken


def test_a_snooper_is_alerted_the_same_day_with_reasons_customers_and_event_links() -> None:
    w, taken = _snooping_world()
    table = w.table()
    res = run_monitor(table, w.context(), MonitorConfig())
    mine = [a for a in res.alerts if a.actor == "e4" and a.day == DAY0 + timedelta(days=44)]
    assert len(mine) == 1
    alert = mine[0]
    assert alert.rule == "daily"
    assert alert.raised_at == day_end(alert.day, "UTC")
    top = alert.reasons[0]
    assert top.feature == "unexplained_customers"
    assert top.value >= 25
    assert top.own is not None and top.own <= 1  # own lagged median
    assert top.peer is not None and top.peer <= 1  # peers that day
    assert top.org is not None and top.org <= 1
    assert "not explained" in top.detail
    assert set(alert.customers) >= set(taken)
    # every linked event is one of e4's events that day
    rows = {r["seq"]: r for r in table.to_pylist()}
    assert alert.events
    for seq in alert.events:
        assert rows[seq]["actor"] == "e4" and rows[seq]["ts"].date() == alert.day
    # the score table has one row per active actor-day and the snooper tops that day
    day = pc.equal(res.scores.column("day"), pa.scalar(alert.day, pa.date32()))
    that_day = res.scores.filter(day).sort_by([("score", "descending")])
    assert that_day.column("actor")[0].as_py() == "e4"
    assert res.scores.num_rows == res.features.num_rows


def test_the_daily_budget_is_respected() -> None:
    w = World(n=40, days=40, seed=2)
    for i in range(10):  # ten snoopers on the same days: more than any budget allows
        for d in (35, 36):
            w.snoop(f"e{i}", d, 20 + i)
    cfg = MonitorConfig(budget=0.05)  # 40 active: floor(2.0) = 2 a day
    res = run_monitor(w.table(), w.context(), cfg)
    per_day = Counter(a.day for a in res.alerts)
    active = Counter(res.scores.column("day").to_pylist())
    for day, n in per_day.items():
        assert n <= max(cfg.min_daily_alerts, math.floor(cfg.budget * active[day]))
    assert per_day[DAY0 + timedelta(days=35)] == 2
    # the budget went to snoopers, not to ordinary staff
    assert {a.actor for a in res.alerts if a.day == DAY0 + timedelta(days=35)} <= {
        f"e{i}" for i in range(10)
    }


def test_quiet_days_raise_nothing_below_min_score() -> None:
    w = World(n=20, days=30, seed=4)
    res = run_monitor(w.table(), w.context(), MonitorConfig(min_score=1e9))
    assert res.alerts == []


def test_a_bulk_pull_alerts_at_the_crossing_event_and_the_stream_monitor_agrees() -> None:
    w = World(n=20, days=36, seed=9)
    pull_at = at(35, 14.0)
    for k in range(10):  # 400 customers a minute from 14:00: 1000 crossed at the 3rd minute
        w.events.add("e2", pull_at + timedelta(minutes=k), w.fresh_customers(400))
    table = w.table()
    cfg = MonitorConfig()
    res = run_monitor(table, w.context(), cfg)
    stream = [a for a in res.alerts if a.rule == "stream"]
    assert [a.actor for a in stream] == ["e2"]
    assert stream[0].raised_at == pull_at + timedelta(minutes=2)
    assert stream[0].reasons[0].feature == "win_customers_max"
    assert stream[0].reasons[0].value == 1200
    # live: a monitor started from the history before the day sees the same crossing
    day35 = pc.greater_equal(table.column("ts"), pa.scalar(at(35, 0)))
    history = run_monitor(table.filter(pc.invert(day35)), w.context(), cfg)
    live = StreamMonitor(w.context(), cfg, history=history)
    got = []
    for batch in table.filter(day35).to_batches(max_chunksize=97):
        got.extend(live.observe(batch))
    assert [(a.actor, a.raised_at, a.alert_id) for a in got] == [
        ("e2", stream[0].raised_at, stream[0].alert_id)
    ]
    # and the same actor is not alerted twice that day, nor again by the daily rule
    assert [a.rule for a in res.alerts if a.actor == "e2" and a.day == stream[0].day] == ["stream"]


def test_an_actor_with_a_history_of_bulk_jobs_is_held_to_their_own_threshold() -> None:
    w = World(n=20, days=40, seed=9)
    for d in range(40):  # e5 runs a 3000-customer extract every weekday
        if d % 7 < 5:
            w.events.add("e5", at(d, 2.0), w.fresh_customers(3000), channel="batch")
    res = run_monitor(w.table(), w.context(), MonitorConfig())
    late = [a for a in res.alerts if a.actor == "e5" and a.rule == "stream"]
    # alerted while it had no baseline of its own; never once its own 90th percentile counts
    assert late and max(a.day for a in late) < DAY0 + timedelta(days=40 - 7)


def test_dispositions_suppress_repeats_unless_the_score_doubles() -> None:
    w = World(n=30, days=50, seed=5)
    for d in (42, 43, 44):
        w.snoop("e4", d, 12)
    table = w.table()
    cfg = MonitorConfig()
    first = run_monitor(table, w.context(), cfg)
    e4 = [a for a in first.alerts if a.actor == "e4"]
    assert e4 and e4[0].day == DAY0 + timedelta(days=42)
    benign = Disposition("e4", e4[0].day, e4[0].rule, "benign", e4[0].score * 10)
    again = run_monitor(table, w.context(), cfg, dispositions=[benign])
    assert [a for a in again.alerts if a.actor == "e4"] == []
    # a verdict with a low score does not hide a much stronger day
    weak = Disposition("e4", e4[0].day - timedelta(days=1), "daily", "benign", 1.0)
    third = run_monitor(table, w.context(), cfg, dispositions=[weak])
    assert [a.actor for a in third.alerts if a.actor == "e4"]
    # and the budget the snooper no longer uses goes to someone else, never over it
    assert len(again.alerts) >= len(first.alerts) - len(e4)


def test_a_leaving_employee_is_weighted_up() -> None:
    w = World(n=30, days=50, seed=5)
    w.snoop("e4", 44, 6)
    table = w.table()
    base = run_monitor(table, w.context(), MonitorConfig())
    ctx = w.context()
    leaving = ctx.employees.column("leaving").to_pylist()
    ids = ctx.employees.column("employee_id").to_pylist()
    leaving[ids.index("e4")] = DAY0 + timedelta(days=60)
    emps = ctx.employees.set_column(
        ctx.employees.schema.get_field_index("leaving"), "leaving", pa.array(leaving, pa.date32())
    )
    ctx2 = type(ctx)(employees=emps, tickets=ctx.tickets)
    hr = run_monitor(table, ctx2, MonitorConfig())

    def score_of(res: object, actor: str) -> float:
        s = res.scores  # type: ignore[attr-defined]
        mask = pc.and_(
            pc.equal(s.column("actor"), actor),
            pc.equal(s.column("day"), pa.scalar(DAY0 + timedelta(days=44), pa.date32())),
        )
        return float(s.filter(mask).column("score")[0].as_py())

    assert score_of(hr, "e4") == 1.5 * score_of(base, "e4") > 0
    alert = [a for a in hr.alerts if a.actor == "e4"]
    assert alert and any(r.feature == "leaving" for r in alert[0].reasons)


@pytest.mark.parametrize("cut_day", [3, 30])
def test_a_day_is_scored_without_looking_at_later_days(cut_day: int) -> None:
    """run_monitor over a history equals scoring each day as it ends: cutting the input at a
    day (in the first week, or later) leaves the days before it (scores, alerts) as they were."""
    w = World(n=25, days=44, seed=8)
    w.snoop("e2", 1, 20)  # in the first days, before any history
    w.snoop("e3", 12, 20)  # in the first weeks, before any lagged baseline
    w.snoop("e6", 33, 40)  # after the cut: must not change what came before
    table = w.table()
    cfg = MonitorConfig(budget=0.05, surprise_allow=1.0)  # so early days carry evidence
    full = run_monitor(table, w.context(), cfg)
    cut_at = pa.scalar(at(cut_day, 0))
    cut = run_monitor(table.filter(pc.less(table.column("ts"), cut_at)), w.context(), cfg)
    end = DAY0 + timedelta(days=cut_day)
    before = pc.less(full.scores.column("day"), pa.scalar(end, pa.date32()))
    key = [("actor", "ascending"), ("day", "ascending")]
    assert full.scores.filter(before).sort_by(key).equals(cut.scores.sort_by(key))
    assert [a for a in full.alerts if a.day < end] == cut.alerts
