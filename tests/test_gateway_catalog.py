"""gateway.catalog: the demo company's catalogue and one built from a recorded scan."""

from __future__ import annotations

from pathlib import Path

import pytest

from leakwarden.gateway.catalog import (
    Catalog,
    CustomerKey,
    UnknownColumn,
    UnknownTable,
    table_columns,
)
from leakwarden.store import db
from leakwarden.store.inventory import InventoryRepo
from leakwarden.store.records import InventoryEntry, Location, ScanResult, SourceKind


def test_demo_catalog_classes_and_sensitivity() -> None:
    cat = Catalog.from_demo()
    # GB/T 35273 annex B: resident ID and bank card are sensitive; a mobile is personal.
    assert cat.column("customers", "id_card").sensitivity == "sensitive"
    assert "cn_resident_id" in cat.column("customers", "id_card").data_classes
    assert cat.column("payment_cards", "card_no").data_classes == ("bank_card",)
    assert cat.column("payment_cards", "card_no").sensitivity == "sensitive"
    assert cat.column("customers", "mobile").sensitivity == "personal"
    # The misnamed column is classed by its values, not its name.
    assert cat.column("orders", "ext_info").sensitivity == "sensitive"
    assert "cn_mobile" in cat.column("customers", "remark").data_classes
    # Columns without PI are there too (SELECT * must see them) with no class.
    assert cat.column("orders", "amount").data_classes == ()
    assert cat.column("orders", "amount").sensitivity == "none"
    assert list(cat.table("customers").columns)[:3] == ["id", "name", "gender"]


def test_demo_customer_keys() -> None:
    cat = Catalog.from_demo()
    assert cat.table("customers").customer_key == CustomerKey("id")
    assert cat.table("orders").customer_key == CustomerKey("customer_id")
    assert cat.table("tickets").customer_key == CustomerKey("customer_id")
    assert cat.table("payment_cards").customer_key == CustomerKey("customer_id")
    assert cat.table("waybills").customer_key == CustomerKey("order_id", "orders", "id")
    assert cat.table("employees").customer_key is None


def test_unknown_names_are_errors_naming_them() -> None:
    cat = Catalog.from_demo()
    with pytest.raises(UnknownTable, match="information_schema"):
        cat.table("information_schema")
    with pytest.raises(UnknownColumn, match="'customers' has no column 'password'"):
        cat.column("customers", "password")
    assert cat.table("CUSTOMERS").name == "customers"
    assert "Orders" in cat
    assert "nope" not in cat


def test_unknown_class_counts_as_sensitive() -> None:
    cat = Catalog.build({"t": ["a"]}, {"t": {"a": ["no_such_type"]}})
    assert cat.column("t", "a").sensitivity == "sensitive"


def test_from_inventory(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    db.upgrade(url)
    engine = db.make_engine(url)
    source = "postgresql://reader@db.example:5432/shop"
    entries = [
        InventoryEntry(Location(source, "public.customers", "id_card"), "cn_resident_id",
                       "sensitive", 0.99, source_kind=SourceKind.DATABASE),
        InventoryEntry(Location(source, "public.customers", "remark"), "cn_mobile",
                       "personal", 0.8, source_kind=SourceKind.DATABASE),
        InventoryEntry(Location(source, "public.orders", "ext_info"), "cn_resident_id",
                       "sensitive", 0.7, source_kind=SourceKind.DATABASE),
    ]  # fmt: skip
    try:
        InventoryRepo(engine).record_scan(ScanResult(source, entries=entries))
        cat = Catalog.from_inventory(
            InventoryRepo(engine), source, columns={"customers": ["id", "id_card", "remark"]}
        )
    finally:
        engine.dispose()
    assert cat.column("customers", "id_card").data_classes == ("cn_resident_id",)
    assert cat.column("customers", "id_card").sensitivity == "sensitive"
    assert cat.column("customers", "remark").sensitivity == "personal"
    assert cat.column("customers", "id").sensitivity == "none"
    # A table the column list lacks is still catalogued with what the inventory found.
    assert cat.column("orders", "ext_info").sensitivity == "sensitive"
    assert cat.table("orders").customer_key == CustomerKey("customer_id")


def test_table_columns_reflects_a_database(tmp_path: Path) -> None:
    from sqlalchemy import create_engine

    from leakwarden.demo.schema import metadata

    engine = create_engine(f"sqlite:///{tmp_path / 'shop.db'}")
    try:
        metadata.create_all(engine)
        cols = table_columns(engine)
    finally:
        engine.dispose()
    assert sorted(cols) == sorted(t.name for t in metadata.sorted_tables)
    assert cols["payment_cards"] == ["id", "customer_id", "card_no", "bank", "card_type",
                                     "holder_name", "expiry"]  # fmt: skip
