"""The detection engine: one Hyperscan pass over the text, then validation, context and overlaps.

How ``Detector.find`` works:

1. ``normalize`` folds full-width characters (length-preserving), the text is encoded to UTF-8
   with a newline sentinel on each side.
2. Every selected type's patterns are compiled once per process into ONE Hyperscan block-mode
   database (SOM_LEFTMOST | UTF8).  Hyperscan has no look-around, so each pattern of an
   ``alnum_bounded`` type is wrapped as ``[^0-9A-Za-z](?:pattern)[^0-9A-Za-z]``: the delimiters
   are consumed and stripped afterwards.  This is what lets "身份证11010519491231002X" match (a
   CJK character is a delimiter) while a mobile number inside a longer digit run does not, and it
   keeps the callback count proportional to candidates, not to the length of digit runs.  The
   boundary is re-checked in Python on each candidate, together with the type's ``joiners``.
3. Per candidate (never per character of the text): the validator, the context words in a window
   before and just after the match (cut at line breaks), the score, the ``needs_context`` rule.
4. Overlaps are resolved to one answer per span: a validated candidate that needs no context
   beats one that does, then the longer span, then the higher score, then registry order (so an
   18-digit resident ID never also yields a mobile or a card inside it).
5. Names and addresses come from ``leakwarden.detect.ner`` (imported lazily); a tagger span that
   overlaps a pattern finding is cut back to its largest free part.

Byte offsets are mapped back to character offsets with one pass of ``bytes.translate`` and
``bytes.count`` over the gaps between sorted offsets (identity for ASCII-only text).
"""

from __future__ import annotations

import bisect
import importlib.util
import re
import threading
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any, Protocol

from leakwarden.detect.model import Finding, PIType
from leakwarden.detect.normalize import normalize
from leakwarden.detect.types import PI_TYPES

__all__ = ["CONTEXT_BOOST", "Detector", "default_detector", "tagger_available"]

CONTEXT_BOOST = 0.35
_BEFORE = 40  # characters of context looked at before a match
_AFTER = 12  # and after it
_DELIM = "[^0-9A-Za-z]"
# Continuation bytes of UTF-8 (0x80-0xBF) -> 1, everything else -> 0.
_CONTINUATION = bytes(1 if 0x80 <= b <= 0xBF else 0 for b in range(256))
_ALNUM = frozenset(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_TRIM = " \t\r\n,，.。;；:：、|/\\\"'()（）[]【】<>《》-_"


class _Tagger(Protocol):
    def tag(self, text: str) -> list[Finding]: ...


@dataclass(frozen=True, slots=True)
class _Rule:
    """What the engine needs of one type, precomputed."""

    type: PIType
    order: int
    validator: Callable[[str], bool] | None
    needs_context: re.Pattern[str] | None
    context: re.Pattern[str] | None
    joiners: frozenset[int]


@dataclass(frozen=True, slots=True)
class _Compiled:
    database: Any  # hyperscan.Database
    pattern_rule: tuple[int, ...]  # pattern id -> index into rules
    rules: tuple[_Rule, ...]


def _context_regex(words: Sequence[str]) -> re.Pattern[str] | None:
    if not words:
        return None
    parts = []
    for word in sorted({w.lower() for w in words}, key=len, reverse=True):
        escaped = re.escape(word)
        if word.isascii() and len(word) <= 3:
            parts.append(rf"(?<![a-z]){escaped}(?![a-z])")
        else:
            parts.append(escaped)
    return re.compile("|".join(parts))


def _rule(t: PIType, order: int) -> _Rule:
    needs = t.extra.get("needs_context")
    return _Rule(
        type=t,
        order=order,
        validator=t.validator,
        needs_context=re.compile(needs) if needs else None,
        context=_context_regex(t.context),
        joiners=frozenset(t.extra.get("joiners", "").encode("ascii")),
    )


@lru_cache(maxsize=16)
def _compile(type_ids: tuple[str, ...]) -> _Compiled:
    """Compile the patterns of these types into one Hyperscan database (cached per process)."""
    import hyperscan

    rules = tuple(_rule(PI_TYPES[tid], i) for i, tid in enumerate(type_ids))
    expressions: list[bytes] = []
    pattern_rule: list[int] = []
    flags: list[int] = []
    for index, rule in enumerate(rules):
        for pattern in rule.type.patterns:
            wrapped = f"{_DELIM}(?:{pattern}){_DELIM}" if rule.type.alnum_bounded else pattern
            expressions.append(wrapped.encode("utf-8"))
            pattern_rule.append(index)
            flags.append(hyperscan.HS_FLAG_SOM_LEFTMOST | hyperscan.HS_FLAG_UTF8)
    if not expressions:
        return _Compiled(None, (), rules)
    database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    try:
        database.compile(
            expressions=expressions,
            ids=list(range(len(expressions))),
            elements=len(expressions),
            flags=flags,
        )
    except hyperscan.error as exc:  # name the offending pattern, not just "too large"
        raise ValueError(f"cannot compile detection patterns for {type_ids}: {exc}") from exc
    return _Compiled(database, tuple(pattern_rule), rules)


def _on_match(
    pattern: int, start: int, end: int, _flags: int, hits: list[tuple[int, int, int]]
) -> None:
    hits.append((pattern, start, end))


def _lead_len(byte: int) -> int:
    return 1 if byte < 0x80 else 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4


def _last_char_start(data: bytes, end: int) -> int:
    i = end - 1
    while 0x80 <= data[i] <= 0xBF:
        i -= 1
    return i


def tagger_available() -> bool:
    """Whether the name/address tagger module is installed (its model may still be missing)."""
    return importlib.util.find_spec("leakwarden.detect.ner") is not None


_tagger_lock = threading.Lock()


def _load_tagger() -> _Tagger | None:
    """The shipped name/address tagger, or ``None`` (with a warning) while it does not exist yet."""
    if not tagger_available():
        warnings.warn(
            "leakwarden.detect.ner is not installed: names and addresses are not detected",
            RuntimeWarning,
            stacklevel=3,
        )
        return None
    from leakwarden.detect.ner import NameAddressTagger
    from leakwarden.detect.ner.resources import ResourceError

    try:
        with _tagger_lock:
            return NameAddressTagger.load()
    except ResourceError as exc:
        warnings.warn(f"names and addresses are not detected: {exc}", RuntimeWarning, stacklevel=3)
        return None


@dataclass(slots=True)
class _Candidate:
    rule: _Rule
    start: int  # char offsets
    end: int
    score: float
    strong: bool


class Detector:
    """Finds personal information of the selected types (default: all) in text.

    ``types``: ids from ``PI_TYPES``; unknown ids raise ``KeyError``.  ``use_ner``: run the
    name/address tagger when ``person_name`` or ``address`` is selected.  ``min_score``: findings
    scoring below it are dropped.  Safe to share between threads.
    """

    def __init__(
        self,
        types: Iterable[str] | None = None,
        *,
        use_ner: bool = True,
        min_score: float = 0.5,
    ) -> None:
        if types is None:
            selected = tuple(PI_TYPES)
        else:
            wanted = set(types)
            unknown = sorted(wanted - set(PI_TYPES))
            if unknown:
                raise KeyError(
                    f"unknown personal-information type(s) {', '.join(unknown)}; "
                    f"known: {', '.join(PI_TYPES)}"
                )
            selected = tuple(t for t in PI_TYPES if t in wanted)  # registry order
        self.types: tuple[str, ...] = selected
        self.min_score = min_score
        self._compiled = _compile(tuple(t for t in selected if PI_TYPES[t].patterns))
        self._ner_types = frozenset(t for t in selected if not PI_TYPES[t].patterns)
        self._tagger: _Tagger | None = None
        if use_ner and self._ner_types:
            self._tagger = _load_tagger()
        self._order = {t: i for i, t in enumerate(PI_TYPES)}
        self._local = threading.local()

    @property
    def uses_tagger(self) -> bool:
        """True when names and addresses are being detected."""
        return self._tagger is not None

    def _scratch(self) -> Any:
        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            import hyperscan

            scratch = hyperscan.Scratch(self._compiled.database)
            self._local.scratch = scratch
        return scratch

    def find(self, text: str) -> list[Finding]:
        """Findings in ``text``, one per span, sorted by start; offsets index ``text`` itself."""
        if not text:
            return []
        norm = normalize(text)
        candidates = self._pattern_candidates(norm) if self._compiled.database is not None else []
        chosen = _resolve(candidates)
        if self._tagger is not None:
            chosen = self._merge_tagged(norm, chosen)
        return [
            Finding(c.rule.type.id, c.start, c.end, text[c.start : c.end], c.score) for c in chosen
        ]

    # --- pattern candidates ------------------------------------------------------------------

    def _pattern_candidates(self, norm: str) -> list[_Candidate]:
        compiled = self._compiled
        data = b"\n" + norm.encode("utf-8", "replace") + b"\n"
        hits: list[tuple[int, int, int]] = []
        compiled.database.scan(
            data, match_event_handler=_on_match, context=hits, scratch=self._scratch()
        )
        if not hits:
            return []
        pattern_rule, rules = compiled.pattern_rule, compiled.rules
        # (rule index, byte start, byte end) in ``data``, delimiters stripped, duplicates gone.
        spans: set[tuple[int, int, int]] = set()
        for pattern, frm, to in hits:
            rule = rules[pattern_rule[pattern]]
            if rule.type.alnum_bounded:
                bstart = frm + _lead_len(data[frm])
                bend = _last_char_start(data, to)
            else:
                bstart, bend = frm, to
            if bend > bstart:
                spans.add((pattern_rule[pattern], bstart, bend))
        accepted: list[tuple[_Rule, int, int]] = []
        for index, bstart, bend in sorted(spans, key=lambda s: (s[1], s[2])):
            rule = rules[index]
            if rule.type.alnum_bounded and not _bounded(data, bstart, bend, rule.joiners):
                continue
            value = data[bstart:bend].decode("utf-8")
            if rule.validator is not None and not rule.validator(value):
                continue
            accepted.append((rule, bstart, bend))
        if not accepted:
            return []
        to_char = _offset_mapper(data, len(data) - 2 == len(norm))
        out: list[_Candidate] = []
        for rule, bstart, bend in accepted:
            start, end = to_char(bstart), to_char(bend)
            value = norm[start:end]
            needs = rule.needs_context is not None and rule.needs_context.fullmatch(value)
            has_context = rule.context is not None and _context_near(norm, start, end, rule.context)
            if needs and not has_context:
                continue
            t = rule.type
            score = t.validated_score if rule.validator is not None else t.base_score
            if has_context:
                score = min(1.0, score + CONTEXT_BOOST)
            if score < self.min_score:
                continue
            out.append(
                _Candidate(rule, start, end, score, rule.validator is not None and not needs)
            )
        return out

    # --- names and addresses -----------------------------------------------------------------

    def _merge_tagged(self, norm: str, chosen: list[_Candidate]) -> list[_Candidate]:
        assert self._tagger is not None
        starts = [c.start for c in chosen]
        ends = [c.end for c in chosen]
        extra: list[_Candidate] = []
        for f in self._tagger.tag(norm):
            if f.type not in self._ner_types or f.score < self.min_score:
                continue
            piece = _free_piece(norm, f.start, f.end, starts, ends)
            if piece is None:
                continue
            rule = _tagged_rule(f.type, self._order[f.type])
            extra.append(_Candidate(rule, piece[0], piece[1], f.score, False))
        if not extra:
            return chosen
        merged = chosen + extra
        merged.sort(key=lambda c: (c.start, c.end))
        return merged


@cache
def _tagged_rule(type_id: str, order: int) -> _Rule:
    return _rule(PI_TYPES[type_id], order)


def _bounded(data: bytes, bstart: int, bend: int, joiners: frozenset[int]) -> bool:
    """No ASCII letter/digit touches the span; no ``joiner + letter/digit`` on either side."""
    before, after = data[bstart - 1], data[bend]
    if before in _ALNUM or after in _ALNUM:
        return False
    if joiners:
        if before in joiners and bstart >= 2 and data[bstart - 2] in _ALNUM:
            return False
        if after in joiners and bend + 1 < len(data) and data[bend + 1] in _ALNUM:
            return False
    return True


def _offset_mapper(data: bytes, ascii_only: bool) -> Callable[[int], int]:
    """Byte offset in ``data`` (sentinel included) -> character offset in the text.

    Offsets arrive nearly sorted (candidates by start, each followed by its end), so the mapper
    keeps the offsets it has seen and counts UTF-8 continuation bytes only over the gap from the
    nearest known offset below: linear in the text overall, with no per-character Python loop.
    """
    if ascii_only:
        return lambda offset: offset - 1
    flags = data.translate(_CONTINUATION)
    known_bytes = [1]
    known_chars = [0]

    def to_char(offset: int) -> int:
        i = bisect.bisect_right(known_bytes, offset) - 1
        base_b, base_c = known_bytes[i], known_chars[i]
        chars = base_c + (offset - base_b) - flags.count(1, base_b, offset)
        if offset != base_b:
            known_bytes.insert(i + 1, offset)
            known_chars.insert(i + 1, chars)
        return chars

    return to_char


def _context_near(norm: str, start: int, end: int, pattern: re.Pattern[str]) -> bool:
    lo = max(0, start - _BEFORE)
    newline = norm.rfind("\n", lo, start)
    if newline >= 0:
        lo = newline + 1
    hi = min(len(norm), end + _AFTER)
    newline = norm.find("\n", end, hi)
    if newline >= 0:
        hi = newline
    return bool(pattern.search(norm[lo:start].lower())) or bool(
        pattern.search(norm[end:hi].lower())
    )


def _resolve(candidates: list[_Candidate]) -> list[_Candidate]:
    """One answer per span: greedy by (validated-without-context, length, score, registry order)."""
    if len(candidates) <= 1:
        return candidates
    ranked = sorted(
        candidates,
        key=lambda c: (not c.strong, -(c.end - c.start), -c.score, c.rule.order, c.start),
    )
    starts: list[int] = []
    ends: list[int] = []
    kept: list[_Candidate] = []
    for c in ranked:
        i = bisect.bisect_right(starts, c.start)
        if i > 0 and ends[i - 1] > c.start:
            continue
        if i < len(starts) and starts[i] < c.end:
            continue
        starts.insert(i, c.start)
        ends.insert(i, c.end)
        kept.insert(i, c)
    return kept


def _free_piece(
    norm: str, start: int, end: int, starts: list[int], ends: list[int]
) -> tuple[int, int] | None:
    """The largest part of [start, end) not covered by the sorted, disjoint chosen spans,
    trimmed of blanks and punctuation; ``None`` when under two characters remain."""
    i = bisect.bisect_right(ends, start)
    pieces: list[tuple[int, int]] = []
    cursor = start
    while i < len(starts) and starts[i] < end:
        if starts[i] > cursor:
            pieces.append((cursor, starts[i]))
        cursor = max(cursor, ends[i])
        i += 1
    if cursor < end:
        pieces.append((cursor, end))
    best: tuple[int, int] | None = None
    for s, e in pieces:
        while s < e and norm[s] in _TRIM:
            s += 1
        while e > s and norm[e - 1] in _TRIM:
            e -= 1
        if e - s >= 2 and (best is None or e - s > best[1] - best[0]):
            best = (s, e)
    return best


@lru_cache(maxsize=1)
def default_detector() -> Detector:
    """All types, names and addresses included when the tagger exists; built once per process."""
    return Detector()
