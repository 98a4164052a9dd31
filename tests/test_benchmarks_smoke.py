"""The benchmark harness: scoring against hand-made spans, the corpus against python-stdnum,
Presidio offline, and a tiny end-to-end run so ``python -m benchmarks`` cannot rot.

No timing assertions: figures depend on the machine.
"""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import pytest
from benchmarks.__main__ import parse_size
from benchmarks.corpus import build_corpus, to_fullwidth
from benchmarks.scoring import Counts, Gold, Pred, apply_thresholds, score, tune_thresholds
from stdnum import iban, luhn
from stdnum.cn import ric, uscc

# --------------------------------------------------------------------------- scoring


TEXT = "call 13812345678 or mail a@b.cn now"
#       0123456789012345678901234567890123
# "13812345678" is [5, 16); "a@b.cn" is [25, 31).
GOLD = [Gold("cn_mobile", 5, 16), Gold("email", 25, 31)]


def test_exact_match_counts_by_hand() -> None:
    pred = [
        Pred("cn_mobile", 5, 16),  # exact hit
        Pred("email", 24, 31),  # one character too wide: a miss and a false positive
        Pred("iban", 0, 4),  # nothing there
    ]
    report = score([TEXT], [GOLD], [pred], "exact")
    assert (report.per_type["cn_mobile"].tp, report.per_type["cn_mobile"].fp) == (1, 0)
    assert (report.per_type["email"].tp, report.per_type["email"].fp) == (0, 1)
    assert report.per_type["email"].fn == 1
    assert report.per_type["iban"].fp == 1
    assert report.per_type["iban"].precision == 0.0
    assert report.false_positive_examples["email"] == ["5678 or mail[ a@b.cn] now"]
    assert report.missed_examples["email"] == ["678 or mail [a@b.cn] now"]


def test_overlap_match_is_one_to_one_and_typed() -> None:
    pred = [
        Pred("email", 24, 31),  # overlaps the email: a hit
        Pred("email", 27, 29),  # second overlap of the same gold span: false positive
        Pred("phone", 5, 16),  # right place, wrong type: false positive, and mobile missed
    ]
    report = score([TEXT], [GOLD], [pred], "overlap")
    assert report.per_type["email"].as_json()["tp"] == 1
    assert report.per_type["email"].fp == 1
    assert report.per_type["cn_mobile"].fn == 1
    assert report.per_type["phone"].fp == 1


def test_grouping_maps_both_sides_and_drops_unmapped() -> None:
    groups = {"cn_mobile": "phone", "PHONE_NUMBER": "phone"}
    pred = [Pred("PHONE_NUMBER", 5, 16), Pred("DATE_TIME", 0, 4)]
    report = score([TEXT], [GOLD], [pred], "exact", groups.get)
    assert set(report.per_type) == {"phone"}  # email gold and DATE_TIME dropped
    assert report.per_type["phone"].tp == 1


def test_precision_recall_f1_arithmetic() -> None:
    c = Counts(tp=9, fp=1, fn=3)
    assert c.precision == pytest.approx(0.9)
    assert c.recall == pytest.approx(0.75)
    assert c.f1 == pytest.approx(2 * 0.9 * 0.75 / 1.65)
    assert Counts().precision == 1.0 and Counts().recall == 1.0


def test_threshold_tuning_picks_the_best_f1_per_group() -> None:
    gold = [[Gold("email", 25, 31)]]
    pred = [[Pred("email", 25, 31, 0.6), Pred("email", 0, 4, 0.3)]]
    thresholds = tune_thresholds([TEXT], gold, pred, lambda t: t, (0.0, 0.5, 0.9))
    # 0.0 keeps the false positive (F1 2/3), 0.5 keeps only the hit (F1 1), 0.9 keeps none.
    assert thresholds == {"email": 0.5}
    kept = apply_thresholds(pred, thresholds, lambda t: t)
    assert kept == [[Pred("email", 25, 31, 0.6)]]


def test_variant_breakdown_counts_recall_per_variant() -> None:
    gold = [[Gold("cn_mobile", 5, 16, "cjk_adjacent"), Gold("email", 25, 31, "plain")]]
    report = score([TEXT], gold, [[Pred("email", 25, 31)]], "exact")
    assert report.recall_by_variant["cn_mobile"]["cjk_adjacent"].fn == 1
    assert report.recall_by_variant["email"]["plain"].tp == 1


# --------------------------------------------------------------------------- corpus


@pytest.fixture(scope="module")
def corpus() -> object:
    return build_corpus(60_000, seed=7)


def _normal(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def test_corpus_is_seeded_and_sized(corpus: object) -> None:
    again = build_corpus(60_000, seed=7)
    other = build_corpus(60_000, seed=8)
    assert [d.text for d in again.documents] == [d.text for d in corpus.documents]  # type: ignore[attr-defined]
    assert [d.text for d in other.documents] != [d.text for d in corpus.documents]  # type: ignore[attr-defined]
    assert corpus.n_bytes >= 60_000  # type: ignore[attr-defined]


def test_labelled_values_pass_their_reference_checks(corpus: object) -> None:
    seen: set[str] = set()
    for doc in corpus.documents:  # type: ignore[attr-defined]
        for span in doc.spans:
            value = _normal(doc.text[span.start : span.end])
            seen.add(span.type)
            assert value == value.strip() and value, (span, value)
            if span.type == "cn_resident_id":
                assert ric.is_valid(value), value
            elif span.type == "bank_card":
                assert luhn.is_valid(value.replace(" ", "")), value
            elif span.type == "cn_uscc":
                assert uscc.is_valid(value), value
            elif span.type == "iban":
                assert iban.is_valid(value), value
    assert {"cn_resident_id", "bank_card", "cn_uscc", "iban", "person_name", "address"} <= seen


def test_corpus_has_the_hard_cases(corpus: object) -> None:
    variants = {s.variant for d in corpus.documents for s in d.spans}  # type: ignore[attr-defined]
    assert {"plain", "cjk_adjacent", "fullwidth"} <= variants
    text = "".join(d.text for d in corpus.documents)  # type: ignore[attr-defined]
    assert "校验位错误" in text  # wrong-check-digit IDs are present, unlabelled


def test_near_misses_are_not_labelled(corpus: object) -> None:
    # Every 18-character ID-shaped run that is no valid ID, card or USCC (per python-stdnum)
    # must be outside all labelled spans.
    import re

    for doc in corpus.documents:  # type: ignore[attr-defined]
        covered = {i for s in doc.spans for i in range(s.start, s.end)}
        for m in re.finditer(r"(?<![0-9A-Z])[0-9]{17}[0-9X](?![0-9A-Z])", doc.text):
            value = m.group()
            if not (ric.is_valid(value) or luhn.is_valid(value) or uscc.is_valid(value)):
                assert m.start() not in covered, value


def test_background_share_sets_density() -> None:
    dense = build_corpus(30_000, seed=5, background_share=0.0)
    sparse = build_corpus(30_000, seed=5, background_share=0.8)
    assert sparse.n_spans / sparse.n_bytes < 0.5 * dense.n_spans / dense.n_bytes
    with pytest.raises(ValueError, match="background_share"):
        build_corpus(1000, background_share=1.0)


def test_fullwidth_keeps_length() -> None:
    assert to_fullwidth("Ab1-2") == "Ａｂ１-２"
    assert len(to_fullwidth("13812345678")) == 11


def test_parse_size() -> None:
    assert parse_size("3MB") == 3_000_000
    assert parse_size("2KiB") == 2048
    assert parse_size("512") == 512
    with pytest.raises(Exception, match="not a number"):
        parse_size("lots")


# --------------------------------------------------------------------------- Presidio, harness


def test_presidio_runs_offline_with_pattern_recognizers() -> None:
    pytest.importorskip("presidio_analyzer")
    from benchmarks.systems import no_network, presidio_finder

    text = "mail alice@example.com or card 4111111111111111"
    #       0    5                22       31
    with no_network() as attempts:
        find = presidio_finder("noop")
        found = {(p.type, p.start, p.end) for p in find(text)}
    assert attempts == []
    assert ("EMAIL_ADDRESS", 5, 22) in found
    assert ("CREDIT_CARD", 31, 47) in found


def test_no_network_refuses_connections() -> None:
    import socket

    from benchmarks.systems import NetworkAttempt, no_network

    with no_network() as attempts, pytest.raises(NetworkAttempt):
        socket.create_connection(("192.0.2.1", 80), timeout=1)
    assert attempts


@pytest.mark.slow
def test_tiny_end_to_end_run(tmp_path: Path) -> None:
    pytest.importorskip("presidio_analyzer")
    from benchmarks import detect_vs_presidio
    from rich.console import Console

    systems = ["presidio-noop"]
    if detect_vs_presidio.leakwarden_available():
        systems.append("leakwarden-no-ner")
    result = detect_vs_presidio.run(
        12_000, seed=3, repeat=1, systems=systems, console=Console(quiet=True)
    )
    paths = detect_vs_presidio.write_results(result, tmp_path)
    data = json.loads(paths[0].read_text("utf-8"))
    assert set(data["systems"]) == set(systems)
    presidio = data["systems"]["presidio-noop"]
    assert presidio["network_attempts"] == []
    assert presidio["mb_per_s_per_core"] > 0
    assert "email" in presidio["shared"]["exact"]["per_type"]
    assert data["machine"]["python"].startswith("3.")
    assert "# leakwarden vs Presidio" in paths[1].read_text("utf-8")


@pytest.mark.slow
def test_column_scan_harness_on_a_small_csv(tmp_path: Path) -> None:
    from benchmarks.column_scan import COLUMNS, scan_worker, write_csv

    path = tmp_path / "customers.csv"
    n = write_csv(path, 200_000, seed=2)
    lines = path.read_text("utf-8").splitlines()
    assert lines[0] == ",".join(COLUMNS)
    assert n >= 1000 and path.stat().st_size >= 200_000
    result = scan_worker(str(path), full=False)
    assert result["peak_rss_mib"] > 0 and result["wall_s"] > 0
    # The generated columns hold what their names say (checked by eye on the generator).
    assert "id_number: cn_resident_id" in result["columns_classified"]
    assert "email: email" in result["columns_classified"]
    assert not any(c.startswith("order_no:") for c in result["columns_classified"])
