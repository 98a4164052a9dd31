"""Rewriting SQL tables of the demo company (SQLite and PostgreSQL): new columns or a new
table, chunked by key, resumable, idempotent, and bad values by policy.  Operators are the
doubles of ``protect_doubles`` (``Last4``: 11 digits -> 7 stars + last 4, else a bad value;
``Swap``: each digit d -> 9 - d); expected values are worked out from the clear values read
back from the database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from leakwarden.demo.build import build_company
from leakwarden.protect._cells import BadValueError, RewriteError
from leakwarden.protect.rewrite_tables import protect_table
from leakwarden.protect.rules import Rule
from protect_doubles import Last4, Swap, factory


def rule(column: str, op: str = "mask", on_bad: str = "fail", table: str = "customers") -> Rule:
    return Rule("table", table, column, op, None, on_bad, "test")  # type: ignore[arg-type]


def fetch(url: str, sql: str) -> list[Any]:
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(sql)).all())
    finally:
        engine.dispose()


def expected_last4(value: str | None) -> str | None:
    if value is None:
        return None
    if len(value) == 11 and value.isascii() and value.isdigit():
        return "*******" + value[-4:]
    return "*" * len(value)  # the mask policy


def swap(value: str) -> str:
    return "".join(str(9 - int(c)) for c in value)


@pytest.fixture
def company(db_url: str) -> str:
    build_company(db_url, customers=300, seed=3)
    return db_url


def test_into_new_columns(company: str) -> None:
    rules = [rule("mobile", on_bad="mask"), rule("remark", on_bad="suppress")]
    res = protect_table(company, "customers", rules, factory, chunk_rows=64, rules_digest="d")
    assert res.status == "protected" and res.rows == 300 and res.chunks == 5
    rows = fetch(
        company, "SELECT mobile, mobile_protected, remark, remark_protected FROM customers"
    )
    assert len(rows) == 300
    bad = 0
    for mobile, got, remark, got_remark in rows:
        assert got == expected_last4(mobile)
        bad += got != "*******" + mobile[-4:]
        if remark is None:
            assert got_remark is None
        elif len(remark) == 11 and remark.isdigit():
            assert got_remark == "*******" + remark[-4:]
        else:
            assert got_remark == ""
    mobile_counts = res.columns[0]
    assert mobile_counts.bad == bad and mobile_counts.protected == 300 - bad
    assert bad > 0  # the demo has some +86 / spaced mobiles
    again = protect_table(company, "customers", rules, factory, rules_digest="d")
    assert again.status == "unchanged" and again.rows == 0


def test_fail_policy_names_row_and_column_not_value(company: str) -> None:
    with pytest.raises(BadValueError) as info:
        protect_table(company, "customers", [rule("remark")], factory, chunk_rows=50)
    message = str(info.value)
    assert "table customers" in message and "row id=" in message and "'remark'" in message
    row_id = int(message.split("row id=")[1].split(",")[0])
    (remark,) = fetch(company, f"SELECT remark FROM customers WHERE id = {row_id}")[0]
    assert remark not in message
    # Chunks before the bad row's chunk are kept; the bad row's chunk was rolled back.
    done = fetch(company, "SELECT max(id) FROM customers WHERE remark_protected IS NOT NULL")
    assert done[0][0] is None or done[0][0] < row_id


def test_resume_after_a_crash_continues_and_finishes(company: str) -> None:
    class Dies(Swap):
        calls = 0

        def apply(self, value: str, type_id: str | None = None) -> str:
            Dies.calls += 1
            if Dies.calls == 130:
                raise KeyboardInterrupt  # a stop from outside, mid-chunk
            return super().apply(value, type_id)

    rules = [rule("id_card", "ff1:test", on_bad="mask")]
    with pytest.raises(KeyboardInterrupt):
        protect_table(company, "customers", rules, lambda s: Dies(), chunk_rows=50)
    committed = fetch(company, "SELECT count(*) FROM customers WHERE id_card_protected IS NOT NULL")
    assert committed[0][0] == 100  # two whole chunks, nothing of the third
    res = protect_table(company, "customers", rules, factory, chunk_rows=50)
    assert res.rows == 200
    for clear, got in fetch(company, "SELECT id_card, id_card_protected FROM customers"):
        if clear.isdigit():
            assert got == swap(clear)
        else:  # an ID ending in X does not fit the digits-only double
            assert got == "*" * len(clear)


def test_into_new_table_and_resume(company: str) -> None:
    rules = [rule("mobile", on_bad="mask"), rule("id_card", "ff1:test", on_bad="suppress")]

    class Dies(Last4):
        calls = 0

        def apply(self, value: str, type_id: str | None = None) -> str:
            Dies.calls += 1
            if Dies.calls == 170:
                raise KeyboardInterrupt
            return super().apply(value, type_id)

    with pytest.raises(KeyboardInterrupt):
        protect_table(
            company,
            "customers",
            rules,
            lambda s: Dies() if s == "mask" else Swap(),
            mode="table",
            chunk_rows=80,
        )
    assert fetch(company, "SELECT count(*) FROM customers_protected")[0][0] == 160
    res = protect_table(company, "customers", rules, factory, mode="table", chunk_rows=80)
    assert res.rows == 140 and res.output == "customers_protected"
    assert any("continued after row id=160" in n for n in res.notes)
    src = {r[0]: r[1:] for r in fetch(company, "SELECT id, name, mobile, id_card FROM customers")}
    out = fetch(company, "SELECT id, name, mobile, id_card, vip FROM customers_protected")
    assert len(out) == 300
    for ident, name, mobile, id_card, _vip in out:
        c_name, c_mobile, c_id = src[ident]
        assert name == c_name and mobile == expected_last4(c_mobile)
        assert id_card == (swap(c_id) if c_id.isdigit() else "")
    assert protect_table(company, "customers", rules, factory, mode="table").status == "unchanged"


def test_changed_rules_are_refused(company: str) -> None:
    protect_table(company, "customers", [rule("mobile", on_bad="mask")], factory)
    with pytest.raises(RewriteError, match=r"was written with operator mask.*now say ff1:test"):
        protect_table(company, "customers", [rule("mobile", "ff1:test", "mask")], factory)


def test_foreign_protected_column_is_not_overwritten(company: str) -> None:
    engine = create_engine(company.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE customers ADD COLUMN email_protected TEXT"))
    engine.dispose()
    with pytest.raises(RewriteError, match="did not write"):
        protect_table(company, "customers", [rule("email", on_bad="mask")], factory)


def test_unknown_table_and_column(company: str) -> None:
    with pytest.raises(RewriteError, match=r"no table 'clients'.*customers"):
        protect_table(company, "clients", [rule("mobile", table="clients")], factory)
    with pytest.raises(RewriteError, match=r"no column 'phone'.*mobile"):
        protect_table(company, "customers", [rule("phone")], factory)


def test_table_without_primary_key(db_url: str) -> None:
    engine = create_engine(db_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE contacts (mobile VARCHAR(20))"))
        for m in ("13812345678", "13900001111", "13700002222"):
            conn.execute(text("INSERT INTO contacts VALUES (:m)"), {"m": m})
    engine.dispose()
    rules = [rule("mobile", table="contacts")]
    if db_url.startswith("sqlite"):
        res = protect_table(db_url, "contacts", rules, factory, chunk_rows=2)
        assert res.rows == 3 and res.chunks == 2
        got = fetch(db_url, "SELECT mobile_protected FROM contacts ORDER BY rowid")
        assert [g[0] for g in got] == ["*******5678", "*******1111", "*******2222"]
    else:
        with pytest.raises(RewriteError, match="no primary key"):
            protect_table(db_url, "contacts", rules, factory)


def test_database_errors_name_the_table_and_hold_no_values(tmp_path: Path) -> None:
    import sqlite3

    db = tmp_path / "ro.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE contacts (id INTEGER PRIMARY KEY, mobile TEXT)")
    con.execute("INSERT INTO contacts VALUES (1, '13812345678')")
    con.commit()
    con.close()
    engine = create_engine(f"sqlite:///file:{db}?mode=ro&uri=true")  # every write fails
    try:
        with pytest.raises(RewriteError) as info:
            protect_table(engine, "contacts", [rule("mobile", table="contacts")], factory)
    finally:
        engine.dispose()
    assert "table contacts: database error: OperationalError: attempt to write" in str(info.value)
    assert "13812345678" not in str(info.value)
