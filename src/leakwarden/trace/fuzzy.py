"""Names and postal addresses of leaked rows that carry no identifier: normal forms, the
blocking key, and the address comparison that confirms a candidate (:mod:`.match` decides).

Names (:func:`name_form`): full-width folded; Chinese names are 2-6 Han characters once spaces
and the middle dot (``·``, ``•``, ``.``) are removed; Latin names are 2-4 alphabetic words,
accents stripped, lower-case, words sorted (``Buchanan, Matthew`` = ``matthew buchanan``).
Anything else is not a name.  Pinyin forms of Chinese names are not matched (future work).

Chinese addresses (:func:`parse_address`): the region head is read from the start of the text
against the GB/T 2260 gazetteer of :mod:`leakwarden.demo.regions` (province, then city, then
district; each full or without its suffix, ``宁夏`` / ``吴忠`` / ``盐池``, and a district alone
when province and city are left out), which gives the canonical city (``吴忠市``; the
municipality for Beijing, Shanghai, Tianjin, Chongqing) or, for a district name used in several
cities (``朝阳区``), each of them.  The remainder (road, number, estate, building, unit, room)
is compacted: spaces and punctuation removed, ``号楼`` / ``幢`` / ``座`` read as ``栋``, a
trailing ``室`` dropped.  US addresses (``1035 Church St, Seattle, WA 98192``): the city is the
part before the state and ZIP, the remainder the street with the usual suffixes abbreviated,
plus the ZIP.

Blocking key (:func:`block_key`): ``na:<name form>|<canonical city>|<address numbers>``; the
customer index holds it for every customer (from the name, the city column or the parsed
address, and the digit runs of the address), so the candidates of a leaked row are the
customers with that name in that city at an address with the same numbers (one, as a rule):
confirming a candidate always needs every number equal, so nothing confirmable is lost, and the
customer details read for confirmation are those few, not every namesake of the city.
:func:`address_key` (``a:<city>|<numbers>``) is the same without the name, to narrow masked
values.

Address comparison (:func:`address_score`): 1.0 when the remainders are equal; 0.9 when every
number (house, building, unit, room, ZIP) is equal and the remainders' ``difflib`` ratio is at
least 0.8 (a mistyped road name or estate); otherwise below :data:`ADDRESS_OK`.  Different
districts give 0.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from difflib import SequenceMatcher
from functools import cache

from leakwarden.detect.normalize import normalize

__all__ = [
    "ADDRESS_OK",
    "Address",
    "address_key",
    "address_numbers",
    "address_score",
    "block_key",
    "city_key",
    "name_form",
    "parse_address",
]

ADDRESS_OK = 0.9
_HAN = re.compile(r"^[\u3400-\u4dbf\u4e00-\u9fff]{2,6}$")
_NAME_DOTS = re.compile(r"[\s·•.・]+")
_LATIN_WORD = re.compile(r"^[a-z]+$")
_NUMBER = re.compile(r"\d+")
_PUNCT = re.compile(r"[\s,，、;；:：#\-—_/()（）.。'\"]+")
_LABEL = re.compile(r"^(?:收货|收件|送货|联系|家庭|详细)?地址[:：]?\s*")
_BUILDING = re.compile(r"号楼|幢|座")
_US = re.compile(
    r"^\s*(?P<street>[^,]+?)\s*,\s*(?P<city>[A-Za-z][A-Za-z .'-]*?)\s*,\s*"
    r"(?P<state>[A-Za-z]{2})\.?\s+(?P<zip>\d{5})(?:-\d{4})?\s*$"
)
_US_WORDS = {
    "street": "st", "road": "rd", "avenue": "ave", "av": "ave", "boulevard": "blvd",
    "drive": "dr", "lane": "ln", "court": "ct", "place": "pl", "north": "n", "south": "s",
    "east": "e", "west": "w", "apartment": "apt", "suite": "ste", "highway": "hwy",
}  # fmt: skip


def name_form(text: str) -> str | None:
    """The normal form of a person's name (module docstring), or None if ``text`` is not one."""
    value = normalize(text).strip()
    if not value or len(value) > 40:
        return None
    han = _NAME_DOTS.sub("", value)
    if _HAN.match(han):
        return han
    if not value.isascii():
        value = "".join(
            ch for ch in unicodedata.normalize("NFKD", value) if not unicodedata.combining(ch)
        )
    words = re.sub(r"[,.'-]", " ", value.lower().replace("'", "")).split()
    if 2 <= len(words) <= 4 and all(_LATIN_WORD.match(w) for w in words):
        return " ".join(sorted(words))
    return None


def address_numbers(text: str) -> tuple[str, ...]:
    """The digit runs of an address, leading zeros dropped (house, building, unit, room; a
    US address's house number and ZIP).  Region names carry no digits, so these are the
    numbers of :attr:`Address.numbers` for the same address."""
    return tuple(n.lstrip("0") or "0" for n in _NUMBER.findall(normalize(text)))


def block_key(name: str, city: str, numbers: tuple[str, ...]) -> str:
    """The blocking key of a name form at an address: canonical city and the address's
    numbers (a confirmed address always has every number equal)."""
    return f"na:{name}|{city}|{'-'.join(numbers)}"


def address_key(city: str, numbers: tuple[str, ...]) -> str:
    """The key of an address without the name (city and numbers), to narrow masked values."""
    return f"a:{city}|{'-'.join(numbers)}"


@dataclass(frozen=True)
class Address:
    """A parsed address: its possible canonical ``cities`` (usually one), the ``district``
    when read, and the compacted remainder ``rest`` with its ``numbers``."""

    cities: tuple[str, ...]
    district: str
    rest: str
    numbers: tuple[str, ...]


def _strip_suffix(name: str, suffixes: tuple[str, ...]) -> str | None:
    for s in suffixes:
        if name.endswith(s) and len(name) - len(s) >= 2:
            return name[: -len(s)]
    return None


@dataclass(frozen=True)
class _Gazetteer:
    provinces: dict[str, str]  # alias -> province
    cities: dict[str, frozenset[tuple[str, str]]]  # alias -> {(province, city)}
    districts: dict[str, frozenset[tuple[str, str, str]]]  # full name -> {(prov, city, dist)}
    short_districts: dict[str, frozenset[tuple[str, str, str]]]
    # first two characters -> the lengths of the aliases starting with them, longest first
    starts: dict[str, tuple[int, ...]]


@cache
def _gazetteer() -> _Gazetteer:
    from leakwarden.demo.regions import counties

    provinces: dict[str, str] = {}
    cities: dict[str, set[tuple[str, str]]] = {}
    districts: dict[str, set[tuple[str, str, str]]] = {}
    short: dict[str, set[tuple[str, str, str]]] = {}
    for c in counties():
        p = c.province
        provinces[p] = p
        if p.endswith("自治区"):
            provinces[p[:3] if p.startswith("内蒙古") else p[:2]] = p
        elif (s := _strip_suffix(p, ("省", "市"))) is not None:
            provinces[s] = p
        for alias in {c.city, _strip_suffix(c.city, ("市", "地区", "盟"))}:
            if alias:
                cities.setdefault(alias, set()).add((p, c.city))
        if "自治州" in c.city:
            cities.setdefault(c.city[:2], set()).add((p, c.city))
        if c.district != c.city:
            districts.setdefault(c.district, set()).add((p, c.city, c.district))
            s = _strip_suffix(c.district, ("区", "县", "市", "自治县"))
            if s:
                short.setdefault(s, set()).add((p, c.city, c.district))
    lengths: dict[str, set[int]] = {}
    for d in (provinces, cities, districts, short):
        for k in d:
            lengths.setdefault(k[:2], set()).add(len(k))
    starts = {k: tuple(sorted(v, reverse=True)) for k, v in lengths.items()}
    return _Gazetteer(
        provinces,
        {k: frozenset(v) for k, v in cities.items()},
        {k: frozenset(v) for k, v in districts.items()},
        {k: frozenset(v) for k, v in short.items()},
        starts,
    )


def _longest(text: str, start: int, table: Mapping[str, object]) -> str | None:
    for size in _gazetteer().starts.get(text[start : start + 2], ()):
        piece = text[start : start + size]
        if piece in table:
            return piece
    return None


def _compact(rest: str) -> str:
    rest = _PUNCT.sub("", rest)
    rest = _BUILDING.sub("栋", rest)
    return rest[:-1] if rest.endswith("室") else rest


def _us_rest(street: str, zipcode: str) -> tuple[str, tuple[str, ...]]:
    words = [_US_WORDS.get(w, w) for w in re.sub(r"[^a-z0-9 ]", " ", street.lower()).split()]
    rest = " ".join(words)
    return f"{rest} {zipcode}", address_numbers(f"{rest} {zipcode}")


def parse_address(text: str) -> Address | None:
    """The parsed address in ``text`` (module docstring), or None when no city is found."""
    value = normalize(text).strip()
    if len(value) < 6:
        return None
    if value.isascii():
        if "," not in value:
            return None  # a US address has its city between commas
        m = _US.match(value)
        if m is None:
            return None
        rest, numbers = _us_rest(m.group("street"), m.group("zip"))
        return Address((m.group("city").strip().lower(),), "", rest, numbers)
    g = _gazetteer()
    value = _LABEL.sub("", "".join(value.split()))
    pos = 0
    province = _longest(value, pos, g.provinces)
    if province and len(_longest(value, pos, g.districts) or "") > len(province):
        province = None  # 河北区 (Tianjin) is a district, not the province 河北 plus 区
    prov = g.provinces[province] if province else None
    pos += len(province or "")
    city_alias = _longest(value, pos, g.cities)
    places: set[tuple[str, str]] = set()
    if city_alias and len(_longest(value, pos, g.districts) or "") > len(city_alias):
        city_alias = None  # 朝阳区 is a district, not the city 朝阳(市) plus 区
    if city_alias:
        places = {pc for pc in g.cities[city_alias] if prov is None or pc[0] == prov}
        if places:
            pos += len(city_alias)
    if not places and prov is not None and prov.endswith("市"):
        places = {(prov, prov)}  # a municipality: the province is the city
    table = g.districts
    district_alias = _longest(value, pos, table)
    if district_alias is None and places:
        table = g.short_districts  # 盐池 for 盐池县, only right after a city
        district_alias = _longest(value, pos, table)
    district = ""
    if district_alias:
        found = {
            d
            for d in table[district_alias]
            if (prov is None or d[0] == prov) and (not places or (d[0], d[1]) in places)
        }
        if found:
            pos += len(district_alias)
            district = sorted(found)[0][2]
            if not places:
                places = {(d[0], d[1]) for d in found}
    if not places:
        return None
    rest = _compact(value[pos:])
    if len(rest) < 2:
        return None
    return Address(tuple(sorted(c for _, c in places)), district, rest, address_numbers(rest))


def city_key(city: str) -> tuple[str, ...]:
    """The canonical cities a city column's value names (``吴忠`` -> ``吴忠市``, ``Seattle`` ->
    ``seattle``); () when unknown."""
    value = normalize(city).strip()
    if not value:
        return ()
    if value.isascii():
        return (value.lower(),)
    g = _gazetteer()
    value = "".join(value.split())
    if value in g.cities:
        return tuple(sorted({c for _, c in g.cities[value]}))
    if value in g.provinces and g.provinces[value].endswith("市"):
        return (g.provinces[value],)
    return ()


def address_score(a: Address, b: Address) -> float:
    """How well two parsed addresses agree (module docstring)."""
    if not set(a.cities) & set(b.cities):
        return 0.0
    if a.district and b.district and a.district != b.district:
        return 0.0
    if a.rest == b.rest:
        return 1.0
    ratio = SequenceMatcher(None, a.rest, b.rest).ratio()
    if a.numbers == b.numbers and len(a.numbers) >= 2 and ratio >= 0.8:
        return ADDRESS_OK
    return min(ratio, ADDRESS_OK - 0.01) * 0.9
