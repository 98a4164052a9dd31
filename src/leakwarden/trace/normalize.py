"""Reading a leaked sample in whatever shape it comes, and the one normal form of identifiers.

:func:`read_sample` reads CSV/TSV, JSON/JSONL, XLSX, Parquet and plain text (pasted from a web
page: a row per non-blank line, cells split on tabs, ``|``, commas or runs of spaces) into
:class:`SampleRow` s.  Identifying values are found by DETECTION (:class:`Detector` over every
cell), never by header names, so renamed and reordered columns do not matter.  Each value found
becomes an identifier key ``kind:value`` in the normal form :func:`identifier_keys` defines
(the same function builds the customer index in :mod:`.match`):

- ``phone:<digits>``: mobiles and other phones without ``+86``/``0086``, spaces, dashes, brackets
  (a ``+1`` number is also keyed without its country code on the customer side);
- ``id:<ID>``: resident ID upper-case (``x`` -> ``X``), US SSN digits only;
- ``email:<lower-case>``; ``card:<digits>``;
- ``pseudo:<pseudonym>``: a gateway pseudonym as exports write it (``cn_mobile:1:<base32>``),
  matched when the trace is given the gateway's pseudonym key.

Full-width digits and letters are folded to ASCII first (:func:`leakwarden.detect.normalize.
normalize`).  Masked values such as ``138****5678`` or ``110105********002X`` are kept as
:class:`Masked` partial evidence (known prefix and suffix, total length), which :mod:`.match`
narrows to candidates and confirms with a second field.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from leakwarden.detect.normalize import DecodeError, decode_bytes, normalize

__all__ = [
    "DETECT_TYPES",
    "Masked",
    "Sample",
    "SampleError",
    "SampleRow",
    "identifier_keys",
    "read_sample",
]

MAX_SAMPLE_BYTES = 1 << 30  # a leaked sample is read into memory: 1 GiB at most

# PI type id -> identifier kind.
DETECT_TYPES: dict[str, str] = {
    "cn_resident_id": "id",
    "us_ssn": "id",
    "cn_mobile": "phone",
    "phone": "phone",
    "cn_landline": "phone",
    "email": "email",
    "bank_card": "card",
}

_NON_DIGIT = re.compile(r"\D+")
_MASKED = re.compile(r"(?<![0-9A-Za-z*])([0-9]{0,8})(\*{2,})([0-9]{0,5}[0-9Xx]?)(?![0-9A-Za-z*])")
# a gateway pseudonym (leakwarden.protect.pseudonym.pseudonym): "<type>:<version>:<26 base32>"
_PSEUDONYM = re.compile(r"(?<![A-Za-z0-9_])([a-z][a-z_]*:[0-9]+:[A-Z2-7]{26})(?![A-Za-z0-9])")
_TEXT_SPLIT = re.compile(r"\t|\s{2,}|\||,|，|;|；")


class SampleError(ValueError):
    """The sample cannot be read; the message names the file and where."""


@dataclass(frozen=True)
class Masked:
    """A masked identifier: ``kind`` phone | id | card, the visible ``prefix`` and ``suffix``
    (normalised: digits, ``X`` upper-case) and the full ``length`` the mask implies."""

    kind: str
    prefix: str
    suffix: str
    length: int
    text: str


@dataclass
class SampleRow:
    """One row of the sample: ``number`` is the line (text, CSV, JSONL) or row (XLSX, Parquet,
    JSON array element) in the file, 1-based; ``cells`` the field names and texts as read."""

    number: int
    cells: list[tuple[str, str]]
    keys: list[tuple[str, str]] = field(default_factory=list)  # (key, field)
    masked: list[tuple[Masked, str]] = field(default_factory=list)  # (masked value, field)

    @property
    def values(self) -> list[str]:
        return [normalize(v).strip() for _, v in self.cells]


@dataclass
class Sample:
    path: str
    format: str
    encoding: str | None
    header: list[str] | None
    rows: list[SampleRow]
    # CSV lines as the export writer would write them (for registered row hashes), per row
    csv_lines: list[str] | None = None


def _digits(text: str) -> str:
    return _NON_DIGIT.sub("", text)


def identifier_keys(kind: str, text: str, *, customer_side: bool = False) -> list[str]:
    """The normal-form keys of one identifier value (module docstring); [] if nothing is left."""
    value = normalize(text).strip()
    if kind == "phone":
        digits = _digits(value)
        if digits.startswith("0086") and len(digits) == 15:
            digits = digits[4:]
        elif digits.startswith("86") and len(digits) == 13:
            digits = digits[2:]
        if len(digits) < 7:
            return []
        keys = [f"phone:{digits}"]
        if customer_side and value.startswith("+1") and len(digits) == 11:
            keys.append(f"phone:{digits[1:]}")
        return keys
    if kind == "id":
        compact = re.sub(r"[\s-]+", "", value).upper()
        return [f"id:{compact}"] if len(compact) >= 8 else []
    if kind == "email":
        low = value.lower()
        return [f"email:{low}"] if "@" in low else []
    if kind == "card":
        digits = _digits(value)
        return [f"card:{digits}"] if len(digits) >= 12 else []
    raise ValueError(f"unknown identifier kind {kind!r}")


def find_masked(text: str) -> list[Masked]:
    """Masked identifiers in ``text`` (after folding full-width characters)."""
    out = []
    for m in _MASKED.finditer(normalize(text)):
        prefix, stars, suffix = m.group(1), m.group(2), m.group(3).upper()
        length = len(prefix) + len(stars) + len(suffix)
        if len(suffix) < 4 or len(prefix) + len(suffix) < 5:
            continue
        if length == 11 and prefix.startswith("1") and suffix.isdigit():
            kind = "phone"
        elif length == 18:
            kind = "id"
        elif 15 <= length <= 19 and suffix.isdigit():
            kind = "card"
        else:
            continue
        out.append(Masked(kind, prefix, suffix, length, m.group()))
    return out


@lru_cache(maxsize=1)
def _detector() -> Any:
    from leakwarden.detect.engine import Detector

    return Detector(list(DETECT_TYPES), use_ner=False)


def detect_rows(rows: Sequence[SampleRow]) -> None:
    """Fill ``keys`` and ``masked`` of every row by detection over its cells."""
    flat = [(r, name, text) for r in rows for name, text in r.cells if text and text.strip()]
    found = _detector().find_many([t for _, _, t in flat])
    for (row, name, text), findings in zip(flat, found, strict=True):
        for f in findings:
            for key in identifier_keys(DETECT_TYPES[f.type], f.text):
                row.keys.append((key, name))
        if ":" in text:
            row.keys.extend((f"pseudo:{p}", name) for p in _PSEUDONYM.findall(text))
        if "*" in text or "＊" in text:
            row.masked.extend((m, name) for m in find_masked(text))


def _cell(value: Any) -> str:
    if value is None or isinstance(value, bool):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # 13812345678.0 from a numeric cell is a phone number
    return str(value)


def _flatten(value: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    from leakwarden.scan.files import flatten

    yield from flatten(value, prefix)


def _is_data(cells: list[str]) -> bool:
    probe = SampleRow(0, [(str(i), c) for i, c in enumerate(cells)])
    detect_rows([probe])
    return bool(probe.keys or probe.masked)


def _from_table(
    rows: Iterator[tuple[int, list[str]]], path: str
) -> tuple[list[str] | None, list[SampleRow]]:
    header: list[str] | None = None
    out: list[SampleRow] = []
    first = True
    for number, cells in rows:
        if not any(c.strip() for c in cells):
            continue
        if first:
            first = False
            if not _is_data(cells):
                header = [c.strip() or f"column {i + 1}" for i, c in enumerate(cells)]
                continue
        names = header or []
        if len(cells) > len(names):
            names = names + [f"column {i + 1}" for i in range(len(names), len(cells))]
        out.append(SampleRow(number, list(zip(names, cells, strict=False))))
    return header, out


def _read_csv(text: str, delimiter: str | None, path: str) -> tuple[list[str] | None, Sample]:
    if delimiter is None:
        lines = text.splitlines()[:50]
        try:
            delimiter = csv.Sniffer().sniff("\n".join(lines), delimiters=",\t;|").delimiter
        except csv.Error:
            delimiter = ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)

    def numbered() -> Iterator[tuple[int, list[str]]]:
        try:
            for row in reader:
                yield reader.line_num, row
        except csv.Error as exc:
            raise SampleError(f"{path}: line {reader.line_num}: CSV error: {exc}") from None

    header, rows = _from_table(numbered(), path)
    lines = []
    for r in rows:
        buf = io.StringIO()
        csv.writer(buf, lineterminator="").writerow([v for _, v in r.cells])
        lines.append(buf.getvalue())
    return header, Sample(path, "csv", None, header, rows, lines)


def _read_json(text: str, path: str) -> list[SampleRow]:
    from leakwarden.scan.files import iter_json_values

    problems: list[str] = []
    rows: list[SampleRow] = []
    values = iter_json_values(
        iter([text]), len(text) + 1, lambda msg, where: problems.append(f"{where}: {msg}")
    )
    for i, value in enumerate(values, start=1):
        if (
            isinstance(value, dict)
            and len(value) == 1
            and isinstance(next(iter(value.values())), list)
        ):
            # {"data": [...]} wraps the records
            for j, item in enumerate(next(iter(value.values())), start=1):
                rows.append(SampleRow(j, list(_flatten(item))))
            continue
        rows.append(SampleRow(i, list(_flatten(value))))
    if problems and not rows:
        raise SampleError(f"{path}: {problems[0]}")
    return rows


def _read_xlsx(path: str) -> tuple[list[str] | None, list[SampleRow]]:
    import zipfile

    import openpyxl

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, OSError, KeyError, ValueError) as exc:
        raise SampleError(f"{path}: cannot open workbook: {type(exc).__name__}: {exc}") from None
    try:
        header: list[str] | None = None
        rows: list[SampleRow] = []
        for sheet in book.worksheets:
            table = (
                (n, [_cell(v) for v in values])
                for n, values in enumerate(sheet.iter_rows(values_only=True), start=1)
            )
            h, got = _from_table(table, f"{path}!{sheet.title}")
            header = header or h
            rows.extend(got)
        return header, rows
    finally:
        book.close()


def _read_parquet(path: str) -> tuple[list[str], list[SampleRow]]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:
        raise SampleError(f"{path}: cannot read Parquet: {type(exc).__name__}: {exc}") from None
    names = table.column_names
    rows = [
        SampleRow(i, [(n, _cell(rec.get(n))) for n in names])
        for i, rec in enumerate(table.to_pylist(), start=1)
    ]
    return names, rows


def read_sample(path: str | Path) -> Sample:
    """Read the leaked sample at ``path`` and detect its identifiers (module docstring).

    Raises :class:`SampleError` naming the file and the line or row when it cannot be read."""
    from leakwarden.scan.files import format_of

    name = str(path)
    try:
        size = Path(path).stat().st_size
        if size > MAX_SAMPLE_BYTES:
            raise SampleError(f"{name}: {size:,} bytes, over the {MAX_SAMPLE_BYTES:,}-byte limit")
        with open(path, "rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        raise SampleError(f"{name}: cannot read: {exc.strerror or exc}") from None
    fmt, detail = format_of(name, head)
    if fmt == "unsupported":
        raise SampleError(f"{name}: {detail}")
    sample: Sample
    if fmt == "xlsx":
        header, rows = _read_xlsx(name)
        sample = Sample(name, fmt, None, header, rows)
    elif fmt == "parquet":
        pheader, rows = _read_parquet(name)
        sample = Sample(name, fmt, None, pheader, rows)
    else:
        data = Path(path).read_bytes()
        if data.startswith(b"\x1f\x8b"):
            import gzip

            data = gzip.decompress(data)
        try:
            text, encoding = decode_bytes(data)
        except DecodeError as exc:
            raise SampleError(f"{name}: {exc}") from None
        if fmt == "json":
            try:
                sample = Sample(name, fmt, encoding, None, _read_json(text, name))
            except json.JSONDecodeError as exc:
                raise SampleError(f"{name}: line {exc.lineno}: {exc.msg}") from None
        elif fmt == "csv" or (fmt == "text" and _looks_tabular(text)):
            _, sample = _read_csv(text, detail, name)
            sample.encoding = encoding
        else:
            rows = [
                SampleRow(n, [(f"cell {i + 1}", c) for i, c in enumerate(_TEXT_SPLIT.split(line))])
                for n, line in enumerate(text.splitlines(), start=1)
                if line.strip()
            ]
            sample = Sample(name, "text", encoding, None, rows)
    detect_rows(sample.rows)
    return sample


def _looks_tabular(text: str) -> bool:
    """A .txt that is really a CSV/TSV: its first lines have the same number (>1) of tabs or
    commas."""
    lines = [ln for ln in text.splitlines()[:20] if ln.strip()]
    if len(lines) < 2:
        return False
    for sep in ("\t", ","):
        counts = {ln.count(sep) for ln in lines}
        if len(counts) == 1 and counts.pop() >= 2:
            return True
    return False
