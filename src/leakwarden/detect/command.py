"""``leakwarden detect``: find personal information in one file or stdin and print the findings.

Reads bytes, decodes them (``decode_bytes``), runs the detector and prints JSON lines, one JSON
array, or a Rich table for people.  Offsets are character offsets in the decoded text, end
exclusive.  Problems (missing file, undecodable bytes, unknown type id or format) are reported on
stderr and give exit code 2.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import BinaryIO

from leakwarden.detect.model import Finding

__all__ = ["FORMATS", "run_detect"]

FORMATS = ("jsonl", "json", "table")


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def _read(source: str, stdin: BinaryIO) -> bytes:
    if source == "-":
        return stdin.read()
    return Path(source).read_bytes()


def run_detect(
    source: str,
    fmt: str = "jsonl",
    types: str | None = None,
    *,
    stdin: BinaryIO | None = None,
    stdout: BinaryIO | None = None,
) -> int:
    """Run the command; returns the exit code (0 = ran, whatever was found; 2 = bad input)."""
    if fmt not in FORMATS:
        return _fail(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    out = stdout if stdout is not None else sys.stdout.buffer
    try:
        data = _read(source, stdin if stdin is not None else sys.stdin.buffer)
    except FileNotFoundError:
        return _fail(f"{source}: no such file")
    except IsADirectoryError:
        return _fail(f"{source}: is a directory; `leakwarden scan` reads directory trees")
    except OSError as exc:
        return _fail(f"{source}: cannot read: {exc.strerror or exc}")

    from leakwarden.detect.engine import Detector, default_detector
    from leakwarden.detect.normalize import DecodeError, decode_bytes

    name = "<stdin>" if source == "-" else source
    try:
        text, encoding = decode_bytes(data)
    except DecodeError as exc:
        return _fail(f"{name}: {exc}")
    try:
        if types:
            wanted = [t.strip() for t in types.split(",") if t.strip()]
            detector = Detector(wanted)
        else:
            detector = default_detector()
    except KeyError as exc:
        return _fail(str(exc.args[0]) if exc.args else str(exc))

    findings = detector.find(text)
    if fmt == "jsonl":
        for f in findings:
            out.write(json.dumps(f.as_json(), ensure_ascii=False).encode("utf-8") + b"\n")
    elif fmt == "json":
        body = json.dumps([f.as_json() for f in findings], ensure_ascii=False, indent=2)
        out.write(body.encode("utf-8") + b"\n")
    else:
        _print_table(name, encoding, findings, out)
    out.flush()
    return 0


def _print_table(name: str, encoding: str, findings: list[Finding], out: BinaryIO) -> None:
    import io

    from rich.console import Console
    from rich.table import Table

    from leakwarden.detect.types import PI_TYPES

    err = Console(stderr=True)
    err.print(f"{name}: decoded as {encoding}; {len(findings)} finding(s)")
    table = Table(title=f"Personal information in {name}")
    for column, justify in (
        ("type", "left"),
        ("类型", "left"),
        ("start", "right"),
        ("end", "right"),
        ("text", "left"),
        ("score", "right"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for f in findings:
        t = PI_TYPES[f.type]
        table.add_row(f.type, t.label_zh, str(f.start), str(f.end), f.text, f"{f.score:.2f}")
    buffer = io.StringIO()
    Console(file=buffer, width=120, force_terminal=False).print(table)
    out.write(buffer.getvalue().encode("utf-8"))
