"""Units of scan work and what they return: one file, or one table (or a key range of one).

A task is a small picklable description; running it yields a :class:`TaskOutcome` of raw,
mergeable evidence.  Decisions are made only after all outcomes of a container have been merged,
so a table split into key ranges across a Dask cluster is decided exactly like one pass.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from leakwarden.detect.model import PIType
from leakwarden.scan.classify import Classifier, FieldStats, FindsPI, TextStats, TypeLookup
from leakwarden.store.records import ScanProblem, SourceKind

Progress = Callable[[str, int, str], None]
"""``progress(label, amount, unit)``: ``amount`` more ``"bytes"`` (files) or ``"rows"`` (tables)
read since the last call."""


@dataclass(frozen=True)
class ScanOptions:
    """Knobs of one scan.

    ``sample``: non-empty cells per column to classify on (rows for a table); ``full``: read
    every row instead; ``row_cap``: a sampled file stops after ``row_cap * sample`` rows even if
    a sparse column has not reached ``sample`` cells; ``block_bytes``: read size;
    ``max_line``: longest line (and CSV field) read, longer ones are reported and skipped;
    ``max_json_value``: largest single JSON value assembled in memory; ``partition_rows``:
    tables with more rows are split into key ranges of about this size on a cluster;
    ``split_bytes``: plain-text files (logs) bigger than this are split into byte ranges of
    this size on a cluster (cut at line ends).
    """

    sample: int = 1000
    full: bool = False
    row_cap: int = 10
    block_bytes: int = 1 << 20
    max_line: int = 1 << 20
    max_json_value: int = 64 << 20
    problem_limit: int = 50
    partition_rows: int = 1_000_000
    split_bytes: int = 64 << 20
    seed: int = 0


@dataclass(frozen=True)
class FileTask:
    source: str
    path: str  # absolute path on the worker
    container: str  # path relative to the source (what the inventory shows)
    # A byte range of a big plain-text file (lines starting in [start, end)); None: whole file.
    start: int = 0
    end: int | None = None


@dataclass(frozen=True)
class TableTask:
    source: str  # URL without password (what the inventory shows)
    url: str  # URL as given (with password) used to connect
    schema: str | None
    table: str
    key: str | None = None  # integer key column for a range partition
    low: int | None = None  # inclusive
    high: int | None = None  # exclusive
    rows_total: int | None = None
    sample: int | None = None  # rows to sample in this task (defaults to options.sample)
    part: int = 0  # index of the key range; table-wide problems are reported by part 0 only

    @property
    def container(self) -> str:
        return f"{self.schema}.{self.table}" if self.schema else self.table


Task = FileTask | TableTask


@dataclass
class ContainerStats:
    """Raw evidence for one container: per-field stats (structured) or text stats (free text)."""

    container: str
    source_kind: SourceKind
    fields: dict[str, FieldStats] = field(default_factory=dict)
    text: TextStats | None = None
    rows_scanned: int = 0
    rows_total: int | None = None
    order: list[str] = field(default_factory=list)  # field order as first seen

    def merge(self, other: ContainerStats) -> None:
        for name in other.order:
            if name not in self.fields:
                self.order.append(name)
        for name, stats in other.fields.items():
            self.fields.setdefault(name, FieldStats()).merge(stats)
        if other.text is not None:
            if self.text is None:
                self.text = TextStats()
            self.text.merge(other.text)
        self.rows_scanned += other.rows_scanned
        if other.rows_total is not None:
            if self.source_kind is SourceKind.FILE and self.rows_total is not None:
                # byte ranges of one file hold different rows: their counts add up
                self.rows_total += other.rows_total
            else:
                # key ranges of a table each know the whole table's count
                self.rows_total = other.rows_total


@dataclass
class TaskOutcome:
    source: str
    containers: list[ContainerStats] = field(default_factory=list)
    problems: list[ScanProblem] = field(default_factory=list)
    bytes_scanned: int = 0
    rows_scanned: int = 0
    unreadable: bool = False  # the whole source could not be read (exit code 2)


class RowSampler:
    """Feeds rows of ``(field, value)`` pairs to a classifier until the sample is complete.

    Sampled mode stops when ``sample`` rows were read and every field seen has ``sample``
    non-empty cells, or after ``row_cap * sample`` rows; full mode reads everything.
    """

    def __init__(
        self, classifier: Classifier, sample: int, *, full: bool, row_cap: int = 10
    ) -> None:
        self.classifier = classifier
        self.sample = max(1, sample)
        self.full = full
        self.row_cap = row_cap
        self.rows = 0
        self.order: list[str] = []
        self._seen: set[str] = set()

    def add_row(self, items: Iterable[tuple[str, str]]) -> bool:
        """Add one row; returns False when no more rows are wanted."""
        self.rows += 1
        for name, value in items:
            if name not in self._seen:
                self._seen.add(name)
                self.order.append(name)
            if self.full or self.classifier.sampled(name) < self.sample:
                self.classifier.add(name, value)
        if self.full or self.rows < self.sample or self.rows % 32:
            return True
        if self.rows >= self.row_cap * self.sample:
            return False
        return any(self.classifier.sampled(n) < self.sample for n in self.order)

    def finish(self, container: str, kind: SourceKind, rows_total: int | None) -> ContainerStats:
        self.classifier.flush()
        fields = {name: self.classifier.fields.get(name, FieldStats()) for name in self.order}
        return ContainerStats(
            container, kind, fields, None, self.rows, rows_total, list(self.order)
        )


def resolve(
    detector: FindsPI | None, types: Mapping[str, PIType] | None
) -> tuple[FindsPI, TypeLookup]:
    """The detector and type lookup to use: the given ones, else the project's defaults."""
    if detector is None:
        from leakwarden.detect.engine import default_detector

        detector = default_detector()
    if types is None:
        from leakwarden.detect.types import PI_TYPES

        types = PI_TYPES
    return detector, types.get
