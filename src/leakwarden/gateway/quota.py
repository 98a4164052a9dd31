"""Quotas, kept outside the policies: how many distinct customers one person may be given per
rolling day and week (VIP customers on their own, smaller budget), rows per request, and bytes
of released data per rolling day.

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
   rolled back (nothing charged);
4. bytes per day (``gateway_quota_bytes``: person × minute × bytes released in that minute;
   a minute counts until a day after its end, so up to 60 s longer than exact, never shorter):
   the sum over the person's minutes in the window plus this response's bytes
   over the limit -> :class:`QuotaExceeded` naming when enough bytes leave the window for this
   response to fit (none when the response alone is over the limit), and the whole charge is
   rolled back; else the bytes are added to the minute's row (every 64th charge of a ledger
   object also deletes the person's rows older than the window: housekeeping, the window's sum
   never reads them).  Under the same person lock as the customers, so concurrent requests cannot
   over-issue bytes either.

The bytes counted are those of the released data as the response body carries it: the UTF-8
JSON of the records, the waybill label or the query's rows (:func:`payload_bytes`), measured
before the audit and the release.  The envelope (treatments, policy ids, audit index) is not
customer data and is not counted.

:class:`RedisQuota` is the same ledger for several gateway replicas: one sorted set per person and
pool (member = customer id, score = last access in ms) and a hash of the bytes per minute, all
checked and charged by one Lua script, which Redis runs atomically (no other command runs in
between), so concurrent replicas cannot over-issue either.

A customer the person already saw in the window costs nothing again.  The charge is made before
the data is released and is not undone if the release then fails (fail closed: a quota may be
used by a request that returned an error, never exceeded).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, Any, Protocol

from leakwarden.gateway.settings import QuotaLimits

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

__all__ = [
    "BYTES_QUOTA",
    "DAY",
    "WEEK",
    "Quota",
    "QuotaExceeded",
    "QuotaUsage",
    "RedisQuota",
    "SqlQuota",
    "payload_bytes",
]

DAY = timedelta(days=1)
WEEK = timedelta(days=7)
POOLS = ("regular", "vip")
BYTES_QUOTA = "bytes per day"
BYTES_BUCKET = timedelta(minutes=1)


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
        size: int = 0,
        now: datetime | None = None,
    ) -> QuotaUsage: ...


def payload_bytes(data: object) -> int:
    """The bytes ``data`` (records, a label, rows) takes in a JSON response body: UTF-8, no
    ASCII escaping, compact separators, as Starlette's ``JSONResponse`` renders it."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)
    return len(text.encode("utf-8"))


def _bytes_exceeded(
    limits: QuotaLimits, person: str, used: int, size: int, resets: datetime | None
) -> QuotaExceeded:
    """Over the byte budget (``resets``: when enough bytes have left the day window for this
    response to fit; None when it alone is over the limit)."""
    limit = limits.bytes_per_day
    if size > limit:
        detail = f"this response alone carries {size} bytes of data; narrow it"
        return QuotaExceeded(BYTES_QUOTA, limit, None, detail)
    detail = (
        f"{person} was already given {used} bytes of data in the last 24 hours; "
        f"this response carries {size}"
    )
    return QuotaExceeded(BYTES_QUOTA, limit, resets, detail)


def _bytes_reset(
    limit: int, used: int, size: int, entries: list[tuple[datetime, int]]
) -> datetime | None:
    """When the oldest releases (``entries``: the day window's (time, bytes), oldest first)
    have left the window far enough for ``size`` more bytes to fit."""
    if size > limit:
        return None
    left = used
    for at, n in entries:
        left -= n
        if left + size <= limit:
            return at + DAY
    return None


def _limits(limits: QuotaLimits, pool: str) -> tuple[tuple[str, timedelta, int], ...]:
    if pool == "vip":
        return (("VIP customers per day", DAY, limits.vip_day),
                ("VIP customers per week", WEEK, limits.vip_week))  # fmt: skip
    return (("distinct customers per day", DAY, limits.day),
            ("distinct customers per week", WEEK, limits.week))  # fmt: skip


def check_request(limits: QuotaLimits, rows: int, size: int) -> None:
    """What both quota stores check before charging: the rows-per-request limit, and a size
    that is a byte count."""
    if rows > limits.rows_per_request:
        raise QuotaExceeded(
            "rows per request",
            limits.rows_per_request,
            None,
            f"this request would return {rows} rows; narrow it",
        )
    if size < 0:
        raise ValueError(f"size must be >= 0, got {size}")


class SqlQuota:
    """The exact quota ledger in the store (module docstring)."""

    def __init__(self, engine: Engine, limits: QuotaLimits) -> None:
        self.engine = engine
        self.limits = limits
        self._charges = itertools.count()

    def charge(
        self,
        person: str,
        customers: Mapping[int, bool],
        rows: int,
        *,
        size: int = 0,
        now: datetime | None = None,
    ) -> QuotaUsage:
        """Charge ``customers`` (id -> is VIP) and ``size`` bytes of released data to
        ``person``; :class:`QuotaExceeded` if that would take any window over its limit (then
        nothing is charged)."""
        check_request(self.limits, rows, size)
        now = now or datetime.now(UTC)
        if not customers and not size:
            return QuotaUsage({})
        conflict: type[Exception] = self.engine.dialect.loaded_dbapi.IntegrityError
        for _attempt in range(8):
            try:
                return self._transaction(person, customers, size, now)
            except conflict:
                continue  # another request inserted the same first row: count again
        raise RuntimeError(f"quota ledger: could not charge {person} after 8 attempts")

    def _transaction(
        self, person: str, customers: Mapping[int, bool], size: int, now: datetime
    ) -> QuotaUsage:
        """One transaction on a pooled DB-API connection (SQLAlchemy's per-statement work cost
        more than the statements): committed when the charge fits, rolled back otherwise.  On
        PostgreSQL in psycopg's pipeline mode (:class:`_Tx`,
        :func:`leakwarden.store.pipeline.pipelined_transaction`)."""
        from leakwarden.store.pipeline import pipelined_transaction

        raw = self.engine.raw_connection()
        dialect = self.engine.dialect
        placeholder = "?" if dialect.paramstyle == "qmark" else "%s"
        tx: _Tx | None = None
        try:
            if dialect.name == "postgresql":
                with pipelined_transaction(raw.dbapi_connection) as pipeline:
                    tx = _Tx(raw, placeholder, False, pipeline)
                    usage = self._charge(tx, person, customers, size, now)
                return usage
            try:
                tx = _Tx(raw, placeholder, dialect.name == "sqlite", None)
                if tx.sqlite:
                    tx.queue_statement("BEGIN")
                usage = self._charge(tx, person, customers, size, now)
                raw.commit()
                return usage
            except BaseException:
                raw.rollback()
                raise
        finally:
            if tx is not None:
                tx.close()
            raw.close()

    @classmethod
    def for_store(cls, url: str | None, limits: QuotaLimits) -> SqlQuota:
        """A quota ledger on its own engine to the store at ``url`` (migrated).  On SQLite its
        connections commit with ``synchronous=NORMAL`` (WAL): a commit is atomic and survives a
        crash of the process, but not of the machine, which may lose the last charges (the
        quota then counts a few customers too few until they age out).  That halves the cost
        of a charge; the audit ledger keeps ``FULL``.  On PostgreSQL the same trade with
        ``synchronous_commit=off`` for the quota's sessions (a server crash may lose the last
        few hundred milliseconds of charges, never half of one; locks and therefore exactness
        under concurrency are unchanged); the audit ledger keeps ``on``."""
        from sqlalchemy import event

        from leakwarden.store import db

        engine = db.make_engine(url)
        db.upgrade(engine)
        if engine.dialect.name == "postgresql":
            engine.dispose()
            engine = db.make_engine(url, connect_args={"options": "-c synchronous_commit=off"})
        if engine.dialect.name == "sqlite":

            def _normal(dbapi_connection: Any, _record: Any) -> None:
                dbapi_connection.execute("PRAGMA synchronous = NORMAL")

            event.listen(engine, "connect", _normal)
            engine.dispose()
        return cls(engine, limits)

    def _charge(
        self,
        tx: _Tx,
        person: str,
        customers: Mapping[int, bool],
        size: int,
        now: datetime,
    ) -> QuotaUsage:
        """The charge in three exchanges with the database (each one round trip on
        PostgreSQL): take the person's lock and read which customers they already had; move or
        insert the customers and read the counts and bytes in the windows; add the bytes (and
        commit, by the caller).  Over a limit: :class:`QuotaExceeded`, the caller rolls back."""
        stamp = tx.time(now)
        keys = {str(c): ("vip" if vip else "regular") for c, vip in customers.items()}
        lock = tx.queue("lock", (stamp, person))
        known_rows = tx.queue("known", (person, *keys), len(keys)) if keys else None
        tx.sync()
        if lock.rowcount == 0:
            tx.run("new_person", (person, stamp))
            if keys:  # read again under the person's new row, as every later charge will
                known_rows = tx.run("known", (person, *keys), len(keys))
        pools = self._queue_customers(tx, person, keys, known_rows, now, stamp) if keys else []
        used = self._queue_bytes(tx, person, now) if size else None
        tx.sync()
        counts: dict[str, int] = {}
        for pool in pools:
            counts.update(pool.check(tx, person))
        if used is not None:
            counts[BYTES_QUOTA] = self._charge_bytes(tx, person, size, now, used)
        return QuotaUsage(counts)

    def _queue_customers(
        self,
        tx: _Tx,
        person: str,
        keys: dict[str, str],
        known_rows: Any,
        now: datetime,
        stamp: Any,
    ) -> list[_PoolCount]:
        """Move the known customers' ``last_seen`` to now, insert the new ones, and ask for the
        counts of each pool they are in (answers after the next sync)."""
        known = {str(r[0]) for r in known_rows.fetchall()}
        if known:
            tx.queue("touch", (stamp, person, *sorted(known)), len(known))
        new = [(c, pool) for c, pool in keys.items() if c not in known]
        if new:
            tx.queue_many("insert", [(person, c, pool, stamp, stamp) for c, pool in new])
        out = []
        for pool in sorted(set(keys.values())):
            day_since, week_since = tx.time(now - DAY), tx.time(now - WEEK)
            out.append(
                _PoolCount(
                    pool,
                    _limits(self.limits, pool),
                    (day_since, week_since),
                    sum(1 for _, p in new if p == pool),
                    tx.queue("count", (day_since, person, pool, week_since)),
                )
            )
        return out

    def _queue_bytes(self, tx: _Tx, person: str, now: datetime) -> Any:
        """Ask for the person's bytes in the window (answer after the next sync)."""
        since = tx.time(now - DAY - BYTES_BUCKET)
        if next(self._charges) % 64 == 0:
            tx.queue("bytes_prune", (person, since))
        return tx.queue("bytes_used", (person, since))

    def _charge_bytes(self, tx: _Tx, person: str, size: int, now: datetime, used_rows: Any) -> int:
        """Bytes are kept per person and minute (``released_at`` = the minute's start), so a
        busy account's window is at most 1440 rows; a minute counts until a day after its end,
        i.e. up to 60 s longer than each release in it would (never shorter)."""
        used = int(used_rows.fetchone()[0] or 0)
        if used + size > self.limits.bytes_per_day:
            since = tx.time(now - DAY - BYTES_BUCKET)
            entries = [
                (_parse_time(at) + BYTES_BUCKET, int(n))
                for at, n in tx.run("bytes_entries", (person, since)).fetchall()
            ]
            resets = _bytes_reset(self.limits.bytes_per_day, used, size, entries)
            raise _bytes_exceeded(self.limits, person, used, size, resets)
        bucket = now.astimezone(UTC).replace(second=0, microsecond=0)
        at = tx.time(bucket)
        # the minute's row exists or is made; no other charge of this person runs meanwhile
        tx.queue("bytes_add", (size, person, at))
        tx.queue("bytes_insert", (person, at, size, person, at))
        return used + size


@dataclass(frozen=True)
class _PoolCount:
    """One pool's counts asked for in a charge, and what to check them against."""

    pool: str
    limits: tuple[tuple[str, timedelta, int], ...]
    since: tuple[Any, Any]  # (day, week) window starts as the store keeps times
    added: int  # customers of this pool new to the person in this charge
    rows: Any  # the cursor that will hold (in the day, in the week)

    def check(self, tx: _Tx, person: str) -> dict[str, int]:
        (day_name, day_window, day_limit), (week_name, week_window, week_limit) = self.limits
        in_day, in_week = self.rows.fetchone()
        counts = {day_name: int(in_day or 0), week_name: int(in_week or 0)}
        for name, window, limit, since in (
            (day_name, day_window, day_limit, self.since[0]),
            (week_name, week_window, week_limit, self.since[1]),
        ):
            n = counts[name]
            if n > limit:
                oldest = tx.run("oldest", (person, self.pool, since)).fetchone()[0]
                # the earliest counted customer leaves the window first
                resets = _parse_time(oldest) + window if oldest is not None else None
                raise QuotaExceeded(
                    name,
                    limit,
                    resets,
                    f"{person} was already given {n - self.added} distinct customers"
                    f" in the last {_span(window)}",
                )
        return counts


# The charge's statements, in the parameters' order; ``?`` is the placeholder (the driver's is
# put in by _Tx), ``(?*)`` a list of them, one per element.  Plain SQL that SQLite and
# PostgreSQL share.
_STATEMENTS: dict[str, str] = {
    "lock": "UPDATE gateway_quota_people SET touched_at = ? WHERE person = ?",
    "new_person": "INSERT INTO gateway_quota_people (person, touched_at) VALUES (?, ?)",
    "known": "SELECT customer_id FROM gateway_quota_ledger "
    "WHERE person = ? AND customer_id IN (?*)",
    "touch": "UPDATE gateway_quota_ledger SET last_seen = ? "
    "WHERE person = ? AND customer_id IN (?*)",
    "insert": "INSERT INTO gateway_quota_ledger (person, customer_id, pool, first_seen, "
    "last_seen) VALUES (?, ?, ?, ?, ?)",
    "count": "SELECT SUM(CASE WHEN last_seen > ? THEN 1 ELSE 0 END), COUNT(*) "
    "FROM gateway_quota_ledger WHERE person = ? AND pool = ? AND last_seen > ?",
    "oldest": "SELECT MIN(last_seen) FROM gateway_quota_ledger "
    "WHERE person = ? AND pool = ? AND last_seen > ?",
    "bytes_prune": "DELETE FROM gateway_quota_bytes WHERE person = ? AND released_at <= ?",
    "bytes_used": "SELECT SUM(bytes) FROM gateway_quota_bytes WHERE person = ? AND released_at > ?",
    "bytes_entries": "SELECT released_at, bytes FROM gateway_quota_bytes "
    "WHERE person = ? AND released_at > ? ORDER BY released_at, id",
    "bytes_add": "UPDATE gateway_quota_bytes SET bytes = bytes + ? "
    "WHERE person = ? AND released_at = ?",
    "bytes_insert": "INSERT INTO gateway_quota_bytes (person, released_at, bytes) "
    "SELECT ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM gateway_quota_bytes "
    "WHERE person = ? AND released_at = ?)",
}


@cache
def _sql(name: str, placeholder: str, listed: int) -> str:
    """Statement ``name`` with the driver's placeholder and ``listed`` in its list."""
    text = _STATEMENTS[name].replace("(?*)", "(" + ", ".join(["?"] * listed) + ")")
    return text.replace("?", placeholder)


class _Tx:
    """The charge's statements on one DB-API connection, a cursor each.  :meth:`queue` sends a
    statement; on PostgreSQL it joins psycopg's pipeline and its answer is there after
    :meth:`sync`, so the statements queued between two syncs cost one round trip together (the
    server still runs them one after the other, in order).  On SQLite each runs at once."""

    def __init__(self, raw: Any, placeholder: str, sqlite: bool, pipeline: Any) -> None:
        self.raw = raw
        self.placeholder = placeholder
        self.sqlite = sqlite
        self.pipeline = pipeline
        self._cursors: list[Any] = []

    def queue(self, name: str, params: tuple[Any, ...], listed: int = 0) -> Any:
        cur = self.raw.cursor()
        self._cursors.append(cur)
        cur.execute(_sql(name, self.placeholder, listed), params)
        return cur

    def queue_statement(self, sql: str) -> None:
        cur = self.raw.cursor()
        self._cursors.append(cur)
        cur.execute(sql)

    def queue_many(self, name: str, rows: list[tuple[Any, ...]]) -> None:
        cur = self.raw.cursor()
        self._cursors.append(cur)
        cur.executemany(_sql(name, self.placeholder, 0), rows)

    def sync(self) -> None:
        """Every queued statement's answer in its cursor (errors raised here)."""
        if self.pipeline is not None:
            self.pipeline.sync()

    def run(self, name: str, params: tuple[Any, ...], listed: int = 0) -> Any:
        cur = self.queue(name, params, listed)
        self.sync()
        return cur

    def close(self) -> None:
        for cur in self._cursors:
            cur.close()

    def time(self, ts: datetime) -> Any:
        """A UTC time as the store keeps it (``UTCDateTime``: zone-free text on SQLite)."""
        utc = ts.astimezone(UTC)
        if self.sqlite:
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


# KEYS: the bytes hash (field = a minute's start in ms, value = bytes released in it), then one
# sorted set per pool.  ARGV: now (ms), bytes of this response, day window (ms), byte limit, this
# minute's start (ms); then per pool: day window (ms), day
# limit, week window (ms), week limit, n, n customer ids.  Checks every pool and the bytes first,
# then charges all.  Returns {} when charged; else {key index, 1 (day) | 2 (week), count before,
# oldest score} for a pool (key index >= 2), or {1, 3, bytes before, reset score | -1} for the
# bytes (the reset: the end of the minute whose expiry makes room).
_LUA = """
local now = tonumber(ARGV[1])
local size, bytes_day, bytes_lim = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local i = 6
local plans = {}
for p = 2, #KEYS do
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
  plans[#plans + 1] = {key, members, week_ms}
  i = i + 5 + n
end
if size > 0 then
  local bkey = KEYS[1]
  local since = now - bytes_day - 60000
  local all = redis.call('HGETALL', bkey)
  local used = 0
  local live = {}
  for e = 1, #all, 2 do
    local b, n = tonumber(all[e]), tonumber(all[e + 1])
    if b > since then
      used = used + n
      live[#live + 1] = {b, n}
    else
      redis.call('HDEL', bkey, all[e])
    end
  end
  if used + size > bytes_lim then
    local reset = '-1'
    if size <= bytes_lim then
      table.sort(live, function(x, y) return x[1] < y[1] end)
      local left = used
      for e = 1, #live do
        left = left - live[e][2]
        if left + size <= bytes_lim then
          reset = tostring(live[e][1] + 60000)
          break
        end
      end
    end
    return {1, 3, tostring(used), reset}
  end
  redis.call('HINCRBY', bkey, ARGV[5], size)
  redis.call('PEXPIRE', bkey, bytes_day + 60000)
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
    ``redis.Redis``; keys are ``<prefix>:{<person>}:<pool>`` and ``<prefix>:{<person>}:bytes``
    (one hash slot per person)."""

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
        size: int = 0,
        now: datetime | None = None,
    ) -> QuotaUsage:
        check_request(self.limits, rows, size)
        now = now or datetime.now(UTC)
        if not customers and not size:
            return QuotaUsage({})
        now_ms = int(now.timestamp() * 1000)
        pools: dict[str, list[str]] = {}
        for c, vip in customers.items():
            pools.setdefault("vip" if vip else "regular", []).append(str(c))
        order = sorted(pools)
        keys = [f"{self.prefix}:{{{person}}}:bytes"]
        keys += [f"{self.prefix}:{{{person}}}:{pool}" for pool in order]
        minute = now_ms - now_ms % 60_000
        args: list[Any] = [now_ms, size, _ms(DAY), self.limits.bytes_per_day, minute]
        for pool in order:
            (_, day, day_lim), (_, week, week_lim) = _limits(self.limits, pool)
            members = sorted(set(pools[pool]))
            args += [_ms(day), day_lim, _ms(week), week_lim, len(members), *members]
        result = self._script(keys=keys, args=args)
        if not result:
            return QuotaUsage({})
        p, w, have, oldest = int(result[0]), int(result[1]), int(result[2]), result[3]
        if w == 3:  # the bytes: the script's reset is the score of the entry that makes room
            stamp = float(oldest)
            resets = datetime.fromtimestamp(stamp / 1000, UTC) + DAY if stamp >= 0 else None
            raise _bytes_exceeded(self.limits, person, have, size, resets)
        name, window, limit = _limits(self.limits, order[p - 2])[w - 1]
        resets = datetime.fromtimestamp(float(oldest) / 1000, UTC) + window
        raise QuotaExceeded(
            name,
            limit,
            resets,
            f"{person} was already given {have} distinct customers in the last {_span(window)}",
        )


def _ms(window: timedelta) -> int:
    return int(window.total_seconds() * 1000)
