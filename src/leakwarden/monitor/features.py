"""Stage one of the batch detector: audit events to per actor-day aggregates.

:class:`FeatureBuilder` eats :data:`~leakwarden.monitor.events.EVENT_SCHEMA` batches (in time
order up to the stream window) and :meth:`FeatureBuilder.finish` returns :class:`Aggregates`,
tables keyed by ``actor`` (string) and ``day`` (date32, local to ``config.timezone``):

* ``actor_day``: one row per active actor-day with the counted features (:data:`COUNTS`), and
  samples of the unexplained customers and of the audit seqs that touched them;
* ``channels``, ``datasets``, ``districts``, ``segments``: (actor, day, key, n) long tables, for
  the "peers never do this" features computed in stage two;
* ``points``: the staircase of the stream window sums (each new daily maximum of customers
  (kind 0) or rows (kind 1) in the sliding window, with its time and seq).

A customer access is *explained* when an assigned ticket covering that customer was open at the
time (up to ``ticket_grace_days`` after closing) or a standing relationship links the actor and
the customer; without a tickets table, a stated ticket explains the event (the gateway checked it).
Only allowed events count as data taken; refusals are counted apart (``denied``). Records are
released by events that list customers and by exports (listed or only counted); any other event
that only counts customers is an aggregate: its customers go to ``aggregate_customers``, not to
the distinct, unexplained or window counts, and its rows are not counted.

Partitions holding disjoint sets of actors give aggregates that concatenate
(:meth:`Aggregates.concat`), which is how the Dask path splits the work.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from leakwarden.monitor.config import MonitorConfig
from leakwarden.monitor.events import EVENT_SCHEMA, Context, check_table
from leakwarden.monitor.window import WindowCarry, WindowEvents, running_records

US_PER_DAY = 86_400_000_000
EXPORT_CHANNEL = "export"

# counted per actor-day in stage one (sums over events, or distinct customers)
COUNTS = (
    "events",
    "denied",
    "rows",
    "exports",
    "export_rows",
    "off_hours_events",
    "distinct_customers",
    "unexplained_customers",
    "off_hours_customers",
    "vip_unexplained",
    "coworker_unexplained",
    "neighbour_unexplained",
    "win_customers_max",
    "win_rows_max",
    "aggregate_customers",
)


@dataclass
class Aggregates:
    actor_day: pa.Table
    channels: pa.Table
    datasets: pa.Table
    districts: pa.Table
    segments: pa.Table
    points: pa.Table

    @staticmethod
    def concat(parts: Iterable[Aggregates]) -> Aggregates:
        items = list(parts)
        if not items:
            raise ValueError("Aggregates.concat: no parts")
        return Aggregates(
            **{
                f.name: pa.concat_tables([getattr(p, f.name) for p in items])
                for f in fields(Aggregates)
            }
        )


@dataclass
class _Lookup:
    """Context turned into arrays keyed by actor code / customer id."""

    names: list[str]
    code_of: dict[str, int]


class FeatureBuilder:
    def __init__(self, context: Context, config: MonitorConfig) -> None:
        self.context = context
        self.config = config
        self.names: list[str] = []
        self.code_of: dict[str, int] = {}
        self._codes(context.employees.column("employee_id").to_pylist())
        self.carry = WindowCarry(config.stream_window_seconds * 1_000_000)
        self.sums: list[pa.Table] = []
        self.pairs: list[pa.Table] = []
        self.pair_rows = 0
        self.compacted_rows = 0
        self.pairs_low_day: int | None = None
        self.pair_parts: list[tuple[pa.Table, pa.Table, pa.Table]] = []
        self.long: dict[str, list[pa.Table]] = {"channel": [], "dataset": []}
        self.points: list[pa.Table] = []
        self.batches = 0
        self._tickets = self._ticket_table()
        self._relations = self._relation_table()

    # -- actor codes -------------------------------------------------------------------------
    def _codes(self, names: Iterable[str]) -> None:
        for name in names:
            if name not in self.code_of:
                self.code_of[name] = len(self.names)
                self.names.append(name)

    def _encode(self, actors: pa.Array) -> npt.NDArray[np.int64]:
        uniq = pc.unique(actors).to_pylist()
        self._codes(str(a) for a in uniq)
        value_set = pa.array(self.names, pa.string())
        return np.asarray(pc.index_in(actors, value_set=value_set)).astype(np.int64)

    def _ticket_table(self) -> pa.Table | None:
        t = self.context.tickets
        if t is None:
            return None
        self._codes(str(a) for a in pc.unique(t.column("assignee")).to_pylist())
        value_set = pa.array(self.names, pa.string())
        grace = np.int64(self.config.ticket_grace_days) * US_PER_DAY
        opened = us_of(t.column("opened"))
        closed_col = t.column("closed")
        closed = np.where(
            np.asarray(pc.is_null(closed_col)),
            np.iinfo(np.int64).max // 2,
            us_of(pc.fill_null(closed_col, 0).cast(closed_col.type)) + grace,
        )
        return pa.table(
            {
                "actor": pc.index_in(t.column("assignee"), value_set=value_set).cast(pa.int64()),
                "customer": t.column("customer_id"),
                "opened": pa.array(opened),
                "closed": pa.array(closed),
            }
        )

    def _relation_table(self) -> pa.Table | None:
        r = self.context.relationships
        if r is None:
            return None
        self._codes(str(a) for a in pc.unique(r.column("employee_id")).to_pylist())
        value_set = pa.array(self.names, pa.string())
        return (
            pa.table(
                {
                    "actor": pc.index_in(r.column("employee_id"), value_set=value_set).cast(
                        pa.int64()
                    ),
                    "customer": r.column("customer_id"),
                    "related": pa.array(np.ones(r.num_rows, dtype=np.int8)),
                }
            )
            .group_by(["actor", "customer"])
            .aggregate([("related", "max")])
            .rename_columns(["actor", "customer", "related"])
        )

    # -- one batch -----------------------------------------------------------------------------
    def add(self, batch: pa.RecordBatch | pa.Table) -> None:
        where = f"events batch {self.batches}"
        self.batches += 1
        check_table(batch, EVENT_SCHEMA, where)
        if batch.num_rows == 0:
            return
        tbl = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
        for name in ("seq", "ts", "actor", "outcome", "channel", "rows", "customers"):
            if tbl.column(name).null_count:
                raise ValueError(f"{where}: column {name!r} has nulls")
        cfg = self.config
        actor = self._encode(tbl.column("actor").combine_chunks())
        ts = us_of(tbl.column("ts"))
        local = local_us(tbl.column("ts"), cfg.timezone)
        day = np.floor_divide(local, US_PER_DAY)
        hour = np.floor_divide(local - day * US_PER_DAY, 3_600_000_000)
        weekday = (day + 3) % 7  # 1970-01-01 was a Thursday; Monday is 0
        off = (weekday >= 5) | (hour < cfg.work_start_hour) | (hour >= cfg.work_end_hour)
        allowed = np.asarray(pc.equal(tbl.column("outcome"), "allowed"))
        channel = tbl.column("channel")
        export = np.asarray(pc.equal(channel, EXPORT_CHANNEL)) | np.asarray(
            pc.is_valid(tbl.column("export_id"))
        )
        rows = np.asarray(tbl.column("rows")).astype(np.int64)
        customers = np.asarray(tbl.column("customers")).astype(np.int64)
        if (rows < 0).any() or (customers < 0).any():
            raise ValueError(f"{where}: negative rows or customers")
        seq = np.asarray(tbl.column("seq")).astype(np.int64)
        ids = tbl.column("customer_ids").combine_chunks()
        listed = np.asarray(pc.list_value_length(ids)).astype(np.int64)
        has_ticket = np.asarray(pc.is_valid(tbl.column("ticket")))
        # records released: events that list customers, and exports (listed or only counted);
        # other count-only events are aggregates (no customer's record leaves)
        record = (listed > 0) | export
        unlisted = np.maximum(customers - listed, 0) * allowed
        ticket_explains = self.context.tickets is None
        unlisted_unexpl = unlisted * record
        if ticket_explains:
            unlisted_unexpl = unlisted_unexpl * ~has_ticket
        ra = (allowed & record).astype(np.int64)
        self.sums.append(
            _sum_by_day(
                pa.table(
                    {
                        "actor": actor,
                        "day": day,
                        "events": np.ones(len(actor), dtype=np.int64),
                        "denied": (~allowed).astype(np.int64),
                        "rows": rows * ra,
                        "exports": (export & allowed).astype(np.int64),
                        "export_rows": rows * (export & allowed),
                        "off_hours_events": off.astype(np.int64),
                        "unlisted": unlisted * record,
                        "unlisted_unexplained": unlisted_unexpl,
                        "aggregate_customers": unlisted * ~record,
                    }
                )
            )
        )
        for key, col in (("channel", channel), ("dataset", tbl.column("dataset"))):
            self.long[key].append(
                pa.table({"actor": actor, "day": day, "key": pc.fill_null(col, "")})
                .group_by(["actor", "day", "key"])
                .aggregate([([], "count_all")])
                .rename_columns(["actor", "day", "key", "n"])
            )
        self._add_pairs(ids, actor, day, ts, off, allowed, seq, has_ticket)
        self._add_window(actor, day, ts, seq, customers * ra, rows * ra, allowed, where)

    def _add_pairs(
        self,
        ids: pa.Array,
        actor: npt.NDArray[np.int64],
        day: npt.NDArray[np.int64],
        ts: npt.NDArray[np.int64],
        off: npt.NDArray[np.bool_],
        allowed: npt.NDArray[np.bool_],
        seq: npt.NDArray[np.int64],
        has_ticket: npt.NDArray[np.bool_],
    ) -> None:
        parent = np.asarray(pc.list_parent_indices(ids))
        flat = np.asarray(pc.list_flatten(ids)).astype(np.int64)
        keep = allowed[parent]
        parent, flat = parent[keep], flat[keep]
        if len(flat) == 0:
            return
        p_actor, p_ts = actor[parent], ts[parent]
        explained = np.zeros(len(flat), dtype=bool)
        if self._tickets is None:
            explained |= has_ticket[parent]
        else:
            pairs = pa.table({"pid": np.arange(len(flat)), "actor": p_actor, "customer": flat})
            j = pairs.join(self._tickets, ["actor", "customer"], join_type="inner")
            pid = np.asarray(j.column("pid"))
            t = p_ts[pid]
            ok = (np.asarray(j.column("opened")) <= t) & (t <= np.asarray(j.column("closed")))
            explained[pid[ok]] = True
        if self._relations is not None:
            pairs = pa.table({"pid": np.arange(len(flat)), "actor": p_actor, "customer": flat})
            j = pairs.join(self._relations, ["actor", "customer"], join_type="inner")
            explained[np.asarray(j.column("pid"))] = True
        table = pa.table(
            {
                "actor": p_actor,
                "day": day[parent],
                "customer": flat,
                "explained": explained.astype(np.int8),
                "off": off[parent].astype(np.int8),
                "seq": seq[parent],
            }
        )
        self.pairs.append(_dedupe_pairs(table))
        self.pair_rows += self.pairs[-1].num_rows
        low_day = int(day.min())
        if self.pairs_low_day is not None and low_day > self.pairs_low_day + 1:
            # days ending more than a day before this batch are complete (batches come in time
            # order): reduce them to their features and drop their pairs
            self._flush_pairs(before=low_day - 1)
        elif self.pair_rows - self.compacted_rows > max(20_000_000, self.compacted_rows):
            self.pairs = [_dedupe_pairs(pa.concat_tables(self.pairs))]
            self.pair_rows = self.compacted_rows = self.pairs[0].num_rows
        if self.pairs_low_day is None:
            self.pairs_low_day = low_day

    def _flush_pairs(self, before: int | None) -> None:
        """Features of the pairs of days < ``before`` (all days when None)."""
        if not self.pairs:
            return
        pairs = _dedupe_pairs(pa.concat_tables(self.pairs))
        if before is None:
            done, rest = pairs, None
        else:
            early = pc.less(pairs.column("day"), before)
            done, rest = pairs.filter(early), pairs.filter(pc.invert(early))
        if done.num_rows:
            self.pair_parts.append(self._pair_features(done))
        self.pairs = [rest] if rest is not None and rest.num_rows else []
        self.pair_rows = self.compacted_rows = sum(t.num_rows for t in self.pairs)
        self.pairs_low_day = before

    def _add_window(
        self,
        actor: npt.NDArray[np.int64],
        day: npt.NDArray[np.int64],
        ts: npt.NDArray[np.int64],
        seq: npt.NDArray[np.int64],
        customers: npt.NDArray[np.int64],
        rows: npt.NDArray[np.int64],
        allowed: npt.NDArray[np.bool_],
        where: str,
    ) -> None:
        ev = WindowEvents(
            actor[allowed], ts[allowed], seq[allowed], customers[allowed], rows[allowed]
        )
        got = self.carry.push(ev, where)
        if len(got.events) == 0:
            return
        w_day = day_of(got.events.ts, self.config.timezone)
        group = got.events.actor * 1_000_000 + w_day
        for kind, values in ((0, got.customers), (1, got.rows)):
            rec = running_records(group, values)
            self.points.append(
                pa.table(
                    {
                        "actor": got.events.actor[rec],
                        "day": w_day[rec],
                        "ts": got.events.ts[rec],
                        "seq": got.events.seq[rec],
                        "kind": np.full(int(rec.sum()), kind, dtype=np.int8),
                        "value": values[rec],
                    }
                )
            )

    # -- the end -------------------------------------------------------------------------------
    def finish(self) -> Aggregates:
        names = pa.array(self.names, pa.string())
        per_day = _sum_by_day(_concat_or_empty(self.sums, ["actor", "day"]))
        self._flush_pairs(before=None)
        parts = self.pair_parts or [self._pair_features(None)]
        pair_feats, districts, segments = (
            pa.concat_tables([p[i] for p in parts]) for i in range(3)
        )
        actor_day = _attach(per_day, pair_feats)
        points = self._points()
        win = (
            points.group_by(["actor", "day", "kind"])
            .aggregate([("value", "max")])
            .rename_columns(["actor", "day", "kind", "value"])
        )
        for kind, name in ((0, "win_customers_max"), (1, "win_rows_max")):
            part = win.filter(pc.equal(win.column("kind"), kind)).select(["actor", "day", "value"])
            actor_day = _attach(actor_day, part.rename_columns(["actor", "day", name]))
        fill = {
            c: pc.fill_null(actor_day.column(c), 0)
            for c in actor_day.column_names
            if c not in ("actor", "day", "unexplained_sample", "seq_sample")
        }
        dc = pc.add(fill["distinct_listed"], fill["unlisted"])
        ux = pc.add(fill["unexplained_listed"], fill["unlisted_unexplained"])
        cols: dict[str, pa.Array | pa.ChunkedArray] = {
            "actor": pc.take(names, actor_day.column("actor")),
            "day": actor_day.column("day").cast(pa.int32()).cast(pa.date32()),
        }
        for c in COUNTS:
            if c == "distinct_customers":
                cols[c] = dc
            elif c == "unexplained_customers":
                cols[c] = ux
            else:
                cols[c] = fill[c]
        cols["unexplained_sample"] = actor_day.column("unexplained_sample")
        cols["seq_sample"] = actor_day.column("seq_sample")
        out_ad = pa.table(cols).sort_by([("actor", "ascending"), ("day", "ascending")])
        return Aggregates(
            actor_day=out_ad,
            channels=_named(self.long["channel"], names),
            datasets=_named(self.long["dataset"], names),
            districts=_named_one(districts, names),
            segments=_named_one(segments, names),
            points=_named_one(points, names),
        )

    def _points(self) -> pa.Table:
        if not self.points:
            return pa.table(
                {
                    "actor": pa.array([], pa.int64()),
                    "day": pa.array([], pa.int64()),
                    "ts": pa.array([], pa.int64()),
                    "seq": pa.array([], pa.int64()),
                    "kind": pa.array([], pa.int8()),
                    "value": pa.array([], pa.int64()),
                }
            )
        pts = pa.concat_tables(self.points).sort_by(
            [
                ("kind", "ascending"),
                ("actor", "ascending"),
                ("day", "ascending"),
                ("ts", "ascending"),
            ]
        )
        kind = np.asarray(pts.column("kind")).astype(np.int64)
        group = (
            kind * 2**40
            + np.asarray(pts.column("actor")).astype(np.int64) * 1_000_000
            + np.asarray(pts.column("day")).astype(np.int64)
        )
        rec = running_records(group, np.asarray(pts.column("value")).astype(np.int64))
        return pts.filter(pa.array(rec))

    def _pair_features(self, pairs: pa.Table | None) -> tuple[pa.Table, pa.Table, pa.Table]:
        key = {"actor": pa.array([], pa.int64()), "day": pa.array([], pa.int64())}
        empty_long = pa.table(
            {**key, "key": pa.array([], pa.string()), "n": pa.array([], pa.int64())}
        )
        if pairs is None or pairs.num_rows == 0:
            return (
                pa.table(
                    {
                        **key,
                        **{c: pa.array([], pa.int64()) for c in _PAIR_COUNTS},
                        "unexplained_sample": pa.array([], pa.list_(pa.int64())),
                        "seq_sample": pa.array([], pa.list_(pa.int64())),
                    }
                ),
                empty_long,
                empty_long,
            )
        cfg = self.config
        unexpl = pc.equal(pairs.column("explained"), 0)
        cols: dict[str, pa.Array | pa.ChunkedArray | npt.NDArray[np.int64]] = {
            "actor": pairs.column("actor"),
            "day": pairs.column("day"),
            "distinct_listed": np.ones(pairs.num_rows, dtype=np.int64),
            "unexplained_listed": unexpl.cast(pa.int64()),
            "off_hours_customers": pairs.column("off").cast(pa.int64()),
        }
        customers = self.context.customers
        district = segment = None
        zeros = np.zeros(pairs.num_rows, dtype=np.int64)
        vip = coworker = neighbour = zeros
        u = np.asarray(unexpl)
        if customers is not None:
            idx = pc.index_in(pairs.column("customer"), value_set=customers.column("customer_id"))
            district = pc.take(customers.column("district"), idx)
            segment = pc.take(customers.column("segment"), idx)
            vip = np.asarray(pc.fill_null(pc.take(customers.column("vip"), idx), False)) & u
            home = self._home_districts()
            actor_home = pc.take(home, pairs.column("actor"))
            same = np.asarray(pc.fill_null(pc.equal(district, actor_home), False))
            neighbour = same & u
        emp = self.context.employees
        own_ids = pc.drop_null(emp.column("customer_id"))
        if len(own_ids):
            coworker = np.asarray(pc.is_in(pairs.column("customer"), value_set=own_ids)) & u
        cols["vip_unexplained"] = np.asarray(vip).astype(np.int64)
        cols["coworker_unexplained"] = np.asarray(coworker).astype(np.int64)
        cols["neighbour_unexplained"] = np.asarray(neighbour).astype(np.int64)
        table = pa.table(cols)
        feats = (
            table.group_by(["actor", "day"])
            .aggregate([(c, "sum") for c in _PAIR_COUNTS])
            .rename_columns(["actor", "day", *_PAIR_COUNTS])
        )
        samples = _samples(pairs.filter(unexpl), cfg.max_listed_customers)
        feats = _attach(feats, samples)
        longs = []
        for col in (district, segment):
            if col is None:
                longs.append(empty_long)
                continue
            longs.append(
                pa.table({"actor": pairs.column("actor"), "day": pairs.column("day"), "key": col})
                .filter(pc.is_valid(col))
                .group_by(["actor", "day", "key"])
                .aggregate([([], "count_all")])
                .rename_columns(["actor", "day", "key", "n"])
            )
        return feats, longs[0], longs[1]

    def _home_districts(self) -> pa.Array:
        emp = self.context.employees
        idx = pc.index_in(pa.array(self.names, pa.string()), value_set=emp.column("employee_id"))
        return pc.take(emp.column("home_district"), idx).combine_chunks()


_PAIR_COUNTS = (
    "distinct_listed",
    "unexplained_listed",
    "off_hours_customers",
    "vip_unexplained",
    "coworker_unexplained",
    "neighbour_unexplained",
)


def build_aggregates(
    events: pa.Table | Iterable[pa.RecordBatch], context: Context, config: MonitorConfig
) -> Aggregates:
    """Stage one over a table (sorted by time if it is not) or time-ordered batches."""
    builder = FeatureBuilder(context, config)
    for batch in iter_batches(events):
        builder.add(batch)
    return builder.finish()


def iter_batches(
    events: pa.Table | Iterable[pa.RecordBatch], rows: int = 1_000_000
) -> Iterable[pa.RecordBatch | pa.Table]:
    if isinstance(events, pa.Table):
        check_table(events, EVENT_SCHEMA, "events")
        ts = us_of(events.column("ts"))
        if len(ts) > 1 and (np.diff(ts) < 0).any():
            events = events.sort_by([("ts", "ascending"), ("seq", "ascending")])
        for start in range(0, events.num_rows, rows):
            yield events.slice(start, rows)
        return
    yield from events


def _day_key(t: pa.Table) -> pa.Array:
    return pa.array(
        np.asarray(t.column("actor")).astype(np.int64) * 1_000_000
        + np.asarray(t.column("day")).astype(np.int64)
    )


def _attach(left: pa.Table, right: pa.Table) -> pa.Table:
    """Left outer join on (actor, day) codes, ``right`` unique on them (list columns allowed,
    which Arrow's hash join refuses); left's row order is kept."""
    idx = pc.index_in(_day_key(left), value_set=_day_key(right))
    out = left
    for name in right.column_names:
        if name not in ("actor", "day"):
            out = out.append_column(name, pc.take(right.column(name), idx))
    return out


def _sum_by_day(t: pa.Table) -> pa.Table:
    cols = t.column_names[2:]
    return (
        t.group_by(["actor", "day"])
        .aggregate([(c, "sum") for c in cols])
        .rename_columns(["actor", "day", *cols])
    )


def _dedupe_pairs(t: pa.Table) -> pa.Table:
    return (
        t.group_by(["actor", "day", "customer"], use_threads=True)
        .aggregate([("explained", "max"), ("off", "max"), ("seq", "min")])
        .rename_columns(["actor", "day", "customer", "explained", "off", "seq"])
    )


def _samples(unexplained: pa.Table, k: int) -> pa.Table:
    """The first ``k`` unexplained customers (by seq) per actor-day, with their seqs."""
    t = unexplained.sort_by([("actor", "ascending"), ("day", "ascending"), ("seq", "ascending")])
    g = np.asarray(t.column("actor")).astype(np.int64) * 1_000_000 + np.asarray(
        t.column("day")
    ).astype(np.int64)
    if len(g):
        starts = np.concatenate([[True], g[1:] != g[:-1]])
        first = np.maximum.accumulate(np.where(starts, np.arange(len(g)), 0))
        rank = np.arange(len(g)) - first
        t = t.filter(pa.array(rank < k))
    return (
        t.group_by(["actor", "day"], use_threads=False)
        .aggregate([("customer", "list"), ("seq", "list")])
        .rename_columns(["actor", "day", "unexplained_sample", "seq_sample"])
    )


def _named(parts: list[pa.Table], names: pa.Array) -> pa.Table:
    if not parts:
        return pa.table(
            {
                "actor": pa.array([], pa.string()),
                "day": pa.array([], pa.date32()),
                "key": pa.array([], pa.string()),
                "n": pa.array([], pa.int64()),
            }
        )
    t = pa.concat_tables(parts)
    t = t.group_by(["actor", "day", "key"]).aggregate([("n", "sum")])
    return _named_one(t.rename_columns(["actor", "day", "key", "n"]), names)


def _named_one(t: pa.Table, names: pa.Array) -> pa.Table:
    cols = {c: t.column(c) for c in t.column_names}
    cols["actor"] = pc.take(names, t.column("actor"))
    cols["day"] = t.column("day").cast(pa.int32()).cast(pa.date32())
    return pa.table(cols)


def _concat_or_empty(parts: list[pa.Table], keys: list[str]) -> pa.Table:
    if parts:
        return pa.concat_tables(parts)
    cols = {k: pa.array([], pa.int64()) for k in keys}
    for c in ("events", "denied", "rows", "exports", "export_rows", "off_hours_events"):
        cols[c] = pa.array([], pa.int64())
    for c in ("unlisted", "unlisted_unexplained", "aggregate_customers"):
        cols[c] = pa.array([], pa.int64())
    return pa.table(cols)


def us_of(col: pa.Array | pa.ChunkedArray) -> npt.NDArray[np.int64]:
    """Microseconds since the epoch of a timestamp column (any unit; ns rounded down)."""
    unit = col.type.unit
    raw = np.asarray(col.cast(pa.timestamp(unit)).cast(pa.int64())).astype(np.int64)
    mul = {"s": 1_000_000, "ms": 1000, "us": 1}.get(unit)
    return raw * mul if mul is not None else np.floor_divide(raw, 1000)


def local_us(col: pa.Array | pa.ChunkedArray, tz: str) -> npt.NDArray[np.int64]:
    if tz == "UTC":
        return us_of(col)
    local = pc.local_timestamp(col.cast(pa.timestamp(col.type.unit, tz=tz)))
    return us_of(local)


def day_of(ts_us: npt.NDArray[np.int64], tz: str) -> npt.NDArray[np.int64]:
    col = pa.array(ts_us, pa.int64()).cast(pa.timestamp("us", tz="UTC"))
    return np.floor_divide(local_us(col, tz), US_PER_DAY)
