"""Turning raw bytes and text into what the patterns expect.

``decode_bytes`` finds the encoding (BOMs, BOM-less UTF-16/32, UTF-8, GB18030, then
charset-normalizer) and ``normalize`` folds full-width ASCII and the ideographic space to ASCII
without changing the text's length, so offsets found in the normalised text are offsets in the
original.
"""

from __future__ import annotations

import codecs
import re
import threading
from functools import cache
from typing import Any

__all__ = ["DecodeError", "decode_bytes", "fold_for_matching", "fold_utf8", "normalize"]

# U+FF01..U+FF5E are ASCII 0x21..0x7E shifted by 0xFEE0; U+3000 is the ideographic space.  A few
# dash look-alikes become "-" so "138－1234－5678" and "010–12345678" read as numbers.  Every
# mapping is one code point to one code point: length-preserving.
_FOLD: dict[int, int] = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)}
_FOLD[0x3000] = 0x20
for _dash in (0x2010, 0x2011, 0x2012, 0x2013, 0x2212, 0xFE63):
    _FOLD[_dash] = 0x2D


def normalize(text: str) -> str:
    """Full-width ASCII (U+FF01-FF5E) to ASCII, U+3000 to a space, Unicode hyphens to ``-``.

    ``len(normalize(t)) == len(t)`` always, and every character keeps its position.
    """
    if text.isascii():
        return text
    return text.translate(_FOLD)


# The full-width characters a pattern can contain (digits, letters, + - . @ ( ) _ % # /), the
# ideographic space and the dashes.  Chinese punctuation such as ，。；：！？ never occurs inside a
# value, so it is left alone; that makes folding a handful of regex substitutions instead of a
# dictionary lookup per character (str.translate costs ~0.1 s per MB of CJK text).
_RELEVANT = re.compile(
    "[\uff10-\uff19\uff21-\uff3a\uff41-\uff5a\uff0b\uff0d\uff0e\uff20"
    "\uff08\uff09\uff3f\uff05\uff03\uff0f\u3000\u2010-\u2013\u2212\ufe63]+"
)


def _fold_run(match: re.Match[str]) -> str:
    return match.group().translate(_FOLD)


def fold_for_matching(text: str) -> str:
    """Like :func:`normalize` for every character a pattern can match, faster on CJK text.

    Length-preserving; differs from ``normalize`` only on full-width punctuation that never
    occurs inside a value (，。；：！？ and the like), which it leaves as is, so "MAC：00:1A:..."
    does not glue the label to the value.
    """
    if text.isascii():
        return text
    return _RELEVANT.sub(_fold_run, text)


# UTF-8 of each character ``fold_for_matching`` changes -> UTF-8 of what it becomes.  Every
# such character is 3 bytes long in UTF-8 (U+2010..U+FF5E), its replacement 1 byte.
_FOLD_UTF8: dict[bytes, bytes] = {
    chr(cp).encode("utf-8"): chr(_FOLD[cp]).encode("utf-8")
    for cp in _FOLD
    if _RELEVANT.fullmatch(chr(cp))
}
_fold_local = threading.local()


@cache
def _fold_database() -> Any:
    import hyperscan

    database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    character = _RELEVANT.pattern.removesuffix("+")
    database.compile(
        expressions=[character.encode("utf-8")],
        ids=[0],
        elements=1,
        flags=[hyperscan.HS_FLAG_UTF8],
    )
    return database


def _on_fold_match(_id: int, _start: int, end: int, _flags: int, ends: list[int]) -> None:
    ends.append(end)


def fold_utf8(data: bytes) -> bytes:
    """``fold_for_matching`` on UTF-8 bytes: the UTF-8 of the folded text, without decoding.

    One Hyperscan pass finds the characters to fold (about a quarter of the cost of the regular
    expression over a CJK ``str``); the bytes between them are copied as they are.  The text's
    character count does not change, its byte count shrinks by 2 per folded character.
    """
    if data.isascii():
        return data
    database = _fold_database()
    scratch = getattr(_fold_local, "scratch", None)
    if scratch is None:
        import hyperscan

        scratch = _fold_local.scratch = hyperscan.Scratch(database)
    ends: list[int] = []
    database.scan(data, match_event_handler=_on_fold_match, context=ends, scratch=scratch)
    if not ends:
        return data
    parts: list[bytes] = []
    previous = 0
    for end in ends:
        parts.append(data[previous : end - 3])
        parts.append(_FOLD_UTF8[data[end - 3 : end]])
        previous = end
    parts.append(data[previous:])
    return b"".join(parts)


class DecodeError(ValueError):
    """The bytes are not text in any encoding this module can recognise."""


_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16 LE: its BOM starts with FF FE too
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


def _bomless_wide(data: bytes) -> str | None:
    """Guess BOM-less UTF-32/UTF-16 from where the NUL bytes sit in the first 4 KiB."""
    sample = data[:4096]
    if len(sample) < 4 or sample.count(0) < len(sample) // 4:
        return None
    if len(data) % 4 == 0:
        quads = len(sample) // 4
        if quads and sample[2::4].count(0) == quads and sample[3::4].count(0) == quads:
            return "utf-32-le"
        if quads and sample[0::4].count(0) == quads and sample[1::4].count(0) == quads:
            return "utf-32-be"
    if len(data) % 2 == 0:
        even, odd = sample[0::2].count(0), sample[1::2].count(0)
        half = len(sample) // 2
        # ASCII-heavy UTF-16 has NUL in every other byte; CJK-heavy text has fewer NULs, so ask
        # for a clear majority on one side and almost none on the other.
        if odd >= half * 0.3 and even <= odd * 0.1:
            return "utf-16-le"
        if even >= half * 0.3 and odd <= even * 0.1:
            return "utf-16-be"
    return None


def decode_bytes(data: bytes) -> tuple[str, str]:
    """Decode bytes to text and say which encoding was used.

    Order: a BOM (UTF-8, UTF-16 LE/BE, UTF-32 LE/BE), BOM-less UTF-32/UTF-16 recognised by the
    position of NUL bytes, strict UTF-8, strict GB18030 (a superset of GBK and GB2312; only when
    the bytes contain some non-ASCII), then charset-normalizer's best guess.  Raises
    ``DecodeError`` naming the first undecodable byte offset when nothing fits.
    """
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data[len(bom) :].decode(encoding), encoding
            except UnicodeDecodeError as exc:
                raise DecodeError(
                    f"starts with a {encoding} byte-order mark but byte {exc.start + len(bom)} "
                    f"is not valid {encoding}"
                ) from exc
    wide = _bomless_wide(data)
    if wide is not None:
        try:
            return data.decode(wide), wide
        except UnicodeDecodeError:
            pass
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as exc:
        utf8_error = exc
    try:
        return data.decode("gb18030"), "gb18030"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is not None and best.encoding:
        return str(best), str(best.encoding)
    raise DecodeError(
        f"not text: byte {utf8_error.start} (0x{data[utf8_error.start]:02x}) is invalid UTF-8 "
        "and no other encoding fits"
    )
