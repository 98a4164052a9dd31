"""Stage one of the monitor: each per actor-day feature on small tables checked by hand."""

from __future__ import annotations

from datetime import date
from typing import Any

import pyarrow as pa
import pytest

from leakwarden.monitor.config import MonitorConfig
from leakwarden.monitor.features import build_aggregates
from leakwarden.monitor.peers import peer_rare_counts
from monitor_world import (
    DAY0,
    Events,
    at,
    context,
    customers,
    relationships,
    staff,
    tickets,
)

CFG = MonitorConfig()


def _rows(table: pa.Table) -> dict[tuple[str, date], dict[str, Any]]:
    return {(r["actor"], r["day"]): r for r in table.to_pylist()}


def test_explained_by_open_ticket_grace_or_relationship_and_the_rest_is_unexplained() -> None:
    ev = Events()
    ev.add("e0", at(0, 9), [1, 2, 3], ticket="T1")  # 1: open ticket; 2: closed 1 h ago; 3: none
    ev.add("e0", at(0, 9.5), [3, 4])  # 3 again (counted once); 4: a relationship
    ev.add("e0", at(5, 9), [2])  # day 5: ticket for 2 closed 5 days ago, past the 3-day grace
    ev.add("e1", at(0, 9), [1])  # e1 holds no ticket for 1
    ctx = context(
        staff(2),
        tickets=tickets([("T1", "e0", 1, at(-1), None), ("T1", "e0", 2, at(-1), at(0, 8))]),
        relationships=relationships([("e0", 4, "account_manager")]),
    )
    got = _rows(build_aggregates(ev.table(), ctx, CFG).actor_day)
    d0, d5 = DAY0, date(2026, 3, 7)
    assert got[("e0", d0)]["distinct_customers"] == 4
    assert got[("e0", d0)]["unexplained_customers"] == 1
    assert got[("e0", d0)]["unexplained_sample"] == [3]
    assert got[("e0", d0)]["seq_sample"] == [0]  # first seen in event 0
    assert got[("e0", d5)]["unexplained_customers"] == 1
    assert got[("e1", d0)]["unexplained_customers"] == 1


def test_without_a_tickets_table_a_stated_ticket_explains_the_event() -> None:
    ev = Events()
    ev.add("e0", at(0, 9), [1, 2], ticket="T9")
    ev.add("e0", at(0, 10), [3])
    got = _rows(build_aggregates(ev.table(), context(staff(1)), CFG).actor_day)
    assert got[("e0", DAY0)]["unexplained_customers"] == 1


def test_rows_exports_denied_and_count_only_customers() -> None:
    ev = Events()
    ev.add("e0", at(0, 9), [1], rows=7)
    ev.add("e0", at(0, 10), [], rows=900, customers=300, channel="export", export_id="x1")
    ev.add("e0", at(0, 11), [2, 3], outcome="denied")  # nothing released
    ev.add("e0", at(0, 12), [], rows=50, customers=20, ticket="T5")  # an aggregate query
    ctx = context(staff(1), tickets=tickets([("T5", "e0", 99, at(-1), None)]))
    r = _rows(build_aggregates(ev.table(), ctx, CFG).actor_day)[("e0", DAY0)]
    # rows of records only: 7 + 900 (the aggregate's 50 rows release no customer's record)
    assert (r["events"], r["denied"], r["rows"]) == (4, 1, 907)
    assert (r["exports"], r["export_rows"]) == (1, 900)
    # listed 1 + the export's 300 counted ones; with a tickets table a stated ticket does not
    # explain customers it cannot name, so all 301 are unexplained; the aggregate's 20 apart
    assert r["distinct_customers"] == 301
    assert r["unexplained_customers"] == 301
    assert r["aggregate_customers"] == 20


def test_off_hours_in_the_configured_time_zone_and_weekends() -> None:
    ev = Events()
    ev.add("e0", at(0, 0.5), [1])  # 08:30 in Shanghai: working hours
    ev.add("e0", at(0, 13), [2])  # 21:00 in Shanghai: off hours
    ev.add("e0", at(0, 23.5), [3])  # 07:30 Tuesday in Shanghai: off hours, day 1
    ev.add("e0", at(5, 3), [4])  # Saturday 11:00 in Shanghai: off hours
    cfg = MonitorConfig(timezone="Asia/Shanghai", work_start_hour=8, work_end_hour=20)
    got = _rows(build_aggregates(ev.table(), context(staff(1)), cfg).actor_day)
    mon, tue, sat = DAY0, date(2026, 3, 3), date(2026, 3, 7)
    assert got[("e0", mon)]["off_hours_events"] == 1
    assert got[("e0", mon)]["off_hours_customers"] == 1
    assert got[("e0", tue)]["off_hours_events"] == 1
    assert got[("e0", sat)]["off_hours_events"] == 1


def test_vip_coworker_and_same_neighbourhood_lookups_count_only_when_unexplained() -> None:
    emps = [
        {"employee_id": "e0", "department": "cs", "role": "agent", "home_district": "d1"},
        {"employee_id": "e1", "department": "cs", "role": "agent", "customer_id": 50},
    ]
    ev = Events()
    ev.add("e0", at(0, 9), [10, 11, 50, 12, 13], ticket=None)
    ev.add("e0", at(0, 9), [14], ticket="T1")
    ctx = context(
        emps,
        tickets=tickets([("T1", "e0", 14, at(-1), None)]),
        customers=customers(
            [
                (10, "d1", "retail", False),  # neighbour
                (11, "d2", "retail", True),  # VIP
                (12, "d1", "retail", True),  # neighbour and VIP
                (14, "d1", "retail", True),  # ticketed: explained
                (50, "d3", "retail", False),  # e1's own record: co-worker
            ]
        ),
    )
    r = _rows(build_aggregates(ev.table(), ctx, CFG).actor_day)[("e0", DAY0)]
    assert r["vip_unexplained"] == 2
    assert r["neighbour_unexplained"] == 2
    assert r["coworker_unexplained"] == 1


def test_window_sums_cross_batch_boundaries_and_keep_the_daily_maximum() -> None:
    ev = Events()
    ev.add("e0", at(0, 10), list(range(100)))
    ev.add("e0", at(0, 10 + 4 / 60), [], rows=100, customers=50, channel="export")  # window 150
    ev.add("e0", at(0, 10 + 10 / 60), list(range(120)), rows=500)  # +10 min: alone, 120
    ev.add("e0", at(0, 10 + 11 / 60), [], rows=9000, customers=9000)  # an aggregate: not counted
    ev.add("e1", at(0, 10 + 1 / 60), list(range(10)))
    table = ev.table()
    batches = [table.slice(0, 1), table.slice(1, 1), table.slice(2, 3)]
    agg = build_aggregates(batches, context(staff(2)), CFG)
    r = _rows(agg.actor_day)
    assert r[("e0", DAY0)]["win_customers_max"] == 150
    assert r[("e0", DAY0)]["win_rows_max"] == 500
    assert r[("e1", DAY0)]["win_customers_max"] == 10
    pts = [(p["actor"], p["kind"], p["value"], p["seq"]) for p in agg.points.to_pylist()]
    # the staircase of new daily maxima, each with the event that set it
    assert ("e0", 0, 100, 0) in pts and ("e0", 0, 150, 1) in pts
    assert ("e0", 0, 120, 2) not in pts  # 120 is no new maximum after 150
    assert r[("e0", DAY0)]["aggregate_customers"] == 9000


def test_batches_out_of_order_by_more_than_the_window_are_refused() -> None:
    ev = Events()
    ev.add("e0", at(0, 12), [1])
    ev.add("e0", at(0, 11), [2])
    table = ev.table()
    with pytest.raises(ValueError, match="events batch 1: events out of order"):
        build_aggregates([table.slice(0, 1), table.slice(1, 1)], context(staff(1)), CFG)
    # a single table is sorted first, so the same events are fine
    assert build_aggregates(table, context(staff(1)), CFG).actor_day.num_rows == 1


def test_bad_events_are_named() -> None:
    ev = Events()
    ev.add("e0", at(0, 9), [1])
    table = ev.table().drop_columns(["channel"])
    with pytest.raises(ValueError, match="missing column 'channel'"):
        build_aggregates(table, context(staff(1)), CFG)
    table = ev.table().set_column(9, "rows", pa.array([-1], pa.int64()))
    with pytest.raises(ValueError, match="negative rows"):
        build_aggregates(table, context(staff(1)), CFG)


def test_peer_rare_counts_what_few_other_peers_had_used_by_that_day() -> None:
    emps = staff(6)  # one group of six: rare means fewer than 5% of the five others, i.e. none
    long = pa.table(
        {
            "actor": ["e0", "e1", "e0", "e2", "e3", "e0"],
            "day": pa.array([DAY0, DAY0, DAY0, DAY0, date(2026, 3, 3), date(2026, 3, 3)]),
            "key": ["crm", "crm", "hr", "billing", "hr", "hr"],
            "n": [5, 4, 3, 2, 1, 7],
        }
    )
    got = {
        (r["actor"], r["day"]): r["rare"]
        for r in peer_rare_counts(long, context(emps).employees, 0.05, 5).to_pylist()
    }
    # day 0: crm used by e0 and e1 (not rare); hr only by e0 (rare, 3); billing only by e2 (2)
    assert got[("e0", DAY0)] == 3
    assert got[("e1", DAY0)] == 0
    assert got[("e2", DAY0)] == 2
    # day 1: e3 uses hr, which e0 used before: not rare; e0's hr now used by e3 too
    assert got[("e3", date(2026, 3, 3))] == 0
    assert got[("e0", date(2026, 3, 3))] == 0
    # a group of fewer than min_group is never rare
    small = peer_rare_counts(long, context(staff(3)).employees, 0.05, 5)
    assert set(small.column("rare").to_pylist()) == {0}


def test_small_batches_give_the_features_of_one_table() -> None:
    """Batch boundaries (and the release of finished days' customer sets) change nothing."""
    from monitor_world import World

    w = World(n=8, days=12, seed=3)
    w.snoop("e1", 9, 12)
    table = w.table()
    one = build_aggregates(table, w.context(), CFG)
    many = build_aggregates(table.to_batches(max_chunksize=37), w.context(), CFG)
    key = [("actor", "ascending"), ("day", "ascending")]
    assert many.actor_day.sort_by(key).equals(one.actor_day.sort_by(key))
    assert one.actor_day.num_rows == 8 * 10  # weekdays only
