"""Real Chinese administrative regions for the demo: province → city → district, with codes.

The table is read from python-stdnum's ``cn/loc.dat`` (GB/T 2260 region codes with the years
each code was in use), the same data ``stdnum.cn.ric`` validates resident IDs against, so an ID
built from a code here is accepted by the reference validator when the birth year falls inside
one of the code's years.  This module also holds the small hand-kept facts stdnum does not carry:
licence-plate abbreviations, rough 2020-census populations (to weight where customers live) and
landline area codes (read from phonenumbers' geocoder, not typed in).
"""

from __future__ import annotations

import importlib.resources
from dataclasses import dataclass
from functools import cache

import numpy as np
import numpy.typing as npt

__all__ = [
    "PLATE_PREFIX",
    "County",
    "area_code_for",
    "counties",
    "county_codes_by_year",
    "province_weights",
]

# Years and name of each use of a code: "[1983-1986]郊区,[1987-]白云区" gives
# [(1983, 1986, "郊区"), (1987, None, "白云区")].
_Span = tuple[int | None, int | None, str]

# Province-level abbreviations used on licence plates (GA 36), keyed by the region code's first
# two digits.
PLATE_PREFIX: dict[str, str] = {
    "11": "京", "12": "津", "13": "冀", "14": "晋", "15": "蒙", "21": "辽", "22": "吉", "23": "黑",
    "31": "沪", "32": "苏", "33": "浙", "34": "皖", "35": "闽", "36": "赣", "37": "鲁", "41": "豫",
    "42": "鄂", "43": "湘", "44": "粤", "45": "桂", "46": "琼", "50": "渝", "51": "川", "52": "贵",
    "53": "云", "54": "藏", "61": "陕", "62": "甘", "63": "青", "64": "宁", "65": "新",
}  # fmt: skip

# Resident population in millions, 7th national census (2020), rounded; only used as weights.
_POPULATION: dict[str, float] = {
    "11": 21.9, "12": 13.9, "13": 74.6, "14": 34.9, "15": 24.0, "21": 42.6, "22": 24.1,
    "23": 31.9, "31": 24.9, "32": 84.7, "33": 64.6, "34": 61.0, "35": 41.5, "36": 45.2,
    "37": 101.5, "41": 99.4, "42": 57.8, "43": 66.4, "44": 126.0, "45": 50.1, "46": 10.1,
    "50": 32.1, "51": 83.7, "52": 38.6, "53": 47.2, "54": 3.6, "61": 39.5, "62": 25.0,
    "63": 5.9, "64": 7.2, "65": 25.9,
}  # fmt: skip

_MUNICIPALITIES = {"11", "12", "31", "50"}
# Names in the table that are bookkeeping entries, not places a person lives in.
_BOOKKEEPING = frozenset({"市辖区", "市区", "郊区", "县", "矿区"})


def _is_place(name: str) -> bool:
    return name not in _BOOKKEEPING and not any(
        word in name for word in ("办事处", "行政单位", "区划", "直辖")
    )


@dataclass(frozen=True, slots=True)
class County:
    """One current county-level region (区/县/县级市) with the names above it."""

    code: str  # six digits, GB/T 2260
    province: str
    city: str
    district: str
    spans: tuple[tuple[int | None, int | None], ...]  # years the code was in use

    @property
    def province_code(self) -> str:
        return self.code[:2]

    def valid_in(self, year: int) -> bool:
        """Whether an ID issued to someone born in ``year`` may carry this code."""
        return any((s is None or s <= year) and (e is None or year <= e) for s, e in self.spans)


def _parse_spans(value: str) -> list[_Span]:
    spans: list[_Span] = []
    for part in value.split(","):
        if part.startswith("["):
            years, name = part[1:].split("]", 1)
            start, end = years.split("-")
            spans.append((int(start) if start else None, int(end) if end else None, name))
        else:
            spans.append((None, None, part))
    return spans


def _current_name(spans: list[_Span]) -> str | None:
    for _start, end, name in spans:
        if end is None:
            return name
    return None


@cache
def _all_codes() -> tuple[tuple[str, str, tuple[_Span, ...]], ...]:
    """Every (code, province name, spans) row of stdnum's cn/loc.dat, provinces 11-65."""
    text = (importlib.resources.files("stdnum.cn") / "loc.dat").read_text(encoding="utf-8")
    rows: list[tuple[str, str, tuple[_Span, ...]]] = []
    province_code, province = "", ""
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if not line.startswith(" "):
            province_code, _, rest = line.partition(" ")
            province = rest.split('"')[1]
            continue
        suffix, _, rest = line.strip().partition(" ")
        if not rest.startswith('county="') or province_code not in _POPULATION:
            continue
        rows.append((province_code + suffix, province, tuple(_parse_spans(rest.split('"')[1]))))
    return tuple(rows)


@cache
def counties() -> tuple[County, ...]:
    """The current county-level regions of mainland China, in code order (about 2,800)."""
    prefecture: dict[str, str] = {}
    for code, _province, spans in _all_codes():
        if code.endswith("00") and not code.endswith("0000"):
            name = _current_name(list(spans))
            if name:
                prefecture[code[:4]] = name
    result: list[County] = []
    for code, province, spans in _all_codes():
        if code.endswith("00"):
            continue
        name = _current_name(list(spans))
        if not name or not _is_place(name):
            continue
        if code[:2] in _MUNICIPALITIES:
            city = province
        else:
            city = prefecture.get(code[:4], "")
            if not _is_place(city):
                city = name  # 省直辖县级市 such as 仙桃市: the county is its own city
        years = tuple((s, e) for s, e, _n in spans)
        result.append(County(code, province, city, name, years))
    return tuple(result)


@cache
def _historic_places() -> tuple[tuple[str, tuple[tuple[int | None, int | None], ...]], ...]:
    """(code, years in use) of every county-level code that ever named a place."""
    return tuple(
        (code, tuple((s, e) for s, e, _n in spans))
        for code, _province, spans in _all_codes()
        if not code.endswith("00") and all(_is_place(n) for _s, _e, n in spans)
    )


@cache
def _historic_years() -> tuple[tuple[str, ...], npt.NDArray[np.bool_]]:
    """All historic place codes and valid[code, year - 1900] for years 1900-2030."""
    places = _historic_places()
    valid = np.zeros((len(places), 131), dtype=np.bool_)
    for i, (_code, spans) in enumerate(places):
        for start, end in spans:
            lo = 0 if start is None else max(start - 1900, 0)
            hi = 130 if end is None else min(end - 1900, 130)
            valid[i, lo : hi + 1] = True
    return tuple(code for code, _s in places), valid


@cache
def county_codes_by_year(year: int) -> tuple[str, ...]:
    """Every county-level code (current or historic) a resident ID of someone born in ``year``
    may carry; used for people whose ID was issued somewhere other than where they live now."""
    codes, valid = _historic_years()
    column = valid[:, min(max(year - 1900, 0), 130)]
    return tuple(code for code, ok in zip(codes, column.tolist(), strict=True) if ok)


@cache
def province_weights() -> tuple[float, ...]:
    """A weight per entry of :func:`counties`: its province's population shared equally among
    the province's counties, so customers cluster where people live."""
    per_province: dict[str, int] = {}
    for county in counties():
        per_province[county.province_code] = per_province.get(county.province_code, 0) + 1
    raw = [_POPULATION[c.province_code] / per_province[c.province_code] for c in counties()]
    total = sum(raw)
    return tuple(w / total for w in raw)


@cache
def _area_codes() -> dict[str, tuple[str, int]]:
    """Landline area code (with its leading 0) and subscriber-number length per city name, and
    per province as a fallback, read from the Chinese descriptions in phonenumbers' geocoder."""
    import phonenumbers
    from phonenumbers import geocoder

    by_place: dict[str, tuple[str, int]] = {}
    candidates = ["10", *(f"2{i}" for i in range(10)), *(str(i) for i in range(300, 1000))]
    for code in candidates:
        for length in (8, 7):
            number = phonenumbers.parse(f"+86{code}{'62345678'[:length]}")
            if phonenumbers.is_valid_number(number):
                break
        else:
            continue
        place = geocoder.description_for_number(number, "zh")
        province = next((p for p in _province_names() if place.startswith(p[:2])), "")
        if not province:
            continue
        short = province
        for suffix in ("维吾尔自治区", "壮族自治区", "回族自治区", "自治区", "省"):
            short = short.removesuffix(suffix)
        rest = place.removeprefix(province) if place.startswith(province) else place[len(short) :]
        for city in (rest or province).split("、"):
            by_place.setdefault(city, ("0" + code, length))
        by_place.setdefault(province, ("0" + code, length))
    return by_place


@cache
def _province_names() -> tuple[str, ...]:
    return tuple(sorted({c.province for c in counties()}, key=len, reverse=True))


def area_code_for(county: County) -> tuple[str, int]:
    """The landline area code (with the leading 0) of the county's city, else of its province,
    and the length of a subscriber number under it."""
    codes = _area_codes()
    return codes.get(county.city) or codes.get(county.province) or ("010", 8)
