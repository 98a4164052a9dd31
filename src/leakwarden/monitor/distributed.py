"""The batch detector on Dask: stage one per actor partition on the workers, stage two on the
client.

Stage one (events to per actor-day aggregates, :mod:`leakwarden.monitor.features`) is where the
events are read; it needs nothing outside one actor's events (and the context), so partitions
that split the actors (:func:`partition_of`, a stable hash of the actor) run independently and
their aggregates concatenate. Stage two (baselines across peers, scores, the budget) reads only
those aggregates, a few rows per actor-day, and runs where :func:`run_monitor_dask` is called.

Partitions are tables or Parquet paths (read on the worker); :func:`write_partitions` splits a
time-ordered event stream into ``n`` Parquet files by actor, each still in time order.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from leakwarden.monitor.config import Disposition, MonitorConfig, MonitorResult
from leakwarden.monitor.events import EVENT_SCHEMA, Context
from leakwarden.monitor.features import Aggregates, build_aggregates, iter_batches


def partition_of(actors: pa.Array | pa.ChunkedArray, n: int) -> np.ndarray:
    """The partition (0..n-1) of each actor: CRC-32 of the name, modulo ``n``."""
    if n < 1:
        raise ValueError(f"partitions must be >= 1, got {n}")
    enc = pc.dictionary_encode(actors)
    if isinstance(enc, pa.ChunkedArray):
        enc = enc.combine_chunks()
    parts = np.array(
        [zlib.crc32(str(a).encode()) % n for a in enc.dictionary.to_pylist()], dtype=np.int64
    )
    return parts[np.asarray(enc.indices)] if len(parts) else np.zeros(0, dtype=np.int64)


def write_partitions(
    events: pa.Table | Iterable[pa.RecordBatch], folder: Path, n: int
) -> list[Path]:
    """Split events into ``folder/part-<i>.parquet`` by actor; the paths, one per partition."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"part-{i:04d}.parquet" for i in range(n)]
    writers = [pq.ParquetWriter(p, EVENT_SCHEMA) for p in paths]
    try:
        for batch in iter_batches(events):
            tbl = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
            part = partition_of(tbl.column("actor"), n)
            for i in np.unique(part):
                writers[int(i)].write_table(
                    tbl.filter(pa.array(part == i)).select(EVENT_SCHEMA.names)
                )
    finally:
        for w in writers:
            w.close()
    return paths


def _stage_one(part: pa.Table | str, context: Context, config: MonitorConfig) -> Aggregates:
    if isinstance(part, str):
        part = pq.read_table(part, schema=EVENT_SCHEMA)
    return build_aggregates(part, context, config)


def run_monitor_dask(
    client: Any,
    partitions: Sequence[pa.Table | str | Path],
    context: Context,
    config: MonitorConfig | None = None,
    *,
    dispositions: Iterable[Disposition] = (),
) -> MonitorResult:
    """:func:`~leakwarden.monitor.detector.run_monitor` over actor partitions on a
    ``dask.distributed`` client (each actor's events in one partition only); with ``client``
    None, the partitions run one after the other in this process, which bounds memory by the
    largest partition."""
    from leakwarden.monitor.detector import result_from_aggregates

    cfg = config or MonitorConfig()
    parts = [str(p) if isinstance(p, Path) else p for p in partitions]
    if not parts:
        raise ValueError("run_monitor_dask: no partitions")
    if client is None:
        agg = Aggregates.concat(_stage_one(p, context, cfg) for p in parts)
    else:
        ctx = client.scatter(context, broadcast=True)
        futures = client.map(_stage_one, parts, context=ctx, config=cfg, pure=False)
        agg = Aggregates.concat(client.gather(futures))
    ad = agg.actor_day
    if ad.group_by(["actor", "day"]).aggregate([]).num_rows != ad.num_rows:
        raise ValueError("run_monitor_dask: an actor's events are in more than one partition")
    return result_from_aggregates(agg, context, cfg, dispositions)
