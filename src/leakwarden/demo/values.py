"""Seeded, fast generators of format-valid synthetic personal data: the one place leakwarden
makes fake personal information (the demo company, tests, benchmarks, canary customers).

Every value passes its reference validator: resident IDs carry a real GB/T 2260 region code that
was in use in the holder's birth year, a real birth date and the GB 11643 check digit; bank cards
the Luhn digit; USCCs the GB 32100 (and GB 11714) check characters; IBANs the MOD 97-10 digits;
mobiles real MIIT segments.  Nothing here belongs to a real person except by coincidence.

Use :class:`Values`: each plural method makes ``n`` values in one vectorised pass (NumPy), each
singular method makes one.  The same seed gives the same values, call for call.

>>> v = Values(seed=7)
>>> ids = v.resident_ids(3)
>>> len(ids[0])
18
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from functools import cache

import numpy as np
import numpy.typing as npt

from leakwarden.demo import pools, regions
from leakwarden.demo.checkdigits import (
    USCC_ALPHABET,
    iban_check_digits,
    luhn_check_digits,
    org_code_check_chars,
    resident_id_check_chars,
    uscc_check_chars,
)

__all__ = ["COURIERS", "DEMO_TODAY", "WAYBILL_SHAPES", "Person", "Values"]

# The demo's "today": fixed, so the same seed gives the same ages and dates on any day.
DEMO_TODAY = date(2026, 3, 31)

COURIERS = ("SF", "JD", "YT", "ZTO")
# The waybill shapes generated per courier (regular expressions, for tests and detectors).
WAYBILL_SHAPES: dict[str, str] = {
    "SF": r"SF\d{13}",  # 顺丰: SF + 13 digits
    "JD": r"JD(?:V[A-F]\d{11}|\d{13})",  # 京东: JDVA + 11 digits, or JD + 13 digits
    "YT": r"YT\d{13}",  # 圆通: YT + 13 digits
    "ZTO": r"7[3-8]\d{12}",  # 中通: 14 digits starting 73-78
}

# IBAN layouts (ISO 13616 registry) for countries without a national check inside the BBAN:
# n = digit, a = upper-case letter, c = either.  (country, layout, bank codes to use for `a`).
_IBAN_LAYOUTS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("DE", "nnnnnnnnnnnnnnnnnn", ()),
    ("GB", "aaaannnnnnnnnnnnnn", ("NWBK", "BARC", "HBUK", "LOYD", "MIDL")),
    ("NL", "aaaannnnnnnnnn", ("ABNA", "INGB", "RABO", "SNSB")),
    ("FR", "nnnnnnnnnnnnnnnnnnnnnnn", ()),
    ("AT", "nnnnnnnnnnnnnnnn", ()),
    ("CH", "nnnnnnnnnnnnnnnnn", ()),
)
_ISP_FIRST_OCTETS = (
    36,
    39,
    42,
    58,
    59,
    60,
    61,
    101,
    106,
    110,
    112,
    113,
    114,
    115,
    116,
    117,
    118,
    119,
    120,
    121,
    122,
    123,
    124,
    125,
    180,
    182,
    183,
    211,
    218,
    221,
    222,
)
_SSN_NEVER_ISSUED = frozenset({"078-05-1120", "219-09-9999", "457-55-5462"})
_LETTERS_NO_IO = np.frombuffer(b"ABCDEFGHJKLMNPQRSTUVWXYZ", dtype=np.uint8)

Indices = npt.NDArray[np.int64]
Days = npt.NDArray[np.datetime64]
Ascii = npt.NDArray[np.uint8]


def _strings(matrix: npt.NDArray[np.uint8]) -> list[str]:
    """Rows of ASCII codes → Python strings."""
    matrix = np.ascontiguousarray(matrix, dtype=np.uint8)
    width = matrix.shape[1]
    return [b.decode("ascii") for b in matrix.view(f"S{width}").ravel().tolist()]


def _ascii(strings: Sequence[str], width: int) -> Ascii:
    """Equal-length ASCII strings → a matrix of their codes."""
    return np.frombuffer("".join(strings).encode("ascii"), dtype=np.uint8).reshape(-1, width)


def _scramble(serial: int) -> int:
    """A bijection of [0, 10**k) for every k <= 19 (odd multiplier not divisible by 5), so
    serials below 10**k give distinct k-digit tails that do not look sequential."""
    return (serial * 2_862_933_555_777_941_757 + 3_037_000_493) % 10**19


def _take(words: Sequence[str], idx: npt.NDArray[np.integer]) -> list[str]:
    return [words[i] for i in idx.tolist()]


@cache
def _address_heads() -> tuple[str, ...]:
    """Per county: "广东省深圳市南山区", "北京市朝阳区", "湖北省仙桃市" (no name repeated)."""
    heads: list[str] = []
    for c in regions.counties():
        head = c.province if c.province == c.city else c.province + c.city
        heads.append(head if c.district == c.city else head + c.district)
    return tuple(heads)


@cache
def _county_index() -> dict[str, int]:
    return {c.code: i for i, c in enumerate(regions.counties())}


@cache
def _code_validity() -> npt.NDArray[np.bool_]:
    """valid[county index, year - 1900]: may an ID of someone born that year carry the code."""
    table = np.zeros((len(regions.counties()), 131), dtype=np.bool_)
    for i, county in enumerate(regions.counties()):
        for start, end in county.spans:
            lo = 0 if start is None else max(start - 1900, 0)
            hi = 130 if end is None else min(end - 1900, 130)
            table[i, lo : hi + 1] = True
    return table


@cache
def _codes_of_year(year: int) -> dict[str, tuple[str, ...]]:
    """Codes usable in ``year`` grouped by prefecture (4 digits), province (2) and all ("")."""
    groups: dict[str, list[str]] = {"": []}
    for code in regions.county_codes_by_year(year):
        for key in (code[:4], code[:2], ""):
            groups.setdefault(key, []).append(code)
    return {k: tuple(v) for k, v in groups.items()}


class Person:
    """A synthetic person's core identity, consistent across fields (see :meth:`Values.people`)."""

    __slots__ = (
        "address",
        "birth_date",
        "city",
        "district",
        "email",
        "gender",
        "id_number",
        "locale",
        "mobile",
        "name",
        "province",
    )

    def __init__(self, **fields: object) -> None:
        for key, value in fields.items():
            setattr(self, key, value)

    name: str
    gender: str  # "M" or "F"
    birth_date: date
    id_number: str  # Chinese resident ID (zh_CN) or US SSN (en_US)
    mobile: str
    email: str
    address: str
    province: str
    city: str
    district: str
    locale: str  # "zh_CN" or "en_US"

    def __repr__(self) -> str:
        return f"Person({self.name!r}, {self.locale}, {self.id_number[:6]}…)"


class Values:
    """Seeded generator of format-valid synthetic values.

    Plural methods (``mobiles(n)``) return lists of ``n`` strings from vectorised draws; the
    singular ones (``mobile()``) return one value.  ``Values(seed)`` is deterministic: the same
    sequence of calls gives the same values.
    """

    def __init__(self, seed: int | Sequence[int] = 0) -> None:
        self.rng = np.random.default_rng(seed)

    # ---- small helpers --------------------------------------------------------------------
    def _digits(self, n: int, width: int, low: int = 0) -> npt.NDArray[np.uint8]:
        return self.rng.integers(low, 10, size=(n, width), dtype=np.uint8)

    def _pick(self, n: int, weights: dict[str, float]) -> list[str]:
        keys = list(weights)
        p = np.array([weights[k] for k in keys], dtype=np.float64)
        idx = self.rng.choice(len(keys), size=n, p=p / p.sum())
        return [keys[i] for i in idx]

    def genders(self, n: int) -> list[str]:
        """``"M"`` or ``"F"``, equally likely."""
        return ["M" if m else "F" for m in self.rng.random(n) < 0.5]

    # ---- dates ----------------------------------------------------------------------------
    def birth_dates(self, n: int, min_age: int = 18, max_age: int = 80) -> list[date]:
        """Birth dates of adults, ages clustered around 35 (as of ``DEMO_TODAY``)."""
        births: list[date] = self._birth_days(n, min_age, max_age).tolist()
        return births

    def _birth_days(self, n: int, min_age: int = 18, max_age: int = 80) -> Days:
        # A few days past min_age, so "18 years old" holds by calendar too, not just in days.
        ages = np.clip(self.rng.normal(36.0, 12.0, n), min_age + 0.01, max_age + 0.99)
        days = (ages * 365.2425).astype(np.int64)
        return np.datetime64(DEMO_TODAY, "D") - days.astype("timedelta64[D]")

    def datetimes(self, n: int, start: datetime, end: datetime) -> list[datetime]:
        """Uniform timestamps (whole seconds) in ``[start, end)``."""
        span = int((end - start).total_seconds())
        offsets = self.rng.integers(0, max(span, 1), size=n)
        return [start + timedelta(seconds=int(s)) for s in offsets]

    # ---- Chinese identity -----------------------------------------------------------------
    def counties(self, n: int) -> list[regions.County]:
        """County-level regions where people live, weighted by province population."""
        table = regions.counties()
        idx = self.rng.choice(len(table), size=n, p=np.array(regions.province_weights()))
        return [table[i] for i in idx]

    def _county_indices(self, n: int) -> Indices:
        table = regions.counties()
        return self.rng.choice(len(table), size=n, p=np.array(regions.province_weights()))

    def _id_regions(self, county_idx: Indices, births: Days, moved: float) -> list[str]:
        """The region code on each person's ID: where they live when that code existed at their
        birth (and they have not ``moved``), else a code of that year nearby, else anywhere."""
        table = regions.counties()
        years = births.astype("datetime64[Y]").astype(np.int64) + 1970
        ok = _code_validity()[county_idx, np.clip(years - 1900, 0, 130)].tolist()
        moved_mask = (self.rng.random(len(births)) < moved).tolist()
        pick = self.rng.random(len(births)).tolist()
        codes: list[str] = []
        for c, year, fits, gone, u in zip(county_idx.tolist(), years.tolist(), ok, moved_mask,
                                          pick, strict=True):  # fmt: skip
            code = table[c].code
            if fits and not gone:
                codes.append(code)
                continue
            groups = _codes_of_year(year)
            key = "" if gone else code[:4] if code[:4] in groups else code[:2]
            options = groups.get(key) or groups[""]
            codes.append(options[int(u * len(options))])
        return codes

    def _resident_ids(self, codes: Sequence[str], births: Days, males: Sequence[bool]) -> list[str]:
        n = len(codes)
        body = np.empty((n, 18), dtype=np.uint8)
        body[:, :6] = _ascii(codes, 6)
        iso = np.datetime_as_string(births).astype("S10")
        body[:, 6:14] = iso.view(np.uint8).reshape(n, 10)[:, [0, 1, 2, 3, 5, 6, 8, 9]]
        # Order code: three digits, odd for men, even for women, never 000.
        seq = self.rng.integers(1, 500, size=n) * 2 - np.array(males, dtype=np.int64)
        body[:, 14] = seq // 100 + 48
        body[:, 15] = seq // 10 % 10 + 48
        body[:, 16] = seq % 10 + 48
        body[:, 17] = resident_id_check_chars(body[:, :17] - 48)
        return _strings(body)

    def resident_ids(
        self,
        n: int,
        *,
        births: Sequence[date] | None = None,
        genders: Sequence[str] | None = None,
        region_codes: Sequence[str] | None = None,
    ) -> list[str]:
        """Chinese resident ID numbers (GB 11643).  Pass births/genders/region codes to make
        the numbers agree with a person; a region code must have been in use in the birth year
        for the number to validate."""
        days = self._birth_days(n) if births is None else np.array(births, dtype="datetime64[D]")
        genders = genders if genders is not None else self.genders(n)
        if region_codes is None:
            region_codes = self._id_regions(self._county_indices(n), days, moved=0.0)
        return self._resident_ids(region_codes, days, [g == "M" for g in genders])

    def resident_id(self) -> str:
        return self.resident_ids(1)[0]

    def cn_names(self, n: int, genders: Sequence[str] | None = None) -> list[str]:
        """Chinese full names, surnames weighted by frequency, given names by gender."""
        return [name for name, _ascii_form in self._cn_names(n, genders)]

    def cn_name(self) -> str:
        return self.cn_names(1)[0]

    def _cn_names(self, n: int, genders: Sequence[str] | None) -> list[tuple[str, str]]:
        """(name, pinyin without spaces) pairs."""
        genders = genders if genders is not None else self.genders(n)
        surnames = pools.cn_surnames()
        s_idx = self.rng.choice(len(surnames.names), size=n, p=surnames.p).tolist()
        two_chars = (self.rng.random(n) < 0.7).tolist()
        picks = self.rng.random((n, 2)).tolist()
        s_names, s_ascii = surnames.names, surnames.ascii
        given = {True: pools.cn_given_names(True), False: pools.cn_given_names(False)}
        out: list[tuple[str, str]] = []
        for i in range(n):
            pool = given[genders[i] == "M"]
            size = len(pool.names)
            a = int(picks[i][0] * size)
            name, romanised = pool.names[a], pool.ascii[a]
            if two_chars[i] and len(name) == 1:
                b = int(picks[i][1] * size)
                if len(pool.names[b]) == 1 and b != a:
                    name, romanised = name + pool.names[b], romanised + pool.ascii[b]
            s = s_idx[i]
            out.append((s_names[s] + name, s_ascii[s] + romanised))
        return out

    def mobiles(self, n: int) -> list[str]:
        """Mainland mobile numbers (11 digits, real 13x-19x segments)."""
        body = np.empty((n, 11), dtype=np.uint8)
        body[:, :3] = _ascii(self._pick(n, pools.MOBILE_SEGMENTS), 3)
        body[:, 3:] = self._digits(n, 8) + 48
        return _strings(body)

    def mobile(self) -> str:
        return self.mobiles(1)[0]

    def landlines(self, n: int, counties: Sequence[regions.County] | None = None) -> list[str]:
        """Fixed-line numbers such as ``0755-86234567``, area code of the given (or a random)
        county's city."""
        counties = counties if counties is not None else self.counties(n)
        first = self.rng.integers(2, 8, size=n).tolist()  # 8xx and 9xx hold special services
        rest = self.rng.integers(0, 10**7, size=n).tolist()
        out: list[str] = []
        for county, head, tail in zip(counties, first, rest, strict=True):
            code, length = regions.area_code_for(county)
            width = length - 1
            out.append(f"{code}-{head}{tail % 10**width:0{width}d}")
        return out

    def landline(self) -> str:
        return self.landlines(1)[0]

    def cn_addresses(self, counties: Sequence[regions.County]) -> list[str]:
        """Full postal addresses inside each county: province, city, district, road, number,
        housing estate, building, unit, room."""
        index = _county_index()
        return self._cn_addresses(np.array([index[c.code] for c in counties], dtype=np.int64))

    def _cn_addresses(self, county_idx: Indices) -> list[str]:
        n = len(county_idx)
        heads = _address_heads()
        r = self.rng
        roads = [
            w + x
            for w, x in zip(
                _take(pools.ROAD_WORDS, r.integers(0, len(pools.ROAD_WORDS), n)),
                _take(pools.ROAD_SUFFIXES, r.integers(0, len(pools.ROAD_SUFFIXES), n)),
                strict=True,
            )
        ]
        estates = [
            w + x
            for w, x in zip(
                _take(pools.COMMUNITY_WORDS, r.integers(0, len(pools.COMMUNITY_WORDS), n)),
                _take(pools.COMMUNITY_SUFFIXES, r.integers(0, len(pools.COMMUNITY_SUFFIXES), n)),
                strict=True,
            )
        ]
        numbers = r.integers(1, 999, (n, 5)).tolist()
        return [
            f"{heads[c]}{road}{num[0]}号{estate}"
            f"{num[1] % 30 + 1}栋{num[2] % 6 + 1}单元{num[3] % 32 + 1}{num[4] % 4 + 1:02d}室"
            for c, road, estate, num in zip(
                county_idx.tolist(), roads, estates, numbers, strict=True
            )
        ]

    def cn_address(self) -> str:
        return self.cn_addresses(self.counties(1))[0]

    def emails(self, n: int, locale: str = "zh_CN") -> list[str]:
        """Personal e-mail addresses built from a random name of the locale."""
        if locale == "zh_CN":
            romanised = [a for _n, a in self._cn_names(n, None)]
            return self._emails(romanised, "zh_CN")
        people = self._en_names(n, self.genders(n))
        return self._emails([f"{first}.{last}" for _n, first, last in people], "en_US")

    def _emails(self, local_parts: Sequence[str], locale: str) -> list[str]:
        n = len(local_parts)
        weights = pools.CN_EMAIL_DOMAINS if locale == "zh_CN" else pools.EN_EMAIL_DOMAINS
        domains = self._pick(n, weights)
        suffix = self.rng.integers(0, 10000, n).tolist()
        style = self.rng.random(n).tolist()
        qq = self.rng.integers(10_000_000, 3_999_999_999, n).tolist()
        out: list[str] = []
        for local, domain, st, sx, q in zip(local_parts, domains, style, suffix, qq, strict=True):
            if domain == "qq.com" and st < 0.7:
                out.append(f"{q}@qq.com")
            elif st < 0.5:
                out.append(f"{local}{sx % 100}@{domain}")
            elif st < 0.8:
                out.append(f"{local}@{domain}")
            else:
                out.append(f"{local}{1960 + sx % 50}@{domain}")
        return out

    def email(self, locale: str = "zh_CN") -> str:
        return self.emails(1, locale)[0]

    # ---- International identity -----------------------------------------------------------
    def _en_names(self, n: int, genders: Sequence[str]) -> list[tuple[str, str, str]]:
        """(display name, first lower-case, last lower-case)."""
        male_pool, female_pool = pools.en_first_names(True), pools.en_first_names(False)
        last = pools.en_last_names()
        m_idx = self.rng.choice(len(male_pool.names), size=n, p=male_pool.p)
        f_idx = self.rng.choice(len(female_pool.names), size=n, p=female_pool.p)
        l_idx = self.rng.choice(len(last.names), size=n, p=last.p)
        out: list[tuple[str, str, str]] = []
        for i in range(n):
            pool, j = (male_pool, m_idx[i]) if genders[i] == "M" else (female_pool, f_idx[i])
            out.append(
                (f"{pool.names[j]} {last.names[l_idx[i]]}", pool.ascii[j], last.ascii[l_idx[i]])
            )
        return out

    def en_names(self, n: int, genders: Sequence[str] | None = None) -> list[str]:
        """US-style "First Last" names weighted by census frequency."""
        genders = genders if genders is not None else self.genders(n)
        return [full for full, _f, _l in self._en_names(n, genders)]

    def en_name(self) -> str:
        return self.en_names(1)[0]

    def us_ssns(self, n: int) -> list[str]:
        """US Social Security numbers ``AAA-GG-SSSS`` from issuable ranges (no 000, 666, 9xx)."""
        area = self.rng.integers(1, 899, n)
        area = area + (area >= 666)
        group = self.rng.integers(1, 100, n)
        serial = self.rng.integers(1, 10000, n)
        out = [f"{a:03d}-{g:02d}-{s:04d}" for a, g, s in zip(area, group, serial, strict=True)]
        return [s if s not in _SSN_NEVER_ISSUED else "123-45-6780" for s in out]

    def us_ssn(self) -> str:
        return self.us_ssns(1)[0]

    def us_phones(self, n: int, cities: Sequence[int] | None = None) -> list[str]:
        """US numbers in international format, ``+1 212-734-0195``, area code of the city
        (an index into ``pools.US_CITIES``) or a random one."""
        city_idx = cities if cities is not None else self.rng.integers(0, len(pools.US_CITIES), n)
        exchange = self.rng.integers(200, 1000, n)
        exchange = np.where((exchange % 100 == 11) | (exchange == 555), exchange + 1, exchange)
        line = self.rng.integers(0, 10000, n)
        pick = self.rng.random(n)
        out: list[str] = []
        for i in range(n):
            codes = pools.US_CITIES[int(city_idx[i])][2]
            out.append(f"+1 {codes[int(pick[i] * len(codes))]}-{exchange[i]}-{line[i]:04d}")
        return out

    def us_phone(self) -> str:
        return self.us_phones(1)[0]

    def us_addresses(self, n: int, cities: Sequence[int] | None = None) -> list[str]:
        """``1234 Oak St, Boston, MA 02134`` in a real city with a ZIP of that city's prefix."""
        city_idx = cities if cities is not None else self.rng.integers(0, len(pools.US_CITIES), n)
        number = self.rng.integers(10, 9999, n)
        street = self.rng.integers(0, len(pools.US_STREETS), n)
        suffix = self.rng.integers(0, len(pools.US_STREET_SUFFIXES), n)
        zip_tail = self.rng.integers(1, 100, n)
        out: list[str] = []
        for i in range(n):
            city, state, _codes, zip3 = pools.US_CITIES[int(city_idx[i])]
            out.append(
                f"{number[i]} {pools.US_STREETS[street[i]]} "
                f"{pools.US_STREET_SUFFIXES[suffix[i]]}, {city}, {state} {zip3}{zip_tail[i]:02d}"
            )
        return out

    def us_address(self) -> str:
        return self.us_addresses(1)[0]

    def passports(self, n: int) -> list[str]:
        """Chinese ordinary passport numbers: E + 8 digits, E + letter + 7 digits, G + 8."""
        body = self._digits(n, 9) + 48
        kind = self.rng.random(n)
        body[:, 0] = np.where(kind < 0.9, ord("E"), ord("G"))
        lettered = kind < 0.4
        body[lettered, 1] = _LETTERS_NO_IO[self.rng.integers(0, 24, int(lettered.sum()))]
        return _strings(body)

    def passport(self) -> str:
        return self.passports(1)[0]

    def hk_macau_permits(self, n: int) -> list[str]:
        """Exit-Entry Permits for Travelling to and from Hong Kong and Macao (往来港澳通行证):
        C + 8 digits, or C + letter + 7 digits."""
        body = self._digits(n, 9) + 48
        body[:, 0] = ord("C")
        lettered = self.rng.random(n) < 0.3
        body[lettered, 1] = _LETTERS_NO_IO[self.rng.integers(0, 24, int(lettered.sum()))]
        return _strings(body)

    def hk_macau_permit(self) -> str:
        return self.hk_macau_permits(1)[0]

    # ---- Money ----------------------------------------------------------------------------
    def _cards(self, prefixes: Sequence[str], lengths: Sequence[int]) -> list[str]:
        out: list[str] = [""] * len(prefixes)
        for length in set(lengths):
            rows = [i for i, size in enumerate(lengths) if size == length]
            body = self._digits(len(rows), length - 1)
            body[:, :6] = _ascii([prefixes[i] for i in rows], 6) - 48
            check = luhn_check_digits(body)
            full = np.concatenate([body + 48, check[:, None]], axis=1).astype(np.uint8)
            for i, card in zip(rows, _strings(full), strict=True):
                out[i] = card
        return out

    def bank_cards(
        self, n: int, banks: Sequence[pools.Bank] = pools.CN_BANKS
    ) -> list[tuple[str, str]]:
        """(card number, bank name) pairs; by default UnionPay cards of Chinese banks (62...,
        16 or 19 digits, Luhn)."""
        bank_idx = self.rng.integers(0, len(banks), n)
        pick = self.rng.random((n, 2))
        prefixes: list[str] = []
        lengths: list[int] = []
        for i in range(n):
            bank = banks[bank_idx[i]]
            prefixes.append(bank.bins[int(pick[i, 0] * len(bank.bins))])
            lengths.append(bank.lengths[int(pick[i, 1] * len(bank.lengths))])
        numbers = self._cards(prefixes, lengths)
        return [(card, banks[b].name) for card, b in zip(numbers, bank_idx, strict=True)]

    def unionpay_card(self) -> str:
        return self.bank_cards(1)[0][0]

    def us_cards(self, n: int) -> list[tuple[str, str]]:
        """Visa / Mastercard numbers (16 digits, Luhn) of US issuers, with the bank name."""
        return self.bank_cards(n, pools.US_BANKS)

    def card_expiries(self, n: int) -> list[str]:
        """``MM/YY`` expiry dates from next month to five years ahead."""
        months = self.rng.integers(1, 61, n) + DEMO_TODAY.year * 12 + DEMO_TODAY.month - 1
        return [f"{m % 12 + 1:02d}/{m // 12 % 100:02d}" for m in months]

    def ibans(self, n: int) -> list[str]:
        """IBANs (MOD 97-10) of DE, GB, NL, FR, AT and CH layouts, without spaces."""
        which = self.rng.integers(0, len(_IBAN_LAYOUTS), n)
        out: list[str] = []
        for k in which:
            country, layout, bank_codes = _IBAN_LAYOUTS[k]
            digits = "".join(map(str, self.rng.integers(0, 10, len(layout))))
            bban = digits
            if bank_codes:
                code = bank_codes[int(self.rng.integers(0, len(bank_codes)))]
                bban = code + digits[len(code) :]
            out.append(country + iban_check_digits(country, bban) + bban)
        return out

    def iban(self) -> str:
        return self.ibans(1)[0]

    def usccs(self, n: int, region_codes: Sequence[str] | None = None) -> list[str]:
        """Unified social credit codes (GB 32100): registration authority and kind, region
        code, a GB 11714 organisation code with its check character, and the check character."""
        if region_codes is None:
            region_codes = [c.code for c in self.counties(n)]
        kinds = self._pick(n, {"91": 8.0, "92": 1.0, "12": 0.5, "52": 0.5, "93": 0.3})
        index = {ch: i for i, ch in enumerate(USCC_ALPHABET)}
        values = np.empty((n, 17), dtype=np.int64)
        values[:, :2] = [[index[k[0]], index[k[1]]] for k in kinds]
        values[:, 2:8] = _ascii(region_codes, 6) - 48
        values[:, 8:16] = self._digits(n, 8)
        org_check = org_code_check_chars(values[:, 8:16])
        values[:, 16] = [index[chr(c)] for c in org_check]
        chars = np.frombuffer(USCC_ALPHABET.encode(), dtype=np.uint8)[values]
        full = np.concatenate([chars, uscc_check_chars(values)[:, None]], axis=1)
        return _strings(full)

    def uscc(self) -> str:
        return self.usccs(1)[0]

    # ---- Things ---------------------------------------------------------------------------
    def license_plates(
        self, n: int, counties: Sequence[regions.County] | None = None, new_energy: float = 0.2
    ) -> list[str]:
        """Licence plates of the county's province: 粤B12345 / 粤BD12345 (new energy)."""
        counties = counties if counties is not None else self.counties(n)
        city_letter = _LETTERS_NO_IO[self.rng.integers(0, 8, n)]  # A-H: the big cities
        chars = self._digits(n, 5) + 48
        letters = self.rng.random((n, 5)) < 0.12
        chars[letters] = _LETTERS_NO_IO[self.rng.integers(0, 24, int(letters.sum()))]
        digits = self._digits(n, 5) + 48
        nev = self.rng.random(n) < new_energy
        nev_kind = np.where(self.rng.random(n) < 0.7, ord("D"), ord("F"))
        out: list[str] = []
        for i, county in enumerate(counties):
            head = regions.PLATE_PREFIX[county.province_code] + chr(city_letter[i])
            if nev[i]:  # small new-energy car: D (electric) / F (hybrid), one more, four digits
                tail = chr(nev_kind[i]) + chr(chars[i, 0]) + digits[i, :4].tobytes().decode()
            else:
                tail = chars[i].tobytes().decode()
            out.append(head + tail)
        return out

    def license_plate(self) -> str:
        return self.license_plates(1)[0]

    def waybills(
        self, n: int, couriers: Sequence[str] | None = None, serials: Sequence[int] | None = None
    ) -> list[str]:
        """Express waybill numbers of the given couriers (see ``WAYBILL_SHAPES``).  With
        ``serials`` (distinct integers, e.g. order ids) the numbers are distinct too: the digits
        are a bijective scramble of the serial instead of random."""
        if couriers is None:
            couriers = self._pick(n, dict.fromkeys(COURIERS, 1.0))
        randoms = self.rng.integers(0, 10**13, n).tolist()
        style = self.rng.integers(0, 12, n).tolist()
        out: list[str] = []
        for i, courier in enumerate(couriers):

            def digits(width: int, i: int = i) -> str:
                value = randoms[i] if serials is None else _scramble(serials[i])
                return f"{value % 10**width:0{width}d}"

            if courier in ("SF", "YT"):
                out.append(courier + digits(13))
            elif courier == "JD":
                jdv = style[i] < 6
                out.append(f"JDV{'ABCDEF'[style[i]]}{digits(11)}" if jdv else "JD" + digits(13))
            elif courier == "ZTO":
                out.append(f"7{3 + style[i] % 6}{digits(12)}")
            else:
                raise ValueError(f"unknown courier {courier!r}; expected one of {COURIERS}")
        return out

    def waybill(self, courier: str = "SF") -> str:
        return self.waybills(1, [courier])[0]

    def ipv4s(self, n: int, private: float = 0.2) -> list[str]:
        """IPv4 addresses: public ones from ranges Chinese ISPs hold, some RFC 1918."""
        firsts = np.array(_ISP_FIRST_OCTETS)
        octets = self.rng.integers(0, 256, size=(n, 4))
        octets[:, 0] = firsts[self.rng.integers(0, len(firsts), n)]
        octets[:, 3] = np.clip(octets[:, 3], 1, 254)
        internal = self.rng.random(n) < private
        octets[internal, 0] = 10
        return [".".join(map(str, row)) for row in octets.tolist()]

    def ipv4(self) -> str:
        return self.ipv4s(1)[0]

    def ipv6s(self, n: int) -> list[str]:
        """Global IPv6 addresses in Chinese carriers' blocks (240e:, 2408:, 2409:), compressed."""
        heads = (0x240E, 0x2408, 0x2409)
        head = self.rng.integers(0, 3, n)
        words = self.rng.integers(0, 65536, size=(n, 7), dtype=np.int64)
        words[:, 3:5] = np.where(self.rng.random((n, 1)) < 0.3, 0, words[:, 3:5])
        out: list[str] = []
        for i in range(n):
            value = heads[head[i]]
            for word in words[i].tolist():
                value = (value << 16) | word
            out.append(str(ipaddress.IPv6Address(value)))
        return out

    def ipv6(self) -> str:
        return self.ipv6s(1)[0]

    def macs(self, n: int) -> list[str]:
        """Unicast, globally administered MAC addresses, ``3C:5A:B4:0F:12:9E``."""
        octets = self.rng.integers(0, 256, size=(n, 6))
        octets[:, 0] &= 0xFC
        return [":".join(f"{o:02X}" for o in row) for row in octets.tolist()]

    def mac(self) -> str:
        return self.macs(1)[0]

    # ---- Whole people ---------------------------------------------------------------------
    def people(self, n: int, en_share: float = 0.08, moved: float = 0.25) -> list[Person]:
        """Consistent synthetic people: a zh_CN person's ID carries their birth date, gender and
        (unless they ``moved``) their home county's code; names, e-mail and address agree."""
        cols = self.people_columns(n, en_share=en_share, moved=moved)
        keys = list(cols)
        return [
            Person(**dict(zip(keys, row, strict=True))) for row in zip(*cols.values(), strict=True)
        ]

    def person(self, locale: str = "zh_CN") -> Person:
        return self.people(1, en_share=1.0 if locale == "en_US" else 0.0)[0]

    def people_columns(
        self, n: int, en_share: float = 0.08, moved: float = 0.25
    ) -> dict[str, list[object]]:
        """Like :meth:`people` but column-wise (one list per field), which is faster in bulk."""
        genders = self.genders(n)
        days = self._birth_days(n)
        is_en = self.rng.random(n) < en_share
        cols: dict[str, list[object]] = {"gender": list(genders), "birth_date": days.tolist()}
        cols["locale"] = ["en_US" if e else "zh_CN" for e in is_en.tolist()]
        parts = []
        for en in (False, True):
            rows = np.flatnonzero(is_en == en)
            if len(rows):
                sub = [genders[i] for i in rows.tolist()]
                part = self._en_columns(sub) if en else self._zh_columns(sub, days[rows], moved)
                parts.append((rows, part))
        for key in ("name", "id_number", "mobile", "email", "address", "province", "city",
                    "district"):  # fmt: skip
            if len(parts) == 1:
                cols[key] = list(parts[0][1][key])
                continue
            column: list[object] = [None] * n
            for rows, part in parts:
                for row, value in zip(rows.tolist(), part[key], strict=True):
                    column[row] = value
            cols[key] = column
        return cols

    def _zh_columns(self, genders: list[str], births: Days, moved: float) -> dict[str, list[str]]:
        n = len(genders)
        county_idx = self._county_indices(n)
        table = regions.counties()
        counties = [table[c] for c in county_idx.tolist()]
        names = self._cn_names(n, genders)
        codes = self._id_regions(county_idx, births, moved)
        return {
            "name": [nm for nm, _a in names],
            "id_number": self._resident_ids(codes, births, [g == "M" for g in genders]),
            "mobile": self.mobiles(n),
            "email": self._emails([a for _n, a in names], "zh_CN"),
            "address": self._cn_addresses(county_idx),
            "province": [c.province for c in counties],
            "city": [c.city for c in counties],
            "district": [c.district for c in counties],
        }

    def _en_columns(self, genders: list[str]) -> dict[str, list[str]]:
        n = len(genders)
        city_idx = self.rng.integers(0, len(pools.US_CITIES), n).tolist()
        names = self._en_names(n, genders)
        return {
            "name": [full for full, _f, _l in names],
            "id_number": self.us_ssns(n),
            "mobile": self.us_phones(n, city_idx),
            "email": self._emails([f"{f}.{last}" for _n, f, last in names], "en_US"),
            "address": self.us_addresses(n, city_idx),
            "province": [pools.US_CITIES[c][1] for c in city_idx],
            "city": [pools.US_CITIES[c][0] for c in city_idx],
            "district": [""] * n,
        }
