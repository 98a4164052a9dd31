"""The native pattern pass (``leakwarden.detect._patterns``) against the Python reference
(``Detector(backend="python")``): the same findings and scores on the benchmark corpus, on
hypothesis-generated text dense in digits, separators, context words and CJK characters, and on
hand-picked edge cases (e-mail local parts longer than the 256-byte window, joiners, full-width
digits, lone surrogates)."""

from __future__ import annotations

import datetime
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


# --- full checks: where the native check answers, it answers as the validator does ----------

_FULL_CHECKS = {
    "cn_mobile": ("CHECK_CN_MOBILE_OK", "0123456789+ -.()\t\x1c·8６"),
    "ip_address": ("CHECK_IP_OK", "0123456789.:abcdef٣"),
    "mac_address": ("CHECK_MAC_OK", "0123456789abcdefABCDEF:-.gG"),
    "email": ("CHECK_EMAIL_OK", "ab.-_%+@1Z"),
    "express_waybill": ("CHECK_WAYBILL_OK", "SFJDYTABZsfx0123456789"),
}


def _values(type_id: str) -> st.SearchStrategy[str]:
    from leakwarden.detect.types import PI_TYPES

    _, alphabet = _FULL_CHECKS[type_id]
    shaped = [st.from_regex(p, fullmatch=True) for p in PI_TYPES[type_id].patterns]
    return st.one_of(st.text(alphabet=alphabet, max_size=30), *shaped)


@pytest.mark.parametrize("type_id", sorted(_FULL_CHECKS))
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_full_checks_answer_as_the_validator(type_id: str, data: st.DataObject) -> None:
    from leakwarden.detect.types import PI_TYPES

    validator = PI_TYPES[type_id].validator
    assert validator is not None
    kind = getattr(_patterns, _FULL_CHECKS[type_id][0])
    value = data.draw(_values(type_id))
    answer = _patterns.native_answer(kind, value.encode())
    if answer is not None:
        assert answer == validator(value), value


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        ("CHECK_CN_MOBILE_OK", "+86 138-0013-8000", True),
        ("CHECK_CN_MOBILE_OK", "14012345678", False),  # 140 is data-only
        ("CHECK_CN_MOBILE_OK", "138·0013·8000", None),  # non-ASCII separator: the validator
        ("CHECK_IP_OK", "192.168.1.1", True),
        ("CHECK_IP_OK", "0.0.0.0", False),
        ("CHECK_IP_OK", "10.0.0.300", None),  # not a quad: the validator (ipaddress)
        ("CHECK_IP_OK", "12:30:45", False),  # a time, not IPv6
        ("CHECK_MAC_OK", "00:1A:2B:3C:4D:5E", True),
        ("CHECK_MAC_OK", "ff-ff-ff-ff-ff-ff", False),
        ("CHECK_EMAIL_OK", "zhang.wei@example.com", True),
        ("CHECK_EMAIL_OK", "a..b@example.com", False),
        ("CHECK_WAYBILL_OK", "SF1234567890123", True),
        ("CHECK_WAYBILL_OK", "RR123456785CN", True),  # UPU S10 with its check digit
        ("CHECK_WAYBILL_OK", "RR123456784CN", False),
    ],
)
def test_full_checks_on_known_values(kind: str, value: str, expected: bool | None) -> None:
    assert _patterns.native_answer(getattr(_patterns, kind), value.encode()) is expected


def test_cn_mobile_check_on_every_segment_and_prefix() -> None:
    kind = _patterns.CHECK_CN_MOBILE_OK
    for head in range(100, 200):
        for prefix in ("", "+86", "0086", "86", "+86 "):
            for body in (f"{head}12345678", f"{head}-1234-5678", f"{head}1234567"):
                value = prefix + body
                answer = _patterns.native_answer(kind, value.encode())
                assert answer is not None and answer == v.cn_mobile_ok(value), value


def _agrees(kind_name: str, validator: object, values: list[str]) -> int:
    """How many of ``values`` the native check answered; each answer equals the validator's."""
    kind = getattr(_patterns, kind_name)
    answered = 0
    for value in values:
        answer = _patterns.native_answer(kind, value.encode())
        if answer is not None:
            answered += 1
            assert answer == validator(value), value  # type: ignore[operator]
    return answered


def test_ip_check_on_octet_edge_cases() -> None:
    octets = ["0", "00", "01", "1", "9", "10", "99", "100", "199", "200", "249", "250", "255"]
    octets += ["256", "300", "1000", ""]
    values = [f"{a}.{b}.1.{a}" for a in octets for b in octets] + ["0.0.0.0", "1.2.3", "1.2.3.4.5"]
    values += ["1:2:3:4:5:6:7:8", "12:30", "fe80::1", "::", "1.2.3.4:80"]
    assert _agrees("CHECK_IP_OK", v.ip_address_ok, values) > 100  # quads; the rest deferred


def test_waybill_check_on_every_carrier_shape_and_s10_check_digit() -> None:
    import random

    rng = random.Random(3)
    values = []
    for _ in range(40):
        body = "".join(rng.choice("0123456789") for _ in range(8))
        values += [f"RR{body}{check}CN" for check in range(10)]
        values += [f"rr{body}{check}cn" for check in range(2)]
    digits = "".join(rng.choice("0123456789") for _ in range(20))
    for n in range(8, 18):
        values += [f"SF{digits[:n]}", f"YT{digits[:n]}", f"JT{digits[:n]}", digits[:n]]
        values += [f"JD{letters}{digits[:n]}" for letters in ("", "X", "XY", "XYZ", "WXYZ")]
    assert _agrees("CHECK_WAYBILL_OK", v.express_waybill_ok, values) == len(values)


def test_mac_and_email_checks_on_edge_cases() -> None:
    macs = ["00:00:00:00:00:00", "FF:FF:FF:FF:FF:FF", "ff-FF-ff-FF-ff-FF", "00:1a:2b:3c:4d:5e"]
    macs += ["00-1a:2b:3c:4d:5e", "001a.2b3c.4d5e", "0000.0000.0000", "001a.2b3c.4d5", "00:1a:2b"]
    assert _agrees("CHECK_MAC_OK", v.mac_address_ok, macs) == len(macs)
    emails = ["a@b.co", "a@b.c", "a@b", "@b.co", ".a@b.co", "a.@b.co", "a..b@c.co", "a@-b.co"]
    emails += ["a@b-.co", "a@b..co", "a@b.c0", "a@b.co.uk", "x" * 64 + "@b.co", "x" * 65 + "@b.co"]
    emails += [
        "a@" + "b" * 63 + ".co",
        "a@" + "b" * 64 + ".co",
        "a@b@c.co",
        "a@" + "b." * 130 + "co",
    ]
    assert _agrees("CHECK_EMAIL_OK", v.email_ok, emails) == len(emails)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=0xFFFF), max_size=40))
def test_folded_bytes_decode_to_fold_for_matching(text: str) -> None:
    from leakwarden.detect.engine import _fold
    from leakwarden.detect.normalize import fold_for_matching

    data, exact = _fold(text)
    assert data[:1] == b"\n" and data[-1:] == b"\n"
    surrogate = any(0xD800 <= ord(ch) <= 0xDFFF for ch in text)
    assert exact is not surrogate
    if exact:
        assert data[1:-1].decode("utf-8") == fold_for_matching(text)
    else:
        assert len(data[1:-1].decode("utf-8")) == len(text)  # "?" for each surrogate


def test_text_with_a_lone_surrogate_is_folded_again_for_the_tagger() -> None:
    from leakwarden.detect.engine import _fold, default_detector

    data, exact = _fold("张伟\ud800手机13812345678")
    assert not exact and data == "\n张伟?手机13812345678\n".encode()
    found = default_detector().find("收件人张伟\ud800，手机13812345678")
    assert ("cn_mobile", "13812345678") in [(f.type, f.text) for f in found]


def _resident_facts() -> tuple[int, tuple[int, ...], tuple[int, ...]]:
    day = v.today()
    regions = tuple(sorted(int(c) for c in v.region_codes()))
    permits = tuple(sorted(int(c) for c in v.PERMIT_REGIONS))
    return day.year * 10000 + day.month * 100 + day.day, regions, permits


def _resident_ids() -> st.SearchStrategy[str]:
    """18-character numbers with real, permit, 市辖区 and random region codes, birth dates
    around every boundary (1899/1900, Feb 29, today), and the right or a wrong check char."""
    from stdnum.cn import ric

    regions = sorted(v.region_codes())
    region = st.one_of(
        st.sampled_from(regions),
        st.sampled_from(sorted(v.PERMIT_REGIONS)),
        st.sampled_from(regions).map(lambda c: c[:4] + "01"),
        st.from_regex(r"[0-9]{6}", fullmatch=True),
    )
    today = v.today()
    born = st.one_of(
        st.dates().map(lambda d: d.strftime("%Y%m%d").zfill(8)),
        st.sampled_from(["18991231", "19000101", "20000229", "19000229", "20010229"]),
        st.just(today.strftime("%Y%m%d")),
        st.just((today + datetime.timedelta(days=40)).strftime("%Y%m%d")),  # the future
        st.from_regex(r"[0-9]{8}", fullmatch=True),
    )
    body = st.tuples(region, born, st.from_regex(r"[0-9]{3}", fullmatch=True)).map("".join)
    return st.one_of(
        body.map(lambda b: b + ric.calc_check_digit(b + "0")),
        body.map(lambda b: b + ric.calc_check_digit(b + "0").lower()),
        st.tuples(body, st.sampled_from("0123456789Xx")).map("".join),
        st.text(alphabet="0123456789Xx ", min_size=15, max_size=19),
    )


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_resident_ids())
def test_resident_id_check_answers_as_the_validator(value: str) -> None:
    today, regions, permits = _resident_facts()
    kind = _patterns.CHECK_RESIDENT_ID_OK
    answer = _patterns.native_answer(kind, value.encode(), today, regions, permits)
    if answer is not None:
        assert answer == v.cn_resident_id_ok(value), value


def test_resident_id_check_on_known_numbers() -> None:
    today, regions, permits = _resident_facts()
    kind = _patterns.CHECK_RESIDENT_ID_OK

    def answer(value: str, day: int = today) -> bool | None:
        return _patterns.native_answer(kind, value.encode(), day, regions, permits)

    assert answer("11010519491231002X") is True
    assert answer("11010519491231002x") is True
    assert answer("110105194912310021") is False  # wrong check digit
    assert answer("110105200101010013") is True
    assert answer("110105200101010013", day=20000101) is False  # born after "today"
    assert answer("110105200101010013", day=0) is None  # no date: the validator decides
    assert answer("110105194912310") is None  # 15-digit legacy: the validator decides
