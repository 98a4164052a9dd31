"""The one registry of de-identification operators: ``build_operator(spec)``.

Spec grammar (what ``leakwarden protect`` rules, the gateway and the waybill printer write):

``mask``
    The value's type's default mask (``PI_TYPES[type].default_mask``).
``mask:<mask spec>``
    One mask for every type, in ``leakwarden.detect.types.parse_mask`` syntax: ``mask:keep:3,4``,
    ``mask:email:1``, ``mask:name``, ``mask:full``, ``mask:redact``.
``hmac:<key>``
    Keyed pseudonym (HMAC-SHA-256) under the named key's current version; needs ``keys``.
``ff1:<key>`` / ``ff1:<key>@<version>`` / ``ff1:<key>[@<version>]+regions``
    Format-preserving encryption (NIST SP 800-38G FF1), type-valid output (``protect.fpe``);
    reversible; needs ``keys``.  Without ``@version`` the key's current version; ``+regions``
    also encrypts resident IDs' region codes.
``token:<key>``
    Random token from the token vault (values encrypted under the named key); reversible only
    through the vault's audited ``detokenize``; needs ``vault``.
``generalize:<how>``
    ``age_band`` (10-year bands; ``age_band:5`` for 5-year bands; ``age_band:5@2026-01-01`` for
    ages on a fixed day), ``birth_year``, ``province``, ``city``, ``district``.
``suppress``
    Empty output.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from leakwarden.detect.types import parse_mask
from leakwarden.protect.masking import MaskOperator
from leakwarden.protect.operator import Operator

if TYPE_CHECKING:
    from leakwarden.protect.keys import KeyRing
    from leakwarden.protect.vault import TokenVault

__all__ = ["OPERATOR_KINDS", "SuppressOperator", "build_operator"]

OPERATOR_KINDS = ("mask", "hmac", "ff1", "token", "generalize", "suppress")


class SuppressOperator:
    """``suppress``: the value is removed (empty output)."""

    spec = "suppress"
    reversible = False

    def __repr__(self) -> str:
        return "SuppressOperator()"

    def apply(self, value: str, type_id: str | None = None) -> str:
        return ""


def build_operator(
    spec: str, *, keys: KeyRing | None = None, vault: TokenVault | None = None
) -> Operator:
    """The operator ``spec`` names (grammar in the module docstring).

    ``ValueError`` naming the spec when it is malformed, names an unknown operator, or needs a
    key ring / vault that was not given.  Keys are looked up here, so a missing key fails at
    build time, before any value is read.
    """
    kind, _, arg = spec.strip().partition(":")
    arg = arg.strip()

    def need_arg(what: str) -> str:
        if not arg:
            raise ValueError(f"operator spec {spec!r}: {kind!r} needs {what} after ':'")
        return arg

    if kind == "mask":
        if not arg:
            return MaskOperator("mask")
        try:
            return MaskOperator(spec.strip(), parse_mask(arg))
        except ValueError as exc:
            raise ValueError(f"operator spec {spec!r}: {exc}") from None
    if kind == "suppress":
        if arg:
            raise ValueError(f"operator spec {spec!r}: 'suppress' takes no argument")
        return SuppressOperator()
    if kind == "generalize":
        from leakwarden.protect.generalize import GeneralizeOperator

        try:
            return GeneralizeOperator(need_arg("how to generalise (age_band, birth_year, city…)"))
        except ValueError as exc:
            raise ValueError(f"operator spec {spec!r}: {exc}") from None
    if kind in ("hmac", "ff1"):
        name = need_arg("a key name")
        if keys is None:
            raise ValueError(f"operator spec {spec!r}: {kind!r} needs a key ring (keys=...)")
        from leakwarden.protect.keys import KeyRingError

        try:
            if kind == "hmac":
                from leakwarden.protect.pseudonym import HmacOperator

                return HmacOperator(name, keys)
            from leakwarden.protect.fpe import FpeOperator

            return FpeOperator(name, keys)
        except (KeyRingError, ValueError) as exc:
            raise ValueError(f"operator spec {spec!r}: {exc}") from None
    if kind == "token":
        name = need_arg("a key name")
        if vault is None:
            raise ValueError(f"operator spec {spec!r}: 'token' needs a token vault (vault=...)")
        from leakwarden.protect.keys import KeyRingError

        try:
            return vault.operator(name)
        except KeyRingError as exc:
            raise ValueError(f"operator spec {spec!r}: {exc}") from None
    raise ValueError(
        f"operator spec {spec!r}: unknown operator {kind!r}; known: {', '.join(OPERATOR_KINDS)}"
    )
