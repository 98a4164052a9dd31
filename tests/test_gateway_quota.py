"""The exact distinct-customer quota ledger (gateway.quota.SqlQuota), on SQLite and PostgreSQL,
including many threads charging one person at once (never over-issued)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from leakwarden.gateway.quota import BYTES_QUOTA, QuotaExceeded, RedisQuota, SqlQuota
from leakwarden.gateway.settings import QuotaLimits
from leakwarden.store import db

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def _quota(url: str, **limits: int) -> SqlQuota:
    engine = db.make_engine(url)
    db.upgrade(engine)
    return SqlQuota(engine, QuotaLimits(**limits))


def test_day_limit_counts_distinct_customers_and_names_reset(db_url: str) -> None:
    q = _quota(db_url, day=3, week=10)
    q.charge("7", {1: False, 2: False}, 2, now=T0)
    q.charge("7", {2: False}, 1, now=T0 + timedelta(hours=1))  # seen: free
    q.charge("7", {3: False}, 1, now=T0 + timedelta(hours=2))
    with pytest.raises(QuotaExceeded) as info:
        q.charge("7", {4: False}, 1, now=T0 + timedelta(hours=3))
    err = info.value
    assert err.quota == "distinct customers per day" and err.limit == 3
    # customer 1 was last given at T0: the first slot frees 24 h later (customer 2 was re-seen)
    assert err.resets_at == T0 + timedelta(days=1)
    assert "limit 3" in str(err) and "2026-11-24T09:00:00Z" in str(err)
    # refused charge left nothing behind: re-seeing known customers is still free
    q.charge("7", {1: False, 2: False, 3: False}, 3, now=T0 + timedelta(hours=4))
    # another person has their own budget
    q.charge("8", {4: False, 5: False, 6: False}, 3, now=T0 + timedelta(hours=4))
    # rolling: a day after customer 1's last access (at +4 h) there is room again
    q.charge("7", {4: False}, 1, now=T0 + timedelta(hours=28, seconds=1))


def test_week_limit_and_vip_pool_are_separate(db_url: str) -> None:
    q = _quota(db_url, day=10, week=4, vip_day=1, vip_week=5)
    q.charge("7", {1: False, 2: False}, 2, now=T0)
    q.charge("7", {3: False, 4: False}, 2, now=T0 + timedelta(days=2))
    q.charge("7", {100: True}, 1, now=T0 + timedelta(days=2))  # VIP pool, not regular
    with pytest.raises(QuotaExceeded, match="distinct customers per week"):
        q.charge("7", {5: False}, 1, now=T0 + timedelta(days=3))
    with pytest.raises(QuotaExceeded, match="VIP customers per day") as info:
        q.charge("7", {101: True}, 1, now=T0 + timedelta(days=2, hours=1))
    assert info.value.limit == 1
    # after a week customers 1 and 2 have left the window
    q.charge("7", {5: False, 6: False}, 2, now=T0 + timedelta(days=7, seconds=1))


def test_rows_per_request() -> None:
    q = SqlQuota(None, QuotaLimits(rows_per_request=5))  # type: ignore[arg-type]
    with pytest.raises(QuotaExceeded, match="rows per request") as info:
        q.charge("7", {}, 6)
    assert info.value.limit == 5 and info.value.resets_at is None


def test_concurrent_charges_never_over_issue(db_url: str) -> None:
    limit = 7
    q = _quota(db_url, day=limit, week=100)
    granted: list[int] = []
    refused: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def worker(base: int) -> None:
        start.wait()
        for i in range(4):
            cust = base * 100 + i
            try:
                q.charge("42", {cust: False}, 1)
            except QuotaExceeded:
                with lock:
                    refused.append(cust)
            else:
                with lock:
                    granted.append(cust)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(granted) == limit  # 32 distinct customers asked for, exactly the limit given
    assert len(refused) == 32 - limit
    from sqlalchemy import func, select

    from leakwarden.store.gateway_tables import QuotaEntry

    with q.engine.connect() as conn:
        rows = conn.execute(select(func.count()).select_from(QuotaEntry)).scalar_one()
    assert rows == limit


# ----------------------------------------------------------------------------- Redis variant


@pytest.fixture
def redis_client(tmp_path: Any) -> Iterator[Any]:
    """A throwaway redis-server on a free loopback port (never the machine's own), or skip."""
    import shutil
    import socket
    import subprocess
    import time

    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    redis = pytest.importorskip("redis")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
         "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    client = redis.Redis(host="127.0.0.1", port=port)
    try:
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        else:
            pytest.fail("the throwaway redis-server did not start")
        yield client
    finally:
        client.close()
        proc.terminate()
        proc.wait(timeout=10)


def test_redis_quota_day_week_vip(redis_client: Any) -> None:
    q = RedisQuota(redis_client, QuotaLimits(day=2, week=3, vip_day=1, vip_week=5))
    q.charge("7", {1: False, 2: False}, 2, now=T0)
    q.charge("7", {2: False}, 1, now=T0 + timedelta(hours=1))  # seen: free
    with pytest.raises(QuotaExceeded) as info:
        q.charge("7", {3: False}, 1, now=T0 + timedelta(hours=2))
    assert info.value.quota == "distinct customers per day" and info.value.limit == 2
    assert info.value.resets_at == T0 + timedelta(days=1)  # customer 1, last given at T0
    q.charge("7", {50: True}, 1, now=T0 + timedelta(hours=2))  # VIP budget apart
    with pytest.raises(QuotaExceeded, match="VIP customers per day"):
        q.charge("7", {51: True}, 1, now=T0 + timedelta(hours=3))
    # a refused request charged nothing, in no pool
    with pytest.raises(QuotaExceeded):
        q.charge("7", {3: False, 52: True}, 2, now=T0 + timedelta(hours=3))
    q.charge("7", {3: False}, 1, now=T0 + timedelta(days=1, hours=2))  # 1 left the day window
    with pytest.raises(QuotaExceeded, match="distinct customers per week"):
        q.charge("7", {4: False}, 1, now=T0 + timedelta(days=3))
    q.charge("7", {4: False}, 1, now=T0 + timedelta(days=7, hours=2))  # 1 and 2 left the week


def test_redis_concurrent_charges_never_over_issue(redis_client: Any) -> None:
    limit = 9
    q = RedisQuota(redis_client, QuotaLimits(day=limit, week=100))
    granted: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def worker(base: int) -> None:
        start.wait()
        for i in range(5):
            try:
                q.charge("42", {base * 100 + i: False}, 1)
            except QuotaExceeded:
                continue
            with lock:
                granted.append(base * 100 + i)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(granted) == limit
    assert redis_client.zcard("lw:quota:{42}:regular") == limit


def test_service_with_redis_url_counts_in_redis(redis_client: Any, tmp_path: Any) -> None:
    from fastapi.testclient import TestClient

    from leakwarden.demo.build import build_company
    from leakwarden.gateway.app import create_app
    from leakwarden.gateway.decision import AccessRequest, Decision, Treatment
    from leakwarden.gateway.identity import TokenStore
    from leakwarden.gateway.settings import GatewaySettings

    company = f"sqlite:///{tmp_path}/company.db"
    store = f"sqlite:///{tmp_path}/store.db"
    build_company(company, customers=50, seed=2)
    port = redis_client.connection_pool.connection_kwargs["port"]
    settings = GatewaySettings(
        company_url=company,
        store_url=store,
        quota=QuotaLimits(day=1),
        redis_url=f"redis://127.0.0.1:{port}/0",
    )

    def decide(req: AccessRequest) -> Decision:  # test-only: everything masked
        return Decision(True, "test", ["test"], dict.fromkeys(req.columns, Treatment.MASKED))

    app = create_app(settings, decide=decide)
    token = TokenStore(db.make_engine(store)).issue(employee_id=2, ttl=timedelta(hours=1))
    c = TestClient(app)
    h = {"Authorization": f"Bearer {token.token}", "X-Purpose": "analytics"}
    from sqlalchemy import create_engine, text

    with create_engine(company).connect() as conn:
        ids = conn.execute(text("SELECT id FROM customers WHERE vip = 0 ORDER BY id LIMIT 2")).all()
    assert c.get(f"/customers/{ids[0].id}", headers=h).status_code == 200
    r = c.get(f"/customers/{ids[1].id}", headers=h)
    assert r.status_code == 429 and "distinct customers per day" in r.json()["detail"]
    assert redis_client.zrange("lw:quota:{2}:regular", 0, -1) == [str(ids[0].id).encode()]


# ----------------------------------------------------------------------------- bytes per day


def test_payload_bytes_is_the_json_body_in_utf8() -> None:
    from leakwarden.gateway.quota import payload_bytes

    # [{"name":"张*","n":1}]: 20 ASCII characters and 张 (3 bytes in UTF-8), counted by hand
    assert payload_bytes([{"name": "张*", "n": 1}]) == 23
    assert payload_bytes([]) == 2


def test_bytes_per_day_rolls_and_names_the_reset(db_url: str) -> None:
    q = _quota(db_url, day=10, week=10, bytes_per_day=1000)
    q.charge("7", {}, 1, size=400, now=T0)  # a response with no customer still counts
    usage = q.charge("7", {1: False}, 1, size=300, now=T0 + timedelta(hours=1))
    assert usage.counts["bytes per day"] == 700
    with pytest.raises(QuotaExceeded) as info:
        q.charge("7", {2: False}, 1, size=400, now=T0 + timedelta(hours=2))
    err = info.value
    assert err.quota == "bytes per day" and err.limit == 1000
    # 700 + 400 > 1000; once the 400 bytes of T0 leave the window, 300 + 400 fit.  Bytes are
    # kept per minute and a minute counts until a day after its end: T0's minute ends at
    # T0 + 1 min, so it leaves the window at T0 + 1 day + 1 min (60 s late at most, never early)
    assert err.resets_at == T0 + timedelta(days=1, minutes=1)
    assert "700 bytes" in str(err) and "2026-11-24T09:01:00Z" in str(err)
    # the refusal charged nothing: customer 2 is new again, and 300 bytes still fit exactly
    usage = q.charge("7", {2: False}, 1, size=300, now=T0 + timedelta(hours=2))
    assert usage.counts["bytes per day"] == 1000
    assert usage.counts["distinct customers per day"] == 2
    # another person has their own budget
    q.charge("8", {}, 1, size=1000, now=T0 + timedelta(hours=2))
    # a response over the whole budget never fits: no reset time
    with pytest.raises(QuotaExceeded, match="alone carries 1001 bytes") as info:
        q.charge("9", {}, 1, size=1001, now=T0)
    assert info.value.resets_at is None
    # still in the window a day after T0 (its minute has not aged out yet): 1000 used
    with pytest.raises(QuotaExceeded):
        q.charge("7", {}, 1, size=1, now=T0 + timedelta(days=1, seconds=30))
    # rolling: after T0 + 1 day + 1 min the first 400 bytes left the window, the later 600 remain
    later = T0 + timedelta(days=1, minutes=1, seconds=1)
    with pytest.raises(QuotaExceeded) as info:
        q.charge("7", {}, 1, size=401, now=later)
    # 600 + 401 > 1000: the 300 of T0 + 1 h must leave too
    assert info.value.resets_at == T0 + timedelta(days=1, hours=1, minutes=1)
    q.charge("7", {}, 1, size=400, now=later)


def test_bytes_of_one_minute_share_a_row(db_url: str) -> None:
    """A busy account's window stays small: releases within one minute add to one row."""
    from sqlalchemy import func, select

    from leakwarden.store.gateway_tables import QuotaBytes

    q = _quota(db_url, bytes_per_day=10_000)
    for i in range(50):
        q.charge("7", {}, 1, size=10, now=T0 + timedelta(seconds=i))
    q.charge("7", {}, 1, size=10, now=T0 + timedelta(minutes=1))
    with q.engine.connect() as conn:
        rows = conn.execute(select(QuotaBytes.bytes).order_by(QuotaBytes.released_at)).scalars()
        assert list(rows) == [500, 10]
        assert conn.execute(select(func.count()).select_from(QuotaBytes)).scalar_one() == 2


def test_customer_refusal_charges_no_bytes(db_url: str) -> None:
    q = _quota(db_url, day=1, week=10, bytes_per_day=1000)
    q.charge("7", {1: False}, 1, size=100, now=T0)
    with pytest.raises(QuotaExceeded, match="distinct customers per day"):
        q.charge("7", {2: False}, 1, size=100, now=T0)
    usage = q.charge("7", {1: False}, 1, size=900, now=T0)  # 100 + 900: the refusal cost none
    assert usage.counts["bytes per day"] == 1000


def _race_90_byte_charges(q: Any) -> list[int]:
    """Eight threads, released together, each ask four times for a 90-byte response of person
    42; the sizes granted."""
    granted: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def worker() -> None:
        start.wait()
        for _ in range(4):
            try:
                q.charge("42", {}, 1, size=90)
            except QuotaExceeded:
                continue
            with lock:
                granted.append(90)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return granted


def test_concurrent_byte_charges_never_over_issue(db_url: str) -> None:
    q = _quota(db_url, bytes_per_day=1000)
    granted = _race_90_byte_charges(q)
    assert len(granted) == 11  # 32 responses of 90 bytes asked for; 11 * 90 = 990 <= 1000
    from sqlalchemy import func, select

    from leakwarden.store.gateway_tables import QuotaBytes

    with q.engine.connect() as conn:
        total = conn.execute(select(func.sum(QuotaBytes.bytes))).scalar_one()
    assert total == 990


def test_redis_bytes_per_day(redis_client: Any) -> None:
    q = RedisQuota(redis_client, QuotaLimits(day=1, week=10, bytes_per_day=1000))
    q.charge("7", {}, 1, size=400, now=T0)
    q.charge("7", {1: False}, 1, size=300, now=T0 + timedelta(hours=1))
    with pytest.raises(QuotaExceeded) as info:
        q.charge("7", {}, 1, size=400, now=T0 + timedelta(hours=2))
    assert info.value.quota == "bytes per day" and info.value.limit == 1000
    assert info.value.resets_at == T0 + timedelta(days=1, minutes=1)  # T0's minute, a day on
    # a customer refusal charges no bytes, a byte refusal charges no customer
    with pytest.raises(QuotaExceeded, match="distinct customers per day"):
        q.charge("7", {2: False}, 1, size=10, now=T0 + timedelta(hours=2))
    with pytest.raises(QuotaExceeded, match="bytes per day"):
        q.charge("8", {5: False}, 1, size=1001, now=T0)
    assert redis_client.zcard("lw:quota:{8}:regular") == 0
    usage = q.charge("7", {}, 1, size=300, now=T0 + timedelta(hours=2))
    assert usage.counts == {}  # Redis reports no counts
    with pytest.raises(QuotaExceeded, match="alone carries 1001") as info:
        q.charge("7", {}, 1, size=1001, now=T0 + timedelta(hours=2))
    assert info.value.resets_at is None
    with pytest.raises(QuotaExceeded):  # T0's minute is still in the window
        q.charge("7", {}, 1, size=400, now=T0 + timedelta(days=1, seconds=30))
    # after T0 + 1 day + 1 min 400 bytes left: 600 used; 400 fit, then 1 more does not
    q.charge("7", {}, 1, size=400, now=T0 + timedelta(days=1, minutes=1, seconds=1))
    with pytest.raises(QuotaExceeded) as info:
        q.charge("7", {}, 1, size=1, now=T0 + timedelta(days=1, minutes=1, seconds=2))
    assert info.value.resets_at == T0 + timedelta(days=1, hours=1, minutes=1)


def test_redis_concurrent_byte_charges_never_over_issue(redis_client: Any) -> None:
    q = RedisQuota(redis_client, QuotaLimits(bytes_per_day=1000))
    granted = _race_90_byte_charges(q)
    assert len(granted) == 11
    per_minute = redis_client.hgetall("lw:quota:{42}:bytes")
    assert sum(int(v) for v in per_minute.values()) == 990


def test_postgresql_charge_takes_three_round_trips(pg_url: str, tmp_path: Path) -> None:
    # lock + known customers; touch + counts + bytes so far; the minute's bytes + COMMIT
    engine = db.make_engine(pg_url, pool_size=1, max_overflow=0)
    db.upgrade(engine)
    q = SqlQuota(engine, QuotaLimits(day=10, week=10, bytes_per_day=10_000))
    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    q.charge("rt", {1: False}, 1, size=10, now=now)  # the person's first charge
    raw = engine.raw_connection()
    pgconn = raw.dbapi_connection.pgconn  # type: ignore[union-attr]
    trace = tmp_path / "libpq.trace"
    with trace.open("w") as out:
        pgconn.trace(out.fileno())
        raw.close()
        try:
            usage = q.charge("rt", {1: False, 2: False}, 2, size=20, now=now)
        finally:
            pgconn.untrace()
    # a round trip = the client waits for the server's answer before it sends again: count the
    # runs of messages from the client (F) between the server's (B)
    sides = [line.split("\t")[1] for line in trace.read_text().splitlines() if "\t" in line]
    runs = sum(1 for i, side in enumerate(sides) if side == "F" and (i == 0 or sides[i - 1] == "B"))
    assert runs == 3, trace.read_text()
    assert usage.counts["distinct customers per day"] == 2
    assert usage.counts[BYTES_QUOTA] == 30
    engine.dispose()
