"""Masking and the operator registry's non-key operators: expected outputs written by hand from
the issue's examples (138****5678, 110105********002X, 张*, 张*明, z***@example.com,
6222 **** **** 1234, address to district)."""

from __future__ import annotations

import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leakwarden.protect.generalize import GeneralizeOperator
from leakwarden.protect.masking import address_prefix, mask_keep, mask_value
from leakwarden.protect.operator import Operator, OperatorError
from leakwarden.protect.registry import build_operator


@pytest.mark.parametrize(
    ("type_id", "value", "masked"),
    [
        ("cn_mobile", "13812345678", "138****5678"),
        ("cn_resident_id", "11010519491231002X", "110105********002X"),
        ("person_name", "张三", "张*"),
        ("person_name", "张三明", "张*明"),
        ("person_name", "欧阳娜娜", "欧**娜"),
        ("person_name", "John Smith", "J*** S****"),
        ("email", "zhang.san@example.com", "z***@example.com"),
        ("bank_card", "6222 0212 3456 1234", "6222 **** **** 1234"),
        ("bank_card", "6222-0212-3456-1234", "6222-****-****-1234"),
        ("bank_card", "6222021234561234", "6222********1234"),
        ("address", "北京市朝阳区建国路88号SOHO现代城", "北京市朝阳区" + "*" * 13),
        ("address", "广东省深圳市南山区科技园路1号", "广东省深圳市南山区" + "*" * 6),
        ("address", "浙江杭州市西湖区文三路9号", "浙江杭州市西湖区" + "*" * 5),
        ("address", "10 Downing Street, London SW1A 2AA", "** ******* ******, London SW1A 2AA"),
        ("ip_address", "192.168.1.20", "192.168.*.*"),
        ("date_of_birth", "1990-05-12", "1990-**-**"),
        ("date_of_birth", "1990年5月12日", "1990年*月**日"),
    ],
)
def test_default_masks(type_id: str, value: str, masked: str) -> None:
    op = build_operator("mask")
    assert op.apply(value, type_id) == masked


def test_explicit_mask_spec_applies_to_any_type() -> None:
    op = build_operator("mask:keep:0,4")
    assert op.apply("13812345678", "cn_mobile") == "*******5678"
    assert build_operator("mask:full").apply("138-1234-5678") == "***-****-****"
    assert build_operator("mask:redact").apply("x@y.cn", "email") == "[email]"


def test_unknown_type_is_an_operator_error() -> None:
    with pytest.raises(OperatorError, match="unknown type 'nope'"):
        build_operator("mask").apply("x", "nope")
    with pytest.raises(OperatorError, match="needs the value's type"):
        build_operator("mask").apply("x")


def test_short_values_never_come_back_in_clear() -> None:
    # keep:3,4 on 5 digits would keep everything: at least a third is hidden instead
    assert mask_keep("12345", 3, 4) == "1**45"
    assert mask_keep("1234567", 3, 4) == "12***67"
    assert mask_value("ab", "email:1") == "**"  # no '@': masked whole
    assert mask_value("a@b.cn", "email:1") == "***@b.cn"


@given(st.text(min_size=1, max_size=40))
def test_keep_mask_hides_at_least_a_third(value: str) -> None:
    out = mask_keep(value, 3, 4)
    assert len(out) == len(value)
    counted = [c for c in value if c not in " -.·()"]
    hidden = sum(1 for a, b in zip(value, out, strict=True) if b == "*" and a not in " -.·()")
    assert hidden >= -(-len(counted) // 3)


def test_address_prefix_levels() -> None:
    a = "广东省深圳市南山区科技园路1号"
    assert address_prefix(a, "province") == "广东省"
    assert address_prefix(a, "city") == "广东省深圳市"
    assert address_prefix("深圳市福田区华强北", "district") == "深圳市福田区"
    assert address_prefix("上海浦东新区世纪大道", "district") == "上海浦东新区"
    assert address_prefix("不是地址", "district") == ""
    long_name = "甘肃省临夏回族自治州积石山保安族东乡族撒拉族自治县"  # a 15-character county
    assert address_prefix(long_name + "吹麻滩镇") == long_name
    assert address_prefix("内蒙古呼和浩特市新城区") == "内蒙古呼和浩特市新城区"


def test_suppress_and_generalize() -> None:
    assert build_operator("suppress").apply("13812345678", "cn_mobile") == ""
    on = datetime.date(2026, 11, 23)
    # 1949-12-31 → 76 on 2026-11-23
    assert (
        GeneralizeOperator("age_band", as_of=on).apply("11010519491231002X", "cn_resident_id")
        == "70-79"
    )
    assert (
        GeneralizeOperator("age_band:5", as_of=on).apply("1990-05-12", "date_of_birth") == "35-39"
    )
    # birthday not yet reached in the year: 1990-12-01 is 35 on 2026-11-23
    assert (
        GeneralizeOperator("age_band:1", as_of=on).apply("1990-12-01", "date_of_birth") == "35-35"
    )
    assert (
        build_operator("generalize:birth_year").apply("11010519491231002X", "cn_resident_id")
        == "1949"
    )
    assert (
        build_operator("generalize:district").apply("11010519491231002X", "cn_resident_id")
        == "北京市朝阳区"
    )
    assert build_operator("generalize:city").apply("北京市朝阳区建国路88号") == "北京市"
    with pytest.raises(OperatorError) as err:
        build_operator("generalize:birth_year").apply("hello 1234", "date_of_birth")
    assert "hello" not in str(err.value)


@pytest.mark.parametrize(
    "spec",
    ["", "blur", "mask:keep:3", "hmac", "hmac:k", "ff1:k", "token:k", "generalize:x", "suppress:1"],
)
def test_bad_specs_are_named(spec: str) -> None:
    with pytest.raises(ValueError) as err:
        build_operator(spec)
    assert repr(spec) in str(err.value)


def test_operators_keep_the_contract() -> None:
    for spec in ("mask", "mask:name", "suppress", "generalize:city"):
        op = build_operator(spec)
        assert isinstance(op, Operator)
        assert op.spec == spec and op.reversible is False
