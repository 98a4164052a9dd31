"""Aggregate-only answers for analysts (``POST /query`` with ``"mode": "aggregate"``): GROUP BY
queries whose cells are released only when at least ``k`` distinct customers stand behind them,
charged as an aggregate (rows and bytes, no customer), and guarded against differencing by a
history of the customer sets already released to the person.

What this module owns:

- :func:`aggregate_probe`: the shape an aggregate query must have (one SELECT over catalogued
  tables, no CTE, subquery, set operation, window, HAVING or DISTINCT; every output column is
  either a GROUP BY column or made of ``COUNT``, ``SUM`` or ``AVG`` only; MIN, MAX and the list
  aggregates, which output one customer's value, are refused) and the *probe* that lists, per
  group, the customer keys of the rows the group reads (``SELECT DISTINCT <group columns>,
  <customer keys>`` with the same FROM, JOINs and WHERE);
- :class:`OverlapGuard`: the cells' customer sets against the person's history.

The guard (per person, rolling window, in memory of this gateway process):

1. a cell with fewer than ``k`` distinct customers is suppressed (left out of the answer);
2. a cell C is suppressed when some set P released to the person in the window differs from it
   by 1 to ``k - 1`` customers either way (``0 < |C - P| < k`` or ``0 < |P - C| < k``): the
   classic differencing pair, ``COUNT(*) WHERE city = 'X'`` then ``... AND id <> 42``, is
   caught whichever is asked first.  The same cell asked again (C = P) is released;
3. the union U of the cells released by one query is checked the same way and remembered too,
   so that a total asked before or after a grouped query with suppressed cells cannot recover
   those cells by subtraction (total - sum of visible cells); when U fails, the whole answer is
   suppressed.

Known limits (recorded in docs/design-notes.md): the checks are pairwise (a tracker that
combines three or more overlapping queries can still isolate a customer); SUM and AVG over a
cell dominated by one customer reveal roughly that customer's value (no dominance rule); the
history lives in the gateway process (lost on restart, not shared between replicas).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlglot import exp

from leakwarden.gateway.sql_rewrite import QueryDenied

__all__ = ["AggregateShape", "OverlapGuard", "aggregate_probe"]

_ALLOWED_AGGREGATES = (exp.Count, exp.Sum, exp.Avg)


@dataclass(frozen=True)
class AggregateShape:
    """An aggregate query's probe (caller's dialect, before rewriting) and, per output column,
    the index of its GROUP BY column (None for an aggregate column)."""

    probe: str
    groups: int
    group_of_output: list[int | None]


def aggregate_probe(
    tree: exp.Select,
    keys: Callable[[exp.Select], list[exp.Expr] | None],
    dialect: str,
) -> AggregateShape:
    """The probe of the aggregate query ``tree`` (module docstring); ``keys`` gives the hidden
    customer-key columns of a SELECT (:meth:`QueryService._key_columns`).  :class:`QueryDenied`
    naming what is not allowed."""
    if tree.args.get("with") or tree.args.get("with_"):
        raise QueryDenied("aggregate mode: WITH (CTE) is not allowed")
    if any(n is not tree for n in tree.find_all(exp.Select, exp.SetOperation)):
        raise QueryDenied("aggregate mode: subqueries and set operations are not allowed")
    for arg, what in (("having", "HAVING"), ("distinct", "DISTINCT"), ("qualify", "QUALIFY")):
        if tree.args.get(arg):
            raise QueryDenied(f"aggregate mode: {what} is not allowed (small groups are "
                              "suppressed by the gateway)")  # fmt: skip
    if tree.find(exp.Window):
        raise QueryDenied("aggregate mode: window functions are not allowed")
    group = tree.args.get("group")
    group_items = list(group.expressions) if group else []
    for g in group_items:
        if not isinstance(g, exp.Column):
            raise QueryDenied(f"aggregate mode: GROUP BY {g.sql()}: group by plain columns only")
    group_sql = [g.sql() for g in group_items]
    group_of_output: list[int | None] = []
    for projection in tree.expressions:
        inner = projection.unalias() if isinstance(projection, exp.Alias) else projection
        aggs = list(inner.find_all(exp.AggFunc))
        if not aggs:
            if inner.sql() not in group_sql:
                raise QueryDenied(
                    f"aggregate mode: output {inner.sql()} is neither a GROUP BY column nor an "
                    "aggregate"
                )
            group_of_output.append(group_sql.index(inner.sql()))
            continue
        for agg in aggs:
            if not isinstance(agg, _ALLOWED_AGGREGATES):
                raise QueryDenied(
                    f"aggregate mode: {agg.key.upper()} is not allowed (COUNT, SUM and AVG only)"
                )
        if any(c.find_ancestor(exp.AggFunc) is None for c in inner.find_all(exp.Column)):
            raise QueryDenied(
                f"aggregate mode: output {inner.sql()} mixes a column with an aggregate"
            )
        group_of_output.append(None)
    if sorted({i for i in group_of_output if i is not None}) != list(range(len(group_sql))):
        raise QueryDenied("aggregate mode: every GROUP BY column must be an output column")
    key_columns = keys(tree)
    if not key_columns:
        raise QueryDenied(
            "aggregate mode: the query reads no customer data whose customers can be counted "
            "(use the row mode)"
        )
    probe = tree.copy()
    for arg in ("group", "order", "limit", "offset"):
        probe.set(arg, None)
    probe.set(
        "expressions",
        [g.copy().as_(f"lw_g{i}") for i, g in enumerate(group_items)] + key_columns,
    )
    probe.set("distinct", exp.Distinct())
    return AggregateShape(probe.sql(dialect=dialect), len(group_items), group_of_output)


def cells_of(
    probe_rows: Sequence[Sequence[object]], groups: int
) -> dict[tuple[object, ...], set[int]]:
    """The probe's rows (group values, then customer keys) -> customers per group."""
    cells: dict[tuple[object, ...], set[int]] = {}
    for row in probe_rows:
        ids = cells.setdefault(tuple(row[:groups]), set())
        for v in row[groups:]:
            if v is not None:
                ids.add(int(str(v)))
    return cells


class OverlapGuard:
    """The per-person history of released customer sets and the checks of the module
    docstring.  Thread-safe; at most ``keep`` sets per person are remembered (the oldest go
    first, and with them their protection: keep it above the sets a person can ask for in a
    window)."""

    def __init__(self, k: int, window_seconds: float = 86_400.0, keep: int = 5_000) -> None:
        if k < 2:
            raise ValueError(f"minimum group size must be at least 2, got {k}")
        self.k = k
        self.window = window_seconds
        self.keep = keep
        self._history: dict[str, deque[tuple[float, frozenset[int]]]] = {}
        self._lock = threading.Lock()

    def admit(self, person: str, cells: Sequence[set[int]]) -> list[str | None]:
        """Per cell: None when it may be released, else why it is suppressed ("small",
        "overlap", "union").  The released cells (and their union) join the history."""
        now = time.monotonic()
        with self._lock:
            history = self._history.setdefault(person, deque())
            while history and history[0][0] <= now - self.window:
                history.popleft()
            past = [s for _, s in history]
            verdict: list[str | None] = []
            for c in cells:
                if len(c) < self.k:
                    verdict.append("small")
                elif any(self._isolates(c, p) for p in past):
                    verdict.append("overlap")
                else:
                    verdict.append(None)
            released = [frozenset(c) for c, v in zip(cells, verdict, strict=True) if v is None]
            union = frozenset().union(*released) if released else frozenset()
            if len(released) > 1 and any(self._isolates(union, p) for p in past):
                return ["union" if v is None else v for v in verdict]
            fresh = {*released, union} if len(released) > 1 else set(released)
            for s in fresh:
                history.append((now, s))
            while len(history) > self.keep:
                history.popleft()
            return verdict

    def _isolates(self, a: frozenset[int] | set[int], b: frozenset[int]) -> bool:
        """Whether the difference of ``a`` and ``b`` either way is 1 to k - 1 customers."""
        if a == b:
            return False
        return 0 < len(a - b) < self.k or 0 < len(b - a) < self.k
