"""trace (issue 6): a leak simulator for attribution, and the matching speed.

Attribution (in memory, the model of :mod:`leakwarden.trace.attribute` on membership computed
from the simulated sets; the keyed hashing is exercised by the tests and the speed part):

- a customer base of ``--base`` customers; ``--copies`` export copies per scenario, each a
  random set of ``--copy-min``..``--copy-max`` customers, shaped by the scenario:
  ``disjoint`` (no two copies share a customer), ``half`` (each copy shares at most half of its
  customers with the others: half drawn from a common pool), ``heavy`` (90 % from a common pool
  of 2x the copy size), ``colluders`` (``heavy`` copies; two recipients merge their copies and
  leak from the union);
- per trial one copy (or a pair of colluders) leaks ``n`` customers (``n`` in ``--sizes``);
  ``--other-route`` of them (default 0.005) are replaced by random customers of the base (rows
  that came through another route); 30 % foreign rows are added, which match no customer and,
  as in the product, carry no weight;
- per scenario and size: correct names, wrong accusations (a copy named that did not leak:
  must be 0), undecided, and the smallest size at which every trial named the right copy.

Fingerprints (:mod:`benchmarks.trace_fingerprint_sim`, results in ``trace_fingerprint.json`` /
``.md``): the same scenarios with canaries (``--density``) and keyed row order, plain vs
canaries vs kept order vs shuffled vs both (``--fp-trials`` per cell); ``--fingerprint-only``
runs just that part, ``--no-fingerprint`` skips it.

Matching speed: a demo company of ``--customers`` customers (SQLite, built once under
``--work``), a leak of ``--leak-rows`` rows (70 % real customers' rows reformatted: phones with
+86 and dashes, IDs lower-case, 10 % masked mobiles confirmed by the name; 30 % foreign) run
through :func:`leakwarden.trace.normalize.read_sample` and :func:`leakwarden.trace.match.
match_sample`.  With ``--pad-to`` the exact index is padded with random 8-byte hashes to the
size it would have for that many customers (4 identifiers each), so the lookups run against a
10-million-customer index; the customer details for confirmation still come from the demo
company, which is smaller (said so in the results).
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

RESULTS_DIR = Path(__file__).resolve().parent / "results"
SCENARIOS = ("disjoint", "half", "heavy", "colluders")


def _copies(
    rng: random.Random, scenario: str, base: int, k: int, lo: int, hi: int
) -> list[set[int]]:
    sizes = [rng.randint(lo, hi) for _ in range(k)]
    if scenario == "disjoint":
        ids = rng.sample(range(base), sum(sizes))
        out, pos = [], 0
        for s in sizes:
            out.append(set(ids[pos : pos + s]))
            pos += s
        return out
    pool_size = 2 * hi
    pool = rng.sample(range(base), pool_size)
    share = 0.5 if scenario == "half" else 0.9
    out = []
    for s in sizes:
        shared = int(s * share)
        mine = set(rng.sample(pool, shared))
        while len(mine) < s:
            mine.add(rng.randrange(base))
        out.append(mine)
    return out


def simulate(args: argparse.Namespace) -> dict[str, Any]:
    from leakwarden.trace.attribute import CopyRecord, ModelConfig, attribute

    rng = random.Random(args.seed)
    config = ModelConfig()
    results: dict[str, Any] = {}
    for scenario in SCENARIOS:
        per_size = {n: {"right": 0, "wrong": 0, "undecided": 0} for n in args.sizes}
        for _ in range(args.trials):
            copies = _copies(rng, scenario, args.base, args.copies, args.copy_min, args.copy_max)
            records = [
                CopyRecord(f"c{k}", f"r{k}", "x", [], "", "", [], len(s), len(s), "k",
                           frozenset(map(str, s)), frozenset())
                for k, s in enumerate(copies)
            ]  # fmt: skip
            if scenario == "colluders":
                guilty = set(rng.sample(range(len(copies)), 2))
            else:
                guilty = {rng.randrange(len(copies))}
            source = sorted(set().union(*(copies[g] for g in guilty)))
            for n in args.sizes:
                leaked = rng.sample(source, min(n, len(source)))
                leaked = [
                    rng.randrange(args.base) if rng.random() < args.other_route else c
                    for c in leaked
                ]
                units = sorted(set(leaked))  # foreign rows match nobody: no unit
                m = np.array([[u in s for s in copies] for u in units], dtype=bool).reshape(
                    len(units), len(copies)
                )
                att = attribute(records, m, args.base, config)
                cell = per_size[n]
                if att.verdict == "attributed" and att.named is not None:
                    if int(att.named.copy.export_id[1:]) in guilty:
                        cell["right"] += 1
                    else:
                        cell["wrong"] += 1
                else:
                    cell["undecided"] += 1
        needed = next((n for n in args.sizes if per_size[n]["right"] == args.trials), None)
        results[scenario] = {"by_size": per_size, "rows_needed_all_trials": needed}
    return results


def _leak_file(path: Path, company_url: str, rows: int, seed: int) -> list[int | None]:
    """Write the leak; return each data row's true customer id (None: foreign), in file order."""
    from sqlalchemy import create_engine, func, select

    from leakwarden.demo.schema import customers
    from leakwarden.demo.values import Values

    rng = random.Random(seed)
    engine = create_engine(company_url)
    c = customers.c
    with engine.connect() as conn:
        total = int(conn.execute(select(func.count()).select_from(customers)).scalar_one())
        ids = rng.sample(range(1, total + 1), int(rows * 0.7))
        found = conn.execute(
            select(c.id, c.name, c.mobile, c.id_card, c.address).where(
                c.id.in_(ids), c.locale == "zh_CN"
            )
        ).all()
    engine.dispose()
    out: list[tuple[int | None, list[str]]] = []
    for i, (cid, name, mobile, id_card, address) in enumerate(found):
        if i % 10 == 0:
            out.append((int(cid), [name, mobile[:3] + "****" + mobile[7:], "", address]))
        else:
            phone = f"+86 {mobile[:3]}-{mobile[3:7]}-{mobile[7:]}"
            out.append((int(cid), [name, phone, id_card.lower(), ""]))
    foreign = Values(seed + 1).people_columns(rows - len(out), en_share=0.0)
    for j in range(rows - len(out)):
        out.append((None, [str(foreign["name"][j]), str(foreign["mobile"][j]),
                           str(foreign["id_number"][j]), ""]))  # fmt: skip
    rng.shuffle(out)
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["客户", "联系电话", "证件", "地址"])
        w.writerows(r for _, r in out)
    return [t for t, _ in out]


def speed(args: argparse.Namespace, console: Console) -> dict[str, Any]:
    from leakwarden.demo.build import build_company
    from leakwarden.store import db
    from leakwarden.trace.match import CustomerIndex, match_sample
    from leakwarden.trace.normalize import read_sample

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    company_path = work / f"company_{args.customers}.db"
    company_url = f"sqlite:///{company_path}"
    if not company_path.exists():
        console.print(f"building a demo company of {args.customers:,} customers in {company_path}")
        build_company(company_url, customers=args.customers, seed=args.seed)
    leak = work / f"leak_{args.leak_rows}.csv"
    truth = _leak_file(leak, company_url, args.leak_rows, args.seed)
    engine = db.make_engine(company_url)
    t0 = time.perf_counter()
    index = CustomerIndex.build(engine)
    t_index = time.perf_counter() - t0
    entries = len(index.hashes)
    padded = None
    if args.pad_to and args.pad_to > index.customers:
        extra = (args.pad_to - index.customers) * 4
        gen = np.random.default_rng(args.seed)
        fake = gen.integers(0, 2**63, size=extra, dtype=np.int64).astype(np.uint64) * np.uint64(2)
        hashes = np.concatenate([index.hashes, fake])
        owners = np.concatenate([index.owners, np.full(extra, -1, dtype=np.int64)])
        order = np.argsort(hashes, kind="stable")
        index.hashes, index.owners = hashes[order], owners[order]
        padded = {"customers": args.pad_to, "index_entries": len(index.hashes)}
    t1 = time.perf_counter()
    sample = read_sample(leak)
    t2 = time.perf_counter()
    matches = match_sample(sample, index, engine)
    t3 = time.perf_counter()
    engine.dispose()
    got = [m.customer_id if m.confidence >= 0.9 else None for m in matches]
    assert len(got) == len(truth), "every leak row is one sample row"
    true_pos = sum(1 for g, t in zip(got, truth, strict=True) if g is not None and g == t)
    claimed = sum(1 for g in got if g is not None)
    real = sum(1 for t in truth if t is not None)
    return {
        "company_customers": index.customers,
        "index_entries_real": entries,
        "index_build_seconds": round(t_index, 3),
        "padded": padded,
        "leak_rows": len(sample.rows),
        "real_rows_in_leak": real,
        "rows_matched_conf_0.9": claimed,
        "row_precision": round(true_pos / claimed, 6) if claimed else None,
        "row_recall": round(true_pos / real, 6) if real else None,
        "read_detect_seconds": round(t2 - t1, 3),
        "match_seconds": round(t3 - t2, 3),
        "rows_per_second": round(len(sample.rows) / (t3 - t1), 1),
    }


def write(result: dict[str, Any], out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    js = out / "trace_sim.json"
    js.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    m = result["machine"]
    lines = [
        "# trace: attribution simulator and matching speed",
        "",
        f"Machine: {m['cpu_model']}, {m['logical_cores']} logical cores (usable "
        f"{m['usable_cores']}), load {m['load_average_at_start']}, Python {m['python']}, "
        f"{m['date_utc']}, commit {m['git_commit']}.",
        "",
        f"Command: `{result['command']}`",
        "",
        "## Attribution",
        "",
        f"Base {result['params']['base']:,} customers, {result['params']['copies']} copies of "
        f"{result['params']['copy_min']:,}-{result['params']['copy_max']:,} customers, "
        f"{result['params']['trials']} trials per cell, other-route rows "
        f"{result['params']['other_route']}, model threshold 0.999999, other-route rate 0.01.",
        "",
        "| scenario | "
        + " | ".join(f"n={n}" for n in result["params"]["sizes"])
        + " | rows needed (all trials right) |",
        "|---|" + "---|" * (len(result["params"]["sizes"]) + 1),
    ]
    wrong_total = 0
    for scen, r in result["attribution"].items():
        cells = []
        for n in result["params"]["sizes"]:
            c = r["by_size"][n]
            wrong_total += c["wrong"]
            cells.append(f"{c['right']}✓ {c['wrong']}✗ {c['undecided']}?")
        lines.append(f"| {scen} | " + " | ".join(cells) + f" | {r['rows_needed_all_trials']} |")
    lines += [
        "",
        f"✓ right copy named, ✗ wrong accusation (total: **{wrong_total}**), ? undecided.",
        "",
        "## Matching speed",
        "",
    ]
    s = result["speed"]
    if not s:
        lines.append("Not run (`--no-speed`).")
    if s:
        pad = s["padded"]
        lines += [
            f"Demo company {s['company_customers']:,} customers (SQLite); index built in "
            f"{s['index_build_seconds']} s ({s['index_entries_real']:,} identifier hashes).",
            (
                f"Exact index padded to {pad['customers']:,} customers "
                f"({pad['index_entries']:,} entries, random hashes); confirmation details from "
                "the demo company."
                if pad
                else "No padding: the index holds the demo company only."
            ),
            "",
            f"Leak of {s['leak_rows']:,} rows ({s['real_rows_in_leak']:,} real, reformatted, "
            f"10 % of them masked): read + detect {s['read_detect_seconds']} s, match "
            f"{s['match_seconds']} s, **{s['rows_per_second']:,} rows/s**; "
            f"{s['rows_matched_conf_0.9']:,} rows matched at confidence >= 0.9: row precision "
            f"{s['row_precision']}, recall {s['row_recall']} against the leak's ground truth.",
            "",
            "The masked-value index is not padded (it holds the demo company's mobiles and IDs); "
            "building the index reads every customer (here "
            f"{s['company_customers'] / s['index_build_seconds']:,.0f} customers/s, so "
            f"~{10_000_000 / (s['company_customers'] / s['index_build_seconds']) / 60:.0f} min "
            "for 10 million): a persistent index is future work.",
        ]
    md = out / "trace_sim.md"
    md.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return [js, md]


def main(argv: list[str] | None = None) -> int:
    from benchmarks.machine import describe

    p = argparse.ArgumentParser(prog="python -m benchmarks --only trace")
    p.add_argument("--seed", type=int, default=20261123)
    p.add_argument("--base", type=int, default=1_000_000)
    p.add_argument("--copies", type=int, default=20)
    p.add_argument("--copy-min", type=int, default=2_000)
    p.add_argument("--copy-max", type=int, default=20_000)
    p.add_argument("--sizes", type=int, nargs="+", default=[10, 20, 50, 100, 200, 500, 1000])
    p.add_argument("--trials", type=int, default=50)
    p.add_argument("--other-route", type=float, default=0.005)
    p.add_argument("--customers", type=int, default=100_000)
    p.add_argument("--leak-rows", type=int, default=10_000)
    p.add_argument("--pad-to", type=int, default=10_000_000)
    p.add_argument("--work", default="/tmp/leakwarden-trace-bench")
    p.add_argument("--no-speed", action="store_true")
    p.add_argument("--density", type=float, default=0.01, help="canaries per customer")
    p.add_argument("--fp-trials", type=int, default=30, help="trials per fingerprint cell")
    p.add_argument("--fingerprint-only", action="store_true")
    p.add_argument("--no-fingerprint", action="store_true")
    p.add_argument("--out", type=Path, default=RESULTS_DIR)
    args = p.parse_args(argv)
    console = Console()
    machine = describe()
    wrong_fp = 0
    if not args.no_fingerprint:
        wrong_fp = fingerprints(args, argv, machine, console)
        if args.fingerprint_only:
            return 1 if wrong_fp else 0
    t0 = time.perf_counter()
    attribution = simulate(args)
    console.print(f"attribution simulated in {time.perf_counter() - t0:.1f} s")
    result: dict[str, Any] = {
        "machine": machine,
        "command": "python -m benchmarks --only trace " + " ".join(argv or sys.argv[1:]),
        "params": {k: v for k, v in vars(args).items() if k not in {"out"}},
        "attribution": attribution,
        "speed": None if args.no_speed else speed(args, console),
    }
    result["params"]["out"] = str(args.out)
    table = Table(title="trace attribution (right / wrong / undecided)")
    table.add_column("scenario")
    for n in args.sizes:
        table.add_column(f"n={n}", justify="right")
    table.add_column("rows needed")
    wrong = 0
    for scen, r in attribution.items():
        cells = []
        for n in args.sizes:
            c = r["by_size"][n]
            wrong += c["wrong"]
            cells.append(f"{c['right']}/{c['wrong']}/{c['undecided']}")
        table.add_row(scen, *cells, str(r["rows_needed_all_trials"]))
    console.print(table)
    if result["speed"]:
        console.print(result["speed"])
    for path in write(result, args.out):
        console.print(f"wrote {path}")
    return 1 if wrong or wrong_fp else 0


def fingerprints(
    args: argparse.Namespace, argv: list[str] | None, machine: dict[str, Any], console: Console
) -> int:
    """The fingerprint simulation (module docstring); returns its wrong accusations."""
    from benchmarks import trace_fingerprint_sim as fps
    from leakwarden.trace.attribute import ModelConfig

    cfg = ModelConfig()

    t0 = time.perf_counter()
    result = fps.simulate_fingerprints(
        args,
        lambda rng, scen: _copies(rng, scen, args.base, args.copies, args.copy_min, args.copy_max),
    )
    seconds = time.perf_counter() - t0
    params = {k: v for k, v in vars(args).items() if k != "out"}
    doc = {
        "machine": machine,
        "command": "python -m benchmarks --only trace " + " ".join(argv or sys.argv[1:]),
        "params": {**params, "out": str(args.out)},
        "seconds": round(seconds, 1),
        "model": asdict(cfg),
        "fingerprints": result,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    js = args.out / "trace_fingerprint.json"
    js.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    m = machine
    lines = [
        "# trace: fingerprints (canaries, keyed row order) in the attribution simulator",
        "",
        f"Machine: {m['cpu_model']}, {m['logical_cores']} logical cores (usable "
        f"{m['usable_cores']}), load {m['load_average_at_start']} (shared with other jobs; "
        f"the figures are counts, not times), Python {m['python']}, {m['date_utc']}, commit "
        f"{m['git_commit']}; {seconds:.0f} s.",
        "",
        f"Command: `{doc['command']}`",
        "",
        f"Base {args.base:,} customers, {args.copies} copies of {args.copy_min:,}-"
        f"{args.copy_max:,} customers, other-route rows {args.other_route}, model threshold "
        f"{cfg.threshold}, other-route rate {cfg.other_route_rate}, canary other-route chance "
        f"{cfg.canary_other_route:g} per row and canary, order kept {cfg.order_kept}, "
        f"colluder pairs in the innocence bound: {cfg.colluders}.",
        "",
        *fps.markdown(result, list(args.sizes), params),
    ]
    md = args.out / "trace_fingerprint.md"
    md.write_text("\n".join(lines) + "\n", encoding="utf-8")
    console.print(f"fingerprints simulated in {seconds:.1f} s; wrote {js} and {md}")
    return fps.wrong_total(result)


if __name__ == "__main__":
    sys.exit(main())
