"""The client side of the streamed ``POST /query`` answer (:mod:`.query_stream`'s line format):
:func:`read_answer` checks the lines' order (a header, rows, one end line, nothing after) and
hands each piece on as it arrives, so that ``leakwarden query`` can write CSV or NDJSON while
the answer is still coming; an answer without its end line was cut in transit
(:class:`StreamCut`)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["NDJSON", "Answer", "StreamCut", "read_answer"]

NDJSON = "application/x-ndjson"


class StreamCut(Exception):
    """The answer is malformed or ended before its end line (line number in the message)."""


@dataclass
class Answer:
    """An answer read to its end: the header, the rows (unless a consumer took them) and the
    end line."""

    header: dict[str, Any]
    end: dict[str, Any]
    rows: list[list[Any]] = field(default_factory=list)


def read_answer(
    lines: Iterable[str],
    on_header: Callable[[dict[str, Any]], None] | None = None,
    on_rows: Callable[[list[list[Any]]], None] | None = None,
) -> Answer:
    """Read the NDJSON ``lines``; ``on_header`` / ``on_rows`` get each piece as it arrives
    (without ``on_rows`` the rows are kept in :attr:`Answer.rows`)."""
    header: dict[str, Any] | None = None
    end: dict[str, Any] | None = None
    rows: list[list[Any]] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            raise StreamCut(f"line {number}: not JSON") from None
        kind = obj.get("type") if isinstance(obj, dict) else None
        if end is not None:
            raise StreamCut(f"line {number}: data after the end line")
        if header is None:
            if kind != "header":
                raise StreamCut(f"line {number}: the answer does not start with a header")
            header = obj
            if on_header is not None:
                on_header(obj)
        elif kind == "rows" and isinstance(obj.get("rows"), list):
            if on_rows is not None:
                on_rows(obj["rows"])
            else:
                rows.extend(obj["rows"])
        elif kind == "end":
            end = obj
        else:
            raise StreamCut(f"line {number}: unexpected {kind!r} line")
    if header is None or end is None:
        raise StreamCut("the answer ended before its end line (cut in transit)")
    return Answer(header, end, rows)
