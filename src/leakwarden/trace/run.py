"""One trace, end to end: read the sample, match it to customers, score the export copies.

:func:`run_trace` is what ``leakwarden trace`` and the tests call; it returns a
:class:`TraceResult` that :mod:`.report` renders.  Affected customers are the distinct customers
of rows matched with confidence >= ``ModelConfig.min_confidence``; lower-confidence matches are
listed apart as *possible* (never in the regulator-facing list without review).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from leakwarden.trace.attribute import (
    Attribution,
    ModelConfig,
    attribute,
    line_membership,
    load_copies,
    membership,
)
from leakwarden.trace.match import CustomerIndex, RowMatch, match_sample
from leakwarden.trace.normalize import Sample, read_sample

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from leakwarden.protect.keys import KeyRing

__all__ = ["Affected", "TraceResult", "run_trace"]


@dataclass(frozen=True)
class Affected:
    customer_id: int
    confidence: float
    rows: list[int]
    fields: list[str]


@dataclass
class TraceResult:
    sample: Sample
    matches: list[RowMatch]
    affected: list[Affected]
    possible: list[Affected]
    unexplained_rows: list[int]
    attribution: Attribution
    seconds: dict[str, float] = field(default_factory=dict)


def _affected(matches: list[RowMatch], low: float, high: float) -> list[Affected]:
    best: dict[int, list[RowMatch]] = {}
    for m in matches:
        if m.customer_id is not None and low <= m.confidence < high:
            best.setdefault(m.customer_id, []).append(m)
    return [
        Affected(
            cid,
            max(m.confidence for m in ms),
            [m.row for m in ms],
            sorted({f for m in ms for f in m.fields}),
        )
        for cid, ms in sorted(best.items())
    ]


def run_trace(
    path: str | Path | Sample,
    *,
    company: Engine,
    store: Engine,
    keys: KeyRing,
    config: ModelConfig | None = None,
    index: CustomerIndex | None = None,
    pseudonym_keys: Sequence[tuple[bytes, int]] = (),
    status: Callable[[str], None] | None = None,
) -> TraceResult:
    """Trace the leaked sample at ``path`` or an already read :class:`Sample` (module
    docstring).  ``index`` may be given to reuse one customer index for several samples;
    ``pseudonym_keys``: the gateway's pseudonym keys ``(key, version)``, so pseudonymised
    exports match (:meth:`CustomerIndex.build`)."""
    config = config or ModelConfig()
    say = status or (lambda _msg: None)
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    if isinstance(path, Sample):
        sample = path
    else:
        say(f"reading {path}")
        sample = read_sample(path)
    t1 = time.perf_counter()
    seconds["read"] = t1 - t0
    if index is None:
        say("indexing the customer base")
        index = CustomerIndex.build(company, pseudonym_keys=pseudonym_keys)
    t2 = time.perf_counter()
    seconds["index"] = t2 - t1
    say(f"matching {len(sample.rows)} rows")
    matches = match_sample(sample, index, company)
    t3 = time.perf_counter()
    seconds["match"] = t3 - t2
    affected = _affected(matches, config.min_confidence, 2.0)
    possible = [
        a
        for a in _affected(matches, 0.0, config.min_confidence)
        if a.customer_id not in {b.customer_id for b in affected}
    ]
    unexplained = [m.row for m in matches if m.customer_id is None]
    copies = load_copies(store)
    ids = [a.customer_id for a in affected]
    m = membership(copies, ids, keys)
    lm = line_membership(copies, sample.csv_lines or [], keys)
    verbatim = lm.sum(axis=0).tolist() if len(lm) else [0] * len(copies)
    # lines of rows whose customer is not known, equal to a registered row: their own units
    known = {
        mt.row
        for mt in matches
        if mt.customer_id is not None and mt.confidence >= config.min_confidence
    }
    unknown = np.array([r.number not in known for r in sample.rows][: len(lm)], dtype=bool)
    unknown_lines = lm[unknown & lm.any(axis=1)] if len(lm) else lm
    attribution = attribute(
        copies, m, index.customers, config, verbatim=verbatim, lines=unknown_lines
    )
    seconds["attribute"] = time.perf_counter() - t3
    return TraceResult(sample, matches, affected, possible, unexplained, attribution, seconds)
