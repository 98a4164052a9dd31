"""trace (issue 6): what canaries and the keyed row order add to attribution, simulated.

Run by :mod:`benchmarks.trace_sim` (``python -m benchmarks --only trace``), or alone with
``python -m benchmarks.trace_sim --fingerprint-only``.  Same copies and scenarios as the plain
attribution simulator (``disjoint``, ``half``, ``heavy``, ``colluders``), and per trial the same
leak under five *modes*:

- ``plain``: no fingerprint (the copies hold no canaries, the leaked order tells nothing): the
  baseline;
- ``canaries``: every copy holds canaries at ``--density`` of its customers; the leaked rows are
  drawn from the copy's rows, canaries included (the leaker cannot tell them apart), and a
  canary found is a strong hit (two identifiers, as in a clear or pseudonymised copy);
- ``order``: the leaked rows keep the copy file's keyed order (a subset of the file, as cut
  from it); colluders concatenate their two files;
- ``shuffled``: keyed orders recorded, but the leaker shuffled the rows: order evidence is
  present and uninformative (checks that it accuses nobody);
- ``both``: canaries and kept order.

Besides the plain simulator's scenarios, ``twins``: the copies come in pairs of identical
customer sets (the same query exported to two recipients), where row-set evidence can never
decide and only the fingerprint can.

The model is :func:`leakwarden.trace.attribute.attribute` with
:class:`leakwarden.trace.evidence.FingerprintEvidence` built as :func:`leakwarden.trace.run.
fingerprint_evidence` builds it.  The keyed order is simulated with a vectorised keyed mix
(splitmix64 of the id xor a random per-copy key) instead of the product's HMAC-SHA-256: the
same statistics (independent pseudo-random orders per copy), fast enough for the trials; the
HMAC order is exercised by the tests on real export copies.
"""

from __future__ import annotations

import argparse
import random
from typing import Any

import numpy as np

MODES = ("plain", "canaries", "order", "shuffled", "both")
_M64 = (1 << 64) - 1


def _mix(ids: np.ndarray, key: int) -> np.ndarray:
    """splitmix64 of ``ids ^ key`` (uint64, vectorised)."""
    with np.errstate(over="ignore"):
        z = ids.astype(np.uint64) ^ np.uint64(key)
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def _ascents(values: np.ndarray) -> tuple[int, int, int]:
    from leakwarden.trace.variants import order_stats

    return order_stats(values.tolist())


def simulate_fingerprints(args: argparse.Namespace, copies_of: Any) -> dict[str, Any]:
    """Per scenario, mode and leak size: right / wrong / undecided, and the rows needed for
    every trial to name a right copy.  ``copies_of(rng, scenario)`` draws the copies."""
    from leakwarden.trace.attribute import CopyRecord, ModelConfig, attribute
    from leakwarden.trace.evidence import FingerprintEvidence

    rng = random.Random(args.seed + 1)
    config = ModelConfig()
    out: dict[str, Any] = {}
    for scenario in ("disjoint", "half", "heavy", "colluders", "twins"):
        cells = {
            mode: {n: {"right": 0, "wrong": 0, "undecided": 0, "canaries": 0} for n in args.sizes}
            for mode in MODES
        }
        for _ in range(args.fp_trials):
            if scenario == "twins":
                # the same query exported to two recipients, ten times over: copies in pairs
                # of identical customer sets, which no row-set evidence can tell apart
                halves = copies_of(rng, "heavy")[: args.copies // 2]
                copies = [c for h in halves for c in (h, set(h))]
            else:
                copies = copies_of(rng, scenario)
            keys = [rng.getrandbits(64) for _ in copies]
            n_canaries = [max(1, round(len(s) * args.density)) for s in copies]
            arrays = [np.array(sorted(s), dtype=np.int64) for s in copies]
            records = {
                with_c: [
                    CopyRecord(f"c{k}", f"r{k}", "x", [], "", "", [], len(s), len(s), "k",
                               _Sized(len(s)), frozenset(),
                               canaries=n_canaries[k] if with_c else 0)
                    for k, s in enumerate(copies)
                ]
                for with_c in (False, True)
            }  # fmt: skip
            guilty = (
                set(rng.sample(range(len(copies)), 2))
                if scenario == "colluders"
                else {rng.randrange(len(copies))}
            )
            files = []  # per guilty copy: its file, customers and canaries (-1 - i) in key order
            for g in sorted(guilty):
                ids = np.array(sorted(copies[g]), dtype=np.int64)
                rows = np.concatenate([ids, -1 - np.arange(n_canaries[g], dtype=np.int64)])
                rows = rows[np.argsort(_mix(rows + (1 << 40), keys[g]), kind="stable")]
                files.append((g, rows))
            for n in args.sizes:
                for mode in MODES:
                    with_canaries = mode in ("canaries", "both")
                    leaked_rows: list[tuple[int, int]] = []  # (copy, row id), in leak order
                    for g, rows in files:
                        pool = rows if with_canaries else rows[rows >= 0]
                        take = min(n // len(files) or 1, len(pool))
                        pick = np.sort(np.asarray(rng.sample(range(len(pool)), take)))
                        leaked_rows += [(g, int(r)) for r in pool[pick]]
                    if mode not in ("order", "both"):
                        rng.shuffle(leaked_rows)
                    leaked = [
                        (g, rng.randrange(args.base))
                        if r >= 0 and rng.random() < args.other_route
                        else (g, r)
                        for g, r in leaked_rows
                    ]
                    att, found = _attribute_one(
                        arrays, keys, records[mode in ("canaries", "both")], leaked, mode,
                        args.base, config, FingerprintEvidence, attribute,
                    )  # fmt: skip
                    cell = cells[mode][n]
                    cell["canaries"] += found
                    if att.verdict == "attributed" and att.named is not None:
                        right = int(att.named.copy.export_id[1:]) in guilty
                        cell["right" if right else "wrong"] += 1
                    else:
                        cell["undecided"] += 1
        out[scenario] = {
            mode: {
                "by_size": cells[mode],
                "rows_needed_all_trials": next(
                    (n for n in args.sizes if cells[mode][n]["right"] == args.fp_trials), None
                ),
            }
            for mode in MODES
        }
    return out


class _Sized(frozenset[str]):
    """Stands for a copy's customer hashes where only their number is used (the simulator
    computes membership itself)."""

    def __new__(cls, n: int) -> _Sized:
        obj = super().__new__(cls, ("x",))
        obj.n = n
        return obj

    n: int

    def __len__(self) -> int:
        return self.n


def _attribute_one(
    arrays: list[np.ndarray],
    keys: list[int],
    records: list[Any],
    leaked: list[tuple[int, int]],
    mode: str,
    base: int,
    config: Any,
    evidence: Any,
    attribute: Any,
) -> tuple[Any, int]:
    with_order = mode in ("order", "shuffled", "both")
    customers: list[int] = []
    seen: set[int] = set()
    canaries: dict[int, set[int]] = {}
    for g, r in leaked:
        if r < 0:
            canaries.setdefault(g, set()).add(r)
        elif r not in seen:  # foreign rows match nobody: no unit; a customer counts once
            seen.add(r)
            customers.append(r)
    ids = np.asarray(customers, dtype=np.int64)
    m = np.zeros((len(ids), len(arrays)), dtype=bool)
    for k, arr in enumerate(arrays):
        pos = np.searchsorted(arr, ids)
        m[:, k] = (pos < len(arr)) & (arr[np.minimum(pos, len(arr) - 1)] == ids)
    fps = {}
    for k in range(len(arrays)):
        e = evidence(canaries_strong=len(canaries.get(k, ())))
        if with_order:
            e.ascents, e.pairs, e.run = _ascents(_mix(ids[m[:, k]] + (1 << 40), keys[k]))
            e.has_order = True
        if e.canaries or e.has_order:
            fps[f"c{k}"] = e
    att = attribute(records, m, base, config, fingerprints=fps, sample_rows=len(leaked))
    return att, sum(len(v) for v in canaries.values())


def markdown(result: dict[str, Any], sizes: list[int], params: dict[str, Any]) -> list[str]:
    lines = [
        "## Fingerprints: canaries and keyed row order",
        "",
        f"Same copies and leaks as above ({params['fp_trials']} trials per cell), canary density "
        f"{params['density']} of each copy's customers; modes: plain (no fingerprint), canaries "
        "(leaked rows drawn from the copy's rows, canaries included), order (the leak keeps the "
        "file's keyed order), shuffled (orders recorded, leak shuffled), both.  Cells: right / "
        "wrong / undecided (canaries found over the trials).",
        "",
        "| scenario | mode | " + " | ".join(f"n={n}" for n in sizes) + " | rows needed |",
        "|---|---|" + "---|" * (len(sizes) + 1),
    ]
    wrong = 0
    for scen, modes in result.items():
        for mode, r in modes.items():
            cells = []
            for n in sizes:
                c = r["by_size"][n]
                wrong += c["wrong"]
                extra = f" ({c['canaries']}c)" if c["canaries"] else ""
                cells.append(f"{c['right']}✓ {c['wrong']}✗ {c['undecided']}?{extra}")
            lines.append(
                f"| {scen} | {mode} | " + " | ".join(cells) + f" | {r['rows_needed_all_trials']} |"
            )
    lines += ["", f"Wrong accusations over all fingerprint cells: **{wrong}**.", ""]
    return lines


def wrong_total(result: dict[str, Any]) -> int:
    return sum(
        c["wrong"]
        for modes in result.values()
        for r in modes.values()
        for c in r["by_size"].values()
    )
