"""Masking: the one implementation of the mask specs declared in ``leakwarden.detect.types``.

Each personal-information type names its default mask there (``PI_TYPES[id].default_mask``, syntax
in that module's docstring, parsed by ``parse_mask``); this module turns a value and a
:class:`~leakwarden.detect.types.MaskSpec` into the masked text:

=================  ===========================  ================================
type               default mask                 example
=================  ===========================  ================================
cn_mobile          ``keep:3,4``                 ``138****5678``
cn_resident_id     ``keep:6,4``                 ``110105********002X``
person_name        ``name``                     ``张*`` / ``张*明`` / ``J*** S****``
address            ``address``                  ``北京市朝阳区***********``
email              ``email:1``                  ``z***@example.com``
bank_card          ``keep:4,4``                 ``6222 **** **** 1234`` (grouping kept)
=================  ===========================  ================================

Masking never gives back the clear value: when a value is too short for the kept characters, fewer
are kept so that at least a third of its letters and digits are hidden; a value a mask cannot read
(an e-mail without ``@``) is masked whole, one ``*`` per character.

:func:`evidence_mask` is the stricter variant the discovery inventory uses for its examples
(``leakwarden.scan.masking.mask_example`` defers to it): it proves the shape of a finding and
hides at least half of it, whatever the type's display mask keeps.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from leakwarden.detect.types import MaskSpec, get_type, parse_mask
from leakwarden.protect.operator import OperatorError

__all__ = [
    "SEPARATORS",
    "MaskOperator",
    "address_prefix",
    "evidence_mask",
    "mask_address",
    "mask_email",
    "mask_ip",
    "mask_keep",
    "mask_name",
    "mask_value",
    "mask_year",
]

#: Characters a ``keep`` mask leaves in place (the grouping of cards, phones, dates).
SEPARATORS = frozenset(" -.·()")

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_YEAR = re.compile(r"(?<![0-9])(?:1[89]|20)[0-9]{2}(?![0-9])")


def _star_all(value: str, *, keep_separators: bool = True) -> str:
    if keep_separators:
        return "".join(c if c in SEPARATORS else "*" for c in value)
    return "*" * len(value)


def mask_keep(value: str, first: int, last: int, *, keep_separators: bool = True) -> str:
    """Keep the first ``first`` and last ``last`` characters, ``*`` for the others.

    With ``keep_separators`` (the display mask), separators (:data:`SEPARATORS`) are neither
    counted nor masked, so ``6222 0212 3456 1234`` with ``keep:4,4`` is ``6222 **** **** 1234``.
    When ``first + last`` would leave less than a third of the characters hidden, both shrink
    until at least a third (rounded up) are hidden: ``keep:3,4`` on five digits keeps ``1**45``.
    """
    plain = not keep_separators or SEPARATORS.isdisjoint(value)
    n = len(value) if plain else sum(1 for c in value if c not in SEPARATORS)
    if n == 0:
        return value
    hidden = n - first - last
    while (first or last) and hidden < (n + 2) // 3:
        if first >= last and first:
            first -= 1
        elif last:
            last -= 1
        hidden = n - first - last
    if plain:
        return value[:first] + "*" * hidden + value[len(value) - last :]
    positions = [i for i, c in enumerate(value) if c not in SEPARATORS]
    masked = set(positions[first : n - last])
    return "".join("*" if i in masked else c for i, c in enumerate(value))


def mask_email(value: str, keep: int, *, stars: int | None = 3) -> str:
    """Keep ``keep`` characters of the local part and the domain: ``z***@example.com``.

    ``stars=None`` writes one ``*`` per hidden character (length kept); the default writes three
    whatever the length, so the mask does not tell the length of the local part.  A value
    without ``@`` is masked whole.
    """
    local, at, domain = value.rpartition("@")
    if not at or not local:
        return _star_all(value, keep_separators=False)
    keep = min(keep, len(local) // 2)
    hidden = len(local) - keep
    return local[:keep] + "*" * (hidden if stars is None else stars) + "@" + domain


def mask_ip(value: str, groups: int) -> str:
    """Keep the first ``groups`` groups of an IPv4 (``.``) or IPv6 (``:``) address."""
    sep = ":" if ":" in value else "."
    parts = value.split(sep)
    groups = min(groups, max(len(parts) - 1, 0))
    return sep.join(p if i < groups or not p else "*" for i, p in enumerate(parts))


def mask_year(value: str) -> str:
    """Keep the year of a date (``1990-**-**``, ``1990年*月**日``); every other digit is hidden.

    Without a four-digit year the value is masked whole (separators kept).
    """
    m = _YEAR.search(value)
    if m is None:
        return _star_all(value)
    return "".join(
        c if m.start() <= i < m.end() or not c.isdigit() else "*" for i, c in enumerate(value)
    )


def mask_name(value: str) -> str:
    """Chinese names keep their first and (from three characters) last character: ``张*``,
    ``张*明``, ``欧**娜``; Latin names keep the first letter of each word: ``J*** S****``."""
    text = value.strip()
    if not text:
        return value
    if _CJK.search(text):
        if len(text) == 1:
            return "*"
        if len(text) == 2:
            return text[0] + "*"
        return text[0] + "*" * (len(text) - 2) + text[-1]
    out = []
    for word in re.split(r"(\s+|[-.·'])", text):
        if not word or not word[0].isalnum():
            out.append(word)
        else:
            out.append(word[0] + "*" * (len(word) - 1) if len(word) > 1 else "*")
    return "".join(out)


# --- addresses ---------------------------------------------------------------------------

_PROVINCE_SUFFIXES = (
    "维吾尔自治区",
    "壮族自治区",
    "回族自治区",
    "特别行政区",
    "自治区",
    "省",
    "市",
)
_CITY_SUFFIXES = ("自治州", "地区", "盟", "市")


def _short(name: str, suffixes: tuple[str, ...]) -> str | None:
    for suffix in suffixes:
        if name.endswith(suffix) and len(name) - len(suffix) >= 2:
            return name[: -len(suffix)]
    return None


@dataclass(frozen=True, slots=True)
class _Regions:
    provinces: dict[str, str]  # spelling (full or short) -> full province name
    cities: dict[str, dict[str, str]]  # province -> spelling -> city
    all_cities: dict[str, tuple[str, str]]  # full city name -> (province, city)
    districts: dict[tuple[str, str], frozenset[str]]  # (province, city) -> districts
    districts_by_province: dict[str, frozenset[str]]
    all_districts: frozenset[str]


@cache
def _regions() -> _Regions:
    from leakwarden.demo.regions import counties

    provinces: dict[str, str] = {}
    cities: dict[str, dict[str, str]] = {}
    all_cities: dict[str, tuple[str, str]] = {}
    districts: dict[tuple[str, str], set[str]] = {}
    by_province: dict[str, set[str]] = {}
    for c in counties():
        provinces[c.province] = c.province
        short = _short(c.province, _PROVINCE_SUFFIXES)
        if short:
            provinces.setdefault(short, c.province)
        if c.city != c.province:
            spellings = cities.setdefault(c.province, {})
            spellings[c.city] = c.city
            short_city = _short(c.city, _CITY_SUFFIXES)
            if short_city:
                spellings.setdefault(short_city, c.city)
            all_cities.setdefault(c.city, (c.province, c.city))
        districts.setdefault((c.province, c.city), set()).add(c.district)
        by_province.setdefault(c.province, set()).add(c.district)
    return _Regions(
        provinces,
        cities,
        all_cities,
        {k: frozenset(v) for k, v in districts.items()},
        {k: frozenset(v) for k, v in by_province.items()},
        frozenset(d for v in districts.values() for d in v),
    )


def _longest(text: str, pos: int, names: object) -> str | None:
    """The longest of ``names`` (a container of strings) that ``text`` has at ``pos``."""
    for length in range(min(16, len(text) - pos), 1, -1):  # 积石山保安族东乡族撒拉族自治县: 15
        if text[pos : pos + length] in names:  # type: ignore[operator]
            return text[pos : pos + length]
    return None


def address_prefix(value: str, level: str = "district") -> str:
    """The leading administrative divisions of a Chinese address, up to ``level``.

    ``level`` is ``"province"``, ``"city"`` or ``"district"``.  Names are the GB/T 2260 regions
    of ``leakwarden.demo.regions`` (stdnum's table), full (``广东省``) or short (``广东``) for
    provinces and cities: ``广东省深圳市南山区科技园…`` → ``广东省深圳市南山区`` at district level,
    ``广东省深圳市`` at city level.  Returns ``""`` when the address does not start with a known
    division.
    """
    r = _regions()
    pos = 0
    province = city = None
    spelled = _longest(value, pos, r.provinces)
    if spelled:
        province = r.provinces[spelled]
        pos += len(spelled)
        if level == "province":
            return value[:pos]
        spellings = r.cities.get(province, {})
        spelled_city = _longest(value, pos, spellings)
        if spelled_city:
            city = spellings[spelled_city]
            pos += len(spelled_city)
        elif not spellings:  # a municipality: the province is the city
            city = province
    else:
        spelled_city = _longest(value, pos, r.all_cities)
        if spelled_city:
            province, city = r.all_cities[spelled_city]
            pos += len(spelled_city)
    if level == "city":
        return value[:pos] if city else ""
    if province and city:
        names: frozenset[str] = r.districts.get((province, city), frozenset())
    elif province:
        names = r.districts_by_province.get(province, frozenset())
    else:
        names = r.all_districts
    district = _longest(value, pos, names)
    if district:
        pos += len(district)
    return value[:pos]


def mask_address(value: str, level: str = "district") -> str:
    """Keep a Chinese address up to ``level`` (see :func:`address_prefix`), ``*`` for the rest
    (one per character, separators included).  A Latin address (comma-separated) keeps its last
    parts (city, region, postcode, country) and hides the first (the street line).  An address
    with no recognisable division is masked whole."""
    prefix = address_prefix(value, level) if _CJK.search(value) else ""
    if prefix:
        return prefix + "*" * (len(value) - len(prefix))
    if not _CJK.search(value) and "," in value:
        street, sep, rest = value.partition(",")
        return _star_all(street) + sep + rest
    return _star_all(value)


# --- dispatch ----------------------------------------------------------------------------


def mask_value(value: str, spec: MaskSpec | str, type_id: str | None = None) -> str:
    """Mask ``value`` with ``spec`` (a :class:`MaskSpec` or its text); ``type_id`` names the
    type for ``redact``'s placeholder."""
    if isinstance(spec, str):
        spec = parse_mask(spec)
    op, args = spec.op, spec.args
    if op == "keep":
        return mask_keep(value, args[0], args[1])
    if op == "email":
        return mask_email(value, args[0])
    if op == "name":
        return mask_name(value)
    if op == "address":
        return mask_address(value)
    if op == "year":
        return mask_year(value)
    if op == "ip":
        return mask_ip(value, args[0])
    if op == "redact":
        return f"[{type_id or 'redacted'}]"
    if op == "full":
        return _star_all(value)
    raise OperatorError(f"mask operator {op!r} has no implementation")


class MaskOperator:
    """``mask`` (the type's default mask) or ``mask:<spec>`` (one mask for every type)."""

    reversible = False

    def __init__(self, spec: str, mask: MaskSpec | None = None) -> None:
        self.spec = spec
        self._mask = mask
        self._defaults: dict[str, MaskSpec] = {}

    def __repr__(self) -> str:
        return f"MaskOperator({self.spec!r})"

    def apply(self, value: str, type_id: str | None = None) -> str:
        mask = self._mask
        if mask is None:
            if type_id is None:
                raise OperatorError("'mask' needs the value's type to choose its default mask")
            mask = self._defaults.get(type_id)
            if mask is None:
                try:
                    pi_type = get_type(type_id)
                except KeyError:
                    raise OperatorError(f"'mask': unknown type {type_id!r}") from None
                mask = self._defaults[type_id] = parse_mask(pi_type.default_mask)
        return mask_value(value, mask, type_id)


def evidence_mask(type_id: str, text: str) -> str:
    """The inventory's example mask: same length as ``text``, at least half of it hidden.

    Names keep their first character (``张**``); addresses keep their divisions up to the
    district when that hides at least a third (else the first third, at most six characters);
    e-mail keeps the first character of the local part and the domain; everything else keeps
    2 characters at each end (3 from 9 characters, 4 from 13), at least half hidden.
    """
    n = len(text)
    if n == 0:
        return ""
    if type_id == "person_name":
        return mask_keep(text, 1, 0, keep_separators=False)
    if type_id == "address":
        prefix = address_prefix(text) if _CJK.search(text) else ""
        keep = len(prefix) if prefix and len(prefix) <= n - n // 3 else min(6, n // 3)
        return text[:keep] + "*" * (n - keep)
    if type_id == "email" and "@" in text:
        local = text.rpartition("@")[0]
        return mask_email(text, 1, stars=max(3, len(local) - 1))
    keep = 2 if n <= 8 else 3 if n <= 12 else 4
    while keep > 0 and 2 * keep > n // 2:
        keep -= 1
    return mask_keep(text, keep, keep, keep_separators=False)
