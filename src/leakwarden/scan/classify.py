"""Per-column (and per-text) classification: counts evidence, then decides with a stated rule.

The classifier never sees a file or a table: readers hand it cell values by field name, and it
runs a detector over them.  The detector and the type registry are parameters so the decision
logic can be tested with a small fake detector.  All counters are mergeable, so partitions of a
table scanned on different workers add up to the same result as one pass.

Decision rule (:func:`decide_field`), per (field, type):

* ``sampled`` = non-empty cells seen (``""``, ``null``, ``N/A``, ``-`` ... do not count);
* a cell *matches* a type when one finding of that type covers at least 80 % of the stripped
  cell; for a type with a validator (check digit, real date) a matching cell *validates* when
  the validator accepts the finding;
* ``rate`` = validated / sampled for types with a validator, matched / sampled otherwise
  (a column of 18-digit order numbers that fail the ID check is therefore never an ID column);
* ``header_hint`` = the field name holds one of the type's header hints (手机号, phone ...):
  Latin hints as whole words (``customer_ssn``, ``PhoneNumber``), CJK hints as substrings;
* the header is also handed to the detector as context in front of every cell (``电话: ...``),
  so types that need a context word (landlines, dates of birth, bare passport numbers) are
  recognised under a header that names them -- and only when the values have their shape;
* ``coverage`` = the sum of all types' counted cells / sampled: how much of the column is
  personal information of any kind;
* the column **is** of the type when at least ``min(3, sampled)`` cells count and
  ``rate >= 0.5``, or ``rate >= 0.2`` with a header hint, or -- for a type with a validator --
  the column is mostly personal information (``coverage >= 0.5``) and the type validated in at
  least 2 cells and 1 % of them (foreign customers' SSNs in an ID column, international numbers
  in a mobile column).  A hint alone never asserts anything.
  ``confidence = 0.6 * rate + 0.3 * quality + 0.1 * hint`` where ``quality`` is the mean score
  the detector gave the counted cells (1.0 = every cell a validated, context-backed finding).
* a type without a validator (a model's guess: names, addresses) is never asserted for a
  *categorical* field: 100+ cells holding at most 20 distinct values (warehouse names,
  provinces, product lines identify nobody);
* otherwise the type is reported as *mentioned* (``kind: mentions``) when either
  - the field is *free text* (at least 30 % of its cells have 24+ characters) and the type
    occurs in 2+ cells, or in 1 cell with a validated finding; or
  - the type occurs *inside* longer cells (not covering them) in at least 2 cells and 5 % of
    the sampled cells (a ``remark`` column of "call 139..." notes); for a type without a
    validator (names, addresses: a model's guess) 3 cells and 20 %;
  ``confidence = quality * (1 - 0.5 ** cells)`` -- one validated ID (score 0.95) gives 0.48,
  four cells give 0.89.  Stray whole-cell matches in a short-valued column below the column
  thresholds (a few Luhn-valid numbers among random ids) are not asserted.

Free text (logs, documents) is decided by :func:`decide_text`: a type with a validator is
reported from one validated finding, a type without one (names, addresses) from 3 findings;
``confidence = quality * (1 - 0.5 ** n)`` for ``n`` such findings.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from leakwarden.detect.model import Finding, PIType
from leakwarden.detect.types import header_hint
from leakwarden.scan.masking import mask_example

MATCH_COVER = 0.8
COLUMN_RATE = 0.5
HINTED_RATE = 0.2
FREE_TEXT_CELL = 24
FREE_TEXT_SHARE = 0.3
MENTION_SHARE = 0.05
MINORITY_SHARE = 0.01
GUESS_SHARE = 0.2
DISTINCT_CAP = 1024
CATEGORY_MIN_CELLS = 100
CATEGORY_MAX_VALUES = 20
TEXT_UNVALIDATED_MIN = 3
MAX_EXAMPLES = 3
BATCH_CELLS = 256
_EMPTY = frozenset({"", "null", "none", "nil", "n/a", "na", "nan", "-", "--", "/", "\\n"})


class FindsPI(Protocol):
    def find(self, text: str) -> list[Finding]: ...


TypeLookup = Callable[[str], PIType | None]


def registry_lookup() -> TypeLookup:
    """The project's type registry as a lookup (``None`` for an id it does not know)."""
    from leakwarden.detect.types import PI_TYPES

    return PI_TYPES.get


@dataclass
class TypeStats:
    """Evidence for one type in one field (or one text container); adds up across partitions."""

    matched: int = 0  # cells the type covers (>= 80 %); for text: findings
    validated: int = 0  # of those, accepted by the type's validator
    score_sum: float = 0.0  # detector scores of the counted (validated-or-matched) cells
    cells_with: int = 0  # cells where the type occurs at all
    findings: int = 0  # all findings of the type
    mention_validated: int = 0  # findings anywhere in a cell that validated
    mention_score_sum: float = 0.0
    partial_cells: int = 0  # cells where the type occurs without covering the cell
    examples: list[str] = field(default_factory=list)

    def merge(self, other: TypeStats) -> None:
        self.matched += other.matched
        self.validated += other.validated
        self.score_sum += other.score_sum
        self.cells_with += other.cells_with
        self.findings += other.findings
        self.mention_validated += other.mention_validated
        self.mention_score_sum += other.mention_score_sum
        self.partial_cells += other.partial_cells
        for example in other.examples:
            if len(self.examples) < MAX_EXAMPLES and example not in self.examples:
                self.examples.append(example)

    def add_example(self, example: str) -> None:
        if len(self.examples) < MAX_EXAMPLES and example not in self.examples:
            self.examples.append(example)


@dataclass
class FieldStats:
    sampled: int = 0
    long_cells: int = 0
    types: dict[str, TypeStats] = field(default_factory=dict)
    # CRC-32s of the distinct values seen, up to DISTINCT_CAP (stable across processes, so
    # partitions merge; never a clear value).  ``many_values``: the cap was passed.
    distinct: set[int] = field(default_factory=set)
    many_values: bool = False

    def merge(self, other: FieldStats) -> None:
        self.sampled += other.sampled
        self.long_cells += other.long_cells
        for type_id, stats in other.types.items():
            self.types.setdefault(type_id, TypeStats()).merge(stats)
        self.add_distinct(other.distinct)
        self.many_values = self.many_values or other.many_values

    def add_distinct(self, hashes: Iterable[int]) -> None:
        if self.many_values:
            return
        self.distinct.update(hashes)
        if len(self.distinct) > DISTINCT_CAP:
            self.distinct.clear()
            self.many_values = True

    @property
    def categorical(self) -> bool:
        """Few distinct values among many cells: a category (warehouse, province), which a
        model may read as a place or a name but which identifies nobody."""
        return (
            not self.many_values
            and self.sampled >= CATEGORY_MIN_CELLS
            and len(self.distinct) <= CATEGORY_MAX_VALUES
        )


@dataclass
class Decision:
    """One asserted (field, type) with its evidence, before it becomes an ``InventoryEntry``."""

    field: str
    pi_type: str
    confidence: float
    evidence: dict[str, object]


def is_empty(value: str) -> bool:
    return value.strip().lower() in _EMPTY


def context_prefix(field_name: str) -> str:
    """The column header as context for the detector: ``"身份证号: "``, ``"idNo: "``.

    The last segment of a field path (``data.list[].idCard``, ``Sheet1!手机``) as its author
    wrote it -- the engine reads ``idNo: 296-06-8908`` like the key=value lines it is tuned on;
    generated names (``column 3``) give no context.
    """
    name = re.split(r"[.!]", field_name)[-1].replace("[]", "").strip()
    if not name or name == "$" or re.fullmatch(r"column \d+", name):
        return ""
    return name + ": "


def find_in_cells(detector: FindsPI, cells: list[str], prefix: str = "") -> list[list[Finding]]:
    """Findings per cell, running the detector once over the cells joined by newlines.

    One call per batch instead of one per cell: the engine's fixed cost per call dominates on
    short cells.  Each cell is preceded by ``prefix`` (the column header, so that context words
    such as 电话 or "dob" count for the values under them, as they would in a sentence);
    findings inside the prefix are dropped and a finding that would run across a separator or
    the prefix is cut back to its own cell.
    """
    pieces = [prefix + cell for cell in cells]
    text = "\n".join(pieces)
    starts: list[int] = []  # where each cell's value starts in ``text``
    pos = 0
    for piece in pieces:
        starts.append(pos + len(prefix))
        pos += len(piece) + 1
    out: list[list[Finding]] = [[] for _ in cells]
    if not any(c.strip() for c in cells):
        return out
    index = 0
    for finding in detector.find(text):
        while index + 1 < len(starts) and starts[index + 1] - len(prefix) <= finding.start:
            index += 1
        base = starts[index]
        cell_end = base + len(cells[index])
        start = max(finding.start, base)
        end = min(finding.end, cell_end)
        if end <= start:
            continue  # in the prefix or on a separator
        out[index].append(
            Finding(finding.type, start - base, end - base, text[start:end], finding.score)
        )
    return out


class Classifier:
    """Accumulates cells of one container's fields and the detector's findings on them."""

    def __init__(self, detector: FindsPI, lookup: TypeLookup) -> None:
        self.detector = detector
        self.lookup = lookup
        self.fields: dict[str, FieldStats] = {}
        self._pending: dict[str, list[str]] = {}
        self._validators: dict[str, Callable[[str], bool] | None] = {}

    def sampled(self, field_name: str) -> int:
        stats = self.fields.get(field_name)
        pending = self._pending.get(field_name, ())
        return (stats.sampled if stats else 0) + len(pending)

    def add(self, field_name: str, value: str) -> bool:
        """Queue one cell; returns False (and ignores it) when it is empty."""
        if is_empty(value):
            return False
        pending = self._pending.setdefault(field_name, [])
        pending.append(value)
        if len(pending) >= BATCH_CELLS:
            self._flush(field_name)
        return True

    def flush(self) -> None:
        for field_name in list(self._pending):
            self._flush(field_name)

    def _validator(self, type_id: str) -> Callable[[str], bool] | None:
        if type_id not in self._validators:
            pi_type = self.lookup(type_id)
            self._validators[type_id] = pi_type.validator if pi_type else None
        return self._validators[type_id]

    def _validates(self, finding: Finding) -> bool:
        validator = self._validator(finding.type)
        if validator is None:
            return False
        try:
            return bool(validator(finding.text))
        except Exception:  # a validator that chokes on a value rejects it
            return False

    def _flush(self, field_name: str) -> None:
        cells = self._pending.pop(field_name, [])
        if not cells:
            return
        stats = self.fields.setdefault(field_name, FieldStats())
        # Columns repeat values (statuses, cities, one ID per order line): detect each distinct
        # value of the batch once.  The counts below still count every cell.
        distinct = list(dict.fromkeys(cells))
        cells_found = find_in_cells(self.detector, distinct, context_prefix(field_name))
        found = dict(zip(distinct, cells_found, strict=True))
        checked: dict[tuple[str, str], bool] = {}
        stats.add_distinct(zlib.crc32(v.encode("utf-8", "surrogatepass")) for v in distinct)
        for cell in cells:
            findings = found[cell]
            stats.sampled += 1
            stripped = len(cell.strip())
            if stripped >= FREE_TEXT_CELL:
                stats.long_cells += 1
            seen: set[str] = set()
            counted: set[str] = set()
            partial: set[str] = set()
            for finding in findings:
                ts = stats.types.setdefault(finding.type, TypeStats())
                ts.findings += 1
                key = (finding.type, finding.text)
                valid = checked.get(key)
                if valid is None:
                    valid = checked[key] = self._validates(finding)
                if valid:
                    ts.mention_validated += 1
                ts.mention_score_sum += finding.score
                if finding.type not in seen:
                    seen.add(finding.type)
                    ts.cells_with += 1
                covers = (finding.end - finding.start) >= MATCH_COVER * stripped
                if covers and finding.type not in counted:
                    counted.add(finding.type)
                    ts.matched += 1
                    if valid:
                        ts.validated += 1
                    ts.score_sum += finding.score
                elif not covers and finding.type not in partial:
                    partial.add(finding.type)
                    ts.partial_cells += 1
                ts.add_example(mask_example(finding.type, finding.text))


@dataclass
class TextStats:
    """Evidence for a free-text container (a log, a document): findings per type."""

    lines: int = 0
    chars: int = 0
    types: dict[str, TypeStats] = field(default_factory=dict)

    def merge(self, other: TextStats) -> None:
        self.lines += other.lines
        self.chars += other.chars
        for type_id, stats in other.types.items():
            self.types.setdefault(type_id, TypeStats()).merge(stats)


class TextScanner:
    """Runs the detector over a stream of text chunks without losing matches at chunk joins.

    Each window is the tail of the previous one (``overlap`` characters) plus the new chunk.
    Findings that start in the last ``overlap`` characters of a window are left for the next
    window, where they are seen whole; findings starting before the end of what was already
    reported are dropped, so nothing is counted twice.  A match longer than ``overlap`` would be
    cut, so ``overlap`` is far longer than any personal-information value (4,096 characters).
    """

    def __init__(
        self,
        detector: FindsPI,
        lookup: TypeLookup,
        *,
        overlap: int = 4096,
        on_finding: Callable[[Finding, int], None] | None = None,
    ) -> None:
        self.detector = detector
        self.lookup = lookup
        self.overlap = overlap
        self.stats = TextStats()
        self._carry = ""
        self._carry_at = 0  # absolute offset of _carry[0]
        self._reported_until = 0  # absolute offset: findings starting before it were counted
        self._on_finding = on_finding
        self._validator_cache: dict[str, Callable[[str], bool] | None] = {}

    def feed(self, chunk: str) -> None:
        self.stats.chars += len(chunk)
        self.stats.lines += chunk.count("\n")
        self._scan(self._carry + chunk, final=False)

    def close(self) -> TextStats:
        if self.stats.chars and not self._carry.endswith("\n"):
            self.stats.lines += 1
        self._scan(self._carry, final=True)
        self._carry = ""
        return self.stats

    def _validates(self, finding: Finding) -> bool:
        if finding.type not in self._validator_cache:
            pi_type = self.lookup(finding.type)
            self._validator_cache[finding.type] = pi_type.validator if pi_type else None
        validator = self._validator_cache[finding.type]
        if validator is None:
            return False
        try:
            return bool(validator(finding.text))
        except Exception:
            return False

    def _scan(self, window: str, *, final: bool) -> None:
        base = self._carry_at
        cut = len(window) if final else max(0, len(window) - self.overlap)
        if window.strip():
            for finding in self.detector.find(window):
                start = base + finding.start
                if finding.start >= cut or start < self._reported_until:
                    continue
                self._count(finding, start)
                self._reported_until = max(self._reported_until, base + finding.end)
        self._carry = window[cut:]
        self._carry_at = base + cut

    def _count(self, finding: Finding, start: int) -> None:
        ts = self.stats.types.setdefault(finding.type, TypeStats())
        ts.findings += 1
        ts.matched += 1
        ts.cells_with += 1
        ts.score_sum += finding.score
        ts.mention_score_sum += finding.score
        if self._validates(finding):
            ts.validated += 1
            ts.mention_validated += 1
        ts.add_example(mask_example(finding.type, finding.text))
        if self._on_finding is not None:
            self._on_finding(finding, start)


def _evidence(sampled: int, ts: TypeStats, hint: str | None, **extra: object) -> dict[str, object]:
    evidence: dict[str, object] = {
        "sampled": sampled,
        "matched": ts.matched,
        "validated": ts.validated,
        "header_hint": hint,
        "examples": list(ts.examples),
    }
    evidence.update(extra)
    return evidence


def decide_field(field_name: str, stats: FieldStats, lookup: TypeLookup) -> list[Decision]:
    """Apply the module's decision rule to one field's evidence."""
    decisions: list[Decision] = []
    sampled = stats.sampled
    free_text = sampled > 0 and stats.long_cells >= FREE_TEXT_SHARE * sampled
    validating: dict[str, bool] = {}
    counts: dict[str, int] = {}
    for type_id, ts in stats.types.items():
        pi_type = lookup(type_id)
        validating[type_id] = pi_type is not None and pi_type.validator is not None
        counts[type_id] = ts.validated if validating[type_id] else ts.matched
    coverage = sum(counts.values()) / sampled if sampled else 0.0
    distinct = None if stats.many_values else len(stats.distinct)  # None: more than the cap
    for type_id, ts in sorted(stats.types.items()):
        pi_type = lookup(type_id)
        has_validator = validating[type_id]
        if not has_validator and stats.categorical:
            continue
        hint = header_hint(field_name, pi_type) if pi_type is not None else None
        counted = counts[type_id]
        rate = counted / sampled if sampled else 0.0
        quality = ts.score_sum / ts.matched if ts.matched else 0.0
        enough = counted >= min(3, sampled) and counted > 0
        minority = (
            has_validator
            and coverage >= COLUMN_RATE
            and counted >= max(2, MINORITY_SHARE * sampled)
        )
        if (enough and (rate >= COLUMN_RATE or (hint is not None and rate >= HINTED_RATE))) or (
            minority
        ):
            confidence = 0.6 * rate + 0.3 * min(1.0, quality) + 0.1 * (hint is not None)
            decisions.append(
                Decision(
                    field_name,
                    type_id,
                    round(min(1.0, confidence), 3),
                    _evidence(
                        sampled, ts, hint, kind="column", rate=round(rate, 4), distinct=distinct
                    ),
                )
            )
            continue
        in_text = free_text and (
            ts.cells_with >= 2 or (ts.cells_with >= 1 and ts.mention_validated >= 1)
        )
        least, share = (2, MENTION_SHARE) if has_validator else (3, GUESS_SHARE)
        inside = ts.partial_cells >= least and ts.partial_cells >= share * sampled
        if in_text or inside:
            mention_quality = ts.mention_score_sum / ts.findings if ts.findings else 0.0
            confidence = min(1.0, mention_quality) * (1 - 0.5**ts.cells_with)
            decisions.append(
                Decision(
                    field_name,
                    type_id,
                    round(confidence, 3),
                    _evidence(
                        sampled,
                        ts,
                        hint,
                        kind="mentions",
                        cells_with=ts.cells_with,
                        findings=ts.findings,
                    ),
                )
            )
    return decisions


def decide_fields(fields: Mapping[str, FieldStats], lookup: TypeLookup) -> list[Decision]:
    out: list[Decision] = []
    for name in fields:
        out.extend(decide_field(name, fields[name], lookup))
    return out


def decide_text(stats: TextStats, lookup: TypeLookup) -> list[Decision]:
    """Free text: the rule in the module docstring."""
    out: list[Decision] = []
    for type_id, ts in sorted(stats.types.items()):
        pi_type = lookup(type_id)
        has_validator = pi_type is not None and pi_type.validator is not None
        n = ts.validated if has_validator else ts.findings
        if n < (1 if has_validator else TEXT_UNVALIDATED_MIN):
            continue
        quality = ts.score_sum / ts.findings if ts.findings else 0.0
        confidence = min(1.0, quality) * (1 - 0.5**n)
        out.append(
            Decision(
                "",
                type_id,
                round(confidence, 3),
                _evidence(stats.lines, ts, None, kind="text", findings=ts.findings, unit="lines"),
            )
        )
    return out


def merge_fields(into: dict[str, FieldStats], other: Iterable[tuple[str, FieldStats]]) -> None:
    for name, stats in other:
        into.setdefault(name, FieldStats()).merge(stats)
