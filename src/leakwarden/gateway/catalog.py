"""The gateway's catalogue: which tables and columns the customer database has, which data
classes (PI type ids of :mod:`leakwarden.detect.types`) each column holds with its sensitivity,
and how each table's rows lead to a customer (the customer key).

Built from the demo company's ground truth (:meth:`Catalog.from_demo`) or from the discovery
inventory's latest run of a source (:meth:`Catalog.from_inventory`).  The catalogue never holds
values, only names.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from leakwarden.detect.types import PI_TYPES

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from leakwarden.store.inventory import InventoryRepo

__all__ = [
    "DEMO_CUSTOMER_KEYS",
    "Catalog",
    "ColumnInfo",
    "CustomerKey",
    "TableInfo",
    "UnknownColumn",
    "UnknownTable",
    "table_columns",
]

SENSITIVE = "sensitive"
PERSONAL = "personal"
NONE = "none"
_LEVEL = {NONE: 0, PERSONAL: 1, SENSITIVE: 2}


class UnknownTable(KeyError):
    """A table the catalogue does not know (the gateway denies it)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown table"


class UnknownColumn(KeyError):
    """A column the catalogue does not know in a known table."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown column"


@dataclass(frozen=True)
class CustomerKey:
    """How a table's rows lead to a customer id.

    Direct: ``CustomerKey("customer_id")`` (the column holds the customer id; ``customers`` has
    ``CustomerKey("id")``).  Through another table: ``CustomerKey("order_id", via_table="orders",
    via_column="id")`` means the customer is the one of the ``orders`` row whose ``id`` equals
    this row's ``order_id`` (and ``orders``' own key then gives the customer id).
    """

    column: str
    via_table: str | None = None
    via_column: str | None = None


@dataclass(frozen=True)
class ColumnInfo:
    """One column: its data classes (PI type ids, possibly none) and its sensitivity, the
    highest of its classes: "sensitive", "personal" or "none"."""

    name: str
    data_classes: tuple[str, ...] = ()
    sensitivity: str = NONE

    @property
    def is_personal(self) -> bool:
        return self.sensitivity != NONE


@dataclass(frozen=True)
class TableInfo:
    """One table: its columns in order and its customer key (None: not customer data)."""

    name: str
    columns: Mapping[str, ColumnInfo]
    customer_key: CustomerKey | None = None

    def column(self, name: str) -> ColumnInfo:
        """The column's info (names compare case-insensitively); ``UnknownColumn`` if none."""
        found = self.columns.get(name) or self.columns.get(name.lower())
        if found is None:
            raise UnknownColumn(f"table {self.name!r} has no column {name!r}")
        return found


# The demo company's customer keys (leakwarden.demo.schema): waybills reach a customer through
# their order.  Employees are not customers: no key.
DEMO_CUSTOMER_KEYS: Mapping[str, CustomerKey] = {
    "customers": CustomerKey("id"),
    "orders": CustomerKey("customer_id"),
    "tickets": CustomerKey("customer_id"),
    "payment_cards": CustomerKey("customer_id"),
    "waybills": CustomerKey("order_id", via_table="orders", via_column="id"),
}


def sensitivity_of(data_classes: Iterable[str]) -> str:
    """The highest sensitivity of these PI type ids; an id unknown to ``detect.types`` counts
    as sensitive (fail closed)."""
    level = NONE
    for cls in data_classes:
        t = PI_TYPES.get(cls)
        s = SENSITIVE if t is None else str(t.sensitivity)
        if _LEVEL[s] > _LEVEL[level]:
            level = s
    return level


def _column(name: str, classes: Iterable[str]) -> ColumnInfo:
    ordered = tuple(sorted(set(classes)))
    return ColumnInfo(name, ordered, sensitivity_of(ordered))


@dataclass(frozen=True, eq=False)
class Catalog:
    """Tables by name (lower-case).  Compared and hashed by identity (the policy engine caches
    decisions per catalogue)."""

    tables: Mapping[str, TableInfo] = field(default_factory=dict)

    def table(self, name: str) -> TableInfo:
        """The table's info (case-insensitive); ``UnknownTable`` naming it if there is none."""
        found = self.tables.get(name) or self.tables.get(name.lower())
        if found is None:
            known = ", ".join(sorted(self.tables))
            raise UnknownTable(f"unknown table {name!r} (known: {known})")
        return found

    def column(self, table: str, column: str) -> ColumnInfo:
        return self.table(table).column(column)

    def __contains__(self, table: object) -> bool:
        return isinstance(table, str) and (table in self.tables or table.lower() in self.tables)

    @classmethod
    def build(
        cls,
        columns: Mapping[str, Iterable[str]],
        data_classes: Mapping[str, Mapping[str, Iterable[str]]],
        customer_keys: Mapping[str, CustomerKey] | None = None,
    ) -> Catalog:
        """A catalogue from every table's column names, the data classes of the columns that hold
        any (``{table: {column: classes}}``) and the customer keys.

        A column with data classes that ``columns`` does not list is added (the inventory knows
        it, so the gateway must protect it).
        """
        keys = customer_keys or {}
        tables: dict[str, TableInfo] = {}
        for tname in sorted(set(columns) | set(data_classes)):
            found = data_classes.get(tname, {})
            names = list(columns.get(tname, ()))
            names += [c for c in found if c not in names]
            infos = {c.lower(): _column(c.lower(), found.get(c, ())) for c in names}
            tables[tname.lower()] = TableInfo(tname.lower(), infos, keys.get(tname))
        return cls(tables)

    @classmethod
    def from_demo(cls) -> Catalog:
        """The demo company's database with its ground-truth data classes
        (``leakwarden.demo.schema.COLUMN_TYPES``)."""
        from leakwarden.demo import schema

        columns = {t.name: [c.name for c in t.columns] for t in schema.metadata.sorted_tables}
        return cls.build(columns, schema.COLUMN_TYPES, DEMO_CUSTOMER_KEYS)

    @classmethod
    def from_inventory(
        cls,
        repo: InventoryRepo,
        source: str,
        *,
        columns: Mapping[str, Iterable[str]] | None = None,
        customer_keys: Mapping[str, CustomerKey] | None = None,
    ) -> Catalog:
        """The catalogue of one scanned database source: data classes from the inventory's
        active entries (``InventoryRepo.latest(source)``; container = table, field = column).

        ``columns`` lists every column of each table (the inventory knows only those holding
        PI; without it the catalogue has only those).  ``customer_keys`` defaults to the demo
        company's.  A container named ``schema.table`` is keyed by its last part.
        """
        found: dict[str, dict[str, list[str]]] = {}
        for entry in repo.latest(source):
            table = entry.location.container.rsplit(".", 1)[-1]
            col = entry.location.field
            if not col:
                continue
            found.setdefault(table, {}).setdefault(col, []).append(entry.pi_type)
        keys = DEMO_CUSTOMER_KEYS if customer_keys is None else customer_keys
        return cls.build(columns or {}, found, keys)


def table_columns(engine: Engine, schema: str | None = None) -> dict[str, list[str]]:
    """Every table's column names in a customer database (SQLAlchemy reflection), for
    :meth:`Catalog.from_inventory`'s ``columns``."""
    from sqlalchemy import inspect

    insp = inspect(engine)
    return {
        t: [str(c["name"]) for c in insp.get_columns(t, schema=schema)]
        for t in insp.get_table_names(schema=schema)
    }
