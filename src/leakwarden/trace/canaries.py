"""Canary customers: synthetic people planted in an export copy, and finding them again.

Making them (:func:`make_canaries`, called by :mod:`leakwarden.trace.fingerprint` when an export
runs): each canary copies the *shape* of a real customer of the same copy (the donor, drawn at
random): as many rows as the donor has, the donor's non-personal cells (amounts, statuses,
segments, items), date-times from another row of the copy of someone born within a year of the
canary (dates depend on age), at the time of day of yet another row (so no timestamp repeats a
real row's), never before the canary's 18th birthday; the donor's personal cells are replaced by one
synthetic person of :meth:`leakwarden.demo.values.Values.people` (the generator the demo's
customers come from: the name agrees with the gender, the resident ID carries a real region code
of the birth year, the birth date and the gender, the e-mail is made from the name's pinyin, the
address lies in the person's province, city and district), of the donor's locale.  A masked
donor cell gives the canary value masked at the same positions, a pseudonymised one its
pseudonym; a second phone in ``remark`` is replaced by a new one of the same kind.  Keys (the
customer column, unique integer ids such as order ids) get values the copy does not use, inside
the copy's range where it has gaps.

The person generator is the demo company's; on another company's data its marginals (regions,
ages, name frequencies) should be fitted to that company's customers: noted, not built here.

Finding them (:class:`CanaryIndex`): the registry holds each canary's identifiers as keyed
hashes (:func:`canary_keys`: phone, e-mail, resident ID, name, and pseudonyms of them); a sample
row hits a canary when its identifiers' hashes are a canary's.  A hit is *strong* when two
different kinds agree (phone and name, ID and phone, ...) or the value is a pseudonym (keyed by
the company's secret), else *weak* (one plain identifier, which a real person outside could
share by chance: :data:`IDENTIFIER_SPACE`).
"""

from __future__ import annotations

import bisect
import hashlib
import hmac
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np

from leakwarden.detect.normalize import normalize
from leakwarden.trace.normalize import identifier_keys

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from leakwarden.demo.values import Person, Values
    from leakwarden.protect.keys import KeyRing
    from leakwarden.trace.normalize import SampleRow

__all__ = [
    "CANARY_HASH",
    "IDENTIFIER_SPACE",
    "Canary",
    "CanaryHit",
    "CanaryIndex",
    "canary_digest",
    "canary_keys",
    "column_kinds",
    "make_canaries",
]

CANARY_HASH = "canary-hash"
# How many values a phone number, e-mail or resident ID could take, for the chance that an
# outside row shares one canary identifier (a lower bound on the real spaces: ~1.6e9 mobiles
# allocated, resident IDs ~1.4e9 people): a weak hit is chance with probability ~1 / this.
IDENTIFIER_SPACE = 1e9

_NAME_COLS = {"name", "ship_to_name", "recipient_name", "holder_name", "customer_name"}
_PHONE_COLS = {"mobile", "ship_to_phone", "recipient_phone", "phone"}
_ID_COLS = {"id_card", "id_number"}
_ADDRESS_COLS = {"address", "ship_to_address", "recipient_address"}
_BY_NAME = {
    **{c: "name" for c in _NAME_COLS},
    **{c: "mobile" for c in _PHONE_COLS},
    **{c: "id" for c in _ID_COLS},
    **{c: "address" for c in _ADDRESS_COLS},
    "email": "email",
    "gender": "gender",
    "birth_date": "birth_date",
    "province": "province",
    "city": "city",
    "district": "district",
    "remark": "remark",
    "card_no": "card",
    "ext_info": "ext",
    "locale": "locale",
    "waybill_no": "waybill",
}
#: the kinds that hold the person's own values (replaced in a canary)
PERSON_KINDS = frozenset(
    {"name", "mobile", "id", "address", "email", "gender", "birth_date", "province", "city",
     "district", "remark", "card", "ext", "locale"}
)  # fmt: skip
_MOBILE = re.compile(r"1[3-9]\d{9}")
_RESIDENT = re.compile(r"\d{17}[\dXx]")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}")
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}")
_PSEUDO = re.compile(r"[a-z][a-z_]*:[0-9]+:[A-Z2-7]{26}")
_BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_CJK_NAME = re.compile(r"[\u4e00-\u9fff·]{2,5}")


@dataclass
class Canary:
    """One canary customer: its person, the rows it adds to the copy, its key value in the copy
    (None without a customer column) and its identifier keys (normal forms, :func:`canary_keys`)."""

    person: Person
    rows: list[list[str]]
    key_value: str | None
    keys: list[tuple[str, bool]] = field(default_factory=list)  # (normal form, is a contact)

    @property
    def kinds(self) -> list[str]:
        return sorted({k.split(":", 1)[0] for k, _ in self.keys})


def column_kinds(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """What each output column holds, by its name (the demo schema's names and their usual
    aliases) and, for other names, by its values: ``mobile``, ``id``, ``email``, ``datetime``,
    a unique integer ``unique_int``, else ``other``."""
    kinds = []
    for j, name in enumerate(header):
        low = name.strip().lower()
        values = [r[j] for r in rows[:200] if j < len(r) and r[j]]
        kind = _BY_NAME.get(low)
        if kind is None and values:
            if all(_MOBILE.fullmatch(v) for v in values):
                kind = "mobile"
            elif all(_RESIDENT.fullmatch(v) for v in values):
                kind = "id"
            elif all(_EMAIL.fullmatch(v) for v in values):
                kind = "email"
            elif all(_DATETIME.match(v) for v in values):
                kind = "datetime"
            elif low in {"id", "order_id"} or low.endswith("_id"):
                every = [r[j] for r in rows if j < len(r)]
                if all(v.isdigit() for v in every) and len(set(every)) == len(every):
                    kind = "unique_int"
        kinds.append(kind or "other")
    return kinds


def _mask_like(donor: str, value: str) -> str:
    """``value`` masked where ``donor`` is (``138****5678``, ``张*``)."""
    if "*" not in donor:
        return value
    if len(donor) == len(value):
        return "".join("*" if d == "*" else v for d, v in zip(donor, value, strict=True))
    keep = len(donor) - len(donor.lstrip("*")) == 0
    return (value[0] if keep else "") + "*" * max(len(value) - 1, 1)


def _unused_ints(used: Iterable[str], count: int, rng: np.random.Generator) -> list[str]:
    """``count`` integers not in ``used``: gaps of its range first (at random), then above."""
    nums = sorted({int(u) for u in used if u.isdigit()})
    if not nums:
        return [str(i) for i in range(1, count + 1)]
    lo, hi = nums[0], nums[-1]
    taken = set(nums)
    out: list[int] = []
    span = hi - lo + 1
    if span - len(taken) > 0:
        tries = 0
        while len(out) < count and tries < 20 * count + 100:
            v = lo + int(rng.integers(0, span))
            tries += 1
            if v not in taken:
                taken.add(v)
                out.append(v)
    top = hi
    while len(out) < count:
        top += int(rng.integers(1, 4))
        if top not in taken:
            taken.add(top)
            out.append(top)
    return [str(v) for v in out]


def _unused_like(donors: Sequence[str], used: set[str], rng: np.random.Generator) -> list[str]:
    """Per donor value, one of the same shape (each digit and letter redrawn, case kept) that is
    not in ``used``; a pseudonym keeps its ``type:version:`` prefix and gets a new base32 body."""
    upper, lower = "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz"
    out: list[str] = []
    for donor in donors:
        head, sep, body = donor.rpartition(":")
        b32 = bool(_PSEUDO.fullmatch(donor))
        for _ in range(100):
            chars = []
            for ch in body:
                if b32:
                    chars.append(_BASE32[int(rng.integers(0, 32))])
                elif ch.isdigit():
                    chars.append(str(int(rng.integers(0, 10))))
                elif ch in upper:
                    chars.append(upper[int(rng.integers(0, 26))])
                elif ch in lower:
                    chars.append(lower[int(rng.integers(0, 26))])
                else:
                    chars.append(ch)
            value = head + sep + "".join(chars)
            if value not in used:
                break
        used.add(value)
        out.append(value)
    return out


def _parse_dt(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _adult_from(birth: date) -> datetime:
    try:
        return datetime(birth.year + 18, birth.month, birth.day)
    except ValueError:  # 29 February
        return datetime(birth.year + 18, 3, 1)


def make_canaries(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    kinds: Sequence[str],
    key_pos: int | None,
    count: int,
    values: Values,
    *,
    pseudonymise: Mapping[int, Callable[[str], str]] | None = None,
    taken: Callable[[Sequence[Person]], set[int]] | None = None,
) -> list[Canary]:
    """``count`` canaries shaped on ``rows`` (module docstring).  ``values`` is seeded by the
    caller (per copy); ``pseudonymise`` maps output positions to the gateway's pseudonym
    function for that column; ``taken`` says which of some people hold a phone, e-mail or
    resident ID a real customer has (they are drawn again: a canary must never share a real
    customer's contact, or the canary guard would stop that customer's parcels).  ``rows`` are
    the copy's real rows as released (strings)."""
    if count <= 0 or not rows:
        return []
    rng = values.rng
    pseudo = dict(pseudonymise or {})
    groups: dict[str, list[int]] = {}
    for i, r in enumerate(rows):
        groups.setdefault(r[key_pos] if key_pos is not None else f"#{i}", []).append(i)
    group_list = list(groups.values())
    donors = [group_list[int(g)] for g in rng.integers(0, len(group_list), size=count)]
    latin = [_is_latin(rows[d[0]], kinds) for d in donors]
    en = sum(latin)
    zh_people = values.people(count - en, en_share=0.0) if count - en else []
    en_people = values.people(en, en_share=1.0) if en else []
    it_zh, it_en = iter(zh_people), iter(en_people)
    people = [next(it_en) if lt else next(it_zh) for lt in latin]
    dt_cols = [j for j, k in enumerate(kinds) if k == "datetime" or _is_dt_col(rows, j)]
    times = {j: _sorted_times(rows, j) for j in dt_cols}
    used_stamps = {j: {v for _, v in times[j]} for j in dt_cols}
    births = sorted((b, i) for i, b in enumerate(_row_births(rows, kinds)) if b is not None)
    latest = min((t[-1][0] for t in times.values() if t), default=None)

    def old_enough(person: Person, latin: bool) -> Person:
        # nobody in the data became a customer (or ordered) before 18: a canary too young for
        # every date-time of the copy is drawn again
        for _ in range(200):
            if latest is None or _adult_from(person.birth_date) <= latest:
                return person
            person = values.people(1, en_share=1.0 if latin else 0.0)[0]
        raise ValueError(f"canaries: nobody drawn was 18 by the copy's last date-time {latest}")

    people = [old_enough(p, lt) for p, lt in zip(people, latin, strict=True)]
    for _ in range(8):
        clash = taken(people) if taken is not None else set()
        if not clash:
            break
        for i in sorted(clash):
            people[i] = old_enough(values.people(1, en_share=1.0 if latin[i] else 0.0)[0], latin[i])
    else:
        raise ValueError("canaries: could not draw people whose identifiers are nobody's")
    if key_pos is None:
        key_values = [""] * count
    elif all(k.isdigit() for k in groups):
        key_values = _unused_ints(groups, count, rng)
    else:  # keys that are not integers (pseudonyms, codes): shaped like a donor's, unused
        key_values = _unused_like([rows[d[0]][key_pos] for d in donors], set(groups), rng)
    unique_cols = [j for j, k in enumerate(kinds) if k == "unique_int" and j != key_pos]
    n_new_rows = sum(len(d) for d in donors)
    fresh = {j: iter(_unused_ints((r[j] for r in rows), n_new_rows, rng)) for j in unique_cols}
    out: list[Canary] = []
    for donor, person, kv in zip(donors, people, key_values, strict=True):
        adult = _adult_from(person.birth_date)
        remark_new: dict[str, str] = {}
        made: list[list[str]] = []
        for i in donor:
            src = rows[i]
            row = list(src)
            aged = _age_matched(births, person.birth_date, rows, list(times), adult, rng)
            for j, kind in enumerate(kinds):
                cell = src[j] if j < len(src) else ""
                if j == key_pos:
                    row[j] = kv
                elif j in fresh:
                    row[j] = next(fresh[j])
                elif kind in PERSON_KINDS:
                    row[j] = _person_cell(kind, cell, person, values, remark_new)
                elif kind == "waybill" and cell:
                    row[j] = values.waybill(_courier(cell))
                if j in times and cell:
                    stamp = (
                        rows[aged][j]
                        if aged is not None and rows[aged][j]
                        else _other_datetime(times[j], adult, rng) or cell
                    )
                    row[j] = _new_time_of_day(stamp, times[j], used_stamps[j], adult, rng)
                if (
                    j in pseudo
                    and row[j]
                    and kind in PERSON_KINDS
                    and not _PSEUDO.fullmatch(row[j])
                ):
                    row[j] = pseudo[j](row[j])
            made.append(row)
        canary = Canary(person, made, kv if key_pos is not None else None)
        canary.keys = canary_keys(canary, kinds)
        out.append(canary)
    return out


def _is_latin(row: Sequence[str], kinds: Sequence[str]) -> bool:
    for v, k in zip(row, kinds, strict=False):
        if k == "locale" and v:
            return v.startswith("en")
        if k == "name" and v and "*" not in v and ":" not in v:
            return v.isascii()
    return False


def _is_dt_col(rows: Sequence[Sequence[str]], j: int) -> bool:
    sample = [r[j] for r in rows[:50] if j < len(r) and r[j]]
    return bool(sample) and all(_DATETIME.match(v) for v in sample)


def _row_births(rows: Sequence[Sequence[str]], kinds: Sequence[str]) -> list[date | None]:
    """Each row's birth date, from a birth-date column or else a resident ID (None: neither)."""
    birth_col = next((j for j, k in enumerate(kinds) if k == "birth_date"), None)
    id_col = next((j for j, k in enumerate(kinds) if k == "id"), None)
    out: list[date | None] = []
    for r in rows:
        got: date | None = None
        try:
            if birth_col is not None and r[birth_col]:
                got = date.fromisoformat(r[birth_col][:10])
            elif id_col is not None and _RESIDENT.fullmatch(r[id_col]):
                v = r[id_col]
                got = date(int(v[6:10]), int(v[10:12]), int(v[12:14]))
        except ValueError:
            got = None
        out.append(got)
    return out


def _age_matched(
    births: Sequence[tuple[date, int]],
    birth: date,
    rows: Sequence[Sequence[str]],
    dt_cols: Sequence[int],
    adult: datetime,
    rng: np.random.Generator,
) -> int | None:
    """A row of someone born within a year of ``birth`` whose date-times are all after
    ``adult``: its date-times are the canary's (dates depend on age, e.g. a customer account
    opened soon after the 18th birthday), None if there is none."""
    if not births or not dt_cols:
        return None
    lo = bisect.bisect_left(births, (birth - timedelta(days=365), -1))
    hi = bisect.bisect_right(births, (birth + timedelta(days=365), len(rows)))
    for _ in range(16):
        if hi <= lo:
            return None
        i = births[lo + int(rng.integers(0, hi - lo))][1]
        stamps = [_parse_dt(rows[i][j]) for j in dt_cols if rows[i][j]]
        if all(t is not None and t.replace(tzinfo=None) >= adult for t in stamps):
            return i
    return None


def _new_time_of_day(
    stamp: str,
    times: Sequence[tuple[datetime, str]],
    taken: set[str],
    adult: datetime,
    rng: np.random.Generator,
) -> str:
    """``stamp`` with the time of day of another row's, so that it repeats no value in
    ``taken`` (the column's, and earlier canaries') and times of day keep the column's
    distribution; never before ``adult``.  ``stamp`` itself if no such time is found."""
    if not times or len(stamp) < 19 or stamp[10] not in "T ":
        return stamp
    for _ in range(8):
        other = times[int(rng.integers(0, len(times)))][1]
        if len(other) < 19:
            continue
        mixed = stamp[:11] + other[11:19] + stamp[19:]
        at = _parse_dt(mixed)
        if mixed not in taken and at is not None and at.replace(tzinfo=None) >= adult:
            taken.add(mixed)
            return mixed
    return stamp


def _sorted_times(rows: Sequence[Sequence[str]], j: int) -> list[tuple[datetime, str]]:
    out = []
    for r in rows:
        at = _parse_dt(r[j]) if j < len(r) and r[j] else None
        if at is not None:
            out.append((at.replace(tzinfo=None), r[j]))
    return sorted(out)


def _other_datetime(
    times: Sequence[tuple[datetime, str]], adult: datetime, rng: np.random.Generator
) -> str | None:
    """A date-time of the column from a row of the copy, not before ``adult`` (``times``
    sorted), at random among those."""
    lo = bisect.bisect_left(times, (adult, ""))
    if lo >= len(times):
        return None
    return times[lo + int(rng.integers(0, len(times) - lo))][1]


def _courier(waybill: str) -> str:
    for c in ("SF", "JD", "YT"):
        if waybill.startswith(c):
            return c
    return "ZTO"


def _person_cell(
    kind: str, cell: str, person: Person, values: Values, remark_new: dict[str, str]
) -> str:
    if not cell:
        return cell
    if kind == "remark":
        if _MOBILE.fullmatch(cell):
            return remark_new.setdefault(cell, values.mobile())
        if sum(ch.isdigit() for ch in cell) >= 7 and "-" in cell:
            return remark_new.setdefault(cell, values.landline())
        return cell
    if kind == "ext":
        return _RESIDENT.sub(person.id_number, cell) if _RESIDENT.search(cell) else cell
    if kind == "card":
        return _mask_like(cell, values.unionpay_card())
    own = {
        "name": person.name,
        "mobile": person.mobile,
        "id": person.id_number,
        "address": person.address,
        "email": person.email,
        "gender": person.gender,
        "birth_date": person.birth_date.isoformat(),
        "province": person.province,
        "city": person.city,
        "district": person.district,
        "locale": person.locale,
    }[kind]
    return _mask_like(cell, own)


def _squash(text: str) -> str:
    return "".join(normalize(text).split()).lower()


def canary_keys(canary: Canary, kinds: Sequence[str]) -> list[tuple[str, bool]]:
    """The normal forms registered for a canary: its phone(s), e-mail, resident ID and name as
    written in clear, and any pseudonyms its rows carry; ``True`` marks contact points."""
    p = canary.person
    keys: set[tuple[str, bool]] = set()
    for k in identifier_keys("phone", p.mobile):
        keys.add((k, True))
    for k in identifier_keys("email", p.email):
        keys.add((k, True))
    for k in identifier_keys("id", p.id_number):
        keys.add((k, False))
    keys.add((f"name:{_squash(p.name)}", False))
    for row in canary.rows:
        for kind, cell in zip(kinds, row, strict=False):
            if kind == "remark" and _MOBILE.fullmatch(cell):
                keys.update((k, True) for k in identifier_keys("phone", cell))
            if _PSEUDO.fullmatch(cell):
                keys.add((f"pseudo:{cell}", False))
    return sorted(keys)


def canary_digest(mac_key: bytes, key: str) -> str:
    """The registry's keyed hash of one canary identifier normal form."""
    return hmac.new(mac_key, key.encode("utf-8"), hashlib.sha256).hexdigest()


def canary_mac(keys: KeyRing, hash_key: str) -> bytes:
    """The MAC key behind a canary ``hash_key`` (``<key name>:<version>:canary-hash``)."""
    name, version, _ = hash_key.split(":", 2)
    return keys.get(name, int(version)).derive(CANARY_HASH)


# ------------------------------------------------------------------------------ finding them


@dataclass(frozen=True)
class CanaryHit:
    """Sample row ``row`` carries canary ``canary_id`` of copy ``export_id``; ``kinds`` the
    identifier kinds that agreed; ``strong`` (module docstring)."""

    row: int
    canary_id: str
    export_id: str
    kinds: tuple[str, ...]
    strong: bool


class CanaryIndex:
    """The canary registry's keyed hashes, for matching a sample (module docstring)."""

    def __init__(
        self, by_digest: dict[str, list[tuple[str, str, str]]], hash_keys: set[str]
    ) -> None:
        self.by_digest = by_digest  # digest -> [(canary id, export id, kind)]
        self.hash_keys = hash_keys
        self.per_copy: dict[str, int] = {}

    @classmethod
    def load(cls, store: Engine) -> CanaryIndex:
        from sqlalchemy import select
        from sqlalchemy.orm import Session

        from leakwarden.store.canary_tables import TraceCanary, TraceCanaryKey

        by_digest: dict[str, list[tuple[str, str, str]]] = {}
        hash_keys: set[str] = set()
        per_copy: dict[str, int] = {}
        with Session(store) as session:
            for c in session.scalars(select(TraceCanary)):
                hash_keys.add(c.hash_key)
                per_copy[c.export_id] = per_copy.get(c.export_id, 0) + 1
            q = select(TraceCanaryKey.digest, TraceCanaryKey.kind, TraceCanary.id,
                       TraceCanary.export_id).join(
                TraceCanary, TraceCanary.id == TraceCanaryKey.canary_id
            )  # fmt: skip
            for digest, kind, cid, xid in session.execute(q):
                by_digest.setdefault(digest, []).append((cid, xid, kind))
        index = cls(by_digest, hash_keys)
        index.per_copy = per_copy
        return index

    def match(self, rows: Sequence[SampleRow], keys: KeyRing) -> list[CanaryHit]:
        """The canaries each sample row carries (at most one hit per row and canary)."""
        if not self.by_digest:
            return []
        macs = [canary_mac(keys, hk) for hk in sorted(self.hash_keys)]
        hits: list[CanaryHit] = []
        for row in rows:
            forms = {k for k, _ in row.keys} | {f"name:{n}" for n in _row_names(row)}
            found: dict[tuple[str, str], set[str]] = {}
            for form in forms:
                for mac in macs:
                    for cid, xid, kind in self.by_digest.get(canary_digest(mac, form), ()):
                        found.setdefault((cid, xid), set()).add(kind)
            for (cid, xid), agreed in sorted(found.items()):
                strong = len(agreed) >= 2 or "pseudo" in agreed
                if agreed == {"name"}:
                    continue  # a name alone is shared by many people
                hits.append(CanaryHit(row.number, cid, xid, tuple(sorted(agreed)), strong))
        return hits


def _row_names(row: SampleRow) -> set[str]:
    out = set()
    for v in row.values:
        s = _squash(v)
        if _CJK_NAME.fullmatch(s) or (
            s and s.replace(" ", "").isalpha() and s.isascii() and 3 <= len(s) <= 40
        ):
            out.add(s)
    # a Latin name as written, with its spaces
    for _, v in row.cells:
        if v.isascii() and " " in v.strip() and v.replace(" ", "").isalpha():
            out.add(_squash(v))
    return out
