"""The exact distinct-customer quota ledger (gateway.quota.SqlQuota), on SQLite and PostgreSQL,
including many threads charging one person at once (never over-issued)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from leakwarden.gateway.quota import QuotaExceeded, SqlQuota
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
