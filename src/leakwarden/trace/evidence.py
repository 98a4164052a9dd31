"""Fingerprint evidence per export copy, and its likelihoods (used by :mod:`.attribute`).

For one copy ``k`` (its parameters in ``exports.fingerprint_params``, its canaries in the canary
registry), what a leaked sample shows (:class:`FingerprintEvidence`, filled by
:mod:`leakwarden.trace.run`):

- **canaries**: distinct canaries of ``k`` found, ``strong`` (two identifier kinds agree, or a
  pseudonym) or ``weak`` (one plain identifier).  Each is a unit of evidence like a customer:
  ``P(u | H_k) = (1 - eps) / R_k`` with ``R_k`` the copy's customers plus canaries; under any
  other hypothesis (``k`` not a source of the leak) a row is that canary with probability
  ``c``: for a strong hit :attr:`~.attribute.ModelConfig.canary_other_route` (default 1e-12):
  an outside row carrying two of the canary's identifiers by coincidence has a chance of about
  ``1 / IDENTIFIER_SPACE^2`` = 1e-18, and nobody can plant a canary without copy ``k`` itself
  (its values exist only in that file; the registry holds keyed hashes), in which case ``k``
  *is* a source (whoever took it from its recipient); for a weak hit ``1 / IDENTIFIER_SPACE``
  (an outside person who happens to hold the number).  A canary therefore names its copy, not
  a person: how the copy got out is for the investigation.  Innocence bound: ``x`` canaries of
  ``k`` among ``rows`` sample rows by another route, ``P(X >= x)`` with ``X ~
  Binomial(rows, C_k c)`` (``C_k`` the copy's canaries).
- **order**: of the leaked customers in ``k`` (in sample order, each once), ``ascents`` of the
  ``pairs`` of neighbours are in ``k``'s keyed order.  If ``k`` leaked, the leaker kept the file's
  order with probability ``rho`` (:attr:`~.attribute.ModelConfig.order_kept`), each pair then
  ascending with probability ``1 - eta`` (``order_noise``: rows moved by hand); otherwise (or if
  ``k`` did not leak: the order is independent of ``k``'s secret key) a pair ascends with
  probability 1/2.  Log-likelihood ratio against "order independent of ``k``":
  ``log(rho Bin(a; p, 1-eta) + (1-rho) Bin(a; p, 1/2)) - log Bin(a; p, 1/2)``.  Bound:
  ``P(A >= a)``, ``A ~ Binomial(p, 1/2)`` (adjacent ascents of a random order have a smaller
  variance than this binomial, so the tail is conservative where it matters).
  A leak may hold the copy's rows as one stretch among others (two colluders concatenating
  their files, rows pasted around it): then the *longest ascending run* ``L`` of the ``m``
  leaked customers in ``k`` tells.  In a random order a given ``L`` consecutive customers ascend
  with probability ``1 / L!``, so some run of ``L`` has probability at most
  ``r = (m - L + 1) / L!`` (union over its starts): the run bound.  As a likelihood ratio the
  event "a run of ``L``" has ``rho`` against at most ``m r`` (the factor ``m`` pays for ``L``
  being read off the data), so the order's log-likelihood ratio is the larger of the two
  models' less ``log 2`` (the price of taking the larger), and its bound the smaller of the
  two bounds.
- **formats**: the formats (:func:`~leakwarden.trace.variants.observed_formats`) of the sample
  rows that only ``k`` explains (rows of customers no other copy holds, and ``k``'s canaries:
  under another hypothesis they came by another route, in a format independent of ``k``'s), per
  dimension with ``V`` styles: ``P(obs | H_k) = (1 - f) [obs = k's style] + f / V``
  (``f``: :attr:`~.attribute.ModelConfig.reformat_rate`), against ``1 / V``.  Weak by design
  (a factor of at most ``V (1 - f) + f`` per dimension); it never enters the innocence bound.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from leakwarden.trace.variants import STYLES

__all__ = [
    "FingerprintEvidence",
    "format_loglik",
    "order_bound",
    "order_loglik",
    "run_bound",
    "run_loglik",
]


@dataclass
class FingerprintEvidence:
    """What a sample shows of one copy's fingerprint (module docstring)."""

    canaries_strong: int = 0
    canaries_weak: int = 0
    ascents: int = 0
    pairs: int = 0
    run: int = 0
    has_order: bool = False
    formats_seen: dict[str, str] = field(default_factory=dict)
    formats_expected: dict[str, str] = field(default_factory=dict)

    @property
    def canaries(self) -> int:
        return self.canaries_strong + self.canaries_weak


def _log_binom(n: int, k: int, p: float) -> float:
    if p <= 0.0:
        return 0.0 if k == 0 else -math.inf
    if p >= 1.0:
        return 0.0 if k == n else -math.inf
    return (
        math.lgamma(n + 1)
        - math.lgamma(k + 1)
        - math.lgamma(n - k + 1)
        + k * math.log(p)
        + (n - k) * math.log1p(-p)
    )


def order_loglik(ascents: int, pairs: int, kept: float, noise: float) -> float:
    """Log-likelihood ratio of the order evidence for the copy (module docstring)."""
    if pairs <= 0:
        return 0.0
    base = _log_binom(pairs, ascents, 0.5)
    inorder = math.log(kept) + _log_binom(pairs, ascents, 1.0 - noise)
    other = math.log1p(-kept) + base
    top = max(inorder, other)
    return top + math.log(math.exp(inorder - top) + math.exp(other - top)) - base


def order_bound(ascents: int, pairs: int) -> float:
    """``P(A >= ascents)``, ``A ~ Binomial(pairs, 1/2)``: chance of so ordered a sample."""
    from leakwarden.trace.attribute import binomial_tail

    if pairs <= 0:
        return 1.0
    return binomial_tail(pairs, 0.5, ascents)


def _log_run_bound(run: int, customers: int) -> float:
    if run < 2 or customers < run:
        return 0.0
    return min(0.0, math.log(customers - run + 1) - math.lgamma(run + 1))


def run_bound(run: int, customers: int) -> float:
    """``min(1, (m - L + 1) / L!)``: chance of an ascending run of ``run`` among ``customers``
    in a random order (union bound)."""
    return math.exp(_log_run_bound(run, customers))


def run_loglik(run: int, customers: int, kept: float) -> float:
    """Log-likelihood ratio of "a run of ``run``" (module docstring): ``log(kept / (m r))``,
    in log space (``L!`` overflows floats beyond 170)."""
    log_r = _log_run_bound(run, customers)
    if log_r >= 0.0:
        return 0.0
    return math.log(kept) - min(0.0, math.log(customers) + log_r)


def format_loglik(seen: dict[str, str], expected: dict[str, str], reformat: float) -> float:
    """Log-likelihood ratio of the formats seen for the copy (module docstring)."""
    total = 0.0
    for dim, style in seen.items():
        if dim not in expected or dim not in STYLES:
            continue
        v = len(STYLES[dim])
        p = (1.0 - reformat) * (style == expected[dim]) + reformat / v
        total += math.log(p * v)
    return total
