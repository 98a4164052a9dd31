"""``python -m benchmarks``: run every benchmark, print tables, write JSON and Markdown results.

1. ``detect_vs_presidio``: leakwarden's detector against Presidio's analyzer (``--size`` etc.).
2. ``column_scan``: column classification of big CSV files, and of PostgreSQL tables when
   ``--pg-url`` (or ``LEAKWARDEN_BENCH_PG_URL``) names a database the benchmark may fill.

Other parts run alone with ``--only NAME`` and their own defaults: ``audit`` (ledger appends,
proofs, verification), ``protect`` and ``operators`` (de-identification), ``gateway`` (added
latency), ``trace`` (attribution and fingerprint simulator), ``trace-match`` (leaked rows per
second against a real 10M-customer base) and ``monitor`` (insider families at the alert budget,
the scale day, Dask).

``--only detect`` or ``--only columns`` runs one.  The exit status is 1 when the detection bar
(50x Presidio, 0.99 precision and recall on validated types) is not met, after everything ran.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

from rich.console import Console

from benchmarks import column_scan, detect_vs_presidio
from benchmarks.corpus import BACKGROUND_SHARE
from benchmarks.systems import SYSTEMS

UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "KIB": 2**10, "MIB": 2**20}


def parse_size(text: str) -> int:
    """``3MB``, ``500KB``, ``2MiB`` or a plain byte count, as bytes."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", text)
    if not m or m.group(2).upper() not in UNITS:
        raise argparse.ArgumentTypeError(
            f"size {text!r} is not a number with an optional unit (B, KB, MB, GB, KiB, MiB)"
        )
    size = int(float(m.group(1)) * UNITS[m.group(2).upper()])
    if size <= 0:
        raise argparse.ArgumentTypeError(f"size {text!r} must be positive")
    return size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="leakwarden benchmarks: detection against Presidio, column classification.",
    )
    parser.add_argument(
        "--size", type=parse_size, default=parse_size("3MB"), help="corpus size (default 3MB)"
    )
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument(
        "--background-share",
        type=float,
        default=BACKGROUND_SHARE,
        help=f"share of records without personal information (default {BACKGROUND_SHARE})",
    )
    parser.add_argument("--repeat", type=int, default=3, help="timed passes for leakwarden")
    parser.add_argument("--presidio-repeat", type=int, default=1, help="timed passes for Presidio")
    parser.add_argument(
        "--systems",
        nargs="+",
        default=None,
        choices=sorted(SYSTEMS),
        help="systems to run (default: all that are available)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=detect_vs_presidio.RESULTS_DIR,
        help="folder for the JSON and Markdown results",
    )
    parser.add_argument(
        "--only",
        choices=(
            "detect",
            "columns",
            "audit",
            "protect",
            "operators",
            "gateway",
            "trace",
            "trace-match",
            "monitor",
        ),
        default=None,
    )
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("LEAKWARDEN_BENCH_PG_URL"),
        help="PostgreSQL database for the table cases of the column benchmark (it is written to)",
    )
    args = parser.parse_args(argv)
    if args.only == "audit":  # audit ledger: appends, proofs, verification (its own options)
        from benchmarks import audit_ledger

        return audit_ledger.main(["--out", str(args.out)])
    if args.only == "gateway":  # gateway: added latency per record lookup (its own options)
        from benchmarks import gateway_latency

        return gateway_latency.main(["--out", str(args.out)])
    if args.only == "trace":  # trace: attribution simulator and matching speed (own options)
        from benchmarks import trace_sim

        return trace_sim.main(["--out", str(args.out)])
    if args.only == "trace-match":  # trace: leaked rows/s against a real 10M-customer base
        from benchmarks import trace_match

        return trace_match.main(["--out", str(args.out)])
    if args.only == "monitor":  # monitor: per-family recall at the alert budget, scale day, Dask
        from benchmarks import monitor_eval

        return monitor_eval.main(["--out", str(args.out)])
    if args.only == "operators":  # protect operators per second (mask, HMAC, FF1, vault)
        from benchmarks import protect_operators

        return protect_operators.main(["--out", str(args.out)])
    if args.only == "protect":  # protect: rows/s and peak memory of the rewrite (its own options)
        from benchmarks import protect_rewrite

        extra = ["--pg-url", args.pg_url] if args.pg_url else []
        return protect_rewrite.main(["--out", str(args.out), *extra])
    status = 0
    if args.only != "columns":
        status = run_detect(args)
    if args.only != "detect":
        column_args = ["--out", str(args.out)]
        if args.pg_url:
            column_args += ["--pg-url", args.pg_url]
        column_scan.main(column_args)
    return status


def run_detect(args: argparse.Namespace) -> int:
    console = Console(width=None if sys.stdout.isatty() else 140)
    result = detect_vs_presidio.run(
        args.size,
        seed=args.seed,
        repeat=args.repeat,
        presidio_repeat=args.presidio_repeat,
        systems=args.systems,
        background_share=args.background_share,
        console=console,
    )
    detect_vs_presidio.print_tables(result, console)
    for path in detect_vs_presidio.write_results(result, args.out):
        console.print(f"wrote {path}")
    return 0 if result["bar"].get("met") is not False else 1


if __name__ == "__main__":
    sys.exit(main())
