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
weight.  ``extra`` log-likelihoods per copy (canaries, order and formatting evidence: later
slices) are added to the copy's log-likelihood.

Bound on accusing an innocent recipient.  The posterior assumes the leaked rows are a random
subset of the copy; a leaker may instead pick rows, e.g. only rows another copy also holds.  So
a copy ``k`` is named only when, in addition, the rows it explains could not have come by chance
if any other hypothesis were true: for every other copy ``j``, ``x_kj`` customers are in ``S_k``
but not in ``S_j``; if ``j`` were the source those customers came by another route and fell in
``S_k`` by chance, each with probability at most ``eps |S_k| / N``, so
``P(X >= x_kj)``, ``X ~ Binomial(n, eps |S_k| / N)``; against ``H_0`` the chance is
``|S_k| / N`` per customer.  The largest of these tail probabilities is the stated bound
(``innocence_bound``: the probability that the evidence against ``k`` arises although ``k`` is
innocent, under the model's other-route rate).  The verdict is ``attributed`` only when the top
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

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from leakwarden.protect.keys import KeyRing

__all__ = ["Attribution", "CopyEvidence", "CopyRecord", "ModelConfig", "attribute", "load_copies"]


@dataclass(frozen=True)
class ModelConfig:
    """``other_route_rate``: share of leaked rows assumed to come from elsewhere than the source
    copy (also the chance rate in the innocence bound: larger is more cautious);
    ``threshold``: the posterior (and 1 - bound) needed to name a copy; ``min_confidence``: the
    row-match confidence a customer needs to count as evidence."""

    other_route_rate: float = 0.01
    threshold: float = 0.999999
    min_confidence: float = 0.9

    def __post_init__(self) -> None:
        if not 0.0 < self.other_route_rate < 1.0:
            raise ValueError("other_route_rate must be strictly between 0 and 1")
        if not 0.5 < self.threshold < 1.0:
            raise ValueError("threshold must be in (0.5, 1)")


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


@dataclass
class CopyEvidence:
    """One copy's score: ``explained`` leaked customers it holds, ``exclusive`` those no other
    copy holds, ``verbatim_rows`` sample rows equal to a registered CSV row, its log-likelihood,
    posterior, the innocence bound (module docstring) and the evidence in words."""

    copy: CopyRecord
    explained: int
    exclusive: int
    verbatim_rows: int
    log_likelihood: float
    posterior: float
    innocence_bound: float = 1.0
    notes: list[str] = field(default_factory=list)


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

    from leakwarden.store.export_tables import ExportRecord

    out = []
    with Session(store) as session:
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
) -> Attribution:
    """Score the copies on the membership matrix ``m`` (customers x copies) (module docstring).

    ``lines``: membership (lines x copies) of sample lines whose customer was NOT matched but
    that equal a registered CSV row of some copy (masked or pseudonymised exports leaked
    verbatim): each is one more unit, explained by a copy with probability ``(1 - eps) /
    rows_k + eps / N`` (``rows_k`` the copy's registered rows), by chance ``eps / N``."""
    config = config or ModelConfig()
    eps = config.other_route_rate
    if lines is None:
        lines = np.zeros((0, len(copies)), dtype=bool)
    n_cust = int(m.shape[0])
    n_units = n_cust + int(lines.shape[0])
    big_n = max(base_customers, 1)
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
    sizes = np.array([max(len(copies[k].customer_hashes), 1) for k in scored_idx], dtype=float)
    row_sizes = np.array([max(len(copies[k].row_hashes), 1) for k in scored_idx], dtype=float)
    outside = math.log(eps / big_n)
    explained_c = sub_c.sum(axis=0)
    explained_l = sub_l.sum(axis=0)
    explained = explained_c + explained_l
    loglik = (
        explained_c * np.log((1 - eps) / sizes + eps / big_n)
        + explained_l * np.log((1 - eps) / row_sizes + eps / big_n)
        + (n_units - explained) * outside
    )
    for j, k in enumerate(scored_idx):
        loglik[j] += (extra or {}).get(copies[k].export_id, 0.0)
    log_none = n_units * math.log(1.0 / big_n)
    # uniform prior over K copies + H_0: it cancels
    everything = np.append(loglik, log_none)
    top = float(everything.max())
    weights = np.exp(everything - top)
    post = weights / weights.sum()
    in_others = sub.sum(axis=1)
    evidence = []
    for j, k in enumerate(scored_idx):
        exclusive = int((sub[:, j] & (in_others == 1)).sum())
        evidence.append(
            CopyEvidence(
                copies[k],
                int(explained[j]),
                exclusive,
                verbatim[k],
                float(loglik[j]),
                float(post[j]),
            )
        )
    order = sorted(range(len(evidence)), key=lambda j: -evidence[j].posterior)
    ranked = [evidence[j] for j in order]
    none_post = float(post[-1])
    best_j = order[0]
    best = ranked[0]
    q = max(len(best.copy.customer_hashes), len(best.copy.row_hashes)) / big_n
    bounds = [binomial_tail(n_units, min(q, 1.0), best.explained)]
    best.notes.append(
        f"vs none of the copies: {best.explained} of {n_units} customers in the copy by chance "
        f"p <= {bounds[-1]:.3g}"
    )
    for j in range(len(scored_idx)):
        if j == best_j:
            continue
        x = int((sub[:, best_j] & ~sub[:, j]).sum())
        bounds.append(binomial_tail(n_units, min(eps * q, 1.0), x))
        if len(order) > 1 and j == order[1]:
            best.notes.append(
                f"vs {evidence[j].copy.export_id} ({evidence[j].copy.recipient}): {x} customers "
                f"only in this copy, by another route p <= {bounds[-1]:.3g}"
            )
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
        if runner is not None and best.explained - best.exclusive > 0 and best.exclusive == 0:
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
