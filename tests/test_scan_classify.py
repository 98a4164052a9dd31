"""The classifier's decision rule, text chunking and masking, on a fake detector with known
scores (see scan_fakes): expected confidences are computed by hand from the documented rule."""

from __future__ import annotations

import pytest

from leakwarden.detect.types import header_hint
from leakwarden.scan.classify import (
    Classifier,
    FieldStats,
    TextScanner,
    decide_field,
    decide_text,
    find_in_cells,
)
from leakwarden.scan.masking import mask_example
from scan_fakes import FAKE_TYPES, INVALID_ID, MOBILES, VALID_IDS, FakeDetector

LOOKUP = FAKE_TYPES.get


def classify(field: str, values: list[str]) -> list[tuple[str, float, dict[str, object]]]:
    c = Classifier(FakeDetector(), LOOKUP)
    for v in values:
        c.add(field, v)
    c.flush()
    return [
        (d.pi_type, d.confidence, d.evidence) for d in decide_field(field, c.fields[field], LOOKUP)
    ]


def test_phone_column_with_hint() -> None:
    out = classify("customer_phone", [MOBILES[i % 4] for i in range(40)])
    assert len(out) == 1
    pi_type, confidence, evidence = out[0]
    assert pi_type == "cn_mobile"
    # 0.6 * 1.0 (all validated) + 0.3 * 0.9 (fake score) + 0.1 (hint) = 0.97
    assert confidence == pytest.approx(0.97)
    assert evidence["sampled"] == 40
    assert evidence["matched"] == 40
    assert evidence["validated"] == 40
    assert evidence["header_hint"] == "phone"
    examples = evidence["examples"]
    assert isinstance(examples, list) and examples
    assert all("*" in e and e not in MOBILES for e in examples)


def test_misleading_header_still_found() -> None:
    out = classify("remark", list(MOBILES) * 5)
    assert [(t, c) for t, c, _ in out] == [("cn_mobile", pytest.approx(0.87))]
    assert out[0][2]["header_hint"] is None


def test_header_without_data_is_not_asserted() -> None:
    assert classify("手机号", ["未知", "N/A", "-", "拒绝提供", "12345", "无"] * 5) == []


def test_empty_placeholders_do_not_count_as_sampled() -> None:
    out = classify("phone", [*MOBILES, "", "null", "N/A", "-"])
    assert out[0][2]["sampled"] == 4
    assert out[0][2]["rate"] == 1.0


def test_invalid_check_digits_are_not_an_id_column() -> None:
    out = classify("order_no", [INVALID_ID] * 10)
    assert out == []


def test_partial_column_needs_hint() -> None:
    # 3 of 10 cells are IDs (rate 0.3): not enough alone, enough with a header hint.
    values = [*VALID_IDS[:3], *["abc"] * 7]
    assert classify("misc", values) == []
    out = classify("身份证号码", values)
    assert [t for t, _, _ in out] == ["cn_resident_id"]
    # 0.6 * 0.3 + 0.3 * 0.95 + 0.1 = 0.565
    assert out[0][1] == pytest.approx(0.565)


def test_mixed_contact_column_reports_both_types() -> None:
    values = [MOBILES[0], "a.b@example.com", MOBILES[1], "c@example.org"] * 5
    types = {t for t, _, _ in classify("contact", values)}
    assert types == {"cn_mobile", "email"}


def test_free_text_column_reports_each_type_with_counts() -> None:
    notes = [
        f"客户来电，手机{MOBILES[0]}，要求修改收货地址，已处理",
        "customer wrote from zhang.san@example.com about order 5531, refund issued",
        f"身份证{VALID_IDS[0]}核验通过，请回电{MOBILES[1]}确认",
        "物流延误，已安抚客户，无需进一步处理，工单关闭",
        "second mail from li@example.org asking again about the refund for 5531",
    ]
    out = {t: (c, e) for t, c, e in classify("ticket_notes", notes)}
    assert set(out) == {"cn_mobile", "email", "cn_resident_id"}
    assert out["cn_mobile"][1]["kind"] == "mentions"
    assert out["cn_mobile"][1]["cells_with"] == 2
    assert out["email"][1]["cells_with"] == 2
    # one validated ID in one cell: 0.95 * (1 - 0.5) = 0.475
    assert out["cn_resident_id"][0] == pytest.approx(0.475)
    # two phone cells: 0.9 * (1 - 0.25) = 0.675
    assert out["cn_mobile"][0] == pytest.approx(0.675)


def test_short_column_with_stray_match_is_not_asserted() -> None:
    values = ["A17", "B22", MOBILES[0], "C9", "D1", "E5", "F7", "G3", "H8", "J2"]
    assert classify("code", values) == []


def test_merge_of_partitions_equals_one_pass() -> None:
    values = [*MOBILES, "x", *VALID_IDS, "y", "z@example.com"] * 3
    one = Classifier(FakeDetector(), LOOKUP)
    a = Classifier(FakeDetector(), LOOKUP)
    b = Classifier(FakeDetector(), LOOKUP)
    for i, v in enumerate(values):
        one.add("f", v)
        (a if i % 2 else b).add("f", v)
    for c in (one, a, b):
        c.flush()
    merged = FieldStats()
    merged.merge(a.fields["f"])
    merged.merge(b.fields["f"])
    assert merged.sampled == one.fields["f"].sampled
    assert {t: (s.matched, s.validated, s.cells_with) for t, s in merged.types.items()} == {
        t: (s.matched, s.validated, s.cells_with) for t, s in one.fields["f"].types.items()
    }


def test_find_in_cells_maps_offsets_to_cells() -> None:
    cells = ["tel 13812345678", "", "nothing", f"{MOBILES[1]} / {MOBILES[2]}"]
    out = find_in_cells(FakeDetector(), cells)
    assert [[(f.start, f.end, f.text) for f in fs] for fs in out] == [
        [(4, 15, "13812345678")],
        [],
        [],
        [(0, 11, MOBILES[1]), (14, 25, MOBILES[2])],
    ]


@pytest.mark.parametrize(
    ("field", "hint"),
    [
        ("customer_phone", "phone"),
        ("PhoneNumber", "phone"),
        ("user.mobile", "mobile"),
        ("收件人手机号", "手机号"),
        ("telephone_ok", None),
        ("remark", None),
    ],
)
def test_header_hint(field: str, hint: str | None) -> None:
    assert header_hint(field, FAKE_TYPES["cn_mobile"]) == hint


def test_ssn_hint_is_a_word_not_a_substring() -> None:
    assert header_hint("passnumber", FAKE_TYPES["cn_resident_id"]) is None
    assert header_hint("customer_ssn", FAKE_TYPES["cn_resident_id"]) == "ssn"
    assert header_hint("ID_Card", FAKE_TYPES["cn_resident_id"]) == "id card"


def _text_scan(text: str, chunk: int, overlap: int) -> dict[str, int]:
    scanner = TextScanner(FakeDetector(), LOOKUP, overlap=overlap)
    for i in range(0, len(text), chunk):
        scanner.feed(text[i : i + chunk])
    stats = scanner.close()
    return {t: s.findings for t, s in stats.types.items()}


@pytest.mark.parametrize("chunk", [5, 7, 11, 13, 64, 10_000])
def test_text_chunks_lose_and_double_nothing(chunk: int) -> None:
    lines = [f"line {i} user {MOBILES[i % 4]} id {VALID_IDS[i % 4]} ok" for i in range(30)]
    text = "\n".join(lines)
    assert _text_scan(text, chunk, overlap=40) == {"cn_mobile": 30, "cn_resident_id": 30}


def test_text_decision_counts_lines_and_validated() -> None:
    scanner = TextScanner(FakeDetector(), LOOKUP)
    scanner.feed(f"a {INVALID_ID}\nb {VALID_IDS[0]}\nc {MOBILES[0]}\n")
    decisions = {d.pi_type: d for d in decide_text(scanner.close(), LOOKUP)}
    assert set(decisions) == {"cn_resident_id", "cn_mobile"}
    ev = decisions["cn_resident_id"].evidence
    assert (ev["sampled"], ev["matched"], ev["validated"]) == (3, 2, 1)
    # only the validated finding counts: 0.95 * (1 - 0.5 ** 1)
    assert decisions["cn_resident_id"].confidence == pytest.approx(0.475)


@pytest.mark.parametrize(
    ("type_id", "text", "masked"),
    [
        ("cn_mobile", "13812345678", "13*******78"),
        ("cn_resident_id", "11010519491231002X", "1101**********002X"),
        ("person_name", "张三丰", "张**"),
        ("email", "zhang.san@example.com", "z********@example.com"),
        ("address", "北京市朝阳区建国路88号SOHO现代城", "北京市朝阳区" + "*" * 13),
        ("ip_address", "1.2", "***"),
    ],
)
def test_mask_example(type_id: str, text: str, masked: str) -> None:
    assert mask_example(type_id, text) == masked
    assert len(mask_example(type_id, text)) == len(text)


def test_short_notes_with_embedded_phones_are_mentions() -> None:
    # cells under the free-text length, but each holds a phone inside other words
    values = [f"备注{i} 联系 {MOBILES[i % 4]}" for i in range(20)]
    out = classify("remark", values)
    assert [(t, e["kind"], e["cells_with"]) for t, _, e in out] == [("cn_mobile", "mentions", 20)]
    # 20 cells: 0.9 * (1 - 0.5 ** 20)
    assert out[0][1] == pytest.approx(0.9 * (1 - 0.5**20), abs=1e-3)


def test_repeated_values_are_detected_once_but_counted_every_time() -> None:
    detector = FakeDetector()
    c = Classifier(detector, LOOKUP)
    for _ in range(100):
        c.add("status_phone", MOBILES[0])
    c.flush()
    stats = c.fields["status_phone"]
    assert stats.sampled == 100
    assert stats.types["cn_mobile"].matched == 100
    assert detector.calls == 1


def test_header_is_context_for_values_that_need_it() -> None:
    from scan_fakes import LANDLINES

    values = [LANDLINES[i % 2] for i in range(10)]
    # the fake landline needs 电话 or tel just before it: the header supplies it
    assert [t for t, _, _ in classify("寄件电话", values)] == ["cn_landline"]
    assert [t for t, _, _ in classify("customerTel", values)] == ["cn_landline"]
    assert classify("batch", values) == []


def test_minority_type_in_a_personal_information_column() -> None:
    from scan_fakes import SSNS

    # 18 resident IDs and 2 SSNs (foreign customers): both types are in the column
    values = [VALID_IDS[i % 4] for i in range(18)] + list(SSNS)
    out = {t: e for t, _, e in classify("idNo", values)}
    assert set(out) == {"cn_resident_id", "us_ssn"}
    assert out["us_ssn"]["validated"] == 2 and out["us_ssn"]["rate"] == 0.1
    # the same 2 SSNs among non-personal codes are not asserted (coverage 10 %)
    assert classify("code", ["A-1", "B-2"] * 9 + list(SSNS)) == []


def test_context_prefix() -> None:
    from leakwarden.scan.classify import context_prefix

    assert context_prefix("data.list[].idCard") == "idCard: "
    assert context_prefix("VIP客户!手机") == "手机: "
    assert context_prefix("column 3") == ""
    assert context_prefix("$") == ""


def test_unvalidated_type_inside_short_cells_needs_a_fifth_of_them() -> None:
    # the fake's e-mail has no validator, like a model's names and addresses
    def column(with_mail: int) -> list[str]:
        return [f"ref {i} a{i}@x.cn" if i < with_mail else f"ref {i} none" for i in range(20)]

    assert classify("note", column(3)) == []  # 15 %
    assert [t for t, _, _ in classify("note", column(4))] == ["email"]  # 20 %


def test_categorical_column_is_not_a_guessed_type() -> None:
    # the fake e-mail has no validator, like the model's names and addresses: five warehouse
    # mailboxes over 200 rows are a category, 200 different mailboxes are people's
    few = [f"wh{i % 5}@corp.example.com" for i in range(200)]
    assert classify("warehouse", few) == []
    many = [f"user{i}@mail.example.com" for i in range(200)]
    out = classify("owner", many)
    assert [t for t, _, _ in out] == ["email"]
    assert out[0][2]["distinct"] == 200
    # a validated type is reported whatever its cardinality (one hotline number everywhere)
    assert [t for t, _, _ in classify("hotline", [MOBILES[0]] * 200)] == ["cn_mobile"]


def test_distinct_counts_merge_across_partitions_and_cap() -> None:
    from leakwarden.scan.classify import DISTINCT_CAP

    a, b = Classifier(FakeDetector(), LOOKUP), Classifier(FakeDetector(), LOOKUP)
    for i in range(300):
        (a if i % 2 else b).add("f", f"value {i % 150}")
    a.flush()
    b.flush()
    merged = FieldStats()
    merged.merge(a.fields["f"])
    merged.merge(b.fields["f"])
    assert len(merged.distinct) == 150 and not merged.many_values
    for i in range(DISTINCT_CAP + 1):
        a.add("f", f"other {i}")
    a.flush()
    assert a.fields["f"].many_values and not a.fields["f"].categorical
