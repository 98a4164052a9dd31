"""The demo company: row counts, referential integrity, determinism and streaming."""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

import phonenumbers
import pytest
from sqlalchemy import create_engine, text
from stdnum import luhn
from stdnum.cn import ric

from leakwarden.demo import build as build_module
from leakwarden.demo import company as company_module
from leakwarden.demo.build import CompanyExistsError, build_company
from leakwarden.demo.company import CHUNK, Batch, customer_columns, employee_count, iter_company
from leakwarden.demo.schema import COLUMN_TYPES, TABLE_ORDER, metadata


def _ric_ok(number: str) -> bool:
    """stdnum.cn.ric.is_valid, except that stdnum 2.2 raises KeyError (instead of answering
    False) for a number whose region code names a province but no county, e.g. 622260..."""
    try:
        return ric.is_valid(number)
    except KeyError:
        return False


def _counts(customers: int, seed: int) -> Counter[str]:
    counts: Counter[str] = Counter()
    for batch in iter_company(customers, seed):
        counts[batch.table] += len(batch)
    return counts


def _scalar(url: str, sql: str) -> Any:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql)).scalar_one()
    finally:
        engine.dispose()


def _rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql)).all()]
    finally:
        engine.dispose()


ORPHANS = {
    "orders without customer": "SELECT count(*) FROM orders o "
    "LEFT JOIN customers c ON c.id = o.customer_id WHERE c.id IS NULL",
    "waybills without order": "SELECT count(*) FROM waybills w "
    "LEFT JOIN orders o ON o.id = w.order_id WHERE o.id IS NULL",
    "cards without customer": "SELECT count(*) FROM payment_cards p "
    "LEFT JOIN customers c ON c.id = p.customer_id WHERE c.id IS NULL",
    "tickets without customer": "SELECT count(*) FROM tickets t "
    "LEFT JOIN customers c ON c.id = t.customer_id WHERE c.id IS NULL",
    "tickets about another customer's order": "SELECT count(*) FROM tickets t "
    "JOIN orders o ON o.id = t.order_id WHERE o.customer_id <> t.customer_id",
    "tickets without employee": "SELECT count(*) FROM tickets t "
    "LEFT JOIN employees e ON e.id = t.assigned_employee_id WHERE e.id IS NULL",
    "tickets not with customer service": "SELECT count(*) FROM tickets t "
    "JOIN employees e ON e.id = t.assigned_employee_id WHERE e.department <> '客服'",
    "employees with unknown manager": "SELECT count(*) FROM employees e "
    "LEFT JOIN employees m ON m.id = e.manager_id WHERE e.manager_id IS NOT NULL AND m.id IS NULL",
    "tickets closed before opened": "SELECT count(*) FROM tickets "
    "WHERE closed_at IS NOT NULL AND closed_at < opened_at",
    "orders before their customer signed up": "SELECT count(*) FROM orders o "
    "JOIN customers c ON c.id = o.customer_id WHERE o.created_at < c.created_at",
    "waybills before their order": "SELECT count(*) FROM waybills w "
    "JOIN orders o ON o.id = w.order_id WHERE w.created_at < o.created_at",
    "customers who signed up as minors": "SELECT count(*) FROM customers "
    "WHERE created_at < birth_date + INTERVAL_18_YEARS",
}


def test_build_1000_customers(db_url: str) -> None:
    progress: list[tuple[int, int]] = []
    summary = build_company(
        db_url, customers=1000, seed=3, progress=lambda d, t: progress.append((d, t))
    )
    expected = _counts(1000, 3)
    assert expected["customers"] == 1000
    assert expected["employees"] == employee_count(1000) == 60
    # Activity per customer is as configured (means 2 orders, 0.3 tickets): not empty tables.
    assert 1500 < expected["orders"] < 2500 and 150 < expected["tickets"] < 450
    assert summary.rows == dict(expected)
    for table, count in expected.items():
        assert _scalar(db_url, f"SELECT count(*) FROM {table}") == count, table
    adult = "date(birth_date, '+18 years')" if db_url.startswith("sqlite") else (
        "birth_date + interval '18 years'"
    )  # fmt: skip
    for what, sql in ORPHANS.items():
        assert _scalar(db_url, sql.replace("birth_date + INTERVAL_18_YEARS", adult)) == 0, what
    assert progress[-1] == (1000, 1000)


def test_misnamed_columns_hold_personal_data(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    build_company(url, customers=1000, seed=4)
    remarks = [r[0] for r in _rows(url, "SELECT remark FROM customers WHERE remark IS NOT NULL")]
    mobiles = [r for r in remarks if r.isdigit() and _is_mobile(r)]
    assert len(remarks) > 500 and len(mobiles) > 0.6 * len(remarks)
    ext = [json.loads(r[0]) for r in _rows(url, "SELECT ext_info FROM orders")]
    ids = [e["kyc"] for e in ext if "kyc" in e]
    assert len(ids) > 0.2 * len(ext) and all(_ric_ok(x) for x in ids)
    notes = [r[0] for r in _rows(url, "SELECT notes FROM tickets")]
    assert any(any(_ric_ok(tok) for tok in _tokens(n)) for n in notes)


def _is_mobile(number: str) -> bool:
    parsed = phonenumbers.parse("+86" + number)
    return phonenumbers.number_type(parsed) == phonenumbers.PhoneNumberType.MOBILE


def _tokens(note: str) -> list[str]:
    return re.findall(r"[0-9X]{18}", note)


def test_same_seed_same_company_other_seed_other_company(tmp_path: Any) -> None:
    urls = [f"sqlite:///{tmp_path / f'{name}.db'}" for name in ("a", "b", "c")]
    for url, seed in zip(urls, (7, 7, 8), strict=True):
        build_company(url, customers=1000, seed=seed)
    for table, key in (("customers", "id"), ("orders", "id"), ("tickets", "id"),
                       ("waybills", "waybill_no"), ("employees", "id")):  # fmt: skip
        a = _rows(urls[0], f"SELECT * FROM {table} ORDER BY {key}")
        assert a == _rows(urls[1], f"SELECT * FROM {table} ORDER BY {key}"), table
        assert a != _rows(urls[2], f"SELECT * FROM {table} ORDER BY {key}"), table


def test_existing_company_is_not_overwritten_unless_asked(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    build_company(url, customers=1000, seed=1)
    with pytest.raises(CompanyExistsError, match="customers"):
        build_company(url, customers=1000, seed=2)
    first = _rows(url, "SELECT name FROM customers WHERE id = 1")
    assert first == [(customer_columns(1, 0).columns["name"][0],)]
    build_company(url, customers=1000, seed=2, replace=True)
    assert _rows(url, "SELECT name FROM customers WHERE id = 1") == [
        (customer_columns(2, 0).columns["name"][0],)
    ]


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="customers"):
        next(iter_company(0))
    with pytest.raises(ValueError, match="batch_size"):
        next(iter_company(10, batch_size=0))


def _collect(batches: Any) -> dict[str, list[tuple[Any, ...]]]:
    tables: dict[str, list[tuple[Any, ...]]] = {}
    for batch in batches:
        tables.setdefault(batch.table, []).extend(batch.rows())
    return tables


def test_rows_do_not_depend_on_batch_size() -> None:
    assert _collect(iter_company(2500, 5, batch_size=333)) == _collect(
        iter_company(2500, 5, batch_size=5000)
    )


def test_a_small_company_is_a_prefix_of_a_bigger_one() -> None:
    small = _collect(iter_company(700, 9))["customers"]
    big = _collect(iter_company(CHUNK + 500, 9))["customers"]
    assert small == big[:700]


def test_streaming_yields_bounded_batches_lazily(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[int] = []
    real = company_module.customer_columns

    def spy(seed: int, chunk: int, *shape: Any) -> Batch:
        made.append(chunk)
        return real(seed, chunk, *shape)

    monkeypatch.setattr(company_module, "customer_columns", spy)
    batches = iter_company(20_000, 1, batch_size=1000)
    seen = Counter[str]()
    for batch in batches:
        assert 0 < len(batch) <= 1000
        seen[batch.table] += len(batch)
        if batch.table == "customers" and seen["customers"] == 1000:
            # The first customers are out before the second chunk is even made.
            assert made == [0]
        # Never more than the chunk being emitted has been generated.
        if batch.table == "customers":
            assert max(made) == (seen["customers"] - 1) // CHUNK
    assert seen["customers"] == 20_000
    assert made == list(range(20_000 // CHUNK))


def test_build_writes_batch_by_batch(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    sizes: list[int] = []
    real = build_module._sqlite_batch

    def spy(conn: Any, batch: Batch) -> None:
        sizes.append(len(batch))
        real(conn, batch)

    monkeypatch.setattr(build_module, "_sqlite_batch", spy)
    summary = build_company(f"sqlite:///{tmp_path / 'c.db'}", customers=3000, batch_size=400)
    assert max(sizes) <= 400
    assert sum(sizes) == summary.total_rows


def _looks_like(value: object) -> set[str]:
    """Reference checks of the identifier types that are decidable from a value alone."""
    found: set[str] = set()
    # Whole tokens only: a mobile-shaped run inside JDVA13812345678 is part of a waybill.
    for token in re.findall(
        r"(?<![0-9A-Za-z])(?:\d{17}[0-9X]|\d{11,19})(?![0-9A-Za-z])", str(value)
    ):
        if len(token) == 18 and _ric_ok(token):
            found.add("cn_resident_id")
        elif re.fullmatch(r"\d{15,19}", token) and luhn.is_valid(token) and token[0] in "456":
            found.add("bank_card")
        elif re.fullmatch(r"1[3-9]\d{9}", token) and _is_mobile(token):
            found.add("cn_mobile")
    return found


def test_column_ground_truth_matches_the_values(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    build_company(url, customers=1000, seed=12)
    tables = set(COLUMN_TYPES) | {t.name for t in metadata.sorted_tables}
    assert tables == set(TABLE_ORDER)
    for table in metadata.sorted_tables:
        truth = COLUMN_TYPES.get(table.name, {})
        assert set(truth) <= set(table.c.keys()), table.name
        for column in table.c:
            values = [r[0] for r in _rows(url, f"SELECT {column.name} FROM {table.name}")]
            found = set().union(*(_looks_like(v) for v in values if v is not None))
            listed = set(truth.get(column.name, ()))
            decidable = {"cn_resident_id", "bank_card", "cn_mobile"}
            # Every decidable type found is listed, and every decidable type listed is found.
            assert found <= listed, (table.name, column.name, found - listed)
            assert listed & decidable <= found, (table.name, column.name, listed - found)
