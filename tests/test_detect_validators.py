"""Validators against published examples and hand-checked negatives.

Reference values: GB 11643-1999's worked example, GB 32100-2015's example code, the IBAN
registry's examples, the well-known Visa test card, UPU S10 check digits worked by hand below.
"""

from __future__ import annotations

import datetime
import re
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum import luhn

from leakwarden.detect import validators as v

# GB 11643-1999 MOD 11-2, written out from the standard (weights 2^(17-i) mod 11), independent
# of both stdnum and the code under test.
_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]


def gb11643_check(body17: str) -> str:
    total = sum(int(d) * w for d, w in zip(body17, _WEIGHTS, strict=True))
    return "10X98765432"[total % 11]


def test_weights_match_the_standard_formula() -> None:
    assert [pow(2, 17 - i, 11) for i in range(17)] == _WEIGHTS


class TestResidentId:
    def test_standard_worked_example(self) -> None:
        assert gb11643_check("11010519491231002") == "X"
        assert v.cn_resident_id_ok("11010519491231002X")
        assert v.cn_resident_id_ok("11010519491231002x")

    def test_wrong_check_digit(self) -> None:
        assert not v.cn_resident_id_ok("110105194912310021")

    def test_seventeen_digits(self) -> None:
        assert not v.cn_resident_id_ok("11010519491231002")

    def test_february_30_with_a_correct_check_digit(self) -> None:
        body = "11010519900230123"
        assert not v.cn_resident_id_ok(body + gb11643_check(body))

    def test_future_birth_date_with_a_correct_check_digit(self) -> None:
        year = datetime.date.today().year + 1
        body = f"110105{year}0101123"
        assert not v.cn_resident_id_ok(body + gb11643_check(body))

    def test_unknown_region_with_a_correct_check_digit(self) -> None:
        body = "99999919900101123"
        assert not v.cn_resident_id_ok(body + gb11643_check(body))

    def test_hk_macau_taiwan_residence_permit_regions(self) -> None:
        body = "81000019900101123"
        assert v.cn_resident_id_ok(body + gb11643_check(body))

    def test_legacy_fifteen_digits(self) -> None:
        assert v.cn_resident_id_ok("110105491231002")  # region 110105, born 1949-12-31
        assert not v.cn_resident_id_ok("110105490230002")  # Feb 30

    @given(
        st.sampled_from(["110105", "310101", "440305", "510104", "330106"]),
        st.dates(datetime.date(1900, 1, 1), datetime.date(2020, 12, 31)),
        st.integers(0, 999),
    )
    def test_any_generated_id_validates(self, region: str, born: datetime.date, seq: int) -> None:
        body = f"{region}{born:%Y%m%d}{seq:03d}"
        assert v.cn_resident_id_ok(body + gb11643_check(body))
        wrong = "0123456789X".replace(gb11643_check(body), "")[seq % 10]
        assert not v.cn_resident_id_ok(body + wrong)


class TestPhones:
    @pytest.mark.parametrize(
        "value", ["13812345678", "+8613812345678", "0086 138 1234 5678", "199-1234-5678"]
    )
    def test_mobiles(self, value: str) -> None:
        assert v.cn_mobile_ok(value)

    @pytest.mark.parametrize("value", ["12812345678", "1381234567", "10012345678", "14012345678"])
    def test_not_mobiles(self, value: str) -> None:
        assert not v.cn_mobile_ok(value)

    @pytest.mark.parametrize("value", ["010-12345678", "(0755)12345678", "021-6234 5678"])
    def test_landlines(self, value: str) -> None:
        assert v.cn_landline_ok(value)

    @pytest.mark.parametrize("value", ["13812345678", "010-1234", "1234-5678901"])
    def test_not_landlines(self, value: str) -> None:
        assert not v.cn_landline_ok(value)

    @pytest.mark.parametrize("value", ["+44 20 7946 0958", "+1 202-555-0143", "(202) 555-0143"])
    def test_international(self, value: str) -> None:
        assert v.phone_ok(value)

    def test_international_leaves_chinese_mobiles_to_cn_mobile(self) -> None:
        assert not v.phone_ok("+86 138 1234 5678")
        assert not v.phone_ok("+1 000 000 0000")

    def test_international_phone_agrees_with_phonenumbers(self) -> None:
        """The "+digits" fast path answers as ``phonenumbers.parse`` + ``is_valid_number`` (and
        the cn_mobile exclusion) on example numbers of every calling code, with national
        prefixes, leading zeros, mutations, separators and unknown codes."""
        import random

        import phonenumbers
        from phonenumbers.phonenumberutil import COUNTRY_CODE_TO_REGION_CODE

        def reference(text: str) -> bool:
            t = "+" + text[2:] if text.startswith("00") else text
            try:
                number = phonenumbers.parse(t, None)
            except phonenumbers.NumberParseException:
                return False
            return phonenumbers.is_valid_number(number) and not (
                number.country_code == 86 and v.cn_mobile_ok(str(number.national_number))
            )

        rng = random.Random(11)
        codes = sorted(COUNTRY_CODE_TO_REGION_CODE)
        checked = valid = 0
        for _ in range(5000):
            code = rng.choice(codes) if rng.random() < 0.9 else rng.randint(1, 999)
            regions = COUNTRY_CODE_TO_REGION_CODE.get(code, ("ZZ",))
            region = rng.choice(regions)
            example = None
            if region == "001":
                example = phonenumbers.example_number_for_non_geo_entity(code)
            elif region != "ZZ":
                example = phonenumbers.example_number_for_type(region, rng.randrange(11))
            if example is not None and rng.random() < 0.8:
                nsn = phonenumbers.national_significant_number(example)
                nsn = "".join(str(rng.randrange(10)) if rng.random() < 0.1 else d for d in nsn)
            else:
                nsn = "".join(str(rng.randrange(10)) for _ in range(rng.randint(0, 15)))
            if rng.random() < 0.2:
                nsn = rng.choice(("0", "00", "1", "8", "06")) + nsn
            digits = str(code) + nsn
            text = rng.choice(("+", "00")) + "".join(
                d
                + (rng.choice((" ", "-", ".", "(", ")", " (", ") ")) if rng.random() < 0.2 else "")
                for d in digits
            ).rstrip(" .()-")
            expected = reference(text)
            assert v.phone_ok(text) == expected, text
            checked += 1
            valid += expected
        assert checked == 5000 and valid > 1000

    def test_landline_agrees_with_phonenumbers(self) -> None:
        """The national fast path answers as ``phonenumbers.parse(raw, "CN")`` + fixed-line
        ``number_type`` on digit strings of area codes, mobiles, service numbers and noise."""
        import random

        import phonenumbers

        def reference(raw: str) -> bool:
            try:
                number = phonenumbers.parse(raw, "CN")
            except phonenumbers.NumberParseException:
                return False
            return phonenumbers.is_valid_number(number) and phonenumbers.number_type(number) in (
                phonenumbers.PhoneNumberType.FIXED_LINE,
                phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
            )

        rng = random.Random(5)
        prefixes = ("010", "020", "021", "0755", "0571", "0851", "0", "00", "0086", "0400", "01")
        valid = 0
        for _ in range(4000):
            raw = rng.choice(prefixes) + "".join(
                str(rng.randrange(10)) for _ in range(rng.randint(0, 11))
            )
            expected = reference(raw)
            assert v.cn_landline_ok(raw) == expected, raw
            valid += expected
        assert valid > 150

    def test_number_kind_agrees_with_phonenumbers(self) -> None:
        """The compiled-metadata check answers as ``is_valid_number`` + ``number_type`` on
        phonenumbers' own example numbers of every region and kind, mutated and truncated, and on
        random digit strings (about a quarter come out valid)."""
        import random

        import phonenumbers
        from phonenumbers.phonenumberutil import COUNTRY_CODE_TO_REGION_CODE

        rng = random.Random(20261123)
        codes = sorted(COUNTRY_CODE_TO_REGION_CODE)
        checked = valid = 0
        for _ in range(4000):
            code = rng.choice(codes)
            region = rng.choice(COUNTRY_CODE_TO_REGION_CODE[code])
            example = (
                phonenumbers.example_number_for_non_geo_entity(code)
                if region == "001"
                else phonenumbers.example_number_for_type(region, rng.randrange(11))
            )
            if example is not None and rng.random() < 0.7:
                digits = "".join(
                    str(rng.randrange(10)) if rng.random() < 0.15 else d
                    for d in str(example.national_number)
                )
                digits = digits[: rng.choice((len(digits), len(digits), len(digits) - 1))]
            else:
                digits = "".join(str(rng.randrange(10)) for _ in range(rng.randint(4, 14)))
            for text, default in ((f"+{code} {digits}", None), ("0" + digits, "CN")):
                try:
                    parsed = phonenumbers.parse(text, default)
                except phonenumbers.NumberParseException:
                    continue
                expected = (
                    phonenumbers.number_type(parsed)
                    if phonenumbers.is_valid_number(parsed)
                    else None
                )
                assert v._number_kind(parsed) == expected, text
                checked += 1
                valid += expected is not None
        assert checked > 6000 and valid > 1000


class TestCards:
    def test_visa_test_card(self) -> None:
        assert v.bank_card_ok("4111111111111111")
        assert v.bank_card_ok("4111 1111 1111 1111")
        assert v.bank_card_ok("4111-1111-1111-1111")
        assert not v.bank_card_ok("4111111111111112")

    def test_mixed_separators_rejected(self) -> None:
        assert not v.bank_card_ok("4111 1111-1111 1111")

    def test_unionpay_19_digits(self) -> None:
        body = "622202123456789012"
        card = body + luhn.calc_check_digit(body)
        assert len(card) == 19
        assert v.bank_card_ok(card)

    def test_unknown_scheme_prefix(self) -> None:
        body = "100000000000000"
        assert not v.bank_card_ok(body + luhn.calc_check_digit(body))

    @given(st.text("0123456789", min_size=1, max_size=25))
    def test_fast_luhn_agrees_with_stdnum(self, digits: str) -> None:
        assert v.luhn_ok(digits) == luhn.is_valid(digits)


def _org_check(body8: str) -> str:
    """GB 11714-1997, written out from the standard for the tests: weights 3 7 9 10 5 8 4 2,
    letters A-Z count 10-35, check = 11 - sum mod 11 with 10 -> X and 11 -> 0."""
    total = sum(int(ch, 36) * w for ch, w in zip(body8, [3, 7, 9, 10, 5, 8, 4, 2], strict=True))
    return {10: "X", 11: "0"}.get(11 - total % 11, str(11 - total % 11))


class TestCodes:
    def test_uscc_standard_example(self) -> None:
        assert v.cn_uscc_ok("91350100M000100Y43")
        assert not v.cn_uscc_ok("91350100M000100Y44")
        assert not v.cn_uscc_ok("91350100M000100Y4")

    @pytest.mark.parametrize("value", ["91310107MA1G1C8Q5W", "91440183797370649Q"])
    def test_uscc_registered_companies(self, value: str) -> None:
        # Published codes of registered companies; both checks verified by hand against the
        # standards' weights (and python-stdnum for MOD 31).
        assert v.cn_uscc_ok(value)

    def test_uscc_embedded_organisation_code_is_checked(self) -> None:
        # The standard's example 91350100M000100Y43 embeds the GB 11714 code M000100Y4:
        # M=22*3 + 0*7 + 0*9 + 0*10 + 1*5 + 0*8 + 0*4 + Y=34*2 = 139; 139 mod 11 = 7;
        # 11 - 7 = 4, its last character.
        assert v.org_code_ok("M000100Y4")
        assert not v.org_code_ok("M000100Y5")
        # 18 characters whose MOD 31 check is right but whose organisation code is wrong:
        # 91350100M000100Y5 + its GB 32100 check character (from python-stdnum).
        from stdnum.cn import uscc

        body = "91350100M000100Y5"
        assert uscc.is_valid(body + uscc.calc_check_digit(body))
        assert not v.cn_uscc_ok(body + uscc.calc_check_digit(body))

    @given(
        st.sampled_from(["91", "92", "12", "52", "93"]),
        st.text("0123456789", min_size=6, max_size=6),
        st.text("0123456789ABCDEFGHJKLMNPQRTUWXY", min_size=8, max_size=8),
    )
    def test_uscc_mod31_agrees_with_stdnum(self, head: str, region: str, org: str) -> None:
        from stdnum.cn import uscc

        org9 = org + _org_check(org)
        body = head + region + org9
        if not set(org9) <= set("0123456789ABCDEFGHJKLMNPQRTUWXY"):
            return  # GB 11714 check "X" is outside the USCC alphabet
        check = uscc.calc_check_digit(body)
        assert v.cn_uscc_ok(body + check)
        for other in "0A":
            if other != check:
                assert not v.cn_uscc_ok(body + other)

    @pytest.mark.parametrize("value", ["GB82WEST12345698765432", "DE89370400440532013000"])
    def test_iban_registry_examples(self, value: str) -> None:
        assert v.iban_ok(value)

    def test_iban_agrees_with_stdnum(self) -> None:
        """Random BBANs of every registry country (right and wrong structure, right and wrong
        check digits, with national check digits where stdnum has them) answer as
        ``stdnum.iban.is_valid``."""
        import random

        from stdnum import iban

        rng = random.Random(7)
        alphabet = {"n": "0123456789", "a": "ABCDEFGHIJKLMNOPQRSTUVWXYZ"}
        alphabet["c"] = alphabet["n"] + alphabet["a"]
        checked = valid = 0
        for country in sorted(v.iban_countries()):
            bban_format = v._bban_formats()[country].pattern
            parts = re.findall(r"\[([^\]]+)\]\{(\d+)\}", bban_format)
            for _ in range(40):
                bban = "".join(
                    "".join(
                        rng.choice(
                            alphabet["n"]
                            if cls == "0-9"
                            else alphabet["a"]
                            if cls == "A-Z"
                            else alphabet["c"]
                        )
                        for _ in range(int(n))
                    )
                    for cls, n in parts
                )
                if rng.random() < 0.2:  # wrong structure: a letter where digits belong, or v.v.
                    i = rng.randrange(len(bban))
                    bban = bban[:i] + rng.choice(alphabet["c"]) + bban[i + 1 :]
                check = iban.calc_check_digits(country + "00" + bban)
                if rng.random() < 0.2:
                    check = f"{rng.randrange(100):02d}"
                value = country + check + bban
                assert v.iban_ok(value) == iban.is_valid(value), value
                checked += 1
                valid += iban.is_valid(value)
        assert checked > 3000 and valid > 2000

    def test_iban_spaced_and_wrong(self) -> None:
        assert v.iban_ok("GB82 WEST 1234 5698 7654 32")
        assert not v.iban_ok("GB82WEST12345698765433")
        assert not v.iban_ok("DE89370400440532013001")

    @pytest.mark.parametrize("value", ["123-45-6789", "078-05-1121", "123456789"])
    def test_ssn_valid(self, value: str) -> None:
        assert v.us_ssn_ok(value)

    @pytest.mark.parametrize(
        "value",
        ["000-12-3456", "666-12-3456", "900-12-3456", "123-00-4567", "123-45-0000", "123-45 6789"],
    )
    def test_ssn_rules(self, value: str) -> None:
        assert not v.us_ssn_ok(value)

    @given(
        st.text(alphabet="0123456789", min_size=9, max_size=9),
        st.sampled_from(["-", " ", ""]),
    )
    def test_ssn_agrees_with_stdnum(self, digits: str, sep: str) -> None:
        from stdnum.us import ssn

        value = f"{digits[:3]}{sep}{digits[3:5]}{sep}{digits[5:]}"
        assert v.us_ssn_ok(value) == ssn.is_valid(value.replace(" ", "-"))

    def test_ssn_advertised_numbers(self) -> None:
        # Published in advertising (Woolworth's wallet card and others); stdnum refuses them.
        for value in ("078-05-1120", "078051120", "457 55 5462", "219-09-9999"):
            assert not v.us_ssn_ok(value)

    @given(st.lists(st.integers(0, 999), min_size=4, max_size=4), st.integers(0, 3))
    def test_ipv4_agrees_with_ipaddress(self, octets: list[int], zero_padded: int) -> None:
        import ipaddress

        parts = [str(o) for o in octets]
        parts[zero_padded] = "0" + parts[zero_padded] if octets[0] % 2 else parts[zero_padded]
        value = ".".join(parts)
        try:
            expected = not ipaddress.ip_address(value).is_unspecified
        except ValueError:
            expected = False
        assert v.ip_address_ok(value) == expected
        assert not v.ip_address_ok("0.0.0.0")

    def test_s10_check_digit_worked_by_hand(self) -> None:
        # 1*8 + 2*6 + 3*4 + 4*2 + 5*3 + 6*5 + 7*9 + 8*7 = 204; 204 mod 11 = 6; 11 - 6 = 5
        assert v.express_waybill_ok("EA123456785CN")
        assert not v.express_waybill_ok("EA123456784CN")

    def test_waybill_shapes(self) -> None:
        assert v.express_waybill_ok("SF1234567890123")
        assert v.express_waybill_ok("JDVA12345678901")
        assert not v.express_waybill_ok("SF12345")


class TestDocumentsAndPlates:
    def test_passport(self) -> None:
        assert v.cn_passport_ok("E12345678")
        assert v.cn_passport_ok("EA1234567")
        assert v.cn_passport_ok("G12345678")
        assert not v.cn_passport_ok("EI1234567")
        assert not v.cn_passport_ok("X12345678")

    def test_hk_macau_permit(self) -> None:
        assert v.cn_hk_macau_permit_ok("C12345678")
        assert v.cn_hk_macau_permit_ok("CA1234567")
        assert not v.cn_hk_macau_permit_ok("CO1234567")

    @pytest.mark.parametrize(
        "value", ["京A12345", "粤B·D12345", "沪AD12345", "苏E12345F", "川A1234学", "苏CFUJ00"]
    )
    def test_plates(self, value: str) -> None:
        assert v.cn_license_plate_ok(value)

    @pytest.mark.parametrize("value", ["京AI2345", "京ABCDE5", "京A1234", "粤BX123456"])
    def test_not_plates(self, value: str) -> None:
        assert not v.cn_license_plate_ok(value)


class TestNetwork:
    @pytest.mark.parametrize(
        "value", ["192.168.1.10", "8.8.8.8", "2001:db8::8a2e:370:7334", "fe80::1:2:3"]
    )
    def test_ip(self, value: str) -> None:
        assert v.ip_address_ok(value)

    @pytest.mark.parametrize("value", ["256.1.1.1", "0.0.0.0", "::1", "12:30:45", "01.2.3.4"])
    def test_not_ip(self, value: str) -> None:
        assert not v.ip_address_ok(value)

    def test_mac(self) -> None:
        assert v.mac_address_ok("00:1A:2B:3C:4D:5E")
        assert v.mac_address_ok("00-1a-2b-3c-4d-5e")
        assert v.mac_address_ok("001a.2b3c.4d5e")
        assert not v.mac_address_ok("00:1A-2B:3C:4D:5E")
        assert not v.mac_address_ok("ff:ff:ff:ff:ff:ff")

    def test_email(self) -> None:
        assert v.email_ok("zhang.san@qq.com")
        assert v.email_ok("a+b@mail.example.co.uk")
        assert not v.email_ok("a..b@qq.com")
        assert not v.email_ok("a@-qq.com")
        assert not v.email_ok("a@qq.c0m")


class TestBirthDates:
    @pytest.mark.parametrize(
        "value", ["1990-01-02", "1990年1月2日", "02/13/1985", "13/02/1985", "Jan 2, 1990"]
    )
    def test_valid(self, value: str) -> None:
        assert v.birth_date_ok(value)

    @pytest.mark.parametrize("value", ["1990-02-30", "02/30/1990", "1899-12-31", "2099-01-01"])
    def test_invalid(self, value: str) -> None:
        assert not v.birth_date_ok(value)


def test_today_is_recomputed_after_local_midnight() -> None:
    assert v.today() == datetime.date.today()
    tomorrow = datetime.date.today() + datetime.timedelta(days=1)
    assert v._today_until[1] == datetime.datetime.combine(tomorrow, datetime.time()).timestamp()
    # a stale entry (valid until a moment ago) is replaced on the next call
    v._today_until[:] = [datetime.date(2000, 1, 1), time.time() - 1]
    assert v.today() == datetime.date.today()
    # an entry still valid is answered without reading the clock's date again
    v._today_until[:] = [datetime.date(2000, 1, 1), time.time() + 3600]
    assert v.today() == datetime.date(2000, 1, 1)
    assert not v.cn_resident_id_ok("110105200101010013")  # born after the cached "today"
    v._today_until[:] = [None, -1.0]
    assert v.cn_resident_id_ok("110105200101010013")


def test_north_american_national_phone_agrees_with_phonenumbers() -> None:
    """The national fast path of ``phone_ok`` (10 digits, or 11 starting with 1) answers as
    ``phonenumbers.parse(text, "US")`` + ``is_valid_number`` on NANP-shaped numbers with every
    leading digit, separators and parentheses, and on 9-12 digit noise (which keeps the slow
    path)."""
    import random

    import phonenumbers

    def reference(text: str) -> bool:
        try:
            number = phonenumbers.parse(text, "US")
        except phonenumbers.NumberParseException:
            return False
        return phonenumbers.is_valid_number(number) and not (
            number.country_code == 86 and v.cn_mobile_ok(str(number.national_number))
        )

    rng = random.Random(7)
    valid = 0
    for _ in range(4000):
        n = rng.choice((9, 10, 10, 10, 11, 11, 11, 12))
        digits = "".join(str(rng.randrange(10)) for _ in range(n))
        if n == 11 and rng.random() < 0.8:
            digits = "1" + digits[1:]
        if rng.random() < 0.5:  # a plausible area code and exchange
            at = n - 10
            digits = digits[:at] + str(rng.randint(2, 9)) + digits[at + 1 : at + 3]
            digits += str(rng.randint(2, 9)) + digits[at + 4 :]
            digits = digits[:n]
        style = rng.randrange(4)
        if style == 0 or len(digits) < 10:
            text = digits
        elif style == 1:
            head = digits[:-10]
            text = f"{head} {digits[-10:-7]}-{digits[-7:-4]}-{digits[-4:]}".strip()
        elif style == 2:
            text = f"{digits[:-10]} ({digits[-10:-7]}) {digits[-7:-4]}-{digits[-4:]}".strip()
        else:
            text = f"{digits[:-10]}.{digits[-10:-7]}.{digits[-7:-4]}.{digits[-4:]}".lstrip(".")
        expected = reference(text)
        assert v.phone_ok(text) == expected, text
        valid += expected
    assert valid > 300
