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
import re
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
_SEQ = re.compile(r'"sequence":(\d+),')


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
    """Level-8/16/24 node hashes built while the rows stream by, plus the leaves of the current
    chunk, enough to compute the root at any size inside the chunk."""

    def __init__(self) -> None:
        self.levels: dict[int, list[bytes]] = {lv: [] for lv in NODE_LEVELS}
        self.window: list[bytes] = []  # leaves from window_start on
        self.window_start = 0

    def add(self, leaves: list[bytes]) -> None:
        # keep the not-yet-complete block of the previous chunk in front
        keep = len(self.window) % 256
        self.window_start += len(self.window) - keep
        self.window = self.window[len(self.window) - keep :] + leaves
        full = len(self.window) - len(self.window) % 256
        level = self.window[:full]
        # the carried part was not made into a node yet (it was < 256), so start at its block
        for _ in range(8):
            level = level_up(level)
        self.levels[8].extend(level)
        self._carry_up(16)
        self._carry_up(24)
        self._made_upto = self.window_start + full

    def _carry_up(self, level: int) -> None:
        below = self.levels[level - 8]
        have = self.levels[level]
        while (len(have) + 1) * 256 <= len(below):
            j = len(have)
            have.append(root_of(below[j * 256 : (j + 1) * 256]))

    def perfect(self, start: int, size: int) -> bytes:
        height = size.bit_length() - 1
        level = max((lv for lv in NODE_LEVELS if lv <= height), default=0)
        if level == 0:
            off = start - self.window_start
            return root_of(self.window[off : off + size])
        return root_of(self.levels[level][start >> level : (start + size) >> level])

    def root(self, size: int) -> bytes:
        if size == 0:
            return EMPTY_ROOT
        return fold_pieces([self.perfect(s, n) for s, n in perfect_pieces(0, size)])


def verify_ledger(
    ledger: Ledger,
    checkpoint_dirs: Sequence[str | Path] = (),
    keys: Sequence[VerifierKey] = (),
    *,
    progress: Callable[[int], None] | None = None,
) -> Report:
    """Check every row, the cached nodes and every published checkpoint (see the module doc).
    ``keys``: the ledger's verifier key first; every key given must have signed a checkpoint for
    it to count.  ``progress`` is called with the number of rows read so far."""
    import time

    began = time.perf_counter()
    report = Report(size=ledger.size())
    published, unreadable = _read_checkpoints(checkpoint_dirs, keys, report)
    for text in unreadable:
        report.problems.append(Problem("checkpoint", text))
    by_size = _check_forks(published, report)
    pending_sizes = sorted(by_size)
    tree = _Tree()
    expected = 0
    good_sizes: list[int] = []
    deletion_reported = False
    for rows in ledger.iter_rows(chunk=CHUNK):
        n = len(rows)
        idxs = [r[0] for r in rows]
        texts = [r[1] for r in rows]
        stored = [bytes(r[2]) for r in rows]
        if idxs != list(range(expected, expected + n)) and not deletion_reported:
            deletion_reported = _report_gap(idxs, expected, report)
        sha = sha256
        computed = [sha(b"\x00" + t.encode()).digest() for t in texts]
        if computed != stored and not any(p.kind == "changed" for p in report.problems):
            _report_changed(ledger, rows, computed, stored, report)
        seqs = _SEQ.findall("\n".join(texts))
        wanted = [str(i) for i in idxs]
        if seqs != wanted and not any(p.kind in _ORDER_KINDS for p in report.problems):
            _report_sequence(rows, report)
        tree.add(stored)
        expected += n
        report.rows = expected
        while pending_sizes and pending_sizes[0] <= expected:
            size = pending_sizes.pop(0)
            root = tree.root(size)
            _check_checkpoint_root(size, root, by_size[size], good_sizes, report)
        if progress is not None:
            progress(expected)
    if report.rows != report.size:
        report.problems.append(
            Problem(
                "head",
                f"the head row says {report.size} events, the log has {report.rows} rows",
                min(report.size, report.rows),
            )
        )
    for size in pending_sizes:  # checkpoints beyond the end of the log
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


def _report_gap(idxs: list[int], expected: int, report: Report) -> bool:
    for pos, idx in enumerate(idxs):
        want = expected + pos
        if idx != want:
            if idx > want:
                report.problems.append(
                    Problem(
                        "deleted",
                        f"entries {want}..{idx - 1} are missing (rows deleted)",
                        want,
                        idx - 1,
                    )
                )
            else:
                report.problems.append(
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
    ledger: Ledger, rows: list[Any], computed: list[bytes], stored: list[bytes], report: Report
) -> None:
    for row, c, s in zip(rows, computed, stored, strict=True):
        if c == s:
            continue
        idx, text = row[0], row[1]
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
        report.problems.append(Problem("changed", f"event {idx}: {detail}", idx))
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


def _report_sequence(rows: list[Any], report: Report) -> None:
    from leakwarden.audit.events import sequence_of

    for pos, row in enumerate(rows):
        idx, text = row[0], row[1]
        seq = sequence_of(text)
        if seq == idx:
            continue
        if seq is None:
            msg = f"event {idx} has no event.sequence (not written by the ledger)"
        elif seq > idx:
            nxt = [sequence_of(r[1]) for r in rows[pos : pos + 3]]
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
        report.problems.append(Problem(kind, msg, idx))
        return


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
