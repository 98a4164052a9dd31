"""FF1 against NIST's published sample vectors.

Source: NIST, "FF1 samples" (FF1samples.pdf, Examples with Intermediate Values, Cryptographic
Standards and Guidelines, SP 800-38G), samples 1-9; cross-checked against the same vectors in
Bouncy Castle's SP 800-38G test.  Key prefix 2B7E1516..., plaintexts 0123456789 and
0123456789abcdefghi.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leakwarden.protect.ff1 import FF1, FF1Error

K128 = "2B7E151628AED2A6ABF7158809CF4F3C"
K192 = "2B7E151628AED2A6ABF7158809CF4F3CEF4359D8D580AA4F"
K256 = "2B7E151628AED2A6ABF7158809CF4F3CEF4359D8D580AA4F7F036D6F04FC6A94"
T2 = "39383736353433323130"
T3 = "3737373770717273373737"
P10 = "0123456789"
P36 = "0123456789abcdefghi"

NIST_SAMPLES = [
    (1, K128, 10, "", P10, "2433477484"),
    (2, K128, 10, T2, P10, "6124200773"),
    (3, K128, 36, T3, P36, "a9tv40mll9kdu509eum"),
    (4, K192, 10, "", P10, "2830668132"),
    (5, K192, 10, T2, P10, "2496655549"),
    (6, K192, 36, T3, P36, "xbj3kv35jrawxv32ysr"),
    (7, K256, 10, "", P10, "6657667009"),
    (8, K256, 10, T2, P10, "1001623463"),
    (9, K256, 36, T3, P36, "xs8a0azh2avyalyzuwd"),
]


@pytest.mark.parametrize(
    ("sample", "key", "radix", "tweak", "pt", "ct"), NIST_SAMPLES, ids=lambda v: str(v)
)
def test_nist_samples(sample: int, key: str, radix: int, tweak: str, pt: str, ct: str) -> None:
    cipher = FF1(bytes.fromhex(key), radix)
    assert cipher.encrypt(pt, bytes.fromhex(tweak)) == ct
    assert cipher.decrypt(ct, bytes.fromhex(tweak)) == pt
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    textbook = _textbook_ff1(
        bytes.fromhex(key), radix, bytes.fromhex(tweak), [digits.index(c) for c in pt]
    )
    assert "".join(digits[x] for x in textbook) == ct  # the reference below meets NIST too


@settings(max_examples=50, deadline=None)
@given(st.text(alphabet="0123456789", min_size=6, max_size=40), st.binary(max_size=20))
def test_round_trip_digits(pt: str, tweak: bytes) -> None:
    cipher = FF1(os.urandom(32), 10)
    ct = cipher.encrypt(pt, tweak)
    assert len(ct) == len(pt) and ct.isdigit()
    assert cipher.decrypt(ct, tweak) == pt


@settings(max_examples=50, deadline=None)
@given(st.integers(min_value=10**6, max_value=10**12), st.data())
def test_integer_domain_is_a_permutation_inside_the_bound(bound: int, data: st.DataObject) -> None:
    x = data.draw(st.integers(min_value=0, max_value=bound - 1))
    cipher = FF1(os.urandom(16), 2)
    y = cipher.encrypt_int(x, bound, b"t")
    assert 0 <= y < bound
    assert cipher.decrypt_int(y, bound, b"t") == x


def test_domain_and_input_checks() -> None:
    cipher = FF1(os.urandom(16), 10)
    with pytest.raises(FF1Error, match="domain too small"):
        cipher.encrypt("12345")  # 10**5 < 1,000,000 (SP 800-38G Rev. 1)
    with pytest.raises(FF1Error, match="not in the alphabet") as err:
        cipher.encrypt("12345a7890")
    assert "12345a7890" not in str(err.value)
    with pytest.raises(FF1Error, match="16, 24 or 32"):
        FF1(b"short")
    with pytest.raises(FF1Error, match="domain too small"):
        FF1(os.urandom(16), 2).encrypt_int(5, 1000)


def _textbook_ff1(key: bytes, radix: int, tweak: bytes, xs: list[int]) -> list[int]:
    """FF1.Encrypt transcribed step by step from SP 800-38G algorithm 7 (no precomputation),
    to check the optimised cipher where NIST gives no sample: long inputs (d > 16, the
    extension blocks of S), long tweaks (several constant blocks of Q), radix 2."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    def ciph(block: bytes) -> bytes:
        enc = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
        return enc.update(block) + enc.finalize()

    def prf(x: bytes) -> bytes:
        y = bytes(16)
        for j in range(0, len(x), 16):
            y = ciph(bytes(a ^ b for a, b in zip(y, x[j : j + 16], strict=True)))
        return y

    def num(digits: list[int]) -> int:
        out = 0
        for d in digits:
            out = out * radix + d
        return out

    def str_m(x: int, m: int) -> list[int]:
        out = []
        for _ in range(m):
            x, r = divmod(x, radix)
            out.append(r)
        return out[::-1]

    import math

    n, t = len(xs), len(tweak)
    u, v = n // 2, n - n // 2
    a, b_ = xs[:u], xs[u:]
    b = math.ceil(math.ceil(v * math.log2(radix)) / 8)
    d = 4 * math.ceil(b / 4) + 4
    p = bytes([1, 2, 1]) + radix.to_bytes(3, "big") + bytes([10, u % 256])
    p += n.to_bytes(4, "big") + t.to_bytes(4, "big")
    for i in range(10):
        q = tweak + bytes((-t - b - 1) % 16) + bytes([i]) + num(b_).to_bytes(b, "big")
        r = prf(p + q)
        s = r
        j = 1
        while len(s) < d:
            s += ciph(bytes(x ^ y for x, y in zip(r, j.to_bytes(16, "big"), strict=True)))
            j += 1
        y = int.from_bytes(s[:d], "big")
        m = u if i % 2 == 0 else v
        c = (num(a) + y) % radix**m
        a, b_ = b_, str_m(c, m)
    return a + b_


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from([2, 10, 36, 64]),
    st.integers(min_value=0, max_value=120),
    st.binary(max_size=45),
    st.data(),
)
def test_matches_a_textbook_transcription(
    radix: int, extra: int, tweak: bytes, data: st.DataObject
) -> None:
    minlen = next(k for k in range(2, 64) if radix**k >= 1_000_000)
    n = minlen + extra
    xs = data.draw(st.lists(st.integers(0, radix - 1), min_size=n, max_size=n))
    key = data.draw(st.binary(min_size=16, max_size=16))
    cipher = FF1(key, radix, alphabet="".join(chr(0x100 + i) for i in range(radix)))
    ct = cipher.encrypt_numerals(xs, tweak)
    assert ct == _textbook_ff1(key, radix, tweak, xs)
    assert cipher.decrypt_numerals(ct, tweak) == xs
