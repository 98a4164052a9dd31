"""The engine end to end: adjacency to CJK, boundaries, context, overlaps, offsets."""

from __future__ import annotations

import datetime
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leakwarden.detect.engine import Detector, default_detector, tagger_available
from leakwarden.detect.model import Finding

_WEIGHTS = [pow(2, 17 - i, 11) for i in range(17)]  # GB 11643 MOD 11-2


def gb11643_check(body17: str) -> str:
    return "10X98765432"[sum(int(d) * w for d, w in zip(body17, _WEIGHTS, strict=True)) % 11]


@pytest.fixture(scope="module")
def det() -> Detector:
    return Detector(use_ner=False)


def found(det: Detector, text: str) -> list[tuple[str, str]]:
    findings = det.find(text)
    for f in findings:
        assert text[f.start : f.end] == f.text
    return [(f.type, f.text) for f in findings]


class TestAdjacency:
    def test_id_right_after_cjk(self, det: Detector) -> None:
        assert found(det, "身份证11010519491231002X") == [("cn_resident_id", "11010519491231002X")]

    def test_mobile_before_cjk_punctuation(self, det: Detector) -> None:
        assert found(det, "手机13812345678。") == [("cn_mobile", "13812345678")]

    def test_mobile_inside_a_longer_digit_run_is_not_a_mobile(self, det: Detector) -> None:
        assert found(det, "订单号913812345678901234567") == []

    def test_mobile_glued_to_letters_is_not_a_mobile(self, det: Detector) -> None:
        assert found(det, "user13812345678x") == []

    def test_full_width_digits(self, det: Detector) -> None:
        text = "电话：１３８１２３４５６７８"
        assert found(det, text) == [("cn_mobile", "１３８１２３４５６７８")]

    def test_ip_inside_version_string(self, det: Detector) -> None:
        assert found(det, "version 1.2.3.4.5 released") == []
        assert found(det, "from 10.0.0.1.") == [("ip_address", "10.0.0.1")]

    def test_email_starts_at_its_leftmost_letter_or_digit(self, det: Detector) -> None:
        # The e-mail pattern is scanned without Hyperscan's start of match; the start is found
        # again from the "@": after a CJK character, after "_" (a local-part character that is
        # no letter or digit), and not at all when the leftmost start has a doubled dot or a
        # local part over 64 characters (RFC 5321), as with start of match.
        assert found(det, "中文zhang.san@qq.com。") == [("email", "zhang.san@qq.com")]
        assert found(det, "_a@b.com") == [("email", "a@b.com")]
        assert found(det, "x..a@b.co") == []
        assert found(det, "é" + "a" * 300 + "@example.com") == []
        assert found(det, "é" + "a" * 64 + "@example.com") == [("email", "a" * 64 + "@example.com")]


class TestOverlaps:
    def test_id_does_not_also_yield_mobile_or_card(self, det: Detector) -> None:
        # 620102 (Lanzhou) starts like a UnionPay card; the digits also hold a mobile-like run.
        body = "62010219900101138"
        rid = body + gb11643_check(body)
        assert found(det, f"证件{rid}") == [("cn_resident_id", rid)]

    def test_one_answer_per_span_for_plus86_mobile(self, det: Detector) -> None:
        assert found(det, "tel +86 138 1234 5678") == [("cn_mobile", "+86 138 1234 5678")]

    def test_findings_never_overlap(self, det: Detector) -> None:
        text = (
            "卡号6222021234567890128 身份证11010519491231002X 手机+8613812345678 "
            "IBAN GB82 WEST 1234 5698 7654 32 mail a.b@qq.com ip 2001:db8::8a2e:370:7334"
        )
        findings = det.find(text)
        assert len(findings) == 6
        for a, b in itertools.pairwise(findings):
            assert a.end <= b.start


class TestContext:
    def test_passport_needs_context(self, det: Detector) -> None:
        assert found(det, "E12345678") == []
        assert found(det, "护照号码：E12345678") == [("cn_passport", "E12345678")]
        assert found(det, "passport no. EA1234567") == [("cn_passport", "EA1234567")]

    def test_context_does_not_cross_a_line_break(self, det: Detector) -> None:
        assert found(det, "护照\nE12345678") == []

    def test_permit_needs_context(self, det: Detector) -> None:
        assert found(det, "C12345678") == []
        assert found(det, "往来港澳通行证C12345678") == [("cn_hk_macau_permit", "C12345678")]

    def test_bare_waybill_digits_need_context(self, det: Detector) -> None:
        assert found(det, "773012345678901") == []
        assert found(det, "快递单号773012345678901") == [("express_waybill", "773012345678901")]
        assert found(det, "SF1234567890123") == [("express_waybill", "SF1234567890123")]

    def test_date_of_birth_needs_context(self, det: Detector) -> None:
        assert found(det, "下单时间 1990-01-02") == []
        assert found(det, "出生日期：1990年1月2日") == [("date_of_birth", "1990年1月2日")]
        assert found(det, "DOB 02/13/1985") == [("date_of_birth", "02/13/1985")]
        assert found(det, "生日 1990-02-30") == []

    def test_bare_ssn_needs_context(self, det: Detector) -> None:
        assert found(det, "ref 123456789") == []
        assert found(det, "SSN: 123456789") == [("us_ssn", "123456789")]
        assert found(det, "ssn 666-12-3456") == []

    def test_other_identifiers_labels_suppress_weakly_validated_numbers(
        self, det: Detector
    ) -> None:
        assert found(det, "订单号4111111111111111") == []
        assert found(det, "编号 13812345678") == []
        assert found(det, "order 4111111111111111") == []
        # ...unless a context word of the type itself is there too, or the label is far away.
        assert found(det, "订单号 卡号4111111111111111") == [("bank_card", "4111111111111111")]
        assert found(det, "订单号 123 已付款，客户回电 13812345678") == [
            ("cn_mobile", "13812345678")
        ]

    def test_a_context_word_belongs_to_the_nearest_value(self, det: Detector) -> None:
        text = "dob=1990-01-02;ts=2024-11-21 10:00:00"
        assert found(det, text) == [("date_of_birth", "1990-01-02")]

    def test_jt_waybill(self, det: Detector) -> None:
        assert found(det, "我的快递JT9880341609946还没到") == [
            ("express_waybill", "JT9880341609946")
        ]

    def test_context_raises_the_score(self, det: Detector) -> None:
        (bare,) = det.find("13812345678")
        (with_word,) = det.find("手机号 13812345678")
        assert with_word.score > bare.score

    def test_short_english_context_is_a_whole_word(self, det: Detector) -> None:
        assert found(det, "hotel 0 1012345678") == []  # "tel" inside "hotel" is no context


class TestTypes:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("电话 010-12345678", ("cn_landline", "010-12345678")),
            ("(0755)12345678", ("cn_landline", "(0755)12345678")),
            ("统一社会信用代码91350100M000100Y43", ("cn_uscc", "91350100M000100Y43")),
            ("车牌京A12345进入", ("cn_license_plate", "京A12345")),
            ("粤B·D12345", ("cn_license_plate", "粤B·D12345")),
            ("邮箱zhang.san@qq.com。", ("email", "zhang.san@qq.com")),
            ("call +44 20 7946 0958 now", ("phone", "+44 20 7946 0958")),
            ("MAC 00:1A:2B:3C:4D:5E", ("mac_address", "00:1A:2B:3C:4D:5E")),
            ("IBAN DE89370400440532013000", ("iban", "DE89370400440532013000")),
            ("SSN 123-45-6789", ("us_ssn", "123-45-6789")),
            ("4111 1111 1111 1111", ("bank_card", "4111 1111 1111 1111")),
        ],
    )
    def test_found(self, det: Detector, text: str, expected: tuple[str, str]) -> None:
        assert found(det, text) == [expected]

    @pytest.mark.parametrize(
        "text",
        ["110105194912310021", "4111111111111112", "91350100M000100Y44", "12812345678"],
    )
    def test_invalid_values_are_not_reported(self, det: Detector, text: str) -> None:
        assert found(det, text) == []

    def test_type_selection(self) -> None:
        only = Detector(["cn_mobile"], use_ner=False)
        text = "13812345678 11010519491231002X"
        assert [f.type for f in only.find(text)] == ["cn_mobile"]

    def test_unknown_type_is_named(self) -> None:
        with pytest.raises(KeyError, match="no_such_type"):
            Detector(["no_such_type"])


class TestOffsets:
    def test_offsets_after_cjk_and_astral_characters(self, det: Detector) -> None:
        text = "客户😀张三的手机是13812345678，邮箱a@b.cn"
        findings = det.find(text)
        assert [(f.start, f.end) for f in findings] == [
            (9, 20),
            (23, 29),
        ]  # 客户😀张三的手机是 = 9 chars; ，邮箱 = 3
        assert [text[f.start : f.end] for f in findings] == ["13812345678", "a@b.cn"]

    def test_lone_surrogate_does_not_break_offsets(self, det: Detector) -> None:
        text = "a\udcff手机13812345678"
        assert [(f.start, f.end) for f in det.find(text)] == [(4, 15)]

    @settings(max_examples=60, deadline=None)
    @given(
        st.text(alphabet="客户张三的身份证号码是，。：、 \n北京市朝阳区", max_size=30),
        st.text(alphabet="客户张三的身份证号码是，。：、 \n北京市朝阳区", max_size=30),
        st.sampled_from(["110105", "310101", "440305", "510104"]),
        st.dates(datetime.date(1930, 1, 1), datetime.date(2010, 12, 31)),
        st.integers(0, 999),
    )
    def test_any_valid_id_inside_cjk_text(
        self, det: Detector, left: str, right: str, region: str, born: datetime.date, seq: int
    ) -> None:
        body = f"{region}{born:%Y%m%d}{seq:03d}"
        rid = body + gb11643_check(body)
        text = left + rid + right
        assert Finding("cn_resident_id", len(left), len(left) + 18, rid, 1.0).text in [
            f.text for f in det.find(text) if f.start == len(left) and f.end == len(left) + 18
        ]


class TestRobustness:
    def test_pickles_for_dask_workers(self) -> None:
        import pickle

        original = Detector(["cn_mobile", "email"], use_ner=False, min_score=0.6)
        copy = pickle.loads(pickle.dumps(original))
        assert copy.types == original.types and copy.min_score == 0.6
        assert found(copy, "手机13812345678") == [("cn_mobile", "13812345678")]

    def test_threads_share_one_detector(self, det: Detector) -> None:
        from concurrent.futures import ThreadPoolExecutor

        texts = [f"手机1381234{i:04d} 卡号4111111111111111" for i in range(200)]
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(det.find, texts))
        assert all(len(r) == 2 for r in results)

    def test_names_only_selection_needs_no_patterns(self) -> None:
        assert Detector(["person_name"], use_ner=False).find("手机13812345678") == []

    def test_long_text(self, det: Detector) -> None:
        line = "用户 13812345678 于 10.1.2.3 登录，卡号 4111111111111111。\n"
        text = line * 5000  # ~300 KB
        findings = det.find(text)
        assert len(findings) == 15000
        last = findings[-1]
        assert text[last.start : last.end] == "4111111111111111"

    def test_long_digit_run(self, det: Detector) -> None:
        assert det.find("1" * 200_000) == []

    def test_empty_and_blank(self, det: Detector) -> None:
        assert det.find("") == []
        assert det.find(" \n ") == []


@pytest.mark.skipif(not tagger_available(), reason="name/address tagger not installed")
def test_default_detector_uses_the_tagger_when_it_exists() -> None:
    detector = default_detector()
    assert detector is default_detector()
    assert detector.uses_tagger
    findings = detector.find("收货地址：北京市朝阳区建国路88号，电话13812345678")
    assert {f.type for f in findings} >= {"address", "cn_mobile"}
    for a, b in itertools.pairwise(findings):
        assert a.end <= b.start
