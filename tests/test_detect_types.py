"""The type registry: every required type present and complete, masks parse, headers map."""

from __future__ import annotations

import pytest

from leakwarden.detect.model import Sensitivity
from leakwarden.detect.types import PI_TYPES, MaskSpec, get_type, parse_mask, types_for_header

REQUIRED = {
    "cn_resident_id", "cn_mobile", "cn_landline", "bank_card", "cn_passport",
    "cn_hk_macau_permit", "cn_uscc", "cn_license_plate", "express_waybill", "email", "phone",
    "ip_address", "mac_address", "iban", "us_ssn", "person_name", "address", "date_of_birth",
}  # fmt: skip


def test_required_types_present() -> None:
    assert set(PI_TYPES) >= REQUIRED


@pytest.mark.parametrize("type_id", sorted(REQUIRED))
def test_each_type_is_complete(type_id: str) -> None:
    t = PI_TYPES[type_id]
    assert t.id == type_id
    assert t.label_en and t.label_zh
    assert t.header_hints
    assert any(not w.isascii() for w in t.context), "needs Chinese context words"
    assert any(w.isascii() for w in t.context), "needs English context words"
    parse_mask(t.default_mask)
    if type_id not in ("person_name", "address"):
        assert t.patterns and t.validator is not None


def test_gb_t_35273_annex_b_types_are_sensitive() -> None:
    for type_id in ("cn_resident_id", "bank_card", "cn_passport", "iban", "us_ssn"):
        assert PI_TYPES[type_id].sensitivity is Sensitivity.SENSITIVE
    for type_id in ("cn_mobile", "email", "person_name"):
        assert PI_TYPES[type_id].sensitivity is Sensitivity.PERSONAL


def test_get_type_names_unknown_ids() -> None:
    assert get_type("cn_mobile").id == "cn_mobile"
    with pytest.raises(KeyError, match="nope"):
        get_type("nope")


class TestMasks:
    def test_parse(self) -> None:
        assert parse_mask("keep:3,4") == MaskSpec("keep", (3, 4))
        assert parse_mask("email:1") == MaskSpec("email", (1,))
        assert parse_mask("redact") == MaskSpec("redact")

    @pytest.mark.parametrize("spec", ["keep:3", "keep:a,b", "blur:1", "year:1", ""])
    def test_bad_specs_are_named(self, spec: str) -> None:
        with pytest.raises(ValueError, match="mask"):
            parse_mask(spec)

    def test_mobile_mask_keeps_3_and_4(self) -> None:
        assert PI_TYPES["cn_mobile"].default_mask == "keep:3,4"


class TestHeaders:
    @pytest.mark.parametrize(
        ("header", "expected"),
        [
            ("手机号", "cn_mobile"),
            ("身份证号码", "cn_resident_id"),
            ("收件人", "person_name"),
            ("收货地址", "address"),
            ("id_card", "cn_resident_id"),
            ("Customer Name", "person_name"),
            ("SSN", "us_ssn"),
            ("运单号", "express_waybill"),
        ],
    )
    def test_first_choice(self, header: str, expected: str) -> None:
        assert types_for_header(header)[0] == expected

    def test_short_hints_match_whole_headers_only(self) -> None:
        assert "cn_mobile" not in types_for_header("hotel")
        assert "ip_address" not in types_for_header("zip")

    def test_no_hint(self) -> None:
        assert types_for_header("amount") == []
        assert types_for_header("") == []
