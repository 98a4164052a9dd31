"""Bounded, streaming text input: encoding sniffing, binary detection, chunked decoding, lines.

Nothing here ever holds a whole file or a whole line in memory: bytes are read in blocks,
decoded incrementally, and lines longer than a limit are skipped (and reported) rather than
assembled.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable, Iterator
from typing import BinaryIO

BLOCK_BYTES = 1 << 20
SNIFF_BYTES = 64 * 1024

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def _utf16_without_bom(sample: bytes) -> str | None:
    """UTF-16 text without a BOM: mostly-ASCII text has a NUL in every other byte."""
    if len(sample) < 4:
        return None
    even, odd = sample[0::2], sample[1::2]
    even_nul = even.count(0) / len(even)
    odd_nul = odd.count(0) / len(odd)
    if odd_nul > 0.3 and even_nul < 0.05:
        return "utf-16-le"
    if even_nul > 0.3 and odd_nul < 0.05:
        return "utf-16-be"
    return None


def _valid_prefix(sample: bytes, encoding: str) -> bool:
    """Whether ``sample`` decodes, forgiving a character cut at the end of the sample."""
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    try:
        decoder.decode(sample, final=False)
    except UnicodeDecodeError:
        return False
    return True


def sniff_encoding(sample: bytes) -> str:
    """Pick the codec for a file from its first bytes.

    BOMs first (UTF-8-SIG, UTF-16, UTF-32), then BOM-less UTF-16, then UTF-8, then whatever the
    detection package's ``decode_bytes`` settles on (GB18030 covers GBK and GB2312), then
    GB18030 itself, and Latin-1 as the decoder of last resort (it never fails, and the problem
    of mojibake is then visible as no findings rather than a crash).
    """
    for bom, name in _BOMS:
        if sample.startswith(bom):
            return name
    utf16 = _utf16_without_bom(sample)
    if utf16 is not None:
        return utf16
    if _valid_prefix(sample, "utf-8"):
        return "utf-8"
    from leakwarden.detect.normalize import DecodeError, decode_bytes

    # Cut to a likely character boundary so the sniffer does not trip on a split character.
    cut = sample.rfind(b"\n")
    try:
        _, encoding = decode_bytes(sample[: cut + 1] if cut > 0 else sample)
    except (DecodeError, UnicodeDecodeError, LookupError):
        encoding = ""
    if encoding:
        try:
            codecs.lookup(encoding)
        except LookupError:
            pass
        else:
            if encoding.replace("_", "-").lower() in {"gbk", "gb2312", "cp936"}:
                return "gb18030"  # a superset: never fails where GBK would have read
            return encoding
    if _valid_prefix(sample, "gb18030"):
        return "gb18030"
    return "latin-1"


def binary_reason(sample: bytes, encoding: str) -> str | None:
    """Why ``sample`` looks like a binary (non-text) file, or ``None`` if it reads as text."""
    if not sample or encoding.startswith(("utf-16", "utf-32")):
        return None
    nul = sample.count(0)
    if nul:
        return f"binary file ({nul} NUL bytes in the first {len(sample)} bytes)"
    control = sum(1 for b in sample if b < 32 and b not in (9, 10, 12, 13, 27))
    if control > len(sample) * 0.1:
        return f"binary file ({control} control bytes in the first {len(sample)} bytes)"
    return None


class TextStream:
    """Decodes a byte stream in blocks; records where decoding failed and keeps going.

    ``bytes_read`` counts raw bytes consumed; ``on_error(message, position)`` is told about the
    first undecodable byte (later ones are replaced with U+FFFD and counted in ``replaced``).
    """

    def __init__(
        self,
        raw: BinaryIO,
        encoding: str,
        *,
        block_bytes: int = BLOCK_BYTES,
        on_error: Callable[[str, str], None] | None = None,
        on_block: Callable[[int], None] | None = None,
        offset: int = 0,
    ) -> None:
        self.raw = raw
        self.offset = offset  # file position of the first byte read (for error positions)
        self.encoding = encoding
        self.block_bytes = block_bytes
        self.bytes_read = 0
        self.replaced = False
        self._on_error = on_error
        self._on_block = on_block
        self._decoder = codecs.getincrementaldecoder(encoding)("strict")

    def chunks(self) -> Iterator[str]:
        while True:
            block = self.raw.read(self.block_bytes)
            final = not block
            start = self.bytes_read
            self.bytes_read += len(block)
            try:
                text = self._decoder.decode(block, final=final)
            except UnicodeDecodeError as exc:
                pending, _ = self._decoder.getstate()
                position = self.offset + max(0, start - len(pending) + exc.start)
                if self._on_error is not None:
                    self._on_error(
                        f"bytes not valid {self.encoding} ({exc.reason}); "
                        "decoded with replacement characters from here on",
                        f"byte {position}",
                    )
                self.replaced = True
                self._decoder = codecs.getincrementaldecoder(self.encoding)("replace")
                text = self._decoder.decode(pending + block, final=final)
            if self._on_block is not None and block:
                self._on_block(len(block))
            if text:
                yield text
            if final:
                return


class BoundedLines:
    """Splits text chunks into lines (ending kept), never building a line over ``max_chars``.

    A longer line is dropped as it streams past and ``on_overlong(line_number, length)`` is
    called; ``line`` is the physical (1-based) number of the last line handed out.
    """

    def __init__(
        self,
        chunks: Iterator[str],
        max_chars: int,
        on_overlong: Callable[[int, int], None],
    ) -> None:
        self._chunks = chunks
        self.max_chars = max_chars
        self._on_overlong = on_overlong
        self.line = 0

    def __iter__(self) -> Iterator[str]:
        parts: list[str] = []
        size = 0
        overlong = False
        for chunk in self._chunks:
            pos = 0
            while pos < len(chunk):
                nl = chunk.find("\n", pos)
                end = len(chunk) if nl < 0 else nl + 1
                piece = chunk[pos:end]
                pos = end
                size += len(piece)
                if not overlong:
                    if size > self.max_chars:
                        overlong = True
                        parts.clear()
                    else:
                        parts.append(piece)
                if nl < 0:
                    continue
                self.line += 1
                if overlong:
                    self._on_overlong(self.line, size)
                else:
                    yield "".join(parts)
                parts.clear()
                size = 0
                overlong = False
        if size:
            self.line += 1
            if overlong:
                self._on_overlong(self.line, size)
            else:
                yield "".join(parts)


# Encodings in which the byte 0x0A is always a line feed (never part of another character), so a
# file may be cut at any b"\n".  UTF-16/32 are not among them.
SPLITTABLE = frozenset({"utf-8", "utf-8-sig", "gb18030", "latin-1", "ascii"})


class LineRange:
    """Reads the lines of a file that *start* in the byte range ``[start, end)``.

    Every line of the file belongs to exactly one range, so ranges ``[0, a), [a, b), ...,
    [z, size)`` read each line exactly once.  ``offset`` is the file position of the first
    byte handed out.
    """

    def __init__(self, raw: BinaryIO, start: int, end: int, block: int = BLOCK_BYTES) -> None:
        self._raw = raw
        self._end = end
        self._block = block
        self._pending = b""
        self._done = False
        if start <= 0:
            raw.seek(0)
            self.offset = 0
        else:
            # The line starting at ``start`` belongs here iff byte start-1 ends a line.
            raw.seek(start - 1)
            position = start - 1
            while True:
                data = raw.read(block)
                if not data:
                    self._done = True
                    break
                nl = data.find(b"\n")
                if nl >= 0:
                    self._pending = data[nl + 1 :]
                    position += nl + 1
                    break
                position += len(data)
            self.offset = position
        self._pos = self.offset
        self._at_line_start = True

    def read(self, size: int = -1) -> bytes:
        if self._pos >= self._end and self._at_line_start:
            self._done = True
        if self._done:
            return b""
        data = self._pending or self._raw.read(size if size > 0 else self._block)
        self._pending = b""
        if not data:
            self._done = True
            return b""
        if self._pos >= self._end:  # finishing the line that runs across ``end``
            nl = data.find(b"\n")
            if nl >= 0:
                data = data[: nl + 1]
                self._done = True
        elif self._pos + len(data) > self._end:
            k = self._end - self._pos  # index of the byte at ``end``
            if data[k - 1] == 0x0A:
                data = data[:k]
                self._done = True
            else:
                nl = data.find(b"\n", k)
                if nl >= 0:
                    data = data[: nl + 1]
                    self._done = True
        self._pos += len(data)
        self._at_line_start = data.endswith(b"\n")
        return data
