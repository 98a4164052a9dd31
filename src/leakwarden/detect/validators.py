"""Validators: does a matched string really denote an instance of its type?

Each function takes the candidate exactly as matched in the normalised text (separators and
prefixes included) and returns ``True`` or ``False``; none raises on bad input.  Check digits come
from python-stdnum and phone-number rules from phonenumbers, not hand-written copies.  The
registry in ``leakwarden.detect.types`` attaches these to the types.
"""

from __future__ import annotations

import datetime
import ipaddress
import operator
import re
import time
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

__all__ = [
    "PERMIT_REGIONS",
    "bank_card_ok",
    "birth_date_ok",
    "cn_hk_macau_permit_ok",
    "cn_landline_ok",
    "cn_license_plate_ok",
    "cn_mobile_ok",
    "cn_passport_ok",
    "cn_resident_id_ok",
    "cn_uscc_ok",
    "email_ok",
    "express_waybill_ok",
    "iban_countries",
    "iban_ok",
    "ip_address_ok",
    "luhn_ok",
    "mac_address_ok",
    "org_code_ok",
    "parse_birth_date",
    "phone_ok",
    "region_code_ok",
    "region_codes",
    "today",
    "us_ssn_ok",
]

_SEPARATORS = re.compile(r"[\s\-·•.()]")
_MIN_BIRTH_YEAR = 1900


def _strip(value: str) -> str:
    return _SEPARATORS.sub("", value)


# Shapes checked by the validators below, compiled once (``re.fullmatch(str, ...)`` goes
# through ``re``'s cache lookup on every call).
_SSN_SHAPE = re.compile(r"\d{9}|\d{3}-\d{2}-\d{4}|\d{3} \d{2} \d{4}")
_PASSPORT = re.compile(r"E(?:\d{8}|[A-HJ-NP-Z]\d{7})|G\d{8}|[DSP]E?\d{7,8}")
_PERMIT = re.compile(r"C(?:\d{8}|[A-HJ-NP-Z]\d{7})|W\d{8}")
_PLATE_SEPARATORS = re.compile(r"[\s·•.\-]")
_S10_SHAPE = re.compile(r"[A-Z]{2}\d{9}[A-Z]{2}")
_WAYBILL = re.compile(r"SF\d{12,13}|JD[A-Z]{0,3}\d{11,15}|[YJ]T\d{13}|\d{10,15}")
_MAC_COLON = re.compile(r"[0-9a-f]{2}(?::[0-9a-f]{2}){5}")
_MAC_HYPHEN = re.compile(r"[0-9a-f]{2}(?:-[0-9a-f]{2}){5}")
_MAC_DOTTED = re.compile(r"[0-9a-f]{4}\.[0-9a-f]{4}\.[0-9a-f]{4}")
_IPV4 = re.compile(
    r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(?:\.(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])){3}"
)
_NOT_HEX = re.compile(r"[^0-9a-f]")
_YMD = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})")
_DMY = re.compile(r"(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})")
_MONTH_DAY_YEAR = re.compile(r"([a-z]+)\.?\s+(\d{1,2}),?\s+(\d{4})")
_DAY_MONTH_YEAR = re.compile(r"(\d{1,2})\s+([a-z]+)\.?,?\s+(\d{4})")


# --- Chinese resident identity numbers (GB 11643-1999) ------------------------------------

# 港澳台居民居住证 (2018) numbers are resident-ID-shaped with these region codes.
PERMIT_REGIONS = frozenset({"810000", "820000", "830000"})


@lru_cache(maxsize=1)
def _region_codes() -> frozenset[str]:
    """Every 6-digit code in python-stdnum's ``cn/loc.dat`` (GB/T 2260, all years), read once:
    looking codes up through ``stdnum.numdb`` costs about a millisecond each."""
    from importlib.resources import files

    codes: set[str] = set()
    province = ""
    text = (files("stdnum") / "cn" / "loc.dat").read_text(encoding="utf-8")
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        key = line.split(" ", 1)[0] if not line.startswith(" ") else line.split()[0]
        if not line.startswith(" "):
            province = key
        elif "county=" in line:
            codes.add(province + key)
    return frozenset(codes)


def region_codes() -> frozenset[str]:
    """The GB/T 2260 codes ``region_code_ok`` accepts as they are (besides 市辖区 and permits)."""
    return _region_codes()


def region_code_ok(code: str) -> bool:
    """A GB/T 2260 administrative-division code ever in use (python-stdnum's table, all years),
    a city's 市辖区 ``xxxx01`` when the city exists, or a 港澳台 residence-permit code."""
    codes = _region_codes()
    return (
        code in codes
        or code in PERMIT_REGIONS
        or (code.endswith("01") and code[:4] + "00" in codes)
    )


def _real_date(year: int, month: int, day: int) -> datetime.date | None:
    try:
        return datetime.date(year, month, day)
    except ValueError:
        return None


_today_until: list[Any] = [None, -1.0]  # [local date, timestamp of the next local midnight]


def today() -> datetime.date:
    """``datetime.date.today()``, computed again only after local midnight (today() reads the
    clock and the time zone: ~20 µs, paid by every birth date and resident ID checked)."""
    now = time.time()
    if now >= _today_until[1]:
        day = datetime.date.today()
        midnight = datetime.datetime.combine(day + datetime.timedelta(days=1), datetime.time())
        _today_until[:] = [day, midnight.timestamp()]
        return day
    cached: datetime.date = _today_until[0]
    return cached


def _plausible_birth(day: datetime.date | None) -> bool:
    return day is not None and day.year >= _MIN_BIRTH_YEAR and day <= today()


def cn_resident_id_ok(value: str) -> bool:
    """18 characters: region code, birth date YYYYMMDD (real, 1900 or later, not in the future),
    sequence, MOD 11-2 check character (0-9 or X) per GB 11643.  15-digit legacy numbers (1984-1999,
    no check digit) pass when region and date (19YYMMDD) are real; the type asks for context for
    them."""
    number = value.upper()
    if len(number) == 15 and number.isdigit():
        born = _real_date(1900 + int(number[6:8]), int(number[8:10]), int(number[10:12]))
        return _plausible_birth(born) and region_code_ok(number[:6])
    if len(number) != 18 or not number[:17].isdigit():
        return False
    from stdnum.cn import ric

    if number[-1] != ric.calc_check_digit(number):
        return False
    born = _real_date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    return _plausible_birth(born) and region_code_ok(number[:6])


# --- Chinese telephone numbers ---------------------------------------------------------------

# Mobile segments in use (MIIT numbering plan): 13x, 14[5-9], 15[0-35-9], 16[2567], 17[0-8],
# 18x, 19[0-35-9].  Data-only 140-144 and the unassigned 154, 174x satellite etc. are excluded.
_MOBILE = re.compile(r"1(?:3\d|4[5-9]|5[0-35-9]|6[2567]|7[0-8]|8\d|9[0-35-9])\d{8}")
_CN_PREFIX = re.compile(r"^(?:\+86|0086|86)")


def cn_mobile_ok(value: str) -> bool:
    """11 digits in a current mobile segment, optionally after +86/0086/86, separators allowed."""
    digits = _CN_PREFIX.sub("", _strip(value))
    return _MOBILE.fullmatch(digits) is not None


def cn_landline_ok(value: str) -> bool:
    """Area code + local number that phonenumbers' CN metadata calls a fixed line."""
    import phonenumbers

    raw = _strip(value)
    if raw.startswith(("+86", "0086")) or (raw.startswith("86") and not raw.startswith("860")):
        raw = "0" + _CN_PREFIX.sub("", raw)
    if not raw.startswith("0") or not raw.isdigit():
        return False
    if raw.isascii() and not raw.startswith("00"):
        # What ``phonenumbers.parse(raw, "CN")`` does with a national number: code 86, the
        # national prefix stripped (see ``_after_country_code``); "00..." is an IDD, left to it.
        national = _after_country_code(86, raw)
        return national is not None and _nsn_kind(*national) in _FIXED_KINDS
    try:
        parsed = phonenumbers.parse(raw, "CN")
    except phonenumbers.NumberParseException:
        return False
    return _number_kind(parsed) in _FIXED_KINDS


def phone_ok(value: str) -> bool:
    """An international number (``+`` or ``00`` prefix) or a North-American national number that
    phonenumbers calls valid.  Chinese mobiles are left to ``cn_mobile``."""
    text = value.strip()
    if text.startswith("00"):
        text = "+" + text[2:]
    if text.startswith("+") and text.isascii():
        digits = text[1:].translate(_PHONE_PUNCTUATION)
        if digits.isdigit():
            parsed = _parse_international(digits)
            if parsed is None:
                return False
            code, nsn = parsed
            if _nsn_kind(code, nsn) is None:
                return False
            return not (code == 86 and cn_mobile_ok(str(int(nsn))))
    if not text.startswith("+") and text.isascii():
        digits = text.translate(_PHONE_PUNCTUATION)
        if digits.isdigit() and (
            (len(digits) == 11 and digits[0] == "1") or (len(digits) == 10 and digits[0] > "1")
        ):
            parsed = _parse_north_american(digits)
            return parsed is not None and _nsn_kind(*parsed) is not None
    import phonenumbers

    region = None if text.startswith("+") else "US"
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return False
    if _number_kind(number) is None:
        return False
    return not (number.country_code == 86 and cn_mobile_ok(str(number.national_number)))


# Separators ``phonenumbers.parse`` drops from a "+digits" number (it keeps digits only).
_PHONE_PUNCTUATION = str.maketrans("", "", " .()-")


def _parse_international(digits: str) -> tuple[int, str] | None:
    """``phonenumbers.parse("+" + digits)`` for a string of ASCII digits, as (country code,
    national significant number) or ``None`` where parse raises; the same steps, with the
    library's own helpers for national-prefix stripping and length tests, minus the generic
    text handling (RFC 3966, extensions, letters) that such input never needs.  The tests
    compare the two on many numbers."""
    from phonenumbers.phonenumberutil import COUNTRY_CODE_TO_REGION_CODE

    if len(digits) <= 2 or digits[0] == "0":  # too short after the "+"; no code starts with 0
        return None
    for size in (1, 2, 3):
        code = int(digits[:size])
        if code in COUNTRY_CODE_TO_REGION_CODE:
            nsn = digits[size:]
            break
    else:
        return None
    return _after_country_code(code, nsn)


def _parse_north_american(digits: str) -> tuple[int, str] | None:
    """``phonenumbers.parse(digits, "US")`` for 10 digits not starting with 0 or 1, or 11
    starting with 1, as (country code, national significant number): the 11-digit form is too
    long for the US, so parse takes its 1 as the calling code (and strips a national prefix
    from the rest); the 10-digit form has no calling code.  The tests compare the two."""
    from phonenumbers import PhoneMetadata
    from phonenumbers.phonenumberutil import _maybe_strip_national_prefix_carrier_code

    if len(digits) == 11:
        metadata = PhoneMetadata.metadata_for_region("US")
        if metadata is None:
            return None
        return _after_country_code(
            1, _maybe_strip_national_prefix_carrier_code(digits[1:], metadata)[1]
        )
    return _after_country_code(1, digits)


def _after_country_code(code: int, nsn: str) -> tuple[int, str] | None:
    """The steps of ``phonenumbers.parse`` once the calling code is known: national prefix
    stripped when what remains has a possible length, length limits."""
    from phonenumbers import PhoneMetadata
    from phonenumbers.phonenumberutil import (
        ValidationResult,
        _maybe_strip_national_prefix_carrier_code,
        _test_number_length,
        region_code_for_country_code,
    )

    metadata = PhoneMetadata.metadata_for_region_or_calling_code(
        code, region_code_for_country_code(code)
    )
    if metadata is None or len(nsn) < 2:
        return None
    stripped = _maybe_strip_national_prefix_carrier_code(nsn, metadata)[1]
    if _test_number_length(stripped, metadata) not in (
        ValidationResult.TOO_SHORT,
        ValidationResult.IS_POSSIBLE_LOCAL_ONLY,
        ValidationResult.INVALID_LENGTH,
    ):
        nsn = stripped
    if not 2 <= len(nsn) <= 17:
        return None
    return code, nsn


# phonenumbers' validity rules, evaluated with the metadata's regular expressions compiled once.
# ``phonenumbers.is_valid_number`` recompiles (through ``re``'s bounded cache) and walks every
# description per call, about 40 microseconds; ``_number_kind`` gives the same answer (the tests
# compare the two on many numbers) in a few.  Kinds are phonenumbers' ``PhoneNumberType`` values.
_FIXED_LINE, _MOBILE_KIND, _FIXED_OR_MOBILE = 0, 1, 2
_FIXED_KINDS = frozenset({_FIXED_LINE, _FIXED_OR_MOBILE})
_SPECIAL_DESCS = (
    ("premium_rate", 4),
    ("toll_free", 3),
    ("shared_cost", 5),
    ("voip", 6),
    ("personal_number", 7),
    ("pager", 8),
    ("uan", 9),
    ("voicemail", 10),
)

# (possible lengths, national-number pattern source); patterns are compiled on first use, as
# phonenumbers does: most numbers only ever test a region's general and one or two kinds.
_Desc = tuple[frozenset[int], str] | None
_NUMBER_PATTERNS: dict[str, re.Pattern[str]] = {}


@dataclass(frozen=True, slots=True)
class _PhonePlan:
    general: _Desc
    special: tuple[tuple[int, _Desc], ...]
    fixed: _Desc
    mobile: _Desc
    same_fixed_mobile: bool
    leading_digits: re.Pattern[str] | None


def _desc(desc: Any) -> _Desc:
    if desc is None or not desc.national_number_pattern:
        return None
    return frozenset(desc.possible_length), str(desc.national_number_pattern)


_NON_GEO = "001"  # phonenumbers' REGION_CODE_FOR_NON_GEO_ENTITY
_phone_plans: dict[int, tuple[Any, _PhonePlan]] = {}


def _plan(metadata: Any) -> _PhonePlan:
    known = _phone_plans.get(id(metadata))
    if known is not None and known[0] is metadata:
        return known[1]
    plan = _PhonePlan(
        general=_desc(metadata.general_desc),
        special=tuple((kind, _desc(getattr(metadata, name))) for name, kind in _SPECIAL_DESCS),
        fixed=_desc(metadata.fixed_line),
        mobile=_desc(metadata.mobile),
        same_fixed_mobile=bool(metadata.same_mobile_and_fixed_line_pattern),
        leading_digits=re.compile(metadata.leading_digits)
        if metadata.leading_digits is not None
        else None,
    )
    _phone_plans[id(metadata)] = (metadata, plan)
    return plan


def _matches(nsn: str, desc: _Desc) -> bool:
    if desc is None or (desc[0] and len(nsn) not in desc[0]):
        return False
    pattern = _NUMBER_PATTERNS.get(desc[1])
    if pattern is None:
        pattern = _NUMBER_PATTERNS[desc[1]] = re.compile(desc[1])
    return pattern.fullmatch(nsn) is not None


def _kind_in(nsn: str, plan: _PhonePlan | None) -> int | None:
    """``phonenumberutil._number_type_helper`` with compiled patterns; ``None`` for UNKNOWN."""
    if plan is None or not _matches(nsn, plan.general):
        return None
    for kind, desc in plan.special:
        if _matches(nsn, desc):
            return kind
    if _matches(nsn, plan.fixed):
        if plan.same_fixed_mobile or _matches(nsn, plan.mobile):
            return _FIXED_OR_MOBILE
        return _FIXED_LINE
    if not plan.same_fixed_mobile and _matches(nsn, plan.mobile):
        return _MOBILE_KIND
    return None


@cache
def _code_plans(code: int) -> tuple[tuple[_PhonePlan | None, _PhonePlan | None], ...]:
    """Per calling code, in phonenumbers' order of its regions: (the region's plan or ``None``
    without metadata, the plan to validate with or ``None`` when ``is_valid_number_for_region``
    would refuse the region)."""
    from phonenumbers import PhoneMetadata, country_code_for_valid_region
    from phonenumbers.phonenumberutil import COUNTRY_CODE_TO_REGION_CODE

    out: list[tuple[_PhonePlan | None, _PhonePlan | None]] = []
    for region in COUNTRY_CODE_TO_REGION_CODE.get(code, ()):
        metadata = PhoneMetadata.metadata_for_region(region.upper(), None)
        final = PhoneMetadata.metadata_for_region_or_calling_code(code, region.upper())
        usable = final is not None and (
            region == _NON_GEO or code == country_code_for_valid_region(region)
        )
        out.append(
            (_plan(metadata) if metadata is not None else None, _plan(final) if usable else None)
        )
    return tuple(out)


def _number_kind(number: Any) -> int | None:
    """The kind of a parsed number when ``phonenumbers.is_valid_number`` holds, else ``None``
    (``is_valid_number``, ``region_code_for_number`` and ``number_type``, step by step)."""
    from phonenumbers.phonenumberutil import national_significant_number

    return _nsn_kind(number.country_code, national_significant_number(number))


def _nsn_kind(code: int, nsn: str) -> int | None:
    """``_number_kind`` of the number with this calling code and national significant number."""
    plans = _code_plans(code)
    if not plans:
        return None
    if len(plans) == 1:
        return _kind_in(nsn, plans[0][1])
    for plan, final in plans:
        if plan is None:
            continue  # no metadata for this region: phonenumbers skips it
        if plan.leading_digits is not None:
            if plan.leading_digits.match(nsn):
                return _kind_in(nsn, final)
        elif _kind_in(nsn, plan) is not None:
            return _kind_in(nsn, final)
    return None


# --- Cards, accounts, numbers with check digits ------------------------------------------------

# (length range, prefixes) per card scheme.  UnionPay 62 covers 16-19 digits; domestic debit
# cards of some banks start with 60/9; international schemes per ISO/IEC 7812 IIN ranges.
_CARD_RULES: tuple[tuple[range, tuple[str, ...]], ...] = (
    (range(16, 20), ("62", "60", "81", "9")),  # UnionPay and older domestic debit cards
    (range(13, 20), ("4",)),  # Visa (13, 16, 19)
    (
        range(16, 17),
        tuple(str(p) for p in range(51, 56)) + tuple(str(p) for p in range(2221, 2721)),
    ),
    (range(15, 16), ("34", "37", "2131", "1800")),  # American Express, old JCB
    (range(16, 20), tuple(str(p) for p in range(3528, 3590))),  # JCB
    (range(14, 20), ("300", "301", "302", "303", "304", "305", "36", "38", "39")),  # Diners
    (range(16, 20), ("6011", "65", "644", "645", "646", "647", "648", "649")),  # Discover
    (range(13, 20), ("50", "56", "57", "58", "67")),  # Maestro
)
_NO_LENGTHS: frozenset[int] = frozenset()
# prefix -> lengths allowed, for a lookup of the first 1-4 digits instead of a scan.
_CARD_PREFIX: dict[str, frozenset[int]] = {}
for _lengths, _prefixes in _CARD_RULES:
    for _prefix in _prefixes:
        _CARD_PREFIX[_prefix] = _CARD_PREFIX.get(_prefix, frozenset()) | frozenset(_lengths)


def bank_card_ok(value: str) -> bool:
    """Luhn (ISO/IEC 7812) over 13-19 digits whose length and leading digits fit a card scheme;
    groups separated by one consistent space or hyphen."""
    if " " in value or "-" in value:
        if (" " in value and "-" in value) or "  " in value or "--" in value:
            return False
        digits = value.replace(" ", "").replace("-", "")
    else:
        digits = value
    if not digits.isdigit() or not digits.isascii():
        return False
    n, table, empty = len(digits), _CARD_PREFIX, _NO_LENGTHS
    if not (
        n in table.get(digits[:1], empty)
        or n in table.get(digits[:2], empty)
        or n in table.get(digits[:3], empty)
        or n in table.get(digits[:4], empty)
    ):
        return False
    return luhn_ok(digits)


_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)
# ASCII digit d -> the ASCII digit of the digit sum of 2d, for ``bytes.translate``.
_DOUBLED_ASCII = bytes(48 + _DOUBLED[b - 48] if 48 <= b <= 57 else b for b in range(256))


def luhn_ok(digits: str) -> bool:
    """ISO/IEC 7812 Luhn check over a string of ASCII digits (the same answer as
    ``stdnum.luhn.is_valid``, which the tests compare it with; several times faster, and cards
    are the most frequent candidates): digit sums by ``sum`` over byte slices, no Python loop."""
    raw = digits.encode("ascii")
    total = sum(raw[-1::-2]) + sum(raw[-2::-2].translate(_DOUBLED_ASCII)) - 48 * len(raw)
    return total % 10 == 0


_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
# ASCII code of a code character -> its value, for ``bytes.translate`` (no Python loop per char).
_USCC_VALUE_BYTES = bytes(
    _USCC_ALPHABET.index(chr(b)) if chr(b) in _USCC_ALPHABET else 0 for b in range(256)
)
_USCC_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))
_USCC_SHAPE = re.compile(f"[{_USCC_ALPHABET}]{{18}}")


# GB 11714-1997 organisation code: weights of the 8 body characters (digits, A=10 ... Z=35),
# check = 11 - sum mod 11, with 10 -> X and 11 -> 0.
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
# ASCII letter or digit -> its value in base 36 (``int(ch, 36)``), for ``bytes.translate``.
_BASE36 = bytes(int(chr(b), 36) if chr(b).isascii() and chr(b).isalnum() else 0 for b in range(256))


def org_code_ok(code: str) -> bool:
    """GB 11714 organisation code (9 characters, the last its check character)."""
    if len(code) != 9 or not code[:8].isalnum() or not code.isascii():
        return False
    total = sum(map(operator.mul, code[:8].encode("ascii").translate(_BASE36), _ORG_WEIGHTS))
    check = 11 - total % 11
    return code[8] == ("X" if check == 10 else "0" if check == 11 else str(check))


def cn_uscc_ok(value: str) -> bool:
    """GB 32100-2015 unified social credit code: 18 characters of the code alphabet, the first 8
    region/registration part digits after the authority and kind, the MOD 31 check character,
    and the embedded GB 11714 organisation code (characters 9-17) with its own check character,
    which python-stdnum does not test.  The MOD 31 arithmetic is the standard's (weights 3^i
    mod 31); the tests compare it with ``stdnum.cn.uscc`` on random codes.  It is written out
    because the library call costs ~0.5 ms and USCC-shaped strings are frequent."""
    code = value.upper()
    if len(code) != 18 or not code[2:8].isdigit() or _USCC_SHAPE.fullmatch(code) is None:
        return False
    total = sum(map(operator.mul, code.encode("ascii").translate(_USCC_VALUE_BYTES), _USCC_WEIGHTS))
    return _USCC_ALPHABET[(31 - total % 31) % 31] == code[17] and org_code_ok(code[8:17])


@lru_cache(maxsize=1)
def _iban_lengths() -> dict[str, int]:
    """Country code -> IBAN length, from python-stdnum's copy of the SWIFT IBAN registry."""
    from importlib.resources import files

    out: dict[str, int] = {}
    text = (files("stdnum") / "iban.dat").read_text(encoding="utf-8")
    for line in text.splitlines():
        m = re.match(r'([A-Z]{2}) .*bban="([^"]+)"', line)
        if m:
            out[m[1]] = 4 + sum(int(n) for n in re.findall(r"(\d+)!", m[2]))
    return out


def iban_countries() -> frozenset[str]:
    """Country codes that have an IBAN format."""
    return frozenset(_iban_lengths())


# Letter -> its ISO 7064 value as decimal digits ("A" -> "10"), for ``str.translate``.
_IBAN_LETTERS = {ord(ch): str(int(ch, 36)) for ch in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"}
_BBAN_PART = re.compile(r"([1-9][0-9]*)!([nac])")
_BBAN_CLASS = {"n": "[0-9]", "a": "[A-Z]", "c": "[A-Za-z0-9]"}


@lru_cache(maxsize=1)
def _bban_formats() -> dict[str, re.Pattern[str]]:
    """Country code -> the BBAN structure of python-stdnum's IBAN registry as a regular
    expression, built as ``stdnum.iban`` builds it (``4!a6!n8!n`` -> ``[A-Z]{4}[0-9]{6}...``)."""
    from importlib.resources import files

    out: dict[str, re.Pattern[str]] = {}
    text = (files("stdnum") / "iban.dat").read_text(encoding="utf-8")
    for line in text.splitlines():
        m = re.match(r'([A-Z]{2}) .*bban="([^"]+)"', line)
        if m:
            body = _BBAN_PART.sub(lambda p: f"{_BBAN_CLASS[p[2]]}{{{p[1]}}}", m[2])
            out[m[1]] = re.compile(f"^{body}$")
    return out


@cache
def _iban_country_check(country: str) -> bool:
    """Whether python-stdnum has a country-specific IBAN module (national check digits)."""
    from stdnum.util import get_cc_module

    return get_cc_module(country.lower(), "iban") is not None


def iban_ok(value: str) -> bool:
    """ISO 13616 IBAN: country-specific length and BBAN format, ISO 7064 MOD 97-10, and the
    national checks python-stdnum has for some countries.  Length, MOD 97 and format are the
    same steps as ``stdnum.iban.validate`` (the tests compare the two), done with the registry
    read once; ``stdnum.iban.is_valid`` is only called for countries with national checks."""
    compact = value.replace(" ", "").upper()
    if not compact.isalnum() or not compact.isascii():
        return False
    country = compact[:2]
    if _iban_lengths().get(country) != len(compact):
        return False
    if int((compact[4:] + compact[:4]).translate(_IBAN_LETTERS)) % 97 != 1:
        return False
    if not _bban_formats()[country].match(compact[4:]):
        return False
    if _iban_country_check(country):
        from stdnum import iban

        return bool(iban.is_valid(value))
    return True


def us_ssn_ok(value: str) -> bool:
    """US SSN rules (python-stdnum): area not 000/666/9xx, group not 00, serial not 0000, not a
    number published in advertising; separators must be consistent."""
    if _SSN_SHAPE.fullmatch(value) is None:
        return False
    from stdnum.us import ssn

    if not value.isascii():
        return bool(ssn.is_valid(value.replace(" ", "-")))
    # ``ssn.validate``'s component rules on the ASCII digits, without its cleaning and regex.
    digits = value.replace("-", "").replace(" ", "")
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    if area in ("000", "666") or area[0] == "9" or group == "00" or serial == "0000":
        return False
    return ssn.format(digits) not in _ssn_advertised()


@cache
def _ssn_advertised() -> frozenset[str]:
    """Numbers published in advertising that python-stdnum refuses (its ``_ssn_blacklist``)."""
    from stdnum.us import ssn

    return frozenset(
        n for n in ("078-05-1120", "457-55-5462", "219-09-9999") if not ssn.is_valid(n)
    )


# --- Documents and identifiers without a public check digit ------------------------------------


def cn_passport_ok(value: str) -> bool:
    """PRC passport numbers: E + 8 digits or E + letter (not I/O) + 7 digits (e-passports since
    2012), G + 8 digits (2006-2012), D/S/P + 7-8 digits (diplomatic, service, official)."""
    text = value.upper()
    return _PASSPORT.fullmatch(text) is not None


def cn_hk_macau_permit_ok(value: str) -> bool:
    """往来港澳通行证: C + 8 digits or C + letter (not I/O) + 7 digits (card since 2014),
    W + 8 digits (booklet before 2014)."""
    return _PERMIT.fullmatch(value.upper()) is not None


_PLATE_SERIAL = re.compile(r"[A-HJ-NP-Z0-9]{5}")
_NEW_ENERGY_SMALL = re.compile(r"[DF][A-HJ-NP-Z0-9]\d{4}")
_NEW_ENERGY_LARGE = re.compile(r"\d{5}[DF]")


def cn_license_plate_ok(value: str) -> bool:
    """GA 36-2018 plates: province abbreviation, issuing-office letter, then a 5-character serial
    (letters other than I/O; self-chosen serials allow two letters, issued ones vary, so up to
    three are accepted and four or five, which no series uses, are not), a 6-character
    new-energy serial (D/F + 5, or 5 digits + D/F), or 4 characters + 学/警/挂 (driving-school,
    police, trailer); an optional separator after the office letter."""
    body = _PLATE_SEPARATORS.sub("", value)
    serial = body[2:]
    if len(serial) == 5 and serial[-1] in "学警挂":
        return _PLATE_SERIAL.fullmatch(serial[:4] + "0") is not None
    if len(serial) == 5:
        return (
            _PLATE_SERIAL.fullmatch(serial) is not None and sum(ch.isalpha() for ch in serial) <= 3
        )
    if len(serial) == 6:
        return (
            _NEW_ENERGY_SMALL.fullmatch(serial) is not None
            or _NEW_ENERGY_LARGE.fullmatch(serial) is not None
        )
    return False


# UPU S10 item identifiers (EMS / international post): 2 letters, 8 digits, check digit, 2-letter
# country; weights 8 6 4 2 3 5 9 7, check = 11 - sum mod 11 with 10 -> 0 and 11 -> 5.
_S10_WEIGHTS = (8, 6, 4, 2, 3, 5, 9, 7)


def _s10_ok(text: str) -> bool:
    digits = text[2:10]
    total = sum(int(d) * w for d, w in zip(digits, _S10_WEIGHTS, strict=True))
    check = 11 - total % 11
    check = {10: 0, 11: 5}.get(check, check)
    return int(text[10]) == check


def express_waybill_ok(value: str) -> bool:
    """Carrier-prefixed waybill numbers (SF + 12-13 digits, JD[+letters] + 11-15 digits,
    YT/JT + 13 digits), UPU S10 numbers with a correct check digit, or a bare 10-15 digit run (the
    type asks for a context word such as 运单/快递/waybill for those)."""
    text = value.upper()
    if _S10_SHAPE.fullmatch(text):
        return _s10_ok(text)
    return _WAYBILL.fullmatch(text) is not None


# --- Network identifiers -------------------------------------------------------------------------


def email_ok(value: str) -> bool:
    """RFC 5321-shaped address: local part up to 64 characters without leading, trailing or doubled
    dots; a domain of letter/digit/hyphen labels ending in an alphabetic TLD."""
    local, _, domain = value.rpartition("@")
    if not local or len(local) > 64 or len(value) > 254:
        return False
    if local.startswith(".") or local.endswith(".") or ".." in local:
        return False
    labels = domain.split(".")
    if len(labels) < 2 or not labels[-1].isalpha() or len(labels[-1]) < 2:
        return False
    return all(
        0 < len(label) <= 63 and not label.startswith("-") and not label.endswith("-")
        for label in labels
    )


def ip_address_ok(value: str) -> bool:
    """IPv4 dotted quad (no leading zeros) or IPv6 per the ``ipaddress`` module; the unspecified
    address and IPv6 strings with fewer than three groups are not reported."""
    if ":" in value and "::" not in value and value.count(":") != 7 and "." not in value:
        return False  # full IPv6 has 8 groups; MAC addresses and times have fewer
    if _IPV4.fullmatch(value) is not None:
        return value != "0.0.0.0"  # what ``ipaddress`` accepts as IPv4, without building it
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return False
    if address.is_unspecified:
        return False
    if address.version == 6:
        return sum(1 for group in value.split(":") if group) >= 3 or "." in value
    return True


def mac_address_ok(value: str) -> bool:
    """EUI-48 in colon, hyphen (one separator throughout) or Cisco dotted form; not all-zero or
    broadcast."""
    text = value.lower()
    if not (
        _MAC_COLON.fullmatch(text) or _MAC_HYPHEN.fullmatch(text) or _MAC_DOTTED.fullmatch(text)
    ):
        return False
    hexdigits = _NOT_HEX.sub("", text)
    return hexdigits not in ("000000000000", "ffffffffffff")


# --- Dates of birth ------------------------------------------------------------------------------

_MONTHS = {
    m: i + 1
    for i, names in enumerate(
        [
            ("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"),
            ("may",), ("jun", "june"), ("jul", "july"), ("aug", "august"),
            ("sep", "sept", "september"), ("oct", "october"), ("nov", "november"),
            ("dec", "december"),
        ]
    )
    for m in names
}  # fmt: skip


def parse_birth_date(value: str) -> list[datetime.date]:
    """Every real date the string can denote (DD/MM and MM/DD are both tried)."""
    text = value.strip().lower().rstrip("日")
    out: list[datetime.date] = []
    m = _YMD.fullmatch(text)
    if m:
        out.append(_real_date(int(m[1]), int(m[2]), int(m[3])) or datetime.date.min)
    m = _DMY.fullmatch(text)
    if m:
        a, b, year = int(m[1]), int(m[2]), int(m[3])
        out.extend(d for d in (_real_date(year, b, a), _real_date(year, a, b)) if d)
    m = _MONTH_DAY_YEAR.fullmatch(text) or None
    if m and m[1] in _MONTHS:
        out.append(_real_date(int(m[3]), _MONTHS[m[1]], int(m[2])) or datetime.date.min)
    m = _DAY_MONTH_YEAR.fullmatch(text)
    if m and m[2] in _MONTHS:
        out.append(_real_date(int(m[3]), _MONTHS[m[2]], int(m[1])) or datetime.date.min)
    return [d for d in out if d != datetime.date.min]


def birth_date_ok(value: str) -> bool:
    """A real calendar date from 1900 up to today in a common Chinese or English layout."""
    return any(_plausible_birth(day) for day in parse_birth_date(value))
