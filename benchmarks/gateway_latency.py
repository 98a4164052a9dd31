"""Added latency of the gateway's record lookups against querying the database directly.

The gateway runs under uvicorn in its own process on loopback (``leakwarden serve``'s
``serve_command``), against a demo company in SQLite and a SQLite store (tokens, quota ledger,
audit ledger with ``synchronous=FULL``).  This process is the load generator: a keep-alive HTTP
client asking ``GET /customers/{id}`` for a customer-service agent's open ticket (identity,
ticket check, consent, Cedar decision, masking, exact quota, durable audit append, response).

Figures (each over ``--n`` requests after ``--warmup``):

- ``direct``: the same customer row read with SQLAlchemy Core on a pooled connection, in this
  process (what an application would do without the gateway);
- ``health``: ``GET /health`` on the same server (HTTP + uvicorn + client, no work);
- ``gateway``: the record lookup.

Added latency = gateway − direct (p50 and p99 of each, not of a difference of pairs).  Goal:
p50 overhead < 2 ms.  ``--concurrency`` > 1 also measures requests per second with that many
client threads.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def _pct(xs: list[float], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def _summary(ms: list[float]) -> dict[str, float]:
    return {
        "n": len(ms),
        "p50_ms": round(_pct(ms, 50), 3),
        "p99_ms": round(_pct(ms, 99), 3),
        "mean_ms": round(statistics.fmean(ms), 3),
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(customers: int, n: int, warmup: int, concurrency: int, console: Console) -> dict[str, Any]:
    import httpx
    from sqlalchemy import create_engine, select, text

    from benchmarks.machine import describe
    from leakwarden.demo.build import build_company
    from leakwarden.demo.schema import customers as customers_t
    from leakwarden.gateway.identity import TokenStore
    from leakwarden.store import db

    machine = describe()
    work = Path(tempfile.mkdtemp(prefix="lw-gw-bench-"))
    company = f"sqlite:///{work}/company.db"
    store = f"sqlite:///{work}/store.db"
    console.print(f"building a demo company of {customers} customers in {work}")
    build_company(company, customers=customers, seed=11)
    with create_engine(company).connect() as conn:
        t = conn.execute(
            text(
                "SELECT t.id, t.customer_id, t.assigned_employee_id FROM tickets t "
                "JOIN employees e ON e.id = t.assigned_employee_id "
                "WHERE t.status = 'open' AND e.department = '客服' AND e.leave_date IS NULL "
                "ORDER BY t.id LIMIT 1"
            )
        ).one()
    engine = db.make_engine(store)
    db.upgrade(engine)
    token = TokenStore(engine).issue(employee_id=t.assigned_employee_id, ttl=timedelta(hours=2))
    engine.dispose()

    port = _free_port()
    code = (
        "import typer; from leakwarden.gateway.command import serve_command; "
        "typer.run(serve_command)"
    )
    server = subprocess.Popen(
        [sys.executable, "-c", code, "--port", str(port), "--company-url", company,
         "--url", store],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "UVICORN_LOG_LEVEL": "warning"},
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    headers = {
        "Authorization": f"Bearer {token.token}",
        "X-Purpose": "customer_service",
        "X-Ticket": str(t.id),
    }
    try:
        client = httpx.Client(base_url=base, timeout=30)
        for _ in range(200):
            try:
                client.get("/health")
                break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise RuntimeError("the gateway did not start")

        def timed(fn: Any) -> list[float]:
            for _ in range(warmup):
                fn()
            out = []
            for _ in range(n):
                t0 = time.perf_counter_ns()
                fn()
                out.append((time.perf_counter_ns() - t0) / 1e6)
            return out

        direct_engine = create_engine(company)
        stmt = select(customers_t).where(customers_t.c.id == t.customer_id)

        def direct() -> None:
            with direct_engine.connect() as conn:
                conn.execute(stmt).one()

        def health() -> None:
            client.get("/health").raise_for_status()

        url = f"/customers/{t.customer_id}"

        def lookup() -> None:
            r = client.get(url, headers=headers)
            if r.status_code != 200:
                raise RuntimeError(f"gateway answered {r.status_code}: {r.text[:200]}")

        console.print(f"timing {n} requests of each kind ({warmup} warm-up)")
        cases = {
            "direct": _summary(timed(direct)),
            "health": _summary(timed(health)),
            "gateway": _summary(timed(lookup)),
        }
        throughput: dict[str, Any] | None = None
        if concurrency > 1:
            done = [0]
            lock = threading.Lock()
            stop = time.perf_counter() + 5.0

            def hammer() -> None:
                c = httpx.Client(base_url=base, timeout=30)
                while time.perf_counter() < stop:
                    r = c.get(url, headers=headers)
                    r.raise_for_status()
                    with lock:
                        done[0] += 1
                c.close()

            threads = [threading.Thread(target=hammer) for _ in range(concurrency)]
            t0 = time.perf_counter()
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            throughput = {
                "concurrency": concurrency,
                "seconds": round(time.perf_counter() - t0, 2),
                "requests": done[0],
                "requests_per_s": round(done[0] / (time.perf_counter() - t0), 1),
            }
        client.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    try:
        steps = _steps(company, store, t, token.token, min(n, 300), console)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    added = {
        "p50_ms": round(cases["gateway"]["p50_ms"] - cases["direct"]["p50_ms"], 3),
        "p99_ms": round(cases["gateway"]["p99_ms"] - cases["direct"]["p99_ms"], 3),
    }
    return {
        "benchmark": "gateway_latency",
        "machine": machine,
        "customers": customers,
        "cases": cases,
        "added_latency": added,
        "goal_p50_overhead_ms": 2.0,
        "goal_met": added["p50_ms"] < 2.0,
        "throughput": throughput,
        "steps_in_process": steps,
        "method": (
            "uvicorn (one worker) serving create_app in a separate process on 127.0.0.1; "
            "this process sends sequential keep-alive requests with httpx; 'direct' reads the "
            "same row with SQLAlchemy Core on a pooled connection; SQLite company and store, "
            "audit ledger fsynced per append; the same ticket and customer every time (the "
            "quota charge is an update of last_seen)."
        ),
    }


def _steps(
    company: str, store: str, t: Any, token: str, n: int, console: Console
) -> dict[str, dict[str, float]]:
    """Where the time goes: each step of a lookup timed alone, in this process, after the
    server stopped (same databases)."""
    from leakwarden.audit.events import AuditEvent
    from leakwarden.audit.ledger import Ledger
    from leakwarden.gateway.catalog import Catalog
    from leakwarden.gateway.decision import AccessRequest
    from leakwarden.gateway.identity import TokenStore, load_principal
    from leakwarden.gateway.policy import PolicyEngine
    from leakwarden.gateway.quota import SqlQuota
    from leakwarden.gateway.settings import QuotaLimits
    from leakwarden.gateway.tickets import check_ticket
    from leakwarden.store import db

    console.print(f"timing each step alone ({n} times)")
    ce = db.make_engine(company)
    tokens = TokenStore(db.make_engine(store))
    principal = load_principal(ce, t.assigned_employee_id)
    catalog = Catalog.from_demo()
    policy = PolicyEngine.load()
    columns = tuple(catalog.table("customers").columns)
    request = AccessRequest(principal=principal, action="read", purpose="customer_service",
                            table="customers", columns=columns, ticket=str(t.id),
                            customer_ids=(t.customer_id,), ticket_checked=True)  # fmt: skip
    quota = SqlQuota.for_store(store, QuotaLimits())
    ledger = Ledger.open(store)

    def timed(fn: Any) -> dict[str, float]:
        fn()
        out = []
        for _ in range(n):
            t0 = time.perf_counter_ns()
            fn()
            out.append((time.perf_counter_ns() - t0) / 1e6)
        return _summary(out)

    try:
        return {
            "verify API token": timed(lambda: tokens.verify(token)),
            "load employee": timed(lambda: load_principal(ce, t.assigned_employee_id)),
            "check ticket": timed(lambda: check_ticket(ce, str(t.id), principal, [t.customer_id])),
            "Cedar decision": timed(lambda: policy.decide(request, catalog)),
            "quota charge": timed(
                lambda: quota.charge(principal.person_id, {t.customer_id: False}, 1)
            ),
            "audit append": timed(
                lambda: ledger.append(AuditEvent(action="bench", outcome="success", actor="b"))
            ),
        }
    finally:
        ledger.close()


def write(result: dict[str, Any], out: Path) -> list[Path]:
    from leakwarden.fileio import write_atomic

    out.mkdir(parents=True, exist_ok=True)
    j = out / "gateway_latency.json"
    write_atomic(j, json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    m = result["machine"]
    lines = [
        "# Gateway: added latency per record lookup",
        "",
        f"Machine: {m['cpu_model']}, {m['logical_cores']} logical cores, Python {m['python']}, "
        f"load at start {m['load_average_at_start']}, commit {m['git_commit']}, {m['date_utc']}.",
        "",
        "Reproduce: `.venv/bin/python -m benchmarks --only gateway`",
        "",
        "| case | n | p50 ms | p99 ms | mean ms |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, c in result["cases"].items():
        lines.append(f"| {name} | {c['n']} | {c['p50_ms']} | {c['p99_ms']} | {c['mean_ms']} |")
    a = result["added_latency"]
    lines += [
        "",
        f"Added latency (gateway − direct): p50 {a['p50_ms']} ms, p99 {a['p99_ms']} ms; goal p50 "
        f"< {result['goal_p50_overhead_ms']} ms: {'met' if result['goal_met'] else 'NOT met'}.",
    ]
    if result["throughput"]:
        tp = result["throughput"]
        lines.append(
            f"Throughput with {tp['concurrency']} client threads: {tp['requests_per_s']} "
            f"requests/s ({tp['requests']} in {tp['seconds']} s)."
        )
    lines += [
        "",
        "Each step alone, in process (ms):",
        "",
        "| step | p50 | p99 |",
        "| --- | ---: | ---: |",
    ]
    for name, c in result["steps_in_process"].items():
        lines.append(f"| {name} | {c['p50_ms']} | {c['p99_ms']} |")
    lines += ["", "Method: " + result["method"]]
    load = m.get("load_average_at_start") or [0.0]
    if load and load[0] > (m.get("logical_cores") or 1):
        lines += [
            "",
            f"Caveat: measured on a shared machine under load ({load[0]:.1f} on "
            f"{m['logical_cores']} cores): even GET /health took "
            f"{result['cases']['health']['p50_ms']} ms at p50; rerun on a quiet machine.",
        ]
    md = out / "gateway_latency.md"
    write_atomic(md, "\n".join(lines) + "\n")
    return [j, md]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gateway_latency")
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    console = Console(width=None if sys.stdout.isatty() else 140)
    result = run(args.customers, args.n, args.warmup, args.concurrency, console)
    view = Table(title="Gateway record lookup vs direct database read (ms)")
    for col in ("case", "n", "p50", "p99", "mean"):
        view.add_column(col)
    for name, c in result["cases"].items():
        view.add_row(name, str(c["n"]), str(c["p50_ms"]), str(c["p99_ms"]), str(c["mean_ms"]))
    console.print(view)
    console.print(f"added latency: {result['added_latency']}; throughput: {result['throughput']}")
    for path in write(result, args.out):
        console.print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
