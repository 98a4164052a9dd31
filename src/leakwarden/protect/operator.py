"""The contract every de-identification operator keeps (mask, HMAC pseudonym, FF1, vault token,
generalisation, suppression), so the rewriter, the gateway and the waybill printer can use any of
them without knowing which one it is.

Operators never put a clear value into an exception message or a log line: ``OperatorError``
says what kind of value did not fit (type, length, character classes), never the value.
"""

from __future__ import annotations

from typing import Literal, Protocol, runtime_checkable

#: What to do with a value the operator cannot take (a 17-digit "ID", an empty cell, mojibake):
#: ``fail`` stops the job, ``mask`` writes the value fully masked (``*`` per character),
#: ``suppress`` writes an empty value.  Never the clear value.
OnBadValue = Literal["fail", "mask", "suppress"]


class OperatorError(ValueError):
    """A value did not fit the operator.  The message describes the value, never repeats it."""


@runtime_checkable
class Operator(Protocol):
    """Turns one clear value of a known personal-information type into its protected form."""

    #: Spec this operator was built from, e.g. ``"mask"``, ``"hmac:customer"``, ``"ff1:cards"``.
    spec: str
    #: ``True`` when :meth:`reverse` exists and gives the clear value back (FF1, vault tokens).
    reversible: bool

    def apply(self, value: str, type_id: str | None = None) -> str:
        """Protect ``value``; ``type_id`` is an id from ``leakwarden.detect.types.PI_TYPES``.

        Deterministic for mask, HMAC and FF1 (same input, same key version, same output), which
        makes re-running a rewrite idempotent.  Raises :class:`OperatorError` when the value does
        not fit.
        """
        ...


@runtime_checkable
class ReversibleOperator(Operator, Protocol):
    """An operator whose output can be turned back into the clear value with the right key."""

    def reverse(self, protected: str, type_id: str | None = None) -> str:
        """Give back the clear value; callers record the reveal in the audit ledger first."""
        ...
