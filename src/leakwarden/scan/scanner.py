"""The scan as a whole: plan sources into tasks, run them here or on a Dask cluster, merge the
evidence of each container, decide, and return one ``ScanResult`` per source.

Sources are directory trees, single files, or SQLAlchemy database URLs.  A directory walk
skips nothing silently: unreadable folders, special files and symbolic links to folders are
reported as problems.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import stat
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from leakwarden.detect.model import PIType
from leakwarden.scan.classify import (
    FindsPI,
    TypeLookup,
    decide_fields,
    decide_text,
    registry_lookup,
)
from leakwarden.scan.tasks import (
    ContainerStats,
    FileTask,
    Progress,
    ScanOptions,
    Task,
    TaskOutcome,
    resolve,
)
from leakwarden.store.records import (
    InventoryEntry,
    Location,
    ScanProblem,
    ScanResult,
    SourceKind,
)

CLUSTER_CONNECT_TIMEOUT = 15  # seconds to reach a remote Dask scheduler


class ClusterUnavailable(RuntimeError):
    """The Dask scheduler named by ``--cluster`` cannot be reached; nothing was scanned."""


class ScanObserver:
    """Hears how a scan goes (the CLI draws a progress bar from it); does nothing by default."""

    def planned(self, tasks: int, total_bytes: int) -> None:
        """All sources are planned: ``tasks`` units of work, ``total_bytes`` of files."""

    def started(self, label: str) -> None:
        """A file or table is being read."""

    def advanced(self, label: str, amount: int, unit: str) -> None:
        """``amount`` more ``unit`` (``"bytes"`` of files, ``"rows"`` of tables) were read."""

    def finished(self, label: str, outcome: TaskOutcome) -> None:
        """A task is done."""


@dataclass
class SourcePlan:
    source: str
    kind: SourceKind
    tasks: list[Task] = field(default_factory=list)
    outcome: TaskOutcome | None = None  # problems found while planning


@dataclass
class ScanReport:
    """Everything one ``scan`` call found: a result per source and the sources it could not
    read at all (a missing path, an unreachable database)."""

    results: list[ScanResult]
    unreadable: list[str] = field(default_factory=list)

    @property
    def entries(self) -> list[InventoryEntry]:
        return [e for r in self.results for e in r.entries]

    @property
    def problems(self) -> list[ScanProblem]:
        return [p for r in self.results for p in r.problems]


def is_url(target: str) -> bool:
    return "://" in target


def _walk(root: Path, source: str, plan: SourcePlan) -> None:
    problems = plan.outcome = plan.outcome or TaskOutcome(source)

    def onerror(exc: OSError) -> None:
        where = os.path.relpath(exc.filename, root) if exc.filename else "."
        problems.problems.append(
            ScanProblem(Location(source, where), f"cannot list folder: {exc.strerror}")
        )

    for folder, dirs, files in os.walk(root, onerror=onerror, followlinks=False):
        dirs.sort()
        for name in list(dirs):
            full = os.path.join(folder, name)
            if os.path.islink(full):
                rel = os.path.relpath(full, root)
                problems.problems.append(
                    ScanProblem(
                        Location(source, rel),
                        "symbolic link to a folder not followed (scan its target directly)",
                    )
                )
        for name in sorted(files):
            full = os.path.join(folder, name)
            rel = os.path.relpath(full, root)
            try:
                mode = os.stat(full).st_mode
            except OSError as exc:
                problems.problems.append(
                    ScanProblem(Location(source, rel), f"cannot stat file: {exc.strerror}")
                )
                continue
            if not stat.S_ISREG(mode):
                problems.problems.append(
                    ScanProblem(Location(source, rel), "not a regular file (device, FIFO, socket)")
                )
                continue
            plan.tasks.append(FileTask(source, full, rel))


def plan_sources(
    targets: Sequence[str], options: ScanOptions, *, partition: bool = False
) -> list[SourcePlan]:
    """One plan per target: the files of a tree, or the tables (key ranges) of a database."""
    from leakwarden.scan.database import plan_tables, public_url

    plans: list[SourcePlan] = []
    for target in targets:
        if is_url(target):
            source = public_url(target)
            plan = SourcePlan(source, SourceKind.DATABASE)
            planned = plan_tables(target, options, partition=partition)
            if isinstance(planned, TaskOutcome):
                plan.outcome = planned
            else:
                plan.tasks = list(planned[0])
                if planned[1]:
                    plan.outcome = TaskOutcome(source, problems=list(planned[1]))
            plans.append(plan)
            continue
        path = Path(target).expanduser()
        source = str(path.resolve()) if path.exists() else str(path)
        plan = SourcePlan(source, SourceKind.FILE)
        if not path.exists():
            plan.outcome = TaskOutcome(source, unreadable=True)
            plan.outcome.problems.append(
                ScanProblem(Location(source, ""), "no such file or directory")
            )
        elif path.is_dir():
            _walk(path.resolve(), source, plan)
        elif path.is_file():
            plan.tasks.append(FileTask(source, str(path.resolve()), path.name))
        else:
            plan.outcome = TaskOutcome(source, unreadable=True)
            plan.outcome.problems.append(
                ScanProblem(Location(source, ""), "not a regular file or folder")
            )
        plans.append(plan)
    return plans


def run_task(
    task: Task,
    detector: FindsPI | None = None,
    types: Mapping[str, PIType] | None = None,
    options: ScanOptions | None = None,
    progress: Progress | None = None,
) -> TaskOutcome:
    """Run one task (here, or on a Dask worker, where ``detector=None`` loads the default)."""
    from leakwarden.scan.database import scan_table
    from leakwarden.scan.files import scan_file

    found, lookup = resolve(detector, types)
    opts = options or ScanOptions()
    if isinstance(task, FileTask):
        return scan_file(task, found, lookup, opts, progress)
    return scan_table(task, found, lookup, opts, progress)


def _label(task: Task) -> str:
    return task.container


def _run_local(
    tasks: Sequence[Task],
    detector: FindsPI | None,
    types: Mapping[str, PIType] | None,
    options: ScanOptions,
    observer: ScanObserver,
) -> Iterator[tuple[int, TaskOutcome]]:
    found, _ = resolve(detector, types)
    for index, task in enumerate(tasks):
        label = _label(task)
        observer.started(label)
        outcome = run_task(task, found, types, options, observer.advanced)
        observer.finished(label, outcome)
        yield index, outcome


def _run_dask(
    tasks: Sequence[Task],
    detector: FindsPI | None,
    types: Mapping[str, PIType] | None,
    options: ScanOptions,
    observer: ScanObserver,
    cluster: str,
    workers: int,
    processes: bool,
) -> Iterator[tuple[int, TaskOutcome]]:
    # distributed's own annotations are partial: use it through ``Any``.
    dist: Any = importlib.import_module("distributed")
    local: Any = None
    if cluster == "local":
        # Worker processes talk over loopback TCP; thread workers over in-process comms.
        extra: dict[str, Any] = {"host": "127.0.0.1"} if processes else {}
        local = dist.LocalCluster(
            n_workers=max(1, workers),
            threads_per_worker=1,
            processes=processes,
            dashboard_address=None,
            **extra,
        )
        client = dist.Client(local)
    else:
        try:
            client = dist.Client(cluster, timeout=CLUSTER_CONNECT_TIMEOUT)
        except (OSError, TimeoutError, ValueError) as exc:
            raise ClusterUnavailable(
                f"cannot reach the Dask scheduler at {cluster}: {exc}"
            ) from None
    try:
        futures = client.map(
            run_task,
            list(tasks),
            detector=detector,
            types=types,
            options=options,
            pure=False,
        )
        index_of = {f.key: i for i, f in enumerate(futures)}
        for future in dist.as_completed(futures):
            index = index_of[future.key]
            outcome = future.result()
            observer.finished(_label(tasks[index]), outcome)
            yield index, outcome
    finally:
        client.close()
        if local is not None:
            local.close()


def _entries(source: str, stats: ContainerStats, lookup: TypeLookup) -> Iterable[InventoryEntry]:
    decisions = (
        decide_text(stats.text, lookup)
        if stats.text is not None
        else decide_fields(stats.fields, lookup)
    )
    for d in decisions:
        pi_type = lookup(d.pi_type)
        sensitivity = str(pi_type.sensitivity) if pi_type is not None else "personal"
        yield InventoryEntry(
            Location(source, stats.container, d.field),
            d.pi_type,
            sensitivity,
            d.confidence,
            d.evidence,
            rows_scanned=stats.rows_scanned,
            rows_total=stats.rows_total,
            source_kind=stats.source_kind,
        )


def scan_sources(
    targets: Sequence[str],
    options: ScanOptions | None = None,
    *,
    detector: FindsPI | None = None,
    types: Mapping[str, PIType] | None = None,
    observer: ScanObserver | None = None,
    cluster: str | None = None,
    workers: int = 2,
    processes: bool = True,
) -> ScanReport:
    """Scan every target (folder, file or database URL) and decide what each container holds.

    ``cluster``: ``None`` runs here; ``"local"`` starts a Dask LocalCluster of ``workers``
    workers (``processes=False`` keeps them as threads); any other value is a scheduler
    address (``tcp://host:8786``).  The result does not depend on where it ran.
    """
    opts = options or ScanOptions()
    obs = observer or ScanObserver()
    started = datetime.now(UTC)
    plans = plan_sources(targets, opts, partition=cluster is not None)
    if cluster is not None:
        from leakwarden.scan.files import split_file_task

        for plan in plans:
            plan.tasks = [
                part
                for task in plan.tasks
                for part in (split_file_task(task, opts) if isinstance(task, FileTask) else [task])
            ]
    tasks: list[Task] = []
    owners: list[int] = []
    total_bytes = 0
    for number, plan in enumerate(plans):
        for task in plan.tasks:
            tasks.append(task)
            owners.append(number)
            if isinstance(task, FileTask) and task.start == 0:
                with contextlib.suppress(OSError):
                    total_bytes += os.path.getsize(task.path)
    obs.planned(len(tasks), total_bytes)
    if cluster is None:
        runs = _run_local(tasks, detector, types, opts, obs)
    else:
        runs = _run_dask(tasks, detector, types, opts, obs, cluster, workers, processes)
    outcomes: dict[int, TaskOutcome] = dict(runs)
    lookup = types.get if types is not None else registry_lookup()
    finished = datetime.now(UTC)
    report = ScanReport([])
    for number, plan in enumerate(plans):
        result = ScanResult(plan.source, started_at=started, finished_at=finished)
        if plan.outcome is not None:
            result.problems.extend(plan.outcome.problems)
            if plan.outcome.unreadable:
                report.unreadable.append(plan.source)
        merged: dict[str, ContainerStats] = {}
        for index, owner in enumerate(owners):
            if owner != number or index not in outcomes:
                continue
            outcome = outcomes[index]
            result.problems.extend(outcome.problems)
            result.bytes_scanned += outcome.bytes_scanned
            result.rows_scanned += outcome.rows_scanned
            for stats in outcome.containers:
                if stats.container in merged:
                    merged[stats.container].merge(stats)
                else:
                    merged[stats.container] = stats
            task = tasks[index]
            if isinstance(task, FileTask) and task.container not in result.containers:
                result.containers.append(task.container)
        for name in sorted(merged):
            if name not in result.containers:
                result.containers.append(name)
            result.entries.extend(_entries(plan.source, merged[name], lookup))
        result.entries.sort(key=lambda e: (e.location.container, e.location.field, e.pi_type))
        result.containers_scanned = len(merged)
        report.results.append(result)
    return report
