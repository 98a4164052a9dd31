"""Added latency of the gateway against querying the database directly, its throughput, and
whether its quota stays exact under concurrent load.

The gateway runs under uvicorn (one worker, ``create_app`` as ``leakwarden serve`` builds it)
in its own process on loopback, against a demo company in SQLite and a store (tokens, quota
ledger, audit ledger) in SQLite (``synchronous=FULL`` for the audit ledger) or, with
``--store postgresql``, on a throwaway PostgreSQL server with ``fsync`` and
``synchronous_commit`` on (the audit benchmark's helper).  This process is the load generator:
keep-alive httpx clients, one per thread.

Cases (each over ``--n`` sequential requests after ``--warmup``):

- ``direct record``: the customer row read with SQLAlchemy Core on a pooled connection, in this
  process (what an application would do without the gateway);
- ``health``: ``GET /health`` on the same server (HTTP + uvicorn + client, no work);
- ``gateway record``: ``GET /customers/{id}`` for a customer-service agent's open ticket
  (identity, ticket check, consent, Cedar decision, masking, exact quota, durable audit append);
- ``direct SQL``: the SQL text below run on the company database directly;
- ``gateway SQL``: the same SQL through ``POST /query`` by the same agent under the ticket
  (parse, rewrite with masks and row filter, estimate, run, customers charged, audit).

Added latency = gateway − direct (p50 and p99 of each, not of a difference of pairs).  Goal:
p50 overhead < 2 ms for record lookups.  Throughput: ``--concurrency`` client threads for
``--seconds`` each, on the record lookup and on the SQL query.

Exactness under load: an analyst's quota of ``--quota-day`` distinct customers per day;
``--concurrency`` threads send ``POST /query`` for 3 x that many different regular customers at
once.  Afterwards the answers granted, the quota ledger's customers for the analyst and the
audit ledger's successful queries are counted: all three must equal the quota (no over-issue,
no charge without release).  The figures are written whatever the outcome.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
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

SQL = "SELECT id, name, mobile, city FROM customers WHERE id = {cid}"


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


def serve(config: dict[str, Any]) -> None:
    """The server process: the gateway as ``leakwarden serve`` runs it, with the benchmark's
    company, store and quota limits."""
    import uvicorn

    from leakwarden.gateway.app import create_app
    from leakwarden.gateway.settings import GatewaySettings, QuotaLimits

    settings = GatewaySettings(
        company_url=config["company"],
        store_url=config["store"],
        quota=QuotaLimits(**config["quota"]),
    )
    app = create_app(settings)
    uvicorn.run(app, host="127.0.0.1", port=config["port"], access_log=False, log_level="warning")


def run(args: argparse.Namespace, console: Console) -> dict[str, Any]:
    import httpx
    from sqlalchemy import create_engine, select, text

    from benchmarks.machine import describe
    from leakwarden.demo.build import build_company
    from leakwarden.demo.schema import customers as customers_t
    from leakwarden.gateway.identity import TokenStore
    from leakwarden.store import db

    machine = describe()
    load_start = round(os.getloadavg()[0], 2)
    work = Path(tempfile.mkdtemp(prefix="lw-gw-bench-"))
    company = f"sqlite:///{work}/company.db"
    cluster = None
    if args.store == "postgresql":
        from benchmarks.audit_ledger import _durable_pg

        cluster, pg = _durable_pg()
        store = pg.create_database("gwbench")
    else:
        store = f"sqlite:///{work}/store.db"
    console.print(f"building a demo company of {args.customers} customers in {work}")
    build_company(company, customers=args.customers, seed=11)
    with create_engine(company).connect() as conn:
        t = conn.execute(
            text(
                "SELECT t.id, t.customer_id, t.assigned_employee_id FROM tickets t "
                "JOIN employees e ON e.id = t.assigned_employee_id "
                "WHERE t.status = 'open' AND e.department = '客服' AND e.leave_date IS NULL "
                "ORDER BY t.id LIMIT 1"
            )
        ).one()
        analyst = conn.execute(
            text(
                "SELECT id FROM employees WHERE department = '数据分析' AND leave_date IS NULL "
                "ORDER BY id LIMIT 1"
            )
        ).scalar_one()
        regular = [
            int(r)
            for r in conn.execute(
                text("SELECT id FROM customers WHERE vip = 0 ORDER BY id LIMIT :n"),
                {"n": 3 * args.quota_day},
            ).scalars()
        ]
    engine = db.make_engine(store)
    db.upgrade(engine)
    tokens = TokenStore(engine)
    agent_token = tokens.issue(employee_id=t.assigned_employee_id, ttl=timedelta(hours=2)).token
    analyst_token = tokens.issue(employee_id=analyst, ttl=timedelta(hours=2)).token

    port = _free_port()
    config = {
        "company": company,
        "store": store,
        "port": port,
        "quota": {
            "day": args.quota_day,
            "week": 10 * args.quota_day,
            "rows_per_request": 20,
            "bytes_per_day": 10**9,
        },
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.gateway_latency", "--serve", json.dumps(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=Path(__file__).resolve().parent.parent,
    )
    base = f"http://127.0.0.1:{port}"
    agent = {
        "Authorization": f"Bearer {agent_token}",
        "X-Purpose": "customer_service",
        "X-Ticket": str(t.id),
    }
    sql = SQL.format(cid=t.customer_id)
    result: dict[str, Any] = {}
    try:
        client = httpx.Client(base_url=base, timeout=60)
        for _ in range(300):
            if server.poll() is not None:
                raise RuntimeError(f"the gateway exited: {server.stderr.read()[-2000:]!r}")
            try:
                client.get("/health")
                break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise RuntimeError("the gateway did not start")

        direct_engine = create_engine(company)
        stmt = select(customers_t).where(customers_t.c.id == t.customer_id)
        lean = _Lean(port)
        url = f"/customers/{t.customer_id}"
        query_body = json.dumps({"sql": sql}).encode()

        def direct_record() -> None:
            with direct_engine.connect() as conn:
                conn.execute(stmt).one()

        def direct_sql() -> None:
            with direct_engine.connect() as conn:
                conn.execute(text(sql)).all()

        def health() -> None:
            lean.call("GET", "/health")

        def health_httpx() -> None:
            client.get("/health").raise_for_status()

        def lookup_lean() -> None:
            lean.call("GET", url, agent)

        def query_lean() -> None:
            body = lean.call("POST", "/query", agent, query_body)
            if len(json.loads(body)["rows"]) != 1:
                raise RuntimeError(f"gateway answered {body[:200]!r}")

        def lookup(c: Any = client) -> None:
            r = c.get(url, headers=agent)
            if r.status_code != 200:
                raise RuntimeError(f"gateway answered {r.status_code}: {r.text[:200]}")

        def query(c: Any = client) -> None:
            r = c.post("/query", json={"sql": sql}, headers=agent)
            if r.status_code != 200 or len(r.json()["rows"]) != 1:
                raise RuntimeError(f"gateway answered {r.status_code}: {r.text[:200]}")

        probe = _commit_probe(store, work)
        n_sql = max(1, args.n // 4)
        console.print(f"timing {args.n} requests of each kind ({n_sql} for SQL), interleaved")
        cases = _interleaved(
            {
                "direct record": direct_record,
                "health": health,
                "gateway record": lookup_lean,
                "health (httpx client)": health_httpx,
                "gateway record (httpx client)": lookup,
                "durable commit alone": probe,
            },
            args.n,
            args.warmup,
            server.pid,
        )
        cases.update(
            _interleaved(
                {"direct SQL": direct_sql, "gateway SQL": query_lean},
                n_sql,
                args.warmup,
                server.pid,
            )
        )
        lean.close()
        throughput = {}
        if args.concurrency > 1:
            for name, fn in (("record lookups", lookup), ("SQL queries", query)):
                console.print(f"throughput: {name}, {args.concurrency} threads, {args.seconds} s")
                throughput[name] = _hammer(base, fn, args.concurrency, args.seconds)
        console.print(f"exactness: {3 * args.quota_day} customers asked, quota {args.quota_day}")
        exact = _exactness(
            base, analyst_token, str(analyst), regular, args.concurrency, engine, args.quota_day
        )
        client.close()
        result = {"cases": cases, "throughput": throughput, "quota_exactness": exact}
    finally:
        server.terminate()
        server.wait(timeout=30)
        engine.dispose()
    try:
        steps = _steps(company, store, t, agent_token, min(args.n, 300), console)
    finally:
        if cluster is not None:
            cluster.stop()
        shutil.rmtree(work, ignore_errors=True)
    cases = result["cases"]

    def diff(a: str, b: str) -> dict[str, float]:
        return {k: round(cases[a][k] - cases[b][k], 3) for k in ("p50_ms", "p99_ms", "mean_ms")}

    added = {
        "record": diff("gateway record", "direct record"),
        "record (httpx client)": diff("gateway record (httpx client)", "direct record"),
        "SQL": diff("gateway SQL", "direct SQL"),
    }
    http_stack = _http_stack()
    return {
        "benchmark": "gateway_latency",
        "machine": machine,
        "load_average_start": load_start,
        "load_average_end": round(os.getloadavg()[0], 2),
        "store": args.store,
        "customers": args.customers,
        "sql": SQL,
        "http_stack": http_stack,
        **result,
        "added_latency": added,
        "goal_p50_overhead_ms": 2.0,
        "goal_met": added["record"]["p50_ms"] < 2.0,
        "steps_in_process": steps,
        "method": (
            f"uvicorn (one worker; event loop {http_stack['loop']}, HTTP parser "
            f"{http_stack['http']}) serving create_app in a separate process on 127.0.0.1; this "
            "process is the load generator: sequential keep-alive requests with the standard "
            "library's http.client for the latencies (the '(httpx client)' cases: the same "
            "requests with httpx, whose own cost is the difference), one httpx client per "
            "thread for throughput; the cases take turns in 10 rounds so that load changes fall "
            "on all alike; 'direct' runs the same read with SQLAlchemy Core on a pooled "
            f"connection; SQLite company; store in {args.store} with the audit ledger committed "
            "durably per append before the answer (group commit across concurrent requests); "
            "'durable commit alone' is one small durable commit on the store's backend, timed "
            "in the same rounds (the disk flush a request cannot avoid); the same ticket and "
            "customer every time (the quota charge is an update of last_seen)."
        ),
    }


def _http_stack() -> dict[str, str]:
    """What uvicorn's ``auto`` picks in this environment (the server runs in the same one):
    uvloop and httptools when installed, else asyncio and h11."""
    import importlib.util

    have = importlib.util.find_spec
    return {
        "loop": "uvloop" if have("uvloop") else "asyncio",
        "http": "httptools" if have("httptools") else "h11",
    }


class _Lean:
    """A keep-alive HTTP/1.1 client on the standard library's ``http.client``: the load
    generator for the latencies.  httpx spends a few tenths of a millisecond of its own per
    request here (measured beside it in the same run: the ``(httpx client)`` cases), which is
    the client's cost, not the gateway's."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def call(
        self, method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b""
    ) -> bytes:
        h = dict(headers or {})
        if body:
            h["Content-Type"] = "application/json"
        for attempt in (0, 1):
            try:
                self.conn.request(method, path, body=body or None, headers=h)
                r = self.conn.getresponse()
                data = r.read()
                break
            except (http.client.RemoteDisconnected, ConnectionError):
                # the server closes idle keep-alive connections (5 s): reconnect once
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                if attempt:
                    raise
        if r.status != 200:
            raise RuntimeError(f"gateway answered {r.status}: {data[:200]!r}")
        return data

    def close(self) -> None:
        self.conn.close()


def _sched(pid: int | str) -> tuple[int, int]:
    """(ns on a CPU, ns runnable but waiting for one) of all threads of process ``pid``, from
    Linux's ``/proc/<pid>/task/*/schedstat``; (0, 0) where that is not available."""
    cpu = wait = 0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0, 0
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                on, queued, _ = f.read().split()
        except (OSError, ValueError):
            continue  # a thread that ended meanwhile
        cpu += int(on)
        wait += int(queued)
    return cpu, wait


def _interleaved(
    fns: dict[str, Any], n: int, warmup: int, server_pid: int | None = None, blocks: int = 10
) -> dict[str, dict[str, float]]:
    """Each case ``n`` times, in ``blocks`` rounds that take turns (a block of each case, then
    the next round), so that a change of the machine's load falls on all cases alike.  With
    ``server_pid``: the server's and this process's CPU time per request, and the time the
    server was runnable but waited for a core (the machine's load, not the gateway's work)."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    used = {name: [0, 0, 0] for name in fns}  # server cpu, server wait, client cpu (ns)
    per = max(1, n // blocks)
    for b in range(blocks):
        for name, fn in fns.items():
            count = per if b < blocks - 1 else n - per * (blocks - 1)
            out = times[name]
            s0 = _sched(server_pid) if server_pid else (0, 0)
            c0 = _sched("self")[0]
            for _ in range(count):
                t0 = time.perf_counter_ns()
                fn()
                out.append((time.perf_counter_ns() - t0) / 1e6)
            c1 = _sched("self")[0]
            s1 = _sched(server_pid) if server_pid else (0, 0)
            used[name][0] += s1[0] - s0[0]
            used[name][1] += s1[1] - s0[1]
            used[name][2] += c1 - c0
    result = {}
    for name, ms in times.items():
        result[name] = _summary(ms)
        if server_pid:
            cpu, wait, client = (round(v / len(ms) / 1e6, 3) for v in used[name])
            result[name].update(server_cpu_ms=cpu, server_wait_ms=wait, client_cpu_ms=client)
    return result


def _commit_probe(store: str, work: Path) -> Any:
    """One durable commit of a small row on the store's backend, as the audit ledger commits
    (SQLite: a WAL database beside the store, ``synchronous=FULL``; PostgreSQL: the store's
    server, ``synchronous_commit=on``): what the disk's flush costs at that moment, the floor of
    a request that writes its audit record durably before answering."""
    from sqlalchemy import create_engine

    if store.startswith("sqlite"):
        import sqlite3

        conn = sqlite3.connect(work / "commit_probe.db", isolation_level=None)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("CREATE TABLE probe (x TEXT)")

        def sqlite_commit() -> None:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO probe VALUES (?)", ("x" * 600,))
            conn.execute("COMMIT")

        return sqlite_commit
    raw = create_engine(store).raw_connection()
    cur = raw.cursor()
    cur.execute("CREATE TABLE IF NOT EXISTS bench_commit_probe (x TEXT)")
    raw.commit()

    def pg_commit() -> None:
        cur.execute("SET LOCAL synchronous_commit TO on")
        cur.execute("INSERT INTO bench_commit_probe VALUES (%s)", ("x" * 600,))
        raw.commit()

    return pg_commit


def _hammer(base: str, fn: Any, threads: int, seconds: float) -> dict[str, Any]:
    import httpx

    done = [0]
    errors: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(threads + 1)
    stop = [0.0]

    def worker() -> None:
        c = httpx.Client(base_url=base, timeout=60)
        start.wait()
        n = 0
        while time.perf_counter() < stop[0]:
            try:
                fn(c)
            except Exception as exc:  # counted, not fatal: the figure says so
                with lock:
                    errors.append(str(exc)[:200])
                continue
            n += 1
        c.close()
        with lock:
            done[0] += n

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for th in pool:
        th.start()
    stop[0] = time.perf_counter() + seconds
    t0 = time.perf_counter()
    start.wait()
    for th in pool:
        th.join()
    elapsed = time.perf_counter() - t0
    return {
        "concurrency": threads,
        "seconds": round(elapsed, 2),
        "requests": done[0],
        "requests_per_s": round(done[0] / elapsed, 1),
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
    }


def _exactness(
    base: str,
    token: str,
    person: str,
    customers: list[int],
    threads: int,
    store: Any,
    quota_day: int,
) -> dict[str, Any]:
    """``threads`` analysts' clients ask for ``customers`` (3 x the quota) at once, one query per
    customer; then granted answers, charged customers and audited releases are counted."""
    import httpx
    from sqlalchemy import text

    headers = {"Authorization": f"Bearer {token}", "X-Purpose": "analytics"}
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    start = threading.Barrier(max(1, threads))
    shares = [customers[i :: max(1, threads)] for i in range(max(1, threads))]
    granted: list[int] = []

    def worker(mine: list[int]) -> None:
        c = httpx.Client(base_url=base, timeout=60)
        start.wait()
        for cid in mine:
            r = c.post("/query", json={"sql": f"SELECT id FROM customers WHERE id = {cid}"},
                       headers=headers)  # fmt: skip
            with lock:
                statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
                if r.status_code == 200:
                    granted.append(cid)
        c.close()

    t0 = time.perf_counter()
    pool = [threading.Thread(target=worker, args=(s,)) for s in shares]
    for th in pool:
        th.start()
    for th in pool:
        th.join()
    elapsed = time.perf_counter() - t0
    with store.connect() as conn:
        charged = conn.execute(
            text("SELECT COUNT(DISTINCT customer_id) FROM gateway_quota_ledger WHERE person = :p"),
            {"p": person},
        ).scalar_one()
        events = [
            json.loads(e)
            for e in conn.execute(text("SELECT event FROM audit_log")).scalars()
            if '"gateway.query"' in e
        ]
    audited = sum(
        1
        for e in events
        if e.get("user", {}).get("id") == person
        and "allowed" in (e.get("event", {}).get("type") or [])
    )
    return {
        "quota_day": quota_day,
        "asked": len(customers),
        "threads": threads,
        "seconds": round(elapsed, 2),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "granted": len(granted),
        "charged_in_quota_ledger": int(charged),
        "audited_releases": audited,
        "exact": len(granted) == int(charged) == quota_day == audited,
    }


def _steps(
    company: str, store: str, t: Any, token: str, n: int, console: Console
) -> dict[str, dict[str, float]]:
    """Where the time goes: each step of a lookup timed alone, in this process, after the
    server stopped (same databases)."""
    from leakwarden.audit.events import AuditEvent
    from leakwarden.audit.ledger import Ledger
    from leakwarden.gateway.catalog import Catalog
    from leakwarden.gateway.decision import AccessRequest, Decision
    from leakwarden.gateway.identity import TokenStore, load_principal
    from leakwarden.gateway.policy import PolicyEngine
    from leakwarden.gateway.quota import SqlQuota
    from leakwarden.gateway.settings import QuotaLimits
    from leakwarden.gateway.sql_rewrite import rewrite
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
    quota = SqlQuota.for_store(store, QuotaLimits(bytes_per_day=10**12))
    ledger = Ledger.open(store)

    def decide(table: str, cols: list[str]) -> Decision:
        return policy.decide(
            AccessRequest(
                principal, "query", "customer_service", table, tuple(cols), ticket=str(t.id)
            ),
            catalog,
        )

    sql = SQL.format(cid=t.customer_id)
    fresh = itertools.count(1)  # a new literal each time: never in the rewrite memo

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
            "Cedar decision (cached)": timed(lambda: policy.decide(request, catalog)),
            "quota charge (customer + bytes)": timed(
                lambda: quota.charge(principal.person_id, {t.customer_id: False}, 1, size=600)
            ),
            "audit append (durable)": timed(
                lambda: ledger.append(AuditEvent(action="bench", outcome="success", actor="b"))
            ),
            "SQL rewrite, repeated query (memoised)": timed(
                lambda: rewrite(sql, dialect="sqlite", catalog=catalog, decide=decide)
            ),
            "SQL rewrite, new query text (sqlglot)": timed(
                lambda: rewrite(
                    f"{sql} AND {next(fresh)} > 0", dialect="sqlite", catalog=catalog, decide=decide
                )
            ),
        }
    finally:
        ledger.close()


def write(result: dict[str, Any], out: Path) -> list[Path]:
    from leakwarden.fileio import write_atomic

    out.mkdir(parents=True, exist_ok=True)
    suffix = "" if result["store"] == "sqlite" else f"_{result['store']}"
    j = out / f"gateway_latency{suffix}.json"
    write_atomic(j, json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    m = result["machine"]
    lines = [
        f"# Gateway: added latency, throughput and quota exactness (store: {result['store']})",
        "",
        f"Machine: {m['cpu_model']}, {m['logical_cores']} logical cores, Python {m['python']}, "
        f"load average {result['load_average_start']} at start and "
        f"{result['load_average_end']} at the end (shared machine), commit {m['git_commit']}, "
        f"{m['date_utc']}.",
        "",
        "Reproduce: `.venv/bin/python -m benchmarks --only gateway`"
        + (
            ""
            if result["store"] == "sqlite"
            else f" (then `python -m benchmarks.gateway_latency --store {result['store']}`)"
        ),
        "",
        f"SQL case: `{result['sql']}` (the ticket's customer).",
        "",
        "| case | n | p50 ms | p99 ms | mean ms | server CPU ms | server waiting for a core ms "
        "| client CPU ms |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, c in result["cases"].items():
        lines.append(
            f"| {name} | {c['n']} | {c['p50_ms']} | {c['p99_ms']} | {c['mean_ms']} | "
            f"{c.get('server_cpu_ms', '')} | {c.get('server_wait_ms', '')} | "
            f"{c.get('client_cpu_ms', '')} |"
        )
    lines += [
        "",
        "Server CPU, waiting and client CPU: per request, from Linux's per-thread schedstat "
        "(CPU time of all the server's threads; time they were runnable but no core was free: "
        "the machine's load, not the gateway's work; this load generator's CPU).",
    ]
    a = result["added_latency"]
    lines += [
        "",
        f"Added latency (gateway − direct), record lookup: p50 {a['record']['p50_ms']} ms, p99 "
        f"{a['record']['p99_ms']} ms; goal p50 < {result['goal_p50_overhead_ms']} ms: "
        f"{'met' if result['goal_met'] else 'NOT met'}.  With the httpx client: p50 "
        f"{a['record (httpx client)']['p50_ms']} ms.  SQL query: p50 {a['SQL']['p50_ms']} ms, "
        f"p99 {a['SQL']['p99_ms']} ms.  The durable commit alone (the disk's flush, same "
        f"rounds): p50 {result['cases']['durable commit alone']['p50_ms']} ms, p99 "
        f"{result['cases']['durable commit alone']['p99_ms']} ms.",
        "",
    ]
    for name, tp in result["throughput"].items():
        lines.append(
            f"Throughput, {name}, {tp['concurrency']} client threads: {tp['requests_per_s']} "
            f"requests/s ({tp['requests']} in {tp['seconds']} s, {tp['errors']} errors)."
        )
    q = result["quota_exactness"]
    lines += [
        "",
        f"Quota exactness under load: {q['asked']} different customers asked by {q['threads']} "
        f"threads at once against a quota of {q['quota_day']} per day: {q['granted']} granted, "
        f"{q['charged_in_quota_ledger']} in the quota ledger, {q['audited_releases']} audited "
        f"releases, answers {q['statuses']}: {'exact' if q['exact'] else 'NOT EXACT'}.",
        "",
        "Each step alone, in process (ms):",
        "",
        "| step | p50 | p99 |",
        "| --- | ---: | ---: |",
    ]
    for name, c in result["steps_in_process"].items():
        lines.append(f"| {name} | {c['p50_ms']} | {c['p99_ms']} |")
    lines += ["", "Method: " + result["method"]]
    if result.get("analysis"):
        lines += ["", "## Where the time goes", "", result["analysis"]]
    md = out / f"gateway_latency{suffix}.md"
    write_atomic(md, "\n".join(lines) + "\n")
    return [j, md]


def _analysis(result: dict[str, Any]) -> str:
    """The decomposition of the record lookup's p50, from the figures of this run."""
    c = result["cases"]
    http = c["health"]["p50_ms"]
    gw = c["gateway record"]["p50_ms"]
    flush = c["durable commit alone"]["p50_ms"]
    rest = gw - http - flush
    added = result["added_latency"]["record"]["p50_ms"]
    return (
        f"Record lookup p50 {gw} ms (added over the direct read: {added} ms) = the HTTP round "
        f"trip with no work ({http} ms, GET /health, same client and rounds) + one durable "
        f"commit's disk flush ({flush} ms, timed alone in the same rounds) + {rest:.2f} ms for "
        "the rest: the token, employee, ticket and customer reads, consent, the (cached) Cedar "
        "decision, masking, the quota transaction, building and writing the audit event, "
        "FastAPI's routing, validation and JSON.  The flush is the part the gateway cannot "
        "shed while it writes every decision durably before answering; on this shared "
        "machine it ranges from about 0.1 ms (quiet disk) to 4-10 ms while other jobs write, "
        "so the same code meets or misses the 2 ms goal depending on the disk's load at the "
        "time.  See docs/design-notes.md ('Gateway latency') for what changed and what each "
        "step cost."
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gateway_latency")
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--quota-day", type=int, default=50)
    parser.add_argument("--store", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(json.loads(args.serve))
        return 0
    console = Console(width=None if sys.stdout.isatty() else 140)
    result = run(args, console)
    result["analysis"] = _analysis(result)
    view = Table(title=f"Gateway vs direct database read (ms), store {args.store}")
    for col in ("case", "n", "p50", "p99", "mean"):
        view.add_column(col)
    for name, c in result["cases"].items():
        view.add_row(name, str(c["n"]), str(c["p50_ms"]), str(c["p99_ms"]), str(c["mean_ms"]))
    console.print(view)
    console.print(f"added latency: {result['added_latency']}")
    console.print(f"throughput: {result['throughput']}")
    console.print(f"quota exactness: {result['quota_exactness']}")
    for path in write(result, args.out):
        console.print(f"wrote {path}")
    return 0 if result["quota_exactness"]["exact"] else 1


if __name__ == "__main__":
    sys.exit(main())
