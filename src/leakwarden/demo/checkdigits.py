"""Check digits the demo's synthetic numbers carry, computed for many numbers at once.

Each function takes a matrix of character values, one number per row, and returns one check
character per row as ASCII codes, so the generators in ``values`` can build a million numbers
without a Python loop.  The detectors validate with python-stdnum; the tests cross-check these
against it, so a mistake here cannot hide behind a matching mistake there.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = [
    "USCC_ALPHABET",
    "iban_check_digits",
    "luhn_check_digits",
    "org_code_check_chars",
    "resident_id_check_chars",
    "uscc_check_chars",
]

Matrix = npt.NDArray[np.integer]
Ascii = npt.NDArray[np.uint8]

# GB 11643-1999: weight of position i (1-based from the left) is 2^(18-i) mod 11.
_RIC_WEIGHTS = np.array([pow(2, 17 - i, 11) for i in range(17)], dtype=np.int64)
_RIC_CHECK = np.frombuffer(b"10X98765432", dtype=np.uint8)  # indexed by (sum mod 11)

# GB 32100-2015: 31 characters (no I, O, S, V, Z); weight of position i is 3^i mod 31.
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = np.array([pow(3, i, 31) for i in range(17)], dtype=np.int64)
_USCC_CHARS = np.frombuffer(USCC_ALPHABET.encode(), dtype=np.uint8)

# GB 11714-1997 organisation code: 8 characters, weights below, MOD 11 with 10 → X, 11 → 0.
_ORG_WEIGHTS = np.array([3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
_ORG_CHECK = np.frombuffer(b"0123456789X0", dtype=np.uint8)  # indexed by 11 - (sum mod 11)


def resident_id_check_chars(digits: Matrix) -> Ascii:
    """GB 11643 MOD 11-2 check character for each row of 17 digit values (0-9)."""
    total = np.asarray(digits, dtype=np.int64) @ _RIC_WEIGHTS
    check: Ascii = _RIC_CHECK[total % 11]
    return check


def luhn_check_digits(digits: Matrix) -> Ascii:
    """Luhn (ISO/IEC 7812) check digit for each row of digit values (the payload, without the
    check digit): doubling starts at the payload's last digit."""
    values = np.asarray(digits, dtype=np.int64)[:, ::-1]
    doubled = values[:, 0::2] * 2
    doubled = doubled - 9 * (doubled > 9)
    total = doubled.sum(axis=1) + values[:, 1::2].sum(axis=1)
    check: Ascii = ((10 - total % 10) % 10 + 48).astype(np.uint8)
    return check


def uscc_check_chars(values: Matrix) -> Ascii:
    """GB 32100 check character for each row of 17 values, each an index into USCC_ALPHABET."""
    total = np.asarray(values, dtype=np.int64) @ _USCC_WEIGHTS
    check: Ascii = _USCC_CHARS[(31 - total % 31) % 31]
    return check


def org_code_check_chars(values: Matrix) -> Ascii:
    """GB 11714 check character for each row of 8 organisation-code values (0-9, A=10 ...)."""
    total = np.asarray(values, dtype=np.int64) @ _ORG_WEIGHTS
    check: Ascii = _ORG_CHECK[11 - total % 11]
    return check


def iban_check_digits(country: str, bban: str) -> str:
    """ISO 13616 MOD 97-10 check digits for one IBAN (two characters)."""
    rearranged = bban + country + "00"
    number = int("".join(str(int(ch, 36)) for ch in rearranged))
    return f"{98 - number % 97:02d}"
