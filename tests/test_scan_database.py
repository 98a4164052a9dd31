"""Database sources: every table classified per column, cheap sampling, full streaming, problems
for an unreachable server, binary columns and a table without read permission (PostgreSQL, on
the throwaway server of conftest), and a Dask LocalCluster giving the single-process result."""

from __future__ import annotations

import sqlite3
from dataclasses import astuple
from pathlib import Path
from typing import Any

import pytest

from leakwarden.scan.scanner import ScanReport, scan_sources
from leakwarden.scan.tasks import ScanOptions
from scan_fakes import FAKE_TYPES, MOBILES, VALID_IDS, FakeDetector


def scan(*targets: str, cluster: str | None = None, **options: Any) -> ScanReport:
    return scan_sources(
        list(targets),
        ScanOptions(**options),
        detector=FakeDetector(),
        types=FAKE_TYPES,
        cluster=cluster,
        workers=2,
        processes=False,
    )


def found(report: ScanReport) -> set[tuple[str, str, str]]:
    return {(e.location.container, e.location.field, e.pi_type) for e in report.entries}


def make_sqlite(path: Path, rows: int = 40) -> str:
    con = sqlite3.connect(path)
    con.executescript(
        """
        CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT, phone TEXT, ident TEXT,
                                remark TEXT, photo BLOB);
        CREATE TABLE tickets (id INTEGER PRIMARY KEY, body TEXT);
        CREATE TABLE empty_table (id INTEGER PRIMARY KEY, phone TEXT);
        CREATE VIEW v_customers AS SELECT phone, ident FROM customers;
        """
    )
    con.executemany(
        "INSERT INTO customers VALUES (?, ?, ?, ?, ?, ?)",
        [
            (i, f"客户{i}", "未知", VALID_IDS[i % 4], MOBILES[i % 4], b"\x89PNG")
            for i in range(1, rows + 1)
        ],
    )
    con.executemany(
        "INSERT INTO tickets (body) VALUES (?)",
        [
            (f"客户来电要求退款，回拨号码 {MOBILES[i % 4]}，已登记处理完成",)
            if i % 3 == 0
            else ("物流延误，已经安抚客户并补偿优惠券，工单关闭",)
            for i in range(30)
        ],
    )
    con.commit()
    con.close()
    return f"sqlite:///{path}"


def test_sqlite_tables_and_columns(tmp_path: Path) -> None:
    url = make_sqlite(tmp_path / "crm.db")
    report = scan(url)
    assert report.unreadable == []
    assert found(report) == {
        ("customers", "ident", "cn_resident_id"),
        ("customers", "remark", "cn_mobile"),  # misleading header
        ("tickets", "body", "cn_mobile"),  # free-text column: mentions
    }
    # the header "phone" holding "未知" is not asserted; the BLOB column and the view are reported
    view, blob = report.problems
    assert (blob.location.container, blob.location.field) == ("customers", "photo")
    assert "binary column" in blob.problem
    assert view.location.container == "v_customers" and "view not scanned" in view.problem
    ident = next(e for e in report.entries if e.pi_type == "cn_resident_id")
    assert ident.rows_total == 40 and ident.evidence["sampled"] == 40
    assert ident.source_kind == "database"
    ticket = next(e for e in report.entries if e.location.container == "tickets")
    assert ticket.evidence["kind"] == "mentions" and ticket.evidence["cells_with"] == 10
    result = report.results[0]
    assert result.containers_scanned == 3
    assert set(result.containers) == {"customers", "tickets", "empty_table"}


def test_sqlite_sampling_and_full(tmp_path: Path) -> None:
    url = make_sqlite(tmp_path / "big.db", rows=3000)
    sampled = scan(url, sample=100)
    ident = next(e for e in sampled.entries if e.pi_type == "cn_resident_id")
    assert ident.rows_total == 3000
    assert ident.evidence["sampled"] == 100  # 50 first rows + 50 random rows
    full = scan(url, sample=100, full=True)
    ident = next(e for e in full.entries if e.pi_type == "cn_resident_id")
    assert ident.evidence["sampled"] == 3000


def test_unreachable_database_is_unreadable_and_hides_password() -> None:
    url = "postgresql+psycopg://scanner:s3cret-pw@127.0.0.1:1/crm"
    report = scan(url)
    assert len(report.unreadable) == 1
    assert "s3cret-pw" not in report.unreadable[0]
    [problem] = report.problems
    assert problem.position == "connect"
    assert "s3cret-pw" not in problem.problem and "s3cret-pw" not in problem.location.source
    assert "127.0.0.1" in problem.problem or "connect" in problem.problem


def test_missing_sqlite_file_is_a_problem(tmp_path: Path) -> None:
    report = scan(f"sqlite:///{tmp_path}/nope/missing.db")
    assert report.unreadable


def test_local_cluster_equals_single_process(tmp_path: Path) -> None:
    url = make_sqlite(tmp_path / "crm.db", rows=400)
    logs = tmp_path / "logs"
    logs.mkdir()
    for n in range(3):
        (logs / f"app{n}.log").write_text(
            "".join(f"login {MOBILES[i % 4]} ok\n" for i in range(20 * (n + 1)))
        )
    (logs / "blob.bin").write_bytes(bytes(range(256)))
    here = scan(url, str(logs), full=True, partition_rows=100)
    there = scan(url, str(logs), full=True, partition_rows=100, cluster="local")

    def key(report: ScanReport) -> list[tuple[Any, ...]]:
        return sorted(
            (
                *astuple(e.location),
                e.pi_type,
                e.confidence,
                e.evidence["sampled"],
                e.evidence["matched"],
            )
            for e in report.entries
        )

    assert key(here) == key(there)
    assert sorted(map(str, here.problems)) == sorted(map(str, there.problems))
    assert [r.rows_scanned for r in here.results] == [r.rows_scanned for r in there.results]


@pytest.mark.postgres
def test_postgres_tables_sampling_and_revoked_table(pg_server: Any) -> None:
    import psycopg

    url = pg_server.create_database("scan")
    dbname = url.rsplit("/", 1)[-1]
    role = f"scanner_{dbname.rsplit('_', 1)[-1]}"  # roles are server-wide: one per test run
    admin = dict(
        host=pg_server.host,
        port=pg_server.port,
        user=pg_server.user,
        password=pg_server.password,
        dbname=dbname,
        autocommit=True,
    )
    try:
        with psycopg.connect(**admin) as con:
            con.execute("CREATE SCHEMA crm")
            con.execute(
                "CREATE TABLE crm.customers (id bigint PRIMARY KEY, phone text, ident text)"
            )
            con.execute(
                "INSERT INTO crm.customers SELECT g, '138' || lpad(g::text, 8, '0'), "
                "'11010519491231002X' FROM generate_series(1, 8000) g"
            )
            con.execute("CREATE TABLE public.secret (id int, phone text)")
            con.execute("INSERT INTO public.secret VALUES (1, '13812345678')")
            con.execute("ANALYZE")
            con.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'pw-scan'")
            con.execute(f'GRANT CONNECT ON DATABASE "{dbname}" TO {role}')
            con.execute(f"GRANT USAGE ON SCHEMA crm TO {role}")
            con.execute(f"GRANT SELECT ON crm.customers TO {role}")
            con.execute(f"REVOKE SELECT ON public.secret FROM {role}")
        scanner_url = (
            f"postgresql+psycopg://{role}:pw-scan@{pg_server.host}:{pg_server.port}/{dbname}"
        )
        report = scan(scanner_url, sample=200)
        assert found(report) == {
            ("crm.customers", "phone", "cn_mobile"),
            ("crm.customers", "ident", "cn_resident_id"),
        }
        phone = next(e for e in report.entries if e.pi_type == "cn_mobile")
        assert phone.rows_total == 8000
        assert phone.evidence["sampled"] == 200  # 100 first rows + TABLESAMPLE SYSTEM
        [problem] = report.problems
        assert problem.location.container == "public.secret"
        assert "permission denied" in problem.problem
        assert problem.position.startswith("table public.secret")
        assert report.unreadable == []
        # key-range partitions on a cluster, full scan: same figures as one process
        full_here = scan(scanner_url, full=True, partition_rows=2000)
        full_there = scan(scanner_url, full=True, partition_rows=2000, cluster="local")
        assert sorted(
            (*astuple(e.location), e.pi_type, e.evidence["matched"]) for e in full_here.entries
        ) == (
            sorted(
                (*astuple(e.location), e.pi_type, e.evidence["matched"]) for e in full_there.entries
            )
        )
        assert all(e.evidence["sampled"] == 8000 for e in full_there.entries)
    finally:
        with psycopg.connect(**{**admin, "dbname": "postgres"}) as con:
            con.execute(f'DROP DATABASE "{dbname}" WITH (FORCE)')
            con.execute(f"DROP ROLE IF EXISTS {role}")
