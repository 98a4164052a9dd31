"""The demo's synthetic values pass the reference validators (python-stdnum, phonenumbers),
agree with each other inside one person, and repeat exactly for a seed."""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from datetime import date

import numpy as np
import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum import iban, luhn
from stdnum.cn import ric, uscc
from stdnum.us import ssn

from leakwarden.demo import regions
from leakwarden.demo.checkdigits import (
    luhn_check_digits,
    org_code_check_chars,
    resident_id_check_chars,
    uscc_check_chars,
)
from leakwarden.demo.values import COURIERS, DEMO_TODAY, WAYBILL_SHAPES, Values

N = 3000


def _digits(text: str) -> np.ndarray:
    return np.array([[int(ch) for ch in text]], dtype=np.int64)


# ---- check digits against worked examples -------------------------------------------------
def test_resident_id_check_matches_the_standards_example() -> None:
    # GB 11643-1999 annex: 11010519491231002X.
    assert chr(resident_id_check_chars(_digits("11010519491231002"))[0]) == "X"
    # stdnum.cn.ric's own doctest number.
    assert chr(resident_id_check_chars(_digits("36042619910101007"))[0]) == "1"


def test_luhn_check_matches_the_textbook_example() -> None:
    assert chr(luhn_check_digits(_digits("7992739871"))[0]) == "3"
    assert chr(luhn_check_digits(_digits("411111111111111"))[0]) == "1"


def test_uscc_check_matches_stdnums_example() -> None:
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    body = "91110000600037341"
    values = np.array([[alphabet.index(ch) for ch in body]])
    assert chr(uscc_check_chars(values)[0]) == "L"  # 91110000600037341L


def test_org_code_check_matches_a_published_code() -> None:
    # GB 11714 worked example: organisation code D2143569-? → weights 3 7 9 10 5 8 4 2,
    # D=13: 13*3+2*7+1*9+4*10+3*5+5*8+6*4+9*2 = 199; 199 mod 11 = 1; 11-1 = 10 → X.
    values = np.array([[13, 2, 1, 4, 3, 5, 6, 9]])
    assert chr(org_code_check_chars(values)[0]) == "X"


# ---- every generator against its reference validator ---------------------------------------
def test_resident_ids_validate_and_carry_the_given_birth_and_gender() -> None:
    v = Values(11)
    births = v.birth_dates(N)
    genders = v.genders(N)
    ids = v.resident_ids(N, births=births, genders=genders)
    assert all(ric.is_valid(x) for x in ids)
    for number, born, gender in zip(ids, births, genders, strict=True):
        assert ric.get_birth_date(number) == born
        assert int(number[16]) % 2 == (1 if gender == "M" else 0)
    assert {x[-1] for x in ids} >= {"X", "0", "5"}  # the check character takes all values


@settings(max_examples=25, deadline=None)
@given(st.integers(min_value=0, max_value=2**63 - 1))
def test_resident_ids_validate_for_any_seed(seed: int) -> None:
    assert all(ric.is_valid(x) for x in Values(seed).resident_ids(200))


def test_bank_cards_are_unionpay_and_pass_luhn() -> None:
    cards = Values(12).bank_cards(N)
    assert all(luhn.is_valid(c) for c, _bank in cards)
    assert all(c.startswith("62") for c, _bank in cards)
    assert {len(c) for c, _bank in cards} == {16, 19}
    assert all(bank for _c, bank in cards)


def test_us_cards_are_visa_or_mastercard_and_pass_luhn() -> None:
    cards = Values(13).us_cards(N)
    assert all(luhn.is_valid(c) and len(c) == 16 for c, _bank in cards)
    assert {c[0] for c, _bank in cards} <= {"4", "5", "2"}


def test_usccs_validate() -> None:
    codes = Values(14).usccs(N)
    assert all(uscc.is_valid(x) for x in codes)


def test_ibans_validate() -> None:
    values = Values(15).ibans(N)
    assert all(iban.is_valid(x) for x in values)
    assert {x[:2] for x in values} == {"DE", "GB", "NL", "FR", "AT", "CH"}


def test_us_ssns_validate() -> None:
    assert all(ssn.is_valid(x) for x in Values(16).us_ssns(N))


def test_mobiles_are_valid_mainland_mobiles() -> None:
    for number in Values(17).mobiles(N):
        parsed = phonenumbers.parse("+86" + number)
        assert phonenumbers.is_valid_number(parsed), number
        assert phonenumbers.number_type(parsed) == phonenumbers.PhoneNumberType.MOBILE


def test_landlines_are_valid_fixed_lines_with_the_citys_area_code() -> None:
    v = Values(18)
    counties = v.counties(N)
    for number, county in zip(v.landlines(N, counties), counties, strict=True):
        parsed = phonenumbers.parse(number, "CN")
        assert phonenumbers.is_valid_number(parsed), number
        assert phonenumbers.number_type(parsed) == phonenumbers.PhoneNumberType.FIXED_LINE
        assert number.split("-")[0] == regions.area_code_for(county)[0]


def test_area_codes_of_known_cities() -> None:
    by_code = {c.code: c for c in regions.counties()}
    assert regions.area_code_for(by_code["440305"])[0] == "0755"  # 深圳市南山区
    assert regions.area_code_for(by_code["110105"])[0] == "010"  # 北京市朝阳区
    assert regions.area_code_for(by_code["330106"])[0] == "0571"  # 杭州市西湖区


def test_us_phones_are_valid_numbers() -> None:
    for number in Values(19).us_phones(N):
        assert phonenumbers.is_valid_number(phonenumbers.parse(number)), number


def test_documents_plates_waybills_have_their_shapes() -> None:
    v = Values(20)
    assert all(re.fullmatch(r"[EG]\d{8}|E[A-HJ-NP-Z]\d{7}", x) for x in v.passports(N))
    assert all(re.fullmatch(r"C\d{8}|C[A-HJ-NP-Z]\d{7}", x) for x in v.hk_macau_permits(N))
    plates = v.license_plates(N)
    provinces = "".join(regions.PLATE_PREFIX.values())
    regular = rf"[{provinces}][A-HJ-NP-Z][A-HJ-NP-Z0-9]{{5}}"
    new_energy = rf"[{provinces}][A-HJ-NP-Z][DF][A-HJ-NP-Z0-9]\d{{4}}"
    assert all(re.fullmatch(f"{regular}|{new_energy}", p) for p in plates)
    assert any(len(p) == 8 for p in plates) and any(len(p) == 7 for p in plates)
    for courier in COURIERS:
        numbers = v.waybills(500, [courier] * 500)
        assert all(re.fullmatch(WAYBILL_SHAPES[courier], x) for x in numbers), courier


def test_waybills_from_serials_are_distinct() -> None:
    serials = list(range(1, 20_001))
    numbers = Values(21).waybills(len(serials), ["JD"] * len(serials), serials=serials)
    assert len(set(numbers)) == len(numbers)


def test_addresses_ips_macs_emails() -> None:
    v = Values(22)
    assert all(ipaddress.ip_address(x).version == 4 for x in v.ipv4s(500))
    assert all(ipaddress.ip_address(x).version == 6 for x in v.ipv6s(500))
    assert all(re.fullmatch(r"([0-9A-F]{2}:){5}[0-9A-F]{2}", m) for m in v.macs(500))
    email = re.compile(r"[a-z0-9._]+@[a-z0-9.]+\.[a-z]{2,}")
    assert all(email.fullmatch(e) for e in v.emails(500) + v.emails(500, "en_US"))
    assert all(re.search(r"\d+号.+\d+栋\d+单元\d+室$", a) for a in v.cn_addresses(v.counties(500)))
    assert all(
        re.fullmatch(r"\d+ \w+ \w+, [A-Za-z ]+, [A-Z]{2} \d{5}", a) for a in v.us_addresses(500)
    )


# ---- one person, consistent ----------------------------------------------------------------
def test_people_are_consistent_across_fields() -> None:
    cols = Values(23).people_columns(N, en_share=0.1)
    code_of = {(c.province, c.city, c.district): c.code for c in regions.counties()}
    same_prefecture = same_province = 0
    zh = 0
    for i in range(N):
        born, gender = cols["birth_date"][i], cols["gender"][i]
        assert isinstance(born, date)
        age = (
            DEMO_TODAY.year
            - born.year
            - ((DEMO_TODAY.month, DEMO_TODAY.day) < (born.month, born.day))
        )
        assert 18 <= age <= 80
        number, address = str(cols["id_number"][i]), str(cols["address"][i])
        if cols["locale"][i] == "en_US":
            assert ssn.is_valid(number)
            assert re.fullmatch(r"[A-Z][a-z]+ [A-Z][A-Za-z' -]+", str(cols["name"][i]))
            assert str(cols["mobile"][i]).startswith("+1 ")
            continue
        zh += 1
        assert ric.is_valid(number)
        assert ric.get_birth_date(number) == born
        assert int(number[16]) % 2 == (gender == "M")
        assert address.startswith(str(cols["province"][i]))
        assert str(cols["city"][i]) in address and str(cols["district"][i]) in address
        home = code_of[(cols["province"][i], cols["city"][i], cols["district"][i])]
        same_prefecture += number[:4] == home[:4]
        same_province += number[:2] == home[:2]
    assert 0.8 * N < zh < 0.97 * N
    # The ID was issued where people live unless they moved (25 %); when their county's code
    # did not exist yet in their birth year, a code of that year from the same prefecture, or
    # failing that the same province, is used.
    assert 0.65 * zh < same_province < 0.85 * zh
    assert same_prefecture > 0.35 * zh


def test_surnames_follow_their_frequencies() -> None:
    names = Values(24).cn_names(20_000)
    counts = Counter(n[0] for n in names)
    top = [s for s, _ in counts.most_common(3)]
    assert set(top) == {"王", "李", "张"}
    assert counts["王"] > 0.05 * len(names)
    assert all(2 <= len(n) <= 4 for n in names)


# ---- determinism and the single-value API ---------------------------------------------------
def test_same_seed_same_values_other_seed_other_values() -> None:
    a = Values(99).people_columns(400)
    b = Values(99).people_columns(400)
    c = Values(100).people_columns(400)
    assert a == b
    assert a["id_number"] != c["id_number"]
    assert Values([1, 2]).mobiles(50) == Values([1, 2]).mobiles(50)


@pytest.mark.parametrize(
    ("method", "check"),
    [
        ("resident_id", ric.is_valid),
        ("unionpay_card", luhn.is_valid),
        ("uscc", uscc.is_valid),
        ("iban", iban.is_valid),
        ("us_ssn", ssn.is_valid),
        ("mobile", lambda x: phonenumbers.is_valid_number(phonenumbers.parse("+86" + x))),
        ("landline", lambda x: phonenumbers.is_valid_number(phonenumbers.parse(x, "CN"))),
        ("us_phone", lambda x: phonenumbers.is_valid_number(phonenumbers.parse(x))),
    ],
)
def test_single_values(method: str, check: object) -> None:
    value = getattr(Values(5), method)()
    assert isinstance(value, str) and callable(check) and check(value)


def test_one_person_at_a_time() -> None:
    person = Values(6).person()
    assert person.locale == "zh_CN" and ric.is_valid(person.id_number)
    assert ric.get_birth_date(person.id_number) == person.birth_date
    foreigner = Values(6).person("en_US")
    assert foreigner.locale == "en_US" and ssn.is_valid(foreigner.id_number)


def test_region_table_matches_stdnum() -> None:
    table = regions.counties()
    assert len(table) > 2500
    by_code = {c.code: c for c in table}
    shenzhen = by_code["440305"]
    assert (shenzhen.province, shenzhen.city, shenzhen.district) == ("广东省", "深圳市", "南山区")
    beijing = by_code["110105"]
    assert (beijing.province, beijing.city, beijing.district) == ("北京市", "北京市", "朝阳区")
    # Every current county, with a birth year it was in use, makes an ID stdnum accepts.
    v = Values(7)
    for county in table[::7]:
        year = next(y for y in range(1950, 2027) if county.valid_in(y))
        number = v.resident_ids(1, births=[date(year, 6, 1)], region_codes=[county.code])[0]
        assert ric.is_valid(number), (county, year)
