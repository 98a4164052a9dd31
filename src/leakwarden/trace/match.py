"""Matching a leaked sample's rows to the company's customers.

:class:`CustomerIndex` is built from the company database (SQLAlchemy; the table and columns
come from a :class:`CustomerSource`, the demo company's ``customers`` and ``payment_cards`` by
default), streamed in chunks so ten million customers fit in memory, and can be saved and
loaded memory-mapped (:mod:`leakwarden.trace.index`):

- exact index: every customer identifier (the id card, mobile, e-mail, other phone columns such
  as the demo's ``remark`` when it holds a phone, the payment cards, and with the gateway's
  pseudonym key the pseudonyms exports write for them and the name) in the normal form of
  :func:`leakwarden.trace.normalize.identifier_keys`, plus three keys of name and address per
  customer, ``n:`` (the name form of :func:`leakwarden.trace.fuzzy.name_form`), ``na:`` (name
  form, canonical city and the address's numbers, :func:`leakwarden.trace.fuzzy.block_key`)
  and ``a:`` (city and numbers, :func:`leakwarden.trace.fuzzy.address_key`), hashed with
  BLAKE2b keyed by the index key (random per index, or derived from the key ring for a saved
  index) to an 8-byte integer; one sorted ``uint64`` array plus the owners' customer ids,
  looked up with ``numpy.searchsorted`` (16 bytes per key; no clear value is held);
- masked index, per kind (mobile, resident ID): the value as an integer, sorted by a code of its
  last four characters, so a mask such as ``138****5678`` is a range lookup on the suffix then a
  vectorised prefix filter.

:func:`match_sample` then decides per row, precision before recall (a wrong customer notified
is harm done):

1. exact identifier hits (confidence 0.99 for one identifier, 0.999 with a second identifier or
   the name confirming; 0.5 when the row's other identifiers belong to nobody or someone else
   and the name does not confirm);
2. else masked values narrowed to candidates, confirmed by the exact name (the ``n:`` key) or the
   address (candidates with the address's ``a:`` key, then
   :func:`leakwarden.trace.fuzzy.address_score` >= 0.9); a fuzzy or masked name
   (``张*``) alone never confirms.  Name and address both: 0.99; the name alone: ``1 - c f``,
   ``c`` the mask's candidates and ``f`` the name's share of the customer base (the chance that
   a stranger's row finds a namesake among them), at most 0.98; the address alone: 0.95, or
   0.5 when the row's name is someone else's.  Several confirmed: ``1 / n``, ambiguous;
3. else name and address without any identifier: the ``na:`` block gives the customers with
   that name in the address's city at an address with the same numbers; a candidate counts
   when its address agrees (equal: 0.95; every number equal and the rest close: 0.9);
   several: ambiguous.  A row whose identifiers
   belong to no customer is not matched this way (its phone or ID says it is someone else), and
   a name alone, or a name with a city but no street, is never a match.

Rows with no customer are *unexplained* (foreign rows).  Customer details for confirmation
(name, address) are read from the company database for the candidates only, in batches; the
``n:``/``na:``/``a:`` keys keep those candidates to the one or two customers a row can be, so
a 10,000-row leak reads a few thousand customers, not every namesake or every customer a mask
fits (benchmarks/trace_match.py measures it against ten million customers).  Masked values of
other kinds (cards) or lengths narrow nothing; such a row is matched on name and address.
"""

from __future__ import annotations

import hashlib
import secrets
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from difflib import SequenceMatcher
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from leakwarden.detect.normalize import normalize
from leakwarden.trace.fuzzy import (
    ADDRESS_OK,
    Address,
    address_key,
    address_numbers,
    address_score,
    block_key,
    city_key,
    name_form,
    parse_address,
)
from leakwarden.trace.normalize import Masked, Sample, SampleRow, identifier_keys

if TYPE_CHECKING:
    from pathlib import Path

    from sqlalchemy.engine import Connection, Engine

    from leakwarden.protect.keys import KeyRing

__all__ = ["CustomerIndex", "CustomerSource", "RowMatch", "match_sample"]

CHUNK = 200_000
FUZZY_OK = 0.8
MAX_DETAILS = 200  # candidates of one row whose details are read; more: not confirmable
U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]
Progress = Callable[[int], None]


@dataclass(frozen=True)
class CustomerSource:
    """Where the customers are: ``table`` and its column names (None: the source has no such
    column), ``phones`` further columns that may hold a phone number (keyed when they hold 7+
    digits), ``city`` the column naming the customer's city (else the address is parsed), and
    the payment-card table (None: none)."""

    table: str = "customers"
    id: str = "id"
    name: str | None = "name"
    id_card: str | None = "id_card"
    mobile: str | None = "mobile"
    email: str | None = "email"
    phones: tuple[str, ...] = ("remark",)
    address: str | None = "address"
    city: str | None = "city"
    cards_table: str | None = "payment_cards"
    card_customer: str = "customer_id"
    card_no: str = "card_no"

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["phones"] = list(self.phones)
        return out

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> CustomerSource:
        """The source :meth:`to_json` wrote; ValueError naming an unknown or missing field."""
        names = set(cls.__dataclass_fields__)
        if not isinstance(doc, dict):
            raise ValueError(f"customer source: an object of fields, not {type(doc).__name__}")
        if set(doc) - names:
            raise ValueError(f"customer source: unknown fields {sorted(set(doc) - names)}")
        values = dict(doc)
        if "phones" in values:
            values["phones"] = tuple(values["phones"])
        return cls(**values)


DEMO_SOURCE = CustomerSource()


@dataclass
class RowMatch:
    """What one sample row matched: ``customer_id`` (None: unexplained), ``confidence`` in
    [0, 1], ``fields`` saying which fields matched and how, ``candidates`` how many customers
    the row could still be."""

    row: int
    customer_id: int | None
    confidence: float
    fields: list[str] = field(default_factory=list)
    candidates: int = 0


@dataclass
class _MaskIndex:
    codes: npt.NDArray[np.int32]
    values: I64
    owners: I64

    @classmethod
    def build(cls, codes: list[int], values: list[int], owners: list[int]) -> _MaskIndex:
        c = np.asarray(codes, dtype=np.int32)
        v = np.asarray(values, dtype=np.int64)
        o = np.asarray(owners, dtype=np.int64)
        order = np.argsort(c, kind="stable")
        return cls(c[order], v[order], o[order])


def _id_code(value: str) -> tuple[int, int] | None:
    """(suffix code, 17-digit integer) of an 18-character resident ID."""
    if (
        len(value) != 18
        or not value[:17].isdigit()
        or not (value[17].isdigit() or value[17] == "X")
    ):
        return None
    check = 10 if value[17] == "X" else int(value[17])
    return int(value[14:17]) * 11 + check, int(value[:17])


def _pseudo_types() -> dict[str, str]:
    from leakwarden.demo.schema import COLUMN_TYPES

    return {role: COLUMN_TYPES["customers"][role][0] for role in ("name", "id_card", "mobile",
                                                                  "email")}  # fmt: skip


class CustomerIndex:
    """Keyed-hash and masked-value indexes of the company's customers (module docstring).

    ``key``: the 32-byte hashing key (random when not given: the index then lives only as long
    as this object); ``key_id`` names it in a saved index's manifest."""

    def __init__(self, key: bytes | None = None, key_id: str = "random") -> None:
        if key is not None and len(key) < 16:
            raise ValueError("index key: at least 16 bytes")
        self._key = key if key is not None else secrets.token_bytes(32)
        self._hasher = hashlib.blake2b(key=self._key, digest_size=8)  # copied per key: cheaper
        self.key_id = key_id
        self.hashes: U64 = np.zeros(0, dtype=np.uint64)
        self.owners: I64 = np.zeros(0, dtype=np.int64)
        self.customers = 0
        self.max_customer_id = 0
        self.built_at: datetime | None = None
        self.source = DEMO_SOURCE
        self.mobiles = _MaskIndex.build([], [], [])
        self.ids = _MaskIndex.build([], [], [])

    def digest(self, key: str) -> int:
        h = self._hasher.copy()
        h.update(key.encode())
        return int.from_bytes(h.digest(), "little")

    def key_check(self) -> str:
        """A one-way check value of the index key (to tell a saved index's key is the same)."""
        return hashlib.blake2b(b"leakwarden-trace-index-check", key=self._key).hexdigest()[:16]

    @classmethod
    def build(
        cls,
        company: Engine,
        *,
        pseudonym_keys: Sequence[tuple[bytes, int]] = (),
        progress: Progress | None = None,
        key: bytes | None = None,
        key_id: str = "random",
        source: CustomerSource = DEMO_SOURCE,
    ) -> CustomerIndex:
        """Read the customers (and their payment cards) in chunks of :data:`CHUNK` rows.

        ``pseudonym_keys``: the gateway's pseudonym ``(key, version)`` pairs; each customer's
        name, resident ID, mobile and e-mail are then also indexed as the pseudonym an export
        writes for them (``pseudo:<type>:<version>:<base32>``), so a leaked pseudonymised
        export matches too.  ``key``/``key_id``: see the class; ``source``: where the customers
        are."""
        index = cls(key, key_id)
        index.source = source
        builder = _Builder(index, pseudonym_keys)
        with company.connect() as conn:
            for part in _stream(conn, source):
                builder.customers(part)
                if progress is not None:
                    progress(builder.count)
            if source.cards_table:
                builder.cards(conn, source)
        builder.finish()
        return index

    @classmethod
    def load(cls, path: str | Path, keys: KeyRing, **checks: Any) -> CustomerIndex:
        """The saved index at ``path`` (:func:`leakwarden.trace.index.load_index`, whose
        keyword arguments ``checks`` are)."""
        from leakwarden.trace.index import load_index

        return load_index(path, keys, **checks)

    def lookup(self, keys: Sequence[str]) -> list[list[int]]:
        """The customer ids holding each key (usually one; [] when none)."""
        owners = np.asarray(self.owners)  # a plain view: memmap indexing costs per call
        return [
            [int(owners[a])] if b == a + 1 else sorted(set(owners[a:b].tolist()))
            for a, b in self.ranges(keys)
        ]

    def ranges(self, keys: Sequence[str]) -> list[tuple[int, int]]:
        """Where each key's owners are in :attr:`owners` (``owners[a:b]``; empty: nobody)."""
        if not keys:
            return []
        q = np.asarray([self.digest(k) for k in keys], dtype=np.uint64)
        lo = np.searchsorted(self.hashes, q, side="left")
        hi = np.searchsorted(self.hashes, q, side="right")
        return list(zip(lo.tolist(), hi.tolist(), strict=True))

    def masked_candidates(self, m: Masked) -> list[int] | None:
        """Customers whose mobile / resident ID fits the mask (prefix, suffix, length); None
        when the index cannot narrow this kind of mask (cards, other lengths)."""
        if m.kind == "phone" and m.length == 11:
            idx, width = self.mobiles, 11
            code = int(m.suffix[-4:])
        elif m.kind == "id" and m.length == 18:
            idx, width = self.ids, 17
            tail = m.suffix[-4:]
            if not tail[:3].isdigit():
                return []
            code = int(tail[:3]) * 11 + (10 if tail[3] == "X" else int(tail[3]))
        else:
            return None
        key = np.int32(code)  # a Python int would make numpy cast the whole array per call
        a = int(np.searchsorted(idx.codes, key, side="left"))
        b = int(np.searchsorted(idx.codes, key, side="right"))
        values, owners = np.asarray(idx.values)[a:b], np.asarray(idx.owners)[a:b]
        keep = np.ones(len(values), dtype=bool)
        if m.prefix:
            keep &= values // 10 ** (width - len(m.prefix)) == int(m.prefix)
        # the visible suffix beyond the 4-character code
        extra = m.suffix[:-4]
        if extra and extra.isdigit():
            shift = 0 if m.kind == "phone" else -1  # the ID's check character is not in value
            digits = len(extra)
            mod = 10 ** (4 + shift + digits)
            keep &= (values % mod) // 10 ** (4 + shift) == int(extra)
        return sorted(set(owners[keep].tolist()))


def _stream(conn: Connection, source: CustomerSource) -> Iterable[Sequence[Any]]:
    """The customers' rows (id, name, id card, mobile, e-mail, address, city, *phones) in parts
    of :data:`CHUNK`."""
    from sqlalchemy import column, literal, select, table

    wanted = [source.id, source.name, source.id_card, source.mobile, source.email,
              source.address, source.city, *source.phones]  # fmt: skip
    cols = [c for c in wanted if c]
    t = table(source.table, *(column(c) for c in dict.fromkeys(cols)))
    sel = [t.c[c] if c else literal(None) for c in wanted]
    result = conn.execution_options(stream_results=True, yield_per=CHUNK).execute(select(*sel))
    yield from result.partitions(CHUNK)


class _Builder:
    """Collects one index's keys chunk by chunk (:meth:`CustomerIndex.build`)."""

    def __init__(self, index: CustomerIndex, pseudonym_keys: Sequence[tuple[bytes, int]]) -> None:
        self.index = index
        self.pseudonym_keys = pseudonym_keys
        self.types = _pseudo_types() if pseudonym_keys else {}
        self.hashes: list[U64] = []
        self.owners: list[I64] = []
        self.mobile: tuple[list[int], list[int], list[int]] = ([], [], [])
        self.idcard: tuple[list[int], list[int], list[int]] = ([], [], [])
        self.count = 0
        self.max_id = 0
        self.names: dict[str, str | None] = {}
        self.cities: dict[str, tuple[str, ...]] = {}

    def _flush(self, keys: list[int], who: list[int]) -> None:
        self.hashes.append(np.asarray(keys, dtype=np.uint64))
        self.owners.append(np.asarray(who, dtype=np.int64))

    def _name(self, name: str) -> str | None:
        if name not in self.names:
            if len(self.names) > 2_000_000:
                self.names.clear()
            self.names[name] = name_form(name)
        return self.names[name]

    def _cities(self, city: str | None, address: str | None) -> tuple[str, ...]:
        if city:
            if city not in self.cities:
                self.cities[city] = city_key(city)
            if self.cities[city]:
                return self.cities[city]
        parsed = parse_address(address) if address else None
        return parsed.cities if parsed else ()

    def customers(self, part: Sequence[Any]) -> None:
        from leakwarden.protect.pseudonym import pseudonym

        digest = self.index.digest
        keys: list[int] = []
        who: list[int] = []
        m_codes, m_values, m_owners = self.mobile
        i_codes, i_values, i_owners = self.idcard
        for cid, name, id_card, mobile, email, address, city, *phones in part:
            cid = int(cid)
            self.max_id = max(self.max_id, cid)
            found: list[str] = []
            for pkey, version in self.pseudonym_keys:
                for role, value in (("name", name), ("id_card", id_card), ("mobile", mobile),
                                    ("email", email)):  # fmt: skip
                    if value and value.strip():
                        found.append("pseudo:" + pseudonym(pkey, version, value, self.types[role]))
            if id_card:
                found += identifier_keys("id", id_card)
                code = _id_code(normalize(id_card).strip().upper())
                if code is not None:
                    i_codes.append(code[0])
                    i_values.append(code[1])
                    i_owners.append(cid)
            if mobile:
                phone_keys = identifier_keys("phone", mobile, customer_side=True)
                found += phone_keys
                digits = phone_keys[0][6:] if phone_keys else ""
                if len(digits) == 11 and digits.startswith("1"):
                    m_codes.append(int(digits[-4:]))
                    m_values.append(int(digits))
                    m_owners.append(cid)
            if email:
                found += identifier_keys("email", email)
            for other in phones:
                if other and sum(ch.isdigit() for ch in other) >= 7:
                    found += identifier_keys("phone", other, customer_side=True)
            form = self._name(name) if name else None
            if form:
                found.append("n:" + form)
            if address:
                numbers = address_numbers(address)
                cities = self._cities(city, address)
                if form:
                    found += [block_key(form, c, numbers) for c in cities]
                found += [address_key(c, numbers) for c in cities]
            for k in found:
                keys.append(digest(k))
                who.append(cid)
        self.count += len(part)
        self._flush(keys, who)

    def cards(self, conn: Connection, source: CustomerSource) -> None:
        from sqlalchemy import column, select, table

        assert source.cards_table
        t = table(source.cards_table, column(source.card_customer), column(source.card_no))
        digest = self.index.digest
        result = conn.execution_options(stream_results=True, yield_per=CHUNK).execute(
            select(t.c[source.card_customer], t.c[source.card_no])
        )
        for part in result.partitions(CHUNK):
            keys, who = [], []
            for cid, card in part:
                for k in identifier_keys("card", card or ""):
                    keys.append(digest(k))
                    who.append(int(cid))
            self._flush(keys, who)

    def finish(self) -> None:
        index = self.index
        all_hashes = np.concatenate(self.hashes) if self.hashes else np.zeros(0, dtype=np.uint64)
        all_owners = np.concatenate(self.owners) if self.owners else np.zeros(0, dtype=np.int64)
        order = np.argsort(all_hashes, kind="stable")
        index.hashes = all_hashes[order]
        index.owners = all_owners[order]
        index.customers = self.count
        index.max_customer_id = self.max_id
        index.mobiles = _MaskIndex.build(*self.mobile)
        index.ids = _MaskIndex.build(*self.idcard)


def _details(
    company: Engine, ids: Iterable[int], source: CustomerSource
) -> dict[int, tuple[str, str]]:
    from sqlalchemy import column, literal, select, table

    wanted = sorted(set(ids))
    out: dict[int, tuple[str, str]] = {}
    cols = [c for c in (source.id, source.name, source.address) if c]
    t = table(source.table, *(column(c) for c in dict.fromkeys(cols)))
    name = t.c[source.name] if source.name else literal("")
    address = t.c[source.address] if source.address else literal("")
    with company.connect() as conn:
        for i in range(0, len(wanted), 500):
            for cid, n, a in conn.execute(
                select(t.c[source.id], name, address).where(t.c[source.id].in_(wanted[i : i + 500]))
            ):
                out[int(cid)] = (n or "", a or "")
    return out


def _squash(text: str) -> str:
    return "".join(normalize(text).split()).lower()


def name_score(name: str, row: SampleRow) -> float:
    """How well the customer's ``name`` is confirmed by a cell of the row: 1.0 equal (or
    contained, for pasted text), 0.8 a masked form (``张*``: first character and length), else
    the best ``difflib`` ratio."""
    target = _squash(name)
    if len(target) < 2:
        return 0.0
    best = 0.0
    for value in row.values:
        v = _squash(value)
        if not v:
            continue
        if v == target or (len(target) >= 2 and target in v and len(v) > 8):
            return 1.0
        if len(v) == len(target) and v[0] == target[0] and set(v[1:]) <= {"*"}:
            best = max(best, 0.8)
        elif abs(len(v) - len(target)) <= 3:
            best = max(best, SequenceMatcher(None, v, target).ratio())
    return best


def text_address_score(address: str, row: SampleRow) -> float:
    """How well the customer's address is confirmed by a cell whose address does not parse
    (:func:`leakwarden.trace.fuzzy.parse_address`): 1.0 contained, else best ``difflib`` ratio
    against a cell of similar length, at most 0.89 (below :data:`ADDRESS_OK`: an unparsed
    address never confirms on its own)."""
    target = _squash(address)
    if len(target) < 6:
        return 0.0
    best = 0.0
    for value in row.values:
        v = _squash(value)
        if len(v) < 6:
            continue
        if target in v:
            return 1.0
        if len(v) >= len(target) // 2:
            best = max(best, SequenceMatcher(None, v, target).ratio())
    return min(best, ADDRESS_OK - 0.01)


@dataclass
class _People:
    """The name forms and parsed addresses found in one row's cells."""

    names: set[str] = field(default_factory=set)
    addresses: list[Address] = field(default_factory=list)

    def block_keys(self) -> list[str]:
        return sorted(
            {
                block_key(n, c, a.numbers)
                for n in self.names
                for a in self.addresses
                for c in a.cities
            }
        )

    def address_keys(self) -> list[str]:
        return sorted({address_key(c, a.numbers) for a in self.addresses for c in a.cities})


def _people(row: SampleRow) -> _People:
    out = _People()
    loose: list[str] = []
    for value in row.values:
        if not value:
            continue
        form = name_form(value)
        if form:
            out.names.add(form)
            continue
        parsed = parse_address(value) if len(value) >= 6 else None
        if parsed:
            out.addresses.append(parsed)
            continue
        if " " in value and not value.isascii():
            # pasted text: "毛馨霞 宁夏回族自治区吴忠市..." in one cell
            for part in value.split():
                form = name_form(part)
                if form:
                    out.names.add(form)
                elif (parsed := parse_address(part)) is not None:
                    out.addresses.append(parsed)
        elif not value.isascii() and not any(ch.isdigit() for ch in value[:2]):
            loose.append(value)
    if not out.addresses and len(loose) >= 2:
        # an address split over columns (province, city, district, street)
        joined = parse_address("".join(loose))
        if joined:
            out.addresses.append(joined)
    return out


def _best_address(address: str, people: _People, row: SampleRow) -> float:
    if not address:
        return 0.0
    parsed = parse_address(address)
    if parsed is not None and people.addresses:
        return max(address_score(parsed, a) for a in people.addresses)
    return text_address_score(address, row)


@dataclass
class _Plan:
    """What :func:`match_sample` looks up for one row before deciding."""

    people: _People
    hits: Counter[int] = field(default_factory=Counter)
    labels: dict[int, set[str]] = field(default_factory=dict)
    masked: list[int] | None = None
    named: list[int] = field(default_factory=list)
    placed: list[int] = field(default_factory=list)
    name_count: int = 0
    block: list[int] = field(default_factory=list)


def _members(cands: I64, owners: I64) -> list[int]:
    """The candidates among ``owners`` (a name's customers, thousands for a common name)."""
    if len(owners) > 1 and not bool(np.all(owners[1:] >= owners[:-1])):
        return cands[np.isin(cands, owners)].tolist()  # type: ignore[no-any-return]
    at = np.searchsorted(owners, cands)  # ids in build order: sorted as a rule
    found = at < len(owners)
    found[found] = owners[at[found]] == cands[found]
    return cands[found].tolist()  # type: ignore[no-any-return]


def match_sample(
    sample: Sample,
    index: CustomerIndex,
    company: Engine,
    *,
    progress: Progress | None = None,
    source: CustomerSource | None = None,
) -> list[RowMatch]:
    """One :class:`RowMatch` per sample row (module docstring).  ``source``: where the
    customers' names and addresses are read (default: the index's source)."""
    source = source or index.source
    # names and addresses are only read in rows without identifiers (the rest never use them)
    plans = [_Plan(_People() if row.keys else _people(row)) for row in sample.rows]
    wanted_keys: set[str] = {k for r in sample.rows for k, _ in r.keys}
    for row, plan in zip(sample.rows, plans, strict=True):
        if not row.keys:
            wanted_keys.update(plan.people.block_keys())
            if row.masked:
                wanted_keys.update("n:" + n for n in plan.people.names)
                wanted_keys.update(plan.people.address_keys())
    all_keys = sorted(wanted_keys)
    names = [k for k in all_keys if k.startswith("n:")]  # common names: thousands of owners
    others = [k for k in all_keys if not k.startswith("n:")]
    owners = dict(zip(others, index.lookup(others), strict=True))
    name_ranges = dict(zip(names, index.ranges(names), strict=True))
    all_owners = np.asarray(index.owners)
    wanted: set[int] = set()
    for row, plan in zip(sample.rows, plans, strict=True):
        for key, name in dict(row.keys).items():  # each distinct identifier once
            for cid in owners[key]:
                plan.hits[cid] += 1
                plan.labels.setdefault(cid, set()).add(f"{key.split(':', 1)[0]}({name})")
        if plan.hits:
            wanted.update(plan.hits)
            continue
        for m, _ in row.masked:
            found = index.masked_candidates(m)
            if found is not None:
                plan.masked = sorted(set(found) if plan.masked is None else
                                     set(plan.masked) & set(found))  # fmt: skip
        if plan.masked is not None:
            placed = {cid for k in plan.people.address_keys() for cid in owners.get(k, [])}
            named: set[int] = set()
            cands = np.asarray(plan.masked, dtype=np.int64)
            for form in plan.people.names:
                a, b = name_ranges.get("n:" + form, (0, 0))
                plan.name_count = max(plan.name_count, b - a)
                if b > a and len(cands):
                    named.update(_members(cands, all_owners[a:b]))
            plan.named = sorted(named)
            plan.placed = sorted(placed.intersection(plan.masked))
            pool = set(plan.named) | set(plan.placed)
            if len(pool) <= MAX_DETAILS:
                wanted.update(pool)
            continue
        if row.keys:
            continue  # identifiers that are nobody's: name and address do not overrule them
        block = {cid for k in plan.people.block_keys() for cid in owners[k]}
        plan.block = sorted(block)
        if len(block) <= MAX_DETAILS:
            wanted.update(block)
    info = _details(company, wanted, source) if wanted else {}
    out: list[RowMatch] = []
    for n, (row, plan) in enumerate(zip(sample.rows, plans, strict=True)):
        if plan.hits:
            out.append(_exact(row, plan.hits, info, plan.labels))
        elif plan.masked is not None:
            out.append(_masked(row, plan, info, index.customers))
        elif plan.block:
            out.append(_name_address(row, plan, info))
        else:
            out.append(RowMatch(row.number, None, 0.0, [], 0))
        if progress is not None and n % 1000 == 999:
            progress(n + 1)
    return out


def _exact(
    row: SampleRow,
    hits: Counter[int],
    info: dict[int, tuple[str, str]],
    labels: dict[int, set[str]],
) -> RowMatch:
    ranked = hits.most_common()
    top, count = ranked[0]
    tied = [c for c, n in ranked if n == count]
    name, _address = info.get(top, ("", ""))
    ns = name_score(name, row)
    fields = sorted(labels.get(top, set()))
    if len(tied) > 1:
        # several customers share the identifiers found: the name decides, or nobody
        scored = sorted(
            ((name_score(info.get(c, ("", ""))[0], row), c) for c in tied), reverse=True
        )
        if scored[0][0] >= FUZZY_OK and scored[1][0] < FUZZY_OK:
            top, ns = scored[0][1], scored[0][0]
            fields = sorted(labels.get(top, set()))
        else:
            return RowMatch(row.number, top, 1.0 / len(tied), [*fields, "ambiguous"], len(tied))
    if ns >= FUZZY_OK:
        fields.append(f"name {ns:.2f}")
    distinct = {k for k, _ in row.keys}
    if len(distinct) >= 2 and count < len(distinct) and count == 1 and ns < FUZZY_OK:
        # one identifier of several is this customer's, the others are not, and the name does
        # not confirm: a recycled or mistyped number, or a foreign row colliding by chance
        fields.append(f"conflict: {len(distinct) - 1} other identifier(s) not this customer's")
        return RowMatch(row.number, top, 0.5, fields, 1)
    confidence = 0.999 if count >= 2 or ns >= FUZZY_OK else 0.99
    return RowMatch(row.number, top, confidence, fields, 1)


def _masked(row: SampleRow, plan: _Plan, info: dict[int, tuple[str, str]], base: int) -> RowMatch:
    masks = ", ".join(f"{m.kind}({name})" for m, name in row.masked)
    cands = plan.masked or []
    if not cands:
        return RowMatch(row.number, None, 0.0, [f"masked {masks}: no customer fits"], 0)
    pool = sorted(set(plan.named) | set(plan.placed))  # the exact name, or the address's numbers
    if len(pool) > MAX_DETAILS:
        return RowMatch(
            row.number, None, 0.0, [f"masked {masks}: {len(pool)} candidates, too many"], len(pool)
        )
    named = set(plan.named)
    confirmed: list[tuple[int, bool, float]] = []
    for cid in pool:
        _name, address = info.get(cid, ("", ""))
        ad = _best_address(address, plan.people, row)
        if cid in named or ad >= ADDRESS_OK:
            confirmed.append((cid, cid in named, ad))
    if not confirmed:
        return RowMatch(
            row.number, None, 0.0, [f"masked {masks}: no candidate confirmed"], len(cands)
        )
    if len(confirmed) > 1:
        both = [c for c in confirmed if c[1] and c[2] >= ADDRESS_OK]
        if len(both) != 1:
            return RowMatch(
                row.number,
                confirmed[0][0],
                1.0 / len(confirmed),
                [f"masked {masks}: {len(confirmed)} candidates confirmed", "ambiguous"],
                len(confirmed),
            )
        confirmed = both
    cid, by_name, ad = confirmed[0]
    fields = [f"masked {masks}"]
    if by_name:
        fields.append("name 1.00")
    if ad >= ADDRESS_OK:
        fields.append(f"address {ad:.2f}")
    if by_name and ad >= ADDRESS_OK:
        conf = 0.99
    elif by_name:
        # the chance that a stranger's row finds a namesake among the mask's candidates
        share = plan.name_count / max(base, 1)
        conf = max(0.0, min(0.98, 1.0 - len(cands) * share))
        fields.append(f"{len(cands)} candidate(s) fit the mask")
    elif plan.people.names:
        fields.append("conflict: the row's name is not this customer's")
        conf = 0.5
    else:
        conf = 0.95
    return RowMatch(row.number, cid, conf, fields, len(cands))


def _name_address(row: SampleRow, plan: _Plan, info: dict[int, tuple[str, str]]) -> RowMatch:
    block = plan.block
    if len(block) > MAX_DETAILS:
        return RowMatch(
            row.number, None, 0.0, [f"name+city: {len(block)} candidates, too many"], len(block)
        )
    confirmed: list[tuple[int, float]] = []
    for cid in block:
        name, address = info.get(cid, ("", ""))
        if name_form(name) not in plan.people.names:
            continue  # a stale index or a hash collision: the name must really be equal
        parsed = parse_address(address)
        if parsed is None:
            continue
        best = max(address_score(parsed, a) for a in plan.people.addresses)
        if best >= ADDRESS_OK:
            confirmed.append((cid, best))
    if not confirmed:
        return RowMatch(
            row.number,
            None,
            0.0,
            [f"name+address: {len(block)} namesake(s) at these numbers, none confirmed"],
            len(block),
        )
    if len(confirmed) > 1:
        return RowMatch(
            row.number,
            confirmed[0][0],
            1.0 / len(confirmed),
            [f"name+address: {len(confirmed)} customers confirmed", "ambiguous"],
            len(confirmed),
        )
    cid, score = confirmed[0]
    conf = 0.95 if score >= 1.0 else 0.9
    return RowMatch(row.number, cid, conf, ["name 1.00", f"address {score:.2f}"], len(block))
