"""Quotas, kept outside the policies: how many distinct customers one person may be given per
rolling day and week (VIP customers on their own, smaller budget), and rows per request.

Exact, by a ledger in the store (``gateway_quota_ledger``: person × customer with the last time
the person was given that customer).  The distinct customers a person saw in the rolling window
``(now - window, now]`` are the rows whose ``last_seen`` is in it (a customer's latest access is
in the window iff any access is).  :meth:`SqlQuota.charge` does, in one transaction:

1. update the person's row of ``gateway_quota_people`` (insert it the first time): this takes
   the person's row lock on PostgreSQL and the database write lock on SQLite, so two requests
   of the same person are counted one after the other (the unique constraint on
   (person, customer) keeps the ledger itself free of duplicates);
2. insert the new customers / move ``last_seen`` of the known ones to now;
3. count per pool and window; over a limit -> :class:`QuotaExceeded` and the transaction is
   rolled back (nothing charged).

:class:`RedisQuota` is the same ledger for several gateway replicas: one sorted set per person and
pool (member = customer id, score = last access in ms), checked and charged by one Lua script,
which Redis runs atomically (no other command runs in between), so concurrent replicas cannot
over-issue either.

A customer the person already saw in the window costs nothing again.  The charge is made before
the data is released and is not undone if the release then fails (fail closed: a quota may be
used by a request that returned an error, never exceeded).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, Any, Protocol

from leakwarden.gateway.settings import QuotaLimits

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

__all__ = ["DAY", "WEEK", "Quota", "QuotaExceeded", "QuotaUsage", "RedisQuota", "SqlQuota"]

DAY = timedelta(days=1)
WEEK = timedelta(days=7)
POOLS = ("regular", "vip")


class QuotaExceeded(Exception):
    """Over a quota (HTTP 429): names the quota, its limit and when it frees up."""

    def __init__(self, quota: str, limit: int, resets_at: datetime | None, detail: str) -> None:
        self.quota = quota
        self.limit = limit
        self.resets_at = resets_at
        when = (
            f"; the next slot frees at {resets_at.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}"
            if resets_at is not None
            else ""
        )
        super().__init__(f"quota {quota!r} (limit {limit}) exceeded: {detail}{when}")


@dataclass(frozen=True)
class QuotaUsage:
    """Distinct customers counted after a charge, per (pool, window)."""

    counts: Mapping[str, int]


class Quota(Protocol):
    def charge(
        self,
        person: str,
        customers: Mapping[int, bool],
        rows: int,
        *,
        now: datetime | None = None,
    ) -> QuotaUsage: ...


def _limits(limits: QuotaLimits, pool: str) -> tuple[tuple[str, timedelta, int], ...]:
    if pool == "vip":
        return (("VIP customers per day", DAY, limits.vip_day),
                ("VIP customers per week", WEEK, limits.vip_week))  # fmt: skip
    return (("distinct customers per day", DAY, limits.day),
            ("distinct customers per week", WEEK, limits.week))  # fmt: skip


def check_rows(limits: QuotaLimits, rows: int) -> None:
    if rows > limits.rows_per_request:
        raise QuotaExceeded(
            "rows per request",
            limits.rows_per_request,
            None,
            f"this request would return {rows} rows; narrow it",
        )


class SqlQuota:
    """The exact quota ledger in the store (module docstring)."""

    def __init__(self, engine: Engine, limits: QuotaLimits) -> None:
        self.engine = engine
        self.limits = limits

    def charge(
        self,
        person: str,
        customers: Mapping[int, bool],
        rows: int,
        *,
        now: datetime | None = None,
    ) -> QuotaUsage:
        """Charge ``customers`` (id -> is VIP) to ``person``; :class:`QuotaExceeded` if that
        would take any window over its limit (then nothing is charged)."""
        from sqlalchemy.exc import IntegrityError

        check_rows(self.limits, rows)
        now = now or datetime.now(UTC)
        if not customers:
            return QuotaUsage({})
        for _attempt in range(8):
            try:
                with self.engine.begin() as conn:
                    return self._charge(conn, person, customers, now)
            except IntegrityError:
                continue  # another request inserted the same first row: count again
        raise RuntimeError(f"quota ledger: could not charge {person} after 8 attempts")

    @classmethod
    def for_store(cls, url: str | None, limits: QuotaLimits) -> SqlQuota:
        """A quota ledger on its own engine to the store at ``url`` (migrated).  On SQLite its
        connections commit with ``synchronous=NORMAL`` (WAL): a commit is atomic and survives a
        crash of the process, but not of the machine, which may lose the last charges (the
        quota then counts a few customers too few until they age out).  That halves the cost
        of a charge; the audit ledger keeps ``FULL``."""
        from sqlalchemy import event

        from leakwarden.store import db

        engine = db.make_engine(url)
        db.upgrade(engine)
        if engine.dialect.name == "sqlite":

            def _normal(dbapi_connection: Any, _record: Any) -> None:
                dbapi_connection.execute("PRAGMA synchronous = NORMAL")

            event.listen(engine, "connect", _normal)
            engine.dispose()
        return cls(engine, limits)

    def _charge(
        self, conn: Connection, person: str, customers: Mapping[int, bool], now: datetime
    ) -> QuotaUsage:
        s = _statements()
        stamp = _bind_time(conn, now)
        lock = conn.execute(s["lock"], {"person": person, "now": stamp})
        if lock.rowcount == 0:
            conn.execute(s["new_person"], {"person": person, "now": stamp})
        keys = {str(c): ("vip" if vip else "regular") for c, vip in customers.items()}
        known = set(conn.execute(s["known"], {"person": person, "ids": list(keys)}).scalars())
        if known:
            conn.execute(s["touch"], {"person": person, "ids": sorted(known), "now": stamp})
        new = [
            {"person": person, "customer_id": c, "pool": pool, "now": stamp}
            for c, pool in keys.items()
            if c not in known
        ]
        if new:
            conn.execute(s["insert"], new)
        counts: dict[str, int] = {}
        for pool in sorted(set(keys.values())):
            (day_name, _, day_limit), (week_name, _, week_limit) = _limits(self.limits, pool)
            day_since, week_since = _bind_time(conn, now - DAY), _bind_time(conn, now - WEEK)
            in_day, in_week = conn.execute(
                s["count"], {"person": person, "pool": pool, "day": day_since, "week": week_since}
            ).one()
            counts[day_name], counts[week_name] = int(in_day or 0), int(in_week or 0)
            added = sum(1 for k in new if k["pool"] == pool)
            for name, window, limit, since in (
                (day_name, DAY, day_limit, day_since),
                (week_name, WEEK, week_limit, week_since),
            ):
                n = counts[name]
                if n > limit:
                    oldest = conn.execute(
                        s["oldest"], {"person": person, "pool": pool, "since": since}
                    ).scalar()
                    # the earliest counted customer leaves the window first
                    resets = _parse_time(oldest) + window if oldest is not None else None
                    raise QuotaExceeded(
                        name,
                        limit,
                        resets,
                        f"{person} was already given {n - added} distinct customers"
                        f" in the last {_span(window)}",
                    )
        return QuotaUsage(counts)


@cache
def _statements() -> dict[str, Any]:
    """The charge's statements, built once (plain SQL that SQLite and PostgreSQL share;
    building SQLAlchemy expressions per request cost more than running them)."""
    from sqlalchemy import bindparam, text

    return {
        "lock": text("UPDATE gateway_quota_people SET touched_at = :now WHERE person = :person"),
        "new_person": text(
            "INSERT INTO gateway_quota_people (person, touched_at) VALUES (:person, :now)"
        ),
        "known": text(
            "SELECT customer_id FROM gateway_quota_ledger "
            "WHERE person = :person AND customer_id IN :ids"
        ).bindparams(bindparam("ids", expanding=True)),
        "touch": text(
            "UPDATE gateway_quota_ledger SET last_seen = :now "
            "WHERE person = :person AND customer_id IN :ids"
        ).bindparams(bindparam("ids", expanding=True)),
        "insert": text(
            "INSERT INTO gateway_quota_ledger (person, customer_id, pool, first_seen, last_seen) "
            "VALUES (:person, :customer_id, :pool, :now, :now)"
        ),
        "count": text(
            "SELECT SUM(CASE WHEN last_seen > :day THEN 1 ELSE 0 END), COUNT(*) "
            "FROM gateway_quota_ledger "
            "WHERE person = :person AND pool = :pool AND last_seen > :week"
        ),
        "oldest": text(
            "SELECT MIN(last_seen) FROM gateway_quota_ledger "
            "WHERE person = :person AND pool = :pool AND last_seen > :since"
        ),
    }


def _bind_time(conn: Connection, ts: datetime) -> Any:
    """A UTC time as the store keeps it (``UTCDateTime``: zone-free text on SQLite)."""
    utc = ts.astimezone(UTC)
    if conn.dialect.name == "sqlite":
        return utc.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    return utc


def _parse_time(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return _as_utc(value)


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _span(window: timedelta) -> str:
    return "24 hours" if window == DAY else "7 days"


# KEYS: one sorted set per pool.  ARGV: now (ms), then per pool: day window (ms), day limit,
# week window (ms), week limit, n, n customer ids.  Checks every pool first, then charges all:
# returns {} when charged, else {pool index, 1 (day) | 2 (week), count before, oldest score}.
_LUA = """
local now = tonumber(ARGV[1])
local i = 2
local plans = {}
for p = 1, #KEYS do
  local key = KEYS[p]
  local day_ms, day_lim = tonumber(ARGV[i]), tonumber(ARGV[i + 1])
  local week_ms, week_lim = tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3])
  local n = tonumber(ARGV[i + 4])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - week_ms)
  local members = {}
  local new_day, new_week = 0, 0
  for j = 1, n do
    local c = ARGV[i + 4 + j]
    members[j] = c
    local s = redis.call('ZSCORE', key, c)
    if (not s) or tonumber(s) <= now - day_ms then new_day = new_day + 1 end
    if (not s) or tonumber(s) <= now - week_ms then new_week = new_week + 1 end
  end
  local windows = {{day_ms, day_lim, new_day}, {week_ms, week_lim, new_week}}
  for w = 1, 2 do
    local span, lim, add = windows[w][1], windows[w][2], windows[w][3]
    local have = redis.call('ZCOUNT', key, '(' .. (now - span), '+inf')
    if have + add > lim then
      local first = redis.call('ZRANGEBYSCORE', key, '(' .. (now - span), '+inf',
                               'WITHSCORES', 'LIMIT', 0, 1)
      local oldest = first[2] or tostring(now)
      return {p, w, have, oldest}
    end
  end
  plans[p] = {key, members, week_ms}
  i = i + 5 + n
end
for p = 1, #plans do
  local key, members, week_ms = plans[p][1], plans[p][2], plans[p][3]
  for j = 1, #members do redis.call('ZADD', key, now, members[j]) end
  redis.call('PEXPIRE', key, week_ms)
end
return {}
"""


class RedisQuota:
    """The quota ledger in Redis, for several replicas (module docstring).  ``client`` is a
    ``redis.Redis``; keys are ``<prefix>:{<person>}:<pool>`` (one hash slot per person)."""

    def __init__(self, client: Any, limits: QuotaLimits, *, prefix: str = "lw:quota") -> None:
        self.client = client
        self.limits = limits
        self.prefix = prefix
        self._script = client.register_script(_LUA)

    def charge(
        self,
        person: str,
        customers: Mapping[int, bool],
        rows: int,
        *,
        now: datetime | None = None,
    ) -> QuotaUsage:
        check_rows(self.limits, rows)
        now = now or datetime.now(UTC)
        if not customers:
            return QuotaUsage({})
        now_ms = int(now.timestamp() * 1000)
        pools: dict[str, list[str]] = {}
        for c, vip in customers.items():
            pools.setdefault("vip" if vip else "regular", []).append(str(c))
        order = sorted(pools)
        keys = [f"{self.prefix}:{{{person}}}:{pool}" for pool in order]
        args: list[Any] = [now_ms]
        for pool in order:
            (_, day, day_lim), (_, week, week_lim) = _limits(self.limits, pool)
            members = sorted(set(pools[pool]))
            args += [_ms(day), day_lim, _ms(week), week_lim, len(members), *members]
        result = self._script(keys=keys, args=args)
        if not result:
            return QuotaUsage({})
        p, w, have, oldest = int(result[0]), int(result[1]), int(result[2]), result[3]
        name, window, limit = _limits(self.limits, order[p - 1])[w - 1]
        resets = datetime.fromtimestamp(float(oldest) / 1000, UTC) + window
        raise QuotaExceeded(
            name,
            limit,
            resets,
            f"{person} was already given {have} distinct customers in the last {_span(window)}",
        )


def _ms(window: timedelta) -> int:
    return int(window.total_seconds() * 1000)
