"""The fingerprint evidence's likelihoods and bounds (trace/evidence.py) against values worked
out by hand, and what they do in the attribution model (trace/attribute.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from leakwarden.trace.attribute import CopyRecord, ModelConfig, attribute
from leakwarden.trace.evidence import (
    FingerprintEvidence,
    format_loglik,
    order_bound,
    order_loglik,
)


def test_order_likelihood_ratio_and_bound_by_hand() -> None:
    # 10 pairs all ascending: 0.5 * 0.98^10 + 0.5 * 0.5^10 against 0.5^10
    # 0.98^10 = 0.8170728, 0.5^10 = 0.0009765625
    want = math.log(0.5 * 0.8170728 + 0.5 * 0.0009765625) - math.log(0.0009765625)
    assert order_loglik(10, 10, 0.5, 0.02) == pytest.approx(want, rel=1e-6)
    # half the pairs ascending: what a random order gives; the copy loses log 2 at most
    assert -math.log(2) - 1e-9 < order_loglik(5, 10, 0.5, 0.02) < 0.0
    # P(Bin(10, 1/2) >= 9) = (10 + 1) / 1024
    assert order_bound(9, 10) == pytest.approx(11 / 1024, rel=1e-12)
    assert order_bound(0, 0) == 1.0 and order_loglik(0, 0, 0.5, 0.02) == 0.0


def test_format_likelihood_ratio_by_hand() -> None:
    # phone: 4 styles; kept with probability 1 - 0.5 -> (0.5 + 0.5/4) * 4 = 2.5; else 0.5
    assert format_loglik({"phone": "dashed"}, {"phone": "dashed"}, 0.5) == pytest.approx(
        math.log(2.5)
    )
    assert format_loglik({"phone": "plain"}, {"phone": "dashed"}, 0.5) == pytest.approx(
        math.log(0.5)
    )
    # address: 2 styles -> (0.5 + 0.25) * 2 = 1.5; a dimension the copy lacks says nothing
    assert format_loglik(
        {"address": "no-province", "digits": "full"}, {"address": "no-province"}, 0.5
    ) == pytest.approx(math.log(1.5))


def _copies(sets: list[set[int]], canaries: int) -> list[CopyRecord]:
    return [
        CopyRecord(f"c{k}", f"r{k}", "x", [], "", "", [], len(s), len(s), "k",
                   frozenset(map(str, s)), frozenset(), canaries=canaries)
        for k, s in enumerate(sets)
    ]  # fmt: skip


def test_one_canary_names_one_of_two_identical_copies_and_nothing_else_does() -> None:
    same = set(range(10_000))
    copies = _copies([same, set(same)], canaries=100)
    m = np.ones((99, 2), dtype=bool)
    plain = attribute(copies, m, 1_000_000)
    assert plain.verdict == "undecided"  # the row sets cannot tell them apart
    fps = {"c1": FingerprintEvidence(canaries_strong=1)}
    att = attribute(copies, m, 1_000_000, fingerprints=fps, sample_rows=100)
    assert att.verdict == "attributed" and att.named is not None
    assert att.named.copy.export_id == "c1"
    # bound: 1 canary among 100 rows, 100 canaries at 1e-12 each: 100 * 100 * 1e-12
    assert att.named.innocence_bound == pytest.approx(1e-8, rel=1e-3)
    # a weak hit (one identifier an outsider may hold) is not enough
    weak = {"c1": FingerprintEvidence(canaries_weak=1)}
    assert attribute(copies, m, 1_000_000, fingerprints=weak, sample_rows=100).verdict == (
        "undecided"
    )


def test_the_keyed_order_names_one_of_two_identical_copies() -> None:
    same = set(range(10_000))
    copies = _copies([same, set(same)], canaries=0)
    m = np.ones((40, 2), dtype=bool)
    kept = {
        "c0": FingerprintEvidence(ascents=39, pairs=39, has_order=True),
        "c1": FingerprintEvidence(ascents=20, pairs=39, has_order=True),
    }
    att = attribute(copies, m, 1_000_000, fingerprints=kept, sample_rows=40)
    assert att.verdict == "attributed" and att.named is not None
    assert att.named.copy.export_id == "c0"
    assert att.named.innocence_bound == pytest.approx(0.5**39, rel=1e-9)
    # 30 of 39 ascending under both keys (a leaker's own sort): nobody
    mixed = {k: FingerprintEvidence(ascents=30, pairs=39, has_order=True) for k in ("c0", "c1")}
    assert attribute(copies, m, 1_000_000, fingerprints=mixed).verdict == "undecided"


def test_model_config_refuses_impossible_rates() -> None:
    with pytest.raises(ValueError, match="order_kept"):
        ModelConfig(order_kept=1.0)
    with pytest.raises(ValueError, match="canary_other_route"):
        ModelConfig(canary_other_route=0.0)


def test_two_colluders_do_not_get_a_third_copy_named() -> None:
    """A and B merge five customers each; C holds all of them (C = A + B).  C explains every
    leaked customer, so it tops the posterior; only the merged pair explains them as well."""
    a, b = set(range(1000)), set(range(1000, 2000))
    copies = _copies([a, b, a | b], canaries=0)
    leaked = [1, 2, 3, 4, 5, 1001, 1002, 1003, 1004, 1005]
    m = np.array([[u in s for s in (a, b, a | b)] for u in leaked], dtype=bool)
    naive = attribute(copies, m, 1_000_000, ModelConfig(colluders=False))
    assert naive.named is not None and naive.named.copy.export_id == "c2"  # the flaw
    att = attribute(copies, m, 1_000_000)
    assert att.copies[0].copy.export_id == "c2" and att.verdict == "undecided"
    assert att.copies[0].innocence_bound == 1.0
    assert any("c0 and c1 merged" in n for n in att.copies[0].notes)


def test_order_statistics_and_the_run_bound_by_hand() -> None:
    from leakwarden.trace.evidence import run_bound, run_loglik
    from leakwarden.trace.variants import order_stats

    # 5 < 7 > 1 < 2 < 3 < 9 > 4: ascents 4 of 6 pairs, longest run 1,2,3,9 = 4
    assert order_stats([5, 7, 1, 2, 3, 9, 4]) == (4, 6, 4)
    assert order_stats([]) == (0, 0, 0) and order_stats([3]) == (0, 0, 1)
    # a run of 4 among 7: at most (7 - 4 + 1) / 4! = 4 / 24
    assert run_bound(4, 7) == pytest.approx(4 / 24)
    assert run_bound(3, 7) == pytest.approx(5 / 6)  # (7 - 3 + 1) / 3!
    assert run_bound(2, 7) == 1.0  # 6 / 2 > 1
    # long runs stay finite: log(0.5) - log(1000 * 501 / 500!), 500! ~ 10^1134
    big = math.log(0.5) - (math.log(1000 * 501) - math.lgamma(501))
    assert run_loglik(500, 1000, 0.5) == pytest.approx(big)
    assert run_bound(500, 1000) == 0.0  # underflows: below any threshold
    # likelihood ratio of a run of 10 among 20: kept 0.5 against 20 * (11 / 10!)
    assert run_loglik(10, 20, 0.5) == pytest.approx(math.log(0.5) - math.log(20 * 11 / 3628800))


def test_a_copy_concatenated_with_another_is_named_by_its_run() -> None:
    """Two colluders paste their files one after the other: each copy's rows form one
    ascending stretch among rows in no order of that copy's key."""
    same = set(range(10_000))
    copies = _copies([same, set(same), set(same)], canaries=0)
    m = np.ones((60, 3), dtype=bool)
    fps = {
        # c0's 40 rows in its order, then 20 of c1's (random under c0's key)
        "c0": FingerprintEvidence(ascents=49, pairs=59, run=41, has_order=True),
        "c1": FingerprintEvidence(ascents=40, pairs=59, run=20, has_order=True),
        "c2": FingerprintEvidence(ascents=30, pairs=59, run=4, has_order=True),
    }
    att = attribute(copies, m, 1_000_000, fingerprints=fps, sample_rows=60)
    assert att.verdict == "attributed" and att.named is not None
    assert att.named.copy.export_id == "c0"
    # bound: a run of 41 among 60 customers, (60 - 41 + 1) / 41!
    assert att.named.innocence_bound == pytest.approx(20 / math.factorial(41), rel=1e-6)
    # without the run, the ascents alone say nothing of a half-ordered sample
    flat = {k: FingerprintEvidence(ascents=e.ascents, pairs=e.pairs, has_order=True)
            for k, e in fps.items()}  # fmt: skip
    assert attribute(copies, m, 1_000_000, fingerprints=flat).verdict == "undecided"
    # equal halves: both colluders' runs are as telling, and the single-source model names
    # neither (a limit: it has no hypothesis "these two together"), nor the innocent c2
    fps["c0"] = FingerprintEvidence(ascents=45, pairs=59, run=30, has_order=True)
    fps["c1"] = FingerprintEvidence(ascents=45, pairs=59, run=30, has_order=True)
    even = attribute(copies, m, 1_000_000, fingerprints=fps, sample_rows=60)
    assert even.verdict == "undecided"
    assert {even.copies[0].copy.export_id, even.copies[1].copy.export_id} == {"c0", "c1"}
