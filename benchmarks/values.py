"""Seeded generators of format-valid personal-information values and of near misses for the
benchmark corpus.

Valid values carry a correct check digit where the format has one (computed with
python-stdnum, never by hand) so a detector that validates must accept them.  Near misses look
right but fail validation (wrong check digit, impossible date, wrong length) or are ordinary
business numbers (order numbers, timestamps); they are never labelled, so a detector that
reports them loses precision.  ``leakwarden.demo.values`` is used for a type when it offers a
generator for it (see ``_demo``), so the demo and the benchmark speak of the same values.
"""

from __future__ import annotations

import datetime as dt
import random
import string
from collections.abc import Callable

import phonenumbers
from stdnum import iban as std_iban
from stdnum import luhn
from stdnum.cn import ric, uscc

# Real county-level division codes (GB/T 2260), so the region part of an ID is plausible.
CN_REGION_CODES = (
    "110101", "110105", "110108", "120101", "310101", "310104", "310115", "320102", "320505",
    "330106", "330110", "340104", "350203", "360102", "370202", "410105", "420106", "430104",
    "440103", "440305", "440306", "450103", "500103", "510107", "520102", "530102", "610113",
    "620102", "650102", "210102", "220102", "230103",
)  # fmt: skip
CN_MOBILE_PREFIXES = (
    "130", "131", "132", "133", "134", "135", "136", "137", "138", "139", "147", "150", "151",
    "152", "153", "155", "156", "157", "158", "159", "166", "172", "173", "175", "176", "177",
    "178", "180", "181", "182", "183", "184", "185", "186", "187", "188", "189", "191", "198",
    "199",
)  # fmt: skip
CN_PROVINCE_ABBR = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
PLATE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"  # I and O are not used on plates
CN_AREA_CODES = ("010", "020", "021", "022", "023", "024", "025", "027", "028", "029", "0755",
                 "0571", "0512", "0532", "0731", "0591")  # fmt: skip
INTL_PHONE_REGIONS = ("US", "GB", "DE", "FR", "JP", "SG", "AU", "IN", "CA")
EMAIL_DOMAINS = ("example.com", "qq.com", "163.com", "gmail.com", "outlook.com", "corp.cn",
                 "126.com", "sina.com.cn", "mail.example.org")  # fmt: skip
IBAN_BBANS: dict[str, Callable[[random.Random], str]] = {
    "DE": lambda r: _digits(r, 18),
    "FR": lambda r: _digits(r, 10) + _alnum_upper(r, 11) + _digits(r, 2),
    "GB": lambda r: "".join(r.choice(string.ascii_uppercase) for _ in range(4)) + _digits(r, 14),
    "NL": lambda r: "".join(r.choice(string.ascii_uppercase) for _ in range(4)) + _digits(r, 10),
    "ES": lambda r: _digits(r, 20),
    "IT": lambda r: r.choice(string.ascii_uppercase) + _digits(r, 10) + _alnum_upper(r, 12),
}


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(string.digits) for _ in range(n))


def _alnum_upper(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(string.digits + string.ascii_uppercase) for _ in range(n))


def _birth_date(rng: random.Random) -> dt.date:
    return dt.date(1950, 1, 1) + dt.timedelta(days=rng.randrange(0, 365 * 55))


# --------------------------------------------------------------------------- valid values


def cn_resident_id(rng: random.Random) -> str:
    """Valid per python-stdnum, which also checks the county code existed in the birth year."""
    while True:
        body = rng.choice(CN_REGION_CODES) + _birth_date(rng).strftime("%Y%m%d") + _digits(rng, 3)
        number = body + ric.calc_check_digit(body + "0")  # it expects a placeholder check digit
        if ric.is_valid(number):
            return number


def cn_mobile(rng: random.Random) -> str:
    return rng.choice(CN_MOBILE_PREFIXES) + _digits(rng, 8)


def cn_landline(rng: random.Random) -> str:
    while True:
        area = rng.choice(CN_AREA_CODES)
        local = str(rng.randint(2, 8)) + _digits(rng, 7 if len(area) == 3 else rng.choice((6, 7)))
        text = f"{area}-{local}"
        if phonenumbers.is_valid_number(phonenumbers.parse(text, "CN")):
            return text


def bank_card(rng: random.Random) -> str:
    """UnionPay (62, 16 or 19 digits), Visa, Mastercard; Luhn-valid; sometimes grouped by 4."""
    kind = rng.random()
    if kind < 0.5:
        body = "62" + _digits(rng, rng.choice((13, 16)))
    elif kind < 0.75:
        body = "4" + _digits(rng, 14)
    else:
        body = str(rng.randint(51, 55)) + _digits(rng, 13)
    number = body + luhn.calc_check_digit(body)
    if rng.random() < 0.15:
        return " ".join(number[i : i + 4] for i in range(0, len(number), 4))
    return number


def cn_passport(rng: random.Random) -> str:
    return rng.choice("EG") + _digits(rng, 8)


def cn_hk_macau_permit(rng: random.Random) -> str:
    return "C" + rng.choice(PLATE_LETTERS[:10] + "0123456789") + _digits(rng, 7)


def cn_uscc(rng: random.Random) -> str:
    body = rng.choice("159") + rng.choice("123") + rng.choice(CN_REGION_CODES)
    body += "".join(rng.choice("0123456789ABCDEFGHJKLMNPQRTUWXY") for _ in range(9))
    number = body + uscc.calc_check_digit(body)
    if not uscc.is_valid(number):  # pragma: no cover - calc_check_digit makes it valid
        raise AssertionError(number)
    return number


def cn_license_plate(rng: random.Random) -> str:
    prov = rng.choice(CN_PROVINCE_ABBR)
    letter = rng.choice(PLATE_LETTERS)
    if rng.random() < 0.3:  # new-energy plate: D (battery) or F (hybrid) + 5 digits
        return prov + letter + rng.choice("DF") + _digits(rng, 5)
    tail = _digits(rng, 3) + "".join(rng.choice(PLATE_LETTERS + string.digits) for _ in range(2))
    return prov + letter + tail


def express_waybill(rng: random.Random) -> str:
    return rng.choice(("SF", "YT", "JT")) + _digits(rng, 13)


def email(rng: random.Random) -> str:
    user = rng.choice(("li.wei", "zhang_san", "alice", "bob.smith", "wang.fang", "j.doe",
                       "chen88", "service", "liuyang2024", "m.garcia"))  # fmt: skip
    return f"{user}{rng.randint(1, 999)}@{rng.choice(EMAIL_DOMAINS)}"


def phone(rng: random.Random) -> str:
    """An international number valid per libphonenumber, in international format."""
    while True:
        region = rng.choice(INTL_PHONE_REGIONS)
        example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
        if example is None:  # pragma: no cover - every listed region has an example
            continue
        national = str(example.national_number)
        candidate = national[:3] + _digits(rng, len(national) - 3)
        number = phonenumbers.parse(f"+{example.country_code}{candidate}")
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def ip_address(rng: random.Random) -> str:
    if rng.random() < 0.7:
        first = rng.choice((23, 45, 58, 61, 101, 111, 117, 183, 203, 211, 222))
        return ".".join(str(x) for x in (first, rng.randint(0, 255), rng.randint(0, 255),
                                          rng.randint(1, 254)))  # fmt: skip
    groups = [f"{rng.randint(0, 0xFFFF):x}" for _ in range(8)]
    groups[0] = "2001"
    groups[1] = "db8"
    if rng.random() < 0.5:  # compressed form
        return ":".join(groups[:3]) + "::" + ":".join(groups[6:])
    return ":".join(groups)


def mac_address(rng: random.Random) -> str:
    sep = rng.choice(":-")
    return sep.join(f"{rng.randint(0, 255):02X}" for _ in range(6))


def iban(rng: random.Random) -> str:
    """Valid per python-stdnum: mod 97 and, where it knows one, the national BBAN check."""
    country = rng.choice(sorted(IBAN_BBANS))
    while True:
        bban = IBAN_BBANS[country](rng)
        number = country + std_iban.calc_check_digits(country + "00" + bban) + bban
        if std_iban.is_valid(number):
            break
    if rng.random() < 0.4:
        return " ".join(number[i : i + 4] for i in range(0, len(number), 4))
    return number


def us_ssn(rng: random.Random) -> str:
    area = rng.choice([a for a in range(1, 900) if a != 666])
    return f"{area:03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"


def date_of_birth_zh(rng: random.Random) -> str:
    d = _birth_date(rng)
    return rng.choice((f"{d.year}年{d.month}月{d.day}日", d.isoformat()))


def date_of_birth_en(rng: random.Random) -> str:
    d = _birth_date(rng)
    return rng.choice((d.isoformat(), d.strftime("%d %B %Y")))


# --------------------------------------------------------------------------- near misses


def bad_resident_id(rng: random.Random) -> str:
    """Looks like an ID but is not one: wrong check digit, impossible date, or 17/19 digits."""
    good = cn_resident_id(rng)
    kind = rng.randrange(4)
    if kind == 0:
        wrong = rng.choice([c for c in "0123456789X" if c != good[-1]])
        return good[:-1] + wrong
    if kind == 1:  # 13th month, check digit recomputed so only the date is wrong
        body = good[:10] + "13" + good[12:17]
        return body + ric.calc_check_digit(body + "0")  # it expects a placeholder check digit
    if kind == 2:
        return good[:17].replace("X", "1")
    return good[:17] + _digits(rng, 2)


def bad_bank_card(rng: random.Random) -> str:
    good = bank_card(rng).replace(" ", "")
    last = int(good[-1])
    return good[:-1] + str((last + rng.randint(1, 9)) % 10)


def bad_mobile(rng: random.Random) -> str:
    """12-digit run or an 11-digit number with a prefix no carrier uses."""
    if rng.random() < 0.5:
        return cn_mobile(rng) + str(rng.randint(0, 9))
    return "1" + rng.choice("012") + _digits(rng, 9)


def bad_iban(rng: random.Random) -> str:
    good = iban(rng).replace(" ", "")
    check = int(good[2:4])
    return good[:2] + f"{(check + rng.randint(1, 50)) % 97 + 2:02d}" + good[4:]


def bad_ssn(rng: random.Random) -> str:
    """SSNs the SSA never issues: area 000/666/9xx, group 00, serial 0000."""
    kind = rng.randrange(4)
    if kind == 0:
        return f"000-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"
    if kind == 1:
        return f"666-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"
    if kind == 2:
        return f"{rng.randint(1, 665):03d}-00-{rng.randint(1, 9999):04d}"
    return f"{rng.randint(1, 665):03d}-{rng.randint(1, 99):02d}-0000"


def bad_uscc(rng: random.Random) -> str:
    good = cn_uscc(rng)
    wrong = rng.choice([c for c in "0123456789ABCDEFGHJKLMNPQRTUWXY" if c != good[-1]])
    return good[:-1] + wrong


def order_number(rng: random.Random) -> str:
    """Business identifiers made of digits that no personal-information validator accepts."""
    while True:
        kind = rng.randrange(3)
        if kind == 0:
            candidate = "DD" + _digits(rng, 16)
        elif kind == 1:
            candidate = dt.datetime(2024, 1, 1).strftime("%Y") + _digits(rng, 14)  # 18 digits
        else:
            candidate = _digits(rng, 16)
        if not accidentally_valid(candidate):
            return candidate


def timestamp(rng: random.Random) -> str:
    moment = dt.datetime(2024, 1, 1) + dt.timedelta(seconds=rng.randrange(0, 86400 * 365))
    kind = rng.randrange(3)
    if kind == 0:
        return moment.strftime("%Y-%m-%d %H:%M:%S")
    if kind == 1:
        return str(int(moment.replace(tzinfo=dt.UTC).timestamp() * 1000))  # epoch millis
    return moment.strftime("%Y%m%d%H%M%S")


def amount(rng: random.Random) -> str:
    return f"{rng.randint(1, 99999)}.{rng.randint(0, 99):02d}"


def accidentally_valid(digits: str) -> bool:
    """True when a supposedly neutral number passes a card, ID, USCC or IBAN check."""
    compact = digits.replace(" ", "").replace("-", "")
    if compact.isdigit() and 13 <= len(compact) <= 19 and luhn.is_valid(compact):
        return True
    return ric.is_valid(compact) or uscc.is_valid(compact)


# --------------------------------------------------------------------------- registry

Generator = Callable[[random.Random], str]

VALID: dict[str, Generator] = {
    "cn_resident_id": cn_resident_id,
    "cn_mobile": cn_mobile,
    "cn_landline": cn_landline,
    "bank_card": bank_card,
    "cn_passport": cn_passport,
    "cn_hk_macau_permit": cn_hk_macau_permit,
    "cn_uscc": cn_uscc,
    "cn_license_plate": cn_license_plate,
    "express_waybill": express_waybill,
    "email": email,
    "phone": phone,
    "ip_address": ip_address,
    "mac_address": mac_address,
    "iban": iban,
    "us_ssn": us_ssn,
}


def _never_valid(generator: Generator) -> Generator:
    """Regenerate until the near miss is not, by chance, a valid card, ID or USCC."""

    def wrapped(rng: random.Random) -> str:
        while True:
            value = generator(rng)
            if not accidentally_valid(value):
                return value

    wrapped.__name__ = generator.__name__
    return wrapped


NEAR_MISS: dict[str, Generator] = {
    "bad_resident_id": _never_valid(bad_resident_id),
    "bad_bank_card": _never_valid(bad_bank_card),
    "bad_mobile": _never_valid(bad_mobile),
    "bad_iban": _never_valid(bad_iban),
    "bad_ssn": _never_valid(bad_ssn),
    "bad_uscc": _never_valid(bad_uscc),
    "order_number": order_number,
    "timestamp": timestamp,
    "amount": amount,
}


def _group4(number: str) -> str:
    return " ".join(number[i : i + 4] for i in range(0, len(number), 4))


def demo_generators(seed: int) -> dict[str, Generator] | None:
    """Generators backed by ``leakwarden.demo.values.Values`` (the project's one source of
    synthetic personal data), with the benchmark's formatting variations on top; ``None`` when
    the demo package is not importable.  Slots the demo does not cover keep the local
    generators: international phones outside the US, and J&T (极兔, ``JT`` + 13 digits)
    waybills, a major courier the demo does not generate.
    """
    try:
        from leakwarden.demo.values import COURIERS, Values
    except ImportError:
        return None
    v = Values(seed=seed)

    def card(rng: random.Random) -> str:
        number = v.unionpay_card() if rng.random() < 0.55 else v.us_cards(1)[0][0]
        return _group4(number) if rng.random() < 0.15 else number

    def demo_iban(rng: random.Random) -> str:
        number = v.iban()
        return _group4(number) if rng.random() < 0.4 else number

    def waybill(rng: random.Random) -> str:
        if rng.random() < 0.2:
            return express_waybill(rng)
        return str(v.waybill(rng.choice(COURIERS)))

    def ip(rng: random.Random) -> str:
        return str(v.ipv4() if rng.random() < 0.7 else v.ipv6())

    def mac(rng: random.Random) -> str:
        value = str(v.mac())
        return value.replace(":", "-") if rng.random() < 0.3 else value

    def intl_phone(rng: random.Random) -> str:
        return str(v.us_phone()) if rng.random() < 0.3 else phone(rng)

    return {
        "cn_resident_id": lambda rng: str(v.resident_id()),
        "cn_mobile": lambda rng: str(v.mobile()),
        "cn_landline": lambda rng: str(v.landline()),
        "bank_card": card,
        "cn_passport": lambda rng: str(v.passport()),
        "cn_hk_macau_permit": lambda rng: str(v.hk_macau_permit()),
        "cn_uscc": lambda rng: str(v.uscc()),
        "cn_license_plate": lambda rng: str(v.license_plate()),
        "express_waybill": waybill,
        "email": lambda rng: str(v.email(rng.choice(("zh_CN", "en_US")))),
        "phone": intl_phone,
        "ip_address": ip,
        "mac_address": mac,
        "iban": demo_iban,
        "us_ssn": lambda rng: str(v.us_ssn()),
        "person_name_zh": lambda rng: str(v.cn_name()),
        "person_name_en": lambda rng: str(v.en_name()),
        "address_zh": lambda rng: str(v.cn_address()),
        "address_en": lambda rng: str(v.us_address()),
    }
