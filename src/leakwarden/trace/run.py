"""One trace, end to end: read the sample, match it to customers, score the export copies.

:func:`run_trace` is what ``leakwarden trace`` and the tests call; it returns a
:class:`TraceResult` that :mod:`.report` renders.  Affected customers are the distinct customers
of rows matched with confidence >= ``ModelConfig.min_confidence``; lower-confidence matches are
listed apart as *possible* (never in the regulator-facing list without review).

Canaries are matched against the canary registry (:class:`.canaries.CanaryIndex`); a row that is
a canary on strong evidence is neither an affected customer (its values are synthetic, even if
one of them happens to be a real customer's) nor unexplained.  The fingerprint evidence per copy
(:func:`fingerprint_evidence`: canaries, keyed row order, formats) goes to the likelihood model.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from leakwarden.trace.attribute import (
    Attribution,
    CopyRecord,
    ModelConfig,
    attribute,
    line_membership,
    load_copies,
    membership,
)
from leakwarden.trace.canaries import CanaryHit, CanaryIndex
from leakwarden.trace.evidence import FingerprintEvidence
from leakwarden.trace.match import CustomerIndex, RowMatch, match_sample
from leakwarden.trace.normalize import Sample, read_sample
from leakwarden.trace.variants import ascents, copy_key, observed_formats, params_formats

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
    canary_hits: list[CanaryHit] = field(default_factory=list)


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
    hits = CanaryIndex.load(store).match(sample.rows, keys)
    canary_rows = {h.row for h in hits if h.strong}
    matches = [
        RowMatch(m.row, None, 0.0, ["canary"], 0) if m.row in canary_rows else m for m in matches
    ]
    affected = _affected(matches, config.min_confidence, 2.0)
    possible = [
        a
        for a in _affected(matches, 0.0, config.min_confidence)
        if a.customer_id not in {b.customer_id for b in affected}
    ]
    explained_by_canary = {h.row for h in hits}
    unexplained = [
        m.row for m in matches if m.customer_id is None and m.row not in explained_by_canary
    ]
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
    fps = fingerprint_evidence(sample, copies, affected, m, hits, keys)
    attribution = attribute(
        copies,
        m,
        index.customers,
        config,
        verbatim=verbatim,
        lines=unknown_lines,
        fingerprints=fps,
        sample_rows=len(sample.rows),
    )
    seconds["attribute"] = time.perf_counter() - t3
    return TraceResult(sample, matches, affected, possible, unexplained, attribution, seconds, hits)


def fingerprint_evidence(
    sample: Sample,
    copies: Sequence[CopyRecord],
    affected: Sequence[Affected],
    m: np.ndarray[Any, np.dtype[np.bool_]],
    hits: Sequence[CanaryHit],
    keys: KeyRing,
) -> dict[str, FingerprintEvidence]:
    """Per export id, what the sample shows of the copy's fingerprint (:mod:`.evidence`):
    distinct canaries (strong if any of their rows is), the keyed order of the affected
    customers the copy holds (by first row), and the formats of the rows only it explains."""
    strong: dict[str, set[str]] = {}
    weak: dict[str, set[str]] = {}
    canary_rows: dict[str, set[int]] = {}
    for h in hits:
        (strong if h.strong else weak).setdefault(h.export_id, set()).add(h.canary_id)
        canary_rows.setdefault(h.export_id, set()).add(h.row)
    first = sorted(range(len(affected)), key=lambda u: min(affected[u].rows))
    cells = {r.number: [v for _, v in r.cells] for r in sample.rows}
    holders = m.sum(axis=1) if len(m) else np.zeros(0, dtype=int)
    out: dict[str, FingerprintEvidence] = {}
    for k, c in enumerate(copies):
        params = dict(c.fingerprint)
        s_ids = strong.get(c.export_id, set())
        w_ids = weak.get(c.export_id, set()) - s_ids
        e = FingerprintEvidence(canaries_strong=len(s_ids), canaries_weak=len(w_ids))
        label = str(params.get("key") or "")
        if params.get("order") == "customer" and ":" in label:
            name, version = label.rsplit(":", 1)
            key = copy_key(keys, name, int(version), c.export_id)
            seq = [affected[u].customer_id for u in first if m[u, k]]
            e.ascents, e.pairs, e.run = ascents(key, seq)
            e.has_order = True
        e.formats_expected = params_formats(params)
        if e.formats_expected:
            rows = set(canary_rows.get(c.export_id, set()))
            for u, a in enumerate(affected):
                if m[u, k] and holders[u] == 1:
                    rows.update(a.rows)
            e.formats_seen = observed_formats(v for r in sorted(rows) for v in cells.get(r, []))
        if e.canaries or e.has_order or e.formats_seen:
            out[c.export_id] = e
    return out
