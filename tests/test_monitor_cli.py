"""``leakwarden monitor``: run over Parquet files, list, show and close alerts; and the Dask path
giving the same result as one process."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from leakwarden.monitor.command import monitor_app
from leakwarden.monitor.detector import MonitorConfig, run_monitor
from leakwarden.monitor.distributed import partition_of, run_monitor_dask, write_partitions
from monitor_world import World, employees, staff


def _snooper(tmp_path: Path) -> tuple[Path, Path]:
    w = World(n=30, days=46, seed=5)
    w.snoop("e4", 44, 25)
    events = tmp_path / "events.parquet"
    pq.write_table(w.table(), events)
    ctx_dir = tmp_path / "context"
    ctx_dir.mkdir()
    ctx = w.context()
    pq.write_table(ctx.employees, ctx_dir / "employees.parquet")
    assert ctx.tickets is not None
    pq.write_table(ctx.tickets, ctx_dir / "tickets.parquet")
    return events, ctx_dir


def test_run_list_show_close(tmp_path: Path) -> None:
    events, ctx_dir = _snooper(tmp_path)
    url = f"sqlite:///{tmp_path / 'store.db'}"
    siem = tmp_path / "siem.jsonl"
    runner = CliRunner()
    args = ["run", "--context", str(ctx_dir), "--events", str(events), "--url", url]
    res = runner.invoke(monitor_app, [*args, "--siem", str(siem)])
    assert res.exit_code == 0, res.output
    sent = [json.loads(line) for line in siem.read_text().splitlines()]
    assert any(d["user"]["id"] == "e4" for d in sent)
    res = runner.invoke(monitor_app, ["alerts", "list", "--json", "--actor", "e4", "--url", url])
    assert res.exit_code == 0, res.output
    [doc] = [json.loads(line) for line in res.output.splitlines()]
    assert doc["status"] == "open"
    alert_id = doc["event"]["id"]
    res = runner.invoke(monitor_app, ["alerts", "show", alert_id, "--url", url])
    shown = json.loads(res.output)
    assert shown["leakwarden"]["monitor"]["reasons"][0]["feature"] == "unexplained_customers"
    assert shown["deliveries"][0]["sink"] == "siem"
    close = ["alerts", "close", alert_id, "--by", "ana", "--url", url]
    res = runner.invoke(monitor_app, [*close, "--disposition", "benign"])
    assert res.exit_code == 0, res.output
    # a second run reads the verdict: nothing new for e4 goes to the SIEM
    before = len(siem.read_text().splitlines())
    assert runner.invoke(monitor_app, [*args, "--siem", str(siem)]).exit_code == 0
    again = [json.loads(x) for x in siem.read_text().splitlines()[before:]]
    assert all(d["user"]["id"] != "e4" for d in again)
    res = runner.invoke(monitor_app, [*close, "--disposition", "meh"])
    assert res.exit_code == 2 and "disposition 'meh'" in res.output
    res = runner.invoke(monitor_app, ["alerts", "show", "mon-none", "--url", url])
    assert res.exit_code == 2


def test_run_refuses_a_context_without_employees(tmp_path: Path) -> None:
    res = CliRunner().invoke(
        monitor_app, ["run", "--context", str(tmp_path), "--events", str(tmp_path)]
    )
    assert res.exit_code == 2 and "no employees.parquet" in res.output


def test_partitions_split_actors_and_keep_each_actors_events_together(tmp_path: Path) -> None:
    w = World(n=12, days=10)
    table = w.table()
    paths = write_partitions(table, tmp_path / "parts", 3)
    seen: dict[str, int] = {}
    total = 0
    for i, p in enumerate(paths):
        part = pq.read_table(p)
        total += part.num_rows
        for actor in set(part.column("actor").to_pylist()):
            assert seen.setdefault(actor, i) == i
        ts = part.column("ts").to_pylist()
        assert ts == sorted(ts)
    assert total == table.num_rows
    # stable across processes and runs: CRC-32 of the name (not Python's salted hash)
    names = ["e0", "e1", "analytics-bot"]
    want = [zlib.crc32(n.encode()) % 3 for n in names]
    assert list(partition_of(pa.array(names), 3)) == want


@pytest.mark.timeout(300)
def test_dask_local_cluster_gives_the_single_process_result(tmp_path: Path) -> None:
    from distributed import Client, LocalCluster

    w = World(n=30, days=46, seed=5)
    w.snoop("e4", 44, 25)
    table = w.table()
    cfg = MonitorConfig(budget=0.05)
    single = run_monitor(table, w.context(), cfg)
    paths = write_partitions(table, tmp_path / "parts", 4)
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        dist = run_monitor_dask(client, paths, w.context(), cfg)
    assert dist.alerts == single.alerts
    key = [("actor", "ascending"), ("day", "ascending")]
    assert dist.scores.sort_by(key).equals(single.scores.sort_by(key))


def test_run_reads_the_audit_ledger_by_default(tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from leakwarden.audit.events import AuditEvent
    from leakwarden.audit.ledger import Ledger

    url = f"sqlite:///{tmp_path / 'store.db'}"
    start = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    events = [
        AuditEvent(
            action="gateway.export",
            outcome="success",
            actor="alice",
            timestamp=start + timedelta(seconds=i),
            event_id=f"ev{i}",
            rows=600,
            customers=600,
            customer_ids=[str(c) for c in range(i * 600, (i + 1) * 600)],
            export_id="x1",
        )
        for i in range(3)  # 1800 customers within a minute: over the 1000 floor
    ]
    with Ledger.open(url) as ledger:
        ledger.append_many(events)
    ctx_dir = tmp_path / "context"
    ctx_dir.mkdir()
    people = [
        *staff(3, prefix="bob"),
        {"employee_id": "alice", "department": "cs", "role": "agent"},
    ]
    pq.write_table(employees(people), ctx_dir / "employees.parquet")
    runner = CliRunner()
    res = runner.invoke(monitor_app, ["run", "--context", str(ctx_dir), "--url", url])
    assert res.exit_code == 0, res.output
    res = runner.invoke(monitor_app, ["alerts", "list", "--json", "--url", url])
    [doc] = [json.loads(line) for line in res.output.splitlines()]
    assert (doc["user"]["id"], doc["rule"]["name"]) == ("alice", "stream")
    assert doc["@timestamp"] == "2026-03-02T10:00:01.000000Z"  # the second export crossed
    assert doc["leakwarden"]["monitor"]["events"] == [0, 1]
    res = runner.invoke(
        monitor_app, ["run", "--context", str(ctx_dir), "--url", url, "--since", "#x"]
    )
    assert res.exit_code == 2 and "#INDEX needs digits" in res.output
