"""Consent: may this customer's data be used for this purpose?

The gateway asks a :class:`ConsentCheck` for the purpose and every customer of a request before
the policies.  Until the consent ledger exists the default is :class:`PermissiveConsent`, which
allows everything and says so: its ``label`` ("permissive-default: no consent ledger") goes into
every response (``consent`` field) and audit event (``extra["consent"]``), so nobody mistakes it
for a real check.  A real check implements the protocol; a refusal names the customer count and
purpose, never the customer's data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

__all__ = ["ConsentCheck", "ConsentResult", "PermissiveConsent", "StaticConsent"]


@dataclass(frozen=True)
class ConsentResult:
    allowed: bool
    reason: str
    label: str


class ConsentCheck(Protocol):
    """Whether ``customer_ids`` consented to ``purpose`` (all of them, or the request fails)."""

    label: str

    def check(self, purpose: str, customer_ids: Sequence[int]) -> ConsentResult: ...


class PermissiveConsent:
    """The default until a consent ledger exists: allows every purpose, clearly labelled."""

    label = "permissive-default: no consent ledger"

    def check(self, purpose: str, customer_ids: Sequence[int]) -> ConsentResult:
        return ConsentResult(True, "no consent ledger configured: allowed", self.label)


class StaticConsent:
    """A fixed set of (customer, purpose) refusals: for tests and small deployments."""

    label = "static"

    def __init__(self, refused: set[tuple[int, str]]) -> None:
        self.refused = refused

    def check(self, purpose: str, customer_ids: Sequence[int]) -> ConsentResult:
        n = sum(1 for c in customer_ids if (c, purpose) in self.refused)
        if n:
            return ConsentResult(
                False, f"{n} customer(s) did not consent to purpose {purpose!r}", self.label
            )
        return ConsentResult(True, "consented", self.label)
