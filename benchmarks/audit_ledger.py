"""Audit ledger benchmark: durable appends per second (SQLite and PostgreSQL, 1 and 8 writer
processes, and group commit of concurrent single appends), proofs generated and verified per
second, and full verification time (measured on the largest log that fits, extrapolated to 10
million events).

``python -m benchmarks --only audit`` (or ``python -m benchmarks.audit_ledger``).

PostgreSQL: ``--pg-url`` names a database the benchmark may fill; without it a throwaway server
is started with the tests' helper (tests/conftest.py) but with ``fsync=on`` and
``synchronous_commit=on``, so that "durable" means what it says.  SQLite runs in WAL mode with
``synchronous=FULL`` on the local disk.

Events are built before the clock starts (pydantic construction is the caller's cost; it is
reported separately); appends are timed from the first call to the last acknowledgement.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import multiprocessing
import os
import random
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).parent / "results"
STEM = "audit_ledger"
BATCH = 5000  # events per append_many call (the committer thread's batch limit too)


def _events(n: int, seed: int) -> list[Any]:
    from leakwarden.audit.events import AuditEvent

    return [AuditEvent(**kw) for kw in _event_fields(n, seed)]


def _event_fields(n: int, seed: int) -> list[dict[str, Any]]:
    """Keyword arguments of ``n`` varied events (drawing the random values is the benchmark's
    own cost, kept apart from building the events)."""
    rng = random.Random(seed)
    ts = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    return [
        dict(
            action=rng.choice(["gateway.query", "gateway.export", "console.view"]),
            outcome=rng.choice(["success", "success", "success", "denied"]),
            actor=f"emp{rng.randrange(500):04d}",
            dataset=rng.choice(["crm/customers", "crm/orders", "billing/cards"]),
            columns=["phone", "name"],
            rows=rng.randrange(1, 200),
            customers=rng.randrange(1, 50),
            customer_ids=[f"C{rng.randrange(10**7):07d}" for _ in range(3)],
            purpose="support",
            ticket=f"T-{rng.randrange(10**5)}",
            policy="default",
            source_ip=f"10.0.{rng.randrange(256)}.{rng.randrange(256)}",
            timestamp=ts,
        )
        for _ in range(n)
    ]


def _writer(url: str, n: int, seed: int, start: Any, done: Any, construct: bool = False) -> None:
    from leakwarden.audit.events import AuditEvent
    from leakwarden.audit.ledger import Ledger

    fields = _event_fields(n, seed)
    events = [] if construct else [AuditEvent(**kw) for kw in fields]
    ledger = Ledger.open(url, migrate=False)
    ledger.size()  # connect before the clock
    done.put("ready")
    start.wait()
    cpu0 = time.process_time()
    for i in range(0, n, BATCH):
        if construct:  # what a bulk producer pays: validate its events, then append them
            ledger.append_many([AuditEvent(**kw) for kw in fields[i : i + BATCH]])
        else:
            ledger.append_many(events[i : i + BATCH])
    done.put((time.perf_counter(), time.process_time() - cpu0))
    ledger.close()


def append_processes(url: str, writers: int, total: int, construct: bool = False) -> dict[str, Any]:
    """``writers`` processes, each appending total/writers events in batches of BATCH
    (``construct``: building the AuditEvent objects inside the clock too)."""
    from leakwarden.audit.ledger import Ledger

    Ledger.open(url).close()
    ctx = multiprocessing.get_context("spawn")
    start, done = ctx.Event(), ctx.Queue()
    per = total // writers
    procs = [
        ctx.Process(target=_writer, args=(url, per, 1000 + w, start, done, construct))
        for w in range(writers)
    ]
    for p in procs:
        p.start()
    for _ in procs:  # every writer has built its events and connected
        assert done.get(timeout=600) == "ready"
    t0 = time.perf_counter()
    start.set()
    ends = [done.get(timeout=600) for _ in procs]
    for p in procs:
        p.join()
    secs = max(e[0] for e in ends) - t0
    cpu = sum(e[1] for e in ends)
    return {
        "mode": f"{writers} process(es), append_many batches of {BATCH}"
        + (", AuditEvent objects built inside the clock" if construct else ""),
        "events": per * writers,
        "seconds": round(secs, 3),
        "per_second": round(per * writers / secs),
        # CPU the writer processes used (SQLite's work included; PostgreSQL's server not)
        "writer_cpu_us_per_event": round(cpu / (per * writers) * 1e6, 1),
    }


def append_threads(url: str, threads: int, total: int) -> dict[str, Any]:
    """One process, ``threads`` threads each calling ``append`` (one event at a time): the
    ledger's group commit batches whatever is waiting."""
    from leakwarden.audit.ledger import Ledger

    ledger = Ledger.open(url)
    per = total // threads
    events = _events(per * threads, 7)
    barrier = threading.Barrier(threads + 1)

    def work(k: int) -> None:
        barrier.wait()
        for e in events[k * per : (k + 1) * per]:
            ledger.append(e)

    ts = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in ts:
        t.join()
    secs = time.perf_counter() - t0
    ledger.close()
    return {
        "mode": f"1 process, {threads} threads calling append() (group commit)",
        "events": per * threads,
        "seconds": round(secs, 3),
        "per_second": round(per * threads / secs),
    }


def proofs(url: str, count: int) -> dict[str, Any]:
    from leakwarden.audit.ledger import Ledger
    from leakwarden.audit.merkle import verify_consistency, verify_inclusion

    with Ledger.open(url) as ledger:
        n = ledger.size()
        rng = random.Random(3)
        root = ledger.root(n)
        idxs = [rng.randrange(n) for _ in range(count)]
        leaves = [ledger.leaf(i)[1] for i in idxs]
        t0 = time.perf_counter()
        made = [ledger.inclusion_proof(i, n) for i in idxs]
        gen = time.perf_counter() - t0
        t0 = time.perf_counter()
        for i, lh, p in zip(idxs, leaves, made, strict=True):
            verify_inclusion(lh, i, n, p, root)
        ver = time.perf_counter() - t0
        olds = [rng.randrange(1, n) for _ in range(count)]
        old_roots = [ledger.root(m) for m in olds]
        t0 = time.perf_counter()
        cmade = [ledger.consistency_proof(m, n) for m in olds]
        cgen = time.perf_counter() - t0
        t0 = time.perf_counter()
        for m, r, p in zip(olds, old_roots, cmade, strict=True):
            verify_consistency(m, n, r, root, p)
        cver = time.perf_counter() - t0
    return {
        "tree_size": n,
        "inclusion_generated_per_second": round(count / gen),
        "inclusion_verified_per_second": round(count / ver),
        "consistency_generated_per_second": round(count / cgen),
        "consistency_verified_per_second": round(count / cver),
        "inclusion_proof_length": len(made[0]),
    }


def full_verification(url: str, size: int) -> dict[str, Any]:
    from leakwarden.audit.ledger import Ledger
    from leakwarden.audit.verify import verify_ledger

    with Ledger.open(url) as ledger:
        have = ledger.size()
        t0 = time.perf_counter()
        chunk = 20_000
        events = _events(chunk, 11)
        while have < size:
            take = min(chunk, size - have)
            ledger.append_many(events[:take])
            have += take
        build = time.perf_counter() - t0
        cpu0 = _cpu_seconds()
        t0 = time.perf_counter()
        report = verify_ledger(ledger)
        secs = time.perf_counter() - t0
        cpu = _cpu_seconds() - cpu0
    assert report.ok, report.problems[:3]
    return {
        "events": report.rows,
        "build_seconds": round(build, 1),
        "verify_seconds": round(secs, 2),
        "verified_per_second": round(report.rows / secs),
        "extrapolated_10m_seconds": round(secs * 10_000_000 / report.rows, 1),
        "workers": os.cpu_count(),
        # CPU of this process and its worker processes: on idle cores the wall time would be
        # about this divided by the workers
        "cpu_seconds": round(cpu, 1),
        "db_bytes": _db_bytes(url),
    }


def _cpu_seconds() -> float:
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)  # finished worker processes
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _db_bytes(url: str) -> int | None:
    if url.startswith("sqlite:///"):
        p = Path(url[len("sqlite:///") :])
        return sum(q.stat().st_size for q in p.parent.glob(p.name + "*"))
    return None


def _durable_pg() -> tuple[Any, str]:
    """A throwaway PostgreSQL server from the tests' helper, with fsync and synchronous commit
    on; returns (cluster, url)."""
    spec = importlib.util.spec_from_file_location(
        "_lw_conftest", Path(__file__).parent.parent / "tests" / "conftest.py"
    )
    assert spec is not None and spec.loader is not None
    conftest = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = conftest  # dataclasses look their module up there
    spec.loader.exec_module(conftest)
    conftest._SERVER_OPTIONS = (
        "-c fsync=on -c synchronous_commit=on -c full_page_writes=on "
        "-c max_connections=100 -c shared_buffers=256MB -c wal_buffers=16MB"
    )
    bindir = conftest._pg_bindir()
    if bindir is None:
        raise RuntimeError("no PostgreSQL server binaries (apt-get install postgresql)")
    cluster = conftest._Cluster(bindir)
    cluster.start()
    server = conftest.PgServer("127.0.0.1", cluster.port, conftest.PG_SUPERUSER, cluster.password)
    return cluster, server


def run(args: argparse.Namespace) -> dict[str, Any]:
    from benchmarks.machine import describe

    result: dict[str, Any] = {"machine": describe(), "appends": {}, "settings": vars(args).copy()}
    # the machine is shared: say how busy it was (1-minute load average, 2 cores)
    result["load_average_start"] = round(os.getloadavg()[0], 2)
    result["settings"]["out"] = str(args.out)
    n = args.appends
    tmp = Path(tempfile.mkdtemp(prefix="lw-audit-bench-"))
    from leakwarden.audit.events import AuditEvent

    fields = _event_fields(20_000, 1)
    t0 = time.perf_counter()
    for kw in fields:
        AuditEvent(**kw)
    result["event_construction_per_second"] = round(20_000 / (time.perf_counter() - t0))

    def sqlite_url(name: str) -> str:
        return f"sqlite:///{tmp / name}.db"

    backends: list[tuple[str, Any]] = [("sqlite", sqlite_url)]
    cluster = None
    if not args.skip_pg:
        if args.pg_url:
            backends.append(("postgresql", lambda name: args.pg_url))
        else:
            cluster, server = _durable_pg()
            backends.append(("postgresql", lambda name: server.create_database("bench")))
    try:
        for backend, make in backends:
            rows = []
            cases: list[tuple[str, str, Any]] = [
                (f"{w} writer process(es)", f"w{w}", lambda u, w=w: append_processes(u, w, n))
                for w in (1, 8)
            ]
            cases += [
                (
                    "1 writer building its events",
                    "build",
                    lambda u: append_processes(u, 1, n, construct=True),
                ),
                ("threads", "threads", lambda u: append_threads(u, 64, n // 4)),
            ]
            for label, name, case in cases:
                runs = []
                for k in range(args.repeat):
                    print(f"{backend}: {label} (run {k + 1})...", flush=True)
                    runs.append(case(make(name if k == 0 else f"{name}_{k}")))
                    print("   ", runs[-1], flush=True)
                rows.append(_median_run(runs))
            result["appends"][backend] = rows
        print("proofs...", flush=True)
        result["proofs"] = proofs(sqlite_url("w1"), args.proofs)
        print("   ", result["proofs"], flush=True)
        if args.verify_url:
            print(f"full verification of the log at {args.verify_url}...", flush=True)
            result["verification"] = full_verification(args.verify_url, 0)
        else:
            print(f"full verification of {args.verify_size} events...", flush=True)
            result["verification"] = full_verification(sqlite_url("w1"), args.verify_size)
        print("   ", result["verification"], flush=True)
    finally:
        result["load_average_end"] = round(os.getloadavg()[0], 2)
        if cluster is not None:
            cluster.stop()
        for f in tmp.glob("*"):
            f.unlink()
        tmp.rmdir()
    return result


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median throughput, and every run's events/s (the machine is shared:
    one run says little)."""
    ordered = sorted(runs, key=lambda r: r["per_second"])
    row = dict(ordered[(len(ordered) - 1) // 2])
    row["runs_per_second"] = [r["per_second"] for r in runs]
    return row


def to_markdown(result: dict[str, Any]) -> str:
    m = result["machine"]
    lines = [
        "# Audit ledger benchmark",
        "",
        f"Machine: {json.dumps(m, ensure_ascii=False)}",
        "",
        "Command: `python -m benchmarks.audit_ledger "
        + " ".join(
            f"--{k.replace('_', '-')} {v}"
            for k, v in result["settings"].items()
            if k in ("appends", "repeat", "proofs", "verify_size", "verify_url") and v is not None
        )
        + "`",
        "",
        f"1-minute load average at start / end (2 cores, shared with other work): "
        f"{result.get('load_average_start')} / {result.get('load_average_end')}",
        "",
        "## Durable appends (committed before acknowledged)",
        "",
        "Each case ran --repeat times on a fresh database; the row is the median run, "
        "'all runs' lists every run's events/s.",
        "",
        "| backend | mode | events | seconds | events/s | all runs (events/s) "
        "| writer CPU µs/event |",
        "| --- | --- | ---: | ---: | ---: | --- | ---: |",
    ]
    for backend, rows in result["appends"].items():
        for r in rows:
            lines.append(
                f"| {backend} | {r['mode']} | {r['events']} | {r['seconds']} | {r['per_second']} "
                f"| {', '.join(map(str, r.get('runs_per_second', [])))} "
                f"| {r.get('writer_cpu_us_per_event', '')} |"
            )
    lines += [
        "",
        "Building AuditEvent objects (pydantic validation, the caller's cost; only the rows "
        f"'built inside the clock' include it): "
        f"{result['event_construction_per_second']}/s.",
        "",
        "## Proofs",
        "",
    ]
    for k, v in result.get("proofs", {}).items():
        lines.append(f"- {k}: {v}")
    lines += ["", "## Full verification (SQLite)", ""]
    for k, v in result.get("verification", {}).items():
        lines.append(f"- {k}: {v}")
    return "\n".join(lines) + "\n"


def write_results(result: dict[str, Any], out: Path) -> list[Path]:
    from leakwarden.fileio import write_atomic

    out.mkdir(parents=True, exist_ok=True)
    j, md = out / f"{STEM}.json", out / f"{STEM}.md"
    write_atomic(j, json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    write_atomic(md, to_markdown(result))
    return [j, md]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.audit_ledger")
    parser.add_argument("--appends", type=int, default=200_000, help="events per append case")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of each append case (the median is shown)"
    )
    parser.add_argument("--proofs", type=int, default=2000)
    parser.add_argument("--verify-size", type=int, default=1_000_000)
    parser.add_argument(
        "--verify-url",
        default=None,
        help="verify this existing ledger instead of growing one to --verify-size",
    )
    parser.add_argument("--pg-url", default=os.environ.get("LEAKWARDEN_BENCH_PG_URL"))
    parser.add_argument("--skip-pg", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    result = run(args)
    for p in write_results(result, args.out):
        print(f"wrote {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
