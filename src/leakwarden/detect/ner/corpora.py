"""Readers for the two labelled corpora the name/address model learns from, and the held-out split.

Both readers turn their corpus into :class:`Example` records: a text plus its ``PER``/``ADDR``
spans as end-exclusive character offsets.  Malformed input raises :class:`CorpusError` naming the
file and line; nothing is skipped silently.

* CLUENER2020 (``cluener/train.json``): pretty-printed JSON objects one after another;
  ``label[class][entity] = [[start, end], ...]`` with ``end`` INCLUSIVE.  ``name`` -> ``PER``,
  ``address`` -> ``ADDR``; the other eight classes are plain text for this model.
* The NAACL 2019 Chinese address corpus (``cn-address/train.txt``): one token per line with a BIO
  component label, blank line between addresses.  The whole address is one ``ADDR`` span.  Its
  ``person`` component is, per the corpus' annotation guide, "name of a company or company
  representative" (in practice shop names such as 菜鸟驿站), so it is part of the address and is
  never a person name here.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

PER = "PER"
ADDR = "ADDR"
TAGS: tuple[str, ...] = ("O", "B-PER", "I-PER", "B-ADDR", "I-ADDR")

CLUENER_CLASSES = {"name": PER, "address": ADDR}


class CorpusError(ValueError):
    """A corpus file does not have the promised shape (the message names file and line)."""


@dataclass(frozen=True)
class Span:
    label: str
    start: int
    end: int  # exclusive


@dataclass(frozen=True)
class Example:
    text: str
    spans: tuple[Span, ...]
    source: str  # "cluener", "cn-address", "synthetic-zh", ...
    # Components of a cn-address record (label, start, end), used for gazetteers; else empty.
    parts: tuple[Span, ...] = ()


def bio_tags(example: Example) -> list[str]:
    """One BIO tag per character of ``example.text``."""
    tags = ["O"] * len(example.text)
    for span in example.spans:
        tags[span.start] = "B-" + span.label
        for i in range(span.start + 1, span.end):
            tags[i] = "I-" + span.label
    return tags


_TAG_CODE = {"O": "O", "B-PER": "P", "I-PER": "p", "B-ADDR": "A", "I-ADDR": "a"}
_CODE_LABEL = {"P": PER, "p": PER, "A": ADDR, "a": ADDR}
# A span is B followed by its I's; a stray I (after O or after the other label) opens a new span.
_CODE_SPAN_RE = re.compile(r"Pp*|Aa*|p+|a+")


def spans_from_tags(tags: Sequence[str]) -> list[Span]:
    """Spans of a BIO tag sequence over ``TAGS`` (one C-level pass: the tagger calls this a lot)."""
    try:
        codes = "".join(map(_TAG_CODE.__getitem__, tags))
    except KeyError as exc:
        raise ValueError(f"unknown tag {exc.args[0]!r}; expected one of {TAGS}") from None
    return [
        Span(_CODE_LABEL[m.group()[0]], m.start(), m.end()) for m in _CODE_SPAN_RE.finditer(codes)
    ]


def tag_codes(labels: Sequence[str]) -> bytes:
    """The one-letter code of each label of a model, for :func:`spans_from_codes` (a table to
    index with label ids)."""
    try:
        return "".join(map(_TAG_CODE.__getitem__, labels)).encode("ascii")
    except KeyError as exc:
        raise ValueError(f"unknown tag {exc.args[0]!r}; expected one of {TAGS}") from None


def spans_from_codes(codes: str) -> list[Span]:
    """:func:`spans_from_tags` of a tag sequence already written in :func:`tag_codes` letters."""
    return [
        Span(_CODE_LABEL[m.group()[0]], m.start(), m.end()) for m in _CODE_SPAN_RE.finditer(codes)
    ]


def _iter_json_objects(path: Path) -> Iterator[tuple[object, int]]:
    """(object, first line) for each JSON value in a file of concatenated values or JSON lines."""
    raw = path.read_text(encoding="utf-8")
    decoder = json.JSONDecoder()
    pos = 0
    line = 1
    n = len(raw)
    while True:
        start = pos
        while pos < n and raw[pos].isspace():
            pos += 1
        if pos >= n:
            break
        line += raw.count("\n", start, pos)
        try:
            obj, end = decoder.raw_decode(raw, pos)
        except json.JSONDecodeError as exc:
            raise CorpusError(
                f"{path}:{line + raw.count(chr(10), pos, exc.pos)}: not valid JSON: {exc.msg}"
            ) from exc
        yield obj, line
        line += raw.count("\n", pos, end)
        pos = end


def read_cluener(path: Path) -> list[Example]:
    """Read CLUENER's concatenated JSON objects (or JSON lines) into examples."""
    return [_cluener_example(obj, path, line) for obj, line in _iter_json_objects(path)]


# CLUENER classes that are never personal information: bare strings of these teach the model
# that a lone company or product name in a table cell is not an address.
NEGATIVE_CLASSES = ("company", "organization", "game", "movie", "book", "position")


def cluener_entities(path: Path, classes: Iterable[str]) -> list[tuple[str, str]]:
    """(sentence, entity text) for every entity of ``classes`` in a CLUENER file."""
    wanted = set(classes)
    out: list[tuple[str, str]] = []
    for obj, line in _iter_json_objects(path):
        ex = _cluener_example(obj, path, line)  # validates the object
        assert isinstance(obj, dict)
        for cls, entities in obj.get("label", {}).items():
            if cls in wanted and isinstance(entities, dict):
                out.extend((ex.text, str(entity)) for entity in entities)
    return out


def _cluener_example(obj: object, path: Path, line: int) -> Example:
    where = f"{path}:{line}"
    if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
        raise CorpusError(f"{where}: expected an object with a string 'text'")
    text: str = obj["text"]
    labels = obj.get("label", {})
    if not isinstance(labels, dict):
        raise CorpusError(f"{where}: 'label' must be an object")
    spans: list[Span] = []
    for cls, entities in labels.items():
        if cls not in CLUENER_CLASSES:
            continue
        if not isinstance(entities, dict):
            raise CorpusError(f"{where}: label '{cls}' must map entity -> offsets")
        for entity, offsets in entities.items():
            for pair in offsets:
                if not (isinstance(pair, list) and len(pair) == 2):
                    raise CorpusError(f"{where}: bad offsets {pair!r} for {entity!r}")
                start, end_incl = int(pair[0]), int(pair[1])
                if text[start : end_incl + 1] != entity:
                    raise CorpusError(
                        f"{where}: span [{start}, {end_incl}] is {text[start : end_incl + 1]!r}, "
                        f"not {entity!r} (CLUENER ends are inclusive)"
                    )
                spans.append(Span(CLUENER_CLASSES[cls], start, end_incl + 1))
    spans.sort(key=lambda s: (s.start, s.end))
    for a, b in itertools.pairwise(spans):
        if b.start < a.end:
            raise CorpusError(f"{where}: overlapping name/address spans {a} and {b}")
    return Example(text, tuple(spans), "cluener")


def read_cn_address(path: Path) -> list[Example]:
    """Read the BIO address corpus; each blank-line separated block is one address."""
    examples: list[Example] = []
    tokens: list[str] = []
    parts: list[Span] = []
    offset = 0

    def flush() -> None:
        nonlocal tokens, parts, offset
        if tokens:
            text = "".join(tokens)
            examples.append(Example(text, (Span(ADDR, 0, len(text)),), "cn-address", tuple(parts)))
        tokens, parts, offset = [], [], 0

    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            line = line.rstrip("\r\n")
            if not line.strip():
                flush()
                continue
            token, sep, tag = line.rpartition(" ")
            if not sep or not token or not (tag.startswith(("B-", "I-")) or tag == "O"):
                raise CorpusError(f"{path}:{lineno}: expected '<token> <BIO tag>', got {line!r}")
            if tag.startswith("B-") or tag == "O" or not parts or parts[-1].label != tag[2:]:
                if tag != "O":
                    parts.append(Span(tag[2:], offset, offset + len(token)))
            else:
                parts[-1] = Span(parts[-1].label, parts[-1].start, offset + len(token))
            tokens.append(token)
            offset += len(token)
    flush()
    return examples


def is_held_out(text: str, percent: int = 10) -> bool:
    """Deterministic split by content: the same text always lands on the same side."""
    digest = hashlib.sha1(text.encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") % 100 < percent


def split(examples: Iterable[Example], percent: int = 10) -> tuple[list[Example], list[Example]]:
    """(train, test): ``percent`` % of the examples, chosen by a hash of the text, are held out."""
    train: list[Example] = []
    test: list[Example] = []
    for ex in examples:
        (test if is_held_out(ex.text, percent) else train).append(ex)
    return train, test


def iter_spans_text(examples: Iterable[Example], label: str) -> Iterator[str]:
    for ex in examples:
        for span in ex.spans:
            if span.label == label:
                yield ex.text[span.start : span.end]
