"""SQL sources: list every schema and table, count rows, sample cheaply or stream everything.

Sampling never sorts a big table: half the sample is the first rows (``LIMIT``), the other half
is spread over the table -- PostgreSQL ``TABLESAMPLE SYSTEM`` (block sampling, reads only the
chosen pages), SQLite ``ORDER BY random() LIMIT`` (a top-N sorter over the rowids, no full
sort), any other database only the first rows.  Tables no bigger than twice the sample are read
whole.  ``full`` streams every row with a server-side cursor in chunks.  On a cluster, a table
with an integer primary key is split into key ranges, one task each.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from leakwarden.scan.classify import Classifier, FindsPI, TypeLookup
from leakwarden.scan.problems import ProblemLog
from leakwarden.scan.tasks import Progress, RowSampler, ScanOptions, TableTask, TaskOutcome
from leakwarden.store.records import Location, ScanProblem, SourceKind

if TYPE_CHECKING:
    from sqlalchemy import Engine

_SYSTEM_SCHEMAS = {"information_schema", "pg_catalog", "pg_toast"}
STREAM_CHUNK = 5000


def public_url(url: str) -> str:
    """The URL as the inventory shows it: password removed (the store's one redaction)."""
    from leakwarden.store.db import redact_url

    return redact_url(url)


def _engine(url: str) -> Engine:
    """An engine for a scanned database (not the store): psycopg 3 for ``postgres://`` URLs, a
    connect timeout so an unreachable server fails in seconds."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    from leakwarden.store.db import PG_CONNECT_TIMEOUT, normalize_url

    u = make_url(normalize_url(url))
    kwargs: dict[str, Any] = {}
    if u.get_backend_name() == "postgresql" and "connect_timeout" not in u.query:
        kwargs["connect_args"] = {"connect_timeout": PG_CONNECT_TIMEOUT}
    return create_engine(u, **kwargs)


def _describe_error(exc: BaseException) -> str:
    """One line for a database error, without SQL parameters or connection secrets."""
    from sqlalchemy.exc import DBAPIError

    if isinstance(exc, DBAPIError) and exc.orig is not None:
        text = str(exc.orig).strip().splitlines()
        return text[0] if text else type(exc.orig).__name__
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def plan_tables(
    url: str, options: ScanOptions, *, partition: bool
) -> TaskOutcome | tuple[list[TableTask], list[ScanProblem]]:
    """Tasks for every table of every (non-system) schema and problems for what is not scanned
    (views), or an outcome naming why the database could not be read at all."""
    from sqlalchemy import inspect
    from sqlalchemy.exc import SQLAlchemyError

    source = public_url(url)
    try:
        engine = _engine(url)
    except (SQLAlchemyError, ImportError, ValueError) as exc:
        return _unreadable(source, f"bad database URL: {_describe_error(exc)}")
    tasks: list[TableTask] = []
    skipped: list[ScanProblem] = []
    try:
        # Autocommit: a count refused on one table must not abort the others' transaction.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            inspector = inspect(conn)
            dialect = engine.dialect.name
            schemas = [
                s
                for s in inspector.get_schema_names()
                if s not in _SYSTEM_SCHEMAS
                and not s.startswith("pg_temp")
                and not s.startswith("pg_toast")
            ]
            default = inspector.default_schema_name
            for schema in schemas:
                shown = None if (dialect == "sqlite" and schema == default) else schema
                for view in _views(inspector, schema):
                    name = f"{shown}.{view}" if shown else view
                    skipped.append(
                        ScanProblem(
                            Location(source, name),
                            "view not scanned: the tables it reads from are scanned instead",
                        )
                    )
                for table in inspector.get_table_names(schema=schema):
                    total = _row_count(conn, dialect, schema, table)
                    base = TableTask(source, url, shown, table, rows_total=total)
                    tasks.extend(
                        _partitions(conn, inspector, base, schema, options) if partition else [base]
                    )
    except SQLAlchemyError as exc:
        return _unreadable(source, f"cannot read database: {_describe_error(exc)}")
    finally:
        engine.dispose()
    return tasks, skipped


def _views(inspector: Any, schema: str) -> list[str]:
    names = list(inspector.get_view_names(schema=schema))
    with contextlib.suppress(NotImplementedError):
        names += inspector.get_materialized_view_names(schema=schema)
    return sorted(names)


def _unreadable(source: str, reason: str) -> TaskOutcome:
    outcome = TaskOutcome(source, unreadable=True)
    outcome.problems.append(ScanProblem(Location(source, ""), reason, "connect"))
    return outcome


def _quoted(conn: Any, schema: str | None, table: str) -> str:
    prep = conn.dialect.identifier_preparer
    name = prep.quote(table)
    return f"{prep.quote_schema(schema)}.{name}" if schema else name


def _row_count(conn: Any, dialect: str, schema: str, table: str) -> int | None:
    """Rows in a table: PostgreSQL's planner estimate when it is large (no 10 M-row count),
    an exact ``count(*)`` otherwise; ``None`` when it cannot be read (reported later)."""
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    try:
        if dialect == "postgresql":
            estimate = conn.execute(
                text(
                    "SELECT c.reltuples::bigint FROM pg_class c JOIN pg_namespace n "
                    "ON n.oid = c.relnamespace WHERE n.nspname = :s AND c.relname = :t"
                ),
                {"s": schema, "t": table},
            ).scalar()
            if estimate is not None and estimate > 1_000_000:
                return int(estimate)
        count = conn.execute(text(f"SELECT count(*) FROM {_quoted(conn, schema, table)}"))
        return int(count.scalar() or 0)
    except SQLAlchemyError:
        return None


def _partitions(
    conn: Any, inspector: Any, base: TableTask, schema: str, options: ScanOptions
) -> list[TableTask]:
    """Split a big table with a single integer primary key into key ranges."""
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    total = base.rows_total or 0
    if total <= options.partition_rows:
        return [base]
    pk = inspector.get_pk_constraint(base.table, schema=schema).get("constrained_columns") or []
    if len(pk) != 1:
        return [base]
    columns = {c["name"]: c for c in inspector.get_columns(base.table, schema=schema)}
    python_type: type | None
    try:
        python_type = columns[pk[0]]["type"].python_type
    except (NotImplementedError, KeyError):
        python_type = None
    if python_type is not int:
        return [base]
    key = conn.dialect.identifier_preparer.quote(pk[0])
    try:
        low, high = conn.execute(
            text(f"SELECT min({key}), max({key}) FROM {_quoted(conn, schema, base.table)}")
        ).one()
    except SQLAlchemyError:
        return [base]
    if low is None:
        return [base]
    parts = max(1, -(-total // options.partition_rows))
    step = max(1, -(-(high - low + 1) // parts))
    per_part = max(1, -(-options.sample // parts))
    out = []
    for part, lo in enumerate(range(low, high + 1, step)):
        out.append(
            TableTask(
                base.source,
                base.url,
                base.schema,
                base.table,
                pk[0],
                lo,
                lo + step,
                base.rows_total,
                per_part,
                part,
            )
        )
    return out


def _select(conn: Any, task: TableTask, schema: str | None, columns: Sequence[str]) -> str:
    prep = conn.dialect.identifier_preparer
    cols = ", ".join(prep.quote(c) for c in columns)
    return f"SELECT {cols} FROM {_quoted(conn, schema, task.table)}"


def _where(conn: Any, task: TableTask) -> tuple[str, dict[str, int]]:
    if task.key is None or task.low is None or task.high is None:
        return "", {}
    key = conn.dialect.identifier_preparer.quote(task.key)
    return f" WHERE {key} >= :lo AND {key} < :hi", {"lo": task.low, "hi": task.high}


def _sample_rows(
    conn: Any,
    task: TableTask,
    schema: str | None,
    columns: Sequence[str],
    n: int,
    options: ScanOptions,
) -> Iterator[Sequence[Any]]:
    """The rows to classify on (see the module docstring for the sampling rule)."""
    from sqlalchemy import text

    base = _select(conn, task, schema, columns)
    where, params = _where(conn, task)
    total = task.rows_total
    if options.full:
        streaming = conn.execution_options(stream_results=True, yield_per=STREAM_CHUNK)
        yield from streaming.execute(text(base + where), params)
        return
    if task.key is not None:  # one key range of a partitioned table: its first rows
        yield from conn.execute(text(f"{base}{where} LIMIT {int(n)}"), params)
        return
    if total is None or total <= 2 * n:
        yield from conn.execute(text(f"{base} LIMIT {2 * int(n)}"))
        return
    head = n // 2
    rest = n - head
    yield from conn.execute(text(f"{base} LIMIT {int(head)}"))
    dialect = conn.dialect.name
    if dialect == "postgresql":
        # Pages enough for ~4x the rows wanted; SYSTEM reads only the chosen pages.
        percent = min(100.0, max(0.0001, 100.0 * rest * 4 / max(total, 1)))
        yield from conn.execute(
            text(
                f"{base} TABLESAMPLE SYSTEM ({percent:.6f}) REPEATABLE ({int(options.seed)}) "
                f"LIMIT {int(rest)}"
            )
        )
    elif dialect == "sqlite":
        yield from conn.execute(text(f"{base} ORDER BY random() LIMIT {int(rest)}"))
    else:
        yield from conn.execute(text(f"{base} LIMIT {int(n)} OFFSET {int(head)}"))


def scan_table(
    task: TableTask,
    detector: FindsPI,
    lookup: TypeLookup,
    options: ScanOptions,
    progress: Progress | None = None,
) -> TaskOutcome:
    """Sample (or stream) one table or key range; every failure becomes a problem."""
    from sqlalchemy import inspect
    from sqlalchemy.exc import SQLAlchemyError

    outcome = TaskOutcome(task.source)
    log = ProblemLog(options.problem_limit)
    location = Location(task.source, task.container)
    classifier = Classifier(detector, lookup)
    n = task.sample if task.sample is not None else options.sample
    sampler = RowSampler(classifier, n, full=True, row_cap=options.row_cap)
    position = "table " + task.container
    if task.key is not None:
        position += f" {task.key} in [{task.low}, {task.high})"
    try:
        engine = _engine(task.url)
    except (SQLAlchemyError, ImportError, ValueError) as exc:
        log.add(location, f"cannot connect: {_describe_error(exc)}", position)
        outcome.problems = log.close()
        return outcome
    try:
        with engine.connect() as conn:
            schema = task.schema
            columns_info = inspect(conn).get_columns(task.table, schema=schema)
            columns: list[str] = []
            for col in columns_info:
                try:
                    python_type = col["type"].python_type
                except NotImplementedError:
                    python_type = object
                if python_type in (bytes, bytearray, memoryview):
                    if task.part == 0:
                        log.add(
                            Location(task.source, task.container, col["name"]),
                            f"binary column ({col['type']}) not scanned",
                            "table " + task.container,
                        )
                    continue
                columns.append(col["name"])
            if columns:
                row_number = 0
                try:
                    for row in _sample_rows(conn, task, schema, columns, n, options):
                        row_number += 1
                        sampler.add_row(
                            (name, _text(value))
                            for name, value in zip(columns, row, strict=True)
                            if value is not None and not isinstance(value, bool | bytes)
                        )
                        if progress is not None and row_number % 1000 == 0:
                            progress(task.container, 1000, "rows")
                except SQLAlchemyError as exc:
                    log.add(
                        location,
                        f"cannot read table: {_describe_error(exc)}",
                        f"{position}, row {row_number + 1}",
                    )
    except SQLAlchemyError as exc:
        log.add(location, f"cannot read table: {_describe_error(exc)}", position)
    finally:
        engine.dispose()
    stats = sampler.finish(task.container, SourceKind.DATABASE, task.rows_total)
    outcome.containers.append(stats)
    outcome.rows_scanned = stats.rows_scanned
    outcome.problems = log.close()
    return outcome


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dict | list):
        import json

        return json.dumps(value, ensure_ascii=False)
    return str(value)
