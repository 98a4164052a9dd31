"""Rewriting CSV, JSON Lines and Parquet files with protected columns.

Streaming: CSV and JSON Lines row by row through bounded buffers, Parquet record batch by record
batch, so memory does not depend on the file's size.  Output is atomic
(:func:`leakwarden.fileio.atomic_path`): a crash leaves the old output or the complete new one.

Every output gets a manifest beside it, ``<output>.leakwarden.json``: SHA-256 of the input and of
the output, the rules' digest, the operators and their key versions, and what happened per
column.  A re-run reads it first: an output that is already the protected form of the same
input under the same rules is left alone, and a file that is itself a protected output is never
protected a second time.  The manifest is written before the output is renamed into place, and
holds the output's hash, so a crash between the two leaves a manifest that does not match and is
ignored.  Deterministic operators (mask, HMAC, FF1) give byte-identical output on a re-run.

CSV keeps its encoding (UTF-8 with or without BOM, GB18030/GBK, UTF-16 as sniffed by
``leakwarden.scan.textio``), delimiter, quote character and line ending (rows are written
with the first line's ending; quoting is minimal unless the header is fully quoted, so a file
quoted some other way comes out with the same values but other quotes); bytes the encoding
cannot decode pass through untouched in columns without a rule and count as bad values in
columns with one.  JSON Lines keeps every line without a protected field byte for byte.  Parquet
keeps its schema; a protected non-text column becomes a string column (reported).

Rewriting in place replaces the file with a new one: the old clear bytes are unlinked, not
wiped from the disk.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import IO, Any, BinaryIO

from leakwarden.fileio import atomic_path, write_atomic
from leakwarden.protect._cells import ColumnCounts, ColumnProtector, RewriteError
from leakwarden.protect.operator import Operator
from leakwarden.protect.rules import Rule, spec_key

__all__ = [
    "MANIFEST_SUFFIX",
    "FileResult",
    "OperatorFactory",
    "manifest_path",
    "protect_file",
]

MANIFEST_SUFFIX = ".leakwarden.json"
MANIFEST_VERSION = 1
CHUNK_ROWS = 10_000
PARQUET_BATCH = 65_536
#: Longest CSV field accepted (a longer one is an error naming the line, not a memory blow-up).
MAX_FIELD = 16 << 20

#: Builds an operator from a spec (``leakwarden.protect.registry.build_operator`` with keys).
OperatorFactory = Callable[[str], Operator]
#: Told how many input bytes were read since the last call.
ProgressCallback = Callable[[int], None]


@dataclass
class FileResult:
    """What one file's rewrite did."""

    path: str
    output: str
    format: str
    status: str  # protected | unchanged (already protected, same input and rules)
    rows: int = 0
    bytes_in: int = 0
    seconds: float = 0.0
    columns: list[ColumnCounts] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    manifest: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": "file",
            "path": self.path,
            "output": self.output,
            "format": self.format,
            "status": self.status,
            "rows": self.rows,
            "bytes_in": self.bytes_in,
            "seconds": round(self.seconds, 3),
            "columns": [c.as_dict() for c in self.columns],
            "notes": list(self.notes),
            "manifest": self.manifest,
        }


def _at(unit: str, number: int) -> str:
    return f"{unit} {number}"


def _line_of(lines: list[int], k: int) -> str:
    return f"line {lines[k]}"


def _row_of(base: int, k: int) -> str:
    return f"row {base + k + 1}"


def manifest_path(output: str | Path) -> Path:
    p = Path(output)
    return p.with_name(p.name + MANIFEST_SUFFIX)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def _read_manifest(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(manifest_path(path).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("leakwarden_protect") else None


def key_version(op: Operator) -> int | str | None:
    """The key version an operator uses (operators name it ``version`` or ``key_version``)."""
    version = getattr(op, "key_version", None)
    if version is None:
        version = getattr(op, "version", None)
    return version if isinstance(version, int | str) else None


def _key_versions(operators: dict[str, Operator]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for spec, op in operators.items():
        key = spec_key(spec)
        if key is not None:
            out[spec] = {"key": key, "version": key_version(op)}
    return out


class _HashingReader(io.RawIOBase):
    def __init__(self, raw: BinaryIO, on_bytes: ProgressCallback | None) -> None:
        self._raw = raw
        self.hash = hashlib.sha256()
        self.count = 0
        self._on_bytes = on_bytes

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._raw.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.hash.update(data)
        self.count += n
        if self._on_bytes is not None and n:
            self._on_bytes(n)
        return n


class _HashingWriter(io.RawIOBase):
    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self.hash = hashlib.sha256()
        self.count = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = bytes(data)
        self._raw.write(view)
        self.hash.update(view)
        self.count += len(view)
        return len(view)


def protect_file(
    path: str | Path,
    rules: list[Rule],
    make_operator: OperatorFactory,
    *,
    output: str | Path | None = None,
    rules_digest: str = "",
    progress: ProgressCallback | None = None,
    chunk_rows: int = CHUNK_ROWS,
    manifest: bool = True,
    before_commit: Callable[[FileResult], None] | None = None,
) -> FileResult:
    """Protect the columns ``rules`` name in the file at ``path``.

    ``output`` is the new file (``None``: rewrite ``path`` in place).  ``manifest=False``
    writes no manifest and skips the re-run checks (``reveal`` writes clear output through the
    same code).  ``before_commit`` is called with the result once the new output is complete
    and before it replaces the old one; an exception there leaves the old output.  Raises
    :class:`~leakwarden.protect._cells.RewriteError` (a ``BadValueError`` under the ``fail``
    policy) naming the file, line/row and column; the old output is then left as it was.
    """
    src = Path(path)
    target = Path(output) if output is not None else src
    started = time.perf_counter()
    if not src.is_file():
        raise RewriteError(f"{src}: no such file")
    if not rules:
        raise RewriteError(f"{src}: no rule names a column of this file")
    fmt = _format(src)
    operators = {r.operator: make_operator(r.operator) for r in rules}
    skip = _up_to_date(src, target, rules_digest) if manifest else None
    if skip is not None:
        result = FileResult(str(src), str(target), fmt, "unchanged", notes=[skip])
        result.manifest = str(manifest_path(target))
        result.seconds = time.perf_counter() - started
        return result
    protectors = [ColumnProtector(r, operators[r.operator], str(src)) for r in rules]
    result = FileResult(str(src), str(target), fmt, "protected")
    with atomic_path(target) as tmp:
        writer: Callable[..., tuple[str, str, int]] = {
            "csv": _rewrite_csv,
            "jsonl": _rewrite_jsonl,
            "parquet": _rewrite_parquet,
        }[fmt]
        in_hash, out_hash, rows = writer(src, tmp, protectors, result, progress, chunk_rows)
        result.rows = rows
        result.bytes_in = src.stat().st_size
        result.columns = [p.counts for p in protectors]
        record = {
            "leakwarden_protect": MANIFEST_VERSION,
            "format": fmt,
            "input": {"path": str(src), "sha256": in_hash, "bytes": result.bytes_in},
            "output": {"sha256": out_hash, "bytes": tmp.stat().st_size},
            "in_place": target.resolve() == src.resolve(),
            "rules_sha256": rules_digest,
            "rules": [r.describe() for r in rules],
            "keys": _key_versions(operators),
            "rows": rows,
            "columns": [c.as_dict() for c in result.columns],
        }
        if before_commit is not None:
            before_commit(result)
        if manifest:
            # Before the rename: a crash in between leaves a manifest whose output hash matches
            # nothing on disk, which the next run ignores.
            write_atomic(
                manifest_path(target),
                json.dumps(record, indent=2, ensure_ascii=False, sort_keys=True) + "\n",
            )
    result.manifest = str(manifest_path(target)) if manifest else ""
    result.seconds = time.perf_counter() - started
    return result


def _format(path: Path) -> str:
    from leakwarden.scan.files import GZIP_MAGIC, format_of

    with path.open("rb") as fh:
        head = fh.read(8)
    if head.startswith(GZIP_MAGIC):
        raise RewriteError(f"{path}: gzip-compressed files are not rewritten; unpack it first")
    fmt, detail = format_of(path.name, head)
    if fmt == "csv":
        return "csv"
    if fmt == "parquet":
        return "parquet"
    if fmt == "json" and detail == "lines":
        return "jsonl"
    if fmt == "json":
        raise RewriteError(
            f"{path}: whole JSON documents are not rewritten (JSON Lines are: .jsonl/.ndjson)"
        )
    raise RewriteError(f"{path}: only CSV/TSV, JSON Lines and Parquet files are rewritten")


def _up_to_date(src: Path, target: Path, digest: str) -> str | None:
    """Why the rewrite can be skipped, or ``None`` to do it; raises when it would protect
    already-protected data a second time."""
    same = target.exists() and src.resolve() == target.resolve()
    src_manifest = _read_manifest(src)
    if src_manifest is not None and src_manifest["output"]["sha256"] == _sha256(src):
        # ``src`` is itself the output of a protect run.
        if same and src_manifest.get("rules_sha256") == digest:
            return "already protected with these rules (manifest matches the file)"
        raise RewriteError(
            f"{src} is already the protected output of an earlier run "
            f"({manifest_path(src).name}); protect the original file instead of protecting "
            "twice"
        )
    if same or not target.exists():
        return None
    out_manifest = _read_manifest(target)
    if (
        out_manifest is not None
        and out_manifest.get("rules_sha256") == digest
        and out_manifest["output"]["sha256"] == _sha256(target)
        and out_manifest["input"]["sha256"] == _sha256(src)
    ):
        return "output is up to date (same input and rules, per its manifest)"
    return None


# -- CSV -------------------------------------------------------------------------------------


def _sniff_text(path: Path) -> tuple[str, str]:
    """(encoding, first decoded block) of a text file."""
    import codecs

    from leakwarden.scan.textio import SNIFF_BYTES, sniff_encoding

    with path.open("rb") as fh:
        head = fh.read(SNIFF_BYTES)
    encoding = sniff_encoding(head)
    decoder = codecs.getincrementaldecoder(encoding)("surrogateescape")
    return encoding, decoder.decode(head, final=False)


def _dialect(head: str, path: Path) -> dict[str, Any]:
    from leakwarden.scan.files import CSV_EXT, _sniff_delimiter

    delimiter = _sniff_delimiter(head, CSV_EXT.get(path.suffix.lower()))
    quotechar = '"'
    try:
        sniffed = csv.Sniffer().sniff("\n".join(head.splitlines()[:50]), delimiters=delimiter)
        quotechar = sniffed.quotechar or '"'
    except csv.Error:
        pass
    nl = head.find("\n")
    terminator = "\r\n" if nl > 0 and head[nl - 1] == "\r" else "\n"
    first = head[: nl if nl >= 0 else len(head)].rstrip("\r")
    fields = next(csv.reader([first], delimiter=delimiter, quotechar=quotechar), [])
    all_quoted = bool(fields) and first.startswith(quotechar) and first.endswith(quotechar)
    all_quoted = all_quoted and first.count(quotechar + delimiter + quotechar) == len(fields) - 1
    return {
        "delimiter": delimiter,
        "quotechar": quotechar,
        "lineterminator": terminator,
        "quoting": csv.QUOTE_ALL if all_quoted else csv.QUOTE_MINIMAL,
        "doublequote": True,
        "strict": True,
    }


def _open_text_in(
    src: Path, encoding: str, progress: ProgressCallback | None
) -> tuple[IO[str], _HashingReader, BinaryIO]:
    raw = src.open("rb")
    hashing = _HashingReader(raw, progress)
    text = io.TextIOWrapper(
        io.BufferedReader(hashing, 1 << 20), encoding=encoding, errors="surrogateescape", newline=""
    )
    return text, hashing, raw


def _open_text_out(tmp: Path, encoding: str) -> tuple[IO[str], _HashingWriter, BinaryIO]:
    raw = tmp.open("wb")
    hashing = _HashingWriter(raw)
    text = io.TextIOWrapper(
        io.BufferedWriter(hashing, 1 << 20),
        encoding=encoding,
        errors="surrogateescape",
        newline="",
        write_through=False,
    )
    return text, hashing, raw


def _rewrite_csv(
    src: Path,
    tmp: Path,
    protectors: list[ColumnProtector],
    result: FileResult,
    progress: ProgressCallback | None,
    chunk_rows: int,
) -> tuple[str, str, int]:
    encoding, head = _sniff_text(src)
    dialect = _dialect(head, src)
    result.notes.append(f"encoding {encoding}, delimiter {dialect['delimiter']!r}")
    csv.field_size_limit(max(csv.field_size_limit(), MAX_FIELD))
    fin, in_hash, raw_in = _open_text_in(src, encoding, progress)
    fout, out_hash, raw_out = _open_text_out(tmp, encoding)
    rows = 0
    try:
        reader = csv.reader(
            fin,
            delimiter=dialect["delimiter"],
            quotechar=dialect["quotechar"],
            doublequote=True,
            strict=True,
        )
        writer = csv.writer(fout, **dialect)
        try:
            header = next(reader)
        except StopIteration:
            raise RewriteError(f"{src}: the file is empty (no header row)") from None
        except csv.Error as exc:
            raise RewriteError(f"{src}, line {reader.line_num}: CSV parse error: {exc}") from None
        writer.writerow(header)
        names = [h.strip().lstrip("\ufeff") for h in header]
        plan: list[tuple[int, ColumnProtector]] = []
        for p in protectors:
            hits = [i for i, n in enumerate(names) if n == p.rule.column]
            if not hits:
                raise RewriteError(
                    f"{src}: no column {p.rule.column!r} (rule {p.rule.origin or p.rule.operator});"
                    f" the header has: {', '.join(names)}"
                )
            if len(hits) > 1:
                raise RewriteError(f"{src}: the header names column {p.rule.column!r} twice")
            plan.append((hits[0], p))
        while True:
            chunk: list[list[str]] = []
            lines: list[int] = []
            try:
                for row in reader:
                    chunk.append(row)
                    lines.append(reader.line_num)
                    if len(chunk) >= chunk_rows:
                        break
            except csv.Error as exc:
                raise RewriteError(
                    f"{src}, line {reader.line_num}: CSV parse error: {exc}"
                ) from None
            if not chunk:
                break
            where = partial(_line_of, lines)
            for idx, protect in plan:
                cells = [row[idx] if idx < len(row) else None for row in chunk]
                for row, cell in zip(chunk, protect.many(cells, where), strict=True):
                    if idx < len(row):
                        row[idx] = cell or ""
            writer.writerows(chunk)
            rows += len(chunk)
        fout.flush()
    finally:
        fin.close()
        raw_in.close()
        fout.close()
        raw_out.close()
    return in_hash.hash.hexdigest(), out_hash.hash.hexdigest(), rows


# -- JSON Lines ------------------------------------------------------------------------------


def _path_parts(path: str) -> list[str]:
    """``items[].addr`` → ``["items", "[]", "addr"]`` (the scan's field-path syntax)."""
    if path == "$":
        return []
    parts: list[str] = []
    for piece in path.split("."):
        arrays = 0
        while piece.endswith("[]"):
            piece = piece[:-2]
            arrays += 1
        if piece:
            parts.append(piece)
        parts.extend(["[]"] * arrays)
    return parts


def _replace_in(
    value: Any,
    parts: list[str],
    protect: ColumnProtector,
    position: Callable[[], str],
) -> tuple[Any, bool]:
    """``value`` with the leaves at ``parts`` protected; the flag says whether anything
    changed."""
    if not parts:
        if value is None or isinstance(value, bool):
            protect.counts.empty += 1
            return value, False
        if isinstance(value, dict | list):
            kind = f"a JSON {'object' if isinstance(value, dict) else 'array'}, not a value"
            text = json.dumps(value, ensure_ascii=False)
            return protect.bad(text, kind, position), True
        return protect(value if isinstance(value, str) else json.dumps(value), position), True
    head, rest = parts[0], parts[1:]
    if head == "[]":
        if not isinstance(value, list):
            return value, False
        changed = False
        for i, item in enumerate(value):
            value[i], c = _replace_in(item, rest, protect, position)
            changed = changed or c
        return value, changed
    if not isinstance(value, dict) or head not in value:
        return value, False
    value[head], changed = _replace_in(value[head], rest, protect, position)
    return value, changed


def _iter_lines(text: IO[str]) -> Iterator[str]:
    while True:
        line = text.readline(MAX_FIELD)
        if not line:
            return
        yield line


def _rewrite_jsonl(
    src: Path,
    tmp: Path,
    protectors: list[ColumnProtector],
    result: FileResult,
    progress: ProgressCallback | None,
    chunk_rows: int,
) -> tuple[str, str, int]:
    encoding, head = _sniff_text(src)
    compact = '":"' in head.replace('": "', "") if head else False
    separators = (",", ":") if compact else (", ", ": ")
    plans = [(_path_parts(p.rule.column), p) for p in protectors]
    fin, in_hash, raw_in = _open_text_in(src, encoding, progress)
    fout, out_hash, raw_out = _open_text_out(tmp, encoding)
    rows = 0
    line_no = 0
    try:
        for line in _iter_lines(fin):
            line_no += 1
            if not line.endswith("\n") and len(line) >= MAX_FIELD:
                raise RewriteError(f"{src}, line {line_no}: a line longer than {MAX_FIELD:,} chars")
            body = line.rstrip("\r\n")
            if not body.strip():
                fout.write(line)
                continue
            try:
                record = json.loads(body)
            except ValueError as exc:
                msg = str(exc).split(":")[0]
                raise RewriteError(
                    f"{src}, line {line_no}: not valid JSON ({msg}); nothing was written"
                ) from None
            rows += 1
            changed = False
            here = line_no
            for parts, protect in plans:
                record, c = _replace_in(record, parts, protect, partial(_at, "line", here))
                changed = changed or c
            if changed:
                ending = line[len(body) :]
                fout.write(json.dumps(record, ensure_ascii=False, separators=separators) + ending)
            else:
                fout.write(line)
        fout.flush()
    finally:
        fin.close()
        raw_in.close()
        fout.close()
        raw_out.close()
    return in_hash.hash.hexdigest(), out_hash.hash.hexdigest(), rows


# -- Parquet ---------------------------------------------------------------------------------


def _rewrite_parquet(
    src: Path,
    tmp: Path,
    protectors: list[ColumnProtector],
    result: FileResult,
    progress: ProgressCallback | None,
    chunk_rows: int,
) -> tuple[str, str, int]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(src)
    except (pa.ArrowException, OSError) as exc:
        raise RewriteError(f"{src}: cannot read Parquet file: {exc}") from None
    schema = pf.schema_arrow
    plan: list[tuple[int, ColumnProtector]] = []
    fields = list(schema)
    for p in protectors:
        if p.rule.column not in schema.names:
            raise RewriteError(
                f"{src}: no top-level column {p.rule.column!r}; columns: {', '.join(schema.names)}"
                " (nested fields are not rewritten yet)"
            )
        i = schema.get_field_index(p.rule.column)
        f = fields[i]
        if not (pa.types.is_string(f.type) or pa.types.is_large_string(f.type)):
            if pa.types.is_nested(f.type):
                raise RewriteError(f"{src}: column {p.rule.column!r} is nested ({f.type})")
            result.notes.append(f"column {f.name}: {f.type} written as string")
            fields[i] = pa.field(f.name, pa.string(), f.nullable, f.metadata)
        plan.append((i, p))
    out_schema = pa.schema(fields, metadata=schema.metadata)
    compression = "snappy"
    if pf.metadata.num_row_groups and pf.metadata.num_columns:
        compression = pf.metadata.row_group(0).column(0).compression.lower()
        if compression == "uncompressed":
            compression = "none"
    rows = 0
    raw = src.open("rb")
    hashing = _HashingReader(raw, None)
    total_rows = max(1, pf.metadata.num_rows)
    size = src.stat().st_size
    try:
        # The hash is of the file as read; Parquet is read by its own reader, so hash the bytes
        # in one extra sequential pass (cheap next to the rewrite).
        while hashing.read(1 << 20):
            pass
    finally:
        raw.close()
    with pq.ParquetWriter(tmp, out_schema, compression=compression) as writer:
        batches = pf.iter_batches(batch_size=max(1, min(chunk_rows * 8, PARQUET_BATCH)))
        while True:
            try:
                batch = next(batches, None)
            except (pa.ArrowException, OSError) as exc:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                raise RewriteError(
                    f"{src}, after row {rows}: Parquet read error ({type(exc).__name__}: "
                    f"{first[:120]})"
                ) from None
            if batch is None:
                break
            columns = list(batch.columns)
            base = rows
            for i, protect in plan:
                out = protect.many(columns[i].to_pylist(), partial(_row_of, base))
                columns[i] = pa.array(out, type=out_schema.field(i).type)
            writer.write_batch(pa.RecordBatch.from_arrays(columns, schema=out_schema))
            rows += batch.num_rows
            if progress is not None:
                progress(size * batch.num_rows // total_rows)
    out_hash = _sha256(tmp)
    return hashing.hash.hexdigest(), out_hash, rows
