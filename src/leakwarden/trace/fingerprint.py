"""Fingerprinting an export copy as it is written: canaries, subset, keyed order, formats.

:func:`fingerprint_rows` is what :meth:`leakwarden.gateway.exports.ExportService.execute` calls
on the released rows (after the size and consent checks, before the CSV is written); it returns
the rows to write, the canaries to register (:func:`canary_records`) and the parameters recorded
in ``exports.fingerprint_params`` (JSON)::

    {"v": 1, "key": "export:1", "operational": false, "kinds": [...],
     "canaries": {"count": 3, "rows": 5, "density": 0.01} | null,
     "subset": 0.8 | null, "order": "customer" | "row" | null,
     "format": {"phone": "dashed", "digits": "half", "address": "no-province"}}

Operational purposes (:attr:`FingerprintConfig.operational_purposes`: delivery, billing,
marketing sends by default) get no canaries, no subset and no formatting: their rows reach real
business processes (a courier, an invoice, a campaign), where a canary would be a parcel to
nobody or a message the canary guard has to stop.  The keyed order is harmless and stays.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from leakwarden.trace.canaries import (
    CANARY_HASH,
    PERSON_KINDS,
    Canary,
    canary_digest,
    column_kinds,
    make_canaries,
)
from leakwarden.trace.variants import apply_formats, choose_formats, keep_in_subset, order_rank

if TYPE_CHECKING:
    from leakwarden.demo.values import Person
    from leakwarden.store.canary_tables import TraceCanary, TraceCanaryKey

__all__ = [
    "OPERATIONAL_PURPOSES",
    "FingerprintConfig",
    "Fingerprinted",
    "canary_records",
    "fingerprint_rows",
]

#: Purposes whose exports feed real business processes: no canaries, no subset, no formatting.
OPERATIONAL_PURPOSES: frozenset[str] = frozenset({"delivery", "billing", "marketing"})


@dataclass(frozen=True)
class FingerprintConfig:
    """How copies are fingerprinted.  ``canary_density``: canaries per real customer (or row,
    without a customer column), rounded, at least ``min_canaries`` once a copy has
    ``min_units`` customers; ``subset_fractions``: per purpose, the share of customers a copy
    keeps (absent: all; only where the business allows it); ``keyed_order`` and
    ``vary_formats`` switch those variants; ``operational_purposes``: module docstring."""

    canary_density: float = 0.01
    min_canaries: int = 1
    min_units: int = 20
    subset_fractions: Mapping[str, float] = field(default_factory=dict)
    keyed_order: bool = True
    vary_formats: bool = True
    operational_purposes: frozenset[str] = OPERATIONAL_PURPOSES

    def __post_init__(self) -> None:
        if not 0.0 <= self.canary_density < 0.5:
            raise ValueError("canary_density must be in [0, 0.5)")
        for purpose, f in self.subset_fractions.items():
            if not 0.0 < f <= 1.0:
                raise ValueError(f"subset_fractions[{purpose!r}] must be in (0, 1]")

    def canaries_for(self, units: int) -> int:
        if units < self.min_units or self.canary_density == 0.0:
            return 0
        return max(self.min_canaries, round(units * self.canary_density))


@dataclass
class Fingerprinted:
    """The rows to write (canaries mixed in, subset, ordered, formatted), the canaries, and the
    parameters to record; ``real_ids`` the customer ids kept (the subset's)."""

    rows: list[list[str]]
    canaries: list[Canary]
    params: dict[str, Any]
    real_ids: list[str]
    kinds: list[str]


def fingerprint_rows(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    key_pos: int | None,
    purpose: str,
    key: bytes,
    key_label: str,
    config: FingerprintConfig,
    *,
    pseudonymise: Mapping[int, Callable[[str], str]] | None = None,
    taken: Callable[[Sequence[Person]], set[int]] | None = None,
) -> Fingerprinted:
    """Fingerprint one copy's rows (module docstring).  ``key``: the copy's fingerprint key
    (:func:`leakwarden.trace.variants.copy_key`); ``key_label`` names it (``export:1``);
    ``pseudonymise`` and ``taken``: as :func:`~leakwarden.trace.canaries.make_canaries`."""
    from leakwarden.demo.values import Values

    operational = purpose in config.operational_purposes
    kinds = column_kinds(header, rows)
    real = [list(r) for r in rows]
    ident = (lambda r: r[key_pos]) if key_pos is not None else (lambda r: ",".join(r))
    fraction = None if operational else config.subset_fractions.get(purpose)
    if fraction is not None and fraction < 1.0:
        real = [r for r in real if keep_in_subset(key, ident(r), fraction)]
    real_ids = [r[key_pos] for r in real] if key_pos is not None else []
    units = len(set(real_ids)) if key_pos is not None else len(real)
    has_person = any(k in PERSON_KINDS - {"gender", "locale", "province", "city"} for k in kinds)
    count = 0 if operational or not has_person else config.canaries_for(units)
    seed = int.from_bytes(hashlib.sha256(key + b"canary-seed").digest()[:8], "big")
    canaries = make_canaries(
        header, real, kinds, key_pos, count, Values(seed), pseudonymise=pseudonymise, taken=taken
    )
    combined = real + [r for c in canaries for r in c.rows]
    order = None
    if config.keyed_order:
        order = "customer" if key_pos is not None else "row"
        idents = [ident(r) for r in combined]
        combined = [combined[i] for i in order_rank(key, idents)]
    formats = {} if operational or not config.vary_formats else choose_formats(key, kinds)
    apply_formats(combined, kinds, formats)
    params: dict[str, Any] = {
        "v": 1,
        "key": key_label,
        "operational": operational,
        "kinds": kinds,
        "canaries": (
            {
                "count": len(canaries),
                "rows": sum(len(c.rows) for c in canaries),
                "density": config.canary_density,
            }
            if canaries
            else None
        ),
        "subset": fraction if fraction is not None and fraction < 1.0 else None,
        "order": order,
        "format": formats,
    }
    return Fingerprinted(combined, canaries, params, real_ids, kinds)


def canary_records(
    canaries: Sequence[Canary], export_id: str, mac_key: bytes, key_label: str
) -> tuple[list[TraceCanary], list[TraceCanaryKey]]:
    """Registry rows for the canaries of copy ``export_id`` (``mac_key``: the key ring key's
    ``derive("canary-hash")``; ``key_label``: ``<name>:<version>``): the canaries, then their
    keys (insert the first before the second: foreign key)."""
    from leakwarden.store.canary_tables import TraceCanary, TraceCanaryKey

    now = datetime.now(UTC)
    out: list[TraceCanary] = []
    keys: list[TraceCanaryKey] = []
    for c in canaries:
        cid = "cn_" + secrets.token_hex(8)
        kinds = sorted({k.split(":", 1)[0] for k, _ in c.keys})
        out.append(
            TraceCanary(
                id=cid,
                export_id=export_id,
                rows=len(c.rows),
                kinds=json.dumps(kinds),
                hash_key=f"{key_label}:{CANARY_HASH}",
                created_at=now,
            )
        )
        for form, contact in c.keys:
            keys.append(
                TraceCanaryKey(
                    canary_id=cid,
                    kind=form.split(":", 1)[0],
                    contact=contact,
                    digest=canary_digest(mac_key, form),
                )
            )
    return out, keys
