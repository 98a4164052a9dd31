"""Canary customers cannot be told from real ones by simple per-row statistics (issue 6).

On a demo company of 2,000 customers, 500 canaries are made from its rows
(:func:`leakwarden.trace.canaries.make_canaries`, as an export of the whole ``customers`` table
would get them).  A logistic regression on ~60 per-row statistics (lengths, name script, ID
region / birth date / gender agreement with the other columns, mobile segment, e-mail domain and
shape, province, address shape, segment, VIP, account age, remark kind, ...), evaluated by
5-fold cross-validation, must not separate canaries from real rows better than chance, and no
single statistic may either.

Statistical power.  Under the null (indistinguishable) the out-of-fold AUC has standard error
``sqrt((n1 + n0 + 1) / (12 n1 n0)) = 0.0144`` (n1 = 500 canaries, n0 = 2,000 real rows; Hanley
and McNeil).  The test fails when the AUC exceeds 0.5 + 3.3 SE = 0.548 (false alarm ~0.05 %,
one-sided).  A classifier with a true AUC of 0.60 is caught with probability ~0.9998
(z = 3.6), one of 0.58 with ~0.99 (z = 2.2); a weaker edge than AUC 0.56 can go unnoticed.  The
single statistics are held to the same bound after a Bonferroni correction (one-sided 0.05 %
over all of them, per-statistic AUC distance from 0.5).

That the test can fail: the same classifier on *naive* canaries (each field drawn on its own,
so the resident ID disagrees with the birth date and gender) must reach AUC > 0.9.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, datetime

import numpy as np
import pytest
from sqlalchemy import create_engine, text

from leakwarden.demo import regions
from leakwarden.demo.build import build_company
from leakwarden.demo.values import Values
from leakwarden.trace.canaries import column_kinds, make_canaries

N_REAL, N_CANARY = 2000, 500
SE = math.sqrt((N_REAL + N_CANARY + 1) / (12 * N_REAL * N_CANARY))
LIMIT = 0.5 + 3.3 * SE
COLUMNS = ("id, name, gender, id_card, mobile, email, birth_date, address, province, city, "
           "district, vip, segment, created_at, locale, remark")  # fmt: skip


@pytest.fixture(scope="module")
def real_rows(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], list[list[str]]]:
    url = f"sqlite:///{tmp_path_factory.mktemp('realism')}/company.db"
    build_company(url, customers=N_REAL, seed=23)
    with create_engine(url).connect() as conn:
        result = conn.execute(text(f"SELECT {COLUMNS} FROM customers"))
        header = list(result.keys())
        rows = [["" if v is None else str(v) for v in r] for r in result]
    return header, rows


# ------------------------------------------------------------------------------ features

_PROVINCE_CODE = {c.province: c.code[:2] for c in regions.counties()}


def _cat(value: str, options: Sequence[str]) -> list[float]:
    return [1.0 if value == o else 0.0 for o in options]


def _features(header: list[str], rows: list[list[str]], vocab: dict[str, list[str]]) -> np.ndarray:
    out = []
    for r in rows:
        c = dict(zip(header, r, strict=True))
        idc, name, mobile, email = c["id_card"], c["name"], c["mobile"], c["email"]
        birth = date.fromisoformat(c["birth_date"])
        created = datetime.fromisoformat(c["created_at"])
        cn_id = len(idc) == 18 and idc[:17].isdigit()
        local, _, domain = email.partition("@")
        remark = c["remark"]
        digits = sum(ch.isdigit() for ch in remark)
        f = [
            len(name),
            float(name.isascii()),
            float(c["gender"] == "M"),
            float(cn_id),
            float(cn_id and idc[6:14] == birth.strftime("%Y%m%d")),
            float(cn_id and (int(idc[16]) % 2 == 1) == (c["gender"] == "M")),
            float(cn_id and _PROVINCE_CODE.get(c["province"]) == idc[:2]),
            int(idc[:2]) if cn_id else 0.0,
            float(idc[-1] == "X"),
            int(mobile[:3]) if mobile[:3].isdigit() else 0.0,
            len(mobile),
            len(local),
            sum(ch.isdigit() for ch in local),
            float(local.isdigit()),
            birth.year,
            birth.month,
            len(c["address"]),
            float("室" in c["address"]),
            float(c["city"] in c["address"]),
            float(c["vip"] == "True"),
            created.year,
            created.month,
            created.hour,
            (created.date() - birth).days / 365.25,
            float(c["locale"] == "en_US"),
            float(not remark),
            float(digits == 11 and remark.startswith("1")),
            float("-" in remark and digits >= 7),
            float(bool(remark) and digits == 0),
            *_cat(domain, vocab["domain"]),
            *_cat(c["province"], vocab["province"]),
            *_cat(c["segment"], vocab["segment"]),
        ]
        out.append(f)
    return np.asarray(out, dtype=float)


def _vocab(header: list[str], rows: list[list[str]]) -> dict[str, list[str]]:
    from collections import Counter

    col = {h: i for i, h in enumerate(header)}
    domains = Counter(r[col["email"]].partition("@")[2] for r in rows)
    provinces = Counter(r[col["province"]] for r in rows)
    return {
        "domain": [d for d, _ in domains.most_common(12)],
        "province": [p for p, _ in provinces.most_common(15)],
        "segment": sorted({r[col["segment"]] for r in rows}),
    }


# ------------------------------------------------------------------------------ the model


def _fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1.0) -> np.ndarray:
    """L2-regularised logistic regression by Newton's method (IRLS); returns the weights with
    the intercept last."""
    xb = np.hstack([x, np.ones((len(x), 1))])
    w = np.zeros(xb.shape[1])
    reg = np.full(xb.shape[1], l2)
    reg[-1] = 0.0
    for _ in range(30):
        p = 1.0 / (1.0 + np.exp(-np.clip(xb @ w, -30, 30)))
        grad = xb.T @ (p - y) + reg * w
        hess = (xb * (p * (1 - p))[:, None]).T @ xb + np.diag(reg) + 1e-9 * np.eye(len(w))
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w


def auc(scores: np.ndarray, y: np.ndarray) -> float:
    """Mann-Whitney AUC with ties counted half."""
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    _, inv, counts = np.unique(scores, return_inverse=True, return_counts=True)
    ranks = (np.bincount(inv, weights=ranks) / counts)[inv]  # ties share their mean rank
    n1 = int(y.sum())
    n0 = len(y) - n1
    return float((ranks[y == 1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def cross_validated_auc(x: np.ndarray, y: np.ndarray, folds: int = 5, seed: int = 0) -> float:
    rng = np.random.default_rng(seed)
    fold = np.empty(len(y), dtype=int)
    for label in (0, 1):
        idx = np.flatnonzero(y == label)
        fold[rng.permutation(idx)] = np.arange(len(idx)) % folds
    scores = np.empty(len(y))
    for k in range(folds):
        train, test = fold != k, fold == k
        mu, sd = x[train].mean(axis=0), x[train].std(axis=0) + 1e-9
        w = _fit_logistic((x[train] - mu) / sd, y[train])
        xt = (x[test] - mu) / sd
        scores[test] = np.hstack([xt, np.ones((len(xt), 1))]) @ w
    return auc(scores, y)


def _dataset(header: list[str], real: list[list[str]], fake: list[list[str]]) -> tuple[
    np.ndarray, np.ndarray
]:  # fmt: skip
    vocab = _vocab(header, real)
    x = np.vstack([_features(header, real, vocab), _features(header, fake, vocab)])
    y = np.concatenate([np.zeros(len(real)), np.ones(len(fake))])
    return x, y


def test_the_auc_of_a_known_separation_is_computed_right() -> None:
    # by hand: scores 1,2 (negatives) and 3,2 (positives): pairs (3>1,3>2,2>1,2=2) -> 3.5/4
    assert auc(np.array([1.0, 2.0, 3.0, 2.0]), np.array([0, 0, 1, 1])) == 0.875


def test_a_classifier_cannot_tell_canaries_from_real_customers(
    real_rows: tuple[list[str], list[list[str]]],
) -> None:
    header, rows = real_rows
    kinds = column_kinds(header, rows)
    canaries = make_canaries(header, rows, kinds, 0, N_CANARY, Values(99))
    fake = [r for c in canaries for r in c.rows]
    assert len(fake) == N_CANARY
    # no canary repeats a real row's identifiers or time stamp (a duplicate is a tell)
    for name in ("id", "id_card", "mobile", "email", "created_at"):
        j = header.index(name)
        assert not {r[j] for r in fake} & {r[j] for r in rows}, name
        assert len({r[j] for r in fake}) == len(fake), name
    x, y = _dataset(header, rows, fake)
    model_auc = cross_validated_auc(x, y)
    assert model_auc < LIMIT, f"logistic regression AUC {model_auc:.3f} >= {LIMIT:.3f}"
    # no single statistic separates them either (Bonferroni over the statistics)
    z = 3.3 + math.sqrt(2 * math.log(x.shape[1]))  # a conservative union bound
    for j in range(x.shape[1]):
        if np.ptp(x[:, j]) == 0:
            continue
        a = auc(x[:, j], y)
        assert abs(a - 0.5) < z * SE, f"statistic {j}: AUC {a:.3f}"


def test_the_classifier_catches_naive_canaries(
    real_rows: tuple[list[str], list[list[str]]],
) -> None:
    """Each field drawn on its own: the test has the power to see that."""
    header, rows = real_rows
    v = Values(7)
    col = {h: i for i, h in enumerate(header)}
    people = v.people(N_CANARY, en_share=0.0)
    ids = v.resident_ids(N_CANARY)  # not this person's birth date, gender or region
    fake = []
    for i, p in enumerate(people):
        r = list(rows[i])
        r[col["name"]], r[col["gender"]], r[col["id_card"]] = p.name, p.gender, ids[i]
        r[col["mobile"]], r[col["email"]] = p.mobile, p.email
        r[col["birth_date"]], r[col["address"]] = p.birth_date.isoformat(), p.address
        r[col["province"]], r[col["city"]], r[col["district"]] = p.province, p.city, p.district
        fake.append(r)
    x, y = _dataset(header, rows, fake)
    assert cross_validated_auc(x, y) > 0.9
