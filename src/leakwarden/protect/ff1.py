"""FF1 format-preserving encryption (NIST SP 800-38G Rev. 1, 5.1) on ``cryptography``'s AES.

Why our own: no FF1 package on PyPI is both established and maintained (the ones found were a
2021 package with no release since, and young single-author packages); the algorithm is short,
and NIST's published sample vectors (``tests/test_protect_ff1.py``) pin it.

The PRF is AES-CBC-MAC with a zero IV over ``P || Q`` (algorithm 6), computed block by block with
one AES-ECB encryptor that is reused, as is the extension ``S = R || CIPH(R xor [1]) || ...``.
Rev. 1's domain rule is enforced: ``radix ** len >= 1,000,000`` and ``2 <= len``.

:class:`FF1` works on numeral lists (``encrypt_numerals``), strings over an alphabet
(``encrypt``), and integers below any bound (``encrypt_int``: FF1 over the bit string of the
integer with cycle walking, so a domain such as "days since 1900 times 500" keeps every value
inside it).
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

__all__ = ["DIGITS", "FF1", "MIN_DOMAIN", "FF1Error"]

DIGITS = "0123456789"
#: SP 800-38G Rev. 1: the domain (radix ** minlen) has at least a million elements.
MIN_DOMAIN = 1_000_000
_ROUNDS = 10


class FF1Error(ValueError):
    """Bad FF1 parameters or input (never repeats the input)."""


def _num(xs: Sequence[int], radix: int) -> int:
    n = 0
    for x in xs:
        n = n * radix + x
    return n


def _str(x: int, radix: int, m: int) -> list[int]:
    out = [0] * m
    for i in range(m - 1, -1, -1):
        x, out[i] = divmod(x, radix)
    return out


class FF1:
    """FF1 under one AES key (16, 24 or 32 bytes) and radix."""

    def __init__(self, key: bytes, radix: int = 10, alphabet: str | None = None) -> None:
        if len(key) not in (16, 24, 32):
            raise FF1Error(f"FF1 needs an AES key of 16, 24 or 32 bytes, not {len(key)}")
        if not 2 <= radix <= 2**16:
            raise FF1Error(f"FF1 radix must be 2..65536, not {radix}")
        self.radix = radix
        self.alphabet = alphabet or (DIGITS + "abcdefghijklmnopqrstuvwxyz")[:radix]
        if len(self.alphabet) != radix or len(set(self.alphabet)) != radix:
            raise FF1Error(f"alphabet must have {radix} distinct characters")
        self._index = {c: i for i, c in enumerate(self.alphabet)}
        self._ecb = Cipher(algorithms.AES(key), modes.ECB()).encryptor()  # single blocks of the PRF

    def __repr__(self) -> str:
        return f"FF1(radix={self.radix})"

    def _ciph(self, block: bytes) -> bytes:
        return self._ecb.update(block)

    def _rounds(self, n: int, tweak: bytes) -> tuple[int, int, int, int, int, bytes]:
        """u, v, b, d, the CBC-MAC state after P and the constant blocks of Q, and the constant
        head of Q's last block (``T || 0^pad`` split at the last block boundary)."""
        if n < 2 or self.radix**n < MIN_DOMAIN:
            raise FF1Error(
                f"FF1 domain too small: radix {self.radix} ** length {n} is below {MIN_DOMAIN:,}"
            )
        if n > 2**32 - 1 or len(tweak) > 2**32 - 1:
            raise FF1Error("FF1 input or tweak too long")
        u = n // 2
        v = n - u
        b = ((self.radix**v - 1).bit_length() + 7) // 8
        d = 4 * ((b + 3) // 4) + 4
        p = (
            bytes([1, 2, 1])
            + self.radix.to_bytes(3, "big")
            + bytes([10, u % 256])
            + n.to_bytes(4, "big")
            + len(tweak).to_bytes(4, "big")
        )
        state = int.from_bytes(self._ciph(p), "big")  # CBC-MAC state after the block P
        head = tweak + bytes((-len(tweak) - b - 1) % 16)  # T || [0]^pad: the same every round
        cut = len(head) + 1 + b - 16 if b < 16 else len(head) - len(head) % 16
        for k in range(0, cut, 16):
            block = int.from_bytes(head[k : k + 16], "big")
            state = int.from_bytes(self._ciph((state ^ block).to_bytes(16, "big")), "big")
        return u, v, b, d, state, head[cut:]

    def _y(self, state: int, tail: bytes, i: int, num_b: int, b: int, d: int) -> int:
        q = tail + bytes([i]) + num_b.to_bytes(b, "big")
        for k in range(0, len(q), 16):
            block = int.from_bytes(q[k : k + 16], "big")
            state = int.from_bytes(self._ciph((state ^ block).to_bytes(16, "big")), "big")
        r = state.to_bytes(16, "big")
        if d <= 16:
            return int.from_bytes(r[:d], "big")
        s = r
        j = 1
        while len(s) < d:
            s += self._ciph((state ^ j).to_bytes(16, "big"))
            j += 1
        return int.from_bytes(s[:d], "big")

    def encrypt_numerals(self, xs: Sequence[int], tweak: bytes = b"") -> list[int]:
        """FF1.Encrypt (algorithm 7) of a numeral list."""
        return self._run(xs, tweak, decrypt=False)

    def decrypt_numerals(self, xs: Sequence[int], tweak: bytes = b"") -> list[int]:
        """FF1.Decrypt (algorithm 8) of a numeral list."""
        return self._run(xs, tweak, decrypt=True)

    def _run(self, xs: Sequence[int], tweak: bytes, *, decrypt: bool) -> list[int]:
        radix = self.radix
        if any(not 0 <= x < radix for x in xs):
            raise FF1Error(f"a numeral is outside radix {radix}")
        n = len(xs)
        u, v, b, d, state0, tail = self._rounds(n, tweak)
        a, bb = _num(xs[:u], radix), _num(xs[u:], radix)
        mod_u, mod_v = radix**u, radix**v
        if not decrypt:
            for i in range(_ROUNDS):
                y = self._y(state0, tail, i, bb, b, d)
                m_mod = mod_u if i % 2 == 0 else mod_v
                a, bb = bb, (a + y) % m_mod
        else:
            for i in range(_ROUNDS - 1, -1, -1):
                y = self._y(state0, tail, i, a, b, d)
                m_mod = mod_u if i % 2 == 0 else mod_v
                a, bb = (bb - y) % m_mod, a
        return _str(a, radix, u) + _str(bb, radix, v)

    def encrypt(self, text: str, tweak: bytes = b"") -> str:
        """FF1 of a string over this cipher's alphabet."""
        return self._text(text, tweak, decrypt=False)

    def decrypt(self, text: str, tweak: bytes = b"") -> str:
        return self._text(text, tweak, decrypt=True)

    def _text(self, text: str, tweak: bytes, *, decrypt: bool) -> str:
        try:
            xs = [self._index[c] for c in text]
        except KeyError:
            raise FF1Error(
                f"a character of the {len(text)}-character input is not in the alphabet"
            ) from None
        out = self._run(xs, tweak, decrypt=decrypt)
        return "".join(self.alphabet[x] for x in out)

    @staticmethod
    def int_bits(bound: int) -> int:
        """Bits of the FF1 string :meth:`encrypt_int` uses for integers below ``bound``."""
        return max((bound - 1).bit_length(), 2)

    def encrypt_int(self, x: int, bound: int, tweak: bytes = b"") -> int:
        """An integer in ``[0, bound)`` to another in ``[0, bound)``, a permutation (FF1 over
        the integer's bits with cycle walking, fewer than two FF1 calls on average; needs a
        radix-2 cipher and ``bound >= MIN_DOMAIN``)."""
        return self._walk(x, bound, tweak, decrypt=False)

    def decrypt_int(self, x: int, bound: int, tweak: bytes = b"") -> int:
        return self._walk(x, bound, tweak, decrypt=True)

    def _walk(self, x: int, bound: int, tweak: bytes, *, decrypt: bool) -> int:
        if self.radix != 2:
            raise FF1Error("integer FF1 needs a radix-2 cipher")
        if bound < MIN_DOMAIN:
            raise FF1Error(f"FF1 domain too small: {bound:,} integers, below {MIN_DOMAIN:,}")
        if not 0 <= x < bound:
            raise FF1Error("integer outside the domain")
        n = self.int_bits(bound)
        while True:
            x = _num(self._run(_str(x, 2, n), tweak, decrypt=decrypt), 2)
            if x < bound:
                return x
