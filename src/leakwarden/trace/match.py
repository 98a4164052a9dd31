"""Matching a leaked sample's rows to the company's customers.

:class:`CustomerIndex` is built once per trace from the company database (SQLAlchemy), streamed
in chunks so ten million customers fit in memory:

- exact index: every customer identifier (``customers.id_card``, ``mobile``, ``email``,
  ``remark`` when it is a phone, ``payment_cards.card_no``, and with the gateway's pseudonym
  key the pseudonyms exports write for them and the name) in the normal form of
  :func:`leakwarden.trace.normalize.identifier_keys`, hashed with BLAKE2b keyed by a random
  per-index key to an 8-byte integer; one sorted ``uint64`` array plus the owners' customer
  ids, looked up with ``numpy.searchsorted`` (16 bytes per identifier: 4 identifiers of 10
  million customers ~ 640 MB; no clear value is held);
- masked index, per kind (mobile, resident ID): the value as an integer, sorted by a code of its
  last four characters, so a mask such as ``138****5678`` is a range lookup on the suffix then a
  vectorised prefix filter.

:func:`match_sample` then decides per row: exact identifier hits first (confidence 0.99 for one
identifier, 0.999 with a second identifier or the name confirming; 0.5 when the row's other
identifiers belong to nobody or someone else and the name does not confirm), else masked values
narrowed to candidates and confirmed by the name or the address (fuzzy: ``difflib`` ratio
>= 0.8, or a masked name such as ``张*`` with the same first character and length): one
confirmed candidate gives 0.9 (0.95 with both name and address), several give 1/candidates.
Rows with no customer are *unexplained* (foreign rows).  Names and addresses alone (no
identifier at all) are not matched in this slice.
"""

from __future__ import annotations

import hashlib
import secrets
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from leakwarden.detect.normalize import normalize
from leakwarden.trace.normalize import Masked, Sample, SampleRow, identifier_keys

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

__all__ = ["CustomerIndex", "RowMatch", "match_sample"]

CHUNK = 200_000
FUZZY_OK = 0.8
U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]
Progress = Callable[[int], None]


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


class CustomerIndex:
    """Keyed-hash and masked-value indexes of the company's customers (module docstring)."""

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)
        self.hashes: U64 = np.zeros(0, dtype=np.uint64)
        self.owners: I64 = np.zeros(0, dtype=np.int64)
        self.customers = 0
        self.mobiles = _MaskIndex.build([], [], [])
        self.ids = _MaskIndex.build([], [], [])

    def digest(self, key: str) -> int:
        return int.from_bytes(
            hashlib.blake2b(key.encode(), key=self._key, digest_size=8).digest(), "little"
        )

    @classmethod
    def build(
        cls,
        company: Engine,
        *,
        pseudonym_keys: Sequence[tuple[bytes, int]] = (),
        progress: Progress | None = None,
    ) -> CustomerIndex:
        """Read the customers (and their payment cards) in chunks of :data:`CHUNK` rows.

        ``pseudonym_keys``: the gateway's pseudonym ``(key, version)`` pairs; each customer's
        name, resident ID, mobile and e-mail are then also indexed as the pseudonym an export
        writes for them (``pseudo:<type>:<version>:<base32>``), so a leaked pseudonymised
        export matches too."""
        from sqlalchemy import select

        from leakwarden.demo.schema import COLUMN_TYPES, customers, payment_cards
        from leakwarden.protect.pseudonym import pseudonym

        types = {col: COLUMN_TYPES["customers"][col][0] for col in ("name", "id_card", "mobile",
                                                                     "email")}  # fmt: skip

        index = cls()
        hashes: list[U64] = []
        owners: list[I64] = []
        m_codes: list[int] = []
        m_values: list[int] = []
        m_owners: list[int] = []
        i_codes: list[int] = []
        i_values: list[int] = []
        i_owners: list[int] = []
        count = 0
        digest = index.digest

        def flush(keys: list[int], who: list[int]) -> None:
            hashes.append(np.asarray(keys, dtype=np.uint64))
            owners.append(np.asarray(who, dtype=np.int64))

        c = customers.c
        with company.connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=CHUNK).execute(
                select(c.id, c.name, c.id_card, c.mobile, c.email, c.remark)
            )
            for part in result.partitions(CHUNK):
                keys: list[int] = []
                who: list[int] = []
                for cid, name, id_card, mobile, email, remark in part:
                    cid = int(cid)
                    found: list[str] = []
                    for pkey, version in pseudonym_keys:
                        for col, value in (("name", name), ("id_card", id_card),
                                           ("mobile", mobile), ("email", email)):  # fmt: skip
                            if value and value.strip():
                                found.append(
                                    "pseudo:" + pseudonym(pkey, version, value, types[col])
                                )
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
                    if remark and sum(ch.isdigit() for ch in remark) >= 7:
                        found += identifier_keys("phone", remark, customer_side=True)
                    for k in found:
                        keys.append(digest(k))
                        who.append(cid)
                count += len(part)
                flush(keys, who)
                if progress is not None:
                    progress(count)
            p = payment_cards.c
            cards = conn.execution_options(stream_results=True, yield_per=CHUNK).execute(
                select(p.customer_id, p.card_no)
            )
            for cpart in cards.partitions(CHUNK):
                keys, who = [], []
                for cid, card in cpart:
                    for k in identifier_keys("card", card or ""):
                        keys.append(digest(k))
                        who.append(int(cid))
                flush(keys, who)
        all_hashes = np.concatenate(hashes) if hashes else np.zeros(0, dtype=np.uint64)
        all_owners = np.concatenate(owners) if owners else np.zeros(0, dtype=np.int64)
        order = np.argsort(all_hashes, kind="stable")
        index.hashes = all_hashes[order]
        index.owners = all_owners[order]
        index.customers = count
        index.mobiles = _MaskIndex.build(m_codes, m_values, m_owners)
        index.ids = _MaskIndex.build(i_codes, i_values, i_owners)
        return index

    def lookup(self, keys: Sequence[str]) -> list[list[int]]:
        """The customer ids holding each identifier key (usually one; [] when none)."""
        if not keys:
            return []
        q = np.asarray([self.digest(k) for k in keys], dtype=np.uint64)
        lo = np.searchsorted(self.hashes, q, side="left")
        hi = np.searchsorted(self.hashes, q, side="right")
        return [
            sorted(set(self.owners[a:b].tolist()))
            for a, b in zip(lo.tolist(), hi.tolist(), strict=True)
        ]

    def masked_candidates(self, m: Masked) -> list[int]:
        """Customers whose mobile / resident ID fits the mask (prefix, suffix, length)."""
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
            return []
        a = int(np.searchsorted(idx.codes, code, side="left"))
        b = int(np.searchsorted(idx.codes, code, side="right"))
        values, owners = idx.values[a:b], idx.owners[a:b]
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


def _details(company: Engine, ids: Iterable[int]) -> dict[int, tuple[str, str]]:
    from sqlalchemy import select

    from leakwarden.demo.schema import customers

    wanted = sorted(set(ids))
    out: dict[int, tuple[str, str]] = {}
    c = customers.c
    with company.connect() as conn:
        for i in range(0, len(wanted), 500):
            for cid, name, address in conn.execute(
                select(c.id, c.name, c.address).where(c.id.in_(wanted[i : i + 500]))
            ):
                out[int(cid)] = (name or "", address or "")
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


def address_score(address: str, row: SampleRow) -> float:
    """How well the customer's address is confirmed: 1.0 contained, else best ``difflib``
    ratio against a cell of similar length."""
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
    return best


def match_sample(
    sample: Sample, index: CustomerIndex, company: Engine, *, progress: Progress | None = None
) -> list[RowMatch]:
    """One :class:`RowMatch` per sample row (module docstring)."""
    all_keys = sorted({k for r in sample.rows for k, _ in r.keys})
    owners = dict(zip(all_keys, index.lookup(all_keys), strict=True))
    exact: list[Counter[int]] = []
    matched_on: list[dict[int, set[str]]] = []
    masked: list[list[int] | None] = []
    wanted: set[int] = set()
    for row in sample.rows:
        hits: Counter[int] = Counter()
        labels: dict[int, set[str]] = {}
        for key, name in dict(row.keys).items():  # each distinct identifier once
            for cid in owners[key]:
                hits[cid] += 1
                labels.setdefault(cid, set()).add(f"{key.split(':', 1)[0]}({name})")
        exact.append(hits)
        matched_on.append(labels)
        wanted.update(hits)
        cands: list[int] | None = None
        if not hits and row.masked:
            for m, _ in row.masked:
                got = set(index.masked_candidates(m))
                cands = sorted(got if cands is None else set(cands) & got)
            wanted.update(cands or [])
        masked.append(cands)
    info = _details(company, wanted)
    out: list[RowMatch] = []
    for n, (row, hits, cands) in enumerate(zip(sample.rows, exact, masked, strict=True)):
        if hits:
            out.append(_exact(row, hits, info, matched_on[n]))
        elif cands:
            out.append(_masked(row, cands, info))
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


def _masked(row: SampleRow, cands: list[int], info: dict[int, tuple[str, str]]) -> RowMatch:
    masks = ", ".join(f"{m.kind}({name})" for m, name in row.masked)
    confirmed: list[tuple[int, float, float]] = []
    for cid in cands:
        name, address = info.get(cid, ("", ""))
        ns, ad = name_score(name, row), address_score(address, row)
        if ns >= FUZZY_OK or ad >= FUZZY_OK:
            confirmed.append((cid, ns, ad))
    if not confirmed:
        return RowMatch(
            row.number, None, 0.0, [f"masked {masks}: no candidate confirmed"], len(cands)
        )
    if len(confirmed) > 1:
        both = [c for c in confirmed if c[1] >= FUZZY_OK and c[2] >= FUZZY_OK]
        if len(both) == 1:
            confirmed = both
        else:
            return RowMatch(
                row.number,
                confirmed[0][0],
                1.0 / len(confirmed),
                [f"masked {masks}: {len(confirmed)} candidates confirmed"],
                len(confirmed),
            )
    cid, ns, ad = confirmed[0]
    fields = [f"masked {masks}"]
    if ns >= FUZZY_OK:
        fields.append(f"name {ns:.2f}")
    if ad >= FUZZY_OK:
        fields.append(f"address {ad:.2f}")
    conf = 0.95 if ns >= FUZZY_OK and ad >= FUZZY_OK else 0.9
    return RowMatch(row.number, cid, conf, fields, len(cands))
