"""Typed FF1: round trips, outputs that validate (leakwarden's validators and python-stdnum),
kept parts (region, segment, BIN), and values that do not fit."""

from __future__ import annotations

import datetime
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stdnum import luhn
from stdnum.cn import ric

from leakwarden.demo.values import Values
from leakwarden.detect import validators
from leakwarden.protect.fpe import TypedFpe, _region_days, luhn_check_digit
from leakwarden.protect.keys import KeyRing, MasterKey
from leakwarden.protect.operator import OperatorError, ReversibleOperator
from leakwarden.protect.registry import build_operator

KEY = os.urandom(32)
FPE = TypedFpe(KEY)
FPE_REGIONS = TypedFpe(KEY, id_regions=True)


def test_luhn_check_digit_matches_stdnum() -> None:
    for payload in ("7992739871", "622202123456123", "400000000000000"):
        assert luhn_check_digit(payload) == luhn.calc_check_digit(payload)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(min_value=0, max_value=10**9))
def test_resident_id_round_trip_and_validity(seed: int) -> None:
    for number in _ids_from(seed):
        for fpe in (FPE, FPE_REGIONS):
            out = fpe.encrypt(number, "cn_resident_id")
            assert out != number
            assert validators.cn_resident_id_ok(out), out
            assert ric.is_valid(out), out
            if fpe is FPE and _region_days(number[:6]).total * 500 >= 10**6:
                assert int(out[16]) % 2 == int(number[16]) % 2  # sex kept
            if fpe is FPE and _region_days(number[:6]).total * 1000 >= 10**6:
                assert out[:6] == number[:6]  # region kept unless in use under 1,000 days
            assert fpe.decrypt(out, "cn_resident_id") == number


def _ids_from(seed: int) -> list[str]:
    """Three synthetic IDs (leakwarden.demo, format-valid) that stdnum also accepts."""
    return [i for i in Values(seed).resident_ids(3) if ric.is_valid(i)] or ["11010519491231002X"]


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(["130", "138", "159", "177", "186", "199"]),
    st.text(alphabet="0123456789", min_size=8, max_size=8),
    st.sampled_from(["{}", "+86 {}", "{0}-{1}-{2}"]),
)
def test_mobile_keeps_segment_and_validity(seg: str, rest: str, layout: str) -> None:
    digits = seg + rest
    value = (
        layout.format(digits[:3], digits[3:7], digits[7:])
        if "{0}" in layout
        else layout.format(digits)
    )
    out = FPE.encrypt(value, "cn_mobile")
    assert len(out) == len(value)
    core = "".join(c for c in out if c.isdigit())[-11:]
    assert core[:3] == seg and validators.cn_mobile_ok(core)
    assert [c.isdigit() for c in out] == [c.isdigit() for c in value]
    assert FPE.decrypt(out, "cn_mobile") == value


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["622202", "621700", "436742", "622848"]), st.data())
def test_card_keeps_bin_and_luhn(bin6: str, data: st.DataObject) -> None:
    middle = data.draw(st.text(alphabet="0123456789", min_size=9, max_size=12))
    payload = bin6 + middle
    card = payload + luhn_check_digit(payload)
    grouped = " ".join(card[i : i + 4] for i in range(0, len(card), 4))
    for value in (card, grouped):
        out = FPE.encrypt(value, "bank_card")
        digits = out.replace(" ", "")
        assert digits[:6] == bin6 and luhn.is_valid(digits)
        assert validators.bank_card_ok(out) == validators.bank_card_ok(value)
        assert out.count(" ") == value.count(" ")
        assert FPE.decrypt(out, "bank_card") == value


def test_known_id_and_the_checks() -> None:
    number = "11010519491231002X"  # GB 11643 example
    out = FPE.encrypt(number, "cn_resident_id")
    assert out[:6] == "110105" and ric.is_valid(out)
    assert FPE.decrypt(out, "cn_resident_id") == number
    with pytest.raises(OperatorError, match="check character") as err:
        FPE.encrypt("110105194912310021", "cn_resident_id")
    assert "110105194912310021" not in str(err.value)
    with pytest.raises(OperatorError, match="18 characters"):
        FPE.encrypt("11010519491231002", "cn_resident_id")  # 17 characters
    with pytest.raises(OperatorError, match="Luhn"):
        FPE.encrypt("6222021234561235", "bank_card")
    with pytest.raises(OperatorError, match="at least 6 digits"):
        FPE.encrypt("abc12", "person_name")


def test_operator_through_the_registry_with_versions(tmp_path: Path) -> None:
    with KeyRing.open(f"sqlite:///{tmp_path / 's.db'}", MasterKey.generate()) as ring:
        ring.create("ids")
        op = build_operator("ff1:ids", keys=ring)
        assert isinstance(op, ReversibleOperator) and op.reversible
        out = op.apply("13812345678", "cn_mobile")
        ring.rotate("ids")
        new = build_operator("ff1:ids", keys=ring)
        assert new.apply("13812345678", "cn_mobile") != out  # rotation changes the key
        old = build_operator("ff1:ids@1", keys=ring)
        assert isinstance(old, ReversibleOperator)
        assert old.reverse(out, "cn_mobile") == "13812345678"
        regions = build_operator("ff1:ids@2+regions", keys=ring)
        assert isinstance(regions, ReversibleOperator)
        out_id = regions.apply("11010519491231002X", "cn_resident_id")
        assert ric.is_valid(out_id)
        assert regions.reverse(out_id, "cn_resident_id") == "11010519491231002X"
        with pytest.raises(ValueError, match="unknown ff1 option"):
            build_operator("ff1:ids+cities", keys=ring)
        with pytest.raises(ValueError, match="'ff1:ids@x'"):
            build_operator("ff1:ids@x", keys=ring)


def test_birth_dates_stay_inside_the_fixed_range() -> None:
    out = FPE.encrypt("11010519491231002X", "cn_resident_id")
    born = datetime.date(int(out[6:10]), int(out[10:12]), int(out[12:14]))
    assert datetime.date(1900, 1, 1) <= born <= datetime.date(2025, 12, 31)


def _make_id(region: str, day: datetime.date, seq: int) -> str:
    first17 = f"{region}{day:%Y%m%d}{seq:03d}"
    return first17 + ric.calc_check_digit(first17 + "0")


@pytest.mark.parametrize("fpe", [FPE, FPE_REGIONS], ids=["keep-region", "regions"])
def test_codes_of_every_lifetime_round_trip(fpe: TypedFpe) -> None:
    # a long-lived code, the shortest ones (in use under 1,000 days) and middling ones
    by_days = sorted(
        (_region_days(c).total, c) for c in ("110105", "440111", "412302", "330719", "320521")
    )
    for _days, code in by_days:
        segs = _region_days(code)
        day = datetime.date.fromordinal(segs.starts[0] + segs.counts[0] // 2)
        for seq in (0, 1, 998, 999):
            number = _make_id(code, day, seq)
            assert ric.is_valid(number), number
            out = fpe.encrypt(number, "cn_resident_id")
            assert ric.is_valid(out) and validators.cn_resident_id_ok(out)
            assert fpe.decrypt(out, "cn_resident_id") == number


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(["010-", "021-", "0755-", "0571-", "(020) "]),
    st.integers(min_value=2, max_value=8),
    st.text(alphabet="0123456789", min_size=7, max_size=7),
)
def test_landline_keeps_area_code_and_validity(area: str, first: int, rest: str) -> None:
    value = f"{area}{first}{rest}"
    if not validators.cn_landline_ok(value):
        return  # only valid numbers are promised a valid image
    out = FPE.encrypt(value, "cn_landline")
    assert out.startswith(area) and validators.cn_landline_ok(out)
    assert FPE.decrypt(out, "cn_landline") == value


@settings(max_examples=150, deadline=None)
@given(st.from_regex(r"[0-8][0-9]{2}-[0-9]{2}-[0-9]{4}", fullmatch=True))
def test_ssn_cycle_walks_to_a_valid_ssn(value: str) -> None:
    if not validators.us_ssn_ok(value):
        with pytest.raises(OperatorError, match="does not validate"):
            FPE.encrypt(value, "us_ssn")
        return
    out = FPE.encrypt(value, "us_ssn")
    assert validators.us_ssn_ok(out) and out[3] == "-" and out[6] == "-"
    assert FPE.decrypt(out, "us_ssn") == value
