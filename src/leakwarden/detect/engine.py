"""The detection engine: one Hyperscan pass over the text, then validation, context and overlaps.

How ``Detector.find`` works:

1. The text is encoded to UTF-8 and ``fold_utf8`` folds full-width digits, letters and value
   punctuation to ASCII in the bytes (``fold_for_matching``'s mapping, which keeps character
   offsets); a newline sentinel goes on each side.
2. Every selected type's patterns, and every type's context and anti-context words, are compiled
   once per process into ONE Hyperscan block-mode database (patterns SOM_LEFTMOST | UTF8, except
   the e-mail pattern, whose start ``_email_start`` finds from its "@"; words caseless literals,
   short ASCII words between ``\b``).  Hyperscan has no look-around, so each
   pattern of an ``alnum_bounded`` type is wrapped as ``[^0-9A-Za-z](?:pattern)[^0-9A-Za-z]``:
   the delimiters are consumed and stripped afterwards.  This is what lets
   "身份证11010519491231002X" match (a CJK character is a delimiter) while a mobile number inside
   a longer digit run does not, and it keeps the callback count proportional to candidates, not
   to the length of digit runs.  The boundary is re-checked in Python on each candidate,
   together with the type's ``joiners``.
3. Per type and start, the longest candidate that passes is kept.  Per candidate (never per
   character of the text): a weak shape (``needs_context``) with no context word near is
   dropped before validation; then the validator (cached); then the score: validated or base
   score, plus ``CONTEXT_BOOST`` when a context word of the type ends within 64 bytes before or
   starts within 24 bytes after, on the same line and with no other value in between (in
   "dob=1990-01-02;ts=2024-11-21" the word "dob" belongs to the first date only).  A candidate
   right after an anti-context label ("订单号", "order") and without context is dropped.
4. Overlaps are resolved to one answer per span: a validated candidate that needs no context
   beats one that does, then the longer span, then the higher score, then registry order (so an
   18-digit resident ID never also yields a mobile or a card inside it).
5. Names and addresses come from ``leakwarden.detect.ner`` (imported lazily); a tagger span that
   overlaps a pattern finding is cut back to its largest free part.

Steps 2-3 run in C (``leakwarden.detect._patterns``, over Hyperscan's C API): Python is called
only for a candidate's ``needs_context`` pattern and validator.  ``_python_candidates`` is the
same pass in Python, the reference the native one is tested against (``backend="python"``).

Byte offsets are mapped back to character offsets with one pass of ``bytes.translate`` and
``bytes.count`` over the gaps between sorted offsets (identity for ASCII-only text).
"""

from __future__ import annotations

import bisect
import importlib.util
import itertools
import re
import threading
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any, Literal, Protocol

from leakwarden.detect.model import Finding, PIType
from leakwarden.detect.normalize import fold_for_matching, fold_utf8
from leakwarden.detect.types import PI_TYPES
from leakwarden.detect.validators import today as validators_today

__all__ = [
    "CONTEXT_BOOST",
    "Detector",
    "clear_value_caches",
    "default_detector",
    "tagger_available",
]

CONTEXT_BOOST = 0.35
_BEFORE_BYTES = 64  # how far before a match a context word may end (21 CJK / 64 ASCII chars)
_AFTER_BYTES = 24  # how far after a match a context word may start
_ANTI_BYTES = 16  # how close before a match an anti-context word ("订单号") must end
_DELIM = "[^0-9A-Za-z]"
# Continuation bytes of UTF-8 (0x80-0xBF) -> 1, everything else -> 0.
_CONTINUATION = bytes(1 if 0x80 <= b <= 0xBF else 0 for b in range(256))
_ALNUM = frozenset(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_NO_JOINERS: frozenset[int] = frozenset()
_TRIM = " \t\r\n,，.。;；:：、|/\\\"'()（）[]【】<>《》-_"


class _Tagger(Protocol):
    def tag(self, text: str) -> list[Finding]: ...
    def tag_many(self, texts: Sequence[str]) -> list[list[Finding]]: ...


@dataclass(frozen=True, slots=True)
class _Rule:
    """What the engine needs of one type, precomputed."""

    type: PIType
    order: int
    validator: Callable[[str], bool] | None
    needs_context: re.Pattern[str] | None
    joiners: frozenset[int]
    score: float  # validated score when there is a validator, else base score
    strong: bool  # has a validator (a candidate is strong when it also needs no context)


@dataclass(frozen=True, slots=True)
class _Compiled:
    type_ids: tuple[str, ...]
    expressions: tuple[bytes, ...]  # patterns first, then context words; ids are positions
    flags: tuple[int, ...]
    pattern_rule: tuple[int, ...]  # pattern id -> index into rules
    # context id (pattern id - number of patterns) -> slots: rule index for a context word,
    # number of rules + rule index for an anti-context word
    context_rules: tuple[tuple[int, ...], ...]
    context_len: tuple[int, ...]  # context id -> byte length of the word
    rules: tuple[_Rule, ...]
    # pattern id -> 0 (not bounded), 1 (bounded, start from Hyperscan), 2 (bounded e-mail
    # pattern scanned without start of match: ``_email_start`` finds it)
    pattern_mode: tuple[int, ...] = ()


def _context_expression(word: str) -> str:
    """A context word as a Hyperscan expression: literal, caseless; short ASCII words (``ip``,
    ``tel``, ``dob``) only as whole words so ``zip`` and ``hotel`` do not count."""
    escaped = re.escape(word)
    if word.isascii() and len(word) <= 3:
        return rf"\b{escaped}\b"
    return escaped


# Every memoised validator made by ``_rule`` (for ``clear_value_caches``).
_VALIDATOR_CACHES: list[Any] = []


def clear_value_caches() -> None:
    """Forget the validators' memoised answers (one per value seen) in this process.  The
    detect benchmark calls it before each timed pass over the same documents, so that every
    pass pays for validation as new data would."""
    for validator in _VALIDATOR_CACHES:
        validator.cache_clear()


def _rule(t: PIType, order: int) -> _Rule:
    needs = t.extra.get("needs_context")
    validator = lru_cache(maxsize=1 << 16)(t.validator) if t.validator is not None else None
    if validator is not None:
        _VALIDATOR_CACHES.append(validator)
    return _Rule(
        type=t,
        order=order,
        validator=validator,
        needs_context=re.compile(needs) if needs else None,
        joiners=frozenset(t.extra.get("joiners", "").encode("ascii")),
        score=t.validated_score if validator is not None else t.base_score,
        strong=validator is not None,
    )


@lru_cache(maxsize=16)
def _compile(type_ids: tuple[str, ...]) -> _Compiled:
    """The expressions, flags and tables of these types' patterns and context words (cached per
    process); ``_native_pass`` or ``_python_database`` compiles them into Hyperscan's database."""
    import hyperscan

    rules = tuple(_rule(PI_TYPES[tid], i) for i, tid in enumerate(type_ids))
    expressions: list[bytes] = []
    pattern_rule: list[int] = []
    pattern_mode: list[int] = []
    flags: list[int] = []
    som_utf8 = hyperscan.HS_FLAG_SOM_LEFTMOST | hyperscan.HS_FLAG_UTF8
    for index, rule in enumerate(rules):
        for pattern in rule.type.patterns:
            bounded = rule.type.alnum_bounded
            wrapped = f"{_DELIM}(?:{pattern}){_DELIM}" if bounded else pattern
            expressions.append(wrapped.encode("utf-8"))
            pattern_rule.append(index)
            late = bounded and pattern == _EMAIL_PATTERN
            flags.append(hyperscan.HS_FLAG_UTF8 if late else som_utf8)
            pattern_mode.append(2 if late else 1 if bounded else 0)
    # Context slots: rule index for a type's context words, len(rules) + rule index for its
    # anti-context words (``extra["anti_context"]``).
    words: dict[str, list[int]] = {}
    for index, rule in enumerate(rules):
        for word in rule.type.context:
            words.setdefault(word.lower(), []).append(index)
        for word in filter(None, rule.type.extra.get("anti_context", "").split("|")):
            words.setdefault(word.lower(), []).append(len(rules) + index)
    for word in words:
        expressions.append(_context_expression(word).encode("utf-8"))
        flags.append(hyperscan.HS_FLAG_UTF8 | hyperscan.HS_FLAG_CASELESS)
    return _Compiled(
        type_ids,
        tuple(expressions),
        tuple(flags),
        tuple(pattern_rule),
        tuple(tuple(ix) for ix in words.values()),
        tuple(len(w.encode("utf-8")) for w in words),
        rules,
        tuple(pattern_mode),
    )


@lru_cache(maxsize=16)
def _python_database(type_ids: tuple[str, ...]) -> Any:
    """The Python ``hyperscan`` package's database of ``_compile(type_ids)`` (the reference
    backend; compiling takes about a second, so it is cached)."""
    import hyperscan

    compiled = _compile(type_ids)

    database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    try:
        database.compile(
            expressions=list(compiled.expressions),
            ids=list(range(len(compiled.expressions))),
            elements=len(compiled.expressions),
            flags=list(compiled.flags),
        )
    except hyperscan.error as exc:
        raise ValueError(
            f"cannot compile detection patterns for {compiled.type_ids}: {exc}"
        ) from exc
    return database


@lru_cache(maxsize=16)
def _native_pass(type_ids: tuple[str, ...]) -> Any:
    """The native pattern pass (``leakwarden.detect._patterns``) of ``_compile(type_ids)``."""
    from leakwarden.detect import validators

    compiled = _compile(type_ids)
    try:
        from leakwarden.detect import _patterns
    except ImportError as exc:  # pragma: no cover - the install builds it
        raise ImportError(
            "leakwarden.detect._patterns is not built: reinstall leakwarden (pip install -e .) "
            "with a C compiler and Hyperscan's headers (Debian: libhyperscan-dev)"
        ) from exc
    rules = [
        (
            bytes(sorted(rule.joiners)) if rule.type.alnum_bounded else b"",
            rule.needs_context,
            rule.validator,
            rule.score,
            rule.strong,
            _precheck(rule.type.validator, _patterns),
        )
        for rule in compiled.rules
    ]
    try:
        return _patterns.PatternPass(
            list(compiled.expressions),
            list(compiled.flags),
            compiled.pattern_rule,
            compiled.pattern_mode,
            compiled.context_rules,
            compiled.context_len,
            rules,
            (_BEFORE_BYTES, _AFTER_BYTES, _ANTI_BYTES),
            CONTEXT_BOOST,
            tuple(sorted(int(code) for code in validators.region_codes())),
            tuple(sorted(int(code) for code in validators.PERMIT_REGIONS)),
        )
    except ValueError as exc:
        raise ValueError(
            f"cannot compile detection patterns for {compiled.type_ids}: {exc}"
        ) from exc


def _precheck(validator: Callable[[str], bool] | None, patterns: Any) -> int:
    """The native check of a validator: a precheck (a necessary condition decided on the
    bytes) or a full check (the validator's answer for ASCII values; others go to it)."""
    from leakwarden.detect import validators

    kinds: dict[Callable[[str], bool], int] = {
        validators.bank_card_ok: patterns.PRECHECK_LUHN,
        validators.cn_uscc_ok: patterns.PRECHECK_USCC,
        validators.cn_resident_id_ok: patterns.CHECK_RESIDENT_ID_OK,
        validators.cn_mobile_ok: patterns.CHECK_CN_MOBILE_OK,
        validators.ip_address_ok: patterns.CHECK_IP_OK,
        validators.mac_address_ok: patterns.CHECK_MAC_OK,
        validators.email_ok: patterns.CHECK_EMAIL_OK,
        validators.express_waybill_ok: patterns.CHECK_WAYBILL_OK,
    }
    if validator is None:
        return 0
    return kinds.get(validator, 0)


# The e-mail pattern (``types.py``) has an unbounded local part: tracking the start of match
# over every run of letters costs a fifth of the whole scan.  It is scanned without start of
# match and ``_email_start`` recovers the leftmost start from the end, which is what
# HS_FLAG_SOM_LEFTMOST would report.  Another e-mail pattern is simply scanned with SOM.
_EMAIL_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}"
_LOCAL_PART = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._%+-"
_LOCAL_START = re.compile(rb"(?<![A-Za-z0-9])[A-Za-z0-9]")


def _email_start(data: bytes, end: int) -> int:
    """Byte offset where the e-mail ending at ``end`` (delimiter stripped) starts: the leftmost
    letter or digit after a non-alphanumeric byte in the run of local-part characters before
    its "@" (the domain has none); ``end`` itself when there is none, so the hit is dropped."""
    at = data.rfind(b"@", 0, end)
    if at < 1:
        return end
    window = data[max(0, at - 256) : at]
    run = len(window) - len(window.rstrip(_LOCAL_PART))
    if run == len(window) and at > 256:
        run = at - len(data[:at].rstrip(_LOCAL_PART))
    m = _LOCAL_START.search(data, at - run, at)
    return m.start() if m is not None else end


def _on_match(
    pattern: int, start: int, end: int, _flags: int, hits: list[tuple[int, int, int]]
) -> None:
    hits.append((pattern, start, end))


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
    scoring below it are dropped.  ``backend``: ``"native"`` (the compiled pattern pass, see
    ``leakwarden.detect._patterns``) or ``"python"`` (the reference it is tested against; same
    findings, slower).  Safe to share between threads.
    """

    def __init__(
        self,
        types: Iterable[str] | None = None,
        *,
        use_ner: bool = True,
        min_score: float = 0.5,
        backend: Literal["native", "python"] = "native",
    ) -> None:
        if backend not in ("native", "python"):
            raise ValueError(f"backend must be 'native' or 'python', got {backend!r}")
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
        self._backend = backend
        self._pass: Any = None
        if self._compiled.expressions and backend == "native":
            self._pass = _native_pass(self._compiled.type_ids)
        self._use_ner = use_ner
        self._ner_types = frozenset(t for t in selected if not PI_TYPES[t].patterns)
        self._tagger: _Tagger | None = None
        if use_ner and self._ner_types:
            self._tagger = _load_tagger()
        self._order = {t: i for i, t in enumerate(PI_TYPES)}
        self._local = threading.local()

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle as the selection, not the compiled database (for Dask workers): the receiving
        process compiles, or reuses its cached database."""
        return (
            _rebuild,
            (
                self.types,
                self._tagger is not None or not self._ner_types,
                self.min_score,
                self._backend,
            ),
        )

    @property
    def uses_tagger(self) -> bool:
        """True when names and addresses are being detected."""
        return self._tagger is not None

    def _scratch(self) -> Any:
        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            if self._pass is not None:
                scratch = self._pass.scratch()
            else:
                import hyperscan

                scratch = hyperscan.Scratch(_python_database(self._compiled.type_ids))
            self._local.scratch = scratch
        return scratch

    def find(self, text: str) -> list[Finding]:
        """Findings in ``text``, one per span, sorted by start; offsets index ``text`` itself."""
        if not text:
            return []
        return self.find_many([text])[0]

    def find_many(self, texts: Sequence[str]) -> list[list[Finding]]:
        """:meth:`find` of each text, with the name/address tagger run over all of them at once
        (its CRF decodes the segments of many texts together: fewer, larger array operations).
        The findings are the same as text by text."""
        compiled = bool(self._compiled.expressions)
        folded = [_fold(t) for t in texts]
        chosen = [
            _resolve(self._pattern_candidates(data)) if compiled and t else []
            for t, (data, _) in zip(texts, folded, strict=True)
        ]
        if self._tagger is not None:
            # fold_for_matching(t), from the folded UTF-8 already made (a lone surrogate was
            # replaced there, so such a text is folded again as a str)
            norms = [
                t if t.isascii() else data[1:-1].decode("utf-8") if exact else fold_for_matching(t)
                for t, (data, exact) in zip(texts, folded, strict=True)
            ]
            tagged = self._tagger.tag_many(norms)
            chosen = [
                self._merge_tagged(norm, c, found)
                for norm, c, found in zip(norms, chosen, tagged, strict=True)
            ]
        return [
            [Finding(c.rule.type.id, c.start, c.end, text[c.start : c.end], c.score) for c in cs]
            for text, cs in zip(texts, chosen, strict=True)
        ]

    # --- pattern candidates ------------------------------------------------------------------

    def _pattern_candidates(self, data: bytes) -> list[_Candidate]:
        """Candidates in ``data``: a text's folded UTF-8 with a newline on each side."""
        if self._backend == "native":
            today = validators_today()
            rows = self._pass.candidates(
                data,
                self._scratch(),
                self.min_score,
                today.year * 10000 + today.month * 100 + today.day,
            )
        else:
            rows = _python_candidates(self._compiled, data, self._scratch(), self.min_score)
        rules = self._compiled.rules
        return [_Candidate(rules[r], s, e, score, strong) for r, s, e, score, strong in rows]

    # --- names and addresses -----------------------------------------------------------------

    def _merge_tagged(
        self, norm: str, chosen: list[_Candidate], tagged: list[Finding]
    ) -> list[_Candidate]:
        starts = [c.start for c in chosen]
        ends = [c.end for c in chosen]
        extra: list[_Candidate] = []
        for f in tagged:
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


def _python_candidates(
    compiled: _Compiled, data: bytes, scratch: Any, min_score: float
) -> list[tuple[int, int, int, float, bool]]:
    """The pattern pass in Python: the reference for ``_patterns.PatternPass.candidates``
    (same arguments, same answer: ``(rule index, char start, char end, score, strong)``
    sorted by byte start, then rule).  ``data``: the folded UTF-8 with a newline sentinel on
    each side."""
    hits: list[tuple[int, int, int]] = []
    _python_database(compiled.type_ids).scan(
        data, match_event_handler=_on_match, context=hits, scratch=scratch
    )
    if not hits:
        return []
    pattern_rule, rules = compiled.pattern_rule, compiled.rules
    n_patterns, n_rules = len(pattern_rule), len(rules)
    pattern_mode = compiled.pattern_mode
    # key = byte start * 64 + rule index (sorts by start) -> byte ends; delimiters stripped.
    groups: dict[int, list[int]] = {}
    context_hits: dict[int, list[int]] = {}  # context id (after the patterns) -> byte ends
    for pattern, frm, to in hits:
        if pattern >= n_patterns:
            found = context_hits.get(pattern)
            if found is None:
                context_hits[pattern] = [to]
            else:
                found.append(to)
            continue
        mode = pattern_mode[pattern]
        if mode:
            to -= 1
            while 0x80 <= data[to] <= 0xBF:
                to -= 1
            if mode == 1:
                lead = data[frm]
                frm += 1 if lead < 0x80 else 2 if lead < 0xE0 else 3 if lead < 0xF0 else 4
            else:
                frm = _email_start(data, to)
        if to > frm:
            key = frm * 64 + pattern_rule[pattern]
            ends = groups.get(key)
            if ends is None:
                groups[key] = [to]
            else:
                ends.append(to)
    near = _ContextIndex(data, compiled, context_hits)
    before, after = near.before, near.after
    # Per type and start, the longest end that is bounded and valid: a shorter one would
    # lose the overlap anyway.  Validation is the costly step, so this saves most of it, and
    # a weak shape (needs_context) with no context word nearby is not validated at all.
    accepted: list[tuple[_Rule, int, int, bool]] = []
    alnum = _ALNUM
    # The delimiters Hyperscan consumed guarantee that no ASCII letter or digit touches a
    # bounded span (the byte before is the end of a non-alphanumeric character, the byte
    # after the start of one): only the joiners are left to check here.
    parts = [
        (
            rule,
            rule.joiners if rule.type.alnum_bounded else _NO_JOINERS,
            rule.needs_context,
            rule.validator,
        )
        for rule in rules
    ]
    end_of_data = len(data)
    for key in sorted(groups):
        bstart, index = divmod(key, 64)
        rule, joiners, needs_re, validator = parts[index]
        bends = groups[key]
        for bend in sorted(set(bends), reverse=True) if len(bends) > 1 else bends:
            if joiners and (
                (data[bstart - 1] in joiners and bstart >= 2 and data[bstart - 2] in alnum)
                or (data[bend] in joiners and bend + 1 < end_of_data and data[bend + 1] in alnum)
            ):
                continue
            value = data[bstart:bend].decode("utf-8")
            needs = needs_re is not None and needs_re.fullmatch(value) is not None
            if needs and not (
                before(index, bstart - _BEFORE_BYTES, bstart)
                or after(index, bend, bend + _AFTER_BYTES)
            ):
                continue
            if validator is None or validator(value):
                accepted.append((rule, bstart, bend, needs))
                break
    if not accepted:
        return []
    to_char = _char_offsets(
        data,
        itertools.chain.from_iterable((b, e) for _, b, e, _ in accepted),
        data.isascii(),
    )
    # A context word belongs to the nearest value: in "dob=1990-01-02;ts=2024-11-21" the
    # word "dob" is not context for the second date, the first value fences it off.
    value_starts = [b for _, b, _, _ in accepted]
    value_ends = sorted([e for _, _, e, _ in accepted])
    n_values, end_of_data = len(value_starts), len(data)
    bisect_left, bisect_right = bisect.bisect_left, bisect.bisect_right
    out: list[tuple[int, int, int, float, bool]] = []
    # Slots without any word in this text answer "no" without a lookup.
    # Sorted word ends and starts of the slots with a word in this text; the checks below
    # are ``_ContextIndex.before`` / ``after`` written out (a method call per candidate
    # was a tenth of the time on value-dense text).
    lists = {slot: near.lists(slot) for slot in near.live_slots()}
    find_newline = data.find
    for rule, bstart, bend, needs in accepted:
        order = rule.order
        i = bisect_right(value_ends, bstart) - 1
        lo = value_ends[i] if i >= 0 else 0
        has_context = False
        slot_words = lists.get(order)
        if slot_words is not None:
            word_ends, word_starts = slot_words
            k = bisect_right(word_ends, bstart) - 1
            has_context = (
                k >= 0
                and word_ends[k] >= max(lo, bstart - _BEFORE_BYTES)
                and find_newline(b"\n", word_ends[k], bstart) < 0
            )
            if not has_context:
                j = bisect_left(value_starts, bend)
                hi = value_starts[j] if j < n_values else end_of_data
                k = bisect_left(word_starts, bend)
                has_context = (
                    k < len(word_starts)
                    and word_starts[k] <= min(hi, bend + _AFTER_BYTES)
                    and find_newline(b"\n", bend, word_starts[k]) < 0
                )
        if needs and not has_context:
            continue
        if not has_context:
            anti = lists.get(n_rules + order)
            if anti is not None:
                word_ends = anti[0]
                k = bisect_right(word_ends, bstart) - 1
                if (
                    k >= 0
                    and word_ends[k] >= max(lo, bstart - _ANTI_BYTES)
                    and find_newline(b"\n", word_ends[k], bstart) < 0
                ):
                    continue  # "订单号 6222…", "编号 1381…": an identifier of something else
        score = rule.score
        if has_context:
            score = min(1.0, score + CONTEXT_BOOST)
        if score < min_score:
            continue
        out.append((order, to_char[bstart], to_char[bend], score, rule.strong and not needs))
    return out


def _fold(text: str) -> tuple[bytes, bool]:
    """(the folded UTF-8 of ``text`` with a newline sentinel on each side, whether it is exactly
    ``fold_for_matching(text)``'s UTF-8: not when a lone surrogate had to be replaced)."""
    try:
        raw, exact = text.encode("utf-8"), True
    except UnicodeEncodeError:
        raw, exact = text.encode("utf-8", "replace"), False
    return b"\n" + fold_utf8(raw) + b"\n", exact


@cache
def _tagged_rule(type_id: str, order: int) -> _Rule:
    return _rule(PI_TYPES[type_id], order)


def _char_offsets(data: bytes, offsets: Iterable[int], ascii_only: bool) -> dict[int, int]:
    """Byte offsets in ``data`` (leading sentinel included) -> character offsets in the text.

    One ``bytes.translate`` marks UTF-8 continuation bytes; ``bytes.count`` over the gaps between
    the sorted offsets turns bytes into characters: linear in the text, no per-character loop.
    """
    if ascii_only:
        return {offset: offset - 1 for offset in offsets}
    flags = data.translate(_CONTINUATION)
    out: dict[int, int] = {}
    prev_b, prev_c = 1, 0
    for offset in sorted(set(offsets)):
        prev_c += (offset - prev_b) - flags.count(1, prev_b, offset)
        prev_b = offset
        out[offset] = prev_c
    return out


class _ContextIndex:
    """Where the context words of each type end, from the same Hyperscan pass; answers "is a
    context word of this type within [lo, start] before a span or [end, hi] after it, on the same
    line".  Built in one pass over the words found (few per text), not over every word a slot
    could have."""

    __slots__ = ("_data", "_ends", "_starts")

    def __init__(self, data: bytes, compiled: _Compiled, hits: dict[int, list[int]]) -> None:
        self._data = data
        ends: dict[int, list[int]] = {}  # slot -> sorted byte ends of its words
        starts: dict[int, list[int]] = {}  # slot -> sorted byte starts
        n_patterns = len(compiled.pattern_rule)
        for pattern, found in hits.items():
            cid = pattern - n_patterns
            length = compiled.context_len[cid]
            for slot in compiled.context_rules[cid]:
                known = ends.get(slot)
                if known is None:
                    ends[slot] = list(found)
                    starts[slot] = [e - length for e in found]
                else:
                    known.extend(found)
                    starts[slot].extend([e - length for e in found])
        for offsets in ends.values():
            offsets.sort()
        for offsets in starts.values():
            offsets.sort()
        self._ends, self._starts = ends, starts

    def lists(self, slot: int) -> tuple[list[int], list[int]]:
        """The sorted byte ends and starts of the slot's words (empty when it has none)."""
        return self._ends.get(slot, []), self._starts.get(slot, [])

    def live_slots(self) -> frozenset[int]:
        """The slots with at least one word in the text."""
        return frozenset(self._ends)

    def before(self, slot: int, lo: int, bstart: int) -> bool:
        """A word of this slot ends within [lo, bstart] on the line of ``bstart``."""
        ends = self._ends.get(slot)
        if not ends:
            return False
        i = bisect.bisect_right(ends, bstart) - 1
        return i >= 0 and ends[i] >= lo and self._data.find(b"\n", ends[i], bstart) < 0

    def after(self, slot: int, bend: int, hi: int) -> bool:
        """A word of this slot starts within [bend, hi] on the line of ``bend``."""
        starts = self._starts.get(slot)
        if not starts:
            return False
        j = bisect.bisect_left(starts, bend)
        return j < len(starts) and starts[j] <= hi and self._data.find(b"\n", bend, starts[j]) < 0


def _resolve(candidates: list[_Candidate]) -> list[_Candidate]:
    """One answer per span: greedy by (validated-without-context, length, score, registry order)
    within each cluster of overlapping candidates; isolated candidates pass straight through."""
    if len(candidates) <= 1:
        return candidates
    candidates.sort(key=lambda c: (c.start, c.end))
    kept: list[_Candidate] = []
    cluster: list[_Candidate] = [candidates[0]]
    reach = candidates[0].end
    for c in candidates[1:]:
        if c.start < reach:
            cluster.append(c)
            reach = max(reach, c.end)
            continue
        kept.extend(cluster if len(cluster) == 1 else _greedy(cluster))
        cluster = [c]
        reach = c.end
    kept.extend(cluster if len(cluster) == 1 else _greedy(cluster))
    return kept


def _greedy(cluster: list[_Candidate]) -> list[_Candidate]:
    ranked = sorted(
        cluster,
        key=lambda c: (not c.strong, -(c.end - c.start), -c.score, c.rule.order, c.start),
    )
    kept: list[_Candidate] = []
    for c in ranked:
        if all(c.end <= k.start or k.end <= c.start for k in kept):
            kept.append(c)
    kept.sort(key=lambda c: c.start)
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


def _rebuild(
    types: tuple[str, ...],
    use_ner: bool,
    min_score: float,
    backend: Literal["native", "python"] = "native",
) -> Detector:
    return Detector(types, use_ner=use_ner, min_score=min_score, backend=backend)


@lru_cache(maxsize=1)
def default_detector() -> Detector:
    """All types, names and addresses included when the tagger exists; built once per process."""
    return Detector()
