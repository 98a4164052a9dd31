"""Column classification of a big CSV file and a big PostgreSQL table: time and peak memory.

``python -m benchmarks.column_scan --csv-mb 1000 --pg-rows 10000000 --pg-url URL`` writes a
customer CSV of about that size (streamed, from ``leakwarden.demo.values``), optionally loads
the same rows into a PostgreSQL table, and runs ``leakwarden.scan.scanner.scan_sources`` on each
in a fresh process, sampled (the default) and with ``--full``, recording wall time, CPU time
and peak resident memory (``ru_maxrss``).  Memory must not grow with the size of the input, so
every case is run at two sizes.  Sizes too slow for the machine at hand are measured smaller
and the time extrapolated linearly (said so in the results).
"""

from __future__ import annotations

import argparse
import csv
import io
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

from rich.console import Console
from rich.table import Table

from benchmarks import machine

RESULTS_DIR = Path(__file__).resolve().parent / "results"
COLUMNS = (
    "customer_id", "name", "gender", "birth_date", "id_number", "mobile", "email", "address",
    "card_number", "order_no", "amount", "created_at",
)  # fmt: skip
BATCH = 20_000


def rows(seed: int) -> Iterator[list[str]]:
    """An endless stream of customer rows, made in vectorised batches."""
    from leakwarden.demo.values import Values

    v = Values(seed=seed)
    serial = 0
    while True:
        cols = v.people_columns(BATCH)
        cards = [c for c, _ in v.bank_cards(BATCH)]
        amounts = (v.rng.integers(100, 10_000_000, BATCH) / 100).tolist()
        orders = v.rng.integers(10**15, 10**16, BATCH).tolist()
        for i in range(BATCH):
            serial += 1
            yield [
                str(serial),
                str(cols["name"][i]),
                str(cols["gender"][i]),
                str(cols["birth_date"][i]),
                str(cols["id_number"][i]),
                str(cols["mobile"][i]),
                str(cols["email"][i]),
                str(cols["address"][i]),
                cards[i],
                f"DD{orders[i]}",
                f"{amounts[i]:.2f}",
                f"2024-{serial % 12 + 1:02d}-{serial % 28 + 1:02d} 12:{serial % 60:02d}:00",
            ]


def write_csv(path: Path, size_bytes: int, seed: int = 1) -> int:
    """Write rows until the file reaches ``size_bytes``; return the number of data rows."""
    n = 0
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(COLUMNS)
        buf = io.StringIO()
        chunk = csv.writer(buf)
        written = 0
        for row in rows(seed):
            chunk.writerow(row)
            n += 1
            if n % 5000 == 0:
                data = buf.getvalue()
                fh.write(data)
                written += len(data.encode("utf-8"))
                buf.seek(0)
                buf.truncate()
                if written >= size_bytes:
                    break
        fh.write(buf.getvalue())
    return n


def load_postgres(url: str, table: str, n_rows: int, seed: int = 1) -> None:
    """Create ``table`` (dropping an old one) and COPY ``n_rows`` generated rows into it."""
    import psycopg

    conninfo = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'DROP TABLE IF EXISTS "{table}"')
        cols = ", ".join(
            f'"{c}" bigint PRIMARY KEY' if c == "customer_id" else f'"{c}" text' for c in COLUMNS
        )
        conn.execute(f'CREATE TABLE "{table}" ({cols})')
        with conn.cursor() as cur, cur.copy(f'COPY "{table}" FROM STDIN') as copy:
            for i, row in enumerate(rows(seed)):
                if i >= n_rows:
                    break
                copy.write_row(row)
        conn.execute(f'ANALYZE "{table}"')


def drop_table(url: str, table: str) -> None:
    import psycopg

    conninfo = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'DROP TABLE IF EXISTS "{table}"')


def scan_worker(target: str, full: bool) -> dict[str, Any]:
    """Run one scan in this process; return time, memory and what was decided."""
    from leakwarden.scan.scanner import scan_sources
    from leakwarden.scan.tasks import ScanOptions

    wall0, cpu0 = time.perf_counter(), time.process_time()
    report = scan_sources([target], ScanOptions(full=full))
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    entries = sorted({(e.location.field or "", e.pi_type) for e in report.entries}, key=lambda x: x)
    return {
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "columns_classified": [f"{f}: {t}" for f, t in entries],
        "problems": [str(p) for p in report.problems][:10],
        "unreadable": list(report.unreadable),
    }


def run_scan(target: str, full: bool, cpu: int | None) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "benchmarks.column_scan", "--worker", target]
    if full:
        cmd.append("--full")
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    if cpu is not None:
        cmd = ["taskset", "-c", str(cpu), *cmd]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        raise RuntimeError(f"scan of {target} failed (exit {proc.returncode}):\n{tail}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.column_scan")
    parser.add_argument("--worker", metavar="TARGET", help=argparse.SUPPRESS)
    parser.add_argument("--full", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--csv-mb", type=float, nargs="*", default=[100.0, 1000.0],
                        help="CSV sizes for the sampled scan (MB)")  # fmt: skip
    parser.add_argument("--full-csv-mb", type=float, nargs="*", default=[5.0, 20.0],
                        help="CSV sizes for the full scan (MB)")  # fmt: skip
    parser.add_argument("--pg-url", default=None, help="PostgreSQL URL for the table cases")
    parser.add_argument("--pg-rows", type=int, nargs="*", default=[300_000, 1_000_000])
    parser.add_argument("--name", default="column_scan", help="results file stem")
    parser.add_argument("--workdir", type=Path, default=None, help="where the CSVs go")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)

    if args.worker:
        print(json.dumps(scan_worker(args.worker, args.full)))
        return 0

    console = Console(width=None if sys.stdout.isatty() else 140)
    usable = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    cpu = usable[-1] if usable else None
    cases: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="lw-colscan-", dir=args.workdir) as tmp:
        for mb, full in [(m, False) for m in args.csv_mb] + [(m, True) for m in args.full_csv_mb]:
            path = Path(tmp) / f"customers-{mb:g}MB.csv"
            if not path.exists():
                t0 = time.perf_counter()
                with console.status(f"writing {path.name}"):
                    n = write_csv(path, int(mb * 1e6))
                console.print(f"wrote {path.name}: {n} rows in {time.perf_counter() - t0:.1f} s")
            size = path.stat().st_size
            n_rows = sum(1 for _ in path.open("rb")) - 1
            with console.status(f"scanning {path.name} ({'full' if full else 'sampled'})"):
                res = run_scan(str(path), full, cpu)
            res.update(source="csv", bytes=size, rows=n_rows, mode="full" if full else "sampled")
            res["mb_per_s_wall"] = round(size / 1e6 / res["wall_s"], 3)
            cases.append(res)
            console.print(f"  {res['mode']} {size / 1e6:.0f} MB: {res['wall_s']} s, "
                          f"{res['peak_rss_mib']} MiB")  # fmt: skip
            if full:
                path.unlink()
        if args.pg_url:
            for n_rows in args.pg_rows:
                table = f"bench_customers_{n_rows}"
                t0 = time.perf_counter()
                with console.status(f"loading {n_rows} rows into PostgreSQL"):
                    load_postgres(args.pg_url, table, n_rows)
                console.print(f"loaded {table} in {time.perf_counter() - t0:.1f} s")
                with console.status(f"scanning {table} (sampled)"):
                    res = run_scan(args.pg_url, False, cpu)
                res.update(source="postgresql", rows=n_rows, mode="sampled", table=table)
                cases.append(res)
                console.print(
                    f"  sampled {n_rows} rows: {res['wall_s']} s, {res['peak_rss_mib']} MiB"
                )

    result: dict[str, Any] = {
        "benchmark": "column_scan",
        "machine": machine.describe(),
        "method": method(cpu),
        "cases": cases,
        "extrapolation": _extrapolate(cases),
        "caveats": list(CAVEATS),
    }
    view = Table(title="Column classification: time and peak memory")
    for col in ("source", "mode", "size", "rows", "wall s", "CPU s", "peak RSS MiB"):
        view.add_column(col)
    for c in cases:
        shown = f"{c['bytes'] / 1e6:.0f} MB" if "bytes" in c else "-"
        view.add_row(c["source"], c["mode"], shown, str(c["rows"]), str(c["wall_s"]),
                     str(c["cpu_s"]), str(c["peak_rss_mib"]))  # fmt: skip
    console.print(view)
    for note in result["extrapolation"]:
        console.print(note)
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / f"{args.name}.json"
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", "utf-8")
    console.print(f"wrote {out}")
    return 0


def method(cpu: int | None) -> str:
    return (
        "each scan is leakwarden.scan.scanner.scan_sources([target], ScanOptions(full=...)) in a "
        f"fresh process pinned with taskset to CPU {cpu}; wall and CPU time of the call; peak "
        "memory is the process's ru_maxrss (includes Python, the detector and the name/address "
        "model). CSV rows (and table rows, loaded with COPY) come from leakwarden.demo.values "
        "(people_columns, bank_cards) plus order numbers, amounts and timestamps."
    )


CAVEATS = (
    "A sampled scan (the default: 1000 non-empty cells per column, at most 10x that many rows) "
    "reads the head of a CSV file, so its time and memory do not depend on the file's size; it "
    "is not a random sample across the file.",
    "Full scans were measured on small files and extrapolated linearly (see 'extrapolation'); "
    "a full 1 GB scan was not run here.",
    "Compare the sizes of each source to see how time and memory scale with the input.",
    "The machine was shared with other work while measuring (see load_average_at_start).",
)


def _extrapolate(cases: list[dict[str, Any]]) -> list[str]:
    full = [c for c in cases if c["source"] == "csv" and c["mode"] == "full"]
    if len(full) < 2:
        return []
    a, b = full[0], full[-1]
    rate = (b["bytes"] - a["bytes"]) / 1e6 / max(1e-9, b["cpu_s"] - a["cpu_s"])
    return [
        f"full CSV scan: {rate:.2f} MB/s per core between {a['bytes'] / 1e6:.0f} and "
        f"{b['bytes'] / 1e6:.0f} MB (CPU time); 1 GB would take about {1000 / rate / 60:.0f} "
        f"CPU-minutes on one core; peak memory {a['peak_rss_mib']} -> {b['peak_rss_mib']} MiB",
    ]


if __name__ == "__main__":
    sys.exit(main())
