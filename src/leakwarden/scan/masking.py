"""Masked evidence examples for the inventory: the inventory never holds clear values.

The masking itself belongs to ``leakwarden.protect.masking`` (one implementation of every mask);
``mask_example`` is its stricter evidence variant (same length, at least half hidden).
"""

from __future__ import annotations

from leakwarden.protect.masking import evidence_mask


def mask_example(type_id: str, text: str) -> str:
    """Return ``text`` with its middle replaced by ``*`` so an example proves the shape only.

    See :func:`leakwarden.protect.masking.evidence_mask` for the rules.
    """
    return evidence_mask(type_id, text)
