"""Rewriting SQL tables (any SQLAlchemy URL) with protected columns, in resumable chunks.

Two output modes:

``columns``
    In place: each ruled column ``c`` gets a new text column ``c_protected`` (``ALTER TABLE``),
    filled chunk by chunk; the clear column is left for the owner to drop when ready.
``table``
    A new table (``<table>_protected`` unless named) with every column of the source, the ruled
    ones holding their protected form (as text).

Chunks follow the primary key (keyset pagination: ``WHERE pk > last ORDER BY pk LIMIT n``), each
in its own transaction, so a stopped run keeps what it committed and a re-run continues: in
``columns`` mode only rows whose ``c_protected`` is still NULL (and ``c`` is not) are read; in
``table`` mode the copy starts after the largest key already copied.  A finished table re-run
does nothing.  A table without a primary key is read by ``rowid`` on SQLite (``columns`` mode)
and refused elsewhere, with the reason.

What was written with which operator is kept in a small table in the same database,
``leakwarden_protect_log`` (one row per output column), so that a re-run with different rules
is refused instead of leaving columns protected two different ways, and an existing column
called ``c_protected`` that leakwarden did not make is never written over.

Rows changed in the source after they were protected are not noticed (their ``_protected``
value is kept); clear the output column (set it to NULL) to have them redone.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from leakwarden.protect._cells import ColumnCounts, ColumnProtector, RewriteError
from leakwarden.protect.rules import OutputMode, Rule

if TYPE_CHECKING:
    from sqlalchemy import Column, Table
    from sqlalchemy.engine import Connection, Engine

    from leakwarden.protect.rewrite_files import OperatorFactory

__all__ = ["LOG_TABLE", "SUFFIX", "TableResult", "protect_table"]

SUFFIX = "_protected"
LOG_TABLE = "leakwarden_protect_log"
CHUNK_ROWS = 5_000
#: Told (rows done this run, rows in the table) after each chunk.
TableProgress = Callable[[int, int | None], None]


@dataclass
class TableResult:
    """What one table's rewrite did."""

    url: str  # password removed
    table: str
    output: str
    mode: str
    status: str  # protected | unchanged (nothing left to do)
    rows: int = 0  # rows written this run
    chunks: int = 0
    seconds: float = 0.0
    columns: list[ColumnCounts] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": "table",
            "url": self.url,
            "table": self.table,
            "output": self.output,
            "mode": self.mode,
            "status": self.status,
            "rows": self.rows,
            "chunks": self.chunks,
            "seconds": round(self.seconds, 3),
            "columns": [c.as_dict() for c in self.columns],
            "notes": list(self.notes),
        }


def protect_table(
    target: str | Engine,
    table: str,
    rules: Sequence[Rule],
    make_operator: OperatorFactory,
    *,
    mode: OutputMode = "columns",
    to_table: str | None = None,
    rules_digest: str = "",
    chunk_rows: int = CHUNK_ROWS,
    progress: TableProgress | None = None,
    count_rows: bool = False,
) -> TableResult:
    """Protect the columns ``rules`` name in ``table`` of the database at ``target``.

    Raises :class:`~leakwarden.protect._cells.RewriteError` (``BadValueError`` under the
    ``fail`` policy) naming the table, the row's key and the column; chunks committed before
    stay committed and a re-run continues after them.
    """
    from sqlalchemy import func, select
    from sqlalchemy.exc import SQLAlchemyError

    from leakwarden.store.db import make_engine, redact_url

    if not rules:
        raise RewriteError(f"table {table}: no rule names a column of it")
    if mode not in ("columns", "table"):
        raise RewriteError(f"unknown output mode {mode!r} (columns or table)")
    engine = make_engine(target) if isinstance(target, str) else target
    owned = isinstance(target, str)
    shown = redact_url(engine.url.render_as_string(hide_password=True))
    started = time.perf_counter()
    try:
        source = _reflect(engine, table)
        missing = [r.column for r in rules if r.column not in source.c]
        if missing:
            raise RewriteError(
                f"table {table}: no column {missing[0]!r}; columns: {', '.join(source.c.keys())}"
            )
        operators = {r.operator: make_operator(r.operator) for r in rules}
        protectors = [ColumnProtector(r, operators[r.operator], f"table {table}") for r in rules]
        total = None
        if count_rows:
            with engine.connect() as conn:
                total = int(conn.execute(select(func.count()).select_from(source)).scalar_one())
        if mode == "columns":
            result = _into_columns(
                engine, source, table, protectors, rules_digest, chunk_rows, progress, total
            )
        else:
            result = _into_table(
                engine,
                source,
                table,
                to_table or f"{source.name}{SUFFIX}",
                protectors,
                rules_digest,
                chunk_rows,
                progress,
                total,
            )
        result.url = shown
        result.columns = [p.counts for p in protectors]
        result.seconds = time.perf_counter() - started
        return result
    except SQLAlchemyError as exc:
        # SQLAlchemy's own message carries the statement's parameters (row values): never shown.
        raise RewriteError(f"table {table}: database error: {_db_reason(exc)}") from None
    finally:
        if owned:
            engine.dispose()


def _db_reason(exc: BaseException) -> str:
    """The driver's first message line (PostgreSQL puts values in DETAIL lines, left out)."""
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip().splitlines()
    first = text[0] if text and orig is not exc else ""
    return f"{type(orig).__name__}: {first}" if first else type(orig).__name__


def _split(table: str) -> tuple[str | None, str]:
    schema, _, name = table.rpartition(".")
    return (schema or None), name


def _reflect(engine: Engine, table: str) -> Table:
    from sqlalchemy import MetaData, Table, inspect
    from sqlalchemy.exc import NoSuchTableError

    schema, name = _split(table)
    try:
        return Table(name, MetaData(), schema=schema, autoload_with=engine)
    except NoSuchTableError:
        known = inspect(engine).get_table_names(schema=schema)
        raise RewriteError(
            f"no table {table!r} in the database; tables: {', '.join(known) or 'none'}"
        ) from None


def _key(engine: Engine, source: Table, table: str) -> list[Any]:
    """The columns to page by: the primary key, or SQLite's rowid."""
    from sqlalchemy import literal_column

    pk = list(source.primary_key.columns)
    if pk:
        return pk
    if engine.dialect.name == "sqlite":
        return [literal_column("rowid").label("rowid")]
    raise RewriteError(
        f"table {table} has no primary key: protect works in resumable chunks ordered by the "
        "key; add a primary key (or a unique NOT NULL column made the key) and run again"
    )


def _after(key: list[Any], last: tuple[Any, ...] | None) -> Any:
    from sqlalchemy import true, tuple_

    if last is None:
        return true()
    if len(key) == 1:
        return _bare(key[0]) > last[0]
    return tuple_(*key) > tuple_(*last)


def _bare(col: Any) -> Any:
    """A labelled rowid column as a plain expression for WHERE clauses."""
    element = getattr(col, "element", None)
    return element if element is not None else col


def _label_at(key: list[Any], labels: list[tuple[Any, ...]], i: int) -> str:
    return _row_label(key, labels[i])


def _row_label(key: list[Any], values: Sequence[Any]) -> str:
    names = [getattr(k, "name", "key") for k in key]
    return "row " + ", ".join(f"{n}={v}" for n, v in zip(names, values, strict=True))


# -- the log of what was written how ---------------------------------------------------------


def _log_table() -> Table:
    from sqlalchemy import Column, MetaData, String, Table

    return Table(
        LOG_TABLE,
        MetaData(),
        Column("source_table", String(255), primary_key=True),
        Column("output", String(255), primary_key=True),
        Column("source_column", String(255), primary_key=True),
        Column("operator", String(255), nullable=False),
        Column("type_id", String(64), nullable=True),
        Column("key_version", String(64), nullable=True),
        Column("rules_sha256", String(64), nullable=False),
    )


def _check_log(
    conn: Connection,
    table: str,
    output: str,
    protectors: list[ColumnProtector],
    digest: str,
    existing: set[str],
) -> None:
    """Refuse outputs made with other rules, or not made by leakwarden; record ours."""
    from sqlalchemy import insert, select

    log = _log_table()
    log.create(conn, checkfirst=True)
    rows = conn.execute(
        select(log).where(log.c.source_table == table, log.c.output == output)
    ).mappings()
    known = {r["source_column"]: r for r in rows}
    for p in protectors:
        rule = p.rule
        out_name = output if output != table else f"{rule.column}{SUFFIX}"
        previous = known.get(rule.column)
        if previous is None:
            if out_name in existing and output == table:
                raise RewriteError(
                    f"table {table} already has a column {out_name!r} that leakwarden protect "
                    "did not write; rename it, or drop it if it is a leftover"
                )
            conn.execute(
                insert(log).values(
                    source_table=table,
                    output=output,
                    source_column=rule.column,
                    operator=rule.operator,
                    type_id=rule.type_id,
                    key_version=_version(p),
                    rules_sha256=digest,
                )
            )
            continue
        was = (previous["operator"], previous["type_id"], previous["key_version"])
        now = (rule.operator, rule.type_id, _version(p))
        if was != now:
            raise RewriteError(
                f"{output if output != table else table + '.' + out_name} was written with "
                f"operator {was[0]} (type {was[1]}, key version {was[2]}), the rules now say "
                f"{now[0]} (type {now[1]}, key version {now[2]}); drop the output to redo it"
            )


def _version(p: ColumnProtector) -> str | None:
    from leakwarden.protect.rewrite_files import key_version

    v = key_version(p.operator)
    return None if v is None else str(v)


# -- columns mode ----------------------------------------------------------------------------


def _into_columns(
    engine: Engine,
    source: Table,
    table: str,
    protectors: list[ColumnProtector],
    digest: str,
    chunk_rows: int,
    progress: TableProgress | None,
    total: int | None,
) -> TableResult:
    from sqlalchemy import Text, and_, bindparam, or_, select, text, update

    key = _key(engine, source, table)
    quote = engine.dialect.identifier_preparer.quote
    existing = set(source.c.keys())
    with engine.begin() as conn:
        _check_log(conn, table, table, protectors, digest, existing)
        for p in protectors:
            out = f"{p.rule.column}{SUFFIX}"
            if out not in existing:
                conn.execute(
                    text(
                        f"ALTER TABLE {_qualified(engine, source)} ADD COLUMN {quote(out)} "
                        f"{Text().compile(dialect=engine.dialect)}"
                    )
                )
    source = _reflect(engine, table)
    key = _key(engine, source, table)
    pairs = [(source.c[p.rule.column], source.c[f"{p.rule.column}{SUFFIX}"]) for p in protectors]
    pending = or_(*[and_(out.is_(None), src.is_not(None)) for src, out in pairs])
    cols = [c for pair in pairs for c in pair]
    result = TableResult("", table, ", ".join(o.name for _, o in pairs), "columns", "unchanged")
    key_params: list[Any] = [bindparam(f"_k{i}") for i in range(len(key))]
    stmt = update(source).where(
        and_(*[_bare(k) == b for k, b in zip(key, key_params, strict=True)])
    )
    last: tuple[Any, ...] | None = None
    while True:
        with engine.begin() as conn:
            rows = conn.execute(
                select(*key, *cols)
                .where(pending, _after(key, last))
                .order_by(*[_bare(k) for k in key])
                .limit(chunk_rows)
            ).all()
            if not rows:
                break
            nk = len(key)
            labels = [tuple(row[:nk]) for row in rows]
            found: dict[int, dict[int, str | None]] = {}
            for j, p in enumerate(protectors):
                waiting = [
                    i
                    for i, row in enumerate(rows)
                    if row[nk + 2 * j + 1] is None and row[nk + 2 * j] is not None
                ]
                protected = p.many(
                    [rows[i][nk + 2 * j] for i in waiting],
                    partial(_label_at, key, [labels[i] for i in waiting]),
                )
                found[j] = dict(zip(waiting, protected, strict=True))
            params: dict[tuple[int, ...], list[dict[str, Any]]] = {}
            for i, keys in enumerate(labels):
                todo = tuple(j for j in range(len(protectors)) if i in found[j])
                values: dict[str, Any] = {f"_k{n}": v for n, v in enumerate(keys)}
                for j in todo:
                    values[f"_v{j}"] = found[j][i]
                params.setdefault(todo, []).append(values)
            for columns, batch in params.items():
                if not columns:
                    continue
                conn.execute(
                    stmt.values({pairs[j][1].name: bindparam(f"_v{j}") for j in columns}), batch
                )
            last = tuple(rows[-1][: len(key)])
        result.rows += len(rows)
        result.chunks += 1
        result.status = "protected"
        if progress is not None:
            progress(result.rows, total)
    return result


def _qualified(engine: Engine, source: Table) -> str:
    quote = engine.dialect.identifier_preparer.quote
    name = quote(source.name)
    return f"{quote(source.schema)}.{name}" if source.schema else name


# -- table mode ------------------------------------------------------------------------------


def _into_table(
    engine: Engine,
    source: Table,
    table: str,
    to_table: str,
    protectors: list[ColumnProtector],
    digest: str,
    chunk_rows: int,
    progress: TableProgress | None,
    total: int | None,
) -> TableResult:
    from sqlalchemy import Column, MetaData, Table, Text, insert, inspect, select

    key = list(source.primary_key.columns)
    if not key:
        raise RewriteError(
            f"table {table} has no primary key: a protected copy is made in resumable chunks "
            "ordered by the key; add one, or use output 'columns' (SQLite pages by rowid)"
        )
    schema, name = _split(to_table)
    schema = schema or source.schema
    ruled = {p.rule.column: p for p in protectors}
    columns: list[Column[Any]] = [
        Column(
            c.name,
            Text() if c.name in ruled else c.type,
            primary_key=c.primary_key,
            nullable=not c.primary_key,
            autoincrement=False,
        )
        for c in source.columns
    ]
    out = Table(name, MetaData(), *columns, schema=schema)
    shown = f"{schema}.{name}" if schema else name
    exists = inspect(engine).has_table(name, schema=schema)
    with engine.begin() as conn:
        _check_log(conn, table, shown, protectors, digest, set())
        if not exists:
            out.create(conn)
    if exists:
        have = set(_reflect(engine, shown).c.keys())
        if have != set(source.c.keys()):
            raise RewriteError(
                f"table {shown} exists with other columns than {table}; drop it or name "
                "another output table"
            )
    result = TableResult("", table, shown, "table", "unchanged")
    with engine.connect() as conn:
        row = conn.execute(
            select(*[out.c[k.name] for k in key])
            .order_by(*[out.c[k.name].desc() for k in key])
            .limit(1)
        ).first()
    last: tuple[Any, ...] | None = tuple(row) if row is not None else None
    if last is not None:
        result.notes.append(f"continued after {_row_label(key, last)}")
    names = [c.name for c in source.columns]
    plan = [(names.index(p.rule.column), p) for p in protectors]
    nk = len(key)
    while True:
        with engine.begin() as conn:
            rows = conn.execute(
                select(*key, *source.columns)
                .where(_after(key, last))
                .order_by(*key)
                .limit(chunk_rows)
            ).all()
            if not rows:
                break
            batch = [dict(zip(names, r[nk:], strict=True)) for r in rows]
            where = partial(_label_at, key, [tuple(r[:nk]) for r in rows])
            for i, p in plan:
                protected = p.many([r[nk + i] for r in rows], where)
                for record, value in zip(batch, protected, strict=True):
                    record[names[i]] = value
            conn.execute(insert(out), batch)
            last = tuple(rows[-1][:nk])
        result.rows += len(rows)
        result.chunks += 1
        result.status = "protected"
        if progress is not None:
            progress(result.rows, total)
    return result
