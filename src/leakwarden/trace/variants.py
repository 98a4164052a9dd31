"""Per-copy variants of an export, deterministic from the copy's key, and reading them back.

Every copy has a key: ``KeyRing`` key ``export`` (version in the registry) derived for
``fingerprint:<export id>`` (:func:`copy_key`); everything below is an HMAC of it, so only the
parameters are recorded with the copy (``exports.fingerprint_params``), never the data.

- **row subset** (only for purposes configured to allow it): a customer (or, without a customer
  column, a row) is kept when ``HMAC(k, "subset:" + id)`` as a fraction of 2^64 is below the
  configured fraction;
- **keyed row order**: rows sorted by ``HMAC(k, "order:" + customer id)`` (rows of one customer
  stay together, in query order); without a customer column by ``HMAC(k, "order:" + line)``;
- **formatting** (not for operational purposes): mobile numbers as ``13812345678``,
  ``138-1234-5678``, ``138 1234 5678`` or ``+86 13812345678``; digits of mobiles, resident IDs
  and cards half-width or full-width (``１３８…``); addresses with or without the leading
  province (municipalities such as 北京市 keep theirs: it is also the city).  Each chosen by
  the keyed hash; masked and pseudonymised cells keep their form (full-width digits apart).

Reading back (trace): :func:`ascents` counts, for one copy, how many neighbouring leaked
customers are in that copy's keyed order, and the longest run of them that is;
:func:`observed_formats` reads the formats of sample rows.  The likelihoods they give are in
:mod:`leakwarden.trace.evidence`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import cache
from itertools import pairwise
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from leakwarden.protect.keys import KeyRing

__all__ = [
    "ADDRESS_STYLES",
    "DIGIT_STYLES",
    "PHONE_STYLES",
    "apply_formats",
    "ascents",
    "choose_formats",
    "copy_key",
    "keep_in_subset",
    "observed_formats",
    "order_rank",
    "order_stats",
    "order_value",
]

PHONE_STYLES = ("plain", "dashed", "spaced", "plus86")
DIGIT_STYLES = ("half", "full")
ADDRESS_STYLES = ("province", "no-province")
STYLES: dict[str, tuple[str, ...]] = {
    "phone": PHONE_STYLES,
    "digits": DIGIT_STYLES,
    "address": ADDRESS_STYLES,
}
FINGERPRINT = "fingerprint"
_FULL = str.maketrans("0123456789", "０１２３４５６７８９")
_MOBILE = re.compile(r"1[3-9]\d{9}")
_MUNICIPALITIES = ("北京市", "上海市", "天津市", "重庆市")


def copy_key(keys: KeyRing, key_name: str, key_version: int, export_id: str) -> bytes:
    """The copy's fingerprint key (module docstring)."""
    return keys.get(key_name, key_version).derive(f"{FINGERPRINT}:{export_id}")


def _u64(key: bytes, text: str) -> int:
    return int.from_bytes(hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()[:8], "big")


def keep_in_subset(key: bytes, ident: str, fraction: float) -> bool:
    return _u64(key, f"subset:{ident}") < fraction * 2.0**64


def order_value(key: bytes, ident: str) -> int:
    """The keyed sort value of a customer id (or a CSV line) in the copy's order."""
    return _u64(key, f"order:{ident}")


def order_rank(key: bytes, idents: Sequence[str]) -> list[int]:
    """Positions ``0..n-1`` of ``idents`` sorted by keyed value, stable for equal idents."""
    return sorted(range(len(idents)), key=lambda i: (order_value(key, idents[i]), i))


def choose_formats(key: bytes, kinds: Iterable[str]) -> dict[str, str]:
    """The copy's formatting variants for the column kinds it has (module docstring)."""
    have = set(kinds)
    out: dict[str, str] = {}
    if "mobile" in have:
        out["phone"] = PHONE_STYLES[_u64(key, "format:phone") % len(PHONE_STYLES)]
    if have & {"mobile", "id", "card"}:
        out["digits"] = DIGIT_STYLES[_u64(key, "format:digits") % len(DIGIT_STYLES)]
    if "address" in have:
        out["address"] = ADDRESS_STYLES[_u64(key, "format:address") % len(ADDRESS_STYLES)]
    return out


@cache
def _provinces() -> tuple[str, ...]:
    from leakwarden.demo import regions

    return tuple(sorted({c.province for c in regions.counties()}, key=len, reverse=True))


def _phone(value: str, style: str) -> str:
    if not _MOBILE.fullmatch(value):
        return value
    if style == "dashed":
        return f"{value[:3]}-{value[3:7]}-{value[7:]}"
    if style == "spaced":
        return f"{value[:3]} {value[3:7]} {value[7:]}"
    if style == "plus86":
        return f"+86 {value}"
    return value


def _address(value: str, style: str) -> str:
    if style != "no-province" or value.startswith(_MUNICIPALITIES):
        return value
    for p in _provinces():
        if value.startswith(p) and len(value) > len(p) + 2:
            return value[len(p) :]
    return value


def apply_formats(rows: Sequence[list[str]], kinds: Sequence[str], formats: dict[str, str]) -> None:
    """Rewrite ``rows`` in place to the copy's formats (pseudonyms untouched)."""
    if not formats:
        return
    for row in rows:
        for j, kind in enumerate(kinds):
            cell = row[j]
            if not cell or (":" in cell and kind != "address"):
                continue
            if kind == "mobile" and "phone" in formats:
                cell = _phone(cell, formats["phone"])
            if kind == "address" and "address" in formats:
                cell = _address(cell, formats["address"])
            if kind in {"mobile", "id", "card"} and formats.get("digits") == "full":
                cell = cell.translate(_FULL)
            row[j] = cell


# ------------------------------------------------------------------------------ reading back


def ascents(key: bytes, customer_ids: Sequence[int]) -> tuple[int, int, int]:
    """(ascending neighbouring pairs, pairs, longest ascending run) of ``customer_ids`` (in
    sample order, each once) under the copy's keyed order."""
    return order_stats([order_value(key, str(c)) for c in customer_ids])


def order_stats(values: Sequence[int]) -> tuple[int, int, int]:
    """(ascending neighbouring pairs, pairs, longest ascending run in elements) of ``values``."""
    up = [a < b for a, b in pairwise(values)]
    longest = run = 1 if values else 0
    for step in up:
        run = run + 1 if step else 1
        longest = max(longest, run)
    return sum(up), len(up), longest


_FULL_DIGIT = re.compile(r"[０-９]")
_PHONE_SHAPES = (
    ("plus86", re.compile(r"^\+86 ?1[3-9]\d{9}$")),
    ("dashed", re.compile(r"^1[3-9]\d-\d{4}-\d{4}$")),
    ("spaced", re.compile(r"^1[3-9]\d \d{4} \d{4}$")),
    ("plain", re.compile(r"^1[3-9]\d{9}$")),
)
_ADDRESSY = re.compile(r"(市|区|县).*(路|街|道|号)")


def observed_formats(cells: Iterable[str]) -> dict[str, str]:
    """The formats a set of sample cells shows, per dimension, by majority (at least 2 cells
    showing the dimension); cells as read, before any normalisation."""
    phone: Counter[str] = Counter()
    digits: Counter[str] = Counter()
    address: Counter[str] = Counter()
    half = str.maketrans("０１２３４５６７８９", "0123456789")
    for raw in cells:
        text = raw.strip()
        if not text:
            continue
        folded = text.translate(half)
        for style, shape in _PHONE_SHAPES:
            if shape.match(folded):
                phone[style] += 1
                digits["full" if _FULL_DIGIT.search(text) else "half"] += 1
                break
        else:
            if len(folded) == 18 and folded[:17].isdigit():
                digits["full" if _FULL_DIGIT.search(text) else "half"] += 1
            elif _ADDRESSY.search(text) and not text.startswith(_MUNICIPALITIES):
                address["province" if text.startswith(_provinces()) else "no-province"] += 1
    out: dict[str, str] = {}
    for dim, counts in (("phone", phone), ("digits", digits), ("address", address)):
        if sum(counts.values()) >= 2:
            out[dim] = counts.most_common(1)[0][0]
    return out


def params_formats(params: dict[str, Any]) -> dict[str, str]:
    """The formatting variants recorded in a copy's ``fingerprint_params`` (``{}``: none)."""
    got = params.get("format") or {}
    return {k: str(v) for k, v in got.items() if k in STYLES}
