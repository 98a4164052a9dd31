"""Masked evidence examples for the inventory: the inventory never holds clear values.

Interim home of ``mask_example``; the ``protect`` package will own masking operators later and
this function should then defer to the type's ``default_mask``.
"""

from __future__ import annotations

_NAME_TYPES = frozenset({"person_name"})
_ADDRESS_TYPES = frozenset({"address"})


def mask_example(type_id: str, text: str) -> str:
    """Return ``text`` with its middle replaced by ``*`` so an example proves the shape only.

    Rules: names keep their first character (``张**``); addresses keep their first third (at
    most 6 characters: province/city); e-mail keeps the first character of the local part and
    the domain; everything else keeps 2 characters at each end (3 from 9 characters, 4 from 13)
    with at least half of the characters hidden.
    """
    n = len(text)
    if n == 0:
        return ""
    if type_id in _NAME_TYPES:
        return text[0] + "*" * (n - 1) if n > 1 else "*"
    if type_id in _ADDRESS_TYPES:
        keep = min(6, n // 3)
        return text[:keep] + "*" * (n - keep)
    if type_id == "email" and "@" in text:
        local, _, domain = text.rpartition("@")
        return (local[:1] + "*" * max(3, len(local) - 1)) + "@" + domain
    keep = 2 if n <= 8 else 3 if n <= 12 else 4
    while keep > 0 and 2 * keep > n // 2:
        keep -= 1
    if keep == 0:
        return "*" * n
    return text[:keep] + "*" * (n - 2 * keep) + text[-keep:]
