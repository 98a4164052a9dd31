"""Typed format-preserving encryption: FF1 whose output is still a valid value of its type.

``ff1:<key>`` (current key version) or ``ff1:<key>@<version>`` (a pinned version, to decrypt
data made before a rotation); ``+regions`` at the end (``ff1:ids@2+regions``) also encrypts the
region of resident IDs (see below).  A format-preserving output has no room for a key
version, so the version is a property of the rule (the rewrite records the spec it used), not
of each value.

Per type (the FF1 key is the named key's ``"ff1"`` subkey, AES-256):

``cn_resident_id`` (18 characters)
    The region code stays; the birth date and the sequence number are encrypted together as one
    integer ``day * 500 + sequence // 2`` over the days on which the region code was in use
    (python-stdnum's GB/T 2260 years, cut to 1900-01-01 .. 2025-12-31, the range fixed so that
    outputs do not change with the calendar), FF1 over its bits with cycle walking, tweak = the
    region code.  The sequence's parity (the holder's sex) is kept, except for a code in use for
    under ~5.5 years, where the whole sequence is needed to reach FF1's minimum domain (and for
    one in use under 1,000 days, encrypted among all such codes, region included).  The
    MOD 11-2 check character is recomputed, so the result passes
    ``validators.cn_resident_id_ok`` and ``stdnum.cn.ric``.
    With ``+regions`` (``id_regions=True``) the region is encrypted too, within the current
    county-level codes (date and region chosen together, so the pair stays valid); an ID with a
    historic code keeps its code (always date mode), which is how decryption tells the cases
    apart.
    (Encrypting the sequence alone is not offered: 1,000 values are far below FF1's minimum
    domain of a million.)
``cn_mobile``
    ``1`` and the operator segment (first three digits) stay, the last eight digits are
    encrypted (radix 10, tweak = segment); a ``+86`` prefix and separators stay in place.
``bank_card``
    The BIN (first six digits) stays, the digits between BIN and check digit are encrypted
    (tweak = BIN and length), and the Luhn check digit is recomputed; grouping stays.
``cn_landline``, ``us_ssn``, ``phone``
    The area code (landline) or first three digits (international phone) stay, the other digits
    are encrypted and encrypted again (cycle walking, at most 200 times) until the result passes
    the type's validator, so the output is a valid number of the type and decryption walks back
    to exactly the input; a value that does not validate is refused.
anything else
    The decimal digits of the value are encrypted in place (at least six are needed), every
    other character stays: a format-preserving but not type-aware fallback.

Values that do not fit (wrong length, bad check digit, a birth date outside the range) raise
:class:`OperatorError` without the value.  ``reverse`` gives back exactly the input.
"""

from __future__ import annotations

import bisect
import datetime
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from leakwarden.detect import validators
from leakwarden.protect.ff1 import FF1, MIN_DOMAIN, FF1Error
from leakwarden.protect.operator import OperatorError

if TYPE_CHECKING:
    from leakwarden.protect.keys import KeyRing

__all__ = ["FIRST_DAY", "LAST_DAY", "FpeOperator", "TypedFpe", "luhn_check_digit"]

FIRST_DAY = datetime.date(1900, 1, 1)
LAST_DAY = datetime.date(2025, 12, 31)
_PER_DAY = 500  # sequence numbers per day and sex


def luhn_check_digit(payload: str) -> str:
    """The Luhn (ISO/IEC 7812) check digit to append to ``payload``."""
    total = 0
    for i, c in enumerate(reversed(payload)):
        d = ord(c) - 48
        if i % 2 == 0:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return str((10 - total % 10) % 10)


def _ric_check(first17: str) -> str:
    checksum = (1 - 2 * int(first17, 13)) % 11
    return "X" if checksum == 10 else str(checksum)


@dataclass(frozen=True, slots=True)
class _Segments:
    """Days (ordinals) a region code was in use, as disjoint ranges, with prefix counts."""

    starts: tuple[int, ...]
    counts: tuple[int, ...]
    prefix: tuple[int, ...]  # prefix[i] = sum(counts[:i])

    @property
    def total(self) -> int:
        return self.prefix[-1]

    def index(self, ordinal: int) -> int | None:
        i = bisect.bisect_right(self.starts, ordinal) - 1
        if i < 0 or ordinal >= self.starts[i] + self.counts[i]:
            return None
        return self.prefix[i] + ordinal - self.starts[i]

    def ordinal(self, index: int) -> int:
        i = bisect.bisect_right(self.prefix, index) - 1
        return self.starts[i] + index - self.prefix[i]


def _merge(spans: list[tuple[int | None, int | None]]) -> _Segments | None:
    ranges: list[tuple[int, int]] = []
    for start, end in spans:
        first = max(datetime.date(start, 1, 1) if start else FIRST_DAY, FIRST_DAY)
        last = min(datetime.date(end, 12, 31) if end else LAST_DAY, LAST_DAY)
        if first <= last:
            ranges.append((first.toordinal(), last.toordinal()))
    ranges.sort()
    merged: list[list[int]] = []
    for a, b in ranges:
        if merged and a <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    if not merged:
        return None
    counts = tuple(b - a + 1 for a, b in merged)
    prefix = [0]
    for c in counts:
        prefix.append(prefix[-1] + c)
    return _Segments(tuple(a for a, _ in merged), counts, tuple(prefix))


@cache
def _code_spans() -> dict[str, list[tuple[int | None, int | None]]]:
    """Years each GB/T 2260 county-level code was in use (stdnum's ``cn/loc.dat``, as read by
    ``leakwarden.demo.regions``, the one reader of that table)."""
    from leakwarden.demo.regions import _all_codes

    spans: dict[str, list[tuple[int | None, int | None]]] = {}
    for code, _province, code_spans in _all_codes():
        if not code.endswith("00"):
            spans.setdefault(code, []).extend((a, b) for a, b, _name in code_spans)
    return spans


@cache
def _region_days(code: str) -> _Segments:
    """Days a region code may appear as a birth date on an ID (stdnum's years; all of
    1900-2025 when the table does not have the code, e.g. 港澳台 permit codes)."""
    full = _merge([(None, None)])
    assert full is not None
    return _merge(_code_spans().get(code, [])) or full


@cache
def _short_regions(historic_only: bool) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """Codes in use too briefly for FF1 on their own (under 1,000 days), with prefix sums of
    their days: such IDs are encrypted among each other (region included).  With
    ``historic_only`` (region mode) current counties are left out: those take the region mode."""
    current = set(_all_regions()[0]) if historic_only else set()
    codes = tuple(
        sorted(
            c
            for c in _code_spans()
            if _region_days(c).total * 1000 < MIN_DOMAIN and c not in current
        )
    )
    prefix = [0]
    for code in codes:
        prefix.append(prefix[-1] + _region_days(code).total)
    return codes, tuple(prefix)


@cache
def _all_regions() -> tuple[tuple[str, ...], tuple[int, ...]]:
    """Current county codes and the prefix sums of their day counts (for ``id_regions``)."""
    from leakwarden.demo.regions import counties

    codes = tuple(sorted({c.code for c in counties()}))
    prefix = [0]
    for code in codes:
        prefix.append(prefix[-1] + _region_days(code).total)
    return codes, tuple(prefix)


#: Types whose digits are encrypted by cycle walking until the result validates again (dense
#: enough that a few FF1 calls suffice), and how many leading digits stay (area/country code).
_WALK_TYPES: dict[str, int] = {"cn_landline": -1, "us_ssn": 0, "phone": 3}
_MAX_WALK = 200


def _kept_head(digits: str, type_id: str | None) -> int:
    keep = _WALK_TYPES.get(type_id or "", 0)
    if keep == -1:  # cn_landline: the area code (010, 02x: three digits; others four)
        return 3 if digits.startswith(("01", "02")) else 4 if digits.startswith("0") else 0
    return keep


def _walk_validator(type_id: str | None) -> Callable[[str], bool] | None:
    if type_id not in _WALK_TYPES:
        return None
    from leakwarden.detect.types import PI_TYPES

    return PI_TYPES[type_id].validator


class TypedFpe:
    """FF1 per type under one AES key (see the module docstring)."""

    def __init__(self, key: bytes, *, id_regions: bool = False) -> None:
        self._dec = FF1(key, 10)
        self._bin = FF1(key, 2)
        self.id_regions = id_regions

    def __repr__(self) -> str:
        return f"TypedFpe(id_regions={self.id_regions})"

    def encrypt(self, value: str, type_id: str | None) -> str:
        return self._run(value, type_id, decrypt=False)

    def decrypt(self, value: str, type_id: str | None) -> str:
        return self._run(value, type_id, decrypt=True)

    def _run(self, value: str, type_id: str | None, *, decrypt: bool) -> str:
        try:
            if type_id == "cn_resident_id":
                return self._resident_id(value, decrypt)
            if type_id == "cn_mobile":
                return self._mobile(value, decrypt)
            if type_id == "bank_card":
                return self._card(value, decrypt)
            return self._digits(value, decrypt, type_id)
        except FF1Error as exc:
            raise OperatorError(f"ff1: {exc}") from None

    # --- resident ID ---------------------------------------------------------------------

    def _resident_id(self, value: str, decrypt: bool) -> str:
        number = value.strip().upper()
        if len(number) != 18 or not number[:17].isdigit() or number[17] not in "0123456789X":
            raise OperatorError(
                f"ff1 cn_resident_id: needs 18 characters (17 digits + check), got {len(number)}"
            )
        if _ric_check(number[:17]) != number[17]:
            raise OperatorError("ff1 cn_resident_id: the check character does not match")
        region = number[:6]
        try:
            born = datetime.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
        except ValueError:
            raise OperatorError("ff1 cn_resident_id: the birth date is not a real date") from None
        seq = int(number[14:17])
        days = _region_days(region)
        day_index = days.index(born.toordinal())
        if day_index is None:
            raise OperatorError(
                "ff1 cn_resident_id: the birth date is outside the days the region code was in "
                f"use between {FIRST_DAY} and {LAST_DAY}"
            )
        local = day_index * _PER_DAY + seq // 2
        codes, prefix = _all_regions() if self.id_regions else ((), ())
        pos = bisect.bisect_left(codes, region)
        if pos < len(codes) and codes[pos] == region:
            # a current county: encrypted among all current counties.  A historic code is kept
            # (date mode below), so decryption tells the two apart by the code alone.
            x = prefix[pos] * _PER_DAY + local
            bound = prefix[-1] * _PER_DAY
            tweak = b"cn_resident_id|regions|" + bytes([seq % 2])
            y = (self._bin.decrypt_int if decrypt else self._bin.encrypt_int)(x, bound, tweak)
            pos = bisect.bisect_right(prefix, y // _PER_DAY) - 1
            region = codes[pos]
            local = y - prefix[pos] * _PER_DAY
            days = _region_days(region)
        elif days.total * _PER_DAY >= MIN_DOMAIN:
            bound = days.total * _PER_DAY
            tweak = b"cn_resident_id|" + region.encode() + bytes([seq % 2])
            local = (self._bin.decrypt_int if decrypt else self._bin.encrypt_int)(
                local, bound, tweak
            )
        elif days.total * 1000 >= MIN_DOMAIN:
            # a code in use for under ~5.5 years: the whole sequence (sex not kept) is needed to
            # reach FF1's minimum domain; decided by the region alone, so decryption agrees
            whole = day_index * 1000 + seq
            tweak = b"cn_resident_id|short|" + region.encode()
            whole = (self._bin.decrypt_int if decrypt else self._bin.encrypt_int)(
                whole, days.total * 1000, tweak
            )
            day_index, seq = divmod(whole, 1000)
            local = day_index * _PER_DAY + seq // 2
        else:
            # in use under 1,000 days: encrypted among all such codes (region included); the
            # output is again such a code, so decryption takes this branch too
            short, sprefix = _short_regions(self.id_regions)
            pos = bisect.bisect_left(short, region)
            whole = (sprefix[pos] + day_index) * 1000 + seq
            whole = (self._bin.decrypt_int if decrypt else self._bin.encrypt_int)(
                whole, sprefix[-1] * 1000, b"cn_resident_id|brief"
            )
            total_day, seq = divmod(whole, 1000)
            pos = bisect.bisect_right(sprefix, total_day) - 1
            region = short[pos]
            days = _region_days(region)
            local = (total_day - sprefix[pos]) * _PER_DAY + seq // 2
        day_index, half = divmod(local, _PER_DAY)
        day = datetime.date.fromordinal(days.ordinal(day_index))
        first17 = f"{region}{day:%Y%m%d}{half * 2 + seq % 2:03d}"
        out = first17 + _ric_check(first17)
        return out if value.strip() == value else value.replace(value.strip(), out)

    # --- mobile ------------------------------------------------------------------------------

    def _mobile(self, value: str, decrypt: bool) -> str:
        positions = [i for i, c in enumerate(value) if "0" <= c <= "9"]
        digits = "".join(value[i] for i in positions)
        if len(digits) < 11 or not validators.cn_mobile_ok(digits[-11:]):
            raise OperatorError(
                f"ff1 cn_mobile: not an 11-digit mobile number in a current segment "
                f"({len(digits)} digits)"
            )
        core = digits[-11:]
        rest = core[3:]
        tweak = b"cn_mobile|" + core[:3].encode()
        new = self._dec.decrypt(rest, tweak) if decrypt else self._dec.encrypt(rest, tweak)
        return self._place(value, positions, digits[:-11] + core[:3] + new)

    # --- bank card ---------------------------------------------------------------------------

    def _card(self, value: str, decrypt: bool) -> str:
        positions = [i for i, c in enumerate(value) if "0" <= c <= "9"]
        digits = "".join(value[i] for i in positions)
        if not 13 <= len(digits) <= 19 or not validators.luhn_ok(digits):
            raise OperatorError(
                f"ff1 bank_card: needs 13-19 digits passing Luhn ({len(digits)} digits)"
            )
        bin6, middle = digits[:6], digits[6:-1]
        tweak = b"bank_card|" + bin6.encode() + bytes([len(digits)])
        new = self._dec.decrypt(middle, tweak) if decrypt else self._dec.encrypt(middle, tweak)
        payload = bin6 + new
        return self._place(value, positions, payload + luhn_check_digit(payload))

    # --- fallback ----------------------------------------------------------------------------

    def _digits(self, value: str, decrypt: bool, type_id: str | None) -> str:
        positions = [i for i, c in enumerate(value) if "0" <= c <= "9"]
        digits = "".join(value[i] for i in positions)
        keep = _kept_head(digits, type_id)
        head, body = digits[:keep], digits[keep:]
        if len(body) < 6:
            raise OperatorError(
                f"ff1: needs at least 6 digits to encrypt, the value has {len(body)}"
                + (f" after the {keep} kept" if keep else "")
            )
        tweak = b"digits|" + (type_id or "").encode() + b"|" + head.encode()
        step = self._dec.decrypt if decrypt else self._dec.encrypt
        validator = _walk_validator(type_id)
        if validator is None:
            return self._place(value, positions, head + step(body, tweak))
        if not validator(value):
            raise OperatorError(
                f"ff1 {type_id}: the value does not validate, so its image could not either"
            )
        # cycle walking: FF1 again until the result is valid; a permutation of the valid values
        for _ in range(_MAX_WALK):
            body = step(body, tweak)
            out = self._place(value, positions, head + body)
            if validator(out):
                return out
        raise OperatorError(f"ff1 {type_id}: no valid image within {_MAX_WALK} steps")

    @staticmethod
    def _place(value: str, positions: list[int], digits: str) -> str:
        chars = list(value)
        for i, d in zip(positions, digits, strict=True):
            chars[i] = d
        return "".join(chars)


class FpeOperator:
    """``ff1:<key>`` / ``ff1:<key>@<version>``: typed FF1 under the key's ``ff1`` subkey."""

    reversible = True

    def __init__(self, key_spec: str, keys: KeyRing, *, id_regions: bool = False) -> None:
        base, plus, option = key_spec.partition("+")
        if plus:
            if option != "regions":
                raise ValueError(f"unknown ff1 option {option!r}; known: regions")
            id_regions = True
        name, _, version = base.partition("@")
        if version and not version.isdigit():
            raise ValueError(f"key version {version!r} is not a number")
        key = keys.get(name, int(version)) if version else keys.current(name)
        self.spec = f"ff1:{key_spec}"
        self.key_name = name
        self.version = key.version
        self._fpe = TypedFpe(key.derive("ff1"), id_regions=id_regions)

    def __repr__(self) -> str:
        return f"FpeOperator({self.spec!r}, version={self.version})"

    def apply(self, value: str, type_id: str | None = None) -> str:
        return self._fpe.encrypt(value, type_id)

    def reverse(self, protected: str, type_id: str | None = None) -> str:
        return self._fpe.decrypt(protected, type_id)
