"""Precision, recall and F1 per type, from ground-truth spans and a detector's predictions.

Two ways to count a hit: ``exact`` (same type, same start and end) and ``overlap`` (same type,
spans share at least one character; each gold span and each prediction is used at most once).
Types are compared after mapping both sides through a grouping (``group``), so a system whose
type names differ (Presidio's ``PHONE_NUMBER``) can be scored against ours.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

Mode = Literal["exact", "overlap"]


class Gold(NamedTuple):
    type: str
    start: int
    end: int
    variant: str = "plain"


class Pred(NamedTuple):
    type: str
    start: int
    end: int
    score: float = 1.0


@dataclass
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        """``tp / (tp + fp)``; 0.0 when nothing was predicted but something was expected."""
        predicted = self.tp + self.fp
        if predicted == 0:
            return 1.0 if self.fn == 0 else 0.0
        return self.tp / predicted

    @property
    def recall(self) -> float:
        expected = self.tp + self.fn
        return 1.0 if expected == 0 else self.tp / expected

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 0.0 if p + r == 0 else 2 * p * r / (p + r)

    def add(self, other: Counts) -> None:
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn

    def as_json(self) -> dict[str, float | int]:
        return {
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "f1": round(self.f1, 4),
        }


@dataclass
class DocScore:
    """Per-type counts for one document plus which gold spans were found (for breakdowns)."""

    counts: dict[str, Counts] = field(default_factory=dict)
    matched_gold: set[int] = field(default_factory=set)
    false_positives: list[Pred] = field(default_factory=list)
    missed: list[Gold] = field(default_factory=list)


def match_document(gold: Sequence[Gold], pred: Sequence[Pred], mode: Mode) -> DocScore:
    """Match one document's predictions to its gold spans, one-to-one, within each type."""
    result = DocScore()
    used_pred: set[int] = set()
    if mode == "exact":
        index = {(g.type, g.start, g.end): i for i, g in enumerate(gold)}
        for j, p in enumerate(pred):
            i = index.get((p.type, p.start, p.end))
            if i is not None and i not in result.matched_gold:
                result.matched_gold.add(i)
                used_pred.add(j)
    else:
        order = sorted(range(len(gold)), key=lambda i: gold[i].start)
        for j in sorted(range(len(pred)), key=lambda j: pred[j].start):
            p = pred[j]
            for i in order:
                g = gold[i]
                if g.start >= p.end:
                    break
                if i not in result.matched_gold and g.type == p.type and g.end > p.start:
                    result.matched_gold.add(i)
                    used_pred.add(j)
                    break
    for i, g in enumerate(gold):
        c = result.counts.setdefault(g.type, Counts())
        if i in result.matched_gold:
            c.tp += 1
        else:
            c.fn += 1
            result.missed.append(g)
    for j, p in enumerate(pred):
        if j not in used_pred:
            result.counts.setdefault(p.type, Counts()).fp += 1
            result.false_positives.append(p)
    return result


@dataclass
class Report:
    """Corpus-level counts per type, recall per (type, variant), and examples of errors."""

    per_type: dict[str, Counts]
    recall_by_variant: dict[str, dict[str, Counts]]
    false_positive_examples: dict[str, list[str]]
    missed_examples: dict[str, list[str]]

    def micro(self, types: Iterable[str] | None = None) -> Counts:
        total = Counts()
        for t, c in self.per_type.items():
            if types is None or t in types:
                total.add(c)
        return total

    def as_json(self) -> dict[str, object]:
        return {
            "per_type": {t: c.as_json() for t, c in sorted(self.per_type.items())},
            "recall_by_variant": {
                t: {v: c.as_json() for v, c in sorted(vs.items())}
                for t, vs in sorted(self.recall_by_variant.items())
            },
            "false_positive_examples": self.false_positive_examples,
            "missed_examples": self.missed_examples,
        }


def score(
    texts: Sequence[str],
    gold: Sequence[Sequence[Gold]],
    pred: Sequence[Sequence[Pred]],
    mode: Mode,
    group: Callable[[str], str | None] = lambda t: t,
    examples: int = 5,
) -> Report:
    """Score a corpus.  ``group`` maps a type name (gold or predicted) to its comparison group;
    ``None`` drops the span (a type the comparison does not cover)."""
    if not (len(texts) == len(gold) == len(pred)):
        raise ValueError(
            f"texts, gold and predictions differ in length: {len(texts)}, {len(gold)}, {len(pred)}"
        )
    per_type: dict[str, Counts] = {}
    by_variant: dict[str, dict[str, Counts]] = {}
    fp_examples: dict[str, list[str]] = {}
    fn_examples: dict[str, list[str]] = {}
    for text, doc_gold, doc_pred in zip(texts, gold, pred, strict=True):
        g2 = [g._replace(type=t) for g in doc_gold if (t := group(g.type)) is not None]
        p2 = [p._replace(type=t) for p in doc_pred if (t := group(p.type)) is not None]
        doc = match_document(g2, p2, mode)
        for t, c in doc.counts.items():
            per_type.setdefault(t, Counts()).add(c)
        for i, g in enumerate(g2):
            c = by_variant.setdefault(g.type, {}).setdefault(g.variant, Counts())
            if i in doc.matched_gold:
                c.tp += 1
            else:
                c.fn += 1
        for p in doc.false_positives:
            bucket = fp_examples.setdefault(p.type, [])
            if len(bucket) < examples:
                bucket.append(_excerpt(text, p.start, p.end))
        for g in doc.missed:
            bucket = fn_examples.setdefault(g.type, [])
            if len(bucket) < examples:
                bucket.append(_excerpt(text, g.start, g.end))
    return Report(per_type, by_variant, fp_examples, fn_examples)


def _excerpt(text: str, start: int, end: int, width: int = 12) -> str:
    """The span in brackets with a little context, on one line."""
    left = text[max(0, start - width) : start]
    right = text[end : end + width]
    return f"{left}[{text[start:end]}]{right}".replace("\n", "⏎")


def tune_thresholds(
    texts: Sequence[str],
    gold: Sequence[Sequence[Gold]],
    pred: Sequence[Sequence[Pred]],
    group: Callable[[str], str | None],
    grid: Sequence[float],
    mode: Mode = "exact",
) -> dict[str, float]:
    """For each comparison group, the score threshold (from ``grid``) with the best F1.

    Ties go to the lowest threshold.  Each group is scored only on its own spans, so one
    group's threshold does not change another's figures.
    """
    best: dict[str, tuple[float, float]] = {}
    for threshold in grid:
        kept = [[p for p in doc if p.score >= threshold] for doc in pred]
        report = score(texts, gold, kept, mode, group, examples=0)
        for t, c in report.per_type.items():
            if t not in best or c.f1 > best[t][1]:
                best[t] = (threshold, c.f1)
    return {t: th for t, (th, _) in sorted(best.items())}


def apply_thresholds(
    pred: Sequence[Sequence[Pred]],
    thresholds: Mapping[str, float],
    group: Callable[[str], str | None],
) -> list[list[Pred]]:
    """Keep a prediction when its score reaches its group's threshold (0 for unknown groups)."""
    out: list[list[Pred]] = []
    for doc in pred:
        kept = []
        for p in doc:
            g = group(p.type)
            if g is not None and p.score >= thresholds.get(g, 0.0):
                kept.append(p)
        out.append(kept)
    return out
