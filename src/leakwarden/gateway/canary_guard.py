"""Keeping canary customers out of real business processes, and raising the alarm when one is used.

Canaries (:mod:`leakwarden.trace.canaries`) exist only in export files: they are never rows of
the company database, so nothing the gateway reads from that database is a canary, and exports
for operational purposes get none (:data:`leakwarden.trace.fingerprint.OPERATIONAL_PURPOSES`).
A canary can therefore reach an operational path only as a *value brought in from outside*: a
phone number or e-mail typed into a lookup, or a contact list imported for a send.  That is the
alarm the canaries exist for (someone is using an export copy's contents), so
:class:`CanaryGuard` checks such values against the canary registry's keyed contact hashes and,
on a hit, writes an alert to the audit ledger (action ``gateway.canary.contact``, outcome
``denied``, the canary's export copy in ``export_id``, never the value) before the caller
refuses or drops the value.

Canaries' customer ids are not checked: a canary's id in its copy is one the copy does not use,
which can be a real customer's id elsewhere; only contact points identify a canary.

Call sites (the lead wires them into :mod:`leakwarden.gateway.records`): a lookup by phone calls
:meth:`CanaryGuard.check` first and refuses on a hit; a bulk send calls :meth:`CanaryGuard.filter`
on its recipients.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from leakwarden.audit.events import AuditEvent
from leakwarden.audit.ledger import AuditWriteError
from leakwarden.gateway.records import AuditUnavailable

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from leakwarden.audit.ledger import Ledger
    from leakwarden.protect.keys import KeyRing

__all__ = ["CanaryContact", "CanaryGuard", "contact_forms"]

T = TypeVar("T")


@dataclass(frozen=True)
class CanaryContact:
    """A value that is a canary's contact point: its ``kind`` (phone | email), the canary and
    the export copy it was planted in."""

    kind: str
    canary_id: str
    export_id: str


def contact_forms(value: str) -> list[str]:
    """The normal forms a contact value is registered under (a phone or an e-mail)."""
    from leakwarden.trace.normalize import identifier_keys

    text = value.strip()
    if "@" in text:
        return identifier_keys("email", text)
    return identifier_keys("phone", text)


class CanaryGuard:
    """Checks contact values against the canary registry (module docstring).  ``ledger`` gets the
    alerts; ``keys`` is the key ring the export keys live in."""

    def __init__(self, store: Engine, keys: KeyRing, ledger: Ledger) -> None:
        self.store = store
        self.keys = keys
        self.ledger = ledger

    def _macs(self) -> list[bytes]:
        from sqlalchemy import select

        from leakwarden.store.canary_tables import TraceCanary
        from leakwarden.trace.canaries import canary_mac

        with self.store.connect() as conn:
            labels = sorted(set(conn.execute(select(TraceCanary.hash_key).distinct()).scalars()))
        return [canary_mac(self.keys, label) for label in labels]

    def lookup(self, values: Iterable[str]) -> dict[str, CanaryContact]:
        """The values (as given) that are canary contact points; no audit."""
        from sqlalchemy import select

        from leakwarden.store.canary_tables import TraceCanary, TraceCanaryKey
        from leakwarden.trace.canaries import canary_digest

        wanted: dict[str, str] = {}
        macs = self._macs()
        for value in values:
            for form in contact_forms(value):
                for mac in macs:
                    wanted[canary_digest(mac, form)] = value
        if not wanted:
            return {}
        found: dict[str, CanaryContact] = {}
        digests = sorted(wanted)
        with self.store.connect() as conn:
            for i in range(0, len(digests), 500):
                q = (
                    select(
                        TraceCanaryKey.digest,
                        TraceCanaryKey.kind,
                        TraceCanary.id,
                        TraceCanary.export_id,
                    )
                    .join(TraceCanary, TraceCanary.id == TraceCanaryKey.canary_id)
                    .where(
                        TraceCanaryKey.digest.in_(digests[i : i + 500]),
                        TraceCanaryKey.contact.is_(True),
                    )
                )
                for digest, kind, cid, xid in conn.execute(q):
                    found[wanted[digest]] = CanaryContact(kind, cid, xid)
        return found

    def check(
        self, values: Sequence[str], *, actor: str, purpose: str | None, route: str
    ) -> list[CanaryContact]:
        """The canary contacts among ``values``; each hit is audited as an alert first
        (:class:`~.records.AuditUnavailable` if the ledger cannot write: fail closed)."""
        hits = self.lookup(values)
        for contact in hits.values():
            self._alert(contact, actor, purpose, route)
        return list(hits.values())

    def is_canary_contact(self, value: str, *, actor: str, purpose: str | None, route: str) -> bool:
        """Whether one phone number or e-mail is a canary's (audited when it is)."""
        return bool(self.check([value], actor=actor, purpose=purpose, route=route))

    def filter(
        self,
        items: Sequence[T],
        contacts_of: Callable[[T], Iterable[str]],
        *,
        actor: str,
        purpose: str | None,
        route: str,
    ) -> list[T]:
        """``items`` without those whose contacts (``contacts_of(item)``) include a canary's,
        e.g. the recipients of a send; every canary found is audited as an alert."""
        per_item = [list(contacts_of(it)) for it in items]
        hits = self.lookup(v for vs in per_item for v in vs)
        for contact in {(c.canary_id, c.kind): c for c in hits.values()}.values():
            self._alert(contact, actor, purpose, route)
        return [
            it for it, vs in zip(items, per_item, strict=True) if not any(v in hits for v in vs)
        ]

    def _alert(self, contact: CanaryContact, actor: str, purpose: str | None, route: str) -> None:
        try:
            self.ledger.append(
                AuditEvent(
                    action="gateway.canary.contact",
                    outcome="denied",
                    actor=actor,
                    purpose=purpose,
                    export_id=contact.export_id,
                    reason=(
                        f"a canary customer's {contact.kind} of export {contact.export_id} was "
                        f"used on {route}: the copy's contents are in use outside it"
                    ),
                    extra={
                        "alert": "canary-contact",
                        "canary_id": contact.canary_id,
                        "kind": contact.kind,
                        "route": route,
                    },
                )
            )
        except AuditWriteError as exc:
            raise AuditUnavailable(f"audit ledger unavailable: {exc}") from None
        except Exception as exc:
            raise AuditUnavailable(f"audit ledger unavailable: {type(exc).__name__}") from None
