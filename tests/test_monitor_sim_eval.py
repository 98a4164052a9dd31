"""The monitor benchmark end to end on a tiny company, so ``benchmarks.monitor_eval`` cannot rot:
every injected insider gets an outcome, the family table and result files are written, and the
goal check compares adaptive families with their base. No timing assertions."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import pytest
from benchmarks import monitor_eval
from benchmarks.monitor_eval import _family_rows, _goal, detection, write_results
from rich.console import Console

TINY = {
    "world.employees": 300,
    "world.customers": 20000,
    "world.days": 24,
    "world.warmup_days": 8,
    "world.service_accounts": 1,
}


def test_goals_of_adaptive_families_follow_their_base() -> None:
    assert _goal("bulk") == (0.99, 300.0, "5 min")
    assert _goal("adaptive_bulk") == (None, 300.0, "5 min")
    assert _goal("adaptive_snooping")[1] == 86400.0


@pytest.mark.slow
def test_tiny_evaluation_writes_results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    families = ("bulk", "slow_and_low", "snooping", "peer_deviation", "off_hours", "departing")
    adaptive = ("adaptive_slow_and_low", "adaptive_snooping", "adaptive_bulk")
    over = {
        **TINY,
        **{f"families.{f}.count": 1 for f in families + adaptive},
        "families.slow_and_low.days": [5, 8],
        "families.adaptive_slow_and_low.days": [5, 8],
        "families.bulk.total": [500, 2000],
        "families.adaptive_bulk.total": [500, 1000],
    }
    monkeypatch.setattr(monitor_eval, "_overrides", lambda args: over)
    args = argparse.Namespace(scenario=None, seeds=2, quick=False, employees=None, days=None)
    det = detection(args, Console(file=io.StringIO()))
    rows = {r["family"]: r for r in det["families"]}
    assert set(rows) == set(families + adaptive)
    assert all(r["insiders"] == 2 for r in rows.values())  # one per family per seed, 2 seeds
    assert len(det["insiders"]) == 18
    for r in rows.values():
        assert r["recall_within"] is None or 0 <= r["recall_within"] <= r["recall_any"] <= 1
        assert r["records_before_total"] <= r["records_total"]
    # adaptive met: compared with the base family's recall at the same horizon
    a, b = rows["adaptive_snooping"], rows["snooping"]
    assert a["met"] == (a["recall_within"] >= b["recall_within"] - 0.10)
    result = {
        "machine": {
            "cpu_model": "x", "logical_cores": 2, "load_average_at_start": None,
            "git_commit": None, "date_utc": "now",
        },
        "command": "test",
        "detection": det,
    }  # fmt: skip
    js, md = write_results(result, tmp_path)
    assert json.loads(js.read_text())["detection"]["families"][0]["family"] == "bulk"
    assert "| bulk | 2 |" in md.read_text()


def test_family_rows_by_hand() -> None:
    import datetime as dt

    import numpy as np
    from benchmarks.monitor_metrics import InsiderOutcome

    t = dt.datetime(2026, 3, 2, 10, tzinfo=dt.UTC)

    def out(fam: str, delay: float | None, seed: int = 1) -> InsiderOutcome:
        hit = None if delay is None else t + dt.timedelta(seconds=delay)
        return InsiderOutcome("a", fam, seed, t, t, 10, hit, "stream" if hit else None, 4)

    seed = {
        "outcomes": [
            out("bulk", 60),
            out("bulk", 600),
            out("bulk", None),
            out("adaptive_bulk", 60),
        ],
        "user_days": (np.array([1.0, 0.0]), [None, None], np.array([False, False])),
    }
    rows = {r["family"]: r for r in _family_rows([seed], ["bulk", "adaptive_bulk"])}
    assert rows["bulk"]["recall_within"] == 1 / 3  # only the 60 s one is within 5 minutes
    assert rows["bulk"]["recall_any"] == 2 / 3
    assert rows["bulk"]["met"] is False
    assert rows["bulk"]["median_delay_h"] == (60 + 600) / 2 / 3600
    assert rows["adaptive_bulk"]["met"] is True  # 100% >= 33% - 10 points
    assert rows["bulk"]["roc_auc"] is None  # no malicious actor-days among the scores
