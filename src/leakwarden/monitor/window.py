"""Sliding-window volume sums per actor (the stream rules' measure), vectorised with NumPy.

For each allowed event, the sum of ``customers`` and of ``rows`` over the actor's events in
``(ts - window, ts]``. :class:`WindowCarry` keeps the last window of events between batches, so
the batch detector and :class:`~leakwarden.monitor.detector.StreamMonitor` compute the same sums
whatever the batch boundaries (batches in time order up to one window).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

I64 = npt.NDArray[np.int64]


@dataclass
class WindowEvents:
    """Parallel arrays of events: actor code, time (µs since the epoch), seq, customers, rows."""

    actor: I64
    ts: I64
    seq: I64
    customers: I64
    rows: I64

    @classmethod
    def empty(cls) -> WindowEvents:
        z = np.zeros(0, dtype=np.int64)
        return cls(z, z.copy(), z.copy(), z.copy(), z.copy())

    def __len__(self) -> int:
        return len(self.ts)

    def take(self, idx: npt.NDArray[np.intp] | npt.NDArray[np.bool_]) -> WindowEvents:
        return WindowEvents(
            self.actor[idx], self.ts[idx], self.seq[idx], self.customers[idx], self.rows[idx]
        )

    @staticmethod
    def concat(a: WindowEvents, b: WindowEvents) -> WindowEvents:
        return WindowEvents(*(np.concatenate([getattr(a, n), getattr(b, n)]) for n in _FIELDS))


_FIELDS = ("actor", "ts", "seq", "customers", "rows")


@dataclass
class WindowSums:
    """The new events of a batch, sorted by (actor, ts), with their window sums."""

    events: WindowEvents
    customers: I64
    rows: I64


class WindowCarry:
    """Window sums across batches: keeps each actor's events of the last window."""

    def __init__(self, window_us: int) -> None:
        if window_us <= 0:
            raise ValueError(f"window must be positive, got {window_us} µs")
        self.window_us = window_us
        self.carry = WindowEvents.empty()
        self.high_ts: int | None = None

    def push(self, new: WindowEvents, where: str = "batch") -> WindowSums:
        if len(new) and self.high_ts is not None:
            low = int(new.ts.min())
            if low <= self.high_ts - self.window_us:
                raise ValueError(
                    f"{where}: events out of order: an event at {low} µs comes more than one "
                    f"window ({self.window_us} µs) before events already seen ({self.high_ts} µs)"
                )
        both = WindowEvents.concat(self.carry, new)
        is_new = np.concatenate(
            [np.zeros(len(self.carry), dtype=bool), np.ones(len(new), dtype=bool)]
        )
        sums_c, sums_r, order = window_sums(both, self.window_us)
        if len(new):
            top = int(new.ts.max())
            self.high_ts = top if self.high_ts is None else max(self.high_ts, top)
        if self.high_ts is not None:
            self.carry = both.take(both.ts > self.high_ts - self.window_us)
        keep = is_new[order]
        return WindowSums(both.take(order[keep]), sums_c[keep], sums_r[keep])


def window_sums(ev: WindowEvents, window_us: int) -> tuple[I64, I64, npt.NDArray[np.intp]]:
    """Sums of customers and rows over ``(ts - window, ts]`` per actor, in (actor, ts, seq)
    order, and that order (indices into ``ev``)."""
    n = len(ev)
    if n == 0:
        z = np.zeros(0, dtype=np.int64)
        return z, z.copy(), np.zeros(0, dtype=np.intp)
    order = np.lexsort((ev.seq, ev.ts, ev.actor))
    actor = ev.actor[order]
    ts = ev.ts[order]
    span = int(ts.max() - ts.min()) + window_us + 1
    _, rank = np.unique(actor, return_inverse=True)
    if int(rank.max()) + 1 > (2**62) // span:
        raise ValueError("window sums: too many actors times too long a span for one batch")
    key = rank.astype(np.int64) * span + (ts - ts.min())
    left = np.searchsorted(key, key - window_us, side="right")
    out = []
    for values in (ev.customers[order], ev.rows[order]):
        cs = np.concatenate([[0], np.cumsum(values, dtype=np.int64)])
        out.append(cs[np.arange(1, n + 1)] - cs[left])
    return out[0], out[1], order


def running_records(group: I64, value: I64) -> npt.NDArray[np.bool_]:
    """For rows sorted by group (then time): True where ``value`` exceeds every earlier value of
    the same group (the staircase of new maxima; the first row of a group counts when > 0)."""
    if len(group) == 0:
        return np.zeros(0, dtype=bool)
    capped = np.minimum(value, 2**31 - 1).astype(np.int64)
    _, g = np.unique(group, return_inverse=True)
    lifted = g.astype(np.int64) * 2**31 + capped
    before = np.concatenate([[np.int64(-1)], np.maximum.accumulate(lifted)[:-1]])
    first = np.concatenate([[True], g[1:] != g[:-1]])
    out: npt.NDArray[np.bool_] = ((lifted > before) | first) & (capped > 0)
    return out
