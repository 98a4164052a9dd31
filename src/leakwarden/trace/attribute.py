"""Which registered export copy a leaked sample most likely came from, with odds.

The unit of evidence is a *distinct matched customer* (rows of one customer count once, so an
orders export with many rows per buyer is not over-counted), taken from rows matched with
confidence >= :attr:`ModelConfig.min_confidence`.  For each copy ``k`` of the export registry
(:class:`leakwarden.store.export_tables.ExportRecord`), membership of a customer in the copy is
decided by recomputing the registry's keyed hash (:func:`leakwarden.gateway.exports.
customer_hash`) under the copy's ``hash_key``; no clear id is compared with the registry.

Likelihood model (``N`` customers in the base, ``S_k`` the copy's customer set, ``eps`` the
rate of leaked rows that came through some other route, :attr:`ModelConfig.other_route_rate`,
default 0.01):

- ``H_k`` (the leak came from copy ``k``): each leaked customer is, with probability
  ``1 - eps``, a customer of the copy (uniform over ``S_k``), else a customer of the base from
  elsewhere (uniform over ``N``): ``P(c | H_k) = (1 - eps) [c in S_k] / |S_k| + eps / N``;
- ``H_0`` (none of the registered copies): ``P(c | H_0) = 1 / N``.

Sample lines whose customer is not known but that equal a registered CSV row of a copy (a
masked or pseudonymised export leaked verbatim; hashed as the registry hashes rows) are units
too, with the copy's registered rows in place of its customers (:func:`attribute`'s ``lines``).

Prior: uniform over the copies and ``H_0`` (K + 1 hypotheses).  Posterior by Bayes in log
space.  Unmatched (foreign) rows have the same probability under every hypothesis and carry no
weight.  ``extra`` log-likelihoods per copy are added to the copy's log-likelihood.

Fingerprint evidence (``fingerprints``, per copy, :mod:`leakwarden.trace.evidence`): each
canary found is one more unit, explained only by its own copy (``(1 - eps) / R_k``, ``R_k`` the
copy's customers plus canaries, which also dilutes the customers' term: a copy whose canaries are
absent from a large leak loses a little), by any other hypothesis with the canary's other-route
chance; the keyed row order and the formats add their log-likelihood ratios to the copy.

Bound on accusing an innocent recipient.  The posterior assumes the leaked rows are a random
subset of the copy; a leaker may instead pick rows, e.g. only rows another copy also holds.  So
a copy ``k`` is named only when, in addition, the rows it explains could not have come by chance
if any other hypothesis were true: for every other copy ``j``, ``x_kj`` customers are in ``S_k``
but not in ``S_j``; if ``j`` were the source those customers came by another route and fell in
``S_k`` by chance, each with probability at most ``eps |S_k| / N``, so
``P(X >= x_kj)``, ``X ~ Binomial(n, eps |S_k| / N)``; against ``H_0`` the chance is
``|S_k| / N`` per customer.  Two recipients may merge their copies (colluders), so the source
may also be two other copies ``j1, j2`` together: then ``x`` counts the customers of ``k`` in
neither, and the pair covering the most of ``k``'s leaked customers is the alternative checked
(without it the simulator named an innocent third copy of heavily overlapping copies once in 30
ten-row leaks of two colluders).  The canaries and the row order of ``k`` are evidence of their own
with their own chance bounds (:mod:`.evidence`); the evidence as a whole arises by chance no more
often than its least likely part, so against each alternative the bound is the smallest of the
three.  The largest over the alternatives is the stated bound (``innocence_bound``: the
probability that the evidence against ``k`` arises although ``k`` is innocent, under the model's
other-route rates).  The verdict is ``attributed`` only when the top
posterior is >= :attr:`ModelConfig.threshold` (default 0.999999) AND the bound is
<= ``1 - threshold``; ``none`` when ``H_0`` reaches the threshold; otherwise ``undecided``.  A
copy sharing every leaked customer with another copy therefore never gets named, whatever the
copies' sizes.  Copies registered without customer hashes (no customer key in the output) cannot
be scored: they are listed and, if any exists, the verdict says so.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from leakwarden.trace.canaries import IDENTIFIER_SPACE
from leakwarden.trace.evidence import (
    FingerprintEvidence,
    format_loglik,
    order_bound,
    order_loglik,
    run_bound,
    run_loglik,
)

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from leakwarden.protect.keys import KeyRing

__all__ = ["Attribution", "CopyEvidence", "CopyRecord", "ModelConfig", "attribute", "load_copies"]


@dataclass(frozen=True)
class ModelConfig:
    """``other_route_rate``: share of leaked rows assumed to come from elsewhere than the source
    copy (also the chance rate in the innocence bound: larger is more cautious);
    ``threshold``: the posterior (and 1 - bound) needed to name a copy; ``min_confidence``: the
    row-match confidence a customer needs to count as evidence; ``canary_other_route``: the
    chance that a leaked row is a given canary (strong hit) although the canary's copy is not
    a source of the leak (:mod:`.evidence`); ``order_kept``: the chance a leaker keeps the
    file's row order; ``order_noise``: the chance a neighbouring pair was moved even so;
    ``reformat_rate``: the chance a leaker changed a formatting (:mod:`.evidence`);
    ``colluders``: the innocence bound also considers two other copies merged as the source."""

    other_route_rate: float = 0.01
    threshold: float = 0.999999
    min_confidence: float = 0.9
    canary_other_route: float = 1e-12
    order_kept: float = 0.5
    order_noise: float = 0.02
    reformat_rate: float = 0.5
    colluders: bool = True

    def __post_init__(self) -> None:
        if not 0.0 < self.other_route_rate < 1.0:
            raise ValueError("other_route_rate must be strictly between 0 and 1")
        if not 0.5 < self.threshold < 1.0:
            raise ValueError("threshold must be in (0.5, 1)")
        for name in ("canary_other_route", "order_kept", "order_noise", "reformat_rate"):
            if not 0.0 < getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be strictly between 0 and 1")


@dataclass(frozen=True)
class CopyRecord:
    """The registry facts trace needs about one export copy (no clear customer ids)."""

    export_id: str
    recipient: str
    requester: str
    approvers: list[str]
    executed_at: str
    purpose: str
    columns: list[str]
    rows: int
    customers: int | None
    hash_key: str
    customer_hashes: frozenset[str]
    row_hashes: frozenset[str]
    fingerprint: Mapping[str, Any] = field(default_factory=dict)
    canaries: int = 0


@dataclass
class CopyEvidence:
    """One copy's score: ``explained`` leaked customers it holds, ``exclusive`` those no other
    copy holds, ``verbatim_rows`` sample rows equal to a registered CSV row, its log-likelihood,
    posterior, the innocence bound (module docstring) and the evidence in words;
    ``fingerprint`` what the sample shows of the copy's canaries, order and formats, and
    ``fingerprint_loglik`` what each of those adds to the log-likelihood."""

    copy: CopyRecord
    explained: int
    exclusive: int
    verbatim_rows: int
    log_likelihood: float
    posterior: float
    innocence_bound: float = 1.0
    notes: list[str] = field(default_factory=list)
    fingerprint: FingerprintEvidence = field(default_factory=FingerprintEvidence)
    fingerprint_loglik: dict[str, float] = field(default_factory=dict)


@dataclass
class Attribution:
    verdict: str  # attributed | undecided | none | no-evidence
    reason: str
    copies: list[CopyEvidence]
    none_posterior: float
    units: int
    base_customers: int
    unscored: list[CopyRecord]
    config: ModelConfig

    @property
    def named(self) -> CopyEvidence | None:
        return self.copies[0] if self.verdict == "attributed" else None


def load_copies(store: Engine) -> list[CopyRecord]:
    """Every registered export copy, oldest first."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from leakwarden.store.canary_tables import TraceCanary
    from leakwarden.store.export_tables import ExportRecord

    out = []
    with Session(store) as session:
        canaries: dict[str, int] = {}
        for xid in session.scalars(select(TraceCanary.export_id)):
            canaries[xid] = canaries.get(xid, 0) + 1
        for r in session.scalars(select(ExportRecord).order_by(ExportRecord.executed_at)):
            out.append(
                CopyRecord(
                    export_id=r.id,
                    recipient=r.recipient,
                    requester=r.requester,
                    approvers=[a.get("person", "") for a in json.loads(r.approvers or "[]")],
                    executed_at=r.executed_at.isoformat(),
                    purpose=r.purpose,
                    columns=list(json.loads(r.columns or "[]")),
                    rows=r.rows,
                    customers=r.customers,
                    hash_key=r.hash_key,
                    customer_hashes=frozenset(json.loads(r.customer_hashes or "[]")),
                    row_hashes=frozenset(json.loads(r.row_hashes or "[]")),
                    fingerprint=json.loads(r.fingerprint_params or "{}"),
                    canaries=canaries.get(r.id, 0),
                )
            )
    return out


def membership(
    copies: Sequence[CopyRecord], customer_ids: Sequence[int], keys: KeyRing
) -> np.ndarray[Any, np.dtype[np.bool_]]:
    """``M[u, k]``: customer ``customer_ids[u]`` is in copy ``k`` (keyed hashes recomputed)."""
    from leakwarden.gateway.exports import customer_hash

    m = np.zeros((len(customer_ids), len(copies)), dtype=bool)
    by_key: dict[str, list[str]] = {}
    for hk in {c.hash_key for c in copies}:
        by_key[hk] = [customer_hash(keys, hk, cid) for cid in customer_ids]
    for k, c in enumerate(copies):
        hashes = by_key[c.hash_key]
        m[:, k] = [h in c.customer_hashes for h in hashes]
    return m


def line_membership(
    copies: Sequence[CopyRecord], lines: Iterable[str], keys: KeyRing
) -> np.ndarray[Any, np.dtype[np.bool_]]:
    """``L[i, k]``: sample line ``i`` equals one of copy ``k``'s registered CSV rows (the line
    hashed as the registry hashes rows, :func:`leakwarden.gateway.exports.row_hashes`)."""
    from leakwarden.gateway.exports import row_hashes

    lines = list(lines)
    out = np.zeros((len(lines), len(copies)), dtype=bool)
    hashed: dict[str, list[str]] = {}  # per registry key: the sample lines' keyed hashes
    for k, c in enumerate(copies):
        if c.hash_key not in hashed:
            hashed[c.hash_key] = row_hashes(keys, c.hash_key, lines)
        out[:, k] = [h in c.row_hashes for h in hashed[c.hash_key]]
    return out


def binomial_tail(n: int, p: float, x: int) -> float:
    """``P(X >= x)`` for ``X ~ Binomial(n, p)``, summed in log space (exact)."""
    if x <= 0:
        return 1.0
    if x > n or p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    lp, lq = math.log(p), math.log1p(-p)
    terms = [
        math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * lp + (n - i) * lq
        for i in range(x, n + 1)
    ]
    top = max(terms)
    return min(1.0, math.exp(top) * sum(math.exp(t - top) for t in terms))


def attribute(
    copies: Sequence[CopyRecord],
    m: np.ndarray[Any, np.dtype[np.bool_]],
    base_customers: int,
    config: ModelConfig | None = None,
    *,
    verbatim: Sequence[int] | None = None,
    lines: np.ndarray[Any, np.dtype[np.bool_]] | None = None,
    extra: Mapping[str, float] | None = None,
    fingerprints: Mapping[str, FingerprintEvidence] | None = None,
    sample_rows: int | None = None,
) -> Attribution:
    """Score the copies on the membership matrix ``m`` (customers x copies) (module docstring).

    ``lines``: membership (lines x copies) of sample lines whose customer was NOT matched but
    that equal a registered CSV row of some copy (masked or pseudonymised exports leaked
    verbatim): each is one more unit, explained by a copy with probability ``(1 - eps) /
    rows_k + eps / N`` (``rows_k`` the copy's registered rows), by chance ``eps / N``.
    ``fingerprints``: per export id, the canaries, order and formats the sample shows of it
    (:mod:`.evidence`); ``sample_rows``: the sample's rows (for the weak-canary bound)."""
    config = config or ModelConfig()
    eps = config.other_route_rate
    fps = dict(fingerprints or {})
    if lines is None:
        lines = np.zeros((0, len(copies)), dtype=bool)
    n_cust = int(m.shape[0])
    n_canary = sum(fps[c.export_id].canaries for c in copies if c.export_id in fps)
    n_units = n_cust + int(lines.shape[0]) + n_canary
    big_n = max(base_customers, 1)
    rows_seen = max(sample_rows or 0, n_units)
    scored_idx = [k for k, c in enumerate(copies) if c.customer_hashes]
    unscored = [c for k, c in enumerate(copies) if not c.customer_hashes]
    verbatim = list(verbatim) if verbatim is not None else [0] * len(copies)
    if n_units == 0 or not scored_idx:
        why = (
            "no leaked row matched a customer with enough confidence, nor a registered row"
            if n_units == 0
            else "no registered copy with customer hashes to compare"
        )
        return Attribution("no-evidence", why, [], 1.0, n_units, base_customers, unscored, config)
    sub_c = m[:, scored_idx]
    sub_l = lines[:, scored_idx]
    sub = np.concatenate([sub_c, sub_l], axis=0)
    n_plain = int(sub.shape[0])
    cans = np.array([copies[k].canaries for k in scored_idx], dtype=float)
    sizes = np.array([max(len(copies[k].customer_hashes), 1) for k in scored_idx], dtype=float)
    sizes = sizes + cans
    row_sizes = np.array([max(len(copies[k].row_hashes), 1) for k in scored_idx], dtype=float)
    outside = math.log(eps / big_n)
    explained_c = sub_c.sum(axis=0)
    explained_l = sub_l.sum(axis=0)
    explained = explained_c + explained_l
    loglik = (
        explained_c * np.log((1 - eps) / sizes + eps / big_n)
        + explained_l * np.log((1 - eps) / row_sizes + eps / big_n)
        + (n_plain - explained) * outside
    )
    log_none = n_plain * math.log(1.0 / big_n)
    # canary units: every hypothesis gets the other-route chance of every canary found, and the
    # canary's own copy the gain of holding it
    strong_c, weak_c = math.log(config.canary_other_route), -math.log(IDENTIFIER_SPACE)
    chance_all = sum(e.canaries_strong * strong_c + e.canaries_weak * weak_c for e in fps.values())
    loglik = loglik + chance_all
    log_none += chance_all
    parts: list[dict[str, float]] = []
    for j, k in enumerate(scored_idx):
        xid = copies[k].export_id
        loglik[j] += (extra or {}).get(xid, 0.0)
        part: dict[str, float] = {}
        e = fps.get(xid)
        if e is not None:
            own = (1 - eps) / sizes[j]
            if e.canaries:
                part["canaries"] = e.canaries_strong * (
                    math.log(own + config.canary_other_route) - strong_c
                ) + e.canaries_weak * (math.log(own + 1.0 / IDENTIFIER_SPACE) - weak_c)
            if e.has_order and e.pairs:
                part["order"] = _order_part(e, config)
            if e.formats_seen and e.formats_expected:
                part["formats"] = format_loglik(
                    e.formats_seen, e.formats_expected, config.reformat_rate
                )
            loglik[j] += sum(part.values())
        parts.append(part)
    # uniform prior over K copies + H_0: it cancels
    everything = np.append(loglik, log_none)
    top = float(everything.max())
    weights = np.exp(everything - top)
    post = weights / weights.sum()
    in_others = sub.sum(axis=1)
    evidence = []
    for j, k in enumerate(scored_idx):
        exclusive = int((sub[:, j] & (in_others == 1)).sum())
        fe = fps.get(copies[k].export_id, FingerprintEvidence())
        evidence.append(
            CopyEvidence(
                copies[k],
                int(explained[j]),
                exclusive,
                verbatim[k],
                float(loglik[j]),
                float(post[j]),
                fingerprint=fe,
                fingerprint_loglik=parts[j],
            )
        )
    order = sorted(range(len(evidence)), key=lambda j: -evidence[j].posterior)
    ranked = [evidence[j] for j in order]
    none_post = float(post[-1])
    best_j = order[0]
    best = ranked[0]
    fp_bound = _fingerprint_bound(best, config, rows_seen)
    q = max(len(best.copy.customer_hashes), len(best.copy.row_hashes)) / big_n
    x0 = int(sub[:, best_j].sum())
    bounds = [min(binomial_tail(n_plain, min(q, 1.0), x0), fp_bound)]
    best.notes.append(
        f"vs none of the copies: {x0} of {n_plain} customers in the copy by chance "
        f"p <= {binomial_tail(n_plain, min(q, 1.0), x0):.3g}"
    )
    for j in range(len(scored_idx)):
        if j == best_j:
            continue
        x = int((sub[:, best_j] & ~sub[:, j]).sum())
        tail = binomial_tail(n_plain, min(eps * q, 1.0), x)
        bounds.append(min(tail, fp_bound))
        if len(order) > 1 and j == order[1]:
            best.notes.append(
                f"vs {evidence[j].copy.export_id} ({evidence[j].copy.recipient}): {x} customers "
                f"only in this copy, by another route p <= {tail:.3g}"
            )
    pair_x, pair = _least_exclusive_vs_pairs(sub, best_j, config.colluders)
    if pair is not None:
        tail = binomial_tail(n_plain, min(eps * q, 1.0), pair_x)
        bounds.append(min(tail, fp_bound))
        a, b = (evidence[i].copy.export_id for i in pair)
        best.notes.append(
            f"vs {a} and {b} merged (colluders): {pair_x} customers in neither, by another "
            f"route p <= {tail:.3g}"
        )
    best.notes.extend(_fingerprint_notes(best, config, rows_seen))
    best.innocence_bound = max(bounds)
    limit = 1.0 - config.threshold
    if none_post >= config.threshold:
        verdict, reason = (
            "none",
            (
                f"the leaked customers fit no registered copy (posterior {none_post:.6f} for "
                f"another route)"
            ),
        )
    elif best.posterior >= config.threshold and best.innocence_bound <= limit:
        verdict, reason = (
            "attributed",
            (
                f"copy {best.copy.export_id} to {best.copy.recipient}: posterior "
                f"{best.posterior:.9f}, innocence bound {best.innocence_bound:.3g}"
            ),
        )
    else:
        runner = ranked[1] if len(ranked) > 1 else None
        reason = (
            f"top copy {best.copy.export_id} posterior {best.posterior:.6f}, innocence bound "
            f"{best.innocence_bound:.3g}; needed posterior >= {config.threshold} and bound <= "
            f"{limit:.3g}"
        )
        if (
            runner is not None
            and best.explained - best.exclusive > 0
            and best.exclusive == 0
            and not best.fingerprint.canaries
        ):
            reason += "; every leaked customer it holds is also in another copy"
        verdict = "undecided"
    if unscored and verdict == "attributed":
        reason += (
            f"; note: {len(unscored)} registered copy(ies) without customer hashes could not be "
            "scored"
        )
    return Attribution(
        verdict, reason, ranked, none_post, n_units, base_customers, unscored, config
    )


def _least_exclusive_vs_pairs(
    sub: np.ndarray[Any, np.dtype[np.bool_]], best_j: int, colluders: bool
) -> tuple[int, tuple[int, int] | None]:
    """The fewest leaked units of copy ``best_j`` outside the union of two other copies, and
    that pair (None: fewer than two others, or colluders not considered).  Only the copies
    holding the most of ``best_j``'s units are paired (all of them up to 200)."""
    others = [j for j in range(sub.shape[1]) if j != best_j]
    mine = sub[sub[:, best_j]]
    if not colluders or len(others) < 2 or len(mine) == 0:
        return len(mine), None
    cover = mine[:, others].sum(axis=0)
    keep = [others[i] for i in np.argsort(-cover, kind="stable")[:200].tolist()]
    a = mine[:, keep].astype(np.int64)
    both = a.T @ a  # units held by both j1 and j2
    single = np.diag(both)
    union = single[:, None] + single[None, :] - both
    np.fill_diagonal(union, -1)
    i1, i2 = np.unravel_index(int(np.argmax(union)), union.shape)
    return len(mine) - int(union[i1, i2]), (keep[int(i1)], keep[int(i2)])


def _fingerprint_bound(best: CopyEvidence, config: ModelConfig, rows: int) -> float:
    """The chance that an innocent copy shows this copy's canary and order evidence: the
    smallest of the parts' chance bounds (:mod:`.evidence`); 1.0 when there is none."""
    e = best.fingerprint
    out = 1.0
    if e.canaries_strong:
        rate = min(max(best.copy.canaries, 1) * config.canary_other_route, 1.0)
        out = min(out, binomial_tail(rows, rate, e.canaries_strong))
    elif e.canaries_weak:
        rate = min(best.copy.canaries / IDENTIFIER_SPACE, 1.0)
        out = min(out, binomial_tail(rows, rate, e.canaries_weak))
    if e.has_order and e.pairs:
        out = min(out, order_bound(e.ascents, e.pairs), run_bound(e.run, e.pairs + 1))
    return out


def _order_part(e: FingerprintEvidence, config: ModelConfig) -> float:
    """The order's log-likelihood ratio: the larger of the ascents and the run models', less
    log 2 for taking the larger (:mod:`.evidence`)."""
    whole = order_loglik(e.ascents, e.pairs, config.order_kept, config.order_noise)
    run = run_loglik(e.run, e.pairs + 1, config.order_kept)
    return max(whole, run) - math.log(2.0)


def _fingerprint_notes(best: CopyEvidence, config: ModelConfig, rows: int) -> list[str]:
    e, ll = best.fingerprint, best.fingerprint_loglik
    notes = []
    if e.canaries:
        notes.append(
            f"{e.canaries} canary customer(s) of this copy found ({e.canaries_strong} on two "
            f"identifiers or a pseudonym, {e.canaries_weak} on one); by another route "
            f"p <= {config.canary_other_route:.3g} per row and canary; log-likelihood "
            f"+{ll.get('canaries', 0.0):.1f}"
        )
    if e.has_order and e.pairs:
        notes.append(
            f"row order: {e.ascents} of {e.pairs} neighbouring customers in this copy's keyed "
            f"order, the longest run {e.run} (chance p <= "
            f"{min(order_bound(e.ascents, e.pairs), run_bound(e.run, e.pairs + 1)):.3g}); "
            f"log-likelihood "
            f"{ll.get('order', 0.0):+.1f}"
        )
    if e.formats_seen and e.formats_expected:
        shown = ", ".join(
            f"{d} {v} ({'as' if e.formats_expected.get(d) == v else 'not as'} this copy)"
            for d, v in sorted(e.formats_seen.items())
            if d in e.formats_expected
        )
        if shown:
            notes.append(f"formats: {shown}; log-likelihood {ll.get('formats', 0.0):+.1f}")
    return notes
