"""Test-only operators for the rewrite tests (honest doubles of the Operator contract).

``Last4``: keeps the last four characters of an 11-digit string, stars the rest; any other
value is an OperatorError (like a mobile-number mask would).  ``Swap``: a reversible toy that
maps digits d -> 9-d (its own inverse).
"""

from __future__ import annotations

from leakwarden.protect.operator import OperatorError


class Last4:
    spec = "mask"
    reversible = False

    def apply(self, value: str, type_id: str | None = None) -> str:
        if len(value) != 11 or not (value.isascii() and value.isdigit()):
            raise OperatorError(f"not an 11-digit number ({len(value)} characters)")
        return "*" * 7 + value[-4:]


class Swap:
    spec = "ff1:test"
    reversible = True
    key_version = 3

    def apply(self, value: str, type_id: str | None = None) -> str:
        if not value or not (value.isascii() and value.isdigit()):
            raise OperatorError(f"not digits ({len(value)} characters)")
        return "".join(str(9 - int(c)) for c in value)

    def reverse(self, protected: str, type_id: str | None = None) -> str:
        return self.apply(protected, type_id)


def factory(spec: str):  # type: ignore[no-untyped-def]
    return {"mask": Last4(), "ff1:test": Swap()}[spec]
