"""monitor (issue 7): the insider monitor against the simulator's injected insiders, and its scale.

Detection (``--seeds`` simulated companies of the scenario, default
``src/leakwarden/monitor/scenarios/default.toml``, each run through
:func:`leakwarden.monitor.detector.run_monitor` with the default :class:`MonitorConfig`, whose
budget is 0.1 % of active staff per day). Per family, insiders pooled over the seeds:

- recall at the budget (any true alert) and within the family's goal horizon, with Wilson 95 %
  intervals, and the per-seed recall;
- time to detect (first malicious event to the first true alert; median, bootstrap 95 % CI);
- records taken before the first true alert (distinct customers; all of them when missed);
- user-day ROC-AUC and PR-AUC (average precision): the family's malicious actor-days against
  every actor-day of non-insiders (mean over seeds, with the range);
- alert precision over all alerts after the warm-up (``world.warmup_days``), Wilson interval.

An alert is true when it names an insider and comes between their first malicious event and 14
days after the last. Goals (issue 7): bulk >= 99 % within 5 minutes, unticketed snooping >= 95 %
within a day, slow-and-low >= 90 % within 14 days, adaptive variants at most 10 recall points
below their base family (same horizon). Families without a goal in the issue are shown at a
reference horizon.

Scale (``--events``, default 100M): one simulated day of that many events (``--scale-employees``
staff, accesses per person scaled to hit the count) streamed through ``run_monitor`` in a child
process: wall and CPU time, the share spent generating, peak resident memory. Dask
(``--dask-workers``): the same company as a quick detection run, split by actor into Parquet
partitions, through :func:`leakwarden.monitor.distributed.run_monitor_dask` on a local cluster,
compared with ``run_monitor`` (same alerts and scores).

``python -m benchmarks.monitor_eval --quick`` is a small run (fewer staff and days, 10M-event
scale run) for a first look; the machine is shared, so times are indicative.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from rich.console import Console
from rich.table import Table

from benchmarks.monitor_metrics import (
    AlertView,
    InsiderOutcome,
    alert_truth,
    average_precision,
    bootstrap_ci,
    insider_outcomes,
    malicious_events,
    roc_auc,
    user_day_labels,
    wilson,
)

RESULTS_DIR = Path(__file__).resolve().parent / "results"
GRACE = dt.timedelta(days=14)
MINUTE, HOUR, DAY = 60.0, 3600.0, 86400.0
# family -> (goal recall or None, horizon in seconds, horizon label)
GOALS: dict[str, tuple[float | None, float, str]] = {
    "bulk": (0.99, 5 * MINUTE, "5 min"),
    "snooping": (0.95, DAY, "1 day"),
    "slow_and_low": (0.90, 14 * DAY, "14 days"),
    "peer_deviation": (None, 7 * DAY, "7 days"),
    "off_hours": (None, DAY, "1 day"),
    "departing": (None, 7 * DAY, "7 days"),
}
ADAPTIVE_LOSS = 0.10
QUICK = {"world.employees": 2000, "world.customers": 80000, "world.days": 49}


# --------------------------------------------------------------------------- detection


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = dict(QUICK) if args.quick else {}
    if args.employees:
        out["world.employees"] = args.employees
    if args.days:
        out["world.days"] = args.days
    return out


def evaluate_seed(scenario: Any, seed: int, console: Console) -> dict[str, Any]:
    from leakwarden.monitor.detector import MonitorConfig, run_monitor
    from leakwarden.monitor.simulator import Simulation

    t0, c0 = time.perf_counter(), time.process_time()
    sim = Simulation(scenario, seed=seed)
    run = sim.run()
    gen_wall, gen_cpu = time.perf_counter() - t0, time.process_time() - c0
    config = MonitorConfig()
    t0, c0 = time.perf_counter(), time.process_time()
    result = run_monitor(run.events, run.context, config)
    det_wall, det_cpu = time.perf_counter() - t0, time.process_time() - c0
    console.print(
        f"seed {seed}: {run.events.num_rows:,} events, {int(run.malicious.sum()):,} malicious, "
        f"generated in {gen_wall:.1f} s; detector {det_wall:.1f} s wall, {det_cpu:.1f} s CPU, "
        f"{len(result.alerts)} alerts"
    )
    alerts = [AlertView(a.actor, a.day, a.raised_at, a.score, a.rule) for a in result.alerts]
    mal = malicious_events(run.events, run.malicious)
    outcomes = insider_outcomes(run.insiders, mal, alerts, seed, GRACE)
    warm = sim.date(sim.w.warmup_days)
    scored = [a for a in alerts if a.day >= warm]
    truth = alert_truth(scored, outcomes, GRACE)
    per_day: dict[dt.date, int] = {}
    for a in scored:
        per_day[a.day] = per_day.get(a.day, 0) + 1
    score, family, insider = user_day_labels(result.scores, mal, run.insiders)
    diagnostics = _diagnostics(result, score, family, run, config, warm)
    return {
        "diagnostics": diagnostics,
        "seed": seed,
        "events": run.events.num_rows,
        "malicious_events": int(run.malicious.sum()),
        "staff": sim.n_humans,
        "days": sim.w.days,
        "generate_wall_s": gen_wall,
        "generate_cpu_s": gen_cpu,
        "detect_wall_s": det_wall,
        "detect_cpu_s": det_cpu,
        "events_per_cpu_s": run.events.num_rows / det_cpu if det_cpu else None,
        "alerts": len(alerts),
        "alerts_after_warmup": len(scored),
        "true_alerts": sum(t is not None for t in truth),
        "alerts_by_rule": _count(a.rule for a in scored),
        "false_alerts_by_rule": _count(
            a.rule for a, t in zip(scored, truth, strict=True) if t is None
        ),
        "max_alerts_per_day": max(per_day.values(), default=0),
        "budget": config.budget,
        "outcomes": outcomes,
        "user_days": (score, family, insider),
    }


def _diagnostics(
    result: Any, score: Any, family: list[str | None], run: Any, config: Any, warm: dt.date
) -> dict[str, Any]:
    """Why insiders are missed: where each malicious actor-day ranks among that day's scores
    (alerts per day are at most the budget), and who crosses the stream rule's floor."""
    days = np.asarray(result.scores.column("day").cast(pa.int32()))
    order = np.lexsort((-score, days))
    d_sorted = days[order]
    starts = np.concatenate([[True], d_sorted[1:] != d_sorted[:-1]])
    first = np.maximum.accumulate(np.where(starts, np.arange(len(order)), 0))
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order)) - first + 1
    active = dict(zip(*np.unique(days, return_counts=True), strict=True))
    budget = {d: max(config.min_daily_alerts, int(config.budget * n)) for d, n in active.items()}
    ranks: dict[str, list[tuple[int, bool]]] = {}
    for i, f in enumerate(family):
        if f is not None:
            ranks.setdefault(f, []).append((int(rank[i]), bool(rank[i] <= budget[days[i]])))
    fam = dict(
        zip(
            run.insiders.column("actor").to_pylist(),
            run.insiders.column("family").to_pylist(),
            strict=True,
        )
    )
    emp = run.context.employees
    dept = dict(
        zip(
            emp.column("employee_id").to_pylist(), emp.column("department").to_pylist(), strict=True
        )
    )
    crossings: dict[str, int] = {}
    feats = result.features.select(["actor", "day", "win_customers_max"]).to_pylist()
    for r in feats:
        if r["day"] >= warm and (r["win_customers_max"] or 0) >= config.stream_min_customers:
            key = fam.get(r["actor"]) or f"benign {dept.get(r['actor'], '?')}"
            crossings[key] = crossings.get(key, 0) + 1
    return {
        "daily_rank": {
            f: {
                "actor_days": len(v),
                "median_rank": float(np.median([r for r, _ in v])),
                "within_budget_rank": float(np.mean([b for _, b in v])),
            }
            for f, v in ranks.items()
        },
        "window_crossings": crossings,
        "median_daily_budget": float(np.median(list(budget.values()))) if budget else None,
    }


def _count(items: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for i in items:
        out[i] = out.get(i, 0) + 1
    return out


def _family_rows(seeds: list[dict[str, Any]], families: list[str]) -> list[dict[str, Any]]:
    rows = []
    for fam in families:
        goal, horizon, label = _goal(fam)
        outs: list[InsiderOutcome] = [o for s in seeds for o in s["outcomes"] if o.family == fam]
        n = len(outs)
        hit_any = sum(o.detected_within(None) for o in outs)
        hit_h = sum(o.detected_within(horizon) for o in outs)
        delays = [o.delay_seconds for o in outs if o.delay_seconds is not None]
        before = [float(o.records_before) for o in outs]
        per_seed = []
        aucs, aps = [], []
        for s in seeds:
            mine = [o for o in s["outcomes"] if o.family == fam]
            per_seed.append(
                sum(o.detected_within(horizon) for o in mine) / len(mine) if mine else None
            )
            score, family, insider = s["user_days"]
            pos = np.array([f == fam for f in family])
            keep = pos | ~insider
            if pos.any() and (~pos[keep]).any():
                aucs.append(roc_auc(pos[keep], score[keep]))
                aps.append(average_precision(pos[keep], score[keep]))
        rows.append(
            {
                "family": fam,
                "insiders": n,
                "goal_recall": goal,
                "horizon": label,
                "recall_any": hit_any / n if n else None,
                "recall_any_ci": wilson(hit_any, n),
                "recall_within": hit_h / n if n else None,
                "recall_within_ci": wilson(hit_h, n),
                "recall_within_per_seed": per_seed,
                "median_delay_h": float(np.median(delays)) / HOUR if delays else None,
                "median_delay_ci_h": _scaled(bootstrap_ci(delays), 1 / HOUR),
                "median_records_before": float(np.median(before)) if before else None,
                "median_records_before_ci": bootstrap_ci(before),
                "records_total": int(sum(o.records_total for o in outs)),
                "records_before_total": int(sum(o.records_before for o in outs)),
                "roc_auc": float(np.mean(aucs)) if aucs else None,
                "roc_auc_range": (min(aucs), max(aucs)) if aucs else None,
                "pr_auc": float(np.mean(aps)) if aps else None,
                "pr_auc_range": (min(aps), max(aps)) if aps else None,
            }
        )
    by_name = {r["family"]: r for r in rows}
    for r in rows:
        base = _base(r["family"])
        r["met"] = None
        if (
            r["family"] in GOALS
            and GOALS[r["family"]][0] is not None
            and r["recall_within"] is not None
        ):
            r["met"] = r["recall_within"] >= GOALS[r["family"]][0]
        elif base and base in by_name and r["recall_within"] is not None:
            b = by_name[base]["recall_within"]
            r["base_recall"] = b
            r["met"] = b is not None and r["recall_within"] >= b - ADAPTIVE_LOSS
    return rows


def _base(fam: str) -> str | None:
    return fam.removeprefix("adaptive_") if fam.startswith("adaptive_") else None


def _goal(fam: str) -> tuple[float | None, float, str]:
    if fam in GOALS:
        return GOALS[fam]
    base = _base(fam)
    if base in GOALS:
        _, h, label = GOALS[base]
        return None, h, label
    return None, 7 * DAY, "7 days"


def _scaled(ci: tuple[float, float] | None, k: float) -> tuple[float, float] | None:
    return None if ci is None else (ci[0] * k, ci[1] * k)


def detection(args: argparse.Namespace, console: Console) -> dict[str, Any]:
    from leakwarden.monitor.scenario import load_scenario

    scenario = load_scenario(args.scenario, _overrides(args))
    seeds = [evaluate_seed(scenario, scenario.world.seed + i, console) for i in range(args.seeds)]
    families = [f.name for f in scenario.families]
    rows = _family_rows(seeds, families)
    for r in rows:
        per = [s["diagnostics"]["daily_rank"].get(r["family"]) for s in seeds]
        per = [x for x in per if x]
        n = sum(x["actor_days"] for x in per)
        r["malicious_actor_days"] = n
        r["median_daily_rank"] = float(np.median([x["median_rank"] for x in per])) if per else None
        r["within_budget_rank"] = (
            sum(x["within_budget_rank"] * x["actor_days"] for x in per) / n if n else None
        )
    crossings: dict[str, int] = {}
    for s in seeds:
        for k, v in s["diagnostics"]["window_crossings"].items():
            crossings[k] = crossings.get(k, 0) + v
    n_alerts = sum(s["alerts_after_warmup"] for s in seeds)
    n_true = sum(s["true_alerts"] for s in seeds)
    return {
        "scenario": scenario.source,
        "overrides": _overrides(args),
        "seeds": [
            {k: v for k, v in s.items() if k not in ("outcomes", "user_days")} for s in seeds
        ],
        "families": rows,
        "precision": n_true / n_alerts if n_alerts else None,
        "precision_ci": wilson(n_true, n_alerts),
        "alerts_after_warmup": n_alerts,
        "true_alerts": n_true,
        "window_crossings": dict(sorted(crossings.items(), key=lambda kv: -kv[1])),
        "insiders": [
            {
                "seed": o.seed,
                "actor": o.actor,
                "family": o.family,
                "first_event": o.first_event.isoformat(),
                "detected_at": o.detected_at.isoformat() if o.detected_at else None,
                "rule": o.rule,
                "records_total": o.records_total,
                "records_before": o.records_before,
            }
            for s in seeds
            for o in s["outcomes"]
        ],
    }


# --------------------------------------------------------------------------- scale


def _scale_scenario(events: int, employees: int, rate_scale: float) -> Any:
    from leakwarden.monitor.scenario import load_scenario

    fams = load_scenario().families
    return load_scenario(
        overrides={
            "world.employees": employees,
            "world.customers": max(200_000, min(10_000_000, events // 10)),
            "world.days": 1,
            "world.warmup_days": 0,
            "world.slice_minutes": 15,
            "world.rate_scale": rate_scale,
            **{f"families.{f.name}.count": 0 for f in fams},
        }
    )


def calibrate(events: int, employees: int) -> float:
    """The ``rate_scale`` that gives about ``events`` events on the day (a Monday): two one-day
    runs of a tenth of the staff at scale 1 and 2, extrapolated linearly."""
    from leakwarden.monitor.simulator import Simulation

    small = max(500, employees // 10)
    counts = []
    for r in (1.0, 2.0):
        sim = Simulation(_scale_scenario(events, small, r))
        counts.append(sum(b.events.num_rows for b in sim.batches(keep_tickets=False)))
    per = (counts[1] - counts[0]) * employees / small  # events per unit of rate_scale
    fixed = counts[0] * employees / small - per
    return max(0.01, (events - fixed) / per)


def scale_worker(
    events: int, employees: int, rate_scale: float, out: Path, max_gb: float | None
) -> None:
    """Child process: generate the day and stream it through run_monitor; write timings. With
    ``max_gb`` the address space is capped, so running out of memory is a MemoryError here
    rather than the kernel killing some other process on the shared machine."""
    if max_gb:
        limit = int(max_gb * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    from leakwarden.monitor.detector import MonitorConfig, run_monitor
    from leakwarden.monitor.simulator import Simulation

    t0, c0 = time.perf_counter(), time.process_time()
    sim = Simulation(_scale_scenario(events, employees, rate_scale))
    context = sim.context()
    setup = time.perf_counter() - t0
    gen = {"wall": 0.0, "cpu": 0.0, "events": 0, "batches": 0}

    def stream() -> Iterator[pa.RecordBatch]:
        it = sim.batches(keep_tickets=False)
        while True:
            w, c = time.perf_counter(), time.process_time()
            try:
                b = next(it)
            except StopIteration:
                return
            gen["wall"] += time.perf_counter() - w
            gen["cpu"] += time.process_time() - c
            gen["events"] += b.events.num_rows
            gen["batches"] += 1
            yield b.events

    error = None
    try:
        result = run_monitor(stream(), context, MonitorConfig())
    except MemoryError:
        error = f"MemoryError after {gen['events']:,} events (address-space limit)"
        result = None
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    doc = {
        "error": error,
        "events": gen["events"],
        "batches": gen["batches"],
        "employees": employees,
        "customers": context.customers.num_rows if context.customers is not None else None,
        "tickets": context.tickets.num_rows if context.tickets is not None else None,
        "rate_scale": rate_scale,
        "setup_wall_s": setup,
        "total_wall_s": wall,
        "total_cpu_s": cpu,
        "generate_wall_s": gen["wall"],
        "generate_cpu_s": gen["cpu"],
        "detect_wall_s": wall - setup - gen["wall"],
        "detect_cpu_s": cpu - gen["cpu"],
        "alerts": len(result.alerts) if result else None,
        "scored_actor_days": result.scores.num_rows if result else None,
        "peak_rss_mb_self": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    out.write_text(json.dumps(doc), encoding="utf-8")


def scale(args: argparse.Namespace, console: Console) -> dict[str, Any]:
    employees = args.scale_employees or max(20_000, args.events // 1000)
    console.print(f"scale: calibrating {args.events:,} events for {employees:,} staff ...")
    rate = calibrate(args.events, employees)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "scale.json"
        cmd = [
            sys.executable, "-m", "benchmarks.monitor_eval", "--scale-worker",
            "--events", str(args.events), "--scale-employees", str(employees),
            "--rate-scale", repr(rate), "--worker-out", str(out),
            "--max-memory-gb", str(args.max_memory_gb),
        ]  # fmt: skip
        console.print(f"scale: {args.events:,} events, rate_scale {rate:.2f}, in a child process")
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, cwd=Path(__file__).resolve().parents[1])
        wall = time.perf_counter() - t0
        doc: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    doc["peak_rss_mb"] = doc["peak_rss_mb_self"]  # the child's own maximum resident set
    doc["process_wall_s"] = wall
    doc["goal"] = "100M events in < 30 min on one node"
    doc["events_per_s_detect_wall"] = (
        doc["events"] / doc["detect_wall_s"] if doc["detect_wall_s"] else None
    )
    doc["max_memory_gb"] = args.max_memory_gb
    doc["met"] = not doc["error"] and doc["events"] >= 100_000_000 and doc["total_wall_s"] < 1800
    return doc


# --------------------------------------------------------------------------- dask


def dask_run(args: argparse.Namespace, console: Console) -> dict[str, Any]:
    from dask.distributed import Client, LocalCluster

    from leakwarden.monitor.detector import MonitorConfig, run_monitor
    from leakwarden.monitor.distributed import run_monitor_dask, write_partitions
    from leakwarden.monitor.scenario import load_scenario
    from leakwarden.monitor.simulator import Simulation

    scenario = load_scenario(args.scenario, {**QUICK, "world.employees": 1000, "world.days": 35})
    sim = Simulation(scenario)
    run = sim.run()
    config = MonitorConfig()
    t0 = time.perf_counter()
    local = run_monitor(run.events, run.context, config)
    local_wall = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        parts = write_partitions(run.events, Path(tmp), args.dask_partitions)
        with (
            LocalCluster(
                n_workers=args.dask_workers, threads_per_worker=1, processes=True,
                dashboard_address=None,
            ) as cluster,
            Client(cluster) as client,
        ):  # fmt: skip
            t0 = time.perf_counter()
            dist = run_monitor_dask(client, parts, run.context, config)
            dask_wall = time.perf_counter() - t0
    same_alerts = [a.alert_id for a in local.alerts] == [a.alert_id for a in dist.alerts]
    ls = local.scores.sort_by([("actor", "ascending"), ("day", "ascending")])
    ds = dist.scores.sort_by([("actor", "ascending"), ("day", "ascending")])
    same_scores = ls.num_rows == ds.num_rows and bool(
        np.allclose(ls.column("score").to_numpy(), ds.column("score").to_numpy(), equal_nan=True)
    )
    console.print(
        f"dask: {run.events.num_rows:,} events, {args.dask_partitions} partitions on "
        f"{args.dask_workers} workers: {dask_wall:.1f} s (run_monitor {local_wall:.1f} s); "
        f"same alerts {same_alerts}, same scores {same_scores}"
    )
    return {
        "events": run.events.num_rows,
        "workers": args.dask_workers,
        "partitions": args.dask_partitions,
        "dask_wall_s": dask_wall,
        "local_wall_s": local_wall,
        "same_alerts": same_alerts,
        "same_scores": same_scores,
        "alerts": len(dist.alerts),
    }


# --------------------------------------------------------------------------- output


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.1f}%"


def _ci(ci: Any, fmt: str = "{:.1f}", k: float = 1.0) -> str:
    return "-" if not ci else "[" + fmt.format(ci[0] * k) + ", " + fmt.format(ci[1] * k) + "]"


def _num(v: float | None, fmt: str = "{:.3f}") -> str:
    return "-" if v is None else fmt.format(v)


def family_table_rows(det: dict[str, Any]) -> list[list[str]]:
    out = []
    for r in det["families"]:
        goal = (
            f">= {_pct(r['goal_recall'])}"
            if r["goal_recall"] is not None
            else (
                f">= base - {int(ADAPTIVE_LOSS * 100)} pts"
                if r["family"].startswith("adaptive_")
                else "-"
            )
        )
        seeds = ", ".join(_pct(x) for x in r["recall_within_per_seed"])
        out.append(
            [
                r["family"],
                str(r["insiders"]),
                f"{_pct(r['recall_within'])} {_ci(r['recall_within_ci'], '{:.0f}', 100)} ({seeds})",
                f"{r['horizon']}, {goal}",
                {True: "yes", False: "NO", None: "-"}[r["met"]],
                f"{_pct(r['recall_any'])} {_ci(r['recall_any_ci'], '{:.0f}', 100)}",
                f"{_num(r['median_delay_h'], '{:.2f}')} {_ci(r['median_delay_ci_h'], '{:.2f}')}",
                f"{_num(r['median_records_before'], '{:.0f}')} "
                f"{_ci(r['median_records_before_ci'], '{:.0f}')}",
                f"{_num(r['roc_auc'])} / {_num(r['pr_auc'])}",
            ]
        )
    return out


HEADERS = [
    "family",
    "n",
    "recall in horizon [95% CI] (per seed)",
    "horizon, goal",
    "met",
    "recall at budget",
    "median hours to detect [CI]",
    "median records before [CI]",
    "ROC-AUC / PR-AUC",
]


def print_tables(result: dict[str, Any], console: Console) -> None:
    det = result.get("detection")
    if det:
        t = Table(title="monitor: detection per family (insiders pooled over seeds)")
        for h in HEADERS:
            t.add_column(h)
        for row in family_table_rows(det):
            t.add_row(*row)
        console.print(t)
        console.print(
            f"alert precision after warm-up: {_pct(det['precision'])} "
            f"{_ci(det['precision_ci'], '{:.0f}', 100)} ({det['true_alerts']} of "
            f"{det['alerts_after_warmup']}); false alerts by rule: "
            + "; ".join(f"seed {s['seed']}: {s['false_alerts_by_rule']}" for s in det["seeds"])
        )
    sc = result.get("scale")
    if sc and sc.get("error"):
        console.print(f"scale: {sc['events']:,} events: {sc['error']}")
    elif sc:
        console.print(
            f"scale: {sc['events']:,} events in {sc['total_wall_s']:.0f} s wall "
            f"(generating {sc['generate_wall_s']:.0f} s, detector {sc['detect_wall_s']:.0f} s), "
            f"peak RSS {sc['peak_rss_mb']:.0f} MB; goal {sc['goal']}: "
            f"{'met' if sc['met'] else 'not met'}"
        )


def _budget(det: dict[str, Any]) -> str:
    vals = [s["diagnostics"]["median_daily_budget"] for s in det["seeds"]]
    vals = [v for v in vals if v is not None]
    return f"{np.median(vals):.0f}" if vals else "-"


def write_results(result: dict[str, Any], out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    js = out / "monitor_eval.json"
    js.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    lines = [
        "# monitor: insider detection and scale (issue 7)",
        "",
        f"Command: `{result['command']}`. Machine: {result['machine']['cpu_model']}, "
        f"{result['machine']['logical_cores']} cores shared with other jobs (load at start "
        f"{result['machine']['load_average_at_start']}), commit {result['machine']['git_commit']}, "
        f"{result['machine']['date_utc']}. Times are indicative on a busy machine.",
        "",
    ]
    det = result.get("detection")
    if det:
        lines += [
            f"Scenario `{Path(det['scenario']).name}` with overrides {det['overrides'] or 'none'}; "
            f"{len(det['seeds'])} seeds; default `MonitorConfig` (budget 0.1% of active staff a "
            "day). An alert is true when it names an insider between their first malicious event "
            "and 14 days after their last.",
            "",
            "| " + " | ".join(HEADERS) + " |",
            "|" + "---|" * len(HEADERS),
        ]
        lines += ["| " + " | ".join(r) + " |" for r in family_table_rows(det)]
        lines += [
            "",
            f"Alert precision after the warm-up: {_pct(det['precision'])} "
            f"{_ci(det['precision_ci'], '{:.0f}', 100)} ({det['true_alerts']} true of "
            f"{det['alerts_after_warmup']} alerts).",
            "",
            "Why insiders are missed. Alerts per day are at most the budget (median "
            f"{_budget(det)} a day here); the *daily rank* is where a malicious actor-day's score "
            "stands among all actors' scores that day (1 = highest), and *in budget* the share of "
            "malicious actor-days ranked within that day's budget:",
            "",
            "| family | malicious actor-days | median daily rank (median of seeds) | in budget |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| {r['family']} | {r['malicious_actor_days']} | "
            f"{_num(r['median_daily_rank'], '{:.0f}')} | {_pct(r['within_budget_rank'])} |"
            for r in det["families"]
        ]
        lines += [
            "",
            "Actor-days after the warm-up whose busiest 5-minute window reached the stream rule's "
            "floor (`stream_min_customers`), by insider family or benign department (stream "
            "alerts come first in the budget): "
            + ", ".join(f"{k} {v}" for k, v in det["window_crossings"].items())
            + ".",
            "",
            "| seed | staff | days | events | malicious | detector CPU s | events/CPU s | alerts "
            "| max alerts/day | false alerts by rule |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for s in det["seeds"]:
            lines.append(
                f"| {s['seed']} | {s['staff']} | {s['days']} | {s['events']:,} | "
                f"{s['malicious_events']:,} | {s['detect_cpu_s']:.1f} | "
                f"{s['events_per_cpu_s']:,.0f} | {s['alerts_after_warmup']} | "
                f"{s['max_alerts_per_day']} | {s['false_alerts_by_rule']} |"
            )
    sc = result.get("scale")
    if sc and sc.get("error"):
        lines += ["", "## Scale", "", f"{sc['error']} (cap {sc['max_memory_gb']} GB)."]
    elif sc:
        lines += [
            "",
            "## Scale",
            "",
            f"One day of {sc['events']:,} events ({sc['employees']:,} staff, {sc['customers']:,} "
            f"customers, {sc['tickets']:,} tickets, {sc['batches']} slices of 15 minutes) "
            f"streamed through `run_monitor` in one process: {sc['total_wall_s']:.0f} s wall, "
            f"{sc['total_cpu_s']:.0f} s CPU; of which generating the events "
            f"{sc['generate_wall_s']:.0f} s and the detector {sc['detect_wall_s']:.0f} s wall "
            f"({sc['detect_cpu_s']:.0f} s CPU); peak resident memory {sc['peak_rss_mb']:.0f} MB. "
            f"Goal: {sc['goal']}: {'met' if sc['met'] else 'not met'}.",
        ]
    dk = result.get("dask")
    if dk:
        lines += [
            "",
            "## Dask",
            "",
            f"{dk['events']:,} events in {dk['partitions']} actor partitions on a local cluster of "
            f"{dk['workers']} worker processes: {dk['dask_wall_s']:.1f} s (plain `run_monitor` "
            f"{dk['local_wall_s']:.1f} s); same alerts: {dk['same_alerts']}, same scores: "
            f"{dk['same_scores']}.",
        ]
    if result.get("notes"):
        lines += ["", "## Notes", ""] + [f"- {n}" for n in result["notes"]]
    md = out / "monitor_eval.md"
    md.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return [js, md]


def _detector_changes() -> list[str]:
    """Files of ``src/leakwarden/monitor`` that differ from the commit (``git status``)."""
    try:
        out = subprocess.run(
            ["git", "status", "--porcelain", "--", "src/leakwarden/monitor"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parents[1],
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return []
    mine = ("simulator.py", "scenario.py", "scenarios/")  # the bench's own files, not the detector
    files = [line[3:] for line in out.splitlines() if line.strip()]
    return [f for f in files if not any(m in f for m in mine)]


def main(argv: list[str] | None = None) -> int:
    from benchmarks.machine import describe

    p = argparse.ArgumentParser(prog="python -m benchmarks --only monitor")
    p.add_argument("--scenario", type=Path, default=None, help="scenario TOML (default: packaged)")
    p.add_argument("--seeds", type=int, default=8)
    p.add_argument("--employees", type=int, default=None, help="override world.employees")
    p.add_argument("--days", type=int, default=None, help="override world.days")
    p.add_argument("--quick", action="store_true", help="a small company and a 10M-event day")
    p.add_argument("--events", type=int, default=None, help="events in the scale day (100M)")
    p.add_argument("--scale-employees", type=int, default=None)
    p.add_argument(
        "--max-memory-gb", type=float, default=16.0, help="address-space cap of the scale run"
    )
    p.add_argument("--dask-workers", type=int, default=2)
    p.add_argument("--dask-partitions", type=int, default=4)
    p.add_argument(
        "--parts",
        nargs="+",
        default=["detect", "scale", "dask"],
        choices=["detect", "scale", "dask"],
    )
    p.add_argument("--out", type=Path, default=RESULTS_DIR)
    p.add_argument(
        "--merge", action="store_true", help="keep the parts not run from the existing results"
    )
    p.add_argument("--scale-worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--rate-scale", type=float, default=1.0, help=argparse.SUPPRESS)
    p.add_argument("--worker-out", type=Path, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.events is None:
        args.events = 10_000_000 if args.quick else 100_000_000
    if args.scale_worker:
        assert args.worker_out is not None
        scale_worker(
            args.events, args.scale_employees, args.rate_scale, args.worker_out, args.max_memory_gb
        )
        return 0
    console = Console(width=None if sys.stdout.isatty() else 200)
    result: dict[str, Any] = {
        "machine": describe(),
        "command": "python -m benchmarks.monitor_eval "
        + " ".join(argv if argv is not None else sys.argv[1:]),
        "notes": [
            "The machine has 2 cores shared with other helpers' jobs; wall times are indicative.",
            "Each seed's company has `count` insiders per family (default 4, 36 insiders in 5,000 "
            "staff); the families' figures pool the seeds (8 seeds: 32 insiders per family).",
        ],
    }
    dirty = _detector_changes()
    if dirty:
        result["notes"].append(
            "The detector's files had uncommitted changes when this ran (the shared checkout): "
            + ", ".join(dirty)
        )
    result["detector_uncommitted"] = dirty
    previous = args.out / "monitor_eval.json"
    if args.merge and previous.exists():  # keep the parts not rerun from the last results
        old = json.loads(previous.read_text(encoding="utf-8"))
        for part, key in (("detect", "detection"), ("scale", "scale"), ("dask", "dask")):
            if part not in args.parts and old.get(key):
                result[key] = old[key]
                result["notes"].append(f"{key}: kept from the run of {old['machine']['date_utc']}")
    status = 0
    if "detect" in args.parts:
        result["detection"] = detection(args, console)
        if any(r["met"] is False for r in result["detection"]["families"]):
            status = 1
    if "scale" in args.parts:
        result["scale"] = scale(args, console)
    if "dask" in args.parts:
        result["dask"] = dask_run(args, console)
    print_tables(result, console)
    for path in write_results(result, args.out):
        console.print(f"wrote {path}")
    return status


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
