"""``leakwarden audit verify``: the whole log checked against itself and against the signed
checkpoints published outside the database; the first bad entry named with its index.

One pass over the rows in index order, in large chunks (the fast path is bulk work: the index
column compared with a range, the event bytes hashed and compared with the stored leaf hashes as
lists, the ``event.sequence`` numbers pulled out of a chunk by one regular-expression scan, the
tree built level by level over whole chunks).  Row-by-row reading happens only where the fast
path found something, to say what.

What each check catches:

- **changed field**: the event's bytes no longer hash to the stored leaf hash (and where the
  row's query copies disagree with the event, which field);
- **deleted row**: a gap in the indexes, or, when later rows were renumbered to close it, an
  event whose ``event.sequence`` is larger than its position; a log shorter than a checkpoint;
- **reordered rows**: an event whose ``event.sequence`` is not its position;
- **rewritten entries with recomputed hashes**: the recomputed root at a published checkpoint's
  size differs from the signed root; the first bad entry lies between the largest checkpoint
  that still matches and the smallest that does not (the checkpoints are the only record the
  attacker could not rewrite, so that range is as precise as they allow);
- **cached tree nodes** that disagree with the leaves under them;
- **forks**: two validly signed checkpoints of one size with different roots;
- **bad checkpoints**: unreadable files, or signatures that do not verify with the given keys.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from hashlib import sha256
from pathlib import Path
from typing import Any

from leakwarden.audit.checkpoints import Published, read_published
from leakwarden.audit.ledger import NODE_LEVELS, Ledger
from leakwarden.audit.merkle import EMPTY_ROOT, fold_pieces, level_up, perfect_pieces, root_of
from leakwarden.audit.standalone import VerifierKey

_ORDER_KINDS = ("deleted", "reordered", "duplicate")
CHUNK = 1 << 16  # rows per read; a multiple of 256 so chunks stay aligned to level-8 nodes
PARALLEL_FROM = 4 * CHUNK  # smaller logs are checked in this process


@dataclass(frozen=True)
class Problem:
    """One thing wrong: ``index`` is the first log entry concerned (None: not one entry)."""

    kind: str
    message: str
    index: int | None = None
    last: int | None = None  # for a range: the last entry that may be concerned
    exact: bool = True  # False: the bad entry is somewhere in index..last, not at index


@dataclass
class Report:
    size: int = 0
    rows: int = 0
    checkpoints: int = 0
    checkpoints_matching: int = 0
    problems: list[Problem] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_bad(self) -> Problem | None:
        exact = [p for p in self.problems if p.index is not None and p.exact]
        ranges = [p for p in self.problems if p.index is not None and not p.exact]
        best = min(exact, key=lambda p: p.index or 0, default=None)
        widest = min(ranges, key=lambda p: p.index or 0, default=None)
        if best is not None and (
            widest is None or (best.index or 0) <= (widest.last or widest.index or 0)
        ):
            return best
        if widest is not None:
            return widest
        return self.problems[0] if self.problems else None

    def to_json(self) -> dict[str, Any]:
        first = self.first_bad
        return {
            "ok": self.ok,
            "size": self.size,
            "rows": self.rows,
            "checkpoints": self.checkpoints,
            "checkpoints_matching": self.checkpoints_matching,
            "seconds": round(self.seconds, 3),
            "first_bad": None if first is None else _problem_json(first),
            "problems": [_problem_json(p) for p in self.problems],
        }


def _problem_json(p: Problem) -> dict[str, Any]:
    return {
        "kind": p.kind,
        "index": p.index,
        "last": p.last,
        "exact": p.exact,
        "message": p.message,
    }


class _Tree:
    """Node hashes of levels 8, 16 and 24 (complete subtrees of 256, 65536 and 16.7 million
    leaves) made from the level-8 hashes the scan computed; roots at any size from them plus
    at most 255 stored leaf hashes read for the last, incomplete block."""

    def __init__(self, level8: list[bytes], read_leaves: Callable[[int, int], list[bytes]]):
        self.levels: dict[int, list[bytes]] = {8: level8, 16: [], 24: []}
        for level in (16, 24):
            below = self.levels[level - 8]
            self.levels[level] = [
                root_of(below[j * 256 : (j + 1) * 256]) for j in range(len(below) // 256)
            ]
        self.read_leaves = read_leaves

    def perfect(self, start: int, size: int) -> bytes:
        height = size.bit_length() - 1
        level = max((lv for lv in NODE_LEVELS if lv <= height), default=0)
        if level == 0:
            return root_of(self.read_leaves(start, start + size))
        return root_of(self.levels[level][start >> level : (start + size) >> level])

    def root(self, size: int) -> bytes:
        if size == 0:
            return EMPTY_ROOT
        return fold_pieces([self.perfect(s, n) for s, n in perfect_pieces(0, size)])


@dataclass
class _Scan:
    """What one scan of a range of rows found."""

    start: int
    rows: int = 0
    level8: list[bytes] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def _scan(
    ledger: Ledger, start: int, end: int | None, progress: Callable[[int], None] | None = None
) -> _Scan:
    """Rows ``start`` .. ``end`` (exclusive; None: to the end), in chunks: indexes, leaf hashes,
    sequence numbers, and the level-8 node hashes over them (``start`` is a multiple of 256)."""
    out = _Scan(start)
    expected = start
    window: list[bytes] = []
    sha = sha256
    for rows in ledger.iter_rows(start, end, chunk=CHUNK, as_bytes=True):
        n = len(rows)
        idxs = [r[0] for r in rows]
        texts = [r[1] for r in rows]
        stored = [bytes(r[2]) for r in rows]
        kinds = {p.kind for p in out.problems}
        if idxs != list(range(expected, expected + n)) and not kinds & set(_ORDER_KINDS):
            _report_gap(idxs, expected, out.problems)
        computed = [sha(t).digest() for t in texts]  # texts start with the 0x00 leaf prefix
        if computed != stored and "changed" not in kinds:
            _report_changed(ledger, rows, computed, stored, out.problems)
        if not all([r[3] for r in rows]) and not kinds & set(_ORDER_KINDS):
            _report_sequence(rows, out.problems)
        window += stored
        full = len(window) - len(window) % 256
        level = window[:full]
        for _ in range(8):
            level = level_up(level)
        out.level8 += level
        del window[:full]
        expected += n
        out.rows = expected - start
        if progress is not None:
            progress(expected)
    return out


def _scan_worker(url: str, start: int, end: int | None) -> _Scan:
    ledger = Ledger.open(url, migrate=False)
    try:
        return _scan(ledger, start, end)
    finally:
        ledger.close()


def _scan_all(ledger: Ledger, workers: int, progress: Callable[[int], None] | None) -> _Scan:
    """The whole log: in this process for small logs, else in ``workers`` processes over
    contiguous ranges (hashing is the work; each process has its own connection)."""
    with ledger.engine.connect() as conn:
        top = conn.exec_driver_sql("SELECT max(idx) FROM audit_log").scalar()
    total = 0 if top is None else int(top) + 1
    if workers <= 1 or total < PARALLEL_FROM:
        return _scan(ledger, 0, None, progress)
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    per = -(-total // workers)
    per = -(-per // CHUNK) * CHUNK  # ranges aligned to chunks (so to 256-leaf blocks)
    bounds = [i * per for i in range(workers) if i * per < total]
    ends: list[int | None] = [*bounds[1:], None]
    url = ledger.engine.url.render_as_string(hide_password=False)
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(len(bounds), mp_context=ctx) as pool:
        futures = [pool.submit(_scan_worker, url, a, b) for a, b in zip(bounds, ends, strict=True)]
        parts = []
        done = 0
        for f in futures:
            parts.append(f.result())
            done += parts[-1].rows
            if progress is not None:
                progress(done)
    merged = _Scan(0)
    for part in parts:
        merged.rows += part.rows
        merged.level8 += part.level8
        merged.problems += part.problems
    return merged


def verify_ledger(
    ledger: Ledger,
    checkpoint_dirs: Sequence[str | Path] = (),
    keys: Sequence[VerifierKey] = (),
    *,
    progress: Callable[[int], None] | None = None,
    workers: int | None = None,
) -> Report:
    """Check every row, the cached nodes and every published checkpoint (see the module doc).
    ``keys``: the ledger's verifier key first; every key given must have signed a checkpoint for
    it to count.  ``progress`` is called with the number of rows read so far.  ``workers``:
    processes for large logs (default: one per CPU)."""
    import os
    import time

    began = time.perf_counter()
    report = Report(size=ledger.size())
    published, unreadable = _read_checkpoints(checkpoint_dirs, keys, report)
    for text in unreadable:
        report.problems.append(Problem("checkpoint", text))
    by_size = _check_forks(published, report)
    scan = _scan_all(ledger, workers or os.cpu_count() or 1, progress)
    report.problems += scan.problems
    report.rows = scan.rows

    def read_leaves(lo: int, hi: int) -> list[bytes]:
        return [bytes(r[1]) for chunk in ledger.iter_rows(lo, hi, events=False) for r in chunk]

    tree = _Tree(scan.level8, read_leaves)
    good_sizes: list[int] = []
    for size in sorted(by_size):
        if size <= report.rows:
            _check_checkpoint_root(size, tree.root(size), by_size[size], good_sizes, report)
    if report.rows != report.size:
        report.problems.append(
            Problem(
                "head",
                f"the head row says {report.size} events, the log has {report.rows} rows",
                min(report.size, report.rows),
            )
        )
    for size in sorted(by_size):  # checkpoints beyond the end of the log
        if size <= report.rows:
            continue
        report.problems.append(
            Problem(
                "truncated",
                f"a signed checkpoint commits to {size} events but the log has only "
                f"{report.rows}: entries {report.rows}..{size - 1} were deleted "
                f"({by_size[size][0].path})",
                report.rows,
                size - 1,
            )
        )
    _check_nodes(ledger, tree, report)
    report.seconds = time.perf_counter() - began
    return report


def _read_checkpoints(
    dirs: Sequence[str | Path], keys: Sequence[VerifierKey], report: Report
) -> tuple[list[Published], list[str]]:
    found: list[Published] = []
    problems: list[str] = []
    seen: set[str] = set()
    for d in dirs:
        got, bad = read_published(d)
        problems += bad
        for p in got:
            text = p.note.encode()
            if text in seen:
                continue  # the "checkpoint" file repeats a numbered one
            seen.add(text)
            missing = [k for k in keys if not p.note.verified_by(k)]
            if missing:
                names = ", ".join(f"{k.name} ({k.id.hex()})" for k in missing)
                problems.append(f"{p.path}: not validly signed by {names}; ignored")
                continue
            found.append(p)
    report.checkpoints = len(found)
    return found, problems


def _check_forks(published: list[Published], report: Report) -> dict[int, list[Published]]:
    by_size: dict[int, list[Published]] = {}
    for p in published:
        by_size.setdefault(p.checkpoint.size, []).append(p)
    for size, group in sorted(by_size.items()):
        roots = {p.checkpoint.root for p in group}
        if len(roots) > 1:
            files = ", ".join(f"{p.path} ({p.checkpoint.root.hex()[:16]})" for p in group)
            report.problems.append(
                Problem(
                    "fork",
                    f"two validly signed checkpoints of size {size} with different roots "
                    f"(a forked history shown to different parties): {files}",
                    None,
                )
            )
    return by_size


def _check_checkpoint_root(
    size: int, root: bytes, group: list[Published], good: list[int], report: Report
) -> None:
    matching = [p for p in group if p.checkpoint.root == root]
    if matching:
        report.checkpoints_matching += len(matching)
        good.append(size)
    for p in group:
        if p.checkpoint.root == root:
            continue
        last_good = max(good, default=0)
        report.problems.append(
            Problem(
                "rewritten",
                f"the log's first {size} entries do not match the signed checkpoint {p.path} "
                f"(root {root.hex()[:16]}..., signed {p.checkpoint.root.hex()[:16]}...): "
                f"entries in {last_good}..{size - 1} were rewritten (hashes recomputed) or the "
                f"log is not consistent with this checkpoint; {last_good} entries still match "
                "an earlier checkpoint",
                last_good,
                size - 1,
                exact=False,
            )
        )


def _report_gap(idxs: list[int], expected: int, problems: list[Problem]) -> bool:
    for pos, idx in enumerate(idxs):
        want = expected + pos
        if idx != want:
            if idx > want:
                problems.append(
                    Problem(
                        "deleted",
                        f"entries {want}..{idx - 1} are missing (rows deleted)",
                        want,
                        idx - 1,
                    )
                )
            else:
                problems.append(
                    Problem("duplicate", f"index {idx} appears again after {want - 1}", idx)
                )
            return True
    return False


_COPIES = (
    ("actor", ("user", "id")),
    ("action", ("event", "action")),
    ("dataset", ("leakwarden", "dataset")),
)


def _report_changed(
    ledger: Ledger,
    rows: list[Any],
    computed: list[bytes],
    stored: list[bytes],
    problems: list[Problem],
) -> None:
    for row, c, s in zip(rows, computed, stored, strict=True):
        if c == s:
            continue
        idx, text = row[0], _text(row[1])
        detail = "its bytes no longer hash to the stored leaf hash (a field was changed)"
        try:
            doc = json.loads(text)
        except ValueError:
            detail = "its text is no longer valid JSON (the stored event was edited)"
            doc = None
        if doc is not None:
            changed = _disagreeing_copies(ledger, idx, doc)
            if changed:
                detail += "; " + changed
        problems.append(Problem("changed", f"event {idx}: {detail}", idx))
        return  # the first one is what matters


def _disagreeing_copies(ledger: Ledger, idx: int, doc: dict[str, Any]) -> str:
    """Which of the row's query copies (actor, action, dataset) disagree with its event: the
    copies were written from the original event, so a disagreement names the changed field."""
    with ledger.engine.connect() as conn:
        found = conn.exec_driver_sql(
            f"SELECT actor, action, dataset FROM audit_log WHERE idx = {int(idx)}"
        ).first()
    if found is None:
        return ""
    ledger_row = dict(zip(("actor", "action", "dataset"), found, strict=True))
    notes = []
    for column, path in _COPIES:
        value: Any = doc
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if ledger_row.get(column) != value:
            notes.append(
                f"field {'.'.join(path)} reads {value!r} but the row's {column} copy reads "
                f"{ledger_row.get(column)!r}"
            )
    return "; ".join(notes)


def _report_sequence(rows: list[Any], problems: list[Problem]) -> None:
    from leakwarden.audit.events import sequence_of

    for pos, row in enumerate(rows):
        idx, text = row[0], _text(row[1])
        seq = sequence_of(text)
        if seq == idx:
            continue
        if seq is None:
            msg = f"event {idx} has no event.sequence (not written by the ledger)"
        elif seq > idx:
            nxt = [sequence_of(_text(r[1])) for r in rows[pos : pos + 3]]
            gap = seq - idx
            shifted = all(
                s is not None and s - r[0] == gap
                for s, r in zip(nxt, rows[pos : pos + 3], strict=True)
            )
            msg = (
                f"the row at index {idx} holds event {seq}: entries {idx}..{seq - 1} were "
                "deleted and later rows renumbered"
                if shifted
                else f"the row at index {idx} holds event {seq}: rows were reordered"
            )
        else:
            msg = f"the row at index {idx} holds event {seq}: rows were reordered or copied"
        kind = "deleted" if seq is not None and seq > idx and "deleted" in msg else "reordered"
        problems.append(Problem(kind, msg, idx))
        return


def _text(value: str | bytes) -> str:
    """A row's event as text (the bulk read hands it over as 0x00 || UTF-8 bytes)."""
    if isinstance(value, bytes):
        return value[1:].decode("utf-8", "replace")
    return value


def _check_nodes(ledger: Ledger, tree: _Tree, report: Report) -> None:
    raw = ledger.engine.raw_connection()
    try:
        cur = raw.cursor()
        for level in NODE_LEVELS:
            cur.execute(f"SELECT idx, hash FROM audit_nodes WHERE level = {level} ORDER BY idx")
            stored = [(int(i), bytes(h)) for i, h in cur.fetchall()]
            mine = tree.levels[level]
            for pos, (j, h) in enumerate(stored):
                if j != pos or pos >= len(mine) or mine[pos] != h:
                    lo = pos << level
                    report.problems.append(
                        Problem(
                            "node",
                            f"the cached tree node over entries {lo}..{lo + (1 << level) - 1} "
                            f"(level {level}) does not match those entries: entries in that "
                            "range were rewritten with recomputed leaf hashes, or the node row "
                            "was changed",
                            lo,
                            lo + (1 << level) - 1,
                            exact=False,
                        )
                    )
                    break
            else:
                if len(stored) < len(mine):
                    lo = len(stored) << level
                    report.problems.append(
                        Problem(
                            "node",
                            f"the cached tree node over entries {lo}.. (level {level}) is missing",
                            lo,
                        )
                    )
        raw.rollback()
    finally:
        raw.close()
