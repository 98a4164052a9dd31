"""Keyed pseudonyms: HMAC-SHA-256 of a value under a named key of the key ring.

Stable: the same value under the same key version gives the same pseudonym on every run and every
machine, so two tables pseudonymised apart still join on the column.  Not reversible: nobody can
compute the value back, only recompute a pseudonym from a candidate value *with the key*
(GB/T 35273 6.2: the re-identification key is kept apart from the data).

Output format, ``<type>:<version>:<26 base32 characters>``, e.g.
``cn_mobile:1:K5Q2XW4N7ZV3M2LR6YHJ4BTA3E``: the type id (``value`` when none is given), the key
version that made it (rotation makes new pseudonyms; the old ones stay recognisable), and the
first 130 bits of the HMAC in RFC 4648 base32 without padding.

The MAC input is the value normalised per type so that the spellings of one value join: digits
and ``X`` only for numbers (``138 1234 5678`` = ``13812345678``, ``...002x`` = ``...002X``), lower
case for e-mail addresses, NFKC and trimmed for everything else.
"""

from __future__ import annotations

import hmac
import unicodedata
from typing import TYPE_CHECKING

from leakwarden.protect.operator import OperatorError

if TYPE_CHECKING:
    from leakwarden.protect.keys import KeyRing

__all__ = ["PSEUDONYM_CHARS", "HmacOperator", "normalize_for_mac", "pseudonym"]

#: Base32 characters of a pseudonym (130 bits).
PSEUDONYM_CHARS = 26
_B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_PAIRS = [a + b for a in _B32 for b in _B32]
_SHIFTS = tuple(range(120, -1, -10))

_NUMBER_TYPES = frozenset(
    {"cn_resident_id", "cn_mobile", "cn_landline", "bank_card", "phone", "us_ssn"}
)
_CASELESS_TYPES = frozenset({"email", "iban", "cn_passport", "cn_hk_macau_permit", "cn_uscc"})


def normalize_for_mac(value: str, type_id: str | None) -> str:
    """The spelling-independent form of ``value`` that the MAC is computed over."""
    if type_id in _NUMBER_TYPES and value.isascii() and value.isdigit():
        return value  # the common case, already normal
    text = unicodedata.normalize("NFKC", value).strip()
    if type_id in _NUMBER_TYPES:
        return "".join(c for c in text.upper() if c.isdigit() or c == "X" or c == "+")
    if type_id in _CASELESS_TYPES:
        return "".join(text.split()).upper() if type_id != "email" else text.lower()
    return text


def pseudonym(key: bytes, version: int, value: str, type_id: str | None) -> str:
    """The pseudonym of ``value`` under HMAC key ``key`` (see the module docstring)."""
    mac = hmac.digest(key, normalize_for_mac(value, type_id).encode("utf-8"), "sha256")
    # the first 130 bits in RFC 4648 base32 (= base64.b32encode(mac)[:26], two letters per
    # lookup: the stdlib encoder is pure Python and took half the time)
    bits = int.from_bytes(mac[:17], "big") >> 6
    b32 = "".join([_PAIRS[(bits >> s) & 1023] for s in _SHIFTS])
    return f"{type_id or 'value'}:{version}:{b32}"


class HmacOperator:
    """``hmac:<key name>``: the pseudonym under the key's current version."""

    reversible = False

    def __init__(self, key_name: str, keys: KeyRing) -> None:
        self.spec = f"hmac:{key_name}"
        key = keys.current(key_name)
        self.version = key.version
        self._mac_key = key.derive("hmac")

    def __repr__(self) -> str:
        return f"HmacOperator({self.spec!r}, version={self.version})"

    def apply(self, value: str, type_id: str | None = None) -> str:
        if not value.strip():
            raise OperatorError(f"{self.spec}: empty value has no pseudonym")
        return pseudonym(self._mac_key, self.version, value, type_id)
