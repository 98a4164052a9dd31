"""Peer groups and "peers never do this" counts.

A peer group is department + role (from the employees table; actors that are not employees, such
as applications, form the group ``?``). :func:`peer_rare_counts` turns a long table
``(actor, day, key, n)`` (channels, datasets, districts, segments) into, per actor-day, the sum of
``n`` over keys that fewer than ``rare_share`` of the actor's *other* peers had used by that day
(so a group's first day is not all "rare"). Groups smaller than ``min_group`` are never rare:
there is no one to compare with.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

UNKNOWN_GROUP = "?"


def peer_groups(employees: pa.Table, actors: pa.Array) -> pa.Array:
    """``department/role`` of each actor, ``?`` for actors not in the employees table."""
    dept = employees.column("department").combine_chunks()
    role = employees.column("role").combine_chunks()
    label = pc.binary_join_element_wise(dept, role, "/")
    idx = pc.index_in(actors, value_set=employees.column("employee_id"))
    return pc.fill_null(pc.take(label, idx), UNKNOWN_GROUP)


def group_sizes(employees: pa.Table) -> dict[str, int]:
    groups = peer_groups(employees, employees.column("employee_id").combine_chunks())
    counts = pc.value_counts(groups).to_pylist()
    return {str(c["values"]): int(c["counts"]) for c in counts}


def peer_rare_counts(
    long: pa.Table,
    employees: pa.Table,
    rare_share: float,
    min_group: int,
) -> pa.Table:
    """``(actor, day, rare)``: per actor-day, the sum of ``n`` over peer-rare keys."""
    if long.num_rows == 0:
        return pa.table(
            {
                "actor": pa.array([], pa.string()),
                "day": pa.array([], pa.date32()),
                "rare": pa.array([], pa.int64()),
            }
        )
    actor = long.column("actor").combine_chunks()
    group = peer_groups(employees, actor)
    sizes = group_sizes(employees)
    size = np.array([sizes.get(g, 0) for g in group.to_pylist()], dtype=np.int64)
    key = long.column("key").combine_chunks()
    gk = pc.binary_join_element_wise(group, pc.cast(key, pa.string()), "\x1f")
    gk_code = np.asarray(pc.dictionary_encode(gk).indices).astype(np.int64)
    day = np.asarray(long.column("day").cast(pa.int32())).astype(np.int64)
    actor_code = np.asarray(pc.dictionary_encode(actor).indices).astype(np.int64)
    # first day each actor used each (group, key)
    first = (
        pa.table({"gk": gk_code, "actor": actor_code, "day": day})
        .group_by(["gk", "actor"])
        .aggregate([("day", "min")])
    )
    span = 1 << 24
    base = np.int64(1 << 20)  # day numbers are offset to stay positive
    f_key = np.sort(
        np.asarray(first.column("gk")).astype(np.int64) * span
        + base
        + np.asarray(first.column("day_min")).astype(np.int64)
    )
    q = gk_code * span + base + day
    users_by_then = np.searchsorted(f_key, q, side="right") - np.searchsorted(
        f_key, gk_code * span, side="left"
    )
    others = users_by_then - 1  # the actor itself used it by that day
    rare = (size >= min_group) & (others < rare_share * np.maximum(size - 1, 1))
    rare &= group.to_numpy(zero_copy_only=False) != UNKNOWN_GROUP
    n = np.asarray(long.column("n")).astype(np.int64)
    out = pa.table({"actor": actor, "day": long.column("day"), "rare": n * rare})
    return (
        out.group_by(["actor", "day"])
        .aggregate([("rare", "sum")])
        .rename_columns(["actor", "day", "rare"])
    )
