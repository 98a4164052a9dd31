"""The native pattern pass (``leakwarden.detect._patterns``) against the Python reference
(``Detector(backend="python")``): the same findings and scores on the benchmark corpus, on
hypothesis-generated text dense in digits, separators, context words and CJK characters, and on
hand-picked edge cases (e-mail local parts longer than the 256-byte window, joiners, full-width
digits, lone surrogates)."""

from __future__ import annotations

import pickle

import pytest
from benchmarks.corpus import build_corpus
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leakwarden.detect import _patterns
from leakwarden.detect import validators as v
from leakwarden.detect.engine import Detector, clear_value_caches
from leakwarden.detect.model import Finding

NATIVE = Detector(use_ner=False)
PYTHON = Detector(use_ner=False, backend="python")


def _key(found: list[Finding]) -> list[tuple[str, int, int, str, float]]:
    return [(f.type, f.start, f.end, f.text, f.score) for f in found]


def _same(texts: list[str]) -> None:
    native = NATIVE.find_many(texts)
    python = PYTHON.find_many(texts)
    for text, a, b in zip(texts, native, python, strict=True):
        assert _key(a) == _key(b), text


def test_same_findings_on_the_benchmark_corpus() -> None:
    corpus = build_corpus(200_000, seed=7)
    texts = [doc.data.decode("utf-8") for doc in corpus.documents]
    found = NATIVE.find_many(texts)
    assert sum(len(f) for f in found) > 500  # the corpus is dense in values
    _same(texts)


EDGE_CASES = [
    "",
    "x",
    "身份证11010519491231002X，手机13812345678",
    "手机：１３８００１３８０００",
    "mail " + "a" * 300 + "@example.com and b.c@d.org",
    "-" * 10 + "a.b-c@x.io",
    "@example.com x@y",
    "card 6222-0212-3456-7890-128; 6222 0212 3456 7890 128",
    "订单号6222021234567890128 订单号13812345678",
    "dob=1990-01-02;ts=2024-11-21",
    "ip 192.168.1.1, 10.0.0.300, fe80::1ff:fe23:4567:890a mac 00:1A:2B:3C:4D:5E",
    "IBAN GB82 WEST 1234 5698 7654 32 ssn 078-05-1120",
    "\ud800 手机13812345678 \udfff",
    "tel\n13812345678\nphone +44 20 7946 0958",
    "统一社会信用代码91350100M000100Y43 京A12345 沪AD12345",
]


@pytest.mark.parametrize("text", EDGE_CASES)
def test_same_findings_on_edge_cases(text: str) -> None:
    _same([text])


_PIECES = st.sampled_from(
    [
        "0",
        "1",
        "3",
        "8",
        "9",
        "X",
        "-",
        " ",
        ".",
        ":",
        "@",
        "a",
        "Z",
        "_",
        "+",
        "\n",
        "，",
        "号",
        "张",
        "１",
        "手机",
        "身份证",
        "卡号",
        "订单号",
        "card",
        "phone",
        "ip",
        "dob",
        "tel",
        "13812345678",
        "11010519491231002X",
        "6222021234567890128",
        "4111111111111111",
        "192.168.0.1",
        "zhang.wei@example.com",
        "+86 138 0013 8000",
        "1990-01-02",
        "GB82WEST12345698765432",
    ]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_PIECES, max_size=60).map("".join))
def test_same_findings_on_generated_text(text: str) -> None:
    _same([text])


def test_backend_is_checked_and_survives_pickling() -> None:
    with pytest.raises(ValueError, match="backend"):
        Detector(backend="fortran")  # type: ignore[arg-type]
    clone = pickle.loads(pickle.dumps(PYTHON))
    assert clone._backend == "python"
    assert _key(clone.find("手机13812345678")) == _key(NATIVE.find("手机13812345678"))


def test_clear_value_caches_forgets_every_validator_answer() -> None:
    NATIVE.find("身份证11010519491231002X 卡号6222021234567890128")
    caches = [r.validator for r in NATIVE._compiled.rules if r.validator is not None]
    assert sum(v.cache_info().currsize for v in caches) >= 2  # type: ignore[attr-defined]
    clear_value_caches()
    assert sum(v.cache_info().currsize for v in caches) == 0  # type: ignore[attr-defined]


# --- prechecks: a value a precheck rejects is one its validator rejects ---------------------

_CARDISH = st.text(alphabet="0123456789 -", min_size=12, max_size=24)
_USCCISH = st.text(alphabet="0123456789ABCDEFGHJKLMNPQRTUWXYZIOSVabcdxyß", min_size=16, max_size=19)
_RICISH = st.text(alphabet="0123456789Xx", min_size=15, max_size=19)


def _luhn_complete(body: str) -> str:
    from stdnum import luhn

    return body + luhn.calc_check_digit(body)


@settings(max_examples=400, deadline=None)
@given(st.one_of(_CARDISH, st.from_regex(r"62[0-9]{14}", fullmatch=True).map(_luhn_complete)))
def test_luhn_precheck_is_a_necessary_condition(value: str) -> None:
    if _patterns.precheck_rejects(_patterns.PRECHECK_LUHN, value.encode()):
        assert not v.bank_card_ok(value)


@settings(max_examples=400, deadline=None)
@given(_USCCISH)
def test_uscc_precheck_is_a_necessary_condition(value: str) -> None:
    if _patterns.precheck_rejects(_patterns.PRECHECK_USCC, value.encode()):
        assert not v.cn_uscc_ok(value)


@settings(max_examples=400, deadline=None)
@given(_RICISH)
def test_mod11_2_precheck_is_a_necessary_condition(value: str) -> None:
    if _patterns.precheck_rejects(_patterns.PRECHECK_MOD11_2, value.encode()):
        assert not v.cn_resident_id_ok(value)


@pytest.mark.parametrize(
    ("kind", "good", "bad"),
    [
        ("PRECHECK_LUHN", "6222 0212 3456 7890 128", "6222 0212 3456 7890 129"),
        ("PRECHECK_USCC", "91350100M000100Y43", "91350100M000100Y44"),
        ("PRECHECK_MOD11_2", "11010519491231002X", "110105194912310021"),
    ],
)
def test_prechecks_pass_valid_values_and_reject_wrong_check_characters(
    kind: str, good: str, bad: str
) -> None:
    check = getattr(_patterns, kind)
    assert not _patterns.precheck_rejects(check, good.encode())
    assert _patterns.precheck_rejects(check, bad.encode())
    assert not _patterns.precheck_rejects(check, good.lower().encode())


def test_threads_share_a_detector_with_their_own_scratch() -> None:
    from concurrent.futures import ThreadPoolExecutor

    texts = [doc.data.decode("utf-8") for doc in build_corpus(60_000, seed=11).documents]
    detector = Detector(use_ner=False)
    expected = [_key(f) for f in PYTHON.find_many(texts)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda t: _key(detector.find(t)), texts * 3))
    assert results == expected * 3
