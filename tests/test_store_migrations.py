"""Alembic migrations of the store, from an empty database to head and back, on both backends."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from leakwarden.store import db
from leakwarden.store.models import Base

STORE_TABLES = {
    "scan_runs",
    "inventory",
    "inventory_observations",
    "scan_containers",
    "scan_problems",
}


def test_upgrade_from_empty_to_head(db_url: str) -> None:
    engine = db.make_engine(db_url)
    try:
        assert db.current_revision(engine) is None
        assert not STORE_TABLES & set(inspect(engine).get_table_names())

        db.upgrade(engine)

        assert db.current_revision(engine) == db.head_revision() == "0008"
        insp = inspect(engine)
        assert STORE_TABLES | {"alembic_version"} <= set(insp.get_table_names())
        columns = {c["name"] for c in insp.get_columns("inventory")}
        assert columns >= {
            "source",
            "container",
            "field",
            "pi_type",
            "sensitivity",
            "confidence",
            "evidence",
            "rows_scanned",
            "rows_total",
            "first_seen",
            "last_seen",
            "last_run_id",
            "active",
        }
        uniques = [sorted(u["column_names"]) for u in insp.get_unique_constraints("inventory")]
        assert sorted(["source", "container", "field", "pi_type"]) in uniques
        run_columns = {c["name"] for c in insp.get_columns("scan_runs")}
        assert run_columns >= {
            "id",
            "source",
            "source_kind",
            "started_at",
            "finished_at",
            "containers_scanned",
            "bytes_scanned",
            "rows_scanned",
            "status",
        }
        problem_columns = {c["name"] for c in insp.get_columns("scan_problems")}
        assert problem_columns >= {"run_id", "source", "container", "field", "problem", "position"}
    finally:
        engine.dispose()


def test_upgrade_is_idempotent_and_reversible(db_url: str) -> None:
    db.upgrade(db_url)
    db.upgrade(db_url)  # a second run changes nothing and does not fail
    assert db.current_revision(db_url) == "0008"

    db.downgrade(db_url, "base")
    engine = db.make_engine(db_url)
    try:
        assert not STORE_TABLES & set(inspect(engine).get_table_names())
        assert db.current_revision(engine) is None
    finally:
        engine.dispose()

    db.upgrade(db_url)
    assert db.current_revision(db_url) == "0008"


def test_migrations_match_the_models(db_url: str) -> None:
    """The schema the migrations build is the one the models describe: nothing to autogenerate."""
    engine = db.make_engine(db_url)
    try:
        db.upgrade(engine)
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(ctx, Base.metadata) == []
    finally:
        engine.dispose()
