"""gateway.sql_rewrite on the demo company, in SQLite and PostgreSQL: the rewritten queries are
executed and their rows compared with the clear rows masked by hand (the masks the issue names:
mobile 3 + **** + 4, names first character + *, ...), the row filters, SELECT *, CTE shadowing,
fingerprints and the denials' messages and positions."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from leakwarden.demo.build import build_company
from leakwarden.gateway.catalog import Catalog
from leakwarden.gateway.decision import Decision, Treatment
from leakwarden.gateway.sql_rewrite import QueryDenied, Rewritten, rewrite

CATALOG = Catalog.from_demo()
CUSTOMERS = 200
SEED = 11


class Db:
    """One demo-company database and how to run a query on it."""

    def __init__(self, dialect: str, run: Callable[[str], list[tuple[Any, ...]]]) -> None:
        self.dialect = dialect
        self.run = run

    def rewrite(self, sql: str, decide: Callable[[str, list[str]], Decision]) -> Rewritten:
        return rewrite(sql, dialect=self.dialect, catalog=CATALOG, decide=decide)

    def query(
        self, sql: str, decide: Callable[[str, list[str]], Decision]
    ) -> list[tuple[Any, ...]]:
        return self.run(self.rewrite(sql, decide).sql)


def _sqlite_db(path: Path) -> Iterator[Db]:
    build_company(f"sqlite:///{path}", customers=CUSTOMERS, seed=SEED)
    con = sqlite3.connect(path)
    yield Db("sqlite", lambda sql: con.execute(sql).fetchall())
    con.close()


def _pg_db(server: Any) -> Iterator[Db]:
    import psycopg

    url = server.create_database("sqlrw")
    build_company(url, customers=CUSTOMERS, seed=SEED)
    con = psycopg.connect(url.replace("+psycopg", ""), autocommit=True)

    def run(sql: str) -> list[tuple[Any, ...]]:
        with con.cursor() as cur:
            cur.execute(sql.encode())  # bytes: no %-parameter parsing of LIKE patterns
            return list(cur.fetchall())

    yield Db("postgres", run)
    con.close()
    server.drop_database(url)


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Db]:
    if request.param == "sqlite":
        yield from _sqlite_db(tmp_path_factory.mktemp("sqlrw") / "company.db")
    else:
        yield from _pg_db(request.getfixturevalue("pg_server"))


@pytest.fixture(scope="module")
def clear(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sqlite3.Connection]:
    """The same company (same seed) read directly, for expected values."""
    path = tmp_path_factory.mktemp("sqlrw-clear") / "company.db"
    build_company(f"sqlite:///{path}", customers=CUSTOMERS, seed=SEED)
    con = sqlite3.connect(path)
    yield con
    con.close()


def masking_decide(
    overrides: dict[str, Treatment] | None = None, row_filter: dict[str, str] | None = None
) -> Callable[[str, list[str]], Decision]:
    """A test decision: personal columns MASKED, the rest CLEAR, ``table.column`` overrides."""
    calls: list[tuple[str, list[str]]] = []

    def decide(table: str, columns: list[str]) -> Decision:
        calls.append((table, list(columns)))
        info = CATALOG.table(table)
        treatments = {
            c: Treatment.MASKED if ci.is_personal else Treatment.CLEAR
            for c, ci in info.columns.items()
        }
        for key, value in (overrides or {}).items():
            t, _, c = key.partition(".")
            if t == table:
                treatments[c] = value
        return Decision(True, "test", ["test"], treatments, row_filter)

    decide.calls = calls  # type: ignore[attr-defined]
    return decide


def _mobile(v: str) -> str:
    """keep:3,4 (detect.types): first 3 and last 4 kept, every character between starred
    (13812345678 -> 138****5678; +1 555-010-3876 -> +1 *******3876)."""
    return v[:3] + "*" * (len(v) - 7) + v[-4:] if len(v) >= 11 else "***"


def _name(v: str) -> str:
    return v[0] + "*"


def _email(v: str) -> str:
    return v[0] + "***" + v[v.index("@") :]


def _address(v: str) -> str:
    return v[:6] + "****"


def _text(v: Any) -> str:
    return v.isoformat() if isinstance(v, dt.date) else str(v)


def test_masks_per_data_class_on_real_rows(db: Db, clear: sqlite3.Connection) -> None:
    got = db.query(
        "SELECT id, name, mobile, email, address, birth_date, id_card, province "
        "FROM customers ORDER BY id",
        masking_decide(),
    )
    want = clear.execute(
        "SELECT id, name, mobile, email, address, birth_date, id_card, province "
        "FROM customers ORDER BY id"
    ).fetchall()
    assert len(got) == len(want) == CUSTOMERS
    for g, w in zip(got, want, strict=True):
        assert g[0] == w[0]
        assert g[1] == _name(w[1])
        assert g[2] == _mobile(w[2])
        assert g[3] == _email(w[3])
        assert g[4] == _address(w[4])
        assert g[5] == w[5][:4] + "-**-**"
        # id_card holds resident IDs and US SSNs: the stricter mask, the last 4 only
        assert g[6] == "*" * (len(w[6]) - 4) + w[6][-4:]
        assert g[7] == w[7]  # not personal: clear


def test_resident_id_mask_keeps_6_and_4(db: Db, clear: sqlite3.Connection) -> None:
    """orders.ext_info is classed cn_resident_id alone: a value of 18+ characters keeps 6 + 4;
    the demo's ext_info is JSON, so this checks the arithmetic on a literal table instead."""
    from sqlglot import exp

    from leakwarden.gateway.sql_masks import mask_expression

    sql = mask_expression(exp.column("v"), ["cn_resident_id"]).sql(
        dialect="sqlite" if db.dialect == "sqlite" else "postgres"
    )
    rows = db.run(f"SELECT {sql} FROM (SELECT '11010119900307451X' AS v) AS t")
    assert rows == [("110101********451X",)]


def test_clear_columns_and_select_star_omit_denied(db: Db, clear: sqlite3.Connection) -> None:
    decide = masking_decide({"payment_cards.card_no": Treatment.DENIED})
    got = db.query("SELECT * FROM payment_cards ORDER BY id", decide)
    want = clear.execute(
        "SELECT id, customer_id, bank, card_type, holder_name, expiry "
        "FROM payment_cards ORDER BY id"
    ).fetchall()
    assert [g[:4] + g[5:] for g in got] == [w[:4] + w[5:] for w in want]
    assert [g[4] for g in got] == [_name(w[4]) for w in want]
    assert all(len(g) == 6 for g in got)  # card_no is not there at all
    r = db.rewrite("SELECT * FROM payment_cards", decide)
    assert r.columns == {
        "payment_cards": ["id", "customer_id", "bank", "card_type", "holder_name", "expiry"]
    }
    assert "card_no" not in r.sql


def test_denied_and_pseudonymised_columns_are_refused_by_name(db: Db) -> None:
    decide = masking_decide(
        {"payment_cards.card_no": Treatment.DENIED, "customers.id_card": Treatment.PSEUDONYMISED}
    )
    with pytest.raises(QueryDenied, match=r"payment_cards\.card_no is denied") as info:
        db.rewrite("SELECT id,\n  card_no FROM payment_cards", decide)
    assert info.value.position is not None
    assert (info.value.position.line, info.value.position.column) == (2, 9)
    with pytest.raises(QueryDenied, match=r"customers\.id_card may only be seen pseudonymised"):
        db.rewrite("SELECT upper(c.id_card) FROM customers AS c", decide)
    # through a CTE's star: not visible, and the message says which columns are hidden
    with pytest.raises(QueryDenied, match=r"not visible to you: .*customers\.id_card"):
        db.rewrite("WITH x AS (SELECT * FROM customers) SELECT id_card FROM x", decide)
    rows = db.query("SELECT * FROM customers WHERE id = 1", decide)
    assert len(rows[0]) == len(CATALOG.table("customers").columns) - 1


def test_cte_shadowing_a_table_is_still_masked(db: Db, clear: sqlite3.Connection) -> None:
    got = db.query(
        "WITH customers AS (SELECT * FROM customers) SELECT id, mobile FROM customers ORDER BY id",
        masking_decide(),
    )
    want = clear.execute("SELECT id, mobile FROM customers ORDER BY id").fetchall()
    assert got == [(i, _mobile(m)) for i, m in want]


def test_every_place_a_table_can_hide_is_wrapped(db: Db, clear: sqlite3.Connection) -> None:
    decide = masking_decide()
    sql = """
        WITH recent AS (SELECT customer_id, ship_to_phone FROM orders)
        SELECT c.id,
               (SELECT max(r.ship_to_phone) FROM recent r WHERE r.customer_id = c.id) AS phone,
               c.mobile
        FROM customers c
        WHERE EXISTS (SELECT 1 FROM tickets t WHERE t.customer_id = c.id)
          AND c.id IN (SELECT customer_id FROM payment_cards)
        UNION ALL
        SELECT w.order_id, w.recipient_phone, w.recipient_name FROM waybills w
    """
    r = db.rewrite(sql, decide)
    assert r.tables == ["customers", "orders", "payment_cards", "tickets", "waybills"]
    rows = db.run(r.sql)
    phones = {row[0] for row in clear.execute("SELECT ship_to_phone FROM orders")}
    phones |= {row[0] for row in clear.execute("SELECT mobile FROM customers")}
    phones |= {row[0] for row in clear.execute("SELECT recipient_phone FROM waybills")}
    assert rows
    for row in rows:
        for cell in row[1:]:
            assert cell is None or cell not in phones
            assert cell is None or "*" in cell


def test_row_filter_by_region_reaches_every_table(db: Db, clear: sqlite3.Connection) -> None:
    region = clear.execute(
        "SELECT CASE WHEN province = city THEN city ELSE province || city END AS r "
        "FROM customers GROUP BY r ORDER BY count(*) DESC LIMIT 1"
    ).fetchone()[0]
    ids = {
        row[0]
        for row in clear.execute(
            "SELECT id FROM customers WHERE "
            "(CASE WHEN province = city THEN city ELSE province || city END) = ?",
            (region,),
        )
    }
    assert 0 < len(ids) < CUSTOMERS
    decide = masking_decide(row_filter={"region": region})
    assert {r[0] for r in db.query("SELECT id FROM customers", decide)} == ids
    order_customers = {r[0] for r in db.query("SELECT customer_id FROM orders", decide)}
    assert order_customers and order_customers <= ids
    got = db.query("SELECT order_id FROM waybills", decide)
    want_orders = {
        row[0]
        for row in clear.execute(
            "SELECT w.order_id FROM waybills w JOIN orders o ON o.id = w.order_id "
            f"WHERE o.customer_id IN ({','.join(map(str, sorted(ids)))})"
        )
    }
    assert {r[0] for r in got} == want_orders


def test_row_filter_by_customer_ids(db: Db, clear: sqlite3.Connection) -> None:
    decide = masking_decide(row_filter={"customer_ids": "3,5,8"})
    assert sorted(r[0] for r in db.query("SELECT id FROM customers", decide)) == [3, 5, 8]
    want = clear.execute("SELECT count(*) FROM tickets WHERE customer_id IN (3, 5, 8)").fetchone()[
        0
    ]
    assert db.query("SELECT count(*) FROM tickets", decide) == [(want,)]


def test_row_filter_on_a_table_without_customers_is_refused(db: Db) -> None:
    with pytest.raises(QueryDenied, match=r"employees.* has no customer key"):
        db.rewrite("SELECT id FROM employees", masking_decide(row_filter={"customer_ids": "1"}))


def test_masked_values_in_filters_are_refused(db: Db) -> None:
    decide = masking_decide()
    cases = {
        "SELECT id FROM customers WHERE mobile LIKE '1381%'": "WHERE",
        "SELECT o.id FROM orders o JOIN customers c ON c.mobile = o.ship_to_phone": "JOIN",
        "SELECT name, count(*) FROM customers GROUP BY name": "GROUP BY",
        "SELECT id FROM customers ORDER BY mobile": "ORDER BY",
        "SELECT mobile AS m FROM customers ORDER BY 1": "ORDER BY",
        "SELECT s.m FROM (SELECT mobile || '' AS m FROM customers) s WHERE s.m = 'x'": "WHERE",
        "SELECT id FROM customers WHERE id IN (SELECT mobile FROM customers)": "WHERE",
        "SELECT province FROM customers GROUP BY province HAVING max(mobile) > '13'": "HAVING",
    }
    for sql, clause in cases.items():
        with pytest.raises(QueryDenied, match=f"masked for you.*{clause}"):
            db.rewrite(sql, decide)
    # the same filters on clear columns run
    assert db.query("SELECT id FROM customers WHERE province LIKE '%省' ORDER BY id", decide)


def test_decisions_are_asked_per_table_with_the_columns_read(db: Db) -> None:
    decide = masking_decide()
    db.rewrite(
        "SELECT c.mobile, o.amount FROM customers c JOIN orders o ON o.customer_id = c.id", decide
    )
    calls = dict(decide.calls)  # type: ignore[attr-defined]
    assert calls == {"customers": ["id", "mobile"], "orders": ["customer_id", "amount"]}


def test_refused_tables_and_failing_policies_fail_closed(db: Db) -> None:
    def refuse(table: str, columns: list[str]) -> Decision:
        return Decision.deny("no ticket for customer_service", columns)

    with pytest.raises(QueryDenied, match=r"customers.*no ticket"):
        db.rewrite("SELECT id FROM customers", refuse)

    def broken(table: str, columns: list[str]) -> Decision:
        raise RuntimeError("cedar exploded")

    with pytest.raises(QueryDenied, match=r"no decision.*cedar exploded"):
        db.rewrite("SELECT id FROM customers", broken)


def test_parse_errors_say_where() -> None:
    with pytest.raises(QueryDenied, match="could not be parsed") as info:
        rewrite("SELECT id\nFROM WHERE", dialect="sqlite", catalog=CATALOG, decide=masking_decide())
    assert info.value.position is not None and info.value.position.line == 2


def test_unknown_dialect_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="mysql"):
        rewrite("SELECT 1", dialect="mysql", catalog=CATALOG, decide=masking_decide())


def test_fingerprint_ignores_literals_case_comments_and_layout() -> None:
    def fp(sql: str) -> Rewritten:
        return rewrite(sql, dialect="sqlite", catalog=CATALOG, decide=masking_decide())

    a = fp("SELECT id, city FROM customers WHERE province = '广东省' LIMIT 10")
    b = fp("select ID, City\n  from Customers /* hi */ where PROVINCE = '浙江省' limit 99 -- x")
    c = fp("SELECT id, city FROM customers WHERE district = '广东省' LIMIT 10")
    assert a.fingerprint == b.fingerprint
    assert a.fingerprint != c.fingerprint
    assert a.parameters == ["广东省", "10"]
    assert b.parameters == ["浙江省", "99"]
    assert len(a.fingerprint) == 64


def test_comments_never_reach_the_database() -> None:
    r = rewrite(
        "SELECT id /* */ FROM customers -- ; DROP TABLE customers",
        dialect="postgres",
        catalog=CATALOG,
        decide=masking_decide(),
    )
    assert "DROP" not in r.sql and "--" not in r.sql and "/*" not in r.sql


# ---------------------------------------------------------------------------------------------
# with the shipped Cedar policies (gateway.policy) deciding


def policy_decide(
    role: str, department: str, purpose: str, **request: Any
) -> Callable[[str, list[str]], Decision]:
    from leakwarden.gateway.decision import AccessRequest, Principal
    from leakwarden.gateway.policy import PolicyEngine

    engine = PolicyEngine.load()
    principal = Principal("7", role, department, "广东省广州市")

    def decide(table: str, columns: list[str]) -> Decision:
        return engine.decide(
            AccessRequest(principal, "query", purpose, table, tuple(columns), **request), CATALOG
        )

    return decide


def test_billing_sees_card_numbers_masked_through_concat(db: Db, clear: sqlite3.Connection) -> None:
    decide = policy_decide("会计", "财务", "billing")
    got = db.query(
        "SELECT id, card_no, CONCAT('', card_no) || '', holder_name FROM payment_cards ORDER BY id",
        decide,
    )
    want = clear.execute("SELECT id, card_no, holder_name FROM payment_cards ORDER BY id")
    for (gid, card, concat, holder), (wid, wcard, wholder) in zip(got, want, strict=True):
        masked = wcard[:4] + "*" * (len(wcard) - 8) + wcard[-4:]  # bank_card: keep:4,4
        assert (gid, card, concat, holder) == (wid, masked, masked, wholder)
    with pytest.raises(QueryDenied, match="card_no is masked for you"):
        db.rewrite("SELECT id FROM payment_cards WHERE card_no LIKE '6222%'", decide)


def test_marketing_gets_only_clear_columns_in_sql(db: Db) -> None:
    """Marketing sees identifiers pseudonymised, which SQL cannot do: SELECT * leaves them out,
    naming one is refused, the resident ID is denied."""
    decide = policy_decide("营销专员", "营销", "marketing")
    r = db.rewrite("SELECT * FROM customers", decide)
    assert r.columns["customers"] == [
        "id",
        "gender",
        "province",
        "city",
        "district",
        "vip",
        "segment",
        "created_at",
        "locale",
    ]
    assert len(db.run(r.sql)) == CUSTOMERS
    with pytest.raises(QueryDenied, match=r"customers\.mobile may only be seen pseudonymised"):
        db.rewrite("SELECT segment, mobile FROM customers", decide)
    with pytest.raises(QueryDenied, match=r"customers\.id_card is denied"):
        db.rewrite("SELECT id_card FROM customers", decide)


def test_customer_service_query_masks_order_contacts(db: Db, clear: sqlite3.Connection) -> None:
    decide = policy_decide(
        "客服主管", "客服", "customer_service", ticket="T-7", ticket_checked=True
    )
    got = db.query("SELECT id, ship_to_phone || '' FROM orders ORDER BY id", decide)
    want = clear.execute("SELECT id, ship_to_phone FROM orders ORDER BY id").fetchall()
    assert got == [(i, _mobile(p)) for i, p in want]


def test_a_role_without_a_purpose_is_refused(db: Db) -> None:
    decide = policy_decide("人事专员", "人力资源", "analytics")
    with pytest.raises(QueryDenied, match="access to table 'customers' denied"):
        db.rewrite("SELECT city FROM customers", decide)


def test_order_by_clear_union_outputs_and_aliases_runs(db: Db) -> None:
    decide = masking_decide()
    rows = db.query("SELECT id FROM customers UNION SELECT 0 ORDER BY 1 DESC", decide)
    assert [r[0] for r in rows] == list(range(CUSTOMERS, -1, -1))
    rows = db.query(
        "SELECT province AS p, count(*) AS n FROM customers GROUP BY p ORDER BY n", decide
    )
    assert sum(r[1] for r in rows) == CUSTOMERS
    with pytest.raises(QueryDenied, match=r"masked for you.*ORDER BY"):
        db.rewrite("SELECT mobile AS m FROM customers UNION SELECT 'x' ORDER BY m", decide)


def test_subqueries_read_only_the_columns_the_query_uses() -> None:
    r = rewrite(
        "SELECT count(*) FROM customers WHERE province = 'x'",
        dialect="sqlite",
        catalog=CATALOG,
        decide=masking_decide(),
    )
    assert r.columns == {"customers": ["province"]}
    assert "mobile" not in r.sql and "id_card" not in r.sql


# ---------------------------------------------------------------------------------------------
# pseudonymise=True: pseudonymised columns pass through whole, their positions are reported


def test_pseudonymised_columns_pass_through_only_whole(db: Db, clear: sqlite3.Connection) -> None:
    from leakwarden.gateway.sql_rewrite import PseudonymColumn

    decide = policy_decide("营销专员", "营销", "marketing")

    def run(sql: str) -> Rewritten:
        return rewrite(sql, dialect=db.dialect, catalog=CATALOG, decide=decide, pseudonymise=True)

    mobile = PseudonymColumn("customers", "mobile", ("cn_mobile", "phone"))
    r = run("SELECT id, mobile AS m, segment FROM customers WHERE id = 3")
    assert r.pseudonymised == {1: mobile}
    want = clear.execute("SELECT id, mobile, segment FROM customers WHERE id = 3").fetchall()
    assert db.run(r.sql) == want  # clear from the database: the caller must pseudonymise
    # through a derived table and a CTE, and a star
    r = run("WITH c AS (SELECT id, mobile FROM customers) SELECT x.mobile FROM (SELECT * FROM c) x")
    assert r.pseudonymised == {0: mobile}
    r = run("SELECT * FROM customers")
    names = r.columns["customers"]
    assert "id_card" not in names  # denied stays out
    assert {names[i] for i in r.pseudonymised} == {
        "name",
        "mobile",
        "email",
        "birth_date",
        "address",
        "remark",
    }
    # every other use is refused
    for sql in [
        "SELECT CONCAT('', mobile) FROM customers",
        "SELECT mobile || '' FROM customers",
        "SELECT SUBSTR(mobile, 1, 3) FROM customers",
        "SELECT id FROM customers WHERE mobile = '13812345678'",
        "SELECT id FROM customers ORDER BY mobile",
        "SELECT mobile, count(*) FROM customers GROUP BY mobile",
        "SELECT c.id FROM customers c JOIN orders o ON o.ship_to_phone = c.mobile",
        "SELECT mobile FROM customers UNION SELECT 'x'",
        "SELECT (SELECT max(mobile) FROM customers)",
        "SELECT id FROM customers WHERE id IN (SELECT mobile FROM customers)",
        "SELECT x.m || '' FROM (SELECT mobile AS m FROM customers) x",
    ]:
        with pytest.raises(QueryDenied, match="pseudonymised for you"):
            run(sql)
    # and without the flag, naming one is refused as before
    with pytest.raises(QueryDenied, match="may only be seen pseudonymised"):
        db.rewrite("SELECT mobile FROM customers", decide)


def test_a_trailing_semicolon_and_comment_are_one_statement() -> None:
    for sql in ["SELECT id FROM customers;", "SELECT id FROM customers; -- done", "SELECT 1;;"]:
        rewrite(sql, dialect="sqlite", catalog=CATALOG, decide=masking_decide())
    with pytest.raises(QueryDenied, match="one statement"):
        rewrite(
            "SELECT id FROM customers; -- x\nSELECT 2",
            dialect="sqlite",
            catalog=CATALOG,
            decide=masking_decide(),
        )


# ---------------------------------------------------------------------------------------------
# queries that read no column of a table (COUNT(*), SELECT 1, EXISTS)


def naming_decide(row_filter: dict[str, str] | None = None) -> Callable[[str, list[str]], Decision]:
    """Like the policy engine: the decision names only the columns asked about (CLEAR), every
    other column is DENIED, so a query reading no column gets a decision naming none."""

    def decide(table: str, columns: list[str]) -> Decision:
        return Decision(True, "test", ["test"], dict.fromkeys(columns, Treatment.CLEAR), row_filter)

    return decide


def test_count_star_reads_no_column_and_keeps_the_row_filter(
    db: Db, clear: sqlite3.Connection
) -> None:
    region = clear.execute(
        "SELECT CASE WHEN province = city THEN city ELSE province || city END AS r "
        "FROM customers GROUP BY r ORDER BY count(*) DESC LIMIT 1"
    ).fetchone()[0]
    ids = [
        row[0]
        for row in clear.execute(
            "SELECT id FROM customers WHERE "
            "(CASE WHEN province = city THEN city ELSE province || city END) = ?",
            (region,),
        )
    ]
    in_ids = ",".join(map(str, ids))
    want_orders = clear.execute(
        f"SELECT count(*) FROM orders WHERE customer_id IN ({in_ids})"
    ).fetchone()[0]
    all_orders = clear.execute("SELECT count(*) FROM orders").fetchone()[0]
    assert 0 < want_orders < all_orders  # the filter matters

    decide = naming_decide({"region": region})
    r = db.rewrite("SELECT COUNT(*) FROM orders", decide)
    assert r.columns == {"orders": []}
    assert "ship_to_phone" not in r.sql and "customer_id" in r.sql  # the filter, no data
    assert db.run(r.sql) == [(want_orders,)]
    assert db.query("SELECT 1 FROM customers", decide) == [(1,)] * len(ids)
    # a cross join of two unread tables: both filtered
    assert db.query("SELECT count(*) FROM orders, customers", decide) == [(want_orders * len(ids),)]
    # EXISTS over an unread table, correlated through a read one
    got = db.query("SELECT count(*) FROM customers c WHERE EXISTS (SELECT 1 FROM tickets)", decide)
    has_tickets = clear.execute(
        f"SELECT count(*) FROM tickets WHERE customer_id IN ({in_ids})"
    ).fetchone()[0]
    assert got == [(len(ids) if has_tickets else 0,)]
    # unfiltered, every order is counted
    assert db.query("SELECT count(*) FROM orders", naming_decide()) == [(all_orders,)]


def test_a_star_over_a_table_with_no_visible_column_is_refused(db: Db) -> None:
    def nothing_visible(table: str, columns: list[str]) -> Decision:
        return Decision(True, "test", ["test"], dict.fromkeys(columns, Treatment.DENIED))

    with pytest.raises(QueryDenied, match=r"none of the columns of .*orders.* is visible"):
        db.rewrite("SELECT * FROM orders", nothing_visible)
    with pytest.raises(QueryDenied, match="none of the columns"):
        db.rewrite("SELECT count(*) FROM (SELECT * FROM orders) s", nothing_visible)
    # the placeholder cannot be named: it is no column of the catalogue
    with pytest.raises(QueryDenied, match="unknown"):
        db.rewrite("SELECT _lw_no_column FROM orders", naming_decide())
    # counting rows needs no column and reveals none
    assert db.query("SELECT count(*) FROM orders", nothing_visible)[0][0] > 0


def test_count_star_with_the_shipped_policies(db: Db, clear: sqlite3.Connection) -> None:
    decide = policy_decide("数据分析师", "数据分析", "analytics")
    want = clear.execute("SELECT count(*) FROM orders").fetchone()[0]
    assert db.query("SELECT COUNT(*) FROM orders", decide) == [(want,)]


# ---------------------------------------------------------------------------------------------
# the memo of rewrites: reused only under the same decisions


def test_a_repeated_query_is_rewritten_again_when_a_decision_changes(db: Db) -> None:
    sql = "SELECT id, mobile FROM customers WHERE id <= 3 ORDER BY id"
    calls: list[tuple[str, list[str]]] = []
    state: dict[str, Any] = {"mobile": Treatment.MASKED, "filter": None, "allowed": True}

    def decide(table: str, columns: list[str]) -> Decision:
        calls.append((table, list(columns)))
        treatments = {c: Treatment.CLEAR for c in columns}
        treatments["mobile"] = state["mobile"]
        return Decision(state["allowed"], "test", ["test"], treatments, state["filter"])

    first = db.rewrite(sql, decide)
    again = db.rewrite(sql, decide)
    assert again == first and again is not first
    assert calls == [("customers", ["id", "mobile"])] * 2  # asked again, same question
    masked = db.run(first.sql)
    assert all("*" in r[1] for r in masked)

    state["mobile"] = Treatment.CLEAR  # the policy now shows it clear: a new rewrite
    clear_rows = db.run(db.rewrite(sql, decide).sql)
    assert [r[0] for r in clear_rows] == [r[0] for r in masked]
    assert all("*" not in r[1] for r in clear_rows)

    state["filter"] = {"customer_ids": "2"}  # a row filter appears: applied, not the memo
    assert [r[0] for r in db.query(sql, decide)] == [2]
    state["filter"] = {"customer_ids": "3"}
    assert [r[0] for r in db.query(sql, decide)] == [3]

    state["allowed"] = False  # refused now: refused, whatever was rewritten before
    with pytest.raises(QueryDenied, match="access to table 'customers' denied"):
        db.rewrite(sql, decide)

    def broken(table: str, columns: list[str]) -> Decision:
        raise RuntimeError("cedar exploded")

    with pytest.raises(QueryDenied, match="cedar exploded"):
        db.rewrite(sql, broken)
