"""The insider simulator: reproducible, schema-conformant, and its ground truth says what the
scenario asked for (families, counts, intensities) and matches the events."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from leakwarden.monitor.events import (
    CUSTOMER_SCHEMA,
    EMPLOYEE_SCHEMA,
    EVENT_SCHEMA,
    RELATIONSHIP_SCHEMA,
    TICKET_SCHEMA,
    check_table,
)
from leakwarden.monitor.scenario import ScenarioError, load_scenario
from leakwarden.monitor.simulator import SimRun, Simulation

COUNT = 3
SMALL = {
    "world.employees": 400,
    "world.customers": 20000,
    "world.days": 28,
    "world.warmup_days": 7,
    "world.service_accounts": 2,
    **{
        f"families.{f}.count": COUNT
        for f in (
            "bulk",
            "slow_and_low",
            "snooping",
            "peer_deviation",
            "off_hours",
            "departing",
            "adaptive_slow_and_low",
            "adaptive_snooping",
            "adaptive_bulk",
        )
    },
    "families.bulk.total": [500, 3000],
    "families.adaptive_bulk.total": [500, 2000],
    "families.slow_and_low.days": [7, 14],
    "families.adaptive_slow_and_low.days": [7, 14],
}


@pytest.fixture(scope="module")
def sim() -> Simulation:
    return Simulation(load_scenario(overrides=SMALL), seed=11)


@pytest.fixture(scope="module")
def run(sim: Simulation) -> SimRun:
    return sim.run()


def _malicious(run: SimRun) -> pa.Table:
    return run.events.filter(pa.array(run.malicious))


def _day(ts: pa.ChunkedArray) -> pa.ChunkedArray:
    return pc.cast(pc.cast(ts, pa.timestamp("us")), pa.date32())


def test_same_seed_same_world_and_events(run: SimRun) -> None:
    again = Simulation(load_scenario(overrides=SMALL), seed=11).run()
    assert again.events.equals(run.events)
    assert np.array_equal(again.malicious, run.malicious)
    assert again.insiders.equals(run.insiders)
    assert again.context.tickets.equals(run.context.tickets)
    other = Simulation(load_scenario(overrides=SMALL), seed=12).run(range(2))
    assert not other.events.slice(0, 1000).equals(run.events.slice(0, 1000))


def test_streaming_equals_in_memory(sim: Simulation, run: SimRun) -> None:
    fresh = Simulation(load_scenario(overrides=SMALL), seed=11)
    batches = list(fresh.batches(keep_tickets=False))
    table = pa.Table.from_batches([b.events for b in batches])
    assert table.equals(run.events)
    assert np.array_equal(np.concatenate([b.malicious for b in batches]), run.malicious)
    assert fresh.tickets().equals(run.context.tickets)  # drawn again, identically


def test_schemas_and_order(run: SimRun) -> None:
    assert run.events.schema.equals(EVENT_SCHEMA)
    for table, schema in (
        (run.context.employees, EMPLOYEE_SCHEMA),
        (run.context.tickets, TICKET_SCHEMA),
        (run.context.relationships, RELATIONSHIP_SCHEMA),
        (run.context.customers, CUSTOMER_SCHEMA),
    ):
        assert table is not None
        check_table(table, schema, "context")
        assert table.schema.equals(schema)
    ts = run.events.column("ts").cast(pa.int64()).to_numpy()
    assert (np.diff(ts) >= 0).all()
    assert np.array_equal(run.events.column("seq").to_numpy(), np.arange(run.events.num_rows))
    assert len(run.malicious) == run.events.num_rows
    first = run.events.column("ts")[0].as_py()
    assert first.date() == dt.date(2026, 3, 2)
    counts = run.events.column("customers").to_numpy()
    listed = pc.list_value_length(run.events.column("customer_ids")).to_numpy()
    assert ((listed == counts) | (listed == 0)).all()  # ids listed, or only counted


def test_tickets_explain_ticketed_benign_events(run: SimRun) -> None:
    tickets = run.context.tickets
    assert tickets is not None
    pairs = set(
        zip(
            tickets.column("ticket_id").to_pylist(),
            tickets.column("customer_id").to_pylist(),
            strict=True,
        )
    )
    owner = dict(
        zip(
            tickets.column("ticket_id").to_pylist(),
            tickets.column("assignee").to_pylist(),
            strict=True,
        )
    )
    ev = run.events.filter(pa.array(~run.malicious)).filter(pc.is_valid(pc.field("ticket")))
    assert ev.num_rows > 1000
    for t, a, ids in zip(
        ev.column("ticket").to_pylist()[:3000],
        ev.column("actor").to_pylist()[:3000],
        ev.column("customer_ids").to_pylist()[:3000],
        strict=True,
    ):
        assert owner[t] == a
        assert (t, ids[0]) in pairs


def test_families_and_counts(run: SimRun, sim: Simulation) -> None:
    ins = run.insiders
    assert Counter(ins.column("family").to_pylist()) == {
        f.name: COUNT for f in sim.scenario.families
    }
    assert len(set(ins.column("actor").to_pylist())) == ins.num_rows  # one family per person
    mal = _malicious(run)
    actors = set(mal.column("actor").to_pylist())
    assert actors == set(ins.column("actor").to_pylist())  # every insider acted, nobody else
    # malicious days lie between the recorded start and end days, after the warm-up
    days = _day(mal.column("ts")).to_pylist()
    span = {r["actor"]: (r["start_day"], r["end_day"]) for r in ins.to_pylist()}
    for a, d in zip(mal.column("actor").to_pylist(), days, strict=True):
        assert span[a][0] <= d <= span[a][1]
        assert d >= dt.date(2026, 3, 2) + dt.timedelta(days=7)


def test_intensities_within_configured_ranges(run: SimRun, sim: Simulation) -> None:
    mal = _malicious(run)
    for r in run.insiders.to_pylist():
        f = sim.scenario.family(r["family"])
        mine = mal.filter(pc.equal(mal.column("actor"), r["actor"]))
        distinct = len(set(pc.list_flatten(mine.column("customer_ids")).to_pylist()))
        if f.kind == "bulk":
            lo, hi = f.total
            assert lo <= r["intensity"] <= hi
            assert distinct == r["intensity"]  # the pull took exactly that many customers
        elif f.kind == "slow_and_low":
            assert f.share[0] <= r["intensity"] <= f.share[1]
        else:
            assert f.per_day[0] <= r["intensity"] <= f.per_day[1]


def test_slow_and_low_adds_the_configured_share(run: SimRun, sim: Simulation) -> None:
    # expected extra customers: share x own baseline per active day, summed over the insiders
    mal = _malicious(run)
    names = sim.actor_names.to_pylist()
    expected = realised = 0.0
    for r in run.insiders.to_pylist():
        if r["kind"] != "slow_and_low":
            continue
        e = names.index(r["actor"])
        mine = mal.filter(pc.equal(mal.column("actor"), r["actor"]))
        days = len(set(_day(mine.column("ts")).to_pylist()))
        n_days = sum(
            1
            for d in range(sim.w.days)
            if r["start_day"] <= sim.date(d) <= r["end_day"] and sim.is_workday(d)
        )
        assert days <= n_days
        expected += r["intensity"] * sim.baseline_customers(e) * n_days
        realised += mine.num_rows
    assert 0.7 * expected <= realised <= 1.3 * expected


def test_family_shapes(run: SimRun, sim: Simulation) -> None:
    mal = _malicious(run)
    kind = dict(
        zip(
            run.insiders.column("actor").to_pylist(),
            run.insiders.column("family").to_pylist(),
            strict=True,
        )
    )
    tickets = run.context.tickets
    assert tickets is not None
    owner = dict(
        zip(
            tickets.column("ticket_id").to_pylist(),
            tickets.column("assignee").to_pylist(),
            strict=True,
        )
    )
    opened = dict(
        zip(
            tickets.column("ticket_id").to_pylist(),
            tickets.column("opened").to_pylist(),
            strict=True,
        )
    )
    foreign = set(sim.scenario.family("peer_deviation").foreign_datasets)
    for row in mal.to_pylist():
        fam = kind[row["actor"]]
        hour = row["ts"].hour
        if fam.startswith("adaptive_"):
            assert row["ticket"] is not None and owner[row["ticket"]] == row["actor"]
            assert row["ts"] > opened[row["ticket"]]
            assert 9 <= hour < 20 and row["channel"] in ("api", "console", "sql")
        else:
            assert row["ticket"] is None
        if fam == "off_hours":
            assert 0 <= hour < 5 and row["source_ip"].startswith("172.16.")
        if fam == "peer_deviation":
            assert row["dataset"] in foreign
        if fam == "adaptive_bulk":
            assert row["customers"] == 1
    # departing insiders carry the HR signal after their taking starts
    emp = run.context.employees
    leaving = dict(
        zip(emp.column("employee_id").to_pylist(), emp.column("leaving").to_pylist(), strict=True)
    )
    for r in run.insiders.to_pylist():
        if r["kind"] == "departing":
            assert leaving[r["actor"]] is not None and leaving[r["actor"]] > r["start_day"]


def test_adaptive_daily_cap(run: SimRun, sim: Simulation) -> None:
    mal = _malicious(run)
    names = sim.actor_names.to_pylist()
    for r in run.insiders.to_pylist():
        f = sim.scenario.family(r["family"])
        if not f.adaptive or f.kind == "bulk":
            continue
        cap = max(1, int(f.daily_cap * sim.baseline_customers(names.index(r["actor"]))))
        mine = mal.filter(pc.equal(mal.column("actor"), r["actor"]))
        per_day = Counter(_day(mine.column("ts")).to_pylist())
        assert max(per_day.values()) <= cap


def test_world_has_the_legitimate_confounders(run: SimRun) -> None:
    ev = run.events
    channels = set(ev.column("channel").to_pylist())
    assert {"batch", "export", "sql", "api", "console"} <= channels
    emp = run.context.employees
    assert set(emp.column("department").to_pylist()) >= {
        "customer_service", "delivery", "billing", "marketing", "engineering", "data_analytics",
    }  # fmt: skip
    hired = emp.column("hired").to_pylist()
    assert any(h > dt.date(2026, 3, 2) for h in hired)  # new hires inside the window
    night = ev.filter(pa.array(~run.malicious)).filter(
        pc.less(pc.hour(ev.filter(pa.array(~run.malicious)).column("ts")), 5)
    )
    assert night.num_rows > 0  # night shifts and batch jobs
    rels = run.context.relationships
    assert rels is not None and set(rels.column("kind").to_pylist()) == {
        "courier_route",
        "account_manager",
    }


def test_scenario_errors_name_the_key(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"world.employees"):
        load_scenario(overrides={"world.employees": "many"})
    with pytest.raises(ScenarioError, match=r"families.snooping.per_day"):
        load_scenario(overrides={"families.snooping.per_day": [50, 5]})
    with pytest.raises(ScenarioError, match=r"unknown key\(s\) colour"):
        load_scenario(overrides={"families.bulk.colour": "red"})
    bad = tmp_path / "s.toml"
    bad.write_text("[world\n")
    with pytest.raises(ScenarioError, match=r"s\.toml"):
        load_scenario(bad)
    with pytest.raises(ValueError, match=r"families\.bulk: 500 insiders wanted"):
        Simulation(load_scenario(overrides={**SMALL, "families.bulk.count": 500}))
