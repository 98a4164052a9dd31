"""File readers: CSV/TSV, JSON/JSONL, Parquet, XLSX, plain text and logs, and ``.gz`` of them.

Each reader streams: text in bounded blocks, CSV through a line splitter that never builds a line
over ``max_line``, JSON value by value, Parquet by record batches, XLSX row by row (read-only
mode).  Every failure becomes a problem with the file and a line/byte/row position; whatever was
read before it still counts.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import re
import shutil
import tempfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from leakwarden.scan.classify import Classifier, FindsPI, TextScanner, TypeLookup
from leakwarden.scan.problems import ProblemLog
from leakwarden.scan.tasks import (
    ContainerStats,
    FileTask,
    Progress,
    RowSampler,
    ScanOptions,
    TaskOutcome,
)
from leakwarden.scan.textio import (
    SNIFF_BYTES,
    SPLITTABLE,
    BoundedLines,
    LineRange,
    TextStream,
    binary_reason,
    sniff_encoding,
)
from leakwarden.store.records import Location, SourceKind

GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGIC = b"PK\x03\x04"
PARQUET_MAGIC = b"PAR1"
GZIP_BLOCK = 64 * 1024
_WS = re.compile(r"[ \t\r\n]+")
_NUMBER = re.compile(r"[-+]?[0-9][0-9,._]*")

CSV_EXT = {".csv": None, ".tsv": "\t", ".tab": "\t", ".psv": "|"}
JSON_EXT = {".json", ".jsonl", ".ndjson", ".geojson"}
PARQUET_EXT = {".parquet", ".pq"}
XLSX_EXT = {".xlsx", ".xlsm"}
# Known formats this scanner cannot read: said so by name rather than scanned as garbage.
UNSUPPORTED_EXT = {
    ".xls": "legacy Excel .xls (save as .xlsx to scan)",
    ".zip": "zip archive (unpack it to scan its files)",
    ".7z": "7z archive",
    ".rar": "rar archive",
    ".tar": "tar archive (unpack it to scan its files)",
    ".tgz": "tar archive (unpack it to scan its files)",
    ".bz2": "bzip2-compressed file (only .gz is read)",
    ".xz": "xz-compressed file (only .gz is read)",
    ".zst": "zstd-compressed file (only .gz is read)",
    ".docx": "Word document (not read yet)",
    ".pdf": "PDF document (not read yet)",
    ".avro": "Avro file (not read yet)",
    ".orc": "ORC file (not read yet)",
}


def format_of(name: str, head: bytes) -> tuple[str, str | None]:
    """``(format, detail)`` for a file name and its first bytes (after gzip, if any).

    ``format`` is one of csv, json, parquet, xlsx, text, or ``unsupported`` with ``detail``
    saying why; ``detail`` is the delimiter for csv.
    """
    ext = Path(name).suffix.lower()
    if head.startswith(PARQUET_MAGIC) or ext in PARQUET_EXT:
        return "parquet", None
    if ext in XLSX_EXT:
        return "xlsx", None
    if ext in UNSUPPORTED_EXT:
        return "unsupported", UNSUPPORTED_EXT[ext]
    if head.startswith(ZIP_MAGIC):
        return "unsupported", "zip archive or office document (not read)"
    if head.startswith(GZIP_MAGIC):
        return "unsupported", "gzip inside gzip"
    if ext in CSV_EXT:
        return "csv", CSV_EXT[ext]
    if ext in JSON_EXT:
        return "json", "lines" if ext in {".jsonl", ".ndjson"} else None
    return "text", None


def split_file_task(task: FileTask, options: ScanOptions) -> list[FileTask]:
    """Byte ranges of a big line-oriented file for a cluster, or the task unchanged.

    Split: uncompressed plain text (logs, always read whole) and, in a full scan, JSON Lines
    (one record per line), in an encoding where every b"\\n" is a line end.  CSV is never
    split (a quoted field may hold a line break), nor is anything else.
    """
    try:
        size = os.path.getsize(task.path)
        if task.end is not None or size <= options.split_bytes:
            return [task]
        with open(task.path, "rb") as raw:
            head = raw.read(SNIFF_BYTES)
    except OSError:
        return [task]  # scan_file reports it
    if head.startswith(GZIP_MAGIC):
        return [task]
    fmt, detail = format_of(task.container, head)
    if not (fmt == "text" or (fmt == "json" and detail == "lines" and options.full)):
        return [task]
    encoding = sniff_encoding(head)
    if encoding not in SPLITTABLE or binary_reason(head[:8192], encoding) is not None:
        return [task]
    step = options.split_bytes
    return [
        FileTask(task.source, task.path, task.container, start, min(size, start + step))
        for start in range(0, size, step)
    ]


def _open(path: str) -> tuple[BinaryIO, str, bool]:
    """Open ``path`` for reading bytes, through gzip when its magic says so."""
    raw = open(path, "rb")  # noqa: SIM115 - returned to the caller, closed there
    head = raw.read(2)
    raw.seek(0)
    name = os.path.basename(path)
    if head == GZIP_MAGIC:
        inner = name[:-3] if name.lower().endswith(".gz") else name
        return gzip.GzipFile(fileobj=raw, mode="rb"), inner, True  # type: ignore[return-value]
    return raw, name, False


@dataclass(frozen=True)
class _FileJob:
    """What every reader of one file needs besides its input: where results and problems go."""

    task: FileTask
    location: Location
    detector: FindsPI
    lookup: TypeLookup
    options: ScanOptions
    outcome: TaskOutcome
    log: ProblemLog
    progress: Progress | None


class _Peek:
    """A byte stream with its first bytes already read (to sniff), replayed on read."""

    def __init__(self, raw: BinaryIO, head: bytes) -> None:
        self._raw = raw
        self._head = head

    def read(self, size: int = -1) -> bytes:
        # The head is handed out alone: if the next read fails (a truncated gzip), the bytes
        # already in hand have been delivered and scanned.
        if self._head:
            if size < 0:
                size = len(self._head)
            out, self._head = self._head[:size], self._head[size:]
            return out
        return self._raw.read(size)


def scan_file(
    task: FileTask,
    detector: FindsPI,
    lookup: TypeLookup,
    options: ScanOptions,
    progress: Progress | None = None,
) -> TaskOutcome:
    """Scan one file; every problem is reported in the outcome, nothing raises."""
    outcome = TaskOutcome(task.source)
    log = ProblemLog(options.problem_limit)
    location = Location(task.source, task.container)
    raw: BinaryIO | None = None
    try:
        raw, inner, compressed = _open(task.path)
        try:
            head = raw.read(SNIFF_BYTES)
        except (EOFError, OSError, zlib.error) as exc:
            log.add(
                location,
                f"truncated or corrupt gzip: {exc}; nothing read",
                f"byte 0-{SNIFF_BYTES} of decompressed data",
            )
            outcome.problems = log.close()
            return outcome
        fmt, detail = format_of(inner, head)
        job = _FileJob(task, location, detector, lookup, options, outcome, log, progress)
        if fmt == "unsupported":
            log.add(location, f"skipped: {detail}")
        elif fmt in ("parquet", "xlsx"):
            reader = _scan_parquet if fmt == "parquet" else _scan_xlsx
            if not compressed:
                reader(job, task.path)
            else:
                # Both formats need random access: decompress to a temporary file first.
                with tempfile.NamedTemporaryFile(suffix="." + fmt) as spool:
                    spool.write(head)
                    try:
                        shutil.copyfileobj(raw, spool, options.block_bytes)
                    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
                        log.add(
                            location,
                            f"truncated or corrupt gzip: {exc}; {fmt} not read",
                            f"byte {spool.tell()} of decompressed data",
                        )
                    else:
                        spool.flush()
                        reader(job, spool.name)
        else:
            encoding = sniff_encoding(head)
            reason = binary_reason(head[:8192], encoding)
            if reason is not None:
                log.add(location, f"skipped: {reason}", "byte 0")
            else:
                source: Any = _Peek(raw, head)
                if task.end is not None and fmt in ("text", "json") and not compressed:
                    source = LineRange(raw, task.start, task.end, options.block_bytes)
                # A truncated gzip loses the block being inflated when it fails: keep it small.
                block = min(options.block_bytes, GZIP_BLOCK) if compressed else options.block_bytes
                stream = TextStream(
                    source,
                    encoding,
                    block_bytes=block,
                    on_error=lambda msg, pos: log.add(location, msg, pos),
                    on_block=(lambda n: progress(task.container, n, "bytes")) if progress else None,
                    offset=getattr(source, "offset", 0),
                )
                try:
                    if fmt == "csv":
                        _scan_csv(job, stream, detail)
                    elif fmt == "json":
                        _scan_json(job, stream, detail == "lines")
                    else:
                        _scan_text(job, stream)
                except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
                    what = "truncated gzip" if isinstance(exc, EOFError) else "corrupt gzip"
                    log.add(
                        location,
                        f"{what}: {exc}; the part before it was scanned",
                        f"byte {stream.bytes_read} of decompressed data",
                    )
                outcome.bytes_scanned += stream.bytes_read
    except (OSError, EOFError, zlib.error) as exc:
        log.add(location, f"cannot read file: {exc}")
    except Exception as exc:  # a reader bug must not end the whole scan: report it
        log.add(location, f"scan failed: {type(exc).__name__}: {exc}")
    finally:
        if raw is not None:
            raw.close()
    outcome.problems = log.close()
    outcome.rows_scanned = sum(c.rows_scanned for c in outcome.containers)
    return outcome


def _scan_text(job: _FileJob, stream: TextStream) -> None:
    task, detector, lookup, outcome = job.task, job.detector, job.lookup, job.outcome
    scanner = TextScanner(detector, lookup)
    try:
        for chunk in stream.chunks():
            scanner.feed(chunk)
    finally:
        stats = scanner.close()
        outcome.containers.append(
            ContainerStats(task.container, SourceKind.FILE, text=stats, rows_scanned=stats.lines)
        )


def _sniff_delimiter(sample: str, default: str | None) -> str:
    if default is not None:
        return default
    lines = sample.splitlines()[:50]
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=",\t;|").delimiter
    except csv.Error:
        return ","


def _looks_like_data(row: list[str], detector: FindsPI, lookup: TypeLookup) -> bool:
    """Whether a first row is data rather than a header: it is empty or repeats a name, every
    cell is a number, or a cell is a validated value (a phone, an ID number).  A model's guess
    (a header 收件人 read as a name) does not count: headers are words."""
    names = [c.strip() for c in row]
    filled = [c for c in names if c]
    if not filled or len(set(filled)) < len(filled):
        return True
    if all(_NUMBER.fullmatch(c) for c in filled):
        return True
    for cell in filled:
        for finding in detector.find(cell):
            pi_type = lookup(finding.type)
            validated = pi_type is not None and pi_type.validator is not None
            if validated and finding.end - finding.start >= 0.8 * len(cell):
                return True
    return False


def _scan_csv(job: _FileJob, stream: TextStream, delimiter: str | None) -> None:
    task, location, options = job.task, job.location, job.options
    outcome, log = job.outcome, job.log
    detector, lookup = job.detector, job.lookup
    chunks = stream.chunks()
    first = next(chunks, "")

    def replay() -> Iterator[str]:
        if first:
            yield first
        yield from chunks

    delim = _sniff_delimiter(first[:SNIFF_BYTES], delimiter)
    lines = BoundedLines(
        replay(),
        options.max_line,
        lambda line, size: log.add(
            location,
            f"line of {size:,} characters exceeds the field size limit of "
            f"{options.max_line:,}; line skipped",
            f"line {line}",
        ),
    )
    csv.field_size_limit(max(csv.field_size_limit(), options.max_line))
    reader = csv.reader(iter(lines), delimiter=delim, strict=True)
    classifier = Classifier(detector, lookup)
    # A big uncompressed file is sampled half from its head, half spread over the rest.
    size = _plain_size(task)
    spread = (
        not options.full
        and size > SPREAD_MIN_BYTES
        and stream.encoding in SPLITTABLE
        and task.end is None
    )
    head_sample = max(1, options.sample // 2) if spread else options.sample
    sampler = RowSampler(classifier, head_sample, full=options.full, row_cap=options.row_cap)
    header: list[str] | None = None
    stopped = False
    try:
        while True:
            first_line = lines.line + 1
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                span = (
                    f"line {lines.line}"
                    if lines.line <= first_line
                    else f"lines {first_line}-{lines.line}"
                )
                log.add(location, f"CSV parse error: {exc}; record skipped", span)
                continue
            if not row:
                continue
            if header is None:
                if _looks_like_data(row, detector, lookup):
                    header = [f"column {i + 1}" for i in range(len(row))]
                else:
                    header = [c.strip() or f"column {i + 1}" for i, c in enumerate(row)]
                    continue
            names = header
            if len(row) > len(names):
                names = names + [f"column {i + 1}" for i in range(len(names), len(row))]
            if not sampler.add_row(zip(names, row, strict=False)):
                stopped = True
                break
        if spread and stopped and header is not None and size > 2 * stream.bytes_read:
            sampler.sample = options.sample
            for row in _spread_rows(
                task.path,
                stream.encoding,
                delim,
                len(header),
                stream.bytes_read,
                size,
                options.sample - head_sample,
            ):
                if not sampler.add_row(zip(header, row, strict=False)):
                    break
    finally:
        outcome.containers.append(
            sampler.finish(task.container, SourceKind.FILE, sampler.rows if options.full else None)
        )


SPREAD_MIN_BYTES = 8 << 20
SPREAD_OFFSETS = 16
SPREAD_WINDOW = 256 * 1024


def _plain_size(task: FileTask) -> int:
    """The file's size if it is not compressed (else 0: a gzip stream cannot be sought)."""
    try:
        with open(task.path, "rb") as fh:
            if fh.read(2) == GZIP_MAGIC:
                return 0
        return os.path.getsize(task.path)
    except OSError:
        return 0


def _spread_rows(
    path: str, encoding: str, delim: str, width: int, start: int, size: int, wanted: int
) -> Iterator[list[str]]:
    """About ``wanted`` rows from ``SPREAD_OFFSETS`` places spread evenly over
    ``[start, size)``: at each, skip to the next line start and parse whole lines.

    A landing point may be inside a quoted field that holds line breaks; rows that fail to
    parse or have another width than the header are therefore dropped here (this is sampling:
    every row of the file was either read by the head pass or is simply not in the sample).
    """
    per_offset = max(1, -(-wanted // SPREAD_OFFSETS))
    step = (size - start) // SPREAD_OFFSETS
    with open(path, "rb") as raw:
        for k in range(SPREAD_OFFSETS):
            raw.seek(start + k * step + step // 2)
            block = raw.read(SPREAD_WINDOW)
            nl = block.find(b"\n")
            last = block.rfind(b"\n")
            if nl < 0 or last <= nl:
                continue
            text = block[nl + 1 : last + 1].decode(encoding, errors="replace")
            reader = csv.reader(io.StringIO(text), delimiter=delim, strict=True)
            taken = 0
            while taken < per_offset:
                try:
                    row = next(reader)
                except StopIteration:
                    break
                except csv.Error:
                    continue
                if len(row) == width:
                    taken += 1
                    yield row


def flatten(value: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    """``(field path, text)`` for every scalar in a JSON value: ``user.phone``, ``items[].addr``.

    Numbers count (phone numbers are often stored as numbers); booleans and nulls do not.
    """
    if isinstance(value, dict):
        for key, item in value.items():
            yield from flatten(item, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list | tuple):
        for item in value:
            yield from flatten(item, f"{prefix}[]")
    elif value is None or isinstance(value, bool | bytes | bytearray | memoryview):
        return
    elif isinstance(value, str):
        yield prefix or "$", value
    else:
        yield prefix or "$", str(value)


def iter_json_values(
    chunks: Iterator[str],
    max_value: int,
    on_problem: Callable[[str, str], None],
) -> Iterator[Any]:
    """Values of a JSON document streamed from text chunks: a top-level array element by
    element, or whitespace-separated values (JSON Lines, concatenated JSON).

    A syntax error is reported with its line and the reader resumes at the next line; a value
    larger than ``max_value`` characters is reported and the rest of the file is not read.
    """
    decoder = json.JSONDecoder()
    buf = ""
    pos = 0  # next unread character of buf
    line = 1  # line number at buf[pos]
    exhausted = False
    in_array: bool | None = None

    def refill() -> bool:
        nonlocal buf, pos, exhausted
        if exhausted:
            return False
        chunk = next(chunks, None)
        if chunk is None:
            exhausted = True
            return False
        buf = buf[pos:] + chunk
        pos = 0
        return True

    def advance(to: int) -> None:
        nonlocal pos, line
        line += buf.count("\n", pos, to)
        pos = to

    while True:
        match = _WS.match(buf, pos)
        if match is not None:
            advance(match.end())
        if pos >= len(buf):
            if refill():
                continue
            return
        if in_array is None:
            in_array = buf[pos] == "["
            if in_array:
                advance(pos + 1)
                continue
        if in_array and buf[pos] in ",]":
            advance(pos + 1)
            continue
        try:
            value, end = decoder.raw_decode(buf, pos)
        except json.JSONDecodeError as exc:
            near_end = exc.pos >= len(buf) - 1 or exc.msg.startswith("Unterminated")
            if not exhausted and near_end and len(buf) - pos <= max_value:
                refill()
                continue
            if len(buf) - pos > max_value:
                on_problem(
                    f"JSON value larger than {max_value:,} characters; rest of file not read",
                    f"line {line}",
                )
                return
            on_problem(
                f"JSON syntax error: {exc.msg}; resuming at the next line",
                f"line {line + buf.count(chr(10), pos, exc.pos)}",
            )
            nl = buf.find("\n", exc.pos)
            while nl < 0:
                buf, pos = "", 0
                if not refill():
                    return
                nl = buf.find("\n")
            advance(nl + 1)
            continue
        advance(end)
        yield value


def _scan_json(job: _FileJob, stream: TextStream, lines_format: bool) -> None:
    task, location, options = job.task, job.location, job.options
    outcome, log = job.outcome, job.log
    detector, lookup = job.detector, job.lookup
    classifier = Classifier(detector, lookup)
    sampler = RowSampler(classifier, options.sample, full=options.full, row_cap=options.row_cap)
    chunks: Iterator[str] = stream.chunks()
    # In a byte range of a split file, line numbers count from the range's first line.
    after = f" after byte {stream.offset}" if task.end is not None and stream.offset else ""

    def problem(message: str, position: str) -> None:
        log.add(location, message, position + after)

    if lines_format:
        # JSON Lines: one value per line, so an overlong line is skipped like any other.
        lines = BoundedLines(
            chunks,
            options.max_line,
            lambda n, size: problem(
                f"line of {size:,} characters exceeds the limit; skipped", f"line {n}"
            ),
        )
        chunks = iter(lines)
    try:
        for value in iter_json_values(chunks, options.max_json_value, problem):
            if not sampler.add_row(flatten(value)):
                break
    finally:
        outcome.containers.append(
            sampler.finish(task.container, SourceKind.FILE, sampler.rows if options.full else None)
        )


def _scan_parquet(job: _FileJob, path: str) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    task, location, options = job.task, job.location, job.options
    outcome, log = job.outcome, job.log
    detector, lookup, progress = job.detector, job.lookup, job.progress
    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        log.add(location, f"cannot read Parquet file: {exc}", "footer")
        return
    total = pf.metadata.num_rows
    classifier = Classifier(detector, lookup)
    sampler = RowSampler(classifier, options.sample, full=options.full, row_cap=options.row_cap)
    batch_size = 8192 if options.full else max(64, min(options.sample, 8192))
    row = 0
    try:
        for batch in pf.iter_batches(batch_size=batch_size):
            done = False
            for record in batch.to_pylist():
                row += 1
                if not sampler.add_row(flatten(record)):
                    done = True
                    break
            if progress is not None:
                progress(task.container, batch.nbytes, "bytes")
            outcome.bytes_scanned += batch.nbytes
            if done:
                break
    except (pa.ArrowException, OSError) as exc:
        log.add(location, f"Parquet read error: {exc}", f"row {row + 1}")
    finally:
        outcome.containers.append(sampler.finish(task.container, SourceKind.FILE, total))


def _cell_text(value: Any) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # 13812345678.0 from a numeric cell is a phone number
    return str(value)


def _scan_xlsx(job: _FileJob, path: str) -> None:
    import zipfile

    import openpyxl

    task, location, options = job.task, job.location, job.options
    outcome, log = job.outcome, job.log
    detector, lookup, progress = job.detector, job.lookup, job.progress
    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, OSError, KeyError, ValueError) as exc:
        log.add(location, f"cannot open workbook: {type(exc).__name__}: {exc}")
        return
    outcome.bytes_scanned += os.path.getsize(path)
    # One container per workbook; a field is ``sheet!header`` (``客户!手机``).
    book = ContainerStats(task.container, SourceKind.FILE, rows_total=0 if options.full else None)
    try:
        for sheet in workbook.worksheets:
            sheet_location = Location(task.source, task.container, f"{sheet.title}!")
            classifier = Classifier(detector, lookup)
            sampler = RowSampler(
                classifier, options.sample, full=options.full, row_cap=options.row_cap
            )
            header: list[str] | None = None
            row_number = 0
            try:
                for values in sheet.iter_rows(values_only=True):
                    row_number += 1
                    cells = [_cell_text(v) for v in values]
                    if not any(c and c.strip() for c in cells):
                        continue
                    if header is None:
                        texts = [c or "" for c in cells]
                        if _looks_like_data(texts, detector, lookup):
                            header = [f"column {i + 1}" for i in range(len(cells))]
                        else:
                            header = [t.strip() or f"column {i + 1}" for i, t in enumerate(texts)]
                            continue
                    names = header
                    if len(cells) > len(names):
                        names = names + [f"column {i + 1}" for i in range(len(names), len(cells))]
                    pairs = [
                        (f"{sheet.title}!{n}", c)
                        for n, c in zip(names, cells, strict=False)
                        if c is not None
                    ]
                    if not sampler.add_row(pairs):
                        break
            except (zipfile.BadZipFile, OSError, KeyError, ValueError) as exc:
                log.add(sheet_location, f"sheet read error: {exc}", f"row {row_number + 1}")
            book.merge(sampler.finish(task.container, SourceKind.FILE, None))
            if options.full and book.rows_total is not None:
                book.rows_total += sampler.rows
        outcome.containers.append(book)
    finally:
        workbook.close()
    if progress is not None:
        progress(task.container, os.path.getsize(path), "bytes")
