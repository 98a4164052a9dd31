"""SQL through the gateway: parse a caller's query, deny what is unknown, and rewrite every table
into a masked, row-filtered subquery so masks follow the data wherever the query takes it.

Archery and Yearning mask *output columns by name*, so ``CONCAT('', mobile)`` or ``mobile + 1``
walked past them.  Here the masking happens *before* the query sees the data: every base-table
reference (FROM, JOIN, subqueries, CTE bodies, UNION branches, EXISTS / IN / scalar subqueries)
becomes ``(SELECT <treated columns> FROM <table> WHERE <row filter>) AS <same alias>``, where a
MASKED column is already an SQL mask expression (:mod:`leakwarden.gateway.sql_masks`), a DENIED
or PSEUDONYMISED column is absent, and a CLEAR column is itself.  Whatever the query computes from
a masked column (aliases, CAST, CASE, SUBSTR, ``||``, CONCAT, arithmetic, UNION) is computed from
the masked value.

Denied outright, each with :class:`QueryDenied` naming the reason and, where sqlglot knows it, the
line and column: parse failures; more than one statement; anything but a SELECT (``SELECT ...
INTO``, COPY, ATTACH, PRAGMA, DDL, DML); tables the catalogue does not know, schema-qualified
tables (``information_schema``, ``pg_catalog``, ``sqlite_master`` ...); table-valued functions,
LATERAL and UNNEST; functions outside an allow-list (``load_extension``, ``pg_read_file``,
``lo_export``, ``dblink`` ...); bind parameters; references to DENIED or PSEUDONYMISED columns
(the SQL path cannot pseudonymise: the record endpoints do that with ``leakwarden.protect``);
and filters, joins, grouping, ordering and window partitions on values the caller may only see
masked (a ``LIKE '1381%'`` probe would silently match nothing on the masked value; refusing it
tells the caller why).

CTE names are resolved with sqlglot's scope analysis: in ``WITH customers AS (SELECT * FROM
customers) SELECT * FROM customers`` the outer ``customers`` is the CTE and the inner one is the
real table, which is wrapped.  A final check refuses the query if any table node was left
neither wrapped nor resolved to a CTE.

Row filters: ``Decision.row_filter`` becomes the subquery's WHERE.  ``{"region": R}`` keeps the
rows of customers whose region (province + city, or the city alone for municipalities, as in
``employees.region`` and ``records.customer_region``) is R, reaching other tables through the
catalogue's customer keys (``orders.customer_id``, ``waybills`` via ``orders``);
``{"customer_ids": "3,5,8"}`` (or a list) keeps those customers' rows; a key that is a column of
the table compares that column.  A filter that cannot be applied (a table without customer key,
an unknown key) refuses the query.

Pseudonymised columns are not computed in SQL: SQLite has no keyed hash, PostgreSQL's needs
pgcrypto and the key inside the database, and an unkeyed hash of a phone number is reversible
by enumeration.  By default they are refused and ``SELECT *`` leaves them out.  A caller that
pseudonymises result columns itself (with ``leakwarden.protect``'s HMAC operator) passes
``pseudonymise=True``: such a column may then only be selected as it is (directly or through
derived tables and CTEs), and ``Rewritten.pseudonymised`` names the output positions to
pseudonymise before release.

Rewrites are memoised (the last 512, per query text, dialect, catalogue and ``pseudonymise``)
with the decisions they were made under: a repeated query asks ``decide`` again for the same
tables and columns, and the memo is used only when every decision is equal to the recorded one
(a rewrite is a function of the query, the catalogue and those decisions alone); any other
answer, or an exception, rewrites from scratch.  Parsing and qualifying with sqlglot is the
SQL path's largest cost (milliseconds per pass), and applications repeat their queries.

The fingerprint binds export approvals to a query: SHA-256 of the query normalised by sqlglot
(identifiers case-normalised, comments dropped, every literal replaced by a placeholder), so the
same query with other literals has the same fingerprint and ``Rewritten.parameters`` lists the
literals in order.
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import sqlglot
from sqlglot import exp
from sqlglot.errors import OptimizeError, ParseError, SqlglotError
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import Scope, traverse_scope

from leakwarden.gateway.catalog import Catalog, TableInfo, UnknownTable
from leakwarden.gateway.decision import Decision, Treatment
from leakwarden.gateway.sql_masks import TEXT_TYPE, mask_expression

__all__ = [
    "ALLOWED_FUNCTIONS",
    "DIALECTS",
    "PseudonymColumn",
    "QueryDenied",
    "Rewritten",
    "SqlPosition",
    "fingerprint",
    "rewrite",
]

Decide = Callable[[str, list[str]], Decision]

# Dialect names accepted -> sqlglot's names.
DIALECTS: Mapping[str, str] = {
    "sqlite": "sqlite",
    "postgres": "postgres",
    "postgresql": "postgres",
}

# Functions a query may call, as sqlglot expression classes (sqlglot parses known functions into
# their own classes, so ``SUBSTR``/``SUBSTRING`` are one class and a dialect's spelling does not
# matter).  Everything else, and every function sqlglot does not know (exp.Anonymous), is denied.
ALLOWED_FUNCTIONS: frozenset[type[exp.Func]] = frozenset(
    {
        # aggregates
        exp.Count,
        exp.Sum,
        exp.Avg,
        exp.Min,
        exp.Max,
        exp.GroupConcat,
        # conditionals and casts
        exp.Case,
        exp.If,
        exp.Coalesce,
        exp.Nullif,
        exp.Cast,
        exp.TryCast,
        exp.Greatest,
        exp.Least,
        # strings
        exp.Concat,
        exp.ConcatWs,
        exp.Substring,
        exp.Length,
        exp.Lower,
        exp.Upper,
        exp.Trim,
        exp.StrPosition,
        exp.Replace,
        exp.Left,
        exp.Right,
        # numbers
        exp.Abs,
        exp.Round,
        exp.Floor,
        exp.Ceil,
        # dates
        exp.CurrentDate,
        exp.CurrentTimestamp,
        exp.Extract,
        exp.TimeToStr,
        exp.TsOrDsToTimestamp,
        exp.DateTrunc,
        exp.TimestampTrunc,
        # operators and predicates that sqlglot models as functions
        exp.And,
        exp.Or,
        exp.Xor,
        exp.Pow,
        exp.RowNumber,
        exp.Rank,
        exp.DenseRank,
        exp.Exists,
    }
)

# Nodes that are never allowed anywhere in a query.
_FORBIDDEN_NODES: tuple[type[exp.Expr], ...] = (
    exp.Into,
    exp.Lateral,
    exp.Unnest,
    exp.Placeholder,
    exp.Parameter,
    exp.SessionParameter,
    exp.Lock,
    exp.Command,
    exp.Pivot,
)

# Schemas of the databases' own catalogues, named in the message when a query reaches for them.
_SYSTEM_SCHEMAS = frozenset({"information_schema", "pg_catalog", "pg_toast", "sqlite_schema"})
_SYSTEM_TABLES = frozenset(
    {"sqlite_master", "sqlite_schema", "sqlite_temp_master", "sqlite_sequence"}
)

_WRAPPED = "leakwarden_wrapped"
# The one column of a wrapped subquery that reads no column of its table (a NULL constant).
_NO_COLUMN = "_lw_no_column"

# Clauses whose use of a masked value is refused (filter, join, group, order, window).
_FILTER_CLAUSES: tuple[type[exp.Expr], ...] = (
    exp.Where,
    exp.Having,
    exp.Group,
    exp.Order,
    exp.Qualify,
    exp.Window,
)


@dataclass(frozen=True)
class SqlPosition:
    """Where in the query text: 1-based line and column, and the 0-based character offset."""

    line: int
    column: int
    offset: int | None = None

    def __str__(self) -> str:
        return f"line {self.line}, column {self.column}"


class QueryDenied(Exception):
    """The gateway refuses the query; ``reason`` says why, ``position`` where (or None)."""

    def __init__(self, reason: str, position: SqlPosition | None = None) -> None:
        self.reason = reason
        self.position = position
        super().__init__(f"{reason} (at {position})" if position else reason)


@dataclass(frozen=True)
class PseudonymColumn:
    """An output column the caller must pseudonymise before releasing it: the source table,
    column and its data classes (for ``leakwarden.protect``'s operator)."""

    table: str
    column: str
    data_classes: tuple[str, ...]


@dataclass(frozen=True)
class Rewritten:
    """A query the gateway may run: ``sql`` for the target dialect, the tables and (per table)
    the columns it reads, the fingerprint of the caller's query, and the caller's literals in
    order (the fingerprint's parameters)."""

    sql: str
    tables: list[str]
    columns: dict[str, list[str]]
    fingerprint: str
    parameters: list[str] = field(default_factory=list)
    pseudonymised: dict[int, PseudonymColumn] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# positions


def _position(node: exp.Expr | None) -> SqlPosition | None:
    """The position of the first identifier or literal token under ``node`` that has one."""
    if node is None:
        return None
    for sub in node.walk():
        meta = sub.meta if isinstance(sub, (exp.Identifier, exp.Literal)) else None
        if meta and "line" in meta:
            start = meta.get("start")
            return SqlPosition(
                int(meta["line"]), int(meta["col"]), None if start is None else int(start)
            )
    return None


def _deny(reason: str, node: exp.Expr | None = None) -> QueryDenied:
    return QueryDenied(reason, _position(node))


# ---------------------------------------------------------------------------------------------
# parsing and the checks that need no catalogue


def _parse(sql: str, dialect: str) -> exp.Expr:
    try:
        statements = sqlglot.parse(sql, read=dialect)
    except ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        line, col = first.get("line"), first.get("col")
        where = SqlPosition(int(line), int(col)) if line and col else None
        desc = first.get("description") or str(exc).splitlines()[0]
        raise QueryDenied(f"the query could not be parsed: {desc}", where) from None
    except SqlglotError as exc:  # tokenizer errors and the like
        raise QueryDenied(f"the query could not be parsed: {str(exc).splitlines()[0]}") from None
    # a trailing comment after the last ';' parses as an empty statement holding the comment
    found = [s for s in statements if s is not None and not isinstance(s, exp.Semicolon)]
    if not found:
        raise QueryDenied("the query is empty")
    if len(found) > 1:
        raise _deny(f"only one statement per query is allowed, found {len(found)}", found[1])
    root = found[0]
    if not isinstance(root, (exp.Select, exp.SetOperation, exp.Subquery)):
        kind = root.key.upper()
        raise _deny(f"only SELECT queries are allowed through the gateway, not {kind}", root)
    return root


def _check_nodes(root: exp.Expr) -> None:
    for node in root.walk():
        if isinstance(node, exp.Func):
            if isinstance(node, exp.Anonymous) or type(node) not in ALLOWED_FUNCTIONS:
                name = node.name if isinstance(node, exp.Anonymous) else node.sql_name()
                raise _deny(f"function {name.upper()} is not allowed through the gateway", node)
        elif isinstance(node, _FORBIDDEN_NODES):
            names: dict[str, str] = {
                "into": "SELECT ... INTO",
                "placeholder": "bind parameters",
                "parameter": "bind parameters",
            }
            what = names.get(node.key, node.key.upper())
            raise _deny(f"{what} is not allowed through the gateway", node)
        elif isinstance(node, (exp.Select, exp.Union)) and node.args.get("into"):
            raise _deny("SELECT ... INTO is not allowed through the gateway", node)
        elif isinstance(node, exp.Join) and (node.method or "").upper() == "NATURAL":
            raise _deny("NATURAL JOIN is not allowed; join with ON or USING", node)
        elif isinstance(node, exp.Column) and (node.args.get("db") or node.args.get("catalog")):
            raise _deny(
                f"column {node.sql()} names a schema; refer to columns by table or alias only",
                node,
            )


def _check_table_node(table: exp.Table) -> None:
    """Refuse table-valued functions, schema-qualified and system tables."""
    if not isinstance(table.this, exp.Identifier):
        raise _deny("table-valued functions are not allowed through the gateway", table)
    schema = (table.db or "").lower()
    name = table.name.lower()
    if schema in _SYSTEM_SCHEMAS or name in _SYSTEM_TABLES or name.startswith("pg_"):
        raise _deny(f"the database's system catalogue ({table.sql()}) is not readable", table)
    alias = table.args.get("alias")
    if isinstance(alias, exp.TableAlias) and alias.columns:
        raise _deny(
            f"column aliases on table {table.name} are not supported; "
            "alias the columns in the select list instead",
            table,
        )
    if table.args.get("db") or table.args.get("catalog"):
        raise _deny(
            f"table {table.sql()} names a schema or database; use the bare table name", table
        )


def _scopes(root: exp.Expr) -> list[Scope]:
    try:
        return list(traverse_scope(root))
    except (OptimizeError, SqlglotError) as exc:
        raise QueryDenied(f"the query's structure could not be resolved: {exc}") from None


def _base_tables(root: exp.Expr) -> list[exp.Table]:
    """Every Table node that is a real table (not a CTE reference); refuses table nodes that
    sqlglot's scopes did not resolve at all (fail closed)."""
    real: dict[int, exp.Table] = {}
    cte_refs: set[int] = set()
    for scope in _scopes(root):
        for node in scope.tables:
            source = scope.sources.get(node.alias_or_name)
            if isinstance(source, Scope):
                cte_refs.add(id(node))
            else:
                real[id(node)] = node
    for node in root.find_all(exp.Table):
        _check_table_node(node)
        if id(node) not in real and id(node) not in cte_refs:
            raise _deny(f"table reference {node.sql()} could not be resolved", node)
    return list(real.values())


# ---------------------------------------------------------------------------------------------
# catalogue and decisions


@dataclass
class _TablePlan:
    info: TableInfo
    decision: Decision
    referenced: list[str]
    pseudonymise: bool = False

    def treatment(self, column: str) -> Treatment:
        return self.decision.treatment(column)

    def visible(self) -> list[str]:
        shown = {Treatment.CLEAR, Treatment.MASKED}
        if self.pseudonymise:
            shown.add(Treatment.PSEUDONYMISED)
        return [c for c in self.info.columns if self.treatment(c) in shown]


def _canonicalise_tables(tables: Iterable[exp.Table], catalog: Catalog) -> None:
    """Replace each real table's name by the catalogue's (lower-case, quoted) name, keeping the
    reference's alias (a bare ``Customers`` keeps being called ``Customers`` in the query)."""
    for node in tables:
        try:
            info = catalog.table(node.name)
        except UnknownTable as exc:
            raise _deny(str(exc), node) from None
        if not node.alias:
            node.set("alias", exp.TableAlias(this=node.this.copy()))
        node.set("this", exp.to_identifier(info.name, quoted=True))


def _schema(
    catalog: Catalog, tables: Iterable[str], only: Mapping[str, list[str]] | None = None
) -> dict[str, object]:
    """sqlglot's schema of ``tables``: every catalogued column, or the ``only`` ones.  A table
    with no column in ``only`` (a query reading none, ``SELECT COUNT(*) FROM orders``, under a
    decision naming none) gets the placeholder column :data:`_NO_COLUMN` (sqlglot refuses a
    table without columns); the wrapped subquery projects it as a NULL constant, and a star
    that would expand to it is refused (:func:`_check_placeholder`)."""
    out: dict[str, object] = {}
    for name in tables:
        info = catalog.table(name)
        cols = list(info.columns) if only is None else only[name]
        out[name] = {c: "TEXT" for c in cols} if cols else {_NO_COLUMN: "TEXT"}
    return out


def _check_placeholder(tree: exp.Expr) -> None:
    """Refuse a query in which the placeholder column of a table with no visible column is
    read: a star over such a table (an explicit reference to it fails the first pass, where
    the placeholder is not in the schema)."""
    for col in tree.find_all(exp.Column):
        if col.name == _NO_COLUMN:
            raise _deny(
                f"none of the columns of {col.table or 'a table'} is visible to you, "
                "so * selects nothing from it; name the columns you may see",
                col,
            )


def _qualified(tree: exp.Expr, dialect: str, schema: dict[str, object], *, stars: bool) -> exp.Expr:
    try:
        return qualify(
            tree.copy(),
            dialect=dialect,
            schema=schema,
            expand_stars=stars,
            validate_qualify_columns=True,
            quote_identifiers=True,
        )
    except OptimizeError as exc:
        raise QueryDenied(f"the query refers to something unknown: {exc}") from None


def _column_refs(tree: exp.Expr) -> dict[str, list[exp.Column]]:
    """For a qualified tree: real table name -> the Column nodes that read it."""
    refs: dict[str, list[exp.Column]] = {}
    for scope in _scopes(tree):
        for col in scope.columns:
            source = _source_of(scope, col.table)
            if isinstance(source, exp.Table):
                refs.setdefault(source.name, []).append(col)
    return refs


def _source_of(scope: Scope, alias: str) -> exp.Table | Scope | None:
    """The source a column's table alias names, looking outwards for correlated columns."""
    current: Scope | None = scope
    while current is not None:
        if alias in current.sources:
            found = current.sources[alias]
            return found if isinstance(found, (exp.Table, Scope)) else None
        current = current.parent
    return None


# ---------------------------------------------------------------------------------------------
# lineage: which values derive from masked columns


class _Taint:
    """Which output columns of which scopes carry masked data."""

    def __init__(self, plans: Mapping[str, _TablePlan]) -> None:
        self.plans = plans
        self.outputs: dict[int, list[tuple[str, bool]]] = {}

    def column(self, scope: Scope, col: exp.Column) -> bool:
        source = _source_of(scope, col.table)
        if isinstance(source, exp.Table):
            return self.plans[source.name].treatment(col.name) is not Treatment.CLEAR
        if isinstance(source, Scope):
            for name, tainted in self.outputs.get(id(source), []):
                if name == col.name:
                    return tainted
            return True  # unknown output: assume the worst
        return False  # an alias reference within the scope, checked via projections

    def expression(self, scope: Scope, node: exp.Expr, inner: Mapping[int, Scope]) -> bool:
        """Does ``node`` (an expression of ``scope``) compute anything from a masked value?
        Nested queries count through their outputs."""
        stack = [node]
        while stack:
            sub = stack.pop()
            if sub is not node and isinstance(sub, (exp.Select, exp.SetOperation)):
                child = inner.get(id(sub))
                outputs = self.outputs.get(id(child), []) if child is not None else [("", True)]
                if any(t for _, t in outputs):
                    return True
                continue
            if isinstance(sub, exp.Column) and self.column(scope, sub):
                return True
            stack.extend(sub.iter_expressions())
        return False

    def record(self, scope: Scope, inner: Mapping[int, Scope]) -> None:
        expr = scope.expression
        if isinstance(expr, exp.SetOperation):
            left = self.outputs.get(id(scope.set_operation_scopes[0]), [])
            right = self.outputs.get(id(scope.set_operation_scopes[1]), [])
            merged = [
                (name, tainted or (i < len(right) and right[i][1]))
                for i, (name, tainted) in enumerate(left)
            ]
            self.outputs[id(scope)] = merged
            return
        if isinstance(expr, exp.Select):
            self.outputs[id(scope)] = [
                (p.alias_or_name, self.expression(scope, p, inner)) for p in expr.selects
            ]


def _clause_of(col: exp.Expr, stop: exp.Expr) -> exp.Expr | None:
    """The filter/order clause (or JOIN with ON) containing ``col`` within ``stop``'s query."""
    node = col.parent
    prev: exp.Expr = col
    while node is not None and node is not stop:
        if isinstance(node, exp.Window) and prev is node.this:
            pass  # the windowed function's argument, not its PARTITION BY / ORDER BY
        elif isinstance(node, _FILTER_CLAUSES):
            return node
        if isinstance(node, exp.Join) and prev is node.args.get("on"):
            return node
        if isinstance(node, (exp.Select, exp.SetOperation)):
            return None
        prev, node = node, node.parent
    return None


_CLAUSE_NAMES = {
    "where": "WHERE",
    "having": "HAVING",
    "group": "GROUP BY",
    "order": "ORDER BY",
    "qualify": "QUALIFY",
    "window": "a window (OVER ...)",
    "join": "JOIN ... ON",
}


def _check_filters(tree: exp.Expr, plans: Mapping[str, _TablePlan]) -> None:
    scopes = _scopes(tree)
    inner: dict[int, Scope] = {id(s.expression): s for s in scopes}
    taint = _Taint(plans)
    for scope in scopes:  # innermost first
        taint.record(scope, inner)
        stop = scope.expression
        projections: dict[str, exp.Expr] = (
            {p.alias_or_name: p for p in stop.selects} if isinstance(stop, exp.Select) else {}
        )
        outputs = set(stop.named_selects) if isinstance(stop, exp.SetOperation) else set()
        checks: list[tuple[exp.Expr, exp.Expr]] = []
        for col in scope.columns:
            if not col.table and col.name not in projections and col.name not in outputs:
                # e.g. PostgreSQL's whole-row reference ``SELECT c FROM customers c``
                raise _deny(f"column {col.name} could not be resolved to a table", col)
            clause = _clause_of(col, stop)
            if clause is not None:
                checks.append((col, clause))
        for clause_type in (exp.Order, exp.Group):
            clause = stop.args.get(clause_type.key) if isinstance(stop, exp.Query) else None
            if clause is None:
                continue
            for col in clause.find_all(exp.Column):
                if not col.table and col.name in projections:
                    if taint.expression(scope, projections[col.name], inner):
                        raise _deny(_filter_message(col.name, clause), col)
                elif not col.table and isinstance(stop, exp.SetOperation):
                    branch_outputs = dict(taint.outputs.get(id(scope), []))
                    if branch_outputs.get(col.name, True):
                        raise _deny(_filter_message(col.name, clause), col)
        for ref, where in checks:
            if isinstance(ref, exp.Column) and taint.column(scope, ref):
                raise _deny(_filter_message(ref.name, where), ref)
        # IN / EXISTS / scalar subqueries used as filters: their output must not be masked
        for sub_scope in scope.subquery_scopes:
            clause = _clause_of(sub_scope.expression, stop)
            under_exists = isinstance(sub_scope.expression.parent, exp.Exists) or (
                isinstance(sub_scope.expression.parent, exp.Subquery)
                and isinstance(sub_scope.expression.parent.parent, exp.Exists)
            )
            if (
                clause is not None
                and not under_exists
                and any(t for _, t in taint.outputs.get(id(sub_scope), []))
            ):
                raise _deny(
                    _filter_message("a subquery's masked column", clause), sub_scope.expression
                )


def _filter_message(name: str, clause: exp.Expr) -> str:
    where = _CLAUSE_NAMES.get(clause.key, clause.key.upper())
    return (
        f"{name} is masked for you, so it cannot be used in {where} "
        "(a filter, join, grouping or ordering on it would act on the masked value)"
    )


def _pseudonym_outputs(
    tree: exp.Expr, plans: Mapping[str, _TablePlan]
) -> dict[int, PseudonymColumn]:
    """The root's output positions that carry a PSEUDONYMISED column's clear value; refuses
    every other use of such a column (the value must reach the caller's pseudonymiser whole)."""
    passthrough: dict[int, dict[str, PseudonymColumn]] = {}
    root: Scope | None = None
    for scope in _scopes(tree):
        root = scope
        outputs: dict[str, PseudonymColumn] = {}
        for col in scope.columns:
            found = _pseudonym_source(scope, col, plans, passthrough)
            if found is None:
                continue
            expr = scope.expression
            ok_scope = (scope.is_root or scope.is_derived_table or scope.is_cte) and not isinstance(
                expr.parent, exp.SetOperation
            )
            projected = isinstance(expr, exp.Select) and (
                (col.parent is expr and col in expr.expressions)
                or (
                    isinstance(col.parent, exp.Alias)
                    and col.parent.parent is expr
                    and col.parent in expr.expressions
                )
            )
            if not (ok_scope and projected):
                raise _deny(
                    f"{found.table}.{found.column} is pseudonymised for you: it may only be "
                    "selected as it is, not used in expressions, filters, joins, ordering, "
                    "UNION or subquery expressions",
                    col,
                )
            name = col.parent.alias if isinstance(col.parent, exp.Alias) else col.name
            outputs[name] = found
        passthrough[id(scope)] = outputs
    if root is None or not isinstance(root.expression, exp.Select):
        return {}
    top = passthrough.get(id(root), {})
    return {
        i: top[p.alias_or_name]
        for i, p in enumerate(root.expression.expressions)
        if p.alias_or_name in top
    }


def _pseudonym_source(
    scope: Scope,
    col: exp.Column,
    plans: Mapping[str, _TablePlan],
    passthrough: Mapping[int, Mapping[str, PseudonymColumn]],
) -> PseudonymColumn | None:
    source = _source_of(scope, col.table)
    if isinstance(source, exp.Table):
        plan = plans[source.name]
        if plan.treatment(col.name) is Treatment.PSEUDONYMISED:
            return PseudonymColumn(source.name, col.name, plan.info.columns[col.name].data_classes)
        return None
    if isinstance(source, Scope):
        return passthrough.get(id(source), {}).get(col.name)
    return None


# ---------------------------------------------------------------------------------------------
# the subqueries


def _row_filter(plan: _TablePlan, catalog: Catalog, dialect: str) -> exp.Expr | None:
    """The subquery's WHERE from the decision's row filter; refuses a filter it cannot apply."""
    rf = plan.decision.row_filter
    if not rf:
        return None
    conditions = [
        _filter_condition(plan.info, key, value, catalog) for key, value in sorted(rf.items())
    ]
    out = conditions[0]
    for cond in conditions[1:]:
        out = exp.And(this=out, expression=cond)
    return out


def _values(value: object) -> list[exp.Expr]:
    items = value if isinstance(value, (list, tuple, set, frozenset)) else [value]
    out: list[exp.Expr] = []
    for item in sorted(items, key=str) if isinstance(items, (set, frozenset)) else items:
        if isinstance(item, bool) or not isinstance(item, (int, str)):
            raise QueryDenied(f"row filter value {item!r} is not a string or an integer")
        out.append(exp.Literal.number(item) if isinstance(item, int) else exp.Literal.string(item))
    return out


def _ids(value: object) -> list[exp.Expr]:
    if isinstance(value, str):
        parts = [p.strip() for p in value.split(",") if p.strip()]
        if not all(p.isdigit() for p in parts):
            raise QueryDenied(f"row filter customer ids {value!r} are not integers")
        return [exp.Literal.number(int(p)) for p in parts]
    return _values(value)


def _region_condition(alias: str) -> exp.Expr:
    """The demo company's region of a customer row: province + city, or the city alone when
    the two are the same (municipalities), as in ``employees.region``."""
    province = exp.column("province", alias, quoted=True)
    city = exp.column("city", alias, quoted=True)
    return exp.Case(
        ifs=[exp.If(this=exp.EQ(this=province, expression=city.copy()), true=city.copy())],
        default=exp.DPipe(this=province.copy(), expression=city.copy(), safe=True),
    )


def _in(left: exp.Expr, values: list[exp.Expr]) -> exp.Expr:
    if not values:
        return exp.false()
    return exp.In(this=left, expressions=values)


def _customers_matching(key: str, value: object, catalog: Catalog) -> exp.Select:
    """SELECT id FROM customers WHERE <key matches value> (key: a customers column or region)."""
    customers = catalog.table("customers")
    alias = "_lw_c"
    if key == "region":
        cond = _in(_region_condition(alias), _values(value))
    elif key in customers.columns:
        cond = _in(exp.column(key, alias, quoted=True), _values(value))
    else:
        raise QueryDenied(f"row filter {key!r} names no column of the customers table")
    key_col = customers.customer_key.column if customers.customer_key else "id"
    return (
        exp.select(exp.column(key_col, alias, quoted=True))
        .from_(exp.to_table('"customers"').as_(alias, quoted=True))
        .where(cond)
    )


def _via_customer(
    info: TableInfo, ids: exp.Expr | list[exp.Expr], catalog: Catalog, alias: str | None
) -> exp.Expr:
    """``<table's customer key> IN <ids>``, following ``via`` keys through other tables."""
    key = info.customer_key
    if key is None:
        raise QueryDenied(
            f"the decision restricts rows by customer, but table {info.name!r} has no customer key"
        )
    column = (
        exp.column(key.column, alias, quoted=True) if alias else exp.column(key.column, quoted=True)
    )
    if key.via_table is None:
        if isinstance(ids, list):
            return _in(column, ids)
        return column.isin(query=ids)
    via = catalog.table(key.via_table)
    via_alias = f"_lw_{via.name}"
    inner = (
        exp.select(exp.column(key.via_column or "id", via_alias, quoted=True))
        .from_(exp.to_table(f'"{via.name}"').as_(via_alias, quoted=True))
        .where(_via_customer(via, ids, catalog, via_alias))
    )
    return column.isin(query=inner)


def _filter_condition(info: TableInfo, key: str, value: object, catalog: Catalog) -> exp.Expr:
    if key in ("customer_id", "customer_ids"):
        return _via_customer(info, _ids(value), catalog, None)
    if info.name == "customers" and key == "region":
        return _in(_region_condition_unaliased(), _values(value))
    if key in info.columns and key != "region":
        return _in(exp.column(key, quoted=True), _values(value))
    if "customers" in catalog:
        return _via_customer(info, _customers_matching(key, value, catalog), catalog, None)
    raise QueryDenied(f"row filter {key!r} cannot be applied to table {info.name!r}")


def _region_condition_unaliased() -> exp.Expr:
    province = exp.column("province", quoted=True)
    city = exp.column("city", quoted=True)
    return exp.Case(
        ifs=[exp.If(this=exp.EQ(this=province, expression=city.copy()), true=city.copy())],
        default=exp.DPipe(this=province.copy(), expression=city.copy(), safe=True),
    )


def _subquery(plan: _TablePlan, columns: list[str], catalog: Catalog, dialect: str) -> exp.Select:
    """``SELECT <treated columns the query reads> FROM <table> [WHERE <row filter>]``."""
    projections: list[exp.Expr] = []
    for name in columns:
        col = exp.column(name, quoted=True)
        if plan.treatment(name) in (Treatment.CLEAR, Treatment.PSEUDONYMISED):
            # PSEUDONYMISED only with rewrite(pseudonymise=True): the caller pseudonymises
            # the output positions listed in Rewritten.pseudonymised before releasing anything
            projections.append(exp.alias_(col, name, quoted=True))
        else:
            masked = mask_expression(col, plan.info.columns[name].data_classes)
            projections.append(exp.alias_(masked, name, quoted=True))
    if not projections:
        # the query reads no column (COUNT(*), EXISTS, SELECT 1): a constant keeps the row
        # count and the row filter, and reveals nothing
        projections.append(exp.alias_(exp.null(), _NO_COLUMN, quoted=True))
    select = exp.select(*projections).from_(exp.to_table(f'"{plan.info.name}"'))
    condition = _row_filter(plan, catalog, dialect)
    if condition is not None:
        select = select.where(condition)
    return select


def _rename_shadowing_ctes(tree: exp.Expr, cte_refs: set[int], catalog: Catalog) -> None:
    """Rename CTEs named like a real table (``WITH customers AS (...)``) and their references,
    so the real table inside the wrapping subqueries cannot resolve to the CTE (SQLite would
    call that a circular reference; a recursive CTE would read itself)."""
    renamed: dict[str, str] = {}
    for cte in tree.find_all(exp.CTE):
        name = cte.alias_or_name
        if name.lower() in catalog:
            renamed[name] = f"_lw_cte_{name.lower()}"
            cte.set("alias", exp.TableAlias(this=exp.to_identifier(renamed[name], quoted=True)))
    if not renamed:
        return
    for node in tree.find_all(exp.Table):
        if id(node) in cte_refs and node.name in renamed:
            if not node.alias:
                node.set("alias", exp.TableAlias(this=node.this.copy()))
            node.set("this", exp.to_identifier(renamed[node.name], quoted=True))


def _sqlite_concat(node: exp.Expr) -> exp.Expr:
    """SQLite before 3.44 has no CONCAT: write it as ``||`` over COALESCE(x, '') (CONCAT's NULL
    handling)."""
    if not isinstance(node, exp.Concat):
        return node
    parts: list[exp.Expr] = [
        exp.Coalesce(
            this=exp.Cast(this=arg.copy(), to=TEXT_TYPE.copy()),
            expressions=[exp.Literal.string("")],
        )
        for arg in node.expressions
    ]
    if not parts:
        return exp.Literal.string("")
    out = parts[0]
    for part in parts[1:]:
        out = exp.DPipe(this=out, expression=part, safe=True)
    return exp.Paren(this=out)


# ---------------------------------------------------------------------------------------------
# fingerprint


def fingerprint(sql: str, dialect: str) -> tuple[str, list[str]]:
    """The fingerprint of a query and its literals in order (see the module docstring)."""
    tree = _parse(sql, DIALECTS.get(dialect, dialect))
    return _fingerprint(tree)


def _fingerprint(tree: exp.Expr) -> tuple[str, list[str]]:
    normal = normalize_identifiers(tree.copy(), dialect="postgres")
    # the literals in the order they appear in the text (the tree's order is by clause)
    found = list(normal.find_all(exp.Literal))
    order = sorted(range(len(found)), key=lambda i: (found[i].meta.get("start", 1 << 62), i))
    literals = [str(found[i].this) for i in order]
    for node in found:
        node.replace(exp.Placeholder())
    text = normal.sql(dialect="postgres", comments=False, normalize=True, pretty=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest(), literals


# ---------------------------------------------------------------------------------------------
# the entry point


def rewrite(
    sql: str, *, dialect: str, catalog: Catalog, decide: Decide, pseudonymise: bool = False
) -> Rewritten:
    """Rewrite ``sql`` for the caller whose per-table decisions ``decide(table, columns)`` gives.

    Raises :class:`QueryDenied` for anything the gateway will not run (module docstring).

    ``pseudonymise=True`` is for a caller that pseudonymises result columns itself: a
    PSEUDONYMISED column may then be selected *as it is* (directly, or passed through derived
    tables and CTEs, never inside an expression, filter, join, grouping, ordering, UNION or
    subquery expression), the database returns its clear value, and ``Rewritten.pseudonymised``
    lists the output positions the caller MUST pseudonymise before releasing any row.
    """
    if dialect not in DIALECTS:
        raise ValueError(f"unknown SQL dialect {dialect!r}; known: {', '.join(DIALECTS)}")
    key = (sql, DIALECTS[dialect], catalog, pseudonymise)
    with _MEMO_LOCK:
        hit = _MEMO.get(key)
        if hit is not None:
            _MEMO.move_to_end(key)
    if hit is not None and _same_decisions(decide, hit[0]):
        return _copy_rewritten(hit[1])
    asked: list[tuple[str, list[str], Decision]] = []

    def recording(table: str, columns: list[str]) -> Decision:
        decision = decide(table, columns)
        asked.append((table, list(columns), _copy_decision(decision)))
        return decision

    try:
        out = _rewrite(sql, DIALECTS[dialect], catalog, recording, pseudonymise)
    except QueryDenied:
        raise
    except Exception as exc:  # fail closed: a query the rewrite cannot handle is refused
        raise QueryDenied(
            f"the query could not be rewritten safely ({type(exc).__name__}: {exc})"
        ) from exc
    with _MEMO_LOCK:
        _MEMO[key] = (asked, _copy_rewritten(out))
        while len(_MEMO) > _MEMO_SIZE:
            _MEMO.popitem(last=False)
    return out


# the memo of rewrites (module docstring): key -> (the decisions asked, the result)
_MEMO_SIZE = 512
_MEMO: OrderedDict[
    tuple[str, str, Catalog, bool], tuple[list[tuple[str, list[str], Decision]], Rewritten]
] = OrderedDict()
_MEMO_LOCK = threading.Lock()


def _same_decisions(decide: Decide, asked: list[tuple[str, list[str], Decision]]) -> bool:
    """Ask ``decide`` the recorded questions again; True when every answer is the same."""
    for table, columns, decision in asked:
        try:
            if decide(table, list(columns)) != decision:
                return False
        except Exception:  # the full rewrite will meet it again and refuse
            return False
    return True


def _copy_decision(d: Decision) -> Decision:
    return Decision(
        d.allowed,
        d.reason,
        list(d.policy_ids),
        dict(d.treatments),
        None if d.row_filter is None else dict(d.row_filter),
    )


def _copy_rewritten(r: Rewritten) -> Rewritten:
    return dataclasses.replace(
        r,
        tables=list(r.tables),
        columns={t: list(c) for t, c in r.columns.items()},
        parameters=list(r.parameters),
        pseudonymised=dict(r.pseudonymised),
    )


def _rewrite(
    sql: str, dialect: str, catalog: Catalog, decide: Decide, pseudonymise: bool
) -> Rewritten:
    root = _parse(sql, dialect)
    _check_nodes(root)
    digest, literals = _fingerprint(root)

    tree = root.copy()
    tables = _base_tables(tree)
    _canonicalise_tables(tables, catalog)
    names = sorted({t.name for t in tables})

    # Pass 1: every column of the catalogue visible, to learn what the query reads.
    full = _qualified(tree, dialect, _schema(catalog, names), stars=True)
    read = _column_refs(full)
    # references written in the query itself (stars unexpanded), for clear messages
    explicit = read
    if tree.find(exp.Star) is not None:
        try:
            explicit = _column_refs(_qualified(tree, dialect, _schema(catalog, names), stars=False))
        except QueryDenied:
            explicit = {}

    plans: dict[str, _TablePlan] = {}
    for name in names:
        info = catalog.table(name)
        referenced = sorted({c.name for c in read.get(name, [])}, key=list(info.columns).index)
        try:
            decision = decide(name, referenced)
        except Exception as exc:  # fail closed: a policy that cannot answer denies
            raise QueryDenied(f"no decision for table {name!r}: {exc}") from None
        if not decision.allowed:
            raise QueryDenied(f"access to table {name!r} denied: {decision.reason}")
        plans[name] = _TablePlan(info, decision, referenced, pseudonymise)

    for name, cols in explicit.items():
        for col in cols:
            treatment = plans[name].treatment(col.name)
            if treatment is Treatment.DENIED:
                raise _deny(f"column {name}.{col.name} is denied to you", col)
            if treatment is Treatment.PSEUDONYMISED and not pseudonymise:
                raise _deny(
                    f"column {name}.{col.name} may only be seen pseudonymised, which the SQL path "
                    "cannot do; use the record endpoints",
                    col,
                )

    # Pass 2: only the columns the caller may see; stars expand to those.
    visible = {name: plan.visible() for name, plan in plans.items()}
    try:
        final = _qualified(tree, dialect, _schema(catalog, names, visible), stars=True)
    except QueryDenied as exc:
        hidden = [
            f"{n}.{c}" for n, p in plans.items() for c in p.info.columns if c not in visible[n]
        ]
        if hidden:
            raise QueryDenied(
                f"{exc.reason} (not visible to you: {', '.join(hidden)})", exc.position
            ) from None
        raise
    _check_placeholder(final)
    # pseudonymised columns first: their misuse gets its own message, then masked filters
    pseudonymised = _pseudonym_outputs(final, plans) if pseudonymise else {}
    _check_filters(final, plans)

    # the subqueries project only what the query reads (stars are expanded by now)
    columns = {
        name: sorted(
            {c.name for c in read.get(name, [])} & set(visible[name]),
            key=list(plans[name].info.columns).index,
        )
        for name in names
    }
    cte_refs = {id(t) for t in final.find_all(exp.Table)} - {id(t) for t in _base_tables(final)}
    _rename_shadowing_ctes(final, cte_refs, catalog)
    for node in _base_tables(final):
        plan = plans[node.name]
        alias = node.args.get("alias")
        inner_select = _subquery(plan, columns[node.name], catalog, dialect)
        inner_select.meta[_WRAPPED] = True
        node.replace(exp.Subquery(this=inner_select, alias=alias.copy() if alias else None))
    for node in final.find_all(exp.Table):  # fail closed: nothing may reach a table unwrapped
        if id(node) in cte_refs:
            continue
        parent = node.parent_select
        while parent is not None and not parent.meta.get(_WRAPPED):
            parent = parent.parent_select
        if parent is None:
            raise _deny(f"internal error: table {node.sql()} was left unwrapped", node)

    if dialect == "sqlite":
        final = final.transform(_sqlite_concat, copy=False)
    return Rewritten(
        sql=final.sql(dialect=dialect, comments=False),
        tables=names,
        columns=columns,
        fingerprint=digest,
        parameters=literals,
        pseudonymised=pseudonymised,
    )
